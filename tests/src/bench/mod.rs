//! `cargo xtask bench`: xvrrpd (`--mode xdp` and `--mode socket`) against
//! keepalived 2.2.7, side by side in one run, on namespace labs built the same
//! way for each, from one generated keepalived.conf that every daemon reads.
//!
//! Cases (`--only NAME`): `scale` (CPU and peak RSS of master and backup for
//! N instances), `failover` (the client's interruption when the master's link
//! goes down), `mass` (1000 instances failing over at once), `timing` (advert
//! lateness under a CPU hog), `reload` (SIGHUP changing one of N
//! instances: the others' advert gaps), `arp` (ARP replies per second for a VIP: XDP
//! responder against the kernel), `kernel` (ns per packet of the XDP program,
//! BPF_PROG_TEST_RUN). `--quick` runs short versions and leaves out `mass`
//! unless `--only` names it.
//! The binary is `tests/src/bin/bench.rs`.

pub mod arp;
pub mod capture;
pub mod failover;
pub mod floor;
pub mod impls;
pub mod kernel;
pub mod mass;
pub mod plots;
pub mod reload;
pub mod report;
pub mod scale;
pub mod timing;
pub mod twin;
pub mod usage;

use std::{
    fs::File,
    os::fd::AsRawFd as _,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

/// Set by Ctrl-C: every loop of the benchmark checks it and winds down.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub quick: bool,
    /// Case names; empty means all.
    pub only: Vec<String>,
    /// `--scale N@CS,...`: these scale cases (N instances, advert interval in
    /// centiseconds; v2 at 1 s and up, v3 below) instead of the standard list.
    pub scale: Vec<(usize, u32)>,
    /// `--trials N`: failover trials per implementation and interval.
    pub trials: Option<usize>,
    /// `--failover CS,...`: failover advert intervals in centiseconds (v2 at 1 s and up, v3 below).
    pub failover: Vec<u32>,
    /// `--seed S`: the failover cut phases' seed.
    pub seed: Option<u64>,
}

impl Options {
    pub fn wants(&self, case: &str) -> bool {
        if self.only.is_empty() {
            !(self.quick && case == "mass")
        } else {
            self.only.iter().any(|o| o == case)
        }
    }
}

/// Sleeps `d` in short steps; false if interrupted meanwhile.
pub fn pause(d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if interrupted() {
            return false;
        }
        thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
    }
    !interrupted()
}

/// Polls `f` every `every` until true, `limit` passes or Ctrl-C; the time it took.
pub fn poll(limit: Duration, every: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit && !interrupted() {
        if f() {
            return Some(start.elapsed());
        }
        thread::sleep(every);
    }
    None
}

/// Moves the calling thread into namespace `name` for the rest of its life
/// (benchmark helper threads: probes, echo servers, floods, captures).
pub fn enter_for_good(ns_name: &str) {
    let target = File::open(format!("/run/netns/{ns_name}")).expect("open the namespace");
    // SAFETY: a valid namespace fd; only the calling thread changes namespace.
    let rc = unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {ns_name}: {}", std::io::Error::last_os_error());
}

/// Prints a progress line (stderr, so the table on stdout stays clean).
pub fn progress(text: &str) {
    eprintln!("bench: {text}");
}
