//! The venues this crate speaks, and the sans-IO decoder interface every adapter implements.

use crate::event::{Event, Symbol};
use crate::instruments::Instruments;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A venue = one exchange API family with one wire format and one market-id prefix.
///
/// Each venue's adapter lives in its own module (`crate::binance`, `crate::bybit`, …); this
/// enum only names them and dispatches. Market-id rules follow reference/seed-compat.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Venue {
    /// Binance spot (`stream.binance.com`), market ids `BINANCE:<pair>`.
    BinanceSpot,
    /// Binance USDⓈ-M futures (`fstream.binance.com/market`), market ids `BINANCE_FUTURES:<pair>`.
    BinanceUsdm,
    /// Binance COIN-M futures (`dstream.binance.com`), `BINANCE_FUTURES:btcusd_perp`; contracts → base.
    BinanceCoinm,
    /// Bybit v5 linear (USDT/USDC) perpetuals, `BYBIT:BTCUSDT`.
    BybitLinear,
    /// Bybit v5 inverse perpetuals, `BYBIT:BTCUSD`; USD contracts → base.
    BybitInverse,
    /// Bybit v5 spot, `BYBIT:BTCUSDT-SPOT`.
    BybitSpot,
    /// OKX v5 spot, `OKEX:BTC-USDT`.
    OkxSpot,
    /// OKX v5 perpetual swaps, `OKEX:BTC-USDT-SWAP`; `sz × ctVal`.
    OkxSwap,
    /// OKX v5 dated futures, `OKEX:BTC-USD-261225` (FUTURE, not PERP).
    OkxFutures,
    /// Coinbase Exchange (`ws-feed.exchange.coinbase.com`, `matches`), `COINBASE:BTC-USD`.
    Coinbase,
    /// Coinbase Advanced Trade (`market_trades`), `COINBASE:BTC-USD`.
    CoinbaseAdvanced,
    /// Kraken spot WebSocket v2, `KRAKEN:XBT/USD`.
    KrakenSpot,
    /// Kraken Futures, `KRAKEN:PI_XBTUSD` / `KRAKEN:PF_XBTUSD`.
    KrakenFutures,
    /// BitMEX, `BITMEX:XBTUSD`; `homeNotional` for base size.
    Bitmex,
    /// Deribit, `DERIBIT:BTC-PERPETUAL`; inverse USD amounts → base.
    Deribit,
    /// Bitfinex, `BITFINEX:BTCUSD` (spot) and `BITFINEX:BTCF0:USTF0` (perp).
    Bitfinex,
    /// HTX (Huobi) spot, `HUOBI:btcusdt`; gzip-compressed binary frames.
    Huobi,
    /// HTX (Huobi) USDT-margined swaps, `HUOBI:BTC-USDT`.
    HuobiSwap,
    /// Bitget v2 USDT futures, `BITGET:BTCUSDT`.
    Bitget,
    /// Bitget v2 spot.
    BitgetSpot,
    /// Gate.io USDT futures, `GATEIO:BTC_USDT`.
    GateFutures,
    /// Hyperliquid perpetuals, `HYPERLIQUID:BTC`.
    Hyperliquid,
}

/// What a market trades (seed-compat.md "Market ids and classification").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarketKind {
    Spot,
    Perp,
    /// Dated futures: followed and stored, but neither SPOT nor PERP for the strategy.
    Future,
}

impl MarketKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MarketKind::Spot => "SPOT",
            MarketKind::Perp => "PERP",
            MarketKind::Future => "FUTURE",
        }
    }
}

impl Venue {
    pub const ALL: &'static [Venue] = &[
        Venue::BinanceSpot,
        Venue::BinanceUsdm,
        Venue::BinanceCoinm,
        Venue::BybitLinear,
        Venue::BybitInverse,
        Venue::BybitSpot,
        Venue::OkxSpot,
        Venue::OkxSwap,
        Venue::OkxFutures,
        Venue::Coinbase,
        Venue::CoinbaseAdvanced,
        Venue::KrakenSpot,
        Venue::KrakenFutures,
        Venue::Bitmex,
        Venue::Deribit,
        Venue::Bitfinex,
        Venue::Huobi,
        Venue::HuobiSwap,
        Venue::Bitget,
        Venue::BitgetSpot,
        Venue::GateFutures,
        Venue::Hyperliquid,
    ];

    /// The name used on the command line, in config files, in tapes and in logs.
    pub fn name(self) -> &'static str {
        match self {
            Venue::BinanceSpot => "binance",
            Venue::BinanceUsdm => "binance-usdm",
            Venue::BinanceCoinm => "binance-coinm",
            Venue::BybitLinear => "bybit-linear",
            Venue::BybitInverse => "bybit-inverse",
            Venue::BybitSpot => "bybit-spot",
            Venue::OkxSpot => "okx-spot",
            Venue::OkxSwap => "okx-swap",
            Venue::OkxFutures => "okx-futures",
            Venue::Coinbase => "coinbase",
            Venue::CoinbaseAdvanced => "coinbase-advanced",
            Venue::KrakenSpot => "kraken",
            Venue::KrakenFutures => "kraken-futures",
            Venue::Bitmex => "bitmex",
            Venue::Deribit => "deribit",
            Venue::Bitfinex => "bitfinex",
            Venue::Huobi => "huobi",
            Venue::HuobiSwap => "huobi-swap",
            Venue::Bitget => "bitget",
            Venue::BitgetSpot => "bitget-spot",
            Venue::GateFutures => "gate-futures",
            Venue::Hyperliquid => "hyperliquid",
        }
    }

    pub fn from_name(name: &str) -> Option<Venue> {
        Venue::ALL.iter().copied().find(|v| v.name() == name)
    }

    /// `Some(why)` for a venue that no longer operates: live feeds refuse it (a dead host
    /// would only be reconnected to forever), while its decoder and REST parser stay for
    /// `decode`, `replay` and `import` of old captures. The one place closures are recorded
    /// (docs/VENUES.md has the sources).
    pub fn closed(self) -> Option<&'static str> {
        match self {
            // bitmex.com/blog/bitmex-closure (2026-07-23); gocryptotrader #2295, ccxt #29914.
            Venue::Bitmex => Some(
                "BitMEX ceased operations on 2026-09-23 04:00 UTC (closure announced 2026-07-23)",
            ),
            _ => None,
        }
    }

    /// The exchange prefix of market ids, as aggr-server writes it (`BINANCE_FUTURES`).
    pub fn exchange(self) -> &'static str {
        match self {
            Venue::BinanceSpot => "BINANCE",
            Venue::BinanceUsdm | Venue::BinanceCoinm => "BINANCE_FUTURES",
            Venue::BybitLinear | Venue::BybitInverse | Venue::BybitSpot => "BYBIT",
            Venue::OkxSpot | Venue::OkxSwap | Venue::OkxFutures => "OKEX",
            Venue::Coinbase | Venue::CoinbaseAdvanced => "COINBASE",
            Venue::KrakenSpot | Venue::KrakenFutures => "KRAKEN",
            Venue::Bitmex => "BITMEX",
            Venue::Deribit => "DERIBIT",
            Venue::Bitfinex => "BITFINEX",
            Venue::Huobi | Venue::HuobiSwap => "HUOBI",
            Venue::Bitget | Venue::BitgetSpot => "BITGET",
            Venue::GateFutures => "GATEIO",
            Venue::Hyperliquid => "HYPERLIQUID",
        }
    }

    /// Whether the venue's markets are perpetual futures (true) or spot (false).
    /// Prefer [`Venue::market_kind`], which also knows dated futures and mixed venues.
    pub fn is_perp(self) -> bool {
        matches!(
            self,
            Venue::BinanceUsdm
                | Venue::BinanceCoinm
                | Venue::BybitLinear
                | Venue::BybitInverse
                | Venue::OkxSwap
                | Venue::KrakenFutures
                | Venue::Bitmex
                | Venue::Deribit
                | Venue::HuobiSwap
                | Venue::Bitget
                | Venue::GateFutures
                | Venue::Hyperliquid
        )
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

    /// A fresh decoder for this venue's frames, with the bundled instrument metadata (parsed
    /// once per process).
    pub fn decoder(self) -> Box<dyn Decode + Send> {
        static BUNDLED: std::sync::OnceLock<Arc<Instruments>> = std::sync::OnceLock::new();
        self.decoder_with(BUNDLED.get_or_init(Instruments::bundled))
    }

    /// Whether this venue's decoder keeps per-connection state, so that each connection needs
    /// a decoder of its own: Bitfinex (channel ids are per connection) and BitMEX (the clock
    /// that stamps liquidations, which carry no time).
    pub fn decoder_per_connection(self) -> bool {
        matches!(self, Venue::Bitfinex | Venue::Bitmex)
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

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a frame was, besides the events it produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// Market data: this many events were emitted (possibly 0, e.g. a zero-size or non-market trade).
    Data(u32),
    /// A reply to our subscribe request.
    SubscribeAck,
    /// The venue announced it will close the connection soon: open a replacement.
    ServerShutdown,
    /// The venue rejected a request (`code` as the venue sent it).
    VenueError { code: i64 },
    /// Valid JSON on a channel we do not turn into events (mark price, tickers, …), and
    /// keepalive replies (`pong`) that need no answer.
    Other,
    /// The venue requires an answer to this frame: send the text back on the same connection
    /// (Deribit `test_request` heartbeats, else the server closes the socket).
    Reply(&'static str),
    /// Historical market data the venue replays right after a subscribe (Bitget
    /// `action:"snapshot"`): this many events were emitted. They are real trades, but may repeat
    /// trades already seen before a reconnect; de-duplicate by trade id where it matters.
    Snapshot(u32),
    /// An application-level ping the feed must answer (HTX `{"ping":N}`: reply with the
    /// venue's pong text carrying `N`, e.g. `crate::huobi::pong_message(N)`), or the
    /// connection is closed.
    Ping(u64),
}

/// Why a frame could not be decoded. Counted per venue and sampled to the log; never fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame is not valid JSON (truncated, garbage, wrong encoding).
    #[error("malformed JSON")]
    Malformed,
    /// A required field is missing or has the wrong JSON type.
    #[error("missing or mistyped field `{0}`")]
    Field(&'static str),
    /// A number field does not parse as an exact decimal (or overflows 18 digits).
    #[error("bad number in field `{0}`")]
    Number(&'static str),
    /// The symbol is longer than `Symbol::CAPACITY` bytes.
    #[error("symbol too long")]
    Symbol,
    /// Valid JSON of a shape this venue adapter does not know.
    #[error("unknown message")]
    Unknown,
    /// The instrument's quantity needs a contract size to become base units, and the
    /// instrument metadata has none for it (never guessed).
    #[error("no contract spec for the instrument")]
    Instrument,
    /// A frame for a market family this decoder does not serve (e.g. Bitget SPOT data on a
    /// futures connection, whose market ids would collide).
    #[error("frame for another market family")]
    OtherMarket,
    /// A compressed frame (HTX gzip) that does not inflate, or inflates past the size limit.
    #[error("bad compressed frame")]
    Inflate,
}

/// How a venue's connections are kept alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keepalive {
    /// Send `text` as a text frame every `every`; the reply is a `Frame::Other`.
    ClientText { text: &'static str, every: Duration },
    /// The server sends application pings (`Frame::Ping`) that must be answered; the client
    /// sends nothing on its own.
    ServerPing,
}

/// A sans-IO, clock-free decoder for one venue's text frames.
///
/// `frame` is mutable because simd-json parses in place; after the call its contents are
/// unspecified. Implementations keep their parse buffers between calls so that steady-state
/// decoding does not allocate.
pub trait Decode {
    fn venue(&self) -> Venue;

    /// Decode one complete text frame, calling `emit` once per normalized event in frame order.
    fn decode(
        &mut self,
        frame: &mut [u8],
        emit: &mut dyn FnMut(Event),
    ) -> Result<Frame, DecodeError>;
}

#[cfg(test)]
mod tests {
    use super::*;

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
