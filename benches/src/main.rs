//! `loadgen`: loads the SFU with real WebRTC peers (Socket.IO join, ICE, DTLS-SRTP) and
//! measures forwarding throughput, loss, latency and the server's CPU and memory, against a
//! baseline measured in the same run: a crypto-free UDP relay, or Janus's VideoRoom under
//! exactly the same load.

use benches::janus::config::JanusSetup;
use benches::janus::http::Endpoint;
use benches::report::{self, Measurement, Report};
use benches::scenario::{self, RunOptions, Scenario};
use benches::soak::SoakOptions;
use benches::target::{self, ServerProcess, Target};
use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    // A later flag overrides an earlier one, so scripts can pass defaults first.
    args_override_self = true,
    about = "Forwarding-throughput benchmark of the SFU, against a relay or Janus in the same run"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    /// The load: fanout (1 room, 1 publisher, S subscribers), meeting (R rooms of 5, all
    /// publish), smoke (a quick check that media flows).
    #[arg(long, value_enum, default_value = "fanout")]
    preset: Preset,
    /// Rooms (overrides the preset).
    #[arg(long)]
    rooms: Option<u32>,
    /// Publishers per room; they also receive each other (overrides the preset).
    #[arg(long)]
    publishers: Option<u32>,
    /// Receive-only members per room (overrides the preset).
    #[arg(long)]
    subscribers: Option<u32>,
    /// Seconds measured, after the warm-up.
    #[arg(long)]
    duration: Option<f64>,
    /// Seconds of warm-up.
    #[arg(long)]
    warmup: Option<f64>,
    /// Video payload bitrate per publisher, kbit/s.
    #[arg(long, default_value_t = 1000)]
    video_kbps: u32,
    /// Publishers send their video as three simulcast layers (rids q, h and f, each at the
    /// full packet rate), and subscribers show tiles of three sizes, so that they are spread
    /// over the layers. SFU targets only.
    #[arg(long)]
    simulcast: bool,
    /// Load a running server (http://HOST:PORT) instead of starting one. Its rooms must be
    /// SFU rooms (`--p2p off`) and large enough. Several nodes of one cluster, separated by
    /// commas: the rooms' members connect to them in turn (room i to node i mod n).
    #[arg(long, value_delimiter = ',')]
    server: Vec<String>,
    /// The running servers' process ids, in the order of `--server`, for their CPU time and
    /// memory, which are summed (without them those figures are left at zero).
    #[arg(long, requires = "server", value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// What is measured: this project's SFU, or Janus alone.
    #[arg(long, value_enum, default_value = "sfu")]
    target: Target,
    /// Media workers of the SFU this starts (each a thread with its own port and rooms).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// The baseline measured in the same run (`sfu`: the SFU again, with
    /// `--baseline-workers` media workers).
    #[arg(long, value_enum, default_value = "relay")]
    baseline: Baseline,
    /// Media workers of the SFU baseline.
    #[arg(long, default_value_t = 1)]
    baseline_workers: usize,
    /// A running Janus's API (http://HOST:PORT/janus). Without it, Janus runs are started
    /// with `--janus-bin` and a benchmark configuration.
    #[arg(long)]
    janus_url: Option<String>,
    /// The running Janus's process id, for its CPU time and memory.
    #[arg(long, requires = "janus_url")]
    janus_pid: Option<u32>,
    /// The Janus executable, for the runs this starts.
    #[arg(long, default_value = "janus")]
    janus_bin: PathBuf,
    /// The only interface Janus gathers candidates on. It must not be flagged loopback
    /// (Janus skips those): `benches/compare-janus` makes a veth with 127.0.0.2.
    #[arg(long, default_value = "veth-janus")]
    janus_interface: String,
    /// Janus's `event_loops` for the runs this starts: 0 keeps Janus's default, a thread
    /// per handle (each subscriber); N shares N threads among all handles.
    #[arg(long, default_value_t = 0)]
    janus_event_loops: u32,
    /// Target/baseline pairs to run (A B A B …).
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// Threads for the generator's peers.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Raise the fan-out subscriber count until loss passes 1% or p99 latency 10 ms (per
    /// room, in one room or `--rooms R`).
    #[arg(long)]
    find_max: bool,
    /// Write every figure here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    no_progress: bool,
    /// Run a soak instead of a measurement: rooms (`--rooms`, default 4) of about
    /// `--publishers` members (default 5) under constant churn for this many minutes. Fails
    /// if the server's memory grows more than 10% after the first minute, or if anything is
    /// left once every member has gone.
    #[arg(long, value_name = "MINUTES")]
    soak: Option<f64>,
    /// Draw the soak's samples into this SVG.
    #[arg(long, requires = "soak")]
    soak_plot: Option<PathBuf>,
    /// Seeds the soak's churn.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Fail (exit 1) unless media flowed through the target and a Janus baseline: packets
    /// delivered, and loss below 5%.
    #[arg(long)]
    check: bool,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// (internal) Run the SFU server for a benchmark.
    #[command(hide = true)]
    ServeSfu {
        /// Media workers.
        #[arg(long, default_value_t = 1)]
        workers: usize,
    },
    /// (internal) Run the relay baseline.
    #[command(hide = true)]
    ServeRelay,
    /// Write the benchmark's Janus configuration into a folder, to run Janus by hand
    /// (`janus -F DIR -C DIR/janus.jcfg`) and load it with `--target janus --janus-url`.
    WriteJanusConfig {
        /// The folder (created if missing).
        dir: PathBuf,
        /// Where Janus's HTTP API listens (a loopback address).
        #[arg(long, default_value = "127.0.0.1:8088")]
        http: SocketAddr,
        /// The only interface Janus gathers candidates on.
        #[arg(long, default_value = "veth-janus")]
        interface: String,
        /// Janus's `event_loops` (0: a thread per handle).
        #[arg(long, default_value_t = 0)]
        event_loops: u32,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Preset {
    Fanout,
    Meeting,
    Smoke,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Baseline {
    Relay,
    Janus,
    Sfu,
    None,
}

impl Baseline {
    /// The server a baseline run loads, if any.
    fn target(self) -> Option<Target> {
        match self {
            Baseline::Relay => Some(Target::Relay),
            Baseline::Janus => Some(Target::Janus),
            Baseline::Sfu => Some(Target::Sfu),
            Baseline::None => None,
        }
    }
}

fn scenario(cli: &Cli) -> Scenario {
    let (name, rooms, publishers, subscribers, warmup, duration) = match cli.preset {
        Preset::Fanout => ("fanout", 1, 1, 100, 4.0, 10.0),
        Preset::Meeting => ("meeting", 10, 5, 0, 4.0, 10.0),
        Preset::Smoke => ("smoke", 1, 1, 3, 3.0, 4.0),
    };
    let custom = cli.rooms.is_some() || cli.publishers.is_some() || cli.subscribers.is_some();
    Scenario {
        name: if custom { "custom".into() } else { name.into() },
        rooms: cli.rooms.unwrap_or(rooms),
        publishers: cli.publishers.unwrap_or(publishers),
        subscribers: cli.subscribers.unwrap_or(subscribers),
        video_kbps: cli.video_kbps,
        simulcast: cli.simulcast,
        warmup_secs: cli.warmup.unwrap_or(warmup),
        duration_secs: cli.duration.unwrap_or(duration),
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,rtc=error,rtc_ice=error,rtc_dtls=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // Hundreds of peers, each with its sockets.
    signaling::limits::raise_open_files()?;
    let cli = Cli::parse();
    match cli.command {
        Some(Sub::WriteJanusConfig {
            dir,
            http,
            interface,
            event_loops,
        }) => {
            std::fs::create_dir_all(&dir)?;
            let setup = JanusSetup {
                binary: cli.janus_bin.clone(),
                interface,
                event_loops,
            };
            benches::janus::config::write_config(&dir, http, &setup)?;
            println!("janus -F {0} -C {0}/janus.jcfg", dir.display());
            return Ok(());
        }
        Some(Sub::ServeRelay) => return target::serve_relay(),
        Some(Sub::ServeSfu { workers }) => {
            return tokio::runtime::Runtime::new()?.block_on(target::serve_sfu(workers));
        }
        None => {}
    }
    // Signaling only: the peers run on the engine threads.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(bench(cli))
}

async fn bench(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(minutes) = cli.soak {
        return soak(&cli, minutes).await;
    }
    let mut external: Vec<(SocketAddr, u32)> = Vec::new();
    for (i, url) in cli.server.iter().enumerate() {
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .map_err(|e| format!("--server {url}: {e}"))?;
        external.push((addr, cli.server_pid.get(i).copied().unwrap_or(0)));
    }
    let janus_url: Option<Endpoint> = match &cli.janus_url {
        Some(url) => Some(url.parse()?),
        None => None,
    };
    let setup = JanusSetup {
        binary: cli.janus_bin.clone(),
        interface: cli.janus_interface.clone(),
        event_loops: cli.janus_event_loops,
    };
    let opts = |target: Target, workers: usize| -> std::io::Result<RunOptions> {
        let cluster = ServerProcess::external_cluster(&external);
        let server = match (target, cluster, &janus_url) {
            (Target::Sfu, Some(nodes), _) => Some(nodes),
            (Target::Janus, _, Some(url)) => Some(ServerProcess::external_janus(
                url.clone(),
                cli.janus_pid.unwrap_or(0),
            )),
            (Target::Janus, _, None) => Some(ServerProcess::janus(&setup)?),
            _ => None,
        };
        Ok(RunOptions {
            threads: cli.threads,
            progress: !cli.no_progress,
            server,
            workers,
        })
    };
    // The baseline, unless it would be the very same server as the target.
    let baseline = cli
        .baseline
        .target()
        .filter(|b| *b != cli.target || (*b == Target::Sfu && cli.baseline_workers != cli.workers));
    let mut report = Report {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model: report::cpu_model(),
        runs: Vec::new(),
        ratios: Vec::new(),
        max_subscribers: None,
    };
    if cli.find_max {
        report.max_subscribers = Some(find_max(&cli, &opts, &mut report.runs).await?);
    } else {
        let s = scenario(&cli);
        for _ in 0..cli.repeat.max(1) {
            let a = scenario::run(cli.target, &s, opts(cli.target, cli.workers)?).await?;
            eprintln!("{}", one_line(&a));
            report.runs.push(a);
            if let Some(b) = baseline {
                let b = scenario::run(b, &s, opts(b, cli.baseline_workers)?).await?;
                eprintln!("{}", one_line(&b));
                report.runs.push(b);
            }
        }
        report.ratios = report::pairs(&report.runs)
            .filter_map(|(a, b)| report::cpu_ratio(a, b))
            .collect();
    }
    println!("{}", report::table(&report));
    if let Some(path) = &cli.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    if cli.check {
        // Every measured server, the baseline included when it is a real SFU: the check
        // proves that the load really moved media through each.
        let checked = |t: Target| t == cli.target || t == Target::Janus;
        for m in report.runs.iter().filter(|m| checked(m.target)) {
            if m.generator_send_errors > 0 {
                eprintln!(
                    "note: the generator failed {} sends",
                    m.generator_send_errors
                );
            }
            if m.delivered_packets == 0 || m.loss_pct >= 5.0 {
                return Err(format!(
                    "media did not flow through {:?}: {} packets delivered, {:.2}% loss",
                    m.target, m.delivered_packets, m.loss_pct
                )
                .into());
            }
        }
    }
    Ok(())
}

/// `--soak`: runs it, prints and saves what it saw, and fails on any problem.
async fn soak(cli: &Cli, minutes: f64) -> Result<(), Box<dyn std::error::Error>> {
    let opts = SoakOptions {
        minutes,
        rooms: cli.rooms.unwrap_or(4),
        room_size: cli.publishers.unwrap_or(5),
        video_kbps: cli.video_kbps,
        threads: cli.threads,
        workers: cli.workers,
        seed: cli.seed,
    };
    let report = benches::soak::run(opts).await?;
    println!("{}", report.summary());
    if let Some(path) = &cli.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    if let Some(path) = &cli.soak_plot {
        let title = format!(
            "soak: {} rooms of about {}, {:.0} min, {} joins, {} leaves, {} kills",
            report.options.rooms,
            report.options.room_size,
            minutes,
            report.joins,
            report.leaves,
            report.kills
        );
        let mut all = vec![report.idle];
        all.extend(report.samples.iter().copied());
        all.push(report.end);
        benches::plot::soak_svg(path, &title, &all)?;
    }
    if !report.problems.is_empty() {
        return Err(format!("the soak failed: {}", report.problems.join("; ")).into());
    }
    Ok(())
}

fn one_line(m: &Measurement) -> String {
    format!(
        "{} {}: {:.0} pkts/s, loss {:.2}%, p99 {:.2} ms, {:.2} µs/pkt, {:.0} pkts/s/core, workers' cpu [{}]",
        report::label(m),
        m.scenario.name,
        m.delivered_pps,
        m.loss_pct,
        m.latency_p99_ms,
        m.server_cpu_us_per_packet,
        m.pps_per_core,
        report::worker_cpu(m)
    )
}

/// Whether a fan-out run held: loss at most 1% and p99 latency at most 10 ms.
fn held(m: &Measurement) -> bool {
    m.loss_pct <= 1.0 && m.latency_p99_ms <= 10.0
}

/// Doubles the fan-out until a run fails the bounds, then bisects between the last count that
/// held and the first that did not.
async fn find_max(
    cli: &Cli,
    opts: &dyn Fn(Target, usize) -> std::io::Result<RunOptions>,
    runs: &mut Vec<Measurement>,
) -> Result<u32, Box<dyn std::error::Error>> {
    let mut s = scenario(cli);
    s.name = "find-max".into();
    // One room unless asked: `--rooms R` searches R rooms of one publisher and N
    // subscribers each, which spread over the media workers.
    s.rooms = cli.rooms.unwrap_or(1);
    s.publishers = 1;
    s.duration_secs = cli.duration.unwrap_or(5.0);
    let mut try_n =
        async |n: u32, runs: &mut Vec<Measurement>| -> Result<bool, Box<dyn std::error::Error>> {
            s.subscribers = n;
            let m = scenario::run(cli.target, &s, opts(cli.target, cli.workers)?).await?;
            eprintln!("{n} subscribers: {}", one_line(&m));
            let ok = held(&m);
            runs.push(m);
            Ok(ok)
        };
    let (mut good, mut bad) = (0u32, None);
    let mut n = cli.subscribers.unwrap_or(25);
    while bad.is_none() && n <= 5000 {
        if try_n(n, runs).await? {
            good = n;
            n *= 2;
        } else {
            bad = Some(n);
        }
    }
    if let Some(mut hi) = bad {
        while hi - good > (hi / 10).max(5) {
            let mid = (good + hi) / 2;
            if try_n(mid, runs).await? {
                good = mid;
            } else {
                hi = mid;
            }
        }
    }
    Ok(good)
}
