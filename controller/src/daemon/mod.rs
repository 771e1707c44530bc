//! `xvrrpd run`: the daemon. The protocol thread runs one event loop: timers
//! (one heap for every instance), the XDP ring buffer or the receive sockets,
//! health-check verdicts, link changes and signals. Status and metrics are
//! served on a thread of their own (`serve`); rtnetlink, scripts and
//! `state.json` run on the side thread (`side`), never on the protocol path.

pub mod announce;
pub mod dump;
pub mod engine;
pub mod event_loop;
pub mod inbox;
pub mod instances;
pub mod persist;
pub mod privileges;
pub mod runtime;
pub mod sched;
pub mod serve;
pub mod side;
pub mod startup;
pub mod status;
pub mod timers;

pub use runtime::{ModeChoice, RunOptions, VmacChoice, run};
