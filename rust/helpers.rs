// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers around `rust/vmlayout_helpers.c`: CR3 and interrupts,
//! per-CPU workers, pinned mms.

use core::ffi::{c_int, c_uint, c_void};

use kernel::prelude::*;

use crate::vmlayout_core::report;

/// The kernel half of a top-level table: its upper 256 entries.
pub(crate) type KernelHalf = [u64; 256];

/// A process as the audit names it.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct TaskName {
    pub(crate) pid: c_int,
    pub(crate) comm: [u8; 16],
}

/// `struct vmlayout_cpu_works`, opaque: reached only through
/// [`OnEachCpu`]'s exclusive reference, from whichever thread holds it.
#[repr(C)]
struct CpuWorks {
    _opaque: [u8; 0],
}

// The helpers of `vmlayout_helpers.c` (and `vmlayout_events.c`'s, below),
// declared as there. Those declared
// `safe` have no precondition beyond their Rust types: they take no
// pointer but references (valid and exclusive for the call, which writes
// through them only within the referent), read CPU or kernel state that is
// fixed after boot or local to the calling CPU, or sleep (and every caller
// is in process context, where sleeping is allowed).
unsafe extern "C" {
    safe fn vmlayout_locked_down() -> c_int;
    pub(crate) safe fn vmlayout_release(buf: &mut [u8; 65]) -> c_int;
    #[cfg_attr(MODULE, allow(dead_code))]
    pub(crate) safe fn vmlayout_system_running() -> bool;
    pub(crate) safe fn vmlayout_sme_mask() -> u64;
    #[cfg_attr(not(MODULE), allow(dead_code))]
    safe fn vmlayout_reference_cr3(out: &mut u64) -> c_int;
    #[cfg(not(MODULE))]
    safe fn vmlayout_init_mm_table() -> u64;
    safe fn vmlayout_section_of(addr: u64) -> c_int;
    safe fn vmlayout_modules_known_start();
    safe fn vmlayout_modules_known_stop();
    #[cfg_attr(MODULE, allow(dead_code))]
    safe fn vmlayout_efi_table(memattr: &mut c_int) -> u64;
    safe fn vmlayout_pti_enabled() -> c_int;
    safe fn vmlayout_is_cpu_tss_page(va: u64) -> c_int;
    safe fn vmlayout_efi_memory_type(phys: u64) -> c_int;
    safe fn vmlayout_copy_active_table(out: &mut KernelHalf) -> u64;
    safe fn vmlayout_active_table() -> u64;
    pub(crate) safe fn vmlayout_lookup(addr: u64, level: &mut c_uint, entry: &mut u64) -> u64;
    pub(crate) safe fn vmlayout_symbol_at(addr: u64, buf: &mut [u8; 1024]) -> c_int;
    // arch/x86/mm/cpu_entry_area.c, exported; it computes an address. Its
    // header is not part of the kernel crate's bindings.
    pub(crate) safe fn get_cpu_entry_area(cpu: c_int) -> *mut c_void;
    safe fn vmlayout_cond_resched();
    safe fn vmlayout_cpu_works_alloc() -> Option<&'static mut CpuWorks>;
    fn vmlayout_cpu_works_free(works: *mut CpuWorks);
    safe fn vmlayout_session_begin(works: &mut CpuWorks);
    safe fn vmlayout_session_end(works: &mut CpuWorks);
    fn vmlayout_on_each_cpu(
        works: &mut CpuWorks,
        prepare: unsafe extern "C" fn(*mut c_void, c_uint) -> c_int,
        run: unsafe extern "C" fn(*mut c_void, c_uint),
        job: *mut c_void,
        pooled: bool,
    ) -> c_int;
    safe fn vmlayout_next_mm(
        next: &mut c_int,
        task: &mut TaskName,
        mm: &mut Option<&'static Mm>,
    ) -> c_int;
    safe fn vmlayout_mm_copy_table(mm: &Mm, out: &mut KernelHalf) -> u64;
    fn vmlayout_mm_put(mm: &Mm);

    // vmlayout_events.c: a tracepoint's probe has the tracepoint's C
    // prototype, and exceptions:page_fault_kernel is found by name, so the
    // fault probe's attachment is C; and only C names vmlayout's events.
    /// Call `fault.rs`'s `vmlayout_on_page_fault` with `watch` on each
    /// kernel-mode page fault until unregistered; `-ENODEV` without the
    /// tracepoint. Unsafe: `watch` must stay valid until then.
    pub(crate) fn vmlayout_fault_probe_register(watch: *const c_void) -> c_int;
    /// Detach the probe registered with `watch`, if it is (`watch` is only
    /// compared), and wait until no CPU runs it.
    pub(crate) safe fn vmlayout_fault_probe_unregister(watch: *const c_void);
    /// Fire vmlayout:finding, or with `cleared` vmlayout:finding_cleared.
    pub(crate) safe fn vmlayout_trace_finding(f: &crate::watch::FindingEvent, cleared: bool);

    // vmlayout_watch.c: watch mode's hooks and re-checks.
    /// Start (once): `state` goes to `watch.rs`'s `vmlayout_watch_run` as
    /// a `&State` until stopped; `reference` is its table's physical
    /// address (which table a change of page attributes looks up in).
    /// Unsafe: it must be one, alive until then.
    pub(crate) fn vmlayout_watch_start(state: *const c_void, reference: u64, interval_ms: c_uint);
    /// Stop: no re-check runs once it returns.
    pub(crate) safe fn vmlayout_watch_stop();
    /// Whether on; the hooks attached (bits), how often each fired, the
    /// longest re-check.
    pub(crate) safe fn vmlayout_watch_status(
        hooked: &mut c_uint,
        fired: &mut [u64; 5],
        longest_ns: &mut u64,
    ) -> bool;
}

/// `Err(EPERM)` if the kernel is locked down for confidentiality
/// (`lockdown=confidentiality`), which hides what vmlayout shows.
pub(crate) fn refuse_if_locked_down() -> Result {
    // Asks the LSMs; no side effect but the lockdown LSM's message.
    kernel::error::to_result(vmlayout_locked_down())
}

/// Physical address of init_mm's top-level table, to be verified by the
/// caller. A module cannot name `init_mm`: it reads CR3 after switching a
/// kworker to init_mm. Built in, `init_mm.pgd` is in reach.
pub(crate) fn reference_table() -> Result<u64> {
    #[cfg(MODULE)]
    {
        let mut pa = 0;
        kernel::error::to_result(vmlayout_reference_cr3(&mut pa))?;
        Ok(pa)
    }
    #[cfg(not(MODULE))]
    // init_mm.pgd, which never changes.
    Ok(vmlayout_init_mm_table())
}

/// The section of the kernel image or of a module that holds `addr`:
/// the image's `entry` (its entry text, which PTI maps for user mode),
/// `text`, `init` (until the kernel frees it); a module's `text`, `data`,
/// `rodata`, `ro_after_init`, `init`, `init data`, `init rodata`. `None`
/// elsewhere. Loaded as a module, vmlayout cannot name the linker's
/// section symbols (`_stext`, `__entry_text_start`, ...), so the image's
/// owners say `kernel` only, nor look a module up by address
/// (`__module_address()`): it names the sections of the modules that
/// loaded after it ([`ModulesKnown`]) and its own.
pub(crate) fn section_of(addr: u64) -> Option<&'static str> {
    // `enum mod_mem_type`'s order.
    const MODULE: [&str; 7] = [
        "text",
        "data",
        "rodata",
        "ro_after_init",
        "init",
        "init data",
        "init rodata",
    ];
    match vmlayout_section_of(addr) {
        1 => Some("entry"),
        2 => Some("text"),
        3 => Some("init"),
        n => usize::try_from(n - 16)
            .ok()
            .and_then(|i| MODULE.get(i).copied()),
    }
}

/// While it lives, the modules that load are kept (a module notifier), so
/// that [`section_of`] can name their sections when vmlayout is a module
/// (built in, it looks any module up by address, and this does nothing).
pub(crate) struct ModulesKnown(());

impl ModulesKnown {
    /// Start keeping them, and this module.
    pub(crate) fn start() -> Self {
        vmlayout_modules_known_start();
        ModulesKnown(())
    }
}

impl Drop for ModulesKnown {
    fn drop(&mut self) {
        vmlayout_modules_known_stop();
    }
}

/// The EFI memory map's type (`EFI_*` memory type) of the descriptor
/// holding physical `phys`, if any.
pub(crate) fn efi_memory_type(phys: u64) -> Option<u32> {
    // The kernel's EFI memory map is fixed after boot.
    u32::try_from(vmlayout_efi_memory_type(phys)).ok()
}

/// Whether `va` is the first page of a possible CPU's TSS, which PTI maps
/// into the user-mode tables (`pti_clone_user_shared()`).
pub(crate) fn is_cpu_tss_page(va: u64) -> bool {
    vmlayout_is_cpu_tss_page(va) != 0
}

/// Whether page-table isolation is on.
pub(crate) fn pti_enabled() -> bool {
    vmlayout_pti_enabled() != 0
}

/// EFI's page table (`efi_mm`'s), if vmlayout can check it.
#[derive(Clone, Copy)]
pub(crate) enum EfiTable {
    /// Its physical address, and whether the firmware gave an EFI
    /// memory-attributes table.
    At { phys: u64, memattr: bool },
    /// Why it is not checked.
    NotChecked(&'static str),
}

/// EFI's page table. `efi_mm` is not exported, and there is no other sound
/// way to find its table from a module (it is never any task's mm, and CR3
/// holds it only inside an EFI runtime call): only built in is it checked.
pub(crate) fn efi_table() -> EfiTable {
    if cfg!(MODULE) {
        return EfiTable::NotChecked(
            "efi_mm is not exported to modules: build vmlayout in (CONFIG_X86_VMLAYOUT=y) to check it",
        );
    }
    let mut memattr = 0;
    // efi_mm.pgd is set once at boot.
    match vmlayout_efi_table(&mut memattr) {
        0 => EfiTable::NotChecked("this kernel has no EFI runtime services"),
        phys => EfiTable::At {
            phys,
            memattr: memattr != 0,
        },
    }
}

/// Physical address of this CPU's active top-level table.
pub(crate) fn active_table() -> u64 {
    vmlayout_active_table()
}

/// Copy the kernel half of this CPU's active top-level table (interrupts
/// off for the copy, so it is the table this CPU runs on); returns the
/// table's physical address.
pub(crate) fn copy_active_table(out: &mut KernelHalf) -> u64 {
    vmlayout_copy_active_table(out)
}

/// The data word of [`load_nofault`]'s exception-table entry: type
/// `EX_TYPE_ONE_REG` on register 2 (DX) with `EX_FLAG_CLEAR_AX`.
/// `vmlayout_helpers.c` asserts it against the kernel's own macros.
const LOAD_NOFAULT_EXTABLE: u32 = 0x11211;

/// Load the 8 bytes at `addr`, or 0 if that faults, setting `*faulted` to 1.
///
/// One `mov` with an exception-table entry, as the kernel's
/// `__get_kernel_nofault()` is: no call, no per-load branch, so a walk can
/// read a live table entry by entry at the cost of the loads themselves. A
/// fault (a table page freed and unmapped under the walk, DEBUG_PAGEALLOC)
/// goes to `fixup_exception()`, which sets DX to 1, clears AX and resumes
/// after the load.
///
/// # Safety
///
/// `addr` must be 8-byte aligned, canonical and in the kernel half: a
/// fault on a user address takes the user-fault path, which does not
/// consult the exception table (and a user page would be read).
#[inline(always)]
pub(crate) unsafe fn load_nofault(addr: *const u64, faulted: &mut u64) -> u64 {
    let value: u64;
    // SAFETY: the caller passes an aligned kernel-half address; the load
    // only reads it, and a fault is fixed up by the exception-table entry
    // emitted with it, which names this very instruction.
    unsafe {
        core::arch::asm!(
            "2: mov rax, qword ptr [{addr}]",
            "3:",
            ".pushsection __ex_table, \"a\"",
            ".balign 4",
            ".long 2b - .",
            ".long 3b - .",
            ".long {data}",
            ".popsection",
            addr = in(reg) addr,
            data = const LOAD_NOFAULT_EXTABLE,
            out("rax") value,
            inout("rdx") *faulted,
            options(nostack, readonly, preserves_flags),
        );
    }
    value
}

/// Whether the page at `addr` holds only `int3`s ([`report::TRAPS`]); a
/// page that cannot be read does not, nor one in the user half (EFI's 1:1
/// mappings, a task's code), which a kernel read must not touch: with SMAP
/// that fault is an oops, which no exception-table entry fixes up.
pub(crate) fn traps_only(addr: u64) -> bool {
    let page = addr & !0xfff;
    if !kernel_half(page) {
        return false;
    }
    let mut faulted = 0;
    for i in 0..512u64 {
        let at = (page + i * 8) as *const u64;
        // SAFETY: `at` is 8-byte aligned and in the kernel half (checked
        // above); a fault sets `faulted`.
        let word = unsafe { load_nofault(at, &mut faulted) };
        if faulted != 0 || word != report::TRAPS {
            return false;
        }
    }
    true
}

/// Whether every page of `[first, last]` holds only traps
/// ([`traps_only`]): execmem's unused memory.
pub(crate) fn traps_only_in((first, last): (u64, u64)) -> bool {
    let mut page = first & !0xfff;
    while page <= last {
        if !traps_only(page) {
            return false;
        }
        cond_resched();
        page = match page.checked_add(0x1000) {
            Some(next) => next,
            None => break,
        };
    }
    true
}

/// Whether `addr` is in the kernel half of the address space (the sign
/// bit of a canonical address), where a fault-tolerant read may go.
pub(crate) const fn kernel_half(addr: u64) -> bool {
    addr >> 63 == 1
}

/// Let the scheduler run something else if it wants to.
pub(crate) fn cond_resched() {
    // Process context only, outside any spinlock (it may sleep).
    vmlayout_cond_resched()
}

/// What each online CPU does in [`OnEachCpu::run`].
pub(crate) trait PerCpu: Sync {
    /// Called for each online CPU before any runs, in the caller's context
    /// (may sleep and allocate).
    fn prepare(&mut self, cpu: usize) -> Result;
    /// Called on `cpu`, all CPUs at once, preemptible: in a kworker bound
    /// to it, or, for the caller's own CPU, in the caller pinned to it.
    fn run(&self, cpu: usize);
    /// Whether the CPUs claim the work from a common pool, so that a CPU
    /// whose worker has not started when the caller's own share is done
    /// has nothing left: it is cancelled, not waited for (under TCG a
    /// wake-up costs a tenth of a millisecond). `false` when every CPU
    /// must run (the walk audits each CPU's own active table).
    const POOLED: bool;
}

/// One work item per possible CPU, reused from call to call; freed on drop.
pub(crate) struct OnEachCpu(&'static mut CpuWorks);

impl OnEachCpu {
    pub(crate) fn new() -> Result<Self> {
        vmlayout_cpu_works_alloc().map(OnEachCpu).ok_or(ENOMEM)
    }

    /// Open a session: until [`OnEachCpu::end`], each other online CPU
    /// keeps a worker waiting for the jobs [`OnEachCpu::run`] posts, so
    /// that consecutive jobs start everywhere at once instead of after a
    /// wake-up each. The caller stays on its CPU, and CPU hotplug waits,
    /// until the end.
    pub(crate) fn begin(&mut self) {
        // The scan's session guard ends it.
        vmlayout_session_begin(self.0)
    }

    /// End the session [`OnEachCpu::begin`] opened, if one is open.
    pub(crate) fn end(&mut self) {
        // Ending no session does nothing.
        vmlayout_session_end(self.0)
    }

    /// Prepare `job` for every online CPU, then run it on all of them at
    /// once and wait; CPU hotplug waits meanwhile.
    pub(crate) fn run<J: PerCpu>(&mut self, job: &mut J) -> Result {
        /// # Safety
        ///
        /// `job` is the `J` passed to `vmlayout_on_each_cpu` below.
        unsafe extern "C" fn prepare<J: PerCpu>(job: *mut c_void, cpu: c_uint) -> c_int {
            // SAFETY: `job` is the `&mut J` below; prepare runs before any
            // `run`, one CPU at a time, in the caller's thread.
            let job = unsafe { &mut *job.cast::<J>() };
            match job.prepare(cpu as usize) {
                Ok(()) => 0,
                Err(e) => e.to_errno(),
            }
        }
        /// # Safety
        ///
        /// `job` is the `J` passed to `vmlayout_on_each_cpu` below.
        unsafe extern "C" fn run<J: PerCpu>(job: *mut c_void, cpu: c_uint) {
            // SAFETY: `job` is the `&mut J` below, only shared (`J: Sync`)
            // while the workers run; the caller waits for all of them.
            let job = unsafe { &*job.cast::<J>() };
            job.run(cpu as usize);
        }
        // SAFETY: the works are ours; `job` outlives the call, which waits
        // for every worker.
        let ret = unsafe {
            vmlayout_on_each_cpu(
                self.0,
                prepare::<J>,
                run::<J>,
                core::ptr::from_mut(job).cast(),
                J::POOLED,
            )
        };
        kernel::error::to_result(ret)
    }
}

impl Drop for OnEachCpu {
    fn drop(&mut self) {
        // SAFETY: allocated by `vmlayout_cpu_works_alloc`; no work is
        // queued (every `run` waited for its workers; the scan's session
        // guard ends each session it begins).
        unsafe { vmlayout_cpu_works_free(core::ptr::from_mut(self.0)) }
    }
}

/// `struct mm_struct`, opaque: reached only through a [`PinnedMm`], whose
/// pin keeps it (and its top-level table) alive while it is referenced.
#[repr(C)]
struct Mm {
    _opaque: [u8; 0],
}

/// A process's mm, pinned (`mmget`) until dropped.
pub(crate) struct PinnedMm {
    mm: &'static Mm,
    pub(crate) task: TaskName,
}

impl PinnedMm {
    /// Copy the kernel half of this mm's top-level table; returns the
    /// table's physical address.
    pub(crate) fn copy_table(&self, out: &mut KernelHalf) -> u64 {
        vmlayout_mm_copy_table(self.mm, out)
    }
}

impl Drop for PinnedMm {
    fn drop(&mut self) {
        // SAFETY: pinned by `vmlayout_next_mm`, released once, here, in
        // process context; the reference goes with `self`.
        unsafe { vmlayout_mm_put(self.mm) }
    }
}

/// Every process with an mm, one at a time, each pinned while it is
/// looked at. Reschedules between processes.
pub(crate) struct Processes {
    next: c_int,
}

impl Processes {
    pub(crate) fn new() -> Self {
        Processes { next: 1 }
    }
}

impl Iterator for Processes {
    type Item = PinnedMm;

    fn next(&mut self) -> Option<PinnedMm> {
        loop {
            let mut task = TaskName {
                pid: 0,
                comm: [0; 16],
            };
            let mut mm = None;
            cond_resched();
            match vmlayout_next_mm(&mut self.next, &mut task, &mut mm) {
                1 => return Some(PinnedMm { mm: mm?, task }),
                0 => return None,
                _ => continue,
            }
        }
    }
}

/// A point in time for timing the scan's phases: the kernel crate's
/// monotonic clock.
pub(crate) type Clock = kernel::time::Instant<kernel::time::Monotonic>;

/// Nanoseconds from `start` to now.
pub(crate) fn ns_since(start: Clock) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(0)
}

/// Nanoseconds since boot, for the times the files show (`at_ns`): the
/// same clock as [`Clock`], as a number (the kernel crate gives an
/// `Instant`'s raw `ktime_t` through `HrTimerExpires`).
pub(crate) fn now() -> u64 {
    use kernel::time::hrtimer::HrTimerExpires;
    u64::try_from(Clock::now().as_nanos()).unwrap_or(0)
}
