//! Binance COIN-M futures (`dstream.binance.com`): raw streams on `/ws/<stream>`, `/ws` and
//! `/ws/<anything>` (subscribe later), combined streams on `/stream?streams=a/b` (payloads
//! wrapped as `{"stream","data"}`); not routed by tier (the 2026 `/public`/`/market` split is
//! USDⓈ-M only: ccxt PR #28091, 2026-03-07), so `/market/…` is 404 here,
//! `SUBSCRIBE`/`UNSUBSCRIBE`/`LIST_SUBSCRIPTIONS` with Binance's replies and error codes,
//! `<pair>@aggTrade`, `<pair>@trade` and `<pair>@forceOrder` payloads with quantities in
//! contracts, and server pings every 3 minutes that must be answered within 10 minutes.
//! Formats: reference/exchanges.md §1–2 (the futures dialect) and the USDⓈ-M simulator.

use super::proto::{Hangup, Out, Print, PrintKind, Protocol, Session, SimMarket};
use serde_json::Value;
use std::fmt::Write as _;

/// Server ping interval.
const PING_EVERY_US: f64 = 180e6;
/// How long a ping may go unanswered.
const PONG_WITHIN_US: f64 = 600e6;
/// Streams one connection may carry.
const MAX_STREAMS: usize = 200;

/// Which stream of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    AggTrade,
    Trade,
    ForceOrder,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::AggTrade => "aggTrade",
            Kind::Trade => "trade",
            Kind::ForceOrder => "forceOrder",
        }
    }
}

/// One COIN-M connection.
#[derive(Debug)]
pub struct Coinm {
    combined: bool,
    /// Subscribed streams in subscription order.
    streams: Vec<(usize, Kind)>,
    scale: f64,
    next_ping_us: i64,
    ping_payload: Vec<u8>,
    unanswered_since: Option<i64>,
    errors: u64,
}

/// The Binance COIN-M protocol.
pub fn new(_venue: feeds::Venue) -> Coinm {
    Coinm {
        combined: false,
        streams: Vec::new(),
        scale: 1.0,
        next_ping_us: 0,
        ping_payload: Vec::new(),
        unanswered_since: None,
        errors: 0,
    }
}

fn parse_stream(name: &str, s: &Session<'_>) -> Option<(usize, Kind)> {
    let (pair, kind) = name.split_once('@')?;
    let kind = match kind {
        "aggTrade" => Kind::AggTrade,
        "trade" => Kind::Trade,
        "forceOrder" => Kind::ForceOrder,
        _ => return None,
    };
    let market = s
        .markets
        .iter()
        .position(|m| m.symbol.eq_ignore_ascii_case(pair) && pair == pair.to_ascii_lowercase())?;
    Some((market, kind))
}

fn error_reply(code: i64, msg: &str, id: &Value) -> String {
    let msg = Value::from(msg);
    format!(r#"{{"error":{{"code":{code},"msg":{msg}}},"id":{id}}}"#)
}

impl Coinm {
    fn resync(&self, s: &mut Session<'_>) {
        for sub in s.subs.iter_mut() {
            *sub = Default::default();
        }
        for &(m, kind) in &self.streams {
            if let Some(sub) = s.subs.get_mut(m) {
                match kind {
                    Kind::AggTrade | Kind::Trade => sub.trades = true,
                    Kind::ForceOrder => sub.liquidations = true,
                }
            }
        }
    }

    fn wrap(&self, stream: &str, payload: String, out: &mut Vec<Out>) {
        if self.combined {
            out.push(Out::Text(format!(
                r#"{{"stream":"{stream}","data":{payload}}}"#
            )));
        } else {
            out.push(Out::Text(payload));
        }
    }

    fn payload(m: &SimMarket, p: &Print, kind: Kind, now_ms: i64) -> String {
        let s = &m.symbol;
        let price = m.price_str(p.price);
        let q = m.contracts(p.qty, p.price);
        let t = p.ts_us / 1000;
        // `m`: the buyer is the maker, i.e. the taker sold.
        let maker = !p.buy;
        match kind {
            Kind::AggTrade => format!(
                r#"{{"e":"aggTrade","E":{now_ms},"a":{id},"s":"{s}","p":"{price}","q":"{q}","f":{id},"l":{id},"T":{t},"m":{maker}}}"#,
                id = p.id
            ),
            Kind::Trade => format!(
                r#"{{"e":"trade","E":{now_ms},"T":{t},"s":"{s}","t":{},"p":"{price}","q":"{q}","X":"MARKET","m":{maker}}}"#,
                p.id
            ),
            Kind::ForceOrder => {
                let side = if p.buy { "BUY" } else { "SELL" };
                let pair = s.split('_').next().unwrap_or(s);
                format!(
                    r#"{{"e":"forceOrder","E":{now_ms},"o":{{"s":"{s}","ps":"{pair}","S":"{side}","o":"LIMIT","f":"IOC","q":"{q}","p":"{price}","ap":"{price}","X":"FILLED","l":"{q}","z":"{q}","T":{t}}}}}"#
                )
            }
        }
    }
}

impl Protocol for Coinm {
    fn route(&mut self, target: &str, s: &mut Session<'_>) -> Result<(), (u16, String)> {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut names: Vec<String> = Vec::new();
        if path == "/stream" {
            self.combined = true;
        } else if path == "/ws" {
            self.combined = false;
        } else if let Some(rest) = path.strip_prefix("/ws/") {
            // A segment that is no stream name (ccxt connects to `/ws/<n>`, `n` its own
            // connection counter, then sends `SUBSCRIBE`) names nothing, as on Binance.
            self.combined = false;
            names.extend(
                rest.split('/')
                    .filter(|n| n.contains('@'))
                    .map(str::to_owned),
            );
        } else {
            return Err((404, "Not Found".to_owned()));
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("streams", v)) if self.combined => names.extend(
                    v.replace("%2F", "/")
                        .replace("%40", "@")
                        .split('/')
                        .filter(|n| !n.is_empty())
                        .map(str::to_owned),
                ),
                _ => {
                    let key = pair.split('=').next().unwrap_or(pair);
                    return Err((
                        400,
                        format!("Invalid request: unsupported parameter '{key}'"),
                    ));
                }
            }
        }
        for name in &names {
            let st = parse_stream(name, s)
                .ok_or_else(|| (400, "Invalid request: invalid stream".to_owned()))?;
            if !self.streams.contains(&st) {
                self.streams.push(st);
            }
        }
        if self.streams.len() > MAX_STREAMS {
            return Err((400, "Invalid request: too many streams".to_owned()));
        }
        self.resync(s);
        self.next_ping_us = s.now_us + (PING_EVERY_US * self.scale) as i64;
        Ok(())
    }

    fn reject_subscribe(
        &mut self,
        msg: &[u8],
        binary: bool,
        _s: &mut Session<'_>,
        out: &mut Vec<Out>,
    ) -> bool {
        let Ok(v) = serde_json::from_slice::<Value>(msg) else {
            return false;
        };
        if binary || v.get("method").and_then(Value::as_str) != Some("SUBSCRIBE") {
            return false;
        }
        self.errors += 1;
        let id = v.get("id").cloned().unwrap_or(Value::Null);
        out.push(Out::Text(error_reply(
            2,
            "Invalid request: invalid stream",
            &id,
        )));
        true
    }

    fn on_message(&mut self, msg: &[u8], binary: bool, s: &mut Session<'_>, out: &mut Vec<Out>) {
        let reply = |text: String, out: &mut Vec<Out>| out.push(Out::Text(text));
        if binary {
            self.errors += 1;
            return reply(
                error_reply(3, "Invalid JSON: binary frame", &Value::Null),
                out,
            );
        }
        let Ok(v) = serde_json::from_slice::<Value>(msg) else {
            self.errors += 1;
            return reply(error_reply(3, "Invalid JSON", &Value::Null), out);
        };
        let id = v.get("id").cloned().unwrap_or(Value::Null);
        let method = v.get("method").and_then(Value::as_str);
        let params = v.get("params").and_then(Value::as_array);
        match (method, params) {
            (Some(m @ ("SUBSCRIBE" | "UNSUBSCRIBE")), Some(list)) => {
                let mut parsed = Vec::new();
                for name in list {
                    match name.as_str().and_then(|n| parse_stream(n, s)) {
                        Some(st) => parsed.push(st),
                        None => {
                            self.errors += 1;
                            return reply(
                                error_reply(2, "Invalid request: invalid stream", &id),
                                out,
                            );
                        }
                    }
                }
                for st in parsed {
                    if m == "SUBSCRIBE" {
                        if !self.streams.contains(&st) {
                            self.streams.push(st);
                        }
                    } else {
                        self.streams.retain(|x| *x != st);
                    }
                }
                self.resync(s);
                reply(format!(r#"{{"result":null,"id":{id}}}"#), out);
            }
            (Some("LIST_SUBSCRIPTIONS"), _) => {
                let mut list = String::new();
                for (i, &(m, kind)) in self.streams.iter().enumerate() {
                    if i > 0 {
                        list.push(',');
                    }
                    let sym = s
                        .markets
                        .get(m)
                        .map_or(String::new(), |x| x.symbol.to_ascii_lowercase());
                    let _ = write!(list, r#""{sym}@{}""#, kind.name());
                }
                reply(format!(r#"{{"result":[{list}],"id":{id}}}"#), out);
            }
            (Some("SUBSCRIBE" | "UNSUBSCRIBE"), None) => {
                self.errors += 1;
                reply(
                    error_reply(
                        2,
                        "Invalid request: params must be an array of stream names",
                        &id,
                    ),
                    out,
                );
            }
            _ => {
                self.errors += 1;
                reply(error_reply(2, "Invalid request: unknown method", &id), out);
            }
        }
    }

    fn on_pong(&mut self, payload: &[u8], _s: &mut Session<'_>) {
        if !self.ping_payload.is_empty() && payload == self.ping_payload.as_slice() {
            self.unanswered_since = None;
        }
    }

    fn on_prints(&mut self, prints: &[Print], s: &mut Session<'_>, out: &mut Vec<Out>) {
        let now_ms = s.now_us / 1000;
        for p in prints {
            let Some(m) = s.markets.get(p.market) else {
                continue;
            };
            for &(market, kind) in &self.streams {
                let wanted = market == p.market
                    && match kind {
                        Kind::AggTrade | Kind::Trade => p.kind == PrintKind::Trade,
                        Kind::ForceOrder => p.kind == PrintKind::Liquidation,
                    };
                if wanted {
                    let stream = format!("{}@{}", m.symbol.to_ascii_lowercase(), kind.name());
                    self.wrap(&stream, Self::payload(m, p, kind, now_ms), out);
                }
            }
        }
    }

    fn on_timer(&mut self, s: &mut Session<'_>, out: &mut Vec<Out>) -> Result<(), Hangup> {
        if let Some(since) = self.unanswered_since {
            if (s.now_us - since) as f64 > PONG_WITHIN_US * self.scale {
                return Err(Hangup::PingTimeout);
            }
        }
        if s.now_us >= self.next_ping_us {
            self.next_ping_us = s.now_us + (PING_EVERY_US * self.scale) as i64;
            self.ping_payload = (s.now_us / 1000).to_string().into_bytes();
            self.unanswered_since.get_or_insert(s.now_us);
            out.push(Out::Ping(self.ping_payload.clone()));
        }
        Ok(())
    }

    fn set_keepalive_scale(&mut self, scale: f64) {
        self.scale = scale;
    }

    fn errors_sent(&self) -> u64 {
        self.errors
    }
}
