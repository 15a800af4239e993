//! Writes the fuzz seed corpus (`feeds/fuzz`, target `decode`) from every fixture file: one
//! file per frame, prefixed with the byte that makes the fuzz target pick the frame's venue.
//! HTX frames are also written gzip-compressed, as HTX sends them.
//!
//! `cargo run --release -p feeds --example fuzz_seeds -- OUT_DIR`

use feeds::Venue;
use flate2::write::GzEncoder;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Fixture files (`tests/fixtures/NAME.jsonl`) and the venue of their frames.
const FILES: &[(&str, Venue)] = &[
    ("binance_spot", Venue::BinanceSpot),
    ("binance_usdm", Venue::BinanceUsdm),
    ("bybit_linear", Venue::BybitLinear),
    ("bybit_linear", Venue::BybitInverse),
    ("bybit_spot", Venue::BybitSpot),
    ("okx", Venue::OkxSwap),
    ("bitget", Venue::Bitget),
    ("bitget", Venue::BitgetSpot),
    ("hyperliquid", Venue::Hyperliquid),
    ("coinbase_advanced", Venue::CoinbaseAdvanced),
    ("coinbase_exchange", Venue::Coinbase),
    ("kraken_v2", Venue::KrakenSpot),
    ("kraken_v1", Venue::KrakenSpot),
    ("bitmex", Venue::Bitmex),
    ("deribit", Venue::Deribit),
    ("bitfinex", Venue::Bitfinex),
    ("huobi", Venue::Huobi),
    ("huobi_swap", Venue::HuobiSwap),
    ("gate", Venue::GateFutures),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::args().nth(1).ok_or("usage: fuzz_seeds OUT_DIR")?);
    std::fs::create_dir_all(&out)?;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut written = 0;
    for (name, venue) in FILES {
        let path = fixtures.join(format!("{name}.jsonl"));
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let index = Venue::ALL
            .iter()
            .position(|v| v == venue)
            .ok_or("venue not in Venue::ALL")?;
        let tag = u8::try_from(index)?;
        for (n, line) in text.lines().enumerate() {
            let mut frames = vec![line.as_bytes().to_vec()];
            if matches!(venue, Venue::Huobi | Venue::HuobiSwap) {
                let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
                gz.write_all(line.as_bytes())?;
                frames.push(gz.finish()?);
            }
            for (k, frame) in frames.iter().enumerate() {
                let mut seed = vec![tag];
                seed.extend_from_slice(frame);
                std::fs::write(
                    out.join(format!("{}-{name}-{}-{k}", venue.name(), n + 1)),
                    seed,
                )?;
                written += 1;
            }
        }
    }
    println!("{written} seeds in {}", out.display());
    Ok(())
}
