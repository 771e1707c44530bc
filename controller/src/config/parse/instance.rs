//! `vrrp_instance NAME { }`.

use std::net::IpAddr;

use super::{
    At, InstanceDraft, address, children,
    ctx::{Ctx, interface_name_problem},
    global::set_repeat,
    track,
};
use crate::config::{
    model::{AuthType, InitialState},
    tree::Node,
    value,
};

/// keepalived instance keywords xvrrp does not implement.
const UNSUPPORTED: &[&str] = &[
    "use_vmac_addr",
    "use_ipvlan",
    "unicast_fault_no_peer",
    "old_unicast_checksum",
    "vrf",
    "track_bfd",
    "mcast_dst_ip",
    "track_src_ip",
    "promote_secondaries",
    "linkbeat_use_polling",
    "lvs_sync_daemon_interface",
    "garp_extra_if",
    "vmac_garp_intvl",
    "kernel_rx_buf_size",
];

/// The longest password VRRPv2 carries (RFC 2338 5.3.10).
pub(crate) const AUTH_PASS_MAX: usize = 8;

/// Parses one `vrrp_instance` block (its name checked unique by the caller).
pub(super) fn parse(ctx: &mut Ctx<'_>, node: &Node, name: &str, instances: &mut Vec<InstanceDraft>) {
    let mut instance = InstanceDraft::new(name.to_owned(), node.at());
    for kw in children(node) {
        keyword(ctx, kw, &mut instance);
    }
    instance.shrink_lists();
    instances.push(instance);
}

fn keyword(ctx: &mut Ctx<'_>, kw: &Node, i: &mut InstanceDraft) {
    let at = kw.at();
    i.given.note(kw.keyword());
    match kw.keyword() {
        "state" => {
            if let Some(w) = ctx.single(kw, "MASTER or BACKUP") {
                match w.text.as_str() {
                    "MASTER" => i.state = Some(At::new(InitialState::Master, at)),
                    "BACKUP" => i.state = Some(At::new(InitialState::Backup, at)),
                    other => ctx.sink.error(
                        at,
                        format!("state '{other}': expected MASTER or BACKUP (upper case)"),
                    ),
                }
            }
        }
        "interface" => {
            if let Some(w) = ctx.single(kw, "an interface name") {
                match interface_name_problem(&w.text) {
                    Some(problem) => ctx.sink.error(at, format!("interface '{}' {problem}", w.text)),
                    None => i.interface = Some(At::new(w.text.clone(), at)),
                }
            }
        }
        "virtual_router_id" => {
            if let Some(v) = ctx.uint(kw, 1..=255) {
                i.vrid = Some(At::new(narrow(v), at));
            }
        }
        "priority" => {
            if let Some(v) = ctx.uint(kw, 1..=255) {
                i.priority = Some(At::new(narrow(v), at));
            }
        }
        "advert_int" => advert_int(ctx, kw, i),
        "version" => {
            if let Some(v) = ctx.uint(kw, 2..=3) {
                i.version = Some(At::new(narrow(v), at));
            }
        }
        "down_timer_adverts" => {
            if let Some(v) = ctx.uint(kw, 1..=100) {
                i.more_mut().down_timer_adverts = Some(narrow(v));
            }
        }
        "v3_checksum_as_v2" => {
            if let Some(b) = ctx.opt_bool(kw) {
                i.more_mut().v3_checksum_as_v2 = b;
            }
        }
        "check_unicast_src" => {
            ctx.flag(kw);
            i.more_mut().check_unicast_src = true;
            i.more_mut().unicast_keyword.get_or_insert_with(|| at.clone());
        }
        "unicast_ttl" => {
            if let Some(v) = ctx.uint(kw, 0..=255) {
                i.more_mut().unicast_ttl = Some(At::new(narrow(v), at));
            }
        }
        "authentication" => authentication(ctx, kw, i),
        "virtual_ipaddress" => i.vip_lines += address::vips(ctx, kw, &mut i.vips),
        "virtual_ipaddress_excluded" => {
            address::vips(ctx, kw, &mut i.more_mut().excluded_vips);
        }
        "nopreempt" => {
            ctx.flag(kw);
            i.nopreempt = Some(at.clone());
        }
        "preempt" => {
            ctx.flag(kw);
            i.nopreempt = None;
        }
        "preempt_delay" => {
            if let Some(ms) = ctx.seconds_ms(kw, 1000) {
                i.more_mut().preempt_delay_ms = Some(At::new(ms, at));
            }
        }
        "track_interface" => track::interfaces(ctx, kw, &mut i.more_mut().track_interfaces),
        "track_script" => track::refs(ctx, kw, track::Kind::Script, &mut i.more_mut().track_scripts),
        "track_file" => track::refs(ctx, kw, track::Kind::File, &mut i.more_mut().track_files),
        "virtual_routes" => super::route::routes(ctx, kw, &mut i.more_mut().routes),
        "virtual_rules" => super::route::rules(ctx, kw, &mut i.more_mut().rules),
        "track_process" => track::refs(ctx, kw, track::Kind::Process, &mut i.more_mut().track_processes),
        "unicast_src_ip" | "mcast_src_ip" => {
            if kw.keyword() == "unicast_src_ip" {
                i.more_mut().unicast_keyword.get_or_insert_with(|| at.clone());
            }
            if let Some(w) = ctx.single(kw, "an IPv4 or IPv6 address") {
                match w.text.parse::<IpAddr>() {
                    Ok(a) => i.more_mut().src_ip = Some(At::new(a, at)),
                    Err(_) => ctx.sink.error(
                        at,
                        format!("{} '{}': expected an IPv4 or IPv6 address", kw.keyword(), w.text),
                    ),
                }
            }
        }
        "unicast_peer" => {
            i.more_mut().unicast_keyword.get_or_insert_with(|| at.clone());
            if address::peers(ctx, kw, &mut i.more_mut().peers) {
                i.more_mut().check_unicast_src = true;
            }
        }
        "use_vmac" => use_vmac(ctx, kw, i),
        "vmac_xmit_base" => {
            ctx.flag(kw);
            i.more_mut().vmac_xmit_base = true;
        }
        "native_ipv6" => {
            ctx.flag(kw);
            i.more_mut().native_ipv6 = Some(at.clone());
        }
        "accept" => {
            ctx.flag(kw);
            i.accept = Some(true);
        }
        "no_accept" => {
            ctx.flag(kw);
            i.accept = Some(false);
        }
        "garp_master_delay" => set_u32(ctx, kw, &mut i.more_mut().garp.master_delay_s),
        "garp_lower_prio_delay" => set_u32(ctx, kw, &mut i.more_mut().garp.lower_prio_delay_s),
        "garp_lower_prio_repeat" => {
            if let Some(v) = ctx.uint(kw, 0..=u64::from(i32::MAX.unsigned_abs())) {
                i.more_mut().garp.lower_prio_repeat = Some(u32::try_from(v).unwrap_or(0));
            }
        }
        "lower_prio_no_advert" => set_opt_bool(ctx, kw, &mut i.more_mut().lower_prio_no_advert),
        "higher_prio_send_advert" => {
            set_opt_bool(ctx, kw, &mut i.more_mut().higher_prio_send_advert);
        }
        "garp_master_refresh" => set_u32(ctx, kw, &mut i.more_mut().garp.master_refresh_s),
        "garp_master_repeat" => {
            let mut v = 0;
            set_repeat(ctx, kw, &mut v);
            i.more_mut().garp.master_repeat = (v > 0).then_some(v);
        }
        "garp_master_refresh_repeat" => {
            let mut v = 0;
            set_repeat(ctx, kw, &mut v);
            i.more_mut().garp.master_refresh_repeat = (v > 0).then_some(v);
        }
        "smtp_alert" => {
            if let Some(b) = ctx.opt_bool(kw) {
                i.more_mut().smtp_alert = Some(b);
            }
        }
        "notify_priority_changes" => {
            set_opt_bool(ctx, kw, &mut i.more_mut().notify_priority_changes);
        }
        // `notify_deleted [SCRIPT]`: the state name DELETED, and a script.
        "notify_deleted" => {
            i.more_mut().notify_deleted = true;
            if kw.stmt.words.len() > 1 {
                track::notify(ctx, kw, &mut i.more_mut().notify);
            } else {
                ctx.no_block(kw);
            }
        }
        "dont_track_primary" => {
            ctx.flag(kw);
            i.more_mut().dont_track_primary = true;
        }
        "debug" => {
            if let Some(v) = ctx.uint(kw, 0..=4) {
                i.more_mut().debug = narrow(v);
            }
        }
        "strict_mode" => set_opt_bool(ctx, kw, &mut i.more_mut().strict),
        "skip_check_adv_addr" => set_opt_bool(ctx, kw, &mut i.more_mut().skip_check_adv_addr),
        // The notify scripts (`notify`, `notify_master`, ...); any other keyword is
        // reported without making the instance's `More`.
        other => {
            if !(other.starts_with("notify") && track::notify(ctx, kw, &mut i.more_mut().notify)) {
                ctx.unknown("vrrp_instance", kw, UNSUPPORTED);
            }
        }
    }
}

fn narrow(v: u64) -> u8 {
    u8::try_from(v).unwrap_or(u8::MAX)
}

/// An optional boolean (`Ctx::opt_bool`): the value if valid, else what was there.
fn set_opt_bool(ctx: &mut Ctx<'_>, kw: &Node, slot: &mut Option<bool>) {
    if let Some(b) = ctx.opt_bool(kw) {
        *slot = Some(b);
    }
}

fn set_u32(ctx: &mut Ctx<'_>, kw: &Node, slot: &mut Option<u32>) {
    if let Some(v) = ctx.uint(kw, 0..=u64::from(u32::MAX / 1_000_000)) {
        *slot = Some(u32::try_from(v).unwrap_or(u32::MAX));
    }
}

/// `advert_int SECONDS`: any decimal here; its range depends on the version, which may come
/// later in the block (or from the VIPs), so `check` judges it.
fn advert_int(ctx: &mut Ctx<'_>, kw: &Node, i: &mut InstanceDraft) {
    let Some(w) = ctx.single(kw, "seconds (1..255 for VRRPv2, 0.01..40.95 for VRRPv3)") else {
        return;
    };
    match value::decimal_us(&w.text) {
        Some(us) => i.advert_us = Some(At::new(us, kw.at())),
        None => ctx.sink.error(
            kw.at(),
            format!(
                "advert_int '{}' is not a number of seconds: expected 1..255 (VRRPv2) or 0.01..40.95 (VRRPv3)",
                w.text
            ),
        ),
    }
}

/// `authentication { auth_type PASS|AH  auth_pass PASSWORD }`.
fn authentication(ctx: &mut Ctx<'_>, kw: &Node, i: &mut InstanceDraft) {
    ctx.extra_words(kw, 1);
    if kw.block.is_none() {
        ctx.sink.error(
            kw.at(),
            "authentication: expected a { } block (auth_type, auth_pass)",
        );
        return;
    }
    for inner in children(kw) {
        let at = inner.at();
        match inner.keyword() {
            "auth_type" => {
                if let Some(w) = ctx.single(inner, "PASS or AH") {
                    match w.text.as_str() {
                        "PASS" => i.more_mut().auth_type = Some(At::new(AuthType::Pass, at)),
                        "AH" => i.more_mut().auth_type = Some(At::new(AuthType::Ah, at)),
                        other => ctx
                            .sink
                            .error(at, format!("auth_type '{other}': expected PASS or AH")),
                    }
                }
            }
            "auth_pass" => {
                if let Some(w) = ctx.single(inner, "a password (8 characters at most)") {
                    let mut pass = w.text.clone();
                    if pass.len() > AUTH_PASS_MAX {
                        if pass.is_char_boundary(AUTH_PASS_MAX) {
                            ctx.sink.warning(
                                at,
                                format!(
                                    "auth_pass is {} characters long: truncating auth_pass to {AUTH_PASS_MAX} \
                                     characters, as keepalived does (VRRPv2 carries 8)",
                                    pass.chars().count()
                                ),
                            );
                            pass.truncate(AUTH_PASS_MAX);
                        } else {
                            ctx.sink.error(
                                at,
                                format!(
                                    "auth_pass: its first {AUTH_PASS_MAX} bytes (all VRRPv2 carries) end inside \
                                     a multi-byte character; use at most {AUTH_PASS_MAX} ASCII characters"
                                ),
                            );
                            return;
                        }
                    }
                    i.more_mut().auth_pass = Some(At::new(pass, at));
                }
            }
            _ => ctx.unknown("authentication", inner, &[]),
        }
    }
}

/// `use_vmac [NAME]`: the macvlan's name is optional.
fn use_vmac(ctx: &mut Ctx<'_>, kw: &Node, i: &mut InstanceDraft) {
    ctx.no_block(kw);
    let mut name = None;
    if let Some(w) = kw.stmt.words.get(1) {
        if w.text.contains(':') {
            ctx.sink.warning_at(
                &w.at,
                format!(
                    "use_vmac: a MAC address ('{}') is not supported by xvrrp; ignored",
                    w.text
                ),
            );
        } else if let Some(problem) = interface_name_problem(&w.text) {
            ctx.sink
                .error_at(&w.at, format!("use_vmac '{}' {problem}", w.text));
            return;
        } else {
            name = Some(w.text.clone());
        }
        if let Some(mac) = kw.stmt.words.get(2) {
            ctx.sink.warning_at(
                &mac.at,
                format!(
                    "use_vmac: a MAC address ('{}') is not supported by xvrrp; ignored",
                    mac.text
                ),
            );
        }
        ctx.extra_words(kw, 3);
    }
    i.more_mut().vmac = Some(At::new(name, kw.at()));
}
