//! The sections of keepalived.conf into drafts: one file per section, this one dispatches.
//!
//! Unknown keywords inside a known block are warnings and ignored; invalid values are errors;
//! sections of keepalived's other sides (LVS, BFD, static addresses, ...) are skipped whole
//! with one warning each.

mod address;
mod ctx;
mod draft;
mod global;
mod instance;
mod route;
mod script;
mod sync_group;
mod track;
mod tracker;

pub(crate) use ctx::At;
pub(crate) use draft::{Draft, InstanceDraft, ScriptDraft, SyncGroupDraft, TrackRefDraft};

use std::collections::HashMap;

use self::ctx::Ctx;
use super::{
    diag::{Pos, Sink},
    tree::Node,
};

/// Top-level sections of keepalived that are not xvrrp's business.
const OTHER_SECTIONS: &[&str] = &[
    "virtual_server",
    "virtual_server_group",
    "real_server",
    "static_track_group",
    "track_group",
    "bfd_instance",
    "linkbeat_interfaces",
    "interface_up_down_delays",
    "net_namespace",
    "SSL",
];

/// Reads the top level, one section at a time (the tree builder hands each over as soon as
/// it is closed, and it is dropped once read).
#[derive(Default)]
pub(crate) struct Parser {
    draft: Draft,
    /// track_script lines naming a vrrp_script not defined yet at that point.
    ahead: Vec<At<TrackRefDraft>>,
    /// Each vrrp_instance's name and line: a map, not a search of the list (quadratic:
    /// `xvrrpd check` of 16,000 instances took 1.22 s with it, 0.30 without).
    instance_lines: HashMap<String, Pos>,
}

impl Parser {
    /// Reads one top-level section.
    pub fn section(&mut self, node: &Node, sink: &mut Sink) {
        let mut ctx = Ctx { sink };
        let draft = &mut self.draft;
        match node.keyword() {
            "global_defs" => global::parse(&mut ctx, node, &mut draft.global),
            "vrrp_script" => {
                if let Some(name) = section_name(&mut ctx, node) {
                    script::parse(&mut ctx, node, name, &mut draft.scripts);
                }
            }
            "vrrp_instance" => {
                if let Some(name) = section_name(&mut ctx, node) {
                    if let Some(first) = self.instance_lines.get(name) {
                        let first = first.as_seen_from(node.at());
                        ctx.sink.error(
                            node.at(),
                            format!(
                                "vrrp_instance {name} is already defined at {first}; names must be unique"
                            ),
                        );
                        return;
                    }
                    self.instance_lines.insert(name.to_owned(), node.at().clone());
                    let before = draft.instances.len();
                    instance::parse(&mut ctx, node, name, &mut draft.instances);
                    let added = draft.instances.get(before).map(|i| &i.more().track_scripts);
                    not_yet(draft, added, &mut self.ahead);
                }
            }
            "vrrp_sync_group" => {
                if let Some(name) = section_name(&mut ctx, node) {
                    let before = draft.sync_groups.len();
                    sync_group::parse(&mut ctx, node, name, &mut draft.sync_groups);
                    let added = draft.sync_groups.get(before).map(|g| &g.track_scripts);
                    not_yet(draft, added, &mut self.ahead);
                }
            }
            "track_file" | "vrrp_track_file" => {
                if let Some(name) = section_name(&mut ctx, node) {
                    tracker::file(&mut ctx, node, name, draft);
                }
            }
            // keepalived's static entries: installed at start, before any
            // instance, and removed at exit, whatever the VRRP states.
            "static_ipaddress" => {
                ctx.extra_words(node, 1);
                address::vips(&mut ctx, node, &mut draft.static_addresses);
            }
            "static_routes" => {
                ctx.extra_words(node, 1);
                route::routes(&mut ctx, node, &mut draft.static_routes);
            }
            "static_rules" => {
                ctx.extra_words(node, 1);
                route::rules(&mut ctx, node, &mut draft.static_rules);
            }
            "garp_group" => {
                ctx.extra_words(node, 1);
                if node.block.is_some() {
                    tracker::garp_group(&mut ctx, node, draft);
                } else {
                    ctx.sink.error(node.at(), "garp_group: expected a { } block");
                }
            }
            "vrrp_track_process" => {
                if let Some(name) = section_name(&mut ctx, node) {
                    tracker::process(&mut ctx, node, name, draft);
                }
            }
            other if OTHER_SECTIONS.contains(&other) => ctx.sink.warning(
                node.at(),
                format!("section '{other}' is not part of xvrrp (keepalived's VRRP side only); skipped"),
            ),
            other => {
                let with_block = if node.block.is_some() {
                    " (with its block)"
                } else {
                    ""
                };
                ctx.sink.warning(
                    node.at(),
                    format!("unknown top-level keyword '{other}'; ignored{with_block}"),
                );
            }
        }
    }

    /// The drafts, once every section is read.
    pub fn finish(self, sink: &mut Sink) -> Draft {
        let Self { draft, ahead, .. } = self;
        // keepalived 2.2.7 looks a track_script up when it reads it: one naming a
        // vrrp_script defined further down (or in a later include) is dropped
        // there ("not found, ignoring"). xvrrp resolves names after reading all,
        // so the same file tracks more here: say so where it happens.
        for t in ahead {
            if draft.scripts.iter().any(|s| s.name == t.v.name) {
                sink.warning(
                    &t.at,
                    format!(
                        "track_script {0}: vrrp_script {0} is defined further down; keepalived 2.2.7 \
                         ignores such a track_script, xvrrp tracks it (define the script first to \
                         behave the same under both)",
                        t.v.name
                    ),
                );
            }
        }
        draft
    }
}

/// Notes the `tracks` of a section just read that name no vrrp_script defined so far.
fn not_yet(draft: &Draft, tracks: Option<&Vec<At<TrackRefDraft>>>, ahead: &mut Vec<At<TrackRefDraft>>) {
    let defined = |name: &str| draft.scripts.iter().any(|s| s.name == name);
    ahead.extend(
        tracks
            .into_iter()
            .flatten()
            .filter(|t| !defined(&t.v.name))
            .cloned(),
    );
}

/// `SECTION NAME {`: the name, after checking there is a block. None (reported) when the
/// section cannot be read.
fn section_name<'n>(ctx: &mut Ctx<'_>, node: &'n Node) -> Option<&'n str> {
    let keyword = node.keyword();
    let Some(name) = node.stmt.words.get(1) else {
        ctx.sink.error(node.at(), format!("{keyword}: expected a name"));
        return None;
    };
    ctx.extra_words(node, 2);
    if node.block.is_none() {
        ctx.sink.error(
            node.at(),
            format!("{keyword} {}: expected a {{ }} block after the name", name.text),
        );
        return None;
    }
    Some(&name.text)
}

/// The block's children (callers checked there is one).
fn children(node: &Node) -> &[Node] {
    node.block.as_ref().map_or(&[], |b| b.children.as_slice())
}
