//! The Internet checksum (RFC 1071) and the pseudo-headers VRRP uses.

use std::net::{Ipv4Addr, Ipv6Addr};

use xvrrp_common::vrrp::IPPROTO_VRRP;

/// Ones'-complement sum of 16-bit big-endian words, not yet folded or inverted.
/// An odd trailing byte is padded with zero (RFC 1071 4.1).
pub fn sum_words(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for w in &mut chunks {
        acc += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

/// Folds the carries and inverts: the value to put in a checksum field.
pub fn finish(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    #[expect(clippy::cast_possible_truncation, reason = "folded to 16 bits above")]
    let folded = acc as u16;
    !folded
}

/// Checksum of `data` alone (VRRPv2, and VRRPv3 over IPv4 in the RFC 9568 reading).
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum_words(data, 0))
}

/// Sum of the IPv4 pseudo-header for an upper-layer message of `len` bytes.
pub fn pseudo_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> u32 {
    let mut acc = sum_words(&src.octets(), 0);
    acc = sum_words(&dst.octets(), acc);
    acc += u32::from(proto);
    acc + u32::try_from(len).unwrap_or(u32::MAX)
}

/// Sum of the IPv6 pseudo-header (RFC 8200 8.1).
pub fn pseudo_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: usize) -> u32 {
    let mut acc = sum_words(&src.octets(), 0);
    acc = sum_words(&dst.octets(), acc);
    acc += u32::from(next_header);
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    acc + (len >> 16) + (len & 0xffff)
}

/// VRRPv3 checksum over IPv4 with the pseudo-header (RFC 5798 5.2.8, as
/// keepalived 2.2.7 sends it).
pub fn vrrp_v4_pseudo(src: Ipv4Addr, dst: Ipv4Addr, msg: &[u8]) -> u16 {
    finish(sum_words(msg, pseudo_v4(src, dst, IPPROTO_VRRP, msg.len())))
}

/// VRRPv3 checksum over IPv6 (always with the pseudo-header).
pub fn vrrp_v6(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    finish(sum_words(msg, pseudo_v6(src, dst, IPPROTO_VRRP, msg.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example bytes: sum 0xddf2, checksum !0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(checksum(&[0x12]), !0x1200);
    }

    #[test]
    fn a_message_with_its_checksum_sums_to_zero() {
        let mut msg = vec![0x21, 51, 100, 1, 0, 1, 0, 0, 192, 0, 2, 100];
        let c = checksum(&msg);
        msg[6..8].copy_from_slice(&c.to_be_bytes());
        assert_eq!(checksum(&msg), 0);
    }
}
