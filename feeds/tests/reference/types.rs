#![allow(unreachable_pub)]
//! The normalized event the serde_json reference decoders produce: plain types, `f64`
//! numbers, no attempt at speed.

/// One reference event. `kind` is `"trade"` or `"liquidation"`, `side` `"buy"` or `"sell"`
/// (taker side for trades, order side for liquidations); `qty` is in base units.
#[derive(Debug, Clone, PartialEq)]
pub struct RefEvent {
    pub kind: &'static str,
    pub side: &'static str,
    pub symbol: String,
    pub price: f64,
    pub qty: f64,
    /// Exchange time in µs; `None` when the venue sends none (BitMEX liquidations).
    pub ts_us: Option<i64>,
    pub trade_id: Option<u64>,
}

/// Field access helpers shared by the reference decoders.
pub mod json {
    use serde_json::Value;

    pub fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, String> {
        v.get(name).ok_or_else(|| format!("missing `{name}`"))
    }

    pub fn str<'a>(v: &'a Value, name: &str) -> Result<&'a str, String> {
        field(v, name)?
            .as_str()
            .ok_or_else(|| format!("`{name}` is not a string"))
    }

    /// A decimal string as f64.
    pub fn str_f64(v: &Value, name: &str) -> Result<f64, String> {
        str(v, name)?
            .parse()
            .map_err(|_| format!("`{name}` is not a number"))
    }

    pub fn num(v: &Value, name: &str) -> Result<f64, String> {
        field(v, name)?
            .as_f64()
            .ok_or_else(|| format!("`{name}` is not a number"))
    }

    pub fn u64(v: &Value, name: &str) -> Result<u64, String> {
        field(v, name)?
            .as_u64()
            .ok_or_else(|| format!("`{name}` is not an unsigned integer"))
    }

    pub fn array<'a>(v: &'a Value, name: &str) -> Result<&'a Vec<Value>, String> {
        field(v, name)?
            .as_array()
            .ok_or_else(|| format!("`{name}` is not an array"))
    }

    /// Parse a frame; invalid JSON is an error.
    pub fn parse(line: &str) -> Result<Value, String> {
        serde_json::from_str(line).map_err(|e| format!("bad JSON: {e}"))
    }

    /// `2021-04-17T16:43:30.244075Z` → µs (UTC, fraction truncated to µs).
    pub fn rfc3339_us(s: &str) -> Result<i64, String> {
        let bad = || format!("bad time {s:?}");
        let (date, rest) = s.split_once('T').ok_or_else(bad)?;
        let rest = rest.strip_suffix('Z').ok_or_else(bad)?;
        let d: Vec<i64> = date
            .split('-')
            .map(|p| p.parse().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        let (hms, frac) = rest.split_once('.').unwrap_or((rest, ""));
        let t: Vec<i64> = hms
            .split(':')
            .map(|p| p.parse().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        if d.len() != 3
            || t.len() != 3
            || frac.len() > 9
            || !frac.bytes().all(|c| c.is_ascii_digit())
        {
            return Err(bad());
        }
        let micros: i64 = format!("{:0<6}", &frac[..frac.len().min(6)])
            .parse()
            .map_err(|_| bad())?;
        // Days since the epoch by counting (slow and obvious).
        let (y, m, day) = (d[0], d[1], d[2]);
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let mut days = 0;
        for year in 1970..y {
            days += if leap(year) { 366 } else { 365 };
        }
        let months = [
            31,
            if leap(y) { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        for len in months.iter().take((m - 1) as usize) {
            days += len;
        }
        days += day - 1;
        Ok(((days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]) * 1_000_000) + micros)
    }
}
