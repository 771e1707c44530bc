//! `vrrp_script NAME { }`.

use super::{
    ScriptDraft, children,
    ctx::Ctx,
    track::{command_line, definition_weight},
};
use crate::config::{model::RunAs, tree::Node};

pub(super) fn parse(ctx: &mut Ctx<'_>, node: &Node, name: &str, scripts: &mut Vec<ScriptDraft>) {
    if let Some(first) = scripts.iter().find(|s| s.name == name) {
        // keepalived keeps both and finds the first by name: so does the daemon.
        let first = first.at.as_seen_from(node.at());
        ctx.sink.warning(
            node.at(),
            format!("vrrp_script {name} is already defined at {first}; this one is never used"),
        );
    }
    let mut script = ScriptDraft::new(name.to_owned(), node.at());
    for kw in children(node) {
        keyword(ctx, kw, &mut script);
    }
    let wrote_script = children(node).iter().any(|kw| kw.keyword() == "script");
    if script.command.is_none() && !wrote_script {
        ctx.sink.error(
            node.at(),
            format!("vrrp_script {name}: expected a 'script \"COMMAND [ARGS]\"' line"),
        );
    }
    scripts.push(script);
}

fn keyword(ctx: &mut Ctx<'_>, kw: &Node, s: &mut ScriptDraft) {
    let max_s = u64::from(u32::MAX / 1_000_000);
    match kw.keyword() {
        "script" => {
            ctx.no_block(kw);
            if let Some((command, _extra)) = command_line(ctx, kw, 2) {
                s.command = Some(command);
            }
        }
        "interval" => {
            if let Some(v) = ctx.uint(kw, 0..=max_s) {
                s.interval_s = positive(ctx, kw, v);
            }
        }
        "timeout" => {
            if let Some(v) = ctx.uint(kw, 0..=max_s) {
                s.timeout_s = Some(positive(ctx, kw, v));
            }
        }
        "weight" => {
            let (weight, reverse) = definition_weight(ctx, kw, 253);
            if let Some(w) = weight {
                s.weight = w;
            }
            s.weight_reverse |= reverse;
        }
        "rise" => {
            if let Some(v) = ctx.uint(kw, 1..=i32::MAX as u64) {
                s.rise = u32::try_from(v).unwrap_or(1);
            }
        }
        "fall" => {
            if let Some(v) = ctx.uint(kw, 1..=i32::MAX as u64) {
                s.fall = u32::try_from(v).unwrap_or(1);
            }
        }
        "user" => {
            ctx.no_block(kw);
            if let Some(user) = ctx.first(kw, "a user name [group]") {
                s.user = Some(RunAs {
                    user: user.text.clone(),
                    group: kw.stmt.words.get(2).map(|w| w.text.clone()),
                });
            }
            ctx.extra_words(kw, 3);
        }
        "init_fail" => {
            ctx.flag(kw);
            s.init_fail = true;
        }
        _ => ctx.unknown("vrrp_script", kw, &[]),
    }
}

/// keepalived accepts 0 for interval/timeout (before v2.0.7 it meant something) and uses 1.
fn positive(ctx: &mut Ctx<'_>, kw: &Node, v: u64) -> u32 {
    if v == 0 {
        ctx.sink.warning(
            kw.at(),
            format!("{} must be at least 1 second; using 1", kw.keyword()),
        );
    }
    u32::try_from(v.max(1)).unwrap_or(u32::MAX)
}
