//! `vrrp_sync_group NAME { group { } notify_* track_script { } }`.

use super::{At, SyncGroupDraft, children, ctx::Ctx, track};
use crate::config::{model::Notify, tree::Node};

/// keepalived sync group keywords xvrrp does not implement.
const UNSUPPORTED: &[&str] = &["track_bfd"];

pub(super) fn parse(ctx: &mut Ctx<'_>, node: &Node, name: &str, groups: &mut Vec<SyncGroupDraft>) {
    if let Some(first) = groups.iter().find(|g| g.name == name) {
        let first = first.at.as_seen_from(node.at());
        ctx.sink.error(
            node.at(),
            format!("vrrp_sync_group {name} is already defined at {first}; names must be unique"),
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
        track_files: Vec::new(),
        track_processes: Vec::new(),
        tracking_weight: false,
        smtp_alert: None,
        notify_priority_changes: None,
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
            "track_script" => track::refs(ctx, kw, track::Kind::Script, &mut group.track_scripts),
            "track_file" => track::refs(ctx, kw, track::Kind::File, &mut group.track_files),
            "track_process" => track::refs(ctx, kw, track::Kind::Process, &mut group.track_processes),
            // keepalived 2.2.7: "global_tracking is deprecated. Use
            // track_interface/script/file/bfd/process in vrrp_sync_group",
            // and it sets sync_group_tracking_weight.
            "sync_group_tracking_weight" | "global_tracking" => {
                ctx.flag(kw);
                if kw.keyword() == "global_tracking" {
                    ctx.sink.warning(
                        kw.at(),
                        "global_tracking is deprecated (in keepalived too): it means sync_group_tracking_weight; \
                         track objects on the sync group instead",
                    );
                }
                group.tracking_weight = true;
            }
            "track_interface" => track::interfaces(ctx, kw, &mut group.track_interfaces),
            "smtp_alert" => {
                if let Some(b) = ctx.opt_bool(kw) {
                    group.smtp_alert = Some(b);
                }
            }
            "notify_priority_changes" => {
                group.notify_priority_changes = ctx.opt_bool(kw).or(group.notify_priority_changes);
            }
            "notify_deleted" | "notify_master_rx_lower_pri" => {
                ctx.sink.warning(
                    kw.at(),
                    format!(
                        "vrrp_sync_group {name}: {} belongs in a vrrp_instance; ignored",
                        kw.keyword()
                    ),
                );
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
