//! The kernel side of xvrrp as seen from userspace: loading the XDP program,
//! attaching it, and reading its maps.

use anyhow::{Context as _, Result};
use aya::{
    Ebpf,
    maps::PerCpuArray,
    programs::{Xdp, XdpMode, xdp::XdpLinkId},
};
use xvrrp_common::{maps, stats};

/// The compiled XDP program, built by `build.rs` from `ebpf/`.
pub static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xvrrp"));

/// Name of the XDP entry function in the object.
pub const PROGRAM_NAME: &str = "xvrrp";

/// The loaded program and its maps.
pub struct Datapath {
    ebpf: Ebpf,
}

impl Datapath {
    /// Loads the object and the XDP program into the kernel (not attached yet).
    pub fn load() -> Result<Self> {
        let mut ebpf = Ebpf::load(EBPF_OBJECT)
            .context("loading the xvrrp eBPF object failed (needs root or CAP_BPF + CAP_NET_ADMIN)")?;
        let program = program_mut(&mut ebpf)?;
        program
            .load()
            .context("the kernel verifier rejected the xvrrp XDP program")?;
        Ok(Self { ebpf })
    }

    /// The XDP program, for attaching or `test_run`.
    pub fn program(&mut self) -> Result<&mut Xdp> {
        program_mut(&mut self.ebpf)
    }

    /// Attaches the program to `interface` (in the caller's network namespace).
    pub fn attach(&mut self, interface: &str, mode: XdpMode) -> Result<XdpLinkId> {
        self.program()?.attach(interface, mode).with_context(|| {
            format!("attaching XDP to {interface} in {mode:?} mode failed - try --mode socket, or skb mode")
        })
    }

    /// The names of the maps the loaded object defines.
    pub fn map_names(&self) -> Vec<String> {
        self.ebpf.maps().map(|(name, _)| name.to_owned()).collect()
    }

    /// Every counter slot, summed over CPUs.
    pub fn counters(&self) -> Result<[u64; stats::COUNT as usize]> {
        let map = self
            .ebpf
            .map(maps::STATS)
            .with_context(|| format!("map {} missing from the eBPF object", maps::STATS))?;
        let array = PerCpuArray::<_, u64>::try_from(map)?;
        let mut out = [0u64; stats::COUNT as usize];
        for (slot, value) in out.iter_mut().enumerate() {
            let idx = u32::try_from(slot).expect("stats::COUNT fits in u32");
            let per_cpu = array
                .get(&idx, 0)
                .with_context(|| format!("reading counter slot {slot}"))?;
            *value = per_cpu.iter().sum();
        }
        Ok(out)
    }

    /// The counters by their stable names (`xvrrp_common::stats::NAMES`), in slot order.
    pub fn named_counters(&self) -> Result<Vec<(&'static str, u64)>> {
        let values = self.counters()?;
        Ok(stats::NAMES
            .iter()
            .map(|&(slot, name)| (name, values[slot as usize]))
            .collect())
    }
}

fn program_mut(ebpf: &mut Ebpf) -> Result<&mut Xdp> {
    ebpf.program_mut(PROGRAM_NAME)
        .with_context(|| format!("program {PROGRAM_NAME} missing from the eBPF object"))?
        .try_into()
        .context("program is not an XDP program")
}
