//! The three contenders and the one configuration text they all read.

use std::path::Path;

use crate::{
    daemon::{Daemon, Keepalived},
    netns::NetNs,
};

/// An implementation under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    Xdp,
    Socket,
    Keepalived,
}

impl Impl {
    pub const ALL: [Self; 3] = [Self::Xdp, Self::Socket, Self::Keepalived];

    /// Stable name in the JSON results.
    pub fn key(self) -> &'static str {
        match self {
            Self::Xdp => "xvrrpd_xdp",
            Self::Socket => "xvrrpd_socket",
            Self::Keepalived => "keepalived",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Xdp => "xvrrpd --mode xdp",
            Self::Socket => "xvrrpd --mode socket",
            Self::Keepalived => "keepalived 2.2.7",
        }
    }

    /// Starts this implementation in `ns` on `config`; `dir` holds its run
    /// files and log (created).
    pub fn start(self, ns: &NetNs, config: &Path, dir: &Path) -> Running {
        std::fs::create_dir_all(dir).expect("run directory");
        match self {
            Self::Xdp => Running::X(Daemon::start(ns, config, &dir.join("run"), "xdp")),
            Self::Socket => Running::X(Daemon::start(ns, config, &dir.join("run"), "socket")),
            Self::Keepalived => Running::K(Keepalived::start(ns, config, dir)),
        }
    }
}

/// A running daemon of either kind; stopped on drop.
pub enum Running {
    X(Daemon),
    K(Keepalived),
}

impl Running {
    pub fn pid(&self) -> Option<u32> {
        match self {
            Self::X(d) => d.pid(),
            Self::K(k) => k.pid(),
        }
    }

    pub fn log_text(&self) -> String {
        match self {
            Self::X(d) => d.log_text(),
            Self::K(k) => k.log_text(),
        }
    }

    /// State changes into `state` ("MASTER" / "BACKUP") the log shows so far.
    pub fn entered(&self, state: &str) -> usize {
        let text = self.log_text();
        let needle = match self {
            Self::X(_) => format!("to=\"{state}\""),
            Self::K(_) => format!("Entering {state} STATE"),
        };
        text.matches(&needle).count()
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        match self {
            Self::X(d) => d.exited().is_none() && d.pid().is_some(),
            Self::K(k) => k
                .pid()
                .is_some_and(|p| std::path::Path::new(&format!("/proc/{p}/stat")).exists()),
        }
    }

    pub fn stop(&mut self) {
        match self {
            Self::X(d) => {
                d.stop();
            }
            Self::K(k) => k.stop(),
        }
    }
}

/// One `vrrp_instance` of a generated configuration.
pub struct Inst {
    pub name: String,
    pub iface: String,
    pub vrid: u16,
    pub priority: u8,
    /// `state MASTER` (else `BACKUP`).
    pub master: bool,
    /// 2 or 3.
    pub version: u8,
    /// `advert_int` in centiseconds (100 = 1 s).
    pub advert_cs: u32,
    /// "ADDR/PREFIX" each.
    pub vips: Vec<String>,
}

/// keepalived.conf text for `instances`: what keepalived and xvrrpd both read.
pub fn keepalived_conf(router_id: &str, instances: &[Inst]) -> String {
    let mut s = format!("global_defs {{\n    router_id {router_id}\n}}\n");
    for i in instances {
        let advert = if i.advert_cs % 100 == 0 {
            format!("{}", i.advert_cs / 100)
        } else {
            format!("{}.{:02}", i.advert_cs / 100, i.advert_cs % 100)
        };
        s.push_str(&format!(
            "vrrp_instance {name} {{\n    state {state}\n    interface {iface}\n    virtual_router_id {vrid}\n    \
             priority {prio}\n    version {ver}\n    advert_int {advert}\n    virtual_ipaddress {{\n{vips}    }}\n}}\n",
            name = i.name,
            state = if i.master { "MASTER" } else { "BACKUP" },
            iface = i.iface,
            vrid = i.vrid,
            prio = i.priority,
            ver = i.version,
            vips = i.vips.iter().map(|v| format!("        {v}\n")).collect::<String>(),
        ));
    }
    s
}

/// RFC 3768 6.1 / RFC 5798 6.1 Master_Down_Interval of a backup with
/// `priority`, for an advert interval of `advert_cs` centiseconds, in ms.
pub fn master_down_ms(version: u8, priority: u8, advert_cs: u32) -> f64 {
    let interval_ms = f64::from(advert_cs) * 10.0;
    let skew = if version == 2 {
        f64::from(256 - u16::from(priority)) / 256.0 * 1000.0
    } else {
        f64::from(256 - u16::from(priority)) * interval_ms / 256.0
    };
    3.0 * interval_ms + skew
}
