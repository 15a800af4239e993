//! The built-in feed list (`run` without `[[feeds]]`): 99 markets of BTC, ETH and SOL,
//! spot and perpetual on every venue API still operating, each with a plan to connect and a
//! market id of its own.

use engine::config::Config;
use engine::pipeline::Plan;
use engine::strategy::symbols::classify_market_id;
use feeds::{MarketKind, Venue};
use std::collections::{BTreeMap, BTreeSet};

#[test]
fn default_feeds_cover_every_venue_with_btc_eth_sol() {
    let cfg = Config::default();
    assert!(cfg.feeds.is_empty());
    let plan = Plan::from_config(&cfg).unwrap();
    // 100 until BitMEX (1 market, XBTUSD) closed on 2026-09-23.
    assert_eq!(plan.table.len(), 99, "{} markets", plan.table.len());
    assert!(
        plan.table.iter().all(|(_, m)| m.venue.closed().is_none()),
        "a closed venue in the defaults"
    );

    let mut kinds: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    for (_, m) in plan.table.iter() {
        assert!(
            ["BTC", "ETH", "SOL"].contains(&m.base.as_str()),
            "{}: base {}",
            m.id,
            m.base
        );
        assert!(ids.insert(m.id.clone()), "{} twice", m.id);
        // The stored id classifies back to the kind of the venue's instrument.
        let kind = m.venue.market_kind(&m.symbol);
        assert_eq!(classify_market_id(&m.id), Some(kind), "{}", m.id);
        assert_ne!(kind, MarketKind::Future, "{}", m.id);
        kinds
            .entry(m.base.clone())
            .or_default()
            .insert(format!("{kind:?}"));
    }
    for base in ["BTC", "ETH", "SOL"] {
        assert_eq!(
            kinds[base],
            BTreeSet::from(["Perp".to_string(), "Spot".to_string()]),
            "{base}"
        );
    }

    // Every venue API but the duplicate Coinbase Advanced, the dated-futures-only OKX one and
    // the closed ones (BitMEX).
    let venues: BTreeSet<&str> = plan.subscriptions.iter().map(|s| s.venue.name()).collect();
    for v in Venue::ALL {
        let skipped =
            matches!(v, Venue::CoinbaseAdvanced | Venue::OkxFutures) || v.closed().is_some();
        assert_eq!(venues.contains(v.name()), !skipped, "{v}");
    }
    assert!(!venues.contains("bitmex"));
    assert_eq!(venues.len(), 19, "{venues:?}");
    for s in &plan.subscriptions {
        assert!(s.url.starts_with("wss://"), "{}", s.url);
        let binance = s.url.contains("binance.com");
        assert_eq!(s.subscribe.is_empty(), binance, "{}", s.url);
    }

    // The strategy picks BTC, ETH and SOL (the first three with spot and perp).
    let strategy = plan.strategy.expect("strategy on by default");
    let symbols: Vec<&str> = strategy.symbols.iter().map(|s| s.base.as_str()).collect();
    assert_eq!(symbols, ["BTC", "ETH", "SOL"]);
}

#[test]
fn one_market_id_twice_is_a_config_error() {
    let text = r#"
[[feeds]]
venue = "bybit-spot"
pairs = ["BTCUSDT", "BTCUSDT"]
"#;
    let cfg = Config::parse(text, std::path::Path::new("t.toml")).unwrap();
    let err = Plan::from_config(&cfg).unwrap_err().to_string();
    assert!(
        err.contains("BYBIT:BTCUSDT-SPOT") && err.contains("twice"),
        "{err}"
    );
}

#[test]
fn every_venue_is_accepted_live_with_a_local_url() {
    let text = r#"
[[feeds]]
venue = "huobi-swap"
url = "ws://127.0.0.1:9"
pairs = ["BTC-USDT"]

[[feeds]]
venue = "okx-swap"
pairs = ["BTC-USDT-SWAP"]
"#;
    let cfg = Config::parse(text, std::path::Path::new("t.toml")).unwrap();
    let plan = Plan::from_config(&cfg).unwrap();
    let urls: Vec<&str> = plan.subscriptions.iter().map(|s| s.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "ws://127.0.0.1:9/linear-swap-ws",
            "wss://ws.okx.com:8443/ws/v5/public"
        ]
    );
    assert!(plan.subscriptions[0].subscribe[0].contains("market.BTC-USDT.trade.detail"));
}
