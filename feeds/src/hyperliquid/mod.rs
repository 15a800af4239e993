//! Hyperliquid perpetuals: URL, subscribe requests, limits, keepalive and the [`Decoder`].
//! Protocol facts: reference/exchanges.md §10 (Hyperliquid gitbook).
//!
//! Frames → events:
//! - `trades`: `side` `B` = the buyer aggressed (taker buy), `A` = the seller; `px`/`sz`
//!   strings in base units, `time` ms, `tid` (a 50-bit hash, not sequential) as the id.
//! - `subscriptionResponse` → `SubscribeAck`; `error` → `VenueError { code: 0 }` (errors are
//!   text only); `pong` and every other channel → `Frame::Other`. `activeAssetCtx` carries
//!   open interest but no timestamp, so it yields no event (an event's time must be the
//!   venue's).
//! - No public liquidation feed: liquidation fills are ordinary, unflagged `trades`.

use crate::event::{Event, EventKind, Side};
use crate::json::{self, push_string, Parser, Val};
use crate::venue::{Decode, DecodeError, Frame, Keepalive, Venue};
use std::fmt;
use std::time::Duration;

/// Mainnet WebSocket.
pub const URL: &str = "wss://api.hyperliquid.xyz/ws";

/// Subscriptions per IP (all connections together).
pub const MAX_SUBSCRIPTIONS_PER_IP: usize = 1000;

/// WebSocket connections per IP.
pub const MAX_CONNECTIONS_PER_IP: usize = 10;

/// Messages an IP may send per minute (all connections).
pub const MAX_MSGS_PER_MIN: u32 = 2000;

/// Send `{"method":"ping"}` every 50 s: the server closes connections it has sent nothing to
/// for 60 s. The reply `{"channel":"pong"}` decodes as `Frame::Other`.
pub const KEEPALIVE: Keepalive = Keepalive::text(r#"{"method":"ping"}"#, Duration::from_secs(50));

/// One `trades` subscription per coin: `{"method":"subscribe","subscription":{"type":"trades","coin":"BTC"}}`.
pub fn subscribe_messages(symbols: &[&str]) -> Vec<String> {
    symbols
        .iter()
        .map(|coin| {
            let mut s =
                String::from(r#"{"method":"subscribe","subscription":{"type":"trades","coin":"#);
            push_string(&mut s, coin);
            s.push_str("}}");
            s
        })
        .collect()
}

/// Decoder for Hyperliquid frames.
pub struct Decoder {
    parser: Parser,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder {
            parser: Parser::without_literals(),
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
        f.debug_struct("hyperliquid::Decoder")
            .finish_non_exhaustive()
    }
}

impl Decode for Decoder {
    fn venue(&self) -> Venue {
        Venue::Hyperliquid
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
    let [channel, data] = json::pick(root, ["channel", "data"]).ok_or(DecodeError::Unknown)?;
    let Some(channel) = channel else {
        return Err(DecodeError::Unknown);
    };
    match json::string(Some(channel), "channel")? {
        "trades" => Ok(Frame::Data(trades(data, emit)?)),
        "subscriptionResponse" => Ok(Frame::SubscribeAck),
        "error" => Ok(Frame::VenueError { code: 0 }),
        _ => Ok(Frame::Other),
    }
}

fn trades(data: Option<Val<'_, '_>>, emit: &mut dyn FnMut(Event)) -> Result<u32, DecodeError> {
    json::emit_batch(
        json::array(data, "data")?,
        |item| {
            let [coin, side, px, sz, time, tid] = json::object(
                Some(item),
                "data",
                ["coin", "side", "px", "sz", "time", "tid"],
            )?;
            let side = match json::string(side, "side")? {
                "B" => Side::Buy,
                "A" => Side::Sell,
                _ => return Err(DecodeError::Field("side")),
            };
            let symbol = json::symbol(coin, "coin")?;
            let price = json::decimal_str(px, "px")?;
            let qty = json::decimal_str(sz, "sz")?;
            let ts_us = json::millis(time, "time")?;
            let trade_id = json::unsigned(tid, "tid")?;
            if !json::tradable(price, qty, "px", "sz")? {
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

/// Hyperliquid's entry in the venue registry ([`crate::registry`]).
pub const SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    perp: true,
    url: URL,
    keepalive: KEEPALIVE,
    max_msgs_per_sec: 10,
    subscribe: plan_subscribe,
    ..crate::venue::VenueSpec::new(
        crate::venue::Venue::Hyperliquid,
        "hyperliquid",
        "HYPERLIQUID",
    )
};

/// [`crate::venue::VenueSpec::subscribe`] of this module's venues.
fn plan_subscribe(
    _venue: crate::venue::Venue,
    symbols: &[&str],
    _first: bool,
    _now_s: u64,
) -> Vec<String> {
    subscribe_messages(symbols)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> (Result<Frame, DecodeError>, Vec<Event>) {
        let mut d = Decoder::new();
        let mut bytes = text.as_bytes().to_vec();
        let mut out = Vec::new();
        let r = d.decode(&mut bytes, &mut |e| out.push(e));
        (r, out)
    }

    #[test]
    fn sides_and_errors() {
        let t = |side: &str| {
            format!(
                r#"{{"channel":"trades","data":[{{"coin":"ETH","side":"{side}","px":"2000.5","sz":"0.1","time":1,"hash":"0x0","tid":5,"users":["a","b"]}}]}}"#
            )
        };
        assert_eq!(decode(&t("B")).1[0].side, Side::Buy);
        assert_eq!(decode(&t("A")).1[0].side, Side::Sell);
        assert_eq!(decode(&t("S")), (Err(DecodeError::Field("side")), vec![]));
        assert_eq!(decode(r#"{"channel":"pong"}"#).0, Ok(Frame::Other));
        assert_eq!(decode(r#"{"data":1}"#).0, Err(DecodeError::Unknown));
        assert_eq!(
            decode(r#"{"channel":"trades","data":{}}"#).0,
            Err(DecodeError::Field("data"))
        );
    }

    #[test]
    fn subscribe_and_keepalive() {
        assert_eq!(
            subscribe_messages(&["BTC", "kPEPE"]),
            [
                r#"{"method":"subscribe","subscription":{"type":"trades","coin":"BTC"}}"#,
                r#"{"method":"subscribe","subscription":{"type":"trades","coin":"kPEPE"}}"#
            ]
        );
        let Keepalive {
            text: Some(text),
            every,
            ..
        } = KEEPALIVE
        else {
            panic!("the client pings");
        };
        assert!(every < Duration::from_secs(60));
        assert_eq!(text, r#"{"method":"ping"}"#);
    }
}
