//! Advert validation and recording: the kernel twin of the controller's
//! `vrrp::validate` (RFC 3768 / RFC 5798 section 7.1), check for check and in
//! the same order, so both count a bad advert under the same reason.
//!
//! Only adverts for a virtual router this daemon runs (interface, family,
//! VRID, and its multicast group or unicast) are consumed or dropped; any
//! other VRRP frame is another speaker's and passes to the stack (`FOREIGN`),
//! so a keepalived, FRR or second xvrrpd on the same link keeps hearing its
//! peers.

use aya_ebpf::{bindings::xdp_action, helpers::bpf_ktime_get_ns};
use xvrrp_common::{
    maps::{
        AdvertEvent, AdvertState, CFG_PEERS_ONLY, CFG_SKIP_ADDR_CHECK, CFG_V3_CHECKSUM_AS_V2,
        EV_AFTER_SILENCE, EV_FIRST, EV_INTERVAL, EV_NEW_MASTER, EV_PRIORITY, EV_PRIORITY_ZERO, FAMILY_V4,
        FAMILY_V6, InstanceConfig, InstanceKey, PeerKey, SILENCE_INTERVALS,
    },
    mix::addr_mix,
    stats,
    vrrp::{IPPROTO_VRRP, VRRP_TTL},
};

use crate::{
    maps::{XVRRP_ADVERT_STATE, XVRRP_EVENTS, XVRRP_INSTANCES, XVRRP_PEERS, count},
    parse::{Frame, MAX_SUM_WORDS, be16_at, fold, ptr_at, sum_array, sum_words, u8_at},
};

const VRRP_HLEN: usize = 8;
const V2_AUTH_LEN: usize = 8;

const IPV6_HLEN: usize = 40;
/// Most addresses an advert can list within the 1500 bytes checked here.
const MAX_ADDRS_V4: usize = 255;
const MAX_ADDRS_V6: usize = 93;

/// Validates, records and consumes an advert; returns the XDP action (the
/// TC classifier maps it: XDP_DROP is TC_ACT_SHOT, XDP_PASS is TC_ACT_OK).
#[inline(always)]
pub fn handle(ctx: &impl Frame, l3: usize, is_v6: bool) -> u32 {
    match check_and_record(ctx, l3, is_v6) {
        Ok(()) => {
            count(stats::ADVERTS_RX);
            // Consumed: the controller reads the advert from the maps.
            xdp_action::XDP_DROP
        }
        Err(stats::FOREIGN) => {
            // Another VRRP speaker's: its socket must see it.
            count(stats::FOREIGN);
            xdp_action::XDP_PASS
        }
        Err(slot) => {
            count(slot);
            xdp_action::XDP_DROP
        }
    }
}

/// Where the IP layer puts the VRRP message.
struct Ip {
    /// Offset of the VRRP message.
    l4: usize,
    /// Its length, from the IP header (link-layer padding excluded).
    len: usize,
    ttl: u8,
    /// Offset of the source address (the destination follows it).
    src: usize,
    /// Offset of the destination address.
    dst: usize,
}

/// Bytes of the frame from `offset` on, hidden from LLVM's range analysis:
/// otherwise it proves later bounds checks redundant from this length and
/// drops them, and the verifier (which cannot follow that reasoning) rejects
/// the loads they guarded.
#[inline(always)]
fn frame_left(ctx: &impl Frame, offset: usize) -> usize {
    core::hint::black_box(ctx.data_end() - ctx.data()).saturating_sub(offset)
}

/// The IPv4 header checks of `Ipv4Hdr::decode`.
#[inline(always)]
fn ipv4(ctx: &impl Frame, l3: usize) -> Result<Ip, u32> {
    // A whole minimal header first, then its version (the userspace order).
    ptr_at::<[u8; 20]>(ctx, l3).map_err(|()| stats::DROP_LENGTH)?;
    let first = u8_at(ctx, l3).map_err(|()| stats::DROP_LENGTH)?;
    if first >> 4 != 4 {
        return Err(stats::DROP_TYPE);
    }
    let hlen = usize::from(first & 0x0f) * 4;
    let available = frame_left(ctx, l3);
    if hlen < 20 || hlen > available {
        return Err(stats::DROP_LENGTH);
    }
    let total = usize::from(be16_at(ctx, l3 + 2).map_err(|()| stats::DROP_LENGTH)?);
    if total < hlen || total > available {
        return Err(stats::DROP_LENGTH);
    }
    // More-fragments flag or a fragment offset: adverts are never fragmented.
    if be16_at(ctx, l3 + 6).map_err(|()| stats::DROP_LENGTH)? & 0x3fff != 0 {
        return Err(stats::DROP_LENGTH);
    }
    // The header checksum (RFC 791), which the stack checks before any raw
    // socket sees the packet: socket mode never hears a corrupted header.
    // Fixed part in one read, options (rare) word by word; `black_box`
    // keeps LLVM from dropping the per-word bounds checks on the strength of
    // the length checks above, which the verifier cannot follow.
    let fixed = sum_array::<5>(ctx, l3, 0).map_err(|()| stats::DROP_LENGTH)?;
    let options = core::hint::black_box((hlen - 20) / 4);
    let sum = sum_words(ctx, l3 + 20, options, fixed).map_err(|()| stats::DROP_LENGTH)?;
    if fold(sum) != 0xffff {
        return Err(stats::DROP_CHECKSUM);
    }
    let ttl = u8_at(ctx, l3 + 8).map_err(|()| stats::DROP_LENGTH)?;
    Ok(Ip {
        l4: l3 + hlen,
        len: total - hlen,
        ttl,
        src: l3 + 12,
        dst: l3 + 16,
    })
}

/// The IPv6 header checks of `Ipv6Hdr::decode`.
#[inline(always)]
fn ipv6(ctx: &impl Frame, l3: usize) -> Result<Ip, u32> {
    // The whole fixed header first, then its version (the userspace order).
    ptr_at::<[u8; IPV6_HLEN]>(ctx, l3).map_err(|()| stats::DROP_LENGTH)?;
    let first = u8_at(ctx, l3).map_err(|()| stats::DROP_LENGTH)?;
    if first >> 4 != 6 {
        return Err(stats::DROP_TYPE);
    }
    let available = frame_left(ctx, l3);
    let payload = usize::from(be16_at(ctx, l3 + 4).map_err(|()| stats::DROP_LENGTH)?);
    if available < IPV6_HLEN || payload > available - IPV6_HLEN {
        return Err(stats::DROP_LENGTH);
    }
    let ttl = u8_at(ctx, l3 + 7).map_err(|()| stats::DROP_LENGTH)?;
    Ok(Ip {
        l4: l3 + IPV6_HLEN,
        len: payload,
        ttl,
        src: l3 + 8,
        dst: l3 + 24,
    })
}

/// Ones'-complement sum of `len` bytes at `offset`, zero padded to a word.
#[inline(always)]
fn sum_bytes(ctx: &impl Frame, offset: usize, len: usize, acc: u64) -> Result<u64, u32> {
    // Explicit bounds for the verifier (the caller checked len >= 8). Adverts
    // longer than a 1500-byte MTU's worth are not summed here.
    if !(VRRP_HLEN..=MAX_SUM_WORDS * 4).contains(&len) {
        return Err(stats::DROP_LENGTH);
    }
    let words = len / 4;
    let mut acc = sum_words(ctx, offset, words, acc).map_err(|()| stats::DROP_LENGTH)?;
    // The 1-3 trailing bytes, placed where a host-order word load would put
    // them. They are read as the last 4 bytes of the message (len >= 8 here),
    // a window that cannot reach past the frame.
    let rest = len % 4;
    if rest != 0 {
        // `black_box` keeps LLVM from folding the -4 into the bounds check,
        // which would leave a pointer the verifier sees at a negative offset.
        let window = core::hint::black_box(offset + len - 4);
        let last = ptr_at::<u32>(ctx, window).map_err(|()| stats::DROP_LENGTH)?;
        // Little-endian host: the tail is the window's top `rest` bytes; shift
        // them down to where a load of [t0, t1, t2, 0] would have them.
        let last = unsafe { *last };
        acc += u64::from(last >> (8 * (4 - rest)));
    }
    Ok(acc)
}

/// An address of the frame as the maps hold it (IPv4 in the first 4 bytes).
#[inline(always)]
fn addr_at(ctx: &impl Frame, offset: usize, is_v6: bool) -> Result<[u8; 16], u32> {
    let mut out = [0u8; 16];
    if is_v6 {
        out = unsafe { *ptr_at::<[u8; 16]>(ctx, offset).map_err(|()| stats::DROP_LENGTH)? };
    } else {
        let a = unsafe { *ptr_at::<[u8; 4]>(ctx, offset).map_err(|()| stats::DROP_LENGTH)? };
        out[..4].copy_from_slice(&a);
    }
    Ok(out)
}

/// Whether an advert sent to `dst` is addressed to this instance: a
/// multicast instance hears its group only (another group is another VRRP
/// domain, as a socket bound to the group would see it), a unicast instance
/// unicast adverts only.
#[inline(always)]
fn addressed_to(cfg: &InstanceConfig, dst: &[u8; 16], is_v6: bool) -> bool {
    if cfg.group == [0u8; 16] {
        let multicast = if is_v6 {
            dst[0] == 0xff
        } else {
            dst[0] & 0xf0 == 0xe0
        };
        !multicast
    } else {
        *dst == cfg.group
    }
}

/// Wrapping sum of `addr_mix` over the advert's address list.
#[inline(always)]
fn addr_list_sum(ctx: &impl Frame, first: usize, count: usize, is_v6: bool, key: u64) -> Result<u64, u32> {
    let mut sum = 0u64;
    if is_v6 {
        for i in 0..MAX_ADDRS_V6 {
            if i >= count {
                break;
            }
            sum = sum.wrapping_add(addr_mix(&addr_at(ctx, first + i * 16, true)?, key));
        }
    } else {
        for i in 0..MAX_ADDRS_V4 {
            if i >= count {
                break;
            }
            sum = sum.wrapping_add(addr_mix(&addr_at(ctx, first + i * 4, false)?, key));
        }
    }
    Ok(sum)
}

#[inline(always)]
fn check_and_record(ctx: &impl Frame, l3: usize, is_v6: bool) -> Result<(), u32> {
    let ip = if is_v6 { ipv6(ctx, l3)? } else { ipv4(ctx, l3)? };
    let l4 = ip.l4;
    if ip.len < VRRP_HLEN {
        return Err(stats::DROP_LENGTH);
    }
    // Whose advert is it? The VRID sits at the same place in every version.
    let vrid = u8_at(ctx, l4 + 1).map_err(|()| stats::DROP_LENGTH)?;
    let key = InstanceKey {
        ifindex: ctx.ifindex(),
        family: if is_v6 { FAMILY_V6 } else { FAMILY_V4 },
        vrid,
        _pad: [0; 2],
    };
    // A copy: the controller may rewrite the entry while this runs, and a
    // hash map recycles the old element.
    let cfg: InstanceConfig = *unsafe { XVRRP_INSTANCES.get(key) }.ok_or(stats::FOREIGN)?;
    let cfg = &cfg;
    let dst = addr_at(ctx, ip.dst, is_v6)?;
    if !addressed_to(cfg, &dst, is_v6) {
        return Err(stats::FOREIGN);
    }

    let vt = u8_at(ctx, l4).map_err(|()| stats::DROP_LENGTH)?;
    let version = vt >> 4;
    if version != 2 && version != 3 {
        return Err(stats::DROP_VERSION);
    }
    if vt & 0x0f != 1 {
        return Err(stats::DROP_TYPE);
    }
    if version == 2 && is_v6 {
        return Err(stats::DROP_VERSION);
    }
    let priority = u8_at(ctx, l4 + 2).map_err(|()| stats::DROP_LENGTH)?;
    let addr_count = u8_at(ctx, l4 + 3).map_err(|()| stats::DROP_LENGTH)?;
    let addr_len = if is_v6 { 16 } else { 4 };
    let auth_len = if version == 2 { V2_AUTH_LEN } else { 0 };
    let addrs_end = VRRP_HLEN + usize::from(addr_count) * addr_len;
    if ip.len < addrs_end + auth_len {
        return Err(stats::DROP_LENGTH);
    }

    // Checksum (RFC 5798 5.2.8): v2 and v3/IPv6 have one scope; v3/IPv4 may
    // verify with the pseudo-header (keepalived 2.2.7) or without (RFC 9568).
    let msg = sum_bytes(ctx, l4, ip.len, 0)?;
    let ok_plain = fold(msg) == 0xffff;
    let mut ok_pseudo = false;
    if version == 3 {
        // Source and destination are adjacent in both headers.
        let addrs = if is_v6 {
            sum_array::<8>(ctx, ip.src, msg)
        } else {
            sum_array::<2>(ctx, ip.src, msg)
        };
        let mut pseudo = addrs.map_err(|()| stats::DROP_LENGTH)?;
        // Protocol and length words, byte-swapped into host-order addends.
        pseudo += u64::from(u16::from(IPPROTO_VRRP).swap_bytes());
        pseudo += u64::from((ip.len as u16).swap_bytes());
        ok_pseudo = fold(pseudo) == 0xffff;
    }
    let v3_v4 = version == 3 && !is_v6;
    let valid = if version == 2 {
        ok_plain
    } else if is_v6 {
        ok_pseudo
    } else {
        ok_pseudo || ok_plain
    };
    if !valid {
        return Err(stats::DROP_CHECKSUM);
    }

    if cfg.version != version {
        return Err(stats::DROP_VERSION);
    }
    // The sender's address, as `AdvertState::master` keeps it.
    let master = addr_at(ctx, ip.src, is_v6)?;
    if cfg.flags & CFG_PEERS_ONLY != 0 {
        // A unicast instance hears only its configured peers, each within
        // its TTL range (keepalived: unicast peers may be routed).
        let peer = PeerKey {
            instance: key,
            addr: master,
        };
        let range = unsafe { XVRRP_PEERS.get(peer) }.ok_or(stats::DROP_NOT_PEER)?;
        if ip.ttl < range.min_ttl || ip.ttl > range.max_ttl {
            return Err(stats::DROP_TTL);
        }
    } else if ip.ttl != VRRP_TTL {
        // RFC 5798 7.1 item 1.
        return Err(stats::DROP_TTL);
    }
    if v3_v4 {
        let ours_ok = if cfg.flags & CFG_V3_CHECKSUM_AS_V2 != 0 {
            ok_plain
        } else {
            ok_pseudo
        };
        if !ours_ok {
            return Err(stats::DROP_CHECKSUM_DIALECT);
        }
    }
    let raw_interval = be16_at(ctx, l4 + 4).map_err(|()| stats::DROP_LENGTH)?;
    let interval = if version == 2 {
        // RFC 3768 7.1: auth type, password, interval must match.
        let auth_type = (raw_interval >> 8) as u8;
        if auth_type == 2 || auth_type != cfg.auth_type {
            return Err(stats::DROP_AUTH);
        }
        if auth_type == 1 {
            let p = ptr_at::<[u8; 8]>(ctx, l4 + addrs_end).map_err(|()| stats::DROP_LENGTH)?;
            let got = u64::from_ne_bytes(unsafe { *p });
            if got != u64::from_ne_bytes(cfg.auth_data) {
                return Err(stats::DROP_AUTH);
            }
        }
        raw_interval & 0xff
    } else {
        raw_interval & 0x0fff
    };
    // v2: the configured interval (never 0). v3: any but 0, which keepalived
    // adopts and which would make every backup's Master_Down_Interval 0.
    if interval == 0 || (version == 2 && interval != cfg.interval) {
        return Err(stats::DROP_INTERVAL);
    }
    // The address list, as keepalived 2.2.7 checks it: the same count, the
    // same addresses (in any order).
    if cfg.flags & CFG_SKIP_ADDR_CHECK == 0
        && (addr_count != cfg.addr_count
            || addr_list_sum(ctx, l4 + VRRP_HLEN, usize::from(addr_count), is_v6, cfg.addr_key)?
                != cfg.addr_sum)
    {
        return Err(stats::DROP_ADDR_LIST);
    }

    record(
        &key,
        cfg.slot,
        cfg.generation,
        version,
        priority,
        interval,
        &master,
    );
    Ok(())
}

/// An advert interval in nanoseconds (v2 seconds, v3 centiseconds).
#[inline(always)]
fn interval_ns(version: u8, interval: u16) -> u64 {
    u64::from(interval) * if version == 2 { 1_000_000_000 } else { 10_000_000 }
}

/// Records a valid advert, and wakes userspace only when something changed.
#[inline(always)]
fn record(
    key: &InstanceKey,
    slot: u32,
    generation: u32,
    version: u8,
    priority: u8,
    interval: u16,
    master: &[u8; 16],
) {
    let now = unsafe { bpf_ktime_get_ns() };
    let Some(st) = XVRRP_ADVERT_STATE.get_ptr_mut(slot) else {
        return;
    };
    // Work on a copy, then store it whole: the stamp is computed from the
    // values this CPU writes, never re-read from the shared entry (where a
    // second CPU may be writing), so a mixed entry never carries a good stamp.
    let old = unsafe { *st };
    let changes = if old.generation != generation || old.count == 0 || !old.is_whole() {
        // A slot new to this instance (or left mixed by two CPUs writing it
        // at once): start afresh.
        EV_FIRST | if priority == 0 { EV_PRIORITY_ZERO } else { 0 }
    } else {
        let mut changes = 0;
        if old.master != *master {
            changes |= EV_NEW_MASTER;
        }
        if old.priority != priority {
            changes |= EV_PRIORITY;
        }
        if old.interval != interval {
            changes |= EV_INTERVAL;
        }
        if now.saturating_sub(old.last_ns) > SILENCE_INTERVALS * interval_ns(old.version, old.interval) {
            changes |= EV_AFTER_SILENCE;
        }
        if priority == 0 && changes != 0 {
            changes |= EV_PRIORITY_ZERO;
        }
        changes
    };
    let recorded = if changes & EV_FIRST != 0 { 1 } else { old.count + 1 };
    let mut new = AdvertState {
        last_ns: now,
        count: recorded,
        master: *master,
        priority,
        version,
        interval,
        generation,
        stamp: 0,
    };
    new.stamp = new.stamp();
    unsafe { *st = new };
    crate::down_timer::advert(slot, generation, priority, now);
    if changes != 0 {
        let event = AdvertEvent {
            key: *key,
            ts_ns: now,
            master: *master,
            changes,
            priority,
            version,
            interval,
        };
        // A full ring drops the event; the map still holds the truth, and
        // the controller sweeps it when this counter moves.
        if XVRRP_EVENTS.output::<AdvertEvent>(&event, 0).is_err() {
            count(stats::EVENTS_LOST);
        }
    }
}
