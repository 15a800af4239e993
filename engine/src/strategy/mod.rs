//! The SqueezeFlow strategy (reference/strategy.md): the hot evaluation is
//! `engine_core::strategy` (re-exported here: [`engine`], [`math`], [`phases`], [`window`],
//! [`history`]); this module adds the cold parts:
//!
//! - [`StrategyConfig`]: `[strategy]` as read from TOML and the environment, resolved to the
//!   hot [`Settings`] by [`StrategyConfig::settings`];
//! - [`signal`]: signal JSON (seed-compat.md) and the reasoning text;
//! - [`symbols`]: which markets make up each symbol.

pub use engine_core::strategy::*;

pub mod signal;
pub mod symbols;

use self::engine::Settings;
use phases::Params;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `[strategy]`: the parameters of strategy.md, with its defaults. Environment variables
/// `SQUEEZEFLOW_RUN_INTERVAL`, `_MAX_SYMBOLS`, `_LOOKBACK_HOURS`, `_TIMEFRAME`,
/// `_ENABLE_1S_MODE` and `_MIN_DATA_POINTS` override the file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StrategyConfig {
    /// Evaluate the strategy at all. Default true.
    pub enabled: bool,
    /// Symbols (base assets) to trade, e.g. `["BTC", "ETH"]`. Empty: the first `max_symbols`
    /// bases of the configured markets, in configuration order.
    pub symbols: Vec<String>,
    /// Cap on the number of symbols. Default 3.
    pub max_symbols: usize,
    /// Seconds between evaluations (event time). Default 1.
    pub run_interval: u64,
    /// Window length in hours. Default 4.
    pub lookback_hours: f64,
    /// Analysis bar timeframe (`1m`, `5m`, `15m`, `1h`, …). Default `1m`.
    pub timeframe: String,
    /// Analysis bars are the 1 s bars and every bar count is × 60. Default false.
    pub enable_1s_mode: bool,
    /// Bars needed in the window before anything is evaluated. Default 40.
    pub min_data_points: usize,
    /// Phase 2 floor on CVD changes, quote notional. Default 1 000 000.
    pub min_cvd_change: f64,
    /// Phase 4 floor on per-bar flows, quote notional. Default 10 000.
    pub flow_floor: f64,
    /// Score needed for an entry. Default 6.0.
    pub min_entry_score: f64,
    /// Positions open at once across symbols. Default 2.
    pub max_open_positions: usize,
    /// Open-interest gate and bonus. Default false.
    pub enable_oi: bool,
    /// Paper account equity for position quantities. Default 10 000.
    pub paper_equity: f64,
    /// Signal TTL in seconds (Redis key expiry; 60–3600). Default 600.
    pub signal_ttl_s: u64,
    /// Same symbol + action is a duplicate within this many seconds. Default 900.
    pub cooldown_s: u64,
    /// Signals per symbol per hour at most. Default 10.
    pub max_signals_per_hour: usize,
    /// Quote appended to the base for the signal's `symbol` (`BTC` → `BTCUSDT`). Default `USDT`.
    pub quote: String,
    /// Reference market per symbol for OHLC, e.g. `BTC = "BINANCE_FUTURES:btcusdt"`. Default:
    /// the symbol's first PERP market in configuration order (else its first market).
    pub reference: BTreeMap<String, String>,
}

impl Default for StrategyConfig {
    fn default() -> StrategyConfig {
        StrategyConfig {
            enabled: true,
            symbols: Vec::new(),
            max_symbols: 3,
            run_interval: 1,
            lookback_hours: 4.0,
            timeframe: "1m".to_string(),
            enable_1s_mode: false,
            min_data_points: 40,
            min_cvd_change: 1e6,
            flow_floor: 1e4,
            min_entry_score: 6.0,
            max_open_positions: 2,
            enable_oi: false,
            paper_equity: 10_000.0,
            signal_ttl_s: 600,
            cooldown_s: 900,
            max_signals_per_hour: 10,
            quote: "USDT".to_string(),
            reference: BTreeMap::new(),
        }
    }
}

impl StrategyConfig {
    /// The hot strategy's settings.
    pub fn settings(&self) -> Settings {
        let one_second = self.enable_1s_mode;
        Settings {
            params: Params {
                scale: if one_second { 60 } else { 1 },
                min_cvd_change: self.min_cvd_change,
                flow_floor: self.flow_floor,
                enable_oi: self.enable_oi,
                min_data_points: self.min_data_points,
            },
            one_second,
            timeframe_s: if one_second { 1 } else { self.timeframe_secs() },
            lookback_s: (self.lookback_hours * 3600.0).round() as i64,
            run_interval_s: self.run_interval.max(1) as i64,
            min_entry_score: self.min_entry_score,
            max_open_positions: self.max_open_positions,
            paper_equity: self.paper_equity,
            ttl_s: self.signal_ttl_s,
            cooldown_s: self.cooldown_s as i64,
            max_per_hour: self.max_signals_per_hour,
        }
    }

    /// The timeframe in seconds (validated by [`StrategyConfig::validate`]; 60 if invalid).
    pub fn timeframe_secs(&self) -> i64 {
        crate::store::parse_timeframe(&self.timeframe)
            .map(|t| t as i64)
            .unwrap_or(60)
    }

    /// Apply the `SQUEEZEFLOW_*` strategy variables. Errors name the variable.
    pub fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
        fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
            value
                .trim()
                .parse()
                .map_err(|_| format!("{name}={value:?} is not a valid value"))
        }
        if let Some(v) = get("SQUEEZEFLOW_RUN_INTERVAL") {
            self.run_interval = parse("SQUEEZEFLOW_RUN_INTERVAL", &v)?;
        }
        if let Some(v) = get("SQUEEZEFLOW_MAX_SYMBOLS") {
            self.max_symbols = parse("SQUEEZEFLOW_MAX_SYMBOLS", &v)?;
        }
        if let Some(v) = get("SQUEEZEFLOW_LOOKBACK_HOURS") {
            self.lookback_hours = parse("SQUEEZEFLOW_LOOKBACK_HOURS", &v)?;
        }
        if let Some(v) = get("SQUEEZEFLOW_TIMEFRAME") {
            self.timeframe = v.trim().to_string();
        }
        if let Some(v) = get("SQUEEZEFLOW_ENABLE_1S_MODE") {
            self.enable_1s_mode = match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(format!(
                        "SQUEEZEFLOW_ENABLE_1S_MODE={v:?} is not true or false"
                    ))
                }
            };
        }
        if let Some(v) = get("SQUEEZEFLOW_MIN_DATA_POINTS") {
            self.min_data_points = parse("SQUEEZEFLOW_MIN_DATA_POINTS", &v)?;
        }
        Ok(())
    }

    /// Range checks; the error is `(field, message)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |field: &str, message: String| Err((format!("strategy.{field}"), message));
        let tf = crate::store::parse_timeframe(&self.timeframe);
        match tf {
            Some(t) if t >= 1 && 86_400 % t == 0 || tf.is_some_and(|t| t % 86_400 == 0) => {}
            _ => {
                return bad(
                    "timeframe",
                    format!("{:?} is not a timeframe like 1m, 5m, 1h", self.timeframe),
                )
            }
        }
        if !(self.lookback_hours > 0.0 && self.lookback_hours <= 24.0 * 7.0) {
            return bad(
                "lookback_hours",
                format!("{} is outside (0, 168]", self.lookback_hours),
            );
        }
        if self.run_interval == 0 || self.run_interval > 3600 {
            return bad(
                "run_interval",
                format!("{} is outside 1..=3600", self.run_interval),
            );
        }
        if self.max_symbols == 0 {
            return bad("max_symbols", "must be at least 1".into());
        }
        if self.min_data_points == 0 {
            return bad("min_data_points", "must be at least 1".into());
        }
        if !(60..=3600).contains(&self.signal_ttl_s) {
            return bad(
                "signal_ttl_s",
                format!("{} is outside 60..=3600", self.signal_ttl_s),
            );
        }
        if self.max_signals_per_hour == 0 || self.max_signals_per_hour > engine::MAX_PER_HOUR_LIMIT
        {
            return bad(
                "max_signals_per_hour",
                format!(
                    "{} is outside 1..={}",
                    self.max_signals_per_hour,
                    engine::MAX_PER_HOUR_LIMIT
                ),
            );
        }
        for (field, v) in [
            ("min_cvd_change", self.min_cvd_change),
            ("flow_floor", self.flow_floor),
            ("min_entry_score", self.min_entry_score),
            ("paper_equity", self.paper_equity),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(field, format!("{v} must be a finite number ≥ 0"));
            }
        }
        if self.quote.is_empty() || !self.quote.bytes().all(|b| b.is_ascii_uppercase()) {
            return bad(
                "quote",
                format!("{:?} must be upper-case letters", self.quote),
            );
        }
        for s in &self.symbols {
            if s.len() < 2
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            {
                return bad("symbols", format!("{s:?} is not a symbol like \"BTC\""));
            }
        }
        Ok(())
    }
}
