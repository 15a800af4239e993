//! Tapes and configs in aggr-server's venue spelling, and `decode` with the instrument cache.

use std::path::Path;

mod common;
use common::{squeezeflow, text};

const BASE_MS: i64 = 1_795_478_400_000 + 7_200_000; // 2026-11-24T02:00Z

/// Frames of five venue APIs over ~40 s, each line's venue written by `name(our_venue)`.
fn write_tape(path: &Path, name: impl Fn(&str) -> String) {
    let mut out = String::new();
    let mut line = |ts_ms: i64, venue: &str, frame: String| {
        let rec = serde_json::json!({"ts_ns": ts_ms * 1_000_000, "venue": name(venue), "conn": 1, "frame": frame});
        out.push_str(&rec.to_string());
        out.push('\n');
    };
    line(
        BASE_MS,
        "binance-usdm",
        r#"{"result":null,"id":1}"#.to_string(),
    );
    for i in 0..400i64 {
        let ts = BASE_MS + i * 97;
        let price = format!("{}.{}", 64_000 + (i * 7919) % 300, i % 10);
        let qty = format!("0.{:03}", 1 + (i * 31) % 999);
        let m = i % 3 == 0;
        line(
            ts,
            "binance-usdm",
            format!(
                r#"{{"stream":"btcusdt@aggTrade","data":{{"e":"aggTrade","E":{ts},"a":{i},"s":"BTCUSDT","p":"{price}","q":"{qty}","f":{f},"l":{l},"T":{ts},"m":{m}}}}}"#,
                f = i * 2,
                l = i * 2 + 1
            ),
        );
        line(
            ts,
            "binance-coinm",
            format!(
                r#"{{"stream":"btcusd_perp@aggTrade","data":{{"e":"aggTrade","E":{ts},"a":{i},"s":"BTCUSD_PERP","p":"{price}","q":"{}","f":{i},"l":{i},"T":{ts},"m":{}}}}}"#,
                1 + i % 7,
                !m
            ),
        );
        let side = if m { "Sell" } else { "Buy" };
        line(
            ts,
            "bybit-linear",
            format!(
                r#"{{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":{ts},"data":[{{"T":{ts},"s":"BTCUSDT","S":"{side}","v":"{qty}","p":"{price}","L":"PlusTick","i":"0cbf2330-952d-5d03-a462-4bf826c8{i:04}","BT":false}}]}}"#
            ),
        );
        line(
            ts,
            "bybit-spot",
            format!(
                r#"{{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":{ts},"data":[{{"i":"22900000011890{i:05}","T":{ts},"p":"{price}","v":"{qty}","S":"{side}","s":"BTCUSDT","BT":false}}]}}"#
            ),
        );
        line(
            ts,
            "okx-swap",
            format!(
                r#"{{"arg":{{"channel":"trades","instId":"BTC-USDT-SWAP"}},"data":[{{"instId":"BTC-USDT-SWAP","tradeId":"{}","px":"{price}","sz":"{}","side":"{}","ts":"{ts}"}}]}}"#,
                1000 + i,
                1 + i % 5,
                side.to_ascii_lowercase()
            ),
        );
    }
    std::fs::write(path, out).unwrap();
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

fn replay(tape: &Path, data: &Path) -> String {
    let out = squeezeflow(&[
        "replay",
        tape.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    err
}

#[test]
fn a_tape_in_aggr_server_spelling_replays_to_the_same_bars() {
    let tmp = tempfile::tempdir().unwrap();
    let (ours, theirs) = (tmp.path().join("ours.jsonl"), tmp.path().join("aggr.jsonl"));
    write_tape(&ours, |v| v.to_string());
    // aggr-server's ids, upper and lower case: one id per exchange, the frame decides the API.
    write_tape(&theirs, |v| {
        match v {
            "binance-usdm" => "BINANCE_FUTURES",
            "binance-coinm" => "binance_futures",
            "bybit-linear" => "BYBIT",
            "bybit-spot" => "bybit",
            "okx-swap" => "OKEX",
            other => panic!("{other}"),
        }
        .to_string()
    });
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let err_a = replay(&ours, &a);
    let err_b = replay(&theirs, &b);
    assert!(!err_b.contains("unknown venue"), "{err_b}");
    assert!(err_a.contains("5 markets"), "{err_a}");
    assert!(err_b.contains("5 markets"), "{err_b}");
    let (fa, fb) = (files(&a), files(&b));
    let bars: Vec<&String> = fa
        .iter()
        .map(|f| &f.0)
        .filter(|n| n.starts_with("bars"))
        .collect();
    assert_eq!(bars.len(), 5, "one bar file per market: {bars:?}");
    assert!(
        bars.iter().any(|n| n.contains("btcusd_perp")) && bars.iter().any(|n| n.contains("SPOT")),
        "COIN-M and spot markets kept apart: {bars:?}"
    );
    assert_eq!(
        fa.iter().map(|f| &f.0).collect::<Vec<_>>(),
        fb.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in fa.iter().zip(&fb) {
        assert!(x == y, "{name} differs between the two spellings");
    }
}

#[test]
fn an_unknown_venue_in_a_tape_names_the_accepted_spellings() {
    let tmp = tempfile::tempdir().unwrap();
    let tape = tmp.path().join("t.jsonl");
    std::fs::write(
        &tape,
        r#"{"ts_ns":1,"venue":"KUCOIN","conn":1,"frame":"{}"}"#.to_string() + "\n",
    )
    .unwrap();
    let err = replay(&tape, &tmp.path().join("d"));
    assert!(err.contains("unknown venue \"KUCOIN\""), "{err}");
    assert!(
        err.contains("binance-usdm") && err.contains("BINANCE_FUTURES"),
        "{err}"
    );
}

#[test]
fn a_config_with_aggr_server_venue_names_parses() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[[feeds]]\nvenue = \"BINANCE_FUTURES\"\npairs = [\"btcusdt\", \"btcusd_perp\"]\n\
         [[feeds]]\nvenue = \"bybit\"\npairs = [\"BTCUSDT-SPOT\"]\n",
    )
    .unwrap();
    // `bars` loads and validates the config (and finds no bars in an empty data dir).
    let out = squeezeflow(&[
        "bars",
        "--config",
        cfg.to_str().unwrap(),
        "--data",
        tmp.path().join("d").to_str().unwrap(),
        "--market",
        "BINANCE_FUTURES:btcusdt",
    ]);
    let err = text(&out.stderr);
    assert!(!err.contains("unknown venue"), "{err}");
    assert!(!err.contains("feeds["), "{err}");
    std::fs::write(
        &cfg,
        "[[feeds]]\nvenue = \"binance-futures\"\npairs = [\"btcusdt\"]\n",
    )
    .unwrap();
    let out = squeezeflow(&[
        "bars",
        "--config",
        cfg.to_str().unwrap(),
        "--market",
        "BINANCE_FUTURES:btcusdt",
    ]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("unknown venue \"binance-futures\"") && err.contains("BINANCE_FUTURES"),
        "{err}"
    );
}

const QUARTERLY: &str = r#"{"stream":"btcusd_261225@aggTrade","data":{"e":"aggTrade","E":1795478400100,"a":77,"s":"BTCUSD_261225","p":"80000.0","q":"4","f":10,"l":12,"T":1795478400000,"m":false}}"#;

fn decode(venue: &str, data: &Path, frames: &Path) -> (String, String) {
    let out = squeezeflow(&[
        "decode",
        "--venue",
        venue,
        "--data",
        data.to_str().unwrap(),
        frames.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    (text(&out.stdout), text(&out.stderr))
}

/// The engine's cache file, in its real format (`engine::instruments::write_cache`).
fn write_cache(data: &Path, fetched_at_ms: i64) {
    let dir = data.join("instruments");
    std::fs::create_dir_all(&dir).unwrap();
    let doc = serde_json::json!({
        "family": "binance",
        "fetched_at_ms": fetched_at_ms,
        "instruments": [
            {"venue": "binance-coinm", "symbol": "BTCUSD_261225", "size": "100", "inverse": true},
        ],
    });
    std::fs::write(dir.join("binance.json"), doc.to_string()).unwrap();
}

#[test]
fn decode_takes_contract_sizes_from_the_instrument_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let frames = tmp.path().join("frames.jsonl");
    std::fs::write(&frames, format!("{QUARTERLY}\n")).unwrap();
    let data = tmp.path().join("data");

    // Without a cache: the bundle has no spec for the quarterly.
    let (out, err) = decode("binance-coinm", &data, &frames);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("no contract spec"), "{err}");
    assert!(err.contains("the bundled snapshot"), "{err}");

    // Engine's engine-written cache (here stale: fetched at the epoch) supplies it.
    write_cache(&data, 0);
    let (out, err) = decode("binance-coinm", &data, &frames);
    assert!(err.contains("from the instrument cache"), "{err}");
    assert!(!err.contains("no contract spec"), "{err}");
    let ev: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(ev["market"], "BINANCE_FUTURES:btcusd_261225");
    // 4 contracts × 100 USD / 80000 = 0.005 BTC.
    assert_eq!(ev["qty"].as_str().unwrap().parse::<f64>().unwrap(), 0.005);
    assert_eq!(ev["side"], "buy");

    // aggr-server's spelling picks COIN-M from the frame, with the same sizes.
    let (alias_out, _) = decode("BINANCE_FUTURES", &data, &frames);
    assert_eq!(alias_out, out);

    // A damaged cache falls back to the bundle and says why.
    std::fs::write(data.join("instruments/binance.json"), "{not json").unwrap();
    let (out, err) = decode("binance-coinm", &data, &frames);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("damaged"), "{err}");
}
