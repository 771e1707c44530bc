//! Kernel Master_Down timers (`maps::DOWN_TIMERS`): handing a backup's
//! timer to the kernel program and reading whether it took it.

use anyhow::{Context as _, Result};
use aya::maps::Array;
use xvrrp_common::maps::{self, DownTimer, DownWatch, InstanceKey};

use super::Datapath;

impl Datapath {
    /// Hands `key`'s Master_Down_Timer to the kernel: from the next advert
    /// of at least `min_priority` on, each such advert restarts a timer of
    /// `down_ns`, which pushes an `EV_DOWN_TIMER` event when it runs out.
    /// `token` names this hand-over (`down_watch` reads it back). The write cancels a
    /// timer the entry ran before. False when the instance is unknown here.
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
        let watch = DownWatch {
            down_ns,
            token,
            key,
            generation,
            min_priority,
            ..DownWatch::default()
        };
        self.write_down_timer(slot, watch)?;
        Ok(true)
    }

    /// `key`'s entry as the kernel left it (`None`: the instance is unknown).
    pub fn down_watch(&self, key: InstanceKey) -> Result<Option<DownWatch>> {
        let Some(&(slot, _)) = self.slots.by_key.get(&key) else {
            return Ok(None);
        };
        let array = Array::<_, DownTimer>::try_from(self.kernel.map(maps::DOWN_TIMERS)?)?;
        let entry = array
            .get(&slot, 0)
            .with_context(|| format!("reading {} entry {slot}", maps::DOWN_TIMERS))?;
        Ok(Some(entry.watch))
    }

    /// Stops `key`'s kernel timer (a timer that ran out pushed an event for
    /// an instance that had taken its timer back).
    pub fn unwatch_down(&mut self, key: InstanceKey) -> Result<()> {
        if let Some(&(slot, _)) = self.slots.by_key.get(&key) {
            self.write_down_timer(slot, DownWatch::default())?;
        }
        Ok(())
    }

    pub(super) fn write_down_timer(&mut self, slot: u32, watch: DownWatch) -> Result<()> {
        let mut array = Array::<_, DownTimer>::try_from(self.kernel.map_mut(maps::DOWN_TIMERS)?)?;
        array
            .set(slot, DownTimer { timer: [0; 2], watch }, 0)
            .with_context(|| format!("writing {} entry {slot}", maps::DOWN_TIMERS))
    }
}
