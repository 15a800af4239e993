//! `squeezeflow replay` of a tape with open-interest frames, then
//! `squeezeflow bars --series oi` printing the stored series. The OKX `open-interest` frame
//! is feeds' fixture (written from OKX's docs); the recorded one in
//! `../shared/reference/vectors` feeds an optional conformance test.

mod common;

use common::{squeezeflow, text};
use std::path::Path;

/// Line `n` (1-based) of `file`.
fn line_of(file: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    text.lines().nth(n - 1).unwrap().to_string()
}

/// An OKX `open-interest` frame: its text, its `oiCcy` literal and its `ts` (ms) literal.
struct OkxOi<'a> {
    frame: String,
    oi: &'a str,
    ts_ms: i64,
}

/// The OKX `open-interest` frame, then the same reading moved 1.2 s and 61 s later with other
/// values.
fn write_tape(path: &Path, okx: &OkxOi) {
    let ts = okx.ts_ms.to_string();
    let frames = [
        okx.frame.clone(),
        okx.frame
            .replace(okx.oi, "22170.5")
            .replace(&ts, &(okx.ts_ms + 1_200).to_string()),
        okx.frame
            .replace(okx.oi, "22180")
            .replace(&ts, &(okx.ts_ms + 61_000).to_string()),
    ];
    let mut out = String::new();
    for (i, f) in frames.iter().enumerate() {
        let rec = serde_json::json!({"ts_ns": i, "venue": "okx-swap", "conn": 1, "frame": f});
        out.push_str(&rec.to_string());
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn replayed_open_interest_prints_as_csv_and_json() {
    let okx = OkxOi {
        frame: line_of(&common::fixture("okx.jsonl"), 10),
        oi: "26044.1229000000417",
        ts_ms: 1_796_630_805_000,
    };
    // The f64 of the exact literal, printed shortest.
    replay_and_print(
        &okx,
        "26044.122900000042",
        ["2026-12-07T08:00:00Z", "2026-12-07T09:00:00Z"],
    );
}

/// Optional: the recorded OKX frame of `../shared/reference/vectors`, when present.
#[test]
fn shared_vectors_conformance() {
    let Some(dir) = common::shared_vectors() else {
        return;
    };
    let okx = OkxOi {
        frame: line_of(&dir.join("okx.jsonl"), 10),
        oi: "22161.1301000000309",
        ts_ms: 1_743_041_250_440,
    };
    replay_and_print(
        &okx,
        "22161.13010000003",
        ["2025-03-27T02:00:00Z", "2025-03-27T03:00:00Z"],
    );
}

/// Replays the tape of [`write_tape`] and checks `bars --series oi` in CSV, in one-minute JSON
/// buckets, and its errors; `first_oi` is how the first reading prints.
fn replay_and_print(okx: &OkxOi, first_oi: &str, [from, to]: [&str; 2]) {
    assert!(okx.frame.contains("\"open-interest\""), "{}", okx.frame);
    assert!(okx.frame.contains(okx.oi) && okx.frame.contains(&okx.ts_ms.to_string()));

    let tmp = tempfile::tempdir().unwrap();
    let tape = tmp.path().join("oi.jsonl");
    write_tape(&tape, okx);
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let out = squeezeflow(&["replay", tape.to_str().unwrap(), "--data", d]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("3 open-interest readings"), "{err}");

    let range = ["--from", from, "--to", to];
    let mut args = vec![
        "bars",
        "--data",
        d,
        "--market",
        "OKEX:BTC-USDT-SWAP",
        "--series",
        "oi",
    ];
    args.extend(range);
    let out = squeezeflow(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    let ts = okx.ts_ms;
    let second = |ms: i64| ms - ms.rem_euclid(1000);
    let minute = |ms: i64| ms - ms.rem_euclid(60_000);
    assert_eq!(
        lines,
        vec![
            "time,oi,price,ts_us".to_owned(),
            format!("{},{first_oi},0,{}", second(ts), ts * 1000),
            format!("{},22170.5,0,{}", second(ts + 1_200), (ts + 1_200) * 1000),
            format!("{},22180,0,{}", second(ts + 61_000), (ts + 61_000) * 1000),
        ],
        "{csv}"
    );

    // One-minute buckets keep the last reading; JSON lines.
    args.extend(["--tf", "1m", "--format", "json"]);
    let out = squeezeflow(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["time"], minute(ts));
    assert_eq!(rows[0]["oi"], 22170.5);
    assert_eq!(rows[1]["time"], minute(ts + 61_000));
    assert_eq!(rows[1]["oi"], 22180.0);
    assert_eq!(rows[1]["market"], "OKEX:BTC-USDT-SWAP");

    // No bars were made from open interest, and unknown markets are named.
    let out = squeezeflow(&["bars", "--data", d, "--market", "OKEX:BTC-USDT-SWAP"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no bars stored"),
        "{}",
        text(&out.stderr)
    );
    let out = squeezeflow(&[
        "bars",
        "--data",
        d,
        "--market",
        "BYBIT:BTCUSDT",
        "--series",
        "oi",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("no open interest for market \"BYBIT:BTCUSDT\"")
            && err.contains("OKEX:BTC-USDT-SWAP"),
        "{err}"
    );
}
