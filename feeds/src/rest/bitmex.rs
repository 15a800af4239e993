//! BitMEX `GET /api/v1/trade?symbol=XBTUSD&startTime=ISO&endTime=ISO&count=1000&start=N&reverse=false`.
//!
//! Ascending rows of the same shape as the WebSocket `trade` table, paged by the `start`
//! offset while pages are full:
//! `[{"timestamp":"2021-07-22T22:36:11.685Z","symbol":"XBTUSD","side":"Buy","size":100,"price":32180.5,"tickDirection":"PlusTick","trdMatchID":"6e70bebe-235e-08a6-d11b-e1042bf1f2ed","grossValue":310747,"homeNotional":0.00310747,"foreignNotional":100,"trdType":"Regular"}]`.
//! Each row goes through the WS decoder's own row reader (`homeNotional` as the base size,
//! no trade id). Errors are `{"error":{"message":"…","name":"…"}}`; `RateLimitError` (HTTP
//! 429) is a rate limit.

use super::{Cursor, PageError, RestError, Step, Window};
use crate::event::Event;
use crate::json::Val;
use crate::venue::DecodeError;

/// Rows per page (the endpoint's maximum).
const LIMIT: u64 = 1000;

pub(super) fn path(symbol: &str, w: &Window, cursor: Cursor) -> String {
    let start = match cursor {
        Cursor::Offset(n) => n,
        _ => 0,
    };
    let mut p = String::from("/api/v1/trade?symbol=");
    super::push_encoded(&mut p, symbol);
    p.push_str(&format!(
        "&startTime={}&endTime={}&count={LIMIT}&start={start}&reverse=false",
        super::iso_ms(w.from_us),
        super::iso_ms(w.to_us)
    ));
    p
}

/// `{"error":{"message":…,"name":…}}`.
pub(super) fn error(root: Val<'_, '_>) -> Option<RestError> {
    let e = root.get("error")?;
    let msg = super::message(e.get("message").and_then(Val::str).unwrap_or(""));
    let name = e.get("name").and_then(Val::str).unwrap_or("");
    Some(
        if name == "RateLimitError" || msg.contains("Rate limit exceeded") {
            RestError::RateLimited { code: 429, msg }
        } else {
            RestError::Venue { code: 0, msg }
        },
    )
}

pub(super) fn page(
    cursor: Cursor,
    root: Val<'_, '_>,
    out: &mut Vec<Event>,
) -> Result<Step, PageError> {
    let Some(rows) = root.elements() else {
        return Err(error(root).map_or(PageError::Decode(DecodeError::Unknown), PageError::Rest));
    };
    let mut n = 0u64;
    for row in rows {
        n += 1;
        out.push(crate::bitmex::trade(row)?);
    }
    let offset = match cursor {
        Cursor::Offset(o) => o,
        _ => 0,
    };
    if n < LIMIT {
        return Ok(Step::done());
    }
    Ok(Step::more(Cursor::Offset(offset + n)))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::event::{EventKind, Side};
    use crate::venue::Venue;

    const ROW: &str = r#"{"timestamp":"2021-07-22T22:36:11.685Z","symbol":"XBTUSD","side":"Buy","size":100,"price":32180.5,"tickDirection":"PlusTick","trdMatchID":"6e70bebe-235e-08a6-d11b-e1042bf1f2ed","grossValue":310747,"homeNotional":0.00310747,"foreignNotional":100,"trdType":"Regular"}"#;

    #[test]
    fn request_pages_and_doc_row() {
        let w = window(1_626_993_371_685_000, 1_626_993_400_000_999);
        let mut p = pager(Venue::Bitmex, "XBTUSD", w);
        assert_eq!(
            p.request().unwrap(),
            "/api/v1/trade?symbol=XBTUSD&startTime=2021-07-22T22:36:11.685Z&endTime=2021-07-22T22:36:40.000Z&count=1000&start=0&reverse=false"
        );
        let full = page_of(1000, |_| ROW.to_owned());
        let got = feed(&mut p, &full).unwrap();
        assert_eq!(
            got[0],
            Event {
                kind: EventKind::Trade,
                side: Side::Buy,
                symbol: sym("XBTUSD"),
                price: dec("32180.5"),
                qty: dec("0.00310747"),
                ts_us: 1_626_993_371_685_000,
                trade_id: None,
                fills: 1,
            }
        );
        assert!(p.request().unwrap().contains("&start=1000&"));
        feed(&mut p, &format!("[{ROW}]")).unwrap();
        assert!(p.is_done());
    }

    #[test]
    fn rest_equals_websocket() {
        let ws = format!(r#"{{"table":"trade","action":"insert","data":[{ROW}]}}"#);
        let mut p = pager(Venue::Bitmex, "XBTUSD", window(0, i64::MAX / 2));
        assert_eq!(
            feed(&mut p, &format!("[{ROW}]")).unwrap(),
            ws_events(Venue::Bitmex, &ws)
        );
    }

    #[test]
    fn errors_are_typed() {
        let mut p = pager(Venue::Bitmex, "XBTUSD", window(0, 1));
        assert!(matches!(
            feed(
                &mut p,
                r#"{"error":{"message":"Rate limit exceeded, retry in 1 seconds.","name":"RateLimitError"}}"#
            ),
            Err(RestError::RateLimited { .. })
        ));
        assert!(matches!(
            feed(
                &mut p,
                r#"{"error":{"message":"Invalid symbol","name":"HTTPError"}}"#
            ),
            Err(RestError::Venue { .. })
        ));
        assert_eq!(
            feed(
                &mut p,
                r#"[{"timestamp":"2021-07-22T22:36:11.685Z","symbol":"XBTUSD","side":"Buy","price":1}]"#
            ),
            Err(RestError::Decode(DecodeError::Field("homeNotional")))
        );
    }
}
