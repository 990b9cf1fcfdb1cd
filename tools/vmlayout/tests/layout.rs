// SPDX-License-Identifier: GPL-2.0

//! Live-layout verdicts on the documented 7.3 maps with synthetic bases.

use proptest::prelude::*;
use vmlayout_core::layout::{evaluate, kaslr_window, Live, RegionLayout, Verdict, PUD_SIZE};
use vmlayout_core::map::{DocMap, DocRegion, Paging, RegionId};
use vmlayout_core::mm_doc::parse_document;

const MM_RST_7_3: &str = include_str!("../testdata/mm-7.3.rst");

fn rows(paging: Paging) -> Vec<DocRegion<'static>> {
    let mut out = Vec::new();
    parse_document(MM_RST_7_3, |p, r| {
        if p == paging {
            out.push(r)
        }
    })
    .unwrap();
    out
}

const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;

/// A healthy 4-level kernel with 2 GiB of RAM, bases as KASLR would pick them.
fn live(paging: Paging, window: (u64, u64)) -> Live {
    let base = window.0;
    Live {
        paging,
        page_offset_base: base + 3 * TIB,
        vmalloc_base: base + 20 * TIB,
        vmemmap_base: window.1 + 1 - 2 * TIB,
        text_start: 0xffff_ffff_9000_0000,
        text_end: 0xffff_ffff_91ff_ffff,
        phys_base: 0,
        physical_start: 0x100_0000,
        physical_align: 0x20_0000,
        kernel_image_size: GIB,
        ram_end: 2 * GIB,
        cpu_entry_area0: 0xffff_fe00_0000_1000,
        fixaddr_start: 0xffff_ffff_ff57_c000,
        kasan: false,
        randomize_memory: true,
    }
}

fn verdicts(doc: &DocMap<'_>, live: &Live) -> Vec<(RegionId, RegionLayout)> {
    evaluate(doc, live)
        .map(|r| (doc.regions[r.index].id, r))
        .collect()
}

fn verdict_of(v: &[(RegionId, RegionLayout)], id: RegionId) -> Verdict {
    v.iter().find(|(i, _)| *i == id).unwrap().1.verdict
}

fn errors(v: &[(RegionId, RegionLayout)]) -> Vec<(RegionId, Verdict, &'static str)> {
    v.iter()
        .filter(|(_, r)| r.verdict.severity() == "error")
        .map(|(id, r)| (*id, r.verdict, r.reason))
        .collect()
}

#[test]
fn healthy_kernel_has_no_errors_in_either_mode() {
    for paging in [Paging::Four, Paging::Five] {
        let regions = rows(paging);
        let doc = DocMap {
            name: "t",
            source: "t",
            paging,
            regions: &regions,
        };
        let window = kaslr_window(&doc).unwrap();
        let v = verdicts(&doc, &live(paging, window));
        assert_eq!(errors(&v), vec![], "{paging:?}");
        assert_eq!(verdict_of(&v, RegionId::KasanShadow), Verdict::Absent);
        // KASLR kernels reserve 1 GiB for the image: modules start later.
        assert_eq!(verdict_of(&v, RegionId::Modules), Verdict::Departs);
    }
}

#[test]
fn kaslr_window_ends_at_cpu_entry_area() {
    let regions = rows(Paging::Four);
    let doc = DocMap {
        name: "t",
        source: "t",
        paging: Paging::Four,
        regions: &regions,
    };
    assert_eq!(
        kaslr_window(&doc),
        Some((0xffff_8880_0000_0000, 0xffff_fdff_ffff_ffff))
    );
}

#[test]
fn each_broken_base_gets_its_verdict() {
    let regions = rows(Paging::Four);
    let doc = DocMap {
        name: "t",
        source: "t",
        paging: Paging::Four,
        regions: &regions,
    };
    let window = kaslr_window(&doc).unwrap();
    let good = live(Paging::Four, window);

    let v = verdicts(
        &doc,
        &Live {
            vmalloc_base: good.vmalloc_base + 4096,
            ..good
        },
    );
    assert_eq!(verdict_of(&v, RegionId::Vmalloc), Verdict::Misaligned);

    let v = verdicts(
        &doc,
        &Live {
            page_offset_base: window.0 - PUD_SIZE,
            ..good
        },
    );
    assert_eq!(verdict_of(&v, RegionId::DirectMap), Verdict::OutsideWindow);

    let v = verdicts(
        &doc,
        &Live {
            ram_end: 32 * TIB,
            ..good
        },
    );
    assert_eq!(verdict_of(&v, RegionId::DirectMap), Verdict::TooSmall);

    // vmalloc placed below the direct map: order broken.
    let v = verdicts(
        &doc,
        &Live {
            vmalloc_base: good.page_offset_base - TIB,
            ..good
        },
    );
    assert_eq!(verdict_of(&v, RegionId::Vmalloc), Verdict::OutOfOrder);

    let v = verdicts(
        &doc,
        &Live {
            text_start: 0xffff_ffff_c000_0000,
            ..good
        },
    );
    assert_eq!(verdict_of(&v, RegionId::KernelText), Verdict::OutsideWindow);

    let v = verdicts(
        &doc,
        &Live {
            text_start: 0xffff_ffff_9000_1000,
            ..good
        },
    );
    assert_eq!(verdict_of(&v, RegionId::KernelText), Verdict::Misaligned);

    let v = verdicts(
        &doc,
        &Live {
            cpu_entry_area0: 0xffff_ff00_0000_0000,
            ..good
        },
    );
    assert_eq!(
        verdict_of(&v, RegionId::CpuEntryArea),
        Verdict::OutsideWindow
    );
}

proptest! {
    /// Any placement KASLR can produce (ordered, PUD-aligned, inside the
    /// window, leaving room for RAM) is accepted; text slides likewise.
    #[test]
    fn kaslr_placements_are_accepted(
        five in any::<bool>(),
        cuts in prop::array::uniform3(0.0f64..1.0),
        slide in 0u64..(1024 - 32) / 2,
    ) {
        let paging = if five { Paging::Five } else { Paging::Four };
        let regions = rows(paging);
        let doc = DocMap { name: "t", source: "t", paging, regions: &regions };
        let window = kaslr_window(&doc).unwrap();
        let ram = 2 * GIB;
        let span = (window.1 - window.0 + 1) / PUD_SIZE;
        // Bases at least 3 GiB apart: the direct map must hold the 2 GiB of
        // RAM (two equal picks 1 GiB apart made it too small, rightly).
        let mut picks: Vec<u64> = cuts.iter().map(|c| (*c * (span - 12) as f64) as u64).collect();
        picks.sort();
        let bases: Vec<u64> = picks.iter().enumerate().map(|(i, p)| window.0 + (p + 3 * i as u64) * PUD_SIZE).collect();
        let text_start = 0xffff_ffff_8000_0000 + 0x100_0000 + slide * 0x20_0000;
        let l = Live {
            page_offset_base: bases[0],
            vmalloc_base: bases[1],
            vmemmap_base: bases[2],
            text_start,
            text_end: text_start + 0x100_0000 - 1,
            ram_end: ram,
            ..live(paging, window)
        };
        let v = verdicts(&doc, &l);
        prop_assert_eq!(errors(&v), vec![]);
        // Live extents of the randomized regions never overlap.
        let ext = |id| v.iter().find(|(i, _)| *i == id).unwrap().1.live.unwrap();
        let (d, m, e) = (ext(RegionId::DirectMap), ext(RegionId::Vmalloc), ext(RegionId::Vmemmap));
        prop_assert!(d.1 < m.0 && m.1 < e.0 && e.1 <= window.1);
    }

    /// A base that is not PUD aligned is always flagged.
    #[test]
    fn misaligned_bases_are_flagged(offset in 1u64..PUD_SIZE, which in 0usize..3) {
        let regions = rows(Paging::Four);
        let doc = DocMap { name: "t", source: "t", paging: Paging::Four, regions: &regions };
        let mut l = live(Paging::Four, kaslr_window(&doc).unwrap());
        let (field, id) = match which {
            0 => (&mut l.page_offset_base, RegionId::DirectMap),
            1 => (&mut l.vmalloc_base, RegionId::Vmalloc),
            _ => (&mut l.vmemmap_base, RegionId::Vmemmap),
        };
        *field += offset;
        prop_assert_eq!(verdict_of(&verdicts(&doc, &l), id), Verdict::Misaligned);
    }
}
