// SPDX-License-Identifier: GPL-2.0

//! Findings across scans (`vmlayout_core::seen`): first and last seen, and
//! the events of what appeared and cleared, against a model that keys each
//! finding by what makes it the same one.

use std::collections::HashMap;

use proptest::prelude::*;
use vmlayout_core::pte::{Effective, Flags, Level};
use vmlayout_core::rules::{Finding, Owner, Rule, Severity};
use vmlayout_core::seen::{carry_over, same, Change, Seen};
use vmlayout_core::walk::Range;

/// Finding number `n` of a small universe: a few rules, owners, addresses
/// and attributes, so that scans drawn from it share findings.
fn finding(n: u8) -> Finding {
    let start = 0xffff_c900_0000_0000 + u64::from(n % 4) * 0x1000;
    Finding {
        rule: [Rule::WriteExec, Rule::ExecData, Rule::UserKernel][usize::from(n / 4 % 3)],
        severity: [Severity::Error, Severity::Info][usize::from(n / 48)],
        row: None,
        range: Range {
            start,
            last: start + 0xfff,
            phys: 0x5000,
            flags: Flags([Flags::RW, Flags::RW | Flags::G][usize::from(n / 12 % 2)]),
            effective: Effective::ALL,
            level: Level::Pte,
        },
        reason: "",
        owner: [Owner::Reference, Owner::Cpu(1)][usize::from(n / 24 % 2)],
    }
}

/// What makes a finding the same one, as the model keys it.
fn key(f: &Finding) -> String {
    let r = &f.range;
    let (rule, severity, owner) = (f.rule, f.severity, f.owner);
    format!(
        "{rule:?} {severity:?} {owner:?} {:#x} {:#x} {:#x}",
        r.start, r.last, r.flags.0
    )
}

proptest! {
    /// Any sequence of scans: each finding's first-seen time is the first
    /// scan of its unbroken run, its last-seen time the scan's; the events
    /// are exactly what appeared and what cleared.
    #[test]
    fn seen_times_and_events_follow_the_scans(
        scans in proptest::collection::vec(proptest::collection::vec(0u8..96, 0..12), 1..10)
    ) {
        let (mut old, mut old_seen): (Vec<Finding>, Vec<Seen>) = (Vec::new(), Vec::new());
        let mut first: HashMap<_, u64> = HashMap::new();
        for (t, scan) in scans.iter().enumerate() {
            let now = 1000 * (t as u64 + 1);
            let mut new: Vec<Finding> = Vec::new();
            for &n in scan {
                let f = finding(n);
                if !new.iter().any(|g| same(g, &f)) {
                    new.push(f);
                }
            }
            let mut seen = vec![Seen::default(); new.len()];
            let (mut appeared, mut cleared) = (Vec::new(), Vec::new());
            carry_over((&old, &old_seen), &new, now, &mut seen, |c| match c {
                Change::Appeared(f, s) => appeared.push((key(f), s)),
                Change::Cleared(f, s) => cleared.push((key(f), s)),
            });
            // The model: a finding's run starts when it appears.
            let was: Vec<_> = old.iter().map(key).collect();
            let is: Vec<_> = new.iter().map(key).collect();
            first.retain(|k, _| is.contains(k));
            for k in &is {
                first.entry(k.clone()).or_insert(now);
            }
            for (f, s) in new.iter().zip(&seen) {
                prop_assert_eq!(*s, Seen { first_ns: first[&key(f)], last_ns: now });
            }
            let want_appeared: Vec<_> = is.iter().filter(|k| !was.contains(k)).cloned().collect();
            let got: Vec<_> = appeared.iter().map(|a| a.0.clone()).collect();
            prop_assert_eq!(got, want_appeared);
            let want_cleared: Vec<_> = was.iter().filter(|k| !is.contains(k)).cloned().collect();
            let got: Vec<_> = cleared.iter().map(|c| c.0.clone()).collect();
            prop_assert_eq!(got, want_cleared);
            // A cleared finding carries the times it was seen.
            for (k, s) in &cleared {
                let j = old.iter().position(|f| key(f) == *k).unwrap();
                prop_assert_eq!(*s, old_seen[j]);
            }
            (old, old_seen) = (new, seen);
        }
    }
}

/// `old` (seen at 5 and 7 ns) carried over to `new` at 9 ns: the events
/// (appeared or not, the finding) and `new`'s times.
fn one_change(old: Finding, new: Finding) -> (Vec<(bool, Finding)>, Seen) {
    let mut seen = [Seen::default()];
    let mut events = Vec::new();
    let old_seen = [Seen {
        first_ns: 5,
        last_ns: 7,
    }];
    carry_over((&[old], &old_seen), &[new], 9, &mut seen, |c| {
        events.push(match c {
            Change::Appeared(f, _) => (true, *f),
            Change::Cleared(f, _) => (false, *f),
        })
    });
    (events, seen[0])
}

/// An error a scan's re-check found gone is reported as info: the error
/// clears (its event fires), and the info is a new finding.
#[test]
fn an_error_that_settles_to_info_clears() {
    let (error, info) = (finding(0), finding(48));
    assert_eq!(
        (error.severity, info.severity),
        (Severity::Error, Severity::Info)
    );
    let (events, _) = one_change(error, info);
    let events: Vec<_> = events
        .iter()
        .map(|&(appeared, f)| (appeared, f.severity))
        .collect();
    assert_eq!(events, [(true, Severity::Info), (false, Severity::Error)]);
}

/// A finding whose attributes change is a new finding; the old one clears.
#[test]
fn a_finding_with_new_attributes_is_a_new_one() {
    let (a, b) = (finding(0), finding(12));
    assert_eq!((a.rule, a.range.start), (b.rule, b.range.start));
    let (events, seen) = one_change(a, b);
    let events: Vec<_> = events.iter().map(|e| e.0).collect();
    assert_eq!(events, [true, false]);
    assert_eq!(
        seen,
        Seen {
            first_ns: 9,
            last_ns: 9
        }
    );
}

/// A kallsyms symbol names whose code it is.
#[test]
fn code_owners_from_kallsyms_symbols() {
    use vmlayout_core::report::{code_owner, NameBuf};
    for (symbol, owner) in [
        ("_stext", "kernel"),
        (
            "vmlayout_plant_init [vmlayout_plant]",
            "module vmlayout_plant",
        ),
        (
            "bpf_prog_6deef7357e7b4530_sd_devices [bpf]",
            "bpf bpf_prog_6deef7357e7b4530_sd_devices",
        ),
        ("ftrace_trampoline [__builtin__ftrace]", "ftrace"),
        ("kprobe_insn_page [__builtin__kprobes]", "kprobes"),
    ] {
        let mut out = NameBuf::new();
        code_owner(symbol, None, &mut out);
        assert_eq!(out.as_str(), owner, "{symbol}");
    }
    // Built in, vmlayout knows the image's and modules' sections; BPF
    // programs and trampolines have none.
    for (symbol, section, owner) in [
        ("entry_SYSCALL_64", "entry", "kernel entry"),
        ("start_kernel", "init", "kernel init"),
        (
            "vmlayout_plant_init [vmlayout_plant]",
            "init",
            "module vmlayout_plant init",
        ),
        (
            "bpf_prog_6deef7357e7b4530_sd_devices [bpf]",
            "text",
            "bpf bpf_prog_6deef7357e7b4530_sd_devices",
        ),
        ("ftrace_trampoline [__builtin__ftrace]", "text", "ftrace"),
    ] {
        let mut out = NameBuf::new();
        code_owner(symbol, Some(section), &mut out);
        assert_eq!(out.as_str(), owner, "{symbol}");
    }
}

/// A finding names whose code its range holds when the range is
/// executable or the finding a warn or error about a mapping, by its
/// first page; `unknown` where the symbol table has nothing.
#[test]
fn findings_name_their_code_when_executable_or_flagged() {
    use std::fmt::Write;
    use vmlayout_core::report::{code_of, NameBuf};
    let module_text = |va: u64, out: &mut NameBuf| {
        (0xffff_ffff_c000_0000..0xffff_ffff_c000_2000).contains(&va)
            && out.write_str("module m").is_ok()
    };
    let at = |n: u8, start: u64, nx: bool| {
        let mut f = finding(n);
        f.range.start = start;
        f.range.effective.nx = nx;
        f
    };
    let name = |f: &Finding| code_of(f, &module_text).map(|n| n.as_str().to_string());
    // Executable: named, also as info.
    let info = at(48, 0xffff_ffff_c000_1000, false);
    assert_eq!(info.severity, Severity::Info);
    assert_eq!(name(&info).as_deref(), Some("module m"));
    // Not executable: only a warn or error is named.
    assert_eq!(name(&at(48, 0xffff_ffff_c000_1000, true)), None);
    let error = at(0, 0xffff_c900_0000_0000, true);
    assert_eq!(error.severity, Severity::Error);
    assert_eq!(name(&error).as_deref(), Some("unknown"));
    // An entry of a top-level table is no mapping: no code.
    let mut unsynced = at(0, 0xffff_ffff_c000_1000, false);
    unsynced.rule = Rule::UnsyncedPgd;
    assert_eq!(name(&unsynced), None);
    // In EFI's table, code no symbol names is the firmware's runtime (its
    // 1:1 mappings in the user half); what a symbol names stays named.
    let mut efi = at(48, 0x7fa5_b000, false);
    efi.owner = vmlayout_core::rules::Owner::Efi;
    assert_eq!(name(&efi).as_deref(), Some(vmlayout_core::report::EFI_CODE));
    efi.range.start = 0xffff_ffff_c000_1000;
    assert_eq!(name(&efi).as_deref(), Some("module m"));
}
