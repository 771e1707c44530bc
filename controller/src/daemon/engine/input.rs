//! What comes in: timer expiries, the XDP program's change events and
//! advert map, and (socket mode) adverts read and validated here.

use xvrrp_common::maps::EV_DOWN_TIMER;

use super::{
    Advert, Engine, Event, InstanceKey, IpAddr, Micros, Mode, RX_BUDGET, State, Timer, debug, monotonic_us,
    stats, timer_reason, validate_ip, validate_vrrp, warn,
};

impl Engine {
    /// Fires every due timer. In XDP mode an expiring Master_Down_Timer first
    /// looks at the advert map: adverts that arrived since are fed in and the
    /// timer re-armed from the last one, so steady adverts cost no wake-up.
    pub fn on_timers(&mut self) {
        let now = monotonic_us();
        let due = self.timers.pop_due(now);
        let recorded = self.recorded_adverts(&due);
        if self.mode == Mode::Xdp && due.iter().any(|(_, t, _)| *t == Timer::MasterDown) {
            self.sweep_master_down(now);
        }
        for (idx, timer, at) in due {
            let idx = idx as usize;
            if timer == Timer::MasterDown && self.mode == Mode::Xdp && self.catch_up_from_map(idx) {
                // Steady adverts: the kernel can keep this timer.
                self.hand_over_down_timer(idx);
                continue;
            }
            if timer == Timer::MasterDown && !self.group_lets_take_over(idx, now) {
                continue;
            }
            // A master reads its advert-state entry once per advert it sends:
            // a better master is noticed within one interval even when no
            // change event was pushed (the entry did not change, or the ring
            // was full); unless the kernel recorded no advert at all since its
            // last read (`recorded_adverts`). If that made it step down, the
            // advert is not sent.
            if timer == Timer::Advert && self.mode == Mode::Xdp {
                let slot = &mut self.instances[idx];
                if recorded.is_none() || slot.recorded_seen.get() != recorded {
                    slot.recorded_seen = recorded.into();
                    self.catch_up_from_map(idx);
                }
                if self.instances[idx].fsm.vars.state != State::Master {
                    continue;
                }
            }
            // Adverts keep to their ideal timeline: the next is armed one
            // interval after this one's deadline, not after the moment it
            // fired, so lateness does not add up into drift (RFC 5798 6.4.3
            // resets Adver_Timer to Advertisement_Interval; a timeline that
            // slips makes the backups' Master_Down margin shrink). One more than
            // an interval late (the daemon was stopped), it starts afresh.
            let when = match timer {
                Timer::Advert if now - at < self.instances[idx].fsm.advert_interval_us() => at,
                _ => now,
            };
            self.deliver(idx, Event::Timer(timer), when, timer_reason(timer));
        }
        self.flush();
    }

    /// For a batch of many master adverts, the kernel's count of recorded
    /// adverts (`ADVERTS_RX`), read once: it moves after every entry the XDP
    /// program writes, so a master whose last read came after the same count
    /// has nothing new in its entry and skips the read (on a host whose masters
    /// hear nobody, every read: a cache miss per advert, a sixteenth of the
    /// 4000 x 100 ms master's time). A few adverts read their entries
    /// directly, cheaper than the system call; so does every master when the
    /// count cannot be read. (Where stores may be seen out of order, arm64, a
    /// read can see the new count but the old entry: the next advert recorded
    /// anywhere, the better master's next one, moves the count again.)
    fn recorded_adverts(&self, due: &[crate::daemon::timers::Due]) -> Option<u64> {
        const BATCH: usize = 16;
        if self.mode != Mode::Xdp || due.iter().filter(|d| d.1 == Timer::Advert).count() < BATCH {
            return None;
        }
        let counters = self.datapath.as_ref()?.counters().ok()?;
        Some(counters[stats::ADVERTS_RX as usize])
    }

    /// A master-down timer fired: look at the advert map for every other
    /// backup in the second half of its wait too. An advert that arrived
    /// meanwhile pushes its deadline out now rather than at a wake-up of its
    /// own, so backups hearing steady adverts share about one wake-up per
    /// Master_Down_Interval instead of one each. (Checking early is safe;
    /// only late would not be.)
    pub(super) fn sweep_master_down(&mut self, now: Micros) {
        let near: Vec<usize> = self
            .instances
            .indices()
            .into_iter()
            .filter(|&i| {
                self.timers
                    .deadline(i, Timer::MasterDown)
                    .is_some_and(|at| at.saturating_sub(now) <= self.instances[i].fsm.master_down_us() / 2)
            })
            .collect();
        for idx in near {
            if self.catch_up_from_map(idx) {
                self.hand_over_down_timer(idx);
            }
        }
    }

    /// Feeds the newest advert the kernel recorded, if it is news. Returns
    /// true when that re-armed the master-down timer into the future.
    pub(super) fn catch_up_from_map(&mut self, idx: usize) -> bool {
        let key = self.instances[idx].key;
        let Some(dp) = &mut self.datapath else {
            return false;
        };
        let Ok(Some(state)) = dp.advert_state(key) else {
            return false;
        };
        if state.last_ns <= self.instances[idx].xdp_seen_ns {
            return false;
        }
        self.feed_xdp_state(idx, &state.master, state.priority, state.interval, state.last_ns);
        let now = monotonic_us();
        self.timers
            .deadline(idx, Timer::MasterDown)
            .is_some_and(|at| at > now)
    }

    pub(super) fn feed_xdp_state(
        &mut self,
        idx: usize,
        master: &[u8; 16],
        priority: u8,
        interval: u16,
        last_ns: u64,
    ) {
        let slot = &mut self.instances[idx];
        slot.xdp_seen_ns = last_ns;
        let at = last_ns / 1000;
        slot.last_advert_us = Some(at).into();
        let src = if slot.v6 {
            IpAddr::from(*master)
        } else {
            IpAddr::from([master[0], master[1], master[2], master[3]])
        };
        let interval_cs = Advert::interval_cs_of(slot.cfg.version, interval);
        self.deliver(
            idx,
            Event::Advert {
                priority,
                src,
                interval_cs,
            },
            at,
            "advert",
        );
    }

    /// Handles the change events the XDP program pushed. Events the kernel
    /// could not push (a full ring) are made up for by a sweep of the map.
    pub fn on_xdp_events(&mut self) {
        let (events, lost) = match &mut self.datapath {
            Some(dp) => {
                let events = dp.drain_events();
                let lost = dp.counters().map_or(0, |c| c[stats::EVENTS_LOST as usize]);
                (events, lost)
            }
            None => return,
        };
        if lost > self.events_lost_seen {
            warn!(
                lost = lost - self.events_lost_seen,
                "XDP event ring overflowed: reading every instance's advert state"
            );
            self.events_lost_seen = lost;
            // A kernel Master_Down timer's event may be among the lost.
            self.take_back_all_down_timers();
            for idx in self.instances.indices() {
                self.catch_up_from_map(idx);
            }
        }
        for ev in events {
            if ev.changes & EV_DOWN_TIMER != 0 {
                self.kernel_down_timer_ran_out(ev.key, ev.ts_ns);
                continue;
            }
            let Some(idx) = self.instances.lookup(&ev.key) else {
                continue;
            };
            if ev.ts_ns <= self.instances[idx].xdp_seen_ns {
                continue;
            }
            self.feed_xdp_state(idx, &ev.master, ev.priority, ev.interval, ev.ts_ns);
        }
        self.flush();
    }

    /// Socket mode: reads and validates at most [`RX_BUDGET`] frames from receive socket `r`; true when
    /// it was drained. A flood on one socket must not starve the timers or
    /// the other sockets: the loop comes back for the rest after them.
    pub fn on_socket_rx(&mut self, r: usize) -> bool {
        let mut buf = vec![0u8; 2048];
        let mut drained = false;
        for _ in 0..RX_BUDGET {
            let (n, meta) = match self.pool.receivers[r].recv(&mut buf) {
                Ok(Some(x)) => x,
                Ok(None) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    drained = true;
                    break;
                }
                Err(e) => {
                    warn!("receiving adverts: {e}");
                    drained = true;
                    break;
                }
            };
            let ifindex = self.pool.receivers[r].ifindex;
            let v6 = self.pool.receivers[r].v6;
            // A frame from another router reaches both the interface and its
            // macvlans: each instance hears its adverts on one socket only.
            let bound = self.pool.receivers[r].bound;
            if let Some(vrid) = advert_vrid(&buf[..n], meta.is_some())
                && let Some(i) = self.instances.lookup(&InstanceKey::new(ifindex, v6, vrid))
                && self.instances[i].rx_bound() != bound
            {
                continue;
            }
            let lookup = |vrid: u8| {
                self.instances
                    .lookup(&InstanceKey::new(ifindex, v6, vrid))
                    .map(|i| &self.instances[i].rx)
            };
            let result = match meta {
                Some(meta) => validate_vrrp(&meta, &buf[..n], lookup),
                None => validate_ip(&buf[..n], lookup),
            };
            self.counters[stats::VRRP_SEEN as usize] += 1;
            match result {
                Ok(acc) => {
                    self.counters[stats::ADVERTS_RX as usize] += 1;
                    let key = InstanceKey::new(ifindex, v6, acc.advert.vrid);
                    let Some(idx) = self.instances.lookup(&key) else {
                        continue;
                    };
                    let now = monotonic_us();
                    self.instances[idx].last_advert_us = Some(now).into();
                    let a = &acc.advert;
                    let interval_cs = Advert::interval_cs_of(a.version, a.interval);
                    let ev = Event::Advert {
                        priority: a.priority,
                        src: acc.src,
                        interval_cs,
                    };
                    self.deliver(idx, ev, now, "advert");
                }
                Err(e) => {
                    self.counters[e.stat() as usize] += 1;
                    debug!("advert dropped: {e}");
                }
            }
        }
        self.flush();
        drained
    }
}

/// The VRID of a received advert before it is validated: `bytes` is the whole
/// IPv4 packet, or (`bare`) the VRRP message alone.
fn advert_vrid(bytes: &[u8], bare: bool) -> Option<u8> {
    let at = if bare {
        0
    } else {
        usize::from(bytes.first()? & 0x0f) * 4
    };
    bytes.get(at + 1).copied()
}
