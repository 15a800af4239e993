//! Events → bars → signals: SPSC rings, the pinned runtime, bar aggregation and the bar store.
#![deny(unsafe_code)]

pub mod bar;
pub mod ring;
pub mod store;
mod sync;

pub use bar::Bar;
