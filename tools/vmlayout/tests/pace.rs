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
        // Mostly a storm, now and then a quiet spell (which banks).
        gaps in prop::collection::vec(
            prop_oneof![4 => 0u64..40_000_000, 1 => 0u64..4_000_000_000],
            1..60,
        ),
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
        // Between the starts of any two re-checks, the ones in between took
        // at most 1 / (PACE + 1) of the time (the first one may have been
        // paid by the time before it): busy at most a twentieth of any
        // stretch, plus one re-check.
        for (i, &(first, _)) in w.runs.iter().enumerate() {
            let mut between = 0;
            for &(start, end) in &w.runs[i + 1..] {
                prop_assert!((PACE + 1) * between <= start - first, "{:?}", w.runs);
                between += end - start;
            }
        }
        prop_assert!(w.pacing.longest_ns <= longest);
    }
}

#[test]
fn the_gap_comes_first_and_the_backstop_keeps_its_interval_when_paced_less() {
    let mut p = Pacing::default();
    assert_eq!(p.delay_ns(5), GAP_NS);
    assert_eq!(p.wait_ns(5), 0);
    p.ran(0, 1_000_000);
    assert_eq!(p.next_ns, 1_000_000 + PACE * 1_000_000);
    assert_eq!(p.delay_ns(1_000_000), PACE * 1_000_000);
    assert_eq!(p.wait_ns(1_000_000), PACE * 1_000_000);
    assert_eq!(p.backstop_ns(1_000_000, 1_000_000_000), 1_000_000_000);
    p.ran(0, 100_000_000);
    assert_eq!(
        p.backstop_ns(100_000_000, 1_000_000_000),
        PACE * 100_000_000
    );
    assert_eq!(p.bound_ns(), GAP_NS + (PACE + 2) * 100_000_000);
}

#[test]
fn a_recheck_after_a_quiet_spell_is_paid_by_it() {
    const MS: u64 = 1_000_000;
    let mut p = Pacing::default();
    // A full scan of 10 ms, nothing earned before it: PACE lengths of
    // pause.
    p.ran(0, 10 * MS);
    assert_eq!(p.next_ns, 10 * MS + PACE * 10 * MS);
    // A quiet second pays for the next full scan: no pause after it.
    let quiet = p.next_ns + 1000 * MS;
    p.ran(quiet, quiet + 10 * MS);
    assert_eq!(p.wait_ns(quiet + 10 * MS), 0);
    // A window of 100 us right after it runs at once (the budget earned
    // during the scan), and one more right after that pauses about PACE
    // times its own length, not the scan's: less what the budget earned
    // during the first window.
    let window = quiet + 10 * MS;
    p.ran(window, window + MS / 10);
    assert_eq!(p.wait_ns(window + MS / 10), 0);
    let next = window + MS / 10;
    p.ran(next, next + MS / 10);
    assert_eq!(p.wait_ns(next + MS / 10), PACE * MS / 10 - MS / 10);
    // However long the spell, it pays for one re-check, not a storm: the
    // one right after it owes its PACE + 1 lengths from the first's start.
    let later = p.next_ns + 100_000 * MS;
    p.ran(later, later + 30 * MS);
    p.ran(later + 30 * MS, later + 60 * MS);
    assert_eq!(p.next_ns, later + (PACE + 1) * 30 * MS);
}
