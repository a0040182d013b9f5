//! The media plane of the server: a selective forwarding unit.
//!
//! Each media worker's UDP socket serves every session of the rooms placed on it. Each participant's browser runs full ICE against the
//! SFU's ICE-lite agent, then DTLS-SRTP; the SFU decrypts what each publisher sends and
//! forwards it to every other member of the room, re-encrypted per subscriber.
//!
//! # Architecture
//!
//! - [`core`] is sans-IO and synchronous. [`core::Sfu`] is driven by `handle_*` methods,
//!   each handed the current time, and tells the IO layer what to do through `poll_output`:
//!   datagrams to send, events for signaling, and when to wake up. It is composed of parts
//!   that keep their own state: routes (ICE username fragment, remote address and participant
//!   to session), sessions ([`core::session`], the only module that names rtc's peer
//!   connection), rooms, tracks with their DownTracks, a deadline heap of timers, and an
//!   outbox. Each `handle_*` call feeds one part and then drains, in a plain loop, every
//!   session it made dirty.
//! - The per-packet decisions (forward or drop, the SSRC/sequence/timestamp rewrite,
//!   keyframe-request debouncing, the NACK cache) are pure functions and types in
//!   [`core::forwarder`], [`core::codec`], [`core::keyframe`] and [`core::cache`].
//! - [`io`] is the thin driver: media workers, each a thread that owns one socket and one
//!   `Sfu`, and [`SfuHandle`], the channel-based API the signaling layer uses, which speaks
//!   this crate's own types. A room lives on one worker; the handle places new rooms on the
//!   least loaded worker and routes every command to its room's.
//! - `testkit` (feature `testkit`) holds test peers built on the same `rtc` crates.
//!
//! Packets are routed to sessions in O(1): STUN by the server's ICE username fragment,
//! everything else by the remote address that a verified STUN check bound; a packet reaches
//! its DownTracks through indices, not lookups.
//!
//! One payload buffer (`bytes::Bytes`) is shared by every subscriber's copy of a packet; only
//! the header is rebuilt per subscriber.

#![deny(missing_docs)]

pub mod core;
pub mod io;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use crate::core::codec::Kind;
pub use crate::core::error::SfuError;
pub use crate::core::ids::{ParticipantId, RoomId, SessionId, TrackId};
pub use crate::core::report::{
    LayerStats, ParticipantStats, PublishedStats, RoomStats, SfuStats, SfuSummary, SubscribedStats,
    TableSizes, WorkerStats,
};
pub use crate::core::sendpath::FeedbackCounters;
pub use crate::core::session::TransportState;
pub use crate::core::stats::{DownTrackCounters, IngressCounters, Tally, TrackCounters};
pub use crate::core::{Event, IceCandidate, JoinOptions, Protocol, SelectedCandidate};
pub use crate::io::handle::{SfuHandle, SfuOptions};
