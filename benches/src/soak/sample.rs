//! What the soak reads from the server every few seconds, and its verdict on the readings.

use serde::Serialize;

/// The server at one instant: its memory and files, and what it holds for members.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Sample {
    /// Seconds since the soak began.
    pub secs: f64,
    /// Resident memory, MB.
    pub rss_mb: f64,
    /// Open file descriptors.
    pub open_files: u64,
    /// Members the load generator holds (joined, not yet departed).
    pub members: u64,
    /// The server's counts, from its `/metrics`.
    pub counts: Counts,
}

/// What the server holds, as its Prometheus metrics say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Rooms with a member.
    pub rooms: u64,
    /// Members of all rooms.
    pub participants: u64,
    /// Open Socket.IO connections.
    pub sockets: u64,
    /// WebRTC sessions.
    pub sessions: u64,
    /// Published tracks.
    pub tracks: u64,
    /// Subscriptions (down tracks), over all workers.
    pub subscriptions: u64,
    /// RTP packets forwarded so far.
    pub forwarded_packets: u64,
}

impl Counts {
    /// Reads the metrics exposition text; a metric with labels is summed over them.
    pub fn parse(text: &str) -> Counts {
        let mut c = Counts::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let name = name.split('{').next().unwrap_or(name);
            let Ok(v) = value.parse::<f64>() else {
                continue;
            };
            let slot = match name {
                "sfu_rooms" => &mut c.rooms,
                "sfu_participants" => &mut c.participants,
                "sfu_socketio_connections" => &mut c.sockets,
                "sfu_sessions" => &mut c.sessions,
                "sfu_tracks" => &mut c.tracks,
                "sfu_worker_down_tracks" => &mut c.subscriptions,
                "sfu_forwarded_packets_total" => &mut c.forwarded_packets,
                _ => continue,
            };
            *slot += v as u64;
        }
        c
    }

    /// Whether the server holds nothing for anyone (forwarded packets are a running total).
    pub fn all_zero(&self) -> bool {
        [
            self.rooms,
            self.participants,
            self.sockets,
            self.sessions,
            self.tracks,
            self.subscriptions,
        ] == [0; 6]
    }
}

impl Sample {
    /// Files open now beyond those open at `idle`.
    pub fn files_left_since(&self, idle: &Sample) -> u64 {
        self.open_files.saturating_sub(idle.open_files)
    }
}

/// How much resident memory may grow after the reference sample.
pub const RSS_GROWTH_LIMIT_PCT: f64 = 10.0;

/// The sample memory growth is measured from: the first one a minute in, or halfway through
/// a run shorter than two minutes (whose first minute is most of it).
pub fn reference(samples: &[Sample], run_secs: f64) -> Option<usize> {
    let at = reference_secs(run_secs);
    samples.iter().position(|s| s.secs >= at)
}

/// When, in a run of `run_secs`, the reference sample is due.
fn reference_secs(run_secs: f64) -> f64 {
    60f64.min(run_secs / 2.0)
}

/// The largest growth of resident memory after the reference sample, in percent of it.
pub fn rss_growth_pct(samples: &[Sample], reference: usize) -> f64 {
    let base = samples[reference].rss_mb;
    samples[reference..]
        .iter()
        .map(|s| (s.rss_mb / base - 1.0) * 100.0)
        .fold(0.0, f64::max)
}

/// Everything wrong with a soak: memory that grew under a steady load, anything the server
/// still holds after every member left, files it did not close, and media that never flowed.
pub fn problems(idle: &Sample, samples: &[Sample], end: &Sample, run_secs: f64) -> Vec<String> {
    let mut out = Vec::new();
    match reference(samples, run_secs) {
        None => out.push(format!(
            "no sample past {:.0} s to measure memory growth from",
            reference_secs(run_secs)
        )),
        Some(r) => {
            let growth = rss_growth_pct(samples, r);
            if growth > RSS_GROWTH_LIMIT_PCT {
                out.push(format!(
                    "resident memory grew {growth:.1}% after {:.0} s ({:.1} MB then), more than {RSS_GROWTH_LIMIT_PCT}%",
                    samples[r].secs, samples[r].rss_mb
                ));
            }
        }
    }
    out.extend(leftovers(idle, end));
    let forwarded = |s: Option<&Sample>| s.map_or(0, |s| s.counts.forwarded_packets);
    if forwarded(samples.last()) <= forwarded(samples.first()) {
        out.push("no media was forwarded between the first and the last sample".into());
    }
    out
}

/// What the server still holds at `end`, after every member left, that it did not hold at
/// `idle`: anything counted, and open files. Empty once it has let go of everything.
pub fn leftovers(idle: &Sample, end: &Sample) -> Vec<String> {
    let mut out = Vec::new();
    if !end.counts.all_zero() {
        out.push(format!(
            "after every member left the server still holds {:?}",
            end.counts
        ));
    }
    if end.files_left_since(idle) > 0 {
        out.push(format!(
            "{} files open after every member left, {} before anyone joined",
            end.open_files, idle.open_files
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = "# HELP sfu_rooms Rooms with at least one member.
# TYPE sfu_rooms gauge
sfu_rooms 4
sfu_participants 19
sfu_socketio_connections 20
sfu_sessions 19
sfu_tracks 38
sfu_worker_down_tracks{worker=\"0\"} 60
sfu_worker_down_tracks{worker=\"1\"} 12
sfu_forwarded_packets_total 123456
sfu_rooms_by_mode{mode=\"sfu\"} 4
";

    #[test]
    fn reads_the_counts_and_sums_labelled_ones() {
        let c = Counts::parse(METRICS);
        assert_eq!(
            c,
            Counts {
                rooms: 4,
                participants: 19,
                sockets: 20,
                sessions: 19,
                tracks: 38,
                subscriptions: 72,
                forwarded_packets: 123456,
            }
        );
        assert!(!c.all_zero());
        assert!(Counts::parse("garbage\nsfu_rooms x\n").all_zero());
    }

    fn at(secs: f64, rss_mb: f64, forwarded: u64) -> Sample {
        Sample {
            secs,
            rss_mb,
            open_files: 20,
            members: 5,
            counts: Counts {
                forwarded_packets: forwarded,
                ..Counts::default()
            },
        }
    }

    fn run(rss: &[f64]) -> Vec<Sample> {
        rss.iter()
            .enumerate()
            .map(|(i, &r)| at(10.0 * (i + 1) as f64, r, 1000 * i as u64))
            .collect()
    }

    #[test]
    fn growth_is_measured_from_a_minute_in_or_half_a_short_run() {
        let samples = run(&[10.0, 30.0, 40.0, 40.0, 41.0, 42.0, 42.0, 43.0]);
        assert_eq!(reference(&samples, 600.0), Some(5));
        assert_eq!(reference(&samples, 60.0), Some(2));
        assert!((rss_growth_pct(&samples, 5) - 100.0 / 42.0).abs() < 1e-9);
        assert_eq!(reference(&samples[..3], 600.0), None);
    }

    #[test]
    fn a_clean_run_has_no_problems() {
        let idle = at(0.0, 8.0, 0);
        let samples = run(&[10.0, 30.0, 40.0, 40.0, 41.0, 42.0, 43.0, 43.5]);
        let end = at(100.0, 40.0, 9999);
        assert_eq!(problems(&idle, &samples, &end, 80.0), Vec::<String>::new());
    }

    #[test]
    fn growth_leftovers_open_files_and_no_media_are_each_a_problem() {
        let idle = at(0.0, 8.0, 0);
        let samples = run(&[10.0, 30.0, 40.0, 40.0, 41.0, 42.0, 43.0, 50.0]);
        let mut end = at(100.0, 40.0, 9999);
        end.counts.sessions = 1;
        end.open_files = 21;
        let p = problems(&idle, &samples, &end, 80.0);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("grew 25.0%"), "{p:?}");
        assert!(p[1].contains("sessions: 1"), "{p:?}");
        assert!(p[2].contains("21 files open"), "{p:?}");

        let flat: Vec<Sample> = run(&[10.0; 8])
            .into_iter()
            .map(|s| Sample {
                counts: Counts::default(),
                ..s
            })
            .collect();
        let p = problems(&idle, &flat, &at(100.0, 10.0, 0), 80.0);
        assert_eq!(
            p,
            vec!["no media was forwarded between the first and the last sample"]
        );
    }
}
