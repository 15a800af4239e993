//! The simulators' REST trade endpoints against their WebSocket streams: every trade frame is
//! collected with a tungstenite client and decoded by the real `feeds` decoders, then the same
//! window is fetched over plain HTTP and must hold exactly the same trades (ids, times, price,
//! size text, side), page by page; plus window bounds, errors and the fault modes.

use feeds::{Decimal, EventKind, Frame, Side, Venue};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tools::sim::venues::{VenueSim, VenueSimConfig};
use tools::sim::{FaultKind, HistoryConfig, RestConfig, RestServer, SimConfig, Simulator};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

/// One trade, as either side reports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Norm {
    ts_us: i64,
    id: Option<u64>,
    price: (i64, u8),
    buy: bool,
}

/// A decoded WebSocket trade and the frame that carried it.
#[derive(Debug, Clone)]
struct Streamed {
    norm: Norm,
    frame: String,
}

/// An HTTP reply.
#[derive(Debug)]
struct Http {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Http {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// `GET base+target` over a plain TCP socket; `None` if the server hung up without a reply.
fn get(base: &str, target: &str) -> Option<Http> {
    let addr = base.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    if s.read_to_end(&mut raw).is_err() || raw.is_empty() {
        return None;
    }
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    Some(Http {
        status,
        headers,
        body: body.to_owned(),
    })
}

fn ok(base: &str, target: &str) -> Value {
    let r = get(base, target).unwrap_or_else(|| panic!("{target}: hung up"));
    assert_eq!(r.status, 200, "{target}: {}", r.body);
    r.json()
}

fn dec(text: &str) -> (i64, u8) {
    Decimal::parse(text.as_bytes())
        .unwrap_or_else(|| panic!("not a decimal: {text}"))
        .normalized()
}

fn connect(url: &str) -> Ws {
    let (ws, _) = tungstenite::connect(url).unwrap_or_else(|e| panic!("connect {url}: {e}"));
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    }
    ws
}

/// Reads until `done` or nothing arrived for `idle` after `done_generating` said so.
fn collect(
    ws: &mut Ws,
    venue: Venue,
    out: &mut Vec<Streamed>,
    limit: Duration,
    mut done_generating: impl FnMut() -> bool,
) {
    let mut decoder = venue.decoder();
    let start = Instant::now();
    let mut quiet_since: Option<Instant> = None;
    while start.elapsed() < limit {
        let msg = match ws.read() {
            Ok(m) => m,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if done_generating() {
                    let q = *quiet_since.get_or_insert_with(Instant::now);
                    if q.elapsed() > Duration::from_millis(300) {
                        return;
                    }
                }
                continue;
            }
            Err(e) => panic!("{venue}: websocket: {e}"),
        };
        quiet_since = None;
        let mut bytes = match msg {
            Message::Text(t) => t.as_bytes().to_vec(),
            Message::Binary(b) => b.to_vec(),
            _ => continue,
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut events = Vec::new();
        match decoder.decode(&mut bytes, &mut |e| events.push(e)) {
            Ok(Frame::Data(_) | Frame::Snapshot(_)) => {}
            Ok(Frame::Ping(n)) => {
                ws.send(Message::text(feeds::huobi::pong_message(n)))
                    .unwrap();
            }
            Ok(_) => {}
            Err(e) => panic!("{venue}: decode error {e}: {text}"),
        }
        for e in events.into_iter().filter(|e| e.kind == EventKind::Trade) {
            out.push(Streamed {
                norm: Norm {
                    ts_us: e.ts_us,
                    id: e.trade_id,
                    price: e.price.normalized(),
                    buy: e.side == Side::Buy,
                },
                frame: text.clone(),
            });
        }
    }
    panic!("{venue}: trades did not stop within {limit:?}");
}

fn sorted(mut v: Vec<Norm>) -> Vec<Norm> {
    v.sort();
    v.dedup();
    v
}

/// Every REST record must be one streamed trade, its size text in the frame that carried it.
fn assert_same(venue: Venue, streamed: &[Streamed], rest: &[(Norm, String)]) {
    let ws = sorted(streamed.iter().map(|s| s.norm.clone()).collect());
    let got = sorted(rest.iter().map(|(n, _)| n.clone()).collect());
    assert_eq!(got.len(), rest.len(), "{venue}: REST repeated a trade");
    assert_eq!(ws.len(), got.len(), "{venue}: count");
    assert_eq!(ws, got, "{venue}: REST differs from the stream");
    for (n, size) in rest {
        let s = streamed.iter().find(|s| s.norm == *n).unwrap();
        assert!(
            s.frame.contains(size.as_str()),
            "{venue}: size {size} not in {}",
            s.frame
        );
    }
}

// ---- Binance spot and USDⓈ-M ----

#[test]
fn binance_agg_trades_match_the_stream() {
    let max = 2400;
    let sim = Simulator::start(SimConfig {
        symbols: vec!["BTCUSDT".into()],
        trades_per_sec: 1500.0,
        non_market_prob: 0.05,
        seed: 11,
        max_trades: Some(max),
        spot_ping: Duration::ZERO,
        futures_ping: Duration::ZERO,
        history: HistoryConfig {
            max_per_market: 10_000,
            max_age: None,
        },
        ..SimConfig::default()
    })
    .unwrap();
    let rest = RestServer::start_with(RestConfig {
        histories: vec![sim.history()],
        ..RestConfig::default()
    })
    .unwrap();
    let base = rest.base_url();
    let mut spot_ws = connect(&format!("{}/ws/btcusdt@trade", sim.spot_url()));
    // USDⓈ-M as the engine reads it: `@aggTrade` on its route, `/market`.
    let mut fut_ws = connect(&format!("{}/market/ws/btcusdt@aggTrade", sim.futures_url()));
    let generated = || {
        let s = sim.stats();
        s.spot.trades_generated + s.futures.trades_generated == max
    };
    let (mut spot, mut fut) = (Vec::new(), Vec::new());
    collect(
        &mut spot_ws,
        Venue::BinanceSpot,
        &mut spot,
        Duration::from_secs(15),
        generated,
    );
    collect(
        &mut fut_ws,
        Venue::BinanceUsdm,
        &mut fut,
        Duration::from_secs(5),
        generated,
    );
    let st = sim.stats();
    assert_eq!(spot.len() as u64, st.spot.trades_generated);
    // Aggregates: fewer than the fills generated (multi-fill orders; insurance-fund/ADL
    // prints are not aggregated, on the stream or over REST).
    assert!(
        (fut.len() as u64) < st.futures.trades_generated,
        "aggregates of several fills and non-market prints exist"
    );

    for (venue, path, streamed) in [
        (Venue::BinanceSpot, "/api/v3/aggTrades", &spot),
        (Venue::BinanceUsdm, "/fapi/v1/aggTrades", &fut),
    ] {
        assert!(streamed.len() > 500, "{venue}: {}", streamed.len());
        let first = streamed.iter().map(|s| s.norm.ts_us).min().unwrap() / 1000;
        let last = streamed.iter().map(|s| s.norm.ts_us).max().unwrap() / 1000;
        // Page by fromId inside the window, 400 a page.
        let mut rows: Vec<(Norm, String)> = Vec::new();
        let mut target =
            format!("{path}?symbol=BTCUSDT&startTime={first}&endTime={last}&limit=400");
        let mut pages = 0;
        let mut last_a = None::<u64>;
        let mut several = 0;
        // The id the stream carries: spot `@trade` `t` (= `f` = `l` here), USDⓈ-M `a`.
        let id_key = if venue == Venue::BinanceSpot {
            "f"
        } else {
            "a"
        };
        loop {
            let page = ok(&base, &target);
            let page = page.as_array().unwrap();
            pages += 1;
            for r in page {
                let a = r["a"].as_u64().unwrap();
                if let Some(prev) = last_a {
                    assert_eq!(a, prev + 1, "{venue}: aggregate ids contiguous");
                }
                last_a = Some(a);
                let (f, l) = (r["f"].as_u64().unwrap(), r["l"].as_u64().unwrap());
                if venue == Venue::BinanceSpot {
                    assert_eq!(f, l, "spot orders are single fills here");
                }
                assert!(f <= l);
                several += usize::from(l > f);
                assert_eq!(r.get("M").is_some(), venue == Venue::BinanceSpot);
                let t = r["T"].as_i64().unwrap();
                assert!(t >= first && t <= last);
                rows.push((
                    Norm {
                        ts_us: t * 1000,
                        id: r[id_key].as_u64(),
                        price: dec(r["p"].as_str().unwrap()),
                        buy: !r["m"].as_bool().unwrap(),
                    },
                    format!(r#""q":"{}""#, r["q"].as_str().unwrap()),
                ));
            }
            if page.len() < 400 {
                break;
            }
            target = format!(
                "{path}?symbol=BTCUSDT&fromId={}&endTime={last}&limit=400",
                last_a.unwrap() + 1
            );
        }
        assert!(pages >= 2, "{venue}: more than one page");
        if venue == Venue::BinanceUsdm {
            assert!(several > 0, "aggregates of several fills");
        }
        assert_same(venue, streamed, &rows);

        // A narrower window returns exactly the trades inside it.
        let mid = (first + last) / 2;
        let page = ok(
            &base,
            &format!("{path}?symbol=BTCUSDT&startTime={mid}&endTime={last}&limit=1000"),
        );
        let want = streamed
            .iter()
            .filter(|s| s.norm.ts_us / 1000 >= mid)
            .count();
        assert_eq!(page.as_array().unwrap().len(), want, "{venue}: window");
        // Without a window: the newest `limit`.
        let page = ok(&base, &format!("{path}?symbol=btcusdt&limit=3"));
        let newest: Vec<u64> = page
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[id_key].as_u64().unwrap())
            .collect();
        let mut ids: Vec<u64> = streamed.iter().filter_map(|s| s.norm.id).collect();
        ids.sort_unstable();
        assert_eq!(newest, ids[ids.len() - 3..]);

        // Errors in Binance's format.
        let r = get(&base, &format!("{path}?symbol=NOPEUSDT")).unwrap();
        assert_eq!((r.status, r.json()["code"].as_i64()), (400, Some(-1121)));
        let r = get(
            &base,
            &format!("{path}?symbol=BTCUSDT&startTime=0&endTime=3600001"),
        )
        .unwrap();
        assert_eq!((r.status, r.json()["code"].as_i64()), (400, Some(-1127)));
        let r = get(&base, &format!("{path}?limit=5")).unwrap();
        assert_eq!((r.status, r.json()["code"].as_i64()), (400, Some(-1102)));
    }

    // Faults: 500, hang-up, 429 and 418 with Retry-After, then normal service.
    let faults = rest.faults();
    let path = "/api/v3/aggTrades";
    let target = format!("{path}?symbol=BTCUSDT&limit=1");
    let before = faults.requests(path);
    faults.fail_next(Some(path), 1, FaultKind::Status500);
    faults.fail_next(Some(path), 1, FaultKind::Hangup);
    faults.fail_next(Some(path), 1, FaultKind::RateLimited { retry_after_s: 3 });
    faults.fail_next(Some(path), 1, FaultKind::Banned { retry_after_s: 9 });
    // Another endpoint is not affected by path-scoped faults.
    assert_eq!(
        ok(&base, "/fapi/v1/aggTrades?symbol=BTCUSDT&limit=1")
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let r = get(&base, &target).unwrap();
    assert_eq!((r.status, r.json()["code"].as_i64()), (500, Some(-1000)));
    assert!(get(&base, &target).is_none(), "hang-up");
    let r = get(&base, &target).unwrap();
    assert_eq!((r.status, r.json()["code"].as_i64()), (429, Some(-1003)));
    assert_eq!(r.headers.get("retry-after").map(String::as_str), Some("3"));
    let r = get(&base, &target).unwrap();
    assert_eq!((r.status, r.json()["code"].as_i64()), (418, Some(-1003)));
    assert_eq!(r.headers.get("retry-after").map(String::as_str), Some("9"));
    assert!(r.json()["msg"].as_str().unwrap().contains("banned until"));
    assert_eq!(ok(&base, &target).as_array().unwrap().len(), 1);
    assert_eq!(faults.requests(path), before + 5);
    assert_eq!(faults.faults_played(), 4);
    // A request rate limit: within one second, requests beyond 2 get 429.
    faults.limit_rate(Some(2));
    let statuses: Vec<u16> = (0..4)
        .map(|_| get(&base, &target).unwrap().status)
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(statuses[0], 200);
    faults.clear();
    drop((spot_ws, fut_ws));
    sim.stop();
}

// ---- the other venues ----

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn parse_rfc3339_us(s: &str) -> i64 {
    // 2026-11-24T10:00:00.123456Z
    let (date, time) = s.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let mut f = frac.to_owned();
    f.truncate(6);
    while f.len() < 6 {
        f.push('0');
    }
    (days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]) * 1_000_000 + f.parse::<i64>().unwrap()
}

/// Bybit's derivatives execId folded as the decoder folds UUIDs (XOR of the halves).
fn fold_uuid(s: &str) -> u64 {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    let v = u128::from_str_radix(&hex, 16).unwrap();
    ((v >> 64) as u64) ^ (v as u64)
}

const PAGE: usize = 50;

/// Fetches everything REST has for one market, page by page, as (trade, size text in WS).
fn fetch_all(
    venue: Venue,
    base: &str,
    sym: &str,
    first_ms: i64,
    last_ms: i64,
) -> (Vec<(Norm, String)>, usize) {
    let mut rows = Vec::new();
    let mut pages = 0;
    match venue {
        Venue::BybitLinear | Venue::BybitInverse | Venue::BybitSpot => {
            let cat = match venue {
                Venue::BybitLinear => "linear",
                Venue::BybitInverse => "inverse",
                _ => "spot",
            };
            let v = ok(
                base,
                &format!("/v5/market/recent-trade?category={cat}&symbol={sym}&limit=1000"),
            );
            assert_eq!(v["retCode"], 0);
            assert_eq!(v["result"]["category"], cat);
            pages = 1;
            let list = v["result"]["list"].as_array().unwrap();
            let times: Vec<i64> = list
                .iter()
                .map(|r| r["time"].as_str().unwrap().parse().unwrap())
                .collect();
            assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
            for r in list {
                let exec = r["execId"].as_str().unwrap();
                let id = if venue == Venue::BybitSpot {
                    exec.parse().unwrap()
                } else {
                    fold_uuid(exec)
                };
                rows.push((
                    Norm {
                        ts_us: r["time"].as_str().unwrap().parse::<i64>().unwrap() * 1000,
                        id: Some(id),
                        price: dec(r["price"].as_str().unwrap()),
                        buy: r["side"] == "Buy",
                    },
                    format!(r#""v":"{}""#, r["size"].as_str().unwrap()),
                ));
            }
        }
        Venue::OkxSwap | Venue::OkxSpot => {
            let mut after = String::new();
            loop {
                let v = ok(
                    base,
                    &format!(
                        "/api/v5/market/history-trades?instId={sym}&type=1&limit={PAGE}{after}"
                    ),
                );
                assert_eq!(v["code"], "0");
                let data = v["data"].as_array().unwrap();
                pages += 1;
                for r in data {
                    rows.push((
                        Norm {
                            ts_us: r["ts"].as_str().unwrap().parse::<i64>().unwrap() * 1000,
                            id: r["tradeId"].as_str().unwrap().parse().ok(),
                            price: dec(r["px"].as_str().unwrap()),
                            buy: r["side"] == "buy",
                        },
                        format!(r#""sz":"{}""#, r["sz"].as_str().unwrap()),
                    ));
                }
                if data.len() < PAGE {
                    break;
                }
                after = format!(
                    "&after={}",
                    data.last().unwrap()["tradeId"].as_str().unwrap()
                );
            }
        }
        Venue::Coinbase => {
            let mut after = String::new();
            loop {
                let r = get(base, &format!("/products/{sym}/trades?limit={PAGE}{after}")).unwrap();
                assert_eq!(r.status, 200);
                let v = r.json();
                let data = v.as_array().unwrap();
                pages += 1;
                if let Some(last) = data.last() {
                    assert_eq!(
                        r.headers.get("cb-after").unwrap(),
                        &last["trade_id"].to_string()
                    );
                    assert_eq!(
                        r.headers.get("cb-before").unwrap(),
                        &data[0]["trade_id"].to_string()
                    );
                }
                for t in data {
                    rows.push((
                        Norm {
                            ts_us: parse_rfc3339_us(t["time"].as_str().unwrap()),
                            id: t["trade_id"].as_u64(),
                            price: dec(t["price"].as_str().unwrap()),
                            buy: t["side"] == "sell", // the maker's side
                        },
                        format!(r#""size":"{}""#, t["size"].as_str().unwrap()),
                    ));
                }
                if data.len() < PAGE {
                    break;
                }
                after = format!("&after={}", r.headers.get("cb-after").unwrap());
            }
        }
        Venue::KrakenSpot => {
            let mut since = format!("{}", first_ms / 1000 - 1);
            loop {
                let target = format!("/0/public/Trades?pair=XBTUSD&since={since}&count={PAGE}");
                let raw = get(base, &target).unwrap().body;
                // The times as written (a JSON float would lose the last microsecond digits).
                let times: Vec<String> = raw
                    .split('[')
                    .skip(3)
                    .map(|row| row.split(',').nth(2).unwrap().to_owned())
                    .collect();
                let v = ok(base, &target);
                assert_eq!(v["error"].as_array().unwrap().len(), 0, "{v}");
                let data = v["result"]["XXBTZUSD"].as_array().unwrap();
                pages += 1;
                assert_eq!(times.len(), data.len());
                for (t, time) in data.iter().zip(&times) {
                    let (s, us) = time.split_once('.').unwrap();
                    assert_eq!(us.len(), 6, "{time}");
                    let q = t[1].as_str().unwrap();
                    rows.push((
                        Norm {
                            ts_us: s.parse::<i64>().unwrap() * 1_000_000
                                + us.parse::<i64>().unwrap(),
                            id: t[6].as_u64(),
                            price: dec(t[0].as_str().unwrap()),
                            buy: t[3] == "b",
                        },
                        format!(r#""qty":{q}"#),
                    ));
                }
                since = v["result"]["last"].as_str().unwrap().to_owned();
                if data.is_empty() {
                    break;
                }
            }
        }
        Venue::Bitmex => {
            let iso = |ms: i64| {
                let secs = ms / 1000;
                // via the simulator's own format: reuse a trade timestamp shape.
                let days = secs / 86_400;
                let z = days + 719_468;
                let era = z.div_euclid(146_097);
                let doe = z.rem_euclid(146_097);
                let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
                let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
                let mp = (5 * doy + 2) / 153;
                let d = doy - (153 * mp + 2) / 5 + 1;
                let m = if mp < 10 { mp + 3 } else { mp - 9 };
                let y = yoe + era * 400 + i64::from(m <= 2);
                let sod = secs % 86_400;
                format!(
                    "{y:04}-{m:02}-{d:02}T{:02}%3A{:02}%3A{:02}.{:03}Z",
                    sod / 3600,
                    sod / 60 % 60,
                    sod % 60,
                    ms % 1000
                )
            };
            let mut start = 0;
            loop {
                let v = ok(base, &format!(
                    "/api/v1/trade?symbol={sym}&startTime={}&endTime={}&count={PAGE}&start={start}&reverse=false",
                    iso(first_ms),
                    iso(last_ms)
                ));
                let data = v.as_array().unwrap();
                pages += 1;
                for t in data {
                    rows.push((
                        Norm {
                            ts_us: parse_rfc3339_us(t["timestamp"].as_str().unwrap()),
                            id: None,
                            price: dec(&t["price"].to_string()),
                            buy: t["side"] == "Buy",
                        },
                        format!(r#""size":{},"#, t["size"]),
                    ));
                }
                if data.len() < PAGE {
                    break;
                }
                start += PAGE;
            }
        }
        Venue::Deribit => {
            let mut from = first_ms;
            loop {
                let v = ok(base, &format!(
                    "/api/v2/public/get_last_trades_by_instrument_and_time?instrument_name={sym}&start_timestamp={from}&end_timestamp={last_ms}&count={PAGE}&sorting=asc"
                ));
                let res = &v["result"];
                let data = res["trades"].as_array().unwrap();
                pages += 1;
                for t in data {
                    let id = t["trade_id"].as_str().unwrap();
                    let id = id.rsplit('-').next().unwrap().parse().ok();
                    let row = (
                        Norm {
                            ts_us: t["timestamp"].as_i64().unwrap() * 1000,
                            id,
                            price: dec(&t["price"].to_string()),
                            buy: t["direction"] == "buy",
                        },
                        format!(r#""amount":{},"#, t["amount"]),
                    );
                    if !rows.contains(&row) {
                        rows.push(row);
                    }
                }
                if !res["has_more"].as_bool().unwrap() {
                    assert!(data.len() <= PAGE);
                    break;
                }
                assert_eq!(data.len(), PAGE);
                from = data.last().unwrap()["timestamp"].as_i64().unwrap();
            }
        }
        Venue::Bitfinex => {
            let mut from = first_ms;
            loop {
                let v = ok(
                    base,
                    &format!(
                        "/v2/trades/{sym}/hist?start={from}&end={last_ms}&limit={PAGE}&sort=1"
                    ),
                );
                let data = v.as_array().unwrap();
                pages += 1;
                for t in data {
                    let amount = t[2].to_string();
                    let row = (
                        Norm {
                            ts_us: t[1].as_i64().unwrap() * 1000,
                            id: t[0].as_u64(),
                            price: dec(&t[3].to_string()),
                            buy: !amount.starts_with('-'),
                        },
                        format!(",{amount},"),
                    );
                    if !rows.contains(&row) {
                        rows.push(row);
                    }
                }
                if data.len() < PAGE {
                    break;
                }
                from = data.last().unwrap()[1].as_i64().unwrap();
            }
        }
        Venue::BinanceCoinm => {
            let mut target = format!("/dapi/v1/aggTrades?symbol={sym}&startTime={first_ms}&endTime={last_ms}&limit={PAGE}");
            loop {
                let v = ok(base, &target);
                let data = v.as_array().unwrap();
                pages += 1;
                for r in data {
                    rows.push((
                        Norm {
                            ts_us: r["T"].as_i64().unwrap() * 1000,
                            id: r["a"].as_u64(),
                            price: dec(r["p"].as_str().unwrap()),
                            buy: !r["m"].as_bool().unwrap(),
                        },
                        format!(r#""q":"{}""#, r["q"].as_str().unwrap()),
                    ));
                }
                if data.len() < PAGE {
                    break;
                }
                let next = data.last().unwrap()["a"].as_u64().unwrap() + 1;
                target = format!(
                    "/dapi/v1/aggTrades?symbol={sym}&fromId={next}&endTime={last_ms}&limit={PAGE}"
                );
            }
        }
        other => panic!("no REST trades for {other}"),
    }
    (rows, pages)
}

#[test]
fn every_venue_rest_matches_the_stream() {
    let venues: Vec<(Venue, &str)> = vec![
        (Venue::BinanceCoinm, "BTCUSD_PERP"),
        (Venue::BybitLinear, "BTCUSDT"),
        (Venue::BybitInverse, "BTCUSD"),
        (Venue::BybitSpot, "BTCUSDT"),
        (Venue::OkxSwap, "BTC-USDT-SWAP"),
        (Venue::OkxSpot, "BTC-USDT"),
        (Venue::Coinbase, "BTC-USD"),
        (Venue::KrakenSpot, "BTC/USD"),
        (Venue::Bitmex, "XBTUSD"),
        (Venue::Deribit, "ETH-PERPETUAL"),
        (Venue::Bitfinex, "tBTCUSD"),
    ];
    let per = 180u64;
    let max = per * venues.len() as u64;
    let sim = VenueSim::start(VenueSimConfig {
        markets: venues
            .iter()
            .map(|(v, s)| (*v, vec![(*s).to_owned()]))
            .collect(),
        trades_per_sec: 400.0,
        burst_prob: 0.1,
        liquidations_per_sec: 0.0,
        open_interest_every: Duration::ZERO,
        seed: 9,
        max_trades: Some(max),
        keepalive_scale: 1.0,
        // Exactly the streamed trades in the history (the markets' past before the first
        // subscriber is checked in `rest_serves_the_markets_past_as_the_snapshot_does`).
        backlog: 0,
        ..VenueSimConfig::default()
    })
    .unwrap();
    let rest = RestServer::start_with(RestConfig {
        histories: vec![sim.history()],
        ..RestConfig::default()
    })
    .unwrap();
    let base = rest.base_url();
    // Subscribe everywhere first (a market trades only while subscribed), then read.
    let mut clients: Vec<(Venue, &str, Ws)> = venues
        .iter()
        .map(|(venue, sym)| {
            let wsbase = sim.base_url(*venue).unwrap();
            let mut plans = feeds::plan::plan(*venue, Some(&wsbase), &[sym], now_s()).unwrap();
            let p = plans.remove(0);
            let mut ws = connect(&p.url);
            for m in &p.subscribe {
                ws.send(Message::text(m.clone())).unwrap();
            }
            (*venue, *sym, ws)
        })
        .collect();
    let generated = || sim.all_stats().iter().map(|s| s.trades_sent()).sum::<u64>() >= max;
    let mut total = 0;
    for (venue, sym, ws) in &mut clients {
        let mut streamed = Vec::new();
        collect(
            ws,
            *venue,
            &mut streamed,
            Duration::from_secs(15),
            generated,
        );
        total += streamed.len();
        assert!(
            streamed.len() > PAGE * 2,
            "{venue}: only {} trades",
            streamed.len()
        );
        let first_ms = streamed.iter().map(|s| s.norm.ts_us).min().unwrap() / 1000;
        let last_ms = streamed.iter().map(|s| s.norm.ts_us).max().unwrap() / 1000;
        if *venue == Venue::Bitmex {
            // The decoder has no id for BitMEX's GUID match ids.
            for s in &mut streamed {
                s.norm.id = None;
            }
        }
        let (rows, pages) = fetch_all(*venue, &base, sym, first_ms, last_ms);
        if !matches!(
            venue,
            Venue::BybitLinear | Venue::BybitInverse | Venue::BybitSpot
        ) {
            assert!(pages > 2, "{venue}: {pages} pages");
        }
        if *venue == Venue::BybitSpot {
            // Bybit spot lists at most 60 recent trades.
            assert_eq!(rows.len(), 60);
            let mut newest: Vec<Streamed> = streamed.clone();
            newest.sort_by_key(|s| s.norm.clone());
            let cut = newest.len() - 60;
            assert_same(*venue, &newest[cut..], &rows);
        } else {
            assert_same(*venue, &streamed, &rows);
        }
        assert_eq!(
            sim.history().len(*venue, sym),
            streamed.len(),
            "{venue}: history"
        );
    }
    assert_eq!(total as u64, max);

    // Unknown symbols, in each venue's error format.
    let r = get(
        &base,
        "/v5/market/recent-trade?category=linear&symbol=NOPEUSDT",
    )
    .unwrap();
    assert_eq!(r.json()["retCode"], 10001);
    let r = get(
        &base,
        "/v5/market/recent-trade?category=nope&symbol=BTCUSDT",
    )
    .unwrap();
    assert_eq!(r.json()["retCode"], 10001);
    assert_eq!(
        ok(&base, "/api/v5/market/history-trades?instId=NOPE-USDT-SWAP")["code"],
        "51001"
    );
    let r = get(&base, "/products/NOPE-USD/trades").unwrap();
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (404, Some("NotFound"))
    );
    assert_eq!(
        ok(&base, "/0/public/Trades?pair=NOPEUSD")["error"][0],
        "EQuery:Unknown asset pair"
    );
    assert_eq!(get(&base, "/api/v1/trade?symbol=NOPE").unwrap().status, 404);
    let r = get(&base, "/api/v2/public/get_last_trades_by_instrument_and_time?instrument_name=NOPE&start_timestamp=0&end_timestamp=1").unwrap();
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_i64()),
        (400, Some(-32602))
    );
    let r = get(&base, "/v2/trades/tNOPE/hist").unwrap();
    assert_eq!((r.status, r.json()[0].as_str()), (500, Some("error")));
    let r = get(&base, "/dapi/v1/aggTrades?symbol=NOPEUSD_PERP").unwrap();
    assert_eq!((r.status, r.json()["code"].as_i64()), (400, Some(-1121)));
    // A window: Bitfinex newest first by default, inside start..end.
    let v = ok(&base, "/v2/trades/tBTCUSD/hist?limit=5");
    let ids: Vec<u64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t[0].as_u64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");

    // Rate limits and failures in each venue's format, with Retry-After.
    let faults = rest.faults();
    for (target, check) in [
        ("/v5/market/recent-trade?category=linear&symbol=BTCUSDT", r#""retCode":10006"#),
        ("/api/v5/market/history-trades?instId=BTC-USDT-SWAP", r#""code":"50011""#),
        ("/products/BTC-USD/trades", "Public rate limit exceeded"),
        ("/0/public/Trades?pair=XBTUSD", "EAPI:Rate limit exceeded"),
        ("/api/v1/trade?symbol=XBTUSD", "RateLimitError"),
        ("/api/v2/public/get_last_trades_by_instrument_and_time?instrument_name=ETH-PERPETUAL&start_timestamp=0&end_timestamp=1", r#""code":10028"#),
        ("/v2/trades/tBTCUSD/hist", "ERR_RATE_LIMIT"),
    ] {
        faults.fail_next(None, 1, FaultKind::RateLimited { retry_after_s: 2 });
        let r = get(&base, target).unwrap();
        assert_eq!(r.status, 429, "{target}");
        assert!(r.body.contains(check), "{target}: {}", r.body);
        assert_eq!(r.headers.get("retry-after").map(String::as_str), Some("2"));
        faults.fail_next(None, 1, FaultKind::Status500);
        assert_eq!(get(&base, target).unwrap().status, 500, "{target}");
        assert_eq!(get(&base, target).unwrap().status, 200, "{target}");
        let path = target.split('?').next().unwrap();
        assert!(faults.requests(path) >= 3, "{path}");
    }
    drop(clients);
    sim.stop();
}

/// Issue 16 §4: a market's past (before anyone subscribed) is on REST, and the snapshot the
/// first WebSocket subscriber gets is the newest of those same trades.
#[test]
fn rest_serves_the_markets_past_as_the_snapshot_does() {
    let venue = Venue::KrakenSpot;
    let sim = VenueSim::start(VenueSimConfig {
        markets: vec![(venue, vec!["BTC/USD".to_owned()])],
        trades_per_sec: 50.0,
        liquidations_per_sec: 0.0,
        open_interest_every: Duration::ZERO,
        ..VenueSimConfig::default()
    })
    .unwrap();
    let rest = RestServer::start_with(RestConfig {
        histories: vec![sim.history()],
        ..RestConfig::default()
    })
    .unwrap();
    // Nobody is subscribed yet: REST already holds the market's recent trades.
    let v = ok(&rest.base_url(), "/0/public/Trades?pair=XBTUSD&count=1000");
    let past: Vec<u64> = v["result"]["XXBTZUSD"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t[6].as_u64().unwrap())
        .collect();
    let backlog = VenueSimConfig::default().backlog;
    assert_eq!(past.len(), backlog);
    assert!(past.windows(2).all(|w| w[1] == w[0] + 1), "{past:?}");
    // Kraken v2 with the snapshot (its default): the last 50 of them.
    let mut ws = connect(&format!("{}/v2", sim.base_url(venue).unwrap()));
    ws.send(Message::text(
        r#"{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD"]}}"#,
    ))
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let snapshot = loop {
        assert!(Instant::now() < deadline, "no snapshot");
        let text = match ws.read() {
            Ok(Message::Text(t)) => t.as_str().to_owned(),
            _ => continue,
        };
        let v: Value = serde_json::from_str(&text).unwrap();
        if v["type"] == "snapshot" {
            break v;
        }
    };
    let ids: Vec<u64> = snapshot["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trade_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, past[past.len() - 50..]);
    drop(ws);
    sim.stop();
}

/// The instrument lists ccxt's `fetchMarkets` asks for: every Bybit category and OKX instrument
/// type in the venue's envelope, the simulated markets in them.
#[test]
fn instruments_list_every_category_ccxt_asks_for() {
    let sim = VenueSim::start(VenueSimConfig {
        markets: vec![
            (
                Venue::BybitSpot,
                vec!["BTCUSDT".to_owned(), "ETHUSDT".to_owned()],
            ),
            (Venue::BybitLinear, vec!["BTCUSDT".to_owned()]),
            (Venue::BybitInverse, vec!["BTCUSD".to_owned()]),
            (Venue::OkxSpot, vec!["BTC-USDT".to_owned()]),
            (Venue::OkxSwap, vec!["BTC-USDT-SWAP".to_owned()]),
            (
                Venue::KrakenSpot,
                vec!["BTC/USD".to_owned(), "SOL/USD".to_owned()],
            ),
        ],
        trades_per_sec: 0.0,
        ..VenueSimConfig::default()
    })
    .unwrap();
    let rest = RestServer::start_with(RestConfig {
        histories: vec![sim.history()],
        ..RestConfig::default()
    })
    .unwrap();
    let base = rest.base_url();
    let symbols = |v: &Value, list: &str, key: &str| -> Vec<String> {
        v[list]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .iter()
            .map(|i| i[key].as_str().unwrap().to_owned())
            .collect()
    };
    // Bybit: spot and linear list the simulated markets (they were empty lists).
    let spot = ok(&base, "/v5/market/instruments-info?category=spot");
    assert_eq!(
        (
            spot["retCode"].as_i64(),
            spot["result"]["category"].as_str()
        ),
        (Some(0), Some("spot"))
    );
    assert_eq!(
        symbols(&spot["result"], "list", "symbol"),
        ["BTCUSDT", "ETHUSDT"]
    );
    assert_eq!(spot["result"]["list"][0]["baseCoin"], "BTC");
    assert_eq!(spot["result"]["list"][0]["quoteCoin"], "USDT");
    assert_eq!(spot["result"]["list"][0]["priceFilter"]["tickSize"], "0.1");
    let linear = ok(
        &base,
        "/v5/market/instruments-info?category=linear&limit=1000",
    );
    assert_eq!(symbols(&linear["result"], "list", "symbol"), ["BTCUSDT"]);
    assert_eq!(
        linear["result"]["list"][0]["contractType"],
        "LinearPerpetual"
    );
    assert_eq!(linear["result"]["list"][0]["settleCoin"], "USDT");
    let inverse = ok(
        &base,
        "/v5/market/instruments-info?category=inverse&limit=1000",
    );
    assert!(symbols(&inverse["result"], "list", "symbol").contains(&"BTCUSD".to_owned()));
    let option = ok(
        &base,
        "/v5/market/instruments-info?category=option&baseCoin=BTC",
    );
    assert_eq!(option["retCode"], 0);
    assert_eq!(option["result"]["list"], serde_json::json!([]));
    let bad = ok(&base, "/v5/market/instruments-info?category=nope");
    assert_eq!(bad["retCode"], 10001);
    // OKX: SPOT was error 51000.
    let spot = ok(&base, "/api/v5/public/instruments?instType=SPOT");
    assert_eq!(spot["code"], "0", "{spot}");
    assert_eq!(symbols(&spot, "data", "instId"), ["BTC-USDT"]);
    assert_eq!(spot["data"][0]["baseCcy"], "BTC");
    assert_eq!(spot["data"][0]["quoteCcy"], "USDT");
    let swap = ok(&base, "/api/v5/public/instruments?instType=SWAP");
    assert!(symbols(&swap, "data", "instId").contains(&"BTC-USDT-SWAP".to_owned()));
    let futures = ok(&base, "/api/v5/public/instruments?instType=FUTURES");
    assert_eq!(futures["code"], "0");
    // OPTION needs an underlying, as on OKX; there are none here.
    let option = ok(&base, "/api/v5/public/instruments?instType=OPTION");
    assert_eq!(option["code"], "50014");
    let option = ok(
        &base,
        "/api/v5/public/instruments?instType=OPTION&uly=BTC-USD",
    );
    assert_eq!(
        (
            option["code"].as_str(),
            option["data"].as_array().map(Vec::len)
        ),
        (Some("0"), Some(0))
    );
    let uly = ok(&base, "/api/v5/public/underlying?instType=OPTION");
    assert_eq!(uly["data"], serde_json::json!([[]]));
    assert_eq!(
        ok(&base, "/api/v5/public/instruments?instType=NOPE")["code"],
        "51000"
    );
    // Kraken: the pairs keyed by their canonical names; `wsname` is Kraken's own (`XBT/USD`).
    let pairs = ok(&base, "/0/public/AssetPairs");
    assert_eq!(pairs["error"], serde_json::json!([]));
    let btc = &pairs["result"]["XXBTZUSD"];
    assert_eq!(
        (
            btc["altname"].as_str(),
            btc["wsname"].as_str(),
            btc["base"].as_str(),
            btc["quote"].as_str()
        ),
        (Some("XBTUSD"), Some("XBT/USD"), Some("XXBT"), Some("ZUSD")),
        "{pairs}"
    );
    assert_eq!(btc["tick_size"], "0.1");
    assert_eq!(pairs["result"]["SOLUSD"]["wsname"], "SOL/USD", "{pairs}");
    sim.stop();
}

/// Deribit names the parameter that is wrong; `get_last_trades_by_instrument` (ccxt's
/// `fetchTrades` without `since`) answers too.
#[test]
fn deribit_trade_errors_name_the_parameter() {
    let venue = Venue::Deribit;
    let sim = VenueSim::start(VenueSimConfig {
        markets: vec![(venue, vec!["BTC-PERPETUAL".to_owned()])],
        trades_per_sec: 20.0,
        ..VenueSimConfig::default()
    })
    .unwrap();
    let rest = RestServer::start_with(RestConfig {
        histories: vec![sim.history()],
        ..RestConfig::default()
    })
    .unwrap();
    let base = rest.base_url();
    let path =
        "/api/v2/public/get_last_trades_by_instrument_and_time?instrument_name=BTC-PERPETUAL";
    for (query, param, reason) in [
        ("&end_timestamp=1", "start_timestamp", "missing"),
        ("&start_timestamp=0", "end_timestamp", "missing"),
        (
            "&start_timestamp=0&end_timestamp=x",
            "end_timestamp",
            "must be an integer",
        ),
        (
            "&start_timestamp=x&end_timestamp=1",
            "start_timestamp",
            "must be an integer",
        ),
    ] {
        let r = get(&base, &format!("{path}{query}")).unwrap();
        let v = r.json();
        assert_eq!(
            (r.status, v["error"]["code"].as_i64()),
            (400, Some(-32602)),
            "{query}"
        );
        assert_eq!(v["error"]["data"]["param"], param, "{query}: {v}");
        assert_eq!(v["error"]["data"]["reason"], reason, "{query}: {v}");
    }
    let v = ok(
        &base,
        "/api/v2/public/get_last_trades_by_instrument?instrument_name=BTC-PERPETUAL&count=5",
    );
    let trades = v["result"]["trades"].as_array().unwrap();
    assert_eq!(trades.len(), 5, "{v}");
    assert_eq!(v["result"]["has_more"], true);
    sim.stop();
}
