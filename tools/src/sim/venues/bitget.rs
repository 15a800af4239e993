//! Bitget v2 public streams on `/v2/ws/public` (USDT futures and spot, one listener each):
//! `trade` (an `action:"snapshot"` of up to 30 recent trades right after subscribing, then
//! `update`s, entries newest first), the futures `ticker` (open interest as `holdingAmount`),
//! one `subscribe` event per argument, `error` events (30001 unknown channel or instrument,
//! 30016 bad parameters), the text `ping` answered with `pong`, and the cut after 2 minutes
//! without a ping. Formats: reference/exchanges.md §11 and the recorded vectors.

use super::bybit::json_str;
use super::proto::{Hangup, Out, Print, PrintKind, Protocol, Session, SimMarket};
use feeds::Venue;
use serde_json::Value;
use std::fmt::Write as _;

/// "The server disconnects after 2 minutes without a ping."
const PING_CUT_US: f64 = 120e6;
/// Trades in the snapshot sent on subscribe.
const SNAPSHOT: usize = 30;

/// One Bitget connection.
#[derive(Debug)]
pub struct Bitget {
    venue: Venue,
    last_ping_us: i64,
    scale: f64,
    errors: u64,
}

/// A Bitget protocol for `venue` (futures or spot).
pub fn new(venue: Venue) -> Bitget {
    Bitget {
        venue,
        last_ping_us: 0,
        scale: 1.0,
        errors: 0,
    }
}

impl Bitget {
    fn inst_type(&self) -> &'static str {
        feeds::bitget::inst_type(self.venue)
    }

    fn error(&mut self, arg: &Value, code: u32, msg: &str, op: &str, out: &mut Vec<Out>) {
        self.errors += 1;
        out.push(Out::Text(format!(
            r#"{{"event":"error","arg":{arg},"code":{code},"msg":{},"op":{}}}"#,
            json_str(msg),
            json_str(op)
        )));
    }

    fn trade_frame(
        &self,
        m: &SimMarket,
        action: &str,
        newest_first: &[&Print],
        ts_ms: i64,
    ) -> String {
        let mut s = format!(
            r#"{{"action":"{action}","arg":{{"instType":"{}","channel":"trade","instId":"{}"}},"data":["#,
            self.inst_type(),
            m.symbol
        );
        for (i, p) in newest_first.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(
                s,
                r#"{{"ts":"{}","price":"{}","size":"{}","side":"{}","tradeId":"{}"}}"#,
                p.ts_us / 1000,
                m.price_str(p.price),
                m.qty_str(p.qty),
                if p.buy { "buy" } else { "sell" },
                p.id
            );
        }
        let _ = write!(s, r#"],"ts":{ts_ms}}}"#);
        s
    }

    fn request(&mut self, v: &Value, s: &mut Session<'_>, out: &mut Vec<Out>) {
        let op = v.get("op").and_then(Value::as_str).unwrap_or("");
        let subscribe = match op {
            "subscribe" => true,
            "unsubscribe" => false,
            _ => return self.error(&Value::Null, 30016, "Param error", op, out),
        };
        let Some(args) = v.get("args").and_then(Value::as_array) else {
            return self.error(&Value::Null, 30016, "Param error", op, out);
        };
        for arg in args {
            let inst_type = arg.get("instType").and_then(Value::as_str).unwrap_or("");
            let channel = arg.get("channel").and_then(Value::as_str).unwrap_or("");
            let inst_id = arg.get("instId").and_then(Value::as_str).unwrap_or("");
            if inst_type != self.inst_type()
                || !matches!(channel, "trade" | "ticker")
                || inst_id.is_empty()
            {
                self.error(arg, 30016, "Param error", op, out);
                continue;
            }
            let Some(i) = s.find(inst_id) else {
                let msg = format!(
                    "instType:{inst_type},channel:{channel},instId:{inst_id} doesn't exist"
                );
                self.error(arg, 30001, &msg, op, out);
                continue;
            };
            out.push(Out::Text(format!(
                r#"{{"event":"{op}","arg":{{"instType":"{inst_type}","channel":"{channel}","instId":"{inst_id}"}}}}"#
            )));
            let Some(sub) = s.subs.get_mut(i) else {
                continue;
            };
            if channel == "trade" {
                sub.trades = subscribe;
                if subscribe {
                    let (Some(m), Some(recent)) = (s.markets.get(i), s.recent.get(i)) else {
                        continue;
                    };
                    let snap: Vec<&Print> = recent.iter().rev().take(SNAPSHOT).collect();
                    let frame = self.trade_frame(m, "snapshot", &snap, s.now_us / 1000);
                    let n = snap.len();
                    s.sent_snapshot(i, n);
                    out.push(Out::Text(frame));
                }
            } else if self.venue != Venue::BitgetSpot {
                sub.open_interest = subscribe;
            }
        }
    }

    fn ticker(m: &SimMarket, p: &Print) -> String {
        let px = m.price_str(p.price);
        let bid = m.price_str(p.price - m.tick);
        let ts = p.ts_us / 1000;
        let next_funding = (ts / 28_800_000 + 1) * 28_800_000;
        format!(
            r#"{{"action":"snapshot","arg":{{"instType":"USDT-FUTURES","channel":"ticker","instId":"{sym}"}},"data":[{{"instId":"{sym}","lastPr":"{px}","bidPr":"{bid}","askPr":"{px}","bidSz":"1.2043","askSz":"4.5377","open24h":"{px}","high24h":"{px}","low24h":"{px}","change24h":"0","fundingRate":"0.0001","nextFundingTime":"{next_funding}","markPrice":"{px}","indexPrice":"{px}","holdingAmount":"{}","baseVolume":"0","quoteVolume":"0","openUtc":"{px}","symbolType":"1","symbol":"{sym}","ts":"{ts}"}}],"ts":{ts}}}"#,
            m.qty_str(p.qty),
            sym = m.symbol
        )
    }
}

impl Protocol for Bitget {
    fn route(&mut self, target: &str, s: &mut Session<'_>) -> Result<(), (u16, String)> {
        let path = target.split('?').next().unwrap_or(target);
        if path != "/v2/ws/public" {
            return Err((404, "Not Found".to_owned()));
        }
        self.last_ping_us = s.now_us;
        Ok(())
    }

    fn on_message(&mut self, msg: &[u8], _binary: bool, s: &mut Session<'_>, out: &mut Vec<Out>) {
        if msg == b"ping" {
            self.last_ping_us = s.now_us;
            out.push(Out::Text("pong".to_owned()));
            return;
        }
        match serde_json::from_slice::<Value>(msg) {
            Ok(v) if v.is_object() => self.request(&v, s, out),
            _ => self.error(&Value::Null, 30016, "Param error", "", out),
        }
    }

    fn on_prints(&mut self, prints: &[Print], s: &mut Session<'_>, out: &mut Vec<Out>) {
        for (i, m) in s.markets.iter().enumerate() {
            let newest_first: Vec<&Print> = prints
                .iter()
                .rev()
                .filter(|p| p.market == i && p.kind == PrintKind::Trade)
                .collect();
            if !newest_first.is_empty() {
                out.push(Out::Text(self.trade_frame(
                    m,
                    "update",
                    &newest_first,
                    s.now_us / 1000,
                )));
            }
        }
        for p in prints.iter().filter(|p| p.kind == PrintKind::OpenInterest) {
            if let Some(m) = s.markets.get(p.market) {
                out.push(Out::Text(Self::ticker(m, p)));
            }
        }
    }

    fn on_timer(&mut self, s: &mut Session<'_>, _out: &mut Vec<Out>) -> Result<(), Hangup> {
        if (s.now_us - self.last_ping_us) as f64 > PING_CUT_US * self.scale {
            return Err(Hangup::PingTimeout);
        }
        Ok(())
    }

    fn set_keepalive_scale(&mut self, scale: f64) {
        self.scale = scale;
    }

    /// Fault injection: each argument of a `subscribe` gets Bitget's reply for an instrument
    /// it does not list (`30001`, "… doesn't exist"; Bitget v2 WebSocket error codes,
    /// bitget.com/api-doc/common/websocket-intro — as this simulator already answered unknown
    /// instruments, reference/exchanges.md §11; not re-read on 2026-12-07).
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
        let Some(args) = v.get("args").and_then(Value::as_array) else {
            return false;
        };
        for arg in args {
            let field = |k: &str| arg.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let msg = format!(
                "instType:{},channel:{},instId:{} doesn't exist",
                field("instType"),
                field("channel"),
                field("instId")
            );
            self.error(arg, 30001, &msg, "subscribe", out);
        }
        true
    }

    fn errors_sent(&self) -> u64 {
        self.errors
    }
}
