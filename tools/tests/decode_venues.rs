//! `squeezeflow decode --venue V` on the Bybit, OKX, Bitget, Hyperliquid, HTX and Gate
//! fixtures: one JSON line per event with the venue's market ids, base-unit quantities and
//! taker/liquidation sides; bad lines reported on stderr.

use std::path::{Path, PathBuf};
use std::process::Command;

fn run(venue: &str, file: &Path) -> (Vec<serde_json::Value>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_squeezeflow"))
        .args(["decode", "--venue", venue, file.to_str().unwrap()])
        .env_remove("SQUEEZEFLOW_LOG_LEVEL")
        .env_remove("SQUEEZEFLOW_DATA_DIR")
        .output()
        .expect("run squeezeflow");
    assert!(
        out.status.success(),
        "{venue}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON event line"))
        .collect();
    (events, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn vectors(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../shared/reference/vectors/{name}.jsonl"))
}

fn fixtures(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../feeds/tests/fixtures/{name}.jsonl"))
}

#[test]
fn bybit_linear() {
    let (events, err) = run("bybit-linear", &vectors("bybit_linear"));
    assert_eq!(events.len(), 11, "8 trades + 3 liquidations");
    assert_eq!(events[0]["market"], "BYBIT:SOLUSDT");
    assert_eq!(events[0]["side"], "sell");
    let liq = &events[8];
    assert_eq!(liq["kind"], "liquidation");
    assert_eq!(liq["side"], "sell", "Bybit S=Buy is a long liquidated");
    assert_eq!(liq["qty"], "0.006");
    assert!(err.contains("line 10: malformed JSON"), "{err}");
}

#[test]
fn bybit_spot_market_ids() {
    let (events, _) = run("bybit-spot", &vectors("bybit_spot"));
    assert_eq!(events.len(), 5);
    assert_eq!(events[0]["market"], "BYBIT:ETHUSDT-SPOT");
    assert_eq!(events[0]["trade_id"], "2280000001739247417");
}

#[test]
fn okx_contracts_become_base_units() {
    let (events, err) = run("okx-swap", &vectors("okx"));
    // 4 trades, 2 liquidations, 1 open-interest reading.
    assert_eq!(events.len(), 7);
    assert_eq!(events[0]["market"], "OKEX:BTC-USDT-SWAP");
    assert_eq!(events[0]["qty"], "0.3127");
    assert_eq!(events[3]["qty"], "195.198126097989", "inverse, 12 digits");
    assert_eq!(events[6]["kind"], "open_interest");
    assert!(err.contains("venue error reply (code 60018)"), "{err}");
}

#[test]
fn bitget_spot_and_futures_are_separate_decoders() {
    let (spot, err) = run("bitget-spot", &vectors("bitget"));
    assert_eq!(spot.len(), 4, "the spot trades");
    assert!(err.contains("frame for another market family"), "{err}");
    let (futures, _) = run("bitget", &vectors("bitget"));
    assert_eq!(futures.len(), 3, "2 snapshot trades + open interest");
    assert_eq!(futures[0]["market"], "BITGET:BTCUSDT");
}

#[test]
fn hyperliquid_sides() {
    let (events, _) = run("hyperliquid", &vectors("hyperliquid"));
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["side"], "buy");
    assert_eq!(events[1]["side"], "sell");
    assert_eq!(events[1]["market"], "HYPERLIQUID:BTC");
}

#[test]
fn huobi_and_gate_fixtures() {
    let (events, err) = run("huobi", &fixtures("huobi"));
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["market"], "HUOBI:btcusdt");
    assert_eq!(events[0]["price"], "52648.62");
    assert!(err.contains("line 4: venue ping 1492420473027"), "{err}");
    let (events, err) = run("gate-futures", &fixtures("gate"));
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["market"], "GATEIO:BTC_USDT");
    assert_eq!(events[0]["qty"], "0.0108");
    assert_eq!(events[0]["side"], "sell");
    assert!(err.contains("line 6: no contract spec"), "{err}");
}
