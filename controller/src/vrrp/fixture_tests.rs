//! Real adverts captured from keepalived 2.2.7 (see `fixtures/README.md`):
//! they decode to the expected fields, pass validation, and xvrrp's encoder
//! produces the same bytes for the same configuration. Then one test per
//! `DecodeError` variant, and property tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use xvrrp_common::stats;

use super::{
    codec::{
        Advert, Auth, ChecksumScope, DecodeError, Family,
        arp::ArpPacket,
        ethernet::EthernetHdr,
        ip::{Ipv4Hdr, Ipv6Hdr},
        ndp::NeighborMessage,
    },
    fixtures,
    validate::{AddrDigest, IpMeta, RxInstance, RxPeer, validate_frame, validate_ip, validate_vrrp},
};

const KA_SRC4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const MCAST4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
fn ka_src6() -> Ipv6Addr {
    "fe80::ff:fe00:a".parse().unwrap()
}
fn mcast6() -> Ipv6Addr {
    "ff02::12".parse().unwrap()
}
fn v4(a: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, a))
}

use fixtures::{v2_instance, v3_ipv4_instance as v3_v4_instance, v3_ipv6_instance as v3_v6_instance};

fn only<'a>(inst: &'a RxInstance, vrid: u8) -> impl Fn(u8) -> Option<&'a RxInstance> + 'a {
    move |v| (v == vrid).then_some(inst)
}

#[test]
fn keepalived_v2_pass_advert() {
    let frame = fixtures::v2_pass();
    let inst = v2_instance();
    let got = validate_frame(&frame, only(&inst, 51)).expect("keepalived's v2 advert validates");
    assert_eq!(got.src, v4(1));
    let a = &got.advert;
    assert_eq!((a.version, a.vrid, a.priority, a.interval), (2, 51, 100, 1));
    assert_eq!(a.auth, Auth::Simple(*b"aminglin"));
    assert_eq!(a.addrs, vec![v4(100), v4(101)]);
    // Same configuration, same bytes.
    let ours = Advert {
        checksum: 0,
        ..a.clone()
    }
    .encode(ChecksumScope::Message);
    assert_eq!(ours, frame[34..]);
}

#[test]
fn keepalived_v2_priority_zero_on_shutdown() {
    let frame = fixtures::v2_pass_prio0();
    let inst = v2_instance();
    let got = validate_frame(&frame, only(&inst, 51)).expect("priority 0 is valid");
    assert_eq!(got.advert.priority, 0);
}

#[test]
fn keepalived_v3_ipv4_advert_uses_the_pseudo_header() {
    let frame = fixtures::v3_ipv4();
    let inst = v3_v4_instance();
    let got = validate_frame(&frame, only(&inst, 52)).expect("keepalived's v3/IPv4 advert validates");
    let a = &got.advert;
    assert_eq!((a.version, a.vrid, a.priority, a.interval), (3, 52, 150, 50));
    assert_eq!(a.addrs, vec![v4(102)]);
    let scope = ChecksumScope::for_advert(3, KA_SRC4.into(), MCAST4.into(), false);
    assert_eq!(
        Advert {
            checksum: 0,
            ..a.clone()
        }
        .encode(scope),
        frame[34..]
    );
    // The same bytes under `v3_checksum_as_v2` are the other dialect.
    let as_v2 = RxInstance {
        v3_checksum_as_v2: true,
        ..inst
    };
    assert_eq!(
        validate_frame(&frame, only(&as_v2, 52)),
        Err(DecodeError::ChecksumDialect {
            vrid: 52,
            peer_uses_pseudo_header: true
        })
    );
    assert_eq!(
        DecodeError::ChecksumDialect {
            vrid: 52,
            peer_uses_pseudo_header: true
        }
        .stat(),
        stats::DROP_CHECKSUM_DIALECT
    );
}

#[test]
fn keepalived_v3_ipv4_priority_zero() {
    let frame = fixtures::v3_ipv4_prio0();
    let inst = v3_v4_instance();
    assert_eq!(
        validate_frame(&frame, only(&inst, 52)).unwrap().advert.priority,
        0
    );
}

#[test]
fn keepalived_v3_ipv6_advert() {
    let frame = fixtures::v3_ipv6();
    let inst = v3_v6_instance();
    let got = validate_frame(&frame, only(&inst, 53)).expect("keepalived's v3/IPv6 advert validates");
    assert_eq!(got.src, IpAddr::V6(ka_src6()));
    let a = &got.advert;
    assert_eq!((a.version, a.vrid, a.priority, a.interval), (3, 53, 200, 100));
    let want: Vec<IpAddr> = ["2001:db8::100", "2001:db8::101"]
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect();
    assert_eq!(a.addrs, want);
    assert!(inst.addrs.matches(&a.addrs));
    let scope = ChecksumScope::V6Pseudo {
        src: ka_src6(),
        dst: mcast6(),
    };
    assert_eq!(
        Advert {
            checksum: 0,
            ..a.clone()
        }
        .encode(scope),
        frame[54..]
    );
    let (eth, _) = EthernetHdr::decode(&frame).unwrap();
    assert_eq!(eth.dst, [0x33, 0x33, 0, 0, 0, 0x12]);
    let (ip, _) = Ipv6Hdr::decode(&frame[14..]).unwrap();
    assert_eq!((ip.src, ip.dst, ip.hop_limit), (ka_src6(), mcast6(), 255));
}

#[test]
fn keepalived_v3_ipv6_priority_zero() {
    let frame = fixtures::v3_ipv6_prio0();
    let inst = v3_v6_instance();
    assert_eq!(
        validate_frame(&frame, only(&inst, 53)).unwrap().advert.priority,
        0
    );
}

#[test]
fn ipv4_header_of_keepalived_roundtrips() {
    let frame = fixtures::v2_pass();
    let (ip, payload) = Ipv4Hdr::decode(&frame[14..]).unwrap();
    assert_eq!((ip.ttl, ip.protocol, ip.tos), (255, 112, 0xc0));
    let mut rebuilt = Ipv4Hdr::new(ip.src, ip.dst, ip.protocol, ip.ttl, payload.len());
    rebuilt.id = ip.id;
    assert_eq!(rebuilt.encode(), frame[14..34]);
}

// ---- one test per DecodeError variant ------------------------------------

fn v2_packet(mutate: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut frame = fixtures::v2_pass();
    mutate(&mut frame);
    frame
}

/// Recomputes the VRRP checksum after a mutation, so only the intended rule breaks.
fn fix_v2_checksum(frame: &mut [u8]) {
    frame[40..42].copy_from_slice(&[0, 0]);
    let ck = ChecksumScope::Message.compute(&frame[34..]);
    frame[40..42].copy_from_slice(&ck.to_be_bytes());
}

fn check(frame: &[u8]) -> Result<(), DecodeError> {
    let inst = v2_instance();
    validate_frame(frame, only(&inst, 51)).map(|_| ())
}

#[test]
fn error_truncated() {
    let frame = v2_packet(|_| {});
    assert!(matches!(
        check(&frame[..10]),
        Err(DecodeError::Truncated {
            what: "Ethernet header",
            ..
        })
    ));
    assert!(matches!(
        check(&frame[..30]),
        Err(DecodeError::Truncated {
            what: "IPv4 header",
            ..
        })
    ));
}

#[test]
fn error_ethertype() {
    let frame = v2_packet(|f| f[12..14].copy_from_slice(&[0x88, 0xcc]));
    assert_eq!(check(&frame), Err(DecodeError::EtherType { ethertype: 0x88cc }));
}

#[test]
fn error_ipv4_header_length() {
    let frame = v2_packet(|f| f[14] = 0x44);
    assert_eq!(check(&frame), Err(DecodeError::Ipv4HeaderLength { ihl: 4 }));
}

#[test]
fn error_ip_version() {
    let frame = v2_packet(|f| f[14] = 0x55);
    assert_eq!(check(&frame), Err(DecodeError::IpVersion { version: 5 }));
}

#[test]
fn error_ip_length() {
    let frame = v2_packet(|f| f[16..18].copy_from_slice(&200u16.to_be_bytes()));
    assert!(matches!(
        check(&frame),
        Err(DecodeError::IpLength { declared: 200, .. })
    ));
}

#[test]
fn ethernet_padding_after_ip_total_length_is_allowed() {
    let frame = v2_packet(|f| f.extend_from_slice(&[0; 16]));
    assert_eq!(check(&frame), Ok(()));
}

#[test]
fn error_fragment() {
    let frame = v2_packet(|f| f[20] = 0x20);
    assert_eq!(check(&frame), Err(DecodeError::Fragment));
}

#[test]
fn error_not_vrrp() {
    let frame = v2_packet(|f| {
        f[23] = 17;
        fix_ip_checksum(f);
    });
    assert_eq!(check(&frame), Err(DecodeError::NotVrrp { protocol: 17 }));
}

#[test]
fn error_ttl() {
    let frame = v2_packet(|f| {
        f[22] = 254;
        fix_ip_checksum(f);
    });
    assert_eq!(check(&frame), Err(DecodeError::Ttl { ttl: 254 }));
}

#[test]
fn error_version() {
    let frame = v2_packet(|f| {
        f[34] = 0x41;
        fix_v2_checksum(f);
    });
    assert_eq!(check(&frame), Err(DecodeError::Version { vrid: 51, version: 4 }));
    // A valid v3 advert for a VRID configured as v2 is a version mismatch too.
    let v3 = fixtures::v3_ipv4();
    let inst = v2_instance();
    assert_eq!(
        validate_frame(&v3, only(&inst, 52)),
        Err(DecodeError::Version { vrid: 52, version: 3 })
    );
}

#[test]
fn error_type() {
    let frame = v2_packet(|f| {
        f[34] = 0x22;
        fix_v2_checksum(f);
    });
    assert_eq!(
        check(&frame),
        Err(DecodeError::Type {
            vrid: 51,
            version: 2,
            kind: 2
        })
    );
}

#[test]
fn error_length_address_count_beyond_payload() {
    let frame = v2_packet(|f| {
        f[37] = 3;
        fix_v2_checksum(f);
    });
    assert_eq!(
        check(&frame),
        Err(DecodeError::Length {
            vrid: 51,
            version: 2,
            need: 28,
            got: 24
        })
    );
}

#[test]
fn error_v2_over_ipv6() {
    let mut msg = vec![0x21, 7, 100, 0, 0, 1, 0, 0];
    msg.extend_from_slice(&[0; 8]);
    assert_eq!(
        Advert::decode(&msg, Family::V6),
        Err(DecodeError::V2OverIpv6 { vrid: 7 })
    );
}

#[test]
fn error_checksum() {
    let frame = v2_packet(|f| f[41] ^= 0xff);
    assert!(matches!(
        check(&frame),
        Err(DecodeError::Checksum {
            vrid: 51,
            version: 2,
            ..
        })
    ));
    // IPv6 never accepts a checksum without the pseudo-header.
    let mut v6 = fixtures::v3_ipv6();
    v6[60..62].copy_from_slice(&[0, 0]);
    let plain = ChecksumScope::Message.compute(&v6[54..]);
    v6[60..62].copy_from_slice(&plain.to_be_bytes());
    let inst = v3_v6_instance();
    assert!(matches!(
        validate_frame(&v6, only(&inst, 53)),
        Err(DecodeError::Checksum { .. })
    ));
}

#[test]
fn error_vrid() {
    let frame = v2_packet(|_| {});
    let inst = v2_instance();
    assert_eq!(
        validate_frame(&frame, only(&inst, 52)),
        Err(DecodeError::Vrid { vrid: 51 })
    );
}

#[test]
fn error_auth_unsupported_ah() {
    let frame = v2_packet(|f| {
        f[38] = 2;
        fix_v2_checksum(f);
    });
    assert_eq!(
        check(&frame),
        Err(DecodeError::AuthUnsupported {
            vrid: 51,
            auth_type: 2
        })
    );
}

#[test]
fn error_auth_type() {
    let frame = v2_packet(|f| {
        f[38] = 0;
        fix_v2_checksum(f);
    });
    assert_eq!(
        check(&frame),
        Err(DecodeError::AuthType {
            vrid: 51,
            got: 0,
            want: 1
        })
    );
}

#[test]
fn error_auth_password() {
    let frame = v2_packet(|f| {
        let n = f.len();
        f[n - 1] = b'X';
        fix_v2_checksum(f);
    });
    assert_eq!(check(&frame), Err(DecodeError::AuthPassword { vrid: 51 }));
}

#[test]
fn error_interval_v2() {
    let frame = v2_packet(|f| {
        f[39] = 2;
        fix_v2_checksum(f);
    });
    assert_eq!(
        check(&frame),
        Err(DecodeError::Interval {
            vrid: 51,
            got: 2,
            want: 1
        })
    );
}

#[test]
fn v3_interval_difference_is_accepted_for_adoption() {
    let frame = fixtures::v3_ipv4();
    let inst = RxInstance {
        interval: 100,
        ..v3_v4_instance()
    };
    assert_eq!(
        validate_frame(&frame, only(&inst, 52)).unwrap().advert.interval,
        50
    );
}

#[test]
fn the_address_digest_is_the_list_compared_in_any_order() {
    let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
    let ours = [v4(100), v6("2001:db8::1"), v6("2001:db8:0:0:1::1")];
    let digest = AddrDigest::new(ours, 0x5eed);
    let mut reversed = ours;
    reversed.reverse();
    assert!(digest.matches(&ours) && digest.matches(&reversed));
    for other in [
        // The upper 8 bytes of an IPv6 address alone differ.
        vec![v4(100), v6("2001:db8::1"), v6("2001:db9:0:0:1::1")],
        // The lower 8 alone.
        vec![v4(100), v6("2001:db8::2"), v6("2001:db8:0:0:1::1")],
        // One twice, one missing; one fewer; one more; IPv4 against its IPv6 form.
        vec![v4(100), v6("2001:db8::1"), v6("2001:db8::1")],
        vec![v4(100), v6("2001:db8::1")],
        vec![v4(100), v6("2001:db8::1"), v6("2001:db8:0:0:1::1"), v4(101)],
        vec![
            v6("::ffff:192.0.2.100"),
            v6("2001:db8::1"),
            v6("2001:db8:0:0:1::1"),
        ],
    ] {
        assert!(!digest.matches(&other), "{other:?}");
    }
    // Another key, another sum: a list is compared under its instance's key.
    assert_ne!(AddrDigest::new(ours, 1).sum, digest.sum);
}

#[test]
fn address_list_mismatch_is_dropped_unless_skipped() {
    // keepalived 2.2.7: "received an unexpected ip number count", ignored.
    let frame = v2_packet(|_| {});
    let inst = RxInstance {
        addrs: AddrDigest::new(vec![v4(100)], 7),
        ..v2_instance()
    };
    assert_eq!(
        validate_frame(&frame, only(&inst, 51)),
        Err(DecodeError::AddrList {
            vrid: 51,
            got: 2,
            want: 1
        })
    );
    // Same count, another member: "not present in MASTER advert".
    let other = RxInstance {
        addrs: AddrDigest::new(vec![v4(100), v4(109)], 7),
        ..v2_instance()
    };
    assert_eq!(
        validate_frame(&frame, only(&other, 51)).unwrap_err().stat(),
        stats::DROP_ADDR_LIST
    );
    // The order does not matter.
    let reversed = RxInstance {
        addrs: AddrDigest::new(vec![v4(101), v4(100)], 7),
        ..v2_instance()
    };
    assert!(validate_frame(&frame, only(&reversed, 51)).is_ok());
    let skip = RxInstance {
        skip_addr_check: true,
        ..inst
    };
    assert!(validate_frame(&frame, only(&skip, 51)).is_ok());
}

/// The keepalived v2 capture re-addressed from 224.0.0.18 to 192.0.2.2 (a
/// unicast advert; the v2 checksum does not cover the IP header).
fn v2_unicast() -> Vec<u8> {
    let mut frame = fixtures::v2_pass();
    frame[30..34].copy_from_slice(&[192, 0, 2, 2]);
    frame[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    fix_ip_checksum(&mut frame);
    frame
}

fn fix_ip_checksum(frame: &mut [u8]) {
    frame[24..26].copy_from_slice(&[0, 0]);
    let ck = crate::vrrp::codec::checksum::checksum(&frame[14..34]);
    frame[24..26].copy_from_slice(&ck.to_be_bytes());
}

#[test]
fn adverts_to_another_group_or_kind_are_another_speakers() {
    let frame = fixtures::v2_pass();
    let other_group = RxInstance {
        group: Some(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 19))),
        ..v2_instance()
    };
    assert_eq!(
        validate_frame(&frame, only(&other_group, 51)).unwrap_err().stat(),
        stats::FOREIGN
    );
    let unicast = RxInstance {
        group: None,
        peers: thin_vec::thin_vec![RxPeer::any_ttl(v4(1))],
        ..v2_instance()
    };
    assert_eq!(
        validate_frame(&frame, only(&unicast, 51)).unwrap_err().stat(),
        stats::FOREIGN,
        "a unicast instance does not hear multicast adverts"
    );
    assert!(validate_frame(&v2_unicast(), only(&unicast, 51)).is_ok());
    assert_eq!(
        validate_frame(&frame, only(&v2_instance(), 52)),
        Err(DecodeError::Vrid { vrid: 51 })
    );
}

#[test]
fn corrupted_ipv4_header_and_interval_zero_are_dropped() {
    let mut frame = fixtures::v2_pass();
    frame[24] ^= 0x40;
    assert_eq!(
        validate_frame(&frame, only(&v2_instance(), 51)),
        Err(DecodeError::Ipv4HeaderChecksum)
    );
    let zero = v2_packet(|f| {
        f[39] = 0;
        fix_v2_checksum(f);
    });
    assert_eq!(
        validate_frame(&zero, only(&v2_instance(), 51))
            .unwrap_err()
            .stat(),
        stats::DROP_INTERVAL
    );
}

#[test]
fn unicast_instance_hears_only_its_peers() {
    // The keepalived capture comes from 192.0.2.1.
    let frame = v2_unicast();
    let peers_without = RxInstance {
        peers: thin_vec::thin_vec![RxPeer::any_ttl(v4(2)), RxPeer::any_ttl(v4(3))],
        group: None,
        ..v2_instance()
    };
    assert_eq!(
        validate_frame(&frame, only(&peers_without, 51)),
        Err(DecodeError::NotPeer { vrid: 51, src: v4(1) })
    );
    let peers_with = RxInstance {
        peers: thin_vec::thin_vec![RxPeer::any_ttl(v4(3)), RxPeer::any_ttl(v4(1))],
        group: None,
        ..v2_instance()
    };
    assert!(validate_frame(&frame, only(&peers_with, 51)).is_ok());
}

#[test]
fn unicast_peer_ttl_range_replaces_the_ttl_255_rule() {
    // keepalived accepts routed unicast peers: any TTL unless min_ttl / max_ttl say otherwise.
    let mut frame = fixtures::v2_pass();
    frame[22] = 62;
    fix_ip_checksum(&mut frame);
    assert_eq!(
        validate_frame(&frame, only(&v2_instance(), 51)),
        Err(DecodeError::Ttl { ttl: 62 }),
        "multicast: TTL 255 only (RFC 5798 7.1)"
    );
    let mut frame = v2_unicast();
    frame[22] = 62;
    fix_ip_checksum(&mut frame);
    let routed = RxInstance {
        peers: thin_vec::thin_vec![RxPeer::any_ttl(v4(1))],
        group: None,
        ..v2_instance()
    };
    assert!(validate_frame(&frame, only(&routed, 51)).is_ok());
    let near_only = RxInstance {
        peers: thin_vec::thin_vec![RxPeer {
            addr: v4(1),
            min_ttl: 250,
            max_ttl: 255,
        }],
        group: None,
        ..v2_instance()
    };
    assert_eq!(
        validate_frame(&frame, only(&near_only, 51)),
        Err(DecodeError::Ttl { ttl: 62 })
    );
}

#[test]
fn every_error_maps_to_a_counter_slot() {
    let slots = [
        DecodeError::Ttl { ttl: 1 }.stat(),
        DecodeError::Version { vrid: 1, version: 9 }.stat(),
        DecodeError::Type {
            vrid: 1,
            version: 2,
            kind: 3,
        }
        .stat(),
        DecodeError::Length {
            vrid: 1,
            version: 2,
            need: 9,
            got: 8,
        }
        .stat(),
        DecodeError::Checksum {
            vrid: 1,
            version: 2,
            got: 1,
            want: 2,
        }
        .stat(),
        DecodeError::Vrid { vrid: 1 }.stat(),
        DecodeError::NotPeer { vrid: 1, src: v4(9) }.stat(),
        DecodeError::AuthPassword { vrid: 1 }.stat(),
        DecodeError::Interval {
            vrid: 1,
            got: 1,
            want: 2,
        }
        .stat(),
    ];
    assert_eq!(
        slots,
        [
            stats::DROP_TTL,
            stats::DROP_VERSION,
            stats::DROP_TYPE,
            stats::DROP_LENGTH,
            stats::DROP_CHECKSUM,
            stats::FOREIGN,
            stats::DROP_NOT_PEER,
            stats::DROP_AUTH,
            stats::DROP_INTERVAL
        ]
    );
}

#[test]
fn gratuitous_arp_and_reply() {
    let mac = [2, 0, 0, 0, 0, 0xa];
    let garp = ArpPacket::gratuitous(mac, Ipv4Addr::new(192, 0, 2, 100));
    let bytes = garp.encode();
    assert_eq!(ArpPacket::decode(&bytes).unwrap(), garp);
    let req = ArpPacket {
        op: ArpPacket::OP_REQUEST,
        sha: [2, 0, 0, 0, 0, 0xb],
        spa: Ipv4Addr::new(192, 0, 2, 50),
        tha: [0; 6],
        tpa: Ipv4Addr::new(192, 0, 2, 100),
    };
    let reply = req.reply(mac);
    assert_eq!(
        (reply.op, reply.spa, reply.tpa, reply.tha),
        (2, req.tpa, req.spa, req.sha)
    );
}

#[test]
fn neighbor_advert_roundtrips_with_checksum() {
    let vip: Ipv6Addr = "2001:db8::100".parse().unwrap();
    let na = NeighborMessage::unsolicited_advert(vip, [0, 0, 0x5e, 0, 2, 53]);
    let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
    let bytes = na.encode(ka_src6(), all_nodes);
    assert_eq!(NeighborMessage::decode(&bytes, ka_src6(), all_nodes).unwrap(), na);
    let mut bad = bytes.clone();
    bad[10] ^= 1;
    assert!(matches!(
        NeighborMessage::decode(&bad, ka_src6(), all_nodes),
        Err(DecodeError::Checksum { .. })
    ));
}

// ---- properties ------------------------------------------------------------

fn arb_advert() -> impl Strategy<Value = (Advert, Family)> {
    (
        any::<bool>(),
        any::<u8>(),
        any::<u8>(),
        0u16..=0x0fff,
        proptest::collection::vec(any::<[u8; 16]>(), 0..8),
        any::<[u8; 8]>(),
        0u8..3,
    )
        .prop_map(|(v3, vrid, priority, interval, raw, pass, auth_kind)| {
            let family = if v3 && raw.len() % 2 == 0 {
                Family::V6
            } else {
                Family::V4
            };
            let addrs = raw
                .iter()
                .map(|r| match family {
                    Family::V4 => IpAddr::from([r[0], r[1], r[2], r[3]]),
                    Family::V6 => IpAddr::from(*r),
                })
                .collect();
            let (version, interval, auth) = if v3 {
                (3, interval, Auth::None)
            } else {
                let auth = match auth_kind {
                    0 => Auth::None,
                    1 => Auth::Simple(pass),
                    _ => Auth::Ah,
                };
                (2, interval & 0xff, auth)
            };
            (
                Advert {
                    version,
                    vrid,
                    priority,
                    interval,
                    auth,
                    checksum: 0,
                    addrs,
                },
                family,
            )
        })
}

proptest! {
    /// The digest says what comparing the sorted lists says (few distinct
    /// addresses: equal lists are common).
    #[test]
    fn the_digest_agrees_with_comparing_sorted_lists(
        ours in proptest::collection::vec(0u8..4, 0..5),
        theirs in proptest::collection::vec(0u8..4, 0..5),
        key in any::<u64>(),
    ) {
        let (mut a, mut b): (Vec<IpAddr>, Vec<IpAddr>) =
            (ours.into_iter().map(v4).collect(), theirs.into_iter().map(v4).collect());
        let digest = AddrDigest::new(a.iter().copied(), key);
        let matches = digest.matches(&b);
        a.sort_unstable();
        b.sort_unstable();
        prop_assert_eq!(matches, a == b);
    }

    #[test]
    fn encode_then_decode_is_identity((advert, family) in arb_advert()) {
        let bytes = advert.encode(ChecksumScope::Message);
        let back = Advert::decode(&bytes, family).unwrap();
        prop_assert_eq!(ChecksumScope::Message.compute(&bytes), 0);
        prop_assert_eq!(Advert { checksum: 0, ..back }, Advert { auth: match advert.auth { Auth::None if advert.version == 2 => Auth::None, a => a }, ..advert });
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let inst = v2_instance();
        let _ = validate_frame(&bytes, only(&inst, 51));
        let _ = validate_ip(&bytes, only(&inst, 51));
        let meta = IpMeta { src: v4(1), dst: IpAddr::V4(MCAST4), ttl: 255 };
        let _ = validate_vrrp(&meta, &bytes, only(&inst, 51));
        let _ = Advert::decode(&bytes, Family::V6);
        let _ = ArpPacket::decode(&bytes);
        let _ = NeighborMessage::decode(&bytes, ka_src6(), mcast6());
    }

    #[test]
    fn every_truncation_of_a_valid_frame_is_rejected(cut in 0usize..58) {
        let frame = fixtures::v2_pass();
        prop_assert!(check(&frame[..cut]).is_err());
    }
}

#[test]
fn a_packet_that_is_not_vrrp_is_not_judged_by_its_header_checksum() {
    // Found by the differential fuzzer: the kernel programs look at the
    // protocol before anything else, so userspace must too.
    let mut frame = fixtures::v2_pass();
    frame[23] = 0;
    frame[24] ^= 0x40;
    assert_eq!(check(&frame), Err(DecodeError::NotVrrp { protocol: 0 }));
}
