//! `track_file NAME { }` (and its older name `vrrp_track_file`) and
//! `vrrp_track_process NAME { }`: the tracked objects that are not scripts;
//! and `garp_group { }`. Keywords and ranges as keepalived 2.2.7 reads them
//! (`trackers/track_file.c`, `vrrp/vrrp_parser.c` `vrrp_tprocess_*`,
//! `garp_group_*`).

use super::{Draft, children, ctx::Ctx, track::definition_weight};
use crate::config::{
    model::{FileInit, ParamMatch, TrackFileDef, TrackProcessDef},
    tree::Node,
};

/// Reports a second definition of `name`; true when it is the first.
fn first_definition<T>(
    ctx: &mut Ctx<'_>,
    node: &Node,
    kind: &str,
    name: &str,
    defs: &[super::At<T>],
    of: impl Fn(&T) -> &str,
) -> bool {
    if let Some(first) = defs.iter().find(|d| of(&d.v) == name) {
        let first = first.at.as_seen_from(node.at());
        ctx.sink.error(
            node.at(),
            format!("{kind} {name} is already defined at {first}; names must be unique"),
        );
        return false;
    }
    true
}

/// `track_file NAME { file PATH  weight W [reverse]  init_file [VALUE] [overwrite] }`.
pub(super) fn file(ctx: &mut Ctx<'_>, node: &Node, name: &str, draft: &mut Draft) {
    if !first_definition(ctx, node, "track_file", name, &draft.track_files, |d| &d.name) {
        return;
    }
    let mut def = TrackFileDef {
        name: name.to_owned(),
        path: String::new(),
        weight: 1,
        reverse: false,
        init: None,
    };
    for kw in children(node) {
        match kw.keyword() {
            "file" => {
                if let Some(path) = ctx.single(kw, "a file path") {
                    def.path.clone_from(&path.text);
                }
            }
            "weight" => {
                if let (Some(w), r) = definition_weight(ctx, kw, 254) {
                    (def.weight, def.reverse) = (w, r);
                }
            }
            "init_file" => {
                ctx.no_block(kw);
                let mut init = FileInit {
                    value: 0,
                    overwrite: false,
                };
                for word in kw.stmt.words.iter().skip(1) {
                    if word.text == "overwrite" {
                        init.overwrite = true;
                    } else if let Some(v) = ctx.check_int("init_file value", word, -254..=254) {
                        init.value = i32::try_from(v).unwrap_or(0);
                    }
                }
                def.init = Some(init);
            }
            _ => ctx.unknown("track_file", kw, &[]),
        }
    }
    if def.path.is_empty() {
        ctx.sink.error(
            node.at(),
            format!("track_file {name}: expected a 'file PATH' line"),
        );
        draft.broken_trackers.insert(name.to_owned());
        return;
    }
    if !def.path.starts_with('/') {
        ctx.sink.error(
            node.at(),
            format!("track_file {name}: file {} must be an absolute path", def.path),
        );
        draft.broken_trackers.insert(name.to_owned());
        return;
    }
    draft.track_files.push(super::At::new(def, node.at()));
}

/// `vrrp_track_process NAME { process NAME [PARAM ...]  param_match [initial|partial]
/// weight W [reverse]  quorum N  quorum_max N  delay S  fork_delay S  terminate_delay S
/// full_command }`.
pub(super) fn process(ctx: &mut Ctx<'_>, node: &Node, name: &str, draft: &mut Draft) {
    if !first_definition(
        ctx,
        node,
        "vrrp_track_process",
        name,
        &draft.track_processes,
        |d| &d.name,
    ) {
        return;
    }
    let mut def = TrackProcessDef {
        name: name.to_owned(),
        process: String::new(),
        params: Vec::new(),
        param_match: ParamMatch::None,
        full_command: false,
        weight: 0,
        reverse: false,
        quorum: 1,
        quorum_max: u32::MAX,
        fork_delay_ms: 0,
        terminate_delay_ms: 0,
    };
    for kw in children(node) {
        match kw.keyword() {
            "process" => {
                ctx.no_block(kw);
                if let Some(p) = ctx.first(kw, "a process name [parameters]") {
                    def.process.clone_from(&p.text);
                    def.params = kw.stmt.words.iter().skip(2).map(|w| w.text.clone()).collect();
                    if !def.params.is_empty() {
                        def.full_command = true;
                        if def.param_match == ParamMatch::None {
                            def.param_match = ParamMatch::Exact;
                        }
                    }
                }
            }
            "param_match" => {
                ctx.no_block(kw);
                def.full_command = true;
                match kw.stmt.words.get(1).map(|w| w.text.as_str()) {
                    None => def.param_match = ParamMatch::Exact,
                    Some("initial") => def.param_match = ParamMatch::Initial,
                    Some("partial") => def.param_match = ParamMatch::Partial,
                    Some(other) => ctx.sink.error(
                        kw.at(),
                        format!("param_match '{other}': expected initial or partial (or nothing: exact)"),
                    ),
                }
                ctx.extra_words(kw, 2);
            }
            "weight" => {
                if let (Some(w), r) = definition_weight(ctx, kw, 254) {
                    (def.weight, def.reverse) = (w, r);
                }
            }
            "quorum" => {
                if let Some(q) = ctx.uint(kw, 1..=65535) {
                    def.quorum = u32::try_from(q).unwrap_or(1);
                }
            }
            "quorum_max" => {
                if let Some(q) = ctx.uint(kw, 0..=65535) {
                    def.quorum_max = u32::try_from(q).unwrap_or(u32::MAX);
                }
            }
            which @ ("delay" | "fork_delay" | "terminate_delay") => {
                if let Some(us) = ctx.seconds_us(kw, 1, 3_600_000_000) {
                    let ms = u32::try_from(us.div_ceil(1000)).unwrap_or(u32::MAX);
                    if which != "terminate_delay" {
                        def.fork_delay_ms = ms;
                    }
                    if which != "fork_delay" {
                        def.terminate_delay_ms = ms;
                    }
                }
            }
            "full_command" => {
                ctx.flag(kw);
                def.full_command = true;
            }
            _ => ctx.unknown("vrrp_track_process", kw, &[]),
        }
    }
    if def.process.is_empty() {
        ctx.sink.error(
            node.at(),
            format!("vrrp_track_process {name}: expected a 'process NAME' line"),
        );
        draft.broken_trackers.insert(name.to_owned());
        return;
    }
    if !def.full_command && def.process.len() > 15 {
        ctx.sink.warning(
            node.at(),
            format!(
                "vrrp_track_process {name}: process {} is longer than the 15 characters the kernel keeps \
                 as a process name, so it never matches; add full_command to match the command line",
                def.process
            ),
        );
    }
    if def.quorum_max == 0 {
        // keepalived: quorum_max 0 means "must not run".
        def.quorum = 0;
    } else if def.quorum > def.quorum_max {
        ctx.sink.error(
            node.at(),
            format!(
                "vrrp_track_process {name}: quorum {} is greater than quorum_max {}",
                def.quorum, def.quorum_max
            ),
        );
        draft.broken_trackers.insert(name.to_owned());
        return;
    }
    draft.track_processes.push(super::At::new(def, node.at()));
}

/// `garp_group { garp_interval S  gna_interval S  interface IF  interfaces { IF ... } }`.
/// An interface already in a group stays in the first (keepalived: "garp_group
/// already specified for IF - ignoring").
pub(super) fn garp_group(ctx: &mut Ctx<'_>, node: &Node, draft: &mut Draft) {
    let mut g = crate::config::model::GarpGroup::default();
    let mut named: Vec<super::At<String>> = Vec::new();
    for kw in children(node) {
        match kw.keyword() {
            "garp_interval" => g.garp_interval_us = ctx.seconds_us(kw, 0, 2_147_483_647),
            "gna_interval" => g.gna_interval_us = ctx.seconds_us(kw, 0, 2_147_483_647),
            "interface" => {
                if let Some(w) = ctx.single(kw, "an interface name") {
                    named.push(super::At::new(w.text.clone(), &w.at));
                }
            }
            "interfaces" => {
                let lines = ctx.value_lines(kw);
                if lines.is_empty() {
                    ctx.sink.warning(kw.at(), "garp_group: empty interfaces block");
                }
                for line in lines {
                    for w in &line.stmt.words {
                        named.push(super::At::new(w.text.clone(), &w.at));
                    }
                }
                g.shared = true;
            }
            _ => ctx.unknown("garp_group", kw, &[]),
        }
    }
    for n in named {
        if let Some(problem) = super::ctx::interface_name_problem(&n.v) {
            ctx.sink
                .error_at(&n.at, format!("garp_group: '{}' {problem}", n.v));
        } else if draft
            .garp_groups
            .iter()
            .chain([&g])
            .any(|o| o.interfaces.contains(&n.v))
        {
            ctx.sink.warning_at(
                &n.at,
                format!("garp_group already given for {}; ignored (as keepalived)", n.v),
            );
        } else {
            g.interfaces.push(n.v);
        }
    }
    if g.interfaces.is_empty() {
        ctx.sink
            .warning(node.at(), "garp_group names no interface; ignored");
        return;
    }
    draft.garp_groups.push(g);
}
