//! Crash-only restarts. Every mode keeps `state.json` in the run directory:
//! which configuration and data-path shape the run had, which instances were
//! master and which addresses, routes, rules and macvlans it installed. In
//! XDP mode the data path also outlives the controller: maps and XDP
//! attachments are pinned in bpffs under a directory of this daemon's own
//! (network namespace + run directory).
//!
//! At start, an XDP daemon with the same configuration and shape adopts all
//! of it: the XDP program keeps answering ARP and the VIPs stay while it is
//! down, and its masters resume at once. Anything else (another
//! configuration, socket mode, an `auto` start that falls back to socket)
//! removes every leftover first: pinned attachments (detaching the old
//! program), pinned maps, and what the old run installed; a socket-mode
//! restart after a crash is therefore a fresh election, not hitless. A clean
//! stop (SIGTERM) removes it all itself.

use std::{
    fs,
    net::IpAddr,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::{
    config::model::{Config, VirtualRoute, VirtualRule},
    net::addr::Addresses,
};

pub const STATE_FILE: &str = "state.json";
/// Where bpffs is normally mounted.
pub const DEFAULT_BPFFS: &str = "/sys/fs/bpf";

/// What a running daemon leaves for its successor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    /// `fingerprint` of the configuration and mode.
    pub fingerprint: String,
    pub pin_dir: PathBuf,
    /// Instances that were master.
    pub masters: Names,
    /// Addresses the daemon installed: (ifindex, address, prefix).
    pub vips: Vec<(u32, IpAddr, u8)>,
    /// The masters' `virtual_routes` and `virtual_rules`.
    #[serde(default)]
    pub routes: Vec<VirtualRoute>,
    #[serde(default)]
    pub rules: Vec<VirtualRule>,
    /// `use_vmac` macvlans.
    #[serde(default)]
    pub links: Vec<String>,
}

/// Instance names in one string, written as a JSON list of strings: the
/// record is rebuilt at every change of a mass transition, and a `String`
/// per master was two blocks and 40-odd bytes each (at 16,000 masters 0.9
/// MB of the daemon's peak, against 0.13 MB here). Each name ends in a
/// newline, which no name holds (a quoted one closes on its own line), so
/// an empty name (`vrrp_instance "" {`) is kept too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names(String);

impl Names {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split_terminator('\n')
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The names as a set, for look-ups over thousands of instances.
    pub fn set(&self) -> std::collections::HashSet<&str> {
        self.iter().collect()
    }
}

impl<'a> FromIterator<&'a str> for Names {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut all = String::new();
        for name in iter {
            // Not a name (the parser makes none like it): left out rather
            // than split in two.
            if name.contains('\n') {
                continue;
            }
            all.push_str(name);
            all.push('\n');
        }
        Self(all)
    }
}

impl Serialize for Names {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        Ok(names.iter().map(String::as_str).collect())
    }
}

impl Saved {
    /// A digest of the record as written: the event loop tells a change by
    /// it instead of keeping a copy (a name and an address, about 100 bytes,
    /// per master).
    pub fn digest(&self) -> u64 {
        // A record that does not serialise cannot be stored either (`store`).
        json_fnv64(self).unwrap_or(0)
    }
}

/// FNV-1a of `value`'s JSON text, streamed into the hash: no copy of the
/// text is made (hundreds of KiB for the record at 4000 masters, 17 MiB for
/// a configuration of 16,000 instances, more than the configuration itself).
/// `None` if it does not serialise.
fn json_fnv64(value: &impl serde::Serialize) -> Option<u64> {
    let mut h = Fnv64(FNV_START);
    serde_json::to_writer(&mut h, value).ok().map(|()| h.0)
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over what is written to it.
struct Fnv64(u64);

impl std::io::Write for Fnv64 {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 = fnv_step(self.0, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn fnv_step(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// FNV-1a: a hash that is the same in every build, unlike std's.
fn fnv64(bytes: &[u8]) -> u64 {
    fnv_step(FNV_START, bytes)
}

/// Identifies a configuration and mode: adoption requires an exact match.
/// An error if the configuration does not serialise (a bug: the model has
/// no such value), never a fingerprint that another run could share.
pub fn fingerprint(config: &Config, mode: &str) -> anyhow::Result<String> {
    let config_hash = json_fnv64(config).ok_or_else(|| {
        anyhow::anyhow!("the configuration does not serialise for its fingerprint (a bug: please report it)")
    })?;
    // The kernel programs too (a rebuilt object must replace the running
    // one, not be skipped by adoption) and the map layout (a binary whose
    // maps have another shape must not adopt the old ones).
    Ok(format!(
        "{:016x}-{mode}-{}-maps{}-obj{:016x}",
        config_hash,
        env!("CARGO_PKG_VERSION"),
        xvrrp_common::maps::LAYOUT_VERSION,
        fnv64(crate::datapath::EBPF_OBJECT)
    ))
}

/// This daemon's bpffs directory: one per network namespace and run directory.
pub fn pin_dir(bpffs: &Path, run_dir: &Path) -> PathBuf {
    let netns = fs::metadata("/proc/self/ns/net").map_or(0, |m| m.ino());
    let run = run_dir.canonicalize().unwrap_or_else(|_| run_dir.to_owned());
    bpffs.join("xvrrp").join(format!(
        "{netns}-{:016x}",
        fnv64(run.as_os_str().as_encoded_bytes())
    ))
}

/// Mounts bpffs at `at` when it is not mounted there (hosts without systemd).
///
/// Pins outlive a process only in a bpffs its successor sees: the host's
/// `/sys/fs/bpf`. (`ip netns exec` gives each command a fresh /sys, so
/// daemons started that way need `--bpffs` pointing at a shared mount.)
pub fn ensure_bpffs(at: &Path) -> Result<()> {
    let at_str = at.to_string_lossy();
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    if mounts.lines().any(|l| {
        let mut f = l.split_whitespace();
        let _ = f.next();
        f.next() == Some(&*at_str) && f.next() == Some("bpf")
    }) {
        return Ok(());
    }
    fs::create_dir_all(at).with_context(|| format!("creating {}", at.display()))?;
    let c = |s: &str| std::ffi::CString::new(s).unwrap_or_default();
    let (src, target, fstype) = (c("bpf"), c(&at_str), c("bpf"));
    // SAFETY: mount(2) with valid NUL-terminated strings and no data.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("mounting bpffs on {at_str}"));
    }
    info!("mounted bpffs on {at_str}");
    Ok(())
}

pub fn load(run_dir: &Path) -> Option<Saved> {
    serde_json::from_str(&fs::read_to_string(run_dir.join(STATE_FILE)).ok()?).ok()
}

/// Writes `state.json` atomically (a temporary file renamed over it); false
/// when that failed (the caller tries again later).
pub fn store(run_dir: &Path, saved: &Saved) -> bool {
    // Streamed to the file: no copy of the text (see `json_fnv64`).
    crate::files::replace_with(&run_dir.join(STATE_FILE), |out| {
        serde_json::to_writer(out, saved).map_err(std::io::Error::from)
    })
    .is_ok()
}

pub fn forget(run_dir: &Path) {
    let _ = fs::remove_file(run_dir.join(STATE_FILE));
}

pub use crate::datapath::kernel::remove_pins;

/// Removes everything a previous run left that this run will not adopt.
pub async fn clean_leftovers(saved: &Saved, pin_dir: &Path, addrs: &mut Addresses) -> Result<()> {
    info!(
        pins = %saved.pin_dir.display(),
        vips = saved.vips.len(),
        routes = saved.routes.len() + saved.rules.len(),
        links = saved.links.len(),
        "removing a previous run's data path, addresses, routes and macvlans"
    );
    remove_pins(&saved.pin_dir);
    remove_pins(pin_dir);
    let handle = addrs.handle();
    for r in &saved.rules {
        if let Err(e) = crate::net::routes::remove_rule(&handle, r).await {
            warn!("{e:#}");
        }
    }
    for r in &saved.routes {
        let oif = r.dev.as_deref().and_then(|d| crate::net::sys::ifindex(d).ok());
        if let Err(e) = crate::net::routes::remove_route(&handle, r, oif).await {
            warn!("{e:#}");
        }
    }
    for (ifindex, addr, prefix) in &saved.vips {
        if let Err(e) = addrs.remove_leftover(*ifindex, *addr, *prefix).await {
            warn!("{e:#}");
        }
    }
    for name in &saved.links {
        if let Err(e) = crate::net::vmac::remove(&handle, name).await {
            warn!("{e:#}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Names, Saved, fingerprint, fnv64};

    /// The masters' names are written as the list they always were, and
    /// read back from it.
    #[test]
    fn names_are_a_json_list() {
        let names: Names = ["VI_1", "", "bad\nname", "VI 2"].into_iter().collect();
        assert_eq!(names.iter().collect::<Vec<_>>(), ["VI_1", "", "VI 2"]);
        let text = serde_json::to_string(&names).expect("serialises");
        assert_eq!(text, r#"["VI_1","","VI 2"]"#);
        let back: Names = serde_json::from_str(&text).expect("reads");
        assert_eq!(back, names);
        assert!(back.set().contains("VI 2") && back.set().contains(""));
        let none: Names = serde_json::from_str("[]").expect("reads");
        assert_eq!(none.iter().count(), 0);
    }

    #[test]
    fn the_fingerprint_hashes_the_configuration_text_without_a_copy() {
        // The streamed hash is the hash of the text a copy would have held,
        // so a daemon restarted from an older build still adopts its run.
        let text = "vrrp_instance V {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n";
        let config = crate::config::load_str("t.conf", text, None)
            .config
            .expect("valid");
        let copy = serde_json::to_string(&config).expect("serialises");
        let print = fingerprint(&config, "xdp").expect("fingerprint");
        assert!(
            print.starts_with(&format!("{:016x}-xdp-", fnv64(copy.as_bytes()))),
            "{print}"
        );
        let mut other = config.clone();
        other.instances[0].vrid = 8;
        assert_ne!(fingerprint(&other, "xdp").expect("fingerprint"), print);
    }

    #[test]
    fn the_digest_tells_a_changed_record_apart() {
        let before = Saved::default();
        let mut after = before.clone();
        assert_eq!(before.digest(), after.digest());
        after.vips.push((3, "10.0.1.1".parse().unwrap(), 16));
        assert_ne!(before.digest(), after.digest());
        let mut other = after.clone();
        other.vips[0].2 = 24;
        assert_ne!(after.digest(), other.digest());
    }
}
