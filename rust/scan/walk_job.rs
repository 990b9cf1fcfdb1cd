// SPDX-License-Identifier: GPL-2.0

//! The walk job: the reference's kernel half walked on every online CPU,
//! its work items claimed in batches.

use core::sync::atomic::{AtomicU64, Ordering};

use kernel::{
    alloc::{KVec, VVec},
    prelude::*,
};

use crate::helpers::{cond_resched, copy_active_table, ns_since, Clock, KernelHalf, PerCpu};
use crate::vmlayout_core::{
    batch::BatchSink,
    layout::Live,
    pte::ENTRIES,
    sync::{audit_half, differing_slots, Audit},
    walk::{ItemSpan, Range, Scratch, TableSource, Top, Walk, WorkItem},
    work::{BatchQueue, Claim, PerPart, Workers},
};

use super::reader::{reference_half, DirectMap};
use super::workspace::{CpuBuffers, CpuStats, Workspace};

/// The work items as the workers take them (`work::BatchQueue`). A rescan
/// splits in the first worker to start, into room for twice the last
/// walk's items, while the other workers already walk the items made so
/// far: the split (reading every PMD table) no longer holds up the walk.
/// The first scan, and a rescan whose room ran out, split before the
/// workers start.
pub(super) struct ItemQueue<'a> {
    queue: BatchQueue<'a, WorkItem>,
    /// What is left to split, by the queue's producer.
    split: Option<Top<'a>>,
    /// Tables the split read, and its time.
    tables: AtomicU64,
    split_ns: AtomicU64,
}

impl ItemQueue<'_> {
    /// Split into the queue, if no other worker has started to.
    fn split_if_first(&self, walk: &Walk, src: &mut DirectMap, scratch: &mut Scratch) {
        let Some(top) = self.split else { return };
        let Some(mut producer) = self.queue.producer() else {
            return;
        };
        let start = Clock::now();
        let tables = walk.split(top, src, scratch, &mut |item| producer.push(item));
        self.tables.store(tables, Ordering::Relaxed);
        self.split_ns.store(ns_since(start), Ordering::Relaxed);
        // Dropping the producer ends the queue.
    }
}

/// Items a worker claims at once, walks in one go and reports as one span
/// of its lists: the claim, the span and the reschedule point cost once
/// per batch, not per table, and the batch is still small enough to keep
/// the workers balanced (2,000 items at 4 GiB).
const ITEMS_PER_CLAIM: usize = 8;

/// A CPU's buffers, made the first time that CPU takes part (in
/// `PerCpu::prepare`, before any worker runs).
pub(super) fn prepare_buffers(slot: Option<&mut Option<CpuBuffers>>) -> Result<&mut CpuBuffers> {
    let slot = slot.ok_or(EINVAL)?;
    if slot.is_none() {
        *slot = Some(CpuBuffers::new()?);
    }
    slot.as_mut().ok_or(ENOMEM)
}

/// The buffers of the CPU whose worker holds `me`.
pub(super) fn own_buffers<'c>(
    cpus: &'c PerPart<'_, '_, Option<CpuBuffers>>,
    me: &'c mut Option<Claim<'_>>,
) -> Option<&'c mut CpuBuffers> {
    cpus.slot(me.as_mut()?)?.as_mut()
}

/// Shared by every CPU during the walk.
struct WalkJob<'a, 'q> {
    walk: Walk,
    items: &'q ItemQueue<'a>,
    page_offset_base: u64,
    reference: u64,
    /// The reference's kernel half, read before the walk.
    reference_half: &'a KernelHalf,
    ldt_slot: usize,
    /// Each CPU's buffers, its worker's alone.
    crew: &'q Workers<'a>,
    cpus: PerPart<'a, 'q, Option<CpuBuffers>>,
    /// The start of the walk, for each worker's `start_ns`.
    started: Clock,
    /// `Workspace::spans` and `cleared_spans`, one slot per batch, written
    /// by the worker that claimed the batch.
    spans: PerPart<'a, 'q, ItemSpan>,
    cleared_spans: PerPart<'a, 'q, ItemSpan>,
}

impl WalkJob<'_, '_> {
    /// Audit this CPU's active table: compare it with the reference, and
    /// read both again while they differ, a bounded number of times, so
    /// that a table switched or synced meanwhile is not reported. Not
    /// inlined: its 2 KiB copy of the reference's half is off the stack
    /// before the walk, whose frames are deep, starts.
    #[inline(never)]
    fn audit_active_table(&self, b: &mut CpuBuffers) {
        b.unsynced.clear();
        let mut ours: KernelHalf = *self.reference_half;
        let (stats, reference) = (&mut b.stats, self.reference);
        let audit = audit_half(
            &mut ours,
            &mut b.active,
            self.ldt_slot,
            |ours| reference_half(self.page_offset_base, reference, ours),
            |theirs| {
                stats.cr3 = copy_active_table(theirs);
                stats.cr3 != reference
            },
            cond_resched,
        );
        b.resynced = audit == (Audit::Same { resynced: true });
        // An unreadable reference tells nothing about this CPU.
        if audit != Audit::Differs {
            return;
        }
        for slot in differing_slots(&ours[..], &b.active[..], self.ldt_slot) {
            // Room for every slot is reserved in `prepare`.
            let _ = b.unsynced.push_within_capacity((slot, b.active[slot]));
        }
    }
}

impl PerCpu for WalkJob<'_, '_> {
    const POOLED: bool = false;

    fn prepare(&mut self, cpu: usize) -> Result {
        let b = prepare_buffers(self.cpus.get_mut(cpu))?;
        b.lists.ranges.clear();
        b.lists.cleared.clear();
        b.alloc_failed = false;
        b.unsynced.reserve(ENTRIES / 2, GFP_KERNEL)?;
        b.stats = CpuStats {
            cpu,
            ..CpuStats::default()
        };
        Ok(())
    }

    /// Claim work items in address order, a batch at a time, until none
    /// are left. Preemptible: reschedules between batches; nothing per
    /// entry but the walk itself.
    fn run(&self, cpu: usize) {
        let mut me = self.crew.claim(cpu);
        let Some(b) = own_buffers(&self.cpus, &mut me) else {
            return;
        };
        let start = Clock::now();
        b.stats.start_ns = ns_since(self.started);
        b.stats.ran = true;
        let mut src = DirectMap::new(self.page_offset_base);
        self.items
            .split_if_first(&self.walk, &mut src, &mut b.scratch);
        self.audit_active_table(b);
        let scratch = &mut *b.scratch;
        let mut sink = BatchSink::new(
            &mut b.lists.ranges,
            &mut b.lists.cleared,
            &mut b.stats.walk,
            self.walk.phys_mask,
        );
        let spans_kept = sink.walk_batches(
            &self.walk,
            &self.items.queue,
            [&self.spans, &self.cleared_spans],
            cpu as u32,
            (&mut src, scratch),
            cond_resched,
        );
        // There is a slot per item, more than one per batch: a batch
        // without one would be a wrong join, so the scan fails instead.
        b.alloc_failed = sink.no_room() || !spans_kept;
        b.stats.ranges = b.lists.ranges.len() as u64;
        b.stats.ns = ns_since(start);
    }
}

/// A CPU whose active table differed from the reference in the walk.
pub(crate) struct UnsyncedCpu {
    pub(crate) cpu: usize,
    pub(crate) slots: KVec<(usize, u64)>,
}

/// The merged result of one walk.
pub(crate) struct Walked {
    /// Coalesced ranges in address order (joined by the rules job: empty,
    /// with room for them, until then).
    pub(crate) ranges: VVec<Range>,
    /// Stretches whose entries have their present bit cleared, in order
    /// (joined as `ranges` is).
    pub(crate) cleared: VVec<Range>,
    /// The CPUs that walked, in CPU order.
    pub(crate) cpus: VVec<CpuStats>,
    /// CPUs whose active table still differed from the reference.
    pub(crate) unsynced: KVec<UnsyncedCpu>,
    /// CPUs whose active table differed at first, then agreed.
    pub(crate) resynced: u32,
    /// Tables read while splitting the work, the top-level one included.
    pub(crate) setup_tables: u64,
    /// Work items.
    pub(crate) items: usize,
    /// Whole walk, including the split.
    pub(crate) ns: u64,
    /// The split (reading the upper tables into work items), and the join
    /// of the workers' lists (a task of the rules job).
    pub(crate) split_ns: u64,
    pub(crate) merge_ns: u64,
}

/// Walk the kernel half of the table at `reference` on every online CPU:
/// split it into work items here, walk them in per-CPU workers, merge.
/// Each worker also audits its CPU's active top-level table.
pub(crate) fn walk_parallel(
    walk: Walk,
    live: &Live,
    reference: u64,
    ws: &mut Workspace,
) -> Result<Walked> {
    let start = Clock::now();
    let page_offset_base = live.page_offset_base;
    let mut src = DirectMap::new(page_offset_base);
    if !src.copy_table(reference, &mut ws.root) {
        return Err(EIO);
    }
    let mut reference_copy: KBox<KernelHalf> = KBox::zeroed(GFP_KERNEL)?;
    for (ours, entry) in reference_copy.iter_mut().zip(&ws.root[ENTRIES / 2..]) {
        *ours = *entry;
    }
    let (overlap, room, tables) = make_room(walk, reference, &mut src, ws)?;
    let split_ns = ns_since(start);
    let queue = if overlap {
        BatchQueue::empty(&mut ws.items.spare_capacity_mut()[..room], ITEMS_PER_CLAIM)
    } else {
        BatchQueue::full(&mut ws.items[..], ITEMS_PER_CLAIM)
    };
    let items = ItemQueue {
        queue,
        split: overlap.then(|| Top::kernel_half(reference, &ws.root)),
        tables: AtomicU64::new(tables),
        split_ns: AtomicU64::new(split_ns),
    };
    let crew = Workers::new(&mut ws.pool.taken);
    let mut job = WalkJob {
        walk,
        items: &items,
        page_offset_base,
        reference,
        reference_half: &reference_copy,
        ldt_slot: walk.top.index(live.ldt_base()),
        crew: &crew,
        cpus: PerPart::of_workers(&crew, &mut ws.pool.buffers),
        started: start,
        spans: PerPart::of_batches(&items.queue, &mut ws.spans),
        cleared_spans: PerPart::of_batches(&items.queue, &mut ws.cleared_spans),
    };
    ws.pool.workers.run(&mut job)?;
    let made = items.queue.made();
    let batches = items.queue.batches(made);
    let (tables, split_ns) = (
        items.tables.load(Ordering::Relaxed),
        items.split_ns.load(Ordering::Relaxed),
    );
    if items.queue.overflowed() {
        // The tables grew past the room since the last walk: again, the
        // split first (it cannot run out of room).
        ws.last_items = 0;
        return walk_parallel(walk, live, reference, ws);
    }
    if overlap {
        // SAFETY: every item below `made` was written by the split (the
        // queue's producer) and the workers are done. (With the split done
        // first, the items vector already holds them.)
        unsafe { ws.items.inc_len(made) };
    }
    ws.spans.truncate(batches);
    ws.cleared_spans.truncate(batches);
    ws.last_items = made;
    let mut walked = collect_walked(ws)?;
    walked.setup_tables = 1 + tables;
    walked.split_ns = split_ns;
    walked.ns = ns_since(start);
    Ok(walked)
}

/// Room for the work items and their spans. A rescan splits while the
/// workers walk, into room for twice the last walk's items; the first scan
/// (or a rescan after the room ran out) splits here first, into the items
/// vector. Returns whether the split overlaps the walk, the room, and the
/// tables a split here read.
fn make_room(
    walk: Walk,
    reference: u64,
    src: &mut DirectMap,
    ws: &mut Workspace,
) -> Result<(bool, usize, u64)> {
    ws.items.clear();
    let overlap = ws.last_items > 0;
    let mut tables = 0;
    let room = if overlap {
        let room = ws.last_items.saturating_mul(2).saturating_add(4096);
        ws.items.reserve(room, GFP_KERNEL)?;
        room
    } else {
        let mut alloc_err = Ok(());
        tables = walk.split(
            Top::kernel_half(reference, &ws.root),
            src,
            &mut ws.scratch,
            &mut |item| {
                if alloc_err.is_ok() {
                    alloc_err = ws.items.push(item, GFP_KERNEL);
                }
            },
        );
        alloc_err?;
        ws.items.len()
    };
    for spans in [&mut ws.spans, &mut ws.cleared_spans] {
        spans.clear();
        spans.resize(room, ItemSpan::default(), GFP_KERNEL)?;
    }
    Ok((overlap, room, tables))
}

/// What the CPUs that walked left in their buffers, with room for the
/// join (which the rules job makes: `Joining`); the walk's times and table
/// count are the caller's to fill in.
fn collect_walked(ws: &mut Workspace) -> Result<Walked> {
    let ran = || ws.pool.buffers.iter().flatten().filter(|b| b.stats.ran);
    if ran().any(|b| b.alloc_failed) {
        return Err(ENOMEM);
    }
    let ranges = reuse(core::mem::take(&mut ws.spare_ranges), listed(&ws.spans))?;
    let cleared = reuse(
        core::mem::take(&mut ws.spare_cleared),
        listed(&ws.cleared_spans),
    )?;
    let mut cpus = reuse(core::mem::take(&mut ws.spare_cpus), ran().count())?;
    let mut unsynced = KVec::new();
    let mut resynced = 0;
    for b in ran() {
        // Room for every CPU that ran was reserved above.
        let _ = cpus.push_within_capacity(b.stats);
        resynced += u32::from(b.resynced);
        if !b.unsynced.is_empty() {
            let mut slots = KVec::with_capacity(b.unsynced.len(), GFP_KERNEL)?;
            slots.extend_from_slice(&b.unsynced, GFP_KERNEL)?;
            unsynced.push(
                UnsyncedCpu {
                    cpu: b.stats.cpu,
                    slots,
                },
                GFP_KERNEL,
            )?;
        }
    }
    // A CPU that is offline next time must not look as if it walked.
    for b in ws.pool.buffers.iter_mut().flatten() {
        b.stats.ran = false;
    }
    Ok(Walked {
        ranges,
        cleared,
        cpus,
        unsynced,
        resynced,
        setup_tables: 0,
        items: ws.items.len(),
        ns: 0,
        split_ns: 0,
        merge_ns: 0,
    })
}

/// `buffer`, emptied, with room for at least `need` elements: reused when
/// it has it, else a new one with a quarter more, so that a scan a little
/// larger than the last does not allocate again.
fn reuse<T>(mut buffer: VVec<T>, need: usize) -> Result<VVec<T>> {
    buffer.clear();
    if buffer.capacity() < need {
        buffer = VVec::with_capacity(need + need / 4, GFP_KERNEL)?;
    }
    Ok(buffer)
}

/// How many ranges the workers' lists hold in `spans`: the most their join
/// can make.
pub(super) fn listed(spans: &[ItemSpan]) -> usize {
    spans
        .iter()
        .map(|s| s.end.saturating_sub(s.first) as usize)
        .sum()
}
