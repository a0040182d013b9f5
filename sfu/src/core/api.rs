//! What the core and the layers around it exchange: datagrams to send, events for signaling,
//! wake-up times, and candidates from clients. A leaf: it depends on nothing above it.

use crate::core::codec::Kind;
use crate::core::ids::{ParticipantId, RoomId, SessionId};
use bytes::BytesMut;
use std::net::SocketAddr;
use std::time::Instant;

/// What a datagram travels on: the worker's UDP socket, or an ICE-TCP connection
/// (RFC 6544), where each datagram is one RFC 4571 frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// The media socket.
    #[default]
    Udp,
    /// A TCP connection the client opened to the worker's ICE-TCP port.
    Tcp,
}

/// A remote transport address: where a datagram came from, or goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Remote {
    /// UDP or TCP.
    pub protocol: Protocol,
    /// The client's address (for TCP, the connection's remote end).
    pub addr: SocketAddr,
}

impl Remote {
    /// A UDP address.
    pub fn udp(addr: SocketAddr) -> Remote {
        Remote {
            protocol: Protocol::Udp,
            addr,
        }
    }
}

impl std::fmt::Display for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.protocol {
            Protocol::Udp => write!(f, "udp/{}", self.addr),
            Protocol::Tcp => write!(f, "tcp/{}", self.addr),
        }
    }
}

/// The remote side of a participant's selected ICE candidate pair: how its media reaches
/// the SFU.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SelectedCandidate {
    /// UDP, or ICE over TCP.
    pub protocol: Protocol,
    /// The client's candidate type: `host`, `srflx` or `relay` for a candidate it sent
    /// (`sfu-candidate`), `prflx` for one learnt from its checks alone (an ICE-TCP
    /// connection's, whose port the client cannot know in advance, always is).
    pub candidate_type: String,
    /// The address the SFU sends its media to.
    pub address: String,
}

/// What a participant may do in the SFU, from its join token's grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinOptions {
    /// It receives the others' tracks.
    pub receive: bool,
    /// Its audio tracks are published (else they are not forwarded).
    pub publish_audio: bool,
    /// Its video tracks are published (else they are not forwarded).
    pub publish_video: bool,
}

impl Default for JoinOptions {
    /// Everything.
    fn default() -> JoinOptions {
        JoinOptions {
            receive: true,
            publish_audio: true,
            publish_video: true,
        }
    }
}

/// A datagram to send.
#[derive(Debug)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddr,
    /// On the media socket, or on the ICE-TCP connection from `to`.
    pub protocol: Protocol,
    /// The encrypted packet.
    pub data: BytesMut,
}

/// A remote ICE candidate, as a client sends it (`RTCIceCandidateInit`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IceCandidate {
    /// The candidate line; empty for end-of-candidates.
    pub candidate: String,
    /// The media section's mid.
    pub sdp_mid: Option<String>,
    /// The media section's index.
    pub sdp_mline_index: Option<u16>,
}

/// Something the signaling layer must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Send this offer to the participant; its answer comes back through `handle_answer`.
    Offer {
        /// Who the offer is for.
        participant: ParticipantId,
        /// Of which of its sessions: drop it if that one has been replaced since.
        session: SessionId,
        /// The SDP.
        sdp: String,
    },
    /// The participant's ICE and DTLS are up.
    Connected {
        /// Whose transport.
        participant: ParticipantId,
        /// Which of its sessions.
        session: SessionId,
    },
    /// The participant's transport failed: it can no longer send or receive media.
    TransportFailed {
        /// Whose transport.
        participant: ParticipantId,
        /// Which of its sessions.
        session: SessionId,
    },
    /// A participant started publishing a track.
    TrackPublished {
        /// The publisher.
        participant: ParticipantId,
        /// The new track.
        track: crate::core::ids::TrackId,
        /// Audio or video.
        kind: Kind,
    },
    /// Who is speaking in a room changed: the dominant speaker, or the ranking. At most
    /// once per [`crate::core::speaker::DECISION_INTERVAL`] per room.
    ActiveSpeaker {
        /// The room.
        room: RoomId,
        /// Who has the floor.
        speaker: ParticipantId,
        /// Everyone heard lately, the speaker first, then by how much they spoke.
        ranked: Vec<ParticipantId>,
    },
}

/// What [`Sfu::poll_output`] asks the IO layer to do next.
#[derive(Debug)]
pub enum Output {
    /// Send a datagram.
    Transmit(Transmit),
    /// Deliver an event to the signaling layer.
    Event(Event),
    /// Nothing more to do now: call `handle_timeout` at this instant, or on the next input.
    Timeout(Instant),
}
