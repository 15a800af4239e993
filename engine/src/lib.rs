//! Events → bars → signals: SPSC rings, the pinned runtime, bar aggregation and the bar store.
//!
//! - [`ring`]: the bounded lock-free SPSC ring joining threads.
//! - [`runtime`]: core map, pinning, idle policy, stop flag.
//! - [`market`]: which markets are followed, which shard owns each, the `Tick` on the rings.
//! - [`route`]: frame → decoded events → ticks (shared by live feeds and replay).
//! - [`feed`] / [`shard`]: the two hot thread loops; [`pipeline`] wires them up.
//! - [`aggregate`]: ticks → 1 s bars; [`store`]: the mmap'd day files.
//! - [`sink`]: where signals go (Redis).
//! - [`influx`]: bars to and from InfluxDB 1.x in aggr-server's schema.
//! - [`config`], [`stats`], [`tape`], [`replay`]; [`capture`]: raw-frame capture files.
//! - [`instruments`]: contract sizes at start-up (REST → cache → bundled snapshot).
//! - [`backfill`]: the REST worker that recovers the trades of gaps.
//! - [`monitor`] (stats file), [`http`] (`/metrics`, `/health`), [`alerts`].
#![deny(unsafe_code)]

pub use engine_core::{
    aggregate, bar, continuity, market, recovery, ring, route, runtime, silence, stats, store,
};

pub mod alerts;
pub mod backfill;
pub mod backtest;
pub mod capture;
pub mod config;
pub mod defaults;
pub mod feed;
pub mod gaps;
pub mod host;
pub mod http;
pub mod influx;
pub mod instruments;
pub mod monitor;
pub mod pipeline;
pub mod replay;
pub mod shard;
pub mod sink;
pub mod strategy;
pub mod tape;

pub use bar::Bar;
