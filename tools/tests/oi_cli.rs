//! `squeezeflow replay` of a tape with open-interest frames, then
//! `squeezeflow bars --series oi` printing the stored series.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn squeezeflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_squeezeflow"))
        .args(args)
        .env_remove("SQUEEZEFLOW_LOG_LEVEL")
        .env_remove("SQUEEZEFLOW_DATA_DIR")
        .output()
        .expect("run squeezeflow")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn vector_line(file: &str, n: usize) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/vectors")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().nth(n - 1).unwrap().to_string()
}

/// The real OKX `open-interest` frame of the vectors, then the same reading moved 1.2 s and
/// 61 s later with other values.
fn write_tape(path: &Path) {
    let okx = vector_line("okx.jsonl", 10);
    let frames = [
        okx.clone(),
        okx.replace("22161.1301000000309", "22170.5")
            .replace("1743041250440", "1743041251640"),
        okx.replace("22161.1301000000309", "22180")
            .replace("1743041250440", "1743041311440"),
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
    let tmp = tempfile::tempdir().unwrap();
    let tape = tmp.path().join("oi.jsonl");
    write_tape(&tape);
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let out = squeezeflow(&["replay", tape.to_str().unwrap(), "--data", d]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("3 open-interest readings"), "{err}");

    let range = [
        "--from",
        "2025-03-27T02:00:00Z",
        "--to",
        "2025-03-27T03:00:00Z",
    ];
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
    assert_eq!(
        lines,
        vec![
            "time,oi,price,ts_us",
            "1743041250000,22161.13010000003,0,1743041250440000",
            "1743041251000,22170.5,0,1743041251640000",
            "1743041311000,22180,0,1743041311440000",
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
    assert_eq!(rows[0]["time"], 1_743_041_220_000i64);
    assert_eq!(rows[0]["oi"], 22170.5);
    assert_eq!(rows[1]["time"], 1_743_041_280_000i64);
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
