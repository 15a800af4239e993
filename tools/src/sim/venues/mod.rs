//! The simulator for every venue besides Binance spot and USDⓈ-M: one loopback listener per
//! venue speaking its real protocol (paths, subscribe requests and acks, keepalive, batching,
//! snapshots, compression), fed by venue-neutral prints that each [`proto::Protocol`] formats.

pub mod proto;
