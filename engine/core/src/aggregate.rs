//! Ticks → 1-second bars, per market, exactly as aggr-server builds them, written through to
//! the bar store.
//!
//! Rules (DESIGN.md "Bars, closing and late trades", seed-compat.md "The 1-second bar"):
//! - the bucket is `floor(ts / 1 s)` on the exchange timestamp;
//! - a market's bar for second S closes when a tick of that market with time ≥ S+1 arrives, or
//!   (live only) when [`Aggregator::close_due`] sees the wall clock past S+1+grace;
//! - a tick for a second that is already closed amends that bar in the store and counts as late;
//! - open/close are the first/last trades by exchange time, equal times in arrival order.
//!
//! Every update is written through to the store slot (a seqlock write, no syscall), so readers in
//! other processes see the forming bar too; the CLOSED flag tells them it is final.
//!
//! Open-interest ticks are not part of bars: they go to the market's open-interest series
//! (`store::OiWriter`), the last reading of each second (by arrival) kept, and never open,
//! close or amend a bar.

use crate::bar::Bar;
use crate::market::{MarketIdx, Tick};
use crate::store::{flags, DayWriter, OiWriter, StoreError};
use feeds::{EventKind, Side};
use std::path::{Path, PathBuf};

const US_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Fold one tick into a bar of its second.
#[inline]
pub fn apply(bar: &mut Bar, tick: &Tick) {
    let notional = tick.price * tick.qty;
    match tick.kind {
        // Not part of a bar: `Aggregator::on_tick` sends them to the open-interest series.
        EventKind::OpenInterest => {}
        // Neither: id-only prints and control records (`Aggregator::on_tick` handles the marks).
        EventKind::NonMarket | EventKind::GapMark => {}
        EventKind::Liquidation => match tick.side {
            Side::Buy => bar.lbuy += notional,
            Side::Sell => bar.lsell += notional,
        },
        EventKind::Trade => {
            let us = tick.ts_us.rem_euclid(US_PER_SEC) as u32;
            if !bar.has_trades() {
                bar.open = tick.price;
                bar.high = tick.price;
                bar.low = tick.price;
                bar.close = tick.price;
                bar.open_us = us;
                bar.close_us = us;
            } else {
                bar.high = bar.high.max(tick.price);
                bar.low = bar.low.min(tick.price);
                // Strictly earlier replaces open; equal-or-later replaces close: ties keep
                // arrival order.
                if us < bar.open_us {
                    bar.open = tick.price;
                    bar.open_us = us;
                }
                if us >= bar.close_us {
                    bar.close = tick.price;
                    bar.close_us = us;
                }
            }
            match tick.side {
                Side::Buy => {
                    bar.vbuy += notional;
                    bar.cbuy += tick.fills;
                }
                Side::Sell => {
                    bar.vsell += notional;
                    bar.csell += tick.fills;
                }
            }
        }
    }
}

/// A bar that has just been closed (or amended after closing).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClosedBar {
    pub market: MarketIdx,
    /// Start of the bar, seconds since the Unix epoch.
    pub second: i64,
    pub bar: Bar,
    /// True when this is an amendment of an already closed bar by a late tick.
    pub late: bool,
}

/// Counters of one aggregator (single writer: its shard).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AggStats {
    pub ticks: u64,
    pub bars_closed: u64,
    pub late_ticks: u64,
    pub store_errors: u64,
    /// Open-interest readings stored (not counted in `ticks`).
    pub oi_ticks: u64,
    /// Gap marks applied (set or clear of [`flags::GAP`] over a range of seconds).
    pub gap_marks: u64,
}

#[derive(Debug)]
struct MarketBars {
    id: String,
    /// Open (or last) second, `i64::MIN` before the first tick.
    second: i64,
    bar: Bar,
    closed: bool,
    writer: Option<DayWriter>,
    /// The open-interest file of the day of the last reading, opened at the first one.
    oi_writer: Option<OiWriter>,
    /// Seconds lying in an unrecovered data gap (inclusive range): every bar written for them
    /// carries [`flags::GAP`] until the gap is closed.
    gap: Option<(i64, i64)>,
}

/// The bars of every market one shard owns.
#[derive(Debug)]
pub struct Aggregator {
    root: PathBuf,
    /// Indexed by global market index; `None` for markets of other shards.
    markets: Vec<Option<MarketBars>>,
    stats: AggStats,
}

impl Aggregator {
    /// Bars are stored under `<data_dir>/bars/1s/…`.
    pub fn new(data_dir: &Path) -> Aggregator {
        Aggregator {
            root: data_dir.to_path_buf(),
            markets: Vec::new(),
            stats: AggStats::default(),
        }
    }

    /// Register a market before ticks for it arrive (allocates; start-up only).
    pub fn add_market(&mut self, idx: MarketIdx, market_id: &str) {
        let i = idx as usize;
        if self.markets.len() <= i {
            self.markets.resize_with(i + 1, || None);
        }
        self.markets[i] = Some(MarketBars {
            id: market_id.to_string(),
            second: i64::MIN,
            bar: Bar::EMPTY,
            closed: true,
            writer: None,
            oi_writer: None,
            gap: None,
        });
    }

    /// Open (creating if needed) every market's day file for `day` now, so that the first tick
    /// of the day does not pay for it on the hot path.
    pub fn prepare_day(&mut self, day: i64) -> Result<(), StoreError> {
        let root = &self.root;
        for m in self.markets.iter_mut().flatten() {
            writer_for(root, m, day * SECS_PER_DAY)?;
        }
        Ok(())
    }

    pub fn stats(&self) -> AggStats {
        self.stats
    }

    /// Fold a tick into its market's bars; `on_closed` sees each bar this closes or amends.
    /// A tick of an unregistered market is a programming error upstream and is dropped with a
    /// store-error count rather than a panic.
    pub fn on_tick(
        &mut self,
        tick: &Tick,
        on_closed: &mut dyn FnMut(ClosedBar),
    ) -> Result<(), StoreError> {
        let root = &self.root;
        let Some(Some(m)) = self.markets.get_mut(tick.market as usize) else {
            self.stats.ticks += u64::from(tick.kind != EventKind::OpenInterest);
            self.stats.store_errors += 1;
            return Ok(());
        };
        match tick.kind {
            EventKind::OpenInterest => {
                self.stats.oi_ticks += 1;
                return write_oi(root, m, tick);
            }
            EventKind::NonMarket => return Ok(()),
            EventKind::GapMark => {
                if let Some((from, to, set)) = tick.as_gap_mark() {
                    self.stats.gap_marks += 1;
                    return mark_gap(root, m, from, to, set);
                }
                return Ok(());
            }
            EventKind::Trade | EventKind::Liquidation => {}
        }
        self.stats.ticks += 1;
        let sec = tick.ts_us.div_euclid(US_PER_SEC);
        if sec > m.second || m.second == i64::MIN {
            if !m.closed {
                m.closed = true;
                let (second, bar) = (m.second, m.bar);
                write(root, m, second, &bar, flags::CLOSED)?;
                self.stats.bars_closed += 1;
                on_closed(ClosedBar {
                    market: tick.market,
                    second,
                    bar,
                    late: false,
                });
            }
            m.second = sec;
            m.bar = Bar::EMPTY;
            m.closed = false;
            apply(&mut m.bar, tick);
            let bar = m.bar;
            write(root, m, sec, &bar, 0)
        } else if sec == m.second && !m.closed {
            apply(&mut m.bar, tick);
            let bar = m.bar;
            write(root, m, sec, &bar, 0)
        } else {
            // Late: the second is closed already. Amend the stored bar.
            self.stats.late_ticks += 1;
            let mut bar = if sec == m.second {
                m.bar
            } else {
                read(root, m, sec)?.unwrap_or(Bar::EMPTY)
            };
            apply(&mut bar, tick);
            if sec == m.second {
                m.bar = bar;
            }
            write(root, m, sec, &bar, flags::CLOSED | flags::LATE)?;
            on_closed(ClosedBar {
                market: tick.market,
                second: sec,
                bar,
                late: true,
            });
            Ok(())
        }
    }

    /// Close every open bar whose second ended at or before `now_us - grace_us` (live mode).
    pub fn close_due(
        &mut self,
        now_us: i64,
        grace_us: i64,
        on_closed: &mut dyn FnMut(ClosedBar),
    ) -> Result<(), StoreError> {
        self.close_where(
            |second| (second + 1) * US_PER_SEC + grace_us <= now_us,
            on_closed,
        )
    }

    /// Close every open bar (shutdown, end of a replay).
    pub fn close_all(&mut self, on_closed: &mut dyn FnMut(ClosedBar)) -> Result<(), StoreError> {
        self.close_where(|_| true, on_closed)
    }

    fn close_where(
        &mut self,
        due: impl Fn(i64) -> bool,
        on_closed: &mut dyn FnMut(ClosedBar),
    ) -> Result<(), StoreError> {
        let root = &self.root;
        for (i, slot) in self.markets.iter_mut().enumerate() {
            let Some(m) = slot else { continue };
            if m.closed || !due(m.second) {
                continue;
            }
            m.closed = true;
            let (second, bar) = (m.second, m.bar);
            write(root, m, second, &bar, flags::CLOSED)?;
            self.stats.bars_closed += 1;
            on_closed(ClosedBar {
                market: i as MarketIdx,
                second,
                bar,
                late: false,
            });
        }
        Ok(())
    }

    /// Ask the OS to write dirty pages of every open day file back (IO-side timer; MS_ASYNC).
    pub fn flush(&self) -> std::io::Result<()> {
        for m in self.markets.iter().flatten() {
            if let Some(w) = &m.writer {
                w.flush_async()?;
            }
            if let Some(w) = &m.oi_writer {
                w.flush_async()?;
            }
        }
        Ok(())
    }
}

/// The writer for `second`'s day, opening (or creating) the day file when the day changes.
/// Opening a file is the one syscall-bearing step on the shard; it happens once per market per
/// UTC day (and for a late tick into a previous day).
fn writer_for<'a>(
    root: &Path,
    m: &'a mut MarketBars,
    second: i64,
) -> Result<&'a mut DayWriter, StoreError> {
    let day = second.div_euclid(SECS_PER_DAY);
    let reopen = match &m.writer {
        Some(w) => w.day() != day,
        None => true,
    };
    if reopen {
        m.writer = Some(DayWriter::open_or_create(root, &m.id, day)?);
    }
    // Just set above when it was None.
    Ok(m.writer.as_mut().expect("writer set"))
}

fn write(
    root: &Path,
    m: &mut MarketBars,
    second: i64,
    bar: &Bar,
    mut flags: u32,
) -> Result<(), StoreError> {
    if let Some((from, to)) = m.gap {
        if (from..=to).contains(&second) {
            flags |= flags::GAP;
        }
    }
    let w = writer_for(root, m, second)?;
    w.write(second.rem_euclid(SECS_PER_DAY) as u32, bar, flags);
    Ok(())
}

/// Longest range of seconds one gap mark rewrites (two days): a longer one is clamped to its
/// most recent part, which is what readers look at.
const MAX_MARK_SECONDS: i64 = 2 * SECS_PER_DAY;

/// Set or clear [`flags::GAP`] on every stored bar of `from..=to` (and on bars written for
/// those seconds later, while the gap stays open). Runs only when a gap opens or closes.
fn mark_gap(
    root: &Path,
    m: &mut MarketBars,
    from: i64,
    to: i64,
    set: bool,
) -> Result<(), StoreError> {
    if to < from {
        return Ok(());
    }
    let from = from.max(to - MAX_MARK_SECONDS + 1);
    m.gap = if set {
        Some(match m.gap {
            Some((a, b)) => (a.min(from), b.max(to)),
            None => (from, to),
        })
    } else {
        match m.gap {
            // Clearing part of the open range: keep what lies outside it.
            Some((a, b)) if a < from => Some((a, b.min(from - 1))),
            Some((_, b)) if b > to => Some((to + 1, b)),
            _ => None,
        }
    };
    let mut second = from;
    while second <= to {
        let day_end = (second.div_euclid(SECS_PER_DAY) + 1) * SECS_PER_DAY - 1;
        let path = crate::store::day_path(root, &m.id, second.div_euclid(SECS_PER_DAY))?;
        if !path.exists() {
            second = day_end + 1;
            continue;
        }
        let w = writer_for(root, m, second)?;
        let (lo, hi) = (
            second.rem_euclid(SECS_PER_DAY) as u32,
            to.min(day_end).rem_euclid(SECS_PER_DAY) as u32,
        );
        for s in lo..=hi {
            if let Some((bar, f)) = w.read(s) {
                let nf = if set { f | flags::GAP } else { f & !flags::GAP };
                if nf != f {
                    w.write(s, &bar, nf);
                }
            }
        }
        second = day_end + 1;
    }
    Ok(())
}

/// Store an open-interest reading in its second's slot, opening that day's file when the day
/// changes (once per market per UTC day, as for bars).
fn write_oi(root: &Path, m: &mut MarketBars, tick: &Tick) -> Result<(), StoreError> {
    let second = tick.ts_us.div_euclid(US_PER_SEC);
    let day = second.div_euclid(SECS_PER_DAY);
    let reopen = match &m.oi_writer {
        Some(w) => w.day() != day,
        None => true,
    };
    if reopen {
        m.oi_writer = Some(OiWriter::open_or_create(root, &m.id, day)?);
    }
    if let Some(w) = m.oi_writer.as_mut() {
        w.write(
            second.rem_euclid(SECS_PER_DAY) as u32,
            tick.qty,
            tick.price,
            tick.ts_us,
        );
    }
    Ok(())
}

fn read(root: &Path, m: &mut MarketBars, second: i64) -> Result<Option<Bar>, StoreError> {
    let w = writer_for(root, m, second)?;
    Ok(w.read(second.rem_euclid(SECS_PER_DAY) as u32)
        .map(|(bar, _)| bar))
}
