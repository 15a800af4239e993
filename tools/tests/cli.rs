//! The `squeezeflow` command as a user runs it: replay determinism, `bars`, `decode`, errors.

use std::path::Path;
use std::process::Command;

mod common;
use common::{squeezeflow, text};

const BASE_MS: i64 = 1_795_478_400_000 + 7_200_000; // 2026-11-24T02:00Z

/// A tape with spot and futures trades over ~2 minutes, liquidations, an out-of-order (late)
/// trade, a malformed frame, a line that is not a tape record and one of an unknown venue.
fn write_tape(path: &Path) {
    let mut out = String::new();
    let mut line = |ts_ns: i64, venue: &str, frame: String| {
        let rec = serde_json::json!({"ts_ns": ts_ns, "venue": venue, "conn": 1, "frame": frame});
        out.push_str(&rec.to_string());
        out.push('\n');
    };
    line(0, "binance", r#"{"result":null,"id":1}"#.to_string());
    for i in 0..3000i64 {
        let ts = BASE_MS + i * 37 + if i == 1500 { -4000 } else { 0 };
        let price = format!("{}.{:02}", 64_000 + (i * 7919) % 300, i % 100);
        let qty = format!("0.{:04}", 1 + (i * 31) % 9999);
        let m = i % 3 == 0;
        line(
            ts * 1_000_000,
            "binance",
            format!(
                r#"{{"stream":"btcusdt@trade","data":{{"e":"trade","E":{ts},"s":"BTCUSDT","t":{i},"p":"{price}","q":"{qty}","T":{ts},"m":{m},"M":true}}}}"#
            ),
        );
        line(
            ts * 1_000_000,
            "binance-usdm",
            format!(
                r#"{{"e":"trade","E":{ts},"T":{ts},"s":"BTCUSDT","t":{i},"p":"{price}","q":"{qty}","X":"MARKET","m":{}}}"#,
                !m
            ),
        );
        if i % 97 == 0 {
            let side = if i % 2 == 0 { "SELL" } else { "BUY" };
            line(
                ts * 1_000_000,
                "binance-usdm",
                format!(
                    r#"{{"stream":"!forceOrder@arr","data":{{"e":"forceOrder","E":{ts},"o":{{"s":"ETHUSDT","S":"{side}","o":"LIMIT","f":"IOC","q":"1.5","p":"3000.10","ap":"3001.25","X":"FILLED","l":"1.5","z":"1.5","T":{ts}}}}}}}"#
                ),
            );
        }
    }
    line(
        1,
        "binance",
        r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1.0"#.to_string(),
    );
    out.push_str("this is not a tape line\n");
    out.push_str(r#"{"ts_ns":1,"venue":"nowhere","conn":1,"frame":"{}"}"#);
    out.push('\n');
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

#[test]
fn replay_twice_gives_byte_identical_bar_files() {
    let tmp = tempfile::tempdir().unwrap();
    let tape = tmp.path().join("tape.jsonl");
    write_tape(&tape);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for d in [&a, &b] {
        let out = squeezeflow(&[
            "replay",
            tape.to_str().unwrap(),
            "--data",
            d.to_str().unwrap(),
        ]);
        let err = text(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(err.contains("line 6034: not a tape record"), "{err}");
        assert!(err.contains("unknown venue \"nowhere\""), "{err}");
        assert!(err.contains("1 decode errors"), "{err}");
        assert!(err.contains("3 markets"), "{err}");
    }
    let (fa, fb) = (files(&a), files(&b));
    assert_eq!(
        fa.len(),
        3,
        "one day file per market: {:?}",
        fa.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert!(fa == fb, "replays differ");

    // The late trade amended its (closed) bar and is flagged in JSON output.
    let out = squeezeflow(&[
        "bars",
        "--data",
        a.to_str().unwrap(),
        "--market",
        "BINANCE:btcusdt",
        "--from",
        "2026-11-24T02:00:00Z",
        "--to",
        "2026-11-24T03:00:00Z",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 111, "3000 trades 37 ms apart span 111 seconds");
    assert_eq!(rows.iter().filter(|r| r["late"] == true).count(), 1);
    let trades: u64 = rows
        .iter()
        .map(|r| r["cbuy"].as_u64().unwrap() + r["csell"].as_u64().unwrap())
        .sum();
    assert_eq!(trades, 3000);

    // CSV in the documented columns, resampled to 1 minute.
    let out = squeezeflow(&[
        "bars",
        "--data",
        a.to_str().unwrap(),
        "--market",
        "BINANCE_FUTURES:ethusdt",
        "--from",
        "2026-11-24",
        "--to",
        "2026-11-25",
        "--tf",
        "1m",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("time,open,high,low,close,vbuy,vsell,cbuy,csell,lbuy,lsell")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert_eq!(rows[0][0], "1795485600000");
    assert_eq!(rows[0][1], "", "liquidation-only bars have no OHLC");
    let liq: f64 = rows
        .iter()
        .map(|r| r[9].parse::<f64>().unwrap() + r[10].parse::<f64>().unwrap())
        .sum();
    assert!((liq - 31.0 * 1.5 * 3001.25).abs() < 1e-6, "{liq}");
}

#[test]
fn bars_errors_are_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let out = squeezeflow(&[
        "bars",
        "--data",
        tmp.path().to_str().unwrap(),
        "--market",
        "BINANCE:btcusdt",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no bars stored under"),
        "{}",
        text(&out.stderr)
    );
    let out = squeezeflow(&["bars", "--market", "X:y", "--from", "2026-02-30"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no such date"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn decode_prints_events_and_reports_bad_lines() {
    let events = decode_usdm(&common::fixture("binance_usdm.jsonl"));
    assert_eq!(events.len(), 6);
    let liq = &events[3];
    assert_eq!(liq["kind"], "liquidation");
    assert_eq!(liq["market"], "BINANCE_FUTURES:btcusdt");
    assert_eq!(liq["price"], "99422.70", "the average fill price");
    assert_eq!(liq["qty"], "0.015");
    assert_eq!(liq["side"], "sell");
    assert_eq!(liq["ts_us"], 1_796_630_503_498_000i64);
    assert!(liq["trade_id"].is_null());

    let out = squeezeflow(&["decode", "--venue", "krakken"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("unknown venue \"krakken\""));
}

/// Optional: the recorded USD-M vectors of `../shared/reference/vectors`, when present.
#[test]
fn decode_shared_vectors_conformance() {
    let Some(dir) = common::shared_vectors() else {
        return;
    };
    let events = decode_usdm(&dir.join("binance_usdm.jsonl"));
    assert_eq!(events.len(), 6);
    let liq = &events[3];
    assert_eq!(liq["kind"], "liquidation");
    assert_eq!(liq["market"], "BINANCE_FUTURES:btcusdt");
    assert_eq!(liq["price"], "64310.60");
    assert_eq!(liq["qty"], "0.002");
    assert_eq!(liq["side"], "buy");
    assert_eq!(liq["ts_us"], 1_781_416_602_260_000i64);
    assert!(liq["trade_id"].is_null());
}

/// `squeezeflow decode --venue binance-usdm FILE`: the events; line 9 must be reported as
/// malformed JSON.
fn decode_usdm(file: &Path) -> Vec<serde_json::Value> {
    let out = squeezeflow(&["decode", "--venue", "binance-usdm", file.to_str().unwrap()]);
    assert!(out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("line 9: malformed JSON"), "{err}");
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn broken_config_names_file_line_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("bad.toml");
    std::fs::write(&cfg, "[bars]\ngrace_ms = 100\nretention = 3\n").unwrap();
    let out = squeezeflow(&["replay", "--config", cfg.to_str().unwrap(), "nothing.jsonl"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("line 3") && err.contains("retention"),
        "{err}"
    );
}

#[test]
fn sigterm_stops_the_demo_cleanly_and_closes_every_bar() {
    use engine::store::{flags, Store};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let child = Command::new(env!("CARGO_BIN_EXE_squeezeflow"))
        .args([
            "demo",
            "--quiet",
            "--rate",
            "100",
            "--data",
            data.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until bars appear (the engine is connected and aggregating), then ask it to stop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while Store::new(&data).markets().map_or(0, |m| m.len()) < 6
        || Store::new(&data)
            .range("BINANCE:btcusdt", 0, i64::MAX)
            .map_or(0, |b| b.len())
            < 3
    {
        assert!(
            std::time::Instant::now() < deadline,
            "demo produced no bars"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {err}", out.status);
    assert!(
        err.contains("stopping: closing connections, flushing open bars"),
        "{err}"
    );
    assert!(err.contains("tick-to-bar"), "{err}");
    let store = Store::new(&data);
    let mut bars = 0;
    for m in store.markets().unwrap() {
        for b in store.range(&m, 0, i64::MAX).unwrap() {
            bars += 1;
            assert!(
                b.flags & flags::CLOSED != 0,
                "{m} bar at {} left open",
                b.time_ms
            );
        }
    }
    assert!(bars >= 6, "{bars}");
}
