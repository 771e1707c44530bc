//! Routes and rules someone else deletes, as keepalived 2.2.7 handles them
//! (`vrrp_netlink.c` on RTM_DELROUTE / RTM_DELRULE with its protocol 18): a
//! master whose tracked `virtual_routes` / `virtual_rules` entry goes leaves
//! MASTER with a priority-0 advert and contends again after the skew time
//! (`Event::RouteLost`), so everything is installed afresh; a deleted
//! `static_routes` / `static_rules` entry is put back.

use super::{Engine, Job, State, monotonic_us, warn};
use crate::{
    config::model::{VirtualRoute, VirtualRule},
    net::{
        monitor::Deleted,
        routes::{route_message, rule_message, same_route, same_rule},
    },
    vrrp::fsm::Event,
};

/// How long after removing its own routes an instance ignores their
/// deletions (the kernel's notifications of what it removed itself may
/// arrive after it became master again).
const OWN_REMOVALS_US: u64 = 2_000_000;

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

impl Engine {
    /// Whether deletions matter: a tracked virtual route or rule, or a
    /// static one (protocol 18).
    pub fn watches_routes(&self) -> bool {
        let c = &self.config;
        self.instances
            .values()
            .any(|s| s.cfg.routes.iter().any(tracked_route) || s.cfg.rules.iter().any(|r| !r.no_track))
            || c.static_routes.iter().any(|r| !r.no_track)
            || c.static_rules.iter().any(|r| !r.no_track)
    }

    pub fn on_deleted(&mut self, d: &Deleted) {
        let now = monotonic_us();
        let mut lost = Vec::new();
        for idx in self.instances.indices() {
            let slot = &self.instances[idx];
            if slot.fsm.vars.state != State::Master
                || slot
                    .routes_removed_at
                    .is_some_and(|t| now.saturating_sub(t) < OWN_REMOVALS_US)
            {
                continue;
            }
            let cfg = &slot.cfg;
            let what = cfg
                .routes
                .iter()
                .find(|r| tracked_route(r) && route_matches(r, d))
                .map(|r| format!("virtual route {}", r.text))
                .or_else(|| {
                    cfg.rules
                        .iter()
                        .find(|r| !r.no_track && rule_matches(r, d))
                        .map(|r| format!("virtual rule {}", r.text))
                });
            if let Some(what) = what {
                lost.push((idx, what));
            }
        }
        for (idx, what) in lost {
            warn!(
                instance = %self.instances[idx].cfg.name,
                "{what} was deleted by someone else: leaving MASTER with priority 0 to install everything again (as keepalived)"
            );
            self.deliver(idx, Event::RouteLost, now, "tracked route deleted");
        }
        let c = &self.config;
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
        for text in routes
            .iter()
            .map(|r| &r.text)
            .chain(rules.iter().map(|r| &r.text))
        {
            warn!("static entry {text} was deleted by someone else: restoring it (as keepalived)");
        }
        if !routes.is_empty() || !rules.is_empty() {
            self.side.send(Job::Static {
                addresses: Vec::new(),
                routes,
                rules,
                add: true,
            });
        }
        self.flush();
    }
}
