//! Tracking, resolved: `track_script`, `track_file` and `track_process` names
//! into their definitions' weights, address-owner and sync-group weight rules,
//! and a sync group's own tracked objects added to every member (keepalived
//! 2.2.7 `vrrp.c` `sync_group_tracking_init`, `vrrp_complete_instance`).

use std::collections::BTreeSet;

use super::instance::Env;
use crate::config::{
    diag::Sink,
    model::{Instance, SyncGroup, TrackInterface, TrackRef},
    parse::{At, InstanceDraft, TrackRefDraft},
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
/// (keepalived ignores the line, so a health check silently never runs).
/// `clear_weights`: a sync group with an address owner among its members
/// tracks without weights (keepalived clears them and says so).
pub(super) fn refs(
    owner: &str,
    kind: Kind,
    tracks: &[At<TrackRefDraft>],
    env: &Env<'_>,
    clear_weights: bool,
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
        let mut weight = t.v.weight.unwrap_or(def_weight);
        if clear_weights && weight != 0 {
            sink.warning(
                &t.at,
                format!(
                    "{owner}: {} {} tracked without its weight: a member has priority 255 (as keepalived)",
                    kind.keyword(),
                    t.v.name
                ),
            );
            weight = 0;
        }
        out.push(TrackRef {
            name: t.v.name.clone(),
            weight,
            reverse: t.v.reverse.unwrap_or(def_reverse),
        });
    }
    out
}

/// `track_interface` lines; `clear_weights` as for [`refs`].
pub(super) fn interfaces(
    owner: &str,
    tracks: &[At<TrackInterface>],
    clear_weights: bool,
    sink: &mut Sink,
) -> Vec<TrackInterface> {
    let mut out = Vec::with_capacity(tracks.len());
    for t in tracks {
        let mut track = t.v.clone();
        if clear_weights && track.weight != 0 {
            sink.warning(
                &t.at,
                format!("{owner}: track_interface {} tracked without its weight: a member has priority 255 (as keepalived)", t.v.name),
            );
            track.weight = 0;
        }
        out.push(track);
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

pub(super) fn of_instance(d: &InstanceDraft, env: &Env<'_>, sink: &mut Sink) -> Tracking {
    let owner = format!("vrrp_instance {}", d.name);
    Tracking {
        scripts: refs(&owner, Kind::Script, &d.more().track_scripts, env, false, sink),
        interfaces: interfaces(&owner, &d.more().track_interfaces, false, sink),
        files: refs(&owner, Kind::File, &d.more().track_files, env, false, sink),
        processes: refs(&owner, Kind::Process, &d.more().track_processes, env, false, sink),
    }
}

/// Why an instance tracks without weights.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Unweighted<'a> {
    /// Priority 255: its priority never moves.
    AddressOwner,
    /// A member of this sync group (without `sync_group_tracking_weight`):
    /// a weighted failure of one member would split the group.
    SyncGroup(&'a str),
}

/// keepalived 2.2.7's rules for an instance that tracks without weights
/// (`vrrp_complete_instance`, vrrp.c 3825-3904), kind by kind: a weighted
/// `track_script` is not tracked at all; a `track_file` with the default
/// weight 1 is tracked with weight 0, with another weight not at all; a
/// weighted `track_interface` is tracked with weight 0 in a sync group and
/// not at all by an address owner; `track_process` weights are left alone
/// (they cannot move an address owner's priority anyway). Each is reported.
pub(super) fn unweight(instance: &mut Instance, d: &InstanceDraft, why: Unweighted<'_>, sink: &mut Sink) {
    let name = instance.name.clone();
    let because = match why {
        Unweighted::AddressOwner => "the address owner (priority 255) tracks without weights".to_owned(),
        Unweighted::SyncGroup(g) => format!(
            "members of vrrp_sync_group {g} track without weights (sync_group_tracking_weight keeps them)"
        ),
    };
    let mut say = |at: &crate::config::diag::Pos, what: &str, thing: &str, how: &str| {
        sink.warning(
            at,
            format!("vrrp_instance {name}: {what} {thing} {how}: {because}, as in keepalived"),
        );
    };
    let at = |list: &[At<TrackRefDraft>], n: &str| {
        list.iter()
            .find(|a| a.v.name == n)
            .map_or(d.at.clone(), |a| a.at.clone())
    };
    instance.track_scripts.retain(|t| {
        if t.weight == 0 {
            return true;
        }
        say(
            &at(&d.more().track_scripts, &t.name),
            "track_script",
            &t.name,
            "with a weight is not tracked",
        );
        false
    });
    instance.track_files.retain_mut(|t| match t.weight {
        0 => true,
        1 => {
            say(
                &at(&d.more().track_files, &t.name),
                "track_file",
                &t.name,
                "is tracked with weight 0",
            );
            t.weight = 0;
            true
        }
        _ => {
            say(
                &at(&d.more().track_files, &t.name),
                "track_file",
                &t.name,
                "with a weight is not tracked",
            );
            false
        }
    });
    instance.track_interfaces.retain_mut(|t| {
        if t.weight == 0 {
            return true;
        }
        let at = d
            .more()
            .track_interfaces
            .iter()
            .find(|a| a.v.name == t.name)
            .map_or(d.at.clone(), |a| a.at.clone());
        if why == Unweighted::AddressOwner {
            say(&at, "track_interface", &t.name, "with a weight is not tracked");
            return false;
        }
        say(&at, "track_interface", &t.name, "is tracked with weight 0");
        t.weight = 0;
        true
    });
}

/// Adds what a sync group tracks to one member, with the group's weights.
/// An object the member tracks itself keeps the member's entry, with the
/// group's weight unless the member's is 0 (keepalived
/// `add_obj_to_track_file` and its siblings).
pub(super) fn add_group_tracking(group: &SyncGroup, i: &mut Instance) {
    fn merge(own: &mut thin_vec::ThinVec<TrackRef>, from_group: &[TrackRef]) {
        for g in from_group {
            match own.iter_mut().find(|t| t.name == g.name) {
                Some(t) if t.weight != 0 => (t.weight, t.reverse) = (g.weight, g.reverse),
                Some(_) => {}
                None => own.push(g.clone()),
            }
        }
    }
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

/// Names of the definitions some instance tracks (a group's are in its members' by now).
pub(super) fn used<'c>(
    instances: &'c [Instance],
    pick: impl Fn(&'c Instance) -> &'c [TrackRef],
) -> BTreeSet<&'c str> {
    instances.iter().flat_map(pick).map(|t| t.name.as_str()).collect()
}
