//! The xvrrp XDP program.
//!
//! Every frame enters `xvrrp`. Frames that are not VRRP leave with `XDP_PASS`
//! after reading at most the Ethernet header, one VLAN tag and the IP header.
#![no_std]
#![no_main]

mod parse;

use aya_ebpf::{bindings::xdp_action, macros::map, macros::xdp, maps::PerCpuArray, programs::XdpContext};
use xvrrp_common::stats;

use crate::parse::{L3, parse_l3};

/// Counters, one slot per `xvrrp_common::stats` constant.
/// Written by: this program only. Read by: the controller.
#[map]
static XVRRP_STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(stats::COUNT, 0);

#[xdp]
pub fn xvrrp(ctx: XdpContext) -> u32 {
    // Anything this program cannot make sense of belongs to the kernel stack.
    try_xvrrp(&ctx).unwrap_or(xdp_action::XDP_PASS)
}

fn try_xvrrp(ctx: &XdpContext) -> Result<u32, ()> {
    match parse_l3(ctx)? {
        L3::Vrrp => {
            count(stats::VRRP_SEEN);
            Ok(xdp_action::XDP_PASS)
        }
        L3::Other => Ok(xdp_action::XDP_PASS),
    }
}

#[inline(always)]
fn count(slot: u32) {
    if let Some(c) = XVRRP_STATS.get_ptr_mut(slot) {
        // Per-CPU slot: no other writer can race with this CPU.
        unsafe { *c += 1 };
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
