//! Bitget v2 frames → events.
//!
//! - `trade`: the symbol is only in `arg.instId`; entries carry `ts` (ms string), `price`,
//!   `size` (base units on spot and USDT/USDC futures), `side` (**taker**), `tradeId`.
//!   `action:"snapshot"` (recent history sent after subscribing) → `Frame::Snapshot(n)`,
//!   `action:"update"` → `Frame::Data(n)`.
//! - futures `ticker`: `holdingAmount` (open interest, base units) → [`EventKind::OpenInterest`]
//!   with `markPrice` and the entry's `ts`; spot tickers → `Frame::Other`.
//! - `event`: `subscribe`/`unsubscribe` → `SubscribeAck`, `error` → `VenueError`; the text
//!   `pong` → `Frame::Other`.
//! - Frames of the other family (SPOT on a futures decoder and vice versa, COIN-FUTURES
//!   anywhere: its sizes are not base units) → [`DecodeError::OtherMarket`].

use crate::event::{Event, EventKind, Side};
use crate::json::{self, Parser, Val};
use crate::venue::{Decode, DecodeError, Frame, Venue};
use std::fmt;

/// Decoder for one Bitget family (futures or spot).
pub struct Decoder {
    venue: Venue,
    parser: Parser,
}

impl Decoder {
    pub fn new(venue: Venue) -> Decoder {
        Decoder {
            venue,
            parser: Parser::without_literals(),
        }
    }
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("bitget::Decoder")
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
        let spot = self.venue == Venue::BitgetSpot;
        self.parser.parse(frame, |root| classify(spot, root, emit))
    }
}

fn classify(
    spot: bool,
    root: Val<'_, '_>,
    emit: &mut dyn FnMut(Event),
) -> Result<Frame, DecodeError> {
    let [event, action, arg, data, code] =
        json::pick(root, ["event", "action", "arg", "data", "code"]).ok_or(DecodeError::Unknown)?;
    if let Some(event) = event {
        return match json::string(Some(event), "event")? {
            "subscribe" | "unsubscribe" => Ok(Frame::SubscribeAck),
            "error" => Ok(Frame::VenueError {
                code: json::signed(code, "code")?,
            }),
            _ => Ok(Frame::Other),
        };
    }
    let (Some(action), Some(arg)) = (action, arg) else {
        return Err(DecodeError::Unknown);
    };
    let snapshot = match json::string(Some(action), "action")? {
        "snapshot" => true,
        "update" => false,
        _ => return Err(DecodeError::Field("action")),
    };
    let [inst_type, channel, inst_id] =
        json::object(Some(arg), "arg", ["instType", "channel", "instId"])?;
    let ours = match json::string(inst_type, "instType")? {
        "SPOT" => spot,
        "USDT-FUTURES" | "USDC-FUTURES" => !spot,
        _ => false,
    };
    let channel = json::string(channel, "channel")?;
    if !ours {
        // Market data of another family would be attributed to the wrong market id.
        return if channel == "trade" || channel == "ticker" {
            Err(DecodeError::OtherMarket)
        } else {
            Ok(Frame::Other)
        };
    }
    let n = match channel {
        "trade" => trades(inst_id, data, emit)?,
        "ticker" if !spot => open_interest(data, emit)?,
        _ => return Ok(Frame::Other),
    };
    Ok(if snapshot {
        Frame::Snapshot(n)
    } else {
        Frame::Data(n)
    })
}

fn trades(
    inst_id: Option<Val<'_, '_>>,
    data: Option<Val<'_, '_>>,
    emit: &mut dyn FnMut(Event),
) -> Result<u32, DecodeError> {
    let symbol = json::symbol(inst_id, "instId")?;
    json::emit_batch(
        json::array(data, "data")?,
        |item| {
            let [ts, price, size, side, trade_id] = json::object(
                Some(item),
                "data",
                ["ts", "price", "size", "side", "tradeId"],
            )?;
            let price = json::decimal_str(price, "price")?;
            let qty = json::decimal_str(size, "size")?;
            let side = json::side(side, "side")?;
            let ts_us = json::millis(ts, "ts")?;
            let trade_id = json::unsigned(trade_id, "tradeId")?;
            if !json::tradable(price, qty, "price", "size")? {
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
                fills: 1,
            }))
        },
        emit,
    )
}

fn open_interest(
    data: Option<Val<'_, '_>>,
    emit: &mut dyn FnMut(Event),
) -> Result<u32, DecodeError> {
    json::emit_batch(
        json::array(data, "data")?,
        |item| {
            let [inst_id, holding, mark, ts] = json::object(
                Some(item),
                "data",
                ["instId", "holdingAmount", "markPrice", "ts"],
            )?;
            let qty = json::decimal_str(holding, "holdingAmount")?;
            if qty.mantissa < 0 {
                return Err(DecodeError::Number("holdingAmount"));
            }
            Ok(Some(Event {
                kind: EventKind::OpenInterest,
                side: Side::Buy,
                symbol: json::symbol(inst_id, "instId")?,
                price: json::decimal_str(mark, "markPrice")?,
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

    fn decode(venue: Venue, text: &str) -> (Result<Frame, DecodeError>, Vec<Event>) {
        let mut d = Decoder::new(venue);
        let mut bytes = text.as_bytes().to_vec();
        let mut out = Vec::new();
        let r = d.decode(&mut bytes, &mut |e| out.push(e));
        (r, out)
    }

    const SPOT_TRADE: &str = r#"{"action":"update","arg":{"instType":"SPOT","channel":"trade","instId":"BTCUSDT"},"data":[{"ts":"1788335044055","price":"77600.75","size":"0.001352","side":"buy","tradeId":"1478949856623706112"}],"ts":1788335044056}"#;

    #[test]
    fn families_do_not_mix() {
        assert_eq!(decode(Venue::BitgetSpot, SPOT_TRADE).0, Ok(Frame::Data(1)));
        assert_eq!(
            decode(Venue::Bitget, SPOT_TRADE),
            (Err(DecodeError::OtherMarket), vec![])
        );
        let coin = SPOT_TRADE.replace("\"SPOT\"", "\"COIN-FUTURES\"");
        assert_eq!(
            decode(Venue::Bitget, &coin).0,
            Err(DecodeError::OtherMarket)
        );
    }

    #[test]
    fn futures_ticker_gives_open_interest() {
        let (r, ev) = decode(
            Venue::Bitget,
            r#"{"action":"snapshot","arg":{"instType":"USDT-FUTURES","channel":"ticker","instId":"BTCUSDT"},"data":[{"instId":"BTCUSDT","lastPr":"83692.3","markPrice":"83692.3","holdingAmount":"31911.3455999999605","ts":"1790358794983"}],"ts":1790358794987}"#,
        );
        assert_eq!(r, Ok(Frame::Snapshot(1)));
        assert_eq!(ev[0].kind, EventKind::OpenInterest);
        assert_eq!(ev[0].qty.to_string(), "31911.3455999999605");
        assert_eq!(ev[0].ts_us, 1_790_358_794_983_000);
    }

    #[test]
    fn control_frames() {
        let cases = [
            ("pong", Ok(Frame::Other)),
            (
                r#"{"event":"error","arg":{"instType":"SPOT","channel":"candle1h","instId":"BTCUSDT"},"code":30016,"msg":"Param error","op":"subscribe"}"#,
                Ok(Frame::VenueError { code: 30016 }),
            ),
            (r#"{"event":"subscribe","arg":{}}"#, Ok(Frame::SubscribeAck)),
            (
                r#"{"action":"update","arg":{"instType":"SPOT","channel":"books5","instId":"BTCUSDT"},"data":[]}"#,
                Ok(Frame::Other),
            ),
            (
                r#"{"action":"replace","arg":{"instType":"SPOT","channel":"trade","instId":"BTCUSDT"},"data":[]}"#,
                Err(DecodeError::Field("action")),
            ),
            (r#"{"op":"x"}"#, Err(DecodeError::Unknown)),
        ];
        for (text, want) in cases {
            assert_eq!(decode(Venue::BitgetSpot, text).0, want, "{text}");
        }
    }
}
