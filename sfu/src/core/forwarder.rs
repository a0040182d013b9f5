//! The per-subscriber forwarding decision: drop, or forward with a rewritten SSRC, sequence
//! number and timestamp.
//!
//! A subscriber must see one continuous RTP stream even when the source behind its DownTrack
//! changes (a publisher reconnects, a simulcast layer switch, the P2P→SFU move). The Forwarder
//! keeps an offset per source so that the outgoing sequence numbers and timestamps carry on
//! from where the previous source stopped. It is pure: it is handed the packet's fields and the
//! time, and it touches nothing else.

use crate::core::seq::seq_newer;
use crate::core::skips::Skips;
use std::time::{Duration, Instant};

/// The fields of an incoming packet that the forwarding decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketInfo {
    /// SSRC of the publisher's stream.
    pub ssrc: u32,
    /// Sequence number as sent by the publisher.
    pub seq: u16,
    /// RTP timestamp as sent by the publisher.
    pub timestamp: u32,
    /// Whether this packet starts a keyframe (always true for audio).
    pub keyframe: bool,
    /// Whether the payload is empty (padding-only probe).
    pub padding_only: bool,
}

impl PacketInfo {
    /// What the decision needs of `pkt`, a packet of a track in `codec`.
    pub fn of(pkt: &rtc::rtp::Packet, codec: crate::core::codec::Codec) -> PacketInfo {
        PacketInfo {
            ssrc: pkt.header.ssrc,
            seq: pkt.header.sequence_number,
            timestamp: pkt.header.timestamp,
            keyframe: crate::core::codec::is_keyframe(codec, &pkt.payload),
            padding_only: pkt.payload.is_empty(),
        }
    }
}

/// Why a packet was not forwarded to one subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Video waits for a keyframe after a (re)start or a source switch.
    WaitingForKeyframe,
    /// The packet belongs to the old source, or precedes the current source's first packet.
    Stale,
    /// Padding-only packets are bandwidth probes for the publisher's own link.
    Padding,
    /// The subscriber's session has not negotiated this track yet.
    NotNegotiated,
    /// The subscriber's transport refused the packet.
    SendFailed,
    /// The room is not forwarding: its members talk peer to peer.
    Paused,
    /// Last-N: the publisher is not among the room's N most recent speakers.
    NotSpeaking,
    /// The subscriber does not show this video (its tile is hidden or off screen).
    NotVisible,
}

impl DropReason {
    /// Every reason, for iterating counters.
    pub const ALL: [DropReason; 8] = [
        DropReason::WaitingForKeyframe,
        DropReason::Stale,
        DropReason::Padding,
        DropReason::NotNegotiated,
        DropReason::SendFailed,
        DropReason::Paused,
        DropReason::NotSpeaking,
        DropReason::NotVisible,
    ];

    /// A short stable name, used in stats and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::WaitingForKeyframe => "waiting_for_keyframe",
            DropReason::Stale => "stale",
            DropReason::Padding => "padding",
            DropReason::NotNegotiated => "not_negotiated",
            DropReason::SendFailed => "send_failed",
            DropReason::Paused => "paused",
            DropReason::NotSpeaking => "not_speaking",
            DropReason::NotVisible => "not_visible",
        }
    }

    /// Index into a `[u64; DropReason::ALL.len()]` counter array.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The rewritten header fields for one subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewrite {
    /// The DownTrack's own SSRC.
    pub ssrc: u32,
    /// Sequence number in the subscriber's continuous numbering.
    pub seq: u16,
    /// Timestamp in the subscriber's continuous timeline.
    pub timestamp: u32,
}

/// The outcome of [`Forwarder::forward`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Do not send this packet to this subscriber.
    Drop(DropReason),
    /// Send it with these header fields.
    Forward(Rewrite),
}

/// The mapping from one source's numbering to the subscriber's.
#[derive(Debug, Clone)]
struct Source {
    ssrc: u32,
    /// First sequence number forwarded from this source; older ones are stale.
    first_seq: u16,
    /// Highest sequence number of this source forwarded, or dropped in order.
    highest_seq: u16,
    /// The source has moved far past `first_seq`: in 16-bit wrapping arithmetic the
    /// "older than the first packet" test would soon misfire on current packets, and no
    /// packet from before the switch can still be in flight, so it is no longer made.
    settled: bool,
    seq_offset: u16,
    ts_offset: u32,
    /// Packets dropped mid-stream, whose gaps the outgoing numbers close.
    skips: Skips,
}

impl Source {
    /// The subscriber's sequence number for the source's `seq`.
    fn out_seq(&self, seq: u16) -> u16 {
        seq.wrapping_add(self.seq_offset)
            .wrapping_sub(self.skips.before(seq))
    }

    /// Where `out_seq` came from, if this source gave it (it gave numbers up to `last`).
    fn origin(&self, out_seq: u16, last: u16) -> Option<Origin> {
        let first_out = self.out_seq(self.first_seq);
        if (!self.settled && seq_newer(first_out, out_seq)) || seq_newer(out_seq, last) {
            return None;
        }
        Some(Origin {
            ssrc: self.ssrc,
            seq: self.skips.raise(out_seq.wrapping_sub(self.seq_offset)),
            ts_offset: self.ts_offset,
        })
    }

    /// Drops `seq` without a gap, if it is the newest so far (an older one may already have
    /// later packets numbered after it: its gap stays, and a NACK for it finds nothing).
    fn skip(&mut self, seq: u16) {
        if seq_newer(seq, self.highest_seq) {
            self.highest_seq = seq;
            self.skips.skip(seq);
        }
    }

    /// Starts the numbering over at `seq`, after the publisher jumped: the subscriber's
    /// sequence carries on one after the last packet sent.
    fn restart(&mut self, seq: u16, last: Option<LastOut>) {
        self.first_seq = seq;
        self.highest_seq = seq;
        self.settled = false;
        self.skips = Skips::default();
        if let Some(last) = last {
            self.seq_offset = last.seq.wrapping_add(1).wrapping_sub(seq);
        }
    }
}

/// What was last sent, so that the next source can continue from it.
#[derive(Debug, Clone, Copy)]
struct LastOut {
    seq: u16,
    timestamp: u32,
    at: Instant,
}

/// Forwarding state of one DownTrack.
#[derive(Debug)]
pub struct Forwarder {
    out_ssrc: u32,
    clock_rate: u32,
    needs_keyframe: bool,
    video: bool,
    source: Option<Source>,
    previous_ssrc: Option<u32>,
    last: Option<LastOut>,
}

/// Where a packet the subscriber knows by its number came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// The source's SSRC.
    pub ssrc: u32,
    /// The source's sequence number.
    pub seq: u16,
    /// What the source's timestamps had added to become the subscriber's.
    pub ts_offset: u32,
}

/// A packet at most this far before a source's first one is a late, reordered packet.
const REORDER_WINDOW: u16 = 0x1000;

/// How far past its first packet a source must be before the stale test against that
/// packet stops (a quarter of the sequence space).
const SETTLED_AFTER: u16 = 0x4000;

impl Forwarder {
    /// A forwarder that sends as `out_ssrc`. Video starts by waiting for a keyframe.
    pub fn new(out_ssrc: u32, clock_rate: u32, video: bool) -> Self {
        Forwarder {
            out_ssrc,
            clock_rate: clock_rate.max(1),
            needs_keyframe: video,
            video,
            source: None,
            previous_ssrc: None,
            last: None,
        }
    }

    /// The SSRC the subscriber sees.
    pub fn out_ssrc(&self) -> u32 {
        self.out_ssrc
    }

    /// Whether video is held back until the next keyframe.
    pub fn waiting_for_keyframe(&self) -> bool {
        self.needs_keyframe
    }

    /// Decides what to do with one packet, and advances the state when it is forwarded.
    pub fn forward(&mut self, pkt: &PacketInfo, now: Instant) -> Decision {
        let switching = self.source.as_ref().is_none_or(|s| s.ssrc != pkt.ssrc);
        if pkt.padding_only {
            if !switching && let Some(src) = self.source.as_mut() {
                src.skip(pkt.seq);
            }
            return Decision::Drop(DropReason::Padding);
        }
        if switching {
            if self.previous_ssrc == Some(pkt.ssrc) {
                return Decision::Drop(DropReason::Stale);
            }
            if self.video && !pkt.keyframe {
                // A new source starts on a keyframe, or the decoder shows garbage. Until it
                // comes, the current source (if any) keeps flowing: no gap at a switch.
                return Decision::Drop(DropReason::WaitingForKeyframe);
            }
            self.switch_to(pkt, now);
        } else if self.needs_keyframe && !pkt.keyframe {
            if let Some(src) = self.source.as_mut() {
                src.skip(pkt.seq);
            }
            return Decision::Drop(DropReason::WaitingForKeyframe);
        }
        let last = self.last;
        let Some(src) = self.source.as_mut() else {
            // `switch_to` above always sets a source; this arm is never taken.
            return Decision::Drop(DropReason::Stale);
        };
        let before_first = !src.settled && seq_newer(src.first_seq, pkt.seq);
        if before_first && src.first_seq.wrapping_sub(pkt.seq) < REORDER_WINDOW {
            // From before the point where this source started: the subscriber had the
            // previous source's packets under those numbers.
            return Decision::Drop(DropReason::Stale);
        }
        let behind = if seq_newer(src.highest_seq, pkt.seq) {
            src.highest_seq.wrapping_sub(pkt.seq)
        } else {
            0
        };
        if before_first || behind >= REORDER_WINDOW {
            // Too far "behind" to be reordering: the publisher jumped its sequence forward.
            // Start over from here, numbered on from the last packet sent, rather than drop
            // everything until it wraps round.
            src.restart(pkt.seq, last);
        } else if behind >= Skips::WINDOW || src.skips.is_stale(pkt.seq) {
            // Too late to be given the number it would have had (or a copy of one dropped).
            return Decision::Drop(DropReason::Stale);
        }
        if seq_newer(pkt.seq, src.highest_seq) {
            src.highest_seq = pkt.seq;
            src.settled |= pkt.seq.wrapping_sub(src.first_seq) >= SETTLED_AFTER;
            src.skips.advance(pkt.seq);
        }
        self.needs_keyframe = false;
        let seq = src.out_seq(pkt.seq);
        let timestamp = pkt.timestamp.wrapping_add(src.ts_offset);
        if self.last.is_none_or(|l| seq_newer(seq, l.seq)) {
            self.last = Some(LastOut {
                seq,
                timestamp,
                at: now,
            });
        }
        Decision::Forward(Rewrite {
            ssrc: self.out_ssrc,
            seq,
            timestamp,
        })
    }

    /// Readies the forwarder for another track on the same m-section: the subscriber goes on
    /// seeing one SSRC, numbered on from the last packet sent, and the new track starts on a
    /// keyframe. Nothing of the last track's sources is kept: the new one may even bring an
    /// SSRC seen before.
    pub fn reassign(&mut self) {
        self.source = None;
        self.previous_ssrc = None;
        self.needs_keyframe = self.video;
    }

    /// Lets the source before the current one be switched to again: a simulcast layer that
    /// was left may be chosen once more. Its late packets are kept out by the caller, which
    /// passes only the layers it forwards or moves to.
    pub fn forget_previous(&mut self) {
        self.previous_ssrc = None;
    }

    /// Asks for the next packet to start on a keyframe (for example after a subscriber's PLI
    /// could not be served, or when the subscription is resumed).
    pub fn request_keyframe(&mut self) {
        if self.video {
            self.needs_keyframe = true;
        }
    }

    /// Maps a sequence number the subscriber knows (from a NACK) back to the source's.
    pub fn source_seq(&self, out_seq: u16) -> Option<(u32, u16)> {
        self.origin(out_seq).map(|o| (o.ssrc, o.seq))
    }

    /// Where the packet the subscriber numbers `out_seq` came from. Only the current source
    /// is mapped: after a switch, which starts on a keyframe, the decoder needs nothing of
    /// the previous one, and re-sending it would only crowd a link that may have just proved
    /// too narrow for it.
    pub fn origin(&self, out_seq: u16) -> Option<Origin> {
        self.source.as_ref()?.origin(out_seq, self.last?.seq)
    }

    fn switch_to(&mut self, pkt: &PacketInfo, now: Instant) {
        let (seq_offset, ts_offset) = match self.last {
            None => (0, 0),
            Some(last) => {
                // Continue one packet after the last one, and advance the clock by the wall
                // time that passed, so that the receiver's jitter buffer sees no jump.
                let next_seq = last.seq.wrapping_add(1);
                let elapsed = now
                    .saturating_duration_since(last.at)
                    .max(Duration::from_millis(1));
                let ticks =
                    (elapsed.as_micros() as u64 * self.clock_rate as u64 / 1_000_000) as u32;
                let next_ts = last.timestamp.wrapping_add(ticks.max(1));
                (
                    next_seq.wrapping_sub(pkt.seq),
                    next_ts.wrapping_sub(pkt.timestamp),
                )
            }
        };
        self.previous_ssrc = self.source.as_ref().map(|s| s.ssrc);
        self.source = Some(Source {
            ssrc: pkt.ssrc,
            first_seq: pkt.seq,
            highest_seq: pkt.seq,
            settled: false,
            seq_offset,
            ts_offset,
            skips: Skips::default(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sequence_jump_early_in_a_source_is_followed() {
        let t0 = Instant::now();
        let mut f = Forwarder::new(9, 48_000, false);
        assert!(matches!(
            f.forward(&pkt(1, 100, 0, false), t0),
            Decision::Forward(_)
        ));
        // A packet just before the first is a reordered one: stale.
        assert_eq!(
            f.forward(&pkt(1, 99, 0, false), t0),
            Decision::Drop(DropReason::Stale)
        );
        // A jump of more than half the space reads as "older"; it is followed, not dropped.
        for seq in [100u16.wrapping_add(0x9000), 100u16.wrapping_add(0x9001)] {
            assert!(matches!(
                f.forward(&pkt(1, seq, 0, false), t0),
                Decision::Forward(_)
            ));
        }
    }

    #[test]
    fn a_long_stream_keeps_flowing_past_half_the_sequence_space() {
        // Regression: every packet from 32,769 on was dropped as older than the first one.
        let t0 = Instant::now();
        let mut f = Forwarder::new(9, 48_000, false);
        let start = 1000u16;
        for i in 0..70_000u32 {
            let seq = start.wrapping_add(i as u16);
            let d = f.forward(&pkt(1, seq, i * 960, false), t0);
            assert!(
                matches!(d, Decision::Forward(_)),
                "packet {i} dropped: {d:?}"
            );
        }
        // NACKs for recent packets still map back to the source.
        let last = start.wrapping_add((69_999u32 % 65_536) as u16);
        assert_eq!(
            f.source_seq(last.wrapping_sub(5)),
            Some((1, last.wrapping_sub(5)))
        );
        // A late packet from just before the newest is forwarded, as before.
        assert!(matches!(
            f.forward(&pkt(1, last.wrapping_sub(3), 0, false), t0),
            Decision::Forward(_)
        ));
    }

    fn pkt(ssrc: u32, seq: u16, timestamp: u32, keyframe: bool) -> PacketInfo {
        PacketInfo {
            ssrc,
            seq,
            timestamp,
            keyframe,
            padding_only: false,
        }
    }

    fn fwd(f: &mut Forwarder, p: PacketInfo, now: Instant) -> Rewrite {
        match f.forward(&p, now) {
            Decision::Forward(r) => r,
            d => panic!("expected forward, got {d:?}"),
        }
    }

    #[test]
    fn first_source_keeps_its_numbering_and_gets_the_downtrack_ssrc() {
        let now = Instant::now();
        let mut f = Forwarder::new(77, 48_000, false);
        let r = fwd(&mut f, pkt(1, 100, 5000, false), now);
        assert_eq!(
            r,
            Rewrite {
                ssrc: 77,
                seq: 100,
                timestamp: 5000
            }
        );
    }

    #[test]
    fn video_waits_for_keyframe_then_forwards_everything() {
        let now = Instant::now();
        let mut f = Forwarder::new(9, 90_000, true);
        assert_eq!(
            f.forward(&pkt(1, 1, 0, false), now),
            Decision::Drop(DropReason::WaitingForKeyframe)
        );
        fwd(&mut f, pkt(1, 2, 0, true), now);
        // The rest of the frame and later delta frames pass.
        fwd(&mut f, pkt(1, 3, 0, false), now);
        fwd(&mut f, pkt(1, 4, 3000, false), now);
        assert!(!f.waiting_for_keyframe());
    }

    #[test]
    fn source_switch_continues_sequence_and_timestamp() {
        let t0 = Instant::now();
        let mut f = Forwarder::new(9, 90_000, true);
        fwd(&mut f, pkt(1, 65534, 1000, true), t0);
        fwd(&mut f, pkt(1, 65535, 4000, false), t0);
        // A new source with unrelated numbering, 100 ms later: its delta frames wait.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(
            f.forward(&pkt(2, 7, 123_456, false), t1),
            Decision::Drop(DropReason::WaitingForKeyframe)
        );
        // Meanwhile the old source keeps flowing, so the subscriber sees no gap.
        let last = fwd(&mut f, pkt(1, 0, 7000, false), t0);
        let r = fwd(&mut f, pkt(2, 8, 123_456, true), t1);
        assert_eq!(r.ssrc, 9);
        assert_eq!(r.seq, last.seq.wrapping_add(1));
        // 100 ms at 90 kHz after the last packet sent.
        assert_eq!(r.timestamp, last.timestamp.wrapping_add(9000));
        let r2 = fwd(&mut f, pkt(2, 9, 126_456, false), t1);
        assert_eq!(r2.seq, r.seq.wrapping_add(1));
        assert_eq!(r2.timestamp, r.timestamp.wrapping_add(3000));
        // A late packet of the old source is stale now.
        assert_eq!(
            f.forward(&pkt(1, 65533, 1000, false), t1),
            Decision::Drop(DropReason::Stale)
        );
    }

    #[test]
    fn packets_from_before_the_switch_point_are_stale() {
        let now = Instant::now();
        let mut f = Forwarder::new(9, 48_000, false);
        fwd(&mut f, pkt(1, 10, 0, false), now);
        assert_eq!(
            f.forward(&pkt(1, 9, 0, false), now),
            Decision::Drop(DropReason::Stale)
        );
        // Reordering after the start is forwarded with the same offset.
        fwd(&mut f, pkt(1, 12, 0, false), now);
        assert_eq!(fwd(&mut f, pkt(1, 11, 0, false), now).seq, 11);
    }

    #[test]
    fn padding_is_dropped() {
        let mut f = Forwarder::new(9, 48_000, false);
        let mut p = pkt(1, 1, 0, true);
        p.padding_only = true;
        assert_eq!(
            f.forward(&p, Instant::now()),
            Decision::Drop(DropReason::Padding)
        );
    }

    /// Regression: Chromium probes its uplink with padding-only packets on the video SSRC
    /// when its encoder resumes (the move from P2P to the SFU). They were dropped but kept
    /// their numbers, so subscribers saw gaps, NACKed them, and were sent the padding after
    /// all, from the retransmission cache.
    #[test]
    fn padding_in_the_middle_leaves_no_gap_and_nacks_map_around_it() {
        let t0 = Instant::now();
        let mut f = Forwarder::new(9, 90_000, true);
        let mut out = vec![fwd(&mut f, pkt(1, 100, 0, true), t0).seq];
        for seq in 101..=110 {
            let mut p = pkt(1, seq, 3000, false);
            p.padding_only = (103..=106).contains(&seq);
            match f.forward(&p, t0) {
                Decision::Forward(r) => out.push(r.seq),
                Decision::Drop(r) => assert_eq!(r, DropReason::Padding),
            }
        }
        assert_eq!(out, (100..=106).collect::<Vec<u16>>(), "contiguous");
        // A NACK for any number sent maps back to the packet that carried it.
        let carried = [100, 101, 102, 107, 108, 109, 110];
        for (o, src) in out.iter().zip(carried) {
            assert_eq!(f.source_seq(*o), Some((1, src)));
        }
    }

    #[test]
    fn nack_sequence_maps_back_to_the_current_source_only() {
        let t0 = Instant::now();
        let mut f = Forwarder::new(9, 48_000, false);
        for s in 100..110 {
            fwd(&mut f, pkt(1, s, 0, false), t0);
        }
        assert_eq!(f.source_seq(105), Some((1, 105)));
        assert_eq!(f.source_seq(99), None);
        assert_eq!(f.source_seq(110), None);
        let r = fwd(&mut f, pkt(2, 5000, 7, false), t0);
        assert_eq!(f.source_seq(r.seq), Some((2, 5000)));
        assert_eq!(f.source_seq(105), None);
        assert_ne!(f.origin(r.seq).unwrap().ts_offset, 0);
        f.reassign();
        assert_eq!(f.source_seq(r.seq), None, "another track: gone");
    }

    #[test]
    fn a_reassigned_forwarder_numbers_on_and_takes_any_source() {
        let t0 = Instant::now();
        let mut f = Forwarder::new(9, 90_000, true);
        fwd(&mut f, pkt(1, 500, 0, true), t0);
        fwd(&mut f, pkt(2, 70, 0, true), t0);
        let last = fwd(&mut f, pkt(2, 71, 0, false), t0);
        // The m-section now carries another track, which happens to reuse SSRC 1.
        f.reassign();
        assert!(f.waiting_for_keyframe());
        assert_eq!(
            f.forward(&pkt(1, 9000, 0, false), t0),
            Decision::Drop(DropReason::WaitingForKeyframe)
        );
        let r = fwd(&mut f, pkt(1, 9001, 0, true), t0);
        assert_eq!(r.seq, last.seq.wrapping_add(1));
    }

    #[test]
    fn late_copies_and_very_late_packets_are_stale() {
        let t0 = Instant::now();
        let mut f = Forwarder::new(9, 90_000, false);
        fwd(&mut f, pkt(1, 10, 0, false), t0);
        let mut padding = pkt(1, 11, 0, false);
        padding.padding_only = true;
        assert_eq!(f.forward(&padding, t0), Decision::Drop(DropReason::Padding));
        assert_eq!(fwd(&mut f, pkt(1, 12, 0, false), t0).seq, 11);
        // A copy of the padding, with its payload this time, would take 12's number.
        assert_eq!(
            f.forward(&pkt(1, 11, 0, false), t0),
            Decision::Drop(DropReason::Stale)
        );
        for seq in 13..2100 {
            fwd(&mut f, pkt(1, seq, 0, false), t0);
        }
        // Late by more than the window: its number's neighbours are long gone.
        assert_eq!(
            f.forward(&pkt(1, 2099 - Skips::WINDOW, 0, false), t0),
            Decision::Drop(DropReason::Stale)
        );
        assert!(matches!(
            f.forward(&pkt(1, 2099 - 10, 0, false), t0),
            Decision::Forward(_)
        ));
    }

    #[test]
    fn a_publisher_jump_carries_the_numbering_on() {
        let t0 = Instant::now();
        let mut f = Forwarder::new(9, 48_000, false);
        for seq in 100..30_000u16 {
            fwd(&mut f, pkt(1, seq, 0, false), t0);
        }
        // The source is settled; it jumps forward by more than half the sequence space.
        let jumped = 29_999u16.wrapping_add(40_000);
        assert_eq!(fwd(&mut f, pkt(1, jumped, 0, false), t0).seq, 30_000);
        assert_eq!(
            fwd(&mut f, pkt(1, jumped.wrapping_add(1), 0, false), t0).seq,
            30_001
        );
        assert_eq!(f.source_seq(30_001), Some((1, jumped.wrapping_add(1))));
    }
}
