//! The strategy end to end through the real binary: the simulator's squeeze scenario (real
//! Binance frames in event time) replayed through decode → bars → strategy → journal.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn squeezeflow(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_squeezeflow"));
    cmd.args(args)
        .env_remove("SQUEEZEFLOW_LOG_LEVEL")
        .env_remove("SQUEEZEFLOW_DATA_DIR")
        .env_remove("SQUEEZEFLOW_MIN_DATA_POINTS")
        .env_remove("SQUEEZEFLOW_TIMEFRAME");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run squeezeflow")
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// 2026-09-21T14:13:00Z (the scenario rounds down to a minute).
const START: &str = "1790000000";

fn scenario(dir: &Path) -> std::path::PathBuf {
    let tape = dir.join("squeeze.jsonl");
    let out = squeezeflow(
        &[
            "sim",
            "--scenario",
            "squeeze",
            "--tape",
            tape.to_str().unwrap(),
            "--start",
            START,
        ],
        &[],
    );
    ok(&out);
    tape
}

fn journal(data: &Path) -> Vec<u8> {
    let dir = data.join("signals");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| std::fs::read(f).unwrap())
        .collect()
}

#[test]
fn squeeze_gives_long_then_close_and_replays_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let tape = scenario(tmp.path());
    let (d1, d2) = (tmp.path().join("d1"), tmp.path().join("d2"));
    for d in [&d1, &d2] {
        let out = squeezeflow(
            &[
                "replay",
                tape.to_str().unwrap(),
                "--data",
                d.to_str().unwrap(),
            ],
            &[],
        );
        ok(&out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("2 signals (0 rejected"), "{stderr}");
    }
    // Determinism: the same tape gives the same journal, byte for byte.
    let j1 = journal(&d1);
    assert_eq!(j1, journal(&d2));

    let signals: Vec<Value> = String::from_utf8(j1)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(signals.len(), 2, "{signals:#?}");
    let (long, close) = (&signals[0], &signals[1]);

    // The entry: fields FreqTrade reads (seed-compat.md), in range.
    assert_eq!(long["action"], "LONG");
    assert_eq!(long["symbol"], "BTCUSDT");
    assert_eq!(long["base_symbol"], "BTC");
    assert_eq!(long["strategy"], "SqueezeFlowStrategy");
    assert_eq!(long["ttl"], 600);
    let score = long["score"].as_f64().unwrap();
    assert!((6.0..=10.0).contains(&score), "{score}");
    assert!([0.5, 1.0, 1.5].contains(&long["position_size_factor"].as_f64().unwrap()));
    assert!([2, 3, 5].contains(&long["leverage"].as_i64().unwrap()));
    assert!(long["timestamp"].as_str().unwrap().ends_with("+00:00"));
    assert!(long["signal_id"].as_str().unwrap().len() == 36);
    let div = &long["phases"]["divergence"];
    assert_eq!(div["pattern"], "SPOT_UP_FUTURES_DOWN");
    assert_eq!(div["setup"], "LONG_SETUP");
    assert_eq!(div["has_divergence"], true);
    assert!(
        long.get("latency").is_none(),
        "replay journals carry no wall-clock latency"
    );
    // The squeeze starts at minute 60 of the script (15:13); the entry is inside the squeeze
    // or the reset, before the reversal at 15:33.
    let t_long = long["timestamp"].as_str().unwrap();
    assert!(
        ("2026-09-21T15:13"..="2026-09-21T15:33").contains(&t_long),
        "{t_long}"
    );

    // The exit: the flow reverses from 15:33.
    assert_eq!(close["action"], "CLOSE");
    assert_eq!(close["exit_type"], "DYNAMIC");
    assert_eq!(close["exit_reason"], "FLOW_REVERSAL");
    assert_eq!(close["score"], 10.0);
    assert_eq!(close["leverage"], 1);
    assert_eq!(close["confidence"], 1.0);
    let t_close = close["timestamp"].as_str().unwrap();
    assert!(
        ("2026-09-21T15:33"..="2026-09-21T15:43").contains(&t_close),
        "{t_close}"
    );
    let pos = &close["position"];
    assert_eq!(pos["side"], "LONG");
    assert!(pos["spot_flow"].as_f64().unwrap() < 0.0);
    assert!(pos["perp_flow"].as_f64().unwrap() > 0.0);
    assert_eq!(pos["entry_price"], long["entry_price"]);

    // The paper book is flat again.
    let book: Value =
        serde_json::from_str(&std::fs::read_to_string(d1.join("strategy/positions.json")).unwrap())
            .unwrap();
    assert_eq!(book["positions"], serde_json::json!({}));
}

#[test]
fn environment_variables_reach_the_strategy() {
    let tmp = tempfile::tempdir().unwrap();
    let tape = scenario(tmp.path());
    let data = tmp.path().join("d");
    // More bars than the 100-minute tape has: nothing may be evaluated past the gate.
    let out = squeezeflow(
        &[
            "replay",
            tape.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
        &[("SQUEEZEFLOW_MIN_DATA_POINTS", "200")],
    );
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("0 signals"), "{stderr}");
    assert!(!data.join("signals").exists());

    let out = squeezeflow(
        &[
            "replay",
            tape.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
        &[("SQUEEZEFLOW_TIMEFRAME", "7q")],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("strategy.timeframe"), "{stderr}");
}

/// Seconds of a journal timestamp of the scenario's day (`2026-09-21THH:MM:SS+00:00`).
fn secs_of(ts: &str) -> i64 {
    assert!(
        ts.starts_with("2026-09-21T") && ts.ends_with("+00:00"),
        "{ts}"
    );
    let hms: Vec<i64> = ts[11..19].split(':').map(|p| p.parse().unwrap()).collect();
    // 2026-09-21T00:00:00Z
    1_790_000_000 - (14 * 3600 + 13 * 60 + 20) + hms[0] * 3600 + hms[1] * 60 + hms[2]
}

#[test]
fn stored_bars_warm_the_window_and_give_the_replayed_signals() {
    use engine::market::MarketTable;
    use engine::pipeline::{frame_symbol, StrategyPlan};
    use engine::sink::PositionBook;
    use engine::store::Store;
    use engine::strategy::history::feed_stored_bars;
    use engine::strategy::signal::signal_json;
    use engine::strategy::StrategyConfig;
    use feeds::Venue;

    let tmp = tempfile::tempdir().unwrap();
    let tape = scenario(tmp.path());
    let data = tmp.path().join("d");
    ok(&squeezeflow(
        &[
            "replay",
            tape.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
        &[],
    ));
    let journal: Vec<String> = String::from_utf8(journal(&data))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(journal.len(), 2);
    let first: Value = serde_json::from_str(&journal[0]).unwrap();
    let t_long = secs_of(first["timestamp"].as_str().unwrap());

    // The engine's start-up path: windows rebuilt from the store up to a minute before the
    // entry, nothing evaluated; then the stored bars are evaluated from there on.
    let mut table = MarketTable::new(1);
    for v in [Venue::BinanceSpot, Venue::BinanceUsdm] {
        table.add(v, frame_symbol(v, "btcusdt").unwrap());
    }
    let plan = StrategyPlan::resolve(&StrategyConfig::default(), &table).unwrap();
    let mut strategies = plan.strategies(&table, 1, &PositionBook::new(tmp.path()));
    let resume = t_long - 60;
    plan.warm_up(&mut strategies, &table, &data, resume);
    let mut st = strategies.pop().unwrap();
    assert_eq!(st.counters().signals, 0, "the warm-up decides nothing");
    let markets: Vec<(u32, String)> = table.iter().map(|(i, m)| (i, m.id.clone())).collect();
    let mut got = Vec::new();
    let end = 1_790_000_000 + 100 * 60;
    let bars = feed_stored_bars(
        &mut st,
        &Store::new(&data),
        &markets,
        resume,
        end,
        &mut |s| got.push(s),
        &mut |_| {},
        &mut |_| {},
    )
    .unwrap();
    assert!(bars > 500, "{bars}");
    let lines: Vec<String> = got
        .iter()
        .map(|s| signal_json(s, &plan.symbols[s.symbol as usize], 600, None).to_string())
        .collect();
    // Same bars, same windows, same code: the same signals, byte for byte.
    assert_eq!(lines, journal);
}
