//! Helpers for xvrrp's integration tests: network namespaces that clean up
//! after themselves, raw frame I/O, and the root check.
//!
//! The tests themselves live in `tests/tests/*.rs`; the demo and the benchmark
//! are binaries in `src/bin/` (the benchmark's cases in `bench/`).

// The benchmark and the labs do arithmetic on small, known ranges (ports,
// frame lengths, counts, milliseconds): a checked conversion at each would
// hide the measurement code.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "bench and lab arithmetic on small known ranges"
)]

pub mod bench;
pub mod cases;
pub mod classic;
pub mod daemon;
pub mod frames;
pub mod frr;
pub mod lab;
pub mod netns;
pub mod rng;
pub mod soak;
pub mod speaker;

/// True when the test may create namespaces and load BPF programs. Otherwise it
/// prints the reason, and the caller returns early.
pub fn have_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        true
    } else {
        println!("{test}: skipping: needs root (network namespaces, XDP)");
        false
    }
}
