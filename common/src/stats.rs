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

/// Number of slots in the map (room to grow without a layout change).
pub const COUNT: u32 = 32;

/// The slots a received advert ends up in: accepted, passed on as another
/// speaker's, or dropped for one reason. Kernel and userspace put every
/// VRRP frame in exactly one of them.
pub const VERDICTS: &[u32] = &[
    ADVERTS_RX,
    DROP_TTL,
    DROP_VERSION,
    DROP_TYPE,
    DROP_LENGTH,
    DROP_CHECKSUM,
    FOREIGN,
    DROP_AUTH,
    DROP_ADDR_LIST,
    DROP_INTERVAL,
    DROP_CHECKSUM_DIALECT,
    DROP_NOT_PEER,
];

/// Stable names for the slots, as shown by `xvrrpd status` and the metrics.
pub const NAMES: &[(u32, &str)] = &[
    (VRRP_SEEN, "vrrp_seen"),
    (ADVERTS_RX, "adverts_rx"),
    (DROP_TTL, "ttl"),
    (DROP_VERSION, "version"),
    (DROP_TYPE, "type"),
    (DROP_LENGTH, "length"),
    (DROP_CHECKSUM, "checksum"),
    (FOREIGN, "foreign"),
    (DROP_AUTH, "auth"),
    (DROP_ADDR_LIST, "addr_list"),
    (DROP_INTERVAL, "interval"),
    (DROP_CHECKSUM_DIALECT, "checksum_dialect"),
    (ARP_REPLIES, "arp_replies"),
    (NA_REPLIES, "na_replies"),
    (DROP_NOT_PEER, "not_peer"),
    (DROP_NO_ACCEPT, "no_accept"),
    (EVENTS_LOST, "events_lost"),
];

/// The verdicts under which the XDP program hands the frame to the stack
/// instead of consuming it.
pub const PASSED: &[u32] = &[FOREIGN];
