//! The media path: each publisher packet to every DownTrack, and keyframe requests upstream.

use super::Sfu;
use crate::core::codec::Kind;
use crate::core::ids::{SessionId, TrackId};
use crate::core::timers::TimerOf;
use std::time::Instant;
use tracing::debug;

impl Sfu {
    pub(super) fn on_rtp(&mut self, id: SessionId, pkt: rtc::rtp::Packet, now: Instant) {
        let Some(tid) = self
            .sessions
            .get(id)
            .and_then(|s| s.track_of_ssrc(pkt.header.ssrc))
        else {
            self.ingress.unknown_ssrc += 1;
            return;
        };
        if self.tracks.forward(tid, pkt, now, &mut self.sendpath) {
            self.request_keyframe(tid, now);
        }
    }

    /// Asks the track's publisher for a keyframe, at most once per interval (a request within
    /// it is sent when the interval ends).
    pub(super) fn request_keyframe(&mut self, tid: TrackId, now: Instant) {
        let Some(t) = self.tracks.get_mut(tid) else {
            return;
        };
        if t.kind != Kind::Video {
            return;
        }
        let due = t.keyframes.handle_request(now);
        let next = t.keyframes.poll_timeout();
        self.timers.set(TimerOf::Track(tid), next);
        if due {
            self.send_pli(tid, now);
        }
    }

    pub(super) fn send_pli(&mut self, tid: TrackId, now: Instant) {
        let Some(t) = self.tracks.get_mut(tid) else {
            return;
        };
        t.counters.plis += 1;
        let (owner, receiver, ssrc) = (t.owner, t.receiver, t.ssrc);
        let next = t.keyframes.poll_timeout();
        self.timers.set(TimerOf::Track(tid), next);
        debug!(track = %tid, ssrc, "PLI to the publisher");
        if let Some(s) = self.sessions.get_mut(owner) {
            s.send_pli(now, receiver, ssrc);
            self.sessions.mark(owner);
        }
    }
}
