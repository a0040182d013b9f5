//! GCC's trendline: the slope of the queueing delay over the last groups of packets, from
//! their send and arrival times. A queue that builds slowly (a link a tenth too slow for what
//! is sent) shows as a steady slope long before it overflows, where the delay change between
//! two groups alone is lost in the jitter.

use rtc::interceptor::InterGroupDelay;
use std::collections::VecDeque;
use std::time::Instant;

/// Groups the slope is fitted over.
const WINDOW: usize = 20;
/// Smoothing of the accumulated delay.
const SMOOTHING: f64 = 0.9;
/// The slope is scaled by this and by the groups seen (at most [`MAX_DELTAS`]), so that it
/// compares with a threshold in milliseconds, as libwebrtc's does.
const GAIN: f64 = 4.0;
const MAX_DELTAS: u32 = 60;

/// The delay trend of one subscriber's downlink.
pub struct Trendline {
    points: VecDeque<(f64, f64)>,
    first: Option<Instant>,
    accumulated_ms: f64,
    smoothed_ms: f64,
    deltas: u32,
}

impl Default for Trendline {
    fn default() -> Self {
        Trendline {
            points: VecDeque::with_capacity(WINDOW + 1),
            first: None,
            accumulated_ms: 0.0,
            smoothed_ms: 0.0,
            deltas: 0,
        }
    }
}

impl Trendline {
    /// Adds one group's delay change; returns the scaled trend once the window is full.
    pub fn handle_delay(&mut self, d: &InterGroupDelay) -> Option<f64> {
        let first = *self.first.get_or_insert(d.at);
        self.deltas = (self.deltas + 1).min(MAX_DELTAS);
        self.accumulated_ms += d.delta_ms;
        self.smoothed_ms = SMOOTHING * self.smoothed_ms + (1.0 - SMOOTHING) * self.accumulated_ms;
        let x = d.at.saturating_duration_since(first).as_secs_f64() * 1000.0;
        self.points.push_back((x, self.smoothed_ms));
        if self.points.len() > WINDOW {
            self.points.pop_front();
        }
        if self.points.len() < WINDOW {
            return None;
        }
        let slope = slope(&self.points)?;
        Some(slope * f64::from(self.deltas) * GAIN)
    }
}

/// The least-squares slope of `points`, if they spread over time.
fn slope(points: &VecDeque<(f64, f64)>) -> Option<f64> {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
        (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
    });
    (den > 0.0).then(|| num / den)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn feed(t: &mut Trendline, t0: Instant, groups: u32, delta_ms: f64) -> Option<f64> {
        let mut last = None;
        for i in 0..groups {
            last = t.handle_delay(&InterGroupDelay {
                delta_ms,
                at: t0 + Duration::from_millis(20) * i,
                size: 1200,
            });
        }
        last
    }

    #[test]
    fn a_slowly_building_queue_shows_a_steep_trend_and_a_steady_one_none() {
        let t0 = Instant::now();
        // 2.4 ms more delay per 20 ms group: a link a tenth too slow.
        let building = feed(&mut Trendline::default(), t0, 60, 2.4).unwrap();
        assert!(building > 12.5, "{building}");
        let steady = feed(&mut Trendline::default(), t0, 60, 0.0).unwrap();
        assert!(steady.abs() < 1e-9);
        assert_eq!(feed(&mut Trendline::default(), t0, 5, 2.4), None, "too few");
    }
}
