//! The lab of the many-instance cases: namespaces `a` (master) and `b`
//! joined by `ceil(N / 250)` direct veth pairs `v0`, `v1`, ... (250 VRIDs per
//! interface; veth takes native XDP, VLAN sub-interfaces would not). Link `k`
//! has 10.k.0.1/16 on a, 10.k.0.2/16 on b; instance `VI_k_v` (VRID v) has
//! the VIPs 10.k.j.v/16 for j = 1..=vips.

use std::net::Ipv4Addr;

use super::impls::Inst;
use crate::netns::NetNs;

/// VRIDs per interface.
pub const PER_LINK: usize = 250;

pub struct Twin {
    pub a: NetNs,
    pub b: NetNs,
    pub links: usize,
}

impl Twin {
    /// The lab for `n` instances.
    pub fn new(n: usize) -> Self {
        let links = n.div_ceil(PER_LINK);
        let a = NetNs::new("bench-a");
        let b = NetNs::new("bench-b");
        for k in 0..links {
            let name = format!("v{k}");
            let tmp = format!("vb{k}");
            a.ip(&[
                "link",
                "add",
                &name,
                "type",
                "veth",
                "peer",
                "name",
                &tmp,
                "netns",
                b.name(),
            ]);
            b.ip(&["link", "set", &tmp, "name", &name]);
            for (ns, host) in [(&a, 1), (&b, 2)] {
                ns.ip(&["addr", "add", &format!("10.{k}.0.{host}/16"), "dev", &name]);
                ns.ip(&["link", "set", &name, "up"]);
            }
        }
        Self { a, b, links }
    }
}

/// The instances of either side: a is master (priority 200), b backup (100).
pub fn instances(n: usize, version: u8, advert_cs: u32, vips: u8, master: bool) -> Vec<Inst> {
    (0..n)
        .map(|i| {
            let (k, vrid) = (i / PER_LINK, i % PER_LINK + 1);
            Inst {
                name: format!("VI_{k}_{vrid}"),
                iface: format!("v{k}"),
                vrid: u16::try_from(vrid).unwrap_or(1),
                priority: if master { 200 } else { 100 },
                master,
                version,
                advert_cs,
                vips: (1..=vips).map(|j| format!("10.{k}.{j}.{vrid}/16")).collect(),
            }
        })
        .collect()
}

/// True for a VIP of this lab (10.k.j.v with j >= 1).
pub fn is_vip(a: Ipv4Addr) -> bool {
    let o = a.octets();
    o[0] == 10 && o[2] >= 1 && o[3] >= 1
}

/// VIPs configured in a namespace.
pub fn vip_count(ns: &NetNs) -> usize {
    let out = ns.ip(&["-o", "-4", "addr", "show"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "inet").nth(1))
        .filter_map(|a| a.split('/').next()?.parse::<Ipv4Addr>().ok())
        .filter(|a| is_vip(*a))
        .count()
}
