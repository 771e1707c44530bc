//! keepalived's tracking policy, pure: what scripts and interfaces (and,
//! later, files and processes) say about an instance becomes its effective
//! priority and, perhaps, a FAULT with its reason; a `vrrp_sync_group` is in
//! FAULT while any member is. The engine gathers the inputs and applies the
//! verdicts; the rules live here, golden-tested below against what
//! keepalived 2.2.7 does (`vrrp_track.c`, and `tests/tests/keepalived_parity.rs`
//! which runs both on the same stimuli).

use super::fsm::PRIORITY_OWNER;

/// What is tracked, for the reason of a FAULT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object<'a> {
    Script(&'a str),
    Interface(&'a str),
}

impl Object<'_> {
    /// Why a FAULT: the object is in its failing condition.
    fn failing(self) -> String {
        match self {
            Self::Script(name) => format!("script {name} failed"),
            Self::Interface(name) => format!("interface {name} down"),
        }
    }
}

/// One tracked object of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracked<'a> {
    pub object: Object<'a>,
    /// Up (the script succeeds, the interface is up); `None` before a
    /// script's first result, which counts neither way (keepalived's INIT).
    pub up: Option<bool>,
    pub weight: i16,
    pub reverse: bool,
}

/// The policy's verdict on one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub priority: u8,
    /// Why the instance must be in FAULT, if it must.
    pub fault: Option<String>,
}

/// keepalived's arithmetic: a positive weight counts while the object is up,
/// a negative one while it is down; `reverse` flips the sign of the
/// adjustment, not the condition. Weight 0 means FAULT while down (with
/// `reverse`: while up). The result is clamped to 1..=254; an address owner
/// (255) keeps 255. `primary` is the instance's own interface and whether it
/// is up, unless `dont_track_primary` leaves it out: down is a FAULT.
pub fn evaluate(base: u8, primary: Option<(&str, bool)>, tracked: &[Tracked<'_>]) -> Verdict {
    let mut delta: i32 = 0;
    let mut fault = None;
    for t in tracked {
        let Some(up) = t.up else { continue };
        let sign = if t.reverse { -1 } else { 1 };
        match t.weight {
            0 if up == t.reverse => fault = Some(t.object.failing()),
            w if w > 0 && up => delta += sign * i32::from(w),
            w if w < 0 && !up => delta += sign * i32::from(w),
            _ => {}
        }
    }
    if let Some((name, false)) = primary {
        fault = Some(Object::Interface(name).failing());
    }
    let priority = if base == PRIORITY_OWNER {
        PRIORITY_OWNER
    } else {
        u8::try_from((i32::from(base) + delta).clamp(1, 254)).unwrap_or(1)
    };
    Verdict { priority, fault }
}

/// One member of the instance set, for the sync-group rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    pub name: &'a str,
    pub group: Option<&'a str>,
    /// Its own FAULT reason (from `evaluate`, or why it waits).
    pub fault: Option<&'a str>,
    /// Still waiting for its interface (not running yet).
    pub waiting: bool,
}

/// Each member's FAULT: its own, else its group's (keepalived: a sync group
/// is in FAULT while any member is, a member waiting for its interface
/// included). Running members are named before waiting ones.
pub fn with_groups(members: &[Member<'_>]) -> Vec<Option<String>> {
    let group_fault = |group: &str| {
        let faulted = |waiting: bool| {
            members
                .iter()
                .find(|m| m.waiting == waiting && m.group == Some(group) && m.fault.is_some())
        };
        faulted(false)
            .map(|m| (m, "faulted"))
            .or_else(|| faulted(true).map(|m| (m, "waiting")))
            .map(|(m, how)| {
                format!(
                    "sync group {group}: {} {how} ({})",
                    m.name,
                    m.fault.unwrap_or_default()
                )
            })
    };
    members
        .iter()
        .map(|m| match m.fault {
            Some(own) => Some(own.to_owned()),
            None => m.group.and_then(group_fault),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(up: Option<bool>, weight: i16, reverse: bool) -> Tracked<'static> {
        Tracked {
            object: Object::Script("chk"),
            up,
            weight,
            reverse,
        }
    }

    /// (base, tracked, primary up, expected priority, expected fault).
    /// The weight rows are the ones `keepalived_parity.rs` checks on the wire
    /// against keepalived 2.2.7.
    #[test]
    fn golden_weights_and_faults() {
        let fail = Some("script chk failed");
        let cases: &[(u8, Tracked<'static>, bool, u8, Option<&str>)] = &[
            // Positive weight: added while up.
            (100, script(Some(true), 20, false), true, 120, None),
            (100, script(Some(false), 20, false), true, 100, None),
            // Negative weight: subtracted while down.
            (100, script(Some(false), -30, false), true, 70, None),
            (100, script(Some(true), -30, false), true, 100, None),
            // reverse flips the sign, not the condition.
            (100, script(Some(true), 20, true), true, 80, None),
            (100, script(Some(false), -30, true), true, 130, None),
            // Weight 0: FAULT while down; with reverse, while up.
            (100, script(Some(false), 0, false), true, 100, fail),
            (100, script(Some(true), 0, false), true, 100, None),
            (100, script(Some(true), 0, true), true, 100, fail),
            // No result yet: neither way.
            (100, script(None, 0, false), true, 100, None),
            (100, script(None, -30, false), true, 100, None),
            // Clamped to 1..=254; the owner keeps 255.
            (250, script(Some(true), 20, false), true, 254, None),
            (10, script(Some(false), -50, false), true, 1, None),
            (255, script(Some(false), -50, false), true, 255, None),
            // The primary interface down is a FAULT.
            (
                100,
                script(Some(true), 20, false),
                false,
                120,
                Some("interface eth0 down"),
            ),
        ];
        for (i, (base, t, primary_up, priority, fault)) in cases.iter().enumerate() {
            let v = evaluate(*base, Some(("eth0", *primary_up)), &[*t]);
            assert_eq!(v.priority, *priority, "case {i}: {t:?}");
            assert_eq!(v.fault.as_deref(), *fault, "case {i}: {t:?}");
        }
    }

    #[test]
    fn weights_add_up_and_dont_track_primary_ignores_the_link() {
        let tracked = [
            script(Some(true), 10, false),
            Tracked {
                object: Object::Interface("eth1"),
                up: Some(false),
                weight: -25,
                reverse: false,
            },
        ];
        let v = evaluate(100, None, &tracked);
        assert_eq!(
            v,
            Verdict {
                priority: 85,
                fault: None
            }
        );
        let down = Tracked {
            object: Object::Interface("eth1"),
            up: Some(false),
            weight: 0,
            reverse: false,
        };
        assert_eq!(
            evaluate(100, None, &[down]).fault.as_deref(),
            Some("interface eth1 down")
        );
    }

    #[test]
    fn a_sync_group_faults_with_any_member_running_or_waiting() {
        let m = |name, group, fault, waiting| Member {
            name,
            group,
            fault,
            waiting,
        };
        let faults = with_groups(&[
            m("a", Some("G"), None, false),
            m("b", Some("G"), Some("script chk failed"), false),
            m("c", None, None, false),
            m("d", Some("H"), None, false),
            m("e", Some("H"), Some("no interface eth9"), true),
        ]);
        assert_eq!(
            faults,
            [
                Some("sync group G: b faulted (script chk failed)".to_owned()),
                Some("script chk failed".to_owned()),
                None,
                Some("sync group H: e waiting (no interface eth9)".to_owned()),
                Some("no interface eth9".to_owned()),
            ]
        );
    }
}
