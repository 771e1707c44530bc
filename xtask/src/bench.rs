//! `cargo xtask bench [--quick] [--only NAME] [--out FILE]`: builds release
//! binaries, then runs the benchmark (xvrrpd against keepalived 2.2.7 on
//! namespace labs). The benchmark itself lives in `tests/src/bin/bench.rs`
//! next to the lab it shares with the integration tests; xtask stays free of
//! the controller so it builds before setup.

use anyhow::Result;

use crate::util::{Cmd, cargo, step, target_dir};

/// `cargo xtask bench` options, passed on to the benchmark binary.
#[derive(clap::Args)]
pub struct Args {
    /// Short version for CI smoke runs (under 3 minutes).
    #[arg(long)]
    quick: bool,
    /// Only these cases: scale, failover, mass, timing, reload, arp, kernel (comma-separated).
    #[arg(long, value_name = "NAME")]
    only: Option<String>,
    /// Results file (default bench/results/latest.json).
    #[arg(long, value_name = "FILE")]
    out: Option<String>,
    /// Scale cases instead of the standard ones: N instances @ advert interval in
    /// centiseconds (e.g. 4000@10,1000@100).
    #[arg(long, value_name = "N@CS,...")]
    scale: Option<String>,
    /// Failover advert intervals in centiseconds instead of the standard ones (e.g. 5,100).
    #[arg(long, value_name = "CS,...")]
    failover: Option<String>,
    /// Failover trials per implementation and interval.
    #[arg(long, value_name = "N")]
    trials: Option<String>,
    /// Seed of the failover cut phases (one list for every implementation;
    /// default: from the clock, printed and recorded).
    #[arg(long, value_name = "S")]
    seed: Option<String>,
}

impl Args {
    /// `--quick --out FILE`: the smoke run of `cargo xtask test`.
    pub fn quick_to(out: &str) -> Self {
        Self {
            quick: true,
            only: None,
            out: Some(out.to_owned()),
            scale: None,
            failover: None,
            trials: None,
            seed: None,
        }
    }

    /// The same options on the benchmark's command line.
    fn to_argv(&self) -> Vec<String> {
        let mut argv = Vec::new();
        if self.quick {
            argv.push("--quick".to_owned());
        }
        for (flag, value) in [
            ("--only", &self.only),
            ("--out", &self.out),
            ("--scale", &self.scale),
            ("--failover", &self.failover),
            ("--trials", &self.trials),
            ("--seed", &self.seed),
        ] {
            if let Some(v) = value {
                argv.extend([flag.to_owned(), v.clone()]);
            }
        }
        argv
    }
}

pub fn run(args: &Args) -> Result<()> {
    crate::setup::ensure()?;
    step("building xvrrpd and the benchmark (release)");
    // Both binaries by name: a bare `--bin bench` would leave a stale xvrrpd.
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
        "bench",
    ])
    .status_ok()?;
    step("benchmark");
    let bin = target_dir()?.join("release").join("bench");
    let argv = args.to_argv();
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    Cmd::new(bin, &argv).status_ok()
}
