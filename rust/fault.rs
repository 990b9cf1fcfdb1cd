// SPDX-License-Identifier: GPL-2.0

//! vmlayout:vmalloc_sync_fault: observe kernel-mode page faults in vmalloc,
//! module and vmemmap space and compare the faulting CPU's path with the
//! reference. The probe hangs off `exceptions:page_fault_kernel`, whose
//! static key keeps the fault path free when no probe is registered.

use core::ffi::c_void;
use core::marker::PhantomPinned;

use kernel::{
    bindings,
    error::to_result,
    ffi::{c_int, c_ulong},
    prelude::*,
};

use crate::helpers::{
    active_table, vmlayout_fault_probe_register, vmlayout_fault_probe_unregister,
};
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
/// The kernel crate's bindings declare the event (the header is in
/// `rust/bindings/bindings_helper.h`) and `declare_trace!` reaches it, as
/// binder's `trace.rs` does.
mod trace {
    /// One fault as the event takes it: `struct vmlayout_sync_fault` of
    /// `include/trace/events/vmlayout.h`. In tree, the kernel's bindings
    /// have it.
    #[cfg(not(vmlayout_external))]
    pub(crate) type SyncFault = kernel::bindings::vmlayout_sync_fault;

    #[cfg(not(vmlayout_external))]
    kernel::tracepoint::declare_trace! {
        unsafe fn vmalloc_sync_fault(fault: *const SyncFault);
    }

    #[cfg(vmlayout_external)]
    use crate::compat::trace::vmalloc_sync_fault;
    #[cfg(vmlayout_external)]
    pub(crate) use crate::compat::trace::SyncFault;

    /// A watched region, as `enum vmlayout_fault_region` numbers it.
    #[derive(Clone, Copy)]
    #[repr(i32)]
    pub(crate) enum FaultRegion {
        Vmalloc = 0,
        Modules = 1,
        Vmemmap = 2,
    }

    /// Emit the event if it is enabled.
    #[inline(always)]
    pub(super) fn sync_fault(fault: &SyncFault) {
        // SAFETY: `fault` is a live reference for the whole call.
        unsafe { vmalloc_sync_fault(fault) }
    }
}

use trace::FaultRegion;

/// The probe on exceptions:page_fault_kernel and what it needs, fixed at
/// load. Pinned: the probe holds its address from registration (at the end
/// of its initializer) until the drop unregisters it.
#[pin_data(PinnedDrop)]
pub(crate) struct FaultWatch {
    top: Level,
    phys_mask: u64,
    page_offset_base: u64,
    reference: u64,
    /// (first, last, region) of the watched regions.
    regions: [(u64, u64, FaultRegion); 3],
    #[pin]
    _pinned: PhantomPinned,
}

/// The probe on exceptions:page_fault_kernel, called by
/// `vmlayout_events.c` with the `FaultWatch` it was registered with, which
/// unregisters and waits for running probes before it goes away. Runs in
/// the fault path: reads a few entries with the nofault reader, never
/// sleeps, allocates or locks.
#[no_mangle]
extern "C" fn vmlayout_on_page_fault(
    watch: &FaultWatch,
    address: c_ulong,
    ip: c_ulong,
    error_code: c_ulong,
) {
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
    trace::sync_fault(&trace::SyncFault {
        address,
        ip,
        error_code,
        ref_entry: diff.reference,
        cur_entry: diff.current,
        region: region as c_int,
        level: diff.level.map_or(0, |l| l as c_int),
        // Numbered as `enum vmlayout_fault_class` (`SyncClass`'s order).
        class: diff.class as c_int,
    });
}

impl FaultWatch {
    /// Attach the probe to exceptions:page_fault_kernel.
    ///
    /// The watched windows start at the live bases and are as large as the
    /// documented map (`doc`, this paging mode's) says each region is.
    pub(crate) fn register(
        live: &Live,
        doc: &DocMap<'_>,
        reference: u64,
        top: Level,
        phys_mask: u64,
    ) -> impl PinInit<Self, Error> {
        let size_of = |id: RegionId| {
            doc.index_of(id)
                .map_or(0, |i| doc.regions[i].end.wrapping_sub(doc.start_of(i)))
        };
        let regions = [
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
        ];
        let page_offset_base = live.page_offset_base;
        try_pin_init!(FaultWatch {
            top,
            phys_mask,
            page_offset_base,
            reference,
            regions,
            _pinned: PhantomPinned,
        }? Error)
        .pin_chain(|watch| {
            // SAFETY: the watch is pinned, and its drop unregisters the
            // probe before it goes away (also when this fails: then there
            // is nothing to unregister, and nothing is).
            let ret = unsafe { vmlayout_fault_probe_register(watch.as_ptr()) };
            if ret == -(bindings::ENODEV as c_int) {
                pr_warn!("exceptions:page_fault_kernel not found (CONFIG_TRACING off?)\n");
            }
            to_result(ret)
        })
    }

    /// This watch as the probe's data.
    fn as_ptr(&self) -> *const c_void {
        core::ptr::from_ref(self).cast()
    }
}

#[pinned_drop]
impl PinnedDrop for FaultWatch {
    fn drop(self: Pin<&mut Self>) {
        // No CPU runs the probe with this watch past this point.
        vmlayout_fault_probe_unregister(self.as_ptr());
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
