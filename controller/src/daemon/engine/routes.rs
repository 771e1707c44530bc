//! Addresses, routes and rules someone else deletes, as keepalived 2.2.7
//! handles them (`keepalived_netlink.c` on RTM_DELADDR, and RTM_DELROUTE /
//! RTM_DELRULE with its protocol 18): a master whose VIP or tracked
//! `virtual_routes` / `virtual_rules` entry goes leaves MASTER with a
//! priority-0 advert and contends again after the skew time
//! (`Event::RouteLost`, keepalived `set_vrrp_backup`), so everything is
//! installed afresh; a deleted static address, route or rule is put back.

use std::{collections::HashMap, net::IpAddr};

use rtnetlink::packet_route::{route::RouteMessage, rule::RuleMessage};

use super::{Engine, Job, State, info, monotonic_us, warn};
use crate::{
    config::model::{VirtualAddress, VirtualRoute, VirtualRule},
    net::{
        monitor::Deleted,
        routes::{route_message, rule_message, same_route, same_rule},
    },
    vrrp::fsm::Event,
};

/// How long the notice of the daemon's own removal is waited for (it may
/// arrive after the instance became master again, with priority 254 8 ms
/// later, or long after a mass transition queued thousands of jobs). A
/// removal of something already gone causes none: its key expires.
const OWN_REMOVALS_US: u64 = 10_000_000;

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

/// The keys of the tracked entries among `routes` and `rules`, for
/// `expect_removals` when this daemon removes them: only tracked entries are
/// looked for in the kernel's notices.
pub(super) fn removal_keys<'a>(
    routes: impl IntoIterator<Item = &'a VirtualRoute>,
    rules: impl IntoIterator<Item = &'a VirtualRule>,
) -> Vec<String> {
    routes
        .into_iter()
        .filter(|r| tracked_route(r))
        .map(route_key)
        .chain(rules.into_iter().filter(|r| !r.no_track).map(rule_key))
        .collect()
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

/// A tracked entry of an instance, as the kernel would report its deletion.
struct Entry {
    idx: usize,
    key: String,
    what: String,
    msg: Message,
}

enum Message {
    Route(RouteMessage),
    Rule(RuleMessage),
}

impl Entry {
    fn matches(&self, d: &Deleted) -> bool {
        match (&self.msg, d) {
            (Message::Route(ours), Deleted::Route(deleted)) => same_route(ours, deleted),
            (Message::Rule(ours), Deleted::Rule(deleted)) => same_rule(ours, deleted),
            _ => false,
        }
    }
}

/// Which instance a deletion can concern, built once per change of the
/// instances (a deletion must not cost a pass over thousands of them, nor
/// an interface lookup per entry).
#[derive(Default)]
pub struct Watch {
    /// (interface index, address) of every VIP.
    vips: HashMap<(u32, IpAddr), usize>,
    /// Every tracked route and rule.
    entries: Vec<Entry>,
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

    /// Whether route and rule deletions matter: a tracked virtual route or
    /// rule, or a static one.
    pub fn watches_routes(&self) -> bool {
        let c = &self.config;
        self.instances
            .values()
            .any(|s| s.cfg.routes.iter().any(tracked_route) || s.cfg.rules.iter().any(|r| !r.no_track))
            || c.static_routes.iter().any(|r| !r.no_track)
            || c.static_rules.iter().any(|r| !r.no_track)
    }

    fn watch(&mut self) -> &Watch {
        if self.watch.is_none() {
            let mut w = Watch::default();
            for idx in self.instances.indices() {
                let s = &self.instances[idx];
                for (ifindex, vip) in s.all_vips() {
                    w.vips.insert((ifindex, vip.addr), idx);
                }
                for r in s.cfg.routes.iter().filter(|r| tracked_route(r)) {
                    let oif = r.dev.as_deref().and_then(|d| crate::net::sys::ifindex(d).ok());
                    if let Ok(msg) = route_message(r, oif) {
                        w.entries.push(Entry {
                            idx,
                            key: route_key(r),
                            what: format!("virtual route {}", r.text),
                            msg: Message::Route(msg),
                        });
                    }
                }
                for r in s.cfg.rules.iter().filter(|r| !r.no_track) {
                    w.entries.push(Entry {
                        idx,
                        key: rule_key(r),
                        what: format!("virtual rule {}", r.text),
                        msg: Message::Rule(rule_message(r)),
                    });
                }
            }
            self.watch = Some(w);
        }
        self.watch.get_or_insert_default()
    }

    /// Whether the deletion of `key` means instance `idx` (a master) lost
    /// it: not when it is the notice of this daemon's own removal.
    fn lost_by(&mut self, idx: usize, key: &str, now: u64) -> bool {
        self.own_removals
            .retain(|_, (_, at)| now.saturating_sub(*at) < OWN_REMOVALS_US);
        if let Some((count, _)) = self.own_removals.get_mut(key) {
            *count -= 1;
            if *count == 0 {
                self.own_removals.remove(key);
            }
            return false;
        }
        self.instances
            .get(idx)
            .is_some_and(|s| s.fsm.vars.state == State::Master)
    }

    /// Records removals this daemon asks for (`vip_key`, `route_key`,
    /// `rule_key`): the kernel's notice of each is not someone else's
    /// doing, whichever instance holds the entry by then.
    pub(super) fn expect_removals(&mut self, keys: Vec<String>) {
        let now = monotonic_us();
        for k in keys {
            let e = self.own_removals.entry(k).or_insert((0, now));
            e.0 += 1;
            e.1 = now;
        }
    }

    /// A removal that causes no notice (the entry is gone already).
    fn unexpect(&mut self, key: &str) {
        if let Some((count, _)) = self.own_removals.get_mut(key) {
            *count -= 1;
            if *count == 0 {
                self.own_removals.remove(key);
            }
        }
    }

    pub fn on_deleted(&mut self, d: &Deleted) {
        let now = monotonic_us();
        if let Deleted::Address { ifindex, addr } = d
            && self.pool.uses_source(*addr)
        {
            // Not chosen again (keepalived takes the interface's next address,
            // or FAULT): a restart chooses.
            self.pool.source_deleted(*addr);
            // Info: the daemon's own removal of a VIP that is a source
            // (`unicast_src_ip`) comes here at every transition too.
            info!(
                ifindex,
                source = %addr,
                "an advert source address was deleted: the kernel checks adverts from it again, refusing them while it is gone"
            );
        }
        let candidates: Vec<(usize, String, String)> = match d {
            Deleted::Address { ifindex, addr } => self
                .watch()
                .vips
                .get(&(*ifindex, *addr))
                .map(|idx| (*idx, vip_key(*ifindex, *addr), format!("VIP {addr}")))
                .into_iter()
                .collect(),
            _ => self
                .watch()
                .entries
                .iter()
                .filter(|e| e.matches(d))
                .map(|e| (e.idx, e.key.clone(), e.what.clone()))
                .collect(),
        };
        for (idx, key, what) in candidates {
            if !self.lost_by(idx, &key, now) {
                continue;
            }
            warn!(
                instance = %self.instances[idx].cfg.name,
                "{what} was deleted by someone else: leaving MASTER with priority 0 to install everything again (as keepalived)"
            );
            self.deliver(idx, Event::RouteLost, now, "tracked address or route deleted");
            // Its removal on leaving MASTER finds it gone: no notice comes.
            self.unexpect(&key);
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

    /// Notifications were lost (`Deleted::Lost`): asks the side thread which
    /// of the addresses this daemon installed, and of the static ones, the
    /// kernel no longer lists. The answer goes to `on_vanished`. Routes and
    /// rules are not re-read: one deleted in that moment goes unnoticed.
    pub fn ask_vanished(&mut self) -> tokio::sync::oneshot::Receiver<Vec<(u32, IpAddr)>> {
        let statics = self
            .config
            .static_addresses
            .iter()
            .filter_map(|a| Some((crate::net::sys::ifindex(a.dev.as_deref()?).ok()?, a.addr)))
            .collect();
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.side.send(Job::Vanished { statics, reply });
        answer
    }

    /// The addresses gone while notifications were lost: each is handled as
    /// the notice of its deletion would have been.
    pub fn on_vanished(&mut self, gone: Vec<(u32, IpAddr)>) {
        for (ifindex, addr) in gone {
            self.on_deleted(&Deleted::Address { ifindex, addr });
        }
    }
}
