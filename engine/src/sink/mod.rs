//! Where validated signals go, on the IO thread: the daily JSONL journal (always), stdout
//! (optional), Redis (optional, [`redis`]: the layout FreqTrade's strategy reads, with a bounded
//! backlog while Redis is down), and the paper-position file that lets a restart keep open
//! positions. Slow sinks run on helper threads of the IO core; the hot threads never wait.

pub mod journal;
pub mod positions;
pub mod redis;

use crate::stats::latency_histogram;
use crate::strategy::signal::signal_json;
use crate::strategy::{SignalEvent, SymbolSpec};
use hdrhistogram::Histogram;
use std::io::Write;
use std::path::Path;

pub use journal::Journal;
pub use positions::PositionBook;

/// Totals of the sinks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkCounts {
    pub signals: u64,
    pub journal_errors: u64,
    pub position_errors: u64,
}

/// Every sink a signal goes to, in order: journal, positions, stdout, Redis.
#[derive(Debug)]
pub struct Signals {
    specs: Vec<SymbolSpec>,
    ttl_s: u64,
    journal: Journal,
    positions: PositionBook,
    stdout: bool,
    /// Stamp live latency (bar close → signal) into the JSON; off for replay, whose journal
    /// must be identical run to run.
    live: bool,
    /// Bar close → signal journaled, ns (live only).
    pub close_to_journal_ns: Histogram<u64>,
    counts: SinkCounts,
    redis: Option<redis::RedisSink>,
}

impl Signals {
    /// Journal under `<data>/signals/`, positions in `<data>/strategy/positions.json`.
    pub fn new(
        data_dir: &Path,
        specs: Vec<SymbolSpec>,
        ttl_s: u64,
        stdout: bool,
        live: bool,
    ) -> Signals {
        Signals {
            specs,
            ttl_s,
            journal: Journal::new(data_dir),
            positions: PositionBook::new(data_dir),
            stdout,
            live,
            close_to_journal_ns: latency_histogram(),
            counts: SinkCounts::default(),
            redis: None,
        }
    }

    /// Also publish every signal to Redis.
    pub fn with_redis(mut self, sink: redis::RedisSink) -> Signals {
        self.redis = Some(sink);
        self
    }

    /// The Redis sink, if Redis is on (the monitor publishes alerts through it).
    pub fn redis(&self) -> Option<&redis::RedisSink> {
        self.redis.as_ref()
    }

    /// The Redis sink's counters, if Redis is on.
    pub fn redis_stats(&self) -> Option<redis::RedisStats> {
        self.redis.as_ref().map(|r| r.stats())
    }

    /// Flush Redis (up to 3 s) and say what could not be published.
    pub fn finish(self) {
        if let Some(r) = self.redis {
            let report = r.shutdown(std::time::Duration::from_secs(3));
            if report.remaining > 0 {
                log::warn!(
                    "redis: {} signals not published at shutdown (they are in the journal)",
                    report.remaining
                );
            }
        }
    }

    pub fn specs(&self) -> &[SymbolSpec] {
        &self.specs
    }

    pub fn counts(&self) -> SinkCounts {
        self.counts
    }

    pub fn positions(&self) -> &PositionBook {
        &self.positions
    }

    /// Journal, persist, print; returns the JSON line (for Redis) or `None` for a signal of an
    /// unknown symbol index (a wiring bug, logged).
    pub fn on_signal(&mut self, sig: &SignalEvent) -> Option<String> {
        let Some(spec) = self.specs.get(sig.symbol as usize) else {
            log::error!("signal for unknown symbol index {}", sig.symbol);
            return None;
        };
        let latency = self
            .live
            .then(|| sig.signal_ns.saturating_sub(sig.bar_close_ns));
        let line = signal_json(sig, spec, self.ttl_s, latency).to_string();
        self.counts.signals += 1;
        if let Err(e) = self.journal.append(sig.time, &line) {
            self.counts.journal_errors += 1;
            log::error!("signal journal: {e}; the signal follows so it is not lost: {line}");
        }
        if self.live {
            let now = feeds::clock::mono_ns();
            let _ = self
                .close_to_journal_ns
                .record(now.saturating_sub(sig.bar_close_ns).max(1));
        }
        if let Err(e) = self.positions.apply(&spec.base, sig) {
            self.counts.position_errors += 1;
            log::error!("paper positions: {e}");
        }
        log::info!(
            "signal {} {} score {:.2} at {} ({})",
            sig.action.as_str(),
            spec.pair,
            sig.score,
            sig.price,
            crate::strategy::signal::iso_time(sig.time)
        );
        if let Some(r) = &self.redis {
            if let Err(e) = r.submit(redis::OutSignal {
                symbol: spec.pair.clone(),
                json: line.clone(),
                created_unix_ms: feeds::clock::wall_us() / 1000,
                ttl_s: self.ttl_s,
            }) {
                log::error!("redis: signal not queued: {e}");
            }
        }
        if self.stdout {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        Some(line)
    }
}
