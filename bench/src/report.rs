//! Printing results as a table and as JSON.

use crate::ours::{READ_TO_BAR, SEND_TO_BAR};
use crate::{RunResult, Sample};
use hdrhistogram::Histogram;
use serde_json::{json, Value};

fn us(ns: u64) -> String {
    let us = ns as f64 / 1000.0;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

/// p50/p90/p99/p99.9/max of a histogram as JSON (ns).
pub fn percentiles(h: &Histogram<u64>) -> Value {
    json!({
        "count": h.len(),
        "p50_ns": h.value_at_quantile(0.50),
        "p90_ns": h.value_at_quantile(0.90),
        "p99_ns": h.value_at_quantile(0.99),
        "p999_ns": h.value_at_quantile(0.999),
        "max_ns": h.max(),
    })
}

/// One run as JSON (bars are summarized by their count).
pub fn run_json(r: &RunResult) -> Value {
    let stages: Vec<Value> = r
        .stages
        .iter()
        .map(|s| json!({"stage": s.name, "latency": percentiles(&s.hist)}))
        .collect();
    let samples: Vec<Value> = r.samples.iter().map(sample_json).collect();
    json!({
        "name": r.name,
        "frames": r.frames,
        "trades": r.trades,
        "errors": r.errors,
        "bars": r.bars_closed,
        "elapsed_s": r.elapsed_ns as f64 / 1e9,
        "msgs_per_s": r.rate(),
        "cpu_s": r.cpu_ns as f64 / 1e9,
        "msgs_per_cpu_s": r.per_cpu_second(),
        "stages": stages,
        "samples": samples,
    })
}

fn sample_json(s: &Sample) -> Value {
    json!({"at_s": s.at_s, "rss_bytes": s.rss, "trades": s.trades,
           "p50_ns": s.p50, "p99_ns": s.p99, "max_ns": s.max})
}

/// The table of runs: one line per (run, stage).
pub fn table(runs: &[&RunResult]) -> String {
    let mut out = format!(
        "{:<38} {:<36} {:>9} {:>9} {:>9} {:>9} {:>9} {:>12}\n",
        "run", "stage", "p50", "p90", "p99", "p99.9", "max", "msgs/s"
    );
    for r in runs {
        for (k, s) in r.stages.iter().enumerate() {
            let h = &s.hist;
            let rate = if k == 0 {
                format!("{:.0}", r.rate())
            } else {
                String::new()
            };
            out.push_str(&format!(
                "{:<38} {:<36} {:>9} {:>9} {:>9} {:>9} {:>9} {:>12}\n",
                if k == 0 { r.name.as_str() } else { "" },
                s.name,
                us(h.value_at_quantile(0.50)),
                us(h.value_at_quantile(0.90)),
                us(h.value_at_quantile(0.99)),
                us(h.value_at_quantile(0.999)),
                us(h.max()),
                rate
            ));
        }
        out.push_str(&format!(
            "{:<38} frames {} trades {} errors {} bars {} CPU {:.2} s ({:.0} msgs per CPU-s)\n",
            "",
            r.frames,
            r.trades,
            r.errors,
            r.bars_closed,
            r.cpu_ns as f64 / 1e9,
            r.per_cpu_second()
        ));
    }
    out
}

/// The soak samples as a table.
pub fn samples_table(samples: &[Sample]) -> String {
    let mut out = format!(
        "{:>8} {:>10} {:>10} {:>9} {:>9} {:>9}\n",
        "t (s)", "RSS (MiB)", "trades", "p50", "p99", "max"
    );
    for s in samples {
        out.push_str(&format!(
            "{:>8.0} {:>10.1} {:>10} {:>9} {:>9} {:>9}\n",
            s.at_s,
            s.rss as f64 / (1 << 20) as f64,
            s.trades,
            us(s.p50),
            us(s.p99),
            us(s.max)
        ));
    }
    out
}

/// `ratio = baseline / ours` for p99 (of `stage`) and `ours / baseline` for throughput.
pub fn ratios(ours: &RunResult, base: &RunResult, stage: &str) -> Value {
    let p99_of = |r: &RunResult, s: &str| r.stage(s).map_or(0, |h| h.value_at_quantile(0.99));
    let (po, pb) = (p99_of(ours, stage), p99_of(base, stage));
    let (ro, rb) = (p99_of(ours, READ_TO_BAR), p99_of(base, READ_TO_BAR));
    let (so, sb) = (p99_of(ours, SEND_TO_BAR), p99_of(base, SEND_TO_BAR));
    json!({
        "send_to_bar_p99_ns": {"ours": so, "baseline": sb},
        "send_to_bar_p99_ratio": if so > 0 { sb as f64 / so as f64 } else { 0.0 },
        "read_to_bar_p99_ns": {"ours": ro, "baseline": rb},
        "read_to_bar_p99_ratio": if ro > 0 { rb as f64 / ro as f64 } else { 0.0 },
        "ours": ours.name,
        "baseline": base.name,
        "stage": stage,
        "p99_ns": {"ours": po, "baseline": pb},
        "p99_ratio": if po > 0 { pb as f64 / po as f64 } else { 0.0 },
        "msgs_per_s": {"ours": ours.rate(), "baseline": base.rate()},
        "throughput_ratio": if base.rate() > 0.0 { ours.rate() / base.rate() } else { 0.0 },
        "msgs_per_cpu_s": {"ours": ours.per_cpu_second(), "baseline": base.per_cpu_second()},
        "cpu_efficiency_ratio": if base.per_cpu_second() > 0.0 {
            ours.per_cpu_second() / base.per_cpu_second()
        } else {
            0.0
        },
    })
}

/// The machine, for the record.
pub fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    json!({
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu_model": cpu,
        "loadavg_at_start": load.trim(),
    })
}
