//! A worker's load over the last second: packets in and out per second, and the share of a
//! core its thread used. The figures come from samples the worker takes once a second; the
//! thread's CPU clock is read on the worker's own thread.

use std::time::{Duration, Instant};

/// How often the worker samples its load.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// One reading of a worker's counters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub at: Instant,
    pub cpu: Duration,
    pub packets_in: u64,
    pub packets_out: u64,
}

/// Rates between the two latest samples.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Rates {
    pub packets_in_per_second: f64,
    pub packets_out_per_second: f64,
    /// Share of one core, 0 to 1.
    pub cpu_utilization: f64,
}

/// The latest sample and the rates that led to it.
#[derive(Debug)]
pub(crate) struct LoadMeter {
    last: Sample,
    rates: Rates,
}

impl LoadMeter {
    pub(crate) fn new(first: Sample) -> LoadMeter {
        LoadMeter {
            last: first,
            rates: Rates::default(),
        }
    }

    /// When the next sample is due.
    pub(crate) fn next_due(&self) -> Instant {
        self.last.at + SAMPLE_EVERY
    }

    /// Takes a sample: the rates become those since the previous one. Counters that went
    /// backwards (a worker started afresh) count as a new start.
    pub(crate) fn handle_sample(&mut self, s: Sample) {
        let secs = s.at.saturating_duration_since(self.last.at).as_secs_f64();
        if secs > 0.0 {
            let per_sec = |now: u64, before: u64| now.saturating_sub(before) as f64 / secs;
            self.rates = Rates {
                packets_in_per_second: per_sec(s.packets_in, self.last.packets_in),
                packets_out_per_second: per_sec(s.packets_out, self.last.packets_out),
                cpu_utilization: s.cpu.saturating_sub(self.last.cpu).as_secs_f64() / secs,
            };
        }
        self.last = s;
    }

    pub(crate) fn rates(&self) -> Rates {
        self.rates
    }
}

/// CPU time the calling thread has used.
pub(crate) fn thread_cpu() -> Duration {
    use nix::time::{ClockId, clock_gettime};
    // The thread CPU clock exists on every Linux; a zero reading only blanks the figure.
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(Duration::ZERO, Duration::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: Instant, cpu_ms: u64, packets_in: u64, packets_out: u64) -> Sample {
        Sample {
            at,
            cpu: Duration::from_millis(cpu_ms),
            packets_in,
            packets_out,
        }
    }

    #[test]
    fn rates_between_samples() {
        let t0 = Instant::now();
        let mut m = LoadMeter::new(sample(t0, 100, 1_000, 5_000));
        assert_eq!(m.next_due(), t0 + SAMPLE_EVERY);
        m.handle_sample(sample(t0 + Duration::from_secs(2), 600, 3_000, 13_000));
        let r = m.rates();
        assert_eq!(r.packets_in_per_second, 1_000.0);
        assert_eq!(r.packets_out_per_second, 4_000.0);
        assert!((r.cpu_utilization - 0.25).abs() < 1e-9);
        // A fresh start: counters went back to zero.
        m.handle_sample(sample(t0 + Duration::from_secs(3), 700, 10, 20));
        assert_eq!(m.rates().packets_out_per_second, 0.0);
    }

    #[test]
    fn the_thread_clock_advances() {
        let before = thread_cpu();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(thread_cpu() > before);
    }
}
