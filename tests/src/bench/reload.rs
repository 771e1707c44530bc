//! Reload: N masters at 100 ms (VRRPv3) in namespace `a`, a capture on the
//! peer `b` (no daemon there). The configuration is rewritten with one
//! instance's priority changed and the daemon gets SIGHUP; for every other
//! VRID, the largest gap between two adverts in the 3 s around the reload
//! (100 ms when the reload leaves its schedule alone). Same configuration
//! and definition for every implementation. keepalived re-phases every
//! instance's adverts at a reload; xvrrpd touches only the changed one.

use std::{thread, time::Duration};

use serde_json::{Value, json};

use super::{
    Options,
    impls::{Impl, keepalived_conf},
    pause, poll, progress,
    report::{Report, Row, quantile},
    timing::capture,
    twin::{Twin, instances, vip_count},
};
use crate::{bench::capture::realtime_ns, daemon::Scratch};

struct Measured {
    /// ms: the largest gap of each untouched VRID.
    gaps_ms: Vec<f64>,
    /// ms: SIGHUP to the changed instance's new priority on the wire.
    applied_ms: f64,
}

fn run_impl(which: Impl, n: usize) -> Result<(Measured, Value), String> {
    let twin = Twin::new(n);
    let dir = Scratch::new(&format!("bench-reload-{}", which.key()));
    let text = keepalived_conf("bench_master", &instances(n, 3, 10, 1, true));
    let conf = dir.write("master.conf", &text);
    let master = which.start(&twin.a, &conf, &dir.0.join("master"));
    if poll(Duration::from_mins(2), Duration::from_millis(200), || {
        master.entered("MASTER") >= n && vip_count(&twin.a) == n
    })
    .is_none()
    {
        return Err(format!("master not up: {} MASTER", master.entered("MASTER")));
    }
    // Past the gratuitous ARP bursts (5 s after the transition).
    if !pause(Duration::from_secs(6)) {
        return Err("interrupted".to_owned());
    }
    let window = Duration::from_secs(4);
    let cap = capture(twin.b.name().to_owned(), window);
    thread::sleep(Duration::from_secs(1));
    // The first instance (link 0, VRID 1) gets priority 201.
    std::fs::write(&conf, text.replacen("priority 200", "priority 201", 1)).map_err(|e| e.to_string())?;
    let pid = master.pid().ok_or("no pid")?;
    let hup_ns = realtime_ns();
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status();
    let (seen, drops) = cap.join().map_err(|_| "capture thread panicked".to_owned())??;
    drop(master);
    let mut gaps_ms = Vec::new();
    let mut applied_ns = None;
    for (&(link, vrid), adverts) in &seen {
        if (link, vrid) == (0, 1) {
            applied_ns = adverts
                .iter()
                .filter(|(_, prio)| *prio == 201)
                .map(|(ts, _)| *ts)
                .min();
            continue;
        }
        let mut ts: Vec<u64> = adverts.iter().map(|a| a.0).collect();
        ts.sort_unstable();
        let largest = ts
            .windows(2)
            .map(|w| (w[1] - w[0]) as f64 / 1e6)
            .fold(0.0, f64::max);
        gaps_ms.push(largest);
    }
    if gaps_ms.len() + 1 < n {
        return Err(format!("only {} of {} VRIDs seen", gaps_ms.len() + 1, n));
    }
    let applied_ms = applied_ns
        .ok_or("the changed priority never appeared on the wire")?
        .saturating_sub(hup_ns) as f64
        / 1e6;
    let raw = json!({
        "impl": which.key(), "n": n, "capture_drops": drops,
        "largest_gap_ms_p50": quantile(&gaps_ms, 0.5), "largest_gap_ms_max": quantile(&gaps_ms, 1.0),
        "applied_ms": applied_ms,
    });
    Ok((Measured { gaps_ms, applied_ms }, raw))
}

pub fn run(opts: &Options, report: &mut Report) {
    let n = if opts.quick { 1000 } else { 4000 };
    let label = format!("N={n} @ 100 ms v3, SIGHUP changing one instance");
    let mut rows = [
        Row::new(
            "reload",
            format!("{label}: SIGHUP to the new priority on the wire"),
            "ms",
        ),
        Row::new(
            "reload",
            format!("{label}: largest advert gap of the untouched instances, median"),
            "ms",
        )
        .note("100 ms: the reload left their schedule alone"),
        Row::new(
            "reload",
            format!("{label}: largest advert gap of the untouched instances, max"),
            "ms",
        ),
    ];
    let mut raw = Vec::new();
    for which in Impl::ALL {
        if super::interrupted() {
            return;
        }
        progress(&format!("reload: {} ({label})", which.label()));
        match run_impl(which, n) {
            Ok((m, r)) => {
                progress(&format!(
                    "  new priority on the wire {:.1} ms after SIGHUP; untouched VRIDs' largest gap: median {:.1} ms, max {:.1} ms",
                    m.applied_ms,
                    quantile(&m.gaps_ms, 0.5),
                    quantile(&m.gaps_ms, 1.0)
                ));
                rows[0].set(which, m.applied_ms);
                rows[1].set(which, quantile(&m.gaps_ms, 0.5));
                rows[2].set(which, quantile(&m.gaps_ms, 1.0));
                raw.push(r);
            }
            Err(e) => raw.push(report.failed("reload", which, &e)),
        }
    }
    report.rows.extend(rows);
    report.raw.insert("reload".to_owned(), Value::Array(raw));
}
