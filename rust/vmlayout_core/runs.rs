// SPDX-License-Identifier: GPL-2.0

//! Runs: ranges that repeat at a fixed stride, shown as one `map` record.
//!
//! ESPFIX maps the same few pages tens of thousands of times, 4 KiB every
//! 64 KiB (`arch/x86/kernel/espfix_64.c`); ptdump caps that section at 16
//! lines and says how many it skipped. `map` shows such a run as its first
//! range with a count and two strides, which loses nothing: copy `k` (`0 <=
//! k < count`) spans `start + k * stride ..= last + k * stride` and maps
//! `phys + k * phys_stride`, at the same level with the same attributes.

use super::walk::Range;

/// The fewest ranges shown as a run; shorter stretches stay single ranges,
/// so an ordinary map reads as before.
pub const MIN_RUN: u64 = 16;

/// `count` copies of `first`, each `stride` bytes of address and
/// `phys_stride` bytes of physical address after the one before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// The first copy.
    pub first: Range,
    /// Copies, `first` included; 1 for a range on its own.
    pub count: u64,
    /// Address step from one copy to the next (0 when `count` is 1).
    pub stride: u64,
    /// Physical step from one copy to the next, modulo 2^64 (0 when the
    /// copies map the same page, and when `count` is 1).
    pub phys_stride: u64,
}

impl Run {
    /// Copy `k` of the run.
    pub fn nth(&self, k: u64) -> Range {
        Range {
            start: self.first.start + k * self.stride,
            last: self.first.last + k * self.stride,
            phys: self
                .first
                .phys
                .wrapping_add(k.wrapping_mul(self.phys_stride)),
            ..self.first
        }
    }

    /// Bytes mapped by all copies.
    pub fn bytes(&self) -> u64 {
        self.first.size() * self.count
    }
}

/// Same size, level and attributes: copies of one another but for place.
fn same_shape(a: &Range, b: &Range) -> bool {
    a.size() == b.size() && a.level == b.level && a.flags == b.flags && a.effective == b.effective
}

/// The runs of `ranges` (sorted by address, disjoint, as `map` holds them),
/// in order. A stretch of at least [`MIN_RUN`] ranges of one shape, with a
/// gap before each (so never one range that coalescing missed), at one
/// address stride and one physical stride, is one run; every other range is
/// a run of one. Expanding the runs gives `ranges` back exactly.
pub fn runs(ranges: &[Range]) -> Runs<'_> {
    Runs { ranges, next: 0 }
}

/// Iterator of [`runs`].
pub struct Runs<'a> {
    ranges: &'a [Range],
    next: usize,
}

impl Iterator for Runs<'_> {
    type Item = Run;

    fn next(&mut self) -> Option<Run> {
        let rest = self.ranges.get(self.next..)?;
        let (&first, after) = rest.split_first()?;
        if let Some(second) = after.first() {
            if same_shape(&first, second) && second.start > first.last.wrapping_add(1) {
                let stride = second.start - first.start;
                let phys_stride = second.phys.wrapping_sub(first.phys);
                let continues = |pair: &[Range]| {
                    same_shape(&first, &pair[1])
                        && pair[1].start.wrapping_sub(pair[0].start) == stride
                        && pair[1].phys.wrapping_sub(pair[0].phys) == phys_stride
                };
                let count = 1 + rest.windows(2).take_while(|pair| continues(pair)).count();
                if count as u64 >= MIN_RUN {
                    self.next += count;
                    return Some(Run {
                        first,
                        count: count as u64,
                        stride,
                        phys_stride,
                    });
                }
            }
        }
        self.next += 1;
        Some(Run {
            first,
            count: 1,
            stride: 0,
            phys_stride: 0,
        })
    }
}
