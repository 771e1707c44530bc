//! Receive validation (RFC 3768 7.1, RFC 5798 7.1): one function shared by the
//! socket receive path and the tests, and mirrored by the XDP program.
//!
//! Order of the checks: the IP header (lengths, no fragment, the IPv4 header
//! checksum), whose advert it is (the VRID configured on this interface and
//! family, sent to the instance's multicast group, or unicast to a unicast
//! instance; anything else is another VRRP speaker's, `FOREIGN`, which the
//! XDP program passes to the stack), the message itself (version, type,
//! length), the checksum, the configured version, the sender and its TTL /
//! hop limit (255 for a multicast instance, RFC 5798 7.1 item 1; a unicast
//! instance hears only its `unicast_peer` addresses, each within its
//! `min_ttl..=max_ttl`, keepalived's rule for routed peers), authentication
//! (v2), the advert interval (v2: the configured one; never 0), and last the
//! address list: the same count and addresses as the configured VIPs (by a
//! keyed digest, `AddrDigest`, as the XDP program compares them), in any
//! order, as keepalived 2.2.7 checks it (RFC 3768 7.1 / RFC 5798 7.1 let an
//! implementation check it; keepalived drops such an advert), unless
//! `skip_check_adv_addr`.

use std::net::IpAddr;

use xvrrp_common::{
    mix::addr_mix,
    vrrp::{ETH_P_8021AD, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, IPPROTO_VRRP, VRRP_TTL},
};

use super::codec::{
    Advert, Auth, ChecksumScope, DecodeError, Family,
    ethernet::EthernetHdr,
    ip::{Ipv4Hdr, Ipv6Hdr},
};

/// What receive validation needs to know of one configured instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RxInstance {
    /// 2 or 3.
    pub version: u8,
    /// v2 only; `Auth::None` for v3.
    pub auth: Auth,
    /// Configured interval: v2 seconds, v3 centiseconds.
    pub interval: u16,
    /// The advertised VIPs (not `virtual_ipaddress_excluded`), as the check
    /// compares them.
    pub addrs: AddrDigest,
    /// `v3_checksum_as_v2`: VRRPv3/IPv4 checksum without the pseudo-header.
    pub v3_checksum_as_v2: bool,
    /// `unicast_peer`s: when any, adverts from other sources are dropped
    /// (spoofed or misdirected). Empty for a multicast instance.
    /// Thin: most instances have none (16 bytes less in each).
    pub peers: thin_vec::ThinVec<RxPeer>,
    /// The multicast group a multicast instance hears (another group is
    /// another VRRP domain); `None` for a unicast instance, which hears
    /// unicast adverts only.
    pub group: Option<IpAddr>,
    /// `skip_check_adv_addr` / `vrrp_skip_check_adv_addr`: the address list
    /// is not compared with `addrs`.
    pub skip_addr_check: bool,
}

impl RxInstance {
    /// The RFC's multicast group of a family: 224.0.0.18 (RFC 5798 5.1.1.2)
    /// or ff02::12 (5.1.2.2).
    pub fn rfc_group(v6: bool) -> Option<IpAddr> {
        Some(if v6 {
            IpAddr::from(xvrrp_common::vrrp::MCAST_V6)
        } else {
            IpAddr::from(xvrrp_common::vrrp::MCAST_V4)
        })
    }

    /// Whether an advert sent to `dst` is for this instance (see `group`).
    pub fn addressed_to(&self, dst: IpAddr) -> bool {
        match self.group {
            Some(group) => dst == group,
            None => !dst.is_multicast(),
        }
    }
}

/// A configured address list as the check compares it: how many, and the
/// order-independent sum of one keyed mix per address that the XDP program
/// compares too (`xvrrp_common::mix`). Neither side keeps the list (a copy
/// in each instance took a heap block, 32 bytes at one VIP: issue
/// bench-truth's per-instance memory) nor sorts copies of it at every
/// advert. The check catches a misconfigured peer, not a forger (a genuine
/// advert shows the list anyway): two lists that differ pass with odds of
/// about 2^-64, and the key, random per instance (`new`'s caller), keeps
/// anyone from choosing a list that does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrDigest {
    pub count: usize,
    pub sum: u64,
    pub key: u64,
}

impl AddrDigest {
    pub fn new(addrs: impl IntoIterator<Item = IpAddr>, key: u64) -> Self {
        let (count, sum) = addrs.into_iter().fold((0, 0u64), |(n, sum), a| {
            (n + 1, sum.wrapping_add(addr_mix(&addr_bytes(a), key)))
        });
        Self { count, sum, key }
    }

    /// Whether `addrs`, in any order, is the configured list.
    pub fn matches(&self, addrs: &[IpAddr]) -> bool {
        *self == Self::new(addrs.iter().copied(), self.key)
    }
}

/// An address as the kernel's maps hold it: IPv4 in the first 4 bytes, the
/// rest zero.
pub fn addr_bytes(addr: IpAddr) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    match addr {
        IpAddr::V4(a) => bytes[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => bytes = a.octets(),
    }
    bytes
}

/// The longest VRRP message either path checks: a 1500-byte MTU's worth (the
/// XDP program's checksum loop is bounded there).
pub const MAX_MESSAGE_LEN: usize = 1500;

/// One `unicast_peer` and the TTLs / hop limits accepted from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RxPeer {
    pub addr: IpAddr,
    pub min_ttl: u8,
    pub max_ttl: u8,
}

impl RxPeer {
    /// A peer at any distance (keepalived's default: 0..=255).
    pub fn any_ttl(addr: IpAddr) -> Self {
        Self {
            addr,
            min_ttl: 0,
            max_ttl: 255,
        }
    }
}

/// The IP-layer facts of a received advert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpMeta {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
}

/// An advert that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub advert: Advert,
    pub src: IpAddr,
}

/// Compares two 8-byte passwords in time independent of where they differ.
fn same_password(a: [u8; 8], b: [u8; 8]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Validates a VRRP message whose IP header has already been read.
pub fn validate_vrrp<'a>(
    meta: &IpMeta,
    msg: &[u8],
    lookup: impl Fn(u8) -> Option<&'a RxInstance>,
) -> Result<Accepted, DecodeError> {
    if msg.len() < Advert::HEADER_LEN {
        return Err(DecodeError::Truncated {
            what: "VRRP header",
            need: Advert::HEADER_LEN,
            got: msg.len(),
        });
    }
    // Whose advert is it? The VRID sits at the same place in every version.
    let vrid = msg[1];
    let inst = lookup(vrid).ok_or(DecodeError::Vrid { vrid })?;
    if !inst.addressed_to(meta.dst) {
        return Err(DecodeError::OtherGroup { vrid, dst: meta.dst });
    }
    let family = Family::of(&meta.src);
    let advert = Advert::decode(msg, family)?;
    let version = advert.version;
    if msg.len() > MAX_MESSAGE_LEN {
        return Err(DecodeError::Length {
            vrid,
            version,
            need: MAX_MESSAGE_LEN,
            got: msg.len(),
        });
    }

    // The checksum covers the message as the IP length delimits it (RFC 5798 5.2.8).
    // `with_pseudo` is the only scope for v2 (message alone) and v3/IPv6 (pseudo-header);
    // v3/IPv4 may also verify without it (`v3_checksum_as_v2`, RFC 9568).
    let with_pseudo = ChecksumScope::for_advert(version, meta.src, meta.dst, false);
    let ok_with_pseudo = with_pseudo.compute(msg) == 0;
    let ok_plain = version == 3 && family == Family::V4 && ChecksumScope::Message.compute(msg) == 0;
    if !ok_with_pseudo && !ok_plain {
        let mut zeroed = msg.to_vec();
        zeroed[6..8].copy_from_slice(&[0, 0]);
        let want = with_pseudo.compute(&zeroed);
        return Err(DecodeError::Checksum {
            vrid,
            version,
            got: advert.checksum,
            want,
        });
    }

    if inst.version != version {
        return Err(DecodeError::Version { vrid, version });
    }
    if inst.peers.is_empty() {
        // RFC 5798 7.1 item 1: a router that forwarded the packet changed the TTL.
        if meta.ttl != VRRP_TTL {
            return Err(DecodeError::Ttl { ttl: meta.ttl });
        }
    } else {
        let peer = inst
            .peers
            .iter()
            .find(|p| p.addr == meta.src)
            .ok_or(DecodeError::NotPeer { vrid, src: meta.src })?;
        if !(peer.min_ttl..=peer.max_ttl).contains(&meta.ttl) {
            return Err(DecodeError::Ttl { ttl: meta.ttl });
        }
    }
    if version == 3 && family == Family::V4 {
        // Two dialects exist for VRRPv3 over IPv4; count a peer of the other one apart.
        let ours_ok = if inst.v3_checksum_as_v2 {
            ok_plain
        } else {
            ok_with_pseudo
        };
        if !ours_ok {
            return Err(DecodeError::ChecksumDialect {
                vrid,
                peer_uses_pseudo_header: ok_with_pseudo,
            });
        }
    }

    if version == 2 {
        // RFC 3768 7.1: auth type must match; the simple password must match
        // (RFC 2338 5.3.6.2, what keepalived's PASS is).
        match (advert.auth, inst.auth) {
            (Auth::Ah, _) => {
                return Err(DecodeError::AuthUnsupported {
                    vrid,
                    auth_type: Auth::TYPE_AH,
                });
            }
            (got, want) if got.type_value() != want.type_value() => {
                return Err(DecodeError::AuthType {
                    vrid,
                    got: got.type_value(),
                    want: want.type_value(),
                });
            }
            (Auth::Simple(got), Auth::Simple(want)) if !same_password(got, want) => {
                return Err(DecodeError::AuthPassword { vrid });
            }
            _ => {}
        }
    }
    // v3 backups adopt the master's interval (RFC 5798 6.4.2), but not 0:
    // keepalived does, and a Master_Down_Interval of 0 makes every backup
    // take over at once, once per advert. v2 (RFC 3768 7.1): another
    // interval than ours is discarded.
    if advert.interval == 0 || (version == 2 && advert.interval != inst.interval) {
        return Err(DecodeError::Interval {
            vrid,
            got: advert.interval,
            want: inst.interval,
        });
    }

    if !inst.skip_addr_check && !inst.addrs.matches(&advert.addrs) {
        return Err(DecodeError::AddrList {
            vrid,
            got: advert.addrs.len(),
            want: inst.addrs.count,
        });
    }
    Ok(Accepted {
        advert,
        src: meta.src,
    })
}

/// Validates an IPv4 packet (header included) carrying VRRP.
pub fn validate_ipv4<'a>(
    packet: &[u8],
    lookup: impl Fn(u8) -> Option<&'a RxInstance>,
) -> Result<Accepted, DecodeError> {
    let (ip, payload) = Ipv4Hdr::decode(packet)?;
    if ip.protocol != IPPROTO_VRRP {
        return Err(DecodeError::NotVrrp {
            protocol: ip.protocol,
        });
    }
    // The stack checks the header checksum before a raw socket sees the
    // packet; a whole frame (the kernel programs' view, the tests) is
    // checked here, once it is known to carry VRRP.
    if super::codec::checksum::checksum(&packet[..ip.header_len]) != 0 {
        return Err(DecodeError::Ipv4HeaderChecksum);
    }
    let meta = IpMeta {
        src: ip.src.into(),
        dst: ip.dst.into(),
        ttl: ip.ttl,
    };
    validate_vrrp(&meta, payload, lookup)
}

/// Validates an IPv6 packet (fixed header included) carrying VRRP.
pub fn validate_ipv6<'a>(
    packet: &[u8],
    lookup: impl Fn(u8) -> Option<&'a RxInstance>,
) -> Result<Accepted, DecodeError> {
    let (ip, payload) = Ipv6Hdr::decode(packet)?;
    // Adverts carry no extension headers (RFC 5798 5.1.2).
    if ip.next_header != IPPROTO_VRRP {
        return Err(DecodeError::NotVrrp {
            protocol: ip.next_header,
        });
    }
    let meta = IpMeta {
        src: ip.src.into(),
        dst: ip.dst.into(),
        ttl: ip.hop_limit,
    };
    validate_vrrp(&meta, payload, lookup)
}

/// Validates an IP packet whose family only its version field tells (a raw
/// IPv4 socket hands over the header; nothing else says which family it is).
pub fn validate_ip<'a>(
    packet: &[u8],
    lookup: impl Fn(u8) -> Option<&'a RxInstance>,
) -> Result<Accepted, DecodeError> {
    match packet.first().map(|b| b >> 4) {
        Some(6) => validate_ipv6(packet, lookup),
        Some(_) => validate_ipv4(packet, lookup),
        None => Err(DecodeError::Truncated {
            what: "IP header",
            need: 1,
            got: 0,
        }),
    }
}

/// Validates a whole Ethernet frame, as the XDP program sees it.
pub fn validate_frame<'a>(
    frame: &[u8],
    lookup: impl Fn(u8) -> Option<&'a RxInstance>,
) -> Result<Accepted, DecodeError> {
    let (eth, payload) = EthernetHdr::decode(frame)?;
    if let Some(tci) = eth.vlan {
        // Another VLAN's frame, or a second tag; a priority tag (VLAN ID 0,
        // 802.1p) is the untagged network's, as the stack takes it.
        let inner_tag = eth.ethertype == ETH_P_8021Q || eth.ethertype == ETH_P_8021AD;
        if tci & 0x0fff != 0 || inner_tag {
            return Err(DecodeError::Tagged { vid: tci & 0x0fff });
        }
    }
    match eth.ethertype {
        // The EtherType decides the family: a header whose version field
        // disagrees is an error of that family (as in the XDP program).
        ETH_P_IP => validate_ipv4(payload, lookup),
        ETH_P_IPV6 => validate_ipv6(payload, lookup),
        ethertype => Err(DecodeError::EtherType { ethertype }),
    }
}
