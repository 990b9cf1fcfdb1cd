// SPDX-License-Identifier: GPL-2.0

//! `tables`: the page-table pages a walk of the reference reads, with their
//! physical addresses, as an ELF core file (`vmlayout_core::capture`):
//! a VMCOREINFO note with the live bases, System RAM as `PT_LOAD`
//! segments, and the table pages' bytes. `vmlayout check --vmcore` reads
//! it as it reads a crash dump, so a lab's kernel becomes a host fixture
//! (`tools/vmlayout/testdata/captures/`) with `cp`.
//!
//! A read at offset 0 lists the pages (a walk) and keeps the list for the
//! reads after it; each page's bytes are read when their part of the file
//! is, so a kernel whose tables change meanwhile gives a capture of no one
//! moment: take it from a quiet system. Nothing larger than the list
//! (8 bytes per page) and the headers is allocated.

use core::fmt::{self, Write};

use kernel::{alloc::KVVec, prelude::*, uaccess::UserSliceWriter};

use crate::helpers::{cond_resched, vmlayout_release};
use crate::scan::{table_pages, DirectMap};
use crate::vmlayout_core::{capture, pte::Table, walk::TableSource};
use crate::State;

/// A capture being read: its headers and the pages' addresses.
pub(crate) struct Capture {
    /// The bytes before the first page: the ELF header, the program
    /// headers (section header 0 past `PN_XNUM`), the note, padding.
    head: KVVec<u8>,
    /// The pages, in address order, once each.
    pages: KVVec<u64>,
}

/// Appends text to a byte vector.
struct Text<'a>(&'a mut KVVec<u8>);

impl Write for Text<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0
            .extend_from_slice(s.as_bytes(), GFP_KERNEL)
            .map_err(|_| fmt::Error)
    }
}

impl Capture {
    /// List the pages a walk of the reference reads, and lay the file out
    /// for them and the System RAM ranges.
    fn take(state: &State) -> Result<Self> {
        let mut list = table_pages(&state.live, state.reference, &mut state.workspace.lock())?;
        list.sort_unstable();
        let mut pages = KVVec::with_capacity(list.len(), GFP_KERNEL)?;
        for (i, &phys) in list.iter().enumerate() {
            if i == 0 || list[i - 1] != phys {
                pages.push(phys, GFP_KERNEL)?;
            }
        }
        drop(list);
        let ram = crate::live::ram_ranges()?;
        let memory = ram.iter().map(|&(first, last)| (first, last + 1));
        let note = vmcoreinfo(state)?;
        let mut head = KVVec::new();
        capture::write_head(memory, &pages, &note, &mut |b| {
            head.extend_from_slice(b, GFP_KERNEL)
        })?;
        Ok(Capture { head, pages })
    }

    /// Write the file's bytes from `at` into `writer`, at most to the end
    /// of the headers or of one page, with `page` to copy a page into; how
    /// many (0 at the end of the file).
    fn read_at(
        &self,
        (state, at): (&State, usize),
        writer: &mut UserSliceWriter,
        page: &mut Table,
    ) -> Result<usize> {
        if let Some(head) = self.head.get(at..).filter(|h| !h.is_empty()) {
            let n = head.len().min(writer.len());
            writer.write_slice(&head[..n])?;
            return Ok(n);
        }
        let at = at - self.head.len();
        let Some(&phys) = self.pages.get(at / 4096) else {
            return Ok(0);
        };
        // A page gone since the walk reads as zeros.
        if !DirectMap::new(state.live.page_offset_base).copy_table(phys, page) {
            page.fill(0);
        }
        let within = at % 4096;
        let n = (4096 - within).min(writer.len());
        writer.write_slice(&page.as_bytes()[within..within + n])?;
        Ok(n)
    }
}

/// The VMCOREINFO note of the running kernel, as `capture` writes it.
fn vmcoreinfo(state: &State) -> Result<KVVec<u8>> {
    let mut release = [0u8; 65];
    let len = usize::try_from(vmlayout_release(&mut release)).unwrap_or(0);
    let release = core::str::from_utf8(release.get(..len).unwrap_or(&[])).unwrap_or("");
    let mut text = KVVec::new();
    let sme = crate::live::memory_encryption_mask();
    capture::write_vmcoreinfo(
        &mut Text(&mut text),
        &state.live,
        (state.reference, sme),
        release,
    )
    .map_err(|_| ENOMEM)?;
    let mut note = KVVec::new();
    let vmcoreinfo = ("VMCOREINFO", 0, &text[..]);
    capture::write_note(vmcoreinfo, &mut |b| note.extend_from_slice(b, GFP_KERNEL))?;
    Ok(note)
}

/// `tables`' read: from offset 0 a new capture, then its bytes in turn.
pub(crate) fn read(state: &State, writer: &mut UserSliceWriter, offset: &mut i64) -> Result<usize> {
    let at = usize::try_from(*offset).map_err(|_| EINVAL)?;
    let mut taken = state.capture.lock();
    if at == 0 || taken.is_none() {
        *taken = Some(Capture::take(state)?);
    }
    let Some(capture) = taken.as_ref() else {
        return Err(EIO);
    };
    let mut page = KBox::new([0u64; 512], GFP_KERNEL)?;
    let mut written = 0;
    while !writer.is_empty() {
        let n = capture.read_at((state, at + written), writer, &mut page)?;
        if n == 0 {
            break;
        }
        written += n;
        // A read may ask for the whole file: a page at a time, preemptible.
        cond_resched();
    }
    *offset += written as i64;
    Ok(written)
}
