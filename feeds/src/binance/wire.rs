//! Binance wire types: the fields of `trade`, `aggTrade` and `forceOrder` payloads as read
//! off a simd-json tape (`RawTrade`, `RawForceOrder`), and their normalization into [`Event`].
//!
//! The tape is walked directly (one pass over each object, keys matched byte for byte)
//! rather than through a map type: nothing is allocated, and each field is looked at once.
//! Raw forms keep borrowed strings; turning them into an `Event` is where every number is
//! checked, so a frame either yields a fully valid event or a [`DecodeError`] naming the field.

use crate::event::{Decimal, Event, EventKind, Side, Symbol};
use crate::venue::DecodeError;
use simd_json::{Node, StaticNode};

/// One JSON value on the tape: its first node and, for objects and arrays, everything nested.
pub(super) type Val<'t, 'i> = &'t [Node<'i>];

/// Number of tape nodes the value starting with `node` occupies.
fn span(node: &Node<'_>) -> usize {
    match node {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        Node::String(_) | Node::Static(_) => 1,
    }
}

/// The key/value pairs of a JSON object, in frame order.
pub(super) struct Entries<'t, 'i> {
    rest: &'t [Node<'i>],
    remaining: usize,
}

/// `Some` when `value` is a JSON object.
pub(super) fn entries<'t, 'i>(value: Val<'t, 'i>) -> Option<Entries<'t, 'i>> {
    match value.first()? {
        Node::Object { len, .. } => Some(Entries {
            rest: value.get(1..)?,
            remaining: *len,
        }),
        _ => None,
    }
}

impl<'t, 'i> Iterator for Entries<'t, 'i> {
    type Item = (&'i str, Val<'t, 'i>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        // The tape is simd-json's own and consistent, but a short tape must end the walk,
        // not panic: hence `get` everywhere.
        let key = match self.rest.first()? {
            Node::String(key) => *key,
            _ => return None,
        };
        let len = span(self.rest.get(1)?);
        let value = self.rest.get(1..1 + len)?;
        self.rest = self.rest.get(1 + len..)?;
        Some((key, value))
    }
}

pub(super) fn is_object(value: Val<'_, '_>) -> bool {
    matches!(value.first(), Some(Node::Object { .. }))
}

pub(super) fn is_array(value: Val<'_, '_>) -> bool {
    matches!(value.first(), Some(Node::Array { .. }))
}

/// A JSON string field.
pub(super) fn string<'i>(
    value: Option<Val<'_, 'i>>,
    name: &'static str,
) -> Result<&'i str, DecodeError> {
    match value.and_then(|v| v.first()) {
        Some(Node::String(s)) => Ok(s),
        _ => Err(DecodeError::Field(name)),
    }
}

/// A JSON integer field that must fit a `u64`. A number of the right type but out of range
/// (negative, fractional, too large) is a `Number` error; anything else a `Field` error.
pub(super) fn unsigned(value: Option<Val<'_, '_>>, name: &'static str) -> Result<u64, DecodeError> {
    match value.and_then(|v| v.first()) {
        Some(Node::Static(StaticNode::U64(n))) => Ok(*n),
        Some(Node::Static(StaticNode::I64(n))) => {
            u64::try_from(*n).map_err(|_| DecodeError::Number(name))
        }
        Some(Node::Static(StaticNode::F64(_))) => Err(DecodeError::Number(name)),
        _ => Err(DecodeError::Field(name)),
    }
}

/// A JSON integer field that must fit an `i64` (error codes may be negative).
pub(super) fn signed(value: Option<Val<'_, '_>>, name: &'static str) -> Result<i64, DecodeError> {
    match value.and_then(|v| v.first()) {
        Some(Node::Static(StaticNode::I64(n))) => Ok(*n),
        Some(Node::Static(StaticNode::U64(n))) => {
            i64::try_from(*n).map_err(|_| DecodeError::Number(name))
        }
        Some(Node::Static(StaticNode::F64(_))) => Err(DecodeError::Number(name)),
        _ => Err(DecodeError::Field(name)),
    }
}

fn boolean(value: Option<Val<'_, '_>>, name: &'static str) -> Result<bool, DecodeError> {
    match value.and_then(|v| v.first()) {
        Some(Node::Static(StaticNode::Bool(b))) => Ok(*b),
        _ => Err(DecodeError::Field(name)),
    }
}

/// A decimal sent as a JSON string (Binance never sends prices or sizes as JSON numbers;
/// one that does is mistyped, since its exact text is gone once parsed as a float).
fn decimal(value: Option<Val<'_, '_>>, name: &'static str) -> Result<Decimal, DecodeError> {
    let text = string(value, name)?;
    Decimal::parse(text.as_bytes()).ok_or(DecodeError::Number(name))
}

/// Binance millisecond time → µs, refusing what does not fit an `i64`.
fn millis_to_micros(value: Option<Val<'_, '_>>, name: &'static str) -> Result<i64, DecodeError> {
    let ms = unsigned(value, name)?;
    i64::try_from(ms)
        .ok()
        .and_then(|ms| ms.checked_mul(1000))
        .ok_or(DecodeError::Number(name))
}

fn symbol(value: Option<Val<'_, '_>>, name: &'static str) -> Result<Symbol, DecodeError> {
    Symbol::new(string(value, name)?.as_bytes()).ok_or(DecodeError::Symbol)
}

/// Whether a price/size pair makes an event: `Ok(false)` for a zero size (dropped, as
/// aggr-server drops them; an unfilled force order also reports `ap` = 0), an error for a
/// negative size or a non-positive price.
fn tradable(
    price: Decimal,
    qty: Decimal,
    price_name: &'static str,
    qty_name: &'static str,
) -> Result<bool, DecodeError> {
    if qty.mantissa < 0 {
        return Err(DecodeError::Number(qty_name));
    }
    if qty.is_zero() {
        return Ok(false);
    }
    if price.mantissa <= 0 {
        return Err(DecodeError::Number(price_name));
    }
    Ok(true)
}

/// Which trade payload a [`RawTrade`] came from; decides the id field and the fill count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TradeKind {
    /// `@trade`: one fill, id `t`.
    Trade,
    /// `@aggTrade`: fills `f..=l` of one taker order, id `a`.
    AggTrade,
}

/// The fields of a `trade` / `aggTrade` payload, as they were on the wire.
#[derive(Default)]
pub(super) struct RawTrade<'t, 'i> {
    s: Option<Val<'t, 'i>>,
    p: Option<Val<'t, 'i>>,
    q: Option<Val<'t, 'i>>,
    t_time: Option<Val<'t, 'i>>,
    m: Option<Val<'t, 'i>>,
    t_id: Option<Val<'t, 'i>>,
    a: Option<Val<'t, 'i>>,
    f: Option<Val<'t, 'i>>,
    l: Option<Val<'t, 'i>>,
    x: Option<Val<'t, 'i>>,
}

impl<'t, 'i> RawTrade<'t, 'i> {
    /// Remember `value` if `key` is one of the trade fields. Later duplicates win, as in
    /// most JSON readers.
    pub(super) fn take(&mut self, key: &str, value: Val<'t, 'i>) {
        let slot = match key.as_bytes() {
            b"s" => &mut self.s,
            b"p" => &mut self.p,
            b"q" => &mut self.q,
            b"T" => &mut self.t_time,
            b"m" => &mut self.m,
            b"t" => &mut self.t_id,
            b"a" => &mut self.a,
            b"f" => &mut self.f,
            b"l" => &mut self.l,
            b"X" => &mut self.x,
            _ => return,
        };
        *slot = Some(value);
    }

    /// The normalized trade; an [`EventKind::NonMarket`] record (id only) for a print that is
    /// not a market trade (USDⓈ-M `X` = `INSURANCE_FUND`, `ADL`, …); `None` for zero size.
    pub(super) fn to_event(&self, kind: TradeKind) -> Result<Option<Event>, DecodeError> {
        // USDⓈ-M `@trade` tags every print with `X`; only plain market fills (and RPI fills,
        // which are market fills against retail-price-improvement orders) make bars, as in
        // aggr-server. Spot frames carry no `X`.
        let mut market = true;
        if let Some(x) = self.x {
            market = matches!(string(Some(x), "X")?, "MARKET" | "RPI");
        }
        let symbol = symbol(self.s, "s")?;
        if !market {
            // Not a market print, but it consumed a trade id: reported as such so that
            // id-based gap detection stays exact. No price or size: it must never make a bar.
            return Ok(Some(Event {
                kind: EventKind::NonMarket,
                side: Side::Buy,
                symbol,
                price: Decimal::ZERO,
                qty: Decimal::ZERO,
                ts_us: millis_to_micros(self.t_time, "T")?,
                trade_id: Some(unsigned(self.t_id, "t")?),
                fills: 1,
            }));
        }
        let price = decimal(self.p, "p")?;
        let qty = decimal(self.q, "q")?;
        let ts_us = millis_to_micros(self.t_time, "T")?;
        // `m`: "is the buyer the maker?" — if so the taker (aggressor) sold.
        let side = if boolean(self.m, "m")? {
            Side::Sell
        } else {
            Side::Buy
        };
        let (trade_id, fills) = match kind {
            TradeKind::Trade => (unsigned(self.t_id, "t")?, 1),
            TradeKind::AggTrade => {
                let id = unsigned(self.a, "a")?;
                let first = unsigned(self.f, "f")?;
                let last = unsigned(self.l, "l")?;
                let fills = last
                    .checked_sub(first)
                    .and_then(|n| n.checked_add(1))
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or(DecodeError::Number("l"))?;
                (id, fills)
            }
        };
        if !tradable(price, qty, "p", "q")? {
            return Ok(None);
        }
        Ok(Some(Event {
            kind: EventKind::Trade,
            side,
            symbol,
            price,
            qty,
            ts_us,
            trade_id: Some(trade_id),
            fills,
        }))
    }
}

/// The fields of a `forceOrder` payload's order object `o`.
#[derive(Default)]
pub(super) struct RawForceOrder<'t, 'i> {
    s: Option<Val<'t, 'i>>,
    side: Option<Val<'t, 'i>>,
    ap: Option<Val<'t, 'i>>,
    z: Option<Val<'t, 'i>>,
    t_time: Option<Val<'t, 'i>>,
}

impl<'t, 'i> RawForceOrder<'t, 'i> {
    /// Read the order object `o`.
    pub(super) fn read(order: Option<Val<'t, 'i>>) -> Result<Self, DecodeError> {
        let fields = order.and_then(entries).ok_or(DecodeError::Field("o"))?;
        let mut raw = RawForceOrder::default();
        for (key, value) in fields {
            let slot = match key.as_bytes() {
                b"s" => &mut raw.s,
                b"S" => &mut raw.side,
                b"ap" => &mut raw.ap,
                b"z" => &mut raw.z,
                b"T" => &mut raw.t_time,
                _ => continue,
            };
            *slot = Some(value);
        }
        Ok(raw)
    }

    /// The normalized liquidation: the filled size `z` at the average fill price `ap`
    /// (aggr-server takes the order's `p` × `q`, which equals it for a fully filled order;
    /// `z`/`ap` is what actually traded). `None` when nothing was filled.
    pub(super) fn to_event(&self) -> Result<Option<Event>, DecodeError> {
        let symbol = symbol(self.s, "s")?;
        // `S` is the side of the forced order: SELL closes a long.
        let side = match string(self.side, "S")? {
            "BUY" => Side::Buy,
            "SELL" => Side::Sell,
            _ => return Err(DecodeError::Field("S")),
        };
        let price = decimal(self.ap, "ap")?;
        let qty = decimal(self.z, "z")?;
        let ts_us = millis_to_micros(self.t_time, "T")?;
        if !tradable(price, qty, "ap", "z")? {
            return Ok(None);
        }
        Ok(Some(Event {
            kind: EventKind::Liquidation,
            side,
            symbol,
            price,
            qty,
            ts_us,
            trade_id: None,
            fills: 1,
        }))
    }
}
