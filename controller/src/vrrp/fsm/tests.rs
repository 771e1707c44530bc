//! One test per transition of RFC 3768 / RFC 5798 section 6.4, named after the
//! section it checks, plus keepalived's additions.

use std::net::{IpAddr, Ipv4Addr};

use super::*;

const OURS: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const LOWER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 0));
const HIGHER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9));

fn params(version: u8) -> Params {
    Params {
        version,
        advert_interval_cs: 100,
        preempt: true,
        preempt_delay_ms: 0,
        primary_ip: OURS,
        down_timer_adverts: 3,
        garp: GarpSchedule::default(),
        lower_prio_no_advert: false,
        higher_prio_send_advert: false,
    }
}

fn inst(version: u8, priority: u8) -> Instance {
    Instance::new(params(version), priority)
}

/// Runs `events` at `now` and returns the instance and the last actions.
fn run(mut i: Instance, events: &[(Micros, Event)]) -> (Instance, Vec<Action>) {
    let mut last = Vec::new();
    for (now, ev) in events {
        let (vars, actions) = step(&i, ev, *now);
        i.apply(vars);
        last = actions;
    }
    (i, last)
}

fn backup(version: u8, priority: u8) -> Instance {
    run(inst(version, priority), &[(0, Event::Startup)]).0
}

fn master(version: u8, priority: u8) -> Instance {
    run(backup(version, priority), &[(0, Event::Timer(Timer::MasterDown))]).0
}

fn advert(priority: u8, src: IpAddr) -> Event {
    Event::Advert {
        priority,
        src,
        interval_cs: 100,
    }
}

fn arms(actions: &[Action], timer: Timer) -> Option<Micros> {
    actions.iter().find_map(|a| match a {
        Action::Arm { timer: t, at_us } if *t == timer => Some(*at_us),
        _ => None,
    })
}

#[test]
fn rfc3768_6_1_skew_and_master_down_v2() {
    // Skew_Time = (256 - 100) / 256 s = 0.609375 s; Master_Down = 3 s + skew.
    let i = backup(2, 100);
    assert_eq!(i.skew_us(), 609_375);
    assert_eq!(i.master_down_us(), 3_609_375);
}

#[test]
fn rfc5798_6_1_skew_scales_with_master_adver_interval_v3() {
    let mut i = backup(3, 100);
    i.vars.master_adver_interval_cs = 50;
    // ((256 - 100) * 50) / 256 cs = 30.46875 cs.
    assert_eq!(i.skew_us(), 304_687);
    assert_eq!(i.master_down_us(), 3 * 500_000 + 304_687);
}

#[test]
fn keepalived_down_timer_adverts_replaces_the_three() {
    let mut i = backup(2, 100);
    i.params.down_timer_adverts = 5;
    assert_eq!(i.master_down_us(), 5_609_375);
}

#[test]
fn rfc5798_6_4_1_startup_non_owner_goes_backup_and_arms_master_down() {
    let (i, actions) = run(inst(2, 100), &[(1_000, Event::Startup)]);
    assert_eq!(i.vars.state, State::Backup);
    assert_eq!(arms(&actions, Timer::MasterDown), Some(1_000 + 3_609_375));
    assert!(!actions.contains(&Action::AddVips));
    assert!(actions.contains(&Action::Notify(Notify::Backup)));
}

#[test]
fn rfc5798_6_4_1_startup_owner_goes_master_at_once() {
    let (i, actions) = run(inst(2, 255), &[(0, Event::Startup)]);
    assert_eq!(i.vars.state, State::Master);
    assert_eq!(actions[0], Action::SendAdvert { priority: 255 });
    assert!(actions.contains(&Action::AddVips));
    assert!(actions.contains(&Action::SendGratuitous { count: 5 }));
    assert_eq!(arms(&actions, Timer::Advert), Some(1_000_000));
}

#[test]
fn rfc5798_6_4_2_master_down_timer_makes_backup_master() {
    let (i, actions) = run(backup(2, 100), &[(5, Event::Timer(Timer::MasterDown))]);
    assert_eq!(i.vars.state, State::Master);
    let send = actions
        .iter()
        .position(|a| *a == Action::SendAdvert { priority: 100 })
        .unwrap();
    let garp = actions
        .iter()
        .position(|a| matches!(a, Action::SendGratuitous { .. }))
        .unwrap();
    assert!(send < garp, "advert first, then gratuitous ARP (RFC 5798 6.4.2)");
    assert!(actions.contains(&Action::ArpResponder(true)));
    assert!(actions.contains(&Action::Notify(Notify::Master)));
}

#[test]
fn rfc5798_6_4_2_backup_priority_zero_waits_only_skew() {
    let (i, actions) = run(backup(2, 100), &[(10, advert(0, HIGHER_IP))]);
    assert_eq!(i.vars.state, State::Backup);
    assert_eq!(arms(&actions, Timer::MasterDown), Some(10 + 609_375));
}

#[test]
fn rfc5798_6_4_2_backup_accepts_higher_priority_and_resets_timer() {
    let (i, actions) = run(backup(2, 100), &[(10, advert(150, HIGHER_IP))]);
    assert_eq!(arms(&actions, Timer::MasterDown), Some(10 + 3_609_375));
    assert_eq!(i.vars.master, Some((HIGHER_IP, 150)));
}

#[test]
fn rfc5798_6_4_2_backup_equal_priority_resets_timer() {
    let (_, actions) = run(backup(2, 100), &[(10, advert(100, LOWER_IP))]);
    assert!(arms(&actions, Timer::MasterDown).is_some());
}

#[test]
fn rfc5798_6_4_2_backup_discards_lower_priority_when_preempting() {
    let (i, actions) = run(backup(2, 100), &[(10, advert(50, HIGHER_IP))]);
    assert_eq!(
        arms(&actions, Timer::MasterDown),
        None,
        "timer keeps running down"
    );
    assert_eq!(i.vars.state, State::Backup);
}

#[test]
fn rfc5798_6_4_2_nopreempt_backup_accepts_lower_priority() {
    let mut i = inst(2, 100);
    i.params.preempt = false;
    let (_, actions) = run(i, &[(0, Event::Startup), (10, advert(50, HIGHER_IP))]);
    assert_eq!(arms(&actions, Timer::MasterDown), Some(10 + 3_609_375));
}

#[test]
fn rfc5798_6_4_2_v3_backup_adopts_master_adver_interval() {
    let ev = Event::Advert {
        priority: 200,
        src: HIGHER_IP,
        interval_cs: 50,
    };
    let (i, actions) = run(backup(3, 100), &[(0, ev)]);
    assert_eq!(i.vars.master_adver_interval_cs, 50);
    assert!(actions.contains(&Action::AdoptInterval { interval_cs: 50 }));
    assert_eq!(arms(&actions, Timer::MasterDown), Some(3 * 500_000 + 304_687));
}

#[test]
fn rfc3768_6_4_2_v2_backup_keeps_its_interval() {
    let ev = Event::Advert {
        priority: 200,
        src: HIGHER_IP,
        interval_cs: 200,
    };
    let (i, actions) = run(backup(2, 100), &[(0, ev)]);
    assert_eq!(i.vars.master_adver_interval_cs, 100);
    assert!(!actions.iter().any(|a| matches!(a, Action::AdoptInterval { .. })));
}

#[test]
fn rfc5798_6_4_2_backup_shutdown_goes_initialize() {
    let (i, actions) = run(backup(2, 100), &[(0, Event::Shutdown)]);
    assert_eq!(i.vars.state, State::Initialize);
    assert!(actions.contains(&Action::Cancel(Timer::MasterDown)));
    assert!(!actions.iter().any(|a| matches!(a, Action::SendAdvert { .. })));
}

#[test]
fn rfc5798_6_4_3_adver_timer_sends_and_rearms() {
    let (_, actions) = run(master(2, 100), &[(2_000_000, Event::Timer(Timer::Advert))]);
    assert_eq!(actions[0], Action::SendAdvert { priority: 100 });
    assert_eq!(arms(&actions, Timer::Advert), Some(3_000_000));
}

#[test]
fn rfc5798_6_4_3_master_shutdown_sends_priority_zero() {
    let (i, actions) = run(master(2, 100), &[(0, Event::Shutdown)]);
    assert_eq!(i.vars.state, State::Initialize);
    assert!(actions.contains(&Action::Cancel(Timer::Advert)));
    assert!(actions.contains(&Action::SendAdvert { priority: 0 }));
    assert!(actions.contains(&Action::RemoveVips));
    assert!(actions.contains(&Action::Notify(Notify::Stop)));
}

#[test]
fn rfc5798_6_4_3_master_answers_priority_zero_at_once() {
    let (i, actions) = run(master(2, 100), &[(7, advert(0, HIGHER_IP))]);
    assert_eq!(i.vars.state, State::Master);
    assert_eq!(actions[0], Action::SendAdvert { priority: 100 });
    assert_eq!(arms(&actions, Timer::Advert), Some(7 + 1_000_000));
}

#[test]
fn rfc5798_6_4_3_master_yields_to_higher_priority() {
    let (i, actions) = run(master(2, 100), &[(0, advert(101, LOWER_IP))]);
    assert_eq!(i.vars.state, State::Backup);
    assert!(actions.contains(&Action::Cancel(Timer::Advert)));
    assert!(actions.contains(&Action::RemoveVips));
    assert!(actions.contains(&Action::ArpResponder(false)));
    assert_eq!(arms(&actions, Timer::MasterDown), Some(3_609_375));
}

#[test]
fn rfc5798_6_4_3_equal_priority_higher_address_wins() {
    let (i, _) = run(master(2, 100), &[(0, advert(100, HIGHER_IP))]);
    assert_eq!(i.vars.state, State::Backup);
}

#[test]
fn rfc5798_6_4_3_equal_priority_lower_address_loses() {
    let (i, actions) = run(master(2, 100), &[(0, advert(100, LOWER_IP))]);
    assert_eq!(i.vars.state, State::Master);
    assert!(actions.contains(&Action::OtherMaster {
        src: LOWER_IP,
        priority: 100
    }));
}

#[test]
fn rfc5798_6_4_3_master_discards_lower_priority_and_reports_split_brain() {
    // Strict mode: lower_prio_no_advert, and no gratuitous repeat set.
    let mut m = master(2, 100);
    m.params.lower_prio_no_advert = true;
    m.params.garp.lower_repeat = 0;
    let (i, actions) = run(m, &[(0, advert(90, HIGHER_IP))]);
    assert_eq!(i.vars.state, State::Master);
    assert_eq!(
        actions,
        vec![Action::OtherMaster {
            src: HIGHER_IP,
            priority: 90
        }]
    );
}

/// keepalived 2.2.7 as measured (`/work/notes/k18/adverts.md`): a master
/// answers a lower advert at once and re-arms its timer, sends
/// `garp_lower_prio_repeat` gratuitous ARPs, and again after
/// `garp_lower_prio_delay` (one pending burst here, however many adverts).
#[test]
fn keepalived_master_answers_a_lower_advert() {
    let (i, actions) = run(master(2, 100), &[(7, advert(90, HIGHER_IP))]);
    assert_eq!(i.vars.state, State::Master);
    assert!(actions.contains(&Action::SendAdvert { priority: 100 }));
    assert_eq!(arms(&actions, Timer::Advert), Some(7 + 1_000_000));
    assert!(actions.contains(&Action::SendGratuitous { count: 5 }));
    assert_eq!(arms(&actions, Timer::GarpLowerPrio), Some(7 + 5_000_000));
    // A flood of lower adverts is answered once per advert interval.
    let (i, actions) = run(i, &[(500_007, advert(90, HIGHER_IP))]);
    assert!(!actions.iter().any(|a| matches!(a, Action::SendAdvert { .. })));
    let (i, actions) = run(i, &[(1_000_007, advert(90, HIGHER_IP))]);
    assert!(actions.contains(&Action::SendAdvert { priority: 100 }));
    let (_, actions) = run(i, &[(5_000_007, Event::Timer(Timer::GarpLowerPrio))]);
    assert_eq!(actions, vec![Action::SendGratuitous { count: 5 }]);
    // lower_prio_no_advert: the ARPs still go, the advert does not.
    let mut m = master(2, 100);
    m.params.lower_prio_no_advert = true;
    let (_, actions) = run(m, &[(7, advert(90, HIGHER_IP))]);
    assert!(!actions.iter().any(|a| matches!(a, Action::SendAdvert { .. })));
    assert!(actions.contains(&Action::SendGratuitous { count: 5 }));
}

#[test]
fn higher_prio_send_advert_sends_one_before_leaving() {
    let mut m = master(2, 100);
    m.params.higher_prio_send_advert = true;
    let (i, actions) = run(m, &[(0, advert(150, LOWER_IP))]);
    assert_eq!(i.vars.state, State::Backup);
    assert_eq!(actions[0], Action::SendAdvert { priority: 100 });
    let (_, actions) = run(master(2, 100), &[(0, advert(150, LOWER_IP))]);
    assert!(!actions.iter().any(|a| matches!(a, Action::SendAdvert { .. })));
}

#[test]
fn own_looped_advert_is_ignored() {
    let (i, actions) = run(master(2, 100), &[(0, advert(200, OURS))]);
    assert_eq!(i.vars.state, State::Master);
    assert!(actions.is_empty());
}

#[test]
fn stale_timers_are_ignored() {
    let (i, actions) = run(backup(2, 100), &[(0, Event::Timer(Timer::Advert))]);
    assert_eq!(i.vars.state, State::Backup);
    assert!(actions.is_empty());
    let (i, actions) = run(master(2, 100), &[(0, Event::Timer(Timer::MasterDown))]);
    assert_eq!(i.vars.state, State::Master);
    assert!(actions.is_empty());
}

#[test]
fn keepalived_preempt_delay_holds_back_then_lets_master_down_run_out() {
    // keepalived 2.2.7 (vrrp.c; tests/tests/keepalived_parity.rs): the delay
    // starts at the first lower advert heard as backup; that master is
    // accepted until the delay has run out, then discarded; the takeover is
    // Master_Down_Interval after the last accepted advert, not at the delay.
    let mut i = inst(2, 100);
    i.params.preempt_delay_ms = 10_000;
    let (i, actions) = run(i, &[(0, Event::Startup), (1_000_000, advert(50, HIGHER_IP))]);
    assert_eq!(
        arms(&actions, Timer::MasterDown),
        Some(1_000_000 + 3_609_375),
        "lower master tolerated: the delay starts here"
    );
    assert_eq!(i.vars.preempt_after, Some(11_000_000));
    let (i, actions) = run(i, &[(10_000_000, advert(50, HIGHER_IP))]);
    assert_eq!(arms(&actions, Timer::MasterDown), Some(10_000_000 + 3_609_375));
    let (i, actions) = run(i, &[(11_500_000, advert(50, HIGHER_IP))]);
    assert_eq!(
        arms(&actions, Timer::MasterDown),
        Some(10_500_000 + 3_609_375),
        "discarded once the delay ran out; the takeover is timed from the last advert \
         before it (seen or not: one came every interval)"
    );
    assert_eq!(i.vars.state, State::Backup);
    let (i, actions) = run(i, &[(14_109_375, Event::Timer(Timer::MasterDown))]);
    assert_eq!(i.vars.state, State::Master);
    assert!(actions.contains(&Action::AddVips));
}

#[test]
fn keepalived_preempt_delay_restarts_after_a_better_master() {
    let mut i = inst(2, 100);
    i.params.preempt_delay_ms = 10_000;
    let (i, _) = run(
        i,
        &[
            (0, Event::Startup),
            (1_000_000, advert(50, HIGHER_IP)),
            (5_000_000, advert(150, HIGHER_IP)),
        ],
    );
    assert_eq!(
        i.vars.preempt_after, None,
        "a master at or above us stops the delay"
    );
    let (i, actions) = run(i, &[(60_000_000, advert(50, HIGHER_IP))]);
    assert_eq!(arms(&actions, Timer::MasterDown), Some(60_000_000 + 3_609_375));
    assert_eq!(
        i.vars.preempt_after,
        Some(70_000_000),
        "a fresh delay from the next lower one"
    );
}

#[test]
fn keepalived_fault_from_master_leaves_and_clears_to_backup() {
    let (i, actions) = run(master(2, 100), &[(0, Event::FaultSet)]);
    assert_eq!(i.vars.state, State::Fault);
    assert!(actions.contains(&Action::SendAdvert { priority: 0 }));
    assert!(actions.contains(&Action::RemoveVips));
    assert!(actions.contains(&Action::Notify(Notify::Fault)));
    let (i, _) = run(
        i,
        &[(0, advert(50, HIGHER_IP)), (0, Event::Timer(Timer::MasterDown))],
    );
    assert_eq!(
        i.vars.state,
        State::Fault,
        "a faulted instance neither listens nor takes over"
    );
    let (i, actions) = run(i, &[(5, Event::FaultCleared)]);
    assert_eq!(i.vars.state, State::Backup);
    assert_eq!(arms(&actions, Timer::MasterDown), Some(5 + 3_609_375));
}

#[test]
fn keepalived_fault_from_backup() {
    let (i, actions) = run(backup(2, 100), &[(0, Event::FaultSet)]);
    assert_eq!(i.vars.state, State::Fault);
    assert!(actions.contains(&Action::Cancel(Timer::MasterDown)));
}

#[test]
fn priority_change_in_master_advertises_at_once() {
    let (i, actions) = run(master(2, 100), &[(3, Event::PriorityChanged(80))]);
    assert_eq!(i.vars.priority, 80);
    assert_eq!(actions[0], Action::SendAdvert { priority: 80 });
    // and the backup with 90 now discards it and preempts:
    let (b, actions) = run(backup(2, 90), &[(3, advert(80, HIGHER_IP))]);
    assert_eq!(arms(&actions, Timer::MasterDown), None);
    assert_eq!(b.vars.state, State::Backup);
}

#[test]
fn keepalived_garp_schedule_delay_and_refresh() {
    let mut i = inst(2, 100);
    i.params.garp = GarpSchedule {
        delay_s: 5,
        repeat: 3,
        refresh_s: 60,
        refresh_repeat: 2,
        lower_repeat: 0,
        lower_delay_s: 0,
    };
    let (i, actions) = run(i, &[(0, Event::Startup), (100, Event::Timer(Timer::MasterDown))]);
    assert!(actions.contains(&Action::SendGratuitous { count: 3 }));
    assert_eq!(arms(&actions, Timer::GarpDelay), Some(5_000_100));
    assert_eq!(arms(&actions, Timer::GarpRefresh), Some(60_000_100));
    let (i, actions) = run(i, &[(5_000_100, Event::Timer(Timer::GarpDelay))]);
    assert_eq!(actions, vec![Action::SendGratuitous { count: 3 }]);
    let (_, actions) = run(i, &[(60_000_100, Event::Timer(Timer::GarpRefresh))]);
    assert_eq!(actions[0], Action::SendGratuitous { count: 2 });
    assert_eq!(arms(&actions, Timer::GarpRefresh), Some(120_000_100));
}

#[test]
fn crash_only_resume_master_announces_at_once() {
    let (i, actions) = run(inst(2, 100), &[(7, Event::ResumeMaster)]);
    assert_eq!(i.vars.state, State::Master);
    assert_eq!(actions[0], Action::SendAdvert { priority: 100 });
    assert!(actions.contains(&Action::AddVips));
    assert_eq!(arms(&actions, Timer::Advert), Some(7 + 1_000_000));
    // Only from Initialize: a running instance ignores it.
    let (b, actions) = run(backup(2, 100), &[(0, Event::ResumeMaster)]);
    assert_eq!(b.vars.state, State::Backup);
    assert!(actions.is_empty());
}

#[test]
fn sync_backup_moves_a_master_to_backup_without_a_priority_zero_advert() {
    let (i, actions) = run(master(2, 100), &[(0, Event::SyncBackup)]);
    assert_eq!(i.vars.state, State::Backup);
    assert!(actions.contains(&Action::RemoveVips));
    assert!(actions.contains(&Action::Notify(Notify::Backup)));
    assert!(!actions.iter().any(|a| matches!(a, Action::SendAdvert { .. })));
    assert_eq!(arms(&actions, Timer::MasterDown), Some(3_609_375));
    // Only a master follows.
    let (b, actions) = run(backup(2, 100), &[(0, Event::SyncBackup)]);
    assert_eq!(b.vars.state, State::Backup);
    assert!(actions.is_empty());
}

#[test]
fn a_lost_route_sends_priority_zero_and_contends_again_after_the_skew_time() {
    // keepalived set_vrrp_backup: priority 0, everything removed, and the
    // down timer at the skew time only (priority 100: (256-100)/256 s).
    let (i, actions) = run(master(2, 100), &[(0, Event::RouteLost)]);
    assert_eq!(i.vars.state, State::Backup);
    assert!(actions.contains(&Action::RemoveVips));
    assert!(actions.contains(&Action::SendAdvert { priority: 0 }));
    assert!(actions.contains(&Action::Notify(Notify::Backup)));
    assert_eq!(arms(&actions, Timer::MasterDown), Some(609_375));
    // With nobody else, it is master again when that runs out.
    let (i, actions) = run(
        master(2, 100),
        &[(0, Event::RouteLost), (609_375, Event::Timer(Timer::MasterDown))],
    );
    assert_eq!(i.vars.state, State::Master);
    assert!(actions.contains(&Action::AddVips));
    // Only a master reacts.
    let (b, actions) = run(backup(2, 100), &[(0, Event::RouteLost)]);
    assert_eq!(b.vars.state, State::Backup);
    assert!(actions.is_empty());
}
