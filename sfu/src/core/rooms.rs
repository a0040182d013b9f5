//! Rooms: which sessions see and hear each other, which tracks they publish, and whether the
//! SFU forwards between them. A room exists while it has a member.

use crate::core::ids::{RoomId, SessionId, TrackId};
use crate::core::speaker::{SpeakerDetector, Speakers};
use std::collections::HashMap;
use std::time::{Instant, SystemTime};

/// A room's members and tracks.
pub(crate) struct Room {
    pub(crate) created_at: SystemTime,
    members: Vec<SessionId>,
    tracks: Vec<TrackId>,
    /// Whether media is forwarded. Off while the members talk peer to peer: their sessions
    /// stay connected, so the move to the SFU needs no new handshake.
    forwarding: bool,
    /// Who is speaking, from the levels on the members' audio.
    speakers: SpeakerDetector<SessionId>,
    /// Members who have had the floor, the latest first.
    recent: Vec<SessionId>,
}

impl Room {
    /// Its members, in joining order.
    pub(crate) fn members(&self) -> &[SessionId] {
        &self.members
    }

    /// Its published tracks.
    pub(crate) fn tracks(&self) -> &[TrackId] {
        &self.tracks
    }

    /// Whether media is forwarded.
    pub(crate) fn forwarding(&self) -> bool {
        self.forwarding
    }

    /// Last-N: the `n` members whose video is forwarded. The most recent speakers first,
    /// then those who have not spoken, in joining order.
    pub(crate) fn last_n(&self, n: usize) -> Vec<SessionId> {
        let silent = self.members.iter().filter(|m| !self.recent.contains(m));
        self.recent.iter().chain(silent).take(n).copied().collect()
    }

    /// Who has the floor, once anyone has spoken.
    pub(crate) fn dominant_speaker(&self) -> Option<SessionId> {
        self.speakers.dominant()
    }
}

/// Every room of one SFU.
#[derive(Default)]
pub(crate) struct Rooms {
    rooms: HashMap<RoomId, Room>,
}

impl Rooms {
    /// Rooms with at least one member.
    pub(crate) fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Adds `session` to `room`, creating the room at `now` if it is new.
    pub(crate) fn join(&mut self, room: &RoomId, session: SessionId, now: SystemTime) -> &Room {
        let r = self.rooms.entry(room.clone()).or_insert_with(|| Room {
            created_at: now,
            members: Vec::new(),
            tracks: Vec::new(),
            forwarding: true,
            speakers: SpeakerDetector::default(),
            recent: Vec::new(),
        });
        r.members.push(session);
        r
    }

    /// A copy of `room`'s members (none if it does not exist), for loops that change the SFU.
    pub(crate) fn members_of(&self, room: &RoomId) -> Vec<SessionId> {
        self.rooms
            .get(room)
            .map(|r| r.members.clone())
            .unwrap_or_default()
    }

    /// An audio level from `session`, a member of `room`: the room's speakers if they
    /// changed, including on an earlier departure.
    pub(crate) fn handle_level(
        &mut self,
        room: &RoomId,
        session: SessionId,
        level: u8,
        now: Instant,
    ) -> Option<Speakers<SessionId>> {
        let r = self.rooms.get_mut(room)?;
        r.speakers.handle_level(session, level, now);
        let speakers = r.speakers.poll_speakers()?;
        if r.recent.first() != Some(&speakers.dominant) {
            r.recent.retain(|&s| s != speakers.dominant);
            r.recent.insert(0, speakers.dominant);
        }
        Some(speakers)
    }

    /// Takes `session` out of `room`; the room goes when it is empty.
    pub(crate) fn leave(&mut self, room: &RoomId, session: SessionId) {
        if let Some(r) = self.rooms.get_mut(room) {
            r.members.retain(|&s| s != session);
            r.speakers.remove(session);
            r.recent.retain(|&s| s != session);
            if r.members.is_empty() {
                self.rooms.remove(room);
            }
        }
    }

    /// Records a track published in `room`.
    pub(crate) fn add_track(&mut self, room: &RoomId, track: TrackId) {
        if let Some(r) = self.rooms.get_mut(room) {
            r.tracks.push(track);
        }
    }

    /// Forgets a track of `room`.
    pub(crate) fn remove_track(&mut self, room: &RoomId, track: TrackId) {
        if let Some(r) = self.rooms.get_mut(room) {
            r.tracks.retain(|&t| t != track);
        }
    }

    /// Sets whether `room` forwards; returns whether that changed it, or `None` if there is
    /// no such room.
    pub(crate) fn set_forwarding(&mut self, room: &RoomId, forwarding: bool) -> Option<bool> {
        let r = self.rooms.get_mut(room)?;
        let changed = r.forwarding != forwarding;
        r.forwarding = forwarding;
        Some(changed)
    }

    pub(crate) fn get(&self, room: &RoomId) -> Option<&Room> {
        self.rooms.get(room)
    }

    /// Every room.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&RoomId, &Room)> {
        self.rooms.iter()
    }
}
