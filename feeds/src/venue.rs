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

/// How a venue's trade ids behave (reference/exchanges.md, "id usable for gap detection"); read
/// by the engine's continuity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeIds {
    /// Per market, every trade takes the next id; `per_fill`: ids count fills (a REST aggregate
    /// covers `trade_id - fills + 1 ..= trade_id`), else one id per event.
    Contiguous { per_fill: bool },
    /// Ids grow but skip: duplicates by id, gaps only by reconnect windows.
    Monotonic,
    /// No usable id.
    None,
}

/// Our request pacing for a venue's REST host (a token bucket well under its published public
/// limit; the venue module's `SPEC` cites the limit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestPace {
    /// Requests per second, sustained.
    pub per_sec: f64,
    /// Requests that may go back to back after an idle spell.
    pub burst: f64,
}

/// Everything the crates above know about one venue as data: each venue module declares its
/// own `SPEC` constant(s), and [`Venue::spec`] (in [`crate::registry`]) lists them once. The
/// `match venue` tables that used to spread this over plan, registry, continuity and backfill
/// read these fields instead.
/// The requests that subscribe one connection to `symbols` (`first`: the venue's first
/// connection; `now_s`: the wall clock, for venues that stamp requests).
pub type Subscribe = fn(venue: Venue, symbols: &[&str], first: bool, now_s: u64) -> Vec<String>;

/// Writes the answer to a server's application ping `n` into `out`; false when it cannot.
pub type WritePong = fn(n: u64, out: &mut Vec<u8>) -> bool;

#[derive(Debug, Clone, Copy)]
pub struct VenueSpec {
    /// The venue it describes.
    pub venue: Venue,
    /// The name used on the command line, in config files, in tapes and in logs.
    pub name: &'static str,
    /// The exchange prefix of market ids, as aggr-server writes it (`BINANCE_FUTURES`).
    pub exchange: &'static str,
    /// Its markets are perpetual futures (dated futures and mixed venues are decided per
    /// instrument by [`Venue::market_kind`]).
    pub perp: bool,
    /// `Some(why)` when the venue no longer operates.
    pub closed: Option<&'static str>,
    /// The decoder keeps per-connection state (one decoder per connection).
    pub decoder_per_connection: bool,
    /// Requests name a configured pair in lower case and frames answer in upper case
    /// (Binance stream names: `btcusdt` → `BTCUSDT`); elsewhere both spell it as configured.
    pub upper_case_symbols: bool,
    /// The URL's path carries the subscription (Binance combined streams), so a URL override
    /// is taken as it is.
    pub streams_in_url: bool,
    /// Production WebSocket URL (Binance: the host; the path carries the streams).
    pub url: &'static str,
    /// How connections are kept alive.
    pub keepalive: Keepalive,
    /// Instruments on one connection (the venue's limit, or ours where it documents none).
    pub max_symbols_per_conn: usize,
    /// Requests per second one connection may send.
    pub max_msgs_per_sec: u32,
    /// How long the venue keeps one connection before closing it itself.
    pub max_lifetime: Option<Duration>,
    /// What its trade ids allow.
    pub trade_ids: TradeIds,
    /// Its public REST trade-history host (`https://…`, no trailing slash); `None`: no
    /// REST backfill here.
    pub rest_host: Option<&'static str>,
    /// Its REST history serves only recent trades (an older window is out of reach).
    pub rest_recent_only: bool,
    /// Our pacing of its REST host.
    pub rest_pace: RestPace,
    /// Its subscribe requests (none where the URL subscribes, [`VenueSpec::streams_in_url`]).
    pub subscribe: Subscribe,
    /// Its answer to an application ping ([`Frame::Ping`]); `None`: it expects none.
    pub pong: Option<WritePong>,
}

fn no_subscribe(_: Venue, _: &[&str], _: bool, _: u64) -> Vec<String> {
    Vec::new()
}

impl VenueSpec {
    /// The defaults of a venue that documents nothing: override what it does document.
    pub const fn new(venue: Venue, name: &'static str, exchange: &'static str) -> VenueSpec {
        VenueSpec {
            venue,
            name,
            exchange,
            perp: false,
            closed: None,
            decoder_per_connection: false,
            upper_case_symbols: false,
            streams_in_url: false,
            url: "",
            keepalive: Keepalive::NONE,
            max_symbols_per_conn: 100,
            max_msgs_per_sec: 20,
            max_lifetime: None,
            trade_ids: TradeIds::None,
            rest_host: None,
            rest_recent_only: false,
            rest_pace: RestPace {
                per_sec: 1.0,
                burst: 1.0,
            },
            subscribe: no_subscribe,
            pong: None,
        }
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
