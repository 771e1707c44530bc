//! The side thread's address and route jobs: VIPs added and removed for
//! the engine, a resuming start's adoption, a start's removal of VIPs a
//! previous run left, virtual routes and rules.

use std::net::IpAddr;

use tracing::{info, warn};

use super::{VipsDone, Worker};
use crate::{
    config::model::VirtualAddress,
    net::addr::{Installed, Kind},
};

/// VIPs to install for several instances in one job. A mass transition
/// makes thousands of masters in one batch of events: a job, an address
/// list and a report for each were 1.5 MB of the daemon's peak at 16,000.
#[derive(Default)]
pub struct AddBatch {
    /// (instance, ticket, how many of `vips` are its), in order.
    instances: Vec<(u32, u32, u32)>,
    /// Every instance's (interface index, VIP), in the order of `instances`.
    vips: Vec<(u32, VirtualAddress)>,
    /// `use_vmac`: (instance, (interface index, name, virtual MAC)) to let
    /// through the device's unicast filter, with `arp_announce` set to 2.
    vmacs: Vec<(u32, Vmac)>,
}

/// `use_vmac`'s (interface index, interface name, virtual MAC).
pub type Vmac = (u32, String, [u8; 6]);

/// Instances a report covers: the first of a batch hear of their VIPs
/// without waiting for the rest (their gratuitous ARPs wait for it).
const REPORT_EVERY: usize = 8;

impl AddBatch {
    /// Adds instance `idx`'s VIPs, answered with its `ticket`.
    pub fn push(
        &mut self,
        idx: usize,
        ticket: u32,
        vips: impl IntoIterator<Item = (u32, VirtualAddress)>,
        vmac: Option<Vmac>,
    ) {
        let idx = crate::daemon::instances::key32(idx);
        let before = self.vips.len();
        self.vips.extend(vips);
        let count = u32::try_from(self.vips.len() - before).unwrap_or(u32::MAX);
        self.instances.push((idx, ticket, count));
        if let Some(v) = vmac {
            self.vmacs.push((idx, v));
        }
    }

    /// Instances in the batch.
    pub fn len(&self) -> usize {
        self.instances.len()
    }

    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// Each instance's (index, ticket, virtual MAC, VIPs), in order.
    fn each(self) -> impl Iterator<Item = (u32, u32, Option<Vmac>, Vec<(u32, VirtualAddress)>)> {
        let AddBatch {
            instances,
            vips,
            vmacs,
        } = self;
        let mut vips = vips.into_iter();
        let mut vmacs = vmacs.into_iter().peekable();
        instances.into_iter().map(move |(idx, ticket, count)| {
            let vmac = vmacs.next_if(|(i, _)| *i == idx).map(|(_, v)| v);
            (idx, ticket, vmac, vips.by_ref().take(count as usize).collect())
        })
    }
}

impl Worker {
    pub(super) async fn add_vips(&mut self, batch: AddBatch) {
        // Progress for `Side::finish`'s stall bound, one step per address.
        let step = self.jobs_done.clone();
        let mut done = VipsDone::default();
        for (n, (idx, ticket, vmac, mine)) in batch.each().enumerate() {
            if let Some(addrs) = self.addrs() {
                if let Some((ifindex, ifname, mac)) = vmac {
                    addrs.add_unicast_filter(ifindex, mac).await;
                    // The host's own ARP requests (to reach a client) carry
                    // the interface MAC: sent from a VIP they would tie the
                    // VIP to that MAC in every cache that hears them. From
                    // the primary address they leave the virtual MAC alone
                    // (keepalived's macvlan gets its own sysctls for the
                    // same reason).
                    match crate::net::sys::arp_announce_best_local(&ifname) {
                        Ok(true) => info!(interface = %ifname, "use_vmac: arp_announce set to 2"),
                        Ok(false) => {}
                        Err(e) => warn!(interface = %ifname, "use_vmac: cannot set arp_announce: {e}"),
                    }
                }
                for (ifindex, vip) in mine {
                    step.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    match addrs.add(ifindex, &vip, Kind::Vip).await {
                        Ok(true) => done.changed = true,
                        Ok(false) => {}
                        Err(e) => warn!("{e:#}"),
                    }
                }
            }
            done.tickets.push((idx, ticket));
            if (n + 1) % REPORT_EVERY == 0 {
                self.report(std::mem::take(&mut done));
            }
        }
        if !done.tickets.is_empty() {
            self.report(done);
        }
    }

    pub(super) async fn remove_vips(
        &mut self,
        vips: Vec<(u32, VirtualAddress)>,
        vmac: Option<(u32, [u8; 6])>,
    ) {
        let mut changed = false;
        // Progress for `Side::finish`'s stall bound, one step per address.
        let step = self.jobs_done.clone();
        if let Some(addrs) = self.addrs() {
            if let Some((ifindex, mac)) = vmac {
                addrs.remove_unicast_filter(ifindex, mac).await;
            }
            for (ifindex, vip) in vips {
                step.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match addrs.remove(ifindex, &vip, Kind::Vip).await {
                    Ok(true) => changed = true,
                    Ok(false) => {}
                    Err(e) => {
                        // No longer ours either way (the kernel refused to
                        // remove it: an operator changed it meanwhile).
                        changed = true;
                        warn!("{e:#}");
                    }
                }
            }
        }
        self.report(VipsDone {
            changed,
            ..VipsDone::default()
        });
    }

    /// A resuming start: the engine marked `vips` ours before sending this
    /// (so a master that steps down before the dump expects their removal,
    /// and the record lists them); those absent (deleted while no daemon
    /// ran) are ours no more and left to their master to add: kept, they
    /// would count as installed and never be added.
    pub(super) async fn adopt(&mut self, vips: Vec<(u32, VirtualAddress)>) {
        let Some(addrs) = self.addrs() else {
            // No rtnetlink: none is known to be there. Marked ours, a later
            // add (rtnetlink back) would skip the missing ones.
            for (ifindex, vip) in &vips {
                self.vips.remove(&Installed::of(*ifindex, vip));
            }
            self.report(VipsDone {
                changed: true,
                ..VipsDone::default()
            });
            return;
        };
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
                .is_some_and(|p| !p.contains(&(*ifindex, vip.addr, vip.prefix)))
            {
                addrs.vips().remove(&Installed::of(*ifindex, vip));
            }
        }
        // The record is rebuilt with them (the engine took none as ours).
        self.report(VipsDone {
            changed: true,
            ..VipsDone::default()
        });
    }

    /// Which of the addresses this daemon added, and of `statics`, the
    /// kernel no longer lists: absent from two dumps in a row (a dump that a
    /// concurrent change interrupts can skip entries, and a VIP wrongly
    /// taken for deleted makes its master step down). Empty on an error.
    pub(super) async fn vanished(&mut self, statics: Vec<(u32, IpAddr)>) -> Vec<(u32, IpAddr)> {
        let Some(addrs) = self.addrs() else {
            return Vec::new();
        };
        let mut gone: Vec<(u32, IpAddr)> = addrs.ours();
        gone.extend(statics);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn vip(addr: &str) -> VirtualAddress {
        VirtualAddress::new(addr.parse().expect("an address"), 32)
    }

    #[test]
    fn a_batch_gives_each_instance_its_own_addresses_and_mac() {
        let mut b = AddBatch::default();
        b.push(7, 1, [(2, vip("10.0.0.1")), (3, vip("10.0.0.2"))], None);
        // An instance with nothing to add still gets its answer.
        b.push(9, 2, [], Some((4, "eth1".to_owned(), [2; 6])));
        b.push(3, 5, [(2, vip("10.0.0.3"))], Some((2, "eth0".to_owned(), [1; 6])));
        assert_eq!(b.len(), 3);
        let got: Vec<_> = b
            .each()
            .map(|(idx, ticket, vmac, vips)| {
                let addrs: Vec<_> = vips.iter().map(|(i, v)| (*i, v.addr.to_string())).collect();
                (idx, ticket, vmac.map(|v| v.1), addrs)
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    7,
                    1,
                    None,
                    vec![(2, "10.0.0.1".to_owned()), (3, "10.0.0.2".to_owned())]
                ),
                (9, 2, Some("eth1".to_owned()), vec![]),
                (3, 5, Some("eth0".to_owned()), vec![(2, "10.0.0.3".to_owned())]),
            ]
        );
    }
}
