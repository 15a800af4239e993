//! Coinbase adapters: Coinbase Exchange (`ws-feed.exchange.coinbase.com`, channel `matches`)
//! and Coinbase Advanced Trade (`advanced-trade-ws.coinbase.com`, channel `market_trades`).
//!
//! **Side.** Both feeds report the **maker** order's side: Exchange docs, "The side field
//! indicates the maker order side"; Advanced Trade by the evidence in reference/exchanges.md
//! (all 71 at-touch prints of a recording had `SELL` at the best ask). The taker (aggressor)
//! side we emit is therefore the opposite.
//!
//! Frames handled:
//! - Exchange: `match` and `last_match` (one fill each; `last_match` is the last fill before
//!   subscribing and is emitted like any other), `subscriptions` (ack), `heartbeat` and other
//!   channels (`Other`), `error` (`VenueError`, code 0: Coinbase sends no code).
//! - Advanced: `market_trades` events of type `snapshot` (the last 100 trades, newest first)
//!   and `update` (newest first), emitted in frame order; `subscriptions` (ack); `heartbeats`
//!   and other channels (`Other`); `{"type":"error",…}` (`VenueError`, code 0).

use crate::event::{Event, EventKind, Side};
use crate::json::{self, Parser, Val};
use crate::venue::Keepalive;
use crate::venue::{Decode, DecodeError, Frame, Venue};
use std::fmt;

/// Coinbase Exchange market-data host.
pub const EXCHANGE_URL: &str = "wss://ws-feed.exchange.coinbase.com";

/// Coinbase Advanced Trade market-data host.
pub const ADVANCED_URL: &str = "wss://advanced-trade-ws.coinbase.com";

/// Exchange: the server sends WebSocket pings; we subscribe to `heartbeat` (one frame per
/// second per product, carrying `last_trade_id` for gap detection). No client ping.
pub const EXCHANGE_KEEPALIVE: Keepalive = Keepalive::SERVER_PINGS;

/// Advanced Trade: "Most channels close within 60-90 seconds if no updates are sent.
/// Subscribe to heartbeats to keep all subscriptions open." No client ping.
pub const ADVANCED_KEEPALIVE: Keepalive = Keepalive::SERVER_PINGS;

/// Unauthenticated requests per second per IP on both hosts (docs: 8/s).
pub const MAX_MSGS_PER_SEC: u32 = 8;

/// Coinbase publishes no per-connection product limit for `matches` / `market_trades`; we cap
/// a connection at this many products so one lost connection never loses every market.
pub const MAX_PRODUCTS_PER_CONN: usize = 100;

/// The subscribe requests for `products` (`BTC-USD`, …) on one connection of `venue`:
/// Exchange takes `matches` + `heartbeat` in one request; Advanced Trade takes one channel
/// per request (`market_trades`, then `heartbeats`).
pub fn subscribe_messages(venue: Venue, products: &[&str]) -> Vec<String> {
    let ids = json::string_array(products);
    match venue {
        Venue::CoinbaseAdvanced => vec![
            format!(r#"{{"type":"subscribe","product_ids":{ids},"channel":"market_trades"}}"#),
            r#"{"type":"subscribe","channel":"heartbeats"}"#.to_owned(),
        ],
        _ => vec![format!(
            r#"{{"type":"subscribe","product_ids":{ids},"channels":["matches","heartbeat"]}}"#
        )],
    }
}

/// Decoder for both Coinbase feeds (told apart by the frame: Exchange frames have `type`,
/// Advanced Trade frames `channel`).
pub struct Decoder {
    venue: Venue,
    parser: Parser,
}

impl Decoder {
    pub fn new(venue: Venue) -> Decoder {
        Decoder {
            venue,
            // Coinbase sends every decimal as a string.
            parser: Parser::without_literals(),
        }
    }
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("coinbase::Decoder")
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
        self.parser.parse(frame, |root| classify(root, emit))
    }
}

fn classify(root: Val<'_, '_>, emit: &mut dyn FnMut(Event)) -> Result<Frame, DecodeError> {
    let fields = root.entries().ok_or(DecodeError::Unknown)?;
    let (mut kind, mut channel, mut events) = (None, None, None);
    for (key, value) in fields {
        match key {
            "type" => kind = Some(value),
            "channel" => channel = Some(value),
            "events" => events = Some(value),
            _ => {}
        }
    }
    if let Some(channel) = channel {
        return match json::string(Some(channel), "channel")? {
            "market_trades" => market_trades(events, emit),
            "subscriptions" => Ok(Frame::SubscribeAck),
            _ => Ok(Frame::Other),
        };
    }
    match json::string(kind, "type")? {
        "match" | "last_match" => {
            emit(exchange_match(root)?);
            Ok(Frame::Data(1))
        }
        "subscriptions" => Ok(Frame::SubscribeAck),
        "error" => Ok(Frame::VenueError { code: 0 }),
        _ => Ok(Frame::Other),
    }
}

/// The taker side from a maker side (`buy`/`sell`, either case).
pub(crate) fn taker_from_maker(value: Option<Val<'_, '_>>) -> Result<Side, DecodeError> {
    match json::string(value, "side")? {
        "buy" | "BUY" => Ok(Side::Sell),
        "sell" | "SELL" => Ok(Side::Buy),
        _ => Err(DecodeError::Field("side")),
    }
}

/// One Exchange `match` / `last_match`.
fn exchange_match(root: Val<'_, '_>) -> Result<Event, DecodeError> {
    let (mut id, mut side, mut size, mut price, mut product, mut time) =
        (None, None, None, None, None, None);
    for (key, value) in root.entries().into_iter().flatten() {
        let slot = match key {
            "trade_id" => &mut id,
            "side" => &mut side,
            "size" => &mut size,
            "price" => &mut price,
            "product_id" => &mut product,
            "time" => &mut time,
            _ => continue,
        };
        *slot = Some(value);
    }
    let event = Event {
        kind: EventKind::Trade,
        side: taker_from_maker(side)?,
        symbol: json::symbol(product, "product_id")?,
        price: json::decimal_str(price, "price")?,
        qty: json::decimal_str(size, "size")?,
        ts_us: json::rfc3339(time, "time")?,
        trade_id: Some(json::unsigned_int(id, "trade_id")?),
        fills: 1,
    };
    // A match always has a positive size; zero or negative is a broken frame.
    if !json::tradable(event.price, event.qty, "price", "size")? {
        return Err(DecodeError::Number("size"));
    }
    Ok(event)
}

/// Advanced Trade `market_trades`: `events[].trades[]`, emitted in frame order.
fn market_trades(
    events: Option<Val<'_, '_>>,
    emit: &mut dyn FnMut(Event),
) -> Result<Frame, DecodeError> {
    let events = events
        .and_then(Val::elements)
        .ok_or(DecodeError::Field("events"))?;
    let mut n = 0u32;
    for event in events {
        let trades = event
            .get("trades")
            .and_then(Val::elements)
            .ok_or(DecodeError::Field("trades"))?;
        for trade in trades {
            emit(advanced_trade(trade)?);
            n += 1;
        }
    }
    Ok(Frame::Data(n))
}

fn advanced_trade(trade: Val<'_, '_>) -> Result<Event, DecodeError> {
    let (mut id, mut side, mut size, mut price, mut product, mut time) =
        (None, None, None, None, None, None);
    for (key, value) in trade.entries().ok_or(DecodeError::Field("trades"))? {
        let slot = match key {
            "trade_id" => &mut id,
            "side" => &mut side,
            "size" => &mut size,
            "price" => &mut price,
            "product_id" => &mut product,
            "time" => &mut time,
            _ => continue,
        };
        *slot = Some(value);
    }
    let event = Event {
        kind: EventKind::Trade,
        side: taker_from_maker(side)?,
        symbol: json::symbol(product, "product_id")?,
        price: json::decimal_str(price, "price")?,
        qty: json::decimal_str(size, "size")?,
        ts_us: json::rfc3339(time, "time")?,
        trade_id: Some(json::str_id(id, "trade_id")?),
        fills: 1,
    };
    if !json::tradable(event.price, event.qty, "price", "size")? {
        return Err(DecodeError::Number("size"));
    }
    Ok(event)
}

/// Coinbase's entry in the venue registry ([`crate::registry`]).
pub const EXCHANGE_SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    url: EXCHANGE_URL,
    keepalive: EXCHANGE_KEEPALIVE,
    max_symbols_per_conn: MAX_PRODUCTS_PER_CONN,
    max_msgs_per_sec: MAX_MSGS_PER_SEC,
    trade_ids: crate::venue::TradeIds::Contiguous { per_fill: false },
    rest_pace: crate::venue::RestPace {
        per_sec: 5.0,
        burst: 5.0,
    },
    rest_host: Some("https://api.exchange.coinbase.com"),
    subscribe: plan_subscribe,
    ..crate::venue::VenueSpec::new(crate::venue::Venue::Coinbase, "coinbase", "COINBASE")
};

/// CoinbaseAdvanced's entry in the venue registry ([`crate::registry`]).
pub const ADVANCED_SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    url: ADVANCED_URL,
    keepalive: ADVANCED_KEEPALIVE,
    max_symbols_per_conn: MAX_PRODUCTS_PER_CONN,
    max_msgs_per_sec: MAX_MSGS_PER_SEC,
    trade_ids: crate::venue::TradeIds::Monotonic,
    subscribe: plan_subscribe,
    ..crate::venue::VenueSpec::new(
        crate::venue::Venue::CoinbaseAdvanced,
        "coinbase-advanced",
        "COINBASE",
    )
};

/// [`crate::venue::VenueSpec::subscribe`] of this module's venues.
fn plan_subscribe(
    venue: crate::venue::Venue,
    symbols: &[&str],
    _first: bool,
    _now_s: u64,
) -> Vec<String> {
    subscribe_messages(venue, symbols)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(venue: Venue, text: &str) -> (Result<Frame, DecodeError>, Vec<Event>) {
        let mut decoder = Decoder::new(venue);
        let mut bytes = text.as_bytes().to_vec();
        let mut events = Vec::new();
        let frame = decoder.decode(&mut bytes, &mut |e| events.push(e));
        (frame, events)
    }

    #[test]
    fn maker_side_becomes_taker_side() {
        let (frame, events) = decode(
            Venue::Coinbase,
            r#"{"type":"match","trade_id":7,"side":"buy","size":"1.5","price":"10","product_id":"BTC-USD","sequence":1,"time":"2021-04-17T16:43:47.750922Z"}"#,
        );
        assert_eq!(frame, Ok(Frame::Data(1)));
        assert_eq!(events[0].side, Side::Sell);
        assert_eq!(events[0].trade_id, Some(7));
        let (frame, events) = decode(
            Venue::CoinbaseAdvanced,
            r#"{"channel":"market_trades","events":[{"type":"update","trades":[{"product_id":"BTC-USD","trade_id":"9","price":"1","size":"2","time":"2026-08-09T21:05:48.167634Z","side":"SELL"}]}]}"#,
        );
        assert_eq!(frame, Ok(Frame::Data(1)));
        assert_eq!(events[0].side, Side::Buy);
        assert_eq!(events[0].ts_us, 1_786_309_548_167_634);
    }

    #[test]
    fn bad_frames_name_the_field() {
        for (text, want) in [
            (
                r#"{"type":"match","trade_id":7,"side":"up","size":"1","price":"1","product_id":"X","time":"2021-04-17T16:43:47Z"}"#,
                DecodeError::Field("side"),
            ),
            (
                r#"{"type":"match","trade_id":"7","side":"buy","size":"1","price":"1","product_id":"X","time":"2021-04-17T16:43:47Z"}"#,
                DecodeError::Field("trade_id"),
            ),
            (
                r#"{"type":"match","trade_id":7,"side":"buy","size":"0","price":"1","product_id":"X","time":"2021-04-17T16:43:47Z"}"#,
                DecodeError::Number("size"),
            ),
            (
                r#"{"type":"match","trade_id":7,"side":"buy","size":"1","price":"1","product_id":"X","time":"yesterday"}"#,
                DecodeError::Number("time"),
            ),
            (
                r#"{"channel":"market_trades","events":[{"type":"update"}]}"#,
                DecodeError::Field("trades"),
            ),
            (
                r#"{"channel":"market_trades","events":[{"type":"update","trades":[{"product_id":"X","trade_id":"x1","price":"1","size":"1","time":"2026-08-09T21:05:48Z","side":"BUY"}]}]}"#,
                DecodeError::Number("trade_id"),
            ),
            (r#"{"hello":1}"#, DecodeError::Field("type")),
            (r#"[1]"#, DecodeError::Unknown),
        ] {
            let (got, events) = decode(Venue::Coinbase, text);
            assert_eq!(got, Err(want), "{text}");
            assert!(events.is_empty());
        }
    }

    #[test]
    fn subscribe_requests() {
        assert_eq!(
            subscribe_messages(Venue::Coinbase, &["BTC-USD", "ETH-USD"]),
            [
                r#"{"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channels":["matches","heartbeat"]}"#
            ]
        );
        assert_eq!(
            subscribe_messages(Venue::CoinbaseAdvanced, &["BTC-USD"]),
            [
                r#"{"type":"subscribe","product_ids":["BTC-USD"],"channel":"market_trades"}"#,
                r#"{"type":"subscribe","channel":"heartbeats"}"#
            ]
        );
    }
}
