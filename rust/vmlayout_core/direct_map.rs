// SPDX-License-Identifier: GPL-2.0

//! System RAM against the direct map: every page of RAM must be mapped
//! there, or have its entry's present bit cleared on purpose.
//!
//! What the walk saw is checked first: the stretches of RAM its ranges do
//! not cover are looked up again in the live table, since the walk may
//! have read a table just before the kernel filled it. What the walk saw
//! cleared is reported as such; the rest of each stretch is classified
//! again ([`Walk::presence`]), and an empty one must still be empty when
//! looked at a second time ([`DirectMapSeen::recheck_missing`]) before it is an error.

use super::batch::NoRoom;
use super::rules::{check_ram, Finding, LiveMap, Rule, Severity};
use super::walk::{Presence, Range, Scratch, TableSource, Walk};

/// The direct map as one scan saw it: where it starts and what the walk of
/// the reference table found (ranges and cleared stretches, in address
/// order, the whole kernel half).
pub struct DirectMapSeen<'a> {
    /// The walk, for the lookups.
    pub walk: &'a Walk,
    /// The reference top-level table (physical).
    pub reference: u64,
    /// `page_offset_base`: where physical address 0 is mapped.
    pub base: u64,
    /// The reference's ranges.
    pub ranges: &'a [Range],
    /// The reference's cleared stretches.
    pub cleared: &'a [Range],
}

/// The direct map spans at most 2^56 bytes (5-level paging): ranges past
/// that are other regions.
const SPAN: u64 = 1 << 56;

/// What RAM whose direct-map entry has a given presence is: `None` when
/// it is mapped.
fn verdict(kind: Presence) -> Option<(Rule, Severity, &'static str)> {
    match kind {
        Presence::Present => None,
        Presence::Cleared => Some((
            Rule::RamMissing,
            Severity::Info,
            "System RAM whose direct-map entry has its present bit cleared on purpose (debug_pagealloc, KFENCE, secretmem, set_direct_map_*)",
        )),
        Presence::Unreadable => Some((
            Rule::TableChanged,
            Severity::Info,
            "a direct-map table could not be read when System RAM was looked up again",
        )),
        Presence::Empty => Some((Rule::RamMissing, Severity::Error, Rule::RamMissing.reason())),
    }
}

/// What a check of System RAM needs besides the direct map it saw: the
/// live map (to place findings), the live tables to look things up again
/// (with one page per level of scratch), a reschedule point between
/// lookups, and where the findings go (`Err` when there is no room).
pub struct RamCheck<'c, 'm, S> {
    /// The documented map against the live bases.
    pub map: &'c LiveMap<'m>,
    /// The live tables.
    pub src: &'c mut S,
    /// Scratch for the lookups.
    pub scratch: &'c mut Scratch,
    /// Called after each lookup.
    pub relax: &'c mut dyn FnMut(),
    /// Takes each finding.
    pub emit: &'c mut dyn FnMut(Finding) -> Result<(), NoRoom>,
}

/// The finding for `[x, y]` (virtual, the direct map at `base`) of one
/// presence, if any, to `emit`.
fn note(
    base: u64,
    x: u64,
    y: u64,
    kind: Presence,
    map: &LiveMap<'_>,
    emit: &mut dyn FnMut(Finding) -> Result<(), NoRoom>,
) -> Result<(), NoRoom> {
    let Some((rule, severity, reason)) = verdict(kind) else {
        return Ok(());
    };
    emit(Finding::about_addresses(
        rule,
        severity,
        map,
        x,
        y,
        x - base,
        reason,
    ))
}

impl DirectMapSeen<'_> {
    /// The walk's direct-map ranges, as physical addresses from `phys` on.
    fn mapped_from(&self, phys: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        let base = self.base;
        let ranges = self.ranges;
        let from = ranges.partition_point(|r| r.start < base);
        let direct = &ranges[from..];
        let direct = &direct[..direct.partition_point(|r| r.last - base <= SPAN)];
        let from = direct.partition_point(|r| r.last - base < phys);
        direct[from..]
            .iter()
            .map(move |r| (r.start - base, r.last - base))
    }

    /// Check System RAM `ram` (physical, inclusive, in address order):
    /// `out.emit` gets a finding for each part not mapped (see the
    /// module's documentation). Stops at the first finding it has no room
    /// for.
    pub fn check_ram<S: TableSource>(
        &self,
        ram: &[(u64, u64)],
        out: &mut RamCheck<'_, '_, S>,
    ) -> Result<(), NoRoom> {
        let mut result = Ok(());
        for &(first, last) in ram {
            check_ram(self.mapped_from(first), first, last, |a, b| {
                if result.is_ok() {
                    result = self.unmapped(a, b, out);
                }
            });
        }
        result
    }

    /// RAM `[a, b]` (physical) that the walk did not see mapped: what it
    /// saw cleared is info as it is; the rest is looked up again.
    fn unmapped<S: TableSource>(
        &self,
        a: u64,
        b: u64,
        out: &mut RamCheck<'_, '_, S>,
    ) -> Result<(), NoRoom> {
        // RAM the direct map cannot hold (past the top of the address
        // space: a base read from a corrupted dump) has no entry to check.
        let (Some(mut va), Some(vlast)) = (self.base.checked_add(a), self.base.checked_add(b))
        else {
            return Ok(());
        };
        let from = self.cleared.partition_point(|c| c.last < va);
        for c in self.cleared[from..].iter().take_while(|c| c.start <= vlast) {
            if c.start > va {
                self.look_up(va, c.start - 1, out)?;
            }
            let end = c.last.min(vlast);
            note(
                self.base,
                va.max(c.start),
                end,
                Presence::Cleared,
                out.map,
                out.emit,
            )?;
            if end == vlast {
                return Ok(());
            }
            va = end + 1;
        }
        self.look_up(va, vlast, out)
    }

    /// Classify `[x, y]` (virtual) in the live table and note each run;
    /// then a reschedule point.
    fn look_up<S: TableSource>(
        &self,
        x: u64,
        y: u64,
        out: &mut RamCheck<'_, '_, S>,
    ) -> Result<(), NoRoom> {
        let mut result = Ok(());
        let (walk, reference) = (self.walk, self.reference);
        let RamCheck {
            map,
            src,
            scratch,
            relax,
            emit,
        } = out;
        walk.presence(reference, x, y, *src, scratch, |p, q, kind| {
            if result.is_ok() {
                result = note(self.base, p, q, kind, map, *emit);
            }
        });
        relax();
        result
    }

    /// An empty stretch must still be empty when looked at again: each
    /// error of `found` (this check's findings) whose stretch is no longer
    /// all empty becomes info, unmapped for a moment.
    pub fn recheck_missing<S: TableSource>(
        &self,
        found: &mut [Finding],
        src: &mut S,
        scratch: &mut Scratch,
    ) {
        for f in found {
            if f.rule != Rule::RamMissing || f.severity != Severity::Error {
                continue;
            }
            let mut still_empty = true;
            let (first, last) = (f.range.start, f.range.last);
            self.walk
                .presence(self.reference, first, last, src, scratch, |_, _, kind| {
                    still_empty &= kind == Presence::Empty;
                });
            if !still_empty {
                *f = Finding {
                    rule: Rule::TableChanged,
                    severity: Severity::Info,
                    reason: "System RAM unmapped from the direct map for a moment (mapped again when looked at twice)",
                    ..*f
                };
            }
        }
    }
}
