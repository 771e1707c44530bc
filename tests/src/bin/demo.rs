//! `cargo xtask demo`: the classic two-node nginx setup with xvrrpd, told as a
//! story on a namespace lab. Exits non-zero if any step of the story does not
//! happen. Needs root.

use std::{
    process::{Command, ExitCode},
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use xvrrp_tests::{
    classic::{Classic, Probe, VIP, longest_gap},
    daemon::{wait_for, xvrrpd_bin},
};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn say(text: &str) {
    println!("{text}");
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if INTERRUPTED.load(Ordering::Relaxed) {
        return Err("interrupted".to_owned());
    }
    if ok { Ok(()) } else { Err(what.to_owned()) }
}

fn masters(c: &Classic) -> String {
    let s = |h: &str| c.state(h).unwrap_or_else(|| "-".to_owned());
    format!("a: {:<7} b: {:<7}", s("a"), s("b"))
}

/// Probes the VIP for `secs`, printing what the client gets a few times a second.
fn narrate_client(c: &Classic, secs: u64) -> Option<String> {
    let probe = Probe::start(c.client(), Duration::from_millis(20));
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) && !INTERRUPTED.load(Ordering::Relaxed) {
        thread::sleep(Duration::from_millis(250));
    }
    let samples = probe.finish();
    let mut last = None;
    for (i, chunk) in samples.chunks(12).enumerate() {
        let got = chunk.iter().rev().find_map(|(_, r)| r.clone());
        println!(
            "  t=+{:.2}s  curl http://{VIP}/ -> {}",
            i as f64 * 0.25,
            got.as_deref().unwrap_or("(no answer)")
        );
        last = got.or(last);
    }
    last
}

fn status_table(c: &Classic, host: &str) {
    let d = c.daemon(host);
    let out = Command::new("ip")
        .args(["netns", "exec", &d.ns])
        .arg(xvrrpd_bin())
        .args(["status", "--run-dir"])
        .arg(&d.run_dir)
        .output();
    println!("--- xvrrpd status on {host} ---");
    if let Ok(out) = out {
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}

fn story() -> Result<(), String> {
    say("xvrrp demo: the classic keepalived + nginx pair, with xvrrpd.");
    say("Lab: switch (bridge), hosts a and b (nginx + xvrrpd), a client.");
    say(&format!(
        "Configs: the tutorial's master.conf / backup.conf; VIP {VIP}.\n"
    ));
    let mut c = Classic::new("demo");
    c.start_daemon("a", "auto");
    c.start_daemon("b", "auto");
    say("Starting xvrrpd on a (priority 100) and b (priority 90)...");
    let t = wait_for(Duration::from_secs(8), || {
        c.state("a").as_deref() == Some("MASTER")
            && c.state("b").as_deref() == Some("BACKUP")
            && c.holds_vip("a")
    });
    check(t.is_some(), "a did not become master")?;
    let mode = c
        .daemon("a")
        .status()
        .map(|s| s["mode"].as_str().unwrap_or("?").to_owned())
        .unwrap_or_default();
    say(&format!(
        "Elected after {:.1}s ({mode} mode): {}",
        t.unwrap_or_default().as_secs_f64(),
        masters(&c)
    ));

    say("\nThe client asks the VIP a few times a second:");
    check(
        narrate_client(&c, 1).as_deref() == Some("host a"),
        "the client did not get a's page",
    )?;

    say("\nCutting a's link (switch port down)...");
    let probe = Probe::start(c.client(), Duration::from_millis(10));
    thread::sleep(Duration::from_millis(200));
    c.lab.port("a", false);
    let t = wait_for(Duration::from_secs(6), || {
        c.state("b").as_deref() == Some("MASTER") && c.holds_vip("b")
    });
    check(t.is_some(), "b did not take over")?;
    thread::sleep(Duration::from_millis(500));
    let samples = probe.finish();
    let got = samples.iter().rev().find_map(|(_, r)| r.clone());
    check(
        got.as_deref() == Some("host b"),
        "the client did not get b's page",
    )?;
    say(&format!(
        "b took over {:.2}s after the cut ({}); the client saw an interruption of {} ms",
        t.unwrap_or_default().as_secs_f64(),
        masters(&c),
        longest_gap(&samples).as_millis()
    ));
    narrate_client(&c, 1);

    say("\nRestoring a's link: a has the higher priority, it preempts...");
    let probe = Probe::start(c.client(), Duration::from_millis(10));
    c.lab.port("a", true);
    let t = wait_for(Duration::from_secs(8), || {
        c.state("a").as_deref() == Some("MASTER")
            && c.state("b").as_deref() == Some("BACKUP")
            && c.holds_vip("a")
    });
    check(t.is_some(), "a did not preempt")?;
    thread::sleep(Duration::from_millis(500));
    let samples = probe.finish();
    check(
        samples.iter().rev().find_map(|(_, r)| r.clone()).as_deref() == Some("host a"),
        "client not back on a",
    )?;
    say(&format!(
        "a is master again after {:.2}s ({}); client interruption {} ms",
        t.unwrap_or_default().as_secs_f64(),
        masters(&c),
        longest_gap(&samples).as_millis()
    ));
    say("");
    status_table(&c, "a");
    status_table(&c, "b");
    say("\nCleaning up the lab.");
    Ok(())
}

fn main() -> ExitCode {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("demo: needs root (network namespaces, XDP)");
        return ExitCode::FAILURE;
    }
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed));
    let start = Instant::now();
    match story() {
        Ok(()) => {
            println!("demo: done in {:.0}s", start.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("demo: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
