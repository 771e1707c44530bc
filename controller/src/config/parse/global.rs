//! `global_defs { }`.

use std::net::IpAddr;

use super::{children, ctx::Ctx, track::command_line};
use crate::config::{
    model::{Fifo, Global, NotifyScript, RunAs},
    tree::Node,
};

/// keepalived global keywords xvrrp does not implement (named as such when met).
const UNSUPPORTED: &[&str] = &[
    "lvs_id",
    "lvs_flush",
    "lvs_flush_onstop",
    "lvs_sync_daemon",
    "lvs_timeouts",
    "enable_traps",
    "enable_snmp_vrrp",
    "enable_snmp_keepalived",
    "enable_snmp_checker",
    "enable_snmp_rfc",
    "enable_snmp_rfcv2",
    "enable_snmp_rfcv3",
    "snmp_socket",
    "enable_dbus",
    "dynamic_interfaces",
    "allow_if_changes",
    "checker_priority",
    "bfd_priority",
    "checker_no_swap",
    "vrrp_down_timer_adverts",
    "vrrp_min_garp",
    "vrrp_garp_extra_if",
    "vrrp_ipsets",
    "nftables",
    "nftables_priority",
    "nftables_ifindex",
    "fifo_write_vrrp_states_on_reload",
    "startup_script",
    "startup_script_timeout",
    "shutdown_script",
    "shutdown_script_timeout",
    "net_namespace",
    "instance",
    "use_pid_dir",
    "linkbeat_use_polling",
    "vrrp_process_name",
    "process_names",
    "vrrp_netlink_cmd_rcv_bufs",
    "vrrp_netlink_monitor_rcv_bufs",
    "vrrp_rx_bufs_policy",
    "vrrp_rx_bufs_multiplier",
    "log_unknown_vrids",
    "vmac_prefix",
    "vmac_addr_prefix",
    "tmp_config_directory",
    "umask",
];

pub(super) fn parse(ctx: &mut Ctx<'_>, node: &Node, global: &mut Global) {
    ctx.extra_words(node, 1);
    if node.block.is_none() {
        ctx.sink.error(node.at(), "global_defs: expected a { } block");
        return;
    }
    // vrrp_garp_lower_prio_*, defaulting to vrrp_garp_master_* wherever
    // those are written (keepalived resolves them after the whole section).
    let mut lower = (None, None);
    for kw in children(node) {
        keyword(ctx, kw, global, &mut lower);
    }
    global.garp.lower_prio_delay_s = lower.0.unwrap_or(global.garp.master_delay_s);
    global.garp.lower_prio_repeat = lower.1.unwrap_or(global.garp.master_repeat);
    for (name, fifo) in [
        ("notify_fifo", &mut global.notify_fifo),
        ("vrrp_notify_fifo", &mut global.vrrp_notify_fifo),
    ] {
        if fifo.as_ref().is_some_and(|f| f.path.is_empty()) {
            ctx.sink.warning(
                node.at(),
                format!("global_defs: {name}_script without {name}; ignored"),
            );
            *fifo = None;
        }
    }
    if let (Some(a), Some(b)) = (&global.notify_fifo, &global.vrrp_notify_fifo)
        && a.path == b.path
    {
        ctx.sink.warning(
            node.at(),
            format!(
                "global_defs: notify_fifo {} is also the vrrp_notify_fifo; the vrrp one is ignored (as keepalived)",
                a.path
            ),
        );
        global.vrrp_notify_fifo = None;
    }
}

/// `[vrrp_]notify_fifo PATH [USER [GROUP]]`.
fn fifo(ctx: &mut Ctx<'_>, kw: &Node, slot: &mut Option<Fifo>) {
    ctx.no_block(kw);
    let Some(path) = ctx.first(kw, "a FIFO path [user [group]]") else {
        return;
    };
    if !path.text.starts_with('/') {
        ctx.sink.error(
            &path.at,
            format!("{}: {} must be an absolute path", kw.keyword(), path.text),
        );
        return;
    }
    let words = &kw.stmt.words;
    let owner = words.get(2).map(|u| RunAs {
        user: u.text.clone(),
        group: words.get(3).map(|g| g.text.clone()),
    });
    ctx.extra_words(kw, 4);
    let f = slot.get_or_insert(Fifo {
        path: String::new(),
        owner: None,
        script: None,
    });
    f.path.clone_from(&path.text);
    f.owner = owner;
}

/// `[vrrp_]notify_fifo_script CMD [USER [GROUP]]`.
fn fifo_script(ctx: &mut Ctx<'_>, kw: &Node, slot: &mut Option<Fifo>) {
    ctx.no_block(kw);
    if let Some((command, rest)) = command_line(ctx, kw, 4) {
        let user = rest.first().map(|user| RunAs {
            user: user.clone(),
            group: rest.get(1).cloned(),
        });
        slot.get_or_insert(Fifo {
            path: String::new(),
            owner: None,
            script: None,
        })
        .script = Some(NotifyScript { command, user });
    }
}

fn keyword(ctx: &mut Ctx<'_>, kw: &Node, g: &mut Global, lower: &mut (Option<u32>, Option<u32>)) {
    match kw.keyword() {
        "router_id" => {
            if let Some(w) = ctx.single(kw, "a router name") {
                g.router_id = Some(w.text.clone());
            }
        }
        "notification_email" => {
            for line in ctx.value_lines(kw) {
                g.notification_email
                    .extend(line.stmt.words.iter().map(|w| w.text.clone()));
            }
        }
        "notification_email_from" => {
            if let Some(w) = ctx.single(kw, "a mail address") {
                g.notification_email_from = Some(w.text.clone());
            }
        }
        "smtp_server" => {
            ctx.no_block(kw);
            if let Some(w) = ctx.first(kw, "a mail server address [port]") {
                g.smtp_server = Some(w.text.clone());
            }
            if let Some(port) = kw.stmt.words.get(2)
                && let Some(p) = ctx.check_uint("smtp_server port", port, 1..=65535)
            {
                g.smtp_port = u16::try_from(p).unwrap_or(25);
            }
            ctx.extra_words(kw, 3);
        }
        "smtp_helo_name" => {
            if let Some(w) = ctx.single(kw, "a host name") {
                g.smtp_helo_name = Some(w.text.clone());
            }
        }
        "smtp_alert" => {
            if let Some(b) = ctx.opt_bool(kw) {
                g.smtp_alert = Some(b);
            }
        }
        "smtp_alert_vrrp" => {
            if let Some(b) = ctx.opt_bool(kw) {
                g.smtp_alert_vrrp = Some(b);
            }
        }
        "smtp_alert_checker" => {
            ctx.no_block(kw);
        }
        "no_email_faults" => {
            ctx.flag(kw);
            g.no_email_faults = true;
        }
        "notify_fifo" => fifo(ctx, kw, &mut g.notify_fifo),
        "vrrp_notify_fifo" => fifo(ctx, kw, &mut g.vrrp_notify_fifo),
        "notify_fifo_script" => fifo_script(ctx, kw, &mut g.notify_fifo),
        "vrrp_notify_fifo_script" => fifo_script(ctx, kw, &mut g.vrrp_notify_fifo),
        "vrrp_notify_priority_changes" => {
            if let Some(b) = ctx.opt_bool(kw) {
                g.notify_priority_changes = b;
            }
        }
        "smtp_connect_timeout" => {
            if let Some(s) = ctx.uint(kw, 0..=u64::from(u32::MAX / 1_000_000)) {
                g.smtp_connect_timeout_s = u32::try_from(s.max(1)).unwrap_or(1);
            }
        }
        "script_user" => {
            ctx.no_block(kw);
            if let Some(user) = ctx.first(kw, "a user name [group]") {
                let group = kw.stmt.words.get(2).map(|w| w.text.clone());
                g.script_user = Some(RunAs {
                    user: user.text.clone(),
                    group,
                });
            }
            ctx.extra_words(kw, 3);
        }
        "enable_script_security" => {
            ctx.flag(kw);
            g.enable_script_security = true;
        }
        "vrrp_version" => {
            if let Some(v) = ctx.uint(kw, 2..=3) {
                g.vrrp_version = u8::try_from(v).unwrap_or(2);
            }
        }
        "vrrp_garp_master_delay" => set_u32(ctx, kw, 0, &mut g.garp.master_delay_s),
        "vrrp_garp_lower_prio_delay" => {
            let mut v = 0;
            set_u32(ctx, kw, 0, &mut v);
            lower.0 = Some(v);
        }
        "vrrp_garp_lower_prio_repeat" => {
            if let Some(v) = ctx.uint(kw, 0..=u64::from(i32::MAX.unsigned_abs())) {
                lower.1 = Some(u32::try_from(v).unwrap_or(0));
            }
        }
        "vrrp_lower_prio_no_advert" => {
            g.lower_prio_no_advert = ctx.opt_bool(kw).unwrap_or(g.lower_prio_no_advert);
        }
        "vrrp_higher_prio_send_advert" => {
            g.higher_prio_send_advert = ctx.opt_bool(kw).unwrap_or(g.higher_prio_send_advert);
        }
        "max_auto_priority" => {
            ctx.no_block(kw);
            match kw.stmt.words.get(1) {
                None => g.scheduling.max_auto_priority = Some(99),
                Some(w) => match ctx.check_int("max_auto_priority", w, -1..=99) {
                    Some(-1) => g.scheduling.max_auto_priority = None,
                    Some(n) => g.scheduling.max_auto_priority = u32::try_from(n).ok().filter(|n| *n > 0),
                    None => {}
                },
            }
            ctx.extra_words(kw, 2);
        }
        "min_auto_priority_delay" => {
            if let Some(us) = ctx.uint(kw, 1..=10_000_000) {
                g.scheduling.min_auto_priority_delay_us = Some(us);
            }
        }
        "vrrp_garp_master_repeat" => set_repeat(ctx, kw, &mut g.garp.master_repeat),
        // keepalived takes it without a value ("ignoring": no refresh); so do we.
        "vrrp_garp_master_refresh" if kw.stmt.words.len() < 2 => {
            ctx.sink.warning(
                kw.at(),
                "vrrp_garp_master_refresh without a value: no periodic refresh (as keepalived)".to_owned(),
            );
            g.garp.master_refresh_s = 0;
        }
        "vrrp_garp_master_refresh" => set_u32(ctx, kw, 0, &mut g.garp.master_refresh_s),
        "vrrp_garp_master_refresh_repeat" => set_repeat(ctx, kw, &mut g.garp.master_refresh_repeat),
        "vrrp_garp_interval" => {
            if let Some(ms) = ctx.seconds_ms(kw, 3600) {
                g.garp_interval_ms = ms;
            }
        }
        "vrrp_gna_interval" => {
            if let Some(ms) = ctx.seconds_ms(kw, 3600) {
                g.gna_interval_ms = ms;
            }
        }
        "vrrp_strict" => {
            ctx.flag(kw);
            g.vrrp_strict = true;
        }
        "vrrp_skip_check_adv_addr" => {
            ctx.flag(kw);
            g.skip_check_adv_addr = true;
        }
        "vrrp_check_unicast_src" => {
            ctx.flag(kw);
            g.check_unicast_src = true;
        }
        "v3_checksum_as_v2" => {
            if let Some(b) = ctx.opt_bool(kw) {
                g.v3_checksum_as_v2 = b;
            }
        }
        "vrrp_mcast_group4" => {
            if let Some(IpAddr::V4(a)) = multicast(ctx, kw, "an IPv4 multicast address") {
                g.mcast_group4 = a;
            }
        }
        "vrrp_mcast_group6" => {
            if let Some(IpAddr::V6(a)) = multicast(ctx, kw, "an IPv6 multicast address") {
                g.mcast_group6 = a;
            }
        }
        "vrrp_startup_delay" => {
            if let Some(ms) = ctx.seconds_ms(kw, 3600) {
                g.startup_delay_ms = ms;
            }
        }
        "vrrp_iptables" => {
            ctx.no_block(kw);
            g.vrrp_iptables = true;
            ctx.sink.note(
                kw.at(),
                "vrrp_iptables accepted: xvrrp makes no firewall changes (keepalived would add \
                 iptables rules for no_accept instances)",
            );
        }
        // Out of range: clamped with a warning, as keepalived does (it runs on).
        "vrrp_priority" => {
            if let Some(n) = clamped(ctx, kw, "a nice value", -20..=19) {
                g.scheduling.nice = i32::try_from(n).ok();
            }
        }
        "vrrp_rt_priority" => {
            if let Some(n) = clamped(ctx, kw, "a real-time priority", 1..=99) {
                g.scheduling.rt_priority = u32::try_from(n).ok();
            }
        }
        "vrrp_rlimit_rttime" | "vrrp_rlimit_rtime" => {
            if let Some(v) = ctx.uint(kw, 1..=u64::from(u32::MAX)) {
                g.scheduling.rlimit_rttime_us = Some(v);
            }
        }
        "vrrp_no_swap" => {
            ctx.flag(kw);
            g.scheduling.no_swap = true;
        }
        "vrrp_cpu_affinity" => {
            ctx.no_block(kw);
            let words = &kw.stmt.words[1..];
            if words.is_empty() {
                ctx.sink.error(kw.at(), "vrrp_cpu_affinity: expected CPU numbers");
            }
            for w in words {
                if let Some(cpu) = ctx.check_uint("vrrp_cpu_affinity", w, 0..=1023) {
                    g.scheduling.cpu_affinity.push(u32::try_from(cpu).unwrap_or(0));
                }
            }
        }
        _ => ctx.unknown("global_defs", kw, UNSUPPORTED),
    }
}

/// A whole number, brought into `range` with a warning when outside it.
fn clamped(ctx: &mut Ctx<'_>, kw: &Node, what: &str, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
    let w = ctx.single(kw, &format!("{what} {}..{}", range.start(), range.end()))?;
    let Some(n) = crate::config::value::int(&w.text) else {
        ctx.sink.error(
            &w.at,
            format!("{}: '{}' is not a number ({what} expected)", kw.keyword(), w.text),
        );
        return None;
    };
    let c = n.clamp(*range.start(), *range.end());
    if c != n {
        ctx.sink.warning(
            &w.at,
            format!(
                "{}: {n} is outside {}..{}; using {c}",
                kw.keyword(),
                range.start(),
                range.end()
            ),
        );
    }
    Some(c)
}

fn set_u32(ctx: &mut Ctx<'_>, kw: &Node, min: u64, slot: &mut u32) {
    if let Some(v) = ctx.uint(kw, min..=u64::from(u32::MAX / 1_000_000)) {
        *slot = u32::try_from(v).unwrap_or(u32::MAX);
    }
}

/// `*_repeat`: keepalived takes 0 and makes it 1 (with a message); so do we.
pub(super) fn set_repeat(ctx: &mut Ctx<'_>, kw: &Node, slot: &mut u32) {
    if let Some(v) = ctx.uint(kw, 0..=u64::from(u32::MAX)) {
        if v == 0 {
            ctx.sink
                .warning(kw.at(), format!("{} must be at least 1; using 1", kw.keyword()));
        }
        *slot = u32::try_from(v.max(1)).unwrap_or(u32::MAX);
    }
}

fn multicast(ctx: &mut Ctx<'_>, kw: &Node, expected: &str) -> Option<IpAddr> {
    let w = ctx.single(kw, expected)?;
    let want_v6 = kw.keyword().ends_with('6');
    match w.text.parse::<IpAddr>() {
        Ok(a) if a.is_multicast() && a.is_ipv6() == want_v6 => Some(a),
        _ => {
            ctx.sink.error(
                kw.at(),
                format!("{} '{}': expected {expected}", kw.keyword(), w.text),
            );
            None
        }
    }
}
