//! Gate USDT-margined futures, WebSocket v4 on `/v4/ws/usdt`: `futures.trades` subscribe and
//! unsubscribe replies (`"result":{"status":"success"}` or an `error` object), trade updates
//! with `size` in contracts (negative when the taker sold), and `futures.ping` answered with
//! `futures.pong`. Facts: the Gate futures WebSocket v4 docs as summarised in
//! `feeds::gate`.

use super::bybit::json_str;
use super::proto::{Out, Print, PrintKind, Protocol, Session};
use serde_json::Value;
use std::fmt::Write as _;

/// One Gate futures connection.
#[derive(Debug, Default)]
pub struct Gate {
    errors: u64,
}

/// A Gate futures protocol.
pub fn new(_venue: feeds::Venue) -> Gate {
    Gate::default()
}

fn head(now_us: i64, channel: &str, event: &str) -> String {
    let ms = now_us / 1000;
    format!(
        r#"{{"time":{},"time_ms":{ms},"channel":{},"event":{}"#,
        ms / 1000,
        json_str(channel),
        json_str(event)
    )
}

impl Gate {
    fn error(
        &mut self,
        now_us: i64,
        channel: &str,
        event: &str,
        code: i64,
        msg: &str,
        out: &mut Vec<Out>,
    ) {
        self.errors += 1;
        out.push(Out::Text(format!(
            r#"{},"error":{{"code":{code},"message":{}}},"result":null}}"#,
            head(now_us, channel, event),
            json_str(msg)
        )));
    }
}

impl Protocol for Gate {
    fn route(&mut self, target: &str, _s: &mut Session<'_>) -> Result<(), (u16, String)> {
        let path = target.split('?').next().unwrap_or(target);
        if path != "/v4/ws/usdt" {
            return Err((404, "Not Found".to_owned()));
        }
        Ok(())
    }

    fn on_message(&mut self, msg: &[u8], _binary: bool, s: &mut Session<'_>, out: &mut Vec<Out>) {
        let now = s.now_us;
        let Ok(v) = serde_json::from_slice::<Value>(msg) else {
            return self.error(now, "", "", 1, "invalid request body format", out);
        };
        let channel = v.get("channel").and_then(Value::as_str).unwrap_or("");
        let event = v.get("event").and_then(Value::as_str).unwrap_or("");
        match (channel, event) {
            ("futures.ping", _) => out.push(Out::Text(format!(
                r#"{},"result":null}}"#,
                head(now, "futures.pong", "")
            ))),
            ("futures.trades", "subscribe" | "unsubscribe") => {
                let subscribe = event == "subscribe";
                let Some(payload) = v.get("payload").and_then(Value::as_array) else {
                    return self.error(now, channel, event, 2, "invalid argument provided", out);
                };
                let mut markets = Vec::new();
                for c in payload {
                    match c.as_str().and_then(|c| s.find(c)) {
                        Some(i) => markets.push(i),
                        None => {
                            let name = c.as_str().map_or_else(|| c.to_string(), str::to_owned);
                            return self.error(
                                now,
                                channel,
                                event,
                                2,
                                &format!("unknown contract {name}"),
                                out,
                            );
                        }
                    }
                }
                for i in markets {
                    if let Some(sub) = s.subs.get_mut(i) {
                        sub.trades = subscribe;
                    }
                }
                out.push(Out::Text(format!(
                    r#"{},"error":null,"result":{{"status":"success"}}}}"#,
                    head(now, channel, event)
                )));
            }
            ("futures.trades", _) => self.error(now, channel, event, 2, "unknown event", out),
            _ => self.error(now, channel, event, 2, "unknown channel", out),
        }
    }

    fn on_prints(&mut self, prints: &[Print], s: &mut Session<'_>, out: &mut Vec<Out>) {
        for (i, m) in s.markets.iter().enumerate() {
            let mut body = String::new();
            for p in prints
                .iter()
                .filter(|p| p.market == i && p.kind == PrintKind::Trade)
            {
                if !body.is_empty() {
                    body.push(',');
                }
                let contracts = m.contracts(p.qty, p.price) as i64;
                let size = if p.buy { contracts } else { -contracts };
                let ms = p.ts_us / 1000;
                let _ = write!(
                    body,
                    r#"{{"size":{size},"id":{},"create_time":{},"create_time_ms":{ms},"price":"{}","contract":"{}"}}"#,
                    p.id,
                    ms / 1000,
                    m.price_str(p.price),
                    m.symbol
                );
            }
            if !body.is_empty() {
                out.push(Out::Text(format!(
                    r#"{},"result":[{body}]}}"#,
                    head(s.now_us, "futures.trades", "update")
                )));
            }
        }
    }

    /// Fault injection: a `subscribe` gets Gate's reply for a contract it does not list (error
    /// code 2, "invalid argument provided" family; Gate futures WebSocket v4 docs, "Error":
    /// 1 invalid request body, 2 invalid argument, 3 server error; gate.com/docs/developers/
    /// futures/ws/en, as summarised in `feeds::gate`; not re-read on 2026-12-07).
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
        let channel = v.get("channel").and_then(Value::as_str).unwrap_or("");
        if v.get("event").and_then(Value::as_str) != Some("subscribe") || channel.is_empty() {
            return false;
        }
        let name = v
            .get("payload")
            .and_then(Value::as_array)
            .and_then(|p| p.first())
            .map_or_else(String::new, |c| {
                c.as_str().map_or_else(|| c.to_string(), str::to_owned)
            });
        let msg = format!("unknown contract {name}");
        self.error(s.now_us, channel, "subscribe", 2, &msg, out);
        true
    }

    fn errors_sent(&self) -> u64 {
        self.errors
    }
}
