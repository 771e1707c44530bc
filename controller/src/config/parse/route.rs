//! `virtual_routes { }` and `virtual_rules { }` lines, in keepalived 2.2.7's
//! syntax (`vrrp_iproute.c` `alloc_route`, `vrrp_iprule.c` `alloc_rule`;
//! keywords in any order, the word that is no keyword is the destination).
//! The options most configurations use are read; every other keepalived
//! option is an error naming it (a route installed without what it asked for
//! would be worse than none).

use std::net::IpAddr;

use super::ctx::{At, Ctx, interface_name_problem};
use crate::config::{
    lexer::Word,
    model::{Family, PROTO_KEEPALIVED, Prefix, RuleAction, VirtualRoute, VirtualRule},
    tree::Node,
};

/// keepalived route options xvrrp does not implement.
const ROUTE_UNSUPPORTED: &[&str] = &[
    "realms",
    "mtu",
    "advmss",
    "rtt",
    "rttvar",
    "reordering",
    "window",
    "cwnd",
    "ssthresh",
    "rto_min",
    "hoplimit",
    "initcwnd",
    "initrwnd",
    "quickack",
    "congctl",
    "features",
    "fastopen_no_cookie",
    "expires",
    "pref",
    "ttl-propagate",
    "encap",
    "nexthop",
    "or",
    "vrf",
    "as",
    "track_group",
    "append",
    "add",
];

/// keepalived rule options xvrrp does not implement.
const RULE_UNSUPPORTED: &[&str] = &[
    "realms",
    "suppress_prefixlength",
    "sup_pl",
    "suppress_ifgroup",
    "sup_group",
    "tunnel-id",
    "uidrange",
    "l3mdev",
    "ipproto",
    "sport",
    "dport",
    "track_group",
];

/// `ADDR[/LEN]`, or `default`/`any`/`all` (the family's /0; IPv4 unless
/// `family` says IPv6).
fn prefix(text: &str, family: Option<Family>) -> Option<Prefix> {
    if matches!(text, "default" | "any" | "all") {
        let addr = match family {
            Some(Family::Ipv6) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
            _ => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        };
        return Some(Prefix { addr, len: 0 });
    }
    let (a, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
        None => (text, None),
    };
    let addr: IpAddr = a.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some(Prefix { addr, len })
}

/// `table N|NAME`: a number, `main`, `local`, `default`, or a name from
/// `/etc/iproute2/rt_tables` (keepalived reads that file only).
fn table(text: &str) -> Option<u32> {
    match text {
        "main" => return Some(254),
        "local" => return Some(255),
        "default" => return Some(253),
        _ => {}
    }
    if let Ok(n) = text.parse::<u32>() {
        return Some(n);
    }
    let names = std::fs::read_to_string("/etc/iproute2/rt_tables").unwrap_or_default();
    names.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        let n = w.next()?.parse::<u32>().ok()?;
        (w.next()? == text).then_some(n)
    })
}

/// A number in decimal or `0x` hex (marks and TOS values are often hex).
fn number(text: &str) -> Option<u32> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn protocol(text: &str) -> Option<u8> {
    match text {
        "redirect" => Some(1),
        "kernel" => Some(2),
        "boot" => Some(3),
        "static" => Some(4),
        "keepalived" => Some(PROTO_KEEPALIVED),
        _ => text.parse().ok(),
    }
}

fn scope(text: &str) -> Option<u8> {
    match text {
        "global" | "universe" => Some(0),
        "site" => Some(200),
        "link" => Some(253),
        "host" => Some(254),
        "nowhere" => Some(255),
        _ => text.parse().ok(),
    }
}

/// `TYPE` before a route's destination (`RTN_*`).
fn route_type(text: &str) -> Option<u8> {
    Some(match text {
        "unicast" => 1,
        "local" => 2,
        "broadcast" | "brd" => 3,
        "anycast" => 4,
        "multicast" => 5,
        "blackhole" => 6,
        "unreachable" => 7,
        "prohibit" => 8,
        "throw" => 9,
        _ => return None,
    })
}

/// Reads the words of one line: `value(i)` hands out the word after
/// keyword `i`, reporting a missing one.
struct Line<'a> {
    words: &'a [Word],
    what: &'static str,
    bad: bool,
}

impl<'a> Line<'a> {
    fn new(words: &'a [Word], what: &'static str) -> Self {
        Self {
            words,
            what,
            bad: false,
        }
    }

    /// The line as written.
    fn text(&self) -> String {
        self.words
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `tos|dsfield N` (decimal or hex, 0..255).
    fn tos(&mut self, ctx: &mut Ctx<'_>, i: &mut usize) -> Option<u8> {
        let v = self.value(ctx, i)?;
        let tos = number(&v.text).and_then(|t| u8::try_from(t).ok());
        if tos.is_none() {
            self.invalid(ctx, v, "a TOS value 0..255");
        }
        tos
    }
    fn value(&mut self, ctx: &mut Ctx<'_>, i: &mut usize) -> Option<&'a Word> {
        let kw = &self.words[*i];
        *i += 1;
        let v = self.words.get(*i);
        if v.is_none() {
            ctx.sink
                .error_at(&kw.at, format!("{}: '{}' needs a value", self.what, kw.text));
            self.bad = true;
        }
        v
    }

    fn invalid(&mut self, ctx: &mut Ctx<'_>, w: &Word, expected: &str) {
        ctx.sink
            .error_at(&w.at, format!("{}: '{}' is not {expected}", self.what, w.text));
        self.bad = true;
    }

    fn interface(&mut self, ctx: &mut Ctx<'_>, w: &Word) -> Option<String> {
        if let Some(problem) = interface_name_problem(&w.text) {
            ctx.sink
                .error_at(&w.at, format!("{}: '{}' {problem}", self.what, w.text));
            self.bad = true;
            return None;
        }
        Some(w.text.clone())
    }
}

/// The family a line's addresses give, checking they agree.
fn family_of(
    ctx: &mut Ctx<'_>,
    line: &mut Line<'_>,
    at: &Word,
    forced: Option<Family>,
    addrs: &[IpAddr],
) -> Family {
    let mut family = forced;
    for a in addrs {
        let f = Family::of(a);
        match family {
            Some(g) if g != f => {
                ctx.sink.error_at(
                    &at.at,
                    format!("{}: cannot mix IPv4 and IPv6 addresses in one line", line.what),
                );
                line.bad = true;
            }
            _ => family = Some(f),
        }
    }
    family.unwrap_or(Family::Ipv4)
}

/// `virtual_routes { LINE ... }`.
pub(super) fn routes(ctx: &mut Ctx<'_>, kw: &Node, out: &mut Vec<At<VirtualRoute>>) {
    for node in ctx.value_lines(kw) {
        if let Some(r) = route(ctx, &node.stmt.words) {
            out.push(At::new(r, &node.stmt.words[0].at));
        }
    }
}

fn route(ctx: &mut Ctx<'_>, words: &[Word]) -> Option<VirtualRoute> {
    let mut line = Line::new(words, "virtual_routes");
    let text = line.text();
    let mut r = VirtualRoute {
        text,
        family: Family::Ipv4,
        kind: 1,
        dest: Prefix {
            addr: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            len: 0,
        },
        src: None,
        from: None,
        via: None,
        dev: None,
        table: 254,
        protocol: PROTO_KEEPALIVED,
        scope: None,
        metric: None,
        tos: None,
        onlink: false,
        no_track: false,
    };
    let mut forced: Option<Family> = None;
    let mut dest: Option<&Word> = None;
    let mut given_protocol = None;
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        match w.text.as_str() {
            "inet" => forced = Some(Family::Ipv4),
            "inet6" => forced = Some(Family::Ipv6),
            "to" => {}
            "src" => {
                if let Some(v) = line.value(ctx, &mut i) {
                    match v.text.parse() {
                        Ok(a) => r.src = Some(a),
                        Err(_) => line.invalid(ctx, v, "an address"),
                    }
                }
            }
            "from" => {
                if let Some(v) = line.value(ctx, &mut i) {
                    match prefix(&v.text, Some(Family::Ipv6)) {
                        Some(p) if p.addr.is_ipv6() => r.from = Some(p),
                        Some(_) => line.invalid(
                            ctx,
                            v,
                            "an IPv6 prefix (source routes are IPv6 only, as in keepalived)",
                        ),
                        None => line.invalid(ctx, v, "a prefix"),
                    }
                }
            }
            "via" | "gw" => {
                if matches!(words.get(i + 1).map(|n| n.text.as_str()), Some("inet" | "inet6")) {
                    i += 1;
                }
                if let Some(v) = line.value(ctx, &mut i) {
                    match v.text.parse() {
                        Ok(a) => r.via = Some(a),
                        Err(_) => line.invalid(ctx, v, "a gateway address"),
                    }
                }
            }
            "dev" | "oif" => {
                if let Some(v) = line.value(ctx, &mut i) {
                    r.dev = line.interface(ctx, v);
                }
            }
            "table" => {
                if let Some(v) = line.value(ctx, &mut i) {
                    match table(&v.text) {
                        Some(t) => r.table = t,
                        None => line.invalid(ctx, v, "a table number or a name in /etc/iproute2/rt_tables"),
                    }
                }
            }
            "protocol" | "proto" => {
                if let Some(v) = line.value(ctx, &mut i) {
                    match protocol(&v.text) {
                        Some(p) => given_protocol = Some(p),
                        None => line.invalid(ctx, v, "a route protocol"),
                    }
                }
            }
            "scope" => {
                if let Some(v) = line.value(ctx, &mut i) {
                    match scope(&v.text) {
                        Some(s) => r.scope = Some(s),
                        None => {
                            line.invalid(ctx, v, "a scope (global, site, link, host, nowhere or a number)");
                        }
                    }
                }
            }
            "metric" | "priority" | "preference" => {
                if let Some(v) = line.value(ctx, &mut i) {
                    match v.text.parse() {
                        Ok(m) => r.metric = Some(m),
                        Err(_) => line.invalid(ctx, v, "a metric"),
                    }
                }
            }
            "tos" | "dsfield" => {
                if let Some(t) = line.tos(ctx, &mut i) {
                    r.tos = Some(t);
                }
            }
            "onlink" => r.onlink = true,
            "no_track" => r.no_track = true,
            "prepend" => {}
            other if ROUTE_UNSUPPORTED.contains(&other) => {
                ctx.sink.error_at(
                    &w.at,
                    format!("virtual_routes: keepalived route option '{other}' is not supported by xvrrp"),
                );
                line.bad = true;
                break;
            }
            other => match (route_type(other), dest) {
                (Some(k), None) if i + 1 < words.len() => r.kind = k,
                (_, None) => dest = Some(w),
                (_, Some(_)) => {
                    ctx.sink
                        .error_at(&w.at, format!("virtual_routes: unknown option '{other}'"));
                    line.bad = true;
                }
            },
        }
        i += 1;
    }
    let Some(d) = dest else {
        ctx.sink.error_at(&words[0].at, "virtual_routes: no destination");
        return None;
    };
    let addrs: Vec<IpAddr> = [r.src, r.via]
        .into_iter()
        .flatten()
        .chain(r.from.map(|p| p.addr))
        .collect();
    let explicit = prefix(&d.text, forced).filter(|_| !matches!(d.text.as_str(), "default" | "any" | "all"));
    let mut all = addrs.clone();
    all.extend(explicit.map(|p| p.addr));
    r.family = family_of(ctx, &mut line, d, forced, &all);
    match prefix(&d.text, Some(r.family)) {
        Some(p) => r.dest = p,
        None => line.invalid(ctx, d, "a destination (ADDR[/LEN] or default)"),
    }
    // keepalived: the protocol is 18 unless no_track keeps the one given.
    r.protocol = match (r.no_track, given_protocol) {
        (true, Some(p)) => p,
        (false, Some(p)) if p != PROTO_KEEPALIVED => {
            ctx.sink.warning_at(
                &words[0].at,
                "virtual_routes: a tracked route's protocol is keepalived (18); the one given is ignored (as keepalived)",
            );
            PROTO_KEEPALIVED
        }
        _ => PROTO_KEEPALIVED,
    };
    (!line.bad).then_some(r)
}

/// `virtual_rules { LINE ... }`. A rule without a preference gets none here;
/// `check` numbers them as keepalived does.
pub(super) fn rules(ctx: &mut Ctx<'_>, kw: &Node, out: &mut Vec<At<(VirtualRule, bool)>>) {
    for node in ctx.value_lines(kw) {
        if let Some(r) = rule(ctx, &node.stmt.words) {
            out.push(At::new(r, &node.stmt.words[0].at));
        }
    }
}

/// One rule, and whether its preference was given.
fn rule(ctx: &mut Ctx<'_>, words: &[Word]) -> Option<(VirtualRule, bool)> {
    let mut line = Line::new(words, "virtual_rules");
    let text = line.text();
    let mut forced = None;
    let (mut from, mut to) = (None::<&Word>, None::<&Word>);
    let mut out = VirtualRule {
        text,
        family: Family::Ipv4,
        from: None,
        to: None,
        not: false,
        action: RuleAction::Nop,
        priority: 0,
        tos: None,
        fwmark: None,
        iif: None,
        oif: None,
        protocol: PROTO_KEEPALIVED,
        no_track: false,
    };
    let mut action = None;
    let mut priority = None;
    let mut given_protocol = None;
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        match w.text.as_str() {
            "inet" => forced = Some(Family::Ipv4),
            "inet6" => forced = Some(Family::Ipv6),
            "from" => from = line.value(ctx, &mut i),
            "to" => to = line.value(ctx, &mut i),
            "not" => out.not = true,
            "table" | "lookup" => {
                if let Some(v) = line.value(ctx, &mut i) {
                    match table(&v.text).filter(|t| *t != 0) {
                        Some(t) => action = Some(RuleAction::Table(t)),
                        None => line.invalid(
                            ctx,
                            v,
                            "a table number (not 0) or a name in /etc/iproute2/rt_tables",
                        ),
                    }
                }
            }
            "preference" | "order" | "priority" => {
                if let Some(v) = line.value(ctx, &mut i) {
                    match v.text.parse() {
                        Ok(p) => priority = Some(p),
                        Err(_) => line.invalid(ctx, v, "a preference"),
                    }
                }
            }
            "tos" | "dsfield" => {
                if let Some(t) = line.tos(ctx, &mut i) {
                    out.tos = Some(t);
                }
            }
            "fwmark" => {
                if let Some(v) = line.value(ctx, &mut i) {
                    let (m, mask) = v
                        .text
                        .split_once('/')
                        .map_or((v.text.as_str(), None), |(a, b)| (a, Some(b)));
                    let n = number;
                    match (n(m), mask.map(n)) {
                        (Some(mark), None) => out.fwmark = Some((mark, None)),
                        (Some(mark), Some(Some(bits))) => out.fwmark = Some((mark, Some(bits))),
                        _ => line.invalid(ctx, v, "a mark N[/MASK]"),
                    }
                }
            }
            "iif" | "dev" => {
                if let Some(v) = line.value(ctx, &mut i) {
                    out.iif = line.interface(ctx, v);
                }
            }
            "oif" => {
                if let Some(v) = line.value(ctx, &mut i) {
                    out.oif = line.interface(ctx, v);
                }
            }
            "protocol" => {
                if let Some(v) = line.value(ctx, &mut i) {
                    match v.text.parse() {
                        Ok(p) => given_protocol = Some(p),
                        Err(_) => line.invalid(ctx, v, "a protocol number"),
                    }
                }
            }
            "goto" => {
                if let Some(v) = line.value(ctx, &mut i) {
                    match v.text.parse() {
                        Ok(n) => action = Some(RuleAction::Goto(n)),
                        Err(_) => line.invalid(ctx, v, "a preference to go to"),
                    }
                }
            }
            "type" => {}
            "nop" => action = Some(RuleAction::Nop),
            "blackhole" => action = Some(RuleAction::Blackhole),
            "unreachable" => action = Some(RuleAction::Unreachable),
            "prohibit" => action = Some(RuleAction::Prohibit),
            "no_track" => out.no_track = true,
            other if RULE_UNSUPPORTED.contains(&other) => {
                ctx.sink.error_at(
                    &w.at,
                    format!("virtual_rules: keepalived rule option '{other}' is not supported by xvrrp"),
                );
                line.bad = true;
                break;
            }
            other => {
                ctx.sink
                    .error_at(&w.at, format!("virtual_rules: unknown option '{other}'"));
                line.bad = true;
            }
        }
        i += 1;
    }
    let Some(action) = action else {
        ctx.sink.error_at(
            &words[0].at,
            "virtual_rules: no action (table, goto, nop, blackhole, unreachable or prohibit); keepalived ignores such a rule",
        );
        return None;
    };
    out.action = action;
    let given: Vec<IpAddr> = [from, to]
        .into_iter()
        .flatten()
        .filter_map(|w| {
            prefix(&w.text, forced).filter(|_| !matches!(w.text.as_str(), "default" | "any" | "all"))
        })
        .map(|p| p.addr)
        .collect();
    out.family = family_of(ctx, &mut line, &words[0], forced, &given);
    for (slot, w) in [(&mut out.from, from), (&mut out.to, to)] {
        if let Some(w) = w {
            match prefix(&w.text, Some(out.family)) {
                Some(p) => *slot = Some(p),
                None => line.invalid(ctx, w, "a prefix"),
            }
        }
    }
    out.protocol = if out.no_track {
        given_protocol.unwrap_or(PROTO_KEEPALIVED)
    } else {
        PROTO_KEEPALIVED
    };
    out.priority = priority.unwrap_or(0);
    (!line.bad).then_some((out, priority.is_some()))
}
