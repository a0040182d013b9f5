//! A Janus process for one benchmark run, on a configuration written for it into a
//! temporary folder, which also keeps its log.

use super::config::{JanusSetup, write_config};
use super::http::Endpoint;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A folder removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running Janus; killed, and its folder removed, when dropped.
pub struct JanusProcess {
    child: Child,
    dir: TempDir,
    /// Its API.
    pub endpoint: Endpoint,
}

impl JanusProcess {
    /// Writes a configuration into a fresh temporary folder, starts Janus on it, and waits
    /// until its API answers.
    pub fn start(setup: &JanusSetup) -> std::io::Result<JanusProcess> {
        // Looked up in this network namespace (sysfs may still show another one's).
        if nix::net::if_::if_nametoindex(setup.interface.as_str()).is_err() {
            return Err(std::io::Error::other(format!(
                "no network interface {:?} for Janus to gather candidates on; \
                 benches/compare-janus makes one (or pass --janus-interface)",
                setup.interface
            )));
        }
        let http = free_port()?;
        let dir = TempDir(std::env::temp_dir().join(format!(
            "loadgen-janus-{}-{}",
            std::process::id(),
            http.port()
        )));
        std::fs::create_dir_all(&dir.0)?;
        write_config(&dir.0, http, setup)?;
        let child = spawn(setup, &dir.0)?;
        let mut janus = JanusProcess {
            child,
            dir,
            endpoint: Endpoint {
                addr: http,
                path: "/janus".into(),
            },
        };
        janus.wait_ready()?;
        Ok(janus)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Why it is no longer running; `None` while it runs.
    pub fn exited(&mut self) -> Option<String> {
        let status = self.child.try_wait().ok()??;
        Some(format!("Janus exited ({status})"))
    }

    /// The last lines of its log and standard error, for error messages.
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        for name in ["janus.log", "janus.stderr"] {
            let text = std::fs::read_to_string(self.dir.0.join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(15)..];
            if !tail.is_empty() {
                out.push_str(&format!("\n{name} ends:\n{}", tail.join("\n")));
            }
        }
        out
    }

    /// Waits until the HTTP transport, the last thing Janus starts, accepts connections.
    fn wait_ready(&mut self) -> std::io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(why) = self.exited() {
                return Err(std::io::Error::other(format!("{why}{}", self.log_tail())));
            }
            if std::net::TcpStream::connect(self.endpoint.addr).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::other(format!(
                    "Janus did not open its HTTP port within 20 s{}",
                    self.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for JanusProcess {
    fn drop(&mut self) {
        // At once: nothing it holds needs saving.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Janus on the configuration in `dir`, logging there.
///
/// Through util-linux's `setpriv`, Janus gets SIGKILL when the thread that started it ends,
/// so it dies with the generator even when the generator is killed (a CI timeout) instead
/// of running on in the namespace. That thread is the generator's main thread; starting
/// Janus from a worker thread would kill it when that thread retires.
fn spawn(setup: &JanusSetup, dir: &Path) -> std::io::Result<Child> {
    let stderr = std::fs::File::create(dir.join("janus.stderr"))?;
    let command = |wrapped: bool| -> std::io::Result<Command> {
        let mut cmd = if wrapped {
            let mut c = Command::new("setpriv");
            c.args(["--pdeathsig", "KILL", "--"]).arg(&setup.binary);
            c
        } else {
            Command::new(&setup.binary)
        };
        cmd.arg("--configs-folder")
            .arg(dir)
            .arg("--config")
            .arg(dir.join("janus.jcfg"))
            .arg("--log-file")
            .arg(dir.join("janus.log"))
            .arg("--disable-colors")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr.try_clone()?);
        Ok(cmd)
    };
    let named = |e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("{}: {e}", setup.binary.display()))
    };
    // Checked here, since through setpriv a missing binary is only an exit status.
    if !setup.binary.is_file() && which(&setup.binary).is_none() {
        return Err(named(std::io::ErrorKind::NotFound.into()));
    }
    match command(true)?.spawn() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!("no setpriv: Janus will outlive a killed generator");
            command(false)?.spawn().map_err(named)
        }
        r => r.map_err(named),
    }
}

/// Where `program` is on `PATH`, for a name without a slash.
fn which(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return None;
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// A loopback TCP port that is free now.
fn free_port() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}
