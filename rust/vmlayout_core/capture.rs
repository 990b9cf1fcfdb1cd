// SPDX-License-Identifier: GPL-2.0

//! Captures: the page-table pages a walk reads, with their physical
//! addresses, as an ELF core file of their own, which `vmlayout check
//! --vmcore` reads as it reads a crash dump. The module writes one
//! (debugfs `tables`) and so does `vmlayout check --capture` (from a dump
//! or `/proc/kcore`); the host tests and benchmarks run the whole pipeline
//! on them (`tools/vmlayout/testdata/captures/`).
//!
//! The file: the ELF header; one `PT_NOTE` (the dump's notes, or the
//! module's VMCOREINFO, [`write_vmcoreinfo`]); then a `PT_LOAD` per run
//! of memory ([`for_each_run`]): System RAM cut at the captured pages,
//! those with their bytes, the rest without (it reads as zeros), so that
//! the file still tells which memory is System RAM. Past 65,534 program
//! headers (a big machine's scattered tables) the count goes in section
//! header 0 (`PN_XNUM`), as the kernel's own core files do.

use core::fmt::{self, Write};

use super::layout::{Live, START_KERNEL_MAP};
use super::map::Paging;
use super::pte::{Effective, Level, Table};
use super::walk::{TableSource, Top, WalkSink};

/// A run of captured memory: start, length, and whether the capture holds
/// its bytes.
pub type Run = (u64, u64, bool);

/// `e_type` of a core file.
pub const ET_CORE: u16 = 4;
/// `e_machine` of x86-64.
pub const EM_X86_64: u16 = 62;
/// `PT_LOAD`.
pub const PT_LOAD: u32 = 1;
/// `PT_NOTE`.
pub const PT_NOTE: u32 = 4;
/// `e_phnum` when the count is in section header 0's `sh_info`.
pub const PN_XNUM: u16 = 0xffff;
/// Bytes of the ELF header.
pub const EHDR_SIZE: u64 = 64;
/// Bytes of a program header.
pub const PHDR_SIZE: u64 = 56;
/// Bytes of a section header.
pub const SHDR_SIZE: u64 = 64;

/// The runs of a capture of `pages` (page-aligned, sorted, each once) out
/// of `memory` (physical `[start, end)` ranges, page-aligned, sorted, not
/// overlapping), in address order, adjacent runs of one kind merged: each
/// memory range cut at the pages inside it, and the pages outside every
/// range. Every page is in exactly one run with data, in address order.
pub fn for_each_run(
    memory: impl Iterator<Item = (u64, u64)>,
    pages: impl Iterator<Item = u64>,
    mut emit: impl FnMut(Run),
) {
    let mut last: Option<Run> = None;
    let mut push = |start: u64, len: u64, data: bool| match &mut last {
        Some((s, l, d)) if *d == data && *s + *l == start => *l += len,
        _ if len == 0 => {}
        _ => {
            if let Some(run) = last.replace((start, len, data)) {
                emit(run);
            }
        }
    };
    let mut pages = pages.peekable();
    for (start, end) in memory {
        let mut at = start;
        while let Some(p) = pages.next_if(|&p| p < end) {
            if p < at {
                // Below the range: in the gap before it, no System RAM.
                push(p, 4096, true);
                continue;
            }
            push(at, p - at, false);
            push(p, 4096, true);
            at = p + 4096;
        }
        push(at, end.saturating_sub(at), false);
    }
    for p in pages {
        push(p, 4096, true);
    }
    if let Some(run) = last {
        emit(run);
    }
}

/// Where a capture of `runs` program headers (`PT_NOTE` included) and
/// `notes` bytes of notes puts things: the section header (`PN_XNUM`
/// only), the notes, and the first captured page (page-aligned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Program headers, the note's included.
    pub phnum: u64,
    /// Offset of section header 0, when there is one.
    pub shoff: Option<u64>,
    /// Offset of the notes.
    pub notes: u64,
    /// Offset of the first captured page.
    pub data: u64,
}

impl Layout {
    /// The layout for `loads` `PT_LOAD` headers and `notes` note bytes.
    pub const fn new(loads: u64, notes: u64) -> Layout {
        let phnum = loads + 1;
        let phdrs_end = EHDR_SIZE + PHDR_SIZE * phnum;
        let xnum = phnum >= PN_XNUM as u64;
        let shoff = if xnum { Some(phdrs_end) } else { None };
        let notes_at = if xnum {
            phdrs_end + SHDR_SIZE
        } else {
            phdrs_end
        };
        Layout {
            phnum,
            shoff,
            notes: notes_at,
            data: (notes_at + notes).div_ceil(4096) * 4096,
        }
    }

    /// The ELF header (x86-64, little-endian, `ET_CORE`).
    pub fn elf_header(&self) -> [u8; EHDR_SIZE as usize] {
        let mut elf = [0u8; EHDR_SIZE as usize];
        elf[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
        elf[16..18].copy_from_slice(&ET_CORE.to_le_bytes());
        elf[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        elf[20..24].copy_from_slice(&1u32.to_le_bytes());
        elf[32..40].copy_from_slice(&EHDR_SIZE.to_le_bytes());
        elf[52..54].copy_from_slice(&(EHDR_SIZE as u16).to_le_bytes());
        elf[54..56].copy_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
        let phnum = if self.phnum >= u64::from(PN_XNUM) {
            PN_XNUM
        } else {
            self.phnum as u16
        };
        elf[56..58].copy_from_slice(&phnum.to_le_bytes());
        if let Some(shoff) = self.shoff {
            elf[40..48].copy_from_slice(&shoff.to_le_bytes());
            elf[58..60].copy_from_slice(&(SHDR_SIZE as u16).to_le_bytes());
            elf[60..62].copy_from_slice(&1u16.to_le_bytes());
        }
        elf
    }

    /// Section header 0, which holds the program header count past
    /// `PN_XNUM` (`sh_info`).
    pub fn section_header(&self) -> [u8; SHDR_SIZE as usize] {
        let mut sh = [0u8; SHDR_SIZE as usize];
        let phnum = u32::try_from(self.phnum).unwrap_or(u32::MAX);
        sh[44..48].copy_from_slice(&phnum.to_le_bytes());
        sh
    }
}

/// A program header: `kind` at physical `paddr`, its bytes at `offset`.
pub fn program_header(
    kind: u32,
    (offset, paddr): (u64, u64),
    (filesz, memsz): (u64, u64),
) -> [u8; PHDR_SIZE as usize] {
    let words = [
        u64::from(kind) | (4 << 32),
        offset,
        0,
        paddr,
        filesz,
        memsz,
        4096,
    ];
    let mut out = [0u8; PHDR_SIZE as usize];
    for (chunk, w) in out.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// A note named `name` of type `kind` with descriptor `desc`, to `out`:
/// its header, the name NUL-terminated, the descriptor, each padded to 4
/// bytes.
pub fn write_note<E>(
    (name, kind, desc): (&str, u32, &[u8]),
    out: &mut impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let mut header = [0u8; 12];
    header[..4].copy_from_slice(&(name.len() as u32 + 1).to_le_bytes());
    header[4..8].copy_from_slice(&(desc.len() as u32).to_le_bytes());
    header[8..].copy_from_slice(&kind.to_le_bytes());
    let zeros = [0u8; 4];
    out(&header)?;
    out(name.as_bytes())?;
    // The NUL, then the padding.
    out(&zeros[..(name.len() + 1).next_multiple_of(4) - name.len()])?;
    out(desc)?;
    out(&zeros[..desc.len().next_multiple_of(4) - desc.len()])
}

/// The bytes of a capture before its first page, to `out`: the ELF
/// header, the program headers (`notes`' segment, then the runs of
/// `pages` out of `memory`, [`for_each_run`]), section header 0 past
/// `PN_XNUM`, `notes` (a note segment's bytes, [`write_note`]) and the
/// padding to the first page; and where things are. The pages' bytes
/// follow in address order, one page per captured page.
pub fn write_head<E>(
    memory: impl Iterator<Item = (u64, u64)> + Clone,
    pages: &[u64],
    notes: &[u8],
    out: &mut impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<Layout, E> {
    let mut loads = 0;
    for_each_run(memory.clone(), pages.iter().copied(), |_| loads += 1);
    let layout = Layout::new(loads, notes.len() as u64);
    out(&layout.elf_header())?;
    let size = notes.len() as u64;
    out(&program_header(PT_NOTE, (layout.notes, 0), (size, size)))?;
    let (mut offset, mut result) = (layout.data, Ok(()));
    for_each_run(memory, pages.iter().copied(), |(start, len, data)| {
        let filesz = if data { len } else { 0 };
        let header = program_header(PT_LOAD, (offset, start), (filesz, len));
        offset += filesz;
        if result.is_ok() {
            result = out(&header);
        }
    });
    result?;
    if layout.shoff.is_some() {
        out(&layout.section_header())?;
    }
    out(notes)?;
    let mut at = layout.notes + size;
    while at < layout.data {
        let n = (layout.data - at).min(64);
        out(&[0u8; 64][..n as usize])?;
        at += n;
    }
    Ok(layout)
}

/// What a VMCOREINFO note of a live kernel says: the keys a crash dump's
/// has (`arch_crash_save_vmcoreinfo()`, `crash_save_vmcoreinfo_init()`)
/// that a check reads, from the live bases and the reference table's
/// physical address `reference`.
pub fn write_vmcoreinfo(
    out: &mut impl Write,
    live: &Live,
    (reference, sme_mask): (u64, u64),
    release: &str,
) -> fmt::Result {
    let l5 = u8::from(live.paging == Paging::Five);
    let top = reference
        .wrapping_sub(live.phys_base)
        .wrapping_add(START_KERNEL_MAP);
    writeln!(out, "OSRELEASE={release}")?;
    writeln!(out, "PAGESIZE=4096")?;
    writeln!(out, "NUMBER(phys_base)={}", live.phys_base as i64)?;
    writeln!(out, "SYMBOL(init_top_pgt)={top:x}")?;
    writeln!(out, "NUMBER(pgtable_l5_enabled)={l5}")?;
    writeln!(out, "KERNELOFFSET={:x}", live.text_slide())?;
    writeln!(out, "NUMBER(KERNEL_IMAGE_SIZE)={}", live.kernel_image_size)?;
    writeln!(out, "NUMBER(sme_mask)={sme_mask}")?;
    writeln!(out, "NUMBER(VMALLOC_START)={:x}", live.vmalloc_base)?;
    writeln!(out, "SYMBOL(vmemmap)={:x}", live.vmemmap_base)
}

/// A table source that tells `saw` the physical address of every table
/// page it reads (a page read whole or in place; not the single entries
/// the walk reads again).
pub struct Recording<'s, S, F> {
    /// Where the pages are read.
    pub src: &'s mut S,
    /// Told each page read.
    pub saw: F,
}

impl<S: TableSource, F: FnMut(u64)> TableSource for Recording<'_, S, F> {
    type Reader = S::Reader;

    fn copy_table(&mut self, phys: u64, out: &mut Table) -> bool {
        (self.saw)(phys);
        self.src.copy_table(phys, out)
    }

    fn read_entry(&mut self, table: u64, index: usize) -> Option<u64> {
        self.src.read_entry(table, index)
    }

    fn read_table(&mut self, phys: u64) -> Option<S::Reader> {
        (self.saw)(phys);
        self.src.read_table(phys)
    }
}

/// A walk sink that keeps nothing: for a walk run only for the tables it
/// reads ([`Recording`]).
pub struct Nothing;

impl WalkSink for Nothing {
    fn leaf(&mut self, _: u64, _: Level, _: u64, _: u64, _: Effective) {}
    fn table(&mut self, _: Level) {}
    fn shared(&mut self, _: Level, _: u64) {}
    fn unreadable(&mut self, _: u64, _: Level, _: u64) {}
    fn changed(&mut self, _: u64, _: Level) {}
    fn cleared(&mut self, _: u64, _: Level, _: u64) {}
}

/// The table pages a walk of `top` reads, each told to `saw` (in walk
/// order; a shared table once per read): what a capture of the walk
/// holds, with `top.phys` itself.
pub fn tables_of(
    walk: &super::walk::Walk,
    top: Top<'_>,
    src: &mut impl TableSource,
    scratch: &mut super::walk::Scratch,
    mut saw: impl FnMut(u64),
) {
    saw(top.phys);
    let mut recording = Recording { src, saw };
    walk.walk_top(top, &mut recording, scratch, &mut Nothing);
}
