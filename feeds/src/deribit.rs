//! Deribit adapter (`www.deribit.com/ws/api/v2`, JSON-RPC 2.0): `trades.{instrument}.100ms`.
//!
//! - `direction` is the taker side. `price` and `amount` are JSON numbers (read from their
//!   literals). `timestamp` is ms.
//! - **Amount → base**: for perpetuals and futures on a bare currency (`BTC-PERPETUAL`,
//!   `ETH-27DEC26`: inverse) `amount` is USD, so base = amount / price, rounded to
//!   [`INVERSE_SIG_DIGITS`](crate::INVERSE_SIG_DIGITS) significant digits. For linear
//!   instruments (`BTC_USDC-PERPETUAL`: an `_` in the currency part) and options
//!   (`BTC-27DEC26-60000-C`) it is already base units. Any other name shape is
//!   [`DecodeError::Instrument`]. No contract size is needed.
//! - **Liquidations**: a trade with a `liquidation` field ("M" maker, "T" taker, "MT" both
//!   liquidated) is a liquidation event only (reference/seed-compat.md: liquidation prints
//!   are not trades). Its side is the side of the liquidated party's order: `direction` for
//!   "T" and "MT" (the taker's forced order), the opposite for "M".
//! - `trade_id` is a decimal string (`"433949015"`); ETH-family ids carry a currency prefix
//!   (`"ETH-162145843"`), which is dropped.
//! - **Heartbeats**: after `public/set_heartbeat` the server sends
//!   `{"method":"heartbeat","params":{"type":"test_request"}}` and closes the socket about
//!   10 s later unless it receives `public/test`: such frames decode to
//!   [`Frame::Reply`] carrying [`TEST_REPLY`], which the feed must send back. Plain
//!   `heartbeat` notices are `Other`.
//! - Replies with `result` (subscribe, set_heartbeat, test) are `SubscribeAck`; `error`
//!   replies are `VenueError` with Deribit's code; other channels are `Other`.

use crate::event::{Decimal, Event, EventKind, Side, Symbol};
use crate::json::{self, Parser, Val};
use crate::venue::Keepalive;
use crate::venue::{Decode, DecodeError, Frame, Venue};
use std::fmt;

/// Deribit production host.
pub const URL: &str = "wss://www.deribit.com/ws/api/v2";

/// Server heartbeat interval we ask for (`public/set_heartbeat`, minimum 10 s).
pub const HEARTBEAT_SECS: u32 = 30;

/// Deribit drives the keepalive: after `set_heartbeat` the server sends `test_request`s,
/// which must be answered ([`TEST_REPLY`]); the client sends no ping of its own.
pub const KEEPALIVE: Keepalive = Keepalive::SERVER_PINGS;

/// The answer to a `test_request` heartbeat.
pub const TEST_REPLY: &str = r#"{"jsonrpc":"2.0","id":9001,"method":"public/test","params":{}}"#;

/// Channels per `public/subscribe` call (docs suggest at most 500).
pub const MAX_CHANNELS_PER_CALL: usize = 500;

/// The requests that start a connection for `instruments`: enable heartbeats, then subscribe
/// to each instrument's `trades.…​.100ms` channel (`raw` needs authentication), at most
/// [`MAX_CHANNELS_PER_CALL`] per call. Request ids count up from `first_id`.
pub fn subscribe_messages(first_id: u64, instruments: &[&str]) -> Vec<String> {
    let mut out = vec![format!(
        r#"{{"jsonrpc":"2.0","id":{first_id},"method":"public/set_heartbeat","params":{{"interval":{HEARTBEAT_SECS}}}}}"#
    )];
    for (i, chunk) in instruments.chunks(MAX_CHANNELS_PER_CALL).enumerate() {
        let channels: Vec<String> = chunk.iter().map(|s| format!("trades.{s}.100ms")).collect();
        let refs: Vec<&str> = channels.iter().map(String::as_str).collect();
        out.push(format!(
            r#"{{"jsonrpc":"2.0","id":{},"method":"public/subscribe","params":{{"channels":{}}}}}"#,
            first_id + 1 + i as u64,
            json::string_array(&refs)
        ));
    }
    out
}

/// Decoder for Deribit frames.
pub struct Decoder {
    parser: Parser,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder {
            parser: Parser::new(),
        }
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("deribit::Decoder").finish_non_exhaustive()
    }
}

impl Decode for Decoder {
    fn venue(&self) -> Venue {
        Venue::Deribit
    }

    fn decode(
        &mut self,
        frame: &mut [u8],
        emit: &mut dyn FnMut(Event),
    ) -> Result<Frame, DecodeError> {
        self.parser.parse(frame, |root| classify(root, emit))
    }
}

fn classify(root: Val<'_, '_>, emit: &mut dyn FnMut(Event)) -> Result<Frame, DecodeError> {
    let fields = root.entries().ok_or(DecodeError::Unknown)?;
    let (mut method, mut params, mut result, mut error) = (None, None, None, None);
    for (key, value) in fields {
        let slot = match key {
            "method" => &mut method,
            "params" => &mut params,
            "result" => &mut result,
            "error" => &mut error,
            _ => continue,
        };
        *slot = Some(value);
    }
    if let Some(error) = error {
        return Ok(Frame::VenueError {
            code: json::signed_int(error.get("code"), "code")?,
        });
    }
    if result.is_some() {
        return Ok(Frame::SubscribeAck);
    }
    let params = params.ok_or(DecodeError::Unknown)?;
    match json::string(method, "method")? {
        "subscription" => {
            let channel = json::string(params.get("channel"), "channel")?;
            if !channel.starts_with("trades.") {
                return Ok(Frame::Other);
            }
            let trades = params
                .get("data")
                .and_then(Val::elements)
                .ok_or(DecodeError::Field("data"))?;
            let mut n = 0;
            for t in trades {
                emit(trade(t)?);
                n += 1;
            }
            Ok(Frame::Data(n))
        }
        "heartbeat" => match json::string(params.get("type"), "type")? {
            "test_request" => Ok(Frame::Reply(TEST_REPLY)),
            _ => Ok(Frame::Other),
        },
        _ => Ok(Frame::Other),
    }
}

pub(crate) fn trade(t: Val<'_, '_>) -> Result<Event, DecodeError> {
    let (mut ts, mut price, mut amount, mut direction, mut name, mut id, mut liq) =
        (None, None, None, None, None, None, None);
    for (key, value) in t.entries().ok_or(DecodeError::Field("data"))? {
        let slot = match key {
            "timestamp" => &mut ts,
            "price" => &mut price,
            "amount" => &mut amount,
            "direction" => &mut direction,
            "instrument_name" => &mut name,
            "trade_id" => &mut id,
            "liquidation" => &mut liq,
            _ => continue,
        };
        *slot = Some(value);
    }
    let taker = match json::string(direction, "direction")? {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        _ => return Err(DecodeError::Field("direction")),
    };
    let (kind, side) = match liq {
        None => (EventKind::Trade, taker),
        Some(l) => match json::string(Some(l), "liquidation")? {
            "T" | "MT" => (EventKind::Liquidation, taker),
            "M" => (EventKind::Liquidation, opposite(taker)),
            _ => return Err(DecodeError::Field("liquidation")),
        },
    };
    let symbol = json::symbol(name, "instrument_name")?;
    let price = json::decimal_num(price, "price")?;
    let amount = json::decimal_num(amount, "amount")?;
    if !json::tradable(price, amount, "price", "amount")? {
        return Err(DecodeError::Number("amount"));
    }
    Ok(Event {
        kind,
        side,
        symbol,
        price,
        qty: base_qty(&symbol, amount, price)?,
        ts_us: json::millis_int(ts, "timestamp")?,
        trade_id: Some(trade_id(json::string(id, "trade_id")?)?),
        fills: 1,
    })
}

fn opposite(side: Side) -> Side {
    match side {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    }
}

/// `"433949015"` or `"ETH-162145843"` → the number.
fn trade_id(text: &str) -> Result<u64, DecodeError> {
    let digits = text.rsplit_once('-').map_or(text, |(_, n)| n);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(DecodeError::Number("trade_id"));
    }
    digits.parse().map_err(|_| DecodeError::Number("trade_id"))
}

/// Whether `amount` of `instrument` is USD (inverse) rather than base units.
fn is_inverse(instrument: &str) -> Option<bool> {
    let mut parts = instrument.split('-');
    let currency = parts.next()?;
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        // PERPETUAL or a dated future.
        (Some(_), None, None, None) => Some(!currency.contains('_')),
        // Options: strike and C/P.
        (Some(_), Some(_), Some("C" | "P"), None) => Some(false),
        _ => None,
    }
}

fn base_qty(symbol: &Symbol, amount: Decimal, price: Decimal) -> Result<Decimal, DecodeError> {
    match is_inverse(symbol.as_str()) {
        Some(false) => Ok(amount),
        Some(true) => crate::instruments::decimal_from_f64(amount.to_f64() / price.to_f64())
            .ok_or(DecodeError::Number("amount")),
        None => Err(DecodeError::Instrument),
    }
}

/// Deribit's entry in the venue registry ([`crate::registry`]).
pub const SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    perp: true,
    url: URL,
    keepalive: KEEPALIVE,
    trade_ids: crate::venue::TradeIds::Monotonic,
    rest_pace: crate::venue::RestPace {
        per_sec: 10.0,
        burst: 10.0,
    },
    rest_host: Some("https://www.deribit.com"),
    subscribe: plan_subscribe,
    ..crate::venue::VenueSpec::new(crate::venue::Venue::Deribit, "deribit", "DERIBIT")
};

/// [`crate::venue::VenueSpec::subscribe`] of this module's venues.
fn plan_subscribe(
    _venue: crate::venue::Venue,
    symbols: &[&str],
    _first: bool,
    _now_s: u64,
) -> Vec<String> {
    subscribe_messages(1, symbols)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> (Result<Frame, DecodeError>, Vec<Event>) {
        let mut decoder = Decoder::new();
        let mut bytes = text.as_bytes().to_vec();
        let mut events = Vec::new();
        let frame = decoder.decode(&mut bytes, &mut |e| events.push(e));
        (frame, events)
    }

    fn trade_frame(fields: &str) -> String {
        format!(
            r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"trades.X.100ms","data":[{{"timestamp":1590484512188,"price":8950.0,"amount":10.0,"direction":"sell","trade_seq":1,{fields}}}]}}}}"#
        )
    }

    #[test]
    fn liquidation_flag_makes_a_liquidation() {
        let t = trade_frame(
            r#""instrument_name":"BTC-PERPETUAL","trade_id":"48079254","liquidation":"M""#,
        );
        let (frame, events) = decode(&t);
        assert_eq!(frame, Ok(Frame::Data(1)));
        assert_eq!(
            (events[0].kind, events[0].side),
            (EventKind::Liquidation, Side::Buy)
        );
        let t = trade_frame(
            r#""instrument_name":"BTC-PERPETUAL","trade_id":"48079254","liquidation":"T""#,
        );
        assert_eq!(decode(&t).1[0].side, Side::Sell);
        let t = trade_frame(
            r#""instrument_name":"BTC-PERPETUAL","trade_id":"48079254","liquidation":"X""#,
        );
        assert_eq!(decode(&t).0, Err(DecodeError::Field("liquidation")));
    }

    #[test]
    fn amounts_by_instrument_kind() {
        let t = trade_frame(r#""instrument_name":"BTC_USDC-PERPETUAL","trade_id":"ETH-5""#);
        let e = decode(&t).1[0];
        assert_eq!((e.qty, e.trade_id), (Decimal::new(10, 0), Some(5)));
        let t = trade_frame(r#""instrument_name":"BTC-27DEC26","trade_id":"1""#);
        assert!((decode(&t).1[0].qty.to_f64() - 10.0 / 8950.0).abs() < 1e-15);
        let t = trade_frame(r#""instrument_name":"BTC-27DEC26-60000-C","trade_id":"1""#);
        assert_eq!(decode(&t).1[0].qty, Decimal::new(10, 0));
        let t = trade_frame(r#""instrument_name":"BTC-A-B","trade_id":"1""#);
        assert_eq!(decode(&t).0, Err(DecodeError::Instrument));
        let t = trade_frame(r#""instrument_name":"BTC-PERPETUAL","trade_id":"x""#);
        assert_eq!(decode(&t).0, Err(DecodeError::Number("trade_id")));
    }

    #[test]
    fn control_frames() {
        for (text, want) in [
            (
                r#"{"params":{"type":"test_request"},"method":"heartbeat","jsonrpc":"2.0"}"#,
                Ok(Frame::Reply(TEST_REPLY)),
            ),
            (
                r#"{"params":{"type":"heartbeat"},"method":"heartbeat","jsonrpc":"2.0"}"#,
                Ok(Frame::Other),
            ),
            (
                r#"{"jsonrpc":"2.0","id":5,"result":"ok"}"#,
                Ok(Frame::SubscribeAck),
            ),
            (
                r#"{"jsonrpc":"2.0","id":5,"error":{"code":13778,"message":"x"}}"#,
                Ok(Frame::VenueError { code: 13778 }),
            ),
            (
                r#"{"jsonrpc":"2.0","error":{"message":"x"}}"#,
                Err(DecodeError::Field("code")),
            ),
            (r#"{"jsonrpc":"2.0"}"#, Err(DecodeError::Unknown)),
        ] {
            assert_eq!(decode(text).0, want, "{text}");
        }
    }

    #[test]
    fn subscribe_requests() {
        let msgs = subscribe_messages(1, &["BTC-PERPETUAL", "ETH-PERPETUAL"]);
        assert_eq!(
            msgs,
            [
                r#"{"jsonrpc":"2.0","id":1,"method":"public/set_heartbeat","params":{"interval":30}}"#,
                r#"{"jsonrpc":"2.0","id":2,"method":"public/subscribe","params":{"channels":["trades.BTC-PERPETUAL.100ms","trades.ETH-PERPETUAL.100ms"]}}"#
            ]
        );
        let many: Vec<String> = (0..501).map(|i| format!("X{i}-PERPETUAL")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(subscribe_messages(1, &refs).len(), 3);
    }
}
