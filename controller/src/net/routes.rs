//! `virtual_routes` and `virtual_rules` over rtnetlink, as keepalived 2.2.7
//! sends them (`vrrp_iproute.c` `netlink_route`, `vrrp_iprule.c`
//! `netlink_rule`): routes without `NLM_F_EXCL` (a route that exists already
//! counts as ours, as in keepalived), rules with it.

use std::net::IpAddr;

use anyhow::{Result, anyhow};
use rtnetlink::{
    Handle, RouteMessageBuilder,
    packet_route::{
        AddressFamily,
        route::{RouteFlags, RouteMessage, RouteProtocol, RouteScope, RouteType},
        rule::{RuleAction as NlAction, RuleAttribute, RuleFlags, RuleMessage},
    },
};

use crate::config::model::{Family, RuleAction, VirtualRoute, VirtualRule};

/// The route message for `r`, its `dev` at `oif`.
pub fn route_message(r: &VirtualRoute, oif: Option<u32>) -> Result<RouteMessage> {
    let mut b = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(r.dest.addr, r.dest.len)
        .map_err(|e| anyhow!("{}: {e}", r.text))?;
    if let Some(src) = r.src {
        b = b.pref_source(src).map_err(|e| anyhow!("{}: {e}", r.text))?;
    }
    if let Some(from) = r.from {
        b = b
            .source_prefix(from.addr, from.len)
            .map_err(|e| anyhow!("{}: {e}", r.text))?;
    }
    if let Some(via) = r.via {
        b = b.gateway(via).map_err(|e| anyhow!("{}: {e}", r.text))?;
    }
    if let Some(oif) = oif {
        b = b.output_interface(oif);
    }
    if let Some(metric) = r.metric {
        b = b.priority(metric);
    }
    if let Some(tos) = r.tos {
        b = b.tos(tos);
    }
    b = b
        .table_id(r.table)
        .protocol(RouteProtocol::from(r.protocol))
        .scope(RouteScope::from(r.scope.unwrap_or(0)))
        .kind(RouteType::from(r.kind));
    let mut msg = b.build();
    if r.onlink {
        msg.header.flags |= RouteFlags::Onlink;
    }
    Ok(msg)
}

/// Adds `r`; a route that exists already is fine (keepalived's rule).
pub async fn add_route(handle: &Handle, r: &VirtualRoute, oif: Option<u32>) -> Result<()> {
    let msg = route_message(r, oif)?;
    match handle.route().add(msg).execute().await {
        Ok(()) => Ok(()),
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => Ok(()),
        Err(e) => Err(anyhow!("virtual_routes: {}: {e}", r.text)),
    }
}

/// Removes `r`; one already gone is fine.
pub async fn remove_route(handle: &Handle, r: &VirtualRoute, oif: Option<u32>) -> Result<()> {
    let msg = route_message(r, oif)?;
    match handle.route().del(msg).execute().await {
        Ok(()) => Ok(()),
        Err(rtnetlink::Error::NetlinkError(e)) if matches!(-e.raw_code(), libc::ESRCH | libc::ENOENT) => {
            Ok(())
        }
        Err(e) => Err(anyhow!("virtual_routes: removing {}: {e}", r.text)),
    }
}

/// The rule message for `r`.
pub fn rule_message(r: &VirtualRule) -> RuleMessage {
    let mut msg = RuleMessage::default();
    msg.header.family = match r.family {
        Family::Ipv4 => AddressFamily::Inet,
        Family::Ipv6 => AddressFamily::Inet6,
    };
    if let Some(from) = r.from {
        msg.header.src_len = from.len;
        if from.len > 0 {
            msg.attributes.push(RuleAttribute::Source(from.addr));
        }
    }
    if let Some(to) = r.to {
        msg.header.dst_len = to.len;
        if to.len > 0 {
            msg.attributes.push(RuleAttribute::Destination(to.addr));
        }
    }
    if r.not {
        msg.header.flags |= RuleFlags::Invert;
    }
    msg.header.tos = r.tos.unwrap_or(0);
    msg.header.action = match r.action {
        RuleAction::Table(t) => {
            msg.header.table = u8::try_from(t).unwrap_or(0);
            msg.attributes.push(RuleAttribute::Table(t));
            NlAction::ToTable
        }
        RuleAction::Goto(n) => {
            msg.attributes.push(RuleAttribute::Goto(n));
            NlAction::Goto
        }
        RuleAction::Nop => NlAction::Nop,
        RuleAction::Blackhole => NlAction::Blackhole,
        RuleAction::Unreachable => NlAction::Unreachable,
        RuleAction::Prohibit => NlAction::Prohibit,
    };
    msg.attributes.push(RuleAttribute::Priority(r.priority));
    if let Some((mark, mask)) = r.fwmark {
        msg.attributes.push(RuleAttribute::FwMark(mark));
        if let Some(mask) = mask {
            msg.attributes.push(RuleAttribute::FwMask(mask));
        }
    }
    if let Some(iif) = &r.iif {
        msg.attributes.push(RuleAttribute::Iifname(iif.clone()));
    }
    if let Some(oif) = &r.oif {
        msg.attributes.push(RuleAttribute::Oifname(oif.clone()));
    }
    msg.attributes
        .push(RuleAttribute::Protocol(RouteProtocol::from(r.protocol)));
    msg
}

/// Adds `r` (exclusively: an identical rule that exists is an error, as in
/// keepalived, and the rule is not ours).
pub async fn add_rule(handle: &Handle, r: &VirtualRule) -> Result<bool> {
    let mut req = handle.rule().add();
    *req.message_mut() = rule_message(r);
    match req.execute().await {
        Ok(()) => Ok(true),
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => Ok(false),
        Err(e) => Err(anyhow!("virtual_rules: {}: {e}", r.text)),
    }
}

/// Removes `r`; one already gone is fine.
pub async fn remove_rule(handle: &Handle, r: &VirtualRule) -> Result<()> {
    match handle.rule().del(rule_message(r)).execute().await {
        Ok(()) => Ok(()),
        Err(rtnetlink::Error::NetlinkError(e)) if matches!(-e.raw_code(), libc::ESRCH | libc::ENOENT) => {
            Ok(())
        }
        Err(e) => Err(anyhow!("virtual_rules: removing {}: {e}", r.text)),
    }
}

/// What identifies a route for a deletion the kernel reports: family,
/// destination, table, TOS, type, and the device when `ours` names one
/// (keepalived's `route_is_ours` compares about the same).
pub fn same_route(ours: &RouteMessage, deleted: &RouteMessage) -> bool {
    use rtnetlink::packet_route::route::RouteAttribute as A;
    let table = |m: &RouteMessage| {
        m.attributes
            .iter()
            .find_map(|a| if let A::Table(t) = a { Some(*t) } else { None })
            .unwrap_or_else(|| u32::from(m.header.table))
    };
    let dst = |m: &RouteMessage| {
        m.attributes.iter().find_map(|a| {
            if let A::Destination(d) = a {
                Some(d.clone())
            } else {
                None
            }
        })
    };
    let oif = |m: &RouteMessage| {
        m.attributes
            .iter()
            .find_map(|a| if let A::Oif(i) = a { Some(*i) } else { None })
    };
    // The kernel leaves out a 0 metric (IPv4); IPv6 routes get 1024.
    let v6 = ours.header.address_family == AddressFamily::Inet6;
    let metric = |m: &RouteMessage| {
        m.attributes
            .iter()
            .find_map(|a| if let A::Priority(p) = a { Some(*p) } else { None })
            .unwrap_or(if v6 { 1024 } else { 0 })
    };
    let (a, b) = (&ours.header, &deleted.header);
    // A /0 route has no destination attribute in the kernel's messages.
    let whole = a.destination_prefix_length == 0;
    a.address_family == b.address_family
        && a.destination_prefix_length == b.destination_prefix_length
        && a.tos == b.tos
        && a.kind == b.kind
        && table(ours) == table(deleted)
        && (whole || dst(ours) == dst(deleted))
        && metric(ours) == metric(deleted)
        && oif(ours).is_none_or(|i| oif(deleted) == Some(i))
}

/// What identifies a rule: family, preference, action, table, selectors.
pub fn same_rule(ours: &RuleMessage, deleted: &RuleMessage) -> bool {
    let pick = |m: &RuleMessage| {
        let mut v: Vec<RuleAttribute> = m
            .attributes
            .iter()
            .filter(|a| {
                // The kernel reports a table (0) for every action; it tells
                // rules apart only for a lookup.
                (m.header.action == NlAction::ToTable && matches!(a, RuleAttribute::Table(_)))
                    || matches!(
                        a,
                        RuleAttribute::Priority(_)
                            | RuleAttribute::Source(_)
                            | RuleAttribute::Destination(_)
                            | RuleAttribute::Goto(_)
                            | RuleAttribute::FwMark(_)
                    )
            })
            .cloned()
            .collect();
        v.sort_by_key(|a| format!("{a:?}"));
        v
    };
    let (a, b) = (&ours.header, &deleted.header);
    a.family == b.family
        && a.action == b.action
        && a.src_len == b.src_len
        && a.dst_len == b.dst_len
        && a.tos == b.tos
        && pick(ours) == pick(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Prefix;

    fn route(text: &str, dest: &str, len: u8, table: u32) -> VirtualRoute {
        VirtualRoute {
            text: text.into(),
            family: Family::Ipv4,
            kind: 1,
            dest: Prefix {
                addr: dest.parse().unwrap(),
                len,
            },
            src: None,
            from: None,
            via: None,
            dev: None,
            table,
            protocol: 18,
            scope: None,
            metric: None,
            tos: None,
            onlink: false,
            no_track: false,
        }
    }

    #[test]
    fn a_deleted_route_is_recognised_by_destination_table_and_device() {
        let ours = route_message(&route("10.200.0.0/16", "10.200.0.0", 16, 254), Some(2)).unwrap();
        // What the kernel reports carries more (gateway, protocol, ...).
        let mut deleted = ours.clone();
        deleted.header.protocol = RouteProtocol::Static;
        assert!(same_route(&ours, &deleted));
        let other = route_message(&route("10.200.0.0/16", "10.200.0.0", 16, 100), Some(2)).unwrap();
        assert!(!same_route(&ours, &other), "another table");
        let other = route_message(&route("10.201.0.0/16", "10.201.0.0", 16, 254), Some(2)).unwrap();
        assert!(!same_route(&ours, &other), "another destination");
        let other = route_message(&route("10.200.0.0/16", "10.200.0.0", 16, 254), Some(3)).unwrap();
        assert!(!same_route(&ours, &other), "another device");
        // A default route: the kernel's message has no destination.
        let ours = route_message(&route("default", "0.0.0.0", 0, 254), None).unwrap();
        let mut deleted = ours.clone();
        deleted
            .attributes
            .retain(|a| !matches!(a, rtnetlink::packet_route::route::RouteAttribute::Destination(_)));
        assert!(same_route(&ours, &deleted));
        // Another metric is another route.
        let mut m = route("10.200.0.0/16", "10.200.0.0", 16, 254);
        m.metric = Some(100);
        let with_metric = route_message(&m, Some(2)).unwrap();
        let plain = route_message(&route("10.200.0.0/16", "10.200.0.0", 16, 254), Some(2)).unwrap();
        assert!(!same_route(&plain, &with_metric));
        let big = route_message(&route("x", "10.200.0.0", 16, 1000), None).unwrap();
        let big2 = route_message(&route("x", "10.200.0.0", 16, 1001), None).unwrap();
        assert!(!same_route(&big, &big2), "tables past 255 are told apart");
    }
}
