//! Replay: frames from tapes through the same decode → route → bars path as the live engine,
//! on the calling thread, using event time only — so the same tape always gives the same bars.
//!
//! Markets need no configuration: a symbol seen for the first time becomes a market.

use crate::aggregate::{Aggregator, ClosedBar};
use crate::market::{MarketTable, Tick};
use crate::route::Router;
use crate::stats::FeedStats;
use crate::store::StoreError;
use crate::tape::{TapeError, TapeReader};
use feeds::Venue;
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
}

impl Replay {
    /// Bars go to `<data_dir>/bars/1s/…`.
    pub fn new(data_dir: &Path) -> Replay {
        Replay {
            table: MarketTable::new(1),
            router: Router::new(Arc::new(FeedStats::default())),
            agg: Aggregator::new(data_dir),
            ticks: Vec::with_capacity(1024),
            buf: Vec::with_capacity(64 * 1024),
            lines: 0,
            bad_lines: 0,
        }
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
        let _ = self.router.route(
            venue,
            conn,
            &mut self.buf,
            recv_ns,
            &mut |v, s| Some(table.add(v, *s)),
            &mut |t| ticks.push(t),
        );
        for idx in before..self.table.len() {
            let idx = idx as u32;
            self.agg.add_market(idx, &self.table.get(idx).id);
        }
        for t in &self.ticks {
            self.agg.on_tick(t, on_closed)?;
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

    /// Close every open bar and return the totals.
    pub fn finish(
        mut self,
        on_closed: &mut dyn FnMut(ClosedBar),
    ) -> Result<ReplayReport, StoreError> {
        self.agg.close_all(on_closed)?;
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
