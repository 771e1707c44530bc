//! One timer structure for every instance: a binary heap of deadlines with
//! lazy cancellation, O(log n) per arm and per expiry, no task per instance.
//! The live deadline of each (instance, timer) sits in a table indexed by
//! the instance, so checking a heap entry costs no hashing (a 4000-master
//! host re-arms 40,000 timers a second).

use std::{cmp::Reverse, collections::BinaryHeap};

use crate::vrrp::fsm::{Micros, Timer};

/// How many kinds of `Timer` there are.
const KINDS: usize = 5;

/// Each kind by its index (`kind`'s inverse).
const BY_KIND: [Timer; KINDS] = [
    Timer::Advert,
    Timer::MasterDown,
    Timer::GarpDelay,
    Timer::GarpRefresh,
    Timer::GarpLowerPrio,
];

/// Bits of a heap entry's last word that hold the timer's kind (the rest
/// hold the instance's index).
const KIND_BITS: u32 = 3;

fn kind(timer: Timer) -> usize {
    match timer {
        Timer::Advert => 0,
        Timer::MasterDown => 1,
        Timer::GarpDelay => 2,
        Timer::GarpRefresh => 3,
        Timer::GarpLowerPrio => 4,
    }
}

#[derive(Default)]
pub struct Timers {
    /// (deadline, instance << KIND_BITS | kind). 16 bytes (24 with the kind
    /// apart): the heap holds every instance's timers and, until they
    /// surface, their stale entries. Timers due at the same microsecond come
    /// out by instance, then kind.
    heap: BinaryHeap<Reverse<(Micros, u32)>>,
    /// The live timers of each instance; heap entries that do not match are
    /// stale and skipped.
    live: Vec<Live>,
    /// How many timers are armed: the heap is compacted when its stale
    /// entries outnumber them (`compact`).
    armed: usize,
}

/// One instance's armed timers: a deadline per kind (0: not armed). 40
/// bytes (64 with a sequence number per kind, 120 as an `Option` pair:
/// issue bench-truth's per-instance memory). A heap entry is live when its
/// deadline equals its timer's: a stale entry of the same deadline (a timer
/// cancelled and armed again for the same microsecond) is that timer, and
/// whichever copy surfaces first fires it and cancels it, so the other is
/// skipped.
#[derive(Clone, Copy, Default)]
struct Live {
    at: [Micros; KINDS],
}

/// Marks a live deadline whose heap entry `drop_stale` kept (a second copy
/// then goes). Deadlines stay far below it (`MAX_AT`).
const KEPT: Micros = 1 << 63;

/// The latest deadline armed (centuries of a monotonic clock away).
const MAX_AT: Micros = KEPT - 1;

/// A timer that expired: (instance, timer, the deadline it was armed for).
/// 16 bytes (24 with a `usize` index): 16,000 Master_Down_Timers expire
/// together in a mass transition.
pub type Due = (u32, Timer, Micros);

/// Stale heap entries allowed beyond the armed timers' number before a
/// compaction (a handful of instances never pay for one).
const COMPACT_SLACK: usize = 1024;

/// A heap entry's instance and the index of its timer's kind.
fn unpack(word: u32) -> (usize, usize) {
    (
        (word >> KIND_BITS) as usize,
        (word & ((1 << KIND_BITS) - 1)) as usize,
    )
}

/// The deadline of one timer (by kind index), if armed.
fn live_at(live: &[Live], idx: usize, k: usize) -> Option<Micros> {
    live.get(idx).map(|t| t.at[k]).filter(|&at| at != 0)
}

impl Timers {
    /// Gives back the heap's room beyond what it holds (after a burst).
    pub fn shrink(&mut self) {
        self.heap.shrink_to_fit();
        self.live.shrink_to_fit();
    }

    pub fn arm(&mut self, idx: usize, timer: Timer, at: Micros) {
        // Index 0 of the clock is "not armed": a deadline is never that early.
        let at = at.clamp(1, MAX_AT);
        // Instance indices are dense and far below 2^29 (one per configured
        // instance): a timer is never dropped for its index.
        let id = u32::try_from(idx)
            .ok()
            .filter(|&i| i < 1 << (32 - KIND_BITS))
            .expect("instance index fits in 29 bits");
        #[expect(clippy::cast_possible_truncation, reason = "a kind is below KINDS")]
        let word = id << KIND_BITS | kind(timer) as u32;
        if self.live.len() <= idx {
            self.live.resize(idx + 1, Live::default());
        }
        let (t, k) = (&mut self.live[idx], kind(timer));
        if t.at[k] == at {
            // Armed for that very microsecond: its heap entry stands.
            return;
        }
        self.armed += usize::from(t.at[k] == 0);
        t.at[k] = at;
        // A push into a full heap doubles it: when a quarter of it is stale,
        // drop the stale entries instead (the pass frees a quarter of the
        // room, so as many pushes follow it). Backups re-arming their
        // Master_Down_Timer at every advert keep it at twice their number,
        // not four times. (Growing by less than double instead was
        // measured worse: the freed buffers left holes in the heap.)
        let cap = self.heap.capacity();
        if self.heap.len() == cap && cap.saturating_sub(self.armed) >= cap / 4 {
            self.drop_stale();
        }
        self.heap.push(Reverse((at, word)));
        self.compact();
    }

    pub fn is_armed(&self, idx: usize, timer: Timer) -> bool {
        self.deadline(idx, timer).is_some()
    }

    pub fn cancel(&mut self, idx: usize, timer: Timer) {
        if let Some(t) = self.live.get_mut(idx) {
            let at = &mut t.at[kind(timer)];
            self.armed -= usize::from(*at != 0);
            *at = 0;
        }
    }

    /// Cancels every timer of an instance.
    pub fn cancel_all(&mut self, idx: usize) {
        if let Some(t) = self.live.get_mut(idx) {
            self.armed -= t.at.iter().filter(|&&at| at != 0).count();
            t.at = [0; KINDS];
        }
    }

    /// Drops the stale entries once they outnumber the armed timers (plus
    /// some slack): a mass transition cancels and re-arms every instance's
    /// timers at once, and a backup re-arms its Master_Down_Timer at every
    /// advert, each leaving an entry behind until its old deadline surfaces
    /// (at 16,000 instances the heap grew to 64,000 entries, 1.5 MB). The
    /// heap then stays below twice the armed timers; each pass is linear
    /// and follows at least as many pushes (amortised constant per arm).
    fn compact(&mut self) {
        if self.heap.len() <= 2 * self.armed + COMPACT_SLACK {
            return;
        }
        self.drop_stale();
    }

    /// Keeps one heap entry per armed timer (linear): the first that
    /// matches is marked kept in the table, so a copy of the same deadline
    /// goes too; the marks are cleared after.
    fn drop_stale(&mut self) {
        let live = &mut self.live;
        self.heap.retain(|&Reverse((at, word))| {
            let (idx, k) = unpack(word);
            match live.get_mut(idx) {
                Some(t) if t.at[k] == at => {
                    t.at[k] |= KEPT;
                    true
                }
                _ => false,
            }
        });
        for at in self.live.iter_mut().flat_map(|t| &mut t.at) {
            *at &= !KEPT;
        }
    }

    /// The deadline of one timer, if armed.
    pub fn deadline(&self, idx: usize, timer: Timer) -> Option<Micros> {
        live_at(&self.live, idx, kind(timer))
    }

    /// The earliest live deadline.
    pub fn earliest(&mut self) -> Option<Micros> {
        while let Some(Reverse((at, word))) = self.heap.peek().copied() {
            let (idx, k) = unpack(word);
            if live_at(&self.live, idx, k) == Some(at) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Removes and returns every timer due at `now`, earliest first, with
    /// the deadline it was armed for.
    pub fn pop_due(&mut self, now: Micros) -> Vec<Due> {
        let mut due = Vec::new();
        while let Some(at) = self.earliest() {
            if at > now {
                break;
            }
            let Reverse((_, word)) = self.heap.pop().expect("peeked");
            let (idx, k) = unpack(word);
            let timer = BY_KIND[k];
            self.cancel(idx, timer);
            // The index came from a u32 (`arm`).
            #[expect(clippy::cast_possible_truncation, reason = "below 2^29")]
            due.push((idx as u32, timer, at));
        }
        due
    }
}

/// Phases per advert interval on the grid that `on_grid` aligns to.
pub const GRID_STEPS: u64 = 16;

/// Where an advert timer armed off the timeline goes (on becoming master, a
/// priority change): onto a grid of `GRID_STEPS` phases per interval (on the
/// monotonic clock), at one of the grid points in the last half-interval
/// before `at`, picked by `seed`. Instances that become master together
/// (1000 elected at once) then advertise in 8 or 9 groups spread over the
/// interval, each group with one wake-up and one batch, instead of 1000
/// adverts in one burst whose tail is late every time; and the advert is
/// never later than `at` (RFC 5798 6.4.1 sets Adver_Timer to the interval:
/// one advert sooner only restarts the backups' timers sooner). A deadline
/// already on the grid (the ideal timeline, one interval after the last) is
/// kept.
pub fn on_grid(at: Micros, interval: Micros, seed: u64) -> Micros {
    let step = interval / GRID_STEPS;
    if step == 0 || at.is_multiple_of(step) {
        return at;
    }
    let lo = at.saturating_sub(interval / 2);
    let first = lo.div_ceil(step) * step;
    if first > at {
        return at;
    }
    let points = (at - first) / step + 1;
    first + (seed % points) * step
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adverts_off_the_timeline_go_onto_the_grid_never_later() {
        let interval = 100_000;
        let step = interval / GRID_STEPS;
        let at = 1_234_567;
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..64 {
            let g = on_grid(at, interval, seed);
            assert!(g <= at && g >= at - interval / 2, "{g}");
            assert_eq!(g % step, 0);
            // On the grid, it stays: the timeline goes on from there.
            assert_eq!(on_grid(g + interval, interval, seed), g + interval);
            seen.insert(g);
        }
        assert_eq!(seen.len(), 8, "spread over half an interval: {seen:?}");
        // The smallest interval (10 ms) has a grid too.
        assert_eq!(on_grid(10_001, 10_000, 0) % 625, 0);
    }

    #[test]
    fn rearming_replaces_and_cancel_removes() {
        let mut t = Timers::default();
        t.arm(0, Timer::Advert, 100);
        t.arm(0, Timer::Advert, 300);
        t.arm(1, Timer::MasterDown, 200);
        t.arm(2, Timer::MasterDown, 150);
        t.cancel(2, Timer::MasterDown);
        assert_eq!(t.earliest(), Some(200));
        assert_eq!(t.pop_due(250), vec![(1, Timer::MasterDown, 200)]);
        assert_eq!(t.pop_due(250), vec![]);
        assert_eq!(t.pop_due(300), vec![(0, Timer::Advert, 300)]);
        assert_eq!(t.earliest(), None);
    }

    #[test]
    fn a_timer_armed_again_for_the_same_microsecond_fires_once() {
        let mut t = Timers::default();
        // Armed again as it is: no second entry.
        t.arm(0, Timer::Advert, 100);
        t.arm(0, Timer::Advert, 100);
        assert_eq!(t.heap.len(), 1);
        // Cancelled and armed again: two entries, one firing.
        t.cancel(0, Timer::Advert);
        t.arm(0, Timer::Advert, 100);
        assert_eq!(t.heap.len(), 2);
        // A pass over the heap keeps one copy, and unmarks the table.
        t.drop_stale();
        assert_eq!(t.heap.len(), 1);
        assert_eq!(t.deadline(0, Timer::Advert), Some(100));
        t.cancel(0, Timer::Advert);
        t.arm(0, Timer::Advert, 100);
        assert_eq!(t.pop_due(100), vec![(0, Timer::Advert, 100)]);
        assert_eq!((t.armed, t.earliest()), (0, None));
        // Same microsecond, other timers: by instance, then kind.
        t.arm(5, Timer::MasterDown, 7);
        t.arm(5, Timer::Advert, 7);
        t.arm(2, Timer::GarpDelay, 7);
        assert_eq!(
            t.pop_due(7),
            vec![
                (2, Timer::GarpDelay, 7),
                (5, Timer::Advert, 7),
                (5, Timer::MasterDown, 7)
            ]
        );
    }

    #[test]
    fn a_deadline_at_the_clocks_start_is_armed_not_lost() {
        // 0 marks an unarmed timer in the table: such a deadline fires at 1.
        let mut t = Timers::default();
        t.arm(0, Timer::Advert, 0);
        assert!(t.is_armed(0, Timer::Advert));
        assert_eq!(t.pop_due(1), vec![(0, Timer::Advert, 1)]);
        assert!(!t.is_armed(0, Timer::Advert));
    }

    #[test]
    fn cancel_all_forgets_an_instance() {
        let mut t = Timers::default();
        t.arm(3, Timer::Advert, 10);
        t.arm(3, Timer::GarpDelay, 20);
        t.arm(4, Timer::Advert, 30);
        t.cancel_all(3);
        assert_eq!(t.pop_due(100), vec![(4, Timer::Advert, 30)]);
    }

    #[test]
    fn every_kind_and_a_large_index_come_back_as_armed() {
        let mut t = Timers::default();
        let big = 70_000;
        for (i, timer) in BY_KIND.iter().enumerate() {
            assert_eq!(kind(*timer), i);
            t.arm(big - i, *timer, 10 + i as u64);
        }
        let want: Vec<_> = BY_KIND
            .iter()
            .enumerate()
            .map(|(i, timer)| (u32::try_from(big - i).unwrap(), *timer, 10 + i as u64))
            .collect();
        assert_eq!(t.pop_due(100), want);
    }

    #[test]
    fn rearming_backups_keep_the_heap_at_twice_their_number() {
        // 4000 backups re-arm their Master_Down_Timer at each of 20 adverts:
        // a full heap drops its stale entries before it doubles again.
        let n = 4000usize;
        let mut t = Timers::default();
        for round in 0..20u64 {
            for i in 0..n {
                t.arm(i, Timer::MasterDown, 1000 * round + i as u64);
            }
        }
        assert!(
            t.heap.capacity() <= 2 * n.next_power_of_two(),
            "{} entries of room",
            t.heap.capacity()
        );
        let due = t.pop_due(u64::MAX);
        assert_eq!(due.len(), n);
        assert!(due.iter().all(|&(i, _, at)| at == 19_000 + u64::from(i)));
    }

    #[test]
    fn stale_entries_go_before_they_pile_up() {
        // Ten backups re-arm their Master_Down_Timer at each of 1000 adverts,
        // and a hundred timers are armed and cancelled.
        let mut t = Timers::default();
        for round in 0..1000u64 {
            for i in 0..10usize {
                t.arm(i, Timer::MasterDown, 1_000_000 + round * 10 + i as u64);
            }
        }
        for i in 10..110usize {
            t.arm(i, Timer::GarpDelay, 5);
            t.cancel(i, Timer::GarpDelay);
        }
        assert_eq!(t.armed, 10);
        assert!(t.heap.len() <= 2 * 10 + COMPACT_SLACK, "{} entries", t.heap.len());
        // Only the last deadline of each fires, in order.
        let want: Vec<_> = (0..10u32)
            .map(|i| (i, Timer::MasterDown, 1_000_000 + 999 * 10 + u64::from(i)))
            .collect();
        assert_eq!(t.pop_due(u64::MAX), want);
        assert_eq!(t.armed, 0);
        t.arm(1, Timer::Advert, 7);
        t.cancel_all(1);
        assert_eq!((t.armed, t.earliest()), (0, None));
    }
}
