//! The IO thread's side of monitoring: per-market tracking from closed bars, and once per
//! interval a snapshot of every counter published to the stats file, alerts evaluated, and
//! the HTTP endpoints kept serving.

use super::proc;
use super::MonitorConfig;
use crate::aggregate::ClosedBar;
use crate::alerts::{alert_json, evaluate, AlertState, Change};
use crate::continuity::{Outcome, Record};
use crate::market::MarketTable;
use crate::sink::redis::{RedisConfig, RedisSink};
use crate::stats::{FeedStats, Percentiles, ShardStats};
use crate::statsfile::shm::StatsWriter;
use crate::statsfile::snapshot::{
    BackfillSnapshot, ContinuityTotals, EngineState, MarketStats, ProcessStats, Snapshot,
    StageLatency, ThreadStats, Totals, VenueStats,
};
use feeds::Venue;
use hdrhistogram::Histogram;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bars in a minute below which the minute counts as a gap (the original's rule).
pub const GAP_BARS: u16 = 30;
/// Open gaps tracked per market (the continuity state holds at most 8 id holes, 4 reconnect
/// windows and a downtime gap); when more are open, the oldest is forgotten (still counted).
pub const MAX_OPEN_GAPS: usize = 16;

/// What kind of engine thread a [`ThreadInfo`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadKind {
    /// Feed thread `n` (index into the feed stats); `inline_shard`: it also runs shard work
    /// whose stats are at this index.
    Feed {
        n: usize,
        inline_shard: Option<usize>,
    },
    /// Shard thread `n` (index into the shard stats).
    Shard { n: usize },
    /// The IO thread (the caller's).
    Io,
}

/// One engine thread, as the monitor reports it.
#[derive(Debug, Clone)]
pub struct ThreadInfo {
    /// Thread name as the OS knows it (`feed-0`, `shard-1`); the IO thread is found by id.
    pub name: String,
    pub core: Option<usize>,
    pub kind: ThreadKind,
    /// Index of the ring this thread produces into towards the IO thread, if any.
    pub out_ring: Option<usize>,
}

/// The counters a publish reads, borrowed from the running engine.
#[derive(Debug)]
pub struct Sources<'a> {
    pub feed_stats: &'a [Arc<FeedStats>],
    pub shard_stats: &'a [Arc<ShardStats>],
    /// `(len, capacity)` of each shard → IO ring.
    pub out_rings: &'a [(usize, usize)],
    /// Bar close → signal journaled, when the strategy runs.
    pub close_to_signal: Option<&'a Histogram<u64>>,
    /// The signal sink's Redis connection, for alerts.
    pub redis: Option<&'a RedisSink>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Minute {
    minute: i64,
    bars: u16,
    trades: u32,
}

#[derive(Debug)]
struct MarketTrack {
    id: String,
    venue: &'static str,
    last_trade_us: i64,
    last_bar_s: i64,
    bars: u64,
    trades: u64,
    late: u64,
    minutes: [Minute; 60],
    gaps: GapTrack,
}

/// One market's continuity events, from [`Publisher::on_gap`].
#[derive(Debug, Default)]
struct GapTrack {
    /// Open gaps: (gap id, wall time it was opened, µs), oldest first.
    open: Vec<(u64, i64)>,
    opened: u64,
    recovered: u64,
    unrecovered: u64,
    trades_missing: u64,
    trades_recovered: u64,
    last_event_us: i64,
    last_unrecovered_us: i64,
    /// Silent now: since when its quiet began, µs (0: not silent); silent episodes.
    silent_since_us: i64,
    silent_episodes: u64,
}

#[derive(Debug)]
struct ThreadTrack {
    info: ThreadInfo,
    tid: Option<u32>,
    /// CPU time at the last publish, ns.
    ticks: u64,
}

/// Previous readings, for rates.
#[derive(Debug, Default)]
struct Prev {
    at: Option<Instant>,
    process_ticks: u64,
    host: (u64, u64),
    venue_frames: Vec<u64>,
    ring_full: u64,
}

/// Publishes the engine's state; owned by the IO thread (see the module docs).
#[derive(Debug)]
pub struct Publisher {
    cfg: MonitorConfig,
    writer: StatsWriter,
    started_us: i64,
    start_minute: i64,
    markets: Vec<MarketTrack>,
    /// Venue names in report order, and for each feed thread the venue index of each of its
    /// connections.
    venues: Vec<&'static str>,
    feed_conns: Vec<Vec<usize>>,
    threads: Vec<ThreadTrack>,
    io_tid: Option<u32>,
    io_ticks: u64,
    prev: Prev,
    backpressure_run: u64,
    alerts: AlertState,
    own_redis: Option<RedisSink>,
    http: Option<crate::http::HttpServer>,
    http_addr: String,
    scratch: Vec<u8>,
    last: Instant,
    backfill: Option<BackfillSnapshot>,
    /// Wall time the last publish took, ns.
    pub last_cost_ns: u64,
    /// Wall time of every publish (snapshot, `/proc` reads, alerts, encode, seqlock write), ns;
    /// logged at shutdown.
    pub cost_ns: Histogram<u64>,
}

impl Publisher {
    /// Creates the stats file in `data_dir` (replacing an old one), publishes a first
    /// snapshot and starts the HTTP endpoints if configured. `feed_venues[f]` lists feed `f`'s
    /// connections by venue; `own_redis` is a Redis configuration to publish alerts with when
    /// no signal sink will pass one in [`Sources`]. Call it on the IO thread.
    pub fn start(
        cfg: &MonitorConfig,
        data_dir: &Path,
        table: &MarketTable,
        feed_venues: &[Vec<Venue>],
        threads: Vec<ThreadInfo>,
        io_core: Option<usize>,
        own_redis: Option<RedisConfig>,
    ) -> std::io::Result<Publisher> {
        let mut venues: Vec<&'static str> = Vec::new();
        let mut feed_conns = Vec::new();
        for subs in feed_venues {
            let mut idx = Vec::new();
            for v in subs {
                let name = v.name();
                let i = venues.iter().position(|n| *n == name).unwrap_or_else(|| {
                    venues.push(name);
                    venues.len() - 1
                });
                idx.push(i);
            }
            feed_conns.push(idx);
        }
        let markets: Vec<MarketTrack> = table
            .iter()
            .map(|(_, m)| {
                if !venues.contains(&m.venue.name()) {
                    venues.push(m.venue.name());
                }
                MarketTrack {
                    id: m.id.clone(),
                    venue: m.venue.name(),
                    last_trade_us: 0,
                    last_bar_s: 0,
                    bars: 0,
                    trades: 0,
                    late: 0,
                    minutes: [Minute::default(); 60],
                    gaps: GapTrack {
                        open: Vec::with_capacity(MAX_OPEN_GAPS),
                        ..GapTrack::default()
                    },
                }
            })
            .collect();
        let max_name = markets.iter().map(|m| m.id.len()).max().unwrap_or(0);
        let capacity = Snapshot::capacity_for(venues.len(), markets.len(), threads.len() + 1, 4)
            .max(4096)
            + max_name;
        let writer = StatsWriter::create(&super::stats_path(data_dir), capacity)?;
        let names: Vec<String> = threads.iter().map(|t| t.name.clone()).collect();
        let tids = proc::tids_named(&names);
        let threads = threads
            .into_iter()
            .zip(tids)
            .map(|(info, tid)| ThreadTrack {
                ticks: tid.and_then(proc::thread_cpu_ns).unwrap_or(0),
                info,
                tid,
            })
            .collect();
        let own_redis = match own_redis {
            Some(rc) => Some(RedisSink::start(rc).map_err(std::io::Error::other)?),
            None => None,
        };
        let now_us = feeds::clock::wall_us();
        let io_tid = proc::current_tid();
        let mut p = Publisher {
            cfg: cfg.clone(),
            writer,
            started_us: now_us,
            start_minute: now_us.div_euclid(60_000_000),
            markets,
            venues,
            feed_conns,
            threads,
            io_ticks: io_tid.and_then(proc::thread_cpu_ns).unwrap_or(0),
            io_tid,
            prev: Prev::default(),
            backpressure_run: 0,
            alerts: AlertState::default(),
            own_redis,
            http: None,
            http_addr: String::new(),
            scratch: Vec::new(),
            last: Instant::now(),
            backfill: None,
            last_cost_ns: 0,
            cost_ns: crate::stats::latency_histogram(),
        };
        if cfg.http {
            // A taken port must not stop the engine: say so loudly and run without endpoints.
            match crate::http::HttpServer::start(
                &cfg.listen,
                super::stats_path(data_dir),
                cfg.alerts,
                io_core,
            ) {
                Ok(server) => {
                    p.http_addr = server.addr().to_string();
                    log::info!("monitor: /metrics and /health on http://{}", server.addr());
                    p.http = Some(server);
                }
                Err(e) => log::error!("{e}; /metrics and /health are not served"),
            }
        }
        Ok(p)
    }

    /// Where the HTTP endpoints listen (empty when not served).
    pub fn http_addr(&self) -> &str {
        &self.http_addr
    }

    /// Folds one closed bar (or late amendment) into its market's tracking.
    #[inline]
    pub fn on_bar(&mut self, b: &ClosedBar) {
        let Some(m) = self.markets.get_mut(b.market as usize) else {
            return;
        };
        if b.late {
            m.late += 1;
            return;
        }
        let trades = b.bar.cbuy + b.bar.csell;
        m.bars += 1;
        m.trades += u64::from(trades);
        m.last_bar_s = m.last_bar_s.max(b.second);
        if b.bar.has_trades() {
            let t = b.second * 1_000_000 + i64::from(b.bar.close_us);
            m.last_trade_us = m.last_trade_us.max(t);
        }
        let minute = b.second.div_euclid(60);
        let slot = &mut m.minutes[minute.rem_euclid(60) as usize];
        if slot.minute != minute {
            *slot = Minute {
                minute,
                bars: 0,
                trades: 0,
            };
        }
        slot.bars = slot.bars.saturating_add(1);
        slot.trades = slot.trades.saturating_add(trades);
    }

    /// Folds one continuity event (drained by the IO thread from a feed thread) into its
    /// market's gap figures, stamped with the current wall time.
    pub fn on_gap(&mut self, r: &Record) {
        self.on_gap_at(r, feeds::clock::wall_us());
    }

    /// [`Publisher::on_gap`] at wall time `now_us` (µs since the epoch).
    ///
    /// `Opened` counts a gap and its missing trades (exact for missing ids, 0 for reconnect
    /// windows and downtime) and keeps it open; `Closed` adds the trades recovered, counts
    /// the gap recovered or unrecovered (abandoned included) and ends it. A `Closed` whose
    /// `Opened` was lost (a full ring) is still counted. Records of unknown markets are
    /// ignored.
    ///
    /// `Silent` marks the market silent (since its quiet began) and counts the episode;
    /// `Flowing` clears it.
    pub fn on_gap_at(&mut self, r: &Record, now_us: i64) {
        let Some(g) = self
            .markets
            .get_mut(r.market() as usize)
            .map(|m| &mut m.gaps)
        else {
            return;
        };
        match *r {
            Record::Silent { quiet_ms, .. } => {
                g.silent_since_us = (now_us - quiet_ms as i64 * 1000).max(1);
                g.silent_episodes += 1;
                return;
            }
            Record::Flowing { .. } => {
                g.silent_since_us = 0;
                return;
            }
            _ => {}
        }
        g.last_event_us = now_us;
        match *r {
            Record::Opened { gap, missing, .. } => {
                g.opened += 1;
                g.trades_missing += missing;
                if g.open.len() == MAX_OPEN_GAPS {
                    g.open.remove(0);
                }
                g.open.push((gap, now_us));
            }
            Record::Closed {
                gap,
                recovered,
                outcome,
                ..
            } => {
                g.trades_recovered += recovered;
                match outcome {
                    Outcome::Recovered => g.recovered += 1,
                    Outcome::Unrecovered(_) | Outcome::Abandoned => {
                        g.unrecovered += 1;
                        g.last_unrecovered_us = now_us;
                    }
                }
                g.open.retain(|(id, _)| *id != gap);
            }
            Record::Silent { .. } | Record::Flowing { .. } => {}
        }
    }

    /// The backfill worker's counters for the next publishes (`None`: no worker).
    pub fn set_backfill(&mut self, b: Option<BackfillSnapshot>) {
        self.backfill = b;
    }

    /// Whether an interval has passed since the last publish.
    pub fn due(&self) -> bool {
        self.last.elapsed() >= Duration::from_millis(self.cfg.interval_ms)
    }

    /// Builds and publishes a snapshot, evaluates alerts; logs (never fails) on error.
    pub fn publish(&mut self, src: &Sources<'_>) {
        self.publish_as(src, EngineState::Running);
    }

    /// The final snapshot (state `stopped`), then stops the HTTP endpoints and the alert sink.
    pub fn finish(mut self, src: &Sources<'_>) {
        self.publish_as(src, EngineState::Stopped);
        let p = Percentiles::of(&self.cost_ns);
        log::info!(
            "monitor: {} snapshots published to {}; IO-thread cost per publish p50 {} µs, p99 {} µs, max {} µs",
            p.count,
            self.writer.path().display(),
            p.p50 / 1000,
            p.p99 / 1000,
            p.max / 1000
        );
        if let Some(h) = self.http.take() {
            h.stop();
        }
        if let Some(r) = self.own_redis.take() {
            r.shutdown(Duration::from_secs(1));
        }
    }

    fn publish_as(&mut self, src: &Sources<'_>, state: EngineState) {
        let t0 = Instant::now();
        self.last = t0;
        let now_us = feeds::clock::wall_us();
        let snap = self.snapshot(src, state, now_us, t0);
        let alerts = evaluate(Some(&snap), now_us, &self.cfg.alerts);
        let redis = src.redis.or(self.own_redis.as_ref());
        if state == EngineState::Running {
            self.alerts.update(&alerts, &mut |change| {
                match &change {
                    Change::Raised(a) => log::warn!("alert {}: {}", a.name, a.message),
                    Change::Resolved(name) => log::info!("alert {name} resolved"),
                }
                if let Some(r) = redis {
                    if let Err(e) = r.publish_alert(alert_json(&change, now_us)) {
                        log::error!("alert not queued for Redis: {e}");
                    }
                }
            });
        }
        let mut snap = snap;
        snap.totals.alerts_raised = self.alerts.raised;
        snap.encode(&mut self.scratch);
        if let Err(e) = self.writer.publish(&self.scratch) {
            log::error!("monitor: {}: {e}", self.writer.path().display());
        }
        self.last_cost_ns = t0.elapsed().as_nanos() as u64;
        let _ = self.cost_ns.record(self.last_cost_ns.max(1));
    }

    fn snapshot(
        &mut self,
        src: &Sources<'_>,
        state: EngineState,
        now_us: i64,
        now: Instant,
    ) -> Snapshot {
        let dt = self
            .prev
            .at
            .map(|t| now.duration_since(t).as_secs_f64())
            .filter(|d| *d > 0.0);
        self.prev.at = Some(now);
        let rate = |delta: u64| dt.map_or(0.0, |d| delta as f64 / d);

        // Venues: connections of every feed thread, by venue.
        let mut venues: Vec<VenueStats> = self
            .venues
            .iter()
            .map(|name| VenueStats {
                name: name.to_string(),
                connections: 0,
                open: 0,
                connects: 0,
                reconnects: 0,
                frames: 0,
                frame_rate: 0.0,
            })
            .collect();
        for (f, conns) in self.feed_conns.iter().enumerate() {
            let Some(fs) = src.feed_stats.get(f) else {
                continue;
            };
            for (i, &v) in conns.iter().enumerate() {
                let (Some(c), Some(vs)) = (fs.conns.get(i), venues.get_mut(v)) else {
                    continue;
                };
                vs.connections += 1;
                vs.open += c.open.get().min(1) as u32;
                vs.connects += c.connects.get();
                vs.reconnects += c.disconnects.get();
                vs.frames += c.frames.get();
            }
        }
        self.prev.venue_frames.resize(venues.len(), 0);
        for (v, prev) in venues.iter_mut().zip(self.prev.venue_frames.iter_mut()) {
            v.frame_rate = rate(v.frames.saturating_sub(*prev));
            *prev = v.frames;
        }

        // Markets.
        let this_minute = now_us.div_euclid(60_000_000);
        let first_full = (self.start_minute + 1).max(this_minute - 60);
        let markets = self
            .markets
            .iter()
            .map(|m| {
                let at = |minute: i64| {
                    let s = m.minutes[minute.rem_euclid(60) as usize];
                    if s.minute == minute {
                        s
                    } else {
                        Minute::default()
                    }
                };
                let last = at(this_minute - 1);
                let gap_minutes = (first_full..this_minute)
                    .filter(|&mi| at(mi).bars < GAP_BARS)
                    .count() as u32;
                MarketStats {
                    id: m.id.clone(),
                    venue: m.venue.to_string(),
                    last_trade_us: m.last_trade_us,
                    last_bar_s: m.last_bar_s,
                    bars: m.bars,
                    trades: m.trades,
                    late: m.late,
                    bars_last_minute: if this_minute - 1 > self.start_minute {
                        u32::from(last.bars)
                    } else {
                        0
                    },
                    trade_rate: f64::from(last.trades) / 60.0,
                    gap_minutes,
                    gaps_open: m.gaps.open.len() as u32,
                    gaps: m.gaps.opened,
                    gaps_recovered: m.gaps.recovered,
                    gaps_unrecovered: m.gaps.unrecovered,
                    gap_trades_missing: m.gaps.trades_missing,
                    gap_trades_recovered: m.gaps.trades_recovered,
                    last_gap_us: m.gaps.last_event_us,
                    open_gap_since_us: m.gaps.open.first().map_or(0, |(_, t)| *t),
                    last_unrecovered_us: m.gaps.last_unrecovered_us,
                    silent_since_us: m.gaps.silent_since_us,
                    silent_episodes: m.gaps.silent_episodes,
                }
            })
            .collect();

        // Threads.
        let mut threads = Vec::with_capacity(self.threads.len() + 1);
        for t in &mut self.threads {
            let ticks = t.tid.and_then(proc::thread_cpu_ns);
            let busy = match ticks {
                Some(now_ticks) => {
                    let d = now_ticks.saturating_sub(t.ticks);
                    t.ticks = now_ticks;
                    dt.map_or(0.0, |dt| d as f64 / 1e9 / dt)
                }
                None => 0.0,
            };
            let (mut depth, mut cap) = t
                .info
                .out_ring
                .and_then(|i| src.out_rings.get(i).copied())
                .unwrap_or((0, 0));
            // A feed thread without an inline shard produces into the shard rings.
            if let ThreadKind::Feed {
                n,
                inline_shard: None,
            } = t.info.kind
            {
                if let Some(fs) = src.feed_stats.get(n) {
                    depth = fs.shard_ring_depth.get() as usize;
                    cap = fs.shard_ring_capacity.get() as usize;
                }
            }
            let (ring_full, items, decode_errors) = match t.info.kind {
                ThreadKind::Feed { n, inline_shard } => {
                    let fs = src.feed_stats.get(n);
                    let inline = inline_shard
                        .and_then(|s| src.shard_stats.get(s))
                        .map_or(0, |s| s.out_ring_full.get());
                    (
                        fs.map_or(0, |f| f.ring_full.get()) + inline,
                        fs.map_or(0, |f| f.frames.get()),
                        fs.map_or(0, |f| f.decode_errors()),
                    )
                }
                ThreadKind::Shard { n } => {
                    let ss = src.shard_stats.get(n);
                    (
                        ss.map_or(0, |s| s.out_ring_full.get()),
                        ss.map_or(0, |s| s.ticks.get()),
                        0,
                    )
                }
                ThreadKind::Io => (0, 0, 0),
            };
            threads.push(ThreadStats {
                name: t.info.name.clone(),
                core: t.info.core.map_or(-1, |c| c as i32),
                busy,
                ring_depth: depth as u64,
                ring_capacity: cap as u64,
                ring_full,
                items,
                decode_errors,
            });
        }
        let io_busy = match self.io_tid.and_then(proc::thread_cpu_ns) {
            Some(now_ticks) => {
                let d = now_ticks.saturating_sub(self.io_ticks);
                self.io_ticks = now_ticks;
                dt.map_or(0.0, |dt| d as f64 / 1e9 / dt)
            }
            None => 0.0,
        };
        threads.push(ThreadStats {
            name: "io".to_string(),
            core: -1,
            busy: io_busy,
            ring_depth: 0,
            ring_capacity: 0,
            ring_full: 0,
            items: 0,
            decode_errors: 0,
        });

        // Totals and back-pressure.
        let fsum = |f: &dyn Fn(&FeedStats) -> u64| src.feed_stats.iter().map(|s| f(s)).sum();
        let ssum = |f: &dyn Fn(&ShardStats) -> u64| src.shard_stats.iter().map(|s| f(s)).sum();
        let ring_full: u64 = fsum(&|s| s.ring_full.get()) + ssum(&|s| s.out_ring_full.get());
        if ring_full > self.prev.ring_full {
            self.backpressure_run += 1;
        } else {
            self.backpressure_run = 0;
        }
        self.prev.ring_full = ring_full;
        let totals = Totals {
            frames: fsum(&|s| s.frames.get()),
            events: fsum(&|s| s.events.get()),
            decode_errors: fsum(&|s| s.decode_errors()),
            unknown_symbols: fsum(&|s| s.unknown_symbols.get()),
            bars_closed: ssum(&|s| s.bars_closed.get()),
            late_trades: ssum(&|s| s.late_ticks.get()),
            store_errors: ssum(&|s| s.store_errors.get()),
            signals: ssum(&|s| s.signals.get()),
            ring_full,
            backpressure_intervals: self.backpressure_run,
            alerts_raised: self.alerts.raised,
            continuity: ContinuityTotals {
                duplicates: fsum(&|s| s.duplicates.get()),
                gaps_opened: fsum(&|s| s.gaps_opened.get()),
                gaps_recovered: fsum(&|s| s.gaps_recovered.get()),
                gaps_unrecovered: fsum(&|s| s.gaps_unrecovered.get()),
                trades_missing: fsum(&|s| s.trades_missing.get()),
                trades_recovered: fsum(&|s| s.trades_recovered.get()),
                backfill_dropped: fsum(&|s| s.backfill_dropped.get()),
                reordered: fsum(&|s| s.reordered.get()),
                records_dropped: fsum(&|s| s.records_dropped.get()),
                stale_reconnects: fsum(&|s| s.stale.get()),
                rotations: fsum(&|s| s.rotations.get()),
                oversized: fsum(&|s| s.oversized.get()),
            },
            backfill: self.backfill,
        };

        // Stages: the hot threads' published percentiles (worst thread), the IO thread's own
        // bar → signal histogram.
        let fmax = |f: &dyn Fn(&FeedStats) -> u64| src.feed_stats.iter().map(|s| f(s)).max();
        let smax = |f: &dyn Fn(&ShardStats) -> u64| src.shard_stats.iter().map(|s| f(s)).max();
        let mut stages = vec![
            StageLatency {
                stage: "receive_to_decoded".into(),
                unit: "ns".into(),
                count: totals.frames,
                p50: fmax(&|s| s.decode_p50_ns.get()).unwrap_or(0),
                p99: fmax(&|s| s.decode_p99_ns.get()).unwrap_or(0),
                p999: fmax(&|s| s.decode_p999_ns.get()).unwrap_or(0),
                max: fmax(&|s| s.decode_max_ns.get()).unwrap_or(0),
            },
            StageLatency {
                stage: "receive_to_bar".into(),
                unit: "ns".into(),
                count: ssum(&|s| s.ticks.get()),
                p50: smax(&|s| s.tick_to_bar_p50_ns.get()).unwrap_or(0),
                p99: smax(&|s| s.tick_to_bar_p99_ns.get()).unwrap_or(0),
                p999: smax(&|s| s.tick_to_bar_p999_ns.get()).unwrap_or(0),
                max: smax(&|s| s.tick_to_bar_max_ns.get()).unwrap_or(0),
            },
        ];
        if let Some(h) = src.close_to_signal {
            let p = Percentiles::of(h);
            stages.push(StageLatency {
                stage: "bar_to_signal".into(),
                unit: "ns".into(),
                count: p.count,
                p50: p.p50,
                p99: p.p99,
                p999: p.p999,
                max: p.max,
            });
        }
        stages.push(StageLatency {
            stage: "exchange_to_receive".into(),
            unit: "us".into(),
            count: totals.frames,
            p50: fmax(&|s| s.network_p50_us.get()).unwrap_or(0),
            p99: fmax(&|s| s.network_p99_us.get()).unwrap_or(0),
            p999: fmax(&|s| s.network_p999_us.get()).unwrap_or(0),
            max: fmax(&|s| s.network_max_us.get()).unwrap_or(0),
        });

        // Process and host.
        let ticks = proc::process_ticks();
        let cpu_cores = rate(ticks.saturating_sub(self.prev.process_ticks)) / proc::TICKS_PER_S;
        self.prev.process_ticks = ticks;
        let host = proc::host_cpu_ticks();
        let (busy, total) = (
            host.0.saturating_sub(self.prev.host.0),
            host.1.saturating_sub(self.prev.host.1),
        );
        self.prev.host = host;
        let (host_memory, host_memory_bytes) = proc::host_memory();
        let process = ProcessStats {
            rss_bytes: proc::rss_bytes(),
            cpu_cores: if dt.is_some() { cpu_cores } else { 0.0 },
            host_cpu: if dt.is_some() && total > 0 {
                busy as f64 / total as f64
            } else {
                0.0
            },
            host_memory,
            host_memory_bytes,
        };

        Snapshot {
            updated_us: now_us,
            started_us: self.started_us,
            pid: std::process::id(),
            state,
            interval_ms: self.cfg.interval_ms as u32,
            http_addr: self.http_addr.clone(),
            process,
            totals,
            venues,
            markets,
            threads,
            stages,
        }
    }
}

/// The feed and shard threads `Running::start` creates for `cores`, in the order of its
/// shard → IO rings: shard threads own rings `0..shards`; without shard threads, each feed
/// thread runs a shard inline and owns ring `f`.
pub fn engine_threads(cores: &crate::runtime::CoreMap) -> Vec<ThreadInfo> {
    let inline = cores.shards.is_empty();
    let mut out = Vec::new();
    for (f, core) in cores.feeds.iter().enumerate() {
        out.push(ThreadInfo {
            name: format!("feed-{f}"),
            core: *core,
            kind: ThreadKind::Feed {
                n: f,
                inline_shard: inline.then_some(f),
            },
            out_ring: inline.then_some(f),
        });
    }
    for (s, core) in cores.shards.iter().enumerate() {
        out.push(ThreadInfo {
            name: format!("shard-{s}"),
            core: *core,
            kind: ThreadKind::Shard { n: s },
            out_ring: Some(s),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backfill::DoneWhy;
    use crate::continuity::GapKind;
    use feeds::Symbol;

    const T0: i64 = 1_700_000_000_000_000;

    /// A publisher for two markets (BTC 0, ETH 1) on one Binance feed thread, no HTTP.
    fn publisher(dir: &Path) -> Publisher {
        let mut table = MarketTable::new(1);
        table.add(Venue::BinanceSpot, Symbol::new(b"BTCUSDT").unwrap());
        table.add(Venue::BinanceSpot, Symbol::new(b"ETHUSDT").unwrap());
        let cfg = MonitorConfig {
            http: false,
            ..MonitorConfig::default()
        };
        Publisher::start(
            &cfg,
            dir,
            &table,
            &[vec![Venue::BinanceSpot]],
            Vec::new(),
            None,
            None,
        )
        .unwrap()
    }

    fn opened(gap: u64, market: MarketIdx, kind: GapKind, missing: u64) -> Record {
        Record::Opened {
            gap,
            market,
            kind,
            from_ts_us: T0 - 2_000_000,
            to_ts_us: T0 - 1_000_000,
            after_id: 100,
            before_id: 101 + missing,
            missing,
        }
    }

    fn closed(gap: u64, market: MarketIdx, recovered: u64, outcome: Outcome) -> Record {
        Record::Closed {
            gap,
            market,
            kind: GapKind::Ids,
            recovered,
            remaining: 0,
            outcome,
        }
    }

    fn snap(p: &mut Publisher, src: &Sources<'_>) -> Snapshot {
        p.snapshot(src, EngineState::Running, T0 + 60_000_000, Instant::now())
    }

    use crate::market::MarketIdx;

    #[test]
    fn gap_events_are_counted_per_market_and_feed_counters_summed() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = publisher(dir.path());
        // BTC: an id gap of 5 trades, recovered in full; a reconnect window left open.
        p.on_gap_at(&opened(1, 0, GapKind::Ids, 5), T0);
        p.on_gap_at(&opened(2, 0, GapKind::Window, 0), T0 + 1_000_000);
        p.on_gap_at(&closed(1, 0, 5, Outcome::Recovered), T0 + 2_000_000);
        // ETH: 3 missing ids, 1 recovered, closed unrecovered; then a downtime gap abandoned.
        p.on_gap_at(&opened(3, 1, GapKind::Ids, 3), T0 + 3_000_000);
        p.on_gap_at(
            &closed(3, 1, 1, Outcome::Unrecovered(DoneWhy::TooOld)),
            T0 + 4_000_000,
        );
        p.on_gap_at(&opened(4, 1, GapKind::Downtime, 0), T0 + 5_000_000);
        p.on_gap_at(&closed(4, 1, 0, Outcome::Abandoned), T0 + 6_000_000);
        // A record for a market the table lacks changes nothing.
        p.on_gap_at(&opened(5, 9, GapKind::Ids, 50), T0 + 7_000_000);

        let feeds = [
            Arc::new(FeedStats::with_connections(1)),
            Arc::new(FeedStats::with_connections(1)),
        ];
        for (i, f) in feeds.iter().enumerate() {
            let k = i as u64 + 1;
            f.duplicates.add(10 * k);
            f.gaps_opened.add(2);
            f.gaps_recovered.add(k);
            f.gaps_unrecovered.add(2 - k);
            f.trades_missing.add(4 * k);
            f.trades_recovered.add(3);
            f.backfill_dropped.add(k);
            f.reordered.add(1);
            f.records_dropped.add(k - 1);
            f.stale.add(k);
            f.rotations.add(1);
            f.oversized.add(k);
        }
        let src = Sources {
            feed_stats: &feeds,
            shard_stats: &[],
            out_rings: &[],
            close_to_signal: None,
            redis: None,
        };
        let s = snap(&mut p, &src);
        let btc = &s.markets[0];
        assert_eq!(
            (
                btc.gaps,
                btc.gaps_open,
                btc.gaps_recovered,
                btc.gaps_unrecovered
            ),
            (2, 1, 1, 0)
        );
        assert_eq!((btc.gap_trades_missing, btc.gap_trades_recovered), (5, 5));
        assert_eq!(btc.last_gap_us, T0 + 2_000_000);
        assert_eq!(btc.open_gap_since_us, T0 + 1_000_000, "the window");
        assert_eq!(btc.last_unrecovered_us, 0);
        let eth = &s.markets[1];
        assert_eq!(
            (
                eth.gaps,
                eth.gaps_open,
                eth.gaps_recovered,
                eth.gaps_unrecovered
            ),
            (2, 0, 0, 2),
            "unrecovered and abandoned both count as unrecovered"
        );
        assert_eq!((eth.gap_trades_missing, eth.gap_trades_recovered), (3, 1));
        assert_eq!(eth.open_gap_since_us, 0);
        assert_eq!(eth.last_unrecovered_us, T0 + 6_000_000);
        assert_eq!(
            s.totals.continuity,
            ContinuityTotals {
                duplicates: 30,
                gaps_opened: 4,
                gaps_recovered: 3,
                gaps_unrecovered: 1,
                trades_missing: 12,
                trades_recovered: 6,
                backfill_dropped: 3,
                reordered: 2,
                records_dropped: 1,
                stale_reconnects: 3,
                rotations: 2,
                oversized: 3,
            }
        );
        assert_eq!(s.totals.backfill, None);

        let bf = BackfillSnapshot {
            jobs: 4,
            trades: 9,
            ..BackfillSnapshot::default()
        };
        p.set_backfill(Some(bf));
        assert_eq!(snap(&mut p, &src).totals.backfill, Some(bf));

        // ETH's unrecovered close (54 s before the snapshot) raises `gap_unrecovered`;
        // BTC's window, open 59 s, is not yet `gap_open` (after 120 s).
        let th = crate::alerts::AlertThresholds::default();
        let names: Vec<_> = evaluate(Some(&s), T0 + 60_000_000, &th)
            .iter()
            .map(|a| a.name)
            .collect();
        assert!(names.contains(&"gap_unrecovered"), "{names:?}");
        assert!(!names.contains(&"gap_open"), "{names:?}");
        let later = Snapshot {
            updated_us: T0 + 122_000_000,
            ..s
        };
        let names: Vec<_> = evaluate(Some(&later), T0 + 122_000_000, &th)
            .iter()
            .map(|a| a.name)
            .collect();
        assert!(names.contains(&"gap_open"), "{names:?}");
    }

    #[test]
    fn on_gap_stamps_the_wall_clock() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = publisher(dir.path());
        let before = feeds::clock::wall_us();
        p.on_gap(&opened(1, 0, GapKind::Ids, 2));
        let after = feeds::clock::wall_us();
        let src = Sources {
            feed_stats: &[],
            shard_stats: &[],
            out_rings: &[],
            close_to_signal: None,
            redis: None,
        };
        let s = snap(&mut p, &src);
        let btc = &s.markets[0];
        assert!(
            (before..=after).contains(&btc.last_gap_us),
            "{}",
            btc.last_gap_us
        );
        assert_eq!(btc.open_gap_since_us, btc.last_gap_us);
        assert_eq!((btc.gaps_open, btc.gap_trades_missing), (1, 2));
    }

    #[test]
    fn a_lost_opened_record_does_not_leave_a_gap_open_and_open_gaps_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = publisher(dir.path());
        // Closed without its Opened (the ring was full): counted, nothing open.
        p.on_gap_at(&closed(7, 0, 2, Outcome::Recovered), T0);
        for g in 0..MAX_OPEN_GAPS as u64 + 3 {
            p.on_gap_at(
                &opened(100 + g, 1, GapKind::Window, 0),
                T0 + g as i64 * 1000,
            );
        }
        let src = Sources {
            feed_stats: &[],
            shard_stats: &[],
            out_rings: &[],
            close_to_signal: None,
            redis: None,
        };
        let s = snap(&mut p, &src);
        let btc = &s.markets[0];
        assert_eq!((btc.gaps, btc.gaps_open, btc.gaps_recovered), (0, 0, 1));
        assert_eq!(btc.gap_trades_recovered, 2);
        let eth = &s.markets[1];
        assert_eq!(eth.gaps, MAX_OPEN_GAPS as u64 + 3);
        assert_eq!(eth.gaps_open as usize, MAX_OPEN_GAPS);
        assert_eq!(
            eth.open_gap_since_us,
            T0 + 3000,
            "the three oldest forgotten"
        );
    }
}
