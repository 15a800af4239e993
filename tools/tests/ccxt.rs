//! The ccxt conformance suite: ccxt.pro (a client library we did not write, pinned below)
//! against `squeezeflow sim`, for every venue API ccxt supports. The harness is
//! `tests/ccxt/conformance.py` (its docstring says what it checks); this test installs ccxt
//! into a virtualenv under the target dir if it is not there yet, runs the harness on the
//! `squeezeflow` binary (the harness starts the simulator itself, so it can stop it and read
//! the complete `--record` tape), prints its report and asserts that every venue passes every
//! check, except the failures listed in [`KNOWN_FAILURES`].
//!
//! - `SQUEEZEFLOW_BIN=/path/to/squeezeflow` runs the suite against another build (e.g. a
//!   branch's) instead of this one's.
//! - `CCXT_VENV=DIR` uses (or creates) that virtualenv instead of `<target>/ccxt-venv`.
//! - Without python3, `venv` or PyPI the test fails under `CI=true` and skips (saying why)
//!   otherwise.
//!
//! By hand: `python3 tools/tests/ccxt/conformance.py --sim target/release/squeezeflow [-v]
//! [--only kraken,okx-spot] [--keep DIR]` with ccxt 4.5.90 importable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The ccxt release the suite is pinned to (ccxt.pro ships inside the `ccxt` package).
const CCXT_VERSION: &str = "4.5.90";

/// `(venue, check, text the failure's reasons contain)`: failures known today. A listed
/// failure that no longer happens fails the test too ("remove it"), so the list stays true;
/// delete an entry when its fix lands. Checks: `markets` (fetch_markets over REST), `stream`
/// (watch_trades, keepalive, trades equal to the tape), `trades` (fetch_trades over REST).
const KNOWN_FAILURES: &[(&str, &str, &str)] = &[
    // None: every venue API ccxt supports passes every check.
];

/// Every venue API the harness must report on (BitMEX closed on 2026-09-23: not a venue).
const VENUES: &[&str] = &[
    "binance",
    "binance-usdm",
    "binance-coinm",
    "bybit-spot",
    "bybit-linear",
    "bybit-inverse",
    "okx-spot",
    "okx-swap",
    "bitget",
    "bitget-spot",
    "gate-futures",
    "hyperliquid",
    "kraken",
    "kraken-futures",
    "coinbase",
    "coinbase-advanced",
    "deribit",
    "bitfinex",
    "huobi",
    "huobi-swap",
];

/// The harness's overall timeout is 100 s; this only guards against a hung interpreter.
const HARNESS_LIMIT: Duration = Duration::from_secs(240);

fn target_dir() -> PathBuf {
    // <target>/release/squeezeflow
    let bin = Path::new(env!("CARGO_BIN_EXE_squeezeflow"));
    bin.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir)
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{cmd:?} failed ({}): {text}", out.status))
    }
}

/// The virtualenv's python with ccxt==CCXT_VERSION, creating or repairing it as needed.
fn ccxt_python() -> Result<PathBuf, String> {
    let venv = std::env::var_os("CCXT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("ccxt-venv"));
    let python = venv.join("bin").join("python");
    let check = format!("import ccxt, ccxt.pro; assert ccxt.__version__ == {CCXT_VERSION:?}");
    if python.exists() && run(Command::new(&python).args(["-c", &check])).is_ok() {
        return Ok(python);
    }
    if !python.exists() {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv)).map_err(|e| {
            format!("cannot create a virtualenv (Debian: apt-get install python3-venv): {e}")
        })?;
    }
    run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        &format!("ccxt=={CCXT_VERSION}"),
    ]))
    .map_err(|e| format!("cannot install ccxt=={CCXT_VERSION} from PyPI: {e}"))?;
    run(Command::new(&python).args(["-c", &check]))?;
    Ok(python)
}

/// One venue's report: each check's state (`ok`, `FAIL`, `skip`) and reasons.
#[derive(Debug, Default)]
struct VenueReport {
    checks: BTreeMap<String, String>,
    reasons: BTreeMap<String, String>,
}

/// Parses `PASS|FAIL venue (…): markets=ok stream=FAIL trades=skip` lines and the
/// `    [check] reasons` lines under them.
fn parse(report: &str) -> BTreeMap<String, VenueReport> {
    let mut out: BTreeMap<String, VenueReport> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in report.lines() {
        if let Some(rest) = line
            .strip_prefix("PASS ")
            .or_else(|| line.strip_prefix("FAIL "))
        {
            let venue = rest.split_whitespace().next().unwrap_or("").to_string();
            if venue == "harness:" {
                current = None;
                continue;
            }
            let entry = out.entry(venue.clone()).or_default();
            if let Some((_, checks)) = rest.rsplit_once("): ") {
                for kv in checks.split_whitespace() {
                    if let Some((k, v)) = kv.split_once('=') {
                        entry.checks.insert(k.to_string(), v.to_string());
                    }
                }
            }
            current = Some(venue);
        } else if let (Some(v), Some(rest)) = (&current, line.strip_prefix("    [")) {
            if let Some((check, reasons)) = rest.split_once("] ") {
                if let Some(entry) = out.get_mut(v) {
                    entry.reasons.insert(check.to_string(), reasons.to_string());
                }
            }
        }
    }
    out
}

#[test]
fn ccxt_conformance_against_the_simulator() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let python = match ccxt_python() {
        Ok(p) => p,
        Err(e) if ci => panic!("ccxt conformance suite cannot run under CI: {e}"),
        Err(e) => {
            eprintln!("SKIPPED ccxt conformance suite (no python3/venv/PyPI here): {e}");
            return;
        }
    };
    let bin = std::env::var_os("SQUEEZEFLOW_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_squeezeflow")));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ccxt/conformance.py");
    let keep = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(&python)
        .arg(&script)
        .arg("--sim")
        .arg(&bin)
        .arg("--keep")
        .arg(keep.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the harness");
    let started = Instant::now();
    while child.try_wait().expect("waiting for the harness").is_none() {
        if started.elapsed() > HARNESS_LIMIT {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().expect("harness output");
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    println!("{report}");
    if !out.status.success() {
        // The harness's own diagnostics (tracebacks, the simulator's address lines).
        println!("{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(
        report.contains(" passed, ") && !report.contains("FAIL harness:"),
        "the harness did not complete (exit {}):\n{report}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    let venues = parse(&report);
    let mut problems = Vec::new();
    for venue in VENUES {
        let Some(rep) = venues.get(*venue) else {
            problems.push(format!("{venue}: no result in the report"));
            continue;
        };
        for check in ["markets", "stream", "trades"] {
            let state = rep
                .checks
                .get(check)
                .map(String::as_str)
                .unwrap_or("missing");
            let reasons = rep.reasons.get(check).map(String::as_str).unwrap_or("");
            let known: Vec<&str> = KNOWN_FAILURES
                .iter()
                .filter(|(v, c, _)| v == venue && *c == check)
                .map(|(_, _, text)| *text)
                .collect();
            match state {
                "ok" if !known.is_empty() => problems.push(format!(
                    "{venue} {check} passes now: remove its KNOWN_FAILURES entries {known:?}"
                )),
                "ok" | "skip" => {}
                "FAIL" => {
                    if known.is_empty() {
                        problems.push(format!("{venue} {check} FAILS: {reasons}"));
                    }
                    // Every known cause is among the reasons (a further cause in a check that
                    // already fails for a known one is not told apart from its consequences).
                    for text in &known {
                        if !reasons.contains(text) {
                            problems.push(format!(
                                "{venue} {check}: the known failure {text:?} is gone (remove it); it fails with: {reasons}"
                            ));
                        }
                    }
                }
                other => problems.push(format!("{venue} {check}: state {other:?} in the report")),
            }
        }
    }
    assert!(
        problems.is_empty(),
        "ccxt conformance suite ({} venues; known failures are listed in tests/ccxt.rs):\n  {}",
        VENUES.len(),
        problems.join("\n  ")
    );
}
