//! The Binance frame decoder: one text frame → what kind of frame it was, plus the trades
//! and liquidations in it.
//!
//! Frames are parsed in place by the crate's JSON reader (`crate::json`, over simd-json),
//! whose buffers live in the [`Decoder`] and are reused, so once they have grown to the
//! largest frame seen, decoding allocates nothing. Binance sends every decimal as a string,
//! so the parser keeps no number literals.
//!
//! Shapes handled (spot and USDⓈ-M share them):
//! - raw events `{"e":"trade",…}` and combined-stream wrappers `{"stream":…,"data":{…}}`;
//! - `{"result":…,"id":…}` replies to our requests, `{"error":{"code":…,"msg":…},"id":…}`
//!   rejections (also the bare `{"code":…,"msg":…}` the docs show);
//! - `serverShutdown` notices; every other event type (`markPriceUpdate`, `kline`, …) and
//!   the array payloads of `!…@arr` ticker streams are `Frame::Other`.

use super::wire::{RawForceOrder, RawTrade, TradeKind};
use crate::event::Event;
use crate::instruments::{Instruments, Specs};
use crate::json::{self, Parser, Val};
use crate::venue::{Decode, DecodeError, Frame, Venue};
use std::fmt;
use std::sync::Arc;

/// Decoder for Binance spot, USDⓈ-M and COIN-M futures frames. The venues share one wire
/// format; COIN-M quantities are converted from contracts to base units.
pub struct Decoder {
    venue: Venue,
    parser: Parser,
    /// COIN-M contract sizes (`None` on spot and USDⓈ-M, whose quantities are base units).
    coinm: Option<Specs>,
}

impl Decoder {
    /// A decoder for `venue`; COIN-M uses the bundled instrument snapshot.
    pub fn new(venue: Venue) -> Decoder {
        let instruments = if venue == Venue::BinanceCoinm {
            Instruments::bundled()
        } else {
            Arc::default()
        };
        Decoder::with_instruments(venue, &instruments)
    }

    /// A decoder for `venue` taking COIN-M contract sizes from `instruments`. A COIN-M
    /// symbol without a spec is [`DecodeError::Instrument`].
    pub fn with_instruments(venue: Venue, instruments: &Arc<Instruments>) -> Decoder {
        Decoder {
            venue,
            parser: Parser::without_literals(),
            coinm: (venue == Venue::BinanceCoinm).then(|| Specs::of(venue, instruments)),
        }
    }
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
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
        let coinm = &self.coinm;
        self.parser.parse(frame, |root| match coinm {
            None => classify(root, emit),
            Some(specs) => {
                // COIN-M: every event's contracts become base units before it is emitted;
                // an event that cannot be converted fails the frame.
                let mut failed = None;
                let mut convert = |mut event: Event| match specs.base_qty(
                    &event.symbol,
                    event.qty,
                    event.price,
                    "q",
                ) {
                    Ok(qty) => {
                        event.qty = qty;
                        emit(event);
                    }
                    Err(e) => failed = Some(e),
                };
                let frame = classify(root, &mut convert);
                match failed {
                    Some(e) => Err(e),
                    None => frame,
                }
            }
        })
    }
}

/// Dispatch on the top-level shape of a parsed frame.
fn classify(root: Val<'_, '_>, emit: &mut dyn FnMut(Event)) -> Result<Frame, DecodeError> {
    let Some(fields) = root.entries() else {
        return array_of_events(root);
    };
    let mut stream = None;
    let mut data = None;
    let mut event_type = None;
    let mut result = None;
    let mut id = None;
    let mut error = None;
    let mut code = None;
    let mut msg = None;
    for (key, value) in fields {
        let slot = match key.as_bytes() {
            b"stream" => &mut stream,
            b"data" => &mut data,
            b"e" => &mut event_type,
            b"result" => &mut result,
            b"id" => &mut id,
            b"error" => &mut error,
            b"code" => &mut code,
            b"msg" => &mut msg,
            _ => continue,
        };
        *slot = Some(value);
    }

    if let (Some(_), Some(data)) = (stream, data) {
        if data.is_object() {
            return event(data, emit);
        }
        return array_of_events(data).map_err(|_| DecodeError::Field("data"));
    }
    if event_type.is_some() {
        return event(root, emit);
    }
    if let Some(error) = error {
        let inner = error.entries().ok_or(DecodeError::Field("error"))?;
        let code = inner
            .filter(|(key, _)| *key == "code")
            .last()
            .map(|(_, v)| v);
        return Ok(Frame::VenueError {
            code: json::signed_int(code, "code")?,
        });
    }
    if result.is_some() && id.is_some() {
        return Ok(Frame::SubscribeAck);
    }
    if code.is_some() && msg.is_some() {
        return Ok(Frame::VenueError {
            code: json::signed_int(code, "code")?,
        });
    }
    Err(DecodeError::Unknown)
}

/// A JSON array is what the `!ticker@arr` family of streams sends (a batch of ticker
/// events): valid data we do not turn into events. Any other non-object is a shape we do
/// not know.
fn array_of_events(value: Val<'_, '_>) -> Result<Frame, DecodeError> {
    if !value.is_array() {
        return Err(DecodeError::Unknown);
    }
    Ok(Frame::Other)
}

/// One event payload (`{"e":…,…}`), raw or unwrapped from a combined-stream frame.
fn event(payload: Val<'_, '_>, emit: &mut dyn FnMut(Event)) -> Result<Frame, DecodeError> {
    let mut event_type = None;
    let mut trade = RawTrade::default();
    let mut order = None;
    for (key, value) in payload.entries().into_iter().flatten() {
        match key.as_bytes() {
            b"e" => event_type = Some(value),
            b"o" => order = Some(value),
            _ => trade.take(key, value),
        }
    }
    // Combined streams without an event type exist (spot partial depth `@depth<N>`): valid
    // data on a channel we do not decode.
    let Some(event_type) = event_type else {
        return Ok(Frame::Other);
    };
    let produced = match json::string(Some(event_type), "e")? {
        "trade" => trade.to_event(TradeKind::Trade)?,
        "aggTrade" => trade.to_event(TradeKind::AggTrade)?,
        "forceOrder" => RawForceOrder::read(order)?.to_event()?,
        "serverShutdown" => return Ok(Frame::ServerShutdown),
        _ => return Ok(Frame::Other),
    };
    Ok(Frame::Data(match produced {
        Some(event) => {
            emit(event);
            1
        }
        None => 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventKind, Side};

    fn decode(text: &str) -> (Result<Frame, DecodeError>, Vec<Event>) {
        let mut decoder = Decoder::new(Venue::BinanceUsdm);
        let mut bytes = text.as_bytes().to_vec();
        let mut events = Vec::new();
        let frame = decoder.decode(&mut bytes, &mut |e| events.push(e));
        (frame, events)
    }

    #[test]
    fn field_errors_name_the_field() {
        let cases = [
            (
                r#"{"e":"trade","s":"BTCUSDT","p":"1","q":"1","T":1,"m":"yes","t":1}"#,
                DecodeError::Field("m"),
            ),
            (
                r#"{"e":"trade","s":"BTCUSDT","p":"1","q":"1","T":1,"m":true}"#,
                DecodeError::Field("t"),
            ),
            (
                r#"{"e":"trade","s":"BTCUSDT","p":1.5,"q":"1","T":1,"m":true,"t":1}"#,
                DecodeError::Field("p"),
            ),
            (
                r#"{"e":"trade","s":"BTCUSDT","p":"1x","q":"1","T":1,"m":true,"t":1}"#,
                DecodeError::Number("p"),
            ),
            (
                r#"{"e":"trade","s":"BTCUSDT","p":"1","q":"1","T":-1,"m":true,"t":1}"#,
                DecodeError::Number("T"),
            ),
            (
                r#"{"e":"trade","s":"BTCUSDT","p":"1","q":"-1","T":1,"m":true,"t":1}"#,
                DecodeError::Number("q"),
            ),
            (
                r#"{"e":"trade","s":"BTCUSDT","p":"0","q":"1","T":1,"m":true,"t":1}"#,
                DecodeError::Number("p"),
            ),
            (
                r#"{"e":"aggTrade","s":"BTCUSDT","p":"1","q":"1","T":1,"m":true,"a":1,"f":5,"l":4}"#,
                DecodeError::Number("l"),
            ),
            (
                r#"{"e":"trade","s":"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789","p":"1","q":"1","T":1,"m":true,"t":1}"#,
                DecodeError::Symbol,
            ),
            (
                r#"{"e":"forceOrder","o":{"s":"BTCUSDT","S":"HOLD","ap":"1","z":"1","T":1}}"#,
                DecodeError::Field("S"),
            ),
            (r#"{"e":"forceOrder","o":[]}"#, DecodeError::Field("o")),
            (r#"{"e":7}"#, DecodeError::Field("e")),
            (
                r#"{"error":{"msg":"no code"},"id":1}"#,
                DecodeError::Field("code"),
            ),
            (r#"{"hello":"world"}"#, DecodeError::Unknown),
            (r#""just a string""#, DecodeError::Unknown),
            (r#"{"e":"trade""#, DecodeError::Malformed),
            ("", DecodeError::Malformed),
        ];
        for (text, want) in cases {
            let (got, events) = decode(text);
            assert_eq!(got, Err(want), "{text}");
            assert!(events.is_empty(), "{text}");
        }
    }

    #[test]
    fn unfilled_force_order_is_consumed_without_an_event() {
        let (frame, events) =
            decode(r#"{"e":"forceOrder","o":{"s":"BTCUSDT","S":"SELL","ap":"0","z":"0","T":1}}"#);
        assert_eq!(frame, Ok(Frame::Data(0)));
        assert!(events.is_empty());
    }

    #[test]
    fn frames_without_events() {
        let cases = [
            (
                r#"{"stream":"btcusdt@depth5","data":{"lastUpdateId":1,"bids":[],"asks":[]}}"#,
                Frame::Other,
            ),
            (
                r#"{"stream":"!ticker@arr","data":[{"e":"24hrTicker"}]}"#,
                Frame::Other,
            ),
            (r#"[{"e":"24hrMiniTicker"}]"#, Frame::Other),
            (
                r#"{"result":["btcusdt@trade"],"id":3}"#,
                Frame::SubscribeAck,
            ),
            (
                r#"{"code":3,"msg":"Invalid JSON"}"#,
                Frame::VenueError { code: 3 },
            ),
            (
                r#"{"error":{"code":-1121,"msg":"Invalid symbol."},"id":null}"#,
                Frame::VenueError { code: -1121 },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(decode(text).0, Ok(want), "{text}");
        }
    }

    #[test]
    fn escaped_symbol_is_unescaped() {
        let (frame, events) = decode(
            r#"{"e":"trade","s":"BTC\u0055SDT","p":"1.5","q":"2","T":1000,"m":false,"t":9}"#,
        );
        assert_eq!(frame, Ok(Frame::Data(1)));
        assert_eq!(events[0].symbol.as_str(), "BTCUSDT");
        assert_eq!(events[0].kind, EventKind::Trade);
        assert_eq!(events[0].side, Side::Buy);
        assert_eq!(events[0].ts_us, 1_000_000);
    }

    #[test]
    fn coinm_contracts_become_base_units() {
        let mut specs = Instruments::default();
        specs.insert(
            Venue::BinanceCoinm,
            "BTCUSD_PERP",
            crate::ContractSpec {
                size: crate::Decimal::new(100, 0),
                inverse: true,
            },
        );
        let mut decoder = Decoder::with_instruments(Venue::BinanceCoinm, &Arc::new(specs));
        let mut run = |text: &str| {
            let mut bytes = text.as_bytes().to_vec();
            let mut events = Vec::new();
            let frame = decoder.decode(&mut bytes, &mut |e| events.push(e));
            (frame, events)
        };
        let (frame, events) = run(
            r#"{"e":"aggTrade","E":1,"a":5,"s":"BTCUSD_PERP","p":"50000.0","q":"3","f":1,"l":2,"T":1,"m":false}"#,
        );
        assert_eq!(frame, Ok(Frame::Data(1)));
        assert_eq!(
            events[0].qty,
            crate::Decimal::new(6, 3),
            "3 × 100 USD / 50000"
        );
        assert_eq!(events[0].fills, 2);
        let (frame, events) = run(
            r#"{"e":"forceOrder","E":1,"o":{"s":"ETHUSD_PERP","S":"SELL","ap":"2000","z":"1","T":1}}"#,
        );
        assert_eq!(frame, Err(DecodeError::Instrument));
        assert!(events.is_empty());
    }

    #[test]
    fn decoder_is_reusable_after_errors() {
        let mut decoder = Decoder::new(Venue::BinanceSpot);
        let good = r#"{"e":"trade","s":"BTCUSDT","p":"1","q":"1","T":1,"m":true,"t":1}"#;
        for text in ["{", good, "nope", good] {
            let mut bytes = text.as_bytes().to_vec();
            let mut n = 0;
            let frame = decoder.decode(&mut bytes, &mut |_| n += 1);
            assert_eq!(frame.is_ok(), text == good, "{text}");
            assert_eq!(n, usize::from(text == good));
        }
    }
}
