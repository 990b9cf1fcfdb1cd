// SPDX-License-Identifier: GPL-2.0

//! The walker, coalescing and rules on synthetic page tables in host memory.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use vmlayout_core::batch::{cleared_run, BatchSink, NoRoom, RangeList, WalkCounts, ITEM_RETRIES};
use vmlayout_core::changed::Changed;
use vmlayout_core::check;
use vmlayout_core::direct_map::{DirectMapSeen, RamCheck};
use vmlayout_core::layout::Live;
use vmlayout_core::map::{DocMap, DocRegion, Paging, RegionId};
use vmlayout_core::mm_doc::parse_document;
use vmlayout_core::pte::{canonical, Effective, Flags, Level, Table, ENTRIES, PHYS_ADDR_MASK};
use vmlayout_core::report::NameBuf;
use vmlayout_core::rules::{
    check_ram, check_range, efi_wx_verdict, nothing_fires, still_holds, Finding, LiveMap, Owner,
    Rule, Severity, TableKind, Tally, TextAliases, FINDINGS_PER_RULE,
};
use vmlayout_core::walk::{
    self, Coalescer, Presence, Range, Scratch, TableSource, Top, Walk, WalkSink,
};
use vmlayout_core::window::{
    recheck_findings, redo_others, rewalk_splice, splice, splice_in_place, undo, widen_to_leaves,
    widen_to_run, windowable, Before, Code, Parts, Redo, Redone, Spliced,
};
use vmlayout_core::work::{BatchQueue, PerPart};

/// Page tables in host memory, addressed by fake physical addresses.
struct Tables {
    pages: HashMap<u64, Box<Table>>,
    next: u64,
    root: u64,
    top: Level,
    reads: usize,
    /// Physical addresses whose read fails (a table freed under the walk).
    poisoned: Vec<u64>,
    /// Changes the kernel makes while the walk copies a table: once the
    /// table at `.0` has been copied, entry `.2` of table `.1` becomes `.3`.
    changes: Vec<(u64, u64, usize, u64)>,
}

const TABLE: u64 = Flags::P | Flags::RW | Flags::US; // upper levels grant all, as x86 does for user tables

impl Tables {
    fn new(top: Level) -> Self {
        let mut t = Tables {
            pages: HashMap::new(),
            next: 0x1000_0000,
            root: 0,
            top,
            reads: 0,
            poisoned: vec![],
            changes: vec![],
        };
        t.root = t.alloc();
        t
    }

    fn alloc(&mut self) -> u64 {
        let phys = self.next;
        self.next += 0x1000;
        self.pages.insert(phys, Box::new([0; ENTRIES]));
        phys
    }

    /// Map one leaf; upper entries get `upper` flags. A bigger leaf on
    /// the way is split first, as the kernel splits one (`set_memory_*()`
    /// on part of it): a table of leaves one level down mapping what it
    /// mapped, alike.
    fn map(&mut self, va: u64, level: Level, phys: u64, flags: u64, upper: u64) {
        let mut table = self.root;
        let mut l = self.top;
        while l != level {
            let idx = ((va >> l.shift()) & 511) as usize;
            let e = self.pages[&table][idx];
            let child = if e & Flags::P != 0 && e & Flags::PS != 0 {
                let c = self.split(e, l);
                self.pages.get_mut(&table).unwrap()[idx] = c | upper;
                c
            } else if e & Flags::P != 0 {
                e & PHYS_ADDR_MASK
            } else {
                let c = self.alloc();
                self.pages.get_mut(&table).unwrap()[idx] = c | upper;
                c
            };
            table = child;
            l = l.below().unwrap();
        }
        let idx = ((va >> level.shift()) & 511) as usize;
        let ps = if level == Level::Pte { 0 } else { Flags::PS };
        self.pages.get_mut(&table).unwrap()[idx] = phys | flags | ps | Flags::P;
    }
}

impl Tables {
    /// A table of the leaves one level below `level` that map what the
    /// leaf `entry` maps, with its attributes.
    fn split(&mut self, entry: u64, level: Level) -> u64 {
        let below = level.below().unwrap();
        let attrs = entry & !PHYS_ADDR_MASK & !Flags::PS;
        let ps = if below == Level::Pte { 0 } else { Flags::PS };
        let table = self.alloc();
        for (i, e) in self.pages.get_mut(&table).unwrap().iter_mut().enumerate() {
            *e = ((entry & PHYS_ADDR_MASK) + i as u64 * below.entry_size()) | attrs | ps;
        }
        table
    }

    /// Apply the changes the kernel makes once the table at `phys` is read.
    fn after_reading(&mut self, phys: u64) {
        while let Some(i) = self.changes.iter().position(|c| c.0 == phys) {
            let (_, table, index, entry) = self.changes.remove(i);
            self.pages.get_mut(&table).unwrap()[index] = entry;
        }
    }
}

/// A table read in place: what it held when the read began. A poisoned
/// table (freed and unmapped under the walk) faults from entry
/// [`POISON_FROM`] on.
struct InPlace {
    table: Table,
    fail_from: usize,
    failed: bool,
}

const POISON_FROM: usize = 200;

impl walk::TableReader for InPlace {
    fn entry(&mut self, index: usize) -> u64 {
        if index >= self.fail_from {
            self.failed = true;
            return 0;
        }
        self.table[index]
    }

    fn failed(&self) -> bool {
        self.failed
    }
}

impl TableSource for Tables {
    type Reader = InPlace;

    fn copy_table(&mut self, phys: u64, out: &mut Table) -> bool {
        self.reads += 1;
        let copied = !self.poisoned.contains(&phys)
            && match self.pages.get(&phys) {
                Some(t) => {
                    out.copy_from_slice(&t[..]);
                    true
                }
                None => false,
            };
        self.after_reading(phys);
        copied
    }

    fn read_table(&mut self, phys: u64) -> Option<InPlace> {
        self.reads += 1;
        let reader = self.pages.get(&phys).map(|t| InPlace {
            table: **t,
            fail_from: if self.poisoned.contains(&phys) {
                POISON_FROM
            } else {
                ENTRIES
            },
            failed: false,
        });
        self.after_reading(phys);
        reader
    }

    fn read_entry(&mut self, table: u64, index: usize) -> Option<u64> {
        if self.poisoned.contains(&table) {
            return None;
        }
        self.pages.get(&table).map(|t| t[index])
    }
}

#[derive(Default)]
struct Collect {
    coalescer: Coalescer,
    ranges: Vec<Range>,
    tables: usize,
    shared: u64,
    unreadable: Vec<u64>,
    changed: Vec<(u64, Level)>,
    /// Coalesced (first, last) stretches of cleared entries.
    cleared: Vec<(u64, u64)>,
}

impl WalkSink for Collect {
    fn leaf(&mut self, va: u64, level: Level, entry: u64, count: u64, effective: Effective) {
        let leaves = Range::leaf(va, level, entry, count, effective, PHYS_ADDR_MASK);
        if let Some(done) = self.coalescer.push(leaves) {
            self.ranges.push(done);
        }
    }
    fn table(&mut self, _: Level) {
        self.tables += 1;
    }
    fn shared(&mut self, _: Level, count: u64) {
        self.shared += count;
    }
    fn unreadable(&mut self, va: u64, _: Level, _: u64) {
        self.unreadable.push(va);
    }
    fn changed(&mut self, va: u64, level: Level) {
        self.changed.push((va, level));
    }
    fn cleared(&mut self, va: u64, level: Level, count: u64) {
        let last = va + (count * level.entry_size() - 1);
        match self.cleared.last_mut() {
            Some(c) if c.1.wrapping_add(1) == va => c.1 = last,
            _ => self.cleared.push((va, last)),
        }
    }
}

impl Collect {
    fn done(mut self) -> Self {
        if let Some(r) = self.coalescer.finish() {
            self.ranges.push(r);
        }
        self
    }
}

/// The walk configuration for page tables in host memory.
fn walk_for(top: Level) -> Walk {
    Walk {
        top,
        phys_mask: PHYS_ADDR_MASK,
    }
}

fn walk_all(t: &mut Tables) -> Collect {
    let walk = walk_for(t.top);
    let root: Table = *t.pages[&t.root];
    let mut scratch: Box<Scratch> = Box::new([[0; ENTRIES]; 4]);
    let mut sink = Collect::default();
    walk.walk_top(Top::kernel_half(t.root, &root), t, &mut scratch, &mut sink);
    sink.done()
}

/// The work split the module uses: `Walk::split`'s items handed out
/// round-robin to `cpus` walkers, then merged in address order.
fn walk_split(t: &mut Tables, cpus: usize) -> Vec<Range> {
    let walk = walk_for(t.top);
    let root: Table = *t.pages[&t.root];
    let mut items = vec![];
    let mut scratch: Box<Scratch> = Box::new([[0; ENTRIES]; 4]);
    walk.split(
        Top::kernel_half(t.root, &root),
        t,
        &mut scratch,
        &mut |item| items.push(item),
    );
    assert!(items.windows(2).all(|w| w[0].va < w[1].va));
    assert!(items
        .iter()
        .all(|i| i.level <= Level::Pmd || Flags::of(i.entry).has(Flags::PS) || i.count > 1));
    let mut per_cpu: Vec<Collect> = (0..cpus).map(|_| Collect::default()).collect();
    for (n, item) in items.iter().enumerate() {
        walk.walk_item(item, t, &mut scratch, &mut per_cpu[n % cpus]);
    }
    let lists: Vec<Vec<Range>> = per_cpu.into_iter().map(|c| c.done().ranges).collect();
    let slices: Vec<&[Range]> = lists.iter().map(Vec::as_slice).collect();
    let mut out = vec![];
    walk::merge(&slices, &mut vec![0; cpus], &mut vec![0; cpus], |r| {
        out.push(r)
    });
    out
}

/// A random kernel-half mapping: leaves at all levels, flags varied.
fn leaves(top: Level) -> impl Strategy<Value = BTreeMap<u64, (Level, u64)>> {
    let kernel_half = 1u64 << (top.shift() + 8);
    prop::collection::vec(
        (0u64..64, 0u64..64, 0usize..3, 0u64..8, any::<bool>()),
        1..200,
    )
    .prop_map(move |specs| {
        let mut m = BTreeMap::new();
        for (slot, sub, lvl, flags, nx) in specs {
            let level = [Level::Pte, Level::Pmd, Level::Pud][lvl];
            let va = canonical(
                kernel_half + slot * (1 << 39) + sub * level.entry_size(),
                top,
            );
            let mut f = Flags::G;
            if flags & 1 != 0 {
                f |= Flags::RW;
            }
            if flags & 2 != 0 {
                f |= Flags::PCD;
            }
            if nx {
                f |= Flags::NX;
            }
            // Keep leaves of different sizes apart: one size per 512 GiB slot.
            let level = [Level::Pte, Level::Pmd, Level::Pud][(slot % 3) as usize];
            let _ = lvl;
            let va = va & !(level.entry_size() - 1);
            m.insert(va, (level, f));
        }
        m
    })
}

/// Runs of leaves alike, each of one size per 512 GiB slot as in
/// [`leaves`], that often cross from one table into the next, so that the
/// ranges of one work item continue those of the item before.
fn runs_across_tables(top: Level) -> impl Strategy<Value = BTreeMap<u64, (Level, u64)>> {
    let kernel_half = 1u64 << (top.shift() + 8);
    prop::collection::vec((0u64..6, 480u64..540, 1u64..48, 0u64..4), 1..12).prop_map(move |runs| {
        let mut m = BTreeMap::new();
        for (slot, first, len, flags) in runs {
            let level = [Level::Pte, Level::Pmd, Level::Pud][(slot % 3) as usize];
            let mut f = Flags::G | Flags::NX;
            if flags & 1 != 0 {
                f |= Flags::RW;
            }
            if flags & 2 != 0 {
                f |= Flags::PCD;
            }
            // A 1 GiB run stays in its slot (511 entries at most).
            let end = if level == Level::Pud {
                (first + len).min(511)
            } else {
                first + len
            };
            for index in first.min(end)..end {
                let va = canonical(
                    kernel_half + slot * (1 << 39) + index * level.entry_size(),
                    top,
                );
                m.insert(va, (level, f));
            }
        }
        m
    })
}

/// Walk `fixture`'s items, item `n` by worker `owners[n % len]` of 256,
/// each item's output recorded as a span of its worker's list: joined in
/// item order they are exactly the single walk, and so is the join's suffix
/// from any address.
fn join_items_as_the_single_walk(
    (mut t, walk, items, want): (Tables, Walk, Vec<walk::WorkItem>, Vec<Range>),
    owners: &[usize],
) -> Result<(), TestCaseError> {
    let mut scratch: Box<Scratch> = Box::new([[0; ENTRIES]; 4]);
    let mut lists: Vec<Vec<Range>> = vec![vec![]; 256];
    let mut spans = vec![];
    for (n, item) in items.iter().enumerate() {
        let owner = owners[n % owners.len()];
        let mut one = Collect::default();
        walk.walk_item(item, &mut t, &mut scratch, &mut one);
        let first = lists[owner].len() as u32;
        lists[owner].extend(one.done().ranges);
        spans.push(walk::ItemSpan {
            list: owner as u32,
            first,
            end: lists[owner].len() as u32,
        });
    }
    let total = spans.iter().map(|s| (s.end - s.first) as usize).sum();
    let mut out: Vec<Range> = Vec::with_capacity(total);
    let n = walk::concat_items(
        spans.iter().copied(),
        |i| &lists[i],
        out.spare_capacity_mut(),
    )
    .unwrap();
    // SAFETY: concat_items initialized the first n.
    unsafe { out.set_len(n) };
    prop_assert_eq!(&out, &want);
    // Too little room, or a span past its list: None, never a panic.
    let mut none: Vec<Range> = Vec::new();
    if want.iter().any(|_| true) {
        prop_assert_eq!(
            walk::concat_items(
                spans.iter().copied(),
                |i| &lists[i],
                none.spare_capacity_mut()
            ),
            None
        );
    }
    let bad = walk::ItemSpan {
        list: 0,
        first: 0,
        end: lists[0].len() as u32 + 1,
    };
    prop_assert_eq!(
        walk::concat_items([bad].into_iter(), |i| &lists[i], none.spare_capacity_mut()),
        None
    );
    // The join's suffix from any address, without the rest joined.
    let mut from: Vec<u64> = want.iter().map(|r| r.start).collect();
    from.extend(want.iter().map(|r| r.start + 1));
    from.extend([0, u64::MAX]);
    for from in from {
        let mut got = vec![];
        walk::joined_from(&spans, |i| &lists[i], from, |r| got.push(*r)).unwrap();
        let suffix: Vec<Range> = want.iter().filter(|r| r.start >= from).copied().collect();
        prop_assert_eq!(got, suffix);
    }
    Ok(())
}

fn reference_ranges(leaves: &BTreeMap<u64, (Level, u64)>) -> Vec<(u64, u64, Level, u64)> {
    let mut out: Vec<(u64, u64, Level, u64)> = vec![];
    for (&va, &(level, f)) in leaves {
        let last = va + level.entry_size() - 1;
        let shown = Flags(f).shown(level).0;
        match out.last_mut() {
            Some(r) if r.1.wrapping_add(1) == va && r.2 == level && r.3 == shown => r.1 = last,
            _ => out.push((va, last, level, shown)),
        }
    }
    out
}

proptest! {
    #[test]
    fn walk_finds_exactly_the_mapped_leaves(five in any::<bool>(), leaves in leaves(Level::P4d), cpus in 1usize..5) {
        let top = if five { Level::Pgd } else { Level::P4d };
        let leaves: BTreeMap<u64, (Level, u64)> = leaves.into_iter().map(|(va, v)| (canonical(va, top), v)).collect();
        let mut t = Tables::new(top);
        for (i, (&va, &(level, f))) in leaves.iter().enumerate() {
            t.map(va, level, (i as u64) << 30, f, TABLE);
        }
        let got = walk_all(&mut t);
        let want = reference_ranges(&leaves);
        let got_tuples: Vec<_> = got.ranges.iter().map(|r| (r.start, r.last, r.level, r.flags.0)).collect();
        prop_assert_eq!(&got_tuples, &want);
        // Maximal: no two neighbours could have been merged.
        for w in got.ranges.windows(2) {
            prop_assert!(!w[0].extends_to(&w[1]));
        }
        // Every table below the top was read exactly once.
        prop_assert_eq!(got.tables, t.pages.len() - 1);
        prop_assert_eq!(t.reads, t.pages.len() - 1);
        // Splitting the work across CPUs changes nothing.
        let split = walk_split(&mut t, cpus);
        prop_assert_eq!(split, got.ranges);
    }
}

proptest! {
    /// The PTE loop's run detection (one report for entries that differ
    /// only in the page they map, or that map the same page again, or that
    /// are cleared) gives exactly what reporting every entry on its own and
    /// coalescing gives.
    #[test]
    fn pte_runs_equal_leaf_by_leaf(
        stretches in prop::collection::vec((0u8..5, 0u8..4, 0u8..4, 1usize..48), 1..64),
    ) {
        // Stretches of alike entries, so that long runs occur.
        let entries: Vec<(u8, u8, u8)> = stretches
            .iter()
            .flat_map(|&(kind, bits, jump, len)| std::iter::repeat_n((kind, bits, jump), len))
            .take(ENTRIES)
            .collect();
        let mut t = Tables::new(Level::P4d);
        let base = canonical(0xffff_c900_0000_0000, Level::P4d);
        let mut phys = 0x4000_0000u64;
        let mut want = vec![];
        let mut want_cleared: Vec<(u64, u64)> = vec![];
        let mut coalescer = Coalescer::default();
        for (i, &(kind, bits, jump)) in entries.iter().enumerate() {
            // kind 0: hole; 4: cleared (DEBUG_PAGEALLOC's free page); else
            // present, with A/D and RW varied. The page is the next one, a
            // far one, or the same one again.
            phys += match jump {
                0 => 0x10_0000,
                3 => 0,
                _ => 0x1000,
            };
            if kind == 0 {
                continue;
            }
            let va = base + i as u64 * 4096;
            let flags = Flags::G
                | Flags::NX
                | if bits & 1 != 0 { Flags::A } else { 0 }
                | if bits & 2 != 0 { Flags::D } else { 0 }
                | if kind == 3 { Flags::RW } else { 0 };
            t.map(va, Level::Pte, phys, flags, TABLE);
            if kind == 4 {
                // As CPA clears them: the page number inverted (L1TF) and
                // the global bit cleared, which leaves no low bit but A;
                // or kept.
                let (table, index) = slot_of(&t, va, Level::Pte);
                let cleared = if bits & 1 != 0 {
                    (!phys & PHYS_ADDR_MASK) | (flags & !Flags::G & !Flags::RW & !Flags::D)
                } else {
                    phys | flags
                };
                t.pages.get_mut(&table).unwrap()[index] = cleared;
                match want_cleared.last_mut() {
                    Some(c) if c.1 + 1 == va => c.1 = va + 4095,
                    _ => want_cleared.push((va, va + 4095)),
                }
                continue;
            }
            let entry = phys | flags | Flags::P;
            let leaf = Range::leaf(va, Level::Pte, entry, 1, Effective::ALL.through(TABLE).through(TABLE).through(TABLE).through(entry), PHYS_ADDR_MASK);
            want.extend(coalescer.push(leaf));
        }
        want.extend(coalescer.finish());
        let got = walk_all(&mut t);
        prop_assert_eq!(got.ranges, want);
        prop_assert_eq!(got.cleared, want_cleared);
    }
}

#[test]
fn effective_permissions_combine_levels() {
    let mut t = Tables::new(Level::P4d);
    let va = canonical(0xffff_c900_0000_0000, Level::P4d);
    // Leaf says RW, user, executable; the upper levels deny write and user, and one sets NX.
    t.map(va, Level::Pte, 0x5000, Flags::RW | Flags::US, Flags::P);
    let r = walk_all(&mut t).ranges;
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0].effective,
        Effective {
            rw: false,
            us: false,
            nx: false
        }
    );
    assert!(r[0].flags.has(Flags::RW | Flags::US));
    assert_eq!(r[0].phys, 0x5000);

    let mut t = Tables::new(Level::P4d);
    t.map(va, Level::Pmd, 0x20_0000, Flags::RW, TABLE | Flags::NX);
    let r = walk_all(&mut t).ranges;
    assert_eq!(
        r[0].effective,
        Effective {
            rw: true,
            us: false,
            nx: true
        }
    );
    assert_eq!(r[0].size(), 2 << 20);
}

#[test]
fn unreadable_tables_are_reported_not_followed() {
    let mut t = Tables::new(Level::P4d);
    let a = canonical(0xffff_c900_0000_0000, Level::P4d);
    let b = canonical(0xffff_c900_4000_0000, Level::P4d);
    t.map(a, Level::Pte, 0x5000, Flags::NX, TABLE);
    t.map(b, Level::Pte, 0x6000, Flags::NX, TABLE);
    // Poison the PTE table behind b.
    let pte_tables: Vec<u64> = t.pages.keys().copied().filter(|&p| p != t.root).collect();
    let victim = *pte_tables.iter().max().unwrap();
    t.poisoned.push(victim);
    let got = walk_all(&mut t);
    // The table is read in place and faults part-way (`POISON_FROM`):
    // nothing read from it before the fault is reported either.
    assert_eq!(got.ranges.len(), 1);
    assert_eq!(got.ranges[0].start, a);
    assert_eq!(got.unreadable, vec![b & !((1 << 21) - 1)]);
    // Its entry did not change: unreadable, not changed.
    assert!(got.changed.is_empty());
}

/// The split's items, in order.
fn items_of(t: &mut Tables, walk: &Walk) -> Vec<walk::WorkItem> {
    let root: Table = *t.pages[&t.root];
    let mut scratch: Box<Scratch> = Box::new([[0; ENTRIES]; 4]);
    let mut items = vec![];
    walk.split(Top::kernel_half(t.root, &root), t, &mut scratch, &mut |i| {
        items.push(i)
    });
    items
}

/// 4-level tables mapping `leaves`, their walk, its work items and the
/// single walk's ranges: what the worker tests split among workers.
fn split_fixture(
    leaves: &BTreeMap<u64, (Level, u64)>,
) -> (Tables, Walk, Vec<walk::WorkItem>, Vec<Range>) {
    fixture_mapping(leaves, |i, _| (i as u64) << 30)
}

/// As [`split_fixture`], each leaf mapping `phys(index, va)`.
fn fixture_mapping(
    leaves: &BTreeMap<u64, (Level, u64)>,
    phys: impl Fn(usize, u64) -> u64,
) -> (Tables, Walk, Vec<walk::WorkItem>, Vec<Range>) {
    let top = Level::P4d;
    let mut t = Tables::new(top);
    for (i, (&va, &(level, f))) in leaves.iter().enumerate() {
        let va = canonical(va, top);
        t.map(va, level, phys(i, va), f, TABLE);
    }
    let want = walk_all(&mut t).ranges;
    let walk = walk_for(top);
    let items = items_of(&mut t, &walk);
    (t, walk, items, want)
}

/// Where `va`'s entry at `level` lives: (table, index).
fn slot_of(t: &Tables, va: u64, level: Level) -> (u64, usize) {
    let mut table = t.root;
    let mut l = t.top;
    while l != level {
        table = t.pages[&table][l.index(va)] & PHYS_ADDR_MASK;
        l = l.below().unwrap();
    }
    (table, level.index(va))
}

#[test]
fn a_table_replaced_under_the_walk_is_detected_and_walked_again() {
    for top in [Level::P4d, Level::Pgd] {
        let walk = walk_for(top);
        let mut t = Tables::new(top);
        let va = canonical(0xffff_c900_0000_0000, Level::P4d) & !((1 << 21) - 1);
        let va = canonical(va, top);
        t.map(va, Level::Pte, 0x5000, Flags::NX | Flags::G, TABLE);
        let items = items_of(&mut t, &walk);
        assert_eq!(items.len(), 1);
        let (pmd_table, index) = slot_of(&t, va, Level::Pmd);
        let old_pte = t.pages[&pmd_table][index] & PHYS_ADDR_MASK;
        // While the walk copies the PTE table, the kernel replaces it with
        // another one that maps two pages elsewhere (and frees the old).
        let new_pte = t.alloc();
        t.pages.get_mut(&new_pte).unwrap()[0] = 0x9000 | Flags::P | Flags::G | Flags::NX;
        t.pages.get_mut(&new_pte).unwrap()[1] = 0xa000 | Flags::P | Flags::G | Flags::NX;
        t.changes.push((old_pte, pmd_table, index, new_pte | TABLE));
        let mut scratch: Box<Scratch> = Box::new([[0; ENTRIES]; 4]);
        let mut first = Collect::default();
        walk.walk_item(&items[0], &mut t, &mut scratch, &mut first);
        assert_eq!(first.changed, vec![(va, Level::Pmd)], "{top:?}");
        // Walked again as its table holds it now: the new pages, no change.
        let now = walk.refresh(&items[0], &mut t).unwrap();
        let mut second = Collect::default();
        walk.walk_item(&now, &mut t, &mut scratch, &mut second);
        let second = second.done();
        assert!(second.changed.is_empty());
        assert_eq!(second.ranges.len(), 1);
        assert_eq!(
            (second.ranges[0].phys, second.ranges[0].size()),
            (0x9000, 0x2000)
        );
    }
}

#[test]
fn a_table_freed_under_the_walk_is_changed_not_unreadable() {
    let top = Level::P4d;
    let walk = walk_for(top);
    let mut t = Tables::new(top);
    let va = canonical(0xffff_c900_0020_0000, top);
    t.map(va, Level::Pte, 0x5000, Flags::NX, TABLE);
    let items = items_of(&mut t, &walk);
    let (pmd_table, index) = slot_of(&t, va, Level::Pmd);
    let old_pte = t.pages[&pmd_table][index] & PHYS_ADDR_MASK;
    // vfree's PTE table goes away: cleared in its parent, then unmapped.
    t.poisoned.push(old_pte);
    t.changes.push((old_pte, pmd_table, index, 0));
    let mut scratch: Box<Scratch> = Box::new([[0; ENTRIES]; 4]);
    let mut sink = Collect::default();
    walk.walk_item(&items[0], &mut t, &mut scratch, &mut sink);
    assert!(sink.unreadable.is_empty());
    assert_eq!(sink.changed, vec![(va, Level::Pmd)]);
    assert_eq!(walk.refresh(&items[0], &mut t), None, "the entry is gone");
}

proptest! {
    /// Any number of workers (256 here, as on a big machine), each taking
    /// arbitrary items, merge back to exactly the single walk.
    #[test]
    fn many_workers_merge_to_the_single_walk(
        leaves in leaves(Level::P4d),
        owners in prop::collection::vec(0usize..256, 1..400),
    ) {
        let (mut t, walk, items, want) = split_fixture(&leaves);
        let mut scratch: Box<Scratch> = Box::new([[0; ENTRIES]; 4]);
        let mut per_cpu: Vec<Collect> = (0..256).map(|_| Collect::default()).collect();
        for (n, item) in items.iter().enumerate() {
            // Items are claimed in address order, by whichever worker.
            walk.walk_item(item, &mut t, &mut scratch, &mut per_cpu[owners[n % owners.len()]]);
        }
        let lists: Vec<Vec<Range>> = per_cpu.into_iter().map(|c| c.done().ranges).collect();
        let slices: Vec<&[Range]> = lists.iter().map(Vec::as_slice).collect();
        let mut got = vec![];
        walk::merge(&slices, &mut [0; 256], &mut [0; 256], |r| got.push(r));
        prop_assert_eq!(got, want);
    }

    /// Items walked by any of 256 workers, each item's output closed at
    /// its end and recorded as a span: joined in item order, exactly the
    /// single walk (what the module does instead of merging).
    #[test]
    fn item_spans_join_to_the_single_walk(
        leaves in leaves(Level::P4d),
        owners in prop::collection::vec(0usize..256, 1..400),
    ) {
        join_items_as_the_single_walk(split_fixture(&leaves), &owners)?;
    }

    /// The same with runs of leaves that cross from one table into the
    /// next, each leaf mapping the physical address its virtual one ends
    /// in: an item's first range often continues the item before's last.
    #[test]
    fn item_spans_join_across_items(
        leaves in runs_across_tables(Level::P4d),
        owners in prop::collection::vec(0usize..256, 1..400),
    ) {
        join_items_as_the_single_walk(
            fixture_mapping(&leaves, |_, va| va & ((1 << 45) - 1)),
            &owners,
        )?;
    }

    /// `presence` classifies every page as looking each one up would.
    #[test]
    fn presence_matches_page_by_page_lookup(
        five in any::<bool>(),
        pages in prop::collection::vec((0u64..2048, 0u8..3), 0..300),
        huge in prop::collection::vec((0u64..8, 0u8..3), 0..4),
        window in (0u64..(2048 + 16 * 512), 0u64..(2048 + 16 * 512)),
    ) {
        let top = if five { Level::Pgd } else { Level::P4d };
        let walk = walk_for(top);
        let base = canonical(0xffff_8880_0000_0000, Level::P4d);
        let base = canonical(base, top);
        let mut t = Tables::new(top);
        let set = |t: &mut Tables, va: u64, level: Level, kind: u8| {
            t.map(va, level, 0x10_0000, Flags::NX | Flags::RW, TABLE);
            let (table, index) = slot_of(t, va, level);
            let entry = &mut t.pages.get_mut(&table).unwrap()[index];
            match kind {
                0 => {}
                1 => *entry &= !Flags::P, // cleared on purpose
                _ => *entry = 0,
            }
        };
        // 2048 pages = 4 PMDs of 4 KiB pages, then 8 PMDs that may be huge.
        for &(page, kind) in &pages {
            set(&mut t, base + page * 4096, Level::Pte, kind);
        }
        for &(pmd, kind) in &huge {
            set(&mut t, base + (8 + pmd) * (2 << 20), Level::Pmd, kind);
        }
        let (a, b) = (window.0.min(window.1), window.0.max(window.1));
        let (first, last) = (base + a * 4096, base + (b + 1) * 4096 - 1);
        let mut scratch: Box<Scratch> = Box::new([[0; ENTRIES]; 4]);
        let mut runs = vec![];
        walk.presence(t.root, first, last, &mut t, &mut scratch, |x, y, k| runs.push((x, y, k)));
        // Runs tile the window in order, maximal.
        prop_assert_eq!(runs.first().map(|r| r.0), Some(first));
        prop_assert_eq!(runs.last().map(|r| r.1), Some(last));
        prop_assert!(runs.iter().all(|r| r.0 <= r.1));
        for w in runs.windows(2) {
            prop_assert_eq!(w[0].1 + 1, w[1].0);
            prop_assert_ne!(w[0].2, w[1].2);
        }
        // The walk reports exactly the cleared stretches, as lookups do.
        let walked = walk_all(&mut t);
        let in_walk = |va: u64| walked.cleared.iter().any(|&(a, b)| a <= va && va <= b);
        for &(x, y, kind) in &runs {
            let mut va = x;
            while va <= y {
                prop_assert_eq!(in_walk(va), kind == Presence::Cleared, "at {:#x}", va);
                va += 4096;
            }
        }
        // Each page as resolve sees it.
        for &(x, y, kind) in &runs {
            let mut va = x;
            while va <= y {
                let r = walk.resolve(t.root, va, &mut t);
                let want = match r {
                    None => Presence::Unreadable,
                    Some(r) if r.present() => Presence::Present,
                    Some(r) if r.entry != 0 => Presence::Cleared,
                    Some(_) => Presence::Empty,
                };
                prop_assert_eq!(kind, want, "at {:#x}", va);
                va += 4096;
            }
        }
    }
}

#[test]
fn findings_are_capped_per_rule_and_counted() {
    let mut tally = Tally::default();
    let kept = (0..FINDINGS_PER_RULE + 10)
        .filter(|_| tally.admit(Rule::WriteExec))
        .count() as u64;
    assert_eq!(kept, FINDINGS_PER_RULE);
    assert!(tally.admit(Rule::UserKernel));
    assert_eq!(tally.found(Rule::WriteExec), FINDINGS_PER_RULE + 10);
    assert_eq!(tally.omitted(Rule::WriteExec), 10);
    assert_eq!(tally.omitted(Rule::UserKernel), 0);
}

#[test]
fn a_finding_holds_only_while_its_leaf_is_mapped_the_same_way() {
    let top = Level::P4d;
    let walk = walk_for(top);
    let mut t = Tables::new(top);
    let va = canonical(0xffff_c900_0000_0000, top);
    t.map(va, Level::Pte, 0x5000, Flags::RW | Flags::G, TABLE);
    let got = walk_all(&mut t);
    let wx = Finding {
        rule: Rule::WriteExec,
        severity: Severity::Error,
        row: None,
        range: got.ranges[0],
        reason: "",
        owner: vmlayout_core::rules::Owner::Reference,
    };
    assert!(still_holds(&wx, walk.resolve(t.root, va, &mut t).as_ref()));
    // The plant is removed (made NX again): the finding no longer holds.
    let (table, index) = slot_of(&t, va, Level::Pte);
    t.pages.get_mut(&table).unwrap()[index] |= Flags::NX;
    assert!(!still_holds(&wx, walk.resolve(t.root, va, &mut t).as_ref()));
    // Unmapped: neither.
    t.pages.get_mut(&table).unwrap()[index] = 0;
    assert!(!still_holds(&wx, walk.resolve(t.root, va, &mut t).as_ref()));
}

/// Reference for shared tables: every leaf on its own, found by following
/// every entry with no memo, then coalesced. Returns (ranges, leaves).
fn walk_naive(t: &Tables) -> (Vec<(u64, u64, Level, u64)>, usize) {
    fn visit(t: &Tables, table: u64, level: Level, va: u64, out: &mut Vec<(u64, Level, u64)>) {
        for (i, &e) in t.pages[&table].iter().enumerate() {
            if e & Flags::P == 0 {
                continue;
            }
            let va = va + i as u64 * level.entry_size();
            let huge = level.can_be_huge() && e & Flags::PS != 0;
            match level.below() {
                Some(below) if !huge => visit(t, e & PHYS_ADDR_MASK, below, va, out),
                _ => out.push((va, level, e)),
            }
        }
    }
    let mut leaves = vec![];
    let root = &t.pages[&t.root];
    for (i, &e) in root.iter().enumerate().skip(ENTRIES / 2) {
        if e & Flags::P != 0 {
            let va = canonical((i as u64) << t.top.shift(), t.top);
            visit(
                t,
                e & PHYS_ADDR_MASK,
                t.top.below().unwrap(),
                va,
                &mut leaves,
            );
        }
    }
    let mut out: Vec<(u64, u64, Level, u64)> = vec![];
    for &(va, level, e) in &leaves {
        let last = va + level.entry_size() - 1;
        let shown = Flags(e).shown(level).0;
        match out.last_mut() {
            Some(r) if r.1.wrapping_add(1) == va && r.2 == level && r.3 == shown => r.1 = last,
            _ => out.push((va, last, level, shown)),
        }
    }
    (out, leaves.len())
}

fn tuples(ranges: &[Range]) -> Vec<(u64, u64, Level, u64)> {
    ranges
        .iter()
        .map(|r| (r.start, r.last, r.level, r.flags.0))
        .collect()
}

/// KASAN's early shadow: one table per level, each entry of it pointing at
/// the one below, the PTE table mapping one zero page 512 times, and several
/// top-level entries pointing at the chain. It must cost a table read per
/// level, not one per 2 MiB, and show as one read-only range.
#[test]
fn shared_tables_are_read_once() {
    for top in [Level::P4d, Level::Pgd] {
        let mut t = Tables::new(top);
        let zero_page = 0x7000;
        let ro = Flags::G | Flags::NX | Flags::P;
        // The CPU sets the accessed bit in the entries it walks through, so
        // the shared tables' entries differ in it.
        let touch = |table: &mut Table| {
            for i in (0..ENTRIES).step_by(7) {
                table[i] |= Flags::A;
            }
        };
        let mut below = t.alloc();
        t.pages.get_mut(&below).unwrap().fill(zero_page | ro);
        touch(t.pages.get_mut(&below).unwrap());
        // A twin of the PTE table (equal leaves, another page), which the
        // second half of the PMD table points at.
        let twin = t.alloc();
        let copy = *t.pages[&below];
        **t.pages.get_mut(&twin).unwrap() = copy;
        // PMD, PUD (and P4D) tables: every level between PTE and the top.
        for level in 0..top as u32 - 2 {
            let table = t.alloc();
            t.pages.get_mut(&table).unwrap().fill(below | TABLE);
            if level == 0 {
                t.pages.get_mut(&table).unwrap()[ENTRIES / 2..].fill(twin | TABLE);
            }
            touch(t.pages.get_mut(&table).unwrap());
            below = table;
        }
        let first = ENTRIES / 2 + 8;
        for i in first..first + 5 {
            t.pages.get_mut(&t.root).unwrap()[i] = below | TABLE | ((i as u64 & 1) * Flags::A);
        }
        // A normal mapping right after the shadow, with the same attributes
        // but a 2 MiB page: a separate range.
        let after = canonical(((first + 5) as u64) << top.shift(), top);
        t.map(
            after,
            Level::Pmd,
            0x20_0000,
            Flags::G | Flags::NX | Flags::A,
            TABLE,
        );
        let distinct = t.pages.len() - 1;
        let got = walk_all(&mut t);
        let start = canonical((first as u64) << top.shift(), top);
        assert_eq!(
            tuples(&got.ranges),
            vec![
                (start, after - 1, Level::Pte, Flags(ro).shown(Level::Pte).0),
                (
                    after,
                    after + (2 << 20) - 1,
                    Level::Pmd,
                    Flags(ro).shown(Level::Pmd).0
                ),
            ],
            "{top:?}"
        );
        assert_eq!(got.ranges[0].phys, zero_page);
        assert_eq!(t.reads, distinct, "each table read once ({top:?})");
        // 4 repeats at the top, 511 in each table down to the PMD one,
        // which has two runs of 256.
        let levels = top as u64 - 2;
        assert_eq!(got.shared, 4 + 511 * levels - 1, "{top:?}");
        assert_eq!(walk_split(&mut t, 3), got.ranges, "{top:?}");
    }
}

proptest! {
    /// Shared tables, uniform or not, placed anywhere: the walk (whole or
    /// split) shows exactly what following every entry shows.
    #[test]
    fn shared_tables_equal_following_every_entry(
        five in any::<bool>(),
        pte_kind in 0u8..4,
        holes in prop::collection::vec(0usize..ENTRIES, 0..4),
        accessed in prop::collection::vec(0usize..ENTRIES, 0..8),
        pmd_refs in 1usize..6,
        twin_refs in 0usize..3,
        pud_refs in 1usize..4,
        pmd_slot in 0usize..500,
        pud_slot in 0usize..500,
        neighbour in any::<bool>(),
        cpus in 1usize..4,
    ) {
        let top = if five { Level::Pgd } else { Level::P4d };
        let mut t = Tables::new(top);
        // The shared PTE table: one page repeated, consecutive pages, or
        // mixed attributes; holes make it non-uniform.
        let pte = t.alloc();
        for (i, e) in t.pages.get_mut(&pte).unwrap().iter_mut().enumerate() {
            let page = match pte_kind {
                0 => 0x7000,
                1 => 0x100_0000 + i as u64 * 0x1000,
                _ => 0x7000 + (i as u64 % 3) * 0x1000,
            };
            let rw = if pte_kind == 3 && i % 7 == 0 { Flags::RW } else { 0 };
            *e = page | Flags::P | Flags::G | Flags::NX | rw;
        }
        for &a in &accessed {
            t.pages.get_mut(&pte).unwrap()[a] |= Flags::A | ((a as u64 & 1) * Flags::D);
        }
        for &h in &holes {
            t.pages.get_mut(&pte).unwrap()[h] = 0;
        }
        let pmd = t.alloc();
        for i in pmd_slot..pmd_slot + pmd_refs {
            let a = if accessed.contains(&i) { Flags::A } else { 0 };
            t.pages.get_mut(&pmd).unwrap()[i] = pte | TABLE | a;
        }
        // A twin of the PTE table (same entries, another page) right after.
        let twin = t.alloc();
        let copy = *t.pages[&pte];
        **t.pages.get_mut(&twin).unwrap() = copy;
        for i in pmd_slot + pmd_refs..pmd_slot + pmd_refs + twin_refs {
            t.pages.get_mut(&pmd).unwrap()[i] = twin | TABLE;
        }
        // The PUD table holding the PMD table pud_refs times, under one
        // top-level entry (through a P4D table in 5-level paging).
        let base = canonical(((ENTRIES / 2 + 3) as u64) << top.shift(), top);
        let pud_va = base + pud_slot as u64 * Level::Pud.entry_size();
        t.map(pud_va, Level::Pte, 0x9000, Flags::NX, TABLE);
        let mut table = t.root;
        let mut level = top;
        while level > Level::Pud {
            let idx = ((pud_va >> level.shift()) & 511) as usize;
            table = t.pages[&table][idx] & PHYS_ADDR_MASK;
            level = level.below().unwrap();
        }
        for i in pud_slot..pud_slot + pud_refs {
            t.pages.get_mut(&table).unwrap()[i] = pmd | TABLE;
        }
        if neighbour {
            let after = pud_va + pud_refs as u64 * Level::Pud.entry_size();
            t.map(after, Level::Pmd, 0x20_0000, Flags::G | Flags::NX, TABLE);
        }
        let (want, leaves) = walk_naive(&t);
        prop_assert!(leaves > 0);
        let got = walk_all(&mut t);
        prop_assert_eq!(tuples(&got.ranges), want);
        prop_assert_eq!(walk_split(&mut t, cpus), got.ranges);
    }
}

fn doc4() -> Vec<DocRegion<'static>> {
    let mut out = vec![];
    parse_document(include_str!("../testdata/mm-7.3.rst"), |p, r| {
        if p == Paging::Four {
            out.push(r)
        }
    })
    .unwrap();
    out
}

fn live4() -> Live {
    Live {
        paging: Paging::Four,
        page_offset_base: 0xffff_a000_0000_0000,
        vmalloc_base: 0xffff_b000_0000_0000,
        vmemmap_base: 0xffff_e000_0000_0000,
        text_start: 0xffff_ffff_9000_0000,
        text_end: 0xffff_ffff_91ff_ffff,
        phys_base: 0,
        physical_start: 0x100_0000,
        physical_align: 0x20_0000,
        kernel_image_size: 1 << 30,
        ram_end: 2 << 30,
        cpu_entry_area0: 0xffff_fe00_0000_1000,
        fixaddr_start: 0xffff_ffff_ff57_c000,
        kasan: false,
        randomize_memory: true,
    }
}

fn range(start: u64, size: u64, flags: u64, eff: Effective, level: Level) -> Range {
    // Distinct physical addresses, so only planted aliases overlap.
    Range {
        start,
        last: start + (size - 1),
        phys: start & 0xff_ffff_f000,
        flags: Flags(flags),
        effective: eff,
        level,
    }
}

fn findings(ranges: &[Range]) -> Vec<Finding> {
    findings_in(TableKind::Kernel, ranges)
}

/// Run `f` with the 4-level documented map resolved against `live4()`.
fn with_map4<T>(f: impl FnOnce(&DocMap<'_>, &Live, &LiveMap<'_>) -> T) -> T {
    let regions = doc4();
    let doc = DocMap {
        name: "t",
        source: "t",
        paging: Paging::Four,
        regions: &regions,
    };
    let live = live4();
    let map = LiveMap::new(&doc, &live);
    f(&doc, &live, &map)
}

fn findings_in(table: TableKind, ranges: &[Range]) -> Vec<Finding> {
    with_map4(|_, _, map| findings_on(map, table, ranges))
}

fn findings_on(map: &LiveMap<'_>, table: TableKind, ranges: &[Range]) -> Vec<Finding> {
    let mut text = TextAliases::default();
    for r in ranges {
        text.note(map, r);
    }
    let mut out = vec![];
    for r in ranges {
        out.extend(check_range(map, &text, table, r));
    }
    out
}

/// The EFI window of the 4-level map (mm.rst: ffffffef00000000, 64 GB).
const EFI_WINDOW: u64 = 0xffff_ffef_0000_0000;

fn with_phys(mut r: Range, phys: u64) -> Range {
    r.phys = phys;
    r
}

#[test]
fn efi_rules() {
    const WX: Effective = Effective {
        rw: true,
        us: false,
        nx: false,
    };
    let efi = |memattr| TableKind::Efi { memattr };
    // The 1:1 map and the window: nothing to say about clean mappings.
    let one_to_one = with_phys(
        range(0x7fa5_b000, 0x1000, Flags::NX, KERNEL, Level::Pte),
        0x7fa5_b000,
    );
    let window = with_phys(
        range(EFI_WINDOW + 0x1000, 0x1000, Flags::NX, KERNEL, Level::Pte),
        0x7fa5_b000,
    );
    assert!(findings_in(efi(true), &[one_to_one, window]).is_empty());
    // Lower half, not 1:1: efi-outside.
    let moved = with_phys(one_to_one, 0x1234_5000);
    let f = findings_in(efi(true), &[moved]);
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].rule, f[0].severity),
        (Rule::EfiOutside, Severity::Error)
    );
    assert_eq!(f[0].owner, vmlayout_core::rules::Owner::Efi);
    // W+X in the window: an error with a memory-attributes table, info without.
    let wx = Range {
        effective: WX,
        ..window
    };
    let f = findings_in(efi(true), &[wx]);
    assert_eq!(
        (f[0].rule, f[0].severity),
        (Rule::EfiWriteExec, Severity::Error)
    );
    let f = findings_in(efi(false), &[wx]);
    assert_eq!(
        (f[0].rule, f[0].severity),
        (Rule::EfiWriteExec, Severity::Info)
    );
    // The EFI window mapped in the reference table: efi-window.
    let f = findings_in(TableKind::Kernel, &[window]);
    assert!(f
        .iter()
        .any(|f| (f.rule, f.severity) == (Rule::EfiWindow, Severity::Error)));
    // Boot-services memory the kernel keeps (page zero): info either way.
    for memattr in [false, true] {
        for boot_services in [3, 4] {
            assert_eq!(
                efi_wx_verdict(memattr, Some(boot_services)).0,
                Severity::Info
            );
        }
    }
    assert_eq!(efi_wx_verdict(true, Some(5)).0, Severity::Error);
    assert_eq!(efi_wx_verdict(true, None).0, Severity::Error);
}

/// Another table's rules through `check_other_table`: each finding owned
/// by the table's owner, and a direct-map page PTI maps for user mode no
/// leak where the kernel names it a CPU's TSS page, a leak otherwise.
#[test]
fn a_cpu_tss_page_in_the_user_table_is_no_leak() {
    let l = live4();
    let page = range(
        l.page_offset_base + 0x5000,
        0x1000,
        Flags::RW | Flags::NX,
        KERNEL,
        Level::Pte,
    );
    with_map4(|_, _, map| {
        let text = check::text_of(map, &[]);
        let leaks = |is_tss: &dyn Fn(u64) -> bool| {
            let mut found = vec![];
            let kind = (TableKind::User, Owner::UserTable);
            check::check_other_table((map, &text), kind, &[page], is_tss, &mut |f| {
                found.push((f.rule, f.owner));
                Ok(())
            })
            .unwrap();
            found
        };
        assert_eq!(leaks(&|va| va == page.start), vec![]);
        assert_eq!(leaks(&|_| false), vec![(Rule::PtiLeak, Owner::UserTable)]);
    });
}

#[test]
fn pti_user_table_rules() {
    let l = live4();
    let ro_x = Effective {
        rw: false,
        us: false,
        nx: false,
    };
    let leak = |r: Range| {
        findings_in(TableKind::User, &[r])
            .iter()
            .any(|f| (f.rule, f.severity) == (Rule::PtiLeak, Severity::Error))
    };
    // What PTI clones: cpu_entry_area, read-only kernel image (entry text).
    assert!(!leak(range(
        l.cpu_entry_area0,
        0x1000,
        Flags::RW | Flags::NX,
        KERNEL,
        Level::Pte
    )));
    assert!(!leak(range(l.text_start, 0x20_0000, 0, ro_x, Level::Pmd)));
    // Anything else: the direct map, writable kernel data, a hole.
    assert!(leak(range(
        l.page_offset_base,
        0x1000,
        Flags::RW | Flags::NX,
        KERNEL,
        Level::Pte
    )));
    assert!(leak(range(
        l.text_start + 0x100_0000,
        0x1000,
        Flags::RW | Flags::NX,
        KERNEL,
        Level::Pte
    )));
    assert!(leak(range(
        0xffff_8000_0000_0000,
        0x1000,
        Flags::NX,
        KERNEL,
        Level::Pte
    )));
    // The reference table has no such rule.
    assert!(!findings(&[range(
        l.page_offset_base,
        0x1000,
        Flags::RW | Flags::NX,
        KERNEL,
        Level::Pte
    )])
    .iter()
    .any(|f| f.rule == Rule::PtiLeak));
}

const KERNEL: Effective = Effective {
    rw: true,
    us: false,
    nx: true,
};

#[test]
fn clean_ranges_have_no_findings() {
    let l = live4();
    let f = findings(&[
        range(
            l.page_offset_base,
            1 << 30,
            Flags::RW | Flags::G | Flags::NX,
            KERNEL,
            Level::Pmd,
        ),
        range(
            l.vmalloc_base,
            4096,
            Flags::RW | Flags::G | Flags::NX,
            KERNEL,
            Level::Pte,
        ),
        range(
            l.text_start,
            2 << 20,
            Flags::G,
            Effective {
                rw: false,
                us: false,
                nx: false,
            },
            Level::Pmd,
        ),
        range(
            0xffff_ffff_ff60_0000,
            4096,
            Flags::US,
            Effective {
                rw: false,
                us: true,
                nx: false,
            },
            Level::Pte,
        ),
    ]);
    assert_eq!(f, vec![]);
}

#[test]
fn a_range_that_ends_at_the_top_of_the_address_space_is_checked() {
    // The top 2 MiB lie past the last documented row. The rules once
    // computed the next part's start, one past the end, before asking
    // whether there was one: an overflow (a panic with overflow checks,
    // which the kernel's Rust builds have).
    let ro = Effective {
        rw: false,
        us: false,
        nx: true,
    };
    let top = range(0xffff_ffff_ffe0_0000, 2 << 20, Flags::NX, ro, Level::Pmd);
    assert_eq!(top.last, u64::MAX);
    let found = findings(&[top]);
    assert!(!found.is_empty());
    assert!(found.iter().all(|f| f.range.start >= top.start));
}

#[test]
fn each_violation_gets_its_rule_and_region() {
    let l = live4();
    let rule_of = |r: Range| {
        findings(&[r])
            .into_iter()
            .map(|f| (f.rule, f.severity))
            .collect::<Vec<_>>()
    };
    let wx = Effective {
        rw: true,
        us: false,
        nx: false,
    };
    assert_eq!(
        rule_of(range(l.vmalloc_base, 4096, Flags::RW, wx, Level::Pte)),
        vec![
            (Rule::WriteExec, Severity::Error),
            (Rule::ExecData, Severity::Error)
        ]
    );
    let user = Effective {
        rw: false,
        us: true,
        nx: true,
    };
    assert_eq!(
        rule_of(range(l.vmalloc_base, 4096, Flags::US, user, Level::Pte)),
        vec![(Rule::UserKernel, Severity::Error)]
    );
    let latent = Effective {
        rw: false,
        us: false,
        nx: true,
    };
    assert_eq!(
        rule_of(range(l.vmalloc_base, 4096, Flags::US, latent, Level::Pte)),
        vec![(Rule::UserKernel, Severity::Warn)]
    );
    // The 2 TB unused hole below cpu_entry_area.
    let f = findings(&[range(
        0xffff_fc00_0000_0000,
        4096,
        Flags::NX,
        KERNEL,
        Level::Pte,
    )]);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].rule, Rule::HoleMapping);
    assert_eq!(doc4()[f[0].row.unwrap()].id, RegionId::Hole);
    // Between the vsyscall page and the top hole: no documented row.
    assert_eq!(
        rule_of(range(
            0xffff_ffff_ffa0_0000,
            4096,
            Flags::NX,
            KERNEL,
            Level::Pte
        )),
        vec![(Rule::Undocumented, Severity::Error)]
    );
    // Past vmalloc's 32 TB.
    assert_eq!(
        rule_of(range(
            l.vmalloc_base + (32 << 40),
            4096,
            Flags::NX,
            KERNEL,
            Level::Pte
        )),
        vec![(Rule::RegionOverflow, Severity::Error)]
    );
    // A writable direct-map alias of kernel text.
    let text = range(
        l.text_start,
        2 << 20,
        0,
        Effective {
            rw: false,
            us: false,
            nx: false,
        },
        Level::Pmd,
    );
    let alias = Range {
        phys: text.phys,
        ..range(
            l.page_offset_base + text.phys,
            2 << 20,
            Flags::RW | Flags::NX,
            KERNEL,
            Level::Pmd,
        )
    };
    let f = findings(&[alias, text]);
    assert_eq!(
        f.iter().map(|f| f.rule).collect::<Vec<_>>(),
        vec![Rule::WritableText]
    );
}

/// A finding's range is the part that breaks its rule: a gigabyte of
/// writable direct map around the text's alias is a finding of the alias
/// only (booted with `rodata=off`, the test kernel had writable-text
/// errors of 686 MiB and 1.3 GiB).
#[test]
fn a_writable_text_finding_is_the_alias_not_the_range_around_it() {
    let l = live4();
    let exec = Effective {
        rw: false,
        us: false,
        nx: false,
    };
    let text = range(l.text_start, 4 << 20, 0, exec, Level::Pmd);
    let around = 1 << 30;
    let below = 6 << 20;
    let direct = Range {
        phys: text.phys - below,
        ..range(
            l.page_offset_base + text.phys - below,
            around,
            Flags::RW | Flags::NX,
            KERNEL,
            Level::Pud,
        )
    };
    let f = findings(&[direct, text]);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].rule, Rule::WritableText);
    assert_eq!(f[0].range.start, l.page_offset_base + text.phys);
    assert_eq!(f[0].range.size(), 4 << 20);
    assert_eq!(f[0].range.phys, text.phys);
}

#[test]
fn a_range_across_regions_is_split() {
    let l = live4();
    // From the end of vmalloc's 32 TB into what follows: only the part past
    // the end is a finding.
    let vmalloc_last = l.vmalloc_base + (32 << 40) - 1;
    let f = findings(&[range(
        vmalloc_last - 4095,
        8192,
        Flags::NX,
        KERNEL,
        Level::Pte,
    )]);
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].rule, f[0].range.start, f[0].range.last),
        (Rule::RegionOverflow, vmalloc_last + 1, vmalloc_last + 4096)
    );
    let r = range(0xffff_fdff_ffff_f000, 8192, Flags::NX, KERNEL, Level::Pte);
    let f = findings(&[r]);
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].range.start, f[0].range.last),
        (0xffff_fdff_ffff_f000, 0xffff_fdff_ffff_ffff)
    );
}

proptest! {
    #[test]
    fn ram_check_reports_exactly_the_gaps(
        mapped in prop::collection::btree_set(0u64..256, 0..100),
        ram in (0u64..256, 0u64..256),
    ) {
        let (a, b) = (ram.0.min(ram.1), ram.0.max(ram.1));
        let page = 4096;
        let mut direct: Vec<(u64, u64)> = vec![];
        for &p in &mapped {
            match direct.last_mut() {
                Some(r) if r.1 + 1 == p * page => r.1 = (p + 1) * page - 1,
                _ => direct.push((p * page, (p + 1) * page - 1)),
            }
        }
        let mut missing = vec![];
        check_ram(direct.iter().copied(), a * page, (b + 1) * page - 1, |x, y| missing.push((x, y)));
        for p in a..=b {
            let in_missing = missing.iter().any(|&(x, y)| x <= p * page && p * page <= y);
            prop_assert_eq!(in_missing, !mapped.contains(&p));
        }
        for w in missing.windows(2) {
            prop_assert!(w[0].1 + 1 < w[1].0, "missing ranges are maximal");
        }
    }
}

proptest! {
    /// `place` remembers its last answer: any order of lookups gets what a
    /// fresh map answers, and the answer holds up to the address it gives.
    #[test]
    fn place_answers_do_not_depend_on_the_order_of_lookups(
        addrs in prop::collection::vec(0xffff_8000_0000_0000u64..=u64::MAX, 1..64),
        sorted in any::<bool>(),
    ) {
        let regions = doc4();
        let doc = DocMap { name: "t", source: "t", paging: Paging::Four, regions: &regions };
        let live = live4();
        let mut addrs = addrs;
        if sorted {
            addrs.sort_unstable();
        }
        let reused = LiveMap::new(&doc, &live);
        for &a in &addrs {
            let fresh = LiveMap::new(&doc, &live).place(a);
            prop_assert_eq!(reused.place(a), fresh);
            prop_assert_eq!(LiveMap::new(&doc, &live).place(fresh.1).0, fresh.0);
        }
    }
}

proptest! {
    /// The fast path agrees with the full check: `nothing_fires` answers
    /// (with the range's place) exactly when the range lies in one place
    /// and `check_range` finds nothing on it, in every kind of table.
    #[test]
    fn nothing_fires_exactly_when_check_range_finds_nothing(
        ranges in prop::collection::vec(
            (
                prop_oneof![
                    Just(0u64),
                    Just(1u64),
                    Just(2u64),
                    Just(3u64),
                    Just(4u64),
                    0xffff_8000_0000_0000u64..=u64::MAX,
                    0u64..0x0000_8000_0000_0000,
                ],
                0u64..64,
                1u64..4,
                any::<(bool, bool, bool, bool, bool)>(),
                0usize..4,
            ),
            1..48,
        ),
    ) {
        with_map4(|_, live, map| {
            let mut text = TextAliases::default();
            text.note(map, &range(live.text_start, 2 << 20, Flags::G, Effective { rw: false, us: false, nx: false }, Level::Pmd));
            let bases = [live.page_offset_base, live.vmalloc_base, live.text_start, 0xffff_ffff_ff60_0000, live.vmemmap_base];
            for (base, page, pages, (rw, us, nx, leaf_us, efi_memattr), table) in ranges {
                let start = match base {
                    0..=4 => bases[base as usize] + page * 4096,
                    addr => addr & !0xfff,
                };
                let size = (pages * 4096).min(u64::MAX - start + 1);
                let flags = if rw { Flags::RW } else { 0 }
                    | if leaf_us { Flags::US } else { 0 }
                    | if nx { Flags::NX } else { 0 };
                let mut r = range(start, size, flags, Effective { rw, us: us && leaf_us, nx }, Level::Pte);
                if base == 0 && page % 3 == 0 {
                    // A direct-map alias of the text's physical pages.
                    r.phys = range(live.text_start, 4096, 0, KERNEL, Level::Pte).phys;
                }
                let table = [
                    TableKind::Kernel,
                    TableKind::Efi { memattr: efi_memattr },
                    TableKind::User,
                    TableKind::Ldt,
                ][table];
                let (place, last) = map.place(r.start);
                let none = check_range(map, &text, table, &r).next().is_none();
                prop_assert_eq!(
                    nothing_fires(map, &text, table, &r),
                    (none && last >= r.last).then_some(place),
                    "{:x?} in {:?}", r, table
                );
            }
            Ok(())
        })?;
    }
}

#[test]
fn nothing_fires_on_clean_ranges_only() {
    with_map4(|_, live, map| {
        let text = TextAliases::default();
        let clean = range(
            live.vmalloc_base,
            4096,
            Flags::RW | Flags::G | Flags::NX,
            KERNEL,
            Level::Pte,
        );
        let wx = Range {
            flags: Flags(Flags::RW),
            effective: Effective {
                rw: true,
                us: false,
                nx: false,
            },
            ..clean
        };
        let place = map.place(clean.start).0;
        assert_eq!(
            nothing_fires(map, &text, TableKind::Kernel, &clean),
            Some(place)
        );
        assert_eq!(nothing_fires(map, &text, TableKind::Kernel, &wx), None);
    });
}

mod sync_paths {
    use super::*;
    use vmlayout_core::sync::{compare_paths, SyncClass};

    fn read(t: &Tables) -> impl FnMut(u64, usize) -> Option<u64> + '_ {
        move |table, index| t.pages.get(&table).map(|p| p[index])
    }

    /// Copy the path to `va` below the top of `t`'s root into a new root,
    /// with the leaf for `va` cleared: an unsynced table.
    fn unsynced_copy(t: &mut Tables, va: u64) -> u64 {
        let root = t.alloc();
        let top: Table = *t.pages[&t.root];
        **t.pages.get_mut(&root).unwrap() = top;
        let (mut table, mut level) = (root, t.top);
        loop {
            let idx = ((va >> level.shift()) & 511) as usize;
            let entry = t.pages[&table][idx];
            if level == Level::Pte {
                t.pages.get_mut(&table).unwrap()[idx] = 0;
                return root;
            }
            let copy = t.alloc();
            let child: Table = *t.pages[&(entry & PHYS_ADDR_MASK)];
            **t.pages.get_mut(&copy).unwrap() = child;
            t.pages.get_mut(&table).unwrap()[idx] = copy | (entry & !PHYS_ADDR_MASK);
            table = copy;
            level = level.below().unwrap();
        }
    }

    #[test]
    fn classes() {
        for top in [Level::P4d, Level::Pgd] {
            let mut t = Tables::new(top);
            let va = canonical(0xffff_c900_0000_5000, top);
            t.map(va, Level::Pte, 0x7000, Flags::RW | Flags::NX, TABLE);
            let reference = t.root;

            let d = compare_paths(top, PHYS_ADDR_MASK, va, reference, reference, read(&t));
            assert_eq!((d.class, d.level), (SyncClass::Spurious, None));

            let unmapped = va + 0x1000;
            let d = compare_paths(
                top,
                PHYS_ADDR_MASK,
                unmapped,
                reference,
                reference,
                read(&t),
            );
            assert_eq!(
                (d.class, d.level, d.reference),
                (SyncClass::Unmapped, None, 0)
            );

            let current = unsynced_copy(&mut t, va);
            let d = compare_paths(top, PHYS_ADDR_MASK, va, reference, current, read(&t));
            assert_eq!((d.class, d.level), (SyncClass::Unsynced, Some(top)));
            assert_ne!(d.reference, d.current);

            // A top-level entry missing altogether diverges at the top too.
            let empty = t.alloc();
            let d = compare_paths(top, PHYS_ADDR_MASK, va, reference, empty, read(&t));
            assert_eq!(
                (d.class, d.level, d.current),
                (SyncClass::Unsynced, Some(top), 0)
            );
        }
    }
}

#[test]
fn unsynced_finding_names_the_slot_and_its_table() {
    with_map4(unsynced_and_ram);
}

fn unsynced_and_ram(doc: &DocMap<'_>, live: &Live, map: &LiveMap<'_>) {
    let walk = Walk {
        top: Level::P4d,
        phys_mask: PHYS_ADDR_MASK,
    };
    let owner = vmlayout_core::rules::Owner::Cpu(1);
    // Slot 0 of the kernel half: the hypervisor guard hole, 512 GiB.
    let f = Finding::unsynced(&walk, map, 0, 0x1234_5067, owner);
    assert_eq!(
        (f.rule, f.severity, f.owner),
        (Rule::UnsyncedPgd, Severity::Error, owner)
    );
    assert_eq!(f.range.start, 0xffff_8000_0000_0000);
    assert_eq!(f.range.size(), 1 << 39);
    assert_eq!(f.range.phys, 0x1234_5000);
    assert_eq!(f.range.level, Level::P4d);
    let row = f.row.expect("the guard hole is documented");
    assert_eq!(doc.regions[row].id.name(), "hypervisor-guard");
    // A stretch of System RAM the direct map lacks.
    let ram = Finding::about_addresses(
        Rule::RamMissing,
        Severity::Error,
        map,
        live.page_offset_base,
        live.page_offset_base + 0xfff,
        0,
        Rule::RamMissing.reason(),
    );
    assert_eq!(doc.regions[ram.row.unwrap()].id, RegionId::DirectMap);
    assert_eq!(ram.range.size(), 4096);
}

// ---- The batch sink: a worker's output a batch at a time ------------------

/// A host list for the batch sink, with room for `cap` ranges (`None`: no
/// limit), so that running out of memory can be tested.
#[derive(Default)]
struct HostList {
    ranges: Vec<Range>,
    cap: Option<usize>,
}

impl RangeList for HostList {
    fn len(&self) -> usize {
        self.ranges.len()
    }
    fn last(&self) -> Option<&Range> {
        self.ranges.last()
    }
    fn as_slice(&self) -> &[Range] {
        &self.ranges
    }
    fn as_mut_slice(&mut self) -> &mut [Range] {
        &mut self.ranges
    }
    fn last_mut(&mut self) -> Option<&mut Range> {
        self.ranges.last_mut()
    }
    fn truncate(&mut self, len: usize) {
        self.ranges.truncate(len)
    }
    fn push(&mut self, range: Range) -> Result<(), NoRoom> {
        if self.cap.is_some_and(|cap| self.ranges.len() >= cap) {
            return Err(NoRoom);
        }
        self.ranges.push(range);
        Ok(())
    }
}

/// One worker's lists and counts.
#[derive(Default)]
struct Worker {
    ranges: HostList,
    cleared: HostList,
    counts: WalkCounts,
}

impl Worker {
    fn sink(&mut self) -> BatchSink<'_, HostList> {
        BatchSink::new(
            &mut self.ranges,
            &mut self.cleared,
            &mut self.counts,
            PHYS_ADDR_MASK,
        )
    }
}

/// `fixture`'s items in batches of `sizes[k]` items, batch `k` walked by
/// worker `owners[k]` of 8 through its batch sink (one sink per worker for
/// the whole walk, as in the module): each batch's span is final when the
/// batch ends (the module's join copies it out then, while the workers go
/// on), the spans joined in batch order are the single walk, and the
/// workers' counts add up to one worker's.
fn batches_join_as_the_single_walk(
    (mut t, walk, items, want): (Tables, Walk, Vec<walk::WorkItem>, Vec<Range>),
    owners: &[usize],
    sizes: &[usize],
) -> Result<(), TestCaseError> {
    let mut scratch: Box<Scratch> = Box::new([[0; ENTRIES]; 4]);
    let mut workers: Vec<Worker> = (0..8).map(|_| Worker::default()).collect();
    let mut spans = vec![];
    let mut closed: Vec<Vec<Range>> = vec![];
    {
        let mut sinks: Vec<_> = workers.iter_mut().map(Worker::sink).collect();
        let (mut next, mut k) = (0, 0);
        while next < items.len() {
            let (owner, size) = (owners[k % owners.len()], sizes[k % sizes.len()]);
            let sink = &mut sinks[owner];
            let (first, _) = sink.start_batch();
            for item in &items[next..(next + size).min(items.len())] {
                sink.walk_item(&walk, item, &mut t, &mut scratch);
            }
            let (end, _) = sink.ends();
            closed.push(sink.ranges().ranges[first..end].to_vec());
            spans.push(walk::ItemSpan {
                list: owner as u32,
                first: first as u32,
                end: end as u32,
            });
            next += size;
            k += 1;
        }
        prop_assert!(sinks.iter().all(|s| !s.no_room()));
    }
    for (span, closed) in spans.iter().zip(&closed) {
        let list = &workers[span.list as usize].ranges.ranges;
        prop_assert_eq!(&list[span.first as usize..span.end as usize], &closed[..]);
    }
    let mut got = vec![];
    walk::joined_from(&spans, |i| &workers[i].ranges.ranges, 0, |r| got.push(*r)).unwrap();
    prop_assert_eq!(&got, &want);
    let mut total = WalkCounts::default();
    workers.iter().for_each(|w| total.add(&w.counts));
    let mut one = Worker::default();
    let mut sink = one.sink();
    sink.start_batch();
    for item in &items {
        sink.walk_item(&walk, item, &mut t, &mut scratch);
    }
    prop_assert_eq!(total, *sink.counts());
    prop_assert_eq!(total.items, items.len() as u64);
    Ok(())
}

proptest! {
    /// Batches of any size, each taken by any of 8 workers: the join of
    /// their spans is the single walk, and the counts merge to a serial
    /// pass's.
    #[test]
    fn batch_sinks_join_to_the_single_walk(
        leaves in leaves(Level::P4d),
        owners in prop::collection::vec(0usize..8, 1..50),
        sizes in prop::collection::vec(1usize..20, 1..10),
    ) {
        batches_join_as_the_single_walk(split_fixture(&leaves), &owners, &sizes)?;
    }

    /// The same where an item's first range continues the item before's
    /// last: coalesced within a batch, never across one.
    #[test]
    fn batch_sinks_join_across_items(
        leaves in runs_across_tables(Level::P4d),
        owners in prop::collection::vec(0usize..8, 1..50),
        sizes in prop::collection::vec(1usize..20, 1..10),
    ) {
        batches_join_as_the_single_walk(
            fixture_mapping(&leaves, |_, va| va & ((1 << 45) - 1)),
            &owners,
            &sizes,
        )?;
    }
}

/// A copy of `t` for another thread: each worker has its own table
/// source, as each CPU has its own reader in the module.
fn copy_of(t: &Tables) -> Tables {
    Tables {
        pages: t.pages.clone(),
        next: t.next,
        root: t.root,
        top: t.top,
        reads: 0,
        poisoned: t.poisoned.clone(),
        changes: t.changes.clone(),
    }
}

/// `fixture`'s items in a [`BatchQueue`] of `batch` items, walked by
/// `workers` real threads through `BatchSink::walk_batches`, the module's
/// worker loop: every batch has its spans, the spans join to the single
/// walk, and the counts add up to a serial pass's.
fn threads_join_as_the_single_walk(
    (t, walk, mut items, want): (Tables, Walk, Vec<walk::WorkItem>, Vec<Range>),
    workers: usize,
    batch: usize,
) -> Result<(), TestCaseError> {
    let n = items.len();
    let queue = BatchQueue::full(&mut items, batch);
    let batches = queue.batches(n);
    let none = walk::ItemSpan {
        list: u32::MAX,
        first: 0,
        end: 0,
    };
    let (mut spans, mut cleared) = (vec![none; batches], vec![none; batches]);
    let done: Vec<Worker> = {
        let per_batch = [
            PerPart::of_batches(&queue, &mut spans),
            PerPart::of_batches(&queue, &mut cleared),
        ];
        std::thread::scope(|s| {
            let threads: Vec<_> = (0..workers)
                .map(|list| {
                    let (queue, per_batch, walk, mut src) =
                        (&queue, &per_batch, &walk, copy_of(&t));
                    s.spawn(move || {
                        let mut w = Worker::default();
                        let mut scratch: Box<Scratch> = Box::new([[0; ENTRIES]; 4]);
                        let kept = w.sink().walk_batches(
                            walk,
                            queue,
                            [&per_batch[0], &per_batch[1]],
                            list as u32,
                            (&mut src, &mut scratch),
                            std::thread::yield_now,
                        );
                        assert!(kept, "every batch has its span slots");
                        w
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|h| h.join().expect("worker"))
                .collect()
        })
    };
    prop_assert!(
        spans.iter().all(|s| s.list != u32::MAX),
        "a batch was never walked"
    );
    let mut got = vec![];
    walk::joined_from(&spans, |i| &done[i].ranges.ranges, 0, |r| got.push(*r)).unwrap();
    prop_assert_eq!(&got, &want);
    let mut total = WalkCounts::default();
    done.iter().for_each(|w| total.add(&w.counts));
    prop_assert_eq!(total.items, n as u64);
    Ok(())
}

proptest! {
    /// The module's worker loop on 1 to 4 threads, batches of 1 to 8
    /// items: the spans join to the single walk.
    #[test]
    fn walk_batches_on_threads_join_to_the_single_walk(
        leaves in runs_across_tables(Level::P4d),
        workers in 1usize..5,
        batch in 1usize..9,
    ) {
        threads_join_as_the_single_walk(
            fixture_mapping(&leaves, |_, va| va & ((1 << 45) - 1)),
            workers,
            batch,
        )?;
    }
}

/// A host findings list.
#[derive(Default)]
struct HostFindings(Vec<Finding>);

impl check::FindingList for HostFindings {
    fn push(&mut self, finding: Finding) -> Result<(), NoRoom> {
        self.0.push(finding);
        Ok(())
    }
    fn as_mut_slice(&mut self) -> &mut [Finding] {
        &mut self.0
    }
}

/// What a full walk of `t` finds now: (ranges, cleared stretches).
fn full_walk(t: &mut Tables, walk: &Walk) -> (Vec<Range>, Vec<Range>) {
    let root: Table = *t.pages[&t.root];
    let mut scratch: Box<Scratch> = Box::new([[0; ENTRIES]; 4]);
    let mut w = Worker::default();
    let mut sink = w.sink();
    walk.walk_top(Top::kernel_half(t.root, &root), t, &mut scratch, &mut sink);
    (w.ranges.ranges, w.cleared.ranges)
}

/// A window re-check's walk in the tests: the ranges and cleared
/// stretches after it, where it spliced, and the old ranges it replaced.
struct Rechecked {
    now: (Vec<Range>, Vec<Range>),
    spliced: Spliced,
    old: Vec<Range>,
}

impl Rechecked {
    /// The ranges the splice made.
    fn made(&self) -> &[Range] {
        let r = self.spliced.ranges;
        &self.now.0[r.at..r.at + r.len]
    }
}

/// Re-check `window` of `t`: split the window, walk its items, splice
/// them in place into a copy of `last` (ranges, cleared stretches); and
/// check that undoing the splice gives `last` back.
fn recheck_window(
    t: &mut Tables,
    walk: &Walk,
    window: (u64, u64),
    last: &(Vec<Range>, Vec<Range>),
) -> Rechecked {
    let root: Table = *t.pages[&t.root];
    let reference = t.root;
    let mut scratch: Box<Scratch> = Box::new([[0; ENTRIES]; 4]);
    let mut items = vec![];
    let top = Top::kernel_half(t.root, &root);
    walk.split_window(top, window, t, &mut scratch, &mut |i| items.push(i));
    let list = |ranges: &Vec<Range>| HostList {
        ranges: ranges.clone(),
        cap: None,
    };
    let mut fresh = (
        HostList::default(),
        HostList::default(),
        WalkCounts::default(),
    );
    let mut now = (list(&last.0), list(&last.1));
    let (mut old, mut made) = (
        (HostList::default(), HostList::default()),
        HostList::default(),
    );
    let spliced = rewalk_splice(
        (walk, reference),
        (window, &items),
        (t, &mut scratch),
        (&mut fresh.0, &mut fresh.1, &mut fresh.2),
        (&mut now.0, &mut now.1),
        ((&mut old.0, &mut old.1), &mut made),
    )
    .unwrap();
    let mut undone = (list(&now.0.ranges), list(&now.1.ranges));
    undo(&mut undone.0, spliced.ranges, &old.0.ranges).unwrap();
    undo(&mut undone.1, spliced.cleared, &old.1.ranges).unwrap();
    assert_eq!((&undone.0.ranges, &undone.1.ranges), (&last.0, &last.1));
    Rechecked {
        now: (now.0.ranges, now.1.ranges),
        spliced,
        old: old.0.ranges,
    }
}

/// The per-range rules on all of `ranges`: (findings, bytes mapped per row).
fn all_rules(map: &LiveMap<'_>, ranges: &[Range]) -> (Vec<Finding>, Vec<[u64; 3]>) {
    let text = check::text_of(map, ranges);
    let (mut found, mut tally) = (vec![], Tally::default());
    let mut mapped = vec![[0; 3]; map.doc().regions.len()];
    check::check_ranges(
        map,
        &text,
        TableKind::Kernel,
        ranges,
        &mut mapped,
        &mut tally,
        &mut |f| {
            found.push(f);
            Ok(())
        },
    )
    .unwrap();
    (found, mapped)
}

/// A coalesced range whose pages are not contiguous (three 2 MiB leaves
/// alike, the last two mapping memory far from the first) cut by a window
/// re-check of its first leaf: what is left starts at the second leaf's
/// own physical address, as a full walk has it, not at the first's plus
/// 2 MiB.
#[test]
fn a_range_cut_by_a_window_starts_at_its_own_frame() {
    let mut t = Tables::new(Level::P4d);
    let walk = walk_for(Level::P4d);
    let va = canonical(1 << 47, Level::P4d);
    let (near, far) = (0x4000_0000, 0x80_0000_0000);
    t.map(va, Level::Pmd, near, Flags::G | Flags::NX, TABLE);
    t.map(va + (2 << 20), Level::Pmd, far, Flags::G | Flags::NX, TABLE);
    t.map(
        va + (4 << 20),
        Level::Pmd,
        far + (2 << 20),
        Flags::G | Flags::NX,
        TABLE,
    );
    let last = full_walk(&mut t, &walk);
    assert_eq!(last.0.len(), 1);
    set_page(&mut t, va, Level::Pmd, 2);
    let got = recheck_window(&mut t, &walk, (va, va + (2 << 20) - 1), &last).now;
    assert_eq!(got, full_walk(&mut t, &walk));
    assert_eq!(got.0[0].phys, far);
}

/// The code-alias tests' module code page: its address, its physical
/// address, and the 2 MiB block of the direct map that holds its alias.
fn module_code() -> (u64, u64, u64) {
    let phys = 0x4_0123_4000u64;
    (0xffff_ffff_a020_0000, phys, phys & !((2 << 20) - 1))
}

/// `check::code_aliases` on the 4-level map for `ranges` of the tables
/// `t` at `root`: the findings it made.
fn code_aliases_of(walk: &Walk, root: u64, ranges: &[Range], t: &mut Tables) -> Vec<Finding> {
    code_aliases_with(walk, root, ranges, t, &|_| false)
}

/// [`code_aliases_of`], with `unused` saying which code holds only traps.
fn code_aliases_with(
    walk: &Walk,
    root: u64,
    ranges: &[Range],
    t: &mut Tables,
    unused: &dyn Fn((u64, u64)) -> bool,
) -> Vec<Finding> {
    let mut found = vec![];
    with_map4(|_, live, map| {
        let scope = (walk, root, live.page_offset_base);
        check::code_aliases(scope, (map, &unused), ranges, t, &mut |f| {
            found.push(f);
            Ok(())
        })
    })
    .unwrap();
    found
}

/// The modules area's code has no writable alias: two pages of module
/// code whose direct-map alias lies in a writable 2 MiB leaf are one error
/// about those two pages of the alias; a read-only alias is none, and so
/// is writable memory elsewhere in the direct map.
#[test]
fn a_writable_alias_of_module_code_is_an_error() {
    let (walk, (code, phys, block)) = (walk_for(Level::P4d), module_code());
    for writable in [true, false] {
        let mut t = Tables::new(Level::P4d);
        t.map(code, Level::Pte, phys, Flags::G, TABLE);
        t.map(code + 0x1000, Level::Pte, phys + 0x1000, Flags::G, TABLE);
        let pob = live4().page_offset_base;
        let rw = if writable { Flags::RW } else { 0 };
        t.map(
            pob + block,
            Level::Pmd,
            block,
            rw | Flags::G | Flags::NX,
            TABLE,
        );
        t.map(
            pob + block + (2 << 20),
            Level::Pmd,
            block + (2 << 20),
            Flags::RW | Flags::NX,
            TABLE,
        );
        let (ranges, _) = full_walk(&mut t, &walk);
        let root = t.root;
        let found = code_aliases_of(&walk, root, &ranges, &mut t);
        if !writable {
            assert!(found.is_empty(), "{found:?}");
            continue;
        }
        assert_eq!(found.len(), 1, "{found:?}");
        let f = &found[0];
        assert_eq!((f.rule, f.severity), (Rule::WritableText, Severity::Error));
        assert_eq!(
            (f.range.start, f.range.size(), f.range.phys),
            (pob + phys, 0x2000, phys)
        );
    }
}

/// A pair the walk saw (module code, a writable alias) is looked up again
/// before it is an error: none if, by then, the code is no longer
/// executable (a load made it writable), no longer mapped (execmem's
/// cache cleared the area after making its alias valid), or the alias no
/// longer writable.
#[test]
fn a_code_alias_that_changed_since_the_walk_is_none() {
    let (walk, (code, phys, block)) = (walk_for(Level::P4d), module_code());
    let pob = live4().page_offset_base;
    let found_after = |change: &dyn Fn(&mut Tables)| {
        let mut t = Tables::new(Level::P4d);
        t.map(code, Level::Pte, phys, Flags::G, TABLE);
        let alias = |t: &mut Tables, rw| {
            t.map(
                pob + block,
                Level::Pmd,
                block,
                rw | Flags::G | Flags::NX,
                TABLE,
            );
        };
        alias(&mut t, Flags::RW);
        let (ranges, _) = full_walk(&mut t, &walk);
        change(&mut t);
        let root = t.root;
        code_aliases_of(&walk, root, &ranges, &mut t).len()
    };
    assert_eq!(found_after(&|_| {}), 1);
    let nx = |t: &mut Tables| {
        t.map(
            code,
            Level::Pte,
            phys,
            Flags::RW | Flags::G | Flags::NX,
            TABLE,
        )
    };
    assert_eq!(found_after(&nx), 0);
    assert_eq!(found_after(&|t| set_page(t, code, Level::Pte, 2)), 0);
    let ro = |t: &mut Tables| t.map(pob + block, Level::Pmd, block, Flags::G | Flags::NX, TABLE);
    assert_eq!(found_after(&ro), 0);
}

/// Tables with module code (`module_code`) whose 2 MiB block of the direct
/// map is writable; their ranges, and the one code alias found in them.
fn code_with_writable_alias(walk: &Walk) -> (Tables, Vec<Range>, Vec<Finding>) {
    let (code, phys, block) = module_code();
    let pob = live4().page_offset_base;
    let mut t = Tables::new(Level::P4d);
    t.map(code, Level::Pte, phys, Flags::G, TABLE);
    let alias_flags = Flags::RW | Flags::G | Flags::NX;
    t.map(pob + block, Level::Pmd, block, alias_flags, TABLE);
    let (ranges, _) = full_walk(&mut t, walk);
    let root = t.root;
    let found = code_aliases_of(walk, root, &ranges, &mut t);
    assert_eq!(found.len(), 1, "{found:?}");
    (t, ranges, found)
}

/// A code alias checked again after the scan (`check::recheck`) holds
/// while its code does: execmem's cache makes an area's alias writable,
/// then unmaps the area, and the alias stays writable. Unmapped before
/// the recheck, the finding settles to info; still mapped, it stays.
#[test]
fn a_code_alias_settles_when_its_code_goes_before_the_recheck() {
    let (walk, (code, _, _)) = (walk_for(Level::P4d), module_code());
    for unmap in [false, true] {
        let (mut t, ranges, mut found) = code_with_writable_alias(&walk);
        let root = t.root;
        if unmap {
            set_page(&mut t, code, Level::Pte, 2);
        }
        let got = check::recheck((&walk, root), &mut found, &ranges, &mut t);
        assert_eq!(got, (1, u64::from(unmap)));
        assert_eq!(found[0].severity == Severity::Error, !unmap);
    }
}

/// A writable alias of code that still holds is looked at again, `wait`
/// apart (`check::recheck_settled`): one whose alias is made read-only in
/// a wait (the kernel's CPA, which changes the page before its alias)
/// settles to info; one that holds through every look stays an error,
/// after `CODE_ALIAS_LOOKS` waits.
#[test]
fn a_code_alias_is_looked_at_again_until_it_settles_or_the_looks_end() {
    let (walk, (_, _, block)) = (walk_for(Level::P4d), module_code());
    let pob = live4().page_offset_base;
    for fixed_after in [Some(1u32), Some(check::CODE_ALIAS_LOOKS), None] {
        let (mut t, ranges, mut found) = code_with_writable_alias(&walk);
        let root = t.root;
        let mut waits = 0;
        let mut wait = |t: &mut Tables| {
            waits += 1;
            if Some(waits) == fixed_after {
                t.map(pob + block, Level::Pmd, block, Flags::G | Flags::NX, TABLE);
            }
        };
        let got = check::recheck_settled((&walk, root), &mut found, &ranges, &mut t, &mut wait);
        assert_eq!(got, (1, u64::from(fixed_after.is_some())));
        assert_eq!(waits, fixed_after.unwrap_or(check::CODE_ALIAS_LOOKS));
        assert_eq!(found[0].severity == Severity::Error, fixed_after.is_none());
    }
}

/// A window re-check keeps the other phases' findings only inside the
/// vmalloc region: a window there is one, in the modules area or across
/// the region's end not.
#[test]
fn windows_of_vmalloc_vmemmap_modules_and_the_direct_map_are_windowable() {
    with_map4(|_, live, map| {
        let v = live.vmalloc_base;
        assert_eq!(
            windowable(map, (v + 0x1000, v + 0x5fff)),
            Some(Redo::Nothing)
        );
        // The struct pages of memory onlined or offlined: read by no
        // other phase either.
        let e = live.vmemmap_base;
        assert_eq!(
            windowable(map, (e + 0x20_0000, e + 0x3f_ffff)),
            Some(Redo::Nothing)
        );
        // Read by System RAM and the code aliases: those made again.
        let d = live.page_offset_base;
        assert_eq!(
            windowable(map, (d, d + (1 << 30) - 1)),
            Some(Redo::RamAndAliases)
        );
        let m = 0xffff_ffff_c000_0000;
        assert_eq!(
            windowable(map, (m + 0x1000, m + 0x5fff)),
            Some(Redo::RamAndAliases)
        );
        // The kernel image (its text aliases, PTI's copy of the entry
        // text), and a window across regions: a full check.
        assert_eq!(
            windowable(map, (0xffff_ffff_9000_0000, 0xffff_ffff_9000_0fff)),
            None
        );
        assert_eq!(windowable(map, (v + 0x1000, live.vmemmap_base)), None);
        assert_eq!(windowable(map, (d, v)), None);
    });
}

/// A window over part of a 1 GiB leaf is widened to the 1 GiB blocks its
/// ends lie in (a change there may have split the leaf); over 2 MiB and
/// 4 KiB leaves it is not (they lie in one work item).
#[test]
fn a_window_over_a_1g_leaf_is_widened_to_its_block() {
    let gib = 1u64 << 30;
    let base = 0xffff_a000_0000_0000u64;
    let leaf = |start: u64, size: u64, level| Range {
        phys: start - base,
        ..range(start, size, Flags::NX, KERNEL, level)
    };
    let last = [
        leaf(base, 2 * gib, Level::Pud),
        leaf(base + 2 * gib, 2 << 20, Level::Pmd),
        leaf(base + 2 * gib + (2 << 20), 4096, Level::Pte),
    ];
    let window = (base + gib + 0x5000, base + gib + 0x5fff);
    assert_eq!(
        widen_to_leaves((&last, &[]), window),
        (base + gib, base + 2 * gib - 1)
    );
    // A cleared stretch (which says no level) that holds the block counts;
    // one that does not cannot be a 1 GiB entry there.
    let cleared = [leaf(base + gib, gib, Level::Pte)];
    assert_eq!(
        widen_to_leaves((&[], &cleared), window),
        (base + gib, base + 2 * gib - 1)
    );
    let part = [leaf(base + gib + 0x1000, gib - 0x1000, Level::Pte)];
    assert_eq!(widen_to_leaves((&[], &part), window), window);
    // Each end on its own: the end in a 2 MiB leaf stays.
    let across = (base + gib + 0x5000, base + 2 * gib + 0x1fff);
    assert_eq!(
        widen_to_leaves((&last, &[]), across),
        (base + gib, across.1)
    );
    let small = (base + 2 * gib + 0x1000, base + 2 * gib + (2 << 20) + 0xfff);
    assert_eq!(widen_to_leaves((&last, &last), small), small);
    // Nothing mapped there: as it was.
    let beyond = (base + 4 * gib, base + 4 * gib + 0xfff);
    assert_eq!(widen_to_leaves((&last, &last), beyond), beyond);
}

/// Stand-ins for the other phases' findings (System RAM, the other
/// tables), about the first two of `ranges`.
fn other_findings(ranges: &[Range]) -> Vec<Finding> {
    let rule = Rule::RamMissing;
    let about = |range: &Range| Finding {
        rule,
        severity: Severity::Info,
        row: None,
        range: *range,
        reason: rule.reason(),
        owner: Owner::Reference,
    };
    ranges.iter().take(2).map(about).collect()
}

/// A full check's findings, in a check's order ([`Parts`]): the per-range
/// rules on all of `ranges`, `others`, `code-unowned`; and the bytes
/// mapped per row.
fn full_check(
    map: &LiveMap<'_>,
    ranges: &[Range],
    others: &[Finding],
    code: Code<'_>,
) -> (Vec<Finding>, Parts, Vec<[u64; 3]>) {
    let (mut all, mapped) = all_rules(map, ranges);
    let per_range = all.len();
    all.extend_from_slice(others);
    let unowned = all.len();
    check::unowned_code(map, ranges, code.image, code.belongs_to, &mut |f| {
        all.push(f);
        Ok(())
    })
    .unwrap();
    // The stand-ins are the other tables' (no System RAM's, no aliases').
    let parts = Parts {
        per_range,
        tables: per_range,
        aliases: unowned,
        unowned,
    };
    (all, parts, mapped)
}

/// System RAM's and the code aliases' findings made again after windows
/// of the direct map or the modules area (`redo_others`): in a check's
/// order, each part where a full check puts it, the rest kept; and the
/// count of `ram-missing` findings left out taken from the new run. A rule
/// with findings left out elsewhere makes it decline (a full check).
#[test]
fn ram_and_aliases_made_again_replace_their_parts() {
    let about = |rule: Rule, start: u64| Finding {
        rule,
        severity: Severity::Error,
        row: None,
        range: range(start, 0x1000, Flags::NX, KERNEL, Level::Pte),
        reason: rule.reason(),
        owner: Owner::Reference,
    };
    // per-range, ram (2), tables (1), aliases (1), unowned (1).
    let all = [
        about(Rule::WriteExec, 0x1000),
        about(Rule::RamMissing, 0x2000),
        about(Rule::RamMissing, 0x3000),
        about(Rule::PtiLeak, 0x4000),
        about(Rule::WritableText, 0x5000),
        about(Rule::CodeUnowned, 0x6000),
    ];
    let parts = Parts {
        per_range: 1,
        tables: 3,
        aliases: 4,
        unowned: 5,
    };
    let mut tally = Tally::default();
    for f in &all {
        tally.admit(f.rule);
    }
    let ram = [about(Rule::RamMissing, 0x7000)];
    let mut ram_tally = Tally::default();
    ram_tally.admit(Rule::RamMissing);
    ram_tally.omit(Rule::RamMissing, 3);
    let aliases = [
        about(Rule::WritableText, 0x8000),
        about(Rule::WritableText, 0x9000),
    ];
    let redone = Redone {
        ram: &ram,
        ram_tally: &ram_tally,
        aliases: &aliases,
    };
    let mut out = check::Findings::new(HostFindings::default());
    let now = redo_others((&all, parts, &tally), redone, &mut out).unwrap();
    let expect = [all[0], ram[0], all[3], aliases[0], aliases[1], all[5]];
    assert_eq!(out.list.0, expect);
    let parts_now = Parts {
        per_range: 1,
        tables: 2,
        aliases: 3,
        unowned: 5,
    };
    assert_eq!(now, Some(parts_now));
    assert_eq!(out.tally.omitted(Rule::RamMissing), 3);
    assert_eq!(out.tally.found(Rule::WritableText), 2);
    // Left out elsewhere: no redo.
    let mut full = tally;
    full.omit(Rule::PtiLeak, 1);
    let mut out = check::Findings::new(HostFindings::default());
    assert_eq!(
        redo_others((&all, parts, &full), redone, &mut out).unwrap(),
        None
    );
}

/// A window ending inside a run of address-adjacent ranges (a vmalloc
/// area freed there, its end unknown) is widened to the run's end; one
/// ending where nothing is mapped is not.
#[test]
fn a_window_is_widened_to_the_run_it_ends_in() {
    let range = |start: u64, last: u64| Range {
        start,
        last,
        ..Range::leaf(0, Level::Pte, 0, 1, Effective::ALL, PHYS_ADDR_MASK)
    };
    let last = [
        range(0x1000, 0x2fff),
        range(0x3000, 0x4fff),
        range(0x5000, 0x5fff),
        range(0x7000, 0x7fff),
    ];
    assert_eq!(widen_to_run(&last, (0x0, 0x1000)), (0x0, 0x5fff));
    assert_eq!(widen_to_run(&last, (0x0, 0x3000)), (0x0, 0x5fff));
    assert_eq!(widen_to_run(&last, (0x0, 0x6000)), (0x0, 0x6000));
    assert_eq!(widen_to_run(&last, (0x0, 0x7800)), (0x0, 0x7fff));
    assert_eq!(widen_to_run(&last, (0x0, 0x8000)), (0x0, 0x8000));
    assert_eq!(widen_to_run(&[], (0x10, 0x20)), (0x10, 0x20));
}

/// 4 KiB pages from `base`, each unmapped (`None`) or mapped read-only or
/// writable (`Some(rw)`), coalesced as a walk coalesces them.
fn coalesced(base: u64, pages: &[Option<bool>]) -> Vec<Range> {
    let (mut runs, mut out) = (Coalescer::default(), vec![]);
    for (i, page) in pages.iter().enumerate() {
        let Some(rw) = *page else { continue };
        let va = base + i as u64 * 4096;
        let entry = (va & 0xff_ffff_f000) | Flags::P | Flags::G | if rw { Flags::RW } else { 0 };
        let eff = Effective {
            rw,
            us: false,
            nx: false,
        };
        out.extend(runs.push(Range::leaf(va, Level::Pte, entry, 1, eff, PHYS_ADDR_MASK)));
    }
    out.extend(runs.finish());
    out
}

proptest! {
    /// A splice in place is a splice of the whole list, however its seams
    /// coalesce with the ranges on either side (the old ones around the
    /// span are spliced with it).
    #[test]
    fn a_splice_in_place_is_a_splice(
        old in prop::collection::vec(prop::option::of(any::<bool>()), 0..32),
        new in prop::collection::vec(prop::option::of(any::<bool>()), 1..8),
        at in 0u64..32,
    ) {
        let base = 0xffff_c900_0000_0000u64;
        let first = base + at * 4096;
        let span = (first, first + new.len() as u64 * 4096 - 1);
        let (old, new) = (coalesced(base, &old), coalesced(first, &new));
        let mut whole = HostList::default();
        splice(&old, span, &new, |_| None, &mut whole).unwrap();
        let mut list = HostList { ranges: old.clone(), cap: None };
        let mut parts = (HostList::default(), HostList::default());
        let replaced =
            splice_in_place(&mut list, span, &new, |_| None, (&mut parts.0, &mut parts.1)).unwrap();
        prop_assert_eq!(&list.ranges, &whole.ranges);
        undo(&mut list, replaced, &parts.0.ranges).unwrap();
        prop_assert_eq!(list.ranges, old);
    }
}

proptest! {
    /// Any sequence of changes (a leaf mapped, remapped elsewhere with
    /// other attributes, cleared or removed; a 1 GiB leaf among them,
    /// and a smaller leaf later under it), re-checked as watch mode does:
    /// each change's window added to what changed (`changed::Changed`,
    /// some changes deferred so that a re-check has several windows,
    /// merged where they touch or past the most), each window widened to
    /// the big leaves it may have split (`widen_to_leaves`) and re-checked
    /// in turn, the findings of each made from the one before; ends equal
    /// to one full walk of the tables as they are then: ranges and cleared
    /// stretches alike, and every finding (`recheck_findings`: the
    /// per-range rules', the other phases', `code-unowned`'s) and the
    /// bytes mapped per row.
    #[test]
    fn window_rechecks_end_equal_to_a_full_walk(
        leaves in runs_across_tables(Level::P4d),
        changes in prop::collection::vec(
            (0u64..6, 0u64..1024, 0u8..4, any::<bool>(), 0u64..4, (0u64..3, any::<bool>())),
            1..12,
        ),
    ) {
        let (mut t, walk, _, _) = fixture_mapping(&leaves, |_, va| va & ((1 << 45) - 1));
        let mut last = full_walk(&mut t, &walk);
        let kernel_half = 1u64 << (Level::P4d.shift() + 8);
        with_map4(|_, _, map| {
            // Findings of the other phases (kept by a window re-check),
            // and owners for every other 4 MiB (`code-unowned` made again).
            let others = other_findings(&last.0);
            let belongs_to = |va: u64, _: &mut NameBuf| va & (1 << 22) != 0;
            let code = Code { image: (0, 0), belongs_to: &belongs_to };
            let (mut findings, mut parts, mut mapped) = full_check(map, &last.0, &others, code);
            let mut changed = Changed::NONE;
            let count = changes.len();
            for (n, &(slot, sub, op, rw, far, (widen, defer))) in changes.iter().enumerate() {
                // Any level in any slot: a 1 GiB leaf in the slot's first
                // 4 GiB, later a 2 MiB or 4 KiB leaf under it (a split).
                let level = [Level::Pte, Level::Pmd, Level::Pud][(sub % 3) as usize];
                let sub = if level == Level::Pud { sub % 4 } else { sub };
                let va = canonical(kernel_half + slot * (1 << 39) + sub * level.entry_size(), Level::P4d);
                let flags = Flags::G | if rw { Flags::RW } else { 0 };
                match op {
                    0 => t.map(va, level, (va & ((1 << 45) - 1)) ^ (far << 32), flags, TABLE),
                    1 => t.map(va, level, va & ((1 << 45) - 1), flags | Flags::NX, TABLE),
                    2 => set_page(&mut t, va, level, 1),
                    _ => set_page(&mut t, va, level, 2),
                }
                // The window: the changed leaf, or wider by `widen` leaves.
                let size = level.entry_size();
                changed.add(va - widen * size, va + (widen + 1) * size - 1);
                if defer && n + 1 < count {
                    continue;
                }
                for &[first, end] in changed.windows() {
                    let window = widen_to_leaves((&last.0, &last.1), (first, end));
                    let r = recheck_window(&mut t, &walk, window, &last);
                    let (old_text, text) = (check::text_of(map, &last.0), check::text_of(map, &r.now.0));
                    // As the module: the old ranges the splice replaced,
                    // and the ones it made.
                    let before = Before { ranges: &r.old, text: &old_text, findings: &[] };
                    let mut out = check::Findings::new(HostFindings::default());
                    let mut m = mapped.clone();
                    let new = (r.made(), &text, r.spliced.span);
                    let had = (before, &findings[..], parts, &Tally::default());
                    let done = recheck_findings(map, had, new, code, &mut m, &mut out);
                    (findings, parts, mapped) = match done.unwrap() {
                        Some(p) => (out.list.0, p, m),
                        None => full_check(map, &r.now.0, &others, code),
                    };
                    last = r.now;
                }
                changed = Changed::NONE;
            }
            let full = full_walk(&mut t, &walk);
            prop_assert_eq!(&last, &full);
            prop_assert_eq!((findings, parts, mapped), full_check(map, &full.0, &others, code));
            Ok(())
        })?;
    }

}

/// Two PTE items side by side in one batch: the last page of one PMD
/// entry's table and the first of the next, mapping consecutive pages
/// alike, so that the second item's first walk extends the first item's
/// range. The second item's table is replaced while it is read (`chain`
/// more times after that, each replacement mapping a page elsewhere).
fn adjacent_items_second_replaced(chain: usize) -> (Tables, Walk, Vec<walk::WorkItem>, u64) {
    let top = Level::P4d;
    let walk = walk_for(top);
    let mut t = Tables::new(top);
    let base = canonical(0xffff_c900_0000_0000, top);
    let flags = Flags::NX | Flags::G;
    t.map(base + (1 << 21) - 0x1000, Level::Pte, 0x5000, flags, TABLE);
    t.map(base + (1 << 21), Level::Pte, 0x6000, flags, TABLE);
    let items = items_of(&mut t, &walk);
    assert_eq!(items.len(), 2);
    let (pmd_table, index) = slot_of(&t, base + (1 << 21), Level::Pmd);
    let mut old = t.pages[&pmd_table][index] & PHYS_ADDR_MASK;
    for n in 0..=chain {
        // Each replacement maps one writable page: it never extends the
        // first item's range.
        let new = t.alloc();
        t.pages.get_mut(&new).unwrap()[0] =
            (0x9000 + ((n as u64) << 12)) | flags | Flags::P | Flags::RW;
        t.changes.push((old, pmd_table, index, new | TABLE));
        old = new;
    }
    (t, walk, items, base + (1 << 21))
}

/// Walk `items` through one worker's sink in one batch; its counts.
fn walk_one_batch(
    w: &mut Worker,
    walk: &Walk,
    items: &[walk::WorkItem],
    t: &mut Tables,
) -> (WalkCounts, bool) {
    let mut scratch: Box<Scratch> = Box::new([[0; ENTRIES]; 4]);
    let mut sink = w.sink();
    sink.start_batch();
    for item in items {
        sink.walk_item(walk, item, t, &mut scratch);
    }
    (*sink.counts(), sink.no_room())
}

/// A worker's ranges as (start, size, phys).
fn placed(w: &Worker) -> Vec<(u64, u64, u64)> {
    w.ranges
        .ranges
        .iter()
        .map(|r| (r.start, r.size(), r.phys))
        .collect()
}

#[test]
fn a_changed_item_is_walked_again_and_its_first_output_undone() {
    let (mut t, walk, items, second) = adjacent_items_second_replaced(0);
    let mut w = Worker::default();
    let (counts, _) = walk_one_batch(&mut w, &walk, &items, &mut t);
    assert_eq!((counts.items, counts.retries, counts.changed), (2, 1, 0));
    // The first item's range is one page again, not extended by the
    // second item's stale first walk; the second is its table as it is now.
    assert_eq!(
        placed(&w),
        vec![(second - 0x1000, 0x1000, 0x5000), (second, 0x1000, 0x9000)]
    );
}

#[test]
fn an_item_that_keeps_changing_is_kept_as_last_seen_and_counted() {
    let (mut t, walk, items, second) = adjacent_items_second_replaced(ITEM_RETRIES as usize);
    let mut w = Worker::default();
    let (counts, _) = walk_one_batch(&mut w, &walk, &items, &mut t);
    assert_eq!(counts.retries, u64::from(ITEM_RETRIES));
    assert_eq!(counts.changed, 1);
    assert_eq!(counts.first_changed, Some((second, Level::Pmd)));
    // The walker reports nothing below an entry that changed while it read
    // the table: what is kept of the second item is nothing, and the first
    // item's range is one page, as its own walk left it.
    assert_eq!(placed(&w), vec![(second - 0x1000, 0x1000, 0x5000)]);
}

#[test]
fn a_full_list_is_reported_not_ignored() {
    let leaves: BTreeMap<u64, (Level, u64)> = (0..4)
        .map(|i| {
            (
                0xffff_c900_0000_0000 + i * (1 << 39),
                (Level::Pmd, Flags::G | Flags::NX),
            )
        })
        .collect();
    let (mut t, walk, items, want) = split_fixture(&leaves);
    assert!(want.len() > 2);
    let mut w = Worker::default();
    w.ranges.cap = Some(2);
    let (_, no_room) = walk_one_batch(&mut w, &walk, &items, &mut t);
    assert!(no_room);
    assert_eq!(w.ranges.ranges.len(), 2);
}

/// An item whose walk reports leaves and then sees a table change under
/// it (a PUD-level item: two PTE tables below one PMD table, the second
/// replaced while it is read) is walked again with everything of its first
/// walk undone, also the extension of the range before it in its batch.
#[test]
fn a_changed_item_undoes_its_leaves_and_what_it_extended() {
    let top = Level::P4d;
    let walk = walk_for(top);
    let mut t = Tables::new(top);
    let base = canonical(0xffff_c900_4000_0000, top);
    let flags = Flags::NX | Flags::G;
    t.map(base - 0x1000, Level::Pte, 0x4000, flags, TABLE);
    t.map(base, Level::Pte, 0x5000, flags, TABLE);
    t.map(base + (1 << 21), Level::Pte, 0x8000, flags, TABLE);
    let (pmd_table, index) = slot_of(&t, base + (1 << 21), Level::Pmd);
    let old = t.pages[&pmd_table][index] & PHYS_ADDR_MASK;
    let new = t.alloc();
    t.pages.get_mut(&new).unwrap()[0] = 0x9000 | flags | Flags::P | Flags::RW;
    t.changes.push((old, pmd_table, index, new | TABLE));
    // The page before `base` as its own item, then `base`'s PUD entry.
    let before = items_of(&mut t, &walk)[0];
    assert_eq!(before.va, (base - 0x1000) & !((1 << 21) - 1));
    let (pud_table, pud_index) = slot_of(&t, base, Level::Pud);
    let pud = walk::WorkItem {
        table: pud_table,
        va: base,
        level: Level::Pud,
        entry: t.pages[&pud_table][pud_index],
        count: 1,
        effective: Effective::ALL,
    };
    let mut w = Worker::default();
    let (counts, _) = walk_one_batch(&mut w, &walk, &[before, pud], &mut t);
    assert_eq!(counts.retries, 1);
    assert_eq!(
        placed(&w),
        vec![
            (base - 0x1000, 0x2000, 0x4000),
            (base + (1 << 21), 0x1000, 0x9000)
        ]
    );
}

// ---- System RAM against the direct map ------------------------------------

/// Pages of a direct map at `live4()`'s base: each mapped, cleared on
/// purpose or empty (0, 1, 2), in 4 KiB pages over 4 PMDs, then huge ones.
fn set_page(t: &mut Tables, va: u64, level: Level, kind: u8) {
    t.map(va, level, 0x10_0000, Flags::NX | Flags::RW, TABLE);
    let (table, index) = slot_of(t, va, level);
    let entry = &mut t.pages.get_mut(&table).unwrap()[index];
    match kind {
        0 => {}
        1 => *entry &= !Flags::P,
        _ => *entry = 0,
    }
}

/// Every finding of `found` as (page, rule, severity), page by page.
fn by_page(found: &[Finding], base: u64) -> BTreeMap<u64, (Rule, Severity)> {
    let mut out = BTreeMap::new();
    for f in found {
        let mut va = f.range.start;
        while va <= f.range.last {
            assert!(
                out.insert((va - base) >> 12, (f.rule, f.severity))
                    .is_none(),
                "one finding per page"
            );
            va += 4096;
        }
    }
    out
}

proptest! {
    /// The walk sees the direct map, then the kernel changes some pages,
    /// then RAM is checked: a page the walk saw mapped is fine and one it
    /// saw cleared is info, as seen; a page it did not see is judged as the
    /// table holds it now (mapped: nothing; cleared: info; empty: error);
    /// each page once.
    #[test]
    fn ram_is_judged_page_by_page(
        pages in prop::collection::vec((0u64..2048, 0u8..3), 0..200),
        later in prop::collection::vec((0u64..2048, 0u8..3), 0..40),
        ram in prop::collection::vec((0u64..2048, 1u64..300), 1..4),
    ) {
        let (doc, live) = (doc4(), live4());
        let doc = DocMap { name: "t", source: "t", paging: Paging::Four, regions: &doc };
        let map = LiveMap::new(&doc, &live);
        let base = live.page_offset_base;
        let mut t = Tables::new(Level::P4d);
        // RAM is mapped but for the pages listed.
        for page in 0..2048 {
            t.map(base + page * 4096, Level::Pte, page * 4096, Flags::NX | Flags::RW, TABLE);
        }
        for &(page, kind) in &pages {
            set_page(&mut t, base + page * 4096, Level::Pte, kind);
        }
        let seen = walk_all(&mut t);
        let cleared: Vec<Range> = seen.cleared.iter().map(|&(a, b)| cleared_run(a, b)).collect();
        for &(page, kind) in &later {
            set_page(&mut t, base + page * 4096, Level::Pte, kind);
        }
        let mut ram: Vec<(u64, u64)> = ram.iter().map(|&(p, n)| (p * 4096, ((p + n).min(2048)) * 4096 - 1)).collect();
        ram.sort_unstable();
        ram.dedup_by(|b, a| b.0 <= a.1 + 1 && { a.1 = a.1.max(b.1); true });
        let walk = walk_for(Level::P4d);
        let check = DirectMapSeen { walk: &walk, reference: t.root, base, ranges: &seen.ranges, cleared: &cleared };
        let mut found = vec![];
        let mut scratch: Box<Scratch> = Box::new([[0; ENTRIES]; 4]);
        let (mut relaxed, mut emit) = (0, |f| { found.push(f); Ok(()) });
        check.check_ram(&ram, &mut RamCheck {
            map: &map, src: &mut t, scratch: &mut scratch, relax: &mut || relaxed += 1, emit: &mut emit,
        }).unwrap();
        let got = by_page(&found, base);
        let mut want = BTreeMap::new();
        for &(first, last) in &ram {
            for page in first >> 12..=last >> 12 {
                let va = base + page * 4096;
                let judged = if seen.ranges.iter().any(|r| r.start <= va && va <= r.last) {
                    None
                } else if seen.cleared.iter().any(|&(a, b)| a <= va && va <= b) {
                    Some((Rule::RamMissing, Severity::Info))
                } else {
                    match walk.resolve(t.root, va, &mut t) {
                        Some(r) if r.present() => None,
                        Some(r) if r.entry != 0 => Some((Rule::RamMissing, Severity::Info)),
                        _ => Some((Rule::RamMissing, Severity::Error)),
                    }
                };
                if let Some(j) = judged {
                    want.insert(page, j);
                }
            }
        }
        prop_assert_eq!(got, want);
        // Looked at twice with nothing changed since: the errors stay.
        let errors = found.iter().filter(|f| f.severity == Severity::Error).count();
        check.recheck_missing(&mut found, &mut t, &mut scratch);
        prop_assert_eq!(found.iter().filter(|f| f.severity == Severity::Error).count(), errors);
    }
}

#[test]
fn ram_unmapped_for_a_moment_is_info_when_looked_at_twice() {
    let (doc, live) = (doc4(), live4());
    let doc = DocMap {
        name: "t",
        source: "t",
        paging: Paging::Four,
        regions: &doc,
    };
    let map = LiveMap::new(&doc, &live);
    let base = live.page_offset_base;
    let mut t = Tables::new(Level::P4d);
    for page in 0..16 {
        let kind = if (4..8).contains(&page) { 2 } else { 0 };
        set_page(&mut t, base + page * 4096, Level::Pte, kind);
    }
    let seen = walk_all(&mut t);
    let walk = walk_for(Level::P4d);
    let check = DirectMapSeen {
        walk: &walk,
        reference: t.root,
        base,
        ranges: &seen.ranges,
        cleared: &[],
    };
    let mut found = vec![];
    let mut scratch: Box<Scratch> = Box::new([[0; ENTRIES]; 4]);
    let mut emit = |f| {
        found.push(f);
        Ok(())
    };
    check
        .check_ram(
            &[(0, 16 * 4096 - 1)],
            &mut RamCheck {
                map: &map,
                src: &mut t,
                scratch: &mut scratch,
                relax: &mut || {},
                emit: &mut emit,
            },
        )
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].range.start, found[0].range.last),
        (base + 4 * 4096, base + 8 * 4096 - 1)
    );
    assert_eq!(found[0].severity, Severity::Error);
    // Mapped again before the second look: a moment, info.
    set_page(&mut t, base + 5 * 4096, Level::Pte, 0);
    check.recheck_missing(&mut found, &mut t, &mut scratch);
    assert_eq!(
        (found[0].rule, found[0].severity),
        (Rule::TableChanged, Severity::Info)
    );
    // No room for a finding: the check says so.
    let mut full = |_| Err(NoRoom);
    set_page(&mut t, base + 5 * 4096, Level::Pte, 2);
    let r = check.check_ram(
        &[(0, 16 * 4096 - 1)],
        &mut RamCheck {
            map: &map,
            src: &mut t,
            scratch: &mut scratch,
            relax: &mut || {},
            emit: &mut full,
        },
    );
    assert_eq!(r, Err(NoRoom));
}

/// Executable code outside the kernel image whose first page no owner
/// claims is an info finding of its own (`code-unowned`), one per range;
/// the image, code with an owner and what is not executable are not.
#[test]
fn unowned_code_is_an_info_finding() {
    use std::fmt::Write;
    use vmlayout_core::report::NameBuf;
    let l = live4();
    let ro_x = Effective {
        rw: false,
        us: false,
        nx: false,
    };
    let module = 0xffff_ffff_c000_0000u64;
    let ranges = [
        range(l.text_start, 0x20_0000, 0x161, ro_x, Level::Pmd),
        range(module, 0x2000, 0x161, ro_x, Level::Pte),
        range(module + 0x4000, 0x1000, 0x163, KERNEL, Level::Pte),
        range(module + 0x8000, 0x3000, 0x161, ro_x, Level::Pte),
        range(l.vmalloc_base + 0x5000, 0x1000, 0x163, ro_x, Level::Pte),
    ];
    let owned = |va: u64, out: &mut NameBuf| va == module && out.write_str("module m").is_ok();
    let found = with_map4(|_, live, map| {
        let mut found = Vec::new();
        let image = (live.text_start, live.text_end);
        check::unowned_code(map, &ranges, image, &owned, &mut |f| {
            found.push(f);
            Ok(())
        })
        .unwrap();
        found
    });
    let at: Vec<_> = found
        .iter()
        .map(|f| (f.rule.id(), f.severity, f.range.start))
        .collect();
    assert_eq!(
        at,
        [
            ("code-unowned", Severity::Info, module + 0x8000),
            ("code-unowned", Severity::Info, l.vmalloc_base + 0x5000),
        ]
    );
    assert_eq!(found[1].range.size(), 0x1000);
}

/// `check::poke_leaks` on the tables `t` at `root`: the findings it made.
fn poke_leaks_of(walk: &Walk, t: &mut Tables) -> Vec<Finding> {
    let (mut found, root) = (vec![], t.root);
    let mut scratch: Box<Scratch> = Box::new([[0; ENTRIES]; 4]);
    with_map4(|_, _, map| {
        check::poke_leaks((walk, root), map, (t, &mut scratch), &mut |f| {
            found.push(f);
            Ok(())
        })
    })
    .unwrap();
    found
}

/// `text_poke()`'s area, the user half from `TASK_UNMAPPED_BASE` up, is
/// empty in the kernel's own table, with 4 and 5 levels: a page mapped
/// there is one `poke-leak` error with its attributes, at its first
/// address, and stays one however far up the half it lies; a page just
/// below the area (a boot-time identity map) is none.
#[test]
fn a_mapping_where_text_poke_maps_is_a_poke_leak() {
    let user_last = |top: Level| (1u64 << (top.shift() + 8)) - 1;
    for top in [Level::P4d, Level::Pgd] {
        let walk = walk_for(top);
        let mut t = Tables::new(top);
        t.map(
            check::POKE_FIRST - 0x1000,
            Level::Pte,
            0x5000,
            Flags::RW | Flags::NX,
            TABLE,
        );
        t.map(0x20_0000, Level::Pmd, 0x20_0000, Flags::RW, TABLE);
        assert!(poke_leaks_of(&walk, &mut t).is_empty());
        for va in [check::POKE_FIRST, user_last(top) & !0xfff] {
            let mut t = Tables::new(top);
            t.map(va, Level::Pte, 0x7000, Flags::RW | Flags::NX, TABLE);
            t.map(va + 0x1000, Level::Pte, 0x8000, Flags::NX, TABLE);
            let found = poke_leaks_of(&walk, &mut t);
            assert_eq!(found.len(), 1, "{top:?} {va:#x}: {found:?}");
            let f = &found[0];
            assert_eq!((f.rule, f.severity), (Rule::PokeLeak, Severity::Error));
            assert_eq!((f.range.start, f.range.phys), (va, 0x7000));
            assert!(f.range.flags.0 & Flags::RW != 0);
            let expected_last = if va == check::POKE_FIRST {
                va + 0x1fff
            } else {
                va + 0xfff
            };
            assert_eq!(f.range.last, expected_last.min(user_last(top)));
        }
    }
}

/// A window re-check keeps the other phases' findings and carries their
/// rules' counts over from the last check, those left out included
/// (`ram-missing` past its limit under `debug_pagealloc`): it still
/// re-checks. A rule it makes again (`wx`) with findings left out stops
/// it: which of them are kept depends on all of them.
#[test]
fn a_window_carries_the_counts_of_the_rules_it_keeps() {
    let mut t = Tables::new(Level::P4d);
    let walk = walk_for(Level::P4d);
    let va = 0xffff_c900_0010_0000u64;
    t.map(va, Level::Pte, 0x5000, Flags::G | Flags::NX, TABLE);
    let last = full_walk(&mut t, &walk);
    with_map4(|_, _, map| {
        let code = Code {
            image: (0, 0),
            belongs_to: &|_, _: &mut NameBuf| true,
        };
        let others = other_findings(&last.0);
        let (findings, parts, mapped) = full_check(map, &last.0, &others, code);
        t.map(va + 0x1000, Level::Pte, 0x6000, Flags::G | Flags::NX, TABLE);
        let r = recheck_window(&mut t, &walk, (va + 0x1000, va + 0x1fff), &last);
        let (old_text, text) = (check::text_of(map, &last.0), check::text_of(map, &r.now.0));
        let mut tally = Tally::default();
        for f in &findings {
            tally.admit(f.rule);
        }
        tally.omit(Rule::RamMissing, 10);
        let run = |tally: &Tally| {
            let before = Before {
                ranges: &r.old,
                text: &old_text,
                findings: &[],
            };
            let mut out = check::Findings::new(HostFindings::default());
            let mut m = mapped.clone();
            let had = (before, &findings[..], parts, tally);
            let new = (r.made(), &text, r.spliced.span);
            let done = recheck_findings(map, had, new, code, &mut m, &mut out).unwrap();
            done.map(|_| (out.list.0, out.tally))
        };
        let (list, now) = run(&tally).expect("ram-missing left out does not stop a window");
        assert_eq!(
            list.iter().filter(|f| f.rule == Rule::RamMissing).count(),
            others.len()
        );
        assert_eq!(now.found(Rule::RamMissing), others.len() as u64 + 10);
        assert_eq!(now.omitted(Rule::RamMissing), 10);
        tally.omit(Rule::WriteExec, 1);
        assert!(run(&tally).is_none(), "wx left out stops a window");
    });
}

/// A writable alias of code that holds only traps (execmem's unused
/// memory, which `execmem_cache_clean()` gives back to the direct map
/// before it unmaps it) is info, not an error; `unused` is asked about the
/// code the alias maps, not the alias.
#[test]
fn a_writable_alias_of_unused_execmem_is_info() {
    let (walk, (code, phys, block)) = (walk_for(Level::P4d), module_code());
    let pob = live4().page_offset_base;
    let mut t = Tables::new(Level::P4d);
    t.map(code, Level::Pte, phys, Flags::G, TABLE);
    t.map(
        pob + block,
        Level::Pmd,
        block,
        Flags::RW | Flags::G | Flags::NX,
        TABLE,
    );
    let (ranges, _) = full_walk(&mut t, &walk);
    let root = t.root;
    let asked = std::cell::Cell::new(None);
    let unused = |range: (u64, u64)| {
        asked.set(Some(range));
        true
    };
    let found = code_aliases_with(&walk, root, &ranges, &mut t, &unused);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].rule, found[0].severity),
        (Rule::WritableText, Severity::Info)
    );
    assert_eq!(asked.get(), Some((code, code + 0xfff)));
}
