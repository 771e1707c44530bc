//! An address owner (priority 255) across crashes: the host's own address
//! is never the daemon's, whatever the crash record, a start or a stop
//! does; a VIP the owner added is (recorded, adopted, removed at stop).

use std::time::Duration;

use xvrrp_tests::{
    daemon::{Daemon, Scratch, SharedBpffs, wait_for},
    have_root,
    lab::Lab,
};

/// An address owner (priority 255) holds the host's own address as its VIP,
/// and here a second VIP the daemon adds: no crash record, no start-up
/// removal and no stop may take the host's address away; the second VIP is
/// the daemon's (recorded, adopted by a resuming start, removed at stop).
fn owner_survives_kill_restart_and_stop(mode: &str) {
    let mut lab = Lab::new();
    lab.host("a", &["192.0.2.1/24"]);
    lab.host("b", &["192.0.2.2/24"]);
    let dir = Scratch::new(&format!("owner-{mode}"));
    let bpffs = SharedBpffs::mount(&format!("owner-{mode}"));
    let shared = ["--bpffs", bpffs.0.to_str().unwrap()];
    let conf = dir.write(
        "a.conf",
        "vrrp_instance VI_1 {\n    state MASTER\n    interface eth0\n    virtual_router_id 51\n    \
         priority 255\n    advert_int 1\n    virtual_ipaddress {\n        192.0.2.1/24\n        \
         192.0.2.50/24\n    }\n}\n",
    );
    let run = dir.0.join("ra");
    let has = |lab: &Lab, addr: &str| {
        let o = lab.get("a").try_exec(&["ip", "addr", "show", "dev", "eth0"]);
        String::from_utf8_lossy(&o.stdout).contains(addr)
    };
    let master =
        |a: &Daemon, lab: &Lab| a.state("VI_1").as_deref() == Some("MASTER") && has(lab, "192.0.2.50/24");
    let a = Daemon::start_args(lab.get("a"), &conf, &run, mode, &shared);
    wait_for(Duration::from_secs(5), || master(&a, &lab))
        .unwrap_or_else(|| panic!("owner master:\n{}", a.log_text()));
    // Past the record's 50 ms: the record is written with the owner master.
    std::thread::sleep(Duration::from_millis(300));
    let record = std::fs::read_to_string(run.join("state.json")).unwrap_or_default();
    assert!(
        !record.contains("192.0.2.1\""),
        "the host's address is not the daemon's: {record}"
    );
    assert!(record.contains("192.0.2.50"), "the VIP it added is: {record}");
    a.signal("KILL");
    drop(a);
    assert!(has(&lab, "192.0.2.1/24") && has(&lab, "192.0.2.50/24"));
    let mut a = Daemon::start_args(lab.get("a"), &conf, &run, mode, &shared);
    wait_for(Duration::from_secs(5), || master(&a, &lab))
        .unwrap_or_else(|| panic!("owner master again:\n{}", a.log_text()));
    assert!(
        has(&lab, "192.0.2.1/24"),
        "the restart removed the host's address:\n{}",
        a.log_text()
    );
    assert_eq!(a.stop(), Some(0));
    assert!(has(&lab, "192.0.2.1/24"), "the stop removed the host's address");
    assert!(
        !has(&lab, "192.0.2.50/24"),
        "the stop left the VIP the daemon added:\n{}",
        a.log_text()
    );
}

#[test]
fn an_address_owners_host_address_survives_kill_restart_and_stop_in_socket_mode() {
    if !have_root("an_address_owners_host_address_survives_kill_restart_and_stop_in_socket_mode") {
        return;
    }
    owner_survives_kill_restart_and_stop("socket");
}

#[test]
fn an_address_owners_host_address_survives_kill_resume_and_stop_in_xdp_mode() {
    if !have_root("an_address_owners_host_address_survives_kill_resume_and_stop_in_xdp_mode") {
        return;
    }
    owner_survives_kill_restart_and_stop("xdp");
}
