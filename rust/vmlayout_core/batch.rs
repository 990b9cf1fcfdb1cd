// SPDX-License-Identifier: GPL-2.0

//! A worker's output in the parallel walk: its ranges and cleared
//! stretches, a batch of work items at a time, with an item's output
//! undone when its tables changed under it and it is walked again.
//!
//! The kernel gives the lists (its `VVec`, through [`RangeList`]); the host
//! tests give `Vec`s and check that a worker's lists, batch by batch,
//! equal a serial walk of the same items.

use super::pte::{Effective, Flags, Level};
use super::walk::{ItemSpan, Range, Scratch, TableSource, Walk, WalkSink, WorkItem};
use super::work::{BatchQueue, PerPart};

/// A list could not grow: out of memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoRoom;

/// A growable list of ranges that the caller owns: what the batch sink
/// needs of it.
pub trait RangeList {
    /// Ranges in the list.
    fn len(&self) -> usize;
    /// Whether the list is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The last range.
    fn last(&self) -> Option<&Range>;
    /// The ranges so far.
    fn as_slice(&self) -> &[Range];
    /// The ranges so far, to change them in place.
    fn as_mut_slice(&mut self) -> &mut [Range];
    /// The last range, to extend it.
    fn last_mut(&mut self) -> Option<&mut Range>;
    /// Keep the first `len` ranges.
    fn truncate(&mut self, len: usize);
    /// Append `range`.
    fn push(&mut self, range: Range) -> Result<(), NoRoom>;
}

/// How many times an item is walked again while its tables change under
/// the walk (a table freed or replaced between reading an entry and
/// reading the table it points to). Then what the last walk saw is kept
/// and counted in [`WalkCounts::changed`].
pub const ITEM_RETRIES: u32 = 3;

/// What a worker counts while it walks; a scan's totals are the sum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalkCounts {
    /// Table pages read, by level.
    pub tables: [u64; 6],
    /// Work items walked.
    pub items: u64,
    /// Entries not descended because they repeat a shared, uniform table.
    pub shared: u64,
    /// Tables that could not be read.
    pub unreadable: u64,
    /// The first of them: where, the level, the entry pointing to it.
    pub first_unreadable: Option<(u64, Level, u64)>,
    /// Items walked again because their tables changed under the walk.
    pub retries: u64,
    /// Items still changing after [`ITEM_RETRIES`].
    pub changed: u64,
    /// The first of them: where, and the level of the entry.
    pub first_changed: Option<(u64, Level)>,
}

impl WalkCounts {
    /// Add `other`'s counts; its first events count where this has none
    /// (the workers are added in CPU order).
    pub fn add(&mut self, other: &WalkCounts) {
        for (mine, theirs) in self.tables.iter_mut().zip(other.tables) {
            *mine += theirs;
        }
        self.items += other.items;
        self.shared += other.shared;
        self.unreadable += other.unreadable;
        self.retries += other.retries;
        self.changed += other.changed;
        self.first_unreadable = self.first_unreadable.or(other.first_unreadable);
        self.first_changed = self.first_changed.or(other.first_changed);
    }

    /// Table pages read at every level.
    pub fn table_pages(&self) -> u64 {
        self.tables.iter().sum()
    }
}

/// Where a worker's output stood before an item: each list's length and
/// where its last range ended then, to undo the item.
#[derive(Clone, Copy, Debug)]
struct Mark {
    ranges: (usize, u64),
    cleared: (usize, u64),
}

/// A worker's output, coalesced in place: a leaf that extends the last
/// range of the current batch extends it where it lies in the list.
/// Nothing of an earlier batch is extended, since another worker's batches
/// may lie between this worker's in address order: so a batch's output is
/// exactly its span of the lists, and the join puts the spans in order.
pub struct BatchSink<'a, L: RangeList> {
    ranges: &'a mut L,
    cleared: &'a mut L,
    /// Where the current batch starts in `ranges` and in `cleared`.
    batch: (usize, usize),
    counts: &'a mut WalkCounts,
    phys_mask: u64,
    /// Set when a list could not grow: the walk's output is incomplete.
    no_room: bool,
    /// Set when the walk saw a table change under it.
    changed: Option<(u64, Level)>,
}

impl<'a, L: RangeList> BatchSink<'a, L> {
    /// A sink appending to `ranges` and `cleared`, counting into `counts`.
    pub fn new(
        ranges: &'a mut L,
        cleared: &'a mut L,
        counts: &'a mut WalkCounts,
        phys_mask: u64,
    ) -> Self {
        let batch = (ranges.len(), cleared.len());
        BatchSink {
            ranges,
            cleared,
            batch,
            counts,
            phys_mask,
            no_room: false,
            changed: None,
        }
    }

    /// Start a batch: what follows is not coalesced with what precedes.
    /// Returns where it starts in the ranges and in the cleared list.
    pub fn start_batch(&mut self) -> (usize, usize) {
        self.batch = (self.ranges.len(), self.cleared.len());
        self.batch
    }

    /// Where the lists end now (a batch's span ends here).
    pub fn ends(&self) -> (usize, usize) {
        (self.ranges.len(), self.cleared.len())
    }

    /// The ranges so far.
    pub fn ranges(&self) -> &L {
        self.ranges
    }

    /// Whether a list could not grow since the sink was made.
    pub fn no_room(&self) -> bool {
        self.no_room
    }

    /// The counts so far.
    pub fn counts(&self) -> &WalkCounts {
        self.counts
    }

    /// Walk `item`; walk it again, as its table holds it now, while its
    /// tables change under the walk, up to [`ITEM_RETRIES`] times, each
    /// time with its earlier output undone.
    pub fn walk_item(
        &mut self,
        walk: &Walk,
        item: &WorkItem,
        src: &mut impl TableSource,
        scratch: &mut Scratch,
    ) {
        let mut item = *item;
        self.counts.items += 1;
        for attempt in 0..=ITEM_RETRIES {
            let mark = self.mark();
            self.changed = None;
            walk.walk_item(&item, src, scratch, self);
            let Some(at) = self.changed else { return };
            if attempt == ITEM_RETRIES {
                // Keep what the last walk saw; the rules' findings on it
                // are checked again before they are reported.
                self.counts.changed += 1;
                self.counts.first_changed.get_or_insert(at);
                return;
            }
            self.rollback(mark);
            self.counts.retries += 1;
            match walk.refresh(&item, src) {
                Some(now) => item = now,
                None => return,
            }
        }
    }

    /// A worker of the parallel walk: claim batches of `queue` until none
    /// is left, walk each batch's items into this sink, and leave where the
    /// batch's ranges and cleared stretches lie in this worker's lists
    /// (`list`) in the batch's slots of `spans` (ranges, cleared). `relax`
    /// runs while the worker waits for items to be made and after each
    /// batch: the kernel's reschedule point. Returns `false` if a batch had
    /// no slot: the join of the spans would then be wrong.
    pub fn walk_batches(
        &mut self,
        walk: &Walk,
        queue: &BatchQueue<'_, WorkItem>,
        spans: [&PerPart<'_, '_, ItemSpan>; 2],
        list: u32,
        (src, scratch): (&mut impl TableSource, &mut Scratch),
        mut relax: impl FnMut(),
    ) -> bool {
        let mut spans_kept = true;
        let waiting = |relax: &mut dyn FnMut()| {
            relax();
            core::hint::spin_loop();
        };
        while let Some((mut batch, items)) = queue.claim(|| waiting(&mut relax)) {
            let (first, cleared_first) = self.start_batch();
            for item in items.filter_map(|i| queue.get(i)) {
                self.walk_item(walk, &item, src, scratch);
            }
            let (end, cleared_end) = self.ends();
            for (slots, part) in spans.iter().zip([first..end, cleared_first..cleared_end]) {
                match slots.slot(&mut batch) {
                    Some(span) => *span = ItemSpan::of(list, part),
                    None => spans_kept = false,
                }
            }
            relax();
        }
        spans_kept
    }

    fn mark(&self) -> Mark {
        let end = |list: &L| (list.len(), list.last().map_or(0, |r| r.last));
        Mark {
            ranges: end(self.ranges),
            cleared: end(self.cleared),
        }
    }

    /// Drop everything the sink was given since `mark`.
    fn rollback(&mut self, mark: Mark) {
        for (list, (len, last)) in [
            (&mut *self.ranges, mark.ranges),
            (&mut *self.cleared, mark.cleared),
        ] {
            list.truncate(len);
            if let Some(range) = list.last_mut() {
                range.last = last;
            }
        }
    }
}

/// Add `next` to `list`: extend the last range if `next` continues it and
/// it lies at `from` or after, else append.
#[inline(always)]
fn coalesce<L: RangeList>(list: &mut L, from: usize, next: Range) -> Result<(), NoRoom> {
    if list.len() > from {
        if let Some(last) = list.last_mut().filter(|last| last.extends_to(&next)) {
            last.last = next.last;
            return Ok(());
        }
    }
    list.push(next)
}

/// A stretch of entries whose present bit is cleared, as a range of 4 KiB
/// pages, so that runs at every level coalesce.
pub fn cleared_run(start: u64, last: u64) -> Range {
    Range {
        start,
        last,
        phys: 0,
        flags: Flags(0),
        effective: Effective::ALL,
        level: Level::Pte,
    }
}

impl<L: RangeList> WalkSink for BatchSink<'_, L> {
    #[inline(always)]
    fn leaf(&mut self, va: u64, level: Level, entry: u64, count: u64, effective: Effective) {
        let leaves = Range::leaf(va, level, entry, count, effective, self.phys_mask);
        if coalesce(self.ranges, self.batch.0, leaves).is_err() {
            self.no_room = true;
        }
    }

    fn table(&mut self, level: Level) {
        self.counts.tables[level as usize] += 1;
    }

    fn shared(&mut self, _: Level, count: u64) {
        self.counts.shared += count;
    }

    fn unreadable(&mut self, va: u64, level: Level, entry: u64) {
        self.counts.unreadable += 1;
        self.counts
            .first_unreadable
            .get_or_insert((va, level, entry));
    }

    fn changed(&mut self, va: u64, level: Level) {
        self.changed.get_or_insert((va, level));
    }

    #[inline(always)]
    fn cleared(&mut self, va: u64, level: Level, count: u64) {
        let run = cleared_run(va, va + (count * level.entry_size() - 1));
        if coalesce(self.cleared, self.batch.1, run).is_err() {
            self.no_room = true;
        }
    }
}
