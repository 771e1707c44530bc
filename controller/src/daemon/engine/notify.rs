//! Telling the outside world: notify scripts, the notify FIFOs and
//! `smtp_alert` mail, for instances and sync groups, in keepalived's formats
//! (`crate::notify`). Everything is handed to the side thread.

use super::{Engine, Job, Notify, State, info};
use crate::{
    config::model::{Instance as InstanceCfg, Notify as NotifyCfg, SyncGroup},
    notify::{Event, What, Who, mail::Settings},
};

impl From<Notify> for What {
    fn from(n: Notify) -> Self {
        match n {
            Notify::Master => Self::Master,
            Notify::Backup => Self::Backup,
            Notify::Fault => Self::Fault,
            Notify::Stop => Self::Stop,
        }
    }
}

impl Engine {
    pub(super) fn notify(&self, idx: usize, which: Notify) {
        let slot = &self.instances[idx];
        let what = match self.deleting {
            Some((i, instead)) if i == idx && which == Notify::Stop => instead,
            _ => Some(which.into()),
        };
        if let Some(what) = what {
            self.notify_cfg(&slot.cfg, slot.fsm.vars.priority, what);
        }
    }

    /// An instance's state change (or FIFO-only event), with its effective
    /// priority.
    pub(super) fn notify_cfg(&self, cfg: &InstanceCfg, priority: u8, what: What) {
        let event = Event {
            who: Who::Instance,
            name: &cfg.name,
            what,
            priority,
        };
        self.tell(&event, cfg.notify(), cfg.smtp_alert);
    }

    pub(super) fn tell_group(&self, g: &SyncGroup, what: What) {
        let event = Event {
            who: Who::Group,
            name: &g.name,
            what,
            priority: 0,
        };
        self.tell(&event, &g.notify, g.smtp_alert);
    }

    /// The state's script, then the generic `notify` script (keepalived's
    /// arguments `TYPE NAME STATE PRIORITY`), the FIFO line, the mail.
    fn tell(&self, event: &Event<'_>, notify: &NotifyCfg, smtp_alert: bool) {
        let user = self.script_user();
        let own = match event.what {
            What::Master => &notify.master,
            What::Backup => &notify.backup,
            What::Fault => &notify.fault,
            What::Stop => &notify.stop,
            What::Deleted => &notify.deleted,
            What::MasterRxLowerPri => &notify.master_rx_lower_pri,
            What::MasterPriority | What::BackupPriority => &None,
        };
        if let Some(s) = own {
            self.side.send(Job::Notify {
                script: s.clone(),
                args: Vec::new(),
                user: user.clone(),
            });
        }
        if let (Some(s), Some(args)) = (&notify.any, event.script_args()) {
            self.side.send(Job::Notify {
                script: s.clone(),
                args,
                user,
            });
        }
        let g = &self.config.global;
        if g.notify_fifo.is_some() || g.vrrp_notify_fifo.is_some() {
            self.side.send(Job::FifoLine(event.fifo_line()));
        }
        if smtp_alert && !(g.no_email_faults && event.what == What::Fault) {
            let router_id = g.router_id.clone().unwrap_or_else(crate::notify::mail::host_name);
            if let (Some(settings), Some((subject, body))) =
                (Settings::from_global(g), event.mail(&router_id))
            {
                self.side.send(Job::Mail {
                    settings: Box::new(settings),
                    subject,
                    body,
                });
            }
        }
    }

    /// keepalived's sync group states (vrrp_sync.c): the group is in the state
    /// its last moving member went to (MASTER, BACKUP or FAULT; the others
    /// follow), and it is told once per change of that state.
    pub(super) fn group_moved(&mut self, group: &str, to: State) {
        let what = match to {
            State::Master => What::Master,
            State::Backup => What::Backup,
            State::Fault => What::Fault,
            State::Initialize => return,
        };
        if self.group_states.insert(group.to_owned(), to) == Some(to) {
            return;
        }
        info!(group, state = to.name(), "sync group state");
        if let Some(g) = self.config.sync_groups.iter().find(|g| g.name == group) {
            self.tell_group(g, what);
        }
    }

    /// `notify_priority_changes`: the new effective priority, as a FIFO line.
    pub(super) fn priority_changed(&self, idx: usize) {
        let slot = &self.instances[idx];
        if !slot.cfg.notify_priority_changes {
            return;
        }
        let what = if slot.fsm.vars.state == State::Master {
            What::MasterPriority
        } else {
            What::BackupPriority
        };
        self.notify_cfg(&slot.cfg, slot.fsm.vars.priority, what);
    }

    /// A master heard a lower priority advert: `notify_master_rx_lower_pri`
    /// and a FIFO line. keepalived tells every one; here at most one a
    /// second per instance, so a flood of adverts is not a flood of
    /// processes.
    pub(super) fn heard_lower(&mut self, idx: usize) {
        let now = super::monotonic_us();
        let last = self.lower_told.entry(idx).or_insert(0);
        if *last != 0 && now.saturating_sub(*last) < 1_000_000 {
            return;
        }
        *last = now;
        let slot = &self.instances[idx];
        self.notify_cfg(&slot.cfg, slot.fsm.vars.priority, What::MasterRxLowerPri);
    }

    /// (Re)opens the notify FIFOs from the global configuration.
    pub fn open_fifos(&self) {
        let g = &self.config.global;
        let fifos: Vec<_> = g.notify_fifo.iter().chain(&g.vrrp_notify_fifo).cloned().collect();
        self.side.send(Job::Fifos {
            fifos,
            user: self.script_user(),
        });
    }
}
