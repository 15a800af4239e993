//! HTX (Huobi) market streams: spot on `/ws`, USDT-margined swaps on `/linear-swap-ws`. Every
//! server frame is gzip-compressed JSON in a binary message. The server pings (`{"ping":N}`)
//! every 5 s and drops the connection after two unanswered pings (the answer is
//! `{"pong":N}`); `sub`/`unsub` requests get `status:"ok"` replies or `status:"error"` with
//! the venue's error code; trades are `market.$symbol.trade.detail` ticks (spot: `amount` in
//! base and a `tradeId`; swaps: `amount` in contracts, `quantity` in base, `id`). Facts: the
//! HTX spot and USDT-swap WebSocket docs as summarised in `feeds::huobi`.

use super::bybit::json_str;
use super::proto::{fmt_step, Hangup, Out, Print, PrintKind, Protocol, Session, SimMarket};
use feeds::Venue;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;
use std::fmt::Write as _;
use std::io::Write as _;

/// Server ping interval.
const PING_EVERY_US: f64 = 5e6;
/// Unanswered pings after which the server drops the connection.
const MAX_UNANSWERED: u32 = 2;

/// One HTX connection.
#[derive(Debug)]
pub struct Htx {
    venue: Venue,
    scale: f64,
    next_ping_us: i64,
    /// Pings sent and not answered, the latest first.
    unanswered: Vec<u64>,
    errors: u64,
    tick_id: u64,
}

/// An HTX protocol for `venue` (spot or swap).
pub fn new(venue: Venue) -> Htx {
    Htx {
        venue,
        scale: 1.0,
        next_ping_us: 0,
        unanswered: Vec::new(),
        errors: 0,
        tick_id: 131_602_265_000,
    }
}

/// A gzip member holding `text`.
pub fn gzip(text: &str) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::with_capacity(text.len() / 2 + 32), Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(text.as_bytes());
    enc.finish().unwrap_or_default()
}

/// The size of one swap contract in base units (HTX `contract_size`).
pub(crate) fn contract_size(m: &SimMarket) -> f64 {
    match m.base.as_str() {
        "BTC" => 0.001,
        "ETH" => 0.01,
        _ => 1.0,
    }
}

impl Htx {
    fn swap(&self) -> bool {
        self.venue == Venue::HuobiSwap
    }

    fn send(out: &mut Vec<Out>, text: &str) {
        out.push(Out::Binary(gzip(text)));
    }

    fn error(&mut self, id: Option<&Value>, msg: &str, now_ms: i64, out: &mut Vec<Out>) {
        self.errors += 1;
        let id = id.map_or(String::new(), |id| format!(r#""id":{id},"#));
        let code = if self.swap() {
            "2011".to_owned()
        } else {
            r#""bad-request""#.to_owned()
        };
        Self::send(
            out,
            &format!(
                r#"{{{id}"status":"error","err-code":{code},"err-msg":{},"ts":{now_ms}}}"#,
                json_str(msg)
            ),
        );
    }

    fn topic_market(&self, topic: &str, s: &Session<'_>) -> Option<usize> {
        let symbol = topic
            .strip_prefix("market.")?
            .strip_suffix(".trade.detail")?;
        s.find(symbol)
    }

    fn trades(&mut self, m: &SimMarket, prints: &[&Print], now_ms: i64, out: &mut Vec<Out>) {
        self.tick_id += 1;
        let tick_ts = prints.last().map_or(now_ms, |p| p.ts_us / 1000);
        let mut s = format!(
            r#"{{"ch":"market.{}.trade.detail","ts":{now_ms},"tick":{{"id":{},"ts":{tick_ts},"data":["#,
            m.symbol, self.tick_id
        );
        for (i, p) in prints.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let ts = p.ts_us / 1000;
            let price = m.price_str(p.price);
            let dir = if p.buy { "buy" } else { "sell" };
            if self.swap() {
                let size = contract_size(m);
                let contracts = (p.qty / size).round().max(1.0);
                let quantity = contracts * size;
                let _ = write!(
                    s,
                    r#"{{"amount":{contracts},"quantity":{},"trade_turnover":{:.4},"ts":{ts},"id":{},"price":{price},"direction":"{dir}"}}"#,
                    fmt_step(quantity, size),
                    quantity * p.price,
                    p.id
                );
            } else {
                let _ = write!(
                    s,
                    r#"{{"id":{}{:016},"ts":{ts},"tradeId":{},"amount":{},"price":{price},"direction":"{dir}"}}"#,
                    self.tick_id,
                    p.id,
                    p.id,
                    m.qty_str(p.qty)
                );
            }
        }
        s.push_str("]}}");
        Self::send(out, &s);
    }
}

impl Protocol for Htx {
    fn route(&mut self, target: &str, s: &mut Session<'_>) -> Result<(), (u16, String)> {
        let path = target.split('?').next().unwrap_or(target);
        let ok = if self.swap() {
            path == "/linear-swap-ws"
        } else {
            path == "/ws" || path == "/feed"
        };
        if !ok {
            return Err((404, "Not Found".to_owned()));
        }
        self.next_ping_us = s.now_us + (PING_EVERY_US * self.scale) as i64;
        Ok(())
    }

    fn reject_subscribe(
        &mut self,
        msg: &[u8],
        _binary: bool,
        s: &mut Session<'_>,
        out: &mut Vec<Out>,
    ) -> bool {
        let Ok(v) = serde_json::from_slice::<Value>(msg) else {
            return false;
        };
        let Some(topic) = v.get("sub").and_then(Value::as_str) else {
            return false;
        };
        let msg = format!("invalid topic {topic}");
        self.error(v.get("id"), &msg, s.now_us / 1000, out);
        true
    }

    fn is_pong(&self, msg: &[u8], _binary: bool) -> bool {
        serde_json::from_slice::<Value>(msg).is_ok_and(|v| v.get("pong").is_some())
    }

    fn on_message(&mut self, msg: &[u8], _binary: bool, s: &mut Session<'_>, out: &mut Vec<Out>) {
        let now_ms = s.now_us / 1000;
        let Ok(v) = serde_json::from_slice::<Value>(msg) else {
            return self.error(None, "invalid json", now_ms, out);
        };
        let id = v.get("id");
        if let Some(n) = v.get("pong").and_then(Value::as_u64) {
            if self.unanswered.contains(&n) {
                self.unanswered.clear();
            }
            return;
        }
        if let Some(n) = v.get("ping").and_then(Value::as_u64) {
            return Self::send(out, &format!(r#"{{"pong":{n}}}"#));
        }
        let (topic, subscribe) = match (v.get("sub"), v.get("unsub")) {
            (Some(t), None) => (t.as_str(), true),
            (None, Some(t)) => (t.as_str(), false),
            _ => return self.error(id, "invalid request", now_ms, out),
        };
        let Some(topic) = topic else {
            return self.error(id, "invalid topic", now_ms, out);
        };
        let Some(i) = self.topic_market(topic, s) else {
            return self.error(id, &format!("invalid topic {topic}"), now_ms, out);
        };
        if let Some(sub) = s.subs.get_mut(i) {
            sub.trades = subscribe;
        }
        let id = id.map_or(String::new(), |id| format!(r#""id":{id},"#));
        let key = if subscribe { "subbed" } else { "unsubbed" };
        Self::send(
            out,
            &format!(
                r#"{{{id}"status":"ok","{key}":{},"ts":{now_ms}}}"#,
                json_str(topic)
            ),
        );
    }

    fn on_prints(&mut self, prints: &[Print], s: &mut Session<'_>, out: &mut Vec<Out>) {
        let now_ms = s.now_us / 1000;
        for (i, m) in s.markets.iter().enumerate() {
            let mine: Vec<&Print> = prints
                .iter()
                .filter(|p| p.market == i && p.kind == PrintKind::Trade)
                .collect();
            if !mine.is_empty() {
                self.trades(m, &mine, now_ms, out);
            }
        }
    }

    fn on_timer(&mut self, s: &mut Session<'_>, out: &mut Vec<Out>) -> Result<(), Hangup> {
        if s.now_us < self.next_ping_us {
            return Ok(());
        }
        if self.unanswered.len() as u32 >= MAX_UNANSWERED {
            return Err(Hangup::PingTimeout);
        }
        self.next_ping_us = s.now_us + (PING_EVERY_US * self.scale) as i64;
        let n = (s.now_us / 1000) as u64;
        self.unanswered.insert(0, n);
        Self::send(out, &format!(r#"{{"ping":{n}}}"#));
        Ok(())
    }

    fn set_keepalive_scale(&mut self, scale: f64) {
        self.scale = scale;
    }

    fn errors_sent(&self) -> u64 {
        self.errors
    }
}
