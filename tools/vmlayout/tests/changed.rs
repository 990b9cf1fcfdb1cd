// SPDX-License-Identifier: GPL-2.0

//! What watch mode's hooks saw change (`vmlayout_core::changed`): whatever
//! windows are added, in whatever order, the kept ones cover every address
//! added, in address order and apart, at most `WINDOWS` of them; and a
//! change no window covers stays "everything".

use proptest::prelude::*;
use vmlayout_core::changed::{ram_change_covered, Changed, WINDOWS};

/// Windows of a few sizes anywhere, some near each other (the low bits
/// repeat), some touching the top of the address space.
fn window() -> impl Strategy<Value = (u64, u64)> {
    prop_oneof![
        (0u64..64, 0u64..4).prop_map(|(page, pages)| (page << 12, ((page + pages) << 12) | 0xfff)),
        (any::<u64>(), 0u64..1 << 30).prop_map(|(a, len)| (a, a.saturating_add(len))),
        (0u64..1 << 20).prop_map(|len| (u64::MAX - len, u64::MAX)),
    ]
}

proptest! {
    #[test]
    fn the_windows_cover_all_added_in_order_and_apart(
        added in prop::collection::vec(window(), 0..40),
    ) {
        let mut changed = Changed::NONE;
        for &(first, last) in &added {
            changed.add(first, last);
        }
        let windows = changed.windows();
        prop_assert!(windows.len() <= WINDOWS);
        prop_assert!(!changed.everything);
        prop_assert_eq!(changed.any(), !added.is_empty());
        for w in windows {
            prop_assert!(w[0] <= w[1]);
        }
        for pair in windows.windows(2) {
            // Apart: a gap of at least one address between them.
            prop_assert!(pair[0][1].checked_add(1).is_some_and(|end| end < pair[1][0]));
        }
        for &(first, last) in &added {
            let covers = |a: u64| windows.iter().any(|w| w[0] <= a && a <= w[1]);
            prop_assert!(covers(first) && covers(last) && covers(first / 2 + last / 2));
            // Inside one window: a window is never cut.
            prop_assert!(windows.iter().any(|w| w[0] <= first && last <= w[1]));
        }
    }

    #[test]
    fn a_change_no_window_covers_is_everything_from_then_on(
        before in prop::collection::vec(window(), 0..10),
        after in prop::collection::vec(window(), 0..10),
    ) {
        let mut changed = Changed::NONE;
        for &(first, last) in &before {
            changed.add(first, last);
        }
        changed.add(1, 0);
        for &(first, last) in &after {
            changed.add(first, last);
        }
        prop_assert!(changed.everything && changed.any());
        prop_assert!(changed.windows().is_empty());
    }
}

/// Past `WINDOWS`, the two closest are merged (the addresses between them
/// re-checked too), the far ones kept apart.
#[test]
fn past_the_most_the_closest_two_merge() {
    let mut changed = Changed::NONE;
    for i in 0..WINDOWS as u64 {
        changed.add(i << 32, (i << 32) + 0xfff);
    }
    assert_eq!(changed.windows().len(), WINDOWS);
    changed.add(0x2000, 0x2fff);
    assert_eq!(changed.windows().len(), WINDOWS);
    assert_eq!(changed.windows()[0], [0, 0x2fff]);
    assert_eq!(changed.windows()[1], [1 << 32, (1 << 32) + 0xfff]);
    // Touching windows merge whatever the count.
    changed.add(0x3000, 0x3fff);
    assert_eq!(changed.windows()[0], [0, 0x3fff]);
}

/// Set bits of `units` as inclusive ranges of `unit` bytes from `base`,
/// touching ones merged: System RAM as iomem lists it, or windows as
/// `Changed` keeps them.
fn ranges_of(units: u64, base: u64, unit: u64) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = vec![];
    for u in (0..64).filter(|u| units & (1 << u) != 0) {
        let (first, last) = (base + u * unit, base + (u + 1) * unit - 1);
        match out.last_mut() {
            Some(r) if r.1 + 1 == first => r.1 = last,
            _ => out.push((first, last)),
        }
    }
    out
}

proptest! {
    /// A change of System RAM is covered exactly when every block added or
    /// removed has its direct map under a window: a model of 64 blocks of
    /// 128 MiB, System RAM before and after and the windows each a set of
    /// them (sometimes RAM listed as two touching resources).
    #[test]
    fn a_ram_change_is_covered_when_its_direct_map_is_in_a_window(
        old in any::<u64>(),
        new in any::<u64>(),
        windows in any::<u64>(),
        split in 0u64..64,
    ) {
        const BLOCK: u64 = 128 << 20;
        let page_offset = 0xffff_8880_0000_0000u64;
        let mut old_ram = ranges_of(old, 0, BLOCK);
        // One resource cut in two where they touch, as iomem may list it.
        if let Some(i) = old_ram.iter().position(|r| r.0 < split * BLOCK && split * BLOCK <= r.1) {
            let r = old_ram[i];
            old_ram[i] = (r.0, split * BLOCK - 1);
            old_ram.insert(i + 1, (split * BLOCK, r.1));
        }
        let new_ram = ranges_of(new, 0, BLOCK);
        let w: Vec<[u64; 2]> =
            ranges_of(windows, page_offset, BLOCK).into_iter().map(|(a, b)| [a, b]).collect();
        let expected = (old ^ new) & !windows == 0;
        prop_assert_eq!(ram_change_covered(&w, &old_ram, &new_ram, page_offset), expected);
    }
}

#[test]
fn a_ram_change_at_the_top_of_the_address_space_is_never_covered() {
    let top = [(0, 0xfff), (u64::MAX - 0xfff, u64::MAX)];
    let all = [[0, u64::MAX]];
    assert!(ram_change_covered(&all, &top[..1], &top, 0));
    assert!(!ram_change_covered(&all, &top[..1], &top, 1));
    assert!(ram_change_covered(&[], &top, &top, 1 << 40));
}
