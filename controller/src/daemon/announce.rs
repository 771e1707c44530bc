//! The queue of gratuitous ARPs and unsolicited NAs (RFC 5798 6.4.1 (b), (c)).
//!
//! Pure bookkeeping; the engine sends what `send_due` hands out. Two rules:
//! - Round robin: every queued announcement goes out once before any is repeated, so
//!   when a thousand instances become master together every VIP is announced
//!   early, not the first instance's five times first.
//! - Pacing, per interface and family: keepalived's `vrrp_garp_interval` and
//!   `vrrp_gna_interval` put at least that gap between two messages on one
//!   interface (for switches that rate-limit or drop bursts); a `garp_group`
//!   sets its interfaces' own gaps, and with `interfaces { }` one gap holds
//!   across all of them. With no gap everything queued is due at once.
//!
//! An instance can be held: while its addresses are being installed (on the
//! side thread) its announcements wait, so no gratuitous ARP names an address
//! the kernel does not have yet. Only how many it asked for is kept; the
//! engine pushes its announcements again when the hold ends.
//!
//! What waits is (instance, the VIP's place in its list, address, copies
//! left), not the frame: the engine builds each frame as it sends it, from
//! the instance as it is then (a mass transition queues every VIP at once:
//! 16,000 frames and their queue entries were 1.2 MB of the daemon's peak;
//! an entry is now 28 bytes). One the engine cannot send any more (a reload
//! took the address away, the interface is gone) is dropped at once, and
//! takes no turn of its interface's pacing.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
};

use super::instances::ByIndex;

use crate::vrrp::fsm::Micros;

struct Pending {
    idx: u32,
    /// Where the VIP is in the instance's list (`Slot::vip_at`): the
    /// engine checks it there in constant time.
    vip: u32,
    /// Copies still to send (at most [`MAX_BURST`]).
    left: u8,
    addr: IpAddr,
}

#[derive(Default)]
struct Queue {
    pending: VecDeque<Pending>,
}

/// A `garp_group`'s pacing of one interface: its gaps (ARP, NA) and the
/// key its gap is kept under (the interface, or its shared group).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pace {
    pub garp_gap_us: Micros,
    pub gna_gap_us: Micros,
    pub key: u64,
}

/// The most copies of one announcement a burst sends (a `*_repeat` of
/// millions would otherwise keep a VIP's switch ports busy for hours).
pub const MAX_BURST: u32 = u8::MAX as u32;

/// Announcements waiting to be sent, per (interface index, IPv6?).
#[derive(Default)]
pub struct Announcer {
    queues: HashMap<(u32, bool), Queue>,
    /// Gaps between two messages on one interface: ARP, NA (µs; 0: none).
    garp_gap_us: Micros,
    gna_gap_us: Micros,
    /// Interfaces a `garp_group` paces, by index.
    paced: HashMap<u32, Pace>,
    /// When the next message may go, per (pacing key, IPv6?).
    next_at: HashMap<(u64, bool), Micros>,
    /// Held instances and the most copies pushed for them meanwhile (0:
    /// none). Their announcements are not kept: the engine pushes them again at
    /// `release` from the instance as it is then (a mass transition holds
    /// every instance at once; a list of frames for each was 2 MB of the
    /// daemon's peak at 16,000).
    held: ByIndex<u32>,
    /// How many announcements each instance has queued (only those with
    /// some are searched for one queued twice).
    queued: ByIndex<u32>,
}

/// One announcement handed out (the tests' record of `send_due`).
#[cfg(test)]
pub struct Due {
    pub ifindex: u32,
    pub idx: usize,
    pub vip: u32,
    pub addr: IpAddr,
}

impl Announcer {
    pub fn new(garp_gap_us: Micros, gna_gap_us: Micros) -> Self {
        Self {
            queues: HashMap::new(),
            garp_gap_us,
            gna_gap_us,
            paced: HashMap::new(),
            next_at: HashMap::new(),
            held: ByIndex::default(),
            queued: ByIndex::default(),
        }
    }

    /// New gaps (a reload changed the global settings).
    pub fn set_gaps(&mut self, garp_gap_us: Micros, gna_gap_us: Micros) {
        self.garp_gap_us = garp_gap_us;
        self.gna_gap_us = gna_gap_us;
    }

    /// The `garp_group` pacing of interfaces (the others keep the global gaps).
    pub fn set_paced(&mut self, paced: HashMap<u32, Pace>) {
        self.paced = paced;
    }

    /// The gap and the pacing key of `ifindex`.
    fn pace(&self, ifindex: u32, v6: bool) -> (Micros, u64) {
        match self.paced.get(&ifindex) {
            Some(p) => (if v6 { p.gna_gap_us } else { p.garp_gap_us }, p.key),
            None => (
                if v6 { self.gna_gap_us } else { self.garp_gap_us },
                u64::from(ifindex),
            ),
        }
    }

    /// Queues `count` copies of the announcement of `addr`, VIP number
    /// `vip` of instance `idx` (at most [`MAX_BURST`]). One of the
    /// instance's still queued is not queued twice: it is sent at least
    /// `count` more times (a master answering a flood of lower priority
    /// adverts must not grow the queue; keepalived keeps one pending flag
    /// per address).
    pub fn push(&mut self, ifindex: u32, v6: bool, idx: usize, (vip, addr): (u32, IpAddr), count: u32) {
        let (Ok(idx32), Ok(count)) = (u32::try_from(idx), u8::try_from(count.min(MAX_BURST))) else {
            return;
        };
        if count == 0 {
            return;
        }
        if let Some(most) = self.held.get_mut(idx) {
            *most = (*most).max(u32::from(count));
            return;
        }
        let q = self.queues.entry((ifindex, v6)).or_default();
        let mine = self.queued.or_default(idx);
        if *mine > 0
            && let Some(p) = q.pending.iter_mut().find(|p| p.idx == idx32 && p.addr == addr)
        {
            p.left = p.left.max(count);
            // Where it is now (a reload may have moved it in the list).
            p.vip = vip;
            return;
        }
        *mine += 1;
        q.pending.push_back(Pending {
            idx: idx32,
            vip,
            left: count,
            addr,
        });
    }

    /// Forgets what instance `idx` still had queued (it is no longer master,
    /// or sending failed): a late announcement would point at the wrong router.
    pub fn cancel(&mut self, idx: usize) {
        self.held.remove(idx);
        self.queued.remove(idx);
        for q in self.queues.values_mut() {
            q.pending.retain(|p| p.idx as usize != idx);
        }
    }

    /// Holds instance `idx`'s announcements from now until `release`.
    pub fn hold(&mut self, idx: usize) {
        self.held.or_default(idx);
    }

    /// Ends the hold of instance `idx`: how many copies of each of its
    /// announcements it asked for meanwhile (the most of any push; 0: none), for
    /// the caller to push again.
    pub fn release(&mut self, idx: usize) -> u32 {
        self.held.remove(idx).unwrap_or(0)
    }

    /// Hands each announcement due at `now` to `send` (interface index,
    /// instance, VIP number, address), in round-robin order. A callback,
    /// not a list: with no gap a mass transition's whole burst is due at
    /// once (4000 masters x 5 repeats: 20,000 frames). `send` says whether
    /// the announcement still stands: one that does not is dropped with
    /// its copies left and does not count against the pacing.
    pub fn send_due(&mut self, now: Micros, mut send: impl FnMut(u32, usize, u32, IpAddr) -> bool) {
        let paces: HashMap<(u32, bool), (Micros, u64)> = self
            .queues
            .keys()
            .map(|&(ifindex, v6)| ((ifindex, v6), self.pace(ifindex, v6)))
            .collect();
        for (&(ifindex, v6), q) in &mut self.queues {
            let (gap, key) = paces[&(ifindex, v6)];
            let next_at = self.next_at.entry((key, v6)).or_insert(0);
            while *next_at <= now {
                let Some(mut p) = q.pending.pop_front() else {
                    break;
                };
                let idx = p.idx as usize;
                let stands = send(ifindex, idx, p.vip, p.addr);
                p.left = if stands { p.left - 1 } else { 0 };
                if p.left > 0 {
                    q.pending.push_back(p);
                } else if let Some(n) = self.queued.get_mut(idx) {
                    *n -= 1;
                    if *n == 0 {
                        self.queued.remove(idx);
                    }
                }
                if gap > 0 && stands {
                    *next_at = now + gap;
                }
            }
        }
        self.queues.retain(|_, q| !q.pending.is_empty());
        self.next_at.retain(|_, at| *at > now);
    }

    /// The announcements due at `now`, listed.
    #[cfg(test)]
    pub fn due(&mut self, now: Micros) -> Vec<Due> {
        let mut out = Vec::new();
        self.send_due(now, |ifindex, idx, vip, addr| {
            out.push(Due {
                ifindex,
                idx,
                vip,
                addr,
            });
            true
        });
        out
    }

    /// Nothing queued or held.
    pub fn is_idle(&self) -> bool {
        self.queues.is_empty() && self.held.is_empty()
    }

    /// Gives back the room a burst of announcements (a mass transition)
    /// left in the tables.
    pub fn shrink(&mut self) {
        self.queues.shrink_to_fit();
        self.next_at.shrink_to_fit();
        self.held.shrink_to_fit();
        self.queued.shrink_to_fit();
    }

    /// When the next paced announcement is due, if any is waiting.
    pub fn next_deadline(&self) -> Option<Micros> {
        self.queues
            .iter()
            .filter(|(_, q)| !q.pending.is_empty())
            .map(|(&(ifindex, v6), _)| match self.pace(ifindex, v6) {
                (0, _) => 0,
                (_, key) => self.next_at.get(&(key, v6)).copied().unwrap_or(0),
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Address number `n` (its last octet names it in `sent`).
    fn addr(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    /// IPv6 address number `n`.
    fn addr6(n: u8) -> IpAddr {
        IpAddr::from([0xfd00, 0, 0, 0, 0, 0, 0, u16::from(n)])
    }

    fn sent(due: &[Due]) -> Vec<(usize, u8)> {
        due.iter()
            .map(|d| match d.addr {
                IpAddr::V4(v4) => (d.idx, v4.octets()[3]),
                IpAddr::V6(v6) => (d.idx, v6.octets()[15]),
            })
            .collect()
    }

    /// A master answering a flood of lower adverts: the same announcement pushed
    /// again while queued is not queued twice; bursts are capped.
    #[test]
    fn an_announcement_still_queued_is_not_queued_twice() {
        let mut a = Announcer::new(1000, 0);
        for _ in 0..100 {
            a.push(1, false, 0, (0, addr(10)), 5);
        }
        a.push(1, false, 0, (0, addr(11)), 1);
        let mut n = 0;
        let mut now = 0;
        while a.next_deadline().is_some() && n < 1000 {
            n += a.due(now).len();
            now += 1000;
        }
        assert_eq!(n, 6);
        a.push(1, false, 0, (0, addr(12)), u32::MAX);
        let mut n = 0;
        while a.next_deadline().is_some() && n < 100_000 {
            n += a.due(now).len();
            now += 1000;
        }
        assert_eq!(n, MAX_BURST as usize);
    }

    /// `garp_group`: an interface of its own gap, a group of interfaces
    /// sharing one, the others at the global gap (none here).
    #[test]
    fn garp_groups_pace_their_interfaces() {
        let mut a = Announcer::new(0, 0);
        let pace = |key| Pace {
            garp_gap_us: 1000,
            gna_gap_us: 0,
            key,
        };
        a.set_paced(HashMap::from([
            (2, pace(1 << 32)),
            (3, pace(1 << 32)),
            (4, pace(4)),
        ]));
        for ifindex in [1, 2, 3, 4] {
            a.push(ifindex, false, 0, (0, addr(u8::try_from(ifindex).unwrap())), 2);
        }
        let first: Vec<u32> = {
            let mut v: Vec<u32> = a.due(0).iter().map(|d| d.ifindex).collect();
            v.sort_unstable();
            v
        };
        // Interface 1 sends both at once; 2 and 3 share one slot; 4 its own.
        assert_eq!(first.iter().filter(|i| **i == 1).count(), 2);
        assert_eq!(first.iter().filter(|i| **i == 2 || **i == 3).count(), 1);
        assert_eq!(first.iter().filter(|i| **i == 4).count(), 1);
        assert_eq!(a.next_deadline(), Some(1000));
        let mut rest = 0;
        let mut now = 1000;
        while a.next_deadline().is_some() && now < 10_000 {
            rest += a.due(now).len();
            now += 1000;
        }
        assert_eq!(rest, 4);
    }

    #[test]
    fn every_announcement_once_before_any_repeat() {
        let mut a = Announcer::new(0, 0);
        a.push(1, false, 0, (0, addr(10)), 3);
        a.push(1, false, 1, (0, addr(11)), 2);
        a.push(1, false, 2, (0, addr(12)), 1);
        let due = a.due(0);
        assert_eq!(sent(&due), [(0, 10), (1, 11), (2, 12), (0, 10), (1, 11), (0, 10)]);
        assert!(a.due(1).is_empty());
        assert_eq!(a.next_deadline(), None);
    }

    #[test]
    fn vrrp_garp_interval_spaces_messages_per_interface() {
        let mut a = Announcer::new(1000, 0);
        a.push(1, false, 0, (0, addr(10)), 2);
        a.push(2, false, 1, (0, addr(20)), 1);
        a.push(1, true, 2, (0, addr6(30)), 2);
        // At 0: one ARP per interface, and every NA (no NA gap).
        let mut first = sent(&a.due(0));
        first.sort_unstable();
        assert_eq!(first, [(0, 10), (1, 20), (2, 30), (2, 30)]);
        assert_eq!(a.next_deadline(), Some(1000));
        assert!(a.due(999).is_empty(), "not before the gap");
        assert_eq!(sent(&a.due(1000)), [(0, 10)]);
        assert_eq!(a.next_deadline(), None);
    }

    #[test]
    fn a_held_instance_announces_once_released() {
        let mut a = Announcer::new(0, 0);
        a.hold(0);
        a.push(1, false, 0, (0, addr(10)), 2);
        a.push(1, false, 1, (0, addr(11)), 1);
        a.push(1, false, 0, (0, addr(10)), 1);
        assert_eq!(sent(&a.due(0)), [(1, 11)], "held: nothing of instance 0 yet");
        // The most copies asked for while held, for the caller to push.
        assert_eq!(a.release(0), 2);
        assert!(a.due(1).is_empty());
        assert_eq!(a.release(0), 0, "released once");
        // Cancelled while held: what it asked for is gone with the hold.
        a.hold(2);
        a.push(1, false, 2, (0, addr(12)), 3);
        a.cancel(2);
        assert_eq!(a.release(2), 0);
        assert!(a.due(2).is_empty());
        // Held with nothing pushed: nothing to push again.
        a.hold(4);
        assert_eq!(a.release(4), 0);
    }

    #[test]
    fn a_cancelled_instance_sends_nothing_more() {
        let mut a = Announcer::new(1000, 0);
        a.push(1, false, 0, (0, addr(10)), 5);
        a.push(1, false, 1, (0, addr(11)), 5);
        assert_eq!(sent(&a.due(0)), [(0, 10)]);
        a.cancel(0);
        assert_eq!(sent(&a.due(1000)), [(1, 11)]);
        assert_eq!(sent(&a.due(2000)), [(1, 11)]);
    }

    /// The event loop shrinks the tables only when nothing is queued or
    /// held (engine/memory.rs): idle exactly then, and still working after.
    #[test]
    fn idle_once_everything_is_sent_and_working_after_a_shrink() {
        let mut a = Announcer::new(0, 0);
        assert!(a.is_idle());
        a.hold(3);
        assert!(!a.is_idle());
        assert_eq!(a.release(3), 0);
        for idx in 0..1000 {
            a.push(1, false, idx, (0, addr(1)), 2);
        }
        assert!(!a.is_idle());
        // No gap: every announcement and its repeat at once.
        assert_eq!(a.due(0).len(), 2000);
        assert!(a.is_idle());
        a.shrink();
        a.push(1, false, 7, (0, addr(9)), 1);
        assert_eq!(sent(&a.due(2)), [(7, 9)]);
        assert!(a.is_idle());
    }

    /// An announcement the engine can no longer send (a reload took the
    /// address away) is dropped with its repeats, and takes no turn of its
    /// interface's pacing: the next one goes at once.
    #[test]
    fn one_that_no_longer_stands_is_dropped_and_costs_no_gap() {
        let mut a = Announcer::new(1000, 0);
        a.push(1, false, 0, (0, addr(10)), 5);
        a.push(1, false, 1, (3, addr(11)), 2);
        let mut seen = Vec::new();
        a.send_due(0, |_, idx, vip, addr| {
            seen.push((idx, vip, addr));
            idx != 0
        });
        assert_eq!(
            seen,
            [(0, 0, addr(10)), (1, 3, addr(11))],
            "the gone one took no gap"
        );
        // Instance 0's four repeats are gone; instance 1's repeat is paced.
        assert!(a.due(999).is_empty());
        assert_eq!(sent(&a.due(1000)), [(1, 11)]);
        assert!(a.is_idle());
        // Dropped, it no longer counts as queued: pushed again, it is queued.
        a.push(1, false, 0, (0, addr(10)), 1);
        assert_eq!(sent(&a.due(5000)), [(0, 10)]);
    }

    /// Pushed again from a list a reload reordered, a queued announcement
    /// takes the address's new place (the engine checks it there).
    #[test]
    fn a_push_again_moves_the_place_in_the_list() {
        let mut a = Announcer::new(0, 0);
        a.push(1, false, 0, (0, addr(10)), 2);
        a.push(1, false, 0, (3, addr(10)), 1);
        let due = a.due(0);
        assert_eq!(due.iter().map(|d| d.vip).collect::<Vec<_>>(), [3, 3]);
    }
}
