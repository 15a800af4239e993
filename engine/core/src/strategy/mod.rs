//! The SqueezeFlow strategy's evaluation (reference/strategy.md): five phases evaluated every
//! `run_interval` seconds of event time on each symbol's window of analysis bars, on the shard
//! threads. Its configuration (`[strategy]`), signal JSON and symbol resolution are cold
//! (`engine::strategy`), which hands [`engine::Settings`] and [`SymbolSpec`]s in.
//!
//! - [`math`]: means, deviations, slopes and quantiles over slices;
//! - [`window`]: one symbol's analysis bars and re-based CVDs, built second by second;
//! - [`phases`]: the five phases as pure functions of a window;
//! - [`engine`]: per-shard driver (pending bars, evaluation clock, paper positions, validator);
//! - [`history`]: stored bars fed back in second order (start-up warm-up, backtests).

pub mod engine;
pub mod history;
pub mod math;
pub mod phases;
pub mod window;

pub use engine::{Action, Position, SignalEvent, Strategy, StrategyCounters, SymbolSpec};
