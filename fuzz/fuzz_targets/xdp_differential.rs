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
use xvrrp_common::{maps::InstanceKey, stats};
use xvrrpd::{
    datapath::{Datapath, addr_bytes},
    vrrp::{
        codec::{Auth, DecodeError},
        validate::{AddrDigest, RxInstance, RxPeer, validate_frame},
    },
};

/// BPF_PROG_TEST_RUN runs XDP as if on the loopback device.
const IFINDEX: u32 = 1;
fn instances() -> Vec<(u8, bool, RxInstance)> {
    let v4 = |a: u8| IpAddr::V4(Ipv4Addr::new(192, 0, 2, a));
    vec![
        (51, false, RxInstance { version: 2, auth: Auth::simple("aminglin"), interval: 1, addrs: AddrDigest::new(vec![v4(100), v4(101)], 7), v3_checksum_as_v2: false, peers: Default::default(), group: RxInstance::rfc_group(false), skip_addr_check: false }),
        (52, false, RxInstance { version: 3, auth: Auth::None, interval: 50, addrs: AddrDigest::new(vec![v4(102)], 7), v3_checksum_as_v2: false, peers: Default::default(), group: RxInstance::rfc_group(false), skip_addr_check: false }),
        (53, true, RxInstance { version: 3, auth: Auth::None, interval: 100, addrs: AddrDigest::new(vec!["2001:db8::100".parse().unwrap(), "2001:db8::101".parse().unwrap()], 7), v3_checksum_as_v2: false, peers: Default::default(), group: RxInstance::rfc_group(true), skip_addr_check: false }),
        (54, false, RxInstance { version: 3, auth: Auth::None, interval: 100, addrs: AddrDigest::new(vec![v4(104)], 7), v3_checksum_as_v2: true, peers: Default::default(), group: RxInstance::rfc_group(false), skip_addr_check: false }),
        // Unicast instances: only their peers may send.
        (55, false, RxInstance { version: 3, auth: Auth::None, interval: 100, addrs: AddrDigest::new(vec![v4(105)], 7), v3_checksum_as_v2: false, peers: vec![RxPeer::any_ttl(v4(1)), RxPeer { addr: v4(7), min_ttl: 250, max_ttl: 255 }].into(), group: None, skip_addr_check: false }),
        (56, true, RxInstance { version: 3, auth: Auth::None, interval: 100, addrs: AddrDigest::new(vec!["2001:db8::106".parse().unwrap()], 7), v3_checksum_as_v2: false, peers: vec![RxPeer::any_ttl("fe80::ff:fe00:a".parse().unwrap())].into(), group: None, skip_addr_check: false }),
        // skip_check_adv_addr: any address list.
        (57, false, RxInstance { version: 3, auth: Auth::None, interval: 100, addrs: AddrDigest::new(vec![v4(107)], 7), v3_checksum_as_v2: false, peers: Default::default(), group: RxInstance::rfc_group(false), skip_addr_check: true }),
    ]
}

/// Two data paths with the same instances: one validates adverts in XDP,
/// the other in the TC classifier (its interface flagged so XDP hands them on).
static DATAPATHS: OnceLock<Mutex<(Datapath, Datapath)>> = OnceLock::new();

/// Runs `data` through one program; returns the verdict slots that moved.
fn verdicts(dp: &mut Datapath, data: &[u8], tc: bool) -> Option<Vec<u32>> {
    let before = dp.counters().unwrap();
    let mut out = vec![0u8; data.len() + 256];
    let opts = TestRunOptions { data_in: Some(data), data_out: Some(&mut out), ..TestRunOptions::default() };
    if tc {
        // The skb harness refuses some frames (e.g. a cut IPv4 header): nothing to compare.
        dp.tc_program().unwrap().test_run(opts).ok()?;
    } else {
        dp.program().unwrap().test_run(opts).expect("BPF_PROG_TEST_RUN");
    }
    let after = dp.counters().unwrap();
    Some(stats::verdicts().filter(|&s| after[s as usize] != before[s as usize]).collect())
}

fuzz_target!(|data: &[u8]| {
    // The kernel refuses shorter input; frames past the 1500-byte rule are in.
    if data.len() < 14 || data.len() > 3000 {
        return;
    }
    let insts = instances();
    let dps = DATAPATHS.get_or_init(|| {
        let load = || {
            let mut dp = Datapath::load().expect("load the XDP program (needs root)");
            for (vrid, v6, rx) in &insts {
                dp.set_instance(InstanceKey::new(IFINDEX, *v6, *vrid), rx).unwrap();
            }
            dp
        };
        let xdp = load();
        let mut tc = load();
        tc.set_iface_flags(IFINDEX, xvrrp_common::maps::IFACE_ADVERTS_IN_TC).unwrap();
        Mutex::new((xdp, tc))
    });
    let mut dps = dps.lock().unwrap();
    // VRIDs are per family: a v4 lookup must not find the v6 instance and vice versa.
    let v6 = matches!(data.get(12..14), Some([0x86, 0xdd]))
        || (matches!(data.get(12..14), Some([0x81, 0x00])) && matches!(data.get(16..18), Some([0x86, 0xdd])));
    let user = validate_frame(data, |vrid| insts.iter().find(|i| i.0 == vrid && i.1 == v6).map(|i| &i.2));
    let verdict = match &user {
        Ok(_) => Some(stats::ADVERTS_RX),
        Err(DecodeError::Tagged { .. }) => None,
        Err(e) => Some(e.stat()),
    };
    let (xdp, tc) = &mut *dps;
    for (name, dp, is_tc) in [("xdp", xdp, false), ("tc", tc, true)] {
        let Some(moved) = verdicts(dp, data, is_tc) else { continue };
        if moved.is_empty() && verdict.is_none_or(|v| v == stats::DROP_TYPE || v == stats::DROP_LENGTH) {
            continue; // not VRRP as far as the program can tell: the stack's business
        }
        assert_eq!(moved, verdict.into_iter().collect::<Vec<_>>(), "{name}: kernel and userspace disagree");
        if let Ok(acc) = &user {
            let key = InstanceKey::new(IFINDEX, v6, acc.advert.vrid);
            let st = dp.advert_state(key).unwrap().expect("the kernel recorded the advert it accepted");
            assert_eq!(st.master, addr_bytes(acc.src), "{name}: recorded master");
            assert_eq!(st.priority, acc.advert.priority, "{name}: recorded priority");
            assert_eq!(st.interval, acc.advert.interval, "{name}: recorded interval");
        }
    }
});
