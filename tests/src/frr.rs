//! FRR's vrrpd (Debian package `frr`, 8.4) as a VRRPv3 peer in a namespace,
//! set up as the verified recipe in `shared/notes/frr-vrrpd.md` does: FRR
//! needs a macvlan per family carrying the virtual MAC and the VIP (it finds
//! them by MAC), made here by the test, as an operator makes them.

use std::{
    fs,
    path::PathBuf,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::netns::NetNs;

/// zebra and vrrpd running in one namespace; stopped on drop.
pub struct Frr {
    ns: String,
    dir: PathBuf,
}

impl Frr {
    /// Starts FRR in `ns` (whose `eth0` is on the LAN) as router `vrid` at
    /// `priority` (1 s adverts, VRRPv3) for `vip4` and `vip6` (with prefix).
    pub fn start(ns: &NetNs, dir: &std::path::Path, vrid: u8, priority: u8, vip4: &str, vip6: &str) -> Self {
        Self::start_many(ns, dir, &[(vrid, priority, vip4.to_owned(), vip6.to_owned())])
    }

    /// `start` for several virtual routers: (VRID, priority, IPv4 VIP,
    /// IPv6 VIP) each.
    pub fn start_many(ns: &NetNs, dir: &std::path::Path, vrs: &[(u8, u8, String, String)]) -> Self {
        let name = ns.name().to_owned();
        let dir = dir.join("frr");
        fs::create_dir_all(&dir).expect("frr directory");
        // FRR drops to user frr: its log directory must be writable.
        let _ = Command::new("chmod").arg("1777").arg(&dir).status();
        let frr = Self {
            ns: name.clone(),
            dir,
        };
        ns.exec(&[
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
            "net.ipv6.conf.all.keep_addr_on_down=1",
            "net.ipv4.conf.all.arp_ignore=1",
            "net.ipv4.conf.all.arp_announce=2",
        ]);
        for (vrid, _, vip4, vip6) in vrs {
            for (family, vip) in [(1u8, vip4), (2, vip6)] {
                let link = format!("vrrp{}-2-{vrid}", if family == 1 { 4 } else { 6 });
                let mac = format!("00:00:5e:00:{family:02x}:{vrid:02x}");
                ns.ip(&[
                    "link", "add", &link, "link", "eth0", "type", "macvlan", "mode", "bridge",
                ]);
                ns.ip(&["link", "set", &link, "addrgenmode", "random", "address", &mac]);
                ns.ip(&["addr", "add", vip, "dev", &link]);
                ns.ip(&["link", "set", &link, "up"]);
            }
        }
        for daemon in ["zebra", "vrrpd"] {
            let pid = frr.dir.join(format!("{daemon}.pid"));
            let log = frr.dir.join(format!("{daemon}.log"));
            let ok = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &name,
                    &format!("/usr/lib/frr/{daemon}"),
                    "-N",
                    &name,
                    "-d",
                    "-i",
                ])
                .arg(&pid)
                .arg("--log")
                .arg(format!("file:{}", log.display()))
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok,
                "starting FRR's {daemon} (apt package frr; cargo xtask setup installs it)"
            );
        }
        let addr = |vip: &str| vip.split('/').next().unwrap_or(vip).to_owned();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut commands = vec!["conf t".to_owned(), "interface eth0".to_owned()];
        for (vrid, priority, vip4, vip6) in vrs {
            commands.extend([
                format!("vrrp {vrid} version 3"),
                format!("vrrp {vrid} priority {priority}"),
                format!("vrrp {vrid} advertisement-interval 1000"),
                format!("vrrp {vrid} ip {}", addr(vip4)),
                format!("vrrp {vrid} ipv6 {}", addr(vip6)),
            ]);
        }
        let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
        loop {
            if frr.vtysh(&commands).is_some() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "vtysh could not configure FRR in {name}"
            );
            thread::sleep(Duration::from_millis(200));
        }
        frr
    }

    fn vtysh(&self, commands: &[&str]) -> Option<String> {
        vtysh(&self.ns, commands)
    }

    /// The router's state per family, as `show vrrp json` says:
    /// (`Master` / `Backup` / `Initialize`, the same for IPv6).
    pub fn states(&self) -> Option<(String, String)> {
        let v: Value = serde_json::from_str(&self.vtysh(&["show vrrp json"])?).ok()?;
        let r = v.as_array()?.first()?;
        let s = |f: &str| r[f]["status"].as_str().map(str::to_owned);
        Some((s("v4")?, s("v6")?))
    }

    pub fn ns(&self) -> &str {
        &self.ns
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(self.dir.join("vrrpd.log")).unwrap_or_default()
    }
}

impl Frr {
    /// Stops vrrpd and zebra (SIGTERM, bounded wait); again is harmless.
    pub fn stop(&mut self) {
        for daemon in ["vrrpd", "zebra"] {
            let file = self.dir.join(format!("{daemon}.pid"));
            let pid = fs::read_to_string(&file).unwrap_or_default();
            let _ = fs::remove_file(&file);
            let Ok(pid) = pid.trim().parse::<i32>() else {
                continue;
            };
            // SAFETY: kill(2) on a pid FRR wrote for this test.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline && fs::metadata(format!("/proc/{pid}")).is_ok() {
                thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = fs::remove_dir_all(format!("/var/run/frr/{}", self.ns));
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `vtysh -c ...` against FRR in namespace `ns`; its output on success.
fn vtysh(ns: &str, commands: &[&str]) -> Option<String> {
    // Bounded: a sampler thread asks several times a second, and a stuck
    // FRR must not stop the soak from ending.
    let mut cmd = Command::new("timeout");
    cmd.args(["3", "vtysh"])
        .arg("--vty_socket")
        .arg(format!("/var/run/frr/{ns}"));
    for c in commands {
        cmd.args(["-c", c]);
    }
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One of FRR's virtual routers (one family) as `show vrrp json` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrrState {
    pub master: bool,
    /// Its `adverTx` counter (None when FRR does not say): a master whose
    /// count stands still sends nothing.
    pub adverts_sent: Option<u64>,
}

/// Every virtual router's state in FRR running in namespace `ns`, from
/// `show vrrp json`: (IPv6?, VRID) -> its state. None when vrrpd does not
/// answer.
pub fn states_in(ns: &str) -> Option<std::collections::HashMap<(bool, u8), FrrState>> {
    let v: Value = serde_json::from_str(&vtysh(ns, &["show vrrp json"])?).ok()?;
    let mut out = std::collections::HashMap::new();
    for r in v.as_array()? {
        let Some(vrid) = r["vrid"].as_u64().and_then(|v| u8::try_from(v).ok()) else {
            continue;
        };
        for (v6, fam) in [(false, "v4"), (true, "v6")] {
            if let Some(s) = r[fam]["status"].as_str() {
                let state = FrrState {
                    master: s == "Master",
                    adverts_sent: r[fam]["stats"]["adverTx"].as_u64(),
                };
                out.insert((v6, vrid), state);
            }
        }
    }
    Some(out)
}
