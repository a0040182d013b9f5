//! The sans-IO core: no sockets, no threads, no clock reads.
//!
//! [`Sfu`] is driven by its `handle_*` methods, each handed the time, and emits what the IO
//! layer must do through [`Sfu::poll_output`]. The pure forwarding decisions live in
//! [`forwarder`], [`keyframe`] and [`cache`], and are unit-tested on their own.

pub mod cache;
pub mod demux;
pub mod downtrack;
pub mod error;
mod forward;
pub mod forwarder;
pub mod ids;
mod ingress;
pub mod keyframe;
pub mod media;
pub mod negotiation;
pub mod participant;
pub mod report;
pub mod room;
mod rtcp;
mod session;
mod sfu;
pub mod skips;
pub mod stats;
pub mod throttle;
pub mod track;

pub use forward::{forward_to, rewritten};
pub use sfu::{Event, Output, Sfu, SfuConfig, Transmit};

/// Internal key of a session: cheap to copy, unlike the signaling layer's string id.
pub(crate) type PKey = u64;
