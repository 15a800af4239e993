//! `squeezeflow import influx …`: a deployment's InfluxDB 1.x history into the bar store, and
//! `squeezeflow influx setup [--verify]`: the original's retention policies.

use super::time::{format_ms, parse_time_ms};
use super::Global;
use anyhow::{bail, Context};
use engine::influx::import::{self, ImportSpec, Progress};
use engine::influx::{setup, InfluxClient, InfluxConfig};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

/// Where InfluxDB is: each flag overrides `[influx]` and `INFLUX_HOST/PORT/DATABASE`.
#[derive(Debug, clap::Args)]
pub(crate) struct Server {
    /// InfluxDB host (default: [influx] host, env INFLUX_HOST, else 127.0.0.1).
    #[arg(long)]
    host: Option<String>,
    /// InfluxDB HTTP port (default: [influx] port, env INFLUX_PORT, else 8086).
    #[arg(long)]
    port: Option<u16>,
    /// Database (default: [influx] database, env INFLUX_DATABASE, else significant_trades).
    #[arg(long)]
    database: Option<String>,
}

impl Server {
    fn resolve(&self, global: &Global) -> anyhow::Result<InfluxConfig> {
        let mut c = global.load_config()?.influx;
        if let Some(h) = &self.host {
            c.host = h.clone();
        }
        if let Some(p) = self.port {
            c.port = p;
        }
        if let Some(d) = &self.database {
            c.database = d.clone();
        }
        c.validate()
            .map_err(|(f, m)| anyhow::anyhow!("command line: {f}: {m}"))?;
        Ok(c)
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    #[command(subcommand)]
    source: Source,
}

#[derive(Debug, clap::Subcommand)]
enum Source {
    /// Read `aggr_1s.trades_1s` (aggr-server's 1 s bars) from InfluxDB 1.x into the bar store.
    Influx(InfluxImport),
}

#[derive(Debug, clap::Args)]
struct InfluxImport {
    #[command(flatten)]
    server: Server,
    /// Start: YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS]Z or epoch ms (UTC).
    #[arg(long)]
    from: String,
    /// End: a date is inclusive (the whole day); a time or epoch ms is exclusive.
    #[arg(long)]
    to: String,
    /// Markets to import, e.g. BINANCE:btcusdt,BINANCE_FUTURES:btcusdt (default: all).
    #[arg(long, value_delimiter = ',')]
    markets: Vec<String>,
    /// Source retention policy (default: [influx] retention_policy, aggr_1s).
    #[arg(long)]
    rp: Option<String>,
    /// Source measurement (default: [influx] measurement, trades_1s).
    #[arg(long)]
    measurement: Option<String>,
    /// Seconds per query.
    #[arg(long, default_value_t = 3600)]
    chunk: i64,
    /// Ignore the saved progress of an earlier run and read everything again.
    #[arg(long)]
    restart: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct InfluxArgs {
    #[command(subcommand)]
    command: InfluxCommand,
}

#[derive(Debug, clap::Subcommand)]
enum InfluxCommand {
    /// Create the database and retention policies of the original setup_retention_policy.sh
    /// (aggr_1s 24 h, rp_1s 30 d default, rp_1m forever, aggr_<tf> per rollup).
    Setup {
        #[command(flatten)]
        server: Server,
        /// Only check and report; exit 1 when something is missing or different.
        #[arg(long)]
        verify: bool,
    },
}

pub(crate) fn main_import(global: &Global, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let Source::Influx(a) = args.source;
    let cfg = a.server.resolve(global)?;
    let data_dir = global.data_dir()?;
    let from_ms = parse_time_ms(&a.from).map_err(|e| anyhow::anyhow!("--from {e}"))?;
    let mut to_ms = parse_time_ms(&a.to).map_err(|e| anyhow::anyhow!("--to {e}"))?;
    if a.to.trim().len() == 10 && a.to.contains('-') {
        to_ms += 86_400_000;
    }
    if to_ms <= from_ms {
        bail!("--to {} is not after --from {}", a.to, a.from);
    }
    if a.chunk <= 0 {
        bail!("--chunk must be at least 1 second");
    }
    let spec = ImportSpec {
        retention_policy: a.rp.unwrap_or(cfg.retention_policy.clone()),
        measurement: a.measurement.unwrap_or(cfg.measurement.clone()),
        from_ms,
        to_ms,
        markets: a.markets,
        chunk_secs: a.chunk,
        data_dir: data_dir.clone(),
        restart: a.restart,
    };
    let mut client = InfluxClient::from_config(&cfg);
    let version = client
        .ping()
        .with_context(|| format!("is InfluxDB running at {}:{}?", cfg.host, cfg.port))?;
    eprintln!(
        "import: InfluxDB {version} at {}:{} db {}, {}.{} from {} to {} into {}",
        cfg.host,
        cfg.port,
        cfg.database,
        spec.retention_policy,
        spec.measurement,
        format_ms(from_ms),
        format_ms(to_ms),
        data_dir.join("bars/1s").display()
    );
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let mut last_line = Instant::now();
    let mut show = |p: &Progress| {
        let done = p.chunks_done == p.chunks_total;
        if !done && last_line.elapsed().as_millis() < if tty { 200 } else { 5000 } {
            return;
        }
        last_line = Instant::now();
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        let width = 30usize;
        let filled = (p.chunks_done * width as u64)
            .checked_div(p.chunks_total)
            .unwrap_or(width as u64) as usize;
        let line = format!(
            "[{}{}] {}/{} chunks  {} rows  {} bars written  {:.0} rows/s",
            "#".repeat(filled),
            "-".repeat(width - filled.min(width)),
            p.chunks_done,
            p.chunks_total,
            p.rows,
            p.written,
            p.rows as f64 / secs
        );
        if tty {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
        let _ = std::io::stderr().flush();
    };
    let report = import::run(&mut client, &spec, &mut show)?;
    if tty {
        eprintln!();
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "import: {} markets, {} chunks read ({} already done earlier), {} rows in {:.2} s ({:.0} rows/s): {} bars written, {} unchanged, {} bad rows skipped",
        report.markets.len(),
        report.chunks,
        report.chunks_resumed,
        report.rows,
        secs,
        report.rows as f64 / secs.max(1e-9),
        report.written,
        report.unchanged,
        report.bad_rows
    );
    for (m, why) in &report.bad_markets {
        eprintln!("import: market {m:?} skipped: {why}");
    }
    Ok(if report.bad_rows > 0 || !report.bad_markets.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

pub(crate) fn main_influx(global: &Global, args: InfluxArgs) -> anyhow::Result<ExitCode> {
    let InfluxCommand::Setup { server, verify } = args.command;
    let cfg = server.resolve(global)?;
    let mut client = InfluxClient::from_config(&cfg);
    let version = client
        .ping()
        .with_context(|| format!("is InfluxDB running at {}:{}?", cfg.host, cfg.port))?;
    let policies = setup::wanted(&cfg.retention_policy, &cfg.rollups);
    if !verify {
        let done = setup::apply(&mut client, &policies)?;
        if done.is_empty() {
            println!("influx setup: everything was already in place");
        }
        for d in done {
            println!("influx setup: {d}");
        }
    }
    let checks = setup::verify(
        &mut client,
        &policies,
        (&cfg.retention_policy, &cfg.measurement),
    )?;
    println!(
        "InfluxDB {version} at {}:{} database {}",
        cfg.host, cfg.port, cfg.database
    );
    let mut ok = true;
    for c in &checks {
        ok &= c.ok;
        println!(
            "  {} {:<28} {}",
            if c.ok { "ok  " } else { "FAIL" },
            c.what,
            c.detail
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        println!("run `squeezeflow influx setup` to create or correct them");
        ExitCode::FAILURE
    })
}
