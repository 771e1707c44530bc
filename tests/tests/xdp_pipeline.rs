//! The XDP pipeline end to end: the embedded program loads, runs under
//! BPF_PROG_TEST_RUN, attaches natively to a veth in a namespace, and its
//! counters read back exactly what a peer sent.

use std::{
    thread,
    time::{Duration, Instant},
};

use aya::programs::{TestRun as _, TestRunOptions, XdpMode};
use xvrrp_common::{maps, stats};
use xvrrp_tests::{frames, have_root, netns::Pair};
use xvrrpd::datapath::Datapath;

const XDP_PASS: u32 = 2;

fn run_once(dp: &mut Datapath, frame: &[u8]) -> u32 {
    let mut out = vec![0u8; frame.len() + 256];
    let opts = TestRunOptions {
        data_in: Some(frame),
        data_out: Some(&mut out),
        ..TestRunOptions::default()
    };
    dp.program()
        .unwrap()
        .test_run(opts)
        .expect("BPF_PROG_TEST_RUN")
        .return_value
}

#[test]
fn object_defines_every_common_map() {
    if !have_root("object_defines_every_common_map") {
        return;
    }
    let dp = Datapath::load().expect("load");
    let names = dp.map_names();
    for want in maps::ALL {
        assert!(
            names.iter().any(|n| n == want),
            "map {want} missing; object has {names:?}"
        );
    }
}

#[test]
fn test_run_counts_vrrp_and_passes_other_traffic() {
    if !have_root("test_run_counts_vrrp_and_passes_other_traffic") {
        return;
    }
    let mut dp = Datapath::load().expect("load");
    let advert = frames::vrrp_v2_advert([2, 0, 0, 0, 0, 1], [192, 0, 2, 1], 51, 100, [192, 0, 2, 100]);
    let udp = frames::udp_frame([192, 0, 2, 1], [192, 0, 2, 2]);

    assert_eq!(
        run_once(&mut dp, &advert),
        XDP_PASS,
        "VRRP for an unconfigured VRID is another speaker's: passed to the stack"
    );
    assert_eq!(run_once(&mut dp, &udp), XDP_PASS);
    assert_eq!(
        run_once(&mut dp, &advert[..20]),
        XDP_PASS,
        "a truncated frame passes to the stack"
    );

    let c = dp.counters().unwrap();
    assert_eq!(
        c[stats::VRRP_SEEN as usize],
        1,
        "one VRRP frame counted, UDP and runt not"
    );
    assert_eq!(c[stats::FOREIGN as usize], 1, "counted as another speaker's");
    println!("test_run: ran the XDP program on 3 fixture frames; vrrp_seen = 1");
}

#[test]
fn veth_native_xdp_counts_peer_adverts() {
    if !have_root("veth_native_xdp_counts_peer_adverts") {
        return;
    }
    const SENT: u64 = 100;
    let pair = Pair::new();
    let mut dp = Datapath::load().expect("load");
    {
        let _in_b = pair.b.enter();
        dp.attach("veth0", XdpMode::Driver).expect("native XDP on veth");
    }
    let src_mac = pair.a.mac("veth0");
    {
        let _in_a = pair.a.enter();
        let tx = frames::PacketSocket::open("veth0").expect("AF_PACKET socket");
        let advert = frames::vrrp_v2_advert(src_mac, [192, 0, 2, 1], 51, 100, [192, 0, 2, 100]);
        for _ in 0..SENT {
            tx.send(&advert).expect("send advert");
        }
    }
    // Delivery across the veth is asynchronous: wait (bounded) for the count to settle.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = 0;
    while Instant::now() < deadline {
        seen = dp.counters().unwrap()[stats::VRRP_SEEN as usize];
        if seen >= SENT {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(100));
    let seen_after = dp.counters().unwrap()[stats::VRRP_SEEN as usize];
    assert_eq!(
        seen,
        SENT,
        "XDP on {}/veth0 counted {seen} of {SENT} adverts",
        pair.b.name()
    );
    assert_eq!(seen_after, SENT, "no VRRP frames beyond the ones sent");
    println!(
        "netns: native XDP on {}/veth0 counted {seen} of {SENT} adverts sent from {}",
        pair.b.name(),
        pair.a.name()
    );
}
