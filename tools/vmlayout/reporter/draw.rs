// SPDX-License-Identifier: GPL-2.0

//! `vmlayout draw`: an SVG picture of the kernel half.
//!
//! One row per documented row of the current map (regions and holes, in
//! address order). In a row: the documented extent as the background
//! (holes hatched), the live regions that lie there (randomized regions
//! move inside their KASLR window, so they need not match their documented
//! row), the mapped ranges coloured by effective permission, and the
//! findings as markers below.
//!
//! The axis: each row has its own, broken at every boundary in it (live
//! region edges, range edges); each piece between two boundaries is drawn
//! with a width proportional to `1 + log2(size / 4 KiB)`. A 4 KiB page is
//! one unit and a 64 TiB region 35, so both show on one picture; order is
//! kept, sizes compare logarithmically (a piecewise-logarithmic axis).

use std::fmt::Write;

use crate::model::{human, Finding, Layout, MapRange, Region, Severity, SEVERITIES};
use crate::report::verdict;

const PAGE: u64 = 4096;
const LABEL_W: f64 = 330.0;
const BAR_W: f64 = 900.0;
const RIGHT_W: f64 = 110.0;
const ROW_H: f64 = 40.0;
const TOP: f64 = 92.0;
/// Ranges of one colour closer than this are drawn as one piece.
const MERGE_GAP: u64 = 64 << 10;

/// How a mapped range is coloured: by effective permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    WriteExec,
    User,
    Exec,
    Write,
    ReadOnly,
}

impl Class {
    pub fn of(r: &MapRange) -> Class {
        match (r.rw, r.exec, r.user) {
            (true, true, _) => Class::WriteExec,
            (_, _, true) => Class::User,
            (false, true, _) => Class::Exec,
            (true, false, _) => Class::Write,
            (false, false, _) => Class::ReadOnly,
        }
    }

    pub fn colour(self) -> &'static str {
        match self {
            Class::WriteExec => "#e6194b",
            Class::User => "#911eb4",
            Class::Exec => "#f58231",
            Class::Write => "#4363d8",
            Class::ReadOnly => "#3cb44b",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Class::WriteExec => "writable and executable (W+X)",
            Class::User => "user-accessible",
            Class::Exec => "read-only, executable",
            Class::Write => "writable, not executable",
            Class::ReadOnly => "read-only, not executable",
        }
    }

    pub const ALL: [Class; 5] = [
        Class::Write,
        Class::ReadOnly,
        Class::Exec,
        Class::User,
        Class::WriteExec,
    ];
}

fn severity_colour(s: Severity) -> &'static str {
    match s {
        Severity::Error => "#d00000",
        Severity::Warn => "#e08000",
        Severity::Info => "#707070",
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A row's broken axis: the boundaries in it and each piece's x.
pub struct Axis {
    /// Sorted boundaries; piece `i` spans `[cuts[i], cuts[i + 1])`.
    cuts: Vec<u128>,
    /// x of each boundary, from 0 to `width`.
    xs: Vec<f64>,
}

impl Axis {
    /// `start..=last` with these boundaries inside it.
    pub fn new(start: u64, last: u64, inner: impl Iterator<Item = u128>, width: f64) -> Axis {
        let (lo, hi) = (u128::from(start), u128::from(last) + 1);
        let mut cuts: Vec<u128> = inner.filter(|c| *c > lo && *c < hi).collect();
        cuts.push(lo);
        cuts.push(hi);
        cuts.sort_unstable();
        cuts.dedup();
        let weights: Vec<f64> = cuts
            .windows(2)
            .map(|w| 1.0 + (((w[1] - w[0]) as f64) / PAGE as f64).max(1.0).log2())
            .collect();
        let total: f64 = weights.iter().sum();
        let mut xs = Vec::with_capacity(cuts.len());
        let mut x = 0.0;
        xs.push(0.0);
        for w in weights {
            x += w / total * width;
            xs.push(x);
        }
        Axis { cuts, xs }
    }

    /// x of an address (a boundary's x, or linear inside its piece).
    pub fn x(&self, addr: u128) -> f64 {
        let i = match self.cuts.binary_search(&addr) {
            Ok(i) => return self.xs[i],
            Err(0) => return 0.0,
            Err(i) if i >= self.cuts.len() => return self.xs[self.xs.len() - 1],
            Err(i) => i - 1,
        };
        let f = (addr - self.cuts[i]) as f64 / (self.cuts[i + 1] - self.cuts[i]) as f64;
        self.xs[i] + f * (self.xs[i + 1] - self.xs[i])
    }
}

/// A piece to draw: inclusive range, class, repeat count.
struct Piece {
    start: u64,
    last: u64,
    class: Class,
    repeat: u64,
    /// Whose code it holds (executable pieces, from `code` records).
    belongs_to: Vec<String>,
}

/// Ranges of a row merged into pieces of one class (runs stay whole).
fn pieces<'a>(ranges: impl Iterator<Item = &'a MapRange>, lo: u64, hi: u64) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::new();
    for r in ranges {
        let (s, l) = (r.start.max(lo), r.run_last().min(hi));
        if s > l {
            continue;
        }
        let class = Class::of(r);
        if let Some(p) = out.last_mut() {
            if p.class == class
                && p.repeat == 1
                && r.repeat == 1
                && s >= p.last
                && s - p.last <= MERGE_GAP
            {
                p.last = l;
                for name in &r.belongs_to {
                    if !p.belongs_to.contains(name) {
                        p.belongs_to.push(name.clone());
                    }
                }
                continue;
            }
        }
        out.push(Piece {
            start: s,
            last: l,
            class,
            repeat: r.repeat,
            belongs_to: r.belongs_to.clone(),
        });
    }
    out
}

/// Bytes of these ranges (every range of a run) inside `lo..=hi`.
pub fn bytes_in<'a>(ranges: impl Iterator<Item = &'a MapRange>, lo: u64, hi: u64) -> u64 {
    let mut total = 0u64;
    for r in ranges {
        for k in 0..r.repeat {
            let off = r.stride.wrapping_mul(k);
            let (s, l) = (
                r.start.wrapping_add(off).max(lo),
                r.last.wrapping_add(off).min(hi),
            );
            if s <= l {
                total = total.saturating_add(l - s + 1);
            }
        }
    }
    total
}

/// The SVG text.
pub fn svg(layout: &Layout) -> String {
    let half = layout.kernel_half_start();
    let rows: Vec<_> = layout
        .regions
        .iter()
        .filter(|r| r.doc_end >= half)
        .collect();
    let legend_h = 150.0;
    let height = TOP + rows.len() as f64 * ROW_H + legend_h;
    let width = LABEL_W + BAR_W + RIGHT_W + 20.0;
    let mut o = String::new();
    svg_header(&mut o, layout, (width, height));
    let live_regions: Vec<(&str, u64, u64)> = layout
        .regions
        .iter()
        .filter(|r| !r.is_hole())
        .filter_map(|r| r.live.map(|(s, e)| (r.name.as_str(), s, e)))
        .collect();
    for (i, row) in rows.iter().enumerate() {
        svg_row(
            &mut o,
            layout,
            row,
            TOP + i as f64 * ROW_H,
            (half, &live_regions),
        );
    }

    svg_legend(&mut o, layout, TOP + rows.len() as f64 * ROW_H + 16.0);
    o.push_str("</svg>\n");
    o
}

/// The picture's opening: the canvas, patterns, title, counts and bases.
fn svg_header(o: &mut String, layout: &Layout, (width, height): (f64, f64)) {
    let _ = writeln!(
        o,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans, sans-serif" font-size="11">"##
    );
    o.push_str(r##"<defs><pattern id="hole" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#c8c8c8" stroke-width="2"/></pattern>"##);
    o.push_str(r##"<pattern id="guard" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="4" height="4" fill="#eeeeee"/><line x1="0" y1="0" x2="0" y2="4" stroke="#999999" stroke-width="2"/></pattern></defs>"##);
    let _ = writeln!(
        o,
        r##"<rect width="{width}" height="{height}" fill="#ffffff"/>"##
    );
    let release = layout
        .meta
        .get("release")
        .map_or(String::new(), |r| format!(", Linux {r}"));
    let _ = writeln!(
        o,
        r##"<text x="10" y="22" font-size="16" font-weight="bold">vmlayout: the kernel half, {}-level paging{}</text>"##,
        layout.levels,
        esc(&release)
    );
    let counts = format!(
        "verdict {}: {} error, {} warn, {} info findings; map {}; {} mapped range records",
        verdict(layout),
        layout.count(Severity::Error),
        layout.count(Severity::Warn),
        layout.count(Severity::Info),
        layout.map_name,
        layout.ranges.len()
    );
    let _ = writeln!(o, r##"<text x="10" y="40">{}</text>"##, esc(&counts));
    let bases: Vec<String> = layout
        .bases
        .iter()
        .filter(|b| {
            matches!(
                b.name.as_str(),
                "page_offset_base" | "vmalloc_base" | "vmemmap_base" | "kernel_text"
            )
        })
        .map(|b| format!("{}={:016x}", b.name, b.value))
        .collect();
    let _ = writeln!(
        o,
        r##"<text x="10" y="56" font-family="DejaVu Sans Mono, monospace" font-size="10">{}</text>"##,
        esc(&bases.join("  "))
    );
    let _ = writeln!(
        o,
        r##"<text x="{LABEL_W}" y="80" font-size="10" fill="#555555">each row: live regions (top band), mapped ranges (kernel table; other tables below it), findings (markers); axis broken at every edge, piece width ∝ 1 + log2(size / 4 KiB)</text>"##
    );
}

/// The legend at height `ly`: the classes of mapped ranges, the severities,
/// how widths are drawn and where the data came from.
fn svg_legend(o: &mut String, layout: &Layout, ly: f64) {
    let _ = writeln!(
        o,
        r##"<text x="10" y="{ly}" font-weight="bold">Legend</text>"##
    );
    let mut x = 10.0;
    for c in Class::ALL {
        let _ = writeln!(
            o,
            r##"<rect x="{x}" y="{}" width="14" height="10" fill="{}"/><text x="{}" y="{}">{}</text>"##,
            ly + 10.0,
            c.colour(),
            x + 18.0,
            ly + 19.0,
            esc(c.label())
        );
        x += 24.0 + 6.3 * c.label().len() as f64;
    }
    let y2 = ly + 38.0;
    let _ = writeln!(
        o,
        r##"<rect x="10" y="{y2}" width="14" height="10" fill="#eef2f7" stroke="#9aa5b1"/><text x="28" y="{}">documented region</text>"##,
        y2 + 9.0
    );
    let _ = writeln!(
        o,
        r##"<rect x="160" y="{y2}" width="14" height="10" fill="url(#hole)" stroke="#9aa5b1"/><text x="178" y="{}">documented hole (must be empty)</text>"##,
        y2 + 9.0
    );
    let _ = writeln!(
        o,
        r##"<rect x="380" y="{y2}" width="14" height="10" fill="url(#guard)" stroke="#9aa5b1"/><text x="398" y="{}">guard hole</text>"##,
        y2 + 9.0
    );
    let _ = writeln!(
        o,
        r##"<rect x="490" y="{}" width="14" height="7" fill="#9ecae1" stroke="#3182bd"/><text x="508" y="{}">live region (where the kernel put it)</text>"##,
        y2 + 2.0,
        y2 + 9.0
    );
    let mut fx = 760.0;
    for s in SEVERITIES {
        let _ = writeln!(
            o,
            r##"<path d="M{},{} l-4,8 h8 z" fill="{}"/><text x="{}" y="{}">{} finding</text>"##,
            fx + 4.0,
            y2 + 1.0,
            severity_colour(s),
            fx + 12.0,
            y2 + 9.0,
            s.name()
        );
        fx += 95.0;
    }
    let y3 = y2 + 28.0;
    let _ = writeln!(
        o,
        r##"<text x="10" y="{y3}">Axis: every row is one documented row of mm.rst, in address order, with its own axis broken at each edge in it; each piece between two edges is</text>"##
    );
    let _ = writeln!(
        o,
        r##"<text x="10" y="{}">drawn with width ∝ 1 + log2(size / 4 KiB): a 4 KiB page is 1 unit, a 64 TiB region 35 (piecewise logarithmic). A row outlined in colour has a verdict other than ok.</text>"##,
        y3 + 15.0
    );
    let _ = writeln!(
        o,
        r##"<text x="10" y="{}" fill="#555555">{}</text>"##,
        y3 + 32.0,
        esc(&format!("source: {}", layout.origin))
    );
}

/// One row of the picture at height `y`: the row's address span on its own
/// broken axis (cut at every edge of what is drawn in it), then its label,
/// live regions, mapped ranges, findings and mapped bytes.
fn svg_row(
    o: &mut String,
    layout: &Layout,
    row: &Region,
    y: f64,
    (half, live_regions): (u64, &[(&str, u64, u64)]),
) {
    let (lo, hi) = (row.doc_start.max(half), row.doc_end);
    let kernel = layout.ranges.iter().filter(|r| r.table == "kernel");
    let others = layout.ranges.iter().filter(|r| r.table != "kernel");
    let main = pieces(kernel, lo, hi);
    let extra = pieces(others, lo, hi);
    let findings: Vec<_> = layout
        .findings
        .iter()
        .filter(|f| f.start <= hi && f.last >= lo)
        .collect();
    let lives: Vec<_> = live_regions
        .iter()
        .filter(|(_, s, e)| *s <= hi && *e >= lo)
        .collect();
    let cuts = main
        .iter()
        .chain(extra.iter())
        .flat_map(|p| [u128::from(p.start), u128::from(p.last) + 1])
        .chain(
            lives
                .iter()
                .flat_map(|(_, s, e)| [u128::from(*s), u128::from(*e) + 1]),
        )
        .chain(
            findings
                .iter()
                .flat_map(|f| [u128::from(f.start), u128::from(f.last) + 1]),
        );
    let at = RowAt {
        y,
        lo,
        hi,
        axis: Axis::new(lo, hi, cuts, BAR_W),
    };
    svg_label(o, row, &at);
    svg_lives(o, &lives, &at);
    svg_lanes(o, [(y + 11.0, 13.0, &main), (y + 25.0, 4.0, &extra)], &at);
    svg_findings(o, &findings, &at);
    let mapped = human(bytes_in(layout.ranges.iter(), lo, hi));
    let _ = writeln!(
        o,
        r##"<text x="{}" y="{}" font-size="10" fill="#333333">{}</text>"##,
        LABEL_W + BAR_W + 8.0,
        y + 20.0,
        esc(&format!("mapped {mapped}"))
    );
}

/// Where a row is drawn: its top, its address span, its axis.
struct RowAt {
    y: f64,
    lo: u64,
    hi: u64,
    axis: Axis,
}

/// A row's label (name, documented extent, size), background and verdict
/// outline.
fn svg_label(o: &mut String, row: &Region, at: &RowAt) {
    let (x0, y, lo, hi) = (LABEL_W, at.y, at.lo, at.hi);
    // Label: name, documented extent, size.
    let size = hi - lo + 1;
    let _ = writeln!(
        o,
        r##"<text x="10" y="{}" font-weight="bold">{}</text>"##,
        y + 14.0,
        esc(&row.name)
    );
    let _ = writeln!(
        o,
        r##"<text x="10" y="{}" font-family="DejaVu Sans Mono, monospace" font-size="9.5" fill="#444444">{:016x}-{:016x} {}</text>"##,
        y + 27.0,
        lo,
        hi,
        esc(&human(size))
    );
    let bg = match row.kind.as_str() {
        "region" => r##"fill="#eef2f7""##,
        "guard-hole" => r##"fill="url(#guard)""##,
        _ => r##"fill="url(#hole)""##,
    };
    let _ = writeln!(
        o,
        r##"<rect x="{x0}" y="{}" width="{BAR_W}" height="{}" {bg} stroke="#9aa5b1" stroke-width="0.6"/>"##,
        y + 2.0,
        ROW_H - 8.0
    );
    if row.severity != Severity::Info {
        let _ = writeln!(
            o,
            r##"<rect x="{x0}" y="{}" width="{BAR_W}" height="{}" fill="none" stroke="{}" stroke-width="2"><title>{}: {}</title></rect>"##,
            y + 2.0,
            ROW_H - 8.0,
            severity_colour(row.severity),
            esc(&row.verdict),
            esc(&row.reason)
        );
    }
}

/// The live regions in a row (the top band).
fn svg_lives(o: &mut String, lives: &[&(&str, u64, u64)], at: &RowAt) {
    let (x0, y, lo, hi, axis) = (LABEL_W, at.y, at.lo, at.hi, &at.axis);
    for (name, s, e) in lives.iter().copied() {
        let (a, b) = (
            axis.x(u128::from((*s).max(lo))),
            axis.x(u128::from((*e).min(hi)) + 1),
        );
        let _ = writeln!(
            o,
            r##"<rect x="{:.2}" y="{}" width="{:.2}" height="7" fill="#9ecae1" stroke="#3182bd" stroke-width="0.5"><title>live {} {:016x}-{:016x}</title></rect>"##,
            x0 + a,
            y + 3.0,
            (b - a).max(1.0),
            esc(name),
            s,
            e
        );
        if b - a > 60.0 {
            let _ = writeln!(
                o,
                r##"<text x="{:.2}" y="{}" font-size="8" fill="#08519c">live {}</text>"##,
                x0 + a + 2.0,
                y + 9.0,
                esc(name)
            );
        }
    }
}

/// The mapped ranges in a row: the kernel table's lane, the other tables'.
fn svg_lanes(o: &mut String, lanes: [(f64, f64, &Vec<Piece>); 2], at: &RowAt) {
    let (x0, axis) = (LABEL_W, &at.axis);
    for (lane_y, lane_h, list) in lanes {
        for p in list.iter() {
            let (a, b) = (axis.x(u128::from(p.start)), axis.x(u128::from(p.last) + 1));
            let mut note = if p.repeat > 1 {
                format!(" (a run of {})", p.repeat)
            } else {
                String::new()
            };
            if !p.belongs_to.is_empty() {
                note += &format!("; code of {}", esc(&p.belongs_to.join(", ")));
            }
            let _ = writeln!(
                o,
                r##"<rect x="{:.2}" y="{lane_y}" width="{:.2}" height="{lane_h}" fill="{}"><title>{:016x}-{:016x} {}{}</title></rect>"##,
                x0 + a,
                // What must stand out is never thinner than 3 px.
                (b - a).max(match p.class {
                    Class::WriteExec | Class::User => 3.0,
                    _ => 1.5,
                }),
                p.class.colour(),
                p.start,
                p.last,
                p.class.label(),
                note
            );
        }
    }
}

/// The findings in a row, as markers under it.
fn svg_findings(o: &mut String, findings: &[&Finding], at: &RowAt) {
    let (x0, y, lo, hi, axis) = (LABEL_W, at.y, at.lo, at.hi, &at.axis);
    for f in findings {
        let a = axis.x(u128::from(f.start.max(lo)));
        let b = axis.x(u128::from(f.last.min(hi)) + 1);
        let cx = x0 + (a + b) / 2.0;
        let yb = y + 31.0;
        let _ = writeln!(
            o,
            r##"<path d="M{:.2},{:.2} l-4,6 h8 z" fill="{}" stroke="#000000" stroke-width="0.4"><title>{} {}: {}{}</title></path>"##,
            cx,
            yb,
            severity_colour(f.severity),
            f.severity.name(),
            esc(&f.id),
            esc(&f.reason),
            f.belongs_to
                .as_ref()
                .map_or(String::new(), |b| format!(" (code of {})", esc(b)))
        );
    }
}
