//! `squeezeflow sim`: the exchange simulator alone (Binance spot and USDⓈ-M on loopback).

use super::Global;
use engine::runtime::StopFlag;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tools::sim::{SimConfig, Simulator};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) market: MarketArgs,
    /// Port of the spot listener (0 = any free port).
    #[arg(long, default_value_t = 9443)]
    spot_port: u16,
    /// Port of the USDⓈ-M listener (0 = any free port).
    #[arg(long, default_value_t = 9444)]
    futures_port: u16,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    seconds: Option<u64>,
    /// Instead of serving, write a scripted market to the `--tape` file in event time and
    /// exit: `squeeze` (calm hour, spot buying while perps sell, reset, reversal).
    #[arg(long, requires = "tape")]
    scenario: Option<String>,
    /// Start time of a scenario (Unix seconds; default: now minus the scenario's length).
    #[arg(long, requires = "scenario")]
    start: Option<i64>,
}

/// The synthetic market, shared by `sim` and `demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct MarketArgs {
    /// Symbols to simulate (comma-separated, as Binance spells them).
    #[arg(long, value_delimiter = ',', default_value = "BTCUSDT,ETHUSDT,SOLUSDT")]
    pub(crate) symbols: Vec<String>,
    /// Trades per second per market (bursts go above it).
    #[arg(long, default_value_t = 50.0)]
    pub(crate) rate: f64,
    /// Probability that a second is a burst.
    #[arg(long, default_value_t = 0.05)]
    pub(crate) burst_prob: f64,
    /// Random seed (same seed → same market).
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Record every frame sent to this JSONL tape (replayable with `squeezeflow replay`).
    #[arg(long)]
    pub(crate) tape: Option<PathBuf>,
}

impl MarketArgs {
    pub(crate) fn sim_config(&self) -> SimConfig {
        SimConfig {
            symbols: self
                .symbols
                .iter()
                .map(|s| s.to_ascii_uppercase())
                .collect(),
            trades_per_sec: self.rate,
            burst_prob: self.burst_prob,
            seed: self.seed,
            tape: self.tape.clone(),
            ..SimConfig::default()
        }
    }
}

pub(crate) fn main(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    super::init_logging(global.log_level.as_deref().unwrap_or("info"));
    if let Some(name) = &args.scenario {
        use tools::sim::scenario;
        let script = match name.as_str() {
            "squeeze" => scenario::squeeze_script(),
            other => anyhow::bail!("unknown scenario {other:?} (known: squeeze)"),
        };
        let path = args.market.tape.as_ref().expect("clap requires --tape");
        let start = args
            .start
            .unwrap_or_else(|| feeds::clock::wall_us() / 1_000_000 - script.len() as i64 * 60);
        let file = std::fs::File::create(path)
            .map_err(|e| anyhow::anyhow!("creating {}: {e}", path.display()))?;
        let mut out = std::io::BufWriter::new(file);
        let r = scenario::write_script(&mut out, &script, start, 60_000.0)?;
        std::io::Write::flush(&mut out)?;
        eprintln!(
            "scenario {name}: {} minutes, {} frames from {} written to {}",
            r.minutes,
            r.frames,
            engine::strategy::signal::iso_time(start - start.rem_euclid(60)),
            path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let cfg = SimConfig {
        spot_port: args.spot_port,
        futures_port: args.futures_port,
        ..args.market.sim_config()
    };
    let sim = Simulator::start(cfg)?;
    eprintln!("simulator up:");
    eprintln!(
        "  spot     {}/stream?streams=btcusdt@trade   (or /ws/<stream>)",
        sim.spot_url()
    );
    eprintln!(
        "  usdⓈ-m   {}/market/stream?streams=btcusdt@trade/btcusdt@forceOrder",
        sim.futures_url()
    );
    let stop = StopFlag::new();
    stop.on_signals()?;
    let started = std::time::Instant::now();
    while !stop.is_set()
        && args
            .seconds
            .is_none_or(|s| started.elapsed() < Duration::from_secs(s))
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let stats = sim.stats();
    sim.stop();
    eprintln!("simulator stopped: {stats:?}");
    Ok(ExitCode::SUCCESS)
}
