// SPDX-License-Identifier: GPL-2.0

//! The work-sharing protocols on real threads: every item claimed exactly
//! once, in batches, whichever worker produces and however they interleave.
//! (`work_loom.rs` model-checks the same over every interleaving.)

#![cfg(not(loom))]

use std::mem::MaybeUninit;
use std::sync::Mutex;

use proptest::prelude::*;
use std::sync::atomic::AtomicBool;

use vmlayout_core::work::{BatchQueue, Parts, PerPart, Workers};

/// What each worker of a run saw: the batches it claimed and the items in
/// them, and whether it was the producer.
#[derive(Default)]
struct Seen {
    batches: Vec<(usize, Vec<u32>)>,
    produced: bool,
}

/// `workers` threads share a queue of `items` items (`room` slots, `batch`
/// a claim): with `overlap` the first worker to start produces them while
/// the others claim, else the items are made before the workers start.
fn run(
    items: u32,
    room: usize,
    batch: usize,
    workers: usize,
    overlap: bool,
) -> (Vec<Seen>, usize, bool) {
    let mut slots = vec![MaybeUninit::uninit(); room];
    let mut made: Vec<u32> = (0..items.min(room as u32)).collect();
    let queue = if overlap {
        BatchQueue::empty(&mut slots, batch)
    } else {
        BatchQueue::full(&mut made, batch)
    };
    let seen: Vec<Mutex<Seen>> = (0..workers).map(|_| Mutex::default()).collect();
    std::thread::scope(|s| {
        for slot in &seen {
            let queue = &queue;
            s.spawn(move || {
                let mut mine = Seen::default();
                if let Some(mut producer) = queue.producer() {
                    mine.produced = true;
                    for item in 0..items {
                        producer.push(item);
                        if item % 7 == 0 {
                            std::thread::yield_now();
                        }
                    }
                }
                while let Some((b, range)) = queue.claim(std::thread::yield_now) {
                    let got = range
                        .map(|i| queue.get(i).expect("a claimed item is made"))
                        .collect();
                    mine.batches.push((b.index(), got));
                }
                *slot.lock().unwrap() = mine;
            });
        }
    });
    let (made, overflowed) = (queue.made(), queue.overflowed());
    (
        seen.into_iter().map(|m| m.into_inner().unwrap()).collect(),
        made,
        overflowed,
    )
}

fn check(items: u32, room: usize, batch: usize, workers: usize, overlap: bool) {
    let (seen, made, overflowed) = run(items, room, batch, workers, overlap);
    let kept = (items as usize).min(room);
    assert_eq!(made, kept);
    assert_eq!(overflowed, overlap && items as usize > room);
    assert_eq!(
        seen.iter().filter(|s| s.produced).count(),
        usize::from(overlap)
    );
    // Every kept item exactly once, each batch the items of its index.
    let mut all: Vec<(usize, Vec<u32>)> = seen.into_iter().flat_map(|s| s.batches).collect();
    all.sort();
    let want: Vec<(usize, Vec<u32>)> = (0..kept as u32)
        .collect::<Vec<_>>()
        .chunks(batch.max(1))
        .enumerate()
        .map(|(b, c)| (b, c.to_vec()))
        .collect();
    assert_eq!(all, want);
}

#[test]
fn one_worker_takes_everything() {
    check(100, 128, 8, 1, true);
    check(100, 100, 8, 1, false);
}

#[test]
fn empty_queue_ends_every_worker() {
    check(0, 16, 8, 3, true);
    check(0, 0, 8, 3, false);
}

#[test]
fn overflow_keeps_the_room_and_says_so() {
    check(300, 256, 8, 2, true);
}

#[test]
fn a_full_queue_has_no_producer() {
    let mut items = [1u32, 2, 3];
    let queue = BatchQueue::full(&mut items, 2);
    assert!(queue.producer().is_none());
    let claimed = |q: &BatchQueue<'_, u32>| {
        q.claim(|| panic!("a full queue never waits"))
            .map(|(c, r)| (c.index(), r))
    };
    assert_eq!(claimed(&queue), Some((0, 0..2)));
    assert_eq!(claimed(&queue), Some((1, 2..3)));
    assert_eq!(claimed(&queue), None);
    assert_eq!(queue.get(3), None);
}

#[test]
fn only_the_first_caller_produces() {
    let mut slots = [MaybeUninit::uninit(); 4];
    let queue = BatchQueue::empty(&mut slots, 4);
    let mut producer = queue.producer().expect("the first caller produces");
    assert!(queue.producer().is_none());
    producer.push(7u32);
    assert_eq!(queue.get(0), Some(7));
    assert_eq!(queue.get(1), None);
    drop(producer);
    let (claim, items) = queue.claim(|| panic!("done: never waits")).unwrap();
    assert_eq!((claim.index(), items), (0, 0..1));
    assert!(queue.claim(|| panic!("done: never waits")).is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_item_claimed_exactly_once(
        items in 0u32..600,
        extra in 0usize..64,
        short in any::<bool>(),
        batch in 1usize..12,
        workers in 1usize..5,
        overlap in any::<bool>(),
    ) {
        // Room for all the items, or (a rescan whose tables grew) fewer.
        let room = if short && overlap { (items as usize) / 2 } else { items as usize + extra };
        check(items, room, batch, workers, overlap);
    }
}

/// One writer makes `items` values in order, settling all but its last
/// (as the join does: the next item may extend it) after each, while
/// `readers` threads read chunks of `chunk`: every chunk a reader gets
/// is final and the values it expects; the whole list at the end.
fn publish(items: usize, chunk: usize, readers: usize) {
    use vmlayout_core::work::Published;
    let mut room = vec![MaybeUninit::uninit(); items];
    let list = Published::new(&mut room);
    let chunks = items.div_ceil(chunk.max(1));
    std::thread::scope(|s| {
        let list = &list;
        s.spawn(move || {
            let mut writer = list.writer().expect("the first caller writes");
            assert!(list.writer().is_none());
            for i in 0..items {
                writer.room_from(i)[0].write(i as u64 * 3);
                // SAFETY: the slots below `i + 1` are written.
                unsafe { writer.settle(i) };
                if i % 5 == 0 {
                    std::thread::yield_now();
                }
            }
            // SAFETY: all are written.
            unsafe { writer.settle(items) };
        });
        for r in 0..readers {
            s.spawn(move || {
                for c in (r..chunks).step_by(readers) {
                    let part = c * chunk..(c + 1) * chunk;
                    let got = list.wait_for(part.clone(), std::thread::yield_now);
                    let want: Vec<u64> = (part.start..part.end.min(items))
                        .map(|i| i as u64 * 3)
                        .collect();
                    assert_eq!(got, &want[..]);
                }
            });
        }
    });
    let want: Vec<u64> = (0..items).map(|i| i as u64 * 3).collect();
    assert_eq!(list.all(), Some(&want[..]));
}

#[test]
fn published_chunks_are_final() {
    publish(1000, 64, 2);
    publish(0, 8, 2);
    publish(1, 8, 3);
}

#[test]
fn published_writer_cannot_touch_what_is_settled() {
    use vmlayout_core::work::Published;
    let mut room = [MaybeUninit::uninit(); 4];
    let list = Published::new(&mut room);
    let mut writer = list.writer().unwrap();
    writer.room_from(0)[0].write(1u8);
    writer.room_from(1)[0].write(2u8);
    // SAFETY: two are written.
    unsafe { writer.settle(2) };
    assert!(writer.room_from(1).is_empty());
    assert_eq!(writer.room_from(2).len(), 2);
    assert!(list.all().is_none());
    assert_eq!(list.wait_for(0..2, || panic!("settled: no wait")), &[1, 2]);
    drop(writer);
    assert_eq!(list.all(), Some(&[1u8, 2][..]));
    assert_eq!(list.wait_for(1..9, || panic!("done: no wait")), &[2]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn published_readers_see_the_serial_list(items in 0usize..800, chunk in 1usize..100, readers in 1usize..4) {
        publish(items, chunk, readers);
    }
}

/// `workers` threads race for the workers' slots (each tries every index,
/// from its own on, until it wins one: so each wins exactly one), then
/// claim `parts` parts in turn, write each part's slot with the worker
/// they won and count it in that worker's slot: every part is written once,
/// and each worker's count is the parts written with its index.
fn claim_parts(parts: usize, workers: usize) {
    let issued = Parts::new(parts);
    let mut room = vec![usize::MAX; parts];
    let mut flags: Vec<AtomicBool> = (0..workers).map(|_| AtomicBool::new(true)).collect();
    let crew = Workers::new(&mut flags);
    let mut counts = vec![0usize; workers];
    {
        let slots = PerPart::of_parts(&issued, &mut room);
        let own = PerPart::of_workers(&crew, &mut counts);
        std::thread::scope(|s| {
            for w in 0..workers {
                let (slots, own, issued, crew) = (&slots, &own, &issued, &crew);
                s.spawn(move || {
                    let mut me = (0..workers)
                        .find_map(|k| crew.claim((w + k) % workers))
                        .expect("one worker slot per thread");
                    while let Some(mut part) = issued.claim() {
                        *slots.slot(&mut part).expect("a part has a slot") = me.index();
                        *own.slot(&mut me).expect("a worker has a slot") += 1;
                        std::thread::yield_now();
                    }
                });
            }
        });
    }
    for (k, &count) in counts.iter().enumerate() {
        assert_eq!(room.iter().filter(|&&x| x == k).count(), count);
    }
    assert_eq!(counts.iter().sum::<usize>(), parts, "every part once");
}

#[test]
fn each_part_and_each_worker_is_claimed_once() {
    for (parts, workers) in [(0, 1), (1, 3), (100, 1), (1000, 4)] {
        claim_parts(parts, workers);
    }
}

#[test]
fn a_worker_is_claimed_once_and_its_slot_by_its_claim_only() {
    let mut flags: Vec<AtomicBool> = (0..3).map(|_| AtomicBool::new(true)).collect();
    let crew = Workers::new(&mut flags);
    let mut room = [0u32; 2];
    let mut slots = PerPart::of_workers(&crew, &mut room);
    *slots.get_mut(1).unwrap() = 5;
    let mut one = crew.claim(1).expect("not claimed yet");
    assert!(crew.claim(1).is_none(), "claimed once");
    assert_eq!(*slots.slot(&mut one).unwrap(), 5);
    // A worker past the room has no slot; a claim of another issuer none.
    let mut two = crew.claim(2).unwrap();
    assert!(slots.slot(&mut two).is_none());
    let other = Parts::new(4);
    let mut foreign = other.claim().unwrap();
    assert_eq!(foreign.index(), 0);
    assert!(slots.slot(&mut foreign).is_none());
    assert!(crew.claim(3).is_none(), "no such worker");
}
