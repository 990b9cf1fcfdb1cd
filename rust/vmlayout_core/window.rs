// SPDX-License-Identifier: GPL-2.0

//! Re-checking one window of the kernel half instead of all of it: what
//! changed when a module loads, a vmalloc area is freed or `set_memory_*()`
//! runs is one stretch of addresses, and the walk of the rest would find
//! what the last walk found.
//!
//! A re-check takes the work items that map any of the window
//! ([`Walk::split_window`]), walks them ([`rewalk`]) and splices what it
//! found into the last walk's ranges ([`splice`]): the ranges of the walked
//! span are replaced, the ranges that cross its edges are cut there, and
//! the seams are coalesced again. The result is what a full walk of the
//! tables as they are now gives (host property test: any sequence of
//! changes, each re-checked over a window covering it, ends equal to a
//! full walk).

use super::batch::{BatchSink, NoRoom, RangeList};
use super::walk::{Coalescer, Range, Scratch, TableSource, Walk, WorkItem};

/// The span a re-check of `window` replaces: the window, widened to the
/// items that map any of it (an item's leaves lie wholly inside it, so
/// the span's edges never cut a leaf).
pub fn span_of(window: (u64, u64), items: &[WorkItem]) -> (u64, u64) {
    items.iter().fold(window, |(first, last), item| {
        let (a, b) = item.span();
        (first.min(a), last.max(b))
    })
}

/// Walk `items` (what [`Walk::split_window`] gave for a window) into
/// `sink`, one batch.
pub fn rewalk<L: RangeList>(
    walk: &Walk,
    items: &[WorkItem],
    (src, scratch): (&mut impl TableSource, &mut Scratch),
    sink: &mut BatchSink<'_, L>,
) {
    sink.start_batch();
    for item in items {
        sink.walk_item(walk, item, src, scratch);
    }
}

/// `old` (coalesced ranges in address order) with the ranges of `span`
/// replaced by `new` (the ranges a walk of `span` found, in order), into
/// `out`: the ranges that cross the span's edges are cut there, and every
/// seam is coalesced as the walk coalesces. `phys_at(va)` is the physical
/// address the tables map at `va` now: where a range cut at the span's end
/// starts (a coalesced range's pages need not be contiguous).
pub fn splice(
    old: &[Range],
    span: (u64, u64),
    new: &[Range],
    mut phys_at: impl FnMut(u64) -> Option<u64>,
    out: &mut impl RangeList,
) -> Result<(), NoRoom> {
    let mut runs = Coalescer::default();
    let mut push = |range: Range, out: &mut dyn FnMut(Range) -> Result<(), NoRoom>| {
        runs.push(range).map_or(Ok(()), &mut *out)
    };
    let emit = &mut |r: Range| out.push(r);
    let before = old.partition_point(|r| r.last < span.0);
    let after = old.partition_point(|r| r.start <= span.1);
    for &r in &old[..before] {
        push(r, emit)?;
    }
    if let Some(&r) = old.get(before).filter(|r| r.start < span.0) {
        push(
            Range {
                last: span.0 - 1,
                ..r
            },
            emit,
        )?;
    }
    for &r in new {
        push(r, emit)?;
    }
    if let Some(&r) = after
        .checked_sub(1)
        .and_then(|i| old.get(i))
        .filter(|r| r.last > span.1)
    {
        let start = span.1 + 1;
        let phys = phys_at(start).unwrap_or(r.phys + (start - r.start));
        push(Range { start, phys, ..r }, emit)?;
    }
    for &r in &old[after..] {
        push(r, emit)?;
    }
    runs.finish().map_or(Ok(()), emit)
}
