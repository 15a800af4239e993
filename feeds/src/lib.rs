//! Bytes from an exchange → normalized market events.
//!
//! - [`event`]: the normalized `Event` (trade or liquidation) every venue produces.
//! - [`venue`]: the list of venues, the sans-IO [`Decode`] trait and the [`Keepalive`] rule —
//!   the layer every venue module builds on; [`registry`]: the dispatch over the venue
//!   modules (decoders, market ids), the layer above them.
//! - `binance`: the Binance spot, USDⓈ-M and COIN-M adapters (subscribe URLs, wire decoding).
//! - `bybit`, `okx`, `bitget`, `hyperliquid`, `huobi`, `gate`, `coinbase`, `kraken`, `bitmex`,
//!   `deribit`, `bitfinex`: the other venue adapters, each with its connection URL, subscribe
//!   messages, limits, keepalive rule and decoder, all on one JSON reader (`json`, over
//!   simd-json, which reads number literals exactly).
//! - [`civil`]: civil dates (day numbers, RFC 3339 parsing and formatting).
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
pub mod civil;
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
pub mod registry;
pub mod rest;
pub mod venue;
pub mod ws;

pub use event::{Decimal, Event, EventKind, Side, Symbol};
pub use instruments::{ContractSpec, Instruments, INVERSE_SIG_DIGITS};
pub use venue::{Decode, DecodeError, Frame, Keepalive, MarketKind, Venue};
