//! The gap journal: every gap the feeds found and how it ended, one JSON object per line in
//! `<data>/gaps/<YYYY-MM-DD>.jsonl` (UTC day of the event), written by the IO thread.
//!
//! ```text
//! {"time":"2026-11-24T10:00:01.250000Z","event":"opened","gap":"0x1","market":"BINANCE:btcusdt","kind":"ids","from":"…","to":"…","from_us":…,"to_us":…,"after_id":41,"before_id":45,"missing":3}
//! {"time":"2026-11-24T10:00:01.900000Z","event":"closed","gap":"0x1","market":"BINANCE:btcusdt","kind":"ids","outcome":"recovered","recovered":3,"remaining":0}
//! ```
//! `missing`/`remaining` are exact for `kind` `ids` (contiguous trade ids) and 0 = unknown for
//! `window` (a reconnect) and `downtime` (the engine was not running). Bars of a gap that closes
//! `unrecovered` or `abandoned` keep the `GAP` flag in the bar store.
//!
//! Silent markets ([`crate::silence`]) are journaled too: `silent` when a subscribed market has
//! had no trade for its limit while its connection is alive (`since` is when its quiet began:
//! its last trade, or its subscription when `traded` is false), `flowing` when its trades
//! arrive again; `episode` numbers the market's silent episodes since start.
//!
//! ```text
//! {"time":"2026-12-07T10:02:00.100000Z","event":"silent","market":"BINANCE_FUTURES:btcusdt","quiet_s":120.0,"limit_s":120.0,"since":"2026-12-07T10:00:00.100000Z","traded":false,"episode":1}
//! {"time":"2026-12-07T10:05:00.200000Z","event":"flowing","market":"BINANCE_FUTURES:btcusdt","silent_s":300.1,"episode":1}
//! ```

use crate::continuity::{iso_time_us, Outcome, Record};
use crate::market::MarketTable;
use serde_json::json;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Appends gap records to the day's journal file.
#[derive(Debug)]
pub struct GapJournal {
    data_dir: PathBuf,
    day: i64,
    out: Option<BufWriter<File>>,
    /// Records written, and write errors (logged once each time the file changes).
    pub written: u64,
    pub errors: u64,
}

impl GapJournal {
    pub fn new(data_dir: &Path) -> GapJournal {
        GapJournal {
            data_dir: data_dir.to_path_buf(),
            day: i64::MIN,
            out: None,
            written: 0,
            errors: 0,
        }
    }

    /// The journal file of UTC `day`.
    pub fn path_of(data_dir: &Path, day: i64) -> PathBuf {
        let (y, m, d) = crate::store::civil_from_days(day);
        data_dir
            .join("gaps")
            .join(format!("{y:04}-{m:02}-{d:02}.jsonl"))
    }

    /// Append `r` (stamped `now_us`); errors are counted and logged, never fatal.
    pub fn write(&mut self, table: &MarketTable, r: &Record, now_us: i64) {
        let line = to_json(table, r, now_us);
        if let Err(e) = self.append(&line, now_us) {
            self.errors += 1;
            log::error!(
                "gap journal under {}: {e}",
                self.data_dir.join("gaps").display()
            );
            self.out = None;
        } else {
            self.written += 1;
        }
    }

    fn append(&mut self, line: &str, now_us: i64) -> std::io::Result<()> {
        let day = now_us.div_euclid(86_400_000_000);
        if self.out.is_none() || day != self.day {
            if let Some(mut old) = self.out.take() {
                old.flush()?;
            }
            let path = GapJournal::path_of(&self.data_dir, day);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let f = OpenOptions::new().create(true).append(true).open(path)?;
            self.out = Some(BufWriter::new(f));
            self.day = day;
        }
        if let Some(out) = self.out.as_mut() {
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
            // Gap events are rare and must survive a crash: flush each one.
            out.flush()?;
        }
        Ok(())
    }
}

/// One record as a journal line.
pub fn to_json(table: &MarketTable, r: &Record, now_us: i64) -> String {
    let market = |idx| {
        if (idx as usize) < table.len() {
            table.get(idx).id.clone()
        } else {
            format!("#{idx}")
        }
    };
    let v = match *r {
        Record::Opened {
            gap,
            market: m,
            kind,
            from_ts_us,
            to_ts_us,
            after_id,
            before_id,
            missing,
        } => json!({
            "time": iso_time_us(now_us),
            "event": "opened",
            "gap": format!("{gap:#x}"),
            "market": market(m),
            "kind": kind.as_str(),
            "from": iso_time_us(from_ts_us),
            "to": iso_time_us(to_ts_us),
            "from_us": from_ts_us,
            "to_us": to_ts_us,
            "after_id": after_id,
            "before_id": before_id,
            "missing": missing,
        }),
        Record::Closed {
            gap,
            market: m,
            kind,
            recovered,
            remaining,
            outcome,
        } => {
            let mut v = json!({
                "time": iso_time_us(now_us),
                "event": "closed",
                "gap": format!("{gap:#x}"),
                "market": market(m),
                "kind": kind.as_str(),
                "outcome": outcome.as_str(),
                "recovered": recovered,
                "remaining": remaining,
            });
            if let Outcome::Unrecovered(why) = outcome {
                v["why"] = json!(format!("{why:?}"));
            }
            v
        }
        Record::Silent {
            market: m,
            quiet_ms,
            limit_ms,
            traded,
            episode,
        } => json!({
            "time": iso_time_us(now_us),
            "event": "silent",
            "market": market(m),
            "quiet_s": quiet_ms as f64 / 1e3,
            "limit_s": limit_ms as f64 / 1e3,
            "since": iso_time_us(now_us - quiet_ms as i64 * 1000),
            "traded": traded,
            "episode": episode,
        }),
        Record::Flowing {
            market: m,
            silent_ms,
            episode,
        } => json!({
            "time": iso_time_us(now_us),
            "event": "flowing",
            "market": market(m),
            "silent_s": silent_ms as f64 / 1e3,
            "episode": episode,
        }),
    };
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use feeds::{Symbol, Venue};
    use serde_json::Value;

    #[test]
    fn silent_and_flowing_lines() {
        let mut table = MarketTable::new(1);
        table.add(Venue::BinanceUsdm, Symbol::new(b"BTCUSDT").unwrap());
        let now = 1_796_000_000_000_000;
        let line = to_json(
            &table,
            &Record::Silent {
                market: 0,
                quiet_ms: 121_500,
                limit_ms: 120_000,
                traded: false,
                episode: 1,
            },
            now,
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["event"], "silent");
        assert_eq!(v["market"], "BINANCE_FUTURES:btcusdt");
        assert_eq!(
            (v["quiet_s"].as_f64(), v["limit_s"].as_f64()),
            (Some(121.5), Some(120.0))
        );
        assert_eq!(v["since"], iso_time_us(now - 121_500_000));
        assert_eq!(
            (v["traded"].as_bool(), v["episode"].as_u64()),
            (Some(false), Some(1))
        );
        let line = to_json(
            &table,
            &Record::Flowing {
                market: 0,
                silent_ms: 300_100,
                episode: 1,
            },
            now,
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            (
                v["event"].as_str(),
                v["silent_s"].as_f64(),
                v["episode"].as_u64()
            ),
            (Some("flowing"), Some(300.1), Some(1))
        );
    }
}
