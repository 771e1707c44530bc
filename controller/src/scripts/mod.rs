//! Health checks (`vrrp_script`) and notify scripts. Both run as child
//! processes in their own process group, never on the protocol path: health
//! checks report changes over a channel, notify scripts are fire and forget.

use std::{
    ffi::CString,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::Stdio,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use anyhow::{Context as _, Result, bail};
use tokio::{process::Command, sync::mpsc, task::JoinHandle};
use tracing::{info, warn};

use crate::{
    config::model::{Config, NotifyScript, RunAs, VrrpScript},
    trackers::TrackEvent,
};

/// Where a command's program lives: as given when it has a slash, else the
/// first match on PATH.
fn resolve(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

fn executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Why `path` may not run as root under `enable_script_security`: it, or a
/// directory above it, can be written by someone other than root (keepalived's
/// rule). A world-writable directory with the sticky bit (like /tmp) is fine:
/// others cannot replace what root owns in it.
fn insecure(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let mut cur = Some(path);
    while let Some(p) = cur {
        let Ok(m) = p.metadata() else {
            return Some(format!("cannot stat {}", p.display()));
        };
        let mode = m.mode();
        let sticky_dir = m.is_dir() && mode & 0o1000 != 0;
        if m.uid() != 0 && mode & 0o200 != 0 {
            return Some(format!(
                "{} is owned by uid {} and writable by it",
                p.display(),
                m.uid()
            ));
        }
        if m.gid() != 0 && mode & 0o020 != 0 {
            return Some(format!("{} is writable by group {}", p.display(), m.gid()));
        }
        if mode & 0o002 != 0 && !sticky_dir {
            return Some(format!("{} is world-writable", p.display()));
        }
        cur = p.parent();
    }
    None
}

/// One command to check: what configured it, its argv, who runs it.
struct Checked<'a> {
    what: String,
    argv: &'a [String],
    run_as: Option<&'a RunAs>,
}

/// Checks at start (and on reload) that every health and notify script can
/// be executed, and with `enable_script_security` that none that runs as root
/// can be changed by a non-root user: a clear error now rather than a silent
/// failure every interval.
pub fn validate(config: &Config) -> Result<()> {
    let user = config.global.script_user.as_ref();
    let mut all: Vec<Checked<'_>> = config
        .scripts
        .iter()
        .map(|s| Checked {
            what: format!("vrrp_script {}", s.name),
            argv: &s.command,
            run_as: s.user.as_ref().or(user),
        })
        .collect();
    let notifies = config
        .instances
        .iter()
        .map(|i| (format!("vrrp_instance {}", i.name), i.notify()))
        .chain(
            config
                .sync_groups
                .iter()
                .map(|g| (format!("vrrp_sync_group {}", g.name), &g.notify)),
        );
    for (owner, n) in notifies {
        for (kw, script) in [
            ("notify_master", &n.master),
            ("notify_backup", &n.backup),
            ("notify_fault", &n.fault),
            ("notify_stop", &n.stop),
            ("notify", &n.any),
        ] {
            if let Some(script) = script {
                all.push(Checked {
                    what: format!("{owner}: {kw}"),
                    argv: &script.command,
                    run_as: script.user.as_ref().or(user),
                });
            }
        }
    }
    for c in all {
        let program = c
            .argv
            .first()
            .with_context(|| format!("{}: empty command", c.what))?;
        let Some(path) = resolve(program) else {
            bail!("{}: {program} not found (PATH searched)", c.what);
        };
        if !executable(&path) {
            bail!("{}: {} is not an executable file", c.what, path.display());
        }
        let as_root = c.run_as.is_none_or(|r| r.user == "root");
        if config.global.enable_script_security
            && as_root
            && let Some(why) = insecure(&path)
        {
            bail!(
                "{}: refusing to run {} as root with enable_script_security: {why}",
                c.what,
                path.display()
            );
        }
    }
    Ok(())
}

/// uid and gid of a `script_user` / `user` entry.
pub fn ids(run_as: &RunAs) -> Result<(u32, u32)> {
    let name = CString::new(run_as.user.as_str()).context("user name with NUL")?;
    // SAFETY: getpwnam returns a pointer into static storage or NULL; read at once.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        bail!("user {} does not exist", run_as.user);
    }
    let (uid, mut gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    if let Some(group) = &run_as.group {
        let g = CString::new(group.as_str()).context("group name with NUL")?;
        let gr = unsafe { libc::getgrnam(g.as_ptr()) };
        if gr.is_null() {
            bail!("group {group} does not exist");
        }
        gid = unsafe { (*gr).gr_gid };
    }
    Ok((uid, gid))
}

fn command(argv: &[String], run_as: Option<&RunAs>) -> Result<Command> {
    let program = argv.first().context("empty command")?;
    let mut cmd = Command::new(program);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group, so a timeout kills the children too.
        .process_group(0)
        .kill_on_drop(true);
    if let Some(run_as) = run_as {
        let (uid, gid) = ids(run_as)?;
        cmd.uid(uid).gid(gid);
    }
    // A script runs at ordinary priority whatever `vrrp_priority` gave the
    // daemon (keepalived resets it in the child too); real-time scheduling is
    // not inherited anyway (SCHED_RESET_ON_FORK). Only when the daemon is
    // niced: a pre_exec hook makes std fork (copying the page tables of a
    // daemon with thousands of instances) where it would otherwise
    // posix_spawn (a vfork that shares them).
    if daemon_niced() {
        // SAFETY: setpriority is async-signal-safe; nothing else runs in the child.
        unsafe {
            cmd.pre_exec(|| {
                libc::setpriority(libc::PRIO_PROCESS, 0, 0);
                Ok(())
            });
        }
    }
    Ok(cmd)
}

/// Whether the calling thread, whose nice value a script started from it
/// inherits, runs at one other than 0. Linux's nice is per thread:
/// `vrrp_priority` nices the protocol thread once the side thread (which
/// starts the scripts) runs, so this is true only for a daemon started under
/// `nice`. The side thread has dropped CAP_SYS_NICE by then: a negative
/// value goes back to 0, a positive one stays (lowering it is privileged).
fn daemon_niced() -> bool {
    // getpriority returns -1 both for nice -1 and on an error: clear errno
    // first to tell them apart; on an error assume niced (the safe way).
    // SAFETY: plain syscalls on this process.
    unsafe {
        *libc::__errno_location() = 0;
        let nice = libc::getpriority(libc::PRIO_PROCESS, 0);
        nice != 0 || *libc::__errno_location() != 0
    }
}

/// Kills a script's whole process group when dropped while the script is
/// still running: on a timeout, and when the daemon stops or reloads mid-run
/// (the task is dropped), so no forked child outlives its check.
struct GroupGuard {
    pgid: Option<i32>,
}

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // SAFETY: signalling the process group created for this script.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs a check once: `true` when it exited 0 within `timeout`.
async fn run_once(name: &str, argv: &[String], run_as: Option<&RunAs>, timeout: Duration) -> bool {
    let mut child = match command(argv, run_as).and_then(|mut c| c.spawn().context("spawn")) {
        Ok(child) => child,
        Err(e) => {
            warn!(script = name, "cannot run: {e:#}");
            return false;
        }
    };
    let mut group = GroupGuard {
        pgid: child.id().and_then(|p| i32::try_from(p).ok()),
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => {
            // Finished: what it started in the background is its business.
            group.pgid = None;
            status.success()
        }
        Ok(Err(e)) => {
            warn!(script = name, "wait failed: {e}");
            false
        }
        Err(_) => {
            warn!(
                script = name,
                timeout_s = timeout.as_secs(),
                "timed out; killing its process group"
            );
            group.kill();
            let _ = child.wait().await;
            false
        }
    }
}

/// Starts one task per health check. As in keepalived 2.2.7 (vrrp_track.c),
/// a check has no verdict until its first run, and that first result decides
/// either way; with `init_fail` it starts failing at once and needs `rise`
/// successes. After that, a change takes `rise` successes or `fall` failures
/// in a row. Each verdict and each change is sent.
pub fn spawn_health_checks(
    scripts: &[VrrpScript],
    default_user: Option<&RunAs>,
    tx: &mpsc::UnboundedSender<TrackEvent>,
) -> Vec<JoinHandle<()>> {
    scripts
        .iter()
        .map(|s| {
            let s = s.clone();
            let run_as = s.user.clone().or_else(|| default_user.cloned());
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut verdict: Option<bool> = None;
                if s.init_fail {
                    verdict = Some(false);
                    let _ = tx.send(TrackEvent::Script {
                        name: s.name.clone(),
                        ok: false,
                    });
                }
                let (mut good, mut bad) = (0u32, 0u32);
                let interval = Duration::from_secs(u64::from(s.interval_s.max(1)));
                let timeout = Duration::from_secs(u64::from(if s.timeout_s == 0 {
                    s.interval_s.max(1)
                } else {
                    s.timeout_s
                }));
                let mut tick = tokio::time::interval(interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let passed = run_once(&s.name, &s.command, run_as.as_ref(), timeout).await;
                    if passed {
                        good += 1;
                        bad = 0;
                    } else {
                        bad += 1;
                        good = 0;
                    }
                    let next = match verdict {
                        None => Some(passed),
                        Some(true) if bad >= s.fall.max(1) => Some(false),
                        Some(false) if good >= s.rise.max(1) => Some(true),
                        same => same,
                    };
                    if next != verdict
                        && let Some(ok) = next
                    {
                        verdict = next;
                        info!(script = %s.name, ok, "health check changed");
                        if tx
                            .send(TrackEvent::Script {
                                name: s.name.clone(),
                                ok,
                            })
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            })
        })
        .collect()
}

/// Starts a notify FIFO's reader script with the FIFO's path as its last
/// argument; it runs until the FIFO closes (its process group is signalled).
pub fn spawn_reader(
    script: &NotifyScript,
    fifo: &str,
    default_user: Option<&RunAs>,
) -> Result<tokio::process::Child> {
    let mut argv = script.command.clone();
    argv.push(fifo.to_owned());
    let run_as = script.user.clone().or_else(|| default_user.cloned());
    let mut cmd = command(&argv, run_as.as_ref())?;
    // It outlives no daemon: SIGTERM when the daemon's side thread ends
    // (keepalived sets PR_SET_PDEATHSIG too), and it is not killed when its
    // handle is dropped, so it can read the last lines first.
    cmd.kill_on_drop(false);
    // SAFETY: prctl is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    cmd.spawn().context("spawn")
}

/// Runs a notify script with `extra` arguments appended, without waiting for it.
pub fn notify(script: &NotifyScript, extra: &[String], default_user: Option<&RunAs>) {
    let mut argv = script.command.clone();
    argv.extend_from_slice(extra);
    let run_as = script.user.clone().or_else(|| default_user.cloned());
    match command(&argv, run_as.as_ref()).and_then(|mut c| c.spawn().context("spawn")) {
        Ok(mut child) => {
            NOTIFY_RUNNING.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                // Reap it; notify scripts get a minute before they are killed.
                if tokio::time::timeout(Duration::from_mins(1), child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.kill().await;
                }
                NOTIFY_RUNNING.fetch_sub(1, Ordering::Relaxed);
            });
        }
        Err(e) => warn!(command = ?argv, "notify script failed to start: {e:#}"),
    }
}

/// Notify scripts started and not yet reaped.
static NOTIFY_RUNNING: AtomicUsize = AtomicUsize::new(0);

/// At shutdown: waits (at most `limit`) for the notify scripts still running,
/// the STOP ones above all. Under systemd (`KillMode=mixed`) whatever is left
/// in the unit's cgroup is killed once the daemon exits; keepalived gives its
/// STOP scripts a second too.
pub async fn wait_for_notifies(limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while NOTIFY_RUNNING.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nice value a script started from this thread reports.
    fn script_nice() -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let argv = ["/bin/sh", "-c", "exec nice"].map(String::from);
            let out = command(&argv, None)
                .unwrap()
                .stdout(Stdio::piped())
                .output()
                .await
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        })
    }

    #[test]
    fn a_script_runs_at_nice_0_whatever_the_daemon_runs_at() {
        // Back from 5 to 0 needs CAP_SYS_NICE (or RLIMIT_NICE).
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipping: needs root");
            return;
        }
        // Linux's nice is per thread: a thread of its own, niced as a
        // daemon started under `nice -n 5` is.
        std::thread::spawn(|| {
            assert_eq!(script_nice(), "0", "not niced: spawned as is");
            // SAFETY: raising this thread's own nice value.
            assert_eq!(unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 5) }, 0);
            assert!(daemon_niced());
            assert_eq!(script_nice(), "0", "niced: the script is reset to 0");
        })
        .join()
        .unwrap();
    }
}
