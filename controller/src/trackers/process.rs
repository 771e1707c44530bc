//! `vrrp_track_process`: how many processes match, from the kernel's process
//! events (the netlink process connector: fork, exec, comm change, exit),
//! after one scan of /proc; keepalived 2.2.7 `core/track_process.c`.
//!
//! The kernel sends process events only to sockets in the host's network
//! namespace. A daemon started in another one makes its socket there at
//! start-up ([`host_connector`]); where it cannot (a container), the listen
//! request gets no answer: keepalived then leaves `track_process` failing,
//! xvrrpd scans /proc every [`POLL`] instead and says so. Matching is keepalived's: the kernel's process name (`comm`, at most
//! 15 characters), or with `full_command` the command line's first word
//! and, when configured, its parameters.

use std::{
    collections::HashSet,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    time::Duration,
};

use tokio::{io::unix::AsyncFd, sync::mpsc, task::JoinHandle, time::Instant};
use tracing::{info, warn};

use super::TrackEvent;
use crate::config::model::{ParamMatch, TrackProcessDef};

/// How often /proc is scanned when the kernel's process events are not available.
pub const POLL: Duration = Duration::from_secs(1);
/// How long the kernel has to confirm the listen request.
const ACK_WAIT: Duration = Duration::from_secs(1);

// linux/connector.h, linux/cn_proc.h
const NETLINK_CONNECTOR: i32 = 11;
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_EVENT_NONE: u32 = 0;
const PROC_EVENT_FORK: u32 = 1;
const PROC_EVENT_EXEC: u32 = 2;
const PROC_EVENT_COMM: u32 = 0x200;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;
/// nlmsghdr (16) + cn_msg (20): where the proc_event starts.
const EVENT_AT: usize = 36;
/// proc_event: what, cpu, timestamp (16): where its data starts.
const DATA_AT: usize = EVENT_AT + 16;

/// A process seen: its pid, `comm` and command line (NUL-separated words).
#[derive(Debug, Clone)]
pub struct Seen {
    pub pid: i32,
    pub comm: String,
    pub cmdline: Vec<u8>,
}

/// keepalived's `check_params`: `actual` is the command line after the first
/// word (NUL-terminated words), compared with the configured parameters.
fn params_match(how: ParamMatch, configured: &[String], actual: &[u8]) -> bool {
    let mut want: Vec<u8> = Vec::new();
    for p in configured {
        want.extend_from_slice(p.as_bytes());
        want.push(0);
    }
    match how {
        ParamMatch::None => true,
        ParamMatch::Exact => actual == want.as_slice(),
        ParamMatch::Partial => actual.starts_with(&want),
        ParamMatch::Initial => want.is_empty() || actual.starts_with(&want[..want.len() - 1]),
    }
}

/// Whether a process counts for `def`.
pub fn matches(def: &TrackProcessDef, seen: &Seen) -> bool {
    if !def.full_command {
        return seen.comm == def.process;
    }
    let mut words = seen.cmdline.splitn(2, |b| *b == 0);
    let first = words.next().unwrap_or_default();
    if first != def.process.as_bytes() {
        return false;
    }
    params_match(def.param_match, &def.params, words.next().unwrap_or_default())
}

/// Reads a process's `comm` and, when some tracker matches command lines
/// (`full_command`), the first [`CMDLINE_MAX`] bytes of its command line
/// (keepalived reads it only then: it is the process's memory, paged in);
/// `None` when it is gone or a zombie.
fn read(pid: i32, cmdline: bool) -> Option<Seen> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    if stat.get(close + 2..close + 3) == Some("Z") {
        return None;
    }
    let mut buf = Vec::new();
    if cmdline && let Ok(f) = std::fs::File::open(format!("/proc/{pid}/cmdline")) {
        use std::io::Read as _;
        let _ = f.take(CMDLINE_MAX).read_to_end(&mut buf);
    }
    Some(Seen {
        pid,
        comm,
        cmdline: buf,
    })
}

/// How much of a command line is read.
const CMDLINE_MAX: u64 = 4096;

/// Every process (thread group) running now.
fn scan(cmdline: bool) -> Vec<Seen> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| read(pid, cmdline))
        .collect()
}

/// Why a count changed: keepalived delays a quorum gained by a fork
/// (`fork_delay`) and one lost by an exit (`terminate_delay`); changes by
/// exec or a new process name count at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    Fork,
    Exit,
    Other,
}

/// One `vrrp_track_process` and what it counts.
pub struct Counter {
    pub def: TrackProcessDef,
    pids: HashSet<i32>,
    /// The quorum state last reported.
    have: Option<bool>,
    /// A delayed change and when it is decided.
    pending: Option<Instant>,
}

impl Counter {
    pub fn new(def: TrackProcessDef) -> Self {
        Self {
            def,
            pids: HashSet::new(),
            have: None,
            pending: None,
        }
    }

    fn within(&self) -> bool {
        let n = u32::try_from(self.pids.len()).unwrap_or(u32::MAX);
        (self.def.quorum..=self.def.quorum_max).contains(&n)
    }

    /// After the count changed for `cause`: the new quorum state to report
    /// now, if there is one; a delayed change is decided by [`Self::expire`].
    pub fn recount(&mut self, cause: Cause, now: Instant) -> Option<bool> {
        let within = self.within();
        if self.have == Some(within) {
            // Back where it was: a delayed change is off (keepalived
            // cancels the timer).
            self.pending = None;
            return None;
        }
        let delay_ms = match cause {
            Cause::Fork if self.have.is_some() => self.def.fork_delay_ms,
            Cause::Exit if self.have.is_some() => self.def.terminate_delay_ms,
            _ => 0,
        };
        if delay_ms > 0 {
            self.pending
                .get_or_insert(now + Duration::from_millis(u64::from(delay_ms)));
            return None;
        }
        self.pending = None;
        self.have = Some(within);
        Some(within)
    }

    /// A delayed change whose time has come: the quorum state then.
    pub fn expire(&mut self, now: Instant) -> Option<bool> {
        if self.pending.is_none_or(|at| at > now) {
            return None;
        }
        self.pending = None;
        let within = self.within();
        (self.have != Some(within)).then(|| {
            self.have = Some(within);
            within
        })
    }

    /// `seen` runs now (after an exec, a scan, a name change): counted or not.
    fn see(&mut self, seen: &Seen) -> bool {
        if matches(&self.def, seen) {
            self.pids.insert(seen.pid)
        } else {
            self.pids.remove(&seen.pid)
        }
    }
}

/// All counters, fed from one source of events.
struct Counters {
    list: Vec<Counter>,
    tx: mpsc::UnboundedSender<TrackEvent>,
    /// Some tracker matches command lines.
    cmdline: bool,
}

impl Counters {
    fn report(&self, idx: usize, up: Option<bool>) -> bool {
        let Some(up) = up else { return true };
        let c = &self.list[idx];
        info!(
            process = %c.def.name,
            running = c.pids.len(),
            quorum = up,
            "tracked process quorum {}",
            if up { "gained" } else { "lost" }
        );
        self.tx
            .send(TrackEvent::Process {
                name: c.def.name.clone(),
                up,
            })
            .is_ok()
    }

    fn each(&mut self, cause: Cause, mut change: impl FnMut(&mut Counter) -> bool) -> bool {
        let now = Instant::now();
        for i in 0..self.list.len() {
            if change(&mut self.list[i]) {
                let up = self.list[i].recount(cause, now);
                if !self.report(i, up) {
                    return false;
                }
            }
        }
        true
    }

    /// A full picture (start, lost events, polling): counts replaced.
    fn rescan(&mut self, cause: Cause) -> bool {
        let all = scan(self.cmdline);
        let now = Instant::now();
        for i in 0..self.list.len() {
            let c = &mut self.list[i];
            let fresh: HashSet<i32> = all.iter().filter(|s| matches(&c.def, s)).map(|s| s.pid).collect();
            let grew = fresh.len() > c.pids.len();
            c.pids = fresh;
            let cause = match cause {
                Cause::Other => Cause::Other,
                _ if grew => Cause::Fork,
                _ => Cause::Exit,
            };
            let up = c.recount(cause, now);
            if !self.report(i, up) {
                return false;
            }
        }
        true
    }

    fn expire(&mut self) -> bool {
        let now = Instant::now();
        (0..self.list.len()).all(|i| {
            let up = self.list[i].expire(now);
            self.report(i, up)
        })
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.list.iter().filter_map(|c| c.pending).min()
    }

    /// One process event from the kernel.
    fn on_event(&mut self, what: u32, data: &[u8]) -> bool {
        let word = |i: usize| {
            data.get(i * 4..i * 4 + 4)
                .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        };
        match what {
            // A new process (not a thread) is a copy of its parent.
            PROC_EVENT_FORK => {
                let (Some(parent), Some(child_pid), Some(child)) = (word(1), word(2), word(3)) else {
                    return true;
                };
                if child_pid != child {
                    return true;
                }
                self.each(Cause::Fork, |c| c.pids.contains(&parent) && c.pids.insert(child))
            }
            PROC_EVENT_EXEC => {
                let (Some(pid), Some(tgid)) = (word(0), word(1)) else {
                    return true;
                };
                if pid != tgid {
                    return true;
                }
                match read(tgid, self.cmdline) {
                    Some(seen) => self.each(Cause::Other, |c| c.see(&seen)),
                    None => self.each(Cause::Other, |c| c.pids.remove(&tgid)),
                }
            }
            PROC_EVENT_COMM => {
                let (Some(pid), Some(tgid)) = (word(0), word(1)) else {
                    return true;
                };
                let comm = data.get(8..24).unwrap_or_default();
                let comm =
                    String::from_utf8_lossy(comm.split(|b| *b == 0).next().unwrap_or_default()).into_owned();
                if pid != tgid {
                    return true;
                }
                let seen = Seen {
                    pid: tgid,
                    comm,
                    cmdline: Vec::new(),
                };
                self.each(Cause::Other, |c| !c.def.full_command && c.see(&seen))
            }
            PROC_EVENT_EXIT => {
                let (Some(pid), Some(tgid)) = (word(0), word(1)) else {
                    return true;
                };
                if pid != tgid {
                    return true;
                }
                self.each(Cause::Exit, |c| c.pids.remove(&tgid))
            }
            _ => true,
        }
    }
}

/// A process connector socket, bound to the process events group, in the
/// network namespace of the calling thread.
fn connector_socket() -> Result<OwnedFd, String> {
    // SAFETY: plain socket(2); the fd is owned at once.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            NETLINK_CONNECTOR,
        )
    };
    if raw < 0 {
        return Err(format!("socket: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: raw is a new, valid fd nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_nl is plain data; zeroed is a valid value.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = u16::try_from(libc::AF_NETLINK).unwrap_or_default();
    addr.nl_groups = CN_IDX_PROC;
    let len = u32::try_from(std::mem::size_of::<libc::sockaddr_nl>()).unwrap_or_default();
    // SAFETY: addr is a valid sockaddr_nl of `len` bytes.
    if unsafe { libc::bind(fd.as_raw_fd(), (&raw const addr).cast(), len) } < 0 {
        return Err(format!("bind: {}", std::io::Error::last_os_error()));
    }
    Ok(fd)
}

/// The network namespace the process started in, kept when `-s NAME` moves
/// it to another one (keepalived's `--namespace`).
static START_NETNS: std::sync::OnceLock<OwnedFd> = std::sync::OnceLock::new();

/// Keeps the network namespace the process runs in now, before `-s NAME`
/// leaves it.
pub fn remember_start_netns() {
    if let Ok(f) = std::fs::File::open("/proc/thread-self/ns/net") {
        let _ = START_NETNS.set(OwnedFd::from(f));
    }
}

/// A daemon running in a network namespace other than the host's (`ip netns
/// exec`, as OpenStack runs keepalived in its routers' namespaces, or
/// `keepalived -s NAME`) still hears the kernel's process events if its
/// connector socket lives in the host's namespace: a short-lived thread
/// enters it (the one the process started in with `-s`, else
/// `/proc/1/ns/net`; needs CAP_SYS_ADMIN, so at start-up) and makes the
/// socket there. keepalived does the same with `-s` only. `None` when the
/// daemon runs there already (the socket is made where it is used) or
/// cannot enter it (a container: /proc/1 is its own, or not ours to enter).
pub fn host_connector() -> Option<OwnedFd> {
    let host: OwnedFd = match START_NETNS.get() {
        Some(fd) => fd.try_clone().ok()?,
        None => match std::fs::File::open("/proc/1/ns/net") {
            Ok(f) => f.into(),
            Err(e) => {
                info!("vrrp_track_process: cannot see the host's network namespace (/proc/1/ns/net: {e})");
                return None;
            }
        },
    };
    let ours = std::fs::File::open("/proc/thread-self/ns/net").ok()?;
    if same_inode(&host, &OwnedFd::from(ours)) {
        return None;
    }
    let made = std::thread::spawn(move || -> Result<OwnedFd, String> {
        // SAFETY: setns on this (short-lived) thread only.
        if unsafe { libc::setns(host.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(format!("setns: {}", std::io::Error::last_os_error()));
        }
        connector_socket()
    })
    .join();
    match made {
        Ok(Ok(fd)) => Some(fd),
        Ok(Err(why)) => {
            info!("vrrp_track_process: cannot listen from the host's network namespace ({why})");
            None
        }
        Err(_) => None,
    }
}

fn same_inode(a: &OwnedFd, b: &OwnedFd) -> bool {
    let stat = |fd: &OwnedFd| {
        // SAFETY: fstat into a zeroed stat of our own.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat on a descriptor we own.
        (unsafe { libc::fstat(fd.as_raw_fd(), &raw mut st) } == 0).then_some((st.st_dev, st.st_ino))
    };
    stat(a).is_some_and(|x| Some(x) == stat(b))
}

/// The netlink process connector, subscribed.
struct Connector {
    fd: AsyncFd<OwnedFd>,
}

impl Connector {
    /// Subscribes `made` (a socket from [`host_connector`]) or a new socket
    /// made here, and waits for the kernel's confirmation; why not, when it
    /// does not come.
    async fn open(made: Option<OwnedFd>) -> Result<Self, String> {
        let fd = match made {
            Some(fd) => fd,
            None => connector_socket()?,
        };
        // A busy host forks thousands of times a second: a larger buffer
        // loses fewer events (keepalived grows it on loss; lost events
        // mean a /proc scan here).
        let size: libc::c_int = 1 << 20;
        // SAFETY: setsockopt with an int of our own.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&raw const size).cast(),
                u32::try_from(std::mem::size_of::<libc::c_int>()).unwrap_or(4),
            );
        }
        let mut msg = Vec::with_capacity(EVENT_AT + 4);
        let total = u32::try_from(EVENT_AT + 4).unwrap_or_default();
        msg.extend_from_slice(&total.to_ne_bytes()); // nlmsg_len
        msg.extend_from_slice(&3u16.to_ne_bytes()); // NLMSG_DONE
        msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
        msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
        msg.extend_from_slice(&std::process::id().to_ne_bytes()); // pid
        msg.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        msg.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
        msg.extend_from_slice(&0u32.to_ne_bytes()); // ack
        msg.extend_from_slice(&4u16.to_ne_bytes()); // len
        msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
        msg.extend_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
        // SAFETY: sending a buffer we own.
        if unsafe { libc::send(fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) } < 0 {
            return Err(format!("listen request: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: the AsyncFd owns the socket; nothing else closes it.
        let fd =
            unsafe { AsyncFd::register(fd) }.map_err(|e| format!("register: {}", std::io::Error::from(e)))?;
        let conn = Self { fd };
        // The kernel confirms with a PROC_EVENT_NONE whose first word is
        // its error number (0: listening).
        let confirmed = tokio::time::timeout(ACK_WAIT, async {
            loop {
                let mut ack = None;
                conn.receive(|what, data| {
                    if what == PROC_EVENT_NONE {
                        ack = Some(
                            data.get(..4)
                                .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
                        );
                    }
                })
                .await?;
                if let Some(err) = ack {
                    return Ok::<u32, std::io::Error>(err);
                }
            }
        })
        .await;
        match confirmed {
            Ok(Ok(0)) => Ok(conn),
            Ok(Ok(err)) => Err(format!(
                "the kernel refused: {}",
                std::io::Error::from_raw_os_error(i32::try_from(err).unwrap_or(0))
            )),
            Ok(Err(e)) => Err(format!("receive: {e}")),
            Err(_) => Err("no answer from the kernel".to_owned()),
        }
    }

    /// Waits for a datagram and hands each event in it to `each`. An
    /// `ENOBUFS` error means events were lost.
    async fn receive(&self, mut each: impl FnMut(u32, &[u8])) -> std::io::Result<()> {
        let mut buf = [0u8; 8192];
        let n = loop {
            let mut guard = self.fd.readable().await?;
            // SAFETY: receiving into a buffer we own.
            let got = unsafe {
                libc::recv(
                    self.fd.get_ref().as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                )
            };
            if let Ok(n) = usize::try_from(got) {
                break n;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::WouldBlock {
                guard.clear_ready();
                continue;
            }
            return Err(e);
        };
        let mut at = 0;
        while at + DATA_AT <= n {
            let len = u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
            if len < DATA_AT || at + len > n {
                break;
            }
            let what = u32::from_ne_bytes([
                buf[at + EVENT_AT],
                buf[at + EVENT_AT + 1],
                buf[at + EVENT_AT + 2],
                buf[at + EVENT_AT + 3],
            ]);
            each(what, &buf[at + DATA_AT..at + len]);
            at += len.next_multiple_of(4);
        }
        Ok(())
    }
}

/// Starts counting: reports every tracker's quorum now, then each change.
/// `host`: a connector socket made in the host's network namespace (a copy
/// is used), see [`host_connector`].
pub fn spawn(
    defs: &[TrackProcessDef],
    host: Option<&OwnedFd>,
    tx: &mpsc::UnboundedSender<TrackEvent>,
) -> Option<JoinHandle<()>> {
    if defs.is_empty() {
        return None;
    }
    let mut counters = Counters {
        list: defs.iter().cloned().map(Counter::new).collect(),
        tx: tx.clone(),
        cmdline: defs.iter().any(|d| d.full_command),
    };
    let made = host.and_then(|fd| fd.try_clone().ok());
    let from_host = made.is_some();
    Some(tokio::spawn(async move {
        let conn = match Connector::open(made).await {
            Ok(c) => {
                if from_host {
                    info!("vrrp_track_process: process events through the host's network namespace");
                }
                Some(c)
            }
            Err(why) => {
                warn!(
                    "vrrp_track_process: the kernel's process events are not available ({why}; they reach \
                     only the host's network namespace); scanning /proc every {POLL:?} instead"
                );
                None
            }
        };
        if !counters.rescan(Cause::Other) {
            return;
        }
        let mut poll = tokio::time::interval_at(Instant::now() + POLL, POLL);
        loop {
            let deadline = counters.next_deadline();
            let alive = tokio::select! {
                got = async {
                    match &conn {
                        Some(c) => {
                            let mut events = Vec::new();
                            let r = c.receive(|what, data| events.push((what, data.to_vec()))).await;
                            (r, events)
                        }
                        None => std::future::pending().await,
                    }
                } => match got {
                    (Ok(()), events) => events.iter().all(|(what, data)| counters.on_event(*what, data)),
                    (Err(e), _) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                        warn!("vrrp_track_process: process events were lost; scanning /proc");
                        counters.rescan(Cause::Other)
                    }
                    (Err(e), _) => {
                        warn!("vrrp_track_process: process events: {e}; scanning /proc");
                        counters.rescan(Cause::Other)
                    }
                },
                _ = poll.tick(), if conn.is_none() => counters.rescan(Cause::Fork),
                () = async {
                    match deadline {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => counters.expire(),
            };
            if !alive {
                return;
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(process: &str) -> TrackProcessDef {
        TrackProcessDef {
            name: "p".to_owned(),
            process: process.to_owned(),
            params: Vec::new(),
            param_match: ParamMatch::None,
            full_command: false,
            weight: 0,
            reverse: false,
            quorum: 1,
            quorum_max: u32::MAX,
            fork_delay_ms: 0,
            terminate_delay_ms: 0,
        }
    }

    fn seen(comm: &str, cmdline: &[&str]) -> Seen {
        let mut c = Vec::new();
        for w in cmdline {
            c.extend_from_slice(w.as_bytes());
            c.push(0);
        }
        Seen {
            pid: 1,
            comm: comm.to_owned(),
            cmdline: c,
        }
    }

    /// keepalived's `check_params` cases.
    #[test]
    fn matching_as_keepalived() {
        let nginx = seen("nginx", &["/usr/sbin/nginx", "-g", "daemon off;"]);
        assert!(matches(&def("nginx"), &nginx));
        assert!(!matches(&def("/usr/sbin/nginx"), &nginx));
        let mut full = def("/usr/sbin/nginx");
        full.full_command = true;
        assert!(matches(&full, &nginx));
        let with = |how, params: &[&str]| TrackProcessDef {
            param_match: how,
            params: params.iter().map(|p| (*p).to_owned()).collect(),
            ..full.clone()
        };
        assert!(matches(&with(ParamMatch::Exact, &["-g", "daemon off;"]), &nginx));
        assert!(!matches(&with(ParamMatch::Exact, &["-g"]), &nginx));
        assert!(!matches(&with(ParamMatch::Exact, &[]), &nginx));
        assert!(matches(&with(ParamMatch::Partial, &["-g"]), &nginx));
        assert!(!matches(&with(ParamMatch::Partial, &["-g", "daemon"]), &nginx));
        assert!(matches(&with(ParamMatch::Initial, &["-g", "daemon"]), &nginx));
        assert!(!matches(&with(ParamMatch::Initial, &["-x"]), &nginx));
        assert!(matches(&with(ParamMatch::Initial, &[]), &nginx));
        assert!(matches(
            &with(ParamMatch::Exact, &[]),
            &seen("x", &["/usr/sbin/nginx"])
        ));
    }

    #[test]
    fn delays_hold_a_change_and_a_return_cancels_it() {
        let mut d = def("sleep");
        d.fork_delay_ms = 100;
        d.terminate_delay_ms = 200;
        let mut c = Counter::new(d);
        let t0 = Instant::now();
        // The first count is reported at once.
        assert_eq!(c.recount(Cause::Other, t0), Some(false));
        c.pids.insert(10);
        assert_eq!(c.recount(Cause::Fork, t0), None);
        assert_eq!(c.expire(t0 + Duration::from_millis(50)), None);
        assert_eq!(c.expire(t0 + Duration::from_millis(100)), Some(true));
        // An exit, then a new one before the delay: no change at all.
        c.pids.clear();
        assert_eq!(c.recount(Cause::Exit, t0), None);
        c.pids.insert(11);
        assert_eq!(c.recount(Cause::Other, t0), None);
        assert_eq!(c.expire(t0 + Duration::from_secs(1)), None);
        // An exec away from the name counts at once.
        c.pids.clear();
        assert_eq!(c.recount(Cause::Other, t0), Some(false));
    }

    #[test]
    fn quorum_bounds() {
        let mut d = def("sleep");
        d.quorum = 2;
        d.quorum_max = 3;
        let mut c = Counter::new(d);
        let now = Instant::now();
        c.pids.extend([1]);
        assert_eq!(c.recount(Cause::Other, now), Some(false));
        c.pids.extend([2]);
        assert_eq!(c.recount(Cause::Other, now), Some(true));
        c.pids.extend([3, 4]);
        assert_eq!(c.recount(Cause::Other, now), Some(false));
    }
}
