//! Line protocol for one bar: `trades_1s,market=BINANCE:btcusdt open=…,…,lsell=… <ms>`.
//!
//! Floats are written in Rust's shortest round-trip form, which InfluxDB parses back to the
//! same `f64` bits; counts are written as floats (no `i` suffix), as aggr-server writes them.

use crate::bar::Bar;
use std::fmt::Write;

/// Escapes a measurement name (`,` and space) for line protocol.
pub fn escape_measurement(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ',' | ' ' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Escapes a tag value (`,`, `=`, space) for line protocol.
pub fn escape_tag(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ',' | '=' | ' ' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether a bar can be written: every value finite (OHLC may be all NaN together, for a
/// liquidation-only second).
pub fn writable(bar: &Bar) -> bool {
    let ohlc = [bar.open, bar.high, bar.low, bar.close];
    let ohlc_ok = ohlc.iter().all(|v| v.is_finite()) || ohlc.iter().all(|v| v.is_nan());
    ohlc_ok
        && [bar.vbuy, bar.vsell, bar.lbuy, bar.lsell]
            .iter()
            .all(|v| v.is_finite())
}

/// Appends one point: `measurement` and `market` already escaped. Returns false (nothing
/// appended) for a bar that is not [`writable`].
pub fn push_point(
    out: &mut String,
    measurement: &str,
    market: &str,
    time_ms: i64,
    bar: &Bar,
) -> bool {
    if !writable(bar) {
        return false;
    }
    out.push_str(measurement);
    out.push_str(",market=");
    out.push_str(market);
    out.push(' ');
    if bar.open.is_finite() {
        let _ = write!(
            out,
            "open={},high={},low={},close={},",
            bar.open, bar.high, bar.low, bar.close
        );
    }
    let _ = writeln!(
        out,
        "vbuy={},vsell={},cbuy={},csell={},lbuy={},lsell={} {time_ms}",
        bar.vbuy, bar.vsell, bar.cbuy, bar.csell, bar.lbuy, bar.lsell
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_text() {
        let bar = Bar {
            open: 100.5,
            high: 101.0,
            low: 100.0,
            close: 100.25,
            vbuy: 1234.5,
            vsell: 0.1 + 0.2,
            lbuy: 0.0,
            lsell: 5.0,
            cbuy: 3,
            csell: 1,
            open_us: 0,
            close_us: 0,
        };
        let mut s = String::new();
        assert!(push_point(
            &mut s,
            "trades_1s",
            &escape_tag("KRAKEN:XBT/USD"),
            1_700_000_000_000,
            &bar
        ));
        assert_eq!(
            s,
            "trades_1s,market=KRAKEN:XBT/USD open=100.5,high=101,low=100,close=100.25,vbuy=1234.5,vsell=0.30000000000000004,cbuy=3,csell=1,lbuy=0,lsell=5 1700000000000\n"
        );
        let liq = Bar {
            lsell: 7.5,
            ..Bar::EMPTY
        };
        let mut s = String::new();
        assert!(push_point(&mut s, "trades_1s", "A:b", 1000, &liq));
        assert_eq!(
            s,
            "trades_1s,market=A:b vbuy=0,vsell=0,cbuy=0,csell=0,lbuy=0,lsell=7.5 1000\n"
        );
        let bad = Bar {
            vbuy: f64::INFINITY,
            ..bar
        };
        assert!(!push_point(&mut s, "trades_1s", "A:b", 1000, &bad));
        assert_eq!(escape_tag("a b,c=d"), "a\\ b\\,c\\=d");
    }
}
