//! Receive validation (RFC 3768 7.1, RFC 5798 7.1): one function shared by the
//! socket receive path and the tests, and mirrored by the XDP program.
//!
//! Order of the checks: the message itself (version, type, length), the
//! checksum, whether the VRID is configured (and with which version), the
//! sender and its TTL / hop limit (255 for a multicast instance, RFC 5798 7.1
//! item 1; a unicast instance hears only its `unicast_peer` addresses, each
//! within its `min_ttl..=max_ttl`, keepalived's rule for routed peers),
//! authentication (v2), the advert interval (v2), and last the address list,
//! which is only compared and reported (keepalived logs it and carries on;
//! RFC 5798 7.1 says "MAY").

use std::net::IpAddr;

use xvrrp_common::vrrp::{ETH_P_IP, ETH_P_IPV6, IPPROTO_VRRP, VRRP_TTL};

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
    /// The advertised VIPs (not `virtual_ipaddress_excluded`).
    pub vips: Vec<IpAddr>,
    /// `v3_checksum_as_v2`: VRRPv3/IPv4 checksum without the pseudo-header.
    pub v3_checksum_as_v2: bool,
    /// `unicast_peer`s: when any, adverts from other sources are dropped
    /// (spoofed or misdirected). Empty for a multicast instance.
    pub peers: Vec<RxPeer>,
}

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
    /// The address list differs from ours: log and count, keep the advert.
    pub addr_mismatch: bool,
}

/// Compares two 8-byte passwords in time independent of where they differ.
fn same_password(a: &[u8; 8], b: &[u8; 8]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Validates a VRRP message whose IP header has already been read.
pub fn validate_vrrp<'a>(
    meta: &IpMeta,
    msg: &[u8],
    lookup: impl Fn(u8) -> Option<&'a RxInstance>,
) -> Result<Accepted, DecodeError> {
    let family = Family::of(&meta.src);
    let advert = Advert::decode(msg, family)?;
    let vrid = advert.vrid;
    let version = advert.version;

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

    let inst = lookup(vrid).ok_or(DecodeError::Vrid { vrid })?;
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
            (Auth::Simple(got), Auth::Simple(want)) if !same_password(&got, &want) => {
                return Err(DecodeError::AuthPassword { vrid });
            }
            _ => {}
        }
        // RFC 3768 7.1: a v2 advert with another interval is discarded.
        // (v3 backups adopt the master's interval instead: RFC 5798 6.4.2.)
        if advert.interval != inst.interval {
            return Err(DecodeError::Interval {
                vrid,
                got: advert.interval,
                want: inst.interval,
            });
        }
    }

    let mut theirs = advert.addrs.clone();
    let mut ours = inst.vips.clone();
    theirs.sort_unstable();
    ours.sort_unstable();
    let addr_mismatch = theirs != ours;
    Ok(Accepted {
        advert,
        src: meta.src,
        addr_mismatch,
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
    match eth.ethertype {
        // The EtherType decides the family: a header whose version field
        // disagrees is an error of that family (as in the XDP program).
        ETH_P_IP => validate_ipv4(payload, lookup),
        ETH_P_IPV6 => validate_ipv6(payload, lookup),
        ethertype => Err(DecodeError::EtherType { ethertype }),
    }
}
