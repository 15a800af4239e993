//! `squeezeflow run [--config FILE] [--seconds N]`: the engine against real exchanges.

use super::live::{run_live, LiveOptions};
use super::Global;
use engine::runtime::StopFlag;
use feeds::ws::WsConfig;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Stop after this many seconds (default: until SIGINT/SIGTERM).
    #[arg(long)]
    seconds: Option<u64>,
    /// No live status line.
    #[arg(long)]
    quiet: bool,
}

pub(crate) fn main(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let cfg = global.load_config()?;
    if cfg.feeds.is_empty() {
        log::info!(
            "no [[feeds]] in the configuration: following the built-in list (BTC, ETH and SOL, \
             spot and perp, on every venue still operating)"
        );
    }
    let stop = StopFlag::new();
    stop.on_signals()?;
    run_live(
        &cfg,
        WsConfig::default(),
        LiveOptions {
            seconds: args.seconds,
            quiet: args.quiet,
        },
        stop,
    )?;
    Ok(ExitCode::SUCCESS)
}
