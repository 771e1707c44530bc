//! Builds the XDP program (`ebpf/`) with the nightly toolchain and leaves the
//! object in `OUT_DIR/xvrrp`, where `datapath::EBPF_OBJECT` embeds it.
//!
//! `AYA_BUILD_SKIP=1` skips the eBPF build (for tools that only need to type-check).

use std::{env, path::Path};

use anyhow::{Context as _, bail};

fn main() -> anyhow::Result<()> {
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR not set")?;
    let root = Path::new(&manifest_dir)
        .parent()
        .context("controller/ has no parent directory")?;
    let ebpf_dir = root.join("ebpf");
    // The program's behaviour also depends on the shared constants.
    println!("cargo:rerun-if-changed={}", root.join("common").display());
    println!("cargo:rerun-if-env-changed=PATH");

    let skip = env::var("AYA_BUILD_SKIP").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    if !skip && !on_path("bpf-linker") {
        bail!(
            "bpf-linker is not on PATH: the XDP program cannot be linked. \
             Run `cargo xtask setup` once (it builds bpf-linker against the nightly \
             toolchain's LLVM), then build again."
        );
    }

    let ebpf_dir = ebpf_dir.to_str().context("ebpf/ path is not UTF-8")?;
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "xvrrp-ebpf",
            root_dir: ebpf_dir,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
    .context("building the XDP program failed; `cargo xtask setup` prepares the toolchain")
}

fn on_path(program: &str) -> bool {
    env::var_os("PATH").is_some_and(|paths| env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
