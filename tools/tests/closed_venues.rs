//! A venue that has closed (BitMEX, 2026-09-23) as a user meets it: `run` refuses a config
//! that follows it, with the closure, before connecting anywhere; `decode` and `replay` still
//! read its old frames.

mod common;
use common::{squeezeflow, text};

/// Two BitMEX `trade` inserts one second apart (the 2021 recording's shape) and a
/// `liquidation` insert.
const FRAMES: [&str; 3] = [
    r#"{"table":"trade","action":"insert","data":[{"timestamp":"2021-07-22T22:36:11.685Z","symbol":"XBTUSD","side":"Buy","size":100,"price":32180.5,"tickDirection":"PlusTick","trdMatchID":"6e70bebe-235e-08a6-d11b-e1042bf1f2ed","grossValue":310747,"homeNotional":0.00310747,"foreignNotional":100}]}"#,
    r#"{"table":"trade","action":"insert","data":[{"timestamp":"2021-07-22T22:36:12.901Z","symbol":"XBTUSD","side":"Sell","size":200,"price":32179.0,"tickDirection":"MinusTick","trdMatchID":"7e70bebe-235e-08a6-d11b-e1042bf1f2ed","grossValue":621523,"homeNotional":0.00621523,"foreignNotional":200}]}"#,
    r#"{"table":"liquidation","action":"insert","data":[{"orderID":"749134b5-8b4e-48d3-ab56-3495e8c58957","symbol":"XBTUSD","side":"Sell","price":32170.5,"leavesQty":1000}]}"#,
];

#[test]
fn run_refuses_a_bitmex_feed_with_its_closure() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("bitmex.toml");
    std::fs::write(
        &cfg,
        "[[feeds]]\nvenue = \"okx-swap\"\npairs = [\"BTC-USDT-SWAP\"]\n\n\
         [[feeds]]\nvenue = \"bitmex\"\npairs = [\"XBTUSD\"]\n",
    )
    .unwrap();
    let data = tmp.path().join("data");
    let out = squeezeflow(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--seconds",
        "5",
        "--quiet",
    ]);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("bitmex.toml") && err.contains("feeds[1].venue"),
        "{err}"
    );
    assert!(
        err.contains("\"bitmex\" has closed")
            && err.contains("ceased operations on 2026-09-23 04:00 UTC"),
        "{err}"
    );
    // Refused before anything started: no bar store was made.
    assert!(!data.exists(), "run started before refusing");
}

#[test]
fn decode_still_reads_old_bitmex_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bitmex.jsonl");
    std::fs::write(&file, FRAMES.join("\n") + "\n").unwrap();
    let out = squeezeflow(&["decode", "--venue", "bitmex", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0]["market"], "BITMEX:XBTUSD");
    assert_eq!(events[0]["qty"], "0.00310747");
    assert_eq!(events[1]["side"], "sell");
    assert_eq!(events[2]["kind"], "liquidation");
}

#[test]
fn replay_still_reads_a_bitmex_tape() {
    let tmp = tempfile::tempdir().unwrap();
    let tape = tmp.path().join("tape.jsonl");
    let mut lines = String::new();
    for (i, frame) in FRAMES.iter().enumerate() {
        let rec = serde_json::json!({
            "ts_ns": 1_626_993_371_700_000_000i64 + i as i64 * 1_300_000_000,
            "venue": "bitmex",
            "conn": 1,
            "frame": frame,
        });
        lines.push_str(&rec.to_string());
        lines.push('\n');
    }
    std::fs::write(&tape, lines).unwrap();
    let data = tmp.path().join("data");
    let out = squeezeflow(&[
        "replay",
        tape.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("unknown venue"), "{err}");
    let store = engine::store::Store::new(&data);
    assert_eq!(store.markets().unwrap(), ["BITMEX:XBTUSD"]);
    let bars = store.range("BITMEX:XBTUSD", 0, i64::MAX).unwrap();
    assert_eq!(bars.len(), 2, "one bar per second with trades: {bars:?}");
    // `import` (InfluxDB history) gates each market only on its store path; BitMEX ids keep one.
    assert!(engine::store::day_path(&data, "BITMEX:XBTUSD", 0).is_ok());
    // And the stored history reads back through `bars`.
    let out = squeezeflow(&[
        "bars",
        "--data",
        data.to_str().unwrap(),
        "--market",
        "BITMEX:XBTUSD",
        "--from",
        "2021-07-22T22:36:00Z",
        "--to",
        "2021-07-22T22:37:00Z",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).lines().count(),
        2,
        "{}",
        text(&out.stdout)
    );
}
