// SPDX-License-Identifier: GPL-2.0

//! What `vmlayout check` knows of a kernel before it walks its tables,
//! each fact with where it was read: the VMCOREINFO note first (kcore,
//! kdump and QEMU dumps of a guest with `-device vmcoreinfo` carry it),
//! then what the running kernel shows (`/proc/kallsyms`, `/proc/iomem`,
//! `/proc/config.gz`, sysfs), then the dump's own headers (kdump's
//! segments' virtual addresses, QEMU's per-vCPU registers). What none of
//! them gives is inferred from the tables after the walk
//! ([`crate::check`]), and says so.

use std::collections::BTreeMap;

use vmlayout_core::layout::START_KERNEL_MAP;
use vmlayout_core::map::Paging;

use crate::elf::{u64_at, Core};

/// A value and where it was read.
pub type Sourced<T> = Option<(T, String)>;

/// What is known of the kernel before the walk.
#[derive(Debug, Default)]
pub struct Facts {
    /// The paging mode.
    pub paging: Sourced<Paging>,
    /// The reference top-level table, physical.
    pub reference: Sourced<u64>,
    /// `phys_base`.
    pub phys_base: Sourced<u64>,
    /// `page_offset_base`, `vmalloc_base`, `vmemmap_base`.
    pub page_offset_base: Sourced<u64>,
    /// See `page_offset_base`.
    pub vmalloc_base: Sourced<u64>,
    /// See `page_offset_base`.
    pub vmemmap_base: Sourced<u64>,
    /// `kaslr_offset()` (VMCOREINFO's `KERNELOFFSET`).
    pub kaslr_offset: Option<u64>,
    /// `KERNEL_IMAGE_SIZE`.
    pub image_size: Option<u64>,
    /// The memory-encryption bits of page-table entries.
    pub sme_mask: u64,
    /// The kernel's release.
    pub release: Option<String>,
    /// System RAM, physical, inclusive, sorted.
    pub ram: Vec<(u64, u64)>,
    /// Where `ram` was read.
    pub ram_source: String,
    /// Why `ram` is not System RAM, when it is not (a QEMU dump's segments
    /// are every memory block of the machine): then it is not held against
    /// the direct map.
    pub ram_unknown: Option<&'static str>,
    /// Each CPU's CR3 (QEMU dumps).
    pub cpus: Vec<(u32, u64)>,
    /// Whether PTI is on, if known, and how it is known.
    pub pti: Sourced<bool>,
    /// Kernel options read (`/proc/config.gz`).
    pub config: BTreeMap<String, String>,
    /// Whether the kernel has KASAN, if known (`kasan_init` in kallsyms).
    pub kasan: Option<bool>,
    /// Each possible CPU's TSS page, which PTI maps into the user-mode
    /// tables; `None` when it cannot be known (no kallsyms).
    pub tss_pages: Option<Vec<u64>>,
    /// Each vCPU's TR base (QEMU's notes): its TSS in the CPU entry area.
    pub tr_bases: Vec<u64>,
    /// The physical frames of the CPUs' TSS pages, from their TR bases
    /// through the reference (where kallsyms does not name the pages).
    pub tss_frames: Option<Vec<u64>>,
}

impl Facts {
    /// One past the highest byte of `ram`.
    pub fn ram_end(&self) -> u64 {
        self.ram
            .iter()
            .map(|r| r.1.saturating_add(1))
            .max()
            .unwrap_or(0)
    }
}

/// `KEY=VALUE` lines of a VMCOREINFO note.
pub fn vmcoreinfo(desc: &[u8]) -> BTreeMap<String, String> {
    let text = String::from_utf8_lossy(desc);
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn hex(v: &str) -> Option<u64> {
    u64::from_str_radix(v.trim_start_matches("0x"), 16).ok()
}

/// The facts VMCOREINFO gives.
pub fn from_vmcoreinfo(info: &BTreeMap<String, String>, facts: &mut Facts) {
    let src = |k: &str| format!("VMCOREINFO {k}");
    let num = |k: &str| info.get(k).and_then(|v| v.parse::<i64>().ok());
    if let Some(v) = info.get("OSRELEASE") {
        facts.release = Some(v.clone());
    }
    if let Some(l5) = num("NUMBER(pgtable_l5_enabled)") {
        let paging = if l5 != 0 { Paging::Five } else { Paging::Four };
        facts.paging = Some((paging, src("NUMBER(pgtable_l5_enabled)")));
    }
    if let Some(pb) = num("NUMBER(phys_base)") {
        facts.phys_base = Some((pb as u64, src("NUMBER(phys_base)")));
        if let Some(top) = info.get("SYMBOL(init_top_pgt)").and_then(|v| hex(v)) {
            let phys = top.wrapping_sub(START_KERNEL_MAP).wrapping_add(pb as u64);
            facts.reference = Some((phys, src("SYMBOL(init_top_pgt)")));
        }
    }
    if let Some(v) = info.get("NUMBER(VMALLOC_START)").and_then(|v| hex(v)) {
        facts.vmalloc_base = Some((v, src("NUMBER(VMALLOC_START)")));
    }
    if let Some(v) = info.get("SYMBOL(vmemmap)").and_then(|v| hex(v)) {
        facts.vmemmap_base = Some((v, src("SYMBOL(vmemmap)")));
    }
    facts.kaslr_offset = info.get("KERNELOFFSET").and_then(|v| hex(v));
    facts.image_size = num("NUMBER(KERNEL_IMAGE_SIZE)").map(|n| n as u64);
    facts.sme_mask = num("NUMBER(sme_mask)").unwrap_or(0) as u64;
}

/// The symbols of `/proc/kallsyms` a check reads, with their addresses
/// (all zero when `kptr_restrict` hides them: then none).
pub fn kallsyms(text: &str) -> BTreeMap<String, u64> {
    const WANTED: [&str; 10] = [
        "init_top_pgt",
        "page_offset_base",
        "vmalloc_base",
        "vmemmap_base",
        "phys_base",
        "pgdir_shift",
        "_text",
        "kasan_init",
        "cpu_tss_rw",
        "__per_cpu_offset",
    ];
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(addr), Some(_), Some(name)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        if WANTED.contains(&name) && it.next().is_none() {
            if let Some(a) = hex(addr).filter(|&a| a != 0) {
                out.entry(name.to_string()).or_insert(a);
            }
        }
    }
    out
}

/// The facts the running kernel's variables give, read through kcore at
/// the addresses `/proc/kallsyms` names; VMCOREINFO's are kept.
pub fn from_kallsyms(core: &Core, syms: &BTreeMap<String, u64>, facts: &mut Facts) {
    let var = |name: &str| syms.get(name).and_then(|&a| core.virt_u64(a));
    let src = |name: &str| format!("{name} (kallsyms, read through /proc/kcore)");
    let fill = |slot: &mut Sourced<u64>, name: &str| {
        if slot.is_none() {
            *slot = var(name).map(|v| (v, src(name)));
        }
    };
    fill(&mut facts.page_offset_base, "page_offset_base");
    fill(&mut facts.vmalloc_base, "vmalloc_base");
    fill(&mut facts.vmemmap_base, "vmemmap_base");
    fill(&mut facts.phys_base, "phys_base");
    if !syms.is_empty() {
        facts.kasan = Some(syms.contains_key("kasan_init"));
        facts.tss_pages = tss_pages(core, syms);
    }
    if facts.paging.is_none() {
        // pgdir_shift is an unsigned int: 48 with 5-level paging.
        if let Some(shift) = var("pgdir_shift") {
            let paging = if shift as u32 == 48 {
                Paging::Five
            } else {
                Paging::Four
            };
            facts.paging = Some((paging, src("pgdir_shift")));
        }
    }
    if let (None, Some(&top), Some((pb, _))) =
        (&facts.reference, syms.get("init_top_pgt"), &facts.phys_base)
    {
        let phys = top.wrapping_sub(START_KERNEL_MAP).wrapping_add(*pb);
        facts.reference = Some((phys, src("init_top_pgt")));
    }
}

/// `&per_cpu(cpu_tss_rw, cpu)` for each possible CPU
/// (`/sys/devices/system/cpu/possible`): the symbol plus the CPU's
/// `__per_cpu_offset`, read through kcore.
fn tss_pages(core: &Core, syms: &BTreeMap<String, u64>) -> Option<Vec<u64>> {
    let (tss, offsets) = (syms.get("cpu_tss_rw")?, syms.get("__per_cpu_offset")?);
    let possible = std::fs::read_to_string("/sys/devices/system/cpu/possible").ok()?;
    let mut pages = Vec::new();
    for part in possible.trim().split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
        for cpu in a..=b.min(a + 8191) {
            let offset = core.virt_u64(offsets.checked_add(cpu * 8)?)?;
            pages.push(tss.wrapping_add(offset));
        }
    }
    Some(pages)
}

/// System RAM from `/proc/iomem`: its top-level `System RAM` lines
/// (addresses are zero unless read as root: then none).
pub fn iomem_ram(text: &str) -> Vec<(u64, u64)> {
    let mut ram = Vec::new();
    for line in text.lines() {
        if line.starts_with(' ') {
            continue;
        }
        let Some((range, name)) = line.split_once(" : ") else {
            continue;
        };
        if name.trim() != "System RAM" {
            continue;
        }
        if let Some((a, b)) = range.split_once('-') {
            if let (Some(a), Some(b)) = (hex(a), hex(b)) {
                ram.push((a, b));
            }
        }
    }
    if ram.iter().all(|&(a, b)| a == 0 && b == 0) {
        ram.clear();
    }
    ram.sort_unstable();
    ram
}

/// The highest physical address x86-64 has (52 bits).
const PHYS_LIMIT: u64 = (1 << 52) - 1;

/// The memory a core file's segments hold, by physical address, merged:
/// System RAM as the file saw it.
pub fn segment_ram(core: &Core) -> Vec<(u64, u64)> {
    let mut ram: Vec<(u64, u64)> = core
        .segments
        .iter()
        // Physical addresses have 52 bits at most: others are no RAM.
        .filter(|s| s.paddr <= PHYS_LIMIT && s.memsz > 0 && s.vaddr < START_KERNEL_MAP)
        .map(|s| (s.paddr, s.paddr.saturating_add(s.memsz - 1).min(PHYS_LIMIT)))
        .collect();
    ram.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (a, b) in ram {
        match merged.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// `page_offset_base` from segments that give both addresses of RAM
/// (kcore's and kdump's): the direct map is `paddr + page_offset_base`.
pub fn segment_page_offset(core: &Core) -> Option<u64> {
    core.segments
        .iter()
        .find(|s| s.paddr != u64::MAX && s.vaddr != 0 && s.vaddr < START_KERNEL_MAP)
        .map(|s| s.vaddr.wrapping_sub(s.paddr))
        .filter(|base| base >> 63 == 1)
}

/// QEMU's per-vCPU note (`QEMUCPUState`, target/i386/arch_dump.c):
/// version, size, 18 registers, 10 segments of 24 bytes, then CR0..CR4.
const QEMU_CR_OFFSET: usize = 8 + 18 * 8 + 10 * 24;

/// Each vCPU's CR3 (its physical-address bits) and CR4 from QEMU's notes,
/// in vCPU order.
pub fn qemu_cpus(core: &Core, phys_mask: u64) -> Vec<(u64, u64)> {
    core.notes
        .iter()
        .filter(|n| n.name == "QEMU" && n.desc.len() >= QEMU_CR_OFFSET + 40)
        .map(|n| {
            let cr = |i: usize| u64_at(&n.desc, QEMU_CR_OFFSET + 8 * i);
            (cr(3) & phys_mask, cr(4))
        })
        .collect()
}

/// TR's base in `QEMUCPUState`: the 8th segment (cs, ds, es, fs, gs, ss,
/// ldt, tr), after its selector, limit, flags and padding.
const QEMU_TR_BASE: usize = 8 + 18 * 8 + 7 * 24 + 16;

/// Each vCPU's TR base from QEMU's notes, in vCPU order: the address of
/// its TSS, in the CPU entry area.
pub fn qemu_tr_bases(core: &Core) -> Vec<u64> {
    core.notes
        .iter()
        .filter(|n| n.name == "QEMU" && n.desc.len() >= QEMU_CR_OFFSET + 40)
        .map(|n| u64_at(&n.desc, QEMU_TR_BASE))
        .collect()
}

/// Whether PTI is on, from the `pti` CPU flag (sysfs's Meltdown line says
/// "Not affected" on a CPU without the bug even when `pti=on` forces PTI).
pub fn running_pti() -> Sourced<bool> {
    let path = "/proc/cpuinfo";
    let text = std::fs::read_to_string(path).ok()?;
    let flags = text.lines().find(|l| l.starts_with("flags"))?;
    let on = flags.split_whitespace().any(|f| f == "pti");
    Some((on, format!("the pti flag in {path}")))
}
