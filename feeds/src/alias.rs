//! Venue names as aggr-server spells them, accepted beside ours in tapes and configs.
//!
//! aggr-server names an exchange by the id its `src/exchanges/*.js` class gives itself, which is
//! also the prefix of its market ids (`BINANCE_FUTURES:btcusdt`; [`Venue::exchange`]). Checked in
//! Tucsky/aggr-server on 2026-12-07 (code index; `binance_futures.js`, `gateio.js`, `bitget.js`,
//! `coinbase.js` at 0a91adf0, `bybit.js` at 124f0675, `okex.js` at 0ee40a4e, `kraken.js` at
//! 2129161f, `huobi.js` at 05983504, `hyperliquid.js` at 29d4c6d9; `BINANCE`, `BITMEX`,
//! `DERIBIT`, `BITFINEX` as in the market ids of shared/reference/seed-compat.md): `BINANCE`, `BINANCE_FUTURES`, `BYBIT`, `OKEX`,
//! `COINBASE`, `KRAKEN`, `BITMEX`, `DERIBIT`, `BITFINEX`, `HUOBI`, `BITGET`, `GATEIO`,
//! `HYPERLIQUID` (its other exchanges — `BINANCE_US`, `BITSTAMP`, `KUCOIN`, `MEXC`, … — have no
//! adapter here). They are matched case-insensitively (`binance_futures`); our own names
//! ([`Venue::name`]) always win, so `binance`, `kraken`, `coinbase`, … keep meaning ours.
//!
//! One aggr-server id can cover several of our venue APIs. The instrument decides, the way
//! aggr-server itself routes a pair (its product lists):
//!
//! | id | ours | decided by |
//! |---|---|---|
//! | `BINANCE_FUTURES` | `binance-usdm`, `binance-coinm` | COIN-M symbols are quoted in USD before `_` (`BTCUSD_PERP`, `ETHUSD_261225`); USDⓈ-M ones are not (`BTCUSDT`, `BTCUSDT_261225`) |
//! | `BYBIT` | `bybit-linear`, `bybit-inverse`, `bybit-spot` | config pairs: aggr-server's `-SPOT` suffix = spot; a USD quote (`BTCUSD`, `BTCUSDZ26`) = inverse; else linear. Frames: the topic's symbol likewise; spot and linear share symbols (`BTCUSDT`), so a `publicTrade` frame without the derivatives-only tick direction `L` (Bybit v5 docs) is spot, and a `tickers` frame without `openInterest` is read as spot (it yields no event on either) |
//! | `OKEX` | `okx-spot`, `okx-swap`, `okx-futures` | the instrument id (`BTC-USDT`, `BTC-USDT-SWAP`, `BTC-USD-261225`) |
//! | `COINBASE` | `coinbase`, `coinbase-advanced` | config pairs: Coinbase Exchange, as aggr-server's spot pairs (its `-INTX` perpetuals have no adapter here). Frames: Advanced Trade frames carry `"channel"` |
//! | `KRAKEN` | `kraken`, `kraken-futures` | Futures products start `PI_`/`PF_`/`FI_`/`FF_`; frames: Futures carry `"feed"` |
//! | `HUOBI` | `huobi`, `huobi-swap` | USDT swaps are `BTC-USDT`, spot `btcusdt` (aggr-server's coin-margined `BTC-USD` and `BTC_CQ` futures have no adapter here) |
//! | `BITGET` | `bitget`, `bitget-spot` | config pairs: `-SPOT` suffix; frames: `"instType":"SPOT"` |
//! | `GATEIO` | `gate-futures` | only USDT futures have an adapter here; `-SPOT` pairs are refused |
//!
//! A frame that names no instrument (a subscribe reply, a pong) goes to the first venue of the
//! id's row; such frames produce no market events.

use crate::venue::Venue;

/// aggr-server's exchange ids and the venues each covers (first = default for frames that
/// name no instrument).
pub const AGGR_SERVER_IDS: &[(&str, &[Venue])] = &[
    ("BINANCE", &[Venue::BinanceSpot]),
    (
        "BINANCE_FUTURES",
        &[Venue::BinanceUsdm, Venue::BinanceCoinm],
    ),
    (
        "BYBIT",
        &[Venue::BybitLinear, Venue::BybitInverse, Venue::BybitSpot],
    ),
    ("OKEX", &[Venue::OkxSpot, Venue::OkxSwap, Venue::OkxFutures]),
    ("COINBASE", &[Venue::Coinbase, Venue::CoinbaseAdvanced]),
    ("KRAKEN", &[Venue::KrakenSpot, Venue::KrakenFutures]),
    ("BITMEX", &[Venue::Bitmex]),
    ("DERIBIT", &[Venue::Deribit]),
    ("BITFINEX", &[Venue::Bitfinex]),
    ("HUOBI", &[Venue::Huobi, Venue::HuobiSwap]),
    ("BITGET", &[Venue::Bitget, Venue::BitgetSpot]),
    ("GATEIO", &[Venue::GateFutures]),
    ("HYPERLIQUID", &[Venue::Hyperliquid]),
];

/// A venue as written in a tape or a config: one of ours, or an aggr-server id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VenueName {
    Ours(Venue),
    /// Index into [`AGGR_SERVER_IDS`].
    AggrServer(usize),
}

impl VenueName {
    /// Our name exactly, else an aggr-server id in any case; `None` for anything else.
    pub fn parse(name: &str) -> Option<VenueName> {
        if let Some(v) = Venue::from_name(name) {
            return Some(VenueName::Ours(v));
        }
        AGGR_SERVER_IDS
            .iter()
            .position(|(id, _)| id.eq_ignore_ascii_case(name))
            .map(VenueName::AggrServer)
    }

    /// The venues this name may stand for.
    pub fn venues(self) -> &'static [Venue] {
        match self {
            VenueName::Ours(v) => {
                let i = Venue::ALL.iter().position(|&x| x == v).unwrap_or(0);
                &Venue::ALL[i..=i]
            }
            VenueName::AggrServer(i) => AGGR_SERVER_IDS[i].1,
        }
    }

    /// The venue of a tape line whose frame is `frame` (see the module docs).
    pub fn for_frame(self, frame: &[u8]) -> Venue {
        let venues = self.venues();
        if venues.len() == 1 {
            return venues[0];
        }
        let fallback = venues[0];
        match fallback {
            Venue::BinanceUsdm => match string_field(frame, b"\"s\":\"") {
                Some(sym) if coinm_symbol(sym) => Venue::BinanceCoinm,
                _ => Venue::BinanceUsdm,
            },
            Venue::BybitLinear => {
                let Some(topic) = string_field(frame, b"\"topic\":\"") else {
                    return fallback;
                };
                let (channel, sym) = match topic.iter().position(|&b| b == b'.') {
                    Some(i) => (&topic[..i], &topic[topic.len() - last_dot_len(topic)..]),
                    None => (topic, &b""[..]),
                };
                if bybit_inverse_symbol(sym) {
                    Venue::BybitInverse
                } else if channel == b"publicTrade" {
                    if contains(frame, b"\"L\":") {
                        Venue::BybitLinear
                    } else {
                        Venue::BybitSpot
                    }
                } else if channel == b"tickers" && !contains(frame, b"\"openInterest\"") {
                    Venue::BybitSpot
                } else {
                    Venue::BybitLinear
                }
            }
            Venue::OkxSpot => string_field(frame, b"\"instId\":\"")
                .and_then(|id| std::str::from_utf8(id).ok())
                .and_then(crate::okx::inst_kind)
                .unwrap_or(fallback),
            Venue::Coinbase if contains(frame, b"\"channel\":\"") => Venue::CoinbaseAdvanced,
            Venue::KrakenSpot if contains(frame, b"\"feed\":\"") => Venue::KrakenFutures,
            Venue::Huobi => match string_field(frame, b"\"ch\":\"market.")
                .or_else(|| string_field(frame, b"\"subbed\":\"market."))
            {
                Some(rest)
                    if rest
                        .split(|&b| b == b'.')
                        .next()
                        .is_some_and(|s| s.contains(&b'-')) =>
                {
                    Venue::HuobiSwap
                }
                _ => Venue::Huobi,
            },
            Venue::Bitget if contains(frame, b"\"instType\":\"SPOT\"") => Venue::BitgetSpot,
            _ => fallback,
        }
    }

    /// The venue of a config pair written as aggr-server writes it, and the pair as our
    /// venue's requests spell it (the `-SPOT` suffix dropped); `Err` says why none fits.
    pub fn for_pair(self, pair: &str) -> Result<(Venue, String), String> {
        let venues = self.venues();
        let spot = pair.strip_suffix("-SPOT");
        let plain = spot.unwrap_or(pair);
        let venue = match venues[0] {
            _ if venues.len() == 1 && spot.is_none() => venues[0],
            Venue::BinanceUsdm if coinm_symbol(pair.to_ascii_uppercase().as_bytes()) => {
                Venue::BinanceCoinm
            }
            Venue::BinanceUsdm => Venue::BinanceUsdm,
            Venue::BybitLinear if spot.is_some() => Venue::BybitSpot,
            Venue::BybitLinear if bybit_inverse_symbol(pair.as_bytes()) => Venue::BybitInverse,
            Venue::BybitLinear => Venue::BybitLinear,
            Venue::OkxSpot => crate::okx::inst_kind(pair).ok_or_else(|| {
                format!("{pair:?} is not an OKX instrument id (BTC-USDT, BTC-USDT-SWAP, BTC-USD-261225)")
            })?,
            Venue::Coinbase if pair.ends_with("-INTX") => {
                return Err(format!(
                    "{pair:?}: Coinbase International perpetuals have no adapter here"
                ))
            }
            Venue::Coinbase => Venue::Coinbase,
            Venue::KrakenSpot
                if ["PI_", "PF_", "FI_", "FF_"]
                    .iter()
                    .any(|p| pair.to_ascii_uppercase().starts_with(p)) =>
            {
                Venue::KrakenFutures
            }
            Venue::KrakenSpot => Venue::KrakenSpot,
            Venue::Huobi if pair.ends_with("-USDT") => Venue::HuobiSwap,
            Venue::Huobi if pair.contains(['-', '_']) => {
                return Err(format!(
                    "{pair:?}: only HTX spot (btcusdt) and USDT swaps (BTC-USDT) have adapters here"
                ))
            }
            Venue::Huobi => Venue::Huobi,
            Venue::Bitget if spot.is_some() => Venue::BitgetSpot,
            Venue::Bitget => Venue::Bitget,
            other => {
                return Err(format!(
                    "{pair:?}: {} has no spot adapter here",
                    other.name()
                ))
            }
        };
        Ok((venue, plain.to_string()))
    }
}

/// Every accepted spelling, for error messages: ours, then aggr-server's ids.
pub fn accepted_spellings() -> String {
    spellings(true)
}

/// [`accepted_spellings`] for configs: venues that closed ([`Venue::closed`]) are left out,
/// since a feed cannot follow them.
pub fn open_spellings() -> String {
    spellings(false)
}

fn spellings(with_closed: bool) -> String {
    let open = |v: &Venue| with_closed || v.closed().is_none();
    let ours: Vec<&str> = Venue::ALL
        .iter()
        .filter(|v| open(v))
        .map(|v| v.name())
        .collect();
    let aggr: Vec<&str> = AGGR_SERVER_IDS
        .iter()
        .filter(|(_, venues)| venues.iter().any(open))
        .map(|(id, _)| *id)
        .collect();
    format!(
        "{}; or aggr-server's ids, any case: {}",
        ours.join(", "),
        aggr.join(", ")
    )
}

/// `BTCUSD_PERP`, `ETHUSD_261225` (COIN-M): a USD quote right before the `_`.
fn coinm_symbol(sym: &[u8]) -> bool {
    match sym.iter().position(|&b| b == b'_') {
        Some(i) => sym[..i].ends_with(b"USD") || sym[..i].ends_with(b"usd"),
        None => false,
    }
}

/// Bybit inverse contracts: `BTCUSD` (perpetual) and `BTCUSDZ26` (dated: month code, 2-digit year).
fn bybit_inverse_symbol(sym: &[u8]) -> bool {
    if sym.ends_with(b"USD") {
        return true;
    }
    let n = sym.len();
    n > 6
        && sym[n - 2..].iter().all(u8::is_ascii_digit)
        && b"FGHJKMNQUVXZ".contains(&sym[n - 3])
        && &sym[n - 6..n - 3] == b"USD"
}

fn last_dot_len(s: &[u8]) -> usize {
    s.iter().rev().position(|&b| b == b'.').unwrap_or(s.len())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The string value after the first `key` (which ends with its opening quote).
fn string_field<'a>(frame: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let at = frame.windows(key.len()).position(|w| w == key)? + key.len();
    let rest = &frame[at..];
    let end = rest.iter().position(|&b| b == b'"')?;
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> VenueName {
        VenueName::parse(s).unwrap_or_else(|| panic!("{s} not accepted"))
    }

    #[test]
    fn ours_win_and_aggr_ids_match_in_any_case() {
        assert_eq!(name("binance"), VenueName::Ours(Venue::BinanceSpot));
        assert_eq!(name("kraken"), VenueName::Ours(Venue::KrakenSpot));
        assert_eq!(name("BINANCE").venues(), &[Venue::BinanceSpot]);
        assert_eq!(name("binance_futures"), name("BINANCE_FUTURES"));
        assert_eq!(name("Okex").venues().len(), 3);
        assert!(VenueName::parse("binance-futures").is_none());
        assert!(VenueName::parse("KUCOIN").is_none());
        assert!(accepted_spellings().contains("binance-usdm"));
        assert!(accepted_spellings().contains("BINANCE_FUTURES"));
    }

    #[test]
    fn frames_pick_the_venue_by_instrument() {
        let bf = name("BINANCE_FUTURES");
        let frame = |s: &str| {
            format!(r#"{{"stream":"x@aggTrade","data":{{"e":"aggTrade","s":"{s}","p":"1"}}}}"#)
        };
        assert_eq!(
            bf.for_frame(frame("BTCUSD_PERP").as_bytes()),
            Venue::BinanceCoinm
        );
        assert_eq!(
            bf.for_frame(frame("ETHUSD_261225").as_bytes()),
            Venue::BinanceCoinm
        );
        assert_eq!(
            bf.for_frame(frame("BTCUSDT").as_bytes()),
            Venue::BinanceUsdm
        );
        assert_eq!(
            bf.for_frame(frame("BTCUSDT_261225").as_bytes()),
            Venue::BinanceUsdm
        );
        assert_eq!(
            bf.for_frame(br#"{"result":null,"id":1}"#),
            Venue::BinanceUsdm
        );

        let by = name("bybit");
        // `bybit` is not one of ours (ours are bybit-linear/-inverse/-spot): aggr-server's id.
        assert!(matches!(by, VenueName::AggrServer(_)));
        let linear = br#"{"topic":"publicTrade.BTCUSDT","data":[{"s":"BTCUSDT","L":"PlusTick"}]}"#;
        let spot = br#"{"topic":"publicTrade.BTCUSDT","data":[{"s":"BTCUSDT","BT":false}]}"#;
        let inverse = br#"{"topic":"publicTrade.BTCUSD","data":[{"s":"BTCUSD","L":"PlusTick"}]}"#;
        let liq = br#"{"topic":"allLiquidation.ETHUSDT","data":[]}"#;
        assert_eq!(by.for_frame(linear), Venue::BybitLinear);
        assert_eq!(by.for_frame(spot), Venue::BybitSpot);
        assert_eq!(by.for_frame(inverse), Venue::BybitInverse);
        assert_eq!(by.for_frame(liq), Venue::BybitLinear);
        assert_eq!(
            by.for_frame(br#"{"topic":"publicTrade.BTCUSDZ26","data":[]}"#),
            Venue::BybitInverse
        );

        let ok = name("OKEX");
        assert_eq!(
            ok.for_frame(br#"{"arg":{"channel":"trades","instId":"BTC-USD-261225"}}"#),
            Venue::OkxFutures
        );
        assert_eq!(
            ok.for_frame(br#"{"arg":{"channel":"trades","instId":"BTC-USDT-SWAP"}}"#),
            Venue::OkxSwap
        );
        assert_eq!(
            name("COINBASE").for_frame(br#"{"channel":"market_trades","events":[]}"#),
            Venue::CoinbaseAdvanced
        );
        assert_eq!(
            name("COINBASE").for_frame(br#"{"type":"match","product_id":"BTC-USD"}"#),
            Venue::Coinbase
        );
        assert_eq!(
            name("KRAKEN").for_frame(br#"{"feed":"trade","product_id":"PI_XBTUSD"}"#),
            Venue::KrakenFutures
        );
        assert_eq!(
            name("HUOBI").for_frame(br#"{"ch":"market.BTC-USDT.trade.detail"}"#),
            Venue::HuobiSwap
        );
        assert_eq!(
            name("HUOBI").for_frame(br#"{"ch":"market.btcusdt.trade.detail"}"#),
            Venue::Huobi
        );
        assert_eq!(
            name("BITGET").for_frame(br#"{"arg":{"instType":"SPOT","instId":"BTCUSDT"}}"#),
            Venue::BitgetSpot
        );
        assert_eq!(name("GATEIO").for_frame(b"{}"), Venue::GateFutures);
    }

    #[test]
    fn config_pairs_pick_the_venue_and_lose_the_spot_suffix() {
        let pair = |n: &str, p: &str| name(n).for_pair(p);
        assert_eq!(
            pair("BINANCE_FUTURES", "btcusd_perp").unwrap(),
            (Venue::BinanceCoinm, "btcusd_perp".to_string())
        );
        assert_eq!(
            pair("BINANCE_FUTURES", "btcusdt").unwrap().0,
            Venue::BinanceUsdm
        );
        assert_eq!(
            pair("BYBIT", "BTCUSDT-SPOT").unwrap(),
            (Venue::BybitSpot, "BTCUSDT".to_string())
        );
        assert_eq!(pair("BYBIT", "BTCUSD").unwrap().0, Venue::BybitInverse);
        assert_eq!(pair("BYBIT", "BTCUSDT").unwrap().0, Venue::BybitLinear);
        assert_eq!(pair("OKEX", "BTC-USDT-SWAP").unwrap().0, Venue::OkxSwap);
        assert_eq!(pair("OKEX", "BTC-USDT").unwrap().0, Venue::OkxSpot);
        assert_eq!(pair("KRAKEN", "PI_XBTUSD").unwrap().0, Venue::KrakenFutures);
        assert_eq!(pair("KRAKEN", "XBT/USD").unwrap().0, Venue::KrakenSpot);
        assert_eq!(pair("HUOBI", "BTC-USDT").unwrap().0, Venue::HuobiSwap);
        assert_eq!(pair("BITGET", "BTCUSDT-SPOT").unwrap().0, Venue::BitgetSpot);
        assert_eq!(pair("COINBASE", "BTC-USD").unwrap().0, Venue::Coinbase);
        assert!(pair("COINBASE", "BTC-PERP-INTX").is_err());
        assert!(pair("GATEIO", "BTC_USDT-SPOT").is_err());
        assert!(pair("HUOBI", "BTC_CQ").is_err());
        assert!(pair("OKEX", "nonsense").is_err());
    }
}
