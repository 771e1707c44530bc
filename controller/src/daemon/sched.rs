//! keepalived's scheduling keywords for the VRRP process (`vrrp_priority`,
//! `vrrp_rt_priority`, `vrrp_rlimit_rttime`, `vrrp_no_swap`,
//! `vrrp_cpu_affinity`), applied to the thread that runs the protocol (the
//! daemon's runtime is single-threaded) once start-up is done and before the
//! capabilities they need (CAP_SYS_NICE, CAP_IPC_LOCK, CAP_SYS_RESOURCE) are
//! dropped. A setting the kernel refuses is logged and the daemon runs on, as
//! keepalived does.

use tracing::{info, warn};

use crate::config::model::Scheduling;

/// Applies `s`; what the kernel refuses is logged.
pub fn apply(s: &Scheduling) {
    let fail = |what: String| warn!("{what}");
    if !s.cpu_affinity.is_empty() {
        // SAFETY: cpu_set_t is plain data; CPU_SET stays within its bounds (ids < 1024).
        let rc = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for &cpu in &s.cpu_affinity {
                libc::CPU_SET(cpu as usize, &mut set);
            }
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &raw const set)
        };
        match rc {
            0 => info!(cpus = ?s.cpu_affinity, "vrrp_cpu_affinity set"),
            _ => fail(format!(
                "vrrp_cpu_affinity {:?}: {}",
                s.cpu_affinity,
                std::io::Error::last_os_error()
            )),
        }
    }
    if let Some(prio) = s.rt_priority {
        let param = libc::sched_param {
            sched_priority: i32::try_from(prio).unwrap_or(1),
        };
        // SCHED_RESET_ON_FORK: scripts started from here run as ordinary processes.
        // SAFETY: sched_setscheduler on this thread with a valid parameter.
        let rc = unsafe {
            libc::sched_setscheduler(0, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &raw const param)
        };
        if rc == 0 {
            info!(priority = prio, "vrrp_rt_priority: SCHED_RR");
            if let Some(us) = s.rlimit_rttime_us {
                set_rttime(us);
            }
        } else {
            fail(format!(
                "vrrp_rt_priority {prio}: cannot switch to SCHED_RR ({}; needs CAP_SYS_NICE)",
                std::io::Error::last_os_error()
            ));
        }
    } else if let Some(nice) = s.nice {
        // SAFETY: setpriority on this process.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) } == 0 {
            info!(nice, "vrrp_priority set");
        } else {
            fail(format!(
                "vrrp_priority {nice}: {} (a negative value needs CAP_SYS_NICE)",
                std::io::Error::last_os_error()
            ));
        }
    }
    if s.no_swap {
        // MCL_FUTURE locks every later mapping too (a script's fork, a
        // thread's stack): once CAP_IPC_LOCK is dropped those must fit in
        // RLIMIT_MEMLOCK, or spawning a script fails with EAGAIN. So the
        // limit is lifted first (CAP_SYS_RESOURCE, or the unit's
        // LimitMEMLOCK=infinity); where it cannot be, only what is mapped now
        // is locked. Scripts inherit no lock.
        let unlimited = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: setrlimit with a valid struct.
        let future = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &raw const unlimited) } == 0;
        // MCL_ONFAULT (as keepalived): pages are locked as they are touched,
        // not all populated at once (thread stacks, buffers that may grow).
        let flags = libc::MCL_ONFAULT
            | if future {
                libc::MCL_CURRENT | libc::MCL_FUTURE
            } else {
                libc::MCL_CURRENT
            };
        // SAFETY: mlockall has no memory-safety preconditions.
        if unsafe { libc::mlockall(flags) } == 0 {
            if future {
                info!("vrrp_no_swap: memory locked, now and to come");
            } else {
                fail(
                    "vrrp_no_swap: memory mapped so far is locked; later allocations are not \
                     (RLIMIT_MEMLOCK cannot be lifted: give CAP_SYS_RESOURCE or LimitMEMLOCK=infinity)"
                        .to_owned(),
                );
            }
        } else {
            fail(format!(
                "vrrp_no_swap: mlockall: {} (needs CAP_IPC_LOCK or a large RLIMIT_MEMLOCK)",
                std::io::Error::last_os_error()
            ));
        }
    }
}

/// RLIMIT_RTTIME, the soft limit at half as keepalived sets it: SIGXCPU
/// (logged) before SIGKILL.
fn set_rttime(us: u64) {
    let lim = libc::rlimit {
        rlim_cur: (us / 2).max(1),
        rlim_max: us.max(2),
    };
    // SAFETY: setrlimit with a valid struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_RTTIME, &raw const lim) } != 0 {
        warn!("vrrp_rlimit_rttime {us}: {}", std::io::Error::last_os_error());
    }
}

/// keepalived's `max_auto_priority`: a timer that fires more than
/// `min_auto_priority_delay` late means the host starves the daemon, so
/// the protocol thread moves to SCHED_RR (priority 1), or one step up, at
/// most to the maximum (keepalived `vrrp_scheduler.c`, "A thread timer
/// expired ... Set realtime priority N").
pub struct AutoPriority {
    max: u32,
    late_us: u64,
    current: u32,
    /// `vrrp_rlimit_rttime`, set with the first raise (a thread spinning at
    /// real-time priority must not take the host).
    rttime_us: Option<u64>,
}

impl AutoPriority {
    /// `None` unless `max_auto_priority` is set.
    pub fn new(s: &Scheduling) -> Option<Self> {
        Some(Self {
            max: s.max_auto_priority?,
            late_us: s.min_auto_priority_delay_us.unwrap_or(1_000_000),
            current: s.rt_priority.unwrap_or(0),
            rttime_us: s.rlimit_rttime_us,
        })
    }

    /// A timer fired `late_us` after its deadline.
    pub fn fired(&mut self, late_us: u64) {
        if late_us < self.late_us || self.current >= self.max {
            return;
        }
        let next = self.current + 1;
        warn!(
            late_ms = late_us / 1000,
            "a timer expired late; raising the real-time priority to {next}"
        );
        let param = libc::sched_param {
            sched_priority: i32::try_from(next).unwrap_or(1),
        };
        // SAFETY: sched_setscheduler on this thread with a valid parameter.
        let rc = unsafe {
            libc::sched_setscheduler(0, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &raw const param)
        };
        if rc == 0 {
            if self.current == 0
                && let Some(us) = self.rttime_us
            {
                set_rttime(us);
            }
            self.current = next;
        } else {
            warn!(
                "max_auto_priority: cannot set SCHED_RR {next}: {}",
                std::io::Error::last_os_error()
            );
            // Do not try again on every late timer.
            self.max = self.current;
        }
    }
}
