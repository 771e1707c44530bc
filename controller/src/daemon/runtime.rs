//! The event loop around `Engine`, and everything a process needs around it:
//! configuration loading, the pid file and control socket in the run
//! directory, signals, systemd readiness, metrics.

use std::{
    fs,
    io::Write as _,
    net::SocketAddr,
    os::fd::RawFd,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, Result, bail};
use futures::{FutureExt as _, future::select_all};
use tokio::{
    io::unix::AsyncFd,
    signal::unix::{SignalKind, signal},
    sync::mpsc,
};
use tracing::{error, info, warn};

use super::{
    engine::{Engine, Mode},
    persist::{self, Saved},
    serve,
    side::{Job, Side},
    status,
};
use crate::{
    config::{self, diag::Severity, host::HostInfo, model::Config},
    datapath::{
        Datapath,
        attach::{AdvertPath, AttachMode, AttachPolicy, ResponderChoice},
    },
    net::sys::monotonic_us,
    scripts,
};

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

pub struct RunOptions {
    pub config: PathBuf,
    /// Where bpffs is (or gets) mounted, for the pinned data path.
    pub bpffs: PathBuf,
    pub mode: ModeChoice,
    /// `--arp-responder`.
    pub responder: ResponderChoice,
    /// `--adverts-in`.
    pub adverts: AdvertPath,
    pub run_dir: PathBuf,
    pub metrics: Option<SocketAddr>,
}

pub const SOCKET_NAME: &str = "xvrrpd.sock";
pub const PID_NAME: &str = "xvrrpd.pid";

/// Reads the configuration the way `check` does; errors refuse it.
fn load_config(path: &Path) -> Result<Config> {
    let host = HostInfo::current().context("reading this host's interfaces")?;
    let loaded = config::load_for_host(path, &host);
    let base = path.parent().unwrap_or(Path::new("."));
    for d in &loaded.diagnostics {
        match d.severity {
            Severity::Error => error!("{}", d.display_relative_to(base)),
            Severity::Warning => warn!("{}", d.display_relative_to(base)),
            Severity::Note => info!("{}", d.display_relative_to(base)),
        }
    }
    match loaded.config {
        Some(config) if !loaded.has_errors() => Ok(config),
        _ => bail!(
            "{}: configuration has errors (see above); `xvrrpd check -f {0}` lists them",
            path.display()
        ),
    }
}

/// The pid file: refuses to start next to a live daemon, replaces a stale one.
struct PidFile(PathBuf);

impl PidFile {
    fn create(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("creating run directory {}", dir.display()))?;
        let path = dir.join(PID_NAME);
        if let Ok(text) = fs::read_to_string(&path)
            && let Ok(pid) = text.trim().parse::<i32>()
            && u32::try_from(pid).ok() != Some(std::process::id())
            // SAFETY: signal 0 only checks that the process exists.
            && unsafe { libc::kill(pid, 0) } == 0
            && fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "xvrrpd")
            // A zombie (killed, not yet reaped by its parent) holds nothing.
            && !fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
        {
            bail!(
                "another xvrrpd (pid {pid}) runs with run directory {}; use --run-dir",
                dir.display()
            );
        }
        let mut f = fs::File::create(&path).with_context(|| format!("writing {}", path.display()))?;
        writeln!(f, "{}", std::process::id())?;
        Ok(Self(path))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Loads and attaches the XDP program to every interface the instances use.
fn attach_xdp(config: &Config, policy: AttachPolicy, pin_dir: &Path) -> Result<Datapath> {
    let mut dp = Datapath::load_pinned(pin_dir)?;
    let mut done = Vec::new();
    for inst in &config.instances {
        let Some(ifname) = inst.interface.as_deref() else {
            continue;
        };
        // A missing interface is attached when it appears (its instance waits in FAULT).
        if done.iter().any(|d| d == ifname) || crate::net::sys::ifindex(ifname).is_err() {
            continue;
        }
        dp.attach_pinned(ifname, policy, pin_dir)?;
        done.push(ifname.to_owned());
    }
    Ok(dp)
}

/// How `--mode` attaches the program (`None`: socket mode).
fn attach_policy(
    choice: ModeChoice,
    responder: ResponderChoice,
    adverts: AdvertPath,
) -> Option<AttachPolicy> {
    let mode = match choice {
        ModeChoice::Socket => return None,
        ModeChoice::Auto => AttachMode::Auto,
        ModeChoice::Xdp => AttachMode::Native,
        ModeChoice::XdpSkb => AttachMode::Generic,
    };
    Some(AttachPolicy {
        mode,
        responder,
        adverts,
    })
}

fn choose_mode(
    choice: ModeChoice,
    policy: Option<AttachPolicy>,
    config: &Config,
    pin_dir: &Path,
) -> Result<(Mode, Option<Datapath>)> {
    let Some(policy) = policy else {
        return Ok((Mode::Socket, None));
    };
    match choice {
        ModeChoice::Auto => match attach_xdp(config, policy, pin_dir) {
            Ok(dp) => Ok((Mode::Xdp, Some(dp))),
            Err(e) => {
                warn!("XDP data path unavailable ({e:#}); falling back to socket mode");
                persist::remove_pins(pin_dir);
                Ok((Mode::Socket, None))
            }
        },
        // `xdp` and `xdp-skb`: the program or nothing (socket mode has no policy).
        _ => Ok((Mode::Xdp, Some(attach_xdp(config, policy, pin_dir)?))),
    }
}

fn choice_name(choice: ModeChoice) -> &'static str {
    match choice {
        ModeChoice::Auto => "auto",
        ModeChoice::Xdp => "xdp",
        ModeChoice::XdpSkb => "xdp-skb",
        ModeChoice::Socket => "socket",
    }
}

/// Tells systemd we are up, when it started us with `Type=notify`.
fn sd_notify_ready() {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    let result = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt as _;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|a| sock.send_to_addr(b"READY=1", &a))
    } else {
        sock.send_to(b"READY=1", Path::new(&path))
    };
    if let Err(e) = result {
        warn!("sd_notify READY=1 failed: {e}");
    }
}

/// (Re)starts the health checks on the side thread.
fn start_scripts(engine: &Engine) {
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
    engine.side.send(Job::HealthChecks {
        scripts: tracked,
        user: engine.config.global.script_user.clone(),
    });
}

/// SIGHUP: apply a new configuration; one with errors is refused whole.
fn reload(engine: &mut Engine, path: &Path) -> Result<()> {
    let new = load_config(path).context("reload refused; the running configuration stays")?;
    scripts::validate(&new).context("reload refused; the running configuration stays")?;
    let g = &engine.config.global;
    if (new.global.mcast_group4, new.global.mcast_group6) != (g.mcast_group4, g.mcast_group6) {
        // Every instance and receive socket would have to move to the new group at
        // once; half-moved routers would not hear each other.
        anyhow::bail!(
            "reload refused; the running configuration stays: vrrp_mcast_group4/6 changed, which needs a restart"
        );
    }
    if new.global.scheduling != g.scheduling {
        warn!(
            "reload: the scheduling keywords (vrrp_priority, vrrp_rt_priority, ...) changed; they apply at the next start"
        );
    }
    engine.apply_reload(&new);
    Ok(())
}

/// Runs the daemon until SIGTERM/SIGINT.
pub fn run(opts: RunOptions) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(opts))
}

async fn run_async(mut opts: RunOptions) -> Result<()> {
    let config = load_config(&opts.config)?;
    scripts::validate(&config)?;
    let _pid = PidFile::create(&opts.run_dir)?;
    // The XDP modes pin their data path in bpffs (crash-only restarts adopt
    // it). Without a bpffs and without CAP_SYS_ADMIN to mount one (the
    // shipped unit mounts it in ExecStartPre instead), `auto` keeps VRRP
    // running in socket mode; `xdp` / `xdp-skb` refuse, saying what to do.
    if opts.mode != ModeChoice::Socket
        && let Err(e) = persist::ensure_bpffs(&opts.bpffs)
    {
        let fix = format!(
            "mount it (mount -t bpf bpf {0}), or give the daemon CAP_SYS_ADMIN to mount it, or point --bpffs at a bpffs",
            opts.bpffs.display()
        );
        if opts.mode != ModeChoice::Auto {
            bail!("no bpffs for the XDP data path: {e:#}; {fix}");
        }
        warn!("no bpffs for the XDP data path ({e:#}): running in socket mode; {fix}");
        opts.mode = ModeChoice::Socket;
    }

    // Crash-only restart: adopt a data path left by a controller that died with
    // the same configuration; remove anything else a previous run left.
    // The data path's shape is part of what is adopted: where adverts are
    // validated and who answers ARP/NDP.
    let shape = format!(
        "{}-{:?}-{:?}",
        choice_name(opts.mode),
        opts.adverts,
        opts.responder
    );
    let fingerprint = persist::fingerprint(&config, &shape);
    let pin_dir = persist::pin_dir(&opts.bpffs, &opts.run_dir);
    let saved = persist::load(&opts.run_dir);
    let adopt = saved
        .as_ref()
        .filter(|s| s.fingerprint == fingerprint && opts.mode != ModeChoice::Socket)
        .cloned();
    if adopt.is_none() && (saved.is_some() || pin_dir.exists()) {
        let mut addrs = crate::net::addr::Addresses::open()?;
        persist::clean_leftovers(&saved.clone().unwrap_or_default(), &pin_dir, &mut addrs).await?;
        persist::forget(&opts.run_dir);
    }
    let policy = attach_policy(opts.mode, opts.responder, opts.adverts);
    let (mode, dp) = choose_mode(opts.mode, policy, &config, &pin_dir)?;
    if adopt.is_some() && mode == Mode::Xdp {
        info!(pins = %pin_dir.display(), "adopting the running data path of a previous controller");
    }
    // The side thread first: before the scheduling keywords make this
    // thread real-time (it and its scripts keep normal priority).
    let (script_tx, mut script_rx) = mpsc::unbounded_channel();
    let (vips_tx, mut vips_rx) = mpsc::unbounded_channel();
    let side = Side::start(opts.run_dir.clone(), script_tx, vips_tx)?;
    let mut engine = Engine::new(config, mode, dp, side)?;
    if mode == Mode::Xdp
        && let Some(policy) = policy
    {
        engine.xdp_attach = Some((policy, pin_dir.clone()));
    }

    let sock_path = opts.run_dir.join(SOCKET_NAME);
    let _ = fs::remove_file(&sock_path);
    let control = std::os::unix::net::UnixListener::bind(&sock_path)
        .with_context(|| format!("control socket {}", sock_path.display()))?;
    control.set_nonblocking(true)?;
    // Root only: status cannot change anything, but it shows the configuration.
    fs::set_permissions(&sock_path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    let metrics = match opts.metrics {
        Some(addr) => {
            let l =
                std::net::TcpListener::bind(addr).with_context(|| format!("metrics listener on {addr}"))?;
            l.set_nonblocking(true)?;
            Some(l)
        }
        None => None,
    };
    // Status and metrics are served on a thread of their own; the loop below
    // only answers their snapshot requests.
    let (snap_tx, mut snap_rx) = tokio::sync::mpsc::channel::<serve::SnapshotRequest>(64);
    serve::start(control, metrics, snap_tx).context("starting the status and metrics thread")?;
    let mut snapshots = serve::SnapshotCache::default();
    let deadline = crate::net::sys::Deadline::new().context("timerfd for the protocol timers")?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;

    // SAFETY (both registrations): the fds belong to the engine's ring buffer and
    // sockets, which live in `engine` until after this loop and these AsyncFds end.
    let events: Option<AsyncFd<RawFd>> = match &engine.datapath {
        Some(dp) => Some(unsafe { AsyncFd::register(dp.events_fd()) }.map_err(std::io::Error::from)?),
        None => None,
    };
    let mut receivers: Vec<AsyncFd<RawFd>> = if mode == Mode::Socket {
        engine
            .pool
            .receivers
            .iter()
            .map(|r| unsafe { AsyncFd::register(r.fd()) }.map_err(std::io::Error::from))
            .collect::<std::io::Result<_>>()?
    } else {
        Vec::new()
    };

    start_scripts(&engine);
    let resume = adopt.as_ref().filter(|_| mode == Mode::Xdp);
    // `vrrp_startup_delay` (a host whose network comes up slowly at boot); not
    // when taking over a running data path, whose masters must resume at once.
    let delay_ms = engine.config.global.startup_delay_ms;
    if delay_ms > 0 && resume.is_none() {
        info!(
            delay_ms,
            "vrrp_startup_delay: waiting before starting the instances"
        );
        tokio::time::sleep(Duration::from_millis(u64::from(delay_ms))).await;
    }
    engine.start_all(resume);
    let mut last_saved = Saved::default();
    let mut side_lost = false;
    let mut saved_generation = None;
    engine.on_health_change();
    // RLIMIT_RTTIME's soft limit raises SIGXCPU (by default fatal): logged instead.
    let mut xcpu = signal(SignalKind::from_raw(libc::SIGXCPU))?;
    // keepalived's scheduling keywords, while CAP_SYS_NICE / CAP_IPC_LOCK are still held.
    super::sched::apply(&engine.config.global.scheduling);
    // Everything privileged at start-up is done (program loaded, sockets open, run dir made).
    if let Err(e) = super::privileges::drop_unneeded() {
        warn!("could not drop capabilities: {e:#}");
    }
    info!(
        mode = mode.name(),
        instances = engine.instances.len(),
        "xvrrpd running"
    );
    sd_notify_ready();

    // Link changes arrive as rtnetlink notifications; the poll is the safety
    // net (a lost notification, every 5 s) and notices addresses appearing
    // for instances that wait for one (every second while any waits).
    let mut links = crate::net::monitor::LinkMonitor::open()
        .inspect_err(|e| warn!("link notifications unavailable ({e:#}): polling every second"))
        .ok();
    let notified = links.is_some();
    let poll_period = move |engine: &Engine| {
        Duration::from_secs(if notified && engine.instances.waiting.is_empty() {
            5
        } else {
            1
        })
    };
    let mut last_poll = tokio::time::Instant::now();
    // Receive sockets whose budget ran out with frames left (socket mode).
    let mut backlog: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    loop {
        if std::mem::take(&mut engine.pool.receivers_changed) && mode == Mode::Socket {
            // Reload or a re-created interface changed the sockets: watch the new set.
            receivers.clear();
            backlog.clear();
            for r in &engine.pool.receivers {
                // SAFETY: as above; the engine keeps each socket until the next change.
                receivers.push(unsafe { AsyncFd::register(r.fd()) }.map_err(std::io::Error::from)?);
            }
        }
        if mode == Mode::Xdp && Some(engine.saved_generation()) != saved_generation {
            // Written on the side thread (which retries a failed write).
            saved_generation = Some(engine.saved_generation());
            let now_saved = engine.saved(&fingerprint, &pin_dir);
            if now_saved != last_saved {
                engine.side.send(Job::Store(now_saved.clone()));
                last_saved = now_saved;
            }
        }
        // The next timer, at the kernel's precision (an hour away when none).
        let next = engine
            .next_deadline()
            .unwrap_or_else(|| monotonic_us() + 3_600_000_000);
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
                engine.on_timers();
            }
            _ = term.recv() => { info!("SIGTERM: stopping"); break; }
            _ = int.recv() => { info!("SIGINT: stopping"); break; }
            () = xdp_ready => engine.on_xdp_events(),
            done = vips_rx.recv() => {
                let Some(done) = done else {
                    // It never should; without it no VIP moves and no script runs.
                    error!("the side thread stopped (VIPs, scripts, state.json): stopping the daemon");
                    side_lost = true;
                    break;
                };
                engine.on_vips_done(done);
            }
            Some(ev) = script_rx.recv() => engine.on_script(&ev),
            () = async {
                match links.as_mut() {
                    Some(l) => l.changed().await,
                    None => std::future::pending().await,
                }
            } => engine.on_link_poll(),
            () = tokio::time::sleep_until(last_poll + poll_period(&engine)) => {
                engine.on_link_poll();
                last_poll = tokio::time::Instant::now();
            }
            Some(req) = snap_rx.recv() => {
                let generation = engine.saved_generation();
                let snap = snapshots.get(!req.fresh, generation, || status::snapshot(&mut engine));
                let _ = req.reply.send(snap);
            }
            _ = hup.recv() => {
                info!("SIGHUP: reloading {}", opts.config.display());
                match reload(&mut engine, &opts.config) {
                    Ok(()) => {
                        start_scripts(&engine);
                        info!("reload done");
                    }
                    Err(e) => error!("{e:#}"),
                }
            }
            _ = xcpu.recv() => warn!(
                "SIGXCPU: a CPU time limit was reached (vrrp_rlimit_rttime: half of it used without blocking)"
            ),
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
    }
    engine.shutdown();
    // The VIP removals and the notify scripts the shutdown queued run to
    // their end (the scripts bounded by the side thread's grace).
    let clean = !side_lost && engine.side.finish(Duration::from_secs(5));
    // A stop takes the data path down with it.
    if let Some(dp) = &mut engine.datapath {
        dp.unpin_links();
    }
    persist::remove_pins(&pin_dir);
    if clean {
        persist::forget(&opts.run_dir);
    } else {
        // Addresses may be left: a record no configuration matches makes the
        // next start remove them (and hold a fresh election).
        let leftovers = Saved {
            fingerprint: "unclean-stop".to_owned(),
            pin_dir: pin_dir.clone(),
            masters: Vec::new(),
            vips: engine.installed_or_pending(),
        };
        if !persist::store(&opts.run_dir, &leftovers) {
            error!("cannot record the VIPs that may be left; remove them by hand");
        }
    }
    drop(receivers);
    drop(events);
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
