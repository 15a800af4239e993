//! Bytes from an exchange → normalized market events.
//!
//! - [`event`]: the normalized `Event` (trade or liquidation) every venue produces.
//! - [`venue`]: the list of venues and the sans-IO [`Decode`] trait.
//! - `binance`: the Binance spot and USDⓈ-M adapters (subscribe URLs, wire decoding).
//! - `bybit`, `okx`, `bitget`, `hyperliquid`, `huobi`, `gate`: the other venue adapters, each
//!   with its connection URL, subscribe messages, limits, keepalive rule and decoder.
//! - [`ws`]: the non-blocking WebSocket client over mio (ws:// and wss:// via rustls).
//!
//! Decoding does no I/O and reads no clock; only `ws` touches sockets.
#![deny(unsafe_code)]

pub mod binance;
pub mod bitget;
pub mod bybit;
pub mod clock;
pub mod event;
pub mod gate;
pub mod huobi;
pub mod hyperliquid;
pub mod instruments;
mod json;
pub mod okx;
pub mod venue;
pub mod ws;

pub use event::{Decimal, Event, EventKind, Side, Symbol};
pub use instruments::{ContractSpec, Instruments};
pub use venue::{Decode, DecodeError, Frame, Keepalive, MarketKind, Venue};
