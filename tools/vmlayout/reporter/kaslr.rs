// SPDX-License-Identifier: GPL-2.0

//! `vmlayout kaslr SNAPSHOTS...`: how well KASLR spreads the randomized
//! bases over many boots.
//!
//! For each base (kernel text, direct map, vmalloc, vmemmap) it reports the
//! distinct values, their range, the spread against the window the base may
//! use, and two entropy figures:
//!
//! - the *model*: the number of positions the kernel's own code allows this
//!   boot, log2 of it in bits. For the text, `find_random_virt_addr()` of
//!   `arch/x86/boot/compressed/kaslr.c`: `1 + (KERNEL_IMAGE_SIZE -
//!   LOAD_PHYSICAL_ADDR - image size) / CONFIG_PHYSICAL_ALIGN` slots. For
//!   the memory regions, `kernel_randomize_memory()` of
//!   `arch/x86/mm/kaslr.c`: each region in turn takes a 1 GiB-aligned
//!   offset below `remain / (regions left)`, where `remain` is the window
//!   less every region's size and the offsets taken before it; replayed
//!   per boot from the bases the boot chose, so the figure is each base's
//!   entropy given the ones before it (their sum is the joint entropy).
//!   Every observed base is also checked to be one the model allows.
//! - the *observation*: repeated values. The collision entropy estimate
//!   `log2(pairs / equal pairs)` (Rényi order 2) when some pair is equal,
//!   a lower bound `> log2(pairs)` when none is; and the collisions the
//!   model expects (`pairs / positions`), with the Poisson probability of
//!   seeing as many as were seen. A small probability means the base
//!   repeats far more often than the model allows: a degraded
//!   configuration.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{json, Value};

use vmlayout_core::layout::{PUD_SIZE, START_KERNEL_MAP};

use crate::model::{human, Layout};

/// KASLR's memory regions are placed in 1 GiB (PUD) steps.
const GIB: u64 = PUD_SIZE;
const TIB: u64 = 1 << 40;
/// `CPU_ENTRY_AREA_BASE`, `vaddr_end` of kaslr.c, in both paging modes.
const VADDR_END: u64 = 0xffff_fe00_0000_0000;
/// `KERNEL_IMAGE_SIZE` with RANDOMIZE_BASE.
const KERNEL_IMAGE_SIZE: u64 = GIB;
/// `sizeof(struct page)` on x86-64 (vmemmap's size in kaslr.c).
const STRUCT_PAGE: u64 = 64;

/// The bases KASLR randomizes, with the region each lives in.
pub const BASES: [(&str, &str); 4] = [
    ("kernel_text", "kernel-text"),
    ("page_offset_base", "direct-map"),
    ("vmalloc_base", "vmalloc"),
    ("vmemmap_base", "vmemmap"),
];

/// One boot's model for one base.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Model {
    /// Positions the kernel could have chosen from.
    pub positions: u64,
    /// Whether the observed value is one of them.
    pub consistent: bool,
}

/// The memory regions' models for one boot (direct map, vmalloc, vmemmap),
/// replaying `kernel_randomize_memory()` with the bases the boot chose.
pub fn memory_models(layout: &Layout, padding_tb: u64, zone_device: bool) -> Option<[Model; 3]> {
    let five = layout.levels == 5;
    let vaddr_start: u64 = if five {
        0xff11_0000_0000_0000
    } else {
        0xffff_8880_0000_0000
    };
    let max_physmem_tb: u64 = 1 << (if five { 52 } else { 46 } - 40);
    let ram_end = layout.base("ram_end")?;
    let mut size_tb = [max_physmem_tb, if five { 12800 } else { 32 }, 0];
    let memory_tb = ram_end.div_ceil(TIB) + padding_tb;
    if !zone_device && memory_tb < size_tb[0] {
        size_tb[0] = memory_tb;
    }
    let vmemmap_size = (size_tb[0] << (40 - 12)) * STRUCT_PAGE;
    size_tb[2] = vmemmap_size.div_ceil(TIB);
    let mut remain =
        (VADDR_END - vaddr_start).checked_sub(size_tb.iter().map(|t| t * TIB).sum())?;
    let bases = [
        layout.base("page_offset_base")?,
        layout.base("vmalloc_base")?,
        layout.base("vmemmap_base")?,
    ];
    let mut vaddr = vaddr_start;
    let mut out = [Model {
        positions: 0,
        consistent: false,
    }; 3];
    for i in 0..3 {
        let entropy = remain / (3 - i as u64);
        let taken = bases[i].wrapping_sub(vaddr);
        out[i] = Model {
            positions: entropy / GIB + 1,
            consistent: bases[i] >= vaddr && taken <= entropy && taken.is_multiple_of(GIB),
        };
        if !out[i].consistent {
            return Some(out);
        }
        vaddr = bases[i] + size_tb[i] * TIB;
        vaddr = (vaddr + 1).div_ceil(GIB) * GIB;
        remain -= taken;
    }
    Some(out)
}

/// The text's model: `find_random_virt_addr()` for this image size.
pub fn text_model(layout: &Layout, physical_start: u64, align: u64) -> Option<Model> {
    let text = parse_hex(layout.meta.get("image_text")?)?;
    let end = parse_hex(layout.meta.get("image_end")?)?;
    let min_align = 2 << 20;
    let image = end.checked_sub(text)?.div_ceil(min_align) * min_align;
    let minimum = physical_start.div_ceil(align) * align;
    let slots = 1 + KERNEL_IMAGE_SIZE.checked_sub(minimum + image)? / align;
    let offset = layout.base("kernel_text")?.checked_sub(START_KERNEL_MAP)?;
    let consistent = offset >= minimum
        && (offset - minimum).is_multiple_of(align)
        && (offset - minimum) / align < slots;
    Some(Model {
        positions: slots,
        consistent,
    })
}

fn parse_hex(v: &str) -> Option<u64> {
    u64::from_str_radix(v.strip_prefix("0x")?, 16).ok()
}

fn config_num(layout: &Layout, key: &str) -> Option<u64> {
    let v = layout.config.get(key)?;
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

/// P(X >= k) for X ~ Poisson(lambda).
pub fn poisson_tail(lambda: f64, k: u64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    let mut term = (-lambda).exp();
    let mut below = 0.0;
    for i in 0..k {
        below += term;
        term *= lambda / (i + 1) as f64;
    }
    (1.0 - below).max(0.0)
}

/// Statistics of one base over a set of boots of one paging mode.
#[derive(Debug, Clone)]
pub struct BaseStats {
    pub name: String,
    pub samples: usize,
    pub distinct: usize,
    pub min: u64,
    pub max: u64,
    pub align: u64,
    pub window: (u64, u64),
    /// Positions of `align` in the window vmlayout reports for the region.
    pub window_positions: u64,
    /// Mean over boots of the model's positions, and of log2 of them.
    pub model_positions: Option<f64>,
    pub model_bits: Option<f64>,
    pub model_source: String,
    pub inconsistent: usize,
    pub equal_pairs: u64,
    pub expected_pairs: Option<f64>,
    pub collision_p: Option<f64>,
    /// Rényi-2 estimate; `None` with `lower_bound` when no pair was equal.
    pub estimate_bits: Option<f64>,
    pub lower_bound_bits: f64,
    pub flags: Vec<String>,
}

impl BaseStats {
    /// `max - min` in positions of `align`, against the window's.
    pub fn spread_fraction(&self) -> f64 {
        let spread = ((self.max - self.min) / self.align.max(1) + 1) as f64;
        spread / self.window_positions.max(1) as f64
    }
}

/// The KASLR statistics of one paging mode.
#[derive(Debug, Clone)]
pub struct Stats {
    pub levels: u8,
    pub boots: usize,
    pub release: String,
    pub ram_end: u64,
    pub assumptions: Vec<String>,
    pub bases: Vec<BaseStats>,
}

/// Group snapshots by paging mode and compute each mode's statistics.
pub fn analyse(layouts: &[Layout]) -> Vec<Stats> {
    let mut modes: BTreeMap<u8, Vec<&Layout>> = BTreeMap::new();
    for l in layouts {
        modes.entry(l.levels).or_default().push(l);
    }
    modes
        .into_iter()
        .map(|(levels, ls)| analyse_mode(levels, &ls))
        .collect()
}

fn analyse_mode(levels: u8, ls: &[&Layout]) -> Stats {
    let first = ls[0];
    let mut assumptions = Vec::new();
    let padding = match config_num(first, "CONFIG_RANDOMIZE_MEMORY_PHYSICAL_PADDING") {
        Some(p) => p,
        None => {
            assumptions.push(
                "CONFIG_RANDOMIZE_MEMORY_PHYSICAL_PADDING unknown (no /proc/config.gz): 0 assumed"
                    .to_string(),
            );
            0
        }
    };
    let zone_device = first
        .config
        .get("CONFIG_ZONE_DEVICE")
        .is_some_and(|v| v == "y");
    let physical_start = config_num(first, "CONFIG_PHYSICAL_START").unwrap_or(0x100_0000);
    let kasan = first.config.get("CONFIG_KASAN").is_some_and(|v| v == "y");
    let nokaslr = ls
        .iter()
        .filter(|l| {
            l.meta
                .get("cmdline")
                .is_some_and(|c| c.split_whitespace().any(|w| w == "nokaslr"))
        })
        .count();
    let env = ModeEnv {
        padding,
        zone_device,
        physical_start,
        kasan,
        nokaslr,
    };
    let bases = BASES
        .iter()
        .filter_map(|&(name, region)| base_stats(name, region, ls, &env))
        .collect();
    if nokaslr > 0 {
        assumptions.push(format!("{nokaslr} boots had nokaslr on the command line"));
    }
    Stats {
        levels,
        boots: ls.len(),
        release: first.meta.get("release").cloned().unwrap_or_default(),
        ram_end: first.base("ram_end").unwrap_or(0),
        assumptions,
        bases,
    }
}

/// What a paging mode's boots share that the models need.
struct ModeEnv {
    padding: u64,
    zone_device: bool,
    physical_start: u64,
    kasan: bool,
    nokaslr: usize,
}

/// One base over the boots `ls`: its values against the window, the
/// model's positions and the collisions it predicts; `None` if no boot
/// has it.
fn base_stats(name: &str, region: &str, ls: &[&Layout], env: &ModeEnv) -> Option<BaseStats> {
    let first = ls[0];
    let (padding, zone_device, physical_start) = (env.padding, env.zone_device, env.physical_start);
    let values: Vec<u64> = ls.iter().filter_map(|l| l.base(name)).collect();
    if values.is_empty() {
        return None;
    }
    let r = first.region(region);
    let align = r.map_or(GIB, |r| r.align.max(1));
    let window = r.map_or((0, 0), |r| r.window);
    let mut sorted = values.clone();
    sorted.sort_unstable();
    let mut runs: BTreeMap<u64, u64> = BTreeMap::new();
    for v in &values {
        *runs.entry(*v).or_default() += 1;
    }
    let equal_pairs: u64 = runs.values().map(|c| c * (c - 1) / 2).sum();
    let n = values.len() as u64;
    let pairs = n * (n.saturating_sub(1)) / 2;
    let models: Vec<Model> = ls
        .iter()
        .filter_map(|l| {
            if name == "kernel_text" {
                text_model(l, physical_start, align)
            } else {
                let i = BASES.iter().position(|b| b.0 == name)? - 1;
                memory_models(l, padding, zone_device).map(|m| m[i])
            }
        })
        .collect();
    let model_source = if name == "kernel_text" {
        "find_random_virt_addr() (arch/x86/boot/compressed/kaslr.c): slots for this image size"
            .to_string()
    } else {
        "kernel_randomize_memory() (arch/x86/mm/kaslr.c), replayed per boot: positions given the earlier bases".to_string()
    };
    let (model_positions, model_bits) = if models.is_empty() {
        (None, None)
    } else {
        let k = models.len() as f64;
        (
            Some(models.iter().map(|m| m.positions as f64).sum::<f64>() / k),
            Some(
                models
                    .iter()
                    .map(|m| (m.positions as f64).log2())
                    .sum::<f64>()
                    / k,
            ),
        )
    };
    let inconsistent = models.iter().filter(|m| !m.consistent).count();
    let expected_pairs = model_positions.map(|p| pairs as f64 / p);
    let collision_p = expected_pairs.map(|e| poisson_tail(e, equal_pairs));
    let estimate_bits = (equal_pairs > 0).then(|| (pairs as f64 / equal_pairs as f64).log2());
    let mut stats = BaseStats {
        name: name.to_string(),
        samples: values.len(),
        distinct: runs.len(),
        min: sorted[0],
        max: sorted[sorted.len() - 1],
        align,
        window,
        window_positions: window.1.saturating_sub(window.0) / align + 1,
        model_positions,
        model_bits,
        model_source,
        inconsistent,
        equal_pairs,
        expected_pairs,
        collision_p,
        estimate_bits,
        lower_bound_bits: (pairs.max(1) as f64).log2(),
        flags: Vec::new(),
    };
    stats.flags = flags_of(&stats, &values, env, r.is_some());
    Some(stats)
}

/// What stands out about a base's values: not randomized, repeating more
/// than the model allows, values the model does not allow, values outside
/// the window (when the region is known).
fn flags_of(st: &BaseStats, values: &[u64], env: &ModeEnv, has_region: bool) -> Vec<String> {
    let (name, n, equal_pairs) = (st.name.as_str(), st.samples, st.equal_pairs);
    let (collision_p, expected_pairs, inconsistent) =
        (st.collision_p, st.expected_pairs, st.inconsistent);
    let (window, align) = (st.window, st.align);
    let mut flags = Vec::new();
    if st.distinct == 1 && n >= 2 {
        let why = if env.nokaslr > 0 {
            "nokaslr on the command line"
        } else if env.kasan && name != "kernel_text" {
            "KASAN switches RANDOMIZE_MEMORY off (kaslr_memory_enabled())"
        } else {
            "RANDOMIZE_BASE/RANDOMIZE_MEMORY off, or no entropy source"
        };
        flags.push(format!(
            "not randomized: the same value in all {n} boots ({why})"
        ));
    } else if collision_p.is_some_and(|p| p < 0.01) {
        flags.push(format!(
            "repeats far more than the model allows: {equal_pairs} equal pairs where {:.2} are expected (p={:.1e})",
            expected_pairs.unwrap_or(0.0),
            collision_p.unwrap_or(0.0)
        ));
    }
    if inconsistent > 0 {
        flags.push(format!("{inconsistent} boots chose a value the model does not allow (another kernel version or config?)"));
    }
    let outside = values
        .iter()
        .filter(|v| **v < window.0 || **v > window.1 || !(**v - window.0).is_multiple_of(align))
        .count();
    if outside > 0 && has_region {
        flags.push(format!("{outside} values outside the window or misaligned"));
    }
    flags
}

impl Stats {
    /// The memory regions' model bits together (chain rule: the sum of each
    /// base's bits given the ones before it), and that figure capped at 64:
    /// `kernel_randomize_memory()` draws all three offsets from one
    /// `prandom` state seeded with one 64-bit `kaslr_get_random_long()`.
    pub fn memory_joint_bits(&self) -> Option<(f64, f64)> {
        let sum: Option<f64> = self
            .bases
            .iter()
            .filter(|b| b.name != "kernel_text")
            .map(|b| b.model_bits)
            .sum();
        sum.map(|s| (s, s.min(64.0)))
    }

    pub fn degraded(&self) -> bool {
        self.bases.iter().any(|b| !b.flags.is_empty())
    }

    pub fn text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "KASLR over {} boots, {}-level paging{}, RAM up to {}",
            self.boots,
            self.levels,
            if self.release.is_empty() {
                String::new()
            } else {
                format!(", Linux {}", self.release)
            },
            human(self.ram_end)
        );
        let _ = writeln!(
            o,
            "  {:<17} {:>9} {:>16} {:>16} {:>11} {:>10} {:>8} {:>13} {:>11}",
            "base",
            "distinct",
            "min",
            "max",
            "positions",
            "spread",
            "model",
            "equal pairs",
            "observed"
        );
        for b in &self.bases {
            let positions = b.model_positions.map_or("-".into(), |p| format!("{p:.0}"));
            let spread = format!("{:.1}%", b.spread_fraction() * 100.0);
            let model = b.model_bits.map_or("-".into(), |v| format!("{v:.1} b"));
            let pairs = match b.expected_pairs {
                Some(e) => format!("{} ({e:.2})", b.equal_pairs),
                None => b.equal_pairs.to_string(),
            };
            let est = match b.estimate_bits {
                Some(e) => format!("{e:.1} b"),
                None => format!(">{:.1} b", b.lower_bound_bits),
            };
            let _ = writeln!(
                o,
                "  {:<17} {:>4}/{:<4} {:016x} {:016x} {:>11} {:>10} {:>8} {:>13} {:>11}",
                b.name, b.distinct, b.samples, b.min, b.max, positions, spread, model, pairs, est
            );
        }
        let _ = writeln!(o, "  positions: what the kernel's code allows (mean per boot), in steps of the base's alignment; spread: (max-min)/align+1 against the window's positions;");
        let _ = writeln!(o, "  model: log2(positions); equal pairs (expected under the model); observed: Renyi-2 estimate log2(pairs/equal pairs), or a lower bound if none");
        for b in &self.bases {
            let _ = writeln!(
                o,
                "  {}: window {:016x}-{:016x} ({} positions of {}); model: {}",
                b.name,
                b.window.0,
                b.window.1,
                b.window_positions,
                human(b.align),
                b.model_source
            );
        }
        if let Some((sum, capped)) = self.memory_joint_bits() {
            let _ = writeln!(
                o,
                "  direct map, vmalloc and vmemmap together: {sum:.1} bits by the model, at most {capped:.1}: one 64-bit seed (prandom_seed_state) draws all three"
            );
        }
        for a in &self.assumptions {
            let _ = writeln!(o, "  assumption: {a}");
        }
        let mut any = false;
        for b in &self.bases {
            for f in &b.flags {
                any = true;
                let _ = writeln!(o, "  DEGRADED {}: {f}", b.name);
            }
        }
        if !any {
            let _ = writeln!(o, "  no degraded base: every base took distinct values at the rate its model predicts");
        }
        o
    }

    pub fn json(&self) -> Value {
        json!({
            "paging_levels": self.levels,
            "boots": self.boots,
            "release": self.release,
            "ram_end": format!("0x{:016x}", self.ram_end),
            "assumptions": self.assumptions,
            "degraded": self.degraded(),
            "memory_joint_bits": self.memory_joint_bits().map(|j| j.0),
            "memory_joint_bits_capped": self.memory_joint_bits().map(|j| j.1),
            "bases": self.bases.iter().map(|b| json!({
                "name": b.name, "samples": b.samples, "distinct": b.distinct,
                "min": format!("0x{:016x}", b.min), "max": format!("0x{:016x}", b.max),
                "align": b.align,
                "window_start": format!("0x{:016x}", b.window.0), "window_end": format!("0x{:016x}", b.window.1),
                "window_positions": b.window_positions,
                "model_positions": b.model_positions, "model_bits": b.model_bits, "model": b.model_source,
                "inconsistent_boots": b.inconsistent,
                "spread_fraction": b.spread_fraction(),
                "equal_pairs": b.equal_pairs, "expected_equal_pairs": b.expected_pairs,
                "collision_probability": b.collision_p,
                "estimate_bits": b.estimate_bits, "lower_bound_bits": b.lower_bound_bits,
                "flags": b.flags,
            })).collect::<Vec<_>>(),
        })
    }
}
