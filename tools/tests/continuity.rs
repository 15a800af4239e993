//! Connections that lose nothing (issue 4): the engine against the simulator with faults,
//! compared with bars computed independently from what the simulator generated.

use engine::bar::Bar;
use engine::config::{Config, FeedConfig};
use engine::pipeline::{Plan, Running};
use engine::runtime::StopFlag;
use engine::store::{flags, Store};
use feeds::ws::WsConfig;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};
use tools::sim::{SimConfig, Simulator};

type Bars = BTreeMap<(String, i64), Bar>;

/// Fold one trade (price, qty, taker sells?, ms) into reference bars, with no engine code.
fn fold_trade(bars: &mut Bars, market: String, p: f64, q: f64, sell: bool, t_ms: i64) {
    let bar = bars
        .entry((market, t_ms.div_euclid(1000)))
        .or_insert(Bar::EMPTY);
    let us = (t_ms.rem_euclid(1000) * 1000) as u32;
    if !bar.has_trades() {
        (bar.open, bar.high, bar.low, bar.close) = (p, p, p, p);
        (bar.open_us, bar.close_us) = (us, us);
    } else {
        bar.high = bar.high.max(p);
        bar.low = bar.low.min(p);
        if us < bar.open_us {
            (bar.open, bar.open_us) = (p, us);
        }
        if us >= bar.close_us {
            (bar.close, bar.close_us) = (p, us);
        }
    }
    if sell {
        bar.vsell += p * q;
        bar.csell += 1;
    } else {
        bar.vbuy += p * q;
        bar.cbuy += 1;
    }
}

/// Reference bars from the simulator's JSONL tape of sent frames, each trade once (a trade
/// sent on two connections during a rotation overlap is one trade), liquidations once.
fn bars_from_tape(tape: &str) -> (Bars, u64) {
    let mut bars = Bars::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut trades = 0;
    for line in tape.lines() {
        let rec: Value = serde_json::from_str(line).unwrap();
        let exchange = match rec["venue"].as_str().unwrap() {
            "binance" => "BINANCE",
            "binance-usdm" => "BINANCE_FUTURES",
            v => panic!("unexpected venue {v}"),
        };
        let frame: Value = serde_json::from_str(rec["frame"].as_str().unwrap()).unwrap();
        let data = frame.get("data").cloned().unwrap_or(frame);
        let num = |v: &Value| v.as_str().unwrap().parse::<f64>().unwrap();
        match data.get("e").and_then(Value::as_str) {
            Some("trade") => {
                let market = format!("{exchange}:{}", data["s"].as_str().unwrap().to_lowercase());
                if !seen.insert((market.clone(), data["t"].to_string())) {
                    continue;
                }
                if let Some(x) = data.get("X").and_then(Value::as_str) {
                    if x != "MARKET" && x != "RPI" {
                        continue;
                    }
                }
                let (p, q) = (num(&data["p"]), num(&data["q"]));
                if q == 0.0 {
                    continue;
                }
                trades += 1;
                let sell = data["m"].as_bool().unwrap();
                fold_trade(&mut bars, market, p, q, sell, data["T"].as_i64().unwrap());
            }
            Some("forceOrder") => {
                if !seen.insert(("liq".into(), data.to_string())) {
                    continue;
                }
                let o = &data["o"];
                let (p, q) = (num(&o["ap"]), num(&o["z"]));
                let t_ms = o["T"].as_i64().unwrap();
                let market = format!("{exchange}:{}", o["s"].as_str().unwrap().to_lowercase());
                let bar = bars
                    .entry((market, t_ms.div_euclid(1000)))
                    .or_insert(Bar::EMPTY);
                match o["S"].as_str().unwrap() {
                    "BUY" => bar.lbuy += p * q,
                    _ => bar.lsell += p * q,
                }
            }
            _ => {}
        }
    }
    (bars, trades)
}

fn same(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Every stored bar equals the reference bar of its second, and every reference bar is
/// stored. Returns (bars compared, stored trades).
fn assert_store_equals(data: &Path, expected: &Bars) -> (usize, u64) {
    let store = Store::new(data);
    let mut stored = 0;
    let mut trades = 0u64;
    let mut got_keys = HashSet::new();
    for m in store.markets().unwrap() {
        for sb in store.range(&m, 0, i64::MAX).unwrap() {
            stored += 1;
            let key = (m.clone(), sb.time_ms / 1000);
            got_keys.insert(key.clone());
            let want = expected
                .get(&key)
                .unwrap_or_else(|| panic!("unexpected bar {key:?}: {:?}", sb.bar));
            let got = sb.bar;
            assert!(sb.flags & flags::CLOSED != 0, "bar {key:?} not closed");
            assert!(sb.flags & flags::GAP == 0, "bar {key:?} flagged GAP");
            assert_eq!(
                (got.cbuy, got.csell),
                (want.cbuy, want.csell),
                "{key:?} trade counts"
            );
            trades += u64::from(got.cbuy + got.csell);
            for (name, g, w) in [
                ("open", got.open, want.open),
                ("high", got.high, want.high),
                ("low", got.low, want.low),
                ("close", got.close, want.close),
                ("vbuy", got.vbuy, want.vbuy),
                ("vsell", got.vsell, want.vsell),
                ("lbuy", got.lbuy, want.lbuy),
                ("lsell", got.lsell, want.lsell),
            ] {
                assert!(same(g, w), "{key:?} {name}: stored {g}, expected {w}");
            }
        }
    }
    for key in expected.keys() {
        assert!(got_keys.contains(key), "bar {key:?} missing from the store");
    }
    (stored, trades)
}

fn binance_feeds(sim: &Simulator, rotate_after_s: Option<u64>) -> Vec<FeedConfig> {
    let pairs = vec!["btcusdt".to_string(), "ethusdt".to_string()];
    vec![
        FeedConfig {
            venue: "binance".into(),
            url: Some(sim.spot_url()),
            pairs: pairs.clone(),
            ping_ms: None,
            rotate_after_s,
        },
        FeedConfig {
            venue: "binance-usdm".into(),
            url: Some(sim.futures_url()),
            pairs,
            ping_ms: None,
            rotate_after_s,
        },
    ]
}

/// Rotation under load: every connection is replaced several times (the simulator closes
/// connections after 8 s, the engine rotates them after 3 s), and the stored bars equal bars
/// from every trade sent, each once: no loss, no duplicate.
#[test]
fn rotation_under_load_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let tape = dir.path().join("sent.jsonl");
    let total_trades = 10_000;
    let sim = Simulator::start(SimConfig {
        symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
        trades_per_sec: 100.0,
        burst_prob: 0.2,
        non_market_prob: 0.01,
        seed: 11,
        spot_ping: Duration::from_millis(500),
        futures_ping: Duration::from_millis(500),
        tape: Some(tape.clone()),
        max_trades: Some(total_trades),
        max_lifetime: Some(Duration::from_secs(8)),
        ..SimConfig::default()
    })
    .unwrap();
    let data = dir.path().join("data");
    let mut cfg = Config {
        data_dir: data.clone(),
        feeds: binance_feeds(&sim, Some(3)),
        ..Config::default()
    };
    cfg.continuity.rotation_overlap_ms = 500;
    cfg.backfill.enabled = false;
    cfg.monitor.enabled = false;
    let plan = Plan::from_config(&cfg).unwrap();
    let mut running = Running::start(plan, WsConfig::default(), StopFlag::new()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut last_sent, mut settled_since) = (u64::MAX, Instant::now());
    loop {
        running.io_step(&mut |_, _| {});
        let s = sim.stats();
        let generated = s.spot.trades_generated + s.futures.trades_generated;
        let sent = s.spot.frames_sent + s.futures.frames_sent;
        if sent != last_sent {
            (last_sent, settled_since) = (sent, Instant::now());
        }
        if generated >= total_trades && settled_since.elapsed() >= Duration::from_millis(1500) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out: generated {generated}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let feed_stats = running.feed_stats.clone();
    running.shutdown(&mut |_, _| {});
    sim.stop();
    let sum =
        |f: &dyn Fn(&engine::stats::FeedStats) -> u64| feed_stats.iter().map(|s| f(s)).sum::<u64>();
    let rotations = sum(&|s| s.rotations.get());
    assert!(rotations >= 4, "only {rotations} rotations");
    assert_eq!(sum(&|s| s.disconnects.get()), 0, "a connection was lost");
    assert_eq!(sum(&|s| s.gaps_opened.get()), 0, "gaps during rotation");
    assert!(
        sum(&|s| s.duplicates.get()) > 0,
        "the overlap must have delivered trades twice"
    );
    let (expected, sent_trades) = bars_from_tape(&std::fs::read_to_string(&tape).unwrap());
    let (bars, stored_trades) = assert_store_equals(&data, &expected);
    assert!(bars >= 20, "too few bars to mean anything: {bars}");
    assert_eq!(
        stored_trades, sent_trades,
        "every trade stored exactly once"
    );
}
