//! IPv4 and IPv6 headers, as far as VRRP needs them.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{DecodeError, checksum};

/// IPv4 header, RFC 791 3.1:
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version|  IHL  |Type of Service|          Total Length         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Identification        |Flags|      Fragment Offset    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Time to Live |    Protocol   |         Header Checksum       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       Source Address                          |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Destination Address                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Options                    |    Padding    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Hdr {
    /// Header length in bytes (20 without options).
    pub header_len: usize,
    pub tos: u8,
    pub total_len: u16,
    pub id: u16,
    /// Flags and fragment offset as on the wire.
    pub frag: u16,
    pub ttl: u8,
    pub protocol: u8,
    pub checksum: u16,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

impl Ipv4Hdr {
    pub const MIN_LEN: usize = 20;
    /// More-fragments flag and fragment offset bits.
    const FRAG_MASK: u16 = 0x3fff;
    /// DSCP CS6 (internetwork control), what keepalived sends adverts with.
    pub const TOS_INTERNETWORK_CONTROL: u8 = 0xc0;

    /// Decodes the header of `packet` and returns it with the payload, cut to
    /// the total length (link-layer padding after it is allowed and dropped).
    pub fn decode(packet: &[u8]) -> Result<(Self, &[u8]), DecodeError> {
        if packet.len() < Self::MIN_LEN {
            return Err(DecodeError::Truncated {
                what: "IPv4 header",
                need: Self::MIN_LEN,
                got: packet.len(),
            });
        }
        let version = packet[0] >> 4;
        if version != 4 {
            return Err(DecodeError::IpVersion { version });
        }
        let ihl = packet[0] & 0x0f;
        let header_len = usize::from(ihl) * 4;
        if header_len < Self::MIN_LEN || header_len > packet.len() {
            return Err(DecodeError::Ipv4HeaderLength { ihl });
        }
        let total_len = u16::from_be_bytes([packet[2], packet[3]]);
        let total = usize::from(total_len);
        if total < header_len || total > packet.len() {
            return Err(DecodeError::IpLength {
                declared: total,
                got: packet.len(),
            });
        }
        let frag = u16::from_be_bytes([packet[6], packet[7]]);
        if frag & Self::FRAG_MASK != 0 {
            return Err(DecodeError::Fragment);
        }
        let hdr = Self {
            header_len,
            tos: packet[1],
            total_len,
            id: u16::from_be_bytes([packet[4], packet[5]]),
            frag,
            ttl: packet[8],
            protocol: packet[9],
            checksum: u16::from_be_bytes([packet[10], packet[11]]),
            src: Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]),
            dst: Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]),
        };
        Ok((hdr, &packet[header_len..total]))
    }

    /// A 20-byte header (no options) for a payload of `payload_len` bytes.
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, ttl: u8, payload_len: usize) -> Self {
        Self {
            header_len: Self::MIN_LEN,
            tos: Self::TOS_INTERNETWORK_CONTROL,
            total_len: u16::try_from(Self::MIN_LEN + payload_len).unwrap_or(u16::MAX),
            id: 0,
            frag: 0,
            ttl,
            protocol,
            checksum: 0,
            src,
            dst,
        }
    }

    /// Encodes the header (options are not kept) with its checksum computed.
    pub fn encode(&self) -> [u8; 20] {
        let mut h = [0u8; 20];
        h[0] = 0x45;
        h[1] = self.tos;
        h[2..4].copy_from_slice(&self.total_len.to_be_bytes());
        h[4..6].copy_from_slice(&self.id.to_be_bytes());
        h[6..8].copy_from_slice(&self.frag.to_be_bytes());
        h[8] = self.ttl;
        h[9] = self.protocol;
        h[12..16].copy_from_slice(&self.src.octets());
        h[16..20].copy_from_slice(&self.dst.octets());
        let ck = checksum::checksum(&h);
        h[10..12].copy_from_slice(&ck.to_be_bytes());
        h
    }
}

/// IPv6 fixed header, RFC 8200 3:
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Traffic Class |           Flow Label                  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Payload Length        |  Next Header  |   Hop Limit   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      Source Address (128)                     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                   Destination Address (128)                   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Hdr {
    /// Traffic class (8 bits) and flow label (20 bits), as on the wire after the version.
    pub class_flow: u32,
    pub payload_len: u16,
    pub next_header: u8,
    pub hop_limit: u8,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
}

impl Ipv6Hdr {
    pub const LEN: usize = 40;

    /// Decodes the fixed header and returns the payload cut to its length.
    pub fn decode(packet: &[u8]) -> Result<(Self, &[u8]), DecodeError> {
        if packet.len() < Self::LEN {
            return Err(DecodeError::Truncated {
                what: "IPv6 header",
                need: Self::LEN,
                got: packet.len(),
            });
        }
        let first = u32::from_be_bytes([packet[0], packet[1], packet[2], packet[3]]);
        let version = packet[0] >> 4;
        if version != 6 {
            return Err(DecodeError::IpVersion { version });
        }
        let payload_len = u16::from_be_bytes([packet[4], packet[5]]);
        let end = Self::LEN + usize::from(payload_len);
        if end > packet.len() {
            return Err(DecodeError::IpLength {
                declared: end,
                got: packet.len(),
            });
        }
        let src = <[u8; 16]>::try_from(&packet[8..24]).expect("16 bytes");
        let dst = <[u8; 16]>::try_from(&packet[24..40]).expect("16 bytes");
        let hdr = Self {
            class_flow: first & 0x0fff_ffff,
            payload_len,
            next_header: packet[6],
            hop_limit: packet[7],
            src: Ipv6Addr::from(src),
            dst: Ipv6Addr::from(dst),
        };
        Ok((hdr, &packet[Self::LEN..end]))
    }

    /// A header for a payload of `payload_len` bytes, traffic class CS6 as keepalived uses.
    pub fn new(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, hop_limit: u8, payload_len: usize) -> Self {
        Self {
            class_flow: 0x0c00_0000,
            payload_len: u16::try_from(payload_len).unwrap_or(u16::MAX),
            next_header,
            hop_limit,
            src,
            dst,
        }
    }

    pub fn encode(&self) -> [u8; 40] {
        let mut h = [0u8; 40];
        h[0..4].copy_from_slice(&((6 << 28) | (self.class_flow & 0x0fff_ffff)).to_be_bytes());
        h[4..6].copy_from_slice(&self.payload_len.to_be_bytes());
        h[6] = self.next_header;
        h[7] = self.hop_limit;
        h[8..24].copy_from_slice(&self.src.octets());
        h[24..40].copy_from_slice(&self.dst.octets());
        h
    }
}
