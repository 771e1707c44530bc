//! What leaves the engine: adverts (batched per socket), gratuitous ARPs
//! and unsolicited NAs (paced by the announcer), the XDP responder's map
//! entries, and VIP jobs for the side thread.

use super::{
    Advert, AdvertCache, ChecksumScope, Engine, Installing, IpAddr, Job, Rc, Slot, VipsDone, VirtualAddress,
    advert_frame, announcement, monotonic_us, warn,
};

/// Queued adverts sent before the batch of events ends (`queue_advert`),
/// and the room the large batches keep between flushes, in adverts.
const FLUSH_ADVERTS_AT: usize = 1024;

/// A socket's batch this small always keeps its room between flushes.
const KEEP_SMALL: usize = 64;

impl Engine {
    pub(super) fn advert_bytes(slot: &Slot, priority: u8, dst: IpAddr) -> Vec<u8> {
        let advert = Advert {
            version: slot.cfg.version,
            vrid: slot.cfg.vrid,
            priority,
            interval: slot.rx.interval,
            auth: slot.rx.auth,
            checksum: 0,
            addrs: slot.cfg.vips.iter().map(|v| v.addr).collect(),
        };
        advert.encode(ChecksumScope::for_advert(
            slot.cfg.version,
            slot.src,
            dst,
            slot.cfg.v3_checksum_as_v2,
        ))
    }

    pub(super) fn queue_advert(&mut self, idx: usize, priority: u8) {
        let group = self.group(self.instances[idx].v6);
        let slot = &mut self.instances[idx];
        if slot.advert_cache.priority() != Some(priority) {
            slot.advert_cache = if slot.cfg.unicast.peers.is_empty() {
                AdvertCache::Multicast(priority, Rc::from(Self::advert_bytes(slot, priority, group)))
            } else {
                let msgs = slot
                    .dsts(group)
                    .into_iter()
                    .map(|dst| (dst, Rc::from(Self::advert_bytes(slot, priority, dst))))
                    .collect();
                AdvertCache::Unicast(priority, msgs)
            };
        }
        let slot = &mut self.instances[idx];
        // One advert, however many unicast peers get a copy (keepalived's count).
        slot.stats.advert_sent = slot.stats.advert_sent.wrapping_add(1);
        slot.stats.pri_zero_sent = slot.stats.pri_zero_sent.wrapping_add(u32::from(priority == 0));
        let slot = &self.instances[idx];
        let key = slot.sender_key();
        for (dst, bytes) in slot.advert_cache.each(group) {
            // RFC 5798 7.3: a master's adverts come from the virtual router
            // MAC. With `use_vmac` the macvlan's socket sends them; where XDP
            // stands in for the macvlan they leave as whole frames that say
            // so (the raw IP socket would write the interface's MAC), unless
            // `vmac_xmit_base` asks for the base interface's, as keepalived.
            if let (Some(vmac), true) = (
                slot.emulated_vmac(),
                dst.is_multicast() && !slot.cfg.vmac_xmit_base,
            ) && let Some(frame) = advert_frame(vmac, slot.src, dst, bytes)
            {
                self.pending_frames.push((slot.iface.index, frame));
                self.pending_adverts += 1;
                continue;
            }
            self.pending.entry(key).or_default().push((dst, bytes.clone()));
            self.pending_adverts += 1;
        }
        // A mass transition queues every instance's advert in one batch of
        // events: sent a thousand at a time, the batches stay small (all
        // 16,000 at once were 650 KB of the daemon's peak).
        if self.pending_adverts >= FLUSH_ADVERTS_AT {
            self.flush_adverts();
        }
    }

    /// Sends what the last batch of events queued: adverts first (they keep
    /// the other routers from taking over), then the announcements.
    pub fn flush(&mut self) {
        self.side.send_vips();
        self.flush_adverts();
        self.flush_gratuitous();
        // The batch is over: the next one reads the interfaces afresh.
        self.host = None;
    }

    /// Sends every queued advert: one `sendmmsg` per socket. A message the
    /// kernel refuses for its destination (a firewall, an unreachable unicast
    /// peer) is skipped, not the rest of the batch. A full send buffer (the
    /// link or its qdisc is backed up) drops the rest of that socket's batch at
    /// once: an advert held back would be stale by the time it left, the next
    /// interval sends a fresh one, and the loop must never wait on one socket
    /// while the others' adverts are due. The first failure per socket and
    /// kind is logged; every dropped advert is counted (`adverts_tx_errors`).
    pub(super) fn flush_adverts(&mut self) {
        for (ifindex, frame) in std::mem::take(&mut self.pending_frames) {
            let sent = self.pool.frames(ifindex).map(|f| f.send(&frame));
            match sent {
                Some(Ok(())) => self.adverts_tx += 1,
                Some(Err(e)) => {
                    if self.adverts_tx_errors == 0 {
                        warn!(ifindex, "sending an advert frame failed: {e}");
                    }
                    self.adverts_tx_errors += 1;
                }
                None => self.adverts_tx_errors += 1,
            }
        }
        // The batches keep their room from tick to tick (a 4000-master host
        // sends 160 of them a second), as bounded below; `shrink_buffers`
        // gives it back.
        self.pending_adverts = 0;
        let mut kept = 0;
        let mut pending = std::mem::take(&mut self.pending);
        for (key, batch) in &mut pending {
            let msgs = std::mem::take(batch);
            let Some(sender) = self.pool.sender(key) else {
                continue;
            };
            let mut done = 0;
            while done < msgs.len() {
                match sender.send_batch(&msgs[done..]) {
                    Ok(0) => break,
                    Ok(n) => {
                        done += n;
                        self.adverts_tx += n as u64;
                        sender.sent();
                    }
                    Err(e) => {
                        let full = matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::ENOBUFS));
                        // The goodbye batch has no next interval: at shutdown a
                        // full buffer is waited out (bounded) rather than dropped.
                        if full && self.patient_until.is_some_and(|t| monotonic_us() < t) {
                            std::thread::sleep(std::time::Duration::from_millis(1));
                            continue;
                        }
                        if sender.note_error(&e) {
                            warn!(src = %sender.src, "sending an advert failed: {e} (logged once)");
                        }
                        let dropped = if full { msgs.len() - done } else { 1 };
                        self.adverts_tx_errors += dropped as u64;
                        done += dropped;
                    }
                }
            }
            // The room kept for the ticks after is bounded: a small batch
            // stays (64 sockets' steady ticks must not regrow theirs), a
            // large one within `FLUSH_ADVERTS_AT` in all (a 4000-master
            // interface's); a burst's (a mass transition, hundreds per
            // socket on dozens of sockets) go.
            let large = msgs.capacity() > KEEP_SMALL;
            if !large || kept + msgs.capacity() <= FLUSH_ADVERTS_AT {
                if large {
                    kept += msgs.capacity();
                }
                *batch = msgs;
                batch.clear();
            }
        }
        self.pending = pending;
    }

    /// Queues `count` gratuitous ARPs / unsolicited NAs for every VIP of an
    /// instance; `flush` sends them (see `announce` for the order and pacing).
    pub(super) fn send_gratuitous(&mut self, idx: usize, count: u32) {
        let slot = &self.instances[idx];
        for (n, (ifindex, vip)) in slot.all_vips().enumerate() {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            self.announcer
                .push(ifindex, vip.addr.is_ipv6(), idx, (n, vip.addr), count);
        }
    }

    /// Sends the announcements that are due. They wait for the end of the
    /// event batch, so when many instances become master at once all their
    /// addresses are installed first.
    pub(super) fn flush_gratuitous(&mut self) {
        let (pool, instances) = (&self.pool, &self.instances);
        // Instances whose sending failed: logged once, and what they still
        // have queued is dropped after this batch. The rest of the batch is
        // still tried: a full transmit queue (ENOBUFS) partway through a
        // mass transition's burst must not cost an instance every repeat.
        let mut failed = std::collections::HashSet::new();
        self.announcer
            .send_due(monotonic_us(), |ifindex, idx, vip, addr| {
                // Built now, from the instance as it is: an address a reload
                // took away (or moved) since it was queued is not announced.
                let (Some(sender), Some(slot)) = (pool.frames(ifindex), instances.get(idx)) else {
                    return false;
                };
                let here = |(i, v): (u32, &VirtualAddress)| i == ifindex && v.addr == addr;
                // At its place in the list, or (after a reload moved it) anywhere.
                if !slot.vip_at(vip as usize).is_some_and(here) && !slot.all_vips().any(here) {
                    return false;
                }
                let frame = announcement(slot.mac, addr, slot.link_local);
                if let Err(e) = sender.send(&frame)
                    && failed.insert(idx)
                {
                    let name = &instances[idx].cfg.name;
                    warn!(instance = %name, ifindex, "gratuitous ARP/NA failed: {e}");
                }
                true
            });
        for idx in failed {
            self.announcer.cancel(idx);
        }
    }

    pub(super) fn arp_responder(&mut self, idx: usize, on: bool) {
        let Some(dp) = &mut self.datapath else { return };
        let slot = &self.instances[idx];
        if let Some(vmac) = slot.emulated_vmac() {
            let r = if on {
                dp.set_vmac(slot.iface.index, vmac, slot.iface.mac)
            } else {
                dp.remove_vmac(slot.iface.index, vmac)
            };
            if let Err(e) = r {
                warn!(instance = %slot.cfg.name, "XDP virtual MAC: {e:#}");
            }
        }
        for (ifindex, vip) in slot.all_vips() {
            let r = if on {
                dp.set_vip(
                    slot.responder_ifindex(ifindex),
                    vip.addr,
                    slot.mac,
                    slot.cfg.vrid,
                    slot.cfg.accept,
                )
            } else {
                dp.remove_vip(slot.responder_ifindex(ifindex), vip.addr)
            };
            if let Err(e) = r {
                warn!(instance = %slot.cfg.name, "XDP ARP responder: {e:#}");
            }
        }
    }

    /// Asks the side thread to install instance `idx`'s VIPs; its
    /// announcements and its XDP ARP/NDP answers wait until they are in (an
    /// answer for an address the kernel does not have draws traffic it drops).
    pub(super) fn add_vips(&mut self, idx: usize) {
        let slot = &self.instances[idx];
        let vmac = slot
            .emulated_vmac()
            .map(|mac| (slot.iface.index, slot.ifname().to_owned(), mac));
        self.install(idx, None, vmac, false);
        self.routes(idx, true);
    }

    /// Installs (at start) or removes (at exit) the `static_ipaddress`,
    /// `static_routes` and `static_rules`.
    pub fn statics(&self, add: bool) {
        let c = &self.config;
        if c.static_addresses.is_empty() && c.static_routes.is_empty() && c.static_rules.is_empty() {
            return;
        }
        self.side.send(Job::Static {
            addresses: c.static_addresses.clone(),
            routes: c.static_routes.clone(),
            rules: c.static_rules.clone(),
            add,
        });
    }

    /// Installs or removes instance `idx`'s `virtual_routes` / `virtual_rules`
    /// (the side thread runs it after the VIPs go in, before they go out).
    pub(super) fn routes(&mut self, idx: usize, add: bool) {
        if !add {
            let cfg = &self.instances[idx].cfg;
            let keys = super::routes::removal_keys(&cfg.routes, &cfg.rules);
            self.expect_removals(keys);
        }
        let cfg = &self.instances[idx].cfg;
        if cfg.routes.is_empty() && cfg.rules.is_empty() {
            return;
        }
        self.side.send(Job::Routes {
            instance: cfg.name.to_string(),
            routes: cfg.routes.to_vec(),
            rules: cfg.rules.to_vec(),
            add,
        });
    }

    /// Asks the side thread to install `vips` of instance `idx` (`None`:
    /// all of them) and holds its announcements until they are in;
    /// `responder`: the XDP answers are turned on then too.
    pub(super) fn install(
        &mut self,
        idx: usize,
        vips: Option<Vec<(u32, VirtualAddress)>>,
        vmac: Option<(u32, String, [u8; 6])>,
        responder: bool,
    ) {
        self.last_ticket = self.last_ticket.wrapping_add(1);
        self.installing.insert(
            idx,
            Installing {
                ticket: self.last_ticket,
                responder,
            },
        );
        self.announcer.hold(idx);
        if let Some(vips) = vips {
            self.side.add_vips(idx, self.last_ticket, vips, vmac);
        } else {
            let all = self.instances[idx].all_vips().map(|(i, v)| (i, v.clone()));
            self.side.add_vips(idx, self.last_ticket, all, vmac);
        }
    }

    /// The VIPs (and the virtual MAC's unicast filter) of instance `idx` go.
    pub(super) fn remove_vips(&mut self, idx: usize) {
        self.routes(idx, false);
        self.installing.remove(idx);
        // Only addresses this daemon installed are removed, so only their
        // removal makes a notice.
        let vips = self.instances[idx]
            .all_vips()
            .map(|(ifindex, v)| crate::net::addr::Installed::of(ifindex, v));
        let keys: Vec<String> = self
            .side
            .vips()
            .mine(vips)
            .into_iter()
            .map(|i| super::routes::vip_key(i.ifindex, i.addr))
            .collect();
        self.expect_removals(keys);
        let slot = &self.instances[idx];
        self.side.send(Job::RemoveVips {
            vips: slot.vips_owned(),
            vmac: slot.emulated_vmac().map(|mac| (slot.iface.index, mac)),
        });
    }

    /// Every address this daemon installed or is installing (for the record
    /// an unclean stop leaves: the next start removes them). Not an address
    /// owner's (priority 255): its VIP is the host's own address, which the
    /// add finds there and never makes ours.
    pub fn installed_or_pending(&self) -> Vec<(u32, IpAddr, u8)> {
        let pending = self
            .installing
            .keys()
            .filter_map(|i| self.instances.get(i))
            .filter(|s| s.base_priority != 255);
        let mut all = self.side.vips().sorted();
        // Room for all at once: during a mass transition this list is
        // thousands long, and doubling it took twice its size for a moment.
        all.reserve_exact(pending.clone().map(|s| s.vip_ifindex.len()).sum());
        for slot in pending {
            all.extend(slot.all_vips().map(|(ifindex, v)| (ifindex, v.addr, v.prefix)));
        }
        all.sort_unstable();
        all.dedup();
        all
    }

    /// The side thread changed addresses: the record is rebuilt, and the
    /// announcements of an instance whose VIPs are now in go.
    pub fn on_vips_done(&mut self, done: VipsDone) {
        if done.changed {
            self.installed_changes += 1;
        }
        let mut released = false;
        for (idx, ticket) in done.tickets {
            let idx = idx as usize;
            let Some(waiting) = self.installing.get(idx) else {
                continue;
            };
            if waiting.ticket != ticket {
                continue;
            }
            let responder = waiting.responder;
            self.installing.remove(idx);
            if responder {
                self.arp_responder(idx, true);
            }
            // Its announcements, built now from the instance as it is.
            let count = self.announcer.release(idx);
            if count > 0 {
                self.send_gratuitous(idx, count);
            }
            released = true;
        }
        if released {
            self.flush();
        }
    }
}
