//! BPF map names and the `#[repr(C)]` keys and values they hold.
//!
//! The kernel program names its statics after these constants (aya's `#[map]`
//! takes the static's name); the controller looks maps up by them, and a test
//! checks every name is present in the compiled object, so the two sides
//! cannot drift apart silently. Each map says who writes it.

/// Per-CPU array with one `Counters` entry (one lookup per packet, whatever it
/// counts). Written by: the kernel program only. Read by: the controller (summed over CPUs).
pub const STATS: &str = "XVRRP_STATS";
/// Hash `InstanceKey -> InstanceConfig`: what a valid advert looks like.
/// Written by: the controller only. Read by: the kernel program.
pub const INSTANCES: &str = "XVRRP_INSTANCES";
/// Array of `AdvertState`, indexed by `InstanceConfig::slot`: the last valid
/// advert per virtual router (an array: the hot path pays one hash lookup, for
/// the configuration, not two). Written by: the kernel program only. Read by:
/// the controller (master-down detection), which trusts an entry only when its
/// `generation` matches the one it configured.
pub const ADVERT_STATE: &str = "XVRRP_ADVERT_STATE";
/// Ring buffer of `AdvertEvent`: pushed only when something changes.
/// Written by: the kernel program only. Read by: the controller.
pub const EVENTS: &str = "XVRRP_EVENTS";
/// Hash `Vip4Key -> VipValue`: IPv4 VIPs whose ARP requests XDP answers.
/// Written by: the controller only (while master). Read by: the kernel program.
pub const VIPS4: &str = "XVRRP_VIPS4";
/// Hash `Vip6Key -> VipValue`: IPv6 VIPs whose Neighbor Solicitations XDP answers.
/// Written by: the controller only (while master). Read by: the kernel program.
pub const VIPS6: &str = "XVRRP_VIPS6";

/// Hash `VmacKey -> VmacValue`: virtual MACs (`use_vmac`) active on an
/// interface; frames to them are handed to the stack as if sent to the
/// interface's own MAC, so no macvlan per VRID is needed.
/// Written by: the controller only (while master). Read by: the kernel program.
pub const VMACS: &str = "XVRRP_VMACS";

/// Hash `PeerKey -> PeerValue`: the `unicast_peer` addresses of the instances
/// with `CFG_PEERS_ONLY` and the TTLs accepted from each; an advert from any
/// other source is dropped.
/// Written by: the controller only. Read by: the kernel program.
pub const PEERS: &str = "XVRRP_PEERS";

/// Array of one `u32`: how many VIPs are active with `VIP_NO_ACCEPT`. While
/// it is 0 plain traffic pays one array read, not a VIP lookup.
/// Written by: the controller only. Read by: the kernel program.
pub const GUARDS: &str = "XVRRP_GUARDS";

/// Hash `u32 ifindex -> u32` of `IFACE_*` bits: how the program works on
/// each interface it is attached to.
/// Written by: the controller only. Read by: both kernel programs.
pub const IFACES: &str = "XVRRP_IFACES";

/// `IFACES` bit: adverts arriving on this interface are validated by the TC
/// ingress classifier, not by XDP (which passes them). Set where a VLAN tag
/// may travel in the packet's metadata instead of its bytes (a veth, a NIC
/// with rx VLAN offload): XDP cannot see such a tag, TC can, and an advert of
/// another VLAN must never be taken for this interface's.
pub const IFACE_ADVERTS_IN_TC: u32 = 1;

/// Array of `DownWatch`, indexed by `InstanceConfig::slot`: the
/// Master_Down_Timer (RFC 5798 6.4.2) of a backup whose master advertises
/// steadily, kept by the kernel so the daemon is not woken to find that the
/// master is still there. The controller hands an instance over (writes an
/// entry with a new token), the kernel program stamps every advert that
/// would reset the backup's own timer into it, and the kernel's clock
/// (`DOWN_CLOCK`) pushes an `EV_DOWN_TIMER` event when one runs out.
/// Written by: both (the controller the parameters, the kernel `started`,
/// `restarted_ns`, `fired`).
pub const DOWN_WATCH: &str = "XVRRP_DOWN_WATCH";
/// Flags of the `DOWN_WATCH` array: `BPF_F_MMAPABLE`, as `ADVERT_STATE_FLAGS`
/// (the controller reads whether the kernel took a hand-over, and checks the
/// kernel's timers, without a system call per instance).
pub const DOWN_WATCH_FLAGS: u32 = ADVERT_STATE_FLAGS;

/// One-entry array holding the kernel's one timer for every `DOWN_WATCH`
/// entry: it runs out at the earliest deadline, looks at each entry (pushing
/// the events of those that ran out) and is started again for the next
/// earliest. One timer and not one per instance: the kernel allocates a
/// timer where it cannot wait for memory and, on 6.18, cannot grow its slab
/// there (measured: thousands of set-ups fail with ENOMEM until other frees
/// make room). A BTF-defined map (the kernel needs the `bpf_timer` and
/// `bpf_spin_lock` fields' types). Written by: the kernel program only (a
/// userspace write would free the timer); set up by the never-attached
/// `xvrrp_timer_setup` program, which the controller runs.
pub const DOWN_CLOCK: &str = "XVRRP_DOWN_CLOCK";

/// The shape of every pinned map (keys, values, sizes, flag meanings). A
/// controller adopts a running data path only when this matches: a rebuilt
/// binary with another layout must not read or write the old maps. Bump it
/// with every change to this file's types or to a constant the two sides
/// must agree on; a map's entry count the controller reads back from the
/// kernel (the event ring's size, `events_bytes_for`) needs no bump.
pub const LAYOUT_VERSION: u32 = 8;

/// Every map the kernel program must define.
pub const ALL: &[&str] = &[
    STATS,
    INSTANCES,
    ADVERT_STATE,
    EVENTS,
    VIPS4,
    VIPS6,
    VMACS,
    PEERS,
    GUARDS,
    IFACES,
    DOWN_WATCH,
    DOWN_CLOCK,
];

/// Entries of the instance and advert-state maps: room for 4096 virtual
/// routers per address family and interface mix, with slack.
pub const MAX_INSTANCES: u32 = 16_384;
/// Flags of the advert-state array: `BPF_F_MMAPABLE` (kernel 5.5+), so the
/// controller reads entries from a shared mapping instead of one
/// `bpf(BPF_MAP_LOOKUP_ELEM)` per instance and advert tick (40,000 system
/// calls a second at 4000 instances x 100 ms). `AdvertState::stamp` already
/// makes a read racing a write detectable.
pub const ADVERT_STATE_FLAGS: u32 = 1 << 10;
/// Entries of the peer map (all instances' `unicast_peer` addresses together).
pub const MAX_PEERS: u32 = 16_384;
/// Entries of each VIP map.
pub const MAX_VIPS: u32 = 65_536;
/// Bytes of the event ring buffer (a power of two, a multiple of the page
/// size) in the object: the most the daemon asks for. The daemon sizes the
/// ring to its instances when it loads the data path (`events_bytes_for`):
/// the kernel maps every page of the ring into the reader when it is mapped,
/// its data pages twice, so 1 MiB costs 2 MiB of the daemon's RSS.
pub const EVENTS_BYTES: u32 = 1 << 20;
/// The smallest event ring the daemon asks for.
pub const EVENTS_BYTES_MIN: u32 = 1 << 16;
/// Ring room per configured instance: an event takes 48 bytes with its
/// header, so every instance can have one event waiting, with a third to
/// spare (a mass start, when each first advert is news). A ring that fills
/// up anyway is not a loss of state: the controller counts `EVENTS_LOST`
/// and reads every instance's entry.
pub const EVENTS_BYTES_PER_INSTANCE: u32 = 64;

/// The event ring's size for `instances` virtual routers: a power of two
/// between `EVENTS_BYTES_MIN` and `EVENTS_BYTES`.
pub const fn events_bytes_for(instances: u32) -> u32 {
    let want = instances.saturating_mul(EVENTS_BYTES_PER_INSTANCE);
    if want <= EVENTS_BYTES_MIN {
        EVENTS_BYTES_MIN
    } else if want >= EVENTS_BYTES {
        EVENTS_BYTES
    } else {
        want.next_power_of_two()
    }
}

/// `InstanceKey::family` values.
pub const FAMILY_V4: u8 = 4;
pub const FAMILY_V6: u8 = 6;

/// One virtual router on one interface.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct InstanceKey {
    pub ifindex: u32,
    /// `FAMILY_V4` or `FAMILY_V6`.
    pub family: u8,
    pub vrid: u8,
    pub _pad: [u8; 2],
}

impl InstanceKey {
    /// The key of VRID `vrid` of one family on interface `ifindex`.
    pub const fn new(ifindex: u32, v6: bool, vrid: u8) -> Self {
        Self {
            ifindex,
            family: if v6 { FAMILY_V6 } else { FAMILY_V4 },
            vrid,
            _pad: [0; 2],
        }
    }
}

/// `InstanceConfig::flags`: VRRPv3 over IPv4 checksum without the pseudo-header.
pub const CFG_V3_CHECKSUM_AS_V2: u8 = 1;
/// `InstanceConfig::flags`: a unicast instance; only its peers (`PEERS`) may
/// send it adverts.
pub const CFG_PEERS_ONLY: u8 = 2;
/// `InstanceConfig::flags`: `skip_check_adv_addr`: the address list is not
/// compared with the configured VIPs.
pub const CFG_SKIP_ADDR_CHECK: u8 = 4;

/// The per-CPU counters: one slot per [`crate::stats`] constant.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct Counters {
    pub slots: [u64; crate::stats::COUNT as usize],
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            slots: [0; crate::stats::COUNT as usize],
        }
    }
}

/// What the kernel checks an advert against.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct InstanceConfig {
    /// 2 or 3.
    pub version: u8,
    /// v2: 0 none, 1 simple password. Ignored for v3.
    pub auth_type: u8,
    /// Number of advertised VIPs (`DROP_ADDR_LIST` when an advert's differs).
    pub addr_count: u8,
    /// `CFG_*` bits.
    pub flags: u8,
    /// v2: seconds (a different one is dropped); v3: centiseconds (informative).
    pub interval: u16,
    pub _pad: [u8; 2],
    /// v2 simple password, zero padded.
    pub auth_data: [u8; 8],
    /// Index of this instance's entry in the advert-state array.
    pub slot: u32,
    /// Changes each time a slot is given to an instance: an advert-state entry
    /// with another generation belongs to a previous owner and starts afresh.
    pub generation: u32,
    /// A multicast instance's group (224.0.0.18, ff02::12 or
    /// `vrrp_mcast_group4/6`; IPv4 in the first 4 bytes): adverts to another
    /// group belong to another VRRP domain and pass. All zero for a unicast
    /// instance, which hears unicast adverts only.
    pub group: [u8; 16],
    /// Wrapping sum of `mix::addr_mix` (under `addr_key`) over the configured
    /// VIPs: an advert's address list must sum to the same (with the same count).
    pub addr_sum: u64,
    /// The instance's random key for `mix::addr_mix`.
    pub addr_key: u64,
}

/// The last valid advert of one virtual router, as the kernel recorded it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct AdvertState {
    /// `bpf_ktime_get_ns` (CLOCK_MONOTONIC) of the last valid advert.
    pub last_ns: u64,
    /// Valid adverts recorded since the entry was created.
    pub count: u64,
    /// The sender's address (IPv4 in the first 4 bytes).
    pub master: [u8; 16],
    pub priority: u8,
    pub version: u8,
    /// Advert interval: v2 seconds, v3 centiseconds.
    pub interval: u16,
    /// The `InstanceConfig::generation` this entry was recorded under.
    pub generation: u32,
    /// `stamp()` of the other fields, written last. A reader that finds it
    /// wrong read the entry while a CPU was writing it (or two CPUs wrote it
    /// at once, adverts of two senders arriving on two CPUs): it reads again
    /// and never acts on a mixed record.
    pub stamp: u64,
}

impl AdvertState {
    /// The integrity stamp of the fields other than `stamp`.
    #[inline(always)]
    pub fn stamp(&self) -> u64 {
        let m = &self.master;
        let lo = u64::from_le_bytes([m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]]);
        let hi = u64::from_le_bytes([m[8], m[9], m[10], m[11], m[12], m[13], m[14], m[15]]);
        let small = u64::from(self.priority)
            | u64::from(self.version) << 8
            | u64::from(self.interval) << 16
            | u64::from(self.generation) << 32;
        let mut h = crate::mix::mix64(self.last_ns ^ 0x5851_f42d_4c95_7f2d);
        h = crate::mix::mix64(h ^ self.count);
        h = crate::mix::mix64(h ^ lo);
        h = crate::mix::mix64(h ^ hi);
        crate::mix::mix64(h ^ small) | 1
    }

    /// Whether the entry is whole (see `stamp`). A never-written entry
    /// (all zero) is not.
    pub fn is_whole(&self) -> bool {
        self.stamp == self.stamp()
    }
}

/// `AdvertEvent::changes` bits: why userspace is woken.
pub const EV_FIRST: u32 = 1;
pub const EV_NEW_MASTER: u32 = 2;
pub const EV_PRIORITY: u32 = 4;
pub const EV_PRIORITY_ZERO: u32 = 8;
pub const EV_INTERVAL: u32 = 16;
pub const EV_AFTER_SILENCE: u32 = 32;
/// Not an advert: a kernel Master_Down_Timer (`DOWN_WATCH`) ran out.
pub const EV_DOWN_TIMER: u32 = 64;

/// A gap longer than this many advert intervals counts as silence.
pub const SILENCE_INTERVALS: u64 = 2;

/// Pushed on the ring buffer when a valid advert changes something.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct AdvertEvent {
    pub key: InstanceKey,
    pub ts_ns: u64,
    pub master: [u8; 16],
    /// `EV_*` bits.
    pub changes: u32,
    pub priority: u8,
    pub version: u8,
    pub interval: u16,
}

/// A `DOWN_WATCH` entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct DownWatch {
    /// Master_Down_Interval in nanoseconds: how long after an advert the
    /// timer runs out. 0: the kernel keeps no timer for this slot.
    pub down_ns: u64,
    /// Names one hand-over (the controller's monotonic clock when it wrote
    /// the entry: never the same twice, also across restarts).
    pub token: u64,
    /// The `token` under which the kernel program last started the timer
    /// successfully: written by the kernel program only. Equal to `token`:
    /// the timer runs (an advert came after the hand-over and the kernel set
    /// its clock for that advert's deadline, under the terms of this entry).
    pub started: u64,
    /// `bpf_ktime_get_ns` of the advert that last (re)started the timer:
    /// written by the kernel program only. The timer runs out at
    /// `restarted_ns + down_ns`, Master_Down_Interval after the last advert
    /// it counted, which is the deadline the controller keeps when it takes
    /// the timer back.
    pub restarted_ns: u64,
    /// The `restarted_ns` whose deadline the clock pushed an event for
    /// (written by the kernel program only): one event per silence.
    pub fired: u64,
    /// The `token` under which the clock looks at this entry (written by the
    /// kernel program only, before it sets the clock for the entry).
    pub counted: u64,
    /// The instance, for the event the timer pushes.
    pub key: InstanceKey,
    /// The `InstanceConfig::generation` of the hand-over: an advert recorded
    /// under another does not restart the timer.
    pub generation: u32,
    /// Adverts below this priority do not restart the timer (a preempting
    /// backup's own priority: its state machine discards them and lets its
    /// timer run out); priority 0 never does (RFC 5798 6.4.2: Skew_Time).
    pub min_priority: u8,
    pub _pad: [u8; 3],
}

/// An IPv4 VIP on one interface.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct Vip4Key {
    pub ifindex: u32,
    pub addr: [u8; 4],
}

/// An IPv6 VIP on one interface.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct Vip6Key {
    pub ifindex: u32,
    pub addr: [u8; 16],
}

/// One `unicast_peer` of one instance (an IPv4 address in the first 4 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct PeerKey {
    pub instance: InstanceKey,
    pub addr: [u8; 16],
}

/// The TTL / hop limit range accepted from one unicast peer (`min_ttl`,
/// `max_ttl`; 0..=255 by default: routed unicast peers are keepalived's use).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct PeerValue {
    pub min_ttl: u8,
    pub max_ttl: u8,
}

/// A virtual MAC on one interface.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct VmacKey {
    pub ifindex: u32,
    pub mac: [u8; 6],
    pub _pad: [u8; 2],
}

/// The interface's own MAC, which frames to the virtual MAC are rewritten to.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct VmacValue {
    pub iface_mac: [u8; 6],
    pub _pad: [u8; 2],
}

/// `VipValue::flags`: the master is not in Accept_Mode (keepalived's
/// `no_accept`, implied by `vrrp_strict` for a non-owner): packets addressed
/// to the VIP are dropped (RFC 5798 6.4.3); ARP / NDP for it are still answered.
pub const VIP_NO_ACCEPT: u8 = 1;
/// `VipValue::flags`: XDP answers ARP requests / Neighbor Solicitations for
/// the VIP (XDP_TX). Without it the kernel answers, for the VIP is on the
/// interface: the controller leaves it off where replies sent with XDP_TX
/// cannot be shown to arrive (native XDP on veth, whose far end drops them
/// unless it runs an XDP program of its own).
pub const VIP_XDP_ANSWER: u8 = 2;

/// How XDP answers for a VIP.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct VipValue {
    /// The MAC to answer with: the interface's, or the virtual MAC with `use_vmac`.
    pub mac: [u8; 6],
    pub vrid: u8,
    /// `VIP_*` bits.
    pub flags: u8,
}

const _: () = assert!(core::mem::size_of::<InstanceKey>() == 8);
const _: () = assert!(core::mem::size_of::<InstanceConfig>() == 56);
const _: () = assert!(core::mem::size_of::<Counters>() == 8 * crate::stats::COUNT as usize);
const _: () = assert!(core::mem::size_of::<AdvertState>() == 48);
const _: () = assert!(core::mem::size_of::<AdvertEvent>() == 40);
const _: () = assert!(core::mem::size_of::<Vip4Key>() == 8);
const _: () = assert!(core::mem::size_of::<Vip6Key>() == 20);
const _: () = assert!(core::mem::size_of::<VipValue>() == 8);
const _: () = assert!(core::mem::size_of::<VmacKey>() == 12);
const _: () = assert!(core::mem::size_of::<PeerKey>() == 24);
const _: () = assert!(core::mem::size_of::<PeerValue>() == 2);
const _: () = assert!(core::mem::size_of::<VmacValue>() == 8);
const _: () = assert!(core::mem::size_of::<DownWatch>() == 64);

#[cfg(feature = "user")]
mod pod {
    use super::{
        AdvertEvent, AdvertState, Counters, DownWatch, InstanceConfig, InstanceKey, PeerKey, PeerValue,
        Vip4Key, Vip6Key, VipValue, VmacKey, VmacValue,
    };

    /// `aya::Pod` for types that bytemuck's derive proved plain old data
    /// (`#[repr(C)]`, no padding, every field POD): the unsafe impl rests on
    /// a compile-time check, not on a comment.
    macro_rules! aya_pod {
        ($($t:ty),* $(,)?) => {$(
            const _: fn() = || {
                fn proved<T: bytemuck::Pod>() {}
                proved::<$t>();
            };
            // SAFETY: `$t` is bytemuck::Pod (checked just above).
            unsafe impl aya::Pod for $t {}
        )*};
    }

    aya_pod!(
        Counters,
        InstanceKey,
        InstanceConfig,
        AdvertState,
        AdvertEvent,
        Vip4Key,
        Vip6Key,
        VipValue,
        VmacKey,
        VmacValue,
        PeerKey,
        PeerValue,
        DownWatch,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_ring_is_sized_to_the_instances() {
        // A record is the event and the kernel's 8-byte header, 8-aligned.
        assert!(core::mem::size_of::<AdvertEvent>() + 8 <= EVENTS_BYTES_PER_INSTANCE as usize);
        assert_eq!(events_bytes_for(0), EVENTS_BYTES_MIN);
        assert_eq!(events_bytes_for(1), EVENTS_BYTES_MIN);
        assert_eq!(events_bytes_for(1024), EVENTS_BYTES_MIN);
        assert_eq!(events_bytes_for(1025), 1 << 17);
        assert_eq!(events_bytes_for(4000), 1 << 18);
        assert_eq!(events_bytes_for(16_000), EVENTS_BYTES);
        assert_eq!(events_bytes_for(MAX_INSTANCES), EVENTS_BYTES);
        assert_eq!(events_bytes_for(u32::MAX), EVENTS_BYTES);
        for n in [1, 999, 4000, 12_345] {
            assert!(events_bytes_for(n).is_power_of_two());
            assert!(events_bytes_for(n) >= (n * EVENTS_BYTES_PER_INSTANCE).min(EVENTS_BYTES));
        }
    }
}
