//! `cargo xtask demo`: builds what the demo needs, then runs it. The story
//! itself (the classic nginx pair on a namespace lab) lives in
//! `tests/src/bin/demo.rs`, next to the lab it shares with the integration
//! tests; xtask stays free of the controller so it builds before setup.

use anyhow::Result;

use crate::util::{cargo, step};

pub fn run() -> Result<()> {
    crate::setup::ensure()?;
    step("building xvrrpd and the demo");
    cargo(&["build", "--package", "xvrrpd"]).status_ok()?;
    cargo(&["build", "--package", "xvrrp-tests", "--bin", "demo"]).status_ok()?;
    step("demo");
    cargo(&["run", "--quiet", "--package", "xvrrp-tests", "--bin", "demo"]).status_ok()
}
