//! Bybit v5 `GET /v5/market/recent-trade?category=linear|inverse|spot&symbol=…&limit=…`.
//!
//! The endpoint serves only the most recent trades (docs: `limit` spot `[1,60]`, others
//! `[1,1000]`), newest first, with no paging:
//! `{"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[{"execId":"2100000000007764263","symbol":"BTCUSDT","price":"16618.49","size":"0.00012","side":"Buy","time":"1672052955758","isBlockTrade":false}]},"retExtInfo":{},"time":1672053054358}`.
//! A full page whose oldest trade is newer than the window start leaves the window
//! uncovered. `retCode` 10006 (too many visits) and 10018 (IP rate limit) are rate limits.
//!
//! Events as the `publicTrade` decoder makes them: `side` is the taker side, `execId` is the
//! WS `i` (UUIDs folded the same way), inverse `size` is USD contracts converted with the
//! instrument's spec.

use super::{PageError, RestError, Step, Window};
use crate::event::{Event, EventKind};
use crate::instruments::Instruments;
use crate::json::{self, Val};
use crate::venue::{DecodeError, Venue};

const TOO_MANY_VISITS: i64 = 10006;
const IP_RATE_LIMIT: i64 = 10018;

fn limit(venue: Venue) -> usize {
    if venue == Venue::BybitSpot {
        60
    } else {
        1000
    }
}

pub(super) fn path(venue: Venue, symbol: &str) -> String {
    let category = match venue {
        Venue::BybitInverse => "inverse",
        Venue::BybitSpot => "spot",
        _ => "linear",
    };
    let mut p = format!("/v5/market/recent-trade?category={category}&symbol=");
    super::push_encoded(&mut p, symbol);
    p.push_str(&format!("&limit={}", limit(venue)));
    p
}

/// `retCode` ≠ 0.
pub(super) fn error(root: Val<'_, '_>) -> Option<RestError> {
    let [code, msg] = json::pick(root, ["retCode", "retMsg"])?;
    let code = json::signed(code, "retCode").ok()?;
    if code == 0 {
        return None;
    }
    let msg = super::message(json::string(msg, "retMsg").unwrap_or(""));
    Some(if matches!(code, TOO_MANY_VISITS | IP_RATE_LIMIT) {
        RestError::RateLimited { code, msg }
    } else {
        RestError::Venue { code, msg }
    })
}

pub(super) fn page(
    venue: Venue,
    instruments: &Instruments,
    w: &Window,
    root: Val<'_, '_>,
    out: &mut Vec<Event>,
) -> Result<Step, PageError> {
    if let Some(e) = error(root) {
        return Err(e.into());
    }
    let [result] = json::object(Some(root), "response", ["result"])?;
    let [list] = json::object(result, "result", ["list"])?;
    let mut n = 0usize;
    let mut oldest = i64::MAX;
    for item in json::array(list, "list")? {
        n += 1;
        let [id, s, price, size, side, time] = json::object(
            Some(item),
            "list",
            ["execId", "symbol", "price", "size", "side", "time"],
        )?;
        let symbol = json::symbol(s, "symbol")?;
        let side = json::side(side, "side")?;
        let price = json::decimal_str(price, "price")?;
        let size = json::decimal_str(size, "size")?;
        let ts_us = json::millis(time, "time")?;
        let trade_id = json::trade_id(id, "execId")?;
        oldest = oldest.min(ts_us);
        if !json::tradable(price, size, "price", "size")? {
            continue;
        }
        let qty = if venue == Venue::BybitInverse {
            instruments
                .get(Venue::BybitInverse, symbol.as_str())
                .ok_or(DecodeError::Instrument)?
                .to_base(size, price)
                .ok_or(DecodeError::Number("size"))?
        } else {
            size
        };
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
    Ok(Step {
        next: None,
        covered: n < limit(venue) || oldest <= w.from_us,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::event::Side;

    /// The docs' example response.
    const DOC: &str = r#"{"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[{"execId":"2100000000007764263","symbol":"BTCUSDT","price":"16618.49","size":"0.00012","side":"Buy","time":"1672052955758","isBlockTrade":false}]},"retExtInfo":{},"time":1672053054358}"#;

    #[test]
    fn request_and_doc_response() {
        let mut p = pager(Venue::BybitSpot, "BTCUSDT", window(0, i64::MAX / 2));
        assert_eq!(
            p.request().unwrap(),
            "/v5/market/recent-trade?category=spot&symbol=BTCUSDT&limit=60"
        );
        let got = feed(&mut p, DOC).unwrap();
        assert_eq!(
            got,
            vec![Event {
                kind: EventKind::Trade,
                side: Side::Buy,
                symbol: sym("BTCUSDT"),
                price: dec("16618.49"),
                qty: dec("0.00012"),
                ts_us: 1_672_052_955_758_000,
                trade_id: Some(2_100_000_000_007_764_263),
                fills: 1,
            }]
        );
        assert!(p.is_done() && p.covered(), "a short page is all there is");
        let lin = pager(Venue::BybitLinear, "BTCUSDT", window(0, 1));
        assert_eq!(
            lin.request().unwrap(),
            "/v5/market/recent-trade?category=linear&symbol=BTCUSDT&limit=1000"
        );
    }

    #[test]
    fn a_full_page_newer_than_the_window_is_not_covered() {
        let body = |n: usize| {
            format!(
                r#"{{"retCode":0,"retMsg":"OK","result":{{"category":"spot","list":{}}},"retExtInfo":{{}},"time":1}}"#,
                page_of(n, |i| format!(
                    r#"{{"execId":"{}","symbol":"BTCUSDT","price":"1","size":"1","side":"Sell","time":"{}","isBlockTrade":false}}"#,
                    1000 - i,
                    2000 - i
                ))
            )
        };
        let mut p = pager(Venue::BybitSpot, "BTCUSDT", window(1_000_000, 3_000_000));
        assert_eq!(feed(&mut p, &body(60)).unwrap().len(), 60);
        assert!(p.is_done() && !p.covered());
        let mut p = pager(Venue::BybitSpot, "BTCUSDT", window(1_990_000, 3_000_000));
        feed(&mut p, &body(60)).unwrap();
        assert!(
            p.covered(),
            "the oldest trade is older than the window start"
        );
    }

    /// The REST record and the `publicTrade` fill of the same trade decode alike (linear:
    /// UUID ids; inverse: USD contracts → base).
    #[test]
    fn rest_equals_websocket() {
        let ws = r#"{"topic":"publicTrade.SOLUSDT","type":"snapshot","ts":1786310821323,"data":[{"T":1786310821322,"s":"SOLUSDT","S":"Sell","v":"5.1","p":"77.300","L":"MinusTick","i":"4b0832c3-70e8-5f68-a914-c53f304f507c","BT":false,"RPI":false,"seq":272903628046}]}"#;
        let rest = r#"{"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[{"execId":"4b0832c3-70e8-5f68-a914-c53f304f507c","symbol":"SOLUSDT","price":"77.300","size":"5.1","side":"Sell","time":"1786310821322","isBlockTrade":false}]},"retExtInfo":{},"time":1786310821400}"#;
        let mut p = pager(Venue::BybitLinear, "SOLUSDT", window(0, i64::MAX / 2));
        assert_eq!(
            feed(&mut p, rest).unwrap(),
            ws_events(Venue::BybitLinear, ws)
        );

        let ws = r#"{"topic":"publicTrade.BTCUSD","type":"snapshot","ts":1786310821323,"data":[{"T":1786310821322,"s":"BTCUSD","S":"Buy","v":"1000","p":"65000.5","L":"PlusTick","i":"0a0832c3-70e8-5f68-a914-c53f304f5000","BT":false,"seq":1}]}"#;
        let rest = r#"{"retCode":0,"retMsg":"OK","result":{"category":"inverse","list":[{"execId":"0a0832c3-70e8-5f68-a914-c53f304f5000","symbol":"BTCUSD","price":"65000.5","size":"1000","side":"Buy","time":"1786310821322","isBlockTrade":false}]},"retExtInfo":{},"time":1786310821400}"#;
        let mut p = pager(Venue::BybitInverse, "BTCUSD", window(0, i64::MAX / 2));
        let got = feed(&mut p, rest).unwrap();
        assert_eq!(got, ws_events(Venue::BybitInverse, ws));
        assert!((got[0].qty.to_f64() - 1000.0 / 65000.5).abs() < 1e-12);
    }

    #[test]
    fn errors_are_typed() {
        let mut p = pager(Venue::BybitLinear, "BTCUSDT", window(0, 1));
        assert!(matches!(
            feed(
                &mut p,
                r#"{"retCode":10006,"retMsg":"Too many visits!","result":{},"retExtInfo":{},"time":1}"#
            ),
            Err(RestError::RateLimited { code: 10006, .. })
        ));
        assert!(matches!(
            feed(
                &mut p,
                r#"{"retCode":10001,"retMsg":"params error: symbol invalid","result":{},"retExtInfo":{},"time":1}"#
            ),
            Err(RestError::Venue { code: 10001, .. })
        ));
        assert_eq!(
            feed(
                &mut p,
                r#"{"retCode":0,"retMsg":"OK","result":{"list":[{"execId":"1","symbol":"BTCUSDT","price":"1","size":"1","side":"Up","time":"1"}]}}"#
            ),
            Err(RestError::Decode(DecodeError::Field("side")))
        );
        assert_eq!(
            feed(&mut p, "not json"),
            Err(RestError::Decode(DecodeError::Malformed))
        );
    }
}
