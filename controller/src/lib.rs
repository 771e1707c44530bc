//! xvrrpd: the xvrrp controller. The binary (`src/main.rs`) is a thin CLI over
//! this library, which the integration tests (`tests/`) use as well.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod datapath;
pub mod files;
pub mod net;
pub mod notify;
pub mod scripts;
pub mod trackers;
pub mod vrrp;
