// SPDX-License-Identifier: GPL-2.0

//! vmlayout:vmalloc_sync_fault: observe kernel-mode page faults in vmalloc,
//! module and vmemmap space and compare the faulting CPU's path with the
//! reference. The probe hangs off `exceptions:page_fault_kernel`, whose
//! static key keeps the fault path free when no probe is registered.

use core::ffi::{c_int, c_ulong, c_void, CStr};

use kernel::{bindings, cpu::CpuId, prelude::*};

use crate::helpers::active_table;
use crate::scan::DirectMap;
use crate::vmlayout_core::walk::TableSource;
use crate::vmlayout_core::{
    layout::{Live, MODULES_END},
    pte::Level,
    sync::compare_paths,
};

/// Like `kernel::declare_trace!`, which only reaches tracepoints that the
/// kernel crate's own bindings declare: an out-of-tree module's
/// `__tracepoint_*` and `rust_do_trace_*` (from `rust/vmlayout_events.c`)
/// are declared here instead.
mod trace {
    use core::ffi::{c_int, c_ulong};
    use kernel::ffi::c_char;

    // `struct tracepoint` holds a zero-length array, which rustc calls not
    // FFI-safe; the static is only named (its static key), never passed.
    #[allow(improper_ctypes)]
    extern "C" {
        static __tracepoint_vmalloc_sync_fault: kernel::bindings::tracepoint;
        fn rust_do_trace_vmalloc_sync_fault(
            address: c_ulong,
            ip: c_ulong,
            error_code: c_ulong,
            cpu: c_int,
            region: *const c_char,
            level: c_int,
            ref_entry: u64,
            cur_entry: u64,
            class: *const c_char,
        );
    }

    /// Emit vmlayout:vmalloc_sync_fault if it is enabled.
    ///
    /// # Safety
    ///
    /// `region` and `class` must be NUL-terminated strings.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn vmalloc_sync_fault(
        address: c_ulong,
        ip: c_ulong,
        error_code: c_ulong,
        cpu: c_int,
        region: *const c_char,
        level: c_int,
        ref_entry: u64,
        cur_entry: u64,
        class: *const c_char,
    ) {
        // SAFETY: querying a tracepoint's static key is always fine.
        let enabled = unsafe {
            kernel::jump_label::static_branch_unlikely!(
                __tracepoint_vmalloc_sync_fault,
                kernel::bindings::tracepoint,
                key
            )
        };
        if enabled {
            // SAFETY: the caller guarantees the strings.
            unsafe {
                rust_do_trace_vmalloc_sync_fault(
                    address, ip, error_code, cpu, region, level, ref_entry, cur_entry, class,
                )
            };
        }
    }
}

/// What the probe needs, fixed at load.
pub(crate) struct FaultWatch {
    top: Level,
    phys_mask: u64,
    page_offset_base: u64,
    reference: u64,
    /// (first, last, name) of the watched regions.
    regions: [(u64, u64, &'static CStr); 3],
    tracepoint: *mut bindings::tracepoint,
}

// SAFETY: the tracepoint pointer names a static kernel object; everything
// else is plain data.
unsafe impl Send for FaultWatch {}
// SAFETY: as above; the probe only reads.
unsafe impl Sync for FaultWatch {}

fn class_name(class: crate::vmlayout_core::sync::SyncClass) -> &'static CStr {
    use crate::vmlayout_core::sync::SyncClass::*;
    match class {
        Unsynced => c"unsynced",
        Spurious => c"spurious",
        Unmapped => c"unmapped",
    }
}

/// The probe on exceptions:page_fault_kernel. Runs in the fault path: reads
/// a few entries with `copy_from_kernel_nofault()`, never sleeps, allocates
/// or locks.
///
/// # Safety
///
/// `data` is the `FaultWatch` registered with the probe; `regs` the fault's
/// registers.
unsafe extern "C" fn on_page_fault_kernel(
    data: *mut c_void,
    address: c_ulong,
    regs: *mut bindings::pt_regs,
    error_code: c_ulong,
) {
    // SAFETY: the module unregisters the probe and waits for running probes
    // before freeing `data`.
    let watch = unsafe { &*data.cast::<FaultWatch>() };
    let addr: u64 = address;
    let Some(&(_, _, region)) = watch
        .regions
        .iter()
        .find(|&&(first, last, _)| first <= addr && addr <= last)
    else {
        return;
    };
    let mut src = DirectMap::new(watch.page_offset_base);
    let diff = compare_paths(
        watch.top,
        watch.phys_mask,
        addr,
        watch.reference,
        active_table(),
        |table, index| src.read_entry(table, index),
    );
    // SAFETY: `regs` is the faulting context's register frame.
    let ip = unsafe { (*regs).ip };
    // SAFETY: both strings are C string literals.
    unsafe {
        trace::vmalloc_sync_fault(
            address,
            ip as c_ulong,
            error_code,
            CpuId::current().as_u32() as c_int,
            region.as_char_ptr(),
            diff.level.map_or(0, |l| l as c_int),
            diff.reference,
            diff.current,
            class_name(diff.class).as_char_ptr(),
        )
    };
}

/// `for_each_kernel_tracepoint()` callback: note `page_fault_kernel`.
///
/// # Safety
///
/// `tp` must be a live kernel tracepoint and `found` point to a writable
/// `*mut tracepoint`.
unsafe extern "C" fn find_page_fault_kernel(tp: *mut bindings::tracepoint, found: *mut c_void) {
    // SAFETY: `tp` is a live kernel tracepoint, `found` our out-pointer.
    unsafe {
        if CStr::from_char_ptr((*tp).name.cast()) == c"page_fault_kernel" {
            *found.cast::<*mut bindings::tracepoint>() = tp;
        }
    }
}

impl FaultWatch {
    /// Prepare the probe's data; `register` attaches it.
    pub(crate) fn new(live: &Live, reference: u64, top: Level, phys_mask: u64) -> Self {
        let vmalloc_size = if top == Level::Pgd {
            12800u64 << 40
        } else {
            32u64 << 40
        };
        FaultWatch {
            top,
            phys_mask,
            page_offset_base: live.page_offset_base,
            reference,
            regions: [
                (
                    live.vmalloc_base,
                    live.vmalloc_base + (vmalloc_size - 1),
                    c"vmalloc",
                ),
                (live.modules_vaddr(), MODULES_END - 1, c"modules"),
                (
                    live.vmemmap_base,
                    live.vmemmap_base + ((1u64 << 40) - 1),
                    c"vmemmap",
                ),
            ],
            tracepoint: core::ptr::null_mut(),
        }
    }

    /// Attach the probe to exceptions:page_fault_kernel.
    ///
    /// # Safety
    ///
    /// `self` must stay at this address until [`FaultWatch::unregister`].
    pub(crate) unsafe fn register(&mut self) -> Result {
        let mut tp: *mut bindings::tracepoint = core::ptr::null_mut();
        // SAFETY: the callback only writes `tp`.
        unsafe {
            bindings::for_each_kernel_tracepoint(Some(find_page_fault_kernel), (&raw mut tp).cast())
        };
        if tp.is_null() {
            pr_warn!("exceptions:page_fault_kernel not found (CONFIG_TRACING off?)\n");
            return Err(ENODEV);
        }
        let probe = on_page_fault_kernel as *const () as *mut c_void;
        // SAFETY: the probe has the tracepoint's prototype; `self` outlives
        // the registration (caller's guarantee).
        let ret = unsafe {
            bindings::tracepoint_probe_register(tp, probe, core::ptr::from_mut(self).cast())
        };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        self.tracepoint = tp;
        Ok(())
    }

    /// Detach the probe and wait until no CPU runs it.
    pub(crate) fn unregister(&mut self) {
        if self.tracepoint.is_null() {
            return;
        }
        let probe = on_page_fault_kernel as *const () as *mut c_void;
        // SAFETY: registered above with the same probe and data.
        unsafe {
            bindings::tracepoint_probe_unregister(
                self.tracepoint,
                probe,
                core::ptr::from_mut(self).cast(),
            );
            bindings::synchronize_rcu();
        }
        self.tracepoint = core::ptr::null_mut();
    }
}

impl Drop for FaultWatch {
    fn drop(&mut self) {
        self.unregister();
    }
}

/// `selftest` command `fault`: read the guard page after a fresh vmalloc
/// area with `copy_from_kernel_nofault()`. The read must fail; the probe
/// sees an `unmapped` fault in vmalloc space.
pub(crate) fn guard_page_fault() -> Result {
    let area = VBox::<[u8; 4096]>::zeroed(GFP_KERNEL)?;
    let guard = (&raw const *area as usize + 4096) as *const c_void;
    let mut byte = 0u8;
    // SAFETY: a fault-tolerant read into a local byte.
    let ret = unsafe { bindings::copy_from_kernel_nofault((&raw mut byte).cast(), guard, 1) };
    if ret == 0 {
        pr_warn!("selftest: the guard page after a vmalloc area is mapped\n");
        return Err(EIO);
    }
    Ok(())
}
