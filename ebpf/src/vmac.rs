//! `use_vmac` without a macvlan per VRID: a frame addressed to an active
//! virtual MAC (RFC 5798 7.3, `00:00:5e:00:01:VRID` / `00:00:5e:00:02:VRID`)
//! gets the interface's own MAC as destination, so the stack takes it as its
//! own. Other frames pay one 5-byte comparison.

use aya_ebpf::programs::XdpContext;
use xvrrp_common::maps::VmacKey;

use crate::{
    maps::XVRRP_VMACS,
    parse::{ptr_at, ptr_mut_at},
};

#[inline(always)]
pub fn accept_virtual_mac(ctx: &XdpContext) -> Result<(), ()> {
    let dst = unsafe { *ptr_at::<[u8; 6]>(ctx, 0)? };
    if dst[0] != 0 || dst[1] != 0 || dst[2] != 0x5e || dst[3] != 0 || (dst[4] != 1 && dst[4] != 2) {
        return Ok(());
    }
    let key = VmacKey {
        ifindex: ctx.ingress_ifindex() as u32,
        mac: dst,
        _pad: [0; 2],
    };
    if let Some(v) = unsafe { XVRRP_VMACS.get(key) } {
        let iface_mac = v.iface_mac;
        unsafe { *ptr_mut_at::<[u8; 6]>(ctx, 0)? = iface_mac };
    }
    Ok(())
}
