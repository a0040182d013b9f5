//! Configuration: an embedded default, then a TOML file, then environment, then flags.

use crate::auth::{AuthMode, JoinVerifier, KeyError};
use clap::{Parser, ValueEnum};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

const DEFAULT_TOML: &str = include_str!("../default.toml");

/// Whether rooms of two talk peer to peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum P2pPolicy {
    /// Two members talk peer to peer; from three on, the SFU.
    Auto,
    /// Every room uses the SFU.
    Off,
}

/// Command-line flags, each with an environment variable.
#[derive(Debug, Parser, Default)]
#[command(
    name = "sfu-server",
    version,
    about = "Group video calls: signaling, web client and SFU in one binary"
)]
pub struct Args {
    /// A subcommand instead of running the server.
    #[command(subcommand)]
    pub command: Option<crate::token_cli::Command>,
    /// A TOML file with any of the settings below.
    #[arg(long, env = "SFU_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address for HTTP, Socket.IO and the web client.
    #[arg(long, env = "SFU_HTTP")]
    pub http: Option<SocketAddr>,
    /// Address of the first media worker's UDP socket; worker i listens on its port + i.
    #[arg(long, env = "SFU_UDP")]
    pub udp: Option<SocketAddr>,
    /// Media workers: threads, each with its own UDP port and its own rooms (default: one
    /// per core).
    #[arg(long, env = "SFU_WORKERS")]
    pub workers: Option<usize>,
    /// Accept ICE over TCP (RFC 6544) on this address, for clients whose networks block UDP;
    /// worker i listens on its port + i. Off by default.
    #[arg(long, env = "SFU_ICE_TCP")]
    pub ice_tcp: Option<SocketAddr>,
    /// IP announced to clients for media (behind NAT, or when --udp binds 0.0.0.0).
    #[arg(long, env = "SFU_ANNOUNCE_IP")]
    pub announce_ip: Option<IpAddr>,
    /// STUN server URL handed to clients (repeatable, or comma-separated).
    #[arg(long, env = "SFU_STUN", value_delimiter = ',')]
    pub stun: Vec<String>,
    /// TURN server URL handed to clients (repeatable, or comma-separated).
    #[arg(long, env = "SFU_TURN", value_delimiter = ',')]
    pub turn: Vec<String>,
    /// TURN username.
    #[arg(long, env = "SFU_TURN_USERNAME")]
    pub turn_username: Option<String>,
    /// TURN credential.
    #[arg(long, env = "SFU_TURN_CREDENTIAL")]
    pub turn_credential: Option<String>,
    /// Secret shared with the TURN server (coturn's `static-auth-secret`): each join then
    /// gets its own short-lived TURN credentials, instead of --turn-username/--turn-credential.
    #[arg(long, env = "SFU_TURN_SECRET")]
    pub turn_secret: Option<String>,
    /// How long the credentials minted with --turn-secret stay valid, in seconds.
    #[arg(long, env = "SFU_TURN_TTL_SECS")]
    pub turn_ttl_secs: Option<u64>,
    /// Run the embedded TURN server on this address, UDP and TCP on the same port.
    #[arg(long, env = "SFU_TURN_LISTEN")]
    pub turn_listen: Option<SocketAddr>,
    /// UDP ports the embedded TURN server relays from, as MIN-MAX.
    #[arg(long, env = "SFU_TURN_RELAY_PORTS")]
    pub turn_relay_ports: Option<String>,
    /// Let the embedded TURN server relay to loopback and private addresses (tests and
    /// closed LANs only: it opens those networks to anyone who can join).
    #[arg(long, env = "SFU_TURN_ALLOW_PRIVATE_PEERS")]
    pub turn_allow_private_peers: bool,
    /// PEM certificate chain for TURN over TLS (`turns:`) on the embedded server.
    #[arg(long, env = "SFU_TURN_TLS_CERT")]
    pub turn_tls_cert: Option<PathBuf>,
    /// PEM private key for TURN over TLS.
    #[arg(long, env = "SFU_TURN_TLS_KEY")]
    pub turn_tls_key: Option<PathBuf>,
    /// Where TURN over TLS listens (default: --turn-listen's IP, port 5349).
    #[arg(long, env = "SFU_TURN_TLS_LISTEN")]
    pub turn_tls_listen: Option<SocketAddr>,
    /// The host name in the `turns:` URL, which the certificate must name (default: the
    /// announced IP).
    #[arg(long, env = "SFU_TURN_TLS_NAME")]
    pub turn_tls_name: Option<String>,
    /// Who may join: `open` (anyone, under any name: development only) or `token` (a join
    /// token signed by your application).
    #[arg(long, env = "SFU_AUTH", value_enum)]
    pub auth: Option<AuthMode>,
    /// Secret that join tokens are signed with (HS256), with --auth token.
    #[arg(long, env = "SFU_JOIN_SECRET")]
    pub join_secret: Option<String>,
    /// Public key (PEM, Ed25519 or RSA) that join tokens are signed for, with --auth token.
    #[arg(long, env = "SFU_JOIN_PUBLIC_KEY")]
    pub join_public_key: Option<PathBuf>,
    /// Bearer token for the admin API (then served on --http instead of --admin-http).
    #[arg(long, env = "SFU_ADMIN_TOKEN")]
    pub admin_token: Option<String>,
    /// Loopback address of the admin API when no token is set.
    #[arg(long, env = "SFU_ADMIN_HTTP")]
    pub admin_http: Option<SocketAddr>,
    /// Most members a room may have.
    #[arg(long, env = "SFU_MAX_ROOM_SIZE")]
    pub max_room_size: Option<usize>,
    /// Peer to peer for rooms of two: auto or off.
    #[arg(long, env = "SFU_P2P", value_enum)]
    pub p2p: Option<P2pPolicy>,
    /// Seconds a room stays at two members before returning to peer to peer.
    #[arg(long, env = "SFU_HOLD_DOWN_SECS")]
    pub hold_down_secs: Option<f64>,
    /// Most HTTP connections (WebSockets included) one client address may hold; 0 for no
    /// cap (behind a reverse proxy, which makes every client one address).
    #[arg(long, env = "SFU_MAX_CONNS_PER_IP")]
    pub max_conns_per_ip: Option<usize>,
    /// Last-N: forward video only from each room's N most recent speakers; 0 for everyone.
    #[arg(long, env = "SFU_LAST_N")]
    pub last_n: Option<usize>,
    /// Cluster mode: the Redis server (`redis://[user:password@]host:port/db`) that this
    /// node shares with the others. Without it the node stands alone.
    #[arg(long, env = "SFU_REDIS")]
    pub redis: Option<String>,
    /// This node's id in the cluster (letters, digits, `-` and `_`); random by default.
    #[arg(long, env = "SFU_NODE_ID")]
    pub node_id: Option<String>,
    /// The URL clients and other nodes use to reach this node's HTTP listener, for the
    /// cluster's node list (default: http://HTTP-ADDRESS).
    #[arg(long, env = "SFU_NODE_URL")]
    pub node_url: Option<String>,
}

/// The settings a file may hold: the same as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    http: Option<SocketAddr>,
    udp: Option<SocketAddr>,
    ice_tcp: Option<SocketAddr>,
    workers: Option<usize>,
    announce_ip: Option<IpAddr>,
    stun: Option<Vec<String>>,
    turn: Option<Vec<String>>,
    turn_username: Option<String>,
    turn_credential: Option<String>,
    turn_secret: Option<String>,
    turn_ttl_secs: Option<u64>,
    turn_listen: Option<SocketAddr>,
    turn_relay_ports: Option<String>,
    turn_allow_private_peers: Option<bool>,
    turn_tls_cert: Option<PathBuf>,
    turn_tls_key: Option<PathBuf>,
    turn_tls_listen: Option<SocketAddr>,
    turn_tls_name: Option<String>,
    auth: Option<AuthMode>,
    join_secret: Option<String>,
    join_public_key: Option<PathBuf>,
    admin_token: Option<String>,
    admin_http: Option<SocketAddr>,
    max_room_size: Option<usize>,
    p2p: Option<P2pPolicy>,
    hold_down_secs: Option<f64>,
    max_conns_per_ip: Option<usize>,
    last_n: Option<usize>,
    redis: Option<String>,
    node_id: Option<String>,
    node_url: Option<String>,
}

/// Most media workers: more threads than any machine has cores only add switching.
pub const MAX_WORKERS: usize = 256;

/// `MIN-MAX`, both ports, MIN at most MAX.
fn parse_port_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-')?;
    let (a, b): (u16, u16) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a >= 1 && a <= b).then_some((a, b))
}

/// A node id no other node is likely to have: 12 hex digits from the system's randomness.
fn random_node_id() -> String {
    let mut bytes = [0u8; 6];
    // The system's randomness does not fail on the platforms this runs on; a node id of
    // zeros would only make a collision likelier.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One media worker per core.
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP listen address.
    pub http: SocketAddr,
    /// The first media worker's UDP address; worker i listens on its port + i.
    pub udp: SocketAddr,
    /// Where the first media worker accepts ICE over TCP, when it does.
    pub ice_tcp: Option<SocketAddr>,
    /// Media workers, each a thread with its own UDP port and its own rooms.
    pub workers: usize,
    /// IP announced for media.
    pub announce_ip: Option<IpAddr>,
    /// STUN URLs for clients.
    pub stun: Vec<String>,
    /// TURN URLs for clients.
    pub turn: Vec<String>,
    /// TURN username.
    pub turn_username: Option<String>,
    /// TURN credential.
    pub turn_credential: Option<String>,
    /// Secret shared with the TURN server, for per-join credentials.
    pub turn_secret: Option<String>,
    /// How long per-join TURN credentials stay valid.
    pub turn_ttl: Duration,
    /// Where the embedded TURN server listens, when it runs.
    pub turn_listen: Option<SocketAddr>,
    /// The UDP ports it relays from.
    pub turn_relay_ports: (u16, u16),
    /// Whether it relays to loopback and private addresses.
    pub turn_allow_private_peers: bool,
    /// TURN over TLS on the embedded server, when a certificate and key are set.
    pub turn_tls: Option<crate::turn_tls::TurnTls>,
    /// Admin API token.
    pub admin_token: Option<String>,
    /// Checks join tokens, with `--auth token`; `None` lets anyone join.
    pub auth: Option<JoinVerifier>,
    /// Where the admin API listens when there is no token; always a loopback address.
    pub admin_http: SocketAddr,
    /// Most members per room.
    pub max_room_size: usize,
    /// P2P for rooms of two.
    pub p2p: P2pPolicy,
    /// Hold-down before a room of two returns to P2P.
    pub hold_down: Duration,
    /// Most HTTP connections per client address; 0 for no cap.
    pub max_conns_per_ip: usize,
    /// Last-N: video from each room's N most recent speakers only; 0 for everyone's.
    pub last_n: usize,
    /// Cluster mode: the Redis URL shared with the other nodes.
    pub redis: Option<String>,
    /// This node's id in the cluster.
    pub node_id: String,
    /// How clients and other nodes reach this node over HTTP, when set.
    pub node_url: Option<String>,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for these settings.
    #[error("invalid configuration in {what}: {message}")]
    Invalid {
        /// Which source.
        what: String,
        /// What is wrong.
        message: String,
    },
}

fn parse_file(text: &str, what: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Invalid {
        what: what.to_owned(),
        message: e.to_string(),
    })
}

impl Config {
    /// The embedded defaults, with the file named by `args.config` and then `args` on top.
    pub fn load(args: Args) -> Result<Config, ConfigError> {
        let base = parse_file(DEFAULT_TOML, "the embedded defaults")?;
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                parse_file(&text, &path.display().to_string())?
            }
            None => FileConfig::default(),
        };
        let pick_vec = |flag: Vec<String>, file: Option<Vec<String>>, base: Option<Vec<String>>| {
            if flag.is_empty() {
                file.or(base).unwrap_or_default()
            } else {
                flag
            }
        };
        let invalid = |message: &str| ConfigError::Invalid {
            what: "the settings".into(),
            message: message.into(),
        };
        let turn_listen = args.turn_listen.or(file.turn_listen).or(base.turn_listen);
        let config = Config {
            http: args
                .http
                .or(file.http)
                .or(base.http)
                .ok_or_else(|| invalid("http is required"))?,
            udp: args
                .udp
                .or(file.udp)
                .or(base.udp)
                .ok_or_else(|| invalid("udp is required"))?,
            ice_tcp: args.ice_tcp.or(file.ice_tcp).or(base.ice_tcp),
            workers: args
                .workers
                .or(file.workers)
                .or(base.workers)
                .unwrap_or_else(default_workers),
            announce_ip: args.announce_ip.or(file.announce_ip).or(base.announce_ip),
            stun: pick_vec(args.stun, file.stun, base.stun),
            turn: pick_vec(args.turn, file.turn, base.turn),
            turn_username: args
                .turn_username
                .or(file.turn_username)
                .or(base.turn_username),
            turn_credential: args
                .turn_credential
                .or(file.turn_credential)
                .or(base.turn_credential),
            turn_secret: args.turn_secret.or(file.turn_secret).or(base.turn_secret),
            turn_ttl: Duration::from_secs(
                args.turn_ttl_secs
                    .or(file.turn_ttl_secs)
                    .or(base.turn_ttl_secs)
                    .unwrap_or(86_400),
            ),
            turn_listen,
            turn_relay_ports: parse_port_range(
                args.turn_relay_ports
                    .or(file.turn_relay_ports)
                    .or(base.turn_relay_ports)
                    .as_deref()
                    .unwrap_or("49152-65535"),
            )
            .ok_or_else(|| invalid("turn_relay_ports must be MIN-MAX, with MIN <= MAX"))?,
            turn_allow_private_peers: args.turn_allow_private_peers
                || file.turn_allow_private_peers.unwrap_or(false),
            turn_tls: {
                let cert = args.turn_tls_cert.or(file.turn_tls_cert);
                let key = args.turn_tls_key.or(file.turn_tls_key);
                let listen = args.turn_tls_listen.or(file.turn_tls_listen);
                let name = args.turn_tls_name.or(file.turn_tls_name);
                match (cert, key) {
                    (Some(cert), Some(key)) => {
                        let Some(turn) = turn_listen else {
                            return Err(invalid(
                                "turn_tls_cert needs turn_listen: TLS is a listener of the embedded TURN server",
                            ));
                        };
                        Some(crate::turn_tls::TurnTls {
                            listen: listen.unwrap_or(SocketAddr::new(turn.ip(), 5349)),
                            cert,
                            key,
                            name,
                        })
                    }
                    (None, None) if listen.is_none() && name.is_none() => None,
                    _ => {
                        return Err(invalid(
                            "TURN over TLS needs both turn_tls_cert and turn_tls_key",
                        ));
                    }
                }
            },
            auth: match args.auth.or(file.auth).or(base.auth).unwrap_or_default() {
                AuthMode::Open => None,
                AuthMode::Token => {
                    let secret = args.join_secret.or(file.join_secret).or(base.join_secret);
                    let key = args
                        .join_public_key
                        .or(file.join_public_key)
                        .or(base.join_public_key);
                    Some(match (secret, key) {
                        (Some(_), Some(_)) => {
                            return Err(invalid(
                                "join_secret and join_public_key: give one, not both",
                            ));
                        }
                        (Some(secret), None) if secret.len() >= 16 => {
                            JoinVerifier::hs256(secret.as_bytes())
                        }
                        (Some(_), None) => {
                            return Err(invalid("join_secret must be at least 16 bytes"));
                        }
                        (None, Some(path)) => {
                            let pem = std::fs::read(&path).map_err(|source| ConfigError::Read {
                                path: path.clone(),
                                source,
                            })?;
                            JoinVerifier::public_key(&pem)
                                .map_err(|e| invalid(&format!("{}: {e}", path.display())))?
                        }
                        (None, None) => return Err(invalid(&KeyError::Missing.to_string())),
                    })
                }
            },
            admin_token: args
                .admin_token
                .or(file.admin_token)
                .or(base.admin_token)
                .filter(|t| !t.is_empty()),
            admin_http: args
                .admin_http
                .or(file.admin_http)
                .or(base.admin_http)
                .ok_or_else(|| invalid("admin_http is required"))?,
            max_room_size: args
                .max_room_size
                .or(file.max_room_size)
                .or(base.max_room_size)
                .unwrap_or(16),
            p2p: args
                .p2p
                .or(file.p2p)
                .or(base.p2p)
                .unwrap_or(P2pPolicy::Auto),
            hold_down: Duration::from_secs_f64(
                args.hold_down_secs
                    .or(file.hold_down_secs)
                    .or(base.hold_down_secs)
                    .unwrap_or(10.0)
                    .clamp(0.0, 3600.0),
            ),
            max_conns_per_ip: args
                .max_conns_per_ip
                .or(file.max_conns_per_ip)
                .or(base.max_conns_per_ip)
                .unwrap_or(256),
            last_n: args.last_n.or(file.last_n).or(base.last_n).unwrap_or(0),
            redis: args.redis.or(file.redis).or(base.redis),
            node_id: match args.node_id.or(file.node_id).or(base.node_id) {
                Some(id) => id,
                None => random_node_id(),
            },
            node_url: args.node_url.or(file.node_url).or(base.node_url),
        };
        if !crate::cluster::valid_node_id(&config.node_id) {
            return Err(invalid(
                "node_id must be 1 to 64 letters, digits, '-' or '_'",
            ));
        }
        if config.admin_token.is_none() && !config.admin_http.ip().is_loopback() {
            return Err(invalid(
                "admin_http must be a loopback address unless admin_token is set",
            ));
        }
        if config.turn_secret.is_some()
            && (config.turn_username.is_some() || config.turn_credential.is_some())
        {
            return Err(invalid(
                "turn_secret mints credentials per join: drop turn_username and turn_credential",
            ));
        }
        if !(1..=MAX_WORKERS).contains(&config.workers) {
            return Err(invalid(&format!("workers must be from 1 to {MAX_WORKERS}")));
        }
        if config.max_room_size < 1 {
            return Err(invalid("max_room_size must be at least 1"));
        }
        Ok(config)
    }

    /// The configuration tests use: ephemeral loopback ports, short hold-down.
    pub fn for_tests() -> Config {
        let mut c = Config::load(Args::default()).expect("the embedded defaults parse");
        c.http = SocketAddr::from(([127, 0, 0, 1], 0));
        c.udp = SocketAddr::from(([127, 0, 0, 1], 0));
        c.admin_http = SocketAddr::from(([127, 0, 0, 1], 0));
        c.hold_down = Duration::from_secs(1);
        c
    }

    /// The ICE servers handed to `participant` at `now`, in `RTCConfiguration.iceServers`
    /// form. With a TURN secret, the TURN credentials are minted for this participant.
    pub fn ice_servers(&self, participant: &str, now: SystemTime) -> serde_json::Value {
        let mut servers = Vec::new();
        if !self.stun.is_empty() {
            servers.push(serde_json::json!({ "urls": self.stun }));
        }
        if !self.turn.is_empty() {
            let (username, credential) = match &self.turn_secret {
                Some(secret) => {
                    let c = crate::turn_rest::mint(secret, participant, now, self.turn_ttl);
                    (Some(c.username), Some(c.credential))
                }
                None => (self.turn_username.clone(), self.turn_credential.clone()),
            };
            servers.push(serde_json::json!({
                "urls": self.turn,
                "username": username,
                "credential": credential,
            }));
        }
        serde_json::Value::Array(servers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults() {
        let c = Config::load(Args::default()).unwrap();
        assert_eq!(c.http.to_string(), "127.0.0.1:8080");
        assert_eq!(c.max_room_size, 16);
        assert_eq!(c.p2p, P2pPolicy::Auto);
        assert_eq!(c.hold_down, Duration::from_secs(10));
        assert_eq!(c.max_conns_per_ip, 256);
        assert_eq!(c.last_n, 0);
        assert_eq!(
            c.ice_servers("p", SystemTime::UNIX_EPOCH),
            serde_json::json!([])
        );
        assert_eq!(c.workers, default_workers(), "one media worker per core");
    }

    #[test]
    fn a_turn_secret_mints_credentials_per_participant() {
        let mut c = Config::load(Args {
            turn: vec!["turn:t:3478".into()],
            turn_secret: Some("s3cret".into()),
            turn_ttl_secs: Some(3600),
            ..Args::default()
        })
        .unwrap();
        c.stun = vec![];
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_699_996_400);
        assert_eq!(
            c.ice_servers("alice", now),
            serde_json::json!([{"urls": ["turn:t:3478"], "username": "1700000000:alice",
                "credential": "TtElzSjT0GdnTQ9xdcRNxx96yQs="}])
        );
        let bob = c.ice_servers("bob", now);
        assert_eq!(bob[0]["username"], "1700000000:bob");
        // A static password beside the secret is a mistake, not a choice.
        let both = Config::load(Args {
            turn_secret: Some("s".into()),
            turn_credential: Some("p".into()),
            ..Args::default()
        });
        assert!(both.unwrap_err().to_string().contains("turn_secret"));
    }

    #[test]
    fn relay_port_ranges() {
        assert_eq!(parse_port_range("49152-65535"), Some((49152, 65535)));
        assert_eq!(parse_port_range(" 5 - 5 "), Some((5, 5)));
        for bad in ["9-1", "0-10", "1-70000", "5", "a-b"] {
            assert_eq!(parse_port_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn workers_from_one_to_the_cap() {
        let with = |n: usize| {
            Config::load(Args {
                workers: Some(n),
                ..Args::default()
            })
        };
        assert_eq!(with(3).unwrap().workers, 3);
        for bad in [0, MAX_WORKERS + 1] {
            let e = with(bad).unwrap_err().to_string();
            assert!(e.contains("workers must be from 1 to 256"), "{e}");
        }
    }

    #[test]
    fn file_then_flags_override() {
        let dir = std::env::temp_dir().join(format!("sfu-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "max_room_size = 4\np2p = \"off\"\nstun = [\"stun:a:3478\"]\nlast_n = 3\n",
        )
        .unwrap();
        let args = Args::parse_from([
            "sfu-server",
            "--config",
            path.to_str().unwrap(),
            "--max-room-size",
            "6",
            "--turn",
            "turn:t:3478",
            "--turn-username",
            "u",
            "--turn-credential",
            "p",
        ]);
        let c = Config::load(args).unwrap();
        assert_eq!(c.max_room_size, 6);
        assert_eq!(c.p2p, P2pPolicy::Off);
        assert_eq!(c.last_n, 3);
        assert_eq!(
            c.ice_servers("p", SystemTime::UNIX_EPOCH),
            serde_json::json!([{"urls": ["stun:a:3478"]}, {"urls": ["turn:t:3478"], "username": "u", "credential": "p"}])
        );
    }

    #[test]
    fn admin_api_without_a_token_stays_on_loopback() {
        let open = Args::parse_from(["sfu-server", "--admin-http", "0.0.0.0:8081"]);
        assert!(Config::load(open).is_err());
        let guarded = Args::parse_from([
            "sfu-server",
            "--admin-http",
            "0.0.0.0:8081",
            "--admin-token",
            "t",
        ]);
        assert!(Config::load(guarded).is_ok());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(parse_file("nonsense = 1", "x").is_err());
    }
}
