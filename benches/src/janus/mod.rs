//! Janus VideoRoom as a benchmark target: the same synthetic publishers and subscribers as
//! against the SFU, joined through Janus's HTTP API, so that both servers carry exactly the
//! same load in one run.
//!
//! - [`api`]: the HTTP API (session, handles, long-poll events, keepalives).
//! - [`join`]: publishing and subscribing with the generator's peers.
//! - [`server`]: a Janus process with a configuration written for the benchmark.

pub mod api;
pub mod join;
pub mod server;
