//! Binance wire types: the fields of `trade`, `aggTrade` and `forceOrder` payloads as read
//! off a simd-json tape (`RawTrade`, `RawForceOrder`), and their normalization into [`Event`].
//!
//! The tape is walked with the crate's JSON reader (`crate::json`; one pass over each object,
//! keys matched byte for byte) rather than through a map type: nothing is allocated, and each
//! field is looked at once. Binance sends prices and sizes as decimal strings only; a JSON
//! number there is a `Field` error.
//! Raw forms keep borrowed strings; turning them into an `Event` is where every number is
//! checked, so a frame either yields a fully valid event or a [`DecodeError`] naming the field.

use crate::event::{Decimal, Event, EventKind, Side};
use crate::json::{self, Val};
use crate::venue::DecodeError;

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
            market = matches!(json::string(Some(x), "X")?, "MARKET" | "RPI");
        }
        let symbol = json::symbol(self.s, "s")?;
        if !market {
            // Not a market print, but it consumed a trade id: reported as such so that
            // id-based gap detection stays exact. No price or size: it must never make a bar.
            return Ok(Some(Event {
                kind: EventKind::NonMarket,
                side: Side::Buy,
                symbol,
                price: Decimal::ZERO,
                qty: Decimal::ZERO,
                ts_us: json::millis_int(self.t_time, "T")?,
                trade_id: Some(json::unsigned_int(self.t_id, "t")?),
                fills: 1,
            }));
        }
        let price = json::decimal_str(self.p, "p")?;
        let qty = json::decimal_str(self.q, "q")?;
        let ts_us = json::millis_int(self.t_time, "T")?;
        // `m`: "is the buyer the maker?" — if so the taker (aggressor) sold.
        let side = if json::boolean(self.m, "m")? {
            Side::Sell
        } else {
            Side::Buy
        };
        let (trade_id, fills) = match kind {
            TradeKind::Trade => (json::unsigned_int(self.t_id, "t")?, 1),
            TradeKind::AggTrade => {
                let id = json::unsigned_int(self.a, "a")?;
                let first = json::unsigned_int(self.f, "f")?;
                let last = json::unsigned_int(self.l, "l")?;
                let fills = last
                    .checked_sub(first)
                    .and_then(|n| n.checked_add(1))
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or(DecodeError::Number("l"))?;
                (id, fills)
            }
        };
        if !json::tradable(price, qty, "p", "q")? {
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
        let fields = order
            .and_then(Val::entries)
            .ok_or(DecodeError::Field("o"))?;
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
        let symbol = json::symbol(self.s, "s")?;
        // `S` is the side of the forced order: SELL closes a long.
        let side = match json::string(self.side, "S")? {
            "BUY" => Side::Buy,
            "SELL" => Side::Sell,
            _ => return Err(DecodeError::Field("S")),
        };
        let price = json::decimal_str(self.ap, "ap")?;
        let qty = json::decimal_str(self.z, "z")?;
        let ts_us = json::millis_int(self.t_time, "T")?;
        if !json::tradable(price, qty, "ap", "z")? {
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
