//! Tracked objects that are not scripts, watched on the side thread:
//! `track_file` (inotify) and `vrrp_track_process` (the kernel's process
//! events, /proc as the fallback). Like health checks they report changes
//! over a channel as [`TrackEvent`]s; the pure policy in `vrrp::track` turns
//! what they say into priorities and faults.

pub mod file;
pub mod process;

/// What a tracked object says now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackEvent {
    /// A `vrrp_script` changed its verdict (after `rise`/`fall`).
    Script { name: String, ok: bool },
    /// A `track_file`'s number (0 for a missing file).
    File { name: String, value: i64 },
    /// A `vrrp_track_process` has its quorum, or lost it.
    Process { name: String, up: bool },
}
