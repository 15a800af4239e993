//! End to end: simulator → real WebSocket connections → engine threads → bar files, compared
//! with bars computed directly (and independently) from the frames the simulator sent.

use engine::bar::Bar;
use engine::config::{Config, FeedConfig};
use engine::market::MarketTable;
use engine::pipeline::{Plan, Running};
use engine::runtime::{CoreMap, StopFlag};
use engine::store::{flags, Store};
use feeds::ws::WsConfig;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tools::sim::{SimConfig, Simulator};

/// Reference bars: (market id, second) → bar, straight from the frames, no engine code.
fn expected_bars(tape: &str) -> BTreeMap<(String, i64), Bar> {
    let mut bars: BTreeMap<(String, i64), Bar> = BTreeMap::new();
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
        let event = data.get("e").and_then(Value::as_str);
        match event {
            // A trade is one fill; an aggTrade (USDⓈ-M) stands for its fills `f..=l`.
            Some("trade" | "aggTrade") => {
                if let Some(x) = data.get("X").and_then(Value::as_str) {
                    if x != "MARKET" && x != "RPI" {
                        continue;
                    }
                }
                let fills = match event {
                    Some("aggTrade") => {
                        (data["l"].as_u64().unwrap() - data["f"].as_u64().unwrap() + 1) as u32
                    }
                    _ => 1,
                };
                let (p, q) = (num(&data["p"]), num(&data["q"]));
                if q == 0.0 {
                    continue;
                }
                let t_ms = data["T"].as_i64().unwrap();
                let market = format!("{exchange}:{}", data["s"].as_str().unwrap().to_lowercase());
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
                if data["m"].as_bool().unwrap() {
                    bar.vsell += p * q;
                    bar.csell += fills;
                } else {
                    bar.vbuy += p * q;
                    bar.cbuy += fills;
                }
            }
            Some("forceOrder") => {
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
            _ => {} // replies to requests
        }
    }
    bars
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// The layout `auto` picks here (on 1–2 cores: the shard's work inline on the feed thread).
#[test]
fn simulator_to_bar_files_matches_bars_from_sent_trades() {
    run_end_to_end(None);
}

/// Shard threads behind SPSC rings, as on bigger machines: one feed thread, two shards
/// (unpinned, so it runs here too).
#[test]
fn simulator_to_bar_files_through_shard_threads() {
    run_end_to_end(Some(CoreMap {
        feeds: vec![None],
        shards: vec![None, None],
        io: None,
    }));
}

fn run_end_to_end(cores: Option<CoreMap>) {
    let dir = tempfile::tempdir().unwrap();
    let tape = dir.path().join("sent.jsonl");
    let total_trades = 3_000;
    let sim = Simulator::start(SimConfig {
        symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
        trades_per_sec: 100.0,
        burst_prob: 0.2,
        non_market_prob: 0.02,
        seed: 7,
        spot_ping: Duration::from_millis(300),
        futures_ping: Duration::from_millis(300),
        tape: Some(tape.clone()),
        max_trades: Some(total_trades),
        ..SimConfig::default()
    })
    .unwrap();

    let data = dir.path().join("data");
    let pairs = vec!["btcusdt".to_string(), "ethusdt".to_string()];
    let cfg = Config {
        data_dir: data.clone(),
        feeds: vec![
            FeedConfig {
                venue: "binance".into(),
                url: Some(sim.spot_url()),
                pairs: pairs.clone(),
                ping_ms: None,
                rotate_after_s: None,
            },
            FeedConfig {
                venue: "binance-usdm".into(),
                url: Some(sim.futures_url()),
                pairs,
                ping_ms: None,
                rotate_after_s: None,
            },
        ],
        ..Config::default()
    };
    let mut plan = Plan::from_config(&cfg).unwrap();
    if let Some(cores) = cores {
        let mut table = MarketTable::new(cores.shards.len());
        for (_, m) in plan.table.iter() {
            table.add(m.venue, m.symbol);
        }
        assert_ne!(
            table.get(0).shard,
            table.get(1).shard,
            "markets spread over both shards"
        );
        plan.table = table;
        plan.cores = cores;
    }
    assert_eq!(plan.subscriptions.len(), 2);
    let mut running = Running::start(plan, WsConfig::default(), StopFlag::new()).unwrap();

    // Wait until the simulator has generated every trade and the engine has received every
    // frame that was sent.
    // The simulator counts a frame as sent when its connection thread writes it, a moment
    // after the trade was generated: wait until the sent count has also stopped moving.
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut last_sent, mut settled_since) = (u64::MAX, Instant::now());
    loop {
        running.io_step(&mut |_, _| {});
        let s = sim.stats();
        let generated = s.spot.trades_generated + s.futures.trades_generated;
        let sent = s.spot.frames_sent + s.futures.frames_sent;
        let got: u64 = running
            .feed_stats
            .iter()
            .map(|f| f.frames.get() - f.acks.get())
            .sum();
        if sent != last_sent {
            (last_sent, settled_since) = (sent, Instant::now());
        }
        let settled = settled_since.elapsed() >= Duration::from_millis(300);
        if generated >= total_trades && settled && got >= sent {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out: generated {generated}, sent {sent}, received {got}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let feed_stats = running.feed_stats.clone();
    running.shutdown(&mut |_, _| {});
    let history = sim.history();
    let sim_stats = sim.stats();
    sim.stop();
    let tape_text = std::fs::read_to_string(&tape).unwrap();
    let received: u64 = feed_stats
        .iter()
        .map(|f| f.frames.get() - f.acks.get())
        .sum();
    assert_eq!(
        tape_text.lines().count() as u64,
        received,
        "the engine received exactly the frames the simulator sent"
    );

    let errors: u64 = feed_stats
        .iter()
        .map(|f| f.decode_errors() + f.unknown_symbols.get())
        .sum();
    assert_eq!(errors, 0, "decode errors or unknown symbols");

    let expected = expected_bars(&tape_text);
    assert!(
        expected.len() >= 8,
        "too few bars to be meaningful: {}",
        expected.len()
    );
    let store = Store::new(&data);
    let mut markets = store.markets().unwrap();
    markets.sort();
    assert_eq!(
        markets,
        [
            "BINANCE:btcusdt",
            "BINANCE:ethusdt",
            "BINANCE_FUTURES:btcusdt",
            "BINANCE_FUTURES:ethusdt"
        ]
    );
    let mut stored = 0;
    for m in &markets {
        for sb in store.range(m, 0, i64::MAX).unwrap() {
            stored += 1;
            let key = (m.clone(), sb.time_ms / 1000);
            let want = expected
                .get(&key)
                .unwrap_or_else(|| panic!("unexpected bar {key:?}"));
            let got = sb.bar;
            assert!(
                sb.flags & flags::CLOSED != 0,
                "bar {key:?} not closed after shutdown"
            );
            assert_eq!(
                (got.cbuy, got.csell),
                (want.cbuy, want.csell),
                "{key:?} counts"
            );
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
    assert_eq!(stored, expected.len(), "every expected bar is stored");

    // USDⓈ-M, against what the simulator generated (not only what it sent): every market
    // trade (fill) of every pair is stored once, and every liquidation. Binance routes the
    // streams by tier; a stream on the wrong route would leave these at zero.
    let fills_stored = |market: &str| -> u64 {
        store
            .range(market, 0, i64::MAX)
            .unwrap()
            .iter()
            .map(|sb| u64::from(sb.bar.cbuy + sb.bar.csell))
            .sum()
    };
    for (symbol, market) in [
        ("BTCUSDT", "BINANCE_FUTURES:btcusdt"),
        ("ETHUSDT", "BINANCE_FUTURES:ethusdt"),
    ] {
        let generated = history.trades(feeds::Venue::BinanceUsdm, symbol).len() as u64;
        assert!(generated > 100, "{symbol}: {generated}");
        assert_eq!(
            fills_stored(market),
            generated,
            "{market}: every trade once"
        );
    }
    let usdm = sim_stats.futures;
    assert!(
        usdm.agg_trades_sent > 0 && usdm.liquidations_sent > 0,
        "{usdm:?}"
    );
    assert_eq!(
        usdm.trades_sent, 0,
        "the engine reads aggregates, not @trade"
    );
    assert_eq!(usdm.liquidations_sent, usdm.liquidations_generated);
    assert_eq!(usdm.misrouted_subscriptions, 0, "every stream on its route");
    let aggregates_with_fills = tape_text
        .lines()
        .filter(|l| l.contains(r#"\"e\":\"aggTrade\""#))
        .map(|l| {
            let rec: Value = serde_json::from_str(l).unwrap();
            let frame: Value = serde_json::from_str(rec["frame"].as_str().unwrap()).unwrap();
            frame["data"]["l"].as_u64().unwrap() - frame["data"]["f"].as_u64().unwrap()
        })
        .filter(|&extra| extra > 0)
        .count();
    assert!(
        aggregates_with_fills > 0,
        "some aggregates of several fills"
    );
}

/// The plan the engine had before the 2026 route split was honoured: `@trade` with
/// `@forceOrder` on one `/market` connection. Against the routed simulator it gets
/// liquidations and never a trade (Binance acknowledges the misrouted `@trade` and keeps it
/// silent) — the simulator is as unforgiving as the venue.
#[test]
fn the_pre_split_usdm_plan_gets_liquidations_and_no_trade() {
    let sim = Simulator::start(SimConfig {
        symbols: vec!["BTCUSDT".into()],
        trades_per_sec: 200.0,
        burst_prob: 0.5,
        non_market_prob: 0.0,
        seed: 11,
        ..SimConfig::default()
    })
    .unwrap();
    // What `feeds::binance::combined_urls` built for USDⓈ-M before this change.
    let url = format!(
        "{}/market/stream?streams=btcusdt@trade/btcusdt@forceOrder",
        sim.futures_url()
    );
    let socket =
        std::net::TcpStream::connect(url.trim_start_matches("ws://").split('/').next().unwrap())
            .unwrap();
    // A broken simulator fails the test instead of hanging it.
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let (mut ws, _) = tungstenite::client(url.as_str(), socket)
        .unwrap_or_else(|e| panic!("the route accepts the connection: {e}"));
    let mut decoder = feeds::binance::Decoder::new(feeds::Venue::BinanceUsdm);
    let (mut trades, mut liquidations) = (0, 0);
    while liquidations < 5 {
        let tungstenite::Message::Text(text) = ws.read().unwrap() else {
            continue;
        };
        let mut bytes = text.as_bytes().to_vec();
        use feeds::Decode as _;
        decoder
            .decode(&mut bytes, &mut |e| match e.kind {
                feeds::EventKind::Liquidation => liquidations += 1,
                _ => trades += 1,
            })
            .unwrap();
    }
    let s = sim.stats().futures;
    sim.stop();
    assert_eq!(trades, 0, "no trade frame on the wrong route");
    assert!(s.trades_generated > 100, "the market traded: {s:?}");
    assert_eq!((s.trades_sent, s.agg_trades_sent), (0, 0));
    assert_eq!(s.misrouted_subscriptions, 1, "@trade acknowledged, silent");
}
