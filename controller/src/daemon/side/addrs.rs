//! The side thread's address and route jobs: VIPs added and removed for
//! the engine, a resuming start's adoption, a start's removal of VIPs a
//! previous run left, virtual routes and rules.

use std::net::IpAddr;

use tracing::{info, warn};

use super::{VipsDone, Worker};
use crate::{config::model::VirtualAddress, net::addr::Installed};

impl Worker {
    pub(super) async fn add_vips(
        &mut self,
        idx: usize,
        ticket: u64,
        vips: Vec<(u32, VirtualAddress)>,
        vmac: Option<(u32, String, [u8; 6])>,
    ) {
        // Exact: a mass transition has thousands of these in flight at once.
        let mut added = Vec::with_capacity(vips.len());
        if let Some(addrs) = self.addrs() {
            if let Some((ifindex, ifname, mac)) = vmac {
                addrs.add_unicast_filter(ifindex, mac).await;
                // The host's own ARP requests (to reach a client) carry the
                // interface MAC: sent from a VIP they would tie the VIP to
                // that MAC in every cache that hears them. From the primary
                // address they leave the virtual MAC alone (keepalived's
                // macvlan gets its own sysctls for the same reason).
                match crate::net::sys::arp_announce_best_local(&ifname) {
                    Ok(true) => info!(interface = %ifname, "use_vmac: arp_announce set to 2"),
                    Ok(false) => {}
                    Err(e) => warn!(interface = %ifname, "use_vmac: cannot set arp_announce: {e}"),
                }
            }
            for (ifindex, vip) in vips {
                match addrs.add(ifindex, &vip).await {
                    Ok(true) => added.push(installed(ifindex, &vip)),
                    Ok(false) => {}
                    Err(e) => warn!("{e:#}"),
                }
            }
        }
        self.report(VipsDone {
            idx,
            ticket,
            added,
            removed: Vec::new(),
        });
    }

    pub(super) async fn remove_vips(
        &mut self,
        idx: usize,
        vips: Vec<(u32, VirtualAddress)>,
        vmac: Option<(u32, [u8; 6])>,
    ) {
        let mut removed = Vec::with_capacity(vips.len());
        // Progress for `Side::finish`'s stall bound, one step per address.
        let step = self.jobs_done.clone();
        if let Some(addrs) = self.addrs() {
            if let Some((ifindex, mac)) = vmac {
                addrs.remove_unicast_filter(ifindex, mac).await;
            }
            for (ifindex, vip) in vips {
                step.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match addrs.remove(ifindex, &vip).await {
                    Ok(true) => removed.push(installed(ifindex, &vip)),
                    Ok(false) => {}
                    Err(e) => {
                        // No longer ours either way (the kernel refused to
                        // remove it: an operator changed it meanwhile).
                        removed.push(installed(ifindex, &vip));
                        warn!("{e:#}");
                    }
                }
            }
        }
        self.report(VipsDone {
            idx,
            ticket: 0,
            added: Vec::new(),
            removed,
        });
    }

    /// A resuming start: the addresses present among `vips` become ours
    /// (removed when their master steps down). One absent (deleted while no
    /// daemon ran) is left to its master to add: adopted, it would count as
    /// installed and never be added.
    pub(super) async fn adopt(&mut self, vips: Vec<(u32, VirtualAddress)>) {
        let Some(addrs) = self.addrs() else { return };
        // Asked twice: a dump can be interrupted by a concurrent change.
        let mut listed = addrs.present().await;
        if listed.is_err() {
            listed = addrs.present().await;
        }
        let present: Option<std::collections::HashSet<(u32, IpAddr, u8)>> = match listed {
            Ok(p) => Some(p.into_iter().collect()),
            Err(e) => {
                warn!("cannot list the addresses to adopt, adopting the resumed masters' VIPs unseen: {e:#}");
                None
            }
        };
        for (ifindex, vip) in &vips {
            if present
                .as_ref()
                .is_none_or(|p| p.contains(&(*ifindex, vip.addr, vip.prefix)))
            {
                addrs.adopt(*ifindex, vip);
            }
        }
    }

    /// Which of the addresses this daemon added, and of `statics`, the
    /// kernel no longer lists: absent from two dumps in a row (a dump that a
    /// concurrent change interrupts can skip entries, and a VIP wrongly
    /// taken for deleted makes its master step down). Empty on an error.
    pub(super) async fn vanished(&mut self, statics: Vec<(u32, IpAddr)>) -> Vec<(u32, IpAddr)> {
        let Some(addrs) = self.addrs() else {
            return Vec::new();
        };
        let mut gone: Vec<(u32, IpAddr)> = addrs.ours().map(|i| (i.ifindex, i.addr)).chain(statics).collect();
        for _ in 0..2 {
            match addrs.present().await {
                Ok(listed) => {
                    let listed: std::collections::HashSet<(u32, IpAddr)> =
                        listed.into_iter().map(|(i, a, _)| (i, a)).collect();
                    gone.retain(|k| !listed.contains(k));
                }
                Err(e) => {
                    warn!(
                        "cannot list the addresses ({e:#}): VIPs deleted while notifications were lost go unnoticed"
                    );
                    return Vec::new();
                }
            }
        }
        gone.sort_unstable();
        gone.dedup();
        gone
    }

    /// keepalived's start (`vrrp_restore_interfaces_startup`): a configured
    /// VIP already on its interface, with its prefix, is a previous run's —
    /// a crash the record missed, keepalived before us — and is removed.
    /// Left alone it would stay on a backup for good: an address this run
    /// did not add is never this run's to remove.
    pub(super) async fn clear_stale(&mut self, vips: Vec<(u32, VirtualAddress)>) {
        let Some(addrs) = self.addrs() else { return };
        // Asked twice: a dump can be interrupted by a concurrent change.
        let mut present = addrs.present().await;
        if present.is_err() {
            present = addrs.present().await;
        }
        let present: std::collections::HashSet<(u32, IpAddr, u8)> = match present {
            Ok(p) => p.into_iter().collect(),
            Err(e) => {
                warn!("cannot look for VIPs a previous run left: {e:#}");
                return;
            }
        };
        let mut removed = 0_usize;
        for (ifindex, vip) in vips {
            if !present.contains(&(ifindex, vip.addr, vip.prefix)) {
                continue;
            }
            match addrs.remove_leftover(ifindex, vip.addr, vip.prefix).await {
                Ok(()) => {
                    info!(vip = %vip.addr, ifindex, "removed a VIP a previous run left");
                    removed += 1;
                }
                Err(e) => warn!("{e:#}"),
            }
        }
        if removed > 0 {
            warn!(
                removed,
                "removed configured VIPs a previous run left on their interfaces (as keepalived does at start)"
            );
        }
    }

    pub(super) async fn routes(
        &mut self,
        instance: &str,
        routes: &[crate::config::model::VirtualRoute],
        rules: &[crate::config::model::VirtualRule],
        add: bool,
    ) {
        use crate::net::routes as nl;
        let Some(addrs) = self.addrs() else { return };
        let handle = addrs.handle();
        let oif = |r: &crate::config::model::VirtualRoute| {
            r.dev.as_deref().and_then(|d| crate::net::sys::ifindex(d).ok())
        };
        if add {
            for r in routes {
                if let Err(e) = nl::add_route(&handle, r, oif(r)).await {
                    warn!(instance, "{e:#}");
                }
            }
            for r in rules {
                if let Err(e) = nl::add_rule(&handle, r).await {
                    warn!(instance, "{e:#}");
                }
            }
        } else {
            for r in rules {
                if let Err(e) = nl::remove_rule(&handle, r).await {
                    warn!(instance, "{e:#}");
                }
            }
            for r in routes {
                if let Err(e) = nl::remove_route(&handle, r, oif(r)).await {
                    warn!(instance, "{e:#}");
                }
            }
        }
    }
}

fn installed(ifindex: u32, vip: &VirtualAddress) -> Installed {
    Installed {
        ifindex,
        addr: vip.addr,
        prefix: vip.prefix,
    }
}
