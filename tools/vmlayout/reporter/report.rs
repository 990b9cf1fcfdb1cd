// SPDX-License-Identifier: GPL-2.0

//! `vmlayout report`: one screen for a person, or JSON for a machine.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{json, Value};

use crate::model::{human, human_signed, Layout, Severity, SEVERITIES};

/// Terminal styles; all empty when colour is off.
#[derive(Clone, Copy)]
pub struct Style {
    on: bool,
}

impl Style {
    pub fn new(colour: bool) -> Self {
        Style { on: colour }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn bold(self, t: &str) -> String {
        self.paint("1", t)
    }

    fn dim(self, t: &str) -> String {
        self.paint("2", t)
    }

    fn severity(self, s: Severity, t: &str) -> String {
        match s {
            Severity::Error => self.paint("1;31", t),
            Severity::Warn => self.paint("1;33", t),
            Severity::Info => self.paint("36", t),
        }
    }

    fn good(self, t: &str) -> String {
        self.paint("1;32", t)
    }
}

fn hex(v: u64) -> String {
    format!("{v:016x}")
}

/// The verdict line's words.
pub fn verdict(layout: &Layout) -> &'static str {
    match layout.exit_status() {
        0 => "clean",
        1 => "warnings",
        _ => "errors",
    }
}

/// Findings per rule id per severity (listed ones; the module lists at most
/// 256 per rule and counts the rest as omitted).
fn grouped(layout: &Layout) -> BTreeMap<(Severity, String), Vec<usize>> {
    let mut groups: BTreeMap<(Severity, String), Vec<usize>> = BTreeMap::new();
    for (i, f) in layout.findings.iter().enumerate() {
        groups
            .entry((f.severity, f.id.clone()))
            .or_default()
            .push(i);
    }
    groups
}

/// The one-screen report. `max_per_rule` findings are shown per rule and
/// severity (the rest are counted).
pub fn text(layout: &Layout, style: Style, max_per_rule: usize) -> String {
    let mut o = String::new();
    text_header(&mut o, layout, style);
    text_bases(&mut o, layout, style);
    text_regions(&mut o, layout, style);
    text_findings(&mut o, layout, style, max_per_rule);
    text_looked_at(&mut o, layout, style);
    o
}

/// The report's first lines: what was checked, the verdict, staleness.
fn text_header(o: &mut String, layout: &Layout, style: Style) {
    let release = layout.meta.get("release").map_or("", String::as_str);
    let _ = writeln!(
        o,
        "{} {}-level paging{}{}",
        style.bold("vmlayout report:"),
        layout.levels,
        if release.is_empty() {
            String::new()
        } else {
            format!(", Linux {release}")
        },
        style.dim(&format!("  ({}, map {})", layout.origin, layout.map_name)),
    );
    let errors = layout.count(Severity::Error);
    let warns = layout.count(Severity::Warn);
    let infos = layout.count(Severity::Info);
    let region_errors = layout
        .regions
        .iter()
        .filter(|r| r.severity == Severity::Error)
        .count();
    let line = format!(
        "{}: {errors} error, {warns} warn, {infos} info findings; {region_errors} regions in error; {} depart from the document",
        verdict(layout).to_uppercase(),
        layout.departures()
    );
    let line = match layout.worst() {
        None | Some(Severity::Info) => style.good(&line),
        Some(s) => style.severity(s, &line),
    };
    let _ = writeln!(o, "{line}");
    if let Some(stale) = &layout.stale {
        let _ = writeln!(
            o,
            "{}",
            style.severity(
                Severity::Warn,
                &format!(
                    "STALE: the last rescan failed (errno {}, at {} ns); this is the scan before it",
                    stale.errno, stale.at_ns
                )
            )
        );
    }
}

/// The randomized bases and their slides.
fn text_bases(o: &mut String, layout: &Layout, style: Style) {
    let _ = writeln!(o, "\n{}", style.bold("Bases"));
    let slide_of = |name: &str| layout.region(name).and_then(|r| r.slide.map(|s| (s, r)));
    for base in &layout.bases {
        let region = match base.name.as_str() {
            "page_offset_base" => slide_of("direct-map"),
            "vmalloc_base" => slide_of("vmalloc"),
            "vmemmap_base" => slide_of("vmemmap"),
            "kernel_text" => slide_of("kernel-text"),
            _ => None,
        };
        let detail = match region {
            Some((slide, r)) => format!(
                "slide {:>10}  window {}-{} (align {})",
                human_signed(slide),
                hex(r.window.0),
                hex(r.window.1),
                human(r.align)
            ),
            None if base.name == "text_slide" => {
                format!("= {}", human_signed(i128::from(base.value as i64)))
            }
            None => String::new(),
        };
        let _ = writeln!(o, "  {:<17} {}  {detail}", base.name, hex(base.value));
    }
}

/// The documented regions against the live ones.
fn text_regions(o: &mut String, layout: &Layout, style: Style) {
    let _ = writeln!(
        o,
        "\n{}",
        style.bold("Regions")
            + &style.dim("  (documented rows that are regions; holes are checked as findings)")
    );
    let _ = writeln!(
        o,
        "  {:<20} {:<33} {:<10} {:>10} {:>10}  verdict",
        "name", "live extent", "placement", "slide", "mapped"
    );
    for r in layout.regions.iter().filter(|r| !r.is_hole()) {
        let extent = match r.live {
            Some((s, e)) => format!("{}-{}", hex(s), hex(e)),
            None => "-".to_string(),
        };
        let slide = match r.slide {
            Some(s) if r.randomized() => human_signed(s),
            _ => "".to_string(),
        };
        let mapped = r.mapped_bytes.map(human).unwrap_or_else(|| "-".into());
        let verdict = if r.severity == Severity::Info {
            style.good(&r.verdict)
        } else {
            style.severity(r.severity, &format!("{} ({})", r.verdict, r.reason))
        };
        let _ = writeln!(
            o,
            "  {:<20} {:<33} {:<10} {:>10} {:>10}  {verdict}",
            r.name, extent, r.placement, slide, mapped
        );
    }
}

/// The findings, at most `max_per_rule` per rule.
fn text_findings(o: &mut String, layout: &Layout, style: Style, max_per_rule: usize) {
    let _ = writeln!(o, "\n{}", style.bold("Findings"));
    if layout.findings.is_empty() {
        let _ = writeln!(o, "  {}", style.good("none"));
    }
    for ((severity, id), idx) in grouped(layout).iter().rev() {
        let omitted = layout
            .rules
            .iter()
            .find(|r| &r.id == id)
            .map_or(0, |r| r.omitted);
        let _ = writeln!(
            o,
            "  {} {id}: {}{}",
            style.severity(*severity, severity.name()),
            idx.len(),
            if omitted > 0 {
                format!(" (+{omitted} not listed)")
            } else {
                String::new()
            }
        );
        for &i in idx.iter().take(max_per_rule) {
            let f = &layout.findings[i];
            let _ = writeln!(
                o,
                "      {} {}-{} {:>9} {} {} {}{}: {}",
                f.table,
                hex(f.start),
                hex(f.last),
                human(f.size),
                f.region,
                f.owner,
                f.attrs,
                f.belongs_to
                    .as_ref()
                    .map_or(String::new(), |b| format!(" (code of {b})")),
                f.reason
            );
        }
        if idx.len() > max_per_rule {
            let _ = writeln!(o, "      ... {} more", idx.len() - max_per_rule);
        }
    }
    let fired: Vec<_> = layout
        .rules
        .iter()
        .filter(|r| r.found > 0)
        .map(|r| format!("{}={}", r.id, r.found))
        .collect();
    let _ = writeln!(
        o,
        "  rules: {} checked, {} with findings{}",
        layout.rules.len(),
        fired.len(),
        if fired.is_empty() {
            String::new()
        } else {
            format!(" ({})", fired.join(" "))
        }
    );
}

/// What the scan looked at.
fn text_looked_at(o: &mut String, layout: &Layout, style: Style) {
    let _ = writeln!(o, "\n{}", style.bold("Looked at"));
    let scope = |k: &str| value_of(&layout.scope, k);
    let walk = |k: &str| value_of(&layout.walk, k);
    let walk_ms = walk("ns")
        .parse::<f64>()
        .map(|ns| format!("{:.1} ms", ns / 1e6))
        .unwrap_or_else(|_| "-".into());
    let _ = writeln!(
        o,
        "  {} ranges, {} table pages, {} System RAM ranges; {} CPUs' and {} mms' top-level tables audited; {} other tables",
        scope("ranges"),
        walk("table_pages"),
        scope("ram_ranges"),
        scope("cpus_checked"),
        scope("mms_checked"),
        scope("other_tables"),
    );
    let _ = writeln!(
        o,
        "  walk {walk_ms} on {} CPUs; {} findings rechecked, {} settled; {}",
        walk("cpus"),
        scope("rechecked"),
        scope("settled"),
        layout.tables.join("; ")
    );
}

/// The value of `key` among a record's fields, `-` if it has none.
fn value_of<'a>(fields: &'a [(String, String)], key: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map_or("-", |(_, v)| v.as_str())
}

/// `vmlayout report --json`.
pub fn json(layout: &Layout) -> Value {
    let mut counts = serde_json::Map::new();
    for s in SEVERITIES {
        counts.insert(s.name().into(), json!(layout.count(s)));
    }
    counts.insert("omitted".into(), json!(layout.omitted()));
    counts.insert("departures".into(), json!(layout.departures()));
    let mut region_verdicts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &layout.regions {
        *region_verdicts.entry(r.verdict.as_str()).or_default() += 1;
    }
    let regions: Vec<Value> = layout
        .regions
        .iter()
        .map(|r| {
            json!({
                "index": r.index, "name": r.name, "kind": r.kind,
                "doc_start": hexs(r.doc_start), "doc_end": hexs(r.doc_end),
                "live_start": r.live.map(|l| hexs(l.0)), "live_end": r.live.map(|l| hexs(l.1)),
                "placement": r.placement, "slide": r.slide.map(|s| s as i64),
                "window_start": hexs(r.window.0), "window_end": hexs(r.window.1), "align": r.align,
                "verdict": r.verdict, "severity": r.severity.name(), "reason": r.reason,
                "mapped_bytes": r.mapped_bytes,
            })
        })
        .collect();
    let findings: Vec<Value> = layout
        .findings
        .iter()
        .map(|f| {
            json!({
                "table": f.table, "id": f.id, "severity": f.severity.name(), "region": f.region,
                "owner": f.owner, "start": hexs(f.start), "last": hexs(f.last), "size": f.size,
                "level": f.level, "attrs": f.attrs, "belongs_to": f.belongs_to,
                "reason": f.reason,
            })
        })
        .collect();
    let rules: Vec<Value> = layout
        .rules
        .iter()
        .map(|r| json!({"id": r.id, "found": r.found, "omitted": r.omitted}))
        .collect();
    let bases: Vec<Value> = layout
        .bases
        .iter()
        .map(|b| json!({"name": b.name, "value": hexs(b.value), "source": b.source}))
        .collect();
    let pairs = |v: &[(String, String)]| -> Value {
        Value::Object(v.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
    };
    json!({
        "vmlayout_report": 1,
        "source": layout.origin,
        "meta": layout.meta,
        "paging_levels": layout.levels,
        "map": layout.map_name,
        "verdict": verdict(layout),
        "exit_status": layout.exit_status(),
        "stale": layout.stale.as_ref().map(|s| json!({"errno": s.errno as i64, "at_ns": s.at_ns as i64})),
        "counts": counts,
        "region_verdicts": region_verdicts,
        "bases": bases,
        "regions": regions,
        "rules": rules,
        "findings": findings,
        "scope": pairs(&layout.scope),
        "walk": pairs(&layout.walk),
        "tables": layout.tables,
    })
}

fn hexs(v: u64) -> String {
    format!("0x{v:016x}")
}
