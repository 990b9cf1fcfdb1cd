// SPDX-License-Identifier: GPL-2.0

//! Natively, what checking a kernel's tables costs against reading them:
//! on each real capture (testdata/captures/), held in memory,
//!
//! * `walk+rules`: the core's walk of the reference and its checks
//!   (`walk_reference`, then `check_walked`: every per-range rule and the
//!   direct map), as the module runs them, on one thread;
//! * `walk+rules Nt`: the module's parallel pipeline on N threads (1 and
//!   2): the split into work items, the workers' loop of the module
//!   (`BatchSink::walk_batches`: batches claimed from the core's
//!   `BatchQueue`), the join of their spans, and the per-range rules in one
//!   chunk per thread. The 2-thread figure against the 1-thread one is the
//!   scaling (the goal: at least 1.8x); threads are spawned per
//!   run, where the module keeps its workers waiting, so small captures
//!   understate it;
//! * `copy`: a plain copy of the same table pages, once each, each found by
//!   its physical address in the same in-memory source;
//! * `vmlayout check`: the whole command on the capture file (reading it,
//!   the audits, writing the snapshot's records).
//!
//! `walk+rules` against `copy` is what the walk and the rules add to
//! reading the tables (the goal: within 1.5x).
//!
//!     cargo bench -p vmlayout --bench check

use std::io::Read;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion};
use std::collections::HashMap;

use vmlayout_core::batch::{BatchSink, WalkCounts};
use vmlayout_core::check::{
    check_ranges, check_walked, text_of, walk_reference, Findings, Target, Walked,
};
use vmlayout_core::pte::Table;
use vmlayout_core::rules::{LiveMap, TableKind, Tally};
use vmlayout_core::walk::{self, ItemSpan, Range, Scratch, TableReader, TableSource, Top};
use vmlayout_core::work::{BatchQueue, PerPart};
use vmlayout_reporter::check::{check, judge, FindingVec, Input, Judged, List};
use vmlayout_reporter::docs::Docs;
use vmlayout_reporter::elf::Core;

/// The capture `name`, unpacked next to the benchmark's other files.
fn unpacked(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/captures")
        .join(name);
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(src).expect("capture"))
        .read_to_end(&mut bytes)
        .expect("gzip");
    let out = std::env::temp_dir().join(format!("vmlayout-bench-{}", name.trim_end_matches(".gz")));
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

/// The core's walk of the reference and its checks, on `pages`: how many
/// findings (so that nothing is optimized away).
fn walk_and_rules(pages: &Pages, j: &Judged<'_>, map: &LiveMap<'_>) -> usize {
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

/// One worker's walk: its lists, each batch's spans in `per_batch`.
fn worker(
    j: &Judged<'_>,
    mut src: &Pages,
    queue: &BatchQueue<'_, walk::WorkItem>,
    per_batch: &[PerPart<'_, '_, ItemSpan>; 2],
    list: u32,
) -> (List, List) {
    let (mut ranges, mut cleared) = (List::default(), List::default());
    let mut counts = WalkCounts::default();
    let mut scratch: Box<Scratch> = Box::new([[0; 512]; 4]);
    let mut sink = BatchSink::new(&mut ranges, &mut cleared, &mut counts, j.walk.phys_mask);
    let spans = [&per_batch[0], &per_batch[1]];
    let kept = sink.walk_batches(&j.walk, queue, spans, list, (&mut src, &mut scratch), || {});
    assert!(kept && !sink.no_room(), "worker output complete");
    (ranges, cleared)
}

/// The parallel pipeline on `threads` threads: split, walk, join, then
/// the per-range rules a chunk per thread. How many findings.
fn pipeline(pages: &Pages, j: &Judged<'_>, map: &LiveMap<'_>, threads: usize) -> usize {
    let mut src = pages;
    let mut top: Box<Table> = Box::new([0; 512]);
    let mut scratch: Box<Scratch> = Box::new([[0; 512]; 4]);
    assert!(src.copy_table(j.reference, &mut top), "reference");
    let mut items = Vec::new();
    let top = Top::kernel_half(j.reference, &top);
    j.walk
        .split(top, &mut src, &mut scratch, &mut |i| items.push(i));
    let n = items.len();
    let queue = BatchQueue::full(&mut items, ITEMS_PER_CLAIM);
    let mut spans = vec![ItemSpan::default(); 2 * queue.batches(n)];
    let (ranges, cleared) = spans.split_at_mut(queue.batches(n));
    let per_batch = [
        PerPart::of_batches(&queue, ranges),
        PerPart::of_batches(&queue, cleared),
    ];
    let lists: Vec<(List, List)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads as u32)
            .map(|list| {
                let (queue, per_batch) = (&queue, &per_batch);
                s.spawn(move || worker(j, pages, queue, per_batch, list))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .collect()
    });
    let spans = &spans[..queue.batches(n)];
    let mut joined: Vec<Range> = Vec::with_capacity(lists.iter().map(|l| l.0 .0.len()).sum());
    let len = walk::concat_items(
        spans.iter().copied(),
        |i| &lists[i].0 .0,
        joined.spare_capacity_mut(),
    )
    .expect("join");
    // SAFETY: `concat_items` wrote the first `len` ranges.
    unsafe { joined.set_len(len) };
    rules_on_threads(map, &joined, threads)
}

/// The per-range rules on `ranges`, a chunk per thread.
fn rules_on_threads(map: &LiveMap<'_>, ranges: &[Range], threads: usize) -> usize {
    let text = text_of(map, ranges);
    let chunk = ranges.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let workers: Vec<_> = ranges
            .chunks(chunk)
            .map(|part| {
                // Each worker its own map: its lookup cache is per CPU, as
                // in the module.
                let (text, map) = (&text, map.clone());
                s.spawn(move || {
                    let (mut found, mut tally) = (0, Tally::default());
                    let mut mapped = vec![[0u64; 3]; map.doc().regions.len()];
                    let kernel = TableKind::Kernel;
                    check_ranges(
                        &map,
                        text,
                        kernel,
                        part,
                        &mut mapped,
                        &mut tally,
                        &mut |_| {
                            found += 1;
                            Ok(())
                        },
                    )
                    .expect("rules");
                    found
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("rules")).sum()
    })
}

fn bench(c: &mut Criterion) {
    let docs = Docs::load().expect("documented maps");
    // The fixtures, then any capture named in VMLAYOUT_BENCH_CAPTURES
    // (`:`-separated paths: bigger captures than the tree keeps).
    let extra = std::env::var("VMLAYOUT_BENCH_CAPTURES").unwrap_or_default();
    let fixtures = ["p4-wx.elf.gz", "p5-wx.elf.gz"].map(|name| (name.to_string(), unpacked(name)));
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
        let mut group = c.benchmark_group(name.trim_end_matches(".gz").trim_end_matches(".elf"));
        group.bench_function("walk+rules", |b| {
            b.iter(|| walk_and_rules(&pages, &judged, &map))
        });
        for threads in [1, 2] {
            assert!(
                pipeline(&pages, &judged, &map, threads) > 0,
                "the plant is found"
            );
            group.bench_function(format!("walk+rules {threads}t"), |b| {
                b.iter(|| pipeline(&pages, &judged, &map, threads))
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
