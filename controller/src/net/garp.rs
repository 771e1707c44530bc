//! Gratuitous ARP (RFC 5798 6.4.1 (b), RFC 5227) and unsolicited Neighbor
//! Advertisements (RFC 5798 6.4.1 (c), RFC 4861 7.2.6), sent as whole frames on
//! an AF_PACKET socket so they leave with the MAC we choose.

use std::{
    io, mem,
    net::{IpAddr, Ipv6Addr},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use xvrrp_common::vrrp::{ETH_P_ARP, ETH_P_IPV6};

use super::sys::check;
use crate::vrrp::codec::{
    arp::ArpPacket,
    ethernet::{EthernetHdr, Mac},
    ip::Ipv6Hdr,
    ndp::{IPPROTO_ICMPV6, NeighborMessage},
};

/// ff02::1, all nodes.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The frame announcing `vip` at `mac`: a gratuitous ARP for IPv4, an
/// unsolicited NA (Router, Override) from `v6_src` for IPv6.
pub fn announcement(mac: Mac, vip: IpAddr, v6_src: Option<Ipv6Addr>) -> Vec<u8> {
    match vip {
        IpAddr::V4(a) => {
            let mut frame = EthernetHdr {
                dst: [0xff; 6],
                src: mac,
                vlan: None,
                ethertype: ETH_P_ARP,
            }
            .encode();
            frame.extend_from_slice(&ArpPacket::gratuitous(mac, a).encode());
            frame
        }
        IpAddr::V6(a) => {
            let src = v6_src.unwrap_or(a);
            let icmp = NeighborMessage::unsolicited_advert(a, mac).encode(src, ALL_NODES);
            let mut frame = EthernetHdr {
                dst: [0x33, 0x33, 0, 0, 0, 1],
                src: mac,
                vlan: None,
                ethertype: ETH_P_IPV6,
            }
            .encode();
            frame.extend_from_slice(&Ipv6Hdr::new(src, ALL_NODES, IPPROTO_ICMPV6, 255, icmp.len()).encode());
            frame.extend_from_slice(&icmp);
            frame
        }
    }
}

/// Sends whole frames out of one interface.
pub struct FrameSender {
    fd: OwnedFd,
    ifindex: i32,
}

impl FrameSender {
    pub fn open(ifindex: u32) -> io::Result<Self> {
        // SAFETY: plain socket(2); the fd is owned right away.
        let fd = check(unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_NONBLOCK, 0) })?;
        Ok(Self {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            ifindex: i32::try_from(ifindex).unwrap_or(0),
        })
    }

    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain data; zeroed is a valid start.
        let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = self.ifindex;
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&frame[..6]);
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const addr).cast(),
                mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        check(libc::c_int::try_from(rc).unwrap_or(-1)).map(drop)
    }
}
