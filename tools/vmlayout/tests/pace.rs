// SPDX-License-Identifier: GPL-2.0

//! Watch mode's pacing (`vmlayout_core::pace`) in a model of the kernel
//! side (`rust/vmlayout_watch.c`): a delayed work that a hook queues (a
//! no-op while it is pending), that runs one re-check at a time and, run
//! before the pacing allows, queues itself again for then. Whatever the
//! changes and the re-checks' lengths, re-checks take at most
//! `1 / (PACE + 1)` of the time, and every change is checked within
//! `Pacing::bound_ns`.

use proptest::prelude::*;
use vmlayout_core::pace::{Pacing, GAP_NS, PACE};

/// The model: one delayed work, the pacing, and what the re-checks did.
#[derive(Default)]
struct Watch {
    pacing: Pacing,
    /// When the queued work runs, if it is queued.
    pending: Option<u64>,
    /// Re-checks made: start and end.
    runs: Vec<(u64, u64)>,
}

impl Watch {
    /// A hook fires at `now` (`vmlayout_watch_kick`).
    fn kick(&mut self, now: u64) {
        if self.pending.is_none() {
            self.pending = Some(now + self.pacing.delay_ns(now));
        }
    }

    /// The work runs at `now` (`vmlayout_watch_recheck`): too early, it
    /// queues itself for when the pacing allows; else a re-check of
    /// `length`. Returns when it is done.
    fn run(&mut self, now: u64, length: u64) -> u64 {
        self.pending = None;
        let wait = self.pacing.wait_ns(now);
        if wait > 0 {
            self.pending = Some(now + wait);
            return now;
        }
        self.runs.push((now, now + length));
        self.pacing.ran(now, now + length);
        now + length
    }
}

proptest! {
    #[test]
    fn rechecks_take_a_twentieth_and_every_change_is_checked_in_time(
        gaps in prop::collection::vec(0u64..40_000_000, 1..60),
        lengths in prop::collection::vec(1u64..30_000_000, 1..60),
    ) {
        let mut w = Watch::default();
        let mut changes = Vec::new();
        let (mut now, mut busy_until, mut n) = (0u64, 0u64, 0usize);
        let longest = *lengths.iter().max().unwrap();
        for &gap in &gaps {
            // Every run due before the next change, in order.
            let change = now + gap;
            while let Some(at) = w.pending.filter(|&at| at <= change) {
                let start = at.max(busy_until);
                busy_until = w.run(start, lengths[n % lengths.len()]);
                n += 1;
            }
            now = change;
            changes.push(now);
            w.kick(now);
        }
        while let Some(at) = w.pending {
            let start = at.max(busy_until);
            busy_until = w.run(start, lengths[n % lengths.len()]);
            n += 1;
        }
        // Each change is seen by a re-check that starts after it, and that
        // one ends within the bound (the longest re-check's).
        let bound = Pacing { longest_ns: longest, next_ns: 0 }.bound_ns();
        for &c in &changes {
            let seen = w.runs.iter().find(|&&(start, _)| start >= c);
            prop_assert!(seen.is_some_and(|&(_, end)| end <= c + bound), "{c}: {:?}", w.runs);
        }
        // Re-checks never overlap, and each is followed by PACE times its
        // length without one: busy at most 1 / (PACE + 1) of the time.
        for pair in w.runs.windows(2) {
            let ((s0, e0), (s1, _)) = (pair[0], pair[1]);
            prop_assert!(s1 >= e0 + PACE * (e0 - s0), "{:?}", w.runs);
        }
        let busy: u64 = w.runs.iter().map(|(s, e)| e - s).sum();
        let (first, (last, end)) = (w.runs[0].0, *w.runs.last().unwrap());
        prop_assert!((busy - (end - last)) * (PACE + 1) <= last - first);
        prop_assert!(w.pacing.longest_ns <= longest);
    }
}

#[test]
fn the_gap_comes_first_and_the_backstop_keeps_its_interval_when_paced_less() {
    let mut p = Pacing::default();
    assert_eq!(p.delay_ns(5), GAP_NS);
    assert_eq!(p.wait_ns(5), 0);
    p.ran(100, 1_000_100);
    assert_eq!(p.next_ns, 1_000_100 + PACE * 1_000_000);
    assert_eq!(p.delay_ns(1_000_100), PACE * 1_000_000);
    assert_eq!(p.wait_ns(1_000_100), PACE * 1_000_000);
    assert_eq!(p.backstop_ns(1_000_100, 1_000_000_000), 1_000_000_000);
    p.ran(0, 100_000_000);
    assert_eq!(
        p.backstop_ns(100_000_000, 1_000_000_000),
        PACE * 100_000_000
    );
    assert_eq!(p.bound_ns(), GAP_NS + (PACE + 2) * 100_000_000);
}
