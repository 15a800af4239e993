//! Instrument metadata at start-up against the simulator's REST responder on loopback: fetch →
//! cache → second start from the cache; responder down → bundle (or stale cache) with the
//! reason; malformed responses → an error naming the family and field, fallback used; fetched
//! sizes reach the decoders.

use engine::instruments::{
    self, cache_path, read_cache, Family, InstrumentsConfig, Loaded, Source,
};
use engine::route::Router;
use engine::stats::FeedStats;
use feeds::{Decimal, Instruments, Venue};
use std::path::Path;
use std::sync::Arc;
use tools::sim::{RestConfig, RestServer};

const NOW_MS: i64 = 1_795_478_400_000;
const HOUR_MS: i64 = 3_600_000;

fn cfg_for(base: &str) -> InstrumentsConfig {
    let mut cfg = InstrumentsConfig {
        timeout_ms: 3_000,
        ..InstrumentsConfig::default()
    };
    for f in Family::ALL {
        cfg.base_url.insert(f.name().to_string(), base.to_string());
    }
    cfg
}

fn load(cfg: &InstrumentsConfig, data: &Path, families: &[Family], now_ms: i64) -> Loaded {
    instruments::load(cfg, data, families, &instruments::default_tls(), now_ms)
}

fn sources(l: &Loaded) -> Vec<(Family, Source)> {
    l.report.iter().map(|r| (r.family, r.source)).collect()
}

/// Every bundled spec of `family`'s venues, sorted.
fn bundled(family: Family) -> Vec<(Venue, String, feeds::ContractSpec)> {
    let b = Instruments::bundled();
    let mut v: Vec<_> = family
        .venues()
        .iter()
        .flat_map(|&venue| {
            b.of_venue(venue)
                .map(move |(s, spec)| (venue, s.to_string(), spec))
        })
        .collect();
    v.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    v
}

#[test]
fn fetch_writes_the_cache_and_a_second_start_uses_it() {
    let server = RestServer::start_with(RestConfig {
        bybit_page: 1,
        ..RestConfig::default()
    })
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let cfg = cfg_for(&server.base_url());
    let all = Family::ALL;

    let first = load(&cfg, data.path(), &all, NOW_MS);
    assert_eq!(
        sources(&first),
        all.iter()
            .map(|&f| (f, Source::Fetched))
            .collect::<Vec<_>>(),
        "{:?}",
        first.report
    );
    // The real paths were asked for; Bybit's list came one page at a time.
    let paths = server.paths();
    for p in [
        "/dapi/v1/exchangeInfo",
        "/api/v5/public/instruments?instType=SWAP",
        "/api/v5/public/instruments?instType=FUTURES",
        "/api/v1/instrument/active",
        "/api/v4/futures/usdt/contracts",
        "/v5/market/instruments-info?category=inverse&limit=1000",
    ] {
        assert!(paths.iter().any(|q| q == p), "{p} not requested: {paths:?}");
    }
    let bybit_pages = paths.iter().filter(|p| p.starts_with("/v5/")).count();
    assert_eq!(bybit_pages, bundled(Family::Bybit).len(), "{paths:?}");

    for family in all {
        // Each cache holds exactly what the venue listed (the responder serves the bundle).
        let cache = read_cache(&cache_path(data.path(), family), family)
            .unwrap()
            .unwrap_or_else(|| panic!("{family}: no cache written"));
        assert_eq!(cache.fetched_at_ms, NOW_MS);
        let got: Vec<_> = cache
            .specs
            .iter()
            .map(|s| (s.venue, s.symbol.clone(), s.spec))
            .collect();
        assert_eq!(got, bundled(family), "{family}");
        let r = first.report.iter().find(|r| r.family == family).unwrap();
        assert_eq!(r.instruments, got.len());
        assert_eq!(r.reason, None);
    }
    let okx = first
        .instruments
        .get(Venue::OkxSwap, "BTC-USD-SWAP")
        .unwrap();
    assert_eq!((okx.size, okx.inverse), (Decimal::new(100, 0), true));
    let xbt = first.instruments.get(Venue::Bitmex, "XBTUSD").unwrap();
    assert_eq!((xbt.size, xbt.inverse), (Decimal::new(1, 0), true));
    assert!(!data
        .path()
        .join("instruments")
        .read_dir()
        .unwrap()
        .any(|e| e.unwrap().file_name().to_string_lossy().contains("tmp")));

    // A second start within max_age_hours: the cache, no request.
    let before = server.requests();
    let second = load(&cfg, data.path(), &all, NOW_MS + 23 * HOUR_MS);
    assert_eq!(
        sources(&second),
        all.iter().map(|&f| (f, Source::Cache)).collect::<Vec<_>>()
    );
    assert_eq!(server.requests(), before, "the cache was fresh");

    // Past max_age_hours it fetches again and rewrites the cache.
    let third = load(&cfg, data.path(), &[Family::Okx], NOW_MS + 25 * HOUR_MS);
    assert_eq!(sources(&third), vec![(Family::Okx, Source::Fetched)]);
    let cache = read_cache(&cache_path(data.path(), Family::Okx), Family::Okx)
        .unwrap()
        .unwrap();
    assert_eq!(cache.fetched_at_ms, NOW_MS + 25 * HOUR_MS);
}

#[test]
fn responder_down_falls_back_to_the_bundle_or_a_stale_cache_with_the_reason() {
    // A port that was just listening and is closed now.
    let base = {
        let s = RestServer::start().unwrap();
        s.base_url()
    };
    let data = tempfile::tempdir().unwrap();
    let cfg = cfg_for(&base);
    let l = load(&cfg, data.path(), &[Family::Binance, Family::Gate], NOW_MS);
    assert_eq!(
        sources(&l),
        vec![
            (Family::Binance, Source::Bundle),
            (Family::Gate, Source::Bundle)
        ]
    );
    for r in &l.report {
        let why = r.reason.as_deref().unwrap();
        assert!(
            why.contains("no cache") && why.contains("fetch failed") && why.contains("connecting"),
            "{why}"
        );
        assert!(why.contains(&base), "the reason names the URL: {why}");
    }
    assert_eq!(l.report[0].instruments, bundled(Family::Binance).len());
    assert!(!cache_path(data.path(), Family::Gate).exists());
    let gate = l.instruments.get(Venue::GateFutures, "BTC_USDT").unwrap();
    assert_eq!(gate.size, Decimal::new(1, 4));

    // A stale cache beats the bundle when the venue cannot be reached.
    let custom = vec![instruments::Spec {
        venue: Venue::GateFutures,
        symbol: "SOL_USDT".into(),
        spec: feeds::ContractSpec {
            size: Decimal::new(1, 0),
            inverse: false,
        },
    }];
    instruments::write_cache(
        &cache_path(data.path(), Family::Gate),
        Family::Gate,
        NOW_MS - 48 * HOUR_MS,
        &custom,
    )
    .unwrap();
    let l = load(&cfg, data.path(), &[Family::Gate], NOW_MS);
    assert_eq!(sources(&l), vec![(Family::Gate, Source::StaleCache)]);
    let why = l.report[0].reason.as_deref().unwrap();
    assert!(
        why.contains("48.0 h old") && why.contains("fetch failed"),
        "{why}"
    );
    assert!(l.instruments.get(Venue::GateFutures, "SOL_USDT").is_some());
    assert!(
        l.instruments.get(Venue::GateFutures, "BTC_USDT").is_some(),
        "bundled specs stay under the cached ones"
    );

    // refresh = false: no fetch at all, the reason says so.
    let off = InstrumentsConfig {
        refresh: false,
        ..cfg.clone()
    };
    let l = load(&off, data.path(), &[Family::Okx, Family::Gate], NOW_MS);
    assert_eq!(
        sources(&l),
        vec![
            (Family::Okx, Source::Bundle),
            (Family::Gate, Source::StaleCache)
        ]
    );
    assert!(l.report[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("refresh = false"));

    // A damaged cache is named and skipped.
    std::fs::write(
        cache_path(data.path(), Family::Gate),
        "{\"family\":\"gate\"",
    )
    .unwrap();
    let l = load(&off, data.path(), &[Family::Gate], NOW_MS);
    assert_eq!(sources(&l), vec![(Family::Gate, Source::Bundle)]);
    let why = l.report[0].reason.as_deref().unwrap();
    assert!(why.contains("gate.json is damaged"), "{why}");
}

#[test]
fn malformed_responses_name_the_family_and_field_and_fall_back() {
    let okx_bad_field = r#"{"code":"0","msg":"","data":[{"instType":"SWAP","instId":"BTC-USDT-SWAP","ctVal":"0.01","ctType":"linear","ctValCcy":"BTC"},{"instType":"SWAP","instId":"ETH-USDT-SWAP","ctVal":0.1,"ctType":"linear","ctValCcy":"ETH"}]}"#;
    let mut overrides = std::collections::BTreeMap::new();
    overrides.insert(
        "/api/v5/public/instruments".to_string(),
        (200, okx_bad_field.to_string()),
    );
    overrides.insert(
        "/api/v4/futures/usdt/contracts".to_string(),
        (200, "[{\"name\":\"BTC_USDT\",".to_string()),
    );
    overrides.insert(
        "/dapi/v1/exchangeInfo".to_string(),
        (
            500,
            "{\"code\":-1001,\"msg\":\"Internal error\"}".to_string(),
        ),
    );
    overrides.insert(
        "/v5/market/instruments-info".to_string(),
        (
            200,
            r#"{"retCode":10001,"retMsg":"params error","result":{},"time":1}"#.to_string(),
        ),
    );
    overrides.insert(
        "/api/v1/instrument/active".to_string(),
        (
            200,
            r#"[{"symbol":"XBTUSD","isQuanto":false,"multiplier":-100000000}]"#.to_string(),
        ),
    );
    let server = RestServer::start_with(RestConfig {
        overrides,
        ..RestConfig::default()
    })
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let l = load(
        &cfg_for(&server.base_url()),
        data.path(),
        &Family::ALL,
        NOW_MS,
    );
    assert!(
        l.report.iter().all(|r| r.source == Source::Bundle),
        "{:?}",
        l.report
    );
    let why = |f: Family| {
        l.report
            .iter()
            .find(|r| r.family == f)
            .and_then(|r| r.reason.clone())
            .unwrap()
    };
    let okx = why(Family::Okx);
    assert!(
        okx.contains("okx: data[1].ctVal: expected a string, got a number"),
        "{okx}"
    );
    let gate = why(Family::Gate);
    assert!(gate.contains("gate: (body): not JSON"), "{gate}");
    let binance = why(Family::Binance);
    assert!(
        binance.contains("HTTP 500") && binance.contains("Internal error"),
        "{binance}"
    );
    let bybit = why(Family::Bybit);
    assert!(
        bybit.contains("bybit: retCode: venue error 10001"),
        "{bybit}"
    );
    let bitmex = why(Family::Bitmex);
    assert!(
        bitmex.contains("bitmex: [0].isInverse: missing"),
        "{bitmex}"
    );
    for f in Family::ALL {
        assert!(!cache_path(data.path(), f).exists(), "{f}: nothing cached");
    }
    // The bundle is in force.
    assert_eq!(
        l.instruments
            .get(Venue::OkxSwap, "ETH-USDT-SWAP")
            .unwrap()
            .size,
        Decimal::new(1, 1)
    );
}

#[test]
fn fetched_sizes_reach_the_decoders() {
    // The venue says BTCUSD_PERP contracts are 200 USD (the bundle says 100).
    let body = r#"{"timezone":"UTC","serverTime":1,"rateLimits":[],"exchangeFilters":[],"symbols":[{"symbol":"BTCUSD_PERP","pair":"BTCUSD","contractType":"PERPETUAL","contractStatus":"TRADING","contractSize":200,"marginAsset":"BTC"}]}"#;
    let mut overrides = std::collections::BTreeMap::new();
    overrides.insert("/dapi/v1/exchangeInfo".to_string(), (200, body.to_string()));
    let server = RestServer::start_with(RestConfig {
        overrides,
        ..RestConfig::default()
    })
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let l = instruments::load_for(
        &cfg_for(&server.base_url()),
        data.path(),
        [Venue::BinanceCoinm, Venue::BinanceUsdm],
    );
    assert_eq!(sources(&l), vec![(Family::Binance, Source::Fetched)]);

    let trade = r#"{"stream":"btcusd_perp@aggTrade","data":{"e":"aggTrade","E":1591261134288,"a":5933014,"s":"BTCUSD_PERP","p":"50000.0","q":"3","f":100,"l":105,"T":1591261134150,"m":true}}"#;
    let qty = |router: &mut Router| {
        let mut buf = trade.as_bytes().to_vec();
        let mut got = Vec::new();
        router
            .route(
                Venue::BinanceCoinm,
                0,
                &mut buf,
                1,
                &mut |_, _| Some(0),
                &mut |t| got.push(t.qty),
            )
            .unwrap();
        got
    };
    let stats = Arc::new(FeedStats::default());
    assert_eq!(
        qty(&mut Router::with_instruments(stats.clone(), &l.instruments)),
        vec![3.0 * 200.0 / 50_000.0]
    );
    assert_eq!(qty(&mut Router::new(stats)), vec![3.0 * 100.0 / 50_000.0]);
}

#[test]
fn config_section_parses_and_rejects_unknown_families() {
    let text = "[instruments]\nrefresh = false\nmax_age_hours = 6\n[instruments.base_url]\nokx = \"http://127.0.0.1:9\"\n";
    let cfg = engine::config::Config::parse(text, Path::new("t.toml")).unwrap();
    assert!(!cfg.instruments.refresh);
    assert_eq!(cfg.instruments.max_age_hours, 6);
    assert_eq!(cfg.instruments.base_url["okx"], "http://127.0.0.1:9");
    let e = engine::config::Config::parse(
        "[instruments.base_url]\nokex = \"http://x\"\n",
        Path::new("t.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("instruments.base_url.okex") && e.contains("unknown family"),
        "{e}"
    );
    let e = engine::config::Config::parse(
        "[instruments.base_url]\nokx = \"ws://x\"\n",
        Path::new("t.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("instruments.base_url.okx"), "{e}");
}
