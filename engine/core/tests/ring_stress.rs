//! Multi-threaded stress of the SPSC ring: a producer thread and a consumer thread move
//! millions of sequence numbers through rings of several capacities, with single and batch
//! operations mixed on both sides, and the consumer checks that every number arrives exactly
//! once and in order. The consumer stops only on the shutdown signal (producer abandoned and
//! ring empty), so these runs also check that no item is lost at shutdown.
//!
//! Run in release: `cargo test -p engine-core --release --test ring_stress`.

use std::thread;

use engine_core::ring::{channel, Consumer, Producer};

/// How one side moves items each time it gets a turn.
#[derive(Debug, Clone, Copy)]
enum Ops {
    /// `try_push` / `try_pop`, one item at a time.
    Single,
    /// `push_batch` / `pop_batch` with up to this many items.
    Batch(usize),
    /// Consumer only: `drain` with this `max`.
    Drain(usize),
    /// A pseudo-random choice among all of the above on every turn, with random sizes.
    Mixed,
}

const MAX_BATCH: usize = 64;

/// Waits a little when the other side has not caught up: spin briefly, then give the core
/// away, since on a 2-core machine the other side may need this one.
#[derive(Default)]
struct Backoff(u32);

impl Backoff {
    fn wait(&mut self) {
        if self.0 < 16 {
            std::hint::spin_loop();
            self.0 += 1;
        } else {
            thread::yield_now();
        }
    }

    fn reset(&mut self) {
        self.0 = 0;
    }
}

/// Deterministic xorshift, so a failing mix can be rerun exactly.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Turns `Mixed` into a concrete choice for one turn.
fn resolve(ops: Ops, rng: &mut Rng, consumer: bool) -> Ops {
    match ops {
        Ops::Mixed => match rng.below(if consumer { 3 } else { 2 }) {
            0 => Ops::Single,
            1 => Ops::Batch(1 + rng.below(MAX_BATCH)),
            _ => Ops::Drain(1 + rng.below(MAX_BATCH)),
        },
        other => other,
    }
}

fn produce(mut producer: Producer<u64>, ops: Ops, count: u64, seed: u64) {
    let mut rng = Rng(seed);
    let mut backoff = Backoff::default();
    let mut batch = [0u64; MAX_BATCH];
    let mut next = 0u64;
    while next < count {
        let pushed = match resolve(ops, &mut rng, false) {
            Ops::Single => usize::from(producer.try_push(next).is_ok()),
            Ops::Batch(size) => {
                let size = size.min((count - next) as usize);
                for (k, slot) in batch[..size].iter_mut().enumerate() {
                    *slot = next + k as u64;
                }
                producer.push_batch(&batch[..size])
            }
            Ops::Drain(_) | Ops::Mixed => unreachable!("not a producer operation"),
        };
        if pushed == 0 {
            assert!(!producer.is_abandoned(), "consumer quit early");
            backoff.wait();
        } else {
            backoff.reset();
            next += pushed as u64;
        }
    }
}

/// Receives until the producer is gone and the ring is empty; returns how many arrived.
fn consume(mut consumer: Consumer<u64>, ops: Ops, seed: u64) -> u64 {
    let mut rng = Rng(seed);
    let mut backoff = Backoff::default();
    let mut batch = [u64::MAX; MAX_BATCH];
    let mut expected = 0u64;
    let mut check = |v: u64| {
        assert_eq!(v, expected, "item out of order, lost or duplicated");
        expected += 1;
    };
    loop {
        let taken = match resolve(ops, &mut rng, true) {
            Ops::Single => match consumer.try_pop() {
                Some(v) => {
                    check(v);
                    1
                }
                None => 0,
            },
            Ops::Batch(size) => {
                let n = consumer.pop_batch(&mut batch[..size]);
                batch[..n].iter().for_each(|&v| check(v));
                n
            }
            Ops::Drain(max) => consumer.drain(max, &mut check),
            Ops::Mixed => unreachable!("resolved above"),
        };
        if taken > 0 {
            backoff.reset();
        } else if consumer.is_abandoned() && consumer.is_empty() {
            break;
        } else {
            backoff.wait();
        }
    }
    expected
}

/// Runs one producer and one consumer thread over a ring of `capacity`.
fn run(capacity: usize, producer_ops: Ops, consumer_ops: Ops, count: u64) {
    let (producer, consumer) = channel(capacity);
    let seed = 0x9E37_79B9_7F4A_7C15 ^ capacity as u64;
    let sender = thread::spawn(move || produce(producer, producer_ops, count, seed));
    let received = consume(consumer, consumer_ops, seed.rotate_left(17));
    sender.join().expect("producer thread panicked");
    assert_eq!(
        received, count,
        "capacity {capacity}: items lost at shutdown"
    );
}

#[test]
fn smallest_ring_one_at_a_time() {
    run(1, Ops::Single, Ops::Single, 1_000_000);
}

#[test]
fn smallest_ring_batches_in_and_drained_out() {
    run(2, Ops::Batch(3), Ops::Drain(usize::MAX), 1_000_000);
}

#[test]
fn tiny_ring_mixed_operations() {
    run(3, Ops::Mixed, Ops::Mixed, 1_000_000);
}

#[test]
fn batches_that_do_not_divide_the_capacity() {
    run(8, Ops::Batch(5), Ops::Batch(3), 1_000_000);
}

#[test]
fn medium_ring_mixed_operations() {
    run(64, Ops::Mixed, Ops::Mixed, 2_000_000);
}

#[test]
fn large_ring_batched_throughput() {
    run(
        1024,
        Ops::Batch(MAX_BATCH),
        Ops::Drain(usize::MAX),
        4_000_000,
    );
}

/// Non-`Copy` items, so every item's heap allocation moves through the ring; each must be
/// received once (or, if the test is cut short, dropped by the ring).
#[test]
fn owned_items_arrive_once_in_order() {
    const COUNT: u64 = 200_000;
    let (mut producer, mut consumer) = channel::<Box<u64>>(4);
    let sender = thread::spawn(move || {
        let mut backoff = Backoff::default();
        for i in 0..COUNT {
            let mut item = Box::new(i);
            while let Err(back) = producer.try_push(item) {
                item = back;
                backoff.wait();
            }
            backoff.reset();
        }
    });
    let mut expected = 0u64;
    let mut backoff = Backoff::default();
    loop {
        let n = consumer.drain(usize::MAX, |item| {
            assert_eq!(*item, expected);
            expected += 1;
        });
        if n > 0 {
            backoff.reset();
        } else if consumer.is_abandoned() && consumer.is_empty() {
            break;
        } else {
            backoff.wait();
        }
    }
    sender.join().expect("producer thread panicked");
    assert_eq!(expected, COUNT);
}
