//! The media path: each publisher packet to every DownTrack, and keyframe requests upstream.

use super::Sfu;
use crate::core::Event;
use crate::core::codec::Kind;
use crate::core::ids::{RoomId, SessionId, TrackId};
use crate::core::speaker::audio_level;
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
        if let Some(ext) = self.tracks.get(tid).and_then(|t| t.audio_level_ext)
            && let Some(level) = audio_level(&pkt.header, ext)
        {
            self.on_audio_level(id, level, now);
        }
        if self.tracks.forward(tid, pkt, now, &mut self.sendpath) {
            self.request_keyframe(tid, now);
        }
    }

    /// Feeds the room's speaker detector; tells signaling when the speakers change.
    fn on_audio_level(&mut self, id: SessionId, level: u8, now: Instant) {
        let Some(s) = self.sessions.get(id) else {
            return;
        };
        let Some(speakers) = self.rooms.handle_level(&s.room, id, level, now) else {
            return;
        };
        let participant = |k| self.sessions.get(k).map(|s| s.participant.clone());
        let Some(speaker) = participant(speakers.dominant) else {
            return;
        };
        let ranked = speakers
            .ranked
            .iter()
            .filter_map(|&k| participant(k))
            .collect();
        let room = s.room.clone();
        self.outbox.event(Event::ActiveSpeaker {
            room: room.clone(),
            speaker,
            ranked,
        });
        self.apply_last_n(&room, now);
    }

    /// Last-N: holds back the video of members who are not among the room's N most recent
    /// speakers, and releases the others' (from a keyframe).
    pub(super) fn apply_last_n(&mut self, room: &RoomId, now: Instant) {
        let n = self.config.last_n;
        let Some(r) = self.rooms.get(room).filter(|_| n > 0) else {
            return;
        };
        let shown = r.last_n(n);
        let tracks = r.tracks().to_vec();
        for tid in tracks {
            let Some(t) = self.tracks.get(tid).filter(|t| t.kind == Kind::Video) else {
                continue;
            };
            let held = !shown.contains(&t.owner);
            if self.tracks.set_last_n_held(tid, held) {
                debug!(track = %tid, "last-N: shown again");
                self.request_keyframe(tid, now);
            }
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
