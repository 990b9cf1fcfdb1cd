// SPDX-License-Identifier: GPL-2.0

//! Comparing the page-table path of a faulting address in the active table
//! with the reference path: what a lazy page-table sync would have fixed.

use super::pte::{Level, PageTableEntry};

/// How a kernel fault relates to the reference tables. The values are the
/// tracepoint's (`enum vmlayout_fault_class` in
/// `include/trace/events/vmlayout.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum SyncClass {
    /// The reference maps the address, the active table does not.
    Unsynced = 0,
    /// Both map it.
    Spurious = 1,
    /// The reference does not map it either.
    Unmapped = 2,
}

impl SyncClass {
    /// Stable name used in the tracepoint.
    pub const fn name(self) -> &'static str {
        match self {
            SyncClass::Unsynced => "unsynced",
            SyncClass::Spurious => "spurious",
            SyncClass::Unmapped => "unmapped",
        }
    }
}

/// The comparison of two paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathDiff {
    /// The class.
    pub class: SyncClass,
    /// First level where the entries differ, if any.
    pub level: Option<Level>,
    /// Reference entry at that level (or the leaf-most one read).
    pub reference: u64,
    /// Active entry at that level (or the leaf-most one read).
    pub current: u64,
}

/// One path: the entries read from `root` down to a leaf or a non-present entry.
struct Path {
    entries: [u64; 5],
    levels: usize,
    maps: bool,
}

fn path(
    top: Level,
    phys_mask: u64,
    addr: u64,
    root: u64,
    read: &mut impl FnMut(u64, usize) -> Option<u64>,
) -> Path {
    let mut p = Path {
        entries: [0; 5],
        levels: 0,
        maps: false,
    };
    let mut table = root;
    let mut level = top;
    loop {
        let index = level.index(addr);
        let entry = read(table, index).unwrap_or(0);
        p.entries[p.levels] = entry;
        p.levels += 1;
        let e = PageTableEntry(entry);
        if !e.present() {
            return p;
        }
        let below = match level.below() {
            Some(b) if !e.is_leaf(level) => b,
            _ => {
                p.maps = true;
                return p;
            }
        };
        table = e.next_table(phys_mask);
        level = below;
    }
}

/// Compare the paths to `addr` from the reference root and the active root.
/// `read(table_phys, index)` reads one entry (`None` if it cannot).
pub fn compare_paths(
    top: Level,
    phys_mask: u64,
    addr: u64,
    reference_root: u64,
    current_root: u64,
    mut read: impl FnMut(u64, usize) -> Option<u64>,
) -> PathDiff {
    let reference = path(top, phys_mask, addr, reference_root, &mut read);
    let current = path(top, phys_mask, addr, current_root, &mut read);
    let common = reference.levels.min(current.levels);
    let differ = (0..common).find(|&i| reference.entries[i] != current.entries[i]);
    let (level, at) = match differ {
        Some(i) => (Some(i), i),
        None => (None, common - 1),
    };
    let class = match (reference.maps, current.maps) {
        (false, _) => SyncClass::Unmapped,
        (true, false) => SyncClass::Unsynced,
        (true, true) => SyncClass::Spurious,
    };
    let level_at = |i: usize| {
        let mut l = top;
        for _ in 0..i {
            l = l.below().unwrap_or(Level::Pte);
        }
        l
    };
    PathDiff {
        class,
        level: level.map(level_at),
        reference: reference.entries[at],
        current: current.entries[at],
    }
}
