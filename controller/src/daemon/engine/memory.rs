//! The room a burst leaves behind. Start-up, a reload or a mass transition
//! fills queues and tables with thousands of entries for a moment (adverts
//! to send, announcements, VIP jobs in flight); emptied, they keep their
//! capacity, and glibc cannot give back a page that holds any of it. Measured
//! at 4000 masters: about 0.4 KiB per instance kept that way. Once the burst
//! is over, the event loop shrinks them and trims the heap, once per burst
//! (an idle daemon does neither).

use super::Engine;

impl Engine {
    /// A number that moves with every burst: state changes and changes of
    /// the installed addresses.
    pub fn churn(&self) -> u64 {
        self.transitions_total.wrapping_add(self.installed_changes)
    }

    /// Nothing waits to be sent or installed: the burst is over.
    pub fn quiet(&self) -> bool {
        self.announcer.is_idle()
            && self.installing.is_empty()
            && self.pending.values().all(Vec::is_empty)
            && self.pending_frames.is_empty()
    }

    /// Shrinks the queues and tables a burst grew to what they hold now.
    pub fn shrink_buffers(&mut self) {
        // Quiet: every batch is empty.
        self.pending.clear();
        self.pending.shrink_to_fit();
        self.pending_frames.shrink_to_fit();
        self.installing.shrink_to_fit();
        self.own_removals.shrink_to_fit();
        self.want_master.shrink_to_fit();
        self.lower_told.shrink_to_fit();
        self.announcer.shrink();
        self.timers.shrink();
    }
}
