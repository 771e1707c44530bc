//! Faults around a running daemon: health scripts that hang, fork and flood
//! their output; a lossy link between the routers.

use std::{process::Command, time::Duration};

use xvrrp_tests::{
    daemon::{Daemon, Scratch, wait_for},
    have_root,
    lab::Lab,
    netns::NetNs,
    speaker::epoch_now,
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

/// Arrival times (s since the epoch) of adverts from `src` on b's `iface`
/// over `secs`, from tcpdump. b must run in socket mode: XDP consumes adverts
/// before tcpdump sees them.
fn advert_times(lab: &Lab, iface: &str, src: &str, secs: u32) -> Vec<f64> {
    let filter = format!("ip proto 112 and src host {src}");
    let out = Command::new("ip")
        .args(["netns", "exec", lab.get("b").name(), "timeout", &secs.to_string()])
        .args(["tcpdump", "-tt", "-n", "-i", iface, "-l", &filter])
        .output()
        .expect("tcpdump (apt package tcpdump)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// 30% of VRRP packets dropped at random on the way out.
const LOSS: &[&str] = &[
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
/// Every VRRP packet dropped on the way out (put first: a partition).
const PARTITION: &[&str] = &["OUTPUT", "-p", "vrrp", "-j", "DROP"];

/// An iptables rule in a namespace, deleted on drop.
struct Rule<'a> {
    ns: &'a NetNs,
    rule: &'static [&'static str],
}

fn iptables<'a>(ns: &'a NetNs, rule: &'static [&'static str]) -> Rule<'a> {
    let r = Rule { ns, rule };
    r.apply("-I");
    r
}

impl Rule<'_> {
    fn apply(&self, op: &str) {
        let mut args = vec!["netns", "exec", self.ns.name(), "iptables", op];
        args.extend_from_slice(self.rule);
        let ok = Command::new("ip").args(&args).status().is_ok_and(|s| s.success());
        assert!(ok || op == "-D", "iptables {op} {:?}", self.rule);
    }
}

impl Drop for Rule<'_> {
    fn drop(&mut self) {
        self.apply("-D");
    }
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

    let times = advert_times(&lab, "eth0", "192.0.2.1", 6);
    assert!(times.len() >= 4, "adverts seen on b: {times:?}");
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let worst = gaps.iter().map(|g| (g - 1.0).abs()).fold(0.0, f64::max);
    println!("faults: advert gaps on the peer while the script hangs and floods: {gaps:.3?}");
    // A daemon that waited for the script would send late by the script's
    // timeout (1 s) each time; half of that separates the two on a loaded
    // machine. How late adverts are under load is measured by `cargo xtask
    // bench` (timing), not asserted here.
    assert!(
        worst < 0.5,
        "an advert was off its 1 s schedule by {worst:.3} s (the script's timeout is 1 s): {gaps:?}"
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
    let loss = iptables(lab.get("a"), LOSS);
    std::thread::sleep(Duration::from_secs(20));
    drop(loss);
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

#[test]
fn full_send_buffer_drops_adverts_and_leaves_the_other_links_on_time() {
    if !have_root("full_send_buffer_drops_adverts_and_leaves_the_other_links_on_time") {
        return;
    }
    let lab = two_hosts();
    // A second link between a and b: a veth pair of their own, eth1 on both.
    let (na, nb) = (lab.get("a"), lab.get("b"));
    lab.cable("a", "b", "eth1");
    na.ip(&["addr", "add", "198.51.100.1/24", "dev", "eth1"]);
    nb.ip(&["addr", "add", "198.51.100.2/24", "dev", "eth1"]);
    na.ip(&["link", "set", "eth1", "up"]);
    nb.ip(&["link", "set", "eth1", "up"]);
    let dir = Scratch::new("sndbuf");
    // On eth1, 40 masters at 100 ms: 400 adverts a second through one socket.
    let busy: String = (101..=140)
        .map(|vrid| {
            format!(
                "vrrp_instance B{vrid} {{\n  state BACKUP\n  interface eth1\n  version 3\n  \
                 virtual_router_id {vrid}\n  priority 100\n  advert_int 0.1\n  \
                 virtual_ipaddress {{\n    198.51.100.{vrid}/24\n  }}\n}}\n"
            )
        })
        .collect();
    let mut a = Daemon::start(
        na,
        &dir.write("a.conf", &(conf("VI_1", 51, 100, "0.1", "") + &busy)),
        &dir.0.join("ra"),
        "xdp",
    );
    // b in socket mode: its tcpdump sees a's adverts.
    let b = Daemon::start(
        nb,
        &dir.write("b.conf", &conf("VI_1", 51, 50, "0.1", "")),
        &dir.0.join("rb"),
        "socket",
    );
    let all_master = |d: &Daemon| {
        d.status().is_some_and(|s| {
            s["instances"]
                .as_array()
                .is_some_and(|v| v.len() == 41 && v.iter().all(|i| i["state"] == "MASTER"))
        })
    };
    wait_for(Duration::from_secs(8), || {
        all_master(&a) && b.state("VI_1").as_deref() == Some("BACKUP")
    })
    .expect("a masters VI_1 and the 40 instances on eth1, b backs up VI_1");
    let transitions = |d: &Daemon| -> Vec<u64> {
        d.status().unwrap()["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["transitions"].as_u64().unwrap())
            .collect()
    };
    let (ta, tb) = (transitions(&a), transitions(&b));
    assert_eq!(a.counter("adverts_tx_errors"), 0, "no errors before the fault");

    // eth1's queue stops draining (1 kbit/s, 10 MB of queue): every advert
    // stays charged to the socket until its send buffer is full.
    na.exec(&[
        "tc", "qdisc", "add", "dev", "eth1", "root", "tbf", "rate", "1kbit", "burst", "1600", "limit", "10mb",
    ]);
    wait_for(Duration::from_secs(5), || a.counter("adverts_tx_errors") > 0)
        .expect("the send buffer of eth1's advert socket fills up");
    let errors_before = a.counter("adverts_tx_errors");
    // Meanwhile VI_1's adverts on eth0 leave on their 100 ms schedule.
    let times = advert_times(&lab, "eth0", "192.0.2.1", 3);
    let errors_during = a.counter("adverts_tx_errors") - errors_before;
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let worst = gaps.iter().map(|g| (g - 0.1).abs()).fold(0.0, f64::max);
    println!(
        "faults: eth1's send buffer full: {errors_during} adverts refused in 3 s; VI_1 on eth0: \
         {} adverts, worst deviation from 100 ms {:.1} ms",
        times.len(),
        worst * 1000.0
    );
    assert!(times.len() >= 25, "VI_1's adverts on eth0 kept going: {times:?}");
    // The bound that matters to b: an advert later than Master_Down_Interval
    // minus the interval (3 x 0.1 s + Skew_Time(50) - 0.1 s = 0.28 s) lets it take
    // over; half of that. The lateness itself is `cargo xtask bench`'s (timing).
    assert!(
        worst < 0.14,
        "VI_1's adverts off schedule by {worst:.3} s: {gaps:.3?}"
    );
    assert!(
        errors_during >= 600,
        "eth1's 40 instances kept trying (and being refused): {errors_during} in 3 s"
    );
    assert_eq!(a.exited(), None, "a keeps running");
    assert_eq!(transitions(&a), ta, "no state change on a");
    assert_eq!(transitions(&b), tb, "no state change on b");
    let logged = a.log_text().matches("sending an advert failed").count();
    assert!(
        (1..=2).contains(&logged),
        "the refusal is logged once per kind, not per advert: {logged} lines"
    );

    // The queue drains: adverts flow again, nothing more is refused.
    na.exec(&["tc", "qdisc", "del", "dev", "eth1", "root"]);
    std::thread::sleep(Duration::from_millis(300));
    let (errors, tx) = (a.counter("adverts_tx_errors"), a.counter("adverts_tx"));
    let times = advert_times(&lab, "eth1", "198.51.100.1", 1);
    let sent = a.counter("adverts_tx") - tx;
    println!(
        "faults: queue drained: {sent} adverts sent in about 1 s, b saw {} on eth1",
        times.len()
    );
    assert_eq!(
        a.counter("adverts_tx_errors"),
        errors,
        "no refusals after the drain"
    );
    assert!(sent >= 300, "eth1's adverts resumed: {sent} in about 1 s");
    assert!(
        times.len() >= 200,
        "b hears eth1's adverts again: {}",
        times.len()
    );
    assert!(all_master(&a), "a still masters everything");
}

#[test]
fn partition_and_heal_under_thirty_percent_loss() {
    if !have_root("partition_and_heal_under_thirty_percent_loss") {
        return;
    }
    let lab = two_hosts();
    let (na, nb) = (lab.get("a"), lab.get("b"));
    let dir = Scratch::new("partition");
    // b stamps each state change with the wall clock, as tcpdump does.
    let stamps = dir.0.join("stamps");
    let notify = dir.write(
        "notify.sh",
        &format!("#!/bin/sh\necho \"$(date +%s.%N) $3\" >> {}\n", stamps.display()),
    );
    Command::new("chmod").arg("+x").arg(&notify).status().unwrap();
    let tolerant = "  down_timer_adverts 10\n";
    let a = Daemon::start(
        na,
        &dir.write("a.conf", &conf("VI_1", 51, 100, "0.1", tolerant)),
        &dir.0.join("ra"),
        "xdp",
    );
    // b in socket mode: its tcpdump sees what its socket receives.
    let b = Daemon::start(
        nb,
        &dir.write(
            "b.conf",
            &conf(
                "VI_1",
                51,
                50,
                "0.1",
                &format!("{tolerant}  notify \"{}\"\n", notify.display()),
            ),
        ),
        &dir.0.join("rb"),
        "socket",
    );
    wait_for(Duration::from_secs(5), || {
        a.state("VI_1").as_deref() == Some("MASTER") && b.state("VI_1").as_deref() == Some("BACKUP")
    })
    .expect("election");
    let transitions = |d: &Daemon| {
        d.status().unwrap()["instances"][0]["transitions"]
            .as_u64()
            .unwrap()
    };
    let ta = transitions(&a);
    // RFC 5798 6.1: b's Skew_Time at priority 50 and a 100 ms interval.
    let interval = 0.1;
    let skew = f64::from(256 - 50) * interval / 256.0;

    // Partitions both ways, then heals; returns (heal time, when b stepped
    // down, a's adverts arriving at b after the heal).
    let partition_and_heal = || -> (f64, f64, Vec<f64>) {
        let cut = (iptables(na, PARTITION), iptables(nb, PARTITION));
        wait_for(Duration::from_secs(4), || {
            b.state("VI_1").as_deref() == Some("MASTER")
        })
        .expect("partitioned, b takes over");
        std::thread::scope(|s| {
            let capture = s.spawn(|| advert_times(&lab, "eth0", "192.0.2.1", 3));
            // tcpdump is listening before the heal.
            std::thread::sleep(Duration::from_millis(700));
            let healed = epoch_now();
            drop(cut);
            wait_for(Duration::from_secs(2), || {
                b.state("VI_1").as_deref() == Some("BACKUP")
            })
            .expect("healed, b backs off");
            let arrivals: Vec<f64> = capture
                .join()
                .unwrap()
                .into_iter()
                .filter(|t| *t > healed)
                .collect();
            let text = std::fs::read_to_string(&stamps).unwrap_or_default();
            let stepped_down = text
                .lines()
                .filter_map(|l| l.split_once(' '))
                .filter(|(_, st)| *st == "BACKUP")
                .filter_map(|(t, _)| t.parse::<f64>().ok())
                .filter(|t| *t > healed)
                .fold(f64::MAX, f64::min);
            (healed, stepped_down, arrivals)
        })
    };

    // Without loss: two masters for at most one advert interval plus skew.
    let (healed, down, _) = partition_and_heal();
    let window = down - healed;
    println!(
        "faults: heal without loss: two masters for {:.0} ms (bound {:.0} ms)",
        window * 1000.0,
        (interval + skew) * 1000.0
    );
    // RFC 5798 6.4.3: a's next advert (one interval, plus Skew_Time of b's
    // own advert pacing) makes b step down; one more interval for scheduling
    // and the notify script's start on a loaded 2-core machine.
    assert!(
        window <= interval + skew + interval,
        "two masters for {window:.3} s after the heal"
    );

    // 30% loss both ways: no flapping with down_timer_adverts 10 ...
    let _loss = (iptables(na, LOSS), iptables(nb, LOSS));
    let (ta0, tb0) = (transitions(&a), transitions(&b));
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        (transitions(&a), transitions(&b)),
        (ta0, tb0),
        "no flap at 30% loss"
    );
    // ... and after a heal b steps down on the first advert of a it hears;
    // a lost advert costs one interval more.
    let (healed, down, arrivals) = partition_and_heal();
    let first = *arrivals.first().expect("a's adverts reach b after the heal");
    println!(
        "faults: heal at 30% loss: first advert of a after {:.0} ms, b backed off {:.0} ms after \
         the heal",
        (first - healed) * 1000.0,
        (down - healed) * 1000.0
    );
    // On the first advert it hears, not a later one: before the next (one interval).
    assert!(
        down >= first - 0.005 && down - first < interval,
        "b steps down on a's first advert: advert at {first:.3}, BACKUP at {down:.3}"
    );
    let (ta1, tb1) = (transitions(&a), transitions(&b));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        (transitions(&a), transitions(&b)),
        (ta1, tb1),
        "stable after the heal"
    );
    assert_eq!(transitions(&a), ta, "a stayed master throughout");
}

/// An operator renumbers the master's interface: its advert source leaves.
/// Adverts from an address the host no longer has must not go out (the
/// advert sockets skip the kernel's per-send source check for speed, so the
/// daemon does it from the deletions it watches); they come back with the
/// address.
#[test]
fn adverts_stop_while_their_source_address_is_deleted_and_resume_with_it() {
    if !have_root("adverts_stop_while_their_source_address_is_deleted_and_resume_with_it") {
        return;
    }
    let mut lab = Lab::new();
    lab.host("a", &["192.0.2.1/24"]);
    let dir = Scratch::new("faults-src");
    // The VIP outside the deleted prefix: deleting 192.0.2.1/24 leaves it.
    let conf = "vrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  version 3\n  virtual_router_id 7\n  \
                priority 150\n  advert_int 0.2\n  virtual_ipaddress {\n    198.51.100.7/32\n  }\n}\n";
    let a = Daemon::start(
        lab.get("a"),
        &dir.write("a.conf", conf),
        &dir.0.join("ra"),
        "auto",
    );
    wait_for(Duration::from_secs(8), || {
        a.state("VI_1").as_deref() == Some("MASTER")
    })
    .unwrap_or_else(|| panic!("a never became master:\n{}", a.log_text()));
    let adverts_from_a = |secs: f32| {
        let text = lab.capture("a", secs, "ip proto 112").text();
        text.lines()
            .filter(|l| l.contains("192.0.2.1 > 224.0.0.18"))
            .count()
    };
    let before = adverts_from_a(2.5);
    assert!(
        before >= 4,
        "adverts from 192.0.2.1 before the deletion: {before}"
    );

    lab.get("a").ip(&["addr", "del", "192.0.2.1/24", "dev", "eth0"]);
    wait_for(Duration::from_secs(5), || {
        a.log_text().contains("an advert source address was deleted")
    })
    .unwrap_or_else(|| panic!("the deletion was not noticed:\n{}", a.log_text()));
    let gone = adverts_from_a(2.5);
    assert_eq!(gone, 0, "adverts left from a deleted source address");

    lab.get("a").ip(&["addr", "add", "192.0.2.1/24", "dev", "eth0"]);
    let back = adverts_from_a(2.5);
    assert!(
        back >= 4,
        "adverts from 192.0.2.1 after it came back: {back}\n{}",
        a.log_text()
    );
    assert_eq!(a.state("VI_1").as_deref(), Some("MASTER"), "{}", a.log_text());
    println!("faults: adverts {before} before the deletion, {gone} while it lasted, {back} after");
}
