//! Room: the set of sessions that see and hear each other.

use crate::core::PKey;
use crate::core::ids::{RoomId, TrackId};
use std::time::SystemTime;

/// A room holds participants; every participant subscribes to every other one's tracks.
pub struct Room {
    /// The room's name.
    pub id: RoomId,
    /// When the first participant joined.
    pub created_at: SystemTime,
    pub(crate) participants: Vec<PKey>,
    pub(crate) tracks: Vec<TrackId>,
    /// Whether media is forwarded. Off while the members talk peer to peer: their sessions
    /// stay connected, so the move to the SFU needs no new handshake.
    pub(crate) forwarding: bool,
}

impl Room {
    pub(crate) fn new(id: RoomId, created_at: SystemTime) -> Room {
        Room {
            id,
            created_at,
            participants: Vec::new(),
            tracks: Vec::new(),
            forwarding: true,
        }
    }
}
