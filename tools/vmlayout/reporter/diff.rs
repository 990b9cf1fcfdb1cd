// SPDX-License-Identifier: GPL-2.0

//! `vmlayout diff A B`: what moved between two kernels (or two boots, or a
//! boot and a rescan), and which ranges and findings appeared or went away.
//!
//! KASLR moves every randomized region at each boot, so ranges and findings
//! are compared by where they lie *in their region*: the offset from the
//! region's live start (its documented start for fixed regions), with
//! table, size, level and attributes. A range that moved with its region
//! is the same range.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{json, Value};

use crate::model::{human, human_signed, Finding, Layout, MapRange, Severity};

/// A range as compared: table, region, offset in it, size, level,
/// attributes, repeat.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RangeKey {
    pub table: String,
    pub region: String,
    pub offset: u64,
    pub size: u64,
    pub level: String,
    pub attrs: String,
    pub repeat: u64,
}

/// A finding as compared.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FindingKey {
    pub id: String,
    pub severity: Severity,
    pub table: String,
    pub region: String,
    pub offset: u64,
    pub size: u64,
    pub attrs: String,
}

/// Where a region's contents are measured from.
fn anchor(layout: &Layout, region: &str) -> u64 {
    match layout.region(region) {
        Some(r) => r.live.map_or(r.doc_start, |l| l.0),
        None => 0,
    }
}

pub fn range_key(layout: &Layout, r: &MapRange) -> RangeKey {
    RangeKey {
        table: r.table.clone(),
        region: r.region.clone(),
        offset: r.start.wrapping_sub(anchor(layout, &r.region)),
        size: r.size,
        level: r.level.clone(),
        attrs: r.attrs.clone(),
        repeat: r.repeat,
    }
}

pub fn finding_key(layout: &Layout, f: &Finding) -> FindingKey {
    FindingKey {
        id: f.id.clone(),
        severity: f.severity,
        table: f.table.clone(),
        region: f.region.clone(),
        offset: f.start.wrapping_sub(anchor(layout, &f.region)),
        size: f.size,
        attrs: f.attrs.clone(),
    }
}

/// Multiset difference: what is in `b` and not in `a` (as many times as
/// it is in excess), and the other way round.
fn multiset_diff<K: Ord + Clone>(a: &[K], b: &[K]) -> (Vec<K>, Vec<K>) {
    let mut count: BTreeMap<&K, i64> = BTreeMap::new();
    for k in a {
        *count.entry(k).or_default() -= 1;
    }
    for k in b {
        *count.entry(k).or_default() += 1;
    }
    let (mut appeared, mut gone) = (Vec::new(), Vec::new());
    for (k, n) in count {
        for _ in 0..n.unsigned_abs() {
            if n > 0 {
                appeared.push(k.clone());
            } else {
                gone.push(k.clone());
            }
        }
    }
    (appeared, gone)
}

/// Pair what went away with what appeared in the same shape at another
/// offset (in address order): those moved. Returns (moved, appeared, gone).
fn pair_moves(
    appeared: Vec<RangeKey>,
    gone: Vec<RangeKey>,
) -> (Vec<(RangeKey, RangeKey)>, Vec<RangeKey>, Vec<RangeKey>) {
    let shape = |k: &RangeKey| {
        (
            k.table.clone(),
            k.region.clone(),
            k.size,
            k.level.clone(),
            k.attrs.clone(),
            k.repeat,
        )
    };
    let mut pool: BTreeMap<_, std::collections::VecDeque<RangeKey>> = BTreeMap::new();
    for k in appeared {
        pool.entry(shape(&k)).or_default().push_back(k);
    }
    let (mut moved, mut still_gone) = (Vec::new(), Vec::new());
    for k in gone {
        match pool.get_mut(&shape(&k)).and_then(|q| q.pop_front()) {
            Some(to) => moved.push((k, to)),
            None => still_gone.push(k),
        }
    }
    let mut still_appeared: Vec<RangeKey> = pool.into_values().flatten().collect();
    still_appeared.sort();
    (moved, still_appeared, still_gone)
}

#[derive(Debug, Clone)]
pub struct BaseMove {
    pub name: String,
    pub a: Option<u64>,
    pub b: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct RuleChange {
    pub id: String,
    pub found_a: u64,
    pub found_b: u64,
    pub appeared: Vec<FindingKey>,
    pub gone: Vec<FindingKey>,
}

#[derive(Debug, Clone)]
pub struct Diff {
    pub meta: Vec<(String, String, String)>,
    pub bases: Vec<BaseMove>,
    /// Region name, verdict in A, in B, extent size change.
    pub regions: Vec<(String, String, String, i128)>,
    pub ranges_appeared: Vec<RangeKey>,
    pub ranges_gone: Vec<RangeKey>,
    /// Ranges of one shape (table, region, size, level, attributes) that
    /// are at another offset in B: cpu_entry_area's randomized per-CPU
    /// slots, vmalloc areas allocated in another order. (from, to)
    pub ranges_moved: Vec<(RangeKey, RangeKey)>,
    pub ranges_a: usize,
    pub ranges_b: usize,
    pub rules: Vec<RuleChange>,
}

impl Diff {
    pub fn new(a: &Layout, b: &Layout) -> Self {
        let mut meta = Vec::new();
        for key in ["release", "cmdline"] {
            let (va, vb) = (a.meta.get(key), b.meta.get(key));
            if va != vb {
                let s = |v: Option<&String>| v.cloned().unwrap_or_else(|| "-".into());
                meta.push((key.to_string(), s(va), s(vb)));
            }
        }
        if a.levels != b.levels {
            meta.push(("paging".into(), a.levels.to_string(), b.levels.to_string()));
        }
        let mut names: Vec<&str> = a.bases.iter().map(|x| x.name.as_str()).collect();
        for x in &b.bases {
            if !names.contains(&x.name.as_str()) {
                names.push(&x.name);
            }
        }
        let bases = names
            .into_iter()
            .map(|n| BaseMove {
                name: n.to_string(),
                a: a.base(n),
                b: b.base(n),
            })
            .collect();
        let regions = region_changes(a, b);
        let ka: Vec<RangeKey> = a.ranges.iter().map(|r| range_key(a, r)).collect();
        let kb: Vec<RangeKey> = b.ranges.iter().map(|r| range_key(b, r)).collect();
        let (appeared, gone) = multiset_diff(&ka, &kb);
        let (ranges_moved, ranges_appeared, ranges_gone) = pair_moves(appeared, gone);
        let rules = rule_changes(a, b);
        Diff {
            meta,
            bases,
            regions,
            ranges_appeared,
            ranges_gone,
            ranges_moved,
            ranges_a: a.ranges.len(),
            ranges_b: b.ranges.len(),
            rules,
        }
    }

    /// Exit status: 1 when B has a warn or error finding that A has not
    /// (a regression gate), 0 otherwise.
    pub fn exit_status(&self) -> i32 {
        let regressed = self
            .rules
            .iter()
            .flat_map(|r| r.appeared.iter())
            .any(|k| k.severity != Severity::Info);
        i32::from(regressed)
    }

    pub fn text(&self, a: &str, b: &str, max: usize) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "vmlayout diff\n  A: {a}\n  B: {b}");
        for (k, va, vb) in &self.meta {
            let _ = writeln!(o, "  {k}: {va} -> {vb}");
        }
        self.text_bases(&mut o);
        self.text_regions(&mut o);
        self.text_ranges(&mut o, max);
        self.text_rules(&mut o, max);
        o
    }

    /// The bases, moved or not.
    fn text_bases(&self, o: &mut String) {
        let _ = writeln!(o, "\nBases");
        for m in &self.bases {
            let show = |v: Option<u64>| v.map_or("-".to_string(), |v| format!("{v:016x}"));
            let delta = match (m.a, m.b) {
                (Some(x), Some(y)) if x == y => "unchanged".to_string(),
                (Some(x), Some(y)) => {
                    format!("moved {}", human_signed(i128::from(y) - i128::from(x)))
                }
                _ => "only in one".to_string(),
            };
            let _ = writeln!(
                o,
                "  {:<17} {} -> {}  {delta}",
                m.name,
                show(m.a),
                show(m.b)
            );
        }
    }

    /// The regions whose verdict or size changed.
    fn text_regions(&self, o: &mut String) {
        let _ = writeln!(o, "\nRegions");
        if self.regions.is_empty() {
            let _ = writeln!(o, "  same verdicts and sizes");
        }
        for (name, va, vb, grow) in &self.regions {
            let _ = writeln!(
                o,
                "  {name:<20} {va} -> {vb}{}",
                if *grow != 0 {
                    format!(", size {}", human_signed(*grow))
                } else {
                    String::new()
                }
            );
        }
    }

    /// The ranges that appeared, went or moved (at most `max` listed each).
    fn text_ranges(&self, o: &mut String, max: usize) {
        let _ = writeln!(
            o,
            "\nRanges (by offset in their region): A {} records, B {}; {} appeared, {} gone, {} moved",
            self.ranges_a,
            self.ranges_b,
            self.ranges_appeared.len(),
            self.ranges_gone.len(),
            self.ranges_moved.len()
        );
        let mut moved_in: BTreeMap<&str, usize> = BTreeMap::new();
        for (from, _) in &self.ranges_moved {
            *moved_in.entry(from.region.as_str()).or_default() += 1;
        }
        if !moved_in.is_empty() {
            let per: Vec<String> = moved_in.iter().map(|(r, n)| format!("{r} {n}")).collect();
            let _ = writeln!(o, "  moved (same shape, other offset): {}", per.join(", "));
        }
        for (sign, list) in [("+", &self.ranges_appeared), ("-", &self.ranges_gone)] {
            for k in list.iter().take(max) {
                let _ = writeln!(
                    o,
                    "  {sign} {:<6} {:<16} +{:#x} {:>9} {} {}{}",
                    k.table,
                    k.region,
                    k.offset,
                    human(k.size),
                    k.level,
                    k.attrs,
                    if k.repeat > 1 {
                        format!(" x{}", k.repeat)
                    } else {
                        String::new()
                    }
                );
            }
            if list.len() > max {
                let _ = writeln!(o, "  {sign} ... {} more", list.len() - max);
            }
        }
    }

    /// Each rule's count, and its findings that appeared or went.
    fn text_rules(&self, o: &mut String, max: usize) {
        let _ = writeln!(o, "\nRules (found in A -> B; findings appeared/gone)");
        for r in &self.rules {
            let changed = r.found_a != r.found_b || !r.appeared.is_empty() || !r.gone.is_empty();
            let _ = writeln!(
                o,
                "  {:<22} {} -> {}{}",
                r.id,
                r.found_a,
                r.found_b,
                if changed {
                    format!("  (+{} -{})", r.appeared.len(), r.gone.len())
                } else {
                    String::new()
                }
            );
            for (sign, list) in [("+", &r.appeared), ("-", &r.gone)] {
                for k in list.iter().take(max) {
                    let _ = writeln!(
                        o,
                        "      {sign} {} {} {} +{:#x} {} {}",
                        k.severity.name(),
                        k.table,
                        k.region,
                        k.offset,
                        human(k.size),
                        k.attrs
                    );
                }
            }
        }
    }

    pub fn json(&self, a: &str, b: &str) -> Value {
        let range = |k: &RangeKey| {
            json!({"table": k.table, "region": k.region, "offset": k.offset, "size": k.size,
                   "level": k.level, "attrs": k.attrs, "repeat": k.repeat})
        };
        let finding = |k: &FindingKey| {
            json!({"id": k.id, "severity": k.severity.name(), "table": k.table, "region": k.region,
                   "offset": k.offset, "size": k.size, "attrs": k.attrs})
        };
        json!({
            "a": a, "b": b,
            "meta": self.meta.iter().map(|(k, x, y)| json!({"key": k, "a": x, "b": y})).collect::<Vec<_>>(),
            "bases": self.bases.iter().map(|m| json!({
                "name": m.name,
                "a": m.a.map(|v| format!("0x{v:016x}")),
                "b": m.b.map(|v| format!("0x{v:016x}")),
                "moved": match (m.a, m.b) { (Some(x), Some(y)) => Some((i128::from(y) - i128::from(x)) as i64), _ => None },
            })).collect::<Vec<_>>(),
            "regions": self.regions.iter().map(|(n, x, y, g)| json!({"name": n, "a": x, "b": y, "size_change": *g as i64})).collect::<Vec<_>>(),
            "ranges": {"a": self.ranges_a, "b": self.ranges_b,
                       "appeared": self.ranges_appeared.iter().map(range).collect::<Vec<_>>(),
                       "moved": self.ranges_moved.iter().map(|(f, t)| json!({"from": range(f), "to_offset": t.offset})).collect::<Vec<_>>(),
                       "gone": self.ranges_gone.iter().map(range).collect::<Vec<_>>()},
            "rules": self.rules.iter().map(|r| json!({
                "id": r.id, "found_a": r.found_a, "found_b": r.found_b,
                "appeared": r.appeared.iter().map(finding).collect::<Vec<_>>(),
                "gone": r.gone.iter().map(finding).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "exit_status": self.exit_status(),
        })
    }
}

/// The rows whose verdict or live size changed from `a` to `b`, and the
/// rows only one of them has: (name, verdict in A, in B, size change).
fn region_changes(a: &Layout, b: &Layout) -> Vec<(String, String, String, i128)> {
    let mut regions = Vec::new();
    // Rows are matched by index and name: "hole" is many rows' name.
    let row = |l: &'_ Layout, r: &crate::model::Region| {
        l.regions
            .iter()
            .any(|x| x.index == r.index && x.name == r.name)
    };
    for ra in &a.regions {
        let Some(rb) = b
            .regions
            .iter()
            .find(|x| x.index == ra.index && x.name == ra.name)
        else {
            regions.push((ra.name.clone(), ra.verdict.clone(), "-".into(), 0));
            continue;
        };
        let size = |r: &crate::model::Region| r.live.map_or(0, |l| i128::from(l.1 - l.0) + 1);
        let grow = size(rb) - size(ra);
        if ra.verdict != rb.verdict || grow != 0 {
            regions.push((
                ra.name.clone(),
                ra.verdict.clone(),
                rb.verdict.clone(),
                grow,
            ));
        }
    }
    for rb in &b.regions {
        if !row(a, rb) {
            regions.push((rb.name.clone(), "-".into(), rb.verdict.clone(), 0));
        }
    }
    regions
}

/// Each rule of either, with its counts and the findings that appeared or
/// went.
fn rule_changes(a: &Layout, b: &Layout) -> Vec<RuleChange> {
    let mut ids: Vec<&str> = a.rules.iter().map(|r| r.id.as_str()).collect();
    for r in &b.rules {
        if !ids.contains(&r.id.as_str()) {
            ids.push(&r.id);
        }
    }
    let fa: Vec<FindingKey> = a.findings.iter().map(|f| finding_key(a, f)).collect();
    let fb: Vec<FindingKey> = b.findings.iter().map(|f| finding_key(b, f)).collect();
    let (f_app, f_gone) = multiset_diff(&fa, &fb);
    let found = |l: &Layout, id: &str| l.rules.iter().find(|r| r.id == id).map_or(0, |r| r.found);
    ids.into_iter()
        .map(|id| RuleChange {
            id: id.to_string(),
            found_a: found(a, id),
            found_b: found(b, id),
            appeared: f_app.iter().filter(|k| k.id == id).cloned().collect(),
            gone: f_gone.iter().filter(|k| k.id == id).cloned().collect(),
        })
        .collect()
}
