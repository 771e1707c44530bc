//! `cargo xtask bench [--quick] [--only NAME[,NAME]] [--out FILE]`: xvrrpd
//! against keepalived 2.2.7 on namespace labs (see `xvrrp_tests::bench`).
//! Prints a Markdown table on stdout (progress on stderr) and writes the
//! results with the machine and the raw samples to
//! `bench/results/latest.json` (and the table next to it, `latest.md`).
//! Needs root. Run it from a release build: `cargo xtask bench` does.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    path::PathBuf,
    process::ExitCode,
    sync::atomic::Ordering,
    time::Instant,
};

use xvrrp_tests::{
    bench::{
        INTERRUPTED, Options, arp, failover, kernel, mass, plots, progress, reload,
        report::{Report, machine, machine_line},
        scale, timing,
    },
    daemon::xvrrpd_bin,
};

const CASES: [&str; 7] = ["scale", "failover", "mass", "timing", "reload", "arp", "kernel"];

/// One case of the benchmark: it adds its rows, raw samples and notes.
type CaseFn = fn(&Options, &mut Report);

fn usage() -> String {
    format!(
        "usage: bench [--quick] [--only NAME[,NAME...]] [--scale N@CS[,N@CS...]] [--failover CS[,CS...]] [--trials N] [--seed S] [--out FILE]\n       bench --replot FILE  (draws the plots of a results file again)\n  \
         NAME: {}\n  --scale: scale cases instead of the standard ones (N instances, advert interval in centiseconds)\n  \
         --failover: failover advert intervals (centiseconds) instead of the standard ones\n  --trials: failover trials per case\n  --seed: seed of the failover cut phases (the same list for every implementation)",
        CASES.join(", ")
    )
}

fn parse(args: &[String]) -> Result<(Options, PathBuf), String> {
    let mut opts = Options {
        quick: false,
        only: Vec::new(),
        scale: Vec::new(),
        trials: None,
        failover: Vec::new(),
        seed: None,
    };
    // The workspace root is the tests crate's parent.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = root.parent().unwrap_or(&root).join("bench/results/latest.json");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => opts.quick = true,
            "--only" => {
                let v = it.next().ok_or_else(usage)?;
                for name in v.split(',') {
                    if !CASES.contains(&name) {
                        return Err(format!("unknown case {name}\n{}", usage()));
                    }
                    opts.only.push(name.to_owned());
                }
            }
            "--out" => out = PathBuf::from(it.next().ok_or_else(usage)?),
            "--seed" => {
                let v = it.next().ok_or_else(usage)?;
                opts.seed = Some(v.parse().map_err(|_| format!("bad --seed {v}\n{}", usage()))?);
            }
            "--trials" => {
                let v = it.next().ok_or_else(usage)?;
                opts.trials = Some(v.parse().ok().filter(|&n| n > 0).ok_or_else(usage)?);
            }
            "--failover" => {
                for cs in it.next().ok_or_else(usage)?.split(',') {
                    let cs: u32 = cs
                        .parse()
                        .ok()
                        .filter(|&cs| cs > 0 && (cs < 100 || cs % 100 == 0))
                        .ok_or_else(|| format!("bad --failover interval {cs}\n{}", usage()))?;
                    opts.failover.push(cs);
                }
            }
            "--scale" => {
                let v = it.next().ok_or_else(usage)?;
                for case in v.split(',') {
                    let parsed = case
                        .split_once('@')
                        .and_then(|(n, cs)| Some((n.parse().ok()?, cs.parse().ok()?)))
                        .filter(|&(n, cs): &(usize, u32)| {
                            (1..=16_000).contains(&n) && cs > 0 && (cs < 100 || cs % 100 == 0)
                        });
                    opts.scale
                        .push(parsed.ok_or_else(|| format!("bad --scale case {case}\n{}", usage()))?);
                }
            }
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    Ok((opts, out))
}

/// `bench --replot FILE`: draws the plots of an earlier run's results again.
fn replot(file: &str) -> ExitCode {
    let results = std::fs::read_to_string(file)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()));
    match results.and_then(|r| plots::write_all(&r, std::path::Path::new(file))) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: --replot {file}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, file] = args.as_slice()
        && flag == "--replot"
    {
        return replot(file);
    }
    let (opts, out) = match parse(&args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("bench: needs root (network namespaces, XDP)");
        return ExitCode::FAILURE;
    }
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed));
    let machine = machine(&xvrrpd_bin());
    progress(&format!("machine: {}", machine_line(&machine)));
    let start = Instant::now();
    let mut report = Report::default();
    let mut failed = false;
    let runs: [(&str, CaseFn); 7] = [
        ("scale", scale::run),
        ("failover", failover::run),
        ("mass", mass::run),
        ("timing", timing::run),
        ("reload", reload::run),
        ("arp", arp::run),
        ("kernel", kernel::run),
    ];
    for (name, f) in runs {
        if !opts.wants(name) || INTERRUPTED.load(Ordering::Relaxed) {
            continue;
        }
        let t = Instant::now();
        // One case failing (a panic in a helper) must not lose the others' numbers.
        if catch_unwind(AssertUnwindSafe(|| f(&opts, &mut report))).is_err() {
            failed = true;
            report.notes.push(format!("{name}: aborted (panic, see stderr)"));
        }
        progress(&format!("{name}: {:.0} s", t.elapsed().as_secs_f64()));
    }
    let total = start.elapsed().as_secs_f64();
    report.notes.push(format!(
        "Machine: {}. Ratios are xvrrpd / keepalived (below 1: xvrrpd uses less / waits less). Total run time {total:.0} s.",
        machine_line(&machine)
    ));
    let table = report.table();
    println!("{table}");
    let mut machine = machine;
    machine["total_s"] = serde_json::json!(total);
    machine["loadavg_at_end"] = serde_json::json!(
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    match report.write(&out, &machine, &args) {
        Ok(()) => {
            let _ = std::fs::write(out.with_extension("md"), &table);
            progress(&format!("results written to {}", out.display()));
            match plots::write_all(&report.to_json(&machine, &args), &out) {
                Ok(files) => progress(&format!("{} plots written next to it", files.len())),
                Err(e) => {
                    eprintln!("bench: plots: {e}");
                    failed = true;
                }
            }
        }
        Err(e) => {
            eprintln!("bench: cannot write {}: {e}", out.display());
            failed = true;
        }
    }
    if INTERRUPTED.load(Ordering::Relaxed) {
        eprintln!("bench: interrupted");
        failed = true;
    }
    if report.failures > 0 {
        eprintln!(
            "bench: {} measurement(s) failed (see the notes under the table)",
            report.failures
        );
        failed = true;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
