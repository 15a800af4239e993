//! Gate futures frames → events.
//!
//! - `futures.trades` `update`: one trade per `result` entry; `size` contracts (negative =
//!   taker sell) × the contract's `quanto_multiplier` = base units (exact); time
//!   `create_time_ms`; id `id`. A contract without a known multiplier is
//!   [`DecodeError::Instrument`].
//! - `subscribe`/`unsubscribe` replies → `SubscribeAck`, or `VenueError` when `error` is set.
//! - `futures.pong` and other channels → `Frame::Other`.

use crate::event::{Decimal, Event, EventKind, Side};
use crate::instruments::Instruments;
use crate::json::{self, Parser, Val};
use crate::venue::{Decode, DecodeError, Frame, Venue};
use std::fmt;
use std::sync::Arc;

/// Decoder for Gate USDT futures frames.
pub struct Decoder {
    instruments: Arc<Instruments>,
    parser: Parser,
}

impl Decoder {
    /// `instruments` gives each contract's `quanto_multiplier`.
    pub fn new(instruments: Arc<Instruments>) -> Decoder {
        Decoder {
            instruments,
            parser: Parser::new(),
        }
    }
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("gate::Decoder").finish_non_exhaustive()
    }
}

impl Decode for Decoder {
    fn venue(&self) -> Venue {
        Venue::GateFutures
    }

    fn decode(
        &mut self,
        frame: &mut [u8],
        emit: &mut dyn FnMut(Event),
    ) -> Result<Frame, DecodeError> {
        let instruments: &Instruments = &self.instruments;
        self.parser
            .parse(frame, |root| classify(instruments, root, emit))
    }
}

fn is_null(value: Option<Val<'_, '_>>) -> bool {
    value.is_none_or(Val::is_null)
}

fn classify(
    instruments: &Instruments,
    root: Val<'_, '_>,
    emit: &mut dyn FnMut(Event),
) -> Result<Frame, DecodeError> {
    let [channel, event, result, error] =
        json::pick(root, ["channel", "event", "result", "error"]).ok_or(DecodeError::Unknown)?;
    let Some(channel) = channel else {
        return Err(DecodeError::Unknown);
    };
    let channel = json::string(Some(channel), "channel")?;
    if !is_null(error) {
        let [code] = json::object(error, "error", ["code"])?;
        return Ok(Frame::VenueError {
            code: json::signed(code, "code")?,
        });
    }
    let event = match event {
        Some(e) if !is_null(Some(e)) => json::string(Some(e), "event")?,
        _ => "",
    };
    match (channel, event) {
        (_, "subscribe" | "unsubscribe") => Ok(Frame::SubscribeAck),
        ("futures.trades", "update" | "all") => Ok(Frame::Data(trades(instruments, result, emit)?)),
        _ => Ok(Frame::Other),
    }
}

fn trades(
    instruments: &Instruments,
    result: Option<Val<'_, '_>>,
    emit: &mut dyn FnMut(Event),
) -> Result<u32, DecodeError> {
    json::emit_batch(
        json::array(result, "result")?,
        |item| {
            let [size, id, time_ms, price, contract] = json::object(
                Some(item),
                "result",
                ["size", "id", "create_time_ms", "price", "contract"],
            )?;
            let symbol = json::symbol(contract, "contract")?;
            let size = json::decimal(size, "size")?;
            let price = json::decimal(price, "price")?;
            let ts_us = json::millis(time_ms, "create_time_ms")?;
            let trade_id = json::unsigned(id, "id")?;
            // The sign of `size` is the taker side.
            let side = if size.mantissa < 0 {
                Side::Sell
            } else {
                Side::Buy
            };
            let contracts = Decimal::new(
                size.mantissa
                    .checked_abs()
                    .ok_or(DecodeError::Number("size"))?,
                size.scale,
            );
            if !json::tradable(price, contracts, "price", "size")? {
                return Ok(None);
            }
            let spec = instruments
                .get(Venue::GateFutures, symbol.as_str())
                .ok_or(DecodeError::Instrument)?;
            let qty = spec
                .to_base(contracts, price)
                .ok_or(DecodeError::Number("size"))?;
            Ok(Some(Event {
                kind: EventKind::Trade,
                side,
                symbol,
                price,
                qty,
                ts_us,
                trade_id: Some(trade_id),
                fills: 1,
            }))
        },
        emit,
    )
}
