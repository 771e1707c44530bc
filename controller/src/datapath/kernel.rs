//! Where the data path's kernel objects come from.
//!
//! The daemon takes its maps and programs from bpffs pins that a short-lived
//! loader process (`xvrrpd load-datapath`, this binary again) leaves. The
//! reason is memory: aya 0.14's `EbpfLoader::new()` parses the whole kernel
//! BTF (5 MiB of file, ~15 MiB at the peak on a 6.x kernel) although our
//! object has no CO-RE relocation to apply, and that peak would stay the
//! daemon's high-water mark for its whole life, with a few MiB of it kept by
//! glibc's heap. In a child it is gone when the child exits. A crash-only
//! restart finds the programs pinned and runs no loader (unless the kernel
//! refused the TC classifier, which is then tried again), so its old and new
//! attachments share one program. Tools (`watch`, the benchmarks,
//! BPF_PROG_TEST_RUN tests) load in-process.

use std::{collections::HashMap, path::Path, process::Command};

use anyhow::{Context as _, Result, bail};
use aya::{
    Ebpf, EbpfLoader,
    maps::{Map, MapData},
    programs::{SchedClassifier, Xdp},
};
use aya_obj::programs::XdpAttachType;
use xvrrp_common::maps;

use super::{EBPF_OBJECT, PROGRAM_NAME, TC_PROGRAM_NAME, TIMER_SETUP_PROGRAM_NAME, missing};

/// The XDP program's pin in the pin directory (beside the maps' and the
/// links' pins: `link-*`, `tc-*`).
pub const PROG_XDP_PIN: &str = "prog-xdp";
/// The TC advert classifier's pin.
pub const PROG_TC_PIN: &str = "prog-tc";
/// The kernel-timer set-up program's pin.
pub const PROG_TIMER_SETUP_PIN: &str = "prog-timer-setup";
/// The hidden subcommand the loader process runs.
pub const LOADER_COMMAND: &str = "load-datapath";

/// The maps and programs a `Datapath` works with.
pub(super) enum Kernel {
    /// Loaded by this process from the embedded object.
    Loaded(Ebpf),
    /// Opened from pins; `tc` is absent when the classifier was not asked for
    /// or the kernel refused it (the loader said why).
    Pinned(Box<Pinned>),
}

pub(super) struct Pinned {
    maps: HashMap<String, Map>,
    xdp: Xdp,
    tc: Option<SchedClassifier>,
    timer_setup: Xdp,
}

impl Kernel {
    /// Loads the object in this process; maps are pinned in `pin_dir` (and
    /// reused from there, with their contents) when one is given.
    /// `events_bytes`: the event ring's size instead of the object's
    /// (`maps::events_bytes_for`).
    pub(super) fn load(pin_dir: Option<&Path>, events_bytes: Option<u32>) -> Result<Self> {
        let mut loader = EbpfLoader::new();
        if let Some(bytes) = events_bytes {
            loader.map_max_entries(maps::EVENTS, bytes);
        }
        if let Some(dir) = pin_dir {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            for name in maps::ALL {
                loader.map_pin_path(name, dir.join(name));
            }
        }
        let mut ebpf = loader
            .load(EBPF_OBJECT)
            .context("loading the xvrrp eBPF object failed (needs root or CAP_BPF + CAP_NET_ADMIN)")?;
        if let Err(e) = program_in(&mut ebpf, PROGRAM_NAME)?.load() {
            let e = anyhow::Error::from(e);
            // The one feature newer than the rest (ring buffer 5.8, mapped
            // arrays 5.5): say so before the verifier's log.
            // Before 5.15 the verifier knows no helper 169-171 (timer init,
            // set_callback, start), before 5.17 no 181 (bpf_loop, the
            // timer's look at every entry); PREEMPT_RT ones name bpf_timer.
            let log = format!("{e:#}");
            let timers = [
                "bpf_timer",
                "unknown#169",
                "unknown#170",
                "unknown#171",
                "unknown#181",
            ];
            let why = if timers.iter().any(|t| log.contains(t)) {
                "the kernel refused BPF timers or bpf_loop (the backups' Master_Down timers need \
                 Linux 5.17+, and kernels with PREEMPT_RT refuse timers): run with --mode socket"
            } else {
                "the kernel verifier rejected the xvrrp XDP program"
            };
            return Err(e.context(why));
        }
        Ok(Self::Loaded(ebpf))
    }

    /// Opens what a loader left in `pin_dir`.
    pub(super) fn from_pins(pin_dir: &Path) -> Result<Self> {
        let mut by_name = HashMap::new();
        for name in maps::ALL {
            let path = pin_dir.join(name);
            let data =
                MapData::from_pin(&path).with_context(|| format!("opening map pin {}", path.display()))?;
            by_name.insert((*name).to_owned(), Map::from_map_data(data)?);
        }
        let xdp_pin = |name: &str| {
            let path = pin_dir.join(name);
            Xdp::from_pin(&path, XdpAttachType::Interface)
                .with_context(|| format!("opening program pin {}", path.display()))
        };
        let xdp = xdp_pin(PROG_XDP_PIN)?;
        let timer_setup = xdp_pin(PROG_TIMER_SETUP_PIN)?;
        let path = pin_dir.join(PROG_TC_PIN);
        let tc = if path.exists() {
            Some(
                SchedClassifier::from_pin(&path)
                    .with_context(|| format!("opening program pin {}", path.display()))?,
            )
        } else {
            None
        };
        Ok(Self::Pinned(Box::new(Pinned {
            maps: by_name,
            xdp,
            tc,
            timer_setup,
        })))
    }

    pub(super) fn map(&self, name: &str) -> Result<&Map> {
        match self {
            Self::Loaded(ebpf) => ebpf.map(name),
            Self::Pinned(p) => p.maps.get(name),
        }
        .with_context(|| missing("map", name))
    }

    pub(super) fn map_mut(&mut self, name: &str) -> Result<&mut Map> {
        match self {
            Self::Loaded(ebpf) => ebpf.map_mut(name),
            Self::Pinned(p) => p.maps.get_mut(name),
        }
        .with_context(|| missing("map", name))
    }

    pub(super) fn take_map(&mut self, name: &str) -> Result<Map> {
        match self {
            Self::Loaded(ebpf) => ebpf.take_map(name),
            Self::Pinned(p) => p.maps.remove(name),
        }
        .with_context(|| missing("map", name))
    }

    /// The names of the maps still held here.
    pub(super) fn map_names(&self) -> Vec<String> {
        match self {
            Self::Loaded(ebpf) => ebpf.maps().map(|(name, _)| name.to_owned()).collect(),
            Self::Pinned(p) => p.maps.keys().cloned().collect(),
        }
    }

    /// The XDP program (loaded).
    pub(super) fn xdp(&mut self) -> Result<&mut Xdp> {
        match self {
            Self::Loaded(ebpf) => program_in(ebpf, PROGRAM_NAME),
            Self::Pinned(p) => Ok(&mut p.xdp),
        }
    }

    /// The kernel-timer set-up program, loaded on first use in-process.
    pub(super) fn timer_setup(&mut self) -> Result<&mut Xdp> {
        match self {
            Self::Loaded(ebpf) => loaded_in(ebpf, TIMER_SETUP_PROGRAM_NAME),
            Self::Pinned(p) => Ok(&mut p.timer_setup),
        }
    }

    /// The TC advert classifier, loaded on first use in-process.
    pub(super) fn tc(&mut self) -> Result<&mut SchedClassifier> {
        match self {
            Self::Loaded(ebpf) => {
                let program: &mut SchedClassifier = ebpf
                    .program_mut(TC_PROGRAM_NAME)
                    .with_context(|| missing("program", TC_PROGRAM_NAME))?
                    .try_into()?;
                if program.fd().is_err() {
                    program
                        .load()
                        .context("the kernel verifier rejected the TC advert classifier")?;
                }
                Ok(program)
            }
            Self::Pinned(p) => {
                p.tc.as_mut()
                    .context("the TC advert classifier was not loaded (the loader's warning says why)")
            }
        }
    }

    /// An in-process object's other programs (the benchmarks' baseline).
    pub(super) fn ebpf_mut(&mut self) -> Result<&mut Ebpf> {
        match self {
            Self::Loaded(ebpf) => Ok(ebpf),
            Self::Pinned(_) => bail!("a data path opened from pins has only the xvrrp programs"),
        }
    }
}

/// An in-process object's XDP program `name`, loaded on first use.
pub(super) fn loaded_in<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut Xdp> {
    let program = program_in(ebpf, name)?;
    if program.fd().is_err() {
        program
            .load()
            .with_context(|| format!("the kernel verifier rejected the XDP program {name}"))?;
    }
    Ok(program)
}

pub(super) fn program_in<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut Xdp> {
    ebpf.program_mut(name)
        .with_context(|| missing("program", name))?
        .try_into()
        .with_context(|| format!("program {name} is not an XDP program"))
}

/// Whether any map is pinned in `pin_dir` (a loader run reuses those).
pub(super) fn any_map_pinned(pin_dir: &Path) -> bool {
    maps::ALL.iter().any(|m| pin_dir.join(m).exists())
}

/// Whether `pin_dir` holds what `from_pins` needs (the classifier too when
/// `tc`): then a restart adopts it without loading anything.
pub(super) fn pinned(pin_dir: &Path, tc: bool) -> bool {
    maps::ALL.iter().all(|m| pin_dir.join(m).exists())
        && pin_dir.join(PROG_XDP_PIN).exists()
        && pin_dir.join(PROG_TIMER_SETUP_PIN).exists()
        && (!tc || pin_dir.join(PROG_TC_PIN).exists())
}

/// What the loader process does: loads the object with its maps pinned in
/// `pin_dir` (reusing pinned maps), loads the programs and pins them. A
/// classifier the kernel refuses is left out with a warning on stdout (the
/// daemon validates adverts in XDP then); anything else is an error.
pub fn load_and_pin(pin_dir: &Path, tc: bool, events_bytes: u32) -> Result<()> {
    if !events_bytes.is_power_of_two()
        || !(maps::EVENTS_BYTES_MIN..=maps::EVENTS_BYTES).contains(&events_bytes)
    {
        bail!(
            "--events-bytes {events_bytes}: must be a power of two from {} to {}",
            maps::EVENTS_BYTES_MIN,
            maps::EVENTS_BYTES
        );
    }
    let mut kernel = Kernel::load(Some(pin_dir), Some(events_bytes))?;
    let xdp_pin = pin_dir.join(PROG_XDP_PIN);
    fresh_pin(&xdp_pin, |path| kernel.xdp()?.pin(path).map_err(Into::into))?;
    let setup_pin = pin_dir.join(PROG_TIMER_SETUP_PIN);
    fresh_pin(&setup_pin, |path| {
        kernel.timer_setup()?.pin(path).map_err(Into::into)
    })?;
    let tc_pin = pin_dir.join(PROG_TC_PIN);
    let _ = std::fs::remove_file(&tc_pin);
    if tc {
        match kernel.tc() {
            // The error's first line: aya appends the whole verifier log.
            Ok(program) => fresh_pin(&tc_pin, |path| program.pin(path).map_err(Into::into))?,
            Err(e) => println!(
                "{}",
                format!("{e:#}").lines().next().unwrap_or("TC classifier refused")
            ),
        }
    }
    // Its own peak, which the daemon logs: getrusage(RUSAGE_CHILDREN) would
    // also count the daemon's pages the child shared before it executed.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    println!("{PEAK_TAG}{peak}");
    Ok(())
}

/// The loader's last stdout line: its peak resident size in KiB.
const PEAK_TAG: &str = "peak_kib=";

/// Removes every pin in `dir` (maps, programs, links: a link whose pin goes
/// and that no process holds detaches), then `dir` itself.
pub fn remove_pins(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// Pins at `path` with `pin`, after removing a pin an older object left
/// there (it would make `pin` fail; links that use the old program hold it
/// themselves).
fn fresh_pin(path: &Path, pin: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let _ = std::fs::remove_file(path);
    pin(path).with_context(|| format!("pinning {}", path.display()))
}

/// Runs the loader process (this binary, `load-datapath`) and waits for it.
/// Returns its warnings and its own peak resident size in KiB.
pub(super) fn run_loader(pin_dir: &Path, tc: bool, events_bytes: u32) -> Result<(Vec<String>, u64)> {
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg(LOADER_COMMAND)
        .arg("--pin-dir")
        .arg(pin_dir)
        .arg("--events-bytes")
        .arg(events_bytes.to_string());
    if tc {
        cmd.arg("--tc");
    }
    let out = cmd
        .output()
        .context("starting the data-path loader process (/proc/self/exe)")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let why = stderr.trim().trim_start_matches("xvrrpd: error: ");
        bail!("the data-path loader process failed ({}): {why}", out.status);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut peak = 0;
    let mut warnings = Vec::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        match line.strip_prefix(PEAK_TAG) {
            Some(kib) => peak = kib.parse().unwrap_or(0),
            None => warnings.push(line.to_owned()),
        }
    }
    Ok((warnings, peak))
}
