// SPDX-License-Identifier: GPL-2.0

//! The table pages a walk of the reference reads: what the benchmark's
//! floor times, and what the `tables` file captures.

use kernel::{alloc::VVec, prelude::*};

use crate::helpers::cond_resched;
use crate::vmlayout_core::{
    capture::tables_of,
    layout::Live,
    walk::{TableSource, Top},
};

use super::reader::DirectMap;
use super::walk_of;
use super::workspace::Workspace;

/// The physical address of every table page a walk of the kernel half of
/// `reference` reads, the top-level table first, in walk order (a page
/// shared by several entries is read, and listed, once per run of them).
/// An untimed walk in this thread, preemptible; with the scan's workspace,
/// so it never overlaps a scan.
pub(crate) fn table_pages(live: &Live, reference: u64, ws: &mut Workspace) -> Result<VVec<u64>> {
    let walk = walk_of(live);
    let (root, scratch) = (&mut *ws.root, &mut *ws.scratch);
    if !DirectMap::new(live.page_offset_base).copy_table(reference, root) {
        return Err(EIO);
    }
    // Grown by a walk again, never by reallocating in the walk.
    let mut capacity = 64 * 1024;
    loop {
        let mut pages = VVec::with_capacity(capacity, GFP_KERNEL)?;
        let mut overflow = false;
        let saw = |phys: u64| {
            if pages.push_within_capacity(phys).is_err() {
                overflow = true;
            } else if pages.len() % 512 == 0 {
                cond_resched();
            }
        };
        let mut src = DirectMap::new(live.page_offset_base);
        tables_of(
            &walk,
            Top::kernel_half(reference, root),
            &mut src,
            scratch,
            saw,
        );
        if !overflow {
            return Ok(pages);
        }
        capacity *= 4;
    }
}
