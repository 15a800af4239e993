//! OKX v5 `GET /api/v5/market/history-trades?instId=…&type=1&after=<tradeId>&limit=100`.
//!
//! Newest first; `after` returns records older than the given `tradeId` (`type=1`) or
//! timestamp in ms (`type=2`). A window with a known id after the gap starts below it;
//! otherwise the first page is found by time (`type=2&after=<window end + 1 ms>`), and later
//! pages go by id:
//! `{"code":"0","msg":"","data":[{"instId":"BTC-USDT","side":"sell","sz":"0.00001","px":"29963.2","tradeId":"242720720","ts":"1654161646974","source":"0"}]}`.
//! `code` "50011" (too many requests) is a rate limit; any other non-zero code a venue error.
//!
//! Events as the `trades` decoder makes them: `side` is the taker side, `sz` contracts on
//! SWAP/FUTURES converted with the same `ctVal` conversion. The REST records are single
//! fills (no `count`), so `fills` = 1.

use super::{Cursor, PageError, RestError, Step, Window};
use crate::event::{Event, EventKind};
use crate::instruments::Instruments;
use crate::json::{self, Val};

/// Records per page (the endpoint's maximum).
const LIMIT: usize = 100;

const RATE_LIMIT: i64 = 50011;

pub(super) fn first(w: &Window) -> Cursor {
    if w.before_id != 0 {
        Cursor::Id(w.before_id)
    } else {
        Cursor::Ms(w.to_us.div_euclid(1000).saturating_add(1))
    }
}

pub(super) fn path(inst_id: &str, cursor: Cursor) -> String {
    let mut p = String::from("/api/v5/market/history-trades?instId=");
    super::push_encoded(&mut p, inst_id);
    match cursor {
        Cursor::Ms(ms) => p.push_str(&format!("&type=2&after={ms}")),
        Cursor::Id(id) => p.push_str(&format!("&type=1&after={id}")),
        _ => p.push_str("&type=1"),
    }
    p.push_str(&format!("&limit={LIMIT}"));
    p
}

/// `code` ≠ "0".
pub(super) fn error(root: Val<'_, '_>) -> Option<RestError> {
    let [code, msg] = json::pick(root, ["code", "msg"])?;
    let code = json::signed(code, "code").ok()?;
    if code == 0 {
        return None;
    }
    let msg = super::message(json::string(msg, "msg").unwrap_or(""));
    Some(if code == RATE_LIMIT {
        RestError::RateLimited { code, msg }
    } else {
        RestError::Venue { code, msg }
    })
}

pub(super) fn page(
    instruments: &Instruments,
    w: &Window,
    root: Val<'_, '_>,
    out: &mut Vec<Event>,
) -> Result<Step, PageError> {
    if let Some(e) = error(root) {
        return Err(e.into());
    }
    let [data] = json::object(Some(root), "response", ["data"])?;
    let mut n = 0usize;
    let mut oldest: Option<(u64, i64)> = None;
    for item in json::array(data, "data")? {
        n += 1;
        let [inst_id, trade_id, px, sz, side, ts] = json::object(
            Some(item),
            "data",
            ["instId", "tradeId", "px", "sz", "side", "ts"],
        )?;
        let inst = json::string(inst_id, "instId")?;
        let symbol = json::symbol(inst_id, "instId")?;
        let trade_id = json::unsigned(trade_id, "tradeId")?;
        let price = json::decimal_str(px, "px")?;
        let size = json::decimal_str(sz, "sz")?;
        let side = json::side(side, "side")?;
        let ts_us = json::millis(ts, "ts")?;
        if oldest.is_none_or(|(id, _)| trade_id < id) {
            oldest = Some((trade_id, ts_us));
        }
        if !json::tradable(price, size, "px", "sz")? {
            continue;
        }
        out.push(Event {
            kind: EventKind::Trade,
            side,
            symbol,
            price,
            qty: crate::okx::contracts_to_base(instruments, inst, size, price, "sz")?,
            ts_us,
            trade_id: Some(trade_id),
            fills: 1,
        });
    }
    let Some((oldest_id, oldest_ts)) = oldest else {
        return Ok(Step::done());
    };
    if n < LIMIT || oldest_ts < w.from_us || (w.after_id != 0 && oldest_id <= w.after_id) {
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
    const DOC: &str = r#"{"code":"0","msg":"","data":[{"instId":"BTC-USDT","side":"sell","sz":"0.00001","px":"29963.2","tradeId":"242720720","ts":"1654161646974","source":"0"}]}"#;

    #[test]
    fn doc_response() {
        let mut p = pager(Venue::OkxSpot, "BTC-USDT", window(0, 1_654_161_646_974_000));
        assert_eq!(
            p.request().unwrap(),
            "/api/v5/market/history-trades?instId=BTC-USDT&type=2&after=1654161646975&limit=100"
        );
        let got = feed(&mut p, DOC).unwrap();
        assert_eq!(
            got,
            vec![Event {
                kind: EventKind::Trade,
                side: Side::Sell,
                symbol: sym("BTC-USDT"),
                price: dec("29963.2"),
                qty: dec("0.00001"),
                ts_us: 1_654_161_646_974_000,
                trade_id: Some(242_720_720),
                fills: 1,
            }]
        );
        assert!(p.is_done());
    }

    #[test]
    fn pages_backwards_by_id_until_the_window_start_or_the_gap() {
        let body = |top: u64| {
            format!(
                r#"{{"code":"0","msg":"","data":{}}}"#,
                page_of(100, |i| format!(
                    r#"{{"instId":"BTC-USDT-SWAP","side":"buy","sz":"2","px":"64311","tradeId":"{}","ts":"{}","source":"0"}}"#,
                    top - i as u64,
                    1_000_000 + top - i as u64
                ))
            )
        };
        let mut w = window(0, i64::MAX / 2);
        w.before_id = 1000;
        w.after_id = 850;
        let mut p = pager(Venue::OkxSwap, "BTC-USDT-SWAP", w);
        assert_eq!(
            p.request().unwrap(),
            "/api/v5/market/history-trades?instId=BTC-USDT-SWAP&type=1&after=1000&limit=100"
        );
        let got = feed(&mut p, &body(999)).unwrap();
        assert_eq!(got[0].qty, dec("0.02"), "2 contracts × ctVal 0.01");
        assert_eq!(
            p.request().unwrap(),
            "/api/v5/market/history-trades?instId=BTC-USDT-SWAP&type=1&after=900&limit=100"
        );
        feed(&mut p, &body(899)).unwrap();
        assert!(p.is_done(), "reached the id before the gap");
    }

    #[test]
    fn rest_equals_websocket() {
        let ws = r#"{"arg":{"channel":"trades","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP","tradeId":"2701364977","px":"64311","sz":"31.27","side":"buy","ts":"1781416584831","count":"1","source":"0","seqId":323647402789}]}"#;
        let rest = r#"{"code":"0","msg":"","data":[{"instId":"BTC-USDT-SWAP","side":"buy","sz":"31.27","px":"64311","tradeId":"2701364977","ts":"1781416584831","source":"0"}]}"#;
        let mut p = pager(Venue::OkxSwap, "BTC-USDT-SWAP", window(0, i64::MAX / 2));
        let got = feed(&mut p, rest).unwrap();
        assert_eq!(got, ws_events(Venue::OkxSwap, ws));
        assert_eq!(got[0].qty, dec("0.3127"));
    }

    #[test]
    fn errors_are_typed() {
        let mut p = pager(Venue::OkxSwap, "BTC-USDT-SWAP", window(0, 1));
        assert!(matches!(
            feed(&mut p, r#"{"msg":"Too Many Requests","code":"50011"}"#),
            Err(RestError::RateLimited { code: 50011, .. })
        ));
        assert!(matches!(
            feed(
                &mut p,
                r#"{"code":"51001","msg":"Instrument ID does not exist","data":[]}"#
            ),
            Err(RestError::Venue { code: 51001, .. })
        ));
        assert_eq!(
            feed(
                &mut p,
                r#"{"code":"0","msg":"","data":[{"instId":"XYZ-USDT-SWAP","side":"buy","sz":"1","px":"1","tradeId":"1","ts":"1"}]}"#
            ),
            Err(RestError::Decode(DecodeError::Instrument))
        );
        assert_eq!(
            feed(&mut p, r#"{"code":"0","msg":"","data":{}}"#),
            Err(RestError::Decode(DecodeError::Field("data")))
        );
    }
}
