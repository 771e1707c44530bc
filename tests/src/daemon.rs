//! Running xvrrpd (and keepalived) inside test namespaces.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::netns::NetNs;

/// The xvrrpd binary next to the test executable (target/<profile>/xvrrpd).
pub fn xvrrpd_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // Tests run from target/<profile>/deps, binaries (the demo) from target/<profile>.
    let mut dir = exe.parent().expect("exe directory");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("target/<profile>");
    }
    let bin = dir.join("xvrrpd");
    assert!(
        bin.is_file(),
        "{} missing: build it first (cargo build -p xvrrpd)",
        bin.display()
    );
    bin
}

/// A scratch directory for one test, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("xvt-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("scratch dir");
        Self(dir)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        fs::write(&p, text).expect("write scratch file");
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// An xvrrpd running in a namespace; SIGTERM on drop (SIGKILL if it lingers).
pub struct Daemon {
    child: Option<Child>,
    pub ns: String,
    pub run_dir: PathBuf,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(ns: &NetNs, config: &Path, run_dir: &Path, mode: &str) -> Self {
        Self::start_args(ns, config, run_dir, mode, &[])
    }

    /// `start` with extra `xvrrpd run` arguments.
    pub fn start_args(ns: &NetNs, config: &Path, run_dir: &Path, mode: &str, extra: &[&str]) -> Self {
        Self::start_wrapped(ns, &[], config, run_dir, mode, extra)
    }

    /// `start_args` with `wrapper` (a command that ends by executing the
    /// command line after it, e.g. `setpriv ...`) in front of xvrrpd, so that
    /// the process id stays the daemon's.
    pub fn start_wrapped(
        ns: &NetNs,
        wrapper: &[&str],
        config: &Path,
        run_dir: &Path,
        mode: &str,
        extra: &[&str],
    ) -> Self {
        let log = run_dir.with_extension("log");
        let out = fs::File::create(&log).expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", ns.name()])
            .args(wrapper)
            .arg(xvrrpd_bin())
            .args(["run", "-f"])
            .arg(config)
            .arg("--run-dir")
            .arg(run_dir)
            .args(["--mode", mode, "--log-level", "info"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("spawn xvrrpd");
        Self {
            child: Some(child),
            ns: ns.name().to_owned(),
            run_dir: run_dir.to_owned(),
            log,
        }
    }

    /// The daemon's process id (`ip netns exec` execs it in place), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `xvrrpd status --json`, or None while the daemon does not answer yet.
    pub fn status(&self) -> Option<Value> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(xvrrpd_bin())
            .args(["status", "--json", "--run-dir"])
            .arg(&self.run_dir)
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// The state of instance `name` ("MASTER", ...).
    pub fn state(&self, name: &str) -> Option<String> {
        let st = self.status()?;
        st["instances"]
            .as_array()?
            .iter()
            .find(|i| i["name"] == name)
            .map(|i| i["state"].as_str().unwrap_or("").to_owned())
    }

    /// A counter by name. A daemon that does not answer, or a counter it
    /// does not report, fails the test: a zero read from nothing would let
    /// a check for "nothing counted" pass vacuously.
    pub fn counter(&self, name: &str) -> u64 {
        let status = self.status().unwrap_or_else(|| {
            panic!(
                "xvrrpd in {} does not answer status:\n{}",
                self.ns,
                self.log_text()
            )
        });
        status["counters"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("status has no counter {name:?}: {}", status["counters"]))
    }

    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .args([&format!("-{sig}"), &c.id().to_string()])
                .status();
        }
    }

    /// How the daemon ended, if it has: its exit code, or 128 + the signal
    /// that killed it (as a shell reports it), so a crash is never taken for
    /// "still running".
    pub fn exited(&mut self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt as _;
        let status = self.child.as_mut()?.try_wait().ok().flatten()?;
        Some(
            status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
        )
    }

    /// SIGTERM and wait (bounded); returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        self.stop_within(Duration::from_secs(5))
    }

    /// SIGTERM, then the exit code if it came within `limit` (else SIGKILL
    /// and None). For a shutdown with much work queued (thousands of VIPs
    /// and STOP scripts) the daemon bounds only a stall, not the whole.
    pub fn stop_within(&mut self, limit: Duration) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (at most `limit`) for its "xvrrpd running" line: its instances
    /// have started. A protocol deadline (Master_Down_Interval, preemption)
    /// counts from there, not from the spawn: the XDP load before it took
    /// 3.7-4 s on a loaded CI host where it takes under 1 s alone.
    pub fn wait_running(&self, limit: Duration) -> bool {
        wait_for(limit, || self.log_text().contains("xvrrpd running")).is_some()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `f` every 20 ms until it returns true or `limit` passes; returns the elapsed time.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return Some(start.elapsed());
        }
        thread::sleep(Duration::from_millis(20));
    }
    None
}

/// keepalived 2.2.7 (apt) running VRRP only in a namespace.
pub struct Keepalived {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Keepalived {
    pub fn start(ns: &NetNs, config: &Path, dir: &Path) -> Self {
        let log = dir.join("keepalived.log");
        let out = fs::File::create(&log).expect("log file");
        let pid = |n: &str| dir.join(n).to_string_lossy().into_owned();
        let child = Command::new("ip")
            .args(["netns", "exec", ns.name(), "keepalived", "-n", "-l", "-P", "-f"])
            .arg(config)
            .args(["-p", &pid("ka.pid"), "-r", &pid("ka-vrrp.pid")])
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .expect("spawn keepalived (apt package keepalived)");
        Self {
            child: Some(child),
            log,
        }
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The main keepalived process's id (its VRRP child is forked from it), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A bpffs mounted for this test in the host's mount namespace: `ip netns
/// exec` gives each daemon a fresh /sys, so pins must live where the next
/// daemon sees them (on a real host that is /sys/fs/bpf). Unmounted on drop.
pub struct SharedBpffs(pub std::path::PathBuf);

impl SharedBpffs {
    pub fn mount(tag: &str) -> Self {
        let dir = std::path::PathBuf::from(format!("/run/xvt-bpffs-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(&dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount -t bpf");
        Self(dir)
    }

    pub fn pin_dirs(&self) -> Vec<String> {
        std::fs::read_dir(self.0.join("xvrrp"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for SharedBpffs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}
