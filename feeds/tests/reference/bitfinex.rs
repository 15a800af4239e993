#![allow(unreachable_pub)]
//! Reference decoder for Bitfinex `trades` channels (snapshot and `te`; `tu` repeats a `te`)
//! and the `liq:global` status channel (trigger entries, IS_MATCH = 0; price = the entry's
//! liquidation price, else the symbol's last trade price, else its base price).
//!
//! Data frames name their channel by id only, so the reference remembers the ids announced
//! by `subscribed` lines it has decoded on this thread (a file is decoded in order).

use super::types::json::*;
use super::types::RefEvent;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;

thread_local! {
    /// chanId → trading symbol, or "liq" for the liquidation feed.
    static CHANNELS: RefCell<HashMap<u64, String>> = RefCell::new(HashMap::new());
    /// symbol → last trade price seen.
    static LAST: RefCell<HashMap<String, f64>> = RefCell::new(HashMap::new());
}

fn trade(t: &Value, symbol: &str) -> Result<Option<RefEvent>, String> {
    let f = |i: usize| t.get(i).ok_or(format!("missing trade field {i}"));
    let amount = f(2)?.as_f64().ok_or("bad AMOUNT")?;
    if amount == 0.0 {
        return Ok(None);
    }
    Ok(Some(RefEvent {
        kind: "trade",
        side: if amount > 0.0 { "buy" } else { "sell" },
        symbol: symbol.to_owned(),
        price: f(3)?.as_f64().ok_or("bad PRICE")?,
        qty: amount.abs(),
        ts_us: Some(f(1)?.as_i64().ok_or("bad MTS")? * 1000),
        trade_id: Some(f(0)?.as_u64().ok_or("bad ID")?),
    }))
}

fn liquidation(p: &Value) -> Result<Option<RefEvent>, String> {
    let f = |i: usize| p.get(i).ok_or(format!("missing liquidation field {i}"));
    if f(0)? != "pos" {
        return Err("not a pos entry".into());
    }
    if f(8)?.as_u64().ok_or("bad IS_MATCH")? != 0 {
        return Ok(None);
    }
    let amount = f(5)?.as_f64().ok_or("bad AMOUNT")?;
    let symbol = f(4)?.as_str().ok_or("bad SYMBOL")?.to_owned();
    let price = match p.get(11) {
        Some(Value::Number(n)) => n.as_f64().ok_or("bad price")?,
        Some(Value::Null) | None => match LAST.with(|l| l.borrow().get(&symbol).copied()) {
            Some(last) => last,
            None => f(6)?.as_f64().ok_or("bad BASE_PRICE")?,
        },
        Some(_) => return Err("bad LIQUIDATION_PRICE".into()),
    };
    Ok(Some(RefEvent {
        kind: "liquidation",
        side: if amount > 0.0 { "sell" } else { "buy" },
        symbol,
        price,
        qty: amount.abs(),
        ts_us: Some((f(2)?.as_f64().ok_or("bad MTS")? * 1000.0) as i64),
        trade_id: None,
    }))
}

pub fn decode(line: &str) -> Result<Vec<RefEvent>, String> {
    let v = parse(line)?;
    if v.get("event").and_then(Value::as_str) == Some("subscribed") {
        let id = u64(&v, "chanId")?;
        let what = match (str(&v, "channel")?, v.get("key").and_then(Value::as_str)) {
            ("trades", _) => str(&v, "symbol")?.to_owned(),
            ("status", Some("liq:global")) => "liq".to_owned(),
            _ => "other".to_owned(),
        };
        CHANNELS.with(|c| c.borrow_mut().insert(id, what));
        return Ok(vec![]);
    }
    let Some(a) = v.as_array() else {
        return Ok(vec![]);
    };
    let id = a.first().and_then(Value::as_u64).ok_or("bad chanId")?;
    let channel = CHANNELS
        .with(|c| c.borrow().get(&id).cloned())
        .ok_or(format!("unknown channel {id}"))?;
    let body = a.get(1).ok_or("no payload")?;
    let mut out = Vec::new();
    match (body.as_str(), channel.as_str()) {
        (Some("te"), symbol) if symbol.starts_with('t') => {
            out.extend(trade(a.get(2).ok_or("no trade")?, symbol)?);
            if let Some(t) = out.first() {
                LAST.with(|l| l.borrow_mut().insert(t.symbol.clone(), t.price));
            }
        }
        (Some(_), _) | (None, "other") => {}
        (None, "liq") => {
            for p in body.as_array().ok_or("bad liquidations")? {
                out.extend(liquidation(p)?);
            }
        }
        (None, symbol) => {
            for t in body.as_array().ok_or("bad snapshot")? {
                out.extend(trade(t, symbol)?);
            }
            // Newest first.
            if let Some(t) = out.first() {
                LAST.with(|l| l.borrow_mut().insert(t.symbol.clone(), t.price));
            }
        }
    }
    Ok(out)
}
