//! The protocol thread's event loop: a stop first, then timers, the XDP ring
//! buffer, link and address changes, the inbox (signals, VIP and
//! health-check reports and reloaded configurations from the side thread,
//! snapshot requests: `inbox.rs`), and received frames last (a flood is
//! served between everything else, never instead of it). SIGHUP reloads
//! here.

use std::{
    os::fd::RawFd,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};
use futures::{FutureExt as _, future::select_all};
use tokio::{io::unix::AsyncFd, sync::mpsc};
use tracing::{error, info, warn};

use super::{
    dump::Kind,
    engine::{Engine, Mode},
    inbox::{Inbox, Sig},
    persist::Saved,
    serve,
    side::{Job, VipsDone},
};
use crate::{
    config::model::Config,
    net::{monitor::Deleted, sys::monotonic_us},
    trackers::TrackEvent,
};

/// The crash-only record (`persist::Saved`) is rebuilt at most this often (µs):
/// built on every change, a mass transition of N instances cost O(N²) string
/// copies (4000 instances: 15 million in the first seconds). A successor
/// that adopts within this much of a change finds the record before it.
const SAVE_EVERY_US: u64 = 50_000;
/// ... and within 5 ms when an instance left MASTER: a record that still
/// says master after a kill makes the next start resume MASTER (and re-add
/// the VIPs) until it hears the new master. Not at once, and that sooner
/// save at most every SAVE_EVERY_US: a mass step-down of thousands would
/// rebuild and write the record once per departure.
const SAVE_SOON_US: u64 = 5_000;

/// How long after a burst's last change (engine/memory.rs) its buffers are
/// shrunk and the heap trimmed, when a wake-up comes by anyway.
const SETTLE_US: u64 = 5_000_000;

/// The link poll's period while rtnetlink notifications work (µs): only a
/// safety net, since every link notification, and a full buffer's error,
/// polls at once (the monitor parses nothing, so none is lost to a message
/// it cannot read). Idle, each wake-up is most of the daemon's cost (about
/// 0.1-0.2 ms of CPU on a VM).
const SAFETY_POLL_US: u64 = 30_000_000;

/// What the loop reads besides the engine.
pub struct Inputs {
    pub config_path: PathBuf,
    pub dump_dir: PathBuf,
    pub fingerprint: String,
    /// The data path's shape, part of the fingerprint.
    pub shape: String,
    pub pin_dir: PathBuf,
    pub track_rx: mpsc::UnboundedReceiver<TrackEvent>,
    pub vips_rx: mpsc::UnboundedReceiver<VipsDone>,
    pub reload_rx: mpsc::UnboundedReceiver<Result<super::side::Loaded>>,
    pub snap_rx: mpsc::Receiver<serve::SnapshotRequest>,
}

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// SIGTERM or SIGINT.
    Signal,
    /// The side thread is gone (it never should be).
    SideLost,
}

/// Runs until SIGTERM/SIGINT (or the side thread's loss).
pub async fn run(engine: &mut Engine, inputs: Inputs, inbox: &mut super::inbox::Receiver) -> Result<Ended> {
    let Inputs {
        config_path,
        dump_dir,
        mut fingerprint,
        shape,
        pin_dir,
        track_rx,
        vips_rx,
        reload_rx,
        snap_rx,
    } = inputs;
    inbox.forward(vips_rx, track_rx, reload_rx, snap_rx);
    let mode = engine.mode;
    let mut snapshots = serve::SnapshotCache::default();
    let deadline = crate::net::sys::Deadline::new().context("timerfd for the protocol timers")?;
    let mut auto = super::sched::AutoPriority::new(&engine.config.global.scheduling);
    // SAFETY (both registrations): the fds belong to the engine's ring buffer and
    // sockets, which live in `engine` until after this loop and these AsyncFds end.
    let events: Option<AsyncFd<RawFd>> = match &engine.datapath {
        Some(dp) => Some(unsafe { AsyncFd::register(dp.events_fd()) }.map_err(std::io::Error::from)?),
        None => None,
    };
    let mut receivers: Vec<AsyncFd<RawFd>> = Vec::new();
    engine.pool.receivers_changed = true;
    let mut last_saved = Saved::default().digest();
    let mut saved_generation = None;
    let mut saved_at: u64 = 0;
    let mut saved_left = engine.masters_left();
    let mut soon_at: u64 = 0;
    // Link changes arrive as rtnetlink notifications (a full socket buffer
    // counts as one: the kernel reports it as ENOBUFS); the poll is the
    // safety net (every 30 s: keepalived has none) and notices addresses
    // appearing for instances that wait for one (every second while any
    // waits, and when notifications are unavailable).
    let mut links = crate::net::monitor::LinkMonitor::open()
        .inspect_err(|e| warn!("link notifications unavailable ({e:#}): polling every second"))
        .ok();
    let mut notified = links.is_some();
    // Deleted addresses, and routes and rules while any is tracked (opened
    // again after a reload that changes which).
    let open_routes = |engine: &Engine| {
        engine
            .watches_deletions()
            .then(|| {
                let with_routes = engine.watches_routes();
                crate::net::monitor::RouteMonitor::open(with_routes)
                    .map(|m| (m, with_routes))
                    .inspect_err(|e| {
                        warn!(
                            "address and route notifications unavailable ({e:#}): VIPs, virtual routes and static entries deleted by others are not noticed"
                        );
                    })
                    .ok()
            })
            .flatten()
    };
    let mut routes = open_routes(engine);
    // Deletions before the monitor listened go unseen: every advert source
    // is checked by the kernel again until a send goes out.
    engine.pool.recheck_all();
    // The side thread's answer after lost notifications (`Deleted::Lost`),
    // and whether more were lost while it was being found.
    let mut vanished: Option<tokio::sync::oneshot::Receiver<Vec<(u32, std::net::IpAddr)>>> = None;
    let mut vanished_again = false;
    // The poll runs on the loop's own timer, not a tokio sleep (tokio's timer
    // wheel wakes the thread at each level's boundary before the due time: up
    // to three wake-ups for one 5 s poll, most of an idle instance's), and any
    // wake-up within a fifth of the period before its due time takes it along
    // (a safety net; one wake-up less: a backup's Master_Down checks always
    // take the 30 s poll along).
    let poll_period = |engine: &Engine, notified: bool| -> u64 {
        if notified && engine.instances.waiting.is_empty() {
            SAFETY_POLL_US
        } else {
            1_000_000
        }
    };
    let mut last_poll = monotonic_us();
    // Receive sockets whose budget ran out with frames left (socket mode).
    let mut backlog: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    // (churn seen, when it last moved, shrink still to do): the first turn
    // sees start-up as a burst.
    let mut burst: (u64, u64, bool) = (u64::MAX, 0, false);
    let ended = loop {
        // A stop first, never behind the inbox's queue.
        if let Some(sig) = inbox.stopping() {
            info!(
                "{}: stopping",
                if sig == libc::SIGINT { "SIGINT" } else { "SIGTERM" }
            );
            break Ended::Signal;
        }
        let now = monotonic_us();
        if engine.churn() != burst.0 {
            burst = (engine.churn(), now, true);
        } else if burst.2 && now >= burst.1 + SETTLE_US && engine.quiet() {
            engine.shrink_buffers();
            crate::net::sys::release_free_heap();
            burst.2 = false;
        }
        if std::mem::take(&mut engine.pool.receivers_changed) && mode == Mode::Socket {
            // Reload or a re-created interface changed the sockets: watch the new set.
            receivers.clear();
            backlog.clear();
            for r in &engine.pool.receivers {
                // SAFETY: as above; the engine keeps each socket until the next change.
                receivers.push(unsafe { AsyncFd::register(r.fd()) }.map_err(std::io::Error::from)?);
            }
        }
        // In every mode: socket mode adopts nothing, but the record tells the
        // next start which addresses, routes and macvlans a killed run left.
        let unsaved = |engine: &Engine, saved| Some(engine.saved_generation()) != saved;
        // Sooner when an instance left MASTER (engine.masters_left), at
        // most once per SAVE_EVERY_US: the rest of a mass step-down waits.
        let save_gap = if engine.masters_left() != saved_left && soon_at + SAVE_EVERY_US <= monotonic_us() {
            SAVE_SOON_US
        } else {
            SAVE_EVERY_US
        };
        let save_due = unsaved(engine, saved_generation) && saved_at + save_gap <= monotonic_us();
        if save_due && engine.side.storing() {
            // The last record is still queued behind the side thread's jobs
            // (a mass transition's VIPs): a newer one waits its turn rather
            // than pile up beside it (each is a list of every master and
            // VIP). Its next turn is the long gap from now.
            saved_at = monotonic_us();
            soon_at = saved_at;
        } else if save_due {
            // Written on the side thread (which retries a failed write),
            // after the jobs queued before it (a leaving master's VIP removal).
            saved_generation = Some(engine.saved_generation());
            if save_gap == SAVE_SOON_US {
                soon_at = monotonic_us();
            }
            saved_left = engine.masters_left();
            saved_at = monotonic_us();
            let now_saved = engine.saved(&fingerprint, &pin_dir);
            let digest = now_saved.digest();
            if digest != last_saved {
                engine.side.store(now_saved);
                last_saved = digest;
            }
        }
        // The next timer, at the kernel's precision, the record's turn or
        // the link poll's.
        let timer_due = engine.next_deadline();
        let next = timer_due
            .unwrap_or(u64::MAX)
            .min(if unsaved(engine, saved_generation) {
                saved_at + save_gap
            } else {
                u64::MAX
            })
            .min(last_poll + poll_period(engine, notified));
        deadline.set(next)?;
        let any_rx = async {
            if let Some(idx) = backlog.pop_front() {
                // Left with frames by the last turn (its budget ran out).
                idx
            } else if receivers.is_empty() {
                std::future::pending::<usize>().await
            } else {
                let futs = receivers.iter().map(|r| Box::pin(r.readable()));
                let (guard, idx, _) = select_all(futs).await;
                if let Ok(mut g) = guard {
                    g.clear_ready();
                }
                idx
            }
        };
        let xdp_ready = async {
            match &events {
                Some(fd) => {
                    if let Ok(mut g) = fd.readable().await {
                        g.clear_ready();
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        // Biased: timers first, received frames last, so that a flood of
        // frames is served between everything else, never instead of it.
        tokio::select! {
            biased;
            r = deadline.wait() => {
                r?;
                let now = monotonic_us();
                // Lateness of VRRP timers only: a late link poll or record
                // save is no reason for real-time priority.
                if let (Some(a), Some(due)) = (auto.as_mut(), timer_due.filter(|&t| t <= now)) {
                    a.fired(now - due);
                }
                engine.on_timers();
            }
            () = xdp_ready => engine.on_xdp_events(),
            live = async {
                match links.as_mut() {
                    Some(l) => l.changed().await,
                    None => std::future::pending().await,
                }
            } => {
                if !live {
                    warn!("link notifications ended: polling every second");
                    links = None;
                    notified = false;
                }
                engine.on_link_poll();
                last_poll = monotonic_us();
            }
            deleted = async {
                match routes.as_mut() {
                    Some((r, _)) => r.next().await,
                    None => std::future::pending().await,
                }
            } => match deleted {
                // One re-read at a time; losses meanwhile ask for one more.
                Deleted::Lost if vanished.is_some() => {
                    engine.pool.recheck_all();
                    vanished_again = true;
                }
                Deleted::Lost => {
                    // An advert source may be among the deleted.
                    engine.pool.recheck_all();
                    warn!(
                        "address/route notifications were lost (socket buffer full): re-reading the addresses for deleted VIPs and static addresses; a virtual or static route or rule deleted meanwhile goes unnoticed"
                    );
                    vanished = Some(engine.ask_vanished());
                }
                d => engine.on_deleted(&d),
            },
            gone = async {
                match vanished.as_mut() {
                    Some(answer) => answer.await.unwrap_or_default(),
                    None => std::future::pending().await,
                }
            } => {
                vanished = std::mem::take(&mut vanished_again).then(|| engine.ask_vanished());
                engine.on_vanished(gone);
            }
            Some(msg) = inbox.rx.recv() => match msg {
                // Their forwarder set the stop flag before sending: the top
                // of the next turn stops (one place for it).
                Inbox::Sig(Sig::Term | Sig::Int) => {}
                Inbox::Sig(Sig::Hup) => {
                    info!("SIGHUP: reloading {}", config_path.display());
                    engine
                        .side
                        .send(Job::LoadConfig(config_path.clone(), engine.make_vmacs));
                }
                Inbox::Sig(Sig::Usr1) => dump(engine, Kind::Data, &dump_dir),
                Inbox::Sig(Sig::Usr2) => dump(engine, Kind::Stats, &dump_dir),
                Inbox::Sig(Sig::Json) => dump(engine, Kind::Json, &dump_dir),
                Inbox::Sig(Sig::StatsClear) => dump(engine, Kind::StatsClear, &dump_dir),
                Inbox::Sig(Sig::Xcpu) => warn!(
                    "SIGXCPU: a CPU time limit was reached (vrrp_rlimit_rttime: half of it used without blocking)"
                ),
                Inbox::Vips(None) => {
                    // It never should; without it no VIP moves and no script runs.
                    error!("the side thread stopped (VIPs, scripts, state.json): stopping the daemon");
                    break Ended::SideLost;
                }
                Inbox::Vips(Some(done)) => engine.on_vips_done(done),
                Inbox::Track(ev) => engine.on_track(ev),
                Inbox::Snapshot(req) => {
                    let generation = engine.saved_generation();
                    let snap = snapshots.get(!req.fresh, generation, || super::status::snapshot(engine));
                    let _ = req.reply.send(snap);
                }
                Inbox::Reload(loaded) => match (*loaded).and_then(|new| reload(engine, new)) {
                    Ok(new) => {
                        // A successor adopts this run only with this configuration.
                        // One that cannot be made matches no successor's.
                        fingerprint = super::persist::fingerprint(&new, &shape).unwrap_or_else(|e| {
                            error!("{e:#}: a restarted daemon will not adopt this run");
                            String::from("none")
                        });
                        saved_generation = None;
                        start_trackers(engine, true);
                        let want = (engine.watches_deletions(), engine.watches_routes());
                        if Some(want) != routes.as_ref().map(|(_, r)| (true, *r)) {
                            routes = open_routes(engine);
                            engine.pool.recheck_all();
                        }
                        crate::net::sys::release_free_heap();
                        info!("reload done");
                    }
                    Err(e) => error!("{e:#}"),
                },
            },
            idx = any_rx => {
                if !engine.on_socket_rx(idx) && !backlog.contains(&idx) {
                    backlog.push_back(idx);
                }
                // Fair across sockets: the others that are readable now join
                // the queue (a socket that never drains must not keep them out).
                for (j, r) in receivers.iter().enumerate() {
                    if j != idx
                        && !backlog.contains(&j)
                        && let Some(Ok(mut g)) = r.readable().now_or_never()
                    {
                        g.clear_ready();
                        backlog.push_back(j);
                    }
                }
                if !backlog.is_empty() {
                    // Frames left: let the runtime poll the timer, the signals
                    // and the other tasks before the next batch (the loop would
                    // otherwise go round without handing it control).
                    tokio::task::yield_now().await;
                }
            }
        }
        // Any wake-up within a fifth of the period before the poll is due
        // takes it along: a VRRP timer's, a received frame's in socket mode.
        let period = poll_period(engine, notified);
        if monotonic_us() + period / 5 >= last_poll + period {
            engine.on_link_poll();
            last_poll = monotonic_us();
        }
    };
    drop(receivers);
    drop(events);
    Ok(ended)
}

/// A keepalived dump: the view is taken here, rendered and written on the
/// side thread.
fn dump(engine: &mut Engine, kind: Kind, dir: &Path) {
    let view = engine.dump_view();
    if kind == Kind::StatsClear {
        engine.clear_stats();
    }
    engine.side.send(Job::Dump {
        kind,
        view: Box::new(view),
        dir: dir.to_owned(),
    });
}

/// (Re)starts the health checks and the file and process watchers on the
/// side thread.
pub fn start_trackers(engine: &Engine, reload: bool) {
    // Only scripts some instance tracks are run.
    let tracked: Vec<_> = engine
        .config
        .scripts
        .iter()
        .filter(|s| {
            engine
                .instances
                .values()
                .any(|slot| slot.cfg.track_scripts.iter().any(|t| t.name == s.name))
        })
        .cloned()
        .collect();
    engine.side.send(Job::Trackers {
        scripts: tracked,
        user: engine.config.global.script_user.clone().map(Box::new),
        files: engine.config.track_files.clone(),
        processes: engine.config.track_processes.clone(),
        reload,
    });
}

/// SIGHUP, second half: apply a configuration the side thread read and
/// checked (one with errors never gets here: it is refused whole).
fn reload(engine: &mut Engine, (new, links): super::side::Loaded) -> Result<Config> {
    let g = &engine.config.global;
    let unused = |keep: &crate::net::vmac::Links, of: &crate::net::vmac::Links| -> Vec<String> {
        of.values()
            .filter(|m| !keep.values().any(|k| k.name == m.name))
            .map(|m| m.name.clone())
            .collect()
    };
    if (new.global.mcast_group4, new.global.mcast_group6) != (g.mcast_group4, g.mcast_group6) {
        // Every instance and receive socket would have to move to the new group at
        // once; half-moved routers would not hear each other.
        engine
            .side
            .send(Job::RemoveVmacs(unused(&engine.vmac_links, &links), true));
        anyhow::bail!(
            "reload refused; the running configuration stays: vrrp_mcast_group4/6 changed, which needs a restart"
        );
    }
    if new.global.scheduling != g.scheduling {
        warn!(
            "reload: the scheduling keywords (vrrp_priority, vrrp_rt_priority, ...) changed; they apply at the next start"
        );
    }
    let old = std::mem::replace(&mut engine.vmac_links, links);
    engine.apply_reload(&new);
    // After the stopped instances' VIPs went (the side thread keeps order);
    // a link an instance still runs on stays (this reload failed to make
    // its new one).
    engine.keep_vmac_links_in_use(&old);
    let gone = unused(&engine.vmac_links, &old);
    if !gone.is_empty() {
        engine.side.send(Job::RemoveVmacs(gone, false));
    }
    Ok(new)
}
