//! The open-interest series: one file per market per UTC day beside the bars, holding the last
//! open-interest reading of each second.
//!
//! Same header page, seqlock and crash rules as bar files (`layout`, `file`), with magic
//! `SQZFOPIN` and 32-byte slots; see the `store` module docs for the byte layout.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::file::{open_read_only, open_writable};
use super::layout::{Header, OiRecord, Slots, DAY_MS, OI, SLOTS_PER_DAY};
use super::path::{oi_day_path, oi_dir, oi_market_dir, split_market_id, OI_EXTENSION};
use super::query::{day_files, subdirs};
use super::{Store, StoreError};

/// One stored open-interest reading, as a reader sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OiPoint {
    /// Start of the second the reading falls in, ms since the Unix epoch.
    pub time_ms: i64,
    /// Open interest in base units.
    pub oi: f64,
    /// The venue's reference (mark) price sent with the reading; 0 when the venue sends none.
    pub price: f64,
    /// Exchange time of the reading, µs since the Unix epoch (the last one of its second).
    pub ts_us: i64,
}

/// The one writable mapping of one market-day open-interest file: same contract as
/// [`DayWriter`](super::DayWriter) (exclusive `flock`, nobody truncates an open file).
#[derive(Debug)]
pub struct OiWriter {
    slots: Slots,
    day: i64,
    path: PathBuf,
    /// Held open for its `flock`, released when the writer drops.
    _file: File,
}

impl OiWriter {
    /// Opens `market_id`'s open-interest file for `day` under the data directory `root`,
    /// creating it (complete, under a temporary name, then linked) if it does not exist. An
    /// existing file is validated and never overwritten. File I/O: call it off the hot path.
    pub fn open_or_create(root: &Path, market_id: &str, day: i64) -> Result<OiWriter, StoreError> {
        split_market_id(market_id)?;
        let path = oi_day_path(root, market_id, day)?;
        let (slots, file) = open_writable(&path, OI, market_id, day)?;
        Ok(OiWriter {
            slots,
            day,
            path,
            _file: file,
        })
    }

    /// Stores the reading of `second_of_day` (`< 86 400`), replacing what the slot held: the
    /// last reading of a second wins. Plain stores into the mapping: no syscall, no lock, no
    /// allocation. An out-of-range second is ignored.
    #[inline]
    pub fn write(&mut self, second_of_day: u32, oi: f64, price: f64, ts_us: i64) {
        if second_of_day < SLOTS_PER_DAY {
            self.slots
                .store_oi(second_of_day, &OiRecord { oi, price, ts_us }, 0);
        }
    }

    /// Starts writing dirty pages back (`msync(MS_ASYNC)`), as [`DayWriter::flush_async`].
    ///
    /// [`DayWriter::flush_async`]: super::DayWriter::flush_async
    pub fn flush_async(&self) -> io::Result<()> {
        self.slots.flush_async()
    }

    /// The day (days since 1970-01-01, UTC) this writer holds.
    pub fn day(&self) -> i64 {
        self.day
    }

    /// The file this writer holds.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A read-only mapping of one open-interest day file; reads are seqlocked, so a reading is
/// never seen half-written. Same contract as [`DayReader`](super::DayReader).
#[derive(Debug)]
pub struct OiReader {
    slots: Slots,
    header: Header,
    market_id: String,
    path: PathBuf,
}

impl OiReader {
    /// Maps the open-interest file at `path` read-only after validating its header (magic
    /// `SQZFOPIN`, version, sizes) and length; errors name the file and what is wrong.
    pub fn open(path: &Path) -> Result<OiReader, StoreError> {
        let (slots, header) = open_read_only(path, OI)?;
        let market_id = header.market_id(path)?.to_owned();
        Ok(OiReader {
            slots,
            header,
            market_id,
            path: path.to_path_buf(),
        })
    }

    fn open_expecting(path: &Path, market_id: &str, day: i64) -> Result<OiReader, StoreError> {
        let reader = OiReader::open(path)?;
        reader.header.expect(path, market_id, day)?;
        Ok(reader)
    }

    /// The market id from the header.
    pub fn market_id(&self) -> &str {
        &self.market_id
    }

    /// The day (days since 1970-01-01, UTC) from the header.
    pub fn day(&self) -> i64 {
        self.header.day
    }

    /// The file this reader maps.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The committed reading of `second_of_day`; `None` if never written, out of range, or
    /// left mid-write by a crashed writer.
    pub fn get(&self, second_of_day: u32) -> Option<OiPoint> {
        if second_of_day >= SLOTS_PER_DAY {
            return None;
        }
        let (r, _) = self.slots.load_oi_shared(second_of_day)?;
        Some(OiPoint {
            time_ms: self.header.day_start_ms + i64::from(second_of_day) * 1000,
            oi: r.oi,
            price: r.price,
            ts_us: r.ts_us,
        })
    }

    /// Every committed reading of the day, in time order.
    pub fn iter(&self) -> impl Iterator<Item = OiPoint> + '_ {
        (0..SLOTS_PER_DAY).filter_map(move |s| self.get(s))
    }
}

impl Store {
    /// Market ids that have at least one open-interest day file, sorted.
    pub fn oi_markets(&self) -> Result<Vec<String>, StoreError> {
        let mut markets = Vec::new();
        for (exchange, exchange_dir) in subdirs(&oi_dir(&self.root))? {
            for (pair, pair_dir) in subdirs(&exchange_dir)? {
                let id = format!("{exchange}:{pair}");
                let ours = oi_market_dir(&self.root, &id).is_ok_and(|dir| dir == pair_dir);
                if ours && !self.oi_days(&id)?.is_empty() {
                    markets.push(id);
                }
            }
        }
        markets.sort();
        Ok(markets)
    }

    /// Days for which `market_id` has an open-interest file, sorted.
    pub fn oi_days(&self, market_id: &str) -> Result<Vec<i64>, StoreError> {
        let dir = oi_market_dir(&self.root, market_id)?;
        let mut days: Vec<i64> = day_files(&dir, OI_EXTENSION)?
            .into_iter()
            .map(|(day, _)| day)
            .collect();
        days.sort_unstable();
        Ok(days)
    }

    /// Committed open-interest readings of `market_id` with `from_ms <= time_ms < to_ms`, in
    /// time order across day files. A damaged file, or one of another market or day, is an
    /// error naming it.
    pub fn oi_range(
        &self,
        market_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<OiPoint>, StoreError> {
        let mut out = Vec::new();
        if from_ms >= to_ms {
            return Ok(out);
        }
        let (first, last) = (from_ms.div_euclid(DAY_MS), (to_ms - 1).div_euclid(DAY_MS));
        let mut files = day_files(&oi_market_dir(&self.root, market_id)?, OI_EXTENSION)?;
        files.retain(|(day, _)| (first..=last).contains(day));
        files.sort_unstable();
        for (day, path) in files {
            let reader = OiReader::open_expecting(&path, market_id, day)?;
            let start = day * DAY_MS;
            let first_second = |ms: i64| {
                let offset = ms.clamp(start, start + DAY_MS) - start;
                (offset + 999).div_euclid(1000) as u32
            };
            let seconds = first_second(from_ms)..first_second(to_ms).min(SLOTS_PER_DAY);
            out.extend(seconds.filter_map(|s| reader.get(s)));
        }
        Ok(out)
    }
}

/// The last reading of each `tf`-second bucket (`tf ≥ 1`), timed at the bucket's start.
pub fn resample_oi(points: &[OiPoint], tf: u32) -> Vec<OiPoint> {
    let step = i64::from(tf.max(1)) * 1000;
    let mut out: Vec<OiPoint> = Vec::new();
    for p in points {
        let bucket = p.time_ms.div_euclid(step) * step;
        match out.last_mut() {
            Some(last) if last.time_ms == bucket => {
                *last = OiPoint {
                    time_ms: bucket,
                    ..*p
                }
            }
            _ => out.push(OiPoint {
                time_ms: bucket,
                ..*p
            }),
        }
    }
    out
}
