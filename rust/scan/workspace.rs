// SPDX-License-Identifier: GPL-2.0

//! What a scan keeps between rescans: each CPU's buffers and the lists the
//! jobs fill, allocated once and grown as a walk needs.

use core::sync::atomic::AtomicBool;

use kernel::{
    alloc::{KVec, VVec},
    prelude::*,
};

use crate::helpers::{KernelHalf, OnEachCpu};
use crate::vmlayout_core::{
    batch::{NoRoom, RangeList, WalkCounts},
    check::FindingList,
    layout::Live,
    map::DocMap,
    pte::Table,
    rules::{Finding, LiveMap, Rule},
    walk::{ItemSpan, Range, Scratch, WorkItem},
};

use super::other::AuditBuffers;
use super::walk_job::Walked;
use super::Scan;

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

/// One CPU's output of the walk. The rules job's join reads every CPU's
/// (shared) while each CPU's worker holds the rest of its buffers
/// (`&mut`): so they are lent out of the buffers for it
/// ([`CpuPool::swap_lists`]).
pub(super) struct CpuLists {
    pub(super) ranges: VVec<Range>,
    /// Runs of entries whose present bit is cleared (see `WalkSink::cleared`).
    pub(super) cleared: VVec<Range>,
}

impl CpuLists {
    const fn new() -> Self {
        CpuLists {
            ranges: VVec::new(),
            cleared: VVec::new(),
        }
    }
}

/// One CPU's scratch and output, kept from scan to scan.
pub(super) struct CpuBuffers {
    pub(super) lists: CpuLists,
    pub(super) alloc_failed: bool,
    pub(super) scratch: KBox<Scratch>,
    /// The kernel half of its active top-level table, as it walked.
    pub(super) active: KBox<KernelHalf>,
    /// Top-level slots that still differed from the reference after
    /// [`AUDIT_RETRIES`](crate::vmlayout_core::sync::AUDIT_RETRIES) reads: (slot, its entry).
    pub(super) unsynced: KVec<(usize, u64)>,
    /// Whether its table differed at first but not when read again.
    pub(super) resynced: bool,
    pub(super) stats: CpuStats,
    /// The rules phase: findings of the chunks it checked (at most
    /// [`FINDINGS_PER_RULE`](crate::vmlayout_core::rules::FINDINGS_PER_RULE) per rule per chunk), how many it left out per
    /// rule, bytes mapped per documented row and level.
    pub(super) findings: VVec<Finding>,
    pub(super) dropped: [u64; Rule::ALL.len()],
    pub(super) mapped: KVec<[u64; 3]>,
    pub(super) checked: bool,
    /// The documented map resolved, the rules job's own copy: its lookups
    /// cache their last answer, so no two workers share one.
    /// (Boxed: a 2 KiB map on the workers' stacks, beside the walk's deep
    /// frames, overflowed them under DEBUG_PAGEALLOC.)
    pub(super) map: Option<KBox<LiveMap<'static>>>,
}

impl CpuBuffers {
    pub(super) fn new() -> Result<Self> {
        Ok(CpuBuffers {
            lists: CpuLists {
                ranges: VVec::with_capacity(1024, GFP_KERNEL)?,
                cleared: VVec::with_capacity(256, GFP_KERNEL)?,
            },
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
            map: None,
        })
    }
}

/// A worker per online CPU (see [`OnEachCpu`]) and each CPU's buffers.
pub(super) struct CpuPool {
    pub(super) workers: OnEachCpu,
    /// Per possible CPU, allocated when the CPU first takes part.
    pub(super) buffers: VVec<Option<CpuBuffers>>,
    /// Per possible CPU, whether its worker has its buffers in the job
    /// running now ([`Workers`](crate::vmlayout_core::work::Workers)).
    pub(super) taken: VVec<AtomicBool>,
}

impl CpuPool {
    /// Lend each CPU's walk lists to `lent` (one slot per possible CPU),
    /// or take them back: a swap either way, so a second call undoes the
    /// first.
    pub(super) fn swap_lists(&mut self, lent: &mut [CpuLists]) {
        for (b, lists) in self.buffers.iter_mut().zip(lent) {
            if let Some(b) = b {
                core::mem::swap(&mut b.lists, lists);
            }
        }
    }
}

/// Buffers the walk reuses from one scan to the next, so that once they
/// have grown to fit, a rescan allocates only its result. Every buffer is
/// vmalloc'd or at most four pages, whatever the machine's size.
pub(crate) struct Workspace {
    pub(super) items: VVec<WorkItem>,
    pub(super) pool: CpuPool,
    pub(super) root: KBox<Table>,
    pub(super) scratch: KBox<Scratch>,
    /// Where each batch of work items' ranges and cleared stretches lie
    /// in the list of the worker that walked it (one slot per batch, room
    /// for one per item).
    pub(super) spans: VVec<ItemSpan>,
    pub(super) cleared_spans: VVec<ItemSpan>,
    /// Each CPU's walk lists while the rules job's join reads them
    /// ([`CpuPool::swap_lists`]), one slot per possible CPU.
    pub(super) lists: VVec<CpuLists>,
    /// Where each rules chunk's findings lie in its worker's list.
    pub(super) rule_spans: VVec<ItemSpan>,
    /// Work items of the last walk: a rescan makes room for twice as many
    /// and splits while the workers walk (see [`ItemQueue`](super::walk_job::ItemQueue)).
    pub(super) last_items: usize,
    /// The result buffers of the scan before last, given back by
    /// [`Workspace::recycle`] once a newer scan replaced it: a rescan
    /// fills them again instead of allocating. (vmalloc and vfree were most
    /// of what the merge cost: their vmap and lazy TLB flushes took 0.5 to
    /// 6 ms per scan.)
    pub(super) spare_ranges: VVec<Range>,
    pub(super) spare_cleared: VVec<Range>,
    pub(super) spare_cpus: VVec<CpuStats>,
    pub(super) spare_findings: VVec<Finding>,
    /// A window re-check's buffers (`super::window`).
    pub(super) window: super::window::WindowLists,
    /// The process audit's buffers, kept from scan to scan.
    pub(super) audit: AuditBuffers,
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
    pub(super) fn take_live_map(
        &mut self,
        doc: &'static DocMap<'static>,
        live: &Live,
    ) -> Result<KBox<LiveMap<'static>>> {
        match self.live_map.take() {
            Some(map) if core::ptr::eq(map.doc(), doc) => Ok(map),
            _ => Ok(KBox::new(LiveMap::new(doc, live), GFP_KERNEL)?),
        }
    }

    pub(super) fn keep_live_map(&mut self, map: KBox<LiveMap<'static>>) {
        self.live_map = Some(map);
    }

    pub(crate) fn new() -> Result<Self> {
        let ncpus = kernel::cpu::nr_cpu_ids() as usize;
        let mut cpus = VVec::with_capacity(ncpus, GFP_KERNEL)?;
        let mut taken = VVec::with_capacity(ncpus, GFP_KERNEL)?;
        let mut lists = VVec::with_capacity(ncpus, GFP_KERNEL)?;
        for _ in 0..ncpus {
            cpus.push(None, GFP_KERNEL)?;
            taken.push(AtomicBool::new(false), GFP_KERNEL)?;
            lists.push(CpuLists::new(), GFP_KERNEL)?;
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
            lists,
            rule_spans: VVec::new(),
            last_items: 0,
            spare_ranges: VVec::new(),
            spare_cleared: VVec::new(),
            spare_cpus: VVec::new(),
            spare_findings: VVec::new(),
            window: super::window::WindowLists::new(),
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

/// The workspace during one scan's session of the workers
/// ([`OnEachCpu::begin`]): the other CPUs' workers wait for the scan's jobs
/// until the guard is dropped, which ends the session on every path out.
pub(super) struct Session<'a>(&'a mut Workspace);

impl Workspace {
    /// Open the workers' session for a scan's jobs.
    pub(super) fn session(&mut self) -> Session<'_> {
        self.pool.workers.begin();
        Session(self)
    }
}

impl core::ops::Deref for Session<'_> {
    type Target = Workspace;

    fn deref(&self) -> &Workspace {
        self.0
    }
}

impl core::ops::DerefMut for Session<'_> {
    fn deref_mut(&mut self) -> &mut Workspace {
        self.0
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        self.0.pool.workers.end();
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
    fn as_slice(&self) -> &[Range] {
        VVec::as_slice(self)
    }
    fn as_mut_slice(&mut self) -> &mut [Range] {
        VVec::as_mut_slice(self)
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
        self.push_within_capacity(range)
            .or_else(|full| VVec::push(self, full.0, GFP_KERNEL))
            .map_err(|_| NoRoom)
    }
}

impl FindingList for VVec<Finding> {
    fn push(&mut self, finding: Finding) -> core::result::Result<(), NoRoom> {
        VVec::push(self, finding, GFP_KERNEL).map_err(|_| NoRoom)
    }
    fn as_mut_slice(&mut self) -> &mut [Finding] {
        VVec::as_mut_slice(self)
    }
}

/// A list that could not grow is the kernel's `ENOMEM`.
impl From<NoRoom> for Error {
    fn from(_: NoRoom) -> Error {
        ENOMEM
    }
}
