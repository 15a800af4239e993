//! The backfill thread: jobs in, pages fetched and parsed, ticks and a `Done` out.

use super::pace::{self, Bucket};
use super::{BackfillConfig, BackfillJob, BackfillOut, BackfillStats, DoneWhy, WorkerLink};
use crate::backoff::exponential as backoff;
use crate::instruments::http;
use crate::market::{MarketTable, Tick};
use crate::ring::Producer;
use crate::runtime::StopFlag;
use feeds::rest::{self, Pager, RestError, RestParser, Window};
use feeds::{Event, Venue};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Backoff after a transport error or `5xx`: 250 ms, doubling, at most 10 s.
const TRANSIENT_BACKOFF: Duration = Duration::from_millis(250);
const TRANSIENT_BACKOFF_MAX: Duration = Duration::from_secs(10);
/// Wait after a rate-limit answer without `Retry-After`: 1 s, doubling, at most 60 s.
const RATE_BACKOFF: Duration = Duration::from_secs(1);
const RATE_BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A `Retry-After` longer than this ends the job (`RateLimited`) instead of blocking the
/// worker; the host stays blocked for the full time.
const MAX_RATE_WAIT: Duration = Duration::from_secs(120);
/// Longest single sleep, so that a stop is noticed promptly.
const SLEEP_SLICE: Duration = Duration::from_millis(50);
/// Idle poll interval of the job rings (the worker is not a hot thread).
const IDLE_POLL: Duration = Duration::from_millis(2);

pub(super) struct Worker {
    cfg: BackfillConfig,
    table: Arc<MarketTable>,
    /// Keeps connections to the venue hosts alive between pages.
    client: http::HttpClient,
    parser: RestParser,
    stats: Arc<BackfillStats>,
    stop: StopFlag,
    /// One bucket per REST host.
    buckets: HashMap<&'static str, Bucket>,
}

/// How a job went: why it ended, whether it covered the window.
struct Outcome {
    why: DoneWhy,
    complete: bool,
}

impl Outcome {
    fn failed(why: DoneWhy) -> Outcome {
        Outcome {
            why,
            complete: false,
        }
    }
}

/// The result of fetching one page.
enum Fetched {
    /// The page was parsed into `Event`s; `recv_ns` when its response arrived.
    Page {
        recv_ns: u64,
    },
    Failed(DoneWhy),
}

/// Tick sink of one job: filters, orders, de-duplicates and pushes.
struct Emit<'a> {
    venue: Venue,
    job: BackfillJob,
    out: &'a mut Producer<BackfillOut>,
    stats: &'a BackfillStats,
    stop: &'a StopFlag,
    /// `(ts, id)` of the last tick sent, for ids that pages repeat.
    last: Option<(i64, u64)>,
    sent: u64,
    /// The feed dropped its results ring, or the engine is stopping.
    gone: bool,
}

impl Emit<'_> {
    fn keep(&self, e: &Event) -> bool {
        if e.ts_us < self.job.from_ts_us || e.ts_us > self.job.to_ts_us {
            return false;
        }
        if !rest::ids_monotonic(self.venue) {
            return true;
        }
        let Some((first, last)) = rest::id_span(self.venue, e) else {
            return true;
        };
        let after = self.job.after_id;
        let before = self.job.before_id;
        !((after != 0 && last <= after) || (before != 0 && first >= before))
    }

    /// Sort `events` ascending by `(ts, id)` and send those in the job's bounds not sent yet.
    fn send(&mut self, events: &mut [Event], recv_ns: u64) {
        events.sort_by_key(|e| (e.ts_us, e.trade_id.unwrap_or(0)));
        let with_ids = rest::ids_monotonic(self.venue);
        for e in events.iter() {
            if self.gone {
                return;
            }
            if !self.keep(e) {
                self.stats.outside.inc();
                continue;
            }
            if let (true, Some(id), Some((_, last_id))) = (with_ids, e.trade_id, self.last) {
                if id <= last_id {
                    self.stats.duplicates.inc();
                    continue;
                }
            }
            let tick = Tick::from_event(self.job.market, e, recv_ns);
            if !push(self.out, BackfillOut::Tick(tick), self.stats, self.stop) {
                self.gone = true;
                return;
            }
            self.last = Some((e.ts_us, e.trade_id.unwrap_or(0)));
            self.sent += 1;
            self.stats.trades.inc();
        }
    }
}

/// Push `item`, waiting while the ring is full; `false` if the feed is gone or the engine
/// stops meanwhile.
fn push(
    out: &mut Producer<BackfillOut>,
    mut item: BackfillOut,
    stats: &BackfillStats,
    stop: &StopFlag,
) -> bool {
    let mut counted = false;
    loop {
        match out.try_push(item) {
            Ok(()) => return true,
            Err(back) => {
                if out.is_abandoned() || stop.is_set() {
                    return false;
                }
                if !counted {
                    stats.out_ring_full.inc();
                    counted = true;
                }
                item = back;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

impl Worker {
    pub(super) fn new(
        cfg: BackfillConfig,
        table: Arc<MarketTable>,
        instruments: Arc<feeds::Instruments>,
        tls: http::Roots,
        stats: Arc<BackfillStats>,
        stop: StopFlag,
    ) -> Worker {
        Worker {
            client: http::client(Duration::from_millis(cfg.timeout_ms), &tls),
            cfg,
            table,
            parser: RestParser::new(instruments),
            stats,
            stop,
            buckets: HashMap::new(),
        }
    }

    /// Serve the links round-robin until stopped or every feed is gone.
    pub(super) fn run(mut self, mut links: Vec<WorkerLink>) {
        log::info!(
            "backfill: worker serving {} feed thread(s){}",
            links.len(),
            if self.cfg.enabled { "" } else { " (disabled)" }
        );
        let mut next = 0usize;
        while !self.stop.is_set() {
            let mut worked = false;
            let mut live = 0;
            for k in 0..links.len() {
                let i = (next + k) % links.len();
                let link = &mut links[i];
                if !(link.jobs.is_abandoned() && link.jobs.is_empty()) {
                    live += 1;
                }
                if let Some(job) = link.jobs.try_pop() {
                    self.job(job, &mut link.results);
                    worked = true;
                    next = i + 1;
                    break;
                }
            }
            if live == 0 {
                break;
            }
            if !worked {
                std::thread::sleep(IDLE_POLL);
            }
        }
        log::info!("backfill: worker stopped");
    }

    fn job(&mut self, job: BackfillJob, out: &mut Producer<BackfillOut>) {
        self.stats.jobs.inc();
        let market = (job.market as usize) < self.table.len();
        let name = if market {
            self.table.get(job.market).id.clone()
        } else {
            format!("market #{}", job.market)
        };
        log::info!(
            "backfill: gap {} {name}: start, window {}..={} µs, ids ({}, {})",
            job.gap,
            job.from_ts_us,
            job.to_ts_us,
            job.after_id,
            job.before_id
        );
        let pages_before = self.stats.pages.get();
        let (outcome, sent) = if market {
            self.execute(job, out)
        } else {
            (Outcome::failed(DoneWhy::Unsupported), 0)
        };
        match outcome.why {
            DoneWhy::TooOld => self.stats.too_old.inc(),
            DoneWhy::Unsupported => self.stats.unsupported.inc(),
            _ => {}
        }
        if outcome.complete {
            self.stats.complete.inc();
        } else {
            self.stats.incomplete.inc();
        }
        let done = BackfillOut::Done {
            gap: job.gap,
            market: job.market,
            trades: sent,
            complete: outcome.complete,
            why: outcome.why,
        };
        let delivered = push(out, done, &self.stats, &self.stop);
        let line = format!(
            "backfill: gap {} {name}: done, {:?}, complete {}, {sent} trades, {} pages{}",
            job.gap,
            outcome.why,
            outcome.complete,
            self.stats.pages.get() - pages_before,
            if delivered { "" } else { " (not delivered)" }
        );
        if outcome.complete {
            log::info!("{line}");
        } else {
            log::warn!("{line}");
        }
    }

    /// Run one job; returns its outcome and the number of ticks sent.
    fn execute(&mut self, job: BackfillJob, out: &mut Producer<BackfillOut>) -> (Outcome, u64) {
        let m = self.table.get(job.market);
        let (venue, symbol) = (m.venue, m.symbol);
        if !self.cfg.enabled || !rest::supported(venue) {
            return (Outcome::failed(DoneWhy::Unsupported), 0);
        }
        if job.from_ts_us > job.to_ts_us {
            return (
                Outcome {
                    why: DoneWhy::Ok,
                    complete: true,
                },
                0,
            );
        }
        let max_us = i64::try_from(self.cfg.max_window_s)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000);
        let now_us = feeds::clock::wall_us();
        if job.to_ts_us.saturating_sub(job.from_ts_us) > max_us
            || now_us.saturating_sub(job.from_ts_us) > max_us
        {
            return (Outcome::failed(DoneWhy::TooOld), 0);
        }
        let window = Window {
            from_us: job.from_ts_us,
            to_us: job.to_ts_us,
            after_id: job.after_id,
            before_id: job.before_id,
        };
        let mut pager = match Pager::new(venue, symbol, window) {
            Ok(p) => p,
            Err(_) => return (Outcome::failed(DoneWhy::Unsupported), 0),
        };
        let base = if self.cfg.base_url.is_empty() {
            rest::default_host(venue).unwrap_or_default().to_string()
        } else {
            self.cfg.base_url.trim_end_matches('/').to_string()
        };
        let stats = self.stats.clone();
        let stop = self.stop.clone();
        let mut emit = Emit {
            venue,
            job,
            out,
            stats: &stats,
            stop: &stop,
            last: None,
            sent: 0,
            gone: false,
        };
        let newest_first = pager.newest_first();
        let mut held: Vec<Event> = Vec::new();
        let mut page: Vec<Event> = Vec::new();
        let mut held_recv_ns = 0;
        let mut failure = None;
        while let Some(path) = pager.request() {
            if self.stop.is_set() {
                failure = Some(DoneWhy::Stopped);
                break;
            }
            let url = format!("{base}{path}");
            page.clear();
            match self.fetch_page(venue, &url, &mut pager, &mut page) {
                Fetched::Page { recv_ns } => {
                    if newest_first {
                        held.append(&mut page);
                        held_recv_ns = recv_ns;
                    } else {
                        emit.send(&mut page, recv_ns);
                    }
                }
                Fetched::Failed(why) => {
                    failure = Some(why);
                    break;
                }
            }
            if emit.gone {
                failure = Some(DoneWhy::Stopped);
                break;
            }
        }
        // Trades of newest-first venues go out once the walk ended (or failed: what was
        // fetched is real and inside the window).
        if !held.is_empty() && failure != Some(DoneWhy::Stopped) {
            emit.send(&mut held, held_recv_ns);
        }
        let sent = emit.sent;
        if emit.gone {
            failure = Some(DoneWhy::Stopped);
        }
        let outcome = match failure {
            Some(why) => Outcome::failed(why),
            None if !pager.covered() && venue_recent_only(venue) => {
                Outcome::failed(DoneWhy::TooOld)
            }
            None => Outcome {
                why: DoneWhy::Ok,
                complete: pager.covered(),
            },
        };
        (outcome, sent)
    }

    /// Fetch and parse the pager's current page into `page`, with pacing and bounded retries.
    fn fetch_page(
        &mut self,
        venue: Venue,
        url: &str,
        pager: &mut Pager,
        page: &mut Vec<Event>,
    ) -> Fetched {
        let mut attempt = 0u32;
        loop {
            if let Err(why) = self.pace(venue) {
                return Fetched::Failed(why);
            }
            self.stats.requests.inc();
            let response = match http::fetch(&self.client, url) {
                Ok(r) => r,
                Err(e) => {
                    self.stats.http_errors.inc();
                    log::warn!("backfill: {e}");
                    match self.retry(&mut attempt, TRANSIENT_BACKOFF, TRANSIENT_BACKOFF_MAX) {
                        Ok(()) => continue,
                        Err(why) => return Fetched::Failed(why.unwrap_or(DoneWhy::Http)),
                    }
                }
            };
            let recv_ns = feeds::clock::mono_ns();
            let mut body = response.body;
            let rate_limited = match response.status {
                200 => match pager.on_body(&mut self.parser, &mut body, page) {
                    Ok(_) => {
                        self.stats.pages.inc();
                        return Fetched::Page { recv_ns };
                    }
                    Err(RestError::RateLimited { code, msg }) => {
                        log::warn!("backfill: GET {url}: rate limited ({code}: {msg})");
                        true
                    }
                    Err(RestError::Decode(e)) => {
                        self.stats.parse_errors.inc();
                        log::warn!("backfill: GET {url}: bad response: {e}");
                        return Fetched::Failed(DoneWhy::Parse);
                    }
                    Err(e) => {
                        self.stats.http_errors.inc();
                        log::warn!("backfill: GET {url}: {e}");
                        return Fetched::Failed(DoneWhy::Http);
                    }
                },
                429 | 418 => true,
                status => match rest::venue_error(&mut self.parser, venue, &mut body) {
                    Some(RestError::RateLimited { .. }) => true,
                    other => {
                        self.stats.http_errors.inc();
                        let what = other.map_or_else(
                            || String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
                            |e| e.to_string(),
                        );
                        log::warn!("backfill: GET {url}: HTTP {status}: {what}");
                        if status >= 500 {
                            match self.retry(&mut attempt, TRANSIENT_BACKOFF, TRANSIENT_BACKOFF_MAX)
                            {
                                Ok(()) => continue,
                                Err(why) => return Fetched::Failed(why.unwrap_or(DoneWhy::Http)),
                            }
                        }
                        return Fetched::Failed(DoneWhy::Http);
                    }
                },
            };
            if rate_limited {
                self.stats.rate_limited.inc();
                let wait = response
                    .retry_after
                    .unwrap_or_else(|| backoff(RATE_BACKOFF, RATE_BACKOFF_MAX, attempt));
                let host = self.bucket(venue);
                host.block_until(Instant::now() + wait);
                if wait > MAX_RATE_WAIT || attempt >= self.cfg.max_retries {
                    log::warn!(
                        "backfill: GET {url}: rate limited (HTTP {}), giving up after {attempt} retries",
                        response.status
                    );
                    return Fetched::Failed(DoneWhy::RateLimited);
                }
                log::warn!(
                    "backfill: GET {url}: rate limited (HTTP {}), waiting {} ms",
                    response.status,
                    wait.as_millis()
                );
                self.stats.rate_limit_waits.inc();
                attempt += 1;
            }
        }
    }

    /// Count a retry and sleep its backoff; `Err` when retries are exhausted (`None`) or the
    /// engine stops (`Some(Stopped)`).
    fn retry(
        &mut self,
        attempt: &mut u32,
        base: Duration,
        max: Duration,
    ) -> Result<(), Option<DoneWhy>> {
        if *attempt >= self.cfg.max_retries {
            return Err(None);
        }
        let wait = backoff(base, max, *attempt);
        *attempt += 1;
        if self.sleep(wait) {
            Ok(())
        } else {
            Err(Some(DoneWhy::Stopped))
        }
    }

    fn bucket(&mut self, venue: Venue) -> &mut Bucket {
        let host = rest::default_host(venue).unwrap_or("");
        self.buckets
            .entry(host)
            .or_insert_with(|| Bucket::new(pace::rate_limit(venue), Instant::now()))
    }

    /// Wait for the venue host's next request slot. `Err(RateLimited)` when the host is
    /// blocked (an earlier `Retry-After`) for longer than [`MAX_RATE_WAIT`]: the job ends
    /// rather than stalling every other venue's jobs; `Err(Stopped)` if the engine stops.
    fn pace(&mut self, venue: Venue) -> Result<(), DoneWhy> {
        let mut counted = false;
        loop {
            let delay = self.bucket(venue).delay(Instant::now());
            if delay.is_zero() {
                self.bucket(venue).take(Instant::now());
                return Ok(());
            }
            if delay > MAX_RATE_WAIT {
                return Err(DoneWhy::RateLimited);
            }
            if !counted {
                self.stats.pace_waits.inc();
                counted = true;
            }
            if !self.sleep(delay) {
                return Err(DoneWhy::Stopped);
            }
        }
    }

    /// Sleep `d` in slices; `false` if the engine stops meanwhile.
    fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        loop {
            if self.stop.is_set() {
                return false;
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(SLEEP_SLICE));
        }
    }
}

/// Venues whose endpoint serves only recent trades: an uncovered window start is `TooOld`.
fn venue_recent_only(venue: Venue) -> bool {
    venue.spec().rest_recent_only
}
