//! Bandwidth estimation for one subscriber's downlink, from its transport-wide feedback.
//!
//! The delay-based half is GCC's: rtc's arrival grouping and adaptive-threshold overuse
//! detector, fed by the trendline that libwebrtc uses (rtc's Kalman filter misses a queue that
//! builds slowly). The rate control on top is the SFU's own. A browser's estimator paces a sender that can send at any
//! rate it picks, and creeps up near a rate where it once saw congestion. An SFU can only
//! choose among a few simulcast layers, so it needs an estimate that climbs back within
//! seconds once a link recovers: it grows by a quarter per second while the path shows no
//! queueing, and the allocator moving up a layer is what probes whether the headroom is real.
//! A queue building or heavy loss brings it down to what the subscriber actually receives.

use super::trendline::Trendline;
use rtc::interceptor::{
    ArrivalGroupAccumulator, OveruseDetector, PacketReport, RateCalculator, Usage,
};
use std::time::{Duration, Instant};

/// Where a new subscriber's estimate starts: enough for a middle layer and audio, so that a
/// fresh subscriber sees a decent picture at once, and a short link shows itself within a
/// second.
pub const INITIAL_BPS: f64 = 1_000_000.0;
/// The floor: the lowest layer and audio.
pub const MIN_BPS: f64 = 150_000.0;
/// The ceiling: far above what any subscriber of a call needs.
pub const MAX_BPS: f64 = 50_000_000.0;

/// How often the estimate may grow.
const GROWTH_INTERVAL: Duration = Duration::from_millis(200);
/// Growth per interval: about 25% per second.
const GROWTH: f64 = 1.045;
/// After a fall, the next one waits this long: the feedback must first show what the fall did.
const DECREASE_INTERVAL: Duration = Duration::from_millis(300);
/// On congestion, the estimate falls to this share of what arrives.
const BACKOFF: f64 = 0.85;
/// Loss above this share, over a window, brings the estimate down in proportion.
const HIGH_LOSS: f64 = 0.10;
/// Loss below this share lets the estimate grow.
const LOW_LOSS: f64 = 0.02;
/// Loss is judged over at least this many packets.
const LOSS_WINDOW: u32 = 100;

/// One subscriber's downlink estimate.
pub struct Estimator {
    groups: ArrivalGroupAccumulator,
    trend: Trendline,
    detector: OveruseDetector,
    received: RateCalculator,
    estimate: f64,
    last_growth: Option<Instant>,
    last_decrease: Option<Instant>,
    window_sent: u32,
    window_lost: u32,
    loss: f64,
}

impl Default for Estimator {
    fn default() -> Self {
        Estimator::new(INITIAL_BPS)
    }
}

impl Estimator {
    /// An estimate starting at `initial` bits per second.
    pub fn new(initial: f64) -> Estimator {
        Estimator {
            groups: ArrivalGroupAccumulator::default(),
            trend: Trendline::default(),
            detector: OveruseDetector::new(),
            received: RateCalculator::default(),
            estimate: initial.clamp(MIN_BPS, MAX_BPS),
            last_growth: None,
            last_decrease: None,
            window_sent: 0,
            window_lost: 0,
            loss: 0.0,
        }
    }

    /// The estimate, in bits per second.
    pub fn bps(&self) -> u64 {
        self.estimate as u64
    }

    /// When the estimate last fell.
    pub fn last_decrease(&self) -> Option<Instant> {
        self.last_decrease
    }

    /// The share of packets lost over the last full loss window.
    pub fn loss(&self) -> f64 {
        self.loss
    }

    /// Learns from one feedback's reports, in send order.
    pub fn handle_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        if reports.is_empty() {
            return;
        }
        let mut usage = self.detector.usage();
        let mut overused = false;
        for r in reports {
            if r.arrived {
                self.received.add(now, r.size);
            }
            if let Some(delay) = self.groups.accumulate(r)
                && let Some(trend) = self.trend.handle_delay(&delay)
            {
                usage = self.detector.update(delay.at, trend);
                overused |= usage == Usage::Over;
            }
        }
        self.window_sent += reports.len() as u32;
        self.window_lost += reports.iter().filter(|r| !r.arrived).count() as u32;
        let mut lossy = false;
        if self.window_sent >= LOSS_WINDOW {
            self.loss = f64::from(self.window_lost) / f64::from(self.window_sent);
            lossy = self.loss > HIGH_LOSS;
            (self.window_sent, self.window_lost) = (0, 0);
        }
        let received = self.received.rate_bits_per_second(now);
        if overused {
            if let Some(rx) = received {
                self.decrease(now, rx * BACKOFF);
            }
        } else if lossy {
            self.decrease(now, self.estimate * (1.0 - self.loss / 2.0));
        } else if usage != Usage::Over && self.loss < LOW_LOSS {
            self.grow(now);
        }
    }

    fn decrease(&mut self, now: Instant, to: f64) {
        if self
            .last_decrease
            .is_some_and(|d| now.saturating_duration_since(d) < DECREASE_INTERVAL)
        {
            return;
        }
        let to = to.clamp(MIN_BPS, MAX_BPS);
        if to < self.estimate {
            self.estimate = to;
            self.last_decrease = Some(now);
        }
        self.last_growth = Some(now);
    }

    fn grow(&mut self, now: Instant) {
        let Some(last) = self.last_growth else {
            self.last_growth = Some(now);
            return;
        };
        let elapsed = now.saturating_duration_since(last);
        if elapsed < GROWTH_INTERVAL {
            return;
        }
        let steps = elapsed.as_secs_f64().min(1.0) / GROWTH_INTERVAL.as_secs_f64();
        self.estimate = (self.estimate * GROWTH.powf(steps)).clamp(MIN_BPS, MAX_BPS);
        self.last_growth = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtcp::transport_feedbacks::cc_feedback_report::Ecn;

    /// Reports of packets of 1200 bytes sent every `gap` from `sent`, arriving with a queue
    /// that grows by `queue_growth` per packet since the first; every `lose_every`th is lost.
    fn reports(
        first_id: u64,
        n: u64,
        sent: Instant,
        gap: Duration,
        queue_growth: Duration,
        lose_every: u64,
    ) -> Vec<PacketReport> {
        (0..n)
            .map(|i| {
                let id = first_id + i;
                let departure = sent + gap * i as u32;
                let arrived = lose_every == 0 || !id.is_multiple_of(lose_every);
                let base = gap * id as u32 + Duration::from_secs(1);
                PacketReport {
                    ssrc: 1,
                    id,
                    rtp_sequence_number: id as u16,
                    is_twcc: true,
                    twcc_sequence_number: id as u16,
                    size: 1200,
                    arrived,
                    departure,
                    arrival: arrived.then(|| base + queue_growth * id as u32),
                    ecn: Ecn::default(),
                }
            })
            .collect()
    }

    /// Feeds `secs` of feedback, every 100 ms, about 1200-byte packets every 10 ms (960 kbit/s).
    fn run(e: &mut Estimator, t0: Instant, secs: u64, queue_growth: Duration, lose_every: u64) {
        run_from(e, t0, 0, secs, queue_growth, lose_every);
    }

    /// As `run`, from second `from` on.
    fn run_from(
        e: &mut Estimator,
        t0: Instant,
        from: u64,
        secs: u64,
        queue_growth: Duration,
        lose_every: u64,
    ) {
        for k in from * 10..(from + secs) * 10 {
            let sent = t0 + Duration::from_millis(100 * k);
            let r = reports(
                k * 10,
                10,
                sent,
                Duration::from_millis(10),
                queue_growth,
                lose_every,
            );
            e.handle_reports(sent + Duration::from_millis(120), &r);
        }
    }

    #[test]
    fn a_clear_path_lets_it_grow_by_about_a_quarter_per_second() {
        let t0 = Instant::now();
        let mut e = Estimator::new(1_000_000.0);
        run(&mut e, t0, 4, Duration::ZERO, 0);
        let grown = e.bps() as f64 / 1_000_000.0;
        assert!((2.0..3.0).contains(&grown), "grew {grown}x in 4 s");
        assert_eq!(e.last_decrease(), None);
    }

    #[test]
    fn a_growing_queue_brings_it_down_to_what_arrives() {
        let t0 = Instant::now();
        let mut e = Estimator::new(5_000_000.0);
        run(&mut e, t0, 3, Duration::from_millis(2), 0);
        assert!(e.last_decrease().is_some());
        assert!(e.bps() < 1_000_000, "{} bit/s", e.bps());
    }

    #[test]
    fn heavy_loss_brings_it_down_and_light_loss_holds_it() {
        let t0 = Instant::now();
        let mut e = Estimator::new(2_000_000.0);
        run(&mut e, t0, 3, Duration::ZERO, 4);
        assert!(e.bps() < 2_000_000, "25% loss: {} bit/s", e.bps());
        assert!((e.loss() - 0.25).abs() < 0.05);
        let mut light = Estimator::new(2_000_000.0);
        run(&mut light, t0, 2, Duration::ZERO, 20);
        let held = light.bps();
        run_from(&mut light, t0, 2, 2, Duration::ZERO, 20);
        assert_eq!(light.bps(), held, "5% loss holds it");
        assert_eq!(light.last_decrease(), None);
    }
}
