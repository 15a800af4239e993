//! Bytes from an exchange → normalized market events.
//!
//! - [`event`]: the normalized `Event` (trade or liquidation) every venue produces.
//! - [`venue`]: the list of venues and the sans-IO [`Decode`] trait.
//! - `binance`: the Binance spot, USDⓈ-M and COIN-M adapters (subscribe URLs, wire decoding).
//! - `bybit`, `okx`, `bitget`, `hyperliquid`, `huobi`, `gate`, `coinbase`, `kraken`, `bitmex`,
//!   `deribit`, `bitfinex`: the other venue adapters, each with its connection URL, subscribe
//!   messages, limits, keepalive rule and decoder (on shared simd-json helpers: `json`, and
//!   `tape`, which also reads JSON-number literals exactly).
//! - [`rest`]: sans-IO REST trade history (backfill requests and response parsing).
//! - [`ws`]: the non-blocking WebSocket client over mio (ws:// and wss:// via rustls).
//!
//! Decoding does no I/O and reads no clock; only `ws` touches sockets.
#![deny(unsafe_code)]

pub mod alias;
pub mod binance;
pub mod bitfinex;
pub mod bitget;
pub mod bitmex;
pub mod bybit;
pub mod clock;
pub mod coinbase;
pub mod deribit;
pub mod event;
pub mod gate;
pub mod huobi;
pub mod hyperliquid;
pub mod instruments;
mod json;
pub mod kraken;
pub mod okx;
pub mod plan;
pub mod rest;
mod tape;
pub mod venue;
pub use tape::{Heartbeat, INVERSE_SIG_DIGITS};
pub mod ws;

pub use event::{Decimal, Event, EventKind, Side, Symbol};
pub use instruments::{ContractSpec, Instruments};
pub use venue::{Decode, DecodeError, Frame, Keepalive, MarketKind, Venue};
