// SPDX-License-Identifier: GPL-2.0

//! The capture format (`vmlayout_core::capture`): the runs a capture cuts
//! memory into, and its headers past `PN_XNUM`.

use proptest::prelude::*;
use vmlayout_core::capture::{for_each_run, Layout, PN_XNUM};

const PAGE: u64 = 4096;

/// Page-aligned, sorted, disjoint ranges from (gap, length) pairs in pages.
fn ranges(spec: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut at = 0;
    let mut out = Vec::new();
    for &(gap, len) in spec {
        let start = at + gap * PAGE;
        out.push((start, start + len * PAGE));
        at = start + len * PAGE;
    }
    out
}

proptest! {
    /// Every page is in exactly one run with data, in address order; the
    /// runs without data are the memory the pages leave; runs are in
    /// order, never overlap, and two that touch differ in kind.
    #[test]
    fn runs_hold_every_page_once_and_the_memory_around_them(
        spec in prop::collection::vec((0u64..4, 1u64..12), 0..6),
        picks in prop::collection::btree_set(0u64..80, 0..30),
    ) {
        let memory = ranges(&spec);
        let pages: Vec<u64> = picks.iter().map(|p| p * PAGE).collect();
        let mut runs = Vec::new();
        for_each_run(memory.iter().copied(), pages.iter().copied(), |r| runs.push(r));
        let with_data: Vec<u64> = runs
            .iter()
            .filter(|r| r.2)
            .flat_map(|&(s, l, _)| (s..s + l).step_by(PAGE as usize))
            .collect();
        prop_assert_eq!(&with_data, &pages);
        for w in runs.windows(2) {
            let (a, b) = (w[0], w[1]);
            prop_assert!(a.0 + a.1 <= b.0, "{:?}", runs);
            prop_assert!(a.0 + a.1 < b.0 || a.2 != b.2, "{:?}", runs);
        }
        let in_memory = |p: u64| memory.iter().any(|&(s, e)| s <= p && p < e);
        for page in (0..100 * PAGE).step_by(PAGE as usize) {
            let covered = runs.iter().any(|&(s, l, _)| s <= page && page < s + l);
            let wanted = in_memory(page) || pages.contains(&page);
            prop_assert_eq!(covered, wanted, "page {:#x}: {:?}", page, runs);
        }
    }
}

#[test]
fn past_pn_xnum_the_count_is_in_section_header_0() {
    let small = Layout::new(10, 100);
    assert_eq!(small.shoff, None);
    assert_eq!(small.elf_header()[56..58], [11, 0]);
    assert_eq!(small.data % PAGE, 0);
    assert!(small.data >= small.notes + 100);
    let big = Layout::new(70_000, 100);
    let header = big.elf_header();
    assert_eq!(header[56..58], PN_XNUM.to_le_bytes());
    let shoff = 64 + 56 * 70_001;
    assert_eq!(big.shoff, Some(shoff));
    assert_eq!(header[40..48], shoff.to_le_bytes());
    assert_eq!(big.section_header()[44..48], 70_001u32.to_le_bytes());
    assert_eq!(big.notes, shoff + 64);
}
