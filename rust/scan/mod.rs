// SPDX-License-Identifier: GPL-2.0

//! The scan: find the reference page table, walk its kernel half on every
//! online CPU at once, merge, and run the rules.
//!
//! Kernel glue only: the walk, the coalescing and the rules are in
//! `vmlayout_core`.
//!
//! By concern: [`reader`] (the reference table and the direct-map
//! reader), [`workspace`], [`walk_job`], [`rules_job`], [`other`] (the
//! other tables and the audits), [`pages`] (the table pages a walk reads),
//! [`floor`](mod@floor) (the benchmark's floor), [`window`] (watch
//! mode's re-check of one window).

mod floor;
mod other;
mod pages;
mod reader;
mod rules_job;
mod walk_job;
mod window;
mod workspace;

pub(crate) use floor::{floor, Floor};
pub(crate) use pages::table_pages;
pub(crate) use reader::{reference_table, DirectMap};
pub(crate) use window::recheck_windows;
pub(crate) use workspace::Workspace;

use kernel::{
    alloc::{KVVec, KVec, VVec},
    prelude::*,
};

use crate::helpers::{ns_since, Clock};
use crate::vmlayout_core::{
    check,
    layout::Live,
    map::DocMap,
    pte::{Level, PHYS_ADDR_MASK},
    report::NameBuf,
    rules::{Finding, LiveMap, Owner},
    seen::Seen,
    walk::{Range, Walk},
    window::Parts,
    work::Published,
};

use self::other::{OtherTable, OtherTables};
use self::rules_job::{check_reference, JoinThenRam, Joining};
use self::walk_job::{listed, walk_parallel, Walked};

/// The walk configuration for the live paging mode.
pub(crate) fn walk_of(live: &Live) -> Walk {
    Walk {
        top: Level::top(live.paging),
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

/// Findings of a scan, in a vmalloc'd list (`vmlayout_core::check::Findings`).
pub(crate) type Findings = check::Findings<VVec<Finding>>;

/// Empty findings in the last scan's list (a vmalloc per growth costs
/// tenths of a millisecond under emulation).
fn findings_in(mut list: VVec<Finding>) -> Findings {
    list.clear();
    Findings::new(list)
}

/// Everything a scan found.
pub(crate) struct Scan {
    pub(crate) walked: Walked,
    pub(crate) reference: u64,
    /// System RAM (`/proc/iomem`) when the scan began.
    pub(crate) ram: KVec<(u64, u64)>,
    pub(crate) findings: Findings,
    /// Where each kind of finding lies in `findings`, for a window
    /// re-check ([`window`]).
    pub(crate) parts: Parts,
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
    /// When each finding was first and last seen (`crate::watch`), filled
    /// in when the scan replaces the one before.
    pub(crate) seen: KVVec<Seen>,
}

/// Phase 5: what the walkers noted, per CPU: a table they could not read,
/// an entry that kept changing.
fn note_walk(walk: &Walk, map: &LiveMap<'_>, walked: &Walked, findings: &mut Findings) -> Result {
    for stats in walked.cpus.iter() {
        let owner = Owner::Cpu(stats.cpu as u32);
        check::note_walk(walk, map, owner, &stats.walk, &mut |f| findings.push(f))?;
    }
    Ok(())
}

/// The wait between looks at a writable alias of code
/// (`check::recheck_settled`): a CPA's step from a page to its alias takes
/// microseconds, unless its task is preempted there; 20 ms lets it run.
pub(crate) fn code_alias_wait() {
    kernel::time::delay::fsleep(kernel::time::Delta::from_millis(20));
}

/// Run a full scan, phase by phase: (1) walk the reference on every online
/// CPU (`walk_parallel`); (2) the per-range rules on its ranges
/// (`check_reference`), on every online CPU as the workers' lists are
/// joined (`Joining`), beside (3) System RAM against the direct map
/// (`check_direct_map`, once they are) and (4) the other tables
/// (`OtherTables`); (5) what the walkers noted (`note_walk`), the modules
/// area's code aliases (`code_aliases`) and code no owner claims
/// (`unowned_code`); (6) every warn or error finding about a leaf checked
/// again (`recheck`).
/// Each phase's time is in `stats`.
pub(crate) fn scan(
    doc: &'static DocMap<'static>,
    live: &Live,
    ram: KVec<(u64, u64)>,
    reference: u64,
    ws: &mut Workspace,
) -> Result<Scan> {
    let map = ws.take_live_map(doc, live)?;
    let scan = scan_with(&map, live, &ram, reference, ws);
    ws.keep_live_map(map);
    Ok(Scan { ram, ..scan? })
}

/// What the two jobs of a scan leave: the walk's result with its ranges
/// joined, the bytes mapped per region, the other tables, the mms audited
/// and the phases' times.
struct Checked {
    walked: Walked,
    side_starts: [usize; 2],
    mapped: KVec<[u64; 3]>,
    others: KVec<OtherTable>,
    mms: u32,
    phases: Phases,
}

/// What a scan is of: the walk configuration, the live bases, System RAM
/// and the reference table, handed whole to the phases that need them.
#[derive(Clone, Copy)]
pub(super) struct Scope<'a> {
    pub(super) walk: Walk,
    pub(super) live: &'a Live,
    pub(super) ram: &'a [(u64, u64)],
    pub(super) reference: u64,
}

/// The walk, then the rules job (the join, the per-range rules, System RAM
/// and the other tables), in the session `scan_with` holds open.
fn walk_and_check(
    map: &LiveMap<'static>,
    scope: Scope<'_>,
    ws: &mut Workspace,
    findings: &mut Findings,
) -> Result<Checked> {
    let mut mapped = KVec::from_elem([0u64; 3], map.doc().regions.len(), GFP_KERNEL)?;
    let mut walked = walk_parallel(scope.walk, scope.live, scope.reference, ws)?;
    let rules_start = Clock::now();
    // The rules job joins the workers' lists into `walked`'s two
    // (empty) vectors, as it checks them (`Joining`): lent by the CPUs'
    // buffers, which the job's workers hold meanwhile.
    ws.pool.swap_lists(&mut ws.lists);
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
        lists: &ws.lists,
        ranges: Published::new(ranges.spare_capacity_mut()),
        cleared: Published::new(cleared.spare_capacity_mut()),
        most,
    };
    let mut join_ram = JoinThenRam::new(&joining, scope);
    let mut others = OtherTables::new(scope, &walked, &ws.root, &mut ws.audit);
    let checked = check_reference(
        map,
        &joining,
        &mut ws.pool,
        &mut ws.rule_spans,
        [&mut join_ram, &mut others],
        findings,
        &mut mapped,
    );
    let (tables, mms) = (others.tables, others.mms);
    let (joined, merge_ns) = (join_ram.joined, join_ram.join_ns);
    let ram_ns = |join_ram_ns: u64| join_ram_ns.saturating_sub(merge_ns);
    // The join is done with the CPUs' lists: back into their buffers.
    ws.pool.swap_lists(&mut ws.lists);
    let ([join_ram_ns, audit_ns], side_starts) = checked?;
    let phases = Phases {
        walk_ns: walked.ns,
        rules_ns: ns_since(rules_start),
        ram_ns: ram_ns(join_ram_ns),
        audit_ns,
        total_ns: 0,
    };
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
        side_starts,
        mapped,
        others: tables,
        mms,
        phases,
    })
}

/// The modules area's code (`ranges` of the reference at `reference`): no
/// writable alias in the direct map (`check::code_aliases`), into
/// `findings`.
fn code_aliases(
    map: &LiveMap<'_>,
    (live, reference): (&Live, u64),
    ranges: &[Range],
    findings: &mut Findings,
) -> Result {
    let walk = walk_of(live);
    let mut src = DirectMap::new(live.page_offset_base);
    let scope = (&walk, reference, live.page_offset_base);
    let unused = |code| crate::helpers::traps_only_in(code);
    check::code_aliases(scope, (map, &unused), ranges, &mut src, &mut |f| {
        findings.push(f)
    })?;
    Ok(())
}

fn scan_with(
    map: &LiveMap<'static>,
    live: &Live,
    ram: &[(u64, u64)],
    reference: u64,
    ws: &mut Workspace,
) -> Result<Scan> {
    let start = Clock::now();
    // The walk and the rules, the two jobs on every CPU, in one session:
    // the other CPUs' workers wait between them instead of being woken
    // for each. Begun first, so that they wake while this CPU prepares.
    let mut session = ws.session();
    let walk = walk_of(live);
    let scope = Scope {
        walk,
        live,
        ram,
        reference,
    };
    let mut findings = findings_in(core::mem::take(&mut session.spare_findings));
    let parallel = walk_and_check(map, scope, &mut session, &mut findings);
    drop(session);
    let Checked {
        walked,
        side_starts: [per_range, tables],
        mapped,
        others,
        mms: checked_mms,
        phases,
    } = parallel?;
    note_walk(&walk, map, &walked, &mut findings)?;
    let aliases = findings.list.len();
    code_aliases(map, (live, reference), &walked.ranges, &mut findings)?;
    // Executable code whose owner the symbol table does not name (info).
    let image = (live.text_start, live.text_end);
    let belongs = |va: u64, out: &mut NameBuf| crate::watch::belongs_to(va, out);
    let parts = Parts {
        per_range,
        tables,
        aliases,
        unowned: findings.list.len(),
    };
    let mut src = DirectMap::new(live.page_offset_base);
    check::unowned_code(map, &walked.ranges, image, &belongs, &mut |f| {
        findings.push(f)
    })?;
    let checked_cpus = walked.cpus.len() as u32;
    // Every warn or error finding about a leaf checked again against the
    // reference as it is now.
    let ranges = &walked.ranges;
    let (rechecked, settled) = check::recheck_settled(
        (&walk, reference),
        &mut findings.list,
        ranges,
        &mut src,
        &mut |_| code_alias_wait(),
    );
    Ok(Scan {
        walked,
        reference,
        ram: KVec::new(),
        findings,
        parts,
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
        seen: KVVec::new(),
    })
}
