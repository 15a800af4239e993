//! `squeezeflow backtest` through the real binary: parity with the replayed signals, the printed
//! summary, artifacts, grids and clear errors.

use serde_json::Value;
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

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(out: &Output) -> String {
    assert!(!out.status.success(), "expected failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The squeeze scenario (2026-09-21 14:13–15:53 UTC) replayed into a fresh data dir.
fn replayed(dir: &Path) -> PathBuf {
    let tape = dir.join("squeeze.jsonl");
    ok(&squeezeflow(&[
        "sim",
        "--scenario",
        "squeeze",
        "--tape",
        tape.to_str().unwrap(),
        "--start",
        "1790000000",
    ]));
    let data = dir.join("d");
    ok(&squeezeflow(&[
        "replay",
        tape.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]));
    data
}

#[test]
fn backtest_signals_equal_the_replayed_signals_and_the_summary_is_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = replayed(tmp.path());
    let journal = std::fs::read_to_string(data.join("signals/2026-09-21.jsonl")).unwrap();
    let out_dir = tmp.path().join("out");
    let stdout = ok(&squeezeflow(&[
        "backtest",
        "--from",
        "2026-09-21",
        "--to",
        "2026-09-21",
        "5000",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]));
    for field in [
        "Period:",
        "Initial balance:   $5,000.00",
        "Final balance:",
        "Total return:",
        "Trades:            1",
        "Win rate:          100.0%",
        "Average trade:",
        "Average duration:",
        "Trades per day:",
        "Max drawdown:",
        "Sharpe",
        "Last 1 trades:",
        "FLOW_REVERSAL",
    ] {
        assert!(stdout.contains(field), "missing {field:?} in:\n{stdout}");
    }
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("result.json")).unwrap())
            .unwrap();
    // Parity: the same strategy code over the stored bars gives the replay's signals, byte for byte.
    let signals: Vec<&str> = result["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let replayed: Vec<&str> = journal.lines().collect();
    assert_eq!(signals, replayed);
    assert_eq!(result["trades"].as_array().unwrap().len(), 1);
    let t = &result["trades"][0];
    assert_eq!(t["side"], "LONG");
    assert_eq!(t["exit_reason"], "FLOW_REVERSAL");
    assert!(t["pnl"].as_f64().unwrap() > 0.0);
    assert_eq!(result["metrics"]["initial_balance"], 5000.0);
    for f in [
        "equity.png",
        "price.png",
        "cvd.png",
        "trades.png",
        "report.html",
        "trades.csv",
    ] {
        let len = std::fs::metadata(out_dir.join(f))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 200, "{f}: {len} bytes");
    }
    let csv = std::fs::read_to_string(out_dir.join("trades.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "header + one trade:\n{csv}");
    assert!(result["equity"].as_array().unwrap().len() > 90);
}

#[test]
fn grid_ranks_every_combination() {
    let tmp = tempfile::tempdir().unwrap();
    let data = replayed(tmp.path());
    let out_dir = tmp.path().join("grid");
    let stdout = ok(&squeezeflow(&[
        "backtest",
        "--from",
        "2026-09-21",
        "--to",
        "2026-09-21",
        "--data",
        data.to_str().unwrap(),
        "--grid",
        "min_entry_score=4,6,8",
        "--grid",
        "timeframe=1m,5m",
        "--out",
        out_dir.to_str().unwrap(),
    ]));
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("min_entry_score="))
        .collect();
    assert_eq!(rows.len(), 6, "{stdout}");
    let csv = std::fs::read_to_string(out_dir.join("grid.csv")).unwrap();
    let returns: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    assert_eq!(returns.len(), 6);
    assert!(
        returns.windows(2).all(|w| w[0] >= w[1]),
        "ranked by return: {returns:?}"
    );
    assert!(
        out_dir.join("result.json").exists(),
        "the best run's artifacts"
    );
}

#[test]
fn errors_say_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let data = replayed(tmp.path());
    let d = data.to_str().unwrap();
    let e = fails(&squeezeflow(&[
        "backtest",
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-07",
        "--data",
        d,
    ]));
    assert!(
        e.contains("no stored bars between 2026-10-01 and 2026-10-07")
            && e.contains("from 2026-09-21 to 2026-09-21"),
        "{e}"
    );
    let e = fails(&squeezeflow(&[
        "backtest",
        "last_week",
        "--symbols",
        "DOGE",
        "--data",
        d,
    ]));
    assert!(
        e.contains("unknown symbol \"DOGE\"") && e.contains("BTC"),
        "{e}"
    );
    let e = fails(&squeezeflow(&[
        "backtest",
        "--from",
        "2026-02-30",
        "--to",
        "2026-03-01",
        "--data",
        d,
    ]));
    assert!(e.contains("--from \"2026-02-30\""), "{e}");
    let e = fails(&squeezeflow(&[
        "backtest",
        "--from",
        "2026-03-02",
        "--to",
        "2026-03-01",
        "--data",
        d,
    ]));
    assert!(e.contains("is before --from"), "{e}");
    let e = fails(&squeezeflow(&["backtest", "last_fortnight", "--data", d]));
    assert!(e.contains("unknown period \"last_fortnight\""), "{e}");
    let e = fails(&squeezeflow(&["backtest", "--data", d]));
    assert!(e.contains("missing PERIOD"), "{e}");
    let e = fails(&squeezeflow(&[
        "backtest",
        "yesterday",
        "--grid",
        "nonsense=1",
        "--data",
        d,
    ]));
    assert!(e.contains("grid key \"nonsense\""), "{e}");
    let empty = tmp.path().join("empty");
    let e = fails(&squeezeflow(&[
        "backtest",
        "yesterday",
        "--data",
        empty.to_str().unwrap(),
    ]));
    assert!(e.contains("no bars under"), "{e}");
}
