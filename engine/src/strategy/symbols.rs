//! Which markets make up each traded symbol, and its reference market.

use super::{StrategyConfig, SymbolSpec};
use crate::market::MarketIdx;
use feeds::MarketKind;

/// A market as the symbol resolution sees it.
#[derive(Debug, Clone, Copy)]
pub struct MarketInfo<'a> {
    pub idx: MarketIdx,
    /// `BINANCE_FUTURES:btcusdt`.
    pub id: &'a str,
    /// `BTC`.
    pub base: &'a str,
    pub kind: MarketKind,
}

/// The symbols to trade, each with its markets in the order given and its reference market.
///
/// Without an explicit `symbols` list, the first `max_symbols` bases that have both a SPOT and
/// a PERP market are chosen, in the order their first market appears. Errors name the problem
/// (explicit symbol without markets, reference market not among the symbol's markets, …).
pub fn resolve(
    cfg: &StrategyConfig,
    markets: &[MarketInfo<'_>],
) -> Result<Vec<SymbolSpec>, String> {
    let mut bases: Vec<String> = Vec::new();
    if cfg.symbols.is_empty() {
        for m in markets {
            if bases.iter().any(|b| b == m.base) {
                continue;
            }
            let has = |k| markets.iter().any(|x| x.base == m.base && x.kind == k);
            if has(MarketKind::Spot) && has(MarketKind::Perp) {
                bases.push(m.base.to_string());
            }
        }
        bases.truncate(cfg.max_symbols);
    } else {
        if cfg.symbols.len() > cfg.max_symbols {
            return Err(format!(
                "strategy.symbols lists {} symbols but max_symbols is {}",
                cfg.symbols.len(),
                cfg.max_symbols
            ));
        }
        bases = cfg.symbols.clone();
    }
    for name in cfg.reference.keys() {
        if !bases.contains(name) {
            return Err(format!(
                "strategy.reference names {name}, which is not a traded symbol ({})",
                bases.join(", ")
            ));
        }
    }
    let mut out = Vec::with_capacity(bases.len());
    for base in bases {
        let mine: Vec<&MarketInfo<'_>> = markets.iter().filter(|m| m.base == base).collect();
        if mine.is_empty() {
            return Err(format!("strategy symbol {base} has no configured markets"));
        }
        if !mine.iter().any(|m| m.kind == MarketKind::Spot)
            || !mine.iter().any(|m| m.kind == MarketKind::Perp)
        {
            log::warn!(
                "strategy symbol {base} lacks a SPOT or a PERP market: spot/perp divergence cannot occur"
            );
        }
        let reference = match cfg.reference.get(&base) {
            Some(id) => {
                mine.iter()
                    .find(|m| m.id == id)
                    .ok_or_else(|| {
                        format!(
                        "strategy.reference.{base} = {id:?} is not one of {base}'s markets ({})",
                        mine.iter().map(|m| m.id).collect::<Vec<_>>().join(", ")
                    )
                    })?
                    .idx
            }
            None => {
                mine.iter()
                    .find(|m| m.kind == MarketKind::Perp)
                    .unwrap_or(&mine[0])
                    .idx
            }
        };
        out.push(SymbolSpec {
            pair: format!("{base}{}", cfg.quote),
            base,
            markets: mine.iter().map(|m| (m.idx, m.kind)).collect(),
            reference,
        });
    }
    Ok(out)
}

/// SPOT/PERP/FUTURE of a stored market id (`EXCHANGE:pair`), by the rules of seed-compat.md;
/// `None` for an exchange this engine does not know (never a silent default).
pub fn classify_market_id(id: &str) -> Option<MarketKind> {
    let (venue, pair) = feeds::Venue::of_market_id(id)?;
    let symbol = feeds::Symbol::new(pair.trim_end_matches("-SPOT").as_bytes())?;
    Some(venue.market_kind(&symbol))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info<'a>(idx: MarketIdx, id: &'a str, base: &'a str, kind: MarketKind) -> MarketInfo<'a> {
        MarketInfo {
            idx,
            id,
            base,
            kind,
        }
    }

    #[test]
    fn default_symbols_need_spot_and_perp_and_respect_the_cap() {
        let m = [
            info(0, "BINANCE:btcusdt", "BTC", MarketKind::Spot),
            info(1, "BINANCE:dogeusdt", "DOGE", MarketKind::Spot),
            info(2, "BINANCE_FUTURES:btcusdt", "BTC", MarketKind::Perp),
            info(3, "BINANCE:ethusdt", "ETH", MarketKind::Spot),
            info(4, "BINANCE_FUTURES:ethusdt", "ETH", MarketKind::Perp),
        ];
        let cfg = StrategyConfig::default();
        let s = resolve(&cfg, &m).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].base.as_str(), s[0].pair.as_str(), s[0].reference),
            ("BTC", "BTCUSDT", 2)
        );
        assert_eq!(
            s[0].markets,
            vec![(0, MarketKind::Spot), (2, MarketKind::Perp)]
        );
        assert_eq!(s[1].base, "ETH");
        let one = StrategyConfig {
            max_symbols: 1,
            ..StrategyConfig::default()
        };
        assert_eq!(resolve(&one, &m).unwrap().len(), 1);

        let mut explicit = StrategyConfig {
            symbols: vec!["ETH".into()],
            ..StrategyConfig::default()
        };
        explicit
            .reference
            .insert("ETH".into(), "BINANCE:ethusdt".into());
        let s = resolve(&explicit, &m).unwrap();
        assert_eq!((s[0].base.as_str(), s[0].reference), ("ETH", 3));

        explicit
            .reference
            .insert("ETH".into(), "BINANCE:btcusdt".into());
        assert!(resolve(&explicit, &m)
            .unwrap_err()
            .contains("not one of ETH's markets"));
        let missing = StrategyConfig {
            symbols: vec!["SOL".into()],
            ..StrategyConfig::default()
        };
        assert!(resolve(&missing, &m)
            .unwrap_err()
            .contains("SOL has no configured markets"));
    }

    #[test]
    fn market_ids_classify_as_seed_compat_says() {
        for (id, kind) in [
            ("BINANCE:btcusdt", Some(MarketKind::Spot)),
            ("BINANCE_FUTURES:btcusdt", Some(MarketKind::Perp)),
            ("BINANCE_FUTURES:btcusd_perp", Some(MarketKind::Perp)),
            ("BYBIT:BTCUSDT", Some(MarketKind::Perp)),
            ("BYBIT:BTCUSDT-SPOT", Some(MarketKind::Spot)),
            ("BITGET:BTCUSDT", Some(MarketKind::Perp)),
            ("BITGET:BTCUSDT-SPOT", Some(MarketKind::Spot)),
            ("HUOBI:btcusdt", Some(MarketKind::Spot)),
            ("HUOBI:BTC-USDT", Some(MarketKind::Perp)),
            ("KRAKEN:PF_XBTUSD", Some(MarketKind::Perp)),
            ("OKEX:BTC-USDT", Some(MarketKind::Spot)),
            ("OKEX:BTC-USDT-SWAP", Some(MarketKind::Perp)),
            ("OKEX:BTC-USD-261225", Some(MarketKind::Future)),
            ("KRAKEN:XBT/USD", Some(MarketKind::Spot)),
            ("KRAKEN:PI_XBTUSD", Some(MarketKind::Perp)),
            ("BITFINEX:BTCUSD", Some(MarketKind::Spot)),
            ("BITFINEX:BTCF0:USTF0", Some(MarketKind::Perp)),
            ("BITMEX:XBTUSD", Some(MarketKind::Perp)),
            ("HYPERLIQUID:BTC", Some(MarketKind::Perp)),
            ("NOWHERE:BTCUSD", None),
            ("garbage", None),
        ] {
            assert_eq!(classify_market_id(id), kind, "{id}");
        }
    }
}
