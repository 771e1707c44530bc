//! The soak's verdict and its report: the mixed cluster beside keepalived
//! everywhere, per kind of step.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Outcome, SETTLE_BOUND, check::Tally};

/// Daemons whose descriptors and memory must stay flat.
const DAEMONS: [&str; 4] = ["xvrrpd", "keepalived", "zebra", "vrrpd"];
/// Descriptors a daemon may hold more at its last checkpoint than at its
/// first (a client of the previous step still closing).
const FD_SLACK: usize = 2;

/// One daemon process over its checkpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct Growth {
    pub router: usize,
    pub comm: String,
    pub pid: u32,
    pub samples: usize,
    pub fds: (usize, usize),
    /// The descriptors' kinds at the first and the last checkpoint.
    pub fd_kinds: (String, String),
    /// Anonymous memory (heap and private mappings, where a leak goes; not
    /// the binary's pages that new code paths bring in): first checkpoint,
    /// the highest of the first half (its warm-up), last.
    pub anon_kib: (u64, u64, u64),
}

/// Checkpoints a process needs before its memory is judged. The first half
/// is its warm-up: first transitions, reloads (a configuration parsed on
/// the side thread lives in that thread's allocator arena), the server
/// thread's first clients. Measured (one malloc arena, the heap trimmed
/// after client bursts): one xvrrpd with the soak's 228 instances, reloads
/// and client bursts rises from 1.5 to 2.8 MiB over its first 10 reloads
/// and levels at 3.0 MiB from the 30th to the 90th; a 2-minute run's
/// process at 6 checkpoints is still rising.
const MEMORY_JUDGED_FROM: usize = 10;

impl Growth {
    /// Descriptors are flat within `FD_SLACK` of the first checkpoint;
    /// memory is flat when the last checkpoint is at most a quarter plus
    /// 2 MiB above the warm-up's highest (a leak of a few KiB per fault grows without
    /// bound over a soak; a working set levels off).
    pub fn leaks(&self) -> Option<String> {
        let (f0, f1) = self.fds;
        let (_, m0, m1) = self.anon_kib;
        let what = if f1 > f0 + FD_SLACK {
            format!(
                "descriptors {f0} -> {f1} ({} -> {})",
                self.fd_kinds.0, self.fd_kinds.1
            )
        } else if self.samples >= MEMORY_JUDGED_FROM && m1 > m0 + m0 / 4 + 2048 {
            format!("anonymous memory {m0} -> {m1} KiB after its warm-up")
        } else {
            return None;
        };
        Some(format!(
            "r{} {} (pid {}) over {} checkpoints: {what}",
            self.router + 1,
            self.comm,
            self.pid,
            self.samples
        ))
    }
}

/// Each daemon process seen at three checkpoints or more.
pub fn growth(o: &Outcome) -> Vec<Growth> {
    let mut by_pid: BTreeMap<u32, Vec<&super::cluster::Proc>> = BTreeMap::new();
    for (_, p) in o.procs.iter().filter(|(_, p)| DAEMONS.contains(&p.comm.as_str())) {
        by_pid.entry(p.pid).or_default().push(p);
    }
    by_pid
        .into_iter()
        .filter(|(_, seen)| seen.len() >= 3)
        .map(|(pid, seen)| {
            let (first, last) = (seen[0], seen[seen.len() - 1]);
            Growth {
                router: first.router,
                comm: first.comm.clone(),
                pid,
                samples: seen.len(),
                fds: (first.fds, last.fds),
                fd_kinds: (first.fd_kinds.clone(), last.fd_kinds.clone()),
                anon_kib: (
                    first.anon_kib,
                    seen[..seen.len().div_ceil(2)]
                        .iter()
                        .map(|p| p.anon_kib)
                        .max()
                        .unwrap_or(0),
                    last.anon_kib,
                ),
            }
        })
        .collect()
}

/// What makes the run fail: a cluster that did not settle, a master change
/// no fault explains, a daemon that ended by itself or stopped answering,
/// anything left behind, a daemon whose descriptors or memory grew.
pub fn failures(o: &Outcome) -> Vec<String> {
    let mut f: Vec<String> = Vec::new();
    f.extend(
        o.unsettled
            .iter()
            .map(|l| format!("not settled within {SETTLE_BOUND:?}: {l}")),
    );
    f.extend(o.unexplained.iter().map(|l| format!("unexplained: {l}")));
    f.extend(o.crashes.iter().cloned());
    f.extend(o.leaks.iter().map(|l| format!("leak: {l}")));
    f.extend(
        growth(o)
            .iter()
            .filter_map(Growth::leaks)
            .map(|l| format!("growth: {l}")),
    );
    if o.steps.is_empty() {
        f.push("no step ran".to_owned());
    }
    // A checker that did not look cannot vouch for the run.
    let all = by_kind(o).pop().map(|(_, t)| t).unwrap_or_default();
    let blind = all.blind_s + f64::from(all.failed_looks) * super::SAMPLE_EVERY.as_secs_f64();
    if blind > BLIND_SHARE * o.seconds {
        f.push(format!(
            "the checker was blind for {blind:.0} s of {:.0} s (looks over {} s apart, {} failed)",
            o.seconds,
            super::check::MAX_DT_MS / 1000,
            all.failed_looks
        ));
    }
    f
}

/// The share of the run the checker may miss (looks late or failed).
const BLIND_SHARE: f64 = 0.05;

/// Per kind of step (one fault of a kind, or two at once), summed; the
/// total last.
pub fn by_kind(o: &Outcome) -> Vec<(String, Tally)> {
    let mut out: BTreeMap<String, Tally> = BTreeMap::new();
    for (step, t) in o.steps.iter().zip(&o.tallies) {
        let key = if step.faults.len() == 1 {
            step.label()
        } else {
            "two faults at once".to_owned()
        };
        out.entry(key).or_default().add(t);
    }
    let total = out.values().fold(Tally::default(), |mut a, t| {
        a.add(t);
        a
    });
    let mut rows: Vec<(String, Tally)> = out.into_iter().collect();
    rows.push(("all steps".to_owned(), total));
    rows
}

fn settle_text(t: &Tally) -> String {
    let mut v = t.settle_ms.clone();
    v.sort_unstable();
    match (v.get(v.len() / 2), v.last()) {
        (Some(p50), Some(max)) => format!("{:.1}–{:.1}", *p50 as f64 / 1000.0, *max as f64 / 1000.0),
        _ => "-".to_owned(),
    }
}

/// The Markdown report: the mixed run beside the baseline (if any).
pub fn markdown(seed: u64, commit: Option<&str>, mixed: &Outcome, base: Option<&Outcome>) -> String {
    let label = |o: &Outcome| o.roles.iter().map(|r| r.label()).collect::<Vec<_>>().join(", ");
    let mut s = format!(
        "### Soak, seed {seed}, commit `{}`: {} steps in {:.0} s\n\nMixed: {} (+ FRR vrrpd for 4 VRRPv3 VRIDs on r3). ",
        commit.unwrap_or("unknown"),
        mixed.steps.len(),
        mixed.seconds,
        label(mixed)
    );
    if let Some(b) = base {
        s.push_str(&format!(
            "Baseline: {} (+ FRR), the same {} steps in {:.0} s. ",
            label(b),
            b.steps.len(),
            b.seconds
        ));
    }
    s.push_str(&format!(
        "Values are mixed / baseline. VR·s: seconds summed over virtual routers, counted among the \
         routers that hear each other; settle: from undoing the step's faults to every virtual router \
         mastered by its highest-priority router alone with its VIPs there only (bound {} s).\n\n",
        SETTLE_BOUND.as_secs()
    ));
    s.push_str("| step | steps | two masters, VR·s | no master, VR·s | s with any two masters | settle p50–max, s | not settled | unexplained changes | of those on FRR's |\n");
    s.push_str("|---|---|---|---|---|---|---|---|---|\n");
    let m = by_kind(mixed);
    let b: BTreeMap<String, Tally> = base.map(by_kind).unwrap_or_default().into_iter().collect();
    for (kind, t) in &m {
        let other = b.get(kind);
        let pair = |f: &dyn Fn(&Tally) -> String| match other {
            Some(o) => format!("{} / {}", f(t), f(o)),
            None => f(t),
        };
        s.push_str(&format!(
            "| {kind} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            t.steps,
            pair(&|t| format!("{:.1}", t.dual_vr_s)),
            pair(&|t| format!("{:.1}", t.none_vr_s)),
            pair(&|t| format!("{:.1}", t.dual_s)),
            pair(&settle_text),
            pair(&|t| t.unsettled.to_string()),
            pair(&|t| (t.unexplained + t.unexplained_frr).to_string()),
            pair(&|t| t.unexplained_frr.to_string()),
        ));
    }
    for (name, o) in std::iter::once(("mixed", mixed)).chain(base.map(|b| ("baseline", b))) {
        let startup = o.startup_ms.map_or("not settled".to_owned(), |ms| {
            format!("{:.1} s", ms as f64 / 1000.0)
        });
        s.push_str(&format!("\n**{name}**: start-up to settled {startup}. "));
        let all = by_kind(o).pop().map(|(_, t)| t).unwrap_or_default();
        if all.blind_s > 0.0 || all.failed_looks > 0 {
            s.push_str(&format!(
                "The checker was blind for {:.1} s (samples over {} s apart) and {} look(s) failed. ",
                all.blind_s,
                super::check::MAX_DT_MS / 1000,
                all.failed_looks
            ));
        }
        let f = failures(o);
        if f.is_empty() {
            s.push_str("No invariant broken, nothing left behind, descriptors and memory flat.\n");
        } else {
            s.push_str(&format!("{} problem(s):\n", f.len()));
            for l in f.iter().take(12) {
                s.push_str(&format!("- {l}\n"));
            }
        }
        if let Some(first) = o.unexplained_frr.first() {
            s.push_str(&format!(
                "\n{} change(s) on FRR's virtual routers that no fault explains (not failed: FRR 8.4's \
                 vrrpd can send no advert for a while after it becomes IPv6 master, \"Failed to find \
                 address to bind\" in its log), e.g. {first}.\n",
                o.unexplained_frr.len()
            ));
        }
        if let Some(first) = o.frr_mute.first() {
            s.push_str(&format!(
                "\n{} step(s) ended with an FRR virtual router a master that sent no advert for 2.5 s or \
                 more (its peers rightly master beside it; not failed), e.g. {first}.\n",
                o.frr_mute.len()
            ));
        }
        s.push_str("\n| router | daemon | checkpoints | descriptors first -> last | anonymous KiB first / highest in the first half / last |\n|---|---|---|---|---|\n");
        for g in growth(o) {
            s.push_str(&format!(
                "| r{} | {} (pid {}) | {} | {} -> {} | {} / {} / {} |\n",
                g.router + 1,
                g.comm,
                g.pid,
                g.samples,
                g.fds.0,
                g.fds.1,
                g.anon_kib.0,
                g.anon_kib.1,
                g.anon_kib.2
            ));
        }
    }
    s
}

/// The same numbers as JSON.
pub fn json(seed: u64, commit: Option<&str>, mixed: &Outcome, base: Option<&Outcome>) -> Value {
    let one = |o: &Outcome| {
        let kinds: serde_json::Map<String, Value> = by_kind(o)
            .into_iter()
            .map(|(k, t)| {
                (
                    k,
                    json!({
                        "steps": t.steps, "two_masters_vr_s": t.dual_vr_s, "no_master_vr_s": t.none_vr_s,
                        "two_masters_s": t.dual_s, "no_master_s": t.none_s, "settle_ms": t.settle_ms,
                        "unsettled": t.unsettled, "unexplained": t.unexplained,
                        "unexplained_frr": t.unexplained_frr, "blind_s": t.blind_s,
                        "failed_looks": t.failed_looks,
                    }),
                )
            })
            .collect();
        json!({
            "roles": o.roles.iter().map(|r| r.label()).collect::<Vec<_>>(),
            "steps": o.steps.len(), "seconds": o.seconds, "startup_ms": o.startup_ms,
            "by_kind": kinds, "failures": failures(o), "unexplained_frr": o.unexplained_frr,
            "frr_mute": o.frr_mute,
        })
    };
    json!({ "seed": seed, "commit": commit, "mixed": one(mixed), "baseline": base.map(one) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xvrrpd(samples: usize, anon_kib: (u64, u64, u64), fds: (usize, usize)) -> Growth {
        Growth {
            router: 0,
            comm: "xvrrpd".to_owned(),
            pid: 1,
            samples,
            fds,
            fd_kinds: (String::new(), String::new()),
            anon_kib,
        }
    }

    #[test]
    fn growth_after_the_warm_up_and_descriptors_count_a_warm_up_does_not() {
        // Past the warm-up's highest by more than a quarter and 2 MiB.
        assert!(xvrrpd(10, (1600, 4000, 7100), (30, 30)).leaks().is_some());
        assert!(xvrrpd(10, (1600, 4000, 6900), (30, 30)).leaks().is_none());
        // A short-lived process is still warming up.
        assert!(xvrrpd(9, (1600, 2000, 9000), (30, 30)).leaks().is_none());
        // Descriptors are judged at any length.
        assert!(xvrrpd(3, (1600, 1600, 1600), (30, 33)).leaks().is_some());
        assert!(xvrrpd(3, (1600, 1600, 1600), (30, 32)).leaks().is_none());
    }
}
