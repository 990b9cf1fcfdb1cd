// SPDX-License-Identifier: GPL-2.0

//! Parser for the x86-64 memory map documentation.
//!
//! Two formats are understood:
//!
//! * `Documentation/arch/x86/x86_64/mm.rst` (4.20 and later): tables whose rows are
//!   `start | offset | end | size | description`, one table per paging mode,
//!   each under a "Complete virtual memory map with N-level page tables" title.
//! * The older `Documentation/x86/x86_64/mm.txt`: rows
//!   `ffff880000000000 - ffffc7ffffffffff (=64 TB) description` under
//!   "Virtual memory map with N level page tables:". Holes between rows are
//!   implicit (`... unused hole ...` lines carry no addresses).
//!
//! Normalisations, all documented in `Documentation/vmlayout/format.rst`:
//! an end address whose low 12 bits are zero is exclusive (mm.txt writes some
//! ends that way, and mm.rst's 5-level user-space row does) and becomes the
//! page before it; rows with a start but no end are position markers and are
//! skipped; a symbolic start (`FIXADDR_START`) begins after the previous row.

use super::map::{DocRegion, Kind, Paging, RegionId};

/// A parse failure: the 1-based line and what was wrong with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DocError {
    /// 1-based line number in the document.
    pub line: usize,
    /// What is wrong.
    pub reason: &'static str,
}

/// One row as written in the document, before classification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row<'a> {
    /// Start address, `None` for a symbolic start.
    pub start: Option<u64>,
    /// Inclusive end address.
    pub end: u64,
    /// Size column as written (may be empty).
    pub size: &'a str,
    /// Description column.
    pub desc: &'a str,
}

/// What one line of the document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// The title of a table for a paging mode.
    Heading(Paging),
    /// A table row with an address range.
    Row(Row<'a>),
    /// Prose, rulers, column headers, continuation lines, position markers.
    Other,
}

/// Parse a 16-digit hexadecimal address.
fn parse_addr(field: &str) -> Option<u64> {
    if field.len() != 16 || !field.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(field, 16).ok()
}

fn is_symbol(field: &str) -> bool {
    field.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
        && field
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// An end whose low 12 bits are zero is exclusive: make it inclusive.
fn inclusive_end(start: Option<u64>, end: u64) -> u64 {
    if end & 0xfff == 0 && start.is_none_or(|s| end > s) {
        end - 1
    } else {
        end
    }
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// "Complete virtual memory map with 4-level page tables" (mm.rst) or
/// "Virtual memory map with 4 level page tables:" (mm.txt).
fn heading(line: &str) -> Option<Paging> {
    const KEY: &str = "memory map with ";
    let at = line
        .as_bytes()
        .windows(KEY.len())
        .position(|w| w.eq_ignore_ascii_case(KEY.as_bytes()))?;
    let rest = &line[at + KEY.len()..];
    let paging = match rest.as_bytes().first()? {
        b'4' => Paging::Four,
        b'5' => Paging::Five,
        _ => return None,
    };
    starts_with_ignore_case(rest[1..].trim_start_matches(['-', ' ']), "level page table")
        .then_some(paging)
}

fn rst_row(line: &str) -> Result<Line<'_>, &'static str> {
    let mut fields = line.split('|');
    let (Some(start), Some(_offset), Some(end), Some(size), Some(desc)) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Ok(Line::Other);
    };
    let (start, end) = (start.trim(), end.trim());
    if start.is_empty() || start.bytes().all(|b| b == b'_') || start == "Start addr" {
        return Ok(Line::Other);
    }
    let start = if let Some(addr) = parse_addr(start) {
        Some(addr)
    } else if is_symbol(start) {
        None
    } else {
        return Err("start address is neither 16 hex digits nor a SYMBOL");
    };
    if end.is_empty() {
        return Ok(Line::Other); // a position marker, not a range
    }
    let end = parse_addr(end).ok_or("end address is not 16 hex digits")?;
    Ok(Line::Row(Row {
        start,
        end: inclusive_end(start, end),
        size: size.trim(),
        desc: desc.trim(),
    }))
}

fn txt_row(line: &str) -> Result<Line<'_>, &'static str> {
    let line = line.trim();
    let Some(start) = line.get(..16).and_then(parse_addr) else {
        return Ok(Line::Other);
    };
    let start = Some(start);
    let rest = line[16..]
        .trim_start()
        .strip_prefix('-')
        .ok_or("expected 'start - end'")?
        .trim_start();
    let end = rest
        .get(..16)
        .and_then(parse_addr)
        .ok_or("end address is not 16 hex digits")?;
    let mut rest = rest[16..].trim_start();
    let mut size = "";
    if let Some(paren) = rest.strip_prefix('(') {
        let close = paren.find(')').ok_or("unclosed '(=size)'")?;
        size = paren[..close].trim_start_matches('=').trim();
        rest = paren[close + 1..].trim_start();
    }
    Ok(Line::Row(Row {
        start,
        end: inclusive_end(start, end),
        size,
        desc: rest,
    }))
}

/// Classify one line of either format.
pub fn parse_line(line: &str) -> Result<Line<'_>, &'static str> {
    if let Some(paging) = heading(line) {
        return Ok(Line::Heading(paging));
    }
    if line.contains('|') {
        rst_row(line)
    } else {
        txt_row(line)
    }
}

/// The kernel variable a description names in parentheses, such as
/// `(page_offset_base)`.
pub fn named_variable(desc: &str) -> Option<&str> {
    let open = desc.find('(')?;
    let inner = &desc[open + 1..];
    let name = &inner[..inner.find(')')?];
    let ident = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    (ident && name.ends_with("_base")).then_some(name)
}

/// Turn a row into a classified documented region.
pub fn region_of(row: Row<'_>) -> DocRegion<'_> {
    let desc = row.desc.trim_start_matches("...").trim_start();
    let kind = if row.desc.contains("guard hole") {
        Kind::GuardHole
    } else if row.desc.starts_with("...") || desc.contains("hole") {
        Kind::Hole
    } else {
        Kind::Region
    };
    DocRegion {
        start: row.start,
        end: row.end,
        size: row.size,
        desc,
        kind,
        var: named_variable(desc),
        id: classify(desc, kind),
    }
}

/// Parse a whole document, handing each region to `sink` with the paging
/// mode of the table it is in. Returns the number of rows per table
/// (`[4-level, 5-level]`).
///
/// Errors: a malformed row, a row outside any table, rows out of order or
/// overlapping, a start after its end, or a table without rows.
pub fn parse_document<'a>(
    text: &'a str,
    mut sink: impl FnMut(Paging, DocRegion<'a>),
) -> Result<[usize; 2], DocError> {
    let mut counts = [0usize; 2];
    let mut table: Option<Paging> = None;
    let mut prev_end: Option<u64> = None;
    let mut last_heading_line = 0;
    for (index, line) in text.lines().enumerate() {
        let lineno = index + 1;
        let err = |reason| DocError {
            line: lineno,
            reason,
        };
        match parse_line(line).map_err(err)? {
            Line::Other => {}
            Line::Heading(paging) => {
                if let Some(previous) = table {
                    if counts[slot(previous)] == 0 {
                        return Err(DocError {
                            line: last_heading_line,
                            reason: "table has no rows",
                        });
                    }
                }
                table = Some(paging);
                prev_end = None;
                last_heading_line = lineno;
            }
            Line::Row(row) => {
                let paging = table.ok_or(err("row before any table heading"))?;
                let start = match (row.start, prev_end) {
                    (Some(start), _) => start,
                    (None, Some(end)) => end.wrapping_add(1),
                    (None, None) => return Err(err("symbolic start on a table's first row")),
                };
                if start > row.end {
                    return Err(err("start address is after end address"));
                }
                if prev_end.is_some_and(|end| start <= end) {
                    return Err(err("row overlaps or precedes the previous row"));
                }
                prev_end = Some(row.end);
                counts[slot(paging)] += 1;
                sink(paging, region_of(row));
            }
        }
    }
    match table {
        None => Err(DocError {
            line: text.lines().count(),
            reason: "no 'memory map with 4/5 level page tables' heading found",
        }),
        Some(paging) if counts[slot(paging)] == 0 => Err(DocError {
            line: last_heading_line,
            reason: "table has no rows",
        }),
        Some(_) => Ok(counts),
    }
}

const fn slot(paging: Paging) -> usize {
    match paging {
        Paging::Four => 0,
        Paging::Five => 1,
    }
}

/// Recognise a documented row from its description and kind.
pub fn classify(desc: &str, kind: Kind) -> RegionId {
    const KEYS: &[(&str, RegionId)] = &[
        ("hypervisor", RegionId::HypervisorGuard),
        ("non-canonical", RegionId::NonCanonical),
        ("sign extension", RegionId::NonCanonical),
        ("user", RegionId::User),
        ("ldt remap", RegionId::LdtRemap),
        ("direct mapping", RegionId::DirectMap),
        ("vmalloc", RegionId::Vmalloc),
        ("virtual memory map", RegionId::Vmemmap),
        ("kasan", RegionId::KasanShadow),
        ("cpu_entry_area", RegionId::CpuEntryArea),
        ("esp fixup", RegionId::Espfix),
        ("efi", RegionId::Efi),
        ("kernel text", RegionId::KernelText),
        ("module", RegionId::Modules),
        ("fixmap", RegionId::Fixmap),
        ("vsyscall", RegionId::Vsyscall),
    ];
    for (key, id) in KEYS {
        if contains_ignore_case(desc, key) {
            return *id;
        }
    }
    if kind == Kind::Region {
        RegionId::Other
    } else {
        RegionId::Hole
    }
}

/// ASCII case-insensitive substring search.
pub fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    let (hay, needle) = (hay.as_bytes(), needle.as_bytes());
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}
