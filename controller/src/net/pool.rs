//! The sockets the engine sends and receives on, shared by every instance
//! that needs the same one: an advert sender per (interface, source
//! address), a receiver per (interface, family), an AF_PACKET sender per
//! interface for gratuitous ARPs, unsolicited NAs and whole advert frames.

use std::{collections::HashMap, net::IpAddr};

use anyhow::{Context as _, Result};

use super::{
    advert_socket::{Receiver, Sender},
    frames::FrameSender,
};

/// An advert sender: (interface index, source address).
pub type SenderKey = (u32, IpAddr);

/// What one instance needs opened.
pub struct Needs<'a> {
    pub ifname: &'a str,
    pub ifindex: u32,
    /// Where its adverts leave: the interface, or its `use_vmac` macvlan.
    pub tx: (&'a str, u32),
    /// Socket mode with a `use_vmac` macvlan: adverts are heard there
    /// (macvlan index, the instance's VRID).
    pub rx_link: Option<(u32, u8)>,
    /// Source of its adverts.
    pub src: IpAddr,
    /// `unicast_ttl` for unicast peers.
    pub ttl: u8,
    pub v6: bool,
    /// The VRRP multicast group the receiver joins.
    pub group: IpAddr,
    /// Interfaces it sends whole frames on (its VIPs' and its own with `use_vmac`).
    pub frame_ifaces: Vec<u32>,
}

#[derive(Default)]
pub struct Pool {
    senders: HashMap<SenderKey, Sender>,
    pub receivers: Vec<Receiver>,
    frames: HashMap<u32, FrameSender>,
    /// Set when `receivers` changed: the event loop re-registers them.
    pub receivers_changed: bool,
}

impl Pool {
    /// Opens what `need` asks for that is not open yet; the error names the socket.
    pub fn open_for(&mut self, need: &Needs<'_>) -> Result<()> {
        let (tx_name, tx_index) = need.tx;
        let key = (tx_index, need.src);
        if let std::collections::hash_map::Entry::Vacant(e) = self.senders.entry(key) {
            let sender = Sender::open(tx_name, tx_index, need.src, need.ttl)
                .with_context(|| format!("advert socket on {tx_name}"))?;
            e.insert(sender);
        }
        let bound = need.rx_link.map_or(need.ifindex, |(link, _)| link);
        if !self.receivers.iter().any(|r| r.bound == bound && r.v6 == need.v6) {
            let r = match need.rx_link {
                Some((link, vrid)) => Receiver::open_packet(link, need.ifindex, need.group, vrid),
                None => Receiver::open(need.ifname, need.ifindex, need.group),
            }
            .with_context(|| format!("receive socket on {}", need.ifname))?;
            self.receivers.push(r);
            self.receivers_changed = true;
        }
        for ifindex in &need.frame_ifaces {
            if !self.frames.contains_key(ifindex) {
                let f = FrameSender::open(*ifindex).context("AF_PACKET socket for gratuitous ARP")?;
                self.frames.insert(*ifindex, f);
            }
        }
        Ok(())
    }

    /// Closes every socket on interfaces that are gone (deleted, or created
    /// again with a new index).
    pub fn forget_interfaces(&mut self, gone: &[u32]) {
        self.senders.retain(|(ifindex, _), _| !gone.contains(ifindex));
        self.frames.retain(|ifindex, _| !gone.contains(ifindex));
        let before = self.receivers.len();
        self.receivers
            .retain(|r| !gone.contains(&r.ifindex) && !gone.contains(&r.bound));
        self.receivers_changed |= self.receivers.len() != before;
    }

    /// An address was deleted (from any interface: the kernel's check is
    /// host-wide): the senders using it as their source have the kernel check
    /// it again (`Sender::recheck`).
    pub fn source_deleted(&mut self, addr: std::net::IpAddr) {
        for s in self.senders.values_mut().filter(|s| s.src == addr) {
            s.recheck();
        }
    }

    /// Whether an open sender sends from `addr`.
    pub fn uses_source(&self, addr: std::net::IpAddr) -> bool {
        self.senders.values().any(|s| s.src == addr)
    }

    /// Every sender has the kernel check its source again (a deletion may
    /// have gone unnoticed: lost notifications, the link poll).
    pub fn recheck_all(&mut self) {
        for s in self.senders.values_mut() {
            s.recheck();
        }
    }

    pub fn sender(&mut self, key: &SenderKey) -> Option<&mut Sender> {
        self.senders.get_mut(key)
    }

    pub fn frames(&self, ifindex: u32) -> Option<&FrameSender> {
        self.frames.get(&ifindex)
    }
}
