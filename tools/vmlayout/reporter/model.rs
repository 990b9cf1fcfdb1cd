// SPDX-License-Identifier: GPL-2.0

//! The typed view of one snapshot: bases, the current map's regions, the
//! mapped ranges, the rules and findings, what the scan looked at.

use std::collections::BTreeMap;

use crate::source::{Record, Result, Snapshot, VmFile};

/// Severity of a finding or a region verdict: the module's own type.
pub use vmlayout_core::rules::Severity;

/// Every severity, worst first.
pub const SEVERITIES: [Severity; 3] = [Severity::Error, Severity::Warn, Severity::Info];

/// A severity field, by its stable name.
fn severity(file: &VmFile, rec: &Record, key: &str) -> Result<Severity> {
    let value = file.field(rec, key)?;
    SEVERITIES
        .into_iter()
        .find(|s| s.name() == value)
        .ok_or_else(|| {
            crate::source::Error::new(
                &file.origin,
                rec.line,
                format!("{key}='{value}' is not info, warn or error"),
            )
        })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    pub name: String,
    pub value: u64,
    pub source: String,
}

/// One documented row of the current map, with where it lives now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub index: usize,
    pub name: String,
    /// `region`, `hole` or `guard-hole`.
    pub kind: String,
    pub doc_start: u64,
    pub doc_end: u64,
    pub live: Option<(u64, u64)>,
    pub placement: String,
    pub slide: Option<i128>,
    pub window: (u64, u64),
    pub align: u64,
    pub verdict: String,
    pub severity: Severity,
    pub desc: String,
    pub reason: String,
    pub mapped_bytes: Option<u64>,
}

impl Region {
    pub fn is_hole(&self) -> bool {
        self.kind != "region"
    }

    pub fn randomized(&self) -> bool {
        self.placement == "randomized" || self.placement == "kaslr-text"
    }
}

/// One `range` record of `map` (a `repeat=` run stays one record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapRange {
    pub table: String,
    /// The documented row it lies in (from the `region` record before it).
    pub region: String,
    /// The task, for a per-mm table.
    pub pid: Option<String>,
    pub start: u64,
    pub last: u64,
    pub size: u64,
    pub level: String,
    pub attrs: String,
    pub rw: bool,
    pub user: bool,
    pub exec: bool,
    pub repeat: u64,
    pub stride: u64,
    /// Whose code an executable range holds, from the `code` records after
    /// it (the module's): each owner once, in address order.
    pub belongs_to: Vec<String>,
}

impl MapRange {
    /// Bytes this record stands for (every range of a run).
    pub fn bytes(&self) -> u64 {
        self.size.saturating_mul(self.repeat)
    }

    /// The end of the last range of the run (inclusive).
    pub fn run_last(&self) -> u64 {
        self.last
            .wrapping_add(self.stride.wrapping_mul(self.repeat.saturating_sub(1)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCount {
    pub id: String,
    pub found: u64,
    pub omitted: u64,
    pub checks: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub table: String,
    pub id: String,
    pub severity: Severity,
    pub region: String,
    /// `reference`, `cpu N`, `task PID (comm)`, `efi`.
    pub owner: String,
    pub start: u64,
    pub last: u64,
    pub size: u64,
    pub level: String,
    /// The leaf's attributes, or `entry=0x...` for a top-level entry.
    pub attrs: String,
    /// Whose code the range holds (`kernel`, `module NAME`, `bpf PROG`,
    /// `unknown`, ...), where the file says: the module's, for executable
    /// ranges and warn or error findings.
    pub belongs_to: Option<String>,
    pub reason: String,
}

/// The last rescan failed: what is shown is the scan before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    pub errno: i128,
    pub at_ns: i128,
}

/// Everything one snapshot says, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub origin: String,
    pub meta: BTreeMap<String, String>,
    pub config: BTreeMap<String, String>,
    pub levels: u8,
    pub bases: Vec<Base>,
    /// The current documented map's name (`mm.rst-5level`, ...).
    pub map_name: String,
    /// Its rows, in address order.
    pub regions: Vec<Region>,
    pub ranges: Vec<MapRange>,
    /// The `scope` record: what the scan looked at.
    pub scope: Vec<(String, String)>,
    pub rules: Vec<RuleCount>,
    pub findings: Vec<Finding>,
    pub stale: Option<Stale>,
    /// The `walk` record of `stats`.
    pub walk: Vec<(String, String)>,
    /// `table name=efi ...` and `pti ...` of `summary`, as text.
    pub tables: Vec<String>,
}

impl Layout {
    pub fn from_snapshot(snap: &Snapshot) -> Result<Self> {
        let summary = snap.file("summary")?;
        let layout = snap.file("layout")?;
        let map = snap.file("map")?;
        let findings = snap.file("findings")?;
        let stats = snap.file("stats")?;

        let levels = levels_of(summary)?;
        let bases = bases_of(summary)?;
        let tables = tables_of(summary);
        let scope_rec = findings.of_kind("scope").next();
        let map_name = match scope_rec.and_then(|r| r.get("map")) {
            Some(m) => m.to_string(),
            None => summary
                .of_kind("map")
                .next()
                .and_then(|r| r.get("name"))
                .unwrap_or("")
                .to_string(),
        };
        let regions = regions_of(layout, &map_name)?;
        let ranges = ranges_of(map)?;
        let rules = rules_of(findings)?;
        let list = findings_of(findings)?;
        let stale = match summary.of_kind("stale").next() {
            Some(rec) => Some(Stale {
                errno: summary.num(rec, "errno")?,
                at_ns: summary.num(rec, "at_ns")?,
            }),
            None => None,
        };
        Ok(Layout {
            origin: snap.origin.clone(),
            meta: snap.meta.clone(),
            config: snap.config.clone(),
            levels,
            bases,
            map_name,
            regions,
            ranges,
            scope: scope_rec.map(|r| r.fields.clone()).unwrap_or_default(),
            rules,
            findings: list,
            stale,
            walk: stats
                .of_kind("walk")
                .next()
                .map(|r| r.fields.clone())
                .unwrap_or_default(),
            tables,
        })
    }

    pub fn base(&self, name: &str) -> Option<u64> {
        self.bases.iter().find(|b| b.name == name).map(|b| b.value)
    }

    pub fn region(&self, name: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.name == name)
    }

    /// Listed findings per severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// Findings the module counted but did not list (past 256 per rule).
    pub fn omitted(&self) -> u64 {
        self.rules.iter().map(|r| r.omitted).sum()
    }

    /// The worst severity that counts for the exit status: findings (the
    /// checks of the live tables), region verdicts of error severity, and a
    /// stale scan (a warning: what is shown is older than asked). A region
    /// that `departs` from the document (warn, with the module's
    /// explanation: 7.x moved MODULES_VADDR and FIXADDR_TOP past the rows
    /// of mm.rst) is the document being out of date, not the layout being
    /// wrong: it is shown and counted, not part of the status.
    pub fn worst(&self) -> Option<Severity> {
        let findings = self.findings.iter().map(|f| f.severity);
        let regions = self
            .regions
            .iter()
            .map(|r| r.severity)
            .filter(|s| *s == Severity::Error);
        let stale = self.stale.as_ref().map(|_| Severity::Warn);
        findings
            .chain(regions)
            .chain(stale)
            .filter(|s| *s != Severity::Info)
            .max()
    }

    /// Regions whose live extent departs from the document (warn verdicts).
    pub fn departures(&self) -> usize {
        self.regions
            .iter()
            .filter(|r| r.severity == Severity::Warn)
            .count()
    }

    /// The documented exit status: 0 clean, 1 warnings, 2 errors.
    pub fn exit_status(&self) -> i32 {
        match self.worst() {
            None | Some(Severity::Info) => 0,
            Some(Severity::Warn) => 1,
            Some(Severity::Error) => 2,
        }
    }

    /// The start of the kernel half this paging mode has.
    pub fn kernel_half_start(&self) -> u64 {
        if self.levels == 5 {
            0xff00_0000_0000_0000
        } else {
            0xffff_8000_0000_0000
        }
    }
}

/// The paging levels of `summary`'s `paging` record: 4 or 5.
fn levels_of(summary: &VmFile) -> Result<u8> {
    let paging = summary
        .of_kind("paging")
        .next()
        .ok_or_else(|| crate::source::Error::new(&summary.origin, 0, "no 'paging' record"))?;
    let levels = match summary.num(paging, "levels")? {
        4 => 4,
        5 => 5,
        n => {
            return Err(crate::source::Error::new(
                &summary.origin,
                paging.line,
                format!("levels={n}: x86-64 pages with 4 or 5 levels"),
            ))
        }
    };
    Ok(levels)
}

/// The randomized bases in `summary`.
fn bases_of(summary: &VmFile) -> Result<Vec<Base>> {
    let mut bases = Vec::new();
    for rec in summary.of_kind("base") {
        bases.push(Base {
            name: summary.field(rec, "name")?.to_string(),
            value: summary.hex(rec, "value")?,
            source: rec.get("source").unwrap_or("").to_string(),
        });
    }
    Ok(bases)
}

/// The tables `summary` says were (or were not) checked, one line each.
fn tables_of(summary: &VmFile) -> Vec<String> {
    let mut tables = Vec::new();
    for rec in summary.records.iter() {
        if matches!(rec.kind.as_str(), "table" | "pti" | "origin" | "unchecked") {
            let mut s = rec.kind.clone();
            for (k, v) in &rec.fields {
                if (k != "reason" || rec.kind == "unchecked")
                    && (k != "source" || rec.kind == "origin")
                {
                    s.push_str(&format!(" {k}={v}"));
                }
            }
            tables.push(s);
        }
    }
    tables
}

/// The regions of the current map `map_name` in `layout`.
fn regions_of(layout: &VmFile, map_name: &str) -> Result<Vec<Region>> {
    let mut regions = Vec::new();
    for rec in layout.of_kind("region") {
        if rec.get("map") != Some(map_name) {
            continue;
        }
        let live = match (
            layout.opt_hex(rec, "live_start")?,
            layout.opt_hex(rec, "live_end")?,
        ) {
            (Some(s), Some(e)) => Some((s, e)),
            _ => None,
        };
        regions.push(Region {
            index: layout.num(rec, "index")? as usize,
            name: layout.field(rec, "name")?.to_string(),
            kind: layout.field(rec, "kind")?.to_string(),
            doc_start: layout.hex(rec, "doc_start")?,
            doc_end: layout.hex(rec, "doc_end")?,
            live,
            placement: layout.field(rec, "placement")?.to_string(),
            slide: live.and(layout.opt_num(rec, "slide")?),
            window: (
                layout.hex(rec, "window_start")?,
                layout.hex(rec, "window_end")?,
            ),
            align: layout.num(rec, "align")? as u64,
            verdict: layout.field(rec, "verdict")?.to_string(),
            severity: severity(layout, rec, "severity")?,
            desc: rec.get("desc").unwrap_or("").to_string(),
            reason: rec.get("reason").unwrap_or("").to_string(),
            mapped_bytes: layout.opt_num(rec, "mapped_bytes")?.map(|n| n as u64),
        });
    }
    if regions.is_empty() {
        return Err(crate::source::Error::new(
            &layout.origin,
            0,
            format!("no region of the current map '{map_name}'"),
        ));
    }
    Ok(regions)
}

/// The mapped ranges in `map`, each with its region and (for an mm's
/// table) its process.
fn ranges_of(map: &VmFile) -> Result<Vec<MapRange>> {
    let mut ranges = Vec::new();
    let (mut region, mut pid) = (String::from("undocumented"), None);
    for rec in map.records.iter() {
        match rec.kind.as_str() {
            "region" => {
                region = map.field(rec, "name")?.to_string();
                pid = rec
                    .get("pid")
                    .map(|p| format!("{p} ({})", rec.get("comm").unwrap_or("?")));
            }
            "range" => ranges.push(MapRange {
                table: map.field(rec, "table")?.to_string(),
                region: region.clone(),
                pid: pid.clone(),
                start: map.hex(rec, "start")?,
                last: map.hex(rec, "last")?,
                size: map.num(rec, "size")? as u64,
                level: map.field(rec, "level")?.to_string(),
                attrs: map.field(rec, "attrs")?.to_string(),
                rw: map.field(rec, "rw")? == "1",
                user: map.field(rec, "user")? == "1",
                exec: map.field(rec, "exec")? == "1",
                repeat: map.opt_num(rec, "repeat")?.unwrap_or(1) as u64,
                stride: match rec.get("stride") {
                    Some(_) => map.hex(rec, "stride")?,
                    None => 0,
                },
                belongs_to: Vec::new(),
            }),
            "code" => {
                let name = map.field(rec, "belongs_to")?.to_string();
                if let Some(owners) = ranges.last_mut().map(|r| &mut r.belongs_to) {
                    if !owners.contains(&name) {
                        owners.push(name);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(ranges)
}

/// The rules and their counts in `findings`.
fn rules_of(findings: &VmFile) -> Result<Vec<RuleCount>> {
    let mut rules = Vec::new();
    for rec in findings.of_kind("rule") {
        rules.push(RuleCount {
            id: findings.field(rec, "id")?.to_string(),
            found: findings.num(rec, "found")? as u64,
            omitted: findings.opt_num(rec, "omitted")?.unwrap_or(0) as u64,
            checks: rec.get("checks").unwrap_or("").to_string(),
        });
    }
    Ok(rules)
}

/// The findings in `findings`.
fn findings_of(findings: &VmFile) -> Result<Vec<Finding>> {
    let mut list = Vec::new();
    for rec in findings.of_kind("finding") {
        let owner = match rec.get("owner").unwrap_or("reference") {
            "cpu" => format!("cpu {}", rec.get("cpu").unwrap_or("?")),
            "task" => format!(
                "task {} ({})",
                rec.get("pid").unwrap_or("?"),
                rec.get("comm").unwrap_or("?")
            ),
            other => other.to_string(),
        };
        let attrs = match rec.get("entry") {
            Some(e) => format!("entry={e}"),
            None => rec.get("attrs").unwrap_or("").to_string(),
        };
        list.push(Finding {
            table: rec.get("table").unwrap_or("kernel").to_string(),
            id: findings.field(rec, "id")?.to_string(),
            severity: severity(findings, rec, "severity")?,
            region: rec.get("region").unwrap_or("").to_string(),
            owner,
            start: findings.hex(rec, "start")?,
            last: findings.hex(rec, "last")?,
            size: findings.num(rec, "size")? as u64,
            level: rec.get("level").unwrap_or("").to_string(),
            attrs,
            belongs_to: rec.get("belongs_to").map(str::to_string),
            reason: rec.get("reason").unwrap_or("").to_string(),
        });
    }
    Ok(list)
}

/// A size in the largest binary unit that divides it to at most one
/// decimal: `4 KiB`, `2 MiB`, `64 TiB`, `1.5 GiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if (v - v.round()).abs() < 0.05 {
        format!("{} {}", v.round() as u64, UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A signed byte offset as `+1.5 GiB` / `-2 MiB` / `0`.
pub fn human_signed(v: i128) -> String {
    match v {
        0 => "0".to_string(),
        v if v > 0 => format!("+{}", human(v.min(u64::MAX as i128) as u64)),
        v => format!("-{}", human((-v).min(u64::MAX as i128) as u64)),
    }
}
