//! Installed or symlinked as `keepalived`, the binary takes keepalived
//! 2.2's command line for the VRRP side, so units, init scripts and tools
//! that start keepalived (OpenShift's `keepalived --dont-fork --vrrp
//! --log-detail --log-console`, neutron's `keepalived -P -f … -p … -r …`,
//! RHEL's `KEEPALIVED_OPTIONS="-D"`) start xvrrp unchanged. keepalived's
//! behaviour is the reference (see the README for what differs):
//! - `-t[FILE]` tests the configuration: exit 0 clean (warnings included),
//!   4 the file is missing or unreadable, 5 errors, 6 script security;
//! - `--signum=NAME` prints a signal number; `-v` the version (stderr);
//! - without `-n` it daemonizes; the parent returns once the pid files are
//!   written (`Type=forking` units with `PIDFile=`);
//! - logs go to syslog (`Keepalived_vrrp[PID]`, facility `-S`, default
//!   daemon) unless `-G`, and to the console with `-l` and `-n`;
//! - a live process in the `-p` / `-r` pid file means "daemon is already
//!   running": logged, exit 0, as keepalived does.

use std::{
    ffi::OsString,
    fs,
    io::Write as _,
    os::fd::{FromRawFd as _, OwnedFd},
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context as _, Result, bail};
use clap::{ArgAction, Parser};

use super::logging;
use crate::{
    config::{self, diag::Severity, host::HostInfo},
    daemon::{self, ModeChoice, RunOptions, inbox},
    datapath::attach::{AdvertPath, ResponderChoice},
};

/// keepalived 2.2's options. Those that concern the checker, BFD, SNMP or
/// LVS are accepted and have no effect (xvrrp is the VRRP side only).
#[derive(Parser, Debug)]
#[expect(
    clippy::option_option,
    reason = "clap's optional-value options: absent, given, given with a value"
)]
#[expect(clippy::struct_excessive_bools, reason = "keepalived's flags")]
#[command(name = "keepalived", disable_help_flag = true, disable_version_flag = true)]
struct Args {
    #[arg(
        short = 'f',
        long = "use-file",
        default_value = "/etc/keepalived/keepalived.conf"
    )]
    use_file: PathBuf,
    #[arg(short = 'P', long = "vrrp")]
    vrrp: bool,
    #[arg(short = 'C', long = "check")]
    check: bool,
    #[arg(short = 'B', long = "no_bfd")]
    no_bfd: bool,
    #[arg(long = "all")]
    all: bool,
    #[arg(short = 'l', long = "log-console")]
    log_console: bool,
    #[arg(short = 'D', long = "log-detail", action = ArgAction::Count)]
    log_detail: u8,
    #[arg(short = 'S', long = "log-facility")]
    log_facility: Option<String>,
    #[arg(short = 'g', long = "log-file", num_args = 0..=1, require_equals = true)]
    log_file: Option<Option<PathBuf>>,
    #[arg(long = "flush-log-file")]
    flush_log_file: bool,
    #[arg(short = 'G', long = "no-syslog")]
    no_syslog: bool,
    #[arg(short = 'u', long = "umask")]
    umask: Option<String>,
    #[arg(short = 'X', long = "release-vips")]
    release_vips: bool,
    #[arg(short = 'V', long = "dont-release-vrrp")]
    dont_release_vrrp: bool,
    #[arg(short = 'I', long = "dont-release-ipvs")]
    dont_release_ipvs: bool,
    #[arg(short = 'R', long = "dont-respawn")]
    dont_respawn: bool,
    #[arg(short = 'n', long = "dont-fork")]
    dont_fork: bool,
    #[arg(short = 'd', long = "dump-conf")]
    dump_conf: bool,
    #[arg(short = 'p', long = "pid", default_value = "/run/keepalived.pid")]
    pid: PathBuf,
    #[arg(short = 'r', long = "vrrp_pid", default_value = "/run/vrrp.pid")]
    vrrp_pid: PathBuf,
    #[arg(short = 'c', long = "checkers_pid")]
    checkers_pid: Option<PathBuf>,
    #[arg(short = 'b', long = "bfd_pid")]
    bfd_pid: Option<PathBuf>,
    #[arg(short = 'a', long = "address-monitoring")]
    address_monitoring: bool,
    #[arg(short = 'x', long = "snmp")]
    snmp: bool,
    #[arg(short = 'A', long = "snmp-agent-socket")]
    snmp_agent_socket: Option<String>,
    #[arg(short = 's', long = "namespace")]
    namespace: Option<String>,
    #[arg(short = 'm', long = "core-dump")]
    core_dump: bool,
    #[arg(short = 'M', long = "core-dump-pattern", num_args = 0..=1, require_equals = true)]
    core_dump_pattern: Option<Option<String>>,
    #[arg(short = 'e', long = "all-config")]
    all_config: bool,
    #[arg(short = 'i', long = "config-id")]
    config_id: Option<String>,
    #[arg(long = "signum")]
    signum: Option<String>,
    #[arg(short = 't', long = "config-test", num_args = 0..=1)]
    config_test: Option<Option<PathBuf>>,
    #[arg(long = "config-fd")]
    config_fd: Option<String>,
    #[arg(short = 'v', long = "version")]
    version: bool,
    #[arg(short = 'h', long = "help")]
    help: bool,
    /// keepalived prints stray arguments and goes on.
    #[arg(hide = true)]
    rest: Vec<String>,
}

/// True when the binary was started under keepalived's name.
pub fn invoked_as_keepalived(argv0: Option<&OsString>) -> bool {
    argv0
        .and_then(|a| Path::new(a).file_name())
        .is_some_and(|n| n == "keepalived")
}

/// keepalived's `--signum` names (lib/signals.c).
fn signum(name: &str) -> Option<i32> {
    Some(match name {
        "STOP" => libc::SIGTERM,
        "RELOAD" => libc::SIGHUP,
        "DATA" => libc::SIGUSR1,
        "STATS" => libc::SIGUSR2,
        "STATS_CLEAR" => inbox::sigstats_clear(),
        "JSON" => inbox::sigjson(),
        _ => return None,
    })
}

pub fn main(argv: Vec<OsString>) -> ExitCode {
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            eprint!("{e}");
            return ExitCode::from(1);
        }
    };
    if args.help {
        use clap::CommandFactory as _;
        eprintln!("{}", Args::command().render_help());
        return ExitCode::SUCCESS;
    }
    if args.version {
        eprintln!(
            "Keepalived v2.2.7 compatible: xvrrpd {} (the VRRP side, with an XDP data path)",
            env!("CARGO_PKG_VERSION")
        );
        return ExitCode::SUCCESS;
    }
    if let Some(name) = &args.signum {
        let Some(n) = signum(name) else {
            eprintln!("Unknown sigfunc {name}");
            return ExitCode::from(1);
        };
        println!("{n}");
        return ExitCode::SUCCESS;
    }
    if let Some(file) = &args.config_test {
        return config_test(&args.use_file, file.as_deref());
    }
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("keepalived (xvrrpd): {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `-t`: keepalived's exit codes (lib/scheduler.h): 0 clean, 4 the file
/// cannot be read, 5 configuration errors, 6 a script security violation.
/// Diagnostics go to stderr, or to FILE.
fn config_test(path: &Path, out: Option<&Path>) -> ExitCode {
    let mut text = String::new();
    let code = if fs::metadata(path).is_err() {
        text.push_str(&format!("Config file '{}' cannot be read\n", path.display()));
        4
    } else {
        let loaded = match HostInfo::current() {
            Ok(host) => config::load_for_host(path, &host),
            Err(_) => config::load(path),
        };
        for d in &loaded.diagnostics {
            text.push_str(&format!("{d}\n"));
        }
        match &loaded.config {
            Some(c) if !loaded.diagnostics.iter().any(|d| d.severity == Severity::Error) => {
                match crate::scripts::validate(c) {
                    Ok(()) => 0,
                    Err(e) => {
                        text.push_str(&format!("SECURITY VIOLATION - {e:#}\n"));
                        6
                    }
                }
            }
            _ => 5,
        }
    };
    let written = match out {
        Some(file) => fs::write(file, &text).is_ok(),
        None => std::io::stderr().write_all(text.as_bytes()).is_ok(),
    };
    if !written {
        eprint!("{text}");
    }
    ExitCode::from(code)
}

/// Where xvrrp keeps its run directory: named after the VRRP pid file
/// keepalived was given (`DIR/NAME.xvrrp`: several keepalived per host, e.g.
/// one per neutron router, each with its own pid files, possibly in one
/// directory), or /run/xvrrp with keepalived's default pid files.
fn run_dir(args: &Args) -> PathBuf {
    if args.vrrp_pid == Path::new("/run/vrrp.pid") && args.pid == Path::new("/run/keepalived.pid") {
        return PathBuf::from("/run/xvrrp");
    }
    let mut name = args.vrrp_pid.file_name().unwrap_or_default().to_owned();
    name.push(".xvrrp");
    args.vrrp_pid.with_file_name(name)
}

/// The pid in a pid file, if that process is alive.
fn running_pid(path: &Path) -> Option<i32> {
    let pid: i32 = fs::read_to_string(path).ok()?.trim().parse().ok()?;
    // SAFETY: signal 0 only checks that the process exists.
    (pid > 0 && u32::try_from(pid).ok() != Some(std::process::id()) && unsafe { libc::kill(pid, 0) } == 0)
        .then_some(pid)
}

/// Removes the pid files it wrote when the daemon ends.
struct PidFiles(Vec<PathBuf>);

impl Drop for PidFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = fs::remove_file(p);
        }
    }
}

fn run(args: &Args) -> Result<ExitCode> {
    if args.check && !args.vrrp {
        bail!("-C/--check runs keepalived's checker (LVS), which xvrrp does not have; run with -P");
    }
    let facility = logging::facility(args.log_facility.as_deref().unwrap_or("daemon"))?;
    let syslog = (!args.no_syslog)
        .then(|| logging::Syslog::open(facility, "Keepalived_vrrp"))
        .flatten();
    // keepalived logs to the console only in the foreground (-l with -n).
    let console = args.dont_fork && (args.log_console || syslog.is_none());
    let level = if args.log_detail > 1 { "debug" } else { "info" };
    logging::init(level, console, syslog)?;
    for (given, what) in [
        (args.snmp || args.snmp_agent_socket.is_some(), "SNMP (-x/-A)"),
        (args.log_file.is_some(), "a log file (-g)"),
        (args.config_id.is_some(), "a config id (-i)"),
        (args.config_fd.is_some(), "--config-fd"),
        (args.release_vips, "-X (release VIPs on a signalled transition)"),
        (args.dont_release_vrrp, "-V (keep VIPs at exit)"),
    ] {
        if given {
            tracing::warn!("{what} is not supported by xvrrp; ignored");
        }
    }
    for p in [&args.pid, &args.vrrp_pid] {
        if let Some(pid) = running_pid(p) {
            tracing::info!("daemon is already running (pid {pid} in {})", p.display());
            return Ok(ExitCode::SUCCESS);
        }
    }
    if let Some(ns) = &args.namespace {
        // Process events reach only the host's namespace: keep it for them.
        crate::trackers::process::remember_start_netns();
        enter_namespace(ns)?;
    }
    if args.core_dump || args.core_dump_pattern.is_some() {
        let unlimited = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: setrlimit with a valid struct.
        unsafe { libc::setrlimit(libc::RLIMIT_CORE, &raw const unlimited) };
    }
    if let Some(mask) = &args.umask {
        let m = u32::from_str_radix(mask.trim_start_matches("0o"), 8)
            .with_context(|| format!("-u {mask}: not an octal umask"))?;
        // SAFETY: umask only sets the process's file creation mask.
        unsafe { libc::umask(m & 0o777) };
    }
    let ready = if args.dont_fork { None } else { Some(daemonize()?) };
    let pid_files = PidFiles(vec![args.pid.clone(), args.vrrp_pid.clone()]);
    for p in &pid_files.0 {
        fs::write(p, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(ready) = ready {
        // The parent returns now (systemd reads PIDFile= after it does).
        let mut f = fs::File::from(ready);
        let _ = f.write_all(b"1");
    }
    daemon::run(RunOptions {
        config: args.use_file.clone(),
        vmac: daemon::VmacChoice::Macvlan,
        bpffs: PathBuf::from(daemon::persist::DEFAULT_BPFFS),
        mode: ModeChoice::Auto,
        responder: ResponderChoice::Auto,
        adverts: AdvertPath::Tc,
        run_dir: run_dir(args),
        metrics: None,
        dump_dir: daemon::dump::dir(None),
    })?;
    drop(pid_files);
    Ok(ExitCode::SUCCESS)
}

/// `-s NAME`: run in network namespace NAME (`/run/netns/NAME`), as keepalived.
fn enter_namespace(name: &str) -> Result<()> {
    let path = Path::new("/run/netns").join(name);
    let f = fs::File::open(&path).with_context(|| format!("network namespace {}", path.display()))?;
    // SAFETY: setns on an open namespace file; the process is single-threaded here.
    let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) };
    if rc != 0 {
        bail!(
            "entering network namespace {name}: {}",
            std::io::Error::last_os_error()
        );
    }
    // As `ip netns exec`: a mount namespace of its own with the namespace's
    // /sys, where interface facts (MAC, link state) are read.
    let (root, sys, sysfs) = (c"/", c"/sys", c"sysfs");
    let null = std::ptr::null();
    // SAFETY: unshare and mount calls with valid C strings; single-threaded.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0
            || libc::mount(
                null,
                root.as_ptr(),
                null,
                libc::MS_SLAVE | libc::MS_REC,
                std::ptr::null(),
            ) != 0
        {
            bail!(
                "a mount namespace for {name}: {}",
                std::io::Error::last_os_error()
            );
        }
        libc::umount2(sys.as_ptr(), libc::MNT_DETACH);
        if libc::mount(sysfs.as_ptr(), sys.as_ptr(), sysfs.as_ptr(), 0, std::ptr::null()) != 0 {
            bail!("mounting /sys for {name}: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Forks into the background. The parent waits until the child says it is
/// up (its pid files written) or dies, and exits with 0 or 1; the child
/// returns the pipe end to say so, in a new session with stdio on /dev/null.
fn daemonize() -> Result<OwnedFd> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 fills two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        bail!("pipe: {}", std::io::Error::last_os_error());
    }
    // SAFETY: the descriptors were just created and are owned here.
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: still single-threaded (no runtime started yet).
    match unsafe { libc::fork() } {
        -1 => bail!("fork: {}", std::io::Error::last_os_error()),
        0 => {
            drop(read_end);
            // SAFETY: a new session for the child; stdio to /dev/null.
            unsafe { libc::setsid() };
            if let Ok(null) = fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
                let fd = std::os::fd::AsRawFd::as_raw_fd(&null);
                for target in 0..3 {
                    // SAFETY: duplicating an open descriptor onto stdio.
                    unsafe { libc::dup2(fd, target) };
                }
            }
            let _ = std::env::set_current_dir("/");
            Ok(write_end)
        }
        _ => {
            drop(write_end);
            let mut byte = [0u8; 1];
            let mut f = fs::File::from(read_end);
            let up = std::io::Read::read(&mut f, &mut byte).is_ok_and(|n| n == 1);
            std::process::exit(i32::from(!up));
        }
    }
}
