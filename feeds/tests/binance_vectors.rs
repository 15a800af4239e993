//! The Binance decoder against its fixtures, against a plain serde_json reference decoder
//! (differential), and against hostile input (truncations, odd numbers).
//!
//! Fixtures live in `tests/fixtures/` (written from Binance's docs): `NAME.jsonl` holds raw
//! frames, `NAME.expected.json` what each line must produce. Recorded vectors, when present,
//! feed the optional test in `conformance/binance_vectors.rs`.

use feeds::binance::Decoder;
use feeds::{Decimal, Decode, DecodeError, Event, EventKind, Frame, Side, Symbol, Venue};
use proptest::prelude::*;
use serde_json::Value;
use std::path::Path;

mod support;

// ---------------------------------------------------------------------------------------
// Helpers

/// The raw lines of the fixture `NAME.jsonl` and the parsed `NAME.expected.json`.
fn load(name: &str) -> (Vec<String>, Value) {
    load_in(&support::fixtures(), name)
}

/// The raw lines of `dir/NAME.jsonl` and the parsed `dir/NAME.expected.json`.
fn load_in(dir: &Path, name: &str) -> (Vec<String>, Value) {
    let read = |file: String| {
        let path = dir.join(&file);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {} ({e})", path.display()))
    };
    let lines = read(format!("{name}.jsonl"))
        .lines()
        .map(str::to_owned)
        .collect();
    let expected = serde_json::from_str(&read(format!("{name}.expected.json")))
        .unwrap_or_else(|e| panic!("{name}.expected.json is not JSON: {e}"));
    (lines, expected)
}

fn venue_of(name: &str) -> Venue {
    match name {
        "binance_spot" => Venue::BinanceSpot,
        "binance_usdm" => Venue::BinanceUsdm,
        _ => panic!("no venue for vector file {name}"),
    }
}

/// Decode one frame with a fresh decoder, collecting the events.
fn decode(venue: Venue, frame: &str) -> (Result<Frame, DecodeError>, Vec<Event>) {
    let mut decoder = Decoder::new(venue);
    let mut bytes = frame.as_bytes().to_vec();
    let mut events = Vec::new();
    let result = decoder.decode(&mut bytes, &mut |e| events.push(e));
    (result, events)
}

fn decimal(text: &str) -> Decimal {
    Decimal::parse(text.as_bytes()).unwrap_or_else(|| panic!("bad decimal in vectors: {text}"))
}

/// The frame result an `expected.json` line kind stands for.
fn expected_frame(kind: &str, events: usize, line: &str) -> Result<Frame, DecodeError> {
    match kind {
        "trade" | "liquidation" => Ok(Frame::Data(events as u32)),
        "subscribe_ack" => Ok(Frame::SubscribeAck),
        "server_shutdown" => Ok(Frame::ServerShutdown),
        "other_channel" => Ok(Frame::Other),
        "malformed" => Err(DecodeError::Malformed),
        "error" => {
            let v: Value = serde_json::from_str(line).expect("error lines are JSON");
            let code = v["error"]["code"].as_i64().expect("error code");
            Ok(Frame::VenueError { code })
        }
        other => panic!("unknown line kind {other:?} in vectors"),
    }
}

/// Decode line `line` (1-based) of fixture `file` and compare with its expectation.
fn check(file: &str, line: usize) {
    check_in(&support::fixtures(), file, line);
}

/// Decode line `line` (1-based) of `dir/file` and compare with its expectation.
fn check_in(dir: &Path, file: &str, line: usize) {
    let (lines, expected) = load_in(dir, file);
    let raw = &lines[line - 1];
    let entry = expected["lines"]
        .as_array()
        .expect("`lines` array")
        .iter()
        .find(|l| l["line"].as_u64() == Some(line as u64))
        .unwrap_or_else(|| panic!("{file}:{line} has no expectation"));
    let kind = entry["kind"].as_str().expect("kind");
    let want_events = entry["events"].as_array().expect("events");

    let (result, events) = decode(venue_of(file), raw);
    let at = format!("{file}:{line} ({kind})");
    assert_eq!(result, expected_frame(kind, want_events.len(), raw), "{at}");
    assert_eq!(events.len(), want_events.len(), "{at}: event count");

    for (got, want) in events.iter().zip(want_events) {
        let kind = match want["type"].as_str() {
            Some("trade") => EventKind::Trade,
            Some("liquidation") => EventKind::Liquidation,
            other => panic!("{at}: unknown event type {other:?}"),
        };
        let side = match want["side"].as_str() {
            Some("buy") => Side::Buy,
            Some("sell") => Side::Sell,
            other => panic!("{at}: unknown side {other:?}"),
        };
        assert_eq!(got.kind, kind, "{at}: type");
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
        assert_eq!(
            got.qty,
            decimal(want["quantity"].as_str().unwrap()),
            "{at}: quantity"
        );
        assert_eq!(got.side, side, "{at}: side");
        assert_eq!(Some(got.ts_us), want["ts_us"].as_i64(), "{at}: ts_us");
        let trade_id = want["trade_id"]
            .as_str()
            .map(|id| id.parse::<u64>().expect("numeric trade id"));
        assert_eq!(got.trade_id, trade_id, "{at}: trade_id");
        // Aggregated trades stand for their underlying fills f..=l.
        let fills = match (
            want["first_trade_id"].as_str(),
            want["last_trade_id"].as_str(),
        ) {
            (Some(f), Some(l)) => {
                let (f, l) = (f.parse::<u64>().unwrap(), l.parse::<u64>().unwrap());
                u32::try_from(l - f + 1).unwrap()
            }
            _ => 1,
        };
        assert_eq!(got.fills, fills, "{at}: fills");
    }
}

/// Every line of fixture `file` through [`check`], and every line has an expectation.
fn check_all(file: &str) {
    check_all_in(&support::fixtures(), file);
}

fn check_all_in(dir: &Path, file: &str) {
    let (lines, expected) = load_in(dir, file);
    let described = expected["lines"].as_array().expect("`lines` array").len();
    assert_eq!(lines.len(), described, "{file}: every line is described");
    for line in 1..=lines.len() {
        check_in(dir, file, line);
    }
}

// ---------------------------------------------------------------------------------------
// Vectors

#[test]
fn spot_vectors() {
    check_all("binance_spot");
}

#[test]
fn usdm_vectors() {
    check_all("binance_usdm");
}

#[path = "conformance/binance_vectors.rs"]
mod conformance;

#[test]
fn spot_combined_trade_is_a_taker_sell() {
    check("binance_spot", 2);
}

#[test]
fn usdm_aggtrade_counts_its_fills() {
    check("binance_usdm", 4);
}

#[test]
fn usdm_force_order_uses_average_price_and_filled_qty() {
    check("binance_usdm", 6);
}

#[test]
fn mark_price_is_not_a_trade() {
    check("binance_usdm", 8);
}

// ---------------------------------------------------------------------------------------
// Differential: a straightforward serde_json decoder of the same rules.

mod reference {
    use super::*;

    fn string<'a>(obj: &'a Value, name: &'static str) -> Result<&'a str, DecodeError> {
        obj.get(name)
            .and_then(Value::as_str)
            .ok_or(DecodeError::Field(name))
    }

    fn unsigned(obj: &Value, name: &'static str) -> Result<u64, DecodeError> {
        match obj.get(name) {
            Some(Value::Number(n)) => n.as_u64().ok_or(DecodeError::Number(name)),
            _ => Err(DecodeError::Field(name)),
        }
    }

    fn decimal(obj: &Value, name: &'static str) -> Result<Decimal, DecodeError> {
        Decimal::parse(string(obj, name)?.as_bytes()).ok_or(DecodeError::Number(name))
    }

    fn micros(obj: &Value, name: &'static str) -> Result<i64, DecodeError> {
        let ms = unsigned(obj, name)?;
        i64::try_from(ms)
            .ok()
            .and_then(|ms| ms.checked_mul(1000))
            .ok_or(DecodeError::Number(name))
    }

    fn symbol(obj: &Value) -> Result<Symbol, DecodeError> {
        Symbol::new(string(obj, "s")?.as_bytes()).ok_or(DecodeError::Symbol)
    }

    /// `false` for a zero size; errors for negative sizes and non-positive prices.
    fn sized(
        price: Decimal,
        qty: Decimal,
        p: &'static str,
        q: &'static str,
    ) -> Result<bool, DecodeError> {
        if qty.mantissa < 0 {
            Err(DecodeError::Number(q))
        } else if qty.mantissa == 0 {
            Ok(false)
        } else if price.mantissa <= 0 {
            Err(DecodeError::Number(p))
        } else {
            Ok(true)
        }
    }

    fn trade(obj: &Value, aggregated: bool) -> Result<Option<Event>, DecodeError> {
        let mut market = true;
        if let Some(x) = obj.get("X") {
            let x = x.as_str().ok_or(DecodeError::Field("X"))?;
            market = x == "MARKET" || x == "RPI";
        }
        let symbol = symbol(obj)?;
        if !market {
            // Not a market trade: its id only (gap detection), no price or size.
            return Ok(Some(Event {
                kind: EventKind::NonMarket,
                side: Side::Buy,
                symbol,
                price: Decimal::ZERO,
                qty: Decimal::ZERO,
                ts_us: micros(obj, "T")?,
                trade_id: Some(unsigned(obj, "t")?),
                fills: 1,
            }));
        }
        let price = decimal(obj, "p")?;
        let qty = decimal(obj, "q")?;
        let ts_us = micros(obj, "T")?;
        let maker_buys = obj
            .get("m")
            .and_then(Value::as_bool)
            .ok_or(DecodeError::Field("m"))?;
        let (id, fills) = if aggregated {
            let id = unsigned(obj, "a")?;
            let (f, l) = (unsigned(obj, "f")?, unsigned(obj, "l")?);
            if l < f || l - f >= u64::from(u32::MAX) {
                return Err(DecodeError::Number("l"));
            }
            (id, (l - f + 1) as u32)
        } else {
            (unsigned(obj, "t")?, 1)
        };
        if !sized(price, qty, "p", "q")? {
            return Ok(None);
        }
        Ok(Some(Event {
            kind: EventKind::Trade,
            side: if maker_buys { Side::Sell } else { Side::Buy },
            symbol,
            price,
            qty,
            ts_us,
            trade_id: Some(id),
            fills,
        }))
    }

    fn force_order(obj: &Value) -> Result<Option<Event>, DecodeError> {
        let o = obj
            .get("o")
            .filter(|o| o.is_object())
            .ok_or(DecodeError::Field("o"))?;
        let symbol = symbol(o)?;
        let side = match string(o, "S")? {
            "BUY" => Side::Buy,
            "SELL" => Side::Sell,
            _ => return Err(DecodeError::Field("S")),
        };
        let price = decimal(o, "ap")?;
        let qty = decimal(o, "z")?;
        let ts_us = micros(o, "T")?;
        if !sized(price, qty, "ap", "z")? {
            return Ok(None);
        }
        Ok(Some(Event {
            kind: EventKind::Liquidation,
            side,
            symbol,
            price,
            qty,
            ts_us,
            trade_id: None,
            fills: 1,
        }))
    }

    fn payload(obj: &Value, out: &mut Vec<Event>) -> Result<Frame, DecodeError> {
        let Some(e) = obj.get("e") else {
            return Ok(Frame::Other);
        };
        let produced = match e.as_str().ok_or(DecodeError::Field("e"))? {
            "trade" => trade(obj, false)?,
            "aggTrade" => trade(obj, true)?,
            "forceOrder" => force_order(obj)?,
            "serverShutdown" => return Ok(Frame::ServerShutdown),
            _ => return Ok(Frame::Other),
        };
        out.extend(produced);
        Ok(Frame::Data(produced.is_some() as u32))
    }

    fn code(v: Option<&Value>) -> Result<i64, DecodeError> {
        match v {
            Some(Value::Number(n)) => n.as_i64().ok_or(DecodeError::Number("code")),
            _ => Err(DecodeError::Field("code")),
        }
    }

    pub(super) fn decode(frame: &str) -> (Result<Frame, DecodeError>, Vec<Event>) {
        let mut out = Vec::new();
        let result = (|| {
            let v: Value = serde_json::from_str(frame).map_err(|_| DecodeError::Malformed)?;
            let Some(obj) = v.as_object() else {
                return if v.is_array() {
                    Ok(Frame::Other)
                } else {
                    Err(DecodeError::Unknown)
                };
            };
            if let (Some(_), Some(data)) = (obj.get("stream"), obj.get("data")) {
                return match data {
                    Value::Object(_) => payload(data, &mut out),
                    Value::Array(_) => Ok(Frame::Other),
                    _ => Err(DecodeError::Field("data")),
                };
            }
            if obj.contains_key("e") {
                return payload(&v, &mut out);
            }
            if let Some(error) = obj.get("error") {
                let error = error.as_object().ok_or(DecodeError::Field("error"))?;
                return Ok(Frame::VenueError {
                    code: code(error.get("code"))?,
                });
            }
            if obj.contains_key("result") && obj.contains_key("id") {
                return Ok(Frame::SubscribeAck);
            }
            if obj.contains_key("code") && obj.contains_key("msg") {
                return Ok(Frame::VenueError {
                    code: code(obj.get("code"))?,
                });
            }
            Err(DecodeError::Unknown)
        })();
        if result.is_err() {
            out.clear();
        }
        (result, out)
    }
}

/// simd-json decoder and serde_json reference agree on `frame`, result and events.
fn differential(venue: Venue, frame: &str) {
    let fast = decode(venue, frame);
    let slow = reference::decode(frame);
    assert_eq!(fast, slow, "decoders disagree on {frame}");
}

#[test]
fn differential_on_every_fixture_line() {
    for (file, venue) in [
        ("binance_spot", Venue::BinanceSpot),
        ("binance_usdm", Venue::BinanceUsdm),
    ] {
        let (lines, _) = load(file);
        for line in &lines {
            differential(venue, line);
        }
    }
}

#[test]
fn differential_on_extra_cases() {
    for frame in EXTRA_CASES {
        differential(Venue::BinanceUsdm, frame);
    }
}

// ---------------------------------------------------------------------------------------
// Extra cases

const USDM_TRADE_MARKET: &str = r#"{"e":"trade","E":1791391082024,"T":1791391082020,"s":"BTCUSDT","t":6591234567,"p":"83434.40","q":"0.016","X":"MARKET","m":false}"#;
const USDM_TRADE_RPI: &str = r#"{"e":"trade","E":1791391082024,"T":1791391082020,"s":"BTCUSDT","t":6591234568,"p":"83434.40","q":"0.004","X":"RPI","m":true}"#;
const USDM_TRADE_ADL: &str = r#"{"e":"trade","E":1791391082024,"T":1791391082020,"s":"BTCUSDT","t":6591234569,"p":"83434.40","q":"0.500","X":"ADL","m":true}"#;
const USDM_TRADE_INSURANCE: &str = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1791391082024,"T":1791391082020,"s":"BTCUSDT","t":6591234570,"p":"83434.40","q":"1.000","X":"INSURANCE_FUND","m":true}}"#;
const USDM_TRADE_NA: &str = r#"{"e":"trade","E":1791391082024,"T":1791391082020,"s":"BTCUSDT","t":6591234571,"p":"83434.40","q":"1.000","X":"NA","m":true}"#;
const SPOT_ZERO_QTY: &str = r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"76650.00000000","q":"0.00000000","T":1,"m":true,"M":true}"#;
const USDM_ZERO_LIQUIDATION: &str = r#"{"e":"forceOrder","E":1,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.190","p":"82338.30","ap":"0.00","X":"EXPIRED","l":"0","z":"0","T":1}}"#;
const HUGE_PRICE: &str = r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"123456789012345678901234567890","q":"1","T":1,"m":true}"#;
const HUGE_TIME: &str =
    r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":9223372036854775807,"m":true}"#;
const HUGE_TIME_PAST_U64: &str =
    r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":184467440737095516150,"m":true}"#;
const MAX_TRADE_ID: &str =
    r#"{"e":"trade","E":1,"s":"BTCUSDT","t":18446744073709551615,"p":"1","q":"1","T":1,"m":true}"#;
const EXPONENT_QTY: &str =
    r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1.423e-4","q":"1e400","T":1,"m":true}"#;
const TWENTY_DIGIT_FRACTION: &str = r#"{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"0.00000000000000000001","q":"1","f":1,"l":1,"T":1,"m":true}"#;
const FLOAT_TIME: &str =
    r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":1.5,"m":true}"#;

const EXTRA_CASES: &[&str] = &[
    USDM_TRADE_MARKET,
    USDM_TRADE_RPI,
    USDM_TRADE_ADL,
    USDM_TRADE_INSURANCE,
    USDM_TRADE_NA,
    SPOT_ZERO_QTY,
    USDM_ZERO_LIQUIDATION,
    HUGE_PRICE,
    HUGE_TIME,
    MAX_TRADE_ID,
    EXPONENT_QTY,
    TWENTY_DIGIT_FRACTION,
    FLOAT_TIME,
];

/// Decode with the USDⓈ-M decoder and assert the frame result and the number of events.
fn check_extra(frame: &str, want: Result<Frame, DecodeError>) -> Vec<Event> {
    let (got, events) = decode(Venue::BinanceUsdm, frame);
    assert_eq!(got, want, "{frame}");
    let n = match want {
        Ok(Frame::Data(n)) => n as usize,
        _ => 0,
    };
    assert_eq!(events.len(), n, "{frame}");
    events
}

#[test]
fn usdm_trade_types() {
    let events = check_extra(USDM_TRADE_MARKET, Ok(Frame::Data(1)));
    assert_eq!(events[0].side, Side::Buy);
    assert_eq!(events[0].qty, Decimal::new(16, 3));
    assert_eq!(events[0].trade_id, Some(6591234567));
    assert_eq!(events[0].ts_us, 1_791_391_082_020_000);
    let events = check_extra(USDM_TRADE_RPI, Ok(Frame::Data(1)));
    assert_eq!(events[0].side, Side::Sell);
    // Not market trades: reported with their id only (for gap detection), never as trades.
    for (frame, id) in [
        (USDM_TRADE_ADL, 6591234569),
        (USDM_TRADE_INSURANCE, 6591234570),
    ] {
        let events = check_extra(frame, Ok(Frame::Data(1)));
        assert_eq!(events[0].kind, EventKind::NonMarket, "{frame}");
        assert_eq!(events[0].trade_id, Some(id));
        assert!(events[0].qty.is_zero() && events[0].price.is_zero());
    }
    let events = check_extra(USDM_TRADE_NA, Ok(Frame::Data(1)));
    assert_eq!(events[0].kind, EventKind::NonMarket);
}

#[test]
fn zero_sizes_are_dropped() {
    check_extra(SPOT_ZERO_QTY, Ok(Frame::Data(0)));
    check_extra(USDM_ZERO_LIQUIDATION, Ok(Frame::Data(0)));
}

#[test]
fn huge_and_odd_numbers_are_typed_errors() {
    check_extra(HUGE_PRICE, Err(DecodeError::Number("p")));
    check_extra(HUGE_TIME, Err(DecodeError::Number("T")));
    check_extra(EXPONENT_QTY, Err(DecodeError::Number("q")));
    check_extra(TWENTY_DIGIT_FRACTION, Err(DecodeError::Number("p")));
    check_extra(FLOAT_TIME, Err(DecodeError::Number("T")));
    // Past u64: simd-json reads it as a float (or rejects it); either way no event.
    let (got, events) = decode(Venue::BinanceUsdm, HUGE_TIME_PAST_U64);
    assert!(got.is_err(), "{got:?}");
    assert!(events.is_empty());
    let events = check_extra(MAX_TRADE_ID, Ok(Frame::Data(1)));
    assert_eq!(events[0].trade_id, Some(u64::MAX));
}

#[test]
fn truncations_of_every_fixture_line_are_malformed() {
    for (file, venue) in [
        ("binance_spot", Venue::BinanceSpot),
        ("binance_usdm", Venue::BinanceUsdm),
    ] {
        let (lines, _) = load(file);
        let mut decoder = Decoder::new(venue);
        for line in lines
            .iter()
            .map(String::as_str)
            .chain(EXTRA_CASES.iter().copied())
        {
            for cut in 0..line.len() {
                let mut bytes = line.as_bytes()[..cut].to_vec();
                let mut emitted = 0;
                let got = decoder.decode(&mut bytes, &mut |_| emitted += 1);
                assert_eq!(
                    got,
                    Err(DecodeError::Malformed),
                    "{file}: {:?}",
                    &line[..cut]
                );
                assert_eq!(emitted, 0);
            }
        }
    }
}

proptest! {
    /// Arbitrary byte damage to real frames never panics, and `Frame::Data(n)` always
    /// matches the number of events emitted.
    #[test]
    fn damaged_frames_never_panic(
        line in 0usize..18,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let (spot, _) = load("binance_spot");
        let (usdm, _) = load("binance_usdm");
        let all: Vec<&String> = spot.iter().chain(&usdm).collect();
        let mut bytes = all[line % all.len()].as_bytes().to_vec();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let mut decoder = Decoder::new(Venue::BinanceUsdm);
        let mut emitted = 0u32;
        let got = decoder.decode(&mut bytes, &mut |_| emitted += 1);
        match got {
            Ok(Frame::Data(n)) => prop_assert_eq!(n, emitted),
            _ => prop_assert_eq!(emitted, 0),
        }
    }

    /// Random bytes never panic.
    #[test]
    fn random_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut decoder = Decoder::new(Venue::BinanceSpot);
        let _ = decoder.decode(&mut bytes, &mut |_| {});
    }
}
