//! What a daemon costs, read from /proc: CPU time and peak memory of a whole
//! process tree (keepalived forks a VRRP child; xvrrpd is one process with
//! threads).
//!
//! CPU is utime + stime of `/proc/PID/stat`, which the kernel sums over every
//! thread of the process, live or exited, plus cutime + cstime (children it
//! has reaped). `/proc/PID/task/*/schedstat` gives the same time in
//! nanoseconds for live threads: kept as a finer cross-check for daemons that
//! use less than a clock tick in a window.

use std::{collections::HashMap, fs};

/// One reading of a process tree.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// utime + stime + cutime + cstime over the tree, in clock ticks.
    pub ticks: u64,
    /// Time on CPU of every live thread of the tree, in ns (schedstat).
    pub run_ns: u64,
    /// VmHWM summed over the tree, in KiB.
    pub hwm_kib: u64,
    /// VmRSS summed over the tree, in KiB.
    pub rss_kib: u64,
    /// Proportional set size summed over the tree, in KiB (`smaps_rollup`):
    /// pages shared by keepalived's parent and child counted once in all,
    /// not once per process as RSS counts them.
    pub pss_kib: u64,
    /// Kernel memory of the BPF maps the tree holds open (fdinfo `memlock`), in bytes.
    pub bpf_memlock: u64,
    /// Processes in the tree.
    pub procs: usize,
}

/// Time the hypervisor stole so far, in ms: from CPU `cpu` (`cpuN` of
/// /proc/stat, where a daemon and its hog are pinned) or summed over all
/// (`None`). A window whose CPUs were stolen measured the host, not the
/// daemon: its timers ran late, its wake-ups waited.
pub fn steal_ms(cpu: Option<usize>) -> Result<f64, String> {
    let prefix = cpu.map_or_else(|| "cpu ".to_owned(), |n| format!("cpu{n} "));
    let ticks: u64 = fs::read_to_string("/proc/stat")
        .map_err(|e| format!("/proc/stat: {e}"))?
        .lines()
        .find(|l| l.starts_with(&prefix))
        .and_then(|l| l.split_whitespace().nth(8)?.parse().ok())
        .ok_or_else(|| format!("/proc/stat: no steal time for {}", prefix.trim()))?;
    Ok(ticks as f64 * 1000.0 / ticks_per_sec() as f64)
}

/// CPUs the host has online (the `cpuN` lines of /proc/stat).
pub fn cpus() -> usize {
    fs::read_to_string("/proc/stat")
        .map_or(1, |t| {
            t.lines()
                .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
                .count()
        })
        .max(1)
}

/// Clock ticks per second of utime/stime (USER_HZ).
pub fn ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).unwrap_or(100).max(1)
}

/// The fields of /proc/PID/stat after the command name (field 3 onwards).
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    stat_fields_at(&format!("/proc/{pid}"))
}

/// The same for the process or thread directory `dir` (`/proc/PID`,
/// `/proc/self/task/TID`).
fn stat_fields_at(dir: &str) -> Option<Vec<u64>> {
    let text = fs::read_to_string(format!("{dir}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    // Field 3 (state) is a letter: keep its slot so indexes match `man 5 proc` - 3.
    Some(
        rest.split_whitespace()
            .map(|f| f.parse::<u64>().unwrap_or(0))
            .collect(),
    )
}

/// `root` and every process descended from it.
pub fn tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(f) = stat_fields(pid)
                && let Some(&ppid) = f.get(1)
            {
                children
                    .entry(u32::try_from(ppid).unwrap_or(0))
                    .or_default()
                    .push(pid);
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(c) = children.get(&out[i]) {
            out.extend(c);
        }
        i += 1;
    }
    out
}

fn status_kib(pid: u32, key: &str) -> u64 {
    kib_field(&format!("/proc/{pid}/status"), key)
}

/// A `KEY: N kB` line of a /proc file, in KiB (0 when absent).
fn kib_field(path: &str, key: &str) -> u64 {
    fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn schedstat_ns(pid: u32) -> u64 {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
        .sum()
}

fn bpf_memlock(pid: u32) -> u64 {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    let mut total = 0;
    // Once per map: a process may hold one map under several descriptors
    // (the daemon keeps a duplicate for each mapped array it may remap).
    let mut seen = std::collections::HashSet::new();
    for fd in fds.flatten() {
        let is_map = fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy().contains("bpf-map"));
        if !is_map {
            continue;
        }
        let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy()));
        if let Ok(info) = info {
            let id = info.lines().find(|l| l.starts_with("map_id:")).map(str::to_owned);
            if id.is_some() && !seen.insert(id) {
                continue;
            }
            total += info
                .lines()
                .find(|l| l.starts_with("memlock:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

/// Reads the tree under `root` now.
pub fn read(root: u32) -> Usage {
    let mut u = Usage::default();
    for pid in tree(root) {
        let Some(f) = stat_fields(pid) else { continue };
        // utime, stime, cutime, cstime: fields 14-17, indexes 11-14 here.
        u.ticks += f.get(11..15).map_or(0, |s| s.iter().sum());
        u.run_ns += schedstat_ns(pid);
        u.hwm_kib += status_kib(pid, "VmHWM:");
        u.rss_kib += status_kib(pid, "VmRSS:");
        u.pss_kib += kib_field(&format!("/proc/{pid}/smaps_rollup"), "Pss:");
        u.bpf_memlock += bpf_memlock(pid);
        u.procs += 1;
    }
    u
}

/// The CPU of one thread of this process now (a benchmark helper thread:
/// the send floor's sender); the memory fields stay 0.
pub fn read_thread(tid: u32) -> Usage {
    let dir = format!("/proc/self/task/{tid}");
    let mut u = Usage::default();
    if let Some(f) = stat_fields_at(&dir) {
        // utime, stime: a thread has no children of its own.
        u.ticks = f.get(11..13).map_or(0, |s| s.iter().sum());
    }
    u.run_ns = fs::read_to_string(format!("{dir}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0);
    u.procs = 1;
    u
}

/// CPU use between two readings as % of one core: (ticks, schedstat).
pub fn cpu_percent(before: &Usage, after: &Usage, secs: f64) -> (f64, f64) {
    let hz = ticks_per_sec() as f64;
    let ticks = after.ticks.saturating_sub(before.ticks) as f64;
    let ns = after.run_ns.saturating_sub(before.run_ns) as f64;
    (ticks / hz / secs * 100.0, ns / 1e9 / secs * 100.0)
}
