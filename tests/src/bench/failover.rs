//! Failover: the master's link goes down (its switch port) while a client
//! sends a UDP probe to the VIP every 5 ms; hosts `a` and `b` run a UDP echo
//! server that answers with its name.
//!
//! Per trial: the client's gap (last answered probe before the cut to the
//! first answered after it, probes every 5 ms), and from a capture on the
//! client's link, the time from the old master's last advert to the new
//! master's first gratuitous ARP. The cut falls at a random phase of the
//! advert interval. Between trials the link comes back and `a` (priority 200)
//! preempts again.

use std::{
    io,
    net::{Ipv4Addr, UdpSocket},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use super::{
    Options, enter_for_good,
    impls::{Impl, Inst, keepalived_conf, master_down_ms},
    pause, poll, progress,
    report::{Report, Row, quantile},
};
use crate::{daemon::Scratch, lab::Lab, netns::NetNs, rng::Rng};

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const A_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const ECHO_PORT: u16 = 7777;
const PROBE_EVERY: Duration = Duration::from_millis(5);
const BACKUP_PRIORITY: u8 = 100;

#[derive(Debug, Clone, Copy)]
struct Case {
    version: u8,
    advert_cs: u32,
    trials: usize,
    impls: &'static [Impl],
}

impl Case {
    fn label(self) -> String {
        if self.advert_cs >= 100 {
            format!("{} s v{}", self.advert_cs / 100, self.version)
        } else {
            format!("{} ms v{}", self.advert_cs * 10, self.version)
        }
    }

    fn mdi_ms(self) -> f64 {
        master_down_ms(self.version, BACKUP_PRIORITY, self.advert_cs)
    }
}

fn cases(opts: &Options) -> Vec<Case> {
    let mut list = if opts.failover.is_empty() {
        standard(opts.quick)
    } else {
        opts.failover
            .iter()
            .map(|&cs| Case {
                version: if cs >= 100 { 2 } else { 3 },
                advert_cs: cs,
                trials: if opts.quick { 3 } else { 30 },
                impls: &Impl::ALL,
            })
            .collect()
    };
    if let Some(n) = opts.trials {
        for c in &mut list {
            c.trials = n;
        }
    }
    list
}

fn standard(quick: bool) -> Vec<Case> {
    if quick {
        vec![Case {
            version: 3,
            advert_cs: 5,
            trials: 3,
            impls: &Impl::ALL,
        }]
    } else {
        vec![
            // Socket mode only at 50 ms: 1 s trials cost ~9 s each (two Master_Down_Intervals).
            Case {
                version: 2,
                advert_cs: 100,
                trials: 20,
                impls: &[Impl::Xdp, Impl::Keepalived],
            },
            Case {
                version: 3,
                advert_cs: 5,
                trials: 30,
                impls: &Impl::ALL,
            },
        ]
    }
}

/// A thread answering UDP probes on `ECHO_PORT` in a namespace with its tag.
struct Echo {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Echo {
    fn start(ns: &NetNs, tag: u8) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let name = ns.name().to_owned();
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = thread::spawn(move || {
            enter_for_good(&name);
            let sock = UdpSocket::bind(("0.0.0.0", ECHO_PORT)).expect("echo socket");
            sock.set_read_timeout(Some(Duration::from_millis(50))).ok();
            let _ = tx.send(());
            let mut buf = [0u8; 64];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf)
                    && n >= 8
                {
                    buf[8] = tag;
                    let _ = sock.send_to(&buf[..9], from);
                }
            }
        });
        let _ = rx.recv_timeout(Duration::from_secs(5));
        Self {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The client: a probe every 5 ms (send times by sequence number) and the
/// answers (sequence number, tag).
struct Prober {
    stop: Arc<AtomicBool>,
    /// The tag of the newest answer, as a byte (0: none yet).
    last_tag: Arc<AtomicU64>,
    sender: Option<JoinHandle<Vec<Instant>>>,
    receiver: Option<JoinHandle<Vec<(u64, u8)>>>,
}

impl Prober {
    fn start(client: &NetNs) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let last_tag = Arc::new(AtomicU64::new(0));
        let name = client.name().to_owned();
        let (tx, rx) = std::sync::mpsc::channel();
        let (flag, flag2, tag) = (stop.clone(), stop.clone(), last_tag.clone());
        let sender = thread::spawn(move || {
            enter_for_good(&name);
            let sock = UdpSocket::bind("0.0.0.0:0").expect("probe socket");
            sock.set_read_timeout(Some(Duration::from_millis(20))).ok();
            let _ = tx.send(sock.try_clone().expect("clone probe socket"));
            let mut sent = Vec::new();
            let limit = Instant::now() + Duration::from_mins(2);
            let mut next = Instant::now();
            while !flag.load(Ordering::Relaxed) && Instant::now() < limit {
                let seq = sent.len() as u64;
                sent.push(Instant::now());
                let _ = sock.send_to(&seq.to_le_bytes(), (VIP, ECHO_PORT));
                next += PROBE_EVERY;
                if let Some(d) = next.checked_duration_since(Instant::now()) {
                    thread::sleep(d);
                }
            }
            sent
        });
        let sock: UdpSocket = rx.recv().expect("probe socket");
        let receiver = thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            while !flag2.load(Ordering::Relaxed) {
                if let Ok(n) = sock.recv(&mut buf)
                    && n >= 9
                {
                    let seq = u64::from_le_bytes(buf[..8].try_into().expect("8 bytes"));
                    got.push((seq, buf[8]));
                    tag.store(u64::from(buf[8]), Ordering::Relaxed);
                }
            }
            got
        });
        Self {
            stop,
            last_tag,
            sender: Some(sender),
            receiver: Some(receiver),
        }
    }

    fn last_tag(&self) -> u8 {
        u8::try_from(self.last_tag.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Stops; send times and answers.
    fn finish(mut self) -> (Vec<Instant>, Vec<(u64, u8)>) {
        self.stop.store(true, Ordering::Relaxed);
        let sent = self.sender.take().and_then(|h| h.join().ok()).unwrap_or_default();
        let got = self
            .receiver
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        (sent, got)
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.sender.take() {
            let _ = h.join();
        }
        if let Some(h) = self.receiver.take() {
            let _ = h.join();
        }
    }
}

/// What the client's link carried: VRRP adverts from `a` and gratuitous ARPs for the VIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    AdvertFromA,
    GarpFrom([u8; 6]),
}

struct Capture {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Vec<(Instant, Seen)>>>,
    /// When the newest advert from `a` was seen: the cuts are placed
    /// against it.
    last_a: Arc<std::sync::Mutex<Option<Instant>>>,
}

impl Capture {
    fn start(client: &NetNs) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let last_a = Arc::new(std::sync::Mutex::new(None));
        let newest = last_a.clone();
        let name = client.name().to_owned();
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = thread::spawn(move || {
            enter_for_good(&name);
            let sock = match packet_socket("eth0") {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return Vec::new();
                }
            };
            let _ = tx.send(Ok(()));
            let mut out = Vec::new();
            let mut buf = [0u8; 2048];
            while !flag.load(Ordering::Relaxed) {
                // SAFETY: recv into a buffer we own; the socket has a receive timeout.
                let n = unsafe { libc::recv(sock, buf.as_mut_ptr().cast(), buf.len(), 0) };
                let at = Instant::now();
                let Ok(n) = usize::try_from(n) else { continue };
                if let Some(s) = classify(&buf[..n]) {
                    if s == Seen::AdvertFromA
                        && let Ok(mut l) = newest.lock()
                    {
                        *l = Some(at);
                    }
                    out.push((at, s));
                }
            }
            // SAFETY: our own fd, closed once.
            unsafe { libc::close(sock) };
            out
        });
        if let Ok(Err(e)) = rx.recv_timeout(Duration::from_secs(5)) {
            progress(&format!("  capture unavailable: {e}"));
        }
        Self {
            stop,
            handle: Some(handle),
            last_a,
        }
    }

    fn last_advert_from_a(&self) -> Option<Instant> {
        self.last_a.lock().ok().and_then(|l| *l)
    }

    fn finish(mut self) -> Vec<(Instant, Seen)> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().and_then(|h| h.join().ok()).unwrap_or_default()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// An AF_PACKET socket receiving every frame of `iface`, 20 ms receive timeout.
fn packet_socket(iface: &str) -> io::Result<i32> {
    let name = std::ffi::CString::new(iface).expect("interface name");
    // SAFETY: plain libc calls with valid arguments.
    unsafe {
        let ifindex = libc::if_nametoindex(name.as_ptr());
        let proto = (libc::ETH_P_ALL as u16).to_be();
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto));
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut addr: libc::sockaddr_ll = std::mem::zeroed();
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = proto;
        addr.sll_ifindex = i32::try_from(ifindex).unwrap_or(0);
        if libc::bind(
            fd,
            (&raw const addr).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        ) < 0
        {
            let e = io::Error::last_os_error();
            libc::close(fd);
            return Err(e);
        }
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 20_000,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const tv).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        );
        Ok(fd)
    }
}

fn classify(f: &[u8]) -> Option<Seen> {
    if f.len() < 42 {
        return None;
    }
    let ethertype = u16::from_be_bytes([f[12], f[13]]);
    match ethertype {
        0x0800 if f[23] == 112 && f[26..30] == A_ADDR.octets() => Some(Seen::AdvertFromA),
        0x0806 if f[28..32] == VIP.octets() => {
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&f[6..12]);
            Some(Seen::GarpFrom(mac))
        }
        _ => None,
    }
}

/// The longest time between two answered probes (their send times).
fn gap_ms(sent: &[Instant], got: &[(u64, u8)]) -> Option<f64> {
    let mut answered: Vec<u64> = got.iter().map(|(s, _)| *s).collect();
    answered.sort_unstable();
    answered.dedup();
    answered
        .windows(2)
        .filter_map(|w| {
            let (a, b) = (sent.get(w[0] as usize)?, sent.get(w[1] as usize)?);
            Some(b.duration_since(*a).as_secs_f64() * 1000.0)
        })
        .max_by(f64::total_cmp)
}

fn holds_vip(ns: &NetNs) -> bool {
    let out = ns.ip(&["-o", "-4", "addr", "show", "dev", "eth0"]);
    String::from_utf8_lossy(&out.stdout).contains(&format!("inet {VIP}/"))
}

struct Trial {
    /// Where in a's advert interval the cut fell (from the capture).
    phase: Option<f64>,
    gap_ms: f64,
    advert_to_garp_ms: Option<f64>,
    cut_to_b_ms: f64,
}

fn conf(case: Case, master: bool) -> String {
    keepalived_conf(
        if master { "bench_a" } else { "bench_b" },
        &[Inst {
            name: "VI_1".to_owned(),
            iface: "eth0".to_owned(),
            vrid: 51,
            priority: if master { 200 } else { BACKUP_PRIORITY },
            master,
            version: case.version,
            advert_cs: case.advert_cs,
            vips: vec![format!("{VIP}/24")],
        }],
    )
}

/// One implementation, `case.trials` trials on one lab.
/// `phases[t]`: where in the advert interval trial `t` cuts (0..1), the
/// same list for every implementation.
fn run_impl(case: Case, which: Impl, phases: &[f64]) -> Result<(Vec<Trial>, Vec<String>), String> {
    let mut lab = Lab::new();
    lab.host("a", &["192.0.2.1/24"]);
    lab.host("b", &["192.0.2.2/24"]);
    lab.host("client", &["192.0.2.50/24"]);
    let b_mac = lab.get("b").mac("eth0");
    let dir = Scratch::new(&format!("bench-fo-{}-{}", case.advert_cs, which.key()));
    let ca = dir.write("a.conf", &conf(case, true));
    let cb = dir.write("b.conf", &conf(case, false));
    let _echo_a = Echo::start(lab.get("a"), b'a');
    let _echo_b = Echo::start(lab.get("b"), b'b');
    let a = which.start(lab.get("a"), &ca, &dir.0.join("a"));
    let b = which.start(lab.get("b"), &cb, &dir.0.join("b"));
    let mdi = Duration::from_secs_f64(case.mdi_ms() / 1000.0);
    let steady = || holds_vip(lab.get("a")) && !holds_vip(lab.get("b"));
    if poll(
        Duration::from_secs(20) + mdi * 2,
        Duration::from_millis(50),
        steady,
    )
    .is_none()
    {
        return Err(format!("no election on a\n{}", a.log_text()));
    }
    let interval = Duration::from_millis(u64::from(case.advert_cs) * 10);
    let mut trials = Vec::new();
    let mut problems = Vec::new();
    for (t, phase) in phases.iter().enumerate() {
        if super::interrupted() {
            break;
        }
        // Settled: a answers the client.
        let probe = Prober::start(lab.get("client"));
        let capture = Capture::start(lab.get("client"));
        if poll(Duration::from_secs(5), Duration::from_millis(10), || {
            probe.last_tag() == b'a'
        })
        .is_none()
        {
            problems.push(format!(
                "trial {t}: the client got no answer from a before the cut"
            ));
            let _ = probe.finish();
            let _ = capture.finish();
            lab.port("a", true);
            pause(mdi * 2 + Duration::from_secs(1));
            continue;
        }
        // At least one whole interval in the capture, then the cut at this
        // trial's phase of a's advert interval, counted from a's newest
        // advert: the same phase for every implementation.
        pause(interval + Duration::from_millis(100));
        let Some(last) = capture.last_advert_from_a() else {
            problems.push(format!(
                "trial {t}: no advert from a in the capture before the cut"
            ));
            let _ = probe.finish();
            let _ = capture.finish();
            continue;
        };
        let mut cut_at = last + interval.mul_f64(*phase);
        while cut_at < Instant::now() + Duration::from_millis(2) {
            cut_at += interval;
        }
        pause(cut_at.saturating_duration_since(Instant::now()));
        let cut = Instant::now();
        lab.port("a", false);
        let took = poll(mdi * 2 + Duration::from_secs(3), Duration::from_millis(2), || {
            probe.last_tag() == b'b'
        });
        pause(Duration::from_millis(100));
        let (sent, got) = probe.finish();
        let seen = capture.finish();
        if took.is_none() {
            problems.push(format!("trial {t}: b never answered after the cut"));
        } else if let Some(gap) = gap_ms(&sent, &got) {
            let first_garp = seen
                .iter()
                .find(|(at, s)| *at > cut && *s == Seen::GarpFrom(b_mac))
                .map(|(at, _)| *at);
            let last_advert = first_garp.and_then(|g| {
                seen.iter()
                    .filter(|(at, s)| *at < g && *s == Seen::AdvertFromA)
                    .map(|(at, _)| *at)
                    .next_back()
            });
            let advert_to_garp_ms = first_garp
                .zip(last_advert)
                .map(|(g, a)| g.duration_since(a).as_secs_f64() * 1000.0);
            let cut_to_b_ms = took.unwrap_or_default().as_secs_f64() * 1000.0;
            progress(&format!(
                "  trial {t}: gap {gap:.1} ms, last advert -> GARP {} ms, cut -> b answers {cut_to_b_ms:.0} ms",
                advert_to_garp_ms.map_or("?".to_owned(), |v| format!("{v:.1}"))
            ));
            let phase = seen
                .iter()
                .filter(|(at, s)| *at <= cut && *s == Seen::AdvertFromA)
                .map(|(at, _)| *at)
                .next_back()
                .map(|a| cut.duration_since(a).as_secs_f64() / interval.as_secs_f64());
            trials.push(Trial {
                phase,
                gap_ms: gap,
                advert_to_garp_ms,
                cut_to_b_ms,
            });
        }
        // The link comes back; a preempts. Wait for the steady state again.
        lab.port("a", true);
        if poll(
            mdi * 3 + Duration::from_secs(10),
            Duration::from_millis(20),
            steady,
        )
        .is_none()
        {
            return Err(format!(
                "a did not take the VIP back after trial {t}\n--- a ---\n{}\n--- b ---\n{}",
                a.log_text(),
                b.log_text()
            ));
        }
        pause(Duration::from_millis(300));
    }
    drop(a);
    drop(b);
    Ok((trials, problems))
}

/// p50, p90, p99 and max.
fn stats(v: &[f64]) -> [f64; 4] {
    [
        quantile(v, 0.5),
        quantile(v, 0.9),
        quantile(v, 0.99),
        quantile(v, 1.0),
    ]
}

/// The seed of the cut phases: `--seed`, else the clock's.
fn seed(opts: &Options) -> u64 {
    opts.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
    })
}

pub fn run(opts: &Options, report: &mut Report) {
    let seed = seed(opts);
    progress(&format!(
        "failover: cut phases from seed {seed} (--seed {seed} repeats them)"
    ));
    let mut raw = Vec::new();
    for case in cases(opts) {
        let mdi = case.mdi_ms();
        let label = case.label();
        // One list of phases for every implementation: the trials are
        // paired, so their differences are not the phases'.
        let mut rng = Rng::seeded(seed ^ u64::from(case.advert_cs));
        let phases: Vec<f64> = (0..case.trials).map(|_| rng.unit()).collect();
        let named = |what: &str| {
            ["p50", "p90", "p99", "max"].map(|q| Row::new("failover", format!("{label}: {what} {q}"), "ms"))
        };
        // The phase-independent measure first: the backup's own reaction.
        let mut garp_rows = named("last advert -> first GARP");
        garp_rows[0] = garp_rows[0].clone().note(format!(
            "{} paired trials, Master_Down_Interval {mdi:.1} ms",
            case.trials
        ));
        let mut gap_rows = named("client gap");
        for &which in case.impls {
            if super::interrupted() {
                return;
            }
            progress(&format!(
                "failover {label}: {} ({} trials, Master_Down_Interval {mdi:.1} ms)",
                which.label(),
                case.trials
            ));
            match run_impl(case, which, &phases) {
                Ok((trials, problems)) => {
                    let gaps: Vec<f64> = trials.iter().map(|t| t.gap_ms).collect();
                    let garps: Vec<f64> = trials.iter().filter_map(|t| t.advert_to_garp_ms).collect();
                    if !gaps.is_empty() {
                        for (row, v) in gap_rows.iter_mut().zip(stats(&gaps)) {
                            row.set(which, v);
                        }
                    }
                    if !garps.is_empty() {
                        for (row, v) in garp_rows.iter_mut().zip(stats(&garps)) {
                            row.set(which, v);
                        }
                    }
                    // A trial that measured nothing makes the run fail: the
                    // quantiles would be over other phases than the others'.
                    let mut problems = problems;
                    if garps.len() < gaps.len() {
                        problems.push(format!(
                            "{} of {} trials without a last advert -> first GARP in the capture",
                            gaps.len() - garps.len(),
                            gaps.len()
                        ));
                    }
                    if !problems.is_empty() {
                        report.failed(&format!("failover {label}"), which, &problems.join("; "));
                    }
                    raw.push(json!({
                        "impl": which.key(), "version": case.version, "advert_cs": case.advert_cs,
                        "master_down_interval_ms": mdi,
                        "seed": seed, "phases": phases,
                        "gap_ms": gaps,
                        "advert_to_garp_ms": garps,
                        "cut_to_backup_answers_ms": trials.iter().map(|t| t.cut_to_b_ms).collect::<Vec<_>>(),
                        "cut_phase_seen": trials.iter().map(|t| t.phase).collect::<Vec<_>>(),
                        "problems": problems,
                    }));
                }
                Err(e) => {
                    let mut entry = report.failed(&format!("failover {label}"), which, &e);
                    entry["advert_cs"] = json!(case.advert_cs);
                    raw.push(entry);
                }
            }
        }
        report.rows.extend(garp_rows);
        report.rows.extend(gap_rows);
    }
    report.raw.insert("failover".to_owned(), Value::Array(raw));
}
