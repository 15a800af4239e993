//! `squeezeflow decode --venue V FILE` for the Coinbase, Kraken, BitMEX, Deribit, Bitfinex
//! and COIN-M decoders, on the shared vectors (and the docs-built fixtures in
//! `feeds/tests/fixtures`): one JSON line per event with the aggr-server market id, bad
//! lines reported on stderr with their number.

use std::path::PathBuf;
use std::process::{Command, Output};

fn squeezeflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_squeezeflow"))
        .args(args)
        .env_remove("SQUEEZEFLOW_LOG_LEVEL")
        .env_remove("SQUEEZEFLOW_DATA_DIR")
        .output()
        .expect("run squeezeflow")
}

fn file(path: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    root.join(path).to_str().expect("UTF-8 path").to_owned()
}

/// Decode `path` as `venue`; the events as JSON values and stderr.
fn decode(venue: &str, path: &str) -> (Vec<serde_json::Value>, String) {
    let out = squeezeflow(&["decode", "--venue", venue, &file(path)]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{venue}: {stderr}");
    let events = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    (events, stderr)
}

const SHARED: &str = "../shared/reference/vectors/";

#[test]
fn every_new_venue_decodes_from_the_command_line() {
    // (venue, file, events, first event's market, malformed line number)
    let cases = [
        (
            "coinbase",
            "coinbase_exchange.jsonl",
            6,
            "COINBASE:BAND-GBP",
            10,
        ),
        (
            "coinbase-advanced",
            "coinbase_advanced.jsonl",
            105,
            "COINBASE:BTC-USD",
            9,
        ),
        ("kraken", "kraken_v2.jsonl", 2, "KRAKEN:XBT/USD", 7),
        ("kraken", "kraken_v1.jsonl", 6, "KRAKEN:XMR/USD", 10),
        ("bitmex", "bitmex.jsonl", 7, "BITMEX:XBTUSD", 11),
        ("deribit", "deribit.jsonl", 3, "DERIBIT:BTC-PERPETUAL", 8),
        ("bitfinex", "bitfinex.jsonl", 34, "BITFINEX:MNABTC", 11),
    ];
    for (venue, name, events, market, malformed) in cases {
        let (got, stderr) = decode(venue, &format!("{SHARED}{name}"));
        assert_eq!(got.len(), events, "{venue} {name}");
        assert_eq!(got[0]["market"], market, "{venue} {name}");
        assert_eq!(got[0]["venue"], venue);
        assert!(
            stderr.contains(&format!("line {malformed}: malformed JSON")),
            "{venue} {name}: {stderr}"
        );
    }
}

#[test]
fn futures_fixtures_and_replies() {
    let (got, stderr) = decode(
        "kraken-futures",
        "feeds/tests/fixtures/kraken_futures.jsonl",
    );
    assert_eq!(got.len(), 4);
    assert_eq!(got[3]["kind"], "liquidation");
    assert_eq!(got[3]["market"], "KRAKEN:PI_XBTUSD");
    assert!(stderr.contains("line 7: venue error reply"), "{stderr}");

    let (got, stderr) = decode("binance-coinm", "feeds/tests/fixtures/binance_coinm.jsonl");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["market"], "BINANCE_FUTURES:btcusd_perp");
    assert_eq!(
        got[0]["qty"].as_str().map(|q| q.parse::<f64>().unwrap()),
        Some(0.006)
    );
    assert!(stderr.contains("line 4: no contract spec"), "{stderr}");

    let (_, stderr) = decode("deribit", &format!("{SHARED}deribit.jsonl"));
    assert!(
        stderr.contains("line 4: the venue expects the reply"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 5: venue error reply (code 13778)"),
        "{stderr}"
    );
}
