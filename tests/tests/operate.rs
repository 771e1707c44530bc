//! What an operator reads, as the README promises it: the `status` table,
//! the control socket's permissions, the Prometheus metrics.

use std::{
    os::unix::fs::{MetadataExt as _, PermissionsExt as _},
    process::Command,
    time::Duration,
};

use xvrrp_tests::{
    daemon::{Daemon, Scratch, wait_for, xvrrpd_bin},
    have_root,
    lab::Lab,
};

const CONF: &str = "vrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  version 3\n  virtual_router_id 51\n  \
priority 100\n  advert_int 1\n  virtual_ipaddress {\n    192.0.2.100/24\n  }\n}\n";

#[test]
fn status_table_control_socket_and_metrics_say_what_the_readme_promises() {
    if !have_root("status_table_control_socket_and_metrics_say_what_the_readme_promises") {
        return;
    }
    let mut lab = Lab::new();
    lab.host("a", &["192.0.2.1/24"]);
    let dir = Scratch::new("operate");
    let run_dir = dir.0.join("ra");
    let a = Daemon::start_args(
        lab.get("a"),
        &dir.write("a.conf", CONF),
        &run_dir,
        "auto",
        &["--metrics", "127.0.0.1:9651"],
    );
    wait_for(Duration::from_secs(8), || {
        a.state("VI_1").as_deref() == Some("MASTER")
    })
    .unwrap_or_else(|| panic!("a never became master:\n{}", a.log_text()));

    // The table: one row per instance, the mode, one line per interface.
    let out = Command::new("ip")
        .args(["netns", "exec", lab.get("a").name()])
        .arg(xvrrpd_bin())
        .arg("status")
        .arg("--run-dir")
        .arg(&run_dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    let row = table
        .lines()
        .find(|l| l.starts_with("VI_1"))
        .unwrap_or_else(|| panic!("no VI_1 row:\n{table}"));
    for want in ["eth0", "51", "MASTER", "100", "192.0.2.1", "192.0.2.100/24"] {
        assert!(row.contains(want), "the row lacks {want}: {row}");
    }
    assert!(table.contains("mode: xdp"), "{table}");
    assert!(
        table.contains("interface eth0: xdp native, adverts validated in tc, arp/ndp answered by kernel"),
        "{table}"
    );

    // Root-only: status shows the configuration.
    let sock = std::fs::metadata(run_dir.join("xvrrpd.sock")).unwrap();
    assert_eq!(sock.permissions().mode() & 0o777, 0o600, "control socket mode");
    assert_eq!(sock.uid(), 0, "owned by root");

    // Metrics: the states, the priorities, the packet counters.
    let m = lab.get("a").http_get("127.0.0.1:9651", "/");
    assert!(m.starts_with("HTTP/1.0 200"), "{m}");
    for want in [
        "xvrrp_instance_state{instance=\"VI_1\",vrid=\"51\",state=\"MASTER\"} 1",
        "xvrrp_instance_state{instance=\"VI_1\",vrid=\"51\",state=\"BACKUP\"} 0",
        "xvrrp_effective_priority{instance=\"VI_1\",vrid=\"51\"} 100",
        "xvrrp_transitions_total{instance=\"VI_1\",vrid=\"51\"} 2",
        "xvrrp_packets_total{kind=\"foreign\"} 0",
    ] {
        assert!(m.contains(want), "metrics lack {want}:\n{m}");
    }
    let sent: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("xvrrp_packets_total{kind=\"adverts_tx\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no adverts_tx in\n{m}"));
    assert!(sent >= 1, "the master's adverts are counted");
    println!("operate: status table, socket 0600 root, metrics with states, priorities and counters");
}

fn instance(name: &str, vrid: u8, priority: u8) -> String {
    format!(
        "vrrp_instance {name} {{\n  state BACKUP\n  interface eth0\n  version 3\n  virtual_router_id {vrid}\n  \
         priority {priority}\n  advert_int 1\n  virtual_ipaddress {{\n    192.0.2.{vrid}/24\n  }}\n}}\n"
    )
}

fn has_addr(lab: &Lab, addr: &str) -> bool {
    let out = lab.get("a").ip(&["-o", "addr", "show", "dev", "eth0"]);
    String::from_utf8_lossy(&out.stdout).contains(addr)
}

/// SIGHUP as the README describes it: an unchanged instance keeps its state
/// and timers, a changed one restarts with the new settings, a removed one
/// stops (its VIP goes), an added one starts.
#[test]
fn sighup_keeps_unchanged_restarts_changed_stops_removed_starts_added() {
    if !have_root("sighup_keeps_unchanged_restarts_changed_stops_removed_starts_added") {
        return;
    }
    let mut lab = Lab::new();
    lab.host("a", &["192.0.2.1/24"]);
    let dir = Scratch::new("reload");
    let path = dir.write(
        "a.conf",
        &(instance("KEEP", 51, 100) + &instance("CHANGE", 52, 100) + &instance("REMOVE", 53, 100)),
    );
    let a = Daemon::start(lab.get("a"), &path, &dir.0.join("ra"), "auto");
    let master = |n: &str| a.state(n).as_deref() == Some("MASTER");
    wait_for(Duration::from_secs(8), || {
        master("KEEP") && master("CHANGE") && master("REMOVE")
    })
    .unwrap_or_else(|| panic!("not all masters: {:?}", a.status()));
    assert!(has_addr(&lab, "192.0.2.53/24"));
    let transitions = |n: &str| {
        a.status().and_then(|s| {
            s["instances"]
                .as_array()?
                .iter()
                .find(|i| i["name"] == n)
                .map(|i| i["transitions"].as_u64().unwrap_or(0))
        })
    };
    assert_eq!(transitions("KEEP"), Some(2));

    std::fs::write(
        &path,
        instance("KEEP", 51, 100) + &instance("CHANGE", 52, 110) + &instance("ADD", 54, 100),
    )
    .unwrap();
    a.signal("HUP");
    wait_for(Duration::from_secs(8), || {
        master("CHANGE") && master("ADD") && a.state("REMOVE").is_none()
    })
    .unwrap_or_else(|| panic!("reload did not settle: {:?}\n{}", a.status(), a.log_text()));
    assert_eq!(
        transitions("KEEP"),
        Some(2),
        "the unchanged instance was left alone"
    );
    assert!(master("KEEP"));
    let change = a.status().unwrap()["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "CHANGE")
        .cloned()
        .unwrap();
    assert_eq!(
        change["priority"], 110,
        "the changed instance runs the new settings"
    );
    assert!(
        !has_addr(&lab, "192.0.2.53/24"),
        "the removed instance's VIP is gone"
    );
    assert!(
        has_addr(&lab, "192.0.2.54/24"),
        "the added instance holds its VIP"
    );
    assert!(
        has_addr(&lab, "192.0.2.51/24"),
        "the unchanged instance kept its VIP"
    );
    println!(
        "operate: SIGHUP kept KEEP (2 transitions), restarted CHANGE at 110, stopped REMOVE, started ADD"
    );
}
