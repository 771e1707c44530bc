//! One table of received frames with the verdict both validators must reach:
//! the XDP program (through BPF_PROG_TEST_RUN) and the controller's
//! `vrrp::validate` (socket mode). A verdict is the counter slot the frame is
//! counted under (`stats::ADVERTS_RX` for a valid advert), or none for a
//! frame that is not an untagged advert at all (VLAN-tagged: it passes to the
//! stack untouched and uncounted). Expected verdicts come from the RFCs and
//! keepalived 2.2.7's receive checks, each row saying which rule it breaks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use xvrrp_common::{stats, vrrp::IPPROTO_VRRP};
use xvrrpd::vrrp::{
    codec::{Advert, Auth, ChecksumScope},
    validate::{AddrDigest, RxInstance, RxPeer},
};

use xvrrpd::vrrp::fixtures;

use crate::frames::{MCAST4, ipv4_frame, ipv6_frame};

/// The configured instances every case is judged against: (VRID, IPv6?, config).
pub fn instances() -> Vec<(u8, bool, RxInstance)> {
    let v4 = |a: u8| IpAddr::V4(Ipv4Addr::new(192, 0, 2, a));
    vec![
        // The keepalived 2.2.7 capture's three instances (controller/src/vrrp/fixtures).
        (51, false, fixtures::v2_instance()),
        (52, false, fixtures::v3_ipv4_instance()),
        (53, true, fixtures::v3_ipv6_instance()),
        // A peer that speaks the RFC 9568 checksum dialect.
        (
            54,
            false,
            RxInstance {
                version: 3,
                auth: Auth::None,
                interval: 100,
                addrs: AddrDigest::new(vec![v4(104)], 7),
                v3_checksum_as_v2: true,
                peers: Vec::new().into(),
                group: Some(MCAST4.into()),
                skip_addr_check: false,
            },
        ),
        // Unicast instances: 55 does not list the cases' source (192.0.2.1), 56
        // does (any TTL), 57 does but only from at most 5 hops away.
        (55, false, unicast(105, RxPeer::any_ttl(v4(7)))),
        (56, false, unicast(106, RxPeer::any_ttl(SRC4.into()))),
        (
            57,
            false,
            unicast(
                107,
                RxPeer {
                    addr: SRC4.into(),
                    min_ttl: 250,
                    max_ttl: 255,
                },
            ),
        ),
        // `skip_check_adv_addr`: any address list.
        (
            58,
            false,
            RxInstance {
                version: 3,
                auth: Auth::None,
                interval: 100,
                addrs: AddrDigest::new(vec![v4(108), v4(109)], 7),
                v3_checksum_as_v2: false,
                peers: Vec::new().into(),
                group: Some(MCAST4.into()),
                skip_addr_check: true,
            },
        ),
    ]
}

fn unicast(vip: u8, peer: RxPeer) -> RxInstance {
    RxInstance {
        version: 3,
        auth: Auth::None,
        interval: 100,
        addrs: AddrDigest::new(vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, vip))], 7),
        v3_checksum_as_v2: false,
        peers: vec![peer].into(),
        // A unicast instance hears unicast adverts only.
        group: None,
        skip_addr_check: false,
    }
}

/// Where the unicast cases are sent: this host's address.
const UNICAST_DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

pub struct Case {
    pub name: &'static str,
    pub frame: Vec<u8>,
    /// The counter slot this frame must be counted under; `None`: no slot
    /// (the frame is not an untagged advert and passes untouched).
    pub verdict: Option<u32>,
}

pub fn keepalived_v2() -> Vec<u8> {
    xvrrpd::vrrp::fixtures::v2_pass()
}
pub fn keepalived_v3_ipv4() -> Vec<u8> {
    xvrrpd::vrrp::fixtures::v3_ipv4()
}
pub fn keepalived_v3_ipv6() -> Vec<u8> {
    xvrrpd::vrrp::fixtures::v3_ipv6()
}

/// The v2 fixture with another priority.
pub fn keepalived_v2_priority(priority: u8) -> Vec<u8> {
    v2_with(|a| a.priority = priority)
}

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
const SRC4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// The v2 fixture with a change in the VRRP message, checksum recomputed so
/// only the intended rule breaks.
fn v2_with(change: impl FnOnce(&mut Advert)) -> Vec<u8> {
    let frame = keepalived_v2();
    let mut advert = Advert::decode(&frame[34..], xvrrpd::vrrp::codec::Family::V4).unwrap();
    change(&mut advert);
    ipv4_frame(
        MAC,
        SRC4,
        255,
        IPPROTO_VRRP,
        &advert.encode(ChecksumScope::Message),
    )
}

fn v3_v4(vrid: u8, scope_pseudo: bool) -> Vec<u8> {
    v3_v4_to(vrid, scope_pseudo, MCAST4, |_| {})
}

/// A v3 advert for `vrid` (its instance's VIP) sent to `dst`, changed by
/// `change` before it is encoded.
fn v3_v4_to(vrid: u8, scope_pseudo: bool, dst: Ipv4Addr, change: impl FnOnce(&mut Advert)) -> Vec<u8> {
    let mut advert = Advert {
        version: 3,
        vrid,
        priority: 100,
        interval: 100,
        auth: Auth::None,
        checksum: 0,
        addrs: vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, vrid + 50))],
    };
    change(&mut advert);
    let scope = if scope_pseudo {
        ChecksumScope::V4Pseudo { src: SRC4, dst }
    } else {
        ChecksumScope::Message
    };
    let mut frame = ipv4_frame(MAC, SRC4, 255, IPPROTO_VRRP, &advert.encode(scope));
    frame[30..34].copy_from_slice(&dst.octets());
    frame
}

/// A unicast advert to this host for the unicast instances 55..=57.
fn unicast_to_us(vrid: u8) -> Vec<u8> {
    v3_v4_to(vrid, true, UNICAST_DST, |_| {})
}

/// An IPv4 frame with another TTL (neither validator reads the IP header checksum).
fn with_ttl(mut frame: Vec<u8>, ttl: u8) -> Vec<u8> {
    frame[22] = ttl;
    frame
}

pub fn cases() -> Vec<Case> {
    let v2 = keepalived_v2();
    let mut cases = vec![
        Case {
            name: "keepalived v2 PASS advert",
            frame: v2.clone(),
            verdict: Some(stats::ADVERTS_RX),
        },
        Case {
            name: "keepalived v3 IPv4 advert",
            frame: keepalived_v3_ipv4(),
            verdict: Some(stats::ADVERTS_RX),
        },
        Case {
            name: "keepalived v3 IPv6 advert",
            frame: keepalived_v3_ipv6(),
            verdict: Some(stats::ADVERTS_RX),
        },
        Case {
            name: "v3 IPv4 in the RFC 9568 dialect, configured so",
            frame: v3_v4(54, false),
            verdict: Some(stats::ADVERTS_RX),
        },
        Case {
            name: "v3 IPv4 with pseudo-header to an RFC 9568 peer",
            frame: v3_v4(54, true),
            verdict: Some(stats::DROP_CHECKSUM_DIALECT),
        },
        Case {
            name: "v3 IPv4 without pseudo-header to a keepalived peer",
            frame: v3_v4(52, false),
            verdict: Some(stats::DROP_CHECKSUM_DIALECT),
        },
        Case {
            name: "unicast advert from a configured peer",
            frame: unicast_to_us(56),
            verdict: Some(stats::ADVERTS_RX),
        },
        Case {
            name: "spoofed unicast advert from a source that is not a configured peer",
            frame: unicast_to_us(55),
            verdict: Some(stats::DROP_NOT_PEER),
        },
        Case {
            name: "unicast advert from a routed peer (TTL 62)",
            frame: with_ttl(unicast_to_us(56), 62),
            verdict: Some(stats::ADVERTS_RX),
        },
        Case {
            name: "unicast advert from a peer below its min_ttl",
            frame: with_ttl(unicast_to_us(57), 62),
            verdict: Some(stats::DROP_TTL),
        },
        Case {
            name: "TTL 254 for a VRID not run here (whose advert it is is checked first)",
            frame: with_ttl(v2_with(|a| a.vrid = 99), 254),
            verdict: Some(stats::FOREIGN),
        },
        Case {
            name: "priority 0",
            frame: v2_with(|a| a.priority = 0),
            verdict: Some(stats::ADVERTS_RX),
        },
        Case {
            name: "address count differs (keepalived: unexpected ip number count)",
            frame: v2_with(|a| a.addrs.truncate(1)),
            verdict: Some(stats::DROP_ADDR_LIST),
        },
        Case {
            name: "same count, another address (keepalived: not present in MASTER advert)",
            frame: v2_with(|a| a.addrs[1] = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 199))),
            verdict: Some(stats::DROP_ADDR_LIST),
        },
        Case {
            name: "address list in another order",
            frame: v2_with(|a| a.addrs.reverse()),
            verdict: Some(stats::ADVERTS_RX),
        },
        Case {
            name: "address list differs under skip_check_adv_addr",
            frame: v3_v4_to(58, true, MCAST4, |a| a.addrs.truncate(0)),
            verdict: Some(stats::ADVERTS_RX),
        },
        Case {
            name: "v3 advert interval 0 (keepalived adopts it; xvrrp drops it)",
            frame: v3_v4_to(52, true, MCAST4, |a| {
                a.interval = 0;
                a.addrs = vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 102))];
            }),
            verdict: Some(stats::DROP_INTERVAL),
        },
        Case {
            name: "advert to another multicast group (another VRRP domain)",
            frame: v3_v4_to(52, true, Ipv4Addr::new(224, 0, 0, 19), |a| {
                a.addrs = vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 102))];
            }),
            verdict: Some(stats::FOREIGN),
        },
        Case {
            name: "multicast advert for a unicast instance (its socket would not hear it)",
            frame: v3_v4(56, true),
            verdict: Some(stats::FOREIGN),
        },
        Case {
            name: "unicast advert for a multicast instance",
            frame: v3_v4_to(52, true, UNICAST_DST, |a| {
                a.addrs = vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 102))];
            }),
            verdict: Some(stats::FOREIGN),
        },
        Case {
            name: "TTL 254",
            frame: {
                let mut f = v2.clone();
                f[22] = 254;
                f
            },
            verdict: Some(stats::DROP_TTL),
        },
        Case {
            name: "VRRP version 4",
            frame: v2_with(|a| a.version = 4),
            verdict: Some(stats::DROP_VERSION),
        },
        Case {
            name: "a VRID this daemon does not run (another speaker's)",
            frame: v2_with(|a| a.vrid = 99),
            verdict: Some(stats::FOREIGN),
        },
        Case {
            name: "bad checksum",
            frame: {
                let mut f = v2.clone();
                f[41] ^= 0x55;
                f
            },
            verdict: Some(stats::DROP_CHECKSUM),
        },
        Case {
            name: "auth type 2 (AH)",
            frame: v2_with(|a| a.auth = Auth::Ah),
            verdict: Some(stats::DROP_AUTH),
        },
        Case {
            name: "auth type none, PASS configured",
            frame: v2_with(|a| a.auth = Auth::None),
            verdict: Some(stats::DROP_AUTH),
        },
        Case {
            name: "wrong password",
            frame: v2_with(|a| a.auth = Auth::simple("aminglix")),
            verdict: Some(stats::DROP_AUTH),
        },
        Case {
            name: "v2 interval 2 s, 1 s configured",
            frame: v2_with(|a| a.interval = 2),
            verdict: Some(stats::DROP_INTERVAL),
        },
        Case {
            name: "IP fragment",
            frame: {
                let mut f = v2.clone();
                f[20] = 0x20;
                f
            },
            verdict: Some(stats::DROP_LENGTH),
        },
        Case {
            name: "IP total length beyond the frame",
            frame: {
                let mut f = v2.clone();
                f[17] = 0xff;
                f
            },
            verdict: Some(stats::DROP_LENGTH),
        },
        Case {
            name: "IP header length 4 words",
            frame: {
                let mut f = v2.clone();
                f[14] = 0x44;
                f
            },
            verdict: Some(stats::DROP_LENGTH),
        },
        Case {
            name: "Ethernet padding after the IP packet",
            frame: {
                let mut f = v2.clone();
                f.extend_from_slice(&[0; 8]);
                f
            },
            verdict: Some(stats::ADVERTS_RX),
        },
        Case {
            name: "VRRP shorter than its header",
            frame: ipv4_frame(MAC, SRC4, 255, IPPROTO_VRRP, &v2[34..40]),
            verdict: Some(stats::DROP_LENGTH),
        },
        Case {
            name: "VRRP type 2",
            frame: {
                let mut f = v2.clone();
                f[34] = 0x22;
                f
            },
            verdict: Some(stats::DROP_TYPE),
        },
    ];
    // Address count larger than the payload (the checksum is fixed up so length is what breaks).
    let mut big = v2[34..].to_vec();
    big[3] = 9;
    big[6..8].copy_from_slice(&[0, 0]);
    let ck = ChecksumScope::Message.compute(&big);
    big[6..8].copy_from_slice(&ck.to_be_bytes());
    cases.push(Case {
        name: "address count beyond the payload",
        frame: ipv4_frame(MAC, SRC4, 255, IPPROTO_VRRP, &big),
        verdict: Some(stats::DROP_LENGTH),
    });
    // IPv4 with 4 bytes of options (NOPs).
    let mut opts = v2.clone();
    opts[14] = 0x46;
    let total = u16::from_be_bytes([opts[16], opts[17]]) + 4;
    opts[16..18].copy_from_slice(&total.to_be_bytes());
    opts.splice(34..34, [1, 1, 1, 0]);
    cases.push(Case {
        name: "IPv4 options before the advert",
        frame: opts,
        verdict: Some(stats::ADVERTS_RX),
    });
    // VRRPv2 over IPv6 does not exist.
    let src6: Ipv6Addr = "fe80::ff:fe00:a".parse().unwrap();
    let v2_for_v6_instance = v2_with(|a| a.vrid = 53);
    let v2_over_v6 = ipv6_frame(MAC, src6, 255, &v2_for_v6_instance[34..]);
    cases.push(Case {
        name: "VRRPv2 over IPv6",
        frame: v2_over_v6,
        verdict: Some(stats::DROP_VERSION),
    });
    let mut hop = keepalived_v3_ipv6();
    hop[21] = 64;
    cases.push(Case {
        name: "IPv6 hop limit 64",
        frame: hop,
        verdict: Some(stats::DROP_TTL),
    });
    // A priority tag (VLAN ID 0, 802.1p): the untagged network's advert.
    let mut priority_tagged = v2.clone();
    priority_tagged.splice(12..12, [0x81, 0x00, 0xa0, 0x00]);
    cases.push(Case {
        name: "802.1p priority tag (VLAN ID 0)",
        frame: priority_tagged,
        verdict: Some(stats::ADVERTS_RX),
    });
    // A priority tag around a VLAN tag: VLAN 7's.
    let mut stacked = v2.clone();
    stacked.splice(12..12, [0x81, 0x00, 0x00, 0x00, 0x81, 0x00, 0x00, 0x07]);
    cases.push(Case {
        name: "priority tag around a VLAN tag",
        frame: stacked,
        verdict: None,
    });
    // A valid advert of VLAN 7 (802.1Q) and of an 802.1ad service VLAN: not
    // this untagged interface's, whatever it says.
    for (name, tpid) in [("802.1Q tag", [0x81, 0x00]), ("802.1ad tag", [0x88, 0xa8])] {
        let mut tagged = v2.clone();
        tagged.splice(12..12, [tpid[0], tpid[1], 0x00, 0x07]);
        cases.push(Case {
            name,
            frame: tagged,
            verdict: None,
        });
    }
    // Found by the differential fuzzer: an IPv6 version field under the IPv4
    // EtherType (and the reverse) is the EtherType's family, with a bad version.
    let mut v6_in_v4 = v2.clone();
    v6_in_v4[14] = 0x65;
    cases.push(Case {
        name: "IP version 6 under the IPv4 EtherType",
        frame: v6_in_v4,
        verdict: Some(stats::DROP_TYPE),
    });
    let mut v4_in_v6 = keepalived_v3_ipv6();
    v4_in_v6[14] = 0x45;
    cases.push(Case {
        name: "IP version 4 under the IPv6 EtherType",
        frame: v4_in_v6,
        verdict: Some(stats::DROP_TYPE),
    });
    // Also from the fuzzer: a header that is both too short and of the wrong
    // version is too short (lengths are checked first, on both sides).
    let mut short_v8 = v2[..30].to_vec();
    short_v8[14] = 0x8d;
    cases.push(Case {
        name: "IP version 8 in a truncated header",
        frame: short_v8,
        verdict: Some(stats::DROP_LENGTH),
    });
    // A real sender's IPv4 header checksum is right whatever else is wrong.
    for case in &mut cases {
        fix_ipv4_header_checksum(&mut case.frame);
    }
    // ... except this one's (RFC 791; the stack would drop it before a raw
    // socket sees it).
    let mut corrupted = v2.clone();
    fix_ipv4_header_checksum(&mut corrupted);
    corrupted[24] ^= 0x5a;
    cases.push(Case {
        name: "corrupted IPv4 header checksum",
        frame: corrupted,
        verdict: Some(stats::DROP_CHECKSUM),
    });
    cases
}

/// Recomputes the IPv4 header checksum of an untagged or single-tagged frame.
pub fn fix_ipv4_header_checksum(frame: &mut [u8]) {
    let l3 = match frame.get(12..14) {
        Some([0x08, 0x00]) => 14,
        Some([0x81, 0x00]) if frame.get(16..18) == Some(&[0x08, 0x00]) => 18,
        _ => return,
    };
    let Some(&first) = frame.get(l3) else { return };
    let hlen = usize::from(first & 0x0f) * 4;
    if hlen < 20 || frame.len() < l3 + hlen {
        return;
    }
    frame[l3 + 10..l3 + 12].copy_from_slice(&[0, 0]);
    let ck = xvrrpd::vrrp::codec::checksum::checksum(&frame[l3..l3 + hlen]);
    frame[l3 + 10..l3 + 12].copy_from_slice(&ck.to_be_bytes());
}

/// Whether the IP header is sound (lengths, no fragment, the IPv4 header
/// checksum): what the kernel's IP stack accepts before a raw socket sees
/// the packet.
pub fn ip_well_formed(frame: &[u8]) -> bool {
    use xvrrpd::vrrp::codec::{
        ethernet::EthernetHdr,
        ip::{Ipv4Hdr, Ipv6Hdr},
    };
    match EthernetHdr::decode(frame) {
        Ok((eth, ip)) if eth.ethertype == 0x0800 => Ipv4Hdr::decode(ip)
            .is_ok_and(|(h, _)| xvrrpd::vrrp::codec::checksum::checksum(&ip[..h.header_len]) == 0),
        Ok((eth, ip)) if eth.ethertype == 0x86dd => Ipv6Hdr::decode(ip).is_ok(),
        _ => false,
    }
}
