//! The VRRP state machine of RFC 3768 6.3-6.4 and RFC 5798 6.3-6.4, with
//! keepalived's additions (Fault state, `preempt_delay`, gratuitous ARP
//! schedule), as one pure function:
//!
//! `step(&Instance, &Event, now) -> (Vars, Vec<Action>)`
//!
//! `Vars` is everything that changes (the state among it); `Action`s are what
//! the executor does: send, add or remove addresses, arm or cancel timers, run
//! notify scripts. No sockets, no clock: `now` is an argument, times are
//! microseconds on the executor's monotonic clock (`Params` keeps its
//! configured delays in their own units, centiseconds, seconds or
//! milliseconds as named, and hands them out in microseconds by methods).

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Microseconds on the monotonic clock (the one the XDP program stamps with).
pub type Micros = u64;

pub const US_PER_SEC: Micros = 1_000_000;
pub const US_PER_CS: Micros = 10_000;

/// Priority of the address owner (RFC 5798 5.2.4).
pub const PRIORITY_OWNER: u8 = 255;
/// Priority a master sends when it stops (RFC 5798 5.2.4).
pub const PRIORITY_STOP: u8 = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum State {
    Initialize,
    Backup,
    Master,
    /// keepalived's FAULT: a tracked interface is down or a tracked script
    /// without weight fails. The instance neither sends nor takes over.
    Fault,
}

impl State {
    /// keepalived's name for the state, as logs, `status` and scripts show it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Initialize => "INIT",
            Self::Backup => "BACKUP",
            Self::Master => "MASTER",
            Self::Fault => "FAULT",
        }
    }
}

/// keepalived's gratuitous ARP / unsolicited NA schedule on becoming master.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GarpSchedule {
    /// `garp_master_delay`: the second burst comes this many seconds after
    /// the first (0: none). Seconds, as configured: every instance holds a
    /// schedule, and 32-bit fields keep it 24 bytes (issue bench-truth's
    /// per-instance memory).
    pub delay_s: u32,
    /// `garp_master_repeat`: messages per burst.
    pub repeat: u32,
    /// `garp_master_refresh`: while master, a burst every this many seconds (0: never).
    pub refresh_s: u32,
    /// `garp_master_refresh_repeat`: messages per refresh burst.
    pub refresh_repeat: u32,
    /// `garp_lower_prio_repeat`: messages when a master hears a lower
    /// priority advert (0: none), and `garp_lower_prio_delay`: the same
    /// again this many seconds later (0: not again).
    pub lower_repeat: u32,
    pub lower_delay_s: u32,
}

impl GarpSchedule {
    pub fn delay_us(&self) -> Micros {
        Micros::from(self.delay_s) * US_PER_SEC
    }

    pub fn refresh_us(&self) -> Micros {
        Micros::from(self.refresh_s) * US_PER_SEC
    }

    pub fn lower_delay_us(&self) -> Micros {
        Micros::from(self.lower_delay_s) * US_PER_SEC
    }
}

impl Default for GarpSchedule {
    /// keepalived's defaults: 5 at once, 5 more after 5 s, no refresh.
    fn default() -> Self {
        Self {
            delay_s: 5,
            repeat: 5,
            refresh_s: 0,
            refresh_repeat: 1,
            lower_repeat: 5,
            lower_delay_s: 5,
        }
    }
}

/// The configuration of one virtual router, fixed while it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// 2 (RFC 3768) or 3 (RFC 5798).
    pub version: u8,
    /// Advertisement_Interval in centiseconds (v2: whole seconds times 100).
    pub advert_interval_cs: u16,
    /// Preempt_Mode (`nopreempt` clears it).
    pub preempt: bool,
    /// keepalived `preempt_delay`: after start-up, or after first seeing a
    /// lower-priority master, wait this many milliseconds before preempting
    /// it (`preempt_delay_us()`; the parser allows at most 1000 s, 32 bits
    /// of milliseconds hold 49 days).
    pub preempt_delay_ms: u32,
    /// Our primary address on the interface, the tie-breaker (RFC 5798 6.4.3).
    pub primary_ip: IpAddr,
    /// Adverts missed before the master is declared down (RFC: 3; keepalived `down_timer_adverts`).
    pub down_timer_adverts: u8,
    pub garp: GarpSchedule,
    /// keepalived `lower_prio_no_advert`: a master does not answer a lower
    /// priority advert with one of its own.
    #[serde(default)]
    pub lower_prio_no_advert: bool,
    /// keepalived `higher_prio_send_advert`: a master that loses to a higher
    /// priority advert sends one last advert.
    #[serde(default)]
    pub higher_prio_send_advert: bool,
}

impl Params {
    pub fn preempt_delay_us(&self) -> Micros {
        Micros::from(self.preempt_delay_ms) * 1000
    }
}

/// What changes while an instance runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vars {
    pub state: State,
    /// Effective priority: the configured one plus script and interface weights.
    pub priority: u8,
    /// Master_Adver_Interval in centiseconds (v3 learns it from the master).
    pub master_adver_interval_cs: u16,
    /// The master we last heard, and its priority.
    pub master: Option<(IpAddr, u8)>,
    /// Until when `preempt_delay` holds back preemption.
    pub preempt_after: Option<Micros>,
    /// When a master last answered a lower priority advert at once (one
    /// answer per advert interval: a flood of lower adverts must not be
    /// answered advert for advert).
    #[serde(default)]
    pub answered_lower: Option<Micros>,
}

/// One virtual router: its fixed parameters and its variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub params: Params,
    pub vars: Vars,
}

/// The timers of one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Timer {
    /// Adver_Timer (master).
    Advert,
    /// Master_Down_Timer (backup).
    MasterDown,
    /// The second gratuitous burst, `garp_master_delay` after becoming master.
    GarpDelay,
    /// The periodic `garp_master_refresh` burst.
    GarpRefresh,
    /// The second burst after hearing a lower priority advert
    /// (`garp_lower_prio_delay`).
    GarpLowerPrio,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    Startup,
    /// A controller restarted after a crash while this router was master, its
    /// data path and VIPs still in place (crash-only restart): back to Master
    /// at once, before the backups' Master_Down_Timer runs out.
    ResumeMaster,
    Shutdown,
    /// A valid advert (see `validate`), from `src`; `interval_cs` is the
    /// advert's interval in centiseconds.
    Advert {
        priority: u8,
        src: IpAddr,
        interval_cs: u16,
    },
    /// A timer armed by an earlier `Action::Arm` expired.
    Timer(Timer),
    /// The effective priority changed (script or interface weight).
    PriorityChanged(u8),
    /// Another member of this instance's `vrrp_sync_group` went from MASTER
    /// to BACKUP: a master follows (keepalived `vrrp_sync_backup`; no
    /// priority-0 advert, the other router takes over by its timer or a
    /// higher advert, as when keepalived does it).
    SyncBackup,
    /// A tracked `virtual_routes` / `virtual_rules` entry of this master was
    /// deleted by someone else (keepalived `set_vrrp_backup` on a netlink
    /// delete): back to BACKUP with a priority-0 advert and a down timer of
    /// the skew time only, so the best router takes over at once and
    /// installs everything afresh.
    RouteLost,
    FaultSet,
    FaultCleared,
}

/// Which notify script to run (`notify_master`, ... and `notify` with the state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Notify {
    Master,
    Backup,
    Fault,
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Send one advert with this priority (0 when leaving).
    SendAdvert {
        priority: u8,
    },
    /// Install the VIPs (and excluded VIPs) on the interface.
    AddVips,
    RemoveVips,
    /// Gratuitous ARP for each IPv4 VIP, unsolicited NA for each IPv6 VIP, `count` times.
    SendGratuitous {
        count: u32,
    },
    /// The XDP ARP/NDP responder answers for the VIPs (on) or not (off).
    ArpResponder(bool),
    /// (Re)arm a timer to expire at `at_us`.
    Arm {
        timer: Timer,
        at_us: Micros,
    },
    Cancel(Timer),
    Notify(Notify),
    /// v3: a backup adopts the master's advert interval (RFC 5798 6.4.2).
    AdoptInterval {
        interval_cs: u16,
    },
    /// While master, an advert from another router that does not win: two
    /// masters for one VRID (split brain; RFC says discard, operators want to know).
    OtherMaster {
        src: IpAddr,
        priority: u8,
    },
}

impl Instance {
    /// A new instance in Initialize, with its configured priority.
    pub fn new(params: Params, priority: u8) -> Self {
        let vars = Vars {
            state: State::Initialize,
            priority,
            master_adver_interval_cs: params.advert_interval_cs,
            master: None,
            preempt_after: None,
            answered_lower: None,
        };
        Self { params, vars }
    }

    /// Skew_Time in microseconds for the current priority.
    /// v2 (RFC 3768 6.1): (256 - Priority) / 256 seconds.
    /// v3 (RFC 5798 6.1): ((256 - Priority) * Master_Adver_Interval) / 256 centiseconds.
    pub fn skew_us(&self) -> Micros {
        let weight = Micros::from(256 - u16::from(self.vars.priority));
        if self.params.version == 2 {
            weight * US_PER_SEC / 256
        } else {
            weight * Micros::from(self.vars.master_adver_interval_cs) * US_PER_CS / 256
        }
    }

    /// Master_Down_Interval: (3 * Master_Adver_Interval) + Skew_Time
    /// (RFC 5798 6.1; `down_timer_adverts` replaces the 3).
    pub fn master_down_us(&self) -> Micros {
        let adverts = Micros::from(self.params.down_timer_adverts.max(1));
        adverts * Micros::from(self.vars.master_adver_interval_cs) * US_PER_CS + self.skew_us()
    }

    pub fn advert_interval_us(&self) -> Micros {
        Micros::from(self.params.advert_interval_cs) * US_PER_CS
    }

    /// Applies the result of `step`.
    pub fn apply(&mut self, vars: Vars) {
        self.vars = vars;
    }
}

/// The transition function. Returns the new variables and the actions, in the
/// order the executor must carry them out.
pub fn step(inst: &Instance, event: &Event, now: Micros) -> (Vars, Vec<Action>) {
    let mut m = Machine {
        inst: inst.clone(),
        now,
        actions: Vec::new(),
    };
    m.handle(event);
    (m.inst.vars, m.actions)
}

struct Machine {
    inst: Instance,
    now: Micros,
    actions: Vec<Action>,
}

impl Machine {
    fn state(&self) -> State {
        self.inst.vars.state
    }

    fn arm(&mut self, timer: Timer, after_us: Micros) {
        self.actions.push(Action::Arm {
            timer,
            at_us: self.now + after_us,
        });
    }

    fn handle(&mut self, event: &Event) {
        match (self.state(), event) {
            (State::Initialize, Event::Startup) => self.startup(),
            (State::Initialize, Event::ResumeMaster) => self.become_master(),
            (State::Fault, Event::FaultCleared) => self.startup(),
            (State::Master, Event::Shutdown) => {
                // RFC 5798 6.4.3: cancel Adver_Timer, send priority 0, go to Initialize.
                self.leave_master();
                self.actions.push(Action::SendAdvert {
                    priority: PRIORITY_STOP,
                });
                self.enter_initialize();
            }
            (State::Backup, Event::Shutdown) => {
                // RFC 5798 6.4.2: cancel Master_Down_Timer, go to Initialize.
                self.actions.push(Action::Cancel(Timer::MasterDown));
                self.enter_initialize();
            }
            (State::Fault, Event::Shutdown) => self.enter_initialize(),
            (_, Event::Advert { src, .. }) if *src == self.inst.params.primary_ip => {
                // Our own advert looped back: not a peer.
            }
            (
                State::Backup,
                Event::Advert {
                    priority,
                    src,
                    interval_cs,
                },
            ) => {
                self.backup_advert(*priority, *src, *interval_cs);
            }
            (
                State::Master,
                Event::Advert {
                    priority,
                    src,
                    interval_cs,
                },
            ) => {
                self.master_advert(*priority, *src, *interval_cs);
            }
            (State::Backup, Event::Timer(Timer::MasterDown)) => self.become_master(),
            (State::Master, Event::Timer(Timer::Advert)) => {
                // RFC 5798 6.4.3: send an advert, reset Adver_Timer.
                self.actions.push(Action::SendAdvert {
                    priority: self.inst.vars.priority,
                });
                self.arm(Timer::Advert, self.inst.advert_interval_us());
            }
            (State::Master, Event::Timer(Timer::GarpDelay)) => {
                self.actions.push(Action::SendGratuitous {
                    count: self.inst.params.garp.repeat,
                });
            }
            (State::Master, Event::Timer(Timer::GarpLowerPrio)) => {
                self.actions.push(Action::SendGratuitous {
                    count: self.inst.params.garp.lower_repeat,
                });
            }
            (State::Master, Event::Timer(Timer::GarpRefresh)) => {
                let garp = self.inst.params.garp;
                self.actions.push(Action::SendGratuitous {
                    count: garp.refresh_repeat,
                });
                self.arm(Timer::GarpRefresh, garp.refresh_us());
            }
            (_, Event::PriorityChanged(priority)) => {
                let changed = *priority != self.inst.vars.priority;
                self.inst.vars.priority = *priority;
                if changed && self.state() == State::Master {
                    // Tell the backups now rather than at the next Adver_Timer, so a
                    // higher backup can preempt a master whose health dropped.
                    self.actions.push(Action::SendAdvert { priority: *priority });
                    self.arm(Timer::Advert, self.inst.advert_interval_us());
                }
            }
            (State::Master, Event::FaultSet) => {
                self.leave_master();
                self.actions.push(Action::SendAdvert {
                    priority: PRIORITY_STOP,
                });
                self.enter_fault();
            }
            (State::Master, Event::RouteLost) => {
                self.leave_master();
                self.actions.push(Action::SendAdvert {
                    priority: PRIORITY_STOP,
                });
                self.inst.vars.master = None;
                self.enter_backup_after(self.inst.skew_us());
            }
            (State::Master, Event::SyncBackup) => {
                self.leave_master();
                self.inst.vars.master = None;
                self.enter_backup();
            }
            (State::Backup, Event::FaultSet) => {
                self.actions.push(Action::Cancel(Timer::MasterDown));
                self.enter_fault();
            }
            (State::Initialize, Event::FaultSet) => self.enter_fault(),
            // Everything else is ignored in that state: stale timers, adverts
            // while not running, repeated start-ups.
            _ => {}
        }
    }

    /// RFC 5798 6.4.1: the owner becomes master at once, everyone else backup.
    fn startup(&mut self) {
        self.inst.vars.master = None;
        if self.inst.vars.priority == PRIORITY_OWNER {
            self.become_master();
        } else {
            self.inst.vars.master_adver_interval_cs = self.inst.params.advert_interval_cs;
            self.enter_backup();
        }
    }

    /// RFC 5798 6.4.2 "If an ADVERTISEMENT is received".
    fn backup_advert(&mut self, priority: u8, src: IpAddr, interval_cs: u16) {
        let vars = &self.inst.vars;
        if priority == PRIORITY_STOP {
            // The master is leaving: take over after Skew_Time only.
            self.arm(Timer::MasterDown, self.inst.skew_us());
            return;
        }
        let preempt = self.inst.params.preempt;
        let ours = vars.priority;
        let mut hold_back = false;
        if preempt && priority < ours && self.inst.params.preempt_delay_ms > 0 {
            // keepalived preempt_delay (vrrp.c, 2.2.7): the delay starts at the
            // first lower advert heard as backup; until it has run out the lower
            // master is accepted (and resets Master_Down_Timer); from then on its
            // adverts are discarded and the takeover comes Master_Down_Interval
            // after the last one accepted (tests/tests/keepalived_parity.rs
            // measures delay + Master_Down_Interval in both).
            let after = *self
                .inst
                .vars
                .preempt_after
                .get_or_insert(self.now + self.inst.params.preempt_delay_us());
            hold_back = self.now < after;
        }
        if !preempt || priority >= ours || hold_back {
            if self.inst.params.version == 3 && interval_cs != self.inst.vars.master_adver_interval_cs {
                self.inst.vars.master_adver_interval_cs = interval_cs;
                self.actions.push(Action::AdoptInterval { interval_cs });
            }
            self.inst.vars.master = Some((src, priority));
            if priority >= ours {
                // A legitimate master: a later lower one starts a fresh preempt_delay.
                self.inst.vars.preempt_after = None;
            }
            self.arm(Timer::MasterDown, self.inst.master_down_us());
        } else {
            // Preempt: discard, and let Master_Down_Timer run out.
            self.time_takeover_after_preempt_delay(src, interval_cs);
            self.inst.vars.master = Some((src, priority));
        }
    }

    /// keepalived times a takeover after `preempt_delay` from the last advert
    /// it accepted from the held-back master (the last one before the delay
    /// ran out). In XDP mode only the newest advert is read when the timer
    /// fires, so the ones before it are reconstructed: that master sent one
    /// every interval. With every advert seen (socket mode) this re-arms the
    /// deadline the last accepted advert already set.
    fn time_takeover_after_preempt_delay(&mut self, src: IpAddr, interval_cs: u16) {
        let vars = &self.inst.vars;
        let (Some(after), Some((held, held_priority))) = (vars.preempt_after, vars.master) else {
            return;
        };
        if held != src || held_priority >= vars.priority || self.now < after {
            return;
        }
        let interval = Micros::from(interval_cs.max(1)) * US_PER_CS;
        let missed = (self.now - after) / interval + 1;
        let last_accepted = self.now.saturating_sub(missed * interval);
        let at_us = last_accepted + self.inst.master_down_us();
        if at_us > self.now {
            self.actions.push(Action::Arm {
                timer: Timer::MasterDown,
                at_us,
            });
        }
    }

    /// RFC 5798 6.4.3 "If an ADVERTISEMENT is received".
    fn master_advert(&mut self, priority: u8, src: IpAddr, interval_cs: u16) {
        let ours = self.inst.vars.priority;
        if priority == PRIORITY_STOP {
            // Another router leaves: answer at once so the backups hear a master.
            self.actions.push(Action::SendAdvert { priority: ours });
            self.arm(Timer::Advert, self.inst.advert_interval_us());
            return;
        }
        let wins = priority > ours || (priority == ours && src > self.inst.params.primary_ip);
        if wins {
            if self.inst.params.higher_prio_send_advert {
                self.actions.push(Action::SendAdvert { priority: ours });
            }
            self.leave_master();
            if self.inst.params.version == 3 {
                self.inst.vars.master_adver_interval_cs = interval_cs;
            }
            self.inst.vars.master = Some((src, priority));
            self.enter_backup();
        } else {
            // keepalived (vrrp.c vrrp_state_master_rx): answer at once so the
            // other router hears a better master now ("forcing new
            // election"), and re-announce the VIPs, which its gratuitous
            // ARPs may have taken.
            self.actions.push(Action::OtherMaster { src, priority });
            let interval = self.inst.advert_interval_us();
            let recently = self
                .inst
                .vars
                .answered_lower
                .is_some_and(|t| self.now.saturating_sub(t) < interval);
            if !self.inst.params.lower_prio_no_advert && !recently {
                self.actions.push(Action::SendAdvert { priority: ours });
                self.arm(Timer::Advert, interval);
                self.inst.vars.answered_lower = Some(self.now);
            }
            let garp = self.inst.params.garp;
            if garp.lower_repeat > 0 {
                self.actions.push(Action::SendGratuitous {
                    count: garp.lower_repeat,
                });
                // One pending second burst, however many adverts (keepalived
                // adds a timer for each).
                if garp.lower_delay_s > 0 {
                    self.arm(Timer::GarpLowerPrio, garp.lower_delay_us());
                }
            }
        }
    }

    /// RFC 5798 6.4.1/6.4.2: send an advert, announce the VIPs, arm Adver_Timer.
    fn become_master(&mut self) {
        let from = self.state();
        if from == State::Backup {
            self.actions.push(Action::Cancel(Timer::MasterDown));
        }
        let garp = self.inst.params.garp;
        self.actions.push(Action::SendAdvert {
            priority: self.inst.vars.priority,
        });
        self.actions.push(Action::AddVips);
        self.actions.push(Action::ArpResponder(true));
        self.actions.push(Action::SendGratuitous { count: garp.repeat });
        if garp.delay_s > 0 && garp.repeat > 0 {
            self.arm(Timer::GarpDelay, garp.delay_us());
        }
        if garp.refresh_s > 0 {
            self.arm(Timer::GarpRefresh, garp.refresh_us());
        }
        self.arm(Timer::Advert, self.inst.advert_interval_us());
        self.inst.vars.state = State::Master;
        self.inst.vars.master = None;
        self.inst.vars.preempt_after = None;
        self.actions.push(Action::Notify(Notify::Master));
    }

    /// What a master undoes whenever it stops being master.
    fn leave_master(&mut self) {
        self.actions.push(Action::Cancel(Timer::Advert));
        self.actions.push(Action::Cancel(Timer::GarpDelay));
        self.actions.push(Action::Cancel(Timer::GarpRefresh));
        self.actions.push(Action::Cancel(Timer::GarpLowerPrio));
        self.actions.push(Action::ArpResponder(false));
        self.actions.push(Action::RemoveVips);
    }

    fn enter_backup(&mut self) {
        self.enter_backup_after(self.inst.master_down_us());
    }

    fn enter_backup_after(&mut self, down_us: Micros) {
        // keepalived clears the preempt delay on entering BACKUP.
        self.inst.vars.preempt_after = None;
        self.arm(Timer::MasterDown, down_us);
        self.inst.vars.state = State::Backup;
        self.actions.push(Action::Notify(Notify::Backup));
    }

    fn enter_fault(&mut self) {
        self.inst.vars.state = State::Fault;
        self.inst.vars.master = None;
        self.actions.push(Action::Notify(Notify::Fault));
    }

    fn enter_initialize(&mut self) {
        self.inst.vars.state = State::Initialize;
        self.inst.vars.master = None;
        self.actions.push(Action::Notify(Notify::Stop));
    }
}
