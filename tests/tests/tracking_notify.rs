//! Tracking and notification against keepalived 2.2.7 (issue
//! tracking-notify): a `track_file` value moves mastership and back; a sync
//! group whose group-level script fails goes to FAULT as a whole; a
//! `vrrp_track_process` follows a process started and killed; the notify
//! FIFO lines for the same transitions are the ones keepalived writes (both
//! run in the lab on the same stimuli); an `smtp_alert` mail reaches a local
//! SMTP sink. Plain veths behind a bridge, keepalived as the peer.

use std::{
    fs,
    io::Read as _,
    path::Path,
    process::{Child, Command, Stdio},
    thread,
    time::Duration,
};

use xvrrp_tests::{
    daemon::{Daemon, Keepalived, Scratch, wait_for},
    have_root,
    lab::Lab,
};

fn two_hosts() -> Lab {
    let mut lab = Lab::new();
    lab.host("a", &["192.0.2.1/24"]);
    lab.host("b", &["192.0.2.2/24"]);
    lab
}

/// One instance block.
fn instance(name: &str, vrid: u8, priority: u8, vip: &str, extra: &str) -> String {
    format!(
        "vrrp_instance {name} {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {vrid}\n    \
         priority {priority}\n    advert_int 1\n    virtual_ipaddress {{\n        {vip}\n    }}\n{extra}}}\n"
    )
}

fn priority(d: &Daemon, name: &str) -> Option<u64> {
    d.status()?["instances"]
        .as_array()?
        .iter()
        .find(|i| i["name"] == name)?["effective_priority"]
        .as_u64()
}

/// Waits for `f`; on time-out fails with `logs()` as they are then.
fn must(what: &str, limit_s: u64, logs: impl Fn() -> Vec<String>, f: impl FnMut() -> bool) {
    let met = wait_for(Duration::from_secs(limit_s), f).is_some();
    assert!(met, "{what} within {limit_s} s:\n{}", logs().join("\n------\n"));
}

/// xvrrpd on a (VI_1 with `definition` and `track` in it) and keepalived on
/// b, at the priorities given.
fn xvrrpd_tracking_against_keepalived(
    lab: &Lab,
    dir: &Scratch,
    definition: &str,
    track: &str,
    (a_prio, b_prio): (u8, u8),
) -> (Daemon, Keepalived) {
    let track = track.replace("{ ", "{\n        ").replace(" }", "\n    }\n");
    let a_conf = dir.write(
        "a.conf",
        &format!(
            "{definition}{}",
            instance("VI_1", 51, a_prio, "192.0.2.100/24", &format!("    {track}"))
        ),
    );
    let b_conf = dir.write("b.conf", &instance("VI_1", 51, b_prio, "192.0.2.100/24", ""));
    let a = Daemon::start(lab.get("a"), &a_conf, &dir.0.join("ra"), "auto");
    fs::create_dir_all(dir.0.join("kb")).unwrap();
    let b = Keepalived::start(lab.get("b"), &b_conf, &dir.0.join("kb"));
    (a, b)
}

#[test]
fn track_file_value_moves_mastership_and_back() {
    if !have_root("track_file_value_moves_mastership_and_back") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("trackfile");
    let file = dir.0.join("weight.track");
    let definition = format!(
        "track_file tf {{\n    file {}\n    weight 10\n    init_file 0\n}}\n",
        file.display()
    );
    let (a, b) = xvrrpd_tracking_against_keepalived(&lab, &dir, &definition, "track_file { tf }", (100, 105));
    let logs = || vec![a.log_text(), b.log_text()];
    must("keepalived master, xvrrpd backup", 12, logs, || {
        a.state("VI_1").as_deref() == Some("BACKUP") && b.log_text().contains("Entering MASTER STATE")
    });
    // init_file made the file with 0.
    assert_eq!(fs::read_to_string(&file).unwrap().trim(), "0");
    assert_eq!(priority(&a, "VI_1"), Some(100));
    // 1 x 10: 110 beats keepalived's 105 (after Master_Down_Interval: a
    // backup does not preempt on a lower advert, it stops resetting its
    // timer on it).
    fs::write(&file, "1\n").unwrap();
    must("priority 110 and mastership", 8, logs, || {
        priority(&a, "VI_1") == Some(110) && a.state("VI_1").as_deref() == Some("MASTER")
    });
    must("keepalived backup", 5, logs, || {
        b.log_text().matches("Entering BACKUP STATE").count() >= 1
    });
    // Replaced by a rename (how config management writes files): read again.
    let tmp = dir.0.join("weight.tmp");
    fs::write(&tmp, "0\n").unwrap();
    fs::rename(&tmp, &file).unwrap();
    must("priority 100 and keepalived master again", 8, logs, || {
        priority(&a, "VI_1") == Some(100)
            && a.state("VI_1").as_deref() == Some("BACKUP")
            && b.log_text().matches("Entering MASTER STATE").count() >= 2
    });
    // A number out of range is ignored (the last value stays); text that is
    // not a number reads as 0; a deleted file counts 0.
    fs::write(&file, "2\n").unwrap();
    must("priority 120", 5, logs, || priority(&a, "VI_1") == Some(120));
    fs::write(&file, "99999999999999999999\n").unwrap();
    must("the number reported and ignored", 5, logs, || {
        a.log_text().contains("invalid number read from")
    });
    assert_eq!(priority(&a, "VI_1"), Some(120), "{}", a.log_text());
    fs::write(&file, "abc\n").unwrap();
    must("priority 100 for text", 5, logs, || {
        priority(&a, "VI_1") == Some(100)
    });
    fs::write(&file, "3\n").unwrap();
    must("priority 130", 5, logs, || priority(&a, "VI_1") == Some(130));
    // A reload keeps the reading (the file is read again, to the same value).
    a.signal("HUP");
    must("the reload", 5, logs, || a.log_text().contains("reload done"));
    thread::sleep(Duration::from_millis(300));
    assert_eq!(priority(&a, "VI_1"), Some(130), "{}", a.log_text());
    fs::remove_file(&file).unwrap();
    must("priority 100 for a deleted file", 5, logs, || {
        priority(&a, "VI_1") == Some(100)
    });
}

#[test]
fn sync_group_level_script_failure_faults_the_whole_group() {
    if !have_root("sync_group_level_script_failure_faults_the_whole_group") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("sgtrack");
    let flag = dir.0.join("fail");
    let script = dir.write("chk.sh", &format!("#!/bin/sh\ntest ! -e {}\n", flag.display()));
    Command::new("chmod").arg("755").arg(&script).status().unwrap();
    let group = format!(
        "vrrp_script chk {{\n    script \"{}\"\n    interval 1\n}}\n\
         vrrp_sync_group G1 {{\n    group {{\n        VI_1\n        VI_2\n    }}\n    track_script {{\n        chk\n    }}\n}}\n",
        script.display()
    );
    let a_conf = dir.write(
        "a.conf",
        &(group
            + &instance("VI_1", 51, 150, "192.0.2.100/24", "")
            + &instance("VI_2", 52, 150, "192.0.2.101/24", "")),
    );
    let b_conf = dir.write(
        "b.conf",
        &(instance("VI_1", 51, 100, "192.0.2.100/24", "") + &instance("VI_2", 52, 100, "192.0.2.101/24", "")),
    );
    let a = Daemon::start(lab.get("a"), &a_conf, &dir.0.join("ra"), "auto");
    fs::create_dir_all(dir.0.join("kb")).unwrap();
    let b = Keepalived::start(lab.get("b"), &b_conf, &dir.0.join("kb"));
    let logs = || vec![a.log_text(), b.log_text()];
    must("xvrrpd master of both", 12, logs, || {
        a.state("VI_1").as_deref() == Some("MASTER") && a.state("VI_2").as_deref() == Some("MASTER")
    });
    // The group's own script fails: both members go to FAULT, keepalived
    // takes both VRIDs.
    fs::write(&flag, "").unwrap();
    must("both members in FAULT", 6, logs, || {
        a.state("VI_1").as_deref() == Some("FAULT") && a.state("VI_2").as_deref() == Some("FAULT")
    });
    must("keepalived master of both", 6, logs, || {
        let t = b.log_text();
        t.contains("(VI_1) Entering MASTER STATE") && t.contains("(VI_2) Entering MASTER STATE")
    });
    let addrs = lab.get("a").ip(&["-o", "addr", "show", "dev", "eth0"]);
    let addrs = String::from_utf8_lossy(&addrs.stdout);
    assert!(
        !addrs.contains("192.0.2.100") && !addrs.contains("192.0.2.101"),
        "{addrs}"
    );
    fs::remove_file(&flag).unwrap();
    must("both members master again", 10, logs, || {
        a.state("VI_1").as_deref() == Some("MASTER") && a.state("VI_2").as_deref() == Some("MASTER")
    });
}

/// A copy of `sleep` with a name of its own (the kernel's 15-character
/// `comm`), so that no other process on the host counts.
fn sleeper(dir: &Path, tag: &str) -> (std::path::PathBuf, String) {
    let name = format!("xv{}{tag}", std::process::id() % 100_000);
    assert!(name.len() <= 15, "{name}: longer than the kernel's process name");
    let path = dir.join(&name);
    fs::copy("/bin/sleep", &path).unwrap();
    Command::new("chmod").arg("755").arg(&path).status().unwrap();
    (path, name)
}

#[test]
fn track_process_follows_a_process_started_and_killed() {
    if !have_root("track_process_follows_a_process_started_and_killed") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("trackproc");
    let (bin, name) = sleeper(&dir.0, "tp");
    let definition = format!(
        "vrrp_track_process worker {{\n    process {name}\n    weight 0\n    terminate_delay 0.5\n}}\n"
    );
    let (a, b) =
        xvrrpd_tracking_against_keepalived(&lab, &dir, &definition, "track_process { worker }", (150, 100));
    let logs = || vec![a.log_text(), b.log_text()];
    // Not running: weight 0 means FAULT.
    must("xvrrpd in FAULT, keepalived master", 12, logs, || {
        a.state("VI_1").as_deref() == Some("FAULT") && b.log_text().contains("Entering MASTER STATE")
    });
    // Started in a network namespace, it listens to the kernel's process
    // events from the host's when it can enter that one (/proc/1/ns/net),
    // else it scans /proc; keepalived under `ip netns exec` hears nothing
    // and stays in FAULT.
    let host_visible = lab
        .get("a")
        .try_exec(&["stat", "-L", "/proc/1/ns/net"])
        .status
        .success();
    let expected = if host_visible {
        "process events through the host's network namespace"
    } else {
        "scanning /proc"
    };
    assert!(a.log_text().contains(expected), "{expected}:\n{}", a.log_text());
    let mut worker: Child = Command::new(&bin).arg("1000").spawn().unwrap();
    must("xvrrpd master once the process runs", 10, logs, || {
        a.state("VI_1").as_deref() == Some("MASTER")
    });
    let _ = worker.kill();
    let _ = worker.wait();
    must("FAULT once it is killed", 6, logs, || {
        a.state("VI_1").as_deref() == Some("FAULT")
    });
    must("keepalived master again", 6, logs, || {
        b.log_text().matches("Entering MASTER STATE").count() >= 2
    });
}

/// Under keepalived's name with `-s NAME` (started in the host's network
/// namespace, moved to the router's), as keepalived does: the process events
/// come through the namespace it started in.
#[test]
fn keepalived_dash_s_tracks_processes_from_the_namespace_it_started_in() {
    if !have_root("keepalived_dash_s_tracks_processes_from_the_namespace_it_started_in") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("dashs");
    let (bin, name) = sleeper(&dir.0, "ds");
    let link = dir.0.join("keepalived");
    std::os::unix::fs::symlink(xvrrp_tests::daemon::xvrrpd_bin(), &link).unwrap();
    let conf = dir.write(
        "k.conf",
        &format!(
            "vrrp_track_process worker {{\n    process {name}\n    weight 0\n}}\n{}",
            instance(
                "VI_1",
                51,
                150,
                "192.0.2.100/24",
                "    track_process {\n        worker\n    }\n"
            )
        ),
    );
    let log = dir.0.join("console.log");
    let mut child = Command::new(&link)
        .args(["-s", lab.get("a").name(), "--dont-fork", "--log-console", "-f"])
        .arg(&conf)
        .args(["-p", dir.0.join("ka.pid").to_str().unwrap()])
        .args(["-r", dir.0.join("ka-vrrp.pid").to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn");
    let text = || fs::read_to_string(&log).unwrap_or_default();
    must(
        "FAULT without the process",
        10,
        || vec![text()],
        || text().contains("(VI_1) Entering FAULT STATE"),
    );
    assert!(
        text().contains("process events through the host's network namespace"),
        "{}",
        text()
    );
    let mut worker = Command::new(&bin).arg("1000").spawn().unwrap();
    must(
        "MASTER with it",
        10,
        || vec![text()],
        || text().contains("(VI_1) Entering MASTER STATE"),
    );
    let _ = worker.kill();
    let _ = worker.wait();
    must(
        "FAULT once it is killed",
        5,
        || vec![text()],
        || text().matches("(VI_1) Entering FAULT STATE").count() >= 2,
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = wait_for(Duration::from_secs(5), || {
        child.try_wait().ok().flatten().is_some()
    });
    let _ = child.kill();
    let _ = child.wait();
}

/// Drives a process tracker (quorum 2) through two copies of a process
/// started and killed one after the other, on a thread in `netns` (the
/// host's namespace when `None`): the three quorum readings it reports.
fn count_two_processes(
    tag: &str,
    netns: Option<&xvrrp_tests::netns::NetNs>,
) -> Vec<Option<xvrrpd::trackers::TrackEvent>> {
    use xvrrpd::{
        config::model::{ParamMatch, TrackProcessDef},
        trackers::{TrackEvent, process},
    };
    let dir = Scratch::new(tag);
    let (bin, name) = sleeper(&dir.0, tag);
    let def = TrackProcessDef {
        name: "p".to_owned(),
        process: name,
        params: Vec::new(),
        param_match: ParamMatch::None,
        full_command: false,
        weight: 0,
        reverse: false,
        quorum: 2,
        quorum_max: u32::MAX,
        fork_delay_ms: 0,
        terminate_delay_ms: 0,
    };
    let _inside = netns.map(xvrrp_tests::netns::NetNs::enter);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    rt.block_on(async move {
        let task = process::spawn(&[def], None, &tx).unwrap();
        async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<TrackEvent>) -> Option<TrackEvent> {
            tokio::time::timeout(Duration::from_secs(3), rx.recv())
                .await
                .ok()
                .flatten()
        }
        let first = next(&mut rx).await;
        let one = Command::new(&bin).arg("1000").spawn().unwrap();
        let two = Command::new(&bin).arg("1000").spawn().unwrap();
        let up = next(&mut rx).await;
        let mut kids = [one, two];
        let _ = kids[0].kill();
        let _ = kids[0].wait();
        let down = next(&mut rx).await;
        let _ = kids[1].kill();
        let _ = kids[1].wait();
        task.abort();
        vec![first, up, down]
    })
}

fn quorum(up: bool) -> xvrrpd::trackers::TrackEvent {
    xvrrpd::trackers::TrackEvent::Process {
        name: "p".to_owned(),
        up,
    }
}

/// The kernel's process events in the host's network namespace (where a
/// daemon outside a container runs): the tracker counts from the events. No
/// traffic: a netlink socket to the kernel only.
#[test]
fn process_events_count_a_process_in_the_host_namespace() {
    if !have_root("process_events_count_a_process_in_the_host_namespace") {
        return;
    }
    assert_eq!(
        count_two_processes("ev", None),
        [Some(quorum(false)), Some(quorum(true)), Some(quorum(false))]
    );
}

/// Where the kernel sends no process events (a network namespace the
/// tracker cannot leave, as in a container) it scans /proc: the same
/// readings, a scan apart.
#[test]
fn process_tracker_scans_proc_where_no_events_come() {
    if !have_root("process_tracker_scans_proc_where_no_events_come") {
        return;
    }
    let ns = xvrrp_tests::netns::NetNs::new("noev");
    // On a thread of its own: entering the namespace changes only that thread.
    let got = std::thread::scope(|s| s.spawn(|| count_two_processes("pf", Some(&ns))).join().unwrap());
    assert_eq!(
        got,
        [Some(quorum(false)), Some(quorum(true)), Some(quorum(false))]
    );
}

/// A FIFO and a reader that copies what it reads to `out` until the
/// writer side closes.
fn fifo_reader(fifo: &Path, out: &Path) -> Child {
    let _ = fs::remove_file(fifo);
    assert!(Command::new("mkfifo").arg(fifo).status().unwrap().success());
    Command::new("sh")
        .arg("-c")
        .arg(format!("exec cat {} > {}", fifo.display(), out.display()))
        .spawn()
        .unwrap()
}

fn fifo_config(fifo: &Path, track: &Path) -> String {
    let group = "vrrp_sync_group G1 {\n    group {\n        VI_1\n        VI_2\n    }\n}\n";
    format!(
        "global_defs {{\n    notify_fifo {}\n}}\ntrack_file tf {{\n    file {}\n    weight -10\n}}\n{group}{}{}{}",
        fifo.display(),
        track.display(),
        instance("VI_1", 51, 100, "192.0.2.100/24", ""),
        instance("VI_2", 52, 100, "192.0.2.101/24", ""),
        instance(
            "VI_3",
            53,
            100,
            "192.0.2.102/24",
            "    notify_priority_changes\n    track_file {\n        tf\n    }\n"
        ),
    )
}

/// Runs one implementation on host a through the same stimuli and returns
/// the FIFO lines of each phase: start alone (BACKUP then MASTER), a
/// priority change, keepalived at 150 on b taking over, stop.
fn fifo_phases(keepalived_on_a: bool) -> Vec<Vec<String>> {
    let lab = two_hosts();
    let dir = Scratch::new(if keepalived_on_a { "fifok" } else { "fifox" });
    let fifo = dir.0.join("notify.fifo");
    let out = dir.0.join("lines.txt");
    let track = dir.0.join("tf.track");
    fs::write(&track, "0\n").unwrap();
    let mut reader = fifo_reader(&fifo, &out);
    let a_conf = dir.write("a.conf", &fifo_config(&fifo, &track));
    let b_conf = dir.write(
        "b.conf",
        &(instance("VI_1", 51, 150, "192.0.2.100/24", "")
            + &instance("VI_2", 52, 150, "192.0.2.101/24", "")
            + &instance("VI_3", 53, 150, "192.0.2.102/24", "")),
    );
    fs::create_dir_all(dir.0.join("k")).unwrap();
    fs::create_dir_all(dir.0.join("kb")).unwrap();
    let lines = || fs::read_to_string(&out).unwrap_or_default();
    let mut seen = 0;
    let mut phase = |phases: &mut Vec<Vec<String>>| {
        // Settled: nothing new for half a second.
        let mut last = lines();
        let _ = wait_for(Duration::from_secs(5), || {
            thread::sleep(Duration::from_millis(500));
            let now = lines();
            std::mem::replace(&mut last, now.clone()) == now
        });
        let all: Vec<String> = last.lines().map(str::to_owned).collect();
        phases.push(all[seen..].to_vec());
        seen = all.len();
    };
    let mut phases = Vec::new();
    let count = |needle: &str| lines().matches(needle).count();
    enum Impl {
        K(Keepalived),
        X(Daemon),
    }
    let mut a = if keepalived_on_a {
        Impl::K(Keepalived::start(lab.get("a"), &a_conf, &dir.0.join("k")))
    } else {
        Impl::X(Daemon::start(lab.get("a"), &a_conf, &dir.0.join("ra"), "auto"))
    };
    let log = |a: &Impl| match a {
        Impl::K(k) => k.log_text(),
        Impl::X(d) => d.log_text(),
    };
    must("BACKUP lines", 10, || vec![log(&a)], || count(" BACKUP ") >= 4);
    phase(&mut phases);
    must(
        "MASTER lines",
        10,
        || vec![log(&a), lines()],
        || count(" MASTER ") >= 4,
    );
    phase(&mut phases);
    fs::write(&track, "1\n").unwrap();
    must(
        "a priority line",
        5,
        || vec![log(&a), lines()],
        || count("_PRIORITY") >= 1,
    );
    phase(&mut phases);
    let mut b = Keepalived::start(lab.get("b"), &b_conf, &dir.0.join("kb"));
    must(
        "BACKUP lines after b",
        10,
        || vec![log(&a), lines()],
        || count(" BACKUP ") >= 8,
    );
    phase(&mut phases);
    match &mut a {
        Impl::K(k) => k.stop(),
        Impl::X(d) => {
            d.stop();
        }
    }
    must("STOP lines", 5, || vec![lines()], || count(" STOP ") >= 4);
    phase(&mut phases);
    b.stop();
    let _ = reader.kill();
    let _ = reader.wait();
    phases
}

#[test]
fn notify_fifo_lines_match_keepalived() {
    if !have_root("notify_fifo_lines_match_keepalived") {
        return;
    }
    let keepalived = fifo_phases(true);
    let xvrrpd = fifo_phases(false);
    // Within a phase, the order of instances that change together is each
    // daemon's own (keepalived's follows its timer queue): compare the lines
    // of each phase as sets.
    eprintln!("keepalived: {keepalived:#?}\nxvrrpd: {xvrrpd:#?}");
    let sorted = |phases: &[Vec<String>]| -> Vec<Vec<String>> {
        phases
            .iter()
            .map(|p| {
                let mut p = p.clone();
                p.sort();
                p
            })
            .collect()
    };
    assert_eq!(
        sorted(&xvrrpd),
        sorted(&keepalived),
        "FIFO lines per phase differ\nxvrrpd: {xvrrpd:#?}\nkeepalived: {keepalived:#?}"
    );
    // After start-up (where keepalived names the group first), a group's
    // line follows its members' as in keepalived.
    for phase in &xvrrpd[1..] {
        if let Some(g) = phase.iter().position(|l| l.starts_with("GROUP")) {
            let members_after = phase[g..]
                .iter()
                .filter(|l| l.contains("\"VI_1\"") || l.contains("\"VI_2\""))
                .count();
            assert_eq!(
                members_after, 0,
                "the group line comes after its members: {phase:?}"
            );
        }
    }
}

#[test]
fn an_alert_mail_reaches_the_smtp_sink() {
    if !have_root("an_alert_mail_reaches_the_smtp_sink") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("smtp");
    // aiosmtpd (apt python3-aiosmtpd) in a's namespace prints every mail.
    let sink_out = dir.0.join("sink.txt");
    let mut sink = Command::new("ip")
        .args([
            "netns",
            "exec",
            lab.get("a").name(),
            "/usr/bin/python3",
            "-u",
            "-m",
            "aiosmtpd",
            "-n",
        ])
        .args(["-l", "127.0.0.1:2525"])
        .stdout(fs::File::create(&sink_out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("aiosmtpd (apt python3-aiosmtpd)");
    let listening = wait_for(Duration::from_secs(10), || {
        lab.get("a")
            .try_exec(&["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/2525"])
            .status
            .success()
    });
    assert!(listening.is_some(), "the SMTP sink does not listen");
    let a_conf = dir.write(
        "a.conf",
        &format!(
            "global_defs {{\n    router_id edge-a\n    notification_email {{\n        ops@example.com\n        \
             noc@example.com\n    }}\n    notification_email_from vrrp@example.com\n    smtp_server 127.0.0.1 2525\n    \
             smtp_connect_timeout 5\n}}\n{}",
            instance("VI_1", 51, 150, "192.0.2.100/24", "    smtp_alert\n")
        ),
    );
    let a = Daemon::start(lab.get("a"), &a_conf, &dir.0.join("ra"), "auto");
    let mail = || {
        let mut s = String::new();
        let _ = fs::File::open(&sink_out).and_then(|mut f| f.read_to_string(&mut s));
        s
    };
    must(
        "the MASTER mail",
        15,
        || vec![a.log_text(), mail()],
        || mail().contains("Subject: [edge-a] VRRP Instance VI_1 - Entering MASTER state"),
    );
    let text = mail();
    assert!(
        text.contains("=> VRRP Instance is now owning VRRP VIPs <="),
        "{text}"
    );
    assert!(text.contains("From: vrrp@example.com"), "{text}");
    assert!(
        text.contains("ops@example.com") && text.contains("noc@example.com"),
        "{text}"
    );
    // The BACKUP mail came first (keepalived mails the start-up transition too).
    let backup = text.find("Entering BACKUP state");
    let master = text.find("Entering MASTER state");
    assert!(backup.is_some() && backup < master, "{text}");
    let _ = sink.kill();
    let _ = sink.wait();
}

/// A FIFO xvrrpd makes itself, read by its `notify_fifo_script`: the script
/// gets the FIFO's path, reads and handles every line up to the STOP lines at
/// shutdown (keepalived kills it before writing them; xvrrpd waits for it to
/// see the FIFO's end and exit), and the FIFO is gone after.
#[test]
fn a_notify_fifo_xvrrpd_makes_is_read_by_its_script_up_to_stop() {
    if !have_root("a_notify_fifo_xvrrpd_makes_is_read_by_its_script_up_to_stop") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("fifoscript");
    let fifo = dir.0.join("made.fifo");
    let out = dir.0.join("read.txt");
    let reader = dir.write(
        "reader.sh",
        &format!(
            // Slow on purpose: each line is written down 50 ms after it
            // left the FIFO, so a daemon that only waits for the FIFO to
            // drain (not for its reader to finish) loses the STOP line.
            "#!/bin/sh\necho \"path $1\" > {out}\nwhile IFS= read -r l; do sleep 0.05; \
             echo \"$l\" >> {out}; done < \"$1\"\n",
            out = out.display()
        ),
    );
    Command::new("chmod").arg("755").arg(&reader).status().unwrap();
    let a_conf = dir.write(
        "a.conf",
        &format!(
            "global_defs {{\n    notify_fifo {}\n    notify_fifo_script {}\n}}\n{}",
            fifo.display(),
            reader.display(),
            instance("VI_1", 51, 150, "192.0.2.100/24", "")
        ),
    );
    let mut a = Daemon::start(lab.get("a"), &a_conf, &dir.0.join("ra"), "auto");
    let read = || fs::read_to_string(&out).unwrap_or_default();
    must(
        "MASTER read by the script",
        10,
        || vec![a.log_text(), read()],
        || read().contains("INSTANCE \"VI_1\" MASTER 150"),
    );
    assert!(
        read().starts_with(&format!("path {}\n", fifo.display())),
        "{}",
        read()
    );
    let meta = fs::symlink_metadata(&fifo).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type()));
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    a.stop();
    assert!(read().contains("INSTANCE \"VI_1\" STOP 150"), "{}", read());
    assert!(!fifo.exists(), "the FIFO xvrrpd made is left behind");
}
