//! `use_vmac`: one private-mode macvlan per instance on its interface,
//! carrying the RFC 5798 7.3 virtual MAC, made the way keepalived 2.2.7 makes
//! it (`vrrp_vmac.c` `netlink_link_add_vmac`, naming in `vrrp.c`
//! `create_vmac_name`), so scripts and sysctls that name `vrrp.VRID` keep
//! working.
//!
//! Private mode matters: a multicast frame whose source MAC is a private
//! macvlan's own (another router's adverts from the same virtual MAC) is
//! delivered to that macvlan only, not to its base, which is why a backup
//! in socket mode receives adverts on the macvlan.
//!
//! The naming and adoption rules are the pure [`plan`]; [`ensure`] and
//! [`remove`] carry them out over rtnetlink.

use std::{collections::HashMap, io};

use anyhow::{Context as _, Result, anyhow};
use futures::TryStreamExt as _;
use rtnetlink::{
    Handle, LinkMacVlan, LinkUnspec,
    packet_route::link::{
        AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoData, InfoKind, InfoMacVlan, LinkAttribute, LinkInfo,
        LinkMessage, MacVlanMode,
    },
};
use tracing::{info, warn};

use crate::{
    config::model::{Config, Family},
    vrrp::codec::ethernet::{virtual_mac_v4, virtual_mac_v6},
};

/// One existing link, as far as adoption and naming care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `IFLA_LINK`: the base of a macvlan.
    pub base: Option<u32>,
    pub mac: Option<[u8; 6]>,
    /// A macvlan in private mode.
    pub private_macvlan: bool,
}

/// What one instance's macvlan needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want<'a> {
    /// The configured name (`use_vmac NAME`, `vrrp.VRID` by default).
    pub name: &'a str,
    pub base: u32,
    pub vrid: u8,
    pub v6: bool,
    pub mac: [u8; 6],
}

/// What to do for one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// A private macvlan on the same base with the virtual MAC exists
    /// (a crash left it, or keepalived ran before): use it whatever its
    /// name, as keepalived does ("vmac name mismatch ... changing to").
    Adopt {
        index: u32,
        name: String,
    },
    Create {
        name: String,
    },
}

/// Decides `want`'s link among `links`, not taking a name in `taken` (chosen
/// for other instances in the same pass). The configured name first; if
/// another interface holds it, keepalived's sequence `vrrp.VRID`,
/// (`vrrp6.VRID` for IPv6), `vrrp1.VRID`, `vrrp2.VRID`, ...
pub fn plan(want: &Want<'_>, links: &[Link], taken: &[String]) -> Option<Plan> {
    if let Some(l) = links
        .iter()
        .find(|l| l.private_macvlan && l.base == Some(want.base) && l.mac == Some(want.mac))
    {
        return Some(Plan::Adopt {
            index: l.index,
            name: l.name.clone(),
        });
    }
    let free = |n: &str| !links.iter().any(|l| l.name == n) && !taken.iter().any(|t| t == n);
    let vrid = want.vrid;
    let first = [want.name.to_owned(), format!("vrrp.{vrid}")];
    let v6 = want.v6.then(|| format!("vrrp6.{vrid}"));
    first
        .into_iter()
        .chain(v6)
        .chain((1..100).map(|n| format!("vrrp{n}.{vrid}")))
        .find(|n| n.len() < 16 && free(n))
        .map(|name| Plan::Create { name })
}

/// The links of this namespace.
pub async fn links(handle: &Handle) -> Result<Vec<Link>> {
    let msgs: Vec<LinkMessage> = handle
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .context("listing links")?;
    Ok(msgs.iter().map(link_of).collect())
}

fn link_of(m: &LinkMessage) -> Link {
    let mut l = Link {
        index: m.header.index,
        name: String::new(),
        base: None,
        mac: None,
        private_macvlan: false,
    };
    let (mut macvlan, mut private) = (false, false);
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name.clone_from(n),
            LinkAttribute::Link(i) => l.base = Some(*i),
            LinkAttribute::Address(a) => l.mac = <[u8; 6]>::try_from(a.as_slice()).ok(),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    match i {
                        LinkInfo::Kind(InfoKind::MacVlan) => macvlan = true,
                        LinkInfo::Data(InfoData::MacVlan(d)) => {
                            private |= d.contains(&InfoMacVlan::Mode(MacVlanMode::Private));
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    l.private_macvlan = macvlan && private;
    l
}

/// A macvlan this daemon uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    pub index: u32,
    pub name: String,
    pub adopted: bool,
}

/// Makes (or adopts) `want`'s macvlan, brings it up and sets what keepalived
/// sets; `links` is updated with a link it creates.
pub async fn ensure(
    handle: &Handle,
    want: &Want<'_>,
    links: &mut Vec<Link>,
    taken: &[String],
) -> Result<Made> {
    let made = match plan(want, links, taken) {
        Some(Plan::Adopt { index, name }) => Made {
            index,
            name,
            adopted: true,
        },
        Some(Plan::Create { name }) => {
            let msg = LinkMacVlan::new(&name, want.base, MacVlanMode::Private)
                .address(want.mac.to_vec())
                .build();
            handle
                .link()
                .add(msg)
                .execute()
                .await
                .map_err(|e| anyhow!("creating macvlan {name}: {e}"))?;
            let index = match super::sys::ifindex(&name) {
                Ok(i) => i,
                Err(e) => {
                    let _ = Box::pin(remove(handle, &name)).await;
                    return Err(anyhow!("macvlan {name} made but not found: {e}"));
                }
            };
            links.push(Link {
                index,
                name: name.clone(),
                base: Some(want.base),
                mac: Some(want.mac),
                private_macvlan: true,
            });
            Made {
                index,
                name,
                adopted: false,
            }
        }
        None => return Err(anyhow!("no free name for the macvlan of VRID {}", want.vrid)),
    };
    // No addresses of its own: the kernel must not make a link-local from
    // the virtual MAC, which every router of the VRID shares (vmac.c
    // IN6_ADDR_GEN_MODE_NONE).
    let gen_mode = LinkUnspec::new_with_index(made.index)
        .append_extra_attribute(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(vec![
            AfSpecInet6::AddrGenMode(In6AddrGenMode::None),
        ])]))
        .build();
    if let Err(e) = handle.link().set(gen_mode).execute().await {
        tracing::debug!(link = %made.name, "addrgenmode none not set: {e}");
    }
    if let Err(e) = handle
        .link()
        .set(LinkUnspec::new_with_index(made.index).up().build())
        .execute()
        .await
    {
        if !made.adopted {
            let _ = Box::pin(remove(handle, &made.name)).await;
        }
        return Err(anyhow!("setting {} up: {e}", made.name));
    }
    Ok(made)
}

/// Deletes the macvlan `name` if it still is a VRRP virtual-MAC macvlan (an
/// interface someone made since under that name is left alone).
pub async fn remove(handle: &Handle, name: &str) -> Result<()> {
    let found: Vec<LinkMessage> = handle
        .link()
        .get()
        .match_name(name.to_owned())
        .execute()
        .try_collect()
        .await
        .unwrap_or_default();
    let Some(l) = found.iter().map(link_of).next() else {
        return Ok(());
    };
    let vrrp_mac = l
        .mac
        .is_some_and(|m| m[..4] == [0, 0, 0x5e, 0] && matches!(m[4], 1 | 2));
    if !l.private_macvlan || !vrrp_mac {
        return Ok(());
    }
    handle
        .link()
        .del(l.index)
        .execute()
        .await
        .map_err(|e| anyhow!("deleting macvlan {name}: {e}"))
}

/// keepalived's sysctls (`vrrp_if_config.c`): on the macvlan of an IPv4
/// instance answer ARP only for its own addresses, take packets from local
/// sources, no reverse-path filter, keep secondaries, no IPv6; on the base,
/// leave the VIPs' ARP to the macvlan. And, where keepalived leaves the
/// host's own ARP requests carrying a VIP as sender with the base's MAC
/// (poisoning clients' caches), `arp_announce` 2 on the base.
pub fn set_sysctls(base: &str, vmac: &str, v6: bool) -> io::Result<()> {
    let conf = |dev: &str, key: &str, value: &str| {
        write_sysctl(&format!("/proc/sys/net/ipv4/conf/{dev}/{key}"), value)
    };
    if !v6 {
        for (key, value) in [
            ("arp_ignore", "1"),
            ("accept_local", "1"),
            ("rp_filter", "0"),
            ("promote_secondaries", "1"),
        ] {
            conf(vmac, key, value)?;
        }
        let _ = write_sysctl(&format!("/proc/sys/net/ipv6/conf/{vmac}/disable_ipv6"), "1");
    }
    // ARP is IPv4's: an IPv6 instance leaves the base's settings alone.
    if !v6 {
        conf(base, "arp_ignore", "1")?;
        conf(base, "arp_filter", "1")?;
        super::sys::arp_announce_best_local(base)?;
    }
    Ok(())
}

fn write_sysctl(path: &str, value: &str) -> io::Result<()> {
    if path.contains("..") {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad interface name"));
    }
    std::fs::write(path, value).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
}

/// `net.ipv4.conf.all.rp_filter` 1 (strict) is the maximum with every
/// interface's: the macvlan would drop clients' packets whose way back
/// leaves by the base. keepalived lowers `all` and raises every interface's;
/// xvrrp says so instead of rewriting the host's policy.
pub fn strict_rp_filter() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv4/conf/all/rp_filter").is_ok_and(|v| v.trim() == "1")
}

/// The macvlans of a configuration, by instance name.
pub type Links = HashMap<String, Made>;

/// Makes (or adopts) the macvlan of every `use_vmac` instance of `config`
/// whose interface exists, at start and on each reload. One that cannot be
/// made is logged with its instance; the instance runs without it.
pub async fn prepare(handle: &Handle, config: &Config) -> Links {
    let mut out = Links::new();
    let wanted: Vec<_> = config.instances.iter().filter(|i| i.vmac.is_some()).collect();
    if wanted.is_empty() {
        return out;
    }
    let mut links = match links(handle).await {
        Ok(l) => l,
        Err(e) => {
            warn!("use_vmac: {e:#}");
            return out;
        }
    };
    if strict_rp_filter() {
        warn!(
            "use_vmac: net.ipv4.conf.all.rp_filter is 1 (strict): the kernel drops clients' packets on the macvlans; set it to 0 or 2 (keepalived rewrites it and every interface's; xvrrp leaves the host's policy to you)"
        );
    }
    let mut taken = Vec::new();
    for cfg in wanted {
        let (Some(base), Some(name)) = (cfg.interface.as_deref(), cfg.vmac.as_deref()) else {
            continue;
        };
        // A missing interface: the instance waits for it.
        let Ok(base_index) = super::sys::ifindex(base) else {
            continue;
        };
        let v6 = cfg.family == Family::Ipv6;
        let want = Want {
            name,
            base: base_index,
            vrid: cfg.vrid,
            v6,
            mac: if v6 {
                virtual_mac_v6(cfg.vrid)
            } else {
                virtual_mac_v4(cfg.vrid)
            },
        };
        let made = match ensure(handle, &want, &mut links, &taken).await {
            Ok(m) => m,
            Err(e) => {
                warn!(instance = %cfg.name, "use_vmac: {e:#}; running without the macvlan");
                continue;
            }
        };
        if made.name != name {
            let why = if made.adopted {
                "a macvlan with the virtual MAC exists already"
            } else {
                "another interface has that name"
            };
            warn!(instance = %cfg.name, "use_vmac {name}: {why}; using {}", made.name);
        }
        info!(instance = %cfg.name, link = %made.name, adopted = made.adopted, "use_vmac: macvlan ready");
        if let Err(e) = set_sysctls(base, &made.name, v6) {
            warn!(instance = %cfg.name, "use_vmac: {e}");
        }
        taken.push(made.name.clone());
        out.insert(cfg.name.to_string(), made);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(index: u32, name: &str) -> Link {
        Link {
            index,
            name: name.into(),
            base: None,
            mac: None,
            private_macvlan: false,
        }
    }

    fn want(name: &str, v6: bool) -> Want<'_> {
        Want {
            name,
            base: 2,
            vrid: 51,
            v6,
            mac: [0, 0, 0x5e, 0, if v6 { 2 } else { 1 }, 51],
        }
    }

    #[allow(clippy::unnecessary_wraps)]
    fn create(name: &str) -> Option<Plan> {
        Some(Plan::Create { name: name.into() })
    }

    #[test]
    fn the_configured_name_when_free() {
        assert_eq!(
            plan(&want("vrrp.51", false), &[link(2, "eth0")], &[]),
            create("vrrp.51")
        );
        assert_eq!(
            plan(&want("vb51", false), &[link(2, "eth0")], &[]),
            create("vb51")
        );
    }

    #[test]
    fn a_taken_name_falls_back_to_keepalived_sequence() {
        // keepalived lab: a veth called vrrp.51 made both `use_vmac` and
        // `use_vmac vrrp.51` create vrrp1.51.
        let links = [link(2, "eth0"), link(3, "vrrp.51")];
        assert_eq!(plan(&want("vrrp.51", false), &links, &[]), create("vrrp1.51"));
        // IPv6 tries vrrp6.VRID before vrrp1.VRID.
        assert_eq!(plan(&want("vrrp.51", true), &links, &[]), create("vrrp6.51"));
        // A name another instance chose in the same pass is taken too.
        let taken = ["vrrp.51".to_owned()];
        assert_eq!(
            plan(&want("vrrp.51", true), &[link(2, "eth0")], &taken),
            create("vrrp6.51")
        );
    }

    #[test]
    fn a_matching_private_macvlan_is_adopted_whatever_its_name() {
        let mut m = link(7, "vrrp.51");
        m.base = Some(2);
        m.mac = Some([0, 0, 0x5e, 0, 1, 51]);
        m.private_macvlan = true;
        let adopt = Some(Plan::Adopt {
            index: 7,
            name: "vrrp.51".into(),
        });
        assert_eq!(
            plan(&want("vb51", false), &[link(2, "eth0"), m.clone()], &[]),
            adopt
        );
        // Another base, another MAC or another mode: not ours, and its name is taken.
        for change in 0..3 {
            let mut other = m.clone();
            match change {
                0 => other.base = Some(9),
                1 => other.mac = Some([0, 0, 0x5e, 0, 1, 52]),
                _ => other.private_macvlan = false,
            }
            assert_eq!(plan(&want("vrrp.51", false), &[other], &[]), create("vrrp1.51"));
        }
    }

    #[test]
    fn names_longer_than_ifnamsiz_are_skipped() {
        assert_eq!(
            plan(&want("a-very-long-name-xx", false), &[], &[]),
            create("vrrp.51")
        );
    }
}
