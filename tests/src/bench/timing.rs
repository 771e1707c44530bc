//! Advert timing: 1000 masters at 100 ms (VRRPv3) in namespace `a`, the
//! daemon pinned to CPU 0 next to a busy loop pinned there too (a CPU hog at
//! the same priority), and a capture on the peer `b` (no daemon there) with
//! the kernel's receive timestamps. For every VRID, each gap between two
//! adverts minus the 100 ms interval is that advert's lateness.

use std::{
    collections::HashMap,
    hint::black_box,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::Duration,
};

use serde_json::{Value, json};

use super::{
    Options,
    capture::{Frames, pin, pin_process},
    enter_for_good,
    impls::{Impl, keepalived_conf},
    pause, poll, progress,
    report::{Report, Row, quantile},
    twin::{Twin, instances, vip_count},
    usage,
};
use crate::daemon::Scratch;

const N: usize = 1000;
const INTERVAL_CS: u32 = 10;
const ETH_P_IP: u16 = 0x0800;

struct Lateness {
    /// ms, one per advert after the first of each VRID.
    late_ms: Vec<f64>,
    adverts: usize,
    expected: f64,
    drops: u32,
}

/// Advert timestamps (ns) by (link, VRID), and the frames the capture dropped.
type Captured = (HashMap<(u8, u8), Vec<u64>>, u32);

/// Captures VRRP adverts in namespace `ns` for `window`.
fn capture(ns: String, window: Duration) -> thread::JoinHandle<Result<Captured, String>> {
    thread::spawn(move || {
        enter_for_good(&ns);
        pin(0, 1);
        let frames =
            Frames::open(ETH_P_IP, Duration::from_millis(20)).map_err(|e| format!("capture: {e}"))?;
        let mut seen: HashMap<(u8, u8), Vec<u64>> = HashMap::new();
        let mut buf = [0u8; 256];
        let start = std::time::Instant::now();
        while start.elapsed() < window && !super::interrupted() {
            let Some(m) = frames.recv(&mut buf) else { continue };
            // Ethernet (14) + IPv4 (20, no options from a raw VRRP socket): protocol 112.
            if m.len >= 14 + 20 + 8 && buf[14 + 9] == 112 {
                let link = buf[14 + 12 + 1]; // 10.k.0.1: k
                let vrid = buf[14 + 20 + 1];
                seen.entry((link, vrid)).or_default().push(m.ts_ns);
            }
        }
        Ok((seen, frames.drops()))
    })
}

fn run_impl(which: Impl, settle: Duration, window: Duration) -> Result<(Lateness, Value), String> {
    let twin = Twin::new(N);
    let dir = Scratch::new(&format!("bench-timing-{}", which.key()));
    let conf = dir.write(
        "master.conf",
        &keepalived_conf("bench_master", &instances(N, 3, INTERVAL_CS, 1, true)),
    );
    let master = which.start(&twin.a, &conf, &dir.0.join("master"));
    if poll(Duration::from_secs(90), Duration::from_millis(200), || {
        master.entered("MASTER") >= N && vip_count(&twin.a) == N
    })
    .is_none()
    {
        return Err(format!("master not up: {} MASTER", master.entered("MASTER")));
    }
    let root = master.pid().ok_or("no pid")?;
    for pid in usage::tree(root) {
        pin_process(pid, 0);
    }
    // Past the second gratuitous ARP burst (5 s after the transition).
    if !pause(settle) {
        return Err("interrupted".to_owned());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let hog = thread::spawn(move || {
        pin(0, 0);
        let mut x = 0u64;
        while !flag.load(Ordering::Relaxed) {
            for _ in 0..10_000 {
                x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
            }
        }
        x
    });
    let cap = capture(twin.b.name().to_owned(), window);
    let got = cap.join().map_err(|_| "capture thread panicked".to_owned());
    stop.store(true, Ordering::Relaxed);
    let _ = hog.join();
    let (seen, drops) = got??;
    drop(master);
    let nominal_ns = u64::from(INTERVAL_CS) * 10_000_000;
    let mut late_ms = Vec::new();
    let mut adverts = 0;
    for ts in seen.values() {
        adverts += ts.len();
        let mut ts = ts.clone();
        ts.sort_unstable();
        for w in ts.windows(2) {
            late_ms.push((w[1].saturating_sub(w[0]) as f64 - nominal_ns as f64) / 1e6);
        }
    }
    let expected = N as f64 * window.as_secs_f64() / (nominal_ns as f64 / 1e9);
    let raw = json!({
        "impl": which.key(), "n": N, "interval_ms": nominal_ns / 1_000_000,
        "window_s": window.as_secs_f64(), "adverts": adverts, "expected": expected,
        "vrids_seen": seen.len(), "capture_drops": drops,
        "late_ms_p50": quantile(&late_ms, 0.5), "late_ms_p99": quantile(&late_ms, 0.99),
        "late_ms_p999": quantile(&late_ms, 0.999), "late_ms_max": quantile(&late_ms, 1.0),
        "late_ms_min": late_ms.iter().copied().fold(f64::INFINITY, f64::min),
    });
    Ok((
        Lateness {
            late_ms,
            adverts,
            expected,
            drops,
        },
        raw,
    ))
}

pub fn run(opts: &Options, report: &mut Report) {
    let (settle, window) = if opts.quick {
        (Duration::from_secs(6), Duration::from_secs(8))
    } else {
        (Duration::from_secs(6), Duration::from_secs(20))
    };
    let label = format!("N={N} @ 100 ms v3, CPU hog on the daemon's core");
    let mut rows = [
        Row::new("advert timing", format!("{label}: lateness median"), "ms"),
        Row::new(
            "advert timing",
            format!("{label}: earliest (gap short of the interval)"),
            "ms",
        ),
        Row::new("advert timing", format!("{label}: lateness p99"), "ms"),
        Row::new("advert timing", format!("{label}: lateness p99.9"), "ms"),
        Row::new("advert timing", format!("{label}: lateness max"), "ms"),
        Row::new("advert timing", format!("{label}: adverts sent / expected"), "%"),
    ];
    let mut raw = Vec::new();
    for which in Impl::ALL {
        if super::interrupted() {
            return;
        }
        progress(&format!(
            "timing: {} ({label}, {} s)",
            which.label(),
            window.as_secs()
        ));
        match run_impl(which, settle, window) {
            Ok((l, r)) => {
                progress(&format!(
                    "  {} adverts ({:.0} expected, {} capture drops): lateness p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms",
                    l.adverts,
                    l.expected,
                    l.drops,
                    quantile(&l.late_ms, 0.99),
                    quantile(&l.late_ms, 0.999),
                    quantile(&l.late_ms, 1.0)
                ));
                rows[0].set(which, quantile(&l.late_ms, 0.5));
                rows[1].set(which, quantile(&l.late_ms, 0.0));
                rows[2].set(which, quantile(&l.late_ms, 0.99));
                rows[3].set(which, quantile(&l.late_ms, 0.999));
                rows[4].set(which, quantile(&l.late_ms, 1.0));
                rows[5].set(which, 100.0 * l.adverts as f64 / l.expected);
                raw.push(r);
            }
            Err(e) => raw.push(report.failed("timing", which, &e)),
        }
    }
    rows[0].note = "target <= 0.2 ms".to_owned();
    rows[1].note = "target >= -0.2 ms".to_owned();
    rows[3].note = "target <= 1 ms (with vrrp_rt_priority)".to_owned();
    report.rows.extend(rows);
    report.raw.insert("timing".to_owned(), Value::Array(raw));
}
