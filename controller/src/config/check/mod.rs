//! Semantic checks: drafts into the normalized [`Config`], with keepalived's defaults and
//! the rules that span sections (duplicate VRIDs, scripts, sync groups).

mod instance;
mod tracking;

use std::collections::{BTreeSet, HashMap};

use self::instance::Env;
use super::{
    diag::Sink,
    host::HostInfo,
    model::{Config, Instance, SyncGroup, VrrpScript},
    parse::{Draft, InstanceDraft, ScriptDraft},
};

/// Each instance's index by name: `instances[k]` is read from `draft.instances[k]`, and names
/// are unique (the parse drops a second definition). Lookups by name go through this, not a
/// search of the list (quadratic: 8000 sync groups over 16,000 instances took 5.5 s to check).
type ByName<'d> = HashMap<&'d str, usize>;

/// One copy of each interface name for all the instances that name it.
fn intern_interfaces(instances: &mut [Instance]) {
    let mut names: std::collections::HashSet<std::sync::Arc<str>> = std::collections::HashSet::new();
    for i in instances {
        if let Some(name) = &mut i.interface {
            match names.get(&**name) {
                Some(shared) => *name = shared.clone(),
                None => {
                    names.insert(name.clone());
                }
            }
        }
    }
}

pub(crate) fn resolve(draft: Draft, host: Option<&HostInfo>, sink: &mut Sink) -> Config {
    let (scripts, broken_scripts) = scripts(&draft.scripts);
    let env = Env {
        global: &draft.global,
        scripts: &scripts,
        broken_scripts: &broken_scripts,
        track_files: &draft.track_files,
        track_processes: &draft.track_processes,
        broken_trackers: &draft.broken_trackers,
        host,
    };
    let mut instances: Vec<Instance> = draft
        .instances
        .iter()
        .map(|d| instance::resolve(d, &env, sink))
        .collect();
    intern_interfaces(&mut instances);
    number_rules(&draft, &mut instances, sink);
    for (i, d) in instances
        .iter_mut()
        .zip(&draft.instances)
        .filter(|(i, _)| i.priority == 255)
    {
        tracking::unweight(i, d, tracking::Unweighted::AddressOwner, sink);
    }
    duplicate_vrids(&draft, &instances, sink);
    let by_name: ByName<'_> = draft
        .instances
        .iter()
        .enumerate()
        .map(|(k, d)| (d.name.as_str(), k))
        .collect();
    debug_assert_eq!(by_name.len(), draft.instances.len(), "instance names are unique");
    let sync_groups = sync_groups(&draft, &by_name, &mut instances, &env, sink);
    let used = tracking::used(&instances, |i| &i.track_scripts);
    for s in scripts.iter().filter(|s| !used.contains(s.name.as_str())) {
        if let Some(d) = draft.scripts.iter().find(|d| d.name == s.name) {
            sink.warning(
                &d.at,
                format!(
                    "vrrp_script {} is not used by any vrrp_instance or vrrp_sync_group",
                    s.name
                ),
            );
        }
    }
    let mut scripts = scripts;
    scripts.retain(|s| used.contains(s.name.as_str()));
    let track_files = unused(
        "track_file",
        &draft.track_files,
        |f| &f.name,
        &tracking::used(&instances, |i| &i.track_files),
        sink,
    );
    let track_processes = unused(
        "vrrp_track_process",
        &draft.track_processes,
        |p| &p.name,
        &tracking::used(&instances, |i| &i.track_processes),
        sink,
    );
    // Static addresses need their interface; static rules are numbered as
    // keepalived numbers rules without a preference.
    let static_addresses = draft
        .static_addresses
        .iter()
        .filter(|a| {
            let named = a.v.dev.is_some();
            if !named {
                sink.error(&a.at, format!("static_ipaddress {}: needs 'dev IF'", a.v.cidr()));
            }
            named
        })
        .map(|a| a.v.clone())
        .collect();
    let static_rules = numbered_rules(&draft.static_rules, &mut [16384, 16384], sink);
    let g = &draft.global;
    if g.notification_email.is_empty() || g.smtp_server.is_none() {
        let alerting = instances
            .iter()
            .filter(|i| i.smtp_alert)
            .map(|i| {
                (
                    format!("vrrp_instance {}", i.name),
                    draft.instances.iter().find(|d| *d.name == *i.name).map(|d| &d.at),
                )
            })
            .chain(sync_groups.iter().filter(|s| s.smtp_alert).map(|s| {
                (
                    format!("vrrp_sync_group {}", s.name),
                    draft.sync_groups.iter().find(|d| d.name == s.name).map(|d| &d.at),
                )
            }))
            .find_map(|(who, at)| Some((who, at?)));
        if let Some((who, at)) = alerting {
            sink.note_once(
                "mail",
                at,
                format!("{who}: smtp_alert is on but no mail can be sent without notification_email and smtp_server in global_defs"),
            );
        }
    }
    Config {
        global: draft.global,
        scripts,
        instances,
        sync_groups,
        track_files,
        track_processes,
        garp_groups: draft.garp_groups,
        static_addresses,
        static_routes: draft.static_routes.iter().map(|r| r.v.clone()).collect(),
        static_rules,
    }
}

/// keepalived gives a rule with no preference 16384, then 16383, ... (per
/// family, in file order) and warns that this is probably not what was meant.
fn number_rules(draft: &Draft, instances: &mut [Instance], sink: &mut Sink) {
    let mut next = [16384u32, 16384u32];
    for (d, inst) in draft.instances.iter().zip(instances.iter_mut()) {
        inst.rules = numbered_rules(&d.more().rules, &mut next, sink).into();
    }
}

/// `rules` with their preferences, `next` the next free one per family.
fn numbered_rules(
    rules: &[crate::config::parse::At<(crate::config::model::VirtualRule, bool)>],
    next: &mut [u32; 2],
    sink: &mut Sink,
) -> Vec<crate::config::model::VirtualRule> {
    rules
        .iter()
        .map(|at| {
            let mut rule = at.v.0.clone();
            if !at.v.1 {
                let n = &mut next[usize::from(rule.family == crate::config::model::Family::Ipv6)];
                rule.priority = *n;
                sink.warning(
                    &at.at,
                    format!(
                        "rule has no preference; it gets {}, as in keepalived (this is probably not what you want)",
                        *n
                    ),
                );
                *n = n.saturating_sub(1);
            }
            rule
        })
        .collect()
}

/// The definitions something tracks; the others are reported (keepalived
/// removes them too) and dropped.
fn unused<T: Clone>(
    kind: &str,
    defs: &[crate::config::parse::At<T>],
    name: impl Fn(&T) -> &String,
    used: &BTreeSet<&str>,
    sink: &mut Sink,
) -> Vec<T> {
    let mut out = Vec::new();
    for d in defs {
        if used.contains(name(&d.v).as_str()) {
            out.push(d.v.clone());
        } else {
            sink.warning(
                &d.at,
                format!(
                    "{kind} {} is not used by any vrrp_instance or vrrp_sync_group",
                    name(&d.v)
                ),
            );
        }
    }
    out
}

/// Usable scripts (first definition of each name, with a command), and the names of those
/// that are not usable (already reported).
fn scripts(drafts: &[ScriptDraft]) -> (Vec<VrrpScript>, BTreeSet<String>) {
    let mut out: Vec<VrrpScript> = Vec::new();
    let mut broken = BTreeSet::new();
    for d in drafts {
        if out.iter().any(|s| s.name == d.name) || broken.contains(&d.name) {
            continue;
        }
        let Some(command) = &d.command else {
            broken.insert(d.name.clone());
            continue;
        };
        out.push(VrrpScript {
            name: d.name.clone(),
            command: command.clone(),
            interval_s: d.interval_s,
            timeout_s: d.timeout_s.unwrap_or(d.interval_s),
            weight: d.weight,
            weight_reverse: d.weight_reverse,
            rise: d.rise,
            fall: d.fall,
            user: d.user.clone(),
            init_fail: d.init_fail,
        });
    }
    (out, broken)
}

/// Two instances may not share a VRID on the same interface and family: they would answer
/// each other's adverts. Multicast instances conflict outright; unicast ones when they
/// share a peer (keepalived's rule). Different multicast/unicast modes do not meet.
fn duplicate_vrids(draft: &Draft, instances: &[Instance], sink: &mut Sink) {
    // The earlier instances by what must differ (a map, not a search of
    // the list: quadratic at 16,000 instances).
    let mut seen: HashMap<_, Vec<&Instance>> = HashMap::new();
    for (later_index, later) in instances.iter().enumerate() {
        if later.vrid == 0 {
            continue;
        }
        let key = (
            later.vrid,
            later.interface.as_deref(),
            later.family,
            later.is_unicast(),
        );
        let same = seen.entry(key).or_default();
        let earlier = same.iter().copied().find(|e| {
            !later.is_unicast()
                || e.unicast
                    .peers
                    .iter()
                    .any(|p| later.unicast.peers.iter().any(|q| q.addr == p.addr))
        });
        same.push(later);
        let Some(earlier) = earlier else { continue };
        let d = &draft.instances[later_index];
        let at = d.vrid.as_ref().map_or(&d.at, |v| &v.at);
        let interface = later.interface.as_deref().unwrap_or("(no interface)");
        let how = if later.is_unicast() {
            " and a unicast peer"
        } else {
            ""
        };
        sink.error(
            at,
            format!(
                "{} and {} both use VRID {} with {} on interface {interface}{how}; VRIDs must differ there",
                earlier.name,
                later.name,
                later.vrid,
                later.family.name()
            ),
        );
    }
}

fn sync_groups(
    draft: &Draft,
    by_name: &ByName<'_>,
    instances: &mut [Instance],
    env: &Env<'_>,
    sink: &mut Sink,
) -> Vec<SyncGroup> {
    let mut out = Vec::new();
    for d in &draft.sync_groups {
        let name = &d.name;
        let members = match &d.group {
            Some(m) if !m.is_empty() => m,
            _ => {
                sink.warning(
                    &d.at,
                    format!("vrrp_sync_group {name} has no group {{ }} of instances; ignored"),
                );
                continue;
            }
        };
        let mut group_members = Vec::new();
        // Indices of the members, in group order.
        let mut member_at: Vec<usize> = Vec::new();
        for m in members {
            let Some(&k) = by_name.get(m.v.as_str()) else {
                sink.error(
                    &m.at,
                    format!("vrrp_sync_group {name}: no vrrp_instance named {}", m.v),
                );
                continue;
            };
            let instance = &mut instances[k];
            if let Some(other) = &instance.sync_group {
                sink.error(
                    &m.at,
                    format!("vrrp_sync_group {name}: {} is already in vrrp_sync_group {other}; an instance has one group", m.v),
                );
                continue;
            }
            instance.sync_group = Some(name.as_str().into());
            if !d.tracking_weight && instance.priority != 255 {
                let own: &InstanceDraft = &draft.instances[k];
                tracking::unweight(instance, own, tracking::Unweighted::SyncGroup(name), sink);
            }
            group_members.push(m.v.clone());
            member_at.push(k);
        }
        if group_members.len() == 1 {
            sink.warning(
                &d.at,
                format!("vrrp_sync_group {name} has only one instance; this is probably not what you want"),
            );
        }
        let owners = member_at
            .iter()
            .filter(|&&k| instances[k].priority == 255)
            .count();
        if owners > 0 && owners < group_members.len() {
            sink.error(
                &d.at,
                format!("vrrp_sync_group {name} mixes address owners (priority 255) and other instances; this cannot work"),
            );
        }
        let any_owner = owners > 0;
        let owner = format!("vrrp_sync_group {name}");
        let refs = |kind, tracks, sink: &mut Sink| tracking::refs(&owner, kind, tracks, env, any_owner, sink);
        let group = SyncGroup {
            name: name.clone(),
            instances: group_members,
            notify: d.notify.clone(),
            track_scripts: refs(tracking::Kind::Script, &d.track_scripts, sink),
            track_interfaces: tracking::interfaces(&owner, &d.track_interfaces, any_owner, sink),
            track_files: refs(tracking::Kind::File, &d.track_files, sink),
            track_processes: refs(tracking::Kind::Process, &d.track_processes, sink),
            tracking_weight: d.tracking_weight,
            smtp_alert: d
                .smtp_alert
                .or(draft.global.smtp_alert_vrrp)
                .or(draft.global.smtp_alert)
                .unwrap_or(false),
            notify_priority_changes: d.notify_priority_changes,
        };
        // A member's notify_priority_changes defaults to the group's.
        if let Some(on) = d.notify_priority_changes {
            for &k in &member_at {
                if draft.instances[k].more().notify_priority_changes.is_none() {
                    instances[k].notify_priority_changes = on;
                }
            }
        }
        for &k in &member_at {
            tracking::add_group_tracking(&group, &mut instances[k]);
        }
        out.push(group);
    }
    out
}
