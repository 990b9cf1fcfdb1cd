// SPDX-License-Identifier: GPL-2.0

//! Natively, what checking a kernel's tables costs against reading them:
//! on each real capture (testdata/captures/), held in memory,
//!
//! * `walk+rules`: the core's walk of the reference and its checks
//!   (`walk_reference`, then `check_walked`: every per-range rule and the
//!   direct map), as the module runs them, on one thread;
//! * `walk`: the walk alone (`walk_reference`), what the rules add is the
//!   difference;
//! * `walk+rules Nt`: the module's parallel pipeline on N threads (1 and
//!   2): the split into work items, the workers' loop of the module
//!   (`BatchSink::walk_batches`: batches claimed from the core's
//!   `BatchQueue`), the join of their spans, and the per-range rules in one
//!   chunk per thread, on a pool whose threads wait from run to run and
//!   keep their buffers, as the module's workers do within a session. The
//!   2-thread figure against the 1-thread one is the scaling (the issue's
//!   goal: at least 1.8x);
//! * `window recheck`: a re-check of the smallest vmalloc range's window
//!   (its items split, walked and spliced into the full walk's ranges),
//!   then the per-range rules on what the splice touched: issue 26's
//!   incremental check, against `walk+rules` (the goal: under 2%);
//! * `module recheck`: a re-check of the smallest executable range of the
//!   modules area (a module's text) and the direct-map windows of the
//!   memory it maps, then System RAM and the code aliases on all ranges,
//!   as watch mode's after a module's load; against `walk+rules` (the
//!   goal: under 2%);
//! * `copy`: a plain copy of the same table pages, once each, each found by
//!   its physical address in the same in-memory source;
//! * `vmlayout check`: the whole command on the capture file (reading it,
//!   the audits, writing the snapshot's records).
//!
//! `walk+rules` against `copy` is what the walk and the rules add to
//! reading the tables (the goal: within 1.5x).
//!
//!     cargo bench -p vmlayout --bench check

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::collections::HashMap;

use vmlayout_core::batch::{BatchSink, WalkCounts};
use vmlayout_core::check::FindingList;
use vmlayout_core::check::{
    check_ranges, check_walked, code_aliases, system_ram, text_of, walk_reference, Findings,
    Target, Walked,
};
use vmlayout_core::map::RegionId;
use vmlayout_core::pte::Table;
use vmlayout_core::report::NameBuf;
use vmlayout_core::rules::{LiveMap, TableKind, Tally, TextAliases};
use vmlayout_core::walk::{self, ItemSpan, Range, Scratch, TableReader, TableSource, Top};
use vmlayout_core::window;
use vmlayout_core::work::{BatchQueue, PerPart};
use vmlayout_reporter::check::{check, judge, FindingVec, Input, Judged, List};
use vmlayout_reporter::docs::Docs;
use vmlayout_reporter::elf::Core;

/// The capture `name`, unpacked next to the benchmark's other files.
fn unpacked(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/captures")
        .join(name);
    let bytes = vmlayout_reporter::pack::read_capture(&src).expect("capture");
    let stem = name.trim_end_matches(".gz").trim_end_matches(".d64");
    let out = std::env::temp_dir().join(format!("vmlayout-bench-{stem}"));
    std::fs::write(&out, bytes).expect("write");
    out
}

/// The capture's pages in memory, by physical address.
struct Pages(HashMap<u64, Box<Table>>);

impl Pages {
    fn of(core: &Core) -> Pages {
        let mut pages = HashMap::new();
        let mut page = [0u8; 4096];
        for s in core.segments.iter().filter(|s| s.filesz > 0) {
            for p in (s.paddr..s.paddr + s.filesz).step_by(4096) {
                if core.read_phys(p, &mut page) {
                    let mut t: Box<Table> = Box::new([0; 512]);
                    for (e, w) in t.iter_mut().zip(page.chunks_exact(8)) {
                        *e = u64::from_le_bytes(w.try_into().expect("8 bytes"));
                    }
                    pages.insert(p, t);
                }
            }
        }
        Pages(pages)
    }

    /// Copy every page once, each found by its physical address as the
    /// walk finds it (the same source, the same lookup).
    fn copy_all(&self, addresses: &[u64], out: &mut Table) -> u64 {
        let mut src = self;
        let mut sum = 0u64;
        for &phys in addresses {
            if src.copy_table(phys, out) {
                sum = sum.wrapping_add(out[511]);
            }
        }
        sum
    }
}

/// A page, read in place.
struct InPlace<'p>(&'p Table);

impl TableReader for InPlace<'_> {
    fn entry(&mut self, index: usize) -> u64 {
        self.0[index]
    }
    fn failed(&self) -> bool {
        false
    }
}

impl<'p> TableSource for &'p Pages {
    type Reader = InPlace<'p>;
    fn copy_table(&mut self, phys: u64, out: &mut Table) -> bool {
        self.0
            .get(&phys)
            .map(|t| out.copy_from_slice(&t[..]))
            .is_some()
    }
    fn read_entry(&mut self, table: u64, index: usize) -> Option<u64> {
        self.0.get(&table).map(|t| t[index])
    }
    fn read_table(&mut self, phys: u64) -> Option<InPlace<'p>> {
        self.0.get(&phys).map(|t| InPlace(t))
    }
}

/// The core's walk of the reference alone: its ranges, cleared stretches
/// and counts.
fn walk_only(pages: &Pages, j: &Judged<'_>) -> (List, List, WalkCounts) {
    let mut src = pages;
    let mut top: Box<Table> = Box::new([0; 512]);
    let mut scratch: Box<Scratch> = Box::new([[0; 512]; 4]);
    let (mut ranges, mut cleared) = (List::default(), List::default());
    let counts = walk_reference(
        &j.walk,
        j.reference,
        &mut src,
        (&mut top, &mut scratch),
        (&mut ranges, &mut cleared),
    )
    .expect("walk");
    (ranges, cleared, counts)
}

/// The core's walk of the reference and its checks, on `pages`: how many
/// findings (so that nothing is optimized away).
fn walk_and_rules(pages: &Pages, j: &Judged<'_>, map: &LiveMap<'_>) -> usize {
    let (ranges, cleared, counts) = walk_only(pages, j);
    let (mut src, mut scratch) = (pages, Box::new([[0; 512]; 4]));
    let target = Target {
        walk: j.walk,
        map,
        reference: j.reference,
        page_offset_base: j.live.page_offset_base,
        ram: &j.ram,
    };
    let walked = Walked {
        ranges: &ranges.0,
        cleared: &cleared.0,
        counts: &counts,
    };
    let mut findings = Findings::new(FindingVec::default());
    let mut mapped = vec![[0u64; 3]; map.doc().regions.len()];
    check_walked(
        target,
        walked,
        (&mut src, &mut scratch),
        &mut findings,
        &mut mapped,
    )
    .expect("check");
    findings.list.0.len()
}

/// Items a worker claims at once, as in the module (`ITEMS_PER_CLAIM`).
const ITEMS_PER_CLAIM: usize = 8;

/// What a worker keeps from run to run, as each CPU keeps its buffers in
/// the module: its scratch, its lists and its own copy of the map (whose
/// lookup cache is per CPU).
struct Kept<'m> {
    scratch: Box<Scratch>,
    ranges: List,
    cleared: List,
    map: LiveMap<'m>,
}

/// The parallel pipeline on a pool's threads (kept waiting from run to
/// run, as the module's workers are within a session).
struct Pipeline<'m> {
    pool: rayon::ThreadPool,
    kept: Vec<Mutex<Kept<'m>>>,
    top: Box<Table>,
    items: Vec<walk::WorkItem>,
    spans: Vec<ItemSpan>,
    joined: Vec<Range>,
}

impl<'m> Pipeline<'m> {
    /// A pool of `threads`, with room for twice the items of `pages`'s split.
    fn new(threads: usize, map: &LiveMap<'m>, pages: &Pages, j: &Judged<'_>) -> Self {
        let kept = (0..threads)
            .map(|_| {
                Mutex::new(Kept {
                    scratch: Box::new([[0; 512]; 4]),
                    ranges: List::default(),
                    cleared: List::default(),
                    map: map.clone(),
                })
            })
            .collect();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
        let (mut src, mut top) = (pages, Box::new([0; 512]));
        assert!(src.copy_table(j.reference, &mut top), "reference");
        let mut scratch: Box<Scratch> = Box::new([[0; 512]; 4]);
        let mut made = 0;
        let half = Top::kernel_half(j.reference, &top);
        j.walk
            .split(half, &mut src, &mut scratch, &mut |_| made += 1);
        Pipeline {
            pool: pool.expect("thread pool"),
            kept,
            top,
            items: Vec::with_capacity(2 * made),
            spans: Vec::new(),
            joined: Vec::new(),
        }
    }

    /// One check: the walk on every thread (the first to start splits the
    /// top table into the queue while the others walk what it has made, as
    /// the module's rescan does), the join, the rules a chunk per thread.
    /// How many findings.
    fn run(&mut self, pages: &Pages, j: &Judged<'_>) -> usize {
        let mut src = pages;
        assert!(src.copy_table(j.reference, &mut self.top), "reference");
        self.walk(pages, j);
        self.join();
        self.rules()
    }

    /// Every thread a worker of the module's loop, its spans in place.
    fn walk(&mut self, pages: &Pages, j: &Judged<'_>) {
        let room = self.items.capacity();
        let queue = BatchQueue::empty(
            &mut self.items.spare_capacity_mut()[..room],
            ITEMS_PER_CLAIM,
        );
        let batches = queue.batches(room);
        self.spans.clear();
        self.spans.resize(2 * batches, ItemSpan::default());
        let (ranges, cleared) = self.spans.split_at_mut(batches);
        let per_batch = [
            PerPart::of_batches(&queue, ranges),
            PerPart::of_batches(&queue, cleared),
        ];
        let top = Top::kernel_half(j.reference, &self.top);
        let (kept, per_batch, queue) = (&self.kept, &per_batch, &queue);
        self.pool.broadcast(|ctx| {
            let mut guard = kept[ctx.index()].lock().expect("kept");
            let k = &mut *guard;
            let mut src = pages;
            if let Some(mut producer) = queue.producer() {
                j.walk
                    .split(top, &mut src, &mut k.scratch, &mut |i| producer.push(i));
            }
            k.ranges.0.clear();
            k.cleared.0.clear();
            let mut counts = WalkCounts::default();
            let phys_mask = j.walk.phys_mask;
            let mut sink = BatchSink::new(&mut k.ranges, &mut k.cleared, &mut counts, phys_mask);
            let spans = [&per_batch[0], &per_batch[1]];
            let list = ctx.index() as u32;
            let reader = (&mut src, &mut *k.scratch);
            let kept = sink.walk_batches(&j.walk, queue, spans, list, reader, || {});
            assert!(kept && !sink.no_room(), "worker output complete");
        });
        assert!(!queue.overflowed(), "room for every item");
        self.spans.truncate(queue.batches(queue.made()));
    }

    /// The workers' lists joined in batch order.
    fn join(&mut self) {
        let lists: Vec<_> = self
            .kept
            .iter_mut()
            .map(|k| k.get_mut().expect("kept"))
            .collect();
        let total = lists.iter().map(|k| k.ranges.0.len()).sum();
        self.joined.clear();
        self.joined.reserve(total);
        let spans = self.spans.iter().copied();
        let room = self.joined.spare_capacity_mut();
        let len = walk::concat_items(spans, |i| &lists[i].ranges.0, room).expect("join");
        // SAFETY: `concat_items` wrote the first `len` ranges.
        unsafe { self.joined.set_len(len) };
    }

    /// The per-range rules on the joined ranges, a chunk per thread.
    fn rules(&mut self) -> usize {
        let threads = self.kept.len();
        let first = self.kept[0].get_mut().expect("kept");
        let text = text_of(&first.map, &self.joined);
        let chunk = self.joined.len().div_ceil(threads).max(1);
        let (kept, joined, text) = (&self.kept, &self.joined, &text);
        let found = AtomicUsize::new(0);
        self.pool.broadcast(|ctx| {
            let part = joined.chunks(chunk).nth(ctx.index()).unwrap_or(&[]);
            let k = kept[ctx.index()].lock().expect("kept");
            let (mut n, mut tally) = (0, Tally::default());
            let mut mapped = [[0u64; 3]; 64];
            let kernel = TableKind::Kernel;
            check_ranges(
                &k.map,
                text,
                kernel,
                part,
                &mut mapped,
                &mut tally,
                &mut |_| {
                    n += 1;
                    Ok(())
                },
            )
            .expect("rules");
            found.fetch_add(n, Ordering::Relaxed);
        });
        found.into_inner()
    }
}

/// A window re-check (issue 26's incremental check) of the range of
/// `window`, as watch mode's in the module (`rust/scan/window.rs`): the
/// window widened (`window::widened`), its items split, walked and spliced in place
/// into `ranges` (the last check's, a copy made outside the timing), then
/// its findings (`recheck_findings`: the per-range rules on the ranges the
/// splice touched; on all ranges where that would differ). How many
/// findings.
fn window_recheck(
    pages: &Pages,
    (j, map): (&Judged<'_>, &LiveMap<'_>),
    last: &Last,
    window: (u64, u64),
    ranges: &mut List,
) -> usize {
    let (window, _) =
        window::widened(map, (&last.ranges, &last.cleared), window).expect("a window");
    let mut src = pages;
    let (mut top, mut scratch): (Box<Table>, Box<Scratch>) =
        (Box::new([0; 512]), Box::new([[0; 512]; 4]));
    assert!(src.copy_table(j.reference, &mut top), "reference");
    let mut items = Vec::new();
    let half = Top::kernel_half(j.reference, &top);
    j.walk
        .split_window(half, window, &mut src, &mut scratch, &mut |i| items.push(i));
    let mut fresh = (List::default(), List::default(), WalkCounts::default());
    let (mut old, mut made) = ((List::default(), List::default()), List::default());
    let spliced = window::rewalk_splice(
        (&j.walk, j.reference),
        (window, &items),
        (&mut src, &mut scratch),
        (&mut fresh.0, &mut fresh.1, &mut fresh.2),
        (&mut *ranges, &mut List::default()),
        ((&mut old.0, &mut old.1), &mut made),
    )
    .expect("splice");
    let text = text_of(map, &ranges.0);
    let before = window::Before {
        ranges: &old.0 .0,
        text: &last.text,
        findings: &[],
    };
    let all = &last.findings.0;
    let parts = window::Parts {
        per_range: all.len(),
        tables: all.len(),
        aliases: all.len(),
        unowned: all.len(),
    };
    let owned = |_: u64, _: &mut NameBuf| true;
    let code = window::Code {
        image: (0, 0),
        belongs_to: &owned,
    };
    let (mut out, mut mapped) = (Findings::new(FindingVec::default()), last.mapped);
    let at = spliced.ranges.at..spliced.ranges.at + spliced.ranges.len;
    let now = (&ranges.0[at], &text, spliced.span);
    let had = (before, &all[..], parts, &Tally::default());
    match window::recheck_findings(map, had, now, code, &mut mapped, &mut out) {
        Ok(Some(_)) => out.list.0.len(),
        _ => all_rules(map, &ranges.0).findings.0.len(),
    }
}

/// A check's ranges and cleared stretches, and what the per-range rules
/// made of them.
struct Last {
    ranges: Vec<Range>,
    cleared: Vec<Range>,
    text: TextAliases,
    findings: FindingVec,
    mapped: [[u64; 3]; 64],
}

/// The per-range rules on all of `ranges`.
fn all_rules(map: &LiveMap<'_>, ranges: &[Range]) -> Last {
    let text = text_of(map, ranges);
    let (mut findings, mut tally, mut mapped) =
        (FindingVec::default(), Tally::default(), [[0u64; 3]; 64]);
    check_ranges(
        map,
        &text,
        TableKind::Kernel,
        ranges,
        &mut mapped,
        &mut tally,
        &mut |f| findings.push(f),
    )
    .expect("rules");
    Last {
        ranges: ranges.to_vec(),
        cleared: Vec::new(),
        text,
        findings,
        mapped,
    }
}

/// A re-check of one module's load, as watch mode's with the CPA hook: the
/// window of `module` (the module area's range of its text) and the
/// direct-map windows of the memory it maps, each re-checked in turn
/// ([`window_recheck`]); then System RAM and the modules area's code
/// aliases on all the ranges, the two phases such windows redo
/// (`window::Redo`). How many findings they make together.
fn module_recheck(
    pages: &Pages,
    (j, map): (&Judged<'_>, &LiveMap<'_>),
    last: &Last,
    module: (u64, u64),
    mut ranges: List,
) -> usize {
    let base = j.live.page_offset_base;
    let aliases = last
        .ranges
        .iter()
        .filter(|r| r.start <= module.1 && r.last >= module.0)
        .map(|r| (base + r.phys, base + r.phys + (r.size() - 1)));
    let mut found = 0;
    for window in [module].into_iter().chain(aliases) {
        found = window_recheck(pages, (j, map), last, window, &mut ranges);
    }
    let target = Target {
        walk: j.walk,
        map,
        reference: j.reference,
        page_offset_base: base,
        ram: &j.ram,
    };
    let (mut src, mut scratch): (&Pages, Box<Scratch>) = (pages, Box::new([[0; 512]; 4]));
    let mut ram = Findings::new(FindingVec::default());
    let lists = (&last.ranges[..], &last.cleared[..]);
    system_ram(
        target,
        lists,
        (&mut src, &mut scratch),
        &mut || {},
        &mut ram,
    )
    .expect("ram");
    let mut aliases = 0;
    let scope = (&j.walk, j.reference, base);
    code_aliases(
        scope,
        (map, &|_| false),
        &last.ranges,
        &mut src,
        &mut |_| {
            aliases += 1;
            Ok(())
        },
    )
    .expect("aliases");
    found + ram.list.0.len() + aliases
}

/// The smallest executable range of the modules area: a module's text.
fn a_module(map: &LiveMap<'_>, ranges: &[Range]) -> Option<(u64, u64)> {
    let code = |r: &&Range| {
        let row = map.place(r.start).0.row();
        !r.effective.nx && row.is_some_and(|row| map.doc().regions[row].id == RegionId::Modules)
    };
    let r = ranges.iter().filter(code).min_by_key(|r| r.size())?;
    Some((r.start, r.last))
}

/// The smallest vmalloc range of `ranges`: what a re-check after one
/// vmalloc area's change covers.
fn a_vmalloc_area(map: &LiveMap<'_>, ranges: &[Range]) -> Option<(u64, u64)> {
    let vmalloc = |r: &&Range| {
        let row = map.place(r.start).0.row();
        row.is_some_and(|row| map.doc().regions[row].id == RegionId::Vmalloc)
    };
    let r = ranges.iter().filter(vmalloc).min_by_key(|r| r.size())?;
    Some((r.start, r.last))
}

fn bench(c: &mut Criterion) {
    let docs = Docs::load().expect("documented maps");
    // The fixtures, then any capture named in VMLAYOUT_BENCH_CAPTURES
    // (`:`-separated paths: bigger captures than the tree keeps).
    let extra = std::env::var("VMLAYOUT_BENCH_CAPTURES").unwrap_or_default();
    let fixtures = [
        "p4-wx.elf.gz",
        "p5-wx.elf.gz",
        "p5-16g-dpa.elf.d64.gz",
        "p5-256g-dpa.elf.d64.gz",
    ]
    .map(|name| (name.to_string(), unpacked(name)));
    let extra = extra.split(':').filter(|p| !p.is_empty()).map(|p| {
        let name = Path::new(p)
            .file_name()
            .map_or(p.into(), |n| n.to_string_lossy().into_owned());
        (name, PathBuf::from(p))
    });
    for (name, path) in fixtures.into_iter().chain(extra) {
        let core = Core::open(&path).expect("capture");
        let pages = Pages::of(&core);
        let judged = judge(Input::Vmcore(&path), &docs).expect("judge");
        let map = LiveMap::new(judged.doc, &judged.live);
        assert!(
            walk_and_rules(&pages, &judged, &map) > 0,
            "the plant is found"
        );
        let mut group = c.benchmark_group(
            name.trim_end_matches(".gz")
                .trim_end_matches(".d64")
                .trim_end_matches(".elf"),
        );
        group.bench_function("walk", |b| b.iter(|| walk_only(&pages, &judged).0 .0.len()));
        group.bench_function("walk+rules", |b| {
            b.iter(|| walk_and_rules(&pages, &judged, &map))
        });
        let (ranges, cleared, _) = walk_only(&pages, &judged);
        let last = Last {
            cleared: cleared.0,
            ..all_rules(&map, &ranges.0)
        };
        if let Some(area) = a_vmalloc_area(&map, &last.ranges) {
            // The per-range rules' findings of a full walk: what the window
            // re-check redoes (System RAM's, which `walk+rules` counts too,
            // it keeps).
            let copy = || List(last.ranges.clone());
            assert_eq!(
                window_recheck(&pages, (&judged, &map), &last, area, &mut copy()),
                last.findings.0.len(),
                "as a full check"
            );
            group.bench_function("window recheck", |b| {
                b.iter_batched(
                    copy,
                    |mut ranges| window_recheck(&pages, (&judged, &map), &last, area, &mut ranges),
                    BatchSize::LargeInput,
                )
            });
        }
        if let Some(module) = a_module(&map, &last.ranges) {
            let copy = || List(last.ranges.clone());
            let at = (&judged, &map);
            assert!(
                module_recheck(&pages, at, &last, module, copy()) >= last.findings.0.len(),
                "the per-range findings, and System RAM's"
            );
            group.bench_function("module recheck", |b| {
                b.iter_batched(
                    copy,
                    |ranges| module_recheck(&pages, at, &last, module, ranges),
                    BatchSize::LargeInput,
                )
            });
        }
        for threads in [1, 2] {
            let mut pipeline = Pipeline::new(threads, &map, &pages, &judged);
            // The per-range rules, as the serial check's (System RAM's,
            // a side task in the module, it leaves out).
            assert_eq!(
                pipeline.run(&pages, &judged),
                last.findings.0.len(),
                "the same findings as one thread's serial check"
            );
            group.bench_function(format!("walk+rules {threads}t"), |b| {
                b.iter(|| pipeline.run(&pages, &judged))
            });
        }
        let mut table: Box<Table> = Box::new([0; 512]);
        let addresses: Vec<u64> = pages.0.keys().copied().collect();
        group.bench_function("copy", |b| {
            b.iter(|| pages.copy_all(&addresses, &mut table))
        });
        group.bench_function("vmlayout check", |b| {
            b.iter(|| check(Input::Vmcore(&path), &docs).expect("check"))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
