// SPDX-License-Identifier: GPL-2.0

//! The scan: find the reference page table, walk its kernel half on every
//! online CPU at once, merge, and run the rules.
//!
//! Kernel glue only: the walk, the coalescing and the rules are in
//! `vmlayout_core`.

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};

use kernel::{alloc::KVec, alloc::VVec, bindings, cpu::CpuId, prelude::*};

use crate::vmlayout_core::{
    layout::{Live, START_KERNEL_MAP},
    map::DocMap,
    pte::{Effective, Flags, Level, Table, ENTRIES, PHYS_ADDR_MASK},
    rules::{check_ram, check_range, Finding, LiveMap, Owner, Rule, Severity, TextAliases},
    walk::{self, Coalescer, Range, Scratch, TableSource, Walk, WalkSink, WorkItem},
};

/// Most CPUs a scan reports on; more are walked but not listed.
pub(crate) const MAX_CPUS: usize = 64;

/// Read CR3.
pub(crate) fn read_cr3() -> u64 {
    let cr3: u64;
    // SAFETY: reading CR3 has no side effects; we run in ring 0.
    unsafe {
        core::arch::asm!("mov {}, cr3", out(reg) cr3, options(nomem, nostack, preserves_flags))
    };
    cr3
}

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

    /// Read one entry of the table at physical `table`.
    pub(crate) fn read_entry(&mut self, table: u64, index: usize) -> Option<u64> {
        let mut entry: u64 = 0;
        let src = self
            .page_offset_base
            .wrapping_add(table)
            .wrapping_add(index as u64 * 8) as *const c_void;
        // SAFETY: a fault-tolerant read into a local.
        let ret = unsafe { bindings::copy_from_kernel_nofault((&raw mut entry).cast(), src, 8) };
        (ret == 0).then_some(entry)
    }
}

impl TableSource for DirectMap {
    #[inline(always)]
    fn copy_table(&mut self, phys: u64, out: &mut Table) -> bool {
        let src = self.page_offset_base.wrapping_add(phys) as *const c_void;
        // SAFETY: `out` is a writable table-sized buffer; the source is only
        // read through the fault-tolerant copy, which validates it.
        unsafe {
            bindings::copy_from_kernel_nofault(
                out.as_mut_ptr().cast(),
                src,
                core::mem::size_of::<Table>(),
            ) == 0
        }
    }
}

/// Physical address of the table `cr3` points to.
pub(crate) fn cr3_table(cr3: u64) -> u64 {
    cr3 & PHYS_ADDR_MASK & !crate::live::memory_encryption_mask()
}

/// Switch this CPU to init_mm and store CR3 at `arg`.
///
/// # Safety
///
/// `arg` must point to a writable `u64`; must run in a kernel thread.
unsafe extern "C" fn switch_to_reference(arg: *mut c_void) -> c_int {
    let flags: u64;
    // SAFETY: save RFLAGS and disable interrupts (arch_local_irq_save() on
    // native and KVM guests), so nothing can switch mm between leave_mm()
    // and reading CR3.
    unsafe { core::arch::asm!("pushfq", "pop {}", "cli", out(reg) flags) };
    // SAFETY: this runs in a kworker, a kernel thread in lazy TLB mode, which
    // is what `leave_mm()` expects: it switches this CPU to init_mm, as idle
    // drivers do before deep C-states.
    unsafe { bindings::leave_mm() };
    let cr3 = read_cr3();
    // SAFETY: restores the RFLAGS saved above.
    unsafe { core::arch::asm!("push {}", "popfq", in(reg) flags) };
    // SAFETY: `arg` is the `u64` in `reference_table`, alive for the
    // synchronous call.
    unsafe { *arg.cast::<u64>() = cr3 };
    0
}

/// The reference top-level table (`init_mm.pgd`, which is not exported):
/// switch a kernel thread to init_mm with `leave_mm()` and read CR3. The
/// result is verified twice: it must lie in the kernel image (where
/// `swapper_pg_dir` is; every other mm's table comes from the page
/// allocator), and walking it must reach the very entry `lookup_address()`,
/// which walks init_mm, returns for our own code.
pub(crate) fn reference_table(walk: &Walk, live: &Live) -> Result<u64> {
    let page_offset_base = live.page_offset_base;
    let mut cr3: u64 = 0;
    // SAFETY: the callback writes only `cr3`, which outlives the
    // synchronous call.
    let ret = unsafe {
        bindings::smp_call_on_cpu(0, Some(switch_to_reference), (&raw mut cr3).cast(), false)
    };
    if ret != 0 {
        return Err(Error::from_errno(ret));
    }
    let table = cr3_table(cr3);
    let image = live
        .text_start
        .wrapping_sub(START_KERNEL_MAP)
        .wrapping_add(live.phys_base);
    if table < image || table > image + (live.text_end - live.text_start) {
        pr_warn!("CR3 after leave_mm() ({table:#x}) is not in the kernel image\n");
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
        let index = ((probe >> level.shift()) & (ENTRIES as u64 - 1)) as usize;
        let entry = buf[index];
        let leaf = level == Level::Pte || (level.can_be_huge() && Flags::of(entry).has(Flags::PS));
        if leaf || !Flags::of(entry).has(Flags::P) {
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
    /// Whether the CPU took part.
    pub(crate) ran: bool,
    /// Its active CR3 during the walk.
    pub(crate) cr3: u64,
    /// Table pages copied, by level.
    pub(crate) tables: [u64; 6],
    /// Work items it walked.
    pub(crate) items: u64,
    /// Entries not descended because they repeat a shared, uniform table.
    pub(crate) shared: u64,
    /// Tables it could not read, and the first of them.
    pub(crate) unreadable: u64,
    pub(crate) first_unreadable: Option<(u64, Level, u64)>,
    /// Ranges it produced.
    pub(crate) ranges: u64,
    /// Walk time.
    pub(crate) ns: u64,
}

/// One CPU's scratch and output, kept from scan to scan.
struct CpuBuffers {
    ranges: VVec<Range>,
    overflow: bool,
    scratch: KBox<Scratch>,
    stats: CpuStats,
}

/// Buffers the walk reuses from one scan to the next, so that once they
/// have grown to fit, a rescan allocates only its result.
pub(crate) struct Workspace {
    items: KVec<WorkItem>,
    cpus: KVec<CpuBuffers>,
    root: KBox<Table>,
    scratch: KBox<Scratch>,
}

impl Workspace {
    /// Buffers for `nr_cpu_ids` CPUs (at most `MAX_CPUS`).
    pub(crate) fn new() -> Result<Self> {
        let ncpus = (kernel::cpu::nr_cpu_ids() as usize).min(MAX_CPUS);
        let mut cpus = KVec::with_capacity(ncpus, GFP_KERNEL)?;
        for _ in 0..ncpus {
            cpus.push(
                CpuBuffers {
                    ranges: VVec::with_capacity(4096, GFP_KERNEL)?,
                    overflow: false,
                    scratch: KBox::zeroed(GFP_KERNEL)?,
                    stats: CpuStats::default(),
                },
                GFP_KERNEL,
            )?;
        }
        Ok(Workspace {
            items: KVec::new(),
            cpus,
            root: KBox::zeroed(GFP_KERNEL)?,
            scratch: KBox::zeroed(GFP_KERNEL)?,
        })
    }
}

struct CpuSink<'a> {
    ranges: &'a mut VVec<Range>,
    overflow: &'a mut bool,
    stats: &'a mut CpuStats,
    coalescer: Coalescer,
    phys_mask: u64,
}

impl CpuSink<'_> {
    #[inline(always)]
    fn emit(&mut self, range: Option<Range>) {
        if let Some(done) = range {
            if self.ranges.push_within_capacity(done).is_err() {
                *self.overflow = true;
            }
        }
    }
}

impl WalkSink for CpuSink<'_> {
    #[inline(always)]
    fn leaf(&mut self, va: u64, level: Level, entry: u64, count: u64, effective: Effective) {
        let leaves = Range::leaf(va, level, entry, count, effective, self.phys_mask);
        let done = self.coalescer.push(leaves);
        self.emit(done);
    }

    fn table(&mut self, level: Level) {
        self.stats.tables[level as usize] += 1;
    }

    fn shared(&mut self, _: Level, count: u64) {
        self.stats.shared += count;
    }

    fn unreadable(&mut self, va: u64, level: Level, entry: u64) {
        self.stats.unreadable += 1;
        self.stats
            .first_unreadable
            .get_or_insert((va, level, entry));
    }
}

/// Shared by every CPU during the walk.
struct Job<'a> {
    walk: Walk,
    items: &'a [WorkItem],
    next: AtomicUsize,
    page_offset_base: u64,
    cpus: *mut CpuBuffers,
    ncpus: usize,
}

/// Runs on every online CPU at once, in the cross-call: claim work items in
/// address order until none are left. Nothing here sleeps or allocates.
///
/// # Safety
///
/// `info` must point to a `Job` that outlives the call, whose `cpus` has
/// `ncpus` slots no one else touches during the cross-call.
unsafe extern "C" fn walk_on_this_cpu(info: *mut c_void) {
    // SAFETY: `info` is the `Job` in `walk_parallel`, alive until every CPU
    // returns (the cross-call waits).
    let job = unsafe { &*info.cast::<Job<'_>>() };
    let cpu = CpuId::current().as_u32() as usize;
    if cpu >= job.ncpus {
        return;
    }
    // SAFETY: each CPU touches only its own slot, and the caller touches no
    // slot until the cross-call has returned.
    let buffers = unsafe { &mut *job.cpus.add(cpu) };
    let start = now();
    buffers.stats = CpuStats {
        ran: true,
        cr3: read_cr3(),
        ..CpuStats::default()
    };
    buffers.ranges.clear();
    buffers.overflow = false;
    let mut src = DirectMap::new(job.page_offset_base);
    let scratch = &mut *buffers.scratch;
    let mut sink = CpuSink {
        ranges: &mut buffers.ranges,
        overflow: &mut buffers.overflow,
        stats: &mut buffers.stats,
        coalescer: Coalescer::default(),
        phys_mask: job.walk.phys_mask,
    };
    loop {
        let i = job.next.fetch_add(1, Ordering::Relaxed);
        let Some(item) = job.items.get(i) else { break };
        sink.stats.items += 1;
        job.walk.walk_item(item, &mut src, scratch, &mut sink);
    }
    let last = sink.coalescer.finish();
    sink.emit(last);
    sink.stats.ranges = sink.ranges.len() as u64;
    sink.stats.ns = now() - start;
}

/// The merged result of one walk.
pub(crate) struct Walked {
    /// Coalesced ranges in address order.
    pub(crate) ranges: VVec<Range>,
    /// Per CPU, indexed by CPU number.
    pub(crate) cpus: KVec<CpuStats>,
    /// Tables read while splitting the work, the top-level one included.
    pub(crate) setup_tables: u64,
    /// Work items.
    pub(crate) items: usize,
    /// Whole walk, including the split and the merge.
    pub(crate) ns: u64,
}

/// Walk the kernel half of the table at `root_phys` on every online CPU:
/// split it into work items here, walk them in one cross-call, merge.
pub(crate) fn walk_parallel(
    walk: Walk,
    page_offset_base: u64,
    root_phys: u64,
    ws: &mut Workspace,
) -> Result<Walked> {
    let start = now();
    let mut src = DirectMap::new(page_offset_base);
    if !src.copy_table(root_phys, &mut ws.root) {
        return Err(EIO);
    }
    ws.items.clear();
    let mut alloc_err = Ok(());
    let tables = walk.split(
        &ws.root,
        ENTRIES / 2,
        ENTRIES,
        &mut src,
        &mut ws.scratch,
        &mut |item| {
            if alloc_err.is_ok() {
                alloc_err = ws.items.push(item, GFP_KERNEL);
            }
        },
    );
    alloc_err?;
    loop {
        let job = Job {
            walk,
            items: &ws.items,
            next: AtomicUsize::new(0),
            page_offset_base,
            cpus: ws.cpus.as_mut_ptr(),
            ncpus: ws.cpus.len(),
        };
        // SAFETY: `job` outlives the call (wait = true); the callback never
        // sleeps; the online mask is a valid cpumask.
        unsafe {
            bindings::on_each_cpu_cond_mask(
                None,
                Some(walk_on_this_cpu),
                (&raw const job).cast_mut().cast(),
                true,
                &raw const bindings::__cpu_online_mask,
            )
        };
        let mut full = false;
        for c in ws.cpus.iter_mut().filter(|c| c.overflow) {
            // A CPU ran out of room: grow its buffer, walk again.
            full = true;
            let room = c.ranges.capacity() * 3;
            c.ranges.clear();
            c.ranges.reserve(room, GFP_KERNEL)?;
        }
        if full {
            continue;
        }
        let ranges = merge(&ws.cpus)?;
        let mut cpus = KVec::with_capacity(ws.cpus.len(), GFP_KERNEL)?;
        for c in ws.cpus.iter_mut() {
            cpus.push(c.stats, GFP_KERNEL)?;
            // A CPU that is offline next time must not look as if it ran.
            c.stats.ran = false;
        }
        return Ok(Walked {
            ranges,
            cpus,
            setup_tables: 1 + tables,
            items: ws.items.len(),
            ns: now() - start,
        });
    }
}

/// Merge the CPUs' sorted range lists into one.
fn merge(cpus: &[CpuBuffers]) -> Result<VVec<Range>> {
    let total = cpus.iter().map(|c| c.ranges.len()).sum();
    let mut out = VVec::with_capacity(total, GFP_KERNEL)?;
    let mut lists: [&[Range]; MAX_CPUS] = [&[]; MAX_CPUS];
    for (list, c) in lists.iter_mut().zip(cpus) {
        *list = &c.ranges;
    }
    let mut overflow = false;
    walk::merge(&lists[..cpus.len()], &mut [0; MAX_CPUS], |range| {
        overflow |= out.push_within_capacity(range).is_err();
    });
    if overflow {
        return Err(ENOMEM);
    }
    Ok(out)
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
    /// The parallel walk, merge included (`Walked::ns`).
    pub(crate) walk_ns: u64,
    /// The per-range rules.
    pub(crate) rules_ns: u64,
    /// System RAM against the direct map.
    pub(crate) ram_ns: u64,
    /// The sync audit of every CPU's and every mm's top-level table.
    pub(crate) audit_ns: u64,
    /// The whole scan.
    pub(crate) total_ns: u64,
}

/// Nanoseconds since boot.
fn now() -> u64 {
    // SAFETY: ktime_get() may be called from any context.
    unsafe { bindings::ktime_get() as u64 }
}

/// Everything a scan found.
pub(crate) struct Scan {
    pub(crate) walked: Walked,
    pub(crate) reference: u64,
    pub(crate) findings: KVec<Finding>,
    /// Bytes mapped per documented row, by leaf level (4K, 2M, 1G).
    pub(crate) mapped: KVec<[u64; 3]>,
    /// CPUs whose active table was compared with the reference.
    pub(crate) checked_cpus: u32,
    /// Processes whose mm's table was compared with the reference.
    pub(crate) checked_mms: u32,
    pub(crate) phases: Phases,
}

/// Run a full scan: walk, then every rule.
pub(crate) fn scan(
    doc: &DocMap<'_>,
    live: &Live,
    ram: &[(u64, u64)],
    reference: u64,
    ws: &mut Workspace,
) -> Result<Scan> {
    let start = now();
    let walk = walk_of(live);
    let walked = walk_parallel(walk, live.page_offset_base, reference, ws)?;
    let mut phases = Phases {
        walk_ns: walked.ns,
        ..Phases::default()
    };
    let mut mark = now();
    let mut lap = |phase: &mut u64| {
        let t = now();
        *phase = t - mark;
        mark = t;
    };
    let map = LiveMap::new(doc, live);
    let mut findings = KVec::new();
    let mut mapped = KVec::from_elem([0u64; 3], doc.regions.len(), GFP_KERNEL)?;

    let mut text = TextAliases::default();
    for range in walked.ranges.iter() {
        text.note(&map, range);
    }
    let mut alloc_err = Ok(());
    for range in walked.ranges.iter() {
        check_range(&map, &text, range, |f| {
            if alloc_err.is_ok() {
                alloc_err = findings.push(f, GFP_KERNEL).map_err(Error::from);
            }
        });
        if let Some(row) = map.place(range.start).0.row() {
            mapped[row][range.level as usize - 1] += range.size();
        }
    }
    alloc_err?;
    lap(&mut phases.rules_ns);

    // System RAM against the direct map.
    let debug_pagealloc = crate::live::debug_pagealloc();
    let direct_first = live.page_offset_base;
    for &(first, last) in ram {
        let direct = walked
            .ranges
            .iter()
            .filter(|r| r.start >= direct_first && r.last - direct_first <= (1u64 << 56))
            .map(|r| (r.start - direct_first, r.last - direct_first));
        let mut missing = KVec::new();
        check_ram(direct, first, last, |a, b| {
            let _ = missing.push((a, b), GFP_KERNEL);
        });
        for (a, b) in missing {
            findings.push(
                Finding {
                    rule: Rule::RamMissing,
                    severity: if debug_pagealloc {
                        Severity::Info
                    } else {
                        Severity::Error
                    },
                    row: map.place(direct_first + a).0.row(),
                    range: Range {
                        start: direct_first + a,
                        last: direct_first + b,
                        phys: a,
                        flags: Flags(0),
                        effective: Effective::ALL,
                        level: Level::Pte,
                    },
                    reason: if debug_pagealloc {
                        "System RAM not mapped in the direct map: debug_pagealloc unmaps free pages"
                    } else {
                        Rule::RamMissing.reason()
                    },
                    owner: Owner::Reference,
                },
                GFP_KERNEL,
            )?;
        }
    }

    lap(&mut phases.ram_ns);

    // The sync audit: every CPU's active table and every mm's table against
    // the reference, kernel half only.
    let mut src = DirectMap {
        page_offset_base: live.page_offset_base,
    };
    let mut ours: KBox<Table> = KBox::zeroed(GFP_KERNEL)?;
    let mut theirs: KBox<Table> = KBox::zeroed(GFP_KERNEL)?;
    if !src.copy_table(reference, &mut ours) {
        return Err(EIO);
    }
    let ldt_slot = ((live.ldt_base() >> walk.top.shift()) & (ENTRIES as u64 - 1)) as usize;
    let mut audit = |table: u64, owner: Owner, findings: &mut KVec<Finding>| -> Result {
        if table == reference || !src.copy_table(table, &mut theirs) {
            return Ok(());
        }
        // The LDT remap slot is per mm by design (PTI).
        for slot in (ENTRIES / 2..ENTRIES).filter(|&s| s != ldt_slot) {
            if theirs[slot] == ours[slot] {
                continue;
            }
            let start = walk.top_va(slot);
            findings.push(
                Finding {
                    rule: Rule::UnsyncedPgd,
                    severity: Severity::Error,
                    row: map.place(start).0.row(),
                    range: Range {
                        start,
                        last: start + (walk.top.entry_size() - 1),
                        phys: theirs[slot] & walk.phys_mask,
                        flags: Flags::of(theirs[slot]),
                        effective: Effective::ALL,
                        level: walk.top,
                    },
                    reason: Rule::UnsyncedPgd.reason(),
                    owner,
                },
                GFP_KERNEL,
            )?;
        }
        Ok(())
    };
    let mut checked_cpus = 0;
    for (cpu, stats) in walked.cpus.iter().enumerate() {
        if stats.ran {
            checked_cpus += 1;
            audit(cr3_table(stats.cr3), Owner::Cpu(cpu as u32), &mut findings)?;
        }
    }
    let tasks = crate::live::task_tables()?;
    for t in tasks.iter() {
        audit(t.table, Owner::Task(t.pid, t.comm), &mut findings)?;
    }
    let tasks_checked = tasks.len() as u32;
    drop(tasks);
    lap(&mut phases.audit_ns);
    for (cpu, stats) in walked.cpus.iter().enumerate() {
        if let Some((va, level, entry)) = stats.first_unreadable {
            findings.push(
                Finding {
                    rule: Rule::UnreadableTable,
                    severity: Severity::Warn,
                    row: map.place(va).0.row(),
                    range: Range {
                        start: va,
                        last: va + (level.entry_size() - 1),
                        phys: entry & walk.phys_mask,
                        flags: Flags::of(entry),
                        effective: Effective::ALL,
                        level,
                    },
                    reason: Rule::UnreadableTable.reason(),
                    owner: Owner::Cpu(cpu as u32),
                },
                GFP_KERNEL,
            )?;
        }
    }
    Ok(Scan {
        walked,
        reference,
        findings,
        mapped,
        checked_cpus,
        checked_mms: tasks_checked,
        phases: Phases {
            total_ns: now() - start,
            ..phases
        },
    })
}

/// The benchmark's floor: what copying each table page the walk visits,
/// exactly once, costs on one CPU, with nothing decoded.
#[derive(Clone, Copy)]
pub(crate) struct Floor {
    /// Table pages copied, the top-level table included.
    pub(crate) table_pages: u64,
    /// Time for the copies alone.
    pub(crate) ns: u64,
}

/// A table source that notes every table page it copies.
struct Recorder<'a> {
    src: DirectMap,
    pages: &'a mut VVec<u64>,
    overflow: bool,
}

impl TableSource for Recorder<'_> {
    fn copy_table(&mut self, phys: u64, out: &mut Table) -> bool {
        if self.pages.push_within_capacity(phys).is_err() {
            self.overflow = true;
        }
        self.src.copy_table(phys, out)
    }
}

/// Ignores what the walk finds: only the table pages it visits matter.
struct NoSink;

impl WalkSink for NoSink {
    fn leaf(&mut self, _: u64, _: Level, _: u64, _: u64, _: Effective) {}
    fn table(&mut self, _: Level) {}
    fn shared(&mut self, _: Level, _: u64) {}
    fn unreadable(&mut self, _: u64, _: Level, _: u64) {}
}

struct FloorJob<'a> {
    pages: &'a [u64],
    page_offset_base: u64,
    buf: &'a mut Table,
    ns: u64,
}

/// Copy every page of the job once, timed, interrupts off as in the walk.
///
/// # Safety
///
/// `info` must point to a `FloorJob` that outlives the call and that no one
/// else touches during it.
unsafe extern "C" fn copy_on_this_cpu(info: *mut c_void) {
    // SAFETY: `info` is the `FloorJob` in `floor`, alive and untouched
    // until the synchronous cross-call returns.
    let job = unsafe { &mut *info.cast::<FloorJob<'_>>() };
    let mut src = DirectMap::new(job.page_offset_base);
    let start = now();
    for &phys in job.pages {
        src.copy_table(phys, job.buf);
    }
    job.ns = now() - start;
}

/// Measure the floor on the tables under `reference`: list the table pages
/// with an untimed walk, then time copying each of them once.
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
            root,
            ENTRIES / 2,
            ENTRIES,
            &mut recorder,
            scratch,
            &mut NoSink,
        );
        if !recorder.overflow {
            break pages;
        }
        capacity *= 4;
    };
    let mut job = FloorJob {
        pages: &pages,
        page_offset_base: live.page_offset_base,
        buf: &mut scratch[0],
        ns: 0,
    };
    // SAFETY: `job` outlives the synchronous call (wait = 1); the callback
    // never sleeps; the online mask is a valid cpumask.
    let ret = unsafe {
        bindings::smp_call_function_any(
            &raw const bindings::__cpu_online_mask,
            Some(copy_on_this_cpu),
            (&raw mut job).cast(),
            1,
        )
    };
    if ret != 0 {
        return Err(Error::from_errno(ret));
    }
    Ok(Floor {
        table_pages: pages.len() as u64,
        ns: job.ns,
    })
}
