//! The engine's hot path, in a crate whose dependency closure holds no cold-path library
//! (no serde, serde_json, toml, clap, Redis, HTTP client, async runtime, terminal UI or
//! plotting; `tests/closure.rs` asks Cargo). The `engine` crate re-exports every module here
//! under its old path (`engine::ring`, `engine::store`, …) and adds the cold parts.
//!
//! - [`ring`]: the bounded lock-free SPSC ring joining threads (loom-checked through `sync`).
//! - [`runtime`]: core map, pinning, idle policy, stop flag.
//! - [`market`]: which markets are followed, which shard owns each, the `Tick` on the rings.
//! - [`bar`], [`aggregate`]: ticks → 1 s bars; [`store`]: the mmap'd day files.
//! - [`recovery`]: the feed side of REST backfill (jobs, answers, their rings).
//! - [`stats`]: the hot threads' counters and latency histograms.
//! - [`feed`] / [`shard`]: the two hot thread loops (`engine::pipeline` wires them up from the
//!   configuration); [`backoff`]: the one reconnect/retry backoff.
//! - [`capture`]: the feed side of raw-frame capture ([`capture::CaptureTx`]) and the `.sfcap`
//!   layout.
#![deny(unsafe_code)]

pub mod aggregate;
pub mod backoff;
pub mod bar;
pub mod capture;
pub mod continuity;
pub mod feed;
pub mod market;
pub mod recovery;
pub mod ring;
pub mod route;
pub mod runtime;
pub mod shard;
pub mod silence;
pub mod stats;
pub mod store;
pub mod strategy;
mod sync;

pub use bar::Bar;
