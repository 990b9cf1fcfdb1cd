// SPDX-License-Identifier: GPL-2.0

//! Watch mode's re-check of one window (`vmlayout_core::window`): the work
//! items of the reference that map the window walked again on this CPU,
//! spliced in place into the last scan's ranges, and the findings made
//! again where the ranges changed, in place of the last scan's. The rest
//! of the scan (the other tables, the audits, System RAM) stays the last
//! full scan's, which the backstop repeats.
//!
//! What a window cannot redo as a full scan would makes it decline, and
//! the caller scans everything instead: a window outside the vmalloc
//! region (`window::windowable`), a table the walk could not read or that
//! kept changing (the walkers' notes are a full scan's), a finding the
//! last scan settled, a rule the window makes again with findings left
//! out (`Rule::window_remakes`). A splice already made is then undone.

use kernel::{alloc::KVec, prelude::*};

use crate::vmlayout_core::{
    batch::WalkCounts,
    check,
    layout::Live,
    map::DocMap,
    report::BelongsTo,
    rules::{LiveMap, TextAliases},
    walk::{Range, TableSource, Top},
    window::{
        recheck_findings, remade_left_out, rewalk_splice, undo, widen_to_run, windowable, Before,
        Code, Parts, Spliced,
    },
};

use super::{findings_in, walk_of, DirectMap, Findings, Scan, Workspace};

/// A window re-check's buffers, kept from one to the next: what it walks
/// (ranges, cleared stretches), the old ranges its splices replace, and
/// their output.
pub(crate) struct WindowLists {
    fresh: (VVec<Range>, VVec<Range>),
    old: (VVec<Range>, VVec<Range>),
    made: VVec<Range>,
}

impl WindowLists {
    pub(super) const fn new() -> Self {
        WindowLists {
            fresh: (VVec::new(), VVec::new()),
            old: (VVec::new(), VVec::new()),
            made: VVec::new(),
        }
    }
}

/// What a window re-check gives besides the ranges it spliced in place.
struct Rechecked {
    findings: Findings,
    parts: Parts,
    mapped: KVec<[u64; 3]>,
    rechecked: u64,
    settled: u64,
}

/// Re-check `window` of the reference at `reference` into `scan` (the
/// last), its findings carried over at `now_ns` (their events fired):
/// `Ok(false)` if the window declined (see above), `scan` as it was.
pub(crate) fn recheck_window(
    (doc, live, reference): (&'static DocMap<'static>, &Live, u64),
    ws: &mut Workspace,
    scan: &mut Scan,
    window: (u64, u64),
    (belongs_to, now_ns): (BelongsTo<'_>, u64),
) -> Result<bool> {
    let tally = &scan.findings.tally;
    if scan.settled > 0 || remade_left_out(tally) {
        return Ok(false);
    }
    let map = ws.take_live_map(doc, live)?;
    let rechecked = rewalk(&map, (live, reference), ws, scan, window);
    ws.keep_live_map(map);
    let Some(new) = rechecked? else {
        return Ok(false);
    };
    let (old, old_seen) = (&scan.findings.list[..], &scan.seen[..]);
    let mut seen =
        crate::watch::carry_over((old, old_seen), &new.findings.list, now_ns, belongs_to)?;
    // The other phases' findings, kept in order, were not looked at
    // again: they keep when they were last seen.
    let kept = seen
        .get_mut(new.parts.per_range..new.parts.unowned)
        .unwrap_or_default();
    for (now, then) in kept
        .iter_mut()
        .zip(old_seen.get(scan.parts.per_range..).unwrap_or_default())
    {
        now.last_ns = then.last_ns;
    }
    scan.seen = seen;
    ws.spare_findings = core::mem::replace(&mut scan.findings, new.findings).list;
    scan.parts = new.parts;
    scan.mapped = new.mapped;
    scan.rechecked = new.rechecked;
    scan.settled = new.settled;
    Ok(true)
}

/// The window's items walked and spliced in place into `last`'s ranges,
/// then its findings; `None` if the window declined (the splice undone).
fn rewalk(
    map: &LiveMap<'static>,
    (live, reference): (&Live, u64),
    ws: &mut Workspace,
    last: &mut Scan,
    window: (u64, u64),
) -> Result<Option<Rechecked>> {
    let walk = walk_of(live);
    let window = widen_to_run(&last.walked.ranges, window);
    if !windowable(map, window) {
        return Ok(None);
    }
    let mut src = DirectMap::new(live.page_offset_base);
    if !src.copy_table(reference, &mut ws.root) {
        return Err(EIO);
    }
    ws.items.clear();
    let mut pushed = Ok(());
    let top = Top::kernel_half(reference, &ws.root);
    walk.split_window(top, window, &mut src, &mut ws.scratch, &mut |item| {
        if pushed.is_ok() {
            pushed = ws.items.push(item, GFP_KERNEL);
        }
    });
    pushed?;
    // The text aliases of the ranges as they were, before the splice.
    let before_text = check::text_of(map, &last.walked.ranges);
    let mut counts = WalkCounts::default();
    let w = &mut ws.window;
    let spliced = rewalk_splice(
        (&walk, reference),
        (window, &ws.items),
        (&mut src, &mut ws.scratch),
        (&mut w.fresh.0, &mut w.fresh.1, &mut counts),
        (&mut last.walked.ranges, &mut last.walked.cleared),
        ((&mut w.old.0, &mut w.old.1), &mut w.made),
    )
    .map_err(|_| ENOMEM)?;
    let walked_whole = counts.unreadable == 0 && counts.changed == 0;
    let found = walked_whole
        .then(|| findings_after(map, (live, reference), ws, last, (spliced, &before_text)))
        .transpose();
    let found = found.map(Option::flatten);
    if !matches!(found, Ok(Some(_))) {
        let (ranges, cleared) = (&mut last.walked.ranges, &mut last.walked.cleared);
        let old = &ws.window.old;
        // Back as it was (a rescan follows, and replaces it anyway).
        let _ = undo(ranges, spliced.ranges, &old.0);
        let _ = undo(cleared, spliced.cleared, &old.1);
    }
    found
}

/// The findings after a splice (`spliced`, of ranges whose text aliases
/// were `before_text`) into `last`'s ranges.
fn findings_after(
    map: &LiveMap<'static>,
    (live, reference): (&Live, u64),
    ws: &mut Workspace,
    last: &Scan,
    (spliced, before_text): (Spliced, &TextAliases),
) -> Result<Option<Rechecked>> {
    let ranges = &last.walked.ranges;
    let text = check::text_of(map, ranges);
    let made = ranges
        .get(spliced.ranges.at..spliced.ranges.at + spliced.ranges.len)
        .ok_or(EIO)?;
    let before = Before {
        ranges: &ws.window.old.0,
        text: before_text,
        findings: &[],
    };
    let code = Code {
        image: (live.text_start, live.text_end),
        belongs_to: &|va, out| crate::watch::belongs_to(va, out),
    };
    let mut mapped = KVec::with_capacity(last.mapped.len(), GFP_KERNEL)?;
    mapped.extend_from_slice(&last.mapped, GFP_KERNEL)?;
    let mut findings = findings_in(core::mem::take(&mut ws.spare_findings));
    let had = (
        before,
        &last.findings.list[..],
        last.parts,
        &last.findings.tally,
    );
    let now = (made, &text, spliced.span);
    let parts = recheck_findings(map, had, now, code, &mut mapped, &mut findings);
    let Some(parts) = parts.map_err(|_| ENOMEM)? else {
        ws.spare_findings = findings.list;
        return Ok(None);
    };
    // Its warn or error findings checked again, as a full scan's are.
    let walk = walk_of(live);
    let mut src = DirectMap::new(live.page_offset_base);
    let (rechecked, settled) =
        check::recheck((&walk, reference), &mut findings.list, ranges, &mut src);
    Ok(Some(Rechecked {
        findings,
        parts,
        mapped,
        rechecked,
        settled,
    }))
}
