//! `cargo xtask soak [--minutes N] [--seed S] [--no-baseline] [--out FILE]`:
//! the field soak (see `xvrrp_tests::soak`). Runs the mixed cluster for N
//! minutes, then keepalived everywhere for the same steps, prints the
//! side-by-side report (Markdown) and writes it with its JSON next to it.
//! Exits 1 when the mixed run broke an invariant or left something behind.
//! Needs root.

use std::{path::PathBuf, process::ExitCode, sync::atomic::Ordering};

use xvrrp_tests::{
    daemon::Scratch,
    have_root,
    soak::{self, INTERRUPTED, Length, plan, report},
};

struct Args {
    minutes: f64,
    seed: Option<u64>,
    baseline: bool,
    out: PathBuf,
}

const USAGE: &str = "usage: soak [--minutes N] [--seed S] [--no-baseline] [--out FILE.md]\n  \
    --minutes: length of the mixed run (default 30); the baseline runs as many steps\n  \
    --seed: the cluster's priorities, the reloads and the fault schedule (default: from the clock, printed)\n  \
    --no-baseline: skip the keepalived-everywhere run\n  \
    --out: the Markdown report (default target/soak/latest.md; the JSON beside it)";

fn parse(argv: &[String]) -> Result<Args, String> {
    let mut a = Args {
        minutes: 30.0,
        seed: None,
        baseline: true,
        out: PathBuf::from("target/soak/latest.md"),
    };
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--minutes" => {
                let v = value()?;
                a.minutes = v
                    .parse()
                    .ok()
                    .filter(|m: &f64| m.is_finite() && *m > 0.0 && *m <= 24.0 * 60.0)
                    .ok_or_else(|| format!("--minutes {v}: a number of minutes above 0, at most a day"))?;
            }
            "--seed" => {
                let v = value()?;
                a.seed = Some(
                    v.parse()
                        .map_err(|_| format!("--seed {v}: an unsigned integer"))?,
                );
            }
            "--no-baseline" => a.baseline = false,
            "--out" => a.out = PathBuf::from(value()?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("soak: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if !have_root("soak") {
        // A soak that ran nothing must not pass.
        return ExitCode::FAILURE;
    }
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed));
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    eprintln!("soak: seed {seed} (--seed {seed} repeats the cluster and the schedule)");
    // Taken before the run: an edit during an hour-long run is not what ran.
    let commit = commit();
    let scratch = Scratch::new("soak");
    // A panic (a lab command that failed) keeps the logs for its reader.
    let guarded = |roles, length, dir: &str| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            soak::run(roles, seed, length, &scratch.0.join(dir))
        }))
    };
    let Ok(mixed) = guarded(plan::roles(false), Length::Minutes(args.minutes), "mixed") else {
        eprintln!(
            "soak: the mixed run panicked; logs kept in {}",
            keep(scratch).display()
        );
        return ExitCode::FAILURE;
    };
    let base = if args.baseline && !INTERRUPTED.load(Ordering::Relaxed) {
        let Ok(b) = guarded(plan::roles(true), Length::Steps(mixed.steps.len()), "baseline") else {
            eprintln!(
                "soak: the baseline run panicked; logs kept in {}",
                keep(scratch).display()
            );
            return ExitCode::FAILURE;
        };
        Some(b)
    } else {
        None
    };
    let md = report::markdown(seed, commit.as_deref(), &mixed, base.as_ref());
    println!("{md}");
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    let json = serde_json::to_string_pretty(&report::json(seed, commit.as_deref(), &mixed, base.as_ref()))
        .unwrap_or_default();
    if let Err(e) =
        std::fs::write(&args.out, &md).and_then(|()| std::fs::write(args.out.with_extension("json"), json))
    {
        eprintln!("soak: cannot write {}: {e}", args.out.display());
        return ExitCode::FAILURE;
    }
    let failures = report::failures(&mixed);
    if !failures.is_empty() || base.as_ref().is_some_and(|b| !report::failures(b).is_empty()) {
        // The daemons' logs and configurations, for whoever reads the failure.
        eprintln!(
            "soak: logs and configurations kept in {}",
            keep(scratch).display()
        );
    }
    if INTERRUPTED.load(Ordering::Relaxed) {
        eprintln!("soak: interrupted");
        return ExitCode::FAILURE;
    }
    if failures.is_empty() {
        eprintln!(
            "soak: the mixed cluster kept every invariant ({} steps)",
            mixed.steps.len()
        );
        ExitCode::SUCCESS
    } else {
        eprintln!("soak: {} failure(s) in the mixed run:", failures.len());
        for f in &failures {
            eprintln!("  {f}");
        }
        ExitCode::FAILURE
    }
}

/// The scratch directory, kept (not removed on drop).
fn keep(scratch: Scratch) -> PathBuf {
    let dir = scratch.0.clone();
    std::mem::forget(scratch);
    dir
}

/// The commit the soak runs from, `-dirty` when the tree has changes (the
/// report names what it measured); None, said on stderr, when git cannot
/// tell (no git, not a checkout, or a checkout git refuses to read as root).
fn commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    match out {
        Ok(o) if o.status.success() => {
            Some(String::from_utf8_lossy(&o.stdout).trim().to_owned()).filter(|c| !c.is_empty())
        }
        Ok(o) => {
            eprintln!(
                "soak: git describe: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            None
        }
        Err(e) => {
            eprintln!("soak: git describe: {e}");
            None
        }
    }
}
