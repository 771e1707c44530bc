//! Kernel cost of the XDP program: nanoseconds per packet from
//! BPF_PROG_TEST_RUN with a large repeat count, for pass-through traffic, a
//! valid advert (parse + validate + record) and an ARP request for an active
//! VIP (answered with XDP_TX), against an empty XDP program as the baseline;
//! and the verifier's instruction counts. keepalived has no kernel program,
//! so this table has no keepalived column.

use std::net::{IpAddr, Ipv4Addr};

use aya::programs::{TestRun as _, TestRunOptions};
use serde_json::json;
use xvrrp_common::maps::InstanceKey;
use xvrrpd::{
    datapath::Datapath,
    vrrp::codec::{arp::ArpPacket, ethernet::EthernetHdr},
};

use super::{Options, progress, report::Report};
use crate::{cases, frames};

fn ns_per_packet(program: &mut aya::programs::Xdp, frame: &[u8], repeat: u32, rounds: usize) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let mut out = vec![0u8; frame.len() + 256];
        let opts = TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            repeat,
            ..TestRunOptions::default()
        };
        let res = program.test_run(opts).expect("BPF_PROG_TEST_RUN");
        // The kernel reports the mean duration of one run.
        best = best.min(res.duration.as_nanos() as f64);
    }
    best
}

fn arp_request(vip: Ipv4Addr) -> Vec<u8> {
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
    arp
}

pub fn run(opts: &Options, report: &mut Report) {
    let (repeat, rounds) = if opts.quick { (500_000, 3) } else { (2_000_000, 5) };
    progress(&format!("kernel: BPF_PROG_TEST_RUN, best of {rounds} x {repeat}"));
    let mut dp = match Datapath::load() {
        Ok(dp) => dp,
        Err(e) => {
            report
                .notes
                .push(format!("kernel: cannot load the XDP program: {e:#}"));
            return;
        }
    };
    // The fixtures' instances on ifindex 1: test_run frames arrive as if on lo.
    for (vrid, v6, rx) in cases::instances() {
        dp.set_instance(InstanceKey::new(1, v6, vrid), &rx)
            .expect("instance map");
    }
    let vip = Ipv4Addr::new(192, 0, 2, 100);
    // The row measures the XDP answer: test_run returns the XDP_TX frame.
    dp.answer_in_xdp(1);
    dp.set_vip(1, IpAddr::V4(vip), [0, 0, 0x5e, 0, 1, 51], 51, true)
        .expect("VIP map");
    let udp = frames::udp_frame([192, 0, 2, 1], [192, 0, 2, 2]);
    // BPF_PROG_TEST_RUN itself and an empty XDP program: subtracted below.
    let baseline = ns_per_packet(dp.pass_program().expect("pass program"), &udp, repeat, rounds);
    let cases: [(&str, Vec<u8>); 4] = [
        ("pass-through (UDP)", udp.clone()),
        (
            "valid VRRPv2 advert, PASS auth (parse, validate, record)",
            cases::keepalived_v2(),
        ),
        ("valid VRRPv3 IPv6 advert", cases::keepalived_v3_ipv6()),
        (
            "ARP request for an active VIP (answered, XDP_TX)",
            arp_request(vip),
        ),
    ];
    let mut rows = Vec::new();
    for (name, frame) in &cases {
        let ns = ns_per_packet(dp.program().expect("program"), frame, repeat, rounds);
        rows.push((*name, ns));
    }
    let info = dp.program().expect("program").info().expect("program info");
    let verified = info.verified_instruction_count().unwrap_or(0);
    let translated = info.size_translated().unwrap_or(0) / 8;

    let mut t = format!(
        "| XDP program, per packet (BPF_PROG_TEST_RUN, best of {rounds} x {repeat}) | ns/packet | extra over an empty XDP program |\n|---|---|---|\n| empty XDP program (baseline) | {baseline:.1} | - |\n"
    );
    for (name, ns) in &rows {
        t.push_str(&format!("| {name} | {ns:.1} | {:.1} |\n", ns - baseline));
    }
    t.push_str(&format!(
        "\nVerifier: {verified} instructions processed; the program is {translated} instructions.\n"
    ));
    progress(&format!("  baseline {baseline:.1} ns; {rows:?}"));
    report.extra.push(t);
    report.raw.insert(
        "kernel".to_owned(),
        json!({
            "repeat": repeat, "rounds": rounds,
            "baseline_ns": baseline,
            "cases": rows.iter().map(|(n, ns)| json!({"case": n, "ns_per_packet": ns, "extra_ns": ns - baseline})).collect::<Vec<_>>(),
            "verified_insns": verified,
            "insns": translated,
        }),
    );
}
