// SPDX-License-Identifier: GPL-2.0

//! Watch mode's re-check of one window (`vmlayout_core::window`): the work
//! items of the reference that map the window walked again on this CPU,
//! spliced into the last scan's ranges, and the findings made again where
//! the ranges changed, in place of the last scan's. The rest of the scan
//! (the other tables, the audits, System RAM) stays the last full scan's,
//! which the backstop repeats.
//!
//! What a window cannot redo as a full scan would makes it decline, and
//! the caller scans everything instead: a window outside the vmalloc
//! region (`window::windowable`), a table the walk could not read
//! or that kept changing (the walkers' notes are a full scan's), a finding
//! the last scan settled, a rule with findings left out.

use kernel::{alloc::KVec, prelude::*};

use crate::vmlayout_core::{
    batch::WalkCounts,
    check,
    layout::Live,
    map::DocMap,
    report::BelongsTo,
    rules::{LiveMap, Rule},
    walk::{Range, TableSource, Top},
    window::{recheck_findings, rewalk_splice, widen_to_run, windowable, Before, Code, Parts},
};

use super::{findings_in, walk_of, DirectMap, Findings, Scan, Workspace};

/// What a window re-check gives, to go in place of the last scan's.
struct Rechecked {
    ranges: VVec<Range>,
    cleared: VVec<Range>,
    findings: Findings,
    parts: Parts,
    mapped: KVec<[u64; 3]>,
    rechecked: u64,
    settled: u64,
}

/// Re-check `window` of the reference at `reference` into `scan` (the
/// last), its findings carried over at `now_ns` (their events fired):
/// `Ok(false)` if the window declined (see above), `scan` untouched.
pub(crate) fn recheck_window(
    (doc, live, reference): (&'static DocMap<'static>, &Live, u64),
    ws: &mut Workspace,
    scan: &mut Scan,
    window: (u64, u64),
    (belongs_to, now_ns): (BelongsTo<'_>, u64),
) -> Result<bool> {
    let tally = &scan.findings.tally;
    if scan.settled > 0 || Rule::ALL.iter().any(|&rule| tally.omitted(rule) > 0) {
        return Ok(false);
    }
    let map = ws.take_live_map(doc, live)?;
    let rechecked = rewalk(&map, (live, reference), ws, scan, window, belongs_to);
    ws.keep_live_map(map);
    let Some(new) = rechecked? else {
        return Ok(false);
    };
    let (old, old_seen) = (&scan.findings.list[..], &scan.seen[..]);
    let seen = crate::watch::carry_over((old, old_seen), &new.findings.list, now_ns, belongs_to)?;
    scan.seen = seen;
    ws.spare_ranges = core::mem::replace(&mut scan.walked.ranges, new.ranges);
    ws.spare_cleared = core::mem::replace(&mut scan.walked.cleared, new.cleared);
    ws.spare_findings = core::mem::replace(&mut scan.findings, new.findings).list;
    scan.parts = new.parts;
    scan.mapped = new.mapped;
    scan.rechecked = new.rechecked;
    scan.settled = new.settled;
    Ok(true)
}

/// The window's items walked and spliced into `last`'s ranges, then its
/// findings; `None` if the window declined.
fn rewalk(
    map: &LiveMap<'static>,
    (live, reference): (&Live, u64),
    ws: &mut Workspace,
    last: &Scan,
    window: (u64, u64),
    belongs_to: BelongsTo<'_>,
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
    let mut counts = WalkCounts::default();
    let (mut ranges, mut cleared) = (
        core::mem::take(&mut ws.spare_ranges),
        core::mem::take(&mut ws.spare_cleared),
    );
    ranges.clear();
    cleared.clear();
    let fresh = &mut ws.window_lists;
    let span = rewalk_splice(
        (&walk, reference),
        (window, &ws.items),
        (&mut src, &mut ws.scratch),
        (&mut fresh.0, &mut fresh.1, &mut counts),
        (&last.walked.ranges, &last.walked.cleared),
        (&mut ranges, &mut cleared),
    )
    .map_err(|_| ENOMEM)?;
    if counts.unreadable > 0 || counts.changed > 0 {
        return Ok(None);
    }
    let (before_text, text) = (
        check::text_of(map, &last.walked.ranges),
        check::text_of(map, &ranges),
    );
    let before = Before {
        ranges: &last.walked.ranges,
        text: &before_text,
        findings: &[],
    };
    let code = Code {
        image: (live.text_start, live.text_end),
        belongs_to,
    };
    let mut mapped = KVec::with_capacity(last.mapped.len(), GFP_KERNEL)?;
    mapped.extend_from_slice(&last.mapped, GFP_KERNEL)?;
    let mut findings = findings_in(core::mem::take(&mut ws.spare_findings));
    let had = (before, &last.findings.list[..], last.parts);
    let now = (&ranges[..], &text, span);
    let parts = recheck_findings(map, had, now, code, &mut mapped, &mut findings);
    let Some(parts) = parts.map_err(|_| ENOMEM)? else {
        return Ok(None);
    };
    // Its warn or error findings checked again, as a full scan's are.
    let (rechecked, settled) = check::recheck(&walk, reference, &mut findings.list, &mut src);
    Ok(Some(Rechecked {
        ranges,
        cleared,
        findings,
        parts,
        mapped,
        rechecked,
        settled,
    }))
}
