// SPDX-License-Identifier: GPL-2.0

//! `vmlayout`, the userspace reporter: reads what the module shows (its
//! debugfs directory, or a snapshot of it) and turns it into a report for a
//! person or a machine, a diff between two kernels, a picture of the kernel
//! half, and KASLR statistics over many boots.
//!
//! The record grammar is the module's own (`vmlayout_core::record_parse`);
//! this crate adds the typed view of each file and what is made of it.

pub mod check;
pub mod corpus;
pub mod diff;
pub mod docs;
pub mod draw;
pub mod elf;
pub mod facts;
pub mod kaslr;
pub mod kdump;
pub mod lzo;
pub mod model;
pub mod pack;
pub mod report;
pub mod source;
