//! Janus VideoRoom as a benchmark target: the same synthetic publishers and subscribers as
//! against the SFU, joined through Janus's HTTP API, so that both servers carry exactly the
//! same load in one run.
//!
//! - [`http`]: one request to the HTTP API, and its errors.
//! - [`api`]: a session, its handles, long-poll events and keepalives.
//! - [`join`]: publishing and subscribing with the generator's peers.
//! - [`config`]: the configuration written for the benchmark.
//! - [`server`]: a Janus process on that configuration.

pub mod api;
pub mod config;
pub mod http;
pub mod join;
pub mod server;
