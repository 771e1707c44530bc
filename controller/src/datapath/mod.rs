//! The kernel side of xvrrp as seen from userspace: loading the XDP program,
//! attaching it, and reading its maps.

pub mod attach;
mod down_timers;
pub mod kernel;
mod links;
mod mapped;
mod vips;

use std::{net::IpAddr, path::Path};

use anyhow::{Context as _, Result};
use aya::{
    maps::{Array, HashMap, MapData, MapError, PerCpuArray, RingBuf},
    programs::{Xdp, XdpMode, links::PinnedLink, xdp::XdpLinkId},
};
use xvrrp_common::{
    maps::{
        self, AdvertEvent, AdvertState, CFG_PEERS_ONLY, CFG_SKIP_ADDR_CHECK, CFG_V3_CHECKSUM_AS_V2, Counters,
        InstanceConfig, InstanceKey, PeerKey, PeerValue,
    },
    stats,
};

use self::{
    attach::{AdvertPath, Answerer, Attached},
    kernel::Kernel,
    mapped::MappedArray,
};
/// The maps' address layout is the receive check's (`fuzz` imports it here).
pub use crate::vrrp::validate::addr_bytes;
use crate::vrrp::{codec::Auth, validate::RxInstance};

/// The compiled XDP program, built by `build.rs` from `ebpf/`.
pub static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xvrrp"));

/// Name of the XDP entry function in the object.
pub const PROGRAM_NAME: &str = "xvrrp";
/// A program that passes everything: the kernel-cost benchmark's baseline.
pub const PASS_PROGRAM_NAME: &str = "xvrrp_pass";
/// The TC ingress classifier that validates adverts (`attach::AdvertPath::Tc`).
pub const TC_PROGRAM_NAME: &str = "xvrrp_tc";
/// The never-attached XDP program that sets up the kernel's Master_Down
/// clock (`down_timers`), run with BPF_PROG_TEST_RUN.
pub const TIMER_SETUP_PROGRAM_NAME: &str = "xvrrp_timer_setup";

/// The loaded program and its maps.
pub struct Datapath {
    kernel: Kernel,
    /// The advert-state array mapped into memory, when the kernel allows.
    state_view: Option<MappedArray<AdvertState>>,
    /// The kernel Master_Down timers' entries, mapped likewise.
    down_view: Option<MappedArray<maps::DownWatch>>,
    events: RingBuf<MapData>,
    /// The event ring's size in bytes, as the kernel has it (0: unknown).
    ring_bytes: u32,
    slots: Slots,
    /// XDP attachments pinned in bpffs (crash-only restarts adopt them).
    attachments: Vec<Attachment>,
    /// Interfaces where XDP answers though not attached here (`answer_in_xdp`).
    answer_anyway: std::collections::HashSet<u32>,
    /// Active VIPs with `VIP_NO_ACCEPT`; their count is the `GUARDS` entry.
    guarded: std::collections::HashSet<(u32, IpAddr)>,
    /// What `PEERS` holds per instance, so an update touches only its keys.
    peers: std::collections::HashMap<InstanceKey, Vec<PeerKey>>,
    /// The kernel's Master_Down clock is set up (`down_timers`), and when
    /// that was last tried.
    clock_set_up: bool,
    clock_tried: Option<std::time::Instant>,
    /// `open_pinned` made every map at this start: no state of a previous
    /// controller's was adopted (false when any map was, and for `load`).
    maps_fresh: bool,
}

/// The program on one interface.
pub struct Attachment {
    pub name: String,
    pub index: u32,
    pub how: Attached,
    /// Who answers ARP / NDP for the VIPs on this interface.
    pub answerer: Answerer,
    /// Where its adverts are validated.
    pub adverts: AdvertPath,
    link: PinnedLink,
    /// The TC classifier's attachment, with `AdvertPath::Tc`.
    tc_link: Option<PinnedLink>,
}

/// Hands out advert-state array slots to instances, each time with a new
/// generation so the kernel starts a reused slot afresh.
#[derive(Default)]
struct Slots {
    by_key: foldhash::HashMap<InstanceKey, (u32, u32)>,
    free: Vec<u32>,
    next_slot: u32,
    next_generation: u32,
}

impl Slots {
    fn get_or_assign(&mut self, key: InstanceKey) -> Result<(u32, u32)> {
        if let Some(&sg) = self.by_key.get(&key) {
            return Ok(sg);
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None if self.next_slot < maps::MAX_INSTANCES => {
                self.next_slot += 1;
                self.next_slot - 1
            }
            None => anyhow::bail!("more than {} virtual routers", maps::MAX_INSTANCES),
        };
        self.next_generation = self.next_generation.wrapping_add(1).max(1);
        let sg = (slot, self.next_generation);
        self.by_key.insert(key, sg);
        Ok(sg)
    }

    fn release(&mut self, key: InstanceKey) {
        if let Some((slot, _)) = self.by_key.remove(&key) {
            self.free.push(slot);
        }
    }
}

impl Datapath {
    /// Loads the object and the XDP program into the kernel, in this process
    /// (not attached yet).
    pub fn load() -> Result<Self> {
        Self::with_kernel(Kernel::load(None, None)?)
    }

    /// The daemon's data path, every map and program pinned in `pin_dir`
    /// (bpffs). What an earlier run pinned there is reused with its contents;
    /// what is missing is loaded by a loader process (`kernel`), so the
    /// loader's memory peak never becomes the daemon's. `tc`: the TC advert
    /// classifier is wanted too. `instances`: how many virtual routers the
    /// daemon runs, which sizes a newly loaded event ring (one adopted from
    /// an earlier run keeps its size: if it is too small for a grown
    /// configuration, a full ring costs a sweep of the map, not state).
    pub fn open_pinned(pin_dir: &Path, tc: bool, instances: usize) -> Result<Self> {
        let events_bytes = maps::events_bytes_for(u32::try_from(instances).unwrap_or(u32::MAX));
        let had_pins = std::fs::read_dir(pin_dir).is_ok_and(|mut d| d.next().is_some());
        // The loader reuses pinned maps: the state is new only when none was
        // pinned (one lost by hand is made afresh, the rest adopted).
        let mut maps_fresh = !kernel::any_map_pinned(pin_dir);
        // A loader that fails (no CAP_BPF, the verifier, memlock) fails the
        // same way again: no retry, and a live data path's pins stay.
        Self::load_missing(pin_dir, tc, events_bytes)?;
        let opened = match Self::from_pin_dir(pin_dir) {
            Err(e) if had_pins => {
                // What an earlier run left cannot be opened (a pin removed
                // by hand, a map of another shape): start afresh rather than
                // fail the same way at every restart.
                tracing::warn!(
                    "{e:#}: removing the pins in {} and loading afresh",
                    pin_dir.display()
                );
                kernel::remove_pins(pin_dir);
                maps_fresh = true;
                Self::load_missing(pin_dir, tc, events_bytes)?;
                Self::from_pin_dir(pin_dir)
            }
            result => result,
        }
        .map(|dp| Self { maps_fresh, ..dp })?;
        // An adopted ring keeps the size it was made with: after a reload
        // that added instances and a crash, it may be smaller than this
        // configuration's (a full ring costs a sweep of the map, not state).
        if opened.ring_bytes != 0 && opened.ring_bytes < events_bytes {
            tracing::info!(
                ring_bytes = opened.ring_bytes,
                wanted = events_bytes,
                "the adopted XDP event ring is smaller than this configuration's; a stop and start \
                 (not a crash restart) makes it afresh"
            );
        }
        Ok(opened)
    }

    /// Whether `open_pinned` made the maps afresh, adopting no state.
    pub fn maps_fresh(&self) -> bool {
        self.maps_fresh
    }

    /// Runs the loader process unless every pin is there.
    fn load_missing(pin_dir: &Path, tc: bool, events_bytes: u32) -> Result<()> {
        if kernel::pinned(pin_dir, tc) {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let (warnings, peak_kib) = kernel::run_loader(pin_dir, tc, events_bytes)?;
        for w in warnings {
            tracing::warn!("{w}");
        }
        tracing::info!(
            ms = started.elapsed().as_millis(),
            loader_peak_kib = peak_kib,
            "data path loaded and pinned by a loader process"
        );
        Ok(())
    }

    fn from_pin_dir(pin_dir: &Path) -> Result<Self> {
        let mut dp = Self::with_kernel(Kernel::from_pins(pin_dir)?)?;
        dp.adopt_slots()?;
        dp.adopt_guarded()?;
        dp.adopt_peers()?;
        Ok(dp)
    }

    fn with_kernel(mut kernel: Kernel) -> Result<Self> {
        let ring = kernel.take_map(maps::EVENTS)?;
        let ring_bytes = match &ring {
            aya::maps::Map::RingBuf(data) => data.info().map_or(0, |i| i.max_entries()),
            _ => 0,
        };
        let events = RingBuf::try_from(ring)?;
        let state_view = match kernel.map(maps::ADVERT_STATE)? {
            aya::maps::Map::Array(data) => {
                MappedArray::map(data, maps::ADVERT_STATE_FLAGS, 0, "advert-state")
            }
            _ => None,
        };
        let down_view = match kernel.map(maps::DOWN_WATCH)? {
            aya::maps::Map::Array(data) => MappedArray::map(data, maps::DOWN_WATCH_FLAGS, 0, "down-watch"),
            _ => None,
        };
        Ok(Self {
            kernel,
            state_view,
            down_view,
            events,
            ring_bytes,
            slots: Slots::default(),
            attachments: Vec::new(),
            answer_anyway: std::collections::HashSet::new(),
            guarded: std::collections::HashSet::new(),
            peers: std::collections::HashMap::new(),
            clock_set_up: false,
            clock_tried: None,
            maps_fresh: false,
        })
    }

    /// Rebuilds the slot table from the instance map (after `load_pinned`
    /// reused a running data path's maps), so advert state carries over.
    fn adopt_slots(&mut self) -> Result<()> {
        let entries: Vec<(InstanceKey, InstanceConfig)> = {
            let map = self.kernel.map(maps::INSTANCES)?;
            let hash = HashMap::<_, InstanceKey, InstanceConfig>::try_from(map)?;
            hash.iter().filter_map(std::result::Result::ok).collect()
        };
        for (key, cfg) in entries {
            // A slot past the arrays is not this layout's: the pins are
            // removed and the data path loaded afresh (`open_pinned`).
            if cfg.slot >= maps::MAX_INSTANCES {
                anyhow::bail!(
                    "{} holds slot {} for {key:?}, past the {} slots",
                    maps::INSTANCES,
                    cfg.slot,
                    maps::MAX_INSTANCES
                );
            }
            self.slots.by_key.insert(key, (cfg.slot, cfg.generation));
            self.slots.next_slot = self.slots.next_slot.max(cfg.slot + 1);
            self.slots.next_generation = self.slots.next_generation.max(cfg.generation);
        }
        let used: std::collections::HashSet<u32> = self.slots.by_key.values().map(|(s, _)| *s).collect();
        self.slots.free = (0..self.slots.next_slot).filter(|s| !used.contains(s)).collect();
        self.cover_slots();
        Ok(())
    }

    /// Makes the mapped views reach every slot handed out. A view that
    /// cannot grow is dropped: its reads go through `bpf()` from then on.
    fn cover_slots(&mut self) {
        let want = self.slots.next_slot;
        cover_or_drop(&mut self.state_view, want, maps::ADVERT_STATE);
        cover_or_drop(&mut self.down_view, want, maps::DOWN_WATCH);
    }

    /// The XDP program, for attaching or `test_run`.
    pub fn program(&mut self) -> Result<&mut Xdp> {
        self.kernel.xdp()
    }

    /// Attaches the program to `interface` (in the caller's network namespace).
    pub fn attach(&mut self, interface: &str, mode: XdpMode) -> Result<XdpLinkId> {
        self.program()?.attach(interface, mode).with_context(|| {
            format!("attaching XDP to {interface} in {mode:?} mode failed - try --mode socket, or skb mode")
        })
    }

    /// The pass-everything program, loaded on first use (also the `test_run` baseline).
    pub fn pass_program(&mut self) -> Result<&mut Xdp> {
        kernel::loaded_in(self.kernel.ebpf_mut()?, PASS_PROGRAM_NAME)
    }

    /// The names of the maps the loaded object defines (the ring buffer, taken
    /// at load, included).
    pub fn map_names(&self) -> Vec<String> {
        let mut names = self.kernel.map_names();
        names.push(maps::EVENTS.to_owned());
        names
    }

    fn hash<K: aya::Pod, V: aya::Pod>(&mut self, name: &str) -> Result<HashMap<&mut MapData, K, V>> {
        Ok(HashMap::try_from(self.kernel.map_mut(name)?)?)
    }

    /// Tells the kernel what a valid advert for this instance looks like.
    /// The peers go in first and stale ones out last, so a reconfigured
    /// unicast instance never drops an advert from a peer it keeps.
    pub fn set_instance(&mut self, key: InstanceKey, rx: &RxInstance) -> Result<()> {
        let mut cfg = instance_config(rx);
        (cfg.slot, cfg.generation) = self.slots.get_or_assign(key)?;
        self.cover_slots();
        let wanted: Vec<PeerKey> = rx.peers.iter().map(|p| peer_key(key, p.addr)).collect();
        let mut peers = self.hash::<PeerKey, PeerValue>(maps::PEERS)?;
        for (k, p) in wanted.iter().zip(&rx.peers) {
            let range = PeerValue {
                min_ttl: p.min_ttl,
                max_ttl: p.max_ttl,
            };
            peers
                .insert(k, range, 0)
                .with_context(|| format!("writing unicast peer {} to {}", p.addr, maps::PEERS))?;
        }
        self.hash::<InstanceKey, InstanceConfig>(maps::INSTANCES)?
            .insert(key, cfg, 0)
            .with_context(|| format!("writing instance {key:?} to {}", maps::INSTANCES))?;
        self.remove_peers(key, &wanted)?;
        if !wanted.is_empty() {
            self.peers.insert(key, wanted);
        }
        Ok(())
    }

    /// Removes `key`'s peers other than `keep`.
    fn remove_peers(&mut self, key: InstanceKey, keep: &[PeerKey]) -> Result<()> {
        let Some(had) = self.peers.remove(&key) else {
            return Ok(());
        };
        let mut peers = self.hash::<PeerKey, PeerValue>(maps::PEERS)?;
        for p in had.iter().filter(|p| !keep.contains(p)) {
            ignore_missing(peers.remove(p))?;
        }
        Ok(())
    }

    /// Rebuilds `peers` from the map a running data path left (crash-only restart).
    fn adopt_peers(&mut self) -> Result<()> {
        let keys: Vec<PeerKey> = self
            .hash::<PeerKey, PeerValue>(maps::PEERS)?
            .keys()
            .filter_map(Result::ok)
            .collect();
        for k in keys {
            self.peers.entry(k.instance).or_default().push(k);
        }
        Ok(())
    }

    /// Forgets an instance; its adverts are then dropped as an unknown VRID.
    pub fn remove_instance(&mut self, key: InstanceKey) -> Result<()> {
        ignore_missing(
            self.hash::<InstanceKey, InstanceConfig>(maps::INSTANCES)?
                .remove(&key),
        )?;
        self.remove_peers(key, &[])?;
        // Its kernel Master_Down timer too. Failing that costs one stray
        // event (for a key no instance has, or that takes back nothing).
        if let Some(&(slot, _)) = self.slots.by_key.get(&key) {
            let _ = self.write_down_watch(slot, maps::DownWatch::default());
        }
        self.slots.release(key);
        Ok(())
    }

    /// The last valid advert the kernel recorded for an instance, if any since
    /// the instance was configured.
    pub fn advert_state(&mut self, key: InstanceKey) -> Result<Option<AdvertState>> {
        let Some(&(slot, generation)) = self.slots.by_key.get(&key) else {
            return Ok(None);
        };
        let found = |state: AdvertState| (state.generation == generation && state.count > 0).then_some(state);
        // The kernel may be writing the entry as it is copied out: a mixed
        // copy fails its stamp and is read again. From the mapping a read
        // takes nanoseconds, as long as a write: spin for a few microseconds
        // (four back-to-back reads could all fall inside one write, and a
        // backup that finds nothing takes over), then read with the system
        // call as before.
        if let Some(view) = &self.state_view {
            for _ in 0..1024 {
                let state = view.get(slot).context("advert-state slot past the mapping")?;
                if state.is_whole() {
                    return Ok(found(state));
                }
                // Never written (a master that hears nobody, every advert
                // tick): no write to wait out.
                if state.count == 0 {
                    return Ok(None);
                }
                std::hint::spin_loop();
            }
        }
        let array = Array::<_, AdvertState>::try_from(self.kernel.map(maps::ADVERT_STATE)?)?;
        for _ in 0..4 {
            let state = array.get(&slot, 0).context("reading advert state")?;
            if state.is_whole() {
                return Ok(found(state));
            }
            if state.count == 0 {
                return Ok(None);
            }
        }
        Ok(None)
    }

    /// Whether advert state is read from a shared mapping (else by `bpf()`).
    pub fn advert_state_mapped(&self) -> bool {
        self.state_view.is_some()
    }

    /// Whether the kernel Master_Down timers' entries are read from a
    /// shared mapping (else by `bpf()`).
    pub fn down_watch_mapped(&self) -> bool {
        self.down_view.is_some()
    }

    /// The ring buffer's fd, readable when events are waiting (for epoll / tokio).
    pub fn events_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd as _;
        self.events.as_raw_fd()
    }

    /// Takes every event the kernel pushed since the last call.
    pub fn drain_events(&mut self) -> Vec<AdvertEvent> {
        let mut out = Vec::new();
        while let Some(item) = self.events.next() {
            if item.len() >= std::mem::size_of::<AdvertEvent>() {
                // SAFETY: the kernel wrote an AdvertEvent (repr(C), Pod); read unaligned.
                out.push(unsafe { item.as_ptr().cast::<AdvertEvent>().read_unaligned() });
            }
        }
        out
    }

    /// Every counter slot, summed over CPUs.
    pub fn counters(&self) -> Result<[u64; stats::COUNT as usize]> {
        let array = PerCpuArray::<_, Counters>::try_from(self.kernel.map(maps::STATS)?)?;
        let per_cpu = array.get(&0, 0).context("reading the counters")?;
        let mut out = [0u64; stats::COUNT as usize];
        for cpu in per_cpu.iter() {
            for (o, v) in out.iter_mut().zip(cpu.slots) {
                *o += v;
            }
        }
        Ok(out)
    }

    /// The counters by their stable names (`xvrrp_common::stats::TABLE`), in slot order.
    pub fn named_counters(&self) -> Result<Vec<(&'static str, u64)>> {
        let values = self.counters()?;
        Ok(stats::named(&values).collect())
    }
}

/// The error for a map or program the embedded object lacks (a build mismatch).
pub(crate) fn missing(kind: &str, name: &str) -> String {
    format!("{kind} {name} missing from the eBPF object")
}

/// Makes `view` reach `want` slots of map `name`, or drops it (its reads then
/// go through `bpf()`).
fn cover_or_drop<T: aya::Pod>(view: &mut Option<MappedArray<T>>, want: u32, name: &str) {
    if let Some(v) = view
        && let Err(e) = v.cover(want)
    {
        tracing::warn!("mapping {want} slots of {name}: {e}; reading it with bpf()");
        *view = None;
    }
}

fn ignore_missing(result: Result<(), MapError>) -> Result<()> {
    match result {
        Ok(()) | Err(MapError::KeyNotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn peer_key(instance: InstanceKey, addr: IpAddr) -> PeerKey {
    PeerKey {
        instance,
        addr: addr_bytes(addr),
    }
}

/// The kernel's view of an instance: the same facts `vrrp::validate` uses.
pub fn instance_config(rx: &RxInstance) -> InstanceConfig {
    let auth_data = match rx.auth {
        Auth::Simple(data) => data,
        _ => [0; 8],
    };
    InstanceConfig {
        version: rx.version,
        auth_type: rx.auth.type_value(),
        addr_count: u8::try_from(rx.addrs.count).unwrap_or(u8::MAX),
        flags: if rx.v3_checksum_as_v2 {
            CFG_V3_CHECKSUM_AS_V2
        } else {
            0
        } | if rx.peers.is_empty() { 0 } else { CFG_PEERS_ONLY }
            | if rx.skip_addr_check {
                CFG_SKIP_ADDR_CHECK
            } else {
                0
            },
        interval: rx.interval,
        _pad: [0; 2],
        auth_data,
        slot: 0,
        generation: 0,
        group: rx.group.map_or([0; 16], addr_bytes),
        // The same sum under the same key as the controller's check.
        addr_sum: rx.addrs.sum,
        addr_key: rx.addrs.key,
    }
}

/// 64 random bits from the kernel (`getrandom`), for keys nobody outside
/// may guess; the clock if the call fails (never expected on Linux 3.17+)
/// or the pool is not ready yet (early boot: a start must not wait for it,
/// the keys only keep a mismatched address list from passing).
pub fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    // SAFETY: getrandom writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), libc::GRND_NONBLOCK) };
    if n == 8 {
        u64::from_ne_bytes(buf)
    } else {
        crate::net::sys::monotonic_us().rotate_left(29) ^ u64::from(std::process::id())
    }
}
