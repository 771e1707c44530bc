//! The VIP and virtual-MAC maps: what XDP answers ARP / NDP for, which
//! VIPs `no_accept` guards, which virtual MACs reach the stack.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::{Context as _, Result};
use aya::maps::Array;
use xvrrp_common::maps::{
    self, VIP_NO_ACCEPT, VIP_XDP_ANSWER, Vip4Key, Vip6Key, VipValue, VmacKey, VmacValue,
};

use super::{Datapath, ignore_missing};

impl Datapath {
    /// Makes XDP answer ARP / Neighbor Solicitations for `vip` on `ifindex`
    /// with `mac`; without `accept` (RFC 5798 6.4.3 Accept_Mode) packets
    /// addressed to it are dropped.
    pub fn set_vip(&mut self, ifindex: u32, vip: IpAddr, mac: [u8; 6], vrid: u8, accept: bool) -> Result<()> {
        let flags = if accept { 0 } else { VIP_NO_ACCEPT }
            | if self.answers_in_xdp(ifindex) {
                VIP_XDP_ANSWER
            } else {
                0
            };
        let value = VipValue { mac, vrid, flags };
        match vip {
            IpAddr::V4(a) => self.hash(maps::VIPS4)?.insert(vip4_key(ifindex, a), value, 0),
            IpAddr::V6(a) => self.hash(maps::VIPS6)?.insert(vip6_key(ifindex, a), value, 0),
        }
        .with_context(|| format!("activating VIP {vip} in XDP"))?;
        let changed = if accept {
            self.guarded.remove(&(ifindex, vip))
        } else {
            self.guarded.insert((ifindex, vip))
        };
        if changed { self.write_guards() } else { Ok(()) }
    }

    /// Stops answering for `vip`.
    pub fn remove_vip(&mut self, ifindex: u32, vip: IpAddr) -> Result<()> {
        ignore_missing(match vip {
            IpAddr::V4(a) => self
                .hash::<Vip4Key, VipValue>(maps::VIPS4)?
                .remove(&vip4_key(ifindex, a)),
            IpAddr::V6(a) => self
                .hash::<Vip6Key, VipValue>(maps::VIPS6)?
                .remove(&vip6_key(ifindex, a)),
        })?;
        if self.guarded.remove(&(ifindex, vip)) {
            self.write_guards()?;
        }
        Ok(())
    }

    /// Tells the kernel how many VIPs are guarded (0: it skips the lookup).
    fn write_guards(&mut self) -> Result<()> {
        let n = u32::try_from(self.guarded.len()).unwrap_or(u32::MAX);
        Array::<_, u32>::try_from(self.kernel.map_mut(maps::GUARDS)?)?
            .set(0, n, 0)
            .with_context(|| format!("writing {}", maps::GUARDS))
    }

    /// Rebuilds the guarded set from the VIP maps a running data path left
    /// (crash-only restart), so the count stays right.
    pub(super) fn adopt_guarded(&mut self) -> Result<()> {
        let v4 = self.guarded_in::<Vip4Key>(maps::VIPS4, |k| (k.ifindex, k.addr.into()))?;
        let v6 = self.guarded_in::<Vip6Key>(maps::VIPS6, |k| (k.ifindex, k.addr.into()))?;
        self.guarded = v4.into_iter().chain(v6).collect();
        self.write_guards()
    }

    /// The VIPs with `VIP_NO_ACCEPT` in one VIP map.
    fn guarded_in<K: aya::Pod>(
        &mut self,
        name: &str,
        vip: impl Fn(&K) -> (u32, IpAddr),
    ) -> Result<Vec<(u32, IpAddr)>> {
        Ok(self
            .hash::<K, VipValue>(name)?
            .iter()
            .filter_map(Result::ok)
            .filter(|(_, v)| v.flags & VIP_NO_ACCEPT != 0)
            .map(|(k, _)| vip(&k))
            .collect())
    }

    /// Frames to `vmac` on `ifindex` reach the stack as if sent to `iface_mac`.
    pub fn set_vmac(&mut self, ifindex: u32, vmac: [u8; 6], iface_mac: [u8; 6]) -> Result<()> {
        let key = VmacKey {
            ifindex,
            mac: vmac,
            _pad: [0; 2],
        };
        self.hash(maps::VMACS)?
            .insert(
                key,
                VmacValue {
                    iface_mac,
                    _pad: [0; 2],
                },
                0,
            )
            .context("activating a virtual MAC in XDP")
    }

    /// Stops accepting frames to `vmac`.
    pub fn remove_vmac(&mut self, ifindex: u32, vmac: [u8; 6]) -> Result<()> {
        let key = VmacKey {
            ifindex,
            mac: vmac,
            _pad: [0; 2],
        };
        ignore_missing(self.hash::<VmacKey, VmacValue>(maps::VMACS)?.remove(&key))
    }
}

fn vip4_key(ifindex: u32, addr: Ipv4Addr) -> Vip4Key {
    Vip4Key {
        ifindex,
        addr: addr.octets(),
    }
}

fn vip6_key(ifindex: u32, addr: Ipv6Addr) -> Vip6Key {
    Vip6Key {
        ifindex,
        addr: addr.octets(),
    }
}
