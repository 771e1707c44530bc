//! The side thread: everything the protocol thread asks for that can block or
//! take an unbounded time runs here, so it never holds an advert timer
//! (issue timing-core): VIPs added and removed over rtnetlink, notify scripts
//! spawned and reaped, health checks run, tracked files and processes
//! watched, `state.json` written.
//!
//! The protocol thread sends [`Job`]s and goes on; jobs run in the order sent
//! (an instance's addresses are removed before they are added again). What
//! the protocol thread must know comes back on channels: what tracked
//! objects say ([`TrackEvent`]) and when an instance's addresses are in
//! ([`VipsDone`]), on which its gratuitous ARPs wait (announcing an address
//! before the kernel has it would draw traffic to a host that drops it). The
//! set of VIPs installed is one for both threads ([`Ours`]): the protocol
//! thread reads it at a step-down and for the record, under a lock this
//! thread holds for one insert, removal or copy at a time, never across a
//! kernel round trip.
//!
//! The thread is created before the scheduling keywords are applied to the
//! protocol thread, so it and the scripts it starts run at normal priority
//! (keepalived's scripts do too: SCHED_RESET_ON_FORK).

use std::{
    net::IpAddr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::{Context as _, Result};
use tokio::{sync::mpsc, task::JoinHandle};
use tracing::{error, info, warn};

use super::persist::{self, Saved};

mod addrs;

use crate::{
    config::model::{Config, NotifyScript, RunAs, TrackFileDef, TrackProcessDef, VirtualAddress, VrrpScript},
    net::addr::{Addresses, Kind, Ours},
    scripts,
    trackers::{self, TrackEvent},
};
pub use addrs::{AddBatch, Vmac};

/// How long the side thread waits for notify scripts at exit (keepalived
/// gives its STOP scripts about as long).
const NOTIFY_GRACE: Duration = Duration::from_secs(1);
/// Instances whose VIPs go in one job: the side thread starts on a mass
/// transition's addresses while the engine still makes masters.
const BATCH_INSTANCES: usize = 64;
/// How long a failed `state.json` write waits before it is tried again.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// Work for the side thread.
pub enum Job {
    /// Install instances' VIPs; answered with [`VipsDone`]s carrying their
    /// tickets. Made by [`Side::add_vips`].
    AddVips(Box<AddBatch>),
    /// Remove an instance's VIPs (only those this daemon added).
    RemoveVips {
        vips: Vec<(u32, VirtualAddress)>,
        vmac: Option<(u32, [u8; 6])>,
    },
    /// Install (`add`) or remove an instance's `virtual_routes` and
    /// `virtual_rules`: added after its VIPs (their sources and gateways are
    /// on the link then), removed before them, rules after routes and
    /// before them respectively. A route the kernel refuses is logged with
    /// the instance and the entry; the instance runs on.
    Routes {
        instance: String,
        routes: Vec<crate::config::model::VirtualRoute>,
        rules: Vec<crate::config::model::VirtualRule>,
        add: bool,
    },
    /// `static_ipaddress`, `static_routes`, `static_rules`: added in that
    /// order at start, removed in the reverse order at exit.
    Static {
        addresses: Vec<VirtualAddress>,
        routes: Vec<crate::config::model::VirtualRoute>,
        rules: Vec<crate::config::model::VirtualRule>,
        add: bool,
    },
    /// The resumed masters' VIPs a crashed predecessor left, taken over as
    /// ours (those present).
    Adopt(Vec<(u32, VirtualAddress)>),
    /// At start, the configured VIPs already on their interfaces that this
    /// start does not adopt are removed (keepalived's start does the same).
    ClearStale(Vec<(u32, VirtualAddress)>),
    /// Run a notify script (fire and forget; reaped here).
    Notify {
        script: Box<NotifyScript>,
        args: Vec<String>,
        user: Option<RunAs>,
    },
    /// (Re)start the health checks and the file and process watchers: the
    /// previous ones stop. `reload`: `init_file ... overwrite` leaves
    /// existing files alone (keepalived's rule).
    Trackers {
        scripts: Vec<VrrpScript>,
        user: Option<Box<RunAs>>,
        files: Vec<TrackFileDef>,
        processes: Vec<TrackProcessDef>,
        reload: bool,
    },
    /// (Re)open the notify FIFOs (and start their scripts).
    Fifos {
        fifos: Vec<crate::config::model::Fifo>,
        user: Option<RunAs>,
    },
    /// Write a line to the notify FIFOs.
    FifoLine(String),
    /// Send an `smtp_alert` mail.
    Mail {
        /// Boxed, as the other rare large payloads: every job takes the
        /// room of the largest kind in the queue (176 bytes with these inline,
        /// and a mass transition with notify scripts queues one per instance).
        settings: Box<crate::notify::mail::Settings>,
        subject: String,
        body: String,
    },
    /// Write `state.json` (the newest wins; a failure is retried).
    Store(Box<Saved>),
    /// SIGHUP: read and check the configuration (parsing thousands of
    /// instances takes tens of milliseconds: not on the protocol thread);
    /// the result comes back on the reload channel.
    /// `bool`: make the `use_vmac` macvlans (not with `--vmac xdp`).
    LoadConfig(PathBuf, bool),
    /// Render a signal dump and write it to `dir`.
    Dump {
        kind: super::dump::Kind,
        view: Box<super::dump::View>,
        dir: PathBuf,
    },
    /// Delete `use_vmac` macvlans no instance uses any more (after their
    /// VIPs went).
    /// `bool`: also those the latest reload read prepared (at exit); else
    /// they are kept (a second SIGHUP read before the first was applied
    /// adopted them).
    RemoveVmacs(Vec<String>, bool),
    /// Notifications were lost: which addresses this daemon installed, and
    /// which of these static ones, the kernel no longer lists.
    Vanished {
        statics: Vec<(u32, IpAddr)>,
        reply: tokio::sync::oneshot::Sender<Vec<(u32, IpAddr)>>,
    },
    /// Everything before it is done: wait for notify scripts, then stop.
    Finish(std::sync::mpsc::Sender<()>),
}

/// A configuration read for a reload, with its `use_vmac` macvlans made.
pub type Loaded = (Config, crate::net::vmac::Links);

/// What an `AddVips`, `RemoveVips` or `Adopt` job did.
#[derive(Debug, Default)]
pub struct VipsDone {
    /// The instances of an `AddVips` job now done, with their tickets.
    pub tickets: Vec<(u32, u32)>,
    /// Addresses became ours or stopped being ours (the set itself is the
    /// shared [`Ours`]): the crash-only record is rebuilt.
    pub changed: bool,
}

/// The protocol thread's handle on the side thread.
pub struct Side {
    jobs: mpsc::UnboundedSender<Job>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Set when the daemon stops: no `state.json` is written any more (the
    /// protocol thread removes or replaces it itself).
    stopping: Arc<AtomicBool>,
    /// Jobs the thread has finished: how `finish` tells slow from stuck.
    progress: Arc<AtomicU64>,
    /// `Store` jobs sent, and those the thread has run.
    stores_sent: u64,
    stores_done: Arc<AtomicU64>,
    /// VIPs to install, sent as one job (`add_vips`).
    batch: std::cell::RefCell<AddBatch>,
    /// Jobs that follow `batch` (`send`).
    after_batch: std::cell::RefCell<Vec<Job>>,
    /// The VIPs the thread installed (or adopted) and has not removed.
    vips: Ours,
}

impl Side {
    /// Starts the thread. What tracked objects say goes to `track_tx`, address
    /// changes to `vips_tx`; `state.json` is written in `run_dir`.
    pub fn start(
        run_dir: PathBuf,
        track_tx: mpsc::UnboundedSender<TrackEvent>,
        vips_tx: mpsc::UnboundedSender<VipsDone>,
        reload_tx: mpsc::UnboundedSender<Result<Loaded>>,
        host_connector: Option<std::os::fd::OwnedFd>,
    ) -> Result<Self> {
        let (jobs, rx) = mpsc::unbounded_channel();
        let stopping = Arc::new(AtomicBool::new(false));
        let stop_flag = stopping.clone();
        let progress = Arc::new(AtomicU64::new(0));
        let jobs_done = progress.clone();
        let stores_done = Arc::new(AtomicU64::new(0));
        let worker_stores = stores_done.clone();
        let vips = Ours::default();
        let worker_vips = vips.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("side thread runtime")?;
        let thread = std::thread::Builder::new()
            .name("xvrrpd-side".to_owned())
            .spawn(move || {
                // Capabilities are per thread: this one needs rtnetlink,
                // and setuid/setgid/kill for scripts run as another user.
                use super::privileges::{CAP_KILL, CAP_NET_ADMIN, CAP_SETGID, CAP_SETUID};
                let mask = [CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_NET_ADMIN]
                    .iter()
                    .fold(0u64, |m, c| m | (1 << c));
                if let Err(e) = super::privileges::drop_to(mask) {
                    warn!("side thread: could not drop capabilities: {e:#}");
                }
                let worker = Worker {
                    run_dir,
                    track_tx,
                    vips_tx,
                    reload_tx,
                    addrs: None,
                    vips: worker_vips,
                    checks: Vec::new(),
                    fifos: crate::notify::fifo::Fifos::default(),
                    host_connector,
                    mailer: crate::notify::mail::Mailer::default(),
                    unsaved: None,
                    prepared: Vec::new(),
                    stopping: stop_flag,
                    jobs_done,
                    stores_done: worker_stores,
                };
                rt.block_on(worker.run(rx));
            })
            .context("starting the side thread")?;
        Ok(Self {
            jobs,
            thread: Some(thread),
            stopping,
            progress,
            stores_sent: 0,
            stores_done,
            batch: std::cell::RefCell::default(),
            after_batch: std::cell::RefCell::default(),
            vips,
        })
    }

    /// The VIPs the side thread installed (or adopted) and has not removed.
    pub fn vips(&self) -> &Ours {
        &self.vips
    }

    /// Queues a job. A side thread that died (it never should; the event
    /// loop stops the daemon when it notices) loses it.
    pub fn send(&self, job: Job) {
        // After the VIPs asked for before it. A new master's notify script,
        // FIFO line, mail and routes wait for the batch its VIPs are in
        // rather than end it: an instance's job still follows its own VIPs
        // (keepalived notifies once the addresses are in), and a mass
        // transition with notify scripts keeps its batches (one each
        // would cost more than a job per instance did). What moves: VIPs
        // added to the batch later go before such a job (an instance's
        // BACKUP script can start after the same instance, master again
        // within the same events, had its addresses added; the scripts
        // keep their order, and keepalived does not wait for them either).
        let follows = matches!(
            job,
            Job::Notify { .. } | Job::FifoLine(_) | Job::Mail { .. } | Job::Routes { add: true, .. }
        );
        if follows && !self.batch.borrow().is_empty() {
            self.after_batch.borrow_mut().push(job);
            return;
        }
        self.send_vips();
        self.enqueue(job);
    }

    /// Puts `job` on the channel.
    fn enqueue(&self, job: Job) {
        if self.jobs.send(job).is_err() {
            tracing::debug!("side thread gone: a job was dropped");
        }
    }

    /// Queues instance `idx`'s VIPs for installing, answered with `ticket`.
    /// They go with others as one job, at `send_vips` (the engine's flush)
    /// or a few instances later, whichever is first.
    pub fn add_vips(
        &self,
        idx: usize,
        ticket: u32,
        vips: impl IntoIterator<Item = (u32, VirtualAddress)>,
        vmac: Option<Vmac>,
    ) {
        let full = {
            let mut batch = self.batch.borrow_mut();
            batch.push(idx, ticket, vips, vmac);
            batch.len() >= BATCH_INSTANCES
        };
        if full {
            self.send_vips();
        }
    }

    /// Sends the VIPs `add_vips` gathered, and the jobs that wait for them.
    pub fn send_vips(&self) {
        let batch = std::mem::take(&mut *self.batch.borrow_mut());
        if batch.is_empty() {
            return;
        }
        let after = std::mem::take(&mut *self.after_batch.borrow_mut());
        for job in std::iter::once(Job::AddVips(Box::new(batch))).chain(after) {
            self.enqueue(job);
        }
    }

    /// Queues a `state.json` record (after the jobs queued before it).
    pub fn store(&mut self, saved: Saved) {
        self.stores_sent += 1;
        self.send(Job::Store(Box::new(saved)));
    }

    /// A record sent with `store` is still waiting for the thread.
    pub fn storing(&self) -> bool {
        self.stores_done.load(Ordering::Relaxed) < self.stores_sent
    }

    /// Runs what is queued, waits for notify scripts (bounded), and stops the
    /// thread. The bound is on a stall, not on the whole: it gives up when
    /// nothing moved for `stall` (a job finished, or a VIP or macvlan of a
    /// long one went), so a hung netlink socket cannot keep the daemon from
    /// exiting, however long a large shutdown takes in all (1000
    /// `notify_stop` scripts take seconds to start on a busy host; the
    /// unit's `TimeoutStopSec=90` bounds the whole).
    /// True when everything queued ran; false when the thread is gone or
    /// stalled (the caller must not assume the VIPs are gone).
    pub fn finish(&mut self, stall: Duration) -> bool {
        use std::sync::mpsc::RecvTimeoutError;
        self.stopping.store(true, Ordering::Relaxed);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        self.send(Job::Finish(done_tx));
        let mut seen = self.progress.load(Ordering::Relaxed);
        let mut moved_at = std::time::Instant::now();
        loop {
            match done_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(()) => {
                    if let Some(t) = self.thread.take() {
                        let _ = t.join();
                    }
                    return true;
                }
                Err(RecvTimeoutError::Timeout) => {
                    let now = self.progress.load(Ordering::Relaxed);
                    if now != seen {
                        seen = now;
                        moved_at = std::time::Instant::now();
                    } else if moved_at.elapsed() >= stall {
                        error!("the side thread finished no job for {stall:?}: stopping without it");
                        return false;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    error!("the side thread is gone: VIP removals and notify scripts did not run");
                    return false;
                }
            }
        }
    }
}

struct Worker {
    run_dir: PathBuf,
    track_tx: mpsc::UnboundedSender<TrackEvent>,
    vips_tx: mpsc::UnboundedSender<VipsDone>,
    reload_tx: mpsc::UnboundedSender<Result<Loaded>>,
    /// Opened on first use (on this thread's runtime, which drives it).
    addrs: Option<Addresses>,
    /// The VIPs `addrs` adds go here (shared with the protocol thread).
    vips: Ours,
    checks: Vec<JoinHandle<()>>,
    fifos: crate::notify::fifo::Fifos,
    /// A process connector socket made in the host's network namespace.
    host_connector: Option<std::os::fd::OwnedFd>,
    mailer: crate::notify::mail::Mailer,
    /// A `state.json` not written yet (the last attempt failed).
    unsaved: Option<Saved>,
    /// The macvlans the latest configuration read prepared.
    prepared: Vec<String>,
    stopping: Arc<AtomicBool>,
    /// Counts finished jobs and steps of long ones (see [`Side::finish`]).
    jobs_done: Arc<AtomicU64>,
    /// Counts `Store` jobs run (see [`Side::storing`]).
    stores_done: Arc<AtomicU64>,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Job>) {
        let mut retry_at = tokio::time::Instant::now();
        loop {
            let job = tokio::select! {
                job = rx.recv() => job,
                () = tokio::time::sleep_until(retry_at), if self.unsaved.is_some() => {
                    if let Some(saved) = self.unsaved.take() {
                        self.store(saved);
                    }
                    retry_at = tokio::time::Instant::now() + STORE_RETRY;
                    continue;
                }
            };
            match job {
                None => break,
                Some(Job::Finish(done)) => {
                    for t in self.checks.drain(..) {
                        t.abort();
                    }
                    scripts::wait_for_notifies(NOTIFY_GRACE).await;
                    self.fifos.close();
                    let _ = done.send(());
                    break;
                }
                Some(Job::Vanished { statics, reply }) => {
                    let gone = self.vanished(statics).await;
                    let _ = reply.send(gone);
                }
                Some(Job::Store(saved)) => {
                    self.store(*saved);
                    self.stores_done.fetch_add(1, Ordering::Relaxed);
                    retry_at = tokio::time::Instant::now() + STORE_RETRY;
                }
                Some(Job::AddVips(batch)) => self.add_vips(*batch).await,
                Some(Job::RemoveVips { vips, vmac }) => self.remove_vips(vips, vmac).await,
                Some(Job::Routes {
                    instance,
                    routes,
                    rules,
                    add,
                }) => self.routes(&instance, &routes, &rules, add).await,
                Some(Job::Static {
                    addresses,
                    routes,
                    rules,
                    add,
                }) => {
                    let on =
                        |v: &VirtualAddress| v.dev.as_deref().and_then(|d| crate::net::sys::ifindex(d).ok());
                    let addresses: Vec<(u32, VirtualAddress)> = addresses
                        .into_iter()
                        .filter_map(|v| {
                            let Some(i) = on(&v) else {
                                warn!("static_ipaddress {}: no interface {:?}", v.cidr(), v.dev);
                                return None;
                            };
                            Some((i, v))
                        })
                        .collect();
                    if add {
                        if let Some(a) = self.addrs() {
                            for (i, v) in &addresses {
                                // Put back after a deletion: it is no longer there.
                                a.forget_static(*i, v);
                                if let Err(e) = a.add(*i, v, Kind::Static).await {
                                    warn!("static_ipaddress: {e:#}");
                                }
                            }
                        }
                        self.routes("static", &routes, &rules, true).await;
                    } else {
                        self.routes("static", &routes, &rules, false).await;
                        if let Some(a) = self.addrs() {
                            for (i, v) in &addresses {
                                if let Err(e) = a.remove(*i, v, Kind::Static).await {
                                    warn!("static_ipaddress: {e:#}");
                                }
                            }
                        }
                    }
                }
                Some(Job::Adopt(vips)) => self.adopt(vips).await,
                Some(Job::ClearStale(vips)) => self.clear_stale(vips).await,
                Some(Job::LoadConfig(path, make_vmacs)) => {
                    let loaded = super::startup::load_config(&path)
                        .and_then(|c| scripts::validate(&c).map(|()| c))
                        .context("reload refused; the running configuration stays");
                    let loaded = match loaded {
                        Ok(c) => {
                            let links = if make_vmacs {
                                super::startup::prepare_vmacs(&c).await
                            } else {
                                crate::net::vmac::Links::new()
                            };
                            self.prepared = links.values().map(|m| m.name.clone()).collect();
                            Ok((c, links))
                        }
                        Err(e) => Err(e),
                    };
                    let _ = self.reload_tx.send(loaded);
                }
                Some(Job::RemoveVmacs(names, all)) => {
                    let prepared = std::mem::take(&mut self.prepared);
                    let names: Vec<String> = names
                        .into_iter()
                        .filter(|n| all || !prepared.contains(n))
                        .collect();
                    self.prepared = prepared;
                    if let Some(addrs) = self.addrs() {
                        let handle = addrs.handle();
                        for name in names {
                            match crate::net::vmac::remove(&handle, &name).await {
                                Ok(()) => info!(link = %name, "use_vmac: macvlan removed"),
                                Err(e) => warn!("use_vmac: {e:#}"),
                            }
                            // Progress within the job: thousands of links take
                            // longer than `finish`'s stall bound in all.
                            self.jobs_done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Some(Job::Dump { kind, view, dir }) => {
                    let text = kind.render(&view);
                    match super::dump::write(&dir, kind.file_name(), &text) {
                        Ok(path) => info!("printing VRRP {kind:?} on signal to {}", path.display()),
                        Err(e) => warn!("cannot write {}/{}: {e}", dir.display(), kind.file_name()),
                    }
                }
                Some(Job::Notify { script, args, user }) => scripts::notify(&script, &args, user.as_ref()),
                Some(Job::Fifos { fifos, user }) => self.fifos.start(&fifos, user.as_ref()),
                Some(Job::FifoLine(line)) => self.fifos.write(&line),
                Some(Job::Mail {
                    settings,
                    subject,
                    body,
                }) => self.mailer.send(*settings, subject, body),
                Some(Job::Trackers {
                    scripts: list,
                    user,
                    files,
                    processes,
                    reload,
                }) => {
                    for t in self.checks.drain(..) {
                        t.abort();
                    }
                    self.checks = scripts::spawn_health_checks(&list, user.as_deref(), &self.track_tx);
                    trackers::file::initialise(&files, reload);
                    self.checks.extend(trackers::file::spawn(&files, &self.track_tx));
                    self.checks.extend(trackers::process::spawn(
                        &processes,
                        self.host_connector.as_ref(),
                        &self.track_tx,
                    ));
                }
            }
            self.jobs_done.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes `state.json`; on failure keeps it for the retry.
    fn store(&mut self, saved: Saved) {
        if self.stopping.load(Ordering::Relaxed) {
            self.unsaved = None;
            return;
        }
        if persist::store(&self.run_dir, &saved) {
            if self.unsaved.take().is_some() {
                info!("{}/state.json written", self.run_dir.display());
            }
        } else {
            if self.unsaved.is_none() {
                warn!(
                    "cannot write {}/state.json; trying again every {STORE_RETRY:?}",
                    self.run_dir.display()
                );
            }
            self.unsaved = Some(saved);
        }
    }

    fn addrs(&mut self) -> Option<&mut Addresses> {
        if self.addrs.is_none() {
            match Addresses::open(self.vips.clone()) {
                Ok(a) => self.addrs = Some(a),
                Err(e) => warn!("rtnetlink unavailable, VIPs cannot be changed: {e:#}"),
            }
        }
        self.addrs.as_mut()
    }

    fn report(&self, done: VipsDone) {
        // The protocol thread is gone only when the daemon is stopping.
        let _ = self.vips_tx.send(done);
    }
}

#[cfg(test)]
mod tests {
    /// A mass transition with notify scripts queues a job per instance, and
    /// every job in the queue takes the room of the largest kind: the rare large payloads
    /// stay boxed (176 bytes before they were).
    #[test]
    fn a_job_stays_small() {
        let size = std::mem::size_of::<super::Job>();
        assert!(size <= 88, "a Job is {size} bytes");
    }

    /// A handle whose jobs land in a channel the test reads.
    fn side() -> (super::Side, super::mpsc::UnboundedReceiver<super::Job>) {
        let (jobs, rx) = super::mpsc::unbounded_channel();
        let side = super::Side {
            jobs,
            thread: None,
            stopping: std::sync::Arc::default(),
            progress: std::sync::Arc::default(),
            stores_sent: 0,
            stores_done: std::sync::Arc::default(),
            batch: std::cell::RefCell::default(),
            after_batch: std::cell::RefCell::default(),
            vips: crate::net::addr::Ours::default(),
        };
        (side, rx)
    }

    fn kinds(rx: &mut super::mpsc::UnboundedReceiver<super::Job>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(job) = rx.try_recv() {
            out.push(match job {
                super::Job::AddVips(b) => format!("add {}", b.len()),
                super::Job::FifoLine(l) => format!("line {l}"),
                super::Job::RemoveVips { .. } => "remove".to_owned(),
                _ => "other".to_owned(),
            });
        }
        out
    }

    #[test]
    fn vips_go_in_batches_and_nothing_overtakes_them() {
        let (side, mut rx) = side();
        // With no batch open, a job goes at once.
        side.send(super::Job::FifoLine("a".to_owned()));
        assert_eq!(kinds(&mut rx), ["line a"]);
        // A new master's VIPs wait for the flush; its FIFO line waits
        // behind them.
        side.add_vips(0, 1, [], None);
        side.add_vips(1, 2, [], None);
        side.send(super::Job::FifoLine("b".to_owned()));
        assert!(kinds(&mut rx).is_empty());
        // A removal ends the batch: the adds and the line go first.
        side.send(super::Job::RemoveVips {
            vips: Vec::new(),
            vmac: None,
        });
        assert_eq!(kinds(&mut rx), ["add 2", "line b", "remove"]);
        // The flush sends what is open; a full batch goes by itself.
        side.add_vips(2, 3, [], None);
        side.send_vips();
        assert_eq!(kinds(&mut rx), ["add 1"]);
        for i in 0..super::BATCH_INSTANCES {
            side.add_vips(i, 4, [], None);
        }
        assert_eq!(kinds(&mut rx), [format!("add {}", super::BATCH_INSTANCES)]);
        side.send_vips();
        assert!(kinds(&mut rx).is_empty());
    }
}
