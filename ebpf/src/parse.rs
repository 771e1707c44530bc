//! Bounds-checked header access: every packet read in this program goes
//! through `ptr_at`, which the verifier can prove stays inside the frame.

use core::mem::size_of;

use aya_ebpf::programs::XdpContext;
use xvrrp_common::vrrp::{ETH_P_8021AD, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, IPPROTO_VRRP};

pub const ETH_HLEN: usize = 14;
pub const VLAN_HLEN: usize = 4;

/// A pointer to a `T` at `offset` bytes into the frame, or `Err` when the frame
/// is too short.
#[inline(always)]
pub fn ptr_at<T>(ctx: &XdpContext, offset: usize) -> Result<*const T, ()> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + offset + size_of::<T>() > end {
        return Err(());
    }
    Ok((start + offset) as *const T)
}

#[inline(always)]
fn be16_at(ctx: &XdpContext, offset: usize) -> Result<u16, ()> {
    let p = ptr_at::<[u8; 2]>(ctx, offset)?;
    Ok(u16::from_be_bytes(unsafe { *p }))
}

/// What lies above the link layer, as far as this program cares.
pub enum L3 {
    /// An IPv4 or IPv6 packet with protocol / next header 112.
    Vrrp,
    Other,
}

/// Parses Ethernet, at most one 802.1Q/802.1ad tag, and the IP header's
/// protocol field.
#[inline(always)]
pub fn parse_l3(ctx: &XdpContext) -> Result<L3, ()> {
    let mut l3 = ETH_HLEN;
    let mut proto = be16_at(ctx, 12)?;
    if proto == ETH_P_8021Q || proto == ETH_P_8021AD {
        proto = be16_at(ctx, ETH_HLEN + 2)?;
        l3 += VLAN_HLEN;
    }
    match proto {
        ETH_P_IP => {
            // IPv4 protocol field: byte 9 of the header.
            let p = ptr_at::<u8>(ctx, l3 + 9)?;
            if unsafe { *p } == IPPROTO_VRRP {
                return Ok(L3::Vrrp);
            }
        }
        ETH_P_IPV6 => {
            // IPv6 next header: byte 6 of the fixed header. Adverts carry no
            // extension headers (RFC 5798 5.1.2).
            let p = ptr_at::<u8>(ctx, l3 + 6)?;
            if unsafe { *p } == IPPROTO_VRRP {
                return Ok(L3::Vrrp);
            }
        }
        _ => {}
    }
    Ok(L3::Other)
}
