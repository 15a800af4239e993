//! Kraken spot WebSocket v2 (`ws.kraken.com/v2`) and Kraken Futures
//! (`futures.kraken.com/ws/v1`).
//!
//! - **Spot v2**: a `status` frame on open; `{"method":"subscribe","params":{"channel":"trade",
//!   "symbol":[…],"snapshot":…}}` answers one ack per symbol (`success`, `result`, `time_in`,
//!   `time_out`, the request's `req_id`), then, unless `snapshot:false`, a `snapshot` of the
//!   recent trades; trades arrive as `update`s with `data` arrays (one message per symbol,
//!   JSON-number `price`/`qty`, taker `side`, sequential `trade_id`, RFC 3339 µs
//!   `timestamp`). `{"channel":"heartbeat"}` once a second while subscribed and otherwise
//!   idle; `{"method":"ping"}` answers `pong`. Unknown pairs get Kraken's
//!   `Currency pair not supported` error. No liquidations on spot.
//! - **Futures**: `{"event":"info","version":1}` on open; `subscribe` to `trade` answers a
//!   `subscribed` event and a `trade_snapshot` (newest first) per product; trades and
//!   liquidations then arrive one `trade` message each (`type` `fill` / `liquidation`, taker
//!   side, ms `time`, `seq`); the `heartbeat` feed sends `{"feed":"heartbeat","time":…}` every
//!   5 s. `qty` is base units on `PF_`/`FF_` (linear, multi-collateral) and whole 1-USD
//!   contracts on `PI_`/`FI_` (inverse) unless the market's spec says otherwise.

use super::proto::{Hangup, Out, Print, PrintKind, Protocol, Session, SimMarket};
use super::wirefmt::{self, guid, json_str, millis, rfc3339};
use feeds::Venue;
use serde_json::Value;

/// Trades in a spot v2 `snapshot` (Kraken sends the last 50).
const SPOT_SNAPSHOT: usize = 50;
/// Trades in a futures `trade_snapshot`.
const FUTURES_SNAPSHOT: usize = 100;
/// Spot v2 heartbeat when idle.
const SPOT_HEARTBEAT_US: i64 = 1_000_000;
/// Futures `heartbeat` feed period.
const FUTURES_HEARTBEAT_US: i64 = 5_000_000;

/// Kraken spot v2 or Kraken Futures, one value per connection.
#[derive(Debug)]
pub struct Kraken {
    futures: bool,
    /// Last frame sent or heartbeat due time base (µs); 0 before the first timer tick.
    last_sent_us: i64,
    /// Futures: subscribed to the `heartbeat` feed.
    heartbeat_feed: bool,
}

/// The protocol of `venue` (`Venue::KrakenSpot` or `Venue::KrakenFutures`).
pub fn new(venue: Venue) -> Kraken {
    Kraken {
        futures: venue == Venue::KrakenFutures,
        last_sent_us: 0,
        heartbeat_feed: false,
    }
}

/// Strings of a JSON array (`None` if it is not one).
fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    v?.as_array()?
        .iter()
        .map(|i| i.as_str().map(str::to_owned))
        .collect()
}

/// How a futures market's `qty` relates to base units.
#[derive(Debug, Clone, Copy, PartialEq)]
enum FuturesQty {
    Base,
    /// Contracts of this many USD (inverse).
    Inverse(f64),
    /// Contracts of this many base units (linear).
    Linear(f64),
}

fn futures_qty(m: &SimMarket) -> FuturesQty {
    match m.spec {
        Some(spec) if spec.inverse => FuturesQty::Inverse(spec.size.to_f64()),
        Some(spec) if spec.size.to_f64() != 1.0 => FuturesQty::Linear(spec.size.to_f64()),
        Some(_) => FuturesQty::Base,
        None if m.symbol.starts_with("PI_") || m.symbol.starts_with("FI_") => {
            FuturesQty::Inverse(1.0)
        }
        None => FuturesQty::Base,
    }
}

/// The futures `qty` literal of a print.
pub(crate) fn futures_qty_text(m: &SimMarket, p: &Print) -> String {
    match futures_qty(m) {
        FuturesQty::Base => wirefmt::qty(m, p.qty),
        FuturesQty::Inverse(usd) => {
            let contracts = (p.qty * p.price / usd).round().max(1.0);
            format!("{contracts:.0}")
        }
        FuturesQty::Linear(size) => {
            let contracts = (p.qty / size).round().max(1.0);
            format!("{contracts:.0}")
        }
    }
}

impl Kraken {
    fn times(s: &Session<'_>) -> String {
        let t = rfc3339(s.now_us, 6);
        format!(r#""time_in":"{t}","time_out":"{t}""#)
    }

    fn req_id(req: &Value) -> String {
        match req.get("req_id") {
            Some(id) if id.is_u64() || id.is_i64() => format!(r#","req_id":{id}"#),
            _ => String::new(),
        }
    }

    // ---- spot v2 ----

    fn spot_trade(m: &SimMarket, p: &Print) -> String {
        format!(
            r#"{{"symbol":{},"side":"{}","price":{},"qty":{},"ord_type":"{}","trade_id":{},"timestamp":"{}"}}"#,
            json_str(&m.symbol),
            if p.buy { "buy" } else { "sell" },
            wirefmt::price(m, p.price),
            wirefmt::fixed(p.qty, wirefmt::decimals(m.lot)),
            if p.id % 3 == 0 { "limit" } else { "market" },
            p.id,
            rfc3339(p.ts_us, 6)
        )
    }

    fn spot_trades(s: &Session<'_>, kind: &str, prints: &[&Print]) -> Option<Out> {
        let first = prints.first()?;
        let m = s.markets.get(first.market)?;
        let data: Vec<String> = prints.iter().map(|p| Self::spot_trade(m, p)).collect();
        Some(Out::Text(format!(
            r#"{{"channel":"trade","type":"{kind}","data":[{}]}}"#,
            data.join(",")
        )))
    }

    fn spot_error(s: &Session<'_>, method: &str, error: &str, extra: &str) -> Out {
        Out::Text(format!(
            r#"{{"error":{},"method":{},"success":false{extra},{}}}"#,
            json_str(error),
            json_str(method),
            Self::times(s)
        ))
    }

    fn spot_request(&mut self, req: &Value, s: &mut Session<'_>, out: &mut Vec<Out>) {
        let req_id = Self::req_id(req);
        let method = req.get("method").and_then(Value::as_str).unwrap_or("");
        match method {
            "ping" => out.push(Out::Text(format!(
                r#"{{"method":"pong"{req_id},{}}}"#,
                Self::times(s)
            ))),
            "subscribe" | "unsubscribe" => {
                let params = req.get("params");
                let channel = params
                    .and_then(|p| p.get("channel"))
                    .and_then(Value::as_str);
                if channel != Some("trade") {
                    let name = channel.unwrap_or("");
                    out.push(Self::spot_error(
                        s,
                        method,
                        &format!("Channel {name} not supported"),
                        &req_id,
                    ));
                    return;
                }
                let Some(symbols) = strings(params.and_then(|p| p.get("symbol"))) else {
                    out.push(Self::spot_error(s, method, "Missing symbol", &req_id));
                    return;
                };
                let snapshot = params
                    .and_then(|p| p.get("snapshot"))
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                let subscribe = method == "subscribe";
                for symbol in symbols {
                    let Some(i) = s.find(&symbol) else {
                        let extra = format!(r#","symbol":{}{req_id}"#, json_str(&symbol));
                        out.push(Self::spot_error(
                            s,
                            method,
                            &format!("Currency pair not supported {symbol}"),
                            &extra,
                        ));
                        continue;
                    };
                    let was = s.subs.get(i).is_some_and(|x| x.trades);
                    if let Some(sub) = s.subs.get_mut(i) {
                        sub.trades = subscribe;
                    }
                    let snap = if subscribe { snapshot } else { false };
                    let result = if subscribe {
                        format!(
                            r#"{{"channel":"trade","snapshot":{snapshot},"symbol":{}}}"#,
                            json_str(&symbol)
                        )
                    } else {
                        format!(r#"{{"channel":"trade","symbol":{}}}"#, json_str(&symbol))
                    };
                    out.push(Out::Text(format!(
                        r#"{{"method":"{method}"{req_id},"result":{result},"success":true,{}}}"#,
                        Self::times(s)
                    )));
                    if snap && !was {
                        let recent = s.recent.get(i).map_or(&[][..], Vec::as_slice);
                        let from = recent.len().saturating_sub(SPOT_SNAPSHOT);
                        let prints: Vec<&Print> = recent.iter().skip(from).collect();
                        let n = prints.len();
                        s.sent_snapshot(i, n);
                        match Self::spot_trades(s, "snapshot", &prints) {
                            Some(o) => out.push(o),
                            None => out.push(Out::Text(
                                r#"{"channel":"trade","type":"snapshot","data":[]}"#.to_owned(),
                            )),
                        }
                    }
                }
            }
            "" => out.push(Self::spot_error(s, "", "Malformed request", &req_id)),
            other => out.push(Self::spot_error(s, other, "Method not found", &req_id)),
        }
    }

    // ---- futures ----

    fn futures_trade(m: &SimMarket, p: &Print) -> String {
        format!(
            r#"{{"feed":"trade","product_id":{},"uid":"{}","side":"{}","type":"{}","seq":{},"time":{},"qty":{},"price":{}}}"#,
            json_str(&m.symbol),
            guid(
                p.id,
                p.market as u64
                    + if p.kind == PrintKind::Trade {
                        0
                    } else {
                        1 << 40
                    }
            ),
            if p.buy { "buy" } else { "sell" },
            if p.kind == PrintKind::Liquidation {
                "liquidation"
            } else {
                "fill"
            },
            p.id,
            millis(p.ts_us),
            futures_qty_text(m, p),
            wirefmt::price(m, p.price)
        )
    }

    fn futures_error(message: &str) -> Out {
        Out::Text(format!(
            r#"{{"event":"error","message":{}}}"#,
            json_str(message)
        ))
    }

    fn futures_request(&mut self, req: &Value, s: &mut Session<'_>, out: &mut Vec<Out>) {
        let event = req.get("event").and_then(Value::as_str);
        let subscribe = match event {
            Some("subscribe") => true,
            Some("unsubscribe") => false,
            _ => {
                out.push(Self::futures_error("Invalid event"));
                return;
            }
        };
        let done = if subscribe {
            "subscribed"
        } else {
            "unsubscribed"
        };
        match req.get("feed").and_then(Value::as_str) {
            Some("heartbeat") => {
                self.heartbeat_feed = subscribe;
                out.push(Out::Text(format!(
                    r#"{{"event":"{done}","feed":"heartbeat"}}"#
                )));
            }
            Some("trade") => {
                let Some(ids) = strings(req.get("product_ids")) else {
                    out.push(Self::futures_error("Invalid product id"));
                    return;
                };
                let mut markets = Vec::new();
                for id in &ids {
                    match s.find(id) {
                        Some(i) => markets.push(i),
                        None => {
                            out.push(Self::futures_error("Invalid product id"));
                            return;
                        }
                    }
                }
                for i in markets {
                    let Some(m) = s.markets.get(i) else { continue };
                    let was = s.subs.get(i).is_some_and(|x| x.trades);
                    if let Some(sub) = s.subs.get_mut(i) {
                        sub.trades = subscribe;
                        sub.liquidations = subscribe;
                    }
                    out.push(Out::Text(format!(
                        r#"{{"event":"{done}","feed":"trade","product_ids":[{}]}}"#,
                        json_str(&m.symbol)
                    )));
                    if subscribe && !was {
                        let recent = s.recent.get(i).map_or(&[][..], Vec::as_slice);
                        let from = recent.len().saturating_sub(FUTURES_SNAPSHOT);
                        let trades: Vec<String> = recent
                            .iter()
                            .skip(from)
                            .rev()
                            .map(|p| Self::futures_trade(m, p))
                            .collect();
                        s.sent_snapshot(i, trades.len());
                        out.push(Out::Text(format!(
                            r#"{{"feed":"trade_snapshot","product_id":{},"trades":[{}]}}"#,
                            json_str(&m.symbol),
                            trades.join(",")
                        )));
                    }
                }
            }
            _ => out.push(Self::futures_error("Invalid feed")),
        }
    }
}

impl Protocol for Kraken {
    fn route(&mut self, target: &str, _s: &mut Session<'_>) -> Result<(), (u16, String)> {
        let want = if self.futures { "/ws/v1" } else { "/v2" };
        if wirefmt::path(target) == want {
            Ok(())
        } else {
            Err((404, "Not Found".to_owned()))
        }
    }

    fn on_open(&mut self, s: &mut Session<'_>, out: &mut Vec<Out>) {
        self.last_sent_us = s.now_us;
        if self.futures {
            out.push(Out::Text(r#"{"event":"info","version":1}"#.to_owned()));
        } else {
            // Kraken's connection ids exceed i64::MAX.
            let id = 18_000_000_000_000_000_000u64.wrapping_add(s.conn.wrapping_mul(7919));
            out.push(Out::Text(format!(
                r#"{{"channel":"status","type":"update","data":[{{"version":"2.0.10","system":"online","api_version":"v2","connection_id":{id},"upcoming_maintenance":[],"emergency":[]}}]}}"#
            )));
        }
    }

    fn reject_subscribe(
        &mut self,
        msg: &[u8],
        binary: bool,
        s: &mut Session<'_>,
        out: &mut Vec<Out>,
    ) -> bool {
        let req = match serde_json::from_slice::<Value>(msg) {
            Ok(v) if !binary => v,
            _ => return false,
        };
        if self.futures {
            let trade = req.get("event").and_then(Value::as_str) == Some("subscribe")
                && req.get("feed").and_then(Value::as_str) == Some("trade");
            if trade {
                out.push(Self::futures_error("Invalid product id"));
            }
            return trade;
        }
        if req.get("method").and_then(Value::as_str) != Some("subscribe") {
            return false;
        }
        let req_id = Self::req_id(&req);
        let params = req.get("params");
        for symbol in strings(params.and_then(|p| p.get("symbol"))).unwrap_or_default() {
            let extra = format!(r#","symbol":{}{req_id}"#, json_str(&symbol));
            out.push(Self::spot_error(
                s,
                "subscribe",
                &format!("Currency pair not supported {symbol}"),
                &extra,
            ));
        }
        true
    }

    fn on_message(&mut self, msg: &[u8], binary: bool, s: &mut Session<'_>, out: &mut Vec<Out>) {
        let req = match serde_json::from_slice::<Value>(msg) {
            Ok(v) if !binary && v.is_object() => v,
            _ if self.futures => {
                out.push(Self::futures_error("Json Error"));
                return;
            }
            _ => {
                out.push(Self::spot_error(s, "", "Malformed request", ""));
                return;
            }
        };
        if self.futures {
            self.futures_request(&req, s, out);
        } else {
            self.spot_request(&req, s, out);
        }
    }

    fn on_prints(&mut self, prints: &[Print], s: &mut Session<'_>, out: &mut Vec<Out>) {
        if self.futures {
            for p in prints {
                if p.kind == PrintKind::OpenInterest {
                    continue;
                }
                if let Some(m) = s.markets.get(p.market) {
                    out.push(Out::Text(Self::futures_trade(m, p)));
                }
            }
            return;
        }
        let trades: Vec<&Print> = prints
            .iter()
            .filter(|p| p.kind == PrintKind::Trade)
            .collect();
        let mut done: Vec<usize> = Vec::new();
        for p in &trades {
            if done.contains(&p.market) {
                continue;
            }
            done.push(p.market);
            let group: Vec<&Print> = trades
                .iter()
                .copied()
                .filter(|q| q.market == p.market)
                .collect();
            if let Some(o) = Self::spot_trades(s, "update", &group) {
                out.push(o);
                self.last_sent_us = s.now_us;
            }
        }
    }

    fn on_timer(&mut self, s: &mut Session<'_>, out: &mut Vec<Out>) -> Result<(), Hangup> {
        if self.last_sent_us == 0 {
            self.last_sent_us = s.now_us;
        }
        let (period, due) = if self.futures {
            (FUTURES_HEARTBEAT_US, self.heartbeat_feed)
        } else {
            (SPOT_HEARTBEAT_US, s.subs.iter().any(|x| x.any()))
        };
        if s.now_us - self.last_sent_us < period {
            return Ok(());
        }
        self.last_sent_us = s.now_us;
        if !due {
            return Ok(());
        }
        if self.futures {
            out.push(Out::Text(format!(
                r#"{{"feed":"heartbeat","time":{}}}"#,
                millis(s.now_us)
            )));
        } else {
            out.push(Out::Text(r#"{"channel":"heartbeat"}"#.to_owned()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::wirefmt::testkit::*;
    use super::*;
    use feeds::kraken::subscribe_messages;
    use feeds::{EventKind, Frame};

    fn spot() -> Fixture {
        let v = Venue::KrakenSpot;
        let mut f = Fixture::new(vec![
            market(v, "BTC/USD", "BTC", None, 0.1, 0.00000001),
            market(v, "ETH/USD", "ETH", None, 0.01, 0.00000001),
        ]);
        f.recent[0] = vec![
            trade(0, 109116692, false, 83744.2, 0.0001, T0 - 2_000_000),
            trade(0, 109116693, true, 83744.3, 0.0004478, T0 - 1_000_000),
        ];
        f
    }

    fn futures() -> Fixture {
        let v = Venue::KrakenFutures;
        let mut f = Fixture::new(vec![
            market(v, "PF_XBTUSD", "BTC", None, 1.0, 0.0001),
            market(v, "PI_XBTUSD", "BTC", None, 0.5, 0.0001),
        ]);
        f.recent[0] = vec![
            trade(0, 655507, false, 34891.0, 0.0021, T0 - 2_000_000),
            trade(0, 655508, true, 34893.0, 0.44, T0 - 1_000_000),
        ];
        f
    }

    #[test]
    fn routes() {
        let (mut s, mut fu) = (spot(), futures());
        let mut p = new(Venue::KrakenSpot);
        assert_eq!(p.route("/v2", &mut s.session()), Ok(()));
        assert_eq!(p.route("/", &mut s.session()).unwrap_err().0, 404);
        assert_eq!(p.route("/ws/v1", &mut s.session()).unwrap_err().0, 404);
        let mut p = new(Venue::KrakenFutures);
        assert_eq!(p.route("/ws/v1", &mut fu.session()), Ok(()));
        assert_eq!(p.route("/v2", &mut fu.session()).unwrap_err().0, 404);
    }

    #[test]
    fn spot_status_subscribe_updates_and_keepalive() {
        let v = Venue::KrakenSpot;
        let mut f = spot();
        let mut p = new(v);
        let mut dec = v.decoder();
        let mut out = Vec::new();
        p.on_open(&mut f.session(), &mut out);
        for req in subscribe_messages(v, &["BTC/USD", "ETH/USD"]) {
            p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        }
        let got = decode_all(dec.as_mut(), &out);
        let frames: Vec<_> = got.iter().map(|d| d.0).collect();
        assert_eq!(
            frames,
            [
                Ok(Frame::Other),
                Ok(Frame::SubscribeAck),
                Ok(Frame::SubscribeAck)
            ]
        );
        assert!(texts(&out)[0].contains(r#""connection_id":18000000000000055433"#));
        assert!(f.subs.iter().all(|x| x.trades && !x.liquidations));

        // A request asking for the snapshot gets the recent trades after the ack.
        let mut g = spot();
        let mut out = Vec::new();
        let req = r#"{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD"]},"req_id":5}"#;
        p.on_message(req.as_bytes(), false, &mut g.session(), &mut out);
        assert!(texts(&out)[0].starts_with(r#"{"method":"subscribe","req_id":5,"result""#));
        let got = decode_all(dec.as_mut(), &out);
        assert_eq!(got[1].0, Ok(Frame::Data(2)));
        assert_event(&got[1].1[1], &g.recent[0][1], "BTC/USD", 1, 0.0);
        assert_eq!(got[1].1[1].trade_id, Some(109116693));

        let prints = [
            trade(0, 109116694, true, 83744.3, 0.0004478, T0 + 1),
            trade(1, 5, false, 1919.49, 1.5, T0 + 2),
            trade(0, 109116695, false, 83744.2, 2.0, T0 + 3),
        ];
        let mut out = Vec::new();
        p.on_prints(&prints, &mut f.session(), &mut out);
        assert_eq!(out.len(), 2);
        assert!(texts(&out)[0].contains(r#""price":83744.3,"qty":0.00044780"#));
        let ev = events(dec.as_mut(), &out);
        assert_event(&ev[0], &prints[0], "BTC/USD", 1, 0.0);
        assert_event(&ev[1], &prints[2], "BTC/USD", 1, 0.0);
        assert_event(&ev[2], &prints[1], "ETH/USD", 1, 0.0);
        assert_eq!(ev[1].trade_id, Some(109116695));

        // Heartbeat only after a second of silence; ping → pong.
        let mut out = Vec::new();
        p.on_timer(&mut f.session(), &mut out).unwrap();
        assert!(out.is_empty());
        f.now_us += 1_000_000;
        p.on_timer(&mut f.session(), &mut out).unwrap();
        assert_eq!(texts(&out), [r#"{"channel":"heartbeat"}"#]);
        p.on_message(
            br#"{"method":"ping","req_id":101}"#,
            false,
            &mut f.session(),
            &mut out,
        );
        assert!(texts(&out)[1].starts_with(r#"{"method":"pong","req_id":101,"time_in""#));
        assert!(decode_all(dec.as_mut(), &out)
            .iter()
            .all(|d| d.0 == Ok(Frame::Other)));
    }

    #[test]
    fn spot_unknown_pair_is_an_error() {
        let v = Venue::KrakenSpot;
        let mut f = spot();
        let mut p = new(v);
        let mut out = Vec::new();
        let req = &subscribe_messages(v, &["XBT/USD"])[0];
        p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        p.on_message(b"nonsense", false, &mut f.session(), &mut out);
        assert!(texts(&out)[0].starts_with(
            r#"{"error":"Currency pair not supported XBT/USD","method":"subscribe","success":false,"symbol":"XBT/USD""#
        ));
        let got = decode_all(v.decoder().as_mut(), &out);
        assert!(got.iter().all(|d| d.0 == Ok(Frame::VenueError { code: 0 })));
        assert!(f.subs.iter().all(|x| !x.any()));
    }

    #[test]
    fn futures_info_snapshot_trades_liquidations_heartbeat() {
        let v = Venue::KrakenFutures;
        let mut f = futures();
        let mut p = new(v);
        let mut dec = v.decoder();
        let mut out = Vec::new();
        p.on_open(&mut f.session(), &mut out);
        for req in subscribe_messages(v, &["PF_XBTUSD", "PI_XBTUSD"]) {
            p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        }
        let got = decode_all(dec.as_mut(), &out);
        let frames: Vec<_> = got.iter().map(|d| d.0).collect();
        assert_eq!(
            frames,
            [
                Ok(Frame::Other),
                Ok(Frame::SubscribeAck),
                Ok(Frame::Data(2)),
                Ok(Frame::SubscribeAck),
                Ok(Frame::Data(0)),
                Ok(Frame::SubscribeAck),
            ]
        );
        // Snapshot newest first.
        assert_event(&got[2].1[0], &f.recent[0][1], "PF_XBTUSD", 1000, 0.0);
        assert_event(&got[2].1[1], &f.recent[0][0], "PF_XBTUSD", 1000, 0.0);
        assert!(f.subs.iter().all(|x| x.trades && x.liquidations));

        let prints = [
            trade(0, 655509, true, 34893.0, 0.0021, T0 + 1_234),
            trade(1, 88, false, 34969.5, 0.43, T0 + 2_000),
            liq(1, 3, false, 34969.5, 0.4289, T0 + 3_000),
            liq(0, 4, true, 34900.0, 1.5, T0 + 4_000),
        ];
        let mut out = Vec::new();
        p.on_prints(&prints, &mut f.session(), &mut out);
        assert!(
            texts(&out)[1].contains(r#""qty":15037,"price":34969.5"#),
            "{out:?}"
        );
        let ev = events(dec.as_mut(), &out);
        assert_eq!(ev.len(), 4);
        assert_event(&ev[0], &prints[0], "PF_XBTUSD", 1000, 0.0);
        // Inverse: whole USD contracts, within half a contract.
        assert_event(&ev[1], &prints[1], "PI_XBTUSD", 1000, 0.5 / 34969.5);
        assert_event(&ev[2], &prints[2], "PI_XBTUSD", 1000, 0.5 / 34969.5);
        assert_event(&ev[3], &prints[3], "PF_XBTUSD", 1000, 0.0);
        assert_eq!(ev[3].kind, EventKind::Liquidation);

        let mut out = Vec::new();
        p.on_timer(&mut f.session(), &mut out).unwrap();
        f.now_us += 4_000_000;
        p.on_timer(&mut f.session(), &mut out).unwrap();
        assert!(out.is_empty());
        f.now_us += 1_000_000;
        p.on_timer(&mut f.session(), &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert!(texts(&out)[0].starts_with(r#"{"feed":"heartbeat","time":"#));
        assert_eq!(decode_all(dec.as_mut(), &out)[0].0, Ok(Frame::Other));
    }

    #[test]
    fn futures_unknown_product_is_an_error() {
        let v = Venue::KrakenFutures;
        let mut f = futures();
        let mut p = new(v);
        let mut out = Vec::new();
        let req = &subscribe_messages(v, &["PF_XBTUSD", "PF_NOPEUSD"])[0];
        p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        p.on_message(b"{]", false, &mut f.session(), &mut out);
        let got = decode_all(v.decoder().as_mut(), &out);
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|d| d.0 == Ok(Frame::VenueError { code: 0 })));
        assert!(f.subs.iter().all(|x| !x.any()));
    }

    #[test]
    fn frames_have_the_real_shape() {
        let real = |needle: &str| vector("feeds/kraken_v2.jsonl", needle);
        let v = Venue::KrakenSpot;
        let mut f = spot();
        let mut p = new(v);
        let mut out = Vec::new();
        p.on_open(&mut f.session(), &mut out);
        for req in subscribe_messages(v, &["BTC/USD", "XBT/USD"]) {
            p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        }
        p.on_prints(
            &[trade(0, 9, true, 83744.3, 0.0004478, T0)],
            &mut f.session(),
            &mut out,
        );
        f.now_us += 1_000_000;
        p.on_timer(&mut f.session(), &mut out).unwrap();
        let wire = texts(&out);
        assert_eq!(wire.len(), 5);
        assert_same_shape(wire[0], &real(r#""channel":"status""#));
        assert_same_shape(wire[1], &real(r#""success":true"#));
        assert_same_shape(wire[2], &real(r#""success":false"#));
        assert_same_shape(wire[3], &real(r#""channel":"trade","type""#));
        assert_same_shape(wire[4], &real(r#""channel":"heartbeat""#));

        let real = |needle: &str| vector("feeds/kraken_futures.jsonl", needle);
        let v = Venue::KrakenFutures;
        let mut f = futures();
        let mut p = new(v);
        let mut out = Vec::new();
        for req in subscribe_messages(v, &["PF_XBTUSD"]) {
            p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        }
        let prints = [
            trade(1, 9, true, 34969.5, 0.43, T0),
            liq(1, 3, false, 34969.5, 0.43, T0),
        ];
        p.on_timer(&mut f.session(), &mut out).unwrap();
        p.on_prints(&prints, &mut f.session(), &mut out);
        f.now_us += 5_000_000;
        p.on_timer(&mut f.session(), &mut out).unwrap();
        p.on_message(
            br#"{"event":"subscribe","feed":"trade","product_ids":["X"]}"#,
            false,
            &mut f.session(),
            &mut out,
        );
        let wire = texts(&out);
        assert_eq!(wire.len(), 7);
        assert_same_shape(wire[0], &real(r#""event":"subscribed","feed":"trade""#));
        assert_same_shape(wire[1], &real(r#""feed":"trade_snapshot""#));
        assert_same_shape(wire[2], &real(r#""event":"subscribed","feed":"heartbeat""#));
        assert_same_shape(
            wire[3],
            &real(r#"{"feed":"trade","product_id":"PI_XBTUSD""#),
        );
        assert_same_shape(wire[4], &real(r#""type":"liquidation""#));
        assert_same_shape(wire[5], &real(r#"{"feed":"heartbeat""#));
        assert_same_shape(wire[6], &real(r#""event":"error""#));
    }

    #[test]
    fn unsubscribe() {
        let v = Venue::KrakenSpot;
        let mut f = spot();
        let mut p = new(v);
        let mut out = Vec::new();
        for req in subscribe_messages(v, &["BTC/USD", "ETH/USD"]) {
            p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        }
        let mut out = Vec::new();
        let req = r#"{"method":"unsubscribe","params":{"channel":"trade","symbol":["BTC/USD"]},"req_id":9}"#;
        p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            decode_all(v.decoder().as_mut(), &out)[0].0,
            Ok(Frame::SubscribeAck)
        );
        assert!(!f.subs[0].trades && f.subs[1].trades);

        let v = Venue::KrakenFutures;
        let mut f = futures();
        let mut p = new(v);
        let mut out = Vec::new();
        for req in subscribe_messages(v, &["PF_XBTUSD", "PI_XBTUSD"]) {
            p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        }
        let mut out = Vec::new();
        let req = r#"{"event":"unsubscribe","feed":"trade","product_ids":["PI_XBTUSD"]}"#;
        p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        assert_eq!(
            texts(&out),
            [r#"{"event":"unsubscribed","feed":"trade","product_ids":["PI_XBTUSD"]}"#]
        );
        assert!(f.subs[0].trades && !f.subs[1].any());
    }
}
