#![allow(unreachable_pub)]
//! Reference decoder for BitMEX `trade` rows (base size = `homeNotional`) and `liquidation`
//! inserts (XBTUSD only: 1-USD inverse contracts, base = leavesQty / price; no timestamp).

use super::types::json::{self, *};
use super::types::RefEvent;
use serde_json::Value;

fn side(row: &Value) -> Result<&'static str, String> {
    match str(row, "side")? {
        "Buy" => Ok("buy"),
        "Sell" => Ok("sell"),
        other => Err(format!("bad side {other}")),
    }
}

pub fn decode(line: &str) -> Result<Vec<RefEvent>, String> {
    if line.trim() == "pong" {
        return Ok(vec![]);
    }
    let v = parse(line)?;
    let action = v.get("action").and_then(Value::as_str);
    match v.get("table").and_then(Value::as_str) {
        Some("trade") => array(&v, "data")?
            .iter()
            .map(|row| {
                Ok(RefEvent {
                    kind: "trade",
                    side: side(row)?,
                    symbol: str(row, "symbol")?.to_owned(),
                    price: num(row, "price")?,
                    qty: num(row, "homeNotional")?,
                    ts_us: Some(json::rfc3339_us(str(row, "timestamp")?)?),
                    trade_id: None,
                })
            })
            .collect(),
        Some("liquidation") if matches!(action, Some("insert" | "partial")) => array(&v, "data")?
            .iter()
            .map(|row| {
                let symbol = str(row, "symbol")?;
                if symbol != "XBTUSD" {
                    return Err(format!("no contract size for {symbol}"));
                }
                let price = num(row, "price")?;
                Ok(RefEvent {
                    kind: "liquidation",
                    side: side(row)?,
                    symbol: symbol.to_owned(),
                    price,
                    qty: num(row, "leavesQty")? / price,
                    ts_us: None,
                    trade_id: None,
                })
            })
            .collect(),
        _ => Ok(vec![]),
    }
}
