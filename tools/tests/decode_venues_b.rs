//! `squeezeflow decode --venue V FILE` for the Coinbase, Kraken, BitMEX, Deribit, Bitfinex
//! and COIN-M decoders, on the docs-built fixtures in `feeds/tests/fixtures` (and, in an
//! optional conformance test, the recorded vectors in `../shared/reference/vectors`): one
//! JSON line per event with the aggr-server market id, bad lines reported on stderr with
//! their number.

mod common;

use std::path::Path;

/// Decode `path` as `venue`; the events as JSON values and stderr.
fn decode(venue: &str, path: &Path) -> (Vec<serde_json::Value>, String) {
    let out = common::squeezeflow(&["decode", "--venue", venue, path.to_str().unwrap()]);
    let stderr = common::text(&out.stderr);
    assert!(out.status.success(), "{venue}: {stderr}");
    let events = common::text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    (events, stderr)
}

/// (venue, file, events, first event's market, malformed line number)
type Case<'a> = (&'a str, &'a str, usize, &'a str, usize);

fn decode_cases(dir: &Path, cases: &[Case]) {
    for &(venue, name, events, market, malformed) in cases {
        let (got, stderr) = decode(venue, &dir.join(name));
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
fn every_new_venue_decodes_from_the_command_line() {
    let dir = common::fixture("");
    decode_cases(
        &dir,
        &[
            (
                "coinbase",
                "coinbase_exchange.jsonl",
                6,
                "COINBASE:ETH-EUR",
                10,
            ),
            (
                "coinbase-advanced",
                "coinbase_advanced.jsonl",
                17,
                "COINBASE:ETH-USD",
                9,
            ),
            ("kraken", "kraken_v2.jsonl", 2, "KRAKEN:XBT/USD", 7),
            ("kraken", "kraken_v1.jsonl", 6, "KRAKEN:ETH/EUR", 10),
            ("bitmex", "bitmex.jsonl", 7, "BITMEX:XBTUSD", 11),
            ("deribit", "deribit.jsonl", 3, "DERIBIT:BTC-PERPETUAL", 8),
            ("bitfinex", "bitfinex.jsonl", 10, "BITFINEX:ETHBTC", 11),
        ],
    );
}

/// Optional: the recorded vectors in `../shared/reference/vectors`, when present.
#[test]
fn shared_vectors_conformance() {
    let Some(dir) = common::shared_vectors() else {
        return;
    };
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
    decode_cases(&dir, &cases);
    let (_, stderr) = decode("deribit", &dir.join("deribit.jsonl"));
    assert!(
        stderr.contains("line 4: the venue expects the reply"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 5: venue error reply (code 13778)"),
        "{stderr}"
    );
}

#[test]
fn futures_fixtures_and_replies() {
    let (got, stderr) = decode("kraken-futures", &common::fixture("kraken_futures.jsonl"));
    assert_eq!(got.len(), 4);
    assert_eq!(got[3]["kind"], "liquidation");
    assert_eq!(got[3]["market"], "KRAKEN:PI_XBTUSD");
    assert!(stderr.contains("line 7: venue error reply"), "{stderr}");

    let (got, stderr) = decode("binance-coinm", &common::fixture("binance_coinm.jsonl"));
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["market"], "BINANCE_FUTURES:btcusd_perp");
    assert_eq!(
        got[0]["qty"].as_str().map(|q| q.parse::<f64>().unwrap()),
        Some(0.006)
    );
    assert!(stderr.contains("line 4: no contract spec"), "{stderr}");

    let (_, stderr) = decode("deribit", &common::fixture("deribit.jsonl"));
    assert!(
        stderr.contains("line 4: the venue expects the reply"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 5: venue error reply (code 13778)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 6: venue error reply (code 11050)"),
        "{stderr}"
    );
}
