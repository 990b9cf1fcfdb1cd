// SPDX-License-Identifier: GPL-2.0

//! The documented-map parser on real documents and on generated ones.

use proptest::prelude::*;
use vmlayout_core::map::{DocMap, DocRegion, Kind, Paging, RegionId};
use vmlayout_core::mm_doc::{parse_document, parse_line, DocError, Line};

const MM_RST_7_3: &str = include_str!("../testdata/mm-7.3.rst");
const MM_TXT_4_17: &str = include_str!("../testdata/mm-4.17-style.txt");
const MM_TXT_HISTORICAL: &str = include_str!("../../../Documentation/vmlayout/mm-historical.txt");

fn parse(text: &str) -> Result<(Vec<DocRegion<'_>>, Vec<DocRegion<'_>>), DocError> {
    let (mut four, mut five) = (Vec::new(), Vec::new());
    parse_document(text, |p, r| match p {
        Paging::Four => four.push(r),
        Paging::Five => five.push(r),
    })?;
    Ok((four, five))
}

fn map<'a>(paging: Paging, regions: &'a [DocRegion<'a>]) -> DocMap<'a> {
    DocMap {
        name: "t",
        source: "t",
        paging,
        regions,
    }
}

fn by_id<'a>(rows: &'a [DocRegion<'a>], id: RegionId) -> &'a DocRegion<'a> {
    rows.iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no {id:?}"))
}

#[test]
fn mm_rst_7_3_both_tables() {
    let (four, five) = parse(MM_RST_7_3).unwrap();
    assert_eq!((four.len(), five.len()), (25, 25));

    let direct = by_id(&four, RegionId::DirectMap);
    assert_eq!(
        (direct.start, direct.end),
        (Some(0xffff_8880_0000_0000), 0xffff_c87f_ffff_ffff)
    );
    assert_eq!(direct.var, Some("page_offset_base"));
    assert_eq!(direct.size, "64 TB");
    assert_eq!(by_id(&four, RegionId::Vmalloc).var, Some("vmalloc_base"));
    assert_eq!(
        by_id(&five, RegionId::Vmemmap).start,
        Some(0xffd4_0000_0000_0000)
    );
    assert_eq!(
        by_id(&five, RegionId::LdtRemap).start,
        Some(0xff10_0000_0000_0000)
    );
    assert_eq!(by_id(&four, RegionId::Modules).end, 0xffff_ffff_feff_ffff);

    // FIXADDR_START is symbolic: the row starts after the module space.
    let m = map(Paging::Four, &four);
    let fix = m.index_of(RegionId::Fixmap).unwrap();
    assert_eq!(four[fix].start, None);
    assert_eq!(m.start_of(fix), 0xffff_ffff_ff00_0000);

    // The 5-level user row's exclusive end (…f000) is made inclusive so
    // it does not overlap the guard hole after it.
    assert_eq!(five[0].end, 0x00ff_ffff_ffff_efff);
    assert_eq!(five[1].kind, Kind::GuardHole);

    // Holes and guard holes are told apart.
    assert_eq!(
        by_id(&four, RegionId::HypervisorGuard).kind,
        Kind::GuardHole
    );
    assert!(four.iter().filter(|r| r.kind == Kind::Hole).count() >= 8);

    // The two tables share the layout from cpu_entry_area up.
    let tail = |rows: &[DocRegion<'_>]| {
        let at = rows
            .iter()
            .position(|r| r.id == RegionId::CpuEntryArea)
            .unwrap();
        rows[at..]
            .iter()
            .map(|r| (r.start, r.end, r.id))
            .collect::<Vec<_>>()
    };
    assert_eq!(tail(&four), tail(&five));
}

#[test]
fn mm_txt_format_with_both_tables() {
    let (four, five) = parse(MM_TXT_4_17).unwrap();
    assert_eq!((four.len(), five.len()), (16, 16));
    let direct = by_id(&four, RegionId::DirectMap);
    assert_eq!(direct.start, Some(0xffff_8880_0000_0000));
    assert_eq!(direct.size, "64 TB");
    // "(1520 MB)" without '=' is still the size column.
    let modules = by_id(&five, RegionId::Modules);
    assert_eq!(
        (modules.size, modules.desc),
        ("1520 MB", "module mapping space")
    );
    // An exclusive end (fffffc0000000000) becomes inclusive.
    assert_eq!(
        by_id(&five, RegionId::KasanShadow).end,
        0xffff_fbff_ffff_ffff
    );
}

#[test]
fn historical_map_moves_the_direct_map() {
    let (four, five) = parse(MM_TXT_HISTORICAL).unwrap();
    assert!(five.is_empty());
    assert_eq!(four.len(), 14);
    assert_eq!(
        by_id(&four, RegionId::DirectMap).start,
        Some(0xffff_8800_0000_0000)
    );
    assert!(four.iter().all(|r| r.id != RegionId::LdtRemap));
    let (current, _) = parse(MM_RST_7_3).unwrap();
    assert_eq!(
        by_id(&current, RegionId::DirectMap).start,
        Some(0xffff_8880_0000_0000)
    );
    // Exclusive ends in the old text are normalised.
    assert_eq!(
        by_id(&four, RegionId::KernelText).end,
        0xffff_ffff_9fff_ffff
    );
}

#[test]
fn errors_name_the_line() {
    let bad_hex = "Virtual memory map with 4 level page tables:\n\nffff88000000000z - ffffc7ffffffffff (=64 TB) x\n";
    // Not 16 hex digits at the start: prose, not a row.
    assert!(parse(bad_hex).is_err());
    let bad_end = "Virtual memory map with 4 level page tables:\nffff880000000000 - ffffc7fffffff (=64 TB) x\n";
    assert_eq!(
        parse(bad_end).unwrap_err(),
        DocError {
            line: 2,
            reason: "end address is not 16 hex digits"
        }
    );
    let orphan = "ffff880000000000 - ffffc7ffffffffff (=64 TB) x\n";
    assert_eq!(
        parse(orphan).unwrap_err().reason,
        "row before any table heading"
    );
    let overlap = "Virtual memory map with 4 level page tables:\n\
        ffff880000000000 - ffffc7ffffffffff (=64 TB) a\n\
        ffffc00000000000 - ffffc8ffffffffff (=1 TB) b\n";
    assert_eq!(
        parse(overlap).unwrap_err(),
        DocError {
            line: 3,
            reason: "row overlaps or precedes the previous row"
        }
    );
    let backwards = "Virtual memory map with 4 level page tables:\nffffc7ffffffffff - ffff880000000000 (=1) a\n";
    assert_eq!(
        parse(backwards).unwrap_err().reason,
        "start address is after end address"
    );
    let empty = "Complete virtual memory map with 4-level page tables\n\nnothing here\n";
    assert_eq!(parse(empty).unwrap_err().reason, "table has no rows");
    assert!(parse("just prose\n").is_err());
    let rst_bad = "Complete virtual memory map with 5-level page tables\n   ffff8800000 | x | ffffc7ffffffffff | 1 | a\n";
    assert_eq!(parse(rst_bad).unwrap_err().line, 2);
}

/// A generated table: ascending, non-overlapping ranges.
fn table() -> impl Strategy<Value = Vec<(u64, u64, bool)>> {
    prop::collection::vec((1u64..1 << 28, 0u64..1 << 28, any::<bool>()), 1..30).prop_map(|steps| {
        let mut at = 0xff00_0000_0000_0000u64;
        let mut rows = Vec::new();
        for (gap, len, hole) in steps {
            let start = at + (gap << 12);
            let end = start + (len << 12) + 0xfff;
            rows.push((start, end, hole));
            at = end + 1;
        }
        rows
    })
}

fn render(rows: &[(u64, u64, bool)], rst: bool) -> String {
    let mut text = String::from("intro prose\n\n");
    text.push_str(if rst {
        "Complete virtual memory map with 5-level page tables\n=====\n\n::\n\n"
    } else {
        "Virtual memory map with 5 level page tables:\n\n"
    });
    for (start, end, hole) in rows {
        let desc = if *hole {
            "... unused hole"
        } else {
            "some region (some_base)"
        };
        if rst {
            text.push_str(&format!(
                " {start:016x} | -1 TB | {end:016x} |  1 TB | {desc}\n"
            ));
            text.push_str(
                "                    |            |                  |         | continued\n",
            );
        } else {
            text.push_str(&format!(
                "{start:016x} - {end:016x} (=1 TB) {desc}\n... unused hole ...\n"
            ));
        }
    }
    text.push_str("\ntrailing prose\n");
    text
}

proptest! {
    #[test]
    fn generated_tables_round_trip(rows in table(), rst in any::<bool>()) {
        let text = render(&rows, rst);
        let (four, five) = parse(&text).unwrap();
        prop_assert!(four.is_empty());
        prop_assert_eq!(five.len(), rows.len());
        for (row, (start, end, hole)) in five.iter().zip(&rows) {
            prop_assert_eq!(row.start, Some(*start));
            prop_assert_eq!(row.end, *end);
            prop_assert_eq!(row.kind, if *hole { Kind::Hole } else { Kind::Region });
            prop_assert_eq!(row.var, if *hole { None } else { Some("some_base") });
        }
        // Every address of a row is found in that row and nowhere else.
        let m = map(Paging::Five, &five);
        for (i, (start, end, _)) in rows.iter().enumerate() {
            prop_assert_eq!(m.index_of_addr(*start), Some(i));
            prop_assert_eq!(m.index_of_addr(*end), Some(i));
        }
    }

    #[test]
    fn any_line_is_classified_without_panicking(line in ".{0,200}") {
        let _ = parse_line(&line);
    }

    #[test]
    fn swapping_two_rows_is_an_error(rows in table(), a in 0usize..30, b in 0usize..30, rst in any::<bool>()) {
        prop_assume!(rows.len() > 1);
        let (a, b) = (a % rows.len(), b % rows.len());
        prop_assume!(a != b);
        let mut swapped = rows.clone();
        swapped.swap(a, b);
        prop_assert!(parse(&render(&swapped, rst)).is_err());
    }
}

#[test]
fn line_kinds() {
    assert_eq!(
        parse_line("Virtual memory map with 4 level page tables:"),
        Ok(Line::Heading(Paging::Four))
    );
    assert_eq!(
        parse_line("Complete virtual memory map with 5-level page tables"),
        Ok(Line::Heading(Paging::Five))
    );
    assert_eq!(
        parse_line("   ffffffff80000000 |-2048    MB |                  |         |"),
        Ok(Line::Other)
    );
    assert_eq!(parse_line("... unused hole ..."), Ok(Line::Other));
}
