//! Binance `aggTrades` (spot `/api/v3`, USDⓈ-M `/fapi/v1`, COIN-M `/dapi/v1`).
//!
//! `GET …/aggTrades?symbol=BTCUSDT&startTime=ms&endTime=ms&limit=1000` (the range at most one
//! hour), then `…&fromId=<a+1>&limit=1000` while pages are full; ascending by `a`:
//! `[{"a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,"T":1498793709153,"m":true,"M":true}]`.
//! Errors: `{"code":-1003,"msg":"Too many requests…"}` (with HTTP 429/418) is a rate limit;
//! any other `{"code","msg"}` a venue error.
//!
//! Events as the WebSocket decoder makes them: `m` true → taker sold; prices and sizes are
//! strings; zero sizes are dropped. Ids: the spot feed follows `@trade` ids, which an
//! aggregate covers as `f..=l`, so `trade_id` = `l` and `fills` = `l − f + 1`; the USDⓈ-M and
//! COIN-M feeds follow `@aggTrade` ids (USDⓈ-M since the 2026 route split, see
//! `binance::subscribe`), so `trade_id` = `a` (and `fills` = `l − f + 1` all the same), and a
//! gap between two known aggregate ids is fetched by `fromId` directly.
//! COIN-M `q` counts contracts, converted exactly as the COIN-M WS decoder converts them.

use super::{push_encoded, Cursor, PageError, RestError, Step, Window};
use crate::event::{Event, EventKind, Side, Symbol};
use crate::instruments::Specs;
use crate::json::{self, Val};
use crate::venue::{DecodeError, Venue};

/// Records per page (the endpoint's maximum).
pub(super) const LIMIT: usize = 1000;

/// Longest `startTime`..`endTime` range the endpoint accepts: "less than 1 hour".
const RANGE_MS: i64 = 3_600_000 - 1;

/// Binance's "too many requests" code (sent with HTTP 429, and 418 once banned).
const TOO_MANY_REQUESTS: i64 = -1003;

fn prefix(venue: Venue) -> &'static str {
    match venue {
        Venue::BinanceUsdm => "/fapi/v1",
        Venue::BinanceCoinm => "/dapi/v1",
        _ => "/api/v3",
    }
}

/// Whether `venue`'s feed follows aggregate ids `a` (USDⓈ-M and COIN-M read `@aggTrade`)
/// rather than `@trade` ids (spot).
pub(super) fn follows_agg_ids(venue: Venue) -> bool {
    matches!(venue, Venue::BinanceUsdm | Venue::BinanceCoinm)
}

/// Futures gaps are in aggregate ids, which `fromId` addresses directly; otherwise by time.
pub(super) fn first(venue: Venue, w: &Window) -> Cursor {
    if follows_agg_ids(venue) && w.after_id != 0 {
        return Cursor::Id(w.after_id.saturating_add(1));
    }
    let start_ms = w.from_us.div_euclid(1000);
    Cursor::Range {
        start_ms,
        end_ms: (start_ms + RANGE_MS).min(w.to_us.div_euclid(1000)),
    }
}

pub(super) fn path(venue: Venue, symbol: &str, cursor: Cursor) -> String {
    let mut p = format!("{}/aggTrades?symbol=", prefix(venue));
    push_encoded(&mut p, symbol);
    match cursor {
        Cursor::Range { start_ms, end_ms } => {
            p.push_str(&format!("&startTime={start_ms}&endTime={end_ms}"));
        }
        Cursor::Id(id) => p.push_str(&format!("&fromId={id}")),
        _ => {}
    }
    p.push_str(&format!("&limit={LIMIT}"));
    p
}

/// `{"code":…,"msg":…}`.
pub(super) fn error(root: Val<'_, '_>) -> Option<RestError> {
    let [code, msg] = json::pick(root, ["code", "msg"])?;
    let code = json::signed(code, "code").ok()?;
    let msg = super::message(json::string(msg, "msg").unwrap_or(""));
    Some(if code == TOO_MANY_REQUESTS {
        RestError::RateLimited { code, msg }
    } else {
        RestError::Venue { code, msg }
    })
}

pub(super) fn page(
    venue: Venue,
    coinm: &Specs,
    symbol: Symbol,
    w: &Window,
    cursor: Cursor,
    root: Val<'_, '_>,
    out: &mut Vec<Event>,
) -> Result<Step, PageError> {
    let Some(items) = root.elements() else {
        return Err(error(root).map_or(PageError::Decode(DecodeError::Unknown), PageError::Rest));
    };
    let mut n = 0usize;
    let mut last: Option<(u64, i64, u64)> = None; // (a, T µs, f)
    for item in items {
        n += 1;
        let [a, p, q, f, l, t, m] =
            json::object(Some(item), "trade", ["a", "p", "q", "f", "l", "T", "m"])?;
        let agg = json::unsigned(a, "a")?;
        let price = json::decimal_str(p, "p")?;
        let size = json::decimal_str(q, "q")?;
        let first = json::unsigned(f, "f")?;
        let lastid = json::unsigned(l, "l")?;
        let ts_us = json::millis(t, "T")?;
        // `m`: "is the buyer the maker?" — if so the taker sold.
        let side = if json::boolean(m, "m")? {
            Side::Sell
        } else {
            Side::Buy
        };
        let fills = lastid
            .checked_sub(first)
            .and_then(|n| n.checked_add(1))
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(DecodeError::Number("l"))?;
        last = Some((agg, ts_us, first));
        if !json::tradable(price, size, "p", "q")? {
            continue;
        }
        let qty = if venue == Venue::BinanceCoinm {
            coinm.base_qty(&symbol, size, price, "q")?
        } else {
            size
        };
        let trade_id = if follows_agg_ids(venue) { agg } else { lastid };
        out.push(Event {
            kind: EventKind::Trade,
            side,
            symbol,
            price,
            qty,
            ts_us,
            trade_id: Some(trade_id),
            fills,
        });
    }
    let past_end = |ts_us: i64, first: u64, agg: u64| {
        ts_us > w.to_us
            || (w.before_id != 0
                && if follows_agg_ids(venue) {
                    agg >= w.before_id
                } else {
                    first >= w.before_id
                })
    };
    if let Some((agg, ts_us, first)) = last {
        if past_end(ts_us, first, agg) {
            return Ok(Step::done());
        }
        if n >= LIMIT {
            return Ok(Step::more(Cursor::Id(agg.saturating_add(1))));
        }
    }
    // A short page: the range (or, from an id, the venue's history) is exhausted.
    match cursor {
        Cursor::Range { end_ms, .. } if end_ms < w.to_us.div_euclid(1000) => {
            let start_ms = end_ms + 1;
            Ok(Step::more(Cursor::Range {
                start_ms,
                end_ms: (start_ms + RANGE_MS).min(w.to_us.div_euclid(1000)),
            }))
        }
        _ => Ok(Step::done()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::event::Decimal;

    /// The docs' example record.
    const DOC: &str = r#"[{"a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,"T":1498793709153,"m":true,"M":true}]"#;

    #[test]
    fn requests_by_range_then_by_id() {
        let w = window(1_498_793_709_153_000, 1_498_793_709_153_000 + 7_200_000_000);
        let mut p = pager(Venue::BinanceSpot, "BTCUSDT", w);
        assert_eq!(
            p.request().unwrap(),
            "/api/v3/aggTrades?symbol=BTCUSDT&startTime=1498793709153&endTime=1498797309152&limit=1000"
        );
        // A full page continues from the next aggregate id.
        let full = page_of(1000, |i| {
            format!(
                r#"{{"a":{},"p":"1","q":"1","f":{},"l":{},"T":{},"m":false,"M":true}}"#,
                100 + i,
                500 + i,
                500 + i,
                1_498_793_709_153u64 + i as u64
            )
        });
        let got = feed(&mut p, &full).unwrap();
        assert_eq!(got.len(), 1000);
        assert_eq!(
            p.request().unwrap(),
            "/api/v3/aggTrades?symbol=BTCUSDT&fromId=1100&limit=1000"
        );
        // A page reaching past the window ends the walk.
        let past = r#"[{"a":1100,"p":"1","q":"1","f":1500,"l":1500,"T":1498800909154,"m":false}]"#;
        feed(&mut p, past).unwrap();
        assert!(p.is_done());
    }

    #[test]
    fn short_pages_step_through_hour_ranges() {
        let from = 1_700_000_000_000_000;
        let mut p = pager(
            Venue::BinanceUsdm,
            "BTCUSDT",
            window(from, from + 5_400_000_000),
        );
        feed(&mut p, "[]").unwrap();
        assert_eq!(
            p.request().unwrap(),
            "/fapi/v1/aggTrades?symbol=BTCUSDT&startTime=1700003600000&endTime=1700005400000&limit=1000"
        );
        feed(&mut p, "[]").unwrap();
        assert!(p.is_done());
    }

    #[test]
    fn doc_record_and_ids() {
        let mut p = pager(Venue::BinanceSpot, "BTCUSDT", window(0, i64::MAX / 2));
        let got = feed(&mut p, DOC).unwrap();
        assert_eq!(
            got,
            vec![Event {
                kind: EventKind::Trade,
                side: Side::Sell,
                symbol: sym("BTCUSDT"),
                price: dec("0.01633102"),
                qty: dec("4.70443515"),
                ts_us: 1_498_793_709_153_000,
                trade_id: Some(27781),
                fills: 1,
            }]
        );
        // Spot follows `@trade` ids: the aggregate stands for ids `f..=l`.
        let spread = r#"[{"a":7,"p":"2","q":"3","f":10,"l":14,"T":1,"m":false}]"#;
        let mut p = pager(Venue::BinanceSpot, "BTCUSDT", window(0, 10));
        let got = feed(&mut p, spread).unwrap();
        assert_eq!(
            (got[0].trade_id, got[0].fills, got[0].side),
            (Some(14), 5, Side::Buy)
        );
        assert_eq!(
            super::super::id_span(Venue::BinanceSpot, &got[0]),
            Some((10, 14))
        );
        // USDⓈ-M follows `@aggTrade` ids: the aggregate is id `a`, with 5 fills.
        let mut p = pager(Venue::BinanceUsdm, "BTCUSDT", window(0, 10));
        let got = feed(&mut p, spread).unwrap();
        assert_eq!(
            (got[0].trade_id, got[0].fills, got[0].side),
            (Some(7), 5, Side::Buy)
        );
        assert_eq!(
            super::super::id_span(Venue::BinanceUsdm, &got[0]),
            Some((7, 7))
        );
    }

    /// A REST aggregate and the `@trade` frame of the same fill decode to equal events.
    #[test]
    fn rest_equals_websocket() {
        let ws = r#"{"e":"trade","E":1787315652708,"s":"BTCUSDT","t":6595931385,"p":"76650.00000000","q":"0.00040000","T":1787315652707,"m":true,"M":true}"#;
        let rest = r#"[{"a":3000000001,"p":"76650.00000000","q":"0.00040000","f":6595931385,"l":6595931385,"T":1787315652707,"m":true,"M":true}]"#;
        let mut p = pager(Venue::BinanceSpot, "BTCUSDT", window(0, i64::MAX / 2));
        assert_eq!(
            feed(&mut p, rest).unwrap(),
            ws_events(Venue::BinanceSpot, ws)
        );
        // COIN-M: the aggregate id on both sides; contracts → base the same way.
        let ws = r#"{"e":"aggTrade","E":1781416439080,"a":412345678,"s":"BTCUSD_PERP","p":"64339.2","q":"12","f":700000001,"l":700000003,"T":1781416438926,"m":false}"#;
        let rest = r#"[{"a":412345678,"p":"64339.2","q":"12","f":700000001,"l":700000003,"T":1781416438926,"m":false}]"#;
        let mut p = pager(Venue::BinanceCoinm, "BTCUSD_PERP", window(0, i64::MAX / 2));
        let got = feed(&mut p, rest).unwrap();
        assert_eq!(got, ws_events(Venue::BinanceCoinm, ws));
        assert_eq!((got[0].trade_id, got[0].fills), (Some(412_345_678), 3));
        assert_ne!(got[0].qty, Decimal::new(12, 0), "contracts were converted");
        // USDⓈ-M: the `@aggTrade` frame the feed reads (a real 2026 frame, with `nq` and
        // `st`) and its REST record decode alike, id `a`, fills `l − f + 1`.
        let ws = r#"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1791391082024,"a":3478018549,"s":"BTCUSDT","p":"83434.40","q":"0.016","nq":"0.016","f":8154045700,"l":8154045704,"T":1791391081874,"m":true,"st":1}}"#;
        let rest = r#"[{"a":3478018549,"p":"83434.40","q":"0.016","f":8154045700,"l":8154045704,"T":1791391081874,"m":true}]"#;
        let mut p = pager(Venue::BinanceUsdm, "BTCUSDT", window(0, i64::MAX / 2));
        let got = feed(&mut p, rest).unwrap();
        assert_eq!(got, ws_events(Venue::BinanceUsdm, ws));
        assert_eq!((got[0].trade_id, got[0].fills), (Some(3_478_018_549), 5));
    }

    #[test]
    fn futures_gaps_start_from_the_id_after_the_gap() {
        let mut w = window(0, i64::MAX / 2);
        w.after_id = 41;
        w.before_id = 45;
        for (venue, sym, want) in [
            (
                Venue::BinanceCoinm,
                "BTCUSD_PERP",
                "/dapi/v1/aggTrades?symbol=BTCUSD_PERP&fromId=42&limit=1000",
            ),
            (
                Venue::BinanceUsdm,
                "BTCUSDT",
                "/fapi/v1/aggTrades?symbol=BTCUSDT&fromId=42&limit=1000",
            ),
        ] {
            let mut p = pager(venue, sym, w);
            assert_eq!(p.request().unwrap(), want);
            // `f`/`l` (fill ids) far above the aggregate ids do not end the walk…
            let rest = r#"[{"a":42,"p":"1","q":"1","f":900,"l":902,"T":1,"m":false},{"a":43,"p":"1","q":"1","f":903,"l":903,"T":1,"m":false}]"#;
            let got = feed(&mut p, rest).unwrap();
            let ids: Vec<_> = got.iter().map(|e| (e.trade_id, e.fills)).collect();
            assert_eq!(ids, [(Some(42), 3), (Some(43), 1)], "{venue}");
            // …the aggregate id after the gap does.
            let mut p = pager(venue, sym, w);
            let rest = r#"[{"a":45,"p":"1","q":"1","f":1,"l":1,"T":1,"m":false}]"#;
            feed(&mut p, rest).unwrap();
            assert!(p.is_done(), "{venue}: reached the id after the gap");
        }
    }

    #[test]
    fn errors_are_typed() {
        let mut p = pager(Venue::BinanceSpot, "BTCUSDT", window(0, 1));
        assert!(matches!(
            feed(
                &mut p,
                r#"{"code":-1003,"msg":"Too many requests; current limit is 6000 request weight per 1 MINUTE."}"#
            ),
            Err(RestError::RateLimited { code: -1003, .. })
        ));
        assert!(matches!(
            feed(&mut p, r#"{"code":-1121,"msg":"Invalid symbol."}"#),
            Err(RestError::Venue { code: -1121, .. })
        ));
        assert_eq!(
            feed(
                &mut p,
                r#"[{"a":1,"p":"1","q":"1","f":2,"l":1,"T":1,"m":true}]"#
            ),
            Err(RestError::Decode(DecodeError::Number("l")))
        );
        assert_eq!(
            feed(
                &mut p,
                r#"[{"a":1,"p":1.5,"q":"1","f":1,"l":1,"T":1,"m":true}]"#
            ),
            Err(RestError::Decode(DecodeError::Field("p")))
        );
        assert_eq!(
            feed(&mut p, r#"[{"a":1,"p":"1""#),
            Err(RestError::Decode(DecodeError::Malformed))
        );
        assert!(!p.is_done(), "a refused page stays current");
        let mut coinm = pager(Venue::BinanceCoinm, "NOPE_PERP", window(0, 1));
        assert_eq!(
            feed(
                &mut coinm,
                r#"[{"a":1,"p":"1","q":"1","f":1,"l":1,"T":1,"m":true}]"#
            ),
            Err(RestError::Decode(DecodeError::Instrument))
        );
    }
}
