//! Import: a deployment's `aggr_1s.trades_1s` series into the bar store.
//!
//! For each market (the `market` tag values, or the ones asked for), the range is read in
//! chunks (`SELECT … WHERE market = '…' AND time >= … AND time < …`, `epoch=ms`) and every row
//! becomes the bar of its second, flagged `CLOSED`. A row whose values do not fit the schema
//! (time not on a whole second, a missing or non-numeric field, a negative or fractional
//! count, OHLC only partly present) is counted as bad and skipped, never defaulted.
//!
//! **Idempotent:** a slot that already holds the same values is left untouched, so running an
//! import twice changes nothing. **Resumable:** after each chunk the market's progress is saved
//! to `<data>/import/influx-<db>-<rp>-<measurement>.progress` (once the chunk ended at least
//! 10 minutes ago); a new run with the same `--from` continues after the last finished chunk
//! of each market.

use super::client::{quote_ident, quote_str, InfluxClient, InfluxError};
use crate::bar::Bar;
use crate::store::{flags, DayWriter, StoreError};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportSpec {
    /// Source retention policy and measurement (`aggr_1s`, `trades_1s`).
    pub retention_policy: String,
    pub measurement: String,
    /// `[from_ms, to_ms)`.
    pub from_ms: i64,
    pub to_ms: i64,
    /// Markets to import; empty: every `market` tag value of the measurement.
    pub markets: Vec<String>,
    /// Chunk length in seconds.
    pub chunk_secs: i64,
    /// Data directory of the bar store.
    pub data_dir: PathBuf,
    /// Ignore saved progress and read everything again.
    pub restart: bool,
}

/// Progress after each chunk.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub chunks_done: u64,
    pub chunks_total: u64,
    pub rows: u64,
    pub written: u64,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub markets: Vec<String>,
    /// Chunks read in this run.
    pub chunks: u64,
    /// Chunks skipped because a previous run finished them.
    pub chunks_resumed: u64,
    /// Rows read.
    pub rows: u64,
    /// Bars written into the store.
    pub written: u64,
    /// Rows whose bar was already stored with the same values.
    pub unchanged: u64,
    /// Rows that do not fit the schema (skipped).
    pub bad_rows: u64,
    /// Markets whose id the store cannot hold (skipped, with the reason).
    pub bad_markets: Vec<(String, String)>,
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Influx(#[from] InfluxError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {message}")]
    Progress { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// Chunks ending at least this long ago count as finished for resuming.
const SETTLED_MS: i64 = 10 * 60 * 1000;

const FIELDS: [&str; 10] = [
    "open", "high", "low", "close", "vbuy", "vsell", "cbuy", "csell", "lbuy", "lsell",
];

/// Runs an import; `progress` is called after every chunk.
pub fn run(
    client: &mut InfluxClient,
    spec: &ImportSpec,
    progress: &mut dyn FnMut(&Progress),
) -> Result<ImportReport, ImportError> {
    if spec.from_ms >= spec.to_ms {
        return Err(ImportError::Invalid(
            "the range is empty (--to before --from)".into(),
        ));
    }
    if spec.chunk_secs <= 0 {
        return Err(ImportError::Invalid(
            "the chunk length must be positive".into(),
        ));
    }
    client.require_database()?;
    let source = format!(
        "{}.{}",
        quote_ident(&spec.retention_policy),
        quote_ident(&spec.measurement)
    );
    let markets = if spec.markets.is_empty() {
        list_markets(client, &source)?
    } else {
        spec.markets.clone()
    };
    let mut report = ImportReport {
        markets: markets.clone(),
        ..Default::default()
    };
    let progress_path = spec.data_dir.join("import").join(format!(
        "influx-{}-{}-{}.progress",
        sanitize(client.database()),
        sanitize(&spec.retention_policy),
        sanitize(&spec.measurement)
    ));
    let mut saved = if spec.restart {
        BTreeMap::new()
    } else {
        load_progress(&progress_path)?
    };
    let chunk_ms = spec.chunk_secs.saturating_mul(1000);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let per_market = (spec.to_ms - spec.from_ms + chunk_ms - 1) / chunk_ms;
    let mut p = Progress {
        chunks_total: per_market as u64 * markets.len() as u64,
        ..Default::default()
    };
    for market in &markets {
        if let Err(e) = crate::store::day_path(&spec.data_dir, market, 0) {
            log::error!("import: market {market:?} skipped: {e}");
            report.bad_markets.push((market.clone(), e.to_string()));
            p.chunks_done += per_market as u64;
            continue;
        }
        // Continue after the last finished chunk of a run with the same start.
        let mut start = spec.from_ms;
        if let Some(&(from, done)) = saved.get(market) {
            if from == spec.from_ms && done > start {
                let skipped = ((done.min(spec.to_ms) - start) / chunk_ms) as u64;
                report.chunks_resumed += skipped;
                p.chunks_done += skipped;
                start = spec.from_ms + skipped as i64 * chunk_ms;
            }
        }
        let mut writer: Option<DayWriter> = None;
        while start < spec.to_ms {
            let end = start.saturating_add(chunk_ms).min(spec.to_ms);
            let q = format!(
                "SELECT {} FROM {source} WHERE \"market\" = {} AND time >= {start}ms AND time < {end}ms",
                FIELDS.map(quote_ident).join(","),
                quote_str(market)
            );
            let res = client.select_csv(&q)?;
            let cols: Vec<Option<usize>> = std::iter::once("time")
                .chain(FIELDS)
                .map(|f| res.columns.iter().position(|c| c == f))
                .collect();
            for row in &res.rows {
                report.rows += 1;
                p.rows += 1;
                let get = |i: usize| cols.get(i).copied().flatten().and_then(|c| row.get(c));
                let Some((time_ms, bar)) = row_bar(&get) else {
                    report.bad_rows += 1;
                    if report.bad_rows <= 10 {
                        log::warn!("import: {market}: a row that does not fit the schema: {row:?}");
                    }
                    continue;
                };
                let day = time_ms.div_euclid(86_400_000);
                let second = (time_ms.rem_euclid(86_400_000) / 1000) as u32;
                if writer.as_ref().is_none_or(|w| w.day() != day) {
                    drop(writer.take()); // release the previous day's lock first
                    writer = Some(DayWriter::open_or_create(&spec.data_dir, market, day)?);
                }
                let Some(w) = writer.as_mut() else { continue };
                match w.read(second) {
                    Some((old, f)) if same_values(&old, &bar) && f & flags::CLOSED != 0 => {
                        report.unchanged += 1;
                    }
                    _ => {
                        w.write(second, &bar, flags::CLOSED);
                        report.written += 1;
                        p.written += 1;
                    }
                }
            }
            report.chunks += 1;
            p.chunks_done += 1;
            // A chunk that reaches into the last few minutes may still receive points: it is
            // read again by the next run.
            if end <= now_ms - SETTLED_MS {
                saved.insert(market.clone(), (spec.from_ms, end));
                save_progress(&progress_path, &saved)?;
            }
            progress(&p);
            start = end;
        }
        if let Some(w) = writer.take() {
            if let Err(e) = w.flush_async() {
                log::warn!("import: syncing {}: {e}", w.path().display());
            }
        }
    }
    Ok(report)
}

/// The `market` tag values of the measurement.
pub fn list_markets(client: &mut InfluxClient, source: &str) -> Result<Vec<String>, InfluxError> {
    let res = client.query(&format!(
        "SHOW TAG VALUES FROM {source} WITH KEY = \"market\""
    ))?;
    let mut out: Vec<String> = res
        .iter()
        .flatten()
        .flat_map(|s| {
            let col = s.columns.iter().position(|c| c == "value").unwrap_or(1);
            s.values
                .iter()
                .filter_map(move |r| r.get(col).and_then(Value::as_str).map(str::to_string))
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// A row → its second's bar, or `None` if it does not fit the schema. `get(0)` is the time,
/// `get(1..=10)` the fields in [`FIELDS`] order; `None` for a missing column, `""` for null.
fn row_bar<'a>(get: &dyn Fn(usize) -> Option<&'a String>) -> Option<(i64, Bar)> {
    let time_ms: i64 = get(0)?.parse().ok()?;
    if time_ms.rem_euclid(1000) != 0 {
        return None;
    }
    let num = |i: usize| -> Option<Option<f64>> {
        match get(i).map(String::as_str) {
            None | Some("") => Some(None),
            Some(v) => v.parse::<f64>().ok().filter(|x| x.is_finite()).map(Some),
        }
    };
    let mut v = [None; 10];
    for (i, slot) in v.iter_mut().enumerate() {
        *slot = num(i + 1)?;
    }
    let ohlc = [v[0], v[1], v[2], v[3]];
    let (open, high, low, close) = match ohlc {
        [Some(o), Some(h), Some(l), Some(c)] => (o, h, l, c),
        [None, None, None, None] => (f64::NAN, f64::NAN, f64::NAN, f64::NAN),
        _ => return None,
    };
    let count = |x: Option<f64>| -> Option<u32> {
        let x = x?;
        (x >= 0.0 && x.fract() == 0.0 && x <= f64::from(u32::MAX)).then_some(x as u32)
    };
    let (cbuy, csell) = (count(v[6])?, count(v[7])?);
    let has_trades = cbuy + csell > 0;
    if has_trades != open.is_finite() {
        return None;
    }
    Some((
        time_ms,
        Bar {
            open,
            high,
            low,
            close,
            vbuy: v[4]?,
            vsell: v[5]?,
            lbuy: v[8]?,
            lsell: v[9]?,
            cbuy,
            csell,
            // Sub-second positions are not in the schema: the first and last trade are taken
            // to span the whole second, so a later trade of this second (none is expected for
            // history) could not displace them.
            open_us: if has_trades { 0 } else { u32::MAX },
            close_us: if has_trades { 999_999 } else { 0 },
        },
    ))
}

/// The ten schema values are equal, bit for bit (NaN OHLC equal NaN OHLC).
pub fn same_values(a: &Bar, b: &Bar) -> bool {
    let fa = [
        a.open, a.high, a.low, a.close, a.vbuy, a.vsell, a.lbuy, a.lsell,
    ];
    let fb = [
        b.open, b.high, b.low, b.close, b.vbuy, b.vsell, b.lbuy, b.lsell,
    ];
    fa.iter()
        .zip(fb.iter())
        .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
        && a.cbuy == b.cbuy
        && a.csell == b.csell
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// market → (from_ms, done_until_ms).
fn load_progress(path: &Path) -> Result<BTreeMap<String, (i64, i64)>, ImportError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => {
            return Err(ImportError::Progress {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
        }
    };
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let mut parts = line.split('\t');
        let parsed = (|| {
            let market = parts.next()?.to_string();
            let from = parts.next()?.parse().ok()?;
            let done = parts.next()?.parse().ok()?;
            Some((market, (from, done)))
        })();
        let (market, v) = parsed.ok_or_else(|| ImportError::Progress {
            path: path.to_path_buf(),
            message: format!(
                "line {}: expected market<TAB>from_ms<TAB>done_ms (delete the file or use --restart)",
                n + 1
            ),
        })?;
        out.insert(market, v);
    }
    Ok(out)
}

fn save_progress(path: &Path, saved: &BTreeMap<String, (i64, i64)>) -> Result<(), ImportError> {
    let err = |e: std::io::Error| ImportError::Progress {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let text: String = saved
        .iter()
        .map(|(m, (f, d))| format!("{m}\t{f}\t{d}\n"))
        .collect();
    let tmp = path.with_extension("progress.tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(row: &[&str]) -> Option<(i64, Bar)> {
        let row: Vec<String> = row.iter().map(|s| s.to_string()).collect();
        let get = |i: usize| row.get(i);
        row_bar(&get)
    }

    #[test]
    fn rows_to_bars() {
        let (t, b) = parse(&[
            "1700000001000",
            "10.5",
            "11",
            "10",
            "10.25",
            "100",
            "0.30000000000000004",
            "3",
            "2",
            "0",
            "7.5",
        ])
        .unwrap();
        assert_eq!(t, 1_700_000_001_000);
        assert_eq!(
            (b.open, b.high, b.close, b.cbuy, b.csell, b.lsell),
            (10.5, 11.0, 10.25, 3, 2, 7.5)
        );
        assert_eq!(b.vsell.to_bits(), (0.1f64 + 0.2).to_bits());
        // Liquidations only: OHLC null → NaN.
        let liq = parse(&["1000", "", "", "", "", "0", "0", "0", "0", "5", "0"]).unwrap();
        assert!(liq.1.open.is_nan());
    }

    #[test]
    fn bad_rows_are_refused() {
        let base = ["1000", "1", "1", "1", "1", "1", "0", "1", "0", "0", "0"];
        let bad = |i: usize, v: &'static str| {
            let mut r = base;
            r[i] = v;
            parse(&r)
        };
        assert!(bad(0, "1000").is_some());
        assert!(bad(0, "1500").is_none(), "time not on a second");
        assert!(bad(1, "").is_none(), "OHLC partly missing");
        assert!(bad(5, "").is_none(), "vbuy missing");
        assert!(bad(7, "1.5").is_none(), "fractional count");
        assert!(bad(8, "-1").is_none(), "negative count");
        assert!(bad(6, "x").is_none(), "text");
        assert!(bad(7, "0").is_none(), "OHLC without trades");
        assert!(parse(&base[..5]).is_none(), "missing columns");
    }
}
