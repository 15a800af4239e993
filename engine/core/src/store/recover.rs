//! Start-up recovery of a market's bar files after the previous run stopped, cleanly or not.
//!
//! A run killed mid-second leaves that second's bar stored but not [`CLOSED`](super::flags::CLOSED):
//! it holds only the trades that arrived before the kill. [`recover_market`] removes such open
//! bars (the trades they held come back with the downtime backfill, and no bar is counted
//! twice) and reports the last closed second, from which the downtime is measured. Bars torn
//! by a write in progress are cleared when the file is opened (see `DayWriter`).

use super::{day_path, flags, DayWriter, StoreError, SLOTS_PER_DAY};
use std::path::Path;

/// What [`recover_market`] found for one market.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recovered {
    /// The last stored second whose bar is closed (Unix seconds), `None` when the market has
    /// no closed bar in the days looked at.
    pub last_closed: Option<i64>,
    /// Open bars (never closed) that were removed.
    pub cleared_open: u32,
}

/// Days looked back for a market's last closed bar (today and the `LOOKBACK_DAYS` before it).
pub(crate) const LOOKBACK_DAYS: i64 = 1;

/// Look at `market_id`'s bar files of `today` and the day before (only those that exist), clear
/// every open bar after the last closed one, and report the last closed second.
pub fn recover_market(root: &Path, market_id: &str, today: i64) -> Result<Recovered, StoreError> {
    let mut out = Recovered::default();
    for day in (today - LOOKBACK_DAYS..=today).rev() {
        let path = day_path(root, market_id, day)?;
        if !path.exists() {
            continue;
        }
        let mut w = DayWriter::open_or_create(root, market_id, day)?;
        for second in (0..SLOTS_PER_DAY).rev() {
            let Some((_, f)) = w.read(second) else {
                continue;
            };
            if f & flags::CLOSED == 0 {
                w.clear(second);
                out.cleared_open += 1;
                continue;
            }
            out.last_closed = Some(day * 86_400 + i64::from(second));
            return Ok(out);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bar::Bar;
    use crate::store::DayReader;

    fn bar(price: f64) -> Bar {
        let mut b = Bar::EMPTY;
        b.open = price;
        b.high = price;
        b.low = price;
        b.close = price;
        b.cbuy = 1;
        b.vbuy = price;
        b
    }

    #[test]
    fn open_bars_after_the_last_closed_one_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let id = "BINANCE:btcusdt";
        let day = 20_000;
        {
            let mut w = DayWriter::open_or_create(dir.path(), id, day).unwrap();
            w.write(100, &bar(1.0), flags::CLOSED);
            w.write(101, &bar(2.0), flags::CLOSED | flags::LATE);
            w.write(102, &bar(3.0), 0);
        }
        let r = recover_market(dir.path(), id, day).unwrap();
        assert_eq!(r.last_closed, Some(day * 86_400 + 101));
        assert_eq!(r.cleared_open, 1);
        let reader = DayReader::open(&day_path(dir.path(), id, day).unwrap()).unwrap();
        assert!(reader.get(102).is_none());
        assert_eq!(reader.get(101).unwrap().bar, bar(2.0));
        // Idempotent.
        let again = recover_market(dir.path(), id, day).unwrap();
        assert_eq!((again.last_closed, again.cleared_open), (r.last_closed, 0));
    }

    #[test]
    fn falls_back_to_the_previous_day_and_to_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let id = "BINANCE:ethusdt";
        let day = 20_000;
        assert_eq!(
            recover_market(dir.path(), id, day).unwrap(),
            Recovered::default()
        );
        assert!(!day_path(dir.path(), id, day).unwrap().exists());
        {
            let mut w = DayWriter::open_or_create(dir.path(), id, day - 1).unwrap();
            w.write(86_399, &bar(5.0), flags::CLOSED);
        }
        let r = recover_market(dir.path(), id, day).unwrap();
        assert_eq!(r.last_closed, Some(day * 86_400 - 1));
    }
}
