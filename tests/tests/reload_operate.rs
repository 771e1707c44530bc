//! Operating xvrrp like keepalived: SIGHUP reloads in place (both nodes
//! reloaded, keepalived as the peer), keepalived's dump signals, signals
//! that must not stop the daemon, and the binary started under keepalived's
//! name with the command lines OpenShift and neutron use.

use std::{
    fs,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::Duration,
};

use xvrrp_tests::{
    daemon::{Daemon, Keepalived, Scratch, wait_for, xvrrpd_bin},
    have_root,
    lab::Lab,
};

fn conf(priority: u8, vips: &[&str]) -> String {
    let vips: String = vips.iter().map(|v| format!("        {v}\n")).collect();
    format!(
        "vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority {priority}\n    advert_int 1\n    virtual_ipaddress {{\n{vips}    }}\n}}\n"
    )
}

fn two_hosts() -> Lab {
    let mut lab = Lab::new();
    lab.host("a", &["192.0.2.1/24"]);
    lab.host("b", &["192.0.2.2/24"]);
    lab
}

fn transitions(d: &Daemon) -> u64 {
    d.status().expect("status")["instances"][0]["transitions"]
        .as_u64()
        .unwrap_or(0)
}

fn hup_keepalived(k: &Keepalived) {
    let pid = k.pid().expect("keepalived runs");
    let _ = Command::new("kill").args(["-HUP", &pid.to_string()]).status();
}

#[test]
fn sighup_adding_and_removing_a_vip_on_a_master_changes_no_state_on_either_side() {
    if !have_root("sighup_adding_and_removing_a_vip_on_a_master_changes_no_state_on_either_side") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("reloadvip");
    let a_conf = dir.write("a.conf", &conf(150, &["192.0.2.100/24"]));
    let b_conf = dir.write("b.conf", &conf(100, &["192.0.2.100/24"]));
    let a = Daemon::start(lab.get("a"), &a_conf, &dir.0.join("ra"), "auto");
    fs::create_dir_all(dir.0.join("kb")).unwrap();
    let b = Keepalived::start(lab.get("b"), &b_conf, &dir.0.join("kb"));
    wait_for(Duration::from_secs(10), || {
        a.state("VI_1").as_deref() == Some("MASTER") && b.log_text().contains("Entering BACKUP STATE")
    })
    .unwrap_or_else(|| panic!("no election:\n{}\n{}", a.log_text(), b.log_text()));
    thread::sleep(Duration::from_secs(1));
    let before = transitions(&a);
    // keepalived may have been master for a moment before it heard a.
    let masters = b.log_text().matches("Entering MASTER STATE").count();
    // Every address change on a, with the kernel's timestamps.
    let mut monitor = Command::new("ip")
        .args([
            "netns",
            "exec",
            lab.get("a").name(),
            "ip",
            "-ts",
            "monitor",
            "address",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ip monitor");
    thread::sleep(Duration::from_millis(300));
    // Configuration management rewrites both nodes and reloads them.
    for vips in [&["192.0.2.100/24", "192.0.2.101/24"][..], &["192.0.2.100/24"][..]] {
        fs::write(&a_conf, conf(150, vips)).unwrap();
        fs::write(&b_conf, conf(100, vips)).unwrap();
        a.signal("HUP");
        hup_keepalived(&b);
        let want = vips.len() == 2;
        wait_for(Duration::from_secs(3), || {
            lab.addrs("a").contains("192.0.2.101") == want
        })
        .unwrap_or_else(|| panic!("192.0.2.101 present = {want} never held:\n{}", a.log_text()));
        thread::sleep(Duration::from_secs(2));
    }
    let _ = monitor.kill();
    let out = monitor.wait_with_output().unwrap();
    let events = String::from_utf8_lossy(&out.stdout);
    assert!(
        !events
            .lines()
            .any(|l| l.contains("Deleted") && l.contains("192.0.2.100/")),
        "the VIP that stayed configured was removed during a reload (gap):\n{events}"
    );
    assert!(
        events
            .lines()
            .any(|l| l.contains("Deleted") && l.contains("192.0.2.101/")),
        "the removed VIP was not removed:\n{events}"
    );
    assert_eq!(a.state("VI_1").as_deref(), Some("MASTER"));
    assert_eq!(
        transitions(&a),
        before,
        "a changed state during the reloads:\n{}",
        a.log_text()
    );
    assert_eq!(
        b.log_text().matches("Entering MASTER STATE").count(),
        masters,
        "keepalived took over during the reloads:\n{}",
        b.log_text()
    );
    assert!(
        a.log_text().contains("reload: updating in place"),
        "{}",
        a.log_text()
    );
    assert!(lab.addrs("a").contains("192.0.2.100/24"));
}

#[test]
fn dump_signals_write_keepalived_files_and_other_signals_are_not_fatal() {
    if !have_root("dump_signals_write_keepalived_files_and_other_signals_are_not_fatal") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("dumps");
    let dumps = dir.0.join("dumps");
    fs::create_dir_all(&dumps).unwrap();
    let mut a = Daemon::start_args(
        lab.get("a"),
        &dir.write("a.conf", &conf(150, &["192.0.2.100/24"])),
        &dir.0.join("ra"),
        "auto",
        &["--dump-dir", dumps.to_str().unwrap()],
    );
    wait_for(Duration::from_secs(8), || {
        a.state("VI_1").as_deref() == Some("MASTER")
    })
    .unwrap_or_else(|| panic!("no master:\n{}", a.log_text()));
    let read = |name: &str| fs::read_to_string(dumps.join(name)).unwrap_or_default();
    a.signal("USR1");
    wait_for(Duration::from_secs(3), || {
        read("keepalived.data").contains("   State = MASTER")
    })
    .unwrap_or_else(|| panic!("no keepalived.data:\n{}", a.log_text()));
    let data = read("keepalived.data");
    assert!(data.contains(" VRRP Instance = VI_1"), "{data}");
    assert!(
        data.contains("     192.0.2.100/24 dev eth0 scope global set"),
        "{data}"
    );
    a.signal("USR2");
    wait_for(Duration::from_secs(3), || {
        read("keepalived.stats").contains("Became master: 1")
    })
    .unwrap_or_else(|| panic!("no keepalived.stats:\n{}", a.log_text()));
    // keepalived's JSON signal, as `keepalived --signum=JSON` names it.
    a.signal(&(libc::SIGRTMIN() + 2).to_string());
    wait_for(Duration::from_secs(3), || {
        serde_json::from_str::<serde_json::Value>(&read("keepalived.json"))
            .is_ok_and(|j| j[0]["data"]["state"] == 2 && j[0]["data"]["iname"] == "VI_1")
    })
    .unwrap_or_else(|| panic!("no keepalived.json:\n{}", read("keepalived.json")));
    // STATS_CLEAR writes the stats, then they start again.
    a.signal(&(libc::SIGRTMAX() - 1).to_string());
    thread::sleep(Duration::from_millis(500));
    a.signal("USR2");
    wait_for(Duration::from_secs(3), || {
        read("keepalived.stats").contains("Became master: 0")
    })
    .unwrap_or_else(|| panic!("stats not cleared:\n{}", read("keepalived.stats")));
    // Signals whose default would stop or kill a process: logged, not fatal.
    for sig in ["QUIT", "ALRM", "WINCH", "TSTP", "TTIN", "PWR", "VTALRM", "40"] {
        a.signal(sig);
    }
    thread::sleep(Duration::from_millis(500));
    assert_eq!(a.exited(), None, "a signal stopped the daemon:\n{}", a.log_text());
    assert_eq!(a.state("VI_1").as_deref(), Some("MASTER"));
    let mut status = String::new();
    if let Ok(s) = fs::read_to_string(format!("/proc/{}/status", a.pid().unwrap())) {
        status = s;
    }
    assert!(
        !status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains("stopped")),
        "SIGTSTP stopped the daemon"
    );
    assert_eq!(a.stop(), Some(0));
}

/// A classic two-node nginx configuration of the corpus, on this lab's
/// interface, its health script replaced by one that succeeds.
fn classic(which: &str) -> String {
    let path = format!(
        "{}/configs/classic-{which}/keepalived.conf",
        env!("CARGO_MANIFEST_DIR")
    );
    fs::read_to_string(path)
        .expect("corpus config")
        .replace("interface ens33", "interface eth0")
        .replace("/usr/local/sbin/check_ng.sh", "/bin/true")
}

/// The binary under keepalived's name, in `dir`.
fn keepalived_link(dir: &Path) -> PathBuf {
    let link = dir.join("keepalived");
    symlink(xvrrpd_bin(), &link).expect("symlink");
    link
}

#[test]
fn openshift_command_line_runs_in_the_foreground_and_logs_keepalived_lines() {
    if !have_root("openshift_command_line_runs_in_the_foreground_and_logs_keepalived_lines") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("kaopenshift");
    let link = keepalived_link(&dir.0);
    let conf = dir.write("k.conf", &classic("master"));
    let log = dir.0.join("console.log");
    // OpenShift's keepalived-monitor: --dont-fork --vrrp --log-detail --log-console.
    let mut child = Command::new("ip")
        .args(["netns", "exec", lab.get("a").name()])
        .arg(&link)
        .args(["--dont-fork", "--vrrp", "--log-detail", "--log-console", "-f"])
        .arg(&conf)
        .args(["-p", dir.0.join("ka.pid").to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn");
    let text = || fs::read_to_string(&log).unwrap_or_default();
    wait_for(Duration::from_secs(10), || {
        text().contains("(VI_1) Entering MASTER STATE")
    })
    .unwrap_or_else(|| panic!("no keepalived state line:\n{}", text()));
    assert!(lab.addrs("a").contains("192.168.188.100"));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let code = wait_for(Duration::from_secs(5), || {
        child.try_wait().ok().flatten().is_some()
    })
    .and_then(|_| child.wait().ok()?.code());
    assert_eq!(code, Some(0), "{}", text());
    assert!(!lab.addrs("a").contains("192.168.188.100"));
}

#[test]
fn neutron_command_line_daemonizes_writes_pid_files_and_refuses_a_second_copy() {
    if !have_root("neutron_command_line_daemonizes_writes_pid_files_and_refuses_a_second_copy") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("kaneutron");
    let link = keepalived_link(&dir.0);
    let conf = dir.write("k.conf", &classic("master"));
    let (pid_file, vrrp_pid) = (dir.0.join("keepalived.pid"), dir.0.join("keepalived.pid-vrrp"));
    // neutron's L3 HA: keepalived -P -f CONF -p PID -r VRRP_PID (it forks).
    let start = || {
        Command::new("ip")
            .args(["netns", "exec", lab.get("a").name()])
            .arg(&link)
            .args(["-P", "-f"])
            .arg(&conf)
            .arg("-p")
            .arg(&pid_file)
            .arg("-r")
            .arg(&vrrp_pid)
            .status()
            .expect("run")
    };
    let status = start();
    assert_eq!(
        status.code(),
        Some(0),
        "the starting process returns 0 once the daemon is up"
    );
    let pid: i32 = fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert_eq!(fs::read_to_string(&vrrp_pid).unwrap().trim(), pid.to_string());
    // SAFETY: signal 0 only checks that the process exists.
    assert_eq!(
        unsafe { libc::kill(pid, 0) },
        0,
        "the daemon runs in the background"
    );
    wait_for(Duration::from_secs(10), || {
        lab.addrs("a").contains("192.168.188.100")
    })
    .unwrap_or_else(|| panic!("the daemonized instance never became master"));
    // A second copy with the same pid files: "already running", exit 0, as
    // keepalived, and the first daemon's pid files stay as they were.
    assert_eq!(start().code(), Some(0));
    thread::sleep(Duration::from_millis(500));
    assert_eq!(fs::read_to_string(&pid_file).unwrap().trim(), pid.to_string());
    assert_eq!(fs::read_to_string(&vrrp_pid).unwrap().trim(), pid.to_string());
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, 0) }, 0, "the first daemon still runs");
    // SAFETY: SIGTERM to the daemon this test started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    wait_for(Duration::from_secs(5), || unsafe { libc::kill(pid, 0) } != 0)
        .unwrap_or_else(|| panic!("the daemon did not stop"));
    assert!(
        !pid_file.exists() && !vrrp_pid.exists(),
        "pid files removed at exit"
    );
    assert!(!lab.addrs("a").contains("192.168.188.100"));
}

#[test]
fn keepalived_signum_version_and_config_test_exit_codes() {
    let dir = Scratch::new("kacli");
    let link = keepalived_link(&dir.0);
    let run = |args: &[&str]| {
        Command::new(&link)
            .args(args)
            .output()
            .expect("run the keepalived-named binary")
    };
    // keepalived 2.2.7 on Linux/glibc prints these.
    for (name, num) in [
        ("STOP", 15),
        ("RELOAD", 1),
        ("DATA", 10),
        ("STATS", 12),
        ("JSON", 36),
        ("STATS_CLEAR", 63),
    ] {
        let out = run(&[&format!("--signum={name}")]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            num.to_string(),
            "--signum={name}"
        );
    }
    assert_eq!(run(&["--signum=NOPE"]).status.code(), Some(1));
    let v = run(&["-v"]);
    assert_eq!(v.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&v.stderr).starts_with("Keepalived v2.2.7"));
    assert_eq!(run(&["--no-such-option"]).status.code(), Some(1));
    // -t: 0 clean, 4 no file, 5 errors.
    let good = dir.write(
        "good.conf",
        &conf(100, &["192.0.2.100/24"]).replace("interface eth0", "interface lo"),
    );
    let bad = dir.write("bad.conf", "vrrp_instance VI_1 {\n    virtual_router_id 300\n}\n");
    assert_eq!(run(&["-t", "-f", good.to_str().unwrap()]).status.code(), Some(0));
    assert_eq!(
        run(&["-t", "-f", "/nonexistent/keepalived.conf"]).status.code(),
        Some(4)
    );
    assert_eq!(run(&["-t", "-f", bad.to_str().unwrap()]).status.code(), Some(5));
}

#[test]
fn sighup_changing_interval_priority_and_name_on_both_nodes_changes_no_state() {
    if !have_root("sighup_changing_interval_priority_and_name_on_both_nodes_changes_no_state") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("reloadint");
    // keepalived is the master here, xvrrpd the backup.
    let a_conf = dir.write("a.conf", &conf(100, &["192.0.2.100/24"]));
    let b_conf = dir.write("b.conf", &conf(150, &["192.0.2.100/24"]));
    let a = Daemon::start(lab.get("a"), &a_conf, &dir.0.join("ra"), "auto");
    fs::create_dir_all(dir.0.join("kb")).unwrap();
    let b = Keepalived::start(lab.get("b"), &b_conf, &dir.0.join("kb"));
    wait_for(Duration::from_secs(10), || {
        b.log_text().contains("Entering MASTER STATE") && a.state("VI_1").as_deref() == Some("BACKUP")
    })
    .unwrap_or_else(|| panic!("no election:\n{}\n{}", a.log_text(), b.log_text()));
    thread::sleep(Duration::from_secs(2));
    let before = transitions(&a);
    let masters = b.log_text().matches("Entering MASTER STATE").count();
    // Interval 1 s -> 3 s, xvrrpd's priority 100 -> 120 and its instance
    // renamed; the master is reloaded first, then the backup.
    let slower = |p: u8| conf(p, &["192.0.2.100/24"]).replace("advert_int 1", "advert_int 3");
    fs::write(&b_conf, slower(150)).unwrap();
    hup_keepalived(&b);
    thread::sleep(Duration::from_millis(300));
    fs::write(&a_conf, slower(120).replace("VI_1", "VI_RENAMED")).unwrap();
    a.signal("HUP");
    // Long enough for three new intervals: a backup still waiting by the old
    // interval (about 3.6 s) would have taken over.
    thread::sleep(Duration::from_secs(12));
    let st = a.status().expect("status");
    let inst = &st["instances"][0];
    assert_eq!(inst["name"], "VI_RENAMED", "{st}");
    assert_eq!(inst["state"], "BACKUP", "{st}");
    assert_eq!(inst["priority"], 120, "{st}");
    assert_eq!(
        inst["transitions"].as_u64(),
        Some(before),
        "xvrrpd changed state:\n{}",
        a.log_text()
    );
    assert_eq!(
        b.log_text().matches("Entering MASTER STATE").count(),
        masters,
        "keepalived left MASTER and came back:\n{}",
        b.log_text()
    );
    assert!(
        !lab.addrs("a").contains("192.0.2.100"),
        "the backup holds the VIP"
    );
}
