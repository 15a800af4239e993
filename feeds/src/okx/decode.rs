//! OKX v5 frames → events.
//!
//! - `trades` / `trades-all`: `side` is the **taker** side; `sz` is base units for spot and
//!   contracts for swaps/futures (converted with the instrument's `ctVal`); `tradeId` is the
//!   last id of the `count` fills aggregated into the message (`fills = count`).
//! - `liquidation-orders` (by instType): each `data` item holds `details`; `side` is the
//!   **order** side, `bkPx` the price, `sz` contracts (base units for MARGIN).
//! - `open-interest`: [`EventKind::OpenInterest`] with `oiCcy` (base units), price zero.
//! - `event`: `subscribe`/`unsubscribe` → `SubscribeAck`, `error` → `VenueError` (code as
//!   sent, a digit string), `notice` 64008 (service upgrade, reconnect) → `ServerShutdown`,
//!   others → `Frame::Other`; the text `pong` → `Frame::Other`.

use super::inst_kind;
use crate::event::{Decimal, Event, EventKind, Side};
use crate::instruments::Instruments;
use crate::json::{self, Parser, Val};
use crate::venue::{Decode, DecodeError, Frame, Venue};
use std::fmt;
use std::sync::Arc;

/// Decoder for OKX frames of every instrument type.
pub struct Decoder {
    venue: Venue,
    instruments: Arc<Instruments>,
    parser: Parser,
}

impl Decoder {
    /// `instruments` gives the contract sizes of swaps and futures.
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
        f.debug_struct("okx::Decoder")
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
        if frame == b"pong" {
            return Ok(Frame::Other);
        }
        let instruments: &Instruments = &self.instruments;
        self.parser
            .parse(frame, |root| classify(instruments, root, emit))
    }
}

fn classify(
    instruments: &Instruments,
    root: Val<'_, '_>,
    emit: &mut dyn FnMut(Event),
) -> Result<Frame, DecodeError> {
    let [event, arg, data, code] =
        json::pick(root, ["event", "arg", "data", "code"]).ok_or(DecodeError::Unknown)?;
    if let Some(event) = event {
        return match json::string(Some(event), "event")? {
            "subscribe" | "unsubscribe" => Ok(Frame::SubscribeAck),
            "error" => Ok(Frame::VenueError {
                code: json::signed(code, "code")?,
            }),
            "notice" if json::signed(code, "code")? == 64008 => Ok(Frame::ServerShutdown),
            _ => Ok(Frame::Other),
        };
    }
    let Some(arg) = arg else {
        return Err(DecodeError::Unknown);
    };
    let [channel] = json::object(Some(arg), "arg", ["channel"])?;
    let n = match json::string(channel, "channel")? {
        "trades" | "trades-all" => trades(instruments, data, emit)?,
        "liquidation-orders" => liquidations(instruments, data, emit)?,
        "open-interest" => open_interest(data, emit)?,
        _ => return Ok(Frame::Other),
    };
    Ok(Frame::Data(n))
}

/// `sz` of `inst_id` in base units: as is for spot/margin names, `× ctVal` (or inverse) for
/// swaps and futures. Anything else (options) has no known conversion.
pub(crate) fn base(
    instruments: &Instruments,
    inst_id: &str,
    sz: Decimal,
    px: Decimal,
    sz_name: &'static str,
) -> Result<Decimal, DecodeError> {
    match inst_kind(inst_id) {
        Some(Venue::OkxSpot) => Ok(sz),
        Some(kind) => instruments
            .get(kind, inst_id)
            .ok_or(DecodeError::Instrument)?
            .to_base(sz, px)
            .ok_or(DecodeError::Number(sz_name)),
        None => Err(DecodeError::Instrument),
    }
}

fn trades(
    instruments: &Instruments,
    data: Option<Val<'_, '_>>,
    emit: &mut dyn FnMut(Event),
) -> Result<u32, DecodeError> {
    json::emit_batch(
        json::array(data, "data")?,
        |item| {
            let [inst_id, trade_id, px, sz, side, ts, count] = json::object(
                Some(item),
                "data",
                ["instId", "tradeId", "px", "sz", "side", "ts", "count"],
            )?;
            let inst = json::string(inst_id, "instId")?;
            let symbol = json::symbol(inst_id, "instId")?;
            let trade_id = json::unsigned(trade_id, "tradeId")?;
            let price = json::decimal_str(px, "px")?;
            let size = json::decimal_str(sz, "sz")?;
            let side = json::side(side, "side")?;
            let ts_us = json::millis(ts, "ts")?;
            let fills = match count {
                None => 1,
                Some(c) => json::unsigned(Some(c), "count")
                    .ok()
                    .and_then(|c| u32::try_from(c).ok())
                    .filter(|&c| c >= 1)
                    .ok_or(DecodeError::Number("count"))?,
            };
            if !json::tradable(price, size, "px", "sz")? {
                return Ok(None);
            }
            Ok(Some(Event {
                kind: EventKind::Trade,
                side,
                symbol,
                price,
                qty: base(instruments, inst, size, price, "sz")?,
                ts_us,
                trade_id: Some(trade_id),
                fills,
            }))
        },
        emit,
    )
}

/// Each `data` item may hold several `details`; validate everything, then emit.
fn liquidations(
    instruments: &Instruments,
    data: Option<Val<'_, '_>>,
    emit: &mut dyn FnMut(Event),
) -> Result<u32, DecodeError> {
    let items = json::array(data, "data")?;
    let mut n = 0;
    for pass in 0..2 {
        for item in items.clone() {
            let [inst_id, details] = json::object(Some(item), "data", ["instId", "details"])?;
            let inst = json::string(inst_id, "instId")?;
            let symbol = json::symbol(inst_id, "instId")?;
            for detail in json::array(details, "details")? {
                let [px, side, sz, ts] =
                    json::object(Some(detail), "details", ["bkPx", "side", "sz", "ts"])?;
                let price = json::decimal_str(px, "bkPx")?;
                let size = json::decimal_str(sz, "sz")?;
                let side = json::side(side, "side")?;
                let ts_us = json::millis(ts, "ts")?;
                if !json::tradable(price, size, "bkPx", "sz")? {
                    continue;
                }
                let qty = base(instruments, inst, size, price, "sz")?;
                if pass == 1 {
                    emit(Event {
                        kind: EventKind::Liquidation,
                        side,
                        symbol,
                        price,
                        qty,
                        ts_us,
                        trade_id: None,
                        fills: 1,
                    });
                    n += 1;
                }
            }
        }
    }
    Ok(n)
}

fn open_interest(
    data: Option<Val<'_, '_>>,
    emit: &mut dyn FnMut(Event),
) -> Result<u32, DecodeError> {
    json::emit_batch(
        json::array(data, "data")?,
        |item| {
            let [inst_id, oi_ccy, ts] =
                json::object(Some(item), "data", ["instId", "oiCcy", "ts"])?;
            let qty = json::decimal_str(oi_ccy, "oiCcy")?;
            if qty.mantissa < 0 {
                return Err(DecodeError::Number("oiCcy"));
            }
            Ok(Some(Event {
                kind: EventKind::OpenInterest,
                side: Side::Buy,
                symbol: json::symbol(inst_id, "instId")?,
                price: Decimal::ZERO,
                qty,
                ts_us: json::millis(ts, "ts")?,
                trade_id: None,
                fills: 1,
            }))
        },
        emit,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> (Result<Frame, DecodeError>, Vec<Event>) {
        let mut d = Decoder::new(Venue::OkxSwap, Instruments::bundled());
        let mut bytes = text.as_bytes().to_vec();
        let mut out = Vec::new();
        let r = d.decode(&mut bytes, &mut |e| out.push(e));
        (r, out)
    }

    #[test]
    fn open_interest_is_in_base_units() {
        let (r, ev) = decode(
            r#"{"arg":{"channel":"open-interest","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP","instType":"SWAP","oi":"2216113.01","oiCcy":"22161.1301","oiUsd":"1939251795.54","ts":"1743041250440"}]}"#,
        );
        assert_eq!(r, Ok(Frame::Data(1)));
        assert_eq!(ev[0].kind, EventKind::OpenInterest);
        assert_eq!(ev[0].qty, Decimal::new(221611301, 4));
        assert_eq!(ev[0].ts_us, 1_743_041_250_440_000);
    }

    #[test]
    fn unknown_contracts_and_options_are_refused() {
        for inst in ["DOGE-USDT-SWAP", "BTC-USD-261225-50000-C"] {
            let frame = format!(
                r#"{{"arg":{{"channel":"trades","instId":"{inst}"}},"data":[{{"instId":"{inst}","tradeId":"1","px":"1","sz":"1","side":"buy","ts":"1"}}]}}"#
            );
            assert_eq!(decode(&frame), (Err(DecodeError::Instrument), vec![]));
        }
    }

    #[test]
    fn control_frames() {
        let cases = [
            ("pong", Ok(Frame::Other)),
            (
                r#"{"id":"1512","event":"error","code":"60012","msg":"Invalid request","connId":"a4d3ae55"}"#,
                Ok(Frame::VenueError { code: 60012 }),
            ),
            (
                r#"{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade.","connId":"a4d3ae55"}"#,
                Ok(Frame::ServerShutdown),
            ),
            (
                r#"{"event":"channel-conn-count","channel":"trades","connCount":"2","connId":"abcd1234"}"#,
                Ok(Frame::Other),
            ),
            (
                r#"{"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[]}"#,
                Ok(Frame::Other),
            ),
            (
                r#"{"arg":{"channel":"trades"},"data":{}}"#,
                Err(DecodeError::Field("data")),
            ),
            (r#"{"x":1}"#, Err(DecodeError::Unknown)),
            ("ping", Err(DecodeError::Malformed)),
        ];
        for (text, want) in cases {
            assert_eq!(decode(text).0, want, "{text}");
        }
    }
}
