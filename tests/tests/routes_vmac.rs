//! Addresses are not all (issue routes-vmac): `virtual_routes` and
//! `virtual_rules` follow mastership, and `use_vmac` makes keepalived's
//! macvlan, with keepalived 2.2.7 as the peer, on plain veths behind a
//! bridge.

use std::{fs, time::Duration};

use xvrrp_tests::{
    daemon::{Daemon, Keepalived, Scratch, SharedBpffs, wait_for},
    have_root,
    lab::Lab,
};

const ROUTES: &str = "    virtual_routes {\n        10.200.0.0/16 via 192.0.2.254 dev eth0\n        \
                      blackhole 10.201.0.0/16\n        default via 192.0.2.254 table 100\n    }\n    \
                      virtual_rules {\n        from 192.0.2.100/32 table 100 priority 100\n    }\n";

fn conf(priority: u8, extra: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority {priority}\n    advert_int 1\n    virtual_ipaddress {{\n        192.0.2.100/24\n    }}\n{ROUTES}{extra}}}\n"
    )
}

/// What host `ns` has of the routes and the rule: (10.200/16, blackhole
/// 10.201/16, default in table 100, the rule).
fn has(lab: &Lab, host: &str) -> (bool, bool, bool, bool) {
    // `ip route show table 100` fails while the table does not exist.
    let out = |args: &[&str]| {
        let mut cmd = vec!["ip"];
        cmd.extend_from_slice(args);
        let o = lab.get(host).try_exec(&cmd);
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let main = out(&["route", "show", "table", "main"]);
    let t100 = out(&["route", "show", "table", "100"]);
    let rules = out(&["rule", "show"]);
    (
        main.lines()
            .any(|l| l.starts_with("10.200.0.0/16 via 192.0.2.254")),
        main.lines().any(|l| l.starts_with("blackhole 10.201.0.0/16")),
        t100.lines().any(|l| l.starts_with("default via 192.0.2.254")),
        rules
            .lines()
            .any(|l| l.starts_with("100:") && l.contains("from 192.0.2.100 lookup 100")),
    )
}

const ALL: (bool, bool, bool, bool) = (true, true, true, true);
const NONE: (bool, bool, bool, bool) = (false, false, false, false);

#[test]
fn virtual_routes_and_rules_follow_mastership_through_a_failover_and_back() {
    if !have_root("virtual_routes_and_rules_follow_mastership_through_a_failover_and_back") {
        return;
    }
    let mut lab = Lab::new();
    lab.host("a", &["192.0.2.1/24"]);
    lab.host("b", &["192.0.2.2/24"]);
    let dir = Scratch::new("vroutes");
    // One route the kernel refuses (its gateway is on no link): logged with
    // the instance and the entry; the instance runs on.
    let refused = "    virtual_routes {\n        10.202.0.0/16 via 198.51.100.1\n    }\n";
    let a_conf = dir.write("a.conf", &conf(150, refused));
    let b_conf = dir.write("b.conf", &conf(100, ""));
    fs::create_dir_all(dir.0.join("kb")).unwrap();
    let mut b = Keepalived::start(lab.get("b"), &b_conf, &dir.0.join("kb"));
    let mut a = Daemon::start(lab.get("a"), &a_conf, &dir.0.join("ra"), "auto");
    let logs = |a: &Daemon, b: &Keepalived| format!("{}\n------\n{}", a.log_text(), b.log_text());
    wait_for(Duration::from_secs(12), || {
        has(&lab, "a") == ALL && has(&lab, "b") == NONE
    })
    .unwrap_or_else(|| {
        panic!(
            "a master with the routes: a {:?} b {:?}\n{}",
            has(&lab, "a"),
            has(&lab, "b"),
            logs(&a, &b)
        )
    });
    assert_eq!(a.state("VI_1").as_deref(), Some("MASTER"));
    let log = a.log_text();
    assert!(
        log.contains("VI_1") && log.contains("10.202.0.0/16 via 198.51.100.1"),
        "the refused route is logged with its instance:\n{log}"
    );
    // The routes carry keepalived's protocol (18), so keepalived's tools and
    // an operator's `ip route show proto 18` find them.
    let proto = lab.get("a").ip(&["route", "show", "proto", "18"]);
    assert!(String::from_utf8_lossy(&proto.stdout).contains("10.200.0.0/16"));
    // Failover: a stops; keepalived takes the addresses, routes and rule.
    a.stop();
    wait_for(Duration::from_secs(8), || {
        has(&lab, "b") == ALL && has(&lab, "a") == NONE
    })
    .unwrap_or_else(|| {
        panic!(
            "b master with the routes: a {:?} b {:?}\n{}",
            has(&lab, "a"),
            has(&lab, "b"),
            logs(&a, &b)
        )
    });
    // And back: a preempts, keepalived removes its copies.
    let a = Daemon::start(lab.get("a"), &a_conf, &dir.0.join("ra2"), "auto");
    wait_for(Duration::from_secs(12), || {
        has(&lab, "a") == ALL && has(&lab, "b") == NONE
    })
    .unwrap_or_else(|| {
        panic!(
            "a master again: a {:?} b {:?}\n{}",
            has(&lab, "a"),
            has(&lab, "b"),
            logs(&a, &b)
        )
    });
    // A reload changes them by difference: the blackhole goes, a new route
    // comes, the others stay where they are.
    let changed = conf(150, "").replace(
        "blackhole 10.201.0.0/16",
        "10.203.0.0/16 via 192.0.2.254 dev eth0",
    );
    fs::write(&a_conf, changed).unwrap();
    a.signal("HUP");
    wait_for(Duration::from_secs(5), || {
        let main = lab.get("a").try_exec(&["ip", "route", "show", "table", "main"]);
        let main = String::from_utf8_lossy(&main.stdout).into_owned();
        main.contains("10.203.0.0/16 via 192.0.2.254") && !main.contains("blackhole 10.201.0.0/16")
    })
    .unwrap_or_else(|| panic!("the reload did not change the routes:\n{}", a.log_text()));
    let (kept, _, table, rule) = has(&lab, "a");
    assert!(kept && table && rule, "a reload removed what it kept");
    assert_eq!(a.state("VI_1").as_deref(), Some("MASTER"));
    // Someone deletes a tracked route (it has a `dev`): as keepalived, the
    // master leaves MASTER with priority 0 and, the best router, takes over
    // again after the skew time, installing it afresh.
    let transitions = |a: &Daemon| a.status().map(|s| s["instances"][0]["transitions"].clone());
    let before = transitions(&a);
    lab.get("a")
        .ip(&["route", "del", "10.200.0.0/16", "table", "main"]);
    wait_for(Duration::from_secs(5), || {
        has(&lab, "a").0 && a.state("VI_1").as_deref() == Some("MASTER") && transitions(&a) != before
    })
    .unwrap_or_else(|| {
        panic!(
            "the deleted route is not back: {:?}\n{}",
            has(&lab, "a"),
            logs(&a, &b)
        )
    });
    assert!(
        a.log_text()
            .contains("10.200.0.0/16 via 192.0.2.254 dev eth0 was deleted by someone else")
    );
    assert_eq!(has(&lab, "b"), NONE, "keepalived stayed backup");
    // The same for the VIP itself (keepalived: RTM_DELADDR of a master's VIP).
    let before = transitions(&a);
    lab.get("a").ip(&["addr", "del", "192.0.2.100/24", "dev", "eth0"]);
    let vip = || ip_out(&lab, "a", &["addr", "show", "dev", "eth0"]).contains("192.0.2.100/24");
    wait_for(Duration::from_secs(5), || {
        vip() && has(&lab, "a").0 && a.state("VI_1").as_deref() == Some("MASTER") && transitions(&a) != before
    })
    .unwrap_or_else(|| panic!("the deleted VIP is not back:\n{}", logs(&a, &b)));
    assert!(
        a.log_text()
            .contains("VIP 192.0.2.100 was deleted by someone else")
    );
    assert!(!ip_out(&lab, "b", &["addr", "show", "dev", "eth0"]).contains("192.0.2.100"));
    b.stop();
    drop(a);
}

/// A VIP deleted while the daemon's notification socket overflows (the
/// kernel drops what does not fit and says ENOBUFS): the notice of the
/// deletion is among the lost ones, so the daemon re-reads the addresses and
/// handles the VIP as deleted (priority 0, back as master, VIP installed
/// afresh). Before, the VIP stayed gone while the master kept advertising.
/// The daemon is stopped (SIGSTOP) while tens of thousands of addresses are
/// added on a spare interface, then the VIP is deleted, then it continues.
#[test]
fn a_vip_deleted_while_notifications_overflow_is_noticed() {
    if !have_root("a_vip_deleted_while_notifications_overflow_is_noticed") {
        return;
    }
    let mut lab = Lab::new();
    lab.host("a", &["192.0.2.1/24"]);
    let dir = Scratch::new("overrun");
    let a_conf = dir.write(
        "a.conf",
        "vrrp_instance VI_1 {\n    state MASTER\n    interface eth0\n    virtual_router_id 51\n    \
         priority 150\n    advert_int 1\n    virtual_ipaddress {\n        192.0.2.100/24\n    }\n}\n",
    );
    let a = Daemon::start(lab.get("a"), &a_conf, &dir.0.join("ra"), "auto");
    let vip = || ip_out(&lab, "a", &["addr", "show", "dev", "eth0"]).contains("192.0.2.100/24");
    wait_for(Duration::from_secs(10), || {
        vip() && a.state("VI_1").as_deref() == Some("MASTER")
    })
    .unwrap_or_else(|| panic!("a is not master with its VIP:\n{}", a.log_text()));
    let transitions = |a: &Daemon| a.status().map(|s| s["instances"][0]["transitions"].clone());
    let before = transitions(&a);
    // Veths with their peers in the same namespace (no dummy module here),
    // eight interfaces: adding to one long list costs quadratic time.
    for i in 0..4 {
        let (x, y) = (format!("flood{}", 2 * i), format!("flood{}", 2 * i + 1));
        lab.get("a")
            .ip(&["link", "add", &x, "type", "veth", "peer", "name", &y]);
        lab.get("a").ip(&["link", "set", &x, "up"]);
        lab.get("a").ip(&["link", "set", &y, "up"]);
    }
    // More notices than the daemon's receive buffer holds: it asks for
    // 8 MiB, the kernel grants twice min(that, rmem_max). 15,000 notices
    // overflowed 8 MiB here (at least 560 bytes each): one per 350 bytes of
    // buffer leaves a margin.
    let rmem_max: u64 = fs::read_to_string("/proc/sys/net/core/rmem_max")
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(212_992);
    let notices = u32::try_from(2 * rmem_max.min(8 << 20) / 350).unwrap_or(u32::MAX);
    let batch: String = (0..notices)
        .map(|i| format!("address add 10.64.{}.{}/32 dev flood{}\n", i >> 8, i & 255, i % 8))
        .collect();
    let batch_file = dir.write("flood.batch", &batch);
    a.signal("STOP");
    lab.get("a").ip(&["-batch", batch_file.to_str().unwrap()]);
    lab.get("a").ip(&["addr", "del", "192.0.2.100/24", "dev", "eth0"]);
    a.signal("CONT");
    wait_for(Duration::from_secs(20), || {
        vip() && a.state("VI_1").as_deref() == Some("MASTER") && transitions(&a) != before
    })
    .unwrap_or_else(|| {
        panic!(
            "the VIP deleted during the overflow is not back:\n{}",
            a.log_text()
        )
    });
    let log = a.log_text();
    assert!(log.contains("notifications were lost"), "{log}");
    assert!(
        log.contains("VIP 192.0.2.100 was deleted by someone else"),
        "{log}"
    );
    drop(a);
}

/// keepalived's static entries: `static_ipaddress`, `static_routes` and
/// `static_rules` are there as soon as the daemon runs, whatever the VRRP
/// state (here BACKUP under keepalived at a higher priority), and gone when
/// it exits (keepalived 2.2.7 measured: installed before any instance,
/// removed at exit).
#[test]
fn static_entries_are_installed_at_start_whatever_the_state_and_removed_at_exit() {
    if !have_root("static_entries_are_installed_at_start_whatever_the_state_and_removed_at_exit") {
        return;
    }
    let mut lab = Lab::new();
    lab.host("a", &["192.0.2.1/24"]);
    lab.host("b", &["192.0.2.2/24"]);
    let dir = Scratch::new("statics");
    let statics = "static_ipaddress {\n    198.51.100.7/24 dev eth0\n}\n\
                   static_routes {\n    10.210.0.0/16 via 192.0.2.254 dev eth0\n}\n\
                   static_rules {\n    from 198.51.100.7/32 table 101 priority 300\n}\n";
    let a_conf = dir.write("a.conf", &format!("{statics}{}", conf(100, "")));
    let b_conf = dir.write("b.conf", &conf(200, ""));
    fs::create_dir_all(dir.0.join("kb")).unwrap();
    let mut b = Keepalived::start(lab.get("b"), &b_conf, &dir.0.join("kb"));
    let mut a = Daemon::start(lab.get("a"), &a_conf, &dir.0.join("ra"), "auto");
    let show = |args: &[&str]| {
        let mut cmd = vec!["ip"];
        cmd.extend_from_slice(args);
        String::from_utf8_lossy(&lab.get("a").try_exec(&cmd).stdout).into_owned()
    };
    let statics_there = || {
        show(&["addr", "show", "dev", "eth0"]).contains("198.51.100.7/24")
            && show(&["route", "show", "table", "main"]).contains("10.210.0.0/16 via 192.0.2.254")
            && show(&["rule", "show"]).contains("300:\tfrom 198.51.100.7 lookup 101")
    };
    wait_for(Duration::from_secs(10), || {
        statics_there() && a.state("VI_1").as_deref() == Some("BACKUP")
    })
    .unwrap_or_else(|| {
        panic!(
            "static entries on a backup: {}\n{}",
            show(&["rule", "show"]),
            a.log_text()
        )
    });
    // The instance's own routes are not there: it is not master.
    assert!(!show(&["route", "show", "table", "main"]).contains("10.200.0.0/16"));
    // A static route or rule someone deletes is put back (keepalived does).
    lab.get("a").ip(&["route", "del", "10.210.0.0/16"]);
    lab.get("a").ip(&["rule", "del", "priority", "300"]);
    lab.get("a")
        .ip(&["addr", "del", "198.51.100.7/24", "dev", "eth0"]);
    wait_for(Duration::from_secs(3), statics_there)
        .unwrap_or_else(|| panic!("static entries not restored:\n{}", a.log_text()));
    a.stop();
    assert!(!show(&["addr", "show", "dev", "eth0"]).contains("198.51.100.7/24"));
    assert!(!show(&["route", "show", "table", "main"]).contains("10.210.0.0/16"));
    assert!(!show(&["rule", "show"]).contains("198.51.100.7"));
    b.stop();
}

const VMAC: &str = "00:00:5e:00:01:33";

fn vmac_conf(priority: u8) -> String {
    conf(priority, "    use_vmac\n")
}

/// `ip` output in host `host` (empty when the command fails).
fn ip_out(lab: &Lab, host: &str, args: &[&str]) -> String {
    let mut cmd = vec!["ip"];
    cmd.extend_from_slice(args);
    String::from_utf8_lossy(&lab.get(host).try_exec(&cmd).stdout).into_owned()
}

/// Host `host` has `vrrp.51` as keepalived makes it: a private macvlan with
/// the virtual MAC; `with_vip`: the VIP is on it.
fn vmac_link(lab: &Lab, host: &str, with_vip: bool) -> bool {
    let link = ip_out(lab, host, &["-d", "link", "show", "vrrp.51"]);
    let addr = ip_out(lab, host, &["addr", "show", "dev", "vrrp.51"]);
    link.contains("macvlan mode private")
        && link.contains(VMAC)
        && addr.contains("192.0.2.100/24") == with_vip
}

/// The client's neighbour entry for the VIP after a ping, both caches
/// emptied first: the master resolves the client for its reply, and that
/// ARP request must not tie the VIP to its base MAC (keepalived's does: it
/// leaves `arp_announce` 0, so its request names the VIP as sender).
fn client_sees(lab: &Lab, master: &str) -> String {
    lab.get("c").try_exec(&["ip", "neigh", "flush", "all"]);
    lab.get(master).try_exec(&["ip", "neigh", "flush", "all"]);
    lab.get("c")
        .try_exec(&["ping", "-c", "1", "-W", "1", "192.0.2.100"]);
    ip_out(lab, "c", &["neigh", "show", "192.0.2.100"])
}

/// `use_vmac` (issue routes-vmac): xvrrpd makes `vrrp.51` as keepalived
/// does, puts the VIP on it, and the client's neighbour entry holds the
/// virtual MAC; it hears keepalived's adverts from the same virtual MAC as
/// a backup (a private macvlan takes them from its base), hands over and
/// back, and removes the link at exit. In XDP mode a SIGKILL leaves the
/// link, the VIP and the routes, and the restart adopts them.
fn vmac_against_keepalived(mode: &str) {
    let mut lab = Lab::new();
    lab.host("a", &["192.0.2.1/24"]);
    lab.host("b", &["192.0.2.2/24"]);
    lab.host("c", &["192.0.2.9/24"]);
    let dir = Scratch::new(&format!("vmac-{mode}"));
    let bpffs = SharedBpffs::mount(&format!("vmac-{mode}"));
    let shared = ["--bpffs", bpffs.0.to_str().unwrap()];
    let a_conf = dir.write("a.conf", &vmac_conf(50));
    let b_conf = dir.write("b.conf", &vmac_conf(100));
    fs::create_dir_all(dir.0.join("kb")).unwrap();
    let mut b = Keepalived::start(lab.get("b"), &b_conf, &dir.0.join("kb"));
    wait_for(Duration::from_secs(8), || vmac_link(&lab, "b", true)).expect("keepalived master on vrrp.51");
    // xvrrpd at a lower priority: a backup that must hear keepalived's
    // adverts, which come from the virtual MAC its own macvlan has. It
    // sends nothing from the virtual MAC meanwhile (an IGMP report from it
    // would teach the switch that the VIP lives on the backup).
    let quiet = lab.capture_sent("a", 8.0, &format!("ether src {VMAC}"));
    let mut a = Daemon::start_args(lab.get("a"), &a_conf, &dir.0.join("ra"), mode, &shared);
    let logs = |a: &Daemon, b: &Keepalived| format!("{}\n------\n{}", a.log_text(), b.log_text());
    wait_for(Duration::from_secs(6), || {
        vmac_link(&lab, "a", false) && a.state("VI_1").as_deref() == Some("BACKUP")
    })
    .unwrap_or_else(|| panic!("a backup with vrrp.51:\n{}", logs(&a, &b)));
    // Longer than Master_Down_Interval (3.8 s): still backup.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(a.state("VI_1").as_deref(), Some("BACKUP"), "{}", logs(&a, &b));
    assert!(vmac_link(&lab, "b", true));
    let sent = quiet.text();
    assert!(
        sent.trim().is_empty(),
        "a backup sent from the virtual MAC:\n{sent}"
    );
    // A reload to priority 150: a preempts; the VIP moves to a's vrrp.51.
    fs::write(&a_conf, vmac_conf(150)).unwrap();
    a.signal("HUP");
    wait_for(Duration::from_secs(8), || {
        vmac_link(&lab, "a", true) && vmac_link(&lab, "b", false)
    })
    .unwrap_or_else(|| panic!("a master on vrrp.51:\n{}", logs(&a, &b)));
    let neigh = client_sees(&lab, "a");
    assert!(
        neigh.contains(VMAC),
        "the client resolves the VIP to the virtual MAC: {neigh}"
    );
    if mode == "xdp-skb" {
        assert!(
            a.counter("arp_replies") >= 1,
            "XDP answered on the base for the macvlan's VIP"
        );
    }
    let sysctl = |key: &str| {
        let o = lab.get("a").try_exec(&["sysctl", "-n", key]);
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    assert_eq!(sysctl("net.ipv4.conf.vrrp/51.arp_ignore"), "1");
    assert_eq!(sysctl("net.ipv4.conf.eth0.arp_ignore"), "1");
    if mode != "socket" {
        // Crash-only: a SIGKILL leaves the link, the VIP and the routes; the
        // restart adopts them (same link), and keepalived never moves.
        let index = lab.get("a").ifindex("vrrp.51");
        a.signal("KILL");
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            vmac_link(&lab, "a", true),
            "the link and the VIP stay after a SIGKILL"
        );
        assert_eq!(
            has(&lab, "a"),
            ALL,
            "the routes and the rule stay after a SIGKILL"
        );
        a = Daemon::start_args(lab.get("a"), &a_conf, &dir.0.join("ra"), mode, &shared);
        wait_for(Duration::from_secs(3), || {
            a.state("VI_1").as_deref() == Some("MASTER")
        })
        .unwrap_or_else(|| panic!("a resumes:\n{}", logs(&a, &b)));
        assert!(
            a.log_text().contains("adopting the running data path"),
            "{}",
            a.log_text()
        );
        std::thread::sleep(Duration::from_secs(4));
        assert_eq!(lab.get("a").ifindex("vrrp.51"), index, "the same link, adopted");
        assert!(
            vmac_link(&lab, "a", true) && vmac_link(&lab, "b", false),
            "{}",
            logs(&a, &b)
        );
        assert_eq!(has(&lab, "a"), ALL);
        // Another configuration after a SIGKILL does not adopt: the
        // leftover link, VIP, routes and rule go.
        a.signal("KILL");
        std::thread::sleep(Duration::from_millis(300));
        let plain = dir.write("plain.conf", &conf(150, "").replace(ROUTES, ""));
        a = Daemon::start_args(lab.get("a"), &plain, &dir.0.join("ra"), mode, &shared);
        wait_for(Duration::from_secs(5), || {
            a.state("VI_1").as_deref() == Some("MASTER")
                && ip_out(&lab, "a", &["link", "show", "vrrp.51"]).is_empty()
                && has(&lab, "a") == NONE
        })
        .unwrap_or_else(|| panic!("leftovers removed: {:?}\n{}", has(&lab, "a"), logs(&a, &b)));
        a.stop();
        a = Daemon::start_args(lab.get("a"), &a_conf, &dir.0.join("ra"), mode, &shared);
        wait_for(Duration::from_secs(8), || vmac_link(&lab, "a", true))
            .unwrap_or_else(|| panic!("a master on vrrp.51 again:\n{}", logs(&a, &b)));
    }
    // Someone deletes a's macvlan (and the VIP with it): a goes to FAULT, as
    // keepalived's instance does when its macvlan goes, and keepalived
    // takes over on its own vrrp.51.
    lab.get("a").ip(&["link", "del", "vrrp.51"]);
    wait_for(Duration::from_secs(6), || {
        a.state("VI_1").as_deref() == Some("FAULT") && vmac_link(&lab, "b", true)
    })
    .unwrap_or_else(|| panic!("a in FAULT, keepalived master:\n{}", logs(&a, &b)));
    // A SIGHUP makes it again; a preempts on it.
    a.signal("HUP");
    wait_for(Duration::from_secs(8), || {
        vmac_link(&lab, "a", true)
            && vmac_link(&lab, "b", false)
            && a.state("VI_1").as_deref() == Some("MASTER")
    })
    .unwrap_or_else(|| panic!("a master on a new vrrp.51 after SIGHUP:\n{}", logs(&a, &b)));
    // SIGTERM: nothing of a's is left.
    a.stop();
    assert!(
        ip_out(&lab, "a", &["link", "show", "vrrp.51"]).is_empty(),
        "no vrrp.51 after exit"
    );
    assert_eq!(has(&lab, "a"), NONE);
    b.stop();
}

#[test]
fn use_vmac_makes_keepalived_macvlan_in_socket_mode() {
    if !have_root("use_vmac_makes_keepalived_macvlan_in_socket_mode") {
        return;
    }
    vmac_against_keepalived("socket");
}

#[test]
fn use_vmac_makes_keepalived_macvlan_in_xdp_mode_and_survives_a_crash() {
    if !have_root("use_vmac_makes_keepalived_macvlan_in_xdp_mode_and_survives_a_crash") {
        return;
    }
    // Generic XDP: the program answers ARP for the VIP with the virtual MAC
    // on the macvlan's base (on a veth in native mode the kernel answers).
    vmac_against_keepalived("xdp-skb");
}

/// Socket mode has no data path to adopt, so a start after kill -9 removes
/// what the killed run installed (its record, `state.json`): the VIP on the
/// macvlan, the routes, the rule and the macvlan itself; the new run makes
/// its macvlan afresh and, a backup now, installs nothing.
#[test]
fn socket_mode_start_after_kill_removes_the_routes_rules_and_macvlan_it_left() {
    if !have_root("socket_mode_start_after_kill_removes_the_routes_rules_and_macvlan_it_left") {
        return;
    }
    let mut lab = Lab::new();
    lab.host("a", &["192.0.2.1/24"]);
    lab.host("b", &["192.0.2.2/24"]);
    let dir = Scratch::new("sock-kill");
    let a_conf = dir.write("a.conf", &vmac_conf(150));
    let b_conf = dir.write("b.conf", &vmac_conf(100));
    fs::create_dir_all(dir.0.join("kb")).unwrap();
    let mut b = Keepalived::start(lab.get("b"), &b_conf, &dir.0.join("kb"));
    let run = dir.0.join("ra");
    let a = Daemon::start(lab.get("a"), &a_conf, &run, "socket");
    let logs = |a: &Daemon, b: &Keepalived| format!("{}\n------\n{}", a.log_text(), b.log_text());
    wait_for(Duration::from_secs(12), || {
        has(&lab, "a") == ALL && vmac_link(&lab, "a", true) && vmac_link(&lab, "b", false)
    })
    .unwrap_or_else(|| panic!("a master with routes and vrrp.51:\n{}", logs(&a, &b)));
    // The record is written within 50 ms of a change.
    std::thread::sleep(Duration::from_millis(500));
    a.signal("KILL");
    wait_for(Duration::from_secs(8), || {
        has(&lab, "b") == ALL && vmac_link(&lab, "b", true)
    })
    .unwrap_or_else(|| panic!("keepalived takes over:\n{}", logs(&a, &b)));
    assert_eq!(has(&lab, "a"), ALL, "a SIGKILL leaves the routes and rule");
    assert!(
        vmac_link(&lab, "a", true),
        "a SIGKILL leaves vrrp.51 with the VIP"
    );
    drop(a);
    // Back below keepalived: a backup with its macvlan, nothing else.
    fs::write(&a_conf, vmac_conf(50)).unwrap();
    let a = Daemon::start(lab.get("a"), &a_conf, &run, "socket");
    wait_for(Duration::from_secs(6), || {
        a.state("VI_1").as_deref() == Some("BACKUP") && has(&lab, "a") == NONE && vmac_link(&lab, "a", false)
    })
    .unwrap_or_else(|| panic!("a clean backup: {:?}\n{}", has(&lab, "a"), logs(&a, &b)));
    let log = a.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("removing a previous run's data path"))
        .unwrap_or_else(|| panic!("no removal logged:\n{log}"));
    // Three routes and one rule, the VIP, the macvlan.
    for field in ["vips=1", "routes=4", "links=1"] {
        assert!(line.contains(field), "{field} in {line}");
    }
    // Past a Master_Down_Interval: still so, keepalived master alone.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(a.state("VI_1").as_deref(), Some("BACKUP"));
    assert_eq!(has(&lab, "a"), NONE);
    assert!(vmac_link(&lab, "a", false) && vmac_link(&lab, "b", true));
    b.stop();
    drop(a);
}

/// `use_vmac` for an IPv6 instance (VRRPv3): the macvlan carries
/// `00:00:5e:00:02:VRID`, the VIP is on it, a backup hears keepalived's
/// adverts on it and sends nothing from the virtual MAC (keepalived gives
/// the macvlan the base's link-local address, whose MLD reports and router
/// solicitations leave from the virtual MAC on the backup too; xvrrp sends
/// adverts from the base's link-local without it), and a client's
/// neighbour entry for the VIP holds the virtual MAC.
#[test]
fn use_vmac_for_ipv6_against_keepalived() {
    if !have_root("use_vmac_for_ipv6_against_keepalived") {
        return;
    }
    for mode in ["socket", "auto"] {
        vmac6_against_keepalived(mode);
    }
}

fn vmac6_against_keepalived(mode: &str) {
    const VMAC6: &str = "00:00:5e:00:02:33";
    let mut lab = Lab::new();
    lab.host("a", &["2001:db8::1/64"]);
    lab.host("b", &["2001:db8::2/64"]);
    lab.host("c", &["2001:db8::9/64"]);
    let dir = Scratch::new(&format!("vmac6-{mode}"));
    let conf6 = |priority: u8| {
        format!(
            "vrrp_instance VI_6 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
             priority {priority}\n    advert_int 1\n    use_vmac\n    virtual_ipaddress {{\n        \
             2001:db8::100/64\n    }}\n}}\n"
        )
    };
    let a_conf = dir.write("a.conf", &conf6(50));
    let b_conf = dir.write("b.conf", &conf6(100));
    fs::create_dir_all(dir.0.join("kb")).unwrap();
    let link6 = |host: &str, with_vip: bool| {
        let link = ip_out(&lab, host, &["-d", "link", "show", "vrrp.51"]);
        let addr = ip_out(&lab, host, &["-6", "addr", "show", "dev", "vrrp.51"]);
        link.contains("macvlan mode private")
            && link.contains(VMAC6)
            && addr.contains("2001:db8::100/64") == with_vip
    };
    let mut b = Keepalived::start(lab.get("b"), &b_conf, &dir.0.join("kb"));
    wait_for(Duration::from_secs(8), || link6("b", true))
        .unwrap_or_else(|| panic!("keepalived master:\n{}", b.log_text()));
    let quiet = lab.capture_sent("a", 8.0, &format!("ether src {VMAC6}"));
    let mut a = Daemon::start(lab.get("a"), &a_conf, &dir.0.join("ra"), mode);
    let logs = |a: &Daemon, b: &Keepalived| format!("{}\n------\n{}", a.log_text(), b.log_text());
    wait_for(Duration::from_secs(6), || {
        link6("a", false) && a.state("VI_6").as_deref() == Some("BACKUP")
    })
    .unwrap_or_else(|| panic!("a backup with vrrp.51:\n{}", logs(&a, &b)));
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(a.state("VI_6").as_deref(), Some("BACKUP"), "{}", logs(&a, &b));
    let sent = quiet.text();
    assert!(
        sent.trim().is_empty(),
        "a backup sent from the virtual MAC:\n{sent}"
    );
    fs::write(&a_conf, conf6(150)).unwrap();
    a.signal("HUP");
    wait_for(Duration::from_secs(8), || link6("a", true) && link6("b", false))
        .unwrap_or_else(|| panic!("a master on vrrp.51:\n{}", logs(&a, &b)));
    lab.get("c").try_exec(&["ip", "-6", "neigh", "flush", "all"]);
    lab.get("c")
        .try_exec(&["ping", "-6", "-c", "1", "-W", "2", "2001:db8::100"]);
    let neigh = ip_out(&lab, "c", &["-6", "neigh", "show", "2001:db8::100"]);
    assert!(
        neigh.contains(VMAC6),
        "the client resolves the VIP to the virtual MAC: {neigh}"
    );
    a.stop();
    assert!(
        ip_out(&lab, "a", &["link", "show", "vrrp.51"]).is_empty(),
        "vrrp.51 removed at exit"
    );
    wait_for(Duration::from_secs(6), || link6("b", true))
        .unwrap_or_else(|| panic!("keepalived takes over:\n{}", logs(&a, &b)));
    b.stop();
}
