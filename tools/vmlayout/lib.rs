// SPDX-License-Identifier: GPL-2.0

//! The kernel-independent half of vmlayout, built for the host.
//!
//! The files live in `rust/vmlayout_core/` and are compiled unchanged into
//! the kernel module; they are `no_std` and never allocate. This crate lets
//! `cargo test` cover them and lets `mmgen` (the map generator run when the
//! module is built) share the parser.

#![no_std]

#[path = "../../rust/vmlayout_core/batch.rs"]
pub mod batch;
#[path = "../../rust/vmlayout_core/capture.rs"]
pub mod capture;
#[path = "../../rust/vmlayout_core/changed.rs"]
pub mod changed;
#[path = "../../rust/vmlayout_core/check.rs"]
pub mod check;
#[path = "../../rust/vmlayout_core/direct_map.rs"]
pub mod direct_map;
#[path = "../../rust/vmlayout_core/layout.rs"]
pub mod layout;
#[path = "../../rust/vmlayout_core/map.rs"]
pub mod map;
#[path = "../../rust/vmlayout_core/mm_doc.rs"]
pub mod mm_doc;
#[path = "../../rust/vmlayout_core/pace.rs"]
pub mod pace;
#[path = "../../rust/vmlayout_core/pte.rs"]
pub mod pte;
#[path = "../../rust/vmlayout_core/record.rs"]
pub mod record;
/// Reading records back (host only).
pub mod record_parse;
#[path = "../../rust/vmlayout_core/report.rs"]
pub mod report;
#[path = "../../rust/vmlayout_core/rules.rs"]
pub mod rules;
#[path = "../../rust/vmlayout_core/runs.rs"]
pub mod runs;
#[path = "../../rust/vmlayout_core/seen.rs"]
pub mod seen;
#[path = "../../rust/vmlayout_core/sync.rs"]
pub mod sync;
#[path = "../../rust/vmlayout_core/unit.rs"]
pub mod unit;
#[path = "../../rust/vmlayout_core/walk.rs"]
pub mod walk;
#[path = "../../rust/vmlayout_core/window.rs"]
pub mod window;
#[path = "../../rust/vmlayout_core/work.rs"]
pub mod work;
