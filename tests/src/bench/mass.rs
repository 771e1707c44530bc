//! Mass transition: 1000 instances with 4 VIPs each (1 s, VRRPv2) fail over
//! at once. The master's daemon is frozen (SIGSTOP on its process tree: its
//! adverts stop, its links stay up); on the backup `b`, an rtnetlink listener
//! times every VIP being installed and a capture times every gratuitous ARP
//! leaving. Detection is the first of those events; reported: all 4000
//! addresses installed, every VIP announced at least once, and the last
//! gratuitous ARP of the first burst, each after detection.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::{self, JoinHandle},
    time::Duration,
};

use serde_json::{Value, json};

use super::{
    Options,
    capture::{AddrEvents, Frames, PACKET_OUTGOING, realtime_ns},
    enter_for_good,
    impls::{Impl, Running, keepalived_conf, master_down_ms},
    pause, poll, progress,
    report::{Report, Row},
    twin::{Twin, instances, is_vip, vip_count},
    usage,
};
use crate::daemon::Scratch;

const N: usize = 1000;
const VIPS: u8 = 4;
/// Every frame: gratuitous ARPs sent on packet sockets may carry no skb protocol.
const ETH_P_ALL: u16 = 0x0003;
/// The first burst of gratuitous ARPs, before the delayed second one (5 s).
const BURST_NS: u64 = 4_500_000_000;

type Events = Vec<(u64, std::net::Ipv4Addr)>;

/// A thread in namespace `ns` collecting events until `stop`.
fn collect<S: Send + 'static>(
    ns: &str,
    stop: &Arc<AtomicBool>,
    open: impl FnOnce() -> std::io::Result<S> + Send + 'static,
    mut step: impl FnMut(&S, &mut Events) + Send + 'static,
) -> JoinHandle<Result<Events, String>> {
    let ns = ns.to_owned();
    let flag = stop.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let h = thread::spawn(move || {
        enter_for_good(&ns);
        let src = match open() {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.send(());
                return Err(e.to_string());
            }
        };
        let _ = tx.send(());
        let mut out = Vec::new();
        while !flag.load(Ordering::Relaxed) {
            step(&src, &mut out);
        }
        Ok(out)
    });
    let _ = rx.recv_timeout(Duration::from_secs(5));
    h
}

fn signal_tree(r: &Running, sig: i32) {
    if let Some(root) = r.pid() {
        for pid in usage::tree(root) {
            // SAFETY: signalling processes this benchmark started.
            unsafe { libc::kill(i32::try_from(pid).unwrap_or(0), sig) };
        }
    }
}

struct Outcome {
    detect_ms: f64,
    addrs_ms: Option<f64>,
    announced_ms: Option<f64>,
    burst_end_ms: f64,
    raw: Value,
}

fn run_impl(which: Impl) -> Result<Outcome, String> {
    let twin = Twin::new(N);
    let total = N * usize::from(VIPS);
    let dir = Scratch::new(&format!("bench-mass-{}", which.key()));
    let ca = dir.write(
        "master.conf",
        &keepalived_conf("bench_master", &instances(N, 2, 100, VIPS, true)),
    );
    let cb = dir.write(
        "backup.conf",
        &keepalived_conf("bench_backup", &instances(N, 2, 100, VIPS, false)),
    );
    let mut master = which.start(&twin.a, &ca, &dir.0.join("master"));
    if poll(Duration::from_secs(90), Duration::from_millis(200), || {
        master.entered("MASTER") >= N && vip_count(&twin.a) == total
    })
    .is_none()
    {
        return Err(format!("master not up: {} MASTER", master.entered("MASTER")));
    }
    let mut backup = which.start(&twin.b, &cb, &dir.0.join("backup"));
    if poll(Duration::from_secs(90), Duration::from_millis(200), || {
        backup.entered("BACKUP") >= N
    })
    .is_none()
    {
        return Err(format!("backup not up: {} BACKUP", backup.entered("BACKUP")));
    }
    // Past the master's second gratuitous ARP burst.
    if !pause(Duration::from_secs(6)) {
        return Err("interrupted".to_owned());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let addrs = collect(
        twin.b.name(),
        &stop,
        || AddrEvents::open(Duration::from_millis(20)),
        |s: &AddrEvents, out: &mut Events| {
            let mut buf = vec![0u8; 1 << 16];
            if let Some((at, list)) = s.recv(&mut buf) {
                out.extend(list.into_iter().filter(|a| is_vip(*a)).map(|a| (at, a)));
            }
        },
    );
    let garps = collect(
        twin.b.name(),
        &stop,
        || Frames::open(ETH_P_ALL, Duration::from_millis(20)),
        |s: &Frames, out: &mut Events| {
            let mut buf = [0u8; 128];
            if let Some(m) = s.recv(&mut buf)
                && m.pkttype == PACKET_OUTGOING
                && m.len >= 42
                && buf[12..14] == [0x08, 0x06]
            {
                // ARP sender protocol address at 14 + 14.
                let spa = std::net::Ipv4Addr::new(buf[28], buf[29], buf[30], buf[31]);
                if is_vip(spa) {
                    out.push((m.ts_ns, spa));
                }
            }
        },
    );
    let t_stop = realtime_ns();
    signal_tree(&master, libc::SIGSTOP);
    let mdi = Duration::from_secs_f64(master_down_ms(2, 100, 100) / 1000.0);
    let all = poll(mdi + Duration::from_secs(30), Duration::from_millis(100), || {
        vip_count(&twin.b) == total
    });
    pause(Duration::from_millis(4600));
    stop.store(true, Ordering::Relaxed);
    let addrs = addrs.join().map_err(|_| "netlink thread panicked".to_owned())??;
    let garps = garps.join().map_err(|_| "capture thread panicked".to_owned())??;
    signal_tree(&master, libc::SIGCONT);
    let transitions = backup.entered("MASTER");
    backup.stop();
    master.stop();
    if all.is_none() {
        return Err(format!(
            "the backup did not install every VIP: {} of {total}, {transitions} of {N} instances MASTER",
            vip_count(&twin.b)
        ));
    }

    let t0 = addrs
        .iter()
        .chain(&garps)
        .map(|(t, _)| *t)
        .filter(|&t| t > t_stop)
        .min()
        .ok_or("no event after the freeze")?;
    let ms = |t: u64| t.saturating_sub(t0) as f64 / 1e6;
    // The time by which `k` distinct addresses of `events` were seen.
    let all_seen = |events: &Events| {
        let mut seen = HashSet::new();
        let mut sorted: Vec<_> = events.iter().filter(|(t, _)| *t >= t0).collect();
        sorted.sort_by_key(|(t, _)| *t);
        sorted
            .into_iter()
            .find(|(_, a)| seen.insert(*a) && seen.len() == total)
            .map(|(t, _)| ms(*t))
    };
    let burst: Vec<u64> = garps
        .iter()
        .map(|(t, _)| *t)
        .filter(|&t| t >= t0 && t < t0 + BURST_NS)
        .collect();
    let burst_end_ms = burst.iter().max().map_or(f64::NAN, |&t| ms(t));
    let out = Outcome {
        detect_ms: t0.saturating_sub(t_stop) as f64 / 1e6,
        addrs_ms: all_seen(&addrs),
        announced_ms: all_seen(&garps),
        burst_end_ms,
        raw: Value::Null,
    };
    let raw = json!({
        "impl": which.key(), "n": N, "vips_per_instance": VIPS,
        "freeze_to_detection_ms": out.detect_ms,
        "master_down_interval_ms": mdi.as_secs_f64() * 1000.0,
        "all_addresses_ms": out.addrs_ms, "every_vip_announced_ms": out.announced_ms,
        "last_garp_of_burst_ms": out.burst_end_ms, "garps_in_burst": burst.len(),
        "address_events": addrs.len(), "backup_master_transitions": transitions,
    });
    Ok(Outcome { raw, ..out })
}

pub fn run(_opts: &Options, report: &mut Report) {
    let label = format!("{N} instances x {VIPS} VIPs");
    let mut rows = [
        Row::new(
            "mass transition",
            format!("{label}: all addresses installed"),
            "ms after detection",
        ),
        Row::new(
            "mass transition",
            format!("{label}: every VIP announced (GARP)"),
            "ms after detection",
        ),
        Row::new(
            "mass transition",
            format!("{label}: last GARP of the burst"),
            "ms after detection",
        ),
    ];
    let mut raw = Vec::new();
    for which in Impl::ALL {
        if super::interrupted() {
            return;
        }
        progress(&format!("mass transition: {} ({label})", which.label()));
        match run_impl(which) {
            Ok(o) => {
                let f = |v: Option<f64>| v.map_or("never".to_owned(), |v| format!("{v:.1} ms"));
                progress(&format!(
                    "  detected {:.0} ms after the freeze; addresses {}, every VIP announced {}, burst ends {:.1} ms",
                    o.detect_ms,
                    f(o.addrs_ms),
                    f(o.announced_ms),
                    o.burst_end_ms
                ));
                if let Some(v) = o.addrs_ms {
                    rows[0].set(which, v);
                }
                if let Some(v) = o.announced_ms {
                    rows[1].set(which, v);
                }
                if o.burst_end_ms.is_finite() {
                    rows[2].set(which, o.burst_end_ms);
                }
                raw.push(o.raw);
            }
            Err(e) => raw.push(report.failed("mass", which, &e)),
        }
    }
    "target <= 100 ms".clone_into(&mut rows[0].note);
    report.rows.extend(rows);
    report.raw.insert("mass".to_owned(), Value::Array(raw));
}
