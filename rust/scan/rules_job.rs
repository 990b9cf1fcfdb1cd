// SPDX-License-Identifier: GPL-2.0

//! The rules job: the per-range rules on every online CPU as the workers'
//! lists are joined, beside the side tasks (System RAM, the other tables).

use kernel::{
    alloc::{KVec, VVec},
    prelude::*,
};

use crate::helpers::{cond_resched, ns_since, Clock, PerCpu};
use crate::vmlayout_core::{
    batch::NoRoom,
    check::{self, check_ranges, Target},
    layout::START_KERNEL_MAP,
    rules::{LiveMap, Rule, TableKind, Tally, TextAliases},
    walk::{self, Concat, ItemSpan, Range, Scratch},
    work::{Claim, Parts, PerPart, Published, Workers},
};

use super::reader::DirectMap;
use super::walk_job::{own_buffers, prepare_buffers};
use super::workspace::{CpuBuffers, CpuLists, CpuPool};
use super::{Findings, Scope};

/// Ranges per rules chunk: small enough to balance the workers, large
/// enough that claiming one costs nothing next to checking it.
const RULES_CHUNK: usize = 256;

/// The join of the workers' lists ([`walk::concat_items`]), made by the
/// rules job's first task ([`JoinThenRam`]) while the other workers check
/// what it has joined: the ranges that no later item can extend any more
/// are settled ([`Published`]), and a rules chunk waits until its ranges
/// are. So the join, serial, no longer comes between the walk and the
/// rules.
pub(super) struct Joining<'a> {
    pub(super) spans: &'a [ItemSpan],
    pub(super) cleared_spans: &'a [ItemSpan],
    /// Per possible CPU, its lists, lent by its buffers.
    pub(super) lists: &'a [CpuLists],
    /// The joined ranges and cleared stretches, in room for at least as
    /// many as the workers' lists hold (the most the join can make).
    pub(super) ranges: Published<'a, Range>,
    pub(super) cleared: Published<'a, Range>,
    /// Ranges in the workers' lists.
    pub(super) most: usize,
}

impl Joining<'_> {
    /// CPU `list`'s ranges, or its cleared stretches.
    fn list(&self, list: usize, cleared: bool) -> &[Range] {
        match self.lists.get(list) {
            Some(lists) if cleared => &lists.cleared,
            Some(lists) => &lists.ranges,
            None => &[],
        }
    }

    /// Join one of the two outputs, settling its final ranges after each
    /// item; `None` if a span lies outside its list or the room is short.
    /// The output is done (waiting readers released) either way.
    fn join_one(&self, cleared: bool) -> Option<usize> {
        let (spans, out) = if cleared {
            (self.cleared_spans, &self.cleared)
        } else {
            (self.spans, &self.ranges)
        };
        let mut writer = out.writer()?;
        let mut joined = Concat::default();
        for span in spans {
            let chunk = self
                .list(span.list as usize, cleared)
                .get(span.first as usize..span.end as usize)?;
            joined.append_published(chunk, &mut writer)?;
            cond_resched();
        }
        joined.settle_all(&mut writer);
        Some(joined.len())
    }

    /// Join both outputs: (ranges, cleared stretches) joined, or `None` if
    /// a span lies outside its list (then no range is).
    fn join(&self) -> Option<(usize, usize)> {
        Some((self.join_one(false)?, self.join_one(true)?))
    }

    /// The ranges of rules chunk `chunk`, once they are final (preemptible
    /// wait: the join makes them ten times faster than they are checked).
    fn chunk(&self, chunk: usize) -> &[Range] {
        let first = chunk.saturating_mul(RULES_CHUNK);
        self.ranges
            .wait_for(first..first.saturating_add(RULES_CHUNK), || {
                cond_resched();
                core::hint::spin_loop();
            })
    }
}

/// Work of a scan that needs the walked ranges and the kernel text but not
/// each other, each done whole by one worker of the rules job, beside the
/// rules' chunks: the join then System RAM against the direct map
/// ([`JoinThenRam`]), and the other tables ([`OtherTables`](super::other::OtherTables)).
pub(super) trait SideTask {
    /// Do it, with a worker's `scratch`, into `findings`.
    fn check(
        &mut self,
        map: &LiveMap<'_>,
        text: &TextAliases,
        scratch: &mut Scratch,
        findings: &mut Findings,
    ) -> Result;
}

/// A side task of the rules job and, once done, how long it took or what
/// stopped it.
struct Side<'s> {
    task: &'s mut (dyn SideTask + Send + 's),
    outcome: Result<u64>,
}

/// What a worker of the rules job claims next, in claim order: the side
/// tasks first, in order (the join first, since the chunks wait for it),
/// then the chunks, which even out the workers.
enum Part {
    Side,
    Chunk(usize),
}

/// Phase 2, the rules, on every online CPU: the joined ranges in chunks of
/// [`RULES_CHUNK`], claimed in address order as the join makes them, each
/// checked into its worker's buffers, beside the [`SideTask`]s. Findings
/// are joined in output order (the chunks in address order, then each side
/// task), each part a span of its worker's list, so that the first
/// [`FINDINGS_PER_RULE`](crate::vmlayout_core::rules::FINDINGS_PER_RULE)
/// of each rule are kept as a serial scan keeps them.
struct RulesJob<'a, 'q, 's> {
    text: &'a TextAliases,
    ranges: &'a Joining<'a>,
    /// Each CPU's buffers, its worker's alone.
    crew: &'q Workers<'a>,
    cpus: PerPart<'a, 'q, Option<CpuBuffers>>,
    /// The side tasks, then the chunks, each claimed once, in that order.
    parts: &'q Parts,
    /// One slot per part, in claim order, written by the worker that
    /// claimed it.
    spans: PerPart<'a, 'q, ItemSpan>,
    /// The side tasks, the parts before the chunks.
    side: PerPart<'a, 'q, Side<'s>>,
    rows: usize,
}

impl RulesJob<'_, '_, '_> {
    /// The side tasks come first in claim order.
    const SIDE_TASKS: usize = 2;

    fn part(claim: &Claim<'_>) -> Part {
        match claim.index().checked_sub(Self::SIDE_TASKS) {
            None => Part::Side,
            Some(chunk) => Part::Chunk(chunk),
        }
    }

    /// Check a chunk of ranges into `b`.
    fn check_chunk(&self, map: &LiveMap<'_>, chunk: usize, b: &mut CpuBuffers) {
        let mut tally = Tally::default();
        let (list, mapped) = (&mut b.findings, &mut b.mapped);
        let ranges = self.ranges.chunk(chunk);
        let kept = check_ranges(
            map,
            self.text,
            TableKind::Kernel,
            ranges,
            mapped,
            &mut tally,
            &mut |f| list.push(f, GFP_KERNEL).map_err(|_| NoRoom),
        );
        b.alloc_failed |= kept.is_err();
        for (all, now) in b.dropped.iter_mut().zip(tally.dropped()) {
            *all += now;
        }
    }

    /// Do the side task `claim` is for into `b`'s list.
    fn run_side(&self, map: &LiveMap<'_>, claim: &mut Claim<'_>, b: &mut CpuBuffers) {
        let Some(side) = self.side.slot(claim) else {
            return;
        };
        let mut findings = Findings::new(core::mem::take(&mut b.findings));
        let start = Clock::now();
        side.outcome = side
            .task
            .check(map, self.text, &mut b.scratch, &mut findings)
            .map(|()| ns_since(start));
        b.findings = findings.list;
        for (all, now) in b.dropped.iter_mut().zip(findings.tally.dropped()) {
            *all += now;
        }
    }
}

impl PerCpu for RulesJob<'_, '_, '_> {
    const POOLED: bool = true;

    fn prepare(&mut self, cpu: usize) -> Result {
        let b = prepare_buffers(self.cpus.get_mut(cpu))?;
        b.findings.clear();
        b.dropped = [0; Rule::ALL.len()];
        b.mapped.clear();
        b.mapped.resize(self.rows, [0; 3], GFP_KERNEL)?;
        b.alloc_failed = false;
        b.checked = false;
        // `check_reference` gave every CPU that walked its own map.
        if b.map.is_none() {
            return Err(EINVAL);
        }
        Ok(())
    }

    fn run(&self, cpu: usize) {
        let mut me = self.crew.claim(cpu);
        let Some(b) = own_buffers(&self.cpus, &mut me) else {
            return;
        };
        let Some(map) = b.map.take() else {
            return;
        };
        b.checked = true;
        while let Some(mut claim) = self.parts.claim() {
            let first = b.findings.len();
            match Self::part(&claim) {
                Part::Chunk(chunk) => self.check_chunk(&map, chunk, b),
                Part::Side => self.run_side(&map, &mut claim, b),
            }
            // One slot per part: a part without one would lose its
            // findings, so the scan fails instead.
            match self.spans.slot(&mut claim) {
                Some(span) => *span = ItemSpan::of(cpu as u32, first..b.findings.len()),
                None => b.alloc_failed = true,
            }
            cond_resched();
        }
        b.map = Some(map);
    }
}

/// Phases 2, 3 and 4 in one job on every online CPU ([`RulesJob`]): the
/// per-range rules on the reference's ranges, and the bytes mapped per
/// region, beside the `side` tasks (System RAM against the direct map, the
/// other tables); their findings joined in that order into `findings`.
/// Returns each side task's time, and where each side task's findings
/// start (`window::Parts`: `per_range`, `tables`).
pub(super) fn check_reference<'s>(
    map: &LiveMap<'static>,
    ranges: &Joining<'_>,
    pool: &mut CpuPool,
    spans: &mut VVec<ItemSpan>,
    side: [&'s mut (dyn SideTask + Send + 's); 2],
    findings: &mut Findings,
    mapped: &mut KVec<[u64; 3]>,
) -> Result<([u64; 2], [usize; 2])> {
    // Kernel text lies in the kernel image map, at the top of the half:
    // the end of the join, taken before it is made.
    let mut text = TextAliases::default();
    walk::joined_from(
        ranges.spans,
        |cpu| ranges.list(cpu, false),
        START_KERNEL_MAP,
        |range| text.note(map, range),
    )
    .ok_or(EIO)?;
    let chunks = ranges.most.div_ceil(RULES_CHUNK);
    spans.clear();
    let mut side = side.map(|task| Side {
        task,
        outcome: Ok(0),
    });
    let tasks = RulesJob::SIDE_TASKS;
    spans.resize(tasks + chunks, ItemSpan::default(), GFP_KERNEL)?;
    let parts = Parts::new(tasks + chunks);
    give_maps(&mut pool.buffers, map)?;
    let crew = Workers::new(&mut pool.taken);
    let mut job = RulesJob {
        text: &text,
        ranges,
        crew: &crew,
        cpus: PerPart::of_workers(&crew, &mut pool.buffers),
        parts: &parts,
        spans: PerPart::of_parts(&parts, spans),
        side: PerPart::of_parts(&parts, &mut side),
        rows: mapped.len(),
    };
    pool.workers.run(&mut job)?;
    let checked = || pool.buffers.iter().flatten().filter(|b| b.checked);
    if checked().any(|b| b.alloc_failed) {
        return Err(ENOMEM);
    }
    let mut side_ns = [0; 2];
    for (ns, done) in side_ns.iter_mut().zip(&side) {
        *ns = done.outcome?;
    }
    // Findings in output order: the chunks' (address order), then the side
    // tasks' (`window::Parts`).
    let mut starts = [0; 2];
    for (i, span) in Iterator::chain(spans[tasks..].iter(), &spans[..tasks]).enumerate() {
        if let Some(start) = i.checked_sub(chunks).and_then(|task| starts.get_mut(task)) {
            *start = findings.list.len();
        }
        let list = pool
            .buffers
            .get(span.list as usize)
            .and_then(Option::as_ref)
            .and_then(|b| b.findings.get(span.first as usize..span.end as usize))
            .ok_or(EIO)?;
        for f in list {
            findings.push(*f)?;
        }
    }
    for b in checked() {
        for (rule, n) in Rule::ALL.iter().zip(b.dropped) {
            findings.tally.omit(*rule, n);
        }
        for (all, part) in mapped.iter_mut().zip(b.mapped.iter()) {
            for (a, p) in all.iter_mut().zip(part) {
                *a += p;
            }
        }
    }
    Ok((side_ns, starts))
}

/// Give every CPU's buffers their own copy of `map`, unless they hold one
/// of the same documented map already (the live bases never change, so it
/// resolved the same). Not inlined: the copy is made on this frame's
/// stack, which is gone when the job runs.
#[inline(never)]
fn give_maps(buffers: &mut [Option<CpuBuffers>], map: &LiveMap<'static>) -> Result {
    for b in buffers.iter_mut().flatten() {
        match &mut b.map {
            Some(mine) if core::ptr::eq(mine.doc(), map.doc()) => {}
            Some(mine) => **mine = map.clone(),
            None => b.map = Some(KBox::new(map.clone(), GFP_KERNEL)?),
        }
    }
    Ok(())
}

/// Phase 3, the rules job's first side task: the join of the walk's lists
/// ([`Joining`]), then System RAM against the direct map
/// (`check::system_ram`) on what it joined.
pub(super) struct JoinThenRam<'a> {
    joining: &'a Joining<'a>,
    scope: Scope<'a>,
    /// Once done: the ranges and cleared stretches joined, and the join's
    /// time.
    pub(super) joined: (usize, usize),
    pub(super) join_ns: u64,
}

impl<'a> JoinThenRam<'a> {
    /// The join, then System RAM, for `scope`'s scan.
    pub(super) fn new(joining: &'a Joining<'a>, scope: Scope<'a>) -> Self {
        JoinThenRam {
            joining,
            scope,
            joined: (0, 0),
            join_ns: 0,
        }
    }
}

impl SideTask for JoinThenRam<'_> {
    fn check(
        &mut self,
        map: &LiveMap<'_>,
        _: &TextAliases,
        scratch: &mut Scratch,
        findings: &mut Findings,
    ) -> Result {
        let start = Clock::now();
        self.joined = self.joining.join().ok_or(EIO)?;
        self.join_ns = ns_since(start);
        let joined = (
            self.joining.ranges.all().ok_or(EIO)?,
            self.joining.cleared.all().ok_or(EIO)?,
        );
        check_ram(map, self.scope, joined, scratch, findings)
    }
}

/// System RAM (`scope.ram`) against the direct map of the reference's
/// `ranges` and `cleared` stretches (`check::system_ram`), into
/// `findings`.
pub(super) fn check_ram(
    map: &LiveMap<'_>,
    scope: Scope<'_>,
    lists: (&[Range], &[Range]),
    scratch: &mut Scratch,
    findings: &mut Findings,
) -> Result {
    let target = Target {
        walk: scope.walk,
        map,
        reference: scope.reference,
        page_offset_base: scope.live.page_offset_base,
        ram: scope.ram,
    };
    let mut src = DirectMap::new(target.page_offset_base);
    let relax = &mut || cond_resched();
    check::system_ram(target, lists, (&mut src, scratch), relax, findings).map_err(|_| ENOMEM)
}
