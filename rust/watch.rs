// SPDX-License-Identifier: GPL-2.0

//! Findings as events, and watch mode.
//!
//! Each scan's findings are carried over from the scan before it
//! (`vmlayout_core::seen`): `findings` shows when each was first and last
//! seen, and a warn or error finding that appears fires
//! `vmlayout:finding`, one that goes `vmlayout:finding_cleared`
//! (`include/trace/events/vmlayout.h`).

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};

use kernel::{alloc::KVVec, prelude::*};

use crate::helpers::{
    vmlayout_symbol_at, vmlayout_trace_finding, vmlayout_watch_start, vmlayout_watch_status,
    vmlayout_watch_stop,
};
use crate::vmlayout_core::{
    changed::{self, Changed},
    pace::{Pacing, GAP_NS},
    record::Record,
    report::{code_of, code_owner, AttrBuf, BelongsTo, NameBuf, UNUSED_CODE},
    rules::{Finding, Owner, Severity},
    seen::{self, Change, Seen},
};
use crate::State;

/// One finding as the events take it: `struct vmlayout_finding` of
/// `include/trace/events/vmlayout.h`, field for field (its size is asserted
/// there), each text NUL-terminated (cut to fit).
#[repr(C)]
pub(crate) struct FindingEvent {
    rule: [u8; 24],
    severity: [u8; 8],
    table: [u8; 8],
    owner: [u8; 32],
    belongs_to: [u8; 32],
    attrs: [u8; 32],
    start: u64,
    last: u64,
    first_ns: u64,
    last_ns: u64,
}

const _: () = assert!(core::mem::size_of::<FindingEvent>() == 168);

/// `text` into the zeroed `out`, cut to leave its last byte NUL.
fn put(out: &mut [u8], text: &str) {
    let n = text.len().min(out.len().saturating_sub(1));
    out[..n].copy_from_slice(&text.as_bytes()[..n]);
}

impl FindingEvent {
    fn of(f: &Finding, seen: Seen, belongs_to: BelongsTo<'_>) -> Self {
        let mut e = FindingEvent {
            rule: [0; 24],
            severity: [0; 8],
            table: [0; 8],
            owner: [0; 32],
            belongs_to: [0; 32],
            attrs: [0; 32],
            start: f.range.start,
            last: f.range.last,
            first_ns: seen.first_ns,
            last_ns: seen.last_ns,
        };
        put(&mut e.rule, f.rule.id());
        put(&mut e.severity, f.severity.name());
        put(&mut e.table, f.owner.table());
        put(
            &mut e.attrs,
            AttrBuf::of(f.range.flags, f.range.level).as_str(),
        );
        let mut owner = NameBuf::new();
        let _ = match &f.owner {
            Owner::Reference | Owner::UserTable => owner.write_str("reference"),
            Owner::Cpu(cpu) => write!(owner, "cpu {cpu}"),
            Owner::Task(pid, comm) | Owner::TaskUser(pid, comm) => {
                write!(owner, "task {pid} {}", Owner::comm(comm))
            }
            Owner::Efi => owner.write_str("efi"),
        };
        put(&mut e.owner, owner.as_str());
        if let Some(code) = code_of(f, belongs_to) {
            put(&mut e.belongs_to, code.as_str());
        }
        e
    }
}

/// Carry `old`'s findings (with when each was seen) over to `new` at
/// `now_ns`: when each of `new` was first and last seen, and each warn or
/// error finding that appeared or cleared fires its event, with whose
/// code its range holds (`belongs_to`).
pub(crate) fn carry_over(
    (old, old_seen): (&[Finding], &[Seen]),
    new: &[Finding],
    now_ns: u64,
    belongs_to: BelongsTo<'_>,
) -> Result<KVVec<Seen>> {
    // kmalloc for the usual few, vmalloc past a page (no high order).
    let mut seen = KVVec::with_capacity(new.len(), GFP_KERNEL)?;
    for _ in 0..new.len() {
        seen.push(Seen::default(), GFP_KERNEL)?;
    }
    seen::carry_over((old, old_seen), new, now_ns, &mut seen, |change| {
        let (f, times, cleared) = match change {
            Change::Appeared(f, s) => (f, s, false),
            Change::Cleared(f, s) => (f, s, true),
        };
        if f.severity != Severity::Info {
            vmlayout_trace_finding(&FindingEvent::of(f, times, belongs_to), cleared);
        }
    });
    Ok(seen)
}

/// Watch mode's hooks, as `enum vmlayout_hook` (`vmlayout_helpers.h`)
/// numbers them: each one's name and what it sees
/// (`Documentation/vmlayout/watch.rst`).
const HOOKS: [(&str, &str); 5] = [
    (
        "module",
        "module notifier: coming, live, going (its memory types' windows)",
    ),
    (
        "vmalloc",
        "tracepoints alloc_vmap_area, free_vmap_area_noflush, purge_vmap_area_lazy",
    ),
    (
        "memory",
        "memory hotplug notifier: online, offline (the block's direct map and vmemmap windows)",
    ),
    ("cpu", "CPU hotplug: online, offline"),
    (
        "cpa",
        "set_memory_*, set_direct_map_*: kprobe on lookup_address_in_pgd_attr (each page a change looks up), kretprobe on __change_page_attr (one not seen: everything); else kprobe on __change_page_attr_set_clr",
    ),
];

/// Whether hook `i` of [`HOOKS`] gives windows, `hooked` being the hooks
/// attached: the vmalloc tracepoints always; the CPA hook where its
/// lookups are seen (`VMLAYOUT_CPA_WINDOWS`, the bit past the hooks'), and
/// then the module notifier too (a module's aliases change through CPA);
/// the memory hotplug notifier but with KASAN (the block's shadow); none
/// with `CONFIG_KASAN_VMALLOC`.
const fn gives_windows(i: usize, hooked: u32) -> bool {
    let cpa = hooked & (1 << HOOKS.len()) != 0;
    VMALLOC_WINDOWS
        && match i {
            0 | 4 => cpa,
            1 => true,
            2 => !cfg!(CONFIG_KASAN),
            _ => false,
        }
}

/// Whether the hooks' re-checks are of windows: not with
/// `CONFIG_KASAN_VMALLOC`, whose shadow of an area changes with it, outside
/// the window (`vmlayout_watch.c` rescans then).
const VMALLOC_WINDOWS: bool = !cfg!(CONFIG_KASAN_VMALLOC);

/// Re-checks made in watch mode: after a hook, and by the backstop, and
/// the time they all worked (watch mode's cost, which `make bench` divides
/// by a storm's wall time; waits for locks not counted); of them, those of
/// a window only, their time, and the windows declined.
#[derive(Default)]
pub(crate) struct WatchCounts {
    kicked: AtomicU64,
    backstop: AtomicU64,
    busy_ns: AtomicU64,
    failed: AtomicU64,
    windows: AtomicU64,
    window_ns: AtomicU64,
    declined: AtomicU64,
}

/// One re-check in watch mode, in a kworker (`vmlayout_watch.c`), for the
/// state watch mode was started with: of the windows of `changed` if it
/// has any and nothing changed outside them, else a rescan. Either
/// way its findings fire their events as they appear and clear. A failure
/// is the files' `stale` record. Returns how long it worked: its time
/// less its waits for the state's locks (a reader of `map` holds the
/// scan's while it formats), which are sleep, not the CPU the pacing
/// budgets.
#[no_mangle]
extern "C" fn vmlayout_watch_run(state: &State, backstop: bool, changed: &Changed) -> u64 {
    let counts = &state.watch_counts;
    let which = if backstop {
        &counts.backstop
    } else {
        &counts.kicked
    };
    which.fetch_add(1, Ordering::Relaxed);
    let (start, mut waited) = (crate::helpers::Clock::now(), 0);
    let windows = if backstop || changed.everything {
        &[]
    } else {
        changed.windows()
    };
    let windowed = !windows.is_empty() && recheck_windows(state, windows, &mut waited);
    if !windowed && state.rescan_waiting(&mut waited).is_err() {
        counts.failed.fetch_add(1, Ordering::Relaxed);
    }
    let worked = crate::helpers::ns_since(start).saturating_sub(waited);
    counts.busy_ns.fetch_add(worked, Ordering::Relaxed);
    if windowed {
        counts.windows.fetch_add(1, Ordering::Relaxed);
        counts.window_ns.fetch_add(worked, Ordering::Relaxed);
    }
    worked
}

/// Re-check `windows`, counting a decline or a failure, its waits for
/// locks added to `waited`: whether it did (else the caller rescans).
fn recheck_windows(state: &State, windows: &[[u64; 2]], waited: &mut u64) -> bool {
    let counts = &state.watch_counts;
    match state.recheck_windows(windows, waited) {
        Ok(true) => return true,
        Ok(false) => counts.declined.fetch_add(1, Ordering::Relaxed),
        Err(_) => counts.failed.fetch_add(1, Ordering::Relaxed),
    };
    false
}

/// The pacing (`vmlayout_core::pace`) as `vmlayout_watch.c` asks it: the
/// times are C's (read and written once each, from hooks on any CPU).
fn pacing(next_ns: u64) -> Pacing {
    Pacing {
        next_ns,
        longest_ns: 0,
    }
}

/// `first..=last` changed (`first > last`: something no window covers),
/// added to `changed` (under the hooks' spinlock: a few comparisons).
#[no_mangle]
extern "C" fn vmlayout_changed_add(changed: &mut Changed, first: u64, last: u64) {
    changed.add(first, last);
}

const _: () = assert!(core::mem::size_of::<Changed>() == 8 * 2 * changed::WINDOWS + 8);

/// How long after `now` the re-check of a change seen then runs.
#[no_mangle]
extern "C" fn vmlayout_pace_delay(next_ns: u64, now: u64) -> u64 {
    pacing(next_ns).delay_ns(now)
}

/// How long after `now` a re-check may start (0: now).
#[no_mangle]
extern "C" fn vmlayout_pace_wait(next_ns: u64, now: u64) -> u64 {
    pacing(next_ns).wait_ns(now)
}

/// How long after `now` the backstop runs next.
#[no_mangle]
extern "C" fn vmlayout_pace_backstop(next_ns: u64, now: u64, interval_ns: u64) -> u64 {
    pacing(next_ns).backstop_ns(now, interval_ns)
}

/// When the next re-check may start, after one from `start` to `end`
/// (the budget was empty from `next_ns` on).
#[no_mangle]
extern "C" fn vmlayout_pace_next(next_ns: u64, start: u64, end: u64) -> u64 {
    let mut p = pacing(next_ns);
    p.ran(start, end);
    p.next_ns
}

/// Start watch mode for `state`, its backstop every `interval_ms`.
pub(crate) fn start(state: &State, interval_ms: u32) {
    // SAFETY: `state` is pinned (made in place, in its `Arc`, never moved)
    // and its drop stops watch mode first: C never holds it past its life.
    unsafe {
        vmlayout_watch_start(
            core::ptr::from_ref(state).cast(),
            state.reference,
            interval_ms,
        )
    }
}

/// Stop watch mode: no re-check runs once this returns.
pub(crate) fn stop() {
    vmlayout_watch_stop()
}

/// `watch`'s records: whether watch mode is on, its re-checks, and each
/// hook, attached or not, with how often it fired.
pub(crate) fn show(state: &State, interval_ms: u32, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let (mut hooked, mut fired, mut longest_ns) = (0, [0u64; HOOKS.len()], 0);
    let on = vmlayout_watch_status(&mut hooked, &mut fired, &mut longest_ns);
    let c = &state.watch_counts;
    Record::new(f, "watch")?
        .num("enabled", u8::from(on))?
        .num("interval_ms", interval_ms)?
        .num("gap_ms", GAP_NS / 1_000_000)?
        .num("rechecks", c.kicked.load(Ordering::Relaxed))?
        .num("backstops", c.backstop.load(Ordering::Relaxed))?
        .num("busy_ns", c.busy_ns.load(Ordering::Relaxed))?
        .num("failed", c.failed.load(Ordering::Relaxed))?
        .num("windowed", u8::from(VMALLOC_WINDOWS))?
        .num("windows", c.windows.load(Ordering::Relaxed))?
        .num("window_ns", c.window_ns.load(Ordering::Relaxed))?
        .num("declined", c.declined.load(Ordering::Relaxed))?
        .num("longest_ns", longest_ns)?
        .num(
            "bound_ns",
            Pacing {
                longest_ns,
                next_ns: 0,
            }
            .bound_ns(),
        )?
        .end()?;
    for (i, (name, covers)) in HOOKS.iter().enumerate() {
        let attached = on && hooked & (1 << i) != 0;
        Record::new(f, "hook")?
            .text("name", name)?
            .num("attached", u8::from(attached))?
            .num("windows", u8::from(attached && gives_windows(i, hooked)))?
            .num("fired", fired[i])?
            .text("covers", covers)?
            .end()?;
    }
    Ok(())
}

/// Whose code `addr` is, from the kernel's symbol table, into `out`
/// (`report::code_owner`), or where it has no symbol, execmem's unused
/// part if the page only traps (`report::UNUSED_CODE`); `false` when
/// neither.
pub(crate) fn belongs_to(addr: u64, out: &mut NameBuf) -> bool {
    // The user half (EFI's 1:1 mappings) holds no kernel symbol.
    if !crate::helpers::kernel_half(addr) {
        return false;
    }
    // The show path only, which is shallow: 1 KiB of stack.
    let mut buf = [0u8; 1024];
    let n = usize::try_from(vmlayout_symbol_at(addr, &mut buf)).unwrap_or(0);
    let text = buf.get(..n).and_then(|b| core::str::from_utf8(b).ok());
    match text.filter(|t| !t.is_empty()) {
        Some(text) => code_owner(text, crate::helpers::section_of(addr), out),
        // No symbol: execmem's unused part if it only traps.
        None if crate::helpers::traps_only(addr) => {
            let _ = out.write_str(UNUSED_CODE);
        }
        None => return false,
    }
    true
}
