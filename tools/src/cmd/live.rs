//! The live engine loop shared by `run` and `demo`: start the threads, act as the IO core
//! (drain closed bars, sync files, retention), show status once a second, shut down cleanly on
//! SIGINT/SIGTERM or after `--seconds`, and print the latency summary.

use engine::config::Config;
use engine::pipeline::{Plan, Running, Summary};
use engine::runtime::StopFlag;
use engine::shard::ShardOut;
use engine::stats::Percentiles;
use feeds::ws::WsConfig;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How the live loop reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LiveOptions {
    pub(crate) seconds: Option<u64>,
    pub(crate) quiet: bool,
}

/// Run until stopped; returns the merged histograms.
pub(crate) fn run_live(
    cfg: &Config,
    ws: WsConfig,
    opts: LiveOptions,
    stop: StopFlag,
) -> anyhow::Result<Summary> {
    let plan = Plan::from_config(cfg)?;
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| anyhow::anyhow!("creating data dir {}: {e}", cfg.data_dir.display()))?;
    log::info!(
        "engine: {} markets on {} connections; cores {}; bars under {}",
        plan.table.len(),
        plan.subscriptions.len(),
        plan.cores.describe(),
        cfg.data_dir.join("bars/1s").display()
    );
    for warning in engine::host::startup_warnings(std::path::Path::new("/"), &plan.cores) {
        log::warn!("host: {warning} (see `squeezeflow tune check`)");
    }
    let mut running = Running::start(plan, ws, stop.clone())?;
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let mut last_status = Instant::now();
    let mut last_frames = 0u64;
    let mut last_pressure = 0u64;
    let mut on_bar = |_: &engine::market::MarketTable, _: &ShardOut| {};
    loop {
        running.io_step(&mut on_bar);
        if stop.is_set() {
            break;
        }
        if opts
            .seconds
            .is_some_and(|s| started.elapsed() >= Duration::from_secs(s))
        {
            break;
        }
        if running.any_thread_finished() {
            log::error!("a pipeline thread stopped unexpectedly; shutting down");
            break;
        }
        if last_status.elapsed() >= Duration::from_secs(1) {
            let dt = last_status.elapsed().as_secs_f64();
            last_status = Instant::now();
            let frames: u64 = running.feed_stats.iter().map(|s| s.frames.get()).sum();
            if !opts.quiet {
                let line = status_line(
                    &running,
                    started.elapsed(),
                    (frames - last_frames) as f64 / dt,
                );
                if tty {
                    eprint!("\r\x1b[2K{line}");
                } else {
                    eprintln!("{line}");
                }
                let _ = std::io::stderr().flush();
            }
            last_frames = frames;
            // A full ring is never dropped (the producer spins), but sustained back-pressure
            // means a stage cannot keep up: say so loudly, once a second while it lasts.
            let pressure: u64 = running
                .feed_stats
                .iter()
                .map(|s| s.ring_full.get())
                .sum::<u64>()
                + running
                    .shard_stats
                    .iter()
                    .map(|s| s.out_ring_full.get())
                    .sum::<u64>();
            if pressure > last_pressure {
                log::warn!(
                    "back-pressure: rings were full {} times in the last second; a stage is not keeping up (see runtime.cores)",
                    pressure - last_pressure
                );
            }
            last_pressure = pressure;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    if tty && !opts.quiet {
        eprintln!();
    }
    eprintln!("stopping: closing connections, flushing open bars …");
    let feed_stats = running.feed_stats.clone();
    let shard_stats = running.shard_stats.clone();
    let markets = running.table.len();
    let summary = running.shutdown(&mut on_bar);
    let sum =
        |f: &dyn Fn(&engine::stats::FeedStats) -> u64| feed_stats.iter().map(|s| f(s)).sum::<u64>();
    let ssum = |f: &dyn Fn(&engine::stats::ShardStats) -> u64| {
        shard_stats.iter().map(|s| f(s)).sum::<u64>()
    };
    eprintln!(
        "{} frames, {} events, {} decode errors, {} unknown symbols, {} ring-full back-offs; {} markets, {} bars closed, {} late ticks, {} bar-store errors, {} connections lost",
        sum(&|s| s.frames.get()),
        sum(&|s| s.events.get()),
        sum(&|s| s.decode_errors()),
        sum(&|s| s.unknown_symbols.get()),
        sum(&|s| s.ring_full.get()),
        markets,
        ssum(&|s| s.bars_closed.get()),
        ssum(&|s| s.late_ticks.get()),
        ssum(&|s| s.store_errors.get()),
        sum(&|s| s.disconnects.get()),
    );
    eprintln!(
        "continuity: {} duplicates dropped, {} gaps ({} recovered, {} not recovered), {} trades found missing by id, {} trades backfilled, {} stale connections dropped, {} rotations, {} oversized messages",
        sum(&|s| s.duplicates.get()),
        sum(&|s| s.gaps_opened.get()),
        sum(&|s| s.gaps_recovered.get()),
        sum(&|s| s.gaps_unrecovered.get()),
        sum(&|s| s.trades_missing.get()),
        sum(&|s| s.trades_recovered.get()),
        sum(&|s| s.stale.get()),
        sum(&|s| s.rotations.get()),
        sum(&|s| s.oversized.get()),
    );
    print_latency(
        "tick-to-bar (socket read → bar slot updated)",
        "ns",
        &Percentiles::of(&summary.tick_to_bar_ns),
    );
    print_latency(
        "receive → frame decoded and routed (with an inline shard: bars updated too)",
        "ns",
        &Percentiles::of(&summary.decode_ns),
    );
    print_latency(
        "exchange time → receive",
        "µs",
        &Percentiles::of(&summary.network_us),
    );
    let signals = ssum(&|s| s.signals.get());
    if ssum(&|s| s.evaluations.get()) > 0 {
        eprintln!(
            "strategy: {} evaluations, {} signals ({} rejected by the validator), {} bars late for the strategy; journal under {}",
            ssum(&|s| s.evaluations.get()),
            signals,
            ssum(&|s| s.signals_rejected.get()),
            ssum(&|s| s.strategy_late_bars.get()),
            cfg.data_dir.join("signals").display()
        );
        print_latency(
            "strategy, one second of a shard's symbols evaluated",
            "ns",
            &Percentiles::of(&summary.strategy_eval_ns),
        );
        print_latency(
            "bar close → signal journaled",
            "ns",
            &Percentiles::of(&summary.close_to_journal_ns),
        );
    }
    Ok(summary)
}

fn status_line(r: &Running, up: Duration, rate: f64) -> String {
    let frames: u64 = r.feed_stats.iter().map(|s| s.frames.get()).sum();
    let errors: u64 = r.feed_stats.iter().map(|s| s.decode_errors()).sum();
    let conns: u64 = r.feed_stats.iter().map(|s| s.open_connections.get()).sum();
    let bars: u64 = r.shard_stats.iter().map(|s| s.bars_closed.get()).sum();
    let late: u64 = r.shard_stats.iter().map(|s| s.late_ticks.get()).sum();
    let p50 = r
        .shard_stats
        .iter()
        .map(|s| s.tick_to_bar_p50_ns.get())
        .max()
        .unwrap_or(0);
    let p99 = r
        .shard_stats
        .iter()
        .map(|s| s.tick_to_bar_p99_ns.get())
        .max()
        .unwrap_or(0);
    let net: u64 = r
        .feed_stats
        .iter()
        .map(|s| s.network_p50_us.get())
        .max()
        .unwrap_or(0);
    let signals: u64 = r.shard_stats.iter().map(|s| s.signals.get()).sum();
    format!(
        "{:>5}s  conns {conns}  frames {frames} ({rate:.0}/s)  bars {bars} (late ticks {late})  tick→bar p50 {} p99 {}  net p50 {}  signals {signals}  decode errors {errors}",
        up.as_secs(),
        fmt_ns(p50),
        fmt_ns(p99),
        fmt_ns(net * 1000),
    )
}

pub(crate) fn fmt_ns(ns: u64) -> String {
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{:.1} ms", ns as f64 / 1e6)
    }
}

pub(crate) fn print_latency(what: &str, unit: &str, p: &Percentiles) {
    if p.count == 0 {
        eprintln!("{what}: no samples");
        return;
    }
    let f = |v: u64| {
        if unit == "ns" {
            fmt_ns(v)
        } else {
            format!("{v} {unit}")
        }
    };
    eprintln!(
        "{what}: n={} p50 {} p90 {} p99 {} p99.9 {} max {}",
        p.count,
        f(p.p50),
        f(p.p90),
        f(p.p99),
        f(p.p999),
        f(p.max)
    );
}
