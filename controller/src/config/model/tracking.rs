//! Tracked objects and gratuitous pacing groups: the `track_*` lines of
//! instances and sync groups, and the top-level `track_file`,
//! `vrrp_track_process` and `garp_group` blocks.

use serde::{Deserialize, Serialize};

/// A line of `track_script { }`, `track_file { }` or `track_process { }`:
/// `NAME [weight W [reverse|noreverse]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackRef {
    pub name: String,
    /// Scripts and processes -253..253, files -254..254; default: the
    /// definition's weight. 0 means failure (a file: a non-zero value) puts
    /// the instance in FAULT.
    pub weight: i16,
    /// Default: the definition's `weight ... reverse`.
    pub reverse: bool,
}

/// `track_file NAME { }` (`vrrp_track_file`, its older name): a number in a
/// file, multiplied by the weight, moves the priority (keepalived's
/// `trackers/track_file.c`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackFileDef {
    pub name: String,
    /// `file PATH`. Required.
    pub path: String,
    /// `weight W [reverse]`, -254..254. Default 1.
    pub weight: i16,
    pub reverse: bool,
    /// `init_file [VALUE] [overwrite]`: write VALUE (default 0) at start when the
    /// file is missing, or always with `overwrite` (not on a reload).
    pub init: Option<FileInit>,
}

/// `vrrp_track_process NAME { }`: up while the number of matching processes
/// is within `quorum..=quorum_max` (keepalived's `track_process.c`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackProcessDef {
    pub name: String,
    /// `process NAME [PARAM ...]`: the program (the kernel's 15-character
    /// `comm`, or with `full_command` the command line's first word) and,
    /// when given, its parameters.
    pub process: String,
    pub params: Vec<String>,
    /// `param_match [initial|partial]`; parameters given mean exact.
    pub param_match: ParamMatch,
    /// `full_command`: match argv\[0\] instead of `comm` (implied by
    /// parameters or `param_match`).
    pub full_command: bool,
    /// `weight W [reverse]`, -254..254. Default 0 (no quorum: FAULT).
    pub weight: i16,
    pub reverse: bool,
    /// `quorum N` 1..65535 (default 1), `quorum_max N` (default unlimited;
    /// 0 means the process must not run).
    pub quorum: u32,
    pub quorum_max: u32,
    /// `fork_delay S` / `terminate_delay S` / `delay S` (both): how long a
    /// count that grew / shrank must last before it counts, in ms. Default 0.
    pub fork_delay_ms: u32,
    pub terminate_delay_ms: u32,
}

/// `param_match`, as keepalived's `check_params` compares the command
/// line's parameters with the configured ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamMatch {
    /// No parameters and no `param_match`: parameters are not looked at.
    None,
    /// The same parameters (none, when none are configured).
    Exact,
    /// The configured parameters come first; the last may be a prefix of
    /// the process's.
    Initial,
    /// The configured parameters come first, whole.
    Partial,
}

/// `init_file [VALUE] [overwrite]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInit {
    pub value: i32,
    pub overwrite: bool,
}

/// `garp_group { garp_interval S  gna_interval S  interface IF | interfaces { IF ... } }`:
/// the gaps between gratuitous ARPs (NAs) on these interfaces, in place of the
/// global `vrrp_garp_interval` / `vrrp_gna_interval` (one left unset means no
/// gap there, as in keepalived).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GarpGroup {
    /// `garp_interval S` (decimal, 0..2147.483647), in µs.
    pub garp_interval_us: Option<u64>,
    /// `gna_interval S`, in µs.
    pub gna_interval_us: Option<u64>,
    pub interfaces: Vec<String>,
    /// `interfaces { }`: the gap holds across all of them together (they
    /// share one uplink, say); `interface IF` lines pace each on its own.
    pub shared: bool,
}
