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
//! full walk). The per-range rules then run on the ranges the splice
//! touched only ([`recheck_rules`]), where that gives what running them on
//! all ranges would; the check's other findings are kept, or made again
//! on the touched ranges ([`recheck_findings`]).
//!
//! Watch mode (`Documentation/vmlayout/watch.rst`) re-checks a window
//! when every change since the last check was to vmalloc areas, whose
//! hooks give their addresses ([`widen_to_run`]); any other change gets a
//! full check.

use super::batch::{BatchSink, NoRoom, RangeList, WalkCounts};
use super::check::{unowned_code, FindingList, Findings};
use super::map::RegionId;
use super::pte::Level;
use super::report::BelongsTo;
use super::rules::{
    check_range, nothing_fires, Finding, LiveMap, Rule, TableKind, Tally, TextAliases,
    FINDINGS_PER_RULE,
};
use super::walk::{overlaps, Coalescer, Range, Scratch, TableSource, Walk, WorkItem};

/// What a window re-check makes again besides the per-range rules and
/// `code-unowned` on the window ([`windowable`]); of several windows, the
/// most any of them makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Redo {
    /// Nothing else: the vmalloc region and the virtual memory map
    /// (vmemmap: the struct pages of memory onlined or offlined), whose
    /// ranges no other phase reads (the other tables read their own, the
    /// audits the top level; the modules area's allocations are vmalloc's
    /// too, but in its own region).
    Nothing,
    /// System RAM against the direct map, and the modules area's code
    /// aliases, which read the direct map and the modules area
    /// ([`redo_others`]): run again on all the ranges, as a full check
    /// runs them.
    RamAndAliases,
}

/// Whether a window re-check of `window` can leave the check's other
/// findings true, and what it then makes again: inside one documented
/// region, the vmalloc region, vmemmap, the modules area or the direct
/// map. Any
/// other region's ranges are read by phases a window does not redo (the
/// kernel image's text aliases, PTI's copies of the entry text and the
/// CPU entry area, EFI's): those get a full check.
pub fn windowable(map: &LiveMap<'_>, window: (u64, u64)) -> Option<Redo> {
    let row = |va| map.place(va).0.row();
    let (first, last) = (row(window.0)?, row(window.1)?);
    if first != last {
        return None;
    }
    match map.doc().regions.get(first)?.id {
        RegionId::Vmalloc | RegionId::Vmemmap => Some(Redo::Nothing),
        RegionId::Modules | RegionId::DirectMap => Some(Redo::RamAndAliases),
        _ => None,
    }
}

/// `window` widened to the 1 GiB blocks its ends lie in where the last
/// check (`last`: its ranges and cleared stretches) may have seen a 1 GiB
/// entry there: a change may have split the leaf (`set_memory_*()` on one
/// page of the direct map) or put a table in place of a cleared entry, and
/// a window's work items (PMD entries, [`span_of`]) would cover only the
/// part of the new table under the window, leaving the rest of the old
/// entry's range as it was. A range says its leaf level; a cleared stretch
/// does not, so one that holds the whole block counts. Entries of 2 MiB and
/// less lie inside one item, and a 1 GiB one inside the window is walked
/// whole.
pub fn widen_to_leaves((ranges, cleared): (&[Range], &[Range]), window: (u64, u64)) -> (u64, u64) {
    let mask = Level::Pud.entry_size() - 1;
    let big_at = |va: u64| {
        let block = (va & !mask, va | mask);
        let at = |list: &[Range]| list.get(list.partition_point(|r| r.last < va)).copied();
        let leaf = at(ranges).is_some_and(|r| r.start <= va && r.level > Level::Pmd);
        let gone = at(cleared).is_some_and(|r| r.start <= block.0 && r.last >= block.1);
        leaf || gone
    };
    let first = if big_at(window.0) {
        window.0 & !mask
    } else {
        window.0
    };
    let last = if big_at(window.1) {
        window.1 | mask
    } else {
        window.1
    };
    (first, last)
}

/// `window` widened to cover a vmalloc area freed at its last address
/// whose end is not known (the kernel's `free_vmap_area_noflush` event
/// gives an area's start only): to the end of the run of address-adjacent
/// ranges of `last` (the last check's) that holds that address. An area's
/// pages are mapped back to back and end at its guard page, so the run
/// covers them (and, for areas without a guard, the next ones too: a wider
/// window is only slower, never wrong). An address `last` has unmapped
/// needs no widening.
pub fn widen_to_run(last: &[Range], window: (u64, u64)) -> (u64, u64) {
    let from = last.partition_point(|r| r.last < window.1);
    let (mut end, mut held) = (window.1, false);
    for r in &last[from..] {
        let next = if held {
            r.start == end.wrapping_add(1)
        } else {
            r.start <= window.1
        };
        if !next {
            break;
        }
        (end, held) = (r.last, true);
    }
    (window.0, end)
}

/// `window` as a re-check walks it, and what it makes again: widened to
/// the run of ranges it ends in where that may be a vmalloc area freed
/// there ([`widen_to_run`]: the vmalloc region and the modules area, whose
/// memory is vmalloc's), and to the big entries it may have split
/// ([`widen_to_leaves`]), `last` being the last check's ranges and cleared
/// stretches; `None` if a window there is not enough ([`windowable`]).
pub fn widened(
    map: &LiveMap<'_>,
    last: (&[Range], &[Range]),
    window: (u64, u64),
) -> Option<((u64, u64), Redo)> {
    let redo = windowable(map, window)?;
    let row = map.place(window.0).0.row();
    let region = row.and_then(|row| map.doc().regions.get(row)).map(|r| r.id);
    let window = match region {
        Some(RegionId::Vmalloc | RegionId::Modules) => widen_to_run(last.0, window),
        _ => window,
    };
    let window = widen_to_leaves(last, window);
    // Still inside the region it was in.
    (windowable(map, window) == Some(redo)).then_some((window, redo))
}

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

/// Where a splice in place ([`splice_in_place`]) left its work: the
/// ranges it made lie at `at..at + len` of the list, in place of the ones
/// it was given back in `old`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Replaced {
    /// Where they start.
    pub at: usize,
    /// How many it made.
    pub len: usize,
}

/// [`splice`], in place: `list`'s ranges of `span` replaced by `new`,
/// and only the ranges after them moved (a re-check of a vmalloc window
/// leaves the direct map's thousands where they are). The old ranges the
/// splice reads (those of the span, and one on each side, which the seams
/// may coalesce with) are copied to `old`, which keeps them: what a
/// re-check's [`Before`] holds, and what [`undo`] puts back; `made` is
/// the splice's own output, then copied into place.
pub fn splice_in_place<L: RangeList>(
    list: &mut L,
    span: (u64, u64),
    new: &[Range],
    phys_at: impl FnMut(u64) -> Option<u64>,
    (old, made): (&mut L, &mut L),
) -> Result<Replaced, NoRoom> {
    let all = list.as_slice();
    let lo = all.partition_point(|r| r.last < span.0).saturating_sub(1);
    let hi = (all.partition_point(|r| r.start <= span.1) + 1).min(all.len());
    old.truncate(0);
    for &r in &all[lo..hi] {
        old.push(r)?;
    }
    made.truncate(0);
    splice(old.as_slice(), span, new, phys_at, made)?;
    replace(list, lo..hi, made.as_slice())?;
    Ok(Replaced {
        at: lo,
        len: made.len(),
    })
}

/// Undo a [`splice_in_place`] that `replaced` says where it went: put
/// `old` back.
pub fn undo(list: &mut impl RangeList, replaced: Replaced, old: &[Range]) -> Result<(), NoRoom> {
    replace(list, replaced.at..replaced.at + replaced.len, old)
}

/// `list[range]` replaced by `with`, the ranges after it moved.
fn replace(
    list: &mut impl RangeList,
    range: core::ops::Range<usize>,
    with: &[Range],
) -> Result<(), NoRoom> {
    let len = list.len();
    let new_len = len - range.len() + with.len();
    if let Some(&fill) = with.first() {
        while list.len() < new_len {
            if let Err(e) = list.push(fill) {
                // Nothing moved yet: the list as it was.
                list.truncate(len);
                return Err(e);
            }
        }
    }
    let slice = list.as_mut_slice();
    slice.copy_within(range.end..len, range.start + with.len());
    // Element by element: `copy_from_slice`'s length-mismatch panic is a
    // call objtool does not know never returns.
    for (to, &from) in slice[range.start..].iter_mut().zip(with) {
        *to = from;
    }
    list.truncate(new_len);
    Ok(())
}

/// What a window re-check's walk changed: the span it replaced
/// ([`span_of`]), and where in the ranges and in the cleared stretches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spliced {
    /// The span replaced.
    pub span: (u64, u64),
    /// Where in the ranges.
    pub ranges: Replaced,
    /// Where in the cleared stretches.
    pub cleared: Replaced,
}

/// A window re-check's walk: `items` (what [`Walk::split_window`] gave
/// for `window` of the table at `reference`) walked into `fresh` (ranges,
/// cleared stretches, emptied first; and the walk's counts), then spliced
/// in place into the last check's ranges and cleared stretches (`last`),
/// the old ones around the span kept in `old` ([`splice_in_place`], whose
/// output goes through `made`).
pub fn rewalk_splice<L: RangeList>(
    (walk, reference): (&Walk, u64),
    (window, items): ((u64, u64), &[WorkItem]),
    (src, scratch): (&mut impl TableSource, &mut Scratch),
    (ranges, cleared, counts): (&mut L, &mut L, &mut WalkCounts),
    last: (&mut L, &mut L),
    (old, made): ((&mut L, &mut L), &mut L),
) -> Result<Spliced, NoRoom> {
    let span = span_of(window, items);
    ranges.truncate(0);
    cleared.truncate(0);
    let mut sink = BatchSink::new(ranges, cleared, counts, walk.phys_mask);
    rewalk(walk, items, (&mut *src, scratch), &mut sink);
    if sink.no_room() {
        return Err(NoRoom);
    }
    let mut now = |va| walk.phys_at(reference, va, src);
    let at_ranges = splice_in_place(last.0, span, ranges.as_slice(), &mut now, (old.0, made))?;
    // Cleared stretches have no physical address (`cleared_run`): one cut
    // at the span's end keeps 0, not an offset into it.
    let none = |_| Some(0);
    let at_cleared = splice_in_place(last.1, span, cleared.as_slice(), none, (old.1, made))?;
    Ok(Spliced {
        span,
        ranges: at_ranges,
        cleared: at_cleared,
    })
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

/// The last check, as a window re-check finds it: its ranges around the
/// span (all of them, or the ones a [`splice_in_place`] replaced: only
/// those that overlap the span are read), the kernel text's aliases all
/// its ranges gave, and the per-range rules' findings on them, in address
/// order.
#[derive(Clone, Copy)]
pub struct Before<'a> {
    /// The ranges around the span, before the splice.
    pub ranges: &'a [Range],
    /// Their text aliases.
    pub text: &'a TextAliases,
    /// The per-range findings of the reference's table, all kept.
    pub findings: &'a [Finding],
}

/// The addresses whose ranges a splice of `span` changed: the span,
/// widened to the ranges before and after it that cross its edges.
pub fn affected(old: &[Range], new: &[Range], span: (u64, u64)) -> (u64, u64) {
    let crossing = old
        .iter()
        .chain(new)
        .filter(|r| overlaps((r.start, r.last), span));
    crossing.fold(span, |(a, b), r| (a.min(r.start), b.max(r.last)))
}

/// The per-range rules after a window re-check: `before`'s findings
/// outside the [`affected`] addresses, and the rules run on the new
/// ranges inside them (`new`: all the ranges after the splice, or those
/// it made in place of `before.ranges`), into `out` in address order;
/// `text` is the aliases of all of them; `mapped` (bytes per
/// documented row and leaf size, as `check_ranges` counts them) updated
/// for the ranges replaced. `Ok(false)` when that would not be what
/// running the rules on all ranges gives (`out` is then to be dropped,
/// and `tally` and `mapped` are untouched): the
/// kernel text moved (the writable-alias rule reads it everywhere), or a
/// rule has [`FINDINGS_PER_RULE`] findings (which are kept then depends on
/// all of them). `tally` counts what `out` holds.
pub fn recheck_rules(
    map: &LiveMap<'_>,
    before: Before<'_>,
    (new, text): (&[Range], &TextAliases),
    span: (u64, u64),
    (tally, mapped): (&mut Tally, &mut [[u64; 3]]),
    out: &mut impl FindingList,
) -> Result<bool, NoRoom> {
    if text != before.text {
        return Ok(false);
    }
    let a = affected(before.ranges, new, span);
    let inside = |r: &Range| overlaps((r.start, r.last), a);
    let found = new
        .iter()
        .filter(|r| inside(r))
        .flat_map(|r| rules_on(map, text, r));
    let below = before
        .findings
        .iter()
        .filter(|f| f.range.last < a.0)
        .copied();
    let above = before
        .findings
        .iter()
        .filter(|f| f.range.start > a.1)
        .copied();
    let mut count = Tally::default();
    for f in below.chain(found).chain(above) {
        if !count.admit(f.rule) || count.found(f.rule) >= FINDINGS_PER_RULE {
            return Ok(false);
        }
        out.push(f)?;
    }
    *tally = count;
    for (ranges, add) in [(before.ranges, false), (new, true)] {
        for r in ranges.iter().filter(|r| inside(r)) {
            count_bytes(map, r, mapped, add);
        }
    }
    Ok(true)
}

/// Where a check's findings lie in its list, in the order a check makes
/// them: the per-range rules' on the reference's ranges (address order);
/// then System RAM's, from `per_range`; the other tables' and what the
/// walkers noted, from `tables`; the modules area's code aliases, from
/// `aliases` (a window re-check keeps these three, or makes System RAM's
/// and the aliases' again: [`Redo`]); then `code-unowned`'s (address
/// order), from `unowned`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Parts {
    /// Where System RAM's start.
    pub per_range: usize,
    /// Where the other tables' start.
    pub tables: usize,
    /// Where the code aliases' start.
    pub aliases: usize,
    /// Where `code-unowned`'s start.
    pub unowned: usize,
}

impl Parts {
    /// The same parts, moved to start at `per_range`.
    fn moved_to(self, per_range: usize) -> Parts {
        let at = |i: usize| per_range + (i - self.per_range);
        Parts {
            per_range,
            tables: at(self.tables),
            aliases: at(self.aliases),
            unowned: at(self.unowned),
        }
    }
}

/// System RAM's and the code aliases' findings made again on all the
/// ranges after a re-check of windows that [`Redo::RamAndAliases`]
/// (by the caller, as a full check makes them), for [`redo_others`].
#[derive(Clone, Copy)]
pub struct Redone<'a> {
    /// System RAM against the direct map.
    pub ram: &'a [Finding],
    /// What that counted, left out included.
    pub ram_tally: &'a Tally,
    /// The modules area's code aliases.
    pub aliases: &'a [Finding],
}

/// Whether `tally` left out findings of a rule other than `ram-missing`
/// (which only System RAM makes, so that [`redo_others`] takes its count
/// from the run that replaces it).
fn left_out_but_ram(tally: &Tally) -> bool {
    Rule::ALL
        .into_iter()
        .any(|rule| rule != Rule::RamMissing && tally.omitted(rule) > 0)
}

/// A check's findings (`all`, placed by `parts`, counted by `tally`) with
/// System RAM's and the code aliases' replaced by `redone`'s, into `out`
/// (empty), in a check's order; where they lie. `None` when that need not
/// be what a full check gives: a rule other than `ram-missing` has
/// findings left out (which a full check keeps then depends on all of
/// them, across the parts).
pub fn redo_others<L: FindingList>(
    (all, parts, tally): (&[Finding], Parts, &Tally),
    redone: Redone<'_>,
    out: &mut Findings<L>,
) -> Result<Option<Parts>, NoRoom> {
    if left_out_but_ram(tally) || left_out_but_ram(redone.ram_tally) {
        return Ok(None);
    }
    let (Some(per_range), Some(tables), Some(unowned)) = (
        all.get(..parts.per_range),
        all.get(parts.tables..parts.aliases),
        all.get(parts.unowned..),
    ) else {
        return Ok(None);
    };
    let mut at = [0; 4];
    let pieces = [per_range, redone.ram, tables, redone.aliases, unowned];
    for (i, piece) in pieces.into_iter().enumerate() {
        if let Some(start) = i.checked_sub(1).and_then(|i| at.get_mut(i)) {
            *start = out.list.as_mut_slice().len();
        }
        for f in piece {
            out.push(*f)?;
        }
    }
    if left_out_but_ram(&out.tally) {
        return Ok(None);
    }
    out.tally
        .omit(Rule::RamMissing, redone.ram_tally.omitted(Rule::RamMissing));
    let [per_range, tables, aliases, unowned] = at;
    Ok(Some(Parts {
        per_range,
        tables,
        aliases,
        unowned,
    }))
}

/// Whose code the executable ranges are, for `code-unowned`: the kernel
/// image (first and last address) and what names the rest.
#[derive(Clone, Copy)]
pub struct Code<'a> {
    /// The kernel image, which needs no lookup.
    pub image: (u64, u64),
    /// The owner of an address, as [`report::code_owner`](super::report::code_owner) names it.
    pub belongs_to: BelongsTo<'a>,
}

/// Whether a rule a window makes again ([`Rule::window_remakes`]) has
/// findings left out in `tally`: then which are kept depends on all of
/// them, and no window can say.
pub fn remade_left_out(tally: &Tally) -> bool {
    Rule::ALL
        .into_iter()
        .any(|rule| rule.window_remakes() && tally.omitted(rule) > 0)
}

/// All of a check's findings after a window re-check, into `out` (empty):
/// the per-range rules' ([`recheck_rules`], `before.findings` being the
/// first `parts.per_range` of `all`), the others kept, and `code-unowned`
/// outside the [`affected`] addresses kept and made again inside them.
/// The rules the others keep carry their counts over from `tally` (the
/// last check's), findings left out included: `ram-missing` past its
/// limit under `debug_pagealloc` does not stop a window. Returns where
/// they lie, or `None` when that would not be what a full check gives
/// (then `out` and `mapped` are to be dropped): as [`recheck_rules`]
/// says, or a rule the window makes again with findings left out.
pub fn recheck_findings<L: FindingList>(
    map: &LiveMap<'_>,
    (before, all, parts, tally): (Before<'_>, &[Finding], Parts, &Tally),
    (new, text, span): (&[Range], &TextAliases, (u64, u64)),
    code: Code<'_>,
    mapped: &mut [[u64; 3]],
    out: &mut Findings<L>,
) -> Result<Option<Parts>, NoRoom> {
    if remade_left_out(tally) {
        return Ok(None);
    }
    let (Some(per_range), Some(others), Some(unowned)) = (
        all.get(..parts.per_range),
        all.get(parts.per_range..parts.unowned),
        all.get(parts.unowned..),
    ) else {
        return Ok(None);
    };
    let before = Before {
        findings: per_range,
        ..before
    };
    let rules = (&mut out.tally, mapped);
    if !recheck_rules(map, before, (new, text), span, rules, &mut out.list)? {
        return Ok(None);
    }
    let now = parts.moved_to(out.list.as_mut_slice().len());
    for f in others {
        out.push(*f)?;
    }
    let a = affected(before.ranges, new, span);
    for f in unowned.iter().filter(|f| f.range.last < a.0) {
        out.push(*f)?;
    }
    let inside = new.partition_point(|r| r.last < a.0)..new.partition_point(|r| r.start <= a.1);
    unowned_code(map, &new[inside], code.image, code.belongs_to, &mut |f| {
        out.push(f)
    })?;
    for f in unowned.iter().filter(|f| f.range.start > a.1) {
        out.push(*f)?;
    }
    if remade_left_out(&out.tally) {
        return Ok(None);
    }
    for rule in Rule::ALL.into_iter().filter(|r| !r.window_remakes()) {
        out.tally.omit(rule, tally.omitted(rule));
    }
    Ok(Some(now))
}

/// The per-range rules' findings on `range` of the reference's table.
fn rules_on<'m, 'a>(
    map: &'m LiveMap<'a>,
    text: &'m TextAliases,
    range: &Range,
) -> impl Iterator<Item = Finding> + 'm {
    let table = TableKind::Kernel;
    let quiet = nothing_fires(map, text, table, range).is_some();
    check_range(map, text, table, range).filter(move |_| !quiet)
}

/// Add (or, `!add`, take away) `range`'s bytes in `mapped`, as
/// `check_ranges` counts them: in the row where it starts, by leaf size.
fn count_bytes(map: &LiveMap<'_>, range: &Range, mapped: &mut [[u64; 3]], add: bool) {
    let row = map.place(range.start).0.row();
    if let Some(bytes) = row.and_then(|row| mapped.get_mut(row)) {
        let slot = &mut bytes[range.level as usize - 1];
        *slot = if add {
            *slot + range.size()
        } else {
            slot.saturating_sub(range.size())
        };
    }
}
