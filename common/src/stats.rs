//! Slots of the per-CPU counter map [`crate::maps::STATS`].
//!
//! Drop reasons follow the receive checks of RFC 3768 / RFC 5798 section 7.1
//! (see `controller/src/vrrp/validate.rs` for the order they are applied in); the userspace validator (socket mode) counts
//! under the same slots so `xvrrpd status` reads alike in both modes.

/// Frames carrying IP protocol 112 (VRRP), before any validation.
pub const VRRP_SEEN: u32 = 0;
/// Adverts that passed every check and were recorded.
pub const ADVERTS_RX: u32 = 1;
/// Dropped: IPv4 TTL or IPv6 hop limit is not 255 (RFC 5798 7.1 item 1), or,
/// for a unicast instance, outside the sending peer's `min_ttl..=max_ttl`
/// (keepalived's rule: unicast peers may be routed). Checked once the
/// instance is known, right after the VRID and version.
pub const DROP_TTL: u32 = 2;
/// Dropped: VRRP version is not the one configured for the VRID.
pub const DROP_VERSION: u32 = 3;
/// Dropped: VRRP type is not 1 (ADVERTISEMENT).
pub const DROP_TYPE: u32 = 4;
/// Dropped: the packet is shorter than its headers or the address count says.
pub const DROP_LENGTH: u32 = 5;
/// Dropped: bad VRRP checksum.
pub const DROP_CHECKSUM: u32 = 6;
/// Passed to the stack, not dropped: an advert for a virtual router this
/// daemon does not run (another VRID, family or interface, or another
/// multicast group): it belongs to another VRRP speaker on this host
/// (keepalived, FRR, a second xvrrpd), which must keep hearing it.
pub const FOREIGN: u32 = 7;
/// Dropped: VRRPv2 authentication type or password mismatch (RFC 3768 7.1).
pub const DROP_AUTH: u32 = 8;
/// Dropped: the advertised address list differs from the configured VIPs
/// (count or members; keepalived 2.2.7's check, RFC 3768 7.1 / RFC 5798 7.1),
/// unless `skip_check_adv_addr` / `vrrp_skip_check_adv_addr`.
pub const DROP_ADDR_LIST: u32 = 9;
/// Dropped: VRRPv2 advert interval differs from the configured one, or an
/// advert interval of 0 (either version: a master that asks for adverts
/// every 0 cs would make every backup's Master_Down_Interval 0).
pub const DROP_INTERVAL: u32 = 10;
/// Dropped: VRRPv3 over IPv4 whose checksum only verifies the other way
/// (with / without the pseudo-header): a peer of the other dialect, see
/// `v3_checksum_as_v2`.
pub const DROP_CHECKSUM_DIALECT: u32 = 11;
/// ARP replies sent from XDP for an active VIP.
pub const ARP_REPLIES: u32 = 12;
/// Neighbor Advertisements sent from XDP for an active IPv6 VIP.
pub const NA_REPLIES: u32 = 13;

/// Dropped: a unicast instance's advert from a source that is not one of its
/// `unicast_peer` addresses (a spoofed or misdirected advert).
pub const DROP_NOT_PEER: u32 = 14;

/// Dropped: a packet addressed to a VIP whose master is not in Accept_Mode
/// (`no_accept`, RFC 5798 6.4.3). Not a VRRP verdict.
pub const DROP_NO_ACCEPT: u32 = 15;

/// Change events the kernel could not push because the ring buffer was full;
/// the controller answers with a sweep of the advert-state map.
pub const EVENTS_LOST: u32 = 16;

/// The kernel's Master_Down clock (`maps::DOWN_CLOCK`) could not be
/// started: by an advert that should have started a backup's kernel timer
/// (`maps::DOWN_WATCH`; that backup's own timer keeps running), or by the
/// clock itself setting its next time (then the daemon's check at its link
/// poll takes every timer back). 0 unless the kernel misbehaves.
pub const DOWN_TIMER_FAILED: u32 = 17;

/// Number of slots in the map (room to grow without a layout change).
pub const COUNT: u32 = 32;

/// What a counter slot counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Every VRRP frame, before any check.
    Seen,
    /// A verdict on a VRRP frame: kernel and userspace put every frame in
    /// exactly one. `passed`: handed to the stack (another speaker's), not
    /// consumed.
    Verdict { passed: bool },
    /// Something else the data path did or lost.
    Other,
}

/// One counter slot: its index in the map, its stable name (as `xvrrpd
/// status` and the metrics show it) and what it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub slot: u32,
    pub name: &'static str,
    pub kind: Kind,
}

const fn verdict(slot: u32, name: &'static str) -> Counter {
    Counter {
        slot,
        name,
        kind: Kind::Verdict { passed: false },
    }
}

const fn other(slot: u32, name: &'static str) -> Counter {
    Counter {
        slot,
        name,
        kind: Kind::Other,
    }
}

/// Every counter, in slot order: the one list the names, the verdicts and
/// the pass-on rule come from (a new slot is one line here).
pub const TABLE: &[Counter] = &[
    Counter {
        slot: VRRP_SEEN,
        name: "vrrp_seen",
        kind: Kind::Seen,
    },
    verdict(ADVERTS_RX, "adverts_rx"),
    verdict(DROP_TTL, "ttl"),
    verdict(DROP_VERSION, "version"),
    verdict(DROP_TYPE, "type"),
    verdict(DROP_LENGTH, "length"),
    verdict(DROP_CHECKSUM, "checksum"),
    Counter {
        slot: FOREIGN,
        name: "foreign",
        kind: Kind::Verdict { passed: true },
    },
    verdict(DROP_AUTH, "auth"),
    verdict(DROP_ADDR_LIST, "addr_list"),
    verdict(DROP_INTERVAL, "interval"),
    verdict(DROP_CHECKSUM_DIALECT, "checksum_dialect"),
    other(ARP_REPLIES, "arp_replies"),
    other(NA_REPLIES, "na_replies"),
    verdict(DROP_NOT_PEER, "not_peer"),
    other(DROP_NO_ACCEPT, "no_accept"),
    other(EVENTS_LOST, "events_lost"),
    other(DOWN_TIMER_FAILED, "down_timer_failed"),
];

// Every slot fits the map, once, in order.
const _: () = {
    let mut i = 0;
    while i < TABLE.len() {
        assert!(TABLE[i].slot < COUNT);
        assert!(i == 0 || TABLE[i].slot > TABLE[i - 1].slot);
        i += 1;
    }
};

/// The verdict slots (each VRRP frame lands in exactly one).
pub fn verdicts() -> impl Iterator<Item = u32> {
    TABLE
        .iter()
        .filter(|c| matches!(c.kind, Kind::Verdict { .. }))
        .map(|c| c.slot)
}

/// True for a verdict under which the frame is handed to the stack.
pub fn passed(slot: u32) -> bool {
    TABLE
        .iter()
        .any(|c| c.slot == slot && c.kind == Kind::Verdict { passed: true })
}

/// `(name, value)` of every counter, in slot order, from the map's values.
pub fn named(values: &[u64]) -> impl Iterator<Item = (&'static str, u64)> + '_ {
    TABLE
        .iter()
        .map(|c| (c.name, values.get(c.slot as usize).copied().unwrap_or(0)))
}
