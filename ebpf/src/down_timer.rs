//! The kernel's Master_Down_Timer for backups whose master advertises
//! steadily (`xvrrp_common::maps::DOWN_WATCH`): each advert that would reset
//! the backup's timer (RFC 5798 6.4.2) is stamped into the instance's entry,
//! so the daemon sleeps until the master goes quiet; when one runs out, one
//! event wakes it.
//!
//! One kernel timer, the clock (`DOWN_CLOCK`), serves every entry: it is set
//! for the earliest deadline it knows of, and when it runs out it looks at
//! each entry, pushes the events of those that ran out and is set again for
//! the next earliest. An advert only moves its own deadline later (the clock
//! then runs out early, finds nothing due and is set again), so adverts set
//! the clock only when an entry starts (the first advert after a hand-over,
//! or after it ran out). With phases spread, the clock runs out about every
//! Master_Down_Interval minus one advert interval, whatever the number of
//! instances. One timer and not one per instance: the kernel allocates each
//! timer where it cannot wait for memory, and 6.18 then cannot grow the slab
//! it takes them from (measured: thousands of set-ups fail with ENOMEM).

use core::ffi::c_void;

use aya_ebpf::{
    bindings::{bpf_spin_lock, bpf_timer},
    helpers::{
        bpf_ktime_get_ns, bpf_loop, bpf_spin_lock as lock, bpf_spin_unlock as unlock, bpf_timer_init,
        bpf_timer_set_callback, bpf_timer_start,
    },
};
use xvrrp_common::{
    maps::{AdvertEvent, EV_DOWN_TIMER},
    stats,
};

use crate::maps::{XVRRP_DOWN_CLOCK, XVRRP_DOWN_WATCH, XVRRP_EVENTS, count};

/// `CLOCK_MONOTONIC`: the clock `bpf_ktime_get_ns` and the controller read.
const CLOCK_MONOTONIC: u64 = 1;

/// The `DOWN_CLOCK` value (kernel only: userspace never writes it, which
/// would free the timer).
#[repr(C)]
pub struct DownClock {
    pub timer: bpf_timer,
    /// Guards `armed_ns` and `slots`.
    pub lock: bpf_spin_lock,
    /// The entries the clock looks at: one past the highest slot started.
    pub slots: u32,
    /// When the timer is set to run out (monotonic ns); 0: not set (never,
    /// or a start failed), or running out now (the callback looks at every
    /// entry afterwards).
    pub armed_ns: u64,
}

/// An advert of `priority` was recorded at `now` for the instance in `slot`
/// under `generation`: restart its timer if the controller handed it over.
#[inline(always)]
pub fn advert(slot: u32, generation: u32, priority: u8, now: u64) {
    let Some(w) = XVRRP_DOWN_WATCH.get_ptr_mut(slot) else {
        return;
    };
    let w = unsafe { &mut *w };
    if w.down_ns == 0 || w.generation != generation || priority == 0 || priority < w.min_priority {
        return;
    }
    let (token, down_ns) = (w.token, w.down_ns);
    // Running, and the clock is set no later than its old deadline: the new
    // one is later, the clock finds it when it runs out.
    if w.started == token && w.counted == token && w.fired != w.restarted_ns {
        w.restarted_ns = now;
        return;
    }
    // Starting (or again, after it ran out): the clock must be set for it.
    // The clock counts it from here on; the controller, which stops its own
    // timer when it reads its token in `started`, only once the clock is set
    // for the terms read here (a controller's write may have landed in
    // between, read half old and half new: then the next advert starts it).
    w.restarted_ns = now;
    w.counted = token;
    let set = clock_at(now + down_ns, slot);
    let same = w.token == token && w.down_ns == down_ns && w.generation == generation;
    w.started = if set && same { token } else { 0 };
    if !set {
        count(stats::DOWN_TIMER_FAILED);
    }
}

/// Sets the clock to run out at `at` (monotonic ns) unless it is set to run
/// out earlier; records that `slot` is one to look at. False when the clock
/// could not be started (not set up: the controller sets it up before its
/// first hand-over).
#[inline(always)]
fn clock_at(at: u64, slot: u32) -> bool {
    let Some(c) = XVRRP_DOWN_CLOCK.get_ptr_mut(0) else {
        return false;
    };
    let lock_ptr = unsafe { &raw mut (*c).lock };
    let now = unsafe { bpf_ktime_get_ns() };
    unsafe { lock(lock_ptr) };
    let (armed, slots) = unsafe { ((*c).armed_ns, (*c).slots) };
    if slot >= slots {
        unsafe { (*c).slots = slot + 1 };
    }
    // Set long past without having run out: no timer is pending, or its
    // softirq is that late (a starved CPU, a paused VM). Either way the
    // clock runs out now: every entry past due is looked at at once, and
    // the callback sets the clock for the earliest deadline again.
    let late = armed != 0 && armed + LATE_NS < now;
    let at = if late { now } else { at };
    let earlier = armed == 0 || at < armed || late;
    if earlier {
        unsafe { (*c).armed_ns = at };
    }
    unsafe { unlock(lock_ptr) };
    if !earlier {
        return true;
    }
    let timer = unsafe { &raw mut (*c).timer };
    let mut at = at;
    // Two CPUs may set it at once, each start landing in either order: after
    // ours, an earlier time recorded meanwhile is started again (its own
    // start may have come first and been overwritten by ours).
    for _ in 0..4 {
        let ok = start(timer, at) == 0;
        unsafe { lock(lock_ptr) };
        let now_armed = unsafe { (*c).armed_ns };
        if !ok && now_armed == at {
            unsafe { (*c).armed_ns = 0 };
        }
        unsafe { unlock(lock_ptr) };
        // 0: the clock ran out since, and its callback looks at every entry,
        // this one too (stamped before this call); or another CPU's start
        // failed, as ours then did too.
        if !ok || now_armed == at || now_armed == 0 || now_armed > at {
            return ok;
        }
        at = now_armed;
    }
    // Still another earlier time: run out now (early is safe: the callback
    // looks again and sets the clock for the earliest deadline).
    start(timer, 0) == 0
}

/// How long past its time a clock that has not run out is run out at once.
const LATE_NS: u64 = 1_000_000_000;

/// Starts `timer` to run out at `at` (monotonic ns; at once if past).
#[inline(always)]
fn start(timer: *mut bpf_timer, at: u64) -> i64 {
    let now = unsafe { bpf_ktime_get_ns() };
    unsafe { bpf_timer_start(timer, at.saturating_sub(now), 0) }
}

/// `-EBUSY`: `bpf_timer_init` on a timer already set up.
const EBUSY: i64 = 16;

/// The set-up program's body: sets the clock up (allocation and callback;
/// a clock already set up keeps its allocation). Returns 0, or the errno
/// that failed.
#[inline(always)]
pub fn set_up() -> u32 {
    let Some(c) = XVRRP_DOWN_CLOCK.get_ptr_mut(0) else {
        return 2; // ENOENT: a map without its one entry.
    };
    let timer = unsafe { &raw mut (*c).timer };
    let map = core::ptr::from_ref(&XVRRP_DOWN_CLOCK).cast_mut().cast();
    let init = unsafe { bpf_timer_init(timer, map, CLOCK_MONOTONIC) };
    let ret = if init != 0 && init != -EBUSY {
        init
    } else {
        unsafe { bpf_timer_set_callback(timer, ran_out as *mut c_void) }
    };
    ret.unsigned_abs() as u32
}

/// A full ring is tried again this much later: the daemon, asleep only
/// because of this timer, must hear of it (a lost advert event is made up
/// for by reading the map; nothing makes up for this one).
const RETRY_NS: u64 = 1_000_000;

/// What the clock's look at the entries carries along.
#[repr(C)]
struct Look {
    now: u64,
    /// The earliest deadline still ahead (`u64::MAX`: none).
    next: u64,
}

/// The clock ran out: push the events of the entries whose master has been
/// quiet for Master_Down_Interval, and set the clock for the next deadline.
/// Not `#[no_mangle]`: the kernel calls it through the timer (the loader
/// links it as a static function); it must return 0.
extern "C" fn ran_out(_map: *mut c_void, _key: *mut u32, clock: *mut DownClock) -> i32 {
    let lock_ptr = unsafe { &raw mut (*clock).lock };
    unsafe { lock(lock_ptr) };
    let slots = unsafe { (*clock).slots };
    unsafe { (*clock).armed_ns = 0 };
    unsafe { unlock(lock_ptr) };
    let mut look = Look {
        now: unsafe { bpf_ktime_get_ns() },
        next: u64::MAX,
    };
    unsafe {
        bpf_loop(
            slots,
            look_at as *mut c_void,
            core::ptr::from_mut(&mut look).cast(),
            0,
        )
    };
    if look.next != u64::MAX && !clock_at(look.next, 0) {
        count(stats::DOWN_TIMER_FAILED);
    }
    0
}

/// One entry of the clock's look (`bpf_loop` callback): 0 goes on.
extern "C" fn look_at(index: u64, ctx: *mut c_void) -> i64 {
    let look = unsafe { &mut *ctx.cast::<Look>() };
    let Some(w) = XVRRP_DOWN_WATCH.get_ptr_mut(index as u32) else {
        return 1;
    };
    let w = unsafe { &mut *w };
    let last = w.restarted_ns;
    if w.down_ns == 0 || w.token == 0 || w.counted != w.token || w.fired == last {
        return 0;
    }
    let due = last + w.down_ns;
    if due > look.now {
        look.next = look.next.min(due);
        return 0;
    }
    let event = AdvertEvent {
        key: w.key,
        ts_ns: look.now,
        master: [0; 16],
        changes: EV_DOWN_TIMER,
        priority: 0,
        version: 0,
        interval: 0,
    };
    // A full ring holds events the daemon has been woken for: it drains
    // them, and the retry finds room.
    if XVRRP_EVENTS.output::<AdvertEvent>(&event, 0).is_ok() {
        w.fired = last;
        // An advert that came meanwhile restarted it without setting the
        // clock (it found it counted): count its deadline.
        let again = w.restarted_ns;
        if again != last {
            look.next = look.next.min(again + w.down_ns);
        }
    } else {
        count(stats::EVENTS_LOST);
        look.next = look.next.min(look.now + RETRY_NS);
    }
    0
}
