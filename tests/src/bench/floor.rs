//! The send floor of a scale case: the master's adverts, byte for byte, from
//! a sender that does nothing else. One raw socket per link with the
//! daemon's own options (xvrrpd's `Sender`: bound to the link and its
//! address, TTL 255, CS6, through the IP output path and netfilter's OUTPUT
//! hook), one `sendmmsg` per link and tick, `ticks_per_interval(n)` ticks per advert
//! interval (the instances spread evenly over them, as xvrrpd's advert grid
//! spreads them; one instance, one tick: a wake-up per advert). Measured like a daemon (schedstat of its one thread), its
//! CPU is what the kernel's send path costs at the case's advert rate, with,
//! on a veth, the backup's receive (its XDP / TC program, the stack, the
//! socket), which runs in the sender's softirq and is charged to it: no
//! master that keeps that path can cost less in this lab.

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc,
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use xvrrpd::{
    net::advert_socket::Sender,
    vrrp::codec::advert::{Advert, Auth, ChecksumScope},
};

use serde_json::{Value, json};

use super::{
    enter_for_good, pause,
    scale::{Case, Timing},
    twin::PER_LINK,
    usage,
};

/// Send ticks per advert interval, at most.
pub const TICKS: usize = 16;

/// Send ticks per advert interval for `n` instances: never a tick with
/// nothing to send (N = 1: one wake-up per advert, what an ideal daemon
/// costs).
fn ticks_per_interval(n: usize) -> usize {
    TICKS.min(n).max(1)
}

/// What the sender did, for the raw results.
#[derive(Debug, Default)]
pub struct Sent {
    pub adverts: u64,
    pub ticks: u64,
    /// Adverts the kernel refused or a full buffer dropped.
    pub errors: u64,
    /// Ticks that started more than one tick late.
    pub late_ticks: u64,
}

/// The running sender (a thread of the benchmark, in the master's namespace).
/// Dropped without `stop` (a panic), it still stops sending.
pub struct Floor {
    stop: Arc<AtomicBool>,
    /// Ticks and late ticks so far, read while it runs.
    progress: Arc<[AtomicU64; 2]>,
    /// Its thread id: `/proc/self/task/TID` has its CPU.
    pub tid: u32,
    thread: Option<JoinHandle<Result<Sent, String>>>,
}

impl Drop for Floor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One link's socket and its adverts, by tick.
struct Link {
    sender: Sender,
    by_tick: Vec<Vec<(IpAddr, Vec<u8>)>>,
}

const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

/// The master's adverts of the twin lab (`twin::instances`: link k has
/// 10.k.0.1, VRIDs 1..=250, priority 200, one VIP 10.k.1.v), sockets open.
fn links(n: usize, version: u8, advert_cs: u32) -> Result<Vec<Link>, String> {
    let mut out: Vec<Link> = Vec::new();
    for i in 0..n {
        let (k, vrid) = (i / PER_LINK, i % PER_LINK + 1);
        if out.len() == k {
            let name = format!("v{k}");
            let cname = std::ffi::CString::new(name.clone()).map_err(|e| e.to_string())?;
            // SAFETY: a NUL-terminated name.
            let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
            if ifindex == 0 {
                return Err(format!(
                    "floor sender: no interface {name} in the master's namespace"
                ));
            }
            let src = IpAddr::V4(Ipv4Addr::new(10, k as u8, 0, 1));
            let sender =
                Sender::open(&name, ifindex, src, 255).map_err(|e| format!("floor sender: {name}: {e:#}"))?;
            out.push(Link {
                sender,
                by_tick: vec![Vec::new(); ticks_per_interval(n)],
            });
        }
        let vrid = vrid as u8;
        let advert = Advert {
            version,
            vrid,
            priority: 200,
            // v2: seconds; v3: centiseconds (RFC 3768 5.3.7, RFC 5798 5.2.7).
            interval: u16::try_from(if version == 2 { advert_cs / 100 } else { advert_cs })
                .unwrap_or(u16::MAX),
            auth: Auth::None,
            checksum: 0,
            addrs: vec![IpAddr::V4(Ipv4Addr::new(10, k as u8, 1, vrid))],
        };
        let link = &mut out[k];
        let bytes = advert.encode(ChecksumScope::for_advert(
            version,
            link.sender.src,
            IpAddr::V4(GROUP),
            false,
        ));
        link.by_tick[i % ticks_per_interval(n)].push((IpAddr::V4(GROUP), bytes));
    }
    Ok(out)
}

fn send(links: &mut [Link], tick: usize, sent: &mut Sent) {
    for link in links.iter_mut() {
        let batch = &link.by_tick[tick];
        let mut done = 0;
        while done < batch.len() {
            match link.sender.send_batch(&batch[done..]) {
                Ok(0) | Err(_) => {
                    // One refused (or a full buffer): counted, and the rest
                    // of the batch goes on, as the daemon's flush does.
                    sent.errors += 1;
                    done += 1;
                }
                Ok(k) => {
                    done += k;
                    sent.adverts += k as u64;
                    // Transparent from here on, as the daemon's senders.
                    link.sender.sent();
                }
            }
        }
    }
    sent.ticks += 1;
}

impl Floor {
    /// Starts sending in namespace `ns` (the master's) at once.
    pub fn start(ns: &str, n: usize, version: u8, advert_cs: u32) -> Result<Self, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let progress = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let (ns, flag, seen) = (ns.to_owned(), stop.clone(), progress.clone());
        let thread = thread::spawn(move || {
            enter_for_good(&ns);
            // SAFETY: gettid has no preconditions.
            let tid = u32::try_from(unsafe { libc::gettid() }).unwrap_or(0);
            let mut links = match links(n, version, advert_cs) {
                Ok(l) => l,
                Err(e) => {
                    let _ = tx.send(Err(e.clone()));
                    return Err(e);
                }
            };
            let _ = tx.send(Ok(tid));
            let per_interval = ticks_per_interval(n);
            let step = Duration::from_micros(u64::from(advert_cs) * 10_000 / per_interval as u64);
            let mut sent = Sent::default();
            let (mut next, mut tick) = (Instant::now(), 0);
            while !flag.load(Ordering::Relaxed) {
                let now = Instant::now();
                if now < next {
                    thread::sleep(next - now);
                } else if now - next > step {
                    sent.late_ticks += 1;
                    seen[1].fetch_add(1, Ordering::Relaxed);
                }
                send(&mut links, tick, &mut sent);
                seen[0].fetch_add(1, Ordering::Relaxed);
                tick = (tick + 1) % per_interval;
                next += step;
            }
            Ok(sent)
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(tid)) => Ok(Self {
                stop,
                progress,
                tid,
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                // Should it start after all, it stops at once.
                stop.store(true, Ordering::Relaxed);
                Err("floor sender: did not start within 30 s".to_owned())
            }
        }
    }

    /// Send ticks so far, and how many of them started over a tick late.
    pub fn progress(&self) -> (u64, u64) {
        (
            self.progress[0].load(Ordering::Relaxed),
            self.progress[1].load(Ordering::Relaxed),
        )
    }

    /// Stops sending; what was sent.
    pub fn stop(mut self) -> Result<Sent, String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .ok_or_else(|| "floor sender: no thread".to_owned())?
            .join()
            .map_err(|_| "floor sender: the thread panicked".to_owned())?
    }
}

/// Cases with at least this many instances measure their send floor:
/// every case (at N = 1 it tells a daemon's own cost per advert from the
/// kernel's send path and, on a veth, the backup's receive charged to it).
pub const MIN_N: usize = 1;

/// The floor of one implementation's lab.
pub struct Figures {
    /// % of a core: clock ticks, schedstat; the ticks behind the first.
    pub cpu: f64,
    pub cpu_ns: f64,
    pub ticks: u64,
    /// Why it does not count (empty: it does).
    pub unstable: Vec<String>,
    pub raw: Value,
}

/// Stops a process tree (SIGSTOP) until dropped (SIGCONT), even on an error
/// path: the master must not advertise beside the floor sender, and must
/// live on afterwards.
struct Frozen(Vec<u32>);

impl Frozen {
    fn new(root: u32) -> Self {
        let pids = usage::tree(root);
        for &pid in &pids {
            // SAFETY: kill has no memory preconditions; a gone pid is ESRCH.
            unsafe { libc::kill(pid.cast_signed(), libc::SIGSTOP) };
        }
        Self(pids)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for &pid in self.0.iter().rev() {
            // SAFETY: as above.
            unsafe { libc::kill(pid.cast_signed(), libc::SIGCONT) };
        }
    }
}

/// What the backup shows: its entries into MASTER so far, the VIPs it holds.
pub type BackupView<'a> = &'a dyn Fn() -> (usize, usize);

/// Measures the floor after a case's window: the sender starts beside the
/// master (an advert twice per interval for a second changes nothing for
/// the backup), the master's process tree is stopped, and after a settle
/// the sender is measured over the same window as the daemons. The backup
/// must not take over at any time from the sender's start (`backup`) and
/// every advert must leave.
pub fn measure(
    case: Case,
    ns: &str,
    master_pid: u32,
    backup: BackupView<'_>,
    timing: &Timing,
) -> Result<Figures, String> {
    let (masters_before, _) = backup();
    let floor = Floor::start(ns, case.n, case.version, case.advert_cs)?;
    let window = (|| {
        if !pause(Duration::from_secs(1)) {
            return Err("interrupted".to_owned());
        }
        let _frozen = Frozen::new(master_pid);
        if !pause(Duration::from_secs(3)) {
            return Err("interrupted".to_owned());
        }
        let (u0, p0, t0) = (usage::read_thread(floor.tid), floor.progress(), Instant::now());
        if !pause(timing.window) {
            return Err("interrupted".to_owned());
        }
        let (u1, p1, t1) = (usage::read_thread(floor.tid), floor.progress(), Instant::now());
        Ok((u0, u1, (t1 - t0).as_secs_f64(), (p1.0 - p0.0, p1.1 - p0.1)))
    })();
    let sent = floor.stop()?;
    let (u0, u1, secs, (ticks, late)) = window?;
    let (masters_after, backup_vips) = backup();
    let takeovers = masters_after.saturating_sub(masters_before);
    let (cpu, cpu_ns) = usage::cpu_percent(&u0, &u1, secs);
    let mut unstable = Vec::new();
    if takeovers > 0 {
        unstable.push(format!(
            "send floor: {takeovers} entries into MASTER on the backup while the bare sender advertised"
        ));
    }
    if backup_vips > 0 {
        unstable.push(format!("send floor: the backup holds {backup_vips} VIPs"));
    }
    if sent.errors > 0 {
        unstable.push(format!("send floor: {} adverts not sent", sent.errors));
    }
    // Late ticks (the host stalled the sender; it catches up at once) are
    // recorded, not a failure: they do not change the CPU the same adverts
    // cost, and one stall on this shared host would fail a run.
    let raw = json!({
        "cpu_pct": cpu, "cpu_pct_schedstat": cpu_ns, "ticks": u1.ticks - u0.ticks,
        "window_s": secs, "adverts_sent": sent.adverts, "send_ticks": sent.ticks,
        "late_ticks": sent.late_ticks, "window_ticks": ticks, "window_late_ticks": late,
        "errors": sent.errors,
        "ticks_per_interval": ticks_per_interval(case.n), "unstable": &unstable,
    });
    Ok(Figures {
        cpu,
        cpu_ns,
        ticks: u1.ticks - u0.ticks,
        unstable,
        raw,
    })
}
