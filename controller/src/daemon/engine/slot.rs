//! One running virtual router and how it is built from its configuration.

use super::*;
use crate::daemon::dump::InstanceStats;

/// One running virtual router.
pub struct Slot {
    pub cfg: InstanceCfg,
    pub fsm: fsm::Instance,
    pub iface: Iface,
    pub v6: bool,
    pub key: InstanceKey,
    pub rx: RxInstance,
    /// Source of our adverts, also the tie-breaker.
    pub src: IpAddr,
    pub base_priority: u8,
    pub transitions: u64,
    /// When the state last changed (seconds since the epoch), for the dumps.
    pub last_transition: f64,
    /// keepalived's per-instance counters, for the dumps.
    pub stats: InstanceStats,
    /// When the last valid advert from another router arrived.
    pub last_advert_us: Opt64,
    /// The XDP advert-state timestamp already fed to the state machine.
    pub xdp_seen_ns: u64,
    /// The kernel's count of recorded adverts (`ADVERTS_RX`) read before this
    /// master last read its entry, when a batch read it (`on_timers`).
    pub(super) recorded_seen: Opt64,
    /// Its Master_Down_Timer handed to the kernel (`down_watch.rs`).
    pub(super) kernel_watch: Option<super::down_watch::KernelWatch>,
    /// Other masters heard while this one is master (split brain). Boxed:
    /// most instances never hear one (16 bytes less in each).
    pub split_brain: Option<Box<SplitBrain>>,
    /// What each tracked script said last (a list: an instance tracks a few;
    /// thin: most track none).
    pub script_ok: thin_vec::ThinVec<(String, bool)>,
    /// Why the instance is in FAULT (a script, an interface, its sync group).
    /// Boxed: most instances have none (8 bytes less in each).
    pub fault: Option<Box<str>>,
    /// The interface of every VIP (`cfg.vips`, then `cfg.excluded_vips`):
    /// the addresses themselves stay in `cfg` (a copy here cost 100 bytes a
    /// VIP, issue bench-truth's per-instance memory). Thin: 8 bytes inline,
    /// and one VIP's list still fits glibc's smallest chunk.
    pub(super) vip_ifindex: thin_vec::ThinVec<u32>,
    /// The MAC the VIPs are announced with: the virtual MAC with `use_vmac`.
    pub(super) mac: [u8; 6],
    /// `use_vmac`'s virtual MAC, when active.
    pub(super) vmac: Option<[u8; 6]>,
    /// `use_vmac`'s macvlan (index, name): the VIPs of the instance's family
    /// live there. `None` with `vmac` set: XDP mode answers for the virtual
    /// MAC on the interface itself (the macvlan could not be made). Boxed:
    /// most instances have none, and inline it took 24 bytes more in each.
    pub(super) vmac_link: Option<Box<(u32, String)>>,
    /// Socket mode with a macvlan: adverts are received on it.
    pub(super) rx_link: Option<u32>,
    pub(super) link_local: Option<Ipv6Addr>,
    /// The last adverts encoded: re-encoded only when the priority changes.
    pub(super) advert_cache: AdvertCache,
}

/// An instance's last adverts encoded, and the priority they carry. The
/// multicast case, every instance but a unicast one, keeps one encoded
/// advert and no list (its destination is the group, which a reload may
/// not change): 24 bytes here and one allocation, where a list of one
/// took 32 and two (issue bench-truth's memory at 16,000 masters).
pub enum AdvertCache {
    Empty,
    Multicast(u8, Rc<[u8]>),
    /// One per unicast peer.
    Unicast(u8, Box<[Outgoing]>),
}

impl AdvertCache {
    pub fn priority(&self) -> Option<u8> {
        match self {
            Self::Empty => None,
            Self::Multicast(p, _) | Self::Unicast(p, _) => Some(*p),
        }
    }

    /// (destination, advert) of each, the multicast one to `group`.
    pub fn each(&self, group: IpAddr) -> impl Iterator<Item = (IpAddr, &Rc<[u8]>)> {
        let (one, many) = match self {
            Self::Empty => (None, &[][..]),
            Self::Multicast(_, bytes) => (Some((group, bytes)), &[][..]),
            Self::Unicast(_, msgs) => (None, &msgs[..]),
        };
        one.into_iter()
            .chain(many.iter().map(|(dst, bytes)| (*dst, bytes)))
    }
}

/// An optional time or count in 8 bytes where an `Option<u64>` takes 16
/// (two in every instance record): `u64::MAX` stands for none, a value no
/// clock in microseconds and no packet counter reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opt64(u64);

impl Opt64 {
    pub const NONE: Self = Self(u64::MAX);

    pub fn get(self) -> Option<u64> {
        (self.0 != u64::MAX).then_some(self.0)
    }
}

impl From<Option<u64>> for Opt64 {
    fn from(v: Option<u64>) -> Self {
        v.map_or(Self::NONE, Self)
    }
}

/// What a master heard of another master of its VRID.
#[derive(Debug, Default, Clone)]
pub struct SplitBrain {
    /// The one heard last, while this instance is master (logged once
    /// each); cleared when it leaves MASTER.
    pub peer: Option<IpAddr>,
    /// Their adverts, over the instance's life.
    pub adverts: u64,
}

impl Keyed for Slot {
    fn key(&self) -> InstanceKey {
        self.key
    }

    fn cfg(&self) -> &InstanceCfg {
        &self.cfg
    }
}

impl Slot {
    /// Its interface's name: the configuration's `interface` (a slot is
    /// built only for an instance that names one).
    pub fn ifname(&self) -> &str {
        self.cfg.interface.as_deref().unwrap_or_default()
    }

    /// Picks this instance's phase on the advert grid (`timers::on_grid`):
    /// a multiplicative hash of its identity, so consecutive VRIDs land on
    /// different phases (computed, not kept: 8 bytes in every record).
    pub(super) fn phase_seed(&self) -> u64 {
        let k = self.key;
        (u64::from(k.ifindex) << 9 | u64::from(k.vrid) << 1 | u64::from(self.v6))
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            >> 32
    }

    /// The sockets this instance needs from the pool.
    pub(super) fn needs(&self, group: IpAddr) -> Needs<'_> {
        let vmac_iface = self.vmac.map(|_| self.iface.index);
        Needs {
            ifname: self.ifname(),
            ifindex: self.iface.index,
            tx: self.tx(),
            rx_link: self.rx_link.map(|link| (link, self.cfg.vrid)),
            src: self.src,
            ttl: self.cfg.unicast.ttl,
            v6: self.v6,
            group,
            frame_ifaces: self.vip_ifindex.iter().copied().chain(vmac_iface).collect(),
        }
    }

    /// (ifindex, address) of every VIP, advertised ones first.
    pub(super) fn all_vips(&self) -> impl Iterator<Item = (u32, &VirtualAddress)> {
        // Both come from the same configuration (`build_slot`), which a slot
        // never changes: a reload builds a new slot.
        debug_assert_eq!(
            self.vip_ifindex.len(),
            self.cfg.vips.len() + self.cfg.excluded_vips.len()
        );
        let vips = self.cfg.vips.iter().chain(&self.cfg.excluded_vips);
        self.vip_ifindex.iter().copied().zip(vips)
    }

    /// VIP number `n` of `all_vips` (constant time: the announcer keeps
    /// the number with what it queues).
    pub(super) fn vip_at(&self, n: usize) -> Option<(u32, &VirtualAddress)> {
        let ifindex = *self.vip_ifindex.get(n)?;
        let vip = match n.checked_sub(self.cfg.vips.len()) {
            None => &self.cfg.vips[n],
            Some(excluded) => self.cfg.excluded_vips.get(excluded)?,
        };
        Some((ifindex, vip))
    }

    /// The same, owned (for a job to the side thread).
    pub(super) fn vips_owned(&self) -> Vec<(u32, VirtualAddress)> {
        self.all_vips().map(|(i, v)| (i, v.clone())).collect()
    }

    /// Where adverts leave (name, index): the macvlan unless
    /// `vmac_xmit_base`, else the interface.
    fn tx(&self) -> (&str, u32) {
        match self.vmac_link.as_deref() {
            Some((index, name)) if !self.cfg.vmac_xmit_base => (name, *index),
            _ => (self.ifname(), self.iface.index),
        }
    }

    /// Where adverts go: the multicast `group`, or the unicast peers (made
    /// when an advert is encoded: a list per instance cost 32 bytes of heap).
    /// The group cannot change under a running slot: a reload that changes
    /// `vrrp_mcast_group4/6` is refused (`event_loop`), and the advert cache
    /// is keyed by priority alone.
    pub(super) fn dsts(&self, group: IpAddr) -> Vec<IpAddr> {
        if self.cfg.unicast.peers.is_empty() {
            vec![group]
        } else {
            self.cfg.unicast.peers.iter().map(|p| p.addr).collect()
        }
    }

    /// The advert socket's key in the pool.
    pub(super) fn sender_key(&self) -> (u32, IpAddr) {
        (self.tx().1, self.src)
    }

    /// What tracked script `name` said last, if it said anything.
    pub(super) fn script_said(&self, name: &str) -> Option<bool> {
        self.script_ok.iter().find(|(n, _)| n == name).map(|(_, ok)| *ok)
    }

    /// The interface the XDP program sees a VIP's ARP/NDP requests on: a
    /// VIP on the macvlan is asked for on its base.
    pub(super) fn responder_ifindex(&self, ifindex: u32) -> u32 {
        match self.vmac_link.as_deref() {
            Some((link, _)) if *link == ifindex => self.iface.index,
            _ => ifindex,
        }
    }

    /// The receive socket this instance's adverts are heard on.
    pub(super) fn rx_bound(&self) -> u32 {
        self.rx_link.unwrap_or(self.iface.index)
    }

    /// The virtual MAC when XDP stands in for a macvlan that could not be
    /// made (frames to it handed to the stack, the unicast filter, adverts
    /// as whole frames).
    pub(super) fn emulated_vmac(&self) -> Option<[u8; 6]> {
        self.vmac.filter(|_| self.vmac_link.is_none())
    }
}

/// This host's interfaces and addresses now (empty if getifaddrs fails:
/// every instance then waits for its interface).
pub(super) fn read_host() -> HostInfo {
    HostInfo::current().unwrap_or_default()
}

/// Why `cfg` cannot bind to its interface now: the interface (or a VIP's
/// `dev`) does not exist, or it has no address to send adverts from.
pub(super) fn unbound_reason(cfg: &InstanceCfg, host: &HostInfo) -> Option<String> {
    let ifname = cfg.interface.as_deref()?;
    if crate::net::sys::ifindex(ifname).is_err() {
        return Some(format!("interface {ifname} does not exist"));
    }
    let v6 = cfg.family == crate::config::model::Family::Ipv6;
    if cfg.src_ip.is_none() && source(cfg, host, ifname, v6).is_none() {
        let kind = if v6 { "IPv6 link-local" } else { "IPv4" };
        return Some(format!("{ifname} has no {kind} address to send adverts from"));
    }
    cfg.vips
        .iter()
        .chain(&cfg.excluded_vips)
        .filter_map(|v| v.dev.as_deref())
        .find(|dev| crate::net::sys::ifindex(dev).is_err())
        .map(|dev| format!("interface {dev} (a VIP's dev) does not exist"))
}

/// The address adverts come from: the interface's first that is not a VIP
/// (VIPs move). An address owner (priority 255) whose interface has no
/// other sends from its VIP, the interface's own address (RFC 5798 5.1.1.1:
/// the primary address; keepalived sends from it).
fn source(cfg: &InstanceCfg, host: &HostInfo, ifname: &str, v6: bool) -> Option<IpAddr> {
    let vips: Vec<IpAddr> = cfg.vips.iter().map(|v| v.addr).collect();
    iface::primary_address(host, ifname, v6, &vips)
        .or_else(|| (cfg.priority == 255).then(|| iface::primary_address(host, ifname, v6, &[]))?)
}

/// The runtime form of one configured instance.
pub(super) fn build_slot(
    cfg: &InstanceCfg,
    xdp: bool,
    group: IpAddr,
    host: &HostInfo,
    link: Option<&crate::net::vmac::Made>,
) -> Result<Slot> {
    let ifname = cfg
        .interface
        .as_deref()
        .with_context(|| format!("vrrp_instance {}: no interface", cfg.name))?;
    let iface = Iface::lookup(ifname).with_context(|| format!("vrrp_instance {}", cfg.name))?;
    let v6 = cfg.family == crate::config::model::Family::Ipv6;
    let src = match cfg.src_ip {
        Some(ip) => ip,
        None => source(cfg, host, ifname, v6).with_context(|| {
            format!(
                "vrrp_instance {}: {ifname} has no {} address to send adverts from",
                cfg.name,
                if v6 { "IPv6 link-local" } else { "IPv4" }
            )
        })?,
    };
    // use_vmac: the RFC 5798 7.3 virtual MAC answers for the VIPs, from the
    // macvlan made for it; where that failed, XDP stands in (frames to the
    // virtual MAC are handed to the stack as the interface's).
    let link = link.filter(|_| cfg.vmac.is_some());
    let vmac = match (&cfg.vmac, xdp || link.is_some()) {
        (Some(_), true) => Some(if v6 {
            virtual_mac_v6(cfg.vrid)
        } else {
            virtual_mac_v4(cfg.vrid)
        }),
        (Some(_), false) => {
            warn!(instance = %cfg.name, "use_vmac: no macvlan, and socket mode cannot stand in for one: announcing the interface MAC");
            None
        }
        (None, _) => None,
    };
    let vmac_link = link.map(|l| Box::new((l.index, l.name.clone())));
    let rx_link = vmac_link
        .as_deref()
        .filter(|_| !xdp && !cfg.vmac_xmit_base)
        .map(|(index, _)| *index);
    if !cfg.accept && !xdp {
        warn!(instance = %cfg.name, "no_accept (or vrrp_strict) needs the XDP data path: in socket mode packets to the VIPs are accepted");
    }
    let mut vip_ifindex = thin_vec::ThinVec::with_capacity(cfg.vips.len() + cfg.excluded_vips.len());
    for vip in cfg.vips.iter().chain(&cfg.excluded_vips) {
        let dev = vip.dev.as_deref().unwrap_or(ifname);
        // keepalived: the instance's family's addresses on its own interface
        // go on the macvlan.
        let index = match vmac_link.as_deref() {
            Some((link, _)) if dev == ifname && vip.addr.is_ipv6() == v6 => *link,
            _ => crate::net::sys::ifindex(dev)
                .with_context(|| format!("vrrp_instance {}: VIP {}", cfg.name, vip.addr))?,
        };
        vip_ifindex.push(index);
    }
    let auth = match &cfg.auth {
        Some(a) if cfg.version == 2 && a.kind == crate::config::model::AuthType::Pass => {
            Auth::simple(&a.pass)
        }
        Some(a) if cfg.version == 2 && a.kind == crate::config::model::AuthType::Ah => {
            bail!(
                "vrrp_instance {}: auth_type AH is not supported (RFC 3768 removed it)",
                cfg.name
            )
        }
        _ => Auth::None,
    };
    let interval = if cfg.version == 2 {
        cfg.advert_int_cs / 100
    } else {
        cfg.advert_int_cs
    };
    let rx = RxInstance {
        version: cfg.version,
        auth,
        interval,
        // A random key per instance, as the kernel's copy has it.
        addrs: AddrDigest::new(cfg.vips.iter().map(|v| v.addr), crate::datapath::random_u64()),
        v3_checksum_as_v2: cfg.v3_checksum_as_v2,
        peers: cfg
            .unicast
            .peers
            .iter()
            .map(|p| RxPeer {
                addr: p.addr,
                min_ttl: p.min_ttl,
                max_ttl: p.max_ttl,
            })
            .collect(),
        group: cfg.unicast.peers.is_empty().then_some(group),
        skip_addr_check: cfg.skip_check_adv_addr,
    };
    let garp = GarpSchedule {
        delay_s: cfg.garp.master_delay_s,
        repeat: cfg.garp.master_repeat,
        refresh_s: cfg.garp.master_refresh_s,
        refresh_repeat: cfg.garp.master_refresh_repeat,
        lower_repeat: cfg.garp.lower_prio_repeat,
        lower_delay_s: cfg.garp.lower_prio_delay_s,
    };
    let params = Params {
        version: cfg.version,
        advert_interval_cs: cfg.advert_int_cs,
        preempt: cfg.preempt,
        preempt_delay_ms: cfg.preempt_delay_ms,
        primary_ip: src,
        down_timer_adverts: cfg.down_timer_adverts.max(1),
        garp,
        lower_prio_no_advert: cfg.lower_prio_no_advert,
        higher_prio_send_advert: cfg.higher_prio_send_advert,
    };
    let link_local = iface::primary_address(host, ifname, true, &[]).and_then(|a| match a {
        IpAddr::V6(a) => Some(a),
        IpAddr::V4(_) => None,
    });
    Ok(Slot {
        key: InstanceKey::new(iface.index, v6, cfg.vrid),
        mac: vmac.unwrap_or(iface.mac),
        vmac,
        vmac_link,
        rx_link,
        fsm: fsm::Instance::new(params, cfg.priority),
        iface,
        v6,
        rx,
        src,
        base_priority: cfg.priority,
        transitions: 0,
        last_transition: crate::daemon::dump::epoch_now(),
        stats: InstanceStats::default(),
        last_advert_us: Opt64::NONE,
        xdp_seen_ns: 0,
        recorded_seen: Opt64::NONE,
        kernel_watch: None,
        split_brain: None,
        script_ok: thin_vec::ThinVec::new(),
        fault: None,
        vip_ifindex,
        cfg: cfg.clone(),
        link_local,
        advert_cache: AdvertCache::Empty,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every running instance holds one of each: issue bench-truth's
    /// budget is 2 KiB an instance, all told. A field added inline that
    /// most instances leave empty belongs behind a `Box` or in a `ThinVec`.
    #[test]
    fn an_instance_record_stays_small() {
        // 688 and 248 bytes at this writing (696 before the advert cache
        // became an enum without a list; 792 and 280 before the
        // configuration's names went into `Box<str>`, the state machine's
        // gratuitous ARP schedule into seconds, two optional stamps into
        // `Opt64`, the counters to keepalived's widths and the advert
        // phase seed out; 1120 and 480 before the
        // configuration's rarely used parts went out of line, 880 before
        // the fault reason, the VIPs' interfaces and the unicast peers of
        // the receive check did, 840 before the interface's name went and
        // the split-brain record was boxed).
        let (slot, cfg) = (std::mem::size_of::<Slot>(), std::mem::size_of::<InstanceCfg>());
        assert!(slot <= 688, "a Slot is {slot} bytes");
        assert!(cfg <= 248, "an instance's configuration is {cfg} bytes");
        // One per VIP, in the configuration and in the side thread's set.
        assert!(std::mem::size_of::<VirtualAddress>() <= 72);
    }
}
