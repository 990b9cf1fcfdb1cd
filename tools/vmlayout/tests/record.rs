// SPDX-License-Identifier: GPL-2.0

//! The record format: what the module writes, tools read back.

use proptest::prelude::*;
use vmlayout_core::record::{header, Record};
use vmlayout_core::record_parse::parse;

fn unescape(raw: &str) -> String {
    let mut out = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next().unwrap() } else { c });
    }
    out
}

#[test]
fn header_names_the_version_and_file() {
    let mut s = String::new();
    header(&mut s, "layout").unwrap();
    assert_eq!(s, "# vmlayout format=2 file=layout\n");
    assert!(parse(s.trim_end()).is_none());
}

#[test]
fn fixed_example() {
    let mut s = String::new();
    Record::new(&mut s, "region")
        .unwrap()
        .text("name", "direct-map")
        .unwrap()
        .hex("start", 0xffff_8880_0000_0000)
        .unwrap()
        .opt_hex("end", None)
        .unwrap()
        .num("slide", -4096i64)
        .unwrap()
        .text("reason", "a \"quoted\" = reason")
        .unwrap()
        .end()
        .unwrap();
    assert_eq!(
        s,
        "region name=direct-map start=0xffff888000000000 end=- slide=-4096 reason=\"a \\\"quoted\\\" = reason\"\n"
    );
}

proptest! {
    #[test]
    fn fields_round_trip(kind in "[a-z]{1,10}", fields in prop::collection::vec(("[a-z_]{1,12}", "[ -~]{0,40}", any::<u64>()), 0..8)) {
        let mut s = String::new();
        let mut r = Record::new(&mut s, &kind).unwrap();
        for (key, text, value) in &fields {
            r = r.text(key, text).unwrap().hex(&format!("{key}_hex"), *value).unwrap();
        }
        r.end().unwrap();
        prop_assert_eq!(s.matches('\n').count(), 1);
        let (got_kind, got) = parse(s.trim_end_matches('\n')).unwrap();
        prop_assert_eq!(got_kind, kind.as_str());
        let got: Vec<(&str, &str)> = got.collect();
        prop_assert_eq!(got.len(), fields.len() * 2);
        for (pair, (key, text, value)) in got.chunks(2).zip(&fields) {
            prop_assert_eq!(pair[0].0, key.as_str());
            prop_assert_eq!(unescape(pair[0].1), text.clone());
            prop_assert_eq!(pair[1].1, format!("{value:#018x}"));
        }
    }
}
