#![allow(unreachable_pub)]
//! Reference decoder for Kraken spot v2 `trade` frames, v1 trade arrays and Kraken Futures
//! `trade` / `trade_snapshot` frames (PI_/FI_ quantities are USD contracts → qty / price).

use super::types::json::{self, *};
use super::types::RefEvent;
use serde_json::Value;

fn side(s: &str) -> Result<&'static str, String> {
    match s {
        "buy" | "b" => Ok("buy"),
        "sell" | "s" => Ok("sell"),
        other => Err(format!("bad side {other}")),
    }
}

fn futures_trade(t: &Value) -> Result<Option<RefEvent>, String> {
    let kind = match str(t, "type")? {
        "fill" => "trade",
        "liquidation" | "termination" => "liquidation",
        "block" => return Ok(None),
        other => return Err(format!("bad type {other}")),
    };
    let symbol = str(t, "product_id")?.to_owned();
    let price = num(t, "price")?;
    let qty = num(t, "qty")?;
    let qty = if symbol.starts_with("PI_") || symbol.starts_with("FI_") {
        qty / price
    } else if symbol.starts_with("PF_") || symbol.starts_with("FF_") {
        qty
    } else {
        return Err(format!("unknown product {symbol}"));
    };
    Ok(Some(RefEvent {
        kind,
        side: side(str(t, "side")?)?,
        symbol,
        price,
        qty,
        ts_us: Some(u64(t, "time")? as i64 * 1000),
        trade_id: None,
    }))
}

pub fn decode(line: &str) -> Result<Vec<RefEvent>, String> {
    let v = parse(line)?;
    if let Some(a) = v.as_array() {
        // v1: [channelID, [[price, volume, time, side, type, misc], ...], "trade", pair]
        if a.len() < 4 || a[a.len() - 2] != "trade" {
            return Ok(vec![]);
        }
        let pair = a[a.len() - 1].as_str().ok_or("bad pair")?;
        let mut out = Vec::new();
        for t in a[1].as_array().ok_or("bad trades")? {
            let f = |i: usize| {
                t.get(i)
                    .and_then(Value::as_str)
                    .ok_or(format!("bad field {i}"))
            };
            let secs: f64 = f(2)?.parse().map_err(|_| "bad time")?;
            out.push(RefEvent {
                kind: "trade",
                side: side(f(3)?)?,
                symbol: pair.to_owned(),
                price: f(0)?.parse().map_err(|_| "bad price")?,
                qty: f(1)?.parse().map_err(|_| "bad volume")?,
                ts_us: Some((secs * 1e6).round() as i64),
                trade_id: None,
            });
        }
        return Ok(out);
    }
    match (
        v.get("channel").and_then(Value::as_str),
        v.get("feed").and_then(Value::as_str),
    ) {
        (Some("trade"), _) => array(&v, "data")?
            .iter()
            .map(|t| {
                Ok(RefEvent {
                    kind: "trade",
                    side: side(str(t, "side")?)?,
                    symbol: str(t, "symbol")?.to_owned(),
                    price: num(t, "price")?,
                    qty: num(t, "qty")?,
                    ts_us: Some(json::rfc3339_us(str(t, "timestamp")?)?),
                    trade_id: Some(u64(t, "trade_id")?),
                })
            })
            .collect(),
        (None, Some("trade")) if v.get("event").is_none() => {
            Ok(futures_trade(&v)?.into_iter().collect())
        }
        (None, Some("trade_snapshot")) => {
            let mut out = Vec::new();
            for t in array(&v, "trades")? {
                out.extend(futures_trade(t)?);
            }
            Ok(out)
        }
        _ => Ok(vec![]),
    }
}
