// SPDX-License-Identifier: GPL-2.0

//! The kernel crate's API across the 7.x kernels vmlayout builds against.
//!
//! Every difference lives here, keyed on the version of the kernel built
//! against: out of tree, `Kbuild` sets `vmlayout_before_7_3` for Linux 7.2
//! (the oldest 7.x in the archive); in tree the module is part of the
//! kernel it builds with, and the newest API is the only one.
//!
//! | since | what the kernel crate has |
//! | --- | --- |
//! | 7.3 | `bool` module parameters; `ModuleParamAccess::value()` by value |
//! | 7.3 | `ModuleMetadata::THIS_MODULE`, a constant |

/// Declare the module through `$declare!(type, default)`: the type and the
/// default of `scan_on_load`. A `bool` since 7.3; before, a `u8` that is
/// set when not 0 (`scan_on_load=0` works on both).
#[cfg(not(vmlayout_before_7_3))]
macro_rules! with_scan_on_load {
    ($declare:ident) => {
        $declare!(bool, true);
    };
}

/// Declare the module (see above): 7.2's kernel crate has no `bool`
/// module parameters.
#[cfg(vmlayout_before_7_3)]
macro_rules! with_scan_on_load {
    ($declare:ident) => {
        $declare!(u8, 1);
    };
}

/// Whether `scan_on_load` is set.
#[cfg(not(vmlayout_before_7_3))]
pub(crate) fn scan_on_load() -> bool {
    crate::module_parameters::scan_on_load.value()
}

/// Whether `scan_on_load` is set (7.2: a `u8`, read by reference).
#[cfg(vmlayout_before_7_3)]
pub(crate) fn scan_on_load() -> bool {
    *crate::module_parameters::scan_on_load.value() != 0
}

/// This module's `struct module`, for `file_operations.owner` (out of
/// tree only: in tree, the kernel crate's debugfs names the owner).
#[cfg(all(vmlayout_external, not(vmlayout_before_7_3)))]
pub(crate) const THIS_MODULE: *mut kernel::bindings::module =
    <crate::Vmlayout as kernel::ModuleMetadata>::THIS_MODULE.as_ptr();

/// This module's `struct module` (7.2: `module!` keeps it in a static, which
/// a constant cannot read; the address of `__this_module` is a constant).
#[cfg(all(vmlayout_external, vmlayout_before_7_3))]
pub(crate) const THIS_MODULE: *mut kernel::bindings::module = {
    // Only its address is taken: the type need not be FFI-safe.
    #[allow(improper_ctypes)]
    extern "C" {
        static __this_module: kernel::types::Opaque<kernel::bindings::module>;
    }
    // SAFETY: the kernel's module loader makes `__this_module` for every
    // module, and it lives until the module is unloaded.
    unsafe { __this_module.get() }
};
