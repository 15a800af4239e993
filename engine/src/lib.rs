//! Events → bars → signals. The hot path (rings, runtime, markets, routing, continuity,
//! aggregation, the bar store, the strategy's evaluation) is the `engine-core` crate, whose
//! modules are re-exported here under their old paths; this crate adds the cold parts.
//!
//! - From `engine-core`: [`ring`], [`runtime`], [`market`], [`route`], [`continuity`],
//!   [`silence`], [`recovery`], [`aggregate`], [`bar`], [`store`], [`stats`], the two hot
//!   thread loops [`feed`] / [`shard`], [`backoff`], the feed side of [`capture`], and the hot
//!   half of [`strategy`].
//! - [`pipeline`] wires the feed and shard loops up from the configuration.
//! - [`config`]: the TOML configuration; [`defaults`]: the default feeds.
//! - [`sink`]: where signals go (Redis); [`gaps`]: the gap journal.
//! - [`influx`]: bars to and from InfluxDB 1.x in aggr-server's schema.
//! - [`tape`], [`replay`]; [`capture`]: raw-frame capture files.
//! - [`instruments`]: contract sizes at start-up (REST → cache → bundled snapshot).
//! - [`backfill`]: the REST worker that recovers the trades of gaps.
//! - [`http_client`]: the cold-path HTTP client (ureq) of instruments, backfill and InfluxDB.
//! - [`statsfile`] (the stats file), [`alerts`], [`http`] (`/metrics`, `/health`) and
//!   [`monitor`] (the publisher), in that order of dependency.
//! - [`backtest`], [`host`] (host checks and tuning).
#![deny(unsafe_code)]

pub use engine_core::{
    aggregate, backoff, bar, continuity, feed, market, recovery, ring, route, runtime, shard,
    silence, stats, store,
};

pub mod alerts;
pub mod backfill;
pub mod backtest;
pub mod capture;
pub mod config;
pub mod defaults;
pub mod gaps;
pub mod host;
pub mod http;
pub mod http_client;
pub mod influx;
pub mod instruments;
pub mod monitor;
pub mod pipeline;
pub mod replay;
pub mod sink;
pub mod statsfile;
pub mod strategy;
pub mod tape;

pub use bar::Bar;
