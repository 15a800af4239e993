//! The venues' public REST instrument lists on loopback: plain HTTP/1.1 serving the real paths
//! (`/dapi/v1/exchangeInfo`, `/v5/market/instruments-info`, `/api/v5/public/instruments`,
//! `/api/v1/instrument/active`, `/api/v4/futures/usdt/contracts`) with responses in each
//! venue's layout, built from the contract specs bundled with `feeds`. Point
//! `[instruments.base_url]` of every family at [`RestServer::base_url`].
//!
//! One thread accepts; each connection gets one response and is closed
//! (`Connection: close`). Tests can replace a path's answer ([`RestConfig::overrides`]) to
//! serve malformed JSON or an error status, and page Bybit's list ([`RestConfig::bybit_page`]).
//!
//! **Trades.** With the simulators' histories in [`RestConfig::histories`] the same server also
//! answers the venues' REST trade endpoints (see `rest_trades`), so one base URL serves
//! instruments and trades:
//! `RestServer::start_with(RestConfig { histories: vec![sim.history(), vsim.history()], ..RestConfig::default() })`.
//! [`RestServer::faults`] injects failures (500, hang-ups, 429/418 with `Retry-After`, a request
//! rate limit) and counts requests per path.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::history::TradeHistory;
use super::rest_markets;
use super::rest_trades::{self, RestFaults};
use feeds::{ContractSpec, Instruments, Venue};
use serde_json::{json, Value};

/// How the responder answers.
#[derive(Debug, Clone, Default)]
pub struct RestConfig {
    /// `path` (without query) → `(status, body)` served instead of the built response.
    pub overrides: BTreeMap<String, (u16, String)>,
    /// Largest Bybit page (`nextPageCursor` continues); 0: as many as `limit` asks.
    pub bybit_page: usize,
    /// Trade histories of running simulators ([`super::Simulator::history`],
    /// [`super::venues::VenueSim::history`]) whose markets the trade endpoints serve.
    pub histories: Vec<TradeHistory>,
}

/// A running responder; stops (and joins its thread) when dropped.
#[derive(Debug)]
pub struct RestServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
    paths: Arc<Mutex<Vec<String>>>,
    faults: RestFaults,
    thread: Option<JoinHandle<()>>,
}

impl RestServer {
    /// Serves the bundled snapshot on `127.0.0.1:<free port>`.
    pub fn start() -> io::Result<RestServer> {
        RestServer::start_with(RestConfig::default())
    }

    pub fn start_with(cfg: RestConfig) -> io::Result<RestServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let faults = RestFaults::default();
        let (s, r, p, f) = (
            stop.clone(),
            requests.clone(),
            paths.clone(),
            faults.clone(),
        );
        let thread = std::thread::Builder::new()
            .name("sim-rest".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if s.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    r.fetch_add(1, Ordering::AcqRel);
                    if let Err(e) = serve(conn, &cfg, &p, &f) {
                        log::debug!("sim rest: {e}");
                    }
                }
            })?;
        Ok(RestServer {
            addr,
            stop,
            requests,
            paths,
            faults,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port>`, for every family's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Acquire)
    }

    /// Fault injection and per-path request counts of this server.
    pub fn faults(&self) -> RestFaults {
        self.faults.clone()
    }

    /// Request targets (path and query) served so far, in order.
    pub fn paths(&self) -> Vec<String> {
        self.paths.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

impl Drop for RestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    mut conn: TcpStream,
    cfg: &RestConfig,
    paths: &Mutex<Vec<String>>,
    faults: &RestFaults,
) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    let (target, post, head_len, body_len) = loop {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                // POST carries a JSON body (Hyperliquid's `POST /info`); others are GETs.
                let post = match req.method {
                    Some("GET") => false,
                    Some("POST") => true,
                    _ => return respond(&mut conn, 405, "{\"error\":\"method\"}"),
                };
                let body_len = rest_markets::content_length(req.headers);
                break (
                    req.path.unwrap_or("/").to_string(),
                    post,
                    head_len,
                    body_len,
                );
            }
            Ok(httparse::Status::Partial) if buf.len() < 16 << 10 => {}
            _ => return respond(&mut conn, 400, "{\"error\":\"bad request\"}"),
        }
    };
    let body = match rest_markets::read_body(&mut conn, &buf, head_len, body_len) {
        Some(b) => b,
        None => return respond(&mut conn, 400, "{\"error\":\"bad request\"}"),
    };
    if let Ok(mut p) = paths.lock() {
        p.push(target.clone());
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    if let Some(kind) = faults.on_request(path) {
        let reply = rest_trades::fault_reply(path, kind);
        if reply.hangup {
            // Closed without a reply.
            return Ok(());
        }
        return respond_with(&mut conn, reply.status, &reply.body, &reply.headers);
    }
    if let Some((status, body)) = cfg.overrides.get(path) {
        return respond(&mut conn, *status, body);
    }
    if post {
        // Only the POST endpoints of `rest_markets` (a GET path answers a POST with 404).
        let reply = rest_markets::answer_post(path, &body, &cfg.histories)
            .unwrap_or_else(|| rest_markets::not_found(path));
        return respond_with(&mut conn, reply.status, &reply.body, &reply.headers);
    }
    let query = parse_query(query);
    if let Some(reply) = rest_trades::answer(path, &query, &cfg.histories) {
        return respond_with(&mut conn, reply.status, &reply.body, &reply.headers);
    }
    match answer(path, &query, cfg) {
        Some(body) => respond(&mut conn, 200, &body),
        None => {
            let reply = rest_markets::answer(path, &query, &cfg.histories)
                .unwrap_or_else(|| rest_markets::not_found(path));
            respond_with(&mut conn, reply.status, &reply.body, &reply.headers)
        }
    }
}

fn respond(conn: &mut TcpStream, status: u16, body: &str) -> io::Result<()> {
    respond_with(conn, status, body, &[])
}

fn respond_with(
    conn: &mut TcpStream,
    status: u16,
    body: &str,
    headers: &[(String, String)],
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        418 => "I'm a teapot",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Error",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    conn.write_all(body.as_bytes())?;
    conn.flush()
}

fn parse_query(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (rest_trades::pct_decode(k), rest_trades::pct_decode(v)))
        .collect()
}

/// The bundled specs of `venue`, sorted by symbol.
fn bundled(venue: Venue) -> Vec<(String, ContractSpec)> {
    let all = Instruments::bundled();
    let mut v: Vec<(String, ContractSpec)> = all
        .of_venue(venue)
        .map(|(s, spec)| (s.to_string(), spec))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// The body for a known path, in the venue's layout.
fn answer(path: &str, query: &BTreeMap<String, String>, cfg: &RestConfig) -> Option<String> {
    let body = match path {
        "/dapi/v1/exchangeInfo" => binance(),
        "/v5/market/instruments-info" => bybit(query, cfg.bybit_page),
        "/api/v5/public/instruments" => okx(query.get("instType").map(String::as_str)?),
        "/api/v1/instrument/active" => bitmex(),
        "/api/v4/futures/usdt/contracts" => gate(),
        _ => return None,
    };
    Some(body.to_string())
}

/// The base asset of a COIN-M symbol (`BTCUSD_PERP` → `BTC`).
fn coinm_base(symbol: &str) -> &str {
    symbol.split("USD").next().unwrap_or(symbol)
}

fn binance() -> Value {
    let symbols: Vec<Value> = bundled(Venue::BinanceCoinm)
        .into_iter()
        .map(|(s, spec)| {
            let base = coinm_base(&s).to_string();
            let perp = s.ends_with("_PERP");
            json!({
                "symbol": s,
                "pair": format!("{base}USD"),
                "contractType": if perp { "PERPETUAL" } else { "CURRENT_QUARTER" },
                "deliveryDate": if perp { 4_133_404_800_000i64 } else { 1_790_323_200_000 },
                "onboardDate": 1_597_042_800_000i64,
                "contractStatus": "TRADING",
                // COIN-M sizes are whole USD amounts.
                "contractSize": spec.size.to_f64() as u64,
                "marginAsset": base,
                "maintMarginPercent": "2.5000",
                "requiredMarginPercent": "5.0000",
                "baseAsset": base,
                "quoteAsset": "USD",
                "pricePrecision": 1,
                "quantityPrecision": 0,
                "baseAssetPrecision": 8,
                "quotePrecision": 8,
                "equalQtyPrecision": 4,
                "triggerProtect": "0.0500",
                "underlyingType": "COIN",
                "underlyingSubType": [],
                "filters": [],
                "orderTypes": ["LIMIT", "MARKET"],
                "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
            })
        })
        .collect();
    json!({
        "timezone": "UTC",
        "serverTime": feeds::clock::wall_us() / 1000,
        "rateLimits": [],
        "exchangeFilters": [],
        "symbols": symbols,
    })
}

fn bybit(query: &BTreeMap<String, String>, page: usize) -> Value {
    if query.get("category").map(String::as_str) != Some("inverse") {
        // The bundle holds inverse contracts only.
        return json!({"retCode": 0, "retMsg": "OK",
            "result": {"category": query.get("category"), "list": [], "nextPageCursor": ""},
            "retExtInfo": {}, "time": feeds::clock::wall_us() / 1000});
    }
    let all: Vec<Value> = bundled(Venue::BybitInverse)
        .into_iter()
        .map(|(s, _)| {
            let base = s.trim_end_matches("USD").to_string();
            json!({
                "symbol": s,
                "contractType": "InversePerpetual",
                "status": "Trading",
                "baseCoin": base,
                "quoteCoin": "USD",
                "launchTime": "1585526400000",
                "deliveryTime": "0",
                "deliveryFeeRate": "",
                "priceScale": "2",
                "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
                "priceFilter": {"minPrice": "0.50", "maxPrice": "999999.00", "tickSize": "0.50"},
                "lotSizeFilter": {"maxOrderQty": "100000000", "minOrderQty": "1", "qtyStep": "1",
                    "postOnlyMaxOrderQty": "100000000", "maxMktOrderQty": "100000000", "minNotionalValue": "0"},
                "unifiedMarginTrade": false,
                "fundingInterval": 480,
                "settleCoin": base,
                "copyTrading": "none",
                "upperFundingRate": "0.0075",
                "lowerFundingRate": "-0.0075",
                "isPreListing": false,
                "preListingInfo": null,
            })
        })
        .collect();
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(500)
        .clamp(1, 1000);
    let size = if page == 0 { limit } else { page.min(limit) };
    let start: usize = query
        .get("cursor")
        .and_then(|c| c.strip_prefix("offset%3A").or(c.strip_prefix("offset:")))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let end = (start + size).min(all.len());
    let list = all.get(start..end).unwrap_or(&[]).to_vec();
    let next = if end < all.len() {
        format!("offset:{end}")
    } else {
        String::new()
    };
    json!({
        "retCode": 0,
        "retMsg": "OK",
        "result": {"category": "inverse", "list": list, "nextPageCursor": next},
        "retExtInfo": {},
        "time": feeds::clock::wall_us() / 1000,
    })
}

fn okx(inst_type: &str) -> Value {
    let venue = match inst_type {
        "SWAP" => Venue::OkxSwap,
        "FUTURES" => Venue::OkxFutures,
        _ => return json!({"code": "51000", "msg": "Parameter instType error", "data": []}),
    };
    let data: Vec<Value> = bundled(venue)
        .into_iter()
        .map(|(s, spec)| {
            let mut parts = s.split('-');
            let base = parts.next().unwrap_or("").to_string();
            let quote = parts.next().unwrap_or("").to_string();
            let family = format!("{base}-{quote}");
            json!({
                "instType": inst_type,
                "instId": s,
                "uly": family,
                "instFamily": family,
                "baseCcy": "",
                "quoteCcy": "",
                "settleCcy": if spec.inverse { base.clone() } else { quote.clone() },
                "ctVal": spec.size.to_string(),
                "ctMult": "1",
                "ctValCcy": if spec.inverse { quote.clone() } else { base.clone() },
                "optType": "",
                "stk": "",
                "listTime": "1611916828000",
                "expTime": "",
                "lever": "100",
                "tickSz": "0.1",
                "lotSz": "0.01",
                "minSz": "0.01",
                "ctType": if spec.inverse { "inverse" } else { "linear" },
                "alias": "",
                "state": "live",
                "maxLmtSz": "100000000",
                "maxMktSz": "12000",
                "ruleType": "normal",
            })
        })
        .collect();
    json!({"code": "0", "msg": "", "data": data})
}

fn bitmex() -> Value {
    let list: Vec<Value> = bundled(Venue::Bitmex)
        .into_iter()
        .filter_map(|(s, spec)| {
            let underlying = if s.starts_with("XBT") {
                "XBT"
            } else {
                s.get(..3).unwrap_or("XBT")
            };
            let (multiplier, to_position, to_settle) = if spec.inverse {
                // Worth `size` USD: multiplier / underlyingToSettleMultiplier.
                let m = spec.size.to_f64() * -100_000_000.0;
                (json!(m as i64), Value::Null, json!(-100_000_000i64))
            } else {
                // Worth `size` base units: 1 / underlyingToPositionMultiplier.
                let per = 1.0 / spec.size.to_f64();
                if per.fract() != 0.0 {
                    return None;
                }
                (json!(100), json!(per as i64), Value::Null)
            };
            Some(json!({
                "symbol": s,
                "rootSymbol": underlying,
                "state": "Open",
                "typ": "FFWCSX",
                "listing": "2016-05-04T12:00:00.000Z",
                "front": "2016-05-04T12:00:00.000Z",
                "expiry": null,
                "positionCurrency": if spec.inverse { "USD" } else { underlying },
                "underlying": underlying,
                "quoteCurrency": if spec.inverse { "USD" } else { "USDT" },
                "underlyingSymbol": format!("{underlying}="),
                "reference": "BMEX",
                "maxOrderQty": 10_000_000,
                "maxPrice": 10_000_000,
                "lotSize": 100,
                "tickSize": 0.5,
                "multiplier": multiplier,
                "settlCurrency": if spec.inverse { "XBt" } else { "USDt" },
                "underlyingToPositionMultiplier": to_position,
                "underlyingToSettleMultiplier": to_settle,
                "quoteToSettleMultiplier": if spec.inverse { Value::Null } else { json!(1_000_000) },
                "isQuanto": false,
                "isInverse": spec.inverse,
                "initMargin": 0.01,
                "maintMargin": 0.005,
                "timestamp": "2026-11-24T00:00:00.000Z",
            }))
        })
        .collect();
    Value::Array(list)
}

fn gate() -> Value {
    let list: Vec<Value> = bundled(Venue::GateFutures)
        .into_iter()
        .map(|(s, spec)| {
            json!({
                "name": s,
                "type": if spec.inverse { "inverse" } else { "direct" },
                "quanto_multiplier": spec.size.to_string(),
                "maintenance_rate": "0.004",
                "mark_type": "index",
                "last_price": "0",
                "mark_price": "0",
                "index_price": "0",
                "in_delisting": false,
                "order_price_round": "0.1",
                "order_size_min": 1,
                "funding_interval": 28800,
                "leverage_min": "1",
                "leverage_max": "125",
                "maker_fee_rate": "-0.0001",
                "taker_fee_rate": "0.00075",
                "funding_rate": "0.0001",
                "order_size_max": 1_000_000,
                "funding_next_apply": 1_795_500_800,
            })
        })
        .collect();
    Value::Array(list)
}
