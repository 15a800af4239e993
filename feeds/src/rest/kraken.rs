//! Kraken spot `GET /0/public/Trades?pair=XBTUSD&since=<ns>&count=1000`.
//!
//! Ascending from `since`; `result.last` (ns) is the `since` of the next page:
//! `{"error":[],"result":{"XXBTZUSD":[["30243.40000","0.34507674",1688669597.8277369,"b","m","",61044952]],"last":"1688671969993150842"}}`.
//! Each entry is `[price, volume, time (s, JSON number), b|s, m|l, misc, trade_id]`; `b`/`s`
//! is the side of the triggering (taker) order, as the v2 WebSocket `side`. Errors come in
//! `error` (`["EAPI:Rate limit exceeded"]`, `["EGeneral:Too many requests"]` are rate limits).
//!
//! The market's symbol is the v2 WebSocket name (`BTC/USD`); the request spells the pair the
//! REST way (`XBTUSD`: v1 asset names, no slash). The time is read from its literal and
//! truncated to µs, which is the v2 `timestamp`'s precision.

use super::{Cursor, PageError, RestError, Step, Window};
use crate::event::{Decimal, Event, EventKind, Side, Symbol};
use crate::json::{self, Val};
use crate::venue::DecodeError;

/// Records asked per page (the endpoint's maximum).
const LIMIT: usize = 1000;

pub(super) fn first(w: &Window) -> Cursor {
    // `since` is exclusive; one ns earlier includes a trade at the window start.
    Cursor::Ns(
        u64::try_from(w.from_us.max(0))
            .unwrap_or(0)
            .saturating_mul(1000)
            .saturating_sub(1),
    )
}

pub(super) fn path(symbol: &str, cursor: Cursor) -> String {
    let pair: String = crate::kraken::v1_pair(symbol)
        .chars()
        .filter(|c| *c != '/')
        .collect();
    let mut p = String::from("/0/public/Trades?pair=");
    super::push_encoded(&mut p, &pair);
    if let Cursor::Ns(since) = cursor {
        p.push_str(&format!("&since={since}"));
    }
    p.push_str(&format!("&count={LIMIT}"));
    p
}

/// A non-empty `error` array.
pub(super) fn error(root: Val<'_, '_>) -> Option<RestError> {
    let errors = root.get("error")?;
    let first = errors.elements()?.next()?;
    let msg = super::message(first.str().unwrap_or(""));
    Some(
        if msg.contains("Rate limit") || msg.contains("Too many requests") {
            RestError::RateLimited { code: 0, msg }
        } else {
            RestError::Venue { code: 0, msg }
        },
    )
}

/// `1688669597.8277369` (seconds) → µs, truncated.
fn seconds_to_us(v: Option<Val<'_, '_>>) -> Result<i64, DecodeError> {
    let text = v.and_then(Val::literal).ok_or(DecodeError::Field("time"))?;
    let d = Decimal::parse(text).ok_or(DecodeError::Number("time"))?;
    if d.mantissa < 0 {
        return Err(DecodeError::Number("time"));
    }
    let us = if d.scale <= 6 {
        d.mantissa.checked_mul(10i64.pow(6 - u32::from(d.scale)))
    } else {
        Some(d.mantissa / 10i64.pow(u32::from(d.scale) - 6))
    };
    us.ok_or(DecodeError::Number("time"))
}

pub(super) fn page(
    symbol: Symbol,
    w: &Window,
    root: Val<'_, '_>,
    out: &mut Vec<Event>,
) -> Result<Step, PageError> {
    if let Some(e) = error(root) {
        return Err(e.into());
    }
    let result = root
        .get("result")
        .and_then(Val::entries)
        .ok_or(DecodeError::Field("result"))?;
    let (mut trades, mut last) = (None, None);
    for (key, value) in result {
        if key == "last" {
            last = Some(value);
        } else if trades.is_none() {
            trades = Some(value);
        }
    }
    let last = match last {
        Some(v) => match v.str() {
            Some(s) => s.parse::<u64>().map_err(|_| DecodeError::Number("last"))?,
            None => json::unsigned_int(Some(v), "last")?,
        },
        None => return Err(DecodeError::Field("last").into()),
    };
    let trades = trades
        .and_then(Val::elements)
        .ok_or(DecodeError::Field("result"))?;
    let mut newest: Option<(i64, u64)> = None;
    for t in trades {
        if !t.is_array() {
            return Err(DecodeError::Field("trade").into());
        }
        let price = json::decimal_str(t.index(0), "price")?;
        let qty = json::decimal_str(t.index(1), "volume")?;
        let ts_us = seconds_to_us(t.index(2))?;
        let side = match json::string(t.index(3), "side")? {
            "b" => Side::Buy,
            "s" => Side::Sell,
            _ => return Err(DecodeError::Field("side").into()),
        };
        let trade_id = json::unsigned_int(t.index(6), "trade_id")?;
        // As on the v2 feed: a trade always has a positive size.
        if !json::tradable(price, qty, "price", "volume")? {
            return Err(DecodeError::Number("volume").into());
        }
        newest = Some((ts_us, trade_id));
        out.push(Event {
            kind: EventKind::Trade,
            side,
            symbol,
            price,
            qty,
            ts_us,
            trade_id: Some(trade_id),
            fills: 1,
        });
    }
    // A page may hold fewer than `count` trades with more to come (a page is not ended
    // inside a group of trades of equal time, whose rest the next `since` would skip), so
    // only an empty page, or one reaching past the window, ends the walk.
    let Some((newest_ts, newest_id)) = newest else {
        return Ok(Step::done());
    };
    if newest_ts > w.to_us || (w.before_id != 0 && newest_id >= w.before_id) {
        return Ok(Step::done());
    }
    Ok(Step::more(Cursor::Ns(last)))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::venue::Venue;

    /// The docs' example response.
    const DOC: &str = r#"{"error":[],"result":{"XXBTZUSD":[["30243.40000","0.34507674",1688669597.8277369,"b","m","",61044952],["30243.30000","0.00376960",1688669598.2804112,"s","l","",61044953]],"last":"1688671969993150842"}}"#;

    #[test]
    fn doc_response() {
        let mut p = pager(
            Venue::KrakenSpot,
            "BTC/USD",
            window(1_688_669_597_000_000, 1_688_669_599_000_000),
        );
        assert_eq!(
            p.request().unwrap(),
            "/0/public/Trades?pair=XBTUSD&since=1688669596999999999&count=1000"
        );
        let got = feed(&mut p, DOC).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            Event {
                kind: EventKind::Trade,
                side: Side::Buy,
                symbol: sym("BTC/USD"),
                price: dec("30243.4"),
                qty: dec("0.34507674"),
                ts_us: 1_688_669_597_827_736,
                trade_id: Some(61_044_952),
                fills: 1,
            }
        );
        assert_eq!(
            (got[1].side, got[1].trade_id),
            (Side::Sell, Some(61_044_953))
        );
        assert_eq!(
            p.request().unwrap(),
            "/0/public/Trades?pair=XBTUSD&since=1688671969993150842&count=1000",
            "a short page may not be the end"
        );
        let empty = r#"{"error":[],"result":{"XXBTZUSD":[],"last":"1688671969993150842"}}"#;
        feed(&mut p, empty).unwrap();
        assert!(p.is_done(), "an empty page is");
        let mut p = pager(
            Venue::KrakenSpot,
            "BTC/USD",
            window(0, 1_688_669_598_000_000),
        );
        feed(&mut p, DOC).unwrap();
        assert!(p.is_done(), "a page reaching past the window end is");
    }

    #[test]
    fn full_pages_continue_from_last() {
        let body = page_of(1000, |i| {
            format!(r#"["1.0","1.0",1700000000.{i:04},"b","m","",{}]"#, 10 + i)
        });
        let body = format!(
            r#"{{"error":[],"result":{{"XXBTZUSD":{body},"last":"1700000000099900000"}}}}"#
        );
        let mut p = pager(Venue::KrakenSpot, "BTC/USD", window(0, i64::MAX / 2));
        assert_eq!(feed(&mut p, &body).unwrap().len(), 1000);
        assert_eq!(
            p.request().unwrap(),
            "/0/public/Trades?pair=XBTUSD&since=1700000000099900000&count=1000"
        );
    }

    #[test]
    fn rest_equals_websocket() {
        let ws = r#"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":83744.3,"qty":0.00044780,"ord_type":"limit","trade_id":109116693,"timestamp":"2026-09-25T17:48:26.844359Z"}]}"#;
        let rest = r#"{"error":[],"result":{"XXBTZUSD":[["83744.30000","0.00044780",1790358506.8443592,"b","l","",109116693]],"last":"1790358506844359200"}}"#;
        let mut p = pager(Venue::KrakenSpot, "BTC/USD", window(0, i64::MAX / 2));
        assert_eq!(
            feed(&mut p, rest).unwrap(),
            ws_events(Venue::KrakenSpot, ws)
        );
    }

    #[test]
    fn errors_are_typed() {
        let mut p = pager(Venue::KrakenSpot, "BTC/USD", window(0, 1));
        assert!(matches!(
            feed(&mut p, r#"{"error":["EAPI:Rate limit exceeded"]}"#),
            Err(RestError::RateLimited { .. })
        ));
        assert!(matches!(
            feed(&mut p, r#"{"error":["EQuery:Unknown asset pair"]}"#),
            Err(RestError::Venue { .. })
        ));
        assert_eq!(
            feed(
                &mut p,
                r#"{"error":[],"result":{"XXBTZUSD":[["1","1",1.5,"x","m","",1]],"last":"1"}}"#
            ),
            Err(RestError::Decode(DecodeError::Field("side")))
        );
        assert_eq!(
            feed(
                &mut p,
                r#"{"error":[],"result":{"XXBTZUSD":[["1","1",1.5,"b","m",""]],"last":"1"}}"#
            ),
            Err(RestError::Decode(DecodeError::Field("trade_id")))
        );
    }
}
