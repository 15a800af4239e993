//! The shard: folds ticks into bars (written through to the store), closes bars on the wall
//! clock, and hands closed bars and latency summaries to the IO thread.
//!
//! [`ShardCore`] is the work; [`Shard`] runs it on its own thread behind SPSC rings. On machines
//! with 1–2 cores the feed thread drives a `ShardCore` itself (no ring hop, no wake-up), which is
//! what `CoreMap::auto` chooses there.

use crate::aggregate::{Aggregator, ClosedBar};
use crate::market::{MarketTable, Tick};
use crate::ring::{Consumer, Producer};
use crate::route::should_sample;
use crate::runtime::{IdlePolicy, Sleeper, StopFlag};
use crate::stats::{latency_histogram, Percentiles, ShardStats};
use crate::strategy::{SignalEvent, Strategy};
use feeds::clock::{mono_ns, wall_us};
use hdrhistogram::Histogram;
use std::path::Path;
use std::sync::Arc;

/// What a shard sends to the IO thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ShardOut {
    Bar(ClosedBar),
}

/// What a shard hands back when it stops.
#[derive(Debug)]
pub struct ShardReport {
    pub id: usize,
    pub tick_to_bar_ns: Histogram<u64>,
    /// Time to evaluate every symbol of the shard for one second (strategy on only).
    pub strategy_eval_ns: Histogram<u64>,
}

/// Ticks taken from one ring per drain call: bounds the time between wall-clock checks.
const DRAIN_BATCH: usize = 256;
/// How often the wall clock is compared with open bars (ns).
const CLOSE_CHECK_NS: u64 = 5_000_000;
/// How often latency percentiles are published (ns).
const PUBLISH_NS: u64 = 1_000_000_000;

/// The markets one shard owns and everything it needs to aggregate them.
#[derive(Debug)]
pub struct ShardCore {
    pub id: usize,
    agg: Aggregator,
    out: Producer<ShardOut>,
    stats: Arc<ShardStats>,
    tick_to_bar: Histogram<u64>,
    strategy_eval: Histogram<u64>,
    grace_us: i64,
    last_close_check: u64,
    last_publish: u64,
    strategy: Option<Strategy>,
    signals: Option<Producer<SignalEvent>>,
}

impl ShardCore {
    /// A shard owning the markets of `table` assigned to `id`; today's day files are opened
    /// now so the first tick does not pay for it.
    pub fn new(
        id: usize,
        table: &MarketTable,
        data_dir: &Path,
        out: Producer<ShardOut>,
        stats: Arc<ShardStats>,
        grace_ms: u64,
    ) -> ShardCore {
        let mut agg = Aggregator::new(data_dir);
        for (idx, m) in table.iter() {
            if m.shard == id {
                agg.add_market(idx, &m.id);
            }
        }
        let today = wall_us().div_euclid(86_400_000_000);
        if let Err(e) = agg.prepare_day(today) {
            log::error!("shard {id}: opening today's bar files: {e}");
        }
        ShardCore {
            id,
            agg,
            out,
            stats,
            tick_to_bar: latency_histogram(),
            strategy_eval: latency_histogram(),
            grace_us: grace_ms as i64 * 1000,
            last_close_check: 0,
            last_publish: mono_ns(),
            strategy: None,
            signals: None,
        }
    }

    /// Run `strategy` on this shard's closed bars; validated signals go to `signals`.
    pub fn with_strategy(
        mut self,
        strategy: Strategy,
        signals: Producer<SignalEvent>,
    ) -> ShardCore {
        self.strategy = Some(strategy);
        self.signals = Some(signals);
        self
    }

    pub fn strategy(&self) -> Option<&Strategy> {
        self.strategy.as_ref()
    }

    /// Fold one tick into its bar and record tick-to-bar latency.
    #[inline]
    pub fn on_tick(&mut self, tick: &Tick) {
        let (out, stats) = (&mut self.out, &*self.stats);
        let (strategy, signals) = (&mut self.strategy, &mut self.signals);
        let recv_ns = tick.recv_ns;
        if let Err(e) = self.agg.on_tick(tick, &mut |b| {
            push_out(out, stats, ShardOut::Bar(b));
            if let (Some(st), Some(sig)) = (strategy.as_mut(), signals.as_mut()) {
                st.on_bar(&b, recv_ns, &mut |s| push_out(sig, stats, s));
            }
        }) {
            // A full disk or a damaged file would fail every tick: count them all, log a sample.
            stats.store_errors.inc();
            if should_sample(stats.store_errors.get()) {
                log::error!(
                    "shard {}: {e} ({} bar-store errors so far)",
                    self.id,
                    stats.store_errors.get()
                );
            }
        }
        // Open-interest readings and control records update no bar: they stay out of the
        // tick-to-bar latency.
        if matches!(
            tick.kind,
            feeds::EventKind::Trade | feeds::EventKind::Liquidation
        ) {
            let _ = self
                .tick_to_bar
                .record(mono_ns().saturating_sub(tick.recv_ns).max(1));
        }
    }

    /// Periodic work: close bars whose grace has passed, publish counters and percentiles.
    #[inline]
    pub fn on_clock(&mut self, now_ns: u64) {
        if now_ns.saturating_sub(self.last_close_check) >= CLOSE_CHECK_NS {
            self.last_close_check = now_ns;
            let wall = wall_us();
            let (out, stats) = (&mut self.out, &*self.stats);
            let (strategy, signals) = (&mut self.strategy, &mut self.signals);
            if let Err(e) = self.agg.close_due(wall, self.grace_us, &mut |b| {
                push_out(out, stats, ShardOut::Bar(b));
                if let (Some(st), Some(sig)) = (strategy.as_mut(), signals.as_mut()) {
                    st.on_bar(&b, now_ns, &mut |s| push_out(sig, stats, s));
                }
            }) {
                self.stats.store_errors.inc();
                log::error!("shard {}: {e}", self.id);
            }
            // Every bar of seconds up to `complete` is closed now (a trade later than the
            // grace amends the store but is late for the strategy).
            let complete = (wall - self.grace_us).div_euclid(1_000_000) - 1;
            self.advance_strategy(complete, now_ns);
            self.sync_stats();
        }
        if now_ns.saturating_sub(self.last_publish) >= PUBLISH_NS {
            self.last_publish = now_ns;
            self.publish_latency();
        }
    }

    /// Close every open bar, flush, and hand back the histogram.
    pub fn finish(mut self) -> ShardReport {
        let (out, stats) = (&mut self.out, &*self.stats);
        if let Err(e) = self
            .agg
            .close_all(&mut |b| push_out(out, stats, ShardOut::Bar(b)))
        {
            self.stats.store_errors.inc();
            log::error!("shard {}: {e}", self.id);
        }
        if let Err(e) = self.agg.flush() {
            log::error!("shard {}: flushing bar files: {e}", self.id);
        }
        let complete = (wall_us() - self.grace_us).div_euclid(1_000_000) - 1;
        self.advance_strategy(complete, mono_ns());
        self.sync_stats();
        self.publish_latency();
        ShardReport {
            id: self.id,
            tick_to_bar_ns: self.tick_to_bar,
            strategy_eval_ns: self.strategy_eval,
        }
    }

    /// Evaluate the strategy for every second up to `complete`.
    #[inline]
    fn advance_strategy(&mut self, complete: i64, now_ns: u64) {
        let stats = &*self.stats;
        if let (Some(st), Some(sig)) = (self.strategy.as_mut(), self.signals.as_mut()) {
            if st.last_second().is_none_or(|s| complete > s) {
                let t0 = mono_ns();
                st.advance(complete, now_ns, &mut |s| push_out(sig, stats, s));
                let _ = self
                    .strategy_eval
                    .record(mono_ns().saturating_sub(t0).max(1));
            }
        }
    }

    fn sync_stats(&self) {
        let a = self.agg.stats();
        let s = &self.stats;
        s.ticks.add(a.ticks - s.ticks.get());
        s.bars_closed.add(a.bars_closed - s.bars_closed.get());
        s.late_ticks.add(a.late_ticks - s.late_ticks.get());
        if let Some(st) = &self.strategy {
            let c = st.counters();
            s.evaluations.add(c.evaluations - s.evaluations.get());
            s.signals.add(c.signals - s.signals.get());
            let rejected = c.rejected_duplicate + c.rejected_hourly + c.rejected_range;
            s.signals_rejected.add(rejected - s.signals_rejected.get());
            s.strategy_late_bars
                .add(c.late_bars - s.strategy_late_bars.get());
        }
    }

    fn publish_latency(&self) {
        let p = Percentiles::of(&self.tick_to_bar);
        self.stats.tick_to_bar_p50_ns.set(p.p50);
        self.stats.tick_to_bar_p99_ns.set(p.p99);
        self.stats.tick_to_bar_p999_ns.set(p.p999);
        self.stats.tick_to_bar_max_ns.set(p.max);
        if self.strategy.is_some() {
            let e = Percentiles::of(&self.strategy_eval);
            self.stats.strategy_eval_p50_ns.set(e.p50);
            self.stats.strategy_eval_p99_ns.set(e.p99);
        }
    }
}

/// A shard on its own thread, fed by one SPSC ring per feed thread.
#[derive(Debug)]
pub struct Shard {
    core: ShardCore,
    inputs: Vec<Consumer<Tick>>,
}

impl Shard {
    pub fn new(core: ShardCore, inputs: Vec<Consumer<Tick>>) -> Shard {
        Shard { core, inputs }
    }

    /// Run until `stop` is set and every producer has finished, then close every open bar.
    /// `sleeper` must belong to the calling thread; the feeds hold its `Waker`.
    pub fn run(mut self, idle: IdlePolicy, stop: &StopFlag, sleeper: &Sleeper) -> ShardReport {
        let mut idle_since: Option<u64> = None;
        loop {
            let mut got = 0;
            for input in self.inputs.iter_mut() {
                let core = &mut self.core;
                got += input.drain(DRAIN_BATCH, |tick| core.on_tick(&tick));
            }
            let now = mono_ns();
            self.core.on_clock(now);
            if got > 0 {
                idle_since = None;
                continue;
            }
            let all_done = self.inputs.iter().all(|c| c.is_abandoned() && c.is_empty());
            if all_done && (stop.is_set() || self.inputs.is_empty()) {
                break;
            }
            if idle.busy_poll {
                std::hint::spin_loop();
                continue;
            }
            let since = *idle_since.get_or_insert(now);
            if now - since < idle.spin.as_nanos() as u64 {
                std::hint::spin_loop();
            } else {
                let inputs = &self.inputs;
                sleeper.park(idle.park, || inputs.iter().any(|c| !c.is_empty()));
            }
        }
        self.core.finish()
    }
}

/// Push to an IO ring (closed bars, signals); a full ring is never dropped: spin until the IO
/// thread makes room, counting the back-pressure once per occurrence. The signal ring is sized
/// far beyond the validator's hourly limit, so it spins only if the IO thread is stuck.
#[inline]
fn push_out<T>(out: &mut Producer<T>, stats: &ShardStats, item: T) {
    let mut item = item;
    let mut counted = false;
    loop {
        match out.try_push(item) {
            Ok(()) => return,
            Err(back) => {
                if out.is_abandoned() {
                    return;
                }
                if !counted {
                    stats.out_ring_full.inc();
                    counted = true;
                }
                item = back;
                std::hint::spin_loop();
            }
        }
    }
}
