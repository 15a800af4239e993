//! Coinbase, Kraken, BitMEX, Deribit, Bitfinex and Binance COIN-M decoders against their
//! vectors: every line of the docs-built fixtures `tests/fixtures/NAME.jsonl` (and, as an
//! optional conformance test, of the recorded `../shared/reference/vectors/NAME.jsonl` when
//! that folder is beside the workspace) against `NAME.expected.json` — frame kind, event count, and per event type, side, symbol,
//! price and quantity (numerically; `quantity_tolerance_rel` where given), `ts_us` and
//! `trade_id`. Each file is decoded in order by one decoder, as one connection would see it
//! (Bitfinex learns channel ids, BitMEX its clock). Every prefix of every line is also fed
//! to a fresh decoder: no panic, and what is not JSON is `Malformed`.

use feeds::{Decimal, DecodeError, Event, EventKind, Frame, Side, Venue};
use serde_json::Value;
use std::path::Path;

mod support;

/// Only the RFC 3339 helper is used here.
#[allow(dead_code, unreachable_pub)]
mod reference {
    pub mod types;
}

/// Fixture files of this harness (`tests/fixtures/NAME.jsonl`) and their venue.
const FILES: &[(&str, Venue)] = &[
    ("coinbase_exchange", Venue::Coinbase),
    ("coinbase_advanced", Venue::CoinbaseAdvanced),
    ("kraken_v2", Venue::KrakenSpot),
    ("kraken_v1", Venue::KrakenSpot),
    ("bitmex", Venue::Bitmex),
    ("deribit", Venue::Deribit),
    ("bitfinex", Venue::Bitfinex),
    ("kraken_futures", Venue::KrakenFutures),
    ("binance_coinm", Venue::BinanceCoinm),
];

/// The files of [`FILES`] that also exist as recordings in `../shared/reference/vectors`.
const RECORDED: &[&str] = &[
    "coinbase_exchange",
    "coinbase_advanced",
    "kraken_v2",
    "kraken_v1",
    "bitmex",
    "deribit",
    "bitfinex",
];

fn load(dir: &Path, name: &str) -> (Vec<String>, Value) {
    let read = |file: String| {
        let p = dir.join(&file);
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("test vectors missing: cannot read {} ({e})", p.display()))
    };
    let lines = read(format!("{name}.jsonl"))
        .lines()
        .map(str::to_owned)
        .collect();
    let expected = serde_json::from_str(&read(format!("{name}.expected.json")))
        .unwrap_or_else(|e| panic!("{name}.expected.json is not JSON: {e}"));
    (lines, expected)
}

fn decimal(text: &str) -> Decimal {
    Decimal::parse(text.as_bytes()).unwrap_or_else(|| panic!("bad decimal in vectors: {text}"))
}

/// The frame a line of `kind` must decode to, given its expected events and raw text.
fn expected_frame(
    venue: Venue,
    kind: &str,
    events: usize,
    raw: &str,
) -> Result<Frame, DecodeError> {
    if events > 0 {
        return Ok(Frame::Data(events as u32));
    }
    match kind {
        "subscribe_ack" | "conf_ack" => Ok(Frame::SubscribeAck),
        "heartbeat" if venue == Venue::Deribit => Ok(Frame::Reply(feeds::deribit::TEST_REPLY)),
        "heartbeat" | "status" | "info" | "pong" | "other_channel" => Ok(Frame::Other),
        "trade_duplicate" | "liquidation_update" | "trade_block" => Ok(Frame::Data(0)),
        "malformed" => Err(DecodeError::Malformed),
        "instrument_error" => Err(DecodeError::Instrument),
        "error" => {
            let v: Value = serde_json::from_str(raw).expect("error lines are JSON");
            // Deribit sends `error.code`, BitMEX an HTTP-like `status`; the others no code.
            let code = v["error"]["code"]
                .as_i64()
                .or_else(|| v["status"].as_i64())
                .unwrap_or(0);
            Ok(Frame::VenueError { code })
        }
        other => panic!("unknown line kind {other:?} in vectors"),
    }
}

/// `trade_id` as the vectors spell it → what `Event::trade_id` must hold: a decimal string
/// is that number; a GUID (BitMEX) or null is `None` (GUIDs do not fit a u64).
fn expected_trade_id(want: &Value) -> Option<u64> {
    want.as_str().and_then(|s| s.parse().ok())
}

fn check_file(dir: &Path, name: &str, venue: Venue) -> usize {
    let (lines, expected) = load(dir, name);
    let entries = expected["lines"].as_array().expect("`lines` array");
    assert_eq!(
        entries.len(),
        lines.len(),
        "{name}: one expectation per line"
    );
    let mut decoder = venue.decoder();
    let mut clock = 0i64; // latest exchange time emitted so far (BitMEX liquidations)
    let mut checked = 0;
    for (i, raw) in lines.iter().enumerate() {
        let line = i + 1;
        let entry = entries
            .iter()
            .find(|l| l["line"].as_u64() == Some(line as u64))
            .unwrap_or_else(|| panic!("{name}:{line} has no expectation"));
        let kind = entry["kind"].as_str().expect("kind");
        let want_events = entry["events"].as_array().expect("events");
        let at = format!("{name}:{line} ({kind})");

        let mut bytes = raw.as_bytes().to_vec();
        let mut events: Vec<Event> = Vec::new();
        let result = decoder.decode(&mut bytes, &mut |e| events.push(e));
        assert_eq!(
            result,
            expected_frame(venue, kind, want_events.len(), raw),
            "{at}"
        );
        assert_eq!(
            events.len(),
            want_events.len(),
            "{at}: no extra or missing events"
        );

        for (n, (got, want)) in events.iter().zip(want_events).enumerate() {
            let at = format!("{at} event {n}");
            let want_kind = match want["type"].as_str() {
                Some("trade") => EventKind::Trade,
                Some("liquidation") => EventKind::Liquidation,
                other => panic!("{at}: unknown event type {other:?}"),
            };
            let want_side = match want["side"].as_str() {
                Some("buy") => Side::Buy,
                Some("sell") => Side::Sell,
                other => panic!("{at}: unknown side {other:?}"),
            };
            assert_eq!(got.kind, want_kind, "{at}: type");
            assert_eq!(got.side, want_side, "{at}: side");
            assert_eq!(
                got.symbol.as_str(),
                want["symbol"].as_str().unwrap(),
                "{at}: symbol"
            );
            assert_eq!(
                got.price,
                decimal(want["price"].as_str().unwrap()),
                "{at}: price"
            );
            let want_qty = decimal(want["quantity"].as_str().unwrap());
            match want["quantity_tolerance_rel"].as_f64() {
                Some(tol) => {
                    let (g, w) = (got.qty.to_f64(), want_qty.to_f64());
                    assert!(
                        ((g - w) / w).abs() <= tol,
                        "{at}: qty {g} vs {w} (tolerance {tol})"
                    );
                }
                None => assert_eq!(got.qty, want_qty, "{at}: qty"),
            }
            match want["ts_us"].as_i64() {
                Some(ts) => assert_eq!(got.ts_us, ts, "{at}: ts_us"),
                // No exchange time (BitMEX liquidation table): the connection's latest
                // exchange time, documented in `feeds::bitmex`.
                None => {
                    assert!(clock > 0, "{at}: a clock was seen before");
                    assert_eq!(got.ts_us, clock, "{at}: ts_us = latest exchange time");
                }
            }
            assert_eq!(
                got.trade_id,
                expected_trade_id(&want["trade_id"]),
                "{at}: trade_id"
            );
            let fills = match (
                want["first_trade_id"].as_str(),
                want["last_trade_id"].as_str(),
            ) {
                (Some(f), Some(l)) => l.parse::<u32>().unwrap() - f.parse::<u32>().unwrap() + 1,
                _ => 1,
            };
            assert_eq!(got.fills, fills, "{at}: fills");
            checked += 1;
        }
        clock = events.iter().map(|e| e.ts_us).fold(clock, i64::max);
        if kind == "info" {
            // The BitMEX welcome frame's `timestamp` also advances the clock.
            if let Some(ts) = serde_json::from_str::<Value>(raw)
                .ok()
                .and_then(|v| v["timestamp"].as_str().map(str::to_owned))
            {
                clock =
                    clock.max(reference::types::json::rfc3339_us(&ts).expect("welcome timestamp"));
            }
        }
    }
    checked
}

fn fixture(name: &str, venue: Venue) -> usize {
    check_file(&support::fixtures(), name, venue)
}

#[test]
fn coinbase_exchange() {
    assert_eq!(fixture("coinbase_exchange", Venue::Coinbase), 6);
}

#[test]
fn coinbase_advanced() {
    // A 12-trade snapshot and five updates.
    assert_eq!(
        fixture("coinbase_advanced", Venue::CoinbaseAdvanced),
        12 + 5
    );
}

#[test]
fn kraken_spot_v2_and_v1() {
    assert_eq!(fixture("kraken_v2", Venue::KrakenSpot), 2);
    assert_eq!(fixture("kraken_v1", Venue::KrakenSpot), 6);
}

#[test]
fn kraken_futures_docs_fixtures() {
    assert_eq!(fixture("kraken_futures", Venue::KrakenFutures), 4);
}

#[test]
fn bitmex() {
    // A partial, 2 + 3 inserted fills, one liquidation.
    assert_eq!(fixture("bitmex", Venue::Bitmex), 7);
}

#[test]
fn deribit() {
    assert_eq!(fixture("deribit", Venue::Deribit), 3);
}

#[test]
fn bitfinex() {
    // Snapshots of 6 and 3 trades, one `te` (its `tu` is a duplicate).
    assert_eq!(fixture("bitfinex", Venue::Bitfinex), 10);
}

#[test]
fn binance_coinm_docs_fixtures() {
    assert_eq!(fixture("binance_coinm", Venue::BinanceCoinm), 2);
}

/// Optional: the recorded vectors in `../shared/reference/vectors`, when present, line by
/// line and every prefix of every line.
#[test]
fn shared_vectors_conformance() {
    let Some(dir) = support::shared_vectors() else {
        return;
    };
    let venue = |name: &str| FILES.iter().find(|(f, _)| *f == name).unwrap().1;
    assert_eq!(check_file(&dir, "coinbase_exchange", Venue::Coinbase), 6);
    assert!(check_file(&dir, "coinbase_advanced", Venue::CoinbaseAdvanced) > 100);
    assert_eq!(check_file(&dir, "kraken_v2", Venue::KrakenSpot), 2);
    assert_eq!(check_file(&dir, "kraken_v1", Venue::KrakenSpot), 6);
    assert_eq!(check_file(&dir, "bitmex", Venue::Bitmex), 7);
    assert_eq!(check_file(&dir, "deribit", Venue::Deribit), 3);
    assert!(check_file(&dir, "bitfinex", Venue::Bitfinex) > 20);
    let prefixes: usize = RECORDED
        .iter()
        .map(|name| truncations(&dir, name, venue(name)))
        .sum();
    assert!(prefixes > 10_000);
}

/// Every prefix of every line, through a fresh decoder: never a panic; a prefix that is not
/// valid JSON is `Malformed`; nothing is emitted from a frame that fails.
#[test]
fn truncated_lines_are_malformed_never_a_panic() {
    let dir = support::fixtures();
    let prefixes: usize = FILES
        .iter()
        .map(|&(name, venue)| truncations(&dir, name, venue))
        .sum();
    assert!(prefixes > 10_000);
}

/// Every prefix of every line of `name` through a fresh decoder; how many were tried.
fn truncations(dir: &Path, name: &str, venue: Venue) -> usize {
    let mut prefixes = 0;
    {
        let (lines, _) = load(dir, name);
        for raw in &lines {
            for end in 0..raw.len() {
                let Some(prefix) = raw.get(..end) else {
                    continue;
                };
                let mut decoder = venue.decoder();
                let mut bytes = prefix.as_bytes().to_vec();
                let mut events = 0;
                let result = decoder.decode(&mut bytes, &mut |_| events += 1);
                let is_json = serde_json::from_str::<Value>(prefix).is_ok();
                if !is_json && prefix.trim() != "pong" {
                    assert_eq!(result, Err(DecodeError::Malformed), "{name}: {prefix}");
                }
                if result.is_err() {
                    assert_eq!(events, 0, "{name}: events from a failed frame: {prefix}");
                }
                prefixes += 1;
            }
        }
    }
    prefixes
}

/// Market ids follow aggr-server (seed-compat.md): Kraken spot v2 names map to the v1 names,
/// Bitfinex drops the `t` prefix, COIN-M pairs are lower case.
#[test]
fn market_ids() {
    let id = |venue: Venue, s: &str| venue.market_id(&feeds::Symbol::new(s.as_bytes()).unwrap());
    assert_eq!(id(Venue::KrakenSpot, "BTC/USD"), "KRAKEN:XBT/USD");
    assert_eq!(id(Venue::KrakenSpot, "XMR/USD"), "KRAKEN:XMR/USD");
    assert_eq!(id(Venue::KrakenFutures, "PI_XBTUSD"), "KRAKEN:PI_XBTUSD");
    assert_eq!(id(Venue::Bitfinex, "tBTCUSD"), "BITFINEX:BTCUSD");
    assert_eq!(id(Venue::Bitfinex, "tBTCF0:USTF0"), "BITFINEX:BTCF0:USTF0");
    assert_eq!(
        id(Venue::BinanceCoinm, "BTCUSD_PERP"),
        "BINANCE_FUTURES:btcusd_perp"
    );
    assert_eq!(id(Venue::Coinbase, "BTC-USD"), "COINBASE:BTC-USD");
    assert_eq!(id(Venue::Bitmex, "XBTUSD"), "BITMEX:XBTUSD");
    assert_eq!(id(Venue::Deribit, "BTC-PERPETUAL"), "DERIBIT:BTC-PERPETUAL");

    let kind =
        |venue: Venue, s: &str| venue.market_kind(&feeds::Symbol::new(s.as_bytes()).unwrap());
    use feeds::MarketKind::{Future, Perp, Spot};
    for (venue, symbol, want) in [
        (Venue::BinanceCoinm, "BTCUSD_PERP", Perp),
        (Venue::BinanceCoinm, "BTCUSD_260925", Future),
        (Venue::KrakenFutures, "PF_XBTUSD", Perp),
        (Venue::KrakenFutures, "PI_XBTUSD", Perp),
        (Venue::KrakenFutures, "FI_XBTUSD_260925", Future),
        (Venue::Deribit, "BTC-27DEC26", Future),
        (Venue::Deribit, "BTC_USDC-PERPETUAL", Perp),
        (Venue::Bitfinex, "tBTCF0:USTF0", Perp),
        (Venue::Bitfinex, "tBTCUSD", Spot),
        (Venue::KrakenSpot, "BTC/USD", Spot),
        (Venue::Coinbase, "BTC-USD", Spot),
        (Venue::Bitmex, "XBTUSD", Perp),
    ] {
        assert_eq!(kind(venue, symbol), want, "{venue} {symbol}");
    }
}

mod mutations {
    use super::*;
    use proptest::prelude::*;

    /// Every line of every file, for the mutation test (read once).
    static CORPUS: std::sync::LazyLock<Vec<(Venue, String)>> = std::sync::LazyLock::new(|| {
        let dir = support::fixtures();
        FILES
            .iter()
            .flat_map(|&(name, venue)| load(&dir, name).0.into_iter().map(move |l| (venue, l)))
            .collect()
    });

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Random byte edits of real frames: any result but a panic, and a frame that fails
        /// after emitting (a bad trade behind good ones in one frame) emitted only valid
        /// events (positive price and size).
        #[test]
        fn mutated_frames_never_panic(pick in any::<prop::sample::Index>(), edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
            let (venue, line) = &CORPUS[pick.index(CORPUS.len())];
            let mut bytes = line.as_bytes().to_vec();
            for (at, byte) in &edits {
                let i = at.index(bytes.len().max(1)).min(bytes.len().saturating_sub(1));
                if let Some(b) = bytes.get_mut(i) {
                    *b = *byte;
                }
            }
            let mut decoder = venue.decoder();
            let mut events = Vec::new();
            let _ = decoder.decode(&mut bytes, &mut |e| events.push(e));
            for e in events {
                prop_assert!(e.price.mantissa > 0 && e.qty.mantissa > 0, "{venue}: {e:?}");
            }
        }
    }
}
