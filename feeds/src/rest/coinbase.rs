//! Coinbase Exchange `GET /products/{product_id}/trades?limit=1000&after=<trade_id>`.
//!
//! Newest first; `after` (the `CB-AFTER` header of the previous page, which is its oldest
//! `trade_id`) asks for older trades. Records carry no product id:
//! `[{"time":"2026-08-09T21:05:51.426861Z","trade_id":74,"price":"10.00000000","size":"0.01000000","side":"buy"}]`.
//! Docs: "The side of a trade indicates the maker order side", as on the `matches` channel,
//! so the taker side is the opposite (the WS decoder's own conversion is used). Errors are
//! `{"message":"…"}`; "rate limit" in the message (HTTP 429) is a rate limit.

use super::{Cursor, PageError, RestError, Step, Window};
use crate::event::{Event, EventKind, Symbol};
use crate::json::{self, Val};

/// Records per page (the endpoint's maximum).
const LIMIT: usize = 1000;

pub(super) fn first(w: &Window) -> Cursor {
    if w.before_id != 0 {
        Cursor::Id(w.before_id)
    } else {
        Cursor::Latest
    }
}

pub(super) fn path(product: &str, cursor: Cursor) -> String {
    let mut p = String::from("/products/");
    super::push_encoded(&mut p, product);
    p.push_str(&format!("/trades?limit={LIMIT}"));
    if let Cursor::Id(id) = cursor {
        p.push_str(&format!("&after={id}"));
    }
    p
}

/// `{"message":"…"}`.
pub(super) fn error(root: Val<'_, '_>) -> Option<RestError> {
    let msg = super::message(root.get("message")?.str()?);
    Some(if msg.to_ascii_lowercase().contains("rate limit") {
        RestError::RateLimited { code: 429, msg }
    } else {
        RestError::Venue { code: 0, msg }
    })
}

pub(super) fn page(
    symbol: Symbol,
    w: &Window,
    root: Val<'_, '_>,
    out: &mut Vec<Event>,
) -> Result<Step, PageError> {
    let Some(items) = root.elements() else {
        return Err(error(root).map_or(
            PageError::Decode(crate::venue::DecodeError::Unknown),
            PageError::Rest,
        ));
    };
    let mut n = 0usize;
    let mut oldest: Option<(u64, i64)> = None;
    for item in items {
        n += 1;
        if item.entries().is_none() {
            return Err(crate::venue::DecodeError::Field("trade").into());
        }
        let trade_id = json::unsigned_int(item.get("trade_id"), "trade_id")?;
        let event = Event {
            kind: EventKind::Trade,
            side: crate::coinbase::taker_from_maker(item.get("side"))?,
            symbol,
            price: json::decimal_str(item.get("price"), "price")?,
            qty: json::decimal_str(item.get("size"), "size")?,
            ts_us: json::rfc3339(item.get("time"), "time")?,
            trade_id: Some(trade_id),
            fills: 1,
        };
        // As on the WebSocket feed: a match always has a positive size.
        if !json::tradable(event.price, event.qty, "price", "size")? {
            return Err(crate::venue::DecodeError::Number("size").into());
        }
        if oldest.is_none_or(|(id, _)| trade_id < id) {
            oldest = Some((trade_id, event.ts_us));
        }
        out.push(event);
    }
    let Some((oldest_id, oldest_ts)) = oldest else {
        return Ok(Step::done());
    };
    if n < LIMIT
        || oldest_ts < w.from_us
        || oldest_id <= 1
        || (w.after_id != 0 && oldest_id <= w.after_id)
    {
        return Ok(Step::done());
    }
    Ok(Step::more(Cursor::Id(oldest_id)))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::event::Side;
    use crate::venue::{DecodeError, Venue};

    /// The docs' example response.
    const DOC: &str = r#"[{"time":"2014-11-07T22:19:28.578544Z","trade_id":74,"price":"10.00000000","size":"0.01000000","side":"buy"}]"#;

    #[test]
    fn doc_response_maker_side_becomes_taker_side() {
        let mut p = pager(Venue::Coinbase, "BTC-USD", window(0, i64::MAX / 2));
        assert_eq!(p.request().unwrap(), "/products/BTC-USD/trades?limit=1000");
        let got = feed(&mut p, DOC).unwrap();
        assert_eq!(
            got,
            vec![Event {
                kind: EventKind::Trade,
                side: Side::Sell,
                symbol: sym("BTC-USD"),
                price: dec("10"),
                qty: dec("0.01"),
                ts_us: 1_415_398_768_578_544,
                trade_id: Some(74),
                fills: 1,
            }]
        );
        assert!(p.is_done());
    }

    #[test]
    fn pages_backwards_from_the_id_after_the_gap() {
        let mut w = window(0, i64::MAX / 2);
        w.before_id = 5001;
        w.after_id = 3500;
        let mut p = pager(Venue::Coinbase, "BTC-USD", w);
        assert_eq!(
            p.request().unwrap(),
            "/products/BTC-USD/trades?limit=1000&after=5001"
        );
        let body = |top: usize| {
            page_of(1000, |i| {
                format!(
                    r#"{{"time":"2026-08-09T21:05:51.426861Z","trade_id":{},"price":"1","size":"1","side":"sell"}}"#,
                    top - i
                )
            })
        };
        feed(&mut p, &body(5000)).unwrap();
        assert_eq!(
            p.request().unwrap(),
            "/products/BTC-USD/trades?limit=1000&after=4001"
        );
        feed(&mut p, &body(4000)).unwrap();
        assert!(p.is_done(), "the page reached the id before the gap");
    }

    #[test]
    fn rest_equals_websocket() {
        let ws = r#"{"type":"match","trade_id":1568268,"maker_order_id":"cac01d6d-8009-4c33-8e0d-f7f853d7c1bc","taker_order_id":"3dec64e4-f6ad-4ca8-ad3f-e5b1a0eb0d06","side":"sell","size":"450","price":"0.791","product_id":"SKL-USD","sequence":201390075,"time":"2021-04-17T16:43:37.121358Z"}"#;
        let rest = r#"[{"time":"2021-04-17T16:43:37.121358Z","trade_id":1568268,"price":"0.791","size":"450","side":"sell"}]"#;
        let mut p = pager(Venue::Coinbase, "SKL-USD", window(0, i64::MAX / 2));
        assert_eq!(feed(&mut p, rest).unwrap(), ws_events(Venue::Coinbase, ws));
    }

    #[test]
    fn errors_are_typed() {
        let mut p = pager(Venue::Coinbase, "BTC-USD", window(0, 1));
        assert!(matches!(
            feed(&mut p, r#"{"message":"Public rate limit exceeded"}"#),
            Err(RestError::RateLimited { .. })
        ));
        assert!(matches!(
            feed(&mut p, r#"{"message":"NotFound"}"#),
            Err(RestError::Venue { code: 0, .. })
        ));
        assert_eq!(
            feed(
                &mut p,
                r#"[{"time":"yesterday","trade_id":1,"price":"1","size":"1","side":"buy"}]"#
            ),
            Err(RestError::Decode(DecodeError::Number("time")))
        );
        assert_eq!(
            feed(
                &mut p,
                r#"[{"time":"2021-04-17T16:43:37Z","trade_id":1,"price":"1","size":"0","side":"buy"}]"#
            ),
            Err(RestError::Decode(DecodeError::Number("size")))
        );
    }
}
