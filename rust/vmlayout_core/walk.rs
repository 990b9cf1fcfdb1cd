// SPDX-License-Identifier: GPL-2.0

//! The page-table walk and the coalescing of its leaves.
//!
//! A table page is never dereferenced as a Rust reference: the tables
//! above the PTE level are copied whole into per-walker scratch (their
//! entries are iterated while the walk descends), and the PTE tables, 99%
//! of the pages, are read in place with one fault-tolerant load per entry
//! ([`TableReader`]), straight into their runs, and reported only after
//! the read succeeded. A table freed and unmapped under the walk makes a
//! copy or a load fail, which is reported, not followed. The sink is
//! generic, so the per-entry path has no out-of-line call.
//!
//! Consecutive entries that are the same but for the bits the CPU sets
//! (accessed, dirty) point at one shared table. The kernel
//! shares tables only for KASAN's early shadow, which maps terabytes of
//! shadow through one table per level onto one zero page; such a run is
//! walked once, and when the table below it turned out uniform (every leaf
//! with the same attributes), the rest of the run is reported as one leaf
//! run without reading the table again.
//!
//! The walk may run while the kernel changes its tables. Each time it has
//! read a table, it reads the entry that pointed to it again: if that entry
//! changed, what was read may be stale or freed, and the sink is told
//! ([`WalkSink::changed`]) so that the caller can walk the item again.

use core::mem::MaybeUninit;

use super::pte::{canonical, Effective, Flags, Level, PageTableEntry, Table, ENTRIES};
use super::work::Writer;

/// Where page-table pages are read from.
pub trait TableSource {
    /// Reads one table page in place; see [`TableSource::read_table`].
    type Reader: TableReader;
    /// Copy the table page at physical address `phys` into `out`; `false`
    /// if it cannot be read (freed, unmapped).
    fn copy_table(&mut self, phys: u64, out: &mut Table) -> bool;
    /// Read entry `index` of the table page at physical address `table`;
    /// `None` if it cannot be read.
    fn read_entry(&mut self, table: u64, index: usize) -> Option<u64>;
    /// Read the table page at physical address `phys` in place, entry by
    /// entry, without copying it first; `None` if it cannot be read at all
    /// (outside the memory the source reaches).
    fn read_table(&mut self, phys: u64) -> Option<Self::Reader>;
}

/// Reads the entries of one live table page, each with one load. A load
/// that fails (the page was freed and unmapped under the walk) reads as 0
/// and is remembered: the caller asks [`TableReader::failed`] before it
/// trusts anything it read.
pub trait TableReader {
    /// Entry `index` (below [`ENTRIES`]), or 0 if it could not be read.
    fn entry(&mut self, index: usize) -> u64;
    /// Whether any load so far failed.
    fn failed(&self) -> bool;
}

/// What the walk reports.
pub trait WalkSink {
    /// `count` present leaves at `level` from `va` that `map` shows alike
    /// (the same [`Flags::shown`] attributes): the first is `entry`. Above
    /// the PTE level each next one maps the next page, or (a shared table)
    /// the same page again; PTEs may map any pages (a vmalloc area's are
    /// scattered), since `map` coalesces such leaves anyway.
    fn leaf(&mut self, va: u64, level: Level, entry: u64, count: u64, effective: Effective);
    /// A table page at `level` was copied and scanned.
    fn table(&mut self, level: Level);
    /// `count` entries at `level` repeat the entry before them, whose
    /// (uniform) table was read once for all of them.
    fn shared(&mut self, level: Level, count: u64);
    /// The table an entry at `level` points to could not be read.
    fn unreadable(&mut self, va: u64, level: Level, entry: u64);
    /// The entry at `level` mapping `va` changed while the table below it
    /// was being read: what the walk reported below it may be stale.
    fn changed(&mut self, va: u64, level: Level);
    /// `count` entries at `level` from `va` are not present but not empty
    /// either: the kernel cleared their present bit on purpose (see
    /// [`Presence::Cleared`]).
    fn cleared(&mut self, va: u64, level: Level, count: u64);
}

/// Scratch for one walker: one table page per level below the top.
pub type Scratch = [Table; 4];

/// Whether the inclusive ranges `a` and `b` share an address.
pub const fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

/// A unit of parallel work: a run of the same entry (almost always one;
/// see `same_entry`) and everything below them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkItem {
    /// Physical address of the table holding the entries.
    pub table: u64,
    /// First virtual address the first entry maps.
    pub va: u64,
    /// The entries' level.
    pub level: Level,
    /// The entry.
    pub entry: u64,
    /// How many consecutive entries are this entry (but for accessed and
    /// dirty bits).
    pub count: u64,
    /// Permissions the levels above the entries grant.
    pub effective: Effective,
}

/// What a subtree turned out to be when all of it is one leaf run: every
/// leaf at `level`, with the attribute bits of `entry` (the first leaf) but
/// for [`CPU_SET`] ones, and the same `effective` permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Uniform {
    entry: u64,
    level: Level,
    effective: Effective,
}

impl Uniform {
    /// Whether `other`'s leaves would coalesce with these.
    fn same_leaves(&self, other: &Uniform) -> bool {
        self.level == other.level
            && self.effective == other.effective
            && Flags::of(self.entry).shown(self.level) == Flags::of(other.entry).shown(other.level)
    }
}

/// Whether the runs of one table, added in order, make it uniform: every
/// entry present and every run's leaves the same. (The entries of a shared
/// table may still differ, in bits the CPU sets or in which of two equal
/// tables they point at.)
#[derive(Default)]
struct Whole {
    first: Option<Uniform>,
    entries: usize,
    mixed: bool,
}

impl Whole {
    /// Add the next run of `entries` entries, uniform as `part` says.
    #[inline(always)]
    fn add(&mut self, part: Option<Uniform>, entries: usize) {
        match (self.first, part) {
            (None, Some(part)) if self.entries == 0 => self.first = Some(part),
            (Some(first), Some(part)) if first.same_leaves(&part) => {}
            _ => self.mixed = true,
        }
        self.entries += entries;
    }

    /// The whole table, if uniform.
    fn get(&self) -> Option<Uniform> {
        self.first
            .filter(|_| !self.mixed && self.entries == ENTRIES)
    }
}

/// Bits the CPU sets by itself as it uses an entry: they neither change
/// which table or page an entry points at nor show in `map`, so entries
/// that differ only in them are the same entry here.
const CPU_SET: u64 = Flags::A | Flags::D;

/// Whether entries `a` and `b` are the same but for [`CPU_SET`] bits.
#[inline(always)]
const fn same_entry(a: u64, b: u64) -> bool {
    (a ^ b) & !CPU_SET == 0
}

/// Runs of the same non-zero entry (see [`same_entry`]) among `first..end`
/// of `table`, in order, as (index, first entry, count).
fn runs(table: &Table, first: usize, end: usize) -> impl Iterator<Item = (usize, u64, usize)> + '_ {
    let end = end.min(ENTRIES);
    let mut i = first;
    core::iter::from_fn(move || {
        // Four empty entries a step: the upper tables are mostly empty,
        // and the split reads every entry of them.
        while i + 4 <= end && (table[i] | table[i + 1] | table[i + 2] | table[i + 3]) == 0 {
            i += 4;
        }
        while i < end && table[i] == 0 {
            i += 1;
        }
        if i >= end {
            return None;
        }
        let (start, entry) = (i, table[i]);
        while i < end && same_entry(table[i], entry) {
            i += 1;
        }
        Some((start, entry, i - start))
    })
}

impl WorkItem {
    /// The addresses its entries map: `[first, last]`.
    pub const fn span(&self) -> (u64, u64) {
        let bytes = self.count.saturating_mul(self.level.entry_size());
        (self.va, self.va.saturating_add(bytes.saturating_sub(1)))
    }
}

/// The part of a top-level table to walk: entries `first..end` of the
/// table at physical `phys`, already copied into `table`.
#[derive(Clone, Copy)]
pub struct Top<'t> {
    /// Physical address of the top-level table.
    pub phys: u64,
    /// Its copy.
    pub table: &'t Table,
    /// First entry.
    pub first: usize,
    /// One past the last entry.
    pub end: usize,
}

impl<'t> Top<'t> {
    /// The kernel half of the table at `phys`, copied into `table`.
    pub const fn kernel_half(phys: u64, table: &'t Table) -> Self {
        Top {
            phys,
            table,
            first: ENTRIES / 2,
            end: ENTRIES,
        }
    }
}

/// What the kernel's reference table holds for an address: see
/// [`Walk::resolve`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// Level of the entry the walk stopped at.
    pub level: Level,
    /// That entry: a present leaf, or not present (zero or not).
    pub entry: u64,
    /// Permissions the levels above it grant, the entry included.
    pub effective: Effective,
}

impl Resolved {
    /// Whether the address is mapped.
    pub const fn present(&self) -> bool {
        PageTableEntry(self.entry).present()
    }
}

/// How a stretch of addresses is (not) mapped, for [`Walk::presence`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// Mapped.
    Present,
    /// Not mapped, but its entry is not empty: the kernel cleared the
    /// present bit on purpose (debug_pagealloc, KFENCE, secretmem,
    /// `set_direct_map_invalid_noflush()`), keeping the rest of the entry.
    Cleared,
    /// No entry at all.
    Empty,
    /// A table on the way could not be read.
    Unreadable,
}

impl Presence {
    const fn of(entry: u64) -> Presence {
        if PageTableEntry(entry).present() {
            Presence::Present
        } else if entry != 0 {
            Presence::Cleared
        } else {
            Presence::Empty
        }
    }
}

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

    /// The non-zero entries of `top`, as items.
    fn top_items<'r>(&self, top: Top<'r>) -> impl Iterator<Item = WorkItem> + 'r {
        let walk = *self;
        runs(top.table, top.first, top.end).map(move |(index, entry, count)| WorkItem {
            table: top.phys,
            va: walk.top_va(index),
            level: walk.top,
            entry,
            count: count as u64,
            effective: Effective::ALL,
        })
    }

    /// Walk the entries of `top`.
    pub fn walk_top(
        &self,
        top: Top<'_>,
        src: &mut impl TableSource,
        scratch: &mut Scratch,
        sink: &mut impl WalkSink,
    ) {
        for item in self.top_items(top) {
            self.walk_item(&item, src, scratch, sink);
        }
    }

    /// `item` as its table holds it now, for walking it again after the
    /// walk saw it change: `None` if the entry is gone. A run of shared
    /// entries is taken as it was (only its first entry could be re-read).
    pub fn refresh(&self, item: &WorkItem, src: &mut impl TableSource) -> Option<WorkItem> {
        if item.count != 1 {
            return Some(*item);
        }
        let entry = src.read_entry(item.table, item.level.index(item.va))?;
        (entry != 0).then_some(WorkItem { entry, ..*item })
    }

    /// The physical address the tables at `root` map at `va` now (`None`:
    /// unmapped, or a table on the way unreadable).
    pub fn phys_at(&self, root: u64, va: u64, src: &mut impl TableSource) -> Option<u64> {
        let r = self.resolve(root, va, src).filter(|r| r.present())?;
        Some(self.phys_in(&r, va))
    }

    /// The physical address `r`, the present leaf [`resolve`](Walk::resolve)
    /// found for `va`, maps `va` to.
    pub fn phys_in(&self, r: &Resolved, va: u64) -> u64 {
        let frame = PageTableEntry(r.entry).frame(r.level, self.phys_mask);
        frame + (va & (r.level.entry_size() - 1))
    }

    /// What the table at physical `root` maps at `va`: walk down, one
    /// entry read per level, to the first entry that is a leaf or not
    /// present. `None` if a table on the way cannot be read.
    pub fn resolve(&self, root: u64, va: u64, src: &mut impl TableSource) -> Option<Resolved> {
        let (mut table, mut level, mut effective) = (root, self.top, Effective::ALL);
        loop {
            let entry = src.read_entry(table, level.index(va))?;
            let e = PageTableEntry(entry);
            if e.present() {
                effective = effective.through(entry);
            }
            if e.ends_walk(level) {
                return Some(Resolved {
                    level,
                    entry,
                    effective,
                });
            }
            table = e.next_table(self.phys_mask);
            level = level.below()?;
        }
    }

    /// Classify `first..=last` of the table at `root` into runs of one
    /// [`Presence`], in address order: `emit(start, last, presence)`. A walk
    /// restricted to the range: each table below the top is copied once
    /// (into `scratch`, one page per level) and its entries classified in a
    /// tight loop, so a long stretch of 4 KiB pages costs what walking it
    /// costs.
    pub fn presence(
        &self,
        root: u64,
        first: u64,
        last: u64,
        src: &mut impl TableSource,
        scratch: &mut Scratch,
        mut emit: impl FnMut(u64, u64, Presence),
    ) {
        let mut run: Option<(u64, u64, Presence)> = None;
        let mut note = |start: u64, end: u64, kind: Presence| match &mut run {
            Some((_, l, k)) if *k == kind && l.wrapping_add(1) == start => *l = end,
            _ => {
                if let Some((a, b, k)) = run.replace((start, end, kind)) {
                    emit(a, b, k);
                }
            }
        };
        self.presence_in(root, self.top, (first, last), src, scratch, &mut note);
        if let Some((a, b, k)) = run {
            emit(a, b, k);
        }
    }

    /// [`Walk::presence`] for the table at `table` (at `level`), which maps
    /// all of `first..=last`.
    fn presence_in<S: TableSource>(
        &self,
        table: u64,
        level: Level,
        (first, last): (u64, u64),
        src: &mut S,
        scratch: &mut Scratch,
        note: &mut impl FnMut(u64, u64, Presence),
    ) {
        let size = level.entry_size();
        let (i0, i1) = (level.index(first), level.index(last));
        let slot = level as usize - 1;
        // The top table is read entry by entry (the range spans few of its
        // entries); the others are copied whole.
        let copied = level != self.top;
        if copied && !src.copy_table(table, &mut scratch[slot]) {
            note(first, last, Presence::Unreadable);
            return;
        }
        let read = |src: &mut S, scratch: &Scratch, i: usize| {
            if copied {
                Some(scratch[slot][i])
            } else {
                src.read_entry(table, i)
            }
        };
        let mut i = i0;
        while i <= i1 {
            let start = first.max(self.span_start(first, level, i));
            let Some(entry) = read(src, scratch, i) else {
                note(start, last, Presence::Unreadable);
                return;
            };
            if PageTableEntry(entry).ends_walk(level) {
                // A run of entries of one kind: one note for all of them.
                let kind = Presence::of(entry);
                let mut j = i + 1;
                while j <= i1 {
                    match read(src, scratch, j) {
                        Some(next)
                            if PageTableEntry(next).ends_walk(level)
                                && Presence::of(next) == kind =>
                        {
                            j += 1
                        }
                        _ => break,
                    }
                }
                let end = last.min(self.span_start(first, level, j - 1) + (size - 1));
                note(start, end, kind);
                i = j;
                continue;
            }
            let end = last.min(self.span_start(first, level, i) + (size - 1));
            if let Some(below) = level.below() {
                let child = PageTableEntry(entry).next_table(self.phys_mask);
                self.presence_in(child, below, (start, end), src, scratch, note);
            }
            i += 1;
        }
    }

    /// First address entry `index` of the table at `level` that maps `va`
    /// maps.
    fn span_start(&self, va: u64, level: Level, index: usize) -> u64 {
        let span = level.entry_size().wrapping_mul(ENTRIES as u64);
        let base = if level == self.top {
            // The top table spans the whole address space.
            0
        } else {
            va & !(span - 1)
        };
        canonical(base | ((index as u64) << level.shift()), self.top)
    }

    /// Walk one work item.
    pub fn walk_item(
        &self,
        item: &WorkItem,
        src: &mut impl TableSource,
        scratch: &mut Scratch,
        sink: &mut impl WalkSink,
    ) {
        self.run(item, src, scratch, sink);
    }

    /// Split the entries of `top` into work items, in address order: each present entry at the PMD
    /// level (at most one PTE table below it), and each leaf above it. The
    /// tables above the PMD level are copied here; returns how many. Items
    /// are small and many, so walkers claiming them one at a time stay
    /// balanced however the mappings are spread. An entry whose table cannot
    /// be read becomes an item too: its walker reports it. So does a run of
    /// the same entry (a shared table), which one walker takes whole.
    pub fn split(
        &self,
        top: Top<'_>,
        src: &mut impl TableSource,
        scratch: &mut Scratch,
        emit: &mut impl FnMut(WorkItem),
    ) -> u64 {
        self.split_window(top, (0, u64::MAX), src, scratch, emit)
    }

    /// [`split`](Walk::split), but only the items that map any of
    /// `[first, last]` (`window`): the entries above the PMD level that do
    /// not are not descended into. What a re-check of one window walks.
    pub fn split_window(
        &self,
        top: Top<'_>,
        window: (u64, u64),
        src: &mut impl TableSource,
        scratch: &mut Scratch,
        emit: &mut impl FnMut(WorkItem),
    ) -> u64 {
        let mut tables = 0;
        for item in self.top_items(top).filter(|i| overlaps(i.span(), window)) {
            self.split_entry(item, window, src, scratch, (emit, &mut tables));
        }
        tables
    }

    fn split_entry(
        &self,
        item: WorkItem,
        window: (u64, u64),
        src: &mut impl TableSource,
        scratch: &mut [Table],
        (emit, tables): (&mut impl FnMut(WorkItem), &mut u64),
    ) {
        let e = PageTableEntry(item.entry);
        if !e.present() {
            // Cleared on purpose (not empty: `runs` skips those): its walker
            // reports it.
            emit(item);
            return;
        }
        let Some(below) = item
            .level
            .below()
            .filter(|_| item.level > Level::Pmd && !e.is_leaf(item.level) && item.count == 1)
        else {
            emit(item);
            return;
        };
        let (deeper, rest) = scratch.split_at_mut(below as usize - 1);
        let Some(table) = rest.first_mut() else {
            return;
        };
        let child_phys = e.next_table(self.phys_mask);
        if !src.copy_table(child_phys, table) {
            emit(item);
            return;
        }
        *tables += 1;
        let effective = item.effective.through(item.entry);
        for (i, entry, count) in runs(table, 0, ENTRIES) {
            let child = WorkItem {
                table: child_phys,
                va: item.va + i as u64 * below.entry_size(),
                level: below,
                entry,
                count: count as u64,
                effective,
            };
            if overlaps(child.span(), window) {
                self.split_entry(child, window, src, deeper, (emit, tables));
            }
        }
    }

    /// Walk a run of the same entry: the first one in full; the others
    /// as one leaf run if the first's subtree was uniform, else each in full
    /// (correct for any table, fast for KASAN's shared ones). Returns what
    /// the whole run is, if uniform.
    fn run(
        &self,
        item: &WorkItem,
        src: &mut impl TableSource,
        scratch: &mut [Table],
        sink: &mut impl WalkSink,
    ) -> Option<Uniform> {
        let step = item.level.entry_size();
        let first = self.entry(item, item.va, src, scratch, sink);
        if item.count <= 1 {
            return first;
        }
        let rest = item.count - 1;
        let next = item.va + step;
        if let Some(u) = first {
            sink.shared(item.level, rest);
            let leaves = rest * (step / u.level.entry_size());
            sink.leaf(next, u.level, u.entry, leaves, u.effective);
            return first;
        }
        for k in 0..rest {
            self.entry(item, next + k * step, src, scratch, sink);
        }
        None
    }

    /// Handle one non-zero entry of the run `item` (its entry, level,
    /// table and effective attributes), the one that maps `va`; returns
    /// what its subtree is, if uniform.
    fn entry(
        &self,
        item: &WorkItem,
        va: u64,
        src: &mut impl TableSource,
        scratch: &mut [Table],
        sink: &mut impl WalkSink,
    ) -> Option<Uniform> {
        let (parent, level, entry) = (item.table, item.level, item.entry);
        let e = PageTableEntry(entry);
        if !e.present() {
            sink.cleared(va, level, 1);
            return None;
        }
        let effective = item.effective.through(entry);
        let leaf = Uniform {
            entry,
            level,
            effective,
        };
        let below = match level.below() {
            Some(below) if !e.is_leaf(level) => below,
            _ => {
                sink.leaf(va, level, entry, 1, effective);
                return Some(leaf);
            }
        };
        let (deeper, rest) = scratch.split_at_mut(below as usize - 1);
        let table = rest.first_mut()?;
        if below == Level::Pte {
            return self.pte_table(item, va, effective, src, table, sink);
        }
        let phys = e.next_table(self.phys_mask);
        let copied = src.copy_table(phys, table);
        // The copy is only good if the entry still points at that table.
        let now = src.read_entry(parent, level.index(va));
        if !now.is_some_and(|now| same_entry(now, entry)) {
            sink.changed(va, level);
            return None;
        }
        if !copied {
            sink.unreadable(va, level, entry);
            return None;
        }
        sink.table(below);
        let step = below.entry_size();
        let mut whole = Whole::default();
        for (i, child, count) in runs(table, 0, ENTRIES) {
            let item = WorkItem {
                table: phys,
                va: va + i as u64 * step,
                level: below,
                entry: child,
                count: count as u64,
                effective,
            };
            whole.add(self.run(&item, src, deeper, sink), count);
        }
        whole.get()
    }

    /// The PTE table that the PMD entry of the run `item` points to, for
    /// the one of the run that maps `va` (`effective` is already through
    /// the PMD entry): read in place, one load per entry, into its runs,
    /// which are reported only if the PMD entry still points at the table
    /// afterwards and no load failed. `firsts` is scratch.
    fn pte_table(
        &self,
        item: &WorkItem,
        va: u64,
        effective: Effective,
        src: &mut impl TableSource,
        firsts: &mut Table,
        sink: &mut impl WalkSink,
    ) -> Option<Uniform> {
        let (parent, level, entry) = (item.table, Level::Pmd, item.entry);
        let phys = PageTableEntry(entry).next_table(self.phys_mask);
        let mut starts = RunStarts::default();
        let failed = match src.read_table(phys) {
            Some(reader) => pte_runs(reader, &mut starts, firsts),
            None => true,
        };
        // What was read is only good if the entry still points at that
        // table: a table is unlinked before it is freed or reused.
        let now = src.read_entry(parent, level.index(va));
        if !now.is_some_and(|now| same_entry(now, entry)) {
            sink.changed(va, level);
            return None;
        }
        if failed {
            sink.unreadable(va, level, entry);
            return None;
        }
        sink.table(Level::Pte);
        let mut whole = Whole::default();
        for (i, n) in starts.runs() {
            let pte = firsts[i];
            let first = va + i as u64 * PAGE;
            if PageTableEntry(pte).present() {
                let leaves = effective.through(pte);
                sink.leaf(first, Level::Pte, pte, n as u64, leaves);
                let part = Uniform {
                    entry: pte,
                    level: Level::Pte,
                    effective: leaves,
                };
                whole.add(Some(part), n);
            } else if pte != 0 {
                sink.cleared(first, Level::Pte, n as u64);
                whole.add(None, n);
            }
        }
        whole.get()
    }
}

/// A 4 KiB page: what a PTE maps.
const PAGE: u64 = 1 << 12;

/// Where the runs of a PTE table start: bit `i` is set if a run starts at
/// entry `i` (entry 0 always does).
#[derive(Default)]
struct RunStarts([u64; ENTRIES / 64]);

impl RunStarts {
    #[inline(always)]
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    /// The runs, in order, as (first entry, entries).
    fn runs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let mut word = 0;
        let mut bits = self.0[0];
        let mut start: Option<usize> = None;
        core::iter::from_fn(move || loop {
            while bits == 0 {
                word += 1;
                if word >= self.0.len() {
                    return start.take().map(|s| (s, ENTRIES - s));
                }
                bits = self.0[word];
            }
            let at = word * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if let Some(s) = start.replace(at) {
                return Some((s, at - s));
            }
        })
    }
}

/// The bits of a PTE that decide how `map` shows it: present, and the
/// attributes shown at the PTE level. Leaves that agree in them coalesce
/// into one range whatever pages they map.
const PTE_SHOWN: u64 = Flags(u64::MAX).shown(Level::Pte).0 | Flags::P;

/// Read a PTE table once, entry by entry, into its runs: `starts` marks
/// where each run begins and `firsts[i]` holds the first entry of the run
/// at `i`. A run is a stretch of present entries that `map` shows alike
/// ([`PTE_SHOWN`]; accessed and dirty bits and the pages mapped do not
/// matter), of cleared entries (not present, not zero: DEBUG_PAGEALLOC's
/// free pages), or of empty ones. The hot loop of the walk: one load per
/// entry, no call. Returns whether any load failed.
///
/// Takes the reader by value so that it lives in registers: its fault flag
/// is then not stored after every load.
fn pte_runs(mut reader: impl TableReader, starts: &mut RunStarts, firsts: &mut Table) -> bool {
    let mut i = 0;
    while i < ENTRIES {
        let pte = reader.entry(i);
        starts.set(i);
        firsts[i] = pte;
        i += if PageTableEntry(pte).present() {
            alike_run(&mut reader, i, pte, PTE_SHOWN)
        } else if pte == 0 {
            alike_run(&mut reader, i, 0, u64::MAX)
        } else {
            cleared_run(&mut reader, i)
        };
    }
    reader.failed()
}

/// How many entries from `first` (which holds `pte`) agree with `pte` in
/// the bits of `mask`; at least 1. Four entries a step: fewer branches per
/// entry (under emulation, a quarter of the loop's time).
#[inline(always)]
fn alike_run(reader: &mut impl TableReader, first: usize, pte: u64, mask: u64) -> usize {
    let mut n = 1;
    while first + n + 4 <= ENTRIES
        && ((reader.entry(first + n) ^ pte)
            | (reader.entry(first + n + 1) ^ pte)
            | (reader.entry(first + n + 2) ^ pte)
            | (reader.entry(first + n + 3) ^ pte))
            & mask
            == 0
    {
        n += 4;
    }
    while first + n < ENTRIES && (reader.entry(first + n) ^ pte) & mask == 0 {
        n += 1;
    }
    n
}

/// How many cleared entries (not present, not zero) from `first`, which is
/// one; at least 1.
#[inline(always)]
fn cleared_run(reader: &mut impl TableReader, first: usize) -> usize {
    let mut n = 1;
    while first + n + 4 <= ENTRIES {
        let (a, b, c, d) = (
            reader.entry(first + n),
            reader.entry(first + n + 1),
            reader.entry(first + n + 2),
            reader.entry(first + n + 3),
        );
        if PageTableEntry(a | b | c | d).present() || a == 0 || b == 0 || c == 0 || d == 0 {
            break;
        }
        n += 4;
    }
    while first + n < ENTRIES {
        let e = reader.entry(first + n);
        if e == 0 || PageTableEntry(e).present() {
            break;
        }
        n += 1;
    }
    n
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
    /// A range of `count` leaves at `level` from `va`, the first `entry`.
    #[inline(always)]
    pub fn leaf(
        va: u64,
        level: Level,
        entry: u64,
        count: u64,
        effective: Effective,
        phys_mask: u64,
    ) -> Range {
        Range {
            start: va,
            last: va + (count * level.entry_size() - 1),
            phys: PageTableEntry(entry).frame(level, phys_mask),
            flags: Flags::of(entry).shown(level),
            effective,
            level,
        }
    }

    /// Bytes covered.
    #[inline]
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

/// Merge range lists, each sorted by address, into one, coalescing across
/// their boundaries. `heads` and `heap` (one slot per list each) are the
/// merge's cursors and a binary min-heap of lists by next start, so that
/// merging many workers' lists costs a logarithm per range, not a scan.
pub fn merge(
    lists: &[&[Range]],
    heads: &mut [usize],
    heap: &mut [usize],
    mut emit: impl FnMut(Range),
) {
    let start = |list: usize, heads: &[usize]| lists[list].get(heads[list]).map(|r| r.start);
    // Lists with nothing left sort last (`None` > any start).
    let key = |list: usize, heads: &[usize]| start(list, heads).unwrap_or(u64::MAX);
    let n = lists.len().min(heads.len()).min(heap.len());
    let mut len = 0;
    for list in 0..n {
        heads[list] = 0;
        if !lists[list].is_empty() {
            heap[len] = list;
            len += 1;
        }
    }
    let sift_down = |heap: &mut [usize], heads: &[usize], len: usize, mut i: usize| loop {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        let mut least = i;
        if l < len && key(heap[l], heads) < key(heap[least], heads) {
            least = l;
        }
        if r < len && key(heap[r], heads) < key(heap[least], heads) {
            least = r;
        }
        if least == i {
            break;
        }
        heap.swap(i, least);
        i = least;
    };
    for i in (0..len / 2).rev() {
        sift_down(heap, heads, len, i);
    }
    let mut coalescer = Coalescer::default();
    while len > 0 {
        let list = heap[0];
        let range = lists[list][heads[list]];
        heads[list] += 1;
        if start(list, heads).is_none() {
            len -= 1;
            heap[0] = heap[len];
        }
        sift_down(heap, heads, len, 0);
        if let Some(done) = coalescer.push(range) {
            emit(done);
        }
    }
    if let Some(done) = coalescer.finish() {
        emit(done);
    }
}

/// Where the output of one batch of work items (or of one rules chunk)
/// lies in the list of the worker that took it: `list`, from `first` to
/// `end` (exclusive). A worker closes its coalescing at every batch's end,
/// so a batch's span holds its ranges only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ItemSpan {
    /// The worker's list.
    pub list: u32,
    /// The item's first range in it.
    pub first: u32,
    /// One past its last.
    pub end: u32,
}

impl ItemSpan {
    /// Entries `part` of list `list` (indices past `u32` saturate, and
    /// then lie outside any list: the join refuses them).
    pub fn of(list: u32, part: core::ops::Range<usize>) -> Self {
        let index = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
        ItemSpan {
            list,
            first: index(part.start),
            end: index(part.end),
        }
    }
}

/// The workers' lists joined in item (address) order into `out`, coalescing
/// across items: what [`merge`] gives for lists so made, at the cost of one
/// bulk copy per item (no comparison per range). `out` is uninitialized
/// room (a vector's spare capacity); returns how many ranges were written
/// at its start, or `None` if a span lies outside its list or `out` is too
/// short.
pub fn concat_items<'a>(
    spans: impl Iterator<Item = ItemSpan>,
    lists: impl Fn(usize) -> &'a [Range],
    out: &mut [MaybeUninit<Range>],
) -> Option<usize> {
    let mut joined = Concat::default();
    for span in spans {
        joined.append(span_of(&lists, span)?, out.get_mut(joined.window()..)?)?;
    }
    Some(joined.len())
}

/// The ranges of `span`, if it lies in its list.
fn span_of<'a>(lists: &impl Fn(usize) -> &'a [Range], span: ItemSpan) -> Option<&'a [Range]> {
    lists(span.list as usize).get(span.first as usize..span.end as usize)
}

/// [`concat_items`] an item at a time, so that what is joined can be used
/// while the rest is: how many ranges the first slots of the output hold,
/// and the last of them, which the next item's first may still extend.
/// Every range before the last is final: the next append only writes from
/// the last on (its [`window`](Concat::window)), so the ranges before it can
/// be read meanwhile.
#[derive(Clone, Copy, Debug, Default)]
pub struct Concat {
    len: usize,
    tail: Option<Range>,
}

impl Concat {
    /// Ranges written so far, at the start of the output.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the slots the next append may write start: at the last range
    /// written, which it may extend. The ranges before are final.
    pub fn window(&self) -> usize {
        self.len.saturating_sub(1)
    }

    /// Append the next item's ranges (`chunk`); `out` is the output from
    /// [`window`](Concat::window) on. `None`, with nothing written, if `out`
    /// has no room for all of `chunk`.
    pub fn append(&mut self, chunk: &[Range], out: &mut [MaybeUninit<Range>]) -> Option<()> {
        let Some(&head) = chunk.first() else {
            return Some(());
        };
        let extended = self
            .tail
            .filter(|prev| prev.extends_to(&head))
            .map(|prev| Range {
                last: head.last,
                ..prev
            });
        let rest = if extended.is_some() {
            chunk.get(1..)?
        } else {
            chunk
        };
        // `out` starts at the last range written, if any.
        let next = self.len - self.window();
        let end = next.checked_add(rest.len())?;
        if end > out.len() {
            return None;
        }
        if let Some(prev) = extended {
            out.first_mut()?.write(prev);
            self.tail = Some(prev);
        }
        let room = out.get_mut(next..end)?;
        // SAFETY: `room` and `rest` have the same length (`get_mut` above)
        // and do not overlap (`out` is borrowed mutably); `Range` is `Copy`.
        // One memcpy: under emulation, copying range by range cost 150 ns a
        // range.
        unsafe {
            core::ptr::copy_nonoverlapping(
                rest.as_ptr(),
                room.as_mut_ptr().cast::<Range>(),
                rest.len(),
            )
        };
        self.len += rest.len();
        if let Some(&last) = rest.last() {
            self.tail = Some(last);
        }
        Some(())
    }
}

impl Concat {
    /// [`append`](Concat::append) into a [`Published`](super::work::Published) list through its
    /// `writer`, then settle every range but the last, which the next
    /// append may still extend: readers may use them meanwhile. `None`,
    /// with nothing written, if the list has no room for all of `chunk`.
    pub fn append_published(
        &mut self,
        chunk: &[Range],
        writer: &mut Writer<'_, '_, Range>,
    ) -> Option<()> {
        self.append(chunk, writer.room_from(self.window()))?;
        // SAFETY: `append` has written every range below its window (it
        // writes only from its last range on).
        unsafe { writer.settle(self.window()) };
        Some(())
    }

    /// Settle all the ranges appended through `writer`: the join is over.
    pub fn settle_all(&self, writer: &mut Writer<'_, '_, Range>) {
        // SAFETY: the first `len()` ranges are written.
        unsafe { writer.settle(self.len()) };
    }
}

/// The ranges [`concat_items`] would give that start at `from` or after (a
/// suffix of the join), each passed to `f`, without joining the rest: from
/// the last item whose first range starts below `from` on, coalesced as the
/// join coalesces. `None` if a span lies outside its list.
pub fn joined_from<'a>(
    spans: &[ItemSpan],
    lists: impl Fn(usize) -> &'a [Range],
    from: u64,
    mut f: impl FnMut(&Range),
) -> Option<()> {
    let below = |span: &ItemSpan| {
        span_of(&lists, *span)
            .and_then(|ranges| ranges.first())
            .is_some_and(|first| first.start < from)
    };
    let tail = spans.iter().rposition(below).unwrap_or(0);
    let mut runs = Coalescer::default();
    for span in spans.get(tail..)? {
        for &range in span_of(&lists, *span)? {
            if let Some(run) = runs.push(range).filter(|run| run.start >= from) {
                f(&run);
            }
        }
    }
    if let Some(run) = runs.finish().filter(|run| run.start >= from) {
        f(&run);
    }
    Some(())
}

/// Coalesces leaves (or ranges) in address order, as ptdump does.
#[derive(Clone, Copy, Debug, Default)]
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
