//! Deribit `GET /api/v2/public/get_last_trades_by_instrument_and_time?instrument_name=…&start_timestamp=ms&end_timestamp=ms&count=1000&sorting=asc`.
//!
//! JSON-RPC result, ascending, `has_more` while the range holds more than `count` trades:
//! `{"jsonrpc":"2.0","result":{"trades":[{"trade_seq":1966031,"trade_id":"433949015","timestamp":1590480363130,"tick_direction":2,"price":8950.0,"mark_price":8948.9,"instrument_name":"BTC-PERPETUAL","index_price":8955.88,"direction":"sell","amount":10.0}],"has_more":false},"usIn":…,"usOut":…,"usDiff":…,"testnet":false}`.
//! The next page starts at the last trade's millisecond (trades of that millisecond come
//! again and are told apart by id downstream). Trades are the WS `trades` objects and go
//! through the WS decoder's own reader (USD amounts → base on inverse instruments, the
//! `liquidation` flag → a liquidation event). Errors: `{"error":{"code":…,"message":…}}`;
//! 10028 `too_many_requests` is a rate limit.

use super::{Cursor, PageError, RestError, Step, Window};
use crate::event::Event;
use crate::json::{self, Val};
use crate::venue::DecodeError;

/// Trades per page (the endpoint's maximum).
const LIMIT: usize = 1000;

const TOO_MANY_REQUESTS: i64 = 10028;

pub(super) fn path(instrument: &str, w: &Window, cursor: Cursor) -> String {
    let start = match cursor {
        Cursor::Ms(ms) => ms,
        _ => w.from_us.div_euclid(1000),
    };
    let mut p =
        String::from("/api/v2/public/get_last_trades_by_instrument_and_time?instrument_name=");
    super::push_encoded(&mut p, instrument);
    p.push_str(&format!(
        "&start_timestamp={start}&end_timestamp={}&count={LIMIT}&sorting=asc",
        w.to_us.div_euclid(1000)
    ));
    p
}

/// `{"error":{"code":…,"message":…}}`.
pub(super) fn error(root: Val<'_, '_>) -> Option<RestError> {
    let e = root.get("error")?;
    let code = json::signed_int(e.get("code"), "code").ok()?;
    let msg = super::message(e.get("message").and_then(Val::str).unwrap_or(""));
    Some(if code == TOO_MANY_REQUESTS {
        RestError::RateLimited { code, msg }
    } else {
        RestError::Venue { code, msg }
    })
}

pub(super) fn page(
    cursor: Cursor,
    root: Val<'_, '_>,
    out: &mut Vec<Event>,
) -> Result<Step, PageError> {
    if let Some(e) = error(root) {
        return Err(e.into());
    }
    let result = root.get("result").ok_or(DecodeError::Field("result"))?;
    let trades = result
        .get("trades")
        .and_then(Val::elements)
        .ok_or(DecodeError::Field("trades"))?;
    let more = result
        .get("has_more")
        .and_then(Val::as_bool)
        .ok_or(DecodeError::Field("has_more"))?;
    let mut n = 0usize;
    let mut last_ms = None;
    for t in trades {
        n += 1;
        let event = crate::deribit::trade(t)?;
        last_ms = Some(event.ts_us.div_euclid(1000));
        out.push(event);
    }
    let start = match cursor {
        Cursor::Ms(ms) => ms,
        _ => i64::MIN,
    };
    match (more, last_ms) {
        (true, Some(last)) if last > start => Ok(Step::more(Cursor::Ms(last))),
        // A full page inside one millisecond: a time cursor cannot step through it.
        (true, Some(last)) if n >= LIMIT => Ok(Step {
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

    const DOC: &str = r#"{"jsonrpc":"2.0","id":3983,"result":{"trades":[{"trade_seq":1966031,"trade_id":"433949015","timestamp":1590480363130,"tick_direction":2,"price":8950.0,"mark_price":8948.9,"instrument_name":"BTC-PERPETUAL","index_price":8955.88,"direction":"sell","amount":10.0}],"has_more":true},"usIn":1590480363130,"usOut":1590480363200,"usDiff":70,"testnet":false}"#;

    #[test]
    fn doc_response_and_paging() {
        let w = window(1_590_480_000_000_000, 1_590_481_000_000_000);
        let mut p = pager(Venue::Deribit, "BTC-PERPETUAL", w);
        assert_eq!(
            p.request().unwrap(),
            "/api/v2/public/get_last_trades_by_instrument_and_time?instrument_name=BTC-PERPETUAL&start_timestamp=1590480000000&end_timestamp=1590481000000&count=1000&sorting=asc"
        );
        let got = feed(&mut p, DOC).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].kind, got[0].side, got[0].trade_id, got[0].ts_us),
            (
                EventKind::Trade,
                Side::Sell,
                Some(433_949_015),
                1_590_480_363_130_000
            )
        );
        assert!(
            (got[0].qty.to_f64() - 10.0 / 8950.0).abs() < 1e-15,
            "USD → BTC"
        );
        assert!(p
            .request()
            .unwrap()
            .contains("&start_timestamp=1590480363130&"));
        let done = DOC.replace(r#""has_more":true"#, r#""has_more":false"#);
        feed(&mut p, &done).unwrap();
        assert!(p.is_done() && p.covered());
    }

    #[test]
    fn rest_equals_websocket() {
        let ws = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.BTC-PERPETUAL.100ms","data":[{"timestamp":1781416501150,"price":64345.0,"amount":30.0,"direction":"buy","index_price":64347.47,"instrument_name":"BTC-PERPETUAL","trade_seq":291801232,"mark_price":64345.22,"tick_direction":2,"contracts":3.0,"trade_id":"433949015"}]}}"#;
        let rest = r#"{"jsonrpc":"2.0","result":{"trades":[{"trade_seq":291801232,"trade_id":"433949015","timestamp":1781416501150,"tick_direction":2,"price":64345.0,"mark_price":64345.22,"instrument_name":"BTC-PERPETUAL","index_price":64347.47,"direction":"buy","amount":30.0,"contracts":3.0}],"has_more":false},"usIn":1,"usOut":2,"usDiff":1,"testnet":false}"#;
        let mut p = pager(Venue::Deribit, "BTC-PERPETUAL", window(0, i64::MAX / 2));
        assert_eq!(feed(&mut p, rest).unwrap(), ws_events(Venue::Deribit, ws));
    }

    #[test]
    fn errors_are_typed() {
        let mut p = pager(Venue::Deribit, "BTC-PERPETUAL", window(0, 1));
        assert!(matches!(
            feed(
                &mut p,
                r#"{"jsonrpc":"2.0","error":{"message":"too_many_requests","code":10028},"testnet":false}"#
            ),
            Err(RestError::RateLimited { code: 10028, .. })
        ));
        assert!(matches!(
            feed(
                &mut p,
                r#"{"jsonrpc":"2.0","error":{"message":"Invalid params","data":{"reason":"wrong format","param":"instrument_name"},"code":-32602}}"#
            ),
            Err(RestError::Venue { code: -32602, .. })
        ));
        assert_eq!(
            feed(
                &mut p,
                r#"{"jsonrpc":"2.0","result":{"trades":[],"has_more":"no"}}"#
            ),
            Err(RestError::Decode(DecodeError::Field("has_more")))
        );
    }
}
