// SPDX-License-Identifier: GPL-2.0

//! The rules every mapped range is held against.

use core::cell::Cell;

use super::layout::{evaluate, Live, VSYSCALL_ADDR};
use super::map::{DocMap, Kind, RegionId};
use super::pte::{Effective, Flags, Level, PageTableEntry, ENTRIES};
use super::walk::{Range, Resolved, Walk};

/// A rule, with a stable id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// A mapping in a documented hole or guard hole.
    HoleMapping,
    /// A mapping outside every documented region.
    Undocumented,
    /// A region mapped past its documented size.
    RegionOverflow,
    /// Writable and executable.
    WriteExec,
    /// User-accessible kernel page other than the vsyscall page.
    UserKernel,
    /// Executable page in the direct map, vmemmap, vmalloc or cpu_entry_area.
    ExecData,
    /// A writable alias of kernel text.
    WritableText,
    /// System RAM the direct map does not map.
    RamMissing,
    /// An mm's or a CPU's active top-level table whose kernel half differs
    /// from the reference.
    UnsyncedPgd,
    /// A table that could not be read during the walk (changed under it).
    UnreadableTable,
    /// Tables that kept changing while they were read, or a finding that no
    /// longer held when it was checked again: never more than info.
    TableChanged,
    /// The EFI window mapped in a table other than EFI's own.
    EfiWindow,
    /// An EFI runtime mapping outside the EFI window and not 1:1.
    EfiOutside,
    /// Writable and executable in the EFI table.
    EfiWriteExec,
    /// Kernel memory in a user-mode (PTI) table beyond what PTI clones.
    PtiLeak,
    /// Executable memory outside the kernel image whose owner the kernel's
    /// symbol table does not name (info): code nobody accounts for.
    CodeUnowned,
    /// A mapping in the reference's user half where `text_poke()`'s
    /// temporary mm maps the text it patches.
    PokeLeak,
}

impl Rule {
    /// Every rule, in the order `findings` documents them.
    pub const ALL: [Rule; 17] = [
        Rule::HoleMapping,
        Rule::Undocumented,
        Rule::RegionOverflow,
        Rule::WriteExec,
        Rule::UserKernel,
        Rule::ExecData,
        Rule::WritableText,
        Rule::RamMissing,
        Rule::UnsyncedPgd,
        Rule::UnreadableTable,
        Rule::TableChanged,
        Rule::EfiWindow,
        Rule::EfiOutside,
        Rule::EfiWriteExec,
        Rule::PtiLeak,
        Rule::CodeUnowned,
        Rule::PokeLeak,
    ];

    /// Stable id used in `findings`.
    pub const fn id(self) -> &'static str {
        match self {
            Rule::HoleMapping => "hole-mapping",
            Rule::Undocumented => "undocumented-mapping",
            Rule::RegionOverflow => "region-overflow",
            Rule::WriteExec => "wx",
            Rule::UserKernel => "user-kernel",
            Rule::ExecData => "exec-data",
            Rule::WritableText => "writable-text",
            Rule::RamMissing => "ram-missing",
            Rule::UnsyncedPgd => "unsynced-pgd",
            Rule::UnreadableTable => "unreadable-table",
            Rule::TableChanged => "table-changed",
            Rule::EfiWindow => "efi-window",
            Rule::EfiOutside => "efi-outside",
            Rule::EfiWriteExec => "efi-wx",
            Rule::PtiLeak => "pti-leak",
            Rule::CodeUnowned => "code-unowned",
            Rule::PokeLeak => "poke-leak",
        }
    }

    /// What the rule means, for people.
    pub const fn reason(self) -> &'static str {
        match self {
            Rule::HoleMapping => "a leaf is mapped inside a documented unused or guard hole",
            Rule::Undocumented => "a leaf is mapped where the documentation describes nothing",
            Rule::RegionOverflow => "mapped past the region's documented size",
            Rule::WriteExec => "writable and executable (W+X)",
            Rule::UserKernel => "user-accessible kernel mapping (only the vsyscall page may be)",
            Rule::ExecData => "executable mapping in a data-only region",
            Rule::WritableText => "writable alias of kernel text in the direct map",
            Rule::RamMissing => "System RAM is not mapped in the direct map",
            Rule::UnsyncedPgd => {
                "the kernel half of this top-level table differs from the reference"
            }
            Rule::UnreadableTable => {
                "a page table could not be read (changed or freed during the walk)"
            }
            Rule::TableChanged => {
                "the tables changed while they were read; the next scan sees them settled"
            }
            Rule::EfiWindow => {
                "the EFI window is mapped outside efi_mm (EFI runtime mappings are only in its table)"
            }
            Rule::EfiOutside => {
                "an EFI runtime mapping outside the EFI window that is not 1:1 (virtual = physical)"
            }
            Rule::EfiWriteExec => {
                "writable and executable in the EFI table, where the EFI memory-attributes table forbids it"
            }
            Rule::PtiLeak => {
                "kernel memory in a user-mode (PTI) table beyond what PTI clones for user mode"
            }
            Rule::CodeUnowned => {
                "executable, outside the kernel image, and no module, BPF program or trampoline the symbol table knows owns it"
            }
            Rule::PokeLeak => {
                "mapped in the kernel's own table where text_poke's temporary mm maps text to patch (user half, from TASK_UNMAPPED_BASE)"
            }
        }
    }

    /// Whether a finding of this rule is about one leaf range of the
    /// reference tables, so that it can be checked again there.
    pub const fn is_about_a_leaf(self) -> bool {
        matches!(
            self,
            Rule::HoleMapping
                | Rule::Undocumented
                | Rule::RegionOverflow
                | Rule::WriteExec
                | Rule::UserKernel
                | Rule::ExecData
                | Rule::WritableText
                | Rule::EfiWindow
        )
    }

    /// Whether a window re-check makes this rule's findings again (the
    /// per-range rules', `code-unowned`'s): the other rules' are the last
    /// full check's, kept.
    pub const fn window_remakes(self) -> bool {
        self.is_about_a_leaf() || matches!(self, Rule::CodeUnowned)
    }

    /// Position in [`Rule::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// For information.
    Info,
    /// Suspicious, not necessarily wrong.
    Warn,
    /// A violation.
    Error,
}

impl Severity {
    /// Stable name.
    pub const fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Error => "error",
        }
    }
}

/// One finding on a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// How serious.
    pub severity: Severity,
    /// Index of the documented row the range lies in, if any.
    pub row: Option<usize>,
    /// The range (or the part of it the finding is about).
    pub range: Range,
    /// More specific reason, or the rule's.
    pub reason: &'static str,
    /// The CPU or task the finding is about, for per-table rules.
    pub owner: Owner,
}

impl Finding {
    /// A finding about the reference tables' addresses `first..=last`
    /// rather than about a leaf (System RAM the direct map lacks).
    pub fn about_addresses(
        rule: Rule,
        severity: Severity,
        map: &LiveMap<'_>,
        first: u64,
        last: u64,
        phys: u64,
        reason: &'static str,
    ) -> Finding {
        Finding {
            rule,
            severity,
            row: map.place(first).0.row(),
            range: Range {
                start: first,
                last,
                phys,
                flags: Flags(0),
                effective: Effective::ALL,
                level: Level::Pte,
            },
            reason,
            owner: Owner::Reference,
        }
    }

    /// A finding about one page-table entry at `level` mapping `va` (its
    /// whole span), rather than about a leaf range.
    pub fn about_entry(
        walk: &Walk,
        map: &LiveMap<'_>,
        (rule, severity, reason): (Rule, Severity, &'static str),
        (va, level, entry): (u64, Level, u64),
        owner: Owner,
    ) -> Finding {
        Finding {
            rule,
            severity,
            row: map.place(va).0.row(),
            range: Range {
                start: va,
                last: va + (level.entry_size() - 1),
                phys: PageTableEntry(entry).next_table(walk.phys_mask),
                flags: Flags::of(entry),
                effective: Effective::ALL,
                level,
            },
            reason,
            owner,
        }
    }

    /// `unsynced-pgd`: top-level slot `slot` (index in the kernel half) of
    /// `owner`'s table holds `entry`, which the reference does not.
    pub fn unsynced(
        walk: &Walk,
        map: &LiveMap<'_>,
        slot: usize,
        entry: u64,
        owner: Owner,
    ) -> Finding {
        let rule = Rule::UnsyncedPgd;
        let at = (walk.top_va(slot + ENTRIES / 2), walk.top, entry);
        Finding::about_entry(walk, map, (rule, Severity::Error, rule.reason()), at, owner)
    }
}

/// Most findings of one rule a scan keeps; the rest are counted.
pub const FINDINGS_PER_RULE: u64 = 256;

/// Per rule: how many findings a scan made and how many it kept, so that
/// a kernel with millions of violations neither fails the scan nor hides
/// how many there were.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    found: [u64; Rule::ALL.len()],
    kept: [u64; Rule::ALL.len()],
}

impl Tally {
    /// Count a finding of `rule`; whether to keep it.
    pub fn admit(&mut self, rule: Rule) -> bool {
        let i = rule.index();
        self.found[i] += 1;
        let keep = self.kept[i] < FINDINGS_PER_RULE;
        if keep {
            self.kept[i] += 1;
        }
        keep
    }

    /// Count `n` more findings of `rule`, none kept: the ones a part of
    /// the ranges checked on its own left out past its own
    /// [`FINDINGS_PER_RULE`] (they would be past the first that many in
    /// address order too, so a parallel check keeps what a serial one does).
    pub fn omit(&mut self, rule: Rule, n: u64) {
        self.found[rule.index()] += n;
    }

    /// Findings of `rule` left out so far.
    pub const fn dropped(&self) -> [u64; Rule::ALL.len()] {
        let mut out = [0; Rule::ALL.len()];
        let mut i = 0;
        while i < out.len() {
            out[i] = self.found[i] - self.kept[i];
            i += 1;
        }
        out
    }

    /// Findings of `rule` made.
    pub const fn found(&self, rule: Rule) -> u64 {
        self.found[rule.index()]
    }

    /// Findings of `rule` left out.
    pub const fn omitted(&self, rule: Rule) -> u64 {
        self.found[rule.index()] - self.kept[rule.index()]
    }
}

/// Whether a finding about a leaf range still holds for `now`, the leaf
/// the reference tables map at its start when checked again: the same
/// level, attributes and effective permissions.
pub fn still_holds(finding: &Finding, now: Option<&Resolved>) -> bool {
    let Some(now) = now.filter(|r| r.present()) else {
        return false;
    };
    let range = &finding.range;
    now.level == range.level
        && Flags::of(now.entry).shown(now.level) == range.flags
        && now.effective == range.effective
}

/// Whose table a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The reference tables.
    Reference,
    /// A CPU's active table, or what a CPU saw.
    Cpu(u32),
    /// A task's mm (pid and command name).
    Task(i32, [u8; 16]),
    /// EFI's table (`efi_mm`).
    Efi,
    /// The reference's user-mode (PTI) table.
    UserTable,
    /// A task's user-mode (PTI) table (pid and command name).
    TaskUser(i32, [u8; 16]),
}

/// The page table a range was walked in, as the rules see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    /// The reference (`init_mm`'s): every rule.
    Kernel,
    /// `efi_mm`'s entries that differ from the reference: the EFI window,
    /// the 1:1 runtime mappings, and what EFI copies of the kernel's.
    /// `memattr`: the firmware has an EFI memory-attributes table, so the
    /// kernel has made runtime code read-only and data non-executable.
    Efi {
        /// Whether the firmware gave an EFI memory-attributes table.
        memattr: bool,
    },
    /// An mm's own slot of the LDT remap area (PTI).
    Ldt,
    /// A user-mode top-level table's kernel half (PTI): only what PTI
    /// clones for user mode may be there.
    User,
}

impl Owner {
    /// The `table=` word of a finding about this owner's table.
    pub const fn table(&self) -> &'static str {
        match self {
            Owner::Reference => "kernel",
            Owner::Cpu(_) => "cpu",
            Owner::Task(..) => "mm",
            Owner::Efi => "efi",
            Owner::UserTable | Owner::TaskUser(..) => "user",
        }
    }

    /// A task's command name as text.
    pub fn comm(name: &[u8; 16]) -> &str {
        let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        core::str::from_utf8(&name[..len]).unwrap_or("?")
    }
}

/// Where an address lies, in live terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Inside the live extent of documented row `row` (a region).
    Region(usize),
    /// In documented hole row `row`, or in a region row whose live extent moved away.
    Hole(usize),
    /// Past the documented size of region row `row` (before anything else starts).
    Overflow(usize),
    /// No documented row.
    Undocumented,
}

impl Place {
    /// The documented row, if any.
    pub const fn row(self) -> Option<usize> {
        match self {
            Place::Region(row) | Place::Hole(row) | Place::Overflow(row) => Some(row),
            Place::Undocumented => None,
        }
    }
}

const MAX_ROWS: usize = 64;

/// The real-mode trampoline lives below this physical address.
pub const REAL_MODE_LIMIT: u64 = 1 << 20;

/// The documented map resolved against the live layout, for classifying addresses.
#[derive(Clone, Debug)]
pub struct LiveMap<'a> {
    doc: &'a DocMap<'a>,
    /// (row, first, last) of every present region, in row order.
    live: [(usize, u64, u64); MAX_ROWS],
    count: usize,
    /// Documented size of each live region (for overflow).
    doc_size: [u64; MAX_ROWS],
    /// The last answer of `place` and the addresses it holds for: callers
    /// go through ranges in address order, so most lookups hit.
    last: Cell<(u64, u64, Place)>,
}

impl<'a> LiveMap<'a> {
    /// Resolve `doc` against `live`.
    pub fn new(doc: &'a DocMap<'a>, live: &Live) -> Self {
        let mut map = LiveMap {
            doc,
            live: [(0, 0, 0); MAX_ROWS],
            count: 0,
            doc_size: [0; MAX_ROWS],
            last: Cell::new((1, 0, Place::Undocumented)),
        };
        for r in evaluate(doc, live) {
            let row = &doc.regions[r.index];
            if let (Kind::Region, Some((first, last)), true) =
                (row.kind, r.live, map.count < MAX_ROWS)
            {
                map.live[map.count] = (r.index, first, last);
                map.doc_size[map.count] = r.doc_end - r.doc_start;
                map.count += 1;
            }
        }
        map
    }

    /// The documented map.
    pub fn doc(&self) -> &DocMap<'a> {
        self.doc
    }

    /// Where `addr` lies, and the last address with the same answer.
    /// Inlined: the rules ask for every range, and nearly every answer is
    /// the last one's.
    #[inline(always)]
    pub fn place(&self, addr: u64) -> (Place, u64) {
        let (first, last, place) = self.last.get();
        if first <= addr && addr <= last {
            return (place, last);
        }
        self.look_up_and_keep(addr)
    }

    #[inline(never)]
    fn look_up_and_keep(&self, addr: u64) -> (Place, u64) {
        let (place, last) = self.lookup(addr);
        self.last.set((addr, last, place));
        (place, last)
    }

    fn lookup(&self, addr: u64) -> (Place, u64) {
        let live = &self.live[..self.count];
        // The innermost live region holding addr (vsyscall lies in the fixmap).
        let mut best: Option<(usize, u64, u64)> = None;
        for &(row, first, last) in live {
            if first <= addr && addr <= last && best.is_none_or(|b| last - first < b.2 - b.1) {
                best = Some((row, first, last));
            }
        }
        // Nothing of another region may start inside the answer.
        let next_start = live
            .iter()
            .filter(|&&(_, first, _)| first > addr)
            .map(|&(_, first, _)| first - 1)
            .min()
            .unwrap_or(u64::MAX);
        if let Some((row, _, last)) = best {
            return (Place::Region(row), last.min(next_start));
        }
        // Just past a region, within its documented size again: an overflow.
        if let Some((i, &(row, _, last))) = live
            .iter()
            .enumerate()
            .filter(|(_, &(_, _, last))| last < addr)
            .max_by_key(|(_, &(_, _, last))| last)
        {
            if addr - last <= self.doc_size[i] && self.doc.regions[row].id.is_randomized() {
                let end = last.saturating_add(self.doc_size[i]).min(next_start);
                return (Place::Overflow(row), end);
            }
        }
        match self.doc.index_of_addr(addr) {
            Some(row) => (Place::Hole(row), self.doc.regions[row].end.min(next_start)),
            None => {
                let doc_next = (0..self.doc.regions.len())
                    .map(|i| self.doc.start_of(i))
                    .filter(|&s| s > addr)
                    .map(|s| s - 1)
                    .min()
                    .unwrap_or(u64::MAX);
                (Place::Undocumented, doc_next.min(next_start))
            }
        }
    }
}

/// Physical ranges of executable kernel text, collected before the rules run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextAliases {
    ranges: [(u64, u64); 32],
    count: usize,
}

impl TextAliases {
    /// Note `range` if it is executable kernel text.
    pub fn note(&mut self, map: &LiveMap<'_>, range: &Range) {
        let (place, _) = map.place(range.start);
        if let Place::Region(row) = place {
            if map.doc().regions[row].id == RegionId::KernelText && !range.effective.nx {
                let phys = (range.phys, range.phys + (range.size() - 1));
                let capacity = self.ranges.len();
                match self.ranges[..self.count].last_mut() {
                    Some(last) if last.1.wrapping_add(1) == phys.0 => last.1 = phys.1,
                    _ if self.count < capacity => {
                        self.ranges[self.count] = phys;
                        self.count += 1;
                    }
                    _ => {}
                }
            }
        }
    }

    /// Whether physical `[first, last]` overlaps kernel text.
    pub fn overlaps(&self, first: u64, last: u64) -> bool {
        self.ranges[..self.count]
            .iter()
            .any(|&(a, b)| first <= b && a <= last)
    }

    /// The part of physical `[first, last]` that is kernel text: from the
    /// first byte of text in it to the last (`None` if there is none).
    pub fn within(&self, first: u64, last: u64) -> Option<(u64, u64)> {
        let overlapping = self.ranges[..self.count]
            .iter()
            .filter(|&&(a, b)| first <= b && a <= last);
        let lo = overlapping.clone().map(|&(a, _)| a.max(first)).min()?;
        let hi = overlapping.map(|&(_, b)| b.min(last)).max()?;
        Some((lo, hi))
    }

    /// Number of text ranges seen (0 means the walk found no text: suspicious).
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no text was seen.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Every per-range rule on `range`, split at region boundaries: the
/// findings, in address order.
pub fn check_range<'m, 'a>(
    map: &'m LiveMap<'a>,
    text: &'m TextAliases,
    table: TableKind,
    range: &Range,
) -> RangeFindings<'m, 'a> {
    RangeFindings {
        map,
        text,
        table,
        range: *range,
        next_start: Some(range.start),
        part: *range,
        place: Place::Undocumented,
        fired: Fired::NONE,
    }
}

/// Where `range` lies, if it lies in one place and no rule fires on it:
/// what nearly every range of a healthy kernel gives, found without
/// building [`check_range`]'s iterator. `None`: check it with that.
#[inline]
pub fn nothing_fires(
    map: &LiveMap<'_>,
    text: &TextAliases,
    table: TableKind,
    range: &Range,
) -> Option<Place> {
    let (place, last) = map.place(range.start);
    (last >= range.last && fired_on(map, text, table, place, range) == Fired::NONE).then_some(place)
}

/// Iterator of [`check_range`]: one part of the range at a time, and in
/// it one rule that fired at a time. What fired is a bit set, so that a
/// part nothing fires on (nearly every one) costs a few comparisons and
/// no [`Finding`] is built for it.
pub struct RangeFindings<'m, 'a> {
    map: &'m LiveMap<'a>,
    text: &'m TextAliases,
    table: TableKind,
    range: Range,
    /// Start of the next part, `None` once the range is done.
    next_start: Option<u64>,
    /// The current part, where it lies, and what fired there not yet returned.
    part: Range,
    place: Place,
    fired: Fired,
}

impl Iterator for RangeFindings<'_, '_> {
    type Item = Finding;

    fn next(&mut self) -> Option<Finding> {
        loop {
            if let Some(verdict) = self.fired.take_first() {
                return Some(self.finding(verdict));
            }
            let start = self.next_start?;
            let range = &self.range;
            let (place, place_last) = self.map.place(start);
            let last = place_last.min(range.last);
            self.part = Range {
                start,
                last,
                phys: range.phys + (start - range.start),
                ..*range
            };
            self.place = place;
            self.next_start = (last < range.last).then(|| last + 1);
            self.fired = fired_on(self.map, self.text, self.table, place, &self.part);
        }
    }
}

impl RangeFindings<'_, '_> {
    /// The part of the current part that breaks the rule of `verdict`:
    /// all of it, but for a writable alias of text, only the alias (a
    /// direct-map range of a gigabyte merely contains the text's 12 MiB).
    fn breaking(&self, verdict: Verdict) -> Range {
        let part = self.part;
        let text = match verdict {
            Verdict::WritableText => self.text.within(part.phys, part.phys + (part.size() - 1)),
            _ => None,
        };
        match text {
            Some((first, last)) => Range {
                start: part.start + (first - part.phys),
                last: part.start + (last - part.phys),
                phys: first,
                ..part
            },
            None => part,
        }
    }

    /// The finding `verdict` stands for on the current part.
    fn finding(&self, verdict: Verdict) -> Finding {
        let row = self.place.row();
        let (rule, severity, reason) = match verdict {
            Verdict::EfiOutside => (Rule::EfiOutside, Severity::Error, None),
            Verdict::EfiWriteExec => {
                let memattr = matches!(self.table, TableKind::Efi { memattr: true });
                let (severity, reason) = efi_wx_verdict(memattr, None);
                (Rule::EfiWriteExec, severity, Some(reason))
            }
            Verdict::EfiWindow => (Rule::EfiWindow, Severity::Error, None),
            Verdict::PtiLeak => (Rule::PtiLeak, Severity::Error, None),
            Verdict::Hole => (Rule::HoleMapping, Severity::Error, None),
            Verdict::Overflow => (Rule::RegionOverflow, Severity::Error, None),
            Verdict::Undocumented => (Rule::Undocumented, Severity::Error, None),
            Verdict::WriteExec => (Rule::WriteExec, Severity::Error, None),
            Verdict::UserKernel => (Rule::UserKernel, Severity::Error, None),
            Verdict::UserLeafOnly => (
                Rule::UserKernel,
                Severity::Warn,
                Some("leaf entry grants user access; an upper level denies it"),
            ),
            Verdict::Trampoline => (
                Rule::ExecData,
                Severity::Info,
                Some("read-only executable below 1 MiB: the real-mode trampoline"),
            ),
            Verdict::ExecData => (Rule::ExecData, Severity::Error, None),
            Verdict::WritableText => (Rule::WritableText, Severity::Error, None),
        };
        Finding {
            rule,
            severity,
            row,
            range: self.breaking(verdict),
            reason: reason.unwrap_or(rule.reason()),
            owner: match self.table {
                TableKind::Efi { .. } => Owner::Efi,
                _ => Owner::Reference,
            },
        }
    }
}

/// What a rule says of one part, in the order the findings are given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Verdict {
    EfiOutside,
    EfiWriteExec,
    EfiWindow,
    PtiLeak,
    Hole,
    Overflow,
    Undocumented,
    WriteExec,
    UserKernel,
    UserLeafOnly,
    Trampoline,
    ExecData,
    WritableText,
}

impl Verdict {
    const ALL: [Verdict; 13] = [
        Verdict::EfiOutside,
        Verdict::EfiWriteExec,
        Verdict::EfiWindow,
        Verdict::PtiLeak,
        Verdict::Hole,
        Verdict::Overflow,
        Verdict::Undocumented,
        Verdict::WriteExec,
        Verdict::UserKernel,
        Verdict::UserLeafOnly,
        Verdict::Trampoline,
        Verdict::ExecData,
        Verdict::WritableText,
    ];
}

// `Fired` keeps verdict `v` in bit `v as u8` and reads it back as
// `Verdict::ALL[bit]`: the two orders must be one.
const _: () = {
    let mut i = 0;
    while i < Verdict::ALL.len() {
        assert!(Verdict::ALL[i] as usize == i);
        i += 1;
    }
};

/// The verdicts that fired on a part, one bit each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fired(u16);

impl Fired {
    const NONE: Fired = Fired(0);

    fn add(&mut self, verdict: Verdict) {
        self.0 |= 1 << verdict as u8;
    }

    /// The first verdict left, in [`Verdict::ALL`] order, removed.
    fn take_first(&mut self) -> Option<Verdict> {
        let first = Verdict::ALL
            .get(self.0.trailing_zeros() as usize)
            .copied()?;
        self.0 &= self.0 - 1;
        Some(first)
    }
}

/// `EFI_BOOT_SERVICES_CODE` and `EFI_BOOT_SERVICES_DATA` (UEFI memory types).
const EFI_BOOT_SERVICES: [u32; 2] = [3, 4];

/// How serious a W+X mapping in EFI's table is, given whether the firmware
/// has a memory-attributes table and the EFI memory type of what it maps
/// (`None`: not known yet, or not in the EFI memory map).
///
/// With the attributes table, the kernel has made every runtime code region
/// read-only and every runtime data region non-executable: W+X left there
/// is an error. Boot-services memory the kernel keeps is the exception: page
/// zero may hold boot-services code, `efi_reserve_boot_services()` tags it
/// runtime so that it is never freed, and so `efi_unmap_boot_services()`
/// leaves the W+X quirk mapping `efi_map_region()` made for it; the
/// attributes table does not cover it. Without the table, runtime code is
/// W+X by necessity.
pub fn efi_wx_verdict(memattr: bool, memory_type: Option<u32>) -> (Severity, &'static str) {
    match (memattr, memory_type) {
        (_, Some(t)) if EFI_BOOT_SERVICES.contains(&t) => (
            Severity::Info,
            "W+X mapping of boot-services memory the kernel keeps (page zero's quirk mapping); the memory-attributes table does not cover it",
        ),
        (true, _) => (Severity::Error, Rule::EfiWriteExec.reason()),
        (false, _) => (
            Severity::Info,
            "W+X EFI runtime mapping; the firmware has no memory-attributes table to split code from data",
        ),
    }
}

/// Whether PTI maps `part` of region `id` into user-mode tables
/// (`arch/x86/mm/pti.c`): the cpu_entry_area, the ESPFIX stacks, an mm's
/// LDT remap, and of the kernel image only read-only parts (the entry text
/// always; all text and rodata where global kernel pages are allowed,
/// `pti_clone_kernel_text()`). Never anything writable of the image. PTI
/// also maps each possible CPU's TSS page (in the direct map, where the
/// per-CPU areas are): the caller, which knows where those are, drops the
/// findings about them.
fn pti_clones(id: Option<RegionId>, part: &Range) -> bool {
    match id {
        Some(RegionId::CpuEntryArea | RegionId::Espfix | RegionId::LdtRemap) => true,
        Some(RegionId::KernelText) => !part.effective.rw,
        _ => false,
    }
}

/// The lower (user) half of the address space.
const fn is_lower_half(addr: u64) -> bool {
    addr >> 63 == 0
}

/// Which rules fire on `part`, which lies at `place` of `table`.
#[inline(always)]
fn fired_on(
    map: &LiveMap<'_>,
    text: &TextAliases,
    table: TableKind,
    place: Place,
    part: &Range,
) -> Fired {
    let mut fired = Fired::NONE;
    let id = place.row().map(|r| map.doc().regions[r].id);
    let in_region = matches!(place, Place::Region(_));
    let in_efi_window = id == Some(RegionId::Efi) && in_region;
    if let TableKind::Efi { .. } = table {
        // EFI's own mappings: the window and the 1:1 map. What it holds
        // elsewhere in the kernel half is the kernel's, checked as such.
        let one_to_one = is_lower_half(part.start) && part.phys == part.start;
        if in_efi_window || is_lower_half(part.start) {
            if !in_efi_window && !one_to_one {
                fired.add(Verdict::EfiOutside);
            }
            if part.effective.is_wx() {
                fired.add(Verdict::EfiWriteExec);
            }
            return fired;
        }
    } else if in_efi_window {
        fired.add(Verdict::EfiWindow);
    }
    let vsyscall_page = part.start == VSYSCALL_ADDR && part.last == VSYSCALL_ADDR + 0xfff;
    if table == TableKind::User && !(in_region && pti_clones(id, part)) && !vsyscall_page {
        fired.add(Verdict::PtiLeak);
    }
    match place {
        Place::Hole(_) => fired.add(Verdict::Hole),
        Place::Overflow(_) => fired.add(Verdict::Overflow),
        Place::Undocumented => fired.add(Verdict::Undocumented),
        Place::Region(_) => {}
    }
    if part.effective.is_wx() {
        fired.add(Verdict::WriteExec);
    }
    if part.flags.has(Flags::US) && !vsyscall_page {
        fired.add(if part.effective.us {
            Verdict::UserKernel
        } else {
            Verdict::UserLeafOnly
        });
    }
    let data_only = matches!(
        id,
        Some(RegionId::DirectMap | RegionId::Vmemmap | RegionId::Vmalloc | RegionId::CpuEntryArea)
    );
    if data_only && in_region && !part.effective.nx {
        // The real-mode trampoline is copied below 1 MiB and made
        // executable in the direct map by design (arch/x86/realmode).
        let trampoline = id == Some(RegionId::DirectMap)
            && !part.effective.rw
            && part.phys + (part.size() - 1) < REAL_MODE_LIMIT;
        fired.add(if trampoline {
            Verdict::Trampoline
        } else {
            Verdict::ExecData
        });
    }
    if id == Some(RegionId::DirectMap)
        && part.effective.rw
        && text.overlaps(part.phys, part.phys + (part.size() - 1))
    {
        fired.add(Verdict::WritableText);
    }
    fired
}

/// Report the parts of System RAM `[ram_first, ram_last]` (physical) that
/// the direct-map ranges (sorted, in `direct`) do not cover.
pub fn check_ram(
    direct: impl Iterator<Item = (u64, u64)>,
    ram_first: u64,
    ram_last: u64,
    mut missing: impl FnMut(u64, u64),
) {
    let mut next = ram_first;
    for (first, last) in direct {
        if last < next {
            continue;
        }
        if first > ram_last {
            break;
        }
        if first > next {
            missing(next, first - 1);
        }
        if last >= ram_last {
            return;
        }
        next = last + 1;
    }
    if next <= ram_last {
        missing(next, ram_last);
    }
}
