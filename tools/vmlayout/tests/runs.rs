// SPDX-License-Identifier: GPL-2.0

//! Runs: expanding them gives the ranges back, and only long strided
//! stretches become runs.

use proptest::prelude::*;
use vmlayout_core::pte::{Effective, Flags, Level};
use vmlayout_core::runs::{runs, Run, MIN_RUN};
use vmlayout_core::walk::Range;

fn range(start: u64, size: u64, phys: u64, flags: u64) -> Range {
    Range {
        start,
        last: start + size - 1,
        phys,
        flags: Flags(flags),
        effective: Effective {
            rw: false,
            us: false,
            nx: true,
        },
        level: Level::Pte,
    }
}

fn expand(runs: impl Iterator<Item = Run>) -> Vec<Range> {
    runs.flat_map(|run| (0..run.count).map(move |k| run.nth(k)))
        .collect()
}

/// ESPFIX as a 2-CPU defconfig guest maps it: one page every 64 KiB.
#[test]
fn espfix_is_one_run() {
    let ranges: Vec<Range> = (0..65536u64)
        .map(|k| range(0xffff_ff7d_0000_9000 + k * 0x10000, 4096, 0x185_e000, 0))
        .collect();
    let all: Vec<Run> = runs(&ranges).collect();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].count, 65536);
    assert_eq!(all[0].stride, 0x10000);
    assert_eq!(all[0].phys_stride, 0);
    assert_eq!(all[0].bytes(), 65536 * 4096);
    assert_eq!(expand(all.into_iter()), ranges);
}

/// Short stretches, adjacent ranges and changing attributes stay single.
#[test]
fn short_or_adjacent_stretches_stay_single() {
    let short: Vec<Range> = (0..MIN_RUN - 1)
        .map(|k| range(0x1000_0000 + k * 0x10000, 4096, 0, 0))
        .collect();
    assert!(runs(&short).all(|r| r.count == 1));
    // Adjacent, physically discontiguous: never a run (ptdump shows them).
    let adjacent: Vec<Range> = (0..64)
        .map(|k| range(0x1000_0000 + k * 0x1000, 4096, 0x9000_0000 - k * 0x1000, 0))
        .collect();
    assert!(runs(&adjacent).all(|r| r.count == 1));
    // One range with other attributes splits a stretch in two runs.
    let mut split: Vec<Range> = (0..40)
        .map(|k| range(0x1000_0000 + k * 0x10000, 4096, 0, 0))
        .collect();
    split[20].flags = Flags(Flags::RW);
    let counts: Vec<u64> = runs(&split).map(|r| r.count).collect();
    assert_eq!(counts, vec![20, 1, 19]);
}

proptest! {
    /// Any sorted, disjoint list: the runs expand to exactly the list, and
    /// every run of more than one is long, strided and uniform.
    #[test]
    fn runs_lose_nothing(
        pieces in prop::collection::vec((0u64..3, 1u64..3, 0u64..3, 0u64..2, 1u64..40), 0..30),
    ) {
        // Each piece: a stretch of `n` ranges `size` pages long, `gap`
        // pages apart, phys stepping by `pstep` pages, with flags `f`.
        let mut ranges = Vec::new();
        let mut va = 0xffff_8000_0000_0000u64;
        for (gap, size, pstep, f, n) in pieces {
            for k in 0..n {
                ranges.push(range(va, size * 4096, 0x10_0000 + k * pstep * 4096, f * Flags::RW));
                va += (size + gap) * 4096;
            }
            va += 0x10_0000;
        }
        let all: Vec<Run> = runs(&ranges).collect();
        prop_assert_eq!(expand(all.iter().copied()), ranges);
        for run in all.iter().filter(|r| r.count > 1) {
            prop_assert!(run.count >= MIN_RUN);
            prop_assert!(run.stride > run.first.size());
        }
    }
}
