//! The backtest portfolio: signals filled at the evaluated bar's close, 0.1 % fee per side on
//! the notional, leverage, equity marked to market on every analysis bar, and the summary
//! metrics. Pure arithmetic over time-ordered inputs, so it is tested on hand-computed cases.

use super::result::{EquityPoint, Metrics, Trade};

/// Portfolio parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PortfolioConfig {
    pub initial_balance: f64,
    /// Fee per side, fraction of the notional (0.001 = 0.1 %).
    pub fee_rate: f64,
    /// Margin per trade as a fraction of the balance, times the signal's size factor
    /// (strategy.md: equity × 0.02 × factor).
    pub risk_fraction: f64,
    /// Leverage for every trade; `None` takes the signal's (2 / 3 / 5 by score).
    pub leverage: Option<f64>,
}

impl Default for PortfolioConfig {
    fn default() -> PortfolioConfig {
        PortfolioConfig {
            initial_balance: 10_000.0,
            fee_rate: 0.001,
            risk_fraction: 0.02,
            leverage: None,
        }
    }
}

/// A signal as the portfolio sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fill {
    pub time: i64,
    pub symbol: usize,
    /// +1 long entry, −1 short entry, 0 close.
    pub direction: i8,
    pub price: f64,
    pub size_factor: f64,
    pub leverage: f64,
    pub score: f64,
    pub exit_reason: String,
}

/// A mark-to-market price of one symbol at a time (the close of an analysis bar).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark {
    pub time: i64,
    pub symbol: usize,
    pub price: f64,
}

#[derive(Debug, Clone)]
struct Open {
    direction: i8,
    entry_time: i64,
    entry_price: f64,
    quantity: f64,
    leverage: f64,
    margin: f64,
    entry_fee: f64,
    score: f64,
}

/// Run the fills and marks (each sorted by time; at equal times fills come first) through the
/// portfolio. Positions still open at `end` are closed at their last mark (`END_OF_PERIOD`).
/// Returns the trades, the equity curve and the final balance.
pub fn simulate(
    cfg: &PortfolioConfig,
    symbols: &[String],
    fills: &[Fill],
    marks: &[Mark],
    end: i64,
) -> (Vec<Trade>, Vec<EquityPoint>, f64) {
    let mut balance = cfg.initial_balance;
    let mut open: Vec<Option<Open>> = vec![None; symbols.len()];
    let mut last_price: Vec<f64> = vec![f64::NAN; symbols.len()];
    let mut trades = Vec::new();
    let mut equity = Vec::with_capacity(marks.len() + 2);
    let mut peak = cfg.initial_balance;
    let mut push_equity = |time: i64, value: f64, equity: &mut Vec<EquityPoint>| {
        peak = peak.max(value);
        let drawdown = if peak > 0.0 { value / peak - 1.0 } else { 0.0 };
        if let Some(last) = equity
            .last_mut()
            .filter(|p: &&mut EquityPoint| p.time == time)
        {
            *last = EquityPoint {
                time,
                equity: value,
                drawdown,
            };
        } else {
            equity.push(EquityPoint {
                time,
                equity: value,
                drawdown,
            });
        }
    };
    let close = |o: Open, sym: usize, time: i64, price: f64, reason: &str, balance: &mut f64| {
        let notional = o.quantity * price;
        let exit_fee = notional * cfg.fee_rate;
        let gross = f64::from(o.direction) * (price - o.entry_price) * o.quantity;
        let pnl = gross - o.entry_fee - exit_fee;
        // The entry fee was paid at entry; the exit settles the rest.
        *balance += gross - exit_fee;
        Trade {
            symbol: symbols[sym].clone(),
            side: if o.direction > 0 { "LONG" } else { "SHORT" }.to_string(),
            entry_time: o.entry_time,
            exit_time: time,
            entry_price: o.entry_price,
            exit_price: price,
            quantity: o.quantity,
            leverage: o.leverage,
            margin: o.margin,
            fees: o.entry_fee + exit_fee,
            pnl,
            pnl_pct: if o.margin > 0.0 {
                pnl / o.margin * 100.0
            } else {
                0.0
            },
            score: o.score,
            exit_reason: reason.to_string(),
        }
    };
    let mark_to_market = |balance: f64, open: &[Option<Open>], last_price: &[f64]| {
        balance
            + open
                .iter()
                .zip(last_price)
                .filter_map(|(o, p)| {
                    o.as_ref()
                        .filter(|_| p.is_finite())
                        .map(|o| f64::from(o.direction) * (p - o.entry_price) * o.quantity)
                })
                .sum::<f64>()
    };
    push_equity(
        marks
            .first()
            .map_or(end, |m| m.time)
            .min(fills.first().map_or(end, |f| f.time)),
        balance,
        &mut equity,
    );
    let (mut fi, mut mi) = (0, 0);
    while fi < fills.len() || mi < marks.len() {
        let take_fill = fi < fills.len() && (mi >= marks.len() || fills[fi].time <= marks[mi].time);
        if take_fill {
            let f = &fills[fi];
            fi += 1;
            if f.symbol >= symbols.len() {
                continue;
            }
            last_price[f.symbol] = f.price;
            if f.direction == 0 {
                if let Some(o) = open[f.symbol].take() {
                    trades.push(close(
                        o,
                        f.symbol,
                        f.time,
                        f.price,
                        &f.exit_reason,
                        &mut balance,
                    ));
                }
            } else if open[f.symbol].is_none() && f.price > 0.0 {
                let leverage = cfg.leverage.unwrap_or(f.leverage).max(1.0);
                let margin = balance * cfg.risk_fraction * f.size_factor;
                let notional = margin * leverage;
                let entry_fee = notional * cfg.fee_rate;
                balance -= entry_fee;
                open[f.symbol] = Some(Open {
                    direction: f.direction,
                    entry_time: f.time,
                    entry_price: f.price,
                    quantity: notional / f.price,
                    leverage,
                    margin,
                    entry_fee,
                    score: f.score,
                });
            }
            let value = mark_to_market(balance, &open, &last_price);
            push_equity(f.time, value, &mut equity);
        } else {
            let m = marks[mi];
            mi += 1;
            if m.symbol < symbols.len() && m.price.is_finite() {
                last_price[m.symbol] = m.price;
            }
            let value = mark_to_market(balance, &open, &last_price);
            push_equity(m.time, value, &mut equity);
        }
    }
    for sym in 0..symbols.len() {
        if let Some(o) = open[sym].take() {
            let price = if last_price[sym].is_finite() {
                last_price[sym]
            } else {
                o.entry_price
            };
            trades.push(close(o, sym, end, price, "END_OF_PERIOD", &mut balance));
        }
    }
    push_equity(end, balance, &mut equity);
    (trades, equity, balance)
}

/// Summary metrics of a run over `[from, to)`.
pub fn metrics(
    cfg: &PortfolioConfig,
    trades: &[Trade],
    equity: &[EquityPoint],
    final_balance: f64,
    from: i64,
    to: i64,
) -> Metrics {
    let n = trades.len();
    let wins = trades.iter().filter(|t| t.pnl > 0.0).count();
    let pcts: Vec<f64> = trades.iter().map(|t| t.pnl_pct).collect();
    let days = ((to - from) as f64 / 86_400.0).max(1e-9);
    let gross_profit: f64 = trades.iter().filter(|t| t.pnl > 0.0).map(|t| t.pnl).sum();
    let gross_loss: f64 = -trades
        .iter()
        .filter(|t| t.pnl < 0.0)
        .map(|t| t.pnl)
        .sum::<f64>();
    let max_dd = equity.iter().map(|p| -p.drawdown).fold(0.0, f64::max);
    // Exposure: union of holding intervals over the period.
    let mut intervals: Vec<(i64, i64)> =
        trades.iter().map(|t| (t.entry_time, t.exit_time)).collect();
    intervals.sort_unstable();
    let (mut covered, mut cur): (i64, Option<(i64, i64)>) = (0, None);
    for (a, b) in intervals {
        match cur {
            Some((s, e)) if a <= e => cur = Some((s, e.max(b))),
            Some((s, e)) => {
                covered += e - s;
                cur = Some((a, b));
            }
            None => cur = Some((a, b)),
        }
    }
    if let Some((s, e)) = cur {
        covered += e - s;
    }
    let (sharpe, sortino) = ratios(equity, from, to);
    Metrics {
        initial_balance: cfg.initial_balance,
        final_balance,
        total_return: final_balance - cfg.initial_balance,
        total_return_pct: (final_balance / cfg.initial_balance - 1.0) * 100.0,
        trades: n,
        wins,
        win_rate_pct: if n > 0 {
            wins as f64 / n as f64 * 100.0
        } else {
            0.0
        },
        avg_trade_pct: if n > 0 {
            pcts.iter().sum::<f64>() / n as f64
        } else {
            0.0
        },
        best_trade_pct: if n > 0 {
            pcts.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        } else {
            0.0
        },
        worst_trade_pct: if n > 0 {
            pcts.iter().copied().fold(f64::INFINITY, f64::min)
        } else {
            0.0
        },
        avg_duration_s: if n > 0 {
            trades
                .iter()
                .map(|t| (t.exit_time - t.entry_time) as f64)
                .sum::<f64>()
                / n as f64
        } else {
            0.0
        },
        trades_per_day: n as f64 / days,
        max_drawdown_pct: max_dd * 100.0,
        sharpe,
        sortino,
        profit_factor: (gross_loss > 0.0).then(|| gross_profit / gross_loss),
        exposure_pct: covered as f64 / (to - from).max(1) as f64 * 100.0,
    }
}

/// Annualised Sharpe and Sortino ratios of daily equity returns (equity at each UTC day's last
/// point; 0 when fewer than two returns or no variation).
fn ratios(equity: &[EquityPoint], from: i64, to: i64) -> (f64, f64) {
    let mut daily: Vec<f64> = Vec::new();
    let mut day = from.div_euclid(86_400);
    let mut last = equity.first().map_or(0.0, |p| p.equity);
    for p in equity {
        let d = p.time.div_euclid(86_400);
        if d != day {
            daily.push(last);
            day = d;
        }
        last = p.equity;
    }
    if to > from {
        daily.push(last);
    }
    let rets: Vec<f64> = daily
        .windows(2)
        .filter(|w| w[0] > 0.0)
        .map(|w| w[1] / w[0] - 1.0)
        .collect();
    if rets.len() < 2 {
        return (0.0, 0.0);
    }
    let n = rets.len() as f64;
    let mean = rets.iter().sum::<f64>() / n;
    let sd = (rets.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / (n - 1.0)).sqrt();
    let down = (rets.iter().map(|r| r.min(0.0) * r.min(0.0)).sum::<f64>() / n).sqrt();
    let ann = 365f64.sqrt();
    (
        if sd > 0.0 { mean / sd * ann } else { 0.0 },
        if down > 0.0 { mean / down * ann } else { 0.0 },
    )
}
