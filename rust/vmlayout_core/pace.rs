// SPDX-License-Identifier: GPL-2.0

//! Watch mode's pacing: when the re-check after a change may run.
//!
//! A hook that sees a mapping change queues a re-check [`GAP_NS`] later, so
//! that changes made together (a module's sections, a vmalloc area and its
//! mapping) are checked once, after all of them. And re-checks spend a
//! budget that grows by a twentieth of the time: a re-check starts only
//! when the budget is not in debt, and owes `PACE + 1` times its length,
//! paid first from what the budget earned since it was last empty, the
//! rest paused after it. However fast the changes come, re-checks take at
//! most `1 / (PACE + 1)` of the time (5%), plus one re-check: between the
//! starts of two re-checks, the ones from the first on took at most a
//! twentieth of the time between them plus the first one's length. What
//! this buys: after a quiet spell a re-check costs no pause, so the
//! re-check of a vmalloc area (microseconds) that comes right after the
//! backstop's full scan runs after its gap, instead of 19 times that scan
//! later; on a machine whose full scan is slow, the backstop alone would
//! otherwise hold the hooks off for a good part of each second. The
//! backstop, the periodic re-check for what no hook sees, is paced the
//! same way: its interval grows where a re-check takes longer than a
//! twentieth of it (a big machine, or an emulated one).
//!
//! The kernel side (`rust/vmlayout_watch.c`) keeps the times and asks
//! these functions; host property tests hold them to both promises: the
//! share of time, and how late a change is checked ([`Pacing::bound_ns`]).

/// The wait after a hook fires before its re-check. Long enough for what
/// the hook announces to be made (a vmalloc area's pages are mapped right
/// after its `alloc_vmap_area` event, microseconds on a CPU; a module's
/// sections come in one load), short enough that a change undone a few
/// milliseconds later is still seen: a kernel's transient W+X or writable
/// alias lasts that long, not tens of milliseconds.
pub const GAP_NS: u64 = 2_000_000;

/// The budget grows by one part in `PACE + 1` of the time: a re-check
/// that finds it empty pauses `PACE` times its length after it ends.
pub const PACE: u64 = 19;

/// The times pacing decides by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pacing {
    /// No re-check starts before this.
    pub next_ns: u64,
    /// The longest re-check so far.
    pub longest_ns: u64,
}

impl Pacing {
    /// How long after `now` the re-check of a change seen at `now` runs:
    /// after the gap, and not before [`Pacing::next_ns`].
    pub const fn delay_ns(&self, now: u64) -> u64 {
        let paced = self.next_ns.saturating_sub(now);
        if paced > GAP_NS {
            paced
        } else {
            GAP_NS
        }
    }

    /// How long after `now` a re-check may start: 0 if it may now.
    pub const fn wait_ns(&self, now: u64) -> u64 {
        self.next_ns.saturating_sub(now)
    }

    /// How long after `now` the backstop runs next, every `interval_ns`
    /// or as paced.
    pub const fn backstop_ns(&self, now: u64, interval_ns: u64) -> u64 {
        let paced = self.next_ns.saturating_sub(now);
        if paced > interval_ns {
            paced
        } else {
            interval_ns
        }
    }

    /// A re-check ran from `start` to `end`. The budget is kept as the
    /// time it is empty again (`next_ns`): the time since then (earned at a
    /// twentieth) pays for this re-check first, up to all of it, and the
    /// rest is earned back after it. With nothing earned, that is `PACE`
    /// lengths after `end`.
    pub fn ran(&mut self, start: u64, end: u64) {
        let length = end.saturating_sub(start);
        let earned = start.saturating_sub(self.next_ns);
        let owed = length.saturating_mul(PACE + 1).saturating_sub(earned);
        self.next_ns = start.saturating_add(owed);
        self.longest_ns = self.longest_ns.max(length);
    }

    /// The latest a change is checked after it is made, with re-checks no
    /// longer than the longest so far: a re-check may just have started
    /// (its length), its pause follows (at most `PACE` lengths, less what
    /// the budget had earned), then the gap and the re-check that sees the
    /// change (one more length). A change that lasts this long is seen by some
    /// re-check.
    pub const fn bound_ns(&self) -> u64 {
        GAP_NS + (PACE + 2) * self.longest_ns
    }
}
