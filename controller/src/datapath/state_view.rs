//! The advert-state array read through a shared mapping (`BPF_F_MMAPABLE`):
//! a backup sweeping its master-down timers and a master checking for a
//! better master at every advert read plain memory, not one system call per
//! instance. A read racing the kernel's write is caught by the entry's stamp
//! (`AdvertState::is_whole`), as with the system call.

use std::os::fd::{AsFd, AsRawFd as _};

use aya::maps::MapData;
use xvrrp_common::maps::{ADVERT_STATE_FLAGS, AdvertState};

pub(super) struct StateView {
    base: *const AdvertState,
    entries: u32,
    len: usize,
}

// SAFETY: a read-only shared mapping of kernel memory; every read copies an
// entry out with a volatile read, from whichever thread holds the view.
unsafe impl Send for StateView {}

impl StateView {
    /// Maps `map` read-only; `None` when it was made without
    /// `BPF_F_MMAPABLE` or the mapping is refused: the caller then reads
    /// with the system call. (A kernel before 5.5 refuses the flag when the
    /// map is made; the ring buffer needs 5.8 anyway.)
    pub(super) fn map(map: &MapData) -> Option<Self> {
        let info = map.info().ok()?;
        if info.map_flags() & ADVERT_STATE_FLAGS == 0
            || info.value_size() as usize != std::mem::size_of::<AdvertState>()
        {
            return None;
        }
        // The kernel lays array elements out at 8-byte rounded strides; an
        // AdvertState is a multiple of 8 (checked below), so entry i is at i.
        const { assert!(std::mem::size_of::<AdvertState>().is_multiple_of(8)) };
        let len = info.max_entries() as usize * std::mem::size_of::<AdvertState>();
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
                "advert-state map not mappable ({}): reading it with bpf()",
                std::io::Error::last_os_error()
            );
            return None;
        }
        Some(Self {
            base: ptr.cast(),
            entries: info.max_entries(),
            len,
        })
    }

    /// A copy of entry `slot` (`None` past the end).
    pub(super) fn get(&self, slot: u32) -> Option<AdvertState> {
        (slot < self.entries).then(|| {
            // SAFETY: slot is within the mapping, which is aligned (a page)
            // and lives as long as self; the kernel may write concurrently,
            // which the caller detects with the stamp.
            unsafe { self.base.add(slot as usize).read_volatile() }
        })
    }
}

impl Drop for StateView {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in `map`.
        unsafe {
            libc::munmap(self.base.cast_mut().cast(), self.len);
        }
    }
}
