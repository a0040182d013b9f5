//! One measured run: start the target, join every peer, warm up, then count over a
//! steady-state window what was sent, what arrived, how late, and what the server spent.

use crate::engine::{Engine, Snapshot};
use crate::janus::{self, api::Session};
use crate::media::Clock;
use crate::peer::Role;
use crate::procstat::{self, ProcSample};
use crate::signal::{self, Member};
use crate::target::{ServerProcess, Target};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The shape of the load.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Scenario {
    /// Its name (a preset, or `custom`).
    pub name: String,
    /// Rooms.
    pub rooms: u32,
    /// Members per room that publish audio and video (and receive each other).
    pub publishers: u32,
    /// Members per room that only receive.
    pub subscribers: u32,
    /// Video bitrate per publisher, kbit/s of payload.
    pub video_kbps: u32,
    /// Publishers send three simulcast layers; subscribers are spread over them.
    pub simulcast: bool,
    /// Seconds of warm-up before the window.
    pub warmup_secs: f64,
    /// Seconds of the measured window.
    pub duration_secs: f64,
}

impl Scenario {
    /// Members in all rooms.
    pub fn participants(&self) -> u32 {
        self.rooms * (self.publishers + self.subscribers)
    }
}

/// How to run it.
pub struct RunOptions {
    /// Engine threads for the peers.
    pub threads: usize,
    /// Show progress bars.
    pub progress: bool,
    /// Use this server instead of starting one (required for Janus).
    pub server: Option<ServerProcess>,
    /// Media workers of an SFU this starts.
    pub workers: usize,
}

/// Everything one run measured over its steady-state window.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Measurement {
    /// SFU or relay.
    pub target: Target,
    /// The SFU's media workers (0 for the other targets).
    pub workers: usize,
    /// The load.
    pub scenario: Scenario,
    /// Length of the window.
    pub window_secs: f64,
    /// Media packets the subscribers should have received.
    pub expected_packets: u64,
    /// Media packets they received.
    pub delivered_packets: u64,
    /// Delivered packets per second.
    pub delivered_pps: f64,
    /// Delivered payload, Mbit/s.
    pub delivered_mbps: f64,
    /// Packets not delivered, percent.
    pub loss_pct: f64,
    /// One-way latency publisher→subscriber through the server, median, ms.
    pub latency_p50_ms: f64,
    /// 95th percentile, ms.
    pub latency_p95_ms: f64,
    /// 99th percentile, ms.
    pub latency_p99_ms: f64,
    /// Server CPU time over the window, in cores.
    pub server_cpu_cores: f64,
    /// Server CPU microseconds per delivered packet.
    pub server_cpu_us_per_packet: f64,
    /// Delivered packets per second of server CPU time.
    pub pps_per_core: f64,
    /// Server resident memory at the end, MB.
    pub server_rss_mb: f64,
    /// Server memory growth from idle, per participant, kB.
    pub rss_per_participant_kb: f64,
    /// Datagrams the generator could not send in the window (its socket buffers were full):
    /// nonzero means part of the loss is the generator's.
    pub generator_send_errors: u64,
    /// The generator's own CPU use, in cores (near 1.0 per engine thread means it may be
    /// the bottleneck).
    pub generator_cpu_cores: f64,
    /// Each SFU media worker thread's CPU use over the window, in cores, by worker.
    pub worker_cpu_cores: Vec<f64>,
}

/// Runs `scenario` against `target` and measures it.
pub async fn run(
    target: Target,
    scenario: &Scenario,
    opts: RunOptions,
) -> Result<Measurement, Box<dyn std::error::Error>> {
    let mut server = match opts.server {
        Some(s) => s,
        None => ServerProcess::start(target, opts.workers)?,
    };
    let workers = if target == Target::Sfu {
        opts.workers
    } else {
        0
    };
    // The server outlives the peers; a failed run says what the server logged.
    run_on(target, scenario, opts.threads, opts.progress, &mut server)
        .await
        .map(|m| Measurement { workers, ..m })
        .map_err(|e| format!("{target:?}: {e}{}", server.diagnostics()).into())
}

async fn run_on(
    target: Target,
    scenario: &Scenario,
    threads: usize,
    progress: bool,
    server: &mut ServerProcess,
) -> Result<Measurement, Box<dyn std::error::Error>> {
    let clock = Clock::new();
    let engines: Vec<Arc<Engine>> = (0..threads.max(1))
        .map(|i| Engine::start(clock, &format!("loadgen-{i}")).map(Arc::new))
        .collect::<Result<_, _>>()?;
    let idle = server_sample(server)?;

    // Join: each room's publishers first, then its subscribers, a few at a time.
    let bar = spinner(progress, format!("{target:?}: joining"));
    let mut members: Vec<Member> = Vec::new();
    let janus = match target {
        Target::Janus => Some(Arc::new(Session::create(&server.janus_endpoint()).await?)),
        _ => None,
    };
    let mut next_id = 1u32;
    for room in 0..scenario.rooms {
        let name = format!("bench-{room}");
        let roles = |publish: bool, next_id: &mut u32| -> Vec<Role> {
            let count = if publish {
                scenario.publishers
            } else {
                scenario.subscribers
            };
            (0..count)
                .map(|_| {
                    *next_id += 1;
                    Role {
                        id: *next_id - 1,
                        publish,
                        video_kbps: scenario.video_kbps,
                        simulcast: scenario.simulcast,
                        room,
                    }
                })
                .collect()
        };
        let engine_for = |id: u32| engines[id as usize % engines.len()].clone();
        if let Some(session) = &janus {
            let (publishers, subscribers) = (roles(true, &mut next_id), roles(false, &mut next_id));
            let room = u64::from(room) + 1;
            let joined = || bar.inc(1);
            janus::join::join_room(
                session,
                room,
                publishers,
                subscribers,
                &engine_for,
                &mut next_id,
                &joined,
            )
            .await?;
            continue;
        }
        for publish in [true, false] {
            let mut joins = Vec::new();
            for role in roles(publish, &mut next_id) {
                let engine = engine_for(role.id);
                match target {
                    Target::Relay => {
                        engine.add_plain(role, server.addr, name.clone()).await?;
                    }
                    _ => {
                        let (http, name) = (server.addr_for(room), name.clone());
                        joins.push(tokio::spawn(async move {
                            signal::join(http, &name, role, engine).await.map(Some)
                        }));
                    }
                }
                if joins.len() >= 8 {
                    for j in joins.drain(..) {
                        members.extend(j.await??);
                    }
                }
                bar.inc(1);
            }
            for j in joins.drain(..) {
                members.extend(j.await??);
            }
        }
    }
    // Janus members who publish and receive have a peer for each; every id is a peer.
    let peers = next_id as usize - 1;
    wait_connected(&engines, peers).await?;
    bar.finish_and_clear();

    let bar = spinner(progress, format!("{target:?}: warming up"));
    tokio::time::sleep(Duration::from_secs_f64(scenario.warmup_secs)).await;
    bar.finish_and_clear();

    let before = read(&engines, server).await?;
    let bar = if progress {
        ProgressBar::new((scenario.duration_secs * 10.0) as u64).with_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {elapsed}/{duration}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    } else {
        ProgressBar::hidden()
    };
    bar.set_message(format!("{target:?}: measuring"));
    let end = before.at + Duration::from_secs_f64(scenario.duration_secs);
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
        bar.inc(1);
    }
    let after = read(&engines, server).await?;
    bar.finish_and_clear();
    server.check_running()?;
    drop(members);
    if let Some(session) = janus.and_then(Arc::into_inner) {
        // Frees the feeds now, for a Janus that outlives the run.
        if let Err(e) = session.destroy().await {
            tracing::warn!("Janus session: {e}");
        }
    }
    drop(engines);
    Ok(measure(target, scenario, idle, &before, &after))
}

/// What is read at each end of the measured window.
struct Reading {
    /// Every peer's counters, and the latency since the previous reading.
    peers: Snapshot,
    server: ProcSample,
    /// The SFU's media worker threads' CPU time.
    media: Vec<(String, Duration)>,
    generator: ProcSample,
    at: Instant,
}

async fn read(
    engines: &[Arc<Engine>],
    server: &ServerProcess,
) -> Result<Reading, Box<dyn std::error::Error>> {
    Ok(Reading {
        peers: snapshot(engines, true).await?,
        server: server_sample(server)?,
        media: media_threads(server),
        generator: procstat::sample(std::process::id())?,
        at: Instant::now(),
    })
}

/// The server's CPU and memory, summed over its nodes; zero for an external server whose
/// pid was not given.
fn server_sample(server: &ServerProcess) -> std::io::Result<ProcSample> {
    let mut sum = ProcSample::default();
    for pid in server.pids() {
        let one = procstat::sample(pid)?;
        sum.cpu += one.cpu;
        sum.rss += one.rss;
    }
    Ok(sum)
}

/// The SFU's media worker threads, of every node (none for the other servers, or an
/// unknown pid).
fn media_threads(server: &ServerProcess) -> Vec<(String, Duration)> {
    server
        .pids()
        .into_iter()
        .flat_map(|pid| procstat::threads(pid, "sfu-media-").unwrap_or_default())
        .collect()
}

fn spinner(show: bool, msg: String) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_message(msg);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// All engines' snapshots, concatenated, with one merged latency histogram; `reset` starts
/// a new latency window.
async fn snapshot(
    engines: &[Arc<Engine>],
    reset: bool,
) -> Result<Snapshot, Box<dyn std::error::Error>> {
    let mut all: Option<Snapshot> = None;
    for e in engines {
        let s = e.snapshot(reset).await?;
        match &mut all {
            None => all = Some(s),
            Some(a) => {
                a.peers.extend(s.peers);
                a.latency.add(&s.latency)?;
            }
        }
    }
    all.ok_or_else(|| "no engines".into())
}

async fn wait_connected(
    engines: &[Arc<Engine>],
    n: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = snapshot(engines, false).await?;
        let up = s.peers.iter().filter(|p| p.1).count();
        if up >= n {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("only {up} of {n} peers connected within 60 s").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn measure(
    target: Target,
    scenario: &Scenario,
    idle: ProcSample,
    before: &Reading,
    after: &Reading,
) -> Measurement {
    let secs = after.at.duration_since(before.at).as_secs_f64();
    let by_id = |s: &Snapshot| -> HashMap<u32, crate::peer::PeerCounters> {
        s.peers.iter().map(|(r, _, c)| (r.id, *c)).collect()
    };
    let (b, a) = (by_id(&before.peers), by_id(&after.peers));
    let members_per_room = u64::from(scenario.publishers + scenario.subscribers);
    let roles: HashMap<u32, Role> = after
        .peers
        .peers
        .iter()
        .map(|(r, _, _)| (r.id, *r))
        .collect();
    let (mut expected, mut delivered, mut bytes, mut send_errors) = (0u64, 0u64, 0u64, 0u64);
    for (id, ca) in &a {
        let cb = b.get(id).copied().unwrap_or_default();
        delivered += ca.received.saturating_sub(cb.received);
        bytes += ca.received_bytes.saturating_sub(cb.received_bytes);
        send_errors += ca.send_errors.saturating_sub(cb.send_errors);
        match roles.get(id).filter(|r| r.simulcast && r.publish) {
            // Everyone else in the room receives what this member published.
            None => expected += ca.sent.saturating_sub(cb.sent) * (members_per_room - 1),
            // Its audio, and of its video the layer each other member's tile calls for.
            Some(me) => {
                expected += ca.sent_audio.saturating_sub(cb.sent_audio) * (members_per_room - 1);
                for other in roles
                    .values()
                    .filter(|r| r.room == me.room && r.id != me.id)
                {
                    let l = other.layer();
                    expected += ca.sent_layers[l].saturating_sub(cb.sent_layers[l]);
                }
            }
        }
    }
    let server_cpu = after
        .server
        .cpu
        .saturating_sub(before.server.cpu)
        .as_secs_f64();
    let gen_cpu = after
        .generator
        .cpu
        .saturating_sub(before.generator.cpu)
        .as_secs_f64();
    let worker_cpu_cores = after
        .media
        .iter()
        .map(|(name, cpu)| {
            let start = before
                .media
                .iter()
                .find(|(n, _)| n == name)
                .map_or(Duration::ZERO, |(_, c)| *c);
            cpu.saturating_sub(start).as_secs_f64() / secs
        })
        .collect();
    let latency = &after.peers.latency;
    let pct = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    Measurement {
        target,
        workers: 0,
        scenario: scenario.clone(),
        window_secs: secs,
        expected_packets: expected,
        delivered_packets: delivered,
        delivered_pps: delivered as f64 / secs,
        delivered_mbps: bytes as f64 * 8.0 / secs / 1e6,
        loss_pct: if expected == 0 {
            100.0
        } else {
            (1.0 - delivered as f64 / expected as f64).max(0.0) * 100.0
        },
        latency_p50_ms: pct(latency, 0.50),
        latency_p95_ms: pct(latency, 0.95),
        latency_p99_ms: pct(latency, 0.99),
        server_cpu_cores: server_cpu / secs,
        server_cpu_us_per_packet: if delivered == 0 {
            0.0
        } else {
            server_cpu * 1e6 / delivered as f64
        },
        pps_per_core: if server_cpu > 0.0 {
            delivered as f64 / server_cpu
        } else {
            0.0
        },
        server_rss_mb: after.server.rss as f64 / 1e6,
        rss_per_participant_kb: after.server.rss.saturating_sub(idle.rss) as f64
            / 1e3
            / f64::from(scenario.participants().max(1)),
        generator_send_errors: send_errors,
        generator_cpu_cores: gen_cpu / secs,
        worker_cpu_cores,
    }
}
