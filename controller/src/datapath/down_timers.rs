//! Kernel Master_Down timers (`maps::DOWN_WATCH`): handing a backup's
//! timer to the kernel program and reading whether it took it.

use anyhow::{Context as _, Result, bail};
use aya::{
    maps::Array,
    programs::{TestRun as _, TestRunOptions},
};
use xvrrp_common::maps::{self, DownWatch, InstanceKey};

use super::Datapath;

/// How long after a failed set-up of the kernel's clock it is tried again.
const CLOCK_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

impl Datapath {
    /// Hands `key`'s Master_Down_Timer to the kernel: from the next advert
    /// of at least `min_priority` on, each such advert restarts a timer of
    /// `down_ns`, and the kernel's clock pushes an `EV_DOWN_TIMER` event when
    /// it runs out. `token` names this hand-over (`down_watch` reads it
    /// back); the write stops whatever the entry ran before. The first
    /// hand-over sets the clock up (`set_up_clock`). False when the
    /// instance is unknown here, or the clock could not be set up (tried
    /// again a second later: each backup keeps its own timer meanwhile).
    pub fn watch_down(
        &mut self,
        key: InstanceKey,
        down_ns: u64,
        min_priority: u8,
        token: u64,
    ) -> Result<bool> {
        let Some(&(slot, generation)) = self.slots.by_key.get(&key) else {
            return Ok(false);
        };
        if !self.clock_set_up {
            let now = std::time::Instant::now();
            if self.clock_tried.is_some_and(|t| now < t + CLOCK_RETRY) {
                return Ok(false);
            }
            let first = self.clock_tried.replace(now).is_none();
            if let Err(e) = self.set_up_clock() {
                if first {
                    tracing::warn!(
                        "{e:#}: backups keep their own Master_Down timers; trying again each second"
                    );
                } else {
                    tracing::debug!("{e:#}");
                }
                return Ok(false);
            }
            self.clock_set_up = true;
        }
        let watch = DownWatch {
            down_ns,
            token,
            key,
            generation,
            min_priority,
            ..DownWatch::default()
        };
        self.write_down_watch(slot, watch)?;
        Ok(true)
    }

    /// Runs the set-up program: the clock's timer is allocated (once, the
    /// map keeps it) before any advert needs it. Run again, it keeps it.
    /// (`watch_down` runs it; public for its tests.)
    pub fn set_up_clock(&mut self) -> Result<()> {
        // A test run wants at least an Ethernet header's worth of frame.
        let frame = [0u8; 14];
        let opts = TestRunOptions {
            data_in: Some(&frame),
            ..TestRunOptions::default()
        };
        let errno = self
            .kernel
            .timer_setup()?
            .test_run(opts)
            .with_context(|| format!("running the set-up program for {}", maps::DOWN_CLOCK))?
            .return_value;
        if errno != 0 {
            bail!(
                "setting up the kernel's timer in {}: {}",
                maps::DOWN_CLOCK,
                std::io::Error::from_raw_os_error(errno.cast_signed())
            );
        }
        Ok(())
    }

    /// `key`'s entry as the kernel left it (`None`: the instance is unknown).
    pub fn down_watch(&self, key: InstanceKey) -> Result<Option<DownWatch>> {
        let Some(&(slot, _)) = self.slots.by_key.get(&key) else {
            return Ok(None);
        };
        if let Some(view) = &self.down_view {
            return view
                .get(slot)
                .context("down-watch slot past the mapping")
                .map(Some);
        }
        let array = Array::<_, DownWatch>::try_from(self.kernel.map(maps::DOWN_WATCH)?)?;
        let entry = array
            .get(&slot, 0)
            .with_context(|| format!("reading {} entry {slot}", maps::DOWN_WATCH))?;
        Ok(Some(entry))
    }

    /// Stops `key`'s kernel timer (a timer that ran out pushed an event for
    /// an instance that had taken its timer back).
    pub fn unwatch_down(&mut self, key: InstanceKey) -> Result<()> {
        if let Some(&(slot, _)) = self.slots.by_key.get(&key) {
            self.write_down_watch(slot, DownWatch::default())?;
        }
        Ok(())
    }

    pub(super) fn write_down_watch(&mut self, slot: u32, watch: DownWatch) -> Result<()> {
        let mut array = Array::<_, DownWatch>::try_from(self.kernel.map_mut(maps::DOWN_WATCH)?)?;
        array
            .set(slot, watch, 0)
            .with_context(|| format!("writing {} entry {slot}", maps::DOWN_WATCH))
    }
}
