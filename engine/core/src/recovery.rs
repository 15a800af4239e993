//! The feed threads' side of REST backfill: the [`BackfillJob`] a feed sends when continuity
//! finds a gap, the [`BackfillOut`] answers it reads back, and the SPSC ring pair between a feed
//! and the worker ([`links`]). The worker itself (HTTP, pacing, venue parsers) is cold:
//! `engine::backfill`.

use crate::market::{MarketIdx, Tick};
use crate::ring::{self, Consumer, Producer};

/// One window of one market to recover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackfillJob {
    /// Gap id, unique per engine run.
    pub gap: u64,
    /// Index into the engine's [`MarketTable`](crate::market::MarketTable) (venue and symbol come from there).
    pub market: MarketIdx,
    /// Window start, inclusive (exchange time, µs).
    pub from_ts_us: i64,
    /// Window end, inclusive.
    pub to_ts_us: i64,
    /// Last trade id seen before the gap; 0 = unknown.
    pub after_id: u64,
    /// First trade id seen after the gap; 0 = unknown.
    pub before_id: u64,
}

/// What the worker sends back to a feed thread.
#[derive(Debug, Clone, Copy)]
pub enum BackfillOut {
    /// A recovered trade (`market` set, `recv_ns` = `mono_ns()` when its page arrived),
    /// ascending by `(ts, id)` within one job. Only trades inside the window; on venues with
    /// monotonic ids ([`feeds::rest::ids_monotonic`]) only those whose ids fall between a
    /// non-zero `after_id` and a non-zero `before_id`. Deribit trades flagged as liquidations
    /// come back as liquidation ticks, exactly as the WebSocket decoder makes them.
    Tick(Tick),
    /// The job is finished. `complete` = every page of the window was fetched and parsed.
    Done {
        gap: u64,
        market: MarketIdx,
        trades: u64,
        complete: bool,
        why: DoneWhy,
    },
}

/// Why a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoneWhy {
    /// Every page was fetched (with `complete: false` only when a venue page could not be
    /// stepped through, see [`feeds::rest::Pager::covered`]).
    Ok,
    /// No REST history for this venue, an unknown market, or backfill disabled.
    Unsupported,
    /// The window is older or longer than `max_window_s`, or older than the venue serves
    /// (Bybit keeps only its most recent trades).
    TooOld,
    /// Transport errors or `5xx` past `max_retries`, or the venue refused the request.
    Http,
    /// Still rate limited after `max_retries` waits (or told to wait too long).
    RateLimited,
    /// A response body that is not the venue's documented format.
    Parse,
    /// The engine is stopping.
    Stopped,
}

/// A feed thread's half of its ring pair: jobs out, results in.
#[derive(Debug)]
pub struct FeedLink {
    pub jobs: Producer<BackfillJob>,
    pub results: Consumer<BackfillOut>,
}

/// The worker's half of one feed's ring pair.
#[derive(Debug)]
pub struct WorkerLink {
    pub jobs: Consumer<BackfillJob>,
    pub results: Producer<BackfillOut>,
}

/// Jobs a feed can queue before its pushes fail (gaps are rare; a full ring is the feed's
/// to handle).
pub const JOB_RING: usize = 256;

/// One ring pair per feed thread: `results_capacity` recovered ticks may wait in each
/// results ring (the worker waits when it is full, it never drops).
pub fn links(feeds: usize, results_capacity: usize) -> (Vec<FeedLink>, Vec<WorkerLink>) {
    (0..feeds)
        .map(|_| {
            let (job_p, job_c) = ring::channel(JOB_RING);
            let (out_p, out_c) = ring::channel(results_capacity.max(2));
            (
                FeedLink {
                    jobs: job_p,
                    results: out_c,
                },
                WorkerLink {
                    jobs: job_c,
                    results: out_p,
                },
            )
        })
        .unzip()
}
