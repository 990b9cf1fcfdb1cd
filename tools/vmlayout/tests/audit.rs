// SPDX-License-Identifier: GPL-2.0

//! The audit of a table's kernel half against the reference's: read again
//! while they differ, a bounded number of times, the LDT slot left out.

use proptest::prelude::*;
use vmlayout_core::pte::ENTRIES;
use vmlayout_core::sync::{audit_half, differing_slots, Audit, AUDIT_RETRIES};

type Half = [u64; ENTRIES / 2];

/// A table that differs from the reference in `slots` for its first
/// `differs_for` reads, then agrees; the reference reads fail from read
/// `ours_fails_at` on. Returns the audit, the reads of each and the relaxes.
fn audit(
    slots: &[usize],
    differs_for: u32,
    ours_fails_at: u32,
    ldt_slot: usize,
) -> (Audit, u32, u32, u32) {
    let reference: Half = core::array::from_fn(|i| i as u64 * 0x1000 + 0x63);
    let (mut ours, mut theirs) = (reference, [0; ENTRIES / 2]);
    let (mut ours_reads, mut their_reads, mut relaxed) = (0, 0, 0);
    let audit = audit_half(
        &mut ours,
        &mut theirs,
        ldt_slot,
        |o: &mut Half| {
            ours_reads += 1;
            *o = reference;
            ours_reads < ours_fails_at
        },
        |t: &mut Half| {
            *t = reference;
            if their_reads < differs_for {
                for &s in slots {
                    t[s] ^= 0x1000;
                }
            }
            their_reads += 1;
            true
        },
        || relaxed += 1,
    );
    (audit, ours_reads, their_reads, relaxed)
}

proptest! {
    #[test]
    fn a_difference_is_reported_only_if_it_outlasts_the_retries(
        // Distinct slots: the fake flips each one's entry.
        slots in prop::collection::btree_set(0usize..ENTRIES / 2, 1..4),
        differs_for in 0u32..6,
    ) {
        let slots: Vec<usize> = slots.into_iter().collect();
        let (got, ours_reads, their_reads, relaxed) = audit(&slots, differs_for, u32::MAX, 0);
        if differs_for == 0 {
            prop_assert_eq!(got, Audit::Same { resynced: false });
        } else if differs_for <= AUDIT_RETRIES {
            prop_assert_eq!(got, Audit::Same { resynced: true });
        } else {
            prop_assert_eq!(got, Audit::Differs);
        }
        // Each retry reads both again, after a reschedule point.
        prop_assert_eq!(their_reads, differs_for.min(AUDIT_RETRIES) + 1);
        prop_assert_eq!((ours_reads, relaxed), (their_reads - 1, their_reads - 1));
    }
}

#[test]
fn the_ldt_slot_never_differs() {
    let ldt_slot = ENTRIES / 2 + 5;
    assert_eq!(
        audit(&[5], 9, u32::MAX, ldt_slot).0,
        Audit::Same { resynced: false }
    );
    assert_eq!(audit(&[5, 6], 9, u32::MAX, ldt_slot).0, Audit::Differs);
    let (a, b): (Half, Half) = (
        [1; ENTRIES / 2],
        core::array::from_fn(|i| 1 + u64::from(i % 3 == 0)),
    );
    let want: Vec<usize> = (0..ENTRIES / 2).filter(|i| i % 3 == 0 && *i != 6).collect();
    assert_eq!(
        differing_slots(&a, &b, ENTRIES / 2 + 6).collect::<Vec<_>>(),
        want
    );
}

#[test]
fn an_unreadable_reference_is_not_a_difference() {
    assert_eq!(audit(&[1], 9, 2, 0).0, Audit::Unreadable);
}

#[test]
fn the_reference_itself_is_the_same() {
    let mut reads = 0;
    let got = audit_half(
        &mut [0u64; 4],
        &mut [1u64; 4],
        0,
        |_| true,
        |_| {
            reads += 1;
            false
        },
        || {},
    );
    assert_eq!((got, reads), (Audit::Same { resynced: false }, 1));
}
