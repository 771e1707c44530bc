//! Start-up: the configuration, the pid file, bpffs, adopting (or cleaning
//! up) what a previous run left, the data path, the side thread and the
//! engine with every instance built.

use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result, bail};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use super::{
    ModeChoice, RunOptions, VmacChoice,
    engine::{Engine, Mode},
    persist::{self, Saved},
    runtime::PID_NAME,
    side::{Side, VipsDone},
};
use crate::{
    config::{self, diag::Severity, host::HostInfo, model::Config},
    datapath::{
        Datapath,
        attach::{AdvertPath, AttachMode, AttachPolicy, ResponderChoice},
    },
    scripts,
    trackers::TrackEvent,
};

/// What start-up hands the event loop.
pub struct Started {
    pub engine: Engine,
    /// The configuration and data-path shape `state.json` records.
    pub fingerprint: String,
    pub shape: String,
    pub pin_dir: PathBuf,
    /// What a crashed predecessor left running, to resume (XDP mode only:
    /// any other start removed the predecessor's leftovers).
    pub resume: Option<Saved>,
    pub track_rx: mpsc::UnboundedReceiver<TrackEvent>,
    pub vips_rx: mpsc::UnboundedReceiver<VipsDone>,
    /// Configurations the side thread read for a reload.
    pub reload_rx: mpsc::UnboundedReceiver<Result<super::side::Loaded>>,
    /// Held until the daemon exits.
    pub pid: PidFile,
}

/// Everything before the instances start. `opts.mode` may fall back to
/// socket mode (no bpffs in `auto`).
pub async fn start(opts: &mut RunOptions) -> Result<Started> {
    let config = load_config(&opts.config)?;
    // The reading's blocks go back to the kernel before the instances are
    // built. The model was once rebuilt here from a JSON copy to pack it
    // densely; since a read instance no longer leaves a string per keyword
    // behind, that copy (17 MiB at 16,000 instances, on top of the model)
    // only raised the peak: measured with and without, 4000 and 16,000
    // backups, the steady heap was no larger without it and the peak 3 MiB
    // lower at 16,000.
    crate::net::sys::release_free_heap();
    scripts::validate(&config)?;
    let pid = PidFile::create(&opts.run_dir)?;
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
    let fingerprint = persist::fingerprint(&config, &shape_of(opts))?;
    let pin_dir = persist::pin_dir(&opts.bpffs, &opts.run_dir);
    let saved = persist::load(&opts.run_dir);
    let adopt = saved
        .as_ref()
        .filter(|s| s.fingerprint == fingerprint && opts.mode != ModeChoice::Socket)
        .cloned();
    if adopt.is_none() && (saved.is_some() || pin_dir.exists()) {
        let mut addrs = crate::net::addr::Addresses::open(crate::net::addr::Ours::default())?;
        persist::clean_leftovers(&saved.clone().unwrap_or_default(), &pin_dir, &mut addrs).await?;
        persist::forget(&opts.run_dir);
    }
    let policy = attach_policy(opts.mode, opts.responder, opts.adverts);
    let (mode, dp) = choose_mode(opts.mode, policy, &config, &pin_dir)?;
    let resume = match adopt {
        Some(saved) if mode == Mode::Xdp => {
            if dp.as_ref().is_some_and(Datapath::maps_fresh) {
                // Its maps were gone or unusable: the record's addresses and
                // states resume, the kernel's advert state starts empty.
                info!(
                    pins = %pin_dir.display(),
                    "resuming a previous controller; its data path's maps were gone: loaded afresh"
                );
            } else {
                info!(pins = %pin_dir.display(), "adopting the running data path of a previous controller");
            }
            Some(saved)
        }
        // `auto` whose XDP attach failed this time: socket mode resumes
        // nothing, so what the record lists goes like any other leftover.
        Some(saved) => {
            let mut addrs = crate::net::addr::Addresses::open(crate::net::addr::Ours::default())?;
            persist::clean_leftovers(&saved, &pin_dir, &mut addrs).await?;
            persist::forget(&opts.run_dir);
            None
        }
        None => None,
    };
    // The record names the mode in effect: an `auto` run that fell back to
    // socket mode is never adopted by a later `auto` start that gets XDP.
    if mode == Mode::Socket {
        opts.mode = ModeChoice::Socket;
    }
    let shape = shape_of(opts);
    let fingerprint = persist::fingerprint(&config, &shape)?;
    // The side thread first: before the scheduling keywords make this
    // thread real-time (it and its scripts keep normal priority).
    let (track_tx, track_rx) = mpsc::unbounded_channel();
    let (vips_tx, vips_rx) = mpsc::unbounded_channel();
    let (reload_tx, reload_rx) = mpsc::unbounded_channel();
    // While this thread still may enter the host's network namespace.
    let host_connector = if config.track_processes.is_empty() {
        None
    } else {
        crate::trackers::process::host_connector()
    };
    let side = Side::start(opts.run_dir.clone(), track_tx, vips_tx, reload_tx, host_connector)?;
    let make_vmacs = !(opts.vmac == VmacChoice::Xdp && mode == Mode::Xdp);
    if opts.vmac == VmacChoice::Xdp && make_vmacs && config.instances.iter().any(|i| i.vmac.is_some()) {
        warn!("--vmac xdp needs the XDP data path: making macvlans in socket mode");
    }
    let vmac_links = if make_vmacs {
        prepare_vmacs(&config).await
    } else {
        crate::net::vmac::Links::new()
    };
    let mut engine = Engine::new(config, mode, dp, side, vmac_links)?;
    engine.make_vmacs = make_vmacs;
    if mode == Mode::Xdp
        && let Some(policy) = policy
    {
        engine.xdp_attach = Some((policy, pin_dir.clone()));
    }
    Ok(Started {
        engine,
        fingerprint,
        shape,
        pin_dir,
        resume,
        track_rx,
        vips_rx,
        reload_rx,
        pid,
    })
}

/// Makes the `use_vmac` macvlans of `config` (see `net::vmac`).
pub async fn prepare_vmacs(config: &Config) -> crate::net::vmac::Links {
    if config.instances.iter().all(|i| i.vmac.is_none()) {
        return crate::net::vmac::Links::new();
    }
    let (conn, handle, _) = match rtnetlink::new_connection() {
        Ok(c) => c,
        Err(e) => {
            warn!("use_vmac: no rtnetlink socket: {e}");
            return crate::net::vmac::Links::new();
        }
    };
    let task = tokio::spawn(conn);
    let links = crate::net::vmac::prepare(&handle, config).await;
    task.abort();
    links
}

/// Reads the configuration the way `check` does; errors refuse it.
pub fn load_config(path: &Path) -> Result<Config> {
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

/// The pid file, locked (flock) for the daemon's life: a second daemon on
/// the same run directory refuses at once, whatever the file says, and a
/// stale file from a killed daemon holds no lock.
pub struct PidFile {
    path: PathBuf,
    _file: fs::File,
}

impl PidFile {
    fn create(dir: &Path) -> Result<Self> {
        use std::os::fd::AsRawFd as _;
        fs::create_dir_all(dir).with_context(|| format!("creating run directory {}", dir.display()))?;
        let path = dir.join(PID_NAME);
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let holder = fs::read_to_string(&path).unwrap_or_default();
            bail!(
                "another xvrrpd (pid {}) runs with run directory {}; use --run-dir",
                holder.trim(),
                dir.display()
            );
        }
        file.set_len(0)?;
        writeln!(file, "{}", std::process::id())?;
        Ok(Self { path, _file: file })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Loads and attaches the XDP program to every interface the instances use.
fn attach_xdp(config: &Config, policy: AttachPolicy, pin_dir: &Path) -> Result<Datapath> {
    let mut dp = Datapath::open_pinned(pin_dir, policy.adverts == AdvertPath::Tc, config.instances.len())?;
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

/// The data path's shape, part of the record's fingerprint: where adverts
/// are validated, who answers ARP/NDP, what `use_vmac` makes.
fn shape_of(opts: &RunOptions) -> String {
    format!(
        "{}-{:?}-{:?}-{:?}",
        choice_name(opts.mode),
        opts.adverts,
        opts.responder,
        opts.vmac
    )
}

fn choice_name(choice: ModeChoice) -> &'static str {
    match choice {
        ModeChoice::Auto => "auto",
        ModeChoice::Xdp => "xdp",
        ModeChoice::XdpSkb => "xdp-skb",
        ModeChoice::Socket => "socket",
    }
}

/// Tells systemd (`Type=notify`) `msg`: `READY=1`, `STOPPING=1`.
pub fn sd_notify(msg: &str) {
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
            .and_then(|a| sock.send_to_addr(msg.as_bytes(), &a))
    } else {
        sock.send_to(msg.as_bytes(), Path::new(&path))
    };
    if let Err(e) = result {
        warn!("sd_notify {msg} failed: {e}");
    }
}
