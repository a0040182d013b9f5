//! The sans-IO core: no sockets, no threads, no clock reads.
//!
//! [`Sfu`] is driven by its `handle_*` methods, each handed the time, and emits what the IO
//! layer must do through [`Sfu::poll_output`]. It is composed of parts that keep their own
//! state: the routes, the sessions ([`session`], the only module that names rtc's peer
//! connection), the rooms, the tracks and their DownTracks, the timers and the outbox. The
//! per-packet decisions are pure and unit-tested on their own: [`forwarder`] (with [`skips`]
//! and [`seq`]), [`codec`] (keyframe detection), [`keyframe`] (request debouncing), [`cache`]
//! (NACK answers) and [`demux`].

pub mod allocator;
mod api;
pub mod cache;
pub mod codec;
pub mod demux;
pub mod downtrack;
pub mod error;
pub mod forwarder;
pub mod ids;
pub mod keyframe;
pub mod layer;
mod outbox;
pub mod report;
pub mod resend;
mod rooms;
mod routes;
pub mod sendpath;
pub mod seq;
pub mod session;
mod sessions;
mod sfu;
pub mod skips;
pub mod speaker;
pub mod stats;
pub mod throttle;
mod timers;
pub mod track;
mod tracks;
mod views;
pub mod vp8;

pub use api::{
    Event, IceCandidate, JoinOptions, Output, Protocol, Remote, SelectedCandidate, Transmit,
};
pub use downtrack::{Negotiated, forward_to};
pub use sfu::{Sfu, SfuConfig};
