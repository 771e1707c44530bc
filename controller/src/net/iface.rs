//! Facts about an interface: index, MAC, addresses, link state.

use std::{fs, net::IpAddr};

use anyhow::{Context as _, Result};

use super::sys;
use crate::config::host::HostInfo;
use crate::vrrp::codec::ethernet::Mac;

/// An interface's index and MAC. Not its name: an instance's record keeps
/// that once, in its configuration (`interface`), not in a copy here
/// (issue bench-truth's per-instance memory: 56 bytes an instance).
#[derive(Debug, Clone)]
pub struct Iface {
    pub index: u32,
    pub mac: Mac,
}

impl Iface {
    pub fn lookup(name: &str) -> Result<Self> {
        let index = sys::ifindex(name).with_context(|| format!("interface {name}"))?;
        let mac = read_mac(name).with_context(|| format!("MAC address of {name}"))?;
        Ok(Self { index, mac })
    }
}

/// Link state from sysfs: `up`, or `unknown` for devices without carrier
/// reporting (loopback, some virtual devices) that are admin up.
pub fn link_up(name: &str) -> bool {
    match fs::read_to_string(format!("/sys/class/net/{name}/operstate")) {
        Ok(s) => {
            let s = s.trim();
            s == "up" || (s == "unknown" && carrier(name))
        }
        Err(_) => false,
    }
}

fn carrier(name: &str) -> bool {
    fs::read_to_string(format!("/sys/class/net/{name}/carrier")).is_ok_and(|s| s.trim() == "1")
}

fn read_mac(name: &str) -> Result<Mac> {
    let text = fs::read_to_string(format!("/sys/class/net/{name}/address"))?;
    let mut mac = [0u8; 6];
    let mut parts = text.trim().split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next().context("short MAC")?, 16)?;
    }
    Ok(mac)
}

/// The primary address VRRP sends from (RFC 5798 5.1.1.1 / 5.1.2.1): the
/// first IPv4 address that is not one of `vips`, or the IPv6 link-local one.
/// `host` is one getifaddrs snapshot for all the instances built together.
pub fn primary_address(host: &HostInfo, name: &str, v6: bool, vips: &[IpAddr]) -> Option<IpAddr> {
    host.addresses(name).iter().copied().find(|a| match a {
        IpAddr::V4(_) => !v6 && !vips.contains(a),
        IpAddr::V6(a6) => v6 && a6.segments()[0] & 0xffc0 == 0xfe80,
    })
}
