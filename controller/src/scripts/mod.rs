//! Health checks (`vrrp_script`) and notify scripts. Both run as child
//! processes in their own process group, never on the protocol path: health
//! checks report changes over a channel, notify scripts are fire and forget.

use std::{
    ffi::CString,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context as _, Result, bail};
use tokio::{process::Command, sync::mpsc, task::JoinHandle};
use tracing::{info, warn};

use crate::config::model::{NotifyScript, RunAs, VrrpScript};

/// A health check changed its verdict (after `rise`/`fall` hysteresis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptEvent {
    pub name: String,
    pub ok: bool,
}

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

/// Checks at start that every script can be executed: a clear error now
/// rather than a silent failure every interval.
pub fn validate(scripts: &[VrrpScript]) -> Result<()> {
    for s in scripts {
        let program = s
            .command
            .first()
            .with_context(|| format!("vrrp_script {}: empty script", s.name))?;
        let Some(path) = resolve(program) else {
            bail!("vrrp_script {}: {program} not found (PATH searched)", s.name);
        };
        if !executable(&path) {
            bail!(
                "vrrp_script {}: {} is not an executable file",
                s.name,
                path.display()
            );
        }
    }
    Ok(())
}

/// uid and gid of a `script_user` / `user` entry.
fn ids(run_as: &RunAs) -> Result<(u32, u32)> {
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
    Ok(cmd)
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
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => status.success(),
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
            if let Some(pid) = child.id() {
                // SAFETY: signalling the group we created for this child.
                unsafe { libc::kill(-i32::try_from(pid).unwrap_or(i32::MAX), libc::SIGKILL) };
            }
            let _ = child.wait().await;
            false
        }
    }
}

/// Starts one task per health check. Each sends its initial verdict (OK, or
/// failing with `init_fail`), then every change after `rise` successes or
/// `fall` failures in a row.
pub fn spawn_health_checks(
    scripts: &[VrrpScript],
    default_user: Option<&RunAs>,
    tx: mpsc::UnboundedSender<ScriptEvent>,
) -> Vec<JoinHandle<()>> {
    scripts
        .iter()
        .map(|s| {
            let s = s.clone();
            let run_as = s.user.clone().or_else(|| default_user.cloned());
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut ok = !s.init_fail;
                let _ = tx.send(ScriptEvent {
                    name: s.name.clone(),
                    ok,
                });
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
                    let changed = if ok && bad >= s.fall.max(1) {
                        ok = false;
                        true
                    } else if !ok && good >= s.rise.max(1) {
                        ok = true;
                        true
                    } else {
                        false
                    };
                    if changed {
                        info!(script = %s.name, ok, "health check changed");
                        if tx
                            .send(ScriptEvent {
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

/// Runs a notify script with `extra` arguments appended, without waiting for it.
pub fn notify(script: &NotifyScript, extra: &[String], default_user: Option<&RunAs>) {
    let mut argv = script.command.clone();
    argv.extend_from_slice(extra);
    let run_as = script.user.clone().or_else(|| default_user.cloned());
    match command(&argv, run_as.as_ref()).and_then(|mut c| c.spawn().context("spawn")) {
        Ok(mut child) => {
            tokio::spawn(async move {
                // Reap it; notify scripts get a minute before they are killed.
                if tokio::time::timeout(Duration::from_secs(60), child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.kill().await;
                }
            });
        }
        Err(e) => warn!(command = ?argv, "notify script failed to start: {e:#}"),
    }
}
