//! `virtual_routes { }` and `virtual_rules { }` of an instance: installed with
//! its VIPs on becoming master, removed on leaving (keepalived 2.2.7
//! `vrrp_iproute.c`, `vrrp_iprule.c`).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::Family;

/// keepalived's route and rule protocol (`RTPROT_KEEPALIVED`), unless `no_track`
/// keeps the one given.
pub const PROTO_KEEPALIVED: u8 = 18;

/// An address and prefix length (`default` is the family's /0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// One line of `virtual_routes { }`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VirtualRoute {
    /// The line as written (for messages).
    pub text: String,
    pub family: Family,
    /// `TYPE` before the destination (rtnetlink `RTN_*`): unicast (1) by default,
    /// local 2, broadcast 3, anycast 4, multicast 5, blackhole 6,
    /// unreachable 7, prohibit 8, throw 9.
    pub kind: u8,
    pub dest: Prefix,
    /// `src ADDR`: the preferred source.
    pub src: Option<IpAddr>,
    /// `from PREFIX` (IPv6): source-specific.
    pub from: Option<Prefix>,
    /// `via ADDR` (`gw`).
    pub via: Option<IpAddr>,
    /// `dev IF` (`oif`).
    pub dev: Option<String>,
    /// `table N|NAME`. Default main (254).
    pub table: u32,
    /// `protocol N|NAME`; 18 (keepalived) unless `no_track`.
    pub protocol: u8,
    /// `scope global|site|link|host|nowhere|N`; unset: universe (0), as
    /// keepalived sends it.
    pub scope: Option<u8>,
    /// `metric|priority|preference N`.
    pub metric: Option<u32>,
    /// `tos|dsfield N`.
    pub tos: Option<u8>,
    pub onlink: bool,
    pub no_track: bool,
}

/// What a rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// `table N` (`lookup`).
    Table(u32),
    /// `goto N`: to the rule of that preference.
    Goto(u32),
    Nop,
    Blackhole,
    Unreachable,
    Prohibit,
}

/// One line of `virtual_rules { }`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VirtualRule {
    pub text: String,
    pub family: Family,
    pub from: Option<Prefix>,
    pub to: Option<Prefix>,
    /// `not`: the selector inverted.
    pub not: bool,
    pub action: RuleAction,
    /// `preference|order|priority N`; keepalived gives one without it
    /// 16384, 16383, ... (with a warning).
    pub priority: u32,
    pub tos: Option<u8>,
    /// `fwmark N[/MASK]`.
    pub fwmark: Option<(u32, Option<u32>)>,
    /// `iif IF` (`dev`), `oif IF`.
    pub iif: Option<String>,
    pub oif: Option<String>,
    /// 18 (keepalived) unless `no_track`.
    pub protocol: u8,
    pub no_track: bool,
}
