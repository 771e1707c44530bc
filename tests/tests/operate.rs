//! What an operator reads and runs, as the README promises it: the `status`
//! table, the control socket's permissions, the Prometheus metrics, SIGHUP,
//! the shipped systemd unit.

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

/// The values of `key=` lines in a unit file, in order.
fn unit_values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

/// `dist/xvrrpd.service` as shipped: `systemd-analyze verify` finds nothing
/// to say; its capability sets hold the README's list; and the daemon runs
/// with exactly those capabilities on a host where bpffs is not mounted
/// (a fresh machine): the unit's privileged ExecStartPre mounts it and XDP
/// mode pins its data path. Without that line, `--mode xdp` refuses with a
/// message saying what to do and `--mode auto` runs in socket mode.
#[test]
fn shipped_unit_verifies_and_runs_the_daemon_with_its_capabilities_on_a_fresh_host() {
    if !have_root("shipped_unit_verifies_and_runs_the_daemon_with_its_capabilities_on_a_fresh_host") {
        return;
    }
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../dist/xvrrpd.service"))
        .expect("dist/xvrrpd.service");
    let dir = Scratch::new("unit");
    let bin = xvrrpd_bin();
    let local = dir.write(
        "xvrrpd.service",
        &unit.replace("/usr/local/sbin/xvrrpd", &bin.display().to_string()),
    );
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&local)
        .output()
        .expect("systemd-analyze (apt package systemd)");
    // Only what it says of this unit: it also loads the units this one names
    // (multi-user.target, keepalived.service, ...), which are the host's business.
    let said =
        String::from_utf8_lossy(&verify.stderr).into_owned() + &String::from_utf8_lossy(&verify.stdout);
    let ours: Vec<&str> = said.lines().filter(|l| l.contains("xvrrpd.service")).collect();
    assert!(
        verify.status.success() && ours.is_empty(),
        "systemd-analyze verify: {said}"
    );

    let caps = |key: &str| -> Vec<String> {
        let values = unit_values(&unit, key);
        assert_eq!(values.len(), 1, "one {key}= line");
        values[0].split_whitespace().map(str::to_owned).collect()
    };
    let bounding = caps("CapabilityBoundingSet");
    assert_eq!(bounding, caps("AmbientCapabilities"), "ambient = bounding");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let para = readme
        .split("\n\n")
        .find(|p| p.starts_with("Least privilege:"))
        .expect("README's least-privilege paragraph");
    let promised: Vec<&str> = para
        .split("keeps only")
        .nth(1)
        .and_then(|t| t.split('(').next())
        .unwrap_or("")
        .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
        .filter(|w| w.starts_with("CAP_"))
        .collect();
    assert_eq!(promised.len(), 7, "README lists {promised:?}");
    for cap in &promised {
        assert!(bounding.iter().any(|b| b == cap), "the unit lacks {cap}");
    }
    assert!(
        !bounding.iter().any(|b| b == "CAP_SYS_ADMIN"),
        "the daemon itself never gets CAP_SYS_ADMIN"
    );
    // setpriv: the unit's bounding set, no new privileges (NoNewPrivileges=true).
    let set = std::iter::once("-all".to_owned())
        .chain(
            bounding
                .iter()
                .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase())),
        )
        .collect::<Vec<_>>()
        .join(",");
    let capped = ["setpriv", "--bounding-set", &set, "--no-new-privs"];
    // systemd's prefixes: "+" full privileges, "-" a failure does not stop the
    // unit (a container may deny the mount; auto mode then runs on sockets).
    let privileged: Vec<&str> = unit_values(&unit, "ExecStartPre")
        .into_iter()
        .filter_map(|v| {
            let prefixes = &v[..v.find(|c: char| !"+-@:!".contains(c)).unwrap_or(0)];
            (prefixes.contains('+')).then(|| {
                assert!(
                    prefixes.contains('-'),
                    "the bpffs mount may fail without failing the unit: {v}"
                );
                &v[prefixes.len()..]
            })
        })
        .collect();
    assert_eq!(
        privileged.len(),
        1,
        "one privileged ExecStartPre (the bpffs mount)"
    );
    let pre = privileged[0]
        .strip_prefix("/bin/sh -c '")
        .and_then(|c| c.strip_suffix('\''))
        .expect("ExecStartPre=+/bin/sh -c '...'");

    let mut lab = Lab::new();
    lab.host("a", &["192.0.2.1/24"]);
    let conf = dir.write("a.conf", CONF);
    // `ip netns exec` gives each daemon a fresh /sys: /sys/fs/bpf is not mounted there.
    let mut xdp = Daemon::start_wrapped(lab.get("a"), &capped, &conf, &dir.0.join("r1"), "xdp", &[]);
    let code = wait_for(Duration::from_secs(5), || xdp.exited().is_some()).and_then(|_| xdp.exited());
    let log = xdp.log_text();
    assert!(
        code.is_some_and(|c| c != 0)
            && log.contains("no bpffs")
            && log.contains("mount -t bpf bpf /sys/fs/bpf"),
        "--mode xdp without bpffs and CAP_SYS_ADMIN must refuse, saying what to do: {code:?}\n{log}"
    );

    let auto = Daemon::start_wrapped(lab.get("a"), &capped, &conf, &dir.0.join("r2"), "auto", &[]);
    wait_for(Duration::from_secs(5), || auto.status().is_some())
        .unwrap_or_else(|| panic!("auto without bpffs must run:\n{}", auto.log_text()));
    assert_eq!(auto.status().unwrap()["mode"], "socket", "{}", auto.log_text());
    assert!(
        auto.log_text().contains("running in socket mode"),
        "{}",
        auto.log_text()
    );
    drop(auto);

    // As systemd runs the unit: the privileged line, then the daemon with the unit's capabilities.
    let script = format!("{pre}; exec \"$@\"");
    let mut wrapper = vec!["sh", "-c", &script, "sh"];
    wrapper.extend_from_slice(&capped);
    let unitlike = Daemon::start_wrapped(lab.get("a"), &wrapper, &conf, &dir.0.join("r3"), "auto", &[]);
    wait_for(Duration::from_secs(8), || {
        unitlike.state("VI_1").as_deref() == Some("MASTER")
    })
    .unwrap_or_else(|| panic!("the unit's way:\n{}", unitlike.log_text()));
    let status = unitlike.status().unwrap();
    assert_eq!(status["mode"], "xdp", "{}", unitlike.log_text());
    assert!(
        !unitlike.log_text().contains("no bpffs"),
        "{}",
        unitlike.log_text()
    );
}

/// keepalived's scheduling keywords, as the README promises them: the
/// protocol thread runs SCHED_RR at `vrrp_rt_priority` with its memory locked
/// (`vrrp_no_swap`) on the CPUs of `vrrp_cpu_affinity`; scripts it starts run
/// as ordinary processes (not real-time).
#[test]
fn scheduling_keywords_apply_to_the_daemon_and_not_to_its_scripts() {
    if !have_root("scheduling_keywords_apply_to_the_daemon_and_not_to_its_scripts") {
        return;
    }
    let mut lab = Lab::new();
    lab.host("a", &["192.0.2.1/24"]);
    let dir = Scratch::new("sched");
    let seen = dir.0.join("script-policy");
    // Written whole (a temporary file renamed), so a reader never sees half.
    let check = dir.write(
        "check.sh",
        &format!(
            "#!/bin/sh\nchrt -p $$ > {0}.tmp && mv {0}.tmp {0}\n",
            seen.display()
        ),
    );
    Command::new("chmod").arg("+x").arg(&check).status().unwrap();
    let conf = format!(
        "global_defs {{\n  vrrp_rt_priority 42\n  vrrp_no_swap\n  vrrp_cpu_affinity 0\n}}\n\
         vrrp_script chk {{\n  script \"{}\"\n  interval 1\n}}\n{}",
        check.display(),
        CONF.replace(
            "  advert_int 1\n",
            "  advert_int 1\n  track_script {\n    chk\n  }\n"
        )
    );
    let a = Daemon::start(
        lab.get("a"),
        &dir.write("a.conf", &conf),
        &dir.0.join("ra"),
        "auto",
    );
    wait_for(Duration::from_secs(5), || a.status().is_some())
        .unwrap_or_else(|| panic!("daemon did not start:\n{}", a.log_text()));
    // Its first run may have come before the settings applied: a later one counts.
    let _ = std::fs::remove_file(&seen);
    let pid = a.pid().expect("running").to_string();
    let policy = String::from_utf8_lossy(&Command::new("chrt").args(["-p", &pid]).output().unwrap().stdout)
        .into_owned();
    assert!(
        policy.contains("SCHED_RR") && policy.contains(": 42"),
        "the daemon's scheduling: {policy}\n{}",
        a.log_text()
    );
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l[name.len()..].trim().to_owned())
            .unwrap_or_default()
    };
    let locked_kb: u64 = field("VmLck:").trim_end_matches("kB").trim().parse().unwrap_or(0);
    assert!(locked_kb > 0, "vrrp_no_swap: memory locked ({locked_kb} kB)");
    assert_eq!(field("Cpus_allowed_list:"), "0", "vrrp_cpu_affinity 0");
    wait_for(Duration::from_secs(3), || seen.exists())
        .unwrap_or_else(|| panic!("the check script never ran:\n{}", a.log_text()));
    let script = std::fs::read_to_string(&seen).unwrap();
    assert!(
        script.contains("SCHED_OTHER"),
        "a script does not inherit real-time scheduling: {script}"
    );
    println!(
        "operate: daemon {}; its script: {}",
        policy.lines().next().unwrap_or(""),
        script.lines().next().unwrap_or("")
    );
}
