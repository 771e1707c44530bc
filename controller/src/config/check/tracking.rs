//! Tracking, resolved: `track_script`, `track_file` and `track_process` names
//! into their definitions' weights, address-owner and sync-group weight rules,
//! and a sync group's own tracked objects added to every member (keepalived
//! 2.2.7 `vrrp.c` `sync_group_tracking_init`, `vrrp_complete_instance`).

use std::collections::BTreeSet;

use super::instance::Env;
use crate::config::{
    diag::Sink,
    model::{Instance, SyncGroup, TrackInterface, TrackRef},
    parse::{At, Draft, InstanceDraft, TrackRefDraft},
};

/// Which kind of definition a `track_*` line names.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Script,
    File,
    Process,
}

impl Kind {
    fn keyword(self) -> &'static str {
        match self {
            Self::Script => "track_script",
            Self::File => "track_file",
            Self::Process => "track_process",
        }
    }

    fn definition(self) -> &'static str {
        match self {
            Self::Script => "vrrp_script",
            Self::File => "track_file",
            Self::Process => "vrrp_track_process",
        }
    }

    /// (name, weight, reverse) of every usable definition.
    fn definitions<'e>(self, env: &'e Env<'_>) -> Vec<(&'e str, i16, bool)> {
        match self {
            Self::Script => env
                .scripts
                .iter()
                .map(|s| (s.name.as_str(), s.weight, s.weight_reverse))
                .collect(),
            Self::File => env
                .track_files
                .iter()
                .map(|f| (f.v.name.as_str(), f.v.weight, f.v.reverse))
                .collect(),
            Self::Process => env
                .track_processes
                .iter()
                .map(|p| (p.v.name.as_str(), p.v.weight, p.v.reverse))
                .collect(),
        }
    }

    fn broken(self, env: &Env<'_>, name: &str) -> bool {
        match self {
            Self::Script => env.broken_scripts.contains(name),
            Self::File | Self::Process => env.broken_trackers.contains(name),
        }
    }
}

/// Resolves tracked names and default weights. An unknown name is an error
/// (keepalived ignores the line, so a health check silently never runs). Weights
/// do not apply to an address owner (`priority` 255; keepalived drops them).
pub(super) fn refs(
    owner: &str,
    kind: Kind,
    tracks: &[At<TrackRefDraft>],
    env: &Env<'_>,
    priority: u8,
    sink: &mut Sink,
) -> Vec<TrackRef> {
    let defs = kind.definitions(env);
    let mut out = Vec::with_capacity(tracks.len());
    for t in tracks {
        let Some(&(_, def_weight, def_reverse)) = defs.iter().find(|d| d.0 == t.v.name) else {
            if !kind.broken(env, &t.v.name) {
                let known: Vec<&str> = defs.iter().map(|d| d.0).collect();
                let hint = if known.is_empty() {
                    format!("no {} is defined", kind.definition())
                } else {
                    format!("defined: {}", known.join(", "))
                };
                sink.error(
                    &t.at,
                    format!(
                        "{owner}: {} {} names no {} ({hint})",
                        kind.keyword(),
                        t.v.name,
                        kind.definition()
                    ),
                );
            }
            continue;
        };
        let weight = t.v.weight.unwrap_or(def_weight);
        if priority == 255 && weight != 0 {
            sink.warning(
                &t.at,
                format!(
                    "{owner}: weighted {} {} is ignored for the address owner (priority 255)",
                    kind.keyword(),
                    t.v.name
                ),
            );
            continue;
        }
        out.push(TrackRef {
            name: t.v.name.clone(),
            weight,
            reverse: t.v.reverse.unwrap_or(def_reverse),
        });
    }
    out
}

/// `track_interface`: weights do not apply to the address owner (keepalived drops them).
pub(super) fn interfaces(
    owner: &str,
    tracks: &[At<TrackInterface>],
    priority: u8,
    sink: &mut Sink,
) -> Vec<TrackInterface> {
    let mut out = Vec::with_capacity(tracks.len());
    for t in tracks {
        if priority == 255 && t.v.weight != 0 {
            sink.warning(
                &t.at,
                format!(
                    "{owner}: weighted track_interface {} is ignored for the address owner (priority 255)",
                    t.v.name
                ),
            );
            continue;
        }
        out.push(t.v.clone());
    }
    out
}

/// An instance's own tracking, resolved.
pub(super) struct Tracking {
    pub scripts: Vec<TrackRef>,
    pub interfaces: Vec<TrackInterface>,
    pub files: Vec<TrackRef>,
    pub processes: Vec<TrackRef>,
}

pub(super) fn of_instance(d: &InstanceDraft, env: &Env<'_>, priority: u8, sink: &mut Sink) -> Tracking {
    let owner = format!("vrrp_instance {}", d.name);
    Tracking {
        scripts: refs(&owner, Kind::Script, &d.track_scripts, env, priority, sink),
        interfaces: interfaces(&owner, &d.track_interfaces, priority, sink),
        files: refs(&owner, Kind::File, &d.track_files, env, priority, sink),
        processes: refs(&owner, Kind::Process, &d.track_processes, env, priority, sink),
    }
}

/// keepalived runs sync group members without their own tracking weights (a
/// weighted failure of one member would split the group) unless the group
/// says `sync_group_tracking_weight`: weights become 0, so failures mean FAULT.
pub(super) fn unweight(instance: &mut Instance, draft: &Draft, sink: &mut Sink) {
    let Some(d) = draft.instances.iter().find(|d| d.name == instance.name) else {
        return;
    };
    let group = instance.sync_group.as_deref().unwrap_or_default();
    let lists = [
        ("track_script", &mut instance.track_scripts, &d.track_scripts),
        ("track_file", &mut instance.track_files, &d.track_files),
        ("track_process", &mut instance.track_processes, &d.track_processes),
    ];
    let mut weighted: Vec<(&crate::config::diag::Pos, &str, String)> = Vec::new();
    for (what, list, drafts) in lists {
        for t in list.iter_mut().filter(|t| t.weight != 0) {
            let at = drafts
                .iter()
                .find(|a| a.v.name == t.name)
                .map_or(&d.at, |a| &a.at);
            weighted.push((at, what, t.name.clone()));
            t.weight = 0;
        }
    }
    for t in instance.track_interfaces.iter_mut().filter(|t| t.weight != 0) {
        let at = d
            .track_interfaces
            .iter()
            .find(|a| a.v.name == t.name)
            .map_or(&d.at, |a| &a.at);
        weighted.push((at, "track_interface", t.name.clone()));
        t.weight = 0;
    }
    for (at, what, name) in weighted {
        sink.warning(
            at,
            format!(
                "vrrp_instance {}: {what} {name} weight ignored in vrrp_sync_group {group} (members track without weights, as in keepalived; sync_group_tracking_weight keeps them)",
                instance.name
            ),
        );
    }
}

/// Adds what a sync group tracks to each member, with the group's weights.
/// An object the member tracks itself keeps the member's entry, with the
/// group's weight unless the member's is 0 (keepalived
/// `add_obj_to_track_file` and its siblings).
pub(super) fn add_group_tracking(group: &SyncGroup, instances: &mut [Instance]) {
    fn merge(own: &mut Vec<TrackRef>, from_group: &[TrackRef]) {
        for g in from_group {
            match own.iter_mut().find(|t| t.name == g.name) {
                Some(t) if t.weight != 0 => (t.weight, t.reverse) = (g.weight, g.reverse),
                Some(_) => {}
                None => own.push(g.clone()),
            }
        }
    }
    for i in instances.iter_mut().filter(|i| group.instances.contains(&i.name)) {
        merge(&mut i.track_scripts, &group.track_scripts);
        merge(&mut i.track_files, &group.track_files);
        merge(&mut i.track_processes, &group.track_processes);
        for g in &group.track_interfaces {
            match i.track_interfaces.iter_mut().find(|t| t.name == g.name) {
                Some(t) if t.weight != 0 => (t.weight, t.reverse) = (g.weight, g.reverse),
                Some(_) => {}
                None => i.track_interfaces.push(g.clone()),
            }
        }
    }
}

/// Names of the definitions some instance tracks (a group's are in its members' by now).
pub(super) fn used<'c>(
    instances: &'c [Instance],
    pick: impl Fn(&'c Instance) -> &'c [TrackRef],
) -> BTreeSet<&'c str> {
    instances.iter().flat_map(pick).map(|t| t.name.as_str()).collect()
}
