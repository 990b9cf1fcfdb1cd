// SPDX-License-Identifier: GPL-2.0

//! The core's unit checks (`vmlayout_core/unit.rs`) as the KUnit suite
//! `vmlayout_core` (`CONFIG_X86_VMLAYOUT_KUNIT_TEST`); the host runs the
//! same checks with `cargo test`. Here the documented maps are the ones
//! generated from this tree's `mm.rst`.

use kernel::prelude::*;

#[kunit_tests(vmlayout_core)]
mod tests {
    use crate::vmlayout_core::{generated_maps::MAPS, unit};

    #[test]
    fn documented_maps_are_usable() {
        assert_eq!(unit::documented_maps_are_usable(&MAPS), Ok(()));
    }

    #[test]
    fn parse_errors_name_the_line() {
        assert_eq!(unit::parse_errors_name_the_line(), Ok(()));
    }

    #[test]
    fn entry_flags_combine_across_levels() {
        assert_eq!(unit::entry_flags_combine_across_levels(), Ok(()));
    }

    #[test]
    fn records_format_exactly() {
        assert_eq!(unit::records_format_exactly(), Ok(()));
    }

    #[test]
    fn audit_retries_are_bounded() {
        assert_eq!(unit::audit_retries_are_bounded(), Ok(()));
    }

    #[test]
    fn claims_are_handed_out_once() {
        assert_eq!(unit::claims_are_handed_out_once(), Ok(()));
    }

    #[test]
    fn walk_counts_add_up() {
        assert_eq!(unit::walk_counts_add_up(), Ok(()));
    }
}
