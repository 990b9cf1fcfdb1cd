// SPDX-License-Identifier: GPL-2.0

//! x86-64 page-table entries, decoded.

/// Entries per table page at every level.
pub const ENTRIES: usize = 512;

/// One page-table page, as copied out of the kernel.
pub type Table = [u64; ENTRIES];

/// Attribute bits of an x86-64 page-table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Flags(pub u64);

impl Flags {
    /// Present.
    pub const P: u64 = 1 << 0;
    /// Writable.
    pub const RW: u64 = 1 << 1;
    /// User-accessible.
    pub const US: u64 = 1 << 2;
    /// Write-through.
    pub const PWT: u64 = 1 << 3;
    /// Cache disable.
    pub const PCD: u64 = 1 << 4;
    /// Accessed.
    pub const A: u64 = 1 << 5;
    /// Dirty.
    pub const D: u64 = 1 << 6;
    /// Page size (a leaf above the PTE level); PAT at the PTE level.
    pub const PS: u64 = 1 << 7;
    /// Global.
    pub const G: u64 = 1 << 8;
    /// PAT for 2 MiB and 1 GiB leaves.
    pub const PAT_LARGE: u64 = 1 << 12;
    /// No-execute.
    pub const NX: u64 = 1 << 63;

    /// The attribute bits of a raw entry (address and software bits dropped).
    pub const fn of(entry: u64) -> Self {
        Flags(
            entry
                & (Self::P
                    | Self::RW
                    | Self::US
                    | Self::PWT
                    | Self::PCD
                    | Self::A
                    | Self::D
                    | Self::PS
                    | Self::G
                    | Self::PAT_LARGE
                    | Self::NX),
        )
    }

    /// Whether every bit of `bits` is set.
    pub const fn has(self, bits: u64) -> bool {
        self.0 & bits == bits
    }

    /// Writable and executable.
    pub const fn is_wx(self) -> bool {
        self.has(Self::RW) && !self.has(Self::NX)
    }

    /// The bits ptdump prints for a leaf at `level`: what `map` coalesces on.
    /// Accessed and dirty change under the walker and are not shown.
    pub const fn shown(self, level: Level) -> Flags {
        let pat = match level {
            Level::Pte => Self::PS,
            _ => Self::PAT_LARGE,
        };
        Flags(self.0 & (Self::RW | Self::US | Self::PWT | Self::PCD | Self::G | Self::NX | pat))
    }
}

/// Permissions as the CPU applies them: writable and user only if every
/// level allows it, executable only if no level forbids it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Effective {
    /// Writable at every level.
    pub rw: bool,
    /// User-accessible at every level.
    pub us: bool,
    /// No-execute at some level.
    pub nx: bool,
}

impl Effective {
    /// What the top of the walk starts from: everything allowed.
    pub const ALL: Effective = Effective {
        rw: true,
        us: true,
        nx: false,
    };

    /// Narrow by one more level's entry.
    #[inline(always)]
    pub const fn through(self, entry: u64) -> Effective {
        let f = Flags::of(entry);
        Effective {
            rw: self.rw && f.has(Flags::RW),
            us: self.us && f.has(Flags::US),
            nx: self.nx || f.has(Flags::NX),
        }
    }

    /// Writable and executable.
    pub const fn is_wx(self) -> bool {
        self.rw && !self.nx
    }
}

/// Page-table levels, leaf to root.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// 4 KiB leaves.
    Pte = 1,
    /// 2 MiB leaves or PTE tables.
    Pmd = 2,
    /// 1 GiB leaves or PMD tables.
    Pud = 3,
    /// 512 GiB per entry (the top level with 4-level paging).
    P4d = 4,
    /// 256 TiB per entry (5-level paging only).
    Pgd = 5,
}

impl Level {
    /// The level of the top-level table in `paging`: the PGD with 5
    /// levels; with 4, the PGD is folded into the P4D, whose table CR3
    /// points to.
    pub const fn top(paging: super::map::Paging) -> Level {
        match paging {
            super::map::Paging::Four => Level::P4d,
            super::map::Paging::Five => Level::Pgd,
        }
    }

    /// The level below, `None` at the PTE level.
    pub const fn below(self) -> Option<Level> {
        match self {
            Level::Pgd => Some(Level::P4d),
            Level::P4d => Some(Level::Pud),
            Level::Pud => Some(Level::Pmd),
            Level::Pmd => Some(Level::Pte),
            Level::Pte => None,
        }
    }

    /// log2 of the bytes one entry at this level maps.
    pub const fn shift(self) -> u32 {
        12 + 9 * (self as u32 - 1)
    }

    /// Bytes one entry at this level maps.
    pub const fn entry_size(self) -> u64 {
        1 << self.shift()
    }

    /// Whether an entry can be a leaf here (PS at PMD and PUD).
    pub const fn can_be_huge(self) -> bool {
        matches!(self, Level::Pmd | Level::Pud)
    }

    /// Whether `entry`, read at this level, is a huge leaf.
    #[inline(always)]
    pub const fn is_huge(self, entry: u64) -> bool {
        self.can_be_huge() && Flags::of(entry).has(Flags::PS)
    }

    /// Index of the entry mapping `va` in a table at this level.
    #[inline(always)]
    pub const fn index(self, va: u64) -> usize {
        ((va >> self.shift()) & (ENTRIES as u64 - 1)) as usize
    }

    /// The name ptdump prints (top level is `pgd` in both modes).
    pub const fn name(self, top: Level) -> &'static str {
        if self as u8 == top as u8 {
            return "pgd";
        }
        match self {
            Level::Pte => "pte",
            Level::Pmd => "pmd",
            Level::Pud => "pud",
            Level::P4d => "p4d",
            Level::Pgd => "pgd",
        }
    }
}

/// Physical address bits of an entry (bits 12..51), before masking out a
/// memory-encryption bit.
pub const PHYS_ADDR_MASK: u64 = ((1 << 52) - 1) & !0xfff;

/// A page-table entry as read, with the questions every walk asks of it:
/// present, a leaf at its level, the table below it, the frame it maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageTableEntry(pub u64);

impl PageTableEntry {
    /// Its attribute bits.
    #[inline(always)]
    pub const fn flags(self) -> Flags {
        Flags::of(self.0)
    }

    /// Whether the present bit is set.
    #[inline(always)]
    pub const fn present(self) -> bool {
        self.flags().has(Flags::P)
    }

    /// Whether, read at `level`, it maps memory itself (a PTE, or a huge
    /// PMD or PUD) rather than pointing to a table. Meaningful if present.
    #[inline(always)]
    pub const fn is_leaf(self, level: Level) -> bool {
        matches!(level, Level::Pte) || level.is_huge(self.0)
    }

    /// Whether a walk down stops here: not present, or a leaf.
    #[inline(always)]
    pub const fn ends_walk(self, level: Level) -> bool {
        !self.present() || self.is_leaf(level)
    }

    /// Physical address of the table it points to (not a leaf).
    #[inline(always)]
    pub const fn next_table(self, phys_mask: u64) -> u64 {
        self.0 & phys_mask
    }

    /// Physical address of the frame it maps as a leaf at `level`.
    #[inline(always)]
    pub const fn frame(self, level: Level, phys_mask: u64) -> u64 {
        let addr = self.0 & phys_mask;
        if level.can_be_huge() {
            addr & !(level.entry_size() - 1)
        } else {
            addr
        }
    }
}

/// Sign-extend a virtual address from the paging mode's width.
pub const fn canonical(va: u64, top: Level) -> u64 {
    let bits = top.shift() + 9;
    let shift = 64 - bits;
    (((va << shift) as i64) >> shift) as u64
}
