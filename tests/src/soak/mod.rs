//! The field soak (`cargo xtask soak`): three routers per virtual router on
//! one LAN of plain veths — xvrrpd in XDP mode, xvrrpd in socket mode and
//! keepalived 2.2.7, with FRR's vrrpd beside keepalived for a few VRRPv3
//! virtual routers — 228 virtual routers over IPv4 and IPv6, and a seeded
//! schedule of faults, one or two at once. A sampler thread watches who is
//! master five times a second; after each step the cluster must settle
//! within a bound. The same schedule then runs with keepalived on every
//! router, for the report's other column.
//!
//! - `plan`: the cluster, its configuration text and the fault schedule (pure).
//! - `check`: masters from what the routers hold, the settled-cluster
//!   invariants, the tallies (pure).
//! - `cluster`: the running lab, the faults done and undone.
//! - `report`: the side-by-side report.

pub mod check;
pub mod cluster;
pub mod plan;
pub mod report;

use std::{
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use check::{Context, Tally, Watch};
use cluster::{Proc, Running};
use plan::{ADVERT_S, Cluster, Kind, ROUTERS, Role, Step};

/// From undoing a step's faults to a settled cluster, at most:
/// Master_Down_Interval (3 intervals + skew < 1 interval, RFC 5798 6.1),
/// the health check's interval (rise 1), a daemon's start-up, and a margin.
pub const SETTLE_BOUND: Duration = Duration::from_secs(4 * ADVERT_S as u64 + 1 + 2 + 2);
/// A started daemon's first election: Master_Down_Interval (at most four
/// advert intervals) and a second.
const FIRST_ELECTION: Duration = Duration::from_secs(4 * ADVERT_S as u64 + 1);
/// How long into a step the previous step's faults still explain changes:
/// a restarted daemon's first election, an advert lost just before the
/// loss ended (Master_Down_Interval later).
const GRACE: Duration = FIRST_ELECTION;
/// The first election after every daemon starts (configuration parsed,
/// Master_Down_Interval, preemption), at most.
const STARTUP_BOUND: Duration = Duration::from_secs(30);
/// Set by the binary's Ctrl-C handler: the run ends after the current step
/// and still stops everything and reports.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// How often the sampler looks.
const SAMPLE_EVERY: Duration = Duration::from_millis(200);

/// How long a run goes on.
#[derive(Debug, Clone, Copy)]
pub enum Length {
    Minutes(f64),
    /// Exactly this many steps (the baseline runs as many as the mixed run did).
    Steps(usize),
}

/// What one run saw.
#[derive(Debug, Default)]
pub struct Outcome {
    pub roles: Vec<Role>,
    pub steps: Vec<Step>,
    /// Per step, in order.
    pub tallies: Vec<Tally>,
    pub seconds: f64,
    /// From the daemons' start to the first settled cluster.
    pub startup_ms: Option<u64>,
    /// Lines: master changes no fault explains.
    pub unexplained: Vec<String>,
    /// The same on FRR's virtual routers (reported, not failed).
    pub unexplained_frr: Vec<String>,
    /// Steps that settled with an FRR virtual router a mute master (its
    /// peers rightly master beside it): FRR's defect, reported.
    pub frr_mute: Vec<String>,
    /// Lines: steps that had not settled by `SETTLE_BOUND`, with what was wrong.
    pub unsettled: Vec<String>,
    /// Lines: daemons that ended with no fault ending them, status problems.
    pub crashes: Vec<String>,
    /// Lines: what was left after everything stopped.
    pub leaks: Vec<String>,
    /// Every process of the routers at each checkpoint (ms into the run).
    pub procs: Vec<(u64, Proc)>,
}

/// State the sampler thread and the step loop share.
struct Shared {
    cluster: Cluster,
    hearing: Vec<u8>,
    targets: Vec<usize>,
    /// Per virtual router: changed by the step's reload.
    changed: Vec<bool>,
    /// The previous step's, which explain changes for `GRACE` into this one.
    prev_targets: Vec<usize>,
    prev_changed: Vec<bool>,
    step_started_ms: u64,
    step: usize,
    tallies: Vec<Tally>,
    watch: Watch,
}

/// Per virtual router, the routers whose participant runs and whose port is
/// up: those that can hear each other. FRR's participant on router 3 runs
/// whatever happens to keepalived there.
fn hearing(cluster: &Cluster, running: &Running) -> Vec<u8> {
    cluster
        .vrs
        .iter()
        .map(|vr| {
            (0..ROUTERS)
                .filter(|&r| running.port_up[r] && (running.alive[r] || (vr.frr() && r == ROUTERS - 1)))
                .fold(0u8, |m, r| m | (1 << r))
        })
        .collect()
}

fn progress(text: &str) {
    eprintln!("soak: {text}");
}

/// Runs the soak with `roles` on routers 1..3 from `seed`, in `dir`.
pub fn run(roles: [Role; ROUTERS], seed: u64, length: Length, dir: &Path) -> Outcome {
    let mut cluster = Cluster::new(seed);
    let schedule = plan::schedule(
        seed,
        match length {
            Length::Steps(n) => n,
            Length::Minutes(m) => (m * 60.0) as usize + 10,
        },
    );
    let labels: Vec<&str> = roles.iter().map(|r| r.label()).collect();
    progress(&format!(
        "starting {} ({} virtual routers each)",
        labels.join(", "),
        cluster.vrs.len()
    ));
    let mut out = Outcome {
        roles: roles.to_vec(),
        ..Outcome::default()
    };
    let mut running = Running::start(roles, &cluster, dir);
    let t0 = Instant::now();
    let ms = move |t: Instant| t.duration_since(t0).as_millis() as u64;
    let probe = running.probe();
    // The start-up: every daemon answers, then the first election settles.
    if !cluster::wait_started(&running, STARTUP_BOUND) {
        out.crashes
            .push(format!("start-up: {:?}", running.status_problems()));
    }
    match settle(&cluster, &probe, FIRST_ELECTION, STARTUP_BOUND) {
        Ok(_) => out.startup_ms = Some(ms(Instant::now())),
        Err(problems) => out.unsettled.push(format!("start-up: {}", problems.join("; "))),
    }
    let shared = Arc::new(Mutex::new(Shared {
        hearing: hearing(&cluster, &running),
        cluster: cluster.clone(),
        targets: Vec::new(),
        changed: Vec::new(),
        prev_targets: Vec::new(),
        prev_changed: Vec::new(),
        step_started_ms: 0,
        step: 0,
        tallies: Vec::new(),
        watch: Watch::default(),
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (shared, stop, probe) = (shared.clone(), stop.clone(), probe.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                // The context as the look starts: a look still under way
                // when the next step begins counts for the step it saw (its
                // changes are that step's faults' doing).
                let (step, targets, changed, hearing) = {
                    let s = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    let (mut targets, mut changed) = (s.targets.clone(), s.changed.clone());
                    if ms(t) < s.step_started_ms + GRACE.as_millis() as u64 {
                        targets.extend(&s.prev_targets);
                        let n = changed.len().max(s.prev_changed.len());
                        let at = |v: &[bool], i: usize| v.get(i).copied().unwrap_or(false);
                        changed = (0..n)
                            .map(|i| at(&changed, i) || at(&s.prev_changed, i))
                            .collect();
                    }
                    (s.step, targets, changed, s.hearing.clone())
                };
                let obs = probe.observe();
                let at_ms = ms(t);
                let mut s = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let Some(obs) = obs else {
                    // Skipped, not read as "no master anywhere".
                    if let Some(tally) = s.tallies.get_mut(step) {
                        tally.failed_looks += 1;
                    }
                    drop(s);
                    thread::sleep(SAMPLE_EVERY.saturating_sub(t.elapsed()));
                    continue;
                };
                let masters = check::masters(&s.cluster, &obs);
                let Shared {
                    cluster,
                    tallies,
                    watch,
                    ..
                } = &mut *s;
                if let Some(tally) = tallies.get_mut(step) {
                    let ctx = Context {
                        hearing: &hearing,
                        targets: &targets,
                        changed: &changed,
                        at_ms,
                        step,
                    };
                    watch.observe(cluster, &masters, &ctx, tally);
                }
                drop(s);
                thread::sleep(SAMPLE_EVERY.saturating_sub(t.elapsed()));
            }
        })
    };
    let lock = || shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for (i, step) in schedule.iter().enumerate() {
        let done = match length {
            Length::Steps(n) => i >= n,
            Length::Minutes(m) => t0.elapsed().as_secs_f64() >= m * 60.0,
        };
        if done || INTERRUPTED.load(Ordering::Relaxed) {
            break;
        }
        progress(&format!(
            "step {i} at {:.0} s: {} on {:?}",
            t0.elapsed().as_secs_f64(),
            step.label(),
            routers_of(step)
        ));
        let mut changed = Vec::new();
        if step.faults.iter().any(|f| f.kind == Kind::Reload) {
            let before = cluster.clone();
            cluster.reload(step.reload_seed);
            changed = before.vrs.iter().zip(&cluster.vrs).map(|(a, b)| a != b).collect();
        }
        {
            let mut s = lock();
            s.prev_targets = std::mem::take(&mut s.targets);
            s.prev_changed = std::mem::take(&mut s.changed);
            s.step_started_ms = ms(Instant::now());
            s.step = i;
            s.targets = step.targets();
            s.changed = changed;
            s.tallies.push(Tally {
                steps: 1,
                ..Tally::default()
            });
            s.cluster = cluster.clone();
        }
        for f in &step.faults {
            running.apply(*f, &cluster);
        }
        lock().hearing = hearing(&cluster, &running);
        thread::sleep(Duration::from_millis(u64::from(step.hold_ms)));
        for f in step.faults.iter().rev() {
            running.revert(*f);
        }
        lock().hearing = hearing(&cluster, &running);
        // A daemon started again holds its first election for a
        // Master_Down_Interval (it may preempt at its end): not settled before.
        let restarted = step
            .faults
            .iter()
            .any(|f| matches!(f.kind, Kind::Kill | Kind::Restart));
        let not_before = if restarted { FIRST_ELECTION } else { Duration::ZERO };
        let settled = settle(&cluster, &probe, not_before, SETTLE_BOUND);
        {
            let mut s = lock();
            let tally = s.tallies.last_mut().expect("pushed above");
            match &settled {
                Ok(d) => tally.settle_ms.push(d.as_millis() as u64),
                Err(problems) => {
                    tally.unsettled += 1;
                    out.unsettled
                        .push(format!("step {i} ({}): {}", step.label(), problems.join("; ")));
                }
            }
        }
        if let Err(problems) = settled {
            progress(&format!("step {i} did not settle: {}", problems.join("; ")));
        }
        if let Some(obs) = probe.observe() {
            let mute = check::frr_mute(&cluster, &obs);
            if !mute.is_empty() {
                out.frr_mute.push(format!("step {i}: {}", mute.join(", ")));
            }
        }
        // The checkpoint: nothing ended on its own, every xvrrpd answers with
        // no instance stuck outside MASTER/BACKUP, and the processes' costs.
        for (r, code) in running.crashed() {
            out.crashes.push(format!(
                "step {i}: r{}'s daemon ended by itself (status {code})",
                r + 1
            ));
            running.revive(r);
        }
        for p in running.status_problems() {
            out.crashes.push(format!("step {i}: {p}"));
        }
        let now = ms(Instant::now());
        out.procs
            .extend(running.processes().into_iter().map(|p| (now, p)));
        out.steps.push(step.clone());
    }
    stop.store(true, Ordering::Relaxed);
    if sampler.join().is_err() {
        out.crashes
            .push("the sampler thread panicked: the tallies are incomplete".to_owned());
    }
    out.seconds = t0.elapsed().as_secs_f64();
    if !out.unsettled.is_empty() || !out.crashes.is_empty() {
        for (r, tail) in running.log_tails() {
            eprintln!("soak: ---- r{} log tail\n{tail}", r + 1);
        }
    }
    out.leaks = running.stop_all();
    let mut s = lock();
    out.tallies = std::mem::take(&mut s.tallies);
    out.unexplained = std::mem::take(&mut s.watch.unexplained);
    out.unexplained_frr = std::mem::take(&mut s.watch.unexplained_frr);
    out
}

fn routers_of(step: &Step) -> Vec<String> {
    step.faults
        .iter()
        .map(|f| {
            if f.kind == Kind::Reload {
                "all".to_owned()
            } else {
                format!("r{}", f.router + 1)
            }
        })
        .collect()
}

/// Polls until the cluster is settled (`check::settled_problems` is empty,
/// and `not_before` has passed); how long it took, or what was still wrong
/// at `bound`.
fn settle(
    cluster: &Cluster,
    probe: &cluster::Probe,
    not_before: Duration,
    bound: Duration,
) -> Result<Duration, Vec<String>> {
    let start = Instant::now();
    loop {
        let problems = probe.observe().map_or_else(
            || vec!["a look at the routers' addresses failed".to_owned()],
            |obs| check::settled_problems(cluster, &obs),
        );
        if problems.is_empty() && start.elapsed() >= not_before {
            return Ok(start.elapsed());
        }
        if start.elapsed() >= bound {
            let n = problems.len();
            let mut shown: Vec<String> = problems.into_iter().take(6).collect();
            if n > 6 {
                shown.push(format!("... {} more", n - 6));
            }
            return Err(shown);
        }
        thread::sleep(Duration::from_millis(250));
    }
}
