//! The feed thread's continuity check per tick (`Continuity::admit`): the steady state on a
//! venue with contiguous trade ids (Binance), one with monotonic ids (Deribit) and one without
//! ids (Bybit linear), and a duplicate dropped.
//!
//! `cargo bench -p bench --bench continuity` (add `-- --quick` for a short run).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use engine::continuity::{Continuity, ContinuityConfig, Source};
use engine::market::{MarketTable, Tick};
use feeds::{EventKind, Side, Symbol, Venue};
use std::hint::black_box;

const LIVE: Source = Source {
    sub: 0,
    replacement: false,
};

fn tick(market: u32, id: u64) -> Tick {
    Tick {
        market,
        kind: EventKind::Trade,
        side: Side::Buy,
        fills: 1,
        price: 80_000.0,
        qty: 0.001,
        ts_us: 1_778_630_400_000_000 + id as i64 * 1_000,
        recv_ns: 1,
        trade_id: id,
    }
}

fn continuity(c: &mut Criterion) {
    let mut group = c.benchmark_group("continuity");
    group.throughput(Throughput::Elements(1));
    for (name, venue, ids) in [
        ("admit_contiguous", Venue::BinanceSpot, true),
        ("admit_monotonic", Venue::Deribit, true),
        ("admit_no_ids", Venue::BybitLinear, false),
    ] {
        let mut table = MarketTable::new(1);
        let m = table.add(venue, Symbol::new(b"BTCUSDT").unwrap());
        let mut cont = Continuity::new(ContinuityConfig::default(), &table, &[], 1, 0);
        let mut i = 1u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                let mut t = tick(m, i);
                if !ids {
                    t.trade_id = 0;
                }
                black_box(cont.admit(black_box(&t), LIVE, i))
            })
        });
    }
    let mut table = MarketTable::new(1);
    let m = table.add(Venue::BinanceSpot, Symbol::new(b"BTCUSDT").unwrap());
    let mut cont = Continuity::new(ContinuityConfig::default(), &table, &[], 1, 0);
    cont.admit(&tick(m, 1000), LIVE, 1);
    group.bench_function("duplicate_dropped", |b| {
        b.iter(|| black_box(cont.admit(black_box(&tick(m, 999)), LIVE, 2)))
    });
    group.finish();
}

criterion_group!(benches, continuity);
criterion_main!(benches);
