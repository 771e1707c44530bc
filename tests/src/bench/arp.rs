//! ARP responder: a bounded flood of ARP requests for an active VIP from a
//! client namespace, answered by xvrrpd's XDP program or by the kernel
//! (xvrrpd in socket mode, keepalived: the VIP is just an address).
//!
//! On this veth lab `--mode xdp` leaves ARP to the kernel (a native XDP_TX
//! reply on a veth reaches a plain far end only if it runs a program), so the
//! XDP column runs `--mode xdp-skb`, where the XDP program answers and the
//! reply goes out through the stack; the run fails unless XDP answered
//! (`arp_replies`), so the column cannot quietly measure the kernel.
//!
//! Lab: the bridge lab with the master `a` and a `client`. The client sends
//! whole frames on an AF_PACKET socket (`sendmmsg`, 64 per call) and counts
//! the replies on its link's receive counter (no socket in the reply path).
//! Everything runs on this machine's CPUs: the flood, the bridge, the
//! responder and the client's own ARP input share them, so the figure is the
//! whole path's throughput, and `cpu_us_per_reply` (all CPUs' busy time per
//! reply) is the cost of that path.

use std::{
    fs, io, mem,
    net::Ipv4Addr,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    thread,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use xvrrpd::vrrp::codec::{arp::ArpPacket, ethernet::EthernetHdr};

use super::{
    Options, enter_for_good,
    impls::{Impl, Inst, keepalived_conf},
    poll, progress,
    report::{Report, Row, quantile},
};
use crate::{daemon::Scratch, lab::Lab};

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);
const BATCH: usize = 64;

struct Plan {
    rounds: usize,
    frames: usize,
}

fn plan(quick: bool) -> Plan {
    if quick {
        Plan {
            rounds: 1,
            frames: 200_000,
        }
    } else {
        Plan {
            rounds: 5,
            frames: 500_000,
        }
    }
}

fn request(mac: [u8; 6]) -> Vec<u8> {
    let mut f = EthernetHdr {
        dst: [0xff; 6],
        src: mac,
        vlan: None,
        ethertype: 0x0806,
    }
    .encode();
    f.extend_from_slice(
        &ArpPacket {
            op: 1,
            sha: mac,
            spa: CLIENT,
            tha: [0; 6],
            tpa: VIP,
        }
        .encode(),
    );
    f
}

/// Sends `count` copies of `frame` on `iface` (calling thread's namespace);
/// returns how many the kernel took.
fn flood(iface: &str, frame: &[u8], count: usize) -> io::Result<usize> {
    let name = std::ffi::CString::new(iface).expect("interface name");
    // SAFETY: plain libc calls with valid arguments; the fd is owned below.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_ll is plain data.
    let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_ifindex = i32::try_from(ifindex).unwrap_or(0);
    addr.sll_halen = 6;
    addr.sll_addr[..6].copy_from_slice(&frame[..6]);
    let mut iov = libc::iovec {
        iov_base: frame.as_ptr() as *mut _,
        iov_len: frame.len(),
    };
    let mut hdrs: Vec<libc::mmsghdr> = (0..BATCH)
        .map(|_| {
            // SAFETY: zeroed mmsghdr is valid; pointers outlive the sendmmsg calls.
            let mut h: libc::mmsghdr = unsafe { mem::zeroed() };
            h.msg_hdr.msg_name = (&raw mut addr).cast();
            h.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_ll>() as u32;
            h.msg_hdr.msg_iov = &raw mut iov;
            h.msg_hdr.msg_iovlen = 1;
            h
        })
        .collect();
    let mut sent = 0;
    let limit = Instant::now() + Duration::from_mins(1);
    while sent < count && Instant::now() < limit {
        let n = u32::try_from((count - sent).min(BATCH)).unwrap_or(1);
        // SAFETY: n initialised headers whose buffers live through the call.
        let rc = unsafe { libc::sendmmsg(fd.as_raw_fd(), hdrs.as_mut_ptr(), n, 0) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENOBUFS) || e.kind() == io::ErrorKind::WouldBlock {
                thread::yield_now();
                continue;
            }
            return Err(e);
        }
        sent += usize::try_from(rc).unwrap_or(0);
    }
    Ok(sent)
}

/// Frames received on `iface` (this thread's namespace).
fn rx_packets(iface: &str) -> u64 {
    let text = fs::read_to_string("/proc/thread-self/net/dev").unwrap_or_default();
    text.lines()
        .find_map(|l| {
            let (name, rest) = l.split_once(':')?;
            (name.trim() == iface).then(|| rest.split_whitespace().nth(1)?.parse().ok())?
        })
        .unwrap_or(0)
}

/// Busy jiffies of all CPUs (user, nice, system, irq, softirq, steal).
fn busy_jiffies() -> u64 {
    let text = fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().next() else {
        return 0;
    };
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    [0usize, 1, 2, 5, 6, 7].iter().filter_map(|&i| f.get(i)).sum()
}

#[derive(Debug, Clone, Copy)]
struct Round {
    sent: usize,
    replies: u64,
    secs: f64,
    offered_pps: f64,
    cpu_us_per_reply: f64,
}

/// One flood from the client, in a thread inside its namespace.
fn one_round(client_ns: &str, mac: [u8; 6], frames: usize) -> Result<Round, String> {
    let ns = client_ns.to_owned();
    let handle = thread::spawn(move || -> Result<Round, String> {
        enter_for_good(&ns);
        let frame = request(mac);
        let c0 = rx_packets("eth0");
        let j0 = busy_jiffies();
        let t0 = Instant::now();
        let sent = flood("eth0", &frame, frames).map_err(|e| format!("flood: {e}"))?;
        let t_sent = Instant::now();
        // Until the counter has not moved for 300 ms (bounded by 10 s).
        let (mut last, mut last_change) = (rx_packets("eth0"), Instant::now());
        while last_change.elapsed() < Duration::from_millis(300) && t0.elapsed() < Duration::from_secs(70) {
            thread::sleep(Duration::from_millis(1));
            let c = rx_packets("eth0");
            if c != last {
                (last, last_change) = (c, Instant::now());
            }
        }
        let j1 = busy_jiffies();
        let replies = last - c0;
        let end = last_change.max(t_sent);
        let secs = end.duration_since(t0).as_secs_f64();
        let hz = super::usage::ticks_per_sec() as f64;
        Ok(Round {
            sent,
            replies,
            secs,
            offered_pps: sent as f64 / t_sent.duration_since(t0).as_secs_f64(),
            cpu_us_per_reply: (j1 - j0) as f64 / hz * 1e6 / (replies.max(1) as f64),
        })
    });
    handle.join().map_err(|_| "flood thread panicked".to_owned())?
}

fn run_impl(which: Impl, plan: &Plan) -> Result<(Vec<Round>, Value), String> {
    let mut lab = Lab::new();
    lab.host("a", &["192.0.2.1/24"]);
    lab.host("client", &["192.0.2.50/24"]);
    // The lab's bridge need not hand every frame to netfilter (br_netfilter,
    // when loaded, does by default): less fixed cost around the responder.
    for key in ["arptables", "iptables", "ip6tables"] {
        let _ = std::process::Command::new("ip")
            .args(["netns", "exec", lab.switch.name(), "sysctl", "-q", "-w"])
            .arg(format!("net.bridge.bridge-nf-call-{key}=0"))
            .output();
    }
    let dir = Scratch::new(&format!("bench-arp-{}", which.key()));
    let conf = dir.write(
        "a.conf",
        &keepalived_conf(
            "bench_a",
            &[Inst {
                name: "VI_1".to_owned(),
                iface: "eth0".to_owned(),
                vrid: 51,
                priority: 200,
                master: true,
                version: 2,
                advert_cs: 100,
                vips: vec![format!("{VIP}/24")],
            }],
        ),
    );
    let a = match which {
        Impl::Xdp => {
            let run = dir.0.join("a");
            fs::create_dir_all(&run).map_err(|e| format!("{}: {e}", run.display()))?;
            super::impls::Running::X(crate::daemon::Daemon::start(
                lab.get("a"),
                &conf,
                &run.join("run"),
                "xdp-skb",
            ))
        }
        _ => which.start(lab.get("a"), &conf, &dir.0.join("a")),
    };
    let holds = || {
        let out = lab.get("a").ip(&["-o", "-4", "addr", "show", "dev", "eth0"]);
        String::from_utf8_lossy(&out.stdout).contains(&format!("inet {VIP}/"))
    };
    if poll(Duration::from_secs(20), Duration::from_millis(50), || {
        holds() && a.entered("MASTER") >= 1
    })
    .is_none()
    {
        return Err(format!("a did not become master\n{}", a.log_text()));
    }
    // Past the gratuitous ARP bursts of the transition.
    if !super::pause(Duration::from_secs(1)) {
        return Err("interrupted".to_owned());
    }
    let client = lab.get("client");
    let mac = client.mac("eth0");
    let xdp_before = xdp_replies(&a);
    // Warm-up: neighbour entries, caches.
    one_round(client.name(), mac, 2_000)?;
    let mut rounds = Vec::new();
    for _ in 0..plan.rounds {
        if super::interrupted() {
            break;
        }
        let r = one_round(client.name(), mac, plan.frames)?;
        progress(&format!(
            "  {} requests ({:.0}/s offered) -> {} replies in {:.3} s: {:.0} replies/s, {:.2} us CPU per reply",
            r.sent,
            r.offered_pps,
            r.replies,
            r.secs,
            r.replies as f64 / r.secs,
            r.cpu_us_per_reply
        ));
        rounds.push(r);
    }
    let xdp_answered = xdp_replies(&a).saturating_sub(xdp_before);
    let replies: u64 = rounds.iter().map(|r| r.replies).sum();
    // Every reply of the XDP column must be XDP's (a few percent of slack for
    // replies the kernel sent around the warm-up).
    if which == Impl::Xdp && (xdp_answered as f64) < 0.95 * replies as f64 {
        return Err(format!(
            "XDP answered {xdp_answered} of {replies} replies: this column would measure the kernel"
        ));
    }
    let raw = json!({
        "impl": which.key(),
        "rounds": rounds.iter().map(|r| json!({
            "sent": r.sent, "replies": r.replies, "secs": r.secs,
            "replies_per_s": r.replies as f64 / r.secs, "offered_per_s": r.offered_pps,
            "cpu_us_per_reply": r.cpu_us_per_reply,
        })).collect::<Vec<_>>(),
        "answered_by_xdp": xdp_answered,
    });
    Ok((rounds, raw))
}

/// xvrrpd's `arp_replies` counter (XDP answers); 0 for keepalived.
fn xdp_replies(r: &super::impls::Running) -> u64 {
    match r {
        super::impls::Running::X(d) => d.counter("arp_replies"),
        super::impls::Running::K(_) => 0,
    }
}

pub fn run(opts: &Options, report: &mut Report) {
    let plan = plan(opts.quick);
    let mut rate = Row::new("arp", "ARP replies per second (median of rounds)", "replies/s");
    let mut cost = Row::new("arp", "CPU per reply, all CPUs (median)", "us");
    let mut lost = Row::new("arp", "requests not answered (median)", "%");
    let mut raw = Vec::new();
    for which in Impl::ALL {
        if super::interrupted() {
            return;
        }
        progress(&format!(
            "arp: {} ({} x {} requests)",
            which.label(),
            plan.rounds,
            plan.frames
        ));
        match run_impl(which, &plan) {
            Ok((rounds, r)) if !rounds.is_empty() => {
                let rates: Vec<f64> = rounds.iter().map(|r| r.replies as f64 / r.secs).collect();
                let costs: Vec<f64> = rounds.iter().map(|r| r.cpu_us_per_reply).collect();
                let losses: Vec<f64> = rounds
                    .iter()
                    .map(|r| 100.0 * (1.0 - r.replies as f64 / r.sent.max(1) as f64))
                    .collect();
                rate.set(which, quantile(&rates, 0.5));
                cost.set(which, quantile(&costs, 0.5));
                lost.set(which, quantile(&losses, 0.5).max(0.0));
                raw.push(r);
            }
            Ok(_) => {}
            Err(e) => raw.push(report.failed("arp", which, &e)),
        }
    }
    report.rows.extend([
        rate.note(
            "xvrrpd XDP column: --mode xdp-skb, XDP answers; socket mode and keepalived: the kernel answers",
        ),
        cost,
        lost,
    ]);
    report.raw.insert("arp".to_owned(), Value::Array(raw));
}
