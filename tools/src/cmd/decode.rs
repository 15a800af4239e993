//! `squeezeflow decode --venue V [--data DIR] [FILE]`: raw frames, one per line, through one
//! venue decoder. One JSON line per normalized event on stdout; bad frames on stderr with their
//! line number.
//!
//! Contract sizes: the engine's instrument cache under `--data` (`<DIR>/instruments/<family>.json`,
//! written by `run`; used fresh or stale) laid over the bundled snapshot, which is the fallback.
//! `decode` never fetches over the network. Which one was used is printed on stderr.

use super::Global;
use anyhow::{bail, Context};
use engine::instruments::{cache_path, families_for, read_cache};
use feeds::alias::VenueName;
use feeds::{Event, Frame, Instruments, Venue};
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Venue whose decoder to use (e.g. binance, binance-usdm, bybit-linear, okx-swap, coinbase,
    /// kraken, bitmex, deribit, bitfinex, hyperliquid, huobi, gate-futures; aggr-server's ids
    /// such as BINANCE_FUTURES pick the venue per frame; an unknown name lists them all). HTX
    /// lines may be plain JSON (as recorded) or gzip bytes.
    #[arg(long)]
    venue: String,
    /// File of raw frames, one per line (default: stdin).
    file: Option<PathBuf>,
}

pub(crate) fn main(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    super::init_logging(global.log_level.as_deref().unwrap_or("warn"));
    let Some(name) = VenueName::parse(&args.venue) else {
        bail!(
            "unknown venue {:?} (accepted: {})",
            args.venue,
            feeds::alias::accepted_spellings()
        );
    };
    let instruments = instruments_for(&global.data_dir()?, name.venues());
    let input: Box<dyn BufRead> = match &args.file {
        Some(p) => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    // One decoder per venue the name stands for (an aggr-server id may cover several).
    let mut decoders: Vec<(Venue, Box<dyn feeds::Decode + Send>)> = Vec::new();
    let (mut lines, mut events, mut errors) = (0u64, 0u64, 0u64);
    let mut buf = Vec::new();
    for (n, line) in input.split(b'\n').enumerate() {
        let line = line.context("reading input")?;
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        lines += 1;
        buf.clear();
        buf.extend_from_slice(line);
        let venue = match name {
            VenueName::Ours(v) => v,
            alias => alias.for_frame(&buf),
        };
        let i = match decoders.iter().position(|(v, _)| *v == venue) {
            Some(i) => i,
            None => {
                decoders.push((venue, venue.decoder_with(&instruments)));
                decoders.len() - 1
            }
        };
        let mut batch: Vec<Event> = Vec::new();
        match decoders[i].1.decode(&mut buf, &mut |e| batch.push(e)) {
            Ok(frame) => {
                for e in &batch {
                    writeln!(out, "{}", event_json(venue, e))?;
                    events += 1;
                }
                match frame {
                    Frame::VenueError { code } => {
                        eprintln!("line {}: venue error reply (code {code})", n + 1);
                    }
                    Frame::Reply(reply) => {
                        eprintln!("line {}: the venue expects the reply {reply}", n + 1);
                    }
                    Frame::Ping(id) => eprintln!("line {}: venue ping {id} (needs a pong)", n + 1),
                    _ => {}
                }
            }
            Err(e) => {
                errors += 1;
                eprintln!("line {}: {e}", n + 1);
            }
        }
    }
    out.flush()?;
    eprintln!("{lines} frames, {events} events, {errors} undecodable");
    Ok(ExitCode::SUCCESS)
}

/// Contract sizes for `venues`' decoders: the engine's cache under `data` (fresh or stale, never
/// fetched here) laid over the bundled snapshot, as `run` lays fetched specs over it; one
/// stderr line per family says which was used.
fn instruments_for(data: &Path, venues: &[Venue]) -> Arc<Instruments> {
    // The OKX decoder reads every instrument type, so okx-spot frames may need swap sizes too.
    let mut wanted: Vec<Venue> = venues.to_vec();
    if venues.contains(&Venue::OkxSpot) {
        wanted.push(Venue::OkxSwap);
    }
    let mut merged = (*Instruments::bundled()).clone();
    let now_ms = feeds::clock::wall_us() / 1000;
    for family in families_for(wanted) {
        let path = cache_path(data, family);
        match read_cache(&path, family) {
            Ok(Some(cache)) => {
                for s in &cache.specs {
                    merged.insert(s.venue, &s.symbol, s.spec);
                }
                eprintln!(
                    "contract sizes ({family}): {} instruments from the instrument cache {} \
                     (fetched {:.1} h ago), over the bundled snapshot",
                    cache.specs.len(),
                    path.display(),
                    now_ms.saturating_sub(cache.fetched_at_ms) as f64 / 3.6e6
                );
            }
            Ok(None) => eprintln!(
                "contract sizes ({family}): the bundled snapshot (no instrument cache at {})",
                path.display()
            ),
            Err(why) => eprintln!("contract sizes ({family}): the bundled snapshot ({why})"),
        }
    }
    Arc::new(merged)
}

/// `{"venue","market","kind","price","qty","side","ts_us","trade_id"}`; numbers as exact
/// decimal strings, `trade_id` a string or null.
pub(crate) fn event_json(venue: Venue, e: &Event) -> String {
    serde_json::json!({
        "venue": venue.name(),
        "market": venue.market_id(&e.symbol),
        "kind": e.kind.as_str(),
        "price": e.price.to_string(),
        "qty": e.qty.to_string(),
        "side": e.side.as_str(),
        "ts_us": e.ts_us,
        "trade_id": e.trade_id.map(|t| t.to_string()),
    })
    .to_string()
}
