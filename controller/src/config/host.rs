//! What the configuration says about this host: do its interfaces exist, does an address
//! owner (priority 255) own its addresses? `xvrrpd check` and the daemon's start ask; plain
//! [`load`](super::load) does not (a configuration is often checked on another machine).
//!
//! Priority 255 on a router that does not own the VIPs: keepalived does not check this; it
//! runs the instance as owner (it preempts at once, accepts traffic to the VIPs, and lowers
//! its priority only if it meets another owner). xvrrp does the same, for drop-in
//! compatibility, and warns, because RFC 5798 5.2.4 reserves 255 for the router whose real
//! interface addresses the VIPs are.

use std::{
    collections::BTreeMap,
    ffi::CStr,
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use super::{diag::Sink, model::Instance, parse::InstanceDraft};

/// The interfaces of a host and their addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostInfo {
    interfaces: BTreeMap<String, Vec<IpAddr>>,
}

impl HostInfo {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an interface (for tests and tools that describe another host).
    #[must_use]
    pub fn with_interface(mut self, name: &str, addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        self.interfaces.entry(name.to_owned()).or_default().extend(addrs);
        self
    }

    /// This host (its current network namespace), from getifaddrs(3).
    pub fn current() -> io::Result<Self> {
        let mut host = Self::new();
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        // SAFETY: getifaddrs writes a list head to `list`; we free it below.
        if unsafe { libc::getifaddrs(&raw mut list) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut cursor = list;
        while !cursor.is_null() {
            // SAFETY: `cursor` is a node of the list getifaddrs returned, not yet freed.
            let entry = unsafe { &*cursor };
            cursor = entry.ifa_next;
            if entry.ifa_name.is_null() {
                continue;
            }
            // SAFETY: ifa_name is a NUL-terminated string owned by the list.
            let name = unsafe { CStr::from_ptr(entry.ifa_name) }
                .to_string_lossy()
                .into_owned();
            let addrs = host.interfaces.entry(name).or_default();
            // SAFETY: ifa_addr is null or points to a sockaddr of the family it names.
            if let Some(addr) = unsafe { sockaddr_ip(entry.ifa_addr) } {
                addrs.push(addr);
            }
        }
        // SAFETY: `list` came from getifaddrs and is freed once.
        unsafe { libc::freeifaddrs(list) };
        Ok(host)
    }

    /// The addresses on interface `name` (none if it does not exist).
    pub fn addresses(&self, name: &str) -> &[IpAddr] {
        self.interfaces.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn has_interface(&self, name: &str) -> bool {
        self.interfaces.contains_key(name)
    }

    /// True when `addr` is configured on one of the host's interfaces.
    pub fn owns(&self, addr: &IpAddr) -> bool {
        self.interfaces.values().any(|addrs| addrs.contains(addr))
    }
}

/// The IP address in a sockaddr, if it is one.
///
/// # Safety
/// `sa` is null or points to a valid sockaddr whose family field tells its real type.
#[expect(
    clippy::cast_ptr_alignment,
    reason = "getifaddrs hands out storage aligned for the family it names"
)]
unsafe fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<IpAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees `sa` is valid; the family says which type it is.
    unsafe {
        match i32::from((*sa).sa_family) {
            libc::AF_INET => {
                let sin = &*sa.cast::<libc::sockaddr_in>();
                Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))))
            }
            libc::AF_INET6 => {
                let sin6 = &*sa.cast::<libc::sockaddr_in6>();
                Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
            }
            _ => None,
        }
    }
}

/// Host checks of one instance: warnings, since interfaces come and go (the daemon waits
/// for them, as keepalived does).
pub(crate) fn check_instance(d: &InstanceDraft, inst: &Instance, host: &HostInfo, sink: &mut Sink) {
    let name = &d.name;
    if let Some(iface) = &d.interface
        && !host.has_interface(&iface.v)
    {
        sink.warning(
            &iface.at,
            format!(
                "interface {} for vrrp_instance {name} doesn't exist on this host",
                iface.v
            ),
        );
    }
    for t in &d.more().track_interfaces {
        if !host.has_interface(&t.v.name) {
            sink.warning(
                &t.at,
                format!(
                    "track_interface {} of vrrp_instance {name} doesn't exist on this host",
                    t.v.name
                ),
            );
        }
    }
    for vip in d.vips.iter().chain(&d.more().excluded_vips) {
        if let Some(dev) = &vip.v.dev
            && !host.has_interface(dev)
        {
            sink.warning(
                &vip.at,
                format!(
                    "interface {dev} for address {} of vrrp_instance {name} doesn't exist on this host",
                    vip.v.addr
                ),
            );
        }
    }
    if inst.priority == 255 {
        let foreign: Vec<String> = inst
            .vips
            .iter()
            .filter(|v| !host.owns(&v.addr))
            .map(|v| v.addr.to_string())
            .collect();
        if !foreign.is_empty() {
            let at = d
                .priority
                .as_ref()
                .map(|p| &p.at)
                .or(d.state.as_ref().map(|s| &s.at))
                .unwrap_or(&d.at);
            sink.warning(
                at,
                format!(
                    "vrrp_instance {name}: priority 255 claims address ownership (RFC 5798 5.2.4) but {} {} not \
                     an address of this host; it still runs as owner, as in keepalived (preempts at once); \
                     use 1..254 unless this host owns the VIPs",
                    foreign.join(", "),
                    if foreign.len() == 1 { "is" } else { "are" }
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_host_has_loopback() {
        let host = HostInfo::current().expect("getifaddrs");
        assert!(host.has_interface("lo"), "{host:?}");
        assert!(host.owns(&IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert!(!host.has_interface("no-such-if0"));
    }
}
