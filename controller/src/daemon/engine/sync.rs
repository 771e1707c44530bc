//! `vrrp_sync_group`: members move together (keepalived `vrrp_sync.c`).

use super::{Engine, Event, Micros, State, Timer, debug};

impl Engine {
    /// keepalived's `vrrp_sync_can_goto_master`: a backup in a sync group
    /// that is not master takes over only when every other member wants to
    /// too (its own Master_Down_Timer ran out) or is master already;
    /// otherwise it waits another Master_Down_Interval ("prefer backup state
    /// to avoid thrashing").
    pub(super) fn group_lets_take_over(&mut self, idx: usize, now: Micros) -> bool {
        let slot = &self.instances[idx];
        let Some(group) = slot.cfg.sync_group.as_deref() else {
            return true;
        };
        if slot.fsm.vars.state != State::Backup || self.group_states.get(group) == Some(&State::Master) {
            return true;
        }
        self.want_master.insert(idx);
        let all_want = self
            .instances
            .iter()
            .filter(|(i, s)| *i != idx && s.cfg.sync_group.as_deref() == Some(group))
            .all(|(i, s)| s.fsm.vars.state == State::Master || self.want_master.contains(&i));
        if !all_want {
            let at = now + self.instances[idx].fsm.master_down_us();
            self.timers.arm(idx, Timer::MasterDown, at);
            debug!(instance = %self.instances[idx].cfg.name, group, "sync group: waiting for the other members to want MASTER");
        }
        all_want
    }

    /// keepalived's sync group rule (`vrrp_sync.c`): when one member becomes
    /// master, the backups follow; when a master becomes backup, the other
    /// masters follow.
    pub(super) fn sync_followers(&self, idx: usize, from: State, to: State) -> Vec<(usize, Event, String)> {
        let Some(group) = &self.instances[idx].cfg.sync_group else {
            return Vec::new();
        };
        let name = &self.instances[idx].cfg.name;
        self.instances
            .iter()
            .filter(|(i, s)| *i != idx && s.cfg.sync_group.as_ref() == Some(group))
            .filter_map(|(i, s)| {
                let why = format!("sync group {group}: {name} went {}", to.name());
                match (from, to, s.fsm.vars.state) {
                    (_, State::Master, State::Backup) => Some((i, Event::Timer(Timer::MasterDown), why)),
                    (State::Master, State::Backup, State::Master) => Some((i, Event::SyncBackup, why)),
                    // FAULT spreads through `on_health_change`, which also lifts it.
                    _ => None,
                }
            })
            .collect()
    }
}
