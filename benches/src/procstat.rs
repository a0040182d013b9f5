//! CPU time, memory and open files of a process, from `/proc`: how much the server spent.

use std::time::Duration;

/// A reading of one process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    /// User plus system CPU time so far.
    pub cpu: Duration,
    /// Resident set size, bytes.
    pub rss: u64,
}

/// Reads `/proc/<pid>/stat` (utime, stime) and `/proc/<pid>/status` (VmRSS).
pub fn sample(pid: u32) -> std::io::Result<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse(&stat, &status, clock_ticks())
        .ok_or_else(|| std::io::Error::other(format!("unreadable /proc/{pid}/stat")))
}

/// CPU time of each of the process's threads whose name starts with `prefix` (the SFU's
/// media workers are `sfu-media-<i>`), sorted by name.
pub fn threads(pid: u32, prefix: &str) -> std::io::Result<Vec<(String, Duration)>> {
    let ticks = clock_ticks();
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let dir = task?.path();
        // A thread that ended between the listing and the read is simply not counted.
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(dir.join("comm")),
            std::fs::read_to_string(dir.join("stat")),
        ) else {
            continue;
        };
        let name = comm.trim().to_owned();
        if name.starts_with(prefix)
            && let Some(s) = parse(&stat, "", ticks)
        {
            out.push((name, s.cpu));
        }
    }
    out.sort();
    Ok(out)
}

/// Open file descriptors of the process: sockets, the epoll instances, files.
pub fn open_files(pid: u32) -> std::io::Result<u64> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64)
}

/// Open file descriptors by kind (`socket`, `anon_inode:[eventpoll]`, `pipe`, or the file's
/// path), to say what leaked.
pub fn open_file_kinds(pid: u32) -> std::io::Result<std::collections::BTreeMap<String, u64>> {
    let mut kinds = std::collections::BTreeMap::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        // A descriptor closed between the listing and the read is simply not counted.
        let Ok(target) = std::fs::read_link(fd?.path()) else {
            continue;
        };
        let target = target.to_string_lossy();
        // `socket:[1234]` and `pipe:[1234]`: the kind, not the inode.
        let kind = target.split_once(":[").map_or(&*target, |(k, _)| k);
        *kinds.entry(kind.to_owned()).or_insert(0) += 1;
    }
    Ok(kinds)
}

fn clock_ticks() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100, |t| t as u64)
}

fn parse(stat: &str, status: &str, ticks: u64) -> Option<ProcSample> {
    // The command name is in parentheses and may hold spaces: count fields after it.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of the file, utime 14 and stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let cpu_ticks = utime + stime;
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Some(ProcSample {
        cpu: Duration::from_micros(cpu_ticks * 1_000_000 / ticks.max(1)),
        rss: rss_kb * 1024,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let stat = "1234 (sfu server) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 9 0 100 1000000 2000 18446744073709551615";
        let status = "Name:\tsfu\nVmRSS:\t   20480 kB\n";
        let s = parse(stat, status, 100).unwrap();
        assert_eq!(s.cpu, Duration::from_secs(3));
        assert_eq!(s.rss, 20480 * 1024);
    }

    #[test]
    fn reads_named_threads() {
        // The name is set on the new thread as it starts: wait until it runs.
        let (started, wait) = std::sync::mpsc::channel();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let t = std::thread::Builder::new()
            .name("probe-thread-x".into())
            .spawn(move || {
                started.send(()).unwrap();
                let _ = stopped.recv();
            })
            .unwrap();
        wait.recv().unwrap();
        let found = threads(std::process::id(), "probe-thread").unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "probe-thread-x");
        drop(stop);
        t.join().unwrap();
    }

    #[test]
    fn reads_this_process() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.rss > 0);
    }

    #[test]
    fn counts_open_files() {
        // Other tests open files meanwhile: only a floor and the error are certain.
        assert!(open_files(std::process::id()).unwrap() >= 1);
        assert!(open_files(u32::MAX).is_err());
    }
}
