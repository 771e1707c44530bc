//! Address lines: `virtual_ipaddress { }` entries and `unicast_peer { }` entries.

use std::net::{IpAddr, Ipv4Addr};

use super::{
    At,
    ctx::{Ctx, interface_name_problem},
};
use crate::config::{
    lexer::Word,
    model::{UnicastPeer, VirtualAddress},
    tree::Node,
};

/// VIP options of keepalived that xvrrp does not implement, with whether they take a value.
const UNSUPPORTED_OPTIONS: &[(&str, bool)] = &[
    ("peer", true),
    ("track_group", true),
    ("home", false),
    ("mngtmpaddr", false),
    ("noprefixroute", false),
    ("autojoin", false),
    ("no_track", false),
    ("use_vmac", false),
];

/// `ADDR[/PREFIX] [brd X] [dev IFACE] [scope S] [label L] [-nodad]
/// [preferred_lft N|forever]`, from a `virtual_ipaddress` or
/// `virtual_ipaddress_excluded` block. Invalid entries are reported and left out. Returns
/// how many lines there were.
pub(super) fn vips(ctx: &mut Ctx<'_>, kw: &Node, out: &mut Vec<At<VirtualAddress>>) -> usize {
    let lines = ctx.value_lines(kw);
    for line in &lines {
        if let Some(vip) = vip(ctx, kw.keyword(), &line.stmt.words) {
            out.push(At::new(vip, line.at()));
        }
    }
    lines.len()
}

fn vip(ctx: &mut Ctx<'_>, block: &str, words: &[Word]) -> Option<VirtualAddress> {
    let first = &words[0];
    let (addr, prefix) = address_prefix(ctx, block, first)?;
    let mut vip = VirtualAddress::new(addr, prefix);
    let mut brd_word: Option<&Word> = None;
    let mut i = 1;
    while i < words.len() {
        let option = &words[i];
        let value = words.get(i + 1);
        let takes_value = match option.text.as_str() {
            "dev" | "scope" | "brd" | "broadcast" | "label" | "preferred_lft" => true,
            "-nodad" => {
                // keepalived 2.2.7 adds IPv6 VIPs with IFA_F_NODAD unless this
                // word asks for Duplicate Address Detection (the name reads
                // backwards: it removes the NODAD flag).
                vip.dad = true;
                i += 1;
                continue;
            }
            other => {
                if let Some(&(_, takes)) = UNSUPPORTED_OPTIONS.iter().find(|(name, _)| *name == other) {
                    ctx.sink.warning_at(
                        &option.at,
                        format!(
                            "{block} {}: option '{other}' is not supported by xvrrp; ignored",
                            first.text
                        ),
                    );
                    i += 1 + usize::from(takes);
                    continue;
                }
                ctx.sink.warning_at(
                    &option.at,
                    format!(
                        "{block} {}: unknown option '{other}' (expected brd, dev, scope, label, -nodad or preferred_lft); ignored",
                        first.text
                    ),
                );
                i += 1;
                continue;
            }
        };
        let Some(value) = value.filter(|_| takes_value) else {
            ctx.sink.error_at(
                &option.at,
                format!("{block} {}: '{}' needs a value", first.text, option.text),
            );
            return None;
        };
        match option.text.as_str() {
            "dev" => {
                if let Some(problem) = interface_name_problem(&value.text) {
                    ctx.sink.error_at(
                        &value.at,
                        format!("{block} {}: dev '{}' {problem}", first.text, value.text),
                    );
                    return None;
                }
                vip.dev = Some(value.text.as_str().into());
            }
            "scope" => vip.scope = Some(scope(ctx, block, first, value)?),
            "preferred_lft" => {
                vip.preferred_lft = match value.text.as_str() {
                    "forever" => Some(u32::MAX),
                    n => {
                        if let Ok(n) = n.parse::<u32>() {
                            Some(n)
                        } else {
                            ctx.sink.error_at(
                            &value.at,
                            format!(
                                "{block} {}: preferred_lft '{n}' is neither a number of seconds nor 'forever'",
                                first.text
                            ),
                        );
                            return None;
                        }
                    }
                }
            }
            "label" => {
                if value.text.len() >= 16 {
                    ctx.sink.error_at(
                        &value.at,
                        format!(
                            "{block} {}: label '{}' is longer than 15 characters",
                            first.text, value.text
                        ),
                    );
                    return None;
                }
                vip.label = Some(value.text.as_str().into());
            }
            _ => brd_word = Some(value),
        }
        i += 2;
    }
    if let Some(brd) = brd_word {
        vip.brd = Some(broadcast(ctx, block, first, &vip, brd)?);
    }
    if vip.addr.is_ipv6() {
        if vip.scope.take().is_some() {
            ctx.sink.warning_at(
                &first.at,
                format!("{block} {}: IPv6 addresses take no scope; ignored", first.text),
            );
        }
        if vip.label.take().is_some() {
            ctx.sink.warning_at(
                &first.at,
                format!("{block} {}: IPv6 addresses take no label; ignored", first.text),
            );
        }
    }
    Some(vip)
}

/// `ADDR[/PREFIX]`; the prefix defaults to the full length.
fn address_prefix(ctx: &mut Ctx<'_>, block: &str, word: &Word) -> Option<(IpAddr, u8)> {
    let (text, prefix) = match word.text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (word.text.as_str(), None),
    };
    let Ok(addr) = text.parse::<IpAddr>() else {
        ctx.sink.error_at(
            &word.at,
            format!(
                "{block} '{}': expected an IPv4 or IPv6 address[/prefix]",
                word.text
            ),
        );
        return None;
    };
    let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => {
            let n = ctx.check_uint(
                &format!("{block} {text} prefix"),
                &Word {
                    text: p.to_owned(),
                    at: word.at.clone(),
                },
                0..=u64::from(max),
            )?;
            u8::try_from(n).unwrap_or(max)
        }
    };
    Some((addr, prefix))
}

/// rtnetlink scopes by name (as `ip address` and keepalived's rt_scopes know them) or number.
fn scope(ctx: &mut Ctx<'_>, block: &str, first: &Word, value: &Word) -> Option<u8> {
    let named = match value.text.as_str() {
        "global" | "universe" => Some(0),
        "site" => Some(200),
        "link" => Some(253),
        "host" => Some(254),
        "nowhere" => Some(255),
        _ => None,
    };
    if named.is_some() {
        return named;
    }
    if let Some(n) = crate::config::value::uint(&value.text).and_then(|n| u8::try_from(n).ok()) {
        return Some(n);
    }
    ctx.sink.error_at(
        &value.at,
        format!(
            "{block} {}: scope '{}': expected host, link, site, global, nowhere or 0..255",
            first.text, value.text
        ),
    );
    None
}

/// `brd ADDR`, or `+`/`-` for the subnet's highest/lowest address.
fn broadcast(
    ctx: &mut Ctx<'_>,
    block: &str,
    first: &Word,
    vip: &VirtualAddress,
    brd: &Word,
) -> Option<Ipv4Addr> {
    let IpAddr::V4(addr) = vip.addr else {
        ctx.sink.error_at(
            &brd.at,
            format!("{block} {}: IPv6 addresses have no broadcast address", first.text),
        );
        return None;
    };
    if brd.text == "+" || brd.text == "-" {
        if vip.prefix > 30 {
            ctx.sink.error_at(
                &brd.at,
                format!(
                    "{block} {}: brd {} needs a prefix of /30 or shorter",
                    first.text, brd.text
                ),
            );
            return None;
        }
        let host_mask = u32::MAX >> vip.prefix;
        let base = u32::from(addr);
        let computed = if brd.text == "+" {
            base | host_mask
        } else {
            base & !host_mask
        };
        return Some(Ipv4Addr::from(computed));
    }
    if let Ok(b) = brd.text.parse::<Ipv4Addr>() {
        Some(b)
    } else {
        ctx.sink.error_at(
            &brd.at,
            format!(
                "{block} {}: brd '{}': expected an IPv4 address, + or -",
                first.text, brd.text
            ),
        );
        None
    }
}

/// `unicast_peer { ADDR [min_ttl N] [max_ttl N] ... }`. True when a TTL option was given
/// (which turns on `check_unicast_src`, as in keepalived).
pub(super) fn peers(ctx: &mut Ctx<'_>, kw: &Node, out: &mut Vec<At<UnicastPeer>>) -> bool {
    let mut ttl_given = false;
    for line in ctx.value_lines(kw) {
        let words = &line.stmt.words;
        let first = &words[0];
        let Ok(addr) = first.text.parse::<IpAddr>() else {
            ctx.sink.error_at(
                &first.at,
                format!("unicast_peer '{}': expected an IPv4 or IPv6 address", first.text),
            );
            continue;
        };
        let mut peer = UnicastPeer {
            addr,
            min_ttl: 0,
            max_ttl: 255,
        };
        let mut ok = true;
        for pair in words[1..].chunks(2) {
            let option = &pair[0];
            let Some(value) = pair.get(1) else {
                ctx.sink.error_at(
                    &option.at,
                    format!("unicast_peer {addr}: '{}' needs a value", option.text),
                );
                ok = false;
                break;
            };
            let slot = match option.text.as_str() {
                "min_ttl" => &mut peer.min_ttl,
                "max_ttl" => &mut peer.max_ttl,
                other => {
                    ctx.sink.warning_at(
                        &option.at,
                        format!("unicast_peer {addr}: unknown option '{other}' (expected min_ttl or max_ttl); ignored"),
                    );
                    break;
                }
            };
            match ctx.check_uint(&option.text, value, 0..=255) {
                Some(ttl) => {
                    *slot = u8::try_from(ttl).unwrap_or(255);
                    ttl_given = true;
                }
                None => ok = false,
            }
        }
        if !ok {
            continue;
        }
        if peer.min_ttl > peer.max_ttl {
            ctx.sink.warning_at(
                &first.at,
                format!(
                    "unicast_peer {addr}: min_ttl {} > max_ttl {}: every advert from it will be dropped",
                    peer.min_ttl, peer.max_ttl
                ),
            );
        }
        if out.iter().any(|p| p.v.addr == addr) {
            ctx.sink
                .warning_at(&first.at, format!("unicast_peer {addr} is listed twice; ignored"));
            continue;
        }
        out.push(At::new(peer, &first.at));
    }
    ttl_given
}
