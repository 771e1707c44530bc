//! Notification settings: notify scripts and FIFOs.

use serde::{Deserialize, Serialize};

use super::RunAs;

/// A notify FIFO: every state change is written to it as a line
/// (`INSTANCE "VI_1" MASTER 100`); created when missing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fifo {
    pub path: String,
    /// Who owns a FIFO xvrrpd creates. Default: the script user.
    pub owner: Option<RunAs>,
    /// `*notify_fifo_script CMD [USER [GROUP]]`: started with the FIFO's path
    /// as its last argument; it reads the lines.
    pub script: Option<NotifyScript>,
}

/// A notify script: `notify_master "CMD ARGS" [USER [GROUP]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyScript {
    /// The command line, split like a shell does.
    pub command: Vec<String>,
    /// Default: global `script_user`.
    pub user: Option<RunAs>,
}

/// Scripts run on state changes. Boxed: every instance has this, few set
/// any, and seven scripts inline made each instance 450 bytes larger.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    /// `notify_master`.
    pub master: Option<Box<NotifyScript>>,
    /// `notify_backup`.
    pub backup: Option<Box<NotifyScript>>,
    /// `notify_fault`.
    pub fault: Option<Box<NotifyScript>>,
    /// `notify_stop`.
    pub stop: Option<Box<NotifyScript>>,
    /// `notify`: run on every change with `TYPE NAME STATE PRIORITY` appended.
    pub any: Option<Box<NotifyScript>>,
    /// `notify_deleted SCRIPT` (instances).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<Box<NotifyScript>>,
    /// `notify_master_rx_lower_pri SCRIPT` (instances): a master heard a
    /// lower priority advert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_rx_lower_pri: Option<Box<NotifyScript>>,
}

impl Notify {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}
