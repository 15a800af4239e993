//! Counters and latency summaries each hot thread publishes for the IO core.
//!
//! Every counter has exactly one writing thread, so increments are a relaxed load + store (a
//! plain `mov` on x86, no locked instruction); readers on other threads see a recent value.

use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A monotonically increasing count with a single writer.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Add `n`. Only the owning thread may call this (single writer).
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    #[inline]
    pub fn inc(&self) {
        self.add(1)
    }

    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A value overwritten by its single writer (gauges, published percentiles).
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// What one feed thread counts (all venues it serves).
#[derive(Debug, Default)]
pub struct FeedStats {
    /// Text frames received.
    pub frames: Counter,
    /// Normalized events produced and routed to a shard.
    pub events: Counter,
    /// Frames that were not valid JSON.
    pub malformed: Counter,
    /// Frames with missing/mistyped fields or unparsable numbers.
    pub bad_fields: Counter,
    /// Valid JSON of a shape the adapter does not know.
    pub unknown_messages: Counter,
    /// Events for a symbol the engine does not follow.
    pub unknown_symbols: Counter,
    /// Subscribe acknowledgements.
    pub acks: Counter,
    /// Error replies from a venue.
    pub venue_errors: Counter,
    /// Server shutdown notices.
    pub shutdown_notices: Counter,
    /// Valid frames of channels we do not turn into events.
    pub other_frames: Counter,
    /// Open-interest readings of followed markets, routed to the shard's open-interest series
    /// (not part of bars, not counted in `events`).
    pub open_interest: Counter,
    /// Times a push found the shard's ring full and had to back off.
    pub ring_full: Counter,
    /// Connections opened (including reconnects).
    pub connects: Counter,
    /// Connections lost (closed or failed).
    pub disconnects: Counter,
    /// Connections currently open.
    pub open_connections: Gauge,
    /// Receive → frame decoded and routed (with an inline shard: bars updated too), ns.
    pub decode_p50_ns: Gauge,
    pub decode_p99_ns: Gauge,
    /// Exchange time → receive (network latency + clock offset), µs, over the last second.
    pub network_p50_us: Gauge,
    pub network_p99_us: Gauge,
    /// Tail and worst of the two histograms above, since start.
    pub decode_p999_ns: Gauge,
    pub decode_max_ns: Gauge,
    pub network_p999_us: Gauge,
    pub network_max_us: Gauge,
    /// Items in the fullest feed → shard ring, and its capacity, at the last publish (once a
    /// second; zero with an inline shard).
    pub shard_ring_depth: Gauge,
    pub shard_ring_capacity: Gauge,
    /// Connections dropped by the staleness watchdog.
    pub stale: Counter,
    /// Messages larger than the client accepts (the connection is closed with 1009 and
    /// reconnected).
    pub oversized: Counter,
    /// Planned rotations completed (replacement subscribed, old connection closed).
    pub rotations: Counter,
    /// Trades dropped as already seen (replayed snapshots, rotation overlap, duplicates).
    pub duplicates: Counter,
    /// Gaps found (missing ids, reconnect windows, downtime), recovered, not recovered.
    pub gaps_opened: Counter,
    pub gaps_recovered: Counter,
    pub gaps_unrecovered: Counter,
    /// Trades found missing by contiguous ids (exact).
    pub trades_missing: Counter,
    /// Trades recovered by REST backfill into the bars.
    pub trades_recovered: Counter,
    /// Recovered trades not used (seen already, or outside every open gap).
    pub backfill_dropped: Counter,
    /// Id holes filled by a late frame before they counted as gaps.
    pub reordered: Counter,
    /// Gap records the IO thread's ring had no room for (they are still logged).
    pub records_dropped: Counter,
    /// The wait scheduled before the last reconnect, ms.
    pub last_reconnect_wait_ms: Gauge,
    /// Per connection, in the order of the feed thread's subscriptions (for per-venue stats).
    pub conns: Vec<ConnStats>,
}

/// One connection (subscription) of a feed thread.
#[derive(Debug, Default)]
pub struct ConnStats {
    /// 1 while open.
    pub open: Gauge,
    pub connects: Counter,
    /// Lost while running (each is followed by a reconnect).
    pub disconnects: Counter,
    pub frames: Counter,
}

impl FeedStats {
    /// Counters for a feed thread with `connections` subscriptions.
    pub fn with_connections(connections: usize) -> FeedStats {
        FeedStats {
            conns: (0..connections).map(|_| ConnStats::default()).collect(),
            ..FeedStats::default()
        }
    }

    /// All frames that failed to decode.
    pub fn decode_errors(&self) -> u64 {
        self.malformed.get() + self.bad_fields.get() + self.unknown_messages.get()
    }
}

/// What one shard counts.
#[derive(Debug, Default)]
pub struct ShardStats {
    pub ticks: Counter,
    pub bars_closed: Counter,
    pub late_ticks: Counter,
    pub store_errors: Counter,
    /// Times a push to the IO ring found it full.
    pub out_ring_full: Counter,
    /// Tick-to-bar (socket read returned → bar slot updated), ns, since start.
    pub tick_to_bar_p50_ns: Gauge,
    pub tick_to_bar_p99_ns: Gauge,
    pub tick_to_bar_p999_ns: Gauge,
    pub tick_to_bar_max_ns: Gauge,
    /// Strategy evaluations (symbol × second), signals sent, signals the validator rejected,
    /// closed bars that reached the strategy after their second was evaluated.
    pub evaluations: Counter,
    pub signals: Counter,
    pub signals_rejected: Counter,
    pub strategy_late_bars: Counter,
    /// Time to evaluate the shard's symbols for one second, ns, since start.
    pub strategy_eval_p50_ns: Gauge,
    pub strategy_eval_p99_ns: Gauge,
}

/// HDR percentiles of one histogram, for printing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Percentiles {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        Percentiles {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// A latency histogram from 1 ns to 60 s with 3 significant digits, allocated once at start-up.
pub fn latency_histogram() -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts (low ≥ 1, high ≥ 2 × low, sigfig ≤ 5).
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}
