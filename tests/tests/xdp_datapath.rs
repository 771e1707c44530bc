//! The XDP data path: advert validation agrees with the userspace validator on
//! every case of one shared table, ARP and Neighbor Solicitations for active
//! VIPs are answered in XDP, and on a real veth 1000 adverts wake userspace once.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    thread,
    time::{Duration, Instant},
};

use aya::programs::{TestRun as _, TestRunOptions, XdpMode};
use xvrrp_common::maps::InstanceKey;
use xvrrp_common::{
    maps::{AdvertEvent, EV_DOWN_TIMER, EV_FIRST},
    stats,
};
use xvrrp_tests::{cases, frames::udp_frame, have_root, netns::Pair};
use xvrrpd::{
    datapath::Datapath,
    vrrp::{
        codec::{
            DecodeError,
            arp::ArpPacket,
            ethernet::{EthernetHdr, virtual_mac_v4, virtual_mac_v6},
            ip::Ipv6Hdr,
            ndp::{IPPROTO_ICMPV6, NeighborMessage},
        },
        validate::validate_frame,
    },
};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;
/// BPF_PROG_TEST_RUN runs XDP programs as if received on the loopback device.
const TEST_RUN_IFINDEX: u32 = 1;

/// Runs the program once; returns the action and the frame as it left.
fn run(dp: &mut Datapath, frame: &[u8]) -> (u32, Vec<u8>) {
    let mut out = vec![0u8; frame.len() + 256];
    let opts = TestRunOptions {
        data_in: Some(frame),
        data_out: Some(&mut out),
        ..TestRunOptions::default()
    };
    let res = dp.program().unwrap().test_run(opts).expect("BPF_PROG_TEST_RUN");
    out.truncate(res.data_size_out as usize);
    (res.return_value, out)
}

/// The verdict slots whose counters moved since `before`.
fn moved_verdicts(dp: &Datapath, before: &[u64]) -> Vec<u32> {
    let after = dp.counters().unwrap();
    stats::verdicts()
        .filter(|&s| after[s as usize] != before[s as usize])
        .collect()
}

/// The verdict slots that moved since `before` are exactly the case's.
fn assert_counted(dp: &Datapath, before: &[u64], case: &cases::Case, program: &str) {
    let moved = moved_verdicts(dp, before);
    assert_eq!(
        moved,
        case.verdict.into_iter().collect::<Vec<_>>(),
        "{}: {program} counted under slots {moved:?}",
        case.name
    );
}

fn configured() -> Datapath {
    let mut dp = Datapath::load().expect("load");
    // BPF_PROG_TEST_RUN returns XDP_TX frames to the caller: answering in
    // XDP is what is under test here.
    dp.answer_in_xdp(TEST_RUN_IFINDEX);
    for (vrid, v6, rx) in cases::instances() {
        dp.set_instance(InstanceKey::new(TEST_RUN_IFINDEX, v6, vrid), &rx)
            .unwrap();
    }
    dp
}

#[test]
fn kernel_and_userspace_agree_on_every_case() {
    if !have_root("kernel_and_userspace_agree_on_every_case") {
        return;
    }
    let mut dp = configured();
    let instances = cases::instances();
    let table = cases::cases();
    for case in &table {
        let before = dp.counters().unwrap();
        let (action, out) = run(&mut dp, &case.frame);
        assert_counted(&dp, &before, case, "XDP");
        match case.verdict {
            // Another speaker's advert, or a tagged frame: the stack gets it as it came.
            None => assert_eq!(
                (action, &out),
                (XDP_PASS, &case.frame),
                "{}: passed untouched",
                case.name
            ),
            Some(v) if stats::passed(v) => {
                assert_eq!(
                    (action, &out),
                    (XDP_PASS, &case.frame),
                    "{}: passed untouched",
                    case.name
                );
            }
            Some(_) => assert_eq!(action, XDP_DROP, "{}: ours: consumed or dropped", case.name),
        }
        let user = match validate_frame(&case.frame, |vrid| {
            instances.iter().find(|i| i.0 == vrid).map(|i| &i.2)
        }) {
            Ok(_) => Some(stats::ADVERTS_RX),
            Err(DecodeError::Tagged { .. }) => None,
            Err(e) => Some(e.stat()),
        };
        assert_eq!(user, case.verdict, "{}: userspace validator disagrees", case.name);
    }
    println!(
        "test_run: {} frames, kernel and userspace verdicts agree on all",
        table.len()
    );
}

/// The TC advert classifier (the default advert path) reaches the same
/// verdict and action as the XDP program on every case of the table.
#[test]
fn tc_classifier_agrees_on_every_case() {
    if !have_root("tc_classifier_agrees_on_every_case") {
        return;
    }
    const TC_ACT_OK: u32 = 0;
    const TC_ACT_SHOT: u32 = 2;
    let mut dp = configured();
    dp.set_iface_flags(TEST_RUN_IFINDEX, xvrrp_common::maps::IFACE_ADVERTS_IN_TC)
        .unwrap();
    // With the interface's adverts in TC, XDP hands every advert on untouched.
    let (action, _) = run(&mut dp, &cases::keepalived_v2());
    assert_eq!(action, XDP_PASS, "XDP passes adverts to the TC classifier");
    let table = cases::cases();
    let mut skipped = 0;
    for case in &table {
        let before = dp.counters().unwrap();
        let mut out = vec![0u8; case.frame.len() + 256];
        let opts = TestRunOptions {
            data_in: Some(&case.frame),
            data_out: Some(&mut out),
            ..TestRunOptions::default()
        };
        let res = match dp.tc_program().unwrap().test_run(opts) {
            Ok(res) => res,
            // The skb test harness will not build a packet whose IPv4 header
            // is cut short (the XDP table covers those frames).
            Err(_) if case.frame.len() < 34 => {
                skipped += 1;
                continue;
            }
            Err(e) => panic!("{}: BPF_PROG_TEST_RUN (TC): {e:?}", case.name),
        };
        assert_counted(&dp, &before, case, "TC");
        let want = match case.verdict {
            None => TC_ACT_OK,
            Some(v) if stats::passed(v) => TC_ACT_OK,
            Some(_) => TC_ACT_SHOT,
        };
        assert_eq!(res.return_value, want, "{}: TC action", case.name);
    }
    assert!(skipped <= 1, "{skipped} frames refused by the harness");
    println!(
        "test_run (TC): {} frames ({skipped} the harness refuses), same verdicts as XDP and userspace",
        table.len()
    );
}

fn arp_request(vip: Ipv4Addr) -> (Vec<u8>, ArpPacket) {
    let asker = [2, 0, 0, 0, 0, 0x42];
    let req = ArpPacket {
        op: ArpPacket::OP_REQUEST,
        sha: asker,
        spa: Ipv4Addr::new(192, 0, 2, 50),
        tha: [0; 6],
        tpa: vip,
    };
    let mut frame = EthernetHdr {
        dst: [0xff; 6],
        src: asker,
        vlan: None,
        ethertype: 0x0806,
    }
    .encode();
    frame.extend_from_slice(&req.encode());
    (frame, req)
}

#[test]
fn xdp_answers_arp_for_active_vips_only() {
    if !have_root("xdp_answers_arp_for_active_vips_only") {
        return;
    }
    let mut dp = configured();
    let vip = Ipv4Addr::new(192, 0, 2, 100);
    let (frame, req) = arp_request(vip);
    let (action, out) = run(&mut dp, &frame);
    assert_eq!((action, &out), (XDP_PASS, &frame), "inactive VIP: untouched");

    let vmac = virtual_mac_v4(51);
    dp.set_vip(TEST_RUN_IFINDEX, IpAddr::V4(vip), vmac, 51, true)
        .unwrap();
    let (action, out) = run(&mut dp, &frame);
    assert_eq!(action, XDP_TX);
    let mut want = EthernetHdr {
        dst: req.sha,
        src: vmac,
        vlan: None,
        ethertype: 0x0806,
    }
    .encode();
    want.extend_from_slice(&req.reply(vmac).encode());
    assert_eq!(
        out, want,
        "the reply: from the virtual MAC, VIP is-at virtual MAC"
    );
    assert_eq!(dp.counters().unwrap()[stats::ARP_REPLIES as usize], 1);

    let (other, _) = arp_request(Ipv4Addr::new(192, 0, 2, 7));
    assert_eq!(run(&mut dp, &other).0, XDP_PASS, "other addresses pass");
    dp.remove_vip(TEST_RUN_IFINDEX, IpAddr::V4(vip)).unwrap();
    assert_eq!(run(&mut dp, &frame).0, XDP_PASS, "deactivated VIP passes again");
}

#[test]
fn no_accept_vip_drops_what_is_addressed_to_it_and_still_answers_arp() {
    if !have_root("no_accept_vip_drops_what_is_addressed_to_it_and_still_answers_arp") {
        return;
    }
    let mut dp = configured();
    let vip = Ipv4Addr::new(192, 0, 2, 100);
    let to_vip = udp_frame([192, 0, 2, 50], vip.octets());
    let to_other = udp_frame([192, 0, 2, 50], [192, 0, 2, 7]);
    let dropped = |dp: &Datapath| dp.counters().unwrap()[stats::DROP_NO_ACCEPT as usize];

    // Accept_Mode (keepalived's default): the VIP's traffic reaches the stack.
    dp.set_vip(TEST_RUN_IFINDEX, IpAddr::V4(vip), virtual_mac_v4(51), 51, true)
        .unwrap();
    assert_eq!(run(&mut dp, &to_vip).0, XDP_PASS, "accept: passes");

    // no_accept (RFC 5798 6.4.3): dropped and counted; ARP still answered.
    dp.set_vip(TEST_RUN_IFINDEX, IpAddr::V4(vip), virtual_mac_v4(51), 51, false)
        .unwrap();
    assert_eq!(run(&mut dp, &to_vip).0, XDP_DROP, "no_accept: dropped");
    assert_eq!(dropped(&dp), 1);
    assert_eq!(run(&mut dp, &to_other).0, XDP_PASS, "other addresses pass");
    assert_eq!(run(&mut dp, &arp_request(vip).0).0, XDP_TX, "ARP still answered");

    // The same for an IPv6 VIP (ICMPv6 that is not a solicitation included).
    let vip6: Ipv6Addr = "2001:db8::100".parse().unwrap();
    dp.set_vip(TEST_RUN_IFINDEX, IpAddr::V6(vip6), virtual_mac_v6(53), 53, false)
        .unwrap();
    let echo = [128u8, 0, 0, 0, 0, 1, 0, 1];
    let mut ping6 = EthernetHdr {
        dst: [2, 0, 0, 0, 0, 2],
        src: [2, 0, 0, 0, 0, 0x50],
        vlan: None,
        ethertype: 0x86dd,
    }
    .encode();
    ping6.extend_from_slice(
        &Ipv6Hdr::new(
            "2001:db8::50".parse().unwrap(),
            vip6,
            IPPROTO_ICMPV6,
            64,
            echo.len(),
        )
        .encode(),
    );
    ping6.extend_from_slice(&echo);
    assert_eq!(run(&mut dp, &ping6).0, XDP_DROP, "ICMPv6 echo to a no_accept VIP");
    assert_eq!(dropped(&dp), 2);
    let mut nd = ping6.clone();
    nd[14 + 40] = 136; // a Neighbor Advertisement to the VIP
    assert_eq!(run(&mut dp, &nd).0, XDP_PASS, "Neighbor Discovery passes");

    // Removing the VIPs lifts the guard.
    dp.remove_vip(TEST_RUN_IFINDEX, IpAddr::V4(vip)).unwrap();
    dp.remove_vip(TEST_RUN_IFINDEX, IpAddr::V6(vip6)).unwrap();
    assert_eq!(run(&mut dp, &to_vip).0, XDP_PASS);
    assert_eq!(run(&mut dp, &ping6).0, XDP_PASS);
}

#[test]
fn xdp_answers_neighbor_solicitations_for_active_vips() {
    if !have_root("xdp_answers_neighbor_solicitations_for_active_vips") {
        return;
    }
    let mut dp = configured();
    let vip: Ipv6Addr = "2001:db8::100".parse().unwrap();
    let asker: Ipv6Addr = "2001:db8::50".parse().unwrap();
    let asker_mac = [2, 0, 0, 0, 0, 0x50];
    let solicited: Ipv6Addr = "ff02::1:ff00:100".parse().unwrap();
    let ns = NeighborMessage {
        kind: NeighborMessage::SOLICIT,
        flags: 0,
        target: vip,
        lladdr: Some(asker_mac),
    };
    let icmp = ns.encode(asker, solicited);
    let mut frame = EthernetHdr {
        dst: [0x33, 0x33, 0xff, 0, 1, 0],
        src: asker_mac,
        vlan: None,
        ethertype: 0x86dd,
    }
    .encode();
    frame.extend_from_slice(&Ipv6Hdr::new(asker, solicited, IPPROTO_ICMPV6, 255, icmp.len()).encode());
    frame.extend_from_slice(&icmp);
    assert_eq!(
        run(&mut dp, &frame).0,
        XDP_PASS,
        "inactive VIP: the stack answers, or nobody"
    );

    let vmac = virtual_mac_v6(53);
    dp.set_vip(TEST_RUN_IFINDEX, IpAddr::V6(vip), vmac, 53, true)
        .unwrap();
    let (action, out) = run(&mut dp, &frame);
    assert_eq!(action, XDP_TX);
    let (eth, ip_bytes) = EthernetHdr::decode(&out).unwrap();
    assert_eq!((eth.dst, eth.src), (asker_mac, vmac));
    let (ip, payload) = Ipv6Hdr::decode(ip_bytes).unwrap();
    assert_eq!((ip.src, ip.dst, ip.hop_limit), (vip, asker, 255));
    let na = NeighborMessage::decode(payload, ip.src, ip.dst).expect("NA with a correct ICMPv6 checksum");
    assert_eq!(na.kind, NeighborMessage::ADVERT);
    assert_eq!(na.target, vip);
    assert_eq!(na.lladdr, Some(vmac));
    assert_ne!(na.flags & NeighborMessage::FLAG_SOLICITED, 0);
    assert_ne!(na.flags & NeighborMessage::FLAG_OVERRIDE, 0);
    assert_eq!(dp.counters().unwrap()[stats::NA_REPLIES as usize], 1);
}

#[test]
fn thousand_adverts_on_a_veth_wake_userspace_once() {
    if !have_root("thousand_adverts_on_a_veth_wake_userspace_once") {
        return;
    }
    const SENT: u64 = 1000;
    let pair = Pair::new();
    let mut dp = Datapath::load().expect("load");
    let ifindex = pair.b.ifindex("veth0");
    let (vrid, v6, rx) = cases::instances().remove(0);
    let key = InstanceKey::new(ifindex, v6, vrid);
    dp.set_instance(key, &rx).unwrap();
    {
        let _in_b = pair.b.enter();
        dp.attach("veth0", XdpMode::Driver).expect("native XDP on veth");
    }
    {
        let _in_a = pair.a.enter();
        let tx = xvrrp_tests::frames::PacketSocket::open("veth0").expect("AF_PACKET socket");
        let advert = cases::keepalived_v2();
        for _ in 0..SENT {
            tx.send(&advert).expect("send advert");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut count = 0;
    while Instant::now() < deadline {
        count = dp.advert_state(key).unwrap().map_or(0, |s| s.count);
        if count >= SENT {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(100));
    let state = dp.advert_state(key).unwrap().expect("advert state recorded");
    // Read from the shared mapping (kernel 5.5+), not a system call per instance.
    assert!(dp.advert_state_mapped(), "the advert-state array is mapped");
    assert_eq!(count, SENT);
    assert_eq!(state.count, SENT, "the map counts every advert");
    assert_eq!((state.priority, state.interval), (100, 1));
    assert_eq!(state.master[..4], [192, 0, 2, 1]);
    let events = dp.drain_events();
    assert_eq!(
        events.len(),
        1,
        "one event for the first advert, none for the 999 identical ones: {events:?}"
    );
    assert_eq!(events[0].changes, EV_FIRST);
    assert_eq!(dp.counters().unwrap()[stats::ADVERTS_RX as usize], SENT);
    println!(
        "netns: {SENT} adverts on {}/veth0 -> map count {}, {} event",
        pair.b.name(),
        state.count,
        events.len()
    );
}

/// The kernel's Master_Down timer (`DOWN_WATCH`): not kept before a
/// hand-over; after one, every advert that would reset a backup's timer
/// restarts it (one below the handed-over priority, or priority 0, does
/// not); it pushes one event when adverts stop, exactly the interval after
/// the last advert by the kernel's clock; a new hand-over or a withdrawal
/// cancels a running timer.
#[test]
fn kernel_master_down_timer_runs_out_once_when_adverts_stop() {
    if !have_root("kernel_master_down_timer_runs_out_once_when_adverts_stop") {
        return;
    }
    const DOWN: Duration = Duration::from_secs(1);
    const DOWN_NS: u64 = 1_000_000_000;
    let mut dp = Datapath::load().expect("load");
    let (vrid, v6, rx) = cases::instances().remove(0);
    let key = InstanceKey::new(TEST_RUN_IFINDEX, v6, vrid);
    dp.set_instance(key, &rx).unwrap();
    let advert = cases::keepalived_v2();
    let timer_events = |dp: &mut Datapath| -> Vec<AdvertEvent> {
        dp.drain_events()
            .into_iter()
            .filter(|e| e.changes & EV_DOWN_TIMER != 0)
            .collect()
    };
    // Sends the advert; returns the kernel's record time of it.
    let send = |dp: &mut Datapath, frame: &[u8]| -> u64 {
        assert_eq!(run(dp, frame).0, XDP_DROP);
        dp.advert_state(key).unwrap().expect("recorded").last_ns
    };
    let started = |dp: &Datapath, token: u64| dp.down_watch(key).unwrap().expect("known").started == token;
    // Not handed over: an advert starts nothing.
    send(&mut dp, &advert);
    thread::sleep(DOWN + DOWN / 4);
    assert!(timer_events(&mut dp).is_empty(), "no timer before a hand-over");

    assert!(dp.watch_down(key, DOWN_NS, 100, 7).unwrap());
    assert!(!started(&dp, 7), "no advert since the hand-over");
    for priority in [99, 0] {
        send(&mut dp, &cases::keepalived_v2_priority(priority));
        assert!(
            !started(&dp, 7),
            "an advert of priority {priority} starts no timer"
        );
    }
    // Steady adverts, every 50 ms for 3 s: the timer never runs out (unless
    // this thread stalled for a whole interval, which the kernel's clock shows).
    let mut sent = Vec::new();
    let until = Instant::now() + DOWN * 3;
    while Instant::now() < until {
        thread::sleep(Duration::from_millis(50));
        let at = send(&mut dp, &advert);
        let entry = dp.down_watch(key).unwrap().unwrap();
        assert_eq!(
            (entry.started, entry.restarted_ns),
            (7, at),
            "the advert restarted the timer"
        );
        sent.push(at);
    }
    let stalled = sent.windows(2).any(|w| w[1] - w[0] >= DOWN_NS);
    let early = timer_events(&mut dp);
    assert!(
        early.is_empty() || stalled,
        "no event while adverts flow: {early:?}"
    );
    let last = *sent.last().unwrap();
    let waiting = Instant::now();
    let mut fired = Vec::new();
    while fired.is_empty() && waiting.elapsed() < DOWN * 5 {
        thread::sleep(Duration::from_millis(10));
        fired = timer_events(&mut dp);
    }
    assert_eq!(fired.len(), 1, "one event when adverts stop: {fired:?}");
    assert_eq!(fired[0].key, key);
    let after = fired[0].ts_ns - last;
    // Late is the dangerous side: bounded too (a loaded CI host's softirq
    // may run a timer late, not by half a second).
    assert!(
        (DOWN_NS..DOWN_NS + 500_000_000).contains(&after),
        "ran out {after} ns after the last advert (interval {DOWN_NS})"
    );
    thread::sleep(DOWN + DOWN / 4);
    assert!(timer_events(&mut dp).is_empty(), "the timer runs out once");

    // A new hand-over cancels the running timer; so does a withdrawal.
    send(&mut dp, &advert);
    assert!(dp.watch_down(key, DOWN_NS, 100, 8).unwrap());
    assert!(!started(&dp, 8));
    thread::sleep(DOWN + DOWN / 4);
    assert!(
        timer_events(&mut dp).is_empty(),
        "a new hand-over cancels the old timer"
    );
    send(&mut dp, &advert);
    assert!(started(&dp, 8));
    dp.unwatch_down(key).unwrap();
    thread::sleep(DOWN + DOWN / 4);
    assert!(timer_events(&mut dp).is_empty(), "a withdrawal cancels the timer");
    assert_eq!(
        dp.counters().unwrap()[stats::DOWN_TIMER_FAILED as usize],
        0,
        "every advert that should start the timer did"
    );
    println!("kernel Master_Down timer: ran out {after} ns after the last advert ({DOWN_NS} ns)");
}

/// One kernel clock serves every handed-over instance: an instance that
/// starts with a deadline earlier than the one the clock is set for brings
/// it forward (B, 300 ms, while A's 1 s deadline keeps moving), each runs
/// out once, at its own deadline (kernel clock), A's steady adverts never
/// make A's run out, and a set-up run again meanwhile changes none of it.
#[test]
fn kernel_clock_runs_each_instance_out_at_its_own_deadline() {
    if !have_root("kernel_clock_runs_each_instance_out_at_its_own_deadline") {
        return;
    }
    const MS: u64 = 1_000_000;
    let mut dp = Datapath::load().expect("load");
    let mut all = cases::instances();
    let (vrid_b, v6_b, rx_b) = all.remove(1);
    let (vrid_a, v6_a, rx_a) = all.remove(0);
    let key_a = InstanceKey::new(TEST_RUN_IFINDEX, v6_a, vrid_a);
    let key_b = InstanceKey::new(TEST_RUN_IFINDEX, v6_b, vrid_b);
    dp.set_instance(key_a, &rx_a).unwrap();
    dp.set_instance(key_b, &rx_b).unwrap();
    let (advert_a, advert_b) = (cases::keepalived_v2(), cases::keepalived_v3_ipv4());
    let send = |dp: &mut Datapath, key: InstanceKey, frame: &[u8]| -> u64 {
        assert_eq!(run(dp, frame).0, XDP_DROP);
        dp.advert_state(key).unwrap().expect("recorded").last_ns
    };
    let mut events: Vec<AdvertEvent> = Vec::new();
    let mut drain = |dp: &mut Datapath| {
        events.extend(
            dp.drain_events()
                .into_iter()
                .filter(|e| e.changes & EV_DOWN_TIMER != 0),
        );
        events.clone()
    };
    assert!(dp.watch_down(key_a, 1000 * MS, 1, 11).unwrap());
    assert!(dp.watch_down(key_b, 300 * MS, 1, 12).unwrap());
    let mut sent_a = vec![send(&mut dp, key_a, &advert_a)];
    thread::sleep(Duration::from_millis(100));
    let sent_b = send(&mut dp, key_b, &advert_b);
    // A set-up run again (a restarted daemon's) keeps the running clock.
    dp.set_up_clock().expect("set up again");
    for (key, token) in [(key_a, 11), (key_b, 12)] {
        assert_eq!(
            dp.down_watch(key).unwrap().unwrap().started,
            token,
            "{key:?} started"
        );
    }
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        thread::sleep(Duration::from_millis(50));
        sent_a.push(send(&mut dp, key_a, &advert_a));
    }
    let stalled = sent_a.windows(2).any(|w| w[1] - w[0] >= 1000 * MS);
    let early = drain(&mut dp);
    assert_eq!(
        early.iter().filter(|e| e.key == key_b).count(),
        1,
        "B ran out once: {early:?}"
    );
    assert!(
        stalled || early.iter().all(|e| e.key != key_a),
        "A's adverts keep it from running out: {early:?}"
    );
    let b = early.iter().find(|e| e.key == key_b).unwrap();
    let after = b.ts_ns - sent_b;
    assert!(
        (300 * MS..300 * MS + 200 * MS).contains(&after),
        "B ran out {after} ns after its advert (300 ms), though A's clock was later"
    );
    let last_a = *sent_a.last().unwrap();
    let waiting = Instant::now();
    while waiting.elapsed() < Duration::from_secs(3) && drain(&mut dp).iter().all(|e| e.key != key_a) {
        thread::sleep(Duration::from_millis(10));
    }
    thread::sleep(Duration::from_millis(500));
    let all = drain(&mut dp);
    let a: Vec<_> = all.iter().filter(|e| e.key == key_a).collect();
    assert_eq!(a.len(), 1, "A ran out once after its adverts stopped: {all:?}");
    let after = a[0].ts_ns - last_a;
    assert!(
        (1000 * MS..1000 * MS + 300 * MS).contains(&after),
        "A ran out {after} ns after its last advert (1 s)"
    );
    assert_eq!(
        all.iter().filter(|e| e.key == key_b).count(),
        1,
        "B once: {all:?}"
    );
    println!(
        "kernel clock: B ran out {} ms after its advert, A {} ms after its last",
        (b.ts_ns - sent_b) / MS,
        after / MS
    );
}

/// The set-up program `watch_down` runs before the first hand-over: it
/// sets the kernel's one Master_Down clock up; run again, it keeps it.
#[test]
fn kernel_timer_set_up_program_sets_up_the_clock_once() {
    if !have_root("kernel_timer_set_up_program_sets_up_the_clock_once") {
        return;
    }
    let mut dp = Datapath::load().expect("load");
    dp.set_up_clock().expect("set up");
    dp.set_up_clock().expect("set up again: the timer is kept");
}

/// arping for 192.0.2.100 from a's side; returns arping's output, lowercased.
fn arping_from(pair: &Pair) -> String {
    pair.a.arping("veth0", "192.0.2.100", 1, 2).1
}

/// The opt-in arrangement of XDP_TX on a veth, and why the daemon does not
/// assume it: a native program's XDP_TX reply reaches the far end of a veth
/// only when that end runs an XDP program too. Without one (containers,
/// VMs, plain namespaces) the reply is sent and lost; the daemon's `auto`
/// responder leaves such links to the kernel (`datapath::attach`).
#[test]
fn arping_for_an_active_vip_gets_the_xdp_reply() {
    if !have_root("arping_for_an_active_vip_gets_the_xdp_reply") {
        return;
    }
    let pair = Pair::new();
    let mut dp_b = Datapath::load().expect("load");
    let mut dp_a = Datapath::load().expect("load");
    {
        let _in_b = pair.b.enter();
        dp_b.attach("veth0", XdpMode::Driver)
            .expect("native XDP on veth (b)");
    }
    let vip = Ipv4Addr::new(192, 0, 2, 100);
    let vmac = virtual_mac_v4(51);
    // 192.0.2.100 is configured nowhere: only XDP on b can answer for it.
    dp_b.answer_in_xdp(pair.b.ifindex("veth0"));
    dp_b.set_vip(pair.b.ifindex("veth0"), IpAddr::V4(vip), vmac, 51, true)
        .unwrap();
    // A plain veth: the reply is sent (counted) and lost on the way.
    let lost = arping_from(&pair);
    assert!(
        !lost.contains("00:00:5e:00:01:33"),
        "a reply arrived through a plain veth; the responder policy's premise is wrong: {lost}"
    );
    let sent = dp_b.counters().unwrap()[stats::ARP_REPLIES as usize];
    assert!(sent >= 1, "XDP sent no reply at all");
    // The far end opts in with a program of its own (nothing configured: it passes ARP).
    {
        let _in_a = pair.a.enter();
        dp_a.attach("veth0", XdpMode::Driver)
            .expect("native XDP on veth (a)");
    }
    let text = arping_from(&pair);
    assert!(
        text.contains("00:00:5e:00:01:33"),
        "arping saw no reply from the virtual MAC: {text}"
    );
    assert!(dp_b.counters().unwrap()[stats::ARP_REPLIES as usize] > sent);
    println!(
        "netns: arping 192.0.2.100 from {} answered by XDP on {}: {}",
        pair.a.name(),
        pair.b.name(),
        text.lines().nth(1).unwrap_or("").trim()
    );

    dp_b.remove_vip(pair.b.ifindex("veth0"), IpAddr::V4(vip)).unwrap();
    assert!(
        !arping_from(&pair).contains("00:00:5e:00:01:33"),
        "no reply once inactive"
    );
}

#[test]
fn kernel_and_userspace_agree_on_every_truncation() {
    if !have_root("kernel_and_userspace_agree_on_every_truncation") {
        return;
    }
    let mut dp = configured();
    let instances = cases::instances();
    let mut checked = 0;
    for frame in [
        cases::keepalived_v2(),
        cases::keepalived_v3_ipv4(),
        cases::keepalived_v3_ipv6(),
    ] {
        // BPF_PROG_TEST_RUN refuses XDP input shorter than an Ethernet header.
        for cut in 14..=frame.len() {
            let part = &frame[..cut];
            let before = dp.counters().unwrap();
            let (action, _) = run(&mut dp, part);
            let moved = moved_verdicts(&dp, &before);
            let user = validate_frame(part, |vrid| instances.iter().find(|i| i.0 == vrid).map(|i| &i.2))
                .map_or_else(|e| e.stat(), |_| stats::ADVERTS_RX);
            if moved.is_empty() {
                // Too short for the program to see the IP protocol: left to the stack.
                assert_eq!(action, XDP_PASS, "cut {cut}: no verdict means pass");
                assert!(
                    cut < 14 + 11 || (frame[12] == 0x86 && cut < 14 + 8),
                    "cut {cut}: kernel gave no verdict"
                );
                assert_eq!(
                    user,
                    stats::DROP_LENGTH,
                    "cut {cut}: userspace calls it truncated"
                );
            } else {
                assert_eq!(moved, vec![user], "cut {cut} of a {}-byte frame", frame.len());
                checked += 1;
            }
        }
    }
    println!("test_run: {checked} truncated frames, kernel and userspace agree");
}

/// The daemon maps only the advert-state and down-watch slots it has handed
/// out (the kernel makes a whole mapping resident at once): an instance
/// whose slot lies pages past the first still reads its adverts and its
/// kernel timer's entry through the grown mapping, as does the first.
#[test]
fn slots_past_the_first_mapped_page_are_read_from_the_mapping() {
    if !have_root("slots_past_the_first_mapped_page_are_read_from_the_mapping") {
        return;
    }
    let mut dp = Datapath::load().expect("load");
    assert!(dp.advert_state_mapped(), "this kernel maps BPF arrays (5.5+)");
    let (vrid, v6, rx) = cases::instances().remove(0);
    // Slots before the one under test: past the first four pages of either
    // array (48 and 64 bytes an entry: each mapping grows on the way).
    // Their interface indexes are made up.
    // SAFETY: sysconf has no preconditions.
    let page = u32::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).expect("a page size");
    let fillers: Vec<InstanceKey> = (0..=4 * page / 48)
        .map(|i| InstanceKey::new(1000 + i / 200, false, (i % 200) as u8 + 1))
        .collect();
    for key in &fillers {
        dp.set_instance(*key, &rx).unwrap();
    }
    let key = InstanceKey::new(TEST_RUN_IFINDEX, v6, vrid);
    dp.set_instance(key, &rx).unwrap();
    assert!(dp.advert_state(key).unwrap().is_none(), "no advert yet");
    let (action, _) = run(&mut dp, &cases::keepalived_v2());
    assert_eq!(action, XDP_DROP, "a valid advert is consumed");
    let state = dp
        .advert_state(key)
        .unwrap()
        .expect("the advert, read past the first pages");
    assert_eq!(state.count, 1);
    assert!(dp.advert_state_mapped(), "still read from the mapping");
    assert!(dp.down_watch(key).unwrap().is_some(), "its down-watch entry");
    assert!(dp.down_watch_mapped(), "read from the grown mapping");
    assert!(
        dp.advert_state(fillers[0]).unwrap().is_none(),
        "slot 0: nothing heard"
    );
}
