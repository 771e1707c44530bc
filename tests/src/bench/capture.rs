//! Capturing frames with the kernel's receive timestamps (AF_PACKET +
//! SO_TIMESTAMPNS, CLOCK_REALTIME), and following address events
//! (rtnetlink RTM_NEWADDR) in the calling thread's namespace.

use std::{
    io, mem,
    net::Ipv4Addr,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// `sll_pkttype` of a frame this host sent.
pub const PACKET_OUTGOING: u8 = 4;

/// CLOCK_REALTIME now, in ns (what SO_TIMESTAMPNS reports).
pub fn realtime_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(0))
}

fn setsockopt<T>(fd: i32, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: value points to a live T of the given size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            std::ptr::from_ref::<T>(value).cast(),
            u32::try_from(mem::size_of::<T>()).unwrap_or(0),
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn timeout_opt(fd: i32, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(1),
        tv_usec: libc::suseconds_t::from(timeout.subsec_micros()),
    };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)
}

/// An AF_PACKET receiver with kernel timestamps.
pub struct Frames {
    fd: OwnedFd,
}

/// One received frame: kernel timestamp (ns, realtime), length, packet type.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    pub ts_ns: u64,
    pub len: usize,
    pub pkttype: u8,
}

impl Frames {
    /// Frames of ethertype `proto` on every interface of the calling
    /// thread's namespace, incoming and outgoing; `timeout` bounds each recv.
    pub fn open(proto: u16, timeout: Duration) -> io::Result<Self> {
        // SAFETY: plain socket call; the fd is owned below.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto.to_be())) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let on: libc::c_int = 1;
        setsockopt(raw, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &on)?;
        // Room for bursts (root may exceed rmem_max).
        let size: libc::c_int = 64 << 20;
        let _ = setsockopt(raw, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &size);
        timeout_opt(raw, timeout)?;
        Ok(Self { fd })
    }

    /// The next frame into `buf`, or None on timeout.
    pub fn recv(&self, buf: &mut [u8]) -> Option<Meta> {
        // SAFETY: recvmsg into buffers that outlive the call; cmsgs walked within bounds.
        unsafe {
            let mut from: libc::sockaddr_ll = mem::zeroed();
            let mut cmsg = [0u64; 16];
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            let mut msg: libc::msghdr = mem::zeroed();
            msg.msg_name = (&raw mut from).cast();
            msg.msg_namelen = u32::try_from(mem::size_of::<libc::sockaddr_ll>()).unwrap_or(0);
            msg.msg_iov = &raw mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cmsg.as_mut_ptr().cast();
            msg.msg_controllen = mem::size_of_val(&cmsg);
            let n = libc::recvmsg(self.fd.as_raw_fd(), &raw mut msg, 0);
            let len = usize::try_from(n).ok()?;
            let mut ts_ns = 0;
            let mut c = libc::CMSG_FIRSTHDR(&raw const msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                    let ts = libc::CMSG_DATA(c).cast::<libc::timespec>().read_unaligned();
                    ts_ns = u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000
                        + u64::try_from(ts.tv_nsec).unwrap_or(0);
                }
                c = libc::CMSG_NXTHDR(&raw const msg, c);
            }
            if ts_ns == 0 {
                ts_ns = realtime_ns();
            }
            Some(Meta {
                ts_ns,
                len,
                pkttype: from.sll_pkttype,
            })
        }
    }

    /// Frames the kernel dropped for this socket since the last call (full buffer).
    pub fn drops(&self) -> u32 {
        let mut stats = libc::tpacket_stats {
            tp_packets: 0,
            tp_drops: 0,
        };
        let mut len = u32::try_from(mem::size_of::<libc::tpacket_stats>()).unwrap_or(0);
        // SAFETY: getsockopt into a tpacket_stats of the given size.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&raw mut stats).cast(),
                &raw mut len,
            )
        };
        if rc == 0 { stats.tp_drops } else { 0 }
    }
}

/// An rtnetlink socket subscribed to IPv4 address events.
pub struct AddrEvents {
    fd: OwnedFd,
}

const RTM_NEWADDR: u16 = 20;
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;

impl AddrEvents {
    pub fn open(timeout: Duration) -> io::Result<Self> {
        // SAFETY: plain socket/bind calls; the fd is owned below.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut addr: libc::sockaddr_nl = unsafe { mem::zeroed() };
        addr.nl_family = u16::try_from(libc::AF_NETLINK).unwrap_or(16);
        addr.nl_groups = RTMGRP_IPV4_IFADDR;
        let rc = unsafe {
            libc::bind(
                raw,
                (&raw const addr).cast(),
                u32::try_from(mem::size_of::<libc::sockaddr_nl>()).unwrap_or(0),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let size: libc::c_int = 32 << 20;
        let _ = setsockopt(raw, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &size);
        timeout_opt(raw, timeout)?;
        Ok(Self { fd })
    }

    /// The addresses of the RTM_NEWADDR messages of one read, with the time
    /// it returned (userspace, realtime ns); None on timeout.
    pub fn recv(&self, buf: &mut [u8]) -> Option<(u64, Vec<Ipv4Addr>)> {
        // SAFETY: recv into a buffer we own.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        let at = realtime_ns();
        let n = usize::try_from(n).ok()?;
        let mut out = Vec::new();
        let mut off = 0;
        let u16_at = |b: &[u8], o: usize| u16::from_ne_bytes([b[o], b[o + 1]]);
        while off + 16 <= n {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().ok()?) as usize;
            if len < 16 || off + len > n {
                break;
            }
            if u16_at(buf, off + 4) == RTM_NEWADDR && buf[off + 16] == libc::AF_INET as u8 {
                // nlmsghdr (16) + ifaddrmsg (8), then attributes aligned to 4.
                let mut a = off + 24;
                let mut found = None;
                while a + 4 <= off + len {
                    let alen = usize::from(u16_at(buf, a));
                    let atype = u16_at(buf, a + 2);
                    if alen < 4 {
                        break;
                    }
                    if (atype == IFA_LOCAL || (atype == IFA_ADDRESS && found.is_none())) && alen >= 8 {
                        found = Some(Ipv4Addr::new(buf[a + 4], buf[a + 5], buf[a + 6], buf[a + 7]));
                    }
                    a += alen.div_ceil(4) * 4;
                }
                out.extend(found);
            }
            off += len.div_ceil(4) * 4;
        }
        Some((at, out))
    }
}

/// Pins every thread of `pid` to `cpu`.
pub fn pin_process(pid: u32, cpu: usize) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    for t in tasks.flatten() {
        if let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) {
            pin(tid, cpu);
        }
    }
}

/// Pins thread `tid` (0: the calling thread) to `cpu`.
pub fn pin(tid: i32, cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET stays within it.
    unsafe {
        let mut set: libc::cpu_set_t = mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(tid, mem::size_of::<libc::cpu_set_t>(), &raw const set);
    }
}
