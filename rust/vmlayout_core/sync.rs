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

/// How often a top-level table that differs from the reference is read
/// again, with the reference, before the difference is reported: a CPU
/// may switch tables, or an mm be synced, between the two reads.
pub const AUDIT_RETRIES: u32 = 3;

/// The slots of a top-level table's kernel half (indices in the half)
/// where `theirs` differs from `ours`, the LDT remap slot (index
/// `ldt_slot` in the whole table) left out: it is per mm by design, with
/// PTI.
pub fn differing_slots<'a>(
    ours: &'a [u64],
    theirs: &'a [u64],
    ldt_slot: usize,
) -> impl Iterator<Item = usize> + 'a {
    let half = super::pte::ENTRIES / 2;
    (0..ours.len().min(theirs.len())).filter(move |&i| i + half != ldt_slot && ours[i] != theirs[i])
}

/// What the audit of a table's kernel half against the reference found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audit {
    /// The same as the reference (or the reference itself); `resynced`
    /// when it differed at first.
    Same {
        /// It differed at first.
        resynced: bool,
    },
    /// Still different after [`AUDIT_RETRIES`] more reads of both: the
    /// slots are [`differing_slots`] of the last reads.
    Differs,
    /// The reference could not be read again.
    Unreadable,
}

/// Audit a table's kernel half (`theirs`, copied by `read_theirs`, which
/// says `false` when the table is the reference itself) against the
/// reference's (`ours`, as the caller read it; read again by `read_ours`):
/// while they differ, `relax`, then both are read again, up to
/// [`AUDIT_RETRIES`] times.
pub fn audit_half<H: AsRef<[u64]>>(
    ours: &mut H,
    theirs: &mut H,
    ldt_slot: usize,
    mut read_ours: impl FnMut(&mut H) -> bool,
    mut read_theirs: impl FnMut(&mut H) -> bool,
    mut relax: impl FnMut(),
) -> Audit {
    for attempt in 0..=AUDIT_RETRIES {
        if attempt > 0 {
            relax();
            if !read_ours(ours) {
                return Audit::Unreadable;
            }
        }
        if !read_theirs(theirs)
            || differing_slots(ours.as_ref(), theirs.as_ref(), ldt_slot)
                .next()
                .is_none()
        {
            return Audit::Same {
                resynced: attempt > 0,
            };
        }
    }
    Audit::Differs
}
