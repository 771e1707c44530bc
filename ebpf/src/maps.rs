//! The program's maps; names, keys and values come from `xvrrp_common::maps`,
//! which also says who writes each one.

use aya_ebpf::{
    btf_maps,
    macros::{btf_map, map},
    maps::{Array, HashMap, PerCpuArray, RingBuf},
};
use xvrrp_common::maps::{
    ADVERT_STATE_FLAGS, AdvertState, Counters, DOWN_WATCH_FLAGS, DownWatch, EVENTS_BYTES, InstanceConfig,
    InstanceKey, MAX_INSTANCES, MAX_PEERS, MAX_VIPS, PeerKey, PeerValue, Vip4Key, Vip6Key, VipValue, VmacKey,
    VmacValue,
};

/// Counters (`xvrrp_common::maps::STATS`).
#[map]
pub static XVRRP_STATS: PerCpuArray<Counters> = PerCpuArray::with_max_entries(1, 0);

/// Instance configuration (`xvrrp_common::maps::INSTANCES`): the controller writes it.
#[map]
pub static XVRRP_INSTANCES: HashMap<InstanceKey, InstanceConfig> =
    HashMap::with_max_entries(MAX_INSTANCES, 0);

/// Last valid advert per instance (`xvrrp_common::maps::ADVERT_STATE`): this program writes it.
#[map]
pub static XVRRP_ADVERT_STATE: Array<AdvertState> =
    Array::with_max_entries(MAX_INSTANCES, ADVERT_STATE_FLAGS);

/// Change events for the controller (`xvrrp_common::maps::EVENTS`).
#[map]
pub static XVRRP_EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_BYTES, 0);

/// Active IPv4 VIPs (`xvrrp_common::maps::VIPS4`): the controller writes it.
#[map]
pub static XVRRP_VIPS4: HashMap<Vip4Key, VipValue> = HashMap::with_max_entries(MAX_VIPS, 0);

/// Active IPv6 VIPs (`xvrrp_common::maps::VIPS6`): the controller writes it.
#[map]
pub static XVRRP_VIPS6: HashMap<Vip6Key, VipValue> = HashMap::with_max_entries(MAX_VIPS, 0);

/// Active virtual MACs (`xvrrp_common::maps::VMACS`): the controller writes it.
#[map]
pub static XVRRP_VMACS: HashMap<VmacKey, VmacValue> = HashMap::with_max_entries(MAX_INSTANCES, 0);

/// Unicast peers (`xvrrp_common::maps::PEERS`): the controller writes it.
#[map]
pub static XVRRP_PEERS: HashMap<PeerKey, PeerValue> = HashMap::with_max_entries(MAX_PEERS, 0);

/// How many VIPs are guarded by `no_accept` (`xvrrp_common::maps::GUARDS`): the controller writes it.
#[map]
pub static XVRRP_GUARDS: Array<u32> = Array::with_max_entries(1, 0);

/// Per-interface behaviour (`xvrrp_common::maps::IFACES`): the controller writes it.
#[map]
pub static XVRRP_IFACES: HashMap<u32, u32> = HashMap::with_max_entries(4096, 0);

/// Kernel Master_Down timers (`xvrrp_common::maps::DOWN_WATCH`): both write it.
#[map]
pub static XVRRP_DOWN_WATCH: Array<DownWatch> = Array::with_max_entries(MAX_INSTANCES, DOWN_WATCH_FLAGS);

/// The one timer behind them (`xvrrp_common::maps::DOWN_CLOCK`): this program
/// only. BTF-defined: the kernel finds the `bpf_timer` and `bpf_spin_lock` in
/// the value through it.
#[btf_map]
pub static XVRRP_DOWN_CLOCK: btf_maps::Array<crate::down_timer::DownClock, 1> = btf_maps::Array::new();

/// Whether adverts arriving on `ifindex` are the TC classifier's to validate.
#[inline(always)]
pub fn adverts_in_tc(ifindex: u32) -> bool {
    unsafe { XVRRP_IFACES.get(ifindex) }.is_some_and(|f| f & xvrrp_common::maps::IFACE_ADVERTS_IN_TC != 0)
}

/// Adds one to a counter slot (`xvrrp_common::stats`).
#[inline(always)]
pub fn count(slot: u32) {
    if let Some(c) = XVRRP_STATS.get_ptr_mut(0) {
        // Per-CPU entry: no other writer can race with this CPU.
        if let Some(v) = unsafe { (*c).slots.get_mut(slot as usize) } {
            *v += 1;
        }
    }
}
