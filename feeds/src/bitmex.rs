//! BitMEX adapter (`ws.bitmex.com/realtime`): the `trade` and `liquidation` tables.
//!
//! The venue has closed ([`crate::Venue::closed`]); this decoder stays for old captures.
//!
//! - **Trades**: `partial` (the last trade before subscribing) and `insert` rows; `side` is
//!   the aggressor; `size` is in contracts, so the base quantity is BitMEX's own
//!   `homeNotional` (a JSON number, read from its literal; BitMEX rounds it). `trdMatchID` is
//!   a GUID, which does not fit `Event::trade_id` (and a 2026 `partial` carried the all-zero
//!   GUID): `None`.
//! - **Liquidations**: the table holds liquidation *orders*. An `insert` (or `partial` row)
//!   is one liquidation event of `leavesQty` contracts at `price`, `side` the order side
//!   (`Sell` = a long was liquidated). `update` and `delete` rows (the order filling or
//!   leaving) emit nothing, so an order counts once. `leavesQty` becomes base units through
//!   the instrument's [`ContractSpec`](crate::ContractSpec) (XBTUSD: inverse, 1 USD);
//!   an unknown instrument is [`DecodeError::Instrument`].
//! - **Liquidation time**: the table has **no timestamp**. The decoder stamps a liquidation
//!   with the latest exchange time it has seen on the connection: the welcome frame's
//!   `timestamp` and every trade row's `timestamp` advance it. Without any (no welcome frame
//!   yet) the row is `DecodeError::Field("timestamp")`, never a made-up time.
//! - Other frames: the text `pong` and the welcome `info` frame are `Other`; `success` acks
//!   are `SubscribeAck`; `{"status":400,"error":…}` is `VenueError { code: 400 }` (an
//!   `error` without `status` is code 0); other tables are `Other`.

use crate::event::{Event, EventKind, Side};
use crate::instruments::Instruments;
use crate::instruments::Specs;
use crate::json::{self, Parser, Val};
use crate::venue::Keepalive;
use crate::venue::{Decode, DecodeError, Frame, Venue};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// BitMEX realtime host.
pub const URL: &str = "wss://ws.bitmex.com/realtime";

/// Send the text `ping` (answered with `pong`) when nothing arrived for this long.
pub const KEEPALIVE: Keepalive = Keepalive::text("ping", Duration::from_secs(5));

/// BitMEX documents no topic limit per connection; we cap a connection at this many symbols.
pub const MAX_SYMBOLS_PER_CONN: usize = 100;

/// The subscribe request for `symbols` (`XBTUSD`, …): `trade` and `liquidation` per symbol.
pub fn subscribe_message(symbols: &[&str]) -> String {
    let topics: Vec<String> = symbols
        .iter()
        .flat_map(|s| [format!("trade:{s}"), format!("liquidation:{s}")])
        .collect();
    let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    format!(
        r#"{{"op":"subscribe","args":{}}}"#,
        json::string_array(&refs)
    )
}

/// Decoder for BitMEX frames.
pub struct Decoder {
    parser: Parser,
    specs: Specs,
    /// Latest exchange time seen on this connection (µs), 0 before any.
    clock_us: i64,
}

impl Decoder {
    /// A decoder using `instruments` for liquidation contract sizes.
    pub fn new(instruments: &Arc<Instruments>) -> Decoder {
        Decoder {
            parser: Parser::new(),
            specs: Specs::of(Venue::Bitmex, instruments),
            clock_us: 0,
        }
    }
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("bitmex::Decoder")
            .field("clock_us", &self.clock_us)
            .finish_non_exhaustive()
    }
}

impl Decode for Decoder {
    fn venue(&self) -> Venue {
        Venue::Bitmex
    }

    fn decode(
        &mut self,
        frame: &mut [u8],
        emit: &mut dyn FnMut(Event),
    ) -> Result<Frame, DecodeError> {
        if frame.trim_ascii() == b"pong" {
            return Ok(Frame::Other);
        }
        let (specs, clock) = (&self.specs, &mut self.clock_us);
        self.parser
            .parse(frame, |root| classify(root, specs, clock, emit))
    }
}

fn side(value: Option<Val<'_, '_>>) -> Result<Side, DecodeError> {
    match json::string(value, "side")? {
        "Buy" => Ok(Side::Buy),
        "Sell" => Ok(Side::Sell),
        _ => Err(DecodeError::Field("side")),
    }
}

fn classify(
    root: Val<'_, '_>,
    specs: &Specs,
    clock: &mut i64,
    emit: &mut dyn FnMut(Event),
) -> Result<Frame, DecodeError> {
    let fields = root.entries().ok_or(DecodeError::Unknown)?;
    let (mut table, mut action, mut data, mut success, mut status, mut error, mut info, mut ts) =
        (None, None, None, None, None, None, None, None);
    for (key, value) in fields {
        let slot = match key {
            "table" => &mut table,
            "action" => &mut action,
            "data" => &mut data,
            "success" => &mut success,
            "status" => &mut status,
            "error" => &mut error,
            "info" => &mut info,
            "timestamp" => &mut ts,
            _ => continue,
        };
        *slot = Some(value);
    }
    if let Some(table) = table {
        let action = json::string(action, "action")?;
        let rows = data
            .and_then(Val::elements)
            .ok_or(DecodeError::Field("data"))?;
        return match json::string(Some(table), "table")? {
            "trade" => {
                let mut n = 0;
                for row in rows {
                    let event = trade(row)?;
                    *clock = (*clock).max(event.ts_us);
                    emit(event);
                    n += 1;
                }
                Ok(Frame::Data(n))
            }
            "liquidation" => match action {
                "insert" | "partial" => {
                    let mut n = 0;
                    for row in rows {
                        emit(liquidation(row, specs, *clock)?);
                        n += 1;
                    }
                    Ok(Frame::Data(n))
                }
                "update" | "delete" => Ok(Frame::Data(0)),
                _ => Err(DecodeError::Field("action")),
            },
            _ => Ok(Frame::Other),
        };
    }
    if let Some(error) = error {
        json::string(Some(error), "error")?;
        let code = match status {
            Some(status) => json::signed_int(Some(status), "status")?,
            None => 0,
        };
        return Ok(Frame::VenueError { code });
    }
    if let Some(success) = success {
        return match success.as_bool() {
            Some(true) => Ok(Frame::SubscribeAck),
            Some(false) => Ok(Frame::VenueError { code: 0 }),
            None => Err(DecodeError::Field("success")),
        };
    }
    if info.is_some() {
        if let Some(ts) = ts {
            *clock = (*clock).max(json::rfc3339(Some(ts), "timestamp")?);
        }
        return Ok(Frame::Other);
    }
    Err(DecodeError::Unknown)
}

pub(crate) fn trade(row: Val<'_, '_>) -> Result<Event, DecodeError> {
    let (mut ts, mut symbol, mut side_v, mut price, mut home) = (None, None, None, None, None);
    for (key, value) in row.entries().ok_or(DecodeError::Field("data"))? {
        let slot = match key {
            "timestamp" => &mut ts,
            "symbol" => &mut symbol,
            "side" => &mut side_v,
            "price" => &mut price,
            "homeNotional" => &mut home,
            _ => continue,
        };
        *slot = Some(value);
    }
    let event = Event {
        kind: EventKind::Trade,
        side: side(side_v)?,
        symbol: json::symbol(symbol, "symbol")?,
        price: json::decimal_num(price, "price")?,
        qty: json::decimal_num(home, "homeNotional")?,
        ts_us: json::rfc3339(ts, "timestamp")?,
        trade_id: None,
        fills: 1,
    };
    if !json::tradable(event.price, event.qty, "price", "homeNotional")? {
        return Err(DecodeError::Number("homeNotional"));
    }
    Ok(event)
}

fn liquidation(row: Val<'_, '_>, specs: &Specs, clock_us: i64) -> Result<Event, DecodeError> {
    let (mut symbol, mut side_v, mut price, mut leaves) = (None, None, None, None);
    for (key, value) in row.entries().ok_or(DecodeError::Field("data"))? {
        let slot = match key {
            "symbol" => &mut symbol,
            "side" => &mut side_v,
            "price" => &mut price,
            "leavesQty" => &mut leaves,
            _ => continue,
        };
        *slot = Some(value);
    }
    let symbol = json::symbol(symbol, "symbol")?;
    let side = side(side_v)?;
    let price = json::decimal_num(price, "price")?;
    let contracts = json::decimal_num(leaves, "leavesQty")?;
    if !json::tradable(price, contracts, "price", "leavesQty")? {
        return Err(DecodeError::Number("leavesQty"));
    }
    let qty = specs.base_qty(&symbol, contracts, price, "leavesQty")?;
    if clock_us == 0 {
        return Err(DecodeError::Field("timestamp"));
    }
    Ok(Event {
        kind: EventKind::Liquidation,
        side,
        symbol,
        price,
        qty,
        ts_us: clock_us,
        trade_id: None,
        fills: 1,
    })
}

/// Bitmex's entry in the venue registry ([`crate::registry`]).
pub const SPEC: crate::venue::VenueSpec = crate::venue::VenueSpec {
    // bitmex.com/blog/bitmex-closure (2026-07-23); gocryptotrader #2295, ccxt #29914.
    perp: true,
    closed: Some("BitMEX ceased operations on 2026-09-23 04:00 UTC (closure announced 2026-07-23)"),
    decoder_per_connection: true,
    url: URL,
    keepalive: KEEPALIVE,
    max_symbols_per_conn: MAX_SYMBOLS_PER_CONN,
    rest_pace: crate::venue::RestPace {
        per_sec: 0.4,
        burst: 2.0,
    },
    rest_host: Some("https://www.bitmex.com"),
    subscribe: plan_subscribe,
    ..crate::venue::VenueSpec::new(crate::venue::Venue::Bitmex, "bitmex", "BITMEX")
};

/// [`crate::venue::VenueSpec::subscribe`] of this module's venues.
fn plan_subscribe(
    _venue: crate::venue::Venue,
    symbols: &[&str],
    _first: bool,
    _now_s: u64,
) -> Vec<String> {
    vec![subscribe_message(symbols)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Decimal;

    fn decode_all(lines: &[&str]) -> Vec<(Result<Frame, DecodeError>, Vec<Event>)> {
        let mut decoder = Decoder::new(&Instruments::bundled());
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

    const LIQ: &str = r#"{"table":"liquidation","action":"insert","data":[{"orderID":"749134b5-8b4e-48d3-ab56-3495e8c58957","symbol":"XBTUSD","side":"Sell","price":90396.3,"leavesQty":891800}]}"#;

    #[test]
    fn liquidations_take_the_connection_clock() {
        let got = decode_all(&[
            LIQ,
            r#"{"info":"Welcome to the BitMEX Realtime API.","version":"2.0.0","timestamp":"2026-09-02T07:44:44.033Z"}"#,
            LIQ,
            r#"{"table":"liquidation","action":"update","data":[{"orderID":"749134b5","symbol":"XBTUSD","leavesQty":855700}]}"#,
            &LIQ.replace("XBTUSD", "NOPEUSD"),
        ]);
        assert_eq!(got[0].0, Err(DecodeError::Field("timestamp")));
        assert_eq!(got[1].0, Ok(Frame::Other));
        assert_eq!(got[2].0, Ok(Frame::Data(1)));
        let e = got[2].1[0];
        assert_eq!(
            (e.kind, e.side, e.ts_us),
            (EventKind::Liquidation, Side::Sell, 1_788_335_084_033_000)
        );
        assert!((e.qty.to_f64() - 891_800.0 / 90_396.3).abs() < 1e-12);
        assert_eq!(got[3], (Ok(Frame::Data(0)), vec![]));
        assert_eq!(got[4].0, Err(DecodeError::Instrument));
    }

    #[test]
    fn frames_without_events() {
        let got = decode_all(&[
            "pong",
            r#"{"success":true,"subscribe":"trade:XBTUSD"}"#,
            r#"{"status":400,"error":"Unrecognized request.","meta":{},"request":{}}"#,
            r#"{"table":"instrument","action":"update","data":[{"symbol":"XBTUSD","openInterest":1}]}"#,
            r#"{"table":"trade","action":"insert","data":[{"timestamp":"2021-07-22T22:36:11.685Z","symbol":"XBTUSD","side":"Buy","size":100,"price":32180.5,"homeNotional":"0.1"}]}"#,
            r#"{"nothing":1}"#,
        ]);
        assert_eq!(got[0].0, Ok(Frame::Other));
        assert_eq!(got[1].0, Ok(Frame::SubscribeAck));
        assert_eq!(got[2].0, Ok(Frame::VenueError { code: 400 }));
        assert_eq!(got[3].0, Ok(Frame::Other));
        assert_eq!(got[4].0, Err(DecodeError::Field("homeNotional")));
        assert_eq!(got[5].0, Err(DecodeError::Unknown));
    }

    #[test]
    fn trades_use_home_notional() {
        let got = decode_all(&[
            r#"{"table":"trade","action":"insert","data":[{"timestamp":"2021-07-22T22:36:11.685Z","symbol":"XBTUSD","side":"Buy","size":100,"price":32180.5,"trdMatchID":"6e70bebe-235e-08a6-d11b-e1042bf1f2ed","homeNotional":0.00310747,"foreignNotional":100}]}"#,
        ]);
        let e = got[0].1[0];
        assert_eq!(e.qty, Decimal::new(310_747, 8));
        assert_eq!(e.trade_id, None);
    }

    #[test]
    fn subscribe_request() {
        assert_eq!(
            subscribe_message(&["XBTUSD"]),
            r#"{"op":"subscribe","args":["trade:XBTUSD","liquidation:XBTUSD"]}"#
        );
    }
}
