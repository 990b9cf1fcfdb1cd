// SPDX-License-Identifier: GPL-2.0

//! The records of vmlayout's files (`summary`, `layout`, `map`,
//! `findings`, `stats`), written from a scan's result whoever made it: the
//! module's debugfs files and `vmlayout check`'s snapshot are the same
//! writers, so the tools that read one read the other.
//!
//! The format is `Documentation/vmlayout/format.rst`.

use core::fmt::{self, Write};

use super::layout::{evaluate, Live, TEXT_SOURCE};
use super::map::DocMap;
use super::pte::{Flags, Level};
use super::record::Record;
use super::rules::{Finding, LiveMap, Owner, Rule, Severity, Tally};
use super::runs::runs;
use super::seen::Seen;
use super::walk::Range;

/// Who read the tables, for `summary`'s `origin` record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The module, in the kernel it checks.
    Module,
    /// `vmlayout check` on `/proc/kcore`, in the running kernel.
    Kcore,
    /// `vmlayout check` on a crash dump.
    Vmcore,
}

impl Origin {
    /// The `source=` word.
    pub const fn name(self) -> &'static str {
        match self {
            Origin::Module => "module",
            Origin::Kcore => "kcore",
            Origin::Vmcore => "vmcore",
        }
    }
}

/// `summary`'s `origin` record: who read the tables.
pub fn write_origin<W: Write>(f: &mut W, origin: Origin) -> fmt::Result {
    Record::new(f, "origin")?
        .text("source", origin.name())?
        .end()
}

/// `summary`'s `unchecked` record: something this scan could not check
/// (`what`), and why, so that nothing unchecked is silent.
pub fn write_unchecked<W: Write>(f: &mut W, what: &str, reason: &str) -> fmt::Result {
    Record::new(f, "unchecked")?
        .text("what", what)?
        .text("reason", reason)?
        .end()
}

/// Whether a table beside the reference was checked, and why not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checked<'a> {
    /// Checked; `source` says where the table was found.
    Yes(&'a str),
    /// Not checked, and why.
    No(&'a str),
}

/// Write the `paging` and `base` records of `live`, each with where it
/// was read: the paging mode from `paging`, the bases from `sources` (in
/// [`BASES`] order).
pub fn write_bases<W: Write>(
    f: &mut W,
    live: &Live,
    paging: &str,
    sources: &[&str; 7],
) -> fmt::Result {
    Record::new(f, "paging")?
        .num("levels", live.paging.levels())?
        .text("source", paging)?
        .end()?;
    let values = [
        live.page_offset_base,
        live.vmalloc_base,
        live.vmemmap_base,
        live.text_start,
        live.text_slide(),
        live.phys_base,
        live.ram_end,
    ];
    for ((name, value), source) in BASES.iter().zip(values).zip(sources) {
        Record::new(f, "base")?
            .text("name", name)?
            .hex("value", value)?
            .text("source", source)?
            .end()?;
    }
    Ok(())
}

/// The bases `summary` lists, in order.
pub const BASES: [&str; 7] = [
    "page_offset_base",
    "vmalloc_base",
    "vmemmap_base",
    "kernel_text",
    "text_slide",
    "phys_base",
    "ram_end",
];

/// Where the module reads each of [`BASES`].
pub const MODULE_SOURCES: [&str; 7] = [
    "page_offset_base",
    "vmalloc_base",
    "vmemmap_base",
    TEXT_SOURCE,
    "kernel_text - __START_KERNEL_map - CONFIG_PHYSICAL_START",
    "phys_base",
    "System RAM in iomem",
];

/// `summary`'s `table` record for EFI's table.
pub fn write_efi<W: Write>(f: &mut W, efi: Checked<'_>, memattr: bool) -> fmt::Result {
    let rec = Record::new(f, "table")?.text("name", "efi")?;
    match efi {
        Checked::Yes(source) => rec
            .num("checked", 1)?
            .num("memattr", u8::from(memattr))?
            .text("source", source)?,
        Checked::No(reason) => rec.num("checked", 0)?.text("reason", reason)?,
    }
    .end()
}

/// `summary`'s `pti` record.
pub fn write_pti<W: Write>(f: &mut W, pti: bool) -> fmt::Result {
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
        .end()
}

/// `summary`'s `map` records: the documented maps the layout is held against.
pub fn write_maps<'a, W: Write>(
    f: &mut W,
    maps: impl Iterator<Item = &'a DocMap<'a>>,
) -> fmt::Result {
    for map in maps {
        Record::new(f, "map")?
            .text("name", map.name)?
            .text("source", map.source)?
            .num("regions", map.regions.len())?
            .end()?;
    }
    Ok(())
}

/// Bytes a scan found mapped in documented row `row` of `map`: the
/// reference's (`kernel`, per row and leaf level) and the other tables'.
pub fn mapped_bytes<'r>(
    map: &LiveMap<'_>,
    kernel: &[[u64; 3]],
    others: impl Iterator<Item = &'r [Range]>,
    row: usize,
) -> Option<u64> {
    let kernel: u64 = kernel.get(row)?.iter().sum();
    // Plain loops: the iterator chain this was named a symbol of 537
    // characters, which kallsyms (512 at most) warned about in tree.
    let mut sum = 0;
    for ranges in others {
        for range in ranges {
            if map.place(range.start).0.row() == Some(row) {
                sum += range.size();
            }
        }
    }
    Some(kernel + sum)
}

/// `layout`: every row of every map in `maps` held against `live`; a
/// row of the map `current` names gets the bytes `mapped` gives for it,
/// the others (and every row before a scan) `-`.
pub fn write_layout<'a, W: Write>(
    f: &mut W,
    live: &Live,
    maps: impl Iterator<Item = &'a DocMap<'a>>,
    current: &str,
    mapped: &dyn Fn(usize) -> Option<u64>,
) -> fmt::Result {
    for map in maps {
        for r in evaluate(map, live) {
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
            let bytes = (map.name == current).then(|| mapped(r.index)).flatten();
            match bytes {
                Some(bytes) => rec.num("mapped_bytes", bytes)?,
                None => rec.text("mapped_bytes", "-")?,
            }
            .end()?;
        }
    }
    Ok(())
}

/// ptdump's words for a leaf's attributes, comma-separated.
pub struct Attrs(pub Flags, pub Level);

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

/// Text of an [`Attrs`], for the record writer (no allocation: a small buffer).
pub struct AttrBuf {
    buf: [u8; 48],
    len: usize,
}

impl Write for AttrBuf {
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

impl AttrBuf {
    /// The attributes of a leaf of `flags` at `level`.
    pub fn of(flags: Flags, level: Level) -> Self {
        let mut b = AttrBuf {
            buf: [0; 48],
            len: 0,
        };
        // The longest attribute list is 31 bytes; the buffer always fits it.
        let _ = fmt::write(&mut b, format_args!("{}", Attrs(flags, level)));
        b
    }

    /// As text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }
}

/// A `range` record of `kind` for `range` of `table`, left open for more fields.
pub fn range_record<'w, W: Write>(
    f: &'w mut W,
    kind: &str,
    table: &str,
    range: &Range,
    top: Level,
) -> Result<Record<'w, W>, fmt::Error> {
    Record::new(f, kind)?
        .text("table", table)?
        .hex("start", range.start)?
        .hex("last", range.last)?
        .num("size", range.size())?
        .text("level", range.level.name(top))?
        .hex("phys", range.phys)?
        .text("attrs", AttrBuf::of(range.flags, range.level).as_str())?
        .text("rw", if range.effective.rw { "1" } else { "0" })?
        .text("user", if range.effective.us { "1" } else { "0" })?
        .text("exec", if range.effective.nx { "0" } else { "1" })
}

/// Whose code an executable address is, as text (`code` records'
/// `belongs_to=`), `false` if not known: the kernel's symbol table says
/// (the module's `watch.rs`).
pub type BelongsTo<'a> = &'a dyn Fn(u64, &mut NameBuf) -> bool;

/// The largest executable range whose pages are each looked up.
pub const CODE_LOOKUP_MAX: u64 = 64 << 20;

/// A name, cut to fit, for a record (no allocation).
pub struct NameBuf {
    buf: [u8; 64],
    len: usize,
}

impl Write for NameBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let end = self.len + c.len_utf8();
            let Some(slot) = self.buf.get_mut(self.len..end) else {
                break;
            };
            c.encode_utf8(slot);
            self.len = end;
        }
        Ok(())
    }
}

impl NameBuf {
    /// Empty.
    pub const fn new() -> Self {
        NameBuf {
            buf: [0; 64],
            len: 0,
        }
    }

    /// As text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }
}

/// Eight x86 `int3` instructions: what execmem fills the unused part of
/// its ROX cache with (`execmem_fill_trapping_insns()`), and the BPF JIT
/// the unused part of a program pack.
pub const TRAPS: u64 = 0xcccc_cccc_cccc_cccc;

/// The owner of executable memory that no symbol names and that holds
/// only [`TRAPS`]: the execmem ROX cache's (or a BPF pack's) unused part.
pub const UNUSED_CODE: &str = "execmem unused";

/// The owner of executable memory in EFI's table that the kernel's symbol
/// table does not name: the firmware's runtime code (its 1:1 mappings in
/// the user half, and the EFI region's).
pub const EFI_CODE: &str = "efi runtime";

/// Whose code `va` of `owner`'s table is: `belongs_to`'s answer, else
/// [`EFI_CODE`] in EFI's table, else `unknown`.
fn name_code(owner: &Owner, va: u64, belongs_to: BelongsTo<'_>) -> NameBuf {
    let mut name = NameBuf::new();
    if !belongs_to(va, &mut name) {
        let unknown = match owner {
            Owner::Efi => EFI_CODE,
            _ => "unknown",
        };
        let _ = name.write_str(unknown);
    }
    name
}

/// Whose code a kallsyms symbol (`sprint_symbol_no_offset()`'s text:
/// `name`, or `name [module]`) is, into `out`: `kernel` (the image),
/// `module NAME`, either followed by its section where the caller knows it
/// (`kernel text`, `module NAME init`), `bpf PROGRAM` (`bpf_prog_TAG_NAME`,
/// module `bpf`), `ftrace` or `kprobes` (their trampolines and slots,
/// modules `__builtin__ftrace` and `__builtin__kprobes`).
pub fn code_owner(symbol: &str, section: Option<&str>, out: &mut NameBuf) {
    let (name, module) = match symbol.split_once(" [") {
        Some((name, rest)) => (name, rest.split(']').next()),
        None => (symbol, None),
    };
    // BPF programs and trampolines have no section.
    let (_, section) = match module {
        None => return image_code(section, out),
        Some("bpf") => (write!(out, "bpf {name}"), None),
        Some(m) => match m.strip_prefix("__builtin__") {
            Some(what) => (out.write_str(what), None),
            None => (write!(out, "module {m}"), section),
        },
    };
    if let Some(section) = section {
        let _ = write!(out, " {section}");
    }
}

/// The kernel image's code, into `out`: `kernel`, or `kernel SECTION`
/// where the caller knows its `section` (`text`, `entry`, `init`).
pub fn image_code(section: Option<&str>, out: &mut NameBuf) {
    let _ = match section {
        Some(section) => write!(out, "kernel {section}"),
        None => out.write_str("kernel"),
    };
}

impl Default for NameBuf {
    fn default() -> Self {
        Self::new()
    }
}

/// `map`: one table's ranges (of `owner`), with a `region` record before
/// each region's; with `belongs_to`, each executable range followed by
/// `code` records: whose code its pages are.
pub fn write_ranges<W: Write>(
    f: &mut W,
    map: &LiveMap<'_>,
    (owner, belongs_to): (Owner, Option<BelongsTo<'_>>),
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
        if let Some(belongs_to) = belongs_to.filter(|_| !range.effective.nx && run.count == 1) {
            write_code(f, &owner, range, belongs_to)?;
        }
    }
    Ok(())
}

/// `code` records for the executable `range` of `owner`'s table: each run
/// of its pages whose code is one owner's ([`name_code`]), one page at a
/// time: a huge page of the execmem ROX cache holds several modules'
/// text. A range over [`CODE_LOOKUP_MAX`] is not looked up.
fn write_code<W: Write>(
    f: &mut W,
    owner: &Owner,
    range: &Range,
    belongs_to: BelongsTo<'_>,
) -> fmt::Result {
    const PAGE: u64 = 4096;
    let table = owner.table();
    let record = |f: &mut W, (start, last): (u64, u64), name: &str| {
        Record::new(f, "code")?
            .text("table", table)?
            .hex("start", start)?
            .hex("last", last)?
            .num("size", last - start + 1)?
            .text("belongs_to", name)?
            .end()
    };
    if range.size() > CODE_LOOKUP_MAX {
        return record(f, (range.start, range.last), "-");
    }
    let name_at = |va: u64| name_code(owner, va, belongs_to);
    let (mut from, mut name) = (range.start, name_at(range.start));
    let mut page = (range.start | (PAGE - 1)).wrapping_add(1);
    while page != 0 && page <= range.last {
        let next = name_at(page);
        if next.as_str() != name.as_str() {
            record(f, (from, page - 1), name.as_str())?;
            (from, name) = (page, next);
        }
        page = page.wrapping_add(PAGE);
    }
    record(f, (from, range.last), name.as_str())
}

/// What a scan looked at, for `findings`' `scope` record: so that an
/// empty result shows it looked.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scope {
    /// The reference's ranges.
    pub ranges: usize,
    /// System RAM ranges held against the direct map.
    pub ram_ranges: usize,
    /// CPUs whose active table was compared with the reference.
    pub cpus_checked: u32,
    /// Processes whose mm's table was compared with the reference.
    pub mms_checked: u32,
    /// Warn or error findings checked again, and how many no longer held.
    pub rechecked: u64,
    /// Of those, no longer true.
    pub settled: u64,
    /// The reference top-level table (physical).
    pub reference: u64,
    /// Other tables walked.
    pub other_tables: usize,
}

/// `findings`: the scope, every rule's count, then the findings.
pub fn write_findings<W: Write>(
    f: &mut W,
    (doc, top): (&DocMap<'_>, Level),
    (scope, tally): (&Scope, &Tally),
    (findings, seen): (&[Finding], &[Seen]),
    belongs_to: Option<BelongsTo<'_>>,
) -> fmt::Result {
    Record::new(f, "scope")?
        .text("map", doc.name)?
        .num("ranges", scope.ranges)?
        .num("ram_ranges", scope.ram_ranges)?
        .num("cpus_checked", scope.cpus_checked)?
        .num("mms_checked", scope.mms_checked)?
        .num("rechecked", scope.rechecked)?
        .num("settled", scope.settled)?
        .hex("reference", scope.reference)?
        .num("other_tables", scope.other_tables)?
        .end()?;
    for rule in Rule::ALL {
        Record::new(f, "rule")?
            .text("id", rule.id())?
            .num("found", tally.found(rule))?
            .num("omitted", tally.omitted(rule))?
            .text("checks", rule.reason())?
            .end()?;
    }
    for (i, finding) in findings.iter().enumerate() {
        let code = belongs_to.and_then(|b| code_of(finding, b));
        write_finding(f, (doc, top), finding, seen.get(i), code.as_ref())?;
    }
    Ok(())
}

/// Whose code a finding's range holds, by its first page (`name_code`):
/// for an executable range, and for every warn or error finding about a
/// mapping (not a table entry).
pub fn code_of(finding: &Finding, belongs_to: BelongsTo<'_>) -> Option<NameBuf> {
    let range = &finding.range;
    let flagged = finding.severity != Severity::Info;
    // unsynced-pgd is about a table entry, which maps no code of its own.
    if finding.rule == Rule::UnsyncedPgd || range.effective.nx && !flagged {
        return None;
    }
    Some(name_code(&finding.owner, range.start, belongs_to))
}

/// One `finding` record; with `code` ([`code_of`]), whose code its range
/// holds; with `seen` (the module's scans), when it was first and last
/// seen.
pub fn write_finding<W: Write>(
    f: &mut W,
    (doc, top): (&DocMap<'_>, Level),
    finding: &Finding,
    seen: Option<&Seen>,
    code: Option<&NameBuf>,
) -> fmt::Result {
    let region = finding
        .row
        .map_or("undocumented", |r| doc.regions[r].id.name());
    let rec = Record::new(f, "finding")?
        .text("table", finding.owner.table())?
        .text("id", finding.rule.id())?
        .text("severity", finding.severity.name())?
        .text("region", region)?;
    let rec = match &finding.owner {
        Owner::Reference | Owner::UserTable => rec.text("owner", "reference")?,
        Owner::Cpu(cpu) => rec.text("owner", "cpu")?.num("cpu", cpu)?,
        Owner::Task(pid, comm) | Owner::TaskUser(pid, comm) => rec
            .text("owner", "task")?
            .num("pid", pid)?
            .text("comm", Owner::comm(comm))?,
        Owner::Efi => rec.text("owner", "efi")?,
    };
    let range = &finding.range;
    let rec = rec
        .hex("start", range.start)?
        .hex("last", range.last)?
        .num("size", range.size())?
        .text("level", range.level.name(top))?;
    // Attributes are a leaf's; unsynced-pgd is about a table entry.
    let rec = if finding.rule == Rule::UnsyncedPgd {
        rec.hex("entry", range.phys | range.flags.0)?
    } else {
        rec.text("attrs", AttrBuf::of(range.flags, range.level).as_str())?
    };
    let rec = match code {
        Some(name) => rec.text("belongs_to", name.as_str())?,
        None => rec,
    };
    let rec = match seen {
        Some(s) => rec.num("first_ns", s.first_ns)?.num("last_ns", s.last_ns)?,
        None => rec,
    };
    rec.text("reason", finding.reason)?.end()
}

/// `stats`' `region` records: bytes mapped per documented row of `doc`,
/// by leaf level, rows with none left out.
pub fn write_region_bytes<W: Write>(
    f: &mut W,
    doc: &DocMap<'_>,
    mapped: &[[u64; 3]],
) -> fmt::Result {
    for (row, bytes) in mapped.iter().enumerate() {
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
