// SPDX-License-Identifier: GPL-2.0

//! The dump reader's fuzz corpus (`testdata/fuzz/dumps.txt`): mutations of
//! real captures, each kept because it reached an outcome no earlier one
//! had (an error of its own, a result with or without findings), replayed
//! by the host tests, which require each still to reach that outcome.
//! `examples/fuzz_dumps.rs` makes it.
//!
//! One line per input: the capture it mutates, its edits (`offset:byte`,
//! hex, comma-separated) and its outcome, tab-separated.

use std::path::Path;

use crate::check::{check, Input};
use crate::docs::Docs;

/// One corpus input: `base` (a file in `testdata/captures`, gzip) with
/// `edits` applied, and the outcome it reached when kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub base: String,
    pub edits: Vec<(usize, u8)>,
    pub outcome: String,
}

impl Entry {
    /// Parse one line of the corpus.
    pub fn parse(line: &str) -> Result<Entry, String> {
        let mut it = line.split('\t');
        let (Some(base), Some(edits), Some(outcome), None) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(format!("not a corpus line: {line:?}"));
        };
        let edits = edits
            .split(',')
            .map(|e| {
                let (at, byte) = e.split_once(':')?;
                let at = usize::from_str_radix(at, 16).ok()?;
                Some((at, u8::from_str_radix(byte, 16).ok()?))
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("bad edits in {line:?}"))?;
        Ok(Entry {
            base: base.to_string(),
            edits,
            outcome: outcome.to_string(),
        })
    }

    /// This entry as a corpus line.
    pub fn line(&self) -> String {
        let edits: Vec<String> = self
            .edits
            .iter()
            .map(|(at, b)| format!("{at:x}:{b:02x}"))
            .collect();
        format!("{}\t{}\t{}", self.base, edits.join(","), self.outcome)
    }
}

/// `bytes` with `edits` applied (offsets wrap around the length).
pub fn apply(bytes: &[u8], edits: &[(usize, u8)]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for &(at, b) in edits {
        if !out.is_empty() {
            let len = out.len();
            out[at % len] = b;
        }
    }
    out
}

/// What checking the dump at `path` comes to: `error: MESSAGE` with its
/// numbers and the path left out (so that one kind of error is one
/// outcome), `result: findings` when a warn or error finding was reported,
/// `result: clean` otherwise.
pub fn outcome(path: &Path, docs: &Docs) -> String {
    match check(Input::Vmcore(path), docs) {
        Err(e) => format!(
            "error: {}",
            normalized(&e.replace(&path.display().to_string(), "FILE"))
        ),
        Ok(snap) => {
            let findings = snap
                .file("findings")
                .map(|f| f.text.clone())
                .unwrap_or_default();
            let bad = findings
                .lines()
                .any(|l| l.contains(" severity=warn ") || l.contains(" severity=error "));
            if bad {
                "result: findings"
            } else {
                "result: clean"
            }
            .to_string()
        }
    }
}

/// `msg` with each number (decimal or hex, `0x` or not) as `#`.
fn normalized(msg: &str) -> String {
    let mut out = String::new();
    let mut chars = msg.chars().peekable();
    let mut in_word = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() && !in_word {
            while chars
                .next_if(|n| n.is_ascii_hexdigit() || *n == 'x' || *n == '_')
                .is_some()
            {}
            out.push('#');
            in_word = true;
        } else {
            in_word = c.is_alphanumeric();
            out.push(c);
        }
    }
    out
}
