//! `cargo xtask fuzz [--seconds N] [--target NAME]`: runs the cargo-fuzz
//! targets in `fuzz/` one after the other, each for N seconds. New inputs go
//! to a scratch corpus (the committed seeds in `fuzz/corpus/` stay as they
//! are); a crash lands in `fuzz/artifacts/TARGET/` and fails the command.

use anyhow::{Result, bail};

use crate::util::{Cmd, cargo, step, workspace_root};

/// Every target of `fuzz/Cargo.toml`. `xdp_differential` needs root (it runs
/// the XDP program through BPF_PROG_TEST_RUN).
pub const TARGETS: &[&str] = &["config_parser", "advert_decoder", "xdp_differential"];

#[derive(clap::Args)]
pub struct Args {
    /// How long each target runs.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Run only this target.
    #[arg(long)]
    target: Option<String>,
}

pub fn run(args: &Args) -> Result<()> {
    crate::setup::ensure()?;
    let targets: Vec<&str> = match &args.target {
        Some(t) if TARGETS.contains(&t.as_str()) => vec![t.as_str()],
        Some(t) => bail!("no fuzz target {t}; targets: {}", TARGETS.join(", ")),
        None => TARGETS.to_vec(),
    };
    run_targets(&targets, args.seconds)
}

/// Runs `targets` for `seconds` each (cargo-fuzz installed when missing).
pub fn run_targets(targets: &[&str], seconds: u64) -> Result<()> {
    if Cmd::new("cargo", &["+nightly", "fuzz", "--version"])
        .output_ok()
        .is_none()
    {
        step("installing cargo-fuzz");
        cargo(&["install", "cargo-fuzz", "--locked"]).status_ok()?;
    }
    let fuzz_dir = workspace_root()?.join("fuzz");
    let scratch = std::env::temp_dir().join("xvrrp-fuzz");
    for &target in targets {
        step(&format!("fuzzing {target} for {seconds} s"));
        let corpus = scratch.join(target);
        std::fs::create_dir_all(&corpus)?;
        let max_time = format!("-max_total_time={seconds}");
        let seeds = format!("corpus/{target}");
        Cmd::new("cargo", &["+nightly", "fuzz", "run", target])
            .arg_path(&corpus)
            .args_str(&[&seeds, "--", &max_time])
            .in_dir(&fuzz_dir)
            .status_ok()?;
    }
    Ok(())
}
