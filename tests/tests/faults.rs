//! Faults around a running daemon: health scripts that hang, fork and flood
//! their output; a lossy link between the routers.

use std::{process::Command, time::Duration};

use xvrrp_tests::{
    daemon::{Daemon, Scratch, wait_for},
    have_root,
    lab::Lab,
};

fn conf(name: &str, vrid: u8, priority: u8, interval: &str, extra: &str) -> String {
    format!(
        "vrrp_instance {name} {{\n  state BACKUP\n  interface eth0\n  version 3\n  virtual_router_id {vrid}\n  \
         priority {priority}\n  advert_int {interval}\n  virtual_ipaddress {{\n    192.0.2.{vrid}/24\n  }}\n{extra}}}\n"
    )
}

fn two_hosts() -> Lab {
    let mut lab = Lab::new();
    lab.host("a", &["192.0.2.1/24"]);
    lab.host("b", &["192.0.2.2/24"]);
    lab
}

/// Arrival times (s) of a's adverts on b's eth0 over `secs`, from tcpdump.
fn advert_times(lab: &Lab, secs: u32) -> Vec<f64> {
    let out = Command::new("ip")
        .args(["netns", "exec", lab.get("b").name(), "timeout", &secs.to_string()])
        .args([
            "tcpdump",
            "-tt",
            "-n",
            "-i",
            "eth0",
            "-l",
            "ip proto 112 and src host 192.0.2.1",
        ])
        .output()
        .expect("tcpdump (apt package tcpdump)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn hanging_forking_flooding_script_is_killed_and_adverts_stay_on_time() {
    if !have_root("hanging_forking_flooding_script_is_killed_and_adverts_stay_on_time") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("badscript");
    let marker = format!("1000.{}", std::process::id());
    // Megabytes on stdout, a child in the background, then a hang past the timeout.
    let script = dir.write(
        "bad.sh",
        &format!("#!/bin/sh\nhead -c 5000000 /dev/zero\nsleep {marker} &\nsleep 100\n"),
    );
    Command::new("chmod").arg("+x").arg(&script).status().unwrap();
    let scripts = format!(
        "vrrp_script bad {{\n  script \"{}\"\n  interval 1\n  timeout 1\n  weight -10\n}}\n",
        script.display()
    );
    let track = "  track_script {\n    bad\n  }\n";
    let a = Daemon::start(
        lab.get("a"),
        &dir.write("a.conf", &(scripts + &conf("VI_1", 51, 100, "1", track))),
        &dir.0.join("ra"),
        "xdp",
    );
    // b in socket mode: its tcpdump sees a's adverts (XDP would consume them first).
    let b = Daemon::start(
        lab.get("b"),
        &dir.write("b.conf", &conf("VI_1", 51, 50, "1", "")),
        &dir.0.join("rb"),
        "socket",
    );
    wait_for(Duration::from_secs(8), || {
        a.state("VI_1").as_deref() == Some("MASTER")
    })
    .expect("a becomes master");
    wait_for(Duration::from_secs(6), || {
        a.status()
            .is_some_and(|s| s["instances"][0]["effective_priority"] == 90)
    })
    .expect("the hanging script counts as failed (weight -10)");

    let times = advert_times(&lab, 6);
    assert!(times.len() >= 4, "adverts seen on b: {times:?}");
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let worst = gaps.iter().map(|g| (g - 1.0).abs()).fold(0.0, f64::max);
    println!("faults: advert gaps on the peer while the script hangs and floods: {gaps:.3?}");
    assert!(
        worst < 0.05,
        "an advert was off its 1 s schedule by {worst:.3} s: {gaps:?}"
    );
    assert_eq!(a.state("VI_1").as_deref(), Some("MASTER"));
    assert_eq!(b.state("VI_1").as_deref(), Some("BACKUP"));

    // Timeouts killed the whole process group: no forked child is left behind.
    drop(a);
    std::thread::sleep(Duration::from_millis(300));
    let left = Command::new("pgrep")
        .args(["-f", &format!("sleep {marker}")])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "children of timed-out scripts still run: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}

#[test]
fn thirty_percent_advert_loss_does_not_flap_with_down_timer_adverts() {
    if !have_root("thirty_percent_advert_loss_does_not_flap_with_down_timer_adverts") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("lossy");
    // 100 ms adverts; a backup declares the master down after 10 missed ones.
    let tolerant = "  down_timer_adverts 10\n";
    let a = Daemon::start(
        lab.get("a"),
        &dir.write("a.conf", &conf("VI_1", 51, 100, "0.1", tolerant)),
        &dir.0.join("ra"),
        "xdp",
    );
    let b = Daemon::start(
        lab.get("b"),
        &dir.write("b.conf", &conf("VI_1", 51, 50, "0.1", tolerant)),
        &dir.0.join("rb"),
        "xdp",
    );
    wait_for(Duration::from_secs(5), || {
        a.state("VI_1").as_deref() == Some("MASTER") && b.state("VI_1").as_deref() == Some("BACKUP")
    })
    .expect("election");
    let transitions = b.status().unwrap()["instances"][0]["transitions"].clone();
    let rx_before = b.counter("adverts_rx");
    // 30% of a's adverts never leave a.
    let rule = [
        "OUTPUT",
        "-p",
        "vrrp",
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        "0.3",
        "-j",
        "DROP",
    ];
    let ipt = |op: &str| {
        let mut args = vec!["netns", "exec", lab.get("a").name(), "iptables", op];
        args.extend_from_slice(&rule);
        assert!(
            Command::new("ip").args(&args).status().unwrap().success(),
            "iptables {op}"
        );
    };
    ipt("-A");
    std::thread::sleep(Duration::from_secs(20));
    ipt("-D");
    let tx = a.counter("adverts_tx");
    let st = b.status().unwrap();
    assert_eq!(st["instances"][0]["transitions"], transitions, "b never flapped");
    assert_eq!(b.state("VI_1").as_deref(), Some("BACKUP"));
    let got = b.counter("adverts_rx") - rx_before;
    println!(
        "faults: 30% loss for 20 s: b received {got} of about 200 adverts (a sent {tx} in all), no flap"
    );
    assert!(
        (100..=175).contains(&got),
        "the loss was real: {got} of ~200 arrived"
    );
}

#[test]
fn link_flapping_ten_times_a_second_settles_to_one_master() {
    if !have_root("link_flapping_ten_times_a_second_settles_to_one_master") {
        return;
    }
    let lab = two_hosts();
    let dir = Scratch::new("flap");
    let mut a = Daemon::start(
        lab.get("a"),
        &dir.write("a.conf", &conf("VI_1", 51, 100, "1", "")),
        &dir.0.join("ra"),
        "xdp",
    );
    let mut b = Daemon::start(
        lab.get("b"),
        &dir.write("b.conf", &conf("VI_1", 51, 50, "1", "")),
        &dir.0.join("rb"),
        "xdp",
    );
    wait_for(Duration::from_secs(8), || {
        a.state("VI_1").as_deref() == Some("MASTER") && b.state("VI_1").as_deref() == Some("BACKUP")
    })
    .expect("election");
    // a's cable in and out ten times a second for three seconds.
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        lab.port("a", false);
        std::thread::sleep(Duration::from_millis(50));
        lab.port("a", true);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(a.exited(), None, "a survived the flapping");
    assert_eq!(b.exited(), None, "b survived the flapping");
    // Settled: one master again, the higher one, within its Master_Down_Interval.
    let settled = wait_for(Duration::from_secs(3) + Duration::from_secs(3), || {
        a.state("VI_1").as_deref() == Some("MASTER") && b.state("VI_1").as_deref() == Some("BACKUP")
    });
    let ta = a.status().unwrap()["instances"][0]["transitions"]
        .as_u64()
        .unwrap();
    println!("faults: 30 link flaps in 3 s; settled after {settled:?}; a made {ta} transitions");
    assert!(
        settled.is_some(),
        "a={:?} b={:?}",
        a.state("VI_1"),
        b.state("VI_1")
    );
}
