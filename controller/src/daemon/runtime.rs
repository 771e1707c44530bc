//! `xvrrpd run`, end to end: start-up (`startup`), the listeners (`serve`),
//! starting the instances and dropping privileges, the event loop
//! (`event_loop`), and the stop: the hand-over first, then the VIPs, the
//! STOP scripts and the data path.

use std::{
    fs,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, Result, bail};
use tracing::{error, info, warn};

use super::{
    event_loop::{self, Ended, Inputs},
    persist, serve, startup, status,
};
use crate::datapath::attach::{AdvertPath, ResponderChoice};

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeChoice {
    /// XDP in native mode, falling back to sockets with one warning.
    Auto,
    /// XDP in native (driver) mode, or fail.
    Xdp,
    /// Raw sockets only.
    Socket,
    /// XDP in generic (skb) mode, for drivers without native XDP.
    XdpSkb,
}

/// `--vmac`: what `use_vmac` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VmacChoice {
    /// A private macvlan per instance, as keepalived makes (`vrrp.VRID`).
    Macvlan,
    /// No interface: the XDP program answers for the virtual MAC on the
    /// instance's interface (XDP modes only; one netdev less per instance on
    /// hosts with thousands).
    Xdp,
}

pub struct RunOptions {
    pub config: PathBuf,
    /// `--vmac`.
    pub vmac: VmacChoice,
    /// Where bpffs is (or gets) mounted, for the pinned data path.
    pub bpffs: PathBuf,
    pub mode: ModeChoice,
    /// `--arp-responder`.
    pub responder: ResponderChoice,
    /// `--adverts-in`.
    pub adverts: AdvertPath,
    pub run_dir: PathBuf,
    pub metrics: Option<SocketAddr>,
    /// Where the signal dumps go (`dump::dir`).
    pub dump_dir: PathBuf,
}

pub const SOCKET_NAME: &str = "xvrrpd.sock";
pub const PID_NAME: &str = "xvrrpd.pid";

/// Runs the daemon until SIGTERM/SIGINT.
pub fn run(opts: RunOptions) -> Result<()> {
    // I/O only, no timer wheel: the protocol timers are a timerfd of the
    // loop's own (`Deadline`), and without the wheel each park and wake-up
    // of an idle master does less (issue bench-truth's idle cost at N = 1).
    // Nothing on this thread may use `tokio::time`'s sleeps, timeouts or
    // intervals (they panic without the wheel):
    // start-up's waits below use a `Deadline` too.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(run_async(opts))
}

/// The instances have started: health applied, the scheduling keywords
/// and the capabilities dropped.
fn running(engine: &mut super::engine::Engine) {
    engine.on_health_change();
    crate::net::sys::release_free_heap();
    // keepalived's scheduling keywords, while CAP_SYS_NICE / CAP_IPC_LOCK are still held.
    super::sched::apply(&engine.config.global.scheduling);
    // Everything privileged at start-up is done (program loaded, sockets open, run dir made).
    let auto = engine.config.global.scheduling.max_auto_priority.is_some();
    if let Err(e) = super::privileges::drop_unneeded(auto) {
        warn!("could not drop capabilities: {e:#}");
    }
    info!(
        mode = engine.mode.name(),
        instances = engine.instances.len(),
        "xvrrpd running"
    );
}

/// How long start-up waits for the first reading of every tracked file and
/// process.
const TRACKERS_FIRST_READING_US: u64 = 3_000_000;
const TRACKERS_FIRST_READING: Duration = Duration::from_micros(TRACKERS_FIRST_READING_US);

async fn run_async(mut opts: RunOptions) -> Result<()> {
    let startup::Started {
        mut engine,
        fingerprint,
        shape,
        pin_dir,
        resume,
        mut track_rx,
        vips_rx,
        reload_rx,
        pid: _pid,
    } = startup::start(&mut opts).await?;
    let sock_path = opts.run_dir.join(SOCKET_NAME);
    let snap_rx = serve::listen(&sock_path, opts.metrics)?;
    let mut inbox = super::inbox::Receiver::with_signals()?;

    engine.open_fifos();
    engine.clear_stale_vips(resume.as_ref());
    // keepalived installs its static entries before any instance runs.
    engine.statics(true);
    event_loop::start_trackers(&engine, false);
    // keepalived reads tracked files and scans processes before it starts
    // its instances, so one whose tracked object is failing starts in
    // FAULT rather than as master for a moment: wait (bounded) for their
    // first readings.
    let limit = crate::net::sys::Deadline::new().context("timerfd for start-up")?;
    limit.set(crate::net::sys::monotonic_us() + TRACKERS_FIRST_READING_US)?;
    while engine.trackers_unread() > 0 && inbox.stopping().is_none() {
        let ev = tokio::select! {
            ev = track_rx.recv() => ev,
            r = limit.wait() => { r?; None }
            () = inbox.stop_requested() => continue,
        };
        let Some(ev) = ev else {
            warn!(
                unread = engine.trackers_unread(),
                "tracked files or processes not read within {TRACKERS_FIRST_READING:?}; starting anyway"
            );
            break;
        };
        engine.on_track(ev);
    }
    // Ready as keepalived 2.2.7 is (once its configuration is read, before
    // the delay): systemd's start timeout (90 s by default) must not count
    // `vrrp_startup_delay`, or a long delay would time the start out, and a
    // stop during the delay would read as a failed start (a restart with
    // `Restart=on-failure`).
    startup::sd_notify("READY=1");
    // `vrrp_startup_delay` (a host whose network comes up slowly at boot); not
    // when taking over a running data path, whose masters must resume at once.
    let delay_ms = engine.config.global.startup_delay_ms;
    if delay_ms > 0 && resume.is_none() && inbox.stopping().is_none() {
        info!(
            delay_ms,
            "vrrp_startup_delay: waiting before starting the instances"
        );
        limit.set(crate::net::sys::monotonic_us() + u64::from(delay_ms) * 1000)?;
        tokio::select! {
            r = limit.wait() => r?,
            () = inbox.stop_requested() => {}
        }
    }
    // Not armed through the loop (a wake-up for nothing).
    drop(limit);
    // A stop during start-up's waits: no instance starts (a master would
    // take its VIPs and advertise only to give them up at once; one never
    // started gets no STOP notify either: it was never told BACKUP). The
    // loop's first turn sees the stop and the usual shutdown follows (the
    // static entries, macvlans and data path go). Taking over a running data
    // path, the recorded masters still resume (nothing else starts), so that
    // the shutdown hands them over and removes the VIPs they hold.
    let stopping = inbox.stopping().is_some();
    if stopping {
        if resume.is_some() {
            engine.start_all(resume.as_ref(), true);
        }
        if resume.is_some() {
            info!("stopped during start-up: only the resumed masters started, to hand over");
        } else {
            info!("stopped during start-up: no instance started");
        }
    } else {
        engine.start_all(resume.as_ref(), false);
        running(&mut engine);
    }

    let inputs = Inputs {
        config_path: opts.config.clone(),
        dump_dir: opts.dump_dir.clone(),
        fingerprint,
        shape,
        pin_dir: pin_dir.clone(),
        track_rx,
        vips_rx,
        reload_rx,
        snap_rx,
    };
    let ended = event_loop::run(&mut engine, inputs, &mut inbox).await?;
    inbox.close().await;
    startup::sd_notify("STOPPING=1");

    engine.shutdown();
    // The VIP removals and the notify scripts the shutdown queued run to
    // their end (the scripts bounded by the side thread's grace).
    let clean = ended != Ended::SideLost && engine.side.finish(Duration::from_secs(5));
    // A stop takes the data path down with it.
    if let Some(dp) = &mut engine.datapath {
        dp.unpin_links();
    }
    persist::remove_pins(&pin_dir);
    if clean {
        persist::forget(&opts.run_dir);
    } else {
        // Addresses, routes and macvlans may be left: a record no
        // configuration matches makes the next start remove them (and hold
        // a fresh election).
        let mut leftovers = engine.saved("unclean-stop", &pin_dir);
        leftovers.masters.clear();
        let all = || engine.instances.values();
        leftovers.routes = all().flat_map(|s| s.cfg.routes.clone()).collect();
        leftovers.rules = all().flat_map(|s| s.cfg.rules.clone()).collect();
        if !persist::store(&opts.run_dir, &leftovers) {
            error!("cannot record the VIPs that may be left; remove them by hand");
        }
    }
    drop(engine);
    let _ = fs::remove_file(&sock_path);
    if !clean {
        bail!("stopped without confirming that every VIP was removed (see above)");
    }
    info!("stopped");
    Ok(())
}

/// `xvrrpd status`: asks the daemon in `run_dir` for its snapshot.
pub fn query_status(run_dir: &Path) -> Result<status::Status> {
    use std::io::Read as _;
    let path = run_dir.join(SOCKET_NAME);
    let mut stream = std::os::unix::net::UnixStream::connect(&path).with_context(|| {
        format!(
            "no xvrrpd answers on {} (is it running with this --run-dir?)",
            path.display()
        )
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut body = String::new();
    stream.read_to_string(&mut body)?;
    serde_json::from_str(&body).context("unreadable status from the daemon")
}
