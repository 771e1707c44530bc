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
    /// No script at all.
    pub const NONE: Notify = Notify {
        master: None,
        backup: None,
        fault: None,
        stop: None,
        any: None,
        deleted: None,
        master_rx_lower_pri: None,
    };

    /// Boxed, or `None` when no script is set: an instance keeps 8 bytes
    /// for the scripts most instances do not have.
    pub fn boxed(self) -> Option<Box<Notify>> {
        (!self.is_empty()).then(|| Box::new(self))
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::NONE
    }
}

/// Serde for an instance's `Option<Box<Notify>>`: the JSON form is the
/// whole `Notify` either way (all `null` for none), as before it was boxed.
pub(super) mod boxed {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Notify;

    #[allow(clippy::ref_option)] // serde's `with` signature
    pub fn serialize<S: Serializer>(n: &Option<Box<Notify>>, s: S) -> Result<S::Ok, S::Error> {
        n.as_deref().unwrap_or(&Notify::NONE).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<Notify>>, D::Error> {
        Ok(Notify::deserialize(d)?.boxed())
    }
}
