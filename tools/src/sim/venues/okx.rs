//! OKX v5 public channels on `/ws/v5/public` (spot, swaps and dated futures share the
//! protocol): `trades` (sizes in contracts on SWAP/FUTURES), `liquidation-orders` by
//! `instType`, `open-interest` (`oi` in contracts, `oiCcy` in base); one `subscribe` event per
//! channel argument, `error` events with OKX's codes (60012 bad request, 60018 unknown
//! instrument or channel), the text `ping` answered with `pong`, and the cut after 30 s
//! without a subscription or a push. Formats: reference/exchanges.md §4.

use super::bybit::json_str;
use super::proto::{Hangup, Out, Print, PrintKind, Protocol, Session, SimMarket};
use feeds::Venue;
use serde_json::Value;
use std::fmt::Write as _;

/// "The connection will break automatically if the subscription is not established or data
/// has not been pushed for more than 30 seconds."
const IDLE_CUT_US: f64 = 30e6;

/// One OKX connection.
#[derive(Debug)]
pub struct Okx {
    conn_id: String,
    last_push_us: i64,
    scale: f64,
    errors: u64,
    seq: u64,
}

/// An OKX protocol for `venue` (spot, swap or futures listener).
pub fn new(_venue: Venue) -> Okx {
    Okx {
        conn_id: String::new(),
        last_push_us: 0,
        scale: 1.0,
        errors: 0,
        seq: 300_000_000_000,
    }
}

/// `SPOT`, `SWAP` or `FUTURES` from the instrument name.
fn inst_type(inst_id: &str) -> &'static str {
    match feeds::okx::inst_kind(inst_id) {
        Some(Venue::OkxSwap) => "SWAP",
        Some(Venue::OkxFutures) => "FUTURES",
        _ => "SPOT",
    }
}

/// `BTC-USDT` from `BTC-USDT-SWAP` / `BTC-USD-261225`.
fn family(inst_id: &str) -> String {
    inst_id.split('-').take(2).collect::<Vec<_>>().join("-")
}

impl Okx {
    fn error(&mut self, id: Option<&str>, code: u32, msg: &str, out: &mut Vec<Out>) {
        self.errors += 1;
        let mut s = String::from("{");
        if let Some(id) = id {
            let _ = write!(s, r#""id":{},"#, json_str(id));
        }
        let _ = write!(
            s,
            r#""event":"error","msg":{},"code":"{code}","connId":"{}"}}"#,
            json_str(msg),
            self.conn_id
        );
        out.push(Out::Text(s));
    }

    /// Contracts on SWAP/FUTURES, base units on SPOT.
    pub(crate) fn size(m: &SimMarket, qty: f64, price: f64) -> String {
        if inst_type(&m.symbol) == "SPOT" {
            m.qty_str(qty)
        } else {
            m.contracts(qty, price).to_string()
        }
    }

    fn request(&mut self, v: &Value, s: &mut Session<'_>, out: &mut Vec<Out>) {
        let id = v.get("id").and_then(Value::as_str);
        let text = v.to_string();
        let op = v.get("op").and_then(Value::as_str);
        let subscribe = match op {
            Some("subscribe") => true,
            Some("unsubscribe") => false,
            _ => return self.error(id, 60012, &format!("Invalid request: {text}"), out),
        };
        let Some(args) = v.get("args").and_then(Value::as_array) else {
            return self.error(id, 60012, &format!("Invalid request: {text}"), out);
        };
        for arg in args {
            let channel = arg.get("channel").and_then(Value::as_str).unwrap_or("");
            let inst_id = arg.get("instId").and_then(Value::as_str);
            let inst_type_arg = arg.get("instType").and_then(Value::as_str);
            let ok = match (channel, inst_id, inst_type_arg) {
                ("trades" | "open-interest", Some(inst), _) => match s.find(inst) {
                    Some(i) if channel == "trades" || inst_type(inst) != "SPOT" => {
                        if let Some(sub) = s.subs.get_mut(i) {
                            if channel == "trades" {
                                sub.trades = subscribe;
                            } else {
                                sub.open_interest = subscribe;
                            }
                        }
                        true
                    }
                    _ => false,
                },
                ("liquidation-orders", _, Some(t @ ("SWAP" | "FUTURES" | "MARGIN" | "OPTION"))) => {
                    for (m, sub) in s.markets.iter().zip(s.subs.iter_mut()) {
                        if inst_type(&m.symbol) == t {
                            sub.liquidations = subscribe;
                        }
                    }
                    true
                }
                _ => false,
            };
            if ok {
                let mut a = String::from("{");
                if let Some(id) = id {
                    let _ = write!(a, r#""id":{},"#, json_str(id));
                }
                let _ = write!(
                    a,
                    r#""event":"{}","arg":{},"connId":"{}"}}"#,
                    if subscribe {
                        "subscribe"
                    } else {
                        "unsubscribe"
                    },
                    arg,
                    self.conn_id
                );
                out.push(Out::Text(a));
            } else {
                let what = match (inst_id, inst_type_arg) {
                    (Some(i), _) => format!("instId:{i}"),
                    (None, Some(t)) => format!("instType:{t}"),
                    (None, None) => "instId:".to_owned(),
                };
                let msg = format!(
                    "Subscribe failed, wrong URL or channel:{channel},{what} doesn't exist. Please use the correct URL, channel and parameters referring to API document."
                );
                self.error(id, 60018, &msg, out);
            }
        }
    }

    fn trades(&mut self, m: &SimMarket, prints: &[&Print], out: &mut Vec<Out>) {
        let mut s = format!(
            r#"{{"arg":{{"channel":"trades","instId":"{}"}},"data":["#,
            m.symbol
        );
        self.seq += 1;
        for (i, p) in prints.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(
                s,
                r#"{{"instId":"{}","tradeId":"{}","px":"{}","sz":"{}","side":"{}","ts":"{}","count":"1","source":"0","seqId":{}}}"#,
                m.symbol,
                p.id,
                m.price_str(p.price),
                Self::size(m, p.qty, p.price),
                if p.buy { "buy" } else { "sell" },
                p.ts_us / 1000,
                self.seq
            );
        }
        s.push_str("]}");
        out.push(Out::Text(s));
    }

    fn liquidation(m: &SimMarket, p: &Print, out: &mut Vec<Out>) {
        let t = inst_type(&m.symbol);
        let fam = family(&m.symbol);
        // A forced buy closes a short.
        let (side, pos) = if p.buy {
            ("buy", "short")
        } else {
            ("sell", "long")
        };
        out.push(Out::Text(format!(
            r#"{{"arg":{{"channel":"liquidation-orders","instType":"{t}"}},"data":[{{"details":[{{"bkLoss":"0","bkPx":"{}","ccy":"","posSide":"{pos}","side":"{side}","sz":"{}","ts":"{}"}}],"instFamily":"{fam}","instId":"{}","instType":"{t}","uly":"{fam}"}}]}}"#,
            m.price_str(p.price),
            Self::size(m, p.qty, p.price),
            p.ts_us / 1000,
            m.symbol
        )));
    }

    fn open_interest(m: &SimMarket, p: &Print, out: &mut Vec<Out>) {
        out.push(Out::Text(format!(
            r#"{{"arg":{{"channel":"open-interest","instId":"{sym}"}},"data":[{{"instId":"{sym}","instType":"{}","oi":"{}","oiCcy":"{}","oiUsd":"{:.2}","ts":"{}"}}]}}"#,
            inst_type(&m.symbol),
            m.contracts(p.qty, p.price),
            m.qty_str(p.qty),
            p.qty * p.price,
            p.ts_us / 1000,
            sym = m.symbol
        )));
    }
}

impl Protocol for Okx {
    fn route(&mut self, target: &str, s: &mut Session<'_>) -> Result<(), (u16, String)> {
        let path = target.split('?').next().unwrap_or(target);
        if path != "/ws/v5/public" {
            return Err((404, "Not Found".to_owned()));
        }
        self.conn_id = format!("{:08x}", 0x5a00_0000u64 ^ s.conn.wrapping_mul(0x9e37_79b1));
        self.last_push_us = s.now_us;
        Ok(())
    }

    fn on_message(&mut self, msg: &[u8], _binary: bool, s: &mut Session<'_>, out: &mut Vec<Out>) {
        if msg == b"ping" {
            out.push(Out::Text("pong".to_owned()));
        } else {
            match serde_json::from_slice::<Value>(msg) {
                Ok(v) if v.is_object() => self.request(&v, s, out),
                _ => {
                    let text = String::from_utf8_lossy(msg).into_owned();
                    self.error(None, 60012, &format!("Invalid request: {text}"), out);
                }
            }
        }
        if !out.is_empty() {
            self.last_push_us = s.now_us;
        }
    }

    fn on_prints(&mut self, prints: &[Print], s: &mut Session<'_>, out: &mut Vec<Out>) {
        self.last_push_us = s.now_us;
        for (i, m) in s.markets.iter().enumerate() {
            let trades: Vec<&Print> = prints
                .iter()
                .filter(|p| p.market == i && p.kind == PrintKind::Trade)
                .collect();
            if !trades.is_empty() {
                self.trades(m, &trades, out);
            }
        }
        for p in prints {
            let Some(m) = s.markets.get(p.market) else {
                continue;
            };
            match p.kind {
                PrintKind::Liquidation => Self::liquidation(m, p, out),
                PrintKind::OpenInterest => Self::open_interest(m, p, out),
                PrintKind::Trade => {}
            }
        }
    }

    fn on_timer(&mut self, s: &mut Session<'_>, _out: &mut Vec<Out>) -> Result<(), Hangup> {
        if (s.now_us - self.last_push_us) as f64 > IDLE_CUT_US * self.scale {
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
        let id = v.get("id").and_then(Value::as_str);
        for arg in v
            .get("args")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let channel = arg.get("channel").and_then(Value::as_str).unwrap_or("");
            let what = match (
                arg.get("instId").and_then(Value::as_str),
                arg.get("instType").and_then(Value::as_str),
            ) {
                (Some(i), _) => format!("instId:{i}"),
                (None, Some(t)) => format!("instType:{t}"),
                (None, None) => "instId:".to_owned(),
            };
            let msg = format!(
                "Subscribe failed, wrong URL or channel:{channel},{what} doesn't exist. Please use the correct URL, channel and parameters referring to API document."
            );
            self.error(id, 60018, &msg, out);
        }
        true
    }

    fn errors_sent(&self) -> u64 {
        self.errors
    }
}
