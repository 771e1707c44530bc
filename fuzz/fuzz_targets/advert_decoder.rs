//! Arbitrary bytes through the advert decoder and the receive validation: never a panic,
//! and whatever decodes re-encodes to a message that decodes to the same advert.

#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use xvrrpd::vrrp::{
    codec::{Advert, Auth, ChecksumScope, Family},
    validate::{AddrDigest, IpMeta, RxInstance, validate_frame, validate_ip, validate_vrrp},
};

fuzz_target!(|data: &[u8]| {
    let inst = RxInstance {
        version: 2,
        auth: Auth::simple("secret"),
        interval: 1,
        addrs: AddrDigest::new(vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100))], 7),
        v3_checksum_as_v2: false,
        peers: Default::default(),
        group: RxInstance::rfc_group(false),
        skip_addr_check: false,
    };
    let lookup = |vrid: u8| (vrid == 51).then_some(&inst);
    let _ = validate_frame(data, lookup);
    let _ = validate_ip(data, lookup);
    let meta = IpMeta { src: Ipv4Addr::new(192, 0, 2, 1).into(), dst: Ipv4Addr::new(224, 0, 0, 18).into(), ttl: 255 };
    let _ = validate_vrrp(&meta, data, lookup);
    for family in [Family::V4, Family::V6] {
        if let Ok(advert) = Advert::decode(data, family) {
            let bytes = advert.encode(ChecksumScope::Message);
            let again = Advert::decode(&bytes, family).expect("our encoding decodes");
            assert_eq!(Advert { checksum: 0, ..again }, Advert { checksum: 0, ..advert }, "round trip");
        }
    }
});
