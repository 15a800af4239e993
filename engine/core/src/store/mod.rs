//! The bar store: one memory-mapped file per market per UTC day holding that day's 1-second
//! bars, written by the shard that owns the market and read, without locks, by any other
//! process (monitor, `bars`, backtest, Python).
//!
//! # On-disk layout (version 1)
//!
//! **Path.** `<root>/bars/1s/<EXCHANGE>/<pair>/<YYYY-MM-DD>.bars`, where `<root>` is the data
//! directory and the market id is `EXCHANGE:pair`, split at its first `:`
//! (`BITFINEX:BTCF0:USTF0` → `BITFINEX/BTCF0%3AUSTF0`). In both path components every byte
//! outside `[A-Za-z0-9._-]` is percent-encoded as `%XX` (upper-case hex of the UTF-8 byte), and
//! so is a `.` that starts a component, so that no pair can become `.`, `..` or a hidden
//! file: `KRAKEN:XBT/USD` → `KRAKEN/XBT%2FUSD`. Listing decodes the names back and ignores
//! names that this encoding could not have produced. The date is the UTC day, proleptic
//! Gregorian; day numbers are days since 1970-01-01 (`floor(ms / 86_400_000)`), and only days
//! of years 1970 to 9999 are stored.
//!
//! **File.** Exactly `4096 + 86_400 × 88 = 7_607_296` bytes: a 4096-byte header page, then
//! 86 400 slots of 88 bytes, slot `i` holding the bar that starts at `day_start_ms + i × 1000`.
//! Files are created sparse at their full size, so untouched seconds take no disk. Everything
//! is little-endian and `#[repr(C)]` (no padding anywhere):
//!
//! | offset | header field   | type        | value |
//! |-------:|----------------|-------------|-------|
//! | 0      | `magic`        | `[u8; 8]`   | `b"SQZFBARS"` |
//! | 8      | `version`      | `u32`       | 1 |
//! | 12     | `header_size`  | `u32`       | 4096 |
//! | 16     | `slot_size`    | `u32`       | 88 |
//! | 20     | `slot_count`   | `u32`       | 86 400 |
//! | 24     | `day`          | `i64`       | days since 1970-01-01 |
//! | 32     | `day_start_ms` | `i64`       | `day × 86_400_000` |
//! | 40     | `market_id`    | `[u8; 64]`  | UTF-8 market id, NUL-padded |
//! | 104    | (reserved)     |             | zero up to 4096 |
//!
//! | offset | slot field | type  | meaning |
//! |-------:|------------|-------|---------|
//! | 0      | `seq`      | `u32` | 0 never written; odd: a write is in progress; even > 0: committed |
//! | 4      | `flags`    | `u32` | [`flags::CLOSED`] \| [`flags::LATE`] \| [`flags::GAP`] |
//! | 8      | `open high low close vbuy vsell lbuy lsell` | `f64` × 8 | the [`Bar`] |
//! | 72     | `cbuy csell open_us close_us` | `u32` × 4 | the [`Bar`] |
//!
//! OHLC are NaN in a second that had only liquidations.
//!
//! **Concurrency.** One writer per file (an exclusive `flock` held by [`DayWriter`]), any
//! number of readers in any process. Each slot is a seqlock: the writer makes `seq` odd, writes
//! `flags` and the bar, then stores the next even `seq` with Release — the commit flag is
//! written last. A reader loads `seq`, copies the slot, loads `seq` again and keeps the copy
//! only if both loads saw the same even value, so it never returns a torn bar. A crash in the
//! middle of a write leaves an odd `seq`; the next [`DayWriter`] of that file clears such slots
//! (the half-written bar is lost, never presented as whole).
//!
//! # Open interest
//!
//! Beside the bars, `<root>/oi/1s/<EXCHANGE>/<pair>/<YYYY-MM-DD>.oi` holds one market-day of
//! open-interest readings (venues that send them: Bybit `tickers`, OKX `open-interest`, Bitget
//! `ticker`), the last reading of each second. Same header page (magic `SQZFOPIN`,
//! `slot_size` 32), same seqlock, same single-writer lock and crash rules; the file is exactly
//! `4096 + 86_400 × 32 = 2_768_896` bytes and its slots are:
//!
//! | offset | slot field | type  | meaning |
//! |-------:|------------|-------|---------|
//! | 0      | `seq`      | `u32` | as for bars; the even value is the commit, written last |
//! | 4      | `flags`    | `u32` | 0 (reserved) |
//! | 8      | `oi`       | `f64` | open interest in base units |
//! | 16     | `price`    | `f64` | the venue's mark price sent with it, 0 when none |
//! | 24     | `ts_us`    | `i64` | exchange time of the reading, µs since the epoch |
//!
//! [`OiWriter`] writes, [`OiReader`] and [`Store::oi_range`] read.
//!
//! # Reading from Python
//!
//! ```python
//! import numpy as np
//! HEADER = np.dtype([("magic", "S8"), ("version", "<u4"), ("header_size", "<u4"),
//!                    ("slot_size", "<u4"), ("slot_count", "<u4"), ("day", "<i8"),
//!                    ("day_start_ms", "<i8"), ("market_id", "S64")])
//! SLOT = np.dtype([("seq", "<u4"), ("flags", "<u4"),
//!                  ("open", "<f8"), ("high", "<f8"), ("low", "<f8"), ("close", "<f8"),
//!                  ("vbuy", "<f8"), ("vsell", "<f8"), ("lbuy", "<f8"), ("lsell", "<f8"),
//!                  ("cbuy", "<u4"), ("csell", "<u4"), ("open_us", "<u4"), ("close_us", "<u4")])
//!
//! h = np.fromfile(path, dtype=HEADER, count=1)[0]
//! s = np.memmap(path, dtype=SLOT, mode="r", offset=4096, shape=(86400,))
//! b = np.array(s)                                        # copy, then drop slots that moved
//! ok = (b["seq"] != 0) & (b["seq"] % 2 == 0) & (s["seq"] == b["seq"])
//! bars, time_ms = b[ok], h["day_start_ms"] + np.flatnonzero(ok) * 1000
//! ```
//! The last check drops slots the engine rewrote during the copy; for a past day's file,
//! which nobody writes any more, it never drops anything.
//!
//! # Durability
//! Writes go to the page cache, which survives a crash of the process. What a power loss can
//! take is bounded by how often the IO core calls [`DayWriter::flush_async`] (`msync`).

mod file;
mod layout;
mod oi;
mod path;
mod query;
mod recover;

use std::io;
use std::path::PathBuf;

use crate::bar::Bar;

pub use file::{DayReader, DayWriter};
pub use layout::{HEADER_SIZE, OI_SLOT_SIZE, SLOTS_PER_DAY, SLOT_SIZE};
pub use oi::{resample_oi, OiPoint, OiReader, OiWriter};
pub use path::civil_from_days;
pub use path::{day_path, oi_day_path};
pub use query::{parse_timeframe, resample, Store};
pub use recover::{recover_market, Recovered};

/// Bits of a slot's `flags` word.
pub mod flags {
    /// The second is over: no further trade is expected for it.
    pub const CLOSED: u32 = 1;
    /// The bar was amended by a late trade after it had been closed.
    pub const LATE: u32 = 2;
    /// The second lies in a data gap that was not recovered: the bar may be incomplete.
    pub const GAP: u32 = 4;
}

/// One committed slot, as a reader sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoredBar {
    /// Start of the bar's second (or of its timeframe bucket, after [`resample`]), in ms
    /// since the Unix epoch.
    pub time_ms: i64,
    pub bar: Bar,
    /// [`flags`] bits.
    pub flags: u32,
}

/// What can go wrong opening, validating or listing bar files. Every variant that concerns a
/// file names it.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The operating system refused an operation on this path.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// The file does not start with the magic of its kind (`SQZFBARS`, `SQZFOPIN`): it is
    /// not a file of that kind. `kind` is `"bar"` or `"open-interest"`.
    #[error("{}: not {} {kind} file (bad magic)", path.display(), article(kind))]
    BadMagic { path: PathBuf, kind: &'static str },
    /// The file is of a layout version this build does not read.
    #[error("{}: {kind} file version {found}, this build reads version 1", path.display())]
    Version {
        path: PathBuf,
        kind: &'static str,
        found: u32,
    },
    /// The file is shorter than its layout requires (an interrupted copy, a truncation).
    #[error("{}: file is {len} bytes, {} {kind} file is {expected} bytes (truncated)", path.display(), article(kind))]
    Truncated {
        path: PathBuf,
        kind: &'static str,
        len: u64,
        expected: u64,
    },
    /// The header is readable but disagrees with the layout or with where the file lies
    /// (another market's or another day's file, a foreign slot size, a file that grew).
    #[error("{}: {what}", path.display())]
    Mismatch { path: PathBuf, what: String },
    /// Another [`DayWriter`] (in this or another process) holds the file.
    #[error("{}: already open for writing by another writer", path.display())]
    Locked { path: PathBuf },
    /// A market id that is not `EXCHANGE:pair` or does not fit the 64-byte header field.
    #[error("bad market id {0:?}: expected EXCHANGE:pair, at most 64 bytes, no NUL")]
    BadMarketId(String),
    /// A day outside the years 1970..=9999 that file names can hold.
    #[error("day {0} is outside 1970-01-01..=9999-12-31")]
    DayOutOfRange(i64),
}

/// "a bar file", "an open-interest file".
fn article(kind: &str) -> &'static str {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}
