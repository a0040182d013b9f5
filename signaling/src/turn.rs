//! The embedded TURN server (`--turn-listen`), for clients whose network lets nothing else
//! through, and for P2P calls between peers that cannot reach each other directly.
//!
//! It is medea-turn (Medea's maintained fork of webrtc-rs's `turn` server), vendored with a
//! peer filter. UDP and TCP share one port. Credentials are the TURN REST ones
//! ([`crate::turn_rest`]) that each join mints, checked here against the same secret: the
//! username carries its expiry, and the password is its HMAC. The relay reaches only public
//! addresses and the SFU's own, never loopback or private ranges (unless told to, for tests
//! and closed LANs): an open relay would let anyone with a join reach the server's networks.

use crate::turn_tls::TurnTls;
use medea_turn::transport::{TcpServer, Transport};
use medea_turn::{AuthHandler, Error as TurnError, ServerConfig, TurnConfig, relay::Allocator};
use secrecy::SecretString;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::{debug, info};

/// How to run the embedded TURN server.
#[derive(Debug, Clone)]
pub struct TurnOptions {
    /// Where UDP and TCP listen.
    pub listen: SocketAddr,
    /// The IP clients reach it at, when it differs from `listen`'s.
    pub announce_ip: Option<IpAddr>,
    /// The shared secret that join credentials are minted with.
    pub secret: String,
    /// The UDP ports relays are allocated from.
    pub relay_ports: (u16, u16),
    /// Relay to loopback and private addresses too (tests, closed LANs).
    pub allow_private_peers: bool,
    /// The SFU's own addresses, always allowed as peers.
    pub sfu_ips: Vec<IpAddr>,
    /// TURN over TLS too, when set.
    pub tls: Option<TurnTls>,
}

/// A running embedded TURN server.
pub struct EmbeddedTurn {
    server: medea_turn::Server,
    /// The address clients are told to use.
    pub addr: SocketAddr,
    /// The `turns:` host and port, with TLS.
    pub tls: Option<(String, u16)>,
    secret: String,
}

/// What the TURN server relays now.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, utoipa::ToSchema)]
pub struct TurnUsage {
    /// Live allocations.
    pub allocations: usize,
    /// Bytes relayed through the live allocations.
    pub relayed_bytes: u64,
}

/// Binds a UDP socket and a TCP listener on one port. With port 0, the UDP socket's
/// ephemeral port may already be taken for TCP (by a client connection's local port), so
/// another is tried a few times before giving up.
async fn bind_pair(
    listen: SocketAddr,
) -> std::io::Result<(tokio::net::UdpSocket, tokio::net::TcpListener)> {
    const TRIES: usize = 16;
    let mut last = None;
    for _ in 0..TRIES {
        let udp = tokio::net::UdpSocket::bind(listen).await?;
        match tokio::net::TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if listen.port() == 0 && e.kind() == std::io::ErrorKind::AddrInUse => {
                last = Some(e)
            }
            Err(e) => return Err(e),
        }
    }
    // The loop ran at least once and only continues after setting `last`.
    Err(last.expect("TRIES > 0"))
}

impl EmbeddedTurn {
    /// Binds UDP and TCP on `opts.listen` (one port: the UDP socket's, when it is 0) and
    /// starts serving.
    pub async fn start(opts: TurnOptions) -> std::io::Result<EmbeddedTurn> {
        let (udp, tcp) = bind_pair(opts.listen).await?;
        let local = udp.local_addr()?;
        let announce_ip = sfu::io::announced_ip(local, opts.announce_ip, "the TURN server")?;
        let tcp = TcpServer::new(tcp).map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut connections: Vec<Arc<dyn Transport + Send + Sync>> =
            vec![Arc::new(udp), Arc::new(tcp)];
        let mut tls = None;
        if let Some(t) = &opts.tls {
            let acceptor = crate::turn_tls::acceptor(&t.cert, &t.key)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            let listener = tokio::net::TcpListener::bind(t.listen).await?;
            let port = listener.local_addr()?.port();
            let server =
                TcpServer::with_upgrade(listener, Some(crate::turn_tls::upgrade(acceptor)))
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
            connections.push(Arc::new(server));
            let host = t.name.clone().unwrap_or_else(|| url_host(announce_ip));
            info!(listen = %t.listen, url_host = %host, port, "TURN over TLS started");
            tls = Some((host, port));
        }
        let auth = PeerPolicy {
            secret: opts.secret.clone(),
            allow_private: opts.allow_private_peers,
            sfu_ips: opts.sfu_ips.clone(),
        };
        let server = medea_turn::Server::new(ServerConfig {
            connections,
            turn: Some(TurnConfig {
                relay_addr_generator: Allocator {
                    relay_address: announce_ip,
                    min_port: opts.relay_ports.0,
                    max_port: opts.relay_ports.1,
                    max_retries: 10,
                    address: local.ip().to_string(),
                },
                realm: "sfu-server".into(),
                auth_handler: Arc::new(auth),
                // Zero: the RFC's default (10 minutes).
                channel_bind_lifetime: Duration::ZERO,
                alloc_close_notify: None,
            }),
        });
        let addr = SocketAddr::new(announce_ip, local.port());
        info!(%local, announce = %addr, relay_ports = ?opts.relay_ports, private_peers = opts.allow_private_peers, "embedded TURN server started (UDP and TCP)");
        Ok(EmbeddedTurn {
            server,
            addr,
            tls,
            secret: opts.secret,
        })
    }

    /// The URLs clients use: UDP, TCP, then TLS when it is on.
    pub fn urls(&self) -> Vec<String> {
        let host = url_host(self.addr.ip());
        let mut urls: Vec<String> = ["udp", "tcp"]
            .iter()
            .map(|t| format!("turn:{host}:{}?transport={t}", self.addr.port()))
            .collect();
        if let Some((name, port)) = &self.tls {
            urls.push(format!("turns:{name}:{port}?transport=tcp"));
        }
        urls
    }

    /// The `iceServers` entry for `participant` at `now`, valid for `ttl`.
    pub fn ice_server(
        &self,
        participant: &str,
        now: SystemTime,
        ttl: Duration,
    ) -> serde_json::Value {
        let c = crate::turn_rest::mint(&self.secret, participant, now, ttl);
        serde_json::json!({ "urls": self.urls(), "username": c.username, "credential": c.credential })
    }

    /// Live allocations and the bytes they relayed.
    pub async fn usage(&self) -> TurnUsage {
        match self.server.get_allocations_info(None).await {
            Ok(infos) => TurnUsage {
                allocations: infos.len(),
                relayed_bytes: infos.values().map(|i| i.relayed_bytes as u64).sum(),
            },
            Err(e) => {
                debug!("TURN server gave no allocation info: {e}");
                TurnUsage::default()
            }
        }
    }
}

/// An IP as the host part of a URL.
fn url_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    }
}

/// Who may authenticate, and which peers they may relay to.
struct PeerPolicy {
    secret: String,
    allow_private: bool,
    sfu_ips: Vec<IpAddr>,
}

impl AuthHandler for PeerPolicy {
    fn auth_handle(
        &self,
        username: &str,
        _realm: &str,
        src_addr: SocketAddr,
    ) -> Result<SecretString, TurnError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match crate::turn_rest::password_if_valid(&self.secret, username, now) {
            Some(password) => Ok(SecretString::from(password)),
            None => {
                debug!(%src_addr, username, "TURN credentials refused: malformed or expired");
                Err(TurnError::NoSuchUser)
            }
        }
    }

    fn peer_allowed(&self, peer: IpAddr) -> bool {
        let ok = self.allow_private || self.sfu_ips.contains(&peer) || is_public(peer);
        if !ok {
            debug!(%peer, "TURN relay to a non-public peer refused");
        }
        ok
    }
}

/// Whether `ip` is an address of the public internet: not loopback, private, link-local,
/// shared (carrier-grade NAT), unspecified, multicast or broadcast.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_peers_by_default() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "203.0.114.1", "100.128.0.1", "2001:4860::8888"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        let sfu: IpAddr = "10.0.0.5".parse().unwrap();
        let policy = PeerPolicy {
            secret: "s".into(),
            allow_private: false,
            sfu_ips: vec![sfu],
        };
        assert!(policy.peer_allowed(sfu), "the SFU's own address");
        assert!(!policy.peer_allowed("10.0.0.6".parse().unwrap()));
        let open = PeerPolicy {
            allow_private: true,
            ..policy
        };
        assert!(open.peer_allowed("127.0.0.1".parse().unwrap()));
    }
}
