//! `cargo xtask <command>`: the developer commands of xvrrp.
//!
//! - `setup`: prepares this machine (nightly + rust-src, bpf-linker against the
//!   nightly's LLVM, the apt packages the tests use). Idempotent.
//! - `build-ebpf [--release]`: builds the XDP program and says where it is.
//! - `test`: setup, formatting, lints, build, every test.
//! - `demo`: the main job on a namespace lab.
//! - `bench [--quick] [--only NAME]`: xvrrpd against keepalived, side by side.
//! - `soak [--minutes N] [--seed S]`: mixed clusters under random faults.
//! - `dist`: the Debian package.

mod bench;
mod demo;
mod dist;
mod fuzz;
mod setup;
mod soak;
mod util;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::util::{cargo, nightly_cargo, workspace_root};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "xvrrp developer commands")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prepare this machine for building and testing (idempotent).
    Setup,
    /// Build the XDP program for bpfel-unknown-none and print the object's path.
    BuildEbpf {
        /// Optimised build (what the controller embeds).
        #[arg(long)]
        release: bool,
    },
    /// Set up, check formatting and lints, build, and run every test.
    Test,
    /// Run the demo on a network-namespace lab (needs root).
    Demo,
    /// Benchmark xvrrpd against keepalived on namespace labs (needs root): prints a
    /// Markdown table, writes bench/results/latest.json.
    Bench(bench::Args),
    /// The field soak (needs root): xvrrpd, keepalived and FRR as three routers per
    /// virtual router under seeded faults, then keepalived everywhere; a report side by side.
    Soak(soak::Args),
    /// Run the cargo-fuzz targets (fuzz/) for a while each.
    Fuzz(fuzz::Args),
    /// Build the Debian package (target/dist/): daemon, man pages, completions,
    /// unit, the keepalived alternative, the Grafana dashboard.
    Dist,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Setup => setup::run(),
        Command::BuildEbpf { release } => build_ebpf(release),
        Command::Test => test(),
        Command::Demo => demo::run(),
        Command::Bench(args) => bench::run(&args),
        Command::Fuzz(args) => fuzz::run(&args),
        Command::Soak(args) => soak::run(&args),
        Command::Dist => dist::run().map(|_| ()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The same build that `controller/build.rs` does, with the
/// same flags, into the workspace's own target directory.
fn build_ebpf(release: bool) -> Result<()> {
    setup::ensure()?;
    let mut args = vec![
        "build",
        "--package",
        "xvrrp-ebpf",
        "--bins",
        "--target",
        "bpfel-unknown-none",
        "-Z",
        "build-std=core",
    ];
    if release {
        args.push("--release");
    }
    // As controller/build.rs builds it: no LTO (the workspace's release
    // profile has it for the daemon only).
    nightly_cargo(&args)
        .env("CARGO_ENCODED_RUSTFLAGS", util::ebpf_rustflags())
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .status_ok()?;
    let profile = if release { "release" } else { "debug" };
    let object = util::target_dir()?
        .join("bpfel-unknown-none")
        .join(profile)
        .join("xvrrp");
    println!("XDP object: {}", object.display());
    Ok(())
}

fn test() -> Result<()> {
    setup::ensure()?;
    let root = workspace_root()?;
    util::step("formatting (cargo fmt --check)");
    cargo(&["fmt", "--all", "--check"]).status_ok()?;
    util::step("lints: userspace crates (clippy -D warnings)");
    cargo(&["clippy", "--all-targets", "--", "-D", "warnings"]).status_ok()?;
    util::step("lints: the XDP crate (clippy for bpfel-unknown-none)");
    nightly_cargo(&[
        "clippy",
        "--package",
        "xvrrp-ebpf",
        "--target",
        "bpfel-unknown-none",
        "-Z",
        "build-std=core",
        "--release",
        "--",
        "-D",
        "warnings",
    ])
    .env("CARGO_ENCODED_RUSTFLAGS", util::ebpf_rustflags())
    .env("CARGO_PROFILE_RELEASE_LTO", "false")
    .status_ok()?;
    util::step("unit tests");
    cargo(&[
        "test",
        "--workspace",
        "--exclude",
        "xvrrp-tests",
        "--exclude",
        "xvrrp-ebpf",
    ])
    .status_ok()?;
    util::step("daemon binary for the integration tests");
    cargo(&["build", "--package", "xvrrpd"]).status_ok()?;
    util::step("integration tests (network namespaces, XDP, real peers)");
    setup::check_integration_prerequisites()?;
    // --nocapture: each test prints what it ran, so a log shows nothing was skipped.
    cargo(&["test", "--package", "xvrrp-tests", "--tests", "--", "--nocapture"]).status_ok()?;
    // A short run of every fuzz target: the differential one compares the
    // kernel programs with the userspace validator on inputs nobody wrote
    // (it found a disagreement in its first two minutes once). Costs about
    // 8 minutes on a fresh 2-core machine: installing cargo-fuzz, one
    // nightly build with sanitizers, 20 s per target.
    util::step("fuzzing: every target for 20 s");
    fuzz::run_targets(fuzz::TARGETS, 20)?;
    // The benchmark's smoke version: every case runs against keepalived and
    // fails on a measurement that did not happen (about 6 minutes with its
    // release build). Results go to target/, not over bench/results/.
    util::step("benchmark smoke run (bench --quick)");
    let out = util::target_dir()?.join("bench-quick.json");
    bench::run(&bench::Args::quick_to(&out.to_string_lossy()))?;
    // Two minutes of the field soak and the same steps with keepalived
    // everywhere (about 6 minutes with start-up and teardown): fails on a
    // broken invariant or anything left behind in the mixed cluster.
    util::step("field soak (soak --minutes 2)");
    let out = util::target_dir()?.join("soak").join("ci.md");
    soak::run(&soak::Args::ci("2", "5", &out.to_string_lossy()))?;
    util::step("Debian package (cargo xtask dist)");
    dist::run()?;
    println!("\nall checks passed in {}", root.display());
    Ok(())
}
