//! VIPs added and removed over rtnetlink, with their prefix, broadcast,
//! scope and label; the daemon removes only what it added, and at a start
//! that adopts nothing the configured VIPs a previous run left (as keepalived).

use std::{
    collections::HashSet,
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use anyhow::{Context as _, Result};
use rtnetlink::{
    Handle,
    packet_route::{
        address::{
            AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope, CacheInfo,
        },
        neighbour::NeighbourFlags,
    },
};

use crate::config::model::VirtualAddress;

/// What identifies an address we installed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Installed {
    pub ifindex: u32,
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Installed {
    /// `vip` on interface `ifindex`.
    pub fn of(ifindex: u32, vip: &VirtualAddress) -> Self {
        Self {
            ifindex,
            addr: vip.addr,
            prefix: vip.prefix,
        }
    }
}

/// The VIPs this daemon added (or adopted) and has not removed, one set for
/// both threads: the side thread changes it as the kernel answers; the
/// protocol thread reads it for the removals to expect and for the record
/// an unclean stop leaves (it stays readable when the side thread is stuck:
/// the lock is never held across an await). A copy per thread was 0.8 MB
/// each at 16,000 masters (issue bench-truth's memory).
#[derive(Clone, Default)]
pub struct Ours(Arc<Mutex<HashSet<Installed>>>);

impl Ours {
    /// A thread that panicked holding the lock left the set whole (each
    /// change is one insert or remove): it is still the truth.
    fn lock(&self) -> MutexGuard<'_, HashSet<Installed>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Those of `keys` that are ours (one lock for all: the protocol
    /// thread, maybe real-time, waits on the side thread's hold of it, which
    /// is one insert or removal, or a copy of the set after lost
    /// notifications; never a kernel round trip).
    pub fn mine(&self, keys: impl Iterator<Item = Installed>) -> Vec<Installed> {
        let set = self.lock();
        keys.filter(|k| set.contains(k)).collect()
    }

    /// Every one as `state.json` records it: (interface index, address,
    /// prefix), sorted.
    pub fn sorted(&self) -> Vec<(u32, IpAddr, u8)> {
        let mut v: Vec<_> = self
            .lock()
            .iter()
            .map(|i| (i.ifindex, i.addr, i.prefix))
            .collect();
        // Unstable: no scratch buffer of half the list (equal entries are equal).
        v.sort_unstable();
        v
    }

    /// Marks addresses ours before the side thread looks (a resuming
    /// start's adopted VIPs: see `Worker::adopt`).
    pub fn insert_all(&self, keys: impl IntoIterator<Item = Installed>) {
        self.lock().extend(keys);
    }

    fn insert(&self, key: Installed) {
        self.lock().insert(key);
    }

    pub(crate) fn remove(&self, key: &Installed) -> bool {
        self.lock().remove(key)
    }

    fn contains(&self, key: &Installed) -> bool {
        self.lock().contains(key)
    }
}

/// Whose an address is: an instance's VIP (in the shared [`Ours`]) or a
/// `static_ipaddress` (the side thread's own). Apart, so a static address
/// that is also a VIP is never removed with the VIP.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Vip,
    Static,
}

/// The rtnetlink connection and the addresses this daemon added.
pub struct Addresses {
    handle: Handle,
    vips: Ours,
    statics: HashSet<Installed>,
}

impl Addresses {
    /// Opens the rtnetlink connection; its I/O runs as a task on the current
    /// runtime. The VIPs it adds go into `vips`.
    pub fn open(vips: Ours) -> Result<Self> {
        let (conn, handle, _) = rtnetlink::new_connection().context("rtnetlink socket")?;
        tokio::spawn(conn);
        Ok(Self {
            handle,
            vips,
            statics: HashSet::new(),
        })
    }

    /// The addresses this daemon added (and adopted) and has not removed,
    /// VIPs and static ones: (interface index, address).
    pub fn ours(&self) -> Vec<(u32, IpAddr)> {
        let vips = self.vips.lock();
        vips.iter()
            .chain(&self.statics)
            .map(|i| (i.ifindex, i.addr))
            .collect()
    }

    fn has(&self, key: &Installed, kind: Kind) -> bool {
        match kind {
            Kind::Vip => self.vips.contains(key),
            Kind::Static => self.statics.contains(key),
        }
    }

    fn mark(&mut self, key: Installed, kind: Kind) {
        match kind {
            Kind::Vip => self.vips.insert(key),
            Kind::Static => {
                self.statics.insert(key);
            }
        }
    }

    fn unmark(&mut self, key: &Installed, kind: Kind) {
        match kind {
            Kind::Vip => {
                self.vips.remove(key);
            }
            Kind::Static => {
                self.statics.remove(key);
            }
        }
    }

    /// The shared set of VIPs.
    pub fn vips(&self) -> &Ours {
        &self.vips
    }

    /// The rtnetlink handle (routes and rules go through it too).
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    fn message(&self, ifindex: u32, vip: &VirtualAddress) -> AddressMessage {
        let mut req = self.handle.address().add(ifindex, vip.addr, vip.prefix);
        let msg = req.message_mut();
        if let Some(brd) = vip.brd {
            msg.attributes.push(AddressAttribute::Broadcast(brd));
        }
        if let Some(label) = &vip.label {
            msg.attributes.push(AddressAttribute::Label(label.to_string()));
        }
        if let Some(scope) = vip.scope {
            msg.header.scope = AddressScope::from(scope);
        }
        if vip.addr.is_ipv6() {
            // As keepalived: no Duplicate Address Detection unless `-nodad`
            // asks for it. A VIP left tentative is unreachable for about 1.7 s
            // after a takeover, and one that fails DAD in a split brain stays
            // unusable after it heals.
            if !vip.dad {
                msg.header.flags |= AddressHeaderFlags::Nodad;
                msg.attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
            }
            let preferred = vip.effective_preferred_lft();
            if preferred != u32::MAX {
                let mut info = CacheInfo::default();
                info.ifa_preferred = preferred;
                info.ifa_valid = u32::MAX;
                msg.attributes.push(AddressAttribute::CacheInfo(info));
            }
        }
        msg.clone()
    }

    /// Adds `vip` on `ifindex`; true when it is newly ours. An address that
    /// already exists is left alone and not marked ours (so we never remove
    /// an operator's address).
    pub async fn add(&mut self, ifindex: u32, vip: &VirtualAddress, kind: Kind) -> Result<bool> {
        let key = Installed::of(ifindex, vip);
        if self.has(&key, kind) {
            return Ok(false);
        }
        let mut req = self.handle.address().add(ifindex, vip.addr, vip.prefix);
        *req.message_mut() = self.message(ifindex, vip);
        match req.execute().await {
            Ok(()) => {
                self.mark(key, kind);
                Ok(true)
            }
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => Ok(false),
            Err(e) => {
                Err(e).with_context(|| format!("adding {}/{} on ifindex {ifindex}", vip.addr, vip.prefix))
            }
        }
    }

    /// Forgets that static address `vip` on `ifindex` is ours (someone deleted it).
    pub fn forget_static(&mut self, ifindex: u32, vip: &VirtualAddress) {
        self.statics.remove(&Installed::of(ifindex, vip));
    }

    /// Removes `vip` from `ifindex` if this daemon added it; true when it
    /// was ours (it is not any more, also when the kernel refused). Ours
    /// until the kernel answers: the record an unclean stop writes while
    /// this removal hangs lists it.
    pub async fn remove(&mut self, ifindex: u32, vip: &VirtualAddress, kind: Kind) -> Result<bool> {
        let key = Installed::of(ifindex, vip);
        if !self.has(&key, kind) {
            return Ok(false);
        }
        let msg = self.message(ifindex, vip);
        let answer = self.handle.address().del(msg).execute().await;
        self.unmark(&key, kind);
        match answer {
            Ok(()) => Ok(true),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EADDRNOTAVAIL => Ok(true),
            Err(e) => {
                Err(e).with_context(|| format!("removing {}/{} from ifindex {ifindex}", vip.addr, vip.prefix))
            }
        }
    }

    /// Marks `vip` on `ifindex` as added by this daemon: a crash-only restart
    /// takes over the addresses its predecessor installed.
    pub fn adopt(&mut self, ifindex: u32, vip: &VirtualAddress) {
        self.vips.insert(Installed::of(ifindex, vip));
    }

    /// Every address on the host now: (ifindex, address, prefix).
    pub async fn present(&self) -> Result<Vec<(u32, IpAddr, u8)>> {
        use futures::TryStreamExt as _;
        let mut dump = self.handle.address().get().execute();
        let mut out = Vec::new();
        while let Some(msg) = dump.try_next().await.context("listing the host's addresses")? {
            let addr = msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            });
            // IFA_LOCAL is the local address when present (IPv4; a
            // point-to-point link's IFA_ADDRESS is the peer's); IPv6 gives
            // IFA_ADDRESS alone unless a peer is set.
            let addr = addr.or_else(|| {
                msg.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })
            });
            if let Some(ip) = addr {
                out.push((msg.header.index, ip, msg.header.prefix_len));
            }
        }
        Ok(out)
    }

    /// Removes an address a previous run installed (a leftover this run does not adopt).
    pub async fn remove_leftover(&mut self, ifindex: u32, addr: IpAddr, prefix: u8) -> Result<()> {
        let vip = VirtualAddress::new(addr, prefix);
        self.adopt(ifindex, &vip);
        self.remove(ifindex, &vip, Kind::Vip).await.map(|_| ())
    }

    /// Adds `mac` to the device's unicast address filter (`bridge fdb add MAC
    /// dev IF self permanent`), so a NIC that filters MACs passes frames sent
    /// to a virtual MAC up to XDP. Devices without a filter say so; that is fine.
    pub async fn add_unicast_filter(&self, ifindex: u32, mac: [u8; 6]) {
        let req = self
            .handle
            .neighbours()
            .add_bridge(ifindex, &mac)
            .flags(NeighbourFlags::Own);
        if let Err(e) = req.execute().await {
            tracing::debug!(ifindex, "unicast filter for the virtual MAC not set: {e}");
        }
    }

    /// Removes `mac` from the device's unicast address filter.
    pub async fn remove_unicast_filter(&self, ifindex: u32, mac: [u8; 6]) {
        let mut req = self
            .handle
            .neighbours()
            .add_bridge(ifindex, &mac)
            .flags(NeighbourFlags::Own);
        let msg = req.message_mut().clone();
        let _ = self.handle.neighbours().del(msg).execute().await;
    }
}
