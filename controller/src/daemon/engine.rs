//! The executor: owns every running instance, feeds events to the pure state
//! machine (`vrrp::fsm::step`) and carries out the actions it returns with
//! sockets, netlink and map writes.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    net::{IpAddr, Ipv6Addr},
};

use std::rc::Rc;

use anyhow::{Context as _, Result, bail};
use tracing::{debug, info, warn};
use xvrrp_common::{maps::InstanceKey, stats};

use super::{
    announce::Announcer,
    persist::Saved,
    side::{Job, Side, VipsDone},
    timers::Timers,
};
use crate::config::host::HostInfo;
use crate::{
    config::model::{Config, Instance as InstanceCfg, Notify as NotifyCfg, RunAs, VirtualAddress},
    datapath::{Datapath, instance_key},
    net::{
        addr::Installed,
        advert_socket::{Receiver, Sender},
        frames::{FrameSender, advert_frame, announcement},
        iface::{self, Iface},
        sys::monotonic_us,
    },
    scripts::ScriptEvent,
    vrrp::{
        codec::{
            Advert, Auth, ChecksumScope,
            ethernet::{virtual_mac_v4, virtual_mac_v6},
        },
        fsm::{self, Action, Event, GarpSchedule, Micros, Notify, Params, State, Timer, US_PER_SEC},
        validate::{RxInstance, RxPeer, validate_ip, validate_vrrp},
    },
};

/// Where adverts are received and validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// In the kernel, by the XDP program; userspace reads its maps.
    Xdp,
    /// In userspace, on raw sockets.
    Socket,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Self::Xdp => "xdp",
            Self::Socket => "socket",
        }
    }
}

/// What the shutdown holds back until the hand-over has left.
#[derive(Default)]
struct Deferred {
    /// Instances whose VIPs are to go.
    removals: Vec<usize>,
    /// Notify scripts to run, in order.
    notifies: Vec<(usize, Notify)>,
}

/// Frames read from one receive socket per turn of the loop (socket mode).
pub const RX_BUDGET: usize = 64;

/// A sender socket: (ifindex, source address).
type SenderKey = (u32, IpAddr);
/// A queued advert: destination and message.
/// An advert to send: destination and encoded message, shared with the
/// instance's cache (most adverts repeat the previous one byte for byte).
type Outgoing = (IpAddr, Rc<[u8]>);

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
    /// Multicast group, or the unicast peers.
    pub dsts: Vec<IpAddr>,
    pub base_priority: u8,
    pub transitions: u64,
    /// When the last valid advert from another router arrived.
    pub last_advert_us: Option<Micros>,
    /// The XDP advert-state timestamp already fed to the state machine.
    pub xdp_seen_ns: u64,
    /// Another master heard while we are master (split brain), logged once.
    pub other_master: Option<IpAddr>,
    pub other_master_count: u64,
    pub script_ok: HashMap<String, bool>,
    /// Why the instance is in FAULT (a script, an interface, its sync group).
    pub fault: Option<String>,
    /// (ifindex, address) of every VIP, advertised ones first.
    vip_targets: Vec<(u32, VirtualAddress)>,
    /// The MAC the VIPs are announced with: the virtual MAC with `use_vmac`.
    mac: [u8; 6],
    /// `use_vmac`'s virtual MAC, when active.
    vmac: Option<[u8; 6]>,
    link_local: Option<Ipv6Addr>,
    /// The last adverts encoded (priority, per destination): re-encoded only
    /// when the priority changes.
    advert_cache: Option<(u8, Vec<Outgoing>)>,
}

impl Slot {
    fn all_vips(&self) -> impl Iterator<Item = &(u32, VirtualAddress)> {
        self.vip_targets.iter()
    }
}

/// An instance whose interface is missing (or has no address to send
/// adverts from): keepalived keeps such an instance in FAULT and starts it
/// when the interface appears; so does the link poll here.
pub struct Waiting {
    pub cfg: InstanceCfg,
    pub why: String,
}

pub struct Engine {
    pub config: Config,
    pub mode: Mode,
    pub slots: Vec<Slot>,
    /// Configured instances not bound to their interface yet.
    pub waiting: Vec<Waiting>,
    timers: Timers,
    by_key: HashMap<InstanceKey, usize>,
    senders: HashMap<SenderKey, Sender>,
    pub receivers: Vec<Receiver>,
    frames: HashMap<u32, FrameSender>,
    /// VIP changes, notify scripts and `state.json` run there, off this thread.
    pub side: Side,
    /// The addresses this daemon installed, as the side thread reported them.
    installed: HashSet<Installed>,
    /// Bumped whenever `installed` changes.
    installed_changes: u64,
    /// Instances whose VIPs are being installed: the ticket of that job.
    /// Their gratuitous ARPs wait for it (the announcer holds them).
    installing: HashMap<usize, u64>,
    last_ticket: u64,
    pub datapath: Option<Datapath>,
    pending: HashMap<SenderKey, Vec<Outgoing>>,
    /// Adverts built as whole frames (`use_vmac`): (interface index, frame).
    pending_frames: Vec<(u32, Vec<u8>)>,
    /// Gratuitous ARPs / unsolicited NAs waiting to go out.
    announcer: Announcer,
    /// Socket-mode receive counters and the send counter (slots of `stats`).
    pub counters: [u64; stats::COUNT as usize],
    pub adverts_tx: u64,
    /// Adverts the kernel refused (full send buffer, a firewall): dropped,
    /// not retried; the next interval sends a fresh one.
    pub adverts_tx_errors: u64,
    /// Set when `receivers` changed: the event loop re-registers them.
    pub receivers_changed: bool,
    /// How and where to attach XDP to interfaces that appear later (reload,
    /// an interface deleted and created again).
    pub xdp_attach: Option<(crate::datapath::attach::AttachPolicy, std::path::PathBuf)>,
    /// Each interface an instance uses or tracks: (operationally up, index),
    /// read once per poll for all instances, not once per instance.
    links: HashMap<String, (bool, Option<u32>)>,
    /// The interfaces `links` covers, recomputed after instances change.
    watched: Option<Vec<String>>,
    /// State changes of every instance so far.
    transitions_total: u64,
    /// Each `vrrp_sync_group`'s state as its notify scripts last heard it.
    group_states: HashMap<String, State>,
    /// While shutting down: what waits until every priority-0 advert has
    /// left (the hand-over first).
    deferred: Option<Deferred>,
    /// While shutting down: until when a full send buffer is waited out.
    patient_until: Option<Micros>,
    /// The `EVENTS_LOST` counter already answered with a sweep (seeded from
    /// the maps at start: a pinned counter outlives a restart).
    events_lost_seen: u64,
    /// One getifaddrs snapshot shared by the instances built in one batch
    /// (start-up, a reload): reading it per instance made starting N
    /// instances cost O(N x addresses). Dropped at the end of each batch.
    host: Option<HostInfo>,
}

fn state_name(s: State) -> &'static str {
    match s {
        State::Initialize => "INIT",
        State::Backup => "BACKUP",
        State::Master => "MASTER",
        State::Fault => "FAULT",
    }
}

/// This host's interfaces and addresses now (empty if getifaddrs fails:
/// every instance then waits for its interface).
fn read_host() -> HostInfo {
    HostInfo::current().unwrap_or_default()
}

/// Why `cfg` cannot bind to its interface now: the interface (or a VIP's
/// `dev`) does not exist, or it has no address to send adverts from.
fn unbound_reason(cfg: &InstanceCfg, host: &HostInfo) -> Option<String> {
    let ifname = cfg.interface.as_deref()?;
    if crate::net::sys::ifindex(ifname).is_err() {
        return Some(format!("interface {ifname} does not exist"));
    }
    let v6 = cfg.family == crate::config::model::Family::Ipv6;
    let vips: Vec<IpAddr> = cfg.vips.iter().map(|v| v.addr).collect();
    if cfg.src_ip.is_none() && iface::primary_address(host, ifname, v6, &vips).is_none() {
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

/// The runtime form of one configured instance.
fn build_slot(cfg: &InstanceCfg, xdp: bool, group: IpAddr, host: &HostInfo) -> Result<Slot> {
    let ifname = cfg
        .interface
        .as_deref()
        .with_context(|| format!("vrrp_instance {}: no interface", cfg.name))?;
    let iface = Iface::lookup(ifname).with_context(|| format!("vrrp_instance {}", cfg.name))?;
    let v6 = cfg.family == crate::config::model::Family::Ipv6;
    let vip_addrs: Vec<IpAddr> = cfg.vips.iter().map(|v| v.addr).collect();
    let src = match cfg.src_ip {
        Some(ip) => ip,
        None => iface::primary_address(host, ifname, v6, &vip_addrs).with_context(|| {
            format!(
                "vrrp_instance {}: {ifname} has no {} address to send adverts from",
                cfg.name,
                if v6 { "IPv6 link-local" } else { "IPv4" }
            )
        })?,
    };
    let dsts = if cfg.unicast.peers.is_empty() {
        vec![group]
    } else {
        cfg.unicast.peers.iter().map(|p| p.addr).collect()
    };
    // use_vmac: the RFC 5798 7.3 virtual MAC answers for the VIPs; with XDP no
    // macvlan is needed (frames to it are handed to the stack as the interface's).
    let vmac = match (&cfg.vmac, xdp) {
        (Some(_), true) => Some(if v6 {
            virtual_mac_v6(cfg.vrid)
        } else {
            virtual_mac_v4(cfg.vrid)
        }),
        (Some(_), false) => {
            warn!(instance = %cfg.name, "use_vmac needs the XDP data path: announcing the interface MAC");
            None
        }
        (None, _) => None,
    };
    if !cfg.accept && !xdp {
        warn!(instance = %cfg.name, "no_accept (or vrrp_strict) needs the XDP data path: in socket mode packets to the VIPs are accepted");
    }
    let mut vip_targets = Vec::new();
    for vip in cfg.vips.iter().chain(&cfg.excluded_vips) {
        let dev = vip.dev.as_deref().unwrap_or(ifname);
        let index = crate::net::sys::ifindex(dev)
            .with_context(|| format!("vrrp_instance {}: VIP {}", cfg.name, vip.addr))?;
        vip_targets.push((index, vip.clone()));
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
        vips: vip_addrs,
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
        delay_us: u64::from(cfg.garp.master_delay_s) * US_PER_SEC,
        repeat: cfg.garp.master_repeat,
        refresh_us: u64::from(cfg.garp.master_refresh_s) * US_PER_SEC,
        refresh_repeat: cfg.garp.master_refresh_repeat,
    };
    let params = Params {
        version: cfg.version,
        advert_interval_cs: cfg.advert_int_cs,
        preempt: cfg.preempt,
        preempt_delay_us: u64::from(cfg.preempt_delay_ms) * 1000,
        primary_ip: src,
        down_timer_adverts: u32::from(cfg.down_timer_adverts.max(1)),
        garp,
    };
    let link_local = iface::primary_address(host, ifname, true, &[]).and_then(|a| match a {
        IpAddr::V6(a) => Some(a),
        IpAddr::V4(_) => None,
    });
    Ok(Slot {
        key: instance_key(iface.index, v6, cfg.vrid),
        mac: vmac.unwrap_or(iface.mac),
        vmac,
        fsm: fsm::Instance::new(params, cfg.priority),
        iface,
        v6,
        rx,
        src,
        dsts,
        base_priority: cfg.priority,
        transitions: 0,
        last_advert_us: None,
        xdp_seen_ns: 0,
        other_master: None,
        other_master_count: 0,
        script_ok: HashMap::new(),
        fault: None,
        vip_targets,
        cfg: cfg.clone(),
        link_local,
        advert_cache: None,
    })
}

impl Engine {
    /// Builds every instance, opens the sockets, fills the XDP maps.
    pub fn new(config: Config, mode: Mode, datapath: Option<Datapath>, side: Side) -> Result<Self> {
        let events_lost_seen = datapath
            .as_ref()
            .and_then(|dp| dp.counters().ok())
            .map_or(0, |c| c[stats::EVENTS_LOST as usize]);
        let mut engine = Self {
            config: Config {
                instances: Vec::new(),
                ..config.clone()
            },
            mode,
            slots: Vec::new(),
            waiting: Vec::new(),
            timers: Timers::default(),
            by_key: HashMap::new(),
            senders: HashMap::new(),
            receivers: Vec::new(),
            frames: HashMap::new(),
            side,
            installed: HashSet::new(),
            installed_changes: 0,
            installing: HashMap::new(),
            last_ticket: 0,
            datapath,
            pending: HashMap::new(),
            pending_frames: Vec::new(),
            announcer: Announcer::new(
                u64::from(config.global.garp_interval_ms) * 1000,
                u64::from(config.global.gna_interval_ms) * 1000,
            ),
            counters: [0; stats::COUNT as usize],
            adverts_tx: 0,
            adverts_tx_errors: 0,
            receivers_changed: false,
            xdp_attach: None,
            events_lost_seen,
            links: HashMap::new(),
            watched: None,
            transitions_total: 0,
            group_states: HashMap::new(),
            deferred: None,
            patient_until: None,
            host: None,
        };
        for cfg in &config.instances {
            engine.add_or_wait(cfg)?;
        }
        engine.host = None;
        Ok(engine)
    }

    /// Adds an instance, or parks it in FAULT (`waiting`) when its interface
    /// is missing or has no address yet; anything else wrong is an error.
    pub fn add_or_wait(&mut self, cfg: &InstanceCfg) -> Result<Option<usize>> {
        let host = self.host.take().unwrap_or_else(read_host);
        let unbound = unbound_reason(cfg, &host);
        self.host = Some(host);
        if let Some(why) = unbound {
            self.park(cfg, why);
            return Ok(None);
        }
        self.add_instance(cfg).map(Some)
    }

    /// Puts an instance in FAULT until it can start (`bind_waiting` retries).
    pub fn park(&mut self, cfg: &InstanceCfg, why: String) {
        warn!(instance = %cfg.name, "{why}: FAULT until it can start");
        self.notify_cfg(cfg, cfg.priority, Notify::Fault);
        self.waiting.push(Waiting {
            cfg: cfg.clone(),
            why,
        });
    }

    /// Starts the waiting instances whose interface is ready now; the others
    /// keep waiting, with the reason brought up to date.
    fn bind_waiting(&mut self) {
        let now = monotonic_us();
        let mut started = false;
        for w in std::mem::take(&mut self.waiting) {
            let host = self.host.take().unwrap_or_else(read_host);
            let unbound = unbound_reason(&w.cfg, &host);
            self.host = Some(host);
            let why = match unbound {
                Some(why) => why,
                None => match self.add_instance(&w.cfg) {
                    Ok(idx) => {
                        info!(instance = %w.cfg.name, "interface ready: starting the instance");
                        self.deliver(idx, Event::Startup, now, "interface ready");
                        started = true;
                        continue;
                    }
                    Err(e) => format!("{e:#}"),
                },
            };
            if why != w.why {
                warn!(instance = %w.cfg.name, "{why}: FAULT until it can start");
            }
            self.waiting.push(Waiting { why, ..w });
        }
        self.host = None;
        if started {
            // The new instances' weights and faults (tracked interfaces, a
            // link that is down) count from their first moment, not from the
            // next link change.
            self.refresh_links();
            self.on_health_change();
        }
    }

    /// Adds an instance (at start or on reload); it is started by `start`.
    pub fn add_instance(&mut self, cfg: &InstanceCfg) -> Result<usize> {
        let v6 = cfg.family == crate::config::model::Family::Ipv6;
        let host = self.host.take().unwrap_or_else(read_host);
        let slot = build_slot(cfg, self.datapath.is_some(), self.group(v6), &host);
        self.host = Some(host);
        let slot = slot?;
        let idx = self.slots.len();
        if self.by_key.contains_key(&slot.key) {
            bail!(
                "vrrp_instance {}: VRID {} already runs on {}",
                cfg.name,
                cfg.vrid,
                slot.iface.name
            );
        }
        let sender_key = (slot.iface.index, slot.src);
        if let std::collections::hash_map::Entry::Vacant(e) = self.senders.entry(sender_key) {
            let sender = Sender::open(&slot.iface.name, slot.iface.index, slot.src, cfg.unicast.ttl)
                .with_context(|| {
                    format!("vrrp_instance {}: advert socket on {}", cfg.name, slot.iface.name)
                })?;
            e.insert(sender);
        }
        if !self
            .receivers
            .iter()
            .any(|r| r.ifindex == slot.iface.index && r.v6 == slot.v6)
        {
            let r = Receiver::open(&slot.iface.name, slot.iface.index, self.group(slot.v6)).with_context(
                || {
                    format!(
                        "vrrp_instance {}: receive socket on {}",
                        cfg.name, slot.iface.name
                    )
                },
            )?;
            self.receivers.push(r);
            self.receivers_changed = true;
        }
        let vmac_iface = slot.vmac.map(|_| slot.iface.index);
        for ifindex in slot.vip_targets.iter().map(|(i, _)| i).chain(&vmac_iface) {
            if !self.frames.contains_key(ifindex) {
                self.frames.insert(
                    *ifindex,
                    FrameSender::open(*ifindex).context("AF_PACKET socket for gratuitous ARP")?,
                );
            }
        }
        if let Some(dp) = &mut self.datapath {
            if let Some((policy, pin_dir)) = &self.xdp_attach
                && !dp.is_attached(&slot.iface.name, slot.iface.index)
            {
                dp.attach_pinned(&slot.iface.name, *policy, pin_dir)
                    .with_context(|| format!("vrrp_instance {}: XDP on {}", cfg.name, slot.iface.name))?;
            }
            dp.set_instance(slot.key, &slot.rx)?;
        }
        self.by_key.insert(slot.key, idx);
        self.watched = None;
        self.config.instances.push(cfg.clone());
        self.slots.push(slot);
        Ok(idx)
    }

    /// The VRRP multicast group of a family: 224.0.0.18 / ff02::12 (RFC 5798
    /// 5.1.1.2, 5.1.2.2) unless `vrrp_mcast_group4/6` says otherwise.
    fn group(&self, v6: bool) -> IpAddr {
        if v6 {
            self.config.global.mcast_group6.into()
        } else {
            self.config.global.mcast_group4.into()
        }
    }

    fn script_user(&self) -> Option<RunAs> {
        self.config.global.script_user.clone()
    }

    /// Starts every instance: `Startup`, or `ResumeMaster` for those a
    /// crashed predecessor left as master (their VIPs are adopted as ours).
    pub fn start_all(&mut self, resume: Option<&Saved>) {
        let now = monotonic_us();
        if let Some(saved) = resume {
            let vips: Vec<_> = saved
                .vips
                .iter()
                .map(|(ifindex, addr, prefix)| (*ifindex, VirtualAddress::new(*addr, *prefix)))
                .collect();
            for (ifindex, vip) in &vips {
                self.installed.insert(Installed {
                    ifindex: *ifindex,
                    addr: vip.addr,
                    prefix: vip.prefix,
                });
            }
            self.installed_changes += 1;
            self.side.send(Job::Adopt(vips));
        }
        for idx in 0..self.slots.len() {
            let was_master = resume.is_some_and(|s| s.masters.contains(&self.slots[idx].cfg.name));
            if was_master {
                self.deliver(
                    idx,
                    Event::ResumeMaster,
                    now,
                    "resumed after a controller restart",
                );
            } else {
                self.deliver(idx, Event::Startup, now, "startup");
            }
        }
        self.flush();
    }

    /// What a successor needs to adopt this run (see `persist`).
    /// Moves whenever what `saved` records may have changed (a transition, an
    /// address added or removed, an instance added or removed): the event
    /// loop rebuilds the record only then.
    pub fn saved_generation(&self) -> (u64, u64, usize) {
        (self.transitions_total, self.installed_changes, self.by_key.len())
    }

    pub fn saved(&self, fingerprint: &str, pin_dir: &std::path::Path) -> Saved {
        let vips = super::side::saved_vips(self.installed.iter());
        Saved {
            fingerprint: fingerprint.to_owned(),
            pin_dir: pin_dir.to_owned(),
            masters: (0..self.slots.len())
                .filter(|&i| self.is_live(i) && self.slots[i].fsm.vars.state == State::Master)
                .map(|i| self.slots[i].cfg.name.clone())
                .collect(),
            vips,
        }
    }

    /// Runs one event through the state machine and carries out its actions.
    pub fn deliver(&mut self, idx: usize, event: Event, now: Micros, reason: &str) {
        let mut queue = vec![(idx, event, reason.to_owned())];
        let mut hops = 0;
        let mut group_moves: Vec<(String, State)> = Vec::new();
        while let Some((idx, event, reason)) = queue.pop() {
            let slot = &mut self.slots[idx];
            let from = slot.fsm.vars.state;
            let (vars, actions) = fsm::step(&slot.fsm, &event, now);
            slot.fsm.apply(vars);
            let to = slot.fsm.vars.state;
            if from != to {
                slot.transitions += 1;
                self.transitions_total += 1;
                // The advert that caused it, if one did: who, with what priority.
                let (peer, peer_priority) = match event {
                    Event::Advert { src, priority, .. } => (Some(src), Some(priority)),
                    _ => (None, None),
                };
                info!(
                    instance = %slot.cfg.name,
                    vrid = slot.cfg.vrid,
                    from = state_name(from),
                    to = state_name(to),
                    reason = %reason,
                    peer = ?peer,
                    peer_priority = ?peer_priority,
                    "state change"
                );
                if to != State::Master {
                    slot.other_master = None;
                } else {
                    // Only adverts heard from now on can unseat this master:
                    // the map may still hold the record of a master that
                    // died long ago (a takeover, a crash-only restart).
                    slot.xdp_seen_ns = slot.xdp_seen_ns.max(monotonic_us() * 1000);
                }
                if let Some(group) = &slot.cfg.sync_group {
                    group_moves.push((group.clone(), to));
                }
                // vrrp_sync_group: members follow into MASTER and FAULT.
                hops += 1;
                if hops < 64 {
                    queue.extend(self.sync_followers(idx, to));
                }
            }
            self.execute(idx, actions);
        }
        for (group, to) in group_moves {
            self.group_moved(&group, to);
        }
    }

    /// keepalived's sync group states (vrrp_sync.c): the group is in the state
    /// its last moving member went to (MASTER, BACKUP or FAULT; the others
    /// follow), and its notify scripts run once per change of that state,
    /// with `GROUP NAME STATE 0` for the generic one.
    fn group_moved(&mut self, group: &str, to: State) {
        let which = match to {
            State::Master => Notify::Master,
            State::Backup => Notify::Backup,
            State::Fault => Notify::Fault,
            State::Initialize => return,
        };
        if self.group_states.insert(group.to_owned(), to) == Some(to) {
            return;
        }
        info!(group, state = state_name(to), "sync group state");
        if let Some(g) = self.config.sync_groups.iter().find(|g| g.name == group) {
            self.run_notify(&g.notify, "GROUP", &g.name, 0, which);
        }
    }

    fn sync_followers(&self, idx: usize, to: State) -> Vec<(usize, Event, String)> {
        let Some(group) = &self.slots[idx].cfg.sync_group else {
            return Vec::new();
        };
        let name = &self.slots[idx].cfg.name;
        self.slots
            .iter()
            .enumerate()
            .filter(|(i, s)| *i != idx && self.is_live(*i) && s.cfg.sync_group.as_ref() == Some(group))
            .filter_map(|(i, s)| {
                let why = format!("sync group {group}: {name} went {}", state_name(to));
                match (to, s.fsm.vars.state) {
                    (State::Master, State::Backup) => Some((i, Event::Timer(Timer::MasterDown), why)),
                    // FAULT spreads through `on_health_change`, which also lifts it.
                    _ => None,
                }
            })
            .collect()
    }

    fn execute(&mut self, idx: usize, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::SendAdvert { priority } => self.queue_advert(idx, priority),
                Action::AddVips => self.add_vips(idx),
                Action::RemoveVips => {
                    self.announcer.cancel(idx);
                    match &mut self.deferred {
                        Some(later) => later.removals.push(idx),
                        None => self.remove_vips(idx),
                    }
                }
                Action::SendGratuitous { count } => self.send_gratuitous(idx, count),
                Action::ArpResponder(on) => self.arp_responder(idx, on),
                Action::Arm { timer, at_us } => self.timers.arm(idx, timer, at_us),
                Action::Cancel(timer) => self.timers.cancel(idx, timer),
                Action::Notify(which) => match &mut self.deferred {
                    Some(later) => later.notifies.push((idx, which)),
                    None => self.notify(idx, which),
                },
                Action::AdoptInterval { interval_cs } => {
                    debug!(instance = %self.slots[idx].cfg.name, interval_cs, "adopting the master's advert interval");
                }
                Action::OtherMaster { src, priority } => {
                    let slot = &mut self.slots[idx];
                    slot.other_master_count += 1;
                    if slot.other_master != Some(src) {
                        slot.other_master = Some(src);
                        warn!(
                            instance = %slot.cfg.name,
                            vrid = slot.cfg.vrid,
                            peer = %src,
                            peer_priority = priority,
                            "split brain: another router is master for this VRID"
                        );
                    }
                }
            }
        }
    }

    fn advert_bytes(slot: &Slot, priority: u8, dst: IpAddr) -> Vec<u8> {
        let advert = Advert {
            version: slot.cfg.version,
            vrid: slot.cfg.vrid,
            priority,
            interval: slot.rx.interval,
            auth: slot.rx.auth,
            checksum: 0,
            addrs: slot.rx.vips.clone(),
        };
        advert.encode(ChecksumScope::for_advert(
            slot.cfg.version,
            slot.src,
            dst,
            slot.cfg.v3_checksum_as_v2,
        ))
    }

    fn queue_advert(&mut self, idx: usize, priority: u8) {
        let slot = &mut self.slots[idx];
        if slot.advert_cache.as_ref().map(|c| c.0) != Some(priority) {
            let msgs = slot
                .dsts
                .iter()
                .map(|dst| (*dst, Rc::from(Self::advert_bytes(slot, priority, *dst))))
                .collect();
            slot.advert_cache = Some((priority, msgs));
        }
        let slot = &self.slots[idx];
        let key = (slot.iface.index, slot.src);
        for (dst, bytes) in slot.advert_cache.iter().flat_map(|c| &c.1) {
            // RFC 5798 7.3: a master's adverts come from the virtual router
            // MAC. With `use_vmac` they leave as whole frames that say so (the
            // raw IP socket would write the interface's MAC), unless
            // `vmac_xmit_base` asks for the base interface's, as keepalived.
            if let (Some(vmac), true) = (slot.vmac, dst.is_multicast() && !slot.cfg.vmac_xmit_base)
                && let Some(frame) = advert_frame(vmac, slot.src, *dst, bytes)
            {
                self.pending_frames.push((slot.iface.index, frame));
                continue;
            }
            self.pending.entry(key).or_default().push((*dst, bytes.clone()));
        }
    }

    /// Sends what the last batch of events queued: adverts first (they keep
    /// the other routers from taking over), then the announcements.
    pub fn flush(&mut self) {
        self.flush_adverts();
        self.flush_gratuitous();
        // The batch is over: the next one reads the interfaces afresh.
        self.host = None;
    }

    /// Sends every queued advert: one `sendmmsg` per socket. A message the
    /// kernel refuses for its destination (a firewall, an unreachable unicast
    /// peer) is skipped, not the rest of the batch. A full send buffer (the
    /// link or its qdisc is backed up) drops the rest of that socket's batch at
    /// once: an advert held back would be stale by the time it left, the next
    /// interval sends a fresh one, and the loop must never wait on one socket
    /// while the others' adverts are due. The first failure per socket and
    /// kind is logged; every dropped advert is counted (`adverts_tx_errors`).
    fn flush_adverts(&mut self) {
        for (ifindex, frame) in std::mem::take(&mut self.pending_frames) {
            let sent = self.frames.get(&ifindex).map(|f| f.send(&frame));
            match sent {
                Some(Ok(())) => self.adverts_tx += 1,
                Some(Err(e)) => {
                    if self.adverts_tx_errors == 0 {
                        warn!(ifindex, "sending an advert frame failed: {e}");
                    }
                    self.adverts_tx_errors += 1;
                }
                None => self.adverts_tx_errors += 1,
            }
        }
        for (key, msgs) in self.pending.drain() {
            let Some(sender) = self.senders.get_mut(&key) else {
                continue;
            };
            let mut done = 0;
            while done < msgs.len() {
                match sender.send_batch(&msgs[done..]) {
                    Ok(0) => break,
                    Ok(n) => {
                        done += n;
                        self.adverts_tx += n as u64;
                    }
                    Err(e) => {
                        let full = matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::ENOBUFS));
                        // The goodbye batch has no next interval: at shutdown a
                        // full buffer is waited out (bounded) rather than dropped.
                        if full && self.patient_until.is_some_and(|t| monotonic_us() < t) {
                            std::thread::sleep(std::time::Duration::from_millis(1));
                            continue;
                        }
                        if sender.note_error(&e) {
                            warn!(src = %sender.src, "sending an advert failed: {e} (logged once)");
                        }
                        let dropped = if full { msgs.len() - done } else { 1 };
                        self.adverts_tx_errors += dropped as u64;
                        done += dropped;
                    }
                }
            }
        }
    }

    /// Queues `count` gratuitous ARPs / unsolicited NAs for every VIP of an
    /// instance; `flush` sends them (see `announce` for the order and pacing).
    fn send_gratuitous(&mut self, idx: usize, count: u32) {
        let slot = &self.slots[idx];
        for (ifindex, vip) in slot.all_vips() {
            let frame = announcement(slot.mac, vip.addr, slot.link_local);
            self.announcer
                .push(*ifindex, vip.addr.is_ipv6(), idx, frame, count);
        }
    }

    /// Sends the announcements that are due. They wait for the end of the
    /// event batch, so when many instances become master at once all their
    /// addresses are installed first.
    fn flush_gratuitous(&mut self) {
        for due in self.announcer.due(monotonic_us()) {
            let Some(sender) = self.frames.get(&due.ifindex) else {
                continue;
            };
            if let Err(e) = sender.send(&due.frame) {
                let name = &self.slots[due.idx].cfg.name;
                warn!(instance = %name, ifindex = due.ifindex, "gratuitous ARP/NA failed: {e}");
                self.announcer.cancel(due.idx);
            }
        }
    }

    /// Applies a reloaded `global_defs` to what the engine keeps of it.
    pub fn set_global(&mut self, global: crate::config::model::Global) {
        self.announcer.set_gaps(
            u64::from(global.garp_interval_ms) * 1000,
            u64::from(global.gna_interval_ms) * 1000,
        );
        self.config.global = global;
    }

    fn arp_responder(&mut self, idx: usize, on: bool) {
        let Some(dp) = &mut self.datapath else { return };
        let slot = &self.slots[idx];
        if let Some(vmac) = slot.vmac {
            let r = if on {
                dp.set_vmac(slot.iface.index, vmac, slot.iface.mac)
            } else {
                dp.remove_vmac(slot.iface.index, vmac)
            };
            if let Err(e) = r {
                warn!(instance = %slot.cfg.name, "XDP virtual MAC: {e:#}");
            }
        }
        for (ifindex, vip) in slot.all_vips() {
            let r = if on {
                dp.set_vip(*ifindex, vip.addr, slot.mac, slot.cfg.vrid, slot.cfg.accept)
            } else {
                dp.remove_vip(*ifindex, vip.addr)
            };
            if let Err(e) = r {
                warn!(instance = %slot.cfg.name, "XDP ARP responder: {e:#}");
            }
        }
    }

    fn notify(&self, idx: usize, which: Notify) {
        let slot = &self.slots[idx];
        self.notify_cfg(&slot.cfg, slot.fsm.vars.priority, which);
    }

    fn notify_cfg(&self, cfg: &InstanceCfg, priority: u8, which: Notify) {
        self.run_notify(&cfg.notify, "INSTANCE", &cfg.name, priority, which);
    }

    /// Runs the `notify_STATE` script and the generic `notify` script, with
    /// keepalived's arguments `TYPE NAME STATE PRIORITY` for the latter.
    fn run_notify(&self, notify: &NotifyCfg, kind: &str, name: &str, priority: u8, which: Notify) {
        let user = self.script_user();
        let (script, state) = match which {
            Notify::Master => (&notify.master, "MASTER"),
            Notify::Backup => (&notify.backup, "BACKUP"),
            Notify::Fault => (&notify.fault, "FAULT"),
            Notify::Stop => (&notify.stop, "STOP"),
        };
        if let Some(s) = script {
            self.side.send(Job::Notify {
                script: s.clone(),
                args: Vec::new(),
                user: user.clone(),
            });
        }
        if let Some(s) = &notify.any {
            let args = [
                kind.to_owned(),
                name.to_owned(),
                state.to_owned(),
                priority.to_string(),
            ];
            self.side.send(Job::Notify {
                script: s.clone(),
                args: args.to_vec(),
                user,
            });
        }
    }

    /// The earliest timer deadline.
    pub fn next_deadline(&mut self) -> Option<Micros> {
        let paced = self.announcer.next_deadline();
        match (self.timers.earliest(), paced) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires every due timer. In XDP mode an expiring Master_Down_Timer first
    /// looks at the advert map: adverts that arrived since are fed in and the
    /// timer re-armed from the last one, so steady adverts cost no wake-up.
    pub fn on_timers(&mut self) {
        let now = monotonic_us();
        let due = self.timers.pop_due(now);
        if self.mode == Mode::Xdp && due.iter().any(|(_, t, _)| *t == Timer::MasterDown) {
            self.sweep_master_down(now);
        }
        for (idx, timer, at) in due {
            if timer == Timer::MasterDown && self.mode == Mode::Xdp && self.catch_up_from_map(idx) {
                continue;
            }
            // A master reads its advert-state entry once per advert it sends:
            // a better master is noticed within one interval even when no
            // change event was pushed (the entry did not change, or the ring
            // was full). If that made it step down, the advert is not sent.
            if timer == Timer::Advert && self.mode == Mode::Xdp {
                self.catch_up_from_map(idx);
                if self.slots[idx].fsm.vars.state != State::Master {
                    continue;
                }
            }
            // Adverts keep to their ideal timeline: the next is armed one
            // interval after this one's deadline, not after the moment it
            // fired, so lateness does not add up into drift (RFC 5798 6.4.3
            // resets Adver_Timer to Advertisement_Interval; a timeline that
            // slips makes the backups' Master_Down margin shrink). One more than
            // an interval late (the daemon was stopped), it starts afresh.
            let when = match timer {
                Timer::Advert if now - at < self.slots[idx].fsm.advert_interval_us() => at,
                _ => now,
            };
            self.deliver(idx, Event::Timer(timer), when, timer_reason(timer));
        }
        self.flush();
    }

    /// A master-down timer fired: look at the advert map for every other
    /// backup in the second half of its wait too. An advert that arrived
    /// meanwhile pushes its deadline out now rather than at a wake-up of its
    /// own, so backups hearing steady adverts share about one wake-up per
    /// Master_Down_Interval instead of one each. (Checking early is safe;
    /// only late would not be.)
    fn sweep_master_down(&mut self, now: Micros) {
        let near: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.is_live(i))
            .filter(|&i| {
                self.timers
                    .deadline(i, Timer::MasterDown)
                    .is_some_and(|at| at.saturating_sub(now) <= self.slots[i].fsm.master_down_us() / 2)
            })
            .collect();
        for idx in near {
            self.catch_up_from_map(idx);
        }
    }

    /// Feeds the newest advert the kernel recorded, if it is news. Returns
    /// true when that re-armed the master-down timer into the future.
    fn catch_up_from_map(&mut self, idx: usize) -> bool {
        let key = self.slots[idx].key;
        let Some(dp) = &mut self.datapath else {
            return false;
        };
        let Ok(Some(state)) = dp.advert_state(key) else {
            return false;
        };
        if state.last_ns <= self.slots[idx].xdp_seen_ns {
            return false;
        }
        self.feed_xdp_state(idx, &state.master, state.priority, state.interval, state.last_ns);
        let now = monotonic_us();
        self.timers
            .deadline(idx, Timer::MasterDown)
            .is_some_and(|at| at > now)
    }

    fn feed_xdp_state(&mut self, idx: usize, master: &[u8; 16], priority: u8, interval: u16, last_ns: u64) {
        let slot = &mut self.slots[idx];
        slot.xdp_seen_ns = last_ns;
        let at = last_ns / 1000;
        slot.last_advert_us = Some(at);
        let src = if slot.v6 {
            IpAddr::from(*master)
        } else {
            IpAddr::from([master[0], master[1], master[2], master[3]])
        };
        let interval_cs = if slot.cfg.version == 2 {
            interval.saturating_mul(100)
        } else {
            interval
        };
        self.deliver(
            idx,
            Event::Advert {
                priority,
                src,
                interval_cs,
            },
            at,
            "advert",
        );
    }

    /// Handles the change events the XDP program pushed. Events the kernel
    /// could not push (a full ring) are made up for by a sweep of the map.
    pub fn on_xdp_events(&mut self) {
        let (events, lost) = match &mut self.datapath {
            Some(dp) => {
                let events = dp.drain_events();
                let lost = dp.counters().map_or(0, |c| c[stats::EVENTS_LOST as usize]);
                (events, lost)
            }
            None => return,
        };
        if lost > self.events_lost_seen {
            warn!(
                lost = lost - self.events_lost_seen,
                "XDP event ring overflowed: reading every instance's advert state"
            );
            self.events_lost_seen = lost;
            for idx in 0..self.slots.len() {
                if self.is_live(idx) {
                    self.catch_up_from_map(idx);
                }
            }
        }
        for ev in events {
            let Some(&idx) = self.by_key.get(&ev.key) else {
                continue;
            };
            if ev.ts_ns <= self.slots[idx].xdp_seen_ns {
                continue;
            }
            self.feed_xdp_state(idx, &ev.master, ev.priority, ev.interval, ev.ts_ns);
        }
        self.flush();
    }

    /// Reads and validates everything waiting on receiver `r` (socket mode).
    /// Reads at most [`RX_BUDGET`] frames from receive socket `r`; true when
    /// it was drained. A flood on one socket must not starve the timers or
    /// the other sockets: the loop comes back for the rest after them.
    pub fn on_socket_rx(&mut self, r: usize) -> bool {
        let mut buf = vec![0u8; 2048];
        let mut drained = false;
        for _ in 0..RX_BUDGET {
            let (n, meta) = match self.receivers[r].recv(&mut buf) {
                Ok(Some(x)) => x,
                Ok(None) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    drained = true;
                    break;
                }
                Err(e) => {
                    warn!("receiving adverts: {e}");
                    drained = true;
                    break;
                }
            };
            let ifindex = self.receivers[r].ifindex;
            let v6 = self.receivers[r].v6;
            let lookup = |vrid: u8| {
                self.by_key
                    .get(&instance_key(ifindex, v6, vrid))
                    .map(|&i| &self.slots[i].rx)
            };
            let result = match meta {
                Some(meta) => validate_vrrp(&meta, &buf[..n], lookup),
                None => validate_ip(&buf[..n], lookup),
            };
            self.counters[stats::VRRP_SEEN as usize] += 1;
            match result {
                Ok(acc) => {
                    self.counters[stats::ADVERTS_RX as usize] += 1;
                    let key = instance_key(ifindex, v6, acc.advert.vrid);
                    let Some(&idx) = self.by_key.get(&key) else {
                        continue;
                    };
                    let now = monotonic_us();
                    self.slots[idx].last_advert_us = Some(now);
                    let a = &acc.advert;
                    let interval_cs = if a.version == 2 {
                        a.interval.saturating_mul(100)
                    } else {
                        a.interval
                    };
                    let ev = Event::Advert {
                        priority: a.priority,
                        src: acc.src,
                        interval_cs,
                    };
                    self.deliver(idx, ev, now, "advert");
                }
                Err(e) => {
                    self.counters[e.stat() as usize] += 1;
                    debug!("advert dropped: {e}");
                }
            }
        }
        self.flush();
        drained
    }

    /// Instances whose interface was deleted and created again (a new index):
    /// their sockets and XDP attachment died with the old one, so they are
    /// rebuilt on the new interface and start again (as backup, per the RFC).
    fn rebind_recreated_interfaces(&mut self) {
        let moved: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.is_live(i))
            .filter(|&i| {
                let slot = &self.slots[i];
                self.links
                    .get(&slot.iface.name)
                    .and_then(|l| l.1)
                    .is_some_and(|n| n != slot.iface.index)
            })
            .collect();
        if moved.is_empty() {
            return;
        }
        let mut gone = Vec::new();
        for idx in &moved {
            let slot = &self.slots[*idx];
            info!(instance = %slot.cfg.name, interface = %slot.iface.name, "interface created again: rebuilding the instance");
            gone.push(slot.iface.index);
            self.remove_instance(*idx);
        }
        self.senders.retain(|(ifindex, _), _| !gone.contains(ifindex));
        self.frames.retain(|ifindex, _| !gone.contains(ifindex));
        let before = self.receivers.len();
        self.receivers.retain(|r| !gone.contains(&r.ifindex));
        self.receivers_changed |= self.receivers.len() != before;
        let now = monotonic_us();
        for idx in moved {
            let cfg = self.slots[idx].cfg.clone();
            match self.add_instance(&cfg) {
                Ok(new) => self.deliver(new, Event::Startup, now, "interface created again"),
                Err(e) => {
                    let why = format!("{e:#}");
                    warn!(instance = %cfg.name, "cannot rebuild yet ({why}): FAULT until it can");
                    self.waiting.push(Waiting { cfg, why });
                }
            }
        }
        self.flush();
    }

    /// Recomputes health (scripts, interfaces) into priority and fault. A
    /// `vrrp_sync_group` is in FAULT while any member is (keepalived's rule).
    pub fn on_health_change(&mut self) {
        self.rebind_recreated_interfaces();
        let now = monotonic_us();
        let health: Vec<(u8, bool, String)> = (0..self.slots.len()).map(|i| self.health(i)).collect();
        let group_fault = |group: &str| {
            self.slots
                .iter()
                .enumerate()
                .find_map(|(i, s)| {
                    (self.is_live(i) && s.cfg.sync_group.as_deref() == Some(group) && health[i].1)
                        .then(|| format!("sync group {group}: {} faulted ({})", s.cfg.name, health[i].2))
                })
                .or_else(|| {
                    // A member still waiting for its interface is in FAULT too.
                    self.waiting
                        .iter()
                        .find(|w| w.cfg.sync_group.as_deref() == Some(group))
                        .map(|w| format!("sync group {group}: {} waiting ({})", w.cfg.name, w.why))
                })
        };
        let verdicts: Vec<(u8, Option<String>)> = (0..self.slots.len())
            .map(|i| {
                let (priority, own, why) = &health[i];
                let fault = if *own {
                    Some(why.clone())
                } else {
                    self.slots[i].cfg.sync_group.as_deref().and_then(group_fault)
                };
                (*priority, fault)
            })
            .collect();
        for (idx, (priority, fault)) in verdicts.into_iter().enumerate() {
            if !self.is_live(idx) {
                continue;
            }
            let faulted = self.slots[idx].fault.is_some();
            match fault {
                Some(why) if !faulted => {
                    self.slots[idx].fault = Some(why.clone());
                    self.deliver(idx, Event::FaultSet, now, &why);
                }
                Some(why) => self.slots[idx].fault = Some(why),
                None if faulted => {
                    self.slots[idx].fault = None;
                    self.deliver(idx, Event::FaultCleared, now, "health restored");
                }
                _ => {}
            }
            if priority != self.slots[idx].fsm.vars.priority {
                info!(instance = %self.slots[idx].cfg.name, priority, "effective priority changed");
                self.deliver(idx, Event::PriorityChanged(priority), now, "priority change");
            }
        }
        self.flush();
    }

    pub fn on_script(&mut self, ev: ScriptEvent) {
        for slot in &mut self.slots {
            if slot.cfg.track_scripts.iter().any(|t| t.name == ev.name) {
                slot.script_ok.insert(ev.name.clone(), ev.ok);
            }
        }
        self.on_health_change();
    }

    /// (effective priority, fault?, why) from scripts and interfaces (keepalived's rules:
    /// weight 0 means FAULT on failure; a positive weight is added while healthy, a
    /// negative one while failing; `reverse` swaps healthy and failing).
    /// Link state from the last poll (read now for an interface not seen yet).
    fn link_up(&self, name: &str) -> bool {
        self.links.get(name).map_or_else(|| iface::link_up(name), |l| l.0)
    }

    /// Reads every interface's state once; true when anything changed since
    /// the last poll (only then is every instance's health recomputed).
    fn refresh_links(&mut self) -> bool {
        if self.watched.is_none() {
            let mut names: Vec<String> = Vec::new();
            for (i, slot) in self.slots.iter().enumerate() {
                if !self.is_live(i) {
                    continue;
                }
                names.push(slot.iface.name.clone());
                names.extend(slot.cfg.track_interfaces.iter().map(|t| t.name.clone()));
            }
            names.sort();
            names.dedup();
            self.watched = Some(names);
        }
        let fresh: HashMap<String, (bool, Option<u32>)> = self
            .watched
            .iter()
            .flatten()
            .map(|n| {
                let state = (iface::link_up(n), crate::net::sys::ifindex(n).ok());
                (n.clone(), state)
            })
            .collect();
        let changed = fresh != self.links;
        self.links = fresh;
        changed
    }

    /// The periodic link poll: cheap when nothing changed.
    pub fn on_link_poll(&mut self) {
        if self.refresh_links() {
            self.on_health_change();
        }
        if !self.waiting.is_empty() {
            self.bind_waiting();
        }
    }

    fn health(&self, idx: usize) -> (u8, bool, String) {
        let slot = &self.slots[idx];
        let mut delta: i32 = 0;
        let mut fault = None;
        // keepalived 2.2.7 (vrrp_track.c, and tests/tests/keepalived_parity.rs):
        // a positive weight counts while the object is up / the script succeeds,
        // a negative one while it is down / failing; `reverse` flips the sign of
        // the adjustment, not the condition. Weight 0 means FAULT while down
        // (with `reverse`: while up).
        let mut weigh = |what: String, ok: bool, weight: i16, reverse: bool| {
            let sign = if reverse { -1 } else { 1 };
            match weight {
                0 if ok == reverse => fault = Some(what),
                w if w > 0 && ok => delta += sign * i32::from(w),
                w if w < 0 && !ok => delta += sign * i32::from(w),
                _ => {}
            }
        };
        for t in &slot.cfg.track_scripts {
            // A script that has not reported yet counts neither way (keepalived's INIT).
            if let Some(&ok) = slot.script_ok.get(&t.name) {
                weigh(format!("script {} failed", t.name), ok, t.weight, t.reverse);
            }
        }
        for t in &slot.cfg.track_interfaces {
            weigh(
                format!("interface {} down", t.name),
                self.link_up(&t.name),
                t.weight,
                t.reverse,
            );
        }
        if !slot.cfg.dont_track_primary && !self.link_up(&slot.iface.name) {
            fault = Some(format!("interface {} down", slot.iface.name));
        }
        let priority = if slot.base_priority == fsm::PRIORITY_OWNER {
            fsm::PRIORITY_OWNER
        } else {
            u8::try_from((i32::from(slot.base_priority) + delta).clamp(1, 254)).unwrap_or(1)
        };
        let faulted = fault.is_some();
        (priority, faulted, fault.unwrap_or_default())
    }

    /// Asks the side thread to install instance `idx`'s VIPs; its
    /// announcements wait until they are in.
    fn add_vips(&mut self, idx: usize) {
        let slot = &self.slots[idx];
        self.last_ticket += 1;
        self.installing.insert(idx, self.last_ticket);
        self.announcer.hold(idx);
        self.side.send(Job::AddVips {
            idx,
            ticket: self.last_ticket,
            vips: slot.all_vips().cloned().collect(),
            vmac: slot
                .vmac
                .map(|mac| (slot.iface.index, slot.iface.name.clone(), mac)),
        });
    }

    /// The VIPs (and the virtual MAC's unicast filter) of instance `idx` go.
    fn remove_vips(&mut self, idx: usize) {
        self.installing.remove(&idx);
        let slot = &self.slots[idx];
        self.side.send(Job::RemoveVips {
            idx,
            vips: slot.all_vips().cloned().collect(),
            vmac: slot.vmac.map(|mac| (slot.iface.index, mac)),
        });
    }

    /// The side thread changed addresses: record them, and let the
    /// announcements of an instance whose VIPs are now in go.
    pub fn on_vips_done(&mut self, done: VipsDone) {
        if !done.added.is_empty() || !done.removed.is_empty() {
            self.installed_changes += 1;
        }
        for i in done.removed {
            self.installed.remove(&i);
        }
        self.installed.extend(done.added);
        if done.ticket != 0 && self.installing.get(&done.idx) == Some(&done.ticket) {
            self.installing.remove(&done.idx);
            self.announcer.release(done.idx);
            self.flush();
        }
    }

    /// Stops every instance. The hand-over comes first: every master's
    /// priority-0 advert leaves in one batch (the backups take over after
    /// their Skew_Time), then the VIPs are removed, however many there are.
    pub fn shutdown(&mut self) {
        let now = monotonic_us();
        self.deferred = Some(Deferred::default());
        for idx in 0..self.slots.len() {
            self.deliver(idx, Event::Shutdown, now, "shutdown");
            self.timers.cancel_all(idx);
        }
        self.patient_until = Some(monotonic_us() + 200_000);
        self.flush();
        self.patient_until = None;
        // Then as keepalived 2.2.7 (restore_vrrp_interfaces, notify_shutdown):
        // the addresses go, then the instances' STOP scripts, then the groups'.
        let later = self.deferred.take().unwrap_or_default();
        for idx in later.removals {
            self.remove_vips(idx);
        }
        for (idx, which) in later.notifies {
            self.notify(idx, which);
        }
        // keepalived: every instance's STOP, then every sync group's.
        for g in &self.config.sync_groups {
            if self.group_states.contains_key(&g.name) {
                self.run_notify(&g.notify, "GROUP", &g.name, 0, Notify::Stop);
            }
        }
        self.flush();
    }

    /// Stops one instance and forgets it (reload).
    pub fn remove_instance(&mut self, idx: usize) {
        let now = monotonic_us();
        self.deliver(idx, Event::Shutdown, now, "removed by reload");
        self.flush();
        self.timers.cancel_all(idx);
        let key = self.slots[idx].key;
        self.by_key.remove(&key);
        self.watched = None;
        if let Some(dp) = &mut self.datapath {
            let _ = dp.remove_instance(key);
        }
    }

    /// Counter values by name, as `status` and the metrics show them.
    pub fn named_counters(&self) -> BTreeMap<String, u64> {
        let values = match &self.datapath {
            Some(dp) => dp.counters().unwrap_or([0; stats::COUNT as usize]),
            None => self.counters,
        };
        let mut out: BTreeMap<String, u64> = stats::NAMES
            .iter()
            .map(|&(slot, name)| (name.to_owned(), values[slot as usize]))
            .collect();
        out.insert("adverts_tx".to_owned(), self.adverts_tx);
        out.insert("adverts_tx_errors".to_owned(), self.adverts_tx_errors);
        out
    }

    /// Age of the last advert heard for an instance, in ms.
    pub fn last_advert_age_ms(&mut self, idx: usize) -> Option<u64> {
        let now = monotonic_us();
        let mut last = self.slots[idx].last_advert_us;
        if let Some(dp) = &mut self.datapath
            && let Ok(Some(st)) = dp.advert_state(self.slots[idx].key)
        {
            last = Some(st.last_ns / 1000);
        }
        last.map(|t| now.saturating_sub(t) / 1000)
    }

    pub fn is_live(&self, idx: usize) -> bool {
        self.by_key.get(&self.slots[idx].key) == Some(&idx)
    }
}

fn timer_reason(timer: Timer) -> &'static str {
    match timer {
        Timer::Advert => "advert timer",
        Timer::MasterDown => "master down timer expired",
        Timer::GarpDelay | Timer::GarpRefresh => "gratuitous ARP timer",
    }
}
