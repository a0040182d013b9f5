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
        let want = self.tracks.forward(tid, pkt, now, &mut self.sendpath);
        self.request_keyframes(tid, want, now);
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
                let layers = self.tracks.layers_in_use(tid);
                self.request_keyframes(tid, layers, now);
            }
        }
    }

    /// Asks the track's publisher for a keyframe of the layer `session` receives of it.
    pub(super) fn request_keyframe_for(&mut self, session: SessionId, tid: TrackId, now: Instant) {
        if let Some(layer) = self.tracks.layer_of(session, tid) {
            self.request_keyframe(tid, layer, now);
        }
    }

    /// Asks the track's publisher for a keyframe of each layer in `layers` (a bit each).
    pub(super) fn request_keyframes(&mut self, tid: TrackId, layers: u32, now: Instant) {
        let mut rest = layers;
        while rest != 0 {
            let layer = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            self.request_keyframe(tid, layer, now);
        }
    }

    /// Asks the track's publisher for a keyframe of one layer, at most once per interval (a
    /// request within it is sent when the interval ends).
    pub(super) fn request_keyframe(&mut self, tid: TrackId, layer: usize, now: Instant) {
        let Some(t) = self.tracks.get_mut(tid) else {
            return;
        };
        if t.kind != Kind::Video {
            return;
        }
        let Some(l) = t.layers.get_mut(layer) else {
            return;
        };
        let due = l.keyframes.handle_request(now);
        self.timers.set(TimerOf::Track(tid), t.keyframe_timeout());
        if due {
            self.send_pli(tid, layer, now);
        }
    }

    /// Sends the publisher a PLI about one layer of the track.
    pub(super) fn send_pli(&mut self, tid: TrackId, layer: usize, now: Instant) {
        let Some(t) = self.tracks.get_mut(tid) else {
            return;
        };
        let Some(ssrc) = t.layers.get(layer).map(|l| l.ssrc) else {
            return;
        };
        t.counters.plis += 1;
        let (owner, receiver) = (t.owner, t.receiver);
        self.timers.set(TimerOf::Track(tid), t.keyframe_timeout());
        debug!(track = %tid, ssrc, "PLI to the publisher");
        if let Some(s) = self.sessions.get_mut(owner) {
            s.send_pli(now, receiver, ssrc);
            self.sessions.mark(owner);
        }
    }
}
