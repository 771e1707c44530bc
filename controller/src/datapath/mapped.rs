//! BPF arrays read through a shared mapping (`BPF_F_MMAPABLE`): a backup
//! sweeping its master-down timers, a master checking for a better master at
//! every advert, and the kernel-timer checks read plain memory, not one
//! system call per instance. A read racing the kernel's write is the
//! caller's to detect, as with the system call: `AdvertState::is_whole`; a
//! `DownWatch` copy may mix two moments, which the controller's rules allow
//! for (`started` stays its token until the clock fires, and a firing always
//! pushes the event that takes the timer back; `restarted_ns` only grows).
//!
//! Only the entries in use are mapped. The kernel maps every page of the
//! requested range when `mmap` is called (`remap_vmalloc_range`), not page
//! by page as they are touched, so mapping all `MAX_INSTANCES` entries would
//! make 1.75 MiB of both arrays resident in the daemon whatever it runs
//! (measured: 1024 + 768 KiB of RSS with 4000 instances, or with one). The
//! mapping grows (doubling) as slots are handed out; such a mapping cannot
//! be grown in place (`VM_DONTEXPAND`), so it is made afresh.

use std::{
    marker::PhantomData,
    os::fd::{AsFd, AsRawFd as _, OwnedFd},
};

use aya::maps::MapData;

pub(super) struct MappedArray<T> {
    /// The map (a duplicate of its descriptor), to map a longer range.
    fd: OwnedFd,
    base: *const T,
    /// Entries in the array.
    entries: u32,
    /// Entries mapped (a prefix of the array).
    mapped: u32,
    len: usize,
    _entry: PhantomData<T>,
}

// SAFETY: a read-only shared mapping of kernel memory; every read copies an
// entry out with a volatile read, from whichever thread holds the view.
unsafe impl<T: aya::Pod> Send for MappedArray<T> {}

/// Entries are plain old data: any bytes the kernel left are a valid `T`.
impl<T: aya::Pod> MappedArray<T> {
    /// Maps the first `want` entries of `map` read-only (at least a page);
    /// `None` when it was made without `flags` (`BPF_F_MMAPABLE`) or the
    /// mapping is refused: the caller then reads with the system call. (A
    /// kernel before 5.5 refuses the flag when the map is made; the ring
    /// buffer needs 5.8 anyway.)
    pub(super) fn map(map: &MapData, flags: u32, want: u32, what: &str) -> Option<Self> {
        let info = map.info().ok()?;
        if info.map_flags() & flags == 0 || info.value_size() as usize != std::mem::size_of::<T>() {
            return None;
        }
        // The kernel lays array elements out at 8-byte rounded strides; an
        // entry that is a multiple of 8 is at index i.
        if !std::mem::size_of::<T>().is_multiple_of(8) {
            return None;
        }
        let fd = match map.fd().as_fd().try_clone_to_owned() {
            Ok(fd) => fd,
            Err(e) => {
                tracing::debug!("{what} map: duplicating its descriptor failed ({e}): reading it with bpf()");
                return None;
            }
        };
        let mut view = Self {
            fd,
            base: std::ptr::null(),
            entries: info.max_entries(),
            mapped: 0,
            len: 0,
            _entry: PhantomData,
        };
        match view.cover(want) {
            Ok(()) => Some(view),
            Err(e) => {
                tracing::debug!("{what} map not mappable ({e}): reading it with bpf()");
                None
            }
        }
    }

    /// Makes the mapping reach at least entry `want - 1` (capped at the
    /// array's end). Growing maps the new range before the old one goes: on
    /// failure the old mapping stays as it was.
    pub(super) fn cover(&mut self, want: u32) -> std::io::Result<()> {
        // Never past the array's end (a slot beyond it is no read of ours).
        let want = want.min(self.entries);
        if want <= self.mapped && !self.base.is_null() {
            return Ok(());
        }
        let size = std::mem::size_of::<T>();
        let page = page_size();
        // Doubling: thousands of slots handed out one by one remap a few
        // times, not once per slot.
        let wanted = want.max(self.mapped.saturating_mul(2)) as usize * size;
        let len = wanted.div_ceil(page).max(1) * page;
        let len = len.min((self.entries as usize * size).div_ceil(page) * page);
        // SAFETY: mapping a BPF array fd read-only and shared, from its
        // start, no longer than its elements (rounded to a page, which the
        // kernel allows); the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                self.fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        self.unmap();
        self.base = ptr.cast();
        self.len = len;
        self.mapped = u32::try_from(len / size).unwrap_or(u32::MAX).min(self.entries);
        Ok(())
    }

    /// A copy of entry `slot` (`None` past the mapped entries).
    pub(super) fn get(&self, slot: u32) -> Option<T> {
        (slot < self.mapped).then(|| {
            // SAFETY: slot is within the mapping, which is aligned (a page)
            // and lives as long as self; the kernel may write concurrently,
            // which the caller detects.
            unsafe { self.base.add(slot as usize).read_volatile() }
        })
    }
}

impl<T> MappedArray<T> {
    fn unmap(&mut self) {
        if !self.base.is_null() {
            // SAFETY: unmapping exactly the mapping `cover` made.
            unsafe {
                libc::munmap(self.base.cast_mut().cast(), self.len);
            }
            self.base = std::ptr::null();
        }
    }
}

impl<T> Drop for MappedArray<T> {
    fn drop(&mut self) {
        self.unmap();
    }
}

/// The size of a page (what a mapping's length is rounded to).
fn page_size() -> usize {
    /// The smallest page Linux has, if sysconf cannot say.
    const SMALLEST_PAGE: usize = 4096;
    // SAFETY: sysconf has no preconditions.
    usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(SMALLEST_PAGE)
}
