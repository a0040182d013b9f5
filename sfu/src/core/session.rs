//! Membership and negotiation: joining, offers and answers, publishing, subscribing, leaving.

use crate::core::PKey;
use crate::core::error::SfuError;
use crate::core::ids::{ParticipantId, RoomId, SessionId, TrackId};
use crate::core::participant::{Participant, TransportState};
use crate::core::room::Room;
use crate::core::sfu::{Event, Sfu, flush};
use crate::core::track::{Kind, Track};
use rtc::peer_connection::event::RTCTrackEventInit;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::sansio::Protocol;
use std::time::Instant;
use tracing::{debug, info, warn};

impl Sfu {
    /// Creates a session for `participant` in `room`. Media starts once it sends an offer.
    pub fn join(
        &mut self,
        now: Instant,
        room: RoomId,
        participant: ParticipantId,
    ) -> Result<SessionId, SfuError> {
        self.observe(now);
        if self.keys.contains_key(&participant) {
            return Err(SfuError::ParticipantExists(participant));
        }
        let key = self.next_key;
        let mut p = Participant::new(
            participant.clone(),
            room.clone(),
            self.config.announce_addr,
            now,
        )?;
        self.next_key += 1;
        let created_at = self.config.wall_clock(now);
        let r = self
            .rooms
            .entry(room.clone())
            .or_insert_with(|| Room::new(room.clone(), created_at));
        p.pending_subscriptions = r.tracks.clone();
        r.participants.push(key);
        self.by_ufrag.insert(p.ice_ufrag.clone(), key);
        self.keys.insert(participant.clone(), key);
        self.participants.insert(key, p);
        info!(%room, %participant, "joined the SFU");
        Ok(SessionId(key))
    }

    /// Applies the participant's offer and returns the SFU's answer.
    pub fn handle_offer(
        &mut self,
        now: Instant,
        participant: &ParticipantId,
        sdp: String,
    ) -> Result<String, SfuError> {
        self.observe(now);
        let key = self.key(participant)?;
        let p = self.participant_mut(key)?;
        let answer = match p.accept_offer(sdp, now) {
            Ok(answer) => answer,
            Err(e) => {
                if let Some(n) = p.refusals.note() {
                    warn!(%participant, code = e.code(), refusals = n, "offer refused: {e}");
                }
                // A glare rollback before the refusal may have left an offer of ours to make.
                self.after_negotiation(key, now);
                return Err(e);
            }
        };
        let first = !p.negotiated_once;
        p.negotiated_once = true;
        if first {
            for tid in std::mem::take(&mut p.pending_subscriptions) {
                self.subscribe(key, tid);
            }
        }
        self.after_negotiation(key, now);
        Ok(answer)
    }

    /// Applies the participant's answer to the SFU's last offer. A refused answer withdraws
    /// that offer, and a fresh one follows after a backoff.
    pub fn handle_answer(
        &mut self,
        now: Instant,
        participant: &ParticipantId,
        sdp: String,
    ) -> Result<(), SfuError> {
        self.observe(now);
        let key = self.key(participant)?;
        let p = self.participant_mut(key)?;
        match p.accept_answer(sdp, now) {
            Ok(()) => {
                self.after_negotiation(key, now);
                Ok(())
            }
            Err((e, retry)) => {
                p.log_refused_answer(e.code(), &e, retry);
                Err(e)
            }
        }
    }

    /// The participant's answer was refused before it reached the SFU (malformed or too
    /// large): the SFU's offer is withdrawn, and a fresh one follows after a backoff.
    pub fn handle_answer_refused(
        &mut self,
        now: Instant,
        participant: &ParticipantId,
        reason: &str,
    ) -> Result<(), SfuError> {
        self.observe(now);
        let key = self.key(participant)?;
        let p = self.participant_mut(key)?;
        let retry = p.answer_refused(now);
        p.log_refused_answer("refused-at-edge", &reason, retry);
        Ok(())
    }

    /// Adds a remote ICE candidate. The SFU is ICE-lite, so this only helps it learn
    /// addresses early; connectivity checks from the client are what bind an address.
    pub fn handle_candidate(
        &mut self,
        now: Instant,
        participant: &ParticipantId,
        candidate: RTCIceCandidateInit,
    ) -> Result<(), SfuError> {
        self.observe(now);
        let key = self.key(participant)?;
        if candidate.candidate.len() > 1024 {
            return Err(SfuError::BadCandidate("candidate too long".into()));
        }
        if candidate.candidate.is_empty() {
            return Ok(()); // end-of-candidates
        }
        let p = self.participant_mut(key)?;
        p.pc.add_remote_candidate(candidate)
            .map_err(|e| SfuError::BadCandidate(e.to_string()))?;
        self.drain(key, now);
        Ok(())
    }

    /// Turns forwarding in a room on or off. Off, sessions stay connected but no packet is
    /// forwarded: the room's members are talking peer to peer. Turning it on asks every
    /// publisher for a keyframe, so that video starts at once.
    pub fn set_forwarding(
        &mut self,
        now: Instant,
        room: &RoomId,
        forwarding: bool,
    ) -> Result<(), SfuError> {
        self.observe(now);
        let r = self
            .rooms
            .get_mut(room)
            .ok_or_else(|| SfuError::UnknownRoom(room.clone()))?;
        if r.forwarding == forwarding {
            return Ok(());
        }
        r.forwarding = forwarding;
        let tracks = r.tracks.clone();
        for tid in &tracks {
            if let Some(t) = self.tracks.get_mut(tid) {
                t.forwarding = forwarding;
            }
        }
        if forwarding {
            for tid in tracks {
                self.request_keyframe(tid, now);
            }
        }
        info!(%room, forwarding, "room forwarding");
        Ok(())
    }

    /// Removes a participant, its tracks and its subscriptions, and frees its state.
    pub fn leave(&mut self, now: Instant, participant: &ParticipantId) -> Result<(), SfuError> {
        self.observe(now);
        let key = self.key(participant)?;
        self.remove(key, now);
        Ok(())
    }

    fn participant_mut(&mut self, key: PKey) -> Result<&mut Participant, SfuError> {
        self.participants
            .get_mut(&key)
            .ok_or_else(|| SfuError::Rtc("participant state missing".into()))
    }

    fn remove(&mut self, key: PKey, now: Instant) {
        let Some(mut p) = self.participants.remove(&key) else {
            return;
        };
        self.keys.remove(&p.id);
        self.by_ufrag.remove(&p.ice_ufrag);
        for addr in &p.addrs {
            self.by_addr.remove(addr);
        }
        for (tid, dt) in &p.downtracks {
            self.retired.add_downtrack(&dt.counters);
            if let Some(t) = self.tracks.get_mut(tid) {
                t.subscribers.retain(|&s| s != key);
            }
        }
        let published: Vec<TrackId> = p.published.values().copied().collect();
        for tid in published {
            self.unpublish(tid, now);
        }
        if let Some(room) = self.rooms.get_mut(&p.room) {
            room.participants.retain(|&k| k != key);
            if room.participants.is_empty() {
                self.rooms.remove(&p.room);
            }
        }
        if let Err(e) = p.pc.close() {
            debug!(participant = %p.id, "close: {e}");
        }
        flush(&mut p.pc, &mut self.transmits);
        info!(participant = %p.id, room = %p.room, "left the SFU");
    }

    pub(crate) fn unpublish(&mut self, tid: TrackId, now: Instant) {
        let Some(track) = self.tracks.remove(&tid) else {
            return;
        };
        self.retired.add_track(&track.counters);
        if let Some(room) = self
            .participants
            .get(&track.owner)
            .and_then(|p| self.rooms.get_mut(&p.room))
        {
            room.tracks.retain(|&t| t != tid);
        }
        for sub in track.subscribers {
            if let Some(p) = self.participants.get_mut(&sub) {
                if let Some(counters) = p.remove_downtrack(tid, track.kind) {
                    self.retired.add_downtrack(&counters);
                }
                p.pending_subscriptions.retain(|&t| t != tid);
            }
            self.after_negotiation(sub, now);
        }
        // Sessions still waiting for their first negotiation had it queued.
        for p in self.participants.values_mut() {
            p.pending_subscriptions.retain(|&t| t != tid);
        }
    }

    /// Gives a subscriber a DownTrack of `tid`; the caller renegotiates.
    fn subscribe(&mut self, key: PKey, tid: TrackId) {
        let (Some(track), Some(p)) = (self.tracks.get_mut(&tid), self.participants.get_mut(&key))
        else {
            return;
        };
        if track.owner == key || p.downtracks.contains_key(&tid) {
            return;
        }
        if !p.negotiated_once {
            p.pending_subscriptions.push(tid);
            return;
        }
        match p.add_downtrack(track) {
            Ok(dt) => {
                p.downtracks.insert(tid, dt);
                track.subscribers.push(key);
            }
            Err(e) => warn!(participant = %p.id, track = %tid, "subscribe: {e}"),
        }
    }

    /// After an offer/answer: learn the payload types of subscriptions whose m-section is now
    /// agreed to send, ask publishers for keyframes for them, and make the next offer if one
    /// is due.
    pub(crate) fn after_negotiation(&mut self, key: PKey, now: Instant) {
        let mut new_subs = Vec::new();
        if let Some(p) = self.participants.get_mut(&key) {
            let pending: Vec<(TrackId, usize)> = p
                .downtracks
                .iter()
                .filter(|(_, dt)| dt.out_pt.is_none())
                .map(|(tid, dt)| (*tid, dt.transceiver))
                .collect();
            for (tid, transceiver) in pending {
                let Some(track) = self.tracks.get(&tid) else {
                    continue;
                };
                let pt = p.negotiated_pt(transceiver, track);
                if let (Some(pt), Some(dt)) = (pt, p.downtracks.get_mut(&tid)) {
                    dt.out_pt = Some(pt);
                    new_subs.push(tid);
                }
            }
            match p.poll_offer(now) {
                Ok(Some(sdp)) => self.events.push_back(Event::Offer {
                    participant: p.id.clone(),
                    session: SessionId(key),
                    sdp,
                }),
                Ok(None) => {}
                Err(e) => warn!(participant = %p.id, "renegotiation failed: {e}"),
            }
            let connected = p.state == TransportState::Connected;
            flush(&mut p.pc, &mut self.transmits);
            if connected {
                for tid in new_subs {
                    self.request_keyframe(tid, now);
                }
            }
        }
        self.drain(key, now);
    }

    pub(crate) fn publish(&mut self, key: PKey, init: RTCTrackEventInit, now: Instant) {
        let Some(p) = self.participants.get_mut(&key) else {
            return;
        };
        if p.published.contains_key(&init.track_id) {
            return;
        }
        let Some(receiver) = p.pc.rtp_receiver(init.receiver_id) else {
            return;
        };
        let rtc_track = receiver.track();
        let kind = Kind::from_rtc(rtc_track.kind());
        let Some(codec) = rtc_track
            .codec(init.ssrc)
            .or_else(|| rtc_track.codings().first().map(|c| &c.codec))
            .cloned()
        else {
            warn!(participant = %p.id, "track without a codec");
            return;
        };
        let forwarding = self.rooms.get(&p.room).is_none_or(|r| r.forwarding);
        let tid = TrackId(self.next_track);
        self.next_track += 1;
        let mut track = Track::new(
            tid,
            key,
            p.id.clone(),
            kind,
            codec,
            init.ssrc,
            init.receiver_id,
            self.config.keyframe_interval,
        );
        track.forwarding = forwarding;
        info!(participant = %p.id, track = %tid, ?kind, codec = track.codec.as_str(), ssrc = init.ssrc, "published");
        p.published.insert(init.track_id, tid);
        p.by_ssrc.insert(init.ssrc, tid);
        self.events.push_back(Event::TrackPublished {
            participant: p.id.clone(),
            track: tid,
            kind,
        });
        let room_id = p.room.clone();
        self.tracks.insert(tid, track);
        let members = match self.rooms.get_mut(&room_id) {
            Some(room) => {
                room.tracks.push(tid);
                room.participants.clone()
            }
            None => Vec::new(),
        };
        for sub in members {
            if sub != key {
                self.subscribe(sub, tid);
                self.after_negotiation(sub, now);
            }
        }
    }
}
