//! The hot path allocates nothing in steady state: decode + route + SPSC hop + aggregate (with
//! bar-store writes) of 100 000 frames after warm-up, and the strategy (windows, all five
//! phases, positions, validator) over hours of bars, counted by a global allocator that counts
//! only on the test's own thread (tests in this binary run in parallel).

mod common;

use common::*;
use engine::aggregate::Aggregator;
use engine::market::{MarketTable, Tick};
use engine::pipeline::frame_symbol;
use engine::ring;
use engine::route::Router;
use engine::stats::FeedStats;
use feeds::Venue;
use std::sync::Arc;
use testkit::{allocations, count_this_thread};

#[global_allocator]
static ALLOCATOR: testkit::CountingAllocator = testkit::CountingAllocator;

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
                    usdm_agg_trade(
                        "BTCUSDT",
                        i,
                        3 * i,
                        3 * i + i % 3,
                        &price,
                        &qty,
                        ts,
                        i % 2 == 0,
                    ),
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
    let before = allocations();
    count_this_thread(true);
    run(&frames[10_000..]);
    count_this_thread(false);
    let allocs = allocations() - before;

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

/// Open-interest readings (Bybit `tickers`, OKX `open-interest`, Bitget `ticker`) interleaved
/// with trades: decode + route + SPSC hop + the open-interest store write allocate nothing once
/// each market's day file is open.
#[test]
fn open_interest_ticks_allocate_nothing_after_warm_up() {
    let frames: Vec<(Venue, String)> = (0..40_000u64)
        .map(|i| {
            let ts = BASE_MS + (i as i64) * 25;
            let oi = format!("{}.{:03}", 50_000 + i % 977, i % 1000);
            match i % 4 {
                0 => (
                    Venue::BybitLinear,
                    format!(
                        r#"{{"topic":"tickers.BTCUSDT","type":"snapshot","data":{{"symbol":"BTCUSDT","markPrice":"65117.43","openInterest":"{oi}","openInterestValue":"3899995666.09"}},"cs":{i},"ts":{ts}}}"#
                    ),
                ),
                1 => (
                    Venue::OkxSwap,
                    format!(
                        r#"{{"arg":{{"channel":"open-interest","instId":"BTC-USDT-SWAP"}},"data":[{{"instId":"BTC-USDT-SWAP","instType":"SWAP","oi":"2216113.01","oiCcy":"{oi}","oiUsd":"1939251795.54","ts":"{ts}"}}]}}"#
                    ),
                ),
                2 => (
                    Venue::Bitget,
                    format!(
                        r#"{{"action":"snapshot","arg":{{"instType":"USDT-FUTURES","channel":"ticker","instId":"BTCUSDT"}},"data":[{{"instId":"BTCUSDT","lastPr":"83692.3","markPrice":"83692.3","holdingAmount":"{oi}","ts":"{ts}"}}],"ts":{ts}}}"#
                    ),
                ),
                _ => (
                    Venue::BinanceUsdm,
                    usdm_trade("BTCUSDT", i, "60000.5", "0.01", ts, i % 2 == 0),
                ),
            }
        })
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let mut table = MarketTable::new(1);
    let sym = |s: &str| feeds::Symbol::new(s.as_bytes()).unwrap();
    table.add(Venue::BybitLinear, sym("BTCUSDT"));
    table.add(Venue::OkxSwap, sym("BTC-USDT-SWAP"));
    table.add(Venue::Bitget, sym("BTCUSDT"));
    table.add(Venue::BinanceUsdm, sym("BTCUSDT"));
    let mut agg = Aggregator::new(dir.path());
    for (idx, m) in table.iter() {
        agg.add_market(idx, &m.id);
    }
    let stats = Arc::new(FeedStats::default());
    let mut router = Router::new(stats.clone());
    let (mut tx, mut rx) = ring::channel::<Tick>(4096);
    let mut batch: Vec<Tick> = Vec::with_capacity(512);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);

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
                rx.drain(usize::MAX, |t| agg.on_tick(&t, &mut |_| {}).unwrap());
            }
        }
    };
    run(&frames[..2_000]);
    let before = allocations();
    count_this_thread(true);
    run(&frames[2_000..]);
    count_this_thread(false);
    let allocs = allocations() - before;

    assert_eq!(stats.decode_errors(), 0);
    assert_eq!(stats.open_interest.get(), 30_000);
    assert_eq!(stats.events.get(), 10_000, "the trades");
    assert!(agg.stats().oi_ticks > 29_000, "{:?}", agg.stats());
    assert_eq!(
        allocs, 0,
        "{allocs} heap allocations on the open-interest path after warm-up"
    );
    // What was stored is the last reading of a second.
    let st = engine::store::Store::new(dir.path());
    let series = st.oi_range("OKEX:BTC-USDT-SWAP", 0, i64::MAX / 2).unwrap();
    assert!(!series.is_empty());
    let last = series.last().unwrap();
    assert_eq!(last.ts_us.div_euclid(1_000_000) * 1000, last.time_ms);
}

/// Hours of bars for one symbol (a spot and a perp market) whose flows swing between spot
/// buying / perp selling and the reverse, so evaluations reach every phase, enter and exit.
fn strategy_allocates_nothing(one_second: bool) {
    use engine::aggregate::ClosedBar;
    use engine::bar::Bar;
    use engine::strategy::{Strategy, StrategyConfig, SymbolSpec};
    use feeds::MarketKind;
    use std::sync::atomic::AtomicUsize;

    let cfg = StrategyConfig {
        enable_1s_mode: one_second,
        min_entry_score: 3.0,
        cooldown_s: 60,
        max_signals_per_hour: 64,
        ..StrategyConfig::default()
    };
    let spec = SymbolSpec {
        base: "BTC".into(),
        pair: "BTCUSDT".into(),
        markets: vec![(0, MarketKind::Spot), (1, MarketKind::Perp)],
        reference: 1,
    };
    let mut st = Strategy::new(
        cfg.settings(),
        vec![(0, spec)],
        Arc::new(AtomicUsize::new(0)),
    );
    let mut signals = Vec::with_capacity(100_000);
    let start = 1_795_478_400i64;
    let bar = |second: i64, market: u32| {
        let t = (second - start) as f64;
        let swing = (t / 1800.0 * std::f64::consts::TAU).sin();
        let flow = 2.0e5 * swing * if market == 0 { 1.0 } else { -1.0 };
        let px = 60_000.0 * (1.0 + 0.02 * (t / 2400.0 * std::f64::consts::TAU).sin());
        let wiggle = ((second * 7919) % 13) as f64;
        ClosedBar {
            market,
            second,
            bar: Bar {
                open: px - wiggle,
                high: px + 10.0 + wiggle,
                low: px - 10.0 - wiggle,
                close: px + wiggle,
                vbuy: 3.0e5 + flow.max(0.0),
                vsell: 3.0e5 + (-flow).max(0.0),
                cbuy: 3,
                csell: 3,
                ..Bar::EMPTY
            },
            late: false,
        }
    };
    let mut run = |from: i64, to: i64| {
        for s in from..to {
            for m in 0..2 {
                st.on_bar(&bar(s, m), 0, &mut |sig| signals.push(sig));
            }
            st.advance(s, 0, &mut |sig| signals.push(sig));
        }
    };
    let warm = start + 5 * 3600;
    run(start, warm);
    let before = allocations();
    count_this_thread(true);
    run(warm, warm + 3 * 3600);
    count_this_thread(false);
    let allocs = allocations() - before;
    let c = st.counters();
    assert!(c.evaluations > 10_000, "{c:?}");
    assert!(c.signals >= 4, "entries and exits happened: {c:?}");
    assert!(c.below_min_score + c.signals > 0, "phase 4 ran: {c:?}");
    assert_eq!(
        allocs, 0,
        "{allocs} heap allocations in the strategy after warm-up ({c:?})"
    );
}

#[test]
fn strategy_on_minute_bars_allocates_nothing_after_warm_up() {
    strategy_allocates_nothing(false);
}

#[test]
fn strategy_in_one_second_mode_allocates_nothing_after_warm_up() {
    strategy_allocates_nothing(true);
}

#[test]
fn the_counter_sees_allocations_on_this_thread() {
    let before = allocations();
    count_this_thread(true);
    let v: Vec<u64> = std::hint::black_box(Vec::with_capacity(16));
    count_this_thread(false);
    assert_eq!(allocations() - before, 1);
    drop(v);
}

/// The feed thread's continuity check allocates nothing: 200 000 ticks on three markets with
/// duplicates, reordered frames, id holes that become gaps, recovered trades, reconnect windows
/// and a rotation handover, and their actions drained as the feed thread does.
#[test]
fn continuity_allocates_nothing_after_warm_up() {
    use engine::continuity::{Action, Continuity, ContinuityConfig, Source};
    use feeds::{EventKind, Side, Symbol};
    let mut table = MarketTable::new(1);
    let spot = table.add(Venue::BinanceSpot, Symbol::new(b"BTCUSDT").unwrap());
    let okx = table.add(Venue::OkxSwap, Symbol::new(b"BTC-USDT-SWAP").unwrap());
    let bybit = table.add(Venue::BybitLinear, Symbol::new(b"BTCUSDT").unwrap());
    let cfg = ContinuityConfig {
        hole_grace_ns: 1_000,
        ..ContinuityConfig::default()
    };
    let mut c = Continuity::new(cfg, &table, &[], 3, 0);
    let tick = |market, id: u64, ts_us: i64| Tick {
        market,
        kind: EventKind::Trade,
        side: Side::Buy,
        fills: 1,
        price: 100.0,
        qty: 1.0,
        ts_us,
        recv_ns: 1,
        trade_id: id,
    };
    let mut sent = 0u64;
    let mut run = |c: &mut Continuity, from: u64, n: u64, count: bool| {
        count_this_thread(count);
        for i in from..from + n {
            let ts = 1_795_000_000_000_000 + i as i64 * 1_000;
            let now = i * 10_000;
            let live = Source {
                sub: 0,
                replacement: false,
            };
            // Binance: every 1000th id skipped (a gap, recovered below), every 700th sent
            // twice, every 500th pair swapped.
            if i % 1000 != 7 {
                let id = if i % 500 == 3 {
                    i + 1
                } else if i % 500 == 4 {
                    i - 1
                } else {
                    i
                };
                c.admit(&tick(spot, id, ts), live, now);
                if i % 700 == 0 {
                    c.admit(&tick(spot, id, ts), live, now);
                }
            }
            c.admit(
                &tick(okx, i, ts),
                Source {
                    sub: 1,
                    replacement: false,
                },
                now,
            );
            c.admit(
                &tick(bybit, 0, ts),
                Source {
                    sub: 2,
                    replacement: false,
                },
                now,
            );
            if i % 1000 == 900 {
                // The recovered trade of this block's gap.
                c.admit_backfill(&tick(spot, i - 893, ts));
            }
            if i % 5000 == 0 {
                c.connection_lost(2);
                c.connection_open(2, now, ts);
                c.handover_begin(1);
            }
            if i % 5000 == 100 {
                c.handover_end(1);
            }
            if i % 100 == 0 {
                c.poll(now);
                for a in c.actions().drain(..) {
                    sent += u64::from(matches!(a, Action::Job(_) | Action::Mark { .. }));
                }
            }
        }
        count_this_thread(false);
    };
    run(&mut c, 1, 20_000, false);
    let before = allocations();
    run(&mut c, 20_001, 200_000, true);
    assert_eq!(
        allocations() - before,
        0,
        "continuity allocated on the hot path"
    );
    assert!(sent > 100, "the run produced gap actions ({sent})");
    let k = c.counters();
    assert!(
        k.gaps_opened > 100 && k.duplicates > 100 && k.reordered > 100,
        "{k:?}"
    );
}

/// The silent-market detector's per-tick, per-frame and timer work allocates nothing: trades
/// stamped, frames seen, connections lost and reopened, markets going silent and flowing
/// again, their records emitted as the feed thread does.
#[test]
fn silence_allocates_nothing_after_warm_up() {
    use engine::continuity::Record;
    use engine::silence::Silence;
    const S: u64 = 1_000_000_000;
    // Markets 0 and 1 on subscription 0, market 2 on both, market 3 another thread's.
    let carriers = vec![vec![0], vec![0], vec![0, 1], vec![]];
    let mut s = Silence::new(2 * S, &carriers, 2);
    let (mut silent, mut flowing) = (0u64, 0u64);
    let mut run = |s: &mut Silence, from: u64, n: u64, count: bool| {
        count_this_thread(count);
        for i in from..from + n {
            let now = i * (S / 100); // 10 ms steps
            if i % 20_000 == 0 {
                s.connection_open(0, now);
                s.connection_open(1, now);
            }
            // Market 0 trades every 20 ms, market 2 every 50 ms; market 1 only for 100 ms in
            // the middle of each connection's life (silent before and after).
            if i % 2 == 0 {
                s.trade(0, now);
            }
            if (5_000..5_010).contains(&(i % 20_000)) {
                s.trade(1, now + 1);
            }
            if i % 5 == 0 {
                s.trade(2, now);
            }
            s.frame(0, now);
            s.frame(1, now);
            if i % 10 == 0 {
                s.poll(now, &mut |r| match r {
                    Record::Silent { .. } => silent += 1,
                    Record::Flowing { .. } => flowing += 1,
                    _ => {}
                });
            }
            if i % 20_000 == 19_999 {
                s.connection_lost(0);
                s.connection_lost(1);
            }
        }
        count_this_thread(false);
    };
    run(&mut s, 0, 20_000, false);
    let before = allocations();
    run(&mut s, 20_000, 200_000, true);
    assert_eq!(
        allocations() - before,
        0,
        "the silent-market detector allocated on the hot path"
    );
    assert!(
        silent >= 10 && flowing >= 10,
        "{silent} silent, {flowing} flowing"
    );
    assert!(!s.is_silent(0) && !s.is_silent(2));
}
