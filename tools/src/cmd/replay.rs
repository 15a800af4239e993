//! `squeezeflow replay TAPE... [--data DIR] [--pace] [--list]`: frames from JSONL tapes or raw
//! capture files (told apart by their first bytes; a directory means every `.sfcap` file
//! under it) through the same decode → bars path as the live engine, using event time only.

use super::Global;
use anyhow::Context;
use engine::capture::{CaptureReader, RecordKind};
use engine::market::MarketTable;
use engine::pipeline::StrategyPlan;
use engine::replay::{scan_capture_markets, scan_markets, Replay};
use engine::sink::{PositionBook, Signals};
use engine::tape::{detect_file, TapeKind};
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// JSONL tapes (`{"ts_ns","venue","conn","frame"}` per line) or capture files (`.sfcap`,
    /// `[capture]`; a directory = every capture file under it, oldest first), replayed in the
    /// order given.
    #[arg(required = true)]
    tapes: Vec<PathBuf>,
    /// Replay at the tape's own pace (receive timestamps) instead of full speed.
    #[arg(long)]
    pace: bool,
    /// Print each record of the capture files (time, venue, connection, kind, size, start of
    /// the payload) instead of replaying.
    #[arg(long)]
    list: bool,
}

pub(crate) fn main(global: &Global, mut args: Args) -> anyhow::Result<ExitCode> {
    let mut expanded = Vec::new();
    for p in &args.tapes {
        if p.is_dir() {
            let files = engine::capture::capture_files(p)
                .with_context(|| format!("listing {}", p.display()))?;
            anyhow::ensure!(!files.is_empty(), "{}: no capture files", p.display());
            expanded.extend(files);
        } else {
            expanded.push(p.clone());
        }
    }
    args.tapes = expanded;
    if args.list {
        return list(&args.tapes);
    }
    let cfg = global.load_config()?;
    let started = Instant::now();
    let (mut replay, mut sinks) = if cfg.strategy.enabled {
        // First pass: which markets the tapes carry, so the strategy knows its symbols.
        let mut table = MarketTable::new(1);
        for path in &args.tapes {
            let file =
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let input = BufReader::with_capacity(1 << 20, file);
            match detect_file(path).with_context(|| format!("reading {}", path.display()))? {
                TapeKind::Jsonl => scan_markets(input, &mut table),
                TapeKind::Capture => {
                    let mut r = CaptureReader::new(input)
                        .with_context(|| format!("reading {}", path.display()))?;
                    scan_capture_markets(&mut r, &mut table)
                }
            }
            .with_context(|| format!("scanning {}", path.display()))?;
        }
        let plan = StrategyPlan::resolve(&cfg.strategy, &table)?;
        if plan.symbols.is_empty() {
            eprintln!("strategy: no symbol in the tapes has both SPOT and PERP markets; replaying bars only");
            (Replay::new(&cfg.data_dir), None)
        } else {
            eprintln!(
                "strategy: {}; signals journaled under {}",
                plan.symbols
                    .iter()
                    .map(|s| format!("{} ({} markets)", s.pair, s.markets.len()))
                    .collect::<Vec<_>>()
                    .join(", "),
                cfg.data_dir.join("signals").display()
            );
            // A replay starts flat: positions of a live run in the same data dir are not used.
            let fresh = PositionBook::new(&cfg.data_dir);
            let strategy = plan
                .strategies(&table, 1, &fresh)
                .pop()
                .expect("one strategy for one shard");
            let sinks = Signals::new(
                &cfg.data_dir,
                plan.symbols.clone(),
                plan.settings.ttl_s,
                cfg.signals.stdout,
                false,
            );
            (
                Replay::with_strategy(&cfg.data_dir, table, strategy, cfg.bars.grace_ms),
                Some(sinks),
            )
        }
    } else {
        (Replay::new(&cfg.data_dir), None)
    };
    let mut bad = 0u64;
    for path in &args.tapes {
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        eprintln!("replaying {} ({:.1} MB)", path.display(), size as f64 / 1e6);
        let reader = BufReader::with_capacity(1 << 20, file);
        let mut pacer = args.pace.then(Pacer::new);
        let shown = path.display().to_string();
        if detect_file(path).with_context(|| format!("reading {}", path.display()))?
            == TapeKind::Capture
        {
            let mut r = CaptureReader::new(reader)
                .with_context(|| format!("reading {}", path.display()))?;
            replay
                .capture(
                    &mut r,
                    &mut |mono_ns| {
                        if let Some(p) = pacer.as_mut() {
                            p.wait_for(mono_ns);
                        }
                    },
                    &mut |e| {
                        bad += 1;
                        if bad <= 20 {
                            eprintln!("{shown}: {e}");
                        } else if bad == 21 {
                            eprintln!("{shown}: more bad records; counting silently");
                        }
                    },
                    &mut |_| {},
                )
                .with_context(|| format!("replaying {}", path.display()))?;
            if let Some(sinks) = sinks.as_mut() {
                for sig in replay.take_signals() {
                    sinks.on_signal(&sig);
                }
            }
            continue;
        }
        let reader = PacedReader {
            inner: reader,
            pacer: pacer.as_mut(),
        };
        replay
            .tape(
                reader,
                &mut |e| {
                    bad += 1;
                    if bad <= 20 {
                        eprintln!("{shown}: {e}");
                    } else if bad == 21 {
                        eprintln!("{shown}: more bad lines; counting silently");
                    }
                },
                &mut |_| {},
            )
            .with_context(|| format!("replaying {}", path.display()))?;
        if let Some(sinks) = sinks.as_mut() {
            for sig in replay.take_signals() {
                sinks.on_signal(&sig);
            }
        }
    }
    replay.close_out(&mut |_| {})?;
    if let Some(sinks) = sinks.as_mut() {
        for sig in replay.take_signals() {
            sinks.on_signal(&sig);
        }
    }
    let counters = replay.strategy().map(|s| s.counters());
    let secs = started.elapsed().as_secs_f64();
    let r = replay.finish(&mut |_| {})?;
    if let (Some(c), Some(sinks)) = (counters, sinks.as_ref()) {
        eprintln!(
            "strategy: {} evaluations ({} below min_data_points), {} signals ({} rejected by the validator), {} open paper positions",
            c.evaluations,
            c.min_data,
            sinks.counts().signals,
            c.rejected_duplicate + c.rejected_hourly + c.rejected_range,
            sinks.positions().open_positions().len()
        );
    }
    eprintln!(
        "{} lines ({} bad), {} frames, {} events, {} decode errors, {} markets, {} bars closed, {} late ticks in {:.2} s ({:.0} frames/s); bars under {}",
        r.lines,
        r.bad_lines,
        r.frames,
        r.events,
        r.decode_errors,
        r.markets,
        r.bars_closed,
        r.late_ticks,
        secs,
        r.frames as f64 / secs.max(1e-9),
        cfg.data_dir.join("bars/1s").display()
    );
    if r.oi_points > 0 {
        eprintln!(
            "{} open-interest readings stored under {}",
            r.oi_points,
            cfg.data_dir.join("oi/1s").display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Sleeps so that lines are handed out at the pace of their receive stamps.
#[derive(Debug)]
struct Pacer {
    start: Instant,
    first_ns: Option<u64>,
}

impl Pacer {
    fn new() -> Pacer {
        Pacer {
            start: Instant::now(),
            first_ns: None,
        }
    }

    fn wait_for(&mut self, ts_ns: u64) {
        let first = *self.first_ns.get_or_insert(ts_ns);
        let due = std::time::Duration::from_nanos(ts_ns.saturating_sub(first));
        let elapsed = self.start.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        }
    }
}

/// A `BufRead` that, when pacing, peeks each line's `ts_ns` and waits for it (the tape reader
/// reads lines with `read_until`).
struct PacedReader<'a, R> {
    inner: R,
    pacer: Option<&'a mut Pacer>,
}

impl<R: std::io::Read> std::io::Read for PacedReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<R: std::io::BufRead> std::io::BufRead for PacedReader<'_, R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        self.inner.consume(n)
    }
    fn read_until(&mut self, byte: u8, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        let start = buf.len();
        let n = self.inner.read_until(byte, buf)?;
        if let Some(p) = self.pacer.as_deref_mut() {
            if let Some(ts) = peek_ts_ns(&String::from_utf8_lossy(&buf[start..])) {
                p.wait_for(ts);
            }
        }
        Ok(n)
    }
}

fn peek_ts_ns(line: &str) -> Option<u64> {
    let i = line.find("\"ts_ns\"")? + 7;
    let rest = line[i..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// `--list`: one line per record of each capture file.
fn list(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut damaged = 0u64;
    for path in paths {
        if detect_file(path).with_context(|| format!("reading {}", path.display()))?
            != TapeKind::Capture
        {
            anyhow::bail!("{}: --list reads capture files only", path.display());
        }
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut r = CaptureReader::new(BufReader::with_capacity(1 << 20, file))
            .with_context(|| format!("reading {}", path.display()))?;
        let h = r.header();
        writeln!(
            out,
            "# {}: feed {}, written by {}, created {}",
            path.display(),
            h.feed,
            h.writer,
            engine::strategy::signal::iso_time((h.created_wall_ns / 1_000_000_000) as i64)
        )?;
        let mut records = 0u64;
        loop {
            match r.next_record() {
                Ok(Some(rec)) => {
                    records += 1;
                    let venue = rec.venue.map(|v| v.name()).unwrap_or("?");
                    let (kind, shown) = match rec.kind {
                        RecordKind::Open => {
                            ("open", String::from_utf8_lossy(rec.payload).into_owned())
                        }
                        RecordKind::Text => {
                            let t = String::from_utf8_lossy(rec.payload);
                            ("text", t.chars().take(160).collect())
                        }
                        RecordKind::Binary => (
                            "binary",
                            rec.payload
                                .iter()
                                .take(24)
                                .map(|b| format!("{b:02x}"))
                                .collect::<String>(),
                        ),
                    };
                    writeln!(
                        out,
                        "{}.{:09} {:>12} {venue} conn {} {kind} {} {shown}",
                        rec.wall_ns / 1_000_000_000,
                        rec.wall_ns % 1_000_000_000,
                        rec.offset,
                        rec.conn,
                        rec.payload.len()
                    )?;
                }
                Ok(None) => break,
                Err(e) => {
                    damaged += 1;
                    writeln!(out, "# {}: {e}", path.display())?;
                    break;
                }
            }
        }
        writeln!(out, "# {}: {records} records", path.display())?;
    }
    out.flush()?;
    Ok(if damaged > 0 {
        eprintln!("{damaged} file(s) with a damaged tail");
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
