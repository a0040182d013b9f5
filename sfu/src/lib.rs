//! The media plane of the server: a selective forwarding unit.
//!
//! One UDP socket serves every session. Each participant's browser runs full ICE against the
//! SFU's ICE-lite agent, then DTLS-SRTP; the SFU decrypts what each publisher sends and
//! forwards it to every other member of the room, re-encrypted per subscriber.
//!
//! # Architecture
//!
//! - [`core`] is sans-IO and synchronous. [`core::Sfu`] holds rooms, participants, published
//!   [`core::track::Track`]s and subscribed [`core::downtrack::DownTrack`]s. It is driven by
//!   `handle_*` methods, each handed the current time, and tells the IO layer what to do
//!   through `poll_output`: datagrams to send, events for signaling, and when to wake up.
//!   The per-packet decisions (forward or drop, the SSRC/sequence/timestamp rewrite,
//!   keyframe-request debouncing, the NACK cache) are pure functions and types in
//!   [`core::forwarder`], [`core::keyframe`] and [`core::cache`].
//! - [`io`] is the thin driver: a media thread that owns the socket and one `Sfu`, and
//!   [`SfuHandle`], the channel-based API the signaling layer uses.
//!
//! Packets are routed to sessions in O(1): STUN by the server's ICE username fragment,
//! everything else by the remote address that a verified STUN check bound.
//!
//! One payload buffer (`bytes::Bytes`) is shared by every subscriber's copy of a packet; only
//! the header is rebuilt per subscriber.

#![deny(missing_docs)]

pub mod core;
pub mod io;
pub mod testkit;

pub use crate::core::error::SfuError;
pub use crate::core::ids::{ParticipantId, RoomId, SessionId, TrackId};
pub use crate::io::handle::{SfuHandle, SfuOptions};
