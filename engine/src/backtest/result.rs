//! What a backtest produces: trades, the equity curve, the series behind the charts, and the
//! summary metrics. Plain data (serializable), so reports and tests need nothing else.

use serde::Serialize;

/// One closed (or, at the end of the period, still open) paper trade.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trade {
    /// `BTCUSDT`.
    pub symbol: String,
    /// `LONG` / `SHORT`.
    pub side: String,
    /// Entry and exit times, s since the epoch.
    pub entry_time: i64,
    pub exit_time: i64,
    pub entry_price: f64,
    pub exit_price: f64,
    /// Base quantity (leverage included).
    pub quantity: f64,
    pub leverage: f64,
    /// Margin committed at entry (quote).
    pub margin: f64,
    /// Fees paid, both sides (quote).
    pub fees: f64,
    /// Net profit after fees (quote).
    pub pnl: f64,
    /// Net profit relative to the margin, %.
    pub pnl_pct: f64,
    /// Entry score.
    pub score: f64,
    /// `FLOW_REVERSAL`, `RANGE_BREAK`, …, or `END_OF_PERIOD` for a trade closed by the backtest's end.
    pub exit_reason: String,
}

/// One point of the equity curve (marked to market), with the drawdown from the running peak.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EquityPoint {
    pub time: i64,
    pub equity: f64,
    /// ≤ 0, fraction of the peak (−0.12 = 12 % below the peak).
    pub drawdown: f64,
}

/// Per-symbol series sampled once per analysis bar, for the charts.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct SymbolSeries {
    pub symbol: String,
    /// Bar start times (s).
    pub time: Vec<i64>,
    /// Reference market close.
    pub close: Vec<f64>,
    /// Spot and perp CVD accumulated from the period's start, and their difference.
    pub spot_cvd: Vec<f64>,
    pub perp_cvd: Vec<f64>,
    pub divergence: Vec<f64>,
}

/// Summary figures (the original's printed results plus risk measures).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Metrics {
    pub initial_balance: f64,
    pub final_balance: f64,
    pub total_return_pct: f64,
    pub total_return: f64,
    pub trades: usize,
    pub wins: usize,
    pub win_rate_pct: f64,
    pub avg_trade_pct: f64,
    pub best_trade_pct: f64,
    pub worst_trade_pct: f64,
    /// Mean holding time, s.
    pub avg_duration_s: f64,
    pub trades_per_day: f64,
    /// Largest peak-to-trough fall of equity, % (positive number).
    pub max_drawdown_pct: f64,
    /// Annualised from daily equity returns (0 when undefined).
    pub sharpe: f64,
    pub sortino: f64,
    /// Gross profit / gross loss (∞ written as null when there is no loss).
    pub profit_factor: Option<f64>,
    /// Fraction of the period with a position open, %.
    pub exposure_pct: f64,
}

/// Everything one backtest run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct BacktestResult {
    /// `last_week`, or `2026-11-01..2026-11-07` for explicit dates.
    pub period: String,
    pub from: i64,
    pub to: i64,
    /// Parameters that differ from the defaults, as `key=value` (grid runs).
    pub params: Vec<String>,
    pub metrics: Metrics,
    pub trades: Vec<Trade>,
    pub equity: Vec<EquityPoint>,
    pub series: Vec<SymbolSeries>,
    /// Signals emitted (their journal lines, in order).
    pub signals: Vec<String>,
    /// Stored 1 s bars read.
    pub bars: u64,
    pub wall_seconds: f64,
}
