//! Every venue decoder against this crate's fixtures (`feeds/tests/fixtures/`, written from
//! the venues' documentation, sources in each `expected.json` and the folder's README), and,
//! as an optional conformance test, against the recorded vectors in
//! `../shared/reference/vectors/` when that folder is beside the workspace (it prints a
//! `SKIPPED:` line otherwise).
//!
//! `NAME.jsonl` holds raw frames, `NAME.expected.json` what each line must produce. Files map
//! to decoders through [`ROUTES`]; vector files whose venue has no decoder yet are listed in
//! [`PENDING`], and a test checks that this list is exactly the set of files not routed and
//! that their decoders really are still missing (so a finished adapter must be moved to
//! `ROUTES`, never skipped silently).

mod support;

use feeds::{Decimal, DecodeError, Event, EventKind, Frame, Side, Venue};
use serde_json::Value;
use std::path::PathBuf;

/// How the lines of one file are decoded.
#[derive(Clone, Copy)]
enum Route {
    /// Every line with one venue's decoder.
    Venue(Venue),
    /// Files mixing market families whose ids collide: the venue per line.
    ByLine(fn(&str) -> Venue),
}

/// Bitget SPOT and USDT-FUTURES share instrument names, so each family has its own decoder.
fn bitget_family(line: &str) -> Venue {
    if line.contains(r#""instType":"SPOT""#) {
        Venue::BitgetSpot
    } else {
        Venue::Bitget
    }
}

/// Vector files (`NAME.jsonl`, in the fixtures and in the recorded vectors) and their decoders.
const ROUTES: &[(&str, Route)] = &[
    ("binance_spot", Route::Venue(Venue::BinanceSpot)),
    ("binance_usdm", Route::Venue(Venue::BinanceUsdm)),
    ("bybit_linear", Route::Venue(Venue::BybitLinear)),
    ("bybit_spot", Route::Venue(Venue::BybitSpot)),
    // One OKX decoder reads spot, swap and futures instruments alike.
    ("okx", Route::Venue(Venue::OkxSwap)),
    ("bitget", Route::ByLine(bitget_family)),
    ("hyperliquid", Route::Venue(Venue::Hyperliquid)),
];

/// Vector files checked line by line by `tests/vectors_b.rs` (its harness knows their extra
/// line kinds: `info`, `heartbeat`, snapshots, …).
const CHECKED_IN_VECTORS_B: &[&str] = &[
    "bitfinex",
    "bitmex",
    "coinbase_advanced",
    "coinbase_exchange",
    "deribit",
    "kraken_v1",
    "kraken_v2",
];

/// Fixtures checked by `tests/vectors_b.rs` that have no recorded counterpart.
const FIXTURE_ONLY_IN_VECTORS_B: &[&str] = &["binance_coinm", "kraken_futures"];

/// Vector files whose adapter is not built yet, with the venue that will decode them.
const PENDING: &[(&str, Venue)] = &[];

/// Fixtures of venues without recorded vectors, and their decoders.
const FIXTURES: &[(&str, Route)] = &[
    ("huobi", Route::Venue(Venue::Huobi)),
    ("huobi_swap", Route::Venue(Venue::HuobiSwap)),
    ("gate", Route::Venue(Venue::GateFutures)),
];

fn fixtures_dir() -> PathBuf {
    support::fixtures()
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {} ({e})", path.display()))
}

/// The raw lines of `NAME.jsonl` and the parsed `NAME.expected.json` in `dir`.
fn load(dir: PathBuf, name: &str) -> (Vec<String>, Value) {
    let lines = read(dir.join(format!("{name}.jsonl")))
        .lines()
        .map(str::to_owned)
        .collect();
    let expected = serde_json::from_str(&read(dir.join(format!("{name}.expected.json"))))
        .unwrap_or_else(|e| panic!("{name}.expected.json is not JSON: {e}"));
    (lines, expected)
}

fn decode(venue: Venue, frame: &[u8]) -> (Result<Frame, DecodeError>, Vec<Event>) {
    let mut decoder = venue.decoder();
    let mut bytes = frame.to_vec();
    let mut events = Vec::new();
    let result = decoder.decode(&mut bytes, &mut |e| events.push(e));
    (result, events)
}

fn decimal(text: &str) -> Decimal {
    Decimal::parse(text.as_bytes()).unwrap_or_else(|| panic!("bad decimal in vectors: {text}"))
}

/// The error code a venue-error line carries, wherever the venue puts it (`error.code`,
/// `code`, `err-code`; numbers or digit strings); 0 when it has none or only a text code.
fn error_code(line: &str) -> i64 {
    let v: Value = serde_json::from_str(line).expect("error lines are JSON");
    let code = [&v["error"]["code"], &v["code"], &v["err-code"]]
        .into_iter()
        .find(|c| !c.is_null())
        .cloned()
        .unwrap_or(Value::Null);
    match code {
        Value::Number(n) => n.as_i64().expect("integer code"),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// A UUID trade id as the decoders fold it: high 64 bits XOR low 64 bits.
fn uuid_fold(id: &str) -> Option<u64> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    if id.len() != 36 || hex.len() != 32 {
        return None;
    }
    let v = u128::from_str_radix(&hex, 16).ok()?;
    Some(((v >> 64) as u64) ^ (v as u64))
}

fn expected_trade_id(want: &Value) -> Option<u64> {
    let id = want["trade_id"].as_str()?;
    Some(
        id.parse::<u64>()
            .ok()
            .or_else(|| uuid_fold(id))
            .unwrap_or_else(|| panic!("trade id {id:?} is neither a u64 nor a UUID")),
    )
}

/// Compare one emitted event with its expectation.
fn check_event(at: &str, got: &Event, want: &Value) {
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
    let qty = decimal(want["quantity"].as_str().unwrap());
    match want["quantity_tolerance_rel"].as_f64() {
        Some(tol) => {
            let (g, w) = (got.qty.to_f64(), qty.to_f64());
            assert!(
                ((g - w) / w).abs() <= tol,
                "{at}: quantity {} vs {} beyond relative {tol}",
                got.qty,
                qty
            );
        }
        None => assert_eq!(got.qty, qty, "{at}: quantity"),
    }
    assert_eq!(got.side, side, "{at}: side");
    if let Some(ts) = want["ts_us"].as_i64() {
        assert_eq!(got.ts_us, ts, "{at}: ts_us");
    }
    assert_eq!(got.trade_id, expected_trade_id(want), "{at}: trade_id");
    let fills = if let Some(n) = want["aggregated_count"].as_u64() {
        u32::try_from(n).unwrap()
    } else if let (Some(f), Some(l)) = (
        want["first_trade_id"].as_str(),
        want["last_trade_id"].as_str(),
    ) {
        let (f, l) = (f.parse::<u64>().unwrap(), l.parse::<u64>().unwrap());
        u32::try_from(l - f + 1).unwrap()
    } else {
        1
    };
    assert_eq!(got.fills, fills, "{at}: fills");
}

/// Decode line `n` (1-based) with `venue` and check frame result and events.
fn check_line(file: &str, n: usize, raw: &str, entry: &Value, venue: Venue) {
    let kind = entry["kind"].as_str().expect("kind");
    let want = entry["events"].as_array().expect("events");
    let at = format!("{file}:{n} ({kind}, {venue})");
    let (result, events) = decode(venue, raw.as_bytes());
    let n_want = u32::try_from(want.len()).unwrap();
    match kind {
        "trade" | "liquidation" => assert_eq!(result, Ok(Frame::Data(n_want)), "{at}"),
        "trade_snapshot" => assert_eq!(result, Ok(Frame::Snapshot(n_want)), "{at}"),
        "subscribe_ack" => assert_eq!(result, Ok(Frame::SubscribeAck), "{at}"),
        "server_shutdown" => assert_eq!(result, Ok(Frame::ServerShutdown), "{at}"),
        "pong" => assert_eq!(result, Ok(Frame::Other), "{at}"),
        "error" => assert_eq!(
            result,
            Ok(Frame::VenueError {
                code: error_code(raw)
            }),
            "{at}"
        ),
        "ping" => {
            let v: Value = serde_json::from_str(raw).unwrap();
            assert_eq!(result, Ok(Frame::Ping(v["ping"].as_u64().unwrap())), "{at}");
        }
        "malformed" => assert!(result.is_err(), "{at}: got {result:?}"),
        "unknown_instrument" => {
            assert_eq!(result, Err(DecodeError::Instrument), "{at}")
        }
        "other_channel" => {
            // Channels the vectors list no trades for may still carry open interest, which
            // the decoders report as `OpenInterest` events (never trades or liquidations).
            let oi = events
                .iter()
                .filter(|e| e.kind == EventKind::OpenInterest)
                .count();
            assert_eq!(
                oi,
                events.len(),
                "{at}: only open interest on other channels"
            );
            for e in &events {
                assert!(
                    e.qty.mantissa >= 0 && e.ts_us > 0,
                    "{at}: open interest {e:?}"
                );
            }
            if events.is_empty() {
                assert_eq!(result, Ok(Frame::Other), "{at}");
            } else {
                let n = u32::try_from(events.len()).unwrap();
                assert!(
                    result == Ok(Frame::Data(n)) || result == Ok(Frame::Snapshot(n)),
                    "{at}: {result:?}"
                );
            }
            return;
        }
        other => panic!("{at}: unknown line kind {other:?}"),
    }
    assert_eq!(events.len(), want.len(), "{at}: event count {events:?}");
    for (i, (got, want)) in events.iter().zip(want).enumerate() {
        check_event(&format!("{at} event {i}"), got, want);
    }
}

/// Every line of `NAME` in `dir` checked; every line has exactly one expectation.
fn check_file(dir: PathBuf, file: &str, route: Route) -> usize {
    let (lines, expected) = load(dir, file);
    let entries = expected["lines"].as_array().expect("`lines` array");
    assert_eq!(
        lines.len(),
        entries.len(),
        "{file}: every line is described"
    );
    for (i, raw) in lines.iter().enumerate() {
        let n = i + 1;
        let entry = entries
            .iter()
            .find(|e| e["line"].as_u64() == Some(n as u64))
            .unwrap_or_else(|| panic!("{file}:{n} has no expectation"));
        let venue = match route {
            Route::Venue(v) => v,
            Route::ByLine(pick) => pick(raw),
        };
        check_line(file, n, raw, entry, venue);
    }
    lines.len()
}

#[test]
fn venue_fixtures() {
    let mut checked = 0;
    for (file, route) in ROUTES {
        checked += check_file(fixtures_dir(), file, *route);
    }
    assert!(checked > 50, "{checked} lines");
}

/// Optional: the recorded vectors in `../shared/reference/vectors`, when present.
#[test]
fn shared_vectors_conformance() {
    let Some(dir) = support::shared_vectors() else {
        return;
    };
    let mut checked = 0;
    for (file, route) in ROUTES {
        checked += check_file(dir.clone(), file, *route);
    }
    assert!(checked > 50, "{checked} lines");
    let pending: Vec<&str> = PENDING.iter().map(|(f, _)| *f).collect();
    eprintln!(
        "vectors: {} files checked ({checked} lines); pending (no decoder yet): {}",
        ROUTES.len(),
        pending.join(", ")
    );
    files_are_exactly_the_known_ones(&dir, &[]);
}

#[test]
fn fixtures_from_docs() {
    for (file, route) in FIXTURES {
        check_file(fixtures_dir(), file, *route);
    }
}

/// HTX sends every frame gzip-compressed: each fixture line, compressed, decodes exactly
/// like its plain text (the truncated line must still fail).
#[test]
fn huobi_fixtures_gzipped() {
    use flate2::write::GzEncoder;
    use std::io::Write;
    for (file, venue) in [("huobi", Venue::Huobi), ("huobi_swap", Venue::HuobiSwap)] {
        let (lines, _) = load(fixtures_dir(), file);
        for line in &lines {
            let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(line.as_bytes()).unwrap();
            let zipped = enc.finish().unwrap();
            let plain = decode(venue, line.as_bytes());
            let inflated = decode(venue, &zipped);
            assert_eq!(plain, inflated, "{file}: {line}");
        }
    }
}

/// Every fixture file is either routed to a decoder, checked by vectors_b.rs, a docs fixture
/// or pending; pending ones really have no decoder yet (their venue answers `Unknown` to every
/// line). When an adapter lands, this fails until its file moves from `PENDING` to `ROUTES`.
#[test]
fn pending_files_are_exactly_the_unbuilt_ones() {
    let mut fixture_only: Vec<&str> = FIXTURES.iter().map(|(f, _)| *f).collect();
    fixture_only.extend(FIXTURE_ONLY_IN_VECTORS_B);
    files_are_exactly_the_known_ones(&fixtures_dir(), &fixture_only);
}

/// The `.jsonl` files in `dir` are exactly the routed, vectors_b, pending and `extra` ones.
fn files_are_exactly_the_known_ones(dir: &std::path::Path, extra: &[&str]) {
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .expect("vectors directory")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".jsonl"))
                .map(str::to_owned)
        })
        .collect();
    on_disk.sort();
    let mut known: Vec<String> = ROUTES
        .iter()
        .map(|(f, _)| f.to_string())
        .chain(PENDING.iter().map(|(f, _)| f.to_string()))
        .chain(CHECKED_IN_VECTORS_B.iter().map(|f| f.to_string()))
        .chain(extra.iter().map(|f| f.to_string()))
        .collect();
    known.sort();
    assert_eq!(
        on_disk, known,
        "every vector file is routed, checked by vectors_b.rs or pending, once"
    );
    for (file, venue) in PENDING {
        let (lines, _) = load(dir.to_path_buf(), file);
        for line in &lines {
            let (result, events) = decode(*venue, line.as_bytes());
            assert_eq!(
                result,
                Err(DecodeError::Unknown),
                "{file} is pending but {venue} now decodes it: move it to ROUTES"
            );
            assert!(events.is_empty());
        }
    }
}
