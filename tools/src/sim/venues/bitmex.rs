//! BitMEX realtime (`ws.bitmex.com/realtime`): the `trade` and `liquidation` tables.
//!
//! - On open: the welcome `info` frame (its `timestamp` is the only clock a client has for
//!   liquidations before the first trade).
//! - `{"op":"subscribe","args":["trade:XBTUSD","liquidation:XBTUSD"]}` (or `?subscribe=…` on
//!   the URL, which sends no acks): one `success` reply per topic echoing the request (trade
//!   acks carry `"pool":"Aggregated"`), then the table's `partial` (trade: the last trade;
//!   liquidation: the open liquidation orders, none). A topic without `:symbol` covers every
//!   symbol. Unknown symbols: `{"status":400,"error":"Unknown or expired symbol.",…}`.
//! - Trades: `insert` rows, consecutive fills of one symbol in one frame; `side` is the
//!   aggressor, `size` contracts (XBTUSD: inverse, 1 USD each), `homeNotional` base units
//!   rounded to 8 digits, `foreignNotional` quote units, `grossValue` satoshis, `trdMatchID`
//!   a GUID, `tickDirection` from this connection's previous print.
//! - Liquidations: an `insert` of the order (`side` = the order side, `leavesQty`
//!   contracts, `price`, no timestamp) followed by its `delete` once filled.
//! - Keepalive: the text `ping` is answered with the text `pong`.

use super::proto::{Hangup, Out, Print, PrintKind, Protocol, Session, SimMarket};
use super::wirefmt::{self, guid, json_str, rfc3339};
use feeds::Venue;
use serde_json::Value;

const UNRECOGNIZED: &str = "Unrecognized request. See the docs or send 'help' for more details. Please see the documentation at https://www.bitmex.com/app/wsAPI.";

const TRADE_TYPES: &str = r#"{"timestamp":"timestamp","symbol":"symbol","side":"symbol","size":"long","price":"float","tickDirection":"symbol","trdMatchID":"guid","grossValue":"long","homeNotional":"float","foreignNotional":"float","trdType":"symbol","pool":"symbol"}"#;

const LIQUIDATION_TYPES: &str =
    r#"{"orderID":"guid","symbol":"symbol","side":"symbol","price":"float","leavesQty":"long"}"#;

/// The BitMEX protocol, one value per connection.
#[derive(Debug)]
pub struct Bitmex {
    /// Topics named in the URL (`?subscribe=`), subscribed when the connection opens.
    url_topics: Vec<String>,
    /// Per market: last price and tick direction sent on this connection.
    ticks: Vec<Option<(f64, &'static str)>>,
}

/// The BitMEX protocol (`venue` is `Venue::Bitmex`).
pub fn new(_venue: Venue) -> Bitmex {
    Bitmex {
        url_topics: Vec::new(),
        ticks: Vec::new(),
    }
}

/// Sizes of one print: (contracts, homeNotional, foreignNotional) as wire text, and
/// `grossValue`.
fn sizes(m: &SimMarket, p: &Print) -> (String, String, String, i64) {
    let (size, inverse) = match m.spec {
        Some(spec) => (spec.size.to_f64(), spec.inverse),
        None => (m.lot, false),
    };
    if inverse {
        let contracts = (p.qty * p.price / size).round().max(1.0);
        let home = (contracts * size / p.price * 1e8).round() / 1e8;
        let gross = (home * 1e8).round() as i64;
        (
            format!("{contracts:.0}"),
            wirefmt::short(home, 8),
            wirefmt::short(contracts * size, 8),
            gross,
        )
    } else {
        let contracts = (p.qty / size).round().max(1.0);
        let home = contracts * size;
        let dec = wirefmt::decimals(size);
        let foreign = home * p.price;
        let gross = (foreign * 1e6).round() as i64;
        (
            format!("{contracts:.0}"),
            wirefmt::short(home, dec),
            wirefmt::short(foreign, dec + wirefmt::decimals(m.tick)),
            gross,
        )
    }
}

fn error(status: u16, message: &str, request: &str) -> Out {
    Out::Text(format!(
        r#"{{"status":{status},"error":{},"meta":{{}},"request":{request}}}"#,
        json_str(message)
    ))
}

/// `tickDirection` of a trade at `price` after `prev` (last price and its direction).
pub(crate) fn next_tick(prev: Option<(f64, &'static str)>, price: f64) -> &'static str {
    match prev {
        None => "ZeroPlusTick",
        Some((last, _)) if price > last => "PlusTick",
        Some((last, _)) if price < last => "MinusTick",
        Some((_, "PlusTick" | "ZeroPlusTick")) => "ZeroPlusTick",
        Some(_) => "ZeroMinusTick",
    }
}

/// One `trade` row as BitMEX writes it (WebSocket `trade` table and REST `/api/v1/trade`).
pub(crate) fn trade_json(m: &SimMarket, p: &Print, tick: &str) -> String {
    let (size, home, foreign, gross) = sizes(m, p);
    format!(
        r#"{{"timestamp":"{}","symbol":{},"side":"{}","size":{size},"price":{},"tickDirection":"{tick}","trdMatchID":"{}","grossValue":{gross},"homeNotional":{home},"foreignNotional":{foreign},"trdType":"Regular","pool":"Aggregated"}}"#,
        rfc3339(p.ts_us, 3),
        json_str(&m.symbol),
        if p.buy { "Buy" } else { "Sell" },
        wirefmt::price(m, p.price),
        guid(p.id, p.market as u64)
    )
}

impl Bitmex {
    fn ensure(&mut self, s: &Session<'_>) {
        if self.ticks.len() != s.markets.len() {
            self.ticks = vec![None; s.markets.len()];
        }
    }

    fn trade_row(&mut self, m: &SimMarket, p: &Print) -> String {
        let tick = next_tick(self.ticks.get(p.market).copied().flatten(), p.price);
        if let Some(slot) = self.ticks.get_mut(p.market) {
            *slot = Some((p.price, tick));
        }
        trade_json(m, p, tick)
    }

    /// Subscribe or unsubscribe `topics`; `request` is the request echoed in replies, `None`
    /// for URL subscriptions (no acks).
    fn topics(
        &mut self,
        subscribe: bool,
        topics: &[String],
        request: Option<&str>,
        s: &mut Session<'_>,
        out: &mut Vec<Out>,
    ) {
        let echo = request.unwrap_or("{}");
        for topic in topics {
            let (table, symbol) = match topic.split_once(':') {
                Some((t, sym)) => (t, Some(sym)),
                None => (topic.as_str(), None),
            };
            let liquidation = match table {
                "trade" => false,
                "liquidation" => true,
                _ => {
                    out.push(error(400, &format!("Unknown table: {table}"), echo));
                    continue;
                }
            };
            let markets: Vec<usize> = match symbol {
                None => (0..s.markets.len()).collect(),
                Some(sym) => match s.find(sym) {
                    Some(i) => vec![i],
                    None => {
                        out.push(error(400, "Unknown or expired symbol.", echo));
                        continue;
                    }
                },
            };
            for &i in &markets {
                if let Some(sub) = s.subs.get_mut(i) {
                    if liquidation {
                        sub.liquidations = subscribe;
                    } else {
                        sub.trades = subscribe;
                    }
                }
            }
            let op = if subscribe {
                "subscribe"
            } else {
                "unsubscribe"
            };
            if let Some(req) = request {
                let pool = if liquidation {
                    ""
                } else {
                    r#","pool":"Aggregated""#
                };
                out.push(Out::Text(format!(
                    r#"{{"success":true,"{op}":{}{pool},"request":{req}}}"#,
                    json_str(topic)
                )));
            }
            if !subscribe {
                continue;
            }
            let filter = match (symbol, liquidation) {
                (Some(sym), false) => {
                    format!(r#"{{"pool":"Aggregated","symbol":{}}}"#, json_str(sym))
                }
                (None, false) => r#"{"pool":"Aggregated"}"#.to_owned(),
                (Some(sym), true) => format!(r#"{{"symbol":{}}}"#, json_str(sym)),
                (None, true) => "{}".to_owned(),
            };
            if liquidation {
                out.push(Out::Text(format!(
                    r#"{{"table":"liquidation","action":"partial","keys":["orderID"],"types":{LIQUIDATION_TYPES},"filter":{filter},"data":[]}}"#
                )));
            } else {
                let mut rows = Vec::new();
                for &i in &markets {
                    let last = s.recent.get(i).and_then(|r| r.last());
                    if let (Some(m), Some(p)) = (s.markets.get(i), last) {
                        rows.push(self.trade_row(m, p));
                        s.sent_snapshot(i, 1);
                    }
                }
                out.push(Out::Text(format!(
                    r#"{{"table":"trade","action":"partial","keys":[],"types":{TRADE_TYPES},"filter":{filter},"data":[{}]}}"#,
                    rows.join(",")
                )));
            }
        }
    }
}

impl Protocol for Bitmex {
    fn route(&mut self, target: &str, s: &mut Session<'_>) -> Result<(), (u16, String)> {
        self.ensure(s);
        if wirefmt::path(target) != "/realtime" {
            return Err((404, "Not Found".to_owned()));
        }
        let query = target.split_once('?').map_or("", |(_, q)| q);
        for pair in query.split('&') {
            if let Some(list) = pair.strip_prefix("subscribe=") {
                self.url_topics.extend(
                    list.split(',')
                        .filter(|t| !t.is_empty())
                        .map(|t| t.replace("%3A", ":").replace("%3a", ":")),
                );
            }
        }
        Ok(())
    }

    fn on_open(&mut self, s: &mut Session<'_>, out: &mut Vec<Out>) {
        self.ensure(s);
        out.push(Out::Text(format!(
            r#"{{"info":"Welcome to the BitMEX Realtime API.","version":"2.0.0","timestamp":"{}","docs":"https://www.bitmex.com/app/wsAPI","heartbeatEnabled":false,"appName":"ws-feedhandler"}}"#,
            rfc3339(s.now_us, 3)
        )));
        let topics = std::mem::take(&mut self.url_topics);
        self.topics(true, &topics, None, s, out);
    }

    fn on_message(&mut self, msg: &[u8], binary: bool, s: &mut Session<'_>, out: &mut Vec<Out>) {
        self.ensure(s);
        if !binary && msg.trim_ascii() == b"ping" {
            out.push(Out::Text("pong".to_owned()));
            return;
        }
        let req = match serde_json::from_slice::<Value>(msg) {
            Ok(v) if !binary && v.is_object() => v,
            _ => {
                out.push(error(400, UNRECOGNIZED, "{}"));
                return;
            }
        };
        // Echo the request as sent (serde_json would reorder its keys).
        let echo =
            std::str::from_utf8(msg).map_or_else(|_| req.to_string(), |t| t.trim().to_owned());
        let subscribe = match req.get("op").and_then(Value::as_str) {
            Some("subscribe") => true,
            Some("unsubscribe") => false,
            _ => {
                out.push(error(400, UNRECOGNIZED, &echo));
                return;
            }
        };
        let topics: Option<Vec<String>> = match req.get("args") {
            Some(Value::String(t)) => Some(vec![t.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect(),
            _ => None,
        };
        match topics {
            Some(topics) => self.topics(subscribe, &topics, Some(&echo), s, out),
            None => out.push(error(400, UNRECOGNIZED, &echo)),
        }
    }

    fn on_prints(&mut self, prints: &[Print], s: &mut Session<'_>, out: &mut Vec<Out>) {
        self.ensure(s);
        let mut rows: Vec<String> = Vec::new();
        let mut group: Option<usize> = None;
        let flush = |rows: &mut Vec<String>, out: &mut Vec<Out>| {
            if !rows.is_empty() {
                out.push(Out::Text(format!(
                    r#"{{"table":"trade","action":"insert","data":[{}]}}"#,
                    rows.join(",")
                )));
                rows.clear();
            }
        };
        for p in prints {
            let Some(m) = s.markets.get(p.market) else {
                continue;
            };
            match p.kind {
                PrintKind::Trade => {
                    if group != Some(p.market) {
                        flush(&mut rows, out);
                        group = Some(p.market);
                    }
                    let row = self.trade_row(m, p);
                    rows.push(row);
                }
                PrintKind::Liquidation => {
                    flush(&mut rows, out);
                    group = None;
                    let order = guid(p.id, 0x4c51 + p.market as u64);
                    let (size, ..) = sizes(m, p);
                    out.push(Out::Text(format!(
                        r#"{{"table":"liquidation","action":"insert","data":[{{"orderID":"{order}","symbol":{},"side":"{}","price":{},"leavesQty":{size}}}]}}"#,
                        json_str(&m.symbol),
                        if p.buy { "Buy" } else { "Sell" },
                        wirefmt::price(m, p.price)
                    )));
                    out.push(Out::Text(format!(
                        r#"{{"table":"liquidation","action":"delete","data":[{{"orderID":"{order}","symbol":{}}}]}}"#,
                        json_str(&m.symbol)
                    )));
                }
                PrintKind::OpenInterest => {}
            }
        }
        flush(&mut rows, out);
    }

    fn on_timer(&mut self, _s: &mut Session<'_>, _out: &mut Vec<Out>) -> Result<(), Hangup> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::wirefmt::testkit::*;
    use super::*;
    use feeds::bitmex::subscribe_message;
    use feeds::{EventKind, Frame};

    fn fixture() -> Fixture {
        let v = Venue::Bitmex;
        let mut f = Fixture::new(vec![
            market(v, "XBTUSD", "BTC", inverse_usd(1), 0.5, 0.00001),
            market(v, "ETHUSD", "ETH", None, 0.05, 1.0),
        ]);
        f.recent[0] = vec![trade(0, 9, false, 64330.5, 0.00311, T0 - 60_000_000)];
        f
    }

    #[test]
    fn routes() {
        let mut f = fixture();
        let mut p = new(Venue::Bitmex);
        assert_eq!(p.route("/realtime", &mut f.session()), Ok(()));
        assert_eq!(p.route("/realtime/x", &mut f.session()).unwrap_err().0, 404);
        assert_eq!(p.route("/", &mut f.session()).unwrap_err().0, 404);
    }

    #[test]
    fn welcome_subscribe_partial_inserts_and_liquidations() {
        let v = Venue::Bitmex;
        let mut f = fixture();
        let mut p = new(v);
        let mut dec = v.decoder();
        let mut out = Vec::new();
        p.on_open(&mut f.session(), &mut out);
        let req = subscribe_message(&["XBTUSD", "ETHUSD"]);
        p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        let got = decode_all(dec.as_mut(), &out);
        let frames: Vec<_> = got.iter().map(|d| d.0).collect();
        assert_eq!(
            frames,
            [
                Ok(Frame::Other),
                Ok(Frame::SubscribeAck),
                Ok(Frame::Data(1)),
                Ok(Frame::SubscribeAck),
                Ok(Frame::Data(0)),
                Ok(Frame::SubscribeAck),
                Ok(Frame::Data(0)),
                Ok(Frame::SubscribeAck),
                Ok(Frame::Data(0)),
            ]
        );
        assert!(texts(&out)[1].starts_with(
            r#"{"success":true,"subscribe":"trade:XBTUSD","pool":"Aggregated","request":{"op":"subscribe""#
        ));
        // The partial: the last trade, 200 contracts of 1 USD.
        assert_event(&got[2].1[0], &f.recent[0][0], "XBTUSD", 1000, 0.5 / 64330.5);
        assert!(texts(&out)[2].contains(r#""size":200,"price":64330.5"#));
        assert!(f.subs.iter().all(|x| x.trades && x.liquidations));

        let prints = [
            trade(0, 10, true, 32180.5, 0.0031075, T0 + 1_000),
            trade(0, 11, true, 32181.0, 0.028, T0 + 1_000),
            trade(1, 3, false, 2500.05, 7.0, T0 + 2_000),
            liq(0, 1, false, 90396.5, 9.86, T0 + 3_000),
            liq(1, 2, true, 2510.0, 3.0, T0 + 3_000),
        ];
        let mut out = Vec::new();
        p.on_prints(&prints, &mut f.session(), &mut out);
        assert_eq!(out.len(), 6, "{out:?}");
        let wire = texts(&out);
        assert!(wire[0]
            .contains(r#""side":"Buy","size":100,"price":32180.5,"tickDirection":"MinusTick""#));
        assert!(wire[0].contains(r#""size":901,"price":32181,"tickDirection":"PlusTick""#));
        assert!(
            wire[2].contains(r#""side":"Sell","price":90396.5,"leavesQty":891309}"#),
            "{}",
            wire[2]
        );
        let got = decode_all(dec.as_mut(), &out);
        assert_eq!(got[0].0, Ok(Frame::Data(2)));
        assert_event(&got[0].1[0], &prints[0], "XBTUSD", 1000, 0.5 / 32180.5);
        assert_event(&got[0].1[1], &prints[1], "XBTUSD", 1000, 0.5 / 32181.0);
        assert_event(&got[1].1[0], &prints[2], "ETHUSD", 1000, 0.0);
        // Liquidations carry no time: the decoder stamps the last trade's.
        let mut l = prints[3];
        l.ts_us = prints[2].ts_us;
        assert_eq!(got[2].0, Ok(Frame::Data(1)));
        assert_event(&got[2].1[0], &l, "XBTUSD", 1000, 0.5 / 90396.5);
        assert_eq!(got[2].1[0].kind, EventKind::Liquidation);
        assert_eq!(got[3].0, Ok(Frame::Data(0)));
        // ETHUSD has no bundled contract spec: the real decoder refuses its liquidation.
        assert!(got[4].0.is_err());
        assert_eq!(got[5].0, Ok(Frame::Data(0)));
    }

    #[test]
    fn url_subscription_ping_and_errors() {
        let v = Venue::Bitmex;
        let mut f = fixture();
        let mut p = new(v);
        let mut dec = v.decoder();
        p.route(
            "/realtime?subscribe=trade:XBTUSD,liquidation",
            &mut f.session(),
        )
        .unwrap();
        let mut out = Vec::new();
        p.on_open(&mut f.session(), &mut out);
        let got = decode_all(dec.as_mut(), &out);
        let frames: Vec<_> = got.iter().map(|d| d.0).collect();
        assert_eq!(
            frames,
            [Ok(Frame::Other), Ok(Frame::Data(1)), Ok(Frame::Data(0))]
        );
        assert!(f.subs[0].trades && f.subs[0].liquidations);
        assert!(!f.subs[1].trades && f.subs[1].liquidations);

        let mut out = Vec::new();
        p.on_message(b"ping", false, &mut f.session(), &mut out);
        assert_eq!(texts(&out), ["pong"]);
        assert_eq!(decode_all(dec.as_mut(), &out)[0].0, Ok(Frame::Other));

        let mut out = Vec::new();
        let req = subscribe_message(&["XBTUSDT"]);
        p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        p.on_message(br#"{"op":"hello"}"#, false, &mut f.session(), &mut out);
        p.on_message(b"{{", false, &mut f.session(), &mut out);
        assert_eq!(out.len(), 4);
        assert!(texts(&out)[0].starts_with(r#"{"status":400,"error":"Unknown or expired symbol.""#));
        assert!(decode_all(dec.as_mut(), &out)
            .iter()
            .all(|d| d.0 == Ok(Frame::VenueError { code: 400 })));
    }

    #[test]
    fn frames_have_the_real_shape() {
        let real = |needle: &str| vector("feeds/bitmex.jsonl", needle);
        let v = Venue::Bitmex;
        let mut f = fixture();
        let mut p = new(v);
        let mut out = Vec::new();
        p.on_open(&mut f.session(), &mut out);
        let req = subscribe_message(&["XBTUSD"]);
        p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        let prints = [
            trade(0, 10, true, 32180.5, 0.0031075, T0 + 1_000),
            liq(0, 1, false, 90396.5, 9.86, T0 + 3_000),
        ];
        p.on_prints(&prints, &mut f.session(), &mut out);
        p.on_message(b"hello", false, &mut f.session(), &mut out);
        let wire = texts(&out);
        assert_eq!(wire.len(), 9);
        assert_same_shape(wire[0], &real(r#""info":"Welcome"#));
        assert_same_shape(wire[1], &real(r#""success":true"#));
        assert_same_shape(wire[2], &real(r#""action":"partial""#));
        // Insert rows have the 2026 partial row's fields (trdType and pool included).
        let row = |frame: &str| {
            let v: serde_json::Value = serde_json::from_str(frame).unwrap();
            v["data"][0].to_string()
        };
        assert_same_shape(&row(wire[5]), &row(&real(r#""action":"partial""#)));
        assert_same_shape(wire[6], &real(r#""table":"liquidation","action":"insert""#));
        assert_same_shape(wire[7], &real(r#""table":"liquidation","action":"delete""#));
        assert_same_shape(wire[8], &real(r#""status":400"#));
        // The liquidation partial of an all-symbols subscription (real 2024-11-13 frame,
        // reference/exchanges.md).
        let mut out = Vec::new();
        p.on_message(
            br#"{"op":"subscribe","args":["liquidation"]}"#,
            false,
            &mut f.session(),
            &mut out,
        );
        assert_same_shape(
            texts(&out)[1],
            r#"{"table":"liquidation","action":"partial","keys":["orderID"],"types":{"orderID":"guid","symbol":"symbol","side":"symbol","price":"float","leavesQty":"long"},"filter":{},"data":[]}"#,
        );
    }

    #[test]
    fn unsubscribe() {
        let v = Venue::Bitmex;
        let mut f = fixture();
        let mut p = new(v);
        let mut out = Vec::new();
        let req = subscribe_message(&["XBTUSD", "ETHUSD"]);
        p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        let mut out = Vec::new();
        let req = r#"{"op":"unsubscribe","args":["trade:XBTUSD"]}"#;
        p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        assert_eq!(
            texts(&out),
            [
                r#"{"success":true,"unsubscribe":"trade:XBTUSD","pool":"Aggregated","request":{"op":"unsubscribe","args":["trade:XBTUSD"]}}"#
            ]
        );
        assert!(!f.subs[0].trades && f.subs[0].liquidations && f.subs[1].trades);
    }
}
