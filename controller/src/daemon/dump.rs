//! keepalived's signal dumps, pure: SIGUSR1 writes `keepalived.data`
//! (`Key = Value` lines operators grep, e.g. `State = MASTER`), SIGUSR2
//! `keepalived.stats`, keepalived's JSON signal (SIGRTMIN+2) `keepalived.json`,
//! and STATS_CLEAR (SIGRTMAX-1) the stats, then zeroes them. The layouts follow
//! keepalived 2.2.7 (`vrrp_print.c`, `vrrp_data.c`, `vrrp_json.c`) for the keys
//! xvrrp has; `dump_fixtures/` holds keepalived's own output, and the tests
//! check that every key written here is one of keepalived's, in its order.
//!
//! The protocol thread takes a [`View`] (a copy of what the dumps show); the
//! side thread renders and writes it.

use std::{
    fmt::Write as _,
    net::IpAddr,
    path::{Path, PathBuf},
};

use serde::Serialize;
use serde_json::{Value, json};

use crate::config::model::{AuthType, Instance as InstanceCfg};

/// Counters keepalived keeps per instance (`vrrp_stats`). xvrrp counts
/// receive errors per reason for the whole daemon (`status`, metrics), not
/// per instance: the per-instance error lines read 0. Adverts sent and the
/// transitions are 32 bits and wrap, as keepalived's (`vrrp_stats`; 497
/// days of adverts at 10 ms); priority-0 adverts sent too, where
/// keepalived's is 64 bits: this daemon sends one per release (16 bytes
/// less in every instance record).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct InstanceStats {
    pub advert_rcvd: u64,
    pub pri_zero_rcvd: u64,
    pub advert_sent: u32,
    pub become_master: u32,
    pub release_master: u32,
    pub pri_zero_sent: u32,
}

/// One instance as the dumps show it.
#[derive(Debug, Clone)]
pub struct InstanceView {
    pub cfg: InstanceCfg,
    /// INIT, BACKUP, MASTER or FAULT.
    pub state: &'static str,
    pub interface: String,
    pub src: IpAddr,
    /// Multicast group, or the unicast peers.
    pub dsts: Vec<IpAddr>,
    pub effective_priority: u8,
    /// The master heard last (backup): address and priority.
    pub master: Option<(IpAddr, u8)>,
    pub master_adver_int_cs: u16,
    /// Seconds since the epoch of the last state change.
    pub last_transition: f64,
    /// The VIPs are installed (master).
    pub vipset: bool,
    pub stats: InstanceStats,
}

/// Everything a dump shows.
#[derive(Debug, Clone)]
pub struct View {
    pub router_id: String,
    pub mcast_group4: IpAddr,
    pub mcast_group6: IpAddr,
    pub instances: Vec<InstanceView>,
}

/// Which dump a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Data,
    Stats,
    /// The stats, then the counters are zeroed (the caller zeroes them).
    StatsClear,
    Json,
}

impl Kind {
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Data => "keepalived.data",
            Self::Stats | Self::StatsClear => "keepalived.stats",
            Self::Json => "keepalived.json",
        }
    }

    pub fn render(self, view: &View) -> String {
        match self {
            Self::Data => data(view),
            Self::Stats | Self::StatsClear => stats(view),
            Self::Json => json(view),
        }
    }
}

/// Now, in seconds since the epoch.
pub fn epoch_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Where the dumps go: `--dump-dir`, else `$TMPDIR` when it is an absolute
/// path (keepalived's rule), else `/tmp`.
pub fn dir(option: Option<&Path>) -> PathBuf {
    if let Some(d) = option {
        return d.to_owned();
    }
    match std::env::var_os("TMPDIR") {
        Some(t) if Path::new(&t).is_absolute() => PathBuf::from(t),
        _ => PathBuf::from("/tmp"),
    }
}

fn auth_name(cfg: &InstanceCfg) -> &'static str {
    match cfg.auth.as_ref().map(|a| a.kind) {
        Some(AuthType::Pass) => "SIMPLE_PASSWORD",
        Some(AuthType::Ah) => "IPSEC_AH",
        None => "none",
    }
}

/// A VIP line as keepalived prints it (`10.0.0.1/24 dev eth0 scope global set`).
fn vip_line(v: &crate::config::model::VirtualAddress, dev: &str, set: bool) -> String {
    let dev = v.dev.as_deref().unwrap_or(dev);
    let scope = match v.scope {
        Some(0) | None => "global",
        Some(253) => "link",
        Some(254) => "host",
        Some(200) => "site",
        Some(_) => "other",
    };
    let mut s = format!("{}/{} dev {dev} scope {scope}", v.addr, v.prefix);
    if let Some(label) = &v.label {
        let _ = write!(s, " label {label}");
    }
    if set {
        s.push_str(" set");
    }
    s
}

fn interval_text(version: u8, cs: u16) -> String {
    if version == 2 {
        format!("{} sec", cs / 100)
    } else {
        format!("{} milli-sec", u32::from(cs) * 10)
    }
}

/// `keepalived.data`: the global section, then each instance.
pub fn data(view: &View) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "------< Global definitions >------");
    let _ = writeln!(s, " Network namespace = (default)");
    let _ = writeln!(s, " Router ID = {}", view.router_id);
    let _ = writeln!(s, " VRRP IPv4 mcast group = {}", view.mcast_group4);
    let _ = writeln!(s, " VRRP IPv6 mcast group = {}", view.mcast_group6);
    if !view.instances.is_empty() {
        let _ = writeln!(s, "------< VRRP Topology >------");
    }
    for i in &view.instances {
        let c = &i.cfg;
        let _ = writeln!(s, " VRRP Instance = {}", c.name);
        let _ = writeln!(s, "   VRRP Version = {}", c.version);
        if let Some(g) = &c.sync_group {
            let _ = writeln!(s, "   Sync group = {g}");
        }
        let _ = writeln!(s, "   State = {}", i.state);
        if i.state == "BACKUP"
            && let Some((ip, prio)) = i.master
        {
            let _ = writeln!(s, "   Master router = {ip}");
            let _ = writeln!(s, "   Master priority = {prio}");
            if c.version == 3 {
                let _ = writeln!(
                    s,
                    "   Master advert int = {:.2} sec",
                    f64::from(i.master_adver_int_cs) / 100.0
                );
            }
        }
        let _ = writeln!(s, "   Wantstate = {}", i.state);
        let _ = writeln!(s, "   Last transition = {:.6}", i.last_transition);
        let _ = writeln!(s, "   Interface = {}", i.interface);
        let _ = writeln!(s, "   Using src_ip = {}", i.src);
        if c.is_unicast() {
            let _ = writeln!(s, "   Unicast peers");
        } else if let Some(g) = i.dsts.first() {
            let _ = writeln!(s, "   Multicast address {g}");
        }
        let _ = writeln!(s, "   Gratuitous ARP delay = {}", c.garp.master_delay_s);
        let _ = writeln!(s, "   Gratuitous ARP repeat = {}", c.garp.master_repeat);
        let _ = writeln!(s, "   Gratuitous ARP refresh = {}", c.garp.master_refresh_s);
        let _ = writeln!(
            s,
            "   Gratuitous ARP refresh repeat = {}",
            c.garp.master_refresh_repeat
        );
        let _ = writeln!(s, "   Down timer adverts = {}", c.down_timer_adverts);
        let _ = writeln!(s, "   Virtual Router ID = {}", c.vrid);
        let _ = writeln!(s, "   Priority = {}", c.priority);
        let _ = writeln!(s, "   Effective priority = {}", i.effective_priority);
        let _ = writeln!(s, "   Total priority = {}", i.effective_priority);
        let _ = writeln!(
            s,
            "   Advert interval = {}",
            interval_text(c.version, c.advert_int_cs)
        );
        let _ = writeln!(s, "   Accept = {}", if c.accept { "enabled" } else { "disabled" });
        let _ = writeln!(
            s,
            "   Preempt = {}",
            if c.preempt { "enabled" } else { "disabled" }
        );
        if c.preempt_delay_ms > 0 {
            let _ = writeln!(
                s,
                "   Preempt delay = {} secs",
                f64::from(c.preempt_delay_ms) / 1000.0
            );
        }
        let _ = writeln!(s, "   Authentication type = {}", auth_name(c));
        if let Some(a) = &c.auth
            && a.kind == AuthType::Pass
        {
            let _ = writeln!(s, "   Password = {}", a.pass);
        }
        let _ = writeln!(s, "   Virtual IP ({}):", c.vips.len());
        for v in &c.vips {
            let _ = writeln!(s, "     {}", vip_line(v, &i.interface, i.vipset));
        }
        if !c.excluded_vips.is_empty() {
            let _ = writeln!(s, "   Virtual IP Excluded ({}):", c.excluded_vips.len());
            for v in &c.excluded_vips {
                let _ = writeln!(s, "     {}", vip_line(v, &i.interface, i.vipset));
            }
        }
        if c.is_unicast() {
            let _ = writeln!(s, "   Unicast Peer :");
            for p in &c.unicast.peers {
                let _ = writeln!(s, "     {}", p.addr);
            }
        }
        if !c.track_interfaces.is_empty() {
            let _ = writeln!(s, "   Tracked interfaces :");
            for t in &c.track_interfaces {
                let _ = writeln!(s, "     {} weight {}", t.name, t.weight);
            }
        }
        if !c.track_scripts.is_empty() {
            let _ = writeln!(s, "   Tracked scripts :");
            for t in &c.track_scripts {
                let _ = writeln!(s, "     {} weight {}", t.name, t.weight);
            }
        }
        let _ = writeln!(
            s,
            "   Using smtp notification = {}",
            if c.smtp_alert { "yes" } else { "no" }
        );
    }
    s
}

/// `keepalived.stats`: one block per instance, no blank lines between.
pub fn stats(view: &View) -> String {
    let mut s = String::new();
    for i in &view.instances {
        let st = &i.stats;
        let _ = writeln!(s, "VRRP Instance: {}", i.cfg.name);
        let _ = writeln!(s, "  Advertisements:");
        let _ = writeln!(s, "    Received: {}", st.advert_rcvd);
        let _ = writeln!(s, "    Sent: {}", st.advert_sent);
        let _ = writeln!(s, "  Became master: {}", st.become_master);
        let _ = writeln!(s, "  Released master: {}", st.release_master);
        let _ = writeln!(s, "  Packet Errors:");
        for what in [
            "Length",
            "TTL",
            "Invalid Type",
            "Advertisement Interval",
            "Address List",
        ] {
            let _ = writeln!(s, "    {what}: 0");
        }
        let _ = writeln!(s, "  Authentication Errors:");
        for what in ["Invalid Type", "Type Mismatch", "Failure"] {
            let _ = writeln!(s, "    {what}: 0");
        }
        let _ = writeln!(s, "  Priority Zero:");
        let _ = writeln!(s, "    Received: {}", st.pri_zero_rcvd);
        let _ = writeln!(s, "    Sent: {}", st.pri_zero_sent);
    }
    s
}

fn state_number(state: &str) -> u8 {
    match state {
        "BACKUP" => 1,
        "MASTER" => 2,
        "FAULT" => 3,
        _ => 0,
    }
}

/// `keepalived.json`: one line, an array of `{"data": ..., "stats": ...}`.
pub fn json(view: &View) -> String {
    let items: Vec<Value> = view
        .instances
        .iter()
        .map(|i| {
            let c = &i.cfg;
            let st = &i.stats;
            json!({
                "data": {
                    "iname": c.name,
                    "dont_track_primary": u8::from(c.dont_track_primary),
                    "skip_check_adv_addr": u8::from(c.skip_check_adv_addr),
                    "strict_mode": u8::from(c.strict),
                    "vmac_ifname": c.vmac.clone().unwrap_or_default(),
                    "ifp_ifname": i.interface,
                    "master_priority": i.master.map_or(0, |m| m.1),
                    "last_transition": i.last_transition,
                    "garp_delay": c.garp.master_delay_s,
                    "garp_refresh": c.garp.master_refresh_s,
                    "garp_rep": c.garp.master_repeat,
                    "garp_refresh_rep": c.garp.master_refresh_repeat,
                    "vrid": c.vrid,
                    "base_priority": c.priority,
                    "effective_priority": i.effective_priority,
                    "vipset": i.vipset,
                    "adver_int": f64::from(c.advert_int_cs) / 100.0,
                    "master_adver_int": f64::from(i.master_adver_int_cs) / 100.0,
                    "accept": u8::from(c.accept),
                    "nopreempt": !c.preempt,
                    "preempt_delay": f64::from(c.preempt_delay_ms) / 1000.0,
                    "state": state_number(i.state),
                    "wantstate": state_number(i.state),
                    "version": c.version,
                    "smtp_alert": c.smtp_alert,
                    "vips": c.vips.iter().map(|v| vip_line(v, &i.interface, i.vipset)).collect::<Vec<_>>(),
                    "track_script": c.track_scripts.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
                    "auth_type": match c.auth.as_ref().map(|a| a.kind) {
                        Some(AuthType::Pass) => 1,
                        Some(AuthType::Ah) => 2,
                        None => 0,
                    },
                },
                "stats": {
                    "advert_rcvd": st.advert_rcvd,
                    "advert_sent": st.advert_sent,
                    "become_master": st.become_master,
                    "release_master": st.release_master,
                    "packet_len_err": 0,
                    "advert_interval_err": 0,
                    "ip_ttl_err": 0,
                    "invalid_type_rcvd": 0,
                    "addr_list_err": 0,
                    "invalid_authtype": 0,
                    "authtype_mismatch": 0,
                    "auth_failure": 0,
                    "pri_zero_rcvd": st.pri_zero_rcvd,
                    "pri_zero_sent": st.pri_zero_sent,
                },
            })
        })
        .collect();
    let mut out = serde_json::to_string(&items).unwrap_or_else(|_| "[]".to_owned());
    out.push('\n');
    out
}

/// Writes `text` to `dir/name`, readable by root only (keepalived's umask
/// 0177): into a new file of its own first (never one someone else made in
/// a shared /tmp), then renamed over the old one.
pub fn write(dir: &Path, name: &str, text: &str) -> std::io::Result<PathBuf> {
    let path = dir.join(name);
    crate::files::replace(&path, text).map(|()| path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> View {
        let text = "vrrp_script chk {\n script /bin/true\n}\n\
                    vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 150\n \
                    authentication {\n auth_type PASS\n auth_pass k17pw\n }\n \
                    virtual_ipaddress {\n 192.0.2.100/24\n }\n track_script {\n chk weight -20\n }\n}\n";
        let loaded = crate::config::load_str("t.conf", text, None);
        let cfg = loaded
            .config
            .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics))
            .instances
            .remove(0);
        View {
            router_id: "r1".to_owned(),
            mcast_group4: "224.0.0.18".parse().unwrap(),
            mcast_group6: "ff02::12".parse().unwrap(),
            instances: vec![InstanceView {
                cfg,
                state: "MASTER",
                interface: "eth0".to_owned(),
                src: "192.0.2.1".parse().unwrap(),
                dsts: vec!["224.0.0.18".parse().unwrap()],
                effective_priority: 150,
                master: None,
                master_adver_int_cs: 100,
                last_transition: 1_796_037_058.089_508,
                vipset: true,
                stats: InstanceStats {
                    advert_sent: 8,
                    become_master: 1,
                    ..InstanceStats::default()
                },
            }],
        }
    }

    /// The keys of `Key = Value` / `Key:` lines, in order, with their indent.
    fn keys(text: &str) -> Vec<String> {
        text.lines()
            .filter_map(|l| {
                let key = l.split(" = ").next()?.trim_end_matches(':');
                let key = key.split(" (").next()?;
                (!key.trim().is_empty() && !l.starts_with("     ")).then(|| key.to_owned())
            })
            .collect()
    }

    /// Every key written is one of keepalived's, and they come in keepalived's order.
    fn assert_subsequence(ours: &str, theirs: &str) {
        let theirs = keys(theirs);
        let mut at = 0;
        for key in keys(ours) {
            let found = theirs[at..]
                .iter()
                .position(|k| *k == key)
                .unwrap_or_else(|| panic!("{key:?} is not in keepalived's dump after {:?}", theirs.get(at)));
            at += found + 1;
        }
    }

    #[test]
    fn data_keys_are_keepalived_keys_in_its_order() {
        let ours = data(&view());
        assert!(ours.contains("\n   State = MASTER\n"), "{ours}");
        assert!(ours.contains("\n     192.0.2.100/24 dev eth0 scope global set\n"));
        assert_subsequence(&ours, include_str!("dump_fixtures/keepalived.data"));
    }

    #[test]
    fn stats_match_keepalived_line_for_line() {
        let ours = stats(&view());
        let theirs = include_str!("dump_fixtures/keepalived.stats");
        // keepalived's sample had sent 6 adverts; the rest is the same text.
        assert_eq!(ours.replace("Sent: 8", "Sent: 6"), theirs);
    }

    #[test]
    fn json_has_keepalived_keys_and_numbers() {
        let ours: Value = serde_json::from_str(&json(&view())).unwrap();
        let theirs: Value = serde_json::from_str(include_str!("dump_fixtures/keepalived.json")).unwrap();
        let ours = &ours[0];
        for part in ["data", "stats"] {
            for key in ours[part].as_object().unwrap().keys() {
                assert!(
                    theirs[0][part].get(key).is_some(),
                    "{part}.{key} is not keepalived's"
                );
            }
        }
        assert_eq!(ours["data"]["state"], 2);
        assert_eq!(ours["stats"]["advert_sent"], 8);
    }
}
