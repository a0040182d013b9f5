//! `loadgen --soak MINUTES`: the meeting load with constant churn (members join and publish,
//! leave, or are killed without a goodbye) against a server of its own, sampled every
//! [`SAMPLE_EVERY`]. It proves that the server gives back what members took: memory stays
//! flat after the first minute, and once everyone has gone nothing is left (no room, socket,
//! session, track, subscription or open file).

pub mod churn;
pub mod sample;

use crate::engine::Engine;
use crate::media::Clock;
use crate::peer::Role;
use crate::procstat;
use crate::signal::{self, Member};
use crate::target::{ServerProcess, Target};
use churn::{Action, Churn};
use sample::{Counts, Sample};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the server is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// How often a member joins, leaves or is killed (over all rooms).
const CHURN_EVERY: Duration = Duration::from_secs(1);
/// How long the server may take to notice the last departures: killed members are only
/// found by the Socket.IO ping timeout.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

/// The soak's shape.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SoakOptions {
    /// How long the churn runs.
    pub minutes: f64,
    /// Rooms.
    pub rooms: u32,
    /// Members per room, about: churn keeps each room within two below and one above.
    pub room_size: u32,
    /// Video bitrate per member, kbit/s.
    pub video_kbps: u32,
    /// Engine threads for the peers.
    pub threads: usize,
    /// The SFU's media workers.
    pub workers: usize,
    /// Seeds the churn, so that a run can be repeated.
    pub seed: u64,
}

/// What a soak saw, and what was wrong.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SoakReport {
    /// The shape.
    pub options: SoakOptions,
    /// Before anyone joined.
    pub idle: Sample,
    /// Every [`SAMPLE_EVERY`] under churn.
    pub samples: Vec<Sample>,
    /// After every member left and the server had time to notice.
    pub end: Sample,
    /// Members that joined, left politely, and were killed.
    pub joins: u64,
    /// Polite departures.
    pub leaves: u64,
    /// Departures without a goodbye.
    pub kills: u64,
    /// Joins the server refused or did not answer, with the first reason.
    pub join_failures: u64,
    /// Why the first failed join failed.
    pub first_join_error: Option<String>,
    /// The sample memory growth is measured from, seconds into the run.
    pub reference_secs: Option<f64>,
    /// The largest growth of memory after it, percent.
    pub rss_growth_pct: Option<f64>,
    /// Everything wrong; empty when the soak passed.
    pub problems: Vec<String>,
}

/// Runs the soak against an SFU it starts.
pub async fn run(opts: SoakOptions) -> Result<SoakReport, Box<dyn std::error::Error>> {
    let mut server = ServerProcess::start(Target::Sfu, opts.workers)?;
    let clock = Clock::new();
    let engines: Vec<Arc<Engine>> = (0..opts.threads.max(1))
        .map(|i| Engine::start(clock, &format!("soak-{i}")).map(Arc::new))
        .collect::<Result<_, _>>()?;
    let start = Instant::now();
    let idle = read(&server, start, 0).await?;
    let mut load = Load {
        rooms: (0..opts.rooms).map(|_| Vec::new()).collect(),
        engines,
        opts: opts.clone(),
        next_id: 1,
        joins: 0,
        join_failures: 0,
        first_join_error: None,
    };
    for room in 0..load.rooms.len() {
        for _ in 0..opts.room_size {
            load.join(&server, room).await;
        }
    }
    let (mut leaves, mut kills) = (0, 0);
    let mut churn = Churn::new(opts.room_size as usize, opts.seed);
    let run_secs = opts.minutes * 60.0;
    let end = start + Duration::from_secs_f64(run_secs);
    let mut next_sample = start + SAMPLE_EVERY;
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(CHURN_EVERY);
    while Instant::now() < end {
        tick.tick().await;
        if Instant::now() >= next_sample {
            let s = read(&server, start, load.members()).await?;
            eprintln!("{}", line(&s));
            samples.push(s);
            next_sample += SAMPLE_EVERY;
        }
        let sizes: Vec<usize> = load.rooms.iter().map(Vec::len).collect();
        match churn.next(&sizes) {
            Some(Action::Join(room)) => load.join(&server, room).await,
            Some(Action::Leave(room, i)) => {
                drop(load.rooms[room].swap_remove(i));
                leaves += 1;
            }
            Some(Action::Kill(room, i)) => {
                load.rooms[room].swap_remove(i).kill();
                kills += 1;
            }
            None => {}
        }
    }
    server.check_running()?;
    // Everyone still there leaves; the killed ones are left to the server's timeouts.
    load.rooms.clear();
    let deadline = Instant::now() + DRAIN_LIMIT;
    let end_sample = loop {
        let s = read(&server, start, 0).await?;
        if sample::leftovers(&idle, &s).is_empty() || Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    eprintln!("after everyone left: {}", line(&end_sample));
    server.check_running()?;
    let mut problems = sample::problems(&idle, &samples, &end_sample, run_secs);
    if end_sample.files_left_since(&idle) > 0 {
        problems.push(format!(
            "open files by kind: {:?}",
            procstat::open_file_kinds(server.pid)?
        ));
    }
    if load.join_failures > 0 {
        problems.push(format!(
            "{} joins failed, the first with: {}",
            load.join_failures,
            load.first_join_error.as_deref().unwrap_or("?")
        ));
    }
    let reference = sample::reference(&samples, run_secs);
    Ok(SoakReport {
        options: opts,
        idle,
        end: end_sample,
        joins: load.joins,
        leaves,
        kills,
        join_failures: load.join_failures,
        first_join_error: load.first_join_error,
        reference_secs: reference.map(|r| samples[r].secs),
        rss_growth_pct: reference.map(|r| sample::rss_growth_pct(&samples, r)),
        samples,
        problems,
    })
}

/// The members in each room, and what joining needs.
struct Load {
    rooms: Vec<Vec<Member>>,
    engines: Vec<Arc<Engine>>,
    opts: SoakOptions,
    next_id: u32,
    joins: u64,
    join_failures: u64,
    first_join_error: Option<String>,
}

impl Load {
    /// A new member joins `room` and publishes audio and video.
    async fn join(&mut self, server: &ServerProcess, room: usize) {
        let role = Role {
            id: self.next_id,
            publish: true,
            video_kbps: self.opts.video_kbps,
            simulcast: false,
            room: room as u32,
        };
        self.next_id += 1;
        let engine = self.engines[role.id as usize % self.engines.len()].clone();
        match signal::join(server.addr, &format!("soak-{room}"), role, engine).await {
            Ok(m) => {
                self.rooms[room].push(m);
                self.joins += 1;
            }
            Err(e) => {
                self.join_failures += 1;
                tracing::warn!("join: {e}");
                self.first_join_error.get_or_insert_with(|| e.to_string());
            }
        }
    }

    fn members(&self) -> u64 {
        self.rooms.iter().map(|r| r.len() as u64).sum()
    }
}

/// Reads the server's memory, files and metrics.
async fn read(
    server: &ServerProcess,
    start: Instant,
    members: u64,
) -> Result<Sample, Box<dyn std::error::Error>> {
    let (status, body) = crate::http::request(server.addr, "GET", "/metrics", None)
        .await
        .map_err(|e| format!("GET /metrics: {e}"))?;
    if !status.is_success() {
        return Err(format!("GET /metrics: HTTP {status}").into());
    }
    let proc = procstat::sample(server.pid)?;
    Ok(Sample {
        secs: start.elapsed().as_secs_f64(),
        rss_mb: proc.rss as f64 / 1e6,
        open_files: procstat::open_files(server.pid)?,
        members,
        counts: Counts::parse(&String::from_utf8_lossy(&body)),
    })
}

/// One sample as a line of the log.
pub fn line(s: &Sample) -> String {
    let c = &s.counts;
    format!(
        "{:>6.0} s  RSS {:>6.1} MB  files {:>4}  members {:>3}  rooms {:>2}  sockets {:>3}  sessions {:>3}  tracks {:>3}  subscriptions {:>4}",
        s.secs,
        s.rss_mb,
        s.open_files,
        s.members,
        c.rooms,
        c.sockets,
        c.sessions,
        c.tracks,
        c.subscriptions
    )
}

impl SoakReport {
    /// The summary printed at the end.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "soak: {:.1} min, {} rooms of about {}, {} joins, {} leaves, {} kills, {} failed joins\n",
            self.options.minutes,
            self.options.rooms,
            self.options.room_size,
            self.joins,
            self.leaves,
            self.kills,
            self.join_failures
        );
        out += &format!("idle:      {}\n", line(&self.idle));
        if let Some(r) = self
            .reference_secs
            .and_then(|t| self.samples.iter().find(|s| s.secs == t))
        {
            out += &format!("reference: {}\n", line(r));
        }
        if let Some(last) = self.samples.last() {
            out += &format!("last:      {}\n", line(last));
        }
        out += &format!("end:       {}\n", line(&self.end));
        if let Some(g) = self.rss_growth_pct {
            out += &format!(
                "RSS growth after the reference: {g:.1}% (limit {}%)\n",
                sample::RSS_GROWTH_LIMIT_PCT
            );
        }
        if self.problems.is_empty() {
            out += "soak passed\n";
        }
        for p in &self.problems {
            out += &format!("problem: {p}\n");
        }
        out
    }
}
