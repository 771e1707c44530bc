//! Addresses, routes and rules someone else deletes, as keepalived 2.2.7
//! handles them (`keepalived_netlink.c` on RTM_DELADDR, and RTM_DELROUTE /
//! RTM_DELRULE with its protocol 18): a master whose VIP or tracked
//! `virtual_routes` / `virtual_rules` entry goes leaves MASTER with a
//! priority-0 advert and contends again after the skew time
//! (`Event::RouteLost`, keepalived `set_vrrp_backup`), so everything is
//! installed afresh; a deleted static address, route or rule is put back.

use std::{collections::HashMap, net::IpAddr};

use super::{Engine, Job, State, monotonic_us, warn};
use crate::{
    config::model::{VirtualAddress, VirtualRoute, VirtualRule},
    net::{
        monitor::Deleted,
        routes::{route_message, rule_message, same_route, same_rule},
    },
    vrrp::fsm::Event,
};

/// How long the notification of an instance's own removal is waited for
/// (it may arrive after the instance became master again: with priority
/// 254 that is 8 ms later). A removal of something already gone causes no
/// notification: its key expires.
const OWN_REMOVALS_US: u64 = 5_000_000;

pub(super) fn vip_key(ifindex: u32, addr: IpAddr) -> String {
    format!("vip {ifindex} {addr}")
}

pub(super) fn route_key(r: &VirtualRoute) -> String {
    format!("route {}", r.text)
}

pub(super) fn rule_key(r: &VirtualRule) -> String {
    format!("rule {}", r.text)
}

/// keepalived tracks a route with a `dev` and without `no_track`.
fn tracked_route(r: &VirtualRoute) -> bool {
    !r.no_track && r.dev.is_some()
}

fn route_matches(r: &VirtualRoute, d: &Deleted) -> bool {
    let Deleted::Route(deleted) = d else { return false };
    let oif = r.dev.as_deref().and_then(|d| crate::net::sys::ifindex(d).ok());
    route_message(r, oif).is_ok_and(|ours| same_route(&ours, deleted))
}

fn rule_matches(r: &VirtualRule, d: &Deleted) -> bool {
    let Deleted::Rule(deleted) = d else { return false };
    same_rule(&rule_message(r), deleted)
}

fn address_matches(a: &VirtualAddress, d: &Deleted) -> bool {
    let Deleted::Address { ifindex, addr } = d else {
        return false;
    };
    a.addr == *addr
        && a.dev
            .as_deref()
            .and_then(|dev| crate::net::sys::ifindex(dev).ok())
            == Some(*ifindex)
}

/// Which instance a deletion can concern, built once per change of the
/// instances (a deletion must not cost a pass over thousands of them).
#[derive(Default)]
pub struct Watch {
    /// (interface index, address) of every VIP.
    vips: HashMap<(u32, IpAddr), usize>,
    /// Instances with a tracked route or rule.
    routed: Vec<usize>,
}

impl Engine {
    /// Whether deletions matter: anything installed at all.
    pub fn watches_deletions(&self) -> bool {
        let c = &self.config;
        !self.instances.is_empty()
            || !c.static_addresses.is_empty()
            || !c.static_routes.is_empty()
            || !c.static_rules.is_empty()
    }

    fn watch(&mut self) -> &Watch {
        if self.watch.is_none() {
            let mut w = Watch::default();
            for idx in self.instances.indices() {
                let s = &self.instances[idx];
                for (ifindex, vip) in s.all_vips() {
                    w.vips.insert((*ifindex, vip.addr), idx);
                }
                if s.cfg.routes.iter().any(tracked_route) || s.cfg.rules.iter().any(|r| !r.no_track) {
                    w.routed.push(idx);
                }
            }
            self.watch = Some(w);
        }
        self.watch.get_or_insert_default()
    }

    /// What a deletion means for instance `idx`: the VIP or tracked entry
    /// a master lost, or `None` (not a master's, or its own removal).
    fn lost_by(&mut self, idx: usize, d: &Deleted, now: u64) -> Option<String> {
        let slot = self.instances.get(idx)?;
        let cfg = &slot.cfg;
        let (key, what) = match d {
            Deleted::Address { ifindex, addr } => (vip_key(*ifindex, *addr), format!("VIP {addr}")),
            _ => cfg
                .routes
                .iter()
                .find(|r| tracked_route(r) && route_matches(r, d))
                .map(|r| (route_key(r), format!("virtual route {}", r.text)))
                .or_else(|| {
                    cfg.rules
                        .iter()
                        .find(|r| !r.no_track && rule_matches(r, d))
                        .map(|r| (rule_key(r), format!("virtual rule {}", r.text)))
                })?,
        };
        let master = slot.fsm.vars.state == State::Master;
        self.own_removals
            .retain(|_, at| now.saturating_sub(*at) < OWN_REMOVALS_US);
        let own = self.own_removals.remove(&key).is_some();
        (master && !own).then_some(what)
    }

    /// Records removals this daemon asks for (`vip_key`, `route_key`,
    /// `rule_key`): the kernel's notifications of them are not someone
    /// else's doing, whichever instance holds the entry by then.
    pub(super) fn expect_removals(&mut self, keys: Vec<String>) {
        let now = monotonic_us();
        self.own_removals.extend(keys.into_iter().map(|k| (k, now)));
    }

    pub fn on_deleted(&mut self, d: &Deleted) {
        let now = monotonic_us();
        let candidates: Vec<usize> = match d {
            Deleted::Address { ifindex, addr } => self
                .watch()
                .vips
                .get(&(*ifindex, *addr))
                .copied()
                .into_iter()
                .collect(),
            _ => self.watch().routed.clone(),
        };
        let lost: Vec<(usize, String)> = candidates
            .into_iter()
            .filter_map(|idx| self.lost_by(idx, d, now).map(|what| (idx, what)))
            .collect();
        for (idx, what) in lost {
            warn!(
                instance = %self.instances[idx].cfg.name,
                "{what} was deleted by someone else: leaving MASTER with priority 0 to install everything again (as keepalived)"
            );
            self.deliver(idx, Event::RouteLost, now, "tracked address or route deleted");
        }
        let c = &self.config;
        let addresses: Vec<VirtualAddress> = c
            .static_addresses
            .iter()
            .filter(|a| address_matches(a, d))
            .cloned()
            .collect();
        let routes: Vec<VirtualRoute> = c
            .static_routes
            .iter()
            .filter(|r| !r.no_track && route_matches(r, d))
            .cloned()
            .collect();
        let rules: Vec<VirtualRule> = c
            .static_rules
            .iter()
            .filter(|r| !r.no_track && rule_matches(r, d))
            .cloned()
            .collect();
        let texts = addresses
            .iter()
            .map(|a| a.addr.to_string())
            .chain(routes.iter().map(|r| r.text.clone()))
            .chain(rules.iter().map(|r| r.text.clone()));
        for text in texts {
            warn!("static entry {text} was deleted by someone else: restoring it (as keepalived)");
        }
        if !addresses.is_empty() || !routes.is_empty() || !rules.is_empty() {
            self.side.send(Job::Static {
                addresses,
                routes,
                rules,
                add: true,
            });
        }
        self.flush();
    }
}
