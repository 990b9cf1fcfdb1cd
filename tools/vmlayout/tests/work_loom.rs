// SPDX-License-Identifier: GPL-2.0

//! The batch queue model-checked by loom over every interleaving of two
//! workers, one of which produces while the other claims:
//!
//!     RUSTFLAGS="--cfg loom" cargo test --release --test work_loom
//!
//! (`make check-host` runs it, in a target directory of its own.)

#![cfg(loom)]

use std::mem::MaybeUninit;

use loom::sync::Arc;
use vmlayout_core::work::{BatchQueue, Parts, Workers};

/// Two workers, `items` items in batches of `batch`, `room` slots: every
/// made item is claimed exactly once, and no worker waits forever.
fn model(items: u32, room: usize, batch: usize) {
    loom::model(move || {
        // The slots outlive the queue: leaked per iteration (a few bytes).
        let slots: &'static mut [MaybeUninit<u32>] =
            Box::leak(vec![MaybeUninit::uninit(); room].into_boxed_slice());
        let queue = Arc::new(BatchQueue::empty(slots, batch));
        let worker = move |queue: Arc<BatchQueue<'static, u32>>| {
            let mut got = Vec::new();
            if let Some(mut producer) = queue.producer() {
                for item in 0..items {
                    producer.push(item);
                }
            }
            while let Some((_, range)) = queue.claim(loom::thread::yield_now) {
                got.extend(range.map(|i| queue.get(i).unwrap()));
            }
            got
        };
        let other = {
            let queue = queue.clone();
            loom::thread::spawn(move || worker(queue))
        };
        let mut all = worker(queue.clone());
        all.extend(other.join().unwrap());
        all.sort_unstable();
        let kept = (items as usize).min(room) as u32;
        assert_eq!(all, (0..kept).collect::<Vec<_>>());
        assert_eq!(queue.overflowed(), items as usize > room);
    });
}

#[test]
fn two_workers_three_items() {
    model(3, 4, 2);
}

#[test]
fn two_workers_past_the_room() {
    model(3, 2, 1);
}

#[test]
fn two_workers_no_items() {
    model(0, 2, 1);
}

/// One writer settles three values one by one (all but the last, then the
/// rest when done) while a reader waits for chunks of two: what the reader
/// gets is what was written.
#[test]
fn published_reader_and_writer() {
    use vmlayout_core::work::Published;
    loom::model(|| {
        let room: &'static mut [MaybeUninit<u32>] =
            Box::leak(vec![MaybeUninit::uninit(); 3].into_boxed_slice());
        let list = Arc::new(Published::new(room));
        let reader = {
            let list = list.clone();
            loom::thread::spawn(move || {
                let first = list.wait_for(0..2, loom::thread::yield_now).to_vec();
                let second = list.wait_for(2..4, loom::thread::yield_now).to_vec();
                (first, second)
            })
        };
        {
            let mut writer = list.writer().unwrap();
            for i in 0..3 {
                writer.room_from(i)[0].write(10 + i as u32);
                // SAFETY: the slots below `i` are written.
                unsafe { writer.settle(i) };
            }
            // SAFETY: all three are written.
            unsafe { writer.settle(3) };
        }
        let (first, second) = reader.join().unwrap();
        assert_eq!(first, [10, 11]);
        assert_eq!(second, [12]);
    });
}

/// Two threads race for every part and for the same worker: each part is
/// claimed once, and the worker by one of them.
#[test]
fn parts_and_workers_are_claimed_once() {
    loom::model(|| {
        let parts = Arc::new(Parts::new(3));
        let flags: &'static mut [loom::sync::atomic::AtomicBool] =
            Box::leak(vec![loom::sync::atomic::AtomicBool::new(true)].into_boxed_slice());
        let crew = Arc::new(Workers::new(flags));
        let race = |parts: Arc<Parts>, crew: Arc<Workers<'static>>| {
            let won = crew.claim(0).is_some();
            let mut got = vec![];
            while let Some(claim) = parts.claim() {
                got.push(claim.index());
            }
            (won, got)
        };
        let other = {
            let (parts, crew) = (parts.clone(), crew.clone());
            loom::thread::spawn(move || race(parts, crew))
        };
        let (won, mut got) = race(parts, crew);
        let (won2, got2) = other.join().unwrap();
        assert!(won != won2, "exactly one wins the worker");
        got.extend(got2);
        got.sort_unstable();
        assert_eq!(got, vec![0, 1, 2]);
    });
}
