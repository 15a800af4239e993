//! Hyperliquid on `/ws`: `{"method":"subscribe","subscription":{"type":"trades","coin":…}}`
//! answered by `subscriptionResponse`, then a first `trades` message with the coin's recent
//! trades (snapshot semantics, as the real API) and live `trades` batches; `{"method":"ping"}`
//! answered with `{"channel":"pong"}`; `error` channel texts for duplicate or malformed
//! requests; an unknown coin closes the socket without an error (as the real server does);
//! connections the server sent nothing to for 60 s are closed. Facts: reference/exchanges.md
//! §10.

use super::bybit::json_str;
use super::proto::{Hangup, Out, Print, PrintKind, Protocol, Session, SimMarket};
use serde_json::Value;
use std::fmt::Write as _;

/// "The server will close any connection if it hasn't sent a message to it in the last 60
/// seconds."
const IDLE_CUT_US: f64 = 60e6;
/// Recent trades in the first message after subscribing.
const SNAPSHOT: usize = 10;

/// One Hyperliquid connection.
#[derive(Debug)]
pub struct Hyperliquid {
    last_sent_us: i64,
    scale: f64,
    errors: u64,
}

/// The Hyperliquid protocol.
pub fn new(_venue: feeds::Venue) -> Hyperliquid {
    Hyperliquid {
        last_sent_us: 0,
        scale: 1.0,
        errors: 0,
    }
}

fn trade_json(s: &mut String, m: &SimMarket, p: &Print) {
    // `hash` and `users` in the real shape; `tid` carries the simulator's contiguous id.
    let _ = write!(
        s,
        r#"{{"coin":"{}","side":"{}","px":"{}","sz":"{}","time":{},"hash":"0x{:064x}","tid":{},"users":["0x{:040x}","0x{:040x}"]}}"#,
        m.symbol,
        if p.buy { "B" } else { "A" },
        m.price_str(p.price),
        m.qty_str(p.qty),
        p.ts_us / 1000,
        p.id.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        p.id,
        p.id ^ 0xabcdef,
        p.id ^ 0x123456
    );
}

fn trades_frame(m: &SimMarket, prints: &[&Print]) -> String {
    let mut s = String::from(r#"{"channel":"trades","data":["#);
    for (i, p) in prints.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        trade_json(&mut s, m, p);
    }
    s.push_str("]}");
    s
}

impl Hyperliquid {
    fn error(&mut self, text: &str, out: &mut Vec<Out>) {
        self.errors += 1;
        out.push(Out::Text(format!(
            r#"{{"channel":"error","data":{}}}"#,
            json_str(text)
        )));
    }
}

impl Protocol for Hyperliquid {
    fn route(&mut self, target: &str, s: &mut Session<'_>) -> Result<(), (u16, String)> {
        let path = target.split('?').next().unwrap_or(target);
        if path != "/ws" {
            return Err((404, "Not Found".to_owned()));
        }
        self.last_sent_us = s.now_us;
        Ok(())
    }

    fn on_message(&mut self, msg: &[u8], _binary: bool, s: &mut Session<'_>, out: &mut Vec<Out>) {
        let text = String::from_utf8_lossy(msg).into_owned();
        let Ok(v) = serde_json::from_slice::<Value>(msg) else {
            self.error(
                &format!("Error parsing JSON into valid websocket request: {text}"),
                out,
            );
            self.last_sent_us = s.now_us;
            return;
        };
        let method = v.get("method").and_then(Value::as_str);
        let sub = v.get("subscription");
        match (method, sub) {
            (Some("ping"), _) => out.push(Out::Text(r#"{"channel":"pong"}"#.to_owned())),
            (Some(method @ ("subscribe" | "unsubscribe")), Some(sub)) => {
                let subscribe = method == "subscribe";
                let kind = sub.get("type").and_then(Value::as_str);
                let coin = sub.get("coin").and_then(Value::as_str);
                let (Some("trades"), Some(coin)) = (kind, coin) else {
                    self.error(
                        &format!("Error parsing JSON into valid websocket request: {text}"),
                        out,
                    );
                    self.last_sent_us = s.now_us;
                    return;
                };
                let Some(i) = s.find(coin) else {
                    // The real server closes the socket without an error message.
                    out.push(Out::Close(1000, String::new()));
                    return;
                };
                let Some(flags) = s.subs.get_mut(i) else {
                    return;
                };
                if flags.trades == subscribe {
                    let what = if subscribe {
                        "Already subscribed"
                    } else {
                        "Already unsubscribed"
                    };
                    self.error(&format!("{what}: {sub}"), out);
                    self.last_sent_us = s.now_us;
                    return;
                }
                flags.trades = subscribe;
                out.push(Out::Text(format!(
                    r#"{{"channel":"subscriptionResponse","data":{{"method":"{method}","subscription":{sub}}}}}"#
                )));
                if subscribe {
                    if let (Some(m), Some(recent)) = (s.markets.get(i), s.recent.get(i)) {
                        let start = recent.len().saturating_sub(SNAPSHOT);
                        let snap: Vec<&Print> = recent.iter().skip(start).collect();
                        if !snap.is_empty() {
                            let frame = trades_frame(m, &snap);
                            let n = snap.len();
                            s.sent_snapshot(i, n);
                            out.push(Out::Text(frame));
                        }
                    }
                }
            }
            _ => self.error(
                &format!("Error parsing JSON into valid websocket request: {text}"),
                out,
            ),
        }
        self.last_sent_us = s.now_us;
    }

    fn on_prints(&mut self, prints: &[Print], s: &mut Session<'_>, out: &mut Vec<Out>) {
        self.last_sent_us = s.now_us;
        for (i, m) in s.markets.iter().enumerate() {
            let mine: Vec<&Print> = prints
                .iter()
                .filter(|p| p.market == i && p.kind == PrintKind::Trade)
                .collect();
            if !mine.is_empty() {
                out.push(Out::Text(trades_frame(m, &mine)));
            }
        }
    }

    fn on_timer(&mut self, s: &mut Session<'_>, _out: &mut Vec<Out>) -> Result<(), Hangup> {
        if (s.now_us - self.last_sent_us) as f64 > IDLE_CUT_US * self.scale {
            return Err(Hangup::PingTimeout);
        }
        Ok(())
    }

    fn set_keepalive_scale(&mut self, scale: f64) {
        self.scale = scale;
    }

    /// Fault injection: Hyperliquid documents no error reply for a subscription it refuses;
    /// to a `trades` subscription for a coin it does not list the server closes the socket
    /// without a message (Hyperliquid WebSocket docs, "Subscriptions", hyperliquid.gitbook.io,
    /// as this simulator already behaved for an unknown coin; not re-read on 2026-12-07: errors are `{"channel":"error"}` only for requests it cannot parse),
    /// so a rejected subscribe closes the connection the same way.
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
        if v.get("method").and_then(Value::as_str) != Some("subscribe") {
            return false;
        }
        out.push(Out::Close(1000, String::new()));
        true
    }

    fn errors_sent(&self) -> u64 {
        self.errors
    }
}
