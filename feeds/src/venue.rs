//! The venues this crate speaks, the sans-IO decoder interface every adapter implements and
//! the keepalive rule every adapter states: the lowest layer, which every venue module
//! imports and which imports none of them (their dispatch is [`crate::registry`]).

use crate::event::Event;
use std::fmt;
use std::time::Duration;

/// A venue = one exchange API family with one wire format and one market-id prefix.
///
/// Each venue's adapter lives in its own module (`crate::binance`, `crate::bybit`, …); this
/// enum only names them. The dispatch to those modules (decoders, market ids and kinds) is
/// [`crate::registry`], above them. Market-id rules follow reference/seed-compat.md.
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

    /// Whether this venue's decoder keeps per-connection state, so that each connection needs
    /// a decoder of its own: Bitfinex (channel ids are per connection) and BitMEX (the clock
    /// that stamps liquidations, which carry no time).
    pub fn decoder_per_connection(self) -> bool {
        matches!(self, Venue::Bitfinex | Venue::Bitmex)
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

/// How a venue's connections are kept alive: what the client sends on its own and how
/// often, and whether the server pings. One type for every venue (its module's `KEEPALIVE`)
/// and for the feed loop ([`crate::plan::ConnPlan::ping`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Application-level ping text the client sends every `every` (`None`: none). The reply
    /// decodes as [`Frame::Other`].
    pub text: Option<&'static str>,
    /// The client sends a WebSocket ping frame every `every`.
    pub ws_ping: bool,
    /// How often the client pings; zero when it sends nothing on its own.
    pub every: Duration,
    /// The server pings or sends heartbeats on its own: WebSocket pings (answered by the
    /// socket layer), application pings the feed answers ([`Frame::Ping`], [`Frame::Reply`])
    /// or heartbeat messages ([`Frame::Other`]).
    pub server_pings: bool,
}

impl Keepalive {
    /// Nothing is sent on either side.
    pub const NONE: Keepalive = Keepalive {
        text: None,
        ws_ping: false,
        every: Duration::ZERO,
        server_pings: false,
    };

    /// Only the server pings (or sends heartbeats); the client sends nothing on its own.
    pub const SERVER_PINGS: Keepalive = Keepalive {
        server_pings: true,
        ..Keepalive::NONE
    };

    /// The client sends `text` every `every`.
    pub const fn text(text: &'static str, every: Duration) -> Keepalive {
        Keepalive {
            text: Some(text),
            every,
            ..Keepalive::NONE
        }
    }

    /// The client sends a WebSocket ping frame every `every`.
    pub const fn ws_ping(every: Duration) -> Keepalive {
        Keepalive {
            ws_ping: true,
            every,
            ..Keepalive::NONE
        }
    }

    /// The same, and the server pings too.
    pub const fn with_server_pings(self) -> Keepalive {
        Keepalive {
            server_pings: true,
            ..self
        }
    }

    /// Whether the client sends anything on its own.
    pub const fn client_pings(self) -> bool {
        !self.every.is_zero() && (self.text.is_some() || self.ws_ping)
    }
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
