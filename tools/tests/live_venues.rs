//! Every simulated venue at once, through the engine's live path: the multi-venue simulator
//! speaks each venue's protocol on loopback; the engine plans its connections from the same
//! config a user writes (URL overrides only), subscribes, keeps each connection alive by the
//! venue's rules and stores bars. Every trade the simulator sent must be in a stored bar, on
//! the right market, with no decode error, no refused request and no dropped connection.

use engine::config::{Config, FeedConfig};
use engine::pipeline::{Plan, Running};
use engine::runtime::StopFlag;
use engine::store::Store;
use feeds::ws::WsConfig;
use feeds::Symbol;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tools::sim::venues::{default_markets, VenueSim, VenueSimConfig};

#[test]
fn engine_collects_every_simulated_venue() {
    let _ = env_logger::builder().is_test(true).try_init();
    let dir = tempfile::tempdir().unwrap();
    // Coinbase Exchange and Advanced Trade list the same products under the same market ids;
    // one engine follows each id once, so Advanced Trade carries the USDT books here.
    // Closed venues (BitMEX) are refused by the engine's config, so not followed here.
    let markets: Vec<(feeds::Venue, Vec<String>)> = default_markets()
        .into_iter()
        .filter(|(venue, _)| venue.closed().is_none())
        .map(|(venue, symbols)| match venue {
            feeds::Venue::CoinbaseAdvanced => (
                venue,
                ["BTC-USDT", "ETH-USDT", "SOL-USDT"]
                    .map(String::from)
                    .to_vec(),
            ),
            _ => (venue, symbols),
        })
        .collect();
    assert!(markets.len() >= 10, "venues simulated: {}", markets.len());
    let total_trades = 4_000;
    let sim = VenueSim::start(VenueSimConfig {
        markets: markets.clone(),
        trades_per_sec: 15.0,
        liquidations_per_sec: 1.0,
        open_interest_every: Duration::from_millis(500),
        seed: 11,
        max_trades: Some(total_trades),
        // Venue keepalives 20× faster than real (HTX pings every 0.25 s, OKX cuts silent
        // connections after 1.5 s), so several rounds happen during the test.
        keepalive_scale: 0.05,
        ..VenueSimConfig::default()
    })
    .unwrap();

    let data = dir.path().join("data");
    let feeds: Vec<FeedConfig> = markets
        .iter()
        .map(|(venue, symbols)| FeedConfig {
            venue: venue.name().to_string(),
            url: sim.base_url(*venue),
            pairs: symbols.clone(),
            // Client pings well inside the scaled deadlines.
            ping_ms: Some(250),
            rotate_after_s: None,
        })
        .collect();
    let cfg = Config {
        data_dir: data.clone(),
        feeds,
        ..Config::default()
    };
    let plan = Plan::from_config(&cfg).unwrap();
    let ids: BTreeMap<(feeds::Venue, String), String> = plan
        .table
        .iter()
        .map(|(_, m)| ((m.venue, m.symbol.as_str().to_string()), m.id.clone()))
        .collect();
    let mut running = Running::start(plan, WsConfig::default(), StopFlag::new()).unwrap();

    // Run until every trade has been generated and sent, the sent counts have settled, and a
    // few seconds have passed for the keepalives to go round.
    let started = Instant::now();
    let deadline = started + Duration::from_secs(120);
    let (mut last_sent, mut settled_since) = (u64::MAX, Instant::now());
    loop {
        running.io_step(&mut |_, _| {});
        let sent: u64 = sim.all_stats().iter().map(|s| s.trades_sent()).sum();
        if sent != last_sent {
            (last_sent, settled_since) = (sent, Instant::now());
        }
        if sent >= total_trades
            && settled_since.elapsed() >= Duration::from_millis(500)
            && started.elapsed() >= Duration::from_secs(4)
        {
            break;
        }
        assert!(Instant::now() < deadline, "timed out: {sent} trades sent");
        std::thread::sleep(Duration::from_millis(20));
    }
    let feed_stats = running.feed_stats.clone();
    running.shutdown(&mut |_, _| {});
    let stats = sim.all_stats();
    sim.stop();

    let sum = |f: &dyn Fn(&engine::stats::FeedStats) -> u64| -> u64 {
        feed_stats.iter().map(|s| f(s)).sum()
    };
    assert_eq!(sum(&|s| s.decode_errors()), 0, "decode errors");
    assert_eq!(sum(&|s| s.unknown_symbols.get()), 0, "unknown symbols");
    assert_eq!(sum(&|s| s.venue_errors.get()), 0, "requests refused");
    assert_eq!(sum(&|s| s.disconnects.get()), 0, "connections lost");
    assert!(sum(&|s| s.acks.get()) > 0, "no subscribe acknowledged");

    let store = Store::new(&data);
    for vs in &stats {
        assert_eq!(vs.ping_timeouts, 0, "{}: keepalive failed", vs.venue);
        assert_eq!(vs.subscribe_errors, 0, "{}: requests refused", vs.venue);
        assert_eq!(vs.slow_consumers, 0, "{}", vs.venue);
        assert!(vs.connections_accepted >= 1, "{}", vs.venue);
        assert!(vs.trades_sent() > 0, "{}: no trades", vs.venue);
        for m in &vs.markets {
            let symbol = engine::pipeline::frame_symbol(vs.venue, &m.symbol).unwrap();
            let id = &ids[&(vs.venue, Symbol::as_str(&symbol).to_string())];
            let bars = store.range(id, 0, i64::MAX).unwrap();
            let trades: u64 = bars
                .iter()
                .map(|b| u64::from(b.bar.cbuy + b.bar.csell))
                .sum();
            if m.snapshot_trades_sent > 0 {
                eprintln!(
                    "{id}: {trades} stored = {} live + {} of {} snapshot trades",
                    m.trades_sent,
                    trades.saturating_sub(m.trades_sent),
                    m.snapshot_trades_sent
                );
            }
            // Every live trade once; the recent trades of a subscribe snapshot (the market's
            // past, which venues send on subscribe) at most once each, never twice.
            assert!(
                trades >= m.trades_sent && trades <= m.trades_sent + m.snapshot_trades_sent,
                "{id}: {trades} trades stored, {} sent live, {} in snapshots",
                m.trades_sent,
                m.snapshot_trades_sent
            );
            if m.liquidations_sent > 0 {
                let liq: f64 = bars.iter().map(|b| b.bar.lbuy + b.bar.lsell).sum();
                assert!(
                    liq > 0.0,
                    "{id}: {} liquidations sent, none stored",
                    m.liquidations_sent
                );
            }
        }
    }
}
