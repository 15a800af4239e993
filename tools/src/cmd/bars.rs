//! `squeezeflow bars --market M [--from T] [--to T] [--tf TF] [--format csv|json] [--series bars|oi]`.

use super::time::{format_ms, parse_time_ms};
use super::Global;
use anyhow::{bail, Context};
use engine::store::{self, Store};
use std::io::{BufWriter, Write};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Market id, e.g. BINANCE:btcusdt or BINANCE_FUTURES:btcusdt.
    #[arg(long)]
    market: String,
    /// Start (inclusive): YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS]Z or epoch ms. Default: 24 h before --to.
    #[arg(long)]
    from: Option<String>,
    /// End (exclusive), same forms. Default: now.
    #[arg(long)]
    to: Option<String>,
    /// Timeframe: 1s, 5s, 1m, 5m, 15m, 1h, 4h, 1d …
    #[arg(long, default_value = "1s")]
    tf: String,
    /// Output format.
    #[arg(long, default_value = "csv", value_parser = ["csv", "json"])]
    format: String,
    /// What to print: the 1-second bars, or the open-interest series (`time,oi` in base units
    /// plus the venue's mark price and exchange time; with --tf the last reading per bucket).
    #[arg(long, default_value = "bars", value_parser = ["bars", "oi"])]
    series: String,
}

pub(crate) fn main(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let data = global.data_dir()?;
    let tf = store::parse_timeframe(&args.tf)
        .with_context(|| format!("--tf {:?}: expected e.g. 1s, 1m, 5m, 1h, 1d", args.tf))?;
    let to = match &args.to {
        Some(t) => parse_time_ms(t).map_err(|e| anyhow::anyhow!("--to {e}"))?,
        None => feeds::clock::wall_us() / 1000 + 1000,
    };
    let from = match &args.from {
        Some(t) => parse_time_ms(t).map_err(|e| anyhow::anyhow!("--from {e}"))?,
        None => to - 86_400_000,
    };
    if from >= to {
        bail!(
            "--from {} is not before --to {}",
            format_ms(from),
            format_ms(to)
        );
    }
    let st = Store::new(&data);
    if args.series == "oi" {
        return open_interest(&st, &data, &args, from, to, tf);
    }
    let markets = st.markets()?;
    if !markets.contains(&args.market) {
        if markets.is_empty() {
            bail!(
                "no bars stored under {} (run `squeezeflow demo` or `run` first)",
                data.display()
            );
        }
        bail!(
            "no bars for market {:?} under {}; stored markets: {}",
            args.market,
            data.display(),
            markets.join(", ")
        );
    }
    let bars = st.range(&args.market, from, to)?;
    let bars = if tf == 1 {
        bars
    } else {
        store::resample(&bars, tf)
    };
    if bars.is_empty() {
        let days = st.days(&args.market)?;
        let span = match (days.first(), days.last()) {
            (Some(a), Some(b)) => format!(
                "{} … {}",
                &format_ms(a * 86_400_000)[..10],
                &format_ms(b * 86_400_000)[..10]
            ),
            _ => "nothing".to_string(),
        };
        eprintln!(
            "no bars for {} between {} and {} (stored days: {span})",
            args.market,
            format_ms(from),
            format_ms(to)
        );
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    let num = |x: f64| {
        if x.is_nan() {
            String::new()
        } else {
            format!("{x}")
        }
    };
    if args.format == "csv" {
        writeln!(
            out,
            "time,open,high,low,close,vbuy,vsell,cbuy,csell,lbuy,lsell"
        )?;
        for b in &bars {
            let r = &b.bar;
            writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{}",
                b.time_ms,
                num(r.open),
                num(r.high),
                num(r.low),
                num(r.close),
                r.vbuy,
                r.vsell,
                r.cbuy,
                r.csell,
                r.lbuy,
                r.lsell
            )?;
        }
    } else {
        for b in &bars {
            let r = &b.bar;
            let f = |x: f64| {
                if x.is_nan() {
                    serde_json::Value::Null
                } else {
                    x.into()
                }
            };
            let line = serde_json::json!({
                "time": b.time_ms, "market": args.market,
                "open": f(r.open), "high": f(r.high), "low": f(r.low), "close": f(r.close),
                "vbuy": r.vbuy, "vsell": r.vsell, "cbuy": r.cbuy, "csell": r.csell,
                "lbuy": r.lbuy, "lsell": r.lsell,
                "closed": b.flags & store::flags::CLOSED != 0,
                "late": b.flags & store::flags::LATE != 0,
            });
            writeln!(out, "{line}")?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `--series oi`: the stored open-interest readings of the market.
fn open_interest(
    st: &Store,
    data: &std::path::Path,
    args: &Args,
    from: i64,
    to: i64,
    tf: u32,
) -> anyhow::Result<ExitCode> {
    let markets = st.oi_markets()?;
    if !markets.contains(&args.market) {
        if markets.is_empty() {
            bail!(
                "no open interest stored under {} (venues that send it: Bybit tickers, OKX \
                 open-interest, Bitget ticker)",
                data.display()
            );
        }
        bail!(
            "no open interest for market {:?} under {}; markets with open interest: {}",
            args.market,
            data.display(),
            markets.join(", ")
        );
    }
    let points = st.oi_range(&args.market, from, to)?;
    let points = if tf == 1 {
        points
    } else {
        store::resample_oi(&points, tf)
    };
    if points.is_empty() {
        eprintln!(
            "no open interest for {} between {} and {}",
            args.market,
            format_ms(from),
            format_ms(to)
        );
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    if args.format == "csv" {
        writeln!(out, "time,oi,price,ts_us")?;
        for p in &points {
            writeln!(out, "{},{},{},{}", p.time_ms, p.oi, p.price, p.ts_us)?;
        }
    } else {
        for p in &points {
            let line = serde_json::json!({
                "time": p.time_ms, "market": args.market, "oi": p.oi,
                "price": p.price, "ts_us": p.ts_us,
            });
            writeln!(out, "{line}")?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
