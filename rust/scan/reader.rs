// SPDX-License-Identifier: GPL-2.0

//! The reference top-level table, and the reader of table pages through
//! the direct map that every walk of a scan uses.

use core::ffi::c_void;

use kernel::{bindings, prelude::*};

use crate::helpers::{load_nofault, KernelHalf};
use crate::vmlayout_core::{
    layout::{Live, START_KERNEL_MAP},
    pte::{PageTableEntry, Table, ENTRIES},
    walk::{TableReader, TableSource, Walk},
};

/// Reads table pages through the direct map with `copy_from_kernel_nofault`,
/// so a table freed or unmapped under the walk (DEBUG_PAGEALLOC) is reported
/// instead of faulting.
pub(crate) struct DirectMap {
    page_offset_base: u64,
}

impl DirectMap {
    /// Read through the direct map at `page_offset_base`.
    pub(crate) fn new(page_offset_base: u64) -> Self {
        DirectMap { page_offset_base }
    }

    /// Where the direct map shows the table page at physical `phys`: `None`
    /// if that would wrap past the top of the address space (a corrupt
    /// entry), so that every address returned is in the kernel half, where
    /// a fault goes to the exception table.
    #[inline(always)]
    fn table_address(&self, phys: u64) -> Option<*const u64> {
        let end = phys.checked_add(PAGE_MASK)?;
        self.page_offset_base.checked_add(end)?;
        Some((self.page_offset_base + (phys & !PAGE_MASK)) as *const u64)
    }
}

/// Offset bits within a table page.
const PAGE_MASK: u64 = core::mem::size_of::<Table>() as u64 - 1;

/// A table page read in place through the direct map, one
/// [`load_nofault`] per entry.
pub(crate) struct DirectTable {
    entries: *const u64,
    faulted: u64,
}

impl TableReader for DirectTable {
    #[inline(always)]
    fn entry(&mut self, index: usize) -> u64 {
        let index = index % ENTRIES;
        // SAFETY: `entries` is a page-aligned kernel-half address
        // (`DirectMap::table_address`) and `index` is within its page.
        unsafe { load_nofault(self.entries.add(index), &mut self.faulted) }
    }

    fn failed(&self) -> bool {
        self.faulted != 0
    }
}

impl TableSource for DirectMap {
    type Reader = DirectTable;

    #[inline(always)]
    fn read_entry(&mut self, table: u64, index: usize) -> Option<u64> {
        let mut reader = self.read_table(table)?;
        let entry = reader.entry(index);
        (!reader.failed()).then_some(entry)
    }

    #[inline(always)]
    fn read_table(&mut self, phys: u64) -> Option<DirectTable> {
        Some(DirectTable {
            entries: self.table_address(phys)?,
            faulted: 0,
        })
    }

    #[inline(always)]
    fn copy_table(&mut self, phys: u64, out: &mut Table) -> bool {
        self.copy_words(phys, &mut out[..])
    }
}

impl DirectMap {
    /// Copy `out.len()` words from physical `phys` through the direct map,
    /// fault-tolerant: `false` if any of it could not be read. The one
    /// copy of table memory (whole tables, a kernel half).
    fn copy_words(&self, phys: u64, out: &mut [u64]) -> bool {
        let src = self.page_offset_base.wrapping_add(phys) as *const c_void;
        // SAFETY: `out` is writable for its size; the source is only read
        // through the fault-tolerant copy, which validates it.
        unsafe {
            bindings::copy_from_kernel_nofault(
                out.as_mut_ptr().cast(),
                src,
                core::mem::size_of_val(out),
            ) == 0
        }
    }
}

/// The reference top-level table (`init_mm.pgd`, which is not exported):
/// switch a kernel thread to init_mm with `leave_mm()` and read CR3. The
/// result is verified twice: it must lie in the kernel image (where
/// `swapper_pg_dir` is; every other mm's table comes from the page
/// allocator), and walking it must reach the very entry `lookup_address()`,
/// which walks init_mm, returns for our own code.
pub(crate) fn reference_table(walk: &Walk, live: &Live) -> Result<u64> {
    let page_offset_base = live.page_offset_base;
    let table = crate::helpers::reference_table()?;
    let image = live
        .text_start
        .wrapping_sub(START_KERNEL_MAP)
        .wrapping_add(live.phys_base);
    if table < image || table > image + (live.text_end - live.text_start) {
        pr_warn!("the reference table ({table:#x}) is not in the kernel image\n");
        return Err(EIO);
    }
    // Verify: our own code must resolve, through this table, to the very
    // entry lookup_address() finds in init_mm's tables.
    let probe = reference_table as *const () as u64;
    let mut src = DirectMap { page_offset_base };
    let mut level = walk.top;
    let mut phys = table;
    let mut buf: KBox<Table> = KBox::zeroed(GFP_KERNEL)?;
    loop {
        if !src.copy_table(phys, &mut buf) {
            return Err(EIO);
        }
        let index = level.index(probe);
        let entry = buf[index];
        if PageTableEntry(entry).ends_walk(level) {
            let ours = page_offset_base + phys + index as u64 * 8;
            let theirs = crate::live::lookup_entry(probe);
            if theirs != Some(ours) {
                pr_warn!("reference table {table:#x} does not agree with lookup_address()\n");
                return Err(EIO);
            }
            return Ok(table);
        }
        phys = entry & walk.phys_mask;
        level = match level.below() {
            Some(l) => l,
            None => return Err(EIO),
        };
    }
}

/// The kernel half of the reference top-level table, read again.
pub(super) fn reference_half(page_offset_base: u64, reference: u64, out: &mut KernelHalf) -> bool {
    let half = (ENTRIES as u64 / 2) * 8;
    DirectMap::new(page_offset_base).copy_words(reference + half, &mut out[..])
}
