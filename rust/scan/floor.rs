// SPDX-License-Identifier: GPL-2.0

//! The benchmark's floor: what reading each table page of a walk costs,
//! with nothing decoded.

use kernel::{alloc::VVec, prelude::*};

use crate::helpers::{cond_resched, ns_since, Clock};
use crate::vmlayout_core::{
    layout::Live,
    pte::{Effective, Level, Table, ENTRIES},
    walk::{TableReader, TableSource, Top, WalkSink},
};

use super::reader::{DirectMap, DirectTable};
use super::walk_of;
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
    /// fault-tolerant load ([`DirectTable`]), in place.
    pub(crate) load_ns: u64,
}

/// A table source that notes every table page it reads.
struct Recorder<'a> {
    src: DirectMap,
    pages: &'a mut VVec<u64>,
    overflow: bool,
}

impl Recorder<'_> {
    fn note(&mut self, phys: u64) {
        if self.pages.push_within_capacity(phys).is_err() {
            self.overflow = true;
        }
    }
}

impl TableSource for Recorder<'_> {
    type Reader = DirectTable;

    fn read_table(&mut self, phys: u64) -> Option<DirectTable> {
        self.note(phys);
        self.src.read_table(phys)
    }

    fn copy_table(&mut self, phys: u64, out: &mut Table) -> bool {
        self.note(phys);
        self.src.copy_table(phys, out)
    }

    fn read_entry(&mut self, table: u64, index: usize) -> Option<u64> {
        self.src.read_entry(table, index)
    }
}

/// Ignores what the walk finds: only the table pages it visits matter.
struct NoSink;

impl WalkSink for NoSink {
    fn leaf(&mut self, _: u64, _: Level, _: u64, _: u64, _: Effective) {}
    fn table(&mut self, _: Level) {}
    fn shared(&mut self, _: Level, _: u64) {}
    fn unreadable(&mut self, _: u64, _: Level, _: u64) {}
    fn changed(&mut self, _: u64, _: Level) {}
    fn cleared(&mut self, _: u64, _: Level, _: u64) {}
}

/// Measure the floor on the tables under `reference`: list the table pages
/// with an untimed walk, then time copying each of them once, in this
/// thread (preemptible, as the walk is).
/// Uses the scan's workspace, so it never overlaps a scan.
pub(crate) fn floor(live: &Live, reference: u64, ws: &mut Workspace) -> Result<Floor> {
    let walk = walk_of(live);
    let (root, scratch) = (&mut *ws.root, &mut *ws.scratch);
    if !DirectMap::new(live.page_offset_base).copy_table(reference, root) {
        return Err(EIO);
    }
    let mut capacity = 64 * 1024;
    let pages = loop {
        let mut pages = VVec::with_capacity(capacity, GFP_KERNEL)?;
        pages.push(reference, GFP_KERNEL)?;
        let mut recorder = Recorder {
            src: DirectMap::new(live.page_offset_base),
            pages: &mut pages,
            overflow: false,
        };
        walk.walk_top(
            Top::kernel_half(reference, root),
            &mut recorder,
            scratch,
            &mut NoSink,
        );
        if !recorder.overflow {
            break pages;
        }
        capacity *= 4;
    };
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
