//! Monitoring end to end, with real processes: the simulator (in this process), `squeezeflow
//! run` against it, `/metrics` parsed by the official Prometheus Python client's exposition
//! parser, `/health` flipping to 503 when the simulator stops, and `squeezeflow monitor
//! --once` exiting 0 (healthy), 1 (stale data) and 2 (engine stopped).

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tools::sim::{SimConfig, Simulator};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` → (status code, body); `None` if nothing listens yet.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut c = TcpStream::connect(("127.0.0.1", port)).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(c, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").ok()?;
    let mut r = String::new();
    c.read_to_string(&mut r).ok()?;
    let code = r.get(9..12)?.parse().ok()?;
    let body = r.split_once("\r\n\r\n")?.1.to_string();
    Some((code, body))
}

/// Polls `/health` until it answers `want` and `ok` accepts the JSON body (or fails after
/// 60 s).
fn wait_health(port: u16, want: u16, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = get(port, "/health");
        if let Some((code, body)) = &got {
            let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            if *code == want && ok(&v) {
                return v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "/health never answered {want} as expected; last: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `squeezeflow monitor --once`, retried until it exits `want` (the state it reports
/// follows the engine a publish interval late): returns stdout.
fn monitor_once(config: &Path, export: &Path, want: i32) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new(env!("CARGO_BIN_EXE_squeezeflow"))
            .args(["monitor", "--once", "--config"])
            .arg(config)
            .arg("--export")
            .arg(export)
            .env_remove("SQUEEZEFLOW_DATA_DIR")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.code() == Some(want) {
            return stdout;
        }
        assert!(
            Instant::now() < deadline,
            "monitor --once never exited {want}; last {:?}:\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The metric families of a `/metrics` body as the official client parses them:
/// `{name: {"type": t, "samples": [[name, labels, value], ...]}}`.
fn parse_with_prometheus_client(text: &str) -> Value {
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    out[fam.name] = {"type": fam.type, "samples": [[s.name, s.labels, s.value] for s in fam.samples]}
print(json.dumps(out))
"#;
    // Debian's interpreter: the one `apt-get install python3-prometheus-client` serves (a
    // pyenv or venv `python3` earlier on PATH would not see the package).
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 is required (Debian's python3 with python3-prometheus-client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus client's parser rejected /metrics (is python3-prometheus-client installed?): {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sample(fams: &Value, family: &str, sample: &str, labels: &[(&str, &str)]) -> Option<f64> {
    fams[family]["samples"]
        .as_array()?
        .iter()
        .find(|s| s[0] == sample && labels.iter().all(|(k, v)| s[1][*k].as_str() == Some(*v)))
        .and_then(|s| s[2].as_f64())
}

struct Engine(Child);

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn metrics_health_and_monitor_exit_codes_follow_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(SimConfig {
        symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
        trades_per_sec: 40.0,
        seed: 11,
        ..SimConfig::default()
    })
    .unwrap();
    let port = free_port();
    let data = dir.path().join("data");
    let config = dir.path().join("engine.toml");
    std::fs::write(
        &config,
        format!(
            r#"data_dir = "{data}"
log_level = "info"
[signals]
stdout = false
[monitor]
interval_ms = 250
listen = "127.0.0.1:{port}"
[monitor.alerts]
stale_s = 3.0
[[feeds]]
venue = "binance"
url = "{spot}"
pairs = ["btcusdt", "ethusdt"]
[[feeds]]
venue = "binance-usdm"
url = "{fut}"
pairs = ["btcusdt", "ethusdt"]
"#,
            data = data.display(),
            spot = sim.spot_url(),
            fut = sim.futures_url(),
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("engine.log")).unwrap();
    let engine = Engine(
        Command::new(env!("CARGO_BIN_EXE_squeezeflow"))
            .args(["run", "--quiet", "--config"])
            .arg(&config)
            .env_remove("SQUEEZEFLOW_DATA_DIR")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let export = dir.path().join("report.json");

    // Healthy: data flows (a fresh engine is healthy before its first trade too; wait for
    // both connections and a trade).
    let health = wait_health(port, 200, |h| {
        h["connections_open"] == 2 && h["data_age_s"].is_number()
    });
    assert_eq!(health["status"], "healthy", "{health}");
    assert_eq!(health["engine"]["pid"], engine.0.id());

    // The hot threads publish their percentiles once a second: scrape until they have.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (metrics, fams) = loop {
        let (code, metrics) = get(port, "/metrics").unwrap();
        assert_eq!(code, 200);
        let fams = parse_with_prometheus_client(&metrics);
        let p50 = sample(
            &fams,
            "squeezeflow_stage_latency_seconds",
            "squeezeflow_stage_latency_seconds",
            &[("stage", "receive_to_bar"), ("quantile", "0.5")],
        );
        if p50.is_some_and(|v| v > 0.0) {
            break (metrics, fams);
        }
        assert!(
            Instant::now() < deadline,
            "no latency percentiles:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(fams["squeezeflow_up"]["type"], "gauge");
    assert_eq!(
        sample(&fams, "squeezeflow_up", "squeezeflow_up", &[]),
        Some(1.0)
    );
    // The client strips `_total` from counter family names.
    assert_eq!(fams["squeezeflow_frames"]["type"], "counter");
    assert!(sample(&fams, "squeezeflow_frames", "squeezeflow_frames_total", &[]).unwrap() > 0.0);
    for venue in ["binance", "binance-usdm"] {
        assert_eq!(
            sample(
                &fams,
                "squeezeflow_venue_connections_open",
                "squeezeflow_venue_connections_open",
                &[("venue", venue)]
            ),
            Some(1.0),
            "{venue}"
        );
    }
    let bars = sample(
        &fams,
        "squeezeflow_market_bars",
        "squeezeflow_market_bars_total",
        &[
            ("market", "BINANCE_FUTURES:btcusdt"),
            ("venue", "binance-usdm"),
        ],
    );
    assert!(bars.unwrap() > 0.0, "{metrics}");
    assert_eq!(fams["squeezeflow_stage_latency_seconds"]["type"], "summary");
    let p50 = sample(
        &fams,
        "squeezeflow_stage_latency_seconds",
        "squeezeflow_stage_latency_seconds",
        &[("stage", "receive_to_bar"), ("quantile", "0.5")],
    );
    assert!(p50.unwrap() > 0.0, "{metrics}");
    assert!(
        sample(
            &fams,
            "squeezeflow_process_resident_memory_bytes",
            "squeezeflow_process_resident_memory_bytes",
            &[]
        )
        .unwrap()
            > 1e6
    );

    // Continuity series parse as their types: engine totals and per-market gap figures (a
    // fault-free run: nothing missing, nothing open).
    for family in [
        "squeezeflow_duplicates",
        "squeezeflow_gaps_opened",
        "squeezeflow_gaps_unrecovered",
        "squeezeflow_trades_missing",
        "squeezeflow_stale_reconnects",
        "squeezeflow_rotations",
        "squeezeflow_gap_trades_missing",
    ] {
        assert_eq!(fams[family]["type"], "counter", "{family}: {metrics}");
    }
    assert_eq!(
        sample(
            &fams,
            "squeezeflow_gaps_opened",
            "squeezeflow_gaps_opened_total",
            &[]
        ),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(fams["squeezeflow_gaps_open"]["type"], "gauge");
    for market in ["BINANCE:btcusdt", "BINANCE_FUTURES:ethusdt"] {
        assert_eq!(
            sample(
                &fams,
                "squeezeflow_gaps_open",
                "squeezeflow_gaps_open",
                &[("market", market)]
            ),
            Some(0.0),
            "{market}: {metrics}"
        );
        assert_eq!(
            sample(
                &fams,
                "squeezeflow_gap_trades_missing",
                "squeezeflow_gap_trades_missing_total",
                &[("market", market)]
            ),
            Some(0.0),
            "{market}: {metrics}"
        );
    }

    let out = monitor_once(&config, &export, 0);
    assert!(out.contains("HEALTHY — engine running"), "{out}");
    assert!(
        out.contains("== Continuity (gaps, duplicates, reconnects)")
            && out.contains("gaps: 0 open, 0 found"),
        "{out}"
    );
    assert!(
        out.contains("== Latency") && out.contains("receive_to_bar"),
        "{out}"
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap();
    assert_eq!(report["engine"], "running");
    assert_eq!(report["health"], "healthy");
    assert_eq!(report["storage"]["markets"], 4);

    // Stale: the simulator stops sending (and closes its connections).
    sim.stop();
    let has = |h: &Value, name: &str| {
        h["alerts"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["name"] == name))
    };
    // Losing the connections degrades it at once; the data turns stale 3 s later.
    let health = wait_health(port, 503, |h| has(h, "stale_data"));
    assert!(has(&health, "no_connections"), "{health}");
    assert_eq!(health["status"], "degraded", "{health}");
    let names: Vec<&str> = health["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert!(names.contains(&"stale_data"), "{health}");
    let out = monitor_once(&config, &export, 1);
    assert!(
        out.contains("DEGRADED") && out.contains("stale_data"),
        "{out}"
    );

    // Stopped: SIGTERM, a clean shutdown; the report comes from the bar store alone.
    let pid = engine.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut engine = engine;
    let status = engine.0.wait().unwrap();
    assert!(status.success(), "engine exit: {status:?}");
    assert!(
        get(port, "/health").is_none(),
        "endpoints stop with the engine"
    );
    let out = monitor_once(&config, &export, 2);
    assert!(out.contains("DOWN — engine stopped"), "{out}");
    assert!(out.contains("reporting from the bar store alone"), "{out}");
    assert!(!out.contains("no bars in the last 24 h"), "{out}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap();
    assert_eq!(report["engine"], "stopped");
    assert!(report["live"].is_null());
    assert!(report["storage"]["bars_last_day"].as_u64().unwrap() > 0);
}
