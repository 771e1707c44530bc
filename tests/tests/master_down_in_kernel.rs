//! The kernel's Master_Down timer (`DOWN_WATCH`) in a lab like users'
//! networks: plain veths, keepalived as the master on the same link.

use std::time::{Duration, Instant};

use aya::maps::{Array, Map, MapData};
use xvrrp_tests::{
    daemon::{Daemon, Keepalived, Scratch, SharedBpffs, wait_for},
    have_root,
    lab::Lab,
};

/// Scheduling allowance on top of an RFC bound (a loaded 2-core CI machine).
const SLACK: Duration = Duration::from_millis(700);

/// Context switches of every thread of process `pid` so far.
fn context_switches(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the daemon runs");
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .flat_map(|s| {
            s.lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// The kernel's Master_Down timer against keepalived on a plain veth lab:
/// an xvrrpd backup (XDP) hearing keepalived's steady 100 ms adverts hands
/// its timer to the kernel and then sleeps; it still takes over within
/// Master_Down_Interval when the master goes silent (its switch port down:
/// no priority-0 advert), hands over again once the master is back, and
/// preempts at once when a tracked file raises its priority above the
/// master's (the kernel's timer, which only knew the old priority, is taken
/// back).
#[test]
fn kernel_master_down_timer_against_keepalived() {
    if !have_root("kernel_master_down_timer_against_keepalived") {
        return;
    }
    let mut lab = Lab::new();
    lab.host("a", &["192.0.2.1/24"]);
    lab.host("b", &["192.0.2.2/24"]);
    let dir = Scratch::new("kdown");
    let bump = dir.0.join("bump.track");
    let instance = |priority: u8, extra: &str| {
        format!(
            "vrrp_instance VI_70 {{\n    state BACKUP\n    interface eth0\n    version 3\n    virtual_router_id 70\n    \
             priority {priority}\n    advert_int 0.1\n{extra}    virtual_ipaddress {{\n        192.0.2.170/24\n    }}\n}}\n"
        )
    };
    std::fs::create_dir_all(dir.0.join("kb")).unwrap();
    let kb = Keepalived::start(
        lab.get("b"),
        &dir.write("kb.conf", &instance(200, "")),
        &dir.0.join("kb"),
    );
    wait_for(Duration::from_secs(5), || {
        lab.addrs("b").contains("192.0.2.170/24")
    })
    .unwrap_or_else(|| panic!("keepalived never became master:\n{}", kb.log_text()));
    let xa_conf = format!(
        "track_file bump {{\n    file {}\n    weight 1\n    init_file 0\n}}\n{}",
        bump.display(),
        instance(100, "    track_file {\n        bump\n    }\n")
    );
    let xa = Daemon::start(
        lab.get("a"),
        &dir.write("xa.conf", &xa_conf),
        &dir.0.join("xa"),
        "xdp",
    );
    let handed = |n: u64| {
        wait_for(Duration::from_secs(10), || {
            xa.state("VI_70").as_deref() == Some("BACKUP") && xa.counter("master_down_in_kernel") == n
        })
        .unwrap_or_else(|| {
            panic!(
                "master_down_in_kernel never {n}: {:?}\n{}",
                xa.status(),
                xa.log_text()
            )
        })
    };
    handed(1);

    // Asleep: the master is heard in the kernel only. Without the kernel's
    // timer the daemon wakes two to three times a second here.
    let pid = xa.pid().expect("xvrrpd runs");
    let before = context_switches(pid);
    std::thread::sleep(Duration::from_secs(3));
    let woken = context_switches(pid) - before;
    assert!(
        woken <= 4,
        "the backup woke {woken} times in 3 s while the kernel kept its timer"
    );

    // The master goes silent: the kernel's timer brings the takeover.
    let master_down = Duration::from_micros(300_000 + 156 * 100_000 / 256);
    lab.port("b", false);
    let silent = Instant::now();
    wait_for(master_down + SLACK, || {
        xa.state("VI_70").as_deref() == Some("MASTER")
    })
    .unwrap_or_else(|| {
        panic!(
            "no takeover after the master went silent: {:?}\n{}",
            xa.status(),
            xa.log_text()
        )
    });
    let took = silent.elapsed();
    assert!(
        took >= master_down / 2,
        "took over {took:?} after silence: too early"
    );
    assert_eq!(
        xa.counter("master_down_in_kernel"),
        0,
        "the master keeps no kernel timer"
    );
    assert!(lab.addrs("a").contains("192.0.2.170/24"));

    // The master is back (priority 200): backup again, and handed over again.
    lab.port("b", true);
    handed(1);

    // Our priority rises above the master's: we preempt, although the
    // kernel's timer would keep being restarted by the master's adverts, and
    // as the RFC says: Master_Down_Interval after the last advert accepted
    // (the next, lower one is discarded), not at once.
    std::fs::write(&bump, "150\n").unwrap();
    let effective = || {
        xa.status()
            .and_then(|s| s["instances"][0]["effective_priority"].as_u64())
    };
    wait_for(Duration::from_secs(5), || effective() == Some(250))
        .unwrap_or_else(|| panic!("the tracked file never raised the priority: {:?}", xa.status()));
    let raised = Instant::now();
    wait_for(Duration::from_secs(2) + SLACK, || {
        xa.state("VI_70").as_deref() == Some("MASTER")
    })
    .unwrap_or_else(|| {
        panic!(
            "no preemption at priority 250: {:?}\n{}",
            xa.status(),
            xa.log_text()
        )
    });
    let preempted = raised.elapsed();
    // Due 361 ms (Master_Down_Interval at priority 100, the timer's when it
    // was armed) after an advert at most one interval (100 ms) before the
    // change was seen; 20 ms of status polling. At once would be ~20 ms.
    assert!(
        preempted >= Duration::from_millis(150),
        "preempted {preempted:?} after the priority rose: before Master_Down_Interval ran out"
    );
    println!(
        "kernel timer: woke {woken} times in 3 s while handed over; took over {took:?} after the master went silent (Master_Down_Interval {master_down:?}); preempted {preempted:?} after the priority rose"
    );
}

/// The safety net behind the kernel's timer: a kernel clock that stops (here
/// its map entry is overwritten from userspace, which frees the timer; a
/// kernel bug would look the same) must not leave a backup that never takes
/// over. The daemon's check at its link poll (every 30 s, or at any link
/// change: a veth pair added in its namespace brings one on) finds a
/// handed-over deadline a second past without its event, takes every timer
/// back and keeps them. The same check on a healthy clock finds nothing.
#[test]
fn a_kernel_clock_that_stops_is_noticed_and_the_backup_takes_over() {
    if !have_root("a_kernel_clock_that_stops_is_noticed_and_the_backup_takes_over") {
        return;
    }
    let bpffs = SharedBpffs::mount("kclock");
    let mut lab = Lab::new();
    lab.host("a", &["192.0.2.1/24"]);
    lab.host("b", &["192.0.2.2/24"]);
    let dir = Scratch::new("kclock");
    let instance = |priority: u8| {
        format!(
            "vrrp_instance VI_71 {{\n    state BACKUP\n    interface eth0\n    version 3\n    virtual_router_id 71\n    \
             priority {priority}\n    advert_int 0.1\n    virtual_ipaddress {{\n        192.0.2.171/24\n    }}\n}}\n"
        )
    };
    std::fs::create_dir_all(dir.0.join("kb")).unwrap();
    let kb = Keepalived::start(
        lab.get("b"),
        &dir.write("kb.conf", &instance(200)),
        &dir.0.join("kb"),
    );
    wait_for(Duration::from_secs(5), || {
        lab.addrs("b").contains("192.0.2.171/24")
    })
    .unwrap_or_else(|| panic!("keepalived never became master:\n{}", kb.log_text()));
    let xa = Daemon::start_args(
        lab.get("a"),
        &dir.write("xa.conf", &instance(100)),
        &dir.0.join("xa"),
        "xdp",
        &["--bpffs", bpffs.0.to_str().unwrap()],
    );
    wait_for(Duration::from_secs(10), || {
        xa.state("VI_71").as_deref() == Some("BACKUP") && xa.counter("master_down_in_kernel") == 1
    })
    .unwrap_or_else(|| panic!("never handed over: {:?}\n{}", xa.status(), xa.log_text()));
    // A link change runs the check.
    let mut dummies = 0;
    let mut poll = || {
        dummies += 1;
        let name = format!("kc{dummies}");
        let peer = format!("{name}p");
        let out = lab
            .get("a")
            .exec(&["ip", "link", "add", &name, "type", "veth", "peer", "name", &peer]);
        assert!(out.status.success(), "ip link add {name}: {out:?}");
    };

    // Healthy: the check finds nothing, the kernel keeps the timer.
    poll();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(xa.counter("master_down_in_kernel"), 1, "{}", xa.log_text());
    assert_eq!(xa.counter("kernel_timers_off"), 0, "{}", xa.log_text());

    // Stop the kernel's clock: a userspace write of its entry frees the timer.
    let pins = bpffs.pin_dirs();
    assert_eq!(pins.len(), 1, "one pinned data path: {pins:?}");
    let path = bpffs
        .0
        .join("xvrrp")
        .join(&pins[0])
        .join(xvrrp_common::maps::DOWN_CLOCK);
    let data = MapData::from_pin(&path).expect("the clock's pin");
    assert_eq!(data.info().unwrap().value_size(), 32, "DownClock's size");
    let mut clock = Array::<_, [u8; 32]>::try_from(Map::from_map_data(data).unwrap()).unwrap();
    clock.set(0, [0u8; 32], 0).expect("overwriting the clock");

    // The master goes silent: no kernel event comes. Master_Down_Interval
    // plus the check's second of grace later, a link change runs the check.
    lab.port("b", false);
    let silent = Instant::now();
    // (The 30 s poll may come first: the warning below shows the check did it.)
    std::thread::sleep(Duration::from_millis(361 + 1000 + 300));
    poll();
    wait_for(Duration::from_secs(6) + SLACK, || {
        xa.state("VI_71").as_deref() == Some("MASTER")
    })
    .unwrap_or_else(|| {
        panic!(
            "a stopped kernel clock left the backup waiting: {:?}\n{}",
            xa.status(),
            xa.log_text()
        )
    });
    let took = silent.elapsed();
    assert!(
        xa.log_text().contains("did not run out in time"),
        "{}",
        xa.log_text()
    );
    assert_eq!(xa.counter("kernel_timers_off"), 1);
    assert!(lab.addrs("a").contains("192.0.2.171/24"));
    // Kernel timers stay off: back to backup, nothing is handed over again.
    lab.port("b", true);
    wait_for(Duration::from_secs(5), || {
        xa.state("VI_71").as_deref() == Some("BACKUP")
    })
    .unwrap_or_else(|| panic!("never backup again: {:?}", xa.status()));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        xa.counter("master_down_in_kernel"),
        0,
        "kernel timers off for good"
    );
    println!("stopped kernel clock: took over {took:?} after the master went silent");
}
