//! Raw Ethernet frames: building test adverts and sending them on a link.

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use xvrrp_common::vrrp::{ETH_P_IP, ETH_P_IPV6, IPPROTO_VRRP};
use xvrrpd::net::frames::FrameSender;
use xvrrpd::vrrp::codec::{
    Advert, Auth, ChecksumScope,
    ethernet::{EthernetHdr, Mac},
    ip::{Ipv4Hdr, Ipv6Hdr},
};

/// Sends whole Ethernet frames out of one interface: the daemon's own
/// AF_PACKET sender, by interface name, waiting out a full send buffer.
pub struct PacketSocket(FrameSender);

impl PacketSocket {
    /// Opens a sender on `iface` in the calling thread's network namespace.
    pub fn open(iface: &str) -> io::Result<Self> {
        Ok(Self(FrameSender::open(xvrrpd::net::sys::ifindex(iface)?)?))
    }

    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        for _ in 0..1000 {
            match self.0.send(frame) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                other => return other,
            }
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "send buffer stayed full for a second",
        ))
    }
}

/// An Ethernet frame around an IPv4 packet from `src` to 224.0.0.18 with `ttl`.
pub fn ipv4_frame(src_mac: Mac, src: Ipv4Addr, ttl: u8, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let eth = EthernetHdr {
        dst: [0x01, 0x00, 0x5e, 0x00, 0x00, 0x12],
        src: src_mac,
        vlan: None,
        ethertype: ETH_P_IP,
    };
    let mut frame = eth.encode();
    frame.extend_from_slice(&Ipv4Hdr::new(src, MCAST4, protocol, ttl, payload.len()).encode());
    frame.extend_from_slice(payload);
    frame
}

/// An Ethernet frame around an IPv6 packet from `src` to ff02::12 with `hop_limit`.
pub fn ipv6_frame(src_mac: Mac, src: Ipv6Addr, hop_limit: u8, payload: &[u8]) -> Vec<u8> {
    let eth = EthernetHdr {
        dst: [0x33, 0x33, 0, 0, 0, 0x12],
        src: src_mac,
        vlan: None,
        ethertype: ETH_P_IPV6,
    };
    let mut frame = eth.encode();
    frame.extend_from_slice(&Ipv6Hdr::new(src, MCAST6, IPPROTO_VRRP, hop_limit, payload.len()).encode());
    frame.extend_from_slice(payload);
    frame
}

/// The VRRP multicast groups (RFC 5798 5.1.1.2, 5.1.2.2).
pub const MCAST4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
pub const MCAST6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

/// A VRRPv2 advert in an Ethernet frame, as RFC 3768 5.1 describes it:
/// TTL 255, no authentication, one virtual address, interval 1 s.
pub fn vrrp_v2_advert(src_mac: Mac, src: [u8; 4], vrid: u8, priority: u8, vip: [u8; 4]) -> Vec<u8> {
    let advert = Advert {
        version: 2,
        vrid,
        priority,
        interval: 1,
        auth: Auth::None,
        checksum: 0,
        addrs: vec![IpAddr::from(vip)],
    };
    ipv4_frame(
        src_mac,
        src.into(),
        255,
        IPPROTO_VRRP,
        &advert.encode(ChecksumScope::Message),
    )
}

/// A UDP datagram in an Ethernet frame: ordinary traffic the program must pass.
pub fn udp_frame(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let eth = EthernetHdr {
        dst: [0xff; 6],
        src: [2, 0, 0, 0, 0, 1],
        vlan: None,
        ethertype: ETH_P_IP,
    };
    let udp = [0x30, 0x39, 0x30, 0x39, 0, 12, 0, 0, b'x', b'v', b'r', b'p'];
    let mut frame = eth.encode();
    frame.extend_from_slice(&Ipv4Hdr::new(src.into(), dst.into(), 17, 64, udp.len()).encode());
    frame.extend_from_slice(&udp);
    frame
}
