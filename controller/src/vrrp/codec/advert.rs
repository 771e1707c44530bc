//! The VRRP advertisement, versions 2 and 3.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{DecodeError, checksum};

/// VRRP message type ADVERTISEMENT, the only one defined (RFC 5798 5.2.2).
pub const TYPE_ADVERTISEMENT: u8 = 1;

/// VRRPv2 authentication (RFC 3768 5.3.6; RFC 2338 for the simple text password
/// that keepalived still sends as `auth_type PASS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Auth {
    /// Type 0: no authentication (VRRPv3 has no field: always this).
    None,
    /// Type 1: simple text password, 8 bytes, zero padded.
    Simple([u8; 8]),
    /// Type 2: IP Authentication Header. Decoded, never accepted.
    Ah,
    /// Any other type value, kept so the error can name it.
    Unknown(u8),
}

impl Auth {
    pub const TYPE_NONE: u8 = 0;
    pub const TYPE_SIMPLE: u8 = 1;
    pub const TYPE_AH: u8 = 2;

    /// A simple password as keepalived stores it: at most 8 bytes, zero padded.
    pub fn simple(password: &str) -> Self {
        let mut data = [0u8; 8];
        for (d, s) in data.iter_mut().zip(password.bytes()) {
            *d = s;
        }
        Self::Simple(data)
    }

    pub fn type_value(&self) -> u8 {
        match self {
            Self::None => Self::TYPE_NONE,
            Self::Simple(_) => Self::TYPE_SIMPLE,
            Self::Ah => Self::TYPE_AH,
            Self::Unknown(t) => *t,
        }
    }
}

/// A VRRP advertisement.
///
/// VRRPv2, RFC 3768 5.1:
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Auth Type   |   Adver Int   |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         IP Address (1)                        |
/// |                            ...                                |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     Authentication Data (1)                   |
/// |                     Authentication Data (2)                   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
/// VRRPv3, RFC 5798 5.1 (IPv4 or IPv6 addresses, no authentication):
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |(rsvd) |     Max Adver Int     |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       IPvX Address(es)                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Advert {
    /// 2 or 3.
    pub version: u8,
    pub vrid: u8,
    /// 0 = the master is leaving, 255 = address owner.
    pub priority: u8,
    /// v2: Adver Int in seconds (8 bits); v3: Max Adver Int in centiseconds (12 bits).
    pub interval: u16,
    /// Always `Auth::None` for v3.
    pub auth: Auth,
    /// As received; `encode` computes its own.
    pub checksum: u16,
    /// All of one family: IPv4 for v2, the IP header's family for v3.
    pub addrs: Vec<IpAddr>,
}

/// The address family an advert travels in (decides the address size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn addr_len(self) -> usize {
        match self {
            Self::V4 => 4,
            Self::V6 => 16,
        }
    }

    pub fn of(addr: &IpAddr) -> Self {
        if addr.is_ipv4() { Self::V4 } else { Self::V6 }
    }
}

/// What the checksum covers besides the message (RFC 5798 5.2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumScope {
    /// The VRRP message alone: VRRPv2, and VRRPv3/IPv4 with `v3_checksum_as_v2`
    /// (the reading RFC 9568 settles on).
    Message,
    /// VRRPv3/IPv4 with the IPv4 pseudo-header, as keepalived 2.2.7 sends it.
    V4Pseudo { src: Ipv4Addr, dst: Ipv4Addr },
    /// VRRPv3/IPv6: always with the IPv6 pseudo-header.
    V6Pseudo { src: Ipv6Addr, dst: Ipv6Addr },
}

impl ChecksumScope {
    /// The scope a sender uses for an advert of `version` between `src` and `dst`.
    pub fn for_advert(version: u8, src: IpAddr, dst: IpAddr, v3_checksum_as_v2: bool) -> Self {
        match (version, src, dst) {
            (3, IpAddr::V6(src), IpAddr::V6(dst)) => Self::V6Pseudo { src, dst },
            (3, IpAddr::V4(src), IpAddr::V4(dst)) if !v3_checksum_as_v2 => Self::V4Pseudo { src, dst },
            _ => Self::Message,
        }
    }

    /// The checksum of `msg` (with its checksum field as it is) in this scope.
    pub fn compute(self, msg: &[u8]) -> u16 {
        match self {
            Self::Message => checksum::checksum(msg),
            Self::V4Pseudo { src, dst } => checksum::vrrp_v4_pseudo(src, dst, msg),
            Self::V6Pseudo { src, dst } => checksum::vrrp_v6(src, dst, msg),
        }
    }
}

impl Advert {
    /// Fixed part before the addresses.
    pub const HEADER_LEN: usize = 8;

    /// The interval field of a `version` advert in centiseconds: v2 carries
    /// whole seconds (RFC 3768 5.3.7), v3 centiseconds (RFC 5798 5.2.7).
    pub fn interval_cs_of(version: u8, interval: u16) -> u16 {
        if version == 2 {
            interval.saturating_mul(100)
        } else {
            interval
        }
    }
    /// VRRPv2 authentication data after the addresses.
    pub const V2_AUTH_LEN: usize = 8;
    /// Largest VRRPv3 interval, 12 bits of centiseconds (40.95 s).
    pub const V3_MAX_INTERVAL: u16 = 0x0fff;

    /// The length of the encoded message.
    pub fn len(&self, family: Family) -> usize {
        let auth = if self.version == 2 { Self::V2_AUTH_LEN } else { 0 };
        Self::HEADER_LEN + self.addrs.len() * family.addr_len() + auth
    }

    /// Decodes the VRRP message carried in an IP packet of `family`. `bytes` is
    /// the IP payload: it may carry bytes beyond what `count` implies. The
    /// checksum is not verified here (it needs the IP addresses): see
    /// `validate`.
    pub fn decode(bytes: &[u8], family: Family) -> Result<Self, DecodeError> {
        if bytes.len() < Self::HEADER_LEN {
            return Err(DecodeError::Truncated {
                what: "VRRP header",
                need: Self::HEADER_LEN,
                got: bytes.len(),
            });
        }
        let version = bytes[0] >> 4;
        let kind = bytes[0] & 0x0f;
        let vrid = bytes[1];
        if version != 2 && version != 3 {
            return Err(DecodeError::Version { vrid, version });
        }
        if kind != TYPE_ADVERTISEMENT {
            return Err(DecodeError::Type { vrid, version, kind });
        }
        if version == 2 && family == Family::V6 {
            return Err(DecodeError::V2OverIpv6 { vrid });
        }
        let count = usize::from(bytes[3]);
        let auth_len = if version == 2 { Self::V2_AUTH_LEN } else { 0 };
        let need = Self::HEADER_LEN + count * family.addr_len() + auth_len;
        if bytes.len() < need {
            return Err(DecodeError::Length {
                vrid,
                version,
                need,
                got: bytes.len(),
            });
        }
        let (interval, auth) = if version == 2 {
            let mut data = [0u8; 8];
            data.copy_from_slice(&bytes[need - Self::V2_AUTH_LEN..need]);
            let auth = match bytes[4] {
                Auth::TYPE_NONE => Auth::None,
                Auth::TYPE_SIMPLE => Auth::Simple(data),
                Auth::TYPE_AH => Auth::Ah,
                other => Auth::Unknown(other),
            };
            (u16::from(bytes[5]), auth)
        } else {
            (
                u16::from_be_bytes([bytes[4], bytes[5]]) & Self::V3_MAX_INTERVAL,
                Auth::None,
            )
        };
        let addrs = bytes[Self::HEADER_LEN..Self::HEADER_LEN + count * family.addr_len()]
            .chunks_exact(family.addr_len())
            .map(|a| match family {
                Family::V4 => IpAddr::from(<[u8; 4]>::try_from(a).expect("chunk of 4")),
                Family::V6 => IpAddr::from(<[u8; 16]>::try_from(a).expect("chunk of 16")),
            })
            .collect();
        Ok(Self {
            version,
            vrid,
            priority: bytes[2],
            interval,
            auth,
            checksum: u16::from_be_bytes([bytes[6], bytes[7]]),
            addrs,
        })
    }

    /// Encodes the message with a freshly computed checksum.
    ///
    /// Addresses of the wrong family for the scope are the caller's bug; they
    /// are written in their own size.
    pub fn encode(&self, scope: ChecksumScope) -> Vec<u8> {
        let count = u8::try_from(self.addrs.len()).unwrap_or(u8::MAX);
        let mut out = Vec::with_capacity(Self::HEADER_LEN + self.addrs.len() * 16 + Self::V2_AUTH_LEN);
        out.extend_from_slice(&[
            (self.version << 4) | TYPE_ADVERTISEMENT,
            self.vrid,
            self.priority,
            count,
        ]);
        if self.version == 2 {
            out.push(self.auth.type_value());
            out.push(u8::try_from(self.interval).unwrap_or(u8::MAX));
        } else {
            out.extend_from_slice(&(self.interval & Self::V3_MAX_INTERVAL).to_be_bytes());
        }
        out.extend_from_slice(&[0, 0]);
        for addr in self.addrs.iter().take(usize::from(count)) {
            match addr {
                IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
                IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
            }
        }
        if self.version == 2 {
            match self.auth {
                Auth::Simple(data) => out.extend_from_slice(&data),
                _ => out.extend_from_slice(&[0; 8]),
            }
        }
        let ck = scope.compute(&out);
        out[6..8].copy_from_slice(&ck.to_be_bytes());
        out
    }
}
