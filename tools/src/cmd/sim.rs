//! `squeezeflow sim`: the exchange simulator alone (Binance spot and USDⓈ-M, with `--venues`
//! every other simulated venue API, and the venues' REST endpoints, on loopback), or
//! with `--tape FILE` (and no `--scenario`) a recording served back
//! ([`tools::sim::playback`]).

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
    /// Also serve these venues with their real protocols (`bybit-linear,okx-swap,…` or `all`),
    /// each on its own loopback port with its default BTC/ETH/SOL markets. `all` means the
    /// venues that still operate; a closed one (`bitmex`) is served only when named.
    #[arg(long, value_delimiter = ',')]
    venues: Vec<String>,
    /// Serving a recording (`--tape` without `--scenario`): its pace × this factor, or `max`
    /// for as fast as the client reads.
    #[arg(long, default_value = "1")]
    speed: String,
    /// Inject a fault (repeatable), on every served venue:
    /// `drop:EVERY[:abrupt]` close every connection every EVERY (1001, or no close frame);
    /// `stall:EVERY:FOR` send and read nothing for FOR every EVERY;
    /// `skip:P` / `dup:P` / `reorder:P` each trade skipped / its frame sent twice / swapped
    /// with the next, with probability P; `reject:P` subscribe requests refused;
    /// `malformed:EVERY` a non-JSON frame; `oversized:EVERY[:BYTES]` a BYTES frame (20 MiB);
    /// `nopong` ignore client pongs; `lifetime:D` close connections after D;
    /// `notice:D` Binance `serverShutdown` notice D before the lifetime close.
    /// Durations: 500ms, 30s, 10m, 1h.
    #[arg(long = "fault", value_name = "SPEC")]
    faults: Vec<tools::sim::faults::FaultSpec>,
    /// Record every text frame sent, as JSONL tapes in this directory (created):
    /// `binance.jsonl` (Binance spot and USDⓈ-M) and `venues.jsonl` (the `--venues`), each
    /// complete when the simulator stops (`{"ts_ns","venue","conn","frame"}` per line).
    #[arg(long, value_name = "DIR", conflicts_with = "tape")]
    record: Option<PathBuf>,
    /// Scale every venue's keepalive timings (server ping intervals and pong deadlines) by
    /// this factor: 1 = the venues' own, 0.05 makes Binance spot ping every second.
    #[arg(long, default_value_t = 1.0, value_name = "FACTOR")]
    keepalive_scale: f64,
}

/// The multi-venue simulator's config for `--venues` (`None` when not asked for).
fn venue_sim_config(
    names: &[String],
    market: &MarketArgs,
) -> anyhow::Result<Option<tools::sim::venues::VenueSimConfig>> {
    use tools::sim::venues::{default_markets, VenueSimConfig};
    if names.is_empty() {
        return Ok(None);
    }
    let all = default_markets();
    let markets = if names.iter().any(|n| n == "all") {
        // Closed venues (feeds::Venue::closed) keep their protocol for tests and old
        // captures, but "all" is what a live engine could follow.
        all.into_iter()
            .filter(|(v, _)| v.closed().is_none())
            .collect()
    } else {
        let mut picked = Vec::new();
        for name in names {
            let Some(entry) = all.iter().find(|(v, _)| v.name() == name) else {
                let known: Vec<&str> = all.iter().map(|(v, _)| v.name()).collect();
                anyhow::bail!(
                    "--venues: no simulated venue {name:?} (known: {})",
                    known.join(",")
                );
            };
            picked.push(entry.clone());
        }
        picked
    };
    Ok(Some(VenueSimConfig {
        markets,
        trades_per_sec: market.rate,
        burst_prob: market.burst_prob,
        seed: market.seed,
        ..VenueSimConfig::default()
    }))
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
    /// `sim`: with `--scenario` the file the scenario is written to; without it, the
    /// recording to SERVE: a capture file (`.sfcap`), a capture directory or a JSONL tape,
    /// each venue on a loopback listener at its real path (see `--speed`).
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
    if let Some(path) = &args.market.tape {
        return serve_recording(path, &args);
    }
    let plan = tools::sim::faults::FaultPlan {
        specs: args.faults.clone(),
    };
    anyhow::ensure!(
        args.keepalive_scale.is_finite() && args.keepalive_scale > 0.0,
        "--keepalive-scale: {} is not a positive number",
        args.keepalive_scale
    );
    let mut cfg = SimConfig {
        spot_port: args.spot_port,
        futures_port: args.futures_port,
        ..args.market.sim_config()
    };
    for d in [
        &mut cfg.spot_ping,
        &mut cfg.futures_ping,
        &mut cfg.pong_timeout_spot,
        &mut cfg.pong_timeout_futures,
    ] {
        *d = d.mul_f64(args.keepalive_scale);
    }
    // Checked before anything starts, so a bad `--venues` fails cleanly.
    let mut venue_cfg = venue_sim_config(&args.venues, &args.market)?;
    if let Some(v) = &mut venue_cfg {
        v.keepalive_scale = args.keepalive_scale;
    }
    if let Some(dir) = &args.record {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("--record: creating {}: {e}", dir.display()))?;
        cfg.tape = Some(dir.join("binance.jsonl"));
        if let Some(v) = &mut venue_cfg {
            v.tape = Some(dir.join("venues.jsonl"));
        }
    }
    if let Some(d) = plan.lifetime() {
        cfg.max_lifetime = Some(d);
        if let Some(v) = &mut venue_cfg {
            v.max_lifetime = Some(d);
        }
    }
    cfg.shutdown_notice = plan.notice();
    let sim = Simulator::start(cfg)?;
    eprintln!("simulator up:");
    eprintln!(
        "  spot     {}/stream?streams=btcusdt@trade   (or /ws/<stream>)",
        sim.spot_url()
    );
    eprintln!(
        "  usdⓈ-m   {}/market/stream?streams=btcusdt@aggTrade/btcusdt@forceOrder   (@trade: /public/…)",
        sim.futures_url()
    );
    let venues = match venue_cfg {
        Some(cfg) => {
            let vsim = tools::sim::venues::VenueSim::start(cfg)?;
            for v in vsim.venues() {
                let base = vsim.base_url(v).unwrap_or_default();
                let path = tools::sim::venues::ws_path(v).unwrap_or("");
                eprintln!("  {:<14} {base}{path}", v.name());
            }
            Some(vsim)
        }
        None => None,
    };
    // The venues' REST endpoints over what was generated (instrument lists and trade history):
    // point an engine's `[backfill] base_url` (and `[instruments.base_url]`) here.
    let mut histories = vec![sim.history()];
    histories.extend(venues.as_ref().map(|v| v.history()));
    let rest = tools::sim::RestServer::start_with(tools::sim::RestConfig {
        histories,
        ..tools::sim::RestConfig::default()
    })?;
    eprintln!(
        "  REST           {}   (trade history and instruments; [backfill] base_url)",
        rest.base_url()
    );
    let mut handles = vec![sim.faults()];
    handles.extend(venues.as_ref().map(|v| v.faults()));
    let driver = plan.start(handles)?;
    if !plan.specs.is_empty() {
        eprintln!("  faults: {:?}", plan.specs);
    }
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
    drop(driver);
    let stats = sim.stats();
    if !plan.specs.is_empty() {
        eprintln!("  faults injected (binance): {:?}", sim.faults().stats());
    }
    sim.stop();
    eprintln!("simulator stopped: {stats:?}");
    if let Some(vsim) = venues {
        for st in vsim.all_stats() {
            eprintln!(
                "  {:<14} connections {} trades {} liquidations {} open interest {} errors {} ping timeouts {}",
                st.venue.name(),
                st.connections_accepted,
                st.trades_sent(),
                st.liquidations_sent(),
                st.open_interest_sent(),
                st.subscribe_errors,
                st.ping_timeouts
            );
        }
        if !plan.specs.is_empty() {
            eprintln!(
                "  faults injected (other venues): {:?}",
                vsim.faults().stats()
            );
        }
        vsim.stop();
    }
    Ok(ExitCode::SUCCESS)
}

/// `sim --tape FILE` without `--scenario`: serve the recording until Ctrl-C / `--seconds`.
fn serve_recording(path: &std::path::Path, args: &Args) -> anyhow::Result<ExitCode> {
    use tools::sim::playback::{Playback, Recording};
    let speed = match args.speed.as_str() {
        "max" => None,
        s => Some(
            s.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x > 0.0)
                .ok_or_else(|| anyhow::anyhow!("--speed: {s:?} is not a positive number or max"))?,
        ),
    };
    let rec = Recording::load(&[path.to_path_buf()])?;
    for p in &rec.problems {
        eprintln!("warning: {p}");
    }
    anyhow::ensure!(
        !rec.conns.is_empty(),
        "{}: no frames to serve",
        path.display()
    );
    let (conns, frames) = (rec.conns.len(), rec.frames());
    let playback = Playback::start(rec, speed)?;
    eprintln!(
        "serving {} ({conns} connections, {frames} frames) at {}:",
        path.display(),
        speed.map_or("full speed".to_string(), |s| format!(
            "{s}× the recorded pace"
        ))
    );
    for v in playback.venues() {
        eprintln!("  {:<14} {}", v.name(), playback.url(v).unwrap_or_default());
    }
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
    let stats = playback.stats();
    playback.stop();
    for s in stats {
        eprintln!(
            "  {:<14} connections {} (recorded {}, unmatched {}), frames sent {} of {}, pings answered {}, errors {}",
            s.venue.name(),
            s.connections,
            s.recorded_connections,
            s.unmatched,
            s.frames_sent,
            s.recorded_frames,
            s.pings_answered,
            s.errors
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venues_all_means_the_venues_that_operate() {
        let market = MarketArgs {
            symbols: vec!["BTCUSDT".into()],
            rate: 1.0,
            burst_prob: 0.0,
            seed: 1,
            tape: None,
        };
        let all = venue_sim_config(&["all".into()], &market).unwrap().unwrap();
        assert!(all.markets.len() >= 10, "{}", all.markets.len());
        assert!(all.markets.iter().all(|(v, _)| v.closed().is_none()));
        // Named, the closed venue's protocol is still served (old captures, client tests).
        let named = venue_sim_config(&["bitmex".into()], &market)
            .unwrap()
            .unwrap();
        let venues: Vec<feeds::Venue> = named.markets.iter().map(|(v, _)| *v).collect();
        assert_eq!(venues, [feeds::Venue::Bitmex]);
    }
}
