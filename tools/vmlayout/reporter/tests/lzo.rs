// SPDX-License-Identifier: GPL-2.0

//! The LZO1X decoder (`reporter/lzo.rs`) against an independent encoder
//! (lzokay), and on corrupted input.

use proptest::prelude::*;
use vmlayout_reporter::lzo::decompress;

/// Page-table-like pages: runs of equal or stepping 8-byte entries, zeros,
/// and noise, so that every kind of match and literal run occurs.
fn page() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((0u8..4, any::<u64>(), 1usize..80), 1..40).prop_map(|runs| {
        let mut out = Vec::with_capacity(4096);
        for (kind, v, n) in runs {
            for i in 0..n as u64 {
                let e = match kind {
                    0 => 0,
                    1 => v,
                    2 => v.wrapping_add(i << 12),
                    _ => v.rotate_left(i as u32) ^ i,
                };
                out.extend_from_slice(&e.to_le_bytes());
            }
        }
        out.resize(4096, 0);
        out
    })
}

proptest! {
    #[test]
    fn decodes_what_lzokay_encodes(page in page()) {
        let packed = lzokay_native::compress(&page).unwrap();
        let mut out = [0u8; 4096];
        prop_assert_eq!(decompress(&packed, &mut out), Ok(4096));
        prop_assert_eq!(&out[..], &page[..]);
    }

    #[test]
    fn corrupted_input_is_an_error_or_a_result_never_a_panic(
        page in page(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut packed = lzokay_native::compress(&page).unwrap();
        let len = packed.len();
        for (at, b) in edits {
            packed[at % len] = b;
        }
        let mut out = [0u8; 4096];
        let _ = decompress(&packed, &mut out);
        let _ = decompress(&packed[..len / 2], &mut out);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut out = [0u8; 4096];
        let _ = decompress(&bytes, &mut out);
    }
}

#[test]
fn a_short_output_is_an_overrun_not_a_panic() {
    let page = [7u8; 4096];
    let packed = lzokay_native::compress(&page).unwrap();
    let mut small = [0u8; 100];
    assert!(decompress(&packed, &mut small)
        .unwrap_err()
        .contains("overrun"));
    assert!(decompress(&[], &mut small).is_err());
}
