//! SPSC ring between two threads: throughput (items/s, single and batched operations) and
//! one-way latency (a ping-pong round trip over two rings, halved).
//!
//! Run: `cargo bench -p bench --bench spsc` (add `-- --quick` for a short run). The two
//! threads are pinned to the first two cores `core_affinity` reports, when there are two;
//! on a busy or hyper-threaded machine the figures say more about the scheduler than the
//! ring, so note the machine next to any number you publish.

use std::hint::{black_box, spin_loop};
use std::sync::OnceLock;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use engine::ring::{channel, Consumer, Producer};

/// Big enough that the producer rarely waits on the consumer, small enough to stay in L2.
const THROUGHPUT_CAPACITY: usize = 4096;
const BATCH_SIZES: [usize; 3] = [16, 64, 256];

/// The cores for the benchmark's own thread and its partner thread, if there are two.
///
/// Looked up once, before anything is pinned: `core_affinity` lists the cores the calling
/// thread may run on, so after pinning it would see only one (and threads spawned from a
/// pinned thread inherit its single core, which would put both threads on it).
fn cores() -> Option<(core_affinity::CoreId, core_affinity::CoreId)> {
    static CORES: OnceLock<Option<(core_affinity::CoreId, core_affinity::CoreId)>> =
        OnceLock::new();
    *CORES.get_or_init(|| match core_affinity::get_core_ids()?.as_slice() {
        [first, second, ..] => Some((*first, *second)),
        _ => None,
    })
}

/// Pins the calling thread if `core` is known; running unpinned is still a valid run.
fn pin(core: Option<core_affinity::CoreId>) {
    if let Some(core) = core {
        core_affinity::set_for_current(core);
    }
}

/// Starts a thread that runs `body` pinned to `core`.
fn spawn_pinned(
    core: Option<core_affinity::CoreId>,
    body: impl FnOnce() + Send + 'static,
) -> JoinHandle<()> {
    thread::spawn(move || {
        pin(core);
        body();
    })
}

/// Consumes until the producer is dropped and the ring is empty, one item (`batch` false)
/// or everything available (`batch` true) at a time.
fn sink(mut consumer: Consumer<u64>, batch: bool) {
    loop {
        let taken = if batch {
            consumer.drain(usize::MAX, |v| {
                black_box(v);
            })
        } else {
            consumer.try_pop().map(black_box).map_or(0, |_| 1)
        };
        if taken == 0 {
            if consumer.is_abandoned() && consumer.is_empty() {
                return;
            }
            spin_loop();
        }
    }
}

/// Pushes `count` items, `batch` at a time (`try_push` when `batch` is 1).
fn send(producer: &mut Producer<u64>, count: u64, batch: usize, items: &[u64]) {
    let mut left = count;
    while left > 0 {
        let pushed = if batch == 1 {
            usize::from(producer.try_push(left).is_ok())
        } else {
            producer.push_batch(&items[..batch.min(left as usize)])
        };
        if pushed == 0 {
            spin_loop();
        }
        left -= pushed as u64;
    }
}

fn throughput(c: &mut Criterion) {
    let cores = cores();
    pin(cores.map(|(main, _)| main));
    let items: Vec<u64> = (0..*BATCH_SIZES.iter().max().unwrap_or(&1) as u64).collect();

    let mut group = c.benchmark_group("spsc_throughput");
    // One iteration is one item, so criterion reports items per second.
    group.throughput(Throughput::Elements(1));
    for batch in std::iter::once(1).chain(BATCH_SIZES) {
        let name = if batch == 1 { "single" } else { "batch" };
        group.bench_with_input(BenchmarkId::new(name, batch), &batch, |b, &batch| {
            let (mut producer, consumer) = channel::<u64>(THROUGHPUT_CAPACITY);
            let partner = spawn_pinned(cores.map(|(_, other)| other), move || {
                sink(consumer, batch > 1);
            });
            b.iter_custom(|iters| {
                let start = Instant::now();
                send(&mut producer, iters, batch, &items);
                // The run ends when the consumer has taken the last item, not when the
                // producer has handed it over.
                while !producer.is_empty() {
                    spin_loop();
                }
                start.elapsed()
            });
            drop(producer);
            partner.join().expect("consumer thread panicked");
        });
    }
    group.finish();
}

/// Sends `message` and waits for the echo thread to send it back.
fn round_trip(ping: &mut Producer<u64>, pong: &mut Consumer<u64>, message: u64) {
    // Only one message is ever in flight, so the ring is never full.
    ping.try_push(message)
        .expect("at most one message is in flight");
    loop {
        if let Some(echoed) = pong.try_pop() {
            debug_assert_eq!(echoed, message);
            return;
        }
        spin_loop();
    }
}

fn latency(c: &mut Criterion) {
    let cores = cores();
    pin(cores.map(|(main, _)| main));

    let mut group = c.benchmark_group("spsc_latency");
    group.bench_function("one_way (round trip / 2)", |b| {
        let (mut ping, mut ping_rx) = channel::<u64>(2);
        let (mut pong_tx, mut pong) = channel::<u64>(2);
        let echo = spawn_pinned(cores.map(|(_, other)| other), move || loop {
            match ping_rx.try_pop() {
                Some(v) => {
                    while pong_tx.try_push(v).is_err() {
                        spin_loop();
                    }
                }
                None if ping_rx.is_abandoned() => return,
                None => spin_loop(),
            }
        });
        // One round trip before timing, so the echo thread's start-up is not measured.
        round_trip(&mut ping, &mut pong, u64::MAX);
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                round_trip(&mut ping, &mut pong, i);
            }
            start.elapsed() / 2
        });
        drop(ping);
        echo.join().expect("echo thread panicked");
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = throughput, latency
}
criterion_main!(benches);
