//! `cargo xtask setup`: everything the build and the tests need on a fresh
//! machine of this project's kind (root, package registries only).
//!
//! Each step checks first and only acts when something is missing, so running
//! it again costs a few process spawns.

use std::{
    env, fs,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result, bail};

use crate::util::{Cmd, cargo, step};

/// Debian packages the tests and the demo use: real VRRP peers, traffic and
/// capture tools.
pub const APT_PACKAGES: &[&str] = &[
    "iproute2",
    "keepalived",
    // FRR's vrrpd, the second real VRRP peer (tests/tests/frr_interop.rs).
    "frr",
    "nginx",
    "tcpdump",
    "tshark",
    "python3-scapy",
    // A local SMTP sink for the smtp_alert test (run with /usr/bin/python3).
    "python3-aiosmtpd",
    "arping",
    "iputils-ping",
    "iptables",
    "procps",
    "curl",
    "file",
];

/// `cargo xtask setup`.
pub fn run() -> Result<()> {
    step("setup: toolchains, bpf-linker, apt packages");
    ensure()?;
    println!("setup complete");
    Ok(())
}

/// Every setup step; quiet when there is nothing to do.
pub fn ensure() -> Result<()> {
    ensure_nightly()?;
    ensure_rust_src()?;
    ensure_bpf_linker()?;
    ensure_apt_packages()?;
    Ok(())
}

fn nightly_sysroot() -> Option<PathBuf> {
    Cmd::new("rustc", &["+nightly", "--print", "sysroot"])
        .output_ok()
        .map(|s| PathBuf::from(s.trim()))
}

fn ensure_nightly() -> Result<()> {
    if nightly_sysroot().is_some() {
        return Ok(());
    }
    if Cmd::new("rustup", &["--version"]).output_ok().is_none() {
        bail!(
            "rustup is missing: the eBPF build needs a nightly toolchain managed by rustup (https://rustup.rs)"
        );
    }
    println!("setup: installing the nightly toolchain");
    Cmd::new(
        "rustup",
        &["toolchain", "install", "nightly", "--profile", "minimal"],
    )
    .status_ok()
    .context("cannot install the nightly toolchain")
}

fn ensure_rust_src() -> Result<()> {
    let sysroot = nightly_sysroot().context("nightly toolchain not usable")?;
    if sysroot.join("lib/rustlib/src/rust/library/core").is_dir() {
        return Ok(());
    }
    println!("setup: adding rust-src to nightly (needed for -Z build-std=core)");
    Cmd::new(
        "rustup",
        &["component", "add", "rust-src", "--toolchain", "nightly"],
    )
    .status_ok()
    .context("cannot add rust-src to the nightly toolchain")
}

/// Where the LLVM prefix for bpf-linker lives: outside `target/`, because the
/// installed bpf-linker's rpath points into it and must survive `cargo clean`.
fn llvm_prefix() -> Result<PathBuf> {
    let base = env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .context("neither XDG_DATA_HOME nor HOME is set")?;
    Ok(base.join("xvrrp/llvm-prefix"))
}

/// The nightly's own LLVM shared library, e.g. `libLLVM.so.22.1-rust-1.97.0-nightly`,
/// and its major version.
fn nightly_llvm(sysroot: &Path) -> Result<(String, u32)> {
    let lib = sysroot.join("lib");
    let name = fs::read_dir(&lib)
        .with_context(|| format!("cannot list {}", lib.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .find(|n| n.starts_with("libLLVM.so."))
        .with_context(|| {
            format!(
                "no libLLVM.so.* in {}: the nightly toolchain ships no LLVM library",
                lib.display()
            )
        })?;
    let major = name
        .trim_start_matches("libLLVM.so.")
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .with_context(|| format!("cannot read an LLVM major version from {name}"))?;
    Ok((name, major))
}

fn ensure_bpf_linker() -> Result<()> {
    if Cmd::new("bpf-linker", &["--version"]).output_ok().is_some() {
        return Ok(());
    }
    let sysroot = nightly_sysroot().context("nightly toolchain not usable")?;
    let (lib_name, major) = nightly_llvm(&sysroot)?;
    let prefix = llvm_prefix()?;
    let prefix_lib = prefix.join("lib");
    fs::create_dir_all(&prefix_lib).with_context(|| format!("cannot create {}", prefix_lib.display()))?;
    let real = sysroot.join("lib").join(&lib_name);
    for link in [prefix_lib.join("libLLVM.so"), prefix_lib.join(&lib_name)] {
        let _ = fs::remove_file(&link);
        symlink(&real, &link).with_context(|| format!("cannot link {}", link.display()))?;
    }
    println!(
        "setup: building bpf-linker against the nightly's LLVM {major} ({}), prefix {}",
        real.display(),
        prefix.display()
    );
    let feature = format!("llvm-{major}");
    cargo(&[
        "install",
        "bpf-linker",
        "--locked",
        "--no-default-features",
        "--features",
        &feature,
    ])
    .env("LLVM_PREFIX", &prefix)
    .status_ok()
    .context("cannot build bpf-linker (needs crates.io and a C/C++ compiler)")?;
    if Cmd::new("bpf-linker", &["--version"]).output_ok().is_none() {
        bail!("bpf-linker was installed but does not run; is ~/.cargo/bin on PATH?");
    }
    Ok(())
}

fn apt_installed(package: &str) -> bool {
    Cmd::new("dpkg-query", &["-W", "-f=${Status}", package])
        .output_ok()
        .is_some_and(|s| s.contains("install ok installed"))
}

fn ensure_apt_packages() -> Result<()> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| !apt_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "missing apt packages {missing:?} and not root: run `sudo cargo xtask setup` \
             or install them with apt-get"
        );
    }
    println!("setup: installing apt packages {missing:?}");
    Cmd::new("apt-get", &["update", "-q"]).status_ok()?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend_from_slice(&missing);
    Cmd::new("apt-get", &args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status_ok()
        .with_context(|| format!("cannot install {missing:?} with apt-get"))
}

/// Before the integration suite: it needs root (network namespaces, BPF),
/// and the peers whose behaviour it takes as the reference must be the
/// versions it was written against. Without either it would pass vacuously
/// or compare against the wrong thing, so it refuses.
pub fn check_integration_prerequisites() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "the integration tests need root (network namespaces, XDP, TC): run `sudo cargo xtask test`; \
             `cargo test` alone runs them as skips"
        );
    }
    let keepalived = peer_version("keepalived", &["--version"])?;
    if !keepalived.contains("Keepalived v2.2.") {
        bail!("the tests compare against keepalived 2.2.x; this machine has: {keepalived}");
    }
    let nginx = peer_version("nginx", &["-v"])?;
    if !nginx.contains("nginx/1.") {
        bail!("the classic tests run nginx 1.x; this machine has: {nginx}");
    }
    println!("peers: {} / {}", keepalived.trim(), nginx.trim());
    Ok(())
}

/// What `program args` prints about its version (on stdout or stderr).
fn peer_version(program: &str, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("{program} is not installed (cargo xtask setup installs it)"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(text.lines().next().unwrap_or("").to_owned())
}
