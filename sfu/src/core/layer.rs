//! Layer: one encoding of a published track. A camera published with simulcast arrives as
//! several layers (each its own SSRC, named by its `rid`); any other track as one.

use crate::core::cache::{CachedPacket, RetransmitCache};
use crate::core::keyframe::KeyframeRequester;
use crate::core::seq::seq_newer;
use crate::core::stats::BitrateMeter;
use std::time::{Duration, Instant};

/// A layer that has sent nothing for this long is inactive: the publisher stopped it (a
/// browser drops its top layers when its own uplink is short).
pub const ACTIVE_WINDOW: Duration = Duration::from_secs(1);

/// One encoding of a track, as it arrives.
pub(crate) struct Layer {
    /// Its RTP stream id (`a=rid`), for a simulcast layer.
    pub(crate) rid: Option<String>,
    pub(crate) ssrc: u32,
    /// Recent packets, for answering subscribers' NACKs (video only).
    pub(crate) cache: Option<RetransmitCache<CachedPacket>>,
    /// Debounces keyframe requests towards the publisher, for this layer.
    pub(crate) keyframes: KeyframeRequester,
    pub(crate) bitrate: BitrateMeter,
    /// The picture size its latest keyframe gave (VP8), if known.
    pub(crate) size: Option<(u16, u16)>,
    last_at: Option<Instant>,
    highest_seq: Option<u16>,
}

impl Layer {
    pub(crate) fn new(
        rid: Option<String>,
        ssrc: u32,
        video: bool,
        keyframe_interval: Duration,
    ) -> Layer {
        Layer {
            rid,
            ssrc,
            cache: video.then(|| {
                RetransmitCache::new(
                    RetransmitCache::<()>::DEFAULT_SLOTS,
                    RetransmitCache::<()>::DEFAULT_MAX_AGE,
                )
            }),
            keyframes: KeyframeRequester::new(keyframe_interval),
            bitrate: BitrateMeter::default(),
            size: None,
            last_at: None,
            highest_seq: None,
        }
    }

    /// Counts an incoming packet; returns how many were lost just before it (a gap in its
    /// sequence numbers).
    pub(crate) fn record(&mut self, seq: u16, len: usize, now: Instant) -> u64 {
        self.bitrate.record(len, now);
        self.last_at = Some(now);
        match self.highest_seq {
            None => {
                self.highest_seq = Some(seq);
                0
            }
            Some(h) if seq_newer(seq, h) => {
                self.highest_seq = Some(seq);
                u64::from(seq.wrapping_sub(h).saturating_sub(1))
            }
            Some(_) => 0,
        }
    }

    /// Whether the publisher is sending it.
    pub(crate) fn active(&self, now: Instant) -> bool {
        self.last_at
            .is_some_and(|t| now.saturating_duration_since(t) < ACTIVE_WINDOW)
    }
}

/// Where a layer named `rid` ranks, lowest quality first: the names clients use (`q`, `h`,
/// `f`, or numbers), else after those in the order they came.
pub(crate) fn rank(rid: Option<&str>) -> u32 {
    match rid {
        None | Some("q") => 0,
        Some("h") => 1,
        Some("f") => 2,
        Some(r) => r.parse::<u32>().unwrap_or(u32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_counts_gaps_and_goes_inactive_when_quiet() {
        let t0 = Instant::now();
        let mut l = Layer::new(Some("h".into()), 7, true, Duration::from_millis(500));
        assert!(!l.active(t0));
        assert_eq!(l.record(10, 100, t0), 0);
        assert_eq!(l.record(13, 100, t0), 2);
        assert_eq!(l.record(12, 100, t0), 0, "late, not a gap");
        assert!(l.active(t0 + Duration::from_millis(900)));
        assert!(!l.active(t0 + ACTIVE_WINDOW));
    }

    #[test]
    fn layers_rank_by_the_names_clients_give_them() {
        assert!(rank(Some("q")) < rank(Some("h")));
        assert!(rank(Some("h")) < rank(Some("f")));
        assert!(rank(Some("0")) < rank(Some("2")));
        assert!(rank(Some("f")) < rank(Some("hd")));
    }
}
