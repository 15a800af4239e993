//! The venues this crate speaks, and the sans-IO decoder interface every adapter implements.

use crate::event::{Event, Symbol};
use std::fmt;

/// A venue = one exchange API family with one wire format and one market-id prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Venue {
    /// Binance spot (`stream.binance.com`), market ids `BINANCE:<pair>`.
    BinanceSpot,
    /// Binance USDⓈ-M futures (`fstream.binance.com/market`), market ids `BINANCE_FUTURES:<pair>`.
    BinanceUsdm,
}

impl Venue {
    pub const ALL: &'static [Venue] = &[Venue::BinanceSpot, Venue::BinanceUsdm];

    /// The name used on the command line, in tapes and in logs (`binance`, `binance-usdm`).
    pub fn name(self) -> &'static str {
        match self {
            Venue::BinanceSpot => "binance",
            Venue::BinanceUsdm => "binance-usdm",
        }
    }

    pub fn from_name(name: &str) -> Option<Venue> {
        Venue::ALL.iter().copied().find(|v| v.name() == name)
    }

    /// The exchange prefix of market ids, as aggr-server writes it (`BINANCE_FUTURES`).
    pub fn exchange(self) -> &'static str {
        match self {
            Venue::BinanceSpot => "BINANCE",
            Venue::BinanceUsdm => "BINANCE_FUTURES",
        }
    }

    /// Whether the venue's markets are perpetual futures (true) or spot (false).
    pub fn is_perp(self) -> bool {
        matches!(self, Venue::BinanceUsdm)
    }

    /// The market id for a symbol as it appears in this venue's frames:
    /// `BINANCE:btcusdt` from `BTCUSDT` (Binance pairs are lower case in aggr-server's ids).
    pub fn market_id(self, symbol: &Symbol) -> String {
        let pair = match self {
            Venue::BinanceSpot | Venue::BinanceUsdm => symbol.as_str().to_ascii_lowercase(),
        };
        format!("{}:{}", self.exchange(), pair)
    }

    /// A fresh decoder for this venue's frames.
    pub fn decoder(self) -> Box<dyn Decode + Send> {
        match self {
            Venue::BinanceSpot | Venue::BinanceUsdm => Box::new(crate::binance::Decoder::new(self)),
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
    /// Valid JSON on a channel we do not turn into events (mark price, tickers, …).
    Other,
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
