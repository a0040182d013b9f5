//! Cluster mode (`--redis URL`): several nodes share one Redis. Each node registers itself,
//! its addresses and its load under a key that expires unless refreshed, so that a dead node
//! disappears on its own; each room is placed on one node, its home, recorded with an atomic
//! set-if-absent and a lease that the home renews. Redis holds no media and nothing the
//! media depends on: a Redis outage stops placement and the cluster views, never a call.
//!
//! What another node wrote is input like any other: it is parsed, bounded and checked
//! before it is used.

mod bus;
mod heartbeat;
mod store;

pub use bus::{AdminAction, Body, Bus, BusError, Envelope, Inbound, REQUEST_TIMEOUT};
pub use heartbeat::{run as heartbeat, this_node};
pub use store::{Cluster, ClusterError, Placement};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How often a node refreshes its registration, its rooms' leases and its room list.
pub const REFRESH: std::time::Duration = std::time::Duration::from_secs(1);
/// How long a registration or a lease outlives its last refresh: a node that stops is gone
/// from the cluster, and its rooms free for another, this long after.
pub const EXPIRY: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether `id` may name a node: 1 to 64 letters, digits, `-` or `_` (it is part of Redis
/// keys and of what the admin API shows).
pub fn valid_node_id(id: &str) -> bool {
    crate::messages::valid_room_name(id)
}

/// A node as the cluster sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct NodeView {
    /// Its id (`--node-id`).
    pub id: String,
    /// Where its HTTP listener is reached (`--node-url`, else its listen address).
    pub url: String,
    /// The media addresses it announces, one per media worker.
    pub media: Vec<String>,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// What it carries now.
    pub load: NodeLoad,
}

/// A node's load, by which new rooms are placed.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct NodeLoad {
    /// Rooms it is home to.
    pub rooms: usize,
    /// Members of those rooms.
    pub participants: usize,
    /// Subscriptions its SFU forwards.
    pub down_tracks: usize,
    /// CPU its media workers used over the last second, in cores (0 from a node that does
    /// not say).
    #[serde(default)]
    pub cpu_cores: f64,
}
