//! Answers ARP requests (RFC 826) and Neighbor Solicitations (RFC 4861 7.2.4)
//! for active VIPs straight from XDP, so a VIP keeps answering while the
//! controller is busy or restarting. Everything else passes untouched.

use aya_ebpf::{bindings::xdp_action, programs::XdpContext};
use xvrrp_common::{
    maps::{VIP_XDP_ANSWER, Vip4Key, Vip6Key, VipValue},
    stats,
};

use crate::{
    maps::{XVRRP_VIPS4, XVRRP_VIPS6, count},
    parse::{IPPROTO_ICMPV6, be16_at, fold, ptr_at, ptr_mut_at, sum_array, u8_at},
};

const ARP_REQUEST: u16 = 1;
const ARP_REPLY: u16 = 2;
const ICMPV6_NS: u8 = 135;
const ICMPV6_NA: u8 = 136;
/// NA flags: Router, Solicited, Override (RFC 4861 4.4).
const NA_FLAGS: u8 = 0xe0;
/// An NS with exactly one Source Link-Layer Address option: 24 + 8 bytes,
/// the same size as the NA with one Target Link-Layer Address option we send.
const NDP_LEN: usize = 32;

/// Swaps the Ethernet addresses: back to the asker, from `mac`.
#[inline(always)]
fn reply_ethernet(ctx: &XdpContext, mac: &[u8; 6]) -> Result<(), ()> {
    let dst = ptr_mut_at::<[u8; 6]>(ctx, 0)?;
    let src = ptr_mut_at::<[u8; 6]>(ctx, 6)?;
    unsafe {
        *dst = *src;
        *src = *mac;
    }
    Ok(())
}

#[inline(always)]
pub fn arp(ctx: &XdpContext, l3: usize) -> Result<u32, ()> {
    // Ethernet / IPv4 ARP only: htype 1, ptype 0x0800, hlen 6, plen 4.
    let fixed = ptr_at::<[u8; 6]>(ctx, l3)?;
    if unsafe { *fixed } != [0, 1, 0x08, 0x00, 6, 4] || be16_at(ctx, l3 + 6)? != ARP_REQUEST {
        return Ok(xdp_action::XDP_PASS);
    }
    let spa = unsafe { *ptr_at::<[u8; 4]>(ctx, l3 + 14)? };
    let tpa = unsafe { *ptr_at::<[u8; 4]>(ctx, l3 + 24)? };
    if spa == tpa {
        // A gratuitous ARP announces, it does not ask.
        return Ok(xdp_action::XDP_PASS);
    }
    let key = Vip4Key {
        ifindex: ctx.ingress_ifindex() as u32,
        addr: tpa,
    };
    let Some(vip) = (unsafe { XVRRP_VIPS4.get(key) }) else {
        return Ok(xdp_action::XDP_PASS);
    };
    let vip: VipValue = *vip;
    if vip.flags & VIP_XDP_ANSWER == 0 {
        // The kernel answers on this interface (see `VIP_XDP_ANSWER`).
        return Ok(xdp_action::XDP_PASS);
    }
    reply_ethernet(ctx, &vip.mac)?;
    let sha = unsafe { *ptr_at::<[u8; 6]>(ctx, l3 + 8)? };
    unsafe {
        *ptr_mut_at::<[u8; 2]>(ctx, l3 + 6)? = ARP_REPLY.to_be_bytes();
        *ptr_mut_at::<[u8; 6]>(ctx, l3 + 8)? = vip.mac;
        *ptr_mut_at::<[u8; 4]>(ctx, l3 + 14)? = tpa;
        *ptr_mut_at::<[u8; 6]>(ctx, l3 + 18)? = sha;
        *ptr_mut_at::<[u8; 4]>(ctx, l3 + 24)? = spa;
    }
    count(stats::ARP_REPLIES);
    Ok(xdp_action::XDP_TX)
}

#[inline(always)]
pub fn ndp(ctx: &XdpContext, l3: usize) -> Result<u32, ()> {
    let icmp = l3 + 40;
    // A solicitation of the one shape we answer, with hop limit 255 (RFC 4861 7.1.1)
    // and a source link-layer option (none means DAD from ::, which the stack owns).
    if u8_at(ctx, icmp)? != ICMPV6_NS
        || u8_at(ctx, l3 + 7)? != 255
        || usize::from(be16_at(ctx, l3 + 4)?) != NDP_LEN
        || u8_at(ctx, icmp + 24)? != 1
        || u8_at(ctx, icmp + 25)? != 1
    {
        return Ok(xdp_action::XDP_PASS);
    }
    let target = unsafe { *ptr_at::<[u8; 16]>(ctx, icmp + 8)? };
    let key = Vip6Key {
        ifindex: ctx.ingress_ifindex() as u32,
        addr: target,
    };
    let Some(vip) = (unsafe { XVRRP_VIPS6.get(key) }) else {
        return Ok(xdp_action::XDP_PASS);
    };
    let vip: VipValue = *vip;
    if vip.flags & VIP_XDP_ANSWER == 0 {
        return Ok(xdp_action::XDP_PASS);
    }
    reply_ethernet(ctx, &vip.mac)?;
    let asker = unsafe { *ptr_at::<[u8; 16]>(ctx, l3 + 8)? };
    unsafe {
        // IPv6: from the VIP back to the asker.
        *ptr_mut_at::<[u8; 16]>(ctx, l3 + 8)? = target;
        *ptr_mut_at::<[u8; 16]>(ctx, l3 + 24)? = asker;
        // ICMPv6 NA with a Target Link-Layer Address option.
        *ptr_mut_at::<[u8; 8]>(ctx, icmp)? = [ICMPV6_NA, 0, 0, 0, NA_FLAGS, 0, 0, 0];
        *ptr_mut_at::<[u8; 8]>(ctx, icmp + 24)? = [
            2, 1, vip.mac[0], vip.mac[1], vip.mac[2], vip.mac[3], vip.mac[4], vip.mac[5],
        ];
    }
    // Checksum over the pseudo-header (addresses, length, next header) and the message.
    let mut acc = sum_array::<8>(ctx, l3 + 8, 0)?;
    acc = sum_array::<{ NDP_LEN / 4 }>(ctx, icmp, acc)?;
    acc += u64::from((NDP_LEN as u16).swap_bytes());
    acc += u64::from(u16::from(IPPROTO_ICMPV6).swap_bytes());
    // `fold` gives the sum in host-order lanes; the field is written in the same order.
    let csum = !fold(acc);
    unsafe { *ptr_mut_at::<[u8; 2]>(ctx, icmp + 2)? = csum.to_ne_bytes() };
    count(stats::NA_REPLIES);
    Ok(xdp_action::XDP_TX)
}
