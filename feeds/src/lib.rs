//! Bytes from an exchange → normalized market events.
//!
//! - [`event`]: the normalized `Event` (trade or liquidation) every venue produces.
//! - [`venue`]: the list of venues and the sans-IO [`Decode`] trait.
//! - `binance`: the Binance spot, USDⓈ-M and COIN-M adapters (subscribe URLs, wire decoding).
//! - `coinbase`, `kraken`, `bitmex`, `deribit`, `bitfinex`: the other adapters (URLs, subscribe
//!   messages, limits, keepalive rules, decoders), on a shared simd-json reader (`tape`) that
//!   also reads JSON-number literals exactly.
//! - [`ws`]: the non-blocking WebSocket client over mio (ws:// and wss:// via rustls).
//!
//! Decoding does no I/O and reads no clock; only `ws` touches sockets.
#![deny(unsafe_code)]

pub mod binance;
pub mod bitfinex;
pub mod bitmex;
pub mod clock;
pub mod coinbase;
pub mod deribit;
pub mod event;
pub mod instruments;
pub mod kraken;
mod tape;
pub mod venue;
pub use tape::{Keepalive, INVERSE_SIG_DIGITS};
pub mod ws;

pub use event::{Decimal, Event, EventKind, Side, Symbol};
pub use instruments::{ContractSpec, Instruments};
pub use venue::{Decode, DecodeError, Frame, MarketKind, Venue};
