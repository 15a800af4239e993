//! The engine's hot path, in a crate whose dependency closure holds no cold-path library
//! (no serde, serde_json, toml, clap, Redis, HTTP client, async runtime, terminal UI or
//! plotting; `tests/closure.rs` asks Cargo). The `engine` crate re-exports every module here
//! under its old path (`engine::ring`, `engine::store`, …) and adds the cold parts.
//!
//! - [`ring`]: the bounded lock-free SPSC ring joining threads (loom-checked through `sync`).
//! - [`market`]: which markets are followed, which shard owns each, the `Tick` on the rings.
//! - [`bar`], [`aggregate`]: ticks → 1 s bars; [`store`]: the mmap'd day files.
//! - [`stats`]: the hot threads' counters and latency histograms.
#![deny(unsafe_code)]

pub mod aggregate;
pub mod bar;
pub mod market;
pub mod ring;
pub mod stats;
pub mod store;
mod sync;

pub use bar::Bar;
