//! Layer selection: every so often, each subscriber's videos are given the layers that its
//! bandwidth estimate, its tiles and the room's priorities allow.

use super::Sfu;
use crate::core::allocator::{LayerInfo, Priority, Proven, UpGate, Video, allocate, cost, probe};
use crate::core::codec::Kind;
use crate::core::ids::{SessionId, TrackId};
use crate::core::sendpath::bwe;
use crate::core::timers::TimerOf;
use crate::core::track::MAX_LAYERS;
use std::time::{Duration, Instant};
use tracing::debug;

/// How often the layers are chosen again: well inside the two seconds a subscriber may take
/// to come down after its link narrows.
pub(crate) const ALLOCATE_INTERVAL: Duration = Duration::from_millis(250);

/// The share of the estimate, in percent, that layers are chosen to fill: what the send path
/// adds (SRTP, the transport-wide number, IP and UDP) and a layer's bursts need the rest.
const HEADROOM_PERCENT: u64 = 95;

/// The part of an estimate that layers are chosen to fill.
fn usable(estimate: u64) -> u64 {
    estimate / 100 * HEADROOM_PERCENT
}

impl Sfu {
    /// Chooses the layers of every subscriber, and schedules the next round while there is
    /// anyone.
    pub(super) fn allocate_all(&mut self, now: Instant) {
        let subscribers: Vec<SessionId> = self.sessions.iter().map(|s| s.id).collect();
        for &id in &subscribers {
            self.allocate(id, now);
        }
        if !subscribers.is_empty() {
            self.timers
                .set(TimerOf::Allocate, Some(now + ALLOCATE_INTERVAL));
        }
    }

    /// Makes sure a round of layer choices is scheduled.
    pub(super) fn schedule_allocation(&mut self, now: Instant) {
        if !self.timers.is_set(TimerOf::Allocate) {
            self.timers
                .set(TimerOf::Allocate, Some(now + ALLOCATE_INTERVAL));
        }
    }

    /// Chooses the layers of one subscriber's videos.
    fn allocate(&mut self, id: SessionId, now: Instant) {
        let Some(s) = self.sessions.get(id) else {
            return;
        };
        let speaker = self.rooms.get(&s.room).and_then(|r| r.dominant_speaker());
        let mut tracks: Vec<TrackId> = Vec::new();
        let mut videos: Vec<Video> = Vec::new();
        let mut audio_bps = 0;
        let mut feedback = false;
        for tid in s.subscriptions() {
            let (Some(t), Some(dt)) = (self.tracks.get(tid), self.tracks.downtrack(id, tid)) else {
                continue;
            };
            feedback |= dt.out.is_some_and(|o| o.twcc_ext.is_some());
            if t.kind != Kind::Video {
                audio_bps += dt.bitrate.bps(now);
                continue;
            }
            if dt.hidden || t.held_back().is_some() {
                continue;
            }
            let screen = self.sessions.get(t.owner).is_some_and(|o| o.screen_share);
            let priority = if screen {
                Priority::Screen
            } else if speaker == Some(t.owner) {
                Priority::Speaker
            } else {
                Priority::Other
            };
            let mut layers = [LayerInfo::default(); MAX_LAYERS];
            for (slot, l) in layers.iter_mut().zip(&t.layers) {
                *slot = LayerInfo {
                    bps: l.bitrate.bps(now),
                    size: l.size,
                    active: l.active(now),
                };
            }
            tracks.push(tid);
            videos.push(Video {
                priority,
                layers,
                layer_count: t.layers.len().min(MAX_LAYERS),
                tile: self.views.tile(id, &t.owner_id),
            });
        }
        if videos.is_empty() {
            return;
        }
        // A subscriber that never asked for transport-wide feedback gives no estimate: only
        // its tiles limit it.
        let estimator = self.sendpath.estimator(id).filter(|_| feedback);
        let budget = estimator.map_or(u64::MAX, |e| usable(e.bps()).saturating_sub(audio_bps));
        let last_decrease = estimator.and_then(|e| e.last_decrease());
        // Every estimate starts at the same figure: until its link proves more, that is
        // what a subscriber is taken to carry.
        let initial = estimator.map_or(u64::MAX, |_| usable(bwe::INITIAL_BPS as u64));
        let brakes = self
            .brakes
            .entry(id)
            .or_insert_with(|| (UpGate::default(), Proven::new(initial)));
        let (may_probe, fell) = brakes.0.handle_estimate(now, last_decrease);
        let current: Vec<usize> = tracks
            .iter()
            .map(|&tid| self.tracks.downtrack(id, tid).map_or(0, |dt| dt.target))
            .collect();
        let mut desired = Vec::with_capacity(videos.len());
        allocate(budget, &videos, &mut desired);
        if fell {
            brakes
                .1
                .handle_decrease(cost(&videos, &current), cost(&videos, &desired));
        }
        // Within what is proven, or kept (a probe stays until it is proven or fails).
        let kept = brakes.1.bps().max(cost(&videos, &current));
        let mut next = Vec::with_capacity(videos.len());
        allocate(budget.min(kept), &videos, &mut next);
        let probed = may_probe && probe(&videos, &mut next, &desired);
        if probed {
            brakes.0.handle_up(now);
        }
        brakes
            .1
            .handle_targets(&next, cost(&videos, &next), now, last_decrease);
        for (i, &tid) in tracks.iter().enumerate() {
            if next[i] == current[i] {
                continue;
            }
            debug!(subscriber = id.0, track = %tid, from = current[i], to = next[i], budget, probed, "layer");
            if self.tracks.set_target(id, tid, next[i]) {
                self.request_keyframe(tid, next[i], now);
            }
        }
    }
}
