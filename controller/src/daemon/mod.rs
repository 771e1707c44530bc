//! `xvrrpd run`: the daemon. One thread, one event loop: timers (one heap for
//! every instance), the XDP ring buffer or the receive sockets, health-check
//! results, link polling, signals, and the control socket.

pub mod announce;
pub mod engine;
pub mod persist;
pub mod privileges;
pub mod runtime;
pub mod sched;
pub mod serve;
pub mod status;
pub mod timers;

pub use runtime::{ModeChoice, RunOptions, run};
