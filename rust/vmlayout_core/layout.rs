// SPDX-License-Identifier: GPL-2.0

//! Where the running kernel put each documented region, and the verdicts.
//!
//! The kernel glue fills [`Live`] from exported variables; everything else,
//! from the live extent of each region to the order and alignment checks, is
//! computed here from the documented map.

use super::map::{DocMap, Kind, Paging, RegionId};

/// `__START_KERNEL_map`: where the kernel image mapping begins.
pub const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;
/// `MODULES_END`.
pub const MODULES_END: u64 = 0xffff_ffff_ff00_0000;
/// `VSYSCALL_ADDR`.
pub const VSYSCALL_ADDR: u64 = 0xffff_ffff_ff60_0000;
/// `ESPFIX_BASE_ADDR`: `ESPFIX_PGD_ENTRY` (-2) shifted by `P4D_SHIFT` (39).
pub const ESPFIX_BASE: u64 = (-2i64 << 39) as u64;
/// `EFI_VA_END` (the window grows down from `EFI_VA_START`).
pub const EFI_VA_END: u64 = (-68i64 << 30) as u64;
/// `EFI_VA_START`.
pub const EFI_VA_START: u64 = (-4i64 << 30) as u64;
/// `LDT_PGD_ENTRY`: the LDT remap's top-level slot.
pub const LDT_PGD_ENTRY: i64 = -240;
/// `PUD_SIZE`: RANDOMIZE_MEMORY aligns every randomized base to it.
pub const PUD_SIZE: u64 = 1 << 30;
/// `PMD_SIZE`.
pub const PMD_SIZE: u64 = 1 << 21;
/// `PAGE_SIZE`.
pub const PAGE_SIZE: u64 = 1 << 12;

/// Where the live kernel text base comes from (not exported as `_text`).
pub const TEXT_SOURCE: &str = "first mapped 2 MiB of the kernel image window (lookup_address)";

/// `FIXADDR_TOP`: the fixmap grows down from here; slot 0 is at this address.
pub const fn fixaddr_top() -> u64 {
    (VSYSCALL_ADDR + PAGE_SIZE).next_multiple_of(PMD_SIZE) - PAGE_SIZE
}

/// `PGDIR_SHIFT` for a paging mode.
pub const fn pgdir_shift(paging: Paging) -> u32 {
    match paging {
        Paging::Four => 39,
        Paging::Five => 48,
    }
}

/// Values read from the running kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Live {
    /// Paging mode (from `pgdir_shift`).
    pub paging: Paging,
    /// Base of the direct map.
    pub page_offset_base: u64,
    /// Base of vmalloc space.
    pub vmalloc_base: u64,
    /// Base of the `struct page` array.
    pub vmemmap_base: u64,
    /// First byte of the kernel image mapping (`_text`).
    pub text_start: u64,
    /// Last byte of the kernel image mapping.
    pub text_end: u64,
    /// `phys_base`: physical minus link-time address of the image.
    pub phys_base: u64,
    /// `CONFIG_PHYSICAL_START`: where an unrandomized kernel is loaded.
    pub physical_start: u64,
    /// `CONFIG_PHYSICAL_ALIGN`: the text slide's alignment.
    pub physical_align: u64,
    /// `KERNEL_IMAGE_SIZE` (1 GiB with RANDOMIZE_BASE, else 512 MiB).
    pub kernel_image_size: u64,
    /// One past the highest System RAM byte.
    pub ram_end: u64,
    /// CPU 0's `struct cpu_entry_area` (per-CPU slots are randomized).
    pub cpu_entry_area0: u64,
    /// `FIXADDR_START`.
    pub fixaddr_start: u64,
    /// Whether the kernel has KASAN (and so its shadow region).
    pub kasan: bool,
    /// Whether RANDOMIZE_MEMORY is on.
    pub randomize_memory: bool,
}

impl Live {
    /// The kernel text slide, as the kernel prints it ("Kernel Offset").
    /// (Wrapping, here and below: offline, the values come from a dump,
    /// which may be corrupted.)
    pub const fn text_slide(&self) -> u64 {
        self.text_start
            .wrapping_sub(START_KERNEL_MAP.wrapping_add(self.physical_start))
    }

    /// `MODULES_VADDR`.
    pub const fn modules_vaddr(&self) -> u64 {
        START_KERNEL_MAP.wrapping_add(self.kernel_image_size)
    }

    /// `LDT_BASE_ADDR`.
    pub const fn ldt_base(&self) -> u64 {
        (LDT_PGD_ENTRY << pgdir_shift(self.paging)) as u64
    }
}

/// How a region's base is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// A compile-time constant.
    Fixed,
    /// RANDOMIZE_MEMORY picks the base at boot (order is preserved).
    Randomized,
    /// RANDOMIZE_BASE slides the kernel image.
    TextSlide,
    /// Fixed region, randomized per-CPU slots inside it.
    PerCpuSlots,
}

impl Placement {
    /// Stable name used in records.
    pub const fn name(self) -> &'static str {
        match self {
            Placement::Fixed => "fixed",
            Placement::Randomized => "randomized",
            Placement::TextSlide => "kaslr-text",
            Placement::PerCpuSlots => "randomized-slots",
        }
    }
}

/// The outcome for one region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Live extent agrees with the documentation.
    Ok,
    /// Not present in this kernel (KASAN off, for instance).
    Absent,
    /// A fixed region whose live extent differs from the documented one.
    Departs,
    /// The base lies outside the window the documentation allows.
    OutsideWindow,
    /// The base is not aligned as the kernel aligns it.
    Misaligned,
    /// The region starts before the one documented ahead of it.
    OutOfOrder,
    /// The region overlaps the one before it.
    Overlaps,
    /// The region is too small for what it must hold (all RAM, for the direct map).
    TooSmall,
}

impl Verdict {
    /// Stable name used in records.
    pub const fn name(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Absent => "absent",
            Verdict::Departs => "departs",
            Verdict::OutsideWindow => "outside-window",
            Verdict::Misaligned => "misaligned",
            Verdict::OutOfOrder => "out-of-order",
            Verdict::Overlaps => "overlaps",
            Verdict::TooSmall => "too-small",
        }
    }

    /// `error`, `warn` or `info`.
    pub const fn severity(self) -> &'static str {
        match self {
            Verdict::Ok | Verdict::Absent => "info",
            Verdict::Departs => "warn",
            _ => "error",
        }
    }
}

/// One documented region held against the live kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionLayout {
    /// Row index in the documented map.
    pub index: usize,
    /// Documented first address.
    pub doc_start: u64,
    /// Documented last address.
    pub doc_end: u64,
    /// Live extent (first, last), `None` if the region is absent.
    pub live: Option<(u64, u64)>,
    /// Where the live start comes from.
    pub source: &'static str,
    /// How the base is chosen.
    pub placement: Placement,
    /// The window (first, last) the base must lie in.
    pub window: (u64, u64),
    /// Required alignment of the base.
    pub align: u64,
    /// The outcome.
    pub verdict: Verdict,
    /// Why, in words, when the verdict is not `ok`.
    pub reason: &'static str,
}

impl RegionLayout {
    /// Live start minus documented start.
    pub fn slide(&self) -> i64 {
        self.live
            .map_or(0, |(start, _)| start.wrapping_sub(self.doc_start) as i64)
    }
}

/// The KASLR window for RANDOMIZE_MEMORY regions: from the documented start
/// of the direct map to `vaddr_end`, the start of the next fixed region after
/// vmemmap (cpu_entry_area today; KASAN shadow is excluded because KASAN
/// turns KASLR off).
pub fn kaslr_window(doc: &DocMap<'_>) -> Option<(u64, u64)> {
    let first = doc.index_of(RegionId::DirectMap)?;
    let vmemmap = doc.index_of(RegionId::Vmemmap)?;
    let end = (vmemmap + 1..doc.regions.len()).find(|&i| {
        let r = &doc.regions[i];
        r.kind == Kind::Region && r.id != RegionId::KasanShadow
    })?;
    Some((doc.start_of(first), doc.start_of(end) - 1))
}

/// Base and source of the next randomized region after `id`.
fn next_randomized_base(live: &Live, id: RegionId) -> Option<u64> {
    match id {
        RegionId::DirectMap => Some(live.vmalloc_base),
        RegionId::Vmalloc => Some(live.vmemmap_base),
        _ => None,
    }
}

/// Compute the live extent and placement of one documented row.
/// Row `index` of `doc` where the document puts it, found by `source`.
fn fixed_extent(doc: &DocMap<'_>, index: usize, source: &'static str) -> RegionLayout {
    let (doc_start, doc_end) = (doc.start_of(index), doc.regions[index].end);
    RegionLayout {
        index,
        doc_start,
        doc_end,
        live: Some((doc_start, doc_end)),
        source,
        placement: Placement::Fixed,
        window: (doc_start, doc_end),
        align: PAGE_SIZE,
        verdict: Verdict::Ok,
        reason: "",
    }
}

/// Row `index` of `doc`, a region RANDOMIZE_MEMORY places at `base` (read
/// from `source`) in the KASLR window: as large as documented, but ending
/// before the next randomized region or the window's end.
fn randomized_extent(
    doc: &DocMap<'_>,
    index: usize,
    live: &Live,
    (base, source): (u64, &'static str),
) -> RegionLayout {
    let fixed = fixed_extent(doc, index, source);
    let kaslr = kaslr_window(doc).unwrap_or((fixed.doc_start, fixed.doc_end));
    let size = fixed.doc_end - fixed.doc_start + 1;
    let mut end = base.saturating_add(size - 1).min(kaslr.1);
    if let Some(next) = next_randomized_base(live, doc.regions[index].id) {
        if next > base {
            end = end.min(next - 1);
        }
    }
    RegionLayout {
        live: Some((base, end)),
        placement: if live.randomize_memory {
            Placement::Randomized
        } else {
            Placement::Fixed
        },
        window: kaslr,
        align: PUD_SIZE,
        ..fixed
    }
}

fn live_extent(doc: &DocMap<'_>, index: usize, live: &Live) -> RegionLayout {
    let row = &doc.regions[index];
    let doc_end = row.end;
    let fixed = |source| fixed_extent(doc, index, source);
    let randomized = |base: u64, source| randomized_extent(doc, index, live, (base, source));
    match row.id {
        RegionId::DirectMap => randomized(live.page_offset_base, "page_offset_base"),
        RegionId::Vmalloc => randomized(live.vmalloc_base, "vmalloc_base"),
        RegionId::Vmemmap => randomized(live.vmemmap_base, "vmemmap_base"),
        // RANDOMIZE_BASE slides the image anywhere below KERNEL_IMAGE_SIZE,
        // which is 1 GiB rather than the documented 512 MiB.
        RegionId::KernelText => RegionLayout {
            live: Some((live.text_start, live.text_end)),
            placement: Placement::TextSlide,
            window: (START_KERNEL_MAP, live.modules_vaddr() - 1),
            align: live.physical_align,
            reason: "KERNEL_IMAGE_SIZE is 1 GiB with RANDOMIZE_BASE; the document assumes 512 MiB",
            ..fixed(TEXT_SOURCE)
        },
        RegionId::Modules => RegionLayout {
            live: Some((live.modules_vaddr(), MODULES_END - 1)),
            reason: "MODULES_VADDR follows KERNEL_IMAGE_SIZE (1 GiB with RANDOMIZE_BASE)",
            ..fixed("MODULES_VADDR = __START_KERNEL_map + KERNEL_IMAGE_SIZE")
        },
        RegionId::LdtRemap => {
            let base = live.ldt_base();
            RegionLayout {
                live: Some((base, base + (1u64 << pgdir_shift(live.paging)) - 1)),
                ..fixed("LDT_BASE_ADDR = LDT_PGD_ENTRY << pgdir_shift")
            }
        }
        RegionId::CpuEntryArea => RegionLayout {
            placement: Placement::PerCpuSlots,
            ..fixed("get_cpu_entry_area(0)")
        },
        RegionId::Espfix => RegionLayout {
            live: Some((ESPFIX_BASE, doc_end)),
            ..fixed("ESPFIX_BASE_ADDR")
        },
        RegionId::Efi => RegionLayout {
            live: Some((EFI_VA_END, EFI_VA_START - 1)),
            ..fixed("EFI_VA_END..EFI_VA_START")
        },
        RegionId::Fixmap => RegionLayout {
            live: Some((live.fixaddr_start, fixaddr_top() + PAGE_SIZE - 1)),
            reason: "the fixmap's top slots hold the vsyscall page, up to FIXADDR_TOP",
            ..fixed("FIXADDR_START..FIXADDR_TOP (__end_of_permanent_fixed_addresses)")
        },
        RegionId::Vsyscall => RegionLayout {
            live: Some((VSYSCALL_ADDR, VSYSCALL_ADDR + PAGE_SIZE - 1)),
            ..fixed("VSYSCALL_ADDR")
        },
        RegionId::KasanShadow if !live.kasan => RegionLayout {
            live: None,
            verdict: Verdict::Absent,
            reason: "kernel built without KASAN",
            ..fixed("KASAN_SHADOW_START")
        },
        _ => fixed("documented constant"),
    }
}

/// The verdict on one region on its own (window, alignment, size).
fn judge_alone(r: &mut RegionLayout, id: RegionId, live: &Live) {
    let Some((start, end)) = r.live else { return };
    let (verdict, reason) = if start < r.window.0 || start > r.window.1 {
        (
            Verdict::OutsideWindow,
            "base lies outside its documented window",
        )
    } else if start % r.align != 0 {
        (
            Verdict::Misaligned,
            "base is not aligned as the kernel aligns it",
        )
    } else if id == RegionId::DirectMap && end - start + 1 < live.ram_end {
        (
            Verdict::TooSmall,
            "direct map is smaller than the top of System RAM",
        )
    } else if id == RegionId::CpuEntryArea && !(start..=end).contains(&live.cpu_entry_area0) {
        (
            Verdict::OutsideWindow,
            "CPU 0's cpu_entry_area lies outside the region",
        )
    } else if (r.placement == Placement::Fixed && (start, end) != (r.doc_start, r.doc_end))
        || (r.placement == Placement::TextSlide && end > r.doc_end)
    {
        let why = if r.reason.is_empty() {
            "live extent differs from the documented one"
        } else {
            r.reason
        };
        (Verdict::Departs, why)
    } else {
        (Verdict::Ok, "")
    };
    r.verdict = verdict;
    r.reason = reason;
}

/// Hold every row of `doc` against `live`: one [`RegionLayout`] per row,
/// in documented order. Also checks that present regions keep the
/// documented order and do not overlap (the vsyscall page is a fixmap slot,
/// so it is exempt from the overlap check against the fixmap).
pub fn evaluate<'d>(doc: &'d DocMap<'d>, live: &'d Live) -> Evaluation<'d> {
    Evaluation {
        doc,
        live,
        index: 0,
        prev: None,
    }
}

/// Iterator of [`evaluate`].
pub struct Evaluation<'d> {
    doc: &'d DocMap<'d>,
    live: &'d Live,
    index: usize,
    /// The last present region before `index` (not the vsyscall page).
    prev: Option<(RegionId, u64, u64)>,
}

impl Iterator for Evaluation<'_> {
    type Item = RegionLayout;

    fn next(&mut self) -> Option<RegionLayout> {
        let index = self.index;
        let row = self.doc.regions.get(index)?;
        self.index += 1;
        let mut r = live_extent(self.doc, index, self.live);
        judge_alone(&mut r, row.id, self.live);
        if let (Some((start, end)), Kind::Region) = (r.live, row.kind) {
            if let Some((prev_id, prev_start, prev_end)) = self.prev {
                let contained = prev_id == RegionId::Fixmap && row.id == RegionId::Vsyscall;
                if start < prev_start {
                    r.verdict = Verdict::OutOfOrder;
                    r.reason = "starts before the region documented ahead of it";
                } else if start <= prev_end && !contained && r.verdict == Verdict::Ok {
                    r.verdict = Verdict::Overlaps;
                    r.reason = "overlaps the region documented ahead of it";
                }
            }
            if row.id != RegionId::Vsyscall {
                self.prev = Some((row.id, start, end));
            }
        }
        Some(r)
    }
}
