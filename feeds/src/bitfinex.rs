//! Bitfinex adapter (`api-pub.bitfinex.com/ws/2`): the `trades` channel of trading pairs and
//! the global liquidation feed (`status` channel, key `liq:global`).
//!
//! Data frames are arrays addressed by channel id, so the decoder remembers each channel
//! from its `subscribed` event (a small table filled at subscribe time, not on the hot path).
//! With `conf` flag SEQ_ALL every array frame carries a trailing sequence number, which is
//! ignored.
//!
//! - **Trades** `[ID, MTS, AMOUNT, PRICE]`: the sign of AMOUNT is the taker side (docs: "The
//!   order that causes the trade determines if it is a buy or a sell"), `|AMOUNT|` the base
//!   quantity. The snapshot sent on subscribe (`[chanId, [[…], …]]`, newest first) and `te`
//!   updates are emitted; `tu` repeats a trade already sent as `te` and emits nothing.
//!   Amounts and prices are JSON numbers, read from their literals.
//! - **Liquidations** `["pos", POS_ID, MTS, _, SYMBOL, AMOUNT, BASE_PRICE, _, IS_MATCH,
//!   IS_MARKET_SOLD, _, LIQUIDATION_PRICE]`: each liquidated position is reported when it is
//!   triggered (IS_MATCH 0) and again for its market execution (IS_MATCH 1). Only the trigger
//!   becomes an event, as in aggr-server, so a position counts once: `|AMOUNT|`, side of the
//!   forced order (a long, AMOUNT > 0, is sold), time MTS (a float of ms, truncated to µs).
//!   Triggers usually carry no LIQUIDATION_PRICE (null); the price is then the symbol's last
//!   trade price on this connection (aggr-server's rule), and without one the position's
//!   BASE_PRICE (the only price the entry has).
//! - Events: `subscribed` / `conf` → `SubscribeAck`; `error` → `VenueError` with its code;
//!   `info` code 20051 (server restart) → `ServerShutdown`; `hb`, `pong`, other `info` →
//!   `Other`. A data frame on a channel id never announced is `DecodeError::Unknown`.

use crate::event::{Decimal, Event, EventKind, Side, Symbol};
use crate::json::{self, Parser, Val};
use crate::venue::Keepalive;
use crate::venue::{Decode, DecodeError, Frame, Venue};
use std::fmt;
use std::time::Duration;

/// Public-channel host.
pub const URL: &str = "wss://api-pub.bitfinex.com/ws/2";

/// "You can subscribe to 25 channels at the same time on the same connection" (docs); one
/// of them is `liq:global` on the connection that carries it.
pub const MAX_CHANNELS_PER_CONN: usize = 25;

/// The server sends `hb` on idle channels every 15 s; we also ping every 30 s
/// (`{"event":"ping","cid":…}`, answered with `pong`).
pub const KEEPALIVE: Keepalive =
    Keepalive::text(r#"{"event":"ping","cid":1}"#, Duration::from_secs(30)).with_server_pings();

/// `info` code announcing a server restart: reconnect.
const INFO_RESTART: i64 = 20051;

/// Subscribe requests: one `trades` channel per symbol (`tBTCUSD`, `tBTCF0:USTF0`), plus the
/// global liquidation feed when `liquidations` is set.
pub fn subscribe_messages(symbols: &[&str], liquidations: bool) -> Vec<String> {
    let mut out: Vec<String> = symbols
        .iter()
        .map(|s| {
            let mut m = String::from(r#"{"event":"subscribe","channel":"trades","symbol":"#);
            json::push_string(&mut m, s);
            m.push('}');
            m
        })
        .collect();
    if liquidations {
        out.push(r#"{"event":"subscribe","channel":"status","key":"liq:global"}"#.to_owned());
    }
    out
}

/// What a channel id carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Trades(Symbol),
    Liquidations,
    /// Subscribed but not decoded (funding trades, derivative status, books).
    Other,
}

/// Decoder for Bitfinex frames, with the channel table of its connection.
pub struct Decoder {
    parser: Parser,
    channels: Vec<(u64, Channel)>,
    /// The last trade price of each traded symbol on this connection (liquidation prices).
    prices: Vec<(Symbol, Decimal)>,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder {
            parser: Parser::new(),
            channels: Vec::with_capacity(2 * MAX_CHANNELS_PER_CONN),
            prices: Vec::with_capacity(2 * MAX_CHANNELS_PER_CONN),
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
        f.debug_struct("bitfinex::Decoder")
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

impl Decode for Decoder {
    fn venue(&self) -> Venue {
        Venue::Bitfinex
    }

    fn decode(
        &mut self,
        frame: &mut [u8],
        emit: &mut dyn FnMut(Event),
    ) -> Result<Frame, DecodeError> {
        let (channels, prices) = (&mut self.channels, &mut self.prices);
        self.parser.parse(frame, |root| {
            if root.is_array() {
                data(root, channels, prices, emit)
            } else {
                event(root, channels)
            }
        })
    }
}

fn event(root: Val<'_, '_>, channels: &mut Vec<(u64, Channel)>) -> Result<Frame, DecodeError> {
    let fields = root.entries().ok_or(DecodeError::Unknown)?;
    let (mut kind, mut channel, mut chan_id, mut symbol, mut key, mut code) =
        (None, None, None, None, None, None);
    for (k, value) in fields {
        let slot = match k {
            "event" => &mut kind,
            "channel" => &mut channel,
            "chanId" => &mut chan_id,
            "symbol" => &mut symbol,
            "key" => &mut key,
            "code" => &mut code,
            _ => continue,
        };
        *slot = Some(value);
    }
    match json::string(kind, "event")? {
        "subscribed" => {
            let id = json::unsigned_int(chan_id, "chanId")?;
            let what = match (json::string(channel, "channel")?, symbol, key) {
                ("trades", Some(symbol), _) => {
                    let symbol = json::symbol(Some(symbol), "symbol")?;
                    if symbol.as_bytes().first() == Some(&b't') {
                        Channel::Trades(symbol)
                    } else {
                        Channel::Other
                    }
                }
                ("status", _, Some(key)) if key.str() == Some("liq:global") => {
                    Channel::Liquidations
                }
                _ => Channel::Other,
            };
            channels.retain(|(c, _)| *c != id);
            channels.push((id, what));
            Ok(Frame::SubscribeAck)
        }
        "unsubscribed" => {
            let id = json::unsigned_int(chan_id, "chanId")?;
            channels.retain(|(c, _)| *c != id);
            Ok(Frame::Other)
        }
        "conf" => Ok(Frame::SubscribeAck),
        "error" => Ok(Frame::VenueError {
            code: json::signed_int(code, "code")?,
        }),
        "info" => match code {
            Some(code) if json::signed_int(Some(code), "code")? == INFO_RESTART => {
                Ok(Frame::ServerShutdown)
            }
            _ => Ok(Frame::Other),
        },
        _ => Ok(Frame::Other),
    }
}

/// Record `price` as the last trade price of `symbol` (an entry per symbol, pushed once).
fn remember(prices: &mut Vec<(Symbol, Decimal)>, symbol: Symbol, price: Decimal) {
    match prices.iter_mut().find(|(s, _)| *s == symbol) {
        Some(slot) => slot.1 = price,
        None => prices.push((symbol, price)),
    }
}

fn data(
    root: Val<'_, '_>,
    channels: &[(u64, Channel)],
    prices: &mut Vec<(Symbol, Decimal)>,
    emit: &mut dyn FnMut(Event),
) -> Result<Frame, DecodeError> {
    let id = json::unsigned_int(root.index(0), "chanId")?;
    let channel = channels
        .iter()
        .find(|(c, _)| *c == id)
        .map(|(_, what)| *what)
        .ok_or(DecodeError::Unknown)?;
    let body = root.index(1).ok_or(DecodeError::Field("payload"))?;
    if let Some(tag) = body.str() {
        return match (tag, channel) {
            ("hb", _) => Ok(Frame::Other),
            ("te", Channel::Trades(symbol)) => {
                let trade = root.index(2).ok_or(DecodeError::Field("te"))?;
                let price = emit_trade(trade, symbol, emit)?;
                if let Some(price) = price {
                    remember(prices, symbol, price);
                }
                Ok(Frame::Data(u32::from(price.is_some())))
            }
            ("tu", Channel::Trades(_)) => Ok(Frame::Data(0)),
            (_, Channel::Other) => Ok(Frame::Other),
            _ => Err(DecodeError::Unknown),
        };
    }
    let rows = body.elements().ok_or(DecodeError::Field("payload"))?;
    match channel {
        Channel::Trades(symbol) => {
            // Newest first: the first trade's price is the latest.
            let mut newest = None;
            let mut n = 0;
            for row in rows {
                if let Some(price) = emit_trade(row, symbol, emit)? {
                    newest = newest.or(Some(price));
                    n += 1;
                }
            }
            if let Some(price) = newest {
                remember(prices, symbol, price);
            }
            Ok(Frame::Data(n))
        }
        Channel::Liquidations => {
            // A single entry may also arrive unwrapped (`[chanId, ["pos", …]]`).
            if body.index(0).and_then(Val::str).is_some() {
                return Ok(Frame::Data(u32::from(emit_liquidation(
                    body, prices, emit,
                )?)));
            }
            let mut n = 0;
            for row in rows {
                n += u32::from(emit_liquidation(row, prices, emit)?);
            }
            Ok(Frame::Data(n))
        }
        Channel::Other => Ok(Frame::Other),
    }
}

/// `[ID, MTS, AMOUNT, PRICE]`; the price when an event was emitted (`None` for a zero
/// amount).
pub(crate) fn emit_trade(
    row: Val<'_, '_>,
    symbol: Symbol,
    emit: &mut dyn FnMut(Event),
) -> Result<Option<Decimal>, DecodeError> {
    if !row.is_array() {
        return Err(DecodeError::Field("trade"));
    }
    let id = json::unsigned_int(row.index(0), "ID")?;
    let ts_us = json::millis_int(row.index(1), "MTS")?;
    let amount = json::decimal_num(row.index(2), "AMOUNT")?;
    let price = json::decimal_num(row.index(3), "PRICE")?;
    let (side, qty) = signed_amount(amount);
    if !json::tradable(price, qty, "PRICE", "AMOUNT")? {
        return Ok(None);
    }
    emit(Event {
        kind: EventKind::Trade,
        side,
        symbol,
        price,
        qty,
        ts_us,
        trade_id: Some(id),
        fills: 1,
    });
    Ok(Some(price))
}

/// A signed amount → (side, |amount|): positive buys.
fn signed_amount(amount: Decimal) -> (Side, Decimal) {
    if amount.mantissa < 0 {
        (Side::Sell, Decimal::new(-amount.mantissa, amount.scale))
    } else {
        (Side::Buy, amount)
    }
}

/// One `pos` entry of the liquidation feed; `false` when it makes no event.
fn emit_liquidation(
    row: Val<'_, '_>,
    prices: &[(Symbol, Decimal)],
    emit: &mut dyn FnMut(Event),
) -> Result<bool, DecodeError> {
    if row.index(0).and_then(Val::str) != Some("pos") {
        return Err(DecodeError::Field("pos"));
    }
    if json::unsigned_int(row.index(8), "IS_MATCH")? != 0 {
        return Ok(false);
    }
    let mts = json::decimal_num(row.index(2), "MTS")?;
    let ts_us = millis_decimal_to_micros(mts).ok_or(DecodeError::Number("MTS"))?;
    let symbol = json::symbol(row.index(4), "SYMBOL")?;
    let amount = json::decimal_num(row.index(5), "AMOUNT")?;
    let price = match row.index(11) {
        Some(v) if v.is_number() => json::decimal_num(Some(v), "LIQUIDATION_PRICE")?,
        Some(v) if !v.is_null() => return Err(DecodeError::Field("LIQUIDATION_PRICE")),
        // No liquidation price (a trigger): the symbol's last trade, else BASE_PRICE.
        _ => match prices.iter().find(|(s, _)| *s == symbol) {
            Some(&(_, last)) => last,
            None => json::decimal_num(row.index(6), "BASE_PRICE")?,
        },
    };
    // The position's sign: a long (positive) is liquidated by a sell order.
    let (position, qty) = signed_amount(amount);
    let side = match position {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    };
    if !json::tradable(price, qty, "LIQUIDATION_PRICE", "AMOUNT")? {
        return Ok(false);
    }
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
    Ok(true)
}

/// A (possibly fractional) millisecond time → µs, truncated.
fn millis_decimal_to_micros(ms: Decimal) -> Option<i64> {
    if ms.mantissa < 0 {
        return None;
    }
    let micros = i128::from(ms.mantissa) * 1000 / 10i128.pow(u32::from(ms.scale));
    i64::try_from(micros).ok()
}

/// Bitfinex's entry in the venue registry ([`crate::registry`]).
pub const SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    decoder_per_connection: true,
    url: URL,
    keepalive: KEEPALIVE,
    max_symbols_per_conn: MAX_CHANNELS_PER_CONN - 1,
    trade_ids: crate::venue::TradeIds::Monotonic,
    rest_pace: crate::venue::RestPace {
        per_sec: 10.0 / 60.0,
        burst: 2.0,
    },
    rest_host: Some("https://api-pub.bitfinex.com"),
    subscribe: plan_subscribe,
    ..crate::venue::VenueSpec::new(crate::venue::Venue::Bitfinex, "bitfinex", "BITFINEX")
};

/// [`crate::venue::VenueSpec::subscribe`] of this module's venues.
fn plan_subscribe(
    _venue: crate::venue::Venue,
    symbols: &[&str],
    first: bool,
    _now_s: u64,
) -> Vec<String> {
    subscribe_messages(symbols, first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[&str]) -> Vec<(Result<Frame, DecodeError>, Vec<Event>)> {
        let mut decoder = Decoder::new();
        lines
            .iter()
            .map(|text| {
                let mut bytes = text.as_bytes().to_vec();
                let mut events = Vec::new();
                let frame = decoder.decode(&mut bytes, &mut |e| events.push(e));
                (frame, events)
            })
            .collect()
    }

    /// The docs' liquidation example (ws-public-status), followed by its market execution.
    #[test]
    fn liquidation_feed_counts_each_position_once() {
        let got = run(&[
            r#"{"event":"subscribed","channel":"status","chanId":91684,"key":"liq:global"}"#,
            r#"[91684,[["pos",142397657,1574697680828.2002,null,"tBTCF0:USTF0",-2.62932,91.583875238719,null,0,0,null,112.27]]]"#,
            r#"[91684,[["pos",142397657,1574697680829,null,"tBTCF0:USTF0",-2.62932,91.583875238719,null,1,1,null,112.27]]]"#,
            r#"[91684,"hb"]"#,
            r#"[91684,[["neg",1,1,null,"tBTCF0:USTF0",1,1,null,0,0,null,1]]]"#,
            // A trigger without a liquidation price: BASE_PRICE while no trade was seen…
            r#"[91684,[["pos",1,1574697680828,null,"tBTCF0:USTF0",2.5,91.5,null,0,0,null,null]]]"#,
            r#"{"event":"subscribed","channel":"trades","chanId":5,"symbol":"tBTCF0:USTF0"}"#,
            r#"[5,[[9,1574697680000,1,93.5],[8,1574697670000,1,93.1]]]"#,
            // …then the symbol's last trade price (the snapshot's newest).
            r#"[91684,[["pos",2,1574697680828,null,"tBTCF0:USTF0",2.5,91.5,null,0,0,null,null]]]"#,
            r#"[5,"te",[10,1574697690000,-1,92.25]]"#,
            r#"[91684,[["pos",3,1574697680828,null,"tBTCF0:USTF0",-1,91.5,null,0,0,null,null]]]"#,
            r#"[91684,[["pos",3,1574697680828,null,"tBTCF0:USTF0",-1,91.5,null,0,0,null,"x"]]]"#,
        ]);
        assert_eq!(got[0].0, Ok(Frame::SubscribeAck));
        assert_eq!(got[1].0, Ok(Frame::Data(1)));
        let e = got[1].1[0];
        assert_eq!(
            (e.kind, e.side, e.ts_us),
            (EventKind::Liquidation, Side::Buy, 1_574_697_680_828_200)
        );
        assert_eq!(
            (e.qty, e.price),
            (Decimal::new(262_932, 5), Decimal::new(11_227, 2))
        );
        assert_eq!(e.symbol.as_str(), "tBTCF0:USTF0");
        assert_eq!(got[2], (Ok(Frame::Data(0)), vec![]));
        assert_eq!(got[3].0, Ok(Frame::Other));
        assert_eq!(got[4].0, Err(DecodeError::Field("pos")));
        let prices: Vec<(Side, Decimal)> = [5, 8, 10]
            .iter()
            .map(|&i| (got[i].1[0].side, got[i].1[0].price))
            .collect();
        assert_eq!(
            prices,
            [
                (Side::Sell, Decimal::new(915, 1)),
                (Side::Sell, Decimal::new(935, 1)),
                (Side::Buy, Decimal::new(9225, 2))
            ]
        );
        assert_eq!(got[11].0, Err(DecodeError::Field("LIQUIDATION_PRICE")));
    }

    #[test]
    fn channels_are_remembered_per_connection() {
        let got = run(&[
            r#"[17470,"te",[401597395,1574694478808,0.005,7245.3]]"#,
            r#"{"event":"subscribed","channel":"trades","chanId":17470,"symbol":"tBTCUSD","pair":"BTCUSD"}"#,
            r#"[17470,"te",[401597395,1574694478808,-0.005,7245.3],12]"#,
            r#"[17470,"tu",[401597395,1574694478808,-0.005,7245.3]]"#,
            r#"[17470,"te",[401597395,1574694478808,"-0.005",7245.3]]"#,
            r#"{"event":"unsubscribed","status":"OK","chanId":17470}"#,
            r#"[17470,"hb"]"#,
            r#"{"event":"error","msg":"subscribe: limit","code":10305}"#,
            r#"{"event":"info","code":20051,"msg":"Stopping. Please try to reconnect"}"#,
        ]);
        assert_eq!(got[0].0, Err(DecodeError::Unknown));
        assert_eq!(got[2].0, Ok(Frame::Data(1)));
        assert_eq!(got[2].1[0].side, Side::Sell);
        assert_eq!(got[2].1[0].trade_id, Some(401_597_395));
        assert_eq!(got[3], (Ok(Frame::Data(0)), vec![]));
        assert_eq!(got[4].0, Err(DecodeError::Field("AMOUNT")));
        assert_eq!(got[6].0, Err(DecodeError::Unknown));
        assert_eq!(got[7].0, Ok(Frame::VenueError { code: 10305 }));
        assert_eq!(got[8].0, Ok(Frame::ServerShutdown));
    }

    #[test]
    fn subscribe_requests() {
        assert_eq!(
            subscribe_messages(&["tBTCUSD"], true),
            [
                r#"{"event":"subscribe","channel":"trades","symbol":"tBTCUSD"}"#,
                r#"{"event":"subscribe","channel":"status","key":"liq:global"}"#
            ]
        );
    }
}
