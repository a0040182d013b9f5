//! The server under load, as a process of its own so that its CPU time and memory can be
//! read from `/proc`: the SFU (`signaling::Server`, exactly what `sfu-server` runs), the
//! relay baseline, or Janus. The load generator starts the first two by running itself with
//! a hidden subcommand.

use crate::janus::config::JanusSetup;
use crate::janus::http::Endpoint;
use crate::janus::server::JanusProcess;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// What the load goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// This project's SFU: ICE, DTLS-SRTP, RTP forwarding.
    Sfu,
    /// The crypto-free UDP relay baseline.
    Relay,
    /// Janus's VideoRoom plugin, through its HTTP API.
    Janus,
}

/// What a [`ServerProcess`] owns.
enum Owned {
    /// A `serve-*` child of this executable.
    Child(Child),
    /// A Janus started for the run.
    Janus(JanusProcess),
    /// Nothing: the server was already running.
    External,
}

/// A running server process; killed when dropped, unless it was running before.
pub struct ServerProcess {
    owned: Owned,
    /// Its process id, for `/proc`.
    pub pid: u32,
    /// SFU and Janus: its HTTP address; relay: its UDP address.
    pub addr: SocketAddr,
    /// Janus: its API's base path.
    pub path: String,
    /// Further nodes of the same cluster (`--server URL1,URL2`), with their process ids:
    /// rooms are spread over all the nodes, and the CPU and memory are their sums.
    pub more: Vec<(SocketAddr, u32)>,
}

impl ServerProcess {
    /// Starts `target` on loopback by running this executable with `serve-sfu` (with
    /// `workers` media workers) or `serve-relay`, and waits for the address it prints.
    pub fn start(target: Target, workers: usize) -> std::io::Result<ServerProcess> {
        let exe = std::env::current_exe()?;
        let sub = match target {
            Target::Sfu => "serve-sfu",
            Target::Relay => "serve-relay",
            Target::Janus => {
                return Err(std::io::Error::other(
                    "Janus is started with ServerProcess::janus",
                ));
            }
        };
        let mut command = Command::new(exe);
        command.arg(sub);
        if target == Target::Sfu {
            command.args(["--workers", &workers.to_string()]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let pid = child.id();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("LISTENING ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("{sub} did not start: {line:?}")))?;
        Ok(ServerProcess {
            owned: Owned::Child(child),
            pid,
            addr,
            path: String::new(),
            more: Vec::new(),
        })
    }

    /// Starts Janus with a benchmark configuration.
    pub fn janus(setup: &JanusSetup) -> std::io::Result<ServerProcess> {
        let janus = JanusProcess::start(setup)?;
        Ok(ServerProcess {
            pid: janus.pid(),
            addr: janus.endpoint.addr,
            path: janus.endpoint.path.clone(),
            owned: Owned::Janus(janus),
            more: Vec::new(),
        })
    }

    /// A server that is already running, at `addr` with process id `pid` (0: unknown).
    pub fn external(addr: SocketAddr, pid: u32) -> ServerProcess {
        ServerProcess {
            owned: Owned::External,
            pid,
            addr,
            path: String::new(),
            more: Vec::new(),
        }
    }

    /// The nodes of a running cluster, by HTTP address and process id (0 if unknown); the
    /// first is `addr`.
    pub fn external_cluster(nodes: &[(SocketAddr, u32)]) -> Option<ServerProcess> {
        let (&(addr, pid), more) = nodes.split_first()?;
        let mut first = ServerProcess::external(addr, pid);
        first.more = more.to_vec();
        Some(first)
    }

    /// Where the members of room `room` connect: the nodes in turn.
    pub fn addr_for(&self, room: u32) -> SocketAddr {
        match room as usize % (1 + self.more.len()) {
            0 => self.addr,
            i => self.more[i - 1].0,
        }
    }

    /// The process ids of every node that has one.
    pub fn pids(&self) -> Vec<u32> {
        std::iter::once(self.pid)
            .chain(self.more.iter().map(|(_, pid)| *pid))
            .filter(|&pid| pid != 0)
            .collect()
    }

    /// A Janus that is already running.
    pub fn external_janus(endpoint: Endpoint, pid: u32) -> ServerProcess {
        ServerProcess {
            owned: Owned::External,
            pid,
            addr: endpoint.addr,
            path: endpoint.path,
            more: Vec::new(),
        }
    }

    /// Fails if a server this started has exited, saying why (for Janus, with the end of
    /// its log). A run whose server died mid-way must not report figures.
    pub fn check_running(&mut self) -> Result<(), String> {
        match &mut self.owned {
            Owned::Child(c) => match c.try_wait() {
                Ok(Some(status)) => Err(format!("the server exited ({status})")),
                _ => Ok(()),
            },
            Owned::Janus(j) => j.exited().map_or(Ok(()), Err),
            Owned::External => Ok(()),
        }
    }

    /// What the server logged lately, to add to an error (Janus only; the SFU logs to the
    /// generator's standard error already).
    pub fn diagnostics(&self) -> String {
        match &self.owned {
            Owned::Janus(j) => j.log_tail(),
            _ => String::new(),
        }
    }

    /// Janus's API.
    pub fn janus_endpoint(&self) -> Endpoint {
        Endpoint {
            addr: self.addr,
            path: self.path.clone(),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        match &mut self.owned {
            Owned::Child(c) => {
                let _ = c.kill();
                let _ = c.wait();
            }
            // A Janus stops when its JanusProcess drops.
            Owned::Janus(_) | Owned::External => {}
        }
    }
}

/// `serve-sfu`: the real server on loopback with `workers` media workers, SFU for every
/// room, rooms as large as asked; prints `LISTENING <http address>` and runs until stdin
/// closes.
pub async fn serve_sfu(workers: usize) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = signaling::Config::for_tests();
    config.workers = workers;
    config.p2p = signaling::config::P2pPolicy::Off;
    config.max_room_size = 100_000;
    // Every generated peer connects from 127.0.0.1.
    config.max_conns_per_ip = 0;
    let server = signaling::Server::start(config).await?;
    println!("LISTENING {}", server.http_addr);
    wait_for_stdin_eof().await;
    server.shutdown().await;
    Ok(())
}

/// `serve-relay`: the relay baseline on loopback; prints `LISTENING <udp address>`.
pub fn serve_relay() -> Result<(), Box<dyn std::error::Error>> {
    let socket = crate::relay::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    println!("LISTENING {}", socket.local_addr()?);
    std::thread::spawn(|| {
        let _ = std::io::stdin().read_line(&mut String::new());
        std::process::exit(0);
    });
    crate::relay::run(socket)?;
    Ok(())
}

async fn wait_for_stdin_eof() {
    let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
}
