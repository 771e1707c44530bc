//! Addresses are not all (issue routes-vmac): `virtual_routes` and
//! `virtual_rules` follow mastership with keepalived 2.2.7 as the peer, on
//! plain veths behind a bridge.

use std::{fs, time::Duration};

use xvrrp_tests::{
    daemon::{Daemon, Keepalived, Scratch, wait_for},
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
    b.stop();
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
    a.stop();
    assert!(!show(&["addr", "show", "dev", "eth0"]).contains("198.51.100.7/24"));
    assert!(!show(&["route", "show", "table", "main"]).contains("10.210.0.0/16"));
    assert!(!show(&["rule", "show"]).contains("198.51.100.7"));
    b.stop();
}
