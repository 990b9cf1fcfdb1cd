// SPDX-License-Identifier: GPL-2.0

//! Watch mode's pacing: when the re-check after a change may run.
//!
//! A hook that sees a mapping change queues a re-check [`GAP_NS`] later, so
//! that changes made together (a module's sections, a vmalloc area and its
//! mapping) are checked once, after all of them. And a re-check starts no
//! sooner than [`PACE`] times the last one's length after that one ended:
//! however fast the changes come, re-checks take at most `1 / (PACE + 1)`
//! of the time (5%). The backstop, the periodic re-check for what no hook
//! sees, is paced the same way: its interval grows where a re-check takes
//! longer than a twentieth of it (a big machine, or an emulated one).
//!
//! The kernel side (`rust/vmlayout_watch.c`) keeps the times and asks
//! these functions; host property tests hold them to both promises: the
//! share of time, and how late a change is checked ([`Pacing::bound_ns`]).

/// The wait after a hook fires before its re-check.
pub const GAP_NS: u64 = 10_000_000;

/// A re-check's length, times this, must pass after it before the next.
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

    /// A re-check ran from `start` to `end`.
    pub fn ran(&mut self, start: u64, end: u64) {
        let length = end.saturating_sub(start);
        self.next_ns = end.saturating_add(length.saturating_mul(PACE));
        self.longest_ns = self.longest_ns.max(length);
    }

    /// The latest a change is checked after it is made, with re-checks no
    /// longer than the longest so far: a re-check may just have started
    /// (its length), its pause follows (`PACE` lengths), then the gap and
    /// the re-check that sees the change (one more length). A change that
    /// lasts this long is seen by some re-check.
    pub const fn bound_ns(&self) -> u64 {
        GAP_NS + (PACE + 2) * self.longest_ns
    }
}
