//! Least privilege: once the daemon has loaded the XDP program and opened its
//! sockets, it keeps only the capabilities its running work needs and drops
//! the rest from its effective and permitted sets (it cannot raise them again).
//!
//! Kept, and why:
//! - CAP_NET_ADMIN: add/remove VIPs (rtnetlink), attach XDP and bind sockets to
//!   devices for instances added by a reload;
//! - CAP_NET_RAW: raw VRRP and AF_PACKET sockets for instances added by a reload;
//! - CAP_BPF, CAP_PERFMON: BPF map and link operations;
//! - CAP_SETUID, CAP_SETGID: run scripts as `script_user` / `user`;
//! - CAP_KILL: kill a timed-out script's process group when it runs as another user;
//! - CAP_SYS_NICE, only with `max_auto_priority`: raise the protocol thread's
//!   real-time priority when its timers run late.
//!
//! The bounding set is left alone on purpose: a script that runs as root regains
//! root's capabilities when it is executed, as keepalived's scripts do (they may
//! need to bind port 80 or call systemctl). Set `script_user` to confine them.

use anyhow::{Result, bail};

pub const CAP_KILL: u32 = 5;
pub const CAP_SETGID: u32 = 6;
pub const CAP_SETUID: u32 = 7;
pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_NET_RAW: u32 = 13;
pub const CAP_SYS_NICE: u32 = 23;
pub const CAP_PERFMON: u32 = 38;
pub const CAP_BPF: u32 = 39;

/// The capabilities a running daemon keeps.
pub const KEPT: &[u32] = &[
    CAP_KILL,
    CAP_SETGID,
    CAP_SETUID,
    CAP_NET_ADMIN,
    CAP_NET_RAW,
    CAP_PERFMON,
    CAP_BPF,
];

/// `KEPT` as a 64-bit mask (what /proc/PID/status shows as CapEff).
pub fn kept_mask() -> u64 {
    KEPT.iter().fold(0, |m, c| m | (1u64 << c))
}

#[repr(C)]
struct Header {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// _LINUX_CAPABILITY_VERSION_3: 64-bit sets in two 32-bit halves.
const VERSION_3: u32 = 0x2008_0522;

/// Reduces the calling thread's effective and permitted sets to `KEPT`
/// (intersected with what it has). Inheritable is cleared.
pub fn drop_unneeded(keep_sys_nice: bool) -> Result<()> {
    let nice = if keep_sys_nice { 1u64 << CAP_SYS_NICE } else { 0 };
    drop_to(kept_mask() | nice)
}

/// Reduces the calling thread's effective and permitted sets to `mask`
/// (capabilities are per thread: each thread of the daemon drops its own).
pub fn drop_to(mask: u64) -> Result<()> {
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget/capset with a v3 header and two data structs, as the ABI requires.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &raw mut header, data.as_mut_ptr()) };
    if rc != 0 {
        bail!("capget: {}", std::io::Error::last_os_error());
    }
    for (i, d) in data.iter_mut().enumerate() {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "taking one 32-bit half on purpose"
        )]
        let half = (mask >> (32 * i)) as u32;
        d.permitted &= half;
        d.effective = d.permitted;
        d.inheritable = 0;
    }
    let rc = unsafe { libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()) };
    if rc != 0 {
        bail!("capset: {}", std::io::Error::last_os_error());
    }
    Ok(())
}
