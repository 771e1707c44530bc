//! Most of what the protocol thread's loop hears besides its timer, the data
//! path, the receive sockets and the kernel's notifications, on one channel:
//! signals, the side thread's reports (VIPs done, tracked objects, a reloaded
//! configuration) and status snapshot requests.
//!
//! Why one channel: the loop builds its `select!` afresh on every turn and
//! polls each branch that is not ready, which registers a waker in each
//! source, likely cache-cold after a second asleep. An idle master wakes
//! once per advert; with the sources forwarded by small tasks (a task that
//! waits is not polled again until its source wakes it) its wake-ups cost
//! about 6 % less (issue bench-truth's idle cost at N = 1: a mean of 195
//! against 208 µs a second over 8 paired 30 s trials on a VM, 6 of the 8
//! pairs lower; keepalived about 120 in the same trials).
//!
//! The order across sources is not arrival order: a stop is a flag the loop
//! reads first on every turn, the side thread's reports come through one
//! task that takes VIP reports first, and link and address notifications
//! rank before this channel (`event_loop.rs`).

use std::sync::{
    Arc,
    atomic::{AtomicI32, Ordering},
};

use anyhow::Result;
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::{Notify, mpsc},
    task::JoinHandle,
};
use tracing::warn;

use super::{serve::SnapshotRequest, side::Loaded, side::VipsDone};
use crate::trackers::TrackEvent;

/// Messages queued before the loop takes them: a burst beyond this makes the
/// forwarders wait (the side thread's channels are unbounded; only the
/// status thread's request queue is bounded, and it feels the wait).
const DEPTH: usize = 256;

/// The signals the loop answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Term,
    Int,
    Hup,
    /// RLIMIT_RTTIME's soft limit.
    Xcpu,
    /// keepalived's dump signals: DATA, STATS, JSON, STATS_CLEAR.
    Usr1,
    Usr2,
    Json,
    StatsClear,
}

/// One message for the loop.
pub enum Inbox {
    Sig(Sig),
    /// `None`: the side thread is gone (it never should be).
    Vips(Option<VipsDone>),
    Track(TrackEvent),
    /// Boxed: a configuration is large, and every slot of the channel
    /// would be as large.
    Reload(Box<Result<Loaded>>),
    Snapshot(SnapshotRequest),
}

/// keepalived's JSON signal (`keepalived --signum=JSON`).
pub fn sigjson() -> i32 {
    libc::SIGRTMIN() + 2
}

/// keepalived's STATS_CLEAR signal (`keepalived --signum=STATS_CLEAR`).
pub fn sigstats_clear() -> i32 {
    libc::SIGRTMAX() - 1
}

/// Signals whose default action would stop or kill the daemon and that
/// keepalived ignores: logged here, never fatal.
fn other_signals() -> Vec<i32> {
    let mut v = vec![
        libc::SIGQUIT,
        libc::SIGALRM,
        libc::SIGSTKFLT,
        libc::SIGTSTP,
        libc::SIGTTIN,
        libc::SIGTTOU,
        libc::SIGURG,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGWINCH,
        libc::SIGIO,
        libc::SIGPWR,
    ];
    v.extend((libc::SIGRTMIN()..=libc::SIGRTMAX()).filter(|s| *s != sigjson() && *s != sigstats_clear()));
    v
}

/// The loop's end of the channel, and a sender for the forwarders started
/// with the loop. It keeps a sender, so the channel never closes and a
/// forwarder's failed send (`is_err`) cannot happen while it lives.
pub struct Receiver {
    pub rx: mpsc::Receiver<Inbox>,
    tx: mpsc::Sender<Inbox>,
    /// SIGTERM's or SIGINT's number once one came (0: none): the loop looks
    /// at it first on every turn, so a stop never waits behind the queue.
    stop: Arc<AtomicI32>,
    /// Woken with the flag: start-up's waits end early on a stop.
    stop_wake: Arc<Notify>,
    forwarders: Vec<JoinHandle<()>>,
}

impl Receiver {
    /// Registers the signals and starts their forwarders. Called before the
    /// scheduling keywords apply (RLIMIT_RTTIME's soft limit raises SIGXCPU,
    /// by default fatal); a signal that comes before the loop runs waits here.
    pub fn with_signals() -> Result<Self> {
        let (tx, rx) = mpsc::channel(DEPTH);
        let answered = [
            (SignalKind::terminate(), Sig::Term),
            (SignalKind::interrupt(), Sig::Int),
            (SignalKind::hangup(), Sig::Hup),
            (SignalKind::from_raw(libc::SIGXCPU), Sig::Xcpu),
            (SignalKind::user_defined1(), Sig::Usr1),
            (SignalKind::user_defined2(), Sig::Usr2),
            (SignalKind::from_raw(sigjson()), Sig::Json),
            (SignalKind::from_raw(sigstats_clear()), Sig::StatsClear),
        ];
        let stop = Arc::new(AtomicI32::new(0));
        let stop_wake = Arc::new(Notify::new());
        for (kind, sig) in answered {
            // Registered here, before any task runs: a signal from now on is
            // kept by tokio until its forwarder reads it.
            let mut stream = signal(kind)?;
            let tx = tx.clone();
            let stop = stop.clone();
            let stop_wake = stop_wake.clone();
            tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    let num = match sig {
                        Sig::Term => libc::SIGTERM,
                        Sig::Int => libc::SIGINT,
                        _ => 0,
                    };
                    if num != 0 {
                        stop.store(num, Ordering::Relaxed);
                        // A permit is kept when nobody waits yet.
                        stop_wake.notify_one();
                    }
                    // Sent for a stop too: it wakes an idle loop.
                    if tx.send(Inbox::Sig(sig)).await.is_err() {
                        break;
                    }
                }
            });
        }
        for sig in other_signals() {
            let mut stream = signal(SignalKind::from_raw(sig))?;
            tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    warn!(signal = sig, "signal {sig} ignored (keepalived ignores it too)");
                }
            });
        }
        Ok(Self {
            rx,
            tx,
            stop,
            stop_wake,
            forwarders: Vec::new(),
        })
    }

    /// SIGTERM or SIGINT came: its number.
    pub fn stopping(&self) -> Option<i32> {
        Some(self.stop.load(Ordering::Relaxed)).filter(|&s| s != 0)
    }

    /// Resolves once SIGTERM or SIGINT came (at once if one already did):
    /// start-up's waits (trackers' first readings, `vrrp_startup_delay`) end
    /// on it, so a stop never waits for start-up, and consumes nothing else
    /// the loop will read.
    pub async fn stop_requested(&self) {
        if self.stopping().is_none() {
            self.stop_wake.notified().await;
        }
    }

    /// After the loop: the forwarders end, and with them the status thread's
    /// queue, and what was forwarded is dropped, so that a status request
    /// during the stop fails at once (nothing else here matters any more).
    pub async fn close(&mut self) {
        for f in self.forwarders.drain(..) {
            f.abort();
            // Resolves once the task's future (and its receiver) is dropped.
            let _ = f.await;
        }
        while self.rx.try_recv().is_ok() {}
    }

    /// Forwards the side thread's and the status thread's channels (from the
    /// loop's start: start-up reads the tracked objects' first reports
    /// itself). The side thread's three go through one task that takes VIP
    /// reports first: a reloaded configuration is never applied before the
    /// VIP changes the side thread reported before it (the reload's removals
    /// read the installed set).
    pub fn forward(
        &mut self,
        mut vips: mpsc::UnboundedReceiver<VipsDone>,
        mut track: mpsc::UnboundedReceiver<TrackEvent>,
        mut reload: mpsc::UnboundedReceiver<Result<Loaded>>,
        mut snap: mpsc::Receiver<SnapshotRequest>,
    ) {
        let tx = self.tx.clone();
        self.forwarders.push(tokio::spawn(async move {
            let mut track_open = true;
            let mut reload_open = true;
            loop {
                let msg = tokio::select! {
                    biased;
                    done = vips.recv() => Inbox::Vips(done),
                    ev = track.recv(), if track_open => if let Some(ev) = ev { Inbox::Track(ev) } else { track_open = false; continue; },
                    loaded = reload.recv(), if reload_open => if let Some(l) = loaded {
                        // VIP reports sent before it but not seen by the
                        // poll above (the side thread runs on another core)
                        // go first.
                        while let Ok(done) = vips.try_recv() {
                            if tx.send(Inbox::Vips(Some(done))).await.is_err() {
                                return;
                            }
                        }
                        Inbox::Reload(Box::new(l))
                    } else { reload_open = false; continue; },
                };
                let lost = matches!(msg, Inbox::Vips(None));
                if tx.send(msg).await.is_err() || lost {
                    break;
                }
            }
        }));
        let tx = self.tx.clone();
        self.forwarders.push(tokio::spawn(async move {
            while let Some(req) = snap.recv().await {
                if tx.send(Inbox::Snapshot(req)).await.is_err() {
                    break;
                }
            }
        }));
    }
}
