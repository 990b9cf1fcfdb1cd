// SPDX-License-Identifier: GPL-2.0

//! The documented x86-64 virtual memory map as data.

/// Paging mode: number of page-table levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paging {
    /// 4-level paging, 48-bit virtual addresses.
    Four,
    /// 5-level paging (LA57), 57-bit virtual addresses.
    Five,
}

impl Paging {
    /// Number of page-table levels.
    pub const fn levels(self) -> u32 {
        match self {
            Paging::Four => 4,
            Paging::Five => 5,
        }
    }
}

/// What a documented row describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A region the kernel maps something into.
    Region,
    /// An unused hole: nothing may be mapped there.
    Hole,
    /// A guard hole: nothing may be mapped there either, by design.
    GuardHole,
}

impl Kind {
    /// Stable name used in records.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Region => "region",
            Kind::Hole => "hole",
            Kind::GuardHole => "guard-hole",
        }
    }
}

/// Which documented region a row is, recognised from its description so that
/// both the current table and historical ones name the same things.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionId {
    /// User space, different per mm.
    User,
    /// Non-canonical addresses.
    NonCanonical,
    /// The guard hole reserved for the hypervisor.
    HypervisorGuard,
    /// LDT remap for PTI.
    LdtRemap,
    /// Direct mapping of all physical memory (`page_offset_base`).
    DirectMap,
    /// vmalloc/ioremap space (`vmalloc_base`).
    Vmalloc,
    /// Virtual memory map, the `struct page` array (`vmemmap_base`).
    Vmemmap,
    /// KASAN shadow memory.
    KasanShadow,
    /// cpu_entry_area mapping.
    CpuEntryArea,
    /// %esp fixup stacks (ESPFIX64).
    Espfix,
    /// EFI region mapping space.
    Efi,
    /// Kernel text mapping.
    KernelText,
    /// Module mapping space.
    Modules,
    /// Kernel-internal fixmap range.
    Fixmap,
    /// Legacy vsyscall page.
    Vsyscall,
    /// Any hole (see [`Kind`] for which sort).
    Hole,
    /// A row vmlayout does not recognise (a newer mm.rst than it knows).
    // Only the generator constructs it, from rows of such a document.
    #[allow(dead_code)]
    Other,
}

impl RegionId {
    /// Regions whose base `CONFIG_RANDOMIZE_MEMORY` chooses at boot.
    pub const fn is_randomized(self) -> bool {
        matches!(
            self,
            RegionId::DirectMap | RegionId::Vmalloc | RegionId::Vmemmap
        )
    }

    /// Stable short name used in records.
    pub const fn name(self) -> &'static str {
        match self {
            RegionId::User => "user",
            RegionId::NonCanonical => "non-canonical",
            RegionId::HypervisorGuard => "hypervisor-guard",
            RegionId::LdtRemap => "ldt-remap",
            RegionId::DirectMap => "direct-map",
            RegionId::Vmalloc => "vmalloc",
            RegionId::Vmemmap => "vmemmap",
            RegionId::KasanShadow => "kasan-shadow",
            RegionId::CpuEntryArea => "cpu-entry-area",
            RegionId::Espfix => "espfix",
            RegionId::Efi => "efi",
            RegionId::KernelText => "kernel-text",
            RegionId::Modules => "modules",
            RegionId::Fixmap => "fixmap",
            RegionId::Vsyscall => "vsyscall",
            RegionId::Hole => "hole",
            RegionId::Other => "other",
        }
    }
}

/// One row of a documented map. `start` is `None` where the document gives
/// a symbol instead of an address (`FIXADDR_START`): the region then begins
/// right after the previous row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DocRegion<'a> {
    /// First address, if the document gives one.
    pub start: Option<u64>,
    /// Last address (inclusive).
    pub end: u64,
    /// Size as the document writes it.
    pub size: &'a str,
    /// Description as the document writes it.
    pub desc: &'a str,
    /// Region, hole or guard hole.
    pub kind: Kind,
    /// The kernel variable holding the region's base, if the document names one.
    pub var: Option<&'a str>,
    /// What the row is.
    pub id: RegionId,
}

/// A complete documented map for one paging mode.
#[derive(Clone, Copy, Debug)]
pub struct DocMap<'a> {
    /// Stable name used in records (`mm.rst-4level`, ...).
    pub name: &'a str,
    /// The document it was generated from.
    pub source: &'a str,
    /// The paging mode the table describes.
    pub paging: Paging,
    /// Rows in address order.
    pub regions: &'a [DocRegion<'a>],
}

impl<'a> DocMap<'a> {
    /// First address of row `index`, resolving a symbolic start.
    pub fn start_of(&self, index: usize) -> u64 {
        match self.regions[index].start {
            Some(start) => start,
            None if index == 0 => 0,
            None => self.regions[index - 1].end.wrapping_add(1),
        }
    }

    /// Index of the row containing `addr`, if any.
    pub fn index_of_addr(&self, addr: u64) -> Option<usize> {
        (0..self.regions.len()).find(|&i| self.start_of(i) <= addr && addr <= self.regions[i].end)
    }

    /// Index of the first row with the given id.
    pub fn index_of(&self, id: RegionId) -> Option<usize> {
        self.regions.iter().position(|r| r.id == id)
    }
}
