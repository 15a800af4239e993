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

/// Fold one trade (price, qty, taker sells?, ms, fills) into reference bars, with no engine
/// code. An aggTrade counts its `l − f + 1` fills.
fn fold_trade(bars: &mut Bars, market: String, p: f64, q: f64, sell: bool, t_ms: i64, n: u32) {
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
        bar.csell += n;
    } else {
        bar.vbuy += p * q;
        bar.cbuy += n;
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
                fold_trade(
                    &mut bars,
                    market,
                    p,
                    q,
                    sell,
                    data["T"].as_i64().unwrap(),
                    1,
                );
            }
            // USDⓈ-M reads aggregates: one per `a`, standing for fills `f..=l`.
            Some("aggTrade") => {
                let market = format!("{exchange}:{}", data["s"].as_str().unwrap().to_lowercase());
                if !seen.insert((market.clone(), format!("a{}", data["a"]))) {
                    continue;
                }
                let (p, q) = (num(&data["p"]), num(&data["q"]));
                if q == 0.0 {
                    continue;
                }
                let fills = data["l"].as_u64().unwrap() - data["f"].as_u64().unwrap() + 1;
                trades += fills;
                let sell = data["m"].as_bool().unwrap();
                let t_ms = data["T"].as_i64().unwrap();
                fold_trade(&mut bars, market, p, q, sell, t_ms, fills as u32);
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

/// A venue-announced shutdown (Binance `serverShutdown`, sent 4 s before the simulator's 7 s
/// connection lifetime) starts a rotation at once: the connections are replaced before the venue
/// closes them, nothing is lost, nothing is counted twice, and no connection is lost.
#[test]
fn a_shutdown_notice_rotates_before_the_venue_closes() {
    let dir = tempfile::tempdir().unwrap();
    let tape = dir.path().join("sent.jsonl");
    let total_trades = 4_000;
    let sim = Simulator::start(SimConfig {
        symbols: vec!["BTCUSDT".into()],
        trades_per_sec: 100.0,
        burst_prob: 0.1,
        seed: 12,
        spot_ping: Duration::from_millis(500),
        futures_ping: Duration::from_millis(500),
        tape: Some(tape.clone()),
        max_trades: Some(total_trades),
        max_lifetime: Some(Duration::from_secs(7)),
        shutdown_notice: Some(Duration::from_secs(4)),
        ..SimConfig::default()
    })
    .unwrap();
    let data = dir.path().join("data");
    let mut cfg = Config {
        data_dir: data.clone(),
        feeds: binance_feeds(&sim, Some(0)),
        ..Config::default()
    };
    cfg.feeds.iter_mut().for_each(|f| f.pairs.truncate(1));
    cfg.continuity.rotation_overlap_ms = 500;
    cfg.backfill.enabled = false;
    cfg.monitor.enabled = false;
    let plan = Plan::from_config(&cfg).unwrap();
    let mut running = Running::start(plan, WsConfig::default(), StopFlag::new()).unwrap();
    let stats = running.feed_stats.clone();
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
    running.shutdown(&mut |_, _| {});
    let fs = sim.faults().stats();
    sim.stop();
    assert!(fs.shutdown_notices >= 2, "{fs:?}");
    assert!(total(&stats, &|s| s.shutdown_notices.get()) >= 2);
    assert!(
        total(&stats, &|s| s.rotations.get()) >= 2,
        "a rotation per notice"
    );
    assert_eq!(
        total(&stats, &|s| s.disconnects.get()),
        0,
        "the venue closed a connection first"
    );
    assert_eq!(total(&stats, &|s| s.gaps_opened.get()), 0);
    let (expected, sent_trades) = bars_from_tape(&std::fs::read_to_string(&tape).unwrap());
    let (_, stored) = assert_store_equals(&data, &expected);
    assert_eq!(stored, sent_trades);
}

/// Reference bars from the simulator's trade history: every trade generated, sent or not.
fn bars_from_history(h: &tools::sim::TradeHistory, symbols: &[&str]) -> (Bars, u64) {
    let mut bars = Bars::new();
    let mut n = 0;
    for (venue, exchange) in [
        (feeds::Venue::BinanceSpot, "BINANCE"),
        (feeds::Venue::BinanceUsdm, "BINANCE_FUTURES"),
    ] {
        for s in symbols {
            for t in h.trades(venue, s) {
                n += 1;
                let market = format!("{exchange}:{}", s.to_lowercase());
                fold_trade(&mut bars, market, t.price, t.qty, !t.buy, t.ts_us / 1000, 1);
            }
        }
    }
    (bars, n)
}

/// The liquidations of the tape (each once) added to `bars` (the history holds trades only;
/// liquidations are not backfilled, so fault tests keep liquidations off their faults).
fn add_tape_liquidations(bars: &mut Bars, tape: &str) {
    let (from_tape, _) = bars_from_tape(tape);
    for (key, b) in from_tape {
        if b.lbuy != 0.0 || b.lsell != 0.0 {
            let e = bars.entry(key).or_insert(Bar::EMPTY);
            e.lbuy = b.lbuy;
            e.lsell = b.lsell;
        }
    }
}

/// The gap journal's records (every day file).
fn journal(data: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(data.join("gaps")) else {
        return out;
    };
    for e in dir.flatten() {
        for line in std::fs::read_to_string(e.path()).unwrap().lines() {
            out.push(serde_json::from_str(line).unwrap());
        }
    }
    out
}

/// A Binance simulator (spot + USDⓈ-M, BTCUSDT and ETHUSDT) with its REST responder.
struct Venue {
    dir: tempfile::TempDir,
    sim: Simulator,
    rest: tools::sim::RestServer,
    total: u64,
}

fn venue(seed: u64, total: u64, rate: f64, burst_prob: f64) -> Venue {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(SimConfig {
        symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
        trades_per_sec: rate,
        burst_prob,
        non_market_prob: 0.0,
        seed,
        spot_ping: Duration::from_millis(500),
        futures_ping: Duration::from_millis(500),
        tape: Some(dir.path().join("sent.jsonl")),
        max_trades: Some(total),
        ..SimConfig::default()
    })
    .unwrap();
    let rest = tools::sim::RestServer::start_with(tools::sim::RestConfig {
        histories: vec![sim.history()],
        ..tools::sim::RestConfig::default()
    })
    .unwrap();
    Venue {
        dir,
        sim,
        rest,
        total,
    }
}

fn engine_config(v: &Venue, backfill: bool) -> Config {
    let mut cfg = Config {
        data_dir: v.dir.path().join("data"),
        feeds: binance_feeds(&v.sim, None),
        ..Config::default()
    };
    cfg.backfill.enabled = backfill;
    cfg.backfill.base_url = v.rest.base_url();
    cfg.monitor.enabled = false;
    cfg.continuity.hole_grace_ms = 300;
    cfg
}

type FeedStatsList = Vec<std::sync::Arc<engine::stats::FeedStats>>;

fn total(stats: &FeedStatsList, f: &dyn Fn(&engine::stats::FeedStats) -> u64) -> u64 {
    stats.iter().map(|s| f(s)).sum()
}

/// Run the engine against `v` until the simulator has generated everything, the engine has
/// settled and `done` says so; `act` runs once, after `act_after` frames.
fn run_engine(
    v: &Venue,
    cfg: &Config,
    act_after: u64,
    act: &mut dyn FnMut(&Simulator),
    done: &dyn Fn(&FeedStatsList) -> bool,
) -> FeedStatsList {
    let plan = Plan::from_config(cfg).unwrap();
    let mut running = Running::start(plan, WsConfig::default(), StopFlag::new()).unwrap();
    let stats = running.feed_stats.clone();
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut acted, mut last_frames, mut settled_since) = (false, u64::MAX, Instant::now());
    loop {
        running.io_step(&mut |_, _| {});
        let frames = total(&stats, &|s| s.frames.get());
        if !acted && frames >= act_after {
            acted = true;
            act(&v.sim);
        }
        let s = v.sim.stats();
        let generated = s.spot.trades_generated + s.futures.trades_generated;
        if frames != last_frames {
            (last_frames, settled_since) = (frames, Instant::now());
        }
        if acted
            && generated >= v.total
            && settled_since.elapsed() >= Duration::from_millis(1500)
            && done(&stats)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out: generated {generated}, frames {frames}, gaps {} opened {} recovered {} unrecovered",
            total(&stats, &|s| s.gaps_opened.get()),
            total(&stats, &|s| s.gaps_recovered.get()),
            total(&stats, &|s| s.gaps_unrecovered.get()),
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    running.shutdown(&mut |_, _| {});
    stats
}

/// Trade ids dropped by the venue, backfill available: the gaps are found with the exact
/// number of missing trades, recovered over REST, closed, and the bars equal bars from every
/// trade generated.
#[test]
fn dropped_ids_are_backfilled_and_the_bars_are_whole() {
    let v = venue(21, 6_000, 100.0, 0.1);
    let cfg = engine_config(&v, true);
    let stats = run_engine(
        &v,
        &cfg,
        800,
        &mut |sim| {
            let f = sim.faults();
            assert!(f.skip_trades_on(feeds::Venue::BinanceSpot, "BTCUSDT", 7));
            assert!(f.skip_trades_on(feeds::Venue::BinanceUsdm, "ETHUSDT", 5));
        },
        &|s| total(s, &|s| s.gaps_recovered.get()) >= 2,
    );
    let f = v.sim.faults();
    assert_eq!(f.skipped(feeds::Venue::BinanceSpot, "BTCUSDT"), 7);
    assert_eq!(f.skipped(feeds::Venue::BinanceUsdm, "ETHUSDT"), 5);
    let history = v.sim.history();
    let _sim_stats = v.sim.stats();
    v.sim.stop();
    assert_eq!(total(&stats, &|s| s.gaps_opened.get()), 2);
    assert_eq!(total(&stats, &|s| s.gaps_recovered.get()), 2);
    assert_eq!(total(&stats, &|s| s.gaps_unrecovered.get()), 0);
    assert_eq!(total(&stats, &|s| s.trades_missing.get()), 12, "exact");
    assert_eq!(total(&stats, &|s| s.trades_recovered.get()), 12);
    let j = journal(&cfg.data_dir);
    let opened: Vec<&Value> = j.iter().filter(|r| r["event"] == "opened").collect();
    let closed: Vec<&Value> = j.iter().filter(|r| r["event"] == "closed").collect();
    assert_eq!(opened.len(), 2, "{j:?}");
    let mut missing: Vec<u64> = opened
        .iter()
        .map(|r| r["missing"].as_u64().unwrap())
        .collect();
    missing.sort();
    assert_eq!(missing, [5, 7]);
    assert!(opened.iter().all(|r| r["kind"] == "ids"));
    assert_eq!(closed.len(), 2);
    assert!(closed
        .iter()
        .all(|r| r["outcome"] == "recovered" && r["remaining"] == 0));
    let tape = std::fs::read_to_string(v.dir.path().join("sent.jsonl")).unwrap();
    let (mut expected, generated) = bars_from_history(&history, &["BTCUSDT", "ETHUSDT"]);
    add_tape_liquidations(&mut expected, &tape);
    let (bars, stored) = assert_store_equals(&cfg.data_dir, &expected);
    assert!(bars > 20);
    assert_eq!(stored, generated, "every generated trade stored once");
}

/// The same faults without backfill: the exact number of missing trades is reported, the gaps
/// close unrecovered, and the bars of their seconds carry the GAP flag (every other bar is
/// whole).
#[test]
fn without_backfill_the_missing_trades_are_counted_and_the_bars_flagged() {
    let v = venue(22, 5_000, 100.0, 0.1);
    let cfg = engine_config(&v, false);
    let stats = run_engine(
        &v,
        &cfg,
        800,
        &mut |sim| {
            let f = sim.faults();
            assert!(f.skip_trades_on(feeds::Venue::BinanceSpot, "ETHUSDT", 9));
        },
        &|s| total(s, &|s| s.gaps_unrecovered.get()) >= 1,
    );
    v.sim.stop();
    assert_eq!(total(&stats, &|s| s.gaps_opened.get()), 1);
    assert_eq!(total(&stats, &|s| s.gaps_unrecovered.get()), 1);
    assert_eq!(total(&stats, &|s| s.trades_missing.get()), 9, "exact");
    let j = journal(&cfg.data_dir);
    let opened = j.iter().find(|r| r["event"] == "opened").expect("opened");
    let closed = j.iter().find(|r| r["event"] == "closed").expect("closed");
    assert_eq!(opened["market"], "BINANCE:ethusdt");
    assert_eq!(opened["missing"], 9);
    assert_eq!(closed["outcome"], "unrecovered");
    assert_eq!(closed["remaining"], 9);
    let (from_s, to_s) = (
        opened["from_us"].as_i64().unwrap().div_euclid(1_000_000),
        opened["to_us"].as_i64().unwrap().div_euclid(1_000_000),
    );
    // Bars equal bars from the trades that were sent; exactly the gap's seconds are flagged.
    let tape = std::fs::read_to_string(v.dir.path().join("sent.jsonl")).unwrap();
    let (expected, _) = bars_from_tape(&tape);
    let store = Store::new(&cfg.data_dir);
    let mut flagged = 0;
    for m in store.markets().unwrap() {
        for sb in store.range(&m, 0, i64::MAX).unwrap() {
            let sec = sb.time_ms / 1000;
            let key = (m.clone(), sec);
            let want = expected.get(&key).expect("bar from sent trades");
            assert_eq!(
                (sb.bar.cbuy, sb.bar.csell),
                (want.cbuy, want.csell),
                "{key:?}"
            );
            let in_gap = m == "BINANCE:ethusdt" && (from_s..=to_s).contains(&sec);
            assert_eq!(sb.flags & flags::GAP != 0, in_gap, "{key:?} GAP flag");
            flagged += u32::from(in_gap);
        }
    }
    assert!(flagged >= 1, "the gap's bars are flagged");
}

/// A stall (the venue keeps the socket open but sends nothing) and drops with and without a
/// close frame: each is followed by a reconnect within the backoff bound and a resubscribe;
/// what was missed meanwhile is backfilled; no market is left stuck.
#[test]
fn stalls_and_drops_reconnect_resubscribe_and_recover() {
    let v = venue(23, 9_000, 80.0, 0.0);
    let mut cfg = engine_config(&v, true);
    cfg.continuity.stale_floor_s = 1.0;
    cfg.continuity.stale_factor = 5;
    let plan = Plan::from_config(&cfg).unwrap();
    let mut running = Running::start(plan, WsConfig::default(), StopFlag::new()).unwrap();
    let stats = running.feed_stats.clone();
    let f = v.sim.faults();
    let both_open = || total(&stats, &|s| s.open_connections.get()) == 2;
    step(&mut running, Duration::from_secs(2));
    // A stall: the socket stays open, nothing arrives; the watchdog drops it.
    f.stall(Duration::from_secs(3));
    wait_for(&mut running, "the watchdog", &|| {
        total(&stats, &|s| s.stale.get()) >= 1
    });
    step(&mut running, Duration::from_secs(3));
    wait_for(&mut running, "reconnects after the stall", &both_open);
    // An abrupt close (no close frame), then a clean one (close frame 1001).
    let connects = total(&stats, &|s| s.connects.get());
    f.drop_connections(false);
    wait_for(&mut running, "reconnects after the abrupt drop", &|| {
        total(&stats, &|s| s.connects.get()) >= connects + 2 && both_open()
    });
    let connects = total(&stats, &|s| s.connects.get());
    f.drop_connections(true);
    wait_for(&mut running, "reconnects after the clean drop", &|| {
        total(&stats, &|s| s.connects.get()) >= connects + 2 && both_open()
    });
    // The wait scheduled after the clean close: the first step of the backoff.
    let after_clean = total(&stats, &|s| s.last_reconnect_wait_ms.get());
    assert!(
        (187..=313).contains(&after_clean),
        "reconnect scheduled after {after_clean} ms"
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        step(&mut running, Duration::from_millis(200));
        let s = v.sim.stats();
        let generated = s.spot.trades_generated + s.futures.trades_generated;
        let open = total(&stats, &|s| s.gaps_opened.get());
        let closed = total(&stats, &|s| {
            s.gaps_recovered.get() + s.gaps_unrecovered.get()
        });
        if generated >= v.total && open == closed && open > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out: {generated} generated, {open} gaps, {closed} closed"
        );
    }
    step(&mut running, Duration::from_millis(1500));
    let last_wait = total(&stats, &|s| s.last_reconnect_wait_ms.get());
    running.shutdown(&mut |_, _| {});
    let history = v.sim.history();
    let sim_stats = v.sim.stats();
    v.sim.stop();
    let fs = f.stats();
    assert!(
        fs.dropped_abrupt >= 2 && fs.dropped_with_close >= 2,
        "{fs:?}"
    );
    // Stale + abrupt (2) + closed (2) connections lost, each reopened.
    assert!(total(&stats, &|s| s.disconnects.get()) >= 5);
    assert!(total(&stats, &|s| s.connects.get()) >= 7);
    // Binance subscribes by URL: every accepted connection is a resubscription.
    let s = sim_stats;
    assert!(s.spot.connections_accepted >= 4 && s.futures.connections_accepted >= 4);
    // The waits scheduled were within the first steps of the backoff (250 ms ± 25 % …).
    assert!(
        last_wait <= 2 * 1250,
        "scheduled reconnect waits {last_wait} ms"
    );
    assert_eq!(total(&stats, &|s| s.gaps_unrecovered.get()), 0);
    let tape = std::fs::read_to_string(v.dir.path().join("sent.jsonl")).unwrap();
    let (mut expected, generated) = bars_from_history(&history, &["BTCUSDT", "ETHUSDT"]);
    add_tape_liquidations(&mut expected, &tape);
    let (_, stored) = assert_store_equals(&cfg.data_dir, &expected);
    assert_eq!(stored, generated);
}

/// Malformed and oversized frames: counted, the oversized one closes its connection (1009)
/// which is reopened, what it missed is backfilled, and the engine keeps running with whole
/// bars. (No liquidations in this run: a liquidation missed while a connection is down has no
/// public REST history to come back from.)
#[test]
fn malformed_and_oversized_frames_are_counted_and_survived() {
    let v = venue(24, 6_000, 100.0, 0.0);
    let cfg = engine_config(&v, true);
    let plan = Plan::from_config(&cfg).unwrap();
    let mut running = Running::start(plan, WsConfig::default(), StopFlag::new()).unwrap();
    let stats = running.feed_stats.clone();
    let spot = v.sim.faults().venue(feeds::Venue::BinanceSpot).unwrap();
    step(&mut running, Duration::from_secs(2));
    spot.send_malformed(3);
    wait_for(&mut running, "three decode errors", &|| {
        total(&stats, &|s| s.decode_errors()) >= 3
    });
    let disconnects = total(&stats, &|s| s.disconnects.get());
    spot.send_oversized(1, 20 << 20);
    wait_for(
        &mut running,
        "the oversized message and a reconnect",
        &|| {
            total(&stats, &|s| s.oversized.get()) >= 1
                && total(&stats, &|s| s.disconnects.get()) > disconnects
                && total(&stats, &|s| s.open_connections.get()) == 2
        },
    );
    wait_for(&mut running, "every trade and every gap closed", &|| {
        let s = v.sim.stats();
        s.spot.trades_generated + s.futures.trades_generated >= v.total
            && total(&stats, &|s| s.gaps_opened.get())
                == total(&stats, &|s| {
                    s.gaps_recovered.get() + s.gaps_unrecovered.get()
                })
    });
    step(&mut running, Duration::from_millis(1500));
    running.shutdown(&mut |_, _| {});
    let fs = v.sim.faults().stats();
    let history = v.sim.history();
    v.sim.stop();
    assert_eq!((fs.malformed_sent, fs.oversized_sent), (3, 1), "{fs:?}");
    assert_eq!(
        total(&stats, &|s| s.decode_errors()),
        3,
        "each malformed frame counted"
    );
    assert_eq!(total(&stats, &|s| s.oversized.get()), 1);
    assert_eq!(total(&stats, &|s| s.gaps_unrecovered.get()), 0);
    let (expected, generated) = bars_from_history(&history, &["BTCUSDT", "ETHUSDT"]);
    let (_, stored) = assert_store_equals(&cfg.data_dir, &expected);
    assert_eq!(stored, generated);
}

/// Run IO steps for `d`.
fn step(running: &mut Running, d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        running.io_step(&mut |_, _| {});
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Run IO steps until `cond` holds, or fail naming `what` after a minute.
fn wait_for(running: &mut Running, what: &str, cond: &dyn Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        step(running, Duration::from_millis(50));
    }
}

/// Keeps a plain WebSocket subscription to `url` open and drained on its own thread, so the
/// simulator keeps generating while the engine is down (it generates only for subscribers).
fn keeper(
    url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let (mut ws, _) = tungstenite::connect(url.as_str()).expect("keeper connects");
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
        }
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            match ws.read() {
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        let _ = ws.close(None);
    })
}

/// `kill -9` of the engine mid-run, then a restart: no committed bar is torn or lost, the bar
/// left open by the kill is rebuilt, and the downtime is backfilled from the simulator's REST
/// endpoints, so the bars equal bars from every trade generated, before, during and after the
/// downtime.
#[test]
fn kill_9_and_restart_backfills_the_downtime() {
    let v = venue(25, 7_000, 60.0, 0.0);
    let data = v.dir.path().join("data");
    let config = v.dir.path().join("engine.toml");
    std::fs::write(
        &config,
        format!(
            r#"data_dir = "{data}"
[monitor]
enabled = false
[strategy]
enabled = false
[backfill]
base_url = "{rest}"
[[feeds]]
venue = "binance"
url = "{spot}"
pairs = ["btcusdt", "ethusdt"]
[[feeds]]
venue = "binance-usdm"
url = "{fut}"
pairs = ["btcusdt", "ethusdt"]
"#,
            data = data.display(),
            rest = v.rest.base_url(),
            spot = v.sim.spot_url(),
            fut = v.sim.futures_url(),
        ),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_squeezeflow");
    let start = |log: &str| {
        std::process::Command::new(bin)
            .args(["run", "--config"])
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(v.dir.path().join(log)).unwrap())
            .spawn()
            .unwrap()
    };
    let store = Store::new(&data);
    let bars_of = |store: &Store| -> usize {
        store
            .markets()
            .unwrap_or_default()
            .iter()
            .map(|m| store.range(m, 0, i64::MAX).map(|r| r.len()).unwrap_or(0))
            .sum()
    };
    let mut first = start("run1.log");
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.markets().map(|m| m.len()).unwrap_or(0) < 4 || bars_of(&store) < 12 {
        assert!(Instant::now() < deadline, "the first run stored no bars");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Keep the markets generating while the engine is down.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let keepers = [
        keeper(
            format!(
                "{}/stream?streams=btcusdt@trade/ethusdt@trade",
                v.sim.spot_url()
            ),
            stop.clone(),
        ),
        keeper(
            format!(
                "{}/market/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade",
                v.sim.futures_url()
            ),
            stop.clone(),
        ),
    ];
    std::thread::sleep(Duration::from_millis(1500));
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    std::thread::sleep(Duration::from_secs(3)); // downtime: trades go on
    let mut second = start("run2.log");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = v.sim.stats();
        let generated = s.spot.trades_generated + s.futures.trades_generated;
        let j = journal(&data);
        let downtime_closed = j
            .iter()
            .filter(|r| r["kind"] == "downtime" && r["event"] == "closed")
            .count();
        if generated >= v.total && downtime_closed >= 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out: generated {generated}, journal {j:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(2000)); // the last bars close
    let status = std::process::Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(second.wait().unwrap().success(), "clean stop after SIGTERM");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for k in keepers {
        k.join().unwrap();
    }
    let history = v.sim.history();
    v.sim.stop();
    let log2 = std::fs::read_to_string(v.dir.path().join("run2.log")).unwrap();
    assert!(log2.contains("restart: 4 market(s) resume"), "{log2}");
    let j = journal(&data);
    let opened: Vec<&Value> = j
        .iter()
        .filter(|r| r["event"] == "opened" && r["kind"] == "downtime")
        .collect();
    assert_eq!(opened.len(), 4, "{j:?}");
    assert!(
        j.iter()
            .filter(|r| r["event"] == "closed")
            .all(|r| r["outcome"] == "recovered"),
        "{j:?}"
    );
    // Every downtime window spans the kill (over 3 s).
    for r in &opened {
        let span = r["to_us"].as_i64().unwrap() - r["from_us"].as_i64().unwrap();
        assert!(span >= 3_000_000, "{r}");
    }
    let (expected, generated) = bars_from_history(&history, &["BTCUSDT", "ETHUSDT"]);
    let (_, stored) = assert_store_equals(&data, &expected);
    assert_eq!(
        stored, generated,
        "every trade stored once, across the kill"
    );
}
