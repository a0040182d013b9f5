//! The server under load, as a process of its own so that its CPU time and memory can be
//! read from `/proc`: the SFU (`signaling::Server`, exactly what `sfu-server` runs), or the
//! relay baseline. The load generator starts either by running itself with a hidden
//! subcommand.

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
}

/// A running server process; killed when dropped.
pub struct ServerProcess {
    child: Option<Child>,
    /// Its process id, for `/proc`.
    pub pid: u32,
    /// SFU: its HTTP address; relay: its UDP address.
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `target` on loopback by running this executable with `serve-sfu` or
    /// `serve-relay`, and waits for the address it prints.
    pub fn start(target: Target) -> std::io::Result<ServerProcess> {
        let exe = std::env::current_exe()?;
        let sub = match target {
            Target::Sfu => "serve-sfu",
            Target::Relay => "serve-relay",
        };
        let mut child = Command::new(exe)
            .arg(sub)
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
            child: Some(child),
            pid,
            addr,
        })
    }

    /// A server that is already running, at `addr` with process id `pid`.
    pub fn external(addr: SocketAddr, pid: u32) -> ServerProcess {
        ServerProcess {
            child: None,
            pid,
            addr,
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `serve-sfu`: the real server on loopback, SFU for every room, rooms as large as asked;
/// prints `LISTENING <http address>` and runs until stdin closes.
pub async fn serve_sfu() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = signaling::Config::for_tests();
    config.p2p = signaling::config::P2pPolicy::Off;
    config.max_room_size = 100_000;
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
