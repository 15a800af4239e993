//! The backfill worker against a tiny local HTTP server serving the venues' real response
//! formats: paging, a 429 with `Retry-After`, a 500 then success, a malformed body, venue
//! errors, windows the venue cannot serve. Jobs go in through the feed's ring pair; the test
//! checks the exact ticks and `Done`s that come back and counts the requests the server saw.

use engine::backfill::{self, BackfillConfig, BackfillJob, BackfillOut, BackfillStats, DoneWhy};
use engine::market::{MarketTable, Tick};
use engine::runtime::StopFlag;
use feeds::{EventKind, Side, Symbol, Venue};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Status, extra headers, body.
type Reply = (u16, Vec<(&'static str, String)>, String);

/// Every request target the server answered, in order.
type Log = Arc<Mutex<Vec<String>>>;

/// Serve HTTP/1.1 on a free loopback port: one request per connection, answered by
/// `handler(target, times this exact target was asked before)`.
fn serve(handler: impl Fn(&str, usize) -> Reply + Send + 'static) -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log: Log = Arc::default();
    let seen = log.clone();
    std::thread::spawn(move || {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let Some(target) = read_target(&mut s) else {
                continue;
            };
            let n = counts.entry(target.clone()).or_default();
            let (status, headers, body) = handler(&target, *n);
            *n += 1;
            seen.lock().unwrap().push(target);
            let mut head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(body.as_bytes());
        }
    });
    (base, log)
}

fn read_target(s: &mut TcpStream) -> Option<String> {
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut head = Vec::new();
    let mut b = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut b).ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&b[..n]);
    }
    let line = String::from_utf8_lossy(&head).lines().next()?.to_owned();
    let mut parts = line.split(' ');
    (parts.next()? == "GET").then_some(())?;
    Some(parts.next()?.to_owned())
}

fn sym(s: &str) -> Symbol {
    Symbol::new(s.as_bytes()).unwrap()
}

/// Markets of the test engine, by index.
const BINANCE: u32 = 0;
const OKX: u32 = 1;
const DERIBIT: u32 = 2;
const BYBIT: u32 = 3;
const HUOBI: u32 = 4;
const COINBASE: u32 = 5;
const USDM: u32 = 6;
const KRAKEN: u32 = 7;
const BITFINEX_BTC: u32 = 8;
const BITFINEX_ETH: u32 = 9;
const DERIBIT_ETH: u32 = 10;

fn table() -> Arc<MarketTable> {
    let mut t = MarketTable::new(1);
    assert_eq!(t.add(Venue::BinanceSpot, sym("BTCUSDT")), BINANCE);
    assert_eq!(t.add(Venue::OkxSwap, sym("BTC-USDT-SWAP")), OKX);
    assert_eq!(t.add(Venue::Deribit, sym("BTC-PERPETUAL")), DERIBIT);
    assert_eq!(t.add(Venue::BybitLinear, sym("BTCUSDT")), BYBIT);
    assert_eq!(t.add(Venue::Huobi, sym("btcusdt")), HUOBI);
    assert_eq!(t.add(Venue::Coinbase, sym("BTC-USD")), COINBASE);
    assert_eq!(t.add(Venue::BinanceUsdm, sym("BTCUSDT")), USDM);
    assert_eq!(t.add(Venue::KrakenSpot, sym("BTC/USD")), KRAKEN);
    assert_eq!(t.add(Venue::Bitfinex, sym("tBTCUSD")), BITFINEX_BTC);
    assert_eq!(t.add(Venue::Bitfinex, sym("tETHUSD")), BITFINEX_ETH);
    assert_eq!(t.add(Venue::Deribit, sym("ETH-PERPETUAL")), DERIBIT_ETH);
    Arc::new(t)
}

/// One hour ago, whole second, ms.
fn t0_ms() -> i64 {
    (feeds::clock::wall_us() / 1_000_000 - 3600) * 1000
}

/// Binance `aggTrades` record `i`: aggregate id 5000+i covering `@trade` ids 2i..=2i+1.
fn binance_record(t0: i64, i: i64) -> String {
    format!(
        r#"{{"a":{},"p":"{}.10000000","q":"0.00{:03}000","f":{},"l":{},"T":{},"m":{},"M":true}}"#,
        5000 + i,
        60000 + i,
        1 + i % 500,
        2 * i,
        2 * i + 1,
        t0 + i,
        i % 3 == 0
    )
}

/// OKX record with trade id `id` (newest first in pages), 2 contracts.
fn okx_record(t0: i64, id: i64) -> String {
    format!(
        r#"{{"instId":"BTC-USDT-SWAP","side":"{}","sz":"2","px":"64311.5","tradeId":"{id}","ts":"{}","source":"0"}}"#,
        if id % 2 == 0 { "buy" } else { "sell" },
        t0 + id
    )
}

fn handler(t0: i64) -> impl Fn(&str, usize) -> Reply + Send + 'static {
    move |target, n| {
        let ok = |body: String| (200, Vec::new(), body);
        if target.starts_with("/api/v3/aggTrades?symbol=BTCUSDT&startTime=") {
            // Page 1: full.
            return ok(format!(
                "[{}]",
                (0..1000)
                    .map(|i| binance_record(t0, i))
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        if target == "/api/v3/aggTrades?symbol=BTCUSDT&fromId=6000&limit=1000" {
            if n == 0 {
                return (
                    429,
                    vec![("Retry-After", "1".to_string())],
                    r#"{"code":-1003,"msg":"Too many requests; current limit is 6000 request weight per 1 MINUTE."}"#.to_string(),
                );
            }
            // Page 2: short, the last two past the window end.
            return ok(format!(
                "[{}]",
                (1000..1005)
                    .map(|i| binance_record(t0, i))
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        if target.starts_with("/api/v5/market/history-trades?instId=BTC-USDT-SWAP&type=2&after=") {
            if n == 0 {
                return (
                    500,
                    Vec::new(),
                    r#"{"code":"50001","msg":"Service temporarily unavailable"}"#.to_string(),
                );
            }
            let data: Vec<String> = (0..100).map(|k| okx_record(t0, 250 - k)).collect();
            return ok(format!(
                r#"{{"code":"0","msg":"","data":[{}]}}"#,
                data.join(",")
            ));
        }
        if target == "/api/v5/market/history-trades?instId=BTC-USDT-SWAP&type=1&after=151&limit=100"
        {
            let data: Vec<String> = (0..20).map(|k| okx_record(t0, 150 - k)).collect();
            return ok(format!(
                r#"{{"code":"0","msg":"","data":[{}]}}"#,
                data.join(",")
            ));
        }
        if target.starts_with(
            "/api/v2/public/get_last_trades_by_instrument_and_time?instrument_name=ETH-PERPETUAL&",
        ) {
            // Two pages; the second starts at the first's last millisecond and repeats its
            // trades of that millisecond.
            let trade = |id: i64, ms: i64| {
                format!(
                    r#"{{"trade_seq":{id},"trade_id":"ETH-{id}","timestamp":{},"tick_direction":0,"price":2000.0,"mark_price":2000.1,"instrument_name":"ETH-PERPETUAL","index_price":2000.2,"direction":"sell","amount":100.0}}"#,
                    t0 + ms
                )
            };
            let body = |trades: Vec<String>, more: bool| {
                format!(
                    r#"{{"jsonrpc":"2.0","result":{{"trades":[{}],"has_more":{more}}},"usIn":1,"usOut":2,"usDiff":1,"testnet":false}}"#,
                    trades.join(",")
                )
            };
            if target.contains(&format!("&start_timestamp={t0}&")) {
                return ok(body(
                    vec![trade(100, 0), trade(101, 1), trade(102, 1)],
                    true,
                ));
            }
            if target.contains(&format!("&start_timestamp={}&", t0 + 1)) {
                return ok(body(
                    vec![trade(101, 1), trade(102, 1), trade(103, 2)],
                    false,
                ));
            }
        }
        if target.starts_with("/api/v2/public/get_last_trades_by_instrument_and_time?") {
            // Truncated mid-record.
            return ok(r#"{"jsonrpc":"2.0","result":{"trades":[{"trade_seq":1,"trade_id":"9","timestamp":"#.to_string());
        }
        if target.starts_with("/v5/market/recent-trade?category=linear&symbol=BTCUSDT") {
            // 1000 trades, newest first, the oldest 301 ms after the job's window start.
            let list: Vec<String> = (0..1000)
                .map(|k| {
                    format!(
                        r#"{{"execId":"4b0832c3-70e8-5f68-a914-c53f304f{:04}","symbol":"BTCUSDT","price":"65140.5","size":"0.002","side":"Buy","time":"{}","isBlockTrade":false}}"#,
                        k,
                        t0 + 2300 - k
                    )
                })
                .collect();
            return ok(format!(
                r#"{{"retCode":0,"retMsg":"OK","result":{{"category":"linear","list":[{}]}},"retExtInfo":{{}},"time":{}}}"#,
                list.join(","),
                t0 + 2000
            ));
        }
        if target.starts_with("/products/BTC-USD/trades") {
            return (
                429,
                vec![("Retry-After", "0".to_string())],
                r#"{"message":"Public rate limit exceeded"}"#.to_string(),
            );
        }
        if target.starts_with("/v2/trades/") {
            // Blocked for 10 minutes: longer than the worker waits.
            return (
                429,
                vec![("Retry-After", "600".to_string())],
                r#"{"error":"ERR_RATE_LIMIT"}"#.to_string(),
            );
        }
        if target.starts_with("/fapi/v1/aggTrades") {
            return (
                400,
                Vec::new(),
                r#"{"code":-1121,"msg":"Invalid symbol."}"#.to_string(),
            );
        }
        (404, Vec::new(), r#"{"message":"NotFound"}"#.to_string())
    }
}

/// Everything one job produced.
#[derive(Debug, Default)]
struct JobResult {
    ticks: Vec<Tick>,
    done: Option<(u64, bool, DoneWhy)>,
}

fn job(gap: u64, market: u32, from_ms: i64, to_ms: i64, after: u64, before: u64) -> BackfillJob {
    BackfillJob {
        gap,
        market,
        from_ts_us: from_ms * 1000,
        to_ts_us: to_ms * 1000 + 999,
        after_id: after,
        before_id: before,
    }
}

#[test]
fn worker_recovers_windows_and_reports_every_failure() {
    let t0 = t0_ms();
    let (base, log) = serve(handler(t0));
    let cfg = BackfillConfig {
        base_url: base,
        timeout_ms: 5_000,
        max_retries: 2,
        ..BackfillConfig::default()
    };
    let stats = Arc::new(BackfillStats::default());
    let stop = StopFlag::new();
    let (mut feeds_side, worker_side) = backfill::links(2, 64);
    let handle = backfill::spawn(
        cfg,
        table(),
        feeds::Instruments::bundled(),
        engine::instruments::default_tls(),
        worker_side,
        stats.clone(),
        stop.clone(),
    )
    .unwrap();

    let jobs = [
        // Binance spot: two pages with a 429 in between; `@trade` ids 20..=2003 wanted.
        (0, job(1, BINANCE, t0, t0 + 1002, 19, 2004)),
        // OKX swap: 500 then a full page, then a short one; ids 140..=245 wanted.
        (1, job(2, OKX, t0, t0 + 245, 139, 0)),
        // Deribit: a malformed body.
        (0, job(3, DERIBIT, t0, t0 + 10, 0, 0)),
        // Bybit: the recent trades do not reach back to the window start.
        (1, job(4, BYBIT, t0 + 1000, t0 + 1500, 0, 0)),
        // No REST history for HTX; a market index the engine does not have.
        (0, job(5, HUOBI, t0, t0 + 10, 0, 0)),
        (1, job(6, 99, t0, t0 + 10, 0, 0)),
        // Older than `max_window_s` (6 h): no request.
        (
            0,
            job(7, KRAKEN, t0 - 7 * 3_600_000, t0 - 7 * 3_600_000 + 10, 0, 0),
        ),
        // Coinbase: rate limited every time.
        (1, job(8, COINBASE, t0, t0 + 10, 0, 0)),
        // USDⓈ-M: the venue refuses the request (HTTP 400, `-1121`): no retry.
        (0, job(9, USDM, t0, t0 + 10, 0, 0)),
        // Bitfinex: told to wait 10 minutes; the next job on the same host sends nothing.
        (0, job(10, BITFINEX_BTC, t0, t0 + 10, 0, 0)),
        (0, job(11, BITFINEX_ETH, t0, t0 + 10, 0, 0)),
        // Deribit ETH: two pages repeating a millisecond's trades.
        (1, job(12, DERIBIT_ETH, t0, t0 + 10, 0, 0)),
    ];
    for (link, j) in jobs {
        feeds_side[link].jobs.try_push(j).unwrap();
    }

    let mut results: HashMap<u64, JobResult> = HashMap::new();
    let mut markets: HashMap<u64, u32> = HashMap::new();
    let mut gap_of: HashMap<u32, u64> = HashMap::new();
    for (_, j) in jobs {
        markets.insert(j.gap, j.market);
        assert!(
            gap_of.insert(j.market, j.gap).is_none(),
            "one job per market"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut done = 0;
    // Ticks carry no gap id; each market has one job here.
    while done < jobs.len() {
        assert!(
            Instant::now() < deadline,
            "jobs did not finish: {results:?}"
        );
        let mut idle = true;
        for link in feeds_side.iter_mut() {
            while let Some(out) = link.results.try_pop() {
                idle = false;
                match out {
                    BackfillOut::Tick(t) => {
                        let gap = gap_of[&t.market];
                        results.entry(gap).or_default().ticks.push(t);
                    }
                    BackfillOut::Done {
                        gap,
                        market,
                        trades,
                        complete,
                        why,
                    } => {
                        assert_eq!(markets[&gap], market);
                        let r = results.entry(gap).or_default();
                        assert!(r.done.is_none(), "one Done per job");
                        assert_eq!(trades, r.ticks.len() as u64, "gap {gap}");
                        r.done = Some((trades, complete, why));
                        done += 1;
                    }
                }
            }
        }
        if idle {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    stop.stop();
    handle.join().expect("the worker never panics");

    // 1: Binance. Records 10..=1001 (`@trade` ids 20..=2003) overlap the ids between 19 and
    // 2004 and lie in the window (record 1002 would, but its ids start at 2004).
    let r = &results[&1];
    assert_eq!(r.done, Some((992, true, DoneWhy::Ok)));
    for (k, t) in r.ticks.iter().enumerate() {
        let i = 10 + k as i64;
        let want = Tick {
            market: BINANCE,
            kind: EventKind::Trade,
            side: if i % 3 == 0 { Side::Sell } else { Side::Buy },
            fills: 2,
            price: format!("{}.1", 60000 + i).parse().unwrap(),
            qty: (1 + i % 500) as f64 / 100_000.0,
            ts_us: (t0 + i) * 1000,
            recv_ns: t.recv_ns,
            trade_id: 2 * i as u64 + 1,
        };
        assert_eq!(*t, want);
        assert!(t.recv_ns > 0);
    }
    // 2: OKX. Ids 140..=245 ascending, 2 contracts × 0.01 BTC.
    let r = &results[&2];
    assert_eq!(r.done, Some((106, true, DoneWhy::Ok)));
    let ids: Vec<u64> = r.ticks.iter().map(|t| t.trade_id).collect();
    assert_eq!(ids, (140..=245).collect::<Vec<u64>>());
    for t in &r.ticks {
        assert_eq!((t.qty, t.price, t.fills), (0.02, 64311.5, 1));
        assert_eq!(t.ts_us, (t0 + t.trade_id as i64) * 1000);
        let side = if t.trade_id % 2 == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        assert_eq!(t.side, side);
    }
    // 3: Deribit, malformed.
    assert_eq!(results[&3].done, Some((0, false, DoneWhy::Parse)));
    // 4: Bybit: the recent trades reach back to t0+1301 ms only; the in-window part
    // (t0+1301..=t0+1500) is sent, the window is not covered.
    let r = &results[&4];
    assert_eq!(r.done, Some((200, false, DoneWhy::TooOld)));
    let ts: Vec<i64> = r.ticks.iter().map(|t| t.ts_us).collect();
    assert_eq!(
        ts,
        (t0 + 1301..=t0 + 1500)
            .map(|ms| ms * 1000)
            .collect::<Vec<_>>()
    );
    // 5, 6: unsupported; 7: too old; 8: rate limited; 9: refused.
    assert_eq!(results[&5].done, Some((0, false, DoneWhy::Unsupported)));
    assert_eq!(results[&6].done, Some((0, false, DoneWhy::Unsupported)));
    assert_eq!(results[&7].done, Some((0, false, DoneWhy::TooOld)));
    assert_eq!(results[&8].done, Some((0, false, DoneWhy::RateLimited)));
    assert_eq!(results[&9].done, Some((0, false, DoneWhy::Http)));
    assert_eq!(results[&10].done, Some((0, false, DoneWhy::RateLimited)));
    assert_eq!(results[&11].done, Some((0, false, DoneWhy::RateLimited)));
    // 12: each trade once, ascending; USD amounts → ETH.
    let r = &results[&12];
    assert_eq!(r.done, Some((4, true, DoneWhy::Ok)));
    let got: Vec<(u64, i64)> = r.ticks.iter().map(|t| (t.trade_id, t.ts_us)).collect();
    assert_eq!(
        got,
        vec![
            (100, t0 * 1000),
            (101, (t0 + 1) * 1000),
            (102, (t0 + 1) * 1000),
            (103, (t0 + 2) * 1000)
        ]
    );
    assert!(r
        .ticks
        .iter()
        .all(|t| t.side == Side::Sell && t.qty == 0.05 && t.price == 2000.0));

    // Requests: Binance 3 (range, 429, retry), OKX 3 (500, retry, page 2), Deribit 1,
    // Bybit 1, Coinbase 3 (1 + max_retries), USDⓈ-M 1, Bitfinex 1, Deribit ETH 2.
    let seen = log.lock().unwrap().clone();
    let count = |prefix: &str| seen.iter().filter(|t| t.starts_with(prefix)).count();
    assert_eq!(count("/api/v3/aggTrades"), 3, "{seen:#?}");
    assert_eq!(count("/api/v5/market/history-trades"), 3, "{seen:#?}");
    assert_eq!(count("/api/v2/public/"), 3);
    assert_eq!(count("/v5/market/recent-trade"), 1);
    assert_eq!(count("/products/BTC-USD/trades"), 3);
    assert_eq!(count("/fapi/v1/aggTrades"), 1);
    assert_eq!(count("/v2/trades/tBTCUSD/hist?"), 1);
    assert_eq!(seen.len(), 15, "{seen:#?}");
    assert_eq!(stats.requests.get(), 15);
    assert_eq!(stats.jobs.get(), 12);
    assert_eq!(stats.pages.get(), 7);
    assert_eq!(stats.trades.get(), 992 + 106 + 200 + 4);
    assert_eq!(stats.rate_limited.get(), 1 + 3 + 1);
    assert_eq!(stats.rate_limit_waits.get(), 1 + 2);
    assert_eq!(stats.parse_errors.get(), 1);
    assert_eq!(stats.complete.get(), 3);
    assert_eq!(stats.incomplete.get(), 9);
    // Parsed but not sent: Binance 10 + 3, OKX 14, Bybit 800; Deribit's repeated 2.
    assert_eq!(stats.outside.get(), 10 + 3 + 14 + 800);
    assert_eq!(stats.duplicates.get(), 2);
}

#[test]
fn disabled_worker_answers_unsupported_and_stops_when_feeds_go() {
    let stats = Arc::new(BackfillStats::default());
    let (mut feeds_side, worker_side) = backfill::links(1, 4);
    let handle = backfill::spawn(
        BackfillConfig {
            enabled: false,
            ..BackfillConfig::default()
        },
        table(),
        feeds::Instruments::bundled(),
        engine::instruments::default_tls(),
        worker_side,
        stats.clone(),
        StopFlag::new(),
    )
    .unwrap();
    let t0 = t0_ms();
    feeds_side[0]
        .jobs
        .try_push(job(1, BINANCE, t0, t0 + 10, 0, 0))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = loop {
        if let Some(out) = feeds_side[0].results.try_pop() {
            break out;
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    };
    assert!(matches!(
        out,
        BackfillOut::Done {
            gap: 1,
            trades: 0,
            complete: false,
            why: DoneWhy::Unsupported,
            ..
        }
    ));
    drop(feeds_side);
    handle
        .join()
        .expect("the worker ends once its feeds are gone");
    assert_eq!(stats.requests.get(), 0);
}

#[test]
fn config_section_parses_and_validates() {
    let cfg = engine::config::Config::parse(
        "[backfill]\nenabled = true\nbase_url = \"http://127.0.0.1:8400\"\ntimeout_ms = 2000\nmax_window_s = 3600\nmax_retries = 5\n",
        std::path::Path::new("test.toml"),
    )
    .unwrap();
    assert_eq!(
        cfg.backfill,
        BackfillConfig {
            enabled: true,
            base_url: "http://127.0.0.1:8400".into(),
            timeout_ms: 2000,
            max_window_s: 3600,
            max_retries: 5,
        }
    );
    assert!(cfg.validate().is_ok());
    let bad = BackfillConfig {
        base_url: "ftp://x".into(),
        ..BackfillConfig::default()
    };
    assert_eq!(bad.validate().unwrap_err().0, "backfill.base_url");
    let bad = BackfillConfig {
        timeout_ms: 0,
        ..BackfillConfig::default()
    };
    assert_eq!(bad.validate().unwrap_err().0, "backfill.timeout_ms");
}

#[test]
fn stop_interrupts_a_rate_limit_wait() {
    // Every Coinbase page: 429, retry in 60 s.
    let (base, log) = serve(|_, _| {
        (
            429,
            vec![("Retry-After", "60".to_string())],
            r#"{"message":"Public rate limit exceeded"}"#.to_string(),
        )
    });
    let stats = Arc::new(BackfillStats::default());
    let stop = StopFlag::new();
    let (mut feeds_side, worker_side) = backfill::links(1, 4);
    let handle = backfill::spawn(
        BackfillConfig {
            base_url: base,
            ..BackfillConfig::default()
        },
        table(),
        feeds::Instruments::bundled(),
        engine::instruments::default_tls(),
        worker_side,
        stats.clone(),
        stop.clone(),
    )
    .unwrap();
    let t0 = t0_ms();
    feeds_side[0]
        .jobs
        .try_push(job(1, COINBASE, t0, t0 + 10, 0, 0))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats.rate_limit_waits.get() == 0 {
        assert!(Instant::now() < deadline, "no rate-limit wait began");
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.stop();
    handle.join().expect("the worker never panics");
    assert!(matches!(
        feeds_side[0].results.try_pop(),
        Some(BackfillOut::Done {
            gap: 1,
            trades: 0,
            complete: false,
            why: DoneWhy::Stopped,
            ..
        })
    ));
    assert_eq!(log.lock().unwrap().len(), 1, "no request after the stop");
}

/// USDⓈ-M follows `@aggTrade` ids: a gap between aggregates 41 and 45 is fetched from
/// `fromId=42`, and the ticks carry `a` with `l − f + 1` fills; the aggregate after the gap
/// ends the walk, complete. (With `@trade` ids the request went by time and the ticks carried
/// `l`, which no aggregate-id hole could take.)
#[test]
fn usdm_gap_is_fetched_by_aggregate_id() {
    let t0 = t0_ms();
    let (base, log) = serve(move |target, _| {
        if target == "/fapi/v1/aggTrades?symbol=BTCUSDT&fromId=42&limit=1000" {
            let rec = |a: i64, f: i64, l: i64| {
                format!(
                    r#"{{"a":{a},"p":"65000.10","q":"0.{a:03}","f":{f},"l":{l},"T":{},"m":{}}}"#,
                    t0 + a,
                    a % 2 == 0
                )
            };
            let body = [
                rec(42, 900, 902),
                rec(43, 903, 903),
                rec(44, 905, 908),
                rec(45, 909, 909),
            ];
            return (200, Vec::new(), format!("[{}]", body.join(",")));
        }
        (
            404,
            Vec::new(),
            r#"{"code":-1,"msg":"unexpected"}"#.to_string(),
        )
    });
    let stats = Arc::new(BackfillStats::default());
    let stop = StopFlag::new();
    let (mut feeds_side, worker_side) = backfill::links(1, 64);
    let handle = backfill::spawn(
        BackfillConfig {
            base_url: base,
            ..BackfillConfig::default()
        },
        table(),
        feeds::Instruments::bundled(),
        engine::instruments::default_tls(),
        worker_side,
        stats.clone(),
        stop.clone(),
    )
    .unwrap();
    feeds_side[0]
        .jobs
        .try_push(job(1, USDM, t0, t0 + 100, 41, 45))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ticks = Vec::new();
    let done = loop {
        match feeds_side[0].results.try_pop() {
            Some(BackfillOut::Tick(t)) => ticks.push(t),
            Some(BackfillOut::Done {
                trades,
                complete,
                why,
                ..
            }) => break (trades, complete, why),
            None => {
                assert!(Instant::now() < deadline, "no Done");
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    };
    stop.stop();
    handle.join().expect("the worker never panics");
    assert_eq!(done, (3, true, DoneWhy::Ok));
    let got: Vec<(u64, u32)> = ticks.iter().map(|t| (t.trade_id, t.fills)).collect();
    assert_eq!(got, [(42, 3), (43, 1), (44, 4)]);
    assert!(ticks.iter().all(|t| t.market == USDM && t.price == 65000.1));
    assert_eq!(
        *log.lock().unwrap(),
        ["/fapi/v1/aggTrades?symbol=BTCUSDT&fromId=42&limit=1000"]
    );
}
