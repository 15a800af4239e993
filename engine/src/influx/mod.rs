//! InfluxDB 1.x in both directions, in aggr-server's schema (reference/seed-compat.md):
//! database `significant_trades`, retention policy `aggr_1s`, measurement `trades_1s`, tag
//! `market`, the ten bar fields as floats, time in ms.
//!
//! - [`sink`]: the export sink on the IO core — every closed bar (and every late amendment,
//!   which overwrites the same timestamp) is written over HTTP line protocol, batched, with a
//!   bounded on-disk backlog while InfluxDB is down, plus optional rollups
//!   (`aggr_1m.trades_1m`, …).
//! - [`import`]: reads a deployment's series in chunks (InfluxQL over `/query`) into the bar
//!   store; resumable and idempotent.
//! - [`setup`]: the retention policies of the original `setup_retention_policy.sh`, and
//!   `--verify`.
//! - [`client`]: the InfluxDB HTTP API over [`crate::http_client`] (http or https, optional
//!   user and password).
//!
//! A bar whose second had only liquidations has NaN OHLC in the store; line protocol has no
//! NaN, so those four fields are left out of its point, and an imported point without them
//! gets NaN back. The sub-second positions `open_us`/`close_us` and the slot flags other than
//! `CLOSED` are not part of the schema and are not carried.

pub mod client;
pub mod config;
pub mod import;
pub mod line;
pub mod setup;
pub mod sink;

pub use client::{InfluxClient, InfluxError};
pub use config::InfluxConfig;
pub use sink::{InfluxSink, InfluxStats};
