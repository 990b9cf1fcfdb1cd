// SPDX-License-Identifier: GPL-2.0

//! vmlayout:vmalloc_sync_fault: observe kernel-mode page faults in vmalloc,
//! module and vmemmap space and compare the faulting CPU's path with the
//! reference. The probe hangs off `exceptions:page_fault_kernel`, whose
//! static key keeps the fault path free when no probe is registered.

use core::ffi::{c_void, CStr};
use core::marker::PhantomPinned;

use kernel::{
    bindings,
    error::to_result,
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
/// load. Pinned: the tracepoint holds its address from registration (in its
/// initializer) until the drop unregisters it.
#[pin_data(PinnedDrop)]
pub(crate) struct FaultWatch {
    top: Level,
    phys_mask: u64,
    page_offset_base: u64,
    reference: u64,
    /// (first, last, region) of the watched regions.
    regions: [(u64, u64, FaultRegion); 3],
    tracepoint: *mut bindings::tracepoint,
    #[pin]
    _pinned: PhantomPinned,
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
    // SAFETY: the watch unregisters the probe and waits for running probes
    // before it is dropped.
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
    trace::sync_fault(&trace::SyncFault {
        address,
        ip: ip as c_ulong,
        error_code,
        ref_entry: diff.reference,
        cur_entry: diff.current,
        region: region as c_int,
        level: diff.level.map_or(0, |l| l as c_int),
        // Numbered as `enum vmlayout_fault_class` (`SyncClass`'s order).
        class: diff.class as c_int,
    });
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

/// exceptions:page_fault_kernel, which is not exported by name.
fn page_fault_kernel() -> Result<*mut bindings::tracepoint> {
    let mut tp: *mut bindings::tracepoint = core::ptr::null_mut();
    // SAFETY: the callback only writes `tp`.
    unsafe {
        bindings::for_each_kernel_tracepoint(Some(find_page_fault_kernel), (&raw mut tp).cast())
    };
    if tp.is_null() {
        pr_warn!("exceptions:page_fault_kernel not found (CONFIG_TRACING off?)\n");
        return Err(ENODEV);
    }
    Ok(tp)
}

/// The probe as the untyped pointer the tracepoint API takes.
fn probe() -> *mut c_void {
    on_page_fault_kernel as *const () as *mut c_void
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
        let make = move |slot: *mut Self| -> Result {
            let tracepoint = page_fault_kernel()?;
            // SAFETY: `slot` is valid for writes (the initializer's contract).
            unsafe {
                slot.write(FaultWatch {
                    top,
                    phys_mask,
                    page_offset_base,
                    reference,
                    regions,
                    tracepoint,
                    _pinned: PhantomPinned,
                })
            };
            // SAFETY: the probe has the tracepoint's prototype; the data is
            // the pinned watch, which unregisters before it goes away. On
            // failure nothing is registered and the watch has nothing to free.
            to_result(unsafe {
                bindings::tracepoint_probe_register(tracepoint, probe(), slot.cast())
            })
        };
        // SAFETY: on `Ok` the slot is initialized; on `Err` it holds plain
        // data only and no registration refers to it.
        unsafe { pin_init::pin_init_from_closure(make) }
    }
}

#[pinned_drop]
impl PinnedDrop for FaultWatch {
    fn drop(self: Pin<&mut Self>) {
        let data = core::ptr::from_ref::<Self>(&*self)
            .cast_mut()
            .cast::<c_void>();
        // SAFETY: registered in `register` with the same probe and data.
        unsafe { bindings::tracepoint_probe_unregister(self.tracepoint, probe(), data) };
        // No CPU runs the probe past this point (tracepoint_synchronize_unregister()).
        crate::helpers::tracepoint_synchronize_unregister();
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
