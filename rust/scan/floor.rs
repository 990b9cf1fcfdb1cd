// SPDX-License-Identifier: GPL-2.0

//! The benchmark's floor: what reading each table page of a walk costs,
//! with nothing decoded.

use kernel::prelude::*;

use crate::helpers::{cond_resched, ns_since, Clock};
use crate::vmlayout_core::{
    layout::Live,
    pte::ENTRIES,
    walk::{TableReader, TableSource},
};

use super::pages::table_pages;
use super::reader::DirectMap;
use super::workspace::Workspace;

/// The benchmark's floors: what reading each table page the walk visits,
/// exactly once, costs on one CPU, with nothing decoded.
#[derive(Clone, Copy)]
pub(crate) struct Floor {
    /// Table pages read, the top-level table included.
    pub(crate) table_pages: u64,
    /// Time to copy each page with `copy_from_kernel_nofault()`, the
    /// kernel's own fault-tolerant read.
    pub(crate) ns: u64,
    /// Time to read each entry of each page once with the walk's own
    /// fault-tolerant load ([`DirectTable`](super::reader::DirectTable)), in place.
    pub(crate) load_ns: u64,
}

/// Measure the floor on the tables under `reference`: list the table pages
/// with an untimed walk, then time copying each of them once, in this
/// thread (preemptible, as the walk is).
/// Uses the scan's workspace, so it never overlaps a scan.
pub(crate) fn floor(live: &Live, reference: u64, ws: &mut Workspace) -> Result<Floor> {
    let pages = table_pages(live, reference, ws)?;
    let scratch = &mut *ws.scratch;
    let mut src = DirectMap::new(live.page_offset_base);
    let buf = &mut scratch[0];
    let ns = time_pages(&pages, |phys| {
        src.copy_table(phys, buf);
    });
    let mut sum = 0u64;
    let load_ns = time_pages(&pages, |phys| {
        if let Some(mut table) = src.read_table(phys) {
            for index in 0..ENTRIES {
                sum ^= table.entry(index);
            }
        }
    });
    core::hint::black_box(sum);
    Ok(Floor {
        table_pages: pages.len() as u64,
        ns,
        load_ns,
    })
}

/// Time `read` on each of `pages` in turn, rescheduling every 512 pages as
/// the walk does between batches.
fn time_pages(pages: &[u64], mut read: impl FnMut(u64)) -> u64 {
    let start = Clock::now();
    for (i, &phys) in pages.iter().enumerate() {
        read(phys);
        if i % 512 == 511 {
            cond_resched();
        }
    }
    ns_since(start)
}
