//! Link changes pushed by the kernel (rtnetlink group `RTMGRP_LINK`): a cable
//! pulled, an interface set down, deleted or created wakes the daemon at once,
//! instead of it polling every interface several times a second (what
//! keepalived also listens to). A slow poll stays as the safety net for a
//! notification lost to a full socket buffer, and for addresses.

use anyhow::{Context as _, Result};
use futures::{StreamExt as _, channel::mpsc::UnboundedReceiver};
use rtnetlink::{
    constants::RTMGRP_LINK,
    packet_core::NetlinkMessage,
    packet_route::RouteNetlinkMessage,
    sys::{AsyncSocket as _, SocketAddr},
};

type Messages = UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>;

pub struct LinkMonitor {
    messages: Messages,
}

impl LinkMonitor {
    /// Subscribes to link notifications; the socket's I/O runs as a task on
    /// the current runtime.
    pub fn open() -> Result<Self> {
        let (mut conn, _, messages) = rtnetlink::new_connection().context("rtnetlink socket")?;
        conn.socket_mut()
            .socket_mut()
            .bind(&SocketAddr::new(0, RTMGRP_LINK))
            .context("subscribing to rtnetlink link notifications")?;
        tokio::spawn(conn);
        Ok(Self { messages })
    }

    /// Waits for the next change (true; a burst of notifications counts as
    /// one, a lost one as a change: netlink-proto turns ENOBUFS into an
    /// overrun message), or the connection's end (false: only the poll is
    /// left).
    pub async fn changed(&mut self) -> bool {
        if self.messages.next().await.is_none() {
            return false;
        }
        while self.messages.try_recv().is_ok() {}
        true
    }
}

/// A route or rule the kernel reports deleted.
#[derive(Debug, Clone)]
pub enum Deleted {
    Route(rtnetlink::packet_route::route::RouteMessage),
    Rule(rtnetlink::packet_route::rule::RuleMessage),
    Address { ifindex: u32, addr: std::net::IpAddr },
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
            let NetlinkPayload::InnerMessage(inner) = msg.payload else {
                continue;
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
