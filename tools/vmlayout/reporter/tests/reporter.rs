// SPDX-License-Identifier: GPL-2.0

//! The reporter on snapshots recorded from real boots of the test kernel
//! (tools/vmlayout/testdata/snapshots/, see its README).

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use vmlayout_reporter::diff::Diff;
use vmlayout_reporter::draw::{self, Axis, Class};
use vmlayout_reporter::kaslr;
use vmlayout_reporter::model::{Layout, Severity};
use vmlayout_reporter::report;
use vmlayout_reporter::source::{Snapshot, FILES};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/snapshots")
        .join(name)
}

fn snap(name: &str) -> Snapshot {
    Snapshot::load(&data(name)).unwrap()
}

fn layout(name: &str) -> Layout {
    Layout::from_snapshot(&snap(name)).unwrap()
}

fn text(name: &str) -> String {
    std::fs::read_to_string(data(name)).unwrap()
}

/// Records of one type in one file of a snapshot, counted from the raw
/// text with nothing of the reporter: the independent side of the checks.
fn raw_records<'a>(snapshot: &'a str, file: &str, prefix: &str) -> Vec<&'a str> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in snapshot.lines() {
        if line.starts_with("file name=") {
            inside = line.starts_with(&format!("file name={file} "));
        } else if inside && line.starts_with(prefix) {
            out.push(line);
        }
    }
    out
}

fn kaslr_set(levels: u8) -> Vec<Layout> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/snapshots/kaslr");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(&format!("p{levels}-"))
        })
        .collect();
    names.sort();
    assert!(
        names.len() >= 4,
        "kaslr testdata for {levels}-level: {names:?}"
    );
    names
        .iter()
        .map(|p| Layout::from_snapshot(&Snapshot::load(p).unwrap()).unwrap())
        .collect()
}

#[test]
fn snapshot_round_trips() {
    for name in ["p5-clean.snap", "p5-wx.snap", "p4-clean.snap"] {
        let s = snap(name);
        let again = Snapshot::parse(&s.origin, &s.to_text()).unwrap();
        assert_eq!(s, again, "{name}");
        assert_eq!(
            s.to_text(),
            text(name),
            "{name}: written back byte for byte"
        );
        for f in FILES {
            assert!(s.file(f).unwrap().records.len() > 1, "{name}: {f}");
        }
        assert_eq!(s.meta.get("release").map(String::as_str), Some("7.3.4"));
        assert!(s
            .config
            .contains_key("CONFIG_RANDOMIZE_MEMORY_PHYSICAL_PADDING"));
    }
}

#[test]
fn clean_boot_reports_clean() {
    for name in ["p5-clean.snap", "p4-clean.snap"] {
        let l = layout(name);
        assert_eq!(l.exit_status(), 0, "{name}");
        assert_eq!(l.count(Severity::Error) + l.count(Severity::Warn), 0);
        // The stock 7.x departures are shown, not part of the status.
        assert!(l.departures() >= 2, "{name}: {}", l.departures());
        let t = report::text(&l, report::Style::new(false), 5);
        assert!(t.contains("CLEAN"), "{t}");
        assert!(
            t.contains("trampoline"),
            "the info finding's reason is shown: {t}"
        );
        assert!(!t.contains('\x1b'), "no colour when off");
        assert!(
            t.lines().count() < 60,
            "one screen: {} lines",
            t.lines().count()
        );
        let coloured = report::text(&l, report::Style::new(true), 5);
        assert!(coloured.contains("\x1b[1;32m"), "colour when on");
    }
    assert_eq!(layout("p5-clean.snap").levels, 5);
    assert_eq!(layout("p4-clean.snap").levels, 4);
}

#[test]
fn planted_wx_is_an_error_and_shown() {
    let l = layout("p5-wx.snap");
    assert_eq!(l.exit_status(), 2);
    let t = report::text(&l, report::Style::new(false), 5);
    assert!(t.starts_with("vmlayout report: 5-level paging"));
    assert!(t.contains("ERRORS"), "{t}");
    assert!(t.contains("error wx: 1"), "{t}");
    assert!(t.contains("writable and executable (W+X)"), "{t}");
}

/// A finding's `belongs_to` (whose code its range holds, from the
/// module) is in the report, its JSON and the picture's marker, and map's
/// `code` records in the picture's executable pieces; a snapshot without
/// them (older, or offline) shows none.
#[test]
fn findings_name_whose_code_they_are_about() {
    let old = text("p5-wx.snap");
    let wx = "attrs=RW,GLB,x reason=\"writable and executable (W+X)\"";
    assert!(old.contains(wx));
    let owned = "attrs=RW,GLB,x belongs_to=\"module vmlayout_plant\" \
                 reason=\"writable and executable (W+X)\"";
    let range = "range table=kernel start=0xff3dc7ca00045000 last=0xff3dc7ca00045fff \
                 size=4096 level=pte phys=0x000000000073b000 attrs=RW,GLB,x rw=1 user=0 exec=1\n";
    assert!(old.contains(range));
    let code = "code table=kernel start=0xff3dc7ca00045000 last=0xff3dc7ca00045fff \
                size=4096 belongs_to=\"module vmlayout_plant\"\n";
    // One line more in map.
    let new = old
        .replace(wx, owned)
        .replace(range, &format!("{range}{code}"))
        .replace("file name=map lines=132\n", "file name=map lines=133\n");
    let l = Layout::from_snapshot(&Snapshot::parse("owned", &new).unwrap()).unwrap();
    let t = report::text(&l, report::Style::new(false), 5);
    assert!(
        t.contains("RW,GLB,x (code of module vmlayout_plant): writable"),
        "{t}"
    );
    let json = report::json(&l).to_string();
    assert!(
        json.contains("\"belongs_to\":\"module vmlayout_plant\""),
        "{json}"
    );
    let svg = draw::svg(&l);
    assert!(
        svg.contains("code of module vmlayout_plant</title>"),
        "{svg}"
    );
    assert!(
        svg.contains("(W+X) (code of module vmlayout_plant)</title>"),
        "{svg}"
    );
    let before = report::text(&layout("p5-wx.snap"), report::Style::new(false), 5);
    assert!(!before.contains("(code of "), "{before}");
    assert!(!draw::svg(&layout("p5-wx.snap")).contains("code of "));
}

#[test]
fn json_counts_match_the_findings_file() {
    for name in ["p5-clean.snap", "p5-wx.snap", "p4-clean.snap"] {
        let raw = text(name);
        let v = report::json(&layout(name));
        for sev in ["error", "warn", "info"] {
            let n = raw_records(&raw, "findings", "finding ")
                .iter()
                .filter(|l| l.contains(&format!(" severity={sev} ")))
                .count();
            assert_eq!(v["counts"][sev], n, "{name} {sev}");
        }
        let rules = raw_records(&raw, "findings", "rule ");
        assert_eq!(v["rules"].as_array().unwrap().len(), rules.len());
        for (rec, j) in rules.iter().zip(v["rules"].as_array().unwrap()) {
            let found = rec
                .split(' ')
                .find_map(|f| f.strip_prefix("found="))
                .unwrap();
            assert_eq!(j["found"].to_string(), found, "{name}: {rec}");
        }
        let regions = raw_records(&raw, "layout", "region ")
            .iter()
            .filter(|l| l.contains(&format!("map={} ", v["map"].as_str().unwrap())))
            .count();
        assert_eq!(v["regions"].as_array().unwrap().len(), regions);
        let expect = if raw.contains(" severity=error ") {
            2
        } else {
            0
        };
        assert_eq!(v["exit_status"], expect, "{name}");
    }
}

#[test]
fn diff_shows_the_planted_finding_rule_by_rule() {
    let (a, b) = (layout("p5-clean.snap"), layout("p5-wx.snap"));
    let d = Diff::new(&a, &b);
    assert_eq!(d.exit_status(), 1);
    let wx = d.rules.iter().find(|r| r.id == "wx").unwrap();
    assert_eq!(
        (wx.found_a, wx.found_b, wx.appeared.len(), wx.gone.len()),
        (0, 1, 1, 0)
    );
    assert_eq!(wx.appeared[0].region, "vmalloc");
    let unchanged = d.rules.iter().find(|r| r.id == "hole-mapping").unwrap();
    assert!(unchanged.appeared.is_empty() && unchanged.gone.is_empty());
    assert!(
        d.bases.iter().all(|m| m.a == m.b),
        "same boot: nothing moved"
    );
    assert!(
        !d.ranges_appeared.is_empty(),
        "the plant's vmalloc area is new"
    );
    // The other way round, the finding went away: no regression.
    let back = Diff::new(&b, &a);
    assert_eq!(back.exit_status(), 0);
    assert_eq!(
        back.rules.iter().find(|r| r.id == "wx").unwrap().gone.len(),
        1
    );
    let j = d.json("a", "b");
    assert_eq!(j["exit_status"], 1);
    let t = d.text("a", "b", 10);
    assert!(t.contains("wx                     0 -> 1  (+1 -0)"), "{t}");
}

#[test]
fn diff_between_boots_sees_the_bases_move_and_ranges_stay() {
    let set = kaslr_set(5);
    let d = Diff::new(&set[0], &set[1]);
    for base in [
        "page_offset_base",
        "vmalloc_base",
        "vmemmap_base",
        "kernel_text",
    ] {
        let m = d.bases.iter().find(|m| m.name == base).unwrap();
        assert_ne!(m.a, m.b, "{base} moved between boots");
    }
    // Ranges are compared by offset in their region: two boots of one
    // kernel differ in a few allocations and where the kernel image lies
    // in RAM (the direct map's splits), not in every range; cpu_entry_area's
    // per-CPU slots are randomized, so its ranges move.
    let total = d.ranges_a.max(d.ranges_b);
    let changed = d.ranges_appeared.len() + d.ranges_gone.len();
    assert!(changed * 4 < total, "{changed} of {total}");
    assert!(d
        .ranges_moved
        .iter()
        .any(|(from, to)| from.region == "cpu-entry-area" && from.offset != to.offset));
    let same = Diff::new(&set[0], &set[0]);
    assert!(same.ranges_appeared.is_empty() && same.ranges_gone.is_empty());
    assert!(same.regions.is_empty());
    assert_eq!(same.exit_status(), 0);
}

fn count_colour(pixmap: &resvg::tiny_skia::Pixmap, rgb: (u8, u8, u8)) -> usize {
    pixmap
        .pixels()
        .iter()
        .filter(|p| (p.red(), p.green(), p.blue()) == rgb && p.alpha() == 255)
        .count()
}

fn render(svg: &str) -> resvg::tiny_skia::Pixmap {
    let tree =
        resvg::usvg::Tree::from_str(svg, &resvg::usvg::Options::default()).expect("the SVG parses");
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).unwrap();
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    pixmap
}

#[test]
fn svg_parses_and_shows_wx_only_where_there_is_some() {
    let wx = (0xe6, 0x19, 0x4b);
    let write = (0x43, 0x63, 0xd8);
    let legend_only = count_colour(&render(&draw::svg(&layout("p5-clean.snap"))), wx);
    let with_wx = count_colour(&render(&draw::svg(&layout("p5-wx.snap"))), wx);
    // The legend's swatch is in both; the planted page adds its piece.
    assert!(
        legend_only > 0 && legend_only <= 14 * 10,
        "legend swatch: {legend_only}"
    );
    assert!(
        with_wx > legend_only,
        "{with_wx} W+X pixels against {legend_only}"
    );
    assert!(count_colour(&render(&draw::svg(&layout("p4-clean.snap"))), write) > 1000);
    let svg = draw::svg(&layout("p5-wx.snap"));
    for needle in [
        "direct-map",
        "vmalloc",
        "Legend",
        "piecewise logarithmic",
        "W+X",
    ] {
        assert!(svg.contains(needle), "{needle}");
    }
}

#[test]
fn every_mapped_byte_of_a_row_is_counted() {
    let l = layout("p5-clean.snap");
    let all: u64 = l.ranges.iter().map(|r| r.bytes()).sum();
    let half = l.kernel_half_start();
    let per_row: u64 = l
        .regions
        .iter()
        .filter(|r| r.doc_end >= half)
        .map(|r| draw::bytes_in(l.ranges.iter(), r.doc_start.max(half), r.doc_end))
        .sum();
    assert_eq!(all, per_row, "the rows tile the kernel half");
}

proptest! {
    #[test]
    fn axis_is_monotonic_and_shows_a_page(
        start in 0u64..1 << 40,
        len_pages in 1u64..1 << 34,
        cuts in proptest::collection::vec(0u64..1 << 46, 0..40),
        probe in proptest::collection::vec(0u64..1 << 46, 2..20),
    ) {
        let last = start + len_pages * 4096 - 1;
        let axis = Axis::new(start, last, cuts.iter().map(|c| u128::from(start + c)), 900.0);
        prop_assert_eq!(axis.x(u128::from(start)), 0.0);
        prop_assert!((axis.x(u128::from(last) + 1) - 900.0).abs() < 1e-6);
        let mut p: Vec<u128> = probe.iter().map(|o| u128::from(start + o % (len_pages * 4096))).collect();
        p.sort_unstable();
        for w in p.windows(2) {
            prop_assert!(axis.x(w[0]) <= axis.x(w[1]) + 1e-9);
        }
        // A 4 KiB page between two cuts is one unit: never less than
        // width / (pieces * 35).
        let page = Axis::new(start, last, [u128::from(start) + 4096].into_iter(), 900.0);
        prop_assert!(page.x(u128::from(start) + 4096) >= 900.0 / 36.0 - 1e-9);
    }

    #[test]
    fn truncated_snapshots_are_errors_naming_the_file(cut in 0usize..400) {
        let full = text("p5-wx.snap");
        let lines: Vec<&str> = full.lines().collect();
        // Every cut short of the whole file (drawn, not rejected: a reject
        // per cut past its end would abort a long run).
        let cut = cut % lines.len();
        let short = lines[..cut].join("\n");
        let err = Snapshot::parse("short.snap", &short).unwrap_err();
        prop_assert_eq!(err.origin.as_str(), "short.snap");
        prop_assert!(err.line <= cut.max(1), "{}", err);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let s = String::from_utf8_lossy(&bytes);
        prop_assert!(Snapshot::parse("junk", &s).is_err());
        let with_header = format!("# vmlayout snapshot=1\n{s}");
        if let Ok(snap) = Snapshot::parse("junk", &with_header) {
            let _ = Layout::from_snapshot(&snap);
        }
    }

    #[test]
    fn meta_values_survive_the_round_trip(value in "[ -~\t]{0,40}") {
        let mut s = snap("p4-clean.snap");
        s.meta.insert("cmdline".into(), value.replace('\t', " "));
        let back = Snapshot::parse("x", &s.to_text()).unwrap();
        prop_assert_eq!(back.meta.get("cmdline"), s.meta.get("cmdline"));
    }
}

#[test]
fn foreign_and_unknown_input_get_clear_errors() {
    let e = Snapshot::parse("a.txt", "hello\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "a.txt:1: not a vmlayout snapshot: the first line should be '# vmlayout snapshot=1'"
    );
    let e = Snapshot::parse("a", "# vmlayout snapshot=9\n").unwrap_err();
    assert!(
        e.to_string().contains("snapshot version 9 is not known"),
        "{e}"
    );
    let e = Snapshot::parse("a", "# vmlayout format=2 file=map\n").unwrap_err();
    assert!(
        e.to_string().contains("one vmlayout file, not a snapshot"),
        "{e}"
    );
    // A file of a newer record format inside a snapshot: named with its line.
    let t = text("p5-clean.snap").replacen(
        "# vmlayout format=2 file=layout",
        "# vmlayout format=3 file=layout",
        1,
    );
    let line = t
        .lines()
        .position(|l| l.starts_with("# vmlayout format=3"))
        .unwrap()
        + 1;
    let e = Snapshot::parse("new.snap", &t).unwrap_err();
    assert_eq!(e.line, line);
    assert!(e.msg.contains("record format 3 is not known"), "{e}");
    // A malformed record: file and line.
    let t = text("p5-clean.snap").replacen("paging levels=5", "paging levels=5 oops", 1);
    let e = Snapshot::parse("bad.snap", &t).unwrap_err();
    assert!(e.msg.contains("'oops' is not key=value"), "{e}");
    assert_eq!(
        t.lines().nth(e.line - 1).unwrap(),
        "paging levels=5 oops source=pgdir_shift"
    );
    // A bad value: caught when typed.
    let t = text("p5-clean.snap").replacen(
        "base name=vmalloc_base value=0x",
        "base name=vmalloc_base value=0y",
        1,
    );
    let e = Layout::from_snapshot(&Snapshot::parse("v.snap", &t).unwrap()).unwrap_err();
    assert!(e.to_string().starts_with("v.snap:"), "{e}");
    assert!(e.msg.contains("value='0y"), "{e}");
}

#[test]
fn kaslr_models_hold_for_every_recorded_boot() {
    for levels in [4, 5] {
        let set = kaslr_set(levels);
        for l in &set {
            let padding = 0;
            let m = kaslr::memory_models(l, padding, false).unwrap();
            assert!(m.iter().all(|m| m.consistent), "{}: {m:?}", l.origin);
            let t = kaslr::text_model(l, 0x100_0000, 0x20_0000).unwrap();
            assert!(
                t.consistent && t.positions > 400 && t.positions < 512,
                "{t:?}"
            );
        }
        let stats = kaslr::analyse(&set);
        assert_eq!(stats.len(), 1);
        let s = &stats[0];
        assert_eq!((s.levels, s.boots), (levels, set.len()));
        assert!(!s.degraded(), "{}", s.text());
        for b in &s.bases {
            assert_eq!(b.samples, set.len());
            assert_eq!(b.inconsistent, 0);
            assert!(
                b.model_bits.unwrap() > 8.0,
                "{}: {:?}",
                b.name,
                b.model_bits
            );
        }
    }
}

#[test]
fn kaslr_flags_degraded_configurations() {
    let one = layout("p5-clean.snap");
    // The same boot five times: not randomized.
    let same = vec![one.clone(); 5];
    let s = &kaslr::analyse(&same)[0];
    assert!(s.degraded());
    assert!(s
        .bases
        .iter()
        .all(|b| b.distinct == 1 && b.flags[0].starts_with("not randomized")));
    let mut nok = same.clone();
    for l in &mut nok {
        l.meta
            .insert("cmdline".into(), "console=ttyS0 nokaslr".into());
    }
    assert!(kaslr::analyse(&nok)[0].bases[0].flags[0].contains("nokaslr"));
    let mut kasan = same.clone();
    for l in &mut kasan {
        l.config.insert("CONFIG_KASAN".into(), "y".into());
    }
    let k = &kaslr::analyse(&kasan)[0];
    assert!(k
        .bases
        .iter()
        .find(|b| b.name == "vmalloc_base")
        .unwrap()
        .flags[0]
        .contains("KASAN"));
    // A base the model does not allow (not 1 GiB aligned).
    let mut bad = kaslr_set(4);
    bad[0]
        .bases
        .iter_mut()
        .find(|b| b.name == "vmalloc_base")
        .unwrap()
        .value += 4096;
    let b = kaslr::analyse(&bad);
    let v = b[0]
        .bases
        .iter()
        .find(|b| b.name == "vmalloc_base")
        .unwrap();
    assert_eq!(v.inconsistent, 1);
    assert!(b[0].degraded());
    // Two values, far more repeats than 499 text slots allow.
    let mut pair = kaslr_set(4);
    let t0 = pair[0].base("kernel_text").unwrap();
    for l in &mut pair {
        l.bases
            .iter_mut()
            .find(|b| b.name == "kernel_text")
            .unwrap()
            .value = t0;
    }
    pair[0]
        .bases
        .iter_mut()
        .find(|b| b.name == "kernel_text")
        .unwrap()
        .value = t0 + (2 << 20);
    let t = &kaslr::analyse(&pair)[0].bases[0];
    assert!(
        t.flags.iter().any(|f| f.contains("repeats far more")),
        "{:?}",
        t.flags
    );
}

#[test]
fn poisson_tail_matches_known_values() {
    assert!((kaslr::poisson_tail(1.0, 0) - 1.0).abs() < 1e-12);
    assert!((kaslr::poisson_tail(1.0, 1) - (1.0 - (-1f64).exp())).abs() < 1e-12);
    // P(X >= 3 | lambda = 2.5) = 1 - e^-2.5 (1 + 2.5 + 3.125)
    let want = 1.0 - (-2.5f64).exp() * (1.0 + 2.5 + 3.125);
    assert!((kaslr::poisson_tail(2.5, 3) - want).abs() < 1e-12);
}

#[test]
fn classes_follow_effective_permissions() {
    let l = layout("p5-wx.snap");
    let wx: Vec<_> = l
        .ranges
        .iter()
        .filter(|r| Class::of(r) == Class::WriteExec)
        .collect();
    let finding = l.findings.iter().find(|f| f.id == "wx").unwrap();
    assert!(wx
        .iter()
        .any(|r| r.start <= finding.start && r.last >= finding.last));
    assert!(layout("p5-clean.snap")
        .ranges
        .iter()
        .all(|r| Class::of(r) != Class::WriteExec));
}
