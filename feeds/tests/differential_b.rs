//! Differential tests: our simd-json decoders against the plain serde_json reference
//! decoders of `tests/reference/` on every fixture line of Coinbase, Kraken, BitMEX, Deribit,
//! Bitfinex and Binance COIN-M (`tests/fixtures`; the recordings in `../shared/reference/vectors`
//! in an optional test), and on generated trade frames (random prices, sizes, sides, ids, times).
//! Both must agree on success vs failure and on every event: kind, side, symbol, ids and
//! times exactly; price within 1e-12 and quantity within 1e-9 relative (the reference works
//! in f64, we in exact decimals).

use feeds::{Event, Venue};
use proptest::prelude::*;
use std::path::Path;

mod support;

mod reference {
    pub mod binance_coinm;
    pub mod bitfinex;
    pub mod bitmex;
    pub mod coinbase;
    pub mod deribit;
    pub mod kraken;
    pub mod types;
}

use reference::types::RefEvent;

type RefDecode = fn(&str) -> Result<Vec<RefEvent>, String>;

fn reference_of(venue: Venue) -> RefDecode {
    match venue {
        Venue::Coinbase | Venue::CoinbaseAdvanced => reference::coinbase::decode,
        Venue::KrakenSpot | Venue::KrakenFutures => reference::kraken::decode,
        Venue::Bitmex => reference::bitmex::decode,
        Venue::Deribit => reference::deribit::decode,
        Venue::Bitfinex => reference::bitfinex::decode,
        Venue::BinanceCoinm => reference::binance_coinm::decode,
        other => panic!("no reference decoder for {other}"),
    }
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    a == b || ((a - b) / b).abs() <= rel
}

/// Compare one frame through both decoders; `Err` describes the disagreement.
fn compare(
    decoder: &mut dyn feeds::Decode,
    reference: RefDecode,
    line: &str,
) -> Result<usize, String> {
    let mut bytes = line.as_bytes().to_vec();
    let mut ours: Vec<Event> = Vec::new();
    let got = decoder.decode(&mut bytes, &mut |e| ours.push(e));
    let want = reference(line);
    let want = match (got, want) {
        (Ok(_), Ok(want)) => want,
        (Err(_), Err(_)) => return Ok(0),
        (got, want) => return Err(format!("ours {got:?} vs reference {want:?}")),
    };
    if ours.len() != want.len() {
        return Err(format!("{} events vs reference {}", ours.len(), want.len()));
    }
    for (i, (o, r)) in ours.iter().zip(&want).enumerate() {
        let same = o.kind.as_str() == r.kind
            && o.side.as_str() == r.side
            && o.symbol.as_str() == r.symbol
            && close(o.price.to_f64(), r.price, 1e-12)
            && close(o.qty.to_f64(), r.qty, 1e-9)
            && r.ts_us.is_none_or(|ts| ts == o.ts_us)
            && o.trade_id == r.trade_id;
        if !same {
            return Err(format!("event {i}: ours {o:?} vs reference {r:?}"));
        }
    }
    Ok(ours.len())
}

fn fixture_lines(dir: &Path, name: &str) -> Vec<String> {
    let p = dir.join(format!("{name}.jsonl"));
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("cannot read {} ({e})", p.display()))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Every line of a fixture (`tests/fixtures/NAME.jsonl`) through both decoders, in order (one
/// connection).
fn file(name: &str, venue: Venue) -> usize {
    lines_agree(&support::fixtures(), name, venue)
}

/// Every line of `dir/NAME.jsonl` through both decoders, in order; the events compared.
fn lines_agree(dir: &Path, name: &str, venue: Venue) -> usize {
    let mut decoder = venue.decoder();
    let mut events = 0;
    for (i, line) in fixture_lines(dir, name).iter().enumerate() {
        match compare(decoder.as_mut(), reference_of(venue), line) {
            Ok(n) => events += n,
            Err(e) => panic!("{name}:{}: {e}", i + 1),
        }
    }
    events
}

#[test]
fn coinbase_fixtures() {
    assert_eq!(file("coinbase_exchange", Venue::Coinbase), 6);
    assert_eq!(file("coinbase_advanced", Venue::CoinbaseAdvanced), 17);
}

#[test]
fn kraken_fixtures() {
    assert_eq!(file("kraken_v2", Venue::KrakenSpot), 2);
    assert_eq!(file("kraken_v1", Venue::KrakenSpot), 6);
    assert_eq!(file("kraken_futures", Venue::KrakenFutures), 4);
}

#[test]
fn bitmex_fixtures() {
    assert_eq!(file("bitmex", Venue::Bitmex), 7);
}

#[test]
fn deribit_fixtures() {
    assert_eq!(file("deribit", Venue::Deribit), 3);
}

#[test]
fn binance_coinm_fixtures() {
    assert_eq!(file("binance_coinm", Venue::BinanceCoinm), 2);
}

#[test]
fn bitfinex_fixtures() {
    assert_eq!(file("bitfinex", Venue::Bitfinex), 10);
}

/// Optional: the recorded vectors in `../shared/reference/vectors`, when present.
#[test]
fn shared_vectors_agree() {
    let Some(dir) = support::shared_vectors() else {
        return;
    };
    assert_eq!(lines_agree(&dir, "coinbase_exchange", Venue::Coinbase), 6);
    assert!(lines_agree(&dir, "coinbase_advanced", Venue::CoinbaseAdvanced) > 100);
    assert_eq!(lines_agree(&dir, "kraken_v2", Venue::KrakenSpot), 2);
    assert_eq!(lines_agree(&dir, "kraken_v1", Venue::KrakenSpot), 6);
    assert_eq!(lines_agree(&dir, "bitmex", Venue::Bitmex), 7);
    assert_eq!(lines_agree(&dir, "deribit", Venue::Deribit), 3);
    assert!(lines_agree(&dir, "bitfinex", Venue::Bitfinex) > 20);
}

// ---- generated frames ----

/// A decimal literal with up to 8 fractional digits and no needless leading zeros.
fn decimal_text() -> impl Strategy<Value = String> {
    (1u64..2_000_000, 0u32..9, 0u64..100_000_000).prop_map(|(int, scale, frac)| {
        if scale == 0 {
            int.to_string()
        } else {
            format!(
                "{int}.{:0width$}",
                frac % 10u64.pow(scale),
                width = scale as usize
            )
        }
    })
}

fn iso(ms: u64, extra_digits: u32) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days (inverse of the era formula), good for 1970..2100.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let frac = format!("{:03}{}", ms % 1000, "0".repeat(extra_digits as usize));
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[derive(Debug, Clone)]
struct Trade {
    price: String,
    qty: String,
    buy: bool,
    id: u64,
    ms: u64,
}

fn trade() -> impl Strategy<Value = Trade> {
    (
        decimal_text(),
        decimal_text(),
        any::<bool>(),
        1u64..u64::from(u32::MAX),
        1_500_000_000_000u64..4_000_000_000_000,
    )
        .prop_map(|(price, qty, buy, id, ms)| Trade {
            price,
            qty,
            buy,
            id,
            ms,
        })
}

fn frames(t: &Trade) -> Vec<(Venue, Vec<String>)> {
    let side = if t.buy { "buy" } else { "sell" };
    let sign = if t.buy { "" } else { "-" };
    let bitmex_side = if t.buy { "Buy" } else { "Sell" };
    vec![
        (Venue::Coinbase, vec![format!(
            r#"{{"type":"match","trade_id":{},"maker_order_id":"a","taker_order_id":"b","side":"{side}","size":"{}","price":"{}","product_id":"BTC-USD","sequence":1,"time":"{}"}}"#,
            t.id, t.qty, t.price, iso(t.ms, 3)
        )]),
        (Venue::CoinbaseAdvanced, vec![format!(
            r#"{{"channel":"market_trades","timestamp":"x","sequence_num":1,"events":[{{"type":"update","trades":[{{"product_id":"ETH-USD","trade_id":"{}","price":"{}","size":"{}","time":"{}","side":"{}"}}]}}]}}"#,
            t.id, t.price, t.qty, iso(t.ms, 6), side.to_uppercase()
        )]),
        (Venue::KrakenSpot, vec![format!(
            r#"{{"channel":"trade","type":"update","data":[{{"symbol":"BTC/USD","side":"{side}","price":{},"qty":{},"ord_type":"limit","trade_id":{},"timestamp":"{}"}}]}}"#,
            t.price, t.qty, t.id, iso(t.ms, 3)
        )]),
        (Venue::KrakenFutures, vec![format!(
            r#"{{"feed":"trade","product_id":"PI_XBTUSD","uid":"u","side":"{side}","type":"{}","seq":1,"time":{},"qty":{},"price":{}}}"#,
            if t.id % 2 == 0 { "fill" } else { "liquidation" }, t.ms, t.qty, t.price
        )]),
        (Venue::Bitmex, vec![
            format!(r#"{{"info":"Welcome","timestamp":"{}"}}"#, iso(t.ms, 0)),
            format!(
                r#"{{"table":"trade","action":"insert","data":[{{"timestamp":"{}","symbol":"XBTUSD","side":"{bitmex_side}","size":100,"price":{},"trdMatchID":"6e70bebe-235e-08a6-d11b-e1042bf1f2ed","homeNotional":{}}}]}}"#,
                iso(t.ms, 0), t.price, t.qty
            ),
            format!(
                r#"{{"table":"liquidation","action":"insert","data":[{{"orderID":"o","symbol":"XBTUSD","side":"{bitmex_side}","price":{},"leavesQty":{}}}]}}"#,
                t.price, t.id
            ),
        ]),
        (Venue::Deribit, vec![format!(
            r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"trades.BTC-PERPETUAL.100ms","data":[{{"timestamp":{},"price":{},"amount":{},"direction":"{side}","instrument_name":"{}","trade_seq":1,"trade_id":"{}"{}}}]}}}}"#,
            t.ms, t.price, t.qty,
            if t.id % 3 == 0 { "BTC_USDC-PERPETUAL" } else { "BTC-PERPETUAL" },
            t.id,
            if t.id % 5 == 0 { r#","liquidation":"M""# } else { "" }
        )]),
        (Venue::BinanceCoinm, vec![
            format!(
                r#"{{"stream":"{}@aggTrade","data":{{"e":"aggTrade","E":{},"a":{},"s":"{}","p":"{}","q":"{}","f":1,"l":1,"T":{},"m":{}}}}}"#,
                if t.id % 2 == 0 { "btcusd_perp" } else { "ethusd_perp" },
                t.ms, t.id,
                if t.id % 2 == 0 { "BTCUSD_PERP" } else { "ETHUSD_PERP" },
                t.price, t.qty.split('.').next().unwrap_or("1"), t.ms, !t.buy
            ),
            format!(
                r#"{{"e":"forceOrder","E":{},"o":{{"s":"SOLUSD_PERP","S":"{}","o":"LIMIT","f":"IOC","q":"{}","p":"{}","ap":"{}","X":"FILLED","l":"1","z":"{}","T":{}}}}}"#,
                t.ms, side.to_uppercase(), t.qty, t.price, t.price, t.qty, t.ms
            ),
        ]),
        (Venue::Bitfinex, vec![
            r#"{"event":"subscribed","channel":"trades","chanId":7,"symbol":"tBTCUSD","pair":"BTCUSD"}"#.to_owned(),
            format!(r#"[7,"te",[{},{},{sign}{},{}]]"#, t.id, t.ms, t.qty, t.price),
            format!(r#"[7,[[{},{},{sign}{},{}],[{},{},{},{}]]]"#, t.id, t.ms, t.qty, t.price, t.id + 1, t.ms, t.qty, t.price),
            r#"{"event":"subscribed","channel":"status","chanId":8,"key":"liq:global"}"#.to_owned(),
            format!(
                r#"[8,[["pos",{},{}.5,null,"tBTCUSD",{sign}{},1.5,null,0,0,null,null],["pos",{},{},null,"tETHUSD",{},{},null,0,0,null,{}],["pos",1,1,null,"tBTCUSD",1,1,null,1,1,null,2]]]"#,
                t.id, t.ms, t.qty, t.id, t.ms, t.qty, t.price, t.price
            ),
        ]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn generated_trades_agree(t in trade()) {
        for (venue, lines) in frames(&t) {
            let mut decoder = venue.decoder();
            let mut events = 0;
            for line in &lines {
                match compare(decoder.as_mut(), reference_of(venue), line) {
                    Ok(n) => events += n,
                    Err(e) => prop_assert!(false, "{venue}: {line}: {e}"),
                }
            }
            prop_assert!(events >= 1, "{venue}: no event from {lines:?}");
        }
    }
}
