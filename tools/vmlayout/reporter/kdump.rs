// SPDX-License-Identifier: GPL-2.0

//! kdump-compressed dumps: makedumpfile's own format (signature `KDUMP`),
//! what Debian's kdump-tools (`makedumpfile -c -d 31`) and the RHEL family
//! (`-l -d 31`) save by default, and what QEMU's `dump-guest-memory -z`
//! gives once `makedumpfile -R` has reassembled it.
//!
//! The layout (makedumpfile's `diskdump_mod.h`): block 0 is the header,
//! then `sub_hdr_size` blocks of the x86-64 sub-header (where the
//! VMCOREINFO text and the ELF notes are), `bitmap_blocks` blocks of two
//! bitmaps of equal size (the first: the pages that exist; the second: the
//! pages the file holds), then one 24-byte descriptor per page held, in page
//! order, each naming where its data is, its size and its compression.
//!
//! Every offset and size is checked against the file before it is used; a
//! page is found by the rank of its bit in the second bitmap, from a count
//! of set bits kept per 4,096 pages, so a lookup reads one descriptor.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::elf::u64_at;

/// One page: x86-64's, and the block size of every dump it writes.
const PAGE: u64 = 4096;
/// The header's fields (offsets in `struct disk_dump_header`).
const HEADER_VERSION: usize = 8;
const BLOCK_SIZE: usize = 428;
const SUB_HDR_SIZE: usize = 432;
const BITMAP_BLOCKS: usize = 436;
const MAX_MAPNR: usize = 440;
/// `struct kdump_sub_header` (x86-64) fields.
const SUB_DUMP_LEVEL: usize = 8;
const SUB_VMCOREINFO: usize = 32;
const SUB_NOTE: usize = 48;
const SUB_MAX_MAPNR_64: usize = 96;
/// `struct page_desc`: offset (8), size (4), flags (4), page_flags (8).
const DESC: u64 = 24;
/// Page descriptor flags: how the page's data is compressed.
const COMPRESSED_ZLIB: u32 = 0x1;
const COMPRESSED_LZO: u32 = 0x2;
const COMPRESSED_SNAPPY: u32 = 0x4;
const COMPRESSED_ZSTD: u32 = 0x20;
/// Dump level bit 1: pages of zeros left out (read as zeros here).
const EXCLUDE_ZERO: u32 = 1;
/// Pages per entry of the rank table.
const RANK_STRIDE: u64 = 4096;
/// Decompressed pages kept: the walk reads a table, then single entries of
/// its parent again.
const CACHED_PAGES: usize = 64;

/// What the file says before its pages.
pub struct Headers {
    /// The ELF notes (makedumpfile copies /proc/vmcore's; QEMU writes its
    /// own, each vCPU's registers among them).
    pub notes: Vec<u8>,
    /// The VMCOREINFO text, if the file has one.
    pub vmcoreinfo: Vec<u8>,
    /// Physical memory that exists, as (first, last) byte ranges.
    pub ram: Vec<(u64, u64)>,
}

/// A kdump-compressed file's pages.
pub struct Pages {
    /// Where the page descriptors start.
    descs: u64,
    /// The second bitmap (pages held), and the first (pages that exist).
    held: Vec<u8>,
    exists: Vec<u8>,
    /// Pages held below each multiple of [`RANK_STRIDE`].
    rank: Vec<u64>,
    /// Whether left-out pages that exist are pages of zeros.
    zeros_left_out: bool,
    cache: RefCell<HashMap<u64, Box<[u8; PAGE as usize]>>>,
}

/// Reads `len` bytes at an offset of the file: the caller's bounded reader.
pub type ReadAt<'r> = &'r dyn Fn(u64, usize) -> Result<Vec<u8>, String>;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn bit(map: &[u8], pfn: u64) -> bool {
    map.get((pfn / 8) as usize)
        .is_some_and(|byte| byte >> (pfn % 8) & 1 == 1)
}

/// Read the headers, the bitmaps and the rank table of the file `read`
/// reads (whose first block `header` is).
pub fn open(header: &[u8], read: ReadAt<'_>) -> Result<(Headers, Pages), String> {
    let field = |at: usize| u32_at(header, at) as u64;
    let version = field(HEADER_VERSION);
    let block = field(BLOCK_SIZE);
    if block != PAGE {
        return Err(format!(
            "kdump-compressed: block size {block}, not 4096 (not x86-64)"
        ));
    }
    if version < 6 {
        return Err(format!(
            "kdump-compressed: header version {version}, not 6 or later"
        ));
    }
    let sub = read(block, (field(SUB_HDR_SIZE) * block).min(1 << 20) as usize)?;
    if sub.len() < SUB_MAX_MAPNR_64 + 8 {
        return Err("kdump-compressed: sub-header too short".into());
    }
    let mapnr = u64_at(&sub, SUB_MAX_MAPNR_64).max(field(MAX_MAPNR));
    let bitmap_bytes = field(BITMAP_BLOCKS) * block;
    if bitmap_bytes / 2 < mapnr.div_ceil(8) || bitmap_bytes > 1 << 32 {
        return Err(format!(
            "kdump-compressed: bitmaps of {bitmap_bytes} bytes for {mapnr} pages"
        ));
    }
    let bitmaps = (1 + field(SUB_HDR_SIZE)) * block;
    let half = (bitmap_bytes / 2) as usize;
    let exists = read(bitmaps, half)?;
    let held = read(bitmaps + half as u64, half)?;
    let blob = |at: usize| -> Result<Vec<u8>, String> {
        let (offset, size) = (u64_at(&sub, at), u64_at(&sub, at + 8));
        if size > 64 << 20 {
            return Err(format!("kdump-compressed: {size} bytes of notes"));
        }
        if size == 0 {
            Ok(Vec::new())
        } else {
            read(offset, size as usize)
        }
    };
    let headers = Headers {
        notes: blob(SUB_NOTE)?,
        vmcoreinfo: blob(SUB_VMCOREINFO)?,
        ram: runs(&exists, mapnr),
    };
    let pages = Pages {
        descs: bitmaps + bitmap_bytes,
        rank: ranks(&held, mapnr),
        held,
        exists,
        zeros_left_out: u32_at(&sub, SUB_DUMP_LEVEL) & EXCLUDE_ZERO != 0,
        cache: RefCell::new(HashMap::new()),
    };
    Ok((headers, pages))
}

/// The runs of set bits of `map`, as byte ranges of physical memory.
fn runs(map: &[u8], pages: u64) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for pfn in (0..pages).filter(|&p| bit(map, p)) {
        match out.last_mut() {
            Some(last) if last.1 + 1 == pfn * PAGE => last.1 += PAGE,
            _ => out.push((pfn * PAGE, pfn * PAGE + PAGE - 1)),
        }
    }
    out
}

/// Set bits of `map` below each multiple of [`RANK_STRIDE`] pages.
fn ranks(map: &[u8], pages: u64) -> Vec<u64> {
    let bytes = (RANK_STRIDE / 8) as usize;
    let mut total = 0;
    let mut out = Vec::with_capacity(pages.div_ceil(RANK_STRIDE) as usize);
    for chunk in map.chunks(bytes) {
        out.push(total);
        total += chunk.iter().map(|b| u64::from(b.count_ones())).sum::<u64>();
    }
    out
}

impl Pages {
    /// The descriptor index of page `pfn`, if the file holds it.
    fn index(&self, pfn: u64) -> Option<u64> {
        if !bit(&self.held, pfn) {
            return None;
        }
        let stride = (pfn / RANK_STRIDE) as usize;
        let from = stride * (RANK_STRIDE / 8) as usize;
        let to = (pfn / 8) as usize;
        let below: u64 = self
            .held
            .get(from..to)?
            .iter()
            .map(|b| u64::from(b.count_ones()))
            .sum();
        let mask = (1u16 << (pfn % 8)) - 1;
        let in_byte = u64::from((u16::from(self.held[to]) & mask).count_ones());
        Some(self.rank.get(stride)? + below + in_byte)
    }

    /// Copy `out.len()` bytes at offset `within` of page `pfn` into `out`,
    /// the page decompressed once and kept while the walk reads it and its
    /// parent again.
    fn copy(
        &self,
        pfn: u64,
        within: usize,
        out: &mut [u8],
        read: ReadAt<'_>,
    ) -> Result<(), String> {
        if !self.cache.borrow().contains_key(&pfn) {
            let page = match self.index(pfn) {
                Some(i) => self.decode(pfn, i, read)?,
                None if self.zeros_left_out && bit(&self.exists, pfn) => {
                    Box::new([0; PAGE as usize])
                }
                None => return Err(format!("page {pfn:#x} is not in the dump")),
            };
            let mut cache = self.cache.borrow_mut();
            if cache.len() >= CACHED_PAGES {
                cache.clear();
            }
            cache.insert(pfn, page);
        }
        let cache = self.cache.borrow();
        let page = cache.get(&pfn).ok_or("page left the cache")?;
        out.copy_from_slice(&page[within..within + out.len()]);
        Ok(())
    }

    /// Decompress page `pfn`, held as descriptor `i`.
    fn decode(
        &self,
        pfn: u64,
        i: u64,
        read: ReadAt<'_>,
    ) -> Result<Box<[u8; PAGE as usize]>, String> {
        let desc = read(self.descs + i * DESC, DESC as usize)?;
        let (offset, size, flags) = (u64_at(&desc, 0), u32_at(&desc, 8), u32_at(&desc, 12));
        if u64::from(size) > PAGE {
            return Err(format!("page {pfn:#x}: {size} bytes of data"));
        }
        let data = read(offset, size as usize)?;
        let mut page = Box::new([0u8; PAGE as usize]);
        let fail = |e: String| format!("page {pfn:#x}: {e}");
        match flags & (COMPRESSED_ZLIB | COMPRESSED_LZO | COMPRESSED_SNAPPY | COMPRESSED_ZSTD) {
            0 if u64::from(size) == PAGE => page.copy_from_slice(&data),
            0 => return Err(fail(format!("{size} bytes, uncompressed"))),
            COMPRESSED_ZLIB => inflate(&data, &mut page[..]).map_err(fail)?,
            COMPRESSED_LZO => unlzo(&data, &mut page[..]).map_err(fail)?,
            COMPRESSED_SNAPPY => unsnappy(&data, &mut page[..]).map_err(fail)?,
            other => {
                return Err(fail(format!(
                    "{} compression: vmlayout reads zlib, lzo, snappy and uncompressed pages",
                    name(other)
                )))
            }
        }
        Ok(page)
    }

    /// Read `buf.len()` bytes at physical `paddr` (within pages held, or
    /// left out as zeros): `false` if any of it cannot be read.
    pub fn read(&self, paddr: u64, buf: &mut [u8], read: ReadAt<'_>) -> bool {
        let mut done = 0;
        while done < buf.len() {
            let at = paddr + done as u64;
            let within = (at % PAGE) as usize;
            let n = (buf.len() - done).min(PAGE as usize - within);
            if self
                .copy(at / PAGE, within, &mut buf[done..done + n], read)
                .is_err()
            {
                return false;
            }
            done += n;
        }
        true
    }
}

/// A compression's name, for the error.
fn name(flags: u32) -> &'static str {
    match flags {
        COMPRESSED_ZSTD => "zstd (makedumpfile -z)",
        _ => "an unknown",
    }
}

/// Decompress LZO1X `data` (makedumpfile -l, QEMU's kdump-lzo) into
/// exactly `out`.
fn unlzo(data: &[u8], out: &mut [u8]) -> Result<(), String> {
    match crate::lzo::decompress(data, out)? {
        n if n == out.len() => Ok(()),
        n => Err(format!("lzo data gives {n} bytes, not a page")),
    }
}

/// Decompress raw snappy `data` (makedumpfile -p, QEMU's kdump-snappy)
/// into exactly `out`.
fn unsnappy(data: &[u8], out: &mut [u8]) -> Result<(), String> {
    match snap::raw::decompress_len(data) {
        Ok(n) if n == out.len() => {}
        Ok(n) => return Err(format!("snappy data gives {n} bytes, not a page")),
        Err(e) => return Err(format!("bad snappy data: {e}")),
    }
    let n = snap::raw::Decoder::new()
        .decompress(data, out)
        .map_err(|e| format!("bad snappy data: {e}"))?;
    if n == out.len() {
        Ok(())
    } else {
        Err(format!("snappy data gives {n} bytes, not a page"))
    }
}

/// Inflate zlib `data` into exactly `out`.
fn inflate(data: &[u8], out: &mut [u8]) -> Result<(), String> {
    let mut z = flate2::Decompress::new(true);
    match z.decompress(data, out, flate2::FlushDecompress::Finish) {
        Ok(flate2::Status::StreamEnd) if z.total_out() == out.len() as u64 => Ok(()),
        Ok(_) => Err(format!(
            "zlib data gives {} bytes, not a page",
            z.total_out()
        )),
        Err(e) => Err(format!("bad zlib data: {e}")),
    }
}
