// SPDX-License-Identifier: GPL-2.0

//! vmlayout:vmalloc_sync_fault: observe kernel-mode page faults in vmalloc,
//! module and vmemmap space and compare the faulting CPU's path with the
//! reference. The probe hangs off `exceptions:page_fault_kernel`, whose
//! static key keeps the fault path free when no probe is registered.

use core::ffi::{c_void, CStr};

use kernel::{
    bindings,
    ffi::{c_int, c_ulong},
    prelude::*,
};

use crate::helpers::active_table;
use crate::scan::DirectMap;
use crate::vmlayout_core::walk::TableSource;
use crate::vmlayout_core::{
    layout::{Live, MODULES_END},
    map::{DocMap, RegionId},
    pte::Level,
    sync::compare_paths,
};

/// vmlayout:vmalloc_sync_fault (`include/trace/events/vmlayout.h`).
///
/// Built in tree, the kernel crate's bindings declare the event (the header is
/// in `rust/bindings/bindings_helper.h`) and `declare_trace!` reaches it, as
/// binder's `trace.rs` does. Built out of tree (`--cfg vmlayout_external`),
/// the kernel's bindings lack it: the same expansion is written out here
/// against `__tracepoint_*` and `rust_do_trace_*` from `vmlayout_events.c`.
mod trace {
    use kernel::ffi::{c_int, c_ulong};

    #[cfg(not(vmlayout_external))]
    kernel::tracepoint::declare_trace! {
        #[allow(clippy::too_many_arguments)]
        unsafe fn vmalloc_sync_fault(
            address: c_ulong,
            ip: c_ulong,
            error_code: c_ulong,
            region: c_int,
            level: c_int,
            ref_entry: u64,
            cur_entry: u64,
            class: c_int,
        );
    }

    #[cfg(vmlayout_external)]
    // `struct tracepoint` holds a zero-length array, which rustc calls not
    // FFI-safe; the static is only named (its static key), never passed.
    #[allow(improper_ctypes)]
    extern "C" {
        static __tracepoint_vmalloc_sync_fault: kernel::bindings::tracepoint;
        fn rust_do_trace_vmalloc_sync_fault(
            address: c_ulong,
            ip: c_ulong,
            error_code: c_ulong,
            region: c_int,
            level: c_int,
            ref_entry: u64,
            cur_entry: u64,
            class: c_int,
        );
    }

    /// What `declare_trace!` expands to, for the out-of-tree build.
    ///
    /// # Safety
    ///
    /// Always safe to call: every argument is an integer.
    #[cfg(vmlayout_external)]
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn vmalloc_sync_fault(
        address: c_ulong,
        ip: c_ulong,
        error_code: c_ulong,
        region: c_int,
        level: c_int,
        ref_entry: u64,
        cur_entry: u64,
        class: c_int,
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
            // SAFETY: integers only; the event copies them.
            unsafe {
                rust_do_trace_vmalloc_sync_fault(
                    address, ip, error_code, region, level, ref_entry, cur_entry, class,
                )
            };
        }
    }

    /// A watched region, as `enum vmlayout_fault_region` numbers it.
    #[derive(Clone, Copy)]
    #[repr(i32)]
    pub(crate) enum FaultRegion {
        Vmalloc = 0,
        Modules = 1,
        Vmemmap = 2,
    }

    /// Emit the event if it is enabled. `class` is numbered as
    /// `enum vmlayout_fault_class` (`SyncClass`'s order).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn sync_fault(
        address: c_ulong,
        ip: c_ulong,
        error_code: c_ulong,
        region: FaultRegion,
        level: c_int,
        ref_entry: u64,
        cur_entry: u64,
        class: crate::vmlayout_core::sync::SyncClass,
    ) {
        // SAFETY: the event takes integers only; always safe to call.
        unsafe {
            vmalloc_sync_fault(
                address,
                ip,
                error_code,
                region as c_int,
                level,
                ref_entry,
                cur_entry,
                class as c_int,
            )
        }
    }
}

use trace::FaultRegion;

/// What the probe needs, fixed at load.
pub(crate) struct FaultWatch {
    top: Level,
    phys_mask: u64,
    page_offset_base: u64,
    reference: u64,
    /// (first, last, region) of the watched regions.
    regions: [(u64, u64, FaultRegion); 3],
    tracepoint: *mut bindings::tracepoint,
}

// SAFETY: the tracepoint pointer names a static kernel object; everything
// else is plain data.
unsafe impl Send for FaultWatch {}
// SAFETY: as above; the probe only reads.
unsafe impl Sync for FaultWatch {}

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
    let addr = address as u64;
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
    trace::sync_fault(
        address,
        ip as c_ulong,
        error_code,
        region,
        diff.level.map_or(0, |l| l as c_int),
        diff.reference,
        diff.current,
        diff.class,
    );
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
    ///
    /// The watched windows start at the live bases and are as large as the
    /// documented map (`doc`, this paging mode's) says each region is.
    pub(crate) fn new(
        live: &Live,
        doc: &DocMap<'_>,
        reference: u64,
        top: Level,
        phys_mask: u64,
    ) -> Self {
        let size_of = |id: RegionId| {
            doc.index_of(id)
                .map_or(0, |i| doc.regions[i].end.wrapping_sub(doc.start_of(i)))
        };
        FaultWatch {
            top,
            phys_mask,
            page_offset_base: live.page_offset_base,
            reference,
            regions: [
                (
                    live.vmalloc_base,
                    live.vmalloc_base.saturating_add(size_of(RegionId::Vmalloc)),
                    FaultRegion::Vmalloc,
                ),
                (live.modules_vaddr(), MODULES_END - 1, FaultRegion::Modules),
                (
                    live.vmemmap_base,
                    live.vmemmap_base.saturating_add(size_of(RegionId::Vmemmap)),
                    FaultRegion::Vmemmap,
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
        }
        crate::helpers::tracepoint_synchronize_unregister();
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
