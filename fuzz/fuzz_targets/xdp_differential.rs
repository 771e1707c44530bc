//! Differential: the same bytes through the XDP program (BPF_PROG_TEST_RUN) and
//! the userspace validator must get the same verdict (the counter slot they
//! count it under) and, for an accepted advert, record the same master,
//! priority and interval. Needs root and a kernel that loads the program.

#![no_main]

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::{Mutex, OnceLock},
};

use aya::programs::{TestRun as _, TestRunOptions};
use libfuzzer_sys::fuzz_target;
use xvrrp_common::stats;
use xvrrpd::{
    datapath::{Datapath, addr_bytes, instance_key},
    vrrp::{
        codec::Auth,
        validate::{RxInstance, RxPeer, validate_frame},
    },
};

/// BPF_PROG_TEST_RUN runs XDP as if on the loopback device.
const IFINDEX: u32 = 1;
fn instances() -> Vec<(u8, bool, RxInstance)> {
    let v4 = |a: u8| IpAddr::V4(Ipv4Addr::new(192, 0, 2, a));
    vec![
        (51, false, RxInstance { version: 2, auth: Auth::simple("aminglin"), interval: 1, vips: vec![v4(100), v4(101)], v3_checksum_as_v2: false, peers: vec![], group: RxInstance::rfc_group(false), skip_addr_check: false }),
        (52, false, RxInstance { version: 3, auth: Auth::None, interval: 50, vips: vec![v4(102)], v3_checksum_as_v2: false, peers: vec![], group: RxInstance::rfc_group(false), skip_addr_check: false }),
        (53, true, RxInstance { version: 3, auth: Auth::None, interval: 100, vips: vec!["2001:db8::100".parse().unwrap(), "2001:db8::101".parse().unwrap()], v3_checksum_as_v2: false, peers: vec![], group: RxInstance::rfc_group(true), skip_addr_check: false }),
        (54, false, RxInstance { version: 3, auth: Auth::None, interval: 100, vips: vec![v4(104)], v3_checksum_as_v2: true, peers: vec![], group: RxInstance::rfc_group(false), skip_addr_check: false }),
        // Unicast instances: only their peers may send.
        (55, false, RxInstance { version: 3, auth: Auth::None, interval: 100, vips: vec![v4(105)], v3_checksum_as_v2: false, peers: vec![RxPeer::any_ttl(v4(1)), RxPeer { addr: v4(7), min_ttl: 250, max_ttl: 255 }], group: None, skip_addr_check: false }),
        (56, true, RxInstance { version: 3, auth: Auth::None, interval: 100, vips: vec!["2001:db8::106".parse().unwrap()], v3_checksum_as_v2: false, peers: vec![RxPeer::any_ttl("fe80::ff:fe00:a".parse().unwrap())], group: None, skip_addr_check: false }),
        // skip_check_adv_addr: any address list.
        (57, false, RxInstance { version: 3, auth: Auth::None, interval: 100, vips: vec![v4(107)], v3_checksum_as_v2: false, peers: vec![], group: RxInstance::rfc_group(false), skip_addr_check: true }),
    ]
}

static DATAPATH: OnceLock<Mutex<Datapath>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    // The kernel refuses shorter input; it sums at most an MTU's worth.
    if data.len() < 14 || data.len() > 1500 {
        return;
    }
    let insts = instances();
    let dp = DATAPATH.get_or_init(|| {
        let mut dp = Datapath::load().expect("load the XDP program (needs root)");
        for (vrid, v6, rx) in &insts {
            dp.set_instance(instance_key(IFINDEX, *v6, *vrid), rx).unwrap();
        }
        Mutex::new(dp)
    });
    let mut dp = dp.lock().unwrap();
    let before = dp.counters().unwrap();
    let mut out = vec![0u8; data.len() + 256];
    let opts = TestRunOptions { data_in: Some(data), data_out: Some(&mut out), ..TestRunOptions::default() };
    dp.program().unwrap().test_run(opts).expect("BPF_PROG_TEST_RUN");
    let after = dp.counters().unwrap();
    let moved: Vec<u32> = stats::VERDICTS.iter().copied().filter(|&s| after[s as usize] != before[s as usize]).collect();
    if moved.is_empty() {
        return; // not VRRP as far as the program can tell: the stack's business
    }
    // VRIDs are per family: a v4 lookup must not find the v6 instance and vice versa.
    let v6 = matches!(data.get(12..14), Some([0x86, 0xdd]));
    let user = validate_frame(data, |vrid| insts.iter().find(|i| i.0 == vrid && i.1 == v6).map(|i| &i.2));
    let verdict = user.as_ref().map_or_else(|e| e.stat(), |_| stats::ADVERTS_RX);
    assert_eq!(moved, vec![verdict], "kernel and userspace disagree");
    if let Ok(acc) = user {
        let key = instance_key(IFINDEX, v6, acc.advert.vrid);
        let st = dp.advert_state(key).unwrap().expect("the kernel recorded the advert it accepted");
        assert_eq!(st.master, addr_bytes(acc.src), "recorded master");
        assert_eq!(st.priority, acc.advert.priority, "recorded priority");
        assert_eq!(st.interval, acc.advert.interval, "recorded interval");
    }
});
