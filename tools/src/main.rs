//! The `squeezeflow` command: `demo`, `run`, `sim`, `replay`, `decode`, `bars`, `tune`, `import`, `influx`.
//! The `squeezeflow` command: `demo`, `run`, `sim`, `replay`, `decode`, `bars`, `tune`, `monitor`.
#![deny(unsafe_code)]

mod cmd;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// SqueezeFlow engine: exchange feeds → 1 s bars → signals, in one process.
#[derive(Debug, Parser)]
#[command(
    name = "squeezeflow",
    version,
    about = "SqueezeFlow engine: exchange feeds → 1 s bars (→ signals), in one process",
    propagate_version = true
)]
struct Cli {
    /// Data directory (bars under DIR/bars/1s). Default ./data, or `data_dir` from the config.
    #[arg(long, global = true, value_name = "DIR")]
    data: Option<PathBuf>,
    /// TOML configuration file (see config.example.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log level (error, warn, info, debug, trace); overrides SQUEEZEFLOW_LOG_LEVEL and the config.
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulator + engine on loopback: the whole pipeline, no internet, live status.
    Demo(cmd::demo::Args),
    /// The engine against real exchanges (the config chooses venues and pairs).
    Run(cmd::run::Args),
    /// The exchange simulator alone, on loopback: Binance spot and USDⓈ-M, with `--venues` every
    /// other simulated venue API (Bybit, OKX, Bitget, Gate, Hyperliquid, HTX, Binance COIN-M,
    /// Coinbase, Kraken, Deribit, Bitfinex), and their REST instruments and trade history.
    Sim(cmd::sim::Args),
    /// Frames from JSONL tapes through decode → bars, at full speed.
    Replay(cmd::replay::Args),
    /// Raw frames (one per line) through one venue decoder; one JSON line per event.
    Decode(cmd::decode::Args),
    /// Query stored bars as CSV or JSON.
    Bars(cmd::bars::Args),
    /// The strategy over stored bars with a paper portfolio: `backtest last_week 10000`.
    Backtest(cmd::backtest::Args),
    /// Host tuning for bare-metal Linux: check, apply, revert, plan (see tuning/README.md).
    Tune(cmd::tune::Args),
    /// Import history into the bar store: `import influx --host … --from … --to …`.
    Import(cmd::import::ImportArgs),
    /// InfluxDB 1.x administration: `influx setup [--verify]` (retention policies).
    Influx(cmd::import::InfluxArgs),
    /// Health of the engine and its data: terminal UI, `--once` (exit 0/1/2), `--export FILE`.
    Monitor(cmd::monitor::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let global = cmd::Global {
        data: cli.data,
        config: cli.config,
        log_level: cli.log_level,
    };
    let result = match cli.command {
        Command::Demo(a) => cmd::demo::main(&global, a),
        Command::Run(a) => cmd::run::main(&global, a),
        Command::Sim(a) => cmd::sim::main(&global, a),
        Command::Replay(a) => cmd::replay::main(&global, a),
        Command::Decode(a) => cmd::decode::main(&global, a),
        Command::Bars(a) => cmd::bars::main(&global, a),
        Command::Backtest(a) => cmd::backtest::main(&global, a),
        Command::Tune(a) => cmd::tune::main(&global, a),
        Command::Import(a) => cmd::import::main_import(&global, a),
        Command::Influx(a) => cmd::import::main_influx(&global, a),
        Command::Monitor(a) => cmd::monitor::main(&global, a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (e.g. `| head`) is a clean exit, not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
