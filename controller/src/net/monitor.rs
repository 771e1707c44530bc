//! Link changes pushed by the kernel (rtnetlink group `RTMGRP_LINK`): a cable
//! pulled, an interface set down, deleted or created wakes the daemon at once,
//! instead of it polling every interface several times a second (what
//! keepalived also listens to). A slow poll stays as the safety net, and for
//! addresses.

use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};

use anyhow::{Context as _, Result};
use futures::{StreamExt as _, channel::mpsc::UnboundedReceiver};
use rtnetlink::{
    packet_core::NetlinkMessage,
    packet_route::RouteNetlinkMessage,
    sys::{AsyncSocket as _, SocketAddr},
};
use tokio::io::{Interest, unix::AsyncFd};

type Messages = UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>;

/// Datagrams read per wake-up before the rest is left for the next one.
const DRAIN_MAX: usize = 4096;

/// A raw rtnetlink socket in the link group. Nothing is parsed: each message
/// only says "look again", and the poll reads the links themselves. So no
/// notification can be lost to a message the parser does not know (a
/// decoder drops those without a word, which would leave a link change to
/// the 30 s safety poll), and a full buffer (ENOBUFS, the kernel dropped
/// some) is a change like any other.
pub struct LinkMonitor {
    // Declared first: dropped (deregistered) before the descriptor closes.
    fd: AsyncFd<RawFd>,
    owned: OwnedFd,
}

impl LinkMonitor {
    pub fn open() -> Result<Self> {
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(std::io::Error::last_os_error()).context("rtnetlink socket");
        }
        // SAFETY: a fresh descriptor, owned from here on.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_nl is plain data; all-zero is a valid value.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = u16::try_from(libc::AF_NETLINK).unwrap_or(16);
        addr.nl_groups = 1 << (libc::RTNLGRP_LINK - 1);
        // SAFETY: addr is a sockaddr_nl of the length given.
        let rc = unsafe {
            libc::bind(
                raw,
                (&raw const addr).cast(),
                super::sys::socklen::<libc::sockaddr_nl>(),
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error())
                .context("subscribing to rtnetlink link notifications");
        }
        // ERROR too: a notification the kernel could not queue may be
        // reported as a socket error alone (EPOLLERR, no data to read).
        // SAFETY: `owned` keeps the descriptor open until after this
        // registration ends (field order).
        let fd = unsafe { AsyncFd::register_with_interest(raw, Interest::READABLE | Interest::ERROR) }
            .map_err(std::io::Error::from)
            .context("registering the rtnetlink socket")?;
        Ok(Self { fd, owned })
    }

    /// Waits for the next change (true: a burst of notifications counts as
    /// one, an overrun as one), or for the socket to fail (false: only the
    /// poll is left).
    pub async fn changed(&mut self) -> bool {
        loop {
            let Ok(mut guard) = self.fd.ready(Interest::READABLE | Interest::ERROR).await else {
                return false;
            };
            let mut changed = false;
            let mut byte = [0u8; 1];
            for _ in 0..DRAIN_MAX {
                // MSG_TRUNC: the datagram is taken whole, its content dropped.
                // SAFETY: reading at most one byte into a one-byte buffer.
                let n = unsafe {
                    libc::recv(
                        self.owned.as_raw_fd(),
                        byte.as_mut_ptr().cast(),
                        1,
                        libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                    )
                };
                if n >= 0 {
                    changed = true;
                    continue;
                }
                match std::io::Error::last_os_error().raw_os_error() {
                    Some(libc::EAGAIN) => {
                        guard.clear_ready();
                        break;
                    }
                    Some(libc::EINTR) => {}
                    // The descriptor itself is unusable: only the poll is left.
                    Some(libc::EBADF | libc::ENOTSOCK | libc::EFAULT | libc::EINVAL) => return false,
                    // A notification the kernel dropped (ENOBUFS: the buffer
                    // was full) or could not build (rtnl_set_sk_err: EMSGSIZE
                    // and the like, reported once on every listener):
                    // something changed.
                    _ => changed = true,
                }
            }
            // Never the case for netlink (no shutdown), but a closed socket
            // stays readable: without this, the loop would spin.
            if !changed && guard.ready().is_read_closed() {
                return false;
            }
            if changed {
                return true;
            }
        }
    }
}

/// A route or rule the kernel reports deleted.
#[derive(Debug, Clone)]
pub enum Deleted {
    Route(rtnetlink::packet_route::route::RouteMessage),
    Rule(rtnetlink::packet_route::rule::RuleMessage),
    Address {
        ifindex: u32,
        addr: std::net::IpAddr,
    },
    /// Notifications were lost (the socket's buffer was full: the kernel
    /// says so with ENOBUFS): what they said must be found out otherwise.
    Lost,
}

/// Address, route and rule deletions (IPv4 and IPv6): for VIPs and tracked
/// `virtual_routes` / `virtual_rules` of masters, and the static entries
/// keepalived puts back.
pub struct RouteMonitor {
    messages: Messages,
}

impl RouteMonitor {
    /// Addresses always; routes and rules only when `routes` (a host with a
    /// full routing table must not wake the daemon for every route).
    pub fn open(routes: bool) -> Result<Self> {
        // Legacy group bits (1 << (RTNLGRP_x - 1)): IPV4_IFADDR 5,
        // IPV4_ROUTE 7, IPV4_RULE 8, IPV6_IFADDR 9, IPV6_ROUTE 11, IPV6_RULE 19.
        let addresses = (1 << 4) | (1 << 8);
        let groups = if routes {
            addresses | (1 << 6) | (1 << 7) | (1 << 10) | (1 << 18)
        } else {
            addresses
        };
        let (mut conn, _, messages) = rtnetlink::new_connection().context("rtnetlink socket")?;
        let sock = conn.socket_mut().socket_mut();
        // Room for the notices of a mass transition (thousands of VIPs).
        let _ = sock.set_rx_buf_sz(8 << 20);
        sock.bind(&SocketAddr::new(0, groups))
            .context("subscribing to rtnetlink address, route and rule notifications")?;
        tokio::spawn(conn);
        Ok(Self { messages })
    }

    /// The next deletion of an address, or of a route or rule with
    /// keepalived's protocol (18), the only ones that can be ours.
    pub async fn next(&mut self) -> Deleted {
        use rtnetlink::packet_core::NetlinkPayload;
        use rtnetlink::packet_route::{address::AddressAttribute, route::RouteProtocol, rule::RuleAttribute};
        loop {
            let Some((msg, _)) = self.messages.next().await else {
                return std::future::pending().await;
            };
            let inner = match msg.payload {
                NetlinkPayload::InnerMessage(inner) => inner,
                // netlink-proto's word for ENOBUFS on the socket.
                NetlinkPayload::Overrun(_) => return Deleted::Lost,
                _ => continue,
            };
            match inner {
                RouteNetlinkMessage::DelAddress(a) => {
                    // IFA_LOCAL where there is one (a point-to-point
                    // address's IFA_ADDRESS is the peer), else IFA_ADDRESS.
                    let local = a.attributes.iter().find_map(|x| match x {
                        AddressAttribute::Local(ip) => Some(*ip),
                        _ => None,
                    });
                    let addr = local.or_else(|| {
                        a.attributes.iter().find_map(|x| match x {
                            AddressAttribute::Address(ip) => Some(*ip),
                            _ => None,
                        })
                    });
                    if let Some(addr) = addr {
                        return Deleted::Address {
                            ifindex: a.header.index,
                            addr,
                        };
                    }
                }
                RouteNetlinkMessage::DelRoute(r) if r.header.protocol == RouteProtocol::from(18) => {
                    return Deleted::Route(r);
                }
                RouteNetlinkMessage::DelRule(r)
                    if r.attributes
                        .contains(&RuleAttribute::Protocol(RouteProtocol::from(18))) =>
                {
                    return Deleted::Rule(r);
                }
                _ => {}
            }
        }
    }
}
