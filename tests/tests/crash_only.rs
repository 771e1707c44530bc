//! Crash-only controller: after a SIGKILL the data path keeps the VIP
//! reachable, and a controller restarted within a second adopts it and resumes
//! adverts before the peer's Master_Down_Interval runs out: no state change on
//! either router. A controller started differently removes every leftover.

use std::{path::Path, time::Duration};

use xvrrp_common::maps;

use xvrrp_tests::{
    classic::{Classic, Probe, VIP, longest_gap},
    daemon::{Daemon, Scratch, SharedBpffs, wait_for},
    have_root,
    lab::Lab,
};

const LOADED_BY_LOADER: &str = "data path loaded and pinned by a loader process";

fn xdp_attached(c: &Classic, host: &str) -> bool {
    String::from_utf8_lossy(&c.lab.get(host).ip(&["link", "show", "eth0"]).stdout).contains("prog/xdp")
}

#[test]
fn sigkilled_master_is_adopted_by_its_restart_without_a_state_change() {
    if !have_root("sigkilled_master_is_adopted_by_its_restart_without_a_state_change") {
        return;
    }
    let bpffs = SharedBpffs::mount("crash");
    let shared = ["--bpffs", bpffs.0.to_str().unwrap()];
    let mut c = Classic::new("crash");
    c.start_daemon_args("a", "xdp", &shared);
    c.start_daemon("b", "xdp");
    wait_for(Duration::from_secs(8), || {
        c.state("a").as_deref() == Some("MASTER")
            && c.state("b").as_deref() == Some("BACKUP")
            && c.holds_vip("a")
    })
    .expect("election");
    let b_transitions = c.daemon("b").status().unwrap()["instances"][0]["transitions"].clone();
    let pins_before = bpffs.pin_dirs();
    assert!(!pins_before.is_empty(), "XDP mode pins its data path");
    // The event ring is sized to the configuration (one instance: the
    // smallest ring), not the object's 1 MiB (the daemon maps all of it).
    let events = bpffs.0.join("xvrrp").join(&pins_before[0]).join(maps::EVENTS);
    let ring = aya::maps::MapData::from_pin(&events).expect("the event ring's pin");
    assert_eq!(
        ring.info().unwrap().max_entries(),
        maps::events_bytes_for(1),
        "ring bytes for one instance"
    );
    drop(ring);
    // The program was loaded by a loader process, not by the daemon (its
    // memory peak stays out of the daemon).
    assert!(
        c.daemon("a").log_text().contains(LOADED_BY_LOADER),
        "{}",
        c.daemon("a").log_text()
    );

    let probe = Probe::start(c.client(), Duration::from_millis(10));
    std::thread::sleep(Duration::from_millis(300));
    c.daemon("a").signal("KILL");
    std::thread::sleep(Duration::from_millis(300));
    // Dead controller: the address and the XDP program stay (it answers ARP for the VIP).
    assert!(c.holds_vip("a"), "the VIP stays on a");
    assert!(xdp_attached(&c, "a"), "the pinned XDP program stays attached");
    assert!(
        Path::new(&c.host_dir("a").join("run/xvrrpd.pid")).exists(),
        "a stale pid file is left"
    );

    // Restarted as systemd's Restart= would, within a second.
    c.start_daemon_args("a", "xdp", &shared);
    wait_for(Duration::from_secs(2), || {
        c.state("a").as_deref() == Some("MASTER")
    })
    .unwrap_or_else(|| {
        panic!(
            "a did not resume as master: {:?}\n{}",
            c.state("a"),
            c.daemon("a").log_text()
        )
    });
    assert!(
        c.daemon("a")
            .log_text()
            .contains("adopting the running data path"),
        "{}",
        c.daemon("a").log_text()
    );
    // Adopted from the pins: nothing loaded again.
    assert!(
        !c.daemon("a").log_text().contains(LOADED_BY_LOADER),
        "{}",
        c.daemon("a").log_text()
    );
    // Longer than b's Master_Down_Interval (3.65 s) from the kill: b must never have moved.
    std::thread::sleep(Duration::from_secs(4));
    let samples = probe.finish();
    assert_eq!(c.state("b").as_deref(), Some("BACKUP"));
    assert_eq!(
        c.daemon("b").status().unwrap()["instances"][0]["transitions"],
        b_transitions,
        "no state change on b"
    );
    assert_eq!(
        c.daemon("a").status().unwrap()["instances"][0]["transitions"],
        1,
        "a: INIT -> MASTER only"
    );
    let gap = longest_gap(&samples);
    println!("crash-only: SIGKILL + restart of the master; client interruption {gap:?}; b stayed BACKUP");
    assert!(
        gap < Duration::from_secs(1),
        "client interruption {gap:?} >= one advert interval"
    );

    // Another start (socket mode this time) does not adopt: it removes the leftovers.
    c.daemon("a").signal("KILL");
    std::thread::sleep(Duration::from_millis(200));
    c.start_daemon_args("a", "socket", &shared);
    wait_for(Duration::from_secs(3), || c.daemon("a").status().is_some()).expect("socket-mode a runs");
    assert!(!xdp_attached(&c, "a"), "the old XDP attachment is gone");
    assert!(
        bpffs.pin_dirs().is_empty(),
        "its pins are gone: {:?}",
        bpffs.pin_dirs()
    );
    assert!(
        c.daemon("a")
            .log_text()
            .contains("removing a previous run's data path")
    );
}

/// A backup that took over from a master that vanished (its link went down)
/// still holds that master's last advert in the map. Killed and restarted,
/// it resumes as master; the dead master's record (a higher priority) must
/// not unseat it: only adverts heard after it became master count.
#[test]
fn restarted_master_ignores_the_record_of_a_master_that_died_before_it() {
    if !have_root("restarted_master_ignores_the_record_of_a_master_that_died_before_it") {
        return;
    }
    let bpffs = SharedBpffs::mount("stale");
    let shared = ["--bpffs", bpffs.0.to_str().unwrap()];
    let mut c = Classic::new("stale");
    c.start_daemon("a", "xdp");
    c.start_daemon_args("b", "xdp", &shared);
    wait_for(Duration::from_secs(8), || {
        c.state("a").as_deref() == Some("MASTER") && c.state("b").as_deref() == Some("BACKUP")
    })
    .expect("election");
    // a disappears without a word (no priority-0 advert): b takes over.
    c.lab.port("a", false);
    wait_for(Duration::from_secs(6), || {
        c.state("b").as_deref() == Some("MASTER")
    })
    .expect("b takes over");
    c.daemon("b").signal("KILL");
    std::thread::sleep(Duration::from_millis(200));
    // Someone deletes the VIP while no daemon runs: the resumed master adds
    // it again (a start adopts only the addresses that are there).
    c.lab
        .get("b")
        .ip(&["addr", "del", &format!("{VIP}/32"), "dev", "eth0"]);
    c.start_daemon_args("b", "xdp", &shared);
    wait_for(Duration::from_secs(2), || {
        c.state("b").as_deref() == Some("MASTER") && c.holds_vip("b")
    })
    .unwrap_or_else(|| {
        panic!(
            "b did not resume as master with the VIP:\n{}",
            c.daemon("b").log_text()
        )
    });
    // Three of its adverts, each of which reads the map.
    std::thread::sleep(Duration::from_secs(3));
    let log = c.daemon("b").log_text();
    assert_eq!(c.state("b").as_deref(), Some("MASTER"), "b stepped down:\n{log}");
    assert_eq!(
        c.daemon("b").status().unwrap()["instances"][0]["transitions"],
        1,
        "b: INIT -> MASTER only\n{log}"
    );
    assert!(!log.contains("split brain"), "no phantom peer:\n{log}");
    println!("crash-only: a restarted takeover master ignored the dead master's record");
}

/// An ARP request for the VIP from the client, its cache flushed first: true
/// when a reply came (Habets' arping, `-i IFACE`).
fn client_arp_answered(c: &Classic) -> bool {
    let client = c.client();
    client.ip(&["neigh", "flush", "dev", "eth0"]);
    client.arping("eth0", VIP, 2, 3).0
}

fn transitions(c: &Classic, host: &str) -> serde_json::Value {
    c.daemon(host).status().expect("status")["instances"][0]["transitions"].clone()
}

/// The other crash-only promises of the README, one after the other on one
/// lab: a killed backup restarts as backup and the master sees nothing; while
/// the master's daemon is dead the XDP program still answers ARP for its VIP
/// (a runs `--mode xdp-skb`, where XDP answers on a veth; the kernel is told to
/// answer nothing meanwhile, so the reply can only be XDP's); a master
/// restarted with another configuration removes the leftovers and starts
/// afresh; SIGTERM takes everything down (pins, attachment, address).
#[test]
fn killed_backup_dead_master_arp_other_config_and_sigterm() {
    if !have_root("killed_backup_dead_master_arp_other_config_and_sigterm") {
        return;
    }
    let bpffs = SharedBpffs::mount("variants");
    let shared = ["--bpffs", bpffs.0.to_str().unwrap()];
    let mut c = Classic::new("variants");
    c.start_daemon_args("a", "xdp-skb", &shared);
    // One at a time, so that the second pin directory is b's.
    wait_for(Duration::from_secs(8), || bpffs.pin_dirs().len() == 1).expect("a's pins");
    let a_dir = bpffs.pin_dirs()[0].clone();
    c.start_daemon_args("b", "xdp", &shared);
    wait_for(Duration::from_secs(8), || {
        c.state("a").as_deref() == Some("MASTER")
            && c.state("b").as_deref() == Some("BACKUP")
            && c.holds_vip("a")
    })
    .expect("election");
    // Settled, not just reached: started together, b's Master_Down timer can
    // expire first (a's loader process takes longer), so b may be master
    // until a preempts it, and its crash-only record says so for up to 50 ms
    // more (SAVE_EVERY_US). Killed inside that window, b is a killed master,
    // which restarts as master (the first test): not this test's case.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        c.state("a").as_deref() == Some("MASTER") && c.state("b").as_deref() == Some("BACKUP"),
        "the election did not settle:\n{}\n---- a\n{}",
        c.daemon("b").log_text(),
        c.daemon("a").log_text()
    );
    let a_transitions = transitions(&c, "a");

    // A killed backup whose pins are lost too (bpffs unmounted, a pin
    // removed by hand), restarted at once: it resumes its record with a data
    // path loaded afresh and says so; backup again, the master undisturbed.
    c.daemon("b").signal("KILL");
    std::thread::sleep(Duration::from_millis(200));
    let b_dir = bpffs.0.join("xvrrp").join(
        bpffs
            .pin_dirs()
            .into_iter()
            .find(|d| *d != a_dir)
            .expect("b's pins"),
    );
    for pin in std::fs::read_dir(&b_dir).unwrap().flatten() {
        std::fs::remove_file(pin.path()).unwrap();
    }
    c.start_daemon_args("b", "xdp", &shared);
    wait_for(Duration::from_secs(3), || {
        c.state("b").as_deref() == Some("BACKUP")
    })
    .unwrap_or_else(|| panic!("b restarts as backup:\n{}", c.daemon("b").log_text()));
    let log = c.daemon("b").log_text();
    assert!(
        log.contains("its data path's maps were gone: loaded afresh"),
        "{log}"
    );
    assert!(!log.contains("adopting the running data path"), "{log}");
    // Longer than b's Master_Down_Interval: it must hear a and stay.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        c.state("b").as_deref(),
        Some("BACKUP"),
        "{}",
        c.daemon("b").log_text()
    );
    assert_eq!(
        transitions(&c, "b"),
        1,
        "b: INIT -> BACKUP only\n{}\n---- a\n{}",
        c.daemon("b").log_text(),
        c.daemon("a").log_text()
    );
    assert_eq!(transitions(&c, "a"), a_transitions, "a saw nothing");

    // The master's daemon dies: its VIP stays and XDP answers for it (the client asks afresh).
    c.daemon("a").signal("KILL");
    std::thread::sleep(Duration::from_millis(200));
    assert!(c.holds_vip("a"), "the VIP stays on a");
    let kernel_silent = |on: bool| {
        let value = if on { "8" } else { "0" };
        c.lab
            .get("a")
            .exec(&["sysctl", "-qw", &format!("net.ipv4.conf.eth0.arp_ignore={value}")]);
    };
    kernel_silent(true);
    let answered = client_arp_answered(&c);
    kernel_silent(false);
    assert!(answered, "XDP answers ARP for the VIP while a's daemon is dead");

    // Restarted with another configuration: no adoption; leftovers removed, fresh start.
    let conf = std::fs::read_to_string(c.config("a"))
        .unwrap()
        .replace("priority 100", "priority 110");
    let other = c.host_dir("a").join("other.conf");
    std::fs::write(&other, conf).unwrap();
    let old_pins = bpffs.pin_dirs();
    drop(c.daemons[0].take());
    c.daemons[0] = Some(Daemon::start_args(
        c.lab.get("a"),
        &other,
        &c.host_dir("a").join("run"),
        "xdp-skb",
        &shared,
    ));
    wait_for(Duration::from_secs(8), || {
        c.state("a").as_deref() == Some("MASTER") && c.holds_vip("a")
    })
    .unwrap_or_else(|| panic!("a with the other config:\n{}", c.daemon("a").log_text()));
    let log = c.daemon("a").log_text();
    assert!(log.contains("removing a previous run's data path"), "{log}");
    assert!(!log.contains("adopting"), "{log}");
    assert_eq!(
        c.daemon("a").status().unwrap()["instances"][0]["priority"],
        110,
        "the new configuration runs"
    );
    assert_eq!(
        bpffs.pin_dirs().len(),
        old_pins.len(),
        "one pin directory per daemon: {:?}",
        bpffs.pin_dirs()
    );

    // SIGTERM: a priority-0 advert, the VIP removed, the pins and the attachment gone.
    let a_pins: Vec<String> = bpffs.pin_dirs();
    let code = c.stop_daemon("a");
    assert_eq!(code, Some(0), "SIGTERM exits 0");
    assert!(!c.holds_vip("a"), "the VIP is removed");
    assert!(!xdp_attached(&c, "a"), "the XDP attachment is gone");
    let left = bpffs.pin_dirs();
    assert_eq!(
        left.len() + 1,
        a_pins.len(),
        "a's pins are gone, b's stay: {a_pins:?} -> {left:?}"
    );
    wait_for(Duration::from_secs(2), || {
        c.state("b").as_deref() == Some("MASTER")
    })
    .expect("b takes over at once (priority 0 advert: Skew_Time)");
    println!("crash-only variants: killed backup, ARP while dead, other config, SIGTERM: as promised");
}

/// Found by the field soak: socket mode kept no record, so a SIGKILLed
/// master's VIP stayed on its interface, and the next run took it for an
/// operator's address (it exists: not ours to remove) and held it as a
/// backup for good, beside the real master. Socket mode now keeps the record
/// too, and a start that adopts nothing also removes the configured VIPs it
/// finds that no record names, as keepalived's start does
/// (`vrrp_restore_interfaces_startup`).
#[test]
fn socket_mode_start_removes_the_vip_a_killed_master_left() {
    if !have_root("socket_mode_start_removes_the_vip_a_killed_master_left") {
        return;
    }
    let mut c = Classic::new("stale-sock");
    c.start_daemon("a", "socket");
    c.start_daemon("b", "socket");
    wait_for(Duration::from_secs(8), || {
        c.state("a").as_deref() == Some("MASTER") && c.holds_vip("a")
    })
    .expect("a master");
    // Past the record's 50 ms (a kill inside it is the case further down).
    std::thread::sleep(Duration::from_millis(200));
    c.daemon("a").signal("KILL");
    wait_for(Duration::from_secs(8), || {
        c.state("b").as_deref() == Some("MASTER") && c.holds_vip("b")
    })
    .expect("b takes over");
    assert!(c.holds_vip("a"), "a SIGKILL leaves the VIP on a");
    // a comes back below b: it must be a backup without the VIP.
    let conf = std::fs::read_to_string(c.config("a"))
        .unwrap()
        .replace("priority 100", "priority 50");
    let lower = c.host_dir("a").join("lower.conf");
    std::fs::write(&lower, conf).unwrap();
    drop(c.daemons[0].take());
    c.daemons[0] = Some(Daemon::start(
        c.lab.get("a"),
        &lower,
        &c.host_dir("a").join("run"),
        "socket",
    ));
    wait_for(Duration::from_secs(5), || {
        c.state("a").as_deref() == Some("BACKUP") && !c.holds_vip("a")
    })
    .unwrap_or_else(|| panic!("a a backup without the VIP:\n{}", c.daemon("a").log_text()));
    let log = c.daemon("a").log_text();
    let line = log
        .lines()
        .find(|l| l.contains("removing a previous run's data path, addresses"))
        .unwrap_or_else(|| panic!("no removal logged:\n{log}"));
    assert!(line.contains("vips=1"), "the record named the VIP: {line}");
    // And it stays so: the VIP is b's alone past a Master_Down_Interval.
    std::thread::sleep(Duration::from_secs(4));
    assert!(!c.holds_vip("a") && c.holds_vip("b"));
    assert_eq!(c.state("b").as_deref(), Some("MASTER"));
    assert_eq!(c.state("a").as_deref(), Some("BACKUP"));
    // A VIP no record names (keepalived's leftover, a kill within the
    // record's 50 ms): the start removes it too.
    assert_eq!(c.stop_daemon("a"), Some(0));
    c.lab
        .get("a")
        .ip(&["addr", "add", &format!("{VIP}/32"), "dev", "eth0"]);
    drop(c.daemons[0].take());
    c.daemons[0] = Some(Daemon::start(
        c.lab.get("a"),
        &lower,
        &c.host_dir("a").join("run"),
        "socket",
    ));
    wait_for(Duration::from_secs(5), || {
        c.state("a").as_deref() == Some("BACKUP") && !c.holds_vip("a")
    })
    .unwrap_or_else(|| panic!("the unrecorded VIP removed:\n{}", c.daemon("a").log_text()));
    let log = c.daemon("a").log_text();
    assert!(
        log.contains("removed=1") && log.contains("removed configured VIPs a previous run left"),
        "{log}"
    );
    // A plain restart of the master (SIGTERM) still ends with the VIP gone.
    assert_eq!(c.stop_daemon("b"), Some(0));
    assert!(!c.holds_vip("b"));
}

/// A `static_ipaddress` that is also an instance's VIP belongs to the static
/// entry (keepalived installs its statics before any instance; the VIP's add
/// finds it there): a master stepping down (here to FAULT, by a tracked
/// file) leaves it, never absent for a moment, and so after a SIGKILL and a
/// crash-only restart that resumes the master and adopts its VIPs.
#[test]
fn a_static_address_that_is_also_a_vip_stays_when_its_master_steps_down() {
    if !have_root("a_static_address_that_is_also_a_vip_stays_when_its_master_steps_down") {
        return;
    }
    let bpffs = SharedBpffs::mount("static-vip");
    let shared = ["--bpffs", bpffs.0.to_str().unwrap()];
    let mut lab = Lab::new();
    lab.host("a", &["192.0.2.1/24"]);
    let dir = Scratch::new("static-vip");
    let track = dir.write("fault", "0\n");
    let conf = format!(
        "static_ipaddress {{\n    192.0.2.100/24 dev eth0\n}}\n\
         track_file fault {{\n    file {}\n    weight 0\n}}\n\
         vrrp_instance VI_1 {{\n    state MASTER\n    interface eth0\n    virtual_router_id 51\n    \
         priority 150\n    advert_int 1\n    track_file {{\n        fault\n    }}\n    \
         virtual_ipaddress {{\n        192.0.2.100/24\n        192.0.2.101/24\n    }}\n}}\n",
        track.display()
    );
    let conf = dir.write("a.conf", &conf);
    let run = dir.0.join("ra");
    let held = |lab: &Lab| {
        let a = lab.addrs("a");
        (a.contains("192.0.2.100/24"), a.contains("192.0.2.101/24"))
    };
    // Faults the master by its tracked file, and watches the static address
    // every 10 ms until the other VIP is gone (and 300 ms more).
    let fault_and_watch = |lab: &Lab, d: &Daemon, when: &str| {
        std::fs::write(&track, "1\n").unwrap();
        let start = std::time::Instant::now();
        let mut gone_at = None;
        while start.elapsed() < Duration::from_secs(5) {
            let (stat, vip) = held(lab);
            assert!(
                stat,
                "{when}: the static address went with the VIP ({:?} after the fault):\n{}",
                start.elapsed(),
                d.log_text()
            );
            if !vip && gone_at.is_none() {
                gone_at = Some(std::time::Instant::now());
            }
            if gone_at.is_some_and(|t| t.elapsed() > Duration::from_millis(300)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            gone_at.is_some(),
            "{when}: the VIP stays after the fault:\n{}",
            d.log_text()
        );
        assert_eq!(d.state("VI_1").as_deref(), Some("FAULT"), "{when}");
        std::fs::write(&track, "0\n").unwrap();
    };
    let a = Daemon::start_args(lab.get("a"), &conf, &run, "xdp", &shared);
    wait_for(Duration::from_secs(8), || {
        a.state("VI_1").as_deref() == Some("MASTER") && held(&lab) == (true, true)
    })
    .unwrap_or_else(|| panic!("a becomes master: {}", a.log_text()));
    fault_and_watch(&lab, &a, "first run");
    wait_for(Duration::from_secs(8), || {
        a.state("VI_1").as_deref() == Some("MASTER") && held(&lab) == (true, true)
    })
    .unwrap_or_else(|| panic!("a is master again: {}", a.log_text()));
    // Recorded as master (the record is written within 50 ms of a change).
    std::thread::sleep(Duration::from_millis(300));
    a.signal("KILL");
    std::thread::sleep(Duration::from_millis(200));
    drop(a);
    let b = Daemon::start_args(lab.get("a"), &conf, &run, "xdp", &shared);
    // From its start to 500 ms after it is master again (its start clears
    // stale VIPs, adopts, installs the statics): the static address stays.
    let started = std::time::Instant::now();
    let mut master_at = None;
    while master_at.is_none_or(|t: std::time::Instant| t.elapsed() < Duration::from_millis(500)) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the restart resumes as master: {}",
            b.log_text()
        );
        assert!(
            held(&lab).0,
            "the restart took the static address away ({:?} after its start):\n{}",
            started.elapsed(),
            b.log_text()
        );
        if master_at.is_none() && b.state("VI_1").as_deref() == Some("MASTER") {
            master_at = Some(std::time::Instant::now());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        b.log_text().contains("adopting the running data path"),
        "{}",
        b.log_text()
    );
    // Not even for a moment between the stale VIPs' removal and the
    // statics' install (too short for the polling above).
    assert!(
        !b.log_text().contains("removed a VIP a previous run left"),
        "the restart removed the static address as a stale VIP:\n{}",
        b.log_text()
    );
    fault_and_watch(&lab, &b, "after the crash-only restart");
    assert!(
        !b.log_text().contains("deleted by someone else"),
        "no deletion taken for another's doing:\n{}",
        b.log_text()
    );
    println!("crash-only: a static address that is also a VIP stayed through two step-downs");
}
