//! `xvrrpd run` in network namespaces against the real kernel: two xvrrpd,
//! and xvrrpd against keepalived 2.2.7. Time bounds come from the RFC
//! (Skew_Time, Master_Down_Interval) plus a fixed allowance for process
//! scheduling, not from tuned numbers.

use std::{fs, time::Duration};

use xvrrp_tests::{
    daemon::{Daemon, Keepalived, Scratch, wait_for},
    have_root,
    lab::Lab,
};

/// Scheduling allowance on top of an RFC bound (a loaded 2-core CI machine).
const SLACK: Duration = Duration::from_millis(700);

/// Skew_Time of VRRPv2 (RFC 3768 6.1) in seconds.
fn skew_v2(priority: u8) -> f64 {
    f64::from(256 - u16::from(priority)) / 256.0
}

/// Master_Down_Interval of VRRPv2 with a 1 s advert interval.
fn master_down_v2(priority: u8) -> Duration {
    Duration::from_secs_f64(3.0 + skew_v2(priority))
}

fn conf(priority: u8, extra: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    priority {priority}\n    \
         advert_int 1\n    authentication {{\n        auth_type PASS\n        auth_pass s3cret\n    }}\n    \
         virtual_ipaddress {{\n        192.0.2.100/24\n    }}\n{extra}}}\n"
    )
}

fn has_vip(lab: &Lab, host: &str, vip: &str) -> bool {
    let out = lab.get(host).ip(&["-o", "addr", "show", "dev", "eth0"]);
    String::from_utf8_lossy(&out.stdout).contains(vip)
}

/// Waits (bounded by `limit`) for a MASTER and b BACKUP; returns how long it
/// took, or panics with both states and a's log.
fn wait_elected(a: &Daemon, b: &Daemon, limit: Duration) -> Duration {
    wait_for(limit, || {
        a.state("VI_1").as_deref() == Some("MASTER") && b.state("VI_1").as_deref() == Some("BACKUP")
    })
    .unwrap_or_else(|| {
        panic!(
            "no election: a={:?} b={:?}\n{}",
            a.status(),
            b.state("VI_1"),
            a.log_text()
        )
    })
}

fn two_hosts() -> Lab {
    let mut lab = Lab::new();
    lab.host("a", &["192.0.2.1/24"]);
    lab.host("b", &["192.0.2.2/24"]);
    lab
}

#[test]
fn xdp_pair_elects_fails_over_on_sigterm_and_preempts_back() {
    if !have_root("xdp_pair_elects_fails_over_on_sigterm_and_preempts_back") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("pair");
    let ca = dir.write("a.conf", &conf(100, ""));
    let cb = dir.write("b.conf", &conf(90, ""));
    let mut a = Daemon::start(lab.get("a"), &ca, &dir.0.join("ra"), "xdp");
    let b = Daemon::start(lab.get("b"), &cb, &dir.0.join("rb"), "xdp");

    let limit = master_down_v2(100) + Duration::from_secs(3);
    wait_elected(&a, &b, limit);
    assert!(has_vip(&lab, "a", "192.0.2.100/24"), "the master holds the VIP");
    assert!(!has_vip(&lab, "b", "192.0.2.100/24"), "the backup does not");
    let st = a.status().unwrap();
    assert_eq!(st["mode"], "xdp");

    // SIGTERM: priority 0, so b waits only its Skew_Time (RFC 3768 6.4.2).
    assert_eq!(a.stop(), Some(0), "clean exit on SIGTERM");
    assert!(!has_vip(&lab, "a", "192.0.2.100"), "a removed the VIP it added");
    let bound = Duration::from_secs_f64(skew_v2(90)) + SLACK;
    let took = wait_for(bound + Duration::from_secs(3), || {
        b.state("VI_1").as_deref() == Some("MASTER")
    })
    .expect("b takes over");
    println!(
        "daemon: after SIGTERM on the master, b took over in {took:?} (Skew_Time {:.3} s)",
        skew_v2(90)
    );
    assert!(
        took <= bound,
        "takeover after priority 0 took {took:?}, RFC bound Skew_Time + slack = {bound:?}"
    );
    assert!(has_vip(&lab, "b", "192.0.2.100/24"));

    // a comes back with the higher priority: it preempts after its Master_Down_Interval.
    let a = Daemon::start(lab.get("a"), &ca, &dir.0.join("ra"), "xdp");
    let took = wait_elected(&a, &b, master_down_v2(100) + SLACK + Duration::from_secs(1));
    println!("daemon: a preempted back in {took:?}");
    assert!(has_vip(&lab, "a", "192.0.2.100/24") && !has_vip(&lab, "b", "192.0.2.100/24"));
    assert!(
        b.log_text().contains("from=\"MASTER\" to=\"BACKUP\""),
        "one log line per state change"
    );
}

#[test]
fn master_link_down_backup_takes_over_within_master_down_interval() {
    if !have_root("master_link_down_backup_takes_over_within_master_down_interval") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("linkdown");
    let a = Daemon::start(
        lab.get("a"),
        &dir.write("a.conf", &conf(100, "")),
        &dir.0.join("ra"),
        "socket",
    );
    // a validates in userspace, b with XDP in generic (skb) mode.
    let b = Daemon::start(
        lab.get("b"),
        &dir.write("b.conf", &conf(90, "")),
        &dir.0.join("rb"),
        "xdp-skb",
    );
    wait_for(master_down_v2(100) + Duration::from_secs(3), || {
        a.state("VI_1").as_deref() == Some("MASTER")
    })
    .expect("a becomes master");
    wait_for(Duration::from_secs(3), || {
        b.state("VI_1").as_deref() == Some("BACKUP")
    })
    .expect("b is backup");
    assert_eq!(a.status().unwrap()["mode"], "socket");
    assert_eq!(b.status().unwrap()["mode"], "xdp");
    assert!(
        String::from_utf8_lossy(&lab.get("b").ip(&["link", "show", "eth0"]).stdout).contains("xdpgeneric"),
        "b's program runs in generic mode"
    );
    lab.port("a", false);
    let bound = master_down_v2(90) + SLACK;
    let took = wait_for(bound + Duration::from_secs(2), || {
        b.state("VI_1").as_deref() == Some("MASTER")
    })
    .expect("b takes over");
    println!(
        "daemon: master's link cut, b took over in {took:?} (Master_Down_Interval {:?})",
        master_down_v2(90)
    );
    assert!(took <= bound, "took {took:?}, RFC bound {bound:?}");
}

#[test]
fn keepalived_master_and_xvrrpd_backup_then_roles_swapped() {
    if !have_root("keepalived_master_and_xvrrpd_backup_then_roles_swapped") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("interop");
    let kdir = dir.0.join("k");
    fs::create_dir_all(&kdir).unwrap();
    // keepalived (priority 100) on a, xvrrpd (90) on b.
    let mut ka = Keepalived::start(lab.get("a"), &dir.write("ka.conf", &conf(100, "")), &kdir);
    let x = Daemon::start(
        lab.get("b"),
        &dir.write("x.conf", &conf(90, "")),
        &dir.0.join("rx"),
        "xdp",
    );
    wait_for(master_down_v2(100) + Duration::from_secs(4), || {
        ka.log_text().contains("Entering MASTER STATE") && has_vip(&lab, "a", "192.0.2.100")
    })
    .unwrap_or_else(|| panic!("keepalived did not become master:\n{}", ka.log_text()));
    wait_for(Duration::from_secs(3), || x.counter("adverts_rx") >= 2)
        .expect("xvrrpd hears keepalived's adverts");
    assert_eq!(x.state("VI_1").as_deref(), Some("BACKUP"));
    assert_eq!(
        x.counter("auth") + x.counter("checksum") + x.counter("interval"),
        0,
        "keepalived's adverts validate"
    );

    // keepalived stops (priority 0): xvrrpd takes over in Skew_Time.
    ka.stop();
    let bound = Duration::from_secs_f64(skew_v2(90)) + SLACK;
    let took = wait_for(bound + Duration::from_secs(3), || {
        x.state("VI_1").as_deref() == Some("MASTER")
    })
    .expect("xvrrpd takes over");
    assert!(took <= bound, "took {took:?}, bound {bound:?}");

    // keepalived comes back with priority 80: it must stay backup under xvrrpd's adverts.
    let kdir2 = dir.0.join("k2");
    fs::create_dir_all(&kdir2).unwrap();
    let ka2 = Keepalived::start(lab.get("a"), &dir.write("ka2.conf", &conf(80, "")), &kdir2);
    std::thread::sleep(master_down_v2(80) + Duration::from_secs(1));
    let log = ka2.log_text();
    assert!(log.contains("Entering BACKUP STATE"), "keepalived backup:\n{log}");
    assert!(
        !log.contains("Entering MASTER STATE"),
        "keepalived accepted xvrrpd as master:\n{log}"
    );
    assert_eq!(x.state("VI_1").as_deref(), Some("MASTER"));
    println!("daemon: keepalived 2.2.7 <-> xvrrpd: both roles, takeover in {took:?}");
}

#[test]
fn auth_mismatch_gives_two_masters_and_counts() {
    if !have_root("auth_mismatch_gives_two_masters_and_counts") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("auth");
    let a = Daemon::start(
        lab.get("a"),
        &dir.write("a.conf", &conf(100, "")),
        &dir.0.join("ra"),
        "xdp",
    );
    let other = conf(90, "").replace("s3cret", "other");
    let b = Daemon::start(
        lab.get("b"),
        &dir.write("b.conf", &other),
        &dir.0.join("rb"),
        "xdp",
    );
    wait_for(master_down_v2(90) + Duration::from_secs(4), || {
        a.state("VI_1").as_deref() == Some("MASTER") && b.state("VI_1").as_deref() == Some("MASTER")
    })
    .expect("both become master when they cannot authenticate each other");
    assert!(b.counter("auth") > 0, "b counts a's adverts as auth failures");
    assert!(a.counter("auth") > 0, "a counts b's adverts as auth failures");
}

#[test]
fn sighup_with_a_broken_config_keeps_running_then_a_good_one_applies() {
    if !have_root("sighup_with_a_broken_config_keeps_running_then_a_good_one_applies") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("hup");
    let path = dir.write("a.conf", &conf(100, ""));
    let a = Daemon::start(lab.get("a"), &path, &dir.0.join("ra"), "xdp");
    wait_for(master_down_v2(100) + Duration::from_secs(3), || {
        a.state("VI_1").as_deref() == Some("MASTER")
    })
    .expect("a becomes master");
    fs::write(
        &path,
        conf(100, "").replace("virtual_router_id 51", "virtual_router_id 300"),
    )
    .unwrap();
    a.signal("HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        a.state("VI_1").as_deref(),
        Some("MASTER"),
        "the old configuration keeps running"
    );
    assert!(a.log_text().contains("reload refused"), "{}", a.log_text());
    let st = a.status().unwrap();
    assert_eq!(
        st["instances"][0]["transitions"], 2,
        "INIT->BACKUP->MASTER, nothing since"
    );

    fs::write(&path, conf(120, "")).unwrap();
    a.signal("HUP");
    wait_for(Duration::from_secs(3), || {
        a.status().is_some_and(|s| s["instances"][0]["priority"] == 120)
    })
    .expect("a good configuration applies");
}

#[test]
fn failing_script_with_weight_hands_over_and_notify_gets_keepalived_arguments() {
    if !have_root("failing_script_with_weight_hands_over_and_notify_gets_keepalived_arguments") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("script");
    let flag = dir.write("healthy", "");
    let notes = dir.0.join("notify.log");
    let check = dir.write("check.sh", &format!("#!/bin/sh\ntest -e {}\n", flag.display()));
    let notify = dir.write(
        "notify.sh",
        &format!("#!/bin/sh\necho \"$@\" >> {}\n", notes.display()),
    );
    for f in [&check, &notify] {
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(f)
            .status()
            .unwrap();
    }
    let scripts = format!(
        "vrrp_script chk {{\n    script \"{}\"\n    interval 1\n    weight -20\n}}\n",
        check.display()
    );
    let extra = format!(
        "    track_script {{\n        chk\n    }}\n    notify \"{}\"\n",
        notify.display()
    );
    let a = Daemon::start(
        lab.get("a"),
        &dir.write("a.conf", &(scripts + &conf(100, &extra))),
        &dir.0.join("ra"),
        "xdp",
    );
    let b = Daemon::start(
        lab.get("b"),
        &dir.write("b.conf", &conf(90, "")),
        &dir.0.join("rb"),
        "xdp",
    );
    wait_for(master_down_v2(100) + Duration::from_secs(3), || {
        a.state("VI_1").as_deref() == Some("MASTER")
    })
    .expect("a becomes master");
    wait_for(Duration::from_secs(2), || {
        fs::read_to_string(&notes).is_ok_and(|t| t.contains("INSTANCE VI_1 MASTER 100"))
    })
    .unwrap_or_else(|| panic!("notify arguments: {:?}", fs::read_to_string(&notes)));

    fs::remove_file(&flag).unwrap();
    // The script fails (interval 1 s), a advertises 80 < 90, b preempts after its Master_Down_Interval.
    wait_for(master_down_v2(90) + Duration::from_secs(4), || {
        b.state("VI_1").as_deref() == Some("MASTER") && a.state("VI_1").as_deref() == Some("BACKUP")
    })
    .unwrap_or_else(|| panic!("no handover: a={:?} b={:?}", a.status(), b.state("VI_1")));
    assert_eq!(a.status().unwrap()["instances"][0]["effective_priority"], 80);
    wait_for(Duration::from_secs(2), || {
        fs::read_to_string(&notes).is_ok_and(|t| t.contains("INSTANCE VI_1 BACKUP 80"))
    })
    .expect("notify on the way down");

    fs::write(&flag, "").unwrap();
    wait_for(master_down_v2(100) + Duration::from_secs(4), || {
        a.state("VI_1").as_deref() == Some("MASTER")
    })
    .expect("a takes the VIP back once healthy");
}

#[test]
fn vrrpv3_ipv6_pair_and_unicast_v4_pair() {
    if !have_root("vrrpv3_ipv6_pair_and_unicast_v4_pair") {
        return;
    }
    let mut lab = Lab::new();
    lab.host("a", &["192.0.2.1/24", "2001:db8::1/64"]);
    lab.host("b", &["192.0.2.2/24", "2001:db8::2/64"]);
    let dir = Scratch::new("v3v6");
    let v6 = |prio: u8| {
        format!(
            "vrrp_instance V6 {{\n  state BACKUP\n  interface eth0\n  version 3\n  virtual_router_id 61\n  \
             priority {prio}\n  advert_int 0.1\n  virtual_ipaddress {{\n    2001:db8::100/64\n  }}\n}}\n"
        )
    };
    let uni = |prio: u8, me: &str, peer: &str| {
        format!(
            "vrrp_instance U4 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 62\n  priority {prio}\n  \
             advert_int 1\n  unicast_src_ip {me}\n  unicast_peer {{\n    {peer}\n  }}\n  virtual_ipaddress {{\n    192.0.2.101/24\n  }}\n}}\n"
        )
    };
    let a = Daemon::start(
        lab.get("a"),
        &dir.write("a.conf", &(v6(150) + &uni(100, "192.0.2.1", "192.0.2.2"))),
        &dir.0.join("ra"),
        "xdp",
    );
    let b = Daemon::start(
        lab.get("b"),
        &dir.write("b.conf", &(v6(100) + &uni(90, "192.0.2.2", "192.0.2.1"))),
        &dir.0.join("rb"),
        "xdp",
    );
    wait_for(Duration::from_secs(8), || {
        a.state("V6").as_deref() == Some("MASTER")
            && b.state("V6").as_deref() == Some("BACKUP")
            && a.state("U4").as_deref() == Some("MASTER")
            && b.state("U4").as_deref() == Some("BACKUP")
    })
    .unwrap_or_else(|| panic!("a={:?}\nb={:?}\n{}", a.status(), b.status(), b.log_text()));
    assert!(has_vip(&lab, "a", "2001:db8::100/64"));
    assert!(has_vip(&lab, "a", "192.0.2.101/24"));
    let st = b.status().unwrap();
    let v6i = st["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "V6")
        .unwrap()
        .clone();
    assert_eq!(v6i["advert_interval_ms"], 100);
    assert!(
        v6i["master_ip"].as_str().unwrap().starts_with("fe80::"),
        "v3 IPv6 adverts come from the link-local address"
    );
}

#[test]
fn nopreempt_backup_does_not_take_over_from_a_lower_master() {
    if !have_root("nopreempt_backup_does_not_take_over_from_a_lower_master") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("nopreempt");
    // b (90) becomes master first; a (100) starts later with nopreempt and must stay backup.
    let b = Daemon::start(
        lab.get("b"),
        &dir.write("b.conf", &conf(90, "")),
        &dir.0.join("rb"),
        "xdp",
    );
    wait_for(master_down_v2(90) + Duration::from_secs(3), || {
        b.state("VI_1").as_deref() == Some("MASTER")
    })
    .expect("b becomes master");
    let a = Daemon::start(
        lab.get("a"),
        &dir.write("a.conf", &conf(100, "    nopreempt\n")),
        &dir.0.join("ra"),
        "xdp",
    );
    std::thread::sleep(master_down_v2(100) + Duration::from_secs(2));
    assert_eq!(
        a.state("VI_1").as_deref(),
        Some("BACKUP"),
        "nopreempt: a higher backup leaves the master alone"
    );
    assert_eq!(b.state("VI_1").as_deref(), Some("MASTER"));
}

#[test]
fn sync_group_members_move_together() {
    if !have_root("sync_group_members_move_together") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("sync");
    let group = |prio: u8| {
        let two = conf(prio, "")
            .replace("VI_1", "VI_2")
            .replace("virtual_router_id 51", "virtual_router_id 52")
            .replace("192.0.2.100/24", "192.0.2.110/24");
        format!(
            "vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_2\n    }}\n}}\n{}{two}",
            conf(prio, "")
        )
    };
    let a = Daemon::start(
        lab.get("a"),
        &dir.write("a.conf", &group(100)),
        &dir.0.join("ra"),
        "xdp",
    );
    let b = Daemon::start(
        lab.get("b"),
        &dir.write("b.conf", &group(90)),
        &dir.0.join("rb"),
        "xdp",
    );
    let both =
        |d: &Daemon, s: &str| d.state("VI_1").as_deref() == Some(s) && d.state("VI_2").as_deref() == Some(s);
    wait_for(master_down_v2(100) + Duration::from_secs(3), || {
        both(&a, "MASTER") && both(&b, "BACKUP")
    })
    .expect("group elected on a");
    // VI_1's tracked interface fails on a: FAULT there pulls VI_2 into FAULT too, and b takes both;
    // when it comes back, both leave FAULT and a preempts both again.
    let lab_a = lab.get("a");
    // A veth pair inside a: taking one end down drops the other's carrier.
    lab_a.ip(&["link", "add", "trk0", "type", "veth", "peer", "name", "trk1"]);
    lab_a.ip(&["link", "set", "trk0", "up"]);
    lab_a.ip(&["link", "set", "trk1", "up"]);
    drop(a);
    let tracked = group(100).replacen(
        "    virtual_ipaddress {\n        192.0.2.100/24\n    }\n",
        "    virtual_ipaddress {\n        192.0.2.100/24\n    }\n    track_interface {\n        trk0\n    }\n",
        1,
    );
    let a = Daemon::start(lab_a, &dir.write("a2.conf", &tracked), &dir.0.join("ra2"), "xdp");
    wait_for(master_down_v2(100) + Duration::from_secs(3), || {
        both(&a, "MASTER") && both(&b, "BACKUP")
    })
    .expect("group elected on a again");
    lab_a.ip(&["link", "set", "trk1", "down"]);
    wait_for(master_down_v2(90) + Duration::from_secs(3), || {
        both(&a, "FAULT") && both(&b, "MASTER")
    })
    .unwrap_or_else(|| {
        panic!(
            "group did not move together: a={:?} b={:?}",
            a.status(),
            b.status()
        )
    });
    lab_a.ip(&["link", "set", "trk1", "up"]);
    wait_for(master_down_v2(100) + Duration::from_secs(4), || {
        both(&a, "MASTER") && both(&b, "BACKUP")
    })
    .unwrap_or_else(|| panic!("group did not come back together: a={:?}", a.status()));
}

#[test]
fn running_daemon_keeps_only_the_capabilities_it_needs() {
    if !have_root("running_daemon_keeps_only_the_capabilities_it_needs") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("caps");
    let a = Daemon::start(
        lab.get("a"),
        &dir.write("a.conf", &conf(100, "")),
        &dir.0.join("ra"),
        "xdp",
    );
    wait_for(Duration::from_secs(3), || a.status().is_some()).expect("a runs");
    let pid = fs::read_to_string(dir.0.join("ra/xvrrpd.pid"))
        .unwrap()
        .trim()
        .to_owned();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let cap = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    // The promise is the README's ("Least privilege: ... keeps only CAP_..."),
    // not the product's own list.
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let para = readme
        .split("\n\n")
        .find(|p| p.starts_with("Least privilege:"))
        .expect("README's least-privilege paragraph");
    let promised = para
        .split("keeps only")
        .nth(1)
        .unwrap()
        .split('(')
        .next()
        .unwrap();
    // linux/capability.h
    let number = |name: &str| match name {
        "CAP_KILL" => 5,
        "CAP_SETGID" => 6,
        "CAP_SETUID" => 7,
        "CAP_NET_ADMIN" => 12,
        "CAP_NET_RAW" => 13,
        "CAP_PERFMON" => 38,
        "CAP_BPF" => 39,
        other => panic!("README names {other}: add its number"),
    };
    let names: Vec<&str> = promised
        .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
        .filter(|w| w.starts_with("CAP_"))
        .collect();
    assert_eq!(names.len(), 7, "README lists {names:?}");
    let kept = names.iter().fold(0u64, |m, n| m | 1 << number(n));
    assert_eq!(
        cap("CapEff:"),
        kept,
        "effective set is exactly the kept capabilities"
    );
    assert_eq!(cap("CapPrm:"), kept, "permitted too: they cannot come back");
    // Capabilities are per thread: every other thread (the status and metrics
    // server, which reads what strangers send) holds at most as much.
    let mut threads = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
        let text = fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let eff = text
            .lines()
            .find(|l| l.starts_with("CapEff:"))
            .and_then(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
            .unwrap_or(u64::MAX);
        assert_eq!(
            eff & !kept,
            0,
            "thread {:?} holds more: {eff:#x}",
            task.file_name()
        );
        threads += 1;
    }
    assert!(
        threads >= 2,
        "the daemon runs its server thread too ({threads} threads)"
    );
    // Still able to do its job after the drop: take the VIP.
    wait_for(master_down_v2(100) + Duration::from_secs(3), || {
        a.state("VI_1").as_deref() == Some("MASTER") && has_vip(&lab, "a", "192.0.2.100")
    })
    .expect("a becomes master and installs the VIP with the reduced set");
    println!(
        "daemon: CapEff {:#x} (net_admin, net_raw, bpf, perfmon, setuid, setgid, kill)",
        cap("CapEff:")
    );
}

#[test]
fn enable_script_security_refuses_a_script_others_can_change() {
    if !have_root("enable_script_security_refuses_a_script_others_can_change") {
        return;
    }
    use std::os::unix::fs::PermissionsExt as _;
    let lab = two_hosts();
    let dir = Scratch::new("scriptsec");
    let open_dir = dir.0.join("open");
    fs::create_dir_all(&open_dir).unwrap();
    let script = open_dir.join("check.sh");
    fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let text = |secure: bool| {
        format!(
            "global_defs {{\n{}}}\nvrrp_script chk {{\n    script \"{}\"\n}}\n{}",
            if secure {
                "    enable_script_security\n"
            } else {
                ""
            },
            script.display(),
            conf(100, "    track_script {\n        chk\n    }\n")
        )
    };
    // The script's directory is writable by anyone (no sticky bit).
    fs::set_permissions(&open_dir, fs::Permissions::from_mode(0o777)).unwrap();
    let mut a = Daemon::start(
        lab.get("a"),
        &dir.write("a.conf", &text(true)),
        &dir.0.join("ra"),
        "socket",
    );
    let exited = wait_for(Duration::from_secs(5), || a.exited().is_some());
    assert!(exited.is_some(), "the daemon refuses to start");
    assert_ne!(a.exited(), Some(0));
    assert!(a.log_text().contains("refusing to run"), "{}", a.log_text());
    assert!(a.log_text().contains("is world-writable"), "{}", a.log_text());

    // Without the option, or once the directory is safe, it runs.
    fs::set_permissions(&open_dir, fs::Permissions::from_mode(0o755)).unwrap();
    let b = Daemon::start(
        lab.get("a"),
        &dir.write("b.conf", &text(true)),
        &dir.0.join("rb"),
        "socket",
    );
    wait_for(Duration::from_secs(3), || b.status().is_some()).unwrap_or_else(|| panic!("{}", b.log_text()));
}

#[test]
fn interface_deleted_and_created_again_is_picked_up() {
    if !have_root("interface_deleted_and_created_again_is_picked_up") {
        return;
    }
    for mode in ["socket", "xdp"] {
        let mut lab = two_hosts();
        let dir = Scratch::new(&format!("replug-{mode}"));
        let a = Daemon::start(
            lab.get("a"),
            &dir.write("a.conf", &conf(100, "")),
            &dir.0.join("ra"),
            mode,
        );
        let b = Daemon::start(
            lab.get("b"),
            &dir.write("b.conf", &conf(90, "")),
            &dir.0.join("rb"),
            "xdp",
        );
        wait_elected(&a, &b, master_down_v2(100) + Duration::from_secs(3));
        lab.replug("a", &["192.0.2.1/24"]);
        // a's instance is rebuilt on the new eth0 and starts again as backup; b took over
        // meanwhile or does now, and a preempts back once it hears b's lower priority.
        wait_for(2 * master_down_v2(100) + Duration::from_secs(4), || {
            a.state("VI_1").as_deref() == Some("MASTER")
                && b.state("VI_1").as_deref() == Some("BACKUP")
                && has_vip(&lab, "a", "192.0.2.100")
        })
        .unwrap_or_else(|| {
            panic!(
                "{mode}: a={:?} b={:?}\n{}",
                a.status(),
                b.state("VI_1"),
                a.log_text()
            )
        });
        assert!(
            a.log_text().contains("interface created again"),
            "{}",
            a.log_text()
        );
        assert!(b.counter("adverts_rx") > 0);
        println!("daemon: {mode}-mode a survived its interface being deleted and created again");
    }
}

#[test]
fn instance_on_a_missing_interface_waits_in_fault_until_it_appears() {
    if !have_root("instance_on_a_missing_interface_waits_in_fault_until_it_appears") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("missing-if");
    let on_eth1 = "vrrp_instance VI_2 {\n    interface eth1\n    virtual_router_id 52\n    priority 100\n    \
                   advert_int 1\n    virtual_ipaddress {\n        198.51.100.100/24\n    }\n}\n";
    let a = Daemon::start(
        lab.get("a"),
        &dir.write("a.conf", &(conf(100, "") + on_eth1)),
        &dir.0.join("ra"),
        "xdp",
    );
    let fault_reason = |a: &Daemon| -> Option<String> {
        let st = a.status()?;
        let vi2 = st["instances"]
            .as_array()?
            .iter()
            .find(|i| i["name"] == "VI_2")?
            .clone();
        (vi2["state"] == "FAULT").then(|| vi2["fault_reason"].as_str().unwrap_or("").to_owned())
    };
    // keepalived's behaviour: the daemon runs, the instance waits in FAULT.
    wait_for(master_down_v2(100) + Duration::from_secs(3), || {
        a.state("VI_1").as_deref() == Some("MASTER")
    })
    .unwrap_or_else(|| panic!("VI_1 runs beside the waiting VI_2: {}", a.log_text()));
    assert_eq!(
        fault_reason(&a).as_deref(),
        Some("interface eth1 does not exist"),
        "{:?}",
        a.status()
    );

    // The interface appears without an address: still waiting, for that now.
    let (na, nb) = (lab.get("a"), lab.get("b"));
    lab.cable("a", "b", "eth1");
    nb.ip(&["link", "set", "eth1", "up"]);
    na.ip(&["link", "set", "eth1", "up"]);
    wait_for(Duration::from_secs(2), || {
        fault_reason(&a).is_some_and(|r| r.contains("no IPv4 address"))
    })
    .unwrap_or_else(|| panic!("waiting for an address: {:?}", a.status()));

    // With an address it starts, and (no other router on eth1) becomes master.
    na.ip(&["addr", "add", "198.51.100.1/24", "dev", "eth1"]);
    wait_for(master_down_v2(100) + Duration::from_secs(2), || {
        a.state("VI_2").as_deref() == Some("MASTER")
    })
    .unwrap_or_else(|| {
        panic!(
            "VI_2 starts once eth1 is ready: {:?}\n{}",
            a.status(),
            a.log_text()
        )
    });
    let out = na.ip(&["-o", "addr", "show", "dev", "eth1"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("198.51.100.100"),
        "VIP on eth1"
    );
    // In XDP mode the program was attached to the new interface.
    let out = na.ip(&["link", "show", "eth1"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("xdp"),
        "XDP on eth1"
    );
    assert_eq!(a.state("VI_1").as_deref(), Some("MASTER"));
    println!("daemon: an instance on a missing interface waited in FAULT and started when it appeared");
}

#[test]
fn vrrp_garp_interval_spaces_the_gratuitous_arps() {
    if !have_root("vrrp_garp_interval_spaces_the_gratuitous_arps") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("garp-gap");
    // Two VIPs, three gratuitous ARPs each, no second burst; 100 ms between messages.
    let text = "global_defs {\n    vrrp_garp_interval 0.1\n}\n".to_owned()
        + &conf(
            100,
            "    garp_master_repeat 3\n    garp_master_delay 0\n    virtual_ipaddress_excluded {\n        \
             192.0.2.101/24\n    }\n",
        );
    // The switch sees a's frames: capture ARP from its port while a becomes master.
    let capture = lab.capture("a", 6.0, "arp");
    let a = Daemon::start(
        lab.get("a"),
        &dir.write("a.conf", &text),
        &dir.0.join("ra"),
        "xdp",
    );
    wait_for(master_down_v2(100) + Duration::from_secs(2), || {
        a.state("VI_1").as_deref() == Some("MASTER")
    })
    .unwrap_or_else(|| panic!("a becomes master: {}", a.log_text()));
    let text = capture.text();
    let times: Vec<f64> = text
        .lines()
        .filter(|l| l.contains("request who-has 192.0.2.10") && l.contains("tell 192.0.2.10"))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    println!("daemon: gratuitous ARPs with vrrp_garp_interval 0.1: gaps {gaps:.3?}");
    assert_eq!(times.len(), 6, "2 VIPs x 3 gratuitous ARPs:\n{text}");
    assert!(
        gaps.iter().all(|g| *g >= 0.095),
        "at least 100 ms between two gratuitous ARPs: {gaps:.3?}"
    );
}

/// A reload that reorders the VIPs while their gratuitous ARPs are still
/// paced out: every VIP still gets all its copies (the announcer keeps the
/// VIP's place in the list; a place the reload moved is looked up again, not
/// taken for a removed address).
#[test]
fn a_reload_that_reorders_the_vips_keeps_their_gratuitous_arps() {
    if !have_root("a_reload_that_reorders_the_vips_keeps_their_gratuitous_arps") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("garp-reorder");
    let text = |excluded: &str| {
        "global_defs {\n    vrrp_garp_interval 0.25\n}\n".to_owned()
            + &conf(
                100,
                &format!(
                    "    garp_master_repeat 3\n    garp_master_delay 0\n    virtual_ipaddress_excluded {{\n{excluded}    }}\n"
                ),
            )
    };
    let first = "        192.0.2.101/24\n        192.0.2.102/24\n";
    let reordered = "        192.0.2.102/24\n        192.0.2.101/24\n";
    // 3 VIPs x 3 copies, 250 ms apart: 2 s of announcements.
    let capture = lab.capture("a", 8.0, "arp");
    let config = dir.write("a.conf", &text(first));
    let a = Daemon::start(lab.get("a"), &config, &dir.0.join("ra"), "xdp");
    wait_for(master_down_v2(100) + Duration::from_secs(2), || {
        a.state("VI_1").as_deref() == Some("MASTER")
    })
    .unwrap_or_else(|| panic!("a becomes master: {}", a.log_text()));
    std::thread::sleep(Duration::from_millis(300));
    dir.write("a.conf", &text(reordered));
    a.signal("HUP");
    let text = capture.text();
    let count = |vip: &str| {
        text.lines()
            .filter(|l| l.contains(&format!("request who-has {vip} ")) && l.contains(&format!("tell {vip},")))
            .count()
    };
    let counts: Vec<usize> = ["192.0.2.100", "192.0.2.101", "192.0.2.102"]
        .iter()
        .map(|v| count(v))
        .collect();
    println!("daemon: gratuitous ARPs per VIP across a reordering reload: {counts:?}");
    assert!(
        counts.iter().all(|&n| n >= 3),
        "every VIP announced 3 times: {counts:?}\n{text}\n{}",
        a.log_text()
    );
    assert!(
        a.log_text().contains("reload"),
        "the reload ran:\n{}",
        a.log_text()
    );
}

#[test]
fn vrrp_mcast_group4_and_vrrp_startup_delay_are_honoured() {
    if !have_root("vrrp_mcast_group4_and_vrrp_startup_delay_are_honoured") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("mcast-group");
    let text = |priority: u8, delay: &str| {
        format!(
            "global_defs {{\n    vrrp_mcast_group4 224.0.0.99\n{delay}}}\n\
             vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    version 3\n    \
             virtual_router_id 51\n    priority {priority}\n    advert_int 0.1\n    \
             virtual_ipaddress {{\n        192.0.2.100/24\n    }}\n}}\n"
        )
    };
    // The switch sees every advert a sends.
    let capture = lab.capture("a", 5.0, "ip proto 112");
    let started = std::time::Instant::now();
    let a = Daemon::start(
        lab.get("a"),
        &dir.write("a.conf", &text(100, "    vrrp_startup_delay 1.5\n")),
        &dir.0.join("ra"),
        "xdp",
    );
    // b in socket mode hears a only if it joined 224.0.0.99 (the stack drops
    // multicast for groups nobody joined).
    let b = Daemon::start(
        lab.get("b"),
        &dir.write("b.conf", &text(50, "")),
        &dir.0.join("rb"),
        "socket",
    );
    let became_master = wait_for(Duration::from_secs(4), || {
        a.state("VI_1").as_deref() == Some("MASTER")
    })
    .map_or_else(
        || panic!("a becomes master: {}", a.log_text()),
        |_| started.elapsed(),
    );
    // b took over during a's delay, and gives way once a speaks (a preempts).
    wait_for(Duration::from_secs(2), || {
        b.state("VI_1").as_deref() == Some("BACKUP")
    })
    .unwrap_or_else(|| panic!("b backs off for a on 224.0.0.99: {:?}", b.status()));
    let text = capture.text();
    println!("daemon: with vrrp_startup_delay 1.5, a became master {became_master:?} after its start");
    assert!(
        became_master >= Duration::from_millis(1500),
        "a waited vrrp_startup_delay: master after {became_master:?}"
    );
    assert!(
        text.contains("> 224.0.0.99"),
        "adverts to the configured group:\n{text}"
    );
    assert!(!text.contains("224.0.0.18"), "none to the default group:\n{text}");
}

/// An operator's stop during start-up (a long `vrrp_startup_delay`, e.g. a
/// unit stopped while the host boots) ends the daemon at once: no instance
/// starts (no advert, no VIP), the static address it installed goes, and the
/// exit is clean.
#[test]
fn sigterm_during_vrrp_startup_delay_stops_at_once_without_starting() {
    if !have_root("sigterm_during_vrrp_startup_delay_stops_at_once_without_starting") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("startup-stop");
    let conf = "global_defs {\n    vrrp_startup_delay 60\n}\n\
                static_ipaddress {\n    198.51.100.7/24 dev eth0\n}\n\
                vrrp_instance VI_1 {\n    state MASTER\n    interface eth0\n    \
                virtual_router_id 51\n    priority 255\n    advert_int 1\n    \
                virtual_ipaddress {\n        192.0.2.100/24\n    }\n}\n";
    let capture = lab.capture("a", 25.0, "ip proto 112");
    let watching = std::time::Instant::now();
    let mut a = Daemon::start(lab.get("a"), &dir.write("a.conf", conf), &dir.0.join("ra"), "xdp");
    wait_for(Duration::from_secs(10), || {
        a.log_text().contains("vrrp_startup_delay: waiting")
    })
    .unwrap_or_else(|| panic!("a reaches its start-up delay: {}", a.log_text()));
    // Installed by the side thread before the delay (keepalived's statics
    // come before any instance).
    wait_for(Duration::from_secs(3), || {
        lab.addrs("a").contains("198.51.100.7/24")
    })
    .unwrap_or_else(|| panic!("the static address is installed: {}", lab.addrs("a")));
    let asked = std::time::Instant::now();
    let code = a.stop_within(Duration::from_secs(5));
    let took = asked.elapsed();
    println!("daemon: SIGTERM during vrrp_startup_delay 60: exit {code:?} after {took:?}");
    let log = a.log_text();
    assert_eq!(code, Some(0), "a clean exit, within 5 s: {log}");
    assert!(
        took < Duration::from_secs(3),
        "the stop did not wait for start-up: {took:?}"
    );
    assert!(
        !log.contains("Entering")
            && !log.contains("xvrrpd running")
            && log.contains("stopped during start-up"),
        "no instance started (no transition logged): {log}"
    );
    assert!(
        !lab.addrs("a").contains("198.51.100.7"),
        "the static address is removed: {}",
        lab.addrs("a")
    );
    // The capture was running from before the start to after the exit, so
    // an advert sent at any point in between is in it.
    assert!(
        watching.elapsed() < Duration::from_secs(24),
        "the capture window covers the daemon's whole life ({:?})",
        watching.elapsed()
    );
    let text = capture.text();
    assert!(!text.contains("vrid 51"), "no advert was sent:\n{text}");
}

#[test]
fn no_accept_master_answers_arp_but_drops_traffic_to_the_vip() {
    if !have_root("no_accept_master_answers_arp_but_drops_traffic_to_the_vip") {
        return;
    }
    let mut lab = two_hosts();
    lab.host("c", &["192.0.2.50/24"]);
    let dir = Scratch::new("no-accept");
    let a = Daemon::start(
        lab.get("a"),
        &dir.write("a.conf", &conf(100, "    no_accept\n")),
        &dir.0.join("ra"),
        "xdp",
    );
    wait_for(master_down_v2(100) + Duration::from_secs(3), || {
        a.state("VI_1").as_deref() == Some("MASTER") && has_vip(&lab, "a", "192.0.2.100")
    })
    .expect("a becomes master");
    let in_c = |args: &[&str]| lab.get("c").try_exec(args);
    // RFC 5798 6.4.3: the VIP resolves (ARP answered) ...
    let (answered, _) = lab.get("c").arping("eth0", "192.0.2.100", 1, 2);
    assert!(answered, "ARP for the VIP is answered");
    // ... but what is addressed to it is not accepted; a's own address still is.
    let ping_vip = in_c(&["ping", "-c", "2", "-i", "0.2", "-W", "1", "192.0.2.100"]);
    assert!(!ping_vip.status.success(), "no_accept: the VIP does not answer");
    let ping_a = in_c(&["ping", "-c", "1", "-W", "1", "192.0.2.1"]);
    assert!(ping_a.status.success(), "a's own address answers");
    assert!(
        a.counter("no_accept") >= 2,
        "dropped and counted: {:?}",
        a.status()
    );
}

#[test]
fn vmac_xmit_base_sends_adverts_from_the_interface_mac() {
    if !have_root("vmac_xmit_base_sends_adverts_from_the_interface_mac") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("vmac-base");
    let a = Daemon::start(
        lab.get("a"),
        &dir.write("a.conf", &conf(100, "    use_vmac\n    vmac_xmit_base\n")),
        &dir.0.join("ra"),
        "xdp-skb",
    );
    wait_for(master_down_v2(100) + Duration::from_secs(3), || {
        a.state("VI_1").as_deref() == Some("MASTER")
    })
    .expect("a becomes master");
    let adverts = lab.capture("a", 2.5, "ip proto 112").text();
    let mac = lab.get("a").mac("eth0");
    let own = format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} >",
        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
    );
    let lines: Vec<&str> = adverts.lines().filter(|l| l.contains("vrrp")).collect();
    assert!(lines.len() >= 2, "a's adverts seen:\n{adverts}");
    assert!(
        lines.iter().all(|l| l.contains(&own)),
        "every advert from the interface MAC {own}:\n{adverts}"
    );
}

#[test]
fn a_sync_group_member_waiting_for_its_interface_holds_the_group_in_fault() {
    if !have_root("a_sync_group_member_waiting_for_its_interface_holds_the_group_in_fault") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("group-wait");
    let text = "vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n}\n".to_owned()
        + &conf(100, "")
        + "vrrp_instance VI_2 {\n    interface eth1\n    virtual_router_id 52\n    priority 100\n    \
           advert_int 1\n    virtual_ipaddress {\n        198.51.100.100/24\n    }\n}\n";
    let a = Daemon::start(
        lab.get("a"),
        &dir.write("a.conf", &text),
        &dir.0.join("ra"),
        "xdp",
    );
    let vi1 = || -> Option<(String, String)> {
        let st = a.status()?;
        let i = st["instances"]
            .as_array()?
            .iter()
            .find(|i| i["name"] == "VI_1")?
            .clone();
        Some((
            i["state"].as_str()?.to_owned(),
            i["fault_reason"].as_str().unwrap_or("").to_owned(),
        ))
    };
    wait_for(Duration::from_secs(3), || vi1().is_some()).expect("a runs");
    std::thread::sleep(master_down_v2(100));
    let (state, why) = vi1().unwrap();
    assert_eq!(state, "FAULT", "VI_1 follows its waiting group member: {why}");
    assert!(why.contains("VI_2 waiting"), "{why}");
    assert!(
        !has_vip(&lab, "a", "192.0.2.100"),
        "no VIP while the group is in FAULT"
    );
}

#[test]
fn systemd_readiness_is_reported_once_running() {
    if !have_root("systemd_readiness_is_reported_once_running") {
        return;
    }
    use std::os::unix::net::UnixDatagram;
    let lab = two_hosts();
    let dir = Scratch::new("sdnotify");
    let sock_path = dir.0.join("notify.sock");
    let listener = UnixDatagram::bind(&sock_path).unwrap();
    listener.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let conf_path = dir.write("a.conf", &conf(100, ""));
    let mut child = std::process::Command::new("ip")
        .args(["netns", "exec", lab.get("a").name()])
        .arg(xvrrp_tests::daemon::xvrrpd_bin())
        .args(["run", "--mode", "socket", "-f"])
        .arg(&conf_path)
        .arg("--run-dir")
        .arg(dir.0.join("ra"))
        .env("NOTIFY_SOCKET", &sock_path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 64];
    let got = listener
        .recv(&mut buf)
        .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned());
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let stopping = listener
        .recv(&mut buf)
        .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned());
    assert_eq!(
        got.ok().as_deref(),
        Some("READY=1"),
        "sd_notify READY=1 on the NOTIFY_SOCKET"
    );
    assert_eq!(
        stopping.ok().as_deref(),
        Some("STOPPING=1"),
        "sd_notify STOPPING=1 at SIGTERM"
    );
}

#[test]
fn use_vmac_without_macvlan_keeps_the_vip_at_one_mac_across_failover() {
    if !have_root("use_vmac_without_macvlan_keeps_the_vip_at_one_mac_across_failover") {
        return;
    }
    let mut lab = two_hosts();
    lab.host("c", &["192.0.2.50/24"]);
    let dir = Scratch::new("vmac");
    // Generic (skb) XDP: a veth in native mode does not re-derive the packet type after
    // the program rewrites the destination MAC (a NIC's native XDP runs before the skb exists).
    // `--vmac xdp`: no macvlan, the program stands in for it.
    let no_macvlan = ["--vmac", "xdp"];
    let mut a = Daemon::start_args(
        lab.get("a"),
        &dir.write("a.conf", &conf(100, "    use_vmac\n")),
        &dir.0.join("ra"),
        "xdp-skb",
        &no_macvlan,
    );
    let b = Daemon::start_args(
        lab.get("b"),
        &dir.write("b.conf", &conf(90, "    use_vmac\n")),
        &dir.0.join("rb"),
        "xdp-skb",
        &no_macvlan,
    );
    wait_elected(&a, &b, master_down_v2(100) + Duration::from_secs(3));
    for host in ["a", "b"] {
        let links = lab.get(host).ip(&["-o", "link", "show"]);
        assert!(
            !String::from_utf8_lossy(&links.stdout).contains("vrrp.51"),
            "--vmac xdp makes no macvlan"
        );
    }
    let client = lab.get("c");
    let ping = || {
        std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                client.name(),
                "ping",
                "-c",
                "3",
                "-i",
                "0.2",
                "-W",
                "1",
                "192.0.2.100",
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let (_, seen) = client.arping("eth0", "192.0.2.100", 1, 2);
    assert!(
        seen.contains("00:00:5e:00:01:33"),
        "ARP for the VIP answers with the virtual MAC: {seen}"
    );
    // Frames to the virtual MAC reach the VIP on a, and what the client
    // learned stays the virtual MAC (a's own ARP requests to reach the client
    // do not announce the VIP with the interface MAC: arp_announce 2).
    assert!(ping(), "frames to the virtual MAC reach the VIP on a");
    let neigh = || {
        let out = client.ip(&["neigh", "show", "192.0.2.100", "dev", "eth0"]);
        String::from_utf8_lossy(&out.stdout).to_lowercase()
    };
    assert!(
        neigh().contains("00:00:5e:00:01:33"),
        "the client holds the virtual MAC for the VIP: {}",
        neigh()
    );
    // RFC 5798 7.3: the master's adverts come from the virtual MAC, so the
    // switch learns where it lives (seen from a's switch port).
    let adverts = lab.capture("a", 2.5, "ip proto 112").text();
    let from_vmac = adverts
        .lines()
        .filter(|l| l.contains("00:00:5e:00:01:33 > 01:00:5e:00:00:12"))
        .count();
    assert!(from_vmac >= 2, "a's adverts carry the virtual MAC:\n{adverts}");
    let all = adverts.lines().filter(|l| l.contains("vrrp")).count();
    assert_eq!(from_vmac, all, "and only it:\n{adverts}");

    a.stop();
    wait_for(Duration::from_secs(3), || {
        b.state("VI_1").as_deref() == Some("MASTER")
    })
    .expect("b takes over");
    // No ARP change: the same virtual MAC now lives on b.
    assert!(ping(), "the client reaches the VIP on b through the same MAC");
    assert!(
        neigh().contains("00:00:5e:00:01:33"),
        "still the virtual MAC after the failover: {}",
        neigh()
    );
}

#[test]
fn state_json_that_cannot_be_written_is_retried_off_the_protocol_path() {
    if !have_root("state_json_that_cannot_be_written_is_retried_off_the_protocol_path") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("statejson");
    let run = dir.0.join("ra");
    // The atomic write renames a new file over state.json: a directory
    // there makes every write fail (as a full or read-only run directory
    // would).
    fs::create_dir_all(run.join("state.json")).unwrap();
    let a = Daemon::start(lab.get("a"), &dir.write("a.conf", &conf(150, "")), &run, "xdp");
    wait_for(Duration::from_secs(8), || {
        a.state("VI_1").as_deref() == Some("MASTER")
    })
    .unwrap_or_else(|| panic!("a never became master:\n{}", a.log_text()));
    wait_for(Duration::from_secs(3), || a.log_text().contains("cannot write"))
        .unwrap_or_else(|| panic!("the failed write is not reported:\n{}", a.log_text()));
    assert!(run.join("state.json").is_dir());
    // The protocol goes on meanwhile: still master, still answering.
    assert_eq!(a.state("VI_1").as_deref(), Some("MASTER"));
    fs::remove_dir(run.join("state.json")).unwrap();
    wait_for(Duration::from_secs(3), || {
        fs::read_to_string(run.join("state.json")).is_ok_and(|t| t.contains("VI_1"))
    })
    .unwrap_or_else(|| {
        panic!(
            "state.json never written after the fault cleared:\n{}",
            a.log_text()
        )
    });
}
