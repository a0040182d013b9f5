//! The server binary as an operating system runs it: a process of its own.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `sfu-server` and the address it serves HTTP on.
pub struct Process {
    pub child: Child,
    pub http: SocketAddr,
}

impl Process {
    /// Starts the server binary under `prefix` (a command such as `prlimit …`, or none).
    pub fn start(prefix: &[&str], args: &[&str]) -> Process {
        let bin = env!("CARGO_BIN_EXE_sfu-server");
        let mut argv: Vec<&str> = prefix.to_vec();
        argv.push(bin);
        argv.extend([
            "--http",
            "127.0.0.1:0",
            "--udp",
            "127.0.0.1:0",
            "--admin-http",
            "127.0.0.1:0",
        ]);
        argv.extend(args);
        let mut child = Command::new(argv[0])
            .args(&argv[1..])
            .env("RUST_LOG", "warn,signaling=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("Open http://") {
                    let addr = rest.split('/').next().unwrap_or_default().to_owned();
                    let _ = tx.send(addr);
                }
            }
        });
        let http = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the server prints its address")
            .parse()
            .expect("an address");
        Process { child, http }
    }

    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill -{name}");
    }

    /// Waits for the process to exit; its exit status.
    pub fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
