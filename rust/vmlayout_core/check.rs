// SPDX-License-Identifier: GPL-2.0

//! One check of a kernel's page tables, from any table source: the phases
//! every scan runs whoever reads the tables.
//!
//! The module runs them on every online CPU at once (`rust/scan/`), with
//! the walk split into work items and the rules into chunks; `vmlayout
//! check` runs them one after the other on `/proc/kcore` or a crash dump
//! ([`walk_reference`], then [`check_walked`]). Either way each phase is
//! one of the functions here: the per-range rules and the bytes mapped per
//! region ([`check_ranges`]), System RAM against the direct map
//! ([`DirectMapSeen`]), what the walk noted ([`note_walk`]), every warn or
//! error finding checked again ([`recheck`]), the audit of a CPU's active
//! table ([`audit_top`]), `text_poke()`'s area empty in the kernel's own
//! table ([`poke_leaks`]).

use super::batch::{BatchSink, NoRoom, RangeList, WalkCounts};
use super::direct_map::{DirectMapSeen, RamCheck};
use super::layout::START_KERNEL_MAP;
use super::map::RegionId;
use super::pte::{Table, ENTRIES};
use super::report::{BelongsTo, NameBuf};
use super::rules::{
    check_range, nothing_fires, still_holds, Finding, LiveMap, Owner, Rule, Severity, TableKind,
    Tally, TextAliases, FINDINGS_PER_RULE,
};
use super::sync::differing_slots;
use super::walk::{Presence, Range, Scratch, TableSource, Top, Walk};

/// A growable list of findings the caller owns.
pub trait FindingList {
    /// Append `finding`.
    fn push(&mut self, finding: Finding) -> Result<(), NoRoom>;
    /// The findings so far.
    fn as_mut_slice(&mut self) -> &mut [Finding];
}

/// A scan's findings: at most
/// [`FINDINGS_PER_RULE`] kept per rule, all
/// counted.
pub struct Findings<L> {
    /// The findings kept, in output order.
    pub list: L,
    /// Per rule, found and kept.
    pub tally: Tally,
}

impl<L: FindingList> Findings<L> {
    /// Empty, in `list` (cleared by the caller).
    pub fn new(list: L) -> Self {
        Findings {
            list,
            tally: Tally::default(),
        }
    }

    /// Count `finding`, and keep it unless its rule has enough kept.
    pub fn push(&mut self, finding: Finding) -> Result<(), NoRoom> {
        if self.tally.admit(finding.rule) {
            self.list.push(finding)?;
        }
        Ok(())
    }
}

/// The per-range rules on `ranges` of `table`, in address order: each
/// finding that `tally` admits to `keep`, and each range's bytes added to
/// `mapped` (per documented row, by leaf level: 4K, 2M, 1G). Returns
/// whether every finding kept found room.
pub fn check_ranges(
    map: &LiveMap<'_>,
    text: &TextAliases,
    table: TableKind,
    ranges: &[Range],
    mapped: &mut [[u64; 3]],
    tally: &mut Tally,
    keep: &mut dyn FnMut(Finding) -> Result<(), NoRoom>,
) -> Result<(), NoRoom> {
    let mut result = Ok(());
    for range in ranges {
        let place = match nothing_fires(map, text, table, range) {
            Some(place) => place,
            None => {
                for f in check_range(map, text, table, range) {
                    if tally.admit(f.rule) && result.is_ok() {
                        result = keep(f);
                    }
                }
                map.place(range.start).0
            }
        };
        let bytes = place.row().and_then(|row| mapped.get_mut(row));
        if let Some(bytes) = bytes {
            bytes[range.level as usize - 1] += range.size();
        }
    }
    result
}

/// The rules on another table's `ranges` (EFI's, PTI's user copy, an
/// mm's), as `table` is held to them, each finding owned by `owner`, into
/// `keep`. PTI also maps each possible CPU's TSS page into the user copy,
/// in the direct map (the SYSCALL entry's scratch word): the rules cannot
/// know where the per-CPU areas are, so a page `is_tss` names is no leak.
pub fn check_other_table(
    (map, text): (&LiveMap<'_>, &TextAliases),
    (table, owner): (TableKind, Owner),
    ranges: &[Range],
    is_tss: impl Fn(u64) -> bool,
    keep: &mut dyn FnMut(Finding) -> Result<(), NoRoom>,
) -> Result<(), NoRoom> {
    for range in ranges {
        for f in check_range(map, text, table, range) {
            let tss_page = f.range.size() == 4096 && is_tss(f.range.start);
            if !(f.rule == Rule::PtiLeak && tss_page) {
                keep(Finding { owner, ..f })?;
            }
        }
    }
    Ok(())
}

/// The kernel text's physical ranges, for the writable-alias rule: taken
/// from the kernel image map (the top of the kernel half, so a search
/// from its end finds it at once).
pub fn text_of(map: &LiveMap<'_>, ranges: &[Range]) -> TextAliases {
    let mut text = TextAliases::default();
    let from = ranges.partition_point(|r| r.last < START_KERNEL_MAP);
    for range in &ranges[from..] {
        text.note(map, range);
    }
    text
}

/// The kernel image mapping, as the first and last 2 MiB blocks the walk
/// saw in use in the `image_size` window at `__START_KERNEL_map` (`_text`
/// is 2 MiB aligned and nothing else is mapped there); `(0, 0)` if none.
pub fn kernel_image(ranges: &[Range], image_size: u64) -> (u64, u64) {
    const BLOCK: u64 = 1 << 21;
    let end = START_KERNEL_MAP.saturating_add(image_size.saturating_sub(1));
    let from = ranges.partition_point(|r| r.last < START_KERNEL_MAP);
    let mut image = ranges[from..].iter().take_while(|r| r.start <= end);
    let Some(first) = image.next() else {
        return (0, 0);
    };
    let last = image.last().unwrap_or(first);
    let start = first.start.max(START_KERNEL_MAP) & !(BLOCK - 1);
    (start, (last.last.min(end) | (BLOCK - 1)))
}

/// What one walk of a table noted, as findings of `owner`: the first table
/// it could not read (warn), the first entry that kept changing (info).
pub fn note_walk(
    walk: &Walk,
    map: &LiveMap<'_>,
    owner: Owner,
    counts: &WalkCounts,
    emit: &mut dyn FnMut(Finding) -> Result<(), NoRoom>,
) -> Result<(), NoRoom> {
    if let Some(at) = counts.first_unreadable {
        let rule = Rule::UnreadableTable;
        let what = (rule, Severity::Warn, rule.reason());
        emit(Finding::about_entry(walk, map, what, at, owner))?;
    }
    if let Some((va, level)) = counts.first_changed {
        let what = (
            Rule::TableChanged,
            Severity::Info,
            "this entry kept changing while the walk read the table below it",
        );
        emit(Finding::about_entry(walk, map, what, (va, level, 0), owner))?;
    }
    Ok(())
}

/// An info finding (`code-unowned`) for each executable range of the
/// reference's `ranges` outside the kernel image (`image`, inclusive)
/// whose first page `belongs_to` names no owner of: code the kernel's
/// symbol table does not account for (a page made executable by hand, a
/// trampoline left behind, the unused part of the execmem ROX cache). One
/// lookup per executable range: a scan stays cheap.
pub fn unowned_code(
    map: &LiveMap<'_>,
    ranges: &[Range],
    image: (u64, u64),
    belongs_to: BelongsTo<'_>,
    emit: &mut dyn FnMut(Finding) -> Result<(), NoRoom>,
) -> Result<(), NoRoom> {
    let executable = ranges
        .iter()
        .filter(|r| !r.effective.nx && (r.last < image.0 || r.start > image.1));
    for range in executable {
        if belongs_to(range.start, &mut NameBuf::new()) {
            continue;
        }
        let rule = Rule::CodeUnowned;
        emit(Finding {
            rule,
            severity: Severity::Info,
            row: map.place(range.start).0.row(),
            range: *range,
            reason: rule.reason(),
            owner: Owner::Reference,
        })?;
    }
    Ok(())
}

/// Why a direct-map alias of the modules region's code is a finding.
const CODE_ALIAS: &str =
    "writable alias in the direct map of code in the modules area (module, BPF, kprobe or ftrace text)";

/// Why a writable alias of execmem's unused memory (only `int3`) is not.
const UNUSED_ALIAS: &str = "writable alias of execmem's unused memory (int3 only, no code): execmem_cache_clean() makes an area's alias valid before it unmaps the area";

/// `writable-text` for the code outside the kernel image: every
/// executable leaf of the modules region of the reference's `ranges`
/// (execmem's: module text, BPF programs, kprobe and ftrace trampolines,
/// and with the ROX cache the cache's pages, used or not) looked up in the
/// tables at `reference`, and its alias in the direct map (at
/// `page_offset_base` plus its physical address) found among `ranges`: a
/// writable one is an error about that alias. The image's text has its
/// rule in the per-range rules ([`TextAliases`]), whose physical ranges
/// are few and contiguous; this code's are per leaf, hence the lookups,
/// one per executable leaf. Code that holds only traps (`unused` says,
/// for its first and last address: execmem's unused memory, which
/// `execmem_cache_clean()` gives back to the direct map before it unmaps
/// it) makes its alias info, not an error. A pair the walk saw is looked up again before
/// it is a finding (`aliased_now`): the walk read the code and its
/// alias at different times.
pub fn code_aliases(
    (walk, reference, page_offset_base): (&Walk, u64, u64),
    (map, unused): (&LiveMap<'_>, &dyn Fn((u64, u64)) -> bool),
    ranges: &[Range],
    src: &mut impl TableSource,
    emit: &mut dyn FnMut(Finding) -> Result<(), NoRoom>,
) -> Result<(), NoRoom> {
    let in_modules = |r: &&Range| {
        let row = map.place(r.start).0.row();
        !r.effective.nx && row.is_some_and(|i| map.doc().regions[i].id == RegionId::Modules)
    };
    let mut pending: Option<Finding> = None;
    for range in ranges.iter().filter(in_modules) {
        let step = range.level.entry_size();
        let mut va = range.start;
        while va <= range.last {
            if let Some(phys) = walk.phys_at(reference, va, src) {
                let alias = page_offset_base.wrapping_add(phys);
                let last = alias.wrapping_add(step - 1);
                for part in writable_parts(ranges, (alias, last)) {
                    if !aliased_now((walk, reference), src, part.start, (va, phys)) {
                        continue;
                    }
                    // The code this part of the alias maps.
                    let code = (part.start - alias + va, part.last - alias + va);
                    let (severity, reason) = if unused(code) {
                        (Severity::Info, UNUSED_ALIAS)
                    } else {
                        (Severity::Error, CODE_ALIAS)
                    };
                    let f = Finding {
                        rule: Rule::WritableText,
                        severity,
                        row: map.place(part.start).0.row(),
                        range: part,
                        reason,
                        owner: Owner::Reference,
                    };
                    pending = merge_or_emit(pending, f, emit)?;
                }
            }
            va = match va.checked_add(step) {
                Some(next) => next,
                None => break,
            };
        }
    }
    pending.map_or(Ok(()), emit)
}

/// Whether the tables at `reference` map `alias` writable now and, read
/// after it, `code` (at `va`, on `phys`) still executable on the same page.
/// The walk may have read each side at another moment: a module load
/// makes its text non-executable, then writable (its alias too), and
/// later executable again, its alias read-only after; execmem's cache,
/// clearing an area, makes its alias valid (writable) before it unmaps
/// the area. Read in this order, both holding means both held at once.
fn aliased_now(
    (walk, reference): (&Walk, u64),
    src: &mut impl TableSource,
    alias: u64,
    (va, phys): (u64, u64),
) -> bool {
    let writable = walk
        .resolve(reference, alias, src)
        .is_some_and(|r| r.present() && r.effective.rw);
    writable && code_now((walk, reference), src, (va, phys))
}

/// Whether the tables at `reference` map `va` executable on `phys` now
/// (one read of its leaf gives both).
fn code_now(
    (walk, reference): (&Walk, u64),
    src: &mut impl TableSource,
    (va, phys): (u64, u64),
) -> bool {
    walk.resolve(reference, va, src)
        .is_some_and(|r| r.present() && !r.effective.nx && walk.phys_in(&r, va) == phys)
}

/// Where `ranges` map `phys` executable (a code alias finding's code).
fn code_on(ranges: &[Range], phys: u64) -> Option<u64> {
    ranges
        .iter()
        .find(|r| !r.effective.nx && (r.phys..=r.phys + (r.last - r.start)).contains(&phys))
        .map(|r| r.start + (phys - r.phys))
}

/// The writable parts of `ranges` within `[first, last]`, each cut to it.
fn writable_parts(ranges: &[Range], (first, last): (u64, u64)) -> impl Iterator<Item = Range> + '_ {
    let from = ranges.partition_point(|r| r.last < first);
    ranges[from..]
        .iter()
        .take_while(move |r| r.start <= last)
        .filter(|r| r.effective.rw)
        .map(move |r| {
            let start = r.start.max(first);
            Range {
                start,
                last: r.last.min(last),
                phys: r.phys + (start - r.start),
                ..*r
            }
        })
}

/// `f` added to `pending` when it continues it (the next page of the same
/// writable range's alias), else `pending` emitted and `f` pending.
fn merge_or_emit(
    pending: Option<Finding>,
    f: Finding,
    emit: &mut dyn FnMut(Finding) -> Result<(), NoRoom>,
) -> Result<Option<Finding>, NoRoom> {
    match pending {
        Some(mut p)
            if p.range.last.wrapping_add(1) == f.range.start
                && p.range.flags == f.range.flags
                && p.range.level == f.range.level
                && (p.severity, p.reason) == (f.severity, f.reason) =>
        {
            p.range.last = f.range.last;
            Ok(Some(p))
        }
        Some(p) => emit(p).map(|()| Some(f)),
        None => Ok(Some(f)),
    }
}

/// The lowest address `text_poke()`'s temporary mm maps at:
/// `TASK_UNMAPPED_BASE` of a 64-bit task, `PAGE_ALIGN(DEFAULT_MAP_WINDOW /
/// 3)` (`poking_init()`, arch/x86/mm/init.c). It maps from there up to
/// `TASK_SIZE`, at a random address chosen at boot.
pub const POKE_FIRST: u64 = (((1 << 47) - 4096) / 3 + 4095) & !4095;

/// `text_poke()` writes the text it patches through a writable mapping in
/// a temporary mm of its own, in the user half from [`POKE_FIRST`]. The
/// kernel's own table (the reference, `init_mm`'s, which every kernel
/// thread runs on) maps nothing there: a mapping there is a `poke-leak`
/// error, one per mapped stretch, with its first leaf's attributes. Each
/// stretch is looked up again before it is a finding.
pub fn poke_leaks(
    (walk, reference): (&Walk, u64),
    map: &LiveMap<'_>,
    (src, scratch): (&mut impl TableSource, &mut Scratch),
    emit: &mut dyn FnMut(Finding) -> Result<(), NoRoom>,
) -> Result<(), NoRoom> {
    // The user half's last address: 2^47 - 1, or 2^56 - 1 with 5 levels.
    let last = (1u64 << (walk.top.shift() + 8)) - 1;
    let mut from = POKE_FIRST;
    // At most a rule's worth of stretches: the tally would drop the rest.
    for _ in 0..FINDINGS_PER_RULE {
        let mut mapped = None;
        walk.presence(reference, from, last, src, scratch, |a, b, kind| {
            if kind == Presence::Present && mapped.is_none() {
                mapped = Some((a, b));
            }
        });
        let Some((start, end)) = mapped else { break };
        if let Some(now) = walk.resolve(reference, start, src).filter(|r| r.present()) {
            let mut range = Range::leaf(
                start,
                now.level,
                now.entry,
                1,
                now.effective,
                walk.phys_mask,
            );
            range.last = end;
            let rule = Rule::PokeLeak;
            emit(Finding {
                rule,
                severity: Severity::Error,
                row: map.place(start).0.row(),
                range,
                reason: rule.reason(),
                owner: Owner::Reference,
            })?;
        }
        match end.checked_add(1) {
            Some(next) if end < last => from = next,
            _ => break,
        }
    }
    Ok(())
}

/// Check every warn or error finding about a leaf of the reference tables
/// (at `reference`) again, as `src` holds them now: one that no longer
/// holds changed during the scan and becomes info. A code alias
/// ([`code_aliases`]) holds while its code, found in `ranges` (the
/// walk's), is still executable there too, read after the alias: execmem's
/// cache makes an area's alias writable before it unmaps the area, and
/// that alias stays. Returns (checked, settled).
pub fn recheck(
    (walk, reference): (&Walk, u64),
    findings: &mut [Finding],
    ranges: &[Range],
    src: &mut impl TableSource,
) -> (u64, u64) {
    let (mut checked, mut settled) = (0, 0);
    for f in findings.iter_mut() {
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
        let now = walk.resolve(reference, f.range.start, src);
        let phys = f.range.phys;
        let mut code_holds = || match code_on(ranges, phys) {
            Some(va) => code_now((walk, reference), src, (va, phys)),
            None => false,
        };
        if !still_holds(f, now.as_ref()) || f.reason == CODE_ALIAS && !code_holds() {
            settled += 1;
            f.severity = Severity::Info;
            f.reason = "changed during the scan: no longer mapped as the walk saw it";
        }
    }
    (checked, settled)
}

/// How many more looks, `wait` apart, a writable alias of code
/// ([`code_aliases`]) that still holds gets before it is an error
/// ([`recheck_settled`]).
pub const CODE_ALIAS_LOOKS: u32 = 3;

/// [`recheck`], then, while a writable alias of code still holds, up to
/// [`CODE_ALIAS_LOOKS`] more times after `wait(src)`. The kernel's own CPA
/// passes through that state: `set_memory_rox()` on a vmalloc address
/// changes the page (executable), then its direct-map alias (read-only),
/// chunk by chunk (`__change_page_attr_set_clr()`, then
/// `cpa_process_alias()`), and a module's text, made writable while it
/// loads (`execmem_make_temp_rw()`), is made read-only and executable that
/// way; the task may be preempted in between. One that holds through the
/// waits is no such step. Returns (checked, settled), as [`recheck`].
pub fn recheck_settled<T: TableSource>(
    (walk, reference): (&Walk, u64),
    findings: &mut [Finding],
    ranges: &[Range],
    src: &mut T,
    wait: &mut dyn FnMut(&mut T),
) -> (u64, u64) {
    let (checked, mut settled) = recheck((walk, reference), findings, ranges, src);
    let alias_holds = |f: &Finding| f.severity != Severity::Info && f.reason == CODE_ALIAS;
    for _ in 0..CODE_ALIAS_LOOKS {
        if !findings.iter().any(alias_holds) {
            break;
        }
        wait(src);
        settled += recheck((walk, reference), findings, ranges, src).1;
    }
    (checked, settled)
}

/// The audit of one CPU's active top-level table (at `active`, as its
/// CR3 holds it) against the reference's kernel half (`reference`, copied):
/// an `unsynced-pgd` error of `owner` per slot that differs, the LDT remap
/// slot `ldt_slot` left out. `false` if the table could not be read.
pub fn audit_top(
    walk: &Walk,
    map: &LiveMap<'_>,
    (reference, active): (&Table, u64),
    (owner, ldt_slot): (Owner, usize),
    (src, copy): (&mut impl TableSource, &mut Table),
    emit: &mut dyn FnMut(Finding) -> Result<(), NoRoom>,
) -> Result<bool, NoRoom> {
    if !src.copy_table(active, copy) {
        return Ok(false);
    }
    let half = ENTRIES / 2;
    for slot in differing_slots(&reference[half..], &copy[half..], ldt_slot) {
        emit(Finding::unsynced(walk, map, slot, copy[half + slot], owner))?;
    }
    Ok(true)
}

/// What a serial check is of: the walk configuration, the documented map
/// against the live bases, the reference table, where the direct map
/// starts and System RAM (physical, inclusive, in address order).
#[derive(Clone, Copy)]
pub struct Target<'a, 'm> {
    /// The walk configuration.
    pub walk: Walk,
    /// The documented map resolved against the live bases.
    pub map: &'a LiveMap<'m>,
    /// The reference top-level table (physical).
    pub reference: u64,
    /// `page_offset_base`.
    pub page_offset_base: u64,
    /// System RAM.
    pub ram: &'a [(u64, u64)],
}

/// Why a serial check stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckError {
    /// The reference top-level table could not be read.
    NoReference,
    /// A list could not grow.
    NoRoom,
}

impl From<NoRoom> for CheckError {
    fn from(_: NoRoom) -> Self {
        CheckError::NoRoom
    }
}

/// Walk the kernel half of the reference table (at `reference`) into
/// `ranges` and `cleared`, coalesced, in address order; `top` and
/// `scratch` are working space. Returns the walk's counts.
pub fn walk_reference<L: RangeList>(
    walk: &Walk,
    reference: u64,
    src: &mut impl TableSource,
    (top, scratch): (&mut Table, &mut Scratch),
    (ranges, cleared): (&mut L, &mut L),
) -> Result<WalkCounts, CheckError> {
    if !src.copy_table(reference, top) {
        return Err(CheckError::NoReference);
    }
    let mut counts = WalkCounts::default();
    let mut sink = BatchSink::new(ranges, cleared, &mut counts, walk.phys_mask);
    walk.walk_top(Top::kernel_half(reference, top), src, scratch, &mut sink);
    if sink.no_room() {
        return Err(CheckError::NoRoom);
    }
    Ok(counts)
}

/// What the walk of the reference found: its ranges, its cleared
/// stretches and its counts.
#[derive(Clone, Copy)]
pub struct Walked<'w> {
    /// The ranges, in address order.
    pub ranges: &'w [Range],
    /// The stretches whose present bit is cleared.
    pub cleared: &'w [Range],
    /// The walk's counts.
    pub counts: &'w WalkCounts,
}

/// The reference's own checks, one after the other, on what
/// [`walk_reference`] found: the per-range rules (and the bytes mapped per
/// documented row, into `mapped`), then System RAM against the direct map.
/// What the walk noted ([`note_walk`]) and the recheck ([`recheck`]) come
/// after the other tables' checks, as in the module's scan. Returns the
/// kernel text's aliases, which the other tables' rules need too.
pub fn check_walked<F: FindingList>(
    target: Target<'_, '_>,
    walked: Walked<'_>,
    (src, scratch): (&mut impl TableSource, &mut Scratch),
    findings: &mut Findings<F>,
    mapped: &mut [[u64; 3]],
) -> Result<TextAliases, NoRoom> {
    let map = target.map;
    let text = text_of(map, walked.ranges);
    let kernel = TableKind::Kernel;
    let (list, tally) = (&mut findings.list, &mut findings.tally);
    check_ranges(map, &text, kernel, walked.ranges, mapped, tally, &mut |f| {
        list.push(f)
    })?;
    let lists = (walked.ranges, walked.cleared);
    system_ram(target, lists, (src, scratch), &mut || {}, findings)?;
    Ok(text)
}

/// System RAM (`target.ram`) against the direct map of the reference's
/// `ranges` and `cleared` stretches ([`DirectMapSeen::check_ram`]), its
/// `ram-missing` errors read again ([`DirectMapSeen::recheck_missing`]),
/// into `findings`; `relax` runs after each lookup (the module's
/// `cond_resched()`). A full check's phase, and what a window re-check of
/// the direct map or the modules area runs again
/// ([`window::Redo`](super::window::Redo)).
pub fn system_ram<F: FindingList>(
    target: Target<'_, '_>,
    (ranges, cleared): (&[Range], &[Range]),
    (src, scratch): (&mut impl TableSource, &mut Scratch),
    relax: &mut dyn FnMut(),
    findings: &mut Findings<F>,
) -> Result<(), NoRoom> {
    let seen = DirectMapSeen {
        walk: &target.walk,
        reference: target.reference,
        base: target.page_offset_base,
        ranges,
        cleared,
    };
    let ours = findings.list.as_mut_slice().len();
    let mut emit = |f| findings.push(f);
    let mut ram = RamCheck {
        map: target.map,
        src: &mut *src,
        scratch: &mut *scratch,
        relax,
        emit: &mut emit,
    };
    seen.check_ram(target.ram, &mut ram)?;
    seen.recheck_missing(&mut findings.list.as_mut_slice()[ours..], src, scratch);
    Ok(())
}
