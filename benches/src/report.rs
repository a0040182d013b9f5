//! The figures of a run, as a table for people and JSON for scripts.

pub use crate::scenario::Measurement;
use crate::target::Target;
use serde::Serialize;

/// A whole invocation's results.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `nproc`.
    pub cpus: usize,
    /// The CPU model, from /proc/cpuinfo.
    pub cpu_model: String,
    /// Every run, in order.
    pub runs: Vec<Measurement>,
    /// The measured target's packets/s per core over the baseline's, per pair of runs
    /// (how many times less CPU a forwarded packet costs it).
    pub ratios: Vec<f64>,
    /// For `--find-max`: the largest subscriber count per room that held the loss and
    /// latency bounds.
    pub max_subscribers: Option<u32>,
}

/// The machine's CPU model.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// What a run loaded: `sfu`, `relay` or `janus`, and `sfu-w<N>` for an SFU with more than
/// one media worker.
pub fn label(m: &Measurement) -> String {
    let name = format!("{:?}", m.target).to_lowercase();
    if m.target == Target::Sfu && m.workers > 1 {
        format!("{name}-w{}", m.workers)
    } else {
        name
    }
}

/// The human table.
pub fn table(r: &Report) -> String {
    let mut out = format!(
        "{} CPUs: {}\n\n{:<7} {:<8} {:>7} {:>10} {:>8} {:>7} {:>8} {:>8} {:>8} {:>9} {:>11} {:>9} {:>8} {:>7}  {}\n",
        r.cpus,
        r.cpu_model,
        "target",
        "scenario",
        "members",
        "pkts/s",
        "Mbit/s",
        "loss%",
        "p50 ms",
        "p99 ms",
        "srv cpu",
        "µs/pkt",
        "pkts/s/core",
        "RSS MB",
        "kB/peer",
        "gen cpu",
        "worker cpu",
    );
    for m in &r.runs {
        out.push_str(&format!(
            "{:<7} {:<8} {:>7} {:>10.0} {:>8.1} {:>7.2} {:>8.2} {:>8.2} {:>8.2} {:>9.2} {:>11.0} {:>9.1} {:>8.1} {:>7.2}  {}\n",
            label(m),
            m.scenario.name,
            m.scenario.participants(),
            m.delivered_pps,
            m.delivered_mbps,
            m.loss_pct,
            m.latency_p50_ms,
            m.latency_p99_ms,
            m.server_cpu_cores,
            m.server_cpu_us_per_packet,
            m.pps_per_core,
            m.server_rss_mb,
            m.rss_per_participant_kb,
            m.generator_cpu_cores,
            worker_cpu(m),
        ));
    }
    out.push_str(&pairs_table(r));
    if let Some(n) = r.max_subscribers {
        out.push_str(&format!(
            "\nmax subscribers per room (loss ≤ 1%, p99 ≤ 10 ms): {n}\n"
        ));
    }
    out
}

/// Each media worker thread's CPU, in cores: `0.91 0.88`.
pub fn worker_cpu(m: &Measurement) -> String {
    let each: Vec<String> = m
        .worker_cpu_cores
        .iter()
        .map(|c| format!("{c:.2}"))
        .collect();
    each.join(" ")
}

/// The (target, baseline) pairs of runs that alternate target and baseline.
pub fn pairs(runs: &[Measurement]) -> impl Iterator<Item = (&Measurement, &Measurement)> {
    runs.chunks(2).filter_map(|p| match p {
        [a, b] if label(a) != label(b) => Some((a, b)),
        _ => None,
    })
}

/// How many times less server CPU a delivered packet costs `a` than `b`: its packets/s per
/// core over `b`'s, which is `b`'s µs per packet over `a`'s. `None` when `b` used no CPU.
pub fn cpu_ratio(a: &Measurement, b: &Measurement) -> Option<f64> {
    (b.pps_per_core > 0.0).then(|| a.pps_per_core / b.pps_per_core)
}

/// Pair by pair, the target's figures against the baseline's, with the medians.
fn pairs_table(r: &Report) -> String {
    let pairs: Vec<(&Measurement, &Measurement)> = pairs(&r.runs).collect();
    let Some((a0, b0)) = pairs.first() else {
        return String::new();
    };
    let (a, b) = (label(a0), label(b0));
    let mut out = format!(
        "\n{a} against {b}, pair by pair (µs per packet, p99 in ms, RSS in MB; ratios are {a} ÷ {b},\n\
         except CPU ×less: {b} µs per packet ÷ {a} µs per packet)\n\
         {:<6} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}\n",
        "pair",
        format!("{a} pkt/s"),
        format!("{b} pkt/s"),
        format!("{a} µs"),
        format!("{b} µs"),
        "CPU ×less",
        format!("{a} loss%"),
        format!("{b} loss%"),
        format!("{a} p99"),
        format!("{b} p99"),
        format!("{a} RSS"),
        format!("{b} RSS"),
        "RSS ÷",
        "pps ÷",
    );
    let ratio = |x: f64, y: f64| if y > 0.0 { x / y } else { 0.0 };
    let rows: Vec<[f64; 13]> = pairs
        .iter()
        .map(|(x, y)| {
            [
                x.delivered_pps,
                y.delivered_pps,
                x.server_cpu_us_per_packet,
                y.server_cpu_us_per_packet,
                cpu_ratio(x, y).unwrap_or(0.0),
                x.loss_pct,
                y.loss_pct,
                x.latency_p99_ms,
                y.latency_p99_ms,
                x.server_rss_mb,
                y.server_rss_mb,
                ratio(x.server_rss_mb, y.server_rss_mb),
                ratio(x.delivered_pps, y.delivered_pps),
            ]
        })
        .collect();
    let line = |label: String, v: [f64; 13]| {
        format!(
            "{:<6} {:>11.0} {:>11.0} {:>11.2} {:>11.2} {:>11.2} {:>11.2} {:>11.2} {:>11.2} {:>11.2} {:>11.1} {:>11.1} {:>11.2} {:>11.2}\n",
            label, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12]
        )
    };
    for (i, row) in rows.iter().enumerate() {
        out.push_str(&line(format!("{}", i + 1), *row));
    }
    if rows.len() > 1 {
        let medians =
            std::array::from_fn(|c| median(&rows.iter().map(|r| r[c]).collect::<Vec<_>>()));
        out.push_str(&line("median".into(), medians));
    }
    out
}

/// The median of some figures (0 when empty).
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
