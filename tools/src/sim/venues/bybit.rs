//! Bybit v5 public streams (`/v5/public/linear`, `/v5/public/inverse`, `/v5/public/spot`):
//! `publicTrade` (UUID trade ids on derivatives, numeric on spot; batched per market under one
//! `seq`), `allLiquidation` (`S` is the liquidated position's side), `tickers` (a `snapshot`
//! first, then `delta`s carrying open interest), `op` subscribe/unsubscribe acks in each
//! market's shape, `{"op":"ping"}` answered with the `pong` reply, and the cut after 10
//! minutes without ping or data. Formats: reference/exchanges.md §3 and the recorded vectors.

use super::proto::{Hangup, Out, Print, PrintKind, Protocol, Session, SimMarket};
use feeds::Venue;
use serde_json::Value;
use std::fmt::Write as _;

/// Without a ping from the client and without data, Bybit cuts the connection after this long.
const IDLE_CUT_US: f64 = 600e6;
/// Spot accepts at most this many topics per request.
const SPOT_MAX_ARGS: usize = 10;

/// Which topic of a market.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Topic {
    Trade,
    Liquidation,
    Tickers,
}

/// One connection of a Bybit v5 public stream.
#[derive(Debug)]
pub struct Bybit {
    venue: Venue,
    conn_id: String,
    /// `tickers` subscribed per market and whether its snapshot went out.
    tickers_snapshot_sent: Vec<bool>,
    /// Per market: the sequence number of the next trade batch.
    seq: Vec<u64>,
    last_alive_us: i64,
    scale: f64,
    errors: u64,
}

/// A Bybit protocol for `venue` (linear, inverse or spot).
pub fn new(venue: Venue) -> Bybit {
    Bybit {
        venue,
        conn_id: String::new(),
        tickers_snapshot_sent: Vec::new(),
        seq: Vec::new(),
        last_alive_us: 0,
        scale: 1.0,
        errors: 0,
    }
}

impl Bybit {
    fn path(&self) -> &'static str {
        match self.venue {
            Venue::BybitInverse => "/v5/public/inverse",
            Venue::BybitSpot => "/v5/public/spot",
            _ => "/v5/public/linear",
        }
    }

    fn spot(&self) -> bool {
        self.venue == Venue::BybitSpot
    }

    /// An `op` reply in this market's shape. `req_id` is echoed exactly as the request had it
    /// (a JSON number stays a number, a string a string: ccxt sends an integer id from its
    /// `request_id()`, python/ccxt/pro/bybit.py, ccxt master read 2026-12-07, and matches
    /// the reply by it); an absent one is omitted on spot and `""` on derivatives.
    fn reply(&self, success: bool, ret_msg: &str, req_id: Option<&Value>, op: &str) -> String {
        let mut s = format!(
            r#"{{"success":{success},"ret_msg":{},"conn_id":"{}""#,
            json_str(ret_msg),
            self.conn_id
        );
        match req_id {
            Some(id) => {
                // `Value`'s Display is its compact JSON text.
                let _ = write!(s, r#","req_id":{id}"#);
            }
            None if !self.spot() => s.push_str(r#","req_id":"""#),
            None => {}
        }
        let _ = write!(s, r#","op":{}}}"#, json_str(op));
        s
    }

    fn error(&mut self, msg: &str, req_id: Option<&Value>, op: &str, out: &mut Vec<Out>) {
        self.errors += 1;
        out.push(Out::Text(self.reply(false, msg, req_id, op)));
    }

    fn parse_topic(&self, topic: &str, s: &Session<'_>) -> Result<(usize, Topic), String> {
        let (channel, symbol) = topic
            .split_once('.')
            .ok_or_else(|| format!("Invalid topic: {topic}"))?;
        let kind = match channel {
            "publicTrade" => Topic::Trade,
            "allLiquidation" if !self.spot() => Topic::Liquidation,
            "tickers" => Topic::Tickers,
            _ => return Err(format!("Invalid topic: {topic}")),
        };
        let market = s
            .find(symbol)
            .ok_or_else(|| format!("Invalid symbol :[{topic}]"))?;
        Ok((market, kind))
    }

    fn subscribe(&mut self, v: &Value, subscribe: bool, s: &mut Session<'_>, out: &mut Vec<Out>) {
        let op = if subscribe {
            "subscribe"
        } else {
            "unsubscribe"
        };
        let req_id = v.get("req_id");
        let Some(args) = v.get("args").and_then(Value::as_array) else {
            return self.error("Invalid request: args is missing", req_id, op, out);
        };
        if self.spot() && args.len() > SPOT_MAX_ARGS {
            return self.error(&format!("args size >{SPOT_MAX_ARGS}"), req_id, op, out);
        }
        let mut failed = Vec::new();
        for arg in args {
            let Some(topic) = arg.as_str() else {
                failed.push(format!("Invalid topic: {arg}"));
                continue;
            };
            let (market, kind) = match self.parse_topic(topic, s) {
                Ok(t) => t,
                Err(e) => {
                    failed.push(e);
                    continue;
                }
            };
            let Some(sub) = s.subs.get_mut(market) else {
                continue;
            };
            let flag = match kind {
                Topic::Trade => &mut sub.trades,
                Topic::Liquidation => &mut sub.liquidations,
                Topic::Tickers => &mut sub.open_interest,
            };
            if *flag == subscribe {
                failed.push(if subscribe {
                    format!("error:already subscribed,topic:{topic}")
                } else {
                    format!("error:not subscribed,topic:{topic}")
                });
                continue;
            }
            *flag = subscribe;
            if kind == Topic::Tickers {
                if let Some(sent) = self.tickers_snapshot_sent.get_mut(market) {
                    *sent = false;
                }
            }
        }
        if failed.is_empty() {
            let msg = if self.spot() { op } else { "" };
            out.push(Out::Text(self.reply(true, msg, req_id, op)));
        } else {
            self.error(&failed.join(";"), req_id, op, out);
        }
    }

    fn trades(&mut self, m: &SimMarket, prints: &[&Print], out: &mut Vec<Out>) {
        let Some(last) = prints.last() else { return };
        let market = last.market;
        let ts_ms = last.ts_us / 1000;
        let seq = self.seq.get(market).copied().unwrap_or(0);
        if let Some(s) = self.seq.get_mut(market) {
            *s += 1;
        }
        for chunk in prints.chunks(1024) {
            let mut s = if self.spot() {
                format!(
                    r#"{{"topic":"publicTrade.{}","ts":{ts_ms},"type":"snapshot","data":["#,
                    m.symbol
                )
            } else {
                format!(
                    r#"{{"topic":"publicTrade.{}","type":"snapshot","ts":{ts_ms},"data":["#,
                    m.symbol
                )
            };
            for (i, p) in chunk.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let side = if p.buy { "Buy" } else { "Sell" };
                let t = p.ts_us / 1000;
                let price = m.price_str(p.price);
                let size = self.size(m, p);
                if self.spot() {
                    let _ = write!(
                        s,
                        r#"{{"i":"{}","T":{t},"p":"{price}","v":"{size}","S":"{side}","seq":{seq},"s":"{}","BT":false,"RPI":false}}"#,
                        exec_id(m, p.id),
                        m.symbol
                    );
                } else {
                    let tick = if p.buy { "PlusTick" } else { "MinusTick" };
                    let _ = write!(
                        s,
                        r#"{{"T":{t},"s":"{}","S":"{side}","v":"{size}","p":"{price}","L":"{tick}","i":"{}","BT":false,"RPI":false,"seq":{seq}}}"#,
                        m.symbol,
                        exec_id(m, p.id)
                    );
                }
            }
            s.push_str("]}");
            out.push(Out::Text(s));
        }
    }

    fn size(&self, m: &SimMarket, p: &Print) -> String {
        size(m, p)
    }

    fn liquidations(&self, m: &SimMarket, prints: &[&Print], out: &mut Vec<Out>) {
        let Some(last) = prints.last() else { return };
        let mut s = format!(
            r#"{{"topic":"allLiquidation.{}","type":"snapshot","ts":{},"data":["#,
            m.symbol,
            last.ts_us / 1000
        );
        for (i, p) in prints.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            // `S` is the position side: a forced buy closes a short.
            let side = if p.buy { "Sell" } else { "Buy" };
            let _ = write!(
                s,
                r#"{{"T":{},"s":"{}","S":"{side}","v":"{}","p":"{}"}}"#,
                p.ts_us / 1000,
                m.symbol,
                self.size(m, p),
                m.price_str(p.price)
            );
        }
        s.push_str("]}");
        out.push(Out::Text(s));
    }

    fn tickers(&mut self, m: &SimMarket, p: &Print, out: &mut Vec<Out>) {
        let oi = self.size(m, p);
        let value = format!("{:.2}", p.qty * p.price);
        let mark = m.price_str(p.price);
        let ts = p.ts_us / 1000;
        let cs = 700_000_000_000u64 + p.id;
        let snapshot_sent = self
            .tickers_snapshot_sent
            .get(p.market)
            .copied()
            .unwrap_or(true);
        let text = if snapshot_sent {
            format!(
                r#"{{"topic":"tickers.{sym}","type":"delta","data":{{"symbol":"{sym}","markPrice":"{mark}","openInterest":"{oi}","openInterestValue":"{value}"}},"cs":{cs},"ts":{ts}}}"#,
                sym = m.symbol
            )
        } else {
            if let Some(sent) = self.tickers_snapshot_sent.get_mut(p.market) {
                *sent = true;
            }
            let next_funding = (ts / 28_800_000 + 1) * 28_800_000;
            let last = m.price_str(p.price);
            let bid = m.price_str(p.price - m.tick);
            format!(
                r#"{{"topic":"tickers.{sym}","type":"snapshot","data":{{"symbol":"{sym}","tickDirection":"PlusTick","price24hPcnt":"0.0012","lastPrice":"{last}","prevPrice24h":"{last}","highPrice24h":"{last}","lowPrice24h":"{last}","prevPrice1h":"{last}","markPrice":"{mark}","indexPrice":"{mark}","openInterest":"{oi}","openInterestValue":"{value}","turnover24h":"0","volume24h":"0","nextFundingTime":"{next_funding}","fundingRate":"0.0001","bid1Price":"{bid}","bid1Size":"1","ask1Price":"{last}","ask1Size":"1"}},"cs":{cs},"ts":{ts}}}"#,
                sym = m.symbol
            )
        };
        out.push(Out::Text(text));
    }
}

impl Protocol for Bybit {
    fn route(&mut self, target: &str, s: &mut Session<'_>) -> Result<(), (u16, String)> {
        let path = target.split('?').next().unwrap_or(target);
        if path != self.path() {
            return Err((404, "Not Found".to_owned()));
        }
        self.conn_id = format!("sim{:017x}-{:05x}", s.conn, s.conn & 0xfffff);
        self.tickers_snapshot_sent = vec![false; s.markets.len()];
        self.seq = (0..s.markets.len() as u64)
            .map(|i| 100_000_000_000 * (i + 1))
            .collect();
        self.last_alive_us = s.now_us;
        Ok(())
    }

    fn on_message(&mut self, msg: &[u8], _binary: bool, s: &mut Session<'_>, out: &mut Vec<Out>) {
        let Ok(v) = serde_json::from_slice::<Value>(msg) else {
            return self.error("error:request not supported", None, "", out);
        };
        let req_id = v.get("req_id");
        match v.get("op").and_then(Value::as_str) {
            Some("ping") => {
                self.last_alive_us = s.now_us;
                out.push(Out::Text(self.reply(true, "pong", req_id, "ping")));
            }
            Some("subscribe") => self.subscribe(&v, true, s, out),
            Some("unsubscribe") => self.subscribe(&v, false, s, out),
            Some(op) => {
                let op = op.to_owned();
                self.error(
                    &format!("error:handler not found,op:{op}"),
                    req_id,
                    &op,
                    out,
                );
            }
            None => self.error("error:request not supported", req_id, "", out),
        }
    }

    fn on_prints(&mut self, prints: &[Print], s: &mut Session<'_>, out: &mut Vec<Out>) {
        self.last_alive_us = s.now_us;
        for (i, m) in s.markets.iter().enumerate() {
            let mine = |kind: PrintKind| -> Vec<&Print> {
                prints
                    .iter()
                    .filter(|p| p.market == i && p.kind == kind)
                    .collect()
            };
            let trades = mine(PrintKind::Trade);
            if !trades.is_empty() {
                self.trades(m, &trades, out);
            }
            let liqs = mine(PrintKind::Liquidation);
            if !liqs.is_empty() {
                self.liquidations(m, &liqs, out);
            }
            for p in mine(PrintKind::OpenInterest) {
                self.tickers(m, p, out);
            }
        }
    }

    fn on_timer(&mut self, s: &mut Session<'_>, _out: &mut Vec<Out>) -> Result<(), Hangup> {
        if (s.now_us - self.last_alive_us) as f64 > IDLE_CUT_US * self.scale {
            return Err(Hangup::PingTimeout);
        }
        Ok(())
    }

    fn set_keepalive_scale(&mut self, scale: f64) {
        self.scale = scale;
    }

    fn reject_subscribe(
        &mut self,
        msg: &[u8],
        _binary: bool,
        _s: &mut Session<'_>,
        out: &mut Vec<Out>,
    ) -> bool {
        let Ok(v) = serde_json::from_slice::<Value>(msg) else {
            return false;
        };
        if v.get("op").and_then(Value::as_str) != Some("subscribe") {
            return false;
        }
        let req_id = v.get("req_id");
        let failed: Vec<String> = v
            .get("args")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|a| format!("Invalid symbol :[{}]", a.as_str().unwrap_or_default()))
            .collect();
        self.error(&failed.join(";"), req_id, "subscribe", out);
        true
    }

    fn errors_sent(&self) -> u64 {
        self.errors
    }
}

/// Base units on linear and spot, whole USD contracts on inverse (the trade's `v`/`size`).
pub(crate) fn size(m: &SimMarket, p: &Print) -> String {
    if m.venue == Venue::BybitInverse {
        m.contracts(p.qty, p.price).to_string()
    } else {
        m.qty_str(p.qty)
    }
}

/// A trade's `i`/`execId`: a number on spot, a UUID on derivatives.
pub(crate) fn exec_id(m: &SimMarket, id: u64) -> String {
    if m.venue == Venue::BybitSpot {
        (2_290_000_000_000_000_000u64 + id).to_string()
    } else {
        uuid_for(m, id)
    }
}

/// A v5-looking UUID whose 64-bit halves XOR to `id` (the decoder folds UUIDs that way), so
/// consecutive trades carry consecutive folded ids.
fn uuid_for(m: &SimMarket, id: u64) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in m.symbol.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    let high = (h & 0x3fff_ffff_ffff_0fff) | 0x8000_0000_0000_5000;
    let low = high ^ id;
    let v = (u128::from(high) << 64) | u128::from(low);
    let hex = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A JSON string literal.
pub(crate) fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
mod tests {
    use super::super::wirefmt::testkit::*;
    use super::*;

    fn fixture(venue: Venue) -> Fixture {
        Fixture::new(vec![market(venue, "BTCUSDT", "BTC", None, 0.1, 0.001)])
    }

    fn reply_req_id(venue: Venue, req: &str) -> Option<Value> {
        let mut f = fixture(venue);
        let mut p = new(venue);
        let mut out = Vec::new();
        p.on_message(req.as_bytes(), false, &mut f.session(), &mut out);
        let text = texts(&out)[0].to_owned();
        let v: Value = serde_json::from_str(&text).unwrap();
        v.get("req_id").cloned()
    }

    #[test]
    fn req_id_is_echoed_as_sent() {
        for venue in [Venue::BybitLinear, Venue::BybitSpot] {
            // A number stays a number (ccxt sends integers), a string a string.
            let sub = r#"{"op":"subscribe","req_id":7,"args":["publicTrade.BTCUSDT"]}"#;
            assert_eq!(
                reply_req_id(venue, sub),
                Some(serde_json::json!(7)),
                "{venue}"
            );
            let sub = r#"{"op":"subscribe","req_id":"abc","args":["publicTrade.BTCUSDT"]}"#;
            assert_eq!(reply_req_id(venue, sub), Some(serde_json::json!("abc")));
            let ping = r#"{"op":"ping","req_id":12}"#;
            assert_eq!(reply_req_id(venue, ping), Some(serde_json::json!(12)));
            let bad = r#"{"op":"subscribe","req_id":9,"args":["publicTrade.NOPE"]}"#;
            assert_eq!(reply_req_id(venue, bad), Some(serde_json::json!(9)));
        }
        // Absent: spot omits it, derivatives answer "".
        let sub = r#"{"op":"subscribe","args":["publicTrade.BTCUSDT"]}"#;
        assert_eq!(reply_req_id(Venue::BybitSpot, sub), None);
        assert_eq!(
            reply_req_id(Venue::BybitLinear, sub),
            Some(serde_json::json!(""))
        );
    }
}
