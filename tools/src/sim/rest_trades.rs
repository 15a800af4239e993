//! The venues' public REST trade endpoints, served from the simulators' [`TradeHistory`]
//! with each venue's real path, parameters, paging, limits, response layout and errors, and the
//! REST fault injection ([`RestFaults`]).
//!
//! | venue | path |
//! |---|---|
//! | Binance spot / USDⓈ-M / COIN-M | `/api/v3/aggTrades`, `/fapi/v1/aggTrades`, `/dapi/v1/aggTrades` |
//! | Bybit v5 | `/v5/market/recent-trade` |
//! | OKX | `/api/v5/market/history-trades`, `/api/v5/market/trades` |
//! | Coinbase Exchange | `/products/<id>/trades` |
//! | Kraken spot | `/0/public/Trades` |
//! | BitMEX | `/api/v1/trade` |
//! | Deribit | `/api/v2/public/get_last_trades_by_instrument_and_time`, `/api/v2/public/get_last_trades_by_instrument` |
//! | Bitfinex | `/v2/trades/<symbol>/hist` |
//!
//! Values are those of the WebSocket frames of the same trades: ids, exchange times, and the
//! price/size text (Kraken REST pads the price to the tick's decimals, a value-equal spelling).
//! A limit above a venue's maximum is clamped to it; a limit that is not a number is refused
//! in the venue's error format.

use super::history::{BinanceTrade, Rec, TradeHistory};
use super::venues::proto::{Print, SimMarket};
use super::venues::wirefmt::{self, json_str, rfc3339};
use super::venues::{bitfinex, bitmex, bybit, deribit, okx};
use feeds::Venue;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A fault the responder plays instead of answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// HTTP 500 with the venue's error body.
    Status500,
    /// The connection is closed after the request is read, without any reply.
    Hangup,
    /// HTTP 429 with `Retry-After` and the venue's rate-limit body.
    RateLimited { retry_after_s: u32 },
    /// Binance's IP ban: HTTP 418 with `Retry-After` and `-1003`; other venues answer 429.
    Banned { retry_after_s: u32 },
}

#[derive(Debug)]
struct Queued {
    /// Only requests whose path starts with this (all if `None`).
    prefix: Option<String>,
    kind: FaultKind,
    left: u64,
}

#[derive(Debug, Default)]
struct FaultState {
    queue: Vec<Queued>,
    /// Requests per second above which requests get 429 (`Retry-After: 1`).
    rate: Option<u32>,
    window: Option<(Instant, u32)>,
    counts: BTreeMap<String, u64>,
    faults_played: u64,
}

/// Fault injection and request counts of one [`super::RestServer`]
/// ([`super::RestServer::faults`]); a cheap handle, clone it freely.
#[derive(Debug, Clone, Default)]
pub struct RestFaults {
    inner: Arc<Mutex<FaultState>>,
}

impl RestFaults {
    fn lock(&self) -> MutexGuard<'_, FaultState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next `n` requests whose path starts with `path_prefix` (every path if `None`) get
    /// `kind` instead of an answer. Queued faults are played in the order they were added.
    pub fn fail_next(&self, path_prefix: Option<&str>, n: u64, kind: FaultKind) {
        self.lock().queue.push(Queued {
            prefix: path_prefix.map(str::to_owned),
            kind,
            left: n,
        });
    }

    /// Requests beyond `per_sec` in one second get 429 with `Retry-After: 1` (`None`: no limit).
    pub fn limit_rate(&self, per_sec: Option<u32>) {
        let mut s = self.lock();
        s.rate = per_sec;
        s.window = None;
    }

    /// Drops queued faults and the rate limit (counts stay).
    pub fn clear(&self) {
        let mut s = self.lock();
        s.queue.clear();
        s.rate = None;
    }

    /// Requests served per path (without the query), faults included.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.lock().counts.clone()
    }

    /// Requests served for `path` so far.
    pub fn requests(&self, path: &str) -> u64 {
        self.lock().counts.get(path).copied().unwrap_or(0)
    }

    /// Faults played so far (queued ones and rate-limit refusals).
    pub fn faults_played(&self) -> u64 {
        self.lock().faults_played
    }

    /// Counts a request and decides whether it gets a fault.
    pub(crate) fn on_request(&self, path: &str) -> Option<FaultKind> {
        let mut s = self.lock();
        *s.counts.entry(path.to_owned()).or_default() += 1;
        let hit = s
            .queue
            .iter_mut()
            .find(|q| q.left > 0 && q.prefix.as_deref().is_none_or(|p| path.starts_with(p)));
        let mut fault = hit.map(|q| {
            q.left -= 1;
            q.kind
        });
        s.queue.retain(|q| q.left > 0);
        if fault.is_none() {
            if let Some(rate) = s.rate {
                let now = Instant::now();
                let (start, n) = match s.window {
                    Some((start, n)) if now.duration_since(start) < Duration::from_secs(1) => {
                        (start, n + 1)
                    }
                    _ => (now, 1),
                };
                s.window = Some((start, n));
                if n > rate {
                    fault = Some(FaultKind::RateLimited { retry_after_s: 1 });
                }
            }
        }
        if fault.is_some() {
            s.faults_played += 1;
        }
        fault
    }
}

/// A reply: status, body, extra headers; `hangup` closes without writing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) hangup: bool,
}

impl Reply {
    pub(crate) fn ok(body: String) -> Reply {
        Reply::status(200, body)
    }

    pub(crate) fn status(status: u16, body: String) -> Reply {
        Reply {
            status,
            body,
            headers: Vec::new(),
            hangup: false,
        }
    }
}

/// The venue family a path belongs to, for error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Binance,
    Bybit,
    Okx,
    Coinbase,
    Kraken,
    Bitmex,
    Deribit,
    Bitfinex,
    Other,
}

fn family(path: &str) -> Family {
    if path.starts_with("/api/v3/") || path.starts_with("/fapi/") || path.starts_with("/dapi/") {
        Family::Binance
    } else if path.starts_with("/v5/") {
        Family::Bybit
    } else if path.starts_with("/api/v5/") {
        Family::Okx
    } else if path.starts_with("/products/") {
        Family::Coinbase
    } else if path.starts_with("/0/") {
        Family::Kraken
    } else if path.starts_with("/api/v1/") {
        Family::Bitmex
    } else if path.starts_with("/api/v2/") {
        Family::Deribit
    } else if path.starts_with("/v2/") {
        Family::Bitfinex
    } else {
        Family::Other
    }
}

fn now_ms() -> i64 {
    (feeds::clock::wall_us() / 1000) as i64
}

fn deribit_stamps() -> String {
    let us = feeds::clock::wall_us();
    format!(
        r#""usIn":{},"usOut":{us},"usDiff":1,"testnet":false"#,
        us.saturating_sub(1)
    )
}

fn bybit_error(code: u32, msg: &str) -> String {
    format!(
        r#"{{"retCode":{code},"retMsg":{},"result":{{}},"retExtInfo":{{}},"time":{}}}"#,
        json_str(msg),
        now_ms()
    )
}

fn okx_error(code: &str, msg: &str) -> String {
    format!(r#"{{"code":"{code}","msg":{},"data":[]}}"#, json_str(msg))
}

fn binance_error(status: u16, code: i64, msg: &str) -> Reply {
    Reply::status(
        status,
        format!(r#"{{"code":{code},"msg":{}}}"#, json_str(msg)),
    )
}

fn bitmex_error(status: u16, msg: &str, name: &str) -> Reply {
    Reply::status(
        status,
        format!(
            r#"{{"error":{{"message":{},"name":"{name}"}}}}"#,
            json_str(msg)
        ),
    )
}

fn deribit_error(status: u16, code: i64, msg: &str, data: &str) -> Reply {
    let data = if data.is_empty() {
        String::new()
    } else {
        format!(r#""data":{data},"#)
    };
    Reply::status(
        status,
        format!(
            r#"{{"jsonrpc":"2.0","error":{{"message":{},{data}"code":{code}}},{}}}"#,
            json_str(msg),
            deribit_stamps()
        ),
    )
}

fn bitfinex_error(code: i64, msg: &str) -> Reply {
    Reply::status(500, format!(r#"["error",{code},{}]"#, json_str(msg)))
}

/// The reply for an injected fault, in the venue's format.
pub(crate) fn fault_reply(path: &str, kind: FaultKind) -> Reply {
    let fam = family(path);
    let (status, retry) = match kind {
        FaultKind::Hangup => {
            return Reply {
                status: 0,
                body: String::new(),
                headers: Vec::new(),
                hangup: true,
            }
        }
        FaultKind::Status500 => (500, None),
        FaultKind::RateLimited { retry_after_s } => (429, Some(retry_after_s)),
        FaultKind::Banned { retry_after_s } if fam == Family::Binance => (418, Some(retry_after_s)),
        FaultKind::Banned { retry_after_s } => (429, Some(retry_after_s)),
    };
    let limited = status != 500;
    let mut r = match fam {
        Family::Binance if status == 418 => {
            let until = now_ms() + i64::from(retry.unwrap_or(0)) * 1000;
            binance_error(
                418,
                -1003,
                &format!(
                    "Way too much request weight used; IP banned until {until}. Please use WebSocket Streams for live updates to avoid bans."
                ),
            )
        }
        Family::Binance if limited => binance_error(
            429,
            -1003,
            "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
        ),
        Family::Binance => binance_error(
            500,
            -1000,
            "An unknown error occurred while processing the request.",
        ),
        Family::Bybit if limited => Reply::status(429, bybit_error(10006, "Too many visits!")),
        Family::Bybit => Reply::status(500, bybit_error(10016, "Internal server error.")),
        Family::Okx if limited => Reply::status(429, okx_error("50011", "Too Many Requests")),
        Family::Okx => Reply::status(
            500,
            okx_error("50013", "Systems are busy. Please try again later."),
        ),
        Family::Coinbase if limited => Reply::status(
            429,
            r#"{"message":"Public rate limit exceeded"}"#.to_owned(),
        ),
        Family::Coinbase => {
            Reply::status(500, r#"{"message":"Internal server error"}"#.to_owned())
        }
        Family::Kraken if limited => Reply::status(
            429,
            r#"{"error":["EAPI:Rate limit exceeded"]}"#.to_owned(),
        ),
        Family::Kraken => Reply::status(500, r#"{"error":["EService:Unavailable"]}"#.to_owned()),
        Family::Bitmex if limited => bitmex_error(
            429,
            &format!(
                "Rate limit exceeded, retry in {} seconds.",
                retry.unwrap_or(1)
            ),
            "RateLimitError",
        ),
        Family::Bitmex => bitmex_error(500, "Internal Server Error", "HTTPError"),
        Family::Deribit if limited => deribit_error(429, 10028, "too_many_requests", ""),
        Family::Deribit => deribit_error(500, 11094, "internal_server_error", ""),
        Family::Bitfinex if limited => {
            Reply::status(429, r#"{"error":"ERR_RATE_LIMIT"}"#.to_owned())
        }
        Family::Bitfinex => bitfinex_error(10000, "internal server error"),
        Family::Other if limited => {
            Reply::status(429, r#"{"error":"rate limited"}"#.to_owned())
        }
        Family::Other => Reply::status(500, r#"{"error":"internal error"}"#.to_owned()),
    };
    if let Some(s) = retry {
        r.headers.push(("Retry-After".to_owned(), s.to_string()));
    }
    r
}

/// `+` and `%XX` decoded, as a form-encoded query value (invalid escapes are kept as they are).
pub(crate) fn pct_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

pub(crate) type Query = BTreeMap<String, String>;

/// Where the trades of `venue`/`symbol` are.
pub(crate) fn find<'h>(
    hs: &'h [TradeHistory],
    venue: Venue,
    symbol: &str,
) -> Option<&'h TradeHistory> {
    hs.iter().find(|h| h.has(venue, symbol))
}

/// A parameter as a number: `Ok(None)` when absent, `Err(())` when not a number.
pub(crate) fn num<T: std::str::FromStr>(q: &Query, key: &str) -> Result<Option<T>, ()> {
    match q.get(key) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| ()),
    }
}

/// The answer for a REST trade endpoint, `None` if `path` is not one.
pub(crate) fn answer(path: &str, q: &Query, hs: &[TradeHistory]) -> Option<Reply> {
    Some(match path {
        "/api/v3/aggTrades" => binance_agg(Venue::BinanceSpot, q, hs),
        "/fapi/v1/aggTrades" => binance_agg(Venue::BinanceUsdm, q, hs),
        "/dapi/v1/aggTrades" => binance_agg(Venue::BinanceCoinm, q, hs),
        "/v5/market/recent-trade" => bybit_recent(q, hs),
        "/api/v5/market/history-trades" => okx_trades(q, hs, true),
        "/api/v5/market/trades" => okx_trades(q, hs, false),
        "/0/public/Trades" => kraken_trades(q, hs),
        "/api/v1/trade" => bitmex_trades(q, hs),
        "/api/v2/public/get_last_trades_by_instrument_and_time" => deribit_trades(q, hs, true),
        "/api/v2/public/get_last_trades_by_instrument" => deribit_trades(q, hs, false),
        _ => {
            if let Some(product) = path
                .strip_prefix("/products/")
                .and_then(|r| r.strip_suffix("/trades"))
            {
                coinbase_trades(product, q, hs)
            } else if let Some(sym) = path
                .strip_prefix("/v2/trades/")
                .and_then(|r| r.strip_suffix("/hist"))
            {
                bitfinex_trades(sym, q, hs)
            } else {
                return None;
            }
        }
    })
}

// ---- Binance ----

/// One aggTrade as the venue's REST lists it.
struct Agg {
    a: u64,
    p: String,
    q: String,
    f: u64,
    l: u64,
    t: i64,
    m: bool,
}

/// The aggTrade a recorded fill belongs to (each fill of a multi-fill aggregate names the
/// whole aggregate; the listing keeps one per `a`).
fn agg_of(rec: &Rec, m: Option<&SimMarket>) -> Option<Agg> {
    match rec {
        Rec::Binance(BinanceTrade {
            agg,
            time_ms,
            price,
            buyer_maker,
            ..
        }) => {
            let agg = agg.as_ref()?;
            Some(Agg {
                a: agg.a,
                p: price.clone(),
                q: agg.qty.clone(),
                f: agg.first,
                l: agg.last,
                t: *time_ms as i64,
                m: *buyer_maker,
            })
        }
        // The simulated COIN-M market prints one fill per aggTrade, `a` = `f` = `l` = its id.
        Rec::Print(p) => {
            let m = m?;
            Some(Agg {
                a: p.id,
                p: m.price_str(p.price),
                q: m.contracts(p.qty, p.price).to_string(),
                f: p.id,
                l: p.id,
                t: p.ts_us.div_euclid(1000),
                m: !p.buy,
            })
        }
    }
}

fn binance_agg(venue: Venue, q: &Query, hs: &[TradeHistory]) -> Reply {
    let Some(symbol) = q.get("symbol").filter(|s| !s.is_empty()) else {
        return binance_error(
            400,
            -1102,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
        );
    };
    let symbol = symbol.to_ascii_uppercase();
    let bad = |name: &str| {
        binance_error(
            400,
            -1100,
            &format!(
                "Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."
            ),
        )
    };
    let Ok(limit) = num::<usize>(q, "limit") else {
        return bad("limit");
    };
    let Ok(from_id) = num::<u64>(q, "fromId") else {
        return bad("fromId");
    };
    let Ok(start) = num::<i64>(q, "startTime") else {
        return bad("startTime");
    };
    let Ok(end) = num::<i64>(q, "endTime") else {
        return bad("endTime");
    };
    let limit = limit.unwrap_or(500).clamp(1, 1000);
    if let (Some(s), Some(e)) = (start, end) {
        if e < s || e - s > 3_600_000 {
            return binance_error(
                400,
                -1127,
                "More than 1 hours between startTime and endTime.",
            );
        }
    }
    let Some(h) = find(hs, venue, &symbol) else {
        return binance_error(400, -1121, "Invalid symbol.");
    };
    let aggs = h
        .with(venue, &symbol, |m, trades| {
            let mut prev = None;
            let all = trades
                .iter()
                .filter_map(|r| agg_of(r, m))
                // The fills of one aggregate are recorded one after the other.
                .filter(move |a| prev.replace(a.a) != Some(a.a))
                .filter(|a| {
                    from_id.is_none_or(|f| a.a >= f)
                        && start.is_none_or(|s| a.t >= s)
                        && end.is_none_or(|e| a.t <= e)
                });
            if from_id.is_none() && start.is_none() {
                // The most recent ones (up to endTime).
                let v: Vec<Agg> = all.collect();
                let skip = v.len().saturating_sub(limit);
                v.into_iter().skip(skip).collect::<Vec<_>>()
            } else {
                all.take(limit).collect()
            }
        })
        .unwrap_or_default();
    let spot = venue == Venue::BinanceSpot;
    let mut body = String::with_capacity(aggs.len() * 120 + 2);
    body.push('[');
    for (i, a) in aggs.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        let _ = write!(
            body,
            r#"{{"a":{},"p":"{}","q":"{}","f":{},"l":{},"T":{},"m":{}{}}}"#,
            a.a,
            a.p,
            a.q,
            a.f,
            a.l,
            a.t,
            a.m,
            if spot { r#","M":true"# } else { "" }
        );
    }
    body.push(']');
    Reply::ok(body)
}

// ---- Bybit ----

fn bybit_recent(q: &Query, hs: &[TradeHistory]) -> Reply {
    let (venue, max, default) = match q.get("category").map(String::as_str) {
        Some("linear") => (Venue::BybitLinear, 1000, 500),
        Some("inverse") => (Venue::BybitInverse, 1000, 500),
        Some("spot") => (Venue::BybitSpot, 60, 60),
        _ => return Reply::ok(bybit_error(10001, "Illegal category")),
    };
    let Some(symbol) = q.get("symbol").filter(|s| !s.is_empty()) else {
        return Reply::ok(bybit_error(10001, "params error: symbol is required"));
    };
    let Ok(limit) = num::<usize>(q, "limit") else {
        return Reply::ok(bybit_error(10001, "params error: limit invalid"));
    };
    let limit = limit.unwrap_or(default).clamp(1, max);
    let symbol = symbol.to_ascii_uppercase();
    let Some(h) = find(hs, venue, &symbol) else {
        return Reply::ok(bybit_error(10001, "Not supported symbols"));
    };
    let rows = h
        .with(venue, &symbol, |m, trades| {
            let Some(m) = m else { return Vec::new() };
            prints(trades)
                .rev()
                .take(limit)
                .map(|p| {
                    format!(
                        r#"{{"execId":"{}","symbol":"{}","price":"{}","size":"{}","side":"{}","time":"{}","isBlockTrade":false,"isRPITrade":false}}"#,
                        bybit::exec_id(m, p.id),
                        m.symbol,
                        m.price_str(p.price),
                        bybit::size(m, p),
                        if p.buy { "Buy" } else { "Sell" },
                        p.ts_us.div_euclid(1000)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let category = q.get("category").map_or("", String::as_str);
    Reply::ok(format!(
        r#"{{"retCode":0,"retMsg":"OK","result":{{"category":"{category}","list":[{}]}},"retExtInfo":{{}},"time":{}}}"#,
        rows.join(","),
        now_ms()
    ))
}

/// The multi-venue prints of a market's history.
pub(crate) fn prints(trades: &VecDeque<Rec>) -> impl DoubleEndedIterator<Item = &Print> + '_ {
    trades.iter().filter_map(|r| match r {
        Rec::Print(p) => Some(p),
        Rec::Binance(_) => None,
    })
}

// ---- OKX ----

fn okx_trades(q: &Query, hs: &[TradeHistory], history: bool) -> Reply {
    let Some(inst) = q.get("instId").filter(|s| !s.is_empty()) else {
        return Reply::status(
            400,
            okx_error("50014", "Parameter instId can not be empty."),
        );
    };
    let by_ts = match q.get("type").map(String::as_str) {
        None | Some("1") | Some("") => false,
        Some("2") if history => true,
        _ => return Reply::status(400, okx_error("51000", "Parameter type error")),
    };
    let (max, default) = if history { (100, 100) } else { (500, 100) };
    let Ok(limit) = num::<usize>(q, "limit") else {
        return Reply::status(400, okx_error("51000", "Parameter limit error"));
    };
    let limit = limit.unwrap_or(default).clamp(1, max);
    let (Ok(after), Ok(before)) = (num::<i64>(q, "after"), num::<i64>(q, "before")) else {
        return Reply::status(400, okx_error("51000", "Parameter after error"));
    };
    let (after, before) = if history {
        (after, before)
    } else {
        (None, None)
    };
    let venue = [Venue::OkxSpot, Venue::OkxSwap, Venue::OkxFutures]
        .into_iter()
        .find(|v| find(hs, *v, inst).is_some());
    let Some((venue, h)) = venue.and_then(|v| Some((v, find(hs, v, inst)?))) else {
        return Reply::ok(okx_error("51001", "Instrument ID does not exist."));
    };
    let rows = h
        .with(venue, inst, |m, trades| {
            let Some(m) = m else { return Vec::new() };
            let key = |p: &Print| {
                if by_ts {
                    p.ts_us.div_euclid(1000)
                } else {
                    p.id as i64
                }
            };
            let within: Vec<&Print> = prints(trades)
                .filter(|p| after.is_none_or(|a| key(p) < a) && before.is_none_or(|b| key(p) > b))
                .collect();
            // Newest first; with only `before`, the page next to it (the oldest newer ones).
            let page: Vec<&Print> = if before.is_some() && after.is_none() {
                let mut v: Vec<&Print> = within.into_iter().take(limit).collect();
                v.reverse();
                v
            } else {
                within.into_iter().rev().take(limit).collect()
            };
            page.into_iter()
                .map(|p| {
                    format!(
                        r#"{{"instId":"{}","side":"{}","sz":"{}","px":"{}","source":"0","tradeId":"{}","ts":"{}"}}"#,
                        m.symbol,
                        if p.buy { "buy" } else { "sell" },
                        okx::Okx::size(m, p.qty, p.price),
                        m.price_str(p.price),
                        p.id,
                        p.ts_us.div_euclid(1000)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Reply::ok(format!(
        r#"{{"code":"0","msg":"","data":[{}]}}"#,
        rows.join(",")
    ))
}

// ---- Coinbase Exchange ----

fn coinbase_trades(product: &str, q: &Query, hs: &[TradeHistory]) -> Reply {
    let bad = |msg: &str| Reply::status(400, format!(r#"{{"message":{}}}"#, json_str(msg)));
    let Ok(limit) = num::<usize>(q, "limit") else {
        return bad("Invalid limit");
    };
    let limit = limit.unwrap_or(1000).clamp(1, 1000);
    let (Ok(after), Ok(before)) = (num::<u64>(q, "after"), num::<u64>(q, "before")) else {
        return bad("Invalid cursor");
    };
    let venue = Venue::Coinbase;
    let Some(h) = find(hs, venue, product) else {
        return Reply::status(404, r#"{"message":"NotFound"}"#.to_owned());
    };
    let page = h
        .with(venue, product, |m, trades| {
            let Some(m) = m else { return Vec::new() };
            let within: Vec<&Print> = prints(trades)
                .filter(|p| after.is_none_or(|a| p.id < a) && before.is_none_or(|b| p.id > b))
                .collect();
            let page: Vec<&Print> = if before.is_some() && after.is_none() {
                let mut v: Vec<&Print> = within.into_iter().take(limit).collect();
                v.reverse();
                v
            } else {
                within.into_iter().rev().take(limit).collect()
            };
            page.into_iter()
                .map(|p| {
                    (
                        p.id,
                        format!(
                            r#"{{"time":"{}","trade_id":{},"price":"{}","size":"{}","side":"{}"}}"#,
                            rfc3339(p.ts_us, 6),
                            p.id,
                            wirefmt::price(m, p.price),
                            wirefmt::qty(m, p.qty),
                            // The maker's side, as in the `match` message.
                            if p.buy { "sell" } else { "buy" },
                        ),
                    )
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let mut r = Reply::ok(format!(
        "[{}]",
        page.iter()
            .map(|(_, s)| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    ));
    if let (Some((newest, _)), Some((oldest, _))) = (page.first(), page.last()) {
        r.headers.push(("CB-BEFORE".to_owned(), newest.to_string()));
        r.headers.push(("CB-AFTER".to_owned(), oldest.to_string()));
    }
    r
}

// ---- Kraken ----

/// Kraken's REST names of a WebSocket v2 pair (`BTC/USD`): the altname (`XBTUSD`) and the
/// canonical name the result is keyed by (`XXBTZUSD`).
pub(crate) fn kraken_names(ws: &str) -> (String, String) {
    let (base, quote) = ws.split_once('/').unwrap_or((ws, ""));
    let base = match base {
        "BTC" => "XBT",
        "DOGE" => "XDG",
        b => b,
    };
    let alt = format!("{base}{quote}");
    let legacy = [
        "XBT", "ETH", "LTC", "XRP", "XLM", "ETC", "ZEC", "XMR", "MLN", "REP", "XDG",
    ];
    let fiat = ["USD", "EUR", "GBP", "JPY", "CAD"];
    let canon = if legacy.contains(&base) && fiat.contains(&quote) {
        format!("X{base}Z{quote}")
    } else {
        alt.clone()
    };
    (alt, canon)
}

/// `since` as nanoseconds: a plain integer of at least 10^11 is nanoseconds (the `last` of a
/// previous reply), otherwise seconds with an optional fraction.
fn kraken_since(s: &str) -> Option<i128> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let whole: i128 = int.parse().ok()?;
    if frac.is_empty() && whole >= 100_000_000_000 {
        return Some(whole);
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits = frac.to_owned();
    digits.truncate(9);
    while digits.len() < 9 {
        digits.push('0');
    }
    Some(whole * 1_000_000_000 + digits.parse::<i128>().ok()?)
}

fn kraken_trades(q: &Query, hs: &[TradeHistory]) -> Reply {
    let err = |e: &str| Reply::ok(format!(r#"{{"error":[{}]}}"#, json_str(e)));
    let Some(pair) = q.get("pair").filter(|s| !s.is_empty()) else {
        return err("EGeneral:Invalid arguments");
    };
    let since = match q.get("since").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match kraken_since(s) {
            Some(ns) => Some(ns),
            None => return err("EGeneral:Invalid arguments:since"),
        },
    };
    let Ok(count) = num::<usize>(q, "count") else {
        return err("EGeneral:Invalid arguments:count");
    };
    let count = count.unwrap_or(1000).clamp(1, 1000);
    let venue = Venue::KrakenSpot;
    let found = hs.iter().find_map(|h| {
        h.symbols(venue).into_iter().find_map(|ws| {
            let (alt, canon) = kraken_names(&ws);
            (pair == &alt || pair == &canon || pair == &ws).then_some((h, ws, canon))
        })
    });
    let Some((h, ws, canon)) = found else {
        return err("EQuery:Unknown asset pair");
    };
    let (rows, last) = h
        .with(venue, &ws, |m, trades| {
            let Some(m) = m else {
                return (Vec::new(), None);
            };
            let ns = |p: &Print| i128::from(p.ts_us) * 1000;
            let mut page: Vec<&Print> = match since {
                Some(s) => prints(trades).filter(|p| ns(p) > s).take(count).collect(),
                None => {
                    let v: Vec<&Print> = prints(trades).collect();
                    let skip = v.len().saturating_sub(count);
                    v.into_iter().skip(skip).collect()
                }
            };
            // `since` is a time: never end a page inside a group of equal times (the rest of
            // the group would be skipped by the next `since`), unless the group fills it.
            if page.len() == count && since.is_some() {
                let next = prints(trades)
                    .filter(|p| since.is_none_or(|s| ns(p) > s))
                    .nth(count);
                if let (Some(next), Some(last)) = (next, page.last()) {
                    if next.ts_us == last.ts_us {
                        let t = last.ts_us;
                        let keep = page.iter().take_while(|p| p.ts_us != t).count();
                        if keep > 0 {
                            page.truncate(keep);
                        }
                    }
                }
            }
            let last = page.last().map(|p| ns(p));
            let rows = page
                .into_iter()
                .map(|p| {
                    format!(
                        r#"["{}","{}",{}.{:06},"{}","{}","",{}]"#,
                        wirefmt::fixed(p.price, wirefmt::decimals(m.tick)),
                        wirefmt::fixed(p.qty, wirefmt::decimals(m.lot)),
                        p.ts_us.div_euclid(1_000_000),
                        p.ts_us.rem_euclid(1_000_000),
                        if p.buy { "b" } else { "s" },
                        if p.id % 3 == 0 { "l" } else { "m" },
                        p.id
                    )
                })
                .collect::<Vec<_>>();
            (rows, last)
        })
        .unwrap_or_default();
    let last = last.or(since).unwrap_or(0);
    Reply::ok(format!(
        r#"{{"error":[],"result":{{"{canon}":[{}],"last":"{last}"}}}}"#,
        rows.join(",")
    ))
}

// ---- BitMEX ----

/// `2026-11-24T10:00:00.000Z` (also without `Z`, without the fraction, or a bare date) as µs.
pub(crate) fn parse_iso_us(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = s.split_once(['T', ' ']).unwrap_or((s, "00:00:00"));
    let mut d = date.split('-');
    let y: i64 = d.next()?.parse().ok()?;
    let mo: u32 = d.next()?.parse().ok()?;
    let da: u32 = d.next()?.parse().ok()?;
    if d.next().is_some() || !(1..=12).contains(&mo) || !(1..=31).contains(&da) {
        return None;
    }
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.split(':');
    let h: i64 = t.next()?.parse().ok()?;
    let mi: i64 = t.next().unwrap_or("0").parse().ok()?;
    let se: i64 = t.next().unwrap_or("0").parse().ok()?;
    if h > 23 || mi > 59 || se > 60 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut micros = frac.to_owned();
    micros.truncate(6);
    while micros.len() < 6 {
        micros.push('0');
    }
    let us: i64 = micros.parse().ok()?;
    let secs = feeds::civil::days_from_civil(y, i64::from(mo), i64::from(da)) * 86_400
        + h * 3600
        + mi * 60
        + se;
    Some(secs * 1_000_000 + us)
}

fn bitmex_trades(q: &Query, hs: &[TradeHistory]) -> Reply {
    let invalid = |what: &str| bitmex_error(400, &format!("Invalid {what}"), "HTTPError");
    let Some(symbol) = q.get("symbol").filter(|s| !s.is_empty()) else {
        return bitmex_error(400, "symbol is required", "HTTPError");
    };
    let Ok(count) = num::<usize>(q, "count") else {
        return invalid("count");
    };
    let Ok(start) = num::<usize>(q, "start") else {
        return invalid("start");
    };
    let count = count.unwrap_or(100).clamp(1, 1000);
    let start = start.unwrap_or(0);
    let reverse = match q.get("reverse").map(String::as_str) {
        None | Some("false") | Some("") => false,
        Some("true") => true,
        Some(_) => return invalid("reverse"),
    };
    let time = |key: &str| -> Result<Option<i64>, Reply> {
        match q.get(key).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(v) => parse_iso_us(v).map(Some).ok_or_else(|| invalid(key)),
        }
    };
    let (from, to) = match (time("startTime"), time("endTime")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let venue = Venue::Bitmex;
    let Some(h) = find(hs, venue, symbol) else {
        return bitmex_error(404, "Not Found", "HTTPError");
    };
    let rows = h
        .with(venue, symbol, |m, trades| {
            let Some(m) = m else { return Vec::new() };
            // Tick directions follow the whole history, as a connection since the start saw.
            let mut prev: Option<(f64, &'static str)> = None;
            let mut all: Vec<String> = Vec::new();
            for p in prints(trades) {
                let tick = bitmex::next_tick(prev, p.price);
                prev = Some((p.price, tick));
                let ms = p.ts_us.div_euclid(1000) * 1000;
                if from.is_none_or(|f| ms >= f) && to.is_none_or(|t| ms <= t) {
                    all.push(bitmex::trade_json(m, p, tick));
                }
            }
            if reverse {
                all.reverse();
            }
            all.into_iter().skip(start).take(count).collect()
        })
        .unwrap_or_default();
    Reply::ok(format!("[{}]", rows.join(",")))
}

// ---- Deribit ----

/// Deribit `public/get_last_trades_by_instrument_and_time` (`timed`: `start_timestamp` and
/// `end_timestamp` both required) and `public/get_last_trades_by_instrument` (which ccxt's
/// `fetchTrades` calls without `since`, from memory of ccxt's deribit code; optional
/// `start_timestamp`/`end_timestamp`). A bad or missing parameter is named in the error's
/// `data.param` (docs.deribit.com API reference page of the endpoint, found 2026-12-07; the
/// `{"reason","param"}` shape as this simulator already answered).
fn deribit_trades(q: &Query, hs: &[TradeHistory], timed: bool) -> Reply {
    let invalid = |param: &str, reason: &str| {
        deribit_error(
            400,
            -32602,
            "Invalid params",
            &format!(r#"{{"reason":{},"param":"{param}"}}"#, json_str(reason)),
        )
    };
    let Some(inst) = q.get("instrument_name").filter(|s| !s.is_empty()) else {
        return invalid("instrument_name", "missing");
    };
    let mut bounds = [i64::MIN, i64::MAX];
    for (bound, param) in bounds.iter_mut().zip(["start_timestamp", "end_timestamp"]) {
        match num::<i64>(q, param) {
            Ok(Some(v)) => *bound = v,
            Ok(None) if timed => return invalid(param, "missing"),
            Ok(None) => {}
            Err(()) => return invalid(param, "must be an integer"),
        }
    }
    let [from, to] = bounds;
    let Ok(count) = num::<usize>(q, "count") else {
        return invalid("count", "must be an integer");
    };
    let count = count.unwrap_or(10).clamp(1, 1000);
    let asc = match q.get("sorting").map(String::as_str) {
        Some("asc") => true,
        None | Some("desc") | Some("default") => false,
        Some(_) => return invalid("sorting", "wrong format"),
    };
    let venue = Venue::Deribit;
    let Some(h) = find(hs, venue, inst) else {
        return invalid("instrument_name", "instrument not found");
    };
    let (rows, has_more) = h
        .with(venue, inst, |m, trades| {
            let Some(m) = m else {
                return (Vec::new(), false);
            };
            let mut prev: Option<(f64, u8)> = None;
            let mut all: Vec<String> = Vec::new();
            for p in prints(trades) {
                let tick = deribit::next_tick(prev, p.price);
                prev = Some((p.price, tick));
                let ms = p.ts_us.div_euclid(1000);
                if ms >= from && ms <= to {
                    all.push(deribit::trade_json(m, p, tick));
                }
            }
            if !asc {
                all.reverse();
            }
            let more = all.len() > count;
            all.truncate(count);
            (all, more)
        })
        .unwrap_or_default();
    Reply::ok(format!(
        r#"{{"jsonrpc":"2.0","result":{{"trades":[{}],"has_more":{has_more}}},{}}}"#,
        rows.join(","),
        deribit_stamps()
    ))
}

// ---- Bitfinex ----

fn bitfinex_trades(symbol: &str, q: &Query, hs: &[TradeHistory]) -> Reply {
    let Ok(limit) = num::<usize>(q, "limit") else {
        return bitfinex_error(10020, "limit: invalid");
    };
    let (Ok(start), Ok(end)) = (num::<i64>(q, "start"), num::<i64>(q, "end")) else {
        return bitfinex_error(10020, "time_interval: invalid");
    };
    let asc = match q.get("sort").map(String::as_str) {
        Some("1") => true,
        None | Some("-1") | Some("0") | Some("") => false,
        Some(_) => return bitfinex_error(10020, "sort: invalid"),
    };
    let limit = limit.unwrap_or(125).clamp(1, 10_000);
    let venue = Venue::Bitfinex;
    let Some(h) = find(hs, venue, symbol) else {
        return bitfinex_error(10020, "symbol: invalid");
    };
    let rows = h
        .with(venue, symbol, |m, trades| {
            let Some(m) = m else { return Vec::new() };
            let within = prints(trades).filter(|p| {
                let ms = p.ts_us.div_euclid(1000);
                start.is_none_or(|s| ms >= s) && end.is_none_or(|e| ms <= e)
            });
            let page: Vec<&Print> = if asc {
                within.take(limit).collect()
            } else {
                within.rev().take(limit).collect()
            };
            page.into_iter()
                .map(|p| bitfinex::trade_row(m, p))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    Reply::ok(format!("[{}]", rows.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times_and_decoding() {
        assert_eq!(parse_iso_us("1970-01-01T00:00:01.5Z"), Some(1_500_000));
        assert_eq!(
            parse_iso_us("2026-09-25T17:48:26.844Z"),
            Some(1_790_358_506_844_000)
        );
        assert_eq!(parse_iso_us("2026-13-01"), None);
        assert_eq!(
            pct_decode("2026-01-01T00%3A00%3A00Z"),
            "2026-01-01T00:00:00Z"
        );
        assert_eq!(pct_decode("a+b%2"), "a b%2");
        assert_eq!(pct_decode("%2B+%zz"), "+ %zz");
    }

    #[test]
    fn kraken_pair_names_and_since() {
        assert_eq!(
            kraken_names("BTC/USD"),
            ("XBTUSD".to_owned(), "XXBTZUSD".to_owned())
        );
        assert_eq!(
            kraken_names("SOL/USD"),
            ("SOLUSD".to_owned(), "SOLUSD".to_owned())
        );
        assert_eq!(
            kraken_since("1688671969993150842"),
            Some(1_688_671_969_993_150_842)
        );
        assert_eq!(
            kraken_since("1688669597.5"),
            Some(1_688_669_597_500_000_000)
        );
        assert_eq!(kraken_since("x"), None);
    }

    #[test]
    fn faults_are_queued_counted_and_rate_limited() {
        let f = RestFaults::default();
        f.fail_next(Some("/api/v3/"), 2, FaultKind::Status500);
        assert_eq!(f.on_request("/v5/market/recent-trade"), None);
        assert_eq!(
            f.on_request("/api/v3/aggTrades"),
            Some(FaultKind::Status500)
        );
        assert_eq!(
            f.on_request("/api/v3/aggTrades"),
            Some(FaultKind::Status500)
        );
        assert_eq!(f.on_request("/api/v3/aggTrades"), None);
        assert_eq!(f.requests("/api/v3/aggTrades"), 3);
        f.limit_rate(Some(1));
        assert_eq!(f.on_request("/x"), None);
        assert_eq!(
            f.on_request("/x"),
            Some(FaultKind::RateLimited { retry_after_s: 1 })
        );
        assert_eq!(f.faults_played(), 3);
        let r = fault_reply("/api/v3/aggTrades", FaultKind::Banned { retry_after_s: 7 });
        assert_eq!(r.status, 418);
        assert!(r.body.contains("-1003"));
        assert_eq!(r.headers, [("Retry-After".to_owned(), "7".to_owned())]);
        let r = fault_reply("/0/public/Trades", FaultKind::Banned { retry_after_s: 2 });
        assert_eq!(r.status, 429);
        assert!(r.body.contains("EAPI:Rate limit exceeded"));
    }
}
