//! Instances come and go: built and bound to their interface, parked in
//! FAULT while it is missing, rebuilt when it is created again, removed by a
//! reload.

use super::*;

impl Engine {
    /// Adds an instance, or parks it in FAULT (`waiting`) when its interface
    /// is missing or has no address yet; anything else wrong is an error.
    pub fn add_or_wait(&mut self, cfg: &InstanceCfg) -> Result<Option<usize>> {
        let host = self.host.take().unwrap_or_else(read_host);
        let unbound = unbound_reason(cfg, &host);
        self.host = Some(host);
        if let Some(why) = unbound {
            self.park(cfg, why);
            return Ok(None);
        }
        self.add_instance(cfg).map(Some)
    }

    /// Puts an instance in FAULT until it can start (`bind_waiting` retries).
    pub fn park(&mut self, cfg: &InstanceCfg, why: String) {
        warn!(instance = %cfg.name, "{why}: FAULT until it can start");
        // One that waited before a reload and waits again is still in FAULT:
        // its scripts heard so already.
        if !self.still_waiting.contains(cfg) {
            self.notify_cfg(cfg, cfg.priority, What::Fault);
        }
        self.instances.waiting.push(Waiting {
            cfg: cfg.clone(),
            why,
        });
    }

    /// Starts the waiting instances whose interface is ready now; the others
    /// keep waiting, with the reason brought up to date.
    pub(super) fn bind_waiting(&mut self) {
        let now = monotonic_us();
        let mut started = false;
        for w in std::mem::take(&mut self.instances.waiting) {
            let host = self.host.take().unwrap_or_else(read_host);
            let unbound = unbound_reason(&w.cfg, &host);
            self.host = Some(host);
            let why = match unbound {
                Some(why) => why,
                None => match self.add_instance(&w.cfg) {
                    Ok(idx) => {
                        info!(instance = %w.cfg.name, "interface ready: starting the instance");
                        self.deliver(idx, Event::Startup, now, "interface ready");
                        started = true;
                        continue;
                    }
                    Err(e) => format!("{e:#}"),
                },
            };
            if why != w.why {
                warn!(instance = %w.cfg.name, "{why}: FAULT until it can start");
            }
            self.instances.waiting.push(Waiting { why, ..w });
        }
        self.host = None;
        if started {
            // The new instances' weights and faults (tracked interfaces, a
            // link that is down) count from their first moment, not from the
            // next link change.
            self.refresh_links();
            self.on_health_change();
        }
    }

    /// Builds `cfg`'s slot with this batch's host snapshot and its macvlan.
    pub(super) fn build(&mut self, cfg: &InstanceCfg) -> Result<Slot> {
        let v6 = cfg.family == crate::config::model::Family::Ipv6;
        let host = self.host.take().unwrap_or_else(read_host);
        let slot = build_slot(
            cfg,
            self.datapath.is_some(),
            self.group(v6),
            &host,
            self.vmac_links.get(&*cfg.name),
        );
        self.host = Some(host);
        slot
    }

    /// Builds an instance and registers it (at start, on reload, when its
    /// interface appears); the caller starts it with `Event::Startup`.
    pub fn add_instance(&mut self, cfg: &InstanceCfg) -> Result<usize> {
        let slot = self.build(cfg)?;
        if let Some(running) = self.instances.lookup(&slot.key) {
            bail!(
                "vrrp_instance {}: VRID {} already runs on {} (vrrp_instance {})",
                cfg.name,
                cfg.vrid,
                slot.ifname(),
                self.instances[running].cfg.name
            );
        }
        let need = slot.needs(self.group(slot.v6));
        self.pool
            .open_for(&need)
            .with_context(|| format!("vrrp_instance {}", cfg.name))?;
        if let Some(dp) = &mut self.datapath {
            if let Some((policy, pin_dir)) = &self.xdp_attach
                && !dp.is_attached(slot.ifname(), slot.iface.index)
            {
                dp.attach_pinned(slot.ifname(), *policy, pin_dir)
                    .with_context(|| format!("vrrp_instance {}: XDP on {}", cfg.name, slot.ifname()))?;
            }
            dp.set_instance(slot.key, &slot.rx)?;
        }
        self.watched = None;
        self.watch = None;
        match self.instances.insert(slot) {
            Ok(idx) => Ok(idx),
            // Checked above; the registry refuses a duplicate key either way.
            Err(slot) => bail!("vrrp_instance {}: VRID {} already runs", cfg.name, slot.cfg.vrid),
        }
    }

    /// Stops one instance and forgets it (reload, a re-created interface);
    /// nothing of it stays behind: its timers, queued announcements and
    /// pending VIP job are dropped with it, and its index is free again.
    pub fn remove_instance(&mut self, idx: usize) -> Option<Slot> {
        if !self.instances.is_live(idx) {
            return None;
        }
        let now = monotonic_us();
        self.deliver(idx, Event::Shutdown, now, "removed");
        self.flush();
        self.timers.cancel_all(idx);
        self.announcer.cancel(idx);
        self.installing.remove(idx);
        self.want_master.remove(&idx);
        self.lower_told.remove(&idx);
        self.watched = None;
        self.watch = None;
        let slot = self.instances.remove(idx)?;
        if let Some(dp) = &mut self.datapath {
            let _ = dp.remove_instance(slot.key);
        }
        Some(slot)
    }

    /// Instances whose interface was deleted and created again (a new index):
    /// their sockets and XDP attachment died with the old one, so they are
    /// rebuilt on the new interface and start again (as backup, per the RFC).
    pub(super) fn rebind_recreated_interfaces(&mut self) {
        let moved: Vec<usize> = self
            .instances
            .iter()
            .filter(|(_, slot)| {
                self.links
                    .get(slot.ifname())
                    .and_then(|l| l.index)
                    .is_some_and(|n| n != slot.iface.index)
            })
            .map(|(i, _)| i)
            .collect();
        if moved.is_empty() {
            return;
        }
        let mut gone = Vec::new();
        let mut rebuild = Vec::new();
        for idx in moved {
            let slot = &self.instances[idx];
            info!(instance = %slot.cfg.name, interface = %slot.ifname(), "interface created again: rebuilding the instance");
            gone.push(slot.iface.index);
            rebuild.extend(self.remove_instance(idx).map(|s| s.cfg));
        }
        self.pool.forget_interfaces(&gone);
        let now = monotonic_us();
        for cfg in rebuild {
            match self.add_instance(&cfg) {
                Ok(new) => self.deliver(new, Event::Startup, now, "interface created again"),
                Err(e) => {
                    let why = format!("{e:#}");
                    warn!(instance = %cfg.name, "cannot rebuild yet ({why}): FAULT until it can");
                    self.instances.waiting.push(Waiting { cfg, why });
                }
            }
        }
        self.flush();
    }
}
