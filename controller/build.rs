//! Builds the XDP program (`ebpf/`) with the nightly toolchain and leaves the
//! object in `OUT_DIR/xvrrp`, where `datapath::EBPF_OBJECT` embeds it.
//!
//! The nested build's own output (its progress lines) goes to
//! `target/<profile>/ebpf-build.log`, not to the terminal: cargo shows every
//! line a build script prints as a warning, and a newcomer's first build
//! would open with hundreds of them. Real compiler warnings and errors are
//! relayed; a failed build names the log. (aya-build does the same job but
//! relays every line.)
//!
//! `AYA_BUILD_SKIP=1` skips the eBPF build (for tools that only need to type-check).

use std::{
    env,
    ffi::OsString,
    fs,
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context as _, bail};

const PACKAGE: &str = "xvrrp-ebpf";

fn main() -> anyhow::Result<()> {
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR not set")?;
    let root = Path::new(&manifest_dir)
        .parent()
        .context("controller/ has no parent directory")?;
    let ebpf_dir = root.join("ebpf");
    // The program's behaviour also depends on the shared constants.
    println!("cargo:rerun-if-changed={}", root.join("common").display());
    println!("cargo:rerun-if-changed={}", ebpf_dir.display());
    // A new aya-ebpf pin or toolchain file changes the object too.
    println!("cargo:rerun-if-changed={}", root.join("Cargo.lock").display());
    println!("cargo:rerun-if-env-changed=PATH");
    println!("cargo:rerun-if-env-changed=AYA_BUILD_SKIP");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").context("OUT_DIR not set")?);
    if env::var("AYA_BUILD_SKIP").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true")) {
        // An empty object: the binary builds (type-checking tools), and
        // loading the data path fails with the loader's error.
        println!("cargo:warning=AYA_BUILD_SKIP set: the XDP program is not built");
        fs::write(out_dir.join("xvrrp"), b"").context("writing the empty XDP object")?;
        return Ok(());
    }
    if !on_path("bpf-linker") {
        bail!(
            "bpf-linker is not on PATH: the XDP program cannot be linked. \
             Run `cargo xtask setup` once (it builds bpf-linker against the nightly \
             toolchain's LLVM), then build again."
        );
    }
    // OUT_DIR is target/<profile>/build/<pkg>-<hash>/out.
    let log_path = out_dir
        .ancestors()
        .nth(3)
        .unwrap_or(&out_dir)
        .join("ebpf-build.log");
    build(&ebpf_dir, &out_dir, &log_path).with_context(|| {
        format!(
            "building the XDP program failed (full output: {}); `cargo xtask setup` prepares the toolchain",
            log_path.display()
        )
    })
}

fn build(ebpf_dir: &Path, out_dir: &Path, log_path: &Path) -> anyhow::Result<()> {
    // The BPF target of the host's byte order (as aya-build chose it).
    let target = if env::var("CARGO_CFG_TARGET_ENDIAN").is_ok_and(|e| e == "big") {
        "bpfeb-unknown-none"
    } else {
        "bpfel-unknown-none"
    };
    let mut cmd = Command::new("rustup");
    cmd.args(["run", "nightly", "cargo", "build", "--package", PACKAGE])
        .args(["--bins", "--message-format=json", "--release", "--target", target])
        .args(["-Z", "build-std=core"])
        .arg("--target-dir")
        .arg(out_dir.join("ebpf-target"))
        .current_dir(ebpf_dir);
    // The program reads the controller's architecture (pt_regs and the like)
    // through this cfg; the flags are `xtask`'s `ebpf_rustflags` too.
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| env::consts::ARCH.to_owned());
    let mut flags = OsString::from(format!("--cfg=bpf_target_arch=\"{arch}\""));
    flags.push("\x1f-Cdebuginfo=2\x1f-Clink-arg=--btf");
    cmd.env("CARGO_ENCODED_RUSTFLAGS", flags);
    // The workspace's release profile links the daemon with fat LTO; the
    // XDP object keeps the build it was verified and measured with
    // (bpf-linker links the program whole anyway).
    cmd.env("CARGO_PROFILE_RELEASE_LTO", "false");
    // The outer (stable) build's tools are not the nightly's.
    for key in [
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTDOC",
        "CARGO",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cmd.env_remove(key);
    }
    let log = fs::File::create(log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .context("running `rustup run nightly cargo build`")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut executables = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading the nested build's messages")?;
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        match msg["reason"].as_str() {
            Some("compiler-artifact") => {
                if let (Some(name), Some(exe)) = (msg["target"]["name"].as_str(), msg["executable"].as_str())
                {
                    executables.push((name.to_owned(), PathBuf::from(exe)));
                }
            }
            // Only what the compiler says about the code: warnings and errors.
            Some("compiler-message") => {
                if let Some(text) = msg["message"]["rendered"].as_str() {
                    for l in text.lines() {
                        println!("cargo:warning={l}");
                    }
                }
            }
            _ => {}
        }
    }
    let status = child.wait().context("waiting for the nested build")?;
    if !status.success() {
        let text = fs::read_to_string(log_path).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        for l in tail.iter().rev() {
            println!("cargo:warning={l}");
        }
        bail!("the nested cargo build exited with {status}");
    }
    for (name, exe) in executables {
        let dst = out_dir.join(&name);
        fs::copy(&exe, &dst).with_context(|| format!("copying {} to {}", exe.display(), dst.display()))?;
    }
    Ok(())
}

fn on_path(program: &str) -> bool {
    env::var_os("PATH").is_some_and(|paths| env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
