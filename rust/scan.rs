// SPDX-License-Identifier: GPL-2.0

//! The scan: find the reference page table, walk its kernel half on every
//! online CPU at once, merge, and run the rules.
//!
//! Kernel glue only: the walk, the coalescing and the rules are in
//! `vmlayout_core`.

use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kernel::{alloc::KVec, alloc::VVec, bindings, prelude::*};

use crate::helpers::{
    cond_resched, copy_active_table, efi_memory_type, efi_table, is_cpu_tss_page, load_nofault,
    ns_since, pti_enabled, Clock, EfiTable, KernelHalf, OnEachCpu, PerCpu, Processes,
};
use crate::vmlayout_core::{
    batch::{BatchSink, NoRoom, RangeList, WalkCounts},
    direct_map::{DirectMapSeen, RamCheck},
    layout::{Live, START_KERNEL_MAP},
    map::DocMap,
    pte::{Effective, Level, PageTableEntry, Table, ENTRIES, PHYS_ADDR_MASK},
    rules::{
        check_range, efi_wx_verdict, nothing_fires, still_holds, Finding, LiveMap, Owner, Rule,
        Severity, TableKind, Tally, TextAliases,
    },
    sync::{audit_half, differing_slots, Audit},
    walk::{
        self, Coalescer, Concat, ItemSpan, Range, Scratch, TableReader, TableSource, Top, Walk,
        WalkSink, WorkItem,
    },
    work::{BatchQueue, Claim, Parts, PerPart, Published, Workers},
};

/// Reads table pages through the direct map with `copy_from_kernel_nofault`,
/// so a table freed or unmapped under the walk (DEBUG_PAGEALLOC) is reported
/// instead of faulting.
pub(crate) struct DirectMap {
    page_offset_base: u64,
}

impl DirectMap {
    /// Read through the direct map at `page_offset_base`.
    pub(crate) fn new(page_offset_base: u64) -> Self {
        DirectMap { page_offset_base }
    }

    /// Where the direct map shows the table page at physical `phys`: `None`
    /// if that would wrap past the top of the address space (a corrupt
    /// entry), so that every address returned is in the kernel half, where
    /// a fault goes to the exception table.
    #[inline(always)]
    fn table_address(&self, phys: u64) -> Option<*const u64> {
        let end = phys.checked_add(PAGE_MASK)?;
        self.page_offset_base.checked_add(end)?;
        Some((self.page_offset_base + (phys & !PAGE_MASK)) as *const u64)
    }
}

/// Offset bits within a table page.
const PAGE_MASK: u64 = core::mem::size_of::<Table>() as u64 - 1;

/// A table page read in place through the direct map, one
/// [`load_nofault`] per entry.
pub(crate) struct DirectTable {
    entries: *const u64,
    faulted: u64,
}

impl TableReader for DirectTable {
    #[inline(always)]
    fn entry(&mut self, index: usize) -> u64 {
        let index = index % ENTRIES;
        // SAFETY: `entries` is a page-aligned kernel-half address
        // (`DirectMap::table_address`) and `index` is within its page.
        unsafe { load_nofault(self.entries.add(index), &mut self.faulted) }
    }

    fn failed(&self) -> bool {
        self.faulted != 0
    }
}

impl TableSource for DirectMap {
    type Reader = DirectTable;

    #[inline(always)]
    fn read_entry(&mut self, table: u64, index: usize) -> Option<u64> {
        let mut reader = self.read_table(table)?;
        let entry = reader.entry(index);
        (!reader.failed()).then_some(entry)
    }

    #[inline(always)]
    fn read_table(&mut self, phys: u64) -> Option<DirectTable> {
        Some(DirectTable {
            entries: self.table_address(phys)?,
            faulted: 0,
        })
    }

    #[inline(always)]
    fn copy_table(&mut self, phys: u64, out: &mut Table) -> bool {
        self.copy_words(phys, &mut out[..])
    }
}

impl DirectMap {
    /// Copy `out.len()` words from physical `phys` through the direct map,
    /// fault-tolerant: `false` if any of it could not be read. The one
    /// copy of table memory (whole tables, a kernel half).
    fn copy_words(&self, phys: u64, out: &mut [u64]) -> bool {
        let src = self.page_offset_base.wrapping_add(phys) as *const c_void;
        // SAFETY: `out` is writable for its size; the source is only read
        // through the fault-tolerant copy, which validates it.
        unsafe {
            bindings::copy_from_kernel_nofault(
                out.as_mut_ptr().cast(),
                src,
                core::mem::size_of_val(out),
            ) == 0
        }
    }
}

/// The reference top-level table (`init_mm.pgd`, which is not exported):
/// switch a kernel thread to init_mm with `leave_mm()` and read CR3. The
/// result is verified twice: it must lie in the kernel image (where
/// `swapper_pg_dir` is; every other mm's table comes from the page
/// allocator), and walking it must reach the very entry `lookup_address()`,
/// which walks init_mm, returns for our own code.
pub(crate) fn reference_table(walk: &Walk, live: &Live) -> Result<u64> {
    let page_offset_base = live.page_offset_base;
    let table = crate::helpers::reference_table()?;
    let image = live
        .text_start
        .wrapping_sub(START_KERNEL_MAP)
        .wrapping_add(live.phys_base);
    if table < image || table > image + (live.text_end - live.text_start) {
        pr_warn!("the reference table ({table:#x}) is not in the kernel image\n");
        return Err(EIO);
    }
    // Verify: our own code must resolve, through this table, to the very
    // entry lookup_address() finds in init_mm's tables.
    let probe = reference_table as *const () as u64;
    let mut src = DirectMap { page_offset_base };
    let mut level = walk.top;
    let mut phys = table;
    let mut buf: KBox<Table> = KBox::zeroed(GFP_KERNEL)?;
    loop {
        if !src.copy_table(phys, &mut buf) {
            return Err(EIO);
        }
        let index = level.index(probe);
        let entry = buf[index];
        if PageTableEntry(entry).ends_walk(level) {
            let ours = page_offset_base + phys + index as u64 * 8;
            let theirs = crate::live::lookup_entry(probe);
            if theirs != Some(ours) {
                pr_warn!("reference table {table:#x} does not agree with lookup_address()\n");
                return Err(EIO);
            }
            return Ok(table);
        }
        phys = entry & walk.phys_mask;
        level = match level.below() {
            Some(l) => l,
            None => return Err(EIO),
        };
    }
}

/// Counters of one CPU's walk.
#[derive(Clone, Copy, Default)]
pub(crate) struct CpuStats {
    /// The CPU.
    pub(crate) cpu: usize,
    /// Whether the CPU took part.
    pub(crate) ran: bool,
    /// Its active top-level table while it walked.
    pub(crate) cr3: u64,
    /// What its walk counted.
    pub(crate) walk: WalkCounts,
    /// Ranges it produced.
    pub(crate) ranges: u64,
    /// Walk time.
    pub(crate) ns: u64,
    /// When it started, from the start of the walk (the split and the
    /// wake-up before it).
    pub(crate) start_ns: u64,
}

/// One CPU's scratch and output, kept from scan to scan.
struct CpuBuffers {
    ranges: VVec<Range>,
    /// Runs of entries whose present bit is cleared (see `WalkSink::cleared`).
    cleared: VVec<Range>,
    alloc_failed: bool,
    scratch: KBox<Scratch>,
    /// The kernel half of its active top-level table, as it walked.
    active: KBox<KernelHalf>,
    /// Top-level slots that still differed from the reference after
    /// [`AUDIT_RETRIES`](crate::vmlayout_core::sync::AUDIT_RETRIES) reads: (slot, its entry).
    unsynced: KVec<(usize, u64)>,
    /// Whether its table differed at first but not when read again.
    resynced: bool,
    stats: CpuStats,
    /// The rules phase: findings of the chunks it checked (at most
    /// [`FINDINGS_PER_RULE`](crate::vmlayout_core::rules::FINDINGS_PER_RULE) per rule per chunk), how many it left out per
    /// rule, bytes mapped per documented row and level.
    findings: VVec<Finding>,
    dropped: [u64; Rule::ALL.len()],
    mapped: KVec<[u64; 3]>,
    checked: bool,
}

impl CpuBuffers {
    fn new() -> Result<Self> {
        Ok(CpuBuffers {
            ranges: VVec::with_capacity(1024, GFP_KERNEL)?,
            cleared: VVec::with_capacity(256, GFP_KERNEL)?,
            alloc_failed: false,
            scratch: KBox::zeroed(GFP_KERNEL)?,
            active: KBox::zeroed(GFP_KERNEL)?,
            unsynced: KVec::new(),
            resynced: false,
            stats: CpuStats::default(),
            findings: VVec::new(),
            dropped: [0; Rule::ALL.len()],
            mapped: KVec::new(),
            checked: false,
        })
    }
}

/// A worker per online CPU (see [`OnEachCpu`]) and each CPU's buffers.
struct CpuPool {
    workers: OnEachCpu,
    /// Per possible CPU, allocated when the CPU first takes part.
    buffers: VVec<Option<CpuBuffers>>,
    /// Per possible CPU, whether its worker has its buffers in the job
    /// running now ([`Workers`]).
    taken: VVec<AtomicBool>,
}

/// Buffers the walk reuses from one scan to the next, so that once they
/// have grown to fit, a rescan allocates only its result. Every buffer is
/// vmalloc'd or at most four pages, whatever the machine's size.
pub(crate) struct Workspace {
    items: VVec<WorkItem>,
    pool: CpuPool,
    root: KBox<Table>,
    scratch: KBox<Scratch>,
    /// Where each batch of work items' ranges and cleared stretches lie
    /// in the list of the worker that walked it (one slot per batch, room
    /// for one per item).
    spans: VVec<ItemSpan>,
    cleared_spans: VVec<ItemSpan>,
    /// Each CPU's two lists as the join reads them ([`ListView`]).
    views: VVec<ListView>,
    /// Where each rules chunk's findings lie in its worker's list.
    rule_spans: VVec<ItemSpan>,
    /// Work items of the last walk: a rescan makes room for twice as many
    /// and splits while the workers walk (see [`ItemQueue`]).
    last_items: usize,
    /// The result buffers of the scan before last, given back by
    /// [`Workspace::recycle`] once a newer scan replaced it: a rescan
    /// fills them again instead of allocating. (vmalloc and vfree were most
    /// of what the merge cost: their vmap and lazy TLB flushes took 0.5 to
    /// 6 ms per scan.)
    spare_ranges: VVec<Range>,
    spare_cleared: VVec<Range>,
    spare_cpus: VVec<CpuStats>,
    spare_findings: VVec<Finding>,
    /// The process audit's buffers, kept from scan to scan.
    audit: AuditBuffers,
    /// The documented map resolved against the live bases, which are read
    /// once, at load: kept for the next scan of the same map (boxed: it
    /// is 2 KiB, and the scan's stack is deep).
    live_map: Option<KBox<LiveMap<'static>>>,
}

impl Workspace {
    /// Keep a replaced scan's walk buffers for the next rescan.
    pub(crate) fn recycle(&mut self, old: Scan) {
        let Walked {
            ranges,
            cleared,
            cpus,
            ..
        } = old.walked;
        self.spare_ranges = ranges;
        self.spare_cleared = cleared;
        self.spare_cpus = cpus;
        self.spare_findings = old.findings.list;
    }

    /// `doc` resolved against `live`: the last scan's, if it was of the
    /// same map (give it back with [`Workspace::keep_live_map`]).
    // Not inlined: the 2 KiB it builds stays off the scan's deep stack.
    #[inline(never)]
    fn take_live_map(
        &mut self,
        doc: &'static DocMap<'static>,
        live: &Live,
    ) -> Result<KBox<LiveMap<'static>>> {
        match self.live_map.take() {
            Some(map) if core::ptr::eq(map.doc(), doc) => Ok(map),
            _ => Ok(KBox::new(LiveMap::new(doc, live), GFP_KERNEL)?),
        }
    }

    fn keep_live_map(&mut self, map: KBox<LiveMap<'static>>) {
        self.live_map = Some(map);
    }

    pub(crate) fn new() -> Result<Self> {
        let ncpus = kernel::cpu::nr_cpu_ids() as usize;
        let mut cpus = VVec::with_capacity(ncpus, GFP_KERNEL)?;
        let mut taken = VVec::with_capacity(ncpus, GFP_KERNEL)?;
        for _ in 0..ncpus {
            cpus.push(None, GFP_KERNEL)?;
            taken.push(AtomicBool::new(false), GFP_KERNEL)?;
        }
        Ok(Workspace {
            items: VVec::new(),
            pool: CpuPool {
                buffers: cpus,
                taken,
                workers: OnEachCpu::new()?,
            },
            root: KBox::zeroed(GFP_KERNEL)?,
            scratch: KBox::zeroed(GFP_KERNEL)?,
            spans: VVec::new(),
            cleared_spans: VVec::new(),
            views: VVec::new(),
            rule_spans: VVec::new(),
            last_items: 0,
            spare_ranges: VVec::new(),
            spare_cleared: VVec::new(),
            spare_cpus: VVec::new(),
            spare_findings: VVec::new(),
            audit: AuditBuffers {
                ours: KBox::zeroed(GFP_KERNEL)?,
                theirs: KBox::zeroed(GFP_KERNEL)?,
                whole: KBox::zeroed(GFP_KERNEL)?,
                user: KBox::zeroed(GFP_KERNEL)?,
            },
            live_map: None,
        })
    }
}

/// `VVec` as the batch sink's list.
impl RangeList for VVec<Range> {
    fn len(&self) -> usize {
        VVec::len(self)
    }
    fn last(&self) -> Option<&Range> {
        self.as_slice().last()
    }
    fn last_mut(&mut self) -> Option<&mut Range> {
        self.as_mut_slice().last_mut()
    }
    fn truncate(&mut self, len: usize) {
        VVec::truncate(self, len)
    }
    /// In place while there is room, else through `push`: the kernel
    /// `Vec`'s `push` is two calls (`reserve` and the write) that the
    /// compiler keeps out of line.
    #[inline(always)]
    fn push(&mut self, range: Range) -> core::result::Result<(), NoRoom> {
        if let Some(slot) = self.spare_capacity_mut().first_mut() {
            slot.write(range);
            // SAFETY: the slot just written is the first one past the length.
            unsafe { self.inc_len(1) };
            return Ok(());
        }
        VVec::push(self, range, GFP_KERNEL).map_err(|_| NoRoom)
    }
}

/// Ranges of a table other than the reference, and whose table it is.
pub(crate) struct OtherTable {
    pub(crate) table: TableKind,
    pub(crate) owner: Owner,
    pub(crate) ranges: VVec<Range>,
}

/// Most mms whose LDT remap slot `map` shows (the rules see them all).
const LDT_TABLES_SHOWN: u32 = 16;

/// Collects the ranges of a walk of a few entries of another table (EFI's,
/// an mm's LDT slot), walked in this thread: they are small.
struct ListSink<'a> {
    phys_mask: u64,
    coalescer: Coalescer,
    ranges: &'a mut VVec<Range>,
    alloc_failed: bool,
}

impl ListSink<'_> {
    fn emit(&mut self, range: Option<Range>) {
        if let Some(done) = range {
            if self.ranges.push(done, GFP_KERNEL).is_err() {
                self.alloc_failed = true;
            }
        }
    }
}

impl WalkSink for ListSink<'_> {
    fn leaf(&mut self, va: u64, level: Level, entry: u64, count: u64, effective: Effective) {
        let leaves = Range::leaf(va, level, entry, count, effective, self.phys_mask);
        let done = self.coalescer.push(leaves);
        self.emit(done);
    }
    fn table(&mut self, _: Level) {}
    fn shared(&mut self, _: Level, _: u64) {}
    // A table that changed or went away under this walk shows as missing
    // ranges; the rules judge what was read, never what was not.
    fn unreadable(&mut self, _: u64, _: Level, _: u64) {}
    fn changed(&mut self, _: u64, _: Level) {}
    fn cleared(&mut self, _: u64, _: Level, _: u64) {}
}

/// Walk entries `slots` of the top-level table at `phys` (copied in `top`).
fn walk_slots(
    walk: &Walk,
    src: &mut DirectMap,
    scratch: &mut Scratch,
    phys: u64,
    top: &Table,
    slots: impl Iterator<Item = usize>,
) -> Result<VVec<Range>> {
    let mut ranges = VVec::new();
    let mut sink = ListSink {
        phys_mask: walk.phys_mask,
        coalescer: Coalescer::default(),
        ranges: &mut ranges,
        alloc_failed: false,
    };
    for slot in slots {
        let part = Top {
            phys,
            table: top,
            first: slot,
            end: slot + 1,
        };
        walk.walk_top(part, src, scratch, &mut sink);
        cond_resched();
    }
    let last = sink.coalescer.finish();
    sink.emit(last);
    if sink.alloc_failed {
        return Err(ENOMEM);
    }
    Ok(ranges)
}

/// The rules on another table's ranges; the findings name its owner.
fn check_other(
    map: &LiveMap<'_>,
    text: &TextAliases,
    other: &OtherTable,
    findings: &mut Findings,
) -> Result {
    for range in other.ranges.iter() {
        for mut f in check_range(map, text, other.table, range) {
            // PTI also maps each possible CPU's TSS page, in the direct map
            // (the SYSCALL entry's scratch word): the rules cannot know
            // where the per-CPU areas are, this kernel can.
            if f.rule == Rule::PtiLeak && f.range.size() == 4096 && is_cpu_tss_page(f.range.start) {
                continue;
            }
            f.owner = other.owner;
            findings.push(f)?;
        }
    }
    Ok(())
}

/// EFI's table: its entries that differ from the reference's (the EFI
/// window's, the 1:1 map's), walked and checked.
fn scan_efi(
    walk: &Walk,
    live: &Live,
    reference: &Table,
    scratch: &mut Scratch,
    map: &LiveMap<'_>,
    text: &TextAliases,
    findings: &mut Findings,
) -> Result<Option<OtherTable>> {
    let EfiTable::At { phys, memattr } = efi_table() else {
        return Ok(None);
    };
    let mut src = DirectMap::new(live.page_offset_base);
    let ours = findings.list.len();
    let mut efi: KBox<Table> = KBox::zeroed(GFP_KERNEL)?;
    if !src.copy_table(phys, &mut efi) {
        return Err(EIO);
    }
    let slots = (0..ENTRIES).filter(|&i| efi[i] != 0 && efi[i] != reference[i]);
    let other = OtherTable {
        table: TableKind::Efi { memattr },
        owner: Owner::Efi,
        ranges: walk_slots(walk, &mut src, scratch, phys, &efi, slots)?,
    };
    check_other(map, text, &other, findings)?;
    // The rules cannot see what EFI memory a W+X mapping holds: look it up.
    for f in findings.list.iter_mut().skip(ours) {
        if f.rule == Rule::EfiWriteExec && f.severity != Severity::Info {
            let memory_type = efi_memory_type(f.range.phys);
            (f.severity, f.reason) = efi_wx_verdict(memattr, memory_type);
        }
    }
    Ok(Some(other))
}

/// With PTI, a top-level table's user-mode copy is the page after it.
const USER_TABLE_OFFSET: u64 = 4096;

/// The reference's user-mode table (PTI), kernel half: walked and checked;
/// returns it with its copy, which every mm's user table is held against.
fn scan_user(
    walk: &Walk,
    live: &Live,
    reference: u64,
    scratch: &mut Scratch,
    map: &LiveMap<'_>,
    text: &TextAliases,
    findings: &mut Findings,
) -> Result<(OtherTable, KBox<Table>)> {
    let mut src = DirectMap::new(live.page_offset_base);
    let mut user: KBox<Table> = KBox::zeroed(GFP_KERNEL)?;
    let phys = reference + USER_TABLE_OFFSET;
    if !src.copy_table(phys, &mut user) {
        return Err(EIO);
    }
    let slots = (ENTRIES / 2..ENTRIES).filter(|&i| user[i] != 0);
    let other = OtherTable {
        table: TableKind::User,
        owner: Owner::UserTable,
        ranges: walk_slots(walk, &mut src, scratch, phys, &user, slots)?,
    };
    check_other(map, text, &other, findings)?;
    Ok((other, user))
}

/// The kernel half of the reference top-level table, read again.
fn reference_half(page_offset_base: u64, reference: u64, out: &mut KernelHalf) -> bool {
    let half = (ENTRIES as u64 / 2) * 8;
    DirectMap::new(page_offset_base).copy_words(reference + half, &mut out[..])
}

/// The work items as the workers take them (`work::BatchQueue`). A rescan
/// splits in the first worker to start, into room for twice the last
/// walk's items, while the other workers already walk the items made so
/// far: the split (reading every PMD table) no longer holds up the walk.
/// The first scan, and a rescan whose room ran out, split before the
/// workers start.
struct ItemQueue<'a> {
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

    /// The next batch of up to [`ITEMS_PER_CLAIM`] items: its index and
    /// its items' indices, once the split has made them (a preemptible
    /// wait: the split makes items ten times faster than they are walked);
    /// `None` when none is left.
    fn claim(&self) -> Option<(Claim<'_>, core::ops::Range<usize>)> {
        self.queue.claim(|| {
            cond_resched();
            core::hint::spin_loop();
        })
    }
}

/// Items a worker claims at once, walks in one go and reports as one span
/// of its lists: the claim, the span and the reschedule point cost once
/// per batch, not per table, and the batch is still small enough to keep
/// the workers balanced (2,000 items at 4 GiB).
const ITEMS_PER_CLAIM: usize = 8;

/// A CPU's buffers, made the first time that CPU takes part (in
/// `PerCpu::prepare`, before any worker runs).
fn prepare_buffers(slot: Option<&mut Option<CpuBuffers>>) -> Result<&mut CpuBuffers> {
    let slot = slot.ok_or(EINVAL)?;
    if slot.is_none() {
        *slot = Some(CpuBuffers::new()?);
    }
    slot.as_mut().ok_or(ENOMEM)
}

/// The buffers of the CPU whose worker holds `me`.
fn own_buffers<'c>(
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
    /// that a table switched or synced meanwhile is not reported.
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
        b.ranges.clear();
        b.cleared.clear();
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
            &mut b.ranges,
            &mut b.cleared,
            &mut b.stats.walk,
            self.walk.phys_mask,
        );
        let list = cpu as u32;
        let mut lost_span = false;
        while let Some((mut batch, items)) = self.items.claim() {
            let (first, cleared_first) = sink.start_batch();
            for item in items.filter_map(|i| self.items.queue.get(i)) {
                sink.walk_item(&self.walk, &item, &mut src, scratch);
            }
            let (end, cleared_end) = sink.ends();
            // There is a slot per item, more than one per batch: a batch
            // without one would be a wrong join, so the scan fails instead.
            for (spans, first, end) in [
                (&self.spans, first, end),
                (&self.cleared_spans, cleared_first, cleared_end),
            ] {
                match spans.slot(&mut batch) {
                    Some(span) => *span = ItemSpan::of(list, first..end),
                    None => lost_span = true,
                }
            }
            cond_resched();
        }
        b.alloc_failed = sink.no_room() || lost_span;
        b.stats.ranges = b.ranges.len() as u64;
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
fn listed(spans: &[ItemSpan]) -> usize {
    spans
        .iter()
        .map(|s| s.end.saturating_sub(s.first) as usize)
        .sum()
}

/// The walk configuration for the live paging mode.
pub(crate) fn walk_of(live: &Live) -> Walk {
    Walk {
        top: if live.paging.levels() == 5 {
            Level::Pgd
        } else {
            Level::P4d
        },
        phys_mask: PHYS_ADDR_MASK & !crate::live::memory_encryption_mask(),
    }
}

/// Time spent in each phase of a scan, for the benchmark's breakdown.
#[derive(Clone, Copy, Default)]
pub(crate) struct Phases {
    /// The parallel walk (`Walked::ns`).
    pub(crate) walk_ns: u64,
    /// The rules job: the per-range rules, beside the join of the walk's
    /// lists, System RAM and the other tables.
    pub(crate) rules_ns: u64,
    /// System RAM against the direct map.
    pub(crate) ram_ns: u64,
    /// The sync audit of every CPU's and every mm's top-level table.
    pub(crate) audit_ns: u64,
    /// The whole scan.
    pub(crate) total_ns: u64,
}

/// Findings of a scan, at most
/// [`FINDINGS_PER_RULE`](crate::vmlayout_core::rules::FINDINGS_PER_RULE) kept per rule.
pub(crate) struct Findings {
    pub(crate) list: VVec<Finding>,
    pub(crate) tally: Tally,
}

impl Findings {
    /// Empty, in the last scan's list (a vmalloc per growth costs
    /// tenths of a millisecond under emulation).
    fn new(mut list: VVec<Finding>) -> Self {
        list.clear();
        Findings {
            list,
            tally: Tally::default(),
        }
    }

    fn push(&mut self, finding: Finding) -> Result {
        if self.tally.admit(finding.rule) {
            self.list.push(finding, GFP_KERNEL)?;
        }
        Ok(())
    }
}

/// Everything a scan found.
pub(crate) struct Scan {
    pub(crate) walked: Walked,
    pub(crate) reference: u64,
    pub(crate) findings: Findings,
    /// Bytes mapped per documented row, by leaf level (4K, 2M, 1G).
    pub(crate) mapped: KVec<[u64; 3]>,
    /// CPUs whose active table was compared with the reference.
    pub(crate) checked_cpus: u32,
    /// Processes whose mm's table was compared with the reference.
    pub(crate) checked_mms: u32,
    /// Warn or error findings checked again before they were reported,
    /// and how many of them no longer held (reported as info).
    pub(crate) rechecked: u64,
    pub(crate) settled: u64,
    pub(crate) phases: Phases,
    /// Other tables walked: EFI's, and mms' LDT remap slots (at most
    /// `LDT_TABLES_SHOWN` of those).
    pub(crate) others: KVec<OtherTable>,
}

/// Check every warn or error finding about a leaf again against the
/// reference tables as they are now; one that no longer holds changed
/// during the scan and is reported as info. Returns (checked, settled).
fn recheck(walk: &Walk, live: &Live, reference: u64, findings: &mut Findings) -> (u64, u64) {
    let mut src = DirectMap::new(live.page_offset_base);
    let (mut checked, mut settled) = (0, 0);
    for f in findings.list.iter_mut() {
        // An mm's LDT slot is not in the reference: only the reference's
        // leaves (and EFI's copies of them) can be read again there.
        if f.severity == Severity::Info
            || !f.rule.is_about_a_leaf()
            || matches!(
                f.owner,
                Owner::Task(..) | Owner::TaskUser(..) | Owner::UserTable
            )
        {
            continue;
        }
        checked += 1;
        let now = walk.resolve(reference, f.range.start, &mut src);
        if !still_holds(f, now.as_ref()) {
            settled += 1;
            f.severity = Severity::Info;
            f.reason = "changed during the scan: no longer mapped as the walk saw it";
        }
    }
    (checked, settled)
}

/// The process audit's buffers: the reference's kernel half and an mm's,
/// an mm's whole top-level table as the walker takes it (only its LDT slot
/// is ever written, always the same slot, so the rest stays empty), and
/// an mm's user-mode (PTI) table.
struct AuditBuffers {
    ours: KBox<KernelHalf>,
    theirs: KBox<KernelHalf>,
    whole: KBox<Table>,
    user: KBox<Table>,
}

/// Ranges per rules chunk: small enough to balance the workers, large
/// enough that claiming one costs nothing next to checking it.
const RULES_CHUNK: usize = 256;

/// A CPU's two lists of the walk (`CpuBuffers::ranges` and `::cleared`) as
/// raw parts, for the join: the rules job's workers hold their CPU's
/// buffers while it runs, but do not touch these two.
#[derive(Clone, Copy)]
struct ListView {
    ranges: (*const Range, usize),
    cleared: (*const Range, usize),
}

// SAFETY: only dereferenced by the rules job, while the lists are alive and
// unchanged (read only, by any worker); the workspace keeps views only for
// the job's length (the scan empties them after it).
unsafe impl Send for ListView {}
// SAFETY: as above.
unsafe impl Sync for ListView {}

impl ListView {
    const EMPTY: Self = ListView {
        ranges: (core::ptr::NonNull::dangling().as_ptr(), 0),
        cleared: (core::ptr::NonNull::dangling().as_ptr(), 0),
    };

    /// Each possible CPU's lists, into `views` (reused).
    fn of_each(cpus: &[Option<CpuBuffers>], views: &mut VVec<ListView>) -> Result {
        views.clear();
        views.reserve(cpus.len(), GFP_KERNEL)?;
        for cpu in cpus {
            let view = cpu.as_ref().map_or(ListView::EMPTY, |b| ListView {
                ranges: (b.ranges.as_ptr(), b.ranges.len()),
                cleared: (b.cleared.as_ptr(), b.cleared.len()),
            });
            // Room was reserved above.
            let _ = views.push_within_capacity(view);
        }
        Ok(())
    }
}

/// The join of the workers' lists ([`walk::concat_items`]), made by the
/// rules job's first task ([`JoinThenRam`]) while the other workers check
/// what it has joined: the ranges that no later item can extend any more
/// are settled ([`Published`]), and a rules chunk waits until its ranges
/// are. So the join, serial, no longer comes between the walk and the
/// rules.
struct Joining<'a> {
    spans: &'a [ItemSpan],
    cleared_spans: &'a [ItemSpan],
    /// Per CPU, its lists.
    views: &'a [ListView],
    /// The joined ranges and cleared stretches, in room for at least as
    /// many as the workers' lists hold (the most the join can make).
    ranges: Published<'a, Range>,
    cleared: Published<'a, Range>,
    /// Ranges in the workers' lists.
    most: usize,
}

impl Joining<'_> {
    /// CPU `list`'s ranges, or its cleared stretches.
    fn list(&self, list: usize, cleared: bool) -> &[Range] {
        let view = self.views.get(list).copied().unwrap_or(ListView::EMPTY);
        let (ptr, len) = if cleared { view.cleared } else { view.ranges };
        // SAFETY: the parts of a live vector, which nothing grows or frees
        // while the job runs (`ListView`).
        unsafe { core::slice::from_raw_parts(ptr, len) }
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
            joined.append(chunk, writer.room_from(joined.window()))?;
            // SAFETY: `Concat` has written every range below its window
            // (it writes only from its last range on).
            unsafe { writer.settle(joined.window()) };
            cond_resched();
        }
        // SAFETY: all `len()` joined ranges are written.
        unsafe { writer.settle(joined.len()) };
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
/// ([`JoinThenRam`]), and the other tables ([`OtherTables`]).
trait SideTask {
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
    task: &'s mut (dyn SideTask + 's),
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
    /// Cloned by each worker (its lookups cache in a `Cell`); never used
    /// shared.
    map: &'a LiveMap<'a>,
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

// SAFETY: `map` is only cloned, by each worker into its own copy, and never
// used through the shared reference otherwise; every other field is `Sync`.
unsafe impl Sync for RulesJob<'_, '_, '_> {}

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
        for range in self.ranges.chunk(chunk) {
            let place = match nothing_fires(map, self.text, TableKind::Kernel, range) {
                Some(place) => place,
                None => {
                    for f in check_range(map, self.text, TableKind::Kernel, range) {
                        if tally.admit(f.rule) && b.findings.push(f, GFP_KERNEL).is_err() {
                            b.alloc_failed = true;
                        }
                    }
                    map.place(range.start).0
                }
            };
            if let Some(row) = place.row() {
                if let Some(bytes) = b.mapped.get_mut(row) {
                    bytes[range.level as usize - 1] += range.size();
                }
            }
        }
        for (all, now) in b.dropped.iter_mut().zip(tally.dropped()) {
            *all += now;
        }
    }

    /// Do the side task `claim` is for into `b`'s list.
    fn run_side(&self, map: &LiveMap<'_>, claim: &mut Claim<'_>, b: &mut CpuBuffers) {
        let Some(side) = self.side.slot(claim) else {
            return;
        };
        let mut findings = Findings {
            list: core::mem::take(&mut b.findings),
            tally: Tally::default(),
        };
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
        Ok(())
    }

    fn run(&self, cpu: usize) {
        let mut me = self.crew.claim(cpu);
        let Some(b) = own_buffers(&self.cpus, &mut me) else {
            return;
        };
        b.checked = true;
        let map = self.map.clone();
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
    }
}

/// Phases 2, 3 and 4 in one job on every online CPU ([`RulesJob`]): the
/// per-range rules on the reference's ranges, and the bytes mapped per
/// region, beside the `side` tasks (System RAM against the direct map, the
/// other tables); their findings joined in that order into `findings`.
/// Returns each side task's time.
fn check_reference<'s>(
    map: &LiveMap<'_>,
    ranges: &Joining<'_>,
    pool: &mut CpuPool,
    spans: &mut VVec<ItemSpan>,
    side: [&'s mut (dyn SideTask + 's); 2],
    findings: &mut Findings,
    mapped: &mut KVec<[u64; 3]>,
) -> Result<[u64; 2]> {
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
    let crew = Workers::new(&mut pool.taken);
    let mut job = RulesJob {
        map,
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
    // tasks'.
    for span in Iterator::chain(spans[tasks..].iter(), &spans[..tasks]) {
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
    Ok(side_ns)
}

/// Phase 3, the rules job's first side task: the join of the walk's lists
/// ([`Joining`]), then System RAM against the direct map
/// ([`DirectMapSeen::check_ram`]) on what it joined.
struct JoinThenRam<'a> {
    joining: &'a Joining<'a>,
    walk: &'a Walk,
    live: &'a Live,
    reference: u64,
    ram: &'a [(u64, u64)],
    /// Once done: the ranges and cleared stretches joined, and the join's
    /// time.
    joined: (usize, usize),
    join_ns: u64,
}

impl<'a> JoinThenRam<'a> {
    /// The join, then System RAM, in `scope` (the walk, the live bases,
    /// the reference table).
    fn new(
        joining: &'a Joining<'a>,
        scope: (&'a Walk, &'a Live, u64),
        ram: &'a [(u64, u64)],
    ) -> Self {
        let (walk, live, reference) = scope;
        JoinThenRam {
            joining,
            walk,
            live,
            reference,
            ram,
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
        let seen = DirectMapSeen {
            walk: self.walk,
            reference: self.reference,
            base: self.live.page_offset_base,
            ranges: joined.0,
            cleared: joined.1,
        };
        let ours = findings.list.len();
        let mut src = DirectMap::new(seen.base);
        let mut emit = |f| findings.push(f).map_err(|_| NoRoom);
        let mut out = RamCheck {
            map,
            src: &mut src,
            scratch,
            relax: &mut || cond_resched(),
            emit: &mut emit,
        };
        seen.check_ram(self.ram, &mut out).map_err(|_| ENOMEM)?;
        seen.recheck_missing(&mut findings.list[ours..], &mut src, scratch);
        Ok(())
    }
}

/// Phase 4, a side task of the rules job: the other tables. Every CPU's
/// active table (read by its worker during the walk) and every mm's
/// against the reference, kernel half; EFI's table; with PTI, the user-mode
/// tables; mms' LDT remap slots.
struct OtherTables<'a> {
    walk: &'a Walk,
    live: &'a Live,
    reference: u64,
    walked: &'a Walked,
    root: &'a Table,
    audit: &'a mut AuditBuffers,
    /// The tables walked, to be shown.
    tables: KVec<OtherTable>,
    /// How many mms were audited.
    mms: u32,
}

/// Check `other` (a table of an mm) and keep it to be shown if fewer than
/// [`LDT_TABLES_SHOWN`] of its kind are (`shown` counts them).
fn check_and_show(
    map: &LiveMap<'_>,
    text: &TextAliases,
    (shown_tables, shown): (&mut KVec<OtherTable>, &mut u32),
    other: OtherTable,
    findings: &mut Findings,
) -> Result {
    check_other(map, text, &other, findings)?;
    if *shown < LDT_TABLES_SHOWN {
        shown_tables.push(other, GFP_KERNEL)?;
        *shown += 1;
    }
    Ok(())
}

impl<'a> OtherTables<'a> {
    /// The other tables in `scope` (the walk, the live bases, the
    /// reference table), against the walk's result and the reference's copy.
    fn new(
        scope: (&'a Walk, &'a Live, u64),
        walked: &'a Walked,
        root: &'a Table,
        audit: &'a mut AuditBuffers,
    ) -> Self {
        let (walk, live, reference) = scope;
        OtherTables {
            walk,
            live,
            reference,
            walked,
            root,
            audit,
            tables: KVec::new(),
            mms: 0,
        }
    }
}

impl SideTask for OtherTables<'_> {
    fn check(
        &mut self,
        map: &LiveMap<'_>,
        text: &TextAliases,
        scratch: &mut Scratch,
        findings: &mut Findings,
    ) -> Result {
        let (walk, live, reference) = (self.walk, self.live, self.reference);
        for cpu in self.walked.unsynced.iter() {
            for &(slot, entry) in cpu.slots.iter() {
                let owner = Owner::Cpu(cpu.cpu as u32);
                findings.push(Finding::unsynced(walk, map, slot, entry, owner))?;
            }
        }
        if let Some(efi) = scan_efi(walk, live, self.root, scratch, map, text, findings)? {
            self.tables.push(efi, GFP_KERNEL)?;
        }
        let reference_user = if pti_enabled() {
            let (table, copy) = scan_user(walk, live, reference, scratch, map, text, findings)?;
            self.tables.push(table, GFP_KERNEL)?;
            Some(copy)
        } else {
            None
        };
        self.mms = self.audit_processes(map, text, scratch, reference_user.as_deref(), findings)?;
        Ok(())
    }
}

impl OtherTables<'_> {
    /// Audit every process's mm: the kernel half of its top-level table must be
    /// the reference's. Each mm is pinned while its table is read; a table that
    /// differs is read again, with the reference, before it is reported.
    fn audit_processes(
        &mut self,
        map: &LiveMap<'_>,
        text: &TextAliases,
        scratch: &mut Scratch,
        reference_user: Option<&Table>,
        findings: &mut Findings,
    ) -> Result<u32> {
        let (walk, live, reference) = (self.walk, self.live, self.reference);
        let ldt_slot = walk.top.index(live.ldt_base());
        let AuditBuffers {
            ours,
            theirs,
            whole,
            user,
        } = &mut *self.audit;
        let others = &mut self.tables;
        let mut src = DirectMap::new(live.page_offset_base);
        let (mut ldt_shown, mut user_shown, mut checked) = (0, 0, 0);
        if !reference_half(live.page_offset_base, reference, ours) {
            return Err(EIO);
        }
        for mm in Processes::new() {
            checked += 1;
            let mut phys = reference;
            let audit = audit_half(
                &mut **ours,
                &mut **theirs,
                ldt_slot,
                |ours| reference_half(live.page_offset_base, reference, ours),
                |theirs| {
                    phys = mm.copy_table(theirs);
                    phys != reference
                },
                cond_resched,
            );
            if audit == Audit::Unreadable {
                return Err(EIO);
            }
            let owner = Owner::Task(mm.task.pid, mm.task.comm);
            if audit == Audit::Differs {
                for slot in differing_slots(&ours[..], &theirs[..], ldt_slot) {
                    findings.push(Finding::unsynced(walk, map, slot, theirs[slot], owner))?;
                }
            }
            // The mm's own LDT remap slot (PTI): walked while the mm is pinned.
            let ldt = theirs[ldt_slot - ENTRIES / 2];
            if phys != reference && ldt != 0 {
                whole[ldt_slot] = ldt;
                let ranges =
                    walk_slots(walk, &mut src, scratch, phys, whole, [ldt_slot].into_iter())?;
                let other = OtherTable {
                    table: TableKind::Ldt,
                    owner,
                    ranges,
                };
                check_and_show(map, text, (others, &mut ldt_shown), other, findings)?;
            }
            // PTI: the mm's user-mode table, kernel half, against the
            // reference's; what differs (but the LDT slot) is walked and checked.
            let Some(reference_user) = reference_user.filter(|_| phys != reference) else {
                continue;
            };
            let user_phys = phys + USER_TABLE_OFFSET;
            if !src.copy_table(user_phys, user) {
                continue;
            }
            let differs = |&i: &usize| i != ldt_slot && user[i] != reference_user[i];
            if (ENTRIES / 2..ENTRIES).any(|i| differs(&i)) {
                let slots = (ENTRIES / 2..ENTRIES).filter(differs);
                let other = OtherTable {
                    table: TableKind::User,
                    owner: Owner::TaskUser(mm.task.pid, mm.task.comm),
                    ranges: walk_slots(walk, &mut src, scratch, user_phys, user, slots)?,
                };
                check_and_show(map, text, (others, &mut user_shown), other, findings)?;
            }
        }
        Ok(checked)
    }
}

/// Phase 5: what the walkers noted, per CPU: a table they could not read,
/// an entry that kept changing.
fn note_walk(walk: &Walk, map: &LiveMap<'_>, walked: &Walked, findings: &mut Findings) -> Result {
    for stats in walked.cpus.iter() {
        let owner = Owner::Cpu(stats.cpu as u32);
        if let Some(at) = stats.walk.first_unreadable {
            let rule = Rule::UnreadableTable;
            let what = (rule, Severity::Warn, rule.reason());
            findings.push(Finding::about_entry(walk, map, what, at, owner))?;
        }
        if let Some((va, level)) = stats.walk.first_changed {
            let what = (
                Rule::TableChanged,
                Severity::Info,
                "this entry kept changing while the walk read the table below it",
            );
            findings.push(Finding::about_entry(walk, map, what, (va, level, 0), owner))?;
        }
    }
    Ok(())
}

/// Run a full scan, phase by phase: (1) walk the reference on every online
/// CPU (`walk_parallel`); (2) the per-range rules on its ranges
/// (`check_reference`), on every online CPU as the workers' lists are
/// joined (`Joining`), beside (3) System RAM against the direct map
/// (`check_direct_map`, once they are) and (4) the other tables
/// (`OtherTables`); (5) what the walkers noted (`note_walk`); (6) every
/// warn or error finding about a leaf checked again (`recheck`).
/// Each phase's time is in `stats`.
pub(crate) fn scan(
    doc: &'static DocMap<'static>,
    live: &Live,
    ram: &[(u64, u64)],
    reference: u64,
    ws: &mut Workspace,
) -> Result<Scan> {
    let map = ws.take_live_map(doc, live)?;
    let scan = scan_with(&map, live, ram, reference, ws);
    ws.keep_live_map(map);
    scan
}

/// What the two jobs of a scan leave: the walk's result with its ranges
/// joined, the bytes mapped per region, the other tables, the mms audited
/// and the phases' times.
struct Checked {
    walked: Walked,
    mapped: KVec<[u64; 3]>,
    others: KVec<OtherTable>,
    mms: u32,
    phases: Phases,
}

/// The walk, then the rules job (the join, the per-range rules, System RAM
/// and the other tables), in the session `scan_with` holds open.
fn walk_and_check(
    map: &LiveMap<'_>,
    live: &Live,
    ram: &[(u64, u64)],
    reference: u64,
    ws: &mut Workspace,
    findings: &mut Findings,
) -> Result<Checked> {
    let walk = walk_of(live);
    let mut mapped = KVec::from_elem([0u64; 3], map.doc().regions.len(), GFP_KERNEL)?;
    let mut walked = walk_parallel(walk, live, reference, ws)?;
    let rules_start = Clock::now();
    // The rules job joins the workers' lists into `walked`'s two
    // (empty) vectors, as it checks them (`Joining`).
    ListView::of_each(&ws.pool.buffers, &mut ws.views)?;
    let most = walked.ranges.capacity().min(listed(&ws.spans));
    // Out of `walked` while the join writes them (the other tables
    // read `walked` meanwhile).
    let (mut ranges, mut cleared) = (
        core::mem::take(&mut walked.ranges),
        core::mem::take(&mut walked.cleared),
    );
    let joining = Joining {
        spans: &ws.spans,
        cleared_spans: &ws.cleared_spans,
        views: &ws.views,
        ranges: Published::new(ranges.spare_capacity_mut()),
        cleared: Published::new(cleared.spare_capacity_mut()),
        most,
    };
    let scope = (&walk, live, reference);
    let mut join_ram = JoinThenRam::new(&joining, scope, ram);
    let mut others = OtherTables::new(scope, &walked, &ws.root, &mut ws.audit);
    let [join_ram_ns, audit_ns] = check_reference(
        map,
        &joining,
        &mut ws.pool,
        &mut ws.rule_spans,
        [&mut join_ram, &mut others],
        findings,
        &mut mapped,
    )?;
    let phases = Phases {
        walk_ns: walked.ns,
        rules_ns: ns_since(rules_start),
        ram_ns: join_ram_ns.saturating_sub(join_ram.join_ns),
        audit_ns,
        total_ns: 0,
    };
    let (tables, mms) = (others.tables, others.mms);
    let (joined, merge_ns) = (join_ram.joined, join_ram.join_ns);
    walked.merge_ns = merge_ns;
    for (list, joined) in [(&mut ranges, joined.0), (&mut cleared, joined.1)] {
        if joined > list.capacity() {
            return Err(EIO);
        }
        // SAFETY: the join wrote the first `joined` slots of the (empty)
        // vector's capacity.
        unsafe { list.inc_len(joined) };
    }
    (walked.ranges, walked.cleared) = (ranges, cleared);
    Ok(Checked {
        walked,
        mapped,
        others: tables,
        mms,
        phases,
    })
}

fn scan_with(
    map: &LiveMap<'_>,
    live: &Live,
    ram: &[(u64, u64)],
    reference: u64,
    ws: &mut Workspace,
) -> Result<Scan> {
    let start = Clock::now();
    // The walk and the rules, the two jobs on every CPU, in one session:
    // the other CPUs' workers wait between them instead of being woken
    // for each. Begun first, so that they wake while this CPU prepares.
    ws.pool.workers.begin();
    let walk = walk_of(live);
    let mut findings = Findings::new(core::mem::take(&mut ws.spare_findings));
    let parallel = walk_and_check(map, live, ram, reference, ws, &mut findings);
    ws.pool.workers.end();
    // The views into the CPUs' lists are only for the rules job.
    ws.views.clear();
    let Checked {
        walked,
        mapped,
        others,
        mms: checked_mms,
        phases,
    } = parallel?;
    note_walk(&walk, map, &walked, &mut findings)?;
    let checked_cpus = walked.cpus.len() as u32;
    let (rechecked, settled) = recheck(&walk, live, reference, &mut findings);
    Ok(Scan {
        walked,
        reference,
        findings,
        mapped,
        checked_cpus,
        checked_mms,
        rechecked,
        settled,
        phases: Phases {
            total_ns: ns_since(start),
            ..phases
        },
        others,
    })
}

/// The benchmark's floors: what reading each table page the walk visits,
/// exactly once, costs on one CPU, with nothing decoded.
#[derive(Clone, Copy)]
pub(crate) struct Floor {
    /// Table pages read, the top-level table included.
    pub(crate) table_pages: u64,
    /// Time to copy each page with `copy_from_kernel_nofault()`, the
    /// kernel's own fault-tolerant read.
    pub(crate) ns: u64,
    /// Time to read each entry of each page once with the walk's own
    /// fault-tolerant load ([`DirectTable`]), in place.
    pub(crate) load_ns: u64,
}

/// A table source that notes every table page it reads.
struct Recorder<'a> {
    src: DirectMap,
    pages: &'a mut VVec<u64>,
    overflow: bool,
}

impl Recorder<'_> {
    fn note(&mut self, phys: u64) {
        if self.pages.push_within_capacity(phys).is_err() {
            self.overflow = true;
        }
    }
}

impl TableSource for Recorder<'_> {
    type Reader = DirectTable;

    fn read_table(&mut self, phys: u64) -> Option<DirectTable> {
        self.note(phys);
        self.src.read_table(phys)
    }

    fn copy_table(&mut self, phys: u64, out: &mut Table) -> bool {
        self.note(phys);
        self.src.copy_table(phys, out)
    }

    fn read_entry(&mut self, table: u64, index: usize) -> Option<u64> {
        self.src.read_entry(table, index)
    }
}

/// Ignores what the walk finds: only the table pages it visits matter.
struct NoSink;

impl WalkSink for NoSink {
    fn leaf(&mut self, _: u64, _: Level, _: u64, _: u64, _: Effective) {}
    fn table(&mut self, _: Level) {}
    fn shared(&mut self, _: Level, _: u64) {}
    fn unreadable(&mut self, _: u64, _: Level, _: u64) {}
    fn changed(&mut self, _: u64, _: Level) {}
    fn cleared(&mut self, _: u64, _: Level, _: u64) {}
}

/// Measure the floor on the tables under `reference`: list the table pages
/// with an untimed walk, then time copying each of them once, in this
/// thread (preemptible, as the walk is).
/// Uses the scan's workspace, so it never overlaps a scan.
pub(crate) fn floor(live: &Live, reference: u64, ws: &mut Workspace) -> Result<Floor> {
    let walk = walk_of(live);
    let (root, scratch) = (&mut *ws.root, &mut *ws.scratch);
    if !DirectMap::new(live.page_offset_base).copy_table(reference, root) {
        return Err(EIO);
    }
    let mut capacity = 64 * 1024;
    let pages = loop {
        let mut pages = VVec::with_capacity(capacity, GFP_KERNEL)?;
        pages.push(reference, GFP_KERNEL)?;
        let mut recorder = Recorder {
            src: DirectMap::new(live.page_offset_base),
            pages: &mut pages,
            overflow: false,
        };
        walk.walk_top(
            Top::kernel_half(reference, root),
            &mut recorder,
            scratch,
            &mut NoSink,
        );
        if !recorder.overflow {
            break pages;
        }
        capacity *= 4;
    };
    let mut src = DirectMap::new(live.page_offset_base);
    let buf = &mut scratch[0];
    let ns = time_pages(&pages, |phys| {
        src.copy_table(phys, buf);
    });
    let mut sum = 0u64;
    let load_ns = time_pages(&pages, |phys| {
        if let Some(mut table) = src.read_table(phys) {
            for index in 0..ENTRIES {
                sum ^= table.entry(index);
            }
        }
    });
    core::hint::black_box(sum);
    Ok(Floor {
        table_pages: pages.len() as u64,
        ns,
        load_ns,
    })
}

/// Time `read` on each of `pages` in turn, rescheduling every 512 pages as
/// the walk does between batches.
fn time_pages(pages: &[u64], mut read: impl FnMut(u64)) -> u64 {
    let start = Clock::now();
    for (i, &phys) in pages.iter().enumerate() {
        read(phys);
        if i % 512 == 511 {
            cond_resched();
        }
    }
    ns_since(start)
}
