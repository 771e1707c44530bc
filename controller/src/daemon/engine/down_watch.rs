//! Handing a backup's Master_Down_Timer to the kernel (XDP mode).
//!
//! A backup whose master advertises steadily wakes only to find the master
//! still there. Once its own timer has been pushed out by a newer advert
//! from the map twice in a row, the timer is handed to the kernel program
//! (`maps::DOWN_WATCH`, one kernel clock for all of them), which restarts
//! it with every advert that would reset it here (RFC 5798 6.4.2: priority at least ours when we preempt,
//! any non-zero one when we do not) and pushes one event when the master
//! goes quiet. The daemon then takes the timer back and does what its own
//! expiry does (`on_timers`: read the map, then take over or re-arm).
//!
//! Late is the risk (a takeover that never comes); these rules keep it out.
//! (1) Only a timer that an accepted advert armed to exactly
//! Master_Down_Interval is handed over: never a Skew_Time timer after a
//! priority-0 advert, nor one `preempt_delay` set, nor while it holds a
//! lower master back. (2) Our own timer stops
//! only once the kernel shows it runs: the entry carries our token and the
//! kernel restarted it after our write returned (an advert that raced the
//! write may have read half of it: the kernel then clears `started`). (3) Any change to what the
//! kernel's timer stands for (state, Master_Down_Interval, our priority or
//! preempt) takes the timer back at once (`check_down_watch`, after every
//! state-machine step), as do a reload, a lost event and a map error. (4) A
//! timer taken back is due when the kernel's was: the interval it ran after
//! the last advert it counted (`restarted_ns`), not after the last one fed
//! here, which may be older or one the state machine discarded. (5) Its
//! event is never lost: the kernel retries a full ring (`ebpf/src/down_timer.rs`),
//! and a deadline long past without one turns kernel timers off
//! (`check_kernel_clock`, the safety net).

use xvrrp_common::maps::{DownWatch, InstanceKey};

use super::{Engine, Micros, State, Timer, debug, monotonic_us, stats, warn};
use crate::net::sys::monotonic_ns;

/// Hand-overs waiting for the kernel at most: each waiting one costs a map
/// read at each of its own expiries until the kernel shows it runs, which
/// is the next advert (unless the master stopped: then the expiry takes
/// over). The bound keeps a start or reload of thousands to a few batches
/// of such reads.
const MAX_PENDING: u64 = 4096;

/// A hand-over in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelWatch {
    /// The token written with it (`DownWatch::token`).
    token: u64,
    /// CLOCK_MONOTONIC (ns) after the write returned.
    written_ns: u64,
    /// What the kernel's timer stands for.
    params: DownParams,
    /// The kernel showed it runs the timer; ours is stopped.
    confirmed: bool,
}

impl KernelWatch {
    /// When the kernel last restarted the timer under this hand-over, if
    /// it has since the write (`entry` as read back).
    fn restarted_ns(&self, entry: &DownWatch) -> Option<u64> {
        (entry.started == self.token && entry.restarted_ns > self.written_ns).then_some(entry.restarted_ns)
    }
}

/// What a kernel timer must match to stand in for an instance's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DownParams {
    down_us: Micros,
    min_priority: u8,
}

impl Engine {
    /// What `idx`'s timer would be in the kernel: only a backup has one.
    fn down_params(&self, idx: usize) -> Option<DownParams> {
        let fsm = &self.instances[idx].fsm;
        // Not while `preempt_delay` holds a lower master back: the state
        // machine accepts its adverts for a while, the kernel (which knows
        // no delay) would not restart on them and run out too early.
        let held_back = fsm.vars.preempt_after.is_some();
        (fsm.vars.state == State::Backup && !held_back).then(|| DownParams {
            down_us: fsm.master_down_us(),
            // A preempting backup discards a lower master's adverts and lets
            // its timer run out; one that does not preempt resets on any.
            min_priority: if fsm.params.preempt {
                fsm.vars.priority.max(1)
            } else {
                1
            },
        })
    }

    /// `idx`'s own Master_Down_Timer was just pushed out by a newer advert
    /// from the map: hand it to the kernel, or, once the kernel runs it,
    /// stop ours.
    pub(super) fn hand_over_down_timer(&mut self, idx: usize) {
        if self.kernel_down_off {
            return;
        }
        let Some(params) = self.down_params(idx) else {
            return;
        };
        let slot = &self.instances[idx];
        // Rule (1): armed by an accepted advert, to the full interval.
        let from_advert = slot.last_advert_us.get().map(|t| t + params.down_us);
        if from_advert.is_none() || self.timers.deadline(idx, Timer::MasterDown) != from_advert {
            return;
        }
        let (key, watch) = (slot.key, slot.kernel_watch);
        let Some(dp) = &mut self.datapath else {
            return;
        };
        let result = match watch {
            Some(w) if w.params == params && w.confirmed => Ok(true),
            // Rule (2).
            Some(w) if w.params == params => dp
                .down_watch(key)
                .map(|entry| entry.is_some_and(|e| w.restarted_ns(&e).is_some())),
            // The pending ones first (rule 2 reads one each).
            None if self.kernel_pending >= MAX_PENDING => return,
            _ => {
                let token = monotonic_ns();
                let written = dp.watch_down(key, params.down_us * 1000, params.min_priority, token);
                if let Ok(true) = written {
                    // A hand-over with other terms replaces a pending one.
                    if watch.is_none_or(|w| w.confirmed) {
                        self.kernel_pending += 1;
                    }
                    self.kernel_watched -= u64::from(watch.is_some_and(|w| w.confirmed));
                    self.instances[idx].kernel_watch = Some(KernelWatch {
                        token,
                        written_ns: monotonic_ns(),
                        params,
                        confirmed: false,
                    });
                }
                written.map(|_| false)
            }
        };
        match result {
            Ok(true) => {
                if let Some(w) = &mut self.instances[idx].kernel_watch
                    && !w.confirmed
                {
                    w.confirmed = true;
                    self.kernel_watched += 1;
                    self.kernel_pending -= 1;
                    debug!(instance = %self.instances[idx].cfg.name, "master down timer handed to the kernel");
                }
                self.timers.cancel(idx, Timer::MasterDown);
            }
            Ok(false) => {}
            Err(e) => {
                // For good: a map that fails once is not trusted with a
                // timer whose loss means no takeover.
                warn!("kernel master down timers off, each backup keeps its own: {e:#}");
                self.kernel_down_off = true;
                self.take_back_all_down_timers();
            }
        }
    }

    /// After a state-machine step for `idx`: a hand-over whose terms no
    /// longer hold is taken back.
    pub(super) fn check_down_watch(&mut self, idx: usize) {
        if let Some(w) = self.instances[idx].kernel_watch
            && self.down_params(idx) != Some(w.params)
        {
            self.take_back_down_timer(idx);
        }
    }

    /// Runs `idx`'s Master_Down_Timer here again (rule 4).
    pub(super) fn take_back_down_timer(&mut self, idx: usize) {
        let Some(w) = self.instances[idx].kernel_watch.take() else {
            return;
        };
        if w.confirmed {
            self.kernel_watched -= 1;
        } else {
            self.kernel_pending -= 1;
        }
        let slot = &self.instances[idx];
        if slot.fsm.vars.state != State::Backup || self.timers.is_armed(idx, Timer::MasterDown) {
            return;
        }
        let key = slot.key;
        let counted_us = match self.datapath.as_ref().map(|dp| dp.down_watch(key)) {
            Some(Ok(Some(entry))) => w.restarted_ns(&entry).map(|ns| ns / 1000),
            _ => None,
        };
        let slot = &self.instances[idx];
        let now = monotonic_us();
        // The interval the kernel ran, as a timer armed then keeps it (RFC
        // 5798 6.4.2; a priority change re-arms nothing). Unread: at once,
        // and the expiry reads the map before it acts.
        let due = match counted_us {
            Some(t) => t + w.params.down_us,
            None => slot
                .last_advert_us
                .get()
                .map_or(now, |t| t + slot.fsm.master_down_us()),
        };
        self.timers.arm(idx, Timer::MasterDown, due.max(now));
    }

    pub(super) fn take_back_all_down_timers(&mut self) {
        for idx in self.instances.indices() {
            self.take_back_down_timer(idx);
        }
    }

    /// The safety net behind rule (5), run with the periodic link poll
    /// (every 30 s, or on any link change): after the events waiting are
    /// read, a confirmed hand-over whose deadline (the interval after the
    /// last advert the kernel counted) passed more than a second ago, and
    /// that the kernel did not mark as run out, means the kernel's clock
    /// failed. Every backup then takes its timer back (its expiry reads the
    /// map and takes over) and the kernel keeps none until a restart.
    pub(super) fn check_kernel_clock(&mut self) {
        const GRACE_NS: u64 = 1_000_000_000;
        if self.kernel_watched == 0 {
            return;
        }
        // An event already pushed (a daemon that was stalled) is no failure.
        self.on_xdp_events();
        let Some(dp) = &self.datapath else {
            return;
        };
        let now = monotonic_ns();
        let (mut missed, mut latest, mut first) = (0u64, 0u64, None);
        for idx in self.instances.indices() {
            let slot = &self.instances[idx];
            let Some(w) = slot.kernel_watch.filter(|w| w.confirmed) else {
                continue;
            };
            let late = match dp.down_watch(slot.key) {
                Ok(Some(entry)) if entry.fired != entry.restarted_ns => w
                    .restarted_ns(&entry)
                    .map_or(0, |at| now.saturating_sub(at + w.params.down_us * 1000)),
                Ok(_) => 0,
                // Unreadable: as a failed read at a hand-over, not trusted.
                Err(_) => u64::MAX,
            };
            if late > GRACE_NS {
                missed += 1;
                latest = latest.max(late);
                first.get_or_insert(idx);
            }
        }
        let Some(idx) = first else {
            return;
        };
        let failed = dp.counters().map_or(0, |c| c[stats::DOWN_TIMER_FAILED as usize]);
        warn!(
            instance = %self.instances[idx].cfg.name,
            missed,
            late_ms = latest / 1_000_000,
            down_timer_failed = failed,
            "the kernel's master down timer did not run out in time (takeovers may have come up to one \
             30 s link poll late): kernel master down timers off, each backup keeps its own until a restart"
        );
        self.kernel_down_off = true;
        self.take_back_all_down_timers();
    }

    /// A kernel timer ran out (`EV_DOWN_TIMER`, stamped `ts_ns`).
    pub(super) fn kernel_down_timer_ran_out(&mut self, key: InstanceKey, ts_ns: u64) {
        let Some(idx) = self.instances.lookup(&key) else {
            return;
        };
        match self.instances[idx].kernel_watch {
            // An event for a hand-over our last write replaced.
            Some(w) if ts_ns < w.written_ns => {}
            Some(_) => self.take_back_down_timer(idx),
            // The instance took its timer back: stop the kernel's too.
            None => {
                if let Some(dp) = &mut self.datapath
                    && let Err(e) = dp.unwatch_down(key)
                {
                    debug!("stopping a kernel master down timer: {e:#}");
                }
            }
        }
    }
}
