//! Replay: frames from tapes through the same decode → route → bars path as the live engine,
//! on the calling thread, using event time only — so the same tape always gives the same bars
//! (and the same open-interest series, for venues that send it).
//!
//! Markets need no configuration: a symbol seen for the first time becomes a market.

use crate::aggregate::{Aggregator, ClosedBar};
use crate::capture::{CaptureError, CaptureReader, RecordKind};
use crate::continuity::{Continuity, ContinuityConfig, Source};
use crate::market::{MarketTable, Tick};
use crate::route::Router;
use crate::stats::FeedStats;
use crate::store::StoreError;
use crate::strategy::{SignalEvent, Strategy};
use crate::tape::{TapeError, TapeReader};
use feeds::{EventKind, Venue};
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

/// Totals of a replay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayReport {
    pub lines: u64,
    pub bad_lines: u64,
    pub frames: u64,
    pub events: u64,
    pub decode_errors: u64,
    pub markets: usize,
    pub bars_closed: u64,
    pub late_ticks: u64,
    /// Open-interest readings stored in the per-second open-interest series.
    pub oi_points: u64,
    /// Trades dropped as seen already (by trade id: a capture taken across a rotation holds
    /// the overlap twice, a reconnect's replayed snapshot repeats trades).
    pub duplicates: u64,
}

/// Single-threaded engine for tapes (and the allocation test / benchmarks).
#[derive(Debug)]
pub struct Replay {
    table: MarketTable,
    router: Router,
    agg: Aggregator,
    ticks: Vec<Tick>,
    buf: Vec<u8>,
    lines: u64,
    bad_lines: u64,
    strategy: Option<Strategy>,
    /// Event clock: the latest exchange time seen (µs), and the second it was last acted on.
    event_us: i64,
    clock_second: i64,
    grace_us: i64,
    signals: Vec<SignalEvent>,
    /// De-duplication by trade id, as on the live feed.
    continuity: Continuity,
}

impl Replay {
    /// Bars go to `<data_dir>/bars/1s/…`.
    pub fn new(data_dir: &Path) -> Replay {
        Replay {
            continuity: Continuity::new(
                ContinuityConfig {
                    backfill: false,
                    ..ContinuityConfig::default()
                },
                &MarketTable::new(1),
                &[],
                1,
                0,
            ),
            table: MarketTable::new(1),
            router: Router::new(Arc::new(FeedStats::default())),
            agg: Aggregator::new(data_dir),
            ticks: Vec::with_capacity(1024),
            buf: Vec::with_capacity(64 * 1024),
            lines: 0,
            bad_lines: 0,
            strategy: None,
            event_us: i64::MIN,
            clock_second: i64::MIN,
            grace_us: 0,
            signals: Vec::new(),
        }
    }

    /// A replay over a fixed market table (so market indices match a strategy's symbols)
    /// that runs `strategy` in event time: bars of second S close for the strategy once a
    /// tick with time ≥ S+1+grace has been seen, exactly as the live shard does on the wall
    /// clock. Frames of markets not in `table` are counted as unknown symbols.
    pub fn with_strategy(
        data_dir: &Path,
        table: MarketTable,
        strategy: Strategy,
        grace_ms: u64,
    ) -> Replay {
        let mut r = Replay::new(data_dir);
        for (idx, m) in table.iter() {
            r.agg.add_market(idx, &m.id);
        }
        r.table = table;
        r.strategy = Some(strategy);
        r.grace_us = grace_ms as i64 * 1000;
        r.signals = Vec::with_capacity(1024);
        r
    }

    /// Signals emitted since the last call, in order.
    pub fn take_signals(&mut self) -> std::vec::Drain<'_, SignalEvent> {
        self.signals.drain(..)
    }

    pub fn strategy(&self) -> Option<&Strategy> {
        self.strategy.as_ref()
    }

    /// One frame through decode → route → aggregate. `frame` is copied into a reused buffer
    /// (the decoder parses in place).
    pub fn frame(
        &mut self,
        venue: Venue,
        conn: u64,
        frame: &[u8],
        recv_ns: u64,
        on_closed: &mut dyn FnMut(ClosedBar),
    ) -> Result<(), StoreError> {
        self.buf.clear();
        self.buf.extend_from_slice(frame);
        self.frame_in_place(venue, conn, recv_ns, on_closed)
    }

    /// Like [`Replay::frame`] for a frame already in the reused buffer.
    fn frame_in_place(
        &mut self,
        venue: Venue,
        conn: u64,
        recv_ns: u64,
        on_closed: &mut dyn FnMut(ClosedBar),
    ) -> Result<(), StoreError> {
        let before = self.table.len();
        let table = &mut self.table;
        let ticks = &mut self.ticks;
        ticks.clear();
        let fixed = self.strategy.is_some();
        let _ = self.router.route(
            venue,
            conn,
            &mut self.buf,
            recv_ns,
            &mut |v, s| {
                if fixed {
                    table.lookup(v, s)
                } else {
                    Some(table.add(v, *s))
                }
            },
            &mut |t| ticks.push(t),
        );
        for idx in before..self.table.len() {
            let idx = idx as u32;
            self.agg.add_market(idx, &self.table.get(idx).id);
        }
        // The live feed's de-duplication (by trade id; one stream per venue here, so no
        // handover): the same capture gives the same bars as the run that recorded it.
        let (cont, table) = (&mut self.continuity, &self.table);
        self.ticks.retain(|t| {
            if !cont.knows(t.market) {
                cont.add_market(t.market, table.get(t.market).venue);
            }
            let src = Source {
                sub: 0,
                replacement: false,
            };
            cont.admit(t, src, t.recv_ns)
        });
        cont.actions().clear();
        let Some(strategy) = self.strategy.as_mut() else {
            for t in &self.ticks {
                self.agg.on_tick(t, on_closed)?;
            }
            return Ok(());
        };
        let signals = &mut self.signals;
        for t in &self.ticks {
            self.agg.on_tick(t, &mut |b| {
                on_closed(b);
                strategy.on_bar(&b, recv_ns, &mut |s| signals.push(s));
            })?;
            // The event clock follows trades and liquidations only, as before open interest
            // was stored: the same tape keeps giving the same signals.
            if t.kind != EventKind::OpenInterest {
                self.event_us = self.event_us.max(t.ts_us);
            }
        }
        // Act on the event clock once per second of it.
        let second = (self.event_us - self.grace_us).div_euclid(1_000_000);
        if self.event_us != i64::MIN && second > self.clock_second {
            self.clock_second = second;
            self.agg.close_due(self.event_us, self.grace_us, &mut |b| {
                on_closed(b);
                strategy.on_bar(&b, recv_ns, &mut |s| signals.push(s));
            })?;
            strategy.advance(second - 1, recv_ns, &mut |s| signals.push(s));
        }
        Ok(())
    }

    /// Every line of a JSONL tape. Bad lines are counted and reported through `on_bad`.
    pub fn tape(
        &mut self,
        input: impl BufRead,
        on_bad: &mut dyn FnMut(&TapeError),
        on_closed: &mut dyn FnMut(ClosedBar),
    ) -> Result<(), ReplayError> {
        let mut reader = TapeReader::new(input);
        loop {
            match reader.next_record() {
                Ok(Some(rec)) => {
                    self.lines += 1;
                    self.buf.clear();
                    self.buf.extend_from_slice(rec.frame);
                    let (venue, conn, ts) = (rec.venue, rec.conn, rec.ts_ns);
                    self.frame_in_place(venue, conn, ts, on_closed)?;
                }
                Ok(None) => return Ok(()),
                Err(TapeError::Io(e)) => return Err(ReplayError::Io(e)),
                Err(e) => {
                    self.lines += 1;
                    self.bad_lines += 1;
                    on_bad(&e);
                }
            }
        }
    }

    /// Every frame of a capture file (see [`crate::capture`]), fed with its receive wall time.
    /// `pace` is called with each frame's monotonic receive time before it is replayed. A
    /// record of a venue this build does not know, and a truncated or corrupt tail, are
    /// counted as bad lines and reported through `on_bad` (a damaged tail ends the file; the
    /// records before it are replayed). Connection-opened markers are not frames and are
    /// skipped.
    pub fn capture<R: std::io::Read>(
        &mut self,
        reader: &mut CaptureReader<R>,
        pace: &mut dyn FnMut(u64),
        on_bad: &mut dyn FnMut(&CaptureError),
        on_closed: &mut dyn FnMut(ClosedBar),
    ) -> Result<(), ReplayError> {
        loop {
            match reader.next_record() {
                Ok(Some(rec)) => {
                    if rec.kind == RecordKind::Open {
                        continue;
                    }
                    self.lines += 1;
                    let Some(venue) = rec.venue else {
                        self.bad_lines += 1;
                        on_bad(&CaptureError::Corrupt {
                            offset: rec.offset,
                            reason: "venue id not known to this build",
                        });
                        continue;
                    };
                    pace(rec.mono_ns);
                    self.buf.clear();
                    self.buf.extend_from_slice(rec.payload);
                    let (conn, ts) = (rec.conn, rec.wall_ns);
                    self.frame_in_place(venue, conn, ts, on_closed)?;
                }
                Ok(None) => return Ok(()),
                Err(CaptureError::Io(e)) => return Err(ReplayError::Io(e)),
                Err(e) => {
                    self.lines += 1;
                    self.bad_lines += 1;
                    on_bad(&e);
                }
            }
        }
    }

    /// Close every open bar and, with a strategy, evaluate through the last second seen.
    /// [`Replay::finish`] does this too; call it first to collect the last signals with
    /// [`Replay::take_signals`].
    pub fn close_out(&mut self, on_closed: &mut dyn FnMut(ClosedBar)) -> Result<(), StoreError> {
        match self.strategy.as_mut() {
            Some(strategy) => {
                let signals = &mut self.signals;
                self.agg.close_all(&mut |b| {
                    on_closed(b);
                    strategy.on_bar(&b, 0, &mut |s| signals.push(s));
                })?;
                // Every bar is final now: evaluate through the last second seen.
                if self.event_us != i64::MIN {
                    let last = self.event_us.div_euclid(1_000_000);
                    strategy.advance(last, 0, &mut |s| signals.push(s));
                }
                Ok(())
            }
            None => self.agg.close_all(on_closed),
        }
    }

    /// Close every open bar and return the totals.
    pub fn finish(
        mut self,
        on_closed: &mut dyn FnMut(ClosedBar),
    ) -> Result<ReplayReport, StoreError> {
        self.close_out(on_closed)?;
        self.agg.flush().map_err(|e| StoreError::Io {
            path: Default::default(),
            source: e,
        })?;
        let s = self.router.stats();
        let a = self.agg.stats();
        Ok(ReplayReport {
            lines: self.lines,
            bad_lines: self.bad_lines,
            frames: s.frames.get(),
            events: s.events.get(),
            decode_errors: s.decode_errors(),
            markets: self.table.len(),
            bars_closed: a.bars_closed,
            late_ticks: a.late_ticks,
            oi_points: a.oi_ticks,
            duplicates: self.continuity.counters().duplicates,
        })
    }
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    #[error("reading the tape: {0}")]
    Io(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The markets a tape's frames carry, in order of first appearance (a first pass before a
/// replay with a strategy, which needs the symbols up front). Bad lines are skipped here;
/// the replay proper reports them.
pub fn scan_markets(input: impl BufRead, table: &mut MarketTable) -> Result<(), ReplayError> {
    let mut router = Router::new(Arc::new(FeedStats::default()));
    let mut reader = TapeReader::new(input);
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        match reader.next_record() {
            Ok(Some(rec)) => {
                buf.clear();
                buf.extend_from_slice(rec.frame);
                let _ = router.route(
                    rec.venue,
                    rec.conn,
                    &mut buf,
                    rec.ts_ns,
                    &mut |v, s| Some(table.add(v, *s)),
                    &mut |_| {},
                );
            }
            Ok(None) => return Ok(()),
            Err(TapeError::Io(e)) => return Err(ReplayError::Io(e)),
            Err(_) => {}
        }
    }
}

/// [`scan_markets`] for a capture file.
pub fn scan_capture_markets<R: std::io::Read>(
    reader: &mut CaptureReader<R>,
    table: &mut MarketTable,
) -> Result<(), ReplayError> {
    let mut router = Router::new(Arc::new(FeedStats::default()));
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        match reader.next_record() {
            Ok(Some(rec)) => {
                let (Some(venue), false) = (rec.venue, rec.kind == RecordKind::Open) else {
                    continue;
                };
                buf.clear();
                buf.extend_from_slice(rec.payload);
                let _ = router.route(
                    venue,
                    rec.conn,
                    &mut buf,
                    rec.wall_ns,
                    &mut |v, s| Some(table.add(v, *s)),
                    &mut |_| {},
                );
            }
            Ok(None) => return Ok(()),
            Err(CaptureError::Io(e)) => return Err(ReplayError::Io(e)),
            Err(_) => return Ok(()),
        }
    }
}
