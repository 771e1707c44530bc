//! Ethernet II with at most one 802.1Q / 802.1ad tag.

use xvrrp_common::vrrp::{ETH_P_8021AD, ETH_P_8021Q};

use super::DecodeError;

/// A MAC address.
pub type Mac = [u8; 6];

/// The VRRP virtual MAC for IPv4 (RFC 5798 7.3): `00:00:5e:00:01:{VRID}`.
pub fn virtual_mac_v4(vrid: u8) -> Mac {
    [0x00, 0x00, 0x5e, 0x00, 0x01, vrid]
}

/// The VRRP virtual MAC for IPv6 (RFC 5798 7.3): `00:00:5e:00:02:{VRID}`.
pub fn virtual_mac_v6(vrid: u8) -> Mac {
    [0x00, 0x00, 0x5e, 0x00, 0x02, vrid]
}

/// Ethernet header, IEEE 802.3 / RFC 894:
/// ```text
/// +-------------------+-------------------+-----------+
/// | Destination (6)   | Source (6)        | Type (2)  |
/// +-------------------+-------------------+-----------+
///   with 802.1Q:        ... Source (6) | 0x8100 | TCI (2) | Type (2)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthernetHdr {
    pub dst: Mac,
    pub src: Mac,
    /// The VLAN tag's TCI when the frame carried one.
    pub vlan: Option<u16>,
    pub ethertype: u16,
}

impl EthernetHdr {
    pub const LEN: usize = 14;
    pub const VLAN_LEN: usize = 4;

    /// Decodes the header and returns it with the payload.
    pub fn decode(frame: &[u8]) -> Result<(Self, &[u8]), DecodeError> {
        if frame.len() < Self::LEN {
            return Err(DecodeError::Truncated {
                what: "Ethernet header",
                need: Self::LEN,
                got: frame.len(),
            });
        }
        let dst = <Mac>::try_from(&frame[0..6]).expect("6 bytes");
        let src = <Mac>::try_from(&frame[6..12]).expect("6 bytes");
        let mut ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        let mut offset = Self::LEN;
        let mut vlan = None;
        if ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
            let need = Self::LEN + Self::VLAN_LEN;
            if frame.len() < need {
                return Err(DecodeError::Truncated {
                    what: "802.1Q tag",
                    need,
                    got: frame.len(),
                });
            }
            vlan = Some(u16::from_be_bytes([frame[14], frame[15]]));
            ethertype = u16::from_be_bytes([frame[16], frame[17]]);
            offset = need;
        }
        Ok((
            Self {
                dst,
                src,
                vlan,
                ethertype,
            },
            &frame[offset..],
        ))
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::LEN + Self::VLAN_LEN);
        out.extend_from_slice(&self.dst);
        out.extend_from_slice(&self.src);
        if let Some(tci) = self.vlan {
            out.extend_from_slice(&ETH_P_8021Q.to_be_bytes());
            out.extend_from_slice(&tci.to_be_bytes());
        }
        out.extend_from_slice(&self.ethertype.to_be_bytes());
        out
    }
}
