//! Raw VRRP sockets: one sender and one receiver per interface and family,
//! shared by every instance on that interface (not one per instance).
//!
//! The sender is bound to the source address (the primary address, or
//! `unicast_src_ip`) so the source is known when the v3 checksum is computed;
//! the receiver is not bound to an address (a raw socket bound to one only
//! sees packets sent to it) but to the device, and joins the VRRP group, which
//! also opens the NIC's multicast filter for the XDP program.

use std::{
    io, mem,
    net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6},
    os::fd::{AsRawFd, RawFd},
};

use anyhow::{Context as _, Result};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use xvrrp_common::vrrp::{IPPROTO_VRRP, VRRP_TTL};

use super::sys::{check, setsockopt};
use crate::vrrp::validate::IpMeta;

/// Sends adverts from one source address out of one interface.
pub struct Sender {
    sock: Socket,
    pub src: IpAddr,
    ifindex: u32,
    /// Send errors already logged (by errno), so a firewall dropping adverts
    /// ten times a second logs once.
    seen_errors: Vec<i32>,
    /// IP_TRANSPARENT is on (IPv4, see `open`).
    transparent: bool,
    /// Transparency waits for a send the kernel checked to go out: at the
    /// start, and after `recheck` (IPv4).
    rechecking: bool,
}

impl Sender {
    pub fn open(ifname: &str, ifindex: u32, src: IpAddr, unicast_ttl: u8) -> Result<Self> {
        let v6 = src.is_ipv6();
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let sock = Socket::new(domain, Type::RAW, Some(Protocol::from(i32::from(IPPROTO_VRRP))))
            .context("raw VRRP socket (needs CAP_NET_RAW)")?;
        sock.bind_device(Some(ifname.as_bytes()))
            .with_context(|| format!("SO_BINDTODEVICE {ifname}"))?;
        let bind_addr = match src {
            IpAddr::V4(a) => SocketAddr::V4(SocketAddrV4::new(a, 0)),
            IpAddr::V6(a) => SocketAddr::V6(SocketAddrV6::new(
                a,
                0,
                0,
                if a.is_unicast_link_local() { ifindex } else { 0 },
            )),
        };
        // Freebind: a link-local address is still tentative (DAD) for a moment
        // after the link comes up, and `unicast_src_ip` may be a VIP not yet
        // installed; the bind must not fail for that.
        let on: libc::c_int = 1;
        let (level, name) = if v6 {
            (libc::IPPROTO_IPV6, libc::IPV6_FREEBIND)
        } else {
            (libc::IPPROTO_IP, libc::IP_FREEBIND)
        };
        setsockopt(sock.as_raw_fd(), level, name, &on)?;
        sock.bind(&bind_addr.into())
            .with_context(|| format!("binding the advert socket to {src}"))?;
        if v6 {
            // RFC 5798 5.1.2.3: hop limit 255.
            sock.set_multicast_hops_v6(u32::from(VRRP_TTL))?;
            sock.set_unicast_hops_v6(u32::from(unicast_ttl))?;
            sock.set_multicast_if_v6(ifindex)?;
            sock.set_multicast_loop_v6(false)?;
            // Traffic class CS6, as keepalived sends.
            setsockopt(sock.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_TCLASS, &0xc0i32)?;
        } else {
            // RFC 5798 5.1.1.3: TTL 255.
            sock.set_multicast_ttl_v4(u32::from(VRRP_TTL))?;
            sock.set_ttl(u32::from(unicast_ttl))?;
            let mreqn = libc::ip_mreqn {
                imr_multiaddr: libc::in_addr { s_addr: 0 },
                imr_address: libc::in_addr { s_addr: 0 },
                imr_ifindex: i32::try_from(ifindex).unwrap_or(0),
            };
            setsockopt(sock.as_raw_fd(), libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreqn)?;
            sock.set_multicast_loop_v4(false)?;
            sock.set_tos(0xc0)?;
        }
        sock.set_nonblocking(true)?;
        Ok(Self {
            sock,
            src,
            ifindex,
            seen_errors: Vec::new(),
            transparent: false,
            rechecking: !v6,
        })
    }

    // IPv4 senders go transparent (IP_TRANSPARENT) once the kernel let one
    // of their adverts out: the route lookup of every send then skips its
    // check that the source is one of the host's addresses (`__ip_dev_find`,
    // a walk of the host's 256-bucket address hash, which a master's VIPs
    // fill: 16 deep with 4000 of them, a fifth of the kernel's send cost in
    // the 4000 x 100 ms profile). The daemon stands in for that check: an
    // address deletion that takes a sender's source, lost notifications and
    // the link poll (`Pool::recheck_all`) hand it back to the kernel until a
    // send goes out again, so adverts from an address the host lost are
    // refused as on a plain socket. The OUTPUT hook sees every advert either
    // way. Best effort: without the option (no CAP_NET_ADMIN / CAP_NET_RAW)
    // the kernel's check stays, only slower.

    /// Hands the source check back to the kernel until a send goes out.
    pub fn recheck(&mut self) {
        let off: libc::c_int = 0;
        if self.transparent
            && setsockopt(
                self.sock.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_TRANSPARENT,
                &off,
            )
            .is_ok()
        {
            self.transparent = false;
            self.rechecking = true;
        }
    }

    /// A send went out: the kernel found the source local, for now.
    pub fn sent(&mut self) {
        if self.rechecking {
            self.rechecking = false;
            let on: libc::c_int = 1;
            self.transparent =
                setsockopt(self.sock.as_raw_fd(), libc::IPPROTO_IP, libc::IP_TRANSPARENT, &on).is_ok();
        }
    }

    /// Records a send error; true the first time this kind is seen.
    pub fn note_error(&mut self, e: &io::Error) -> bool {
        let code = e.raw_os_error().unwrap_or(-1);
        if self.seen_errors.contains(&code) {
            false
        } else {
            self.seen_errors.push(code);
            true
        }
    }

    /// Sends each `(destination, message)` in one `sendmmsg` call where possible.
    /// Returns how many were sent; a full send buffer stops the batch.
    pub fn send_batch<M: AsRef<[u8]>>(&self, msgs: &[(IpAddr, M)]) -> io::Result<usize> {
        if msgs.is_empty() {
            return Ok(0);
        }
        let addrs: Vec<SockAddr> = msgs
            .iter()
            .map(|(dst, _)| match dst {
                IpAddr::V4(a) => SockAddr::from(SocketAddrV4::new(*a, 0)),
                IpAddr::V6(a) => SockAddr::from(SocketAddrV6::new(*a, 0, 0, self.ifindex)),
            })
            .collect();
        let mut iovs: Vec<libc::iovec> = msgs
            .iter()
            .map(|(_, m)| libc::iovec {
                iov_base: m.as_ref().as_ptr() as *mut _,
                iov_len: m.as_ref().len(),
            })
            .collect();
        let mut hdrs: Vec<libc::mmsghdr> = iovs
            .iter_mut()
            .zip(&addrs)
            .map(|(iov, addr)| {
                // SAFETY: zeroed msghdr is valid; the pointers outlive the call below.
                let mut h: libc::mmsghdr = unsafe { mem::zeroed() };
                h.msg_hdr.msg_name = addr.as_ptr() as *mut _;
                h.msg_hdr.msg_namelen = addr.len();
                h.msg_hdr.msg_iov = iov;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        let n = u32::try_from(hdrs.len()).unwrap_or(u32::MAX);
        // SAFETY: hdrs points to n initialised mmsghdr whose buffers are alive.
        let sent = check(unsafe { libc::sendmmsg(self.sock.as_raw_fd(), hdrs.as_mut_ptr(), n, 0) })?;
        Ok(usize::try_from(sent).unwrap_or(0))
    }
}

/// Receives VRRP on one interface (socket mode), and keeps the group joined.
pub struct Receiver {
    sock: Socket,
    /// The instances' interface: adverts are theirs.
    pub ifindex: u32,
    /// The interface the socket is bound to: `ifindex`, or a `use_vmac`
    /// macvlan on it.
    pub bound: u32,
    pub v6: bool,
    /// An AF_PACKET socket (on a macvlan): it hears frames without joining
    /// the group, so no IGMP/MLD report ever leaves from the virtual MAC
    /// (which would teach switches that the VIPs live on a backup).
    packet: bool,
}

impl Receiver {
    /// Opens the socket and joins `group` (224.0.0.18 or ff02::12 unless
    /// `vrrp_mcast_group4/6` says otherwise; RFC 5798 5.1.1.2 / 5.1.2.2).
    pub fn open(ifname: &str, ifindex: u32, group: IpAddr) -> Result<Self> {
        let v6 = group.is_ipv6();
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let sock = Socket::new(domain, Type::RAW, Some(Protocol::from(i32::from(IPPROTO_VRRP))))
            .context("raw VRRP socket (needs CAP_NET_RAW)")?;
        sock.bind_device(Some(ifname.as_bytes()))
            .with_context(|| format!("SO_BINDTODEVICE {ifname}"))?;
        match group {
            IpAddr::V6(g) => {
                sock.join_multicast_v6(&g, ifindex)
                    .with_context(|| format!("joining {g} on {ifname}"))?;
                let on: libc::c_int = 1;
                setsockopt(sock.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, &on)?;
                setsockopt(sock.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, &on)?;
                // Told of any extension header, so such a packet is left out
                // as the kernel programs leave it out (RFC 5798 5.1.2: an
                // advert's next header is VRRP).
                for opt in [
                    libc::IPV6_RECVHOPOPTS,
                    libc::IPV6_RECVDSTOPTS,
                    libc::IPV6_RECVRTHDR,
                ] {
                    setsockopt(sock.as_raw_fd(), libc::IPPROTO_IPV6, opt, &on)?;
                }
            }
            IpAddr::V4(g) => {
                sock.join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(ifindex))
                    .with_context(|| format!("joining {g} on {ifname}"))?;
            }
        }
        sock.set_nonblocking(true)?;
        // Room for bursts from thousands of virtual routers.
        let _ = sock.set_recv_buffer_size(4 << 20);
        Ok(Self {
            sock,
            ifindex,
            bound: ifindex,
            v6,
            packet: false,
        })
    }

    /// Receives on the `use_vmac` macvlan `link` of interface `ifindex`: in
    /// private mode a router's own virtual MAC as source (the adverts of
    /// another router of the VRID) reaches the macvlan only, never its base.
    /// An AF_PACKET socket with a classic BPF filter for the VRRP protocol,
    /// the group's MAC added to the link's filter (no IGMP/MLD join).
    pub fn open_packet(link: u32, ifindex: u32, group: IpAddr, vrid: u8) -> Result<Self> {
        let v6 = group.is_ipv6();
        // ETH_P_IPV6 / ETH_P_IP (if_ether.h), in network order.
        let proto_be: u16 = if v6 { 0x86dd_u16 } else { 0x0800 }.to_be();
        // Protocol 0 until bound: a socket made with a protocol hears every
        // interface's frames until `bind` narrows it to the link.
        let sock = Socket::new(Domain::PACKET, Type::DGRAM, Some(Protocol::from(0)))
            .context("AF_PACKET socket (needs CAP_NET_RAW)")?;
        let filter = vrrp_filter(v6, vrid);
        let prog = libc::sock_fprog {
            len: u16::try_from(filter.len()).unwrap_or(0),
            filter: filter.as_ptr().cast_mut(),
        };
        setsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)?;
        // SAFETY: zeroed sockaddr_ll is valid; filled below.
        let mut ll: libc::sockaddr_ll = unsafe { mem::zeroed() };
        ll.sll_family = u16::try_from(libc::AF_PACKET).unwrap_or(17);
        ll.sll_protocol = proto_be;
        ll.sll_ifindex = i32::try_from(link).unwrap_or(0);
        // SAFETY: bind with a sockaddr_ll of the right length.
        check(unsafe {
            libc::bind(
                sock.as_raw_fd(),
                (&raw const ll).cast(),
                super::sys::socklen::<libc::sockaddr_ll>(),
            )
        })
        .context("binding the AF_PACKET advert socket")?;
        let mut mreq: libc::packet_mreq = unsafe { mem::zeroed() };
        mreq.mr_ifindex = i32::try_from(link).unwrap_or(0);
        mreq.mr_type = u16::try_from(libc::PACKET_MR_MULTICAST).unwrap_or(0);
        mreq.mr_alen = 6;
        mreq.mr_address[..6].copy_from_slice(&super::frames::multicast_mac(group));
        setsockopt(
            sock.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_ADD_MEMBERSHIP,
            &mreq,
        )?;
        sock.set_nonblocking(true)?;
        let _ = sock.set_recv_buffer_size(4 << 20);
        Ok(Self {
            sock,
            ifindex,
            bound: link,
            v6,
            packet: true,
        })
    }

    /// AF_PACKET: one frame's IP packet. IPv4 as the raw socket gives it
    /// (trimmed to its total length: short frames carry padding); IPv6 as
    /// the VRRP message moved to the start of `buf` and its IP facts.
    fn recv_packet(&self, buf: &mut [u8]) -> io::Result<Option<(usize, Option<IpMeta>)>> {
        // SAFETY: recvfrom into buffers that outlive the call.
        let mut from: libc::sockaddr_ll = unsafe { mem::zeroed() };
        let mut len = super::sys::socklen::<libc::sockaddr_ll>();
        let n = unsafe {
            libc::recvfrom(
                self.sock.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&raw mut from).cast(),
                &raw mut len,
            )
        };
        let n = usize::try_from(check(isize_to_int(n))?).unwrap_or(0);
        // Our own adverts leaving by the link.
        if from.sll_pkttype == libc::PACKET_OUTGOING {
            return Ok(None);
        }
        if !self.v6 {
            let total = buf
                .get(2..4)
                .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
            return Ok(Some((n.min(total), None)));
        }
        if n < 40 || buf[6] != IPPROTO_VRRP {
            return Ok(None);
        }
        let plen = usize::from(u16::from_be_bytes([buf[4], buf[5]])).min(n - 40);
        let ip = |at: usize| {
            let mut a = [0u8; 16];
            a.copy_from_slice(&buf[at..at + 16]);
            Ipv6Addr::from(a)
        };
        let meta = IpMeta {
            src: ip(8).into(),
            dst: ip(24).into(),
            ttl: buf[7],
        };
        buf.copy_within(40..40 + plen, 0);
        Ok(Some((plen, Some(meta))))
    }

    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// One received packet: for IPv4 the whole IP packet (`meta` is `None`:
    /// the header is in the bytes); for IPv6 the VRRP message and its IP
    /// facts. `Ok(None)`: an IPv6 packet whose VRRP message sat behind
    /// extension headers, which is no advert (the kernel programs do not
    /// take it either).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<(usize, Option<IpMeta>)>> {
        if self.packet {
            return self.recv_packet(buf);
        }
        // SAFETY: plain recvmsg with buffers that outlive the call.
        let mut name: libc::sockaddr_in6 = unsafe { mem::zeroed() };
        let mut cmsg = [0u8; 512];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_name = (&raw mut name).cast();
        msg.msg_namelen = super::sys::socklen::<libc::sockaddr_in6>();
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg.as_mut_ptr().cast();
        msg.msg_controllen = cmsg.len();
        let n = unsafe { libc::recvmsg(self.sock.as_raw_fd(), &raw mut msg, 0) };
        let n = usize::try_from(check(isize_to_int(n))?).unwrap_or(0);
        if !self.v6 {
            return Ok(Some((n, None)));
        }
        let mut hop = 0u8;
        let mut extension_headers = msg.msg_flags & libc::MSG_CTRUNC != 0;
        let mut dst = Ipv6Addr::UNSPECIFIED;
        // SAFETY: walking the control messages the kernel wrote, within msg_controllen.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&raw const msg);
            while !c.is_null() {
                let h = &*c;
                if h.cmsg_level == libc::IPPROTO_IPV6 && h.cmsg_type == libc::IPV6_HOPLIMIT {
                    hop =
                        u8::try_from(libc::CMSG_DATA(c).cast::<libc::c_int>().read_unaligned()).unwrap_or(0);
                } else if h.cmsg_level == libc::IPPROTO_IPV6 && h.cmsg_type == libc::IPV6_PKTINFO {
                    let info = libc::CMSG_DATA(c).cast::<libc::in6_pktinfo>().read_unaligned();
                    dst = Ipv6Addr::from(info.ipi6_addr.s6_addr);
                } else if h.cmsg_level == libc::IPPROTO_IPV6
                    && [
                        libc::IPV6_HOPOPTS,
                        libc::IPV6_DSTOPTS,
                        libc::IPV6_RTHDR,
                        libc::IPV6_RTHDRDSTOPTS,
                    ]
                    .contains(&h.cmsg_type)
                {
                    extension_headers = true;
                }
                c = libc::CMSG_NXTHDR(&raw const msg, c);
            }
        }
        if extension_headers {
            return Ok(None);
        }
        let src = Ipv6Addr::from(name.sin6_addr.s6_addr);
        Ok(Some((
            n,
            Some(IpMeta {
                src: src.into(),
                dst: dst.into(),
                ttl: hop,
            }),
        )))
    }
}

/// Classic BPF for an AF_PACKET datagram socket (the data starts at the IP
/// header): VRRP (IPv4 protocol at byte 9, IPv6 next header at byte 6: an
/// advert has no extension headers, RFC 5798 5.1.2) of VRID `vrid` (the
/// VRRP header's second byte), so a socket per macvlan reads only its own
/// instance's adverts.
fn vrrp_filter(v6: bool, vrid: u8) -> Vec<libc::sock_filter> {
    const LDB_ABS: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
    const LDB_IND: u16 = 0x50; // BPF_LD | BPF_B | BPF_IND
    const LDX_MSH: u16 = 0xb1; // BPF_LDX | BPF_B | BPF_MSH: x = 4 * ([k] & 0xf)
    const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET: u16 = 0x06; // BPF_RET | BPF_K
    let op = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    let (proto, vrrp) = (u32::from(IPPROTO_VRRP), u32::from(vrid));
    if v6 {
        vec![
            op(LDB_ABS, 0, 0, 6),
            op(JEQ, 0, 3, proto),
            op(LDB_ABS, 0, 0, 40 + 1),
            op(JEQ, 0, 1, vrrp),
            op(RET, 0, 0, 0xffff),
            op(RET, 0, 0, 0),
        ]
    } else {
        vec![
            op(LDB_ABS, 0, 0, 9),
            op(JEQ, 0, 4, proto),
            op(LDX_MSH, 0, 0, 0),
            op(LDB_IND, 0, 0, 1),
            op(JEQ, 0, 1, vrrp),
            op(RET, 0, 0, 0xffff),
            op(RET, 0, 0, 0),
        ]
    }
}

fn isize_to_int(n: isize) -> libc::c_int {
    libc::c_int::try_from(n).unwrap_or(-1)
}
