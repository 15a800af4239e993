//! `squeezeflow decode --venue V [FILE]`: raw frames, one per line, through one venue decoder.
//! One JSON line per normalized event on stdout; bad frames on stderr with their line number.

use super::Global;
use anyhow::{bail, Context};
use feeds::{Event, Frame, Venue};
use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Venue whose decoder to use (e.g. binance, binance-usdm, bybit-linear, okx-swap, coinbase,
    /// kraken, bitmex, deribit, bitfinex, hyperliquid, huobi, gate-futures; an unknown name
    /// lists them all). HTX lines may be plain JSON (as recorded) or gzip bytes.
    #[arg(long)]
    venue: String,
    /// File of raw frames, one per line (default: stdin).
    file: Option<PathBuf>,
}

pub(crate) fn main(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    super::init_logging(global.log_level.as_deref().unwrap_or("warn"));
    let Some(venue) = Venue::from_name(&args.venue) else {
        let known: Vec<&str> = Venue::ALL.iter().map(|v| v.name()).collect();
        bail!(
            "unknown venue {:?} (known: {})",
            args.venue,
            known.join(", ")
        );
    };
    let input: Box<dyn BufRead> = match &args.file {
        Some(p) => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut decoder = venue.decoder();
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
        let mut batch: Vec<Event> = Vec::new();
        match decoder.decode(&mut buf, &mut |e| batch.push(e)) {
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
