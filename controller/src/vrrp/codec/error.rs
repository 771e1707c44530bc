//! Why a frame or an advert was not accepted: one variant per rule, carrying
//! what the counters and the logs need.

use std::fmt;

use xvrrp_common::stats;

/// A decode or receive-validation failure (RFC 3768 / RFC 5798 section 7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the header being read needs.
    Truncated {
        what: &'static str,
        need: usize,
        got: usize,
    },
    /// Not IPv4/IPv6.
    EtherType { ethertype: u16 },
    /// An 802.1Q / 802.1ad tagged frame: it belongs to a VLAN, never to an
    /// untagged interface's instances (the XDP program passes it untouched
    /// and counts nothing; socket mode sees the VLAN's frames untagged on
    /// the VLAN's own interface).
    Tagged { vid: u16 },
    /// IPv4 header length field below 5 words or beyond the packet.
    Ipv4HeaderLength { ihl: u8 },
    /// The IP header's own version field disagrees with its EtherType.
    IpVersion { version: u8 },
    /// The IP total / payload length claims more bytes than arrived.
    IpLength { declared: usize, got: usize },
    /// An IPv4 fragment: adverts are never fragmented.
    Fragment,
    /// IP protocol / next header is not VRRP (112).
    NotVrrp { protocol: u8 },
    /// TTL / hop limit is not 255 (RFC 5798 7.1 item 1).
    Ttl { ttl: u8 },
    /// VRRP version is neither 2 nor 3, or not the one configured for the VRID.
    Version { vrid: u8, version: u8 },
    /// VRRP type is not 1, ADVERTISEMENT (RFC 5798 5.2.2).
    Type { vrid: u8, version: u8, kind: u8 },
    /// The VRRP message is shorter than its fixed part plus `count` addresses
    /// (and the v2 authentication data).
    Length {
        vrid: u8,
        version: u8,
        need: usize,
        got: usize,
    },
    /// VRRPv2 over IPv6 does not exist (RFC 3768 is IPv4 only).
    V2OverIpv6 { vrid: u8 },
    /// The checksum does not verify.
    Checksum {
        vrid: u8,
        version: u8,
        got: u16,
        want: u16,
    },
    /// VRRPv3 over IPv4 whose checksum verifies only in the other dialect
    /// (pseudo-header included or not): `v3_checksum_as_v2` differs between peers.
    ChecksumDialect { vrid: u8, peer_uses_pseudo_header: bool },
    /// No instance with this VRID on the receiving interface and family:
    /// another VRRP speaker's advert.
    Vrid { vrid: u8 },
    /// Sent to another multicast group than the instance's (another VRRP
    /// domain), or multicast to a unicast instance: another speaker's.
    OtherGroup { vrid: u8, dst: std::net::IpAddr },
    /// The IPv4 header checksum does not verify (RFC 791).
    Ipv4HeaderChecksum,
    /// The address list differs from the configured VIPs (keepalived 2.2.7
    /// drops such an advert unless `skip_check_adv_addr`).
    AddrList { vrid: u8, got: usize, want: usize },
    /// A unicast instance's advert from an address not among its `unicast_peer`s.
    NotPeer { vrid: u8, src: std::net::IpAddr },
    /// VRRPv2 auth type 2 (IP Authentication Header): obsolete, unsupported (RFC 3768 5.3.6.3).
    AuthUnsupported { vrid: u8, auth_type: u8 },
    /// VRRPv2 auth type differs from the configured one.
    AuthType { vrid: u8, got: u8, want: u8 },
    /// VRRPv2 simple-text password differs (RFC 2338 5.3.6.2, kept by keepalived).
    AuthPassword { vrid: u8 },
    /// VRRPv2 advert interval differs from the configured one (RFC 3768 7.1:
    /// discard), or an interval of 0 (either version).
    Interval { vrid: u8, got: u16, want: u16 },
}

impl DecodeError {
    /// The counter slot (`xvrrp_common::stats`) this failure is counted under.
    pub fn stat(&self) -> u32 {
        match self {
            Self::Truncated { .. }
            | Self::Ipv4HeaderLength { .. }
            | Self::IpLength { .. }
            | Self::Length { .. }
            | Self::Fragment => stats::DROP_LENGTH,
            Self::EtherType { .. } | Self::IpVersion { .. } | Self::NotVrrp { .. } | Self::Tagged { .. } => {
                stats::DROP_TYPE
            }
            Self::Ttl { .. } => stats::DROP_TTL,
            Self::Version { .. } | Self::V2OverIpv6 { .. } => stats::DROP_VERSION,
            Self::Type { .. } => stats::DROP_TYPE,
            Self::Checksum { .. } | Self::Ipv4HeaderChecksum => stats::DROP_CHECKSUM,
            Self::ChecksumDialect { .. } => stats::DROP_CHECKSUM_DIALECT,
            Self::Vrid { .. } | Self::OtherGroup { .. } => stats::FOREIGN,
            Self::AddrList { .. } => stats::DROP_ADDR_LIST,
            Self::NotPeer { .. } => stats::DROP_NOT_PEER,
            Self::AuthUnsupported { .. } | Self::AuthType { .. } | Self::AuthPassword { .. } => {
                stats::DROP_AUTH
            }
            Self::Interval { .. } => stats::DROP_INTERVAL,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { what, need, got } => {
                write!(f, "{what} truncated: need {need} bytes, got {got}")
            }
            Self::EtherType { ethertype } => write!(f, "EtherType {ethertype:#06x} is not IPv4 or IPv6"),
            Self::Tagged { vid } => write!(f, "tagged frame of VLAN {vid}: not this interface's"),
            Self::Ipv4HeaderLength { ihl } => write!(f, "IPv4 header length {ihl} words is invalid"),
            Self::IpVersion { version } => {
                write!(f, "IP version field {version} does not match the EtherType")
            }
            Self::IpLength { declared, got } => {
                write!(f, "IP length says {declared} bytes but only {got} arrived")
            }
            Self::Fragment => write!(f, "IPv4 fragment (adverts are never fragmented)"),
            Self::NotVrrp { protocol } => write!(f, "IP protocol {protocol} is not VRRP (112)"),
            Self::Ttl { ttl } => write!(f, "TTL/hop limit {ttl}, must be 255 (RFC 5798 7.1)"),
            Self::Version { vrid, version } => write!(f, "VRID {vrid}: VRRP version {version} not accepted"),
            Self::Type { vrid, version, kind } => {
                write!(
                    f,
                    "VRID {vrid}: VRRPv{version} type {kind}, only 1 (ADVERTISEMENT) exists"
                )
            }
            Self::Length {
                vrid,
                version,
                need,
                got,
            } => {
                write!(
                    f,
                    "VRID {vrid}: VRRPv{version} message needs {need} bytes, got {got}"
                )
            }
            Self::V2OverIpv6 { vrid } => write!(f, "VRID {vrid}: VRRPv2 over IPv6 does not exist"),
            Self::Checksum {
                vrid,
                version,
                got,
                want,
            } => {
                write!(
                    f,
                    "VRID {vrid}: VRRPv{version} checksum {got:#06x}, expected {want:#06x}"
                )
            }
            Self::ChecksumDialect {
                vrid,
                peer_uses_pseudo_header,
            } => write!(
                f,
                "VRID {vrid}: VRRPv3/IPv4 checksum is valid only {} the pseudo-header: the peer's \
                 v3_checksum_as_v2 setting differs from ours",
                if *peer_uses_pseudo_header {
                    "with"
                } else {
                    "without"
                }
            ),
            Self::Vrid { vrid } => write!(
                f,
                "VRID {vrid} is not configured on this interface (another VRRP speaker's advert)"
            ),
            Self::OtherGroup { vrid, dst } => write!(
                f,
                "VRID {vrid}: advert to {dst}, not this instance's group or unicast address (another VRRP speaker's)"
            ),
            Self::Ipv4HeaderChecksum => write!(f, "IPv4 header checksum does not verify"),
            Self::AddrList { vrid, got, want } => write!(
                f,
                "VRID {vrid}: advertised address list ({got} addresses) differs from the configured \
                 virtual_ipaddress ({want}); skip_check_adv_addr turns the check off"
            ),
            Self::NotPeer { vrid, src } => {
                write!(f, "VRID {vrid}: advert from {src}, which is not a unicast_peer")
            }
            Self::AuthUnsupported { vrid, auth_type } => {
                write!(f, "VRID {vrid}: auth type {auth_type} (IP AH) is not supported")
            }
            Self::AuthType { vrid, got, want } => {
                write!(f, "VRID {vrid}: auth type {got}, configured {want}")
            }
            Self::AuthPassword { vrid } => write!(f, "VRID {vrid}: authentication password mismatch"),
            Self::Interval { vrid, got: 0, .. } => {
                write!(f, "VRID {vrid}: advert interval 0, which no router may use")
            }
            Self::Interval { vrid, got, want } => {
                write!(
                    f,
                    "VRID {vrid}: advert interval {got} s, configured {want} s (RFC 3768 7.1)"
                )
            }
        }
    }
}

impl std::error::Error for DecodeError {}
