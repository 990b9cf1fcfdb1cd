// SPDX-License-Identifier: GPL-2.0

//! `vmlayout check`: the module's checks without the module, on the
//! running kernel's `/proc/kcore` or on a crash dump, with the same core
//! (`vmlayout_core::check`): the walk of the reference tables, the
//! per-range rules, System RAM against the direct map, the audit of each
//! CPU's table where the dump holds its CR3. The result is a snapshot in
//! the module's own records ([`vmlayout_core::report`]), so `report`,
//! `diff`, `draw` and `kaslr` read it unchanged.

use std::collections::BTreeMap;
use std::path::Path;

use vmlayout_core::batch::{NoRoom, RangeList, WalkCounts};
use vmlayout_core::check::{
    audit_top, check_other_table, check_walked, code_aliases, kernel_image, note_walk, poke_leaks,
    recheck_settled, walk_reference, CheckError, FindingList, Findings, Target, Walked,
};
use vmlayout_core::layout::{Live, PAGE_SIZE, PUD_SIZE, START_KERNEL_MAP};
use vmlayout_core::map::{DocMap, Paging, RegionId};
use vmlayout_core::pte::{Level, PageTableEntry, Table, ENTRIES, PHYS_ADDR_MASK};
use vmlayout_core::record::header;
use vmlayout_core::report::{self, Checked, Origin, Scope};
use vmlayout_core::rules::{Finding, LiveMap, Owner, TableKind, TextAliases};
use vmlayout_core::walk::{Range, Scratch, TableSource, Walk};

use crate::docs::Docs;
use crate::elf::{Core, PhysTables};
use crate::facts::{self, Facts};
use crate::source::{utc_now, Snapshot, VmFile};

/// A list of ranges for the core's walk, of at most [`MAX_RANGES`]: a
/// corrupted dump whose entries all point at one table would otherwise
/// make billions.
#[derive(Default)]
pub struct List(pub Vec<Range>);

/// Most ranges a table's walk keeps (a 256 GiB guest under debug_pagealloc
/// has a few hundred; ESPFIX's strided mappings tens of thousands).
const MAX_RANGES: usize = 1 << 22;

impl RangeList for List {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn last(&self) -> Option<&Range> {
        self.0.last()
    }
    fn as_slice(&self) -> &[Range] {
        &self.0
    }
    fn as_mut_slice(&mut self) -> &mut [Range] {
        &mut self.0
    }
    fn last_mut(&mut self) -> Option<&mut Range> {
        self.0.last_mut()
    }
    fn truncate(&mut self, len: usize) {
        self.0.truncate(len)
    }
    fn push(&mut self, range: Range) -> Result<(), NoRoom> {
        if self.0.len() >= MAX_RANGES {
            return Err(NoRoom);
        }
        self.0.push(range);
        Ok(())
    }
}

/// A list of findings for the core.
#[derive(Default)]
pub struct FindingVec(pub Vec<Finding>);

impl FindingList for FindingVec {
    fn push(&mut self, finding: Finding) -> Result<(), NoRoom> {
        self.0.push(finding);
        Ok(())
    }
    fn as_mut_slice(&mut self) -> &mut [Finding] {
        &mut self.0
    }
}

/// What to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input<'p> {
    /// The running kernel, through `/proc/kcore` (or a file of that form).
    Kcore(&'p Path),
    /// A crash dump.
    Vmcore(&'p Path),
}

/// What a check needs to know before the walk, from the file and the
/// running kernel.
fn gather(core: &Core, input: Input<'_>) -> Facts {
    let mut f = Facts::default();
    if let Some(desc) = core.note("VMCOREINFO") {
        facts::from_vmcoreinfo(&facts::vmcoreinfo(desc), &mut f);
    }
    match input {
        Input::Kcore(_) => {
            let syms = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
            facts::from_kallsyms(core, &facts::kallsyms(&syms), &mut f);
            let iomem = std::fs::read_to_string("/proc/iomem").unwrap_or_default();
            f.ram = facts::iomem_ram(&iomem);
            f.ram_source = "System RAM in /proc/iomem".into();
            f.pti = facts::running_pti();
            f.config = crate::source::running_config().unwrap_or_default();
            if f.release.is_none() {
                f.release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
                    .ok()
                    .map(|r| r.trim().to_string());
            }
        }
        Input::Vmcore(_) => from_cpus(core, &mut f),
    }
    if f.ram.is_empty() {
        f.ram = facts::segment_ram(core);
        f.ram_source = "the file's memory segments".into();
        // kdump's segments are System RAM (kexec-tools takes them from
        // iomem); QEMU's are every RAM block of the machine.
        if core.note("QEMU").is_some() {
            f.ram_unknown = Some("System RAM against the direct map: a QEMU dump holds every memory block of the machine (firmware's and the framebuffer's too), not which of it is System RAM");
        }
    }
    if f.page_offset_base.is_none() {
        f.page_offset_base = facts::segment_page_offset(core).map(|b| {
            (
                b,
                "the file's segments (virtual minus physical address of RAM)".into(),
            )
        });
    }
    f
}

/// LA57 in CR4: 5-level paging.
const CR4_LA57: u64 = 1 << 12;

/// The CPUs' CR3 from QEMU's notes, and from CPU 0's what VMCOREINFO did
/// not give: the paging mode and a top-level table whose kernel half is
/// the reference's.
fn from_cpus(core: &Core, f: &mut Facts) {
    let cpus = facts::qemu_cpus(core, PHYS_ADDR_MASK);
    f.tr_bases = facts::qemu_tr_bases(core);
    for (i, &(cr3, _)) in cpus.iter().enumerate() {
        f.cpus.push((i as u32, cr3));
    }
    if let Some(&(cr3, cr4)) = cpus.first() {
        if f.paging.is_none() {
            let paging = if cr4 & CR4_LA57 != 0 {
                Paging::Five
            } else {
                Paging::Four
            };
            f.paging = Some((paging, "CPU 0's CR4.LA57 (QEMU note)".into()));
        }
        if f.reference.is_none() {
            // Which table the CPUs' CR3s name is decided once the tables
            // can be read (`by_consensus`).
            f.reference = Some((cr3, CPU0_REFERENCE.into()));
        }
    }
}

/// The reference's source when it is CPU 0's table.
const CPU0_REFERENCE: &str = "CPU 0's CR3 (QEMU note; no VMCOREINFO)";

/// The reference's source when it is the table the CPUs' CR3s agree on
/// (`by_consensus`), followed by which candidate it was.
const CONSENSUS_REFERENCE: &str = "the CPUs' CR3s (QEMU notes; no VMCOREINFO): the table whose kernel half the most CPUs share, mapping the kernel image";

/// Whether the reference is `init_mm`'s table (named by a symbol), not a
/// CPU's active table, whose user half may be a process's.
fn reference_is_init_mm(f: &Facts) -> bool {
    f.reference.as_ref().is_some_and(|(_, source)| {
        source != CPU0_REFERENCE && !source.starts_with(CONSENSUS_REFERENCE)
    })
}

/// The kernel's top-level table a CPU's CR3 names. With PTI, CR3 holds
/// the user-mode copy (the kernel table + 4096) in user mode and in the
/// entry code around the switch; without PTI, bit 12 is an address bit like
/// the others. So when it is set, of the table there and the one before,
/// the one whose kernel half is more like `like` (the reference's).
fn kernel_table_of(cr3: u64, src: &mut PhysTables<'_>, like: &Table) -> u64 {
    if cr3 & (1 << 12) == 0 {
        return cr3;
    }
    let mut table: Box<Table> = Box::new([0; ENTRIES]);
    let mut score = |phys: u64| {
        if !src.copy_table(phys, &mut table) {
            return 0;
        }
        (ENTRIES / 2..ENTRIES)
            .filter(|&i| table[i] == like[i])
            .count()
    };
    let before = cr3 - (1 << 12);
    if score(before) > score(cr3) {
        before
    } else {
        cr3
    }
}

/// The tables the CPUs' CR3s may name (each CR3, and with bit 12 set the
/// page before, PTI's kernel table), best first: those whose kernel half
/// the most CPUs share (every kernel top-level table copies the same
/// kernel half, so the CPUs on kernel tables agree, whatever process each
/// runs), then those with the kernel-image entry present, then the fuller
/// kernel half. Without PTI bit 12 is an address bit like the others, and
/// the page before a process's table can be anything, a full PMD table
/// included: fullness alone once chose one, and its walk was nonsense.
fn by_consensus(cpus: &[(u32, u64)], top: Level, src: &mut PhysTables<'_>) -> Vec<u64> {
    let mut halves: Vec<(u64, usize, Box<Table>)> = Vec::new();
    for (cpu, &(_, cr3)) in cpus.iter().enumerate() {
        let pair = [Some(cr3), (cr3 & (1 << 12) != 0).then(|| cr3 - (1 << 12))];
        for phys in pair.into_iter().flatten() {
            let mut table: Box<Table> = Box::new([0; ENTRIES]);
            if src.copy_table(phys, &mut table) {
                halves.push((phys, cpu, table));
            }
        }
    }
    let image = top.index(START_KERNEL_MAP);
    let half = ENTRIES / 2..ENTRIES;
    let score = |t: &Table| {
        let agreeing = (0..cpus.len())
            .filter(|&cpu| {
                halves
                    .iter()
                    .any(|(_, c, o)| *c == cpu && o[half.clone()] == t[half.clone()])
            })
            .count();
        let full = half.clone().filter(|&i| t[i] != 0).count();
        (agreeing, t[image] & 1, full)
    };
    let mut ranked: Vec<(u64, (usize, u64, usize))> =
        halves.iter().map(|(p, _, t)| (*p, score(t))).collect();
    ranked.sort_by_key(|r| std::cmp::Reverse(r.1));
    let mut out: Vec<u64> = Vec::new();
    for (phys, _) in ranked {
        if !out.contains(&phys) {
            out.push(phys);
        }
    }
    out
}

/// The first range at or after `from`, in address order.
fn first_from(ranges: &[Range], from: u64) -> Option<&Range> {
    ranges.get(ranges.partition_point(|r| r.last < from))
}

/// A base VMCOREINFO and the running kernel did not give, from the walked
/// tables: the first mapping at or after `from`, rounded down to the
/// 1 GiB the kernel aligns its randomized bases to.
fn inferred(ranges: &[Range], from: u64, what: &str) -> Option<(u64, String)> {
    let r = first_from(ranges, from)?;
    let base = match what {
        // The direct map is linear: virtual minus physical.
        "page_offset_base" => r.start.wrapping_sub(r.phys),
        _ => r.start & !(PUD_SIZE - 1),
    };
    Some((
        base,
        format!("{what}: inferred from the tables (first mapping)"),
    ))
}

/// Documented row `id`'s size, first address, and the first address the
/// walk found mapped in it.
fn row_size(doc: &DocMap<'_>, id: RegionId) -> u64 {
    doc.index_of(id)
        .map_or(0, |i| doc.regions[i].end - doc.start_of(i) + 1)
}

fn row_start(doc: &DocMap<'_>, id: RegionId) -> u64 {
    doc.index_of(id).map_or(0, |i| doc.start_of(i))
}

fn first_in_row(doc: &DocMap<'_>, ranges: &[Range], id: RegionId) -> Option<u64> {
    let i = doc.index_of(id)?;
    let r = first_from(ranges, doc.start_of(i))?;
    (r.start <= doc.regions[i].end).then_some(r.start)
}

/// `page_offset_base`, `vmalloc_base` and `vmemmap_base` with their
/// sources: the facts', else inferred from `ranges` in that order (each
/// region lies past the one before).
fn randomized_bases(doc: &DocMap<'_>, f: &mut Facts, ranges: &[Range]) -> [(u64, String); 3] {
    let half = match f.paging.as_ref().map(|p| p.0) {
        Some(Paging::Five) => 0xff00_0000_0000_0000,
        _ => 0xffff_8000_0000_0000,
    };
    let take = |slot: &mut facts::Sourced<u64>, guess: Option<(u64, String)>| {
        if slot.is_none() {
            *slot = guess;
        }
        slot.clone().unwrap_or((0, "unknown".into()))
    };
    let direct = inferred(ranges, half, "page_offset_base");
    let direct = take(&mut f.page_offset_base, direct);
    // KASLR sizes the direct map by RAM (plus padding), not by the
    // document: vmalloc's area is the first mapping past RAM's end.
    let after_direct = direct.0.saturating_add(f.ram_end());
    let vmalloc = take(
        &mut f.vmalloc_base,
        inferred(ranges, after_direct, "vmalloc_base"),
    );
    let after_vmalloc = vmalloc.0.saturating_add(row_size(doc, RegionId::Vmalloc));
    let vmemmap = inferred(ranges, after_vmalloc, "vmemmap_base");
    let vmemmap = take(&mut f.vmemmap_base, vmemmap);
    [direct, vmalloc, vmemmap]
}

/// Whether the kernel has KASAN: the facts', else whether its shadow is
/// mapped outside the randomized regions `bases` starts.
fn kasan_of(doc: &DocMap<'_>, f: &Facts, ranges: &[Range], bases: [u64; 3]) -> bool {
    f.kasan.unwrap_or_else(|| {
        let ids = [RegionId::DirectMap, RegionId::Vmalloc, RegionId::Vmemmap];
        let own: Vec<(u64, u64)> = bases
            .iter()
            .zip(ids)
            .map(|(&base, id)| (base, base.saturating_add(row_size(doc, id))))
            .collect();
        shadow_mapped(doc, ranges, &own)
    })
}

/// The bases and sizes the walk needs to be judged, from the facts or
/// inferred from `ranges` where they are silent. Returns them with where
/// each of `report::BASES` came from.
fn live_of(doc: &DocMap<'_>, f: &mut Facts, ranges: &[Range]) -> (Live, [String; 7]) {
    let [direct, vmalloc, vmemmap] = randomized_bases(doc, f, ranges);
    // KERNEL_IMAGE_SIZE: 1 GiB with RANDOMIZE_BASE, else 512 MiB; when
    // neither VMCOREINFO nor the config says, 1 GiB (distributions' kernels).
    let image_size = f
        .image_size
        .unwrap_or(match f.config.get("CONFIG_RANDOMIZE_BASE") {
            None if !f.config.is_empty() => 512 << 20,
            Some(v) if v != "y" => 512 << 20,
            _ => 1 << 30,
        });
    let (text_start, text_end) = kernel_image(ranges, image_size);
    let config = |k: &str| f.config.get(k).and_then(|v| parse_num(v));
    let physical_start = match f.kaslr_offset {
        Some(off) => text_start.wrapping_sub(START_KERNEL_MAP).wrapping_sub(off),
        None => config("CONFIG_PHYSICAL_START").unwrap_or(0x100_0000),
    };
    let phys_base = f.phys_base.clone().unwrap_or((0, "unknown".into()));
    let randomize_memory = match f.config.get("CONFIG_RANDOMIZE_MEMORY") {
        Some(v) => v == "y",
        None => direct.0 != row_start(doc, RegionId::DirectMap),
    };
    let live = Live {
        paging: f.paging.as_ref().map_or(Paging::Four, |p| p.0),
        page_offset_base: direct.0,
        vmalloc_base: vmalloc.0,
        vmemmap_base: vmemmap.0,
        text_start,
        text_end,
        phys_base: phys_base.0,
        physical_start,
        physical_align: config("CONFIG_PHYSICAL_ALIGN").unwrap_or(0x20_0000),
        kernel_image_size: image_size,
        ram_end: f.ram_end(),
        // Neither is readable offline: CPU 0's area is the first mapped in
        // the region, FIXADDR_START the documented start.
        cpu_entry_area0: first_in_row(doc, ranges, RegionId::CpuEntryArea)
            .unwrap_or_else(|| row_start(doc, RegionId::CpuEntryArea)),
        fixaddr_start: row_start(doc, RegionId::Fixmap),
        kasan: kasan_of(doc, f, ranges, [direct.0, vmalloc.0, vmemmap.0]),
        randomize_memory,
    };
    let slide = match f.kaslr_offset {
        Some(_) => "VMCOREINFO KERNELOFFSET",
        None => "kernel_text - __START_KERNEL_map - CONFIG_PHYSICAL_START",
    };
    let text = "first and last mapping of the kernel image window (the walk)";
    let ram = f.ram_source.clone();
    let sources = [
        direct.1,
        vmalloc.1,
        vmemmap.1,
        text.into(),
        slide.into(),
        phys_base.1,
        ram,
    ];
    (live, sources)
}

/// Whether anything is mapped in the KASAN shadow's documented window
/// outside the randomized regions' extents (`own`, which 5-level KASLR may
/// place inside that window): a kernel with KASAN, when nothing says.
fn shadow_mapped(doc: &DocMap<'_>, ranges: &[Range], own: &[(u64, u64)]) -> bool {
    let Some(i) = doc.index_of(RegionId::KasanShadow) else {
        return false;
    };
    let (first, last) = (doc.start_of(i), doc.regions[i].end);
    let from = ranges.partition_point(|r| r.last < first);
    ranges[from..]
        .iter()
        .take_while(|r| r.start <= last)
        .any(|r| !own.iter().any(|&(a, b)| a <= r.start && r.start < b))
}

fn parse_num(v: &str) -> Option<u64> {
    crate::source::parse_hex(v).or_else(|| v.parse().ok())
}

/// Everything one check found, to be written as the module's files.
struct Result_ {
    ranges: Vec<Range>,
    findings: Findings<FindingVec>,
    mapped: Vec<[u64; 3]>,
    counts: WalkCounts,
    rechecked: (u64, u64),
    cpus_checked: u32,
    pages: u64,
    /// The user-mode (PTI) table's ranges, or why it was not checked.
    user: Result<Vec<Range>, &'static str>,
}

/// Check `input`: a snapshot of what the module would show.
pub fn check(input: Input<'_>, docs: &Docs) -> Result<Snapshot, String> {
    check_and_capture(input, docs, None)
}

/// [`check`], and with `capture`, the table pages it read written there as
/// an ELF core file of their own ([`crate::elf::capture`]).
pub fn check_and_capture(
    input: Input<'_>,
    docs: &Docs,
    capture: Option<&Path>,
) -> Result<Snapshot, String> {
    let (path, origin) = match input {
        Input::Kcore(p) => (p, Origin::Kcore),
        Input::Vmcore(p) => (p, Origin::Vmcore),
    };
    let mut phases = Phases::new();
    let core = Core::open(path)?;
    phases.lap("open");
    let mut f = gather(&core, input);
    phases.lap("gather");
    let mut src = PhysTables::new(&core);
    if capture.is_some() {
        src.seen = Some(Default::default());
    }
    let (judged, walked) = prepare(path, docs, &mut f, &mut src)?;
    if f.pti.is_none() {
        pti_from_tss(&judged.walk, judged.reference, &mut f, &mut src);
    }
    phases.lap("judge+walk");
    let Judged {
        walk,
        reference,
        doc,
        live,
        ..
    } = judged;
    let Prepared {
        ranges,
        cleared,
        counts,
        top,
    } = walked;
    let walked = Walked {
        ranges: &ranges.0,
        cleared: &cleared.0,
        counts: &counts,
    };
    let mut scratch: Box<Scratch> = Box::new([[0; ENTRIES]; 4]);
    let scope = (walk, reference, &live);
    let result = check_all(doc, scope, &f, walked, (&mut src, &top, &mut scratch))?;
    phases.lap("checks");
    let result = Result_ {
        ranges: ranges.0,
        counts,
        pages: src.pages,
        ..result
    };
    let sources = &judged.sources;
    let files = write_files(origin, doc, docs, (&live, sources), &f, reference, &result);
    if let (Some(out), Some(seen)) = (capture, &src.seen) {
        crate::elf::capture(&core, seen, out)?;
    }
    phases.lap("records");
    snapshot(path, origin, &f, files)
}

/// Where a check's time goes, on standard error when `VMLAYOUT_TIMES` is
/// set: the profile of `vmlayout check` (Documentation/vmlayout/offline.rst).
struct Phases(Option<std::time::Instant>);

impl Phases {
    fn new() -> Self {
        Phases(std::env::var_os("VMLAYOUT_TIMES").map(|_| std::time::Instant::now()))
    }

    /// The time since the last lap, as phase `what`.
    fn lap(&mut self, what: &str) {
        // Off unless asked for: `Option::replace` would turn it on.
        if let Some(start) = &mut self.0 {
            let now = std::time::Instant::now();
            let ms = (now - *start).as_secs_f64() * 1e3;
            eprintln!("vmlayout check: {what} {ms:.1} ms");
            *start = now;
        }
    }
}

/// What a kernel is judged by: its walk configuration, its reference
/// table, the documented map of its release, its live bases (with where
/// each came from) and System RAM (empty when unknown).
pub struct Judged<'d> {
    /// The walk configuration.
    pub walk: Walk,
    /// The reference top-level table (physical).
    pub reference: u64,
    /// The documented map of the kernel's release.
    pub doc: &'d DocMap<'static>,
    /// The live bases.
    pub live: Live,
    /// System RAM held against the direct map.
    pub ram: Vec<(u64, u64)>,
    sources: [String; 7],
}

/// The walk of the reference the bases were inferred from.
struct Prepared {
    ranges: List,
    cleared: List,
    counts: WalkCounts,
    top: Box<Table>,
}

/// The walk of the table at `reference`.
fn walk_at(walk: &Walk, reference: u64, src: &mut PhysTables<'_>) -> Result<Prepared, CheckError> {
    let mut top: Box<Table> = Box::new([0; ENTRIES]);
    let mut scratch: Box<Scratch> = Box::new([[0; ENTRIES]; 4]);
    let (mut ranges, mut cleared) = (List::default(), List::default());
    let space = (&mut *top, &mut *scratch);
    let counts = walk_reference(walk, reference, src, space, (&mut ranges, &mut cleared))?;
    Ok(Prepared {
        ranges,
        cleared,
        counts,
        top,
    })
}

/// What `input` is judged by (the reference walked once to find it).
pub fn judge<'d>(input: Input<'_>, docs: &'d Docs) -> Result<Judged<'d>, String> {
    let path = match input {
        Input::Kcore(p) | Input::Vmcore(p) => p,
    };
    let core = Core::open(path)?;
    let mut f = gather(&core, input);
    let mut src = PhysTables::new(&core);
    Ok(prepare(path, docs, &mut f, &mut src)?.0)
}

/// The paging mode, the reference, the documented map; the walk of the
/// reference; the bases, inferred from it where the facts are silent.
fn prepare<'d>(
    path: &Path,
    docs: &'d Docs,
    f: &mut Facts,
    src: &mut PhysTables<'_>,
) -> Result<(Judged<'d>, Prepared), String> {
    let name = path.display();
    let missing = "no VMCOREINFO note, no kallsyms, no CPU registers";
    let (paging, _) = f
        .paging
        .clone()
        .ok_or_else(|| format!("{name}: cannot tell the paging mode: {missing}"))?;
    let (reference, source) = f
        .reference
        .clone()
        .ok_or_else(|| format!("{name}: cannot find the reference page table: {missing}"))?;
    let walk = Walk {
        top: Level::top(paging),
        phys_mask: PHYS_ADDR_MASK & !f.sme_mask,
    };
    let doc = docs.for_release(paging, f.release.as_deref())?;
    // From the CPUs' registers, the best table they name (`by_consensus`)
    // that maps the kernel image: a walk of a page that is no kernel
    // top-level table (seen once: a PMD table, walked as a top level into
    // gigabyte "leaves" of nonsense) must not become findings.
    let candidates: Vec<u64> = match source.as_str() {
        CPU0_REFERENCE => by_consensus(&f.cpus, walk.top, src),
        _ => vec![reference],
    };
    let mut walked = Err(CheckError::NoReference);
    let mut reference = reference;
    for (n, &candidate) in candidates.iter().enumerate() {
        reference = candidate;
        walked = walk_at(&walk, candidate, src);
        let maps_image = |w: &Prepared| first_from(&w.ranges.0, START_KERNEL_MAP).is_some();
        if source != CPU0_REFERENCE || walked.as_ref().is_ok_and(maps_image) {
            if source == CPU0_REFERENCE {
                let why = format!("{CONSENSUS_REFERENCE} (candidate {n})");
                f.reference = Some((candidate, why));
            }
            break;
        }
        if n + 1 == candidates.len() {
            return Err(format!("{name}: no CPU's table (CR3) maps the kernel image: no reference page table to check"));
        }
    }
    let Prepared { ranges, cleared, counts, top } = walked.map_err(|e| match e {
        CheckError::NoReference => {
            format!("{name}: the reference page table at {reference:#x} is not in the file")
        }
        CheckError::NoRoom => format!(
            "{name}: more than {MAX_RANGES} ranges or {} table pages: not a kernel's tables (corrupted?)",
            crate::elf::MAX_TABLE_PAGES
        ),
    })?;
    let (live, sources) = live_of(doc, f, &ranges.0);
    let ram = if f.ram_unknown.is_some() {
        Vec::new()
    } else {
        f.ram.clone()
    };
    let judged = Judged {
        walk,
        reference,
        doc,
        live,
        ram,
        sources,
    };
    Ok((
        judged,
        Prepared {
            ranges,
            cleared,
            counts,
            top,
        },
    ))
}

/// Every check of the walked tables: the reference's (rules, System RAM,
/// notes, rechecks), each CPU's top-level table, PTI's user-mode table.
fn check_all(
    doc: &DocMap<'_>,
    (walk, reference, live): (Walk, u64, &Live),
    f: &Facts,
    walked: Walked<'_>,
    (src, top, scratch): (&mut PhysTables<'_>, &Table, &mut Scratch),
) -> Result<Result_, String> {
    let map = LiveMap::new(doc, live);
    let target = Target {
        walk,
        map: &map,
        reference,
        page_offset_base: live.page_offset_base,
        ram: if f.ram_unknown.is_some() { &[] } else { &f.ram },
    };
    let mut findings = Findings::new(FindingVec::default());
    let mut mapped = vec![[0u64; 3]; doc.regions.len()];
    let text = check_walked(
        target,
        walked,
        (&mut *src, scratch),
        &mut findings,
        &mut mapped,
    )
    .map_err(|_| "out of memory".to_string())?;
    let cpus_checked = audit_cpus((&walk, live), &map, f, (top, &mut *src), &mut findings);
    let user = check_user_table(
        (&walk, &map, &text),
        f,
        (reference, &mut *src),
        &mut findings,
    );
    // Last, as in the module's scan: what the walk noted, then every warn
    // or error finding checked again.
    let counts = walked.counts;
    let _ = note_walk(&walk, &map, Owner::Reference, counts, &mut |x| {
        findings.push(x)
    });
    let scope = (&walk, reference, live.page_offset_base);
    // What a page of code holds is not read here: every writable alias of
    // the modules area's code is an error.
    let unused = |_| false;
    let _ = code_aliases(scope, (&map, &unused), walked.ranges, &mut *src, &mut |x| {
        findings.push(x)
    });
    if reference_is_init_mm(f) {
        let _ = poke_leaks((&walk, reference), &map, (&mut *src, scratch), &mut |x| {
            findings.push(x)
        });
    }
    // A writable alias of code held through the looks (`recheck_settled`),
    // as the module confirms it: on /proc/kcore the kernel runs on.
    let wait =
        &mut |_: &mut PhysTables<'_>| std::thread::sleep(std::time::Duration::from_millis(20));
    let list = &mut findings.list.0;
    let rechecked = recheck_settled((&walk, reference), list, walked.ranges, src, wait);
    Ok(Result_ {
        ranges: Vec::new(),
        findings,
        mapped,
        counts: WalkCounts::default(),
        rechecked,
        cpus_checked,
        pages: 0,
        user,
    })
}

/// With PTI, a top-level table's user-mode copy is the page after it.
const USER_TABLE_OFFSET: u64 = 4096;

/// PTI's state from the tables where nothing else says (a dump with
/// QEMU's register notes): PTI maps each CPU's TSS (its TR base, in the
/// CPU entry area) into the user-mode table after the reference, for the
/// entry from user mode; without PTI, the page after the reference is no
/// table that maps the entry area (zeros, or the image's next table). On
/// when every CPU's TSS is mapped there to the frame the reference maps it
/// to, off when none is, unknown otherwise; with the TSS frames, which PTI
/// also maps at their per-CPU address.
fn pti_from_tss(walk: &Walk, reference: u64, f: &mut Facts, src: &mut PhysTables<'_>) {
    if f.tr_bases.is_empty() {
        return;
    }
    // None: a table on the way is not in the file; Some(None): unmapped.
    let mut phys_of = |root: u64, va: u64| {
        let r = walk.resolve(root, va, src)?;
        let offset = va & (r.level.entry_size() - 1);
        let frame = PageTableEntry(r.entry).frame(r.level, walk.phys_mask);
        Some(r.present().then_some(frame + offset))
    };
    let (mut frames, mut mapped) = (Vec::new(), 0);
    for &va in &f.tr_bases {
        let Some(Some(phys)) = phys_of(reference, va) else {
            return;
        };
        match phys_of(reference + USER_TABLE_OFFSET, va) {
            None => return,
            Some(user) => mapped += usize::from(user == Some(phys)),
        }
        frames.push(phys & !(PAGE_SIZE - 1));
    }
    let source = "each CPU's TSS (TR base, QEMU note) mapped in the table after the reference";
    if mapped == f.tr_bases.len() {
        f.pti = Some((true, source.into()));
        f.tss_frames = Some(frames);
    } else if mapped == 0 {
        f.pti = Some((false, format!("{source}: none is")));
    }
}

/// The VAs of `ranges` (a user-mode table's) that are CPUs' TSS pages:
/// those kallsyms names, or the single pages mapping a TSS frame.
fn tss_pages(f: &Facts, ranges: &[Range]) -> Vec<u64> {
    if let Some(pages) = &f.tss_pages {
        return pages.clone();
    }
    let frames = f.tss_frames.as_deref().unwrap_or_default();
    ranges
        .iter()
        .filter(|r| r.last - r.start == PAGE_SIZE - 1 && frames.contains(&r.phys))
        .map(|r| r.start)
        .collect()
}

/// The reference's user-mode (PTI) table, kernel half: walked and held to
/// what PTI clones for user mode, as the module holds it. Each possible
/// CPU's TSS page is mapped there too, in the direct map: told apart only
/// where kallsyms names them. Returns the table's ranges, or why it was
/// not checked.
fn check_user_table(
    (walk, map, text): (&Walk, &LiveMap<'_>, &TextAliases),
    f: &Facts,
    (reference, src): (u64, &mut PhysTables<'_>),
    findings: &mut Findings<FindingVec>,
) -> Result<Vec<Range>, &'static str> {
    match &f.pti {
        Some((true, _)) => {}
        Some((false, _)) => {
            return Err("page-table isolation is off: there are no user-mode tables")
        }
        None => {
            return Err(
                "whether page-table isolation is on is not known offline (no /proc/cpuinfo)",
            )
        }
    }
    if f.tss_pages.is_none() && f.tss_frames.is_none() {
        return Err("the per-CPU TSS pages PTI maps cannot be told from a leak without kallsyms or the CPUs' TR (QEMU's notes)");
    }
    let phys = reference.wrapping_add(USER_TABLE_OFFSET);
    let mut table: Box<Table> = Box::new([0; ENTRIES]);
    let mut scratch: Box<Scratch> = Box::new([[0; ENTRIES]; 4]);
    let (mut ranges, mut cleared) = (List::default(), List::default());
    walk_reference(
        walk,
        phys,
        src,
        (&mut table, &mut scratch),
        (&mut ranges, &mut cleared),
    )
    .map_err(|_| "the user-mode table after the reference is not in the file")?;
    let kind = (TableKind::User, Owner::UserTable);
    let tss = tss_pages(f, &ranges.0);
    let is_tss = |va: u64| tss.contains(&va);
    let keep = &mut |x| findings.push(x);
    // Out of room is not possible: the list is a Vec.
    let _ = check_other_table((map, text), kind, &ranges.0, is_tss, keep);
    Ok(ranges.0)
}

/// Each CPU's active table (its CR3) against the reference: returns how
/// many could be read.
fn audit_cpus(
    (walk, live): (&Walk, &Live),
    map: &LiveMap<'_>,
    f: &Facts,
    (reference, src): (&Table, &mut PhysTables<'_>),
    findings: &mut Findings<FindingVec>,
) -> u32 {
    let ldt_slot = walk.top.index(live.ldt_base());
    let mut copy: Box<Table> = Box::new([0; ENTRIES]);
    let mut checked = 0;
    let image_slot = walk.top.index(START_KERNEL_MAP);
    for &(cpu, cr3) in &f.cpus {
        let table = kernel_table_of(cr3 & walk.phys_mask, src, reference);
        // A page whose kernel-image slot is empty is no table the CPU
        // runs the kernel on (a CPU caught mid-switch, or a stale note):
        // not audited, and said so (`unchecked()`).
        let image = src.read_entry(table, image_slot);
        if image.is_none_or(|e| e & 1 == 0) && reference[image_slot] & 1 != 0 {
            continue;
        }
        let owner = Owner::Cpu(cpu);
        let mut emit = |x| findings.push(x);
        let pair = (&mut *src, &mut *copy);
        if let Ok(true) = audit_top(
            walk,
            map,
            (reference, table),
            (owner, ldt_slot),
            pair,
            &mut emit,
        ) {
            checked += 1;
        }
    }
    checked
}

/// The module's five files, written by the core's writers.
fn write_files(
    origin: Origin,
    doc: &DocMap<'_>,
    docs: &Docs,
    (live, sources): (&Live, &[String; 7]),
    f: &Facts,
    reference: u64,
    r: &Result_,
) -> BTreeMap<&'static str, String> {
    let mut files = BTreeMap::new();
    let top = Level::top(live.paging);
    let map = LiveMap::new(doc, live);
    let maps = || docs.maps(live.paging);
    let mut s = String::new();
    let _ = write_summary(&mut s, origin, (live, sources), (f, r), maps());
    files.insert("summary", s);
    let mut s = String::new();
    let user = r.user.as_ref().map_or(&[][..], |u| &u[..]);
    let mapped = |row: usize| report::mapped_bytes(&map, &r.mapped, std::iter::once(user), row);
    let _ = header(&mut s, "layout")
        .and_then(|()| report::write_layout(&mut s, live, maps(), doc.name, &mapped));
    files.insert("layout", s);
    // Whose code a range is: not looked up offline (no `code` records).
    let unknown = None;
    let mut s = String::new();
    let _ = header(&mut s, "map")
        .and_then(|()| {
            report::write_ranges(&mut s, &map, (Owner::Reference, unknown), &r.ranges, top)
        })
        .and_then(|()| report::write_ranges(&mut s, &map, (Owner::UserTable, unknown), user, top));
    files.insert("map", s);
    let scope = Scope {
        ranges: r.ranges.len(),
        ram_ranges: if f.ram_unknown.is_some() {
            0
        } else {
            f.ram.len()
        },
        cpus_checked: r.cpus_checked,
        mms_checked: 0,
        rechecked: r.rechecked.0,
        settled: r.rechecked.1,
        reference,
        other_tables: usize::from(r.user.is_ok()),
    };
    let mut s = String::new();
    let tally = &r.findings.tally;
    let _ = header(&mut s, "findings").and_then(|()| {
        report::write_findings(
            &mut s,
            (doc, top),
            (&scope, tally),
            (&r.findings.list.0, &[]),
            None,
        )
    });
    files.insert("findings", s);
    let mut s = String::new();
    let _ = write_stats(&mut s, doc, r);
    files.insert("stats", s);
    files
}

fn write_summary<'a>(
    s: &mut String,
    origin: Origin,
    (live, sources): (&Live, &[String; 7]),
    (f, r): (&Facts, &Result_),
    maps: impl Iterator<Item = &'a DocMap<'a>>,
) -> std::fmt::Result {
    header(s, "summary")?;
    report::write_origin(s, origin)?;
    let paging_source = f.paging.as_ref().map_or("unknown", |p| p.1.as_str());
    let sources: [&str; 7] = core::array::from_fn(|i| sources[i].as_str());
    report::write_bases(s, live, paging_source, &sources)?;
    let efi = "efi_mm's table: finding it needs the layout of struct mm_struct, which neither kcore nor a dump describes";
    report::write_efi(s, Checked::No(efi), false)?;
    let pti = f.pti.as_ref().is_some_and(|p| p.0);
    report::write_pti(s, pti)?;
    report::write_maps(s, maps)?;
    for (what, reason) in unchecked(origin, f, r) {
        report::write_unchecked(s, what, reason)?;
    }
    Ok(())
}

/// What an offline check cannot see, and why.
fn unchecked(origin: Origin, f: &Facts, r: &Result_) -> Vec<(&'static str, &'static str)> {
    let mut out = vec![
        ("mm-tables", "each process's top-level table: finding the processes needs the layout of struct task_struct, which neither kcore nor a dump describes"),
    ];
    if let Err(why) = r.user {
        out.push(("user-tables", why));
    }
    if let Some(why) = f.ram_unknown {
        out.push(("system-ram", why));
    }
    if !reference_is_init_mm(f) {
        out.push(("text-poke-area", "text_poke()'s area of init_mm's user half (poke-leak): the reference here is a CPU's table (no VMCOREINFO), whose user half is a process's"));
    }
    if !f.cpus.is_empty() && (r.cpus_checked as usize) < f.cpus.len() {
        out.push(("cpu-tables", "a CPU whose CR3 names a page not in the file, or one with no kernel-image entry (no table the kernel runs on: a CPU caught mid-switch, or a stale register note): not audited"));
    }
    if f.cpus.is_empty() {
        out.push(match origin {
            Origin::Kcore => ("cpu-tables", "another CPU's live CR3: /proc/kcore holds memory, not registers"),
            _ => ("cpu-tables", "each CPU's CR3: this dump has no per-CPU register notes (QEMU's dump-guest-memory writes them)"),
        });
    }
    out
}

fn write_stats(s: &mut String, doc: &DocMap<'_>, r: &Result_) -> std::fmt::Result {
    use vmlayout_core::record::Record;
    header(s, "stats")?;
    Record::new(s, "walk")?
        .num("ranges", r.ranges.len())?
        .num("table_pages", r.pages)?
        .num("cpus", 1)?
        .num("retried_items", r.counts.retries)?
        .num("changed_items", r.counts.changed)?
        .end()?;
    report::write_region_bytes(s, doc, &r.mapped)
}

/// The snapshot of the files, with what is known of the kernel.
fn snapshot(
    path: &Path,
    origin: Origin,
    f: &Facts,
    files: BTreeMap<&'static str, String>,
) -> Result<Snapshot, String> {
    let name = path.display().to_string();
    let mut meta = BTreeMap::new();
    meta.insert("source".to_string(), format!("{}:{name}", origin.name()));
    meta.insert("time".to_string(), utc_now());
    if let Some(r) = &f.release {
        meta.insert("release".to_string(), r.clone());
    }
    let mut parsed = BTreeMap::new();
    for (file, text) in files {
        let vm = VmFile::parse(file, &name, &text, 1).map_err(|e| e.to_string())?;
        parsed.insert(file.to_string(), vm);
    }
    Ok(Snapshot {
        origin: name,
        meta,
        config: f.config.clone(),
        files: parsed,
    })
}
