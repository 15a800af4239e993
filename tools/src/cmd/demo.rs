//! `squeezeflow demo [--seconds N] [--venues all|none|LIST]`: the exchange simulator on loopback
//! and the engine against it — the whole pipeline, no internet, live status on the terminal.
//! By default every venue of the built-in feed list is simulated and followed (Binance spot and
//! USDⓈ-M by the Binance simulator, the other 17 venue APIs by the multi-venue one). Closed
//! venues (BitMEX) are not in that list, so the demo neither simulates nor follows them.

use super::live::{run_live, LiveOptions};
use super::Global;
use engine::config::FeedConfig;
use engine::runtime::StopFlag;
use feeds::ws::WsConfig;
use std::process::ExitCode;
use tools::sim::venues::{VenueSim, VenueSimConfig};
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
    /// Venues besides Binance spot and USDⓈ-M to simulate and follow, with their markets from
    /// the built-in feed list: `all` (default), `none`, or names (`bybit-linear,okx-swap,…`).
    #[arg(long, value_delimiter = ',', default_value = "all")]
    venues: Vec<String>,
}

/// The built-in feed list's venues that `names` selects and the multi-venue simulator speaks.
fn other_venues(names: &[String]) -> anyhow::Result<Vec<(feeds::Venue, Vec<String>)>> {
    let simulated: Vec<(feeds::Venue, Vec<String>)> = engine::defaults::DEFAULT_FEEDS
        .iter()
        .filter_map(|(name, pairs)| {
            let venue = feeds::Venue::from_name(name)?;
            tools::sim::venues::protocol(venue)?;
            Some((venue, pairs.iter().map(|p| p.to_string()).collect()))
        })
        .collect();
    if names.iter().any(|n| n == "none") {
        return Ok(Vec::new());
    }
    if names.iter().any(|n| n == "all") {
        return Ok(simulated);
    }
    let mut picked = Vec::new();
    for name in names {
        match simulated.iter().find(|(v, _)| v.name() == name) {
            Some(entry) => picked.push(entry.clone()),
            None => {
                if let Some(why) = feeds::Venue::from_name(name).and_then(|v| v.closed()) {
                    anyhow::bail!(
                        "--venues: {name:?} has closed ({why}); the demo follows live venues only"
                    );
                }
                let known: Vec<&str> = simulated.iter().map(|(v, _)| v.name()).collect();
                anyhow::bail!(
                    "--venues: {name:?} is not a simulated venue (known: all, none, {})",
                    known.join(",")
                );
            }
        }
    }
    Ok(picked)
}

pub(crate) fn main(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let mut cfg = global.load_config()?;
    let others = other_venues(&args.venues)?;
    let sim_cfg = engine_free_ports(args.sim.sim_config());
    let sim = Simulator::start(sim_cfg)?;
    let vsim = if others.is_empty() {
        None
    } else {
        Some(VenueSim::start(VenueSimConfig {
            markets: others.clone(),
            trades_per_sec: args.sim.rate,
            burst_prob: args.sim.burst_prob,
            seed: args.sim.seed,
            ..VenueSimConfig::default()
        })?)
    };
    // The simulated market starts afresh each run: a previous run's bars are not this one's
    // history, so there is no downtime to recover. Gaps are backfilled from the simulators'
    // own REST trade endpoints (their trade history), as they would be from the venues'.
    cfg.continuity.restart_backfill = false;
    let mut histories = vec![sim.history()];
    histories.extend(vsim.as_ref().map(VenueSim::history));
    let rest = tools::sim::RestServer::start_with(tools::sim::RestConfig {
        histories,
        ..tools::sim::RestConfig::default()
    })?;
    cfg.backfill.base_url = rest.base_url();
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
            rotate_after_s: None,
        },
        FeedConfig {
            venue: "binance-usdm".into(),
            url: Some(sim.futures_url()),
            pairs,
            ping_ms: None,
            rotate_after_s: None,
        },
    ];
    if let Some(vsim) = &vsim {
        for (venue, symbols) in &others {
            cfg.feeds.push(FeedConfig {
                venue: venue.name().to_string(),
                url: vsim.base_url(*venue),
                pairs: symbols.clone(),
                ping_ms: None,
                rotate_after_s: None,
            });
        }
    }
    let markets: usize = cfg.feeds.iter().map(|f| f.pairs.len()).sum();
    eprintln!(
        "demo: simulator on {} (spot) and {} (USDⓈ-M){}; {} venue APIs, {markets} markets at ~{} trades/s each; Ctrl-C stops",
        sim.spot_url(),
        sim.futures_url(),
        if others.is_empty() {
            String::new()
        } else {
            format!(" and {} more venues on loopback", others.len())
        },
        cfg.feeds.len(),
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
    let venue_stats = vsim.map(|v| {
        let st = v.all_stats();
        v.stop();
        st
    });
    result?;
    eprintln!("simulator sent: {stats:?}");
    for st in venue_stats.unwrap_or_default() {
        eprintln!(
            "  {:<17} connections {:>2}  trades {:>7}  liquidations {:>5}  open interest {:>5}  errors {}  ping timeouts {}",
            st.venue.name(),
            st.connections_accepted,
            st.trades_sent(),
            st.liquidations_sent(),
            st.open_interest_sent(),
            st.subscribe_errors,
            st.ping_timeouts
        );
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_default_venue_set_has_no_closed_venue() {
        let all = other_venues(&names(&["all"])).unwrap();
        assert!(all.len() >= 10, "{}", all.len());
        assert!(all.iter().all(|(v, _)| v.closed().is_none()));
        assert!(!all.iter().any(|(v, _)| *v == feeds::Venue::Bitmex));
        let err = other_venues(&names(&["bitmex"])).unwrap_err().to_string();
        assert!(
            err.contains("has closed") && err.contains("2026-09-23"),
            "{err}"
        );
        assert_eq!(other_venues(&names(&["none"])).unwrap(), Vec::new());
    }
}
