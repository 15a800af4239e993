//! Synthetic 1 s bars for backtest benchmarks, written straight into a bar store:
//! `cargo run --release -p bench --example gen_bars -- DATA_DIR DAYS [FIRST_DAY]`.
//!
//! Three symbols (BTC, ETH, SOL) × 10 markets (5 SPOT, 5 PERP on ids the engine classifies),
//! one bar per market per second, with spot and perp flows that swing against each other so
//! the strategy has work to do. FIRST_DAY is a UTC date (default 2026-11-01).

use engine::bar::Bar;
use engine::store::DayWriter;
use std::path::Path;

const MARKETS: &[(&str, bool)] = &[
    ("BINANCE:{l}usdt", true),
    ("BYBIT:{U}USDT-SPOT", true),
    ("OKEX:{U}-USDT", true),
    ("COINBASE:{U}-USD", true),
    ("BITFINEX:{U}USD", true),
    ("BINANCE_FUTURES:{l}usdt", false),
    ("BYBIT:{U}USDT", false),
    ("OKEX:{U}-USDT-SWAP", false),
    ("DERIBIT:{U}-PERPETUAL", false),
    ("HYPERLIQUID:{U}", false),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: gen_bars DATA_DIR DAYS [FIRST_DAY_AS_DAYS_SINCE_EPOCH]");
        std::process::exit(2);
    }
    let root = Path::new(&args[1]);
    let days: i64 = args[2].parse().expect("DAYS");
    let first: i64 = args
        .get(3)
        .map_or(20_393, |d| d.parse().expect("FIRST_DAY")); // 2026-11-01
    let started = std::time::Instant::now();
    let mut bars = 0u64;
    for (s, (sym, px0)) in [("btc", 60_000.0), ("eth", 3_000.0), ("sol", 150.0)]
        .iter()
        .enumerate()
    {
        for (m, (pattern, spot)) in MARKETS.iter().enumerate() {
            let id = pattern
                .replace("{l}", sym)
                .replace("{U}", &sym.to_uppercase());
            for day in first..first + days {
                let mut w = DayWriter::open_or_create(root, &id, day).expect("day file");
                for sec in 0..86_400u32 {
                    let t = (day * 86_400 + i64::from(sec)) as f64;
                    let phase = s as f64 + m as f64 * 0.01;
                    let swing = (t / 5_400.0 * std::f64::consts::TAU + phase).sin();
                    let flow = 4.0e4 * swing * if *spot { 1.0 } else { -1.0 };
                    let px =
                        px0 * (1.0 + 0.03 * (t / 20_000.0 * std::f64::consts::TAU + phase).sin());
                    let w_ = ((t as i64 * 7919 + m as i64) % 13) as f64 * px0 * 1e-5;
                    let bar = Bar {
                        open: px - w_,
                        high: px + px0 * 1e-4 + w_,
                        low: px - px0 * 1e-4 - w_,
                        close: px + w_,
                        vbuy: 5.0e4 + flow.max(0.0),
                        vsell: 5.0e4 + (-flow).max(0.0),
                        cbuy: 4,
                        csell: 4,
                        ..Bar::EMPTY
                    };
                    w.write(sec, &bar, engine::store::flags::CLOSED);
                    bars += 1;
                }
            }
        }
    }
    eprintln!(
        "{bars} bars ({} markets × {days} days) in {:.1} s under {}",
        3 * MARKETS.len(),
        started.elapsed().as_secs_f64(),
        root.display()
    );
}
