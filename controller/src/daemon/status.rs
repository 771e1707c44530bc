//! What `xvrrpd status` shows: a snapshot of the running daemon, served as
//! JSON on the control socket (read-only: the socket takes no commands).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::engine::{Engine, Slot};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub name: String,
    pub interface: String,
    pub family: String,
    pub vrid: u8,
    pub version: u8,
    pub state: String,
    pub priority: u8,
    pub effective_priority: u8,
    pub master_ip: Option<String>,
    pub advert_interval_ms: u64,
    pub last_advert_age_ms: Option<u64>,
    pub transitions: u64,
    pub vips: Vec<String>,
    /// Another master heard while master (split brain), if any.
    pub split_brain_peer: Option<String>,
    pub split_brain_adverts: u64,
    /// Why the instance is in FAULT, while it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_reason: Option<String>,
}

/// The data path on one interface.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InterfaceStatus {
    pub name: String,
    /// How the XDP program is attached: `native`, `generic`, or `none`
    /// (socket mode).
    pub xdp: String,
    /// Who answers ARP / Neighbor Solicitations for the VIPs: `xdp` or `kernel`.
    pub arp_ndp: String,
    /// Where adverts are validated: `tc`, `xdp` (in the kernel) or `socket`.
    #[serde(default)]
    pub adverts: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub instances: Vec<InstanceStatus>,
    pub mode: String,
    #[serde(default)]
    pub interfaces: Vec<InterfaceStatus>,
    pub counters: BTreeMap<String, u64>,
}

/// Every interface an instance runs on, with its data path.
fn interfaces(engine: &Engine) -> Vec<InterfaceStatus> {
    let mut names: Vec<&str> = engine.instances.values().map(Slot::ifname).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let attached = engine
                .datapath
                .as_ref()
                .and_then(|dp| dp.attachments().iter().find(|a| a.name == name));
            let lower = |v: String| v.to_lowercase();
            InterfaceStatus {
                name: name.to_owned(),
                xdp: attached.map_or("none".to_owned(), |a| lower(format!("{:?}", a.how))),
                arp_ndp: attached.map_or("kernel".to_owned(), |a| lower(format!("{:?}", a.answerer))),
                adverts: attached.map_or("socket".to_owned(), |a| lower(format!("{:?}", a.adverts))),
            }
        })
        .collect()
}

pub fn snapshot(engine: &mut Engine) -> Status {
    let mut instances = Vec::new();
    for idx in engine.instances.indices() {
        let age = engine.last_advert_age_ms(idx);
        let slot = &engine.instances[idx];
        let state = slot.fsm.vars.state.name();
        let master_ip = match slot.fsm.vars.state {
            crate::vrrp::fsm::State::Master => Some(slot.src.to_string()),
            _ => slot.fsm.vars.master.map(|(ip, _)| ip.to_string()),
        };
        instances.push(InstanceStatus {
            name: slot.cfg.name.to_string(),
            interface: slot.ifname().to_owned(),
            family: if slot.v6 { "inet6" } else { "inet" }.to_owned(),
            vrid: slot.cfg.vrid,
            version: slot.cfg.version,
            state: state.to_owned(),
            priority: slot.base_priority,
            effective_priority: slot.fsm.vars.priority,
            master_ip,
            advert_interval_ms: u64::from(slot.fsm.vars.master_adver_interval_cs) * 10,
            last_advert_age_ms: age,
            transitions: slot.transitions,
            vips: slot
                .cfg
                .vips
                .iter()
                .map(|v| format!("{}/{}", v.addr, v.prefix))
                .collect(),
            split_brain_peer: slot
                .split_brain
                .as_ref()
                .and_then(|s| s.peer)
                .map(|ip| ip.to_string()),
            split_brain_adverts: slot.split_brain.as_ref().map_or(0, |s| s.adverts),
            fault_reason: slot.fault.as_deref().map(str::to_owned),
        });
    }
    for w in &engine.instances.waiting {
        let cfg = &w.cfg;
        instances.push(InstanceStatus {
            name: cfg.name.to_string(),
            interface: cfg.interface.as_deref().unwrap_or_default().to_owned(),
            family: match cfg.family {
                crate::config::model::Family::Ipv6 => "inet6",
                crate::config::model::Family::Ipv4 => "inet",
            }
            .to_owned(),
            vrid: cfg.vrid,
            version: cfg.version,
            state: "FAULT".to_owned(),
            priority: cfg.priority,
            effective_priority: cfg.priority,
            master_ip: None,
            advert_interval_ms: u64::from(cfg.advert_int_cs) * 10,
            last_advert_age_ms: None,
            transitions: 0,
            vips: cfg
                .vips
                .iter()
                .map(|v| format!("{}/{}", v.addr, v.prefix))
                .collect(),
            split_brain_peer: None,
            split_brain_adverts: 0,
            fault_reason: Some(w.why.clone()),
        });
    }
    Status {
        instances,
        mode: engine.mode.name().to_owned(),
        interfaces: interfaces(engine),
        counters: engine.named_counters(),
    }
}

/// A label value in the Prometheus text format: backslash, double quote and
/// line feed escaped (an instance may be named anything keepalived.conf's
/// quoting allows).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The Prometheus text exposition of a snapshot.
pub fn prometheus(status: &Status) -> String {
    let mut out = String::new();
    out.push_str("# HELP xvrrp_instance_state 1 for the instance's current state.\n# TYPE xvrrp_instance_state gauge\n");
    for i in &status.instances {
        for s in ["INIT", "BACKUP", "MASTER", "FAULT"] {
            out.push_str(&format!(
                "xvrrp_instance_state{{instance=\"{}\",vrid=\"{}\",state=\"{s}\"}} {}\n",
                label(&i.name),
                i.vrid,
                u8::from(i.state == s)
            ));
        }
    }
    let mut per_instance = |metric: &str, kind: &str, help: &str, value: &dyn Fn(&InstanceStatus) -> u64| {
        out.push_str(&format!("# HELP {metric} {help}\n# TYPE {metric} {kind}\n"));
        for i in &status.instances {
            out.push_str(&format!(
                "{metric}{{instance=\"{}\",vrid=\"{}\"}} {}\n",
                label(&i.name),
                i.vrid,
                value(i)
            ));
        }
    };
    per_instance(
        "xvrrp_effective_priority",
        "gauge",
        "Priority advertised now (weights applied).",
        &|i| u64::from(i.effective_priority),
    );
    per_instance("xvrrp_transitions_total", "counter", "State changes.", &|i| {
        i.transitions
    });
    // In XDP mode steady adverts from the other master do not wake the daemon:
    // this counts the times one was noticed, not every advert.
    per_instance(
        "xvrrp_split_brain_adverts_total",
        "counter",
        "Adverts from another master noticed while master (split brain).",
        &|i| i.split_brain_adverts,
    );
    out.push_str("# HELP xvrrp_packets_total Receive drops by reason, adverts received and sent, ARP replies.\n# TYPE xvrrp_packets_total counter\n");
    for (name, value) in &status.counters {
        out.push_str(&format!(
            "xvrrp_packets_total{{kind=\"{}\"}} {value}\n",
            label(name)
        ));
    }
    out
}

/// The human table of `xvrrpd status`.
pub fn table(status: &Status) -> String {
    let mut out = format!(
        "{:<12} {:<10} {:>4} {:>3} {:<7} {:>4}/{:<4} {:<26} {:>8}  {}\n",
        "INSTANCE", "IFACE", "VRID", "VER", "STATE", "PRIO", "EFF", "MASTER", "LAST_ADV", "VIPS"
    );
    for i in &status.instances {
        let age = i.last_advert_age_ms.map_or("-".to_owned(), |a| format!("{a}ms"));
        let mut master = i.master_ip.clone().unwrap_or_else(|| "-".to_owned());
        if let Some(peer) = &i.split_brain_peer {
            master = format!("{master} SPLIT:{peer}");
        }
        out.push_str(&format!(
            "{:<12} {:<10} {:>4} {:>3} {:<7} {:>4}/{:<4} {:<26} {:>8}  {}\n",
            i.name,
            i.interface,
            i.vrid,
            i.version,
            i.state,
            i.priority,
            i.effective_priority,
            master,
            age,
            i.vips.join(",")
        ));
        if let Some(why) = &i.fault_reason {
            out.push_str(&format!("{:<12} fault: {why}\n", ""));
        }
    }
    out.push_str(&format!("mode: {}\n", status.mode));
    for i in &status.interfaces {
        out.push_str(&format!(
            "interface {}: xdp {}, adverts validated in {}, arp/ndp answered by {}\n",
            i.name, i.xdp, i.adverts, i.arp_ndp
        ));
    }
    let counters: Vec<String> = status
        .counters
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    out.push_str(&format!(
        "counters: {}\n",
        if counters.is_empty() {
            "-".to_owned()
        } else {
            counters.join(" ")
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::label;

    #[test]
    fn label_values_are_escaped_as_the_text_format_asks() {
        assert_eq!(label("VI_1"), "VI_1");
        assert_eq!(label("a\"b"), "a\\\"b");
        assert_eq!(label("a\\b"), "a\\\\b");
        assert_eq!(label("a\nb"), "a\\nb");
    }
}
