// SPDX-License-Identifier: GPL-2.0

//! How the per-CPU scan shares out its work, without the kernel.
//!
//! The kernel side provides the workers (one per online CPU) and a way to
//! wait (a reschedule point); the protocols they follow live here, where
//! the host tests run them on real threads, with property tests, and
//! model-check the lock-free parts with `loom` (`--cfg loom`).

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::ops::Range;

#[cfg(loom)]
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[cfg(not(loom))]
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[cfg(loom)]
extern crate std;

/// Under loom, a cell per slot that loom watches, so that a read of a slot
/// not ordered after its write is a data race loom reports. (The slots are
/// the caller's memory, which loom cannot see.) Nothing otherwise.
#[cfg(loom)]
struct Watch(std::vec::Vec<loom::cell::UnsafeCell<()>>);

#[cfg(loom)]
impl Watch {
    fn new(slots: usize) -> Self {
        Watch(
            (0..slots)
                .map(|_| loom::cell::UnsafeCell::new(()))
                .collect(),
        )
    }
    fn wrote(&self, i: usize) {
        self.0[i].with_mut(|_| ());
    }
    fn read(&self, i: usize) {
        self.0[i].with(|_| ());
    }
}

#[cfg(not(loom))]
struct Watch;

#[cfg(not(loom))]
impl Watch {
    fn new(_: usize) -> Self {
        Watch
    }
    fn wrote(&self, _: usize) {}
    fn read(&self, _: usize) {}
}

/// `room` as cells that a shared reference may write through: the one
/// place the protocols below take their caller's memory.
fn cells<U>(room: &mut [U]) -> &[UnsafeCell<U>] {
    let len = room.len();
    // SAFETY: `UnsafeCell<U>` has the layout of `U`, and the exclusive
    // borrow of `room` is held as long as the cells are.
    unsafe { core::slice::from_raw_parts(room.as_mut_ptr().cast(), len) }
}

/// Work items that one producer makes while consumers take them, a batch
/// at a time, in order.
///
/// The walk's producer is the first worker to start: it splits the upper
/// tables into items while the others already walk the items made so far
/// (a rescan overlaps the split with the walk). Each batch is claimed by
/// exactly one consumer, whatever the interleaving; a consumer that finds
/// its batch not made yet waits (`relax`) until it is, or until the
/// producer is done and the batch will never be made. Items past the room
/// are not kept: [`BatchQueue::overflowed`] says the room ran out, and the
/// caller splits again, first, with more room.
pub struct BatchQueue<'a, T> {
    /// Room for items; the first `made` are written and never again.
    slots: &'a [UnsafeCell<MaybeUninit<T>>],
    /// Items per claim.
    batch: usize,
    made: AtomicUsize,
    /// The producer is done: `made` is final.
    done: AtomicBool,
    /// The producer made more items than there is room for.
    overflow: AtomicBool,
    /// The next batch to claim.
    next: AtomicUsize,
    /// A producer was handed out (or is not wanted).
    produced: AtomicBool,
    /// What the batches' claims name as their issuer.
    issuer: Issuer,
    watch: Watch,
}

// SAFETY: the one producer writes a slot before `made` (release) publishes
// it and never writes it again; consumers read only slots below `made`
// (acquire). `T: Send` since items cross threads.
unsafe impl<T: Send> Sync for BatchQueue<'_, T> {}

impl<'a, T: Copy> BatchQueue<'a, T> {
    /// An empty queue over `room`, filled by the first [`Self::producer`].
    pub fn empty(room: &'a mut [MaybeUninit<T>], batch: usize) -> Self {
        Self::new(cells(room), batch, 0, false)
    }

    /// A queue of items already made: nothing left to produce.
    pub fn full(items: &'a mut [T], batch: usize) -> Self {
        let len = items.len();
        // SAFETY: `MaybeUninit<T>` has the layout of `T`, and every `T` is
        // an initialized `MaybeUninit<T>`; the exclusive borrow is kept.
        let items = unsafe { core::slice::from_raw_parts_mut(items.as_mut_ptr().cast(), len) };
        Self::new(cells(items), batch, len, true)
    }

    fn new(slots: &'a [UnsafeCell<MaybeUninit<T>>], batch: usize, made: usize, done: bool) -> Self {
        BatchQueue {
            slots,
            batch: batch.max(1),
            made: AtomicUsize::new(made),
            done: AtomicBool::new(done),
            overflow: AtomicBool::new(false),
            next: AtomicUsize::new(0),
            produced: AtomicBool::new(done),
            issuer: Issuer::default(),
            watch: Watch::new(slots.len()),
        }
    }

    /// The producer, to the first caller only; `None` to every other one,
    /// and to all of a [`Self::full`] queue's. The queue is done when the
    /// producer is dropped.
    pub fn producer(&self) -> Option<Producer<'_, 'a, T>> {
        if self.produced.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(Producer {
            queue: self,
            made: 0,
        })
    }

    /// The next batch: the claim on it (its index) and its items'
    /// indices, once they are made (calling `relax` between looks until
    /// then); `None` when no batch is left.
    pub fn claim(&self, mut relax: impl FnMut()) -> Option<(Claim<'_>, Range<usize>)> {
        let batch = self.next.fetch_add(1, Ordering::Relaxed);
        let first = batch.checked_mul(self.batch)?;
        let end = first.checked_add(self.batch)?;
        loop {
            // `done` first: once it is seen, `made` is final.
            let done = self.done.load(Ordering::Acquire);
            let made = self.made.load(Ordering::Acquire);
            if made >= end || (done && made > first) {
                let claim = Claim {
                    index: batch,
                    issuer: &self.issuer,
                };
                return Some((claim, first..end.min(made)));
            }
            if done {
                return None;
            }
            relax();
        }
    }

    /// Item `i`, if it is made.
    pub fn get(&self, i: usize) -> Option<T> {
        if i >= self.made.load(Ordering::Acquire) {
            return None;
        }
        self.watch.read(i);
        // SAFETY: slots below `made` were written before it was published
        // and are not written again.
        Some(unsafe { (*self.slots[i].get()).assume_init() })
    }

    /// Items made so far (all of them once the producer is done).
    pub fn made(&self) -> usize {
        self.made.load(Ordering::Acquire)
    }

    /// Whether the producer made more items than there was room for.
    pub fn overflowed(&self) -> bool {
        self.overflow.load(Ordering::Relaxed)
    }

    /// Batches of `items` items.
    pub fn batches(&self, items: usize) -> usize {
        items.div_ceil(self.batch)
    }
}

/// The one producer of a [`BatchQueue`].
pub struct Producer<'q, 'a, T> {
    queue: &'q BatchQueue<'a, T>,
    made: usize,
}

impl<T: Copy> Producer<'_, '_, T> {
    /// Publish `item`, or note that the room ran out.
    pub fn push(&mut self, item: T) {
        let Some(slot) = self.queue.slots.get(self.made) else {
            self.queue.overflow.store(true, Ordering::Relaxed);
            return;
        };
        // SAFETY: slot `made` is not published yet, and only this producer
        // (there is one per queue) writes slots.
        unsafe { (*slot.get()).write(item) };
        self.queue.watch.wrote(self.made);
        self.made += 1;
        self.queue.made.store(self.made, Ordering::Release);
    }
}

impl<T> Drop for Producer<'_, '_, T> {
    fn drop(&mut self) {
        self.queue.done.store(true, Ordering::Release);
    }
}

/// A list that one writer makes in order while readers read the part of it
/// that is final: the writer settles a prefix (release) once nothing it
/// does later changes it, and a reader of a stretch waits until the stretch
/// is settled, or the writer is done.
///
/// The scan's join of the workers' lists is the writer (each item's ranges
/// may still extend the last one before it, so only the ranges before the
/// last are final), and the rules' chunks are the readers.
pub struct Published<'a, T> {
    slots: &'a [UnsafeCell<MaybeUninit<T>>],
    settled: AtomicUsize,
    /// The writer is done: `settled` is the whole list.
    done: AtomicBool,
    /// The writer was handed out.
    written: AtomicBool,
    watch: Watch,
}

// SAFETY: the one writer writes only slots at or past `settled`, and
// settles slots only once written; readers read only below `settled`
// (acquire), which never moves back.
unsafe impl<T: Send + Sync> Sync for Published<'_, T> {}

impl<'a, T> Published<'a, T> {
    /// An empty list over `room`.
    pub fn new(room: &'a mut [MaybeUninit<T>]) -> Self {
        let len = room.len();
        let slots = cells(room);
        Published {
            slots,
            settled: AtomicUsize::new(0),
            done: AtomicBool::new(false),
            written: AtomicBool::new(false),
            watch: Watch::new(len),
        }
    }

    /// The writer, to the first caller only. The list is done (every
    /// settled slot is all of it) when the writer is dropped.
    pub fn writer(&self) -> Option<Writer<'_, 'a, T>> {
        if self.written.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(Writer {
            list: self,
            settled: 0,
        })
    }

    /// Slots `part` of the list, clipped to what the list holds, once they
    /// are settled (calling `relax` between looks until then).
    pub fn wait_for(&self, part: Range<usize>, mut relax: impl FnMut()) -> &[T] {
        loop {
            // `done` first: once it is seen, `settled` is final.
            let done = self.done.load(Ordering::Acquire);
            let settled = self.settled.load(Ordering::Acquire);
            if done || part.end <= settled {
                return self.settled_part(part, settled);
            }
            relax();
        }
    }

    /// The settled slots of `part` (`settled` read with acquire).
    fn settled_part(&self, part: Range<usize>, settled: usize) -> &[T] {
        let end = part.end.min(settled);
        let start = part.start.min(end);
        for i in start..end {
            self.watch.read(i);
        }
        // SAFETY: slots below `settled` are written and are not written
        // again; `UnsafeCell<MaybeUninit<T>>` has the layout of `T`.
        unsafe { core::slice::from_raw_parts(self.slots[start..end].as_ptr().cast(), end - start) }
    }

    /// The whole list, once the writer is done (`None` before).
    pub fn all(&self) -> Option<&[T]> {
        if !self.done.load(Ordering::Acquire) {
            return None;
        }
        let settled = self.settled.load(Ordering::Acquire);
        Some(self.settled_part(0..settled, settled))
    }
}

/// The one writer of a [`Published`] list.
pub struct Writer<'l, 'a, T> {
    list: &'l Published<'a, T>,
    settled: usize,
}

impl<T> Writer<'_, '_, T> {
    /// The slots from `from` on, to write (`from` below what is settled
    /// gives no slots: those are the readers').
    pub fn room_from(&mut self, from: usize) -> &mut [MaybeUninit<T>] {
        if from < self.settled {
            return &mut [];
        }
        let Some(slots) = self.list.slots.get(from..) else {
            return &mut [];
        };
        for i in from..from + slots.len() {
            self.list.watch.wrote(i);
        }
        // SAFETY: slots at or past `settled` are only this writer's (there
        // is one per list), and `&mut self` keeps this borrow unique.
        unsafe { core::slice::from_raw_parts_mut(slots.as_ptr().cast_mut().cast(), slots.len()) }
    }

    /// Settle the first `n` slots (never fewer than before).
    ///
    /// # Safety
    ///
    /// The first `n` slots are written.
    pub unsafe fn settle(&mut self, n: usize) {
        self.settled = n.max(self.settled).min(self.list.slots.len());
        self.list.settled.store(self.settled, Ordering::Release);
    }
}

impl<T> Drop for Writer<'_, '_, T> {
    fn drop(&mut self) {
        self.list.done.store(true, Ordering::Release);
    }
}

/// What a [`Claim`] names as its issuer: a claim is only good for slots
/// made for the same issuer ([`PerPart`]). Never zero-sized, so that two
/// issuers never share an address.
#[derive(Default)]
struct Issuer(#[allow(dead_code)] u8);

/// The right to one part of a shared job (a batch of a [`BatchQueue`], a
/// part of [`Parts`], a worker of [`Workers`]): its issuer hands out one
/// claim per part, ever, so the holder may write that part's slots
/// ([`PerPart::slot`]) while other workers write theirs.
pub struct Claim<'q> {
    index: usize,
    issuer: &'q Issuer,
}

impl Claim<'_> {
    /// The part claimed.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl core::fmt::Debug for Claim<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Claim({})", self.index)
    }
}

/// Parts `0..len` of a job, claimed once each, in order, by whichever
/// worker asks next (the rules' side tasks, then their chunks).
pub struct Parts {
    next: AtomicUsize,
    len: usize,
    issuer: Issuer,
}

impl Parts {
    /// Parts `0..len`, none claimed.
    pub fn new(len: usize) -> Self {
        Parts {
            next: AtomicUsize::new(0),
            len,
            issuer: Issuer::default(),
        }
    }

    /// The next part, `None` when every part is claimed.
    pub fn claim(&self) -> Option<Claim<'_>> {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        (index < self.len).then_some(Claim {
            index,
            issuer: &self.issuer,
        })
    }
}

/// Workers `0..n`, each claimed once, by its own index: the worker that
/// runs for CPU `i` claims `i`, and gets that CPU's slots.
pub struct Workers<'a> {
    taken: &'a [AtomicBool],
    issuer: Issuer,
}

impl<'a> Workers<'a> {
    /// One worker per flag of `taken`, none claimed yet.
    pub fn new(taken: &'a mut [AtomicBool]) -> Self {
        for flag in taken.iter_mut() {
            *flag = AtomicBool::new(false);
        }
        Workers {
            taken,
            issuer: Issuer::default(),
        }
    }

    /// Worker `i`, to the first caller only.
    pub fn claim(&self, i: usize) -> Option<Claim<'_>> {
        let flag = self.taken.get(i)?;
        if flag.swap(true, Ordering::Acquire) {
            return None;
        }
        Some(Claim {
            index: i,
            issuer: &self.issuer,
        })
    }
}

/// One slot per part of a job: the holder of a part's claim writes that
/// part's slot, while the job runs; the caller has them all back when the
/// job is dropped.
pub struct PerPart<'a, 'q, T> {
    slots: &'a [UnsafeCell<T>],
    issuer: &'q Issuer,
}

// SAFETY: slot `i` is only reached through `slot` with claim `i` of this
// issuer, which is handed out once and borrowed mutably for as long as the
// slot is; or through `&mut self`. `T: Send` since the slots are written
// from the workers' threads.
unsafe impl<T: Send> Sync for PerPart<'_, '_, T> {}

impl<'a, 'q, T> PerPart<'a, 'q, T> {
    /// Slots for the batches of `queue`.
    pub fn of_batches<U>(queue: &'q BatchQueue<'_, U>, room: &'a mut [T]) -> Self {
        Self::new(&queue.issuer, room)
    }

    /// Slots for `parts`.
    pub fn of_parts(parts: &'q Parts, room: &'a mut [T]) -> Self {
        Self::new(&parts.issuer, room)
    }

    /// Slots for `workers`.
    pub fn of_workers(workers: &'q Workers<'_>, room: &'a mut [T]) -> Self {
        Self::new(&workers.issuer, room)
    }

    fn new(issuer: &'q Issuer, room: &'a mut [T]) -> Self {
        PerPart {
            slots: cells(room),
            issuer,
        }
    }

    /// The slot of `claim`'s part: `None` if the claim is another
    /// issuer's or the part has no slot. (Both borrow their issuer, so
    /// while both live, the same address is the same issuer.)
    pub fn slot<'c>(&'c self, claim: &'c mut Claim<'_>) -> Option<&'c mut T> {
        if !core::ptr::eq(claim.issuer, self.issuer) {
            return None;
        }
        let cell = self.slots.get(claim.index)?;
        // SAFETY: see `Sync` above: the claim is this part's only one, and
        // it stays mutably borrowed while the slot is.
        Some(unsafe { &mut *cell.get() })
    }

    /// Slot `i`, with the job not running (`&mut self`): to prepare it.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        // SAFETY: `&mut self`: no claim's slot is borrowed, as `slot`
        // borrows `self`.
        self.slots.get(i).map(|cell| unsafe { &mut *cell.get() })
    }
}
