//! `squeezeflow demo [--seconds N]`: the exchange simulator on loopback and the engine against
//! it — the whole pipeline, no internet, live status on the terminal.

use super::live::{run_live, LiveOptions};
use super::Global;
use engine::config::FeedConfig;
use engine::runtime::StopFlag;
use feeds::ws::WsConfig;
use std::process::ExitCode;
use tools::sim::Simulator;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    seconds: Option<u64>,
    /// No live status line.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    sim: super::sim::MarketArgs,
}

pub(crate) fn main(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let mut cfg = global.load_config()?;
    let sim_cfg = engine_free_ports(args.sim.sim_config());
    let sim = Simulator::start(sim_cfg)?;
    let pairs: Vec<String> = args
        .sim
        .symbols
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    cfg.feeds = vec![
        FeedConfig {
            venue: "binance".into(),
            url: Some(sim.spot_url()),
            pairs: pairs.clone(),
            ping_ms: None,
        },
        FeedConfig {
            venue: "binance-usdm".into(),
            url: Some(sim.futures_url()),
            pairs,
            ping_ms: None,
        },
    ];
    eprintln!(
        "demo: simulator on {} (spot) and {} (USDⓈ-M), {} symbols at ~{} trades/s per market; Ctrl-C stops",
        sim.spot_url(),
        sim.futures_url(),
        args.sim.symbols.len(),
        args.sim.rate
    );
    let stop = StopFlag::new();
    stop.on_signals()?;
    let result = run_live(
        &cfg,
        WsConfig::default(),
        LiveOptions {
            seconds: args.seconds,
            quiet: args.quiet,
        },
        stop,
    );
    let stats = sim.stats();
    sim.stop();
    result?;
    eprintln!("simulator sent: {stats:?}");
    eprintln!(
        "bars are under {}; try: squeezeflow bars --data {} --market BINANCE:{}",
        cfg.data_dir.join("bars/1s").display(),
        cfg.data_dir.display(),
        args.sim
            .symbols
            .first()
            .map_or("btcusdt".into(), |s| s.to_ascii_lowercase())
    );
    Ok(ExitCode::SUCCESS)
}

/// The demo always uses ephemeral ports so it never collides with a running `sim`.
fn engine_free_ports(mut cfg: tools::sim::SimConfig) -> tools::sim::SimConfig {
    cfg.spot_port = 0;
    cfg.futures_port = 0;
    cfg
}
