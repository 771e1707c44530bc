//! Wire constants both sides need to recognise VRRP and its neighbours.

/// IP protocol number of VRRP (RFC 3768 5.2.4, RFC 5798 5.1.1.3).
pub const IPPROTO_VRRP: u8 = 112;
/// TTL / hop limit every advert is sent with and must arrive with (RFC 5798 5.1.1.3).
pub const VRRP_TTL: u8 = 255;
/// IPv4 multicast group of VRRP: 224.0.0.18, in network byte order as a `u32` read from the wire.
pub const MCAST_V4: [u8; 4] = [224, 0, 0, 18];
/// IPv6 multicast group of VRRP: ff02::12.
pub const MCAST_V6: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12];

pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86DD;
pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_8021Q: u16 = 0x8100;
pub const ETH_P_8021AD: u16 = 0x88A8;
