// SPDX-License-Identifier: GPL-2.0

//! `vmlayout check` on crash dumps made here: a 4-level kernel's page
//! tables laid out in 64 MiB of memory as the kernel lays them out (direct
//! map, kernel image, vmalloc, vmemmap), written as QEMU writes
//! `dump-guest-memory` (one `PT_LOAD` by physical address, a VMCOREINFO
//! note, per-vCPU `QEMU` notes with CR3 and CR4), then checked by the same
//! command a user runs. Also truncated, foreign and mutated dumps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use vmlayout_reporter::check::{check, Input};
use vmlayout_reporter::docs::Docs;
use vmlayout_reporter::model::{Layout, Severity};

const MIB: u64 = 1 << 20;
const RAM: u64 = 64 * MIB;
const P: u64 = 1;
const RW: u64 = 1 << 1;
const PS: u64 = 1 << 7;
const G: u64 = 1 << 8;
const AD: u64 = 3 << 5;
const NX: u64 = 1 << 63;
/// A table entry: present, writable (the leaves decide).
const TABLE: u64 = P | RW | AD;

const DIRECT: u64 = 0xffff_8880_0000_0000;
const TEXT: u64 = 0xffff_ffff_8100_0000;
const VMALLOC: u64 = 0xffff_c900_0000_0000;
const VMEMMAP: u64 = 0xffff_ea00_0000_0000;

/// Physical memory, page-table pages allocated from 1 MiB up.
struct Memory {
    pages: BTreeMap<u64, [u64; 512]>,
    next: u64,
    top: u64,
}

fn index(va: u64, shift: u32) -> usize {
    ((va >> shift) & 511) as usize
}

impl Memory {
    fn new() -> Self {
        let mut m = Memory {
            pages: BTreeMap::new(),
            next: MIB,
            top: 0,
        };
        m.top = m.alloc();
        m
    }

    fn alloc(&mut self) -> u64 {
        let at = self.next;
        self.next += 4096;
        self.pages.insert(at, [0; 512]);
        at
    }

    /// The table below entry `i` of `table`, made if missing.
    fn below(&mut self, table: u64, i: usize) -> u64 {
        let e = self.pages[&table][i];
        if e != 0 {
            return e & 0x000f_ffff_ffff_f000;
        }
        let t = self.alloc();
        self.pages.get_mut(&table).unwrap()[i] = t | TABLE;
        t
    }

    /// Map `va` to `phys` with a 2 MiB leaf.
    fn map_2m(&mut self, va: u64, phys: u64, flags: u64) {
        let pud = self.below(self.top, index(va, 39));
        let pmd = self.below(pud, index(va, 30));
        self.pages.get_mut(&pmd).unwrap()[index(va, 21)] = phys | flags | P | PS | AD;
    }

    /// Map `va` to `phys` with a 4 KiB leaf.
    fn map_4k(&mut self, va: u64, phys: u64, flags: u64) {
        let pud = self.below(self.top, index(va, 39));
        let pmd = self.below(pud, index(va, 30));
        let pte = self.below(pmd, index(va, 21));
        self.pages.get_mut(&pte).unwrap()[index(va, 12)] = phys | flags | P | AD;
    }
}

/// A clean kernel's tables: the direct map of all 64 MiB (its alias of
/// the kernel image read-only), 12 MiB of image at 16 MiB (text, then
/// data), four vmalloc pages, a vmemmap page.
fn kernel() -> Memory {
    let mut m = Memory::new();
    for i in 0..RAM / (2 * MIB) {
        let phys = i * 2 * MIB;
        let alias_of_text = (16 * MIB..28 * MIB).contains(&phys);
        let flags = if alias_of_text { NX | G } else { RW | NX | G };
        m.map_2m(DIRECT + phys, phys, flags);
    }
    for i in 0..6 {
        m.map_2m(TEXT + i * 2 * MIB, 16 * MIB + i * 2 * MIB, G);
    }
    for i in 6..8 {
        m.map_2m(TEXT + i * 2 * MIB, 16 * MIB + i * 2 * MIB, RW | NX | G);
    }
    for i in 0..4 {
        m.map_4k(VMALLOC + i * 4096, 40 * MIB + i * 4096, RW | NX | G);
    }
    m.map_2m(VMEMMAP, 48 * MIB, RW | NX | G);
    m
}

fn note(out: &mut Vec<u8>, name: &str, kind: u32, desc: &[u8]) {
    let pad = |out: &mut Vec<u8>| out.resize(out.len().div_ceil(4) * 4, 0);
    out.extend_from_slice(&(name.len() as u32 + 1).to_le_bytes());
    out.extend_from_slice(&(desc.len() as u32).to_le_bytes());
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad(out);
    out.extend_from_slice(desc);
    pad(out);
}

/// QEMU's `QEMUCPUState` with only CR3 and CR4 set, in kernel mode; a
/// CR3 with bit 0 set stands for a vCPU in user mode (CS RPL 3) with that
/// CR3 less the bit.
fn qemu_cpu(cr3: u64, cr4: u64) -> Vec<u8> {
    let (cr3, user) = (cr3 & !1, cr3 & 1 == 1);
    let mut d = vec![0u8; 8 + 18 * 8 + 10 * 24 + 5 * 8 + 8];
    d[0..4].copy_from_slice(&1u32.to_le_bytes());
    let len = d.len() as u32;
    d[4..8].copy_from_slice(&len.to_le_bytes());
    let cr = 8 + 18 * 8 + 10 * 24;
    d[cr + 24..cr + 32].copy_from_slice(&cr3.to_le_bytes());
    d[cr + 32..cr + 40].copy_from_slice(&cr4.to_le_bytes());
    let cs = 8 + 18 * 8;
    d[cs] = if user { 0x33 } else { 0x10 };
    d
}

fn vmcoreinfo(top: u64) -> String {
    format!(
        "OSRELEASE=7.3.0\nPAGESIZE=4096\nSYMBOL(init_top_pgt)={:x}\nNUMBER(phys_base)=0\n\
         NUMBER(pgtable_l5_enabled)=0\nKERNELOFFSET=0\nNUMBER(KERNEL_IMAGE_SIZE)=1073741824\n\
         NUMBER(VMALLOC_START)=0x{VMALLOC:x}\nSYMBOL(vmemmap)={VMEMMAP:x}\nNUMBER(sme_mask)=0\n",
        0xffff_ffff_8000_0000u64 + top
    )
}

/// The dump's bytes: ELF header, a note and a load program header, the
/// notes, then memory (only the table pages are non-zero).
fn dump(m: &Memory, info: bool, cr3s: &[u64]) -> Vec<u8> {
    dump_with(m, info, cr3s, false)
}

/// [`dump`], or with `alias` laid out as kcore lays out memory: first a
/// segment of the kernel image's high mapping whose physical addresses
/// are the table pages' but whose bytes are zeros (kcore reads a page the
/// high mapping no longer maps as zeros), then RAM by its direct-map
/// addresses.
fn dump_with(m: &Memory, info: bool, cr3s: &[u64], alias: bool) -> Vec<u8> {
    let text = if info {
        vmcoreinfo(m.top)
    } else {
        String::new()
    };
    dump_notes(m, &text, cr3s, alias)
}

/// [`dump`] with `info` as its VMCOREINFO note.
fn dump_info(m: &Memory, info: &str, cr3s: &[u64]) -> Vec<u8> {
    dump_notes(m, info, cr3s, false)
}

fn dump_notes(m: &Memory, info: &str, cr3s: &[u64], alias: bool) -> Vec<u8> {
    let mut notes = Vec::new();
    if !info.is_empty() {
        note(&mut notes, "VMCOREINFO", 0, info.as_bytes());
    }
    for &cr3 in cr3s {
        note(&mut notes, "CORE", 1, &[0; 336]);
        note(&mut notes, "QEMU", 0, &qemu_cpu(cr3, 0x6f0));
    }
    let phnum: u16 = if alias { 3 } else { 2 };
    let headers = 64 + 56 * u64::from(phnum);
    let data = (headers + notes.len() as u64).div_ceil(4096) * 4096;
    let mut out = vec![0u8; 64];
    out[..4].copy_from_slice(b"\x7fELF");
    out[4] = 2;
    out[5] = 1;
    out[6] = 1;
    out[16..18].copy_from_slice(&4u16.to_le_bytes());
    out[18..20].copy_from_slice(&62u16.to_le_bytes());
    out[32..40].copy_from_slice(&64u64.to_le_bytes());
    out[52..54].copy_from_slice(&64u16.to_le_bytes());
    out[54..56].copy_from_slice(&56u16.to_le_bytes());
    out[56..58].copy_from_slice(&phnum.to_le_bytes());
    let phdr = |out: &mut Vec<u8>, kind: u32, off: u64, (vaddr, paddr): (u64, u64), size: u64| {
        for w in [
            u64::from(kind) | (4 << 32),
            off,
            vaddr,
            paddr,
            size,
            size,
            0,
        ] {
            out.extend_from_slice(&w.to_le_bytes());
        }
    };
    phdr(&mut out, 4, headers, (0, 0), notes.len() as u64);
    if alias {
        // Zeros: 8 MiB of the memory holds nothing.
        phdr(&mut out, 1, data + 8 * MIB, (TEXT, MIB), MIB);
        phdr(&mut out, 1, data, (DIRECT, 0), RAM);
    } else {
        phdr(&mut out, 1, data, (0, 0), RAM);
    }
    out.extend_from_slice(&notes);
    out.resize(data as usize, 0);
    let last = m.pages.keys().last().copied().unwrap_or(0) + 4096;
    out.resize((data + last) as usize, 0);
    for (&phys, page) in &m.pages {
        let at = (data + phys) as usize;
        for (i, e) in page.iter().enumerate() {
            out[at + 8 * i..at + 8 * i + 8].copy_from_slice(&e.to_le_bytes());
        }
    }
    out
}

/// `m` as makedumpfile's kdump-compressed format (header version 6): the
/// notes (a VMCOREINFO note, QEMU's per-vCPU ones), every page of
/// the 64 MiB existing, held as `level` leaves them (with bit 1,
/// pages of zeros are left out), table pages compressed as makedumpfile's
/// flag `codec` says (0: stored as they are), and all of them sharing one page of zeros
/// otherwise, as QEMU writes it. Page `left_out` is not held at all.
fn kdump(m: &Memory, cr3s: &[u64], level: u32, codec: u32, left_out: Option<u64>) -> Vec<u8> {
    let mut notes = Vec::new();
    note(&mut notes, "VMCOREINFO", 0, vmcoreinfo(m.top).as_bytes());
    for &cr3 in cr3s {
        note(&mut notes, "CORE", 1, &[0; 336]);
        note(&mut notes, "QEMU", 0, &qemu_cpu(cr3, 0x6f0));
    }
    let pages = RAM / 4096;
    let bitmap = (pages / 8).div_ceil(4096) * 4096;
    let (sub_blocks, bitmap_blocks) = (1u64, 2 * bitmap / 4096);
    let mut out = vec![0u8; 4096];
    out[..8].copy_from_slice(b"KDUMP   ");
    for (at, v) in [
        (8, 6u32),
        (428, 4096),
        (432, sub_blocks as u32),
        (436, bitmap_blocks as u32),
    ] {
        out[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    out[440..444].copy_from_slice(&(pages as u32).to_le_bytes());
    let mut sub = vec![0u8; 4096];
    let notes_at = 4096 * (1 + sub_blocks + bitmap_blocks) + pages * 24;
    for (at, v) in [
        (8, u64::from(level)),
        (48, notes_at),
        (56, notes.len() as u64),
        (96, pages),
    ] {
        sub[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&sub);
    let held = |pfn: u64| {
        left_out != Some(pfn * 4096) && (level & 1 == 0 || m.pages.contains_key(&(pfn * 4096)))
    };
    let mut bits = vec![0xffu8; bitmap as usize];
    out.extend_from_slice(&bits);
    bits.iter_mut().for_each(|b| *b = 0);
    (0..pages)
        .filter(|&p| held(p))
        .for_each(|p| bits[(p / 8) as usize] |= 1 << (p % 8));
    out.extend_from_slice(&bits);
    let mut data = notes.clone();
    let zero_at = notes_at + data.len() as u64;
    data.extend_from_slice(&[0; 4096]);
    for pfn in (0..pages).filter(|&p| held(p)) {
        let (offset, size, flags) = match m.pages.get(&(pfn * 4096)) {
            None => (zero_at, 4096u32, 0u32),
            Some(page) => {
                let bytes: Vec<u8> = page.iter().flat_map(|e| e.to_le_bytes()).collect();
                let bytes = compressed(&bytes, codec);
                let flags = if bytes.len() == 4096 { 0 } else { codec };
                let at = notes_at + data.len() as u64;
                data.extend_from_slice(&bytes);
                (at, bytes.len() as u32, flags)
            }
        };
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
    }
    out.resize(notes_at as usize, 0);
    out.extend_from_slice(&data);
    out
}

/// `page` compressed as makedumpfile's page flag `codec` says: 1 zlib,
/// 2 LZO1X, 4 snappy; 0 stored.
fn compressed(page: &[u8], codec: u32) -> Vec<u8> {
    use std::io::Write;
    match codec {
        0 => page.to_vec(),
        1 => {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
            z.write_all(page).unwrap();
            z.finish().unwrap()
        }
        2 => lzokay_native::compress(page).unwrap(),
        4 => snap::raw::Encoder::new().compress_vec(page).unwrap(),
        _ => unreachable!(),
    }
}

/// Write `bytes` as a dump of 64 MiB (the rest a hole) to a fresh file.
fn write(name: &str, bytes: &[u8], full: bool) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmlayout-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    if full {
        let data = bytes.len() as u64 - (bytes.len() as u64 % 4096);
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let end = data.max(4096) + RAM;
        f.set_len(end.max(bytes.len() as u64)).unwrap();
    }
    path
}

fn run(path: &Path) -> Result<Layout, String> {
    let docs = Docs::load()?;
    let snap = check(Input::Vmcore(path), &docs)?;
    // What `check` writes is what `report` reads back.
    let text = snap.to_text();
    let again =
        vmlayout_reporter::source::Snapshot::parse("again", &text).map_err(|e| e.to_string())?;
    Layout::from_snapshot(&again).map_err(|e| e.to_string())
}

fn bad(layout: &Layout) -> Vec<(String, String)> {
    layout
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .map(|f| (f.id.clone(), f.region.clone()))
        .collect()
}

#[test]
fn a_clean_dump_has_no_findings_and_shows_it_looked() {
    let m = kernel();
    let path = write("clean", &dump(&m, true, &[m.top, m.top]), true);
    let layout = run(&path).unwrap();
    assert_eq!(bad(&layout), vec![]);
    let wrong: Vec<_> = layout
        .regions
        .iter()
        .filter(|r| r.severity == Severity::Error)
        .collect();
    assert!(wrong.is_empty(), "{wrong:?}");
    let scope: BTreeMap<_, _> = layout.scope.iter().cloned().collect();
    assert_eq!(scope["cpus_checked"], "2");
    // A QEMU dump holds every memory block, not which is System RAM.
    assert_eq!(scope["ram_ranges"], "0");
    assert!(layout
        .tables
        .iter()
        .any(|t| t.contains("unchecked what=system-ram")));
    // 32 direct-map blocks coalesce to 3 ranges (around the read-only
    // alias of text), text and data, the vmalloc pages, vmemmap.
    assert_eq!(scope["ranges"], "7", "{:?}", layout.ranges.len());
    assert_eq!(layout.base("page_offset_base"), Some(DIRECT));
    assert_eq!(layout.base("vmalloc_base"), Some(VMALLOC));
    assert_eq!(layout.base("kernel_text"), Some(TEXT));
    assert!(layout
        .tables
        .iter()
        .any(|t| t.contains("origin source=vmcore")));
    assert!(layout
        .tables
        .iter()
        .any(|t| t.contains("unchecked what=mm-tables")));
}

#[test]
fn a_planted_wx_page_is_found_with_its_region() {
    let mut m = kernel();
    m.map_4k(VMALLOC + 5 * 4096, 41 * MIB, RW | G);
    let path = write("wx", &dump(&m, true, &[m.top]), true);
    let layout = run(&path).unwrap();
    let found = bad(&layout);
    assert!(
        found.contains(&("wx".into(), "vmalloc".into())),
        "{found:?}"
    );
    let wx = layout.findings.iter().find(|f| f.id == "wx").unwrap();
    assert_eq!((wx.start, wx.size), (VMALLOC + 5 * 4096, 4096));
}

/// The same kernel with the same plant, as a kdump-compressed file
/// (zlib, LZO, snappy or stored pages; pages of zeros left out or held): the same
/// summary, layout, map and findings as its ELF dump.
#[test]
fn a_kdump_compressed_dump_checks_as_its_elf_dump() {
    let mut m = kernel();
    m.map_4k(VMALLOC + 5 * 4096, 41 * MIB, RW | G);
    let docs = Docs::load().unwrap();
    let elf = write("kd-elf", &dump(&m, true, &[m.top, m.top]), true);
    let want = check(Input::Vmcore(&elf), &docs).unwrap();
    for (level, codec) in [(31, 1), (0, 1), (31, 0), (31, 2), (31, 4)] {
        let name = format!("kd-{level}-{codec}");
        let bytes = kdump(&m, &[m.top, m.top], level, codec, None);
        let path = write(&name, &bytes, false);
        let got = check(Input::Vmcore(&path), &docs).unwrap();
        for file in ["summary", "layout", "map", "findings"] {
            assert_eq!(
                want.file(file).unwrap().text,
                got.file(file).unwrap().text,
                "{name}: {file}"
            );
        }
    }
    // A table page not held: read as zeros where the dump level says
    // left-out pages are pages of zeros (its mappings are then gone);
    // otherwise it cannot be read, and the check says so.
    let last_table = *m.pages.keys().last().unwrap();
    let all = run(&write("kd-all", &kdump(&m, &[m.top], 31, 1, None), false)).unwrap();
    let bytes = kdump(&m, &[m.top], 31, 1, Some(last_table));
    let zeros = run(&write("kd-zeros", &bytes, false)).unwrap();
    assert!(!zeros.findings.iter().any(|f| f.id == "unreadable-table"));
    assert!(
        zeros.ranges.len() < all.ranges.len(),
        "its mappings are gone"
    );
    let bytes = kdump(&m, &[m.top], 0, 1, Some(last_table));
    let gone = run(&write("kd-gone", &bytes, false)).unwrap();
    assert!(
        gone.findings.iter().any(|f| f.id == "unreadable-table"),
        "{:?}",
        bad(&gone)
    );
}

#[test]
fn a_cpu_on_an_unsynced_table_is_reported() {
    let mut m = kernel();
    // CPU 1 runs on a copy of the reference that lacks the vmemmap slot.
    let copy = m.alloc();
    let mut table = m.pages[&m.top];
    table[index(VMEMMAP, 39)] = 0;
    m.pages.insert(copy, table);
    let path = write("unsynced", &dump(&m, true, &[m.top, copy]), true);
    let layout = run(&path).unwrap();
    let unsynced: Vec<_> = layout
        .findings
        .iter()
        .filter(|f| f.id == "unsynced-pgd")
        .collect();
    assert_eq!(unsynced.len(), 1);
    assert_eq!(unsynced[0].owner, "cpu 1");
}

#[test]
fn a_cr3_with_bit_12_names_the_table_whose_kernel_half_is_the_reference() {
    let mut m = kernel();
    // CPU 1, in user mode, on a copy of the reference at an odd page (bit
    // 12 set: an address bit, as without PTI); CPU 2, in user mode, on the
    // reference's PTI user copy (the reference + 4096, whose kernel table
    // is the reference). Neither privilege level nor bit 12 alone tells
    // the two apart; the tables' contents do.
    if m.next & 0x1000 == 0 {
        m.alloc();
    }
    let odd = m.alloc();
    assert_eq!(odd & 0x1000, 0x1000);
    let table = m.pages[&m.top];
    m.pages.insert(odd, table);
    assert_eq!(m.top & 0x1000, 0);
    let cpus = [m.top, odd | 1, (m.top + 0x1000) | 1];
    let path = write("bit12", &dump(&m, true, &cpus), true);
    let layout = run(&path).unwrap();
    assert_eq!(bad(&layout), vec![]);
    let scope: BTreeMap<_, _> = layout.scope.iter().cloned().collect();
    assert_eq!(scope["cpus_checked"], "3");
}

#[test]
fn without_vmcoreinfo_the_registers_and_tables_give_the_bases() {
    let m = kernel();
    let path = write("noinfo", &dump(&m, false, &[m.top]), true);
    let layout = run(&path).unwrap();
    assert_eq!(bad(&layout), vec![]);
    assert_eq!(layout.base("page_offset_base"), Some(DIRECT));
    assert_eq!(layout.base("vmemmap_base"), Some(VMEMMAP));
    let source = layout
        .bases
        .iter()
        .find(|b| b.name == "vmalloc_base")
        .unwrap();
    assert!(source.source.contains("inferred"), "{}", source.source);
}

/// Without VMCOREINFO, CPU 0 caught on a page that is no kernel's
/// top-level table (a lower-level table, which walked as a top level gives
/// gigabyte "leaves" of nonsense, as seen once in check-vm): the reference
/// is the first CPU whose table maps the kernel image, and CPU 0 is not
/// audited (said so); with no such CPU, an error, never findings from a
/// walk of nonsense.
#[test]
fn a_cpu_on_a_table_that_maps_no_kernel_image_is_not_the_reference() {
    let m = kernel();
    // A table page that is not the top one, bit 12 clear (with it set,
    // the page before would be taken for PTI's pair).
    let pud = *m
        .pages
        .keys()
        .find(|&&k| k != m.top && k & 0x1000 == 0)
        .unwrap();
    let path = write("cpu0-pud", &dump(&m, false, &[pud, m.top]), true);
    let layout = run(&path).unwrap();
    assert_eq!(layout.base("page_offset_base"), Some(DIRECT));
    assert_eq!(layout.base("kernel_text"), Some(TEXT));
    // Nothing from a walk of that page, nor an audit of it: it is said to
    // be unchecked.
    assert_eq!(bad(&layout), vec![]);
    assert!(
        layout
            .tables
            .iter()
            .any(|t| t.contains("unchecked what=cpu-tables")),
        "{:?}",
        layout.tables
    );
    let path = write("all-pud", &dump(&m, false, &[pud, pud]), true);
    let err = run(&path).unwrap_err();
    assert!(err.contains("maps the kernel image"), "{err}");
}

/// Without VMCOREINFO and PTI, bit 12 of a CR3 is an address bit: CPU 0
/// on a process's table at such an address, the page before it a full
/// table of present entries (what once made the fuller-half guess take the
/// wrong page). The CPUs' agreement picks the process's table, whose
/// kernel half is the kernel's: the right bases, no finding.
#[test]
fn the_page_before_a_cr3_with_bit_12_is_not_taken_for_its_table() {
    let mut m = kernel();
    if m.next & 0x1000 != 0 {
        m.alloc();
    }
    let full = m.alloc();
    let process = m.alloc();
    assert_eq!((full & 0x1000, process & 0x1000), (0, 0x1000));
    let top = m.pages[&m.top];
    // Full, and its last entry the kernel image's: walked as a top level,
    // it maps the image too.
    let mut leaves: [u64; 512] = core::array::from_fn(|i| ((i as u64) << 21) | P | RW | PS | AD);
    leaves[511] = top[511];
    m.pages.insert(full, leaves);
    m.pages.insert(process, top);
    let path = write("bit12-process", &dump(&m, false, &[process, m.top]), true);
    let layout = run(&path).unwrap();
    assert_eq!(bad(&layout), vec![]);
    assert_eq!(layout.base("page_offset_base"), Some(DIRECT));
    assert_eq!(layout.base("kernel_text"), Some(TEXT));
    let scope: BTreeMap<_, _> = layout.scope.iter().cloned().collect();
    assert_eq!(scope["cpus_checked"], "2");
}

#[test]
fn missing_ram_is_an_error_finding() {
    let mut m = kernel();
    let pud = m.below(m.top, index(DIRECT, 39));
    let pmd = m.below(pud, 0);
    m.pages.get_mut(&pmd).unwrap()[30] = 0;
    // As kdump writes it: no QEMU notes, its segments are System RAM.
    let path = write("ram", &dump(&m, true, &[]), true);
    let layout = run(&path).unwrap();
    let scope: BTreeMap<_, _> = layout.scope.iter().cloned().collect();
    assert_eq!(scope["ram_ranges"], "1");
    let missing = layout
        .findings
        .iter()
        .find(|f| f.id == "ram-missing")
        .unwrap();
    assert_eq!((missing.start, missing.size), (DIRECT + 60 * MIB, 2 * MIB));
}

#[test]
fn physical_reads_prefer_the_direct_map_to_the_image_alias() {
    let m = kernel();
    let path = write("alias", &dump_with(&m, true, &[m.top], true), true);
    let layout = run(&path).unwrap();
    assert_eq!(bad(&layout), vec![]);
    // page_offset_base from the RAM segment's addresses, not the tables.
    let base = layout
        .bases
        .iter()
        .find(|b| b.name == "page_offset_base")
        .unwrap();
    assert_eq!(base.value, DIRECT);
    assert!(base.source.contains("segments"), "{}", base.source);
}

#[test]
fn foreign_and_truncated_files_are_clear_errors() {
    let m = kernel();
    let good = dump(&m, true, &[m.top]);
    let short = [b"KDUMP   ".as_slice(), &[0; 100]].concat();
    assert!(run(&write("kdump", &short, false))
        .unwrap_err()
        .contains("truncated"));
    let flat = [b"makedumpfile".as_slice(), &[0; 4096]].concat();
    let flat = run(&write("flat", &flat, false)).unwrap_err();
    assert!(flat.contains("makedumpfile -R"), "{flat}");
    let good_kdump = kdump(&m, &[m.top], 31, 1, None);
    let mut block = good_kdump.clone();
    block[429] = 0x20;
    let block = run(&write("kdump-block", &block, false)).unwrap_err();
    assert!(block.contains("block size"), "{block}");
    let cut = run(&write("kdump-cut", &good_kdump[..3 * 4096], false)).unwrap_err();
    assert!(cut.contains("truncated"), "{cut}");
    let not_elf = write("text", b"hello, not a dump\n", false);
    assert!(run(&not_elf).unwrap_err().contains("not an ELF"));
    let mut exec = good.clone();
    exec[16] = 2;
    let exec = write("exec", &exec, false);
    assert!(run(&exec).unwrap_err().contains("not a core file"));
    // Cut inside the notes, then inside the tables.
    let cut = write("cut-notes", &good[..200], false);
    assert!(run(&cut).unwrap_err().contains("truncated"));
    // Tables past the end: not read, and said so.
    let cut = write("cut-tables", &good[..good.len() - 8192], false);
    let layout = run(&cut).unwrap();
    // Noted once: what the walk noted is reported once, after the audits.
    let unreadable = bad(&layout)
        .iter()
        .filter(|(id, _)| id == "unreadable-table")
        .count();
    assert_eq!(unreadable, 1);
}

#[test]
fn a_table_loop_is_walked_once_per_level_not_forever() {
    let mut m = kernel();
    // A PUD entry pointing back at the top-level table.
    let pud = m.below(m.top, index(VMALLOC, 39));
    let top = m.top;
    m.pages.get_mut(&pud).unwrap()[7] = top | TABLE;
    let path = write("loop", &dump(&m, true, &[m.top]), true);
    let layout = run(&path).unwrap();
    assert!(!layout.ranges.is_empty());
}

#[test]
fn tables_that_fan_out_to_one_table_end_with_an_error_or_a_result() {
    let mut m = kernel();
    // Every entry of one vmalloc PTE table maps a page, every entry of its
    // PMD table points at it, every entry of its PUD table at that PMD
    // table, and every kernel-half top-level entry at that PUD table:
    // 256 * 512^3 leaves, unless the walk stops.
    let pud = m.below(m.top, index(VMALLOC, 39));
    let pmd = m.below(pud, 0);
    let pte = m.below(pmd, 0);
    for i in 0..512 {
        m.pages.get_mut(&pte).unwrap()[i] = (40 * MIB + i as u64 * 4096) | RW | NX | P | AD;
        m.pages.get_mut(&pmd).unwrap()[i] = pte | TABLE;
        m.pages.get_mut(&pud).unwrap()[i] = pmd | TABLE;
    }
    for i in 256..512 {
        m.pages.get_mut(&m.top.clone()).unwrap()[i] = pud | TABLE;
    }
    let path = write("fanout", &dump(&m, true, &[m.top]), true);
    match run(&path) {
        Ok(layout) => assert!(!layout.ranges.is_empty()),
        Err(e) => assert!(e.contains("not a kernel's tables"), "{e}"),
    }
}

#[test]
fn notes_past_their_limit_are_an_error() {
    let m = kernel();
    let mut bytes = dump(&m, true, &[m.top]);
    // The note program header claims 65 MiB of notes.
    let at = 64 + 32;
    bytes[at..at + 8].copy_from_slice(&(65u64 << 20).to_le_bytes());
    let path = write("notes", &bytes, true);
    let e = run(&path).unwrap_err();
    assert!(
        e.contains("bytes of notes") || e.contains("truncated"),
        "{e}"
    );
}

#[test]
fn each_release_is_judged_against_its_own_documented_map() {
    use vmlayout_core::map::Paging;
    let docs = Docs::load().unwrap();
    let name = |release| docs.for_release(Paging::Four, release).unwrap().name;
    assert_eq!(name(Some("7.3.4+deb13-amd64")), "mm.rst-4level");
    assert_eq!(name(Some("6.12.117+deb13-amd64")), "mm.rst-6.12-4level");
    assert_eq!(name(Some("4.9.0")), "mm.txt-4.x-4level");
    assert_eq!(name(None), "mm.rst-4level");
    let five = docs.for_release(Paging::Five, Some("6.12.1")).unwrap();
    assert_eq!(five.name, "mm.rst-6.12-5level");
}

/// A capture of a real dump (testdata/captures/), unpacked for test `test`:
/// gzip (`.gz`) or packed (`.d64.gz`, `vmlayout_reporter::pack`).
fn capture(name: &str, test: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/captures")
        .join(name);
    let bytes = vmlayout_reporter::pack::read_capture(&path).unwrap();
    let stem = name.trim_end_matches(".gz").trim_end_matches(".d64");
    write(&format!("{test}-{stem}"), &bytes, false)
}

/// Packing (`vmlayout pack`) loses nothing, whatever the bytes and their
/// length; and packs page tables far smaller than gzip alone.
#[test]
fn packed_captures_unpack_to_what_was_packed() {
    use vmlayout_reporter::pack::{pack, unpack};
    let mut runner = proptest::test_runner::TestRunner::default();
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..200), |bytes| {
            prop_assert_eq!(unpack(&pack(&bytes)).unwrap(), bytes);
            Ok(())
        })
        .unwrap();
    // A direct-map PTE table: each entry the next frame.
    let table: Vec<u8> = (0..512u64)
        .flat_map(|i| ((0x1234_5000 + i * 4096) | 0x8000_0000_0000_0163).to_le_bytes())
        .collect();
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&table).unwrap();
        e.finish().unwrap()
    };
    assert!(
        pack(&table).len() * 10 < gz.len(),
        "{} {}",
        pack(&table).len(),
        gz.len()
    );
    assert!(unpack(b"not gzip").is_err());
}

#[test]
fn real_captures_check_as_their_dumps_did() {
    for (name, levels, ranges, wx) in [
        ("p5-wx.elf.gz", 5, "100", 0xff5e_cd9f_8001_5000u64),
        ("p4-wx.elf.gz", 4, "99", 0xffff_adab_c001_5000),
    ] {
        let layout = run(&capture(name, "real")).unwrap();
        assert_eq!(layout.levels, levels, "{name}");
        let scope: BTreeMap<_, _> = layout.scope.iter().cloned().collect();
        assert_eq!(scope["ranges"], ranges, "{name}");
        assert_eq!(scope["cpus_checked"], "2", "{name}");
        let mut found = bad(&layout);
        found.sort();
        let plant = vec![
            ("exec-data".to_string(), "vmalloc".to_string()),
            ("wx".into(), "vmalloc".into()),
        ];
        assert_eq!(found, plant, "{name}");
        assert!(
            layout
                .findings
                .iter()
                .any(|f| f.id == "wx" && f.start == wx),
            "{name}"
        );
        no_region_in_error(&layout, name);
    }
}

/// The whole pipeline on a real 16 GiB `debug_pagealloc` capture: every
/// table page read, the layout judged, and nothing but the trampoline's
/// info finding.
#[test]
fn a_16g_debug_pagealloc_capture_checks_clean() {
    let layout = run(&capture("p5-16g-dpa.elf.d64.gz", "big")).unwrap();
    assert_eq!(layout.levels, 5);
    let scope: BTreeMap<_, _> = layout.scope.iter().cloned().collect();
    assert_eq!(scope["ranges"], "4124");
    assert_eq!(scope["cpus_checked"], "2");
    assert_eq!(bad(&layout), Vec::<(String, String)>::new());
    assert!(
        layout.findings.iter().any(|f| f.id == "exec-data"),
        "it looked"
    );
    no_region_in_error(&layout, "p5-16g-dpa");
}

/// The whole pipeline on a real 256 GiB `debug_pagealloc` guest's tables,
/// captured by the module itself (its `tables` file, in
/// tools/vmlayout/guest/big.sh): every one of some 131,000 table pages
/// read, the layout judged from the module's VMCOREINFO note, and nothing
/// but info findings (the trampoline, the direct map's cleared pages).
#[test]
fn a_256g_debug_pagealloc_capture_from_the_module_checks_clean() {
    let layout = run(&capture("p5-256g-dpa.elf.d64.gz", "huge")).unwrap();
    assert_eq!(layout.levels, 5);
    let scope: BTreeMap<_, _> = layout.scope.iter().cloned().collect();
    assert_eq!(scope["ranges"], "175");
    assert_eq!(scope["cpus_checked"], "0", "no CPU register in it");
    let walk: BTreeMap<_, _> = layout.walk.iter().cloned().collect();
    assert_eq!(walk["table_pages"], "131441");
    assert_eq!(bad(&layout), Vec::<(String, String)>::new());
    assert!(
        layout.findings.iter().any(|f| f.id == "exec-data"),
        "it looked"
    );
    no_region_in_error(&layout, "p5-256g-dpa");
}

/// A real dump of the defconfig kernel booted through UEFI with pti=on
/// (4-level, no VMCOREINFO, a W+X plant): PTI is told from the CPUs' TSS
/// (TR in QEMU's notes) mapped in the table after the reference, and that
/// user-mode table is walked and held to PTI's rules, its per-CPU TSS pages
/// told from a leak by their frames. Only the plant is reported.
#[test]
fn a_pti_dump_has_its_user_table_checked() {
    let docs = Docs::load().unwrap();
    let path = capture("p4-efi-pti.elf.gz", "pti");
    let snap = check(Input::Vmcore(&path), &docs).unwrap();
    let summary = &snap.file("summary").unwrap().text;
    assert!(summary.contains("\npti enabled=1 "), "{summary}");
    assert!(!summary.contains("what=user-tables"), "{summary}");
    let layout = run(&path).unwrap();
    assert_eq!(layout.levels, 4);
    let scope: BTreeMap<_, _> = layout.scope.iter().cloned().collect();
    assert_eq!(scope["other_tables"], "1");
    let user: Vec<_> = layout.ranges.iter().filter(|r| r.table == "user").collect();
    // The entry area, the entry text and each CPU's TSS page, looked at.
    assert!(user.len() >= 4, "{user:?}");
    let mut found = bad(&layout);
    found.sort();
    let plant = vec![
        ("exec-data".to_string(), "vmalloc".to_string()),
        ("wx".into(), "vmalloc".into()),
    ];
    assert_eq!(found, plant);
    assert!(layout
        .findings
        .iter()
        .any(|f| f.id == "wx" && f.start == 0xffff_9778_8005_1000));
}

/// The dump reader's fuzz corpus (`testdata/fuzz/dumps.txt`, made by
/// `examples/fuzz_dumps.rs` from mutations of the real captures): each
/// input still reaches the outcome it was kept for, without a panic.
#[test]
fn the_fuzz_corpus_reaches_its_outcomes() {
    use vmlayout_reporter::corpus::{apply, outcome, Entry};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    let text = std::fs::read_to_string(dir.join("fuzz/dumps.txt")).unwrap();
    let docs = Docs::load().unwrap();
    let mut bases = BTreeMap::new();
    let mut outcomes = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let entry = Entry::parse(line).unwrap();
        assert_eq!(entry.line(), line);
        let base = bases.entry(entry.base.clone()).or_insert_with(|| {
            vmlayout_reporter::pack::read_capture(&dir.join("captures").join(&entry.base)).unwrap()
        });
        let path = write("corpus", &apply(base, &entry.edits), false);
        assert_eq!(outcome(&path, &docs), entry.outcome, "{line}");
        outcomes.push(entry.outcome);
    }
    // It covers errors and results, both clean and with findings.
    assert!(outcomes.iter().filter(|o| o.starts_with("error: ")).count() >= 10);
    assert!(outcomes.iter().any(|o| o == "result: clean"));
    assert!(outcomes.iter().any(|o| o == "result: findings"));
}

/// A writer of bytes onto `out`.
fn append(out: &mut Vec<u8>) -> impl FnMut(&[u8]) -> Result<(), ()> + '_ {
    move |b| {
        out.extend_from_slice(b);
        Ok(())
    }
}

/// A capture made the module's way (its `tables` file, `rust/tables.rs`)
/// from a real dump: the pages a walk of the reference reads
/// (`capture::tables_of`), a VMCOREINFO note written from the live bases
/// (`capture::write_vmcoreinfo`) in place of the dump's notes, System RAM
/// as segments (`capture::write_head`). It checks as the dump did: the same
/// bases, ranges and findings, from no CPU register.
#[test]
fn a_capture_made_the_modules_way_checks_as_its_dump_did() {
    use vmlayout_core::capture;
    use vmlayout_core::walk::{TableSource, Top};
    use vmlayout_reporter::check::judge;
    use vmlayout_reporter::elf::{Core, PhysTables};
    let docs = Docs::load().unwrap();
    for name in ["p5-wx.elf.gz", "p4-wx.elf.gz"] {
        let dump = capture(name, "module");
        let judged = judge(Input::Vmcore(&dump), &docs).unwrap();
        let core = Core::open(&dump).unwrap();
        let mut src = PhysTables::new(&core);
        let (mut top, mut scratch) = (Box::new([0u64; 512]), Box::new([[0u64; 512]; 4]));
        assert!(src.copy_table(judged.reference, &mut top));
        let mut pages = Vec::new();
        let half = Top::kernel_half(judged.reference, &top);
        capture::tables_of(&judged.walk, half, &mut src, &mut scratch, |p| {
            pages.push(p)
        });
        pages.sort_unstable();
        pages.dedup();
        let mut info = String::new();
        let facts = (judged.reference, 0);
        capture::write_vmcoreinfo(&mut info, &judged.live, facts, "7.3.4").unwrap();
        let mut notes = Vec::new();
        let mut elf = Vec::new();
        let note = ("VMCOREINFO", 0, info.as_bytes());
        capture::write_note::<()>(note, &mut append(&mut notes)).unwrap();
        let memory = judged.ram.iter().map(|&(first, last)| (first, last + 1));
        let layout =
            capture::write_head::<()>(memory, &pages, &notes, &mut append(&mut elf)).unwrap();
        assert_eq!(elf.len() as u64, layout.data, "{name}");
        let mut page = [0u8; 4096];
        for &p in &pages {
            assert!(core.read_phys(p, &mut page), "{name}: {p:#x}");
            elf.extend_from_slice(&page);
        }
        let path = write(&format!("module-{name}.elf"), &elf, false);
        let (a, b) = (run(&dump).unwrap(), run(&path).unwrap());
        assert_eq!(b.levels, a.levels, "{name}");
        // But the end of RAM: QEMU's segments are every memory block of
        // the machine, the capture's System RAM only.
        let values = |l: &Layout| {
            let bases = l.bases.iter().filter(|b| b.name != "ram_end");
            bases.map(|b| (b.name.clone(), b.value)).collect::<Vec<_>>()
        };
        assert_eq!(values(&b), values(&a), "{name}");
        assert!(b.ranges.len() > 20, "{name}: it looked");
        assert_eq!(b.ranges, a.ranges, "{name}");
        assert_eq!(bad(&b), bad(&a), "{name}");
        let scope: BTreeMap<_, _> = b.scope.iter().cloned().collect();
        assert_eq!(scope["cpus_checked"], "0", "{name}: no CPU register in it");
    }
}

/// A capture of scattered pages (a big machine's tables) has more runs
/// than `e_phnum` holds: the count goes in section header 0 (`PN_XNUM`),
/// and the reader finds every page by its address.
#[test]
fn a_capture_past_pn_xnum_reads_back() {
    use vmlayout_core::capture;
    use vmlayout_reporter::elf::Core;
    let pages: Vec<u64> = (0..40_000u64).map(|i| (2 * i + 1) * 4096).collect();
    let memory = [(0u64, 80_002 * 4096)];
    let mut elf = Vec::new();
    let layout =
        capture::write_head::<()>(memory.into_iter(), &pages, &[], &mut append(&mut elf)).unwrap();
    assert!(layout.shoff.is_some(), "{layout:?}");
    for &p in &pages {
        let mut page = [0u8; 4096];
        page[..8].copy_from_slice(&p.to_le_bytes());
        elf.extend_from_slice(&page);
    }
    let path = write("xnum.elf", &elf, false);
    let core = Core::open(&path).unwrap();
    assert_eq!(core.segments.len() as u64, layout.phnum - 1);
    let mut word = [0u8; 8];
    for &p in pages.iter().step_by(997) {
        assert!(core.read_phys(p, &mut word));
        assert_eq!(u64::from_le_bytes(word), p);
        assert!(core.read_phys(p + 4096, &mut word), "RAM between");
        assert_eq!(word, [0; 8]);
    }
}

/// No region's verdict is an error.
fn no_region_in_error(layout: &Layout, name: &str) {
    let wrong: Vec<_> = layout
        .regions
        .iter()
        .filter(|r| r.severity == Severity::Error)
        .collect();
    assert!(wrong.is_empty(), "{name}: {wrong:?}");
}

#[test]
fn a_capture_of_a_capture_checks_the_same() {
    let docs = Docs::load().unwrap();
    let first = capture("p5-wx.elf.gz", "again");
    let again = first.with_extension("again");
    let a = vmlayout_reporter::check::check_and_capture(Input::Vmcore(&first), &docs, Some(&again))
        .unwrap();
    let b = check(Input::Vmcore(&again), &docs).unwrap();
    for file in ["summary", "layout", "map", "findings"] {
        assert_eq!(
            a.file(file).unwrap().text,
            b.file(file).unwrap().text,
            "{file}"
        );
    }
    assert!(std::fs::metadata(&again).unwrap().len() <= std::fs::metadata(&first).unwrap().len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any bytes of a real dump's headers, notes and tables changed: an
    /// error or a result, never a panic or a hang.
    #[test]
    fn mutated_dumps_never_panic(
        edits in proptest::collection::vec((0usize..40_000, any::<u8>()), 1..16)
    ) {
        let m = kernel();
        let mut bytes = dump(&m, true, &[m.top]);
        let len = bytes.len();
        for (at, b) in edits {
            bytes[at % len] = b;
        }
        let path = write("mutated", &bytes, true);
        let _ = run(&path);
    }

    /// The same for a kdump-compressed file: its header, sub-header,
    /// bitmaps and descriptors (the first 48 KB), or its notes and
    /// compressed pages (from 400 KiB on) changed, pages in each codec.
    #[test]
    fn mutated_kdumps_never_panic(
        edits in proptest::collection::vec(
            (prop_oneof![0usize..48_000, 409_600usize..430_000], any::<u8>()),
            1..16,
        ),
        codec in prop_oneof![Just(1u32), Just(2), Just(4)],
    ) {
        let m = kernel();
        let mut bytes = kdump(&m, &[m.top], 31, codec, None);
        let len = bytes.len();
        for (at, b) in edits {
            bytes[at % len] = b;
        }
        let path = write("mutated-kdump", &bytes, false);
        let _ = run(&path);
    }

    /// Any value in the VMCOREINFO note (a corrupted dump's): an error or
    /// a result, never a panic.
    #[test]
    fn hostile_vmcoreinfo_never_panics(
        key in 0usize..8,
        value in prop_oneof![any::<u64>(), Just(u64::MAX), Just(0u64), Just(1u64 << 63)],
        cpu_cr3 in prop_oneof![any::<u64>(), Just(MIB)],
    ) {
        let m = kernel();
        let keys = [
            "SYMBOL(init_top_pgt)", "NUMBER(phys_base)", "NUMBER(pgtable_l5_enabled)",
            "KERNELOFFSET", "NUMBER(KERNEL_IMAGE_SIZE)", "NUMBER(VMALLOC_START)",
            "SYMBOL(vmemmap)", "NUMBER(sme_mask)",
        ];
        let info = vmcoreinfo(m.top)
            .lines()
            .map(|l| if l.starts_with(keys[key]) { format!("{}={value:x}", keys[key]) } else { l.to_string() })
            .collect::<Vec<_>>()
            .join("\n");
        let bytes = dump_info(&m, &info, &[cpu_cr3]);
        let path = write("hostile", &bytes, true);
        let _ = run(&path);
    }
}
