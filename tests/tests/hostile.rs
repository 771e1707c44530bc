//! Hostile adverts at a running master: every kind of invalid advert, sent
//! with a higher priority from another namespace on the same segment. The
//! master stays master, counts each frame under its reason, and keeps running.

use std::{collections::BTreeMap, time::Duration};

use xvrrp_common::stats;
use xvrrp_tests::{
    cases,
    daemon::{Daemon, Scratch, wait_for},
    frames::MCAST6,
    frames::PacketSocket,
    have_root,
    lab::Lab,
};

/// a runs every instance of the shared case table (`cases::instances()`),
/// written as keepalived.conf, so each case's expected verdict is the
/// table's: no validator of the product's computes it.
const CONF: &str = "\
vrrp_instance VI_51 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority 50\n  advert_int 1\n  \
authentication {\n    auth_type PASS\n    auth_pass aminglin\n  }\n  \
virtual_ipaddress {\n    192.0.2.100/24\n    192.0.2.101/24\n  }\n}\n\
vrrp_instance VI_52 {\n  state BACKUP\n  interface eth0\n  version 3\n  virtual_router_id 52\n  priority 50\n  \
advert_int 0.5\n  virtual_ipaddress {\n    192.0.2.102/24\n  }\n}\n\
vrrp_instance VI_53 {\n  state BACKUP\n  interface eth0\n  version 3\n  virtual_router_id 53\n  priority 50\n  \
advert_int 1\n  virtual_ipaddress {\n    2001:db8::100/64\n    2001:db8::101/64\n  }\n}\n\
vrrp_instance VI_54 {\n  state BACKUP\n  interface eth0\n  version 3\n  virtual_router_id 54\n  priority 50\n  \
advert_int 1\n  v3_checksum_as_v2\n  virtual_ipaddress {\n    192.0.2.104/24\n  }\n}\n\
vrrp_instance VI_55 {\n  state BACKUP\n  interface eth0\n  version 3\n  virtual_router_id 55\n  priority 50\n  \
advert_int 1\n  unicast_src_ip 192.0.2.2\n  unicast_peer {\n    192.0.2.7\n  }\n  \
virtual_ipaddress {\n    192.0.2.105/24\n  }\n}\n\
vrrp_instance VI_56 {\n  state BACKUP\n  interface eth0\n  version 3\n  virtual_router_id 56\n  priority 50\n  \
advert_int 1\n  unicast_src_ip 192.0.2.2\n  unicast_peer {\n    192.0.2.1\n  }\n  \
virtual_ipaddress {\n    192.0.2.106/24\n  }\n}\n\
vrrp_instance VI_57 {\n  state BACKUP\n  interface eth0\n  version 3\n  virtual_router_id 57\n  priority 50\n  \
advert_int 1\n  unicast_src_ip 192.0.2.2\n  unicast_peer {\n    192.0.2.1 min_ttl 250 max_ttl 255\n  }\n  \
virtual_ipaddress {\n    192.0.2.107/24\n  }\n}\n\
vrrp_instance VI_58 {\n  state BACKUP\n  interface eth0\n  version 3\n  virtual_router_id 58\n  priority 50\n  \
advert_int 1\n  skip_check_adv_addr\n  virtual_ipaddress {\n    192.0.2.108/24\n    192.0.2.109/24\n  }\n}\n";

const NAMES: [&str; 8] = [
    "VI_51", "VI_52", "VI_53", "VI_54", "VI_55", "VI_56", "VI_57", "VI_58",
];

fn hostile_frames_leave_a_master_alone(mode: &str) {
    let mut lab = Lab::new();
    // 192.0.2.2: where the table's unicast adverts are addressed.
    lab.host("a", &["192.0.2.2/24", "2001:db8::2/64"]);
    lab.host("x", &["192.0.2.66/24"]);
    let dir = Scratch::new(&format!("hostile-{mode}"));
    let a = Daemon::start(lab.get("a"), &dir.write("a.conf", CONF), &dir.0.join("ra"), mode);
    let masters = || NAMES.iter().all(|n| a.state(n).as_deref() == Some("MASTER"));
    wait_for(Duration::from_secs(8), masters).expect("a becomes master");

    let mut expected: BTreeMap<u32, u64> = BTreeMap::new();
    let mut maybe: BTreeMap<u32, u64> = BTreeMap::new();
    let mut hostile = Vec::new();
    let mut malformed_ip = Vec::new();
    for case in cases::cases() {
        let verdict = case.verdict;
        if verdict == Some(stats::ADVERTS_RX) {
            continue; // valid adverts of a better router would rightly move a
        }
        // Frames with a broken IP header may or may not cross the switch (a
        // Linux bridge with br_netfilter drops some): in XDP mode each may
        // add up to its 10 to its reason, nothing else (the exact verdicts
        // are the BPF_PROG_TEST_RUN table's). Of the rest, the kernel
        // programs see every frame; a socket-mode daemon what the IP stack
        // delivers to its raw sockets: untagged (or priority-tagged) IPv4
        // addressed to 224.0.0.18 (joined) or to a itself, IPv6 to ff02::12.
        let l3 = if case.frame[12..14] == [0x81, 0x00] {
            18
        } else {
            14
        };
        let sound = cases::ip_well_formed(&case.frame);
        let ethertype = &case.frame[l3 - 2..l3];
        let delivered = sound
            && (mode == "xdp"
                || (ethertype == [0x08, 0x00]
                    && (case.frame[l3 + 16..l3 + 20] == [224, 0, 0, 18]
                        || case.frame[l3 + 16..l3 + 20] == [192, 0, 2, 2]))
                || (ethertype == [0x86, 0xdd] && case.frame[l3 + 24..l3 + 40] == MCAST6.octets()));
        match verdict {
            Some(slot) if delivered => {
                *expected.entry(slot).or_default() += 10;
                hostile.push(case);
            }
            Some(slot) if !sound && mode == "xdp" => {
                *maybe.entry(slot).or_default() += 10;
                malformed_ip.push(case);
            }
            // Not for this daemon: it must still change nothing.
            _ => malformed_ip.push(case),
        }
    }
    assert!(hostile.len() >= 12, "the table covers the hostile kinds");
    {
        let _in_x = lab.get("x").enter();
        let tx = PacketSocket::open("eth0").expect("AF_PACKET in x");
        for case in hostile.iter().chain(&malformed_ip) {
            for _ in 0..10 {
                // Frames shorter than Ethernet's minimum are padded by the link; send as built.
                tx.send(&case.frame).expect("send");
            }
        }
    }
    let names: BTreeMap<u32, &str> = stats::TABLE.iter().map(|c| (c.slot, c.name)).collect();
    let settled = wait_for(Duration::from_secs(3), || {
        expected.iter().all(|(slot, n)| a.counter(names[slot]) >= *n)
    });
    let got: BTreeMap<&str, u64> = expected.keys().map(|s| (names[s], a.counter(names[s]))).collect();
    assert!(
        settled.is_some(),
        "{mode}: counters {got:?}, expected at least {expected:?}"
    );
    for (slot, n) in &expected {
        let got = a.counter(names[slot]);
        let most = n + maybe.get(slot).copied().unwrap_or(0);
        assert!(
            (*n..=most).contains(&got),
            "{mode}: reason {} counted {got}, expected {n} (up to {most} if the broken-IP frames got through)",
            names[slot]
        );
    }
    for (slot, n) in maybe.iter().filter(|(s, _)| !expected.contains_key(s)) {
        let got = a.counter(names[slot]);
        assert!(
            got <= *n,
            "{mode}: reason {} counted {got}, at most {n}",
            names[slot]
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(masters(), "{mode}: still master");
    assert!(
        expected.contains_key(&stats::DROP_NOT_PEER),
        "the spoofed unicast advert is among them"
    );
    assert_eq!(a.counter("adverts_rx"), 0, "{mode}: nothing accepted");
    println!(
        "hostile ({mode}): {} kinds x 10 frames, counted as {got:?}; a stayed master",
        hostile.len()
    );
}

#[test]
fn hostile_adverts_against_an_xdp_master() {
    if !have_root("hostile_adverts_against_an_xdp_master") {
        return;
    }
    hostile_frames_leave_a_master_alone("xdp");
}

#[test]
fn hostile_adverts_against_a_socket_mode_master() {
    if !have_root("hostile_adverts_against_a_socket_mode_master") {
        return;
    }
    hostile_frames_leave_a_master_alone("socket");
}
