//! What the engine publishes in its stats file, and the payload encoding (version 2: version 1
//! plus continuity — gaps, duplicates, reconnects, rotations, backfill; version 3: version 2
//! plus each market's silent state and silent episodes).
//!
//! The payload is a sequence of little-endian fields in the order of the structs below:
//! integers as `u32`/`u64`/`i64`, fractions and rates as `f64`, strings as a `u16` byte length
//! and UTF-8 bytes, lists as a `u32` count then the items. Decoding checks every length and
//! count against the bytes there are, so a damaged file is an error, never a panic.

use serde::Serialize;

/// Whether the engine that wrote the file is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineState {
    Running,
    /// Shut down cleanly (the last snapshot is the final one).
    Stopped,
}

/// One published snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// Wall time of this snapshot, µs since the Unix epoch.
    pub updated_us: i64,
    /// When the engine started, µs since the Unix epoch.
    pub started_us: i64,
    pub pid: u32,
    pub state: EngineState,
    /// How often the engine publishes, ms.
    pub interval_ms: u32,
    /// Where `/metrics` and `/health` are served (empty: not served).
    pub http_addr: String,
    pub process: ProcessStats,
    pub totals: Totals,
    pub venues: Vec<VenueStats>,
    pub markets: Vec<MarketStats>,
    /// One per engine thread (feeds, shards, IO).
    pub threads: Vec<ThreadStats>,
    pub stages: Vec<StageLatency>,
}

/// The engine process and the host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ProcessStats {
    pub rss_bytes: u64,
    /// CPU used by the process over the last interval, in cores (1.0 = one core busy).
    pub cpu_cores: f64,
    /// Busy fraction of all the host's CPUs over the last interval (0–1), from /proc/stat.
    pub host_cpu: f64,
    /// Used fraction of the host's memory (1 − MemAvailable / MemTotal).
    pub host_memory: f64,
    pub host_memory_bytes: u64,
}

/// Engine-wide counters since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Totals {
    pub frames: u64,
    pub events: u64,
    pub decode_errors: u64,
    pub unknown_symbols: u64,
    pub bars_closed: u64,
    pub late_trades: u64,
    pub store_errors: u64,
    pub signals: u64,
    /// Times a producer found a ring full (feed → shard and shard → IO).
    pub ring_full: u64,
    /// Consecutive publish intervals, up to now, in which some ring was found full.
    pub backpressure_intervals: u64,
    /// Alerts raised since start (see `alerts`).
    pub alerts_raised: u64,
    /// Continuity counters of the feed threads, summed.
    pub continuity: ContinuityTotals,
    /// The REST backfill worker's counters (`None`: no worker runs).
    pub backfill: Option<BackfillSnapshot>,
}

/// Continuity counters summed over the feed threads ([`crate::stats::FeedStats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ContinuityTotals {
    /// Trades dropped as already seen (replays, rotation overlap, duplicated frames).
    pub duplicates: u64,
    /// Gaps found (missing ids, reconnect windows, downtime), closed recovered, closed
    /// unrecovered (abandoned included).
    pub gaps_opened: u64,
    pub gaps_recovered: u64,
    pub gaps_unrecovered: u64,
    /// Trades found missing by contiguous ids (exact), and trades recovered into the bars.
    pub trades_missing: u64,
    pub trades_recovered: u64,
    /// Recovered trades not used (seen already, or outside every open gap).
    pub backfill_dropped: u64,
    /// Id holes filled by a late frame before they counted as gaps.
    pub reordered: u64,
    /// Gap records the IO thread's ring had no room for (per-market gap figures miss them).
    pub records_dropped: u64,
    /// Connections dropped and reconnected by the staleness watchdog.
    pub stale_reconnects: u64,
    /// Planned rotations completed.
    pub rotations: u64,
    /// Messages larger than the client accepts (connection closed and reconnected).
    pub oversized: u64,
}

/// The REST backfill worker's counters as plain numbers, read once per publish (the engine
/// copies them from its backfill statistics; this module does not depend on the worker).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BackfillSnapshot {
    /// Jobs received, finished complete, finished incomplete.
    pub jobs: u64,
    pub complete: u64,
    pub incomplete: u64,
    /// HTTP requests sent, result pages read, trades fetched.
    pub requests: u64,
    pub pages: u64,
    pub trades: u64,
    /// Failed requests, unparsable replies, rate-limit replies (HTTP 429/418 or the venue's
    /// code).
    pub http_errors: u64,
    pub parse_errors: u64,
    pub rate_limited: u64,
    /// Waits imposed by a rate-limit reply, and by the worker's own pacing.
    pub rate_limit_waits: u64,
    pub pace_waits: u64,
    /// Jobs older than the venue serves, jobs on venues without a usable endpoint.
    pub too_old: u64,
    pub unsupported: u64,
    /// Times the worker found its output ring full.
    pub out_ring_full: u64,
}

impl ContinuityTotals {
    fn fields(&self) -> [u64; 12] {
        [
            self.duplicates,
            self.gaps_opened,
            self.gaps_recovered,
            self.gaps_unrecovered,
            self.trades_missing,
            self.trades_recovered,
            self.backfill_dropped,
            self.reordered,
            self.records_dropped,
            self.stale_reconnects,
            self.rotations,
            self.oversized,
        ]
    }

    fn from_fields(f: [u64; 12]) -> ContinuityTotals {
        let [duplicates, gaps_opened, gaps_recovered, gaps_unrecovered, trades_missing, trades_recovered, backfill_dropped, reordered, records_dropped, stale_reconnects, rotations, oversized] =
            f;
        ContinuityTotals {
            duplicates,
            gaps_opened,
            gaps_recovered,
            gaps_unrecovered,
            trades_missing,
            trades_recovered,
            backfill_dropped,
            reordered,
            records_dropped,
            stale_reconnects,
            rotations,
            oversized,
        }
    }
}

impl BackfillSnapshot {
    fn fields(&self) -> [u64; 14] {
        [
            self.jobs,
            self.complete,
            self.incomplete,
            self.requests,
            self.pages,
            self.trades,
            self.http_errors,
            self.parse_errors,
            self.rate_limited,
            self.rate_limit_waits,
            self.pace_waits,
            self.too_old,
            self.unsupported,
            self.out_ring_full,
        ]
    }

    fn from_fields(f: [u64; 14]) -> BackfillSnapshot {
        let [jobs, complete, incomplete, requests, pages, trades, http_errors, parse_errors, rate_limited, rate_limit_waits, pace_waits, too_old, unsupported, out_ring_full] =
            f;
        BackfillSnapshot {
            jobs,
            complete,
            incomplete,
            requests,
            pages,
            trades,
            http_errors,
            parse_errors,
            rate_limited,
            rate_limit_waits,
            pace_waits,
            too_old,
            unsupported,
            out_ring_full,
        }
    }
}

/// One venue's connections and flow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VenueStats {
    pub name: String,
    /// Connections configured / open now.
    pub connections: u32,
    pub open: u32,
    pub connects: u64,
    /// Connections lost (each is followed by a reconnect).
    pub reconnects: u64,
    pub frames: u64,
    /// Frames per second over the last interval.
    pub frame_rate: f64,
}

/// One market's freshness and flow, from the closed bars the IO thread drains.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarketStats {
    pub id: String,
    pub venue: String,
    /// Exchange time of the newest trade in a closed bar, µs (0: none yet).
    pub last_trade_us: i64,
    /// Start of the newest closed bar, s (0: none yet).
    pub last_bar_s: i64,
    pub bars: u64,
    pub trades: u64,
    /// Bars amended by late trades.
    pub late: u64,
    /// Bars closed in the last complete minute (60 = one per second).
    pub bars_last_minute: u32,
    /// Trades per second over the last complete minute.
    pub trade_rate: f64,
    /// Complete minutes of the last hour (since start) with fewer than 30 bars.
    pub gap_minutes: u32,
    /// Continuity gaps ([`crate::continuity::Record`]): open now, opened in all, closed
    /// recovered, closed unrecovered (abandoned included).
    pub gaps_open: u32,
    pub gaps: u64,
    pub gaps_recovered: u64,
    pub gaps_unrecovered: u64,
    /// Trades missing by contiguous ids (exact; reconnect windows and downtime add 0), and
    /// trades recovered into the bars by backfill.
    pub gap_trades_missing: u64,
    pub gap_trades_recovered: u64,
    /// Wall time of the market's last gap event (opened or closed), µs (0: none).
    pub last_gap_us: i64,
    /// Wall time the oldest gap still open was opened, µs (0: none open).
    pub open_gap_since_us: i64,
    /// Wall time a gap last closed unrecovered, µs (0: never).
    pub last_unrecovered_us: i64,
    /// Silent now ([`crate::silence`]: subscribed, connection alive, no trade for its limit):
    /// wall time its quiet began, µs (0: not silent).
    pub silent_since_us: i64,
    /// Silent episodes of the market since start.
    pub silent_episodes: u64,
}

/// One engine thread.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreadStats {
    /// `feed-0`, `shard-1`, `io`.
    pub name: String,
    /// Core it is pinned to (-1: not pinned).
    pub core: i32,
    /// CPU time / wall time over the last interval (a busy-polling thread shows ~1).
    pub busy: f64,
    /// Items waiting in the rings this thread produces into (towards shards or the IO thread).
    pub ring_depth: u64,
    pub ring_capacity: u64,
    /// Times this thread found a ring full (back-pressure), since start.
    pub ring_full: u64,
    /// Frames read (feeds) or ticks folded (shards).
    pub items: u64,
    pub decode_errors: u64,
}

/// Percentiles of one pipeline stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageLatency {
    /// `receive_to_decoded`, `receive_to_bar`, `bar_to_signal`, `exchange_to_receive`.
    pub stage: String,
    /// Unit of the values: `ns` or `us`.
    pub unit: String,
    pub count: u64,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Snapshot {
    /// Seconds since the newest trade of any market, at `now_us` (`None`: no trade yet).
    pub fn freshness_s(&self, now_us: i64) -> Option<f64> {
        self.markets
            .iter()
            .map(|m| m.last_trade_us)
            .filter(|&t| t > 0)
            .max()
            .map(|t| (now_us - t).max(0) as f64 / 1e6)
    }

    /// Bytes an encoded snapshot with these list lengths and names can take at most.
    pub fn capacity_for(venues: usize, markets: usize, threads: usize, stages: usize) -> usize {
        const STR: usize = 2 + 255;
        256 + STR
            + venues * (STR + 4 * 2 + 8 * 4)
            + 8 * 12
            + 4
            + 8 * 14
            + markets * (2 * STR + 8 * 6 + 4 * 2 + 8 + 4 + 8 * 8 + 8 * 2)
            + threads * (STR + 4 + 8 * 6)
            + stages * (2 * STR + 8 * 5)
            + 4 * 4
    }

    /// The payload bytes (appended to `out`, which is cleared first).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        let mut e = Enc(out);
        e.i64(self.updated_us);
        e.i64(self.started_us);
        e.u32(self.pid);
        e.u32(match self.state {
            EngineState::Running => 1,
            EngineState::Stopped => 2,
        });
        e.u32(self.interval_ms);
        e.str(&self.http_addr);
        let p = &self.process;
        e.u64(p.rss_bytes);
        e.f64(p.cpu_cores);
        e.f64(p.host_cpu);
        e.f64(p.host_memory);
        e.u64(p.host_memory_bytes);
        let t = &self.totals;
        for v in [
            t.frames,
            t.events,
            t.decode_errors,
            t.unknown_symbols,
            t.bars_closed,
            t.late_trades,
            t.store_errors,
            t.signals,
            t.ring_full,
            t.backpressure_intervals,
            t.alerts_raised,
        ] {
            e.u64(v);
        }
        for v in t.continuity.fields() {
            e.u64(v);
        }
        match &t.backfill {
            None => e.u32(0),
            Some(b) => {
                e.u32(1);
                for v in b.fields() {
                    e.u64(v);
                }
            }
        }
        e.u32(self.venues.len() as u32);
        for v in &self.venues {
            e.str(&v.name);
            e.u32(v.connections);
            e.u32(v.open);
            e.u64(v.connects);
            e.u64(v.reconnects);
            e.u64(v.frames);
            e.f64(v.frame_rate);
        }
        e.u32(self.markets.len() as u32);
        for m in &self.markets {
            e.str(&m.id);
            e.str(&m.venue);
            e.i64(m.last_trade_us);
            e.i64(m.last_bar_s);
            e.u64(m.bars);
            e.u64(m.trades);
            e.u64(m.late);
            e.u32(m.bars_last_minute);
            e.f64(m.trade_rate);
            e.u32(m.gap_minutes);
            e.u32(m.gaps_open);
            for v in [
                m.gaps,
                m.gaps_recovered,
                m.gaps_unrecovered,
                m.gap_trades_missing,
                m.gap_trades_recovered,
            ] {
                e.u64(v);
            }
            e.i64(m.last_gap_us);
            e.i64(m.open_gap_since_us);
            e.i64(m.last_unrecovered_us);
            e.i64(m.silent_since_us);
            e.u64(m.silent_episodes);
        }
        e.u32(self.threads.len() as u32);
        for th in &self.threads {
            e.str(&th.name);
            e.u32(th.core as u32);
            e.f64(th.busy);
            e.u64(th.ring_depth);
            e.u64(th.ring_capacity);
            e.u64(th.ring_full);
            e.u64(th.items);
            e.u64(th.decode_errors);
        }
        e.u32(self.stages.len() as u32);
        for s in &self.stages {
            e.str(&s.stage);
            e.str(&s.unit);
            for v in [s.count, s.p50, s.p99, s.p999, s.max] {
                e.u64(v);
            }
        }
    }

    /// Parses a payload; an error says what was cut short or malformed.
    pub fn decode(bytes: &[u8]) -> Result<Snapshot, String> {
        let mut d = Dec { b: bytes, at: 0 };
        let updated_us = d.i64()?;
        let started_us = d.i64()?;
        let pid = d.u32()?;
        let state = match d.u32()? {
            1 => EngineState::Running,
            2 => EngineState::Stopped,
            s => return Err(format!("unknown engine state {s}")),
        };
        let interval_ms = d.u32()?;
        let http_addr = d.str()?;
        let process = ProcessStats {
            rss_bytes: d.u64()?,
            cpu_cores: d.f64()?,
            host_cpu: d.f64()?,
            host_memory: d.f64()?,
            host_memory_bytes: d.u64()?,
        };
        let totals = Totals {
            frames: d.u64()?,
            events: d.u64()?,
            decode_errors: d.u64()?,
            unknown_symbols: d.u64()?,
            bars_closed: d.u64()?,
            late_trades: d.u64()?,
            store_errors: d.u64()?,
            signals: d.u64()?,
            ring_full: d.u64()?,
            backpressure_intervals: d.u64()?,
            alerts_raised: d.u64()?,
            continuity: ContinuityTotals::from_fields(d.u64s()?),
            backfill: match d.u32()? {
                0 => None,
                1 => Some(BackfillSnapshot::from_fields(d.u64s()?)),
                b => return Err(format!("backfill flag {b} is neither 0 nor 1")),
            },
        };
        let n = d.count(4 * 2)?;
        let mut venues = Vec::with_capacity(n);
        for _ in 0..n {
            venues.push(VenueStats {
                name: d.str()?,
                connections: d.u32()?,
                open: d.u32()?,
                connects: d.u64()?,
                reconnects: d.u64()?,
                frames: d.u64()?,
                frame_rate: d.f64()?,
            });
        }
        let n = d.count(8 * 5)?;
        let mut markets = Vec::with_capacity(n);
        for _ in 0..n {
            markets.push(MarketStats {
                id: d.str()?,
                venue: d.str()?,
                last_trade_us: d.i64()?,
                last_bar_s: d.i64()?,
                bars: d.u64()?,
                trades: d.u64()?,
                late: d.u64()?,
                bars_last_minute: d.u32()?,
                trade_rate: d.f64()?,
                gap_minutes: d.u32()?,
                gaps_open: d.u32()?,
                gaps: d.u64()?,
                gaps_recovered: d.u64()?,
                gaps_unrecovered: d.u64()?,
                gap_trades_missing: d.u64()?,
                gap_trades_recovered: d.u64()?,
                last_gap_us: d.i64()?,
                open_gap_since_us: d.i64()?,
                last_unrecovered_us: d.i64()?,
                silent_since_us: d.i64()?,
                silent_episodes: d.u64()?,
            });
        }
        let n = d.count(8 * 5)?;
        let mut threads = Vec::with_capacity(n);
        for _ in 0..n {
            threads.push(ThreadStats {
                name: d.str()?,
                core: d.u32()? as i32,
                busy: d.f64()?,
                ring_depth: d.u64()?,
                ring_capacity: d.u64()?,
                ring_full: d.u64()?,
                items: d.u64()?,
                decode_errors: d.u64()?,
            });
        }
        let n = d.count(8 * 5)?;
        let mut stages = Vec::with_capacity(n);
        for _ in 0..n {
            stages.push(StageLatency {
                stage: d.str()?,
                unit: d.str()?,
                count: d.u64()?,
                p50: d.u64()?,
                p99: d.u64()?,
                p999: d.u64()?,
                max: d.u64()?,
            });
        }
        if d.at != bytes.len() {
            return Err(format!(
                "{} bytes left over after the snapshot",
                bytes.len() - d.at
            ));
        }
        Ok(Snapshot {
            updated_us,
            started_us,
            pid,
            state,
            interval_ms,
            http_addr,
            process,
            totals,
            venues,
            markets,
            threads,
            stages,
        })
    }
}

struct Enc<'a>(&'a mut Vec<u8>);

impl Enc<'_> {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    /// Strings longer than 255 bytes are cut at a character boundary (names are short).
    fn str(&mut self, s: &str) {
        let mut end = s.len().min(255);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.0.extend_from_slice(&(end as u16).to_le_bytes());
        self.0.extend_from_slice(&s.as_bytes()[..end]);
    }
}

struct Dec<'a> {
    b: &'a [u8],
    at: usize,
}

impl Dec<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let bytes = self
            .b
            .get(self.at..self.at + N)
            .ok_or_else(|| format!("snapshot cut short at byte {}", self.at))?;
        self.at += N;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }
    fn u32(&mut self) -> Result<u32, String> {
        self.take::<4>().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Result<u64, String> {
        self.take::<8>().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Result<i64, String> {
        self.take::<8>().map(i64::from_le_bytes)
    }
    fn f64(&mut self) -> Result<f64, String> {
        self.take::<8>().map(f64::from_le_bytes)
    }
    fn u64s<const N: usize>(&mut self) -> Result<[u64; N], String> {
        let mut out = [0u64; N];
        for v in &mut out {
            *v = self.u64()?;
        }
        Ok(out)
    }
    fn str(&mut self) -> Result<String, String> {
        let n = u16::from_le_bytes(self.take::<2>()?) as usize;
        let bytes = self
            .b
            .get(self.at..self.at + n)
            .ok_or_else(|| format!("snapshot cut short in a string at byte {}", self.at))?;
        self.at += n;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| format!("string at byte {} is not UTF-8", self.at - n))
    }
    /// A list count that the remaining bytes could hold (each item ≥ `min_item` bytes).
    fn count(&mut self, min_item: usize) -> Result<usize, String> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item) > self.b.len() - self.at {
            return Err(format!(
                "list of {n} items at byte {} does not fit",
                self.at - 4
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A snapshot with every list populated (also used by the HTTP and alert tests).
    pub(crate) fn sample(now_us: i64) -> Snapshot {
        Snapshot {
            updated_us: now_us,
            started_us: now_us - 3_600_000_000,
            pid: 4242,
            state: EngineState::Running,
            interval_ms: 1000,
            http_addr: "127.0.0.1:9469".into(),
            process: ProcessStats {
                rss_bytes: 50 << 20,
                cpu_cores: 0.35,
                host_cpu: 0.2,
                host_memory: 0.5,
                host_memory_bytes: 8 << 30,
            },
            totals: Totals {
                frames: 1000,
                events: 990,
                decode_errors: 3,
                bars_closed: 600,
                continuity: ContinuityTotals {
                    duplicates: 7,
                    gaps_opened: 3,
                    gaps_recovered: 1,
                    gaps_unrecovered: 1,
                    trades_missing: 12,
                    trades_recovered: 5,
                    backfill_dropped: 2,
                    reordered: 4,
                    records_dropped: 0,
                    stale_reconnects: 1,
                    rotations: 2,
                    oversized: 1,
                },
                backfill: Some(BackfillSnapshot {
                    jobs: 2,
                    complete: 1,
                    incomplete: 1,
                    requests: 6,
                    pages: 5,
                    trades: 7,
                    http_errors: 1,
                    rate_limited: 1,
                    rate_limit_waits: 1,
                    pace_waits: 3,
                    ..BackfillSnapshot::default()
                }),
                ..Totals::default()
            },
            venues: vec![VenueStats {
                name: "binance".into(),
                connections: 1,
                open: 1,
                connects: 2,
                reconnects: 1,
                frames: 1000,
                frame_rate: 12.5,
            }],
            markets: vec![
                MarketStats {
                    id: "BINANCE:btcusdt".into(),
                    venue: "binance".into(),
                    last_trade_us: now_us - 1_500_000,
                    last_bar_s: now_us / 1_000_000 - 2,
                    bars: 600,
                    trades: 900,
                    late: 1,
                    bars_last_minute: 58,
                    trade_rate: 15.0,
                    gap_minutes: 0,
                    // One gap recovered an hour ago, one open for 5 s.
                    gaps_open: 1,
                    gaps: 2,
                    gaps_recovered: 1,
                    gaps_unrecovered: 0,
                    gap_trades_missing: 9,
                    gap_trades_recovered: 5,
                    last_gap_us: now_us - 5_000_000,
                    open_gap_since_us: now_us - 5_000_000,
                    last_unrecovered_us: 0,
                    // Silent once, flowing again.
                    silent_since_us: 0,
                    silent_episodes: 1,
                },
                MarketStats {
                    id: "BINANCE:ethusdt".into(),
                    venue: "binance".into(),
                    last_trade_us: now_us - 4_000_000,
                    last_bar_s: now_us / 1_000_000 - 5,
                    bars: 300,
                    trades: 90,
                    late: 0,
                    bars_last_minute: 30,
                    trade_rate: 1.5,
                    gap_minutes: 2,
                    // A reconnect window closed unrecovered an hour ago.
                    gaps_open: 0,
                    gaps: 1,
                    gaps_recovered: 0,
                    gaps_unrecovered: 1,
                    gap_trades_missing: 3,
                    gap_trades_recovered: 0,
                    last_gap_us: now_us - 3_600_000_000,
                    open_gap_since_us: 0,
                    last_unrecovered_us: now_us - 3_600_000_000,
                    silent_since_us: 0,
                    silent_episodes: 0,
                },
            ],
            threads: vec![ThreadStats {
                name: "feed-0".into(),
                core: -1,
                busy: 0.25,
                ring_depth: 3,
                ring_capacity: 65536,
                ring_full: 0,
                items: 1000,
                decode_errors: 3,
            }],
            stages: vec![StageLatency {
                stage: "receive_to_bar".into(),
                unit: "ns".into(),
                count: 990,
                p50: 1500,
                p99: 9000,
                p999: 20_000,
                max: 40_000,
            }],
        }
    }

    #[test]
    fn encode_decode_round_trip_within_capacity() {
        let mut s = sample(1_700_000_000_000_000);
        // ETH silent for 130 s, its second episode.
        s.markets[1].silent_since_us = s.updated_us - 130_000_000;
        s.markets[1].silent_episodes = 2;
        let mut buf = Vec::new();
        s.encode(&mut buf);
        assert!(buf.len() <= Snapshot::capacity_for(1, 2, 1, 1));
        assert_eq!(Snapshot::decode(&buf).unwrap(), s);
        for cut in [0, 10, buf.len() / 2, buf.len() - 1] {
            assert!(Snapshot::decode(&buf[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = buf.clone();
        longer.push(0);
        assert!(Snapshot::decode(&longer).unwrap_err().contains("left over"));

        // Without a backfill worker the block is absent, and still round-trips.
        let mut none = s.clone();
        none.totals.backfill = None;
        let mut short = Vec::new();
        none.encode(&mut short);
        assert_eq!(short.len(), buf.len() - 14 * 8);
        assert_eq!(Snapshot::decode(&short).unwrap(), none);
    }

    #[test]
    fn continuity_fields_sit_where_version_2_puts_them() {
        let s = sample(1_700_000_000_000_000);
        let mut buf = Vec::new();
        s.encode(&mut buf);
        // After the fixed head (i64 ×2, u32 ×3, the address, process ×5, totals ×11).
        let head = 8 * 2 + 4 * 3 + 2 + s.http_addr.len() + 8 * 5 + 8 * 11;
        let u64_at = |at: usize| u64::from_le_bytes(buf[at..at + 8].try_into().unwrap());
        assert_eq!(u64_at(head), 7, "duplicates first");
        assert_eq!(u64_at(head + 8 * 4), 12, "trades missing");
        assert_eq!(u64_at(head + 8 * 11), 1, "oversized last");
        let flag = head + 8 * 12;
        assert_eq!(buf[flag..flag + 4], 1u32.to_le_bytes(), "backfill present");
        assert_eq!(u64_at(flag + 4), 2, "backfill jobs");
        // A flag other than 0/1 is an error, not a guess.
        let mut bad = buf.clone();
        bad[flag] = 7;
        assert!(Snapshot::decode(&bad)
            .unwrap_err()
            .contains("backfill flag 7"));
    }

    #[test]
    fn freshness_is_the_newest_trade_of_any_market() {
        let s = sample(10_000_000_000);
        assert_eq!(s.freshness_s(10_000_000_000), Some(1.5));
    }
}
