//! Bybit v5 frames → events.
//!
//! - `publicTrade.*`: `data` is an array of fills; `S` is the **taker** side, `v` the size
//!   (base units on linear and spot, USD contracts on inverse), `i` the id (UUID on
//!   linear/inverse, folded to 64 bits; digits on spot).
//! - `allLiquidation.*`: `S` is the **position** side, so `Buy` (a long was liquidated) is a
//!   *sell* liquidation order; `p` is the bankruptcy price.
//! - `tickers.*`: when a frame carries `openInterest`, an [`EventKind::OpenInterest`] event
//!   (qty in base units, price = `markPrice` when the same frame has it, else zero; time = the
//!   frame's `ts`). Inverse open interest is in USD contracts and is converted only when the
//!   frame also carries `markPrice`; deltas without it are `Frame::Other`.
//! - `{"op":"subscribe","success":…}` → `SubscribeAck` / `VenueError { code: 0 }` (Bybit sends
//!   no numeric code); the pong (`op:"ping"`/`"pong"`) and other replies → `Frame::Other`.

use crate::event::{Decimal, Event, EventKind, Side};
use crate::instruments::Instruments;
use crate::json::{self, Parser, Val};
use crate::venue::{Decode, DecodeError, Frame, Venue};
use std::fmt;
use std::sync::Arc;

/// Decoder for one Bybit category (linear, inverse or spot).
pub struct Decoder {
    venue: Venue,
    instruments: Arc<Instruments>,
    parser: Parser,
}

impl Decoder {
    /// `instruments` is consulted for inverse contract sizes only.
    pub fn new(venue: Venue, instruments: Arc<Instruments>) -> Decoder {
        Decoder {
            venue,
            instruments,
            parser: Parser::without_literals(),
        }
    }
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("bybit::Decoder")
            .field("venue", &self.venue)
            .finish_non_exhaustive()
    }
}

impl Decode for Decoder {
    fn venue(&self) -> Venue {
        self.venue
    }

    fn decode(
        &mut self,
        frame: &mut [u8],
        emit: &mut dyn FnMut(Event),
    ) -> Result<Frame, DecodeError> {
        let ctx = Ctx {
            venue: self.venue,
            instruments: &self.instruments,
        };
        self.parser.parse(frame, |root| ctx.classify(root, emit))
    }
}

struct Ctx<'a> {
    venue: Venue,
    instruments: &'a Instruments,
}

impl Ctx<'_> {
    fn classify(
        &self,
        root: Val<'_, '_>,
        emit: &mut dyn FnMut(Event),
    ) -> Result<Frame, DecodeError> {
        let [topic, data, ts, op, success] =
            json::pick(root, ["topic", "data", "ts", "op", "success"])
                .ok_or(DecodeError::Unknown)?;
        if let Some(topic) = topic {
            let topic = json::string(Some(topic), "topic")?;
            let channel = topic.split('.').next().unwrap_or(topic);
            return match channel {
                "publicTrade" => self.trades(data, emit),
                "allLiquidation" => self.liquidations(data, emit),
                "tickers" => self.tickers(data, ts, emit),
                _ => Ok(Frame::Other),
            };
        }
        let Some(op) = op else {
            return Err(DecodeError::Unknown);
        };
        match json::string(Some(op), "op")? {
            "subscribe" => {
                if json::boolean(success, "success")? {
                    Ok(Frame::SubscribeAck)
                } else {
                    Ok(Frame::VenueError { code: 0 })
                }
            }
            _ => Ok(Frame::Other),
        }
    }

    /// Contracts → base units for inverse; linear and spot sizes are already base.
    fn base(&self, symbol: &str, size: Decimal, price: Decimal) -> Result<Decimal, DecodeError> {
        if self.venue != Venue::BybitInverse {
            return Ok(size);
        }
        let spec = self
            .instruments
            .get(Venue::BybitInverse, symbol)
            .ok_or(DecodeError::Instrument)?;
        spec.to_base(size, price).ok_or(DecodeError::Number("v"))
    }

    fn trades(
        &self,
        data: Option<Val<'_, '_>>,
        emit: &mut dyn FnMut(Event),
    ) -> Result<Frame, DecodeError> {
        let n = json::emit_batch(
            json::array(data, "data")?,
            |fill| {
                let [t, s, side, v, p, i] =
                    json::object(Some(fill), "data", ["T", "s", "S", "v", "p", "i"])?;
                let symbol = json::symbol(s, "s")?;
                let side = json::side(side, "S")?;
                let price = json::decimal_str(p, "p")?;
                let size = json::decimal_str(v, "v")?;
                let ts_us = json::millis(t, "T")?;
                let trade_id = json::trade_id(i, "i")?;
                if !json::tradable(price, size, "p", "v")? {
                    return Ok(None);
                }
                Ok(Some(Event {
                    kind: EventKind::Trade,
                    side,
                    symbol,
                    price,
                    qty: self.base(symbol.as_str(), size, price)?,
                    ts_us,
                    trade_id: Some(trade_id),
                    fills: 1,
                }))
            },
            emit,
        )?;
        Ok(Frame::Data(n))
    }

    fn liquidations(
        &self,
        data: Option<Val<'_, '_>>,
        emit: &mut dyn FnMut(Event),
    ) -> Result<Frame, DecodeError> {
        let n = json::emit_batch(
            json::array(data, "data")?,
            |item| {
                let [t, s, side, v, p] =
                    json::object(Some(item), "data", ["T", "s", "S", "v", "p"])?;
                let symbol = json::symbol(s, "s")?;
                // Position side → order side: a long (Buy) is closed by a forced sell.
                let side = match json::side(side, "S")? {
                    Side::Buy => Side::Sell,
                    Side::Sell => Side::Buy,
                };
                let price = json::decimal_str(p, "p")?;
                let size = json::decimal_str(v, "v")?;
                let ts_us = json::millis(t, "T")?;
                if !json::tradable(price, size, "p", "v")? {
                    return Ok(None);
                }
                Ok(Some(Event {
                    kind: EventKind::Liquidation,
                    side,
                    symbol,
                    price,
                    qty: self.base(symbol.as_str(), size, price)?,
                    ts_us,
                    trade_id: None,
                    fills: 1,
                }))
            },
            emit,
        )?;
        Ok(Frame::Data(n))
    }

    fn tickers(
        &self,
        data: Option<Val<'_, '_>>,
        ts: Option<Val<'_, '_>>,
        emit: &mut dyn FnMut(Event),
    ) -> Result<Frame, DecodeError> {
        let [symbol, oi, mark] =
            json::object(data, "data", ["symbol", "openInterest", "markPrice"])?;
        let Some(oi) = oi else {
            return Ok(Frame::Other);
        };
        let symbol = json::symbol(symbol, "symbol")?;
        let oi = json::decimal_str(Some(oi), "openInterest")?;
        let price = match mark {
            Some(m) => json::decimal_str(Some(m), "markPrice")?,
            None => Decimal::ZERO,
        };
        if oi.mantissa < 0 {
            return Err(DecodeError::Number("openInterest"));
        }
        let qty = if self.venue == Venue::BybitInverse {
            if price.mantissa <= 0 {
                return Ok(Frame::Other);
            }
            self.base(symbol.as_str(), oi, price)?
        } else {
            oi
        };
        let ts_us = json::millis(ts, "ts")?;
        emit(Event {
            kind: EventKind::OpenInterest,
            side: Side::Buy,
            symbol,
            price,
            qty,
            ts_us,
            trade_id: None,
            fills: 1,
        });
        Ok(Frame::Data(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(venue: Venue, text: &str) -> (Result<Frame, DecodeError>, Vec<Event>) {
        let mut d = Decoder::new(venue, Instruments::bundled());
        let mut bytes = text.as_bytes().to_vec();
        let mut out = Vec::new();
        let r = d.decode(&mut bytes, &mut |e| out.push(e));
        (r, out)
    }

    #[test]
    fn inverse_trades_convert_usd_contracts() {
        let (r, ev) = decode(
            Venue::BybitInverse,
            r#"{"topic":"publicTrade.BTCUSD","type":"snapshot","ts":1,"data":[{"T":1700000000000,"s":"BTCUSD","S":"Buy","v":"5000","p":"50000.00","i":"4b0832c3-70e8-5f68-a914-c53f304f507c","BT":false}]}"#,
        );
        assert_eq!(r, Ok(Frame::Data(1)));
        assert_eq!(ev[0].qty, Decimal::new(1, 1), "5000 USD at 50000 = 0.1 BTC");
        assert_eq!(ev[0].side, Side::Buy);
        let (r, ev) = decode(
            Venue::BybitInverse,
            r#"{"topic":"publicTrade.DOGEUSD","ts":1,"data":[{"T":1,"s":"DOGEUSD","S":"Buy","v":"5","p":"0.1","i":"1"}]}"#,
        );
        assert_eq!(r, Err(DecodeError::Instrument));
        assert!(ev.is_empty());
    }

    #[test]
    fn a_bad_fill_refuses_the_whole_batch() {
        let (r, ev) = decode(
            Venue::BybitLinear,
            r#"{"topic":"publicTrade.BTCUSDT","ts":1,"data":[{"T":1,"s":"BTCUSDT","S":"Buy","v":"1","p":"2","i":"7"},{"T":1,"s":"BTCUSDT","S":"Hold","v":"1","p":"2","i":"8"}]}"#,
        );
        assert_eq!(r, Err(DecodeError::Field("S")));
        assert!(ev.is_empty());
    }

    #[test]
    fn open_interest_from_tickers() {
        let (r, ev) = decode(
            Venue::BybitLinear,
            r#"{"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","markPrice":"65117.43","openInterest":"59875.123"},"cs":1,"ts":1786310818183}"#,
        );
        assert_eq!(r, Ok(Frame::Data(1)));
        assert_eq!(ev[0].kind, EventKind::OpenInterest);
        assert_eq!(ev[0].qty, Decimal::new(59875123, 3));
        assert_eq!(ev[0].price, Decimal::new(6511743, 2));
        assert_eq!(ev[0].ts_us, 1_786_310_818_183_000);
        let (r, ev) = decode(
            Venue::BybitInverse,
            r#"{"topic":"tickers.BTCUSD","type":"delta","data":{"symbol":"BTCUSD","openInterest":"500000000"},"ts":1}"#,
        );
        assert_eq!(r, Ok(Frame::Other), "inverse OI needs a price in the frame");
        assert!(ev.is_empty());
    }

    #[test]
    fn control_frames() {
        let cases = [
            (
                r#"{"success":false,"ret_msg":"Invalid topic: invalid.topic.BTCUSDT","conn_id":"x","op":"subscribe"}"#,
                Ok(Frame::VenueError { code: 0 }),
            ),
            (r#"{"op":"pong","args":["1"]}"#, Ok(Frame::Other)),
            (r#"{"hello":1}"#, Err(DecodeError::Unknown)),
            (r#"[1]"#, Err(DecodeError::Unknown)),
            (
                r#"{"topic":"orderbook.50.BTCUSDT","data":{}}"#,
                Ok(Frame::Other),
            ),
            (r#"{"topic":7}"#, Err(DecodeError::Field("topic"))),
        ];
        for (text, want) in cases {
            assert_eq!(decode(Venue::BybitLinear, text).0, want, "{text}");
        }
    }
}
