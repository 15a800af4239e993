//! `harness <mode>`: end-to-end latency and throughput of our pipeline, side by side with the
//! conventional tokio + tokio-tungstenite + serde_json stack. See BENCHMARKING.md.
//!
//! ```sh
//! cargo run --release -p bench --bin harness -- replay   --frames 1000000
//! cargo run --release -p bench --bin harness -- loopback --frames 500000 --rate 50000
//! cargo run --release -p bench --bin harness -- baseline --json /tmp/baseline.json
//! cargo run --release -p bench --bin harness -- soak --duration 3600 --interval 60
//! ```

use anyhow::{Context, Result};
use bench::gen::{Tape, TapeSpec};
use bench::modes::{self, Cores, LoopbackPlan};
use bench::ours::{self, SCHED_TO_BAR};
use bench::{baseline, report, two_cores, RunResult};
use clap::{Parser, ValueEnum};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    /// In-memory tape through decode → ring → aggregate + store on pinned cores.
    Replay,
    /// Scheduled-rate Binance WebSocket sender over loopback → our feed path.
    Loopback,
    /// The same tape and rate through ours and the conventional stack, with ratios.
    Baseline,
    /// A long paced loopback run sampling RSS and p99 every interval.
    Soak,
}

#[derive(Debug, Parser)]
#[command(
    name = "harness",
    about = "End-to-end benchmarks (see BENCHMARKING.md)"
)]
struct Args {
    mode: Mode,
    /// Frames per run (replay default 1 000 000; loopback/baseline default 300 000).
    #[arg(long)]
    frames: Option<u64>,
    /// Paced send rate, frames/s (loopback, baseline, soak).
    #[arg(long, default_value_t = 50_000.0)]
    rate: f64,
    /// Distinct symbols (1–8), split over the connections.
    #[arg(long, default_value_t = 6)]
    symbols: usize,
    /// WebSocket connections.
    #[arg(long, default_value_t = 2)]
    conns: usize,
    /// Trades per second of exchange time on the tape (sets trades per bar).
    #[arg(long, default_value_t = 6_000)]
    per_sec: u64,
    /// Rounds of the `baseline` comparison (ratios are reported per round and as medians).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Soak length, seconds.
    #[arg(long, default_value_t = 3600)]
    duration: u64,
    /// Soak sampling interval, seconds.
    #[arg(long, default_value_t = 60)]
    interval: u64,
    /// Our receiver busy-polls its sockets (default: blocks in epoll, like the engine's
    /// default idle policy).
    #[arg(long)]
    busy_poll: bool,
    /// Do not pin the sender and our threads to the first two cores (on a shared, loaded VM a
    /// pinned thread waits for its core while the other may be free).
    #[arg(long)]
    no_pin: bool,
    /// Bar store directory (default: a temporary directory, removed at exit).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let cores = if args.no_pin {
        (None, None)
    } else {
        two_cores()
    };
    let tmp = tempfile::tempdir()?;
    let data = args
        .data
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let spec = TapeSpec {
        symbols: args.symbols.clamp(1, 8),
        per_sec: args.per_sec.max(1),
    };
    let mut out = json!({
        "mode": format!("{:?}", args.mode).to_lowercase(),
        "machine": report::machine(),
        "args": {"frames": args.frames, "rate": args.rate, "symbols": spec.symbols,
                 "conns": args.conns, "per_sec": spec.per_sec, "busy_poll": args.busy_poll, "pinned": !args.no_pin},
    });
    match args.mode {
        Mode::Replay => replay(&args, spec, &data, cores, &mut out)?,
        Mode::Loopback => loopback(&args, spec, &data, cores, &mut out)?,
        Mode::Baseline => compare(&args, spec, &data, cores, &mut out)?,
        Mode::Soak => soak(&args, spec, &data, cores, &mut out)?,
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&out)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("JSON written to {}", path.display());
    }
    Ok(())
}

fn fresh(data: &Path, name: &str) -> Result<PathBuf> {
    let dir = data.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn runs_json(runs: &[&RunResult]) -> Value {
    Value::Array(runs.iter().map(|r| report::run_json(r)).collect())
}

fn replay(args: &Args, spec: TapeSpec, data: &Path, cores: Cores, out: &mut Value) -> Result<()> {
    let n = args.frames.unwrap_or(1_000_000);
    let tape = Tape::generate(&spec, n);
    println!(
        "replay: {n} frames ({} MB) of {} symbols",
        tape.bytes.len() >> 20,
        spec.symbols
    );
    let two = ours::replay_two_threads(&spec, &tape, &fresh(data, "replay2")?, cores)?;
    let dir = fresh(data, "replay1")?;
    let one = ours::replay_inline(&spec, &tape, &dir)?;
    modes::check_complete(&two, n)?;
    modes::check_complete(&one, n)?;
    modes::check_same_bars(&two, &one)?;
    print!("{}", report::table(&[&two, &one]));
    out["runs"] = runs_json(&[&two, &one]);
    Ok(())
}

fn plan(args: &Args, spec: TapeSpec, rate: f64, tape: Option<Arc<Tape>>) -> LoopbackPlan {
    LoopbackPlan {
        spec,
        frames: Some(
            tape.as_ref()
                .map_or(args.frames.unwrap_or(300_000), |t| t.len() as u64),
        ),
        tape,
        rate,
        conns: args.conns.max(1),
        duration: None,
        sample_every: None,
        busy_poll: args.busy_poll,
    }
}

fn loopback(args: &Args, spec: TapeSpec, data: &Path, cores: Cores, out: &mut Value) -> Result<()> {
    let n = args.frames.unwrap_or(300_000);
    let tape = Arc::new(Tape::generate(&spec, n));
    println!(
        "loopback: {n} frames, {} connections, paced at {} frames/s, then unpaced",
        args.conns, args.rate
    );
    let paced = modes::loopback_ours(
        &plan(args, spec, args.rate, Some(tape.clone())),
        "ours/loopback paced",
        &fresh(data, "lp")?,
        cores,
    )?;
    let max = modes::loopback_ours(
        &plan(args, spec, 0.0, Some(tape)),
        "ours/loopback unpaced",
        &fresh(data, "lm")?,
        cores,
    )?;
    modes::check_complete(&paced, n)?;
    modes::check_complete(&max, n)?;
    print!("{}", report::table(&[&paced, &max]));
    out["runs"] = runs_json(&[&paced, &max]);
    Ok(())
}

/// The ratios printed (and their medians over `--repeat`): (label, JSON path).
const RATIOS: [(&str, &str, &str); 9] = [
    ("replay throughput", "replay_throughput", "throughput_ratio"),
    (
        "replay msgs per CPU-s",
        "replay_throughput",
        "cpu_efficiency_ratio",
    ),
    (
        "paced p99, scheduled send → bar",
        "loopback_paced",
        "p99_ratio",
    ),
    (
        "paced p99, actual send → bar",
        "loopback_paced",
        "send_to_bar_p99_ratio",
    ),
    (
        "paced p99, socket read → bar",
        "loopback_paced",
        "read_to_bar_p99_ratio",
    ),
    (
        "paced msgs per CPU-s",
        "loopback_paced",
        "cpu_efficiency_ratio",
    ),
    ("unpaced throughput", "loopback_unpaced", "throughput_ratio"),
    (
        "unpaced msgs per CPU-s",
        "loopback_unpaced",
        "cpu_efficiency_ratio",
    ),
    ("unpaced p99 (queueing)", "loopback_unpaced", "p99_ratio"),
];

fn compare(args: &Args, spec: TapeSpec, data: &Path, cores: Cores, out: &mut Value) -> Result<()> {
    let n = args.frames.unwrap_or(300_000);
    let tape = Arc::new(Tape::generate(&spec, n));
    println!(
        "baseline: {n} frames, {} symbols, {} connections; replay, loopback paced at {} frames/s, loopback unpaced; {} round(s)",
        spec.symbols, args.conns, args.rate, args.repeat.max(1)
    );
    let mut rounds = Vec::new();
    for round in 0..args.repeat.max(1) {
        println!("round {}", round + 1);
        rounds.push(compare_once(args, spec, &tape, data, cores)?);
    }
    let mut medians = serde_json::Map::new();
    println!("ratios, median of {} round(s) (>1: ours better; baseline ÷ ours for p99, ours ÷ baseline for rates):", rounds.len());
    for (label, group, key) in RATIOS {
        let mut v: Vec<f64> = rounds
            .iter()
            .filter_map(|r| r["ratios"][group][key].as_f64())
            .collect();
        v.sort_by(f64::total_cmp);
        let median = v.get(v.len() / 2).copied().unwrap_or(0.0);
        println!(
            "  {label:<34} ×{median:.2}   (rounds: {})",
            v.iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        medians.insert(format!("{group}.{key}"), json!(median));
    }
    out["rounds"] = Value::Array(rounds);
    out["median_ratios"] = Value::Object(medians);
    Ok(())
}

fn compare_once(
    args: &Args,
    spec: TapeSpec,
    tape: &Arc<Tape>,
    data: &Path,
    cores: Cores,
) -> Result<Value> {
    let n = tape.len() as u64;
    let dir = fresh(data, "br")?;
    let our_replay = ours::replay_inline(&spec, tape, &dir)?;
    let base_replay = baseline::replay(tape.clone())?;
    let our_paced = modes::loopback_ours(
        &plan(args, spec, args.rate, Some(tape.clone())),
        "ours/loopback paced",
        &fresh(data, "bp")?,
        cores,
    )?;
    let base_paced = modes::loopback_baseline(
        &plan(args, spec, args.rate, Some(tape.clone())),
        "baseline/loopback paced",
        cores,
    )?;
    let our_max = modes::loopback_ours(
        &plan(args, spec, 0.0, Some(tape.clone())),
        "ours/loopback unpaced",
        &fresh(data, "bm")?,
        cores,
    )?;
    let base_max = modes::loopback_baseline(
        &plan(args, spec, 0.0, Some(tape.clone())),
        "baseline/loopback unpaced",
        cores,
    )?;
    let all = [
        &our_replay,
        &base_replay,
        &our_paced,
        &base_paced,
        &our_max,
        &base_max,
    ];
    for r in all {
        modes::check_complete(r, n)?;
    }
    let mut same = 0;
    for r in &all[1..] {
        same = modes::check_same_bars(&our_replay, r)?;
    }
    print!("{}", report::table(&all));
    println!("bars: all six runs closed the same {same} bars");
    let ratios = json!({
        "replay_throughput": report::ratios(&our_replay, &base_replay, "frame → bar updated (decode+route+aggregate+store)"),
        "loopback_paced": report::ratios(&our_paced, &base_paced, SCHED_TO_BAR),
        "loopback_unpaced": report::ratios(&our_max, &base_max, SCHED_TO_BAR),
    });
    Ok(json!({"runs": runs_json(&all), "bars_compared": same, "ratios": ratios}))
}

fn soak(args: &Args, spec: TapeSpec, data: &Path, cores: Cores, out: &mut Value) -> Result<()> {
    let plan = LoopbackPlan {
        spec,
        tape: None,
        frames: None,
        rate: args.rate,
        conns: args.conns.max(1),
        duration: Some(Duration::from_secs(args.duration)),
        sample_every: Some(Duration::from_secs(args.interval.max(1))),
        busy_poll: args.busy_poll,
    };
    println!(
        "soak: {} s at {} frames/s, sampling every {} s",
        args.duration, args.rate, args.interval
    );
    let r = modes::loopback_ours(&plan, "ours/soak", &fresh(data, "soak")?, cores)?;
    if r.errors != 0 || r.frames != r.trades {
        anyhow::bail!(
            "soak: {} frames, {} trades, {} errors",
            r.frames,
            r.trades,
            r.errors
        );
    }
    print!("{}", report::samples_table(&r.samples));
    print!("{}", report::table(&[&r]));
    out["runs"] = runs_json(&[&r]);
    Ok(())
}
