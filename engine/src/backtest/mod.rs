//! Backtests on the stored bars with the live strategy code (`squeezeflow backtest`).
//!
//! - [`result`]: what a run produces (trades, equity, chart series, metrics).

pub mod portfolio;
pub mod result;
pub mod run;

pub use result::{BacktestResult, EquityPoint, Metrics, SymbolSeries, Trade};
