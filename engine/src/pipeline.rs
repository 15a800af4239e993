//! Wiring: from a configuration to running feed and shard threads joined by SPSC rings, plus
//! the IO-side duties (draining closed bars, durability, retention) that the caller's thread —
//! the IO core — performs in [`Running::io_step`].

use crate::config::{Config, ConfigError};
use crate::feed::{Downstream, Feed, FeedReport, ShardLink, Subscription};
pub use crate::market::frame_symbol;
use crate::market::{MarketTable, Tick};
use crate::ring::{self, Consumer};
use crate::runtime::{available_cores, pin_current, CoreMap, IdlePolicy, Sleeper, StopFlag};
use crate::shard::{Shard, ShardCore, ShardOut, ShardReport};
use crate::sink::{PositionBook, Signals};
use crate::stats::{latency_histogram, FeedStats, ShardStats};
use crate::store::{self, Store};
use crate::strategy::engine::Settings;
use crate::strategy::symbols::{resolve, MarketInfo};
use crate::strategy::{SignalEvent, Strategy, SymbolSpec};
use feeds::ws::WsConfig;
use feeds::Venue;
use hdrhistogram::Histogram;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Everything needed to start the threads, resolved from a [`Config`].
#[derive(Debug, Clone)]
pub struct Plan {
    pub data_dir: PathBuf,
    pub cores: CoreMap,
    pub idle: IdlePolicy,
    pub ring_capacity: usize,
    pub grace_ms: u64,
    pub retention_days: u32,
    pub sync_interval: Duration,
    pub table: MarketTable,
    /// Connections, dealt to feed threads round-robin.
    pub subscriptions: Vec<Subscription>,
    /// The strategy's settings and symbols (`None` when `[strategy] enabled = false`).
    pub strategy: Option<StrategyPlan>,
    /// Print signals on stdout.
    pub signals_stdout: bool,
    /// Publish signals to Redis (`[signals] redis = true`), environment applied.
    pub redis: Option<crate::sink::redis::RedisConfig>,
    /// `[instruments]`: contract sizes are loaded from it in [`Running::start`].
    pub instruments: crate::instruments::InstrumentsConfig,
    /// Export closed bars to InfluxDB (`[influx] enabled = true`), environment applied.
    pub influx: Option<crate::influx::InfluxConfig>,
    /// Stats file, HTTP endpoints and alerts (`None` when `[monitor] enabled = false`).
    pub monitor: Option<crate::monitor::MonitorConfig>,
    /// `[continuity]`: watchdog, rotation and gap settings.
    pub continuity: crate::config::ContinuitySettings,
    /// `[backfill]`: the REST backfill worker.
    pub backfill: crate::backfill::BackfillConfig,
    /// Raw-frame capture (`None` when `[capture] enabled = false`).
    pub capture: Option<crate::capture::CaptureConfig>,
}

/// What the shards need to run the strategy.
#[derive(Debug, Clone)]
pub struct StrategyPlan {
    pub settings: Settings,
    pub symbols: Vec<SymbolSpec>,
}

impl StrategyPlan {
    /// Resolve the traded symbols from the market table (errors name the problem).
    pub fn resolve(
        cfg: &crate::strategy::StrategyConfig,
        table: &MarketTable,
    ) -> Result<StrategyPlan, ConfigError> {
        let infos: Vec<MarketInfo<'_>> = table
            .iter()
            .map(|(idx, m)| MarketInfo {
                idx,
                id: &m.id,
                base: &m.base,
                kind: m.venue.market_kind(&m.symbol),
            })
            .collect();
        let symbols = resolve(cfg, &infos).map_err(|message| ConfigError::Invalid {
            origin: "strategy".to_string(),
            message,
        })?;
        Ok(StrategyPlan {
            settings: cfg.settings(),
            symbols,
        })
    }

    /// One `Strategy` per shard (index = shard id) over the symbols whose markets it owns,
    /// with positions of an earlier run restored.
    pub fn strategies(
        &self,
        table: &MarketTable,
        shards: usize,
        book: &PositionBook,
    ) -> Vec<Strategy> {
        let open = Arc::new(AtomicUsize::new(0));
        (0..shards.max(1))
            .map(|s| {
                let mine: Vec<(u16, SymbolSpec)> = self
                    .symbols
                    .iter()
                    .enumerate()
                    .filter(|(_, spec)| table.get(spec.reference).shard == s)
                    .map(|(g, spec)| (g as u16, spec.clone()))
                    .collect();
                let mut st = Strategy::new(self.settings, mine, open.clone());
                for (g, spec) in self.symbols.iter().enumerate() {
                    if let Some(p) = book.open_positions().get(&spec.base) {
                        if st.restore(g as u16, *p) {
                            log::info!(
                                "paper position restored: {} {} at {} (entered {})",
                                if p.direction > 0 { "LONG" } else { "SHORT" },
                                spec.pair,
                                p.entry_price,
                                crate::strategy::signal::iso_time(p.entry_time)
                            );
                        }
                    }
                }
                st
            })
            .collect()
    }

    /// Rebuild each strategy's windows from the bar store (the lookback before `now_s`), so a
    /// restart neither waits `min_data_points` bars nor leaves restored positions without the
    /// bars phase 5 needs. Nothing is evaluated during the warm-up.
    pub fn warm_up(
        &self,
        strategies: &mut [Strategy],
        table: &MarketTable,
        data_dir: &std::path::Path,
        now_s: i64,
    ) {
        let store = Store::new(data_dir);
        let s = &self.settings;
        let from = now_s - s.lookback_s - s.timeframe_s;
        for st in strategies.iter_mut() {
            let markets: Vec<(u32, String)> = st
                .specs()
                .iter()
                .flat_map(|spec| {
                    spec.markets
                        .iter()
                        .map(|(idx, _)| (*idx, table.get(*idx).id.clone()))
                })
                .collect();
            if markets.is_empty() {
                continue;
            }
            st.set_warming(true);
            let started = Instant::now();
            let result = crate::strategy::history::feed_stored_bars(
                st,
                &store,
                &markets,
                from,
                now_s,
                &mut |_| {},
                &mut |_| {},
                &mut |_| {},
            );
            st.set_warming(false);
            match result {
                Ok(n) => log::info!(
                    "strategy: windows warmed from {n} stored bars in {:.0} ms",
                    started.elapsed().as_secs_f64() * 1e3
                ),
                Err(e) => log::warn!(
                    "strategy: warm-up from the bar store failed ({e}); windows start empty"
                ),
            }
        }
    }
}

/// How a configured pair is spelt in a venue's requests (Binance stream names are lower case).
fn request_symbol(venue: Venue, pair: &str) -> String {
    if venue.spec().upper_case_symbols {
        pair.to_ascii_lowercase()
    } else {
        pair.to_owned()
    }
}

impl Plan {
    /// Resolve cores, markets and connections. `feeds` empty → [`Config::default_feeds`].
    pub fn from_config(cfg: &Config) -> Result<Plan, ConfigError> {
        let cores = CoreMap::resolve(&cfg.runtime.cores, available_cores())?;
        let mut table = MarketTable::new(cores.shards.len().max(1));
        let mut subscriptions = Vec::new();
        let feeds = if cfg.feeds.is_empty() {
            Config::default_feeds()
        } else {
            cfg.feeds.clone()
        };
        let now_s = feeds::clock::wall_us().max(0) as u64 / 1_000_000;
        let mut ids: HashMap<String, Venue> = HashMap::new();
        for f in &feeds {
            let venue = f.venue()?;
            let origin = || format!("feeds ({venue})");
            let pairs: Vec<String> = f.pairs.iter().map(|p| request_symbol(venue, p)).collect();
            for p in &pairs {
                let sym = frame_symbol(venue, p).ok_or_else(|| ConfigError::Invalid {
                    origin: origin(),
                    message: format!("pair {p:?} is too long"),
                })?;
                let id = venue.market_id(&sym);
                if let Some(other) = ids.insert(id.clone(), venue) {
                    return Err(ConfigError::Invalid {
                        origin: origin(),
                        message: format!(
                            "market {id} is configured twice (on {other} and on {venue}); one \
                             market id means one set of bar files"
                        ),
                    });
                }
                table.add(venue, sym);
            }
            let refs: Vec<&str> = pairs.iter().map(String::as_str).collect();
            let plans = feeds::plan::plan(venue, f.url.as_deref(), &refs, now_s).map_err(|e| {
                ConfigError::Invalid {
                    origin: origin(),
                    message: e.to_string(),
                }
            })?;
            for mut p in plans {
                if let (Some(ms), false) = (f.ping_ms, p.ping.every.is_zero()) {
                    p.ping.every = Duration::from_millis(ms.max(100));
                }
                let mut sub = Subscription::from(p);
                if let Some(s) = f.rotate_after_s {
                    sub.rotate_after = (s > 0).then(|| Duration::from_secs(s));
                }
                subscriptions.push(sub);
            }
        }
        let strategy = if cfg.strategy.enabled {
            Some(StrategyPlan::resolve(&cfg.strategy, &table)?)
        } else {
            None
        };
        let redis = if cfg.signals.redis {
            let env = |k: &str| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned());
            Some(cfg.signals.redis_config(cfg.strategy.signal_ttl_s, env)?)
        } else {
            None
        };
        let influx = cfg.influx.enabled.then(|| cfg.influx.clone());
        Ok(Plan {
            strategy,
            redis,
            influx,
            monitor: cfg.monitor.enabled.then(|| cfg.monitor.clone()),
            continuity: {
                cfg.continuity
                    .validate()
                    .map_err(|message| ConfigError::Invalid {
                        origin: "continuity".to_string(),
                        message,
                    })?;
                cfg.continuity.clone()
            },
            backfill: cfg.backfill.clone(),
            capture: cfg.capture.enabled.then(|| cfg.capture.clone()),
            signals_stdout: cfg.signals.stdout,
            instruments: cfg.instruments.clone(),
            data_dir: cfg.data_dir.clone(),
            cores,
            idle: IdlePolicy {
                busy_poll: cfg.runtime.busy_poll,
                spin: Duration::from_micros(cfg.runtime.spin_us),
                ..IdlePolicy::default()
            },
            ring_capacity: cfg.runtime.ring_capacity,
            grace_ms: cfg.bars.grace_ms,
            retention_days: cfg.bars.retention_days,
            sync_interval: Duration::from_millis(cfg.bars.msync_interval_ms.max(100)),
            table,
            subscriptions,
        })
    }
}

/// Capacity of each shard → IO signal ring (signals are rare: the validator allows ten per
/// symbol per hour).
const SIGNAL_RING: usize = 1024;

/// The running engine, owned by the IO thread.
#[derive(Debug)]
pub struct Running {
    pub table: Arc<MarketTable>,
    pub feed_stats: Vec<Arc<FeedStats>>,
    pub shard_stats: Vec<Arc<ShardStats>>,
    outputs: Vec<Consumer<ShardOut>>,
    feeds: Vec<JoinHandle<std::io::Result<FeedReport>>>,
    shards: Vec<JoinHandle<ShardReport>>,
    stop: StopFlag,
    data_dir: PathBuf,
    sync_interval: Duration,
    last_sync: Instant,
    retention_days: u32,
    last_retention: Option<Instant>,
    /// Closed bars seen by the IO thread (amendments included).
    pub bars_seen: u64,
    signal_inputs: Vec<Consumer<SignalEvent>>,
    /// Journal, positions, stdout (and later Redis) for validated signals.
    pub signals: Option<Signals>,
    /// The contract sizes loaded at start-up (for the feeds' `Router::with_instruments`).
    pub instruments: Arc<feeds::Instruments>,
    /// Closed bars to InfluxDB (its own thread; see [`crate::influx::sink`]).
    pub influx: Option<crate::influx::InfluxSink>,
    /// The stats file publisher (monitoring), when enabled.
    pub monitor: Option<crate::monitor::Publisher>,
    /// Gap records from the feed threads, and their journal.
    gap_records: Vec<Consumer<crate::continuity::Record>>,
    gap_journal: crate::gaps::GapJournal,
    /// The REST backfill worker, when enabled (stopped after the feeds), and its counters.
    pub backfill: Option<BackfillWorker>,
    backfill_stats: Option<Arc<crate::backfill::BackfillStats>>,
    /// The raw-frame capture writer, when enabled.
    pub capture: Option<crate::capture::CaptureWriter>,
}

/// The running backfill worker thread.
#[derive(Debug)]
pub struct BackfillWorker {
    handle: JoinHandle<()>,
    stop: StopFlag,
    pub stats: Arc<crate::backfill::BackfillStats>,
}

/// Latency histograms merged over all threads, at shutdown.
#[derive(Debug)]
pub struct Summary {
    pub tick_to_bar_ns: Histogram<u64>,
    pub decode_ns: Histogram<u64>,
    pub network_us: Histogram<u64>,
    /// One second's strategy evaluation of a shard's symbols.
    pub strategy_eval_ns: Histogram<u64>,
    /// Bar close → signal journaled.
    pub close_to_journal_ns: Histogram<u64>,
}

impl Running {
    /// Start shard threads, then feed threads (which need the shards' wakers).
    pub fn start(plan: Plan, ws: WsConfig, stop: StopFlag) -> std::io::Result<Running> {
        pin_current(plan.cores.io, "io");
        // Contract sizes (REST → cache → bundle), before any hot thread starts.
        let instruments = crate::instruments::load_for(
            &plan.instruments,
            &plan.data_dir,
            plan.subscriptions.iter().map(|s| s.venue),
        )
        .instruments;
        let table = Arc::new(plan.table);
        // Restart recovery: bars left open by a run that died are removed, and each market
        // resumes after its last closed second (the downtime is backfilled).
        let resume_after = recover_store(&plan.data_dir, &table, plan.continuity.restart_backfill);
        let n_feeds = plan.cores.feeds.len();
        let n_shards = plan.cores.shards.len();
        // rings[f][s]: feed f → shard s.
        let mut producers: Vec<Vec<Option<ring::Producer<Tick>>>> = (0..n_feeds)
            .map(|_| (0..n_shards).map(|_| None).collect())
            .collect();
        let mut consumers: Vec<Vec<Consumer<Tick>>> = (0..n_shards).map(|_| Vec::new()).collect();
        for feed_producers in producers.iter_mut() {
            for (s, shard_inputs) in consumers.iter_mut().enumerate() {
                let (p, c) = ring::channel::<Tick>(plan.ring_capacity);
                feed_producers[s] = Some(p);
                shard_inputs.push(c);
            }
        }
        let mut outputs = Vec::new();
        let mut shards = Vec::new();
        let mut shard_stats = Vec::new();
        let mut wakers = Vec::new();
        let mut signal_inputs = Vec::new();
        let mut strategies: Vec<Option<Strategy>> = Vec::new();
        let mut sinks = None;
        if let Some(sp) = &plan.strategy {
            let book = PositionBook::load(&plan.data_dir).map_err(std::io::Error::other)?;
            let mut built = sp.strategies(&table, n_shards, &book);
            // Bars up to the last complete second before start (the shards take over from there).
            let now_s =
                (feeds::clock::wall_us() - plan.grace_ms as i64 * 1000).div_euclid(1_000_000);
            sp.warm_up(&mut built, &table, &plan.data_dir, now_s);
            strategies = built.into_iter().map(Some).collect();
            let mut signals = Signals::new(
                &plan.data_dir,
                sp.symbols.clone(),
                sp.settings.ttl_s,
                plan.signals_stdout,
                true,
            );
            if let Some(rc) = plan.redis.clone() {
                log::info!("signals: publishing to Redis at {}", rc.endpoint());
                let sink =
                    crate::sink::redis::RedisSink::start(rc).map_err(std::io::Error::other)?;
                signals = signals.with_redis(sink);
            }
            sinks = Some(signals);
            log::info!(
                "strategy: {} on {} bars, window {} h, every {} s",
                sp.symbols
                    .iter()
                    .map(|s| format!("{} ({} markets)", s.pair, s.markets.len()))
                    .collect::<Vec<_>>()
                    .join(", "),
                if sp.settings.one_second {
                    "1 s".to_string()
                } else {
                    format!("{} s", sp.settings.timeframe_s)
                },
                sp.settings.lookback_s as f64 / 3600.0,
                sp.settings.run_interval_s
            );
        }
        let influx = match plan.influx.clone() {
            Some(ic) => {
                log::info!(
                    "influx: exporting bars to {}:{} db {} ({}.{}{})",
                    ic.host,
                    ic.port,
                    ic.database,
                    ic.retention_policy,
                    ic.measurement,
                    if ic.rollups.is_empty() {
                        String::new()
                    } else {
                        format!(", rollups {}", ic.rollups.join(", "))
                    }
                );
                let ids = table.iter().map(|(_, m)| m.id.clone()).collect();
                Some(
                    crate::influx::InfluxSink::start(ic, ids, &plan.data_dir)
                        .map_err(std::io::Error::other)?,
                )
            }
            None => None,
        };
        let mut with_strategy =
            |core: ShardCore, s: usize, signal_inputs: &mut Vec<Consumer<SignalEvent>>| {
                match strategies.get_mut(s).and_then(Option::take) {
                    Some(st) => {
                        let (p, c) = ring::channel::<SignalEvent>(SIGNAL_RING);
                        signal_inputs.push(c);
                        core.with_strategy(st, p)
                    }
                    None => core,
                }
            };
        for (s, inputs) in consumers.into_iter().enumerate() {
            let (out_p, out_c) = ring::channel::<ShardOut>(plan.ring_capacity);
            outputs.push(out_c);
            let stats = Arc::new(ShardStats::default());
            shard_stats.push(stats.clone());
            let core = ShardCore::new(s, &table, &plan.data_dir, out_p, stats, plan.grace_ms);
            let shard = Shard::new(with_strategy(core, s, &mut signal_inputs), inputs);
            let (tx, rx) = std::sync::mpsc::channel();
            let core = plan.cores.shards[s];
            let (idle, stop) = (plan.idle, stop.clone());
            shards.push(
                std::thread::Builder::new()
                    .name(format!("shard-{s}"))
                    .spawn(move || {
                        pin_current(core, "shard");
                        let (sleeper, waker) = Sleeper::for_current_thread();
                        let _ = tx.send(waker);
                        shard.run(idle, &stop, &sleeper)
                    })?,
            );
            wakers.push(rx.recv().map_err(|_| {
                std::io::Error::other(format!("shard {s} thread died at start-up"))
            })?);
        }
        let mut subs_per_feed: Vec<Vec<Subscription>> = (0..n_feeds).map(|_| Vec::new()).collect();
        for (i, sub) in plan.subscriptions.into_iter().enumerate() {
            subs_per_feed[i % n_feeds].push(sub);
        }
        let feed_venues: Vec<Vec<Venue>> = subs_per_feed
            .iter()
            .map(|subs| subs.iter().map(|s| s.venue).collect())
            .collect();
        let mut feeds = Vec::new();
        let mut feed_stats = Vec::new();
        let mut gap_records = Vec::new();
        // REST backfill: one worker (on the IO core) serving every feed thread.
        let (feed_links, worker_links) = crate::backfill::links(n_feeds, 8192);
        let backfill = if plan.backfill.enabled {
            let stats = Arc::new(crate::backfill::BackfillStats::default());
            let worker_stop = StopFlag::new();
            let io_core = plan.cores.io;
            let handle = crate::backfill::spawn(
                plan.backfill.clone(),
                table.clone(),
                instruments.clone(),
                crate::instruments::default_tls(),
                worker_links,
                stats.clone(),
                worker_stop.clone(),
            )?;
            let _ = io_core;
            Some(BackfillWorker {
                handle,
                stop: worker_stop,
                stats,
            })
        } else {
            None
        };
        let mut feed_backfill: Vec<Option<crate::backfill::FeedLink>> = feed_links
            .into_iter()
            .map(|l| backfill.is_some().then_some(l))
            .collect();
        let (capture, mut capture_txs) = match &plan.capture {
            Some(cc) => {
                let (w, txs) = crate::capture::CaptureWriter::start(
                    &cc.dir(&plan.data_dir),
                    crate::capture::Limits::from_config(cc),
                    n_feeds,
                    plan.cores.io,
                )?;
                (Some(w), txs.into_iter().map(Some).collect())
            }
            None => (None, Vec::new()),
        };
        for (f, subs) in subs_per_feed.into_iter().enumerate() {
            let downstream = if n_shards == 0 {
                // Small machine: the one feed thread does the shard's work itself.
                let (out_p, out_c) = ring::channel::<ShardOut>(plan.ring_capacity);
                outputs.push(out_c);
                let stats = Arc::new(ShardStats::default());
                shard_stats.push(stats.clone());
                let core = ShardCore::new(0, &table, &plan.data_dir, out_p, stats, plan.grace_ms);
                Downstream::Inline(Box::new(with_strategy(core, 0, &mut signal_inputs)))
            } else {
                Downstream::Rings(
                    producers[f]
                        .iter_mut()
                        .enumerate()
                        .map(|(s, p)| {
                            ShardLink::new(
                                p.take().expect("one producer per pair"),
                                wakers[s].clone(),
                            )
                        })
                        .collect(),
                )
            };
            let stats = Arc::new(FeedStats::with_connections(subs.len()));
            feed_stats.push(stats.clone());
            let n_subs = subs.len();
            let (rp, rc) = ring::channel::<crate::continuity::Record>(4096);
            gap_records.push(rc);
            let bf = feed_backfill.get_mut(f).and_then(Option::take);
            let continuity = crate::feed::FeedContinuity {
                state: crate::continuity::Continuity::new(
                    plan.continuity.state_config(bf.is_some()),
                    &table,
                    &resume_after,
                    n_subs,
                    f,
                ),
                policy: plan.continuity.policy(),
                backfill: bf.map(|l| (l.jobs, l.results)),
                records: Some(rp),
            };
            let feed = Feed::new(
                f,
                subs,
                table.clone(),
                downstream,
                stats,
                ws.clone(),
                &instruments,
            )
            .with_continuity(continuity)
            .with_capture(capture_txs.get_mut(f).and_then(Option::take));
            let core = plan.cores.feeds[f];
            let (idle, stop) = (plan.idle, stop.clone());
            feeds.push(
                std::thread::Builder::new()
                    .name(format!("feed-{f}"))
                    .spawn(move || {
                        pin_current(core, "feed");
                        feed.run(idle, &stop)
                    })?,
            );
        }
        let monitor = match &plan.monitor {
            Some(mc) => {
                let threads = crate::monitor::publish::engine_threads(&plan.cores);
                let own_redis = if sinks.is_none() {
                    plan.redis.clone()
                } else {
                    None
                };
                Some(crate::monitor::Publisher::start(
                    mc,
                    &plan.data_dir,
                    &table,
                    &feed_venues,
                    threads,
                    plan.cores.io,
                    own_redis,
                )?)
            }
            None => None,
        };
        let data_dir_for_gaps = plan.data_dir.clone();
        let mut running = Running {
            table,
            feed_stats,
            shard_stats,
            outputs,
            feeds,
            shards,
            stop,
            data_dir: plan.data_dir,
            sync_interval: plan.sync_interval,
            last_sync: Instant::now(),
            retention_days: plan.retention_days,
            last_retention: None,
            bars_seen: 0,
            signal_inputs,
            signals: sinks,
            instruments,
            influx,
            monitor,
            gap_journal: crate::gaps::GapJournal::new(&data_dir_for_gaps),
            gap_records,
            backfill_stats: backfill.as_ref().map(|w| w.stats.clone()),
            backfill,
            capture,
        };
        running.publish_monitor(false);
        Ok(running)
    }

    /// Publish the stats file now (`last`: the final snapshot, then stop the endpoints).
    fn publish_monitor(&mut self, last: bool) {
        let out_rings: Vec<(usize, usize)> = self
            .outputs
            .iter()
            .map(|c| (c.len(), c.capacity()))
            .collect();
        let src = crate::monitor::Sources {
            feed_stats: &self.feed_stats,
            shard_stats: &self.shard_stats,
            out_rings: &out_rings,
            close_to_signal: self.signals.as_ref().map(|s| &s.close_to_journal_ns),
            redis: self.signals.as_ref().and_then(Signals::redis),
        };
        if let (Some(m), Some(st)) = (self.monitor.as_mut(), self.backfill_stats.as_ref()) {
            m.set_backfill(Some(crate::monitor::BackfillSnapshot {
                jobs: st.jobs.get(),
                complete: st.complete.get(),
                incomplete: st.incomplete.get(),
                requests: st.requests.get(),
                pages: st.pages.get(),
                trades: st.trades.get(),
                http_errors: st.http_errors.get(),
                parse_errors: st.parse_errors.get(),
                rate_limited: st.rate_limited.get(),
                rate_limit_waits: st.rate_limit_waits.get(),
                pace_waits: st.pace_waits.get(),
                too_old: st.too_old.get(),
                unsupported: st.unsupported.get(),
                out_ring_full: st.out_ring_full.get(),
            }));
        }
        if last {
            if let Some(m) = self.monitor.take() {
                m.finish(&src);
            }
        } else if let Some(m) = self.monitor.as_mut() {
            m.publish(&src);
        }
    }

    /// One round of IO duties: drain closed bars into `on_bar`, sync bar files on the timer,
    /// apply retention hourly. Call it in a loop from the IO thread.
    pub fn io_step(&mut self, on_bar: &mut dyn FnMut(&MarketTable, &ShardOut)) {
        if let Some(sinks) = self.signals.as_mut() {
            for input in self.signal_inputs.iter_mut() {
                input.drain(64, |sig| {
                    sinks.on_signal(&sig);
                });
            }
        }
        for out in self.outputs.iter_mut() {
            let table = &*self.table;
            let seen = &mut self.bars_seen;
            let influx = &mut self.influx;
            let monitor = &mut self.monitor;
            out.drain(4096, |item| {
                *seen += 1;
                let ShardOut::Bar(b) = &item;
                if let Some(sink) = influx.as_mut() {
                    sink.submit(b.market, b.second, &b.bar);
                }
                if let Some(m) = monitor.as_mut() {
                    m.on_bar(b);
                }
                on_bar(table, &item);
            });
        }
        let now_us = feeds::clock::wall_us();
        for input in self.gap_records.iter_mut() {
            let (table, journal) = (&*self.table, &mut self.gap_journal);
            let monitor = &mut self.monitor;
            input.drain(256, |r| {
                journal.write(table, &r, now_us);
                if let Some(m) = monitor.as_mut() {
                    m.on_gap_at(&r, now_us);
                }
            });
        }
        if self.monitor.as_ref().is_some_and(|m| m.due()) {
            self.publish_monitor(false);
        }
        if self.last_sync.elapsed() >= self.sync_interval {
            self.last_sync = Instant::now();
            self.sync_files();
        }
        let due = self
            .last_retention
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(3600));
        if due && self.retention_days > 0 {
            self.last_retention = Some(Instant::now());
            let today = feeds::clock::wall_us().div_euclid(86_400_000_000);
            match Store::new(&self.data_dir).retain(self.retention_days, today) {
                Ok(0) => {}
                Ok(n) => log::info!(
                    "retention: deleted {n} day files older than {} days",
                    self.retention_days
                ),
                Err(e) => log::error!("retention: {e}"),
            }
        }
    }

    /// Write today's bar and open-interest pages back to disk (fdatasync through a separate descriptor: the
    /// shared mapping and the descriptor share the page cache, so the shards make no syscall).
    fn sync_files(&self) {
        let day = feeds::clock::wall_us().div_euclid(86_400_000_000);
        for (_, m) in self.table.iter() {
            // Bars, and the open-interest series of the markets that have one.
            for path in [
                store::day_path(&self.data_dir, &m.id, day),
                store::oi_day_path(&self.data_dir, &m.id, day),
            ] {
                let Ok(path) = path else { continue };
                if let Ok(f) = std::fs::File::open(&path) {
                    if let Err(e) = f.sync_data() {
                        log::error!("syncing {}: {e}", path.display());
                    }
                }
            }
        }
    }

    /// Whether a hot thread has exited on its own (an error); the caller should shut down.
    pub fn any_thread_finished(&self) -> bool {
        self.feeds.iter().any(|h| h.is_finished()) || self.shards.iter().any(|h| h.is_finished())
    }

    /// Stop feeds, let shards drain and close every open bar, sync files, merge histograms.
    pub fn shutdown(mut self, on_bar: &mut dyn FnMut(&MarketTable, &ShardOut)) -> Summary {
        self.stop.stop();
        let mut summary = Summary {
            tick_to_bar_ns: latency_histogram(),
            decode_ns: latency_histogram(),
            network_us: latency_histogram(),
            strategy_eval_ns: latency_histogram(),
            close_to_journal_ns: latency_histogram(),
        };
        // Feeds close their connections (and an inline shard closes its bars) before they
        // return; keep draining outputs meanwhile so nothing blocks on a full ring.
        let feeds = std::mem::take(&mut self.feeds);
        while feeds.iter().any(|h| !h.is_finished()) {
            self.io_step(on_bar);
            std::thread::sleep(Duration::from_millis(1));
        }
        for h in feeds {
            match h.join() {
                Ok(Ok(r)) => {
                    let _ = summary.decode_ns.add(&r.decode_ns);
                    let _ = summary.network_us.add(&r.network_us);
                    if let Some(shard) = &r.shard {
                        let _ = summary.tick_to_bar_ns.add(&shard.tick_to_bar_ns);
                        let _ = summary.strategy_eval_ns.add(&shard.strategy_eval_ns);
                    }
                }
                Ok(Err(e)) => log::error!("feed thread failed: {e}"),
                Err(_) => log::error!("feed thread panicked"),
            }
        }
        if let Some(worker) = self.backfill.take() {
            worker.stop.stop();
            if worker.handle.join().is_err() {
                log::error!("backfill thread panicked");
            }
            let st = &worker.stats;
            log::info!(
                "backfill: {} jobs ({} complete, {} incomplete), {} trades recovered in {} requests ({} rate-limited, {} errors)",
                st.jobs.get(),
                st.complete.get(),
                st.incomplete.get(),
                st.trades.get(),
                st.requests.get(),
                st.rate_limited.get(),
                st.http_errors.get()
            );
        }
        // Every feed thread has dropped its capture handle: write out what the rings hold.
        if let Some(w) = self.capture.take() {
            w.finish();
        }
        // Shards finish once their inputs are abandoned and drained; keep draining their
        // outputs meanwhile so they never block on a full ring.
        let shards = std::mem::take(&mut self.shards);
        while shards.iter().any(|h| !h.is_finished()) {
            self.io_step(on_bar);
            std::thread::sleep(Duration::from_millis(1));
        }
        for h in shards {
            match h.join() {
                Ok(r) => {
                    let _ = summary.tick_to_bar_ns.add(&r.tick_to_bar_ns);
                    let _ = summary.strategy_eval_ns.add(&r.strategy_eval_ns);
                }
                Err(_) => log::error!("shard thread panicked"),
            }
        }
        self.io_step(on_bar);
        self.sync_files();
        self.publish_monitor(true);
        if let Some(sinks) = self.signals.take() {
            let _ = summary.close_to_journal_ns.add(&sinks.close_to_journal_ns);
            sinks.finish();
        }
        if let Some(sink) = self.influx.take() {
            let st = sink.shutdown(Duration::from_secs(10));
            log::info!(
                "influx: {} points written ({} rollup), {} rejected, {} dropped, {} waiting in the backlog",
                st.written,
                st.rollup_written,
                st.rejected,
                st.dropped,
                st.backlog_points
            );
        }
        summary
    }
}

/// Start-up recovery of every market's bar files (see [`store::recover_market`]): returns,
/// per market index, the last closed second to resume after (`None` when there is none, or
/// when `resume` is off).
fn recover_store(
    data_dir: &std::path::Path,
    table: &MarketTable,
    resume: bool,
) -> Vec<Option<i64>> {
    let today = feeds::clock::wall_us().div_euclid(86_400_000_000);
    let now_s = feeds::clock::wall_us().div_euclid(1_000_000);
    let mut out = vec![None; table.len()];
    let (mut cleared, mut resumed, mut oldest) = (0u32, 0usize, i64::MAX);
    for (idx, m) in table.iter() {
        match store::recover_market(data_dir, &m.id, today) {
            Ok(r) => {
                cleared += r.cleared_open;
                if let (Some(last), true) = (r.last_closed, resume) {
                    out[idx as usize] = Some(last);
                    resumed += 1;
                    oldest = oldest.min(last);
                }
            }
            Err(e) => log::error!("restart recovery of {}: {e}", m.id),
        }
    }
    if cleared > 0 {
        log::warn!(
            "restart: removed {cleared} bar(s) left open by the previous run (their trades come back with the downtime backfill)"
        );
    }
    if resumed > 0 {
        log::info!(
            "restart: {resumed} market(s) resume after their last closed bar (the oldest {} s ago); their downtime is backfilled where the venue allows",
            now_s - oldest
        );
    }
    out
}
