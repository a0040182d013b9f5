//! A Janus process for one benchmark run, with a configuration written for the benchmark:
//! the VideoRoom plugin and the HTTP transport only, HTTP on loopback, ICE-lite on one
//! interface, no admin secret, rooms without a bitrate cap.

use super::api::Endpoint;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's package keeps its configuration (read for its module folders).
const DEBIAN_CONFIG: &str = "/etc/janus/janus.jcfg";
/// The UDP ports Janus may use for media.
const RTP_PORTS: &str = "20000-23999";
/// Publishers a room takes (the VideoRoom default is 3).
pub const ROOM_PUBLISHERS: u32 = 200;

/// How to run Janus.
#[derive(Debug, Clone)]
pub struct JanusSetup {
    /// The executable.
    pub binary: PathBuf,
    /// The only network interface Janus gathers candidates on (`ice_enforce_list`). Janus
    /// skips interfaces flagged loopback, so a benchmark gives it a veth with a 127.x address.
    pub interface: String,
    /// Janus's `event_loops`: 0 keeps its default of a thread per handle; N shares N
    /// loops among all handles.
    pub event_loops: u32,
}

/// A running Janus; killed, and its configuration removed, when dropped.
pub struct JanusProcess {
    child: Child,
    dir: PathBuf,
    /// Its API.
    pub endpoint: Endpoint,
}

impl JanusProcess {
    /// Writes a configuration into a fresh temporary folder, starts Janus on it, and waits
    /// until its API answers.
    pub fn start(setup: &JanusSetup) -> std::io::Result<JanusProcess> {
        let http = free_port()?;
        let dir = std::env::temp_dir().join(format!(
            "loadgen-janus-{}-{}",
            std::process::id(),
            http.port()
        ));
        std::fs::create_dir_all(&dir)?;
        write_config(&dir, http, setup)?;
        let log = dir.join("janus.log");
        let janus_args = |cmd: &mut Command| {
            cmd.arg("--configs-folder")
                .arg(&dir)
                .arg("--config")
                .arg(dir.join("janus.jcfg"))
                .arg("--log-file")
                .arg(&log)
                .arg("--disable-colors")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
        };
        // Through util-linux's `setpriv`, Janus is killed with the generator even when the
        // generator is killed itself (a CI timeout), instead of running on in the namespace.
        let mut cmd = Command::new("setpriv");
        cmd.args(["--pdeathsig", "KILL", "--"]).arg(&setup.binary);
        janus_args(&mut cmd);
        let child = match cmd.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut cmd = Command::new(&setup.binary);
                janus_args(&mut cmd);
                cmd.spawn()
            }
            r => r,
        }
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", setup.binary.display())))?;
        let mut janus = JanusProcess {
            child,
            dir,
            endpoint: Endpoint {
                addr: http,
                path: "/janus".into(),
            },
        };
        janus.wait_ready(&log)?;
        Ok(janus)
    }

    /// Stops it (at once: nothing it holds needs saving) and removes its configuration.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_ready(&mut self, log: &Path) -> std::io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let failed = |why: String| {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            std::io::Error::other(format!("Janus {why}; its log ends:\n{}", tail.join("\n")))
        };
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(failed(format!("exited ({status})")));
            }
            // The HTTP transport is the last thing Janus starts.
            if std::net::TcpStream::connect(self.endpoint.addr).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(failed("did not open its HTTP port within 20 s".into()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for JanusProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback TCP port that is free now.
fn free_port() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// A folder setting of Debian's configuration, or the package's default.
fn debian_folder(key: &str, default: &str) -> String {
    let text = std::fs::read_to_string(DEBIAN_CONFIG).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with(key))
        .filter_map(|l| l.split('"').nth(1))
        .next()
        .unwrap_or(default)
        .to_owned()
}

/// Every module in `folder` but `keep`, as Janus's `disable` list.
fn all_but(folder: &str, keep: &str) -> String {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".so") && n != keep)
        .collect();
    names.sort();
    names.join(",")
}

/// Writes `janus.jcfg`, the HTTP transport's and the VideoRoom plugin's configuration.
pub fn write_config(dir: &Path, http: SocketAddr, setup: &JanusSetup) -> std::io::Result<()> {
    const LIB: &str = "/usr/lib/x86_64-linux-gnu/janus";
    let plugins = debian_folder("plugins_folder", &format!("{LIB}/plugins"));
    let transports = debian_folder("transports_folder", &format!("{LIB}/transports"));
    let events = debian_folder("events_folder", &format!("{LIB}/events"));
    let loggers = debian_folder("loggers_folder", &format!("{LIB}/loggers"));
    let core = format!(
        r#"general: {{
	configs_folder = "{dir}"
	plugins_folder = "{plugins}"
	transports_folder = "{transports}"
	events_folder = "{events}"
	loggers_folder = "{loggers}"
	debug_level = 3
	session_timeout = 60
{loops}}}
certificates: {{
}}
media: {{
	ipv6 = false
	rtp_port_range = "{RTP_PORTS}"
}}
nat: {{
	nice_debug = false
	ice_lite = true
	ignore_mdns = true
	ice_enforce_list = "{interface}"
}}
plugins: {{
	disable = "{no_plugins}"
}}
transports: {{
	disable = "{no_transports}"
}}
loggers: {{
	disable = "{no_loggers}"
}}
events: {{
	broadcast = false
	disable = "{no_events}"
}}
"#,
        dir = dir.display(),
        interface = setup.interface,
        loops = match setup.event_loops {
            0 => String::new(),
            n => format!("\tevent_loops = {n}\n"),
        },
        no_plugins = all_but(&plugins, "libjanus_videoroom.so"),
        no_transports = all_but(&transports, "libjanus_http.so"),
        no_loggers = all_but(&loggers, ""),
        no_events = all_but(&events, ""),
    );
    let transport = format!(
        r#"general: {{
	json = "plain"
	base_path = "/janus"
	http = true
	port = {port}
	ip = "{ip}"
	https = false
}}
admin: {{
	admin_http = false
	admin_https = false
}}
cors: {{
}}
"#,
        port = http.port(),
        ip = http.ip(),
    );
    let videoroom = format!(
        r#"general: {{
}}
room-1: {{
	description = "loadgen"
	publishers = {ROOM_PUBLISHERS}
	bitrate = 0
	audiocodec = "opus"
	videocodec = "vp8"
}}
"#
    );
    for (name, text) in [
        ("janus.jcfg", core),
        ("janus.transport.http.jcfg", transport),
        ("janus.plugin.videoroom.jcfg", videoroom),
    ] {
        std::fs::File::create(dir.join(name))?.write_all(text.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keeps_only_videoroom_over_http_on_loopback() {
        let dir = std::env::temp_dir().join(format!("janus-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let setup = JanusSetup {
            binary: "janus".into(),
            interface: "veth-j".into(),
            event_loops: 2,
        };
        write_config(&dir, "127.0.0.1:8999".parse().unwrap(), &setup).unwrap();
        let core = std::fs::read_to_string(dir.join("janus.jcfg")).unwrap();
        let http = std::fs::read_to_string(dir.join("janus.transport.http.jcfg")).unwrap();
        let room = std::fs::read_to_string(dir.join("janus.plugin.videoroom.jcfg")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(core.contains("ice_lite = true") && core.contains("ignore_mdns = true"));
        assert!(core.contains(r#"ice_enforce_list = "veth-j""#));
        assert!(!core.contains("admin_secret") && core.contains("event_loops = 2"));
        assert!(http.contains("port = 8999") && http.contains(r#"ip = "127.0.0.1""#));
        assert!(http.contains("admin_http = false"));
        assert!(room.contains("publishers = 200") && room.contains("bitrate = 0"));
        if let Some(disabled) = core
            .lines()
            .find(|l| l.contains("disable") && l.contains("plugin"))
        {
            assert!(!disabled.contains("videoroom"), "{disabled}");
        }
    }
}
