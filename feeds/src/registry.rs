//! The dispatch over venues: the layer above every venue module. A [`Venue`] names a venue
//! (in [`crate::venue`], which no venue module depends on for anything but names, traits and
//! shared types); here it is turned into its decoder, its market ids and its market kinds by
//! asking the venue's own module.

use crate::event::Symbol;
use crate::instruments::Instruments;
use crate::venue::{Decode, MarketKind, Venue};
use std::sync::Arc;

impl Venue {
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
