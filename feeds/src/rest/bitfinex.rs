//! Bitfinex `GET /v2/trades/{symbol}/hist?start=ms&end=ms&limit=10000&sort=1`.
//!
//! `sort=1` gives ascending `[[ID, MTS, AMOUNT, PRICE], …]` rows, the WebSocket `trades`
//! entry shape, read with the WS decoder's own row reader (sign of AMOUNT = taker side,
//! numbers from their literals). Full pages continue from the last row's millisecond (rows of
//! that millisecond come again and are told apart by id downstream). Errors are
//! `["error", CODE, "message"]` (11010 = rate limit) or, from the DDoS guard,
//! `{"error":"ERR_RATE_LIMIT"}`.

use super::{Cursor, PageError, RestError, Step, Window};
use crate::event::{Event, Symbol};
use crate::json::{self, Val};
use crate::venue::DecodeError;

/// Rows per page (the endpoint's maximum).
const LIMIT: usize = 10_000;

const RATE_LIMIT: i64 = 11010;

pub(super) fn path(symbol: &str, w: &Window, cursor: Cursor) -> String {
    let start = match cursor {
        Cursor::Ms(ms) => ms,
        _ => w.from_us.div_euclid(1000),
    };
    let mut p = String::from("/v2/trades/");
    super::push_encoded(&mut p, symbol);
    p.push_str(&format!(
        "/hist?start={start}&end={}&limit={LIMIT}&sort=1",
        w.to_us.div_euclid(1000)
    ));
    p
}

/// `["error", code, "message"]` or `{"error":"ERR_RATE_LIMIT"}`.
pub(super) fn error(root: Val<'_, '_>) -> Option<RestError> {
    if let Some(e) = root.get("error") {
        let msg = super::message(e.str().unwrap_or(""));
        return Some(if msg == "ERR_RATE_LIMIT" {
            RestError::RateLimited { code: 0, msg }
        } else {
            RestError::Venue { code: 0, msg }
        });
    }
    if root.index(0)?.str()? != "error" {
        return None;
    }
    let code = json::signed_int(root.index(1), "code").unwrap_or(0);
    let msg = super::message(root.index(2).and_then(Val::str).unwrap_or(""));
    Some(if code == RATE_LIMIT {
        RestError::RateLimited { code, msg }
    } else {
        RestError::Venue { code, msg }
    })
}

pub(super) fn page(
    symbol: Symbol,
    w: &Window,
    cursor: Cursor,
    root: Val<'_, '_>,
    out: &mut Vec<Event>,
) -> Result<Step, PageError> {
    if let Some(e) = error(root) {
        return Err(e.into());
    }
    let rows = root.elements().ok_or(DecodeError::Unknown)?;
    let mut n = 0usize;
    let mut last_ms = None;
    for row in rows {
        n += 1;
        crate::bitfinex::emit_trade(row, symbol, &mut |e| out.push(e))?;
        last_ms = Some(json::millis_int(row.index(1), "MTS")?.div_euclid(1000));
    }
    let start = match cursor {
        Cursor::Ms(ms) => ms,
        _ => w.from_us.div_euclid(1000),
    };
    match last_ms {
        Some(last) if n >= LIMIT && last > start => Ok(Step::more(Cursor::Ms(last))),
        // A full page inside one millisecond: a time cursor cannot step through it.
        Some(last) if n >= LIMIT => Ok(Step {
            next: Some(Cursor::Ms(last + 1)),
            covered: false,
        }),
        _ => Ok(Step::done()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::event::{EventKind, Side};
    use crate::venue::Venue;

    #[test]
    fn doc_rows_and_paging() {
        let w = window(1_574_694_000_000_000, 1_574_695_000_000_000);
        let mut p = pager(Venue::Bitfinex, "tBTCUSD", w);
        assert_eq!(
            p.request().unwrap(),
            "/v2/trades/tBTCUSD/hist?start=1574694000000&end=1574695000000&limit=10000&sort=1"
        );
        let got = feed(
            &mut p,
            "[[388063448,1574694478808,0.005,7245.3],[388063449,1574694478808,-0.00000064,7245.2]]",
        )
        .unwrap();
        assert_eq!(
            got[0],
            Event {
                kind: EventKind::Trade,
                side: Side::Buy,
                symbol: sym("tBTCUSD"),
                price: dec("7245.3"),
                qty: dec("0.005"),
                ts_us: 1_574_694_478_808_000,
                trade_id: Some(388_063_448),
                fills: 1,
            }
        );
        assert_eq!((got[1].side, got[1].qty), (Side::Sell, dec("0.00000064")));
        assert!(p.is_done());

        let mut p = pager(Venue::Bitfinex, "tBTCUSD", w);
        let full = page_of(10_000, |i| {
            format!("[{},{},1,1]", 1 + i, 1_574_694_000_000u64 + i as u64 / 2)
        });
        feed(&mut p, &full).unwrap();
        assert!(p.request().unwrap().contains("?start=1574694004999&"));
    }

    #[test]
    fn rest_equals_websocket() {
        let sub = r#"{"event":"subscribed","channel":"trades","chanId":17470,"symbol":"tBTCUSD","pair":"BTCUSD"}"#;
        let te = r#"[17470,"te",[401597395,1574694478808,0.005,7245.3]]"#;
        let mut decoder = Venue::Bitfinex.decoder();
        let mut ws = Vec::new();
        for frame in [sub, te] {
            let mut bytes = frame.as_bytes().to_vec();
            decoder.decode(&mut bytes, &mut |e| ws.push(e)).unwrap();
        }
        let mut p = pager(Venue::Bitfinex, "tBTCUSD", window(0, i64::MAX / 2));
        assert_eq!(
            feed(&mut p, "[[401597395,1574694478808,0.005,7245.3]]").unwrap(),
            ws
        );
    }

    #[test]
    fn errors_are_typed() {
        let mut p = pager(Venue::Bitfinex, "tBTCUSD", window(0, 1));
        assert!(matches!(
            feed(&mut p, r#"["error",11010,"ratelimit: error"]"#),
            Err(RestError::RateLimited { code: 11010, .. })
        ));
        assert!(matches!(
            feed(&mut p, r#"{"error":"ERR_RATE_LIMIT"}"#),
            Err(RestError::RateLimited { .. })
        ));
        assert!(matches!(
            feed(&mut p, r#"["error",10020,"symbol: invalid"]"#),
            Err(RestError::Venue { code: 10020, .. })
        ));
        assert_eq!(
            feed(&mut p, r#"[[1,2,"x",3]]"#),
            Err(RestError::Decode(DecodeError::Field("AMOUNT")))
        );
    }
}
