//! The load generator and benchmarks of the media plane.
//!
//! - [`media`]: the synthetic media and its stamps (sender, sequence, send time).
//! - [`peer`]: one WebRTC (or relay-baseline) client; [`engine`]: many of them on a thread.
//! - [`signal`]: joining the server over Socket.IO exactly as the browser client does.
//! - [`janus`]: the same load through a Janus VideoRoom, for comparison.
//! - [`relay`]: the crypto-free UDP relay that gives the baseline.
//! - [`procstat`]: CPU time, memory and open files of the server process.
//! - [`soak`]: a long run with churn that proves the server gives back what members took;
//!   [`plot`] draws it.
//! - [`http`]: one HTTP request, for Janus's API and the SFU's metrics.
//! - [`scenario`] and [`report`]: what runs, and the figures it gives.

pub mod engine;
pub mod http;
pub mod janus;
pub mod media;
pub mod peer;
pub mod plot;
pub mod procstat;
pub mod relay;
pub mod report;
pub mod scenario;
pub mod signal;
pub mod soak;
pub mod target;
