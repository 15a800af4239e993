//! `squeezeflow backtest PERIOD [BALANCE]`: the live strategy code over the stored bars of a
//! period, a paper portfolio (fills at the bar close, 0.1 % fee per side, leverage), the
//! original's printed summary plus risk figures, artifacts in `--out`, and parameter grids.

use super::Global;
use anyhow::{bail, Context};
use engine::backtest::portfolio::PortfolioConfig;
use engine::backtest::run::{run, store_markets, RunSpec, StoreMarket};
use engine::backtest::BacktestResult;
use engine::store::Store;
use engine::strategy::signal::iso_time;
use engine::strategy::StrategyConfig;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// yesterday | last_24hours | last_week | last_month (30 d) | last_3_months (90 d); or use
    /// --from/--to.
    period: Option<String>,
    /// Initial balance (quote currency).
    #[arg(default_value_t = 10_000.0)]
    balance: f64,
    /// Leverage for every trade (default: the signal's, 2 / 3 / 5 by score).
    #[arg(long)]
    leverage: Option<f64>,
    /// Symbols to trade, e.g. BTC,ETH (default: the strategy's choice, see [strategy] symbols).
    #[arg(long, value_delimiter = ',')]
    symbols: Vec<String>,
    /// First day (UTC, YYYY-MM-DD), inclusive.
    #[arg(long)]
    from: Option<String>,
    /// Last day (UTC, YYYY-MM-DD), inclusive.
    #[arg(long)]
    to: Option<String>,
    /// Analysis timeframe (1m, 5m, …; default from the config).
    #[arg(long)]
    timeframe: Option<String>,
    /// Minimum entry score (default from the config, 6.0).
    #[arg(long)]
    min_score: Option<f64>,
    /// Write equity/price/CVD/trade charts, report.html, trades.csv and result.json here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Parameter grid: `--grid min_entry_score=4,5,6 --grid timeframe=1m,5m` runs every
    /// combination in parallel and prints them ranked by return.
    #[arg(long, value_name = "KEY=V1,V2,…")]
    grid: Vec<String>,
    /// No progress bar, no summary: errors only (artifacts are still written).
    #[arg(long)]
    quiet: bool,
}

/// Keys a grid may vary.
const GRID_KEYS: &[&str] = &[
    "min_entry_score",
    "timeframe",
    "lookback_hours",
    "min_cvd_change",
    "flow_floor",
    "max_open_positions",
    "run_interval",
    "min_data_points",
    "leverage",
];

fn parse_day(s: &str, what: &str) -> anyhow::Result<i64> {
    feeds::civil::parse_date(s.as_bytes())
        .ok_or_else(|| anyhow::anyhow!("--{what} {s:?}: expected a UTC date like 2026-11-17"))
}

/// `[from, to)` in seconds and a label.
fn period(args: &Args, now_s: i64) -> anyhow::Result<(String, i64, i64)> {
    if args.from.is_some() || args.to.is_some() {
        if args.period.is_some() {
            bail!("give either a PERIOD or --from/--to, not both");
        }
        let (Some(f), Some(t)) = (&args.from, &args.to) else {
            bail!("--from and --to go together");
        };
        let (from, to) = (parse_day(f, "from")?, parse_day(t, "to")?);
        if to < from {
            bail!("--to {t} is before --from {f}");
        }
        return Ok((format!("{f}..{t}"), from * 86_400, (to + 1) * 86_400));
    }
    let Some(p) = &args.period else {
        bail!("missing PERIOD (yesterday, last_24hours, last_week, last_month, last_3_months) or --from/--to");
    };
    let today = now_s.div_euclid(86_400) * 86_400;
    let (from, to) = match p.as_str() {
        "yesterday" => (today - 86_400, today),
        "last_24hours" => (now_s - 86_400, now_s),
        "last_week" => (now_s - 7 * 86_400, now_s),
        "last_month" => (now_s - 30 * 86_400, now_s),
        "last_3_months" => (now_s - 90 * 86_400, now_s),
        other => bail!(
            "unknown period {other:?}: use yesterday, last_24hours, last_week, last_month, last_3_months, or --from/--to"
        ),
    };
    Ok((p.clone(), from, to))
}

/// Apply one `key=value` to a run's settings.
fn set(spec: &mut RunSpec, key: &str, value: &str) -> anyhow::Result<()> {
    let num = || -> anyhow::Result<f64> {
        value
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| anyhow::anyhow!("grid {key}={value}: not a number"))
    };
    let s = &mut spec.strategy;
    match key {
        "min_entry_score" => s.min_entry_score = num()?,
        "timeframe" => s.timeframe = value.to_string(),
        "lookback_hours" => s.lookback_hours = num()?,
        "min_cvd_change" => s.min_cvd_change = num()?,
        "flow_floor" => s.flow_floor = num()?,
        "max_open_positions" => s.max_open_positions = num()? as usize,
        "run_interval" => s.run_interval = num()? as u64,
        "min_data_points" => s.min_data_points = num()? as usize,
        "leverage" => spec.portfolio.leverage = Some(num()?),
        _ => bail!("grid key {key:?} is not one of {}", GRID_KEYS.join(", ")),
    }
    s.validate()
        .map_err(|(field, msg)| anyhow::anyhow!("grid {key}={value}: {field} {msg}"))?;
    Ok(())
}

/// Every combination of the grid axes, as `(key, value)` lists.
fn combinations(grid: &[String]) -> anyhow::Result<Vec<Vec<(String, String)>>> {
    let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for axis in grid {
        let Some((key, values)) = axis.split_once('=') else {
            bail!("--grid {axis:?}: expected KEY=V1,V2,…");
        };
        if !GRID_KEYS.contains(&key) {
            bail!("--grid key {key:?} is not one of {}", GRID_KEYS.join(", "));
        }
        let values: Vec<&str> = values.split(',').filter(|v| !v.is_empty()).collect();
        if values.is_empty() {
            bail!("--grid {axis:?}: no values");
        }
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((key.to_string(), v.to_string()));
                    c
                })
            })
            .collect();
    }
    Ok(combos)
}

/// A progress bar on stderr, shown once the work has taken more than a second.
struct Progress {
    started: Instant,
    enabled: bool,
    tty: bool,
    last_pct: i64,
}

impl Progress {
    fn new(enabled: bool) -> Progress {
        Progress {
            started: Instant::now(),
            enabled,
            tty: std::io::stderr().is_terminal(),
            last_pct: -1,
        }
    }

    fn show(&mut self, frac: f64, what: &str) {
        if !self.enabled || self.started.elapsed().as_secs_f64() < 1.0 {
            return;
        }
        let pct = (frac * 100.0).round() as i64;
        if pct == self.last_pct || (!self.tty && pct % 10 != 0) {
            return;
        }
        self.last_pct = pct;
        let width = 30;
        let filled = (frac * width as f64).round() as usize;
        let bar = format!(
            "{}{}",
            "#".repeat(filled.min(width)),
            " ".repeat(width - filled.min(width))
        );
        let line = format!(
            "[{bar}] {pct:>3}% {what} ({:.1} s)",
            self.started.elapsed().as_secs_f64()
        );
        if self.tty {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
        let _ = std::io::stderr().flush();
    }

    fn done(&self) {
        if self.enabled && self.tty && self.last_pct >= 0 {
            eprintln!();
        }
    }
}

fn money(v: f64) -> String {
    let s = format!("{:.2}", v.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, "00"));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{}${grouped}.{frac}", if v < 0.0 { "-" } else { "" })
}

fn duration(s: f64) -> String {
    let s = s.round() as i64;
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, s / 60 % 60)
    } else {
        format!("{}m {:02}s", s / 60, s % 60)
    }
}

fn print_summary(r: &BacktestResult) {
    let m = &r.metrics;
    println!("SqueezeFlow backtest — {}", r.period);
    println!(
        "Period:            {} → {} (UTC)",
        &iso_time(r.from)[..16],
        &iso_time(r.to)[..16]
    );
    println!("Initial balance:   {}", money(m.initial_balance));
    println!("Final balance:     {}", money(m.final_balance));
    println!(
        "Total return:      {:+.2}% ({})",
        m.total_return_pct,
        money(m.total_return)
    );
    println!("Trades:            {}", m.trades);
    println!("Win rate:          {:.1}%", m.win_rate_pct);
    println!(
        "Average trade:     {:+.2}%   best {:+.2}%   worst {:+.2}%",
        m.avg_trade_pct, m.best_trade_pct, m.worst_trade_pct
    );
    println!("Average duration:  {}", duration(m.avg_duration_s));
    println!("Trades per day:    {:.2}", m.trades_per_day);
    println!("Max drawdown:      {:.2}%", m.max_drawdown_pct);
    println!(
        "Sharpe {:.2}   Sortino {:.2}   Profit factor {}   Exposure {:.1}%",
        m.sharpe,
        m.sortino,
        m.profit_factor
            .map_or("n/a (no losing trade)".to_string(), |p| format!("{p:.2}")),
        m.exposure_pct
    );
    if !r.trades.is_empty() {
        println!("Last {} trades:", r.trades.len().min(5));
        for t in r.trades.iter().rev().take(5).rev() {
            println!(
                "  {}  {:<5} {:<9} {} → {}  {:+.2}%  {}  ({})",
                &iso_time(t.entry_time)[..16],
                t.side,
                t.symbol,
                t.entry_price,
                t.exit_price,
                t.pnl_pct,
                duration((t.exit_time - t.entry_time) as f64),
                t.exit_reason
            );
        }
    }
    println!(
        "{} bars read in {:.2} s ({:.0} bars/s)",
        r.bars,
        r.wall_seconds,
        r.bars as f64 / r.wall_seconds.max(1e-9)
    );
}

pub(crate) fn main(global: &Global, mut args: Args) -> anyhow::Result<ExitCode> {
    let cfg = global.load_config()?;
    // `backtest --from D --to D 5000`: with explicit dates the one positional is the balance.
    if args.from.is_some() || args.to.is_some() {
        if let Some(b) = args.period.as_deref().and_then(|p| p.parse::<f64>().ok()) {
            args.balance = b;
            args.period = None;
        }
    }
    if !(args.balance.is_finite() && args.balance > 0.0) {
        bail!("BALANCE {} must be a positive number", args.balance);
    }
    if let Some(l) = args.leverage {
        if !(1.0..=125.0).contains(&l) {
            bail!("--leverage {l} is outside 1..=125");
        }
    }
    let now_s = feeds::clock::wall_us() / 1_000_000;
    let (label, from, to) = period(&args, now_s)?;
    let store = Store::new(&cfg.data_dir);
    let (markets, unknown) = store_markets(&store)
        .with_context(|| format!("reading the bar store under {}", cfg.data_dir.display()))?;
    if !unknown.is_empty() {
        log::warn!(
            "markets of unknown exchanges are not used: {}",
            unknown.join(", ")
        );
    }
    if markets.is_empty() {
        bail!(
            "no bars under {} (run the engine, `squeezeflow demo`, or replay a tape first)",
            cfg.data_dir.join("bars/1s").display()
        );
    }
    let mut strategy: StrategyConfig = cfg.strategy.clone();
    if !args.symbols.is_empty() {
        let known: std::collections::BTreeSet<&str> =
            markets.iter().map(|m| m.base.as_str()).collect();
        for s in &args.symbols {
            if !known.contains(s.to_ascii_uppercase().as_str()) {
                bail!(
                    "unknown symbol {s:?}: the store has {}",
                    known.iter().copied().collect::<Vec<_>>().join(", ")
                );
            }
        }
        strategy.symbols = args
            .symbols
            .iter()
            .map(|s| s.to_ascii_uppercase())
            .collect();
        strategy.max_symbols = strategy.max_symbols.max(strategy.symbols.len());
    }
    if let Some(tf) = &args.timeframe {
        strategy.timeframe = tf.clone();
    }
    if let Some(s) = args.min_score {
        strategy.min_entry_score = s;
    }
    strategy
        .validate()
        .map_err(|(field, msg)| anyhow::anyhow!("{field}: {msg}"))?;
    let base = RunSpec {
        period: label,
        from,
        to,
        strategy,
        portfolio: PortfolioConfig {
            initial_balance: args.balance,
            leverage: args.leverage,
            ..PortfolioConfig::default()
        },
        params: Vec::new(),
    };
    if args.grid.is_empty() {
        let mut progress = Progress::new(!args.quiet);
        let result = run(&store, &markets, &base, &mut |f| {
            progress.show(f, "replaying stored bars")
        });
        progress.done();
        let result = result?;
        if !args.quiet {
            print_summary(&result);
        }
        if let Some(out) = &args.out {
            write_outputs(&result, out)?;
            if !args.quiet {
                println!("Artifacts in {}", out.display());
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    run_grid(&args, &store, &markets, &base)
}

/// Charts (PNG), report.html, trades.csv and result.json (`tools::report`).
fn write_outputs(result: &BacktestResult, out: &std::path::Path) -> anyhow::Result<()> {
    tools::report::write_artifacts(result, out)
        .with_context(|| format!("writing the report into {}", out.display()))?;
    Ok(())
}

fn run_grid(
    args: &Args,
    store: &Store,
    markets: &[StoreMarket],
    base: &RunSpec,
) -> anyhow::Result<ExitCode> {
    let combos = combinations(&args.grid)?;
    let mut specs = Vec::with_capacity(combos.len());
    for combo in &combos {
        let mut spec = base.clone();
        for (k, v) in combo {
            set(&mut spec, k, v)?;
        }
        spec.params = combo.iter().map(|(k, v)| format!("{k}={v}")).collect();
        specs.push(spec);
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(specs.len());
    if !args.quiet {
        eprintln!("grid: {} combinations on {workers} threads", specs.len());
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<anyhow::Result<BacktestResult>>>> =
        specs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let progress = std::sync::Mutex::new(Progress::new(!args.quiet));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(spec) = specs.get(i) else { break };
                let r = run(store, markets, spec, &mut |_| {}).map_err(anyhow::Error::from);
                if let Ok(mut slot) = results[i].lock() {
                    *slot = Some(r);
                }
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if let Ok(mut p) = progress.lock() {
                    p.show(
                        n as f64 / specs.len() as f64,
                        &format!("{n}/{} runs", specs.len()),
                    );
                }
            });
        }
    });
    if let Ok(p) = progress.lock() {
        p.done();
    }
    let mut ranked = Vec::new();
    for (slot, spec) in results.into_iter().zip(&specs) {
        match slot.into_inner().ok().flatten() {
            Some(Ok(r)) => ranked.push(r),
            Some(Err(e)) => bail!("grid {}: {e}", spec.params.join(" ")),
            None => bail!("grid {}: did not run", spec.params.join(" ")),
        }
    }
    ranked.sort_by(|a, b| {
        b.metrics
            .total_return_pct
            .total_cmp(&a.metrics.total_return_pct)
            .then(
                a.metrics
                    .max_drawdown_pct
                    .total_cmp(&b.metrics.max_drawdown_pct),
            )
    });
    let mut table = String::from(
        "rank,params,return_pct,trades,win_rate_pct,max_drawdown_pct,sharpe,profit_factor\n",
    );
    if !args.quiet {
        println!(
            "{:>4}  {:<44} {:>9} {:>7} {:>7} {:>8} {:>7} {:>7}",
            "rank", "parameters", "return", "trades", "win", "max DD", "Sharpe", "PF"
        );
    }
    for (i, r) in ranked.iter().enumerate() {
        let m = &r.metrics;
        let pf = m
            .profit_factor
            .map_or("n/a".to_string(), |p| format!("{p:.2}"));
        if !args.quiet {
            println!(
                "{:>4}  {:<44} {:>+8.2}% {:>7} {:>6.1}% {:>7.2}% {:>7.2} {:>7}",
                i + 1,
                r.params.join(" "),
                m.total_return_pct,
                m.trades,
                m.win_rate_pct,
                m.max_drawdown_pct,
                m.sharpe,
                pf
            );
        }
        table.push_str(&format!(
            "{},\"{}\",{},{},{},{},{},{}\n",
            i + 1,
            r.params.join(" "),
            m.total_return_pct,
            m.trades,
            m.win_rate_pct,
            m.max_drawdown_pct,
            m.sharpe,
            m.profit_factor.map_or(String::new(), |p| p.to_string())
        ));
    }
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        std::fs::write(out.join("grid.csv"), table)?;
        if let Some(best) = ranked.first() {
            write_outputs(best, out)?;
        }
        if !args.quiet {
            println!("grid.csv and the best run's artifacts in {}", out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
