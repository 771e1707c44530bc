//! What keepalived tells the outside world on a state change, in its
//! formats (keepalived 2.2.7 `vrrp/vrrp_notify.c`, measured in the lab: see
//! `tests/tests/tracking_notify.rs`): the line written to the notify FIFOs,
//! the arguments of the generic `notify` script, and the `smtp_alert` mail.
//! Pure here; [`fifo`] and [`mail`] deliver on the side thread.

pub mod fifo;
pub mod mail;

/// Who changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Instance,
    Group,
}

impl Who {
    fn word(self) -> &'static str {
        match self {
            Self::Instance => "INSTANCE",
            Self::Group => "GROUP",
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    Master,
    Backup,
    Fault,
    Stop,
    /// An instance removed by a reload, with `notify_deleted`.
    Deleted,
    /// A master heard a lower priority advert (FIFO only).
    MasterRxLowerPri,
    /// The effective priority changed, with `notify_priority_changes`
    /// (FIFO only): `MASTER_PRIORITY` as master, else `BACKUP_PRIORITY`.
    MasterPriority,
    BackupPriority,
}

impl What {
    pub fn word(self) -> &'static str {
        match self {
            Self::Master => "MASTER",
            Self::Backup => "BACKUP",
            Self::Fault => "FAULT",
            Self::Stop => "STOP",
            Self::Deleted => "DELETED",
            Self::MasterRxLowerPri => "MASTER_RX_LOWER_PRI",
            Self::MasterPriority => "MASTER_PRIORITY",
            Self::BackupPriority => "BACKUP_PRIORITY",
        }
    }

    /// A state change (scripts and mail), not just a FIFO line.
    pub fn is_state(self) -> bool {
        matches!(
            self,
            Self::Master | Self::Backup | Self::Fault | Self::Stop | Self::Deleted
        )
    }
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<'a> {
    pub who: Who,
    pub name: &'a str,
    pub what: What,
    /// The effective priority; a group's is always 0.
    pub priority: u8,
}

impl Event<'_> {
    /// The FIFO line: `INSTANCE "VI_1" MASTER 100`.
    pub fn fifo_line(&self) -> String {
        let priority = if self.who == Who::Group { 0 } else { self.priority };
        format!(
            "{} \"{}\" {} {priority}\n",
            self.who.word(),
            self.name,
            self.what.word()
        )
    }

    /// What the generic `notify` script gets after its own words:
    /// `INSTANCE VI_1 MASTER 100`; nothing for FIFO-only events.
    pub fn script_args(&self) -> Option<Vec<String>> {
        let priority = if self.who == Who::Group { 0 } else { self.priority };
        self.what.is_state().then(|| {
            vec![
                self.who.word().to_owned(),
                self.name.to_owned(),
                self.what.word().to_owned(),
                priority.to_string(),
            ]
        })
    }

    /// The `smtp_alert` subject and body; nothing for FIFO-only events.
    pub fn mail(&self, router_id: &str) -> Option<(String, String)> {
        let (kind, subject, body) = match (self.who, self.what) {
            (Who::Instance, What::Master) => (
                "Instance",
                "Entering MASTER state",
                "=> VRRP Instance is now owning VRRP VIPs <=",
            ),
            (Who::Instance, What::Backup) => (
                "Instance",
                "Entering BACKUP state",
                "=> VRRP Instance is no longer owning VRRP VIPs <=",
            ),
            (Who::Instance, What::Fault) => (
                "Instance",
                "Entering FAULT state",
                "=> VRRP Instance is no longer owning VRRP VIPs <=",
            ),
            (Who::Instance, What::Stop) => ("Instance", "Stopping", "=> VRRP Instance stopping <="),
            (Who::Instance, What::Deleted) => ("Instance", "Deleted", "=> VRRP Deleted at reload <="),
            (Who::Group, What::Master) => (
                "Group",
                "Entering MASTER state",
                "=> All VRRP group instances are now in MASTER state <=",
            ),
            (Who::Group, What::Backup) => (
                "Group",
                "Entering BACKUP state",
                "=> All VRRP group instances are now in BACKUP state <=",
            ),
            (Who::Group, What::Fault) => (
                "Group",
                "Entering FAULT state",
                "=> All VRRP group instances are now in FAULT state <=",
            ),
            (Who::Group, What::Stop) => (
                "Group",
                "Stopping",
                "=> All VRRP group instances are now stopping <=",
            ),
            _ => return None,
        };
        Some((
            format!("[{router_id}] VRRP {kind} {} - {subject}", self.name),
            body.to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines and mails as keepalived 2.2.7 wrote them in the lab
    /// (`INSTANCE "VI_1" FAULT 150`: a fault keeps the effective priority;
    /// groups always say 0).
    #[test]
    fn golden_formats() {
        let e = |who, name, what, priority| Event {
            who,
            name,
            what,
            priority,
        };
        assert_eq!(
            e(Who::Instance, "VI_1", What::Master, 150).fifo_line(),
            "INSTANCE \"VI_1\" MASTER 150\n"
        );
        assert_eq!(
            e(Who::Instance, "VI_1", What::Fault, 150).fifo_line(),
            "INSTANCE \"VI_1\" FAULT 150\n"
        );
        assert_eq!(
            e(Who::Group, "G1", What::Backup, 90).fifo_line(),
            "GROUP \"G1\" BACKUP 0\n"
        );
        assert_eq!(
            e(Who::Instance, "VI_1", What::MasterRxLowerPri, 150).fifo_line(),
            "INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 150\n"
        );
        assert_eq!(
            e(Who::Instance, "VI_1", What::BackupPriority, 90).fifo_line(),
            "INSTANCE \"VI_1\" BACKUP_PRIORITY 90\n"
        );
        assert_eq!(
            e(Who::Instance, "VI_3", What::Deleted, 150).script_args(),
            Some(vec![
                "INSTANCE".into(),
                "VI_3".into(),
                "DELETED".into(),
                "150".into()
            ])
        );
        assert_eq!(
            e(Who::Instance, "VI_1", What::MasterPriority, 90).script_args(),
            None
        );
        assert_eq!(
            e(Who::Group, "G1", What::Master, 0).script_args(),
            Some(vec!["GROUP".into(), "G1".into(), "MASTER".into(), "0".into()])
        );
        assert_eq!(
            e(Who::Instance, "VI_4", What::Fault, 150).mail("k18n_A"),
            Some((
                "[k18n_A] VRRP Instance VI_4 - Entering FAULT state".to_owned(),
                "=> VRRP Instance is no longer owning VRRP VIPs <=".to_owned()
            ))
        );
        assert_eq!(
            e(Who::Group, "G1", What::Master, 0).mail("r").map(|m| m.1),
            Some("=> All VRRP group instances are now in MASTER state <=".to_owned())
        );
        assert_eq!(
            e(Who::Instance, "VI_1", What::MasterRxLowerPri, 1).mail("r"),
            None
        );
    }
}
