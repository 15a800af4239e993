//! The venues' public REST instrument lists: where each family's lives and how its real
//! response turns into contract specs (the same [`ContractSpec`]s as the bundled snapshot).
//!
//! Only the families whose decoders need contract sizes are fetched:
//! - `binance`: `GET /dapi/v1/exchangeInfo` (COIN-M): `symbols[].contractSize` USD per contract,
//!   every COIN-M contract inverse.
//! - `bybit`: `GET /v5/market/instruments-info?category=inverse` (paged by `nextPageCursor`):
//!   `result.list[]` with `contractType` `InversePerpetual`/`InverseFutures`. Bybit publishes no
//!   contract size field; its inverse contracts are 1 USD each.
//! - `okx`: `GET /api/v5/public/instruments?instType=SWAP` and `…=FUTURES`: `data[].ctVal`,
//!   `ctType` (`linear`/`inverse`), `ctValCcy`.
//! - `bitmex`: `GET /api/v1/instrument/active`: inverse contracts are worth
//!   `multiplier / underlyingToSettleMultiplier` quote units (XBTUSD: 1 USD); linear ones
//!   `1 / underlyingToPositionMultiplier` base units; quanto contracts have no base-unit size
//!   and are skipped.
//! - `gate`: `GET /api/v4/futures/usdt/contracts`: `[].quanto_multiplier` base units per
//!   contract (`type` `direct`).
//!
//! A response of the wrong shape, or an entry missing a field the conversion needs, is an
//! error naming the family and the field; entries of kinds that need no contract size here
//! (options, quanto, spot) are skipped and counted.

use feeds::{ContractSpec, Decimal, Venue};
use serde_json::Value;

/// An exchange family with a bundled instruments file (`feeds/data/instruments/<name>.json`)
/// whose decoders need contract sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Binance,
    Bybit,
    Okx,
    Bitmex,
    Gate,
}

/// One instrument's contract spec, as fetched or cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub venue: Venue,
    pub symbol: String,
    pub spec: ContractSpec,
}

/// Why a response could not be read. The text names the family and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{family}: {field}: {message}")]
pub struct ParseError {
    pub family: &'static str,
    /// Where in the response, e.g. `data[3].ctVal`.
    pub field: String,
    pub message: String,
}

/// What one response page held.
#[derive(Debug, Default)]
pub struct Page {
    pub specs: Vec<Spec>,
    /// Entries of kinds this family's decoders need no size for.
    pub skipped: usize,
    /// Bybit's cursor for the next page, when there is one.
    pub next_cursor: Option<String>,
}

impl Family {
    pub const ALL: [Family; 5] = [
        Family::Binance,
        Family::Bybit,
        Family::Okx,
        Family::Bitmex,
        Family::Gate,
    ];

    /// The name of the bundled file and cache file, and of the `[instruments.base_url]` key.
    pub fn name(self) -> &'static str {
        match self {
            Family::Binance => "binance",
            Family::Bybit => "bybit",
            Family::Okx => "okx",
            Family::Bitmex => "bitmex",
            Family::Gate => "gate",
        }
    }

    pub fn from_name(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The family whose instruments `venue`'s decoder needs, if any.
    pub fn of_venue(venue: Venue) -> Option<Family> {
        match venue {
            Venue::BinanceCoinm => Some(Family::Binance),
            Venue::BybitInverse => Some(Family::Bybit),
            Venue::OkxSwap | Venue::OkxFutures => Some(Family::Okx),
            Venue::Bitmex => Some(Family::Bitmex),
            Venue::GateFutures => Some(Family::Gate),
            _ => None,
        }
    }

    /// The venues whose specs this family's list holds.
    pub fn venues(self) -> &'static [Venue] {
        match self {
            Family::Binance => &[Venue::BinanceCoinm],
            Family::Bybit => &[Venue::BybitInverse],
            Family::Okx => &[Venue::OkxSwap, Venue::OkxFutures],
            Family::Bitmex => &[Venue::Bitmex],
            Family::Gate => &[Venue::GateFutures],
        }
    }

    /// The venue's public REST base URL.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Family::Binance => "https://dapi.binance.com",
            Family::Bybit => "https://api.bybit.com",
            Family::Okx => "https://www.okx.com",
            Family::Bitmex => "https://www.bitmex.com",
            Family::Gate => "https://api.gateio.ws",
        }
    }

    /// Paths (with query) of the requests that make up the list; Bybit's continue with
    /// `&cursor=` while a page names a next one.
    pub fn paths(self) -> &'static [&'static str] {
        match self {
            Family::Binance => &["/dapi/v1/exchangeInfo"],
            Family::Bybit => &["/v5/market/instruments-info?category=inverse&limit=1000"],
            Family::Okx => &[
                "/api/v5/public/instruments?instType=SWAP",
                "/api/v5/public/instruments?instType=FUTURES",
            ],
            Family::Bitmex => &["/api/v1/instrument/active"],
            Family::Gate => &["/api/v4/futures/usdt/contracts"],
        }
    }

    /// Reads one response body of this family.
    pub fn parse(self, body: &[u8]) -> Result<Page, ParseError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| ParseError {
            family: self.name(),
            field: "(body)".to_string(),
            message: format!("not JSON: {e}"),
        })?;
        let mut p = Parser {
            family: self.name(),
            page: Page::default(),
        };
        match self {
            Family::Binance => p.binance(&value)?,
            Family::Bybit => p.bybit(&value)?,
            Family::Okx => p.okx(&value)?,
            Family::Bitmex => p.bitmex(&value)?,
            Family::Gate => p.gate(&value)?,
        }
        Ok(p.page)
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

struct Parser {
    family: &'static str,
    page: Page,
}

impl Parser {
    fn err(&self, field: impl Into<String>, message: impl Into<String>) -> ParseError {
        ParseError {
            family: self.family,
            field: field.into(),
            message: message.into(),
        }
    }

    fn field<'v>(&self, v: &'v Value, at: &str, name: &str) -> Result<&'v Value, ParseError> {
        v.get(name)
            .ok_or_else(|| self.err(format!("{at}.{name}"), "missing"))
    }

    fn array<'v>(&self, v: &'v Value, at: &str) -> Result<&'v Vec<Value>, ParseError> {
        v.as_array()
            .ok_or_else(|| self.err(at, format!("expected an array, got {}", kind(v))))
    }

    fn str<'v>(&self, v: &'v Value, at: &str, name: &str) -> Result<&'v str, ParseError> {
        let f = self.field(v, at, name)?;
        f.as_str().ok_or_else(|| {
            self.err(
                format!("{at}.{name}"),
                format!("expected a string, got {}", kind(f)),
            )
        })
    }

    fn bool(&self, v: &Value, at: &str, name: &str) -> Result<bool, ParseError> {
        let f = self.field(v, at, name)?;
        f.as_bool().ok_or_else(|| {
            self.err(
                format!("{at}.{name}"),
                format!("expected true or false, got {}", kind(f)),
            )
        })
    }

    /// A decimal written as a JSON string (`"0.01"`), positive.
    fn decimal_str(&self, v: &Value, at: &str, name: &str) -> Result<Decimal, ParseError> {
        let text = self.str(v, at, name)?;
        Decimal::parse(text.as_bytes())
            .filter(|d| d.mantissa > 0)
            .ok_or_else(|| {
                self.err(
                    format!("{at}.{name}"),
                    format!("{text:?} is not a positive decimal"),
                )
            })
    }

    /// An integer written as a JSON number; `None` for `null`.
    fn int_or_null(&self, v: &Value, at: &str, name: &str) -> Result<Option<i64>, ParseError> {
        let f = self.field(v, at, name)?;
        if f.is_null() {
            return Ok(None);
        }
        f.as_i64().map(Some).ok_or_else(|| {
            self.err(
                format!("{at}.{name}"),
                format!("expected an integer or null, got {f}"),
            )
        })
    }

    fn push(&mut self, venue: Venue, symbol: &str, size: Decimal, inverse: bool) {
        self.page.specs.push(Spec {
            venue,
            symbol: symbol.to_string(),
            spec: ContractSpec { size, inverse },
        });
    }

    /// `{"symbols":[{"symbol":"BTCUSD_PERP","contractSize":100,…}]}`.
    fn binance(&mut self, v: &Value) -> Result<(), ParseError> {
        let list = self.array(self.field(v, "", "symbols")?, ".symbols")?;
        for (i, s) in list.iter().enumerate() {
            let at = format!("symbols[{i}]");
            let symbol = self.str(s, &at, "symbol")?;
            let size = self.field(s, &at, "contractSize")?;
            let size = size
                .as_u64()
                .filter(|&n| n > 0 && n <= i64::MAX as u64)
                .map(|n| Decimal::new(n as i64, 0))
                .ok_or_else(|| {
                    self.err(
                        format!("{at}.contractSize"),
                        format!("expected a positive integer, got {size}"),
                    )
                })?;
            self.push(Venue::BinanceCoinm, symbol, size, true);
        }
        Ok(())
    }

    /// `{"retCode":0,"result":{"list":[{"symbol":"BTCUSD","contractType":"InversePerpetual"}],
    /// "nextPageCursor":""}}`.
    fn bybit(&mut self, v: &Value) -> Result<(), ParseError> {
        let code = self.field(v, "", "retCode")?;
        if code.as_i64() != Some(0) {
            let msg = v.get("retMsg").and_then(Value::as_str).unwrap_or("");
            return Err(self.err("retCode", format!("venue error {code}: {msg:?}")));
        }
        let result = self.field(v, "", "result")?;
        let list = self.array(self.field(result, "result", "list")?, "result.list")?;
        for (i, s) in list.iter().enumerate() {
            let at = format!("result.list[{i}]");
            let symbol = self.str(s, &at, "symbol")?;
            match self.str(s, &at, "contractType")? {
                "InversePerpetual" | "InverseFutures" => {
                    self.push(Venue::BybitInverse, symbol, Decimal::new(1, 0), true)
                }
                _ => self.page.skipped += 1,
            }
        }
        self.page.next_cursor = result
            .get("nextPageCursor")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        Ok(())
    }

    /// `{"code":"0","data":[{"instType":"SWAP","instId":"BTC-USDT-SWAP","ctVal":"0.01",
    /// "ctType":"linear","ctValCcy":"BTC"}]}`.
    fn okx(&mut self, v: &Value) -> Result<(), ParseError> {
        let code = self.field(v, "", "code")?;
        if code.as_str() != Some("0") {
            let msg = v.get("msg").and_then(Value::as_str).unwrap_or("");
            return Err(self.err("code", format!("venue error {code}: {msg:?}")));
        }
        let list = self.array(self.field(v, "", "data")?, "data")?;
        for (i, s) in list.iter().enumerate() {
            let at = format!("data[{i}]");
            let inst = self.str(s, &at, "instId")?;
            let venue = match self.str(s, &at, "instType")? {
                "SWAP" => Venue::OkxSwap,
                "FUTURES" => Venue::OkxFutures,
                _ => {
                    self.page.skipped += 1;
                    continue;
                }
            };
            let size = self.decimal_str(s, &at, "ctVal")?;
            let ccy = self.str(s, &at, "ctValCcy")?;
            let inverse = match self.str(s, &at, "ctType")? {
                "inverse" => true,
                "linear" => false,
                other => {
                    return Err(self.err(
                        format!("{at}.ctType"),
                        format!("{other:?} is neither linear nor inverse"),
                    ))
                }
            };
            // A linear contract whose value is not in the base currency has no base size.
            if !inverse && inst.split('-').next() != Some(ccy) {
                self.page.skipped += 1;
                continue;
            }
            self.push(venue, inst, size, inverse);
        }
        Ok(())
    }

    /// `[{"symbol":"XBTUSD","isInverse":true,"isQuanto":false,"multiplier":-100000000,
    /// "underlyingToPositionMultiplier":null,"underlyingToSettleMultiplier":-100000000}]`.
    fn bitmex(&mut self, v: &Value) -> Result<(), ParseError> {
        let list = self.array(v, "(body)")?;
        for (i, s) in list.iter().enumerate() {
            let at = format!("[{i}]");
            let symbol = self.str(s, &at, "symbol")?;
            if self.bool(s, &at, "isQuanto")? {
                self.page.skipped += 1;
                continue;
            }
            let inverse = self.bool(s, &at, "isInverse")?;
            let multiplier = self.int_or_null(s, &at, "multiplier")?;
            let to_position = self.int_or_null(s, &at, "underlyingToPositionMultiplier")?;
            let to_settle = self.int_or_null(s, &at, "underlyingToSettleMultiplier")?;
            let size = match (inverse, multiplier, to_position, to_settle) {
                (true, Some(m), _, Some(u)) => ratio(m, u),
                (false, _, Some(p), _) => ratio(1, p),
                (false, Some(m), None, Some(u)) => ratio(m, u),
                _ => None,
            };
            match size {
                Some(size) => self.push(Venue::Bitmex, symbol, size, inverse),
                None => self.page.skipped += 1,
            }
        }
        Ok(())
    }

    /// `[{"name":"BTC_USDT","type":"direct","quanto_multiplier":"0.0001"}]`.
    fn gate(&mut self, v: &Value) -> Result<(), ParseError> {
        let list = self.array(v, "(body)")?;
        for (i, s) in list.iter().enumerate() {
            let at = format!("[{i}]");
            let name = self.str(s, &at, "name")?;
            if self.str(s, &at, "type")? != "direct" {
                self.page.skipped += 1;
                continue;
            }
            let size = self.decimal_str(s, &at, "quanto_multiplier")?;
            self.push(Venue::GateFutures, name, size, false);
        }
        Ok(())
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `num / den` as an exact positive decimal, `None` when it is not positive or does not
/// terminate within 18 fractional digits.
pub fn ratio(num: i64, den: i64) -> Option<Decimal> {
    if den == 0 || (num < 0) != (den < 0) || num == 0 {
        return None;
    }
    let (mut n, mut d) = (num.unsigned_abs(), den.unsigned_abs());
    let g = gcd(n, d);
    n /= g;
    d /= g;
    let mut scale = 0u8;
    // Multiply numerator and denominator by 10 until the denominator divides a power of ten.
    while 10u64.checked_pow(u32::from(scale))? % d != 0 {
        scale += 1;
        if scale > Decimal::MAX_SCALE {
            return None;
        }
    }
    let factor = 10u64.checked_pow(u32::from(scale))? / d;
    let mantissa = i64::try_from(n.checked_mul(factor)?).ok()?;
    Some(Decimal::new(mantissa, scale))
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_ratios() {
        assert_eq!(ratio(-100_000_000, -100_000_000), Some(Decimal::new(1, 0)));
        assert_eq!(ratio(1, 10_000), Some(Decimal::new(1, 4)));
        assert_eq!(ratio(100, 1_000_000), Some(Decimal::new(1, 4)));
        assert_eq!(ratio(1, 8), Some(Decimal::new(125, 3)));
        assert_eq!(ratio(1, 3), None);
        assert_eq!(ratio(-1, 3), None);
        assert_eq!(ratio(1, 0), None);
    }
}
