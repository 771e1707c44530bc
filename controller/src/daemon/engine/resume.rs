//! The start of a run, fresh or resuming a crashed predecessor's masters
//! (crash-only, see `daemon::persist`), and the record a successor reads.

use std::net::IpAddr;

use super::{Engine, Job, Saved, Slot, State, VirtualAddress};
use crate::net::addr::Installed;
use crate::{net::sys::monotonic_us, vrrp::fsm::Event};

impl Engine {
    /// The configured VIPs already on their interfaces go, as keepalived's
    /// start removes them (`vrrp_restore_interfaces_startup`), before any
    /// instance can become master (the side thread runs its jobs in order):
    /// all of them, or when resuming all but those adopted (a VIP added in
    /// the moment before the crash that the record missed goes: it is not a
    /// resumed master's). Not an address owner's (priority 255: the VIP is
    /// the host's own address), nor a `static_ipaddress` (the static entry's:
    /// removed, it would come back with the statics a moment later, and a
    /// resumed master hearing the deletion would step down).
    pub fn clear_stale_vips(&self, resume: Option<&Saved>) {
        let mut kept = self.static_keys();
        kept.extend(
            resume
                .map(|s| self.adopted(s))
                .unwrap_or_default()
                .iter()
                .map(|(i, v)| (*i, v.addr, v.prefix)),
        );
        let vips = self
            .instances
            .values()
            .filter(|s| s.base_priority != 255)
            .flat_map(Slot::vips_owned)
            .filter(|(i, v)| !kept.contains(&(*i, v.addr, v.prefix)))
            .collect();
        self.side.send(Job::ClearStale(vips));
    }

    /// What a resuming start takes over: the VIPs of the masters it resumes,
    /// whatever the record lists (written at most every 50 ms, it may miss a
    /// master's newest VIP, or still list one a master that just stepped
    /// down was removing: that one goes, as its instance starts as backup).
    /// The side thread adopts those present; a resumed master adds the
    /// others. A priority-255 instance's VIPs only as the record lists them:
    /// one may be the host's own address, never the daemon's (an add that
    /// found it there never made it ours, so it is never recorded). Never a
    /// `static_ipaddress` (installed before, it is the static entry's: the
    /// master stepping down must not remove it).
    fn adopted(&self, saved: &Saved) -> Vec<(u32, VirtualAddress)> {
        let statics = self.static_keys();
        let recorded = |i: u32, v: &VirtualAddress| {
            saved
                .vips
                .iter()
                .any(|&(si, sa, sp)| si == i && sa == v.addr && sp == v.prefix)
        };
        let mut seen = std::collections::HashSet::new();
        let masters = saved.masters.set();
        self.instances
            .values()
            .filter(|s| masters.contains(&*s.cfg.name))
            .flat_map(|s| {
                let owner = s.base_priority == 255;
                s.all_vips()
                    .filter(move |(i, v)| !owner || recorded(*i, v))
                    .map(|(i, v)| (i, v.clone()))
            })
            .filter(|(i, v)| !statics.contains(&(*i, v.addr, v.prefix)))
            .filter(|(i, v)| seen.insert((*i, v.addr, v.prefix)))
            .collect()
    }

    /// The configured `static_ipaddress` entries: (interface index, address,
    /// prefix); one whose `dev` is missing is never installed.
    fn static_keys(&self) -> std::collections::HashSet<(u32, IpAddr, u8)> {
        self.config
            .static_addresses
            .iter()
            .filter_map(|v| {
                let dev = v.dev.as_deref()?;
                Some((crate::net::sys::ifindex(dev).ok()?, v.addr, v.prefix))
            })
            .collect()
    }

    /// Starts every instance: `Startup`, or `ResumeMaster` for those a
    /// crashed predecessor left as master (their VIPs are adopted as ours).
    /// `resumed_only` (a stop came during start-up): only those, so that the
    /// shutdown that follows hands them over; the rest stay in INIT.
    pub fn start_all(&mut self, resume: Option<&Saved>, resumed_only: bool) {
        let now = monotonic_us();
        if let Some(saved) = resume {
            // Ours at once (a master that steps down before the side thread
            // looks expects their removal; the record lists them); the side
            // thread drops those the kernel does not list, before the
            // resumed masters' adds (which then add them), and says so.
            let vips = self.adopted(saved);
            self.side
                .vips()
                .insert_all(vips.iter().map(|(ifindex, v)| Installed::of(*ifindex, v)));
            self.installed_changes += 1;
            self.side.send(Job::Adopt(vips));
        }
        // A set: a list searched per instance was quadratic (16,000 masters
        // resumed: 128 million name comparisons).
        let masters = resume.map(|s| s.masters.set()).unwrap_or_default();
        for idx in self.instances.indices() {
            let was_master = masters.contains(&*self.instances[idx].cfg.name);
            if was_master {
                self.deliver(
                    idx,
                    Event::ResumeMaster,
                    now,
                    "resumed after a controller restart",
                );
            } else if !resumed_only {
                self.deliver(idx, Event::Startup, now, "startup");
            }
        }
        self.flush();
    }

    /// Moves whenever what `saved` records may have changed (a transition, an
    /// address added or removed, an instance added or removed): the event
    /// loop rebuilds the record only then.
    pub fn saved_generation(&self) -> (u64, u64, usize) {
        (
            self.transitions_total,
            self.installed_changes,
            self.instances.len(),
        )
    }

    /// Moves whenever an instance leaves MASTER: the event loop saves the
    /// record within 5 ms then, not 50 (see `SAVE_SOON_US`).
    pub fn masters_left(&self) -> u64 {
        self.masters_left
    }

    /// What a successor needs to adopt this run (see `persist`).
    /// Its addresses include those being added (a kill before the side
    /// thread reports them must not hide them from the next start). The
    /// record is written at most every 50 ms, after the add: a kill within
    /// that window leaves a VIP only the next start's configuration finds
    /// (`clear_stale_vips`).
    pub fn saved(&self, fingerprint: &str, pin_dir: &std::path::Path) -> Saved {
        let vips = self.installed_or_pending();
        let masters = || {
            self.instances
                .values()
                .filter(|s| s.fsm.vars.state == State::Master)
        };
        let mut links: Vec<String> = self.vmac_links.values().map(|m| m.name.clone()).collect();
        links.sort();
        Saved {
            fingerprint: fingerprint.to_owned(),
            pin_dir: pin_dir.to_owned(),
            masters: masters().map(|s| &*s.cfg.name).collect(),
            vips,
            routes: masters().flat_map(|s| s.cfg.routes.clone()).collect(),
            rules: masters().flat_map(|s| s.cfg.rules.clone()).collect(),
            links,
        }
    }
}
