//! The kernel's Master_Down_Timer for backups whose master advertises
//! steadily (`xvrrp_common::maps::DOWN_TIMERS`): each advert that would reset
//! the backup's timer (RFC 5798 6.4.2) restarts it here, so the daemon sleeps
//! until the master goes quiet; when it runs out, one event wakes it.

use core::ffi::c_void;

use aya_ebpf::{
    bindings::bpf_timer,
    helpers::{bpf_ktime_get_ns, bpf_timer_init, bpf_timer_set_callback, bpf_timer_start},
};
use xvrrp_common::{
    maps::{AdvertEvent, DownWatch, EV_DOWN_TIMER},
    stats,
};

use crate::maps::{XVRRP_DOWN_TIMERS, XVRRP_EVENTS, count};

/// `CLOCK_MONOTONIC`: the clock `bpf_ktime_get_ns` and the controller read.
const CLOCK_MONOTONIC: u64 = 1;

/// A `DOWN_TIMERS` value with the kernel's timer type, which the map's BTF
/// must name (`xvrrp_common::maps::DownTimer` is the userspace view).
#[repr(C)]
pub struct DownTimer {
    pub timer: bpf_timer,
    pub watch: DownWatch,
}

const _: () =
    assert!(core::mem::size_of::<DownTimer>() == core::mem::size_of::<xvrrp_common::maps::DownTimer>());

/// An advert of `priority` was recorded at `now` for the instance in `slot`
/// under `generation`: restart its timer if the controller handed it over.
#[inline(always)]
pub fn advert(slot: u32, generation: u32, priority: u8, now: u64) {
    let Some(entry) = XVRRP_DOWN_TIMERS.get_ptr_mut(slot) else {
        return;
    };
    let entry = unsafe { &mut *entry };
    let w = &entry.watch;
    if w.down_ns == 0 || w.generation != generation || priority == 0 || priority < w.min_priority {
        return;
    }
    let (down_ns, token) = (w.down_ns, w.token);
    let timer: *mut bpf_timer = &mut entry.timer;
    // Started before under this hand-over: a restart is all it takes.
    if entry.watch.started == token && unsafe { bpf_timer_start(timer, down_ns, 0) } == 0 {
        entry.watch.restarted_ns = now;
        return;
    }
    // New since the controller's write (which cancelled and freed the
    // element's timer), or freed by a write that raced the last start:
    // set it up again. `init` fails harmlessly on a timer already set up.
    let started = unsafe {
        bpf_timer_init(
            timer,
            core::ptr::from_ref(&XVRRP_DOWN_TIMERS).cast_mut().cast(),
            CLOCK_MONOTONIC,
        );
        bpf_timer_set_callback(timer, ran_out as *mut c_void) == 0 && bpf_timer_start(timer, down_ns, 0) == 0
    };
    // Only a running timer may say so: the controller stops its own timer
    // when it reads its token here.
    entry.watch.started = if started { token } else { 0 };
    if started {
        entry.watch.restarted_ns = now;
    }
}

/// A full ring is tried again this much later: the daemon, asleep only
/// because of this timer, must hear of it (a lost advert event is made up
/// for by reading the map; nothing makes up for this one).
const RETRY_NS: u64 = 1_000_000;

/// The timer ran out: the master has been quiet for Master_Down_Interval.
/// Not `#[no_mangle]`: the kernel calls it through the timer (the loader
/// links it as a static function); it must return 0.
extern "C" fn ran_out(_map: *mut c_void, _key: *mut u32, entry: *mut DownTimer) -> i32 {
    let w = unsafe { &(*entry).watch };
    let event = AdvertEvent {
        key: w.key,
        ts_ns: unsafe { bpf_ktime_get_ns() },
        master: [0; 16],
        changes: EV_DOWN_TIMER,
        priority: 0,
        version: 0,
        interval: 0,
    };
    // A full ring holds events the daemon has been woken for: it drains
    // them, and the retry finds room.
    if XVRRP_EVENTS.output::<AdvertEvent>(&event, 0).is_err() {
        count(stats::EVENTS_LOST);
        unsafe { bpf_timer_start(&raw mut (*entry).timer, RETRY_NS, 0) };
    }
    0
}
