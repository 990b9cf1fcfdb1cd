// SPDX-License-Identifier: GPL-2.0

//! What changed since watch mode's last re-check: a few windows of
//! addresses, or everything.
//!
//! Watch mode's hooks (`rust/vmlayout_watch.c`) add the addresses they see
//! change, under a spinlock and possibly in atomic context: adding is a
//! few comparisons on a fixed array, no allocation. The windows are kept
//! in address order and apart (overlapping or touching ones merged), at
//! most [`WINDOWS`] of them: past that the two closest are merged, which
//! re-checks the addresses between them too (slower, never wrong). The
//! re-check (`rust/scan/window.rs`) takes them all at once.

/// Most windows kept apart. A module's load changes its memory in the
/// modules area and each piece's alias in the direct map; a vmalloc storm
/// a handful of areas between two re-checks.
pub const WINDOWS: usize = 8;

/// The changes since the last re-check: `struct vmlayout_changed` of
/// `rust/vmlayout_helpers.h`, field for field.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Changed {
    /// The windows, first and last address each, in address order and
    /// apart; the first `len` hold one.
    pub windows: [[u64; 2]; WINDOWS],
    /// How many windows there are.
    pub len: u32,
    /// A change no window covers: everything is re-checked.
    pub everything: bool,
}

impl Default for Changed {
    fn default() -> Self {
        Self::NONE
    }
}

impl Changed {
    /// Nothing changed.
    pub const NONE: Changed = Changed {
        windows: [[0; 2]; WINDOWS],
        len: 0,
        everything: false,
    };

    /// The windows.
    pub fn windows(&self) -> &[[u64; 2]] {
        self.windows.get(..self.len as usize).unwrap_or_default()
    }

    /// Whether anything changed.
    pub fn any(&self) -> bool {
        self.everything || self.len > 0
    }

    /// `first..=last` changed; `first > last`: something no window covers.
    pub fn add(&mut self, first: u64, last: u64) {
        if first > last {
            *self = Changed {
                everything: true,
                ..Self::NONE
            };
        }
        if self.everything {
            return;
        }
        // One more than fits, in address order; then merged.
        let mut all = [[0u64; 2]; WINDOWS + 1];
        let mut n = 0;
        let mut new = Some([first, last]);
        for &w in self.windows() {
            if let Some(added) = new.filter(|a| a[0] < w[0]) {
                all[n] = added;
                n += 1;
                new = None;
            }
            all[n] = w;
            n += 1;
        }
        if let Some(added) = new {
            all[n] = added;
            n += 1;
        }
        let n = merge_touching(&mut all[..n]);
        let n = merge_closest(&mut all[..n], WINDOWS);
        // Element by element: `copy_from_slice`'s length-mismatch panic is
        // a call objtool does not know never returns.
        for (to, &from) in self.windows.iter_mut().zip(&all[..n]) {
            *to = from;
        }
        self.len = n as u32;
    }
}

/// Merge the overlapping or touching windows of `all` (in order of first
/// address) in place: how many are left.
fn merge_touching(all: &mut [[u64; 2]]) -> usize {
    let mut n: usize = 0;
    for i in 0..all.len() {
        let w = all[i];
        match n.checked_sub(1).map(|last| &mut all[last]) {
            Some(prev) if w[0] <= prev[1].saturating_add(1) => prev[1] = prev[1].max(w[1]),
            _ => {
                all[n] = w;
                n += 1;
            }
        }
    }
    n
}

/// Merge the two windows of `all` (apart, in order) with the smallest gap
/// between them until at most `most` are left: how many.
fn merge_closest(all: &mut [[u64; 2]], most: usize) -> usize {
    let mut n = all.len();
    while n > most.max(1) {
        let gap = |i: usize| all[i + 1][0] - all[i][1];
        let closest = (0..n - 1).min_by_key(|&i| gap(i)).unwrap_or(0);
        all[closest][1] = all[closest + 1][1];
        all.copy_within(closest + 2..n, closest + 1);
        n -= 1;
    }
    n
}

/// Whether every change of System RAM from `old` to `new` (physical,
/// inclusive, each in address order and disjoint) lies in the direct map
/// (at `page_offset`) under `windows` (apart, as [`Changed`] keeps them).
/// Then a re-check of the windows, which walked the direct map there, may
/// check it against `new`, as a full check would. Otherwise memory was
/// added or removed where no window walked (hot-added and not yet online,
/// removed after its offline): the direct map there is as the last check
/// saw it, against the System RAM it saw, until a full check takes both.
pub fn ram_change_covered(
    windows: &[[u64; 2]],
    old: &[(u64, u64)],
    new: &[(u64, u64)],
    page_offset: u64,
) -> bool {
    let covered = |(first, last): (u64, u64)| {
        let va = (
            page_offset.checked_add(first),
            page_offset.checked_add(last),
        );
        let (Some(first), Some(last)) = va else {
            return false;
        };
        windows.iter().any(|w| w[0] <= first && last <= w[1])
    };
    only_in(old, new, covered) && only_in(new, old, covered)
}

/// Whether `ok` holds for each stretch of `a` that `b` does not hold (both
/// in address order, disjoint).
fn only_in(a: &[(u64, u64)], b: &[(u64, u64)], mut ok: impl FnMut((u64, u64)) -> bool) -> bool {
    for &(first, last) in a {
        // The next address of `first..=last` not yet accounted for.
        let mut next = Some(first);
        for &(b_first, b_last) in b.iter().filter(|r| r.1 >= first && r.0 <= last) {
            let Some(at) = next else { break };
            if b_first > at && !ok((at, b_first - 1)) {
                return false;
            }
            next = b_last.checked_add(1).map(|after| after.max(at));
        }
        if next.is_some_and(|at| at <= last && !ok((at, last))) {
            return false;
        }
    }
    true
}
