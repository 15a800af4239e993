//! Our pipeline, composed from the engine's own parts exactly as the feed thread runs them:
//! `feeds::ws::WsClient` → `engine::route::Router` (simd-json decode, market lookup) →
//! `engine::aggregate::Aggregator::on_tick` (bar folded and written through to the mmap'd
//! store). Latency is stamped right after `on_tick` returns, i.e. when the bar slot is updated.

use crate::gen::{Tape, TapeSpec, FIRST_TRADE_ID, SYMBOLS};
use crate::sender::Schedule;
use crate::{histogram, rss_bytes, sort_bars, BarRow, RunResult, Sample, Stage};
use anyhow::{anyhow, Result};
use engine::aggregate::{Aggregator, ClosedBar};
use engine::market::{MarketTable, Tick};
use engine::ring;
use engine::route::Router;
use engine::stats::FeedStats;
use feeds::clock::mono_ns;
use feeds::ws::{WsClient, WsConfig, WsEvent};
use feeds::{Symbol, Venue};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Stage names shared by the report and the tests.
pub const SCHED_TO_BAR: &str = "scheduled send → bar updated";
/// The sender wrote the frame's batch → bar slot updated (excludes the sender's lateness).
pub const SEND_TO_BAR: &str = "actual send → bar updated";
/// Socket read returned → bar slot updated (in process).
pub const READ_TO_BAR: &str = "socket read → bar updated";
/// Frame in hand → decoded and routed (replay, feed thread).
pub const DECODE: &str = "decode + route (per frame)";
/// Frame in hand on the feed thread → bar updated on the shard thread (replay).
pub const FRAME_TO_BAR: &str = "frame → ring → bar updated";

/// The markets of the tape and an aggregator writing their bars under `data`.
fn markets(spec: &TapeSpec, data: &Path) -> Result<(MarketTable, Aggregator)> {
    let mut table = MarketTable::new(1);
    for s in SYMBOLS.iter().take(spec.symbols.clamp(1, SYMBOLS.len())) {
        let sym = Symbol::new(s.as_bytes()).ok_or_else(|| anyhow!("symbol {s}"))?;
        table.add(Venue::BinanceSpot, sym);
    }
    let mut agg = Aggregator::new(data);
    for (idx, m) in table.iter() {
        agg.add_market(idx, &m.id);
    }
    agg.prepare_day((spec.time_ms(0) / 86_400_000) as i64)?;
    Ok((table, agg))
}

fn row(table: &MarketTable, b: &ClosedBar) -> BarRow {
    BarRow {
        symbol: table.get(b.market).symbol.as_str().to_string(),
        second: b.second,
        cbuy: b.bar.cbuy,
        csell: b.bar.csell,
        ohlc: [b.bar.open, b.bar.high, b.bar.low, b.bar.close],
        vbuy: b.bar.vbuy,
        vsell: b.bar.vsell,
    }
}

/// Options of a loopback run.
#[derive(Debug, Clone, Copy)]
pub struct LoopbackOpts {
    /// Connections to open.
    pub conns: usize,
    /// Stop (ask the sender to stop) after this long; `None` = when the sender closes.
    pub duration: Option<Duration>,
    /// Soak sampling interval.
    pub sample_every: Option<Duration>,
    /// Spin on the socket (`poll(Some(0))`) instead of blocking in epoll, as the engine does
    /// with `busy_poll = true` on isolated cores.
    pub busy_poll: bool,
}

/// Receives the sender's frames on `urls` and folds them into bars until every connection
/// has closed. `stop_sender` is called once `opts.duration` has passed.
pub fn loopback(
    name: &str,
    spec: &TapeSpec,
    urls: &[String],
    schedule: &Schedule,
    data: &Path,
    opts: LoopbackOpts,
    stop_sender: &dyn Fn(),
) -> Result<RunResult> {
    let (table, mut agg) = markets(spec, data)?;
    let mut router = Router::new(Arc::new(FeedStats::default()));
    let mut client = WsClient::new(WsConfig::default())?;
    for url in urls {
        client.connect(url)?;
    }
    let mut sched_to_bar = histogram();
    let mut read_to_bar = histogram();
    let mut send_to_bar = histogram();
    let mut interval = histogram();
    let mut bars: Vec<BarRow> = Vec::with_capacity(1 << 16);
    let keep_bars = opts.duration.is_none();
    let mut bars_closed = 0u64;
    let mut samples = Vec::new();
    let (mut frames, mut trades, mut errors, mut closed, mut ws_errors) = (0u64, 0u64, 0u64, 0, 0);
    let mut interval_trades = 0u64;
    let mut last_ns = 0u64;
    let start = mono_ns();
    let mut next_sample = opts.sample_every.map(|d| start + d.as_nanos() as u64);
    let mut stopped = false;
    let cpu0 = crate::thread_cpu_ns();
    let timeout = if opts.busy_poll {
        Duration::ZERO
    } else {
        Duration::from_millis(10)
    };
    while closed < urls.len() {
        client.poll(Some(timeout), &mut |id, ev| match ev {
            WsEvent::Text { payload, recv_ns } => {
                frames += 1;
                let res = router.route(
                    Venue::BinanceSpot,
                    id.0 as u64,
                    payload,
                    recv_ns,
                    &mut |v, s| table.lookup(v, s),
                    &mut |tick: Tick| {
                        if agg
                            .on_tick(&tick, &mut |b| {
                                bars_closed += 1;
                                // A soak keeps no bars: the list would grow with the run.
                                if keep_bars {
                                    bars.push(row(&table, &b));
                                }
                            })
                            .is_err()
                        {
                            errors += 1;
                        }
                        let now = mono_ns();
                        trades += 1;
                        interval_trades += 1;
                        last_ns = now;
                        let i = tick.trade_id.wrapping_sub(FIRST_TRADE_ID);
                        if let Some(origin) = schedule.origin(i) {
                            let d = now.saturating_sub(origin).max(1);
                            let _ = sched_to_bar.record(d);
                            let _ = interval.record(d);
                        }
                        if let Some(sent) = schedule.sent(i) {
                            let _ = send_to_bar.record(now.saturating_sub(sent).max(1));
                        }
                        let _ = read_to_bar.record(now.saturating_sub(recv_ns).max(1));
                    },
                );
                if res.is_err() {
                    errors += 1;
                }
            }
            WsEvent::Closed { .. } => closed += 1,
            WsEvent::Error(_) => ws_errors += 1,
            _ => {}
        })?;
        let now = mono_ns();
        if let Some(at) = next_sample {
            if now >= at {
                samples.push(Sample {
                    at_s: (now - start) as f64 / 1e9,
                    rss: rss_bytes(),
                    trades: interval_trades,
                    p50: interval.value_at_quantile(0.5),
                    p99: interval.value_at_quantile(0.99),
                    max: interval.max(),
                });
                interval.reset();
                interval_trades = 0;
                next_sample = opts.sample_every.map(|d| at + d.as_nanos() as u64);
            }
        }
        if !stopped
            && opts
                .duration
                .is_some_and(|d| now - start >= d.as_nanos() as u64)
        {
            stop_sender();
            stopped = true;
        }
    }
    let cpu_ns = crate::thread_cpu_ns().saturating_sub(cpu0);
    agg.close_all(&mut |b| {
        bars_closed += 1;
        if keep_bars {
            bars.push(row(&table, &b));
        }
    })?;
    sort_bars(&mut bars);
    let first = schedule.start_ns();
    Ok(RunResult {
        name: name.to_string(),
        frames,
        trades,
        errors: errors + ws_errors,
        elapsed_ns: last_ns.saturating_sub(first),
        stages: vec![
            Stage {
                name: SCHED_TO_BAR,
                hist: sched_to_bar,
            },
            Stage {
                name: SEND_TO_BAR,
                hist: send_to_bar,
            },
            Stage {
                name: READ_TO_BAR,
                hist: read_to_bar,
            },
        ],
        bars,
        samples,
        cpu_ns,
        bars_closed,
    })
}

/// Replays an in-memory tape through decode + route on the calling thread and the
/// aggregator + store on a second thread behind an SPSC ring (the 3+-core layout), the two
/// threads pinned to `cores`.
pub fn replay_two_threads(
    spec: &TapeSpec,
    tape: &Tape,
    data: &Path,
    cores: (Option<core_affinity::CoreId>, Option<core_affinity::CoreId>),
) -> Result<RunResult> {
    let (table, mut agg) = markets(spec, data)?;
    let table = Arc::new(table);
    let (mut tx, mut rx) = ring::channel::<Tick>(16_384);
    let shard_table = table.clone();
    let shard_core = cores.1;
    let shard = std::thread::Builder::new()
        .name("bench-shard".into())
        .spawn(move || {
            if let Some(c) = shard_core {
                core_affinity::set_for_current(c);
            }
            let mut hist = histogram();
            let mut bars: Vec<BarRow> = Vec::with_capacity(1 << 16);
            let (mut trades, mut errors, mut last) = (0u64, 0u64, 0u64);
            loop {
                let got = rx.drain(256, |tick| {
                    if agg
                        .on_tick(&tick, &mut |b| bars.push(row(&shard_table, &b)))
                        .is_err()
                    {
                        errors += 1;
                    }
                    trades += 1;
                    last = mono_ns();
                    let _ = hist.record(last.saturating_sub(tick.recv_ns).max(1));
                });
                if got == 0 {
                    if rx.is_abandoned() && rx.is_empty() {
                        break;
                    }
                    std::hint::spin_loop();
                }
            }
            let cpu = crate::thread_cpu_ns();
            let _ = agg.close_all(&mut |b| bars.push(row(&shard_table, &b)));
            (hist, bars, trades, errors, last, cpu)
        })?;
    if let Some(c) = cores.0 {
        core_affinity::set_for_current(c);
    }
    let mut router = Router::new(Arc::new(FeedStats::default()));
    let mut decode = histogram();
    let mut buf = Vec::with_capacity(4096);
    let mut errors = 0u64;
    let cpu0 = crate::thread_cpu_ns();
    let start = mono_ns();
    for i in 0..tape.len() {
        buf.clear();
        buf.extend_from_slice(tape.get(i));
        let t = mono_ns();
        let res = router.route(
            Venue::BinanceSpot,
            0,
            &mut buf,
            t,
            &mut |v, s| table.lookup(v, s),
            &mut |tick| {
                let mut tick = tick;
                while let Err(back) = tx.try_push(tick) {
                    tick = back;
                    std::hint::spin_loop();
                }
            },
        );
        let _ = decode.record(mono_ns().saturating_sub(t).max(1));
        if res.is_err() {
            errors += 1;
        }
    }
    drop(tx);
    let feed_cpu = crate::thread_cpu_ns().saturating_sub(cpu0);
    let (hist, mut bars, trades, shard_errors, last, shard_cpu) =
        shard.join().map_err(|_| anyhow!("shard thread panicked"))?;
    sort_bars(&mut bars);
    Ok(RunResult {
        bars_closed: bars.len() as u64,
        name: "ours/replay (2 threads, ring)".into(),
        cpu_ns: feed_cpu + shard_cpu,
        frames: tape.len() as u64,
        trades,
        errors: errors + shard_errors,
        elapsed_ns: last.saturating_sub(start),
        stages: vec![
            Stage {
                name: DECODE,
                hist: decode,
            },
            Stage {
                name: FRAME_TO_BAR,
                hist,
            },
        ],
        bars,
        samples: Vec::new(),
    })
}

/// Replays an in-memory tape with decode, route, aggregate and store on the calling thread
/// (the 1–2-core layout: the feed thread drives the shard inline).
pub fn replay_inline(spec: &TapeSpec, tape: &Tape, data: &Path) -> Result<RunResult> {
    let (table, mut agg) = markets(spec, data)?;
    let mut router = Router::new(Arc::new(FeedStats::default()));
    let mut hist = histogram();
    let mut bars: Vec<BarRow> = Vec::with_capacity(1 << 16);
    let mut buf = Vec::with_capacity(4096);
    let (mut trades, mut errors) = (0u64, 0u64);
    let cpu0 = crate::thread_cpu_ns();
    let start = mono_ns();
    for i in 0..tape.len() {
        buf.clear();
        buf.extend_from_slice(tape.get(i));
        let t = mono_ns();
        let res = router.route(
            Venue::BinanceSpot,
            0,
            &mut buf,
            t,
            &mut |v, s| table.lookup(v, s),
            &mut |tick| {
                if agg
                    .on_tick(&tick, &mut |b| bars.push(row(&table, &b)))
                    .is_err()
                {
                    errors += 1;
                }
                trades += 1;
            },
        );
        let _ = hist.record(mono_ns().saturating_sub(t).max(1));
        if res.is_err() {
            errors += 1;
        }
    }
    let end = mono_ns();
    let cpu_ns = crate::thread_cpu_ns().saturating_sub(cpu0);
    agg.close_all(&mut |b| bars.push(row(&table, &b)))?;
    sort_bars(&mut bars);
    Ok(RunResult {
        bars_closed: bars.len() as u64,
        name: "ours/replay (1 thread, inline)".into(),
        cpu_ns,
        frames: tape.len() as u64,
        trades,
        errors,
        elapsed_ns: end - start,
        stages: vec![Stage {
            name: "frame → bar updated (decode+route+aggregate+store)",
            hist,
        }],
        bars,
        samples: Vec::new(),
    })
}
