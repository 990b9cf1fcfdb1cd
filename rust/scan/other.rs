// SPDX-License-Identifier: GPL-2.0

//! The tables other than the reference: EFI's, PTI's user-mode tables, mms'
//! LDT remap slots, and the audit of every CPU's and every mm's top level;
//! and the reference's user half where `text_poke()` maps.

use kernel::{
    alloc::{KVec, VVec},
    prelude::*,
};

use crate::helpers::{
    cond_resched, efi_memory_type, efi_table, is_cpu_tss_page, pti_enabled, EfiTable, KernelHalf,
    Processes,
};
use crate::vmlayout_core::{
    check::{self, check_other_table},
    layout::Live,
    pte::{Effective, Level, Table, ENTRIES},
    rules::{efi_wx_verdict, Finding, LiveMap, Owner, Rule, Severity, TableKind, TextAliases},
    sync::{audit_half, differing_slots, Audit},
    walk::{Coalescer, Range, Scratch, TableSource, Top, Walk, WalkSink},
};

use super::reader::{reference_half, DirectMap};
use super::rules_job::SideTask;
use super::walk_job::Walked;
use super::{Findings, Scope};

/// Ranges of a table other than the reference, and whose table it is.
pub(crate) struct OtherTable {
    pub(crate) table: TableKind,
    pub(crate) owner: Owner,
    pub(crate) ranges: VVec<Range>,
}

/// Most mms whose LDT remap slot `map` shows (the rules see them all).
pub(super) const LDT_TABLES_SHOWN: u32 = 16;

/// Collects the ranges of a walk of a few entries of another table (EFI's,
/// an mm's LDT slot), walked in this thread: they are small.
struct ListSink<'a> {
    phys_mask: u64,
    coalescer: Coalescer,
    ranges: &'a mut VVec<Range>,
    alloc_failed: bool,
}

impl ListSink<'_> {
    fn emit(&mut self, range: Option<Range>) {
        if let Some(done) = range {
            if self.ranges.push(done, GFP_KERNEL).is_err() {
                self.alloc_failed = true;
            }
        }
    }
}

impl WalkSink for ListSink<'_> {
    fn leaf(&mut self, va: u64, level: Level, entry: u64, count: u64, effective: Effective) {
        let leaves = Range::leaf(va, level, entry, count, effective, self.phys_mask);
        let done = self.coalescer.push(leaves);
        self.emit(done);
    }
    fn table(&mut self, _: Level) {}
    fn shared(&mut self, _: Level, _: u64) {}
    // A table that changed or went away under this walk shows as missing
    // ranges; the rules judge what was read, never what was not.
    fn unreadable(&mut self, _: u64, _: Level, _: u64) {}
    fn changed(&mut self, _: u64, _: Level) {}
    fn cleared(&mut self, _: u64, _: Level, _: u64) {}
}

/// Walk entries `slots` of the top-level table at `phys` (copied in `top`).
fn walk_slots(
    walk: &Walk,
    src: &mut DirectMap,
    scratch: &mut Scratch,
    phys: u64,
    top: &Table,
    slots: impl Iterator<Item = usize>,
) -> Result<VVec<Range>> {
    let mut ranges = VVec::new();
    let mut sink = ListSink {
        phys_mask: walk.phys_mask,
        coalescer: Coalescer::default(),
        ranges: &mut ranges,
        alloc_failed: false,
    };
    for slot in slots {
        let part = Top {
            phys,
            table: top,
            first: slot,
            end: slot + 1,
        };
        walk.walk_top(part, src, scratch, &mut sink);
        cond_resched();
    }
    let last = sink.coalescer.finish();
    sink.emit(last);
    if sink.alloc_failed {
        return Err(ENOMEM);
    }
    Ok(ranges)
}

/// The rules on another table's ranges; the findings name its owner, and
/// this kernel says which pages are its CPUs' TSS pages.
fn check_other(
    map: &LiveMap<'_>,
    text: &TextAliases,
    other: &OtherTable,
    findings: &mut Findings,
) -> Result {
    let kind = (other.table, other.owner);
    let keep = &mut |f| findings.push(f);
    check_other_table((map, text), kind, &other.ranges, is_cpu_tss_page, keep)?;
    Ok(())
}

/// EFI's table: its entries that differ from the reference's (the EFI
/// window's, the 1:1 map's), walked and checked.
fn scan_efi(
    walk: &Walk,
    live: &Live,
    reference: &Table,
    scratch: &mut Scratch,
    map: &LiveMap<'_>,
    text: &TextAliases,
    findings: &mut Findings,
) -> Result<Option<OtherTable>> {
    let EfiTable::At { phys, memattr } = efi_table() else {
        return Ok(None);
    };
    let mut src = DirectMap::new(live.page_offset_base);
    let ours = findings.list.len();
    let mut efi: KBox<Table> = KBox::zeroed(GFP_KERNEL)?;
    if !src.copy_table(phys, &mut efi) {
        return Err(EIO);
    }
    let slots = (0..ENTRIES).filter(|&i| efi[i] != 0 && efi[i] != reference[i]);
    let other = OtherTable {
        table: TableKind::Efi { memattr },
        owner: Owner::Efi,
        ranges: walk_slots(walk, &mut src, scratch, phys, &efi, slots)?,
    };
    check_other(map, text, &other, findings)?;
    // The rules cannot see what EFI memory a W+X mapping holds: look it up.
    for f in findings.list.iter_mut().skip(ours) {
        if f.rule == Rule::EfiWriteExec && f.severity != Severity::Info {
            let memory_type = efi_memory_type(f.range.phys);
            (f.severity, f.reason) = efi_wx_verdict(memattr, memory_type);
        }
    }
    Ok(Some(other))
}

/// With PTI, a top-level table's user-mode copy is the page after it.
const USER_TABLE_OFFSET: u64 = 4096;

/// The reference's user-mode table (PTI), kernel half: walked and checked;
/// returns it with its copy, which every mm's user table is held against.
fn scan_user(
    walk: &Walk,
    live: &Live,
    reference: u64,
    scratch: &mut Scratch,
    map: &LiveMap<'_>,
    text: &TextAliases,
    findings: &mut Findings,
) -> Result<(OtherTable, KBox<Table>)> {
    let mut src = DirectMap::new(live.page_offset_base);
    let mut user: KBox<Table> = KBox::zeroed(GFP_KERNEL)?;
    let phys = reference + USER_TABLE_OFFSET;
    if !src.copy_table(phys, &mut user) {
        return Err(EIO);
    }
    let slots = (ENTRIES / 2..ENTRIES).filter(|&i| user[i] != 0);
    let other = OtherTable {
        table: TableKind::User,
        owner: Owner::UserTable,
        ranges: walk_slots(walk, &mut src, scratch, phys, &user, slots)?,
    };
    check_other(map, text, &other, findings)?;
    Ok((other, user))
}

/// The process audit's buffers: the reference's kernel half and an mm's,
/// an mm's whole top-level table as the walker takes it (only its LDT slot
/// is ever written, always the same slot, so the rest stays empty), and
/// an mm's user-mode (PTI) table.
pub(super) struct AuditBuffers {
    pub(super) ours: KBox<KernelHalf>,
    pub(super) theirs: KBox<KernelHalf>,
    pub(super) whole: KBox<Table>,
    pub(super) user: KBox<Table>,
}

/// Phase 4, a side task of the rules job: the other tables. Every CPU's
/// active table (read by its worker during the walk) and every mm's
/// against the reference, kernel half; EFI's table; with PTI, the user-mode
/// tables; mms' LDT remap slots.
pub(super) struct OtherTables<'a> {
    scope: Scope<'a>,
    walked: &'a Walked,
    root: &'a Table,
    audit: &'a mut AuditBuffers,
    /// The tables walked, to be shown.
    pub(super) tables: KVec<OtherTable>,
    /// How many mms were audited.
    pub(super) mms: u32,
}

/// Check `other` (a table of an mm) and keep it to be shown if fewer than
/// [`LDT_TABLES_SHOWN`] of its kind are (`shown` counts them).
fn check_and_show(
    map: &LiveMap<'_>,
    text: &TextAliases,
    (shown_tables, shown): (&mut KVec<OtherTable>, &mut u32),
    other: OtherTable,
    findings: &mut Findings,
) -> Result {
    check_other(map, text, &other, findings)?;
    if *shown < LDT_TABLES_SHOWN {
        shown_tables.push(other, GFP_KERNEL)?;
        *shown += 1;
    }
    Ok(())
}

impl<'a> OtherTables<'a> {
    /// The other tables of `scope`'s scan, against the walk's result and
    /// the reference's copy.
    pub(super) fn new(
        scope: Scope<'a>,
        walked: &'a Walked,
        root: &'a Table,
        audit: &'a mut AuditBuffers,
    ) -> Self {
        OtherTables {
            scope,
            walked,
            root,
            audit,
            tables: KVec::new(),
            mms: 0,
        }
    }
}

impl SideTask for OtherTables<'_> {
    fn check(
        &mut self,
        map: &LiveMap<'_>,
        text: &TextAliases,
        scratch: &mut Scratch,
        findings: &mut Findings,
    ) -> Result {
        let Scope {
            ref walk,
            live,
            reference,
            ..
        } = self.scope;
        for cpu in self.walked.unsynced.iter() {
            for &(slot, entry) in cpu.slots.iter() {
                let owner = Owner::Cpu(cpu.cpu as u32);
                findings.push(Finding::unsynced(walk, map, slot, entry, owner))?;
            }
        }
        if let Some(efi) = scan_efi(walk, live, self.root, scratch, map, text, findings)? {
            self.tables.push(efi, GFP_KERNEL)?;
        }
        // text_poke()'s area of the user half, empty in the reference.
        let mut src = DirectMap::new(live.page_offset_base);
        check::poke_leaks((walk, reference), map, (&mut src, scratch), &mut |f| {
            findings.push(f)
        })?;
        let reference_user = if pti_enabled() {
            let (table, copy) = scan_user(walk, live, reference, scratch, map, text, findings)?;
            self.tables.push(table, GFP_KERNEL)?;
            Some(copy)
        } else {
            None
        };
        self.mms = self.audit_processes(map, text, scratch, reference_user.as_deref(), findings)?;
        Ok(())
    }
}

/// An mm's own tables besides its top-level table's kernel half: with PTI,
/// its LDT remap slot and its user-mode table.
struct MmTables {
    /// The mm's top-level table (physical).
    phys: u64,
    /// The LDT remap slot (index in the whole table) and its entry.
    ldt: (usize, u64),
    /// The task (pid, command name).
    owner: (i32, [u8; 16]),
}

impl MmTables {
    /// Walk and check the LDT slot, and the user-mode table's kernel half
    /// where it differs from the reference's (`reference_user`), the LDT
    /// slot left out; keep the first [`LDT_TABLES_SHOWN`] of each kind to
    /// be shown (`shown`: the list, how many LDT and user tables).
    fn check(
        &self,
        walk: &Walk,
        (map, text): (&LiveMap<'_>, &TextAliases),
        reference_user: Option<&Table>,
        (src, scratch, whole, user): (&mut DirectMap, &mut Scratch, &mut Table, &mut Table),
        (others, ldt_shown, user_shown): (&mut KVec<OtherTable>, &mut u32, &mut u32),
        findings: &mut Findings,
    ) -> Result {
        let (ldt_slot, ldt) = self.ldt;
        let (pid, comm) = self.owner;
        if ldt != 0 {
            whole[ldt_slot] = ldt;
            let ranges = walk_slots(walk, src, scratch, self.phys, whole, [ldt_slot].into_iter())?;
            let other = OtherTable {
                table: TableKind::Ldt,
                owner: Owner::Task(pid, comm),
                ranges,
            };
            check_and_show(map, text, (others, ldt_shown), other, findings)?;
        }
        let Some(reference_user) = reference_user else {
            return Ok(());
        };
        let user_phys = self.phys + USER_TABLE_OFFSET;
        if !src.copy_table(user_phys, user) {
            return Ok(());
        }
        let differs = |&i: &usize| i != ldt_slot && user[i] != reference_user[i];
        if (ENTRIES / 2..ENTRIES).any(|i| differs(&i)) {
            let slots = (ENTRIES / 2..ENTRIES).filter(differs);
            let other = OtherTable {
                table: TableKind::User,
                owner: Owner::TaskUser(pid, comm),
                ranges: walk_slots(walk, src, scratch, user_phys, user, slots)?,
            };
            check_and_show(map, text, (others, user_shown), other, findings)?;
        }
        Ok(())
    }
}

impl OtherTables<'_> {
    /// Audit every process's mm: the kernel half of its top-level table must be
    /// the reference's. Each mm is pinned while its table is read; a table that
    /// differs is read again, with the reference, before it is reported.
    fn audit_processes(
        &mut self,
        map: &LiveMap<'_>,
        text: &TextAliases,
        scratch: &mut Scratch,
        reference_user: Option<&Table>,
        findings: &mut Findings,
    ) -> Result<u32> {
        let Scope {
            ref walk,
            live,
            reference,
            ..
        } = self.scope;
        let ldt_slot = walk.top.index(live.ldt_base());
        let AuditBuffers {
            ours,
            theirs,
            whole,
            user,
        } = &mut *self.audit;
        let others = &mut self.tables;
        let mut src = DirectMap::new(live.page_offset_base);
        let (mut ldt_shown, mut user_shown, mut checked) = (0, 0, 0);
        if !reference_half(live.page_offset_base, reference, ours) {
            return Err(EIO);
        }
        for mm in Processes::new() {
            checked += 1;
            let mut phys = reference;
            let audit = audit_half(
                &mut **ours,
                &mut **theirs,
                ldt_slot,
                |ours| reference_half(live.page_offset_base, reference, ours),
                |theirs| {
                    phys = mm.copy_table(theirs);
                    phys != reference
                },
                cond_resched,
            );
            if audit == Audit::Unreadable {
                return Err(EIO);
            }
            let owner = Owner::Task(mm.task.pid, mm.task.comm);
            if audit == Audit::Differs {
                for slot in differing_slots(&ours[..], &theirs[..], ldt_slot) {
                    findings.push(Finding::unsynced(walk, map, slot, theirs[slot], owner))?;
                }
            }
            // The mm's own LDT remap slot and user-mode table (PTI): walked
            // while the mm is pinned.
            if phys != reference {
                let ldt = theirs[ldt_slot - ENTRIES / 2];
                let tables = MmTables {
                    phys,
                    ldt: (ldt_slot, ldt),
                    owner: (mm.task.pid, mm.task.comm),
                };
                let shown = (&mut *others, &mut ldt_shown, &mut user_shown);
                let space = (&mut src, &mut *scratch, &mut **whole, &mut **user);
                tables.check(walk, (map, text), reference_user, space, shown, findings)?;
            }
        }
        Ok(checked)
    }
}
