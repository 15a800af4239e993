//! Differential tests: every fixture line, and proptest mutations of the valid ones (numbers,
//! sizes, sides, ids replaced by other values, valid or not), through the simd-json decoders
//! and through the plain serde_json references in `reference/`. They must agree: the same
//! frame result and the same events, or both refuse the frame (the error kinds may name a
//! different field first, except that invalid JSON is `Malformed` for both).

mod reference;
mod support;

use feeds::{DecodeError, Instruments, Venue};
use proptest::prelude::*;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

/// Fixture files (`tests/fixtures`, written from the venues' docs) and the venue decoding them.
const FILES: &[(&str, &str, Venue)] = &[
    (FIXTURES, "bybit_linear", Venue::BybitLinear),
    (FIXTURES, "bybit_spot", Venue::BybitSpot),
    (FIXTURES, "okx", Venue::OkxSwap),
    (FIXTURES, "bitget", Venue::Bitget),
    (FIXTURES, "bitget", Venue::BitgetSpot),
    (FIXTURES, "hyperliquid", Venue::Hyperliquid),
    (FIXTURES, "huobi", Venue::Huobi),
    (FIXTURES, "huobi_swap", Venue::HuobiSwap),
    (FIXTURES, "gate", Venue::GateFutures),
];

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// Extra frames exercising paths the fixtures do not: inverse contracts, open interest,
/// zero sizes, odd ids.
const EXTRA: &[(Venue, &str)] = &[
    (
        Venue::BybitInverse,
        r#"{"topic":"publicTrade.BTCUSD","ts":1,"data":[{"T":1700000000000,"s":"BTCUSD","S":"Sell","v":"12345","p":"61234.5","i":"4b0832c3-70e8-5f68-a914-c53f304f507c"}]}"#,
    ),
    (
        Venue::BybitInverse,
        r#"{"topic":"allLiquidation.ETHUSD","ts":1,"data":[{"T":1700000000000,"s":"ETHUSD","S":"Buy","v":"700","p":"3100.25"}]}"#,
    ),
    (
        Venue::BybitInverse,
        r#"{"topic":"tickers.BTCUSD","type":"snapshot","data":{"symbol":"BTCUSD","markPrice":"61000","openInterest":"610000000"},"ts":1700000000001}"#,
    ),
    (
        Venue::BybitLinear,
        r#"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","openInterest":"51234.567"},"ts":1700000000001}"#,
    ),
    (
        Venue::BybitLinear,
        r#"{"topic":"publicTrade.BTCUSDT","ts":1,"data":[{"T":1,"s":"BTCUSDT","S":"Buy","v":"0","p":"1","i":"1"},{"T":2,"s":"BTCUSDT","S":"Sell","v":"2","p":"3","i":"2"}]}"#,
    ),
    (
        Venue::OkxFutures,
        r#"{"arg":{"channel":"trades","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP","tradeId":"9","px":"60000.1","sz":"3","side":"sell","ts":"1700000000000","count":"2"}]}"#,
    ),
    (
        Venue::OkxSwap,
        r#"{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"details":[{"bkPx":"3000","side":"buy","sz":"2","ts":"1"},{"bkPx":"3001","side":"sell","sz":"0","ts":"2"}],"instId":"ETH-USD-SWAP","instType":"SWAP"}]}"#,
    ),
    (
        Venue::Bitget,
        r#"{"action":"snapshot","arg":{"instType":"USDT-FUTURES","channel":"ticker","instId":"BTCUSDT"},"data":[{"instId":"BTCUSDT","markPrice":"83692.3","holdingAmount":"31911.34","ts":"1790358794983"}],"ts":1}"#,
    ),
];

fn lines(dir: &str, name: &str) -> Vec<String> {
    let path = PathBuf::from(dir).join(format!("{name}.jsonl"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {} ({e})", path.display()))
        .lines()
        .map(str::to_owned)
        .collect()
}

fn instruments() -> Arc<Instruments> {
    Instruments::bundled()
}

/// Both decoders on `frame`; panics with both answers when they disagree.
fn agree(venue: Venue, frame: &[u8], instruments: &Arc<Instruments>) -> Result<(), String> {
    let mut decoder = venue.decoder_with(instruments);
    let mut bytes = frame.to_vec();
    let mut events = Vec::new();
    let fast = decoder.decode(&mut bytes, &mut |e| events.push(e));
    let slow = reference::decode(venue, frame, instruments).expect("a reference for the venue");
    let text = String::from_utf8_lossy(frame);
    match (&fast, &slow.0) {
        (Ok(a), Ok(b)) if a == b && events == slow.1 => Ok(()),
        (Err(a), Err(b)) if events.is_empty() && slow.1.is_empty() => {
            if (*a == DecodeError::Malformed) != (*b == DecodeError::Malformed) {
                Err(format!("{venue}: {a:?} vs reference {b:?} on {text}"))
            } else {
                Ok(())
            }
        }
        _ => Err(format!(
            "{venue}: decoders disagree on {text}\n  simd-json: {fast:?} {events:?}\n  reference: {:?} {:?}",
            slow.0, slow.1
        )),
    }
}

#[test]
fn every_fixture_line_agrees() {
    let instruments = instruments();
    let mut n = 0;
    for (dir, file, venue) in FILES {
        for line in lines(dir, file) {
            agree(*venue, line.as_bytes(), &instruments).unwrap();
            n += 1;
        }
    }
    for (venue, frame) in EXTRA {
        agree(*venue, frame.as_bytes(), &instruments).unwrap();
    }
    assert!(n > 50);
}

#[path = "conformance/differential.rs"]
mod conformance;

/// The reference is not trivially agreeable: it sees a real difference (a flipped side).
#[test]
fn reference_disagrees_with_a_wrong_answer() {
    let instruments = instruments();
    let line = &lines(FIXTURES, "hyperliquid")[1];
    let flipped = line.replace(r#""side":"B""#, r#""side":"A""#);
    let venue = Venue::Hyperliquid;
    let fast = {
        let mut d = venue.decoder();
        let mut b = flipped.as_bytes().to_vec();
        let mut ev = Vec::new();
        let r = d.decode(&mut b, &mut |e| ev.push(e));
        (r, ev)
    };
    let slow = reference::decode(venue, line.as_bytes(), &instruments).unwrap();
    assert_eq!(fast.0, slow.0);
    assert_ne!(fast.1, slow.1, "a flipped side must show");
}

/// Every valid JSON fixture frame with its venue (malformed lines and bare `pong` excluded).
fn valid_frames() -> Vec<(Venue, Value)> {
    let mut out = Vec::new();
    for (dir, file, venue) in FILES {
        for line in lines(dir, file) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                out.push((*venue, v));
            }
        }
    }
    for (venue, frame) in EXTRA {
        out.push((*venue, serde_json::from_str(frame).unwrap()));
    }
    out
}

/// Paths to every string and number leaf of `v`.
fn leaves(v: &Value, path: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                path.push(PathStep::Key(k.clone()));
                leaves(child, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                path.push(PathStep::Index(i));
                leaves(child, path, out);
                path.pop();
            }
        }
        Value::String(_) | Value::Number(_) => out.push(path.clone()),
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn at<'a>(v: &'a mut Value, path: &[PathStep]) -> &'a mut Value {
    path.iter().fold(v, |v, step| match step {
        PathStep::Key(k) => &mut v[k.as_str()],
        PathStep::Index(i) => &mut v[*i],
    })
}

/// Replacement values: valid and invalid numbers as strings and JSON numbers, sides of every
/// venue's spelling, ids.
fn replacement() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u64..10_000_000, 0u32..9).prop_map(|(m, s)| {
            let text = m.to_string();
            let s = s as usize;
            Value::String(if s == 0 || s >= text.len() {
                text
            } else {
                format!("{}.{}", &text[..text.len() - s], &text[text.len() - s..])
            })
        }),
        any::<i64>().prop_map(|n| Value::String(n.to_string())),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        // JSON floats of at most 15 significant digits: the documented range in which a
        // float's text is recovered exactly (beyond it, parsers may differ in the last ulp).
        (0u64..1_000_000_000_000_000, 1u32..15, any::<bool>()).prop_map(|(m, s, neg)| {
            let s = s as usize;
            let digits = format!("{:0>width$}", m, width = s + 1);
            let (int, frac) = digits.split_at(digits.len() - s);
            let text = format!("{}{}.{}", if neg { "-" } else { "" }, int, frac);
            serde_json::from_str::<Value>(&text).expect("a JSON number")
        }),
        prop::sample::select(vec![
            "0",
            "0.0",
            "-1",
            "-0.5",
            "1e3",
            "1.5e-3",
            "",
            "abc",
            "12345678901234567890",
            "0.0000000000000000001",
            "buy",
            "sell",
            "Buy",
            "Sell",
            "BUY",
            "B",
            "A",
            "x",
            "4b0832c3-70e8-5f68-a914-c53f304f507c",
            "4b0832c3-70e8-5f68-a914-c53f304f507g",
            "snapshot",
            "update",
            "SPOT",
            "USDT-FUTURES",
            "trades",
            "subscribe",
            "error",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        Just(Value::Null),
        Just(Value::Bool(true)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Mutated leaves of valid frames: both decoders still agree.
    #[test]
    fn mutated_frames_agree(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), replacement()), 1..4),
    ) {
        let frames = valid_frames();
        let (venue, mut frame) = frames[pick.index(frames.len())].clone();
        let mut paths = Vec::new();
        leaves(&frame, &mut Vec::new(), &mut paths);
        prop_assume!(!paths.is_empty());
        for (i, value) in edits {
            let path = &paths[i.index(paths.len())];
            *at(&mut frame, path) = value;
        }
        let text = serde_json::to_vec(&frame).unwrap();
        let instruments = instruments();
        if let Err(e) = agree(venue, &text, &instruments) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// Every proper prefix of every fixture line is refused without events (a torn frame is
/// never half-decoded), on every venue here.
#[test]
fn truncated_frames_are_refused() {
    let instruments = instruments();
    for (dir, file, venue) in FILES {
        let mut decoder = venue.decoder_with(&instruments);
        for line in lines(dir, file) {
            for cut in 0..line.len() {
                let prefix = &line.as_bytes()[..cut];
                // `pong` is a complete frame on OKX and Bitget; its prefixes are not.
                let mut bytes = prefix.to_vec();
                let mut emitted = 0;
                let got = decoder.decode(&mut bytes, &mut |_| emitted += 1);
                assert!(
                    got.is_err(),
                    "{venue} {file}: {:?} gave {got:?}",
                    String::from_utf8_lossy(prefix)
                );
                assert_eq!(emitted, 0);
            }
        }
    }
}

proptest! {
    /// Arbitrary byte damage to real frames, on every venue's decoder (reused across
    /// inputs), never panics, and `Data(n)` / `Snapshot(n)` always match the events emitted.
    #[test]
    fn damaged_frames_never_panic(
        pick in any::<prop::sample::Index>(),
        venue in prop::sample::select(Venue::ALL.to_vec()),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let all: Vec<String> = FILES.iter().flat_map(|(d, f, _)| lines(d, f)).collect();
        let mut bytes = all[pick.index(all.len())].as_bytes().to_vec();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let mut decoder = venue.decoder();
        let mut emitted = 0u32;
        match decoder.decode(&mut bytes, &mut |_| emitted += 1) {
            Ok(feeds::Frame::Data(n)) | Ok(feeds::Frame::Snapshot(n)) => prop_assert_eq!(n, emitted),
            _ => prop_assert_eq!(emitted, 0),
        }
    }
}
