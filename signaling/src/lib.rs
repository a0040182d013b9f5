//! The server crate: Socket.IO signaling, the web client, the SFU, in one process.
//!
//! - [`config`]: an embedded default configuration, a TOML file, environment, flags.
//! - [`app::app`]: the axum router with the Socket.IO layer.
//! - [`socket`]: one handler per Socket.IO event.
//! - [`rooms`]: membership, chat history and the P2P/SFU mode policy, without IO.
//! - [`admin`]: the admin HTTP API; [`metrics`]: Prometheus metrics.
//! - [`server::Server`]: starts and stops it all; [`listener`]: HTTP with slow-client limits.
//! - `sio_client` (feature `sio-client`): a minimal Socket.IO client, for tests and the
//!   load generator.

#![deny(missing_docs)]

pub mod admin;
mod alloc;
pub mod app;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod limits;
pub mod listener;
pub mod messages;
pub mod metrics;
pub mod rooms;
pub mod server;
#[cfg(feature = "sio-client")]
pub mod sio_client;
pub mod socket;
pub mod state;
pub mod switch_time;
pub mod token_cli;
pub mod turn;
pub mod turn_rest;
pub mod turn_tls;

pub use config::Config;
pub use server::Server;
