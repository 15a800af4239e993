#![allow(unreachable_pub)]
//! Reference decoder for Binance COIN-M `aggTrade`, `trade` and `forceOrder` payloads (raw or
//! in a combined-stream wrapper): contracts → base as `q × contractSize / price`, the contract
//! sizes read from the bundled `data/instruments/binance.json`.

use super::types::json::*;
use super::types::RefEvent;
use serde_json::Value;

fn contract_size(symbol: &str) -> Result<f64, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/instruments/binance.json");
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let specs: Vec<Value> = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    specs
        .iter()
        .find(|s| s["venue"] == "binance-coinm" && s["symbol"] == symbol)
        .and_then(|s| s["size"].as_str()?.parse().ok())
        .ok_or_else(|| format!("no contract size for {symbol}"))
}

pub fn decode(line: &str) -> Result<Vec<RefEvent>, String> {
    let v = parse(line)?;
    let payload = v.get("data").unwrap_or(&v);
    let event =
        |kind, side: &'static str, symbol: &str, price: f64, contracts: f64, ts: u64, id| {
            Ok::<_, String>(RefEvent {
                kind,
                side,
                symbol: symbol.to_owned(),
                price,
                qty: contracts * contract_size(symbol)? / price,
                ts_us: Some(ts as i64 * 1000),
                trade_id: id,
            })
        };
    match payload.get("e").and_then(Value::as_str) {
        Some(e @ ("aggTrade" | "trade")) => {
            let taker = if field(payload, "m")?.as_bool().ok_or("bad m")? {
                "sell"
            } else {
                "buy"
            };
            let id = u64(payload, if e == "aggTrade" { "a" } else { "t" })?;
            let (p, q) = (str_f64(payload, "p")?, str_f64(payload, "q")?);
            Ok(vec![event(
                "trade",
                taker,
                str(payload, "s")?,
                p,
                q,
                u64(payload, "T")?,
                Some(id),
            )?])
        }
        Some("forceOrder") => {
            let o = field(payload, "o")?;
            let side = match str(o, "S")? {
                "BUY" => "buy",
                "SELL" => "sell",
                other => return Err(format!("bad side {other}")),
            };
            let (p, z) = (str_f64(o, "ap")?, str_f64(o, "z")?);
            if z == 0.0 {
                return Ok(vec![]);
            }
            Ok(vec![event(
                "liquidation",
                side,
                str(o, "s")?,
                p,
                z,
                u64(o, "T")?,
                None,
            )?])
        }
        _ => Ok(vec![]),
    }
}
