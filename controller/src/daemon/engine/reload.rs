//! SIGHUP, in place, with keepalived 2.2.7's semantics (`restore_vrrp_state`,
//! `clear_diff_vrrp`): an instance whose identity (`instances::Identity`) is
//! unchanged keeps its state, its timers and its place; its new settings
//! (priority, interval, authentication, peers, tracking, notify scripts)
//! take effect from the next advert, and its VIPs change by difference:
//! removed ones go, added ones are installed and announced. Nothing changes
//! state except through the protocol. Instances no longer configured stop
//! (a master sends priority 0 first); new ones start as at start-up.

use super::{
    Config, Engine, Event, InstanceCfg, Job, State, Timer, VirtualAddress, What, info, monotonic_us,
    reload_plan, warn,
};

impl Engine {
    /// Applies a reloaded configuration (already validated).
    pub fn apply_reload(&mut self, new: &Config) {
        // First, as keepalived reopens its FIFOs before it tells of the
        // instances a reload removes (their DELETED lines go to the new one).
        self.set_global(new.global.clone());
        // Instances are rebuilt: their own timers run through the reload.
        self.take_back_all_down_timers();
        let mut plan = reload_plan(self.instances.values().map(|s| &s.cfg), &new.instances);
        // An unchanged instance whose macvlan was made again (someone had
        // deleted it) moves to the new link.
        for s in self.instances.values() {
            // Only to a link that is there: one this reload failed to make
            // leaves the instance where it is.
            let now = self.vmac_links.get(&*s.cfg.name).map(|m| m.index);
            let moved = now.is_some() && s.vmac_link.as_deref().map(|(i, _)| *i) != now;
            let name = &*s.cfg.name;
            let planned = plan.update.iter().any(|(n, _)| n == name) || plan.stop.iter().any(|n| n == name);
            if moved && !planned {
                plan.update.push((name.to_owned(), s.cfg.clone()));
            }
        }
        // Every name is resolved before anything changes: a reload may
        // rename instances (VI_1 -> VI_2 while VI_2 -> VI_3).
        let stops: Vec<usize> = plan
            .stop
            .iter()
            .filter_map(|n| self.instances.by_name(n))
            .collect();
        let updates: Vec<(usize, InstanceCfg)> = plan
            .update
            .into_iter()
            .filter_map(|(n, cfg)| self.instances.by_name(&n).map(|i| (i, cfg)))
            .collect();
        for idx in stops {
            let slot = &self.instances[idx];
            info!(instance = %slot.cfg.name, "reload: stopping (no longer configured)");
            let instead = if slot.cfg.notify_deleted {
                Some(What::Deleted)
            } else {
                (slot.fsm.vars.state != State::Fault).then_some(What::Fault)
            };
            self.deleting = Some((idx, instead));
            self.remove_instance(idx);
            self.deleting = None;
        }
        // Waiting instances hold nothing: those still configured are in
        // `plan.start` and wait again if their interface is still missing
        // (without a second FAULT notification).
        self.still_waiting = std::mem::take(&mut self.instances.waiting)
            .into_iter()
            .map(|w| w.cfg)
            .collect();
        self.config.scripts.clone_from(&new.scripts);
        self.config.sync_groups.clone_from(&new.sync_groups);
        self.config.track_files.clone_from(&new.track_files);
        self.config.track_processes.clone_from(&new.track_processes);
        if self.config.garp_groups != new.garp_groups {
            self.config.garp_groups.clone_from(&new.garp_groups);
            self.apply_garp_groups();
        }
        let mut start = plan.start;
        // Removals first, additions after (keepalived's order): a VIP that
        // moves from one master instance to another is removed by the one and
        // then installed by the other, never the other way round.
        let mut additions = Vec::new();
        for (idx, cfg) in updates {
            let before = self.instances[idx].cfg.clone();
            match self.update_instance(idx, &cfg) {
                Ok(added) => additions.push((idx, added, before)),
                Err(why) => {
                    // The host refused the new settings in place (an address
                    // gone): the instance restarts with them instead.
                    warn!(instance = %cfg.name, "reload: cannot update in place ({why}); restarting it");
                    self.remove_instance(idx);
                    start.push(cfg);
                }
            }
        }
        for (idx, added, before) in additions {
            self.install_added(idx, added);
            self.routes_added(idx, &before);
        }
        let mut started = Vec::new();
        for cfg in &start {
            info!(instance = %cfg.name, "reload: starting");
            match self.add_or_wait(cfg) {
                Ok(idx) => started.extend(idx),
                // The configuration is valid; the host refused something (a
                // socket, the XDP attach): the instance waits in FAULT and is
                // retried like one whose interface is missing.
                Err(e) => self.park(cfg, format!("{e:#}")),
            }
        }
        self.host = None;
        self.still_waiting.clear();
        let now = monotonic_us();
        for idx in started {
            self.deliver(idx, Event::Startup, now, "reload");
        }
        // The crash-only record names instances: it is rebuilt.
        self.installed_changes += 1;
        // New weights, tracked objects and base priorities: the effective
        // priorities and faults follow (a master's next advert carries them).
        self.watched = None;
        self.watch = None;
        self.refresh_links();
        self.on_health_change();
        self.flush();
    }

    /// Puts back the entries of `old` whose macvlan an instance still runs
    /// on (by name), so they are neither deleted now nor forgotten at exit.
    pub fn keep_vmac_links_in_use(&mut self, old: &crate::net::vmac::Links) {
        for s in self.instances.values() {
            if let Some((index, name)) = s.vmac_link.as_deref()
                && !self.vmac_links.values().any(|m| m.name == *name)
                && let Some(m) = old.values().find(|m| m.index == *index)
            {
                self.vmac_links.insert(s.cfg.name.to_string(), m.clone());
            }
        }
    }

    /// Reconfigures the running instance `idx` in place with `cfg` (same
    /// identity): its state machine keeps its state and master; the VIPs it
    /// no longer has are removed now, and those it gained are returned for
    /// `install_added` (after every instance's removals).
    fn update_instance(
        &mut self,
        idx: usize,
        cfg: &InstanceCfg,
    ) -> Result<Vec<(u32, VirtualAddress)>, String> {
        let mut slot = self.build(cfg).map_err(|e| format!("{e:#}"))?;
        let mut expected = Vec::new();
        let old = &self.instances[idx];
        if slot.key != old.key {
            return Err("its interface index changed".to_owned());
        }
        info!(instance = %cfg.name, was = %old.cfg.name, "reload: updating in place");
        // What the instance has lived through stays with it.
        slot.fsm.vars = old.fsm.vars.clone();
        let state = slot.fsm.vars.state;
        let interval_changed = slot.fsm.params.advert_interval_cs != old.fsm.params.advert_interval_cs;
        // A master advertises its new interval; a v2 backup expects it (v2
        // adverts must carry the configured interval); a v3 backup learns
        // the master's from its next advert.
        if state != State::Backup || cfg.version == 2 {
            slot.fsm.vars.master_adver_interval_cs = slot.fsm.params.advert_interval_cs;
        }
        slot.transitions = old.transitions;
        slot.last_transition = old.last_transition;
        slot.stats = old.stats;
        slot.last_advert_us = old.last_advert_us;
        slot.xdp_seen_ns = old.xdp_seen_ns;
        slot.split_brain.clone_from(&old.split_brain);
        slot.fault.clone_from(&old.fault);
        slot.script_ok = old
            .script_ok
            .iter()
            .filter(|(name, _)| cfg.track_scripts.iter().any(|t| t.name == *name))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        let installed = state == State::Master;
        let before = old.vips_owned();
        let after = slot.vips_owned();
        let need = slot.needs(self.group(slot.v6));
        self.pool.open_for(&need).map_err(|e| format!("{e:#}"))?;
        if let Some(dp) = &mut self.datapath {
            dp.set_instance(slot.key, &slot.rx)
                .map_err(|e| format!("{e:#}"))?;
        }
        let removed: Vec<_> = before.iter().filter(|v| !after.contains(v)).cloned().collect();
        let added: Vec<_> = after.iter().filter(|v| !before.contains(v)).cloned().collect();
        if installed {
            // Routes and rules by difference too: the ones that go, before
            // the addresses go (the side thread runs jobs in order); the new
            // ones after the new addresses (`routes_added`).
            expected = self.send_route_difference(&old.cfg, cfg, false);
        }
        self.expect_removals(expected);
        if installed && !removed.is_empty() {
            // They go from the XDP responder, then from the interface.
            // Entered where the XDP program sees the requests (a VIP on a
            // macvlan is asked for on its base).
            let old = &self.instances[idx];
            let at: Vec<u32> = removed.iter().map(|(i, _)| old.responder_ifindex(*i)).collect();
            if let Some(dp) = &mut self.datapath {
                for ((_, vip), ifindex) in removed.iter().zip(at) {
                    let _ = dp.remove_vip(ifindex, vip.addr);
                }
            }
            self.expect_removals(
                removed
                    .iter()
                    .map(|(ifindex, v)| super::routes::vip_key(*ifindex, v.addr))
                    .collect(),
            );
            self.side.send(Job::RemoveVips {
                vips: removed,
                vmac: None,
            });
        }
        // The registry keeps the index, so the timers and the registry's
        // lookups stay as they were.
        if self.instances.replace(idx, slot).is_err() {
            return Err("the registry refused the replacement".to_owned());
        }
        if installed {
            // The responder's entries carry `accept`: refreshed for the VIPs
            // that stay (the added ones get theirs once installed).
            self.arp_responder(idx, true);
        }
        if interval_changed {
            let now = monotonic_us();
            match state {
                // Tell the backups now, then keep the new interval from here
                // (an advert due at the old, longer interval would come too
                // late for a backup that already runs with the new one).
                State::Master => {
                    let priority = self.instances[idx].fsm.vars.priority;
                    self.queue_advert(idx, priority);
                    let next = now + self.instances[idx].fsm.advert_interval_us();
                    self.timers.arm(idx, Timer::Advert, next);
                }
                // Wait for the master by the new interval, from now.
                State::Backup => {
                    let at = now + self.instances[idx].fsm.master_down_us();
                    self.timers.arm(idx, Timer::MasterDown, at);
                }
                _ => {}
            }
        }
        Ok(if installed { added } else { Vec::new() })
    }

    /// The routes and rules `from` has and `to` has not, added or removed.
    /// Returns what a removal will delete (for `expect_removals`).
    fn send_route_difference(&self, from: &InstanceCfg, to: &InstanceCfg, add: bool) -> Vec<String> {
        let routes: Vec<_> = from
            .routes
            .iter()
            .filter(|r| !to.routes.contains(r))
            .cloned()
            .collect();
        let rules: Vec<_> = from
            .rules
            .iter()
            .filter(|r| !to.rules.contains(r))
            .cloned()
            .collect();
        let keys = if add {
            Vec::new()
        } else {
            super::routes::removal_keys(&routes, &rules)
        };
        if !routes.is_empty() || !rules.is_empty() {
            self.side.send(Job::Routes {
                instance: to.name.to_string(),
                routes,
                rules,
                add,
            });
        }
        keys
    }

    /// The routes and rules a master instance gained in a reload.
    fn routes_added(&self, idx: usize, before: &InstanceCfg) {
        if self.instances.is_live(idx) && self.instances[idx].fsm.vars.state == State::Master {
            let now = &self.instances[idx].cfg;
            let _ = self.send_route_difference(now, before, true);
        }
    }

    /// Installs the VIPs a master instance gained in a reload, then
    /// announces every VIP (as keepalived: the new ones are news to the
    /// switches and hosts).
    fn install_added(&mut self, idx: usize, added: Vec<(u32, VirtualAddress)>) {
        if added.is_empty() || !self.instances.is_live(idx) {
            return;
        }
        self.install(idx, Some(added), None, true);
        let repeat = self.instances[idx].fsm.params.garp.repeat;
        self.send_gratuitous(idx, repeat);
    }
}
