// SPDX-License-Identifier: GPL-2.0

//! The page-table walk and the coalescing of its leaves.
//!
//! Every table page is copied whole into per-walker scratch before its
//! entries are read: a table changed or freed under the walk is never
//! dereferenced in place, and a copy that fails is reported, not followed.
//! The sink is generic, so the per-entry path has no out-of-line call.

use super::pte::{canonical, phys_of, Effective, Flags, Level, Table};

/// Where page-table pages are read from.
pub trait TableSource {
    /// Copy the table page at physical address `phys` into `out`; `false`
    /// if it cannot be read (freed, unmapped).
    fn copy_table(&mut self, phys: u64, out: &mut Table) -> bool;
}

/// What the walk reports.
pub trait WalkSink {
    /// A present leaf mapping `level.entry_size()` bytes at `va`.
    fn leaf(&mut self, va: u64, level: Level, entry: u64, effective: Effective);
    /// A table page at `level` was copied and scanned.
    fn table(&mut self, level: Level);
    /// The table an entry at `level` points to could not be read.
    fn unreadable(&mut self, va: u64, level: Level, entry: u64);
}

/// Scratch for one walker: one table page per level below the top.
pub type Scratch = [Table; 4];

/// A walk configuration.
#[derive(Clone, Copy, Debug)]
pub struct Walk {
    /// The top level: `P4d` for 4-level paging, `Pgd` for 5-level.
    pub top: Level,
    /// Physical-address bits of an entry (memory-encryption bits removed).
    pub phys_mask: u64,
}

impl Walk {
    /// Virtual address of entry `index` of the top table.
    pub const fn top_va(&self, index: usize) -> u64 {
        canonical((index as u64) << self.top.shift(), self.top)
    }

    /// Walk entries `first..end` of the already copied top table `root`.
    pub fn walk_top(
        &self,
        root: &Table,
        first: usize,
        end: usize,
        src: &mut impl TableSource,
        scratch: &mut Scratch,
        sink: &mut impl WalkSink,
    ) {
        for (index, &entry) in root.iter().enumerate().take(end).skip(first) {
            if entry != 0 {
                let va = self.top_va(index);
                self.entry(self.top, va, entry, Effective::ALL, src, scratch, sink);
            }
        }
    }

    /// Walk one entry at `level` mapping `va`, with the permissions the
    /// levels above it grant: the unit of parallel work.
    #[allow(clippy::too_many_arguments)]
    pub fn walk_entry(
        &self,
        level: Level,
        va: u64,
        entry: u64,
        effective: Effective,
        src: &mut impl TableSource,
        scratch: &mut Scratch,
        sink: &mut impl WalkSink,
    ) {
        self.entry(level, va, entry, effective, src, scratch, sink);
    }

    /// Handle one non-zero entry at `level` mapping `va`.
    #[allow(clippy::too_many_arguments)]
    fn entry(
        &self,
        level: Level,
        va: u64,
        entry: u64,
        effective: Effective,
        src: &mut impl TableSource,
        scratch: &mut [Table],
        sink: &mut impl WalkSink,
    ) {
        if !Flags::of(entry).has(Flags::P) {
            return;
        }
        let effective = effective.through(entry);
        let Some(below) = level.below() else {
            sink.leaf(va, level, entry, effective);
            return;
        };
        if level.can_be_huge() && Flags::of(entry).has(Flags::PS) {
            sink.leaf(va, level, entry, effective);
            return;
        }
        let (deeper, rest) = scratch.split_at_mut(below as usize - 1);
        let Some(table) = rest.first_mut() else {
            return;
        };
        if !src.copy_table(phys_of(entry, level, self.phys_mask, false), table) {
            sink.unreadable(va, level, entry);
            return;
        }
        sink.table(below);
        let step = below.entry_size();
        if below == Level::Pte {
            // The hot loop: 4 KiB leaves, no call but the inlined sink.
            for (i, &pte) in table.iter().enumerate() {
                if Flags::of(pte).has(Flags::P) {
                    sink.leaf(
                        va + i as u64 * step,
                        Level::Pte,
                        pte,
                        effective.through(pte),
                    );
                }
            }
            return;
        }
        for (i, &child) in table.iter().enumerate() {
            if child != 0 {
                self.entry(
                    below,
                    va + i as u64 * step,
                    child,
                    effective,
                    src,
                    deeper,
                    sink,
                );
            }
        }
    }
}

/// A run of contiguous leaves with the same shown attributes, level and
/// effective permissions: one line of `map`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// First virtual address.
    pub start: u64,
    /// Last virtual address (inclusive, so the top of memory fits).
    pub last: u64,
    /// Physical address mapped at `start`.
    pub phys: u64,
    /// Leaf attribute bits as ptdump shows them.
    pub flags: Flags,
    /// Permissions through all levels.
    pub effective: Effective,
    /// Leaf level.
    pub level: Level,
}

impl Range {
    /// A range of one leaf.
    #[inline(always)]
    pub fn leaf(va: u64, level: Level, entry: u64, effective: Effective, phys_mask: u64) -> Range {
        Range {
            start: va,
            last: va + (level.entry_size() - 1),
            phys: phys_of(entry, level, phys_mask, true),
            flags: Flags::of(entry).shown(level),
            effective,
            level,
        }
    }

    /// Bytes covered.
    pub const fn size(&self) -> u64 {
        self.last - self.start + 1
    }

    /// Whether `next` continues this range with equal attributes.
    #[inline(always)]
    pub fn extends_to(&self, next: &Range) -> bool {
        self.last.wrapping_add(1) == next.start
            && self.last != u64::MAX
            && self.flags == next.flags
            && self.level == next.level
            && self.effective == next.effective
    }
}

/// Coalesces leaves (or ranges) in address order, as ptdump does.
#[derive(Debug, Default)]
pub struct Coalescer {
    current: Option<Range>,
}

impl Coalescer {
    /// Add the next range; returns the previous run if `next` ends it.
    #[inline(always)]
    pub fn push(&mut self, next: Range) -> Option<Range> {
        match &mut self.current {
            Some(cur) if cur.extends_to(&next) => {
                cur.last = next.last;
                None
            }
            _ => self.current.replace(next),
        }
    }

    /// The last run, at the end.
    pub fn finish(&mut self) -> Option<Range> {
        self.current.take()
    }
}
