//! The xvrrp XDP program.
//!
//! Every frame enters `xvrrp`. VLAN-tagged frames pass untouched (they are
//! never this interface's untagged instances'). Plain traffic leaves with
//! `XDP_PASS` after reading the Ethernet header and the IP protocol field;
//! adverts for the virtual routers this daemon runs are validated, recorded
//! and consumed (`advert.rs`), other speakers' pass; ARP requests and
//! Neighbor Solicitations for active VIPs are answered here where the
//! controller says XDP_TX replies arrive (`responder.rs`); packets addressed
//! to a VIP of a master without Accept_Mode are dropped (`guard.rs`).
#![no_std]
#![no_main]

mod advert;
mod down_timer;
mod guard;
mod maps;
mod parse;
mod responder;
mod vmac;

use aya_ebpf::{
    bindings::{TC_ACT_OK, TC_ACT_SHOT, xdp_action},
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
};
use xvrrp_common::stats;

use crate::parse::{Frame as _, L3, parse_l3};

#[xdp]
pub fn xvrrp(ctx: XdpContext) -> u32 {
    // Anything this program cannot make sense of belongs to the kernel stack.
    try_xvrrp(&ctx).unwrap_or(xdp_action::XDP_PASS)
}

fn try_xvrrp(ctx: &XdpContext) -> Result<u32, ()> {
    let Some(l2) = parse::l2_len(ctx)? else {
        return Ok(xdp_action::XDP_PASS);
    };
    vmac::accept_virtual_mac(ctx)?;
    match parse_l3(ctx, l2)? {
        // The TC classifier's on this interface: the stack must see it first.
        L3::Vrrp { .. } if maps::adverts_in_tc(ctx.ifindex()) => Ok(xdp_action::XDP_PASS),
        L3::Vrrp { l3, is_v6 } => {
            maps::count(stats::VRRP_SEEN);
            Ok(advert::handle(ctx, l3, is_v6))
        }
        L3::Arp { l3 } => responder::arp(ctx, l3),
        L3::Icmpv6 { l3 } => match responder::ndp(ctx, l3)? {
            // Not a solicitation this program answers: other ICMPv6 to a VIP
            // is guarded too, Neighbor Discovery excepted.
            xdp_action::XDP_PASS => guard::no_accept_icmpv6(ctx, l3),
            action => Ok(action),
        },
        L3::Ip { l3, is_v6 } => guard::no_accept(ctx, l3, is_v6),
        L3::Other => Ok(xdp_action::XDP_PASS),
    }
}

/// Advert validation at TC ingress, on the interfaces where XDP hands adverts
/// on (`IFACE_ADVERTS_IN_TC`). The one thing TC knows that XDP does not: a
/// VLAN tag the NIC or a veth peer moved into the packet's metadata (rx / tx
/// VLAN offload), which XDP never sees. Such a frame is another VLAN's; it
/// passes untouched, like a tag still in the bytes.
#[classifier]
pub fn xvrrp_tc(ctx: TcContext) -> i32 {
    try_xvrrp_tc(&ctx).unwrap_or(TC_ACT_OK)
}

fn try_xvrrp_tc(ctx: &TcContext) -> Result<i32, ()> {
    // A tag the NIC or a veth peer moved into the metadata (VLAN ID 0, a
    // priority tag, is the untagged network's).
    let skb = ctx.skb.skb;
    if unsafe { (*skb).vlan_present != 0 && (*skb).vlan_tci & 0x0fff != 0 } {
        return Ok(TC_ACT_OK);
    }
    let Some(l2) = parse::l2_len(ctx)? else {
        return Ok(TC_ACT_OK);
    };
    let L3::Vrrp { l3, is_v6 } = parse_l3(ctx, l2)? else {
        return Ok(TC_ACT_OK);
    };
    if !maps::adverts_in_tc(ctx.ifindex()) {
        // XDP validated it (and passed it on as another speaker's).
        return Ok(TC_ACT_OK);
    }
    // An advert longer than the linear part of the packet (rare: adverts are
    // small) is made readable whole first.
    if ctx.data_end() - ctx.data() < ctx.len() as usize {
        ctx.pull_data(ctx.len()).map_err(|_| ())?;
    }
    maps::count(stats::VRRP_SEEN);
    Ok(match advert::handle(ctx, l3, is_v6) {
        xdp_action::XDP_DROP => TC_ACT_SHOT,
        _ => TC_ACT_OK,
    })
}

/// Sets up the kernel's Master_Down clock (`down_timer::set_up`). Never
/// attached: the controller runs it with BPF_PROG_TEST_RUN before its first
/// hand-over.
#[xdp]
pub fn xvrrp_timer_setup(_ctx: XdpContext) -> u32 {
    down_timer::set_up()
}

/// Passes every frame: the baseline the kernel-cost benchmark subtracts.
#[xdp]
pub fn xvrrp_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
