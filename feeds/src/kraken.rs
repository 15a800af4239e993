//! Kraken adapters: spot WebSocket v2 (`ws.kraken.com/v2`, [`Venue::KrakenSpot`]; the
//! array-shaped v1 trade frames of `ws.kraken.com` decode too) and Kraken Futures
//! (`futures.kraken.com/ws/v1`, [`Venue::KrakenFutures`]).
//!
//! **Spot v2** `trade` frames carry `price`/`qty` as JSON numbers (read from their literal
//! text), `side` = taker side, a sequential integer `trade_id` and an RFC 3339 `timestamp`.
//! v2 spells Bitcoin `BTC/USD` where v1 and aggr-server's market ids say `XBT/USD`; see
//! [`v1_pair`] for the market-id mapping. v1 trades have no trade id (`None`) and a
//! `"seconds.micros"` time string.
//!
//! **Futures** `trade` / `trade_snapshot` (docs.kraken.com futures-websocket/trade):
//! `side` is "the classification of the taker side"; `type` is `fill`, `liquidation`,
//! `termination` or `block`. `fill` → trade; `liquidation` and `termination` (a forced close
//! of a terminated account) → liquidation event whose side is the taker side, i.e. the side of
//! the forced order; `block` (an off-book block-trade leg) is consumed without an event, as
//! Binance's non-market prints are. `qty` is in contracts: `PI_`/`FI_` (inverse) contracts
//! are 1 USD, so base = qty / price; `PF_`/`FF_` (linear, multi-collateral) quantities are
//! already base units. Any other prefix is [`DecodeError::Instrument`]. `uid` is a UUID,
//! which does not fit `Event::trade_id`, so it is `None`.

use crate::event::{Decimal, Event, EventKind, Side, Symbol};
use crate::json::{self, Parser, Val};
use crate::venue::Keepalive;
use crate::venue::{Decode, DecodeError, Frame, Venue};
use std::fmt;
use std::time::Duration;

/// Spot WebSocket v2 public host.
pub const SPOT_V2_URL: &str = "wss://ws.kraken.com/v2";

/// Kraken Futures public host.
pub const FUTURES_URL: &str = "wss://futures.kraken.com/ws/v1";

/// Spot v2: the server sends `{"channel":"heartbeat"}` about once a second when a connection
/// is otherwise idle; an application ping `{"method":"ping"}` is answered with `pong`. We
/// ping every 30 s so that a silent half-open connection is noticed.
pub const SPOT_KEEPALIVE: Keepalive =
    Keepalive::text(r#"{"method":"ping"}"#, Duration::from_secs(30)).with_server_pings();

/// Futures: the client must ping at least every 60 s (docs); we send a WebSocket ping frame
/// every 30 s and also subscribe to the `heartbeat` feed.
pub const FUTURES_KEEPALIVE: Keepalive = Keepalive::ws_ping(Duration::from_secs(30));

// The docs' 60 s ping deadline must hold at compile time.
const _: () = assert!(FUTURES_KEEPALIVE.ws_ping && FUTURES_KEEPALIVE.every.as_secs() < 60);

/// Kraken publishes no per-connection symbol limit; we cap a connection at this many.
pub const MAX_SYMBOLS_PER_CONN: usize = 100;

/// Subscribe requests for `symbols` on one connection: spot v2 `trade` (without the
/// snapshot of past trades), or futures `trade` plus the `heartbeat` feed.
pub fn subscribe_messages(venue: Venue, symbols: &[&str]) -> Vec<String> {
    let list = json::string_array(symbols);
    match venue {
        Venue::KrakenFutures => vec![
            format!(r#"{{"event":"subscribe","feed":"trade","product_ids":{list}}}"#),
            r#"{"event":"subscribe","feed":"heartbeat"}"#.to_owned(),
        ],
        _ => vec![format!(
            r#"{{"method":"subscribe","params":{{"channel":"trade","symbol":{list},"snapshot":false}}}}"#
        )],
    }
}

/// Asset renames between v2 symbols and v1 / aggr-server names.
const V1_ASSETS: &[(&str, &str)] = &[("BTC", "XBT"), ("DOGE", "XDG")];

/// The v1 spelling of a spot pair (`BTC/USD` → `XBT/USD`, `DOGE/BTC` → `XDG/XBT`), which is
/// what aggr-server market ids use (`KRAKEN:XBT/USD`). v1 names pass through unchanged.
pub fn v1_pair(pair: &str) -> String {
    let rename = |asset: &str| {
        V1_ASSETS
            .iter()
            .find(|(v2, _)| *v2 == asset)
            .map_or_else(|| asset.to_owned(), |(_, v1)| (*v1).to_owned())
    };
    match pair.split_once('/') {
        Some((base, quote)) => format!("{}/{}", rename(base), rename(quote)),
        None => pair.to_owned(),
    }
}

/// Decoder for Kraken spot (v2 and v1 frames) or Kraken Futures.
pub struct Decoder {
    venue: Venue,
    parser: Parser,
}

impl Decoder {
    pub fn new(venue: Venue) -> Decoder {
        Decoder {
            venue,
            parser: Parser::new(),
        }
    }
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("kraken::Decoder")
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
        if self.venue == Venue::KrakenFutures {
            self.parser.parse(frame, |root| futures_frame(root, emit))
        } else {
            self.parser.parse(frame, |root| spot_frame(root, emit))
        }
    }
}

fn side(value: Option<Val<'_, '_>>, name: &'static str) -> Result<Side, DecodeError> {
    match json::string(value, name)? {
        "buy" | "b" => Ok(Side::Buy),
        "sell" | "s" => Ok(Side::Sell),
        _ => Err(DecodeError::Field(name)),
    }
}

// ---- spot ----

fn spot_frame(root: Val<'_, '_>, emit: &mut dyn FnMut(Event)) -> Result<Frame, DecodeError> {
    if root.is_array() {
        return v1_array(root, emit);
    }
    let fields = root.entries().ok_or(DecodeError::Unknown)?;
    let (mut channel, mut data, mut method, mut success, mut event, mut status) =
        (None, None, None, None, None, None);
    for (key, value) in fields {
        let slot = match key {
            "channel" => &mut channel,
            "data" => &mut data,
            "method" => &mut method,
            "success" => &mut success,
            "event" => &mut event,
            "status" => &mut status,
            _ => continue,
        };
        *slot = Some(value);
    }
    if let Some(channel) = channel {
        return match json::string(Some(channel), "channel")? {
            "trade" => {
                let data = data
                    .and_then(Val::elements)
                    .ok_or(DecodeError::Field("data"))?;
                let mut n = 0;
                for trade in data {
                    emit(v2_trade(trade)?);
                    n += 1;
                }
                Ok(Frame::Data(n))
            }
            _ => Ok(Frame::Other),
        };
    }
    if let Some(method) = method {
        let ok = matches!(success.and_then(Val::as_bool), Some(true));
        return match json::string(Some(method), "method")? {
            "subscribe" | "unsubscribe" if ok => Ok(Frame::SubscribeAck),
            "subscribe" | "unsubscribe" => Ok(Frame::VenueError { code: 0 }),
            _ if success.is_some() && !ok => Ok(Frame::VenueError { code: 0 }),
            _ => Ok(Frame::Other),
        };
    }
    if let Some(event) = event {
        return match json::string(Some(event), "event")? {
            "subscriptionStatus" => match json::string(status, "status")? {
                "subscribed" | "unsubscribed" => Ok(Frame::SubscribeAck),
                _ => Ok(Frame::VenueError { code: 0 }),
            },
            "error" => Ok(Frame::VenueError { code: 0 }),
            _ => Ok(Frame::Other),
        };
    }
    Err(DecodeError::Unknown)
}

fn v2_trade(trade: Val<'_, '_>) -> Result<Event, DecodeError> {
    let (mut symbol, mut side_v, mut price, mut qty, mut id, mut ts) =
        (None, None, None, None, None, None);
    for (key, value) in trade.entries().ok_or(DecodeError::Field("data"))? {
        let slot = match key {
            "symbol" => &mut symbol,
            "side" => &mut side_v,
            "price" => &mut price,
            "qty" => &mut qty,
            "trade_id" => &mut id,
            "timestamp" => &mut ts,
            _ => continue,
        };
        *slot = Some(value);
    }
    let event = Event {
        kind: EventKind::Trade,
        side: side(side_v, "side")?,
        symbol: json::symbol(symbol, "symbol")?,
        price: json::decimal_num(price, "price")?,
        qty: json::decimal_num(qty, "qty")?,
        ts_us: json::rfc3339(ts, "timestamp")?,
        trade_id: Some(json::unsigned_int(id, "trade_id")?),
        fills: 1,
    };
    if !json::tradable(event.price, event.qty, "price", "qty")? {
        return Err(DecodeError::Number("qty"));
    }
    Ok(event)
}

/// v1 `[channelID, payload, channelName, pair]`: trades when the name is `trade`.
fn v1_array(root: Val<'_, '_>, emit: &mut dyn FnMut(Event)) -> Result<Frame, DecodeError> {
    let len = root.len().unwrap_or(0);
    if len < 4 {
        return Err(DecodeError::Unknown);
    }
    let name = json::string(root.index(len - 2), "channelName")?;
    if name != "trade" {
        return Ok(Frame::Other);
    }
    let symbol = json::symbol(root.index(len - 1), "pair")?;
    let trades = root
        .index(1)
        .and_then(Val::elements)
        .ok_or(DecodeError::Field("trades"))?;
    let mut n = 0;
    for trade in trades {
        let f = |i| trade.index(i);
        let price = json::decimal_str(f(0), "price")?;
        let qty = json::decimal_str(f(1), "volume")?;
        let ts_us = v1_time(json::string(f(2), "time")?).ok_or(DecodeError::Number("time"))?;
        let side = side(f(3), "side")?;
        if !json::tradable(price, qty, "price", "volume")? {
            return Err(DecodeError::Number("volume"));
        }
        emit(Event {
            kind: EventKind::Trade,
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
    Ok(Frame::Data(n))
}

/// `"1618678142.557535"` (seconds, up to 6 decimals) → µs.
fn v1_time(text: &str) -> Option<i64> {
    let d = Decimal::parse(text.as_bytes())?;
    if d.mantissa < 0 || d.scale > 6 {
        return None;
    }
    d.mantissa.checked_mul(10i64.pow(6 - u32::from(d.scale)))
}

// ---- futures ----

fn futures_frame(root: Val<'_, '_>, emit: &mut dyn FnMut(Event)) -> Result<Frame, DecodeError> {
    let fields = root.entries().ok_or(DecodeError::Unknown)?;
    let (mut feed, mut event, mut trades) = (None, None, None);
    for (key, value) in fields {
        match key {
            "feed" => feed = Some(value),
            "event" => event = Some(value),
            "trades" => trades = Some(value),
            _ => {}
        }
    }
    if let Some(event) = event {
        return match json::string(Some(event), "event")? {
            "subscribed" | "unsubscribed" => Ok(Frame::SubscribeAck),
            "subscribed_failed" | "unsubscribed_failed" | "error" => {
                Ok(Frame::VenueError { code: 0 })
            }
            _ => Ok(Frame::Other),
        };
    }
    match json::string(feed, "feed")? {
        "trade" => Ok(Frame::Data(u32::from(futures_trade(root, emit)?))),
        "trade_snapshot" => {
            let trades = trades
                .and_then(Val::elements)
                .ok_or(DecodeError::Field("trades"))?;
            let mut n = 0;
            for trade in trades {
                n += u32::from(futures_trade(trade, emit)?);
            }
            Ok(Frame::Data(n))
        }
        _ => Ok(Frame::Other),
    }
}

/// One futures trade object; `false` when it makes no event (a block trade).
fn futures_trade(trade: Val<'_, '_>, emit: &mut dyn FnMut(Event)) -> Result<bool, DecodeError> {
    let (mut product, mut side_v, mut kind, mut time, mut qty, mut price) =
        (None, None, None, None, None, None);
    for (key, value) in trade.entries().ok_or(DecodeError::Field("trades"))? {
        let slot = match key {
            "product_id" => &mut product,
            "side" => &mut side_v,
            "type" => &mut kind,
            "time" => &mut time,
            "qty" => &mut qty,
            "price" => &mut price,
            _ => continue,
        };
        *slot = Some(value);
    }
    let kind = match json::string(kind, "type")? {
        "fill" => EventKind::Trade,
        "liquidation" | "termination" => EventKind::Liquidation,
        "block" => return Ok(false),
        _ => return Err(DecodeError::Field("type")),
    };
    let symbol = json::symbol(product, "product_id")?;
    let side = side(side_v, "side")?;
    let ts_us = json::millis_int(time, "time")?;
    let price = json::decimal_num(price, "price")?;
    let contracts = json::decimal_num(qty, "qty")?;
    if !json::tradable(price, contracts, "price", "qty")? {
        return Err(DecodeError::Number("qty"));
    }
    let qty = futures_base_qty(&symbol, contracts, price)?;
    emit(Event {
        kind,
        side,
        symbol,
        price,
        qty,
        ts_us,
        trade_id: None,
        fills: 1,
    });
    Ok(true)
}

/// Base units of a futures quantity by product prefix (see the module docs).
fn futures_base_qty(symbol: &Symbol, qty: Decimal, price: Decimal) -> Result<Decimal, DecodeError> {
    let prefix = symbol.as_bytes().get(..3).map(|p| {
        let mut upper = [0u8; 3];
        upper.copy_from_slice(p);
        upper.make_ascii_uppercase();
        upper
    });
    match prefix.as_ref() {
        Some(b"PF_" | b"FF_") => Ok(qty),
        Some(b"PI_" | b"FI_") => {
            crate::instruments::decimal_from_f64(qty.to_f64() / price.to_f64())
                .ok_or(DecodeError::Number("qty"))
        }
        _ => Err(DecodeError::Instrument),
    }
}

/// KrakenSpot's entry in the venue registry ([`crate::registry`]).
pub const SPOT_SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    url: SPOT_V2_URL,
    keepalive: SPOT_KEEPALIVE,
    max_symbols_per_conn: MAX_SYMBOLS_PER_CONN,
    trade_ids: crate::venue::TradeIds::Contiguous { per_fill: false },
    rest_pace: crate::venue::RestPace {
        per_sec: 1.0,
        burst: 2.0,
    },
    rest_host: Some("https://api.kraken.com"),
    subscribe: plan_subscribe,
    ..crate::venue::VenueSpec::new(crate::venue::Venue::KrakenSpot, "kraken", "KRAKEN")
};

/// KrakenFutures's entry in the venue registry ([`crate::registry`]).
pub const FUTURES_SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    perp: true,
    url: FUTURES_URL,
    keepalive: FUTURES_KEEPALIVE,
    max_symbols_per_conn: MAX_SYMBOLS_PER_CONN,
    subscribe: plan_subscribe,
    ..crate::venue::VenueSpec::new(
        crate::venue::Venue::KrakenFutures,
        "kraken-futures",
        "KRAKEN",
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
    fn v1_pair_names() {
        assert_eq!(v1_pair("BTC/USD"), "XBT/USD");
        assert_eq!(v1_pair("DOGE/BTC"), "XDG/XBT");
        assert_eq!(v1_pair("ETH/EUR"), "ETH/EUR");
        assert_eq!(v1_pair("XBT/USD"), "XBT/USD");
    }

    #[test]
    fn v1_times() {
        assert_eq!(v1_time("1618678142.557535"), Some(1_618_678_142_557_535));
        assert_eq!(v1_time("1618678142.5"), Some(1_618_678_142_500_000));
        assert_eq!(v1_time("1618678142"), Some(1_618_678_142_000_000));
        assert_eq!(v1_time("1618678142.5575351"), None);
        assert_eq!(v1_time("-1.0"), None);
    }

    /// Fixtures built from the docs' trade feed page (docs.kraken.com, futures-websocket/trade:
    /// the `trade_snapshot` example with PF_XBTUSD fills, and the field list of the delta).
    #[test]
    fn futures_trades_and_liquidations() {
        let snapshot = r#"{"feed":"trade_snapshot","product_id":"PF_XBTUSD","trades":[{"feed":"trade","product_id":"PF_XBTUSD","uid":"caa9c653-420b-4c24-a9f1-462a054d86f1","side":"sell","type":"fill","seq":655508,"time":1612269657781,"qty":440,"price":34893},{"feed":"trade","product_id":"PF_XBTUSD","uid":"45ee9737-1877-4682-bc68-e4ef818ef88a","side":"sell","type":"fill","seq":655507,"time":1612269656839,"qty":9643,"price":34891}]}"#;
        let (frame, events) = decode(Venue::KrakenFutures, snapshot);
        assert_eq!(frame, Ok(Frame::Data(2)));
        assert_eq!(events[0].qty, Decimal::new(440, 0));
        assert_eq!(events[1].ts_us, 1_612_269_656_839_000);
        let liq = r#"{"feed":"trade","product_id":"PI_XBTUSD","uid":"05af78ac-a774-478c-a50c-8b9c234e071e","side":"sell","type":"liquidation","seq":653355,"time":1612266317519,"qty":15000,"price":34969.5}"#;
        let (frame, events) = decode(Venue::KrakenFutures, liq);
        assert_eq!(frame, Ok(Frame::Data(1)));
        assert_eq!(events[0].kind, EventKind::Liquidation);
        assert_eq!(events[0].side, Side::Sell);
        assert!((events[0].qty.to_f64() - 15000.0 / 34969.5).abs() < 1e-15);
        let block = liq.replace("\"liquidation\"", "\"block\"");
        assert_eq!(
            decode(Venue::KrakenFutures, &block),
            (Ok(Frame::Data(0)), vec![])
        );
        let unknown = liq.replace("PI_XBTUSD", "XX_XBTUSD");
        assert_eq!(
            decode(Venue::KrakenFutures, &unknown).0,
            Err(DecodeError::Instrument)
        );
        let bad = liq.replace("\"liquidation\"", "\"swap\"");
        assert_eq!(
            decode(Venue::KrakenFutures, &bad).0,
            Err(DecodeError::Field("type"))
        );
        for (text, want) in [
            (r#"{"event":"info","version":1}"#, Frame::Other),
            (
                r#"{"event":"subscribed","feed":"trade","product_ids":["PI_XBTUSD"]}"#,
                Frame::SubscribeAck,
            ),
            (
                r#"{"event":"error","message":"Invalid product id"}"#,
                Frame::VenueError { code: 0 },
            ),
            (r#"{"feed":"heartbeat","time":1534262350627}"#, Frame::Other),
        ] {
            assert_eq!(decode(Venue::KrakenFutures, text).0, Ok(want), "{text}");
        }
    }

    #[test]
    fn spot_frames() {
        for (text, want) in [
            (
                r#"{"method":"pong","req_id":101,"time_in":"x","time_out":"y"}"#,
                Ok(Frame::Other),
            ),
            (
                r#"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":"1","qty":1,"ord_type":"limit","trade_id":1,"timestamp":"2026-09-25T17:48:26.844359Z"}]}"#,
                Err(DecodeError::Field("price")),
            ),
            (
                r#"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"hold","price":1,"qty":1,"ord_type":"limit","trade_id":1,"timestamp":"2026-09-25T17:48:26.844359Z"}]}"#,
                Err(DecodeError::Field("side")),
            ),
            (
                r#"[993,[["1","0","1618678142.557535","s","l",""]],"trade","XMR/USD"]"#,
                Err(DecodeError::Number("volume")),
            ),
            (r#"[993,{"a":1},"ticker","XMR/USD"]"#, Ok(Frame::Other)),
            (r#"[993]"#, Err(DecodeError::Unknown)),
        ] {
            assert_eq!(decode(Venue::KrakenSpot, text).0, want, "{text}");
        }
    }

    #[test]
    fn subscribe_requests() {
        assert_eq!(
            subscribe_messages(Venue::KrakenSpot, &["BTC/USD"]),
            [
                r#"{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD"],"snapshot":false}}"#
            ]
        );
        assert_eq!(
            subscribe_messages(Venue::KrakenFutures, &["PF_XBTUSD", "PI_XBTUSD"]),
            [
                r#"{"event":"subscribe","feed":"trade","product_ids":["PF_XBTUSD","PI_XBTUSD"]}"#,
                r#"{"event":"subscribe","feed":"heartbeat"}"#
            ]
        );
    }
}
