#![allow(unreachable_pub)]
//! Reference decoder for Deribit `trades.*` notifications: inverse instruments
//! (`BTC-PERPETUAL`, `BTC-27DEC26`) trade USD amounts (base = amount / price), linear
//! (`BTC_USDC-…`) and options base amounts; a `liquidation` flag makes a liquidation.

use super::types::json::*;
use super::types::RefEvent;
use serde_json::Value;

pub fn decode(line: &str) -> Result<Vec<RefEvent>, String> {
    let v = parse(line)?;
    if v.get("method").and_then(Value::as_str) != Some("subscription") {
        return Ok(vec![]);
    }
    let params = field(&v, "params")?;
    if !str(params, "channel")?.starts_with("trades.") {
        return Ok(vec![]);
    }
    let mut out = Vec::new();
    for t in array(params, "data")? {
        let name = str(t, "instrument_name")?;
        let parts: Vec<&str> = name.split('-').collect();
        let price = num(t, "price")?;
        let amount = num(t, "amount")?;
        let qty = match parts.len() {
            2 if !parts[0].contains('_') => amount / price,
            2 | 4 => amount,
            _ => return Err(format!("unknown instrument {name}")),
        };
        let taker = match str(t, "direction")? {
            "buy" => "buy",
            "sell" => "sell",
            other => return Err(format!("bad direction {other}")),
        };
        let (kind, side) = match t.get("liquidation").and_then(Value::as_str) {
            None => ("trade", taker),
            Some("T" | "MT") => ("liquidation", taker),
            Some("M") => ("liquidation", if taker == "buy" { "sell" } else { "buy" }),
            Some(other) => return Err(format!("bad liquidation flag {other}")),
        };
        let id = str(t, "trade_id")?;
        let id = id.rsplit('-').next().unwrap_or(id);
        out.push(RefEvent {
            kind,
            side,
            symbol: name.to_owned(),
            price,
            qty,
            ts_us: Some(u64(t, "timestamp")? as i64 * 1000),
            trade_id: Some(id.parse().map_err(|_| "bad trade_id".to_string())?),
        });
    }
    Ok(out)
}
