//! Plain serde_json reference decoders, one per venue, written to be obviously right rather
//! than fast: each frame becomes a `serde_json::Value`, fields are looked up by name, and the
//! events are built only when the whole frame is valid. `differential.rs` checks that the
//! simd-json decoders agree with them.

#![allow(dead_code)]

pub(crate) mod bitget;
pub(crate) mod bybit;
pub(crate) mod gate;
pub(crate) mod huobi;
pub(crate) mod hyperliquid;
pub(crate) mod okx;

use feeds::{Decimal, DecodeError, Event, EventKind, Frame, Instruments, Side, Symbol, Venue};
use serde_json::Value;

pub(crate) type Decoded = (Result<Frame, DecodeError>, Vec<Event>);

/// The reference result for `frame` on `venue`, or `None` for venues without a reference.
pub(crate) fn decode(venue: Venue, frame: &[u8], instruments: &Instruments) -> Option<Decoded> {
    let mut out = Vec::new();
    let result = match venue {
        Venue::BybitLinear | Venue::BybitInverse | Venue::BybitSpot => {
            bybit::decode(venue, frame, instruments, &mut out)
        }
        Venue::OkxSpot | Venue::OkxSwap | Venue::OkxFutures => {
            okx::decode(frame, instruments, &mut out)
        }
        Venue::Bitget | Venue::BitgetSpot => bitget::decode(venue, frame, &mut out),
        Venue::Hyperliquid => hyperliquid::decode(frame, &mut out),
        Venue::Huobi | Venue::HuobiSwap => huobi::decode(venue, frame, &mut out),
        Venue::GateFutures => gate::decode(frame, instruments, &mut out),
        _ => return None,
    };
    if result.is_err() {
        out.clear();
    }
    Some((result, out))
}

pub(crate) fn parse(frame: &[u8]) -> Result<Value, DecodeError> {
    serde_json::from_slice(frame).map_err(|_| DecodeError::Malformed)
}

pub(crate) fn string<'a>(v: &'a Value, k: &'static str) -> Result<&'a str, DecodeError> {
    v.get(k)
        .and_then(Value::as_str)
        .ok_or(DecodeError::Field(k))
}

/// A decimal that must be a JSON string.
pub(crate) fn dec_str(v: &Value, k: &'static str) -> Result<Decimal, DecodeError> {
    Decimal::parse(string(v, k)?.as_bytes()).ok_or(DecodeError::Number(k))
}

/// A decimal as a string or a JSON number (floats through their shortest round-trip text).
pub(crate) fn dec_any(v: &Value, k: &'static str) -> Result<Decimal, DecodeError> {
    match v.get(k) {
        Some(Value::String(s)) => Decimal::parse(s.as_bytes()).ok_or(DecodeError::Number(k)),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Decimal::new(i, 0))
            } else if n.is_u64() {
                Err(DecodeError::Number(k))
            } else {
                let f = n.as_f64().ok_or(DecodeError::Number(k))?;
                Decimal::parse(format!("{f}").as_bytes()).ok_or(DecodeError::Number(k))
            }
        }
        _ => Err(DecodeError::Field(k)),
    }
}

/// An unsigned integer: a JSON integer or a string of digits.
pub(crate) fn uint(v: &Value, k: &'static str) -> Result<u64, DecodeError> {
    match v.get(k) {
        Some(Value::Number(n)) => n.as_u64().ok_or(DecodeError::Number(k)),
        Some(Value::String(s)) => {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(DecodeError::Number(k));
            }
            s.parse().map_err(|_| DecodeError::Number(k))
        }
        _ => Err(DecodeError::Field(k)),
    }
}

/// A signed integer: a JSON integer or digits with an optional leading `-`.
pub(crate) fn int(v: &Value, k: &'static str) -> Result<i64, DecodeError> {
    match v.get(k) {
        Some(Value::Number(n)) => n.as_i64().ok_or(DecodeError::Number(k)),
        Some(Value::String(s)) => int_text(s).ok_or(DecodeError::Number(k)),
        _ => Err(DecodeError::Field(k)),
    }
}

pub(crate) fn int_text(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

pub(crate) fn millis(v: &Value, k: &'static str) -> Result<i64, DecodeError> {
    i64::try_from(uint(v, k)?)
        .ok()
        .and_then(|ms| ms.checked_mul(1000))
        .ok_or(DecodeError::Number(k))
}

pub(crate) fn symbol(v: &Value, k: &'static str) -> Result<Symbol, DecodeError> {
    Symbol::new(string(v, k)?.as_bytes()).ok_or(DecodeError::Symbol)
}

pub(crate) fn side(v: &Value, k: &'static str) -> Result<Side, DecodeError> {
    match string(v, k)?.to_ascii_lowercase().as_str() {
        "buy" => Ok(Side::Buy),
        "sell" => Ok(Side::Sell),
        _ => Err(DecodeError::Field(k)),
    }
}

/// `false` for a zero size; errors for negative sizes and non-positive prices.
pub(crate) fn sized(
    p: Decimal,
    q: Decimal,
    pn: &'static str,
    qn: &'static str,
) -> Result<bool, DecodeError> {
    if q.mantissa < 0 {
        Err(DecodeError::Number(qn))
    } else if q.mantissa == 0 {
        Ok(false)
    } else if p.mantissa <= 0 {
        Err(DecodeError::Number(pn))
    } else {
        Ok(true)
    }
}

pub(crate) fn array<'a>(v: &'a Value, k: &'static str) -> Result<&'a Vec<Value>, DecodeError> {
    v.get(k)
        .and_then(Value::as_array)
        .ok_or(DecodeError::Field(k))
}

pub(crate) fn event(
    kind: EventKind,
    side: Side,
    symbol: Symbol,
    price: Decimal,
    qty: Decimal,
    ts_us: i64,
    trade_id: Option<u64>,
) -> Event {
    Event {
        kind,
        side,
        symbol,
        price,
        qty,
        ts_us,
        trade_id,
        fills: 1,
    }
}
