//! One `vrrp_instance`: keepalived's defaults resolved, and the rules that concern only it
//! (family, version, advert interval, authentication, preemption, unicast, tracking).

use std::collections::BTreeSet;

use crate::config::{
    diag::{Pos, Sink},
    host::{self, HostInfo},
    model::{
        Auth, AuthType, Family, Garp, Global, InitialState, Instance, TrackFileDef, TrackProcessDef, Unicast,
        VirtualAddress, VrrpScript,
    },
    parse::{At, InstanceDraft},
    value::show_us,
};

/// Most addresses one advert carries: the count field is 8 bits; IPv6 is bounded by a
/// 1500-byte frame (keepalived moves the rest to the excluded list, and so do we).
const MAX_VIPS_V4: usize = 255;
const MAX_VIPS_V6: usize = (1500 - 14 - 40 - 8) / 16;

/// What an instance needs from the rest of the configuration.
pub(super) struct Env<'a> {
    pub global: &'a Global,
    pub scripts: &'a [VrrpScript],
    /// Scripts that were defined but are broken (already reported): no second error.
    pub broken_scripts: &'a BTreeSet<String>,
    pub track_files: &'a [At<TrackFileDef>],
    pub track_processes: &'a [At<TrackProcessDef>],
    /// track_file / vrrp_track_process definitions already reported as broken.
    pub broken_trackers: &'a BTreeSet<String>,
    pub host: Option<&'a HostInfo>,
}

pub(super) fn resolve(d: &InstanceDraft, env: &Env<'_>, sink: &mut Sink) -> Instance {
    let g = env.global;
    let name = &d.name;
    let m = d.more();
    let strict = m.strict.unwrap_or(g.vrrp_strict);
    let (family, vips) = family_and_vips(d, sink);
    let version = version(d, family, g, sink);
    let vrid = vrid(d, sink);
    let (state, priority) = state_and_priority(d, strict, sink);
    let advert_int_cs = advert_int(d, version, sink);
    let auth = auth(d, version, family, strict, sink);
    let (vips, excluded_vips) = vip_lists(d, vips, family, version, strict, sink);
    let (preempt, preempt_delay_ms) = preemption(d, state, priority, strict, sink);
    let unicast = unicast(d, g, family, strict, sink);
    let (vmac, vmac_xmit_base) = vmac(d, vrid, !unicast.peers.is_empty(), sink);
    if d.interface.is_none() && !d.given.interface {
        let why = if unicast.peers.is_empty() {
            Some("interface is required (multicast adverts need one)")
        } else if m.src_ip.is_none() {
            Some("unicast without interface needs unicast_src_ip")
        } else {
            None
        };
        if let Some(why) = why {
            sink.error(&d.at, format!("vrrp_instance {name}: {why}"));
        }
    }

    let mut accept = d.accept.unwrap_or(priority == 255 || !strict);
    if accept && strict && priority != 255 && version == 2 {
        sink.warning(
            &d.at,
            format!("vrrp_instance {name}: strict mode: accept with VRRPv2 breaks RFC 3768; using no_accept"),
        );
        accept = false;
    }
    let mut down_timer_adverts = m.down_timer_adverts.unwrap_or(3);
    if strict && down_timer_adverts != 3 {
        sink.warning(
            &d.at,
            format!("vrrp_instance {name}: strict mode: down_timer_adverts must be 3; using 3"),
        );
        down_timer_adverts = 3;
    }
    let tracking = super::tracking::of_instance(d, env, sink);
    // keepalived: strict mode answers no lower advert (nor re-announces
    // the VIPs: garp_lower_prio_* are 0) and sends no advert on losing to a
    // higher one (RFC 5798 6.4.3 says discard / go backup).
    let mut lower_prio_no_advert = m.lower_prio_no_advert.unwrap_or(g.lower_prio_no_advert);
    let mut higher_prio_send_advert = m.higher_prio_send_advert.unwrap_or(g.higher_prio_send_advert);
    if strict {
        if m.lower_prio_no_advert == Some(false) {
            sink.warning(
                &d.at,
                format!("vrrp_instance {name}: strict mode needs lower_prio_no_advert; setting it"),
            );
        }
        if higher_prio_send_advert && m.higher_prio_send_advert == Some(true) {
            sink.warning(
                &d.at,
                format!("vrrp_instance {name}: strict mode needs higher_prio_send_advert clear; clearing it"),
            );
        }
        lower_prio_no_advert = true;
        higher_prio_send_advert = false;
    }

    let instance = Instance {
        name: name.as_str().into(),
        state,
        interface: d.interface.as_ref().map(|i| i.v.as_str().into()),
        vrid,
        priority,
        version,
        family,
        advert_int_cs,
        down_timer_adverts,
        v3_checksum_as_v2: m.v3_checksum_as_v2 || g.v3_checksum_as_v2,
        auth,
        vips,
        excluded_vips: excluded_vips.into(),
        preempt,
        preempt_delay_ms,
        track_interfaces: with_route_interfaces(tracking.interfaces, d).into(),
        track_scripts: tracking.scripts.into(),
        track_files: tracking.files.into(),
        track_processes: tracking.processes.into(),
        unicast,
        src_ip: m
            .src_ip
            .as_ref()
            .filter(|s| Family::of(&s.v) == family)
            .map(|s| s.v),
        vmac: vmac.map(String::into_boxed_str),
        vmac_xmit_base,
        native_ipv6: m.native_ipv6.is_some(),
        accept,
        garp: Garp {
            master_delay_s: m.garp.master_delay_s.unwrap_or(g.garp.master_delay_s),
            master_repeat: m.garp.master_repeat.unwrap_or(g.garp.master_repeat),
            master_refresh_s: m.garp.master_refresh_s.unwrap_or(g.garp.master_refresh_s),
            master_refresh_repeat: m
                .garp
                .master_refresh_repeat
                .unwrap_or(g.garp.master_refresh_repeat),
            lower_prio_delay_s: m.garp.lower_prio_delay_s.unwrap_or(g.garp.lower_prio_delay_s)
                * u32::from(!strict),
            lower_prio_repeat: m.garp.lower_prio_repeat.unwrap_or(g.garp.lower_prio_repeat)
                * u32::from(!strict),
        },
        lower_prio_no_advert,
        higher_prio_send_advert,
        routes: m.routes.iter().map(|r| r.v.clone()).collect(),
        rules: m.rules.iter().map(|r| r.v.0.clone()).collect(),
        notify: m.notify.clone().boxed(),
        smtp_alert: m
            .smtp_alert
            .or(g.smtp_alert_vrrp)
            .or(g.smtp_alert)
            .unwrap_or(false),
        notify_priority_changes: m.notify_priority_changes.unwrap_or(g.notify_priority_changes),
        notify_deleted: m.notify_deleted,
        dont_track_primary: m.dont_track_primary,
        debug: m.debug,
        strict,
        skip_check_adv_addr: m.skip_check_adv_addr.unwrap_or(g.skip_check_adv_addr),
        sync_group: None,
    };
    if let Some(host) = env.host {
        host::check_instance(d, &instance, host, sink);
    }
    instance
}

/// `virtual_router_id` is required (unless it was given and already reported as invalid).
fn vrid(d: &InstanceDraft, sink: &mut Sink) -> u8 {
    if let Some(v) = &d.vrid {
        return v.v;
    }
    if !d.given.vrid {
        sink.error(
            &d.at,
            format!("vrrp_instance {}: virtual_router_id is required (1..255)", d.name),
        );
    }
    0
}

/// keepalived: no priority and state MASTER means 255; no state means MASTER only at 255;
/// strict mode makes the state follow ownership.
fn state_and_priority(d: &InstanceDraft, strict: bool, sink: &mut Sink) -> (InitialState, u8) {
    let name = &d.name;
    let priority = match (&d.priority, &d.state) {
        (Some(p), _) => p.v,
        (None, Some(s)) if s.v == InitialState::Master => {
            sink.note(
                &s.at,
                format!(
                    "vrrp_instance {name}: no priority with state MASTER means priority 255 (address owner), \
                     as in keepalived; set a priority to avoid it"
                ),
            );
            255
        }
        (None, _) => 100,
    };
    let owner_state = if priority == 255 {
        InitialState::Master
    } else {
        InitialState::Backup
    };
    let Some(state) = &d.state else {
        return (owner_state, priority);
    };
    if strict && state.v != owner_state {
        sink.warning(
            &state.at,
            format!(
                "vrrp_instance {name}: strict mode: state MASTER only for the address owner (priority 255); \
                 using {owner_state}"
            ),
        );
        return (owner_state, priority);
    }
    (state.v, priority)
}

/// The advertised and the excluded addresses: at least one VIP (required with v3 or strict),
/// and no more than an advert carries (the rest become excluded, as in keepalived).
fn vip_lists(
    d: &InstanceDraft,
    mut vips: Vec<At<VirtualAddress>>,
    family: Family,
    version: u8,
    strict: bool,
    sink: &mut Sink,
) -> (Vec<VirtualAddress>, Vec<VirtualAddress>) {
    let name = &d.name;
    // (VIP lines that were all invalid are reported already.)
    if d.vip_lines == 0 {
        if version == 3 || strict {
            sink.error(
                &d.at,
                format!("vrrp_instance {name}: at least one virtual_ipaddress is required (VRRPv3 / strict)"),
            );
        } else {
            sink.warning(
                &d.at,
                format!("vrrp_instance {name}: no virtual_ipaddress; at least one is sensible"),
            );
        }
    }
    let max = if family == Family::Ipv4 {
        MAX_VIPS_V4
    } else {
        MAX_VIPS_V6
    };
    let mut excluded: Vec<VirtualAddress> = d.more().excluded_vips.iter().map(|v| v.v.clone()).collect();
    if vips.len() > max {
        sink.warning(
            &vips[max].at,
            format!(
                "vrrp_instance {name}: {} virtual addresses, an advert carries {max}; the rest are handled as excluded",
                vips.len()
            ),
        );
        excluded.extend(vips.drain(max..).map(|v| v.v));
    }
    (vips.into_iter().map(|v| v.v).collect(), excluded)
}

/// keepalived (vrrp.c `vrrp_complete_instance`): the `dev` of a tracked
/// virtual route and the `iif` / `oif` of a tracked virtual rule are
/// tracked interfaces of weight 0 (down: FAULT).
fn with_route_interfaces(
    mut tracked: Vec<crate::config::model::TrackInterface>,
    d: &InstanceDraft,
) -> Vec<crate::config::model::TrackInterface> {
    let devs = d
        .more()
        .routes
        .iter()
        .filter(|r| !r.v.no_track)
        .filter_map(|r| r.v.dev.clone())
        .chain(
            d.more()
                .rules
                .iter()
                .filter(|r| !r.v.0.no_track)
                .flat_map(|r| [r.v.0.iif.clone(), r.v.0.oif.clone()])
                .flatten(),
        );
    for name in devs {
        if !tracked.iter().any(|t| t.name == name) {
            tracked.push(crate::config::model::TrackInterface {
                name,
                weight: 0,
                reverse: false,
            });
        }
    }
    tracked
}

/// `use_vmac [NAME]` (default name `vrrp.VRID`) and `vmac_xmit_base`.
fn vmac(d: &InstanceDraft, vrid: u8, unicast: bool, sink: &mut Sink) -> (Option<String>, bool) {
    let name = &d.name;
    let Some(vmac) = &d.more().vmac else {
        if d.more().vmac_xmit_base {
            sink.warning(
                &d.at,
                format!("vrrp_instance {name}: vmac_xmit_base without use_vmac; ignored"),
            );
        }
        return (None, false);
    };
    let interface = vmac.v.clone().unwrap_or_else(|| format!("vrrp.{vrid}"));
    if unicast && !d.more().vmac_xmit_base {
        sink.warning(
            &vmac.at,
            format!("vrrp_instance {name}: use_vmac with unicast peers needs vmac_xmit_base; setting it (as keepalived)"),
        );
        return (Some(interface), true);
    }
    (Some(interface), d.more().vmac_xmit_base)
}

/// keepalived's rule: every `virtual_ipaddress` of an instance has one family, set by the
/// first address (or by `native_ipv6`, which forces IPv6); addresses of the other family
/// belong in `virtual_ipaddress_excluded`. Mismatches are errors here (keepalived drops the
/// address with a message, leaving a VIP silently unmanaged).
fn family_and_vips(d: &InstanceDraft, sink: &mut Sink) -> (Family, Vec<At<VirtualAddress>>) {
    let name = &d.name;
    let (family, what, set_at) = if let Some(at) = &d.more().native_ipv6 {
        (Family::Ipv6, "native_ipv6".to_owned(), Some(at))
    } else if let Some(first) = d.vips.first() {
        (
            Family::of(&first.v.addr),
            format!("its first virtual_ipaddress {}", first.v.addr),
            Some(&first.at),
        )
    } else if let Some(src) = &d.more().src_ip {
        (
            Family::of(&src.v),
            format!("its source address {}", src.v),
            Some(&src.at),
        )
    } else if let Some(peer) = d.more().peers.first() {
        (
            Family::of(&peer.v.addr),
            format!("its unicast_peer {}", peer.v.addr),
            Some(&peer.at),
        )
    } else {
        (Family::Ipv4, "default".to_owned(), None)
    };
    // Named from where each message is: a block's lines may come from an include.
    let why = |here: &Pos| match set_at {
        Some(at) => format!("{what} at {}", at.as_seen_from(here)),
        None => what.clone(),
    };
    let mut vips = Vec::with_capacity(d.vips.len());
    for vip in &d.vips {
        if Family::of(&vip.v.addr) == family {
            vips.push(vip.clone());
        } else {
            sink.error(
                &vip.at,
                format!(
                    "vrrp_instance {name}: virtual_ipaddress {} is {} but the instance is {} (set by {}); \
                     one instance advertises one family: move it to virtual_ipaddress_excluded or to another instance",
                    vip.v.addr,
                    Family::of(&vip.v.addr).name(),
                    family.name(),
                    why(&vip.at)
                ),
            );
        }
    }
    if let Some(src) = d.more().src_ip.as_ref().filter(|s| Family::of(&s.v) != family) {
        sink.error(
            &src.at,
            format!(
                "vrrp_instance {name}: source address {} is not {} like the instance (set by {})",
                src.v,
                family.name(),
                why(&src.at)
            ),
        );
    }
    for peer in d.more().peers.iter().filter(|p| Family::of(&p.v.addr) != family) {
        sink.error(
            &peer.at,
            format!(
                "vrrp_instance {name}: unicast_peer {} is not {} like the instance (set by {})",
                peer.v.addr,
                family.name(),
                why(&peer.at)
            ),
        );
    }
    (family, vips)
}

/// `version`, else IPv6 means 3, else the global `vrrp_version`.
fn version(d: &InstanceDraft, family: Family, g: &Global, sink: &mut Sink) -> u8 {
    match &d.version {
        Some(v) if v.v == 2 && family == Family::Ipv6 => {
            sink.warning(
                &v.at,
                format!("vrrp_instance {}: VRRPv2 carries only IPv4 (RFC 3768); using version 3 for this IPv6 instance", d.name),
            );
            3
        }
        Some(v) => v.v,
        None if family == Family::Ipv6 => 3,
        None => g.vrrp_version,
    }
}

/// The advert interval in centiseconds; out of the version's range is an error (keepalived
/// rounds or clamps, which changes failover timing behind the operator's back).
fn advert_int(d: &InstanceDraft, version: u8, sink: &mut Sink) -> u16 {
    let Some(At { v: us, at }) = &d.advert_us else {
        return 100;
    };
    let shown = show_us(*us);
    let name = &d.name;
    if version == 2 {
        if us % 1_000_000 != 0 && (1..256_000_000).contains(us) {
            // keepalived rounds to the nearest second (at least 1) and runs.
            let secs = ((us + 500_000) / 1_000_000).max(1);
            sink.warning(
                at,
                format!(
                    "vrrp_instance {name}: advert_int {shown} is not whole seconds: VRRPv2 takes 1..255; \
                     rounded to {secs} s as keepalived does (fractions need version 3)"
                ),
            );
            return u16::try_from(secs * 100).unwrap_or(100);
        } else if !(1..=255).contains(&(us / 1_000_000)) || us % 1_000_000 != 0 {
            sink.error(
                at,
                format!("vrrp_instance {name}: advert_int {shown} out of range 1..255 seconds (VRRPv2)"),
            );
        } else {
            return u16::try_from(us / 10_000).unwrap_or(100);
        }
    } else if us % 10_000 != 0 {
        sink.error(
            at,
            format!("vrrp_instance {name}: advert_int {shown} is not a multiple of 0.01 s: VRRPv3 counts centiseconds"),
        );
    } else if !(1..=4095).contains(&(us / 10_000)) {
        sink.error(
            at,
            format!("vrrp_instance {name}: advert_int {shown} out of range 0.01..40.95 seconds (VRRPv3)"),
        );
    } else {
        return u16::try_from(us / 10_000).unwrap_or(100);
    }
    100
}

/// keepalived's authentication rules, in its order.
fn auth(d: &InstanceDraft, version: u8, family: Family, strict: bool, sink: &mut Sink) -> Option<Box<Auth>> {
    let name = &d.name;
    let Some(kind) = &d.more().auth_type else {
        if let Some(pass) = &d.more().auth_pass {
            sink.warning(
                &pass.at,
                format!("vrrp_instance {name}: auth_pass without auth_type; no authentication is used"),
            );
        }
        return None;
    };
    let why = if strict {
        "strict mode does not allow authentication"
    } else if version == 3 {
        "VRRPv3 has no authentication (RFC 5798)"
    } else if d.more().auth_pass.as_ref().is_none_or(|p| p.v.is_empty()) {
        "auth_type without auth_pass"
    } else if family == Family::Ipv6 && kind.v == AuthType::Ah {
        "AH authentication does not work with IPv6"
    } else if kind.v == AuthType::Ah {
        // keepalived still speaks it; xvrrp does not, and a daemon that
        // starts and then cannot authenticate would split the VRID. Refused
        // here so `check` says so before `run` does.
        sink.error(
            &kind.at,
            format!(
                "vrrp_instance {name}: auth_type AH is not supported by xvrrp (RFC 3768 removed it); \
                 use PASS or no authentication"
            ),
        );
        return None;
    } else {
        let pass = d
            .more()
            .auth_pass
            .as_ref()
            .map(|p| p.v.clone())
            .unwrap_or_default();
        return Some(Box::new(Auth { kind: kind.v, pass }));
    };
    sink.warning(
        &kind.at,
        format!("vrrp_instance {name}: {why}; authentication ignored"),
    );
    None
}

/// `nopreempt` and `preempt_delay`, with keepalived's exceptions.
fn preemption(
    d: &InstanceDraft,
    state: InitialState,
    priority: u8,
    strict: bool,
    sink: &mut Sink,
) -> (bool, u32) {
    let name = &d.name;
    let mut preempt = d.nopreempt.is_none();
    if let Some(at) = &d.nopreempt {
        if priority == 255 {
            sink.warning(
                at,
                format!("vrrp_instance {name}: nopreempt is ignored for the address owner (priority 255)"),
            );
            preempt = true;
        } else if state == InitialState::Master {
            sink.warning(
                at,
                format!("vrrp_instance {name}: nopreempt does not work with state MASTER; ignored (use state BACKUP everywhere)"),
            );
            preempt = true;
        }
    }
    let Some(delay) = &d.more().preempt_delay_ms else {
        return (preempt, 0);
    };
    let why = if state == InitialState::Master {
        "does not work with state MASTER"
    } else if strict {
        "is not allowed in strict mode"
    } else if !preempt {
        "has no effect with nopreempt"
    } else {
        return (preempt, delay.v);
    };
    sink.warning(
        &delay.at,
        format!("vrrp_instance {name}: preempt_delay {why}; ignored"),
    );
    (preempt, 0)
}

fn unicast(d: &InstanceDraft, g: &Global, family: Family, strict: bool, sink: &mut Sink) -> Unicast {
    let name = &d.name;
    let peers: thin_vec::ThinVec<_> = d
        .more()
        .peers
        .iter()
        .filter(|p| Family::of(&p.v.addr) == family)
        .map(|p| p.v.clone())
        .collect();
    if peers.is_empty() {
        if let Some(ttl) = &d.more().unicast_ttl {
            sink.warning(
                &ttl.at,
                format!("vrrp_instance {name}: unicast_ttl without unicast_peer; ignored"),
            );
        }
        if let Some(at) = &d.more().unicast_keyword
            && !d.given.unicast_peer
        {
            sink.warning(
                at,
                format!(
                    "vrrp_instance {name}: a unicast keyword without any unicast_peer: adverts are multicast"
                ),
            );
        }
    } else if strict {
        sink.error(
            &d.at,
            format!("vrrp_instance {name}: unicast peers are not allowed in strict mode"),
        );
    }
    Unicast {
        ttl: d.more().unicast_ttl.as_ref().map_or(255, |t| t.v),
        check_src: d.more().check_unicast_src || g.check_unicast_src,
        peers,
    }
}
