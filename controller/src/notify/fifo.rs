//! The notify FIFOs (`notify_fifo`, `vrrp_notify_fifo`) on the side thread,
//! as keepalived 2.2.7 keeps them (`lib/notify.c`, `vrrp/vrrp_notify.c`):
//! created when missing (mode 0600, owned by the script user or the owner
//! given), opened read-write and non-blocking so a missing or slow reader
//! never holds the daemon (a line that does not fit is dropped, counted and
//! logged), every line written to each; the `*_fifo_script` is started before
//! the FIFO opens, with its path as the last argument. A reload closes and
//! reopens them (a FIFO xvrrpd created is removed, then made again).
//!
//! Unlike keepalived, the FIFO scripts still read the STOP lines at
//! shutdown (keepalived kills them first), and a FIFO xvrrpd created is
//! removed at exit whichever keyword named it.

use std::{
    ffi::CString,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    os::unix::fs::FileTypeExt as _,
    path::PathBuf,
};

use tracing::{info, warn};

use crate::config::model::{Fifo, RunAs};

struct Open {
    path: PathBuf,
    fd: OwnedFd,
    /// xvrrpd made it, so xvrrpd removes it.
    created: bool,
    /// The `*_fifo_script`, killed (its process group) on close.
    script: Option<tokio::process::Child>,
}

/// The open FIFOs.
#[derive(Default)]
pub struct Fifos {
    open: Vec<Open>,
    dropped: u64,
}

impl Fifos {
    /// Closes the FIFOs open now and opens `fifos`.
    pub fn start(&mut self, fifos: &[Fifo], script_user: Option<&RunAs>) {
        self.close();
        for f in fifos {
            match open(f, script_user) {
                Ok(o) => {
                    info!(fifo = %o.path.display(), "notify FIFO open");
                    self.open.push(o);
                }
                Err(e) => warn!("notify FIFO {}: {e}; no lines are written to it", f.path),
            }
        }
    }

    /// Writes one line to every FIFO; a full FIFO loses it.
    pub fn write(&mut self, line: &str) {
        for o in &self.open {
            // SAFETY: writing a buffer we own to a descriptor we own.
            let n = unsafe { libc::write(o.fd.as_raw_fd(), line.as_ptr().cast(), line.len()) };
            if usize::try_from(n).ok() != Some(line.len()) {
                self.dropped += 1;
                if self.dropped.is_power_of_two() {
                    warn!(
                        fifo = %o.path.display(),
                        dropped = self.dropped,
                        "notify FIFO full (is its reader running?): lines dropped"
                    );
                }
            }
        }
    }

    /// Stops the FIFO scripts and closes the FIFOs, removing those xvrrpd
    /// made. A script gets up to half a second in all to read what is still
    /// in its FIFO (the STOP lines at shutdown), see the end of it (our
    /// descriptor is the last writer, so closing it is the reader's EOF) and
    /// exit; one still running then gets SIGTERM. Waiting for the exit, not
    /// only for the FIFO to drain, is what lets a reader write down the last
    /// line it read before the daemon goes.
    pub fn close(&mut self) {
        let until = std::time::Instant::now() + std::time::Duration::from_millis(500);
        for o in &self.open {
            while o.script.is_some() && unread(&o.fd) > 0 && std::time::Instant::now() < until {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        let mut scripts = Vec::new();
        for o in self.open.drain(..) {
            drop(o.fd);
            if o.created {
                let _ = std::fs::remove_file(&o.path);
            }
            if let Some(c) = o.script
                && let Some(pid) = c.id().and_then(|p| i32::try_from(p).ok())
            {
                scripts.push((pid, c));
            }
        }
        while std::time::Instant::now() < until && scripts.iter().any(|(pid, _)| !exited(*pid)) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // The group too when its leader has exited: what the script started
        // goes with it. The leader is not reaped before (WNOWAIT): its
        // zombie keeps the group's number from being reused.
        for (pgid, _child) in scripts {
            // SAFETY: signalling the process group made for the script.
            unsafe { libc::kill(-pgid, libc::SIGTERM) };
        }
    }
}

/// Whether process `pid` (our child) has exited, leaving it unreaped.
fn exited(pid: i32) -> bool {
    let Ok(id) = libc::id_t::try_from(pid) else {
        return true;
    };
    // SAFETY: siginfo_t is plain data; all-zero is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid on our own child, into a siginfo_t of our own.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            id,
            &raw mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // WNOHANG: si_pid stays 0 while it runs; an error (already reaped) is
    // as good as exited.
    // SAFETY: reading the pid field waitid filled in (or left zero).
    rc != 0 || unsafe { info.si_pid() } != 0
}

impl Drop for Fifos {
    fn drop(&mut self) {
        self.close();
    }
}

fn open(f: &Fifo, script_user: Option<&RunAs>) -> Result<Open, String> {
    let path = PathBuf::from(&f.path);
    let c = CString::new(f.path.as_str()).map_err(|_| "path with a NUL".to_owned())?;
    let mut created = false;
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_fifo() => {}
        Ok(_) => return Err("exists and is not a FIFO".to_owned()),
        Err(_) => {
            // SAFETY: mkfifo on a NUL-terminated path.
            if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
                return Err(format!("mkfifo: {}", std::io::Error::last_os_error()));
            }
            created = true;
        }
    }
    // keepalived (lib/notify.c): the FIFO, then its reader, then open; so the
    // reader finds the FIFO and is there for the first line.
    let script = match &f.script {
        Some(s) => match crate::scripts::spawn_reader(s, &f.path, script_user) {
            Ok(child) => Some(child),
            Err(e) => {
                warn!("notify FIFO {}: cannot start its script: {e:#}", f.path);
                None
            }
        },
        None => None,
    };
    // SAFETY: open on a NUL-terminated path; the fd is owned at once.
    let raw = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    };
    if raw < 0 {
        return Err(format!("open: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: raw is a new descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // What was opened, not what the path named a moment before.
    // SAFETY: fstat into a zeroed stat of our own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on our descriptor.
    if unsafe { libc::fstat(fd.as_raw_fd(), &raw mut st) } != 0 || st.st_mode & libc::S_IFMT != libc::S_IFIFO
    {
        return Err("is not a FIFO".to_owned());
    }
    if created {
        if let Some(owner) = f.owner.as_ref().or(script_user)
            && let Ok((uid, gid)) = crate::scripts::ids(owner)
        {
            // SAFETY: fchown on our descriptor.
            if unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) } != 0 {
                warn!(
                    "notify FIFO {}: chown: {}",
                    f.path,
                    std::io::Error::last_os_error()
                );
            }
        }
    } else if st.st_uid != 0 && f.owner.as_ref().or(script_user).is_none() {
        warn!(
            "notify FIFO {}: exists and belongs to uid {}, who can write lines into it too",
            f.path, st.st_uid
        );
    }
    Ok(Open {
        path,
        fd,
        created,
        script,
    })
}

/// Bytes written to a FIFO and not read yet.
fn unread(fd: &OwnedFd) -> i32 {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD into an int of our own.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &raw mut n) } != 0 {
        return 0;
    }
    n
}
