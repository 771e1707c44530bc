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
    instances::{ByIndex, Instances, Keyed, Waiting, reload_plan},
    persist::Saved,
    side::{Job, Side, VipsDone},
    timers::Timers,
};
use crate::config::host::HostInfo;
use crate::{
    config::model::{Config, Instance as InstanceCfg, RunAs, VirtualAddress},
    datapath::Datapath,
    net::{
        frames::{advert_frame, announcement},
        iface::{self, Iface},
        pool::{Needs, Pool, SenderKey},
        sys::monotonic_us,
    },
    notify::What,
    trackers::TrackEvent,
    vrrp::{
        codec::{
            Advert, Auth, ChecksumScope,
            ethernet::{virtual_mac_v4, virtual_mac_v6},
        },
        fsm::{self, Action, Event, GarpSchedule, Micros, Notify, Params, State, Timer},
        track,
        validate::{AddrDigest, RxInstance, RxPeer, validate_ip, validate_vrrp},
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

/// An advert to send: destination and encoded message, shared with the
/// instance's cache (most adverts repeat the previous one byte for byte).
type Outgoing = (IpAddr, Rc<[u8]>);

mod down_watch;
mod health;
mod input;
mod lifecycle;
mod memory;
mod notify;
mod output;
mod reload;
mod resume;
mod routes;
mod slot;
mod sync;

pub use slot::Slot;
use slot::{AdvertCache, build_slot, read_host, unbound_reason};

pub struct Engine {
    /// Global settings, scripts and sync groups (the instances' own
    /// configurations live with them in `instances`).
    pub config: Config,
    pub mode: Mode,
    /// The running instances and those waiting for their interface.
    pub instances: Instances<Slot>,
    timers: Timers,
    /// Advert, receive and frame sockets shared by the instances.
    pub pool: Pool,
    /// VIP changes, notify scripts and `state.json` run there, off this thread.
    pub side: Side,
    /// Bumped when what the record lists may have changed: the side thread
    /// reported a change to its VIPs (`side.vips()`), a resume adopted some,
    /// a reload.
    installed_changes: u64,
    /// Instances whose VIPs are being installed: the ticket of that job.
    /// Their gratuitous ARPs wait for it (the announcer holds them).
    installing: ByIndex<Installing>,
    last_ticket: u32,
    pub datapath: Option<Datapath>,
    pending: foldhash::HashMap<SenderKey, Vec<Outgoing>>,
    /// How many adverts `pending` holds.
    pending_adverts: usize,
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
    /// How and where to attach XDP to interfaces that appear later (reload,
    /// an interface deleted and created again).
    pub xdp_attach: Option<(crate::datapath::attach::AttachPolicy, std::path::PathBuf)>,
    /// Each interface an instance uses or tracks, read once per poll for all instances, not once per instance.
    links: HashMap<String, LinkState>,
    /// The interfaces `links` covers, recomputed after instances change.
    watched: Option<Vec<String>>,
    /// State changes of every instance so far.
    transitions_total: u64,
    /// Of those, the ones out of MASTER (the record is saved sooner then).
    masters_left: u64,
    /// Each `vrrp_sync_group`'s state as its notify scripts last heard it.
    group_states: HashMap<String, State>,
    /// `use_vmac` macvlans by instance name (made on the side thread when
    /// the configuration is read).
    pub vmac_links: crate::net::vmac::Links,
    /// Deletions' candidate instances (`routes::Watch`), rebuilt after the
    /// instances change.
    watch: Option<routes::Watch>,
    /// Deletions this daemon's own removals will cause, with when they were
    /// asked for (`routes::expect_removals`).
    own_removals: HashMap<String, (u32, Micros)>,
    /// `use_vmac` makes macvlans (else `--vmac xdp`: XDP stands in).
    pub make_vmacs: bool,
    /// Sync group members whose Master_Down_Timer ran out while the rest
    /// of their group still hears a master (keepalived's `wantstate`).
    want_master: HashSet<usize>,
    /// When each master last told of a lower priority advert.
    lower_told: HashMap<usize, Micros>,
    /// An instance a reload is removing, and what it reports instead of
    /// STOP (keepalived: DELETED with `notify_deleted`, else FAULT, else
    /// nothing when it was in FAULT already).
    deleting: Option<(usize, Option<What>)>,
    /// Each `track_file`'s last value and each `vrrp_track_process`'s quorum
    /// (absent until the side thread first reports).
    file_values: HashMap<String, i64>,
    process_up: HashMap<String, bool>,
    /// While shutting down: what waits until every priority-0 advert has
    /// left (the hand-over first).
    deferred: Option<Deferred>,
    /// While shutting down: until when a full send buffer is waited out.
    patient_until: Option<Micros>,
    /// The `EVENTS_LOST` counter already answered with a sweep (seeded from
    /// the maps at start: a pinned counter outlives a restart).
    events_lost_seen: u64,
    /// Kernel Master_Down timers failed once (a map write or read, or a
    /// deadline the kernel's clock missed, `check_kernel_clock`): every
    /// backup keeps its own from then on (`status`: `kernel_timers_off`).
    kernel_down_off: bool,
    /// Backups whose Master_Down_Timer the kernel runs now.
    pub kernel_watched: u64,
    /// Hand-overs the kernel has not shown it runs yet.
    kernel_pending: u64,
    /// During a reload: the instances that waited for their interface
    /// before it (parking one of them again is not news).
    still_waiting: Vec<InstanceCfg>,
    /// One getifaddrs snapshot shared by the instances built in one batch
    /// (start-up, a reload): reading it per instance made starting N
    /// instances cost O(N x addresses). Dropped at the end of each batch.
    host: Option<HostInfo>,
}

/// An instance whose VIPs the side thread is installing.
struct Installing {
    /// The `AddVips` job's ticket (a later one replaces it). 32 bits: an
    /// older job of the instance still out 2^32 installs later is not a
    /// case.
    ticket: u32,
    /// The state machine asked for the XDP responder meanwhile.
    responder: bool,
}

/// An interface as the last poll saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LinkState {
    /// Operationally up.
    up: bool,
    /// Its index (`None`: it does not exist).
    index: Option<u32>,
}

impl Engine {
    /// Builds every instance, opens the sockets, fills the XDP maps.
    pub fn new(
        mut config: Config,
        mode: Mode,
        datapath: Option<Datapath>,
        side: Side,
        vmac_links: crate::net::vmac::Links,
    ) -> Result<Self> {
        let events_lost_seen = datapath
            .as_ref()
            .and_then(|dp| dp.counters().ok())
            .map_or(0, |c| c[stats::EVENTS_LOST as usize]);
        // The instances live in the registry; `config` keeps the rest.
        let instances = std::mem::take(&mut config.instances);
        let announcer = Announcer::new(
            u64::from(config.global.garp_interval_ms) * 1000,
            u64::from(config.global.gna_interval_ms) * 1000,
        );
        let mut engine = Self {
            config,
            mode,
            instances: Instances::default(),
            timers: Timers::default(),
            pool: Pool::default(),
            side,
            installed_changes: 0,
            installing: ByIndex::default(),
            last_ticket: 0,
            datapath,
            pending: foldhash::HashMap::default(),
            pending_adverts: 0,
            pending_frames: Vec::new(),
            announcer,
            counters: [0; stats::COUNT as usize],
            adverts_tx: 0,
            adverts_tx_errors: 0,
            xdp_attach: None,
            events_lost_seen,
            kernel_down_off: false,
            kernel_watched: 0,
            kernel_pending: 0,
            links: HashMap::new(),
            watched: None,
            transitions_total: 0,
            masters_left: 0,
            group_states: HashMap::new(),
            vmac_links,
            make_vmacs: true,
            watch: None,
            own_removals: HashMap::new(),
            deleting: None,
            want_master: HashSet::new(),
            lower_told: HashMap::new(),
            file_values: HashMap::new(),
            process_up: HashMap::new(),
            deferred: None,
            patient_until: None,
            host: None,
            still_waiting: Vec::new(),
        };
        engine.apply_garp_groups();
        // Room for all at once (no run of ever larger copies left as holes
        // in the heap), and each configuration dropped right after its slot
        // took a copy, so the next copy reuses its blocks: a dense heap at
        // thousands of instances.
        engine.instances.reserve(instances.len());
        // Taken from the end of a reversed list (configuration order kept),
        // the list given back as it empties: its buffer (248 bytes an
        // instance) never stands whole next to the full slot table, the
        // start-up peak of a backup at 16,000 instances.
        let mut instances = instances;
        instances.reverse();
        while let Some(cfg) = instances.pop() {
            engine.add_or_wait(&cfg)?;
            if instances.len() < instances.capacity() / 2 {
                instances.shrink_to_fit();
            }
        }
        engine.host = None;
        Ok(engine)
    }

    /// The VRRP multicast group of a family: 224.0.0.18 / ff02::12 (RFC 5798
    /// 5.1.1.2, 5.1.2.2) unless `vrrp_mcast_group4/6` says otherwise.
    pub(super) fn group(&self, v6: bool) -> IpAddr {
        if v6 {
            self.config.global.mcast_group6.into()
        } else {
            self.config.global.mcast_group4.into()
        }
    }

    pub(super) fn script_user(&self) -> Option<RunAs> {
        self.config.global.script_user.clone()
    }

    /// Runs one event through the state machine and carries out its actions.
    pub fn deliver(&mut self, idx: usize, event: Event, now: Micros, reason: &str) {
        let mut queue = vec![(idx, event, reason.to_owned())];
        let mut hops = 0;
        let mut group_moves: Vec<(String, State)> = Vec::new();
        while let Some((idx, event, reason)) = queue.pop() {
            let slot = &mut self.instances[idx];
            let from = slot.fsm.vars.state;
            if let Event::Advert { priority, .. } = event {
                slot.stats.advert_rcvd += 1;
                slot.stats.pri_zero_rcvd += u64::from(priority == 0);
            }
            let (vars, actions) = fsm::step(&slot.fsm, &event, now);
            slot.fsm.apply(vars);
            let to = slot.fsm.vars.state;
            let heard_master = matches!(event, Event::Advert { .. })
                && actions.iter().any(|a| {
                    matches!(
                        a,
                        Action::Arm {
                            timer: Timer::MasterDown,
                            ..
                        }
                    )
                });
            if heard_master || from != to {
                // It hears a master again (or moved): it no longer waits to take over.
                self.want_master.remove(&idx);
            }
            if from != to {
                slot.transitions += 1;
                slot.last_transition = super::dump::epoch_now();
                slot.stats.become_master = slot
                    .stats
                    .become_master
                    .wrapping_add(u32::from(to == State::Master));
                slot.stats.release_master = slot
                    .stats
                    .release_master
                    .wrapping_add(u32::from(from == State::Master));
                // keepalived's words too: log-based alerting looks for them.
                info!("({}) Entering {} STATE", slot.cfg.name, to.name());
                self.transitions_total += 1;
                self.masters_left += u64::from(from == State::Master);
                // The advert that caused it, if one did: who, with what priority.
                let (peer, peer_priority) = match event {
                    Event::Advert { src, priority, .. } => (Some(src), Some(priority)),
                    _ => (None, None),
                };
                info!(
                    instance = %slot.cfg.name,
                    vrid = slot.cfg.vrid,
                    from = from.name(),
                    to = to.name(),
                    reason = %reason,
                    peer = ?peer,
                    peer_priority = ?peer_priority,
                    "state change"
                );
                if to == State::Master {
                    // Only adverts heard from now on can unseat this master:
                    // the map may still hold the record of a master that
                    // died long ago (a takeover, a crash-only restart).
                    slot.xdp_seen_ns = slot.xdp_seen_ns.max(monotonic_us() * 1000);
                } else if let Some(seen) = slot.split_brain.as_mut() {
                    seen.peer = None;
                }
                if let Some(group) = &slot.cfg.sync_group {
                    group_moves.push((group.to_string(), to));
                }
                // vrrp_sync_group: members follow into MASTER and FAULT.
                hops += 1;
                if hops < 64 {
                    queue.extend(self.sync_followers(idx, from, to));
                }
            }
            self.execute(idx, actions);
            self.check_down_watch(idx);
        }
        for (group, to) in group_moves {
            self.group_moved(&group, to);
        }
    }

    pub(super) fn execute(&mut self, idx: usize, actions: Vec<Action>) {
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
                Action::ArpResponder(on) => match self.installing.get_mut(idx) {
                    // Turned on when the VIPs are in (`on_vips_done`).
                    Some(waiting) if on => waiting.responder = true,
                    Some(waiting) => {
                        waiting.responder = false;
                        self.arp_responder(idx, false);
                    }
                    None => self.arp_responder(idx, on),
                },
                // One pending second burst however many lower adverts come
                // (re-arming it on each would postpone it for ever).
                Action::Arm {
                    timer: Timer::GarpLowerPrio,
                    ..
                } if self.timers.is_armed(idx, Timer::GarpLowerPrio) => {}
                Action::Arm { timer, at_us } => {
                    let slot = &self.instances[idx];
                    let at = match timer {
                        Timer::Advert => {
                            super::timers::on_grid(at_us, slot.fsm.advert_interval_us(), slot.phase_seed())
                        }
                        _ => at_us,
                    };
                    self.timers.arm(idx, timer, at);
                }
                Action::Cancel(timer) => self.timers.cancel(idx, timer),
                Action::Notify(which) => match &mut self.deferred {
                    Some(later) => later.notifies.push((idx, which)),
                    None => self.notify(idx, which),
                },
                Action::AdoptInterval { interval_cs } => {
                    debug!(instance = %self.instances[idx].cfg.name, interval_cs, "adopting the master's advert interval");
                }
                Action::OtherMaster { src, priority } => {
                    self.heard_lower(idx);
                    let slot = &mut self.instances[idx];
                    let seen = slot.split_brain.get_or_insert_default();
                    seen.adverts += 1;
                    if seen.peer != Some(src) {
                        seen.peer = Some(src);
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

    /// The `garp_group` pacing, by interface index (interfaces missing now
    /// keep the global gaps until the next reload).
    pub fn apply_garp_groups(&mut self) {
        let mut paced = HashMap::new();
        for (n, g) in self.config.garp_groups.iter().enumerate() {
            for name in &g.interfaces {
                let Ok(ifindex) = crate::net::sys::ifindex(name) else {
                    warn!(interface = %name, "garp_group: no such interface now");
                    continue;
                };
                let key = if g.shared {
                    (1 << 32) + n as u64
                } else {
                    u64::from(ifindex)
                };
                paced.insert(
                    ifindex,
                    super::announce::Pace {
                        garp_gap_us: g.garp_interval_us.unwrap_or(0),
                        gna_gap_us: g.gna_interval_us.unwrap_or(0),
                        key,
                    },
                );
            }
        }
        self.announcer.set_paced(paced);
    }

    /// Applies a reloaded `global_defs` to what the engine keeps of it.
    pub fn set_global(&mut self, global: crate::config::model::Global) {
        self.announcer.set_gaps(
            u64::from(global.garp_interval_ms) * 1000,
            u64::from(global.gna_interval_ms) * 1000,
        );
        let g = &self.config.global;
        let fifos_changed =
            (&g.notify_fifo, &g.vrrp_notify_fifo) != (&global.notify_fifo, &global.vrrp_notify_fifo);
        self.config.global = global;
        // Readers keep their FIFO through a reload that does not change it
        // (keepalived closes and makes them again every time).
        if fifos_changed {
            self.open_fifos();
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

    /// Stops every instance. The hand-over comes first: every master's
    /// priority-0 advert leaves in one batch (the backups take over after
    /// their Skew_Time), then the VIPs are removed, however many there are.
    pub fn shutdown(&mut self) {
        let now = monotonic_us();
        self.deferred = Some(Deferred::default());
        // Patient from the first advert: `queue_advert` sends every 1024 as
        // they are queued, and none of the goodbyes may be dropped for a
        // full send buffer.
        self.patient_until = Some(now + 200_000);
        for idx in self.instances.indices() {
            self.deliver(idx, Event::Shutdown, now, "shutdown");
            self.timers.cancel_all(idx);
        }
        self.flush();
        self.patient_until = None;
        // Then as keepalived 2.2.7 (restore_vrrp_interfaces, notify_shutdown):
        // the addresses go, then the instances' STOP scripts, then the groups'.
        let later = self.deferred.take().unwrap_or_default();
        for idx in later.removals {
            self.remove_vips(idx);
        }
        // keepalived removes its static rules, routes and addresses last,
        // and the macvlans with the instances (vrrp.c shutdown_vrrp_instances).
        self.statics(false);
        let links: Vec<String> = self.vmac_links.values().map(|m| m.name.clone()).collect();
        if !links.is_empty() {
            self.side.send(Job::RemoveVmacs(links, true));
        }
        for (idx, which) in later.notifies {
            self.notify(idx, which);
        }
        // keepalived: every instance's STOP, then every sync group's.
        for g in &self.config.sync_groups {
            if self.group_states.contains_key(&g.name) {
                self.tell_group(g, What::Stop);
            }
        }
        self.flush();
    }

    /// What keepalived's signal dumps show (`dump`): a copy, rendered and
    /// written on the side thread.
    pub fn dump_view(&self) -> super::dump::View {
        let instances = self
            .instances
            .values()
            .map(|s| super::dump::InstanceView {
                cfg: s.cfg.clone(),
                state: s.fsm.vars.state.name(),
                interface: s.ifname().to_owned(),
                src: s.src,
                dsts: s.dsts(self.group(s.v6)),
                effective_priority: s.fsm.vars.priority,
                master: s.fsm.vars.master,
                master_adver_int_cs: s.fsm.vars.master_adver_interval_cs,
                last_transition: s.last_transition,
                vipset: s.fsm.vars.state == State::Master,
                stats: s.stats,
            })
            .collect();
        let g = &self.config.global;
        super::dump::View {
            router_id: g.router_id.clone().unwrap_or_default(),
            mcast_group4: g.mcast_group4.into(),
            mcast_group6: g.mcast_group6.into(),
            instances,
        }
    }

    /// keepalived's STATS_CLEAR: every instance's counters start again.
    pub fn clear_stats(&mut self) {
        for s in self.instances.values_mut() {
            s.stats = super::dump::InstanceStats::default();
        }
    }

    /// Counter values by name, as `status` and the metrics show them.
    pub fn named_counters(&self) -> BTreeMap<String, u64> {
        let values = match &self.datapath {
            Some(dp) => dp.counters().unwrap_or([0; stats::COUNT as usize]),
            None => self.counters,
        };
        let mut out: BTreeMap<String, u64> = stats::named(&values)
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        out.insert("adverts_tx".to_owned(), self.adverts_tx);
        out.insert("adverts_tx_errors".to_owned(), self.adverts_tx_errors);
        out.insert("master_down_in_kernel".to_owned(), self.kernel_watched);
        out.insert("kernel_timers_off".to_owned(), u64::from(self.kernel_down_off));
        out
    }

    /// Age of the last advert heard for an instance, in ms.
    pub fn last_advert_age_ms(&mut self, idx: usize) -> Option<u64> {
        let now = monotonic_us();
        let mut last = self.instances[idx].last_advert_us.get();
        if let Some(dp) = &mut self.datapath
            && let Ok(Some(st)) = dp.advert_state(self.instances[idx].key)
        {
            last = Some(st.last_ns / 1000);
        }
        last.map(|t| now.saturating_sub(t) / 1000)
    }
}

fn timer_reason(timer: Timer) -> &'static str {
    match timer {
        Timer::Advert => "advert timer",
        Timer::MasterDown => "master down timer expired",
        Timer::GarpDelay | Timer::GarpRefresh | Timer::GarpLowerPrio => "gratuitous ARP timer",
    }
}
