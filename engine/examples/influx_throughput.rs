//! Export and import throughput against a running InfluxDB 1.x (set up with
//! `squeezeflow influx setup`):
//!
//! `cargo run --release -p engine --example influx_throughput -- PORT [MARKETS] [SECONDS]`
//!
//! Submits MARKETS × SECONDS synthetic bars (the last SECONDS before an hour ago) through
//! `InfluxSink` as the IO thread would and times until InfluxDB has accepted them all; then
//! imports them back into an empty store with `influx::import::run` and times that.

use engine::bar::Bar;
use engine::influx::import::{self, ImportSpec};
use engine::influx::{InfluxClient, InfluxConfig, InfluxSink};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(8086);
    let markets: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20);
    let seconds: i64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(36_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let ids: Vec<String> = (0..markets).map(|i| format!("BENCH:pair{i}")).collect();
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let start_s = (now_s - 3600 - seconds) / 3600 * 3600;
    let cfg = InfluxConfig {
        enabled: true,
        port,
        ..Default::default()
    };
    let mut sink =
        InfluxSink::start(cfg.clone(), ids.clone(), &dir.path().join("data")).expect("sink");
    let t0 = Instant::now();
    let mut submit_ns = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
    for s in 0..seconds {
        for m in 0..markets {
            let p = 100.0 + (s as f64 * 0.37 + m as f64).sin();
            let bar = Bar {
                open: p,
                high: p + 0.5,
                low: p - 0.5,
                close: p + 0.1,
                vbuy: p * 1.25,
                vsell: p * 0.75,
                lbuy: 0.0,
                lsell: 0.0,
                cbuy: 3,
                csell: 2,
                open_us: 0,
                close_us: 0,
            };
            let t = Instant::now();
            sink.submit(m as u32, start_s + s, &bar);
            let _ = submit_ns.record(t.elapsed().as_nanos() as u64);
        }
    }
    let submitted = t0.elapsed();
    let st = sink.shutdown(Duration::from_secs(600));
    let total = t0.elapsed();
    let n = markets as u64 * seconds as u64;
    println!(
        "export: {n} bars ({markets} markets × {seconds} s) accepted by InfluxDB in {:.2} s = {:.0} bars/s \
         ({} batches, {} rejected, {} dropped); submit loop {:.2} s, submit p50 {} ns p99.9 {} ns max {} ns, {} waited on the IO side",
        total.as_secs_f64(),
        n as f64 / total.as_secs_f64(),
        st.batches,
        st.rejected,
        st.dropped,
        submitted.as_secs_f64(),
        submit_ns.value_at_quantile(0.5),
        submit_ns.value_at_quantile(0.999),
        submit_ns.max(),
        st.queued_on_io
    );
    assert_eq!(st.written, n, "every bar written");

    let mut client = InfluxClient::new("127.0.0.1", port, &cfg.database, Duration::from_secs(30));
    let spec = ImportSpec {
        retention_policy: cfg.retention_policy.clone(),
        measurement: cfg.measurement.clone(),
        from_ms: start_s * 1000,
        to_ms: (start_s + seconds) * 1000,
        markets: ids,
        chunk_secs: 3600,
        data_dir: dir.path().join("imported"),
        restart: true,
    };
    let t0 = Instant::now();
    let r = import::run(&mut client, &spec, &mut |_| {}).expect("import");
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "import: {} rows, {} bars written, {} bad, in {:.2} s = {:.0} bars/s ({} chunks of 3600 s)",
        r.rows,
        r.written,
        r.bad_rows,
        secs,
        r.rows as f64 / secs,
        r.chunks
    );
    assert_eq!(r.written, n, "every bar imported");
}
