//! The benchmark harness: an in-memory / loopback tape of real Binance frames driven through
//! our pipeline (`ours`) and through the conventional tokio + tokio-tungstenite + serde_json
//! stack (`baseline`), with HDR latency histograms and counts that let tests check that every
//! message was accounted for and both produced the same bars. Criterion micro-benchmarks live
//! in `benches/`; the `harness` binary in `src/bin/`.

pub mod baseline;
pub mod gen;
pub mod modes;
pub mod ours;
pub mod report;
pub mod sender;

use hdrhistogram::Histogram;

/// One closed 1-second bar, in a form both pipelines can produce and compare exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct BarRow {
    /// Exchange symbol (`BTCUSDT`).
    pub symbol: String,
    /// Bar start, seconds since the epoch.
    pub second: i64,
    /// Buy / sell trade counts.
    pub cbuy: u32,
    /// Sell trade count.
    pub csell: u32,
    /// Open, high, low, close.
    pub ohlc: [f64; 4],
    /// Buy and sell notional.
    pub vbuy: f64,
    /// Sell notional.
    pub vsell: f64,
}

/// Sorts bars by (symbol, second) so two runs can be compared.
pub fn sort_bars(bars: &mut [BarRow]) {
    bars.sort_by(|a, b| a.symbol.cmp(&b.symbol).then(a.second.cmp(&b.second)));
}

/// A named latency histogram (ns).
#[derive(Debug)]
pub struct Stage {
    /// What is measured (`scheduled send → bar updated`).
    pub name: &'static str,
    /// Nanoseconds.
    pub hist: Histogram<u64>,
}

/// The outcome of one run of one pipeline.
#[derive(Debug, Default)]
pub struct RunResult {
    /// `ours/loopback`, `baseline/replay`, …
    pub name: String,
    /// Frames the pipeline took in.
    pub frames: u64,
    /// Trades folded into bars.
    pub trades: u64,
    /// Frames that failed to decode (must be 0 on the benchmark tape).
    pub errors: u64,
    /// From the first frame due to the last trade folded.
    pub elapsed_ns: u64,
    /// Latency histograms.
    pub stages: Vec<Stage>,
    /// Every bar closed, sorted (a soak keeps none: see `bars_closed`).
    pub bars: Vec<BarRow>,
    /// Bars closed (soak runs count them without keeping them).
    pub bars_closed: u64,
    /// Soak samples (empty otherwise).
    pub samples: Vec<Sample>,
    /// CPU time of the pipeline's own threads (the sender's excluded), ns, from each thread's
    /// `schedstat`.
    pub cpu_ns: u64,
}

impl RunResult {
    /// Trades per second over the run.
    pub fn rate(&self) -> f64 {
        if self.elapsed_ns == 0 {
            0.0
        } else {
            self.trades as f64 * 1e9 / self.elapsed_ns as f64
        }
    }

    /// Trades per CPU-second of the pipeline (0 if CPU time was not measured).
    pub fn per_cpu_second(&self) -> f64 {
        if self.cpu_ns == 0 {
            0.0
        } else {
            self.trades as f64 * 1e9 / self.cpu_ns as f64
        }
    }

    /// The stage called `name`.
    pub fn stage(&self, name: &str) -> Option<&Histogram<u64>> {
        self.stages.iter().find(|s| s.name == name).map(|s| &s.hist)
    }
}

/// One soak sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Seconds since the run started.
    pub at_s: f64,
    /// Resident set size, bytes.
    pub rss: u64,
    /// Trades in the interval.
    pub trades: u64,
    /// p50 / p99 / max of the interval (ns, scheduled send → bar updated).
    pub p50: u64,
    /// p99 of the interval.
    pub p99: u64,
    /// Max of the interval.
    pub max: u64,
}

/// A latency histogram, 1 ns … 60 s, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    engine::stats::latency_histogram()
}

/// Resident set size of this process (bytes), from `/proc/self/statm`.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// The first two cores this process may run on (sender/feed, receiver/shard), looked up
/// before anything is pinned.
pub fn two_cores() -> (Option<core_affinity::CoreId>, Option<core_affinity::CoreId>) {
    match core_affinity::get_core_ids().as_deref() {
        Some([a, b, ..]) => (Some(*a), Some(*b)),
        Some([a]) => (Some(*a), Some(*a)),
        _ => (None, None),
    }
}

/// CPU time of the calling thread so far, ns (`/proc/thread-self/schedstat`).
pub fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
