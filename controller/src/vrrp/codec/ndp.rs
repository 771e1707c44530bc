//! ICMPv6 Neighbor Solicitation / Advertisement (RFC 4861 4.3, 4.4), for the
//! unsolicited NAs a new master sends for its IPv6 VIPs (RFC 5798 6.4.1).

use std::net::Ipv6Addr;

use super::{DecodeError, ethernet::Mac};
use crate::vrrp::codec::checksum::{finish, pseudo_v6, sum_words};

/// IP protocol number of ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;

/// Neighbor Solicitation (type 135) or Advertisement (type 136):
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Type      |     Code      |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |R|S|O|                     Reserved (NS: all reserved)         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       Target Address (128)                    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Options: Source (NS) / Target (NA) Link-Layer Address (type 1/2, len 1)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborMessage {
    /// 135 (solicitation) or 136 (advertisement).
    pub kind: u8,
    /// NA flags in the top three bits: Router, Solicited, Override.
    pub flags: u8,
    pub target: Ipv6Addr,
    /// The link-layer address option, when present.
    pub lladdr: Option<Mac>,
}

impl NeighborMessage {
    pub const SOLICIT: u8 = 135;
    pub const ADVERT: u8 = 136;
    pub const FLAG_ROUTER: u8 = 0x80;
    pub const FLAG_SOLICITED: u8 = 0x40;
    pub const FLAG_OVERRIDE: u8 = 0x20;
    const MIN_LEN: usize = 24;

    /// Decodes and verifies the checksum against the IPv6 addresses it came with.
    pub fn decode(bytes: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<Self, DecodeError> {
        if bytes.len() < Self::MIN_LEN {
            return Err(DecodeError::Truncated {
                what: "neighbor message",
                need: Self::MIN_LEN,
                got: bytes.len(),
            });
        }
        let kind = bytes[0];
        if kind != Self::SOLICIT && kind != Self::ADVERT {
            return Err(DecodeError::NotVrrp {
                protocol: IPPROTO_ICMPV6,
            });
        }
        let sum = finish(sum_words(bytes, pseudo_v6(src, dst, IPPROTO_ICMPV6, bytes.len())));
        if sum != 0 {
            return Err(DecodeError::Checksum {
                vrid: 0,
                version: 0,
                got: u16::from_be_bytes([bytes[2], bytes[3]]),
                want: 0,
            });
        }
        let target = Ipv6Addr::from(<[u8; 16]>::try_from(&bytes[8..24]).expect("16 bytes"));
        // Walk the options for a link-layer address (type 1 in NS, 2 in NA).
        let mut lladdr = None;
        let mut opts = &bytes[Self::MIN_LEN..];
        while opts.len() >= 8 {
            let len = usize::from(opts[1]) * 8;
            if len == 0 || len > opts.len() {
                break;
            }
            if (opts[0] == 1 || opts[0] == 2) && len == 8 {
                lladdr = Some(<Mac>::try_from(&opts[2..8]).expect("6 bytes"));
            }
            opts = &opts[len..];
        }
        Ok(Self {
            kind,
            flags: if kind == Self::ADVERT { bytes[4] } else { 0 },
            target,
            lladdr,
        })
    }

    /// Encodes with the checksum for the given IPv6 addresses.
    pub fn encode(&self, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
        let mut out = vec![self.kind, 0, 0, 0, self.flags, 0, 0, 0];
        out.extend_from_slice(&self.target.octets());
        if let Some(mac) = self.lladdr {
            out.push(if self.kind == Self::SOLICIT { 1 } else { 2 });
            out.push(1);
            out.extend_from_slice(&mac);
        }
        let ck = finish(sum_words(&out, pseudo_v6(src, dst, IPPROTO_ICMPV6, out.len())));
        out[2..4].copy_from_slice(&ck.to_be_bytes());
        debug_assert_eq!(
            finish(sum_words(&out, pseudo_v6(src, dst, IPPROTO_ICMPV6, out.len()))),
            0
        );
        out
    }

    /// The unsolicited NA a new master sends for `vip` (RFC 5798 6.4.1 item (c);
    /// Override set, Router set as keepalived does).
    pub fn unsolicited_advert(vip: Ipv6Addr, mac: Mac) -> Self {
        Self {
            kind: Self::ADVERT,
            flags: Self::FLAG_ROUTER | Self::FLAG_OVERRIDE,
            target: vip,
            lladdr: Some(mac),
        }
    }
}
