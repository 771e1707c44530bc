//! Kernel cost of the XDP program: nanoseconds per packet from
//! BPF_PROG_TEST_RUN with a large repeat count, for pass-through traffic, a
//! valid advert (parse + validate + record), and an ARP request for an active
//! VIP (answered with XDP_TX). Also prints the verifier's instruction counts.
//!
//! Run by `cargo xtask bench` (or `cargo bench -p xvrrp-tests --bench kernel_cost`).
//! Needs root. Prints a Markdown table and one JSON line for the results file.

use std::net::{IpAddr, Ipv4Addr};

use aya::programs::{TestRun as _, TestRunOptions};
use xvrrp_tests::{cases, frames};
use xvrrpd::{
    datapath::{Datapath, instance_key},
    vrrp::codec::{arp::ArpPacket, ethernet::EthernetHdr},
};

const REPEAT: u32 = 2_000_000;
const ROUNDS: usize = 5;

fn ns_per_packet(program: &mut aya::programs::Xdp, frame: &[u8]) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let mut out = vec![0u8; frame.len() + 256];
        let opts = TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            repeat: REPEAT,
            ..TestRunOptions::default()
        };
        let res = program.test_run(opts).expect("BPF_PROG_TEST_RUN");
        // The kernel reports the mean duration of one run.
        best = best.min(res.duration.as_nanos() as f64);
    }
    best
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("kernel_cost: skipping: needs root");
        return;
    }
    let mut dp = Datapath::load().expect("load the XDP program");
    for (vrid, v6, rx) in cases::instances() {
        dp.set_instance(instance_key(1, v6, vrid), &rx).unwrap();
    }
    let vip = Ipv4Addr::new(192, 0, 2, 100);
    dp.set_vip(1, IpAddr::V4(vip), [0, 0, 0x5e, 0, 1, 51], 51)
        .unwrap();
    let asker = [2, 0, 0, 0, 0, 0x42];
    let mut arp = EthernetHdr {
        dst: [0xff; 6],
        src: asker,
        vlan: None,
        ethertype: 0x0806,
    }
    .encode();
    arp.extend_from_slice(
        &ArpPacket {
            op: 1,
            sha: asker,
            spa: Ipv4Addr::new(192, 0, 2, 50),
            tha: [0; 6],
            tpa: vip,
        }
        .encode(),
    );

    let udp = frames::udp_frame([192, 0, 2, 1], [192, 0, 2, 2]);
    // The cost of BPF_PROG_TEST_RUN itself and an empty XDP program: subtracted below.
    let baseline = ns_per_packet(dp.pass_program().unwrap(), &udp);
    let rows = [
        (
            "pass-through (UDP)",
            ns_per_packet(
                dp.program().unwrap(),
                &frames::udp_frame([192, 0, 2, 1], [192, 0, 2, 2]),
            ),
        ),
        (
            "valid VRRPv2 advert (PASS auth)",
            ns_per_packet(dp.program().unwrap(), &cases::keepalived_v2()),
        ),
        (
            "valid VRRPv3 IPv6 advert",
            ns_per_packet(dp.program().unwrap(), &cases::keepalived_v3_ipv6()),
        ),
        (
            "ARP request for an active VIP",
            ns_per_packet(dp.program().unwrap(), &arp),
        ),
    ];
    let info = dp.program().unwrap().info().expect("program info");
    let verified = info.verified_instruction_count().unwrap_or(0);
    let translated = info.size_translated().unwrap_or(0) / 8;

    println!("| packet | ns/packet (best of {ROUNDS} x {REPEAT}) | extra over an empty XDP program |");
    println!("|---|---|---|");
    println!("| empty XDP program (baseline) | {baseline:.1} | - |");
    for (name, ns) in &rows {
        println!("| {name} | {ns:.1} | {:.1} |", ns - baseline);
    }
    println!("\nverifier: {verified} instructions processed; program size {translated} instructions");
    let json: Vec<String> = rows
        .iter()
        .map(|(n, ns)| format!("{{\"case\":\"{n}\",\"ns_per_packet\":{ns:.2}}}"))
        .collect();
    println!(
        "JSON {{\"kernel_cost\":[{}],\"baseline_ns\":{baseline:.2},\"verified_insns\":{verified},\"insns\":{translated}}}",
        json.join(",")
    );
}
