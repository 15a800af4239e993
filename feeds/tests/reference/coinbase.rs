#![allow(unreachable_pub)]
//! Reference decoder for Coinbase Exchange `match`/`last_match` and Advanced Trade
//! `market_trades` frames. Both report the maker side; the taker is the opposite.

use super::types::json::{self, *};
use super::types::RefEvent;
use serde_json::Value;

fn taker(maker: &str) -> Result<&'static str, String> {
    match maker.to_ascii_lowercase().as_str() {
        "buy" => Ok("sell"),
        "sell" => Ok("buy"),
        other => Err(format!("bad side {other}")),
    }
}

fn event(t: &Value, id: u64) -> Result<RefEvent, String> {
    Ok(RefEvent {
        kind: "trade",
        side: taker(str(t, "side")?)?,
        symbol: str(t, "product_id")?.to_owned(),
        price: str_f64(t, "price")?,
        qty: str_f64(t, "size")?,
        ts_us: Some(json::rfc3339_us(str(t, "time")?)?),
        trade_id: Some(id),
    })
}

pub fn decode(line: &str) -> Result<Vec<RefEvent>, String> {
    let v = parse(line)?;
    if v.get("channel").and_then(Value::as_str) == Some("market_trades") {
        let mut out = Vec::new();
        for e in array(&v, "events")? {
            for t in array(e, "trades")? {
                let id = str(t, "trade_id")?
                    .parse()
                    .map_err(|_| "bad trade_id".to_string())?;
                out.push(event(t, id)?);
            }
        }
        return Ok(out);
    }
    match v.get("type").and_then(Value::as_str) {
        Some("match" | "last_match") => Ok(vec![event(&v, u64(&v, "trade_id")?)?]),
        _ => Ok(vec![]),
    }
}
