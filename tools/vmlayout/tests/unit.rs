// SPDX-License-Identifier: GPL-2.0

//! The core's unit checks (`rust/vmlayout_core/unit.rs`), which the kernel
//! runs as the KUnit suite `vmlayout_core`, run on the host.

use vmlayout_core::map::{DocMap, DocRegion, Paging};
use vmlayout_core::mm_doc::parse_document;
use vmlayout_core::unit;

const MM_RST_7_3: &str = include_str!("../testdata/mm-7.3.rst");

#[test]
fn documented_maps_are_usable() {
    let (mut four, mut five): (Vec<DocRegion<'_>>, Vec<DocRegion<'_>>) = (vec![], vec![]);
    parse_document(MM_RST_7_3, |paging, r| match paging {
        Paging::Four => four.push(r),
        Paging::Five => five.push(r),
    })
    .unwrap();
    let map = |name, paging, regions| DocMap {
        name,
        source: "testdata/mm-7.3.rst",
        paging,
        regions,
    };
    let maps = [
        map("mm.rst-4level", Paging::Four, &four[..]),
        map("mm.rst-5level", Paging::Five, &five[..]),
    ];
    assert_eq!(unit::documented_maps_are_usable(&maps), Ok(()));
    // It can fail: one mode only, or a required region gone.
    assert!(unit::documented_maps_are_usable(&maps[..1]).is_err());
    let no_vmalloc: Vec<_> = four
        .iter()
        .filter(|r| r.var != Some("vmalloc_base"))
        .cloned()
        .collect();
    let broken = [map("mm.rst-4level", Paging::Four, &no_vmalloc[..]), maps[1]];
    assert!(unit::documented_maps_are_usable(&broken).is_err());
}

#[test]
fn parse_errors_name_the_line() {
    assert_eq!(unit::parse_errors_name_the_line(), Ok(()));
}

#[test]
fn entry_flags_combine_across_levels() {
    assert_eq!(unit::entry_flags_combine_across_levels(), Ok(()));
}

#[test]
fn records_format_exactly() {
    assert_eq!(unit::records_format_exactly(), Ok(()));
}

#[test]
fn audit_retries_are_bounded() {
    assert_eq!(unit::audit_retries_are_bounded(), Ok(()));
}

#[test]
fn claims_are_handed_out_once() {
    assert_eq!(unit::claims_are_handed_out_once(), Ok(()));
}

#[test]
fn walk_counts_add_up() {
    assert_eq!(unit::walk_counts_add_up(), Ok(()));
}
