//! `vrrp_sync_group NAME { group { } notify_* track_script { } }`.

use super::{At, SyncGroupDraft, children, ctx::Ctx, mail_note, track};
use crate::config::{model::Notify, tree::Node};

/// keepalived sync group keywords xvrrp does not implement.
const UNSUPPORTED: &[&str] = &[
    "track_file",
    "track_process",
    "track_bfd",
    "global_tracking",
    "sync_group_tracking_weight",
    "notify_priority_changes",
];

pub(super) fn parse(ctx: &mut Ctx<'_>, node: &Node, name: &str, groups: &mut Vec<SyncGroupDraft>) {
    if let Some(first) = groups.iter().find(|g| g.name == name) {
        let line = first.at.line;
        ctx.sink.error(
            node.at(),
            format!("vrrp_sync_group {name} is already defined at line {line}; names must be unique"),
        );
        return;
    }
    let mut group = SyncGroupDraft {
        name: name.to_owned(),
        at: node.at().clone(),
        group: None,
        notify: Notify::default(),
        track_scripts: Vec::new(),
        track_interfaces: Vec::new(),
        smtp_alert: false,
    };
    for kw in children(node) {
        match kw.keyword() {
            "group" => {
                if group.group.is_some() {
                    ctx.sink.error(
                        kw.at(),
                        format!(
                            "vrrp_sync_group {name}: group is already given; one group block per sync group"
                        ),
                    );
                    continue;
                }
                let mut members: Vec<At<String>> = Vec::new();
                for line in ctx.value_lines(kw) {
                    for word in &line.stmt.words {
                        if members.iter().any(|m| m.v == word.text) {
                            ctx.sink.warning_at(
                                &word.at,
                                format!("vrrp_sync_group {name}: {} is listed twice; ignored", word.text),
                            );
                        } else {
                            members.push(At::new(word.text.clone(), &word.at));
                        }
                    }
                }
                group.group = Some(members);
            }
            "track_script" => track::scripts(ctx, kw, &mut group.track_scripts),
            "track_interface" => track::interfaces(ctx, kw, &mut group.track_interfaces),
            "smtp_alert" => {
                mail_note(ctx, kw);
                if let Some(b) = ctx.opt_bool(kw) {
                    group.smtp_alert = b;
                }
            }
            _ => {
                if !track::notify(ctx, kw, &mut group.notify) {
                    ctx.unknown("vrrp_sync_group", kw, UNSUPPORTED);
                }
            }
        }
    }
    groups.push(group);
}
