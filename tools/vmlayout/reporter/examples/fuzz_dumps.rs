// SPDX-License-Identifier: GPL-2.0

//! Fuzz the dump reader with random mutations of the real captures in
//! `testdata/captures`, and keep the corpus: each input that reaches an
//! outcome no earlier one did (see `vmlayout_reporter::corpus`), with the
//! fewest edits found for it, is written to the corpus file, which the
//! host tests replay. A panic stops the run with the input that caused it.
//!
//!   cargo run --release --example fuzz_dumps -- ITERATIONS SEED CORPUS

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use vmlayout_reporter::corpus::{apply, outcome, Entry};
use vmlayout_reporter::docs::Docs;

/// The captures mutated: small ones (a run checks in about a millisecond).
const BASES: [&str; 2] = ["p4-wx.elf.gz", "p5-wx.elf.gz"];

/// xorshift64*: reproducible from the seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn load(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/captures")
        .join(name);
    let mut bytes = Vec::new();
    let file = std::fs::File::open(&path).expect("a capture");
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .expect("gzip");
    bytes
}

/// 1 to 8 edits: half in the headers and notes (the first 8 KiB), half
/// anywhere (the table pages); a byte each, random or a boundary value.
fn edits(rng: &mut Rng, len: usize) -> Vec<(usize, u8)> {
    (0..1 + rng.below(8))
        .map(|_| {
            let at = if rng.below(2) == 0 {
                rng.below(8192.min(len))
            } else {
                rng.below(len)
            };
            let byte = [0x00, 0xff, 0x80, 0x01][rng.below(4)];
            (
                at,
                if rng.below(2) == 0 {
                    byte
                } else {
                    rng.next() as u8
                },
            )
        })
        .collect()
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [iterations, seed, out] = args.as_slice() else {
        return Err("usage: fuzz_dumps ITERATIONS SEED CORPUS".into());
    };
    let iterations: usize = iterations.parse().map_err(|_| "ITERATIONS: a number")?;
    let mut rng = Rng(seed.parse::<u64>().map_err(|_| "SEED: a number")? | 1);
    let docs = Docs::load()?;
    let bases: Vec<(&str, Vec<u8>)> = BASES.iter().map(|b| (*b, load(b))).collect();
    let dir = std::env::temp_dir().join(format!("vmlayout-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join("input.elf");
    let mut kept: BTreeMap<String, Entry> = BTreeMap::new();
    let started = std::time::Instant::now();
    for _ in 0..iterations {
        let (base, bytes) = &bases[rng.below(bases.len())];
        let edits = edits(&mut rng, bytes.len());
        std::fs::write(&path, apply(bytes, &edits)).map_err(|e| e.to_string())?;
        let reached = std::panic::catch_unwind(|| outcome(&path, &docs));
        let Ok(outcome) = reached else {
            let kept_at = format!("{out}.panic");
            let _ = std::fs::copy(&path, &kept_at);
            return Err(format!(
                "a panic: the input is in {kept_at} ({base}, {edits:x?})"
            ));
        };
        let entry = Entry {
            base: base.to_string(),
            edits,
            outcome,
        };
        let fewer = kept
            .get(&entry.outcome)
            .is_none_or(|k| entry.edits.len() < k.edits.len());
        if fewer {
            kept.insert(entry.outcome.clone(), entry);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut text =
        String::from("# vmlayout's dump-reader fuzz corpus (tools/vmlayout/reporter/corpus.rs)\n");
    for entry in kept.values() {
        text += &entry.line();
        text.push('\n');
    }
    std::fs::write(out, text).map_err(|e| e.to_string())?;
    eprintln!(
        "fuzz_dumps: {iterations} inputs in {:.1} s, {} outcomes kept in {out}",
        started.elapsed().as_secs_f64(),
        kept.len()
    );
    for (outcome, entry) in &kept {
        eprintln!("  {:>2} edits  {outcome}", entry.edits.len());
    }
    Ok(())
}
