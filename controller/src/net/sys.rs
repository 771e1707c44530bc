//! Small safe wrappers over libc for what std does not offer.

use std::{ffi::CString, io, mem};

/// `if_nametoindex`: the index of `name` in the caller's network namespace.
pub fn ifindex(name: &str) -> io::Result<u32> {
    let c = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in interface name"))?;
    // SAFETY: a valid NUL-terminated string.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("interface {name} does not exist"),
        )),
        i => Ok(i),
    }
}

/// Returns `Err(last_os_error)` when a libc call returned a negative value.
pub fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `setsockopt` with a plain value.
/// `size_of::<T>()` as a socket address / option length: the kernel's
/// structs are a few dozen bytes.
#[expect(
    clippy::cast_possible_truncation,
    reason = "socket structs are far below 4 GiB"
)]
pub const fn socklen<T>() -> libc::socklen_t {
    mem::size_of::<T>() as libc::socklen_t
}

pub fn setsockopt<T>(fd: libc::c_int, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a live T of the given size.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            std::ptr::from_ref::<T>(value).cast(),
            socklen::<T>(),
        )
    })
    .map(drop)
}

/// CLOCK_MONOTONIC in microseconds: the clock `bpf_ktime_get_ns` stamps with.
pub fn monotonic_us() -> u64 {
    monotonic_ns() / 1_000
}

/// CLOCK_MONOTONIC in nanoseconds.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

/// The driver behind an interface (`veth`, `bridge`, `mlx5_core`, ...), as
/// `ethtool -i` reports it; `None` when the driver does not say.
#[expect(
    clippy::cast_possible_wrap,
    reason = "an interface name's bytes, as C's char sees them"
)]
pub fn driver(name: &str) -> Option<String> {
    // struct ethtool_drvinfo (linux/ethtool.h): cmd, then driver[32] and more.
    #[repr(C)]
    struct DrvInfo {
        cmd: u32,
        driver: [u8; 32],
        rest: [u8; 160],
    }
    const ETHTOOL_GDRVINFO: u32 = 3;
    let mut info = DrvInfo {
        cmd: ETHTOOL_GDRVINFO,
        driver: [0; 32],
        rest: [0; 160],
    };
    // SAFETY: a zeroed ifreq with the name copied in (at most IFNAMSIZ - 1
    // bytes) and ifr_data pointing at `info`, which outlives the ioctl.
    unsafe {
        let mut req: libc::ifreq = mem::zeroed();
        let bytes = name.as_bytes();
        if bytes.len() >= req.ifr_name.len() {
            return None;
        }
        for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
            *d = *s as libc::c_char;
        }
        req.ifr_ifru.ifru_data = (&raw mut info).cast();
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return None;
        }
        let rc = libc::ioctl(fd, libc::SIOCETHTOOL, &mut req);
        libc::close(fd);
        if rc < 0 {
            return None;
        }
    }
    let end = info.driver.iter().position(|&b| b == 0).unwrap_or(32);
    Some(String::from_utf8_lossy(&info.driver[..end]).into_owned())
}

/// Sets `net.ipv4.conf.IFNAME.arp_announce` to 2 (best local address as the
/// sender of the host's own ARP requests) unless it is already that high;
/// returns whether it changed anything.
pub fn arp_announce_best_local(ifname: &str) -> io::Result<bool> {
    if ifname.contains('/') || ifname.contains("..") {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad interface name"));
    }
    let path = format!("/proc/sys/net/ipv4/conf/{ifname}/arp_announce");
    let now: u8 = std::fs::read_to_string(&path)?.trim().parse().unwrap_or(0);
    if now >= 2 {
        return Ok(false);
    }
    std::fs::write(&path, "2")?;
    Ok(true)
}

/// A timer on CLOCK_MONOTONIC with the kernel's high-resolution precision
/// (a timerfd armed at an absolute deadline), for the protocol loop: tokio's
/// own timer rounds every wait up to the next millisecond, which is most of
/// an advert's lateness at 100 ms intervals.
pub struct Deadline {
    // Declared first: dropped (deregistered) before the descriptor closes.
    fd: tokio::io::unix::AsyncFd<std::os::fd::RawFd>,
    owned: std::os::fd::OwnedFd,
    /// The deadline armed and not yet seen to fire (0: none): the loop sets
    /// the same one on most turns, and a system call per turn is not needed.
    /// Sound because `wait` alone sees it fire, and clears it in the same
    /// poll (no await between).
    armed: std::cell::Cell<u64>,
}

impl Deadline {
    pub fn new() -> io::Result<Self> {
        use std::os::fd::FromRawFd as _;
        // SAFETY: timerfd_create returns a new descriptor or -1.
        let raw =
            unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh descriptor owned from here on, and it
        // outlives its registration (field order).
        let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
        let fd = unsafe { tokio::io::unix::AsyncFd::register(raw) }.map_err(io::Error::from)?;
        Ok(Self {
            fd,
            owned,
            armed: std::cell::Cell::new(0),
        })
    }

    /// Arms for `at_us` on the `monotonic_us` clock (a past time fires at once).
    pub fn set(&self, at_us: u64) -> io::Result<()> {
        use std::os::fd::AsRawFd as _;
        let at_us = at_us.max(1);
        if at_us == self.armed.get() {
            // Armed already; if it has passed unseen, the timerfd is readable.
            return Ok(());
        }
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: libc::time_t::try_from(at_us / 1_000_000).unwrap_or(libc::time_t::MAX),
                tv_nsec: libc::c_long::try_from((at_us % 1_000_000) * 1_000).unwrap_or(0),
            },
        };
        // SAFETY: a valid timerfd and itimerspec; the old value is not wanted.
        let rc = unsafe {
            libc::timerfd_settime(
                self.owned.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &raw const spec,
                std::ptr::null_mut(),
            )
        };
        if rc == 0 {
            self.armed.set(at_us);
            Ok(())
        } else {
            self.armed.set(0);
            Err(io::Error::last_os_error())
        }
    }

    /// Waits until the armed deadline has passed.
    pub async fn wait(&self) -> io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            // Not read (one system call per advert less, of four): the next
            // `set` re-arms the timerfd, and `timerfd_settime` resets its
            // count of expirations, so it turns readable again only at the
            // next expiry, an edge the reactor sees. The clock tells the
            // armed deadline's readiness from a stale one (fired before a
            // re-arm): a timerfd on CLOCK_MONOTONIC fires no sooner than
            // `monotonic_us` reaches its deadline (whole microseconds).
            guard.clear_ready();
            let armed = self.armed.get();
            if armed != 0 && monotonic_us() >= armed {
                // Fired: the same deadline set again must arm again.
                self.armed.set(0);
                return Ok(());
            }
        }
    }
}

/// One malloc arena for every thread. glibc gives each thread that allocates
/// its own arena, and memory goes back to the arena that allocated it: a
/// configuration parsed on the side thread is freed by the protocol thread
/// after a reload (the engine keeps its own copies), a status snapshot is
/// freed by the serving thread when a scrape still holds it, so each arena
/// keeps partly used pages that `malloc_trim` cannot return. The threads are
/// mostly idle; the contention of one arena was not measured. Measured on one
/// xvrrpd with 228 instances, 60 reloads and a health-check failure every
/// fifth (all instances to FAULT and back), metrics scraped: 3.5-3.6 MiB
/// anonymous at the end with per-thread arenas, 3.2 MiB with one (two runs
/// each). An operator's `MALLOC_ARENA_MAX` or `glibc.malloc.arena_max` tunable
/// wins. Must run before any thread starts: arenas already made stay.
pub fn one_heap_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() && !tunables.contains("glibc.malloc.arena_max") {
            // SAFETY: mallopt only changes an allocator parameter.
            unsafe {
                libc::mallopt(libc::M_ARENA_MAX, 1);
            }
        }
    }
}

/// Gives the heap's free pages back to the kernel. glibc keeps what the
/// configuration's parse tree and a start-up burst freed (its trim threshold
/// grows with the largest block freed), so without this the steady resident
/// size stays at the start-up peak. Called at start-up once the
/// configuration is read (startup.rs `start`), on the protocol
/// thread after start-up and each reload, and on the serving thread after a
/// burst of status or metrics clients (serve.rs, at most once per 11 s). It holds the
/// arena, which all threads share ([`one_heap_arena`]), while it walks the
/// free chunks. Under `vrrp_no_swap` (memory locked) only the heap's top can
/// shrink: the kernel refuses to drop locked pages in the middle.
pub fn release_free_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free pages; 0 keeps no padding.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::{Deadline, monotonic_us};

    /// Fires at its deadline and not before; a deadline that fired, set
    /// again, fires again at once; a later one set after a firing that was
    /// never read waits for its own time (the timerfd is not read: the
    /// re-arm is what clears it).
    #[test]
    fn the_deadline_fires_once_per_arming_without_a_read() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let d = Deadline::new().unwrap();
            let at = monotonic_us() + 20_000;
            d.set(at).unwrap();
            d.wait().await.unwrap();
            assert!(monotonic_us() >= at);
            // The same deadline again: passed, so at once.
            d.set(at).unwrap();
            let t = tokio::time::timeout(std::time::Duration::from_millis(500), d.wait());
            assert!(t.await.is_ok(), "a passed deadline fires at once");
            // Fired and not read; then a later deadline: not before it.
            d.set(monotonic_us() + 1).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(2));
            let later = monotonic_us() + 50_000;
            d.set(later).unwrap();
            d.wait().await.unwrap();
            assert!(
                monotonic_us() >= later,
                "woke {} us early",
                later - monotonic_us()
            );
            // Unarmed (far away): it does not fire.
            d.set(u64::MAX).unwrap();
            let t = tokio::time::timeout(std::time::Duration::from_millis(30), d.wait());
            assert!(t.await.is_err(), "an unarmed deadline fired");
        });
    }
}
