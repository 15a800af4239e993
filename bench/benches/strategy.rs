//! Strategy evaluation cost: one second of a symbol (fold the second's bars into the window,
//! run phases 1–4, or phase 5 with a position) on a full 4-hour window.
//!
//! `cargo bench -p bench --bench strategy`

use criterion::{criterion_group, criterion_main, Criterion};
use engine::aggregate::ClosedBar;
use engine::bar::Bar;
use engine::strategy::{Strategy, StrategyConfig, SymbolSpec};
use feeds::MarketKind;
use std::hint::black_box;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

const START: i64 = 1_795_478_400;

fn bar(second: i64, market: u32) -> ClosedBar {
    let t = (second - START) as f64;
    let swing = (t / 1800.0 * std::f64::consts::TAU).sin();
    let flow = 2.0e5 * swing * if market % 2 == 0 { 1.0 } else { -1.0 };
    let px = 60_000.0 * (1.0 + 0.02 * (t / 2400.0 * std::f64::consts::TAU).sin());
    let w = ((second * 7919) % 13) as f64;
    ClosedBar {
        market,
        second,
        bar: Bar {
            open: px - w,
            high: px + 10.0 + w,
            low: px - 10.0 - w,
            close: px + w,
            vbuy: 3.0e5 + flow.max(0.0),
            vsell: 3.0e5 + (-flow).max(0.0),
            cbuy: 3,
            csell: 3,
            ..Bar::EMPTY
        },
        late: false,
    }
}

/// A strategy over one symbol with `markets` markets (half spot, half perp), warmed with 5 h.
fn warmed(one_second: bool, markets: u32) -> (Strategy, i64) {
    let cfg = StrategyConfig {
        enable_1s_mode: one_second,
        ..StrategyConfig::default()
    };
    let spec = SymbolSpec {
        base: "BTC".into(),
        pair: "BTCUSDT".into(),
        markets: (0..markets)
            .map(|m| {
                (
                    m,
                    if m % 2 == 0 {
                        MarketKind::Spot
                    } else {
                        MarketKind::Perp
                    },
                )
            })
            .collect(),
        reference: 1,
    };
    let mut st = Strategy::new(
        cfg.settings(),
        vec![(0, spec)],
        Arc::new(AtomicUsize::new(0)),
    );
    let end = START + 5 * 3600;
    for s in START..end {
        for m in 0..markets {
            st.on_bar(&bar(s, m), 0, &mut |_| {});
        }
        st.advance(s, 0, &mut |_| {});
    }
    (st, end)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("strategy_second");
    for (name, one_second) in [("1m_bars", false), ("1s_mode", true)] {
        let (mut st, mut s) = warmed(one_second, 10);
        g.bench_function(format!("{name}_10_markets"), |b| {
            b.iter(|| {
                for m in 0..10 {
                    st.on_bar(&bar(s, m), 0, &mut |_| {});
                }
                st.advance(s, 0, &mut |sig| {
                    black_box(sig);
                });
                s += 1;
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
