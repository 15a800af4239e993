//! Instrument metadata the decoders need to turn venue quantities into base units: contract
//! sizes and whether a contract is inverse (quoted in USD, so base = contracts × size / price).
//!
//! A snapshot is bundled with the binary (`feeds/data/instruments/*.json`) so tests and first
//! runs work offline; the engine may replace it at start-up with fresher metadata fetched over
//! REST on the IO core and cached under the data dir (same JSON format).

use crate::event::Decimal;
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

/// Contract specs by venue and instrument name (as the venue's frames spell it).
#[derive(Debug, Clone, Default)]
pub struct Instruments {
    by_key: HashMap<(Venue, String), ContractSpec>,
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
    /// The snapshot bundled with the binary.
    pub fn bundled() -> Arc<Instruments> {
        let mut all = Instruments::default();
        for (family, text) in BUNDLED {
            match Instruments::parse(text) {
                Ok(part) => all.by_key.extend(part.by_key),
                // A unit test parses every bundled file, so this is a build mistake.
                Err(e) => panic!("bundled instruments/{family}.json: {e}"),
            }
        }
        Arc::new(all)
    }

    /// Parse `[{"venue":"okx-swap","symbol":"BTC-USDT-SWAP","size":"0.01","inverse":false}, …]`.
    pub fn parse(text: &str) -> Result<Instruments, InstrumentsError> {
        use simd_json::prelude::*;
        let mut bytes = text.as_bytes().to_vec();
        let value = simd_json::to_owned_value(&mut bytes)
            .map_err(|e| InstrumentsError::Json(e.to_string()))?;
        let list = value
            .as_array()
            .ok_or_else(|| InstrumentsError::Json("expected an array".into()))?;
        let mut by_key = HashMap::with_capacity(list.len());
        for (index, entry) in list.iter().enumerate() {
            let bad = |message: String| InstrumentsError::Entry { index, message };
            let field = |name: &str| {
                entry
                    .get(name)
                    .ok_or_else(|| bad(format!("missing field `{name}`")))
            };
            let venue_name = field("venue")?
                .as_str()
                .ok_or_else(|| bad("`venue` must be a string".into()))?;
            let venue = Venue::from_name(venue_name)
                .ok_or_else(|| bad(format!("unknown venue {venue_name:?}")))?;
            let symbol = field("symbol")?
                .as_str()
                .ok_or_else(|| bad("`symbol` must be a string".into()))?
                .to_owned();
            let size_text = field("size")?
                .as_str()
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
            by_key.insert((venue, symbol), ContractSpec { size, inverse });
        }
        Ok(Instruments { by_key })
    }

    /// The spec of `symbol` on `venue`, if known.
    pub fn get(&self, venue: Venue, symbol: &str) -> Option<ContractSpec> {
        self.by_key.get(&(venue, symbol.to_owned())).copied()
    }

    /// Add or replace one entry (start-up only).
    pub fn insert(&mut self, venue: Venue, symbol: &str, spec: ContractSpec) {
        self.by_key.insert((venue, symbol.to_owned()), spec);
    }

    /// Every `(symbol, spec)` of `venue`, in no particular order (decoders copy them into
    /// their own lookup tables at construction).
    pub fn of_venue(&self, venue: Venue) -> impl Iterator<Item = (&str, ContractSpec)> + '_ {
        self.by_key
            .iter()
            .filter(move |((v, _), _)| *v == venue)
            .map(|((_, symbol), spec)| (symbol.as_str(), *spec))
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn bundled_snapshot_parses() {
        for (family, text) in BUNDLED {
            if let Err(e) = Instruments::parse(text) {
                panic!("instruments/{family}.json: {e}");
            }
        }
        let _ = Instruments::bundled();
    }
}
