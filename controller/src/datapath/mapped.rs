//! BPF arrays read through a shared mapping (`BPF_F_MMAPABLE`): a backup
//! sweeping its master-down timers, a master checking for a better master at
//! every advert, and the kernel-timer checks read plain memory, not one
//! system call per instance. A read racing the kernel's write is the
//! caller's to detect, as with the system call: `AdvertState::is_whole`; a
//! `DownWatch` copy may mix two moments, which the controller's rules allow
//! for (`started` stays its token until the clock fires, and a firing always
//! pushes the event that takes the timer back; `restarted_ns` only grows).

use std::{
    marker::PhantomData,
    os::fd::{AsFd, AsRawFd as _},
};

use aya::maps::MapData;

pub(super) struct MappedArray<T> {
    base: *const T,
    entries: u32,
    len: usize,
    _entry: PhantomData<T>,
}

// SAFETY: a read-only shared mapping of kernel memory; every read copies an
// entry out with a volatile read, from whichever thread holds the view.
unsafe impl<T: aya::Pod> Send for MappedArray<T> {}

/// Entries are plain old data: any bytes the kernel left are a valid `T`.
impl<T: aya::Pod> MappedArray<T> {
    /// Maps `map` read-only; `None` when it was made without `flags`
    /// (`BPF_F_MMAPABLE`) or the mapping is refused: the caller then reads
    /// with the system call. (A kernel before 5.5 refuses the flag when the
    /// map is made; the ring buffer needs 5.8 anyway.)
    pub(super) fn map(map: &MapData, flags: u32, what: &str) -> Option<Self> {
        let info = map.info().ok()?;
        if info.map_flags() & flags == 0 || info.value_size() as usize != std::mem::size_of::<T>() {
            return None;
        }
        // The kernel lays array elements out at 8-byte rounded strides; an
        // entry that is a multiple of 8 is at index i.
        if !std::mem::size_of::<T>().is_multiple_of(8) {
            return None;
        }
        let len = info.max_entries() as usize * std::mem::size_of::<T>();
        // SAFETY: mapping a BPF array fd read-only and shared, the length of
        // its elements; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                map.fd().as_fd().as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            tracing::debug!(
                "{what} map not mappable ({}): reading it with bpf()",
                std::io::Error::last_os_error()
            );
            return None;
        }
        Some(Self {
            base: ptr.cast(),
            entries: info.max_entries(),
            len,
            _entry: PhantomData,
        })
    }

    /// A copy of entry `slot` (`None` past the end).
    pub(super) fn get(&self, slot: u32) -> Option<T> {
        (slot < self.entries).then(|| {
            // SAFETY: slot is within the mapping, which is aligned (a page)
            // and lives as long as self; the kernel may write concurrently,
            // which the caller detects.
            unsafe { self.base.add(slot as usize).read_volatile() }
        })
    }
}

impl<T> Drop for MappedArray<T> {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in `map`.
        unsafe {
            libc::munmap(self.base.cast_mut().cast(), self.len);
        }
    }
}
