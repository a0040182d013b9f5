//! Starting and stopping the whole server: the media plane, HTTP and Socket.IO.

use crate::app::{admin_app, app};
use crate::config::Config;
use crate::listener;
use crate::socket::{emit_room, relay};
use crate::state::AppState;
use serde_json::json;
use sfu::core::Event;
use sfu::{SfuHandle, SfuOptions};
use socketioxide::SocketIo;
use std::net::SocketAddr;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// A running server.
pub struct Server {
    /// Where HTTP and Socket.IO listen.
    pub http_addr: SocketAddr,
    /// Where the loopback-only admin listener is, when there is no admin token.
    pub admin_addr: Option<SocketAddr>,
    /// The media plane.
    pub sfu: SfuHandle,
    /// The shared state.
    pub state: AppState,
    io: SocketIo,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    /// The cluster heartbeat, which leaves the cluster when told to stop.
    heartbeat: Option<tokio::task::JoinHandle<()>>,
    heartbeat_stop: tokio::sync::watch::Sender<bool>,
}

impl Server {
    /// Binds the media socket and the HTTP listener and starts serving.
    pub async fn start(config: Config) -> std::io::Result<Server> {
        let mut opts = SfuOptions::new(config.udp);
        opts.announce_ip = config.announce_ip;
        opts.last_n = config.last_n;
        opts.workers = config.workers;
        opts.ice_tcp = config.ice_tcp;
        let (sfu, events) = SfuHandle::start(opts)?;
        let state = AppState::new(config.clone(), sfu.clone());
        if let Some(listen) = config.turn_listen {
            let turn = crate::turn::EmbeddedTurn::start(crate::turn::TurnOptions {
                listen,
                announce_ip: config.announce_ip,
                // Credentials are minted per join; without a configured secret, a random one
                // lives as long as the process.
                secret: match config.turn_secret.clone() {
                    Some(s) => s,
                    None => random_secret()?,
                },
                relay_ports: config.turn_relay_ports,
                allow_private_peers: config.turn_allow_private_peers,
                sfu_ips: sfu.announce_addrs().iter().map(|a| a.ip()).collect(),
                tls: config.turn_tls.clone(),
            })
            .await?;
            // Set once, here, before anything reads it.
            let _ = state.turn.set(turn);
        }
        let (router, io) = app(state.clone());
        tokio::spawn(relay_sfu_events(events, state.clone()));
        let http = tokio::net::TcpListener::bind(config.http).await?;
        let http_addr = http.local_addr()?;
        let url = config
            .node_url
            .clone()
            .unwrap_or_else(|| format!("http://{http_addr}"));
        // Set once, here, before anything reads it.
        let _ = state.url.set(url);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let (heartbeat_stop, heartbeat_rx) = tokio::sync::watch::channel(false);
        let heartbeat = match &config.redis {
            Some(redis) => {
                let cluster = crate::cluster::Cluster::connect(redis, config.node_id.clone())
                    .await
                    .map_err(|e| std::io::Error::other(format!("cannot join the cluster: {e}")))?;
                let cluster = std::sync::Arc::new(cluster);
                let (inbound_tx, inbound) = tokio::sync::mpsc::unbounded_channel();
                let (unreachable_tx, unreachable) = tokio::sync::mpsc::unbounded_channel();
                let bus = crate::cluster::Bus::start(cluster.clone(), inbound_tx, unreachable_tx)
                    .await
                    .map_err(|e| {
                        std::io::Error::other(format!("cannot join the cluster's bus: {e}"))
                    })?;
                // Set once, here, before anything reads them.
                let _ = state.bus.set(bus);
                let _ = state.cluster.set(cluster.clone());
                tokio::spawn(relay::serve(state.clone(), inbound, unreachable));
                info!(node = %config.node_id, "cluster mode: rooms are placed through Redis");
                Some(tokio::spawn(crate::cluster::heartbeat(
                    state.clone(),
                    cluster,
                    heartbeat_rx,
                )))
            }
            None => None,
        };
        let admin_addr = match &config.admin_token {
            Some(_) => {
                info!(http = %http_addr, "admin API on the HTTP listener; it needs the bearer token");
                None
            }
            None => match tokio::net::TcpListener::bind(config.admin_http).await {
                Ok(admin) => {
                    let addr = admin.local_addr()?;
                    info!(admin = %addr, "no admin token: the admin API answers only on this loopback listener");
                    let router = admin_app(state.clone());
                    let max = config.max_conns_per_ip;
                    tokio::spawn(listener::serve(admin, router, max, stop_rx.clone()));
                    Some(addr)
                }
                // The calls themselves matter more than their admin API: serve them anyway.
                Err(e) => {
                    warn!(admin = %config.admin_http, "admin API not started, cannot listen: {e}");
                    None
                }
            },
        };
        let task = tokio::spawn(listener::serve(
            http,
            router,
            config.max_conns_per_ip,
            stop_rx,
        ));
        let media: Vec<String> = sfu.announce_addrs().iter().map(|a| a.to_string()).collect();
        info!(http = %http_addr, workers = sfu.workers(), media = %media.join(" "), "server started");
        Ok(Server {
            http_addr,
            admin_addr,
            sfu,
            state,
            io,
            stop: stop_tx,
            task,
            heartbeat,
            heartbeat_stop,
        })
    }

    /// The Socket.IO handle.
    pub fn io(&self) -> &SocketIo {
        &self.io
    }

    /// Tells every client the server is going away, disconnects them, and stops.
    pub async fn shutdown(self) {
        // In a cluster, this node leaves it first (its leases released), then the nodes that
        // share members with it move its rooms.
        let _ = self.heartbeat_stop.send(true);
        if let Some(heartbeat) = self.heartbeat {
            let _ = heartbeat.await;
            relay::shutdown(&self.state);
        }
        if let Some(bus) = self.state.bus.get() {
            bus.close();
        }
        let _ = self
            .io
            .emit(
                "server-shutdown",
                &json!({ "reason": "the server is shutting down" }),
            )
            .await;
        let _ = self.io.disconnect().await;
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.sfu.shutdown();
        info!("server stopped");
    }
}

/// 32 random bytes, in hex.
fn random_secret() -> std::io::Result<String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| std::io::Error::other("no random numbers for the TURN secret"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Hands the SFU's offers and transport failures to the right member: the participant's,
/// for the session it has now, and the active speaker to the whole room. What a session
/// replaced since (`sfu-restart`) had in flight is dropped: the client has left that
/// session behind.
async fn relay_sfu_events(mut events: mpsc::UnboundedReceiver<Event>, state: AppState) {
    while let Some(event) = events.recv().await {
        let (participant, session, name, payload) = match event {
            Event::Offer {
                participant,
                session,
                sdp,
            } => (participant, session, "sfu-offer", json!({ "sdp": sdp })),
            Event::TransportFailed {
                participant,
                session,
            } => (participant, session, "sfu-failed", json!({})),
            Event::ActiveSpeaker {
                room,
                speaker,
                ranked,
            } => {
                let ranked: Vec<&str> = ranked.iter().map(|p| p.0.as_str()).collect();
                let payload = json!({ "speaker": speaker.0, "ranked": ranked });
                emit_room(&state, &room.0, None, "active-speaker", &payload);
                continue;
            }
            Event::Connected { .. } | Event::TrackPublished { .. } => continue,
        };
        match crate::socket::endpoint::find(&state, &participant.0) {
            Some(member) if member.session() == Some(session) => {
                member.emit(&state, name, &payload);
            }
            Some(_) => debug!(%participant, event = name, "event of a replaced SFU session"),
            // It left while the event was on its way; leaving closes its session too.
            None => debug!(%participant, event = name, "SFU event for a participant that left"),
        }
    }
}
