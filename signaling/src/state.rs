//! What every handler shares.

use crate::config::{Config, P2pPolicy};
use crate::limits::RateLimits;
use crate::metrics::Metrics;
use crate::rooms::{Policy, Rooms};
use sfu::SfuHandle;
use socketioxide::SocketIo;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Shared server state; cheap to clone.
#[derive(Clone)]
pub struct AppState(pub Arc<Shared>);

/// The state behind [`AppState`].
pub struct Shared {
    /// The resolved configuration.
    pub config: Config,
    /// Rooms and the mode policy.
    pub rooms: Rooms,
    /// The media plane.
    pub sfu: SfuHandle,
    /// Per-socket rate limits.
    pub limits: RateLimits,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// The Socket.IO handle, set once the app is built (it needs this state first).
    pub io: OnceLock<SocketIo>,
    /// The embedded TURN server, once started (`--turn-listen`).
    pub turn: OnceLock<crate::turn::EmbeddedTurn>,
    /// Which member holds each join token identity (`sub`), so that a second join with the
    /// same one replaces the first.
    pub identities: Mutex<HashMap<String, String>>,
    /// The cluster this node is part of (`--redis`), once connected.
    pub cluster: OnceLock<Arc<crate::cluster::Cluster>>,
    /// How this node's HTTP listener is reached, once it listens.
    pub url: OnceLock<String>,
    /// When this node started (RFC 3339).
    pub started_at: String,
    /// The cluster's message bus, once connected (`--redis`).
    pub bus: OnceLock<Arc<crate::cluster::Bus>>,
    /// Members of this node's rooms whose sockets are on other nodes.
    pub remotes: crate::socket::remotes::Remotes,
    /// This node's sockets whose rooms are on other nodes.
    pub relays: crate::socket::relays::Relays,
}

impl AppState {
    /// State for a server with this configuration and media plane.
    pub fn new(config: Config, sfu: SfuHandle) -> AppState {
        let rooms = Rooms::new(Policy {
            max_room_size: config.max_room_size,
            p2p_allowed: config.p2p == P2pPolicy::Auto,
        });
        let metrics = Metrics::new(config.redis.is_some().then_some(config.node_id.as_str()));
        AppState(Arc::new(Shared {
            config,
            rooms,
            sfu,
            limits: RateLimits::default(),
            metrics,
            io: OnceLock::new(),
            turn: OnceLock::new(),
            identities: Mutex::default(),
            cluster: OnceLock::new(),
            url: OnceLock::new(),
            started_at: crate::admin::views::rfc3339(std::time::SystemTime::now()),
            bus: OnceLock::new(),
            remotes: Default::default(),
            relays: Default::default(),
        }))
    }

    /// Queues `body` for `node`. Without a bus there is no other node to send to.
    pub fn send_to_node(&self, node: &str, body: crate::cluster::Body) {
        match self.bus.get() {
            Some(bus) => bus.send(node, body),
            None => tracing::warn!(%node, "no cluster bus: message to another node dropped"),
        }
    }

    /// The ICE servers handed to `participant` in its join ack: the configured STUN and
    /// TURN servers, and the embedded TURN server, each with credentials of its own.
    pub fn ice_servers(&self, participant: &str, now: std::time::SystemTime) -> serde_json::Value {
        let mut servers = self.config.ice_servers(participant, now);
        if let (Some(turn), Some(list)) = (self.turn.get(), servers.as_array_mut()) {
            list.push(turn.ice_server(participant, now, self.config.turn_ttl));
        }
        servers
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}
