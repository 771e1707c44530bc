//! Accept_Mode (RFC 5798 6.4.3): a master that does not own the VIPs "MUST
//! NOT accept packets addressed to" them unless Accept_Mode is on. keepalived
//! enforces `no_accept` (and `vrrp_strict`, which implies it for non-owners)
//! with firewall rules; here the VIP map says which VIPs are guarded and
//! their packets are dropped before the stack sees them. ARP and Neighbor
//! Solicitations for them are answered before this check, and the rest of
//! Neighbor Discovery passes (unicast reachability probes, NAs answering the
//! VIP's own solicitations). The guard sits on the interfaces the program is
//! attached to (the instances' own): a VIP's traffic arriving through another
//! interface is not seen here.

use aya_ebpf::{bindings::xdp_action, programs::XdpContext};
use xvrrp_common::{
    maps::{VIP_NO_ACCEPT, Vip4Key, Vip6Key},
    stats,
};

use crate::{
    maps::{XVRRP_GUARDS, XVRRP_VIPS4, XVRRP_VIPS6, count},
    parse::{ptr_at, u8_at},
};

/// ICMPv6 types of Neighbor Discovery (RFC 4861 4): Router Solicitation ..
/// Redirect.
const ND_TYPES: core::ops::RangeInclusive<u8> = 133..=137;

/// Offsets of the destination address in the IPv4 and IPv6 headers.
const IPV4_DST: usize = 16;
const IPV6_DST: usize = 24;

/// Drops a packet addressed to a guarded VIP; passes everything else.
#[inline(always)]
pub fn no_accept(ctx: &XdpContext, l3: usize, is_v6: bool) -> Result<u32, ()> {
    // With no guarded VIP (the usual case) plain traffic pays this one read.
    if XVRRP_GUARDS.get(0).copied().unwrap_or(0) == 0 {
        return Ok(xdp_action::XDP_PASS);
    }
    let ifindex = ctx.ingress_ifindex() as u32;
    let vip = if is_v6 {
        let addr = unsafe { *ptr_at::<[u8; 16]>(ctx, l3 + IPV6_DST)? };
        unsafe { XVRRP_VIPS6.get(Vip6Key { ifindex, addr }) }.copied()
    } else {
        let addr = unsafe { *ptr_at::<[u8; 4]>(ctx, l3 + IPV4_DST)? };
        unsafe { XVRRP_VIPS4.get(Vip4Key { ifindex, addr }) }.copied()
    };
    match vip {
        Some(v) if v.flags & VIP_NO_ACCEPT != 0 => {
            count(stats::DROP_NO_ACCEPT);
            Ok(xdp_action::XDP_DROP)
        }
        _ => Ok(xdp_action::XDP_PASS),
    }
}

/// `no_accept` for ICMPv6: Neighbor Discovery always passes.
#[inline(always)]
pub fn no_accept_icmpv6(ctx: &XdpContext, l3: usize) -> Result<u32, ()> {
    if ND_TYPES.contains(&u8_at(ctx, l3 + 40)?) {
        return Ok(xdp_action::XDP_PASS);
    }
    no_accept(ctx, l3, true)
}
