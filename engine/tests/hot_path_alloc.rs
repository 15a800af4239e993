//! The hot path allocates nothing in steady state: decode + route + SPSC hop + aggregate (with
//! bar-store writes) of 100 000 frames after warm-up, counted by a global allocator.

// A counting global allocator needs `unsafe impl GlobalAlloc`.
#![allow(unsafe_code)]

mod common;

use common::*;
use engine::aggregate::Aggregator;
use engine::market::{MarketTable, Tick};
use engine::pipeline::frame_symbol;
use engine::ring;
use engine::route::Router;
use engine::stats::FeedStats;
use feeds::Venue;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const BASE_MS: i64 = 1_795_478_400_000 + 3_600_000;

#[test]
fn decode_route_aggregate_allocates_nothing_after_warm_up() {
    // 110 000 frames over ~18 minutes of one day, three markets, trades and liquidations,
    // raw and combined framing, built before counting starts.
    let frames: Vec<(Venue, String)> = (0..110_000u64)
        .map(|i| {
            let ts = BASE_MS + (i as i64) * 10;
            let price = format!("{}.{:02}", 60_000 + i % 500, i % 100);
            let qty = format!("0.{:05}", 1 + i % 99_999);
            match i % 5 {
                0 | 1 => (
                    Venue::BinanceSpot,
                    spot_trade("BTCUSDT", i, &price, &qty, ts, i % 3 == 0, i % 2 == 0),
                ),
                2 => (
                    Venue::BinanceSpot,
                    spot_trade("ETHUSDT", i, &price, &qty, ts, i % 3 == 1, true),
                ),
                3 => (
                    Venue::BinanceUsdm,
                    usdm_trade("BTCUSDT", i, &price, &qty, ts, i % 2 == 0),
                ),
                _ => (
                    Venue::BinanceUsdm,
                    force_order(
                        "BTCUSDT",
                        if i % 2 == 0 { "BUY" } else { "SELL" },
                        &price,
                        &qty,
                        ts,
                    ),
                ),
            }
        })
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let mut table = MarketTable::new(1);
    for (v, p) in [
        (Venue::BinanceSpot, "btcusdt"),
        (Venue::BinanceSpot, "ethusdt"),
        (Venue::BinanceUsdm, "btcusdt"),
    ] {
        table.add(v, frame_symbol(v, p).unwrap());
    }
    let mut agg = Aggregator::new(dir.path());
    for (idx, m) in table.iter() {
        agg.add_market(idx, &m.id);
    }
    let stats = Arc::new(FeedStats::default());
    let mut router = Router::new(stats.clone());
    let (mut tx, mut rx) = ring::channel::<Tick>(4096);
    let mut batch: Vec<Tick> = Vec::with_capacity(512);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut closed = 0u64;

    let mut run = |frames: &[(Venue, String)]| {
        for (venue, f) in frames {
            buf.clear();
            buf.extend_from_slice(f.as_bytes());
            let _ = router.route(
                *venue,
                0,
                &mut buf,
                1,
                &mut |v, s| table.lookup(v, s),
                &mut |t| batch.push(t),
            );
            if batch.len() >= 256 {
                let n = tx.push_batch(&batch);
                assert_eq!(n, batch.len());
                batch.clear();
                rx.drain(usize::MAX, |t| {
                    agg.on_tick(&t, &mut |_| closed += 1).unwrap()
                });
            }
        }
    };
    run(&frames[..10_000]);
    COUNTING.store(true, Ordering::SeqCst);
    run(&frames[10_000..]);
    COUNTING.store(false, Ordering::SeqCst);
    let allocs = ALLOCS.load(Ordering::SeqCst);

    assert_eq!(stats.frames.get(), 110_000);
    assert_eq!(
        stats.events.get(),
        110_000,
        "every frame should produce one event"
    );
    assert_eq!(stats.decode_errors(), 0);
    assert!(closed > 1000, "bars were closed and written ({closed})");
    assert_eq!(
        allocs, 0,
        "{allocs} heap allocations on the hot path after warm-up"
    );
}
