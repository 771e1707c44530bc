//! Running commands from xtask: every command is echoed before it runs, and a
//! failure names the command.

use std::{
    env,
    ffi::OsStr,
    path::PathBuf,
    process::{Command, Stdio},
};

use anyhow::{Context as _, Result, bail};

/// The flags `controller/build.rs` passes when it builds the program for the controller
/// (separated by 0x1f as CARGO_ENCODED_RUSTFLAGS wants); `build-ebpf` and the
/// eBPF lints use the same so they see the same code.
pub fn ebpf_rustflags() -> String {
    format!(
        "--cfg=bpf_target_arch=\"{}\"\x1f-Cdebuginfo=2\x1f-Clink-arg=--btf",
        env::consts::ARCH
    )
}

pub fn step(what: &str) {
    println!("\n==> {what}");
}

pub fn workspace_root() -> Result<PathBuf> {
    let dir = env::var("CARGO_MANIFEST_DIR").context("run me through `cargo xtask`")?;
    PathBuf::from(dir)
        .parent()
        .map(PathBuf::from)
        .context("xtask/ has no parent directory")
}

pub fn target_dir() -> Result<PathBuf> {
    Ok(match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root()?.join("target"),
    })
}

/// `~/.cargo/bin`, where `cargo install` puts bpf-linker.
pub fn cargo_bin_dir() -> Option<PathBuf> {
    env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|home| home.join("bin"))
}

/// PATH with cargo's bin directory in it (a fresh login shell may lack it).
pub fn path_with_cargo_bin() -> std::ffi::OsString {
    let mut paths: Vec<PathBuf> = env::var_os("PATH")
        .map(|p| env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(bin) = cargo_bin_dir()
        && !paths.contains(&bin)
    {
        paths.push(bin);
    }
    env::join_paths(paths).unwrap_or_default()
}

/// A command that runs at the workspace root with cargo's bin dir on PATH.
pub struct Cmd(Command);

impl Cmd {
    pub fn new(program: impl AsRef<OsStr>, args: &[&str]) -> Self {
        let mut cmd = Command::new(program);
        cmd.args(args).env("PATH", path_with_cargo_bin());
        if let Ok(root) = workspace_root() {
            cmd.current_dir(root);
        }
        Self(cmd)
    }

    pub fn arg_path(mut self, path: &std::path::Path) -> Self {
        self.0.arg(path);
        self
    }

    pub fn args_str(mut self, args: &[&str]) -> Self {
        self.0.args(args);
        self
    }

    pub fn in_dir(mut self, dir: &std::path::Path) -> Self {
        self.0.current_dir(dir);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.0.env(key, value);
        self
    }

    fn describe(&self) -> String {
        let mut s = self.0.get_program().to_string_lossy().into_owned();
        for a in self.0.get_args() {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    /// Runs with inherited stdio; fails unless it exits 0.
    pub fn status_ok(mut self) -> Result<()> {
        let line = self.describe();
        println!("+ {line}");
        let status = self
            .0
            .status()
            .with_context(|| format!("cannot start `{line}`"))?;
        if !status.success() {
            bail!("`{line}` failed ({status})");
        }
        Ok(())
    }

    /// Runs quietly and returns stdout when it exits 0, `None` otherwise.
    pub fn output_ok(mut self) -> Option<String> {
        let out = self.0.stderr(Stdio::null()).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

pub fn cargo(args: &[&str]) -> Cmd {
    Cmd::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()), args)
}

/// cargo of the nightly toolchain, through rustup (as controller/build.rs does).
pub fn nightly_cargo(args: &[&str]) -> Cmd {
    let mut all = vec!["run", "nightly", "cargo"];
    all.extend_from_slice(args);
    // The stable cargo that runs xtask exports RUSTC etc.; let nightly choose its own.
    let mut cmd = Cmd::new("rustup", &all);
    for key in [
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTDOC",
        "CARGO",
    ] {
        cmd.0.env_remove(key);
    }
    cmd
}
