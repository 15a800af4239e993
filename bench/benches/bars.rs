//! Bar work per tick: `aggregate::apply` (fold a tick into a bar, in registers),
//! `Aggregator::on_tick` (find the market's open bar, fold, write through to the mmap'd day
//! file, close the previous second when a new one starts) and `DayWriter::write` (one seqlock
//! slot write into the mapped file).
//!
//! `cargo bench -p bench --bench bars` (add `-- --quick` for a short run). The day files go to
//! a temporary directory; `DayWriter::write` is timed on pages already touched, the
//! aggregator pays a first-touch page fault once per ~46 seconds of bars per market.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use engine::aggregate::{apply, Aggregator};
use engine::bar::Bar;
use engine::market::Tick;
use engine::store::DayWriter;
use feeds::{EventKind, Side};
use std::hint::black_box;

/// 2026-05-13 00:00:00 UTC, seconds.
const DAY_START: i64 = 1_778_630_400;

fn tick(i: u64, market: u32, per_sec: u64) -> Tick {
    Tick {
        market,
        kind: EventKind::Trade,
        side: if i % 3 == 0 { Side::Sell } else { Side::Buy },
        fills: 1,
        price: 80_000.0 + (i % 97) as f64 * 0.5,
        qty: 0.001 * (1 + i % 13) as f64,
        ts_us: DAY_START * 1_000_000 + (i * 1_000_000 / per_sec) as i64,
        recv_ns: 0,
        trade_id: i,
    }
}

fn bars(c: &mut Criterion) {
    let mut group = c.benchmark_group("bars");
    group.throughput(Throughput::Elements(1));

    let ticks: Vec<Tick> = (0..4096).map(|i| tick(i, 0, 1_000_000)).collect();
    group.bench_function("apply", |b| {
        let mut bar = Bar::EMPTY;
        let mut i = 0;
        b.iter(|| {
            apply(&mut bar, black_box(&ticks[i & 4095]));
            i += 1;
            black_box(&bar);
        })
    });

    let dir = tempfile::tempdir().expect("temp dir");
    let mut writer =
        DayWriter::open_or_create(dir.path(), "binance:btcusdt", DAY_START / 86_400).expect("day");
    let bar = Bar {
        open: 80_000.0,
        high: 80_010.0,
        low: 79_990.0,
        close: 80_005.0,
        vbuy: 1.0e5,
        vsell: 2.0e5,
        lbuy: 0.0,
        lsell: 0.0,
        cbuy: 10,
        csell: 12,
        open_us: 1,
        close_us: 999_999,
    };
    for s in 0..86_400 {
        writer.write(s, &bar, 0);
    }
    group.bench_function("day_writer_write", |b| {
        let mut s = 0u32;
        b.iter(|| {
            writer.write(black_box(s), black_box(&bar), 0);
            s = (s + 1) % 86_400;
        })
    });

    // 6 markets, 1 000 trades per second between them: each bar takes ~170 ticks, then closes.
    let per_sec = 1_000;
    let fresh = || {
        let mut agg = Aggregator::new(dir.path());
        for m in 0..6u32 {
            agg.add_market(m, &format!("binance:sym{m}usdt"));
        }
        agg.prepare_day(DAY_START / 86_400).expect("prepare day");
        agg
    };
    let mut agg = fresh();
    let (mut i, mut closed) = (0u64, 0u64);
    group.bench_function("aggregator_on_tick", |b| {
        b.iter(|| {
            let t = tick(i, (i % 6) as u32, per_sec);
            let _ = agg.on_tick(black_box(&t), &mut |_| closed += 1);
            i += 1;
            // Stay within the day: after 80 000 s of ticks start over with a fresh
            // aggregator (amortized over 80 M iterations).
            if i == 80_000_000 {
                i = 0;
                // Release the old writers' file locks before reopening the same files.
                drop(std::mem::replace(&mut agg, Aggregator::new(dir.path())));
                agg = fresh();
            }
        })
    });
    group.finish();
    black_box(closed);
}

criterion_group!(benches, bars);
criterion_main!(benches);
