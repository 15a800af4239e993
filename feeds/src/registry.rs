//! The dispatch over venues: the layer above every venue module. A [`Venue`] names a venue
//! (in [`crate::venue`], which no venue module depends on for anything but names, traits and
//! shared types); here it is turned into its decoder, its market ids and its market kinds by
//! asking the venue's own module.

use crate::event::Symbol;
use crate::instruments::Instruments;
use crate::venue::{Decode, MarketKind, Venue, VenueSpec};
pub use crate::venue::{RestPace, TradeIds};
use std::sync::Arc;

/// The registry: every venue's [`VenueSpec`], declared by its own module, listed once.
fn spec_of(venue: Venue) -> &'static VenueSpec {
    use crate::{binance, bitfinex, bitget, bitmex, bybit, coinbase, deribit, gate, huobi};
    use crate::{hyperliquid, kraken, okx};
    match venue {
        Venue::BinanceSpot => &binance::SPOT_SPEC,
        Venue::BinanceUsdm => &binance::USDM_SPEC,
        Venue::BinanceCoinm => &binance::COINM_SPEC,
        Venue::BybitLinear => &bybit::LINEAR_SPEC,
        Venue::BybitInverse => &bybit::INVERSE_SPEC,
        Venue::BybitSpot => &bybit::SPOT_SPEC,
        Venue::OkxSpot => &okx::SPOT_SPEC,
        Venue::OkxSwap => &okx::SWAP_SPEC,
        Venue::OkxFutures => &okx::FUTURES_SPEC,
        Venue::Coinbase => &coinbase::EXCHANGE_SPEC,
        Venue::CoinbaseAdvanced => &coinbase::ADVANCED_SPEC,
        Venue::KrakenSpot => &kraken::SPOT_SPEC,
        Venue::KrakenFutures => &kraken::FUTURES_SPEC,
        Venue::Bitmex => &bitmex::SPEC,
        Venue::Deribit => &deribit::SPEC,
        Venue::Bitfinex => &bitfinex::SPEC,
        Venue::Huobi => &huobi::SPOT_SPEC,
        Venue::HuobiSwap => &huobi::SWAP_SPEC,
        Venue::Bitget => &bitget::FUTURES_SPEC,
        Venue::BitgetSpot => &bitget::SPOT_SPEC,
        Venue::GateFutures => &gate::SPEC,
        Venue::Hyperliquid => &hyperliquid::SPEC,
    }
}

impl Venue {
    /// This venue's description (its module's `SPEC`).
    pub fn spec(self) -> &'static VenueSpec {
        spec_of(self)
    }

    /// The name used on the command line, in config files, in tapes and in logs.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    pub fn from_name(name: &str) -> Option<Venue> {
        Venue::ALL.iter().copied().find(|v| v.name() == name)
    }

    /// `Some(why)` for a venue that no longer operates: live feeds refuse it (a dead host
    /// would only be reconnected to forever), while its decoder and REST parser stay for
    /// `decode`, `replay` and `import` of old captures. Recorded in the venue's `SPEC`
    /// (docs/VENUES.md has the sources).
    pub fn closed(self) -> Option<&'static str> {
        self.spec().closed
    }

    /// The exchange prefix of market ids, as aggr-server writes it (`BINANCE_FUTURES`).
    pub fn exchange(self) -> &'static str {
        self.spec().exchange
    }

    /// Whether the venue's markets are perpetual futures (true) or spot (false).
    /// Prefer [`Venue::market_kind`], which also knows dated futures and mixed venues.
    pub fn is_perp(self) -> bool {
        self.spec().perp
    }

    /// Whether this venue's decoder keeps per-connection state, so that each connection needs
    /// a decoder of its own: Bitfinex (channel ids are per connection) and BitMEX (the clock
    /// that stamps liquidations, which carry no time).
    pub fn decoder_per_connection(self) -> bool {
        self.spec().decoder_per_connection
    }

    /// The symbol this venue's frames carry for a configured pair (`btcusdt` → `BTCUSDT` on
    /// Binance; other venues' frames spell instruments as their requests do). `None` when it
    /// does not fit a [`Symbol`].
    pub fn frame_symbol(self, pair: &str) -> Option<Symbol> {
        if self.spec().upper_case_symbols {
            Symbol::new(pair.to_ascii_uppercase().as_bytes())
        } else {
            Symbol::new(pair.as_bytes())
        }
    }

    /// SPOT / PERP / FUTURE of one of this venue's instruments (the symbol as its frames
    /// carry it). Venues that list several kinds on one feed decide by the name.
    pub fn market_kind(self, symbol: &Symbol) -> MarketKind {
        let s = symbol.as_str();
        match self {
            // One OKX decoder reads every instrument type; the name tells them apart.
            Venue::OkxSpot | Venue::OkxSwap | Venue::OkxFutures => match crate::okx::inst_kind(s) {
                Some(Venue::OkxSwap) => MarketKind::Perp,
                Some(Venue::OkxFutures) => MarketKind::Future,
                Some(_) => MarketKind::Spot,
                None if self == Venue::OkxFutures => MarketKind::Future,
                None if self == Venue::OkxSwap => MarketKind::Perp,
                None => MarketKind::Spot,
            },
            Venue::Deribit if !s.ends_with("-PERPETUAL") => MarketKind::Future,
            // Dated futures: COIN-M `BTCUSD_260925`, Kraken `FI_`/`FF_` (inverse/linear).
            Venue::BinanceCoinm if !s.ends_with("_PERP") => MarketKind::Future,
            Venue::KrakenFutures if s.starts_with("FI_") || s.starts_with("FF_") => {
                MarketKind::Future
            }
            Venue::Bitfinex if s.contains("F0:") => MarketKind::Perp,
            Venue::Bitfinex => MarketKind::Spot,
            v if v.is_perp() => MarketKind::Perp,
            _ => MarketKind::Spot,
        }
    }

    /// The market id for a symbol as it appears in this venue's frames:
    /// `BINANCE:btcusdt` from `BTCUSDT` (Binance pairs are lower case in aggr-server's ids).
    ///
    /// Kraken spot v2 frames say `BTC/USD`; aggr-server's ids use the v1 names, so the id is
    /// `KRAKEN:XBT/USD` (see [`crate::kraken::v1_pair`]: BTC → XBT, DOGE → XDG). Bitfinex
    /// symbols lose their `t` prefix: `tBTCUSD` → `BITFINEX:BTCUSD`.
    pub fn market_id(self, symbol: &Symbol) -> String {
        let pair = match self {
            Venue::BinanceSpot | Venue::BinanceUsdm | Venue::BinanceCoinm | Venue::Huobi => {
                symbol.as_str().to_ascii_lowercase()
            }
            // Spot and futures share instrument names on Bybit and Bitget; aggr-server's ids
            // mark spot with a suffix.
            Venue::BybitSpot | Venue::BitgetSpot => format!("{}-SPOT", symbol.as_str()),
            Venue::KrakenSpot => crate::kraken::v1_pair(symbol.as_str()),
            Venue::Bitfinex => {
                let s = symbol.as_str();
                s.strip_prefix('t').unwrap_or(s).to_owned()
            }
            _ => symbol.as_str().to_owned(),
        };
        format!("{}:{}", self.exchange(), pair)
    }

    /// The venue of a stored market id (`EXCHANGE:pair`, the inverse of [`Venue::market_id`])
    /// and its pair, by the rules of seed-compat.md; `None` for an exchange prefix no venue
    /// has (never a silent default).
    pub fn of_market_id(id: &str) -> Option<(Venue, &str)> {
        let (exchange, pair) = id.split_once(':')?;
        let venue = Venue::ALL
            .iter()
            .copied()
            .filter(|v| v.exchange() == exchange)
            .find(|v| {
                // Venues sharing a prefix: pick the one whose id spelling matches.
                match exchange {
                    "BYBIT" => pair.ends_with("-SPOT") == (*v == Venue::BybitSpot),
                    "BITGET" => pair.ends_with("-SPOT") == (*v == Venue::BitgetSpot),
                    // HTX spot pairs are lower case without a dash (`btcusdt`), swaps `BTC-USDT`.
                    "HUOBI" => pair.contains('-') == (*v == Venue::HuobiSwap),
                    "OKEX" => {
                        let dated = pair
                            .rsplit('-')
                            .next()
                            .is_some_and(|s| s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()));
                        match v {
                            Venue::OkxSwap => pair.ends_with("-SWAP"),
                            Venue::OkxFutures => dated,
                            _ => !pair.ends_with("-SWAP") && !dated,
                        }
                    }
                    "KRAKEN" => {
                        (pair.starts_with("PI_") || pair.starts_with("PF_"))
                            == (*v == Venue::KrakenFutures)
                    }
                    _ => true,
                }
            })?;
        Some((venue, pair))
    }

    /// A fresh decoder for this venue's frames, with the bundled instrument metadata (parsed
    /// once per process).
    pub fn decoder(self) -> Box<dyn Decode + Send> {
        static BUNDLED: std::sync::OnceLock<Arc<Instruments>> = std::sync::OnceLock::new();
        self.decoder_with(BUNDLED.get_or_init(Instruments::bundled))
    }

    /// A fresh decoder for this venue's frames, taking contract sizes from `instruments`.
    pub fn decoder_with(self, instruments: &Arc<Instruments>) -> Box<dyn Decode + Send> {
        match self {
            Venue::BinanceSpot | Venue::BinanceUsdm | Venue::BinanceCoinm => {
                Box::new(crate::binance::Decoder::with_instruments(self, instruments))
            }
            Venue::Coinbase | Venue::CoinbaseAdvanced => {
                Box::new(crate::coinbase::Decoder::new(self))
            }
            Venue::KrakenSpot | Venue::KrakenFutures => Box::new(crate::kraken::Decoder::new(self)),
            Venue::Bitmex => Box::new(crate::bitmex::Decoder::new(instruments)),
            Venue::Deribit => Box::new(crate::deribit::Decoder::new()),
            Venue::Bitfinex => Box::new(crate::bitfinex::Decoder::new()),
            Venue::BybitLinear | Venue::BybitInverse | Venue::BybitSpot => {
                Box::new(crate::bybit::Decoder::new(self, instruments.clone()))
            }
            Venue::OkxSpot | Venue::OkxSwap | Venue::OkxFutures => {
                Box::new(crate::okx::Decoder::new(self, instruments.clone()))
            }
            Venue::Bitget | Venue::BitgetSpot => Box::new(crate::bitget::Decoder::new(self)),
            Venue::Hyperliquid => Box::new(crate::hyperliquid::Decoder::new()),
            Venue::Huobi | Venue::HuobiSwap => Box::new(crate::huobi::Decoder::new(self)),
            Venue::GateFutures => Box::new(crate::gate::Decoder::new(instruments.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue::{DecodeError, Frame};

    /// The values the old `match venue` tables held (plan, venue, continuity, backfill pace),
    /// written out once more: a typo in a venue's `SPEC` fails here.
    #[test]
    fn every_venue_spec_agrees_with_the_tables_it_replaced() {
        use crate::venue::{RestPace, TradeIds};
        use crate::{binance, bitfinex, bitget, bitmex, bybit, coinbase, deribit, gate, huobi};
        use crate::{hyperliquid, kraken, okx};
        use std::time::Duration;
        const C: TradeIds = TradeIds::Contiguous { per_fill: false };
        const CF: TradeIds = TradeIds::Contiguous { per_fill: true };
        const M: TradeIds = TradeIds::Monotonic;
        const N: TradeIds = TradeIds::None;
        // venue, name, prefix, perp, ids, (REST per s, burst), symbols/conn, msgs/s, 24 h life,
        // url, keepalive
        type Row = (
            Venue,
            &'static str,
            &'static str,
            bool,
            TradeIds,
            (f64, f64),
            usize,
            u32,
            bool,
            &'static str,
            crate::venue::Keepalive,
        );
        #[rustfmt::skip]
        let table: &[Row] = &[
            (Venue::BinanceSpot, "binance", "BINANCE", false, CF, (5.0, 5.0), 512, 5, true, binance::SPOT_BASE, binance::KEEPALIVE),
            (Venue::BinanceUsdm, "binance-usdm", "BINANCE_FUTURES", true, C, (1.0, 3.0), 512, 10, true, binance::USDM_BASE, binance::KEEPALIVE),
            (Venue::BinanceCoinm, "binance-coinm", "BINANCE_FUTURES", true, C, (1.0, 3.0), 100, 10, true, binance::COINM_BASE, binance::KEEPALIVE),
            (Venue::BybitLinear, "bybit-linear", "BYBIT", true, N, (10.0, 10.0), 100, 20, false, bybit::url(Venue::BybitLinear), bybit::KEEPALIVE),
            (Venue::BybitInverse, "bybit-inverse", "BYBIT", true, N, (10.0, 10.0), 100, 20, false, bybit::url(Venue::BybitInverse), bybit::KEEPALIVE),
            (Venue::BybitSpot, "bybit-spot", "BYBIT", false, N, (10.0, 10.0), 100, 20, false, bybit::url(Venue::BybitSpot), bybit::KEEPALIVE),
            (Venue::OkxSpot, "okx-spot", "OKEX", false, CF, (5.0, 5.0), 100, 20, false, okx::PUBLIC_URL, okx::KEEPALIVE),
            (Venue::OkxSwap, "okx-swap", "OKEX", true, CF, (5.0, 5.0), 100, 20, false, okx::PUBLIC_URL, okx::KEEPALIVE),
            (Venue::OkxFutures, "okx-futures", "OKEX", false, CF, (5.0, 5.0), 100, 20, false, okx::PUBLIC_URL, okx::KEEPALIVE),
            (Venue::Coinbase, "coinbase", "COINBASE", false, C, (5.0, 5.0), 100, 8, false, coinbase::EXCHANGE_URL, coinbase::EXCHANGE_KEEPALIVE),
            (Venue::CoinbaseAdvanced, "coinbase-advanced", "COINBASE", false, M, (1.0, 1.0), 100, 8, false, coinbase::ADVANCED_URL, coinbase::ADVANCED_KEEPALIVE),
            (Venue::KrakenSpot, "kraken", "KRAKEN", false, C, (1.0, 2.0), 100, 20, false, kraken::SPOT_V2_URL, kraken::SPOT_KEEPALIVE),
            (Venue::KrakenFutures, "kraken-futures", "KRAKEN", true, N, (1.0, 1.0), 100, 20, false, kraken::FUTURES_URL, kraken::FUTURES_KEEPALIVE),
            (Venue::Bitmex, "bitmex", "BITMEX", true, N, (0.4, 2.0), 100, 20, false, bitmex::URL, bitmex::KEEPALIVE),
            (Venue::Deribit, "deribit", "DERIBIT", true, M, (10.0, 10.0), 100, 20, false, deribit::URL, deribit::KEEPALIVE),
            (Venue::Bitfinex, "bitfinex", "BITFINEX", false, M, (10.0 / 60.0, 2.0), 24, 20, false, bitfinex::URL, bitfinex::KEEPALIVE),
            (Venue::Huobi, "huobi", "HUOBI", false, N, (1.0, 1.0), 100, 20, false, huobi::url(Venue::Huobi), huobi::KEEPALIVE),
            (Venue::HuobiSwap, "huobi-swap", "HUOBI", true, N, (1.0, 1.0), 100, 20, false, huobi::url(Venue::HuobiSwap), huobi::KEEPALIVE),
            (Venue::Bitget, "bitget", "BITGET", true, N, (1.0, 1.0), 500, 10, true, bitget::URL, bitget::KEEPALIVE),
            (Venue::BitgetSpot, "bitget-spot", "BITGET", false, N, (1.0, 1.0), 500, 10, true, bitget::URL, bitget::KEEPALIVE),
            (Venue::GateFutures, "gate-futures", "GATEIO", true, N, (1.0, 1.0), 100, 20, false, gate::URL, gate::KEEPALIVE),
            (Venue::Hyperliquid, "hyperliquid", "HYPERLIQUID", true, N, (1.0, 1.0), 100, 10, false, hyperliquid::URL, hyperliquid::KEEPALIVE),
        ];
        assert_eq!(table.len(), Venue::ALL.len());
        for (&v, row) in Venue::ALL.iter().zip(table) {
            let &(venue, name, prefix, perp, ids, (per_sec, burst), per_conn, msgs, day, url, ka) =
                row;
            assert_eq!(v, venue, "table order");
            let s = venue.spec();
            assert_eq!(s.venue, venue);
            assert_eq!(
                (s.name, s.exchange, s.perp),
                (name, prefix, perp),
                "{venue}"
            );
            assert_eq!(s.trade_ids, ids, "{venue}");
            assert_eq!(s.rest_pace, RestPace { per_sec, burst }, "{venue}");
            assert_eq!(s.max_symbols_per_conn, per_conn, "{venue}");
            assert_eq!(s.max_msgs_per_sec, msgs, "{venue}");
            let life = day.then(|| Duration::from_secs(24 * 3600));
            assert_eq!(s.max_lifetime, life, "{venue}");
            assert_eq!((s.url, s.keepalive), (url, ka), "{venue}");
            let binance = matches!(
                venue,
                Venue::BinanceSpot | Venue::BinanceUsdm | Venue::BinanceCoinm
            );
            assert_eq!(s.upper_case_symbols, binance, "{venue}");
            let per_conn_decoder = matches!(venue, Venue::Bitfinex | Venue::Bitmex);
            assert_eq!(s.decoder_per_connection, per_conn_decoder, "{venue}");
            assert_eq!(s.closed.is_some(), venue == Venue::Bitmex, "{venue}");
            assert_eq!(Venue::from_name(name), Some(venue));
        }
        // The REST tables (`rest::default_host`, `rest::ids_monotonic`, backfill's recent-only
        // venues) and Binance's streams-in-the-URL rule.
        #[rustfmt::skip]
        let rest: &[(Venue, &str)] = &[
            (Venue::BinanceSpot, "https://api.binance.com"),
            (Venue::BinanceUsdm, "https://fapi.binance.com"),
            (Venue::BinanceCoinm, "https://dapi.binance.com"),
            (Venue::BybitLinear, "https://api.bybit.com"),
            (Venue::BybitInverse, "https://api.bybit.com"),
            (Venue::BybitSpot, "https://api.bybit.com"),
            (Venue::OkxSpot, "https://www.okx.com"),
            (Venue::OkxSwap, "https://www.okx.com"),
            (Venue::OkxFutures, "https://www.okx.com"),
            (Venue::Coinbase, "https://api.exchange.coinbase.com"),
            (Venue::KrakenSpot, "https://api.kraken.com"),
            (Venue::Bitmex, "https://www.bitmex.com"),
            (Venue::Deribit, "https://www.deribit.com"),
            (Venue::Bitfinex, "https://api-pub.bitfinex.com"),
        ];
        let monotonic = [
            Venue::BinanceSpot,
            Venue::BinanceUsdm,
            Venue::BinanceCoinm,
            Venue::OkxSpot,
            Venue::OkxSwap,
            Venue::OkxFutures,
            Venue::Coinbase,
            Venue::KrakenSpot,
            Venue::Deribit,
            Venue::Bitfinex,
        ];
        for &v in Venue::ALL {
            let host = rest.iter().find(|r| r.0 == v).map(|r| r.1);
            assert_eq!(v.spec().rest_host, host, "{v}");
            assert_eq!(crate::rest::default_host(v), host, "{v}");
            assert_eq!(crate::rest::supported(v), host.is_some(), "{v}");
            assert_eq!(crate::rest::ids_monotonic(v), monotonic.contains(&v), "{v}");
            let bybit = matches!(
                v,
                Venue::BybitLinear | Venue::BybitInverse | Venue::BybitSpot
            );
            assert_eq!(v.spec().rest_recent_only, bybit, "{v}");
            assert_eq!(v.spec().streams_in_url, v.spec().upper_case_symbols, "{v}");
        }
        let sym = |v: Venue| v.frame_symbol("btcusdt").unwrap();
        assert_eq!(sym(Venue::BinanceUsdm).as_str(), "BTCUSDT");
        assert_eq!(sym(Venue::BybitLinear).as_str(), "btcusdt");
    }

    /// The subscribe and pong tables `plan` held, against each venue's `SPEC` pointers.
    #[test]
    fn spec_subscribe_and_pong_agree_with_the_tables_they_replaced() {
        use crate::{bitfinex, bitget, bitmex, bybit, coinbase, deribit, gate, huobi};
        use crate::{hyperliquid, kraken, okx};
        let symbols = ["BTCUSDT", "ETHUSDT"];
        for &venue in Venue::ALL {
            for first in [true, false] {
                let want = match venue {
                    Venue::BybitLinear | Venue::BybitInverse | Venue::BybitSpot => {
                        bybit::subscribe_messages(venue, &symbols)
                    }
                    Venue::OkxSpot | Venue::OkxSwap | Venue::OkxFutures => {
                        okx::subscribe_messages(venue, &symbols)
                    }
                    Venue::Coinbase | Venue::CoinbaseAdvanced => {
                        coinbase::subscribe_messages(venue, &symbols)
                    }
                    Venue::KrakenSpot | Venue::KrakenFutures => {
                        kraken::subscribe_messages(venue, &symbols)
                    }
                    Venue::Bitmex => vec![bitmex::subscribe_message(&symbols)],
                    Venue::Deribit => deribit::subscribe_messages(1, &symbols),
                    Venue::Bitfinex => bitfinex::subscribe_messages(&symbols, first),
                    Venue::Huobi | Venue::HuobiSwap => huobi::subscribe_messages(&symbols),
                    Venue::Bitget | Venue::BitgetSpot => {
                        bitget::subscribe_messages(venue, &symbols)
                    }
                    Venue::GateFutures => gate::subscribe_messages(&symbols, 1_700_000_000),
                    Venue::Hyperliquid => hyperliquid::subscribe_messages(&symbols),
                    Venue::BinanceSpot | Venue::BinanceUsdm | Venue::BinanceCoinm => Vec::new(),
                };
                let got = (venue.spec().subscribe)(venue, &symbols, first, 1_700_000_000);
                assert_eq!(got, want, "{venue}");
                assert_eq!(got.is_empty(), venue.spec().streams_in_url, "{venue}");
            }
            let mut out = Vec::new();
            let answered = venue.spec().pong.is_some_and(|pong| pong(7, &mut out));
            let htx = matches!(venue, Venue::Huobi | Venue::HuobiSwap);
            assert_eq!(answered, htx, "{venue}");
            if htx {
                assert_eq!(out, br#"{"pong":7}"#, "{venue}");
            }
        }
    }

    #[test]
    fn market_ids_lead_back_to_their_venue() {
        // (venue, symbol as its frames carry it, the venue the id resolves to: prefixes shared
        // by venues whose ids spell alike resolve to the first of them).
        #[rustfmt::skip]
        let cases = [
            (Venue::BinanceSpot, "BTCUSDT", Venue::BinanceSpot),
            (Venue::BinanceUsdm, "BTCUSDT", Venue::BinanceUsdm),
            (Venue::BinanceCoinm, "BTCUSD_PERP", Venue::BinanceUsdm),
            (Venue::BybitLinear, "BTCUSDT", Venue::BybitLinear),
            (Venue::BybitInverse, "BTCUSD", Venue::BybitLinear),
            (Venue::BybitSpot, "BTCUSDT", Venue::BybitSpot),
            (Venue::OkxSpot, "BTC-USDT", Venue::OkxSpot),
            (Venue::OkxSwap, "BTC-USDT-SWAP", Venue::OkxSwap),
            (Venue::OkxFutures, "BTC-USD-261225", Venue::OkxFutures),
            (Venue::CoinbaseAdvanced, "BTC-USD", Venue::Coinbase),
            (Venue::KrakenSpot, "BTC/USD", Venue::KrakenSpot),
            (Venue::KrakenFutures, "PI_XBTUSD", Venue::KrakenFutures),
            (Venue::Bitmex, "XBTUSD", Venue::Bitmex),
            (Venue::Deribit, "BTC-PERPETUAL", Venue::Deribit),
            (Venue::Bitfinex, "tBTCUSD", Venue::Bitfinex),
            (Venue::Huobi, "btcusdt", Venue::Huobi),
            (Venue::HuobiSwap, "BTC-USDT", Venue::HuobiSwap),
            (Venue::Bitget, "BTCUSDT", Venue::Bitget),
            (Venue::BitgetSpot, "BTCUSDT", Venue::BitgetSpot),
            (Venue::GateFutures, "BTC_USDT", Venue::GateFutures),
            (Venue::Hyperliquid, "BTC", Venue::Hyperliquid),
        ];
        for (venue, symbol, want) in cases {
            let id = venue.market_id(&Symbol::new(symbol.as_bytes()).unwrap());
            let (got, pair) = Venue::of_market_id(&id).unwrap();
            assert_eq!(got, want, "{id}");
            assert_eq!(format!("{}:{pair}", got.exchange()), id);
        }
        assert_eq!(Venue::of_market_id("NOPE:BTCUSDT"), None);
        assert_eq!(Venue::of_market_id("BINANCE"), None);
    }

    #[test]
    fn every_venue_has_a_decoder_that_answers_for_it() {
        for venue in Venue::ALL.iter().copied() {
            let mut decoder = venue.decoder();
            assert_eq!(decoder.venue(), venue);
            // Garbage is `Malformed` for every decoder.
            let mut garbage = b"\x01not json".to_vec();
            let got = decoder.decode(&mut garbage, &mut |_| {});
            assert!(
                matches!(got, Err(DecodeError::Malformed)),
                "{venue}: {got:?}"
            );
        }
    }

    #[test]
    fn only_bitmex_is_closed_and_it_still_decodes() {
        let closed: Vec<Venue> = Venue::ALL
            .iter()
            .copied()
            .filter(|v| v.closed().is_some())
            .collect();
        assert_eq!(closed, [Venue::Bitmex]);
        let why = Venue::Bitmex.closed().unwrap();
        assert!(
            why.contains("ceased operations") && why.contains("2026-09-23"),
            "{why}"
        );
        // Still a known name with a working decoder (old captures).
        assert_eq!(Venue::from_name("bitmex"), Some(Venue::Bitmex));
        let mut frame = br#"{"table":"trade","action":"insert","data":[{"timestamp":"2021-07-22T22:36:11.685Z","symbol":"XBTUSD","side":"Buy","size":100,"price":32180.5,"trdMatchID":"6e70bebe-235e-08a6-d11b-e1042bf1f2ed","homeNotional":0.00310747}]}"#.to_vec();
        let mut n = 0;
        let got = Venue::Bitmex.decoder().decode(&mut frame, &mut |_| n += 1);
        assert_eq!(got, Ok(Frame::Data(1)));
        assert_eq!(n, 1);
    }

    #[test]
    fn okx_market_kinds_come_from_the_instrument_name() {
        let kind = |v: Venue, s: &str| v.market_kind(&Symbol::new(s.as_bytes()).unwrap());
        for v in [Venue::OkxSpot, Venue::OkxSwap, Venue::OkxFutures] {
            assert_eq!(kind(v, "BTC-USDT"), MarketKind::Spot);
            assert_eq!(kind(v, "BTC-USDT-SWAP"), MarketKind::Perp);
            assert_eq!(kind(v, "BTC-USD-261225"), MarketKind::Future);
        }
        assert_eq!(kind(Venue::OkxSwap, "ODD"), MarketKind::Perp);
        assert_eq!(kind(Venue::BybitSpot, "BTCUSDT"), MarketKind::Spot);
        assert_eq!(kind(Venue::GateFutures, "BTC_USDT"), MarketKind::Perp);
    }
}
