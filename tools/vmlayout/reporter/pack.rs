// SPDX-License-Identifier: GPL-2.0

//! Packed captures (`.elf.d64.gz`): a capture's table pages compress
//! poorly as they are, since each entry of a direct-map PTE table differs
//! from the one before it (the next page frame), and well as the
//! differences of consecutive little-endian 64-bit words, which are then
//! mostly one value. A packed capture is gzip of those differences (a
//! trailing part shorter than a word kept as it is): the 16 GiB
//! `debug_pagealloc` capture packs to some 105 KB, against 4.7 MB with
//! gzip alone. `vmlayout pack` and `vmlayout unpack` convert.

use std::io::{Read, Write};

/// Most bytes unpacked: a capture of 4 Mi table pages (`elf::MAX_TABLE_PAGES`)
/// and its headers.
const MAX_UNPACKED: u64 = (4 << 20) * 4096 + (1 << 30);

/// `bytes`, packed.
pub fn pack(bytes: &[u8]) -> Vec<u8> {
    let words = bytes.chunks_exact(8);
    let tail = words.remainder();
    let mut deltas = Vec::with_capacity(bytes.len());
    let mut last = 0u64;
    for w in words {
        let word = u64::from_le_bytes(w.try_into().unwrap_or_default());
        deltas.extend_from_slice(&word.wrapping_sub(last).to_le_bytes());
        last = word;
    }
    deltas.extend_from_slice(tail);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writes to a vector do not fail.
    let _ = gz.write_all(&deltas);
    gz.finish().unwrap_or_default()
}

/// What `packed` was packed from.
pub fn unpack(packed: &[u8]) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(packed)
        .take(MAX_UNPACKED)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("not a packed capture (gzip: {e})"))?;
    let mut last = 0u64;
    for w in bytes.chunks_exact_mut(8) {
        let delta = u64::from_le_bytes((&*w).try_into().unwrap_or_default());
        last = last.wrapping_add(delta);
        w.copy_from_slice(&last.to_le_bytes());
    }
    Ok(bytes)
}

/// A capture file's bytes: packed (`.d64.gz`), gzip (`.gz`) or as it is.
pub fn read_capture(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let name = path.display();
    let raw = std::fs::read(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let file = path.to_string_lossy();
    if file.ends_with(".d64.gz") {
        return unpack(&raw).map_err(|e| format!("{name}: {e}"));
    }
    if !file.ends_with(".gz") {
        return Ok(raw);
    }
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(&raw[..])
        .take(MAX_UNPACKED)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{name}: gzip: {e}"))?;
    Ok(bytes)
}
