//! The instance registry: the running virtual routers by index, key and
//! name, and the configured ones still waiting for their interface. A
//! removed instance leaves no entry behind: its index is reused by the next
//! one added (the engine cancels its timers and queued announcements first),
//! so memory stays flat across any number of reloads and re-created
//! interfaces.
//!
//! The reload difference is computed here too, as pure data.

use std::ops::{Index, IndexMut};

use xvrrp_common::maps::InstanceKey;

use crate::config::model::Instance as InstanceCfg;

/// What the registry needs of what it holds.
pub trait Keyed {
    /// Interface, family and VRID: unique among running instances.
    fn key(&self) -> InstanceKey;
    fn cfg(&self) -> &InstanceCfg;
}

/// An instance whose interface is missing (or has no address to send
/// adverts from): keepalived keeps such an instance in FAULT and starts it
/// when the interface appears; so does the link poll here.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub cfg: InstanceCfg,
    pub why: String,
}

pub struct Instances<T> {
    slots: Vec<Option<T>>,
    /// Indices of empty entries, reused first.
    free: Vec<usize>,
    by_key: foldhash::HashMap<InstanceKey, usize>,
    /// Configured instances not bound to their interface yet.
    pub waiting: Vec<Waiting>,
}

impl<T> Default for Instances<T> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            by_key: foldhash::HashMap::default(),
            waiting: Vec::new(),
        }
    }
}

impl<T: Keyed> Instances<T> {
    /// Adds an instance; gives it back if its key is taken.
    pub fn insert(&mut self, item: T) -> Result<usize, T> {
        let key = item.key();
        if self.by_key.contains_key(&key) {
            return Err(item);
        }
        let idx = if let Some(idx) = self.free.pop() {
            self.slots[idx] = Some(item);
            idx
        } else {
            self.slots.push(Some(item));
            self.slots.len() - 1
        };
        self.by_key.insert(key, idx);
        Ok(idx)
    }

    /// Room for `n` more instances, allocated once.
    pub fn reserve(&mut self, n: usize) {
        self.slots.reserve_exact(n);
        self.by_key.reserve(n);
    }

    /// Removes an instance; its index is free for the next one.
    pub fn remove(&mut self, idx: usize) -> Option<T> {
        let item = self.slots.get_mut(idx)?.take()?;
        self.by_key.remove(&item.key());
        self.free.push(idx);
        Some(item)
    }

    /// Puts `item` in place of the instance at `idx` (same key: a reload
    /// reconfiguring it); gives it back if the index is free or the key differs.
    pub fn replace(&mut self, idx: usize, item: T) -> Result<T, T> {
        match self.slots.get_mut(idx) {
            Some(Some(old)) if old.key() == item.key() => Ok(std::mem::replace(old, item)),
            _ => Err(item),
        }
    }

    pub fn get(&self, idx: usize) -> Option<&T> {
        self.slots.get(idx)?.as_ref()
    }

    pub fn is_live(&self, idx: usize) -> bool {
        self.get(idx).is_some()
    }

    /// The running instance with this key.
    pub fn lookup(&self, key: &InstanceKey) -> Option<usize> {
        self.by_key.get(key).copied()
    }

    /// The running instance of this name.
    pub fn by_name(&self, name: &str) -> Option<usize> {
        self.iter().find(|(_, s)| &*s.cfg().name == name).map(|(i, _)| i)
    }

    /// Running instances with their index, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
    }

    /// Running instances, in index order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().flatten()
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.slots.iter_mut().flatten()
    }

    /// The indices of the running instances (a copy: the caller may change
    /// the registry while it walks them).
    pub fn indices(&self) -> Vec<usize> {
        self.iter().map(|(i, _)| i).collect()
    }

    /// How many run.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Entries held, running or free (what memory the registry keeps).
    pub fn capacity_used(&self) -> usize {
        self.slots.len()
    }
}

impl<T: Keyed> Index<usize> for Instances<T> {
    type Output = T;

    /// The running instance at `idx`. Indices come from the registry and are
    /// dropped with their instance; a stale one is a bug in the engine.
    fn index(&self, idx: usize) -> &T {
        self.get(idx)
            .unwrap_or_else(|| panic!("instance index {idx} is not running"))
    }
}

impl<T: Keyed> IndexMut<usize> for Instances<T> {
    fn index_mut(&mut self, idx: usize) -> &mut T {
        self.slots
            .get_mut(idx)
            .and_then(Option::as_mut)
            .unwrap_or_else(|| panic!("instance index {idx} is not running"))
    }
}

/// What makes a running instance the same one across a reload, as keepalived
/// 2.2.7 decides it (`vrrp_exist`): interface, family and VRID, unicast or
/// multicast (and for unicast the source address), the virtual MAC setup.
/// The name is not part of it (a renamed instance keeps running). The
/// protocol version is, here: an interval means another thing in each.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    interface: Option<String>,
    family: crate::config::model::Family,
    vrid: u8,
    version: u8,
    unicast: bool,
    /// The source address (unicast only).
    src: Option<std::net::IpAddr>,
    vmac: bool,
    vmac_xmit_base: bool,
}

impl Identity {
    pub fn of(cfg: &InstanceCfg) -> Self {
        Self {
            interface: cfg.interface.as_deref().map(str::to_owned),
            family: cfg.family,
            vrid: cfg.vrid,
            version: cfg.version,
            unicast: cfg.is_unicast(),
            src: cfg.src_ip.filter(|_| cfg.is_unicast()),
            vmac: cfg.vmac.is_some(),
            vmac_xmit_base: cfg.vmac_xmit_base,
        }
    }
}

/// What a reload does to the instances (keepalived's `restore_vrrp_state`):
/// an instance whose identity is unchanged keeps its state and timers and
/// takes its new settings in place; the others stop or start.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReloadPlan {
    /// Running instances (by their running name) to reconfigure in place
    /// with the new configuration.
    pub update: Vec<(String, InstanceCfg)>,
    /// Running instances to stop: no configured instance has their identity.
    pub stop: Vec<String>,
    /// Instances to start (or to wait for their interface), in configuration order.
    pub start: Vec<InstanceCfg>,
}

/// The reload difference between what runs and the new configuration.
/// Unchanged instances appear nowhere. Instances that wait for their
/// interface are not running: each still configured is in `start` (it waits
/// again if its interface is still missing).
pub fn reload_plan<'a>(
    running: impl IntoIterator<Item = &'a InstanceCfg>,
    new: &[InstanceCfg],
) -> ReloadPlan {
    let running: Vec<&InstanceCfg> = running.into_iter().collect();
    let mut plan = ReloadPlan::default();
    let mut matched = vec![false; new.len()];
    // Linear in the instance count: 4000 instances reload in milliseconds.
    let mut by_identity: std::collections::HashMap<Identity, Vec<usize>> = std::collections::HashMap::new();
    for (i, n) in new.iter().enumerate().rev() {
        by_identity.entry(Identity::of(n)).or_default().push(i);
    }
    for r in &running {
        let found = by_identity
            .get_mut(&Identity::of(r))
            .and_then(Vec::pop)
            .map(|i| (i, &new[i]));
        match found {
            Some((i, n)) => {
                matched[i] = true;
                if n != *r {
                    plan.update.push((r.name.to_string(), n.clone()));
                }
            }
            None => plan.stop.push(r.name.to_string()),
        }
    }
    plan.start = new
        .iter()
        .zip(&matched)
        .filter(|(_, m)| !**m)
        .map(|(n, _)| n.clone())
        .collect();
    plan
}

/// A table by instance index for what a burst touches in every instance at
/// once (VIP jobs in flight, held and queued announcements): dense, a slot
/// per index up to the highest in use, given back whole when empty. Indices
/// are dense (one per configured instance), so at 16,000 instances a burst's
/// table of 32-bit values is 128 KB, where a hash map of them took 290-440
/// KB with its control bytes and its growth (issue bench-truth's
/// 16,000-instance peak); idle, it holds nothing.
pub struct ByIndex<V> {
    slots: Vec<Option<V>>,
    len: usize,
}

impl<V> Default for ByIndex<V> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            len: 0,
        }
    }
}

/// An index as a key: indices are dense, one per configured instance, far
/// below 2^32.
pub(crate) fn key32(idx: usize) -> u32 {
    u32::try_from(idx).expect("instance index fits in 32 bits")
}

impl<V> ByIndex<V> {
    pub fn get(&self, idx: usize) -> Option<&V> {
        self.slots.get(idx)?.as_ref()
    }

    pub fn get_mut(&mut self, idx: usize) -> Option<&mut V> {
        self.slots.get_mut(idx)?.as_mut()
    }

    pub fn insert(&mut self, idx: usize, value: V) -> Option<V> {
        if self.slots.len() <= idx {
            self.slots.resize_with(idx + 1, || None);
        }
        let old = self.slots[idx].replace(value);
        self.len += usize::from(old.is_none());
        old
    }

    pub fn remove(&mut self, idx: usize) -> Option<V> {
        let old = self.slots.get_mut(idx)?.take();
        self.len -= usize::from(old.is_some());
        old
    }

    /// The entry of `idx`, made with `V::default()` when absent.
    pub fn or_default(&mut self, idx: usize) -> &mut V
    where
        V: Default,
    {
        if self.get(idx).is_none() {
            self.insert(idx, V::default());
        }
        self.slots[idx].as_mut().expect("just inserted")
    }

    pub fn keys(&self) -> impl Iterator<Item = usize> + Clone + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_ref().map(|_| i))
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Gives back the room beyond the highest index in use (all of it when
    /// empty).
    pub fn shrink_to_fit(&mut self) {
        while self.slots.last().is_some_and(Option::is_none) {
            self.slots.pop();
        }
        self.slots.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_index_counts_and_gives_back_its_room() {
        let mut t: ByIndex<u32> = ByIndex::default();
        assert!(t.is_empty() && t.get(5).is_none() && t.remove(5).is_none());
        *t.or_default(5) += 2;
        *t.or_default(5) += 1;
        assert_eq!(t.insert(2, 7), None);
        assert_eq!(t.insert(2, 8), Some(7));
        assert_eq!((t.get(5), t.get(2), t.get(3)), (Some(&3), Some(&8), None));
        assert_eq!(t.keys().collect::<Vec<_>>(), [2, 5]);
        assert_eq!(t.remove(5), Some(3));
        assert!(!t.is_empty());
        t.shrink_to_fit();
        assert_eq!(t.slots.len(), 3, "room up to the highest index in use");
        assert_eq!(t.remove(2), Some(8));
        assert!(t.is_empty());
        t.shrink_to_fit();
        assert_eq!(t.slots.capacity(), 0);
    }

    struct Item(InstanceCfg, u8);

    impl Keyed for Item {
        fn key(&self) -> InstanceKey {
            InstanceKey::new(1, false, self.1)
        }

        fn cfg(&self) -> &InstanceCfg {
            &self.0
        }
    }

    fn cfg(name: &str, vrid: u8, priority: u8) -> InstanceCfg {
        let text = format!(
            "vrrp_instance {name} {{\n interface eth0\n virtual_router_id {vrid}\n priority {priority}\n \
             virtual_ipaddress {{\n 192.0.2.{vrid}/24\n }}\n}}\n"
        );
        let loaded = crate::config::load_str("t.conf", &text, None);
        let mut config = loaded
            .config
            .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
        config.instances.remove(0)
    }

    #[test]
    fn removed_entries_are_reused_and_keys_stay_unique() {
        let mut r = Instances::default();
        let a = r.insert(Item(cfg("a", 1, 100), 1)).ok().unwrap();
        let b = r.insert(Item(cfg("b", 2, 100), 2)).ok().unwrap();
        assert!(
            r.insert(Item(cfg("dup", 2, 100), 2)).is_err(),
            "VRID 2 runs already"
        );
        assert_eq!(r.len(), 2);
        // A thousand reloads that replace an instance keep two entries.
        for _ in 0..1000 {
            assert!(r.remove(b).is_some());
            assert!(!r.is_live(b));
            assert_eq!(r.insert(Item(cfg("b", 2, 100), 2)).ok(), Some(b));
        }
        assert_eq!(r.capacity_used(), 2);
        assert_eq!(r.lookup(&InstanceKey::new(1, false, 2)), Some(b));
        assert_eq!(r.by_name("a"), Some(a));
        assert_eq!(r.indices(), [a, b]);
        assert!(r.remove(a).is_some() && r.remove(a).is_none());
        assert_eq!(r.values().count(), 1);
    }

    #[test]
    fn reload_plan_updates_in_place_by_identity_and_stops_and_starts_the_rest() {
        let running = [cfg("same", 1, 100), cfg("changed", 2, 100), cfg("gone", 3, 100)];
        let renamed = {
            let mut c = cfg("same", 1, 100);
            c.name = "renamed".into();
            c
        };
        let new = [cfg("changed", 2, 150), renamed.clone(), cfg("added", 4, 100)];
        let plan = reload_plan(&running, &new);
        // A new priority, and a new name, are taken in place (keepalived's
        // identity is interface, family and VRID, not the name).
        let updated: Vec<(&str, &str, u8)> = plan
            .update
            .iter()
            .map(|(old, c)| (old.as_str(), &*c.name, c.priority))
            .collect();
        assert_eq!(updated, [("same", "renamed", 100), ("changed", "changed", 150)]);
        assert_eq!(plan.stop, ["gone"]);
        let started: Vec<&str> = plan.start.iter().map(|c| &*c.name).collect();
        assert_eq!(started, ["added"]);
        assert_eq!(reload_plan(&running, &running), ReloadPlan::default());
        // Another interface is another router: stop and start.
        let mut moved = cfg("changed", 2, 100);
        moved.interface = Some("eth1".into());
        let plan = reload_plan(&running[1..2], std::slice::from_ref(&moved));
        assert_eq!((plan.stop.len(), plan.start.len(), plan.update.len()), (1, 1, 0));
    }
}
