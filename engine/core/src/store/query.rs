//! The read side for tools: listing markets and days, range queries across day files,
//! retention, and higher timeframes computed from 1-second bars.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::file::DayReader;
use super::layout::{DAY_MS, SLOTS_PER_DAY};
use super::path::{
    bars_dir, decode_component, market_dir, oi_dir, parse_day_file_with, EXTENSION, OI_EXTENSION,
};
use super::{StoreError, StoredBar};
use crate::bar::Bar;

/// The bar store under one data directory, for listing and querying (writing goes through
/// [`DayWriter`](super::DayWriter)).
#[derive(Debug, Clone)]
pub struct Store {
    pub(super) root: PathBuf,
}

impl Store {
    /// The store under the data directory `root` (its bars live in `<root>/bars/1s/`).
    pub fn new(root: &Path) -> Store {
        Store {
            root: root.to_path_buf(),
        }
    }

    /// Market ids that have at least one day file, sorted. Directories whose names the store
    /// could not have written are skipped.
    pub fn markets(&self) -> Result<Vec<String>, StoreError> {
        let mut markets = Vec::new();
        for (exchange, exchange_dir) in subdirs(&bars_dir(&self.root))? {
            for (pair, pair_dir) in subdirs(&exchange_dir)? {
                let id = format!("{exchange}:{pair}");
                // Only ids that map back to this very directory (an exchange name holding a
                // `:` would split differently) are markets of this store.
                let ours = market_dir(&self.root, &id).is_ok_and(|dir| dir == pair_dir);
                if ours && !self.days(&id)?.is_empty() {
                    markets.push(id);
                }
            }
        }
        markets.sort();
        Ok(markets)
    }

    /// Days (days since 1970-01-01, UTC) for which `market_id` has a file, sorted.
    pub fn days(&self, market_id: &str) -> Result<Vec<i64>, StoreError> {
        let mut days: Vec<i64> = day_files(&market_dir(&self.root, market_id)?, EXTENSION)?
            .into_iter()
            .map(|(day, _)| day)
            .collect();
        days.sort_unstable();
        Ok(days)
    }

    /// Committed bars of `market_id` with `from_ms <= time_ms < to_ms`, in time order, across
    /// as many day files as the range covers. Days without a file contribute nothing; a day
    /// file that is damaged or belongs to another market or day is an error.
    pub fn range(
        &self,
        market_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<StoredBar>, StoreError> {
        let mut bars = Vec::new();
        if from_ms >= to_ms {
            return Ok(bars);
        }
        let (first, last) = (from_ms.div_euclid(DAY_MS), (to_ms - 1).div_euclid(DAY_MS));
        let dir = market_dir(&self.root, market_id)?;
        let mut files = day_files(&dir, EXTENSION)?;
        files.retain(|(day, _)| (first..=last).contains(day));
        files.sort_unstable();
        for (day, path) in files {
            let reader = DayReader::open_expecting(&path, market_id, day)?;
            let start = day * DAY_MS;
            // Seconds of this day whose start lies in [from_ms, to_ms): clamping first keeps
            // the arithmetic in range for any i64 bounds.
            let first_second = |ms: i64| {
                let offset = ms.clamp(start, start + DAY_MS) - start;
                (offset + 999).div_euclid(1000) as u32
            };
            let seconds = first_second(from_ms)..first_second(to_ms).min(SLOTS_PER_DAY);
            bars.extend(reader.iter_range(seconds));
        }
        Ok(bars)
    }

    /// Deletes the day files (bars and open interest) of every market that are older than
    /// `retention_days` days before `today` (`today - day > retention_days`; today's file is
    /// never deleted), then removes market and exchange directories left empty. Returns how
    /// many files it deleted.
    ///
    /// A reader or writer that still has a deleted file mapped keeps its mapping; the space is
    /// freed when it lets go.
    pub fn retain(&self, retention_days: u32, today: i64) -> Result<usize, StoreError> {
        let mut deleted = 0;
        for (series, extension) in [
            (bars_dir(&self.root), EXTENSION),
            (oi_dir(&self.root), OI_EXTENSION),
        ] {
            deleted += retain_series(&series, extension, retention_days, today)?;
        }
        Ok(deleted)
    }
}

/// [`Store::retain`] for one series directory (`bars/1s`, `oi/1s`).
fn retain_series(
    series: &Path,
    extension: &str,
    retention_days: u32,
    today: i64,
) -> Result<usize, StoreError> {
    let mut deleted = 0;
    for (_, exchange_dir) in subdirs(series)? {
        for (_, pair_dir) in subdirs(&exchange_dir)? {
            for (day, path) in day_files(&pair_dir, extension)? {
                if today.saturating_sub(day) > i64::from(retention_days) {
                    match fs::remove_file(&path) {
                        Ok(()) => deleted += 1,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(source) => return Err(StoreError::Io { path, source }),
                    }
                }
            }
            remove_if_empty(&pair_dir)?;
        }
        remove_if_empty(&exchange_dir)?;
    }
    Ok(deleted)
}

/// Subdirectories of `dir` whose names decode as store path components, with their paths. A
/// missing `dir` has none.
pub(super) fn subdirs(dir: &Path) -> Result<Vec<(String, PathBuf)>, StoreError> {
    let mut out = Vec::new();
    for entry in read_dir(dir)? {
        let entry = entry.map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        let is_dir = entry
            .file_type()
            .map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?
            .is_dir();
        let decoded = entry.file_name().to_str().and_then(decode_component);
        if let (true, Some(name)) = (is_dir, decoded) {
            out.push((name, path));
        }
    }
    Ok(out)
}

/// Day files (`YYYY-MM-DD<extension>`) in a market directory, unsorted. A missing directory
/// has none.
pub(super) fn day_files(dir: &Path, extension: &str) -> Result<Vec<(i64, PathBuf)>, StoreError> {
    let mut out = Vec::new();
    for entry in read_dir(dir)? {
        let entry = entry.map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let name = entry.file_name();
        if let Some(day) = name
            .to_str()
            .filter(|n| n.ends_with(extension))
            .and_then(|n| parse_day_file_with(n, extension))
        {
            out.push((day, entry.path()));
        }
    }
    Ok(out)
}

fn read_dir(dir: &Path) -> Result<impl Iterator<Item = io::Result<fs::DirEntry>>, StoreError> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(Some(entries).into_iter().flatten()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None.into_iter().flatten()),
        Err(source) => Err(StoreError::Io {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Removes `dir` if it is empty; a directory that is not (a writer just created a file in
/// it) or is already gone is left alone.
fn remove_if_empty(dir: &Path) -> Result<(), StoreError> {
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::EEXIST)) => Ok(()),
        Err(source) => Err(StoreError::Io {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Seconds in a timeframe written `<n><unit>` with unit `s`, `m`, `h` or `d`: `"1s"` → 1,
/// `"15m"` → 900, `"4h"` → 14 400, `"1d"` → 86 400. `None` for anything else, zero included.
pub fn parse_timeframe(s: &str) -> Option<u32> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = s.split_at(split);
    if digits.is_empty() {
        return None;
    }
    let n: u32 = digits.parse().ok()?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(unit_secs).filter(|&secs| secs > 0)
}

/// Start (ms) of the `tf_secs` bucket holding `time_ms`. Buckets are aligned to the epoch
/// when they tile a day evenly (the timeframe divides a day, or a whole number of days), and
/// otherwise restart at each UTC midnight, the day's last bucket being short.
fn bucket_start(time_ms: i64, tf_secs: u32) -> i64 {
    let tf_ms = i64::from(tf_secs) * 1000;
    let tiles_days = 86_400 % tf_secs == 0 || tf_secs % 86_400 == 0;
    let origin = if tiles_days {
        0
    } else {
        time_ms.div_euclid(DAY_MS) * DAY_MS
    };
    origin + (time_ms - origin).div_euclid(tf_ms) * tf_ms
}

/// Aggregates 1-second bars (in time order, as [`Store::range`] returns them) into
/// `tf_secs`-second bars, each stamped with its bucket's start. OHLC are first / max / min /
/// last over the bars that have OHLC (liquidation-only bars, whose OHLC are NaN, are
/// skipped; a bucket with none keeps NaN OHLC); `vbuy vsell lbuy lsell cbuy csell` are sums;
/// flags are OR-ed. `open_us`/`close_us` are those of the bars that set `open`/`close`, so
/// they are µs within that 1-second bar, not within the bucket. Buckets are aligned as
/// aggr-server aligns them: to the UTC epoch when the timeframe tiles a day, else to each
/// UTC midnight. `tf_secs == 0` yields nothing.
pub fn resample(bars: &[StoredBar], tf_secs: u32) -> Vec<StoredBar> {
    let mut out: Vec<StoredBar> = Vec::new();
    if tf_secs == 0 {
        return out;
    }
    for b in bars {
        let time_ms = bucket_start(b.time_ms, tf_secs);
        match out.last_mut() {
            Some(bucket) if bucket.time_ms == time_ms => {
                merge(&mut bucket.bar, &b.bar);
                bucket.flags |= b.flags;
            }
            _ => {
                let mut bar = b.bar;
                if !has_ohlc(&bar) {
                    let e = Bar::EMPTY;
                    (bar.open, bar.high, bar.low, bar.close) = (e.open, e.high, e.low, e.close);
                    (bar.open_us, bar.close_us) = (e.open_us, e.close_us);
                }
                out.push(StoredBar {
                    time_ms,
                    bar,
                    flags: b.flags,
                });
            }
        }
    }
    out
}

fn has_ohlc(bar: &Bar) -> bool {
    ![bar.open, bar.high, bar.low, bar.close]
        .iter()
        .any(|p| p.is_nan())
}

/// Folds the later bar `next` into `acc`.
fn merge(acc: &mut Bar, next: &Bar) {
    if has_ohlc(next) {
        if has_ohlc(acc) {
            acc.high = acc.high.max(next.high);
            acc.low = acc.low.min(next.low);
        } else {
            (acc.open, acc.high, acc.low, acc.open_us) =
                (next.open, next.high, next.low, next.open_us);
        }
        (acc.close, acc.close_us) = (next.close, next.close_us);
    }
    acc.vbuy += next.vbuy;
    acc.vsell += next.vsell;
    acc.lbuy += next.lbuy;
    acc.lsell += next.lsell;
    acc.cbuy = acc.cbuy.saturating_add(next.cbuy);
    acc.csell = acc.csell.saturating_add(next.csell);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeframes() {
        for (s, secs) in [
            ("1s", Some(1)),
            ("5s", Some(5)),
            ("1m", Some(60)),
            ("15m", Some(900)),
            ("1h", Some(3600)),
            ("4h", Some(14_400)),
            ("1d", Some(86_400)),
            ("0m", None),
            ("m", None),
            ("1", None),
            ("1M", None),
            ("-1m", None),
            ("+1m", None),
            ("1m ", None),
            ("99999999d", None),
            ("", None),
        ] {
            assert_eq!(parse_timeframe(s), secs, "{s:?}");
        }
    }

    #[test]
    fn buckets_align_to_the_epoch_or_to_midnight() {
        let day = 19_782 * DAY_MS;
        assert_eq!(bucket_start(day + 61_500, 60), day + 60_000);
        assert_eq!(
            bucket_start(day + 5 * 3_600_000 + 1, 4 * 3600),
            day + 4 * 3_600_000
        );
        assert_eq!(bucket_start(-1, 60), -60_000);
        // 7 minutes does not divide a day: buckets restart at midnight, the last is short.
        assert_eq!(bucket_start(day + 421_000, 420), day + 420_000);
        assert_eq!(bucket_start(day + DAY_MS - 1, 420), day + 205 * 420_000);
        assert_eq!(bucket_start(day + DAY_MS, 420), day + DAY_MS);
        // Whole days stay epoch-aligned.
        assert_eq!(bucket_start(day + 5, 2 * 86_400), (19_782 / 2) * 2 * DAY_MS);
    }
}
