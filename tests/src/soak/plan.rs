//! What the soak runs, decided before anything runs: the routers and the
//! implementation each one is, the virtual routers with their priorities and
//! VIPs, the configuration text every router reads, and the seeded fault
//! schedule. Pure: the same seed gives the same cluster, the same
//! reloads and the same faults for the mixed run and the baseline.

use crate::rng::Rng;

/// Routers on the LAN; every virtual router has one participant on each.
pub const ROUTERS: usize = 3;
/// IPv4 virtual routers 1..=V4 (odd VRIDs VRRPv2, even VRRPv3).
pub const V4: u8 = 120;
/// IPv6 virtual routers 1..=V6 (VRRPv3, RFC 5798).
pub const V6: u8 = 100;
/// VRIDs whose third participant is FRR's vrrpd (VRRPv3, both families) on
/// router 3 beside its keepalived.
pub const FRR_VRIDS: std::ops::RangeInclusive<u8> = 250..=253;
/// FRR's fixed priority (FRR is configured once, over vtysh).
pub const FRR_PRIORITY: u8 = 100;
/// Advert interval of every virtual router, seconds.
pub const ADVERT_S: u32 = 1;
/// Packet loss a `Loss` fault puts on a router's outgoing VRRP.
pub const LOSS: f64 = 0.3;

/// What runs on a router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `xvrrpd --mode xdp`
    Xdp,
    /// `xvrrpd --mode socket`
    Socket,
    Keepalived,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Self::Xdp => "xvrrpd-xdp",
            Self::Socket => "xvrrpd-socket",
            Self::Keepalived => "keepalived",
        }
    }

    pub fn is_xvrrpd(self) -> bool {
        self != Self::Keepalived
    }
}

/// The mixed cluster (one implementation per router, so every virtual
/// router has all three), or keepalived everywhere (the baseline). Router 3
/// runs FRR for `FRR_VRIDS` in both.
pub fn roles(baseline: bool) -> [Role; ROUTERS] {
    if baseline {
        [Role::Keepalived; ROUTERS]
    } else {
        [Role::Xdp, Role::Socket, Role::Keepalived]
    }
}

/// One virtual router (one address family).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vr {
    pub v6: bool,
    pub vrid: u8,
    /// Priority on each router; distinct, so the rightful master is known
    /// without the address tie-break.
    pub prio: [u8; ROUTERS],
    /// A second VIP (reloads add and remove it).
    pub extra: bool,
}

impl Vr {
    pub fn name(&self) -> String {
        format!("{}_{}", if self.v6 { "v6" } else { "v4" }, self.vrid)
    }

    pub fn version(&self) -> u8 {
        if self.v6 || self.vrid.is_multiple_of(2) || self.frr() {
            3
        } else {
            2
        }
    }

    /// Router 3's participant is FRR's vrrpd, not the router's daemon.
    pub fn frr(&self) -> bool {
        FRR_VRIDS.contains(&self.vrid)
    }

    /// The VIPs with prefix, primary first.
    pub fn vips(&self) -> Vec<String> {
        let mut v = vec![vip(self.v6, 1, self.vrid)];
        if self.extra {
            v.push(vip(self.v6, 2, self.vrid));
        }
        v
    }

    /// The router with the highest priority: the master once nothing is
    /// wrong (every participant preempts, RFC 5798 6.4.2).
    pub fn rightful(&self) -> usize {
        (0..ROUTERS).max_by_key(|&r| self.prio[r]).unwrap_or(0)
    }
}

/// VIP number `n` (1 primary, 2 extra) of a virtual router, with prefix.
pub fn vip(v6: bool, n: u8, vrid: u8) -> String {
    if v6 {
        format!("fd00::{n}:{vrid:x}/64")
    } else {
        format!("10.0.{n}.{vrid}/16")
    }
}

/// Router `r`'s own addresses on the LAN (index from 0).
pub fn host_addrs(r: usize) -> [String; 2] {
    [format!("10.0.0.{}/16", r + 1), format!("fd00::{}/64", r + 1)]
}

/// Every virtual router with its current priorities and VIPs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub vrs: Vec<Vr>,
}

impl Cluster {
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::seeded(seed);
        let mut vrs = Vec::new();
        for vrid in 1..=V4 {
            vrs.push(Vr {
                v6: false,
                vrid,
                prio: [0; ROUTERS],
                extra: false,
            });
        }
        for vrid in 1..=V6 {
            vrs.push(Vr {
                v6: true,
                vrid,
                prio: [0; ROUTERS],
                extra: false,
            });
        }
        for vrid in FRR_VRIDS {
            for v6 in [false, true] {
                vrs.push(Vr {
                    v6,
                    vrid,
                    prio: [0; ROUTERS],
                    extra: false,
                });
            }
        }
        for vr in &mut vrs {
            shuffle_priorities(vr, &mut rng);
        }
        Self { vrs }
    }

    /// A configuration-management change: new priorities for about a quarter
    /// of the virtual routers, the second VIP added or removed on about a
    /// tenth (not on FRR's, which has one VIP per family).
    pub fn reload(&mut self, seed: u64) {
        let mut rng = Rng::seeded(seed);
        for vr in &mut self.vrs {
            if rng.chance(0.25) {
                shuffle_priorities(vr, &mut rng);
            }
            if !vr.frr() && rng.chance(0.1) {
                vr.extra = !vr.extra;
            }
        }
    }

    /// keepalived.conf for router `r` (what xvrrpd and keepalived both
    /// read); `down_file` is the health check's failure flag. FRR's virtual
    /// routers are left out on router 3.
    pub fn conf(&self, r: usize, down_file: &str) -> String {
        let mut s = format!(
            "global_defs {{\n    router_id soak_r{}\n    script_user root\n}}\n\
             vrrp_script chk_health {{\n    script \"/usr/bin/test ! -e {down_file}\"\n    \
             interval 1\n    fall 1\n    rise 1\n}}\n",
            r + 1
        );
        for vr in self.vrs.iter().filter(|vr| !(vr.frr() && r == ROUTERS - 1)) {
            s.push_str(&format!(
                "vrrp_instance {name} {{\n    state BACKUP\n    interface eth0\n    \
                 virtual_router_id {vrid}\n    priority {prio}\n    version {ver}\n    \
                 advert_int {ADVERT_S}\n{six}    track_script {{\n        chk_health\n    }}\n    \
                 virtual_ipaddress {{\n{vips}    }}\n}}\n",
                name = vr.name(),
                vrid = vr.vrid,
                prio = vr.prio[r],
                ver = vr.version(),
                six = if vr.v6 { "    native_ipv6\n" } else { "" },
                vips = vr
                    .vips()
                    .iter()
                    .map(|v| format!("        {v}\n"))
                    .collect::<String>(),
            ));
        }
        s
    }
}

/// Three distinct priorities in 20..=240 (FRR's fixed one on router 3 for
/// FRR's virtual routers).
fn shuffle_priorities(vr: &mut Vr, rng: &mut Rng) {
    let mut taken = Vec::new();
    if vr.frr() {
        taken.push(FRR_PRIORITY);
    }
    while taken.len() < ROUTERS {
        let p = 20 + rng.below(221) as u8;
        if !taken.contains(&p) {
            taken.push(p);
        }
    }
    if vr.frr() {
        // FRR's stays on router 3.
        taken.rotate_left(1);
    }
    vr.prio.copy_from_slice(&taken);
}

/// What a fault does (to one router, or to all for `Reload`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// The router's switch port down for the hold, then up.
    Link,
    /// `LOSS` of the router's outgoing VRRP (iptables `statistic`).
    Loss,
    /// SIGKILL of the router's daemon, started again after the hold.
    Kill,
    /// SIGTERM, started again after the hold.
    Restart,
    /// New configuration written to every router, SIGHUP to every daemon
    /// within a few hundred milliseconds (config management).
    Reload,
    /// The health check fails on the router for the hold.
    Health,
    /// Stalled and busy clients on the router's metrics endpoint and
    /// control socket (xvrrpd routers; nothing to do for keepalived).
    Scrape,
}

impl Kind {
    pub const ALL: [Self; 7] = [
        Self::Link,
        Self::Loss,
        Self::Kill,
        Self::Restart,
        Self::Reload,
        Self::Health,
        Self::Scrape,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Link => "link down/up",
            Self::Loss => "30% advert loss",
            Self::Kill => "kill -9 + start",
            Self::Restart => "SIGTERM + start",
            Self::Reload => "SIGHUP everywhere",
            Self::Health => "health check fails",
            Self::Scrape => "stalled/busy clients",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub kind: Kind,
    /// The router (ignored for `Reload`).
    pub router: usize,
}

/// One step: its faults start together, last `hold_ms`, are undone together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub faults: Vec<Fault>,
    pub hold_ms: u32,
    /// Seed of the step's reload (when it has one).
    pub reload_seed: u64,
}

impl Step {
    /// The step's kinds, e.g. "kill -9 + start & link down/up".
    pub fn label(&self) -> String {
        let mut kinds: Vec<Kind> = self.faults.iter().map(|f| f.kind).collect();
        kinds.sort();
        kinds.iter().map(|k| k.label()).collect::<Vec<_>>().join(" & ")
    }

    /// Routers a fault is aimed at (a reload's changes are told apart by
    /// virtual router; metrics clients must change nothing).
    pub fn targets(&self) -> Vec<usize> {
        let mut t: Vec<usize> = self
            .faults
            .iter()
            .filter(|f| !matches!(f.kind, Kind::Scrape | Kind::Reload))
            .map(|f| f.router)
            .collect();
        t.sort_unstable();
        t.dedup();
        t
    }
}

/// `n` steps from `seed`: one fault, or (a third of the time) two at once on
/// different routers; holds of 2 to 6 s. Metrics clients aim at routers 1
/// and 2 (where the mixed cluster runs xvrrpd).
pub fn schedule(seed: u64, n: usize) -> Vec<Step> {
    let mut rng = Rng::seeded(seed ^ 0x50a4);
    let mut steps = Vec::with_capacity(n);
    for _ in 0..n {
        let mut faults: Vec<Fault> = Vec::new();
        let count = if rng.chance(1.0 / 3.0) { 2 } else { 1 };
        while faults.len() < count {
            let kind = Kind::ALL[rng.below(Kind::ALL.len() as u64) as usize];
            let router = if kind == Kind::Scrape {
                rng.below(2) as usize
            } else {
                rng.below(ROUTERS as u64) as usize
            };
            // A reload is aimed at every router; other faults at distinct ones.
            let clash = faults.iter().any(|f| {
                (f.kind == Kind::Reload) == (kind == Kind::Reload)
                    && (kind == Kind::Reload || f.router == router)
            });
            if !clash {
                faults.push(Fault { kind, router });
            }
        }
        steps.push(Step {
            faults,
            hold_ms: 2000 + rng.below(4001) as u32,
            reload_seed: rng.below(u64::MAX),
        });
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_are_distinct_and_frr_keeps_its_own() {
        let mut c = Cluster::new(7);
        for seed in 0..20 {
            c.reload(seed);
            for vr in &c.vrs {
                let mut p = vr.prio.to_vec();
                p.dedup();
                p.sort_unstable();
                p.dedup();
                assert_eq!(p.len(), ROUTERS, "{vr:?}");
                if vr.frr() {
                    assert_eq!(vr.prio[ROUTERS - 1], FRR_PRIORITY);
                    assert!(!vr.extra);
                }
            }
        }
        assert_eq!(
            c.vrs.len(),
            usize::from(V4) + usize::from(V6) + 2 * FRR_VRIDS.count()
        );
    }

    #[test]
    fn same_seed_same_schedule_and_faults_on_distinct_routers() {
        assert_eq!(schedule(3, 200), schedule(3, 200));
        assert_ne!(schedule(3, 50), schedule(4, 50));
        let steps = schedule(3, 500);
        for s in &steps {
            let aimed: Vec<&Fault> = s.faults.iter().filter(|f| f.kind != Kind::Reload).collect();
            let mut r: Vec<usize> = aimed.iter().map(|f| f.router).collect();
            r.sort_unstable();
            r.dedup();
            assert_eq!(r.len(), aimed.len(), "{s:?}");
            assert!(s.faults.iter().filter(|f| f.kind == Kind::Reload).count() <= 1);
            assert!((2000..=6000).contains(&s.hold_ms));
        }
        for k in Kind::ALL {
            assert!(
                steps.iter().any(|s| s.faults.iter().any(|f| f.kind == k)),
                "{k:?} never drawn"
            );
        }
        assert!(steps.iter().any(|s| s.faults.len() == 2));
    }

    #[test]
    fn router_three_leaves_frr_virtual_routers_to_frr() {
        let c = Cluster::new(1);
        let r3 = c.conf(2, "/x");
        let r1 = c.conf(0, "/x");
        assert!(!r3.contains("vrrp_instance v4_250 "));
        assert!(r1.contains("vrrp_instance v4_250 ") && r1.contains("vrrp_instance v6_253 "));
        assert!(r1.contains("native_ipv6") && r1.contains("fd00::1:fd/64"));
    }
}
