//! Tracked scripts and interfaces, through the pure policy in
//! `vrrp::track`, become effective priorities and faults.

use super::{Engine, Event, HashMap, LinkState, TrackEvent, iface, info, monotonic_us, track};

impl Engine {
    /// Recomputes health (scripts, interfaces) into priority and fault. A
    /// `vrrp_sync_group` is in FAULT while any member is (keepalived's rule).
    pub fn on_health_change(&mut self) {
        // One reading of the links for both passes below: an interface the
        // last poll did not cover (start-up, instances added since) would
        // be read live in each, and a flap between them would name a
        // member faulted by its own group, or fault it alone.
        if self.watched.is_none() {
            self.refresh_links();
        }
        self.rebind_recreated_interfaces();
        let now = monotonic_us();
        // Two passes that keep nothing per instance (`track::GroupFaults`):
        // the groups' faults from every grouped member, then each
        // instance's verdict, computed again (it reads only the tracked
        // objects' last readings, which delivering the verdicts does not
        // change).
        let mut groups = track::GroupFaults::default();
        for (i, slot) in self.instances.iter() {
            if slot.cfg.sync_group.is_some() {
                let own = self.health(i);
                groups.add(&member(&slot.cfg, own.fault.as_deref(), false));
            }
        }
        // Running members first, then the waiting ones (in FAULT too).
        for w in &self.instances.waiting {
            groups.add(&member(&w.cfg, Some(&w.why), true));
        }
        for idx in 0..self.instances.capacity_used() {
            let Some(slot) = self.instances.get(idx) else {
                // A free entry; a sync-group follower's transition cannot
                // remove an instance, but the registry is the authority.
                continue;
            };
            let own = self.health(idx);
            let fault = groups.fault_of(&member(&slot.cfg, own.fault.as_deref(), false));
            let priority = own.priority;
            let faulted = self.instances[idx].fault.is_some();
            match fault {
                Some(why) if !faulted => {
                    self.instances[idx].fault = Some(why.as_str().into());
                    self.deliver(idx, Event::FaultSet, now, &why);
                }
                Some(why) if self.instances[idx].fault.as_deref() != Some(why.as_str()) => {
                    self.instances[idx].fault = Some(why.into());
                }
                Some(_) => {}
                None if faulted => {
                    self.instances[idx].fault = None;
                    self.deliver(idx, Event::FaultCleared, now, "health restored");
                }
                _ => {}
            }
            if priority != self.instances[idx].fsm.vars.priority {
                info!(instance = %self.instances[idx].cfg.name, priority, "effective priority changed");
                self.deliver(idx, Event::PriorityChanged(priority), now, "priority change");
                self.priority_changed(idx);
            }
        }
        self.flush();
    }

    /// Tracked files and processes with no reading yet.
    pub fn trackers_unread(&self) -> usize {
        let files = self
            .config
            .track_files
            .iter()
            .filter(|f| !self.file_values.contains_key(&f.name));
        let processes = self
            .config
            .track_processes
            .iter()
            .filter(|p| !self.process_up.contains_key(&p.name));
        files.count() + processes.count()
    }

    /// What a health check, a tracked file or a tracked process says now.
    pub fn on_track(&mut self, ev: TrackEvent) {
        match ev {
            TrackEvent::Script { name, ok } => {
                for slot in self.instances.values_mut() {
                    if slot.cfg.track_scripts.iter().any(|t| t.name == name) {
                        match slot.script_ok.iter_mut().find(|(n, _)| *n == name) {
                            Some(said) => said.1 = ok,
                            None => slot.script_ok.push((name.clone(), ok)),
                        }
                    }
                }
            }
            TrackEvent::File { name, value } => {
                if self.file_values.insert(name, value) == Some(value) {
                    return;
                }
            }
            TrackEvent::Process { name, up } => {
                if self.process_up.insert(name, up) == Some(up) {
                    return;
                }
            }
        }
        self.on_health_change();
    }

    /// Link state from the last poll (read now for an interface not seen yet).
    pub(super) fn link_up(&self, name: &str) -> bool {
        self.links
            .get(name)
            .map_or_else(|| iface::link_up(name), |l| l.up)
    }

    /// Reads every interface's state once; true when anything changed since
    /// the last poll (only then is every instance's health recomputed).
    pub(super) fn refresh_links(&mut self) -> bool {
        if self.watched.is_none() {
            // A set of borrowed names: thousands of instances share a few
            // interfaces (a name copied per instance was 16,000 strings).
            let mut names = std::collections::BTreeSet::new();
            for slot in self.instances.values() {
                names.insert(slot.ifname());
                names.extend(slot.cfg.track_interfaces.iter().map(|t| t.name.as_str()));
                names.extend(slot.vmac_link.as_deref().map(|(_, n)| n.as_str()));
            }
            let names: Vec<String> = names.into_iter().map(str::to_owned).collect();
            self.watched = Some(names);
        }
        let fresh: HashMap<String, LinkState> = self
            .watched
            .iter()
            .flatten()
            .map(|n| {
                let state = LinkState {
                    up: iface::link_up(n),
                    index: crate::net::sys::ifindex(n).ok(),
                };
                (n.clone(), state)
            })
            .collect();
        let changed = fresh != self.links;
        self.links = fresh;
        changed
    }

    /// The periodic link poll: cheap when nothing changed.
    pub fn on_link_poll(&mut self) {
        if self.refresh_links() {
            self.on_health_change();
        }
        self.check_kernel_clock();
        // An advert source deleted unnoticed (the monitor reopened at a
        // reload, or not running) is refused from here on.
        self.pool.recheck_all();
        if !self.instances.waiting.is_empty() {
            self.bind_waiting();
        }
    }

    /// The tracking policy's verdict on instance `idx` from what its
    /// scripts and interfaces say now.
    pub(super) fn health(&self, idx: usize) -> track::Verdict {
        let slot = &self.instances[idx];
        let scripts = slot.cfg.track_scripts.iter().map(|t| track::Tracked {
            object: track::Object::Script(&t.name),
            reading: track::Reading::up(slot.script_said(&t.name)),
            weight: t.weight,
            reverse: t.reverse,
        });
        let interfaces = slot.cfg.track_interfaces.iter().map(|t| track::Tracked {
            object: track::Object::Interface(&t.name),
            reading: track::Reading::Up(self.link_up(&t.name)),
            weight: t.weight,
            reverse: t.reverse,
        });
        // Its `use_vmac` macvlan: down or deleted (by someone else) is a
        // FAULT, as keepalived's; the VIPs and adverts live there.
        // A link of that name made since by someone else is not it.
        let vmac = slot
            .vmac_link
            .as_deref()
            .into_iter()
            .map(|(index, name)| track::Tracked {
                object: track::Object::Interface(name),
                reading: track::Reading::Up(
                    self.link_up(name) && self.links.get(name).is_none_or(|l| l.index == Some(*index)),
                ),
                weight: 0,
                reverse: false,
            });
        let interfaces = interfaces.chain(vmac);
        let files = slot.cfg.track_files.iter().map(|t| track::Tracked {
            object: track::Object::File(&t.name),
            reading: self
                .file_values
                .get(&t.name)
                .map_or(track::Reading::Unknown, |v| track::Reading::Value(*v)),
            weight: t.weight,
            reverse: t.reverse,
        });
        let processes = slot.cfg.track_processes.iter().map(|t| track::Tracked {
            object: track::Object::Process(&t.name),
            reading: track::Reading::up(self.process_up.get(&t.name).copied()),
            weight: t.weight,
            reverse: t.reverse,
        });
        let tracked: Vec<_> = scripts.chain(interfaces).chain(files).chain(processes).collect();
        let primary = (!slot.cfg.dont_track_primary).then(|| (slot.ifname(), self.link_up(slot.ifname())));
        track::evaluate(slot.base_priority, primary, &tracked)
    }
}

/// An instance as a sync group's member, with its own FAULT reason.
fn member<'a>(
    cfg: &'a crate::config::model::Instance,
    fault: Option<&'a str>,
    waiting: bool,
) -> track::Member<'a> {
    track::Member {
        name: &cfg.name,
        group: cfg.sync_group.as_deref(),
        fault,
        waiting,
    }
}
