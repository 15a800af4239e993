//! The export sink: every closed bar to InfluxDB 1.x, off the IO loop.
//!
//! [`InfluxSink::submit`] (called by the IO thread for each closed bar, amendments included)
//! only hands the bar to the `influx-sink` thread over a bounded channel; if that is full the
//! bar waits in a local queue that the next call retries, so the IO loop never blocks and no
//! bar is dropped. The thread formats line protocol and writes a batch once it holds
//! `batch_size` points or is `batch_interval_ms` old.
//!
//! **Outages.** A batch that cannot be written (server down, timeout, 5xx, database or
//! retention policy missing) goes to the on-disk backlog, a directory of batch files
//! (`<seq>.<points>.<rp>.lp`), and so does every later batch until the backlog is empty again:
//! batches reach InfluxDB in the order they were made, so an older version of an amended bar
//! never overwrites a newer one. The thread retries the oldest batch with exponential backoff
//! (250 ms … 30 s). Beyond `backlog_max_mb` the oldest batches are deleted (counted as
//! dropped, logged as errors). Batch files left at shutdown are sent by the next start.
//! A batch the server rejects as malformed (HTTP 400) is not retried: counted and logged.
//!
//! **Rollups.** For each configured timeframe the sink tracks which buckets received bars;
//! once a market has a bar past a bucket's end (or at shutdown), the bucket is recomputed from
//! the bar store (so a restart mid-bucket still writes a whole bucket) and written to
//! `aggr_<tf>.trades_<tf>`. An amendment of a finished bucket writes it again.

use super::client::url_encode;
use super::client::{InfluxClient, InfluxError};
use super::config::InfluxConfig;
use super::line::{escape_measurement, escape_tag, push_point};
use crate::bar::Bar;
use crate::store::{resample, Store};
use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bars the channel to the sink thread holds.
const CHANNEL: usize = 1 << 16;
/// Most bars the IO side keeps while the channel is full; beyond it bars are dropped (counted).
const OVERFLOW_MAX: usize = 1 << 20;
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Counters of the sink (a snapshot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InfluxStats {
    /// Points InfluxDB accepted (1 s bars and rollups).
    pub written: u64,
    /// Rollup points among them.
    pub rollup_written: u64,
    /// Batches (HTTP writes) that succeeded.
    pub batches: u64,
    /// Points in batches InfluxDB refused as malformed (not retried).
    pub rejected: u64,
    /// Points lost: backlog over its cap, a backlog file that could not be written, or the
    /// IO-side queue over its limit. Always logged.
    pub dropped: u64,
    /// Bars with a non-finite value, not written (a bug upstream; logged).
    pub bad_bars: u64,
    /// Points waiting in the on-disk backlog.
    pub backlog_points: u64,
    /// Bytes of the on-disk backlog.
    pub backlog_bytes: u64,
    /// Times a bar waited on the IO side because the channel was full.
    pub queued_on_io: u64,
    /// Failed write attempts (outages, server errors).
    pub errors: u64,
    /// Whether the last write succeeded.
    pub connected: bool,
}

#[derive(Debug, Default)]
struct Shared {
    written: AtomicU64,
    rollup_written: AtomicU64,
    batches: AtomicU64,
    rejected: AtomicU64,
    dropped: AtomicU64,
    bad_bars: AtomicU64,
    backlog_points: AtomicU64,
    backlog_bytes: AtomicU64,
    queued_on_io: AtomicU64,
    errors: AtomicU64,
    connected: AtomicBool,
}

impl Shared {
    fn snapshot(&self) -> InfluxStats {
        InfluxStats {
            written: self.written.load(Relaxed),
            rollup_written: self.rollup_written.load(Relaxed),
            batches: self.batches.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            bad_bars: self.bad_bars.load(Relaxed),
            backlog_points: self.backlog_points.load(Relaxed),
            backlog_bytes: self.backlog_bytes.load(Relaxed),
            queued_on_io: self.queued_on_io.load(Relaxed),
            errors: self.errors.load(Relaxed),
            connected: self.connected.load(Relaxed),
        }
    }
}

enum Msg {
    Bar { market: u32, second: i64, bar: Bar },
    Shutdown(Instant),
}

/// The export sink; see the [module documentation](self).
pub struct InfluxSink {
    tx: Option<SyncSender<Msg>>,
    overflow: Overflow,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for InfluxSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InfluxSink")
            .field("stats", &self.stats())
            .finish()
    }
}

impl InfluxSink {
    /// Validates `cfg`, opens the backlog directory (default `<data_dir>/influx-backlog`;
    /// batches left there by a previous run are sent first) and starts the `influx-sink`
    /// thread. `markets[i]` is the id of market index `i`; rollups are computed from the bar
    /// store under `data_dir`. An unreachable InfluxDB is not an error here (batches wait).
    pub fn start(cfg: InfluxConfig, markets: Vec<String>, data_dir: &Path) -> Result<Self, String> {
        cfg.validate().map_err(|(f, m)| format!("{f}: {m}"))?;
        let dir = cfg
            .backlog_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("influx-backlog"));
        let shared = Arc::new(Shared::default());
        let backlog = Backlog::open(
            dir,
            cfg.backlog_max_mb.saturating_mul(1 << 20),
            shared.clone(),
        )?;
        if backlog.points() > 0 {
            log::info!(
                "influx: {} points from a previous run wait in {}",
                backlog.points(),
                backlog.dir.display()
            );
        }
        let (tx, rx) = mpsc::sync_channel(CHANNEL);
        let worker = Worker::new(cfg, markets, data_dir, rx, shared.clone(), backlog);
        let thread = std::thread::Builder::new()
            .name("influx-sink".into())
            .spawn(move || worker.run())
            .map_err(|e| format!("influx: cannot start its thread: {e}"))?;
        Ok(InfluxSink {
            tx: Some(tx),
            overflow: Overflow::default(),
            shared,
            thread: Some(thread),
        })
    }

    /// Hands one closed (or amended) bar to the sink thread; never blocks.
    pub fn submit(&mut self, market: u32, second: i64, bar: &Bar) {
        let Some(tx) = &self.tx else { return };
        while let Some(m) = self.overflow.pop_front() {
            match tx.try_send(m) {
                Ok(()) => {}
                Err(TrySendError::Full(m)) => {
                    self.overflow.push_front(m);
                    break;
                }
                Err(TrySendError::Disconnected(_)) => {
                    self.overflow.clear();
                    break;
                }
            }
        }
        let msg = Msg::Bar {
            market,
            second,
            bar: *bar,
        };
        if !self.overflow.is_empty() {
            self.hold(msg);
            return;
        }
        match tx.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Full(m)) => self.hold(m),
            Err(TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Relaxed);
                log::error!("influx: the sink thread is gone; bar not exported");
            }
        }
    }

    fn hold(&mut self, m: Msg) {
        self.shared.queued_on_io.fetch_add(1, Relaxed);
        if self.overflow.len() >= OVERFLOW_MAX {
            self.shared.dropped.fetch_add(1, Relaxed);
            log::error!("influx: {OVERFLOW_MAX} bars wait for the sink thread; bar dropped");
            return;
        }
        self.overflow.push_back(m);
    }

    /// The counters now.
    pub fn stats(&self) -> InfluxStats {
        self.shared.snapshot()
    }

    /// Writes what is pending within `timeout` (retrying while InfluxDB is down), stops the
    /// thread; whatever could not be written stays in the backlog directory for the next start.
    pub fn shutdown(mut self, timeout: Duration) -> InfluxStats {
        self.stop(Instant::now() + timeout);
        self.shared.snapshot()
    }

    fn stop(&mut self, deadline: Instant) {
        if let Some(tx) = self.tx.take() {
            while let Some(m) = self.overflow.pop_front() {
                let _ = tx.send(m);
            }
            let _ = tx.send(Msg::Shutdown(deadline));
        }
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                log::error!("influx: the sink thread panicked");
            }
        }
    }
}

impl Drop for InfluxSink {
    fn drop(&mut self) {
        self.stop(Instant::now());
    }
}

/// The IO side's queue while the channel is full: blocks of [`OVERFLOW_BLOCK`] bars, so that
/// growing it never copies what it already holds (no long pause on the IO thread).
#[derive(Default)]
struct Overflow {
    blocks: VecDeque<VecDeque<Msg>>,
    len: usize,
}

const OVERFLOW_BLOCK: usize = 4096;

impl Overflow {
    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push_back(&mut self, m: Msg) {
        if self.blocks.back().is_none_or(|b| b.len() >= OVERFLOW_BLOCK) {
            self.blocks
                .push_back(VecDeque::with_capacity(OVERFLOW_BLOCK));
        }
        if let Some(b) = self.blocks.back_mut() {
            b.push_back(m);
            self.len += 1;
        }
    }

    fn push_front(&mut self, m: Msg) {
        match self.blocks.front_mut() {
            Some(b) => b.push_front(m),
            None => self.blocks.push_back(VecDeque::from([m])),
        }
        self.len += 1;
    }

    fn pop_front(&mut self) -> Option<Msg> {
        let b = self.blocks.front_mut()?;
        let m = b.pop_front();
        if b.is_empty() {
            self.blocks.pop_front();
        }
        if m.is_some() {
            self.len -= 1;
        }
        m
    }

    fn clear(&mut self) {
        self.blocks.clear();
        self.len = 0;
    }
}

// ------------------------------------------------------------------------------------------
// The on-disk backlog
// ------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    rp: String,
    points: u64,
    bytes: u64,
}

/// Batch files waiting to be written, oldest first.
#[derive(Debug)]
struct Backlog {
    dir: PathBuf,
    cap_bytes: u64,
    segments: VecDeque<Segment>,
    next_seq: u64,
    bytes: u64,
    shared: Arc<Shared>,
}

impl Backlog {
    fn open(dir: PathBuf, cap_bytes: u64, shared: Arc<Shared>) -> Result<Backlog, String> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("influx backlog {}: {e}", dir.display()))?;
        let mut found = Vec::new();
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| format!("influx backlog {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((seq, points, rp)) = parse_segment_name(&name) else {
                if !name.ends_with(".tmp") {
                    log::warn!("influx backlog: ignoring {name} (not a batch file)");
                }
                continue;
            };
            let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
            found.push((
                seq,
                Segment {
                    path: entry.path(),
                    rp,
                    points,
                    bytes,
                },
            ));
        }
        found.sort_by_key(|(seq, _)| *seq);
        let next_seq = found.last().map_or(0, |(s, _)| s + 1);
        let mut b = Backlog {
            dir,
            cap_bytes,
            segments: found.into_iter().map(|(_, s)| s).collect(),
            next_seq,
            bytes: 0,
            shared,
        };
        b.bytes = b.segments.iter().map(|s| s.bytes).sum();
        b.publish();
        Ok(b)
    }

    fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    fn points(&self) -> u64 {
        self.segments.iter().map(|s| s.points).sum()
    }

    fn publish(&self) {
        self.shared.backlog_points.store(self.points(), Relaxed);
        self.shared.backlog_bytes.store(self.bytes, Relaxed);
    }

    /// Appends a batch (write to a temporary name, then rename: a batch file is whole or
    /// absent), then trims the oldest batches beyond the cap.
    fn push(&mut self, rp: &str, body: &[u8], points: u64) {
        let name = format!("{:020}.{points}.{}.lp", self.next_seq, url_encode(rp));
        self.next_seq += 1;
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let written = std::fs::write(&tmp, body).and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            self.shared.dropped.fetch_add(points, Relaxed);
            log::error!(
                "influx backlog: cannot write {}: {e}; {points} points lost",
                path.display()
            );
            return;
        }
        let bytes = body.len() as u64;
        self.bytes += bytes;
        self.segments.push_back(Segment {
            path,
            rp: rp.to_string(),
            points,
            bytes,
        });
        while self.bytes > self.cap_bytes && self.segments.len() > 1 {
            if let Some(old) = self.segments.pop_front() {
                self.bytes -= old.bytes;
                let _ = std::fs::remove_file(&old.path);
                self.shared.dropped.fetch_add(old.points, Relaxed);
                log::error!(
                    "influx backlog over {} MB: dropped the oldest batch ({} points)",
                    self.cap_bytes >> 20,
                    old.points
                );
            }
        }
        self.publish();
    }

    fn pop_front(&mut self) {
        if let Some(s) = self.segments.pop_front() {
            self.bytes -= s.bytes;
            if let Err(e) = std::fs::remove_file(&s.path) {
                log::error!("influx backlog: removing {}: {e}", s.path.display());
            }
        }
        self.publish();
    }
}

fn parse_segment_name(name: &str) -> Option<(u64, u64, String)> {
    let stem = name.strip_suffix(".lp")?;
    let mut parts = stem.splitn(3, '.');
    let seq = parts.next()?.parse().ok()?;
    let points = parts.next()?.parse().ok()?;
    let rp = url_decode(parts.next()?)?;
    Some((seq, points, rp))
}

/// The retention policy of a backlog file name, which [`url_encode`] wrote: `None` unless
/// it decodes to UTF-8 and encodes back to the same text.
fn url_decode(s: &str) -> Option<String> {
    let rp = percent_encoding::percent_decode_str(s).decode_utf8().ok()?;
    (url_encode(&rp) == s).then(|| rp.into_owned())
}

// ------------------------------------------------------------------------------------------
// The thread
// ------------------------------------------------------------------------------------------

struct Rollup {
    tf_secs: u32,
    rp: String,
    measurement: String,
}

struct Worker {
    cfg: InfluxConfig,
    client: InfluxClient,
    rx: Receiver<Msg>,
    shared: Arc<Shared>,
    backlog: Backlog,
    /// Market ids (for the store) and their escaped tag values (for line protocol).
    ids: Vec<String>,
    tags: Vec<String>,
    measurement: String,
    batch: String,
    batch_points: u64,
    batch_started: Option<Instant>,
    rollups: Vec<Rollup>,
    store: Store,
    /// (rollup index, market, bucket start ms) that received bars since last written.
    dirty: BTreeSet<(usize, u32, i64)>,
    /// Latest second seen per market.
    latest: Vec<i64>,
    failures: u32,
    next_attempt: Instant,
    outage_logged: bool,
}

impl Worker {
    fn new(
        cfg: InfluxConfig,
        ids: Vec<String>,
        data_dir: &Path,
        rx: Receiver<Msg>,
        shared: Arc<Shared>,
        backlog: Backlog,
    ) -> Worker {
        let client = InfluxClient::from_config(&cfg);
        let rollups = cfg
            .rollup_targets()
            .into_iter()
            .map(|(_, tf_secs, rp, m)| Rollup {
                tf_secs,
                rp,
                measurement: escape_measurement(&m),
            })
            .collect();
        let tags = ids.iter().map(|id| escape_tag(id)).collect();
        let latest = vec![i64::MIN; ids.len()];
        Worker {
            measurement: escape_measurement(&cfg.measurement),
            client,
            rx,
            shared,
            backlog,
            tags,
            ids,
            batch: String::with_capacity(cfg.batch_size.min(100_000) * 160),
            batch_points: 0,
            batch_started: None,
            rollups,
            store: Store::new(data_dir),
            dirty: BTreeSet::new(),
            latest,
            failures: 0,
            next_attempt: Instant::now(),
            outage_logged: false,
            cfg,
        }
    }

    fn interval(&self) -> Duration {
        Duration::from_millis(self.cfg.batch_interval_ms)
    }

    fn run(mut self) {
        loop {
            let now = Instant::now();
            let mut wait = Duration::from_millis(500);
            if let Some(t) = self.batch_started {
                wait = wait.min((t + self.interval()).saturating_duration_since(now));
            }
            if !self.backlog.is_empty() {
                wait = wait.min(self.next_attempt.saturating_duration_since(now));
            }
            match self.rx.recv_timeout(wait) {
                Ok(Msg::Bar {
                    market,
                    second,
                    bar,
                }) => {
                    self.add(market, second, &bar);
                    // Take whatever else is queued, up to a batch.
                    while self.batch_points < self.cfg.batch_size as u64 {
                        match self.rx.try_recv() {
                            Ok(Msg::Bar {
                                market,
                                second,
                                bar,
                            }) => self.add(market, second, &bar),
                            Ok(Msg::Shutdown(deadline)) => return self.finish(deadline),
                            Err(_) => break,
                        }
                    }
                }
                Ok(Msg::Shutdown(deadline)) => return self.finish(deadline),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return self.finish(Instant::now()),
            }
            let due = self
                .batch_started
                .is_some_and(|t| t.elapsed() >= self.interval());
            if self.batch_points >= self.cfg.batch_size as u64 || due {
                self.flush(false);
            }
            if !self.backlog.is_empty() && Instant::now() >= self.next_attempt {
                self.drain_backlog();
            }
        }
    }

    fn add(&mut self, market: u32, second: i64, bar: &Bar) {
        let m = market as usize;
        let Some(tag) = self.tags.get(m) else {
            self.shared.bad_bars.fetch_add(1, Relaxed);
            log::error!("influx: bar of unknown market index {market}");
            return;
        };
        let time_ms = second.saturating_mul(1000);
        if !push_point(&mut self.batch, &self.measurement, tag, time_ms, bar) {
            self.shared.bad_bars.fetch_add(1, Relaxed);
            log::error!(
                "influx: {} at {second}: a bar with a non-finite value is not written",
                self.ids[m]
            );
            return;
        }
        self.batch_points += 1;
        self.batch_started.get_or_insert_with(Instant::now);
        if let Some(l) = self.latest.get_mut(m) {
            *l = (*l).max(second);
        }
        for (i, r) in self.rollups.iter().enumerate() {
            if let Some(b) = bucket_of(time_ms, r.tf_secs) {
                self.dirty.insert((i, market, b));
            }
        }
    }

    /// Writes the current batch and the finished rollup buckets (all of them when `all`).
    fn flush(&mut self, all: bool) {
        if self.batch_points > 0 {
            let body = std::mem::take(&mut self.batch);
            let points = self.batch_points;
            self.batch_points = 0;
            self.batch_started = None;
            let rp = self.cfg.retention_policy.clone();
            self.deliver(&rp, body.as_bytes(), points, false);
            self.batch = body;
            self.batch.clear();
        }
        for i in 0..self.rollups.len() {
            let tf_ms = i64::from(self.rollups[i].tf_secs) * 1000;
            let ready: Vec<(usize, u32, i64)> = self
                .dirty
                .range((i, 0, i64::MIN)..(i + 1, 0, i64::MIN))
                .filter(|&&(_, m, b)| {
                    all || self
                        .latest
                        .get(m as usize)
                        .is_some_and(|&l| l.saturating_mul(1000) >= b + tf_ms)
                })
                .copied()
                .collect();
            if ready.is_empty() {
                continue;
            }
            let mut body = String::new();
            let mut points = 0;
            for key in &ready {
                self.dirty.remove(key);
                let (_, m, b) = *key;
                let id = &self.ids[m as usize];
                match self.store.range(id, b, b + tf_ms) {
                    Ok(bars) => {
                        if let Some(agg) = resample(&bars, self.rollups[i].tf_secs).first() {
                            if push_point(
                                &mut body,
                                &self.rollups[i].measurement,
                                &self.tags[m as usize],
                                agg.time_ms,
                                &agg.bar,
                            ) {
                                points += 1;
                            } else {
                                self.shared.bad_bars.fetch_add(1, Relaxed);
                            }
                        }
                    }
                    Err(e) => {
                        self.shared.dropped.fetch_add(1, Relaxed);
                        log::error!("influx rollup {id} at {b} ms: reading the bar store: {e}");
                    }
                }
            }
            if points > 0 {
                let rp = self.rollups[i].rp.clone();
                self.deliver(&rp, body.as_bytes(), points, true);
            }
        }
    }

    /// Writes a batch now if nothing older waits, else queues it behind the backlog.
    fn deliver(&mut self, rp: &str, body: &[u8], points: u64, rollup: bool) {
        if self.backlog.is_empty() && Instant::now() >= self.next_attempt {
            match self.client.write(rp, body) {
                Ok(()) => {
                    self.succeeded(points, rollup);
                    return;
                }
                Err(e) if !e.is_retryable() => {
                    self.rejected(points, &e);
                    return;
                }
                Err(e) => self.failed(&e),
            }
        }
        self.backlog.push(rp, body, points);
    }

    fn drain_backlog(&mut self) {
        while let Some(seg) = self.backlog.segments.front() {
            let (path, rp, points) = (seg.path.clone(), seg.rp.clone(), seg.points);
            let body = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    log::error!(
                        "influx backlog: reading {}: {e}; {points} points lost",
                        path.display()
                    );
                    self.shared.dropped.fetch_add(points, Relaxed);
                    self.backlog.pop_front();
                    continue;
                }
            };
            match self.client.write(&rp, &body) {
                Ok(()) => {
                    self.backlog.pop_front();
                    self.succeeded(points, rp != self.cfg.retention_policy);
                }
                Err(e) if !e.is_retryable() => {
                    self.backlog.pop_front();
                    self.rejected(points, &e);
                }
                Err(e) => {
                    self.failed(&e);
                    return;
                }
            }
        }
        if self.outage_logged {
            log::info!("influx: backlog written; exporting live again");
            self.outage_logged = false;
        }
    }

    fn succeeded(&mut self, points: u64, rollup: bool) {
        self.shared.written.fetch_add(points, Relaxed);
        if rollup {
            self.shared.rollup_written.fetch_add(points, Relaxed);
        }
        self.shared.batches.fetch_add(1, Relaxed);
        self.shared.connected.store(true, Relaxed);
        if self.failures > 0 {
            log::info!("influx: {} reachable again", self.client.address());
        }
        self.failures = 0;
        self.next_attempt = Instant::now();
    }

    fn rejected(&mut self, points: u64, e: &InfluxError) {
        self.shared.rejected.fetch_add(points, Relaxed);
        log::error!("influx: {e}; {points} points not written");
    }

    fn failed(&mut self, e: &InfluxError) {
        self.shared.errors.fetch_add(1, Relaxed);
        self.shared.connected.store(false, Relaxed);
        self.failures = self.failures.saturating_add(1);
        let base = BACKOFF_MIN
            .saturating_mul(1u32 << self.failures.saturating_sub(1).min(8))
            .min(BACKOFF_MAX);
        self.next_attempt = Instant::now() + base;
        if !self.outage_logged {
            self.outage_logged = true;
            log::error!(
                "influx: {e}; batches wait in {} and are retried",
                self.backlog.dir.display()
            );
        } else {
            log::debug!("influx: retry failed: {e}");
        }
    }

    fn finish(mut self, deadline: Instant) {
        self.flush(true);
        // Retry the backlog until the deadline, briefly spaced (one attempt at least).
        self.next_attempt = Instant::now();
        loop {
            if self.backlog.is_empty() {
                break;
            }
            self.drain_backlog();
            if self.backlog.is_empty() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(
                Duration::from_millis(250).min(deadline.saturating_duration_since(Instant::now())),
            );
        }
        if !self.backlog.is_empty() {
            log::warn!(
                "influx: {} points not written at shutdown; they stay in {} for the next start",
                self.backlog.points(),
                self.backlog.dir.display()
            );
        }
    }
}

/// Start (ms) of the rollup bucket holding `time_ms`, as [`resample`] aligns it.
fn bucket_of(time_ms: i64, tf_secs: u32) -> Option<i64> {
    let probe = crate::store::StoredBar {
        time_ms,
        bar: Bar::EMPTY,
        flags: 0,
    };
    resample(&[probe], tf_secs).first().map(|b| b.time_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip() {
        let name = format!("{:020}.{}.{}.lp", 7, 42, url_encode("aggr 1s"));
        assert_eq!(
            parse_segment_name(&name),
            Some((7, 42, "aggr 1s".to_string()))
        );
        assert_eq!(parse_segment_name("x.lp"), None);
        assert_eq!(
            parse_segment_name("00000000000000000001.3.aggr_1s.lp.tmp"),
            None
        );
    }

    #[test]
    fn backlog_is_ordered_capped_and_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let shared = Arc::new(Shared::default());
        let mut b = Backlog::open(dir.path().join("bl"), 100, shared.clone()).unwrap();
        b.push("aggr_1s", &[b'x'; 40], 1);
        b.push("aggr_1s", &[b'y'; 40], 2);
        assert_eq!((b.points(), b.bytes), (3, 80));
        b.push("aggr_1m", &[b'z'; 40], 4); // 120 > 100: the oldest goes
        assert_eq!(b.points(), 6);
        assert_eq!(shared.dropped.load(Relaxed), 1);
        drop(b);
        let b = Backlog::open(dir.path().join("bl"), 100, shared).unwrap();
        let order: Vec<(u64, &str)> = b
            .segments
            .iter()
            .map(|s| (s.points, s.rp.as_str()))
            .collect();
        assert_eq!(order, vec![(2, "aggr_1s"), (4, "aggr_1m")]);
        assert_eq!(b.next_seq, 3);
    }

    #[test]
    fn overflow_keeps_order_across_blocks() {
        let mut o = Overflow::default();
        let n = OVERFLOW_BLOCK * 2 + 5;
        for i in 0..n {
            o.push_back(Msg::Bar {
                market: i as u32,
                second: 0,
                bar: Bar::EMPTY,
            });
        }
        let Some(first) = o.pop_front() else {
            panic!("empty")
        };
        o.push_front(first);
        assert_eq!(o.len(), n);
        for i in 0..n {
            match o.pop_front() {
                Some(Msg::Bar { market, .. }) => assert_eq!(market, i as u32),
                _ => panic!("missing {i}"),
            }
        }
        assert!(o.is_empty() && o.pop_front().is_none());
    }

    #[test]
    fn buckets() {
        assert_eq!(bucket_of(61_000, 60), Some(60_000));
        assert_eq!(bucket_of(59_000, 60), Some(0));
    }
}
