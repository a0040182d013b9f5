//! Joining and leaving, publishing and subscribing: the changes of a room's membership and
//! media, and the offers they call for.

use super::{Event, Sfu};
use crate::core::api::JoinOptions;
use crate::core::codec::Kind;
use crate::core::error::SfuError;
use crate::core::ids::{ParticipantId, RoomId, SessionId, TrackId};
use crate::core::session::{OpenedLayer, OpenedTrack, Session};
use crate::core::timers::TimerOf;
use crate::core::track::NewTrack;
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
        self.join_with(now, room, participant, JoinOptions::default())
    }

    /// Creates a session that may do only what `options` allow.
    pub fn join_with(
        &mut self,
        now: Instant,
        room: RoomId,
        participant: ParticipantId,
        options: JoinOptions,
    ) -> Result<SessionId, SfuError> {
        self.observe(now);
        if self.routes.by_participant(&participant).is_some() {
            return Err(SfuError::ParticipantExists(participant));
        }
        let id = self.sessions.next_id();
        let (mut session, ufrag) = Session::new(
            id,
            participant.clone(),
            room.clone(),
            self.config.announce_addr,
            self.config.tcp_addr,
            now,
        )?;
        self.routes.add(id, participant.clone(), ufrag);
        let created_at = self.config.wall_clock(now);
        let joined = self.rooms.join(&room, id, created_at);
        session.layers_paused = !joined.forwarding();
        session.options = options;
        for &tid in joined.tracks() {
            session.defer_subscription(tid);
        }
        self.sessions.insert(session);
        self.schedule_allocation(now);
        info!(%room, %participant, "joined the SFU");
        self.run(now);
        Ok(id)
    }

    /// Removes a participant, its tracks and its subscriptions, and frees its state.
    pub fn leave(&mut self, now: Instant, participant: &ParticipantId) -> Result<(), SfuError> {
        self.observe(now);
        let id = self.session_of(participant)?;
        self.remove(id, now);
        self.run(now);
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
        let changed = self
            .rooms
            .set_forwarding(room, forwarding)
            .ok_or_else(|| SfuError::UnknownRoom(room.clone()))?;
        if !changed {
            return Ok(());
        }
        let tracks = self
            .rooms
            .get(room)
            .map(|r| r.tracks().to_vec())
            .unwrap_or_default();
        self.tracks.set_forwarding(&tracks, forwarding);
        for member in self.rooms.members_of(room) {
            if let Some(s) = self.sessions.get_mut(member) {
                s.layers_paused = !forwarding;
            }
        }
        if forwarding {
            for tid in tracks {
                let layers = self.tracks.layers_in_use(tid);
                self.request_keyframes(tid, layers, now);
            }
        }
        info!(%room, forwarding, "room forwarding");
        self.run(now);
        Ok(())
    }

    /// How `subscriber` shows `publisher`'s video: whether its tile is on screen, and its
    /// size in device pixels. Hidden, none is sent; shown again, it resumes from a keyframe.
    /// The allocator sends no layer larger than the tile.
    pub fn set_view(
        &mut self,
        now: Instant,
        subscriber: &ParticipantId,
        publisher: &ParticipantId,
        visible: bool,
        tile: (u16, u16),
    ) -> Result<(), SfuError> {
        self.observe(now);
        let sub = self.session_of(subscriber)?;
        let publishing = self.session_of(publisher)?;
        self.views.set_tile(sub, publisher, tile);
        if !self.views.set(sub, publisher, visible) {
            return Ok(());
        }
        let tracks: Vec<TrackId> = self
            .sessions
            .get(publishing)
            .map(|s| s.published().collect())
            .unwrap_or_default();
        for tid in tracks {
            if self.tracks.get(tid).is_some_and(|t| t.kind == Kind::Video)
                && self.tracks.set_visible(sub, tid, visible)
            {
                self.request_keyframe_for(sub, tid, now);
            }
        }
        info!(%subscriber, %publisher, visible, "view");
        self.run(now);
        Ok(())
    }

    /// Whether `participant` shares its screen: its video then comes first when subscribers'
    /// bandwidth is shared out.
    pub fn set_screen_share(
        &mut self,
        now: Instant,
        participant: &ParticipantId,
        on: bool,
    ) -> Result<(), SfuError> {
        self.observe(now);
        let id = self.session_of(participant)?;
        if let Some(s) = self.sessions.get_mut(id) {
            s.screen_share = on;
        }
        info!(%participant, on, "screen share");
        Ok(())
    }

    pub(super) fn session_of(&self, participant: &ParticipantId) -> Result<SessionId, SfuError> {
        self.routes
            .by_participant(participant)
            .ok_or_else(|| SfuError::UnknownParticipant(participant.clone()))
    }

    fn remove(&mut self, id: SessionId, now: Instant) {
        let Some(mut session) = self.sessions.remove(id) else {
            return;
        };
        self.routes.remove(id);
        self.timers.set(TimerOf::Session(id), None);
        self.stop_sending(id);
        for tid in session.subscriptions().collect::<Vec<_>>() {
            if let Some(dt) = self.tracks.unsubscribe(id, tid) {
                self.retired.add_downtrack(&dt.counters);
            }
        }
        for tid in session.published().collect::<Vec<_>>() {
            self.unpublish(tid, now);
        }
        self.rooms.leave(&session.room, id);
        self.views.forget(id);
        self.brakes.remove(&id);
        if self.sessions.len() == 0 {
            self.timers.set(TimerOf::Allocate, None);
        }
        self.apply_last_n(&session.room, now);
        session.close();
        while let Some(out) = session.poll_output() {
            if let crate::core::session::SessionOutput::Transmit(t) = out {
                self.outbox.transmit(t);
            }
        }
        info!(participant = %session.participant, room = %session.room, "left the SFU");
    }

    /// A session's first packet of a track: the track is published, and every other member
    /// of the room subscribes to it.
    pub(super) fn publish(&mut self, id: SessionId, opened: OpenedTrack, now: Instant) {
        let Some(s) = self.sessions.get(id) else {
            return;
        };
        let (participant, room) = (s.participant.clone(), s.room.clone());
        let kind = opened.kind;
        let allowed = match kind {
            Kind::Audio => s.options.publish_audio,
            Kind::Video => s.options.publish_video,
        };
        if !allowed {
            self.ingress.tracks_refused += 1;
            info!(%participant, ?kind, "track not published: the participant may not publish it");
            return;
        }
        let forwarding = self.rooms.get(&room).is_none_or(|r| r.forwarding());
        let tid = self.tracks.publish(NewTrack {
            owner: id,
            owner_id: participant.clone(),
            kind,
            codec: opened.codec.clone(),
            ssrc: opened.ssrc,
            rid: opened.rid.clone(),
            receiver: opened.receiver,
            forwarding,
            audio_level_ext: opened.audio_level_ext,
        });
        info!(%participant, track = %tid, ?kind, codec = opened.codec.codec().as_str(), ssrc = opened.ssrc, "published");
        if let Some(s) = self.sessions.get_mut(id) {
            s.add_published(&opened, tid);
        }
        self.outbox.event(Event::TrackPublished {
            participant,
            track: tid,
            kind,
        });
        self.rooms.add_track(&room, tid);
        self.apply_last_n(&room, now);
        let members = self.rooms.members_of(&room);
        for member in members {
            if member != id {
                self.subscribe(member, tid, now);
            }
        }
    }

    /// Another simulcast layer of a published track started arriving.
    pub(super) fn add_layer(&mut self, id: SessionId, opened: OpenedLayer) {
        let Some(tid) = self.sessions.get_mut(id).and_then(|s| s.add_layer(&opened)) else {
            return;
        };
        match self.tracks.add_layer(tid, opened.rid.clone(), opened.ssrc) {
            Some(at) => {
                info!(track = %tid, rid = %opened.rid, ssrc = opened.ssrc, at, "layer")
            }
            None => debug!(track = %tid, rid = %opened.rid, "a layer too many, or seen already"),
        }
    }

    /// Ends a track: every subscriber's sender for it is freed, and each renegotiates.
    pub(super) fn unpublish(&mut self, tid: TrackId, _now: Instant) {
        let Some((track, downtracks)) = self.tracks.unpublish(tid) else {
            return;
        };
        self.timers.set(TimerOf::Track(tid), None);
        self.retired.add_track(&track.counters);
        for dt in downtracks {
            self.retired.add_downtrack(&dt.counters);
            if let Some(s) = self.sessions.get_mut(dt.session) {
                s.unsubscribe(tid, dt.forwarder);
                self.sessions.mark(dt.session);
            }
        }
        let room = self.sessions.get(track.owner).map(|s| s.room.clone());
        if let Some(room) = room {
            self.rooms.remove_track(&room, tid);
            let members = self.rooms.members_of(&room);
            // Sessions still waiting for their first negotiation had it kept for later.
            for member in members {
                if let Some(s) = self.sessions.get_mut(member) {
                    s.forget_deferred(tid);
                }
            }
        }
    }

    /// Gives a session a DownTrack of `tid`, or keeps it for after its first negotiation.
    pub(super) fn subscribe(&mut self, id: SessionId, tid: TrackId, _now: Instant) {
        let (Some(track), Some(s)) = (self.tracks.get(tid), self.sessions.get_mut(id)) else {
            return;
        };
        if track.owner == id || self.tracks.downtrack(id, tid).is_some() || !s.options.receive {
            return;
        }
        if !s.negotiated_once() {
            s.defer_subscription(tid);
            return;
        }
        let hidden = track.kind == Kind::Video && self.views.hides(id, &track.owner_id);
        match s.subscribe(tid, &track.owner_id, track.kind, &track.codec) {
            Ok(forwarder) => {
                self.tracks.subscribe(tid, id, forwarder, hidden);
                self.sessions.mark(id);
            }
            Err(e) => warn!(participant = %s.participant, track = %tid, "subscribe: {e}"),
        }
    }
}
