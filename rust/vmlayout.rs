// SPDX-License-Identifier: GPL-2.0

//! vmlayout: check the live x86-64 kernel virtual memory layout against its
//! documented map (`Documentation/arch/x86/x86_64/mm.rst`).
//!
//! Files under `/sys/kernel/debug/vmlayout/` (record format in
//! `Documentation/vmlayout/format.rst`):
//!
//! * `summary`: paging mode and the live bases, each with its source.
//! * `layout`: every documented region held against the live kernel.

use core::fmt;

use kernel::{
    debugfs::{Dir, File},
    prelude::*,
    sync::Arc,
};

mod live;

/// The kernel-independent half, shared with the host crate in `tools/vmlayout/`.
/// Public so that the shared files' `pub` items are reachable, as they are in
/// the host crate.
pub mod vmlayout_core {
    pub mod generated_maps;
    pub mod layout;
    pub mod map;
    pub mod record;
}

use vmlayout_core::{
    generated_maps::MAPS,
    layout::{evaluate, Live, TEXT_SOURCE},
    map::DocMap,
    record::{header, Record},
};

module! {
    type: Vmlayout,
    name: "vmlayout",
    authors: ["vmlayout developers"],
    description: "Check the live x86-64 kernel memory layout against its documented map",
    license: "GPL",
}

/// What every file reads from.
struct State {
    live: Live,
}

impl State {
    /// The documented maps for the live paging mode, current map first.
    fn maps(&self) -> impl Iterator<Item = &'static DocMap<'static>> + '_ {
        MAPS.iter().filter(|m| m.paging == self.live.paging)
    }
}

fn show_summary(state: &Arc<State>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let live = &state.live;
    header(f, "summary")?;
    Record::new(f, "paging")?
        .num("levels", live.paging.levels())?
        .text("source", "pgdir_shift")?
        .end()?;
    let bases: [(&str, u64, &str); 7] = [
        (
            "page_offset_base",
            live.page_offset_base,
            "page_offset_base",
        ),
        ("vmalloc_base", live.vmalloc_base, "vmalloc_base"),
        ("vmemmap_base", live.vmemmap_base, "vmemmap_base"),
        ("kernel_text", live.text_start, TEXT_SOURCE),
        (
            "text_slide",
            live.text_slide(),
            "kernel_text - __START_KERNEL_map - CONFIG_PHYSICAL_START",
        ),
        ("phys_base", live.phys_base, "phys_base"),
        ("ram_end", live.ram_end, "System RAM in iomem"),
    ];
    for (name, value, source) in bases {
        Record::new(f, "base")?
            .text("name", name)?
            .hex("value", value)?
            .text("source", source)?
            .end()?;
    }
    for map in state.maps() {
        Record::new(f, "map")?
            .text("name", map.name)?
            .text("source", map.source)?
            .num("regions", map.regions.len())?
            .end()?;
    }
    Ok(())
}

fn show_layout(state: &Arc<State>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    header(f, "layout")?;
    for map in state.maps() {
        let mut result = Ok(());
        evaluate(map, &state.live, |r| {
            if result.is_err() {
                return;
            }
            let row = &map.regions[r.index];
            result = (|| {
                Record::new(&mut *f, "region")?
                    .text("map", map.name)?
                    .num("index", r.index)?
                    .text("name", row.id.name())?
                    .text("kind", row.kind.name())?
                    .hex("doc_start", r.doc_start)?
                    .hex("doc_end", r.doc_end)?
                    .opt_hex("live_start", r.live.map(|l| l.0))?
                    .opt_hex("live_end", r.live.map(|l| l.1))?
                    .text("placement", r.placement.name())?
                    .num("slide", r.slide())?
                    .hex("window_start", r.window.0)?
                    .hex("window_end", r.window.1)?
                    .num("align", r.align)?
                    .text("verdict", r.verdict.name())?
                    .text("severity", r.verdict.severity())?
                    .text("source", r.source)?
                    .text("var", row.var.unwrap_or("-"))?
                    .text("desc", row.desc)?
                    .text("reason", r.reason)?
                    .end()
            })();
        });
        result?;
    }
    Ok(())
}

/// A debugfs file sharing the module's state.
type StateFile = Pin<KBox<File<Arc<State>>>>;

struct Vmlayout {
    // Files before the directory: fields drop in order, files first.
    _files: [StateFile; 2],
    _dir: Dir,
}

impl kernel::Module for Vmlayout {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let live = live::read();
        let state = Arc::new(State { live }, GFP_KERNEL)?;
        let dir = Dir::new(c"vmlayout");
        let files = [
            KBox::pin_init(
                dir.read_callback_file(c"summary", state.clone(), &show_summary),
                GFP_KERNEL,
            )?,
            KBox::pin_init(
                dir.read_callback_file(c"layout", state, &show_layout),
                GFP_KERNEL,
            )?,
        ];
        pr_info!("loaded, {}-level paging\n", live.paging.levels());
        Ok(Self {
            _files: files,
            _dir: dir,
        })
    }
}
