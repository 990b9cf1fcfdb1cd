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
//! * `watch`: write `1` to re-check whenever a kernel mapping changes (and
//!   every `watch_interval_ms`), `0` to stop; `summary` shows its hooks.
//! * `selftest`: write `fault` to fire the tracepoint on a guard page.
//! * `bench`: write `floor` to time copying every table page once.

use core::fmt;

use kernel::{
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex, MutexGuard},
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
    /// Declare the module through `$declare!(flag type, on, off)`: the
    /// type of its on/off parameters.
    macro_rules! with_flag_type {
        ($declare:ident) => {
            $declare!(bool, true, false);
        };
    }

    /// The value of module parameter `$name`.
    macro_rules! param {
        ($name:ident) => {
            crate::module_parameters::$name.value()
        };
    }

    /// Whether on/off module parameter `$name` is on.
    macro_rules! flag {
        ($name:ident) => {
            param!($name)
        };
    }
}
mod fault;
mod files;
mod helpers;
#[cfg(CONFIG_X86_VMLAYOUT_KUNIT_TEST)]
mod kunit;
mod live;
mod scan;
mod tables;
mod watch;

use files::{BlobFile, CommandFile, ShowFile};

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
    pub mod capture;
    pub mod changed;
    pub mod check;
    pub mod direct_map;
    pub mod layout;
    pub mod map;
    /// The `mm.rst` parser: in the module only for the KUnit checks of it.
    #[cfg(CONFIG_X86_VMLAYOUT_KUNIT_TEST)]
    pub mod mm_doc;
    pub mod pace;
    pub mod pte;
    pub mod record;
    pub mod report;
    pub mod rules;
    pub mod runs;
    pub mod seen;
    pub mod sync;
    #[cfg(CONFIG_X86_VMLAYOUT_KUNIT_TEST)]
    pub mod unit;
    pub mod walk;
    pub mod window;
    pub mod work;
}

use vmlayout_core::{
    batch::WalkCounts,
    generated_maps::MAPS,
    layout::Live,
    map::DocMap,
    pte::Level,
    record::{header, Record},
    report::{self, Checked, Origin},
    rules::{LiveMap, Owner},
};

/// The module, with its on/off parameters' type from `compat`.
macro_rules! declare_module {
    ($flag:tt, $on:tt, $off:tt) => {
        module! {
            type: Vmlayout,
            name: "vmlayout",
            authors: ["vmlayout developers"],
            description: "Check the live x86-64 kernel memory layout against its documented map",
            license: "GPL",
            params: {
                scan_on_load: $flag {
                    default: $on,
                    description: "Walk the page tables when the module loads (findings holds the result)",
                },
                watch: $flag {
                    default: $off,
                    description: "Watch mode from load on: re-check whenever a kernel mapping changes (also the watch file)",
                },
                watch_interval_ms: u32 {
                    default: 1000,
                    description: "Watch mode's backstop: a full re-check this often, for changes no hook sees",
                },
            },
        }
    };
}
with_flag_type!(declare_module);

/// A rescan that failed: the files still show the scan before it.
#[derive(Clone, Copy)]
struct Failure {
    errno: i32,
    at_ns: u64,
}

/// What every file reads from.
#[pin_data(PinnedDrop)]
pub(crate) struct State {
    live: Live,
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
    /// The capture `tables` is being read from.
    #[pin]
    capture: Mutex<Option<tables::Capture>>,
    /// Watch mode's re-checks.
    watch_counts: watch::WatchCounts,
}

#[pinned_drop]
impl PinnedDrop for State {
    fn drop(self: Pin<&mut Self>) {
        // Watch mode's hooks hold this state: none runs past this.
        watch::stop();
    }
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
        self.rescan_waiting(&mut 0)
    }

    /// [`rescan`](Self::rescan), adding to `waited` how long it waited
    /// for the locks (watch mode counts a re-check's work, not its sleep).
    fn rescan_waiting(&self, waited: &mut u64) -> Result {
        let doc = self.current_map()?;
        let mut workspace = lock_waiting(&self.workspace, waited);
        // The new scan's findings carried over from the last one's (their
        // times, their events) as it replaces it.
        // System RAM as it is now: memory hotplug adds and removes it.
        let outcome = live::ram_ranges()
            .and_then(|ram| scan::scan(doc, &self.live, ram, self.reference, &mut workspace))
            .and_then(|mut new| {
                let mut scan = lock_waiting(&self.scan, waited);
                let belongs = |va: u64, out: &mut report::NameBuf| belongs_to(self, va, out);
                let old = scan.as_ref().map(|o| (&o.findings.list[..], &o.seen[..]));
                let old = old.unwrap_or((&[], &[]));
                let now = helpers::now();
                new.seen = watch::carry_over(old, &new.findings.list, now, &belongs)?;
                Ok(scan.replace(new))
            });
        match outcome {
            Ok(replaced) => {
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

    /// Re-check only `windows` (watch mode: `scan::recheck_windows`), in
    /// place of the last scan's, adding to `waited` how long it waited for
    /// the locks; `Ok(false)` when it declined, or there is no good scan
    /// to re-check (the caller then rescans).
    fn recheck_windows(&self, windows: &[[u64; 2]], waited: &mut u64) -> Result<bool> {
        let doc = self.current_map()?;
        let mut workspace = lock_waiting(&self.workspace, waited);
        if self.failure.lock().is_some() {
            return Ok(false);
        }
        // Held while `map` or `findings` is formatted: the wait can be long.
        let mut guard = lock_waiting(&self.scan, waited);
        let Some(scan) = &mut *guard else {
            return Ok(false);
        };
        let belongs = |va: u64, out: &mut report::NameBuf| belongs_to(self, va, out);
        let scope = (doc, &self.live, self.reference);
        let now = helpers::now();
        scan::recheck_windows(scope, &mut workspace, scan, windows, (&belongs, now))
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

/// `mutex` locked, with the time that took added to `waited`.
fn lock_waiting<'a, T>(mutex: &'a Mutex<T>, waited: &mut u64) -> MutexGuard<'a, T> {
    let start = helpers::Clock::now();
    let guard = mutex.lock();
    *waited = waited.saturating_add(helpers::ns_since(start));
    guard
}

fn show_summary(state: &State, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    state.header(f, "summary")?;
    report::write_origin(f, Origin::Module)?;
    report::write_bases(f, &state.live, "pgdir_shift", &report::MODULE_SOURCES)?;
    // The page tables the scan walks besides the reference, or why not.
    match helpers::efi_table() {
        helpers::EfiTable::At { memattr, .. } => {
            report::write_efi(f, Checked::Yes("efi_mm"), memattr)
        }
        helpers::EfiTable::NotChecked(reason) => report::write_efi(f, Checked::No(reason), false),
    }?;
    report::write_pti(f, helpers::pti_enabled())?;
    report::write_maps(f, state.maps())?;
    watch::show(state, param!(watch_interval_ms), f)
}

fn show_layout(state: &State, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    state.header(f, "layout")?;
    let guard = state.scan.lock();
    // Resolved once for every row's mapped bytes.
    let current = state.current_map().ok();
    let live_map = current.map(|doc| LiveMap::new(doc, &state.live));
    let mapped = |row: usize| {
        let (map, scan) = (live_map.as_ref()?, guard.as_ref()?);
        let others = scan.others.iter().map(|o| &o.ranges[..]);
        report::mapped_bytes(map, &scan.mapped, others, row)
    };
    let name = current.map_or("", |doc| doc.name);
    report::write_layout(f, &state.live, state.maps(), name, &mapped)
}

fn no_scan(f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(f, "# no scan yet: write 1 to rescan")
}

/// Whose code `va` is: the kernel image's pages are the kernel's, in
/// their section where vmlayout can tell (no symbol lookup for each), the
/// others' as the symbol table says.
fn belongs_to(state: &State, va: u64, out: &mut report::NameBuf) -> bool {
    if (state.live.text_start..=state.live.text_end).contains(&va) {
        report::image_code(crate::helpers::section_of(va), out);
        true
    } else {
        watch::belongs_to(va, out)
    }
}

fn show_map(state: &State, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    state.header(f, "map")?;
    let guard = state.scan.lock();
    let (Some(scan), Ok(doc)) = (guard.as_ref(), state.current_map()) else {
        return no_scan(f);
    };
    let map = LiveMap::new(doc, &state.live);
    let top = Level::top(state.live.paging);
    let belongs = |va: u64, out: &mut report::NameBuf| belongs_to(state, va, out);
    let belongs_to: Option<report::BelongsTo<'_>> = Some(&belongs);
    let ranges = &scan.walked.ranges;
    report::write_ranges(f, &map, (Owner::Reference, belongs_to), ranges, top)?;
    for other in scan.others.iter() {
        report::write_ranges(f, &map, (other.owner, belongs_to), &other.ranges, top)?;
    }
    Ok(())
}

fn show_findings(state: &State, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    state.header(f, "findings")?;
    let guard = state.scan.lock();
    let (Some(scan), Ok(doc)) = (guard.as_ref(), state.current_map()) else {
        return no_scan(f);
    };
    let scope = report::Scope {
        ranges: scan.walked.ranges.len(),
        ram_ranges: scan.ram.len(),
        cpus_checked: scan.checked_cpus,
        mms_checked: scan.checked_mms,
        rechecked: scan.rechecked,
        settled: scan.settled,
        reference: scan.reference,
        other_tables: scan.others.len(),
    };
    let top = Level::top(state.live.paging);
    let findings = (&scope, &scan.findings.tally);
    let list = (&scan.findings.list[..], &scan.seen[..]);
    let belongs = |va: u64, out: &mut report::NameBuf| belongs_to(state, va, out);
    report::write_findings(f, (doc, top), findings, list, Some(&belongs))
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
    report::write_region_bytes(f, doc, &scan.mapped)
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

/// `tables`: the table pages a walk reads, as a core file (`tables.rs`).
struct Tables;

impl BlobFile for Tables {
    const NAME: &'static kernel::str::CStr = c"tables";
    fn read(
        state: &State,
        writer: &mut kernel::uaccess::UserSliceWriter,
        offset: &mut i64,
    ) -> Result<usize> {
        tables::read(state, writer, offset)
    }
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

/// `watch`: `1` starts watch mode, `0` stops it (`summary` shows it).
struct Watch;

impl CommandFile for Watch {
    const NAME: &'static kernel::str::CStr = c"watch";
    const USAGE: &'static str = "write '1' to re-check on every mapping change, '0' to stop";
    fn run(state: &State, word: &[u8]) -> Option<Result> {
        match word {
            b"1" => watch::start(state, param!(watch_interval_ms)),
            b"0" => watch::stop(),
            _ => return None,
        }
        Some(Ok(()))
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
    // waits for running file operations, then drops the state they read),
    // then the modules kept for their sections, which scans read.
    #[pin]
    _fault: fault::FaultWatch,
    #[pin]
    _files: files::Files,
    _known: helpers::ModulesKnown,
}

/// Built in, the first scan waits for the running system: initcalls run
/// before `mark_rodata_ro()`, while kernel text is still writable, and a
/// scan then would report what the kernel is about to fix. A delayed work
/// polls `system_state` (`SYSTEM_RUNNING` follows `mark_readonly()`), then
/// scans; the files say no scan was made until then. Watch mode
/// (`vmlayout.watch=1`) starts then too.
#[cfg(not(MODULE))]
mod boot {
    use kernel::{
        prelude::*,
        sync::Arc,
        time::msecs_to_jiffies,
        workqueue::{self, impl_has_delayed_work, new_delayed_work, DelayedWork, WorkItem},
    };

    use super::State;

    #[pin_data]
    struct BootScan {
        state: Arc<State>,
        scan: bool,
        watch: bool,
        #[pin]
        work: DelayedWork<BootScan>,
    }

    impl_has_delayed_work! {
        impl HasDelayedWork<Self> for BootScan { self.work }
    }

    impl WorkItem for BootScan {
        type Pointer = Arc<BootScan>;

        fn run(this: Arc<BootScan>) {
            if !system_running() {
                // Already queued is impossible: this is the queued work.
                let _ = workqueue::system().enqueue_delayed(this, msecs_to_jiffies(10));
                return;
            }
            if this.scan {
                if let Err(e) = this.state.rescan() {
                    pr_warn!("boot-time scan failed: {:?}\n", e);
                }
            }
            if this.watch {
                crate::watch::start(&this.state, param!(watch_interval_ms));
            }
        }
    }

    /// Whether the boot is over (`system_state == SYSTEM_RUNNING`).
    fn system_running() -> bool {
        crate::helpers::vmlayout_system_running()
    }

    /// Once the system runs: scan `state` if `scan`, start watch mode if
    /// `watch`.
    pub(super) fn when_running(state: Arc<State>, scan: bool, watch: bool) -> Result {
        let work = new_delayed_work!("vmlayout::boot");
        let boot = pin_init!(BootScan { state, scan, watch, work <- work });
        let boot = Arc::pin_init(boot, GFP_KERNEL)?;
        // A new work item is never already queued.
        let _ = workqueue::system().enqueue(boot);
        Ok(())
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
            reference,
            workspace <- new_mutex!(workspace),
            scan <- new_mutex!(None),
            floor <- new_mutex!(None),
            failure <- new_mutex!(None),
            capture <- new_mutex!(None),
            watch_counts: Default::default(),
        }),
        GFP_KERNEL,
    )?;
    #[cfg(MODULE)]
    {
        if flag!(scan_on_load) {
            state.rescan()?;
        }
        if flag!(watch) {
            watch::start(&state, param!(watch_interval_ms));
        }
    }
    // Built in: after the boot has made text read-only (`boot`).
    #[cfg(not(MODULE))]
    if flag!(scan_on_load) || flag!(watch) {
        boot::when_running(state.clone(), flag!(scan_on_load), flag!(watch))?;
    }
    Ok(state)
}

impl kernel::InPlaceModule for Vmlayout {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        pin_init::pin_init_scope(|| {
            // Before the load-time scan, which names this module's sections.
            let known = helpers::ModulesKnown::start();
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
                _known: known,
            }? Error))
        })
    }
}
