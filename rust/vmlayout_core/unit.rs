// SPDX-License-Identifier: GPL-2.0

//! Unit checks of the core that need neither the kernel nor an allocator:
//! run as the KUnit suite `vmlayout_core` in the kernel (`kunit.rs` next to
//! the module) and by `cargo test` on the host (`tools/vmlayout/tests/unit.rs`).
//! Each returns what it found wrong.

use core::fmt::{self, Write};

#[cfg(not(loom))]
use core::sync::atomic::AtomicBool;
#[cfg(loom)]
use loom::sync::atomic::AtomicBool;

use super::batch::WalkCounts;
use super::sync::{audit_half, Audit, AUDIT_RETRIES};
use super::work::{Parts, PerPart, Workers};

use super::layout::kaslr_window;
use super::map::{DocMap, Paging, RegionId};
use super::mm_doc::{parse_document, DocError};
use super::pte::{Effective, Flags, Level, ENTRIES};
use super::record::{header, Record};

/// What a failed check says.
pub type Check = Result<(), &'static str>;

fn ensure(ok: bool, what: &'static str) -> Check {
    if ok {
        Ok(())
    } else {
        Err(what)
    }
}

/// Every documented table the module compiles in: rows in ascending order,
/// not overlapping; the regions the module relies on; a KASLR window for
/// the current maps; both paging modes present.
pub fn documented_maps_are_usable(maps: &[DocMap<'_>]) -> Check {
    ensure(!maps.is_empty(), "no documented map")?;
    let mut modes = [false; 2];
    for map in maps {
        modes[(map.paging == Paging::Five) as usize] = true;
        for i in 1..map.regions.len() {
            ensure(
                map.start_of(i) > map.regions[i - 1].end,
                "rows overlap or are out of order",
            )?;
        }
        for id in [
            RegionId::DirectMap,
            RegionId::Vmalloc,
            RegionId::Vmemmap,
            RegionId::KernelText,
            RegionId::Modules,
        ] {
            ensure(map.index_of(id).is_some(), "a required region is missing")?;
        }
    }
    ensure(modes == [true, true], "not both paging modes")?;
    let current = maps.iter().take_while(|m| m.name.starts_with("mm.rst"));
    for map in current {
        let (start, end) = kaslr_window(map).ok_or("no KASLR window in the current map")?;
        ensure(start < end, "empty KASLR window")?;
    }
    Ok(())
}

fn parse_error(text: &str) -> Option<DocError> {
    parse_document(text, |_, _| {}).err()
}

/// A malformed documented map is an error naming its line and reason.
pub fn parse_errors_name_the_line() -> Check {
    let bad_end = "Virtual memory map with 4 level page tables:\n\
                   ffff880000000000 - ffffc7fffffff (=64 TB) x\n";
    ensure(
        parse_error(bad_end)
            == Some(DocError {
                line: 2,
                reason: "end address is not 16 hex digits",
            }),
        "bad end address: wrong line or reason",
    )?;
    let overlap = "Virtual memory map with 4 level page tables:\n\
                   ffff880000000000 - ffffc7ffffffffff (=64 TB) a\n\
                   ffffc00000000000 - ffffc8ffffffffff (=1 TB) b\n";
    ensure(
        parse_error(overlap).map(|e| e.line) == Some(3),
        "overlapping rows: wrong line",
    )?;
    ensure(
        parse_error("ffff880000000000 - ffffc7ffffffffff (=64 TB) x\n").map(|e| e.reason)
            == Some("row before any table heading"),
        "a row outside any table is not an error",
    )?;
    let good = "Virtual memory map with 4 level page tables:\n\
                ffff880000000000 - ffffc7ffffffffff (=64 TB) direct mapping of all phys. memory\n";
    let mut rows = 0;
    let counts = parse_document(good, |_, _| rows += 1).map_err(|_| "a good table fails")?;
    ensure(
        counts == [1, 0] && rows == 1,
        "a good table: wrong row count",
    )
}

/// Entry flags and effective permissions: W+X, and how levels combine.
pub fn entry_flags_combine_across_levels() -> Check {
    let rw_x = Flags::P | Flags::RW;
    let ro_nx = Flags::P | Flags::NX;
    ensure(Flags::of(rw_x).is_wx(), "RW without NX is not W+X")?;
    ensure(!Flags::of(rw_x | Flags::NX).is_wx(), "RW with NX is W+X")?;
    ensure(
        Flags::of(0x0000_0001_2340_0000 | rw_x) == Flags(rw_x),
        "the address leaks into the flags",
    )?;
    let top = Effective::ALL.through(rw_x | Flags::US);
    ensure(top.through(rw_x).is_wx(), "RW+X at every level is not W+X")?;
    ensure(
        !top.through(ro_nx).through(rw_x).is_wx(),
        "NX above does not win",
    )?;
    ensure(
        !top.through(Flags::P | Flags::RW).us,
        "user access without US at every level",
    )?;
    ensure(
        Flags(Flags::PS | Flags::RW).shown(Level::Pte) == Flags(Flags::PS | Flags::RW)
            && Flags(Flags::PS | Flags::RW).shown(Level::Pmd) == Flags(Flags::RW),
        "PS is PAT only at the PTE level",
    )?;
    ensure(
        Level::Pmd.entry_size() == 2 << 20 && Level::Pud.entry_size() == 1 << 30,
        "entry sizes",
    )
}

/// A fixed buffer to format into, as the module's files do.
struct Buf {
    bytes: [u8; 256],
    len: usize,
}

impl Write for Buf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        self.bytes
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl Buf {
    fn text(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

/// Records come out exactly as `Documentation/.../format.rst` says.
pub fn records_format_exactly() -> Check {
    let mut buf = Buf {
        bytes: [0; 256],
        len: 0,
    };
    let write = |buf: &mut Buf| -> fmt::Result {
        header(buf, "layout")?;
        Record::new(buf, "region")?
            .text("name", "direct-map")?
            .hex("start", 0xffff_8880_0000_0000)?
            .opt_hex("end", None)?
            .num("slide", -4096i64)?
            .text("reason", "a \"quoted\" = reason")?
            .end()
    };
    write(&mut buf).map_err(|_| "formatting failed")?;
    ensure(
        buf.text()
            == "# vmlayout format=2 file=layout\n\
                region name=direct-map start=0xffff888000000000 end=- slide=-4096 \
                reason=\"a \\\"quoted\\\" = reason\"\n",
        "records differ from the documented format",
    )?;
    let mut small = Buf {
        bytes: [0; 256],
        len: 250,
    };
    ensure(
        Record::new(&mut small, "region")
            .and_then(|r| r.text("name", "direct-map"))
            .is_err(),
        "a full buffer is not an error",
    )
}

/// The audit of a table half against the reference: a difference that goes
/// away within the retries is a resync, one that outlasts them is
/// reported, the LDT remap slot never differs, and an unreadable reference
/// is not a difference.
pub fn audit_retries_are_bounded() -> Check {
    let audit = |differs_for: u32, slot: usize, ours_ok: bool| {
        let mut reads = 0;
        audit_half(
            &mut [7u64; 8],
            &mut [0u64; 8],
            ENTRIES / 2 + 3,
            |_| ours_ok,
            |theirs: &mut [u64; 8]| {
                *theirs = [7; 8];
                if reads < differs_for {
                    theirs[slot] = 8;
                }
                reads += 1;
                true
            },
            || {},
        )
    };
    ensure(
        audit(0, 1, true) == Audit::Same { resynced: false },
        "same at once",
    )?;
    ensure(
        audit(AUDIT_RETRIES, 1, true) == Audit::Same { resynced: true },
        "not a resync",
    )?;
    ensure(
        audit(AUDIT_RETRIES + 1, 1, true) == Audit::Differs,
        "a lasting difference missed",
    )?;
    ensure(
        audit(9, 3, true) == Audit::Same { resynced: false },
        "the LDT slot differed",
    )?;
    ensure(
        audit(9, 1, false) == Audit::Unreadable,
        "an unreadable reference differed",
    )
}

/// Claims: each part once, in order; each worker once, by its index; a
/// slot only for a claim of its own issuer.
pub fn claims_are_handed_out_once() -> Check {
    let parts = Parts::new(2);
    let mut first = parts.claim().ok_or("no first part")?;
    let second = parts.claim().ok_or("no second part")?;
    ensure(
        (first.index(), second.index()) == (0, 1),
        "parts out of order",
    )?;
    ensure(parts.claim().is_none(), "a part past the end")?;
    let mut taken = [AtomicBool::new(true), AtomicBool::new(true)];
    let workers = Workers::new(&mut taken);
    let mut me = workers.claim(1).ok_or("worker 1 not handed out")?;
    ensure(workers.claim(1).is_none(), "worker 1 handed out twice")?;
    let mut room = [0u32; 2];
    let slots = PerPart::of_workers(&workers, &mut room);
    *slots.slot(&mut me).ok_or("no slot for worker 1")? = 5;
    ensure(
        slots.slot(&mut first).is_none(),
        "a slot for another issuer's claim",
    )?;
    ensure(room == [0, 5], "the slot written is not worker 1's")
}

/// The workers' counts add up, the first events kept in worker order.
pub fn walk_counts_add_up() -> Check {
    let mut a = WalkCounts {
        items: 2,
        first_changed: None,
        ..WalkCounts::default()
    };
    a.tables[1] = 3;
    let mut b = a;
    b.first_changed = Some((0x1000, Level::Pmd));
    b.first_unreadable = Some((0x2000, Level::Pte, 1));
    a.add(&b);
    ensure(a.items == 4 && a.table_pages() == 6, "counts not summed")?;
    ensure(
        a.first_changed == Some((0x1000, Level::Pmd)),
        "first change lost",
    )?;
    a.add(&WalkCounts {
        first_changed: Some((0x3000, Level::Pud)),
        ..WalkCounts::default()
    });
    ensure(
        a.first_changed == Some((0x1000, Level::Pmd)),
        "a later first change won",
    )
}
