//! REST backfill: the IO core's worker that recovers the trades of gaps and reconnect windows
//! from the venues' public trade-history endpoints.
//!
//! Feed threads send [`BackfillJob`]s (a market, a time window, the trade ids around the gap)
//! through one SPSC ring pair each ([`links`]); the worker ([`spawn`], one thread) walks each
//! window page by page with [`feeds::rest::Pager`] over the small blocking HTTP client
//! ([`crate::instruments::http`]), paced per venue host under its public rate limit
//! ([`pace`]), and answers with the recovered trades ([`BackfillOut::Tick`], ascending by
//! `(ts, id)`, only inside the window and, on venues with monotonic ids, only ids between
//! the gap's bounds), then one [`BackfillOut::Done`] per job.
//!
//! Failures never panic and never hang a job: `429`/`418` and venue rate-limit bodies wait
//! `Retry-After` (or a backoff), `5xx` and I/O errors are retried with backoff, each at most
//! `max_retries` times per page; then the job ends `Done { complete: false, why }`.

pub mod pace;
mod worker;

pub use engine_core::recovery::{
    links, BackfillJob, BackfillOut, DoneWhy, FeedLink, WorkerLink, JOB_RING,
};

use crate::market::MarketTable;
use crate::runtime::StopFlag;
use crate::stats::Counter;
use serde::Deserialize;
use std::sync::Arc;
use std::thread::JoinHandle;

/// `[backfill]`: REST recovery of gaps.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct BackfillConfig {
    /// Recover gaps over REST. Default true; when false every job ends `Unsupported`.
    pub enabled: bool,
    /// One REST base URL for every venue (`http://127.0.0.1:8400`, a simulator); empty =
    /// each venue's real host ([`feeds::rest::default_host`]).
    pub base_url: String,
    /// Bound on each request (connect, TLS, response), ms. Default 10 000.
    pub timeout_ms: u64,
    /// Windows longer than this, or starting longer ago than this, are `TooOld`, s.
    /// Default 21 600 (6 h).
    pub max_window_s: u64,
    /// Retries per page after a `5xx`, an I/O error or a rate limit. Default 3.
    pub max_retries: u32,
}

impl Default for BackfillConfig {
    fn default() -> BackfillConfig {
        BackfillConfig {
            enabled: true,
            base_url: String::new(),
            timeout_ms: 10_000,
            max_window_s: 6 * 3600,
            max_retries: 3,
        }
    }
}

impl BackfillConfig {
    /// `(field, message)` for the first bad value.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if !self.base_url.is_empty() {
            crate::http_client::check_url(&self.base_url)
                .map_err(|e| ("backfill.base_url".to_string(), e.to_string()))?;
        }
        if self.timeout_ms == 0 {
            return Err((
                "backfill.timeout_ms".to_string(),
                "must be at least 1".to_string(),
            ));
        }
        if self.max_window_s == 0 {
            return Err((
                "backfill.max_window_s".to_string(),
                "must be at least 1".to_string(),
            ));
        }
        Ok(())
    }
}

/// What the worker counts (it is the only writer).
#[derive(Debug, Default)]
pub struct BackfillStats {
    /// Jobs received.
    pub jobs: Counter,
    /// Jobs that ended `complete: true` / `false`.
    pub complete: Counter,
    pub incomplete: Counter,
    /// HTTP requests sent (retries included).
    pub requests: Counter,
    /// Response pages parsed.
    pub pages: Counter,
    /// Trades sent back as ticks.
    pub trades: Counter,
    /// Parsed trades not sent: outside the window or the gap's ids / repeated by a later page.
    pub outside: Counter,
    pub duplicates: Counter,
    /// Failed requests: transport errors, `5xx`, other `4xx`, venue error bodies.
    pub http_errors: Counter,
    /// Bodies that did not parse.
    pub parse_errors: Counter,
    /// Rate-limit answers (`429`, `418`, venue rate-limit bodies).
    pub rate_limited: Counter,
    /// Waits ordered by a rate-limit answer (`Retry-After` or backoff).
    pub rate_limit_waits: Counter,
    /// Requests delayed by our own pacing (the venue's token bucket was empty).
    pub pace_waits: Counter,
    /// Jobs ended `TooOld` / `Unsupported`.
    pub too_old: Counter,
    pub unsupported: Counter,
    /// Times a result push found the feed's ring full and waited.
    pub out_ring_full: Counter,
}

/// Start the worker thread (`backfill`). It serves `links` until `stop` is set or every
/// feed's job ring is abandoned and drained. `instruments` must be the contract sizes the
/// feeds' decoders use; `tls` the roots `https://` hosts must chain to.
pub fn spawn(
    cfg: BackfillConfig,
    table: Arc<MarketTable>,
    instruments: Arc<feeds::Instruments>,
    tls: crate::instruments::http::Roots,
    links: Vec<WorkerLink>,
    stats: Arc<BackfillStats>,
    stop: StopFlag,
) -> std::io::Result<JoinHandle<()>> {
    let worker = worker::Worker::new(cfg, table, instruments, tls, stats, stop);
    std::thread::Builder::new()
        .name("backfill".to_string())
        .spawn(move || worker.run(links))
}
