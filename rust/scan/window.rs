// SPDX-License-Identifier: GPL-2.0

//! Watch mode's re-check of a few windows (`vmlayout_core::window`): for
//! each, the work items of the reference that map it walked again on this
//! CPU, spliced in place into the last scan's ranges, and the findings
//! made again where the ranges changed, in place of the last scan's. A
//! window of the direct map or the modules area then has System RAM and
//! the code aliases checked again on all the ranges (`window::Redo`). The
//! rest of the scan (the other tables, the audits, what the walkers noted)
//! stays the last full scan's, which the backstop repeats.
//!
//! What a window cannot redo as a full scan would makes it decline, and
//! the caller scans everything instead: a window outside those regions
//! (`window::windowable`), a table the walk could not read or that kept
//! changing (the walkers' notes are a full scan's), a finding the last
//! scan settled, a rule the window makes again with findings left out
//! (`Rule::window_remakes`, `window::redo_others`). A splice already made
//! is then undone, and the findings are put back as they were; the
//! windows before it stay spliced (the tables as they are now, which the
//! rescan replaces).

use kernel::{
    alloc::{KVec, VVec},
    prelude::*,
};

use crate::live::ram_ranges;
use crate::vmlayout_core::{
    batch::WalkCounts,
    changed::ram_change_covered,
    check,
    layout::Live,
    map::DocMap,
    report::BelongsTo,
    rules::{Finding, LiveMap, Tally, TextAliases},
    walk::{Range, TableSource, Top},
    window::{
        recheck_findings, redo_others, remade_left_out, rewalk_splice, undo, widened, Before, Code,
        Parts, Redo, Redone, Spliced,
    },
};

use super::rules_job::check_ram;
use super::{code_aliases, findings_in, walk_of, DirectMap, Findings, Scan, Scope, Workspace};

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
    redo: Redo,
}

/// A scan's findings as a re-check of windows found them: what it puts
/// back if a window declines after others were made.
struct Kept {
    findings: KVec<Finding>,
    tally: Tally,
    parts: Parts,
    mapped: KVec<[u64; 3]>,
}

impl Kept {
    fn of(scan: &Scan) -> Result<Self> {
        let mut findings = KVec::with_capacity(scan.findings.list.len(), GFP_KERNEL)?;
        findings.extend_from_slice(&scan.findings.list, GFP_KERNEL)?;
        let mut mapped = KVec::with_capacity(scan.mapped.len(), GFP_KERNEL)?;
        mapped.extend_from_slice(&scan.mapped, GFP_KERNEL)?;
        Ok(Kept {
            findings,
            tally: scan.findings.tally,
            parts: scan.parts,
            mapped,
        })
    }

    /// Put back into `scan` (its ranges stay as the windows made them: the
    /// tables as they are now, which the rescan that follows replaces).
    fn restore(self, scan: &mut Scan) -> Result {
        scan.findings.list.clear();
        scan.findings
            .list
            .extend_from_slice(&self.findings, GFP_KERNEL)?;
        scan.findings.tally = self.tally;
        scan.parts = self.parts;
        scan.mapped = self.mapped;
        Ok(())
    }
}

/// Re-check `windows` (in address order, apart) of the reference at
/// `reference` into `scan` (the last), one after the other, the findings
/// of each made from the one before; then its warn or error findings are
/// checked again, and carried over at `now_ns` (their events fired: once,
/// against the last scan's). `Ok(false)` if a window declined (see above):
/// the findings as they were.
pub(crate) fn recheck_windows(
    (doc, live, reference): (&'static DocMap<'static>, &Live, u64),
    ws: &mut Workspace,
    scan: &mut Scan,
    windows: &[[u64; 2]],
    (belongs_to, now_ns): (BelongsTo<'_>, u64),
) -> Result<bool> {
    let tally = &scan.findings.tally;
    if scan.settled > 0 || remade_left_out(tally) || windows.is_empty() {
        return Ok(false);
    }
    let kept = Kept::of(scan)?;
    let map = ws.take_live_map(doc, live)?;
    let mut made = Ok(true);
    let mut redo = Redo::Nothing;
    for &[first, last] in windows {
        made = rewalk(&map, (live, reference), ws, scan, (first, last)).map(|new| match new {
            Some(new) => {
                ws.spare_findings = core::mem::replace(&mut scan.findings, new.findings).list;
                (scan.parts, scan.mapped) = (new.parts, new.mapped);
                redo = redo.max(new.redo);
                true
            }
            None => false,
        });
        if !matches!(made, Ok(true)) {
            break;
        }
    }
    if matches!(made, Ok(true)) && redo == Redo::RamAndAliases {
        made = redo_ram_and_aliases(&map, (live, reference), ws, scan, windows);
    }
    ws.keep_live_map(map);
    if !matches!(made, Ok(true)) {
        kept.restore(scan)?;
        return made;
    }
    // Its warn or error findings checked again, as a full scan's are.
    let walk = walk_of(live);
    let mut src = DirectMap::new(live.page_offset_base);
    let ranges = &scan.walked.ranges;
    (scan.rechecked, scan.settled) = check::recheck_settled(
        (&walk, reference),
        &mut scan.findings.list,
        ranges,
        &mut src,
        &mut |_| super::code_alias_wait(),
    );
    let (old, old_seen) = (&kept.findings[..], &scan.seen[..]);
    let mut seen =
        crate::watch::carry_over((old, old_seen), &scan.findings.list, now_ns, belongs_to)?;
    // The other phases' findings that were kept in order were not looked
    // at again: they keep when they were last seen (all of them, or
    // after System RAM and the code aliases were made again, the other
    // tables').
    let (now, then) = (scan.parts, kept.parts);
    let (now, then) = match redo {
        Redo::Nothing => (now.per_range..now.unowned, then.per_range..then.unowned),
        Redo::RamAndAliases => (now.tables..now.aliases, then.tables..then.aliases),
    };
    let kept_seen = old_seen.get(then).unwrap_or_default();
    for (now, then) in seen
        .get_mut(now)
        .unwrap_or_default()
        .iter_mut()
        .zip(kept_seen)
    {
        now.last_ns = then.last_ns;
    }
    scan.seen = seen;
    Ok(true)
}

/// After `windows` in the direct map or the modules area: System RAM's
/// and the code aliases' findings made again on all of `scan`'s ranges, in
/// place of its others (`window::redo_others`), System RAM read again
/// (memory onlined or offlined may have been added or removed just
/// before); `Ok(false)` if that need not be what a full check gives, as
/// when System RAM changed outside the windows (`ram_change_covered`).
fn redo_ram_and_aliases(
    map: &LiveMap<'static>,
    (live, reference): (&Live, u64),
    ws: &mut Workspace,
    scan: &mut Scan,
    windows: &[[u64; 2]],
) -> Result<bool> {
    let system_ram = ram_ranges()?;
    if !ram_change_covered(windows, &scan.ram, &system_ram, live.page_offset_base) {
        return Ok(false);
    }
    let scope = Scope {
        walk: walk_of(live),
        live,
        ram: &system_ram,
        reference,
    };
    let walked = (&scan.walked.ranges[..], &scan.walked.cleared[..]);
    let mut ram = findings_in(VVec::new());
    check_ram(map, scope, walked, &mut ws.scratch, &mut ram)?;
    let mut aliases = findings_in(VVec::new());
    code_aliases(map, (live, reference), walked.0, &mut aliases)?;
    let redone = Redone {
        ram: &ram.list,
        ram_tally: &ram.tally,
        aliases: &aliases.list,
    };
    let mut out = findings_in(core::mem::take(&mut ws.spare_findings));
    let had = (&scan.findings.list[..], scan.parts, &scan.findings.tally);
    let Some(parts) = redo_others(had, redone, &mut out).map_err(|_| ENOMEM)? else {
        ws.spare_findings = out.list;
        return Ok(false);
    };
    ws.spare_findings = core::mem::replace(&mut scan.findings, out).list;
    scan.parts = parts;
    scan.ram = system_ram;
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
    let walked = (&last.walked.ranges[..], &last.walked.cleared[..]);
    let Some((window, redo)) = widened(map, walked, window) else {
        return Ok(None);
    };
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
        .then(|| findings_after(map, live, ws, last, (spliced, &before_text)))
        .transpose();
    let found = found.map(|found| found.flatten().map(|new| Rechecked { redo, ..new }));
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
    live: &Live,
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
    Ok(Some(Rechecked {
        findings,
        parts,
        mapped,
        redo: Redo::Nothing,
    }))
}
