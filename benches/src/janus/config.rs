//! The benchmark's Janus configuration: the VideoRoom plugin and the HTTP transport only,
//! HTTP on loopback, ICE-lite on one interface, no admin secret, rooms without a bitrate
//! cap. Module folders come from Debian's `/etc/janus/janus.jcfg`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Where Debian's package keeps its configuration (read for its module folders).
const DEBIAN_CONFIG: &str = "/etc/janus/janus.jcfg";
/// The UDP ports Janus may use for media: one per PeerConnection (BUNDLE), so a run can
/// have up to 4,000.
const RTP_PORTS: &str = "20000-23999";
/// Every benchmark room's settings, as the VideoRoom plugin names them: up to 200
/// publishers (its default is 3), no bitrate cap, Opus and VP8. Room 1 has them in the
/// configuration file; other rooms are created with them over the API.
pub fn room_settings() -> [(&'static str, serde_json::Value); 4] {
    [
        ("publishers", 200.into()),
        ("bitrate", 0.into()),
        ("audiocodec", "opus".into()),
        ("videocodec", "vp8".into()),
    ]
}

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

/// A folder setting of Debian's configuration `text`, or the package's default.
fn debian_folder(text: &str, key: &str, default: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with(key))
        .filter_map(|l| l.split('"').nth(1))
        .next()
        .unwrap_or(default)
        .to_owned()
}

/// Every module in `folder` but `keep`, as Janus's `disable` list. An unreadable folder is
/// an error: an empty list would let Janus load every module there.
fn all_but(folder: &str, keep: &str) -> std::io::Result<String> {
    let entries = std::fs::read_dir(folder)
        .map_err(|e| std::io::Error::new(e.kind(), format!("Janus modules in {folder}: {e}")))?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".so") && n != keep)
        .collect();
    names.sort();
    Ok(names.join(","))
}

/// Writes `janus.jcfg`, the HTTP transport's and the VideoRoom plugin's configuration.
pub fn write_config(dir: &Path, http: SocketAddr, setup: &JanusSetup) -> std::io::Result<()> {
    // Debian's multiarch folder, where the configuration does not name one.
    let lib = format!("/usr/lib/{}-linux-gnu/janus", std::env::consts::ARCH);
    let debian = std::fs::read_to_string(DEBIAN_CONFIG).unwrap_or_default();
    let folder = |key: &str, name: &str| debian_folder(&debian, key, &format!("{lib}/{name}"));
    let plugins = folder("plugins_folder", "plugins");
    let transports = folder("transports_folder", "transports");
    let events = folder("events_folder", "events");
    let loggers = folder("loggers_folder", "loggers");
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
        no_plugins = all_but(&plugins, "libjanus_videoroom.so")?,
        no_transports = all_but(&transports, "libjanus_http.so")?,
        no_loggers = all_but(&loggers, "")?,
        no_events = all_but(&events, "")?,
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
    // JSON's numbers and quoted strings are libconfig's too.
    let settings: String = room_settings()
        .iter()
        .map(|(k, v)| format!("\t{k} = {v}\n"))
        .collect();
    let videoroom =
        format!("general: {{\n}}\nroom-1: {{\n\tdescription = \"loadgen\"\n{settings}}}\n");
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
