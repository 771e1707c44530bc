//! Crash-only controller: after a SIGKILL the data path keeps the VIP
//! reachable, and a controller restarted within a second adopts it and resumes
//! adverts before the peer's Master_Down_Interval runs out: no state change on
//! either router. A controller started differently removes every leftover.

use std::{path::Path, time::Duration};

use xvrrp_tests::{
    classic::{Classic, Probe, longest_gap},
    daemon::wait_for,
    have_root,
};

/// A bpffs mounted for this test in the host's mount namespace: `ip netns
/// exec` gives each daemon a fresh /sys, so pins must live where the next
/// daemon sees them (on a real host that is /sys/fs/bpf). Unmounted on drop.
struct SharedBpffs(std::path::PathBuf);

impl SharedBpffs {
    fn mount(tag: &str) -> Self {
        let dir = std::path::PathBuf::from(format!("/run/xvt-bpffs-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(&dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount -t bpf");
        Self(dir)
    }

    fn pin_dirs(&self) -> Vec<String> {
        std::fs::read_dir(self.0.join("xvrrp"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for SharedBpffs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

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
    c.start_daemon_args("b", "xdp", &shared);
    wait_for(Duration::from_secs(2), || {
        c.state("b").as_deref() == Some("MASTER")
    })
    .unwrap_or_else(|| panic!("b did not resume as master:\n{}", c.daemon("b").log_text()));
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
