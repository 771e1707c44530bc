//! A virtual address: one line of `virtual_ipaddress { }` (and of
//! `virtual_ipaddress_excluded`, `static_ipaddress`).

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

/// One line of `virtual_ipaddress { }`: `ADDR[/PREFIX] [brd X] [dev IFACE] [scope S]
/// [label L]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualAddress {
    pub addr: IpAddr,
    /// `/PREFIX`. Default 32 (IPv4) or 128 (IPv6).
    pub prefix: u8,
    /// `brd ADDR` (or `+`/`-`, computed): IPv4 broadcast. Default none.
    pub brd: Option<Ipv4Addr>,
    /// `dev IFACE`. Default: the instance's interface (or its VMAC). This
    /// and `label` are `Box<str>`: 8 bytes less each in every VIP.
    pub dev: Option<Box<str>>,
    /// `scope host|link|site|global|nowhere|N`, as the rtnetlink number. Default: global (0)
    /// for IPv4; IPv6 takes no scope.
    pub scope: Option<u8>,
    /// `label L`: IPv4 alias name, like `eth0:1`.
    pub label: Option<Box<str>>,
    /// `-nodad`: run IPv6 Duplicate Address Detection. keepalived adds IPv6
    /// VIPs with IFA_F_NODAD (usable at once after a takeover) unless asked.
    #[serde(default)]
    pub dad: bool,
    /// `preferred_lft N|forever` (seconds; `u32::MAX` is forever). `None`:
    /// keepalived's default, 0 (deprecated: never chosen as a source
    /// address) for an IPv6 /128, forever otherwise.
    #[serde(default)]
    pub preferred_lft: Option<u32>,
}

impl VirtualAddress {
    /// `ADDR/PREFIX` with no other option.
    pub fn new(addr: IpAddr, prefix: u8) -> Self {
        Self {
            addr,
            prefix,
            brd: None,
            dev: None,
            scope: None,
            label: None,
            dad: false,
            preferred_lft: None,
        }
    }

    /// The IPv6 preferred lifetime keepalived gives this address (seconds,
    /// `u32::MAX` forever).
    pub fn effective_preferred_lft(&self) -> u32 {
        match self.preferred_lft {
            Some(lft) => lft,
            None if self.addr.is_ipv6() && self.prefix == 128 => 0,
            None => u32::MAX,
        }
    }

    /// `ADDR/PREFIX`.
    pub fn cidr(&self) -> String {
        format!("{}/{}", self.addr, self.prefix)
    }
}
