//! Frames built whole and sent on an AF_PACKET socket, so they leave with the
//! source MAC we choose: gratuitous ARP (RFC 5798 6.4.1 (b), RFC 5227),
//! unsolicited Neighbor Advertisements (RFC 5798 6.4.1 (c), RFC 4861 7.2.6),
//! and the adverts of a `use_vmac` master, whose source MAC must be the
//! virtual router MAC (RFC 5798 7.3).

use std::{
    io, mem,
    net::{IpAddr, Ipv6Addr},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use xvrrp_common::vrrp::{ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, IPPROTO_VRRP, VRRP_TTL};

use super::sys::check;
use crate::vrrp::codec::{
    arp::ArpPacket,
    ethernet::{EthernetHdr, Mac},
    ip::{Ipv4Hdr, Ipv6Hdr},
    ndp::{IPPROTO_ICMPV6, NeighborMessage},
};

/// ff02::1, all nodes.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The frame announcing `vip` at `mac`: a gratuitous ARP for IPv4, an
/// unsolicited NA (Router, Override) from `v6_src` for IPv6.
/// `AF_PACKET` as `sockaddr_ll::sll_family` holds it.
#[expect(clippy::cast_possible_truncation, reason = "AF_PACKET is 17")]
const AF_PACKET: u16 = libc::AF_PACKET as u16;

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

/// The Ethernet multicast address of an IP multicast group (RFC 1112 6.4,
/// RFC 2464 7).
pub fn multicast_mac(group: IpAddr) -> Mac {
    match group {
        IpAddr::V4(g) => {
            let o = g.octets();
            [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
        }
        IpAddr::V6(g) => {
            let o = g.octets();
            [0x33, 0x33, o[12], o[13], o[14], o[15]]
        }
    }
}

/// An advert (`msg`, checksum included) to multicast group `dst` as a whole
/// frame from `mac`: the IP header as the raw advert socket would write it
/// (TTL / hop limit 255, RFC 5798 5.1.1.3 / 5.1.2.3; CS6).
pub fn advert_frame(mac: Mac, src: IpAddr, dst: IpAddr, msg: &[u8]) -> Option<Vec<u8>> {
    let (ethertype, ip) = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => (
            ETH_P_IP,
            Ipv4Hdr::new(s, d, IPPROTO_VRRP, VRRP_TTL, msg.len())
                .encode()
                .to_vec(),
        ),
        (IpAddr::V6(s), IpAddr::V6(d)) => (
            ETH_P_IPV6,
            Ipv6Hdr::new(s, d, IPPROTO_VRRP, VRRP_TTL, msg.len())
                .encode()
                .to_vec(),
        ),
        // An instance's source and group share one family.
        _ => return None,
    };
    let mut frame = EthernetHdr {
        dst: multicast_mac(dst),
        src: mac,
        vlan: None,
        ethertype,
    }
    .encode();
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(msg);
    Some(frame)
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
        addr.sll_family = AF_PACKET;
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
                super::sys::socklen::<libc::sockaddr_ll>(),
            )
        };
        check(libc::c_int::try_from(rc).unwrap_or(-1)).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::{
        codec::{Advert, Auth, ChecksumScope},
        validate::{AddrDigest, RxInstance, validate_frame},
    };

    #[test]
    fn vmac_advert_frame_is_a_valid_advert_from_the_virtual_mac() {
        let vmac = [0, 0, 0x5e, 0, 1, 51];
        for (src, dst, version) in [
            (IpAddr::from([192, 0, 2, 1]), IpAddr::from([224, 0, 0, 18]), 2),
            ("fe80::1".parse().unwrap(), "ff02::12".parse().unwrap(), 3),
        ] {
            let vip: IpAddr = if src.is_ipv4() {
                [192, 0, 2, 100].into()
            } else {
                "2001:db8::100".parse().unwrap()
            };
            let advert = Advert {
                version,
                vrid: 51,
                priority: 100,
                interval: if version == 2 { 1 } else { 100 },
                auth: Auth::None,
                checksum: 0,
                addrs: vec![vip],
            };
            let msg = advert.encode(ChecksumScope::for_advert(version, src, dst, false));
            let frame = advert_frame(vmac, src, dst, &msg).unwrap();
            let (eth, _) = EthernetHdr::decode(&frame).unwrap();
            assert_eq!(eth.src, vmac);
            assert_eq!(eth.dst, multicast_mac(dst));
            let inst = RxInstance {
                version,
                auth: Auth::None,
                interval: advert.interval,
                addrs: AddrDigest::new(vec![vip], 7),
                v3_checksum_as_v2: false,
                peers: thin_vec::ThinVec::new(),
                group: Some(dst),
                skip_addr_check: false,
            };
            let got = validate_frame(&frame, |v| (v == 51).then_some(&inst)).unwrap();
            assert_eq!(got.src, src);
            assert_eq!(got.advert.priority, 100);
        }
        assert_eq!(multicast_mac([224, 0, 0, 18].into()), [0x01, 0, 0x5e, 0, 0, 0x12]);
        assert_eq!(
            multicast_mac("ff02::12".parse().unwrap()),
            [0x33, 0x33, 0, 0, 0, 0x12]
        );
    }
}
