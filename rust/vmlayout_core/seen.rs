// SPDX-License-Identifier: GPL-2.0

//! Findings across scans: when each was first and last seen, and which
//! appeared or cleared since the scan before (the `vmlayout:finding` and
//! `vmlayout:finding_cleared` events).
//!
//! A finding is the same one in two scans when its rule, its severity, its
//! table's owner and its range (addresses, level, attributes) are the
//! same: a range whose attributes change is a new finding, and the old one
//! clears; so does an error that a scan's re-check found gone (reported as
//! info).

use super::rules::Finding;

/// When a finding was first seen (by the first scan of an unbroken run of
/// scans that all found it) and last seen (the latest of them), in the
/// kernel's monotonic nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// The first scan of the run that found it.
    pub first_ns: u64,
    /// The last scan that found it.
    pub last_ns: u64,
}

/// What changed from one scan's findings to the next.
#[derive(Clone, Copy, Debug)]
pub enum Change<'a> {
    /// In the new scan, not in the one before.
    Appeared(&'a Finding, Seen),
    /// In the scan before, not in the new one: when it was seen.
    Cleared(&'a Finding, Seen),
}

/// Whether `a` and `b` are the same finding seen by two scans.
pub fn same(a: &Finding, b: &Finding) -> bool {
    let (x, y) = (&a.range, &b.range);
    a.rule == b.rule
        && a.severity == b.severity
        && a.owner == b.owner
        && (x.start, x.last, x.level, x.flags) == (y.start, y.last, y.level, y.flags)
}

/// The previous scan's findings (`old`, seen as `old_seen` says) carried
/// over to the scan made at `now_ns` (`new`): `seen[i]` is `new[i]`'s times
/// (the matching old finding's first time, else `now_ns`). `emit` gets each
/// finding that appeared, in `new`'s order, then each that cleared, in
/// `old`'s. `seen` must be as long as `new`, `old_seen` as `old`.
///
/// Two scans write their findings in the same order (the same passes over
/// ranges in address order), so the match is looked for at the cursor
/// first, past the previous match: linear when little changed, quadratic
/// at worst in the findings kept (a few thousand at most).
pub fn carry_over(
    (old, old_seen): (&[Finding], &[Seen]),
    new: &[Finding],
    now_ns: u64,
    seen: &mut [Seen],
    mut emit: impl FnMut(Change<'_>),
) {
    let mut cursor = 0;
    for (i, finding) in new.iter().enumerate() {
        let at = find_from(old, &mut cursor, finding);
        let first_ns = at
            .and_then(|j| old_seen.get(j))
            .map_or(now_ns, |s| s.first_ns);
        let times = Seen {
            first_ns,
            last_ns: now_ns,
        };
        if let Some(slot) = seen.get_mut(i) {
            *slot = times;
        }
        if at.is_none() {
            emit(Change::Appeared(finding, times));
        }
    }
    let mut cursor = 0;
    for (j, finding) in old.iter().enumerate() {
        if find_from(new, &mut cursor, finding).is_none() {
            let times = old_seen.get(j).copied().unwrap_or_default();
            emit(Change::Cleared(finding, times));
        }
    }
}

/// The index of the finding in `list` that is `finding`, looked for from
/// `cursor` on, then before it; a match moves `cursor` past it.
fn find_from(list: &[Finding], cursor: &mut usize, finding: &Finding) -> Option<usize> {
    let from = (*cursor).min(list.len());
    let at = (from..list.len())
        .chain(0..from)
        .find(|&j| same(&list[j], finding))?;
    *cursor = at + 1;
    Some(at)
}
