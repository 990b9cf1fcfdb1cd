// SPDX-License-Identifier: GPL-2.0

//! vmlayout: check the live x86-64 kernel virtual memory layout against its
//! documented map (`Documentation/arch/x86/x86_64/mm.rst`).
//!
//! Files under `/sys/kernel/debug/vmlayout/` (record format in
//! `Documentation/vmlayout/format.rst`):
//!
//! * `summary`: paging mode and the live bases, each with its source.
//! * `layout`: every documented region held against the live kernel.
//! * `map`: every mapped range of the kernel half, ptdump-like.
//! * `findings`: what the rules found, and what each rule looked at.
//! * `stats`: per-region bytes per page size, per-CPU walk counters.
//! * `rescan`: write `1` to walk again.
//! * `selftest`: write `fault` to fire the tracepoint on a guard page.
//! * `bench`: write `floor` to time copying every table page once.

use core::fmt;

use kernel::{
    alloc::KVec,
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
};

/// Out of tree: the 7.x kernel crates' differences, the bindings the
/// kernel lacks, debugfs files of our own: `compat.rs`, the one file the
/// series leaves out. Included rather than `mod compat;`, which the
/// kernel's rustfmtcheck would follow to a file the kernel tree lacks.
#[cfg(vmlayout_external)]
#[macro_use]
mod compat {
    include!("compat.rs");
}
/// In tree: the kernel's own, newest API (`compat.rs` has the others).
#[cfg(not(vmlayout_external))]
#[macro_use]
mod compat {
    /// Declare the module through `$declare!(type, default)`: the type and
    /// the default of `scan_on_load`.
    macro_rules! with_scan_on_load {
        ($declare:ident) => {
            $declare!(bool, true);
        };
    }

    /// Whether `scan_on_load` is set.
    pub(crate) fn scan_on_load() -> bool {
        crate::module_parameters::scan_on_load.value()
    }
}
mod fault;
mod files;
mod helpers;
#[cfg(CONFIG_X86_VMLAYOUT_KUNIT_TEST)]
mod kunit;
mod live;
mod scan;

use files::{CommandFile, ShowFile};

/// The kernel-independent half, shared with the host crate in `tools/vmlayout/`.
/// Public so that the shared files' `pub` items are reachable, as they are in
/// the host crate.
pub mod vmlayout_core {
    /// The documented maps, generated from the kernel tree's `mm.rst` by
    /// `mmgen.rs`: into the build tree by Kbuild in tree, next to the
    /// sources by the top-level Makefile out of tree.
    #[cfg(not(vmlayout_external))]
    pub mod generated_maps {
        include!(concat!(
            env!("OBJTREE"),
            "/arch/x86/mm/vmlayout/generated_maps.rs"
        ));
    }
    /// The documented maps (see above).
    #[cfg(vmlayout_external)]
    pub mod generated_maps {
        include!("vmlayout_core/generated_maps.rs");
    }
    pub mod batch;
    pub mod direct_map;
    pub mod layout;
    pub mod map;
    /// The `mm.rst` parser: in the module only for the KUnit checks of it.
    #[cfg(CONFIG_X86_VMLAYOUT_KUNIT_TEST)]
    pub mod mm_doc;
    pub mod pte;
    pub mod record;
    pub mod rules;
    pub mod runs;
    pub mod sync;
    #[cfg(CONFIG_X86_VMLAYOUT_KUNIT_TEST)]
    pub mod unit;
    pub mod walk;
    pub mod work;
}

use vmlayout_core::{
    batch::WalkCounts,
    generated_maps::MAPS,
    layout::{evaluate, Live, TEXT_SOURCE},
    map::DocMap,
    pte::{Flags, Level},
    record::{header, Record},
    rules::{LiveMap, Owner, Rule},
    runs::runs,
    walk::Range,
};

/// The module, with `scan_on_load`'s type and default from `compat`.
macro_rules! declare_module {
    ($flag:tt, $default:tt) => {
        module! {
            type: Vmlayout,
            name: "vmlayout",
            authors: ["vmlayout developers"],
            description: "Check the live x86-64 kernel memory layout against its documented map",
            license: "GPL",
            params: {
                scan_on_load: $flag {
                    default: $default,
                    description: "Walk the page tables when the module loads (findings holds the result)",
                },
            },
        }
    };
}
with_scan_on_load!(declare_module);

/// A rescan that failed: the files still show the scan before it.
#[derive(Clone, Copy)]
struct Failure {
    errno: i32,
    at_ns: u64,
}

/// What every file reads from.
#[pin_data]
pub(crate) struct State {
    live: Live,
    ram: KVec<(u64, u64)>,
    /// Physical address of the reference top-level table (init_mm's).
    reference: u64,
    /// The walk's buffers; held for a whole scan, so scans never overlap.
    #[pin]
    workspace: Mutex<scan::Workspace>,
    #[pin]
    scan: Mutex<Option<scan::Scan>>,
    /// The last benchmark floor measured (`bench`).
    #[pin]
    floor: Mutex<Option<scan::Floor>>,
    /// The last rescan, if it failed.
    #[pin]
    failure: Mutex<Option<Failure>>,
}

impl State {
    /// The documented maps for the live paging mode, current map first.
    fn maps(&self) -> impl Iterator<Item = &'static DocMap<'static>> + '_ {
        MAPS.iter().filter(|m| m.paging == self.live.paging)
    }

    /// The current documented map for the live paging mode.
    fn current_map(&self) -> Result<&'static DocMap<'static>> {
        self.maps().next().ok_or(ENODEV)
    }

    fn rescan(&self) -> Result {
        let doc = self.current_map()?;
        let mut workspace = self.workspace.lock();
        match scan::scan(doc, &self.live, &self.ram, self.reference, &mut workspace) {
            Ok(result) => {
                let replaced = self.scan.lock().replace(result);
                // Its buffers serve the next rescan (outside the scan lock:
                // readers only need the new one).
                if let Some(old) = replaced {
                    workspace.recycle(old);
                }
                *self.failure.lock() = None;
                Ok(())
            }
            Err(e) => {
                *self.failure.lock() = Some(Failure {
                    errno: e.to_errno(),
                    at_ns: helpers::now(),
                });
                pr_warn!(
                    "rescan failed ({:?}): the files show the previous scan\n",
                    e
                );
                Err(e)
            }
        }
    }

    /// Every file's first lines: the header, and whether what follows is
    /// stale because the last rescan failed.
    fn header(&self, f: &mut fmt::Formatter<'_>, file: &str) -> fmt::Result {
        header(f, file)?;
        if let Some(failure) = *self.failure.lock() {
            Record::new(f, "stale")?
                .num("errno", failure.errno)?
                .num("at_ns", failure.at_ns)?
                .text(
                    "reason",
                    "the last rescan failed; this is the scan before it",
                )?
                .end()?;
        }
        Ok(())
    }
}

fn show_summary(state: &State, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let live = &state.live;
    state.header(f, "summary")?;
    Record::new(f, "paging")?
        .num("levels", live.paging.levels())?
        .text("source", "pgdir_shift")?
        .end()?;
    let bases: [(&str, u64, &str); 7] = [
        (
            "page_offset_base",
            live.page_offset_base,
            "page_offset_base",
        ),
        ("vmalloc_base", live.vmalloc_base, "vmalloc_base"),
        ("vmemmap_base", live.vmemmap_base, "vmemmap_base"),
        ("kernel_text", live.text_start, TEXT_SOURCE),
        (
            "text_slide",
            live.text_slide(),
            "kernel_text - __START_KERNEL_map - CONFIG_PHYSICAL_START",
        ),
        ("phys_base", live.phys_base, "phys_base"),
        ("ram_end", live.ram_end, "System RAM in iomem"),
    ];
    for (name, value, source) in bases {
        Record::new(f, "base")?
            .text("name", name)?
            .hex("value", value)?
            .text("source", source)?
            .end()?;
    }
    // The page tables the scan walks besides the reference, or why not.
    match helpers::efi_table() {
        helpers::EfiTable::At { memattr, .. } => Record::new(f, "table")?
            .text("name", "efi")?
            .num("checked", 1)?
            .num("memattr", u8::from(memattr))?
            .text("source", "efi_mm")?,
        helpers::EfiTable::NotChecked(reason) => Record::new(f, "table")?
            .text("name", "efi")?
            .num("checked", 0)?
            .text("reason", reason)?,
    }
    .end()?;
    let pti = helpers::pti_enabled();
    Record::new(f, "pti")?
        .num("enabled", u8::from(pti))?
        .text(
            "reason",
            if pti {
                "page-table isolation is on: the user-mode tables and each mm's LDT remap slot are walked and checked"
            } else {
                "page-table isolation is off: no LDT remap, no user-mode tables to check"
            },
        )?
        .end()?;
    for map in state.maps() {
        Record::new(f, "map")?
            .text("name", map.name)?
            .text("source", map.source)?
            .num("regions", map.regions.len())?
            .end()?;
    }
    Ok(())
}

/// Bytes the last scan found mapped in documented row `row` of the current
/// map (`map`, resolved), in every table it walked; `None` before the
/// first scan.
fn mapped_bytes(map: &LiveMap<'_>, scan: Option<&scan::Scan>, row: usize) -> Option<u64> {
    let scan = scan?;
    let kernel: u64 = scan.mapped.get(row)?.iter().sum();
    // Plain loops: the iterator chain this was named a symbol of 537
    // characters, which kallsyms (512 at most) warned about in tree.
    let mut others = 0;
    for other in scan.others.iter() {
        for range in other.ranges.iter() {
            if map.place(range.start).0.row() == Some(row) {
                others += range.size();
            }
        }
    }
    Some(kernel + others)
}

fn show_layout(state: &State, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    state.header(f, "layout")?;
    let guard = state.scan.lock();
    // Resolved once for every row's mapped bytes.
    let current = state.current_map().ok();
    let live_map = current.map(|doc| LiveMap::new(doc, &state.live));
    for map in state.maps() {
        for r in evaluate(map, &state.live) {
            let row = &map.regions[r.index];
            let rec = Record::new(&mut *f, "region")?
                .text("map", map.name)?
                .num("index", r.index)?
                .text("name", row.id.name())?
                .text("kind", row.kind.name())?
                .hex("doc_start", r.doc_start)?
                .hex("doc_end", r.doc_end)?
                .opt_hex("live_start", r.live.map(|l| l.0))?
                .opt_hex("live_end", r.live.map(|l| l.1))?
                .text("placement", r.placement.name())?
                .num("slide", r.slide())?
                .hex("window_start", r.window.0)?
                .hex("window_end", r.window.1)?
                .num("align", r.align)?
                .text("verdict", r.verdict.name())?
                .text("severity", r.verdict.severity())?
                .text("source", r.source)?
                .text("var", row.var.unwrap_or("-"))?
                .text("desc", row.desc)?
                .text("reason", r.reason)?;
            // What the last scan found mapped there (current map only).
            let is_current = current.is_some_and(|doc| doc.name == map.name);
            match live_map
                .as_ref()
                .filter(|_| is_current)
                .and_then(|live_map| mapped_bytes(live_map, guard.as_ref(), r.index))
            {
                Some(bytes) => rec.num("mapped_bytes", bytes)?,
                None => rec.text("mapped_bytes", "-")?,
            }
            .end()?;
        }
    }
    Ok(())
}

/// ptdump's words for a leaf's attributes, comma-separated.
struct Attrs(Flags, Level);

impl fmt::Display for Attrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Attrs(flags, level) = *self;
        let pat = if level == Level::Pte {
            Flags::PS
        } else {
            Flags::PAT_LARGE
        };
        let words = [
            (flags.has(Flags::US), "USR"),
            (true, if flags.has(Flags::RW) { "RW" } else { "ro" }),
            (flags.has(Flags::PWT), "PWT"),
            (flags.has(Flags::PCD), "PCD"),
            (level != Level::Pte, "PSE"),
            (flags.has(pat), "PAT"),
            (flags.has(Flags::G), "GLB"),
            (true, if flags.has(Flags::NX) { "NX" } else { "x" }),
        ];
        let mut first = true;
        for (on, word) in words {
            if on {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(word)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// Text of an `Attrs`, for the record writer (no allocation: a small buffer).
struct AttrBuf {
    buf: [u8; 48],
    len: usize,
}

impl fmt::Write for AttrBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

fn attrs(flags: Flags, level: Level) -> AttrBuf {
    let mut b = AttrBuf {
        buf: [0; 48],
        len: 0,
    };
    // The longest attribute list is 31 bytes; the buffer always fits it.
    let _ = fmt::write(&mut b, format_args!("{}", Attrs(flags, level)));
    b
}

impl AttrBuf {
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }
}

fn range_record<'w, 'f>(
    f: &'w mut fmt::Formatter<'f>,
    kind: &str,
    table: &str,
    range: &Range,
    top: Level,
) -> Result<Record<'w, fmt::Formatter<'f>>, fmt::Error> {
    Record::new(f, kind)?
        .text("table", table)?
        .hex("start", range.start)?
        .hex("last", range.last)?
        .num("size", range.size())?
        .text("level", range.level.name(top))?
        .hex("phys", range.phys)?
        .text("attrs", attrs(range.flags, range.level).as_str())?
        .text("rw", if range.effective.rw { "1" } else { "0" })?
        .text("user", if range.effective.us { "1" } else { "0" })?
        .text("exec", if range.effective.nx { "0" } else { "1" })
}

fn no_scan(f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(f, "# no scan yet: write 1 to rescan")
}

fn show_map(state: &State, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    state.header(f, "map")?;
    let guard = state.scan.lock();
    let (Some(scan), Ok(doc)) = (guard.as_ref(), state.current_map()) else {
        return no_scan(f);
    };
    let map = LiveMap::new(doc, &state.live);
    let top = Level::top(state.live.paging);
    show_ranges(f, &map, Owner::Reference, &scan.walked.ranges, top)?;
    for other in scan.others.iter() {
        show_ranges(f, &map, other.owner, &other.ranges, top)?;
    }
    Ok(())
}

/// One table's ranges, with a `region` record before each region's.
fn show_ranges(
    f: &mut fmt::Formatter<'_>,
    map: &LiveMap<'_>,
    owner: Owner,
    ranges: &[Range],
    top: Level,
) -> fmt::Result {
    let doc = map.doc();
    let table = owner.table();
    let mut current: Option<Option<usize>> = None;
    for run in runs(ranges) {
        let range = &run.first;
        let row = map.place(range.start).0.row();
        if current != Some(row) {
            current = Some(row);
            let rec = Record::new(&mut *f, "region")?.text("map", doc.name)?;
            let rec = match row {
                Some(r) => rec
                    .text("name", doc.regions[r].id.name())?
                    .text("kind", doc.regions[r].kind.name())?,
                None => rec.text("name", "undocumented")?.text("kind", "-")?,
            }
            .text("table", table)?;
            match owner {
                Owner::Task(pid, comm) | Owner::TaskUser(pid, comm) => {
                    rec.num("pid", pid)?.text("comm", Owner::comm(&comm))?
                }
                _ => rec,
            }
            .end()?;
        }
        let rec = range_record(f, "range", table, range, top)?;
        if run.count > 1 {
            rec.num("repeat", run.count)?
                .hex("stride", run.stride)?
                .hex("phys_stride", run.phys_stride)?
                .end()?;
        } else {
            rec.end()?;
        }
    }
    Ok(())
}

fn show_findings(state: &State, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    state.header(f, "findings")?;
    let guard = state.scan.lock();
    let (Some(scan), Ok(doc)) = (guard.as_ref(), state.current_map()) else {
        return no_scan(f);
    };
    let top = Level::top(state.live.paging);
    // What was looked at, so that an empty result shows it looked.
    Record::new(f, "scope")?
        .text("map", doc.name)?
        .num("ranges", scan.walked.ranges.len())?
        .num("ram_ranges", state.ram.len())?
        .num("cpus_checked", scan.checked_cpus)?
        .num("mms_checked", scan.checked_mms)?
        .num("rechecked", scan.rechecked)?
        .num("settled", scan.settled)?
        .hex("reference", scan.reference)?
        .num("other_tables", scan.others.len())?
        .end()?;
    let tally = &scan.findings.tally;
    for rule in Rule::ALL {
        Record::new(f, "rule")?
            .text("id", rule.id())?
            .num("found", tally.found(rule))?
            .num("omitted", tally.omitted(rule))?
            .text("checks", rule.reason())?
            .end()?;
    }
    for finding in scan.findings.list.iter() {
        let region = finding
            .row
            .map_or("undocumented", |r| doc.regions[r].id.name());
        let rec = Record::new(f, "finding")?
            .text("table", finding.owner.table())?
            .text("id", finding.rule.id())?
            .text("severity", finding.severity.name())?
            .text("region", region)?;
        let rec = match &finding.owner {
            Owner::Reference => rec.text("owner", "reference")?,
            Owner::Cpu(cpu) => rec.text("owner", "cpu")?.num("cpu", cpu)?,
            Owner::Task(pid, comm) => rec
                .text("owner", "task")?
                .num("pid", pid)?
                .text("comm", Owner::comm(comm))?,
            Owner::Efi => rec.text("owner", "efi")?,
            Owner::UserTable => rec.text("owner", "reference")?,
            Owner::TaskUser(pid, comm) => rec
                .text("owner", "task")?
                .num("pid", pid)?
                .text("comm", Owner::comm(comm))?,
        };
        let rec = rec
            .hex("start", finding.range.start)?
            .hex("last", finding.range.last)?
            .num("size", finding.range.size())?
            .text("level", finding.range.level.name(top))?;
        // Attributes are a leaf's; unsynced-pgd is about a table entry.
        let rec = if finding.rule == Rule::UnsyncedPgd {
            rec.hex("entry", finding.range.phys | finding.range.flags.0)?
        } else {
            rec.text(
                "attrs",
                attrs(finding.range.flags, finding.range.level).as_str(),
            )?
        };
        rec.text("reason", finding.reason)?.end()?;
    }
    Ok(())
}

fn show_stats(state: &State, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    state.header(f, "stats")?;
    let guard = state.scan.lock();
    let (Some(scan), Ok(doc)) = (guard.as_ref(), state.current_map()) else {
        return no_scan(f);
    };
    let w = &scan.walked;
    let mut total = WalkCounts::default();
    w.cpus.iter().for_each(|c| total.add(&c.walk));
    Record::new(f, "walk")?
        .num("ns", w.ns)?
        .num("items", w.items)?
        .num("ranges", w.ranges.len())?
        .num("table_pages", w.setup_tables + total.table_pages())?
        .num("setup_table_pages", w.setup_tables)?
        .num("cpus", w.cpus.len())?
        .num("retried_items", total.retries)?
        .num("changed_items", total.changed)?
        .num("resynced_cpus", w.resynced)?
        .num("split_ns", w.split_ns)?
        .num("merge_ns", w.merge_ns)?
        .end()?;
    let p = &scan.phases;
    Record::new(f, "phases")?
        .num("total_ns", p.total_ns)?
        .num("walk_ns", p.walk_ns)?
        .num("rules_ns", p.rules_ns)?
        .num("ram_ns", p.ram_ns)?
        .num("audit_ns", p.audit_ns)?
        .end()?;
    if let Some(floor) = *state.floor.lock() {
        Record::new(f, "floor")?
            .num("table_pages", floor.table_pages)?
            .num("ns", floor.ns)?
            .num("load_ns", floor.load_ns)?
            .end()?;
    }
    for c in w.cpus.iter() {
        Record::new(f, "cpu")?
            .num("cpu", c.cpu)?
            .hex("cr3", c.cr3)?
            .num("ns", c.ns)?
            .num("start_ns", c.start_ns)?
            .num("items", c.walk.items)?
            .num("ranges", c.ranges)?
            .num("pte_tables", c.walk.tables[1])?
            .num("pmd_tables", c.walk.tables[2])?
            .num("pud_tables", c.walk.tables[3])?
            .num("p4d_tables", c.walk.tables[4])?
            .num("shared_entries", c.walk.shared)?
            .num("unreadable", c.walk.unreadable)?
            .num("retries", c.walk.retries)?
            .num("changed", c.walk.changed)?
            .end()?;
    }
    for (row, bytes) in scan.mapped.iter().enumerate() {
        if bytes.iter().all(|&b| b == 0) {
            continue;
        }
        Record::new(f, "region")?
            .text("map", doc.name)?
            .text("name", doc.regions[row].id.name())?
            .num("bytes_4k", bytes[0])?
            .num("bytes_2m", bytes[1])?
            .num("bytes_1g", bytes[2])?
            .end()?;
    }
    Ok(())
}

macro_rules! show_files {
    ($($kind:ident $name:literal $show:ident;)*) => {$(
        struct $kind;
        impl ShowFile for $kind {
            const NAME: &'static kernel::str::CStr = $name;
            fn show(state: &State, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                $show(state, f)
            }
        }
    )*};
}

show_files! {
    Summary c"summary" show_summary;
    Layout c"layout" show_layout;
    Map c"map" show_map;
    Findings c"findings" show_findings;
    Stats c"stats" show_stats;
}

/// `rescan`: `1` walks the page tables again.
struct Rescan;

impl CommandFile for Rescan {
    const NAME: &'static kernel::str::CStr = c"rescan";
    const USAGE: &'static str = "write '1' to walk the page tables again";
    fn run(state: &State, word: &[u8]) -> Option<Result> {
        (word == b"1").then(|| state.rescan())
    }
}

/// `selftest`: `fault` reads a vmalloc guard page.
struct Selftest;

impl CommandFile for Selftest {
    const NAME: &'static kernel::str::CStr = c"selftest";
    const USAGE: &'static str = "write 'fault' to read a vmalloc guard page";
    fn run(_state: &State, word: &[u8]) -> Option<Result> {
        (word == b"fault").then(fault::guard_page_fault)
    }
}

/// `bench`: `floor` times copying every table page once.
struct Bench;

impl CommandFile for Bench {
    const NAME: &'static kernel::str::CStr = c"bench";
    const USAGE: &'static str = "write 'floor' to time copying every table page once";
    fn run(state: &State, word: &[u8]) -> Option<Result> {
        (word == b"floor").then(|| {
            let floor = scan::floor(&state.live, state.reference, &mut state.workspace.lock())?;
            *state.floor.lock() = Some(floor);
            Ok(())
        })
    }
}

#[pin_data]
struct Vmlayout {
    // Fields drop in order: the fault probe first, then the files (removal
    // waits for running file operations, then drops the state they read).
    #[pin]
    _fault: fault::FaultWatch,
    #[pin]
    _files: files::Files,
}

/// The built-in vmlayout's first scan, once the system runs.
///
/// # Safety
///
/// `arg` is a reference to the state from `Arc::into_raw`, given up here.
#[cfg(not(MODULE))]
unsafe extern "C" fn boot_scan(arg: *mut core::ffi::c_void) {
    // SAFETY: `arg` came from `Arc::into_raw` and is taken back once.
    let state = unsafe { Arc::<State>::from_raw(arg.cast_const().cast()) };
    if let Err(e) = state.rescan() {
        pr_warn!("boot-time scan failed: {:?}\n", e);
    }
}

/// The state every file reads, with the load-time scan done (or, built in,
/// scheduled for when the system runs).
fn load_state() -> Result<Arc<State>> {
    if let Err(e) = helpers::refuse_if_locked_down() {
        pr_warn!("the kernel is locked down for confidentiality: vmlayout would show the KASLR bases, physical addresses and every kernel mapping; not loading\n");
        return Err(e);
    }
    let ram = live::ram_ranges()?;
    let live = live::read(&ram);
    let reference = scan::reference_table(&scan::walk_of(&live), &live)?;
    let workspace = scan::Workspace::new()?;
    let state = Arc::pin_init(
        pin_init!(State {
            live,
            ram,
            reference,
            workspace <- new_mutex!(workspace),
            scan <- new_mutex!(None),
            floor <- new_mutex!(None),
            failure <- new_mutex!(None),
        }),
        GFP_KERNEL,
    )?;
    if compat::scan_on_load() {
        #[cfg(MODULE)]
        state.rescan()?;
        // Built in: after the boot has made text read-only (see
        // `vmlayout_when_running()`); the files say no scan until then.
        #[cfg(not(MODULE))]
        {
            let arg = Arc::into_raw(state.clone()).cast_mut().cast();
            // SAFETY: `boot_scan` takes back the reference `arg` holds.
            unsafe { helpers::when_running(boot_scan, arg) };
        }
    }
    Ok(state)
}

impl kernel::InPlaceModule for Vmlayout {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        pin_init::pin_init_scope(|| {
            let state = load_state()?;
            let doc = state.current_map()?;
            let walk = scan::walk_of(&state.live);
            pr_info!("loaded, {}-level paging\n", state.live.paging.levels());
            Ok(try_pin_init!(Self {
                _fault <- fault::FaultWatch::register(
                    &state.live,
                    doc,
                    state.reference,
                    walk.top,
                    walk.phys_mask,
                ),
                _files <- files::create(state),
            }? Error))
        })
    }
}
