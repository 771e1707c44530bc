//! BPF map names. The kernel program names its statics after these (aya's
//! `#[map]` takes the static's name), and the controller looks maps up by
//! these constants; a test in the controller checks every name is present in
//! the compiled object, so the two sides cannot drift apart silently.

/// Per-CPU array of `u64`, one slot per [`crate::stats`] constant.
/// Written by: the kernel program only. Read by: the controller (summed over CPUs).
pub const STATS: &str = "XVRRP_STATS";

/// Every map the kernel program must define.
pub const ALL: &[&str] = &[STATS];
