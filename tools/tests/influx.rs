//! InfluxDB 1.x both ways against a real `influxd` (started per test on free loopback ports):
//! the demo's exported bars read back with InfluxQL equal the bar store; importing them into
//! an empty store reproduces the bars; stopping the database mid-run loses no bar; the import
//! is resumable and idempotent; errors are clear; credentials (HTTP Basic) and HTTPS work
//! against a server with authentication on and one with a test certificate.

mod influx_server;

use engine::bar::Bar;
use engine::influx::import::same_values;
use engine::store::{day_path, flags, resample, DayReader, Store, StoredBar};
use influx_server::{free_port, Influxd};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn squeezeflow(args: &[&str]) -> Output {
    squeezeflow_env(args, &[])
}

/// `squeezeflow args` with only `env` of the `INFLUX_*` variables set.
fn squeezeflow_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_squeezeflow"));
    c.args(args);
    for k in [
        "INFLUX_HOST",
        "INFLUX_PORT",
        "INFLUX_DATABASE",
        "INFLUX_SCHEME",
        "INFLUX_USER",
        "INFLUX_USERNAME",
        "INFLUX_PASSWORD",
    ] {
        c.env_remove(k);
    }
    c.envs(env.iter().copied());
    c.output().expect("run squeezeflow")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write_config(dir: &Path, port: u16) -> String {
    let path = dir.join("cfg.toml");
    std::fs::write(
        &path,
        format!(
            "[influx]\nenabled = true\nport = {port}\nbatch_interval_ms = 200\nrollups = [\"1m\"]\n"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// market → time_ms → bar, every committed slot of the store.
fn store_bars(data: &Path) -> BTreeMap<String, BTreeMap<i64, StoredBar>> {
    let store = Store::new(data);
    let mut out = BTreeMap::new();
    for m in store.markets().unwrap() {
        let bars: &mut BTreeMap<i64, StoredBar> = out.entry(m.clone()).or_default();
        for day in store.days(&m).unwrap() {
            let r = DayReader::open(&day_path(data, &m, day).unwrap()).unwrap();
            for b in r.iter() {
                bars.insert(b.time_ms, b);
            }
        }
    }
    out
}

/// market → time_ms → bar, read back from `rp.measurement` with InfluxQL (CSV keeps floats exact).
fn influx_bars(srv: &Influxd, rp: &str, meas: &str) -> BTreeMap<String, BTreeMap<i64, Bar>> {
    let mut c = srv.client("significant_trades");
    let markets =
        engine::influx::import::list_markets(&mut c, &format!("\"{rp}\".\"{meas}\"")).unwrap();
    let mut out = BTreeMap::new();
    for m in markets {
        let res = c
            .select_csv(&format!(
                "SELECT open,high,low,close,vbuy,vsell,cbuy,csell,lbuy,lsell FROM \"{rp}\".\"{meas}\" WHERE market = '{m}'"
            ))
            .unwrap();
        let col = |n: &str| res.columns.iter().position(|c| c == n).unwrap();
        let f = |row: &Vec<String>, n: &str| -> f64 {
            let v = &row[col(n)];
            if v.is_empty() {
                f64::NAN
            } else {
                v.parse().unwrap()
            }
        };
        let bars: &mut BTreeMap<i64, Bar> = out.entry(m.clone()).or_default();
        for row in &res.rows {
            let t: i64 = row[col("time")].parse().unwrap();
            bars.insert(
                t,
                Bar {
                    open: f(row, "open"),
                    high: f(row, "high"),
                    low: f(row, "low"),
                    close: f(row, "close"),
                    vbuy: f(row, "vbuy"),
                    vsell: f(row, "vsell"),
                    lbuy: f(row, "lbuy"),
                    lsell: f(row, "lsell"),
                    cbuy: f(row, "cbuy") as u32,
                    csell: f(row, "csell") as u32,
                    open_us: 0,
                    close_us: 0,
                },
            );
        }
    }
    out
}

fn assert_influx_equals_store(srv: &Influxd, data: &Path) -> usize {
    let store = store_bars(data);
    let influx = influx_bars(srv, "aggr_1s", "trades_1s");
    assert_eq!(
        store.keys().collect::<Vec<_>>(),
        influx.keys().collect::<Vec<_>>(),
        "markets"
    );
    let mut n = 0;
    for (m, bars) in &store {
        let got = &influx[m];
        let missing: Vec<&i64> = bars.keys().filter(|t| !got.contains_key(t)).collect();
        assert!(
            missing.is_empty(),
            "{m}: {} bars missing in InfluxDB, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        assert_eq!(bars.len(), got.len(), "{m}: bar count");
        for (t, b) in bars {
            assert!(
                same_values(&b.bar, &got[t]),
                "{m} at {t}: store {:?} vs influx {:?}",
                b.bar,
                got[t]
            );
            n += 1;
        }
    }
    n
}

#[test]
fn demo_export_reads_back_equal_and_import_reproduces_the_store() {
    let srv = Influxd::start();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), srv.port);
    let d1 = tmp.path().join("d1");
    let d1s = d1.to_str().unwrap();

    // Before setup, --verify fails and says what is missing.
    let o = squeezeflow(&["--config", &cfg, "influx", "setup", "--verify"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("database significant_trades  missing"),
        "{}",
        text(&o)
    );
    let o = squeezeflow(&["--config", &cfg, "influx", "setup"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = squeezeflow(&["--config", &cfg, "influx", "setup", "--verify"]);
    assert!(o.status.success(), "{}", text(&o));
    for want in [
        "aggr_1s     duration 1 d",
        "rp_1s       duration 30 d, default",
        "rp_1m       duration forever",
        "aggr_1m     duration forever",
    ] {
        assert!(text(&o).contains(want), "{want}: {}", text(&o));
    }

    let o = squeezeflow(&[
        "--config",
        &cfg,
        "--data",
        d1s,
        "demo",
        "--seconds",
        "6",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(" 0 dropped, 0 waiting in the backlog"),
        "{}",
        text(&o)
    );
    let n = assert_influx_equals_store(&srv, &d1);
    assert!(n >= 6, "the demo made only {n} bars");

    // Rollups: aggr_1m.trades_1m is the store's bars resampled to 1 minute.
    let rolled = influx_bars(&srv, "aggr_1m", "trades_1m");
    for (m, bars) in store_bars(&d1) {
        let all: Vec<StoredBar> = bars.values().copied().collect();
        let want = resample(&all, 60);
        let got = &rolled[&m];
        assert_eq!(want.len(), got.len(), "{m}: 1m buckets");
        for w in &want {
            assert!(
                same_values(&w.bar, &got[&w.time_ms]),
                "{m} 1m at {}",
                w.time_ms
            );
        }
    }

    // Import into an empty store: the same bars, flagged closed.
    let d2 = tmp.path().join("d2");
    let d2s = d2.to_str().unwrap();
    // The earliest bar of any market (snapshot trades put some markets' first bars earlier).
    let first = store_bars(&d1)
        .values()
        .map(|b| *b.keys().next().unwrap())
        .min()
        .unwrap();
    let last = store_bars(&d1)
        .values()
        .map(|b| *b.keys().last().unwrap())
        .max()
        .unwrap();
    let (from, to) = (first.to_string(), (last + 1000).to_string());
    let o = squeezeflow(&[
        "--config", &cfg, "--data", d2s, "import", "influx", "--from", &from, "--to", &to,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("{n} bars written, 0 unchanged, 0 bad rows")),
        "{}",
        text(&o)
    );
    let (a, b) = (store_bars(&d1), store_bars(&d2));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (m, bars) in &a {
        assert_eq!(
            bars.keys().collect::<Vec<_>>(),
            b[m].keys().collect::<Vec<_>>(),
            "{m}: seconds"
        );
        for (t, x) in bars {
            let y = &b[m][t];
            assert!(
                same_values(&x.bar, &y.bar),
                "{m} at {t}: {:?} vs {:?}",
                x.bar,
                y.bar
            );
            assert_eq!(y.flags, flags::CLOSED);
        }
    }
    // Idempotent: again, nothing changes (not even the slots' write counters).
    let files: Vec<Vec<u8>> = walk(&d2.join("bars"))
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let o = squeezeflow(&[
        "--config",
        &cfg,
        "--data",
        d2s,
        "import",
        "influx",
        "--from",
        &from,
        "--to",
        &to,
        "--restart",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("0 bars written, {n} unchanged")),
        "{}",
        text(&o)
    );
    let again: Vec<Vec<u8>> = walk(&d2.join("bars"))
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(files == again, "a repeated import changed the bar files");

    // The migrated history backtests.
    let date = |ms: i64| {
        let o = Command::new("date")
            .args(["-u", "-d", &format!("@{}", ms / 1000), "+%F"])
            .output()
            .unwrap();
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    let o = squeezeflow(&[
        "--data",
        d2s,
        "backtest",
        "--from",
        &date(first),
        "--to",
        &date(last),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(" bars read in "), "{}", text(&o));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn database_down_mid_run_loses_no_bar() {
    let mut srv = Influxd::start();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), srv.port);
    let o = squeezeflow(&["--config", &cfg, "influx", "setup"]);
    assert!(o.status.success(), "{}", text(&o));
    let data = tmp.path().join("data");
    let log = std::fs::File::create(tmp.path().join("demo.log")).unwrap();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_squeezeflow"))
        .args([
            "--config",
            &cfg,
            "--data",
            data.to_str().unwrap(),
            "demo",
            "--seconds",
            "14",
            "--quiet",
        ])
        .env_remove("INFLUX_PORT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let backlog = data.join("influx-backlog");
    // Let bars flow, then take the database away until batches wait on disk.
    std::thread::sleep(Duration::from_secs(4));
    srv.kill();
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut saw_backlog = false;
    while Instant::now() < deadline && !saw_backlog {
        std::thread::sleep(Duration::from_millis(200));
        saw_backlog = std::fs::read_dir(&backlog)
            .map(|d| d.count() > 0)
            .unwrap_or(false);
    }
    assert!(
        saw_backlog,
        "no batch went to the on-disk backlog while InfluxDB was down"
    );
    std::thread::sleep(Duration::from_secs(2));
    srv.spawn();
    let status = demo.wait().unwrap();
    let out = std::fs::read_to_string(tmp.path().join("demo.log")).unwrap();
    assert!(status.success(), "{out}");
    assert!(
        out.contains("batches wait in"),
        "the outage was not reported: {out}"
    );
    assert!(
        out.contains(" 0 dropped, 0 waiting in the backlog"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_dir(&backlog).unwrap().count(),
        0,
        "backlog left behind"
    );
    let n = assert_influx_equals_store(&srv, &data);
    assert!(n >= 10, "only {n} bars");
}

#[test]
fn import_resumes_counts_bad_rows_and_errors_are_clear() {
    let srv = Influxd::start();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), srv.port);
    let data = tmp.path().join("data");
    let ds = data.to_str().unwrap();

    // Unreachable server.
    let dead = free_port().to_string();
    let o = squeezeflow(&[
        "--data",
        ds,
        "import",
        "influx",
        "--port",
        &dead,
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-01",
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("is InfluxDB running at 127.0.0.1:"),
        "{}",
        text(&o)
    );
    // Missing database.
    let o = squeezeflow(&[
        "--config",
        &cfg,
        "--data",
        ds,
        "import",
        "influx",
        "--database",
        "nope",
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-01",
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("database \"nope\" not found"),
        "{}",
        text(&o)
    );

    // History of two days ago: 4 hours, one bar every 10 s per market, and two bad rows.
    let o = squeezeflow(&["--config", &cfg, "influx", "setup"]);
    assert!(o.status.success(), "{}", text(&o));
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let start_ms = (now_s / 86_400 - 2) * 86_400_000;
    let mut body = String::new();
    for i in 0..(4 * 360) {
        let t = start_ms + i * 10_000;
        let p = 100.0 + (i as f64) * 0.01;
        body.push_str(&format!(
            "trades_1s,market=BINANCE:btcusdt open={p},high={},low={},close={p},vbuy={},vsell=0.1,cbuy={},csell=1,lbuy=0,lsell=0 {t}\n",
            p + 0.5, p - 0.5, p * 0.3, 1 + i % 4
        ));
        body.push_str(&format!(
            "trades_1s,market=KRAKEN:XBT/USD vbuy=0,vsell=0,cbuy=0,csell=0,lbuy={},lsell=0 {t}\n",
            i as f64 * 1.5
        ));
    }
    body.push_str(&format!("trades_1s,market=OKEX:BTC-USDT open=1,high=1,low=1,close=1,vbuy=1,vsell=0,cbuy=1.5,csell=0,lbuy=0,lsell=0 {}\n", start_ms + 5000));
    body.push_str(&format!("trades_1s,market=OKEX:BTC-USDT open=1,high=1,low=1,close=1,vbuy=1,vsell=0,cbuy=1,csell=0,lbuy=0,lsell=0 {}\n", start_ms + 6500));
    let mut c = srv.client("significant_trades");
    // Older than aggr_1s keeps (24 h): the history lives in rp_1s (30 d).
    c.write("rp_1s", body.as_bytes()).unwrap();

    let (from, mid, to) = (
        start_ms.to_string(),
        (start_ms + 2 * 3_600_000).to_string(),
        (start_ms + 4 * 3_600_000).to_string(),
    );
    let o = squeezeflow(&[
        "--config",
        &cfg,
        "--data",
        ds,
        "import",
        "influx",
        "--rp",
        "rp_1s",
        "--from",
        &from,
        "--to",
        &mid,
        "--markets",
        "BINANCE:btcusdt,KRAKEN:XBT/USD",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("4 chunks read (0 already done earlier), 1440 rows"),
        "{}",
        text(&o)
    );
    // A longer run with the same start continues after what is done.
    let o = squeezeflow(&[
        "--config", &cfg, "--data", ds, "import", "influx", "--rp", "rp_1s", "--from", &from,
        "--to", &to,
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "bad rows make exit status 2: {}",
        text(&o)
    );
    let t = text(&o);
    assert!(
        t.contains("3 markets, 8 chunks read (4 already done earlier)"),
        "{t}"
    );
    assert!(t.contains("2 bad rows skipped"), "{t}");
    let bars = store_bars(&data);
    assert_eq!(bars["BINANCE:btcusdt"].len(), 1440);
    assert_eq!(bars["KRAKEN:XBT/USD"].len(), 1440);
    assert!(
        !bars.contains_key("OKEX:BTC-USDT"),
        "bad rows must not become bars"
    );
    let b = &bars["BINANCE:btcusdt"][&(start_ms + 10_000)];
    let p = 100.0 + 0.01;
    assert_eq!(
        (b.bar.open, b.bar.high, b.bar.cbuy, b.bar.csell),
        (p, p + 0.5, 2, 1)
    );
    assert_eq!(b.bar.vbuy.to_bits(), (p * 0.3).to_bits());
    let k = &bars["KRAKEN:XBT/USD"][&(start_ms + 20_000)];
    assert!(k.bar.open.is_nan() && k.bar.lbuy == 3.0);

    // INFLUX_HOST/PORT/DATABASE are honoured (no config file, no flags).
    let o = Command::new(env!("CARGO_BIN_EXE_squeezeflow"))
        .args([
            "--data", ds, "import", "influx", "--rp", "rp_1s", "--from", &from, "--to", &mid,
        ])
        .args(["--markets", "BINANCE:btcusdt"])
        .env("INFLUX_HOST", "127.0.0.1")
        .env("INFLUX_PORT", srv.port.to_string())
        .env("INFLUX_DATABASE", "significant_trades")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("127.0.0.1:{} db significant_trades", srv.port)),
        "{}",
        text(&o)
    );

    // A policy changed behind our back: --verify says so, setup puts it right.
    c.query_in(
        Some("significant_trades"),
        "ALTER RETENTION POLICY \"aggr_1s\" ON \"significant_trades\" DURATION 48h",
    )
    .unwrap();
    let o = squeezeflow(&["--config", &cfg, "influx", "setup", "--verify"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("FAIL retention policy aggr_1s     duration 2 d (want 1 d)"),
        "{}",
        text(&o)
    );
    let o = squeezeflow(&["--config", &cfg, "influx", "setup"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("altered retention policy aggr_1s"),
        "{}",
        text(&o)
    );
}

/// A bar with trades at `p`.
fn bar_at(p: f64) -> Bar {
    Bar {
        open: p,
        high: p + 0.5,
        low: p - 0.5,
        close: p + 0.25,
        vbuy: 10.0,
        vsell: 5.0,
        lbuy: 0.0,
        lsell: 0.0,
        cbuy: 2,
        csell: 1,
        open_us: 0,
        close_us: 0,
    }
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn credentials_authenticate_and_wrong_ones_are_a_clear_counted_401() {
    use engine::influx::{InfluxConfig, InfluxError, InfluxSink};
    const PASSWORD: &str = "right horse battery";
    const WRONG: &str = "wrong-staple";
    let srv = Influxd::start_with(true, false);
    // Until an admin exists, InfluxDB accepts only the statement that creates one.
    srv.client("")
        .query_in(
            None,
            &format!("CREATE USER \"admin\" WITH PASSWORD '{PASSWORD}' WITH ALL PRIVILEGES"),
        )
        .expect("create the admin user");

    // Now every request needs credentials; none, or a wrong password: 401, said plainly.
    let e = srv.client("x").databases().unwrap_err();
    assert!(
        matches!(e, InfluxError::Unauthorized { status: 401, .. }),
        "{e:?}"
    );
    let password = engine::influx::config::Password::new;
    let e = srv
        .client("x")
        .with_credentials("admin", &password(WRONG))
        .write("autogen", b"m f=1 1")
        .unwrap_err();
    let shown = e.to_string();
    assert!(
        matches!(e, InfluxError::Unauthorized { status: 401, .. }),
        "{e:?}"
    );
    assert!(
        shown.contains("refused the credentials") && shown.contains("INFLUX_USER"),
        "{shown}"
    );
    assert!(!shown.contains(WRONG), "{shown}");

    // The CLI takes them from the environment (which beats the file).
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("cfg.toml");
    std::fs::write(
        &cfg,
        format!(
            "[influx]\nport = {}\nusername = \"admin\"\npassword = \"{WRONG}\"\n",
            srv.port
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let o = squeezeflow(&["--config", cfg, "influx", "setup"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("refused the credentials"), "{}", text(&o));
    assert!(!text(&o).contains(WRONG), "{}", text(&o));
    let o = squeezeflow_env(
        &["--config", cfg, "influx", "setup"],
        &[("INFLUX_USER", "admin"), ("INFLUX_PASSWORD", PASSWORD)],
    );
    assert!(o.status.success(), "{}", text(&o));

    // The export sink: with the right password every bar arrives ...
    let data = tmp.path().join("data");
    let base = now_s() - 120;
    let mut good = InfluxConfig {
        enabled: true,
        port: srv.port,
        batch_interval_ms: 100,
        username: "admin".into(),
        password: password(PASSWORD),
        ..Default::default()
    };
    good.backlog_dir = Some(tmp.path().join("backlog-good"));
    let markets = vec!["BINANCE:btcusdt".to_string()];
    let mut sink = InfluxSink::start(good.clone(), markets.clone(), &data).unwrap();
    for i in 0..3 {
        sink.submit(0, base + i, &bar_at(100.0 + i as f64));
    }
    let st = sink.shutdown(Duration::from_secs(20));
    assert_eq!(
        (st.written, st.errors, st.backlog_points),
        (3, 0, 0),
        "{st:?}"
    );
    let mut reader = engine::influx::InfluxClient::from_config(&good);
    let rows = reader
        .select_csv("SELECT count(\"close\") FROM \"aggr_1s\".\"trades_1s\"")
        .unwrap();
    assert_eq!(rows.rows.len(), 1, "{rows:?}");
    assert_eq!(
        rows.rows[0].last().map(String::as_str),
        Some("3"),
        "{rows:?}"
    );

    // ... with a wrong one, writes fail, are counted, and the bars wait in the backlog.
    let bad = InfluxConfig {
        password: password(WRONG),
        backlog_dir: Some(tmp.path().join("backlog-bad")),
        ..good
    };
    let mut sink = InfluxSink::start(bad, markets, &data).unwrap();
    sink.submit(0, base + 10, &bar_at(99.0));
    let deadline = Instant::now() + Duration::from_secs(20);
    while sink.stats().errors == 0 {
        assert!(Instant::now() < deadline, "no failed write counted");
        std::thread::sleep(Duration::from_millis(50));
    }
    let st = sink.shutdown(Duration::from_millis(500));
    assert!(!st.connected, "{st:?}");
    assert_eq!((st.written, st.backlog_points), (0, 1), "{st:?}");
}

#[test]
fn https_with_a_trusted_test_certificate_and_an_untrusted_one_refused() {
    let srv = Influxd::start_with(false, true);
    // The helper's client trusts the test certificate: the whole round trip over TLS.
    let mut c = srv.client("tls_db");
    assert!(c.ping().unwrap().starts_with("1."));
    c.query_in(None, "CREATE DATABASE tls_db").unwrap();
    c.write("autogen", b"m,market=X:y v=1.5 1700000000000")
        .unwrap();
    let rows = c.select_csv("SELECT v FROM m").unwrap();
    assert_eq!(rows.rows.len(), 1, "{rows:?}");
    assert_eq!(rows.rows[0].last().map(String::as_str), Some("1.5"));

    // The engine's own client (INFLUX_SCHEME=https, the Mozilla roots) refuses the
    // self-signed certificate, and says so.
    let o = squeezeflow_env(
        &["influx", "setup"],
        &[
            ("INFLUX_SCHEME", "https"),
            ("INFLUX_PORT", &srv.port.to_string()),
        ],
    );
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("certificate"), "{}", text(&o));
    // Plain http to the https port is an error, not a hang or a panic.
    let e = engine::influx::InfluxClient::new("127.0.0.1", srv.port, "x", Duration::from_secs(5))
        .ping()
        .unwrap_err();
    assert!(e.is_retryable(), "{e}");
}
