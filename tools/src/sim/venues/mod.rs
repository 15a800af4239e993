//! The simulator for every venue besides Binance spot and USDⓈ-M: one loopback listener per
//! venue speaking its real protocol (paths, subscribe requests and acks, keepalive, batching,
//! snapshots, compression), fed by venue-neutral prints that each [`proto::Protocol`] formats.

pub mod proto;

// Group B protocols (one file each) and their shared text helpers.
pub mod bitfinex;
pub mod bitmex;
pub mod coinbase;
pub mod deribit;
pub mod kraken;
mod wirefmt;
