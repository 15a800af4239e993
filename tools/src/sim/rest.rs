//! The venues' public REST instrument lists on loopback: plain HTTP/1.1 serving the real paths
//! (`/dapi/v1/exchangeInfo`, `/v5/market/instruments-info`, `/api/v5/public/instruments`,
//! `/api/v5/public/underlying`, `/api/v1/instrument/active`,
//! `/api/v4/futures/usdt/contracts`)
//! with responses in each venue's layout, built from the contract specs bundled with `feeds`
//! and, with [`RestConfig::histories`], the simulated markets: Bybit lists `spot`, `linear`,
//! `inverse` (and an empty `option`), OKX `SPOT`, `SWAP`, `FUTURES` (and `OPTION`, which
//! needs `uly`/`instFamily` as on OKX) — every category ccxt's `fetchMarkets` asks for. Point
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
use super::venues::proto::SimMarket;
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
        "/v5/market/instruments-info" => bybit(query, cfg.bybit_page, &cfg.histories),
        "/api/v5/public/instruments" => okx(query, &cfg.histories),
        "/api/v5/public/underlying" => okx_underlying(query),
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

/// The simulated markets of `venue` in `hs` (the multi-venue simulator's), by symbol, leaving
/// out those in `skip`.
fn simulated(hs: &[TradeHistory], venue: Venue, skip: &[String]) -> Vec<SimMarket> {
    let mut out: Vec<SimMarket> = Vec::new();
    for m in hs.iter().flat_map(|h| h.sim_markets(venue)) {
        if !skip.contains(&m.symbol) && !out.iter().any(|o| o.symbol == m.symbol) {
            out.push(m);
        }
    }
    out.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    out
}

/// The quote of a simulated market's symbol (`BTCUSDT` / `BTC-USDT` → `USDT`).
fn quote_of(m: &SimMarket) -> String {
    let rest = m.symbol.strip_prefix(m.base.as_str()).unwrap_or(&m.symbol);
    let rest = rest.trim_start_matches(['-', '_', '/']);
    rest.split(['-', '_', '/'])
        .next()
        .unwrap_or(rest)
        .to_string()
}

/// A Bybit v5 spot instrument (`category=spot`).
fn bybit_spot(m: &SimMarket) -> Value {
    let lot = m.qty_str(m.lot);
    json!({
        "symbol": m.symbol,
        "baseCoin": m.base,
        "quoteCoin": quote_of(m),
        "innovation": "0",
        "status": "Trading",
        "marginTrading": "utaOnly",
        "stTag": "0",
        "lotSizeFilter": {"basePrecision": lot, "quotePrecision": "0.00000001",
            "minOrderQty": lot, "maxOrderQty": "1000000", "minOrderAmt": "1", "maxOrderAmt": "2000000"},
        "priceFilter": {"tickSize": m.price_str(m.tick)},
        "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
    })
}

/// A Bybit v5 USDT perpetual (`category=linear`).
fn bybit_linear(m: &SimMarket) -> Value {
    let lot = m.qty_str(m.lot);
    let quote = quote_of(m);
    json!({
        "symbol": m.symbol,
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": m.base,
        "quoteCoin": quote,
        "launchTime": "1585526400000",
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": super::venues::proto::decimals(m.tick).to_string(),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": m.price_str(m.tick), "maxPrice": "1999999.80", "tickSize": m.price_str(m.tick)},
        "lotSizeFilter": {"maxOrderQty": "1190.000", "minOrderQty": lot, "qtyStep": lot,
            "postOnlyMaxOrderQty": "1190.000", "maxMktOrderQty": "500.000", "minNotionalValue": "5"},
        "unifiedMarginTrade": true,
        "fundingInterval": 480,
        "settleCoin": quote,
        "copyTrading": "both",
        "upperFundingRate": "0.005",
        "lowerFundingRate": "-0.005",
        "isPreListing": false,
        "preListingInfo": null,
    })
}

/// Bybit `GET /v5/market/instruments-info`: `spot` and `linear` list the simulated markets,
/// `inverse` the bundled contracts and any simulated ones besides, `option` (which ccxt's
/// `fetchMarkets` also asks for, per base coin) an empty list in the same envelope; another
/// category is refused with `10001` as Bybit does. Shapes: Bybit v5 "Get Instruments Info"
/// (bybit-exchange.github.io/docs/v5/market/instrument; field list from memory of the docs, not
/// re-read on 2026-12-07).
fn bybit(query: &BTreeMap<String, String>, page: usize, hs: &[TradeHistory]) -> Value {
    let category = query.get("category").map(String::as_str).unwrap_or("");
    let all: Vec<Value> = match category {
        "spot" => simulated(hs, Venue::BybitSpot, &[])
            .iter()
            .map(bybit_spot)
            .collect(),
        "linear" => simulated(hs, Venue::BybitLinear, &[])
            .iter()
            .map(bybit_linear)
            .collect(),
        "inverse" => bybit_inverse(hs),
        "option" => Vec::new(),
        _ => {
            return json!({"retCode": 10001, "retMsg": "Illegal category", "result": {},
                "retExtInfo": {}, "time": feeds::clock::wall_us() / 1000});
        }
    };
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
        "result": {"category": category, "list": list, "nextPageCursor": next},
        "retExtInfo": {},
        "time": feeds::clock::wall_us() / 1000,
    })
}

fn bybit_inverse(hs: &[TradeHistory]) -> Vec<Value> {
    let bundle = bundled(Venue::BybitInverse);
    let names: Vec<String> = bundle.iter().map(|(s, _)| s.clone()).collect();
    let extra = simulated(hs, Venue::BybitInverse, &names);
    bundle
        .into_iter()
        .map(|(s, _)| s)
        .chain(extra.into_iter().map(|m| m.symbol))
        .map(|s| {
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
        .collect()
}

/// OKX `GET /api/v5/public/instruments`: `SPOT` lists the simulated spot markets, `SWAP` and
/// `FUTURES` the bundled contracts and any simulated ones besides, `OPTION` (which ccxt's
/// `fetchMarkets` asks for per underlying) needs `uly` or `instFamily` as on OKX and is empty
/// here; another `instType` is refused with `51000`. OKX v5 docs "Get instruments" and error
/// codes (50014 "Parameter {0} can not be empty"; www.okx.com/docs-v5; the
/// OPTION rule as quoted from the docs in rosssaunders/ccrxt issue #79, 2025-06-14; 51000 for a
/// bad parameter as in sieblyio/okx-api issue #105, 2025-03-14; looked up 2026-12-07).
fn okx(query: &BTreeMap<String, String>, hs: &[TradeHistory]) -> Value {
    let inst_type = query.get("instType").map(String::as_str).unwrap_or("");
    let venue = match inst_type {
        "SPOT" => {
            let data: Vec<Value> = simulated(hs, Venue::OkxSpot, &[])
                .iter()
                .map(okx_spot)
                .collect();
            return json!({"code": "0", "msg": "", "data": data});
        }
        "OPTION" => {
            let given = |k: &str| query.get(k).is_some_and(|v| !v.is_empty());
            if !given("uly") && !given("instFamily") {
                return json!({"code": "50014", "msg": "Parameter instFamily can not be empty.", "data": []});
            }
            return json!({"code": "0", "msg": "", "data": []});
        }
        "SWAP" => Venue::OkxSwap,
        "FUTURES" => Venue::OkxFutures,
        "" => {
            return json!({"code": "50014", "msg": "Parameter instType can not be empty.", "data": []})
        }
        _ => return json!({"code": "51000", "msg": "Parameter instType error", "data": []}),
    };
    let mut contracts = bundled(venue);
    let names: Vec<String> = contracts.iter().map(|(s, _)| s.clone()).collect();
    contracts.extend(
        simulated(hs, venue, &names)
            .into_iter()
            .filter_map(|m| Some((m.symbol, m.spec?))),
    );
    let data: Vec<Value> = contracts
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

/// An OKX spot instrument.
fn okx_spot(m: &SimMarket) -> Value {
    json!({
        "instType": "SPOT",
        "instId": m.symbol,
        "uly": "",
        "instFamily": "",
        "baseCcy": m.base,
        "quoteCcy": quote_of(m),
        "settleCcy": "",
        "ctVal": "",
        "ctMult": "",
        "ctValCcy": "",
        "optType": "",
        "stk": "",
        "listTime": "1606468572000",
        "expTime": "",
        "lever": "10",
        "tickSz": m.price_str(m.tick),
        "lotSz": m.qty_str(m.lot),
        "minSz": m.qty_str(m.lot),
        "ctType": "",
        "alias": "",
        "state": "live",
        "maxLmtSz": "9999999999",
        "maxMktSz": "1000000",
        "ruleType": "normal",
    })
}

/// OKX `GET /api/v5/public/underlying?instType=…`: the option underlyings (none simulated),
/// asked for by ccxt before it lists options.
fn okx_underlying(query: &BTreeMap<String, String>) -> Value {
    let venue = match query.get("instType").map(String::as_str) {
        Some("OPTION") => return json!({"code": "0", "msg": "", "data": [[]]}),
        Some("SWAP") => Venue::OkxSwap,
        Some("FUTURES") => Venue::OkxFutures,
        _ => return json!({"code": "51000", "msg": "Parameter instType error", "data": []}),
    };
    let mut families: Vec<String> = bundled(venue)
        .into_iter()
        .map(|(s, _)| s.split('-').take(2).collect::<Vec<_>>().join("-"))
        .collect();
    families.dedup();
    json!({"code": "0", "msg": "", "data": [families]})
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
