//! One VRRP speaker, keepalived or xvrrpd, started the same way from the same
//! keepalived.conf, and what it put on the wire: the tools of the parity tests
//! (`tests/tests/keepalived_parity.rs`), where keepalived run in the lab is the
//! expectation and xvrrpd must match it.

use std::{fs, path::Path};

use crate::{
    daemon::{Daemon, Keepalived},
    netns::NetNs,
};

/// Which implementation speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Impl {
    Keepalived,
    Xvrrpd,
}

impl Impl {
    pub const BOTH: [Impl; 2] = [Impl::Keepalived, Impl::Xvrrpd];

    pub fn name(self) -> &'static str {
        match self {
            Impl::Keepalived => "keepalived",
            Impl::Xvrrpd => "xvrrpd",
        }
    }
}

/// A running speaker; stopped (SIGTERM, bounded wait) on drop.
pub enum Speaker {
    Keepalived(Keepalived),
    Xvrrpd(Daemon),
}

impl Speaker {
    /// Starts `which` in `ns` on `config`; `dir` holds its pid files, run
    /// directory and log (one directory per speaker).
    pub fn start(which: Impl, ns: &NetNs, config: &Path, dir: &Path) -> Self {
        fs::create_dir_all(dir).expect("speaker directory");
        match which {
            Impl::Keepalived => Speaker::Keepalived(Keepalived::start(ns, config, dir)),
            Impl::Xvrrpd => Speaker::Xvrrpd(Daemon::start(ns, config, &dir.join("run"), "auto")),
        }
    }

    /// SIGTERM and a bounded wait for the process to end.
    pub fn stop(&mut self) {
        match self {
            Speaker::Keepalived(k) => k.stop(),
            Speaker::Xvrrpd(d) => {
                d.stop();
            }
        }
    }

    pub fn log_text(&self) -> String {
        match self {
            Speaker::Keepalived(k) => k.log_text(),
            Speaker::Xvrrpd(d) => d.log_text(),
        }
    }

    /// Waits (at most 30 s, else panics with its log) until its first
    /// instance has entered a state: both log keepalived's "(NAME) Entering
    /// ... STATE". A scenario timed from then gives each speaker the same
    /// timeline however long its start-up took (xvrrpd's XDP load took 4 s on
    /// a loaded CI host, and a script result that came before its first
    /// advert was never on the wire). Not for an address owner (priority
    /// 255): it advertises as it logs MASTER.
    pub fn started(&self, which: Impl) {
        let up = crate::daemon::wait_for(std::time::Duration::from_secs(30), || {
            let log = self.log_text();
            ["BACKUP", "MASTER", "FAULT"]
                .iter()
                .any(|s| log.contains(&format!("Entering {s} STATE")))
        });
        assert!(
            up.is_some(),
            "{} did not start:\n{}",
            which.name(),
            self.log_text()
        );
    }
}

/// One VRRP advert seen in a capture (`Lab::capture` text).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SeenAdvert {
    /// Capture time, seconds since the epoch.
    pub at: f64,
    pub vrid: u8,
    pub priority: u8,
}

/// The VRRP adverts of a `tcpdump -tt -e -n` capture, in order.
pub fn adverts(capture: &str) -> Vec<SeenAdvert> {
    capture
        .lines()
        .filter(|l| l.contains("vrrp") && l.contains("advertisement"))
        .filter_map(|l| {
            let at = l.split_whitespace().next()?.parse().ok()?;
            let field = |name: &str| -> Option<u8> {
                let rest = &l[l.find(name)? + name.len()..];
                rest.trim_start()
                    .split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()
            };
            Some(SeenAdvert {
                at,
                vrid: field("vrid ")?,
                priority: field("prio ")?,
            })
        })
        .collect()
}

/// The times (seconds since the epoch) of the gratuitous ARPs for `vip` in a
/// `tcpdump -tt -e -n arp` capture: requests or replies whose sender is the VIP.
pub fn gratuitous_arps(capture: &str, vip: &str) -> Vec<f64> {
    // "who-has VIP tell VIP", or "who-has VIP (ff:ff:ff:ff:ff:ff) tell VIP"
    // when the target MAC is not zero; "reply VIP is-at MAC".
    let (asks, tells) = (format!("who-has {vip} "), format!("tell {vip},"));
    let reply = format!("reply {vip} is-at");
    capture
        .lines()
        .filter(|l| (l.contains(&asks) && l.contains(&tells)) || l.contains(&reply))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// The times of the neighbor advertisements for `vip` in a `tcpdump -tt -e -n`
/// capture (unsolicited where nobody asked, as in the parity labs).
pub fn neighbor_adverts(capture: &str, vip: &str) -> Vec<f64> {
    let tgt = format!("neighbor advertisement, tgt is {vip},");
    capture
        .lines()
        .filter(|l| l.contains(&tgt))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// The priority steps of one VRID's adverts: (seconds after `t0`, priority)
/// at the first advert and at every change.
pub fn priority_steps(adverts: &[SeenAdvert], vrid: u8, t0: f64) -> Vec<(f64, u8)> {
    let mut steps: Vec<(f64, u8)> = Vec::new();
    for a in adverts.iter().filter(|a| a.vrid == vrid) {
        if steps.last().is_none_or(|&(_, p)| p != a.priority) {
            steps.push((a.at - t0, a.priority));
        }
    }
    steps
}

/// Seconds since the epoch, as tcpdump's `-tt` prints them.
pub fn epoch_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcpdump_lines() {
        let text = "1764490000.250000 02:00:00:00:00:01 > 01:00:5e:00:00:12, ethertype ipv4 (0x0800), \
                    length 54: 192.0.2.1 > 224.0.0.18: vrrpv2, advertisement, vrid 51, prio 110, \
                    authtype none, intvl 1s, length 20\n\
                    1764490001.250000 02:00:00:00:00:01 > 01:00:5e:00:00:12, ethertype ipv4 (0x0800), \
                    length 54: 192.0.2.1 > 224.0.0.18: vrrpv3, advertisement, vrid 51, prio 90, \
                    intvl 100cs, length 12\n\
                    1764490001.500000 02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype arp (0x0806), \
                    length 42: request who-has 192.0.2.100 tell 192.0.2.100, length 28\n\
                    1764490001.600000 02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype arp (0x0806), \
                    length 58: request who-has 192.0.2.100 (ff:ff:ff:ff:ff:ff) tell 192.0.2.100, length 44\n\
                    1764490001.700000 02:00:00:00:00:02 > ff:ff:ff:ff:ff:ff, ethertype arp (0x0806), \
                    length 42: request who-has 192.0.2.100 tell 192.0.2.1, length 28\n";
        let seen = adverts(text);
        assert_eq!(seen.len(), 2);
        assert_eq!((seen[0].vrid, seen[0].priority), (51, 110));
        assert_eq!(seen[1].priority, 90);
        assert_eq!(
            priority_steps(&seen, 51, 1_764_490_000.0),
            vec![(0.25, 110), (1.25, 90)]
        );
        let na = "1764490002.000000 02:00:00:00:00:01 > 33:33:00:00:00:01, ethertype ipv6 (0x86dd), \
                  length 86: fe80::1 > ff02::1: icmp6, neighbor advertisement, tgt is 2001:db8::100, length 32\n";
        assert_eq!(neighbor_adverts(na, "2001:db8::100"), vec![1_764_490_002.0]);
        assert!(neighbor_adverts(na, "2001:db8::10").is_empty());
        assert_eq!(
            gratuitous_arps(text, "192.0.2.100"),
            vec![1_764_490_001.5, 1_764_490_001.6]
        );
    }
}
