//! Instrument metadata the decoders need to turn venue quantities into base units: contract
//! sizes and whether a contract is inverse (quoted in USD, so base = contracts × size / price).
//!
//! A snapshot is bundled with the binary (`feeds/data/instruments/*.json`) so tests and first
//! runs work offline; the engine may replace it at start-up with fresher metadata fetched over
//! REST on the IO core and cached under the data dir (same JSON format).

use crate::event::{Decimal, Symbol};
use crate::venue::DecodeError;
use crate::venue::Venue;
use std::collections::HashMap;
use std::sync::Arc;

/// How one instrument's trade quantity converts to base units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContractSpec {
    /// Base units (linear) or quote units (inverse) per contract, e.g. OKX `ctVal`.
    pub size: Decimal,
    /// Inverse contracts: `base = contracts × size / price`.
    pub inverse: bool,
}

impl ContractSpec {
    /// One contract = one base unit.
    pub const UNIT: ContractSpec = ContractSpec {
        size: Decimal::new(1, 0),
        inverse: false,
    };

    /// Base units for `contracts` traded at `price`, as a [`Decimal`]:
    /// - linear: `contracts × size`, exact (`None` if the product does not fit 18 digits);
    /// - inverse: `contracts × size / price` computed in `f64` and rounded to
    ///   [`INVERSE_QTY_SCALE`] fractional digits (the quotient rarely terminates; fewer digits
    ///   above ~9.2 million coins); `None` for a non-positive price or a non-finite result.
    pub fn to_base(self, contracts: Decimal, price: Decimal) -> Option<Decimal> {
        if !self.inverse {
            return mul(contracts, self.size);
        }
        if price.mantissa <= 0 {
            return None;
        }
        let q = self.base_qty(contracts.to_f64(), price.to_f64());
        // 12 fractional digits, fewer for quantities above ~9.2 million coins (a large DOGE
        // trade, an open interest): an f64 has no more significant digits than that anyway.
        for scale in (0..=INVERSE_QTY_SCALE).rev() {
            let scaled = (q * 10f64.powi(i32::from(scale))).round();
            if !scaled.is_finite() {
                return None;
            }
            // i64::MAX as f64 rounds up to 2^63, which itself does not fit: compare strictly.
            if scaled.abs() < 9.223_372_036_854_775e18 {
                return Some(Decimal::new(scaled as i64, scale));
            }
        }
        None
    }

    /// Base units for `contracts` traded at `price` (f64: inverse sizes are not exact decimals).
    pub fn base_qty(self, contracts: f64, price: f64) -> f64 {
        let q = contracts * self.size.to_f64();
        if self.inverse {
            q / price
        } else {
            q
        }
    }
}

/// Fractional digits of inverse-contract base quantities ([`ContractSpec::to_base`]):
/// 10^-12 of a coin is far below any venue's size step, and 12 digits leave room for
/// quantities up to ~9.2 million coins in an `i64` mantissa.
pub const INVERSE_QTY_SCALE: u8 = 12;

/// Exact decimal product, `None` when it does not fit (18 fractional digits, i64 mantissa).
fn mul(a: Decimal, b: Decimal) -> Option<Decimal> {
    let mut mantissa = a.mantissa.checked_mul(b.mantissa)?;
    let mut scale = u32::from(a.scale) + u32::from(b.scale);
    while scale > u32::from(Decimal::MAX_SCALE) {
        if mantissa % 10 != 0 {
            return None;
        }
        mantissa /= 10;
        scale -= 1;
    }
    Some(Decimal::new(mantissa, scale as u8))
}

/// Contract specs by venue and instrument name (as the venue's frames spell it).
#[derive(Debug, Clone, Default)]
pub struct Instruments {
    /// Per venue, so that a lookup by `&str` needs no owned key (no allocation on the hot path).
    by_venue: HashMap<Venue, HashMap<String, ContractSpec>>,
}

/// Why an instruments file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstrumentsError {
    #[error("instruments JSON: {0}")]
    Json(String),
    #[error("instruments entry {index}: {message}")]
    Entry { index: usize, message: String },
}

/// The bundled snapshot, one file per exchange family (`feeds/data/instruments/*.json`).
const BUNDLED: &[(&str, &str)] = &[
    ("binance", include_str!("../data/instruments/binance.json")),
    ("bybit", include_str!("../data/instruments/bybit.json")),
    ("okx", include_str!("../data/instruments/okx.json")),
    (
        "coinbase",
        include_str!("../data/instruments/coinbase.json"),
    ),
    ("kraken", include_str!("../data/instruments/kraken.json")),
    ("bitmex", include_str!("../data/instruments/bitmex.json")),
    ("deribit", include_str!("../data/instruments/deribit.json")),
    (
        "bitfinex",
        include_str!("../data/instruments/bitfinex.json"),
    ),
    ("huobi", include_str!("../data/instruments/huobi.json")),
    ("bitget", include_str!("../data/instruments/bitget.json")),
    ("gate", include_str!("../data/instruments/gate.json")),
    (
        "hyperliquid",
        include_str!("../data/instruments/hyperliquid.json"),
    ),
];

impl Instruments {
    /// The snapshot bundled with the binary (parsed once per process, then shared).
    pub fn bundled() -> Arc<Instruments> {
        static BUNDLED_ONCE: std::sync::OnceLock<Arc<Instruments>> = std::sync::OnceLock::new();
        BUNDLED_ONCE.get_or_init(Self::parse_bundled).clone()
    }

    fn parse_bundled() -> Arc<Instruments> {
        let mut all = Instruments::default();
        for (family, text) in BUNDLED {
            match Instruments::parse(text) {
                Ok(part) => {
                    for (venue, specs) in part.by_venue {
                        all.by_venue.entry(venue).or_default().extend(specs);
                    }
                }
                // A unit test parses every bundled file, so this is a build mistake.
                Err(e) => panic!("bundled instruments/{family}.json: {e}"),
            }
        }
        Arc::new(all)
    }

    /// Parse `[{"venue":"okx-swap","symbol":"BTC-USDT-SWAP","size":"0.01","inverse":false}, …]`.
    pub fn parse(text: &str) -> Result<Instruments, InstrumentsError> {
        let mut bytes = text.as_bytes().to_vec();
        let mut parser = crate::json::Parser::without_literals();
        match parser.parse(&mut bytes, |root| Ok(Instruments::from_json(root))) {
            Ok(parsed) => parsed,
            Err(e) => Err(InstrumentsError::Json(e.to_string())),
        }
    }

    fn from_json(root: crate::json::Val<'_, '_>) -> Result<Instruments, InstrumentsError> {
        let list = root
            .elements()
            .ok_or_else(|| InstrumentsError::Json("expected an array".into()))?;
        let mut all = Instruments::default();
        for (index, entry) in list.enumerate() {
            let bad = |message: String| InstrumentsError::Entry { index, message };
            let field = |name: &str| {
                entry
                    .get(name)
                    .ok_or_else(|| bad(format!("missing field `{name}`")))
            };
            let venue_name = field("venue")?
                .str()
                .ok_or_else(|| bad("`venue` must be a string".into()))?;
            let venue = Venue::from_name(venue_name)
                .ok_or_else(|| bad(format!("unknown venue {venue_name:?}")))?;
            let symbol = field("symbol")?
                .str()
                .ok_or_else(|| bad("`symbol` must be a string".into()))?
                .to_owned();
            let size_text = field("size")?
                .str()
                .ok_or_else(|| bad("`size` must be a decimal string".into()))?;
            let size = Decimal::parse(size_text.as_bytes())
                .filter(|d| d.mantissa > 0)
                .ok_or_else(|| bad(format!("bad size {size_text:?}")))?;
            let inverse = match entry.get("inverse") {
                None => false,
                Some(v) => v
                    .as_bool()
                    .ok_or_else(|| bad("`inverse` must be true or false".into()))?,
            };
            all.insert(venue, &symbol, ContractSpec { size, inverse });
        }
        Ok(all)
    }

    /// The spec of `symbol` on `venue`, if known. Allocation-free.
    pub fn get(&self, venue: Venue, symbol: &str) -> Option<ContractSpec> {
        self.by_venue.get(&venue)?.get(symbol).copied()
    }

    /// Add or replace one entry (start-up only).
    pub fn insert(&mut self, venue: Venue, symbol: &str, spec: ContractSpec) {
        self.by_venue
            .entry(venue)
            .or_default()
            .insert(symbol.to_owned(), spec);
    }

    /// Every `(symbol, spec)` of `venue`, in no particular order (decoders copy them into
    /// their own lookup tables at construction).
    pub fn of_venue(&self, venue: Venue) -> impl Iterator<Item = (&str, ContractSpec)> + '_ {
        self.by_venue
            .get(&venue)
            .into_iter()
            .flat_map(|m| m.iter().map(|(symbol, spec)| (symbol.as_str(), *spec)))
    }

    pub fn len(&self) -> usize {
        self.by_venue.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Significant digits kept when an f64 quantity (an inverse-contract conversion) becomes a
/// [`Decimal`]: 15, all an f64 carries reliably, at most [`Decimal::MAX_SCALE`] fractional
/// digits. E.g. 30 USD / 64345 → `0.000466236692827726`.
pub const INVERSE_SIG_DIGITS: i32 = 15;

/// A non-negative finite f64 as a [`Decimal`] rounded to [`INVERSE_SIG_DIGITS`] significant
/// digits; `None` for NaN, infinities, negatives, values past 9.2e18 and positive values
/// below 0.5e-18 (they would round to zero).
pub(crate) fn decimal_from_f64(x: f64) -> Option<Decimal> {
    if !x.is_finite() || x < 0.0 {
        return None;
    }
    if x == 0.0 {
        return Some(Decimal::ZERO);
    }
    let magnitude = x.log10().floor() as i32;
    let scale = (INVERSE_SIG_DIGITS - 1 - magnitude).clamp(0, i32::from(Decimal::MAX_SCALE));
    let mantissa = (x * 10f64.powi(scale)).round();
    // Too large for an i64, or a positive value too small for 18 fractional digits (it must
    // not become a silent zero).
    if !(1.0..9.2e18).contains(&mantissa) {
        return None;
    }
    Some(Decimal::new(mantissa as i64, scale as u8))
}

/// Contract specs of one venue keyed by [`Symbol`], so the hot path looks them up without
/// allocating (`Instruments` keys by `String`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Specs(HashMap<Symbol, ContractSpec>);

impl Specs {
    pub(crate) fn of(venue: Venue, instruments: &Instruments) -> Specs {
        Specs(
            instruments
                .of_venue(venue)
                .filter_map(|(name, spec)| Some((Symbol::new(name.as_bytes())?, spec)))
                .collect(),
        )
    }

    /// Base units for `contracts` of `symbol` traded at `price`, or
    /// [`DecodeError::Instrument`] when the symbol has no spec.
    pub(crate) fn base_qty(
        &self,
        symbol: &Symbol,
        contracts: Decimal,
        price: Decimal,
        qty_name: &'static str,
    ) -> Result<Decimal, DecodeError> {
        let spec = self.0.get(symbol).ok_or(DecodeError::Instrument)?;
        if !spec.inverse {
            // Linear: contracts × size, exact while it fits.
            let exact = contracts
                .mantissa
                .checked_mul(spec.size.mantissa)
                .zip(contracts.scale.checked_add(spec.size.scale))
                .filter(|&(_, scale)| scale <= Decimal::MAX_SCALE);
            if let Some((mantissa, scale)) = exact {
                return Ok(Decimal::new(mantissa, scale));
            }
        }
        decimal_from_f64(spec.base_qty(contracts.to_f64(), price.to_f64()))
            .ok_or(DecodeError::Number(qty_name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_specs_convert_to_base() {
        let mut i = Instruments::default();
        let spec = |size, inverse| ContractSpec {
            size: Decimal::new(size, 6),
            inverse,
        };
        i.insert(Venue::Bitmex, "XBTUSDT", spec(1, false));
        i.insert(Venue::Bitmex, "XBTUSD", spec(1_000_000, true));
        let specs = Specs::of(Venue::Bitmex, &i);
        let sym = |s: &str| Symbol::new(s.as_bytes()).unwrap();
        let (q, p) = (Decimal::new(2500, 0), Decimal::new(50_000, 0));
        assert_eq!(
            specs.base_qty(&sym("XBTUSDT"), q, p, "q"),
            Ok(Decimal::new(25, 4))
        );
        assert_eq!(
            specs.base_qty(&sym("XBTUSD"), q, p, "q"),
            Ok(Decimal::new(5, 2))
        );
        assert_eq!(
            specs.base_qty(&sym("ETHUSD"), q, p, "q"),
            Err(DecodeError::Instrument)
        );
        // Past 18 fractional digits the exact product does not fit, and the f64 result is
        // below the smallest decimal: an error, not a zero.
        let tiny = Decimal::new(3, 14);
        assert_eq!(
            specs.base_qty(&sym("XBTUSDT"), tiny, p, "q"),
            Err(DecodeError::Number("q"))
        );
        assert_eq!(
            specs.base_qty(&sym("XBTUSDT"), Decimal::new(3, 10), p, "q"),
            Ok(Decimal::new(3, 16))
        );
    }

    #[test]
    fn f64_quantities_keep_15_significant_digits() {
        assert_eq!(
            decimal_from_f64(30.0 / 64345.0)
                .map(|d| d.to_string())
                .as_deref(),
            Some("0.000466236692827726")
        );
        assert_eq!(
            decimal_from_f64(9.8654480327),
            Some(Decimal::new(98_654_480_327, 10))
        );
        assert_eq!(decimal_from_f64(1e-12), Some(Decimal::new(1_000_000, 18)));
        assert_eq!(decimal_from_f64(1e-18), Some(Decimal::new(1, 18)));
        assert_eq!(decimal_from_f64(4e-19), None, "would round to zero");
        assert_eq!(decimal_from_f64(0.0), Some(Decimal::ZERO));
        assert_eq!(
            decimal_from_f64(1.0e7),
            Some(Decimal::new(100_000_000_000_000, 7))
        );
        for bad in [f64::NAN, f64::INFINITY, -1.0, 1e19] {
            assert_eq!(decimal_from_f64(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_entries_and_rejects_bad_ones() {
        let i = Instruments::parse(
            r#"[{"venue":"okx-swap","symbol":"BTC-USDT-SWAP","size":"0.01"},
                {"venue":"deribit","symbol":"BTC-PERPETUAL","size":"10","inverse":true}]"#,
        )
        .unwrap();
        let okx = i.get(Venue::OkxSwap, "BTC-USDT-SWAP").unwrap();
        assert_eq!(okx.size, Decimal::new(1, 2));
        assert!(!okx.inverse);
        assert_eq!(okx.base_qty(3.0, 60_000.0), 0.03);
        let d = i.get(Venue::Deribit, "BTC-PERPETUAL").unwrap();
        assert_eq!(d.base_qty(60_000.0, 60_000.0), 10.0);
        assert!(i.get(Venue::OkxSwap, "ETH-USDT-SWAP").is_none());

        for bad in [
            "{}",
            r#"[{"venue":"nope","symbol":"X","size":"1"}]"#,
            r#"[{"venue":"okx-swap","symbol":"X","size":"0"}]"#,
            r#"[{"venue":"okx-swap","symbol":"X"}]"#,
            r#"[{"venue":"okx-swap","symbol":"X","size":1}]"#,
        ] {
            assert!(Instruments::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn contracts_convert_to_base() {
        let d = |t: &str| Decimal::parse(t.as_bytes()).unwrap();
        let linear = ContractSpec {
            size: d("0.01"),
            inverse: false,
        };
        assert_eq!(linear.to_base(d("31.27"), d("64311")), Some(d("0.3127")));
        let three = ContractSpec {
            size: d("3"),
            inverse: false,
        };
        assert_eq!(
            three.to_base(Decimal::new(i64::MAX / 2, 0), d("1")),
            None,
            "overflow is refused"
        );
        let tiny = ContractSpec {
            size: d("0.000000001"),
            inverse: false,
        };
        assert_eq!(tiny.to_base(d("0.0000000001"), d("1")), None);
        assert_eq!(
            tiny.to_base(d("0.0000000010"), d("1")),
            Some(d("0.000000000000000001"))
        );
        let inverse = ContractSpec {
            size: d("10"),
            inverse: true,
        };
        let q = inverse.to_base(d("100"), d("5.123")).unwrap();
        assert_eq!(q.scale, INVERSE_QTY_SCALE);
        assert!((q.to_f64() - 1000.0 / 5.123).abs() < 1e-9);
        assert_eq!(inverse.to_base(d("100"), d("0")), None);
        // 1e16 coins do not fit 12 fractional digits: fewer digits, same value.
        let big = inverse.to_base(d("1e15"), d("1")).unwrap();
        assert!(big.scale < INVERSE_QTY_SCALE);
        assert_eq!(big.to_f64(), 1e16);
        // 20 million DOGE (a $2M inverse trade at 0.1): 11 fractional digits.
        let doge = ContractSpec {
            size: d("1"),
            inverse: true,
        };
        let q = doge.to_base(d("2000000"), d("0.1")).unwrap();
        assert_eq!((q.to_f64(), q.scale), (20_000_000.0, 11));
        assert_eq!(
            inverse.to_base(d("1e15"), d("0.000000000000000001")),
            None,
            "too large for any scale"
        );
    }

    #[test]
    fn bundled_snapshot_parses() {
        for (family, text) in BUNDLED {
            if let Err(e) = Instruments::parse(text) {
                panic!("instruments/{family}.json: {e}");
            }
        }
        let _ = Instruments::bundled();
    }
}
