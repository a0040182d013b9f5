//! The allocator: which layer of each video a subscriber receives, within its bandwidth
//! estimate. Pure: it is handed the estimate, the layers and the time.
//!
//! Every video gets at least its lowest layer. What the estimate leaves is spent in order of
//! priority (a screen share, then the active speaker, then the rest), each video taking the
//! highest layer that fits, but none larger than the tile the subscriber shows it in. A fall
//! in the estimate takes effect at once. A rise within what the link has carried without
//! congestion is taken at once too; past it, a rise is a probe: one layer of one video, only
//! once the estimate has not fallen for a while, and for longer each time a probe met
//! congestion.

use crate::core::track::MAX_LAYERS;
use std::time::{Duration, Instant};

/// How a video ranks when the estimate is shared out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// A screen share: text must stay readable.
    Screen,
    /// The room's active speaker.
    Speaker,
    /// Everyone else.
    Other,
}

/// One layer of a video, as the allocator sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerInfo {
    /// What it sends, in bits per second (0 while not yet measured).
    pub bps: u64,
    /// Its picture size, if known.
    pub size: Option<(u16, u16)>,
    /// Whether the publisher sends it.
    pub active: bool,
}

/// One video a subscriber receives.
#[derive(Debug, Clone, Copy)]
pub struct Video {
    /// How it ranks.
    pub priority: Priority,
    /// Its layers, lowest first; the first `layer_count` are real.
    pub layers: [LayerInfo; MAX_LAYERS],
    /// See `layers`.
    pub layer_count: usize,
    /// The tile the subscriber shows it in, in device pixels, if it said.
    pub tile: Option<(u16, u16)>,
}

/// What a layer of a simulcast camera nominally sends, before it has been measured: the
/// ladder browsers use, from the top layer down.
const NOMINAL_BPS: [u64; 3] = [1_500_000, 500_000, 150_000];
/// The top layer's nominal width, when no keyframe has told it: each lower layer is half.
const NOMINAL_TOP_WIDTH: u32 = 1280;

impl Video {
    fn layers(&self) -> &[LayerInfo] {
        &self.layers[..self.layer_count.min(MAX_LAYERS)]
    }

    /// What layer `i` costs: measured, or nominal.
    fn cost(&self, i: usize) -> u64 {
        let l = self.layers()[i];
        if l.bps > 0 {
            return l.bps;
        }
        let from_top = self.layer_count.saturating_sub(1 + i);
        NOMINAL_BPS.get(from_top).copied().unwrap_or(100_000)
    }

    /// The width of layer `i`: from its keyframes, or nominal.
    fn width(&self, i: usize) -> u32 {
        match self.layers()[i].size {
            Some((w, _)) => u32::from(w),
            None => NOMINAL_TOP_WIDTH >> self.layer_count.saturating_sub(1 + i).min(8),
        }
    }

    /// The highest layer worth sending for the tile: the first at least as wide (a layer a
    /// little narrower, within 10%, will do), or the top one.
    fn cap(&self) -> usize {
        let top = self.layer_count.saturating_sub(1);
        let Some((tile_w, _)) = self.tile else {
            return top;
        };
        (0..top)
            .find(|&i| self.width(i) * 10 >= u32::from(tile_w) * 9)
            .unwrap_or(top)
    }

    fn lowest_active(&self) -> usize {
        self.layers().iter().position(|l| l.active).unwrap_or(0)
    }
}

/// The layer each video should get within `budget` bits per second, in the order given.
pub fn allocate(budget: u64, videos: &[Video], out: &mut Vec<usize>) {
    out.clear();
    out.extend(videos.iter().map(Video::lowest_active));
    let mut left =
        budget.saturating_sub(videos.iter().zip(out.iter()).map(|(v, &l)| v.cost(l)).sum());
    let mut order: Vec<usize> = (0..videos.len()).collect();
    order.sort_by_key(|&i| videos[i].priority);
    for i in order {
        let v = &videos[i];
        let base = out[i];
        let mut best = base;
        for l in base + 1..=v.cap() {
            if !v.layers()[l].active {
                continue;
            }
            let extra = v.cost(l).saturating_sub(v.cost(base));
            if extra <= left {
                best = l;
            }
        }
        left -= v.cost(best).saturating_sub(v.cost(base));
        out[i] = best;
    }
}

/// How long the estimate must hold before a move up, at first.
pub const UP_HOLD: Duration = Duration::from_millis(2500);
/// The longest that wait grows to after moves up that met congestion.
pub const MAX_UP_HOLD: Duration = Duration::from_secs(8);
/// A fall in the estimate this soon after a move up means the move was too much.
const FAILED_UP_WITHIN: Duration = Duration::from_secs(3);
/// A move up that lasted this long without congestion resets the wait.
const GOOD_UP_AFTER: Duration = Duration::from_secs(10);
/// Probes are this far apart at least, so that each one's effect shows in the feedback.
pub const PROBE_SPACING: Duration = Duration::from_millis(1500);

/// Layers held this long with no fall in the estimate are proven.
pub const PROVEN_AFTER: Duration = Duration::from_secs(4);

/// What one subscriber's link has carried without congestion: the cost of a set of layers
/// it held for a while with no fall in the estimate. A move up within it needs no wait; a
/// move past it is a probe. A fall in the estimate while the subscriber was within it shows
/// that the link itself narrowed, and then only what it falls to is proven.
#[derive(Debug, Clone, Default)]
pub struct Proven {
    bps: u64,
    targets: Vec<usize>,
    since: Option<Instant>,
}

impl Proven {
    /// A link assumed to carry `bps` before anything was measured.
    pub fn new(bps: u64) -> Proven {
        Proven {
            bps,
            ..Default::default()
        }
    }

    /// What the link has proven to carry.
    pub fn bps(&self) -> u64 {
        self.bps
    }

    /// The layers targeted now, and what they cost: held long enough, with no fall in the
    /// estimate meanwhile, that cost is proven.
    pub fn handle_targets(
        &mut self,
        targets: &[usize],
        cost: u64,
        now: Instant,
        last_decrease: Option<Instant>,
    ) {
        if self.since.is_none() || targets != self.targets {
            self.targets.clear();
            self.targets.extend_from_slice(targets);
            self.since = Some(now);
        }
        if let Some(since) = self.since
            && now.saturating_duration_since(since.max(last_decrease.unwrap_or(since)))
                >= PROVEN_AFTER
        {
            self.bps = self.bps.max(cost);
        }
    }

    /// The estimate fell while the layers cost `cost`, and it now allows `allowed`. Unless
    /// that was more than proven (a probe), the link narrowed.
    pub fn handle_decrease(&mut self, cost: u64, allowed: u64) {
        if cost <= self.bps {
            self.bps = self.bps.min(allowed);
        }
    }
}

/// What `layers` (one per video) cost.
pub fn cost(videos: &[Video], layers: &[usize]) -> u64 {
    videos.iter().zip(layers).map(|(v, &l)| v.cost(l)).sum()
}

/// One probe: from the layers the proven cost allows (`safe`), one layer more for the video
/// that ranks first among those the estimate allows more (`desired`). Whether there was one.
pub fn probe(videos: &[Video], safe: &mut [usize], desired: &[usize]) -> bool {
    let first = (0..safe.len())
        .filter(|&i| desired[i] > safe[i])
        .min_by_key(|&i| videos[i].priority);
    match first {
        Some(i) => {
            safe[i] = (safe[i] + 1..=desired[i])
                .find(|&l| videos[i].layers()[l].active)
                .unwrap_or(desired[i]);
            true
        }
        None => false,
    }
}

/// One subscriber's brake on moving up.
#[derive(Debug, Clone, Copy)]
pub struct UpGate {
    hold: Duration,
    last_up: Option<Instant>,
    last_probe: Option<Instant>,
    seen_decrease: Option<Instant>,
}

impl Default for UpGate {
    fn default() -> Self {
        UpGate {
            hold: UP_HOLD,
            last_up: None,
            last_probe: None,
            seen_decrease: None,
        }
    }
}

impl UpGate {
    /// Learns of the estimate's latest fall; returns whether moving up is allowed now, and
    /// whether the estimate fell since the last call.
    pub fn handle_estimate(
        &mut self,
        now: Instant,
        last_decrease: Option<Instant>,
    ) -> (bool, bool) {
        let fell = last_decrease != self.seen_decrease;
        if fell {
            self.seen_decrease = last_decrease;
            if let (Some(d), Some(up)) = (last_decrease, self.last_up)
                && d.saturating_duration_since(up) < FAILED_UP_WITHIN
            {
                self.hold = (self.hold * 2).min(MAX_UP_HOLD);
                self.last_up = None;
            }
        }
        if let Some(up) = self.last_up
            && now.saturating_duration_since(up) >= GOOD_UP_AFTER
        {
            self.hold = UP_HOLD;
            self.last_up = None;
        }
        let may_go_up = last_decrease.is_none_or(|d| now.saturating_duration_since(d) >= self.hold)
            && self
                .last_probe
                .is_none_or(|p| now.saturating_duration_since(p) >= PROBE_SPACING);
        (may_go_up, fell)
    }

    /// Records a move up at `now`.
    pub fn handle_up(&mut self, now: Instant) {
        self.last_up = Some(now);
        self.last_probe = Some(now);
    }

    /// The wait before a move up, now.
    pub fn hold(&self) -> Duration {
        self.hold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn simulcast(priority: Priority, tile: Option<(u16, u16)>) -> Video {
        let mut layers = [LayerInfo::default(); MAX_LAYERS];
        for (i, bps) in [150_000, 500_000, 1_500_000].into_iter().enumerate() {
            layers[i] = LayerInfo {
                bps,
                size: Some((320 << i, 180 << i)),
                active: true,
            };
        }
        Video {
            priority,
            layers,
            layer_count: 3,
            tile,
        }
    }

    fn run(budget: u64, videos: &[Video]) -> Vec<usize> {
        let mut out = Vec::new();
        allocate(budget, videos, &mut out);
        out
    }

    #[test]
    fn the_estimate_goes_to_the_screen_share_then_the_speaker_then_the_rest() {
        let videos = [
            simulcast(Priority::Other, None),
            simulcast(Priority::Speaker, None),
            simulcast(Priority::Screen, None),
        ];
        assert_eq!(run(10_000_000, &videos), [2, 2, 2]);
        // 450k for the three lowest, then 1.35M more takes the screen to the top layer.
        assert_eq!(run(1_800_000, &videos), [0, 0, 2]);
        // Then 350k more takes the speaker to the middle.
        assert_eq!(run(2_150_000, &videos), [0, 1, 2]);
        assert_eq!(run(100_000, &videos), [0, 0, 0], "never below the lowest");
    }

    #[test]
    fn no_video_gets_more_than_its_tile_needs() {
        let videos = [
            simulcast(Priority::Other, Some((300, 170))),
            simulcast(Priority::Other, Some((600, 340))),
            simulcast(Priority::Other, Some((1920, 1080))),
            simulcast(Priority::Other, Some((0, 0))),
        ];
        assert_eq!(run(50_000_000, &videos), [0, 1, 2, 0]);
    }

    #[test]
    fn layers_the_publisher_stopped_are_skipped() {
        let mut v = simulcast(Priority::Other, None);
        v.layers[2].active = false;
        assert_eq!(run(50_000_000, &[v]), [1]);
        v.layers[0].active = false;
        assert_eq!(run(100_000, &[v]), [1], "the lowest that is sent");
    }

    #[test]
    fn unmeasured_layers_cost_the_usual_ladder_and_have_the_usual_widths() {
        let mut v = simulcast(Priority::Other, Some((640, 360)));
        for l in &mut v.layers[..3] {
            *l = LayerInfo {
                active: true,
                ..Default::default()
            };
        }
        assert_eq!(run(50_000_000, &[v]), [1]);
        v.tile = None;
        assert_eq!(run(1_000_000, &[v]), [1], "1.5M does not fit in 1M");
    }

    #[test]
    fn a_probe_is_one_layer_more_for_the_video_that_ranks_first() {
        let videos = [
            simulcast(Priority::Other, None),
            simulcast(Priority::Screen, None),
            simulcast(Priority::Other, None),
        ];
        let mut safe = [2, 0, 1];
        assert!(probe(&videos, &mut safe, &[2, 2, 2]));
        assert_eq!(safe, [2, 1, 1], "the screen, one layer");
        let mut done = [2, 2, 2];
        assert!(
            !probe(&videos, &mut done, &[2, 2, 2]),
            "nothing more wanted"
        );
        assert_eq!(cost(&videos, &[0, 1, 2]), 150_000 + 500_000 + 1_500_000);
    }

    #[test]
    fn moving_up_waits_longer_after_each_move_up_that_met_congestion() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut g = UpGate::default();
        assert_eq!(g.handle_estimate(t0, None), (true, false), "no fall yet");
        assert_eq!(g.handle_estimate(t0 + s(1), Some(t0)), (false, true));
        assert_eq!(g.handle_estimate(t0 + UP_HOLD, Some(t0)), (true, false));
        g.handle_up(t0 + s(3));
        // Congestion one second after the move up: the next wait is twice as long.
        assert!(!g.handle_estimate(t0 + s(4), Some(t0 + s(4))).0);
        assert_eq!(g.hold(), UP_HOLD * 2);
        assert!(!g.handle_estimate(t0 + s(8), Some(t0 + s(4))).0);
        assert!(g.handle_estimate(t0 + s(9), Some(t0 + s(4))).0);
        g.handle_up(t0 + s(9));
        g.handle_estimate(t0 + s(10), Some(t0 + s(10)));
        g.handle_up(t0 + s(20));
        g.handle_estimate(t0 + s(21), Some(t0 + s(21)));
        assert_eq!(g.hold(), MAX_UP_HOLD, "bounded");
        // A move up that lasts resets it.
        g.handle_up(t0 + s(30));
        assert!(g.handle_estimate(t0 + s(40), Some(t0 + s(21))).0);
        assert_eq!(g.hold(), UP_HOLD);
    }

    #[test]
    fn what_a_link_carried_without_congestion_is_proven_until_it_narrows() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut p = Proven::new(1_000_000);
        p.handle_targets(&[2, 0], 1_700_000, t0, None);
        p.handle_targets(&[2, 0], 1_700_000, t0 + s(3), None);
        assert_eq!(p.bps(), 1_000_000, "not yet");
        p.handle_targets(&[2, 0], 1_700_000, t0 + PROVEN_AFTER, None);
        assert_eq!(p.bps(), 1_700_000);
        // A probe past it met congestion: what was proven stays.
        p.handle_decrease(2_100_000, 1_500_000);
        assert_eq!(p.bps(), 1_700_000);
        // Congestion within it: the link narrowed.
        p.handle_decrease(1_700_000, 600_000);
        assert_eq!(p.bps(), 600_000);
        // Held since before the last fall: proven by the time after it.
        p.handle_targets(&[1, 0], 700_000, t0 + s(6), Some(t0 + s(7)));
        p.handle_targets(&[1, 0], 700_000, t0 + s(10), Some(t0 + s(7)));
        assert_eq!(p.bps(), 600_000);
        p.handle_targets(&[1, 0], 700_000, t0 + s(11), Some(t0 + s(7)));
        assert_eq!(p.bps(), 700_000);
    }
}
