// SPDX-License-Identifier: GPL-2.0

//! The core files `vmlayout check` reads: `/proc/kcore`, kdump's
//! `/proc/vmcore` and QEMU's `dump-guest-memory` (ELF), and makedumpfile's
//! kdump-compressed files ([`crate::kdump`]). Only what a check needs: the
//! memory (ELF's `PT_LOAD` segments, by physical and by virtual address)
//! and the notes (VMCOREINFO, QEMU's per-vCPU registers).
//!
//! Every read is bounded by the file's own headers, each checked against
//! the file's size (a regular file) before use: a truncated, foreign or
//! corrupted file gives an error naming what is wrong, never a panic or an
//! unbounded read.

use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use vmlayout_core::capture::{self, EM_X86_64, ET_CORE, PT_LOAD, PT_NOTE};
use vmlayout_core::layout::START_KERNEL_MAP;
use vmlayout_core::pte::Table;
use vmlayout_core::walk::{TableReader, TableSource};

/// A segment of memory the file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Virtual address (0 where the writer gave none).
    pub vaddr: u64,
    /// Physical address (`u64::MAX` where the writer gave none: kcore's
    /// vmalloc and module segments).
    pub paddr: u64,
    /// Where its bytes start in the file.
    pub offset: u64,
    /// Bytes in the file; the rest up to `memsz` reads as zeros.
    pub filesz: u64,
    /// Bytes of memory.
    pub memsz: u64,
}

/// One note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// Its name (`CORE`, `VMCOREINFO`, `QEMU`, ...).
    pub name: String,
    /// Its type.
    pub kind: u32,
    /// Its descriptor.
    pub desc: Vec<u8>,
}

/// An ELF core file, open.
pub struct Core {
    file: File,
    /// The file's size, or `None` where it has none (`/proc/kcore`'s
    /// size is the address space's, reads past RAM fail).
    size: Option<u64>,
    /// Its memory, in file order.
    pub segments: Vec<Segment>,
    /// Its notes, in file order.
    pub notes: Vec<Note>,
    /// Bytes of notes read so far, against [`MAX_NOTES`].
    note_bytes: u64,
    /// A kdump-compressed file's pages (its segments then only say what
    /// memory exists).
    kdump: Option<crate::kdump::Pages>,
    /// The direct map's segments (by physical address) in address order,
    /// when none overlaps another.
    ram_index: Option<Vec<usize>>,
}

/// Whether `s` is a segment of the direct map (not kcore's kernel text).
fn is_ram(s: &Segment) -> bool {
    s.vaddr < START_KERNEL_MAP
}

/// Whether the segment `s`, at `start` by some key, holds `len` bytes at
/// `addr`.
fn holds(s: &Segment, start: u64, addr: u64, len: u64) -> bool {
    start != u64::MAX && addr >= start && addr - start < s.memsz && s.memsz - (addr - start) >= len
}

/// Most program headers read: kcore has one per RAM range and a few more,
/// a dump one per RAM block, a capture two per run of table pages (a
/// 256 GiB `debug_pagealloc` machine's 130,000 table pages).
const MAX_PHDRS: usize = 1 << 20;
/// Most bytes of notes read: QEMU writes about 1 KiB per vCPU.
const MAX_NOTES: u64 = 64 << 20;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

/// The little-endian u64 at `at` of `b`.
pub fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

impl Core {
    /// Open `path` and read its headers.
    pub fn open(path: &Path) -> Result<Core, String> {
        let name = path.display();
        let file = File::open(path).map_err(|e| format!("{name}: cannot open: {e}"))?;
        let meta = file.metadata().map_err(|e| format!("{name}: {e}"))?;
        let size = (meta.is_file() && !path.starts_with("/proc")).then_some(meta.len());
        let mut core = Core {
            file,
            size,
            segments: Vec::new(),
            notes: Vec::new(),
            note_bytes: 0,
            kdump: None,
            ram_index: None,
        };
        core.read_headers().map_err(|e| format!("{name}: {e}"))?;
        core.index_ram();
        Ok(core)
    }

    /// Read exactly `buf.len()` bytes at `offset` of the file.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), String> {
        let end = offset.checked_add(buf.len() as u64);
        if let (Some(size), Some(end)) = (self.size, end) {
            if end > size {
                return Err(format!(
                    "truncated: needs bytes up to {end:#x}, the file has {size:#x}"
                ));
            }
        }
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| format!("cannot read {} bytes at {offset:#x}: {e}", buf.len()))
    }

    /// `len` bytes at `offset` of the file.
    fn read_vec(&self, offset: u64, len: usize) -> Result<Vec<u8>, String> {
        let mut b = vec![0u8; len];
        self.read_exact_at(&mut b, offset)?;
        Ok(b)
    }

    /// A kdump-compressed file: its notes, VMCOREINFO and memory.
    fn read_kdump(&mut self) -> Result<(), String> {
        let header = self.read_vec(0, 4096)?;
        let (headers, pages) = crate::kdump::open(&header, &|at, len| self.read_vec(at, len))?;
        self.parse_notes(&headers.notes, 0)?;
        if self.note("VMCOREINFO").is_none() && !headers.vmcoreinfo.is_empty() {
            self.notes.push(Note {
                name: "VMCOREINFO".into(),
                kind: 0,
                desc: headers.vmcoreinfo,
            });
        }
        self.segments = (headers.ram.iter())
            .map(|&(first, last)| Segment {
                vaddr: 0,
                paddr: first,
                offset: u64::MAX,
                filesz: 0,
                memsz: last - first + 1,
            })
            .collect();
        self.kdump = Some(pages);
        if self.segments.is_empty() {
            return Err("kdump-compressed: no memory in its first bitmap".into());
        }
        Ok(())
    }

    fn read_headers(&mut self) -> Result<(), String> {
        let mut eh = [0u8; 64];
        self.read_exact_at(&mut eh, 0)
            .map_err(|e| format!("not an ELF core file ({e})"))?;
        if eh.starts_with(b"KDUMP   ") {
            return self.read_kdump();
        }
        if eh.starts_with(b"makedumpfile") {
            return Err(
                "makedumpfile's flattened format (from `makedumpfile -F` or QEMU's \
                     `dump-guest-memory -z`): reassemble it first, `makedumpfile -R OUT < FILE`"
                    .into(),
            );
        }
        if &eh[..4] != b"\x7fELF" {
            return Err("not an ELF file".into());
        }
        if eh[4] != 2 || eh[5] != 1 {
            return Err("not a 64-bit little-endian ELF file".into());
        }
        if u16_at(&eh, 16) != ET_CORE {
            return Err("an ELF file, but not a core file (e_type is not ET_CORE)".into());
        }
        if u16_at(&eh, 18) != EM_X86_64 {
            return Err(format!(
                "a core file of machine {}, not x86-64",
                u16_at(&eh, 18)
            ));
        }
        let (phoff, phentsize, phnum) = (u64_at(&eh, 32), u16_at(&eh, 54), u16_at(&eh, 56));
        if phentsize != 56 {
            return Err(format!("program header size {phentsize}, not 56"));
        }
        // PN_XNUM: the count is in section 0's sh_info (kcore of a machine
        // with many RAM ranges).
        let phnum = match phnum {
            0xffff => self.extended_phnum(&eh)?,
            n => usize::from(n),
        };
        if phnum > MAX_PHDRS {
            return Err(format!("{phnum} program headers: more than {MAX_PHDRS}"));
        }
        let mut ph = vec![0u8; phnum * 56];
        self.read_exact_at(&mut ph, phoff)?;
        for h in ph.chunks_exact(56) {
            self.program_header(h)?;
        }
        if self.segments.is_empty() {
            return Err("no PT_LOAD segment: the file holds no memory".into());
        }
        Ok(())
    }

    fn extended_phnum(&self, eh: &[u8]) -> Result<usize, String> {
        let shoff = u64_at(eh, 40);
        let mut sh = [0u8; 64];
        self.read_exact_at(&mut sh, shoff)?;
        Ok(u32_at(&sh, 44) as usize)
    }

    fn program_header(&mut self, h: &[u8]) -> Result<(), String> {
        let (kind, offset) = (u32_at(h, 0), u64_at(h, 8));
        let (vaddr, paddr) = (u64_at(h, 16), u64_at(h, 24));
        let (filesz, memsz) = (u64_at(h, 32), u64_at(h, 40));
        if offset.checked_add(filesz).is_none() || filesz > memsz && kind == PT_LOAD {
            return Err(format!("program header at offset {offset:#x}: bad sizes"));
        }
        match kind {
            PT_LOAD => self.segments.push(Segment {
                vaddr,
                paddr,
                offset,
                filesz,
                memsz,
            }),
            PT_NOTE => self.read_notes(offset, filesz)?,
            _ => {}
        }
        Ok(())
    }

    fn read_notes(&mut self, offset: u64, size: u64) -> Result<(), String> {
        self.note_bytes = self.note_bytes.saturating_add(size);
        if self.note_bytes > MAX_NOTES {
            return Err(format!("more than {MAX_NOTES} bytes of notes"));
        }
        let mut b = vec![0u8; size as usize];
        self.read_exact_at(&mut b, offset)?;
        self.parse_notes(&b, offset)
    }

    /// The notes in `b`, which starts at `offset` of the file.
    fn parse_notes(&mut self, b: &[u8], offset: u64) -> Result<(), String> {
        let align4 = |n: usize| n.div_ceil(4) * 4;
        let mut at = 0;
        while at + 12 <= b.len() {
            let (namesz, descsz, kind) = (
                u32_at(b, at) as usize,
                u32_at(b, at + 4) as usize,
                u32_at(b, at + 8),
            );
            // kcore pads its note segment with zeros after the last note.
            if namesz == 0 && descsz == 0 && kind == 0 {
                break;
            }
            let name_at = at + 12;
            let desc_at = name_at.saturating_add(align4(namesz));
            let end = desc_at.saturating_add(align4(descsz));
            if end > b.len() || desc_at + descsz > b.len() {
                return Err(format!(
                    "note at {:#x}: runs past its segment",
                    offset + at as u64
                ));
            }
            let name = &b[name_at..name_at + namesz];
            let name = name.strip_suffix(&[0]).unwrap_or(name);
            self.notes.push(Note {
                name: String::from_utf8_lossy(name).into_owned(),
                kind,
                desc: b[desc_at..desc_at + descsz].to_vec(),
            });
            at = end;
        }
        Ok(())
    }

    /// Read `buf.len()` bytes of memory at `addr`, found by `key` (the
    /// segments' physical or virtual addresses) among the segments `pick`
    /// takes: `false` if a byte of it is in none of them or cannot be read.
    fn read_by(
        &self,
        addr: u64,
        buf: &mut [u8],
        key: fn(&Segment) -> u64,
        pick: impl Fn(&Segment) -> bool,
    ) -> bool {
        let holds = |s: &&Segment| holds(s, key(s), addr, buf.len() as u64);
        let Some(seg) = self.segments.iter().filter(|s| pick(s)).find(holds) else {
            return false;
        };
        self.read_in(seg, addr - key(seg), buf)
    }

    /// Read `buf` at `within` of `seg`: from the file, zeros past it.
    fn read_in(&self, seg: &Segment, within: u64, buf: &mut [u8]) -> bool {
        let in_file = seg.filesz.saturating_sub(within).min(buf.len() as u64) as usize;
        let (file_part, zeros) = buf.split_at_mut(in_file);
        zeros.fill(0);
        file_part.is_empty() || self.read_exact_at(file_part, seg.offset + within).is_ok()
    }

    /// Read RAM at `paddr` by the direct map's segments, through the index
    /// when they do not overlap (a capture has one per run of table pages:
    /// a big machine's, hundreds of thousands).
    fn read_ram(&self, paddr: u64, buf: &mut [u8]) -> bool {
        let Some(index) = &self.ram_index else {
            let by_paddr = |s: &Segment| s.paddr;
            return self.read_by(paddr, buf, by_paddr, is_ram);
        };
        let at = index.partition_point(|&i| self.segments[i].paddr <= paddr);
        let Some(seg) = at.checked_sub(1).map(|i| &self.segments[index[i]]) else {
            return false;
        };
        holds(seg, seg.paddr, paddr, buf.len() as u64) && self.read_in(seg, paddr - seg.paddr, buf)
    }

    /// The direct map's segments by physical address, if none overlaps.
    fn index_ram(&mut self) {
        let mut index: Vec<usize> = (0..self.segments.len())
            .filter(|&i| is_ram(&self.segments[i]) && self.segments[i].paddr != u64::MAX)
            .collect();
        index.sort_unstable_by_key(|&i| self.segments[i].paddr);
        let disjoint = index.windows(2).all(|w| {
            let (a, b) = (&self.segments[w[0]], &self.segments[w[1]]);
            a.paddr
                .checked_add(a.memsz)
                .is_some_and(|end| end <= b.paddr)
        });
        self.ram_index = disjoint.then_some(index);
    }

    /// Read memory at physical address `paddr`. kcore gives the kernel
    /// image's memory twice, by its direct-map alias (a RAM segment) and by
    /// its high mapping (the text segment, `p_paddr = __pa_symbol()`): the
    /// direct map is read first, since the image's freed parts are unmapped
    /// from the high mapping (PTI) while their pages live on, page tables
    /// among them, and kcore reads an unmapped page as zeros.
    pub fn read_phys(&self, paddr: u64, buf: &mut [u8]) -> bool {
        if let Some(pages) = &self.kdump {
            return pages.read(paddr, buf, &|at, len| self.read_vec(at, len));
        }
        let by_paddr = |s: &Segment| s.paddr;
        self.read_ram(paddr, buf) || self.read_by(paddr, buf, by_paddr, |s| !is_ram(s))
    }

    /// Read memory at virtual address `vaddr` (segments with one).
    pub fn read_virt(&self, vaddr: u64, buf: &mut [u8]) -> bool {
        self.read_by(vaddr, buf, |s| s.vaddr, |s| s.vaddr != 0)
    }

    /// The u64 at virtual address `vaddr`.
    pub fn virt_u64(&self, vaddr: u64) -> Option<u64> {
        let mut b = [0u8; 8];
        self.read_virt(vaddr, &mut b).then(|| u64::from_le_bytes(b))
    }

    /// The descriptor of the first note named `name`.
    pub fn note(&self, name: &str) -> Option<&[u8]> {
        self.notes
            .iter()
            .find(|n| n.name == name)
            .map(|n| &n.desc[..])
    }
}

/// Most table pages one check reads: a corrupted dump whose entries all
/// point at one table would otherwise be read billions of times (a 256 GiB
/// guest under debug_pagealloc has some 131,000).
pub const MAX_TABLE_PAGES: u64 = 1 << 22;

/// Page tables read from a core file's physical memory.
pub struct PhysTables<'c> {
    core: &'c Core,
    /// Table pages read, for the cost figures.
    pub pages: u64,
    /// Every page a table or an entry was read from, when they are to be
    /// captured ([`capture`]).
    pub seen: Option<BTreeSet<u64>>,
}

impl<'c> PhysTables<'c> {
    /// The tables in `core`.
    pub fn new(core: &'c Core) -> Self {
        PhysTables {
            core,
            pages: 0,
            seen: None,
        }
    }

    fn saw(&mut self, phys: u64) {
        if let Some(seen) = &mut self.seen {
            seen.insert(phys & !0xfff);
        }
    }
}

/// `notes` as an ELF note segment's bytes.
fn note_bytes(notes: &[Note]) -> Vec<u8> {
    let mut out = Vec::new();
    for n in notes {
        let _ = capture::write_note::<()>((&n.name, n.kind, &n.desc), &mut |b| {
            out.extend_from_slice(b);
            Ok(())
        });
    }
    out
}

/// Write the pages `pages` of `core` (physical addresses) with its notes as
/// an ELF core file of their own at `out` ([`capture`](mod@capture)): the
/// tables one check read, with their physical addresses, a capture that
/// checks as the whole file did (host fixtures, benchmarks) at a fraction
/// of its size. The file's memory as it was is kept: System RAM is read
/// from it.
pub fn capture(core: &Core, pages: &BTreeSet<u64>, out: &Path) -> Result<(), String> {
    let mut memory: Vec<(u64, u64)> = core
        .segments
        .iter()
        .filter(|s| s.paddr != u64::MAX && s.vaddr < START_KERNEL_MAP)
        .map(|s| (s.paddr, s.paddr.saturating_add(s.memsz)))
        .collect();
    memory.sort_unstable();
    let pages: Vec<u64> = pages.iter().copied().collect();
    let mut elf = Vec::new();
    let notes = note_bytes(&core.notes);
    let _ = capture::write_head::<()>(memory.into_iter(), &pages, &notes, &mut |b| {
        elf.extend_from_slice(b);
        Ok(())
    });
    let mut page = [0u8; 4096];
    for &p in &pages {
        if !core.read_phys(p, &mut page) {
            page.fill(0);
        }
        elf.extend_from_slice(&page);
    }
    std::fs::write(out, elf).map_err(|e| format!("{}: cannot write: {e}", out.display()))
}

/// A table page read whole.
pub struct CopiedTable(Box<Table>);

impl TableReader for CopiedTable {
    fn entry(&mut self, index: usize) -> u64 {
        self.0[index]
    }
    fn failed(&self) -> bool {
        false
    }
}

impl TableSource for PhysTables<'_> {
    type Reader = CopiedTable;

    fn copy_table(&mut self, phys: u64, out: &mut Table) -> bool {
        self.saw(phys);
        let mut b = [0u8; 4096];
        if phys & 0xfff != 0 || self.pages >= MAX_TABLE_PAGES || !self.core.read_phys(phys, &mut b)
        {
            return false;
        }
        self.pages += 1;
        for (e, w) in out.iter_mut().zip(b.chunks_exact(8)) {
            *e = u64_at(w, 0);
        }
        true
    }

    fn read_entry(&mut self, table: u64, index: usize) -> Option<u64> {
        let mut b = [0u8; 8];
        let at = table.checked_add(index as u64 * 8)?;
        self.saw(at);
        self.core
            .read_phys(at, &mut b)
            .then(|| u64::from_le_bytes(b))
    }

    fn read_table(&mut self, phys: u64) -> Option<CopiedTable> {
        let mut t = Box::new([0u64; 512]);
        self.copy_table(phys, &mut t).then_some(CopiedTable(t))
    }
}
