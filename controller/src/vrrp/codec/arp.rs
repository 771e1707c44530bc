//! ARP for IPv4 over Ethernet (RFC 826), for gratuitous ARP and the replies
//! the XDP responder builds.

use std::net::Ipv4Addr;

use super::{DecodeError, ethernet::Mac};

/// ARP packet, Ethernet hardware and IPv4 protocol (RFC 826):
/// ```text
/// +--------+--------+-----+-----+--------+
/// | HTYPE 1| PTYPE  |HLEN6|PLEN4| OPER   |
/// +--------+--------+-----+-----+--------+
/// | SHA (6) | SPA (4) | THA (6) | TPA (4) |
/// +---------+---------+---------+---------+
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpPacket {
    pub op: u16,
    pub sha: Mac,
    pub spa: Ipv4Addr,
    pub tha: Mac,
    pub tpa: Ipv4Addr,
}

impl ArpPacket {
    pub const LEN: usize = 28;
    pub const OP_REQUEST: u16 = 1;
    pub const OP_REPLY: u16 = 2;

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() < Self::LEN {
            return Err(DecodeError::Truncated {
                what: "ARP packet",
                need: Self::LEN,
                got: bytes.len(),
            });
        }
        // Only Ethernet/IPv4 ARP exists on the links VRRP runs on.
        if bytes[0..6] != [0, 1, 0x08, 0x00, 6, 4] {
            return Err(DecodeError::EtherType {
                ethertype: u16::from_be_bytes([bytes[2], bytes[3]]),
            });
        }
        Ok(Self {
            op: u16::from_be_bytes([bytes[6], bytes[7]]),
            sha: <Mac>::try_from(&bytes[8..14]).expect("6 bytes"),
            spa: Ipv4Addr::new(bytes[14], bytes[15], bytes[16], bytes[17]),
            tha: <Mac>::try_from(&bytes[18..24]).expect("6 bytes"),
            tpa: Ipv4Addr::new(bytes[24], bytes[25], bytes[26], bytes[27]),
        })
    }

    pub fn encode(&self) -> [u8; 28] {
        let mut out = [0u8; 28];
        out[0..6].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
        out[6..8].copy_from_slice(&self.op.to_be_bytes());
        out[8..14].copy_from_slice(&self.sha);
        out[14..18].copy_from_slice(&self.spa.octets());
        out[18..24].copy_from_slice(&self.tha);
        out[24..28].copy_from_slice(&self.tpa.octets());
        out
    }

    /// A gratuitous ARP announcing `vip` at `mac` (RFC 5798 6.4.1 item (b);
    /// the request form, which keepalived sends: sender = target = VIP).
    pub fn gratuitous(mac: Mac, vip: Ipv4Addr) -> Self {
        Self {
            op: Self::OP_REQUEST,
            sha: mac,
            spa: vip,
            tha: [0xff; 6],
            tpa: vip,
        }
    }

    /// The reply to this request saying `self.tpa` is at `mac`.
    #[must_use]
    pub fn reply(&self, mac: Mac) -> Self {
        Self {
            op: Self::OP_REPLY,
            sha: mac,
            spa: self.tpa,
            tha: self.sha,
            tpa: self.spa,
        }
    }
}
