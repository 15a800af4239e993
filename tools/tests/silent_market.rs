//! Silent streams are said out loud (issue 16 §2), end to end with real processes: `squeezeflow
//! run` against the simulators, one subscribed market acknowledged and kept alive (open
//! interest readings, keepalives) but never traded, two markets flowing. The silent market —
//! and only it — is named in the log with "silent", in the gap journal, in the stats file, on
//! `/metrics`, in the `market_silent` alert and by `squeezeflow monitor --once` / `--export`.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tools::sim::venues::{VenueSim, VenueSimConfig};
use tools::sim::{SimConfig, Simulator};

const SILENT: &str = "BYBIT:SOLUSDT";
const FLOWING: [&str; 2] = ["BINANCE:btcusdt", "BINANCE:ethusdt"];

struct Engine(Child);

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path` on `addr` → body (`None` while nothing answers).
fn get(addr: &str, path: &str) -> Option<String> {
    let mut c = TcpStream::connect(addr).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(c, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").ok()?;
    let mut r = String::new();
    c.read_to_string(&mut r).ok()?;
    Some(r.split_once("\r\n\r\n")?.1.to_string())
}

/// Every line of today's and yesterday's gap journal (a test may straddle midnight).
fn journal(data: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(data.join("gaps")) else {
        return out;
    };
    for e in dir.flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        out.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
    }
    out
}

fn monitor_once(config: &Path, export: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_squeezeflow"))
        .args(["monitor", "--once", "--config"])
        .arg(config)
        .arg("--export")
        .arg(export)
        .env_remove("SQUEEZEFLOW_DATA_DIR")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_subscribed_market_that_never_trades_is_reported_silent_and_only_it() {
    let dir = tempfile::tempdir().unwrap();
    // Flowing: Binance spot BTCUSDT and ETHUSDT, 20 trades/s each.
    let sim = Simulator::start(SimConfig {
        symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
        trades_per_sec: 20.0,
        seed: 16,
        ..SimConfig::default()
    })
    .unwrap();
    // Silent: Bybit SOLUSDT is served, its subscription acknowledged, its open interest read
    // twice a second and its keepalives answered, but it never trades.
    let quiet = VenueSim::start(VenueSimConfig {
        markets: vec![(feeds::Venue::BybitLinear, vec!["SOLUSDT".to_string()])],
        trades_per_sec: 0.0,
        liquidations_per_sec: 0.0,
        open_interest_every: Duration::from_millis(500),
        keepalive_scale: 0.05,
        seed: 16,
        ..VenueSimConfig::default()
    })
    .unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("engine.toml");
    std::fs::write(
        &config,
        format!(
            r#"data_dir = "{data}"
log_level = "info"
[signals]
stdout = false
[strategy]
enabled = false
[backfill]
enabled = false
[continuity]
silent_after_s = 1.5
[monitor]
interval_ms = 200
listen = "127.0.0.1:0"
[[feeds]]
venue = "binance"
url = "{spot}"
pairs = ["btcusdt", "ethusdt"]
[[feeds]]
venue = "bybit-linear"
url = "{bybit}"
pairs = ["SOLUSDT"]
ping_ms = 250
"#,
            data = data.display(),
            spot = sim.spot_url(),
            bybit = quiet.base_url(feeds::Venue::BybitLinear).unwrap(),
        ),
    )
    .unwrap();
    let log_path = dir.path().join("engine.log");
    let mut engine = Engine(
        Command::new(env!("CARGO_BIN_EXE_squeezeflow"))
            .args(["run", "--config"])
            .arg(&config)
            .env_remove("SQUEEZEFLOW_DATA_DIR")
            .env_remove("SQUEEZEFLOW_LOG_LEVEL")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let stats = engine::monitor::stats_path(&data);

    // Until the journal, the stats file and /metrics all show SOL silent, and the flowing
    // markets have traded for a while (at least 4 × silent_after_s after SOL was reported).
    let started = Instant::now();
    let deadline = started + Duration::from_secs(90);
    let mut reported_at: Option<Instant> = None;
    let (snap, metrics) = loop {
        assert!(
            Instant::now() < deadline,
            "not reported in time; journal {:?}\nlog:\n{}",
            journal(&data),
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
        let in_journal = journal(&data).iter().any(|r| r["event"] == "silent");
        let Ok(Some(snap)) = engine::monitor::read_snapshot(&stats) else {
            continue;
        };
        let silent_now = snap
            .markets
            .iter()
            .any(|m| m.id == SILENT && m.silent_since_us > 0);
        if !(in_journal && silent_now) {
            continue;
        }
        let at = *reported_at.get_or_insert_with(Instant::now);
        let traded = FLOWING.iter().all(|id| {
            snap.markets
                .iter()
                .any(|m| m.id == *id && m.trades > 50 && m.last_trade_us > 0)
        });
        if !traded || at.elapsed() < Duration::from_secs(6) {
            continue;
        }
        let Some(metrics) = get(&snap.http_addr, "/metrics") else {
            continue;
        };
        if metrics.contains("squeezeflow_markets_silent 1\n") {
            break (snap, metrics);
        }
    };

    // The stats file: SOL silent (one episode), the flowing markets never.
    for m in &snap.markets {
        if m.id == SILENT {
            assert!(m.silent_since_us > 0 && m.silent_episodes == 1, "{m:?}");
            assert_eq!(m.trades, 0, "the silent market never traded");
        } else {
            assert!(FLOWING.contains(&m.id.as_str()), "{}", m.id);
            assert_eq!((m.silent_since_us, m.silent_episodes), (0, 0), "{m:?}");
        }
    }
    // /metrics: the count, SOL's series, and no series naming a flowing market.
    let sol = format!(r#"squeezeflow_market_silent{{market="{SILENT}",venue="bybit-linear"}} 1"#);
    assert!(metrics.contains(&sol), "{metrics}");
    assert!(
        metrics.contains(&format!(
            r#"squeezeflow_market_silent_episodes_total{{market="{SILENT}",venue="bybit-linear"}} 1"#
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"squeezeflow_alert_active{alert="market_silent",severity="warning"} 1"#),
        "{metrics}"
    );
    for line in metrics.lines().filter(|l| l.contains("silent")) {
        assert!(
            FLOWING.iter().all(|id| !line.contains(id)),
            "a flowing market named: {line}"
        );
    }
    // `monitor --once` and `--export`.
    let export = dir.path().join("report.json");
    let text = monitor_once(&config, &export);
    assert!(text.contains("silent markets: 1"), "{text}");
    assert!(text.contains(&format!("{SILENT} silent for")), "{text}");
    assert!(text.contains("market_silent"), "{text}");
    for line in text.lines().filter(|l| l.contains("silent")) {
        assert!(
            FLOWING.iter().all(|id| !line.contains(id)),
            "monitor names a flowing market: {line}"
        );
    }
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap();
    let listed: Vec<&str> = report["silent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["market"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [SILENT], "{report}");

    // Stop the engine cleanly.
    let status = Command::new("kill")
        .args(["-TERM", &engine.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(engine.0.wait().unwrap().success(), "clean stop");
    sim.stop();
    quiet.stop();

    // The gap journal: one silent event, for SOL, with the floor (it never traded); nothing
    // about the flowing markets.
    let j = journal(&data);
    let silent: Vec<&Value> = j.iter().filter(|r| r["event"] == "silent").collect();
    assert_eq!(silent.len(), 1, "{j:?}");
    assert_eq!(silent[0]["market"], SILENT);
    assert_eq!(silent[0]["traded"], false);
    assert_eq!(silent[0]["limit_s"].as_f64(), Some(1.5));
    assert!(
        silent[0]["quiet_s"].as_f64().unwrap() >= 1.5,
        "{}",
        silent[0]
    );
    assert!(j.iter().all(|r| r["event"] != "flowing"), "{j:?}");
    for r in &j {
        assert!(
            FLOWING.iter().all(|id| r["market"] != *id),
            "journal names a flowing market: {r}"
        );
    }
    // The log: the silent market named with "silent"; no line naming a flowing market says
    // silent.
    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("silent")).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("{SILENT} is silent"))),
        "{log}"
    );
    for l in &lines {
        assert!(
            FLOWING.iter().all(|id| !l.contains(id)),
            "the log names a flowing market as silent: {l}"
        );
    }
    // The flowing markets did flow the whole time (bars stored).
    let store = engine::store::Store::new(&data);
    for id in FLOWING {
        assert!(
            store.range(id, 0, i64::MAX).unwrap().len() >= 5,
            "{id}: too few bars"
        );
    }
}
