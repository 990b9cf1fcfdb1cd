// SPDX-License-Identifier: GPL-2.0

//! Reading the running kernel's layout: the only place that touches the
//! kernel's variables for the layout. Everything computed from them lives in
//! `vmlayout_core::layout`.

use core::ffi::{c_int, c_uint, c_void};

use crate::helpers::{get_cpu_entry_area, vmlayout_lookup};
use kernel::{alloc::KVec, bindings, prelude::*};

use crate::vmlayout_core::layout::{fixaddr_top, Live, PAGE_SIZE, PMD_SIZE, START_KERNEL_MAP};
use crate::vmlayout_core::map::Paging;

const PAGE_PRESENT: u64 = 1 << bindings::_PAGE_BIT_PRESENT;

/// Whether the 2 MiB block at `addr` is in use in the kernel's reference
/// page tables: mapped, or split into a PTE table (whose first page may be
/// unmapped: freed init memory under debug_pagealloc, for instance).
fn block_in_use(addr: u64) -> bool {
    let Some((_, level, entry)) = lookup(addr) else {
        return false;
    };
    entry & PAGE_PRESENT != 0 || level == bindings::pg_level_PG_LEVEL_4K
}

/// The kernel image mapping: the first and last 2 MiB blocks in use in the
/// `KERNEL_IMAGE_SIZE` window. `_text` is not exported, but the image is
/// 2 MiB aligned and nothing else is mapped in that window.
fn kernel_image(image_size: u64) -> (u64, u64) {
    let mut first = None;
    let mut last = 0;
    let mut block = START_KERNEL_MAP;
    while block < START_KERNEL_MAP + image_size {
        if block_in_use(block) {
            first.get_or_insert(block);
            last = block + PMD_SIZE - 1;
        }
        block += PMD_SIZE;
    }
    (first.unwrap_or(0), last)
}

/// Read everything [`Live`] holds from the running kernel; `ram` is
/// [`ram_ranges`].
pub(crate) fn read(ram: &[(u64, u64)]) -> Live {
    // SAFETY: these exported variables are written once during early boot
    // and only read afterwards.
    let (pgdir_shift, page_offset_base, vmalloc_base, vmemmap_base, phys_base) = unsafe {
        (
            bindings::pgdir_shift,
            bindings::page_offset_base as u64,
            bindings::vmalloc_base as u64,
            bindings::vmemmap_base as u64,
            bindings::phys_base as u64,
        )
    };
    let kernel_image_size: u64 = if cfg!(CONFIG_RANDOMIZE_BASE) {
        1 << 30
    } else {
        512 << 20
    };
    let (text_start, text_end) = kernel_image(kernel_image_size);
    let cpu_entry_area0 = get_cpu_entry_area(0) as u64;
    let fixmap_pages = u64::from(bindings::fixed_addresses___end_of_permanent_fixed_addresses);
    Live {
        paging: if pgdir_shift == 48 {
            Paging::Five
        } else {
            Paging::Four
        },
        page_offset_base,
        vmalloc_base,
        vmemmap_base,
        text_start,
        text_end,
        phys_base,
        physical_start: u64::from(bindings::CONFIG_PHYSICAL_START),
        physical_align: u64::from(bindings::CONFIG_PHYSICAL_ALIGN),
        kernel_image_size,
        ram_end: ram.iter().map(|r| r.1 + 1).max().unwrap_or(0),
        cpu_entry_area0,
        fixaddr_start: fixaddr_top() - fixmap_pages * PAGE_SIZE,
        kasan: cfg!(CONFIG_KASAN),
        randomize_memory: cfg!(CONFIG_RANDOMIZE_MEMORY),
    }
}

/// The memory-encryption bit(s) in page-table entries (SME/SEV), 0 without
/// AMD memory encryption.
pub(crate) fn memory_encryption_mask() -> u64 {
    crate::helpers::vmlayout_sme_mask()
}

/// Virtual address of the entry mapping `addr` in init_mm's tables, as
/// `lookup_address()` finds it.
pub(crate) fn lookup_entry(addr: u64) -> Option<u64> {
    lookup(addr).map(|(pte, _, _)| pte)
}

/// `lookup_address()`: the address of the entry mapping `addr` in
/// init_mm's tables, its level and its value.
fn lookup(addr: u64) -> Option<(u64, c_uint, u64)> {
    let (mut level, mut entry) = (0, 0);
    let pte = vmlayout_lookup(addr, &mut level, &mut entry);
    (pte != 0).then_some((pte, level, entry))
}

/// `walk_iomem_res_desc` callback: append `res` to the `KVec` at `arg`.
///
/// # Safety
///
/// `res` must point to a live resource and `arg` to a `KVec<(u64, u64)>`.
unsafe extern "C" fn note_ram_range(res: *mut bindings::resource, arg: *mut c_void) -> c_int {
    // SAFETY: `walk_iomem_res_desc` passes a live resource and our `arg`, the
    // `KVec` in `ram_ranges`.
    let (ranges, res) = unsafe { (&mut *arg.cast::<KVec<(u64, u64)>>(), &*res) };
    match ranges.push((res.start, res.end), GFP_ATOMIC) {
        Ok(()) => 0,
        Err(_) => -(bindings::ENOMEM as c_int),
    }
}

/// System RAM ranges (physical, inclusive) from the iomem resource tree.
pub(crate) fn ram_ranges() -> Result<KVec<(u64, u64)>> {
    let mut ranges = KVec::new();
    // SAFETY: the callback only pushes to `ranges`, which outlives the walk.
    let ret = unsafe {
        bindings::walk_iomem_res_desc(
            bindings::IORES_DESC_NONE as usize,
            (bindings::IORESOURCE_SYSTEM_RAM | bindings::IORESOURCE_BUSY) as usize,
            0,
            u64::MAX,
            (&raw mut ranges).cast(),
            Some(note_ram_range),
        )
    };
    if ret < 0 && ret != -(bindings::EINVAL as c_int) {
        return Err(Error::from_errno(ret));
    }
    Ok(ranges)
}
