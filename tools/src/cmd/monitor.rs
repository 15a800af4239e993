//! `squeezeflow monitor [--once] [--continuous] [--interval S] [--export FILE]`: the original
//! `monitor_performance.py` report — data freshness, ingestion against 60 bars per market per
//! minute, gaps, storage growth, market coverage — plus what the running engine publishes in
//! its stats file: health and alerts, latency percentiles, per-thread load and per-venue
//! connections. A terminal UI by default; `--once` prints the report and exits 0 healthy,
//! 1 degraded, 2 down; `--continuous` prints it every interval; `--export` writes it as JSON.
//!
//! With no engine running (stopped, killed, never started here) it says so and reports from
//! the bar store alone.
//!
//! When stdout is not a terminal and neither `--once` nor `--continuous` is given, it behaves
//! like `--continuous`.

use super::time::format_ms;
use super::Global;
use anyhow::Context;
use engine::alerts::{evaluate, health_of, Alert, AlertThresholds, Health};
use engine::monitor::{read_snapshot, stats_path, EngineState, Snapshot};
use engine::store::{day_path, Store};
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use ratatui::Frame;
use serde::Serialize;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Print the report once and exit: 0 healthy, 1 degraded, 2 down (engine not running).
    #[arg(long, conflicts_with = "continuous")]
    once: bool,
    /// Print the report every --interval seconds (text, no terminal UI), like the original.
    #[arg(long)]
    continuous: bool,
    /// Seconds between refreshes.
    #[arg(long, default_value_t = 2.0, value_name = "S")]
    interval: f64,
    /// Also write the report as JSON to FILE (rewritten at every refresh).
    #[arg(long, value_name = "FILE")]
    export: Option<PathBuf>,
}

/// Minutes with fewer bars than this are gaps (the original's rule).
const GAP_BARS: usize = 30;
/// Markets listed in the coverage section.
const TOP_MARKETS: usize = 5;

/// The whole report (also the `--export` JSON).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) generated: String,
    pub(crate) data_dir: String,
    pub(crate) health: Health,
    /// `running`, `stopped` or `not running`.
    pub(crate) engine: String,
    pub(crate) engine_note: String,
    pub(crate) alerts: Vec<Alert>,
    pub(crate) freshness: Freshness,
    pub(crate) ingestion: Ingestion,
    pub(crate) gaps: Gaps,
    pub(crate) storage: Storage,
    pub(crate) coverage: Vec<Coverage>,
    /// Markets silent now (subscribed, connection alive, no trade for their limit), longest
    /// silent first; empty when the engine is not running.
    pub(crate) silent: Vec<SilentMarket>,
    /// What the engine published (absent when it is not running).
    pub(crate) live: Option<Snapshot>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct SilentMarket {
    pub(crate) market: String,
    /// Since its last trade (or its subscription), s.
    pub(crate) silent_for_s: f64,
    /// Silent episodes since the engine started.
    pub(crate) episodes: u64,
}

/// The markets of `live` that are silent at `now_us`, longest silent first.
fn silent_markets(live: &Snapshot, now_us: i64) -> Vec<SilentMarket> {
    let mut out: Vec<SilentMarket> = live
        .markets
        .iter()
        .filter(|m| m.silent_since_us > 0)
        .map(|m| SilentMarket {
            market: m.id.clone(),
            silent_for_s: (now_us - m.silent_since_us).max(0) as f64 / 1e6,
            episodes: m.silent_episodes,
        })
        .collect();
    out.sort_by(|a, b| {
        b.silent_for_s
            .total_cmp(&a.silent_for_s)
            .then(a.market.cmp(&b.market))
    });
    out
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Freshness {
    /// Age of the newest stored 1 s bar of any market, s.
    pub(crate) newest_bar_age_s: Option<f64>,
    pub(crate) newest_bar: Option<String>,
    pub(crate) stale_after_s: f64,
    pub(crate) stale: bool,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Ingestion {
    /// Bars per market in the last complete minute, averaged over the markets that were
    /// collected for all of it (`None`: none was yet).
    pub(crate) bars_per_market_minute: Option<f64>,
    /// Of the expected 60.
    pub(crate) percent: Option<f64>,
    pub(crate) warn_below_percent: f64,
    pub(crate) low: bool,
    pub(crate) markets: Vec<MarketMinute>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct MarketMinute {
    pub(crate) market: String,
    /// `None` when the market's first stored bar (in the last 24 h) is not before that minute.
    pub(crate) bars_last_minute: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Gaps {
    /// Complete minutes of the last hour examined, all markets together: those after each
    /// market's first stored minute (before it, the market was not being collected).
    pub(crate) minutes: usize,
    /// Minutes with fewer than 30 bars, all markets together.
    pub(crate) gap_minutes: usize,
    pub(crate) by_market: Vec<(String, usize)>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Storage {
    pub(crate) markets: usize,
    pub(crate) day_files: usize,
    /// Bytes the day files take on disk (they are sparse).
    pub(crate) disk_bytes: u64,
    pub(crate) bars_last_hour: usize,
    pub(crate) bars_last_day: usize,
    /// Bars × 88-byte slots per hour and day at the last hour's rate.
    pub(crate) bytes_per_hour: u64,
    pub(crate) bytes_per_day: u64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Coverage {
    pub(crate) market: String,
    pub(crate) bars_last_hour: usize,
    /// Quote volume (vbuy + vsell) over the last hour.
    pub(crate) volume_last_hour: f64,
}

/// Builds the report for `data_dir` at `now_ms` from the bar store and (if any) the
/// engine's snapshot.
pub(crate) fn build_report(
    data_dir: &Path,
    snap: Option<Snapshot>,
    now_ms: i64,
    th: &AlertThresholds,
) -> anyhow::Result<Report> {
    let now_us = now_ms * 1000;
    let store = Store::new(data_dir);
    let markets = store
        .markets()
        .with_context(|| format!("listing markets under {}", data_dir.display()))?;
    let this_minute = now_ms.div_euclid(60_000);
    let hour_from = (this_minute - 60) * 60_000;
    let mut newest: Option<(i64, String)> = None;
    let mut ingestion = Vec::new();
    let mut gaps_by_market = Vec::new();
    let mut coverage = Vec::new();
    let (mut bars_hour, mut bars_day, mut files, mut disk) = (0, 0, 0, 0u64);
    let mut examined = 0;
    for m in &markets {
        let day = store.range(m, now_ms - 86_400_000, now_ms + 1000)?;
        bars_day += day.len();
        if let Some(last) = day.last() {
            if newest.as_ref().is_none_or(|(t, _)| last.time_ms > *t) {
                newest = Some((last.time_ms, m.clone()));
            }
        }
        let hour: Vec<_> = day.iter().filter(|b| b.time_ms >= hour_from).collect();
        let mut per_minute = [0usize; 61];
        for b in &hour {
            let i = (b.time_ms.div_euclid(60_000) - (this_minute - 60)) as usize;
            if let Some(c) = per_minute.get_mut(i) {
                *c += 1;
            }
        }
        let complete = &per_minute[..60];
        bars_hour += complete.iter().sum::<usize>();
        // Minutes after the first stored one (which is partial) were fully collected.
        let first = day
            .first()
            .map_or(i64::MAX, |b| b.time_ms.div_euclid(60_000));
        let covered = |i: usize| this_minute - 60 + i as i64 > first;
        ingestion.push(MarketMinute {
            market: m.clone(),
            bars_last_minute: covered(59).then_some(complete[59]),
        });
        examined += (0..60).filter(|&i| covered(i)).count();
        gaps_by_market.push((
            m.clone(),
            (0..60)
                .filter(|&i| covered(i) && complete[i] < GAP_BARS)
                .count(),
        ));
        coverage.push(Coverage {
            market: m.clone(),
            bars_last_hour: complete.iter().sum(),
            volume_last_hour: hour
                .iter()
                .filter(|b| b.time_ms < this_minute * 60_000)
                .map(|b| b.bar.vbuy + b.bar.vsell)
                .fold(0.0, |a, v| a + v),
        });
        for d in store.days(m)? {
            if let Ok(meta) = day_path(data_dir, m, d).and_then(|p| {
                std::fs::metadata(&p).map_err(|source| engine::store::StoreError::Io {
                    path: p.clone(),
                    source,
                })
            }) {
                files += 1;
                disk += std::os::unix::fs::MetadataExt::blocks(&meta) * 512;
            }
        }
    }
    coverage.sort_by(|a, b| {
        b.volume_last_hour
            .total_cmp(&a.volume_last_hour)
            .then(b.bars_last_hour.cmp(&a.bars_last_hour))
    });
    coverage.truncate(TOP_MARKETS);
    let full: Vec<usize> = ingestion
        .iter()
        .filter_map(|m| m.bars_last_minute)
        .collect();
    let avg = (!full.is_empty()).then(|| full.iter().sum::<usize>() as f64 / full.len() as f64);
    let newest_age = newest
        .as_ref()
        .map(|(t, _)| ((now_ms - t).max(0) as f64 / 1e3 - 1.0).max(0.0));
    let slot = engine::store::SLOT_SIZE as u64;

    // Engine state: a running snapshot decides health; otherwise the engine is down.
    let alerts = evaluate(snap.as_ref(), now_us, th);
    let health = health_of(&alerts);
    let (engine, engine_note, live) = match &snap {
        Some(s) if health != Health::Down => (
            "running".to_string(),
            format!(
                "pid {}, up {}, stats {:.1} s old{}",
                s.pid,
                fmt_duration((now_us - s.started_us) as f64 / 1e6),
                (now_us - s.updated_us) as f64 / 1e6,
                if s.http_addr.is_empty() {
                    String::new()
                } else {
                    format!(", http://{}", s.http_addr)
                }
            ),
            snap.clone(),
        ),
        Some(s) => (
            if s.state == EngineState::Stopped {
                "stopped"
            } else {
                "not running"
            }
            .to_string(),
            format!(
                "engine (pid {}) last published {}; reporting from the bar store alone",
                s.pid,
                format_ms(s.updated_us / 1000)
            ),
            None,
        ),
        None => (
            "not running".to_string(),
            "no engine statistics in this data directory; reporting from the bar store alone"
                .to_string(),
            None,
        ),
    };
    Ok(Report {
        generated: format_ms(now_ms),
        data_dir: data_dir.display().to_string(),
        health,
        engine,
        engine_note,
        alerts,
        freshness: Freshness {
            newest_bar_age_s: newest_age,
            newest_bar: newest.map(|(t, m)| format!("{m} at {}", format_ms(t))),
            stale_after_s: th.stale_s,
            stale: newest_age.is_none_or(|a| a > th.stale_s),
        },
        ingestion: Ingestion {
            bars_per_market_minute: avg,
            percent: avg.map(|a| a / 60.0 * 100.0),
            warn_below_percent: th.ingestion_min * 100.0,
            low: avg.is_some_and(|a| a / 60.0 < th.ingestion_min),
            markets: ingestion,
        },
        gaps: Gaps {
            minutes: examined,
            gap_minutes: gaps_by_market.iter().map(|(_, g)| g).sum(),
            by_market: gaps_by_market,
        },
        storage: Storage {
            markets: markets.len(),
            day_files: files,
            disk_bytes: disk,
            bars_last_hour: bars_hour,
            bars_last_day: bars_day,
            bytes_per_hour: bars_hour as u64 * slot,
            bytes_per_day: bars_hour as u64 * slot * 24,
        },
        coverage,
        silent: live
            .as_ref()
            .map(|l| silent_markets(l, now_ms * 1000))
            .unwrap_or_default(),
        live,
    })
}

pub(crate) fn main(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let cfg = global.load_config()?;
    if !(args.interval.is_finite() && args.interval >= 0.1) {
        anyhow::bail!("--interval {} must be at least 0.1 s", args.interval);
    }
    let th = cfg.monitor.alerts;
    let data = cfg.data_dir.clone();
    let interval = Duration::from_secs_f64(args.interval);
    let make = || -> anyhow::Result<Report> {
        let snap = read_snapshot(&stats_path(&data)).map_err(anyhow::Error::msg)?;
        let r = build_report(&data, snap, feeds::clock::wall_us() / 1000, &th)?;
        if let Some(path) = &args.export {
            let json = serde_json::to_string_pretty(&r)?;
            std::fs::write(path, json + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(r)
    };
    if args.once {
        let r = make()?;
        print!("{}", render_text(&r));
        return Ok(ExitCode::from(r.health.exit_code()));
    }
    if args.continuous || !std::io::stdout().is_terminal() {
        loop {
            let r = make()?;
            println!("{}", render_text(&r));
            std::thread::sleep(interval);
        }
    }
    run_tui(interval, make)
}

fn run_tui(
    interval: Duration,
    make: impl Fn() -> anyhow::Result<Report>,
) -> anyhow::Result<ExitCode> {
    use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
    let mut terminal = ratatui::init();
    let result = (|| -> anyhow::Result<Health> {
        loop {
            let r = make()?;
            terminal.draw(|f| draw(f, &r))?;
            let deadline = std::time::Instant::now() + interval;
            loop {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                if event::poll(left)? {
                    if let Event::Key(k) = event::read()? {
                        let ctrl_c = k.modifiers.contains(KeyModifiers::CONTROL)
                            && k.code == KeyCode::Char('c');
                        if k.kind == KeyEventKind::Press
                            && (ctrl_c || matches!(k.code, KeyCode::Char('q') | KeyCode::Esc))
                        {
                            return Ok(r.health);
                        }
                    }
                }
            }
        }
    })();
    ratatui::restore();
    result.map(|h| ExitCode::from(h.exit_code()))
}

fn fmt_duration(s: f64) -> String {
    let s = s.max(0.0) as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

fn fmt_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{b} B")
    }
}

fn fmt_latency(v: u64, unit: &str) -> String {
    let ns = if unit == "us" { v * 1000 } else { v };
    super::live::fmt_ns(ns)
}

fn fmt_volume(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2}B", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// Lines of each section, shared by the text report and the terminal UI.
struct Sections {
    status: String,
    freshness: Vec<String>,
    ingestion: Vec<String>,
    gaps: Vec<String>,
    storage: Vec<String>,
    coverage: Vec<[String; 3]>,
    latency: Vec<[String; 6]>,
    threads: Vec<[String; 5]>,
    venues: Vec<[String; 5]>,
    /// Engine-wide gaps, duplicates, reconnects, rotations, backfill (engine running).
    continuity: Vec<String>,
    /// Markets with any gap: market, open, recovered/unrecovered of all, trades missing,
    /// trades recovered.
    market_gaps: Vec<[String; 5]>,
    alerts: Vec<String>,
}

/// The continuity lines and the per-market gap rows of a live snapshot.
fn continuity_sections(live: &Snapshot) -> (Vec<String>, Vec<[String; 5]>) {
    let c = &live.totals.continuity;
    let open: u64 = live.markets.iter().map(|m| u64::from(m.gaps_open)).sum();
    let mut lines = vec![
        format!("gaps: {open} open, {} found", c.gaps_opened),
        format!(
            "  closed: {} recovered, {} unrecovered",
            c.gaps_recovered, c.gaps_unrecovered
        ),
        format!(
            "trades: {} missing, {} recovered",
            c.trades_missing, c.trades_recovered
        ),
        format!("duplicates {}, reordered {}", c.duplicates, c.reordered),
        format!(
            "reconnects: watchdog {}, oversized {}; rotations {}",
            c.stale_reconnects, c.oversized, c.rotations
        ),
    ];
    lines.push(match &live.totals.backfill {
        Some(b) => format!(
            "backfill: {} jobs ({} complete), {} trades, {} errors, {} rate-limited",
            b.jobs,
            b.complete,
            b.trades,
            b.http_errors + b.parse_errors,
            b.rate_limited
        ),
        None => "backfill: not running".to_string(),
    });
    if c.records_dropped > 0 {
        lines.push(format!(
            "{} gap events dropped (per-market figures incomplete)",
            c.records_dropped
        ));
    }
    // Silent markets only (a market that flows is never named here); first when there are
    // any, so the terminal UI's short panel shows them.
    let silent = silent_markets(live, live.updated_us);
    if silent.is_empty() {
        lines.push("silent markets: 0".to_string());
    } else {
        let mut head = vec![format!("silent markets: {}", silent.len())];
        for m in &silent {
            head.push(format!(
                "  {} silent for {:.0} s (episode {})",
                m.market, m.silent_for_s, m.episodes
            ));
        }
        lines.splice(0..0, head);
    }
    let mut gapped: Vec<_> = live.markets.iter().filter(|m| m.gaps > 0).collect();
    gapped.sort_by(|a, b| {
        b.gaps_open
            .cmp(&a.gaps_open)
            .then(b.gaps_unrecovered.cmp(&a.gaps_unrecovered))
            .then(b.gap_trades_missing.cmp(&a.gap_trades_missing))
            .then(a.id.cmp(&b.id))
    });
    let rows = gapped
        .iter()
        .map(|m| {
            [
                m.id.clone(),
                m.gaps_open.to_string(),
                format!("{}/{}/{}", m.gaps_recovered, m.gaps_unrecovered, m.gaps),
                m.gap_trades_missing.to_string(),
                m.gap_trades_recovered.to_string(),
            ]
        })
        .collect();
    (lines, rows)
}

fn sections(r: &Report) -> Sections {
    let f = &r.freshness;
    let freshness = vec![
        match f.newest_bar_age_s {
            Some(a) => format!(
                "newest bar {:.1} s old — {}",
                a,
                if f.stale { "STALE" } else { "fresh" }
            ),
            None => "no bars in the last 24 h — STALE".to_string(),
        },
        f.newest_bar.clone().unwrap_or_default(),
        format!("stale after {} s", f.stale_after_s),
    ];
    let i = &r.ingestion;
    let mut ingestion = vec![match (i.bars_per_market_minute, i.percent) {
        (Some(avg), Some(pct)) => format!(
            "{avg:.1} bars/market/min of 60 = {pct:.0} %{}",
            if i.low {
                format!(" — LOW (< {:.0} %)", i.warn_below_percent)
            } else {
                String::new()
            }
        ),
        _ => "no complete minute collected yet".to_string(),
    }];
    for m in &i.markets {
        ingestion.push(match m.bars_last_minute {
            Some(n) => format!("{:<28} {n:>3}/60", m.market),
            None => format!("{:<28}   -/60", m.market),
        });
    }
    let g = &r.gaps;
    let mut gaps = vec![format!(
        "{}/{} market-minutes < 30 bars",
        g.gap_minutes, g.minutes
    )];
    for (m, n) in g.by_market.iter().filter(|(_, n)| *n > 0) {
        gaps.push(format!("{m:<28} {n:>3} gap min"));
    }
    let s = &r.storage;
    let storage = vec![
        format!(
            "{} markets, {} day files, {} on disk",
            s.markets,
            s.day_files,
            fmt_bytes(s.disk_bytes)
        ),
        format!(
            "bars: {} last hour, {} last 24 h",
            s.bars_last_hour, s.bars_last_day
        ),
        format!(
            "growth: {}/hour, {}/day",
            fmt_bytes(s.bytes_per_hour),
            fmt_bytes(s.bytes_per_day)
        ),
    ];
    let coverage = r
        .coverage
        .iter()
        .map(|c| {
            [
                c.market.clone(),
                c.bars_last_hour.to_string(),
                fmt_volume(c.volume_last_hour),
            ]
        })
        .collect();
    let (mut latency, mut threads, mut venues) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(live) = &r.live {
        for g in live.stages.iter().filter(|g| g.count > 0) {
            latency.push([
                g.stage.clone(),
                g.count.to_string(),
                fmt_latency(g.p50, &g.unit),
                fmt_latency(g.p99, &g.unit),
                fmt_latency(g.p999, &g.unit),
                fmt_latency(g.max, &g.unit),
            ]);
        }
        for t in &live.threads {
            threads.push([
                t.name.clone(),
                if t.core < 0 {
                    "-".to_string()
                } else {
                    t.core.to_string()
                },
                format!("{:.1} %", t.busy * 100.0),
                if t.ring_capacity > 0 {
                    format!("{}/{}", t.ring_depth, t.ring_capacity)
                } else {
                    "-".to_string()
                },
                t.ring_full.to_string(),
            ]);
        }
        for v in &live.venues {
            venues.push([
                v.name.clone(),
                format!("{}/{} open", v.open, v.connections),
                v.reconnects.to_string(),
                v.frames.to_string(),
                format!("{:.0}/s", v.frame_rate),
            ]);
        }
    }
    let (continuity, market_gaps) = r
        .live
        .as_ref()
        .map(continuity_sections)
        .unwrap_or_else(|| (vec!["(engine not running)".to_string()], Vec::new()));
    let alerts = if r.alerts.is_empty() {
        vec!["none".to_string()]
    } else {
        r.alerts
            .iter()
            .map(|a| {
                let sev = match a.severity {
                    engine::alerts::Severity::Warning => "warning",
                    engine::alerts::Severity::Critical => "CRITICAL",
                };
                format!("{sev} {}: {}", a.name, a.message)
            })
            .collect()
    };
    let mut status = format!(
        "{} — engine {} ({}) — {}",
        r.health.as_str().to_uppercase(),
        r.engine,
        r.engine_note,
        r.generated
    );
    if let Some(live) = &r.live {
        status.push_str(&format!(
            "\nRSS {}, CPU {:.2} cores, host CPU {:.0} %, host memory {:.0} %",
            fmt_bytes(live.process.rss_bytes),
            live.process.cpu_cores,
            live.process.host_cpu * 100.0,
            live.process.host_memory * 100.0
        ));
    }
    Sections {
        status,
        freshness,
        ingestion,
        gaps,
        storage,
        coverage,
        latency,
        threads,
        venues,
        continuity,
        market_gaps,
        alerts,
    }
}

/// The plain-text report (`--once`, `--continuous`).
pub(crate) fn render_text(r: &Report) -> String {
    let s = sections(r);
    let mut out = format!("SqueezeFlow monitor — {}\n{}\n", r.data_dir, s.status);
    let mut section = |title: &str, lines: &[String]| {
        out.push_str(&format!("\n== {title}\n"));
        for l in lines {
            out.push_str(&format!("  {l}\n"));
        }
    };
    section("Data freshness", &s.freshness);
    section("Ingestion (last complete minute)", &s.ingestion);
    section("Gaps", &s.gaps);
    section("Storage", &s.storage);
    let cov: Vec<String> = s
        .coverage
        .iter()
        .map(|c| format!("{:<28} {:>6} bars  {:>10} volume", c[0], c[1], c[2]))
        .collect();
    section("Coverage (top markets, last hour)", &cov);
    if r.live.is_some() {
        let lat: Vec<String> = s
            .latency
            .iter()
            .map(|l| {
                format!(
                    "{:<20} n={:<10} p50 {:>9}  p99 {:>9}  p99.9 {:>9}  max {:>9}",
                    l[0], l[1], l[2], l[3], l[4], l[5]
                )
            })
            .collect();
        section("Latency", &lat);
        let th: Vec<String> = s
            .threads
            .iter()
            .map(|t| {
                format!(
                    "{:<10} core {:<3} busy {:>5}  ring {:>12}  full {}",
                    t[0], t[1], t[2], t[3], t[4]
                )
            })
            .collect();
        section("Threads", &th);
        let ve: Vec<String> = s
            .venues
            .iter()
            .map(|v| {
                format!(
                    "{:<14} {:<10} reconnects {:<4} frames {:<10} {}",
                    v[0], v[1], v[2], v[3], v[4]
                )
            })
            .collect();
        section("Venues", &ve);
        let mut co = s.continuity.clone();
        for g in &s.market_gaps {
            co.push(format!(
                "{:<28} {} open, {} recovered/unrecovered/all; trades {} missing, {} recovered",
                g[0], g[1], g[2], g[3], g[4]
            ));
        }
        section("Continuity (gaps, duplicates, reconnects)", &co);
    }
    section("Alerts", &s.alerts);
    out
}

/// One frame of the terminal UI.
pub(crate) fn draw(f: &mut Frame<'_>, r: &Report) {
    let s = sections(r);
    let color = match r.health {
        Health::Healthy => Color::Green,
        Health::Degraded => Color::Yellow,
        Health::Down => Color::Red,
    };
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(4),
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Length(7),
            Constraint::Min(6),
            Constraint::Length(4),
        ])
        .split(f.area());
    f.render_widget(
        Paragraph::new(
            s.status
                .lines()
                .map(|l| {
                    Line::from(vec![Span::styled(
                        l.to_string(),
                        Style::default().fg(color).add_modifier(Modifier::BOLD),
                    )])
                })
                .collect::<Vec<_>>(),
        )
        .block(block("SqueezeFlow monitor (q quits)")),
        rows[0],
    );
    let top = split3(rows[1]);
    para(f, top[0], "Freshness", &s.freshness);
    para(f, top[1], "Ingestion vs 60/min", &s.ingestion);
    para(f, top[2], "Gaps (last hour)", &s.gaps);
    let mid = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([
            Constraint::Percentage(26),
            Constraint::Percentage(44),
            Constraint::Percentage(30),
        ])
        .split(rows[2]);
    para(f, mid[0], "Storage", &s.storage);
    para(
        f,
        mid[1],
        "Continuity (gaps, duplicates, reconnects)",
        &s.continuity,
    );
    table(
        f,
        mid[2],
        "Coverage (top markets, last hour)",
        &["market", "bars", "volume"],
        &s.coverage,
        &[
            Constraint::Min(24),
            Constraint::Length(8),
            Constraint::Length(12),
        ],
        "(engine not running)",
    );
    table(
        f,
        rows[3],
        "Latency",
        &["stage", "n", "p50", "p99", "p99.9", "max"],
        &s.latency,
        &[
            Constraint::Min(19),
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(9),
        ],
        "(engine not running)",
    );
    let low = split3(rows[4]);
    table(
        f,
        low[0],
        "Threads (per-core load)",
        &["thread", "core", "busy", "ring", "full"],
        &s.threads,
        &[
            Constraint::Length(9),
            Constraint::Length(4),
            Constraint::Length(6),
            Constraint::Min(11),
            Constraint::Length(6),
        ],
        "(engine not running)",
    );
    table(
        f,
        low[1],
        "Venues",
        &["venue", "conns", "reconn", "frames", "rate"],
        &s.venues,
        &[
            Constraint::Min(12),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Length(9),
            Constraint::Length(7),
        ],
        "(engine not running)",
    );
    table(
        f,
        low[2],
        "Gaps by market",
        &["market", "open", "rec/unr/all", "missing", "recov"],
        &s.market_gaps,
        &[
            Constraint::Min(16),
            Constraint::Length(4),
            Constraint::Length(11),
            Constraint::Length(7),
            Constraint::Length(6),
        ],
        if r.live.is_some() {
            "(no gaps)"
        } else {
            "(engine not running)"
        },
    );
    para(f, rows[5], "Alerts", &s.alerts);
}

fn block(title: &str) -> Block<'_> {
    Block::default().borders(Borders::ALL).title(title)
}

fn split3(area: Rect) -> std::rc::Rc<[Rect]> {
    Layout::default()
        .direction(Direction::Horizontal)
        .constraints([
            Constraint::Ratio(1, 3),
            Constraint::Ratio(1, 3),
            Constraint::Ratio(1, 3),
        ])
        .split(area)
}

fn para(f: &mut Frame<'_>, area: Rect, title: &str, lines: &[String]) {
    let text: Vec<Line<'_>> = lines.iter().map(|l| Line::from(l.as_str())).collect();
    f.render_widget(Paragraph::new(text).block(block(title)), area);
}

fn table<const N: usize>(
    f: &mut Frame<'_>,
    area: Rect,
    title: &str,
    header: &[&str],
    rows: &[[String; N]],
    widths: &[Constraint],
    empty: &str,
) {
    let head = Row::new(header.iter().map(|h| Cell::from(*h)))
        .style(Style::default().add_modifier(Modifier::BOLD));
    let body: Vec<Row<'_>> = if rows.is_empty() {
        vec![Row::new([Cell::from(empty)])]
    } else {
        rows.iter()
            .map(|r| Row::new(r.iter().map(|c| Cell::from(c.as_str()))))
            .collect()
    };
    f.render_widget(
        Table::new(body, widths.to_vec())
            .header(head)
            .block(block(title)),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::bar::Bar;
    use engine::monitor::snapshot::{
        BackfillSnapshot, ContinuityTotals, MarketStats, ProcessStats, StageLatency, ThreadStats,
        Totals, VenueStats,
    };
    use engine::store::DayWriter;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    /// 2023-11-14 22:13:20 UTC, a minute boundary plus 20 s.
    const NOW_MS: i64 = 1_700_000_000_000;

    /// Bars: BTC every second of the last 2 hours up to 2 s ago; ETH 20 bars a minute.
    fn store_fixture(dir: &Path) {
        let day = NOW_MS.div_euclid(86_400_000);
        let mut btc = DayWriter::open_or_create(dir, "BINANCE:btcusdt", day).unwrap();
        let mut eth = DayWriter::open_or_create(dir, "BINANCE_FUTURES:ethusdt", day).unwrap();
        let now_s = NOW_MS / 1000;
        for s in (now_s - 7200)..(now_s - 2) {
            let sod = s.rem_euclid(86_400) as u32;
            let bar = Bar {
                open: 100.0,
                high: 101.0,
                low: 99.0,
                close: 100.5,
                vbuy: 1000.0,
                vsell: 500.0,
                cbuy: 2,
                csell: 1,
                ..Bar::EMPTY
            };
            btc.write(sod, &bar, engine::store::flags::CLOSED);
            if s % 3 == 0 {
                eth.write(
                    sod,
                    &Bar { vbuy: 10.0, ..bar },
                    engine::store::flags::CLOSED,
                );
            }
        }
    }

    fn snapshot() -> Snapshot {
        let now_us = NOW_MS * 1000;
        Snapshot {
            updated_us: now_us - 500_000,
            started_us: now_us - 7_300_000_000,
            pid: 777,
            state: EngineState::Running,
            interval_ms: 1000,
            http_addr: "127.0.0.1:9469".into(),
            process: ProcessStats {
                rss_bytes: 42_000_000,
                cpu_cores: 0.5,
                host_cpu: 0.25,
                host_memory: 0.4,
                host_memory_bytes: 1 << 34,
            },
            totals: Totals {
                continuity: ContinuityTotals {
                    duplicates: 17,
                    gaps_opened: 3,
                    gaps_recovered: 1,
                    gaps_unrecovered: 1,
                    trades_missing: 42,
                    trades_recovered: 40,
                    reordered: 2,
                    stale_reconnects: 4,
                    rotations: 6,
                    oversized: 1,
                    ..ContinuityTotals::default()
                },
                backfill: Some(BackfillSnapshot {
                    jobs: 3,
                    complete: 1,
                    trades: 40,
                    http_errors: 2,
                    rate_limited: 1,
                    ..BackfillSnapshot::default()
                }),
                ..Totals::default()
            },
            venues: vec![VenueStats {
                name: "binance-usdm".into(),
                connections: 2,
                open: 1,
                connects: 3,
                reconnects: 2,
                frames: 12345,
                frame_rate: 41.0,
            }],
            markets: vec![MarketStats {
                id: "BINANCE:btcusdt".into(),
                venue: "binance".into(),
                last_trade_us: now_us - 2_000_000,
                last_bar_s: NOW_MS / 1000 - 3,
                bars: 7000,
                trades: 21000,
                late: 0,
                bars_last_minute: 60,
                trade_rate: 3.0,
                gap_minutes: 0,
                gaps_open: 1,
                gaps: 3,
                gaps_recovered: 1,
                gaps_unrecovered: 1,
                gap_trades_missing: 42,
                gap_trades_recovered: 40,
                last_gap_us: now_us - 10_000_000,
                open_gap_since_us: now_us - 10_000_000,
                last_unrecovered_us: now_us - 3_000_000_000,
                silent_since_us: 0,
                silent_episodes: 0,
            }],
            threads: vec![ThreadStats {
                name: "feed-0".into(),
                core: 1,
                busy: 0.37,
                ring_depth: 12,
                ring_capacity: 65536,
                ring_full: 4,
                items: 12345,
                decode_errors: 0,
            }],
            stages: vec![StageLatency {
                stage: "receive_to_bar".into(),
                unit: "ns".into(),
                count: 21000,
                p50: 2_500,
                p99: 48_000,
                p999: 120_000,
                max: 2_000_000,
            }],
        }
    }

    fn screen(r: &Report) -> String {
        let mut term = Terminal::new(TestBackend::new(160, 40)).unwrap();
        term.draw(|f| draw(f, r)).unwrap();
        let buf = term.backend().buffer().clone();
        let mut out = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                out.push_str(buf[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    #[test]
    fn report_from_the_store_and_a_live_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        store_fixture(dir.path());
        let th = AlertThresholds::default();
        let r = build_report(dir.path(), Some(snapshot()), NOW_MS, &th).unwrap();
        assert_eq!(r.health, Health::Healthy, "{:?}", r.alerts);
        assert_eq!(r.engine, "running");
        // Newest bar starts 3 s before now, so it ended 2 s ago.
        assert_eq!(r.freshness.newest_bar_age_s, Some(2.0));
        assert!(!r.freshness.stale);
        // Last complete minute: BTC 60 bars, ETH 20 → 40 of 60 = 66.7 %: low.
        assert_eq!(r.ingestion.markets[0].bars_last_minute, Some(60));
        assert_eq!(r.ingestion.markets[1].bars_last_minute, Some(20));
        assert!((r.ingestion.percent.unwrap() - 200.0 / 3.0).abs() < 1e-9);
        assert!(r.ingestion.low);
        // ETH has 20 bars in each of the 60 minutes: all gaps; BTC none.
        assert_eq!(r.gaps.gap_minutes, 60);
        assert_eq!(r.gaps.minutes, 120);
        assert_eq!(r.storage.bars_last_hour, 3600 + 1200);
        assert_eq!(r.storage.day_files, 2);
        assert_eq!(r.coverage[0].market, "BINANCE:btcusdt");
        assert_eq!(r.coverage[0].volume_last_hour, 3600.0 * 1500.0);

        let text = screen(&r);
        for want in [
            "HEALTHY — engine running (pid 777",
            "Freshness",
            "newest bar 2.0 s old — fresh",
            "Ingestion vs 60/min",
            "40.0 bars/market/min of 60 = 67 % — LOW (< 80 %)",
            "Gaps (last hour)",
            "60/120 market-minutes < 30 bars",
            "BINANCE_FUTURES:ethusdt       60 gap min",
            "Storage",
            "bars: 4800 last hour",
            "Coverage (top markets, last hour)",
            "5.40M",
            "Latency",
            "receive_to_bar",
            "2.5 µs",
            "48.0 µs",
            "Threads (per-core load)",
            "37.0 %",
            "12/65536",
            "Venues",
            "binance-usdm",
            "1/2 open",
            "41/s",
            "Continuity (gaps, duplicates, reconnects)",
            "gaps: 1 open, 3 found",
            "closed: 1 recovered, 1 unrecovered",
            "trades: 42 missing, 40 recovered",
            "duplicates 17, reordered 2",
            "reconnects: watchdog 4, oversized 1; rotations 6",
            "backfill: 3 jobs (1 complete), 40 trades, 2 errors, 1 rate-limited",
            "Gaps by market",
            "rec/unr/all",
            "1/1/3",
            "Alerts",
        ] {
            assert!(text.contains(want), "screen lacks {want:?}:\n{text}");
        }
        let row = text
            .lines()
            .find(|l| l.contains("1/1/3"))
            .expect("a gap row");
        assert!(row.contains("BINANCE:btcusdt"), "{row}");
        assert!(
            row.split_whitespace()
                .collect::<Vec<_>>()
                .windows(2)
                .any(|w| w == ["42", "40"]),
            "missing then recovered: {row}"
        );

        let plain = render_text(&r);
        for want in [
            "== Continuity (gaps, duplicates, reconnects)",
            "  gaps: 1 open, 3 found",
            "  trades: 42 missing, 40 recovered",
            "  reconnects: watchdog 4, oversized 1; rotations 6",
            "  backfill: 3 jobs (1 complete)",
            "  BINANCE:btcusdt              1 open, 1/1/3 recovered/unrecovered/all; trades 42 missing, 40 recovered\n",
        ] {
            assert!(plain.contains(want), "text lacks {want:?}:\n{plain}");
        }
        // Without a backfill worker or gaps, the section says so.
        let mut quiet = snapshot();
        quiet.totals.backfill = None;
        quiet.markets[0].gaps = 0;
        quiet.markets[0].gaps_open = 0;
        let r = build_report(dir.path(), Some(quiet), NOW_MS, &th).unwrap();
        assert!(render_text(&r).contains("  backfill: not running\n"));
        assert!(screen(&r).contains("(no gaps)"));
    }

    #[test]
    fn silent_markets_are_reported_and_only_they() {
        let dir = tempfile::tempdir().unwrap();
        store_fixture(dir.path());
        let th = AlertThresholds::default();
        // BTC flows: no silent line names it.
        let r = build_report(dir.path(), Some(snapshot()), NOW_MS, &th).unwrap();
        assert!(r.silent.is_empty());
        let plain = render_text(&r);
        assert!(plain.contains("  silent markets: 0\n"), "{plain}");
        assert!(!plain.contains("silent for"), "{plain}");
        // A second market, silent for 200 s (its second episode).
        let mut snap = snapshot();
        let mut eth = snap.markets[0].clone();
        eth.id = "BINANCE_FUTURES:ethusdt".into();
        eth.silent_since_us = NOW_MS * 1000 - 200_000_000;
        eth.silent_episodes = 2;
        snap.markets.push(eth);
        let r = build_report(dir.path(), Some(snap), NOW_MS, &th).unwrap();
        assert_eq!(r.silent.len(), 1);
        assert_eq!(r.silent[0].market, "BINANCE_FUTURES:ethusdt");
        assert_eq!((r.silent[0].silent_for_s, r.silent[0].episodes), (200.0, 2));
        let plain = render_text(&r);
        assert!(plain.contains("  silent markets: 1\n"), "{plain}");
        assert!(
            plain.contains("    BINANCE_FUTURES:ethusdt silent for 200 s (episode 2)\n"),
            "{plain}"
        );
        let silent_lines: Vec<&str> = plain.lines().filter(|l| l.contains("silent")).collect();
        assert!(
            silent_lines.iter().all(|l| !l.contains("btcusdt")),
            "{silent_lines:?}"
        );
        assert!(
            plain.contains("warning market_silent: silent: BINANCE_FUTURES:ethusdt (200 s)"),
            "{plain}"
        );
        assert!(screen(&r).contains("BINANCE_FUTURES:ethusdt silent for 200 s"));
        // --export carries the list.
        let json: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(json["silent"][0]["market"], "BINANCE_FUTURES:ethusdt");
        assert_eq!(json["silent"][0]["episodes"], 2);
        assert_eq!(json["live"]["markets"][1]["silent_episodes"], 2);
    }

    #[test]
    fn minutes_before_collection_started_are_not_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let day = NOW_MS.div_euclid(86_400_000);
        let mut w = DayWriter::open_or_create(dir.path(), "BINANCE:btcusdt", day).unwrap();
        // Collection started 15 s ago: inside the current minute.
        for s in (NOW_MS / 1000 - 15)..(NOW_MS / 1000 - 1) {
            let bar = Bar {
                open: 1.0,
                high: 1.0,
                low: 1.0,
                close: 1.0,
                cbuy: 1,
                ..Bar::EMPTY
            };
            w.write(
                s.rem_euclid(86_400) as u32,
                &bar,
                engine::store::flags::CLOSED,
            );
        }
        drop(w);
        let r = build_report(dir.path(), None, NOW_MS, &AlertThresholds::default()).unwrap();
        assert_eq!(r.health, Health::Down);
        assert_eq!(r.engine, "not running");
        assert_eq!(r.ingestion.bars_per_market_minute, None);
        assert!(!r.ingestion.low);
        assert_eq!((r.gaps.minutes, r.gaps.gap_minutes), (0, 0));
        assert_eq!(r.storage.bars_last_day, 14);
        let text = render_text(&r);
        assert!(text.contains("no complete minute collected yet"), "{text}");
        assert!(
            text.contains("no engine statistics in this data directory"),
            "{text}"
        );
    }

    #[test]
    fn a_stopped_engine_is_reported_from_the_store_alone() {
        let dir = tempfile::tempdir().unwrap();
        store_fixture(dir.path());
        let mut snap = snapshot();
        snap.state = EngineState::Stopped;
        let r = build_report(dir.path(), Some(snap), NOW_MS, &AlertThresholds::default()).unwrap();
        assert_eq!(r.health, Health::Down);
        assert_eq!(r.engine, "stopped");
        assert!(r.live.is_none());
        let text = screen(&r);
        assert!(text.contains("DOWN — engine stopped"), "{text}");
        assert!(
            text.contains("reporting from the bar store alone"),
            "{text}"
        );
        assert!(text.contains("(engine not running)"), "{text}");
        assert!(text.contains("newest bar 2.0 s old"), "{text}");
        let plain = render_text(&r);
        assert!(plain.contains("== Coverage (top markets, last hour)"));
        assert!(!plain.contains("== Latency"));
        assert!(!plain.contains("== Continuity"));
    }
}
