//! Bounds-checked header access: every packet read in this program goes
//! through `ptr_at`, which the verifier can prove stays inside the frame.

use core::mem::size_of;

use aya_ebpf::programs::{TcContext, XdpContext};
use xvrrp_common::vrrp::{ETH_P_8021AD, ETH_P_8021Q, ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, IPPROTO_VRRP};

pub const ETH_HLEN: usize = 14;
pub const VLAN_HLEN: usize = 4;
pub const IPPROTO_ICMPV6: u8 = 58;

/// A received frame, as either hook sees it: the XDP program, and the TC
/// ingress classifier that validates adverts where a VLAN tag may be held in
/// the packet's metadata instead of its bytes (see `main.rs`).
pub trait Frame {
    fn data(&self) -> usize;
    fn data_end(&self) -> usize;
    /// The interface the frame arrived on.
    fn ifindex(&self) -> u32;
}

impl Frame for XdpContext {
    #[inline(always)]
    fn data(&self) -> usize {
        XdpContext::data(self)
    }
    #[inline(always)]
    fn data_end(&self) -> usize {
        XdpContext::data_end(self)
    }
    #[inline(always)]
    fn ifindex(&self) -> u32 {
        self.ingress_ifindex() as u32
    }
}

impl Frame for TcContext {
    #[inline(always)]
    fn data(&self) -> usize {
        TcContext::data(self)
    }
    #[inline(always)]
    fn data_end(&self) -> usize {
        TcContext::data_end(self)
    }
    #[inline(always)]
    fn ifindex(&self) -> u32 {
        // At ingress, the device the packet is on.
        unsafe { (*self.skb.skb).ifindex }
    }
}

/// A pointer to a `T` at `offset` bytes into the frame, or `Err` when the frame
/// is too short.
#[inline(always)]
pub fn ptr_at<T>(ctx: &impl Frame, offset: usize) -> Result<*const T, ()> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + offset + size_of::<T>() > end {
        return Err(());
    }
    Ok((start + offset) as *const T)
}

/// Like `ptr_at`, for writing.
#[inline(always)]
pub fn ptr_mut_at<T>(ctx: &impl Frame, offset: usize) -> Result<*mut T, ()> {
    ptr_at::<T>(ctx, offset).map(|p| p as *mut T)
}

/// A byte of the frame that is not its last byte.
///
/// Reads through a 2-byte window: LLVM turns a 1-byte bounds check
/// (`p + 1 > end`) into `p >= end`, from which the verifier derives a range of
/// zero bytes and rejects the load. Every byte this program reads this way is
/// followed by more header, so a frame ending there is truncated anyway.
#[inline(always)]
pub fn u8_at(ctx: &impl Frame, offset: usize) -> Result<u8, ()> {
    Ok(unsafe { (*ptr_at::<[u8; 2]>(ctx, offset)?)[0] })
}

/// A big-endian 16-bit field of the frame.
#[inline(always)]
pub fn be16_at(ctx: &impl Frame, offset: usize) -> Result<u16, ()> {
    let p = ptr_at::<[u8; 2]>(ctx, offset)?;
    Ok(u16::from_be_bytes(unsafe { *p }))
}

/// What lies above the link layer, as far as this program cares.
pub enum L3 {
    /// IPv4 or IPv6 with protocol / next header 112; `l3` is the IP header's offset.
    Vrrp {
        l3: usize,
        is_v6: bool,
    },
    Arp {
        l3: usize,
    },
    /// IPv6 with next header ICMPv6 (a Neighbor Solicitation, perhaps).
    Icmpv6 {
        l3: usize,
    },
    /// Any other IPv4 / IPv6 packet.
    Ip {
        l3: usize,
        is_v6: bool,
    },
    Other,
}

/// Where the link-layer header ends, or `None` for a frame of another VLAN.
///
/// A frame with an 802.1Q / 802.1ad tag naming a VLAN belongs to that VLAN:
/// never to this interface's untagged instances (an advert of VLAN 100 must
/// not move the untagged master); a VLAN sub-interface's instances are served
/// by the program on that sub-interface, which sees its frames untagged. A
/// priority tag (VLAN ID 0, 802.1p) is the untagged network's, as the stack
/// takes it: its payload follows the tag.
#[inline(always)]
pub fn l2_len(ctx: &impl Frame) -> Result<Option<usize>, ()> {
    let proto = be16_at(ctx, 12)?;
    if proto != ETH_P_8021Q && proto != ETH_P_8021AD {
        return Ok(Some(ETH_HLEN));
    }
    let tci = be16_at(ctx, ETH_HLEN)?;
    let inner = be16_at(ctx, ETH_HLEN + 2)?;
    if tci & 0x0fff != 0 || inner == ETH_P_8021Q || inner == ETH_P_8021AD {
        return Ok(None);
    }
    Ok(Some(ETH_HLEN + VLAN_HLEN))
}

/// Parses the EtherType before `l3` (the end of the link-layer header,
/// `l2_len`) and the IP header's protocol field.
#[inline(always)]
pub fn parse_l3(ctx: &impl Frame, l3: usize) -> Result<L3, ()> {
    let proto = be16_at(ctx, l3 - 2)?;
    Ok(match proto {
        // IPv4 protocol field: byte 9 of the header.
        ETH_P_IP if u8_at(ctx, l3 + 9)? == IPPROTO_VRRP => L3::Vrrp { l3, is_v6: false },
        ETH_P_IP => L3::Ip { l3, is_v6: false },
        // IPv6 next header: byte 6. Adverts carry no extension headers (RFC 5798 5.1.2).
        ETH_P_IPV6 => match u8_at(ctx, l3 + 6)? {
            IPPROTO_VRRP => L3::Vrrp { l3, is_v6: true },
            IPPROTO_ICMPV6 => L3::Icmpv6 { l3 },
            _ => L3::Ip { l3, is_v6: true },
        },
        ETH_P_ARP => L3::Arp { l3 },
        _ => L3::Other,
    })
}

/// Ones'-complement sum of `words` 32-bit words at `offset`, added to `acc`.
/// Words are loaded in host order: the folded sum is the same in either byte
/// order (RFC 1071 2(B)), as long as every addend is in the same order.
#[inline(always)]
pub fn sum_words(ctx: &impl Frame, offset: usize, words: usize, mut acc: u64) -> Result<u64, ()> {
    for i in 0..MAX_SUM_WORDS {
        if i >= words {
            break;
        }
        let p = ptr_at::<u32>(ctx, offset + i * 4)?;
        acc += u64::from(unsafe { p.read_unaligned() });
    }
    Ok(acc)
}

/// Ones'-complement sum of a fixed number of 32-bit words at `offset` (one
/// bounds check, no loop: addresses and fixed-size messages).
#[inline(always)]
pub fn sum_array<const N: usize>(ctx: &impl Frame, offset: usize, mut acc: u64) -> Result<u64, ()> {
    let words = unsafe { *ptr_at::<[u32; N]>(ctx, offset)? };
    for w in words {
        acc += u64::from(w);
    }
    Ok(acc)
}

/// Longest VRRP message the checksum loop covers: 1500-byte MTU worth.
pub const MAX_SUM_WORDS: usize = 375;

/// Folds a 64-bit ones'-complement accumulator to 16 bits.
#[inline(always)]
pub fn fold(mut acc: u64) -> u16 {
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}
