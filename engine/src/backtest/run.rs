//! One backtest: the stored bars of a period, second by second, through the live `Strategy`
//! (windows warmed with the lookback before the period, so the first evaluations see what the
//! live engine would have seen), then the portfolio and the metrics.

use super::portfolio::{metrics, simulate, Fill, Mark, PortfolioConfig};
use super::result::{BacktestResult, SymbolSeries};
use crate::aggregate::ClosedBar;
use crate::market::base_asset;
use crate::store::{Store, StoreError};
use crate::strategy::history::feed_stored_bars;
use crate::strategy::signal::{name, signal_json};
use crate::strategy::symbols::{classify_market_id, resolve, MarketInfo};
use crate::strategy::{Action, SignalEvent, Strategy, StrategyConfig};
use feeds::MarketKind;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

/// A market found in the bar store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreMarket {
    pub id: String,
    pub base: String,
    pub kind: MarketKind,
    /// First and last UTC day with a file.
    pub first_day: i64,
    pub last_day: i64,
}

/// Why a backtest cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BacktestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Symbols(String),
    #[error("no stored bars between {from} and {to}; {coverage}")]
    NoBars {
        from: String,
        to: String,
        coverage: String,
    },
}

/// Every classifiable market of the store, with the days it covers. Markets of exchanges this
/// engine does not know are returned in the second list (they cannot be SPOT or PERP).
pub fn store_markets(store: &Store) -> Result<(Vec<StoreMarket>, Vec<String>), StoreError> {
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for id in store.markets()? {
        let Some(kind) = classify_market_id(&id) else {
            unknown.push(id);
            continue;
        };
        let days = store.days(&id)?;
        let (Some(first), Some(last)) = (days.iter().min(), days.iter().max()) else {
            continue;
        };
        let pair = id.split_once(':').map_or(id.as_str(), |(_, p)| p);
        known.push(StoreMarket {
            base: base_asset(pair),
            first_day: *first,
            last_day: *last,
            id,
            kind,
        });
    }
    Ok((known, unknown))
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub period: String,
    /// `[from, to)` in seconds.
    pub from: i64,
    pub to: i64,
    pub strategy: StrategyConfig,
    pub portfolio: PortfolioConfig,
    /// Non-default parameters, for grid tables.
    pub params: Vec<String>,
}

fn day_text(day: i64) -> String {
    crate::strategy::signal::iso_time(day * 86_400)[..10].to_string()
}

/// Run one backtest. `progress` gets the fraction done (0–1) after each day.
pub fn run(
    store: &Store,
    markets: &[StoreMarket],
    spec: &RunSpec,
    progress: &mut dyn FnMut(f64),
) -> Result<BacktestResult, BacktestError> {
    let started = std::time::Instant::now();
    let infos: Vec<MarketInfo<'_>> = markets
        .iter()
        .enumerate()
        .map(|(i, m)| MarketInfo {
            idx: i as u32,
            id: &m.id,
            base: &m.base,
            kind: m.kind,
        })
        .collect();
    let specs = resolve(&spec.strategy, &infos).map_err(BacktestError::Symbols)?;
    if specs.is_empty() {
        let bases: std::collections::BTreeSet<&str> =
            markets.iter().map(|m| m.base.as_str()).collect();
        return Err(BacktestError::Symbols(format!(
            "no symbol in the store has both SPOT and PERP markets (bases found: {})",
            bases.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let used: Vec<(u32, String)> = specs
        .iter()
        .flat_map(|s| {
            s.markets
                .iter()
                .map(|(i, _)| (*i, markets[*i as usize].id.clone()))
        })
        .collect();
    let (first_day, last_day) = (
        spec.from.div_euclid(86_400),
        (spec.to - 1).div_euclid(86_400),
    );
    let covered = used.iter().any(|(i, _)| {
        let m = &markets[*i as usize];
        m.first_day <= last_day && m.last_day >= first_day
    });
    if !covered {
        let lo = used
            .iter()
            .map(|(i, _)| markets[*i as usize].first_day)
            .min()
            .unwrap_or(0);
        let hi = used
            .iter()
            .map(|(i, _)| markets[*i as usize].last_day)
            .max()
            .unwrap_or(0);
        return Err(BacktestError::NoBars {
            from: day_text(first_day),
            to: day_text(last_day),
            coverage: format!(
                "the store has bars of these symbols' markets from {} to {} (try --from {} --to {})",
                day_text(lo),
                day_text(hi),
                day_text(lo),
                day_text(hi)
            ),
        });
    }

    let settings = spec.strategy.settings();
    let tf = settings.timeframe_s;
    let mut strategy = Strategy::new(
        settings,
        specs
            .iter()
            .cloned()
            .enumerate()
            .map(|(g, s)| (g as u16, s))
            .collect(),
        Arc::new(AtomicUsize::new(0)),
    );
    // Warm the windows with the lookback before the period (no decisions).
    strategy.set_warming(true);
    let warm_from = spec.from - settings.lookback_s - tf;
    feed_stored_bars(
        &mut strategy,
        store,
        &used,
        warm_from,
        spec.from,
        &mut |_| {},
        &mut |_| {},
        &mut |_| {},
    )?;
    strategy.set_warming(false);

    // Chart series per symbol, one point per analysis bar.
    #[derive(Clone)]
    struct Acc {
        bucket: Option<i64>,
        close: f64,
        spot: f64,
        perp: f64,
    }
    let mut slot_of: Vec<Option<(usize, MarketKind, bool)>> = vec![None; markets.len()];
    for (s, sp) in specs.iter().enumerate() {
        for (idx, kind) in &sp.markets {
            slot_of[*idx as usize] = Some((s, *kind, *idx == sp.reference));
        }
    }
    let mut series: Vec<SymbolSeries> = specs
        .iter()
        .map(|s| SymbolSeries {
            symbol: s.pair.clone(),
            ..SymbolSeries::default()
        })
        .collect();
    let mut acc = vec![
        Acc {
            bucket: None,
            close: f64::NAN,
            spot: 0.0,
            perp: 0.0
        };
        specs.len()
    ];
    fn flush(a: &Acc, s: &mut SymbolSeries) {
        if let Some(b) = a.bucket {
            if a.close.is_finite() {
                s.time.push(b);
                s.close.push(a.close);
                s.spot_cvd.push(a.spot);
                s.perp_cvd.push(a.perp);
                s.divergence.push(a.spot - a.perp);
            }
        }
    }
    let mut signals: Vec<SignalEvent> = Vec::new();
    let span = (spec.to - spec.from).max(1) as f64;
    let bars = {
        let mut visit = |b: &ClosedBar| {
            let Some(Some((s, kind, is_ref))) = slot_of.get(b.market as usize).copied() else {
                return;
            };
            let a = &mut acc[s];
            let bucket = b.second - b.second.rem_euclid(tf);
            if a.bucket != Some(bucket) {
                flush(a, &mut series[s]);
                a.bucket = Some(bucket);
            }
            if is_ref && b.bar.has_trades() {
                a.close = b.bar.close;
            }
            match kind {
                MarketKind::Spot => a.spot += b.bar.vbuy - b.bar.vsell,
                MarketKind::Perp => a.perp += b.bar.vbuy - b.bar.vsell,
                MarketKind::Future => {}
            }
        };
        feed_stored_bars(
            &mut strategy,
            store,
            &used,
            spec.from,
            spec.to,
            &mut |sig| signals.push(sig),
            &mut visit,
            &mut |t| progress(((t - spec.from) as f64 / span).clamp(0.0, 1.0)),
        )?
    };
    for (a, s) in acc.iter().zip(series.iter_mut()) {
        flush(a, s);
    }

    // Portfolio.
    let symbols: Vec<String> = specs.iter().map(|s| s.pair.clone()).collect();
    let fills: Vec<Fill> = signals
        .iter()
        .map(|sig| Fill {
            time: sig.time,
            symbol: sig.symbol as usize,
            direction: match sig.action {
                Action::Long => 1,
                Action::Short => -1,
                Action::Close => 0,
            },
            price: sig.price,
            size_factor: sig.size_factor,
            leverage: f64::from(sig.leverage),
            score: sig.score,
            exit_reason: sig.exit.map(|e| name(e.reason)).unwrap_or_default(),
        })
        .collect();
    let mut marks: Vec<Mark> = series
        .iter()
        .enumerate()
        .flat_map(|(s, ser)| {
            ser.time.iter().zip(&ser.close).map(move |(t, c)| Mark {
                time: t + tf,
                symbol: s,
                price: *c,
            })
        })
        .collect();
    marks.sort_by_key(|m| (m.time, m.symbol));
    let (trades, equity, balance) = simulate(&spec.portfolio, &symbols, &fills, &marks, spec.to);
    let m = metrics(
        &spec.portfolio,
        &trades,
        &equity,
        balance,
        spec.from,
        spec.to,
    );
    let lines = signals
        .iter()
        .map(|sig| signal_json(sig, &specs[sig.symbol as usize], settings.ttl_s, None).to_string())
        .collect();
    progress(1.0);
    Ok(BacktestResult {
        period: spec.period.clone(),
        from: spec.from,
        to: spec.to,
        params: spec.params.clone(),
        metrics: m,
        trades,
        equity,
        series,
        signals: lines,
        bars,
        wall_seconds: started.elapsed().as_secs_f64(),
    })
}
