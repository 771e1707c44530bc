//! FRR's vrrpd as the other router (issue field-soak, item 4): VRRPv3 over
//! IPv4 and IPv6 with xvrrpd in both roles, on plain veths behind a bridge,
//! in socket and XDP mode. FRR's macvlans are made by the test as an
//! operator makes them (FRR needs them; xvrrpd does not).

use std::{fs, time::Duration};

use xvrrp_tests::{
    daemon::{Daemon, Scratch, wait_for},
    frr::Frr,
    have_root,
    lab::Lab,
};

fn conf(priority: u8) -> String {
    let inst = |name: &str, extra: &str, vip: &str| {
        format!(
            "vrrp_instance {name} {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
             priority {priority}\n    version 3\n    advert_int 1\n{extra}    virtual_ipaddress {{\n        {vip}\n    }}\n}}\n"
        )
    };
    inst("VI_4", "", "10.66.0.100/24") + &inst("VI_6", "    native_ipv6\n", "fd66::100/64")
}

fn has(lab: &Lab, host: &str, vip: &str) -> bool {
    let o = lab.get(host).try_exec(&["ip", "addr", "show", "dev", "eth0"]);
    String::from_utf8_lossy(&o.stdout).contains(vip)
}

fn against_frr(mode: &str) {
    let mut lab = Lab::new();
    lab.host("f", &["10.66.0.1/24"]);
    lab.host("x", &["10.66.0.2/24"]);
    let dir = Scratch::new(&format!("frr-{mode}"));
    let frr = Frr::start(lab.get("f"), &dir.0, 51, 100, "10.66.0.100/24", "fd66::100/64");
    let both = |s: &str| Some((s.to_owned(), s.to_owned()));
    wait_for(Duration::from_secs(8), || frr.states() == both("Master"))
        .unwrap_or_else(|| panic!("FRR master alone: {:?}\n{}", frr.states(), frr.log_text()));
    // xvrrpd at 150 takes over both families; FRR goes to Backup.
    let x_conf = dir.write("x.conf", &conf(150));
    let mut x = Daemon::start(lab.get("x"), &x_conf, &dir.0.join("rx"), mode);
    let logs = |x: &Daemon| format!("{}\n------ FRR\n{}", x.log_text(), frr.log_text());
    let x_master = |x: &Daemon| {
        x.state("VI_4").as_deref() == Some("MASTER") && x.state("VI_6").as_deref() == Some("MASTER")
    };
    wait_for(Duration::from_secs(8), || {
        x_master(&x) && frr.states() == both("Backup")
    })
    .unwrap_or_else(|| panic!("xvrrpd master, FRR backup: {:?}\n{}", frr.states(), logs(&x)));
    assert!(has(&lab, "x", "10.66.0.100/24") && has(&lab, "x", "fd66::100/64"));
    // SIGTERM: priority 0 on both families; FRR takes over at once.
    x.stop();
    wait_for(Duration::from_secs(3), || frr.states() == both("Master"))
        .unwrap_or_else(|| panic!("FRR takes over: {:?}\n{}", frr.states(), logs(&x)));
    assert!(!has(&lab, "x", "10.66.0.100") && !has(&lab, "x", "fd66::100"));
    // xvrrpd at 50: a backup that hears FRR's adverts (from FRR's virtual
    // MACs) on both families, past Master_Down_Interval.
    fs::write(&x_conf, conf(50)).unwrap();
    let mut x = Daemon::start(lab.get("x"), &x_conf, &dir.0.join("rx2"), mode);
    wait_for(Duration::from_secs(5), || {
        x.state("VI_4").as_deref() == Some("BACKUP") && x.state("VI_6").as_deref() == Some("BACKUP")
    })
    .unwrap_or_else(|| panic!("xvrrpd backup: {}", logs(&x)));
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(x.state("VI_4").as_deref(), Some("BACKUP"), "{}", logs(&x));
    assert_eq!(x.state("VI_6").as_deref(), Some("BACKUP"), "{}", logs(&x));
    assert_eq!(frr.states(), both("Master"));
    // A reload to 200 preempts FRR on both.
    fs::write(&x_conf, conf(200)).unwrap();
    x.signal("HUP");
    wait_for(Duration::from_secs(8), || {
        x_master(&x) && frr.states() == both("Backup")
    })
    .unwrap_or_else(|| panic!("xvrrpd preempts: {:?}\n{}", frr.states(), logs(&x)));
    x.stop();
}

#[test]
fn frr_vrrpd_interoperates_over_ipv4_and_ipv6_in_both_roles() {
    if !have_root("frr_vrrpd_interoperates_over_ipv4_and_ipv6_in_both_roles") {
        return;
    }
    for mode in ["socket", "auto"] {
        against_frr(mode);
    }
}
