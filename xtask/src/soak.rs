//! `cargo xtask soak [--minutes N] [--seed S] [--no-baseline] [--out FILE]`:
//! builds release binaries, then runs the field soak (three routers per
//! virtual router: xvrrpd in XDP and socket mode, keepalived and FRR, under
//! a seeded schedule of faults; then keepalived everywhere on the same
//! schedule). The soak lives in `tests/src/soak/` beside the lab it shares
//! with the integration tests.

use anyhow::Result;

use crate::util::{Cmd, cargo, step, target_dir};

/// `cargo xtask soak` options, passed on to the soak binary.
#[derive(clap::Args)]
pub struct Args {
    /// Length of the mixed run in minutes (the baseline runs as many steps).
    #[arg(long, value_name = "N", default_value = "30")]
    minutes: String,
    /// Seed of the cluster, the reloads and the faults (default: from the clock, printed).
    #[arg(long, value_name = "S")]
    seed: Option<String>,
    /// Skip the keepalived-everywhere baseline.
    #[arg(long)]
    no_baseline: bool,
    /// The Markdown report (default target/soak/latest.md; the JSON beside it).
    #[arg(long, value_name = "FILE")]
    out: Option<String>,
}

impl Args {
    /// The short soak of `cargo xtask test` on a fixed seed (one whose run
    /// passed here, so that CI shows regressions, not a new seed's luck),
    /// its report to `out`.
    pub fn ci(minutes: &str, seed: &str, out: &str) -> Self {
        Self {
            minutes: minutes.to_owned(),
            seed: Some(seed.to_owned()),
            no_baseline: false,
            out: Some(out.to_owned()),
        }
    }
}

pub fn run(args: &Args) -> Result<()> {
    crate::setup::ensure()?;
    step("building xvrrpd and the soak (release)");
    cargo(&[
        "build",
        "--release",
        "--package",
        "xvrrpd",
        "--package",
        "xvrrp-tests",
        "--bin",
        "xvrrpd",
        "--bin",
        "soak",
    ])
    .status_ok()?;
    step("soak");
    let mut argv = vec!["--minutes".to_owned(), args.minutes.clone()];
    if let Some(s) = &args.seed {
        argv.extend(["--seed".to_owned(), s.clone()]);
    }
    if args.no_baseline {
        argv.push("--no-baseline".to_owned());
    }
    let out = match &args.out {
        Some(o) => o.clone(),
        None => target_dir()?
            .join("soak")
            .join("latest.md")
            .to_string_lossy()
            .into_owned(),
    };
    argv.extend(["--out".to_owned(), out]);
    let bin = target_dir()?.join("release").join("soak");
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    Cmd::new(bin, &argv).status_ok()
}
