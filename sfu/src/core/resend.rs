//! Which NACKed packets a subscriber may get again now: each at most once per interval.
//!
//! A receiver NACKs a packet again when the first retransmission has not arrived after about
//! a round trip; answering every repeat within that time only adds load, and a hostile
//! subscriber repeating NACKs for the whole cache would turn a few bytes of RTCP into the
//! SFU re-sending megabytes. mediasoup and LiveKit hold back a resend of the same packet for
//! about a round trip in the same way.

use std::time::{Duration, Instant};

/// A packet is re-sent to one subscriber at most once in this interval.
pub const RESEND_INTERVAL: Duration = Duration::from_millis(100);

/// Remembered resends: enough for the packets of the last interval at any sane rate.
const SLOTS: usize = 512;

/// The recent resends of one DownTrack, by outgoing sequence number. Allocated at its first
/// NACK: most DownTracks never get one.
#[derive(Debug, Default)]
pub struct ResendGuard {
    slots: Option<Box<[Resent]>>,
}

/// A slot: the packet last re-sent through it, and when.
type Resent = Option<(u16, Instant)>;

impl ResendGuard {
    /// Whether the packet numbered `seq` may be re-sent at `now`; if so, notes it as re-sent.
    pub fn allow(&mut self, seq: u16, now: Instant) -> bool {
        let slots = self
            .slots
            .get_or_insert_with(|| vec![None; SLOTS].into_boxed_slice());
        let slot = &mut slots[usize::from(seq) % SLOTS];
        if let Some((s, at)) = *slot
            && s == seq
            && now.saturating_duration_since(at) < RESEND_INTERVAL
        {
            return false;
        }
        *slot = Some((seq, now));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_within_the_interval_is_held_back() {
        let t0 = Instant::now();
        let mut g = ResendGuard::default();
        assert!(g.allow(7, t0));
        assert!(!g.allow(7, t0 + Duration::from_millis(99)));
        assert!(g.allow(8, t0 + Duration::from_millis(1)), "another packet");
        assert!(g.allow(7, t0 + RESEND_INTERVAL), "a round trip later");
    }

    #[test]
    fn a_packet_sharing_a_slot_is_not_confused_with_another() {
        let t0 = Instant::now();
        let mut g = ResendGuard::default();
        assert!(g.allow(1, t0));
        assert!(g.allow(1 + SLOTS as u16, t0));
        assert!(g.allow(1, t0), "its slot now holds the other packet");
    }
}
