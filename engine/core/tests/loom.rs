//! Loom models of the SPSC ring: every interleaving (up to a preemption bound) of one
//! producer and one consumer thread, checked for lost, duplicated or reordered items, for
//! data races on the slots, and for leaked or double-dropped leftovers; and for records pushed
//! as chunks (the capture's byte ring), that no part of a record is ever visible alone.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p engine-core --test loom --release`
#![cfg(loom)]

use engine_core::ring::{channel, Consumer, Producer};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

/// Capacity 2 with four items: the producer fills the ring, has to wait, and the counters
/// wrap past the end of the slot array twice.
const CAPACITY: usize = 2;
const ITEMS: usize = 4;

/// Runs `f` under loom with a preemption bound that keeps each model to seconds while still
/// covering the interleavings where the two sides race on a full or empty ring.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(4);
    builder.check(f);
}

fn push_all_one_by_one(mut producer: Producer<usize>) {
    for i in 0..ITEMS {
        while producer.try_push(i).is_err() {
            thread::yield_now();
        }
    }
}

fn push_all_in_batches(mut producer: Producer<usize>) {
    let items: Vec<usize> = (0..ITEMS).collect();
    let mut sent = 0;
    while sent < ITEMS {
        match producer.push_batch(&items[sent..]) {
            0 => thread::yield_now(),
            n => sent += n,
        }
    }
}

/// Receives until the producer is gone and the ring is empty, with `take` doing one pop
/// attempt that appends to `got`; returns what arrived.
fn receive_until_abandoned(
    consumer: &mut Consumer<usize>,
    mut take: impl FnMut(&mut Consumer<usize>, &mut Vec<usize>) -> usize,
) -> Vec<usize> {
    let mut got = Vec::new();
    loop {
        if take(consumer, &mut got) > 0 {
            continue;
        }
        // Abandoned first, then empty: the flag's Acquire makes every push visible.
        if consumer.is_abandoned() && consumer.is_empty() {
            return got;
        }
        thread::yield_now();
    }
}

fn expected() -> Vec<usize> {
    (0..ITEMS).collect()
}

#[test]
fn single_push_and_pop_deliver_every_item_once_in_order() {
    model(|| {
        let (producer, mut consumer) = channel(CAPACITY);
        let sender = thread::spawn(move || push_all_one_by_one(producer));
        let got = receive_until_abandoned(&mut consumer, |c, got| match c.try_pop() {
            Some(v) => {
                got.push(v);
                1
            }
            None => 0,
        });
        sender.join().unwrap();
        assert_eq!(got, expected());
    });
}

#[test]
fn batch_push_and_pop_deliver_every_item_once_in_order() {
    model(|| {
        let (producer, mut consumer) = channel(CAPACITY);
        let sender = thread::spawn(move || push_all_in_batches(producer));
        let got = receive_until_abandoned(&mut consumer, |c, got| {
            let mut out = [usize::MAX; CAPACITY];
            let n = c.pop_batch(&mut out);
            got.extend_from_slice(&out[..n]);
            n
        });
        sender.join().unwrap();
        assert_eq!(got, expected());
    });
}

#[test]
fn batch_push_and_drain_deliver_every_item_once_in_order() {
    model(|| {
        let (producer, mut consumer) = channel(CAPACITY);
        let sender = thread::spawn(move || push_all_in_batches(producer));
        let got =
            receive_until_abandoned(&mut consumer, |c, got| c.drain(usize::MAX, |v| got.push(v)));
        sender.join().unwrap();
        assert_eq!(got, expected());
    });
}

/// Adds one to a shared counter when dropped.
struct Token(Arc<AtomicUsize>);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn items_left_behind_are_dropped_exactly_once_whichever_half_goes_last() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (mut producer, mut consumer) = channel(CAPACITY);
        let tokens = drops.clone();
        let sender = thread::spawn(move || {
            for _ in 0..CAPACITY {
                assert!(producer.try_push(Token(tokens.clone())).is_ok());
            }
            // The producer half is dropped here, racing the consumer's drop below.
        });
        // Take at most one item, so at least one is left for `Shared`'s drop.
        drop(consumer.try_pop());
        drop(consumer);
        sender.join().unwrap();
        assert_eq!(drops.load(Ordering::Relaxed), CAPACITY);
    });
}

/// Records of several chunks each, over a ring of bytes (the capture's use): capacity 4, so
/// the third record needs the ring empty and the counters wrap past the end twice.
const RECORDS: [&[&[u8]]; 3] = [&[&[0, 1], &[2]], &[&[3], &[4, 5]], &[&[6, 7, 8, 9]]];
/// Bytes received after each whole record.
const RECORD_ENDS: [usize; 3] = [3, 6, 10];

#[test]
fn chunked_records_arrive_whole_once_and_in_order() {
    model(|| {
        let (mut producer, mut consumer) = channel::<u8>(4);
        let sender = thread::spawn(move || {
            for record in RECORDS {
                while !producer.push_chunks(record) {
                    thread::yield_now();
                }
            }
        });
        let mut got = Vec::new();
        loop {
            // As large as the ring: a pop takes everything published.
            let mut out = [u8::MAX; 4];
            let n = consumer.pop_chunks(&mut out);
            if n > 0 {
                got.extend_from_slice(&out[..n]);
                assert!(
                    RECORD_ENDS.contains(&got.len()),
                    "part of a record was visible: {got:?}"
                );
                continue;
            }
            if consumer.is_abandoned() && consumer.is_empty() {
                break;
            }
            thread::yield_now();
        }
        sender.join().unwrap();
        assert_eq!(got, (0..10).collect::<Vec<u8>>());
    });
}
