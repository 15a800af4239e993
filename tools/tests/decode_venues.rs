//! `squeezeflow decode --venue V` on the Bybit, OKX, Bitget, Hyperliquid, HTX and Gate
//! fixtures: one JSON line per event with the venue's market ids, base-unit quantities and
//! taker/liquidation sides; bad lines reported on stderr. The fixtures are feeds' (written
//! from the venues' docs); the recorded vectors in `../shared/reference/vectors` feed an
//! optional conformance test.

mod common;

use std::path::{Path, PathBuf};

fn run(venue: &str, file: &Path) -> (Vec<serde_json::Value>, String) {
    let out = common::squeezeflow(&["decode", "--venue", venue, file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{venue}: {}",
        common::text(&out.stderr)
    );
    let events = common::text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON event line"))
        .collect();
    (events, common::text(&out.stderr))
}

fn fixtures(name: &str) -> PathBuf {
    common::fixture(&format!("{name}.jsonl"))
}

#[test]
fn bybit_linear() {
    let (events, err) = run("bybit-linear", &fixtures("bybit_linear"));
    assert_eq!(events.len(), 10, "7 trades + 3 liquidations");
    assert_eq!(events[0]["market"], "BYBIT:XRPUSDT");
    assert_eq!(events[0]["side"], "sell");
    let liq = &events[7];
    assert_eq!(liq["kind"], "liquidation");
    assert_eq!(liq["side"], "sell", "Bybit S=Buy is a long liquidated");
    assert_eq!(liq["qty"], "0.84");
    assert_eq!(
        events[9]["side"], "buy",
        "Bybit S=Sell is a short liquidated"
    );
    assert!(err.contains("line 10: malformed JSON"), "{err}");
}

#[test]
fn bybit_spot_market_ids() {
    let (events, _) = run("bybit-spot", &fixtures("bybit_spot"));
    assert_eq!(events.len(), 5);
    assert_eq!(events[0]["market"], "BYBIT:SOLUSDT-SPOT");
    assert_eq!(events[0]["trade_id"], "2310000000412345671");
}

#[test]
fn okx_contracts_become_base_units() {
    let (events, err) = run("okx-swap", &fixtures("okx"));
    // 4 trades, 2 liquidations, 1 open-interest reading.
    assert_eq!(events.len(), 7);
    assert_eq!(events[0]["market"], "OKEX:ETH-USDT-SWAP");
    assert_eq!(events[0]["qty"], "4.25", "42.5 contracts x 0.1 ETH");
    assert_eq!(events[3]["qty"], "0.073346046648", "inverse, 12 digits");
    assert_eq!(events[4]["qty"], "0.032", "3.2 contracts x 0.01 BTC");
    assert_eq!(events[6]["kind"], "open_interest");
    assert_eq!(events[6]["qty"], "26044.1229000000417", "oiCcy, exactly");
    assert!(err.contains("venue error reply (code 60018)"), "{err}");
}

#[test]
fn bitget_spot_and_futures_are_separate_decoders() {
    let (spot, err) = run("bitget-spot", &fixtures("bitget"));
    assert_eq!(spot.len(), 4, "the spot trades");
    assert!(err.contains("frame for another market family"), "{err}");
    assert_eq!(spot[0]["market"], "BITGET:ETHUSDT-SPOT");
    let (futures, _) = run("bitget", &fixtures("bitget"));
    assert_eq!(futures.len(), 3, "2 snapshot trades + open interest");
    assert_eq!(futures[0]["market"], "BITGET:ETHUSDT");
}

#[test]
fn hyperliquid_sides() {
    let (events, _) = run("hyperliquid", &fixtures("hyperliquid"));
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["side"], "buy");
    assert_eq!(events[1]["side"], "sell");
    assert_eq!(events[1]["market"], "HYPERLIQUID:BTC");
}

/// Optional: the recorded vectors in `../shared/reference/vectors`, when present.
#[test]
fn shared_vectors_conformance() {
    let Some(dir) = common::shared_vectors() else {
        return;
    };
    let vectors = |name: &str| dir.join(format!("{name}.jsonl"));

    let (events, err) = run("bybit-linear", &vectors("bybit_linear"));
    assert_eq!(events.len(), 11, "8 trades + 3 liquidations");
    assert_eq!(events[0]["market"], "BYBIT:SOLUSDT");
    assert_eq!(events[0]["side"], "sell");
    let liq = &events[8];
    assert_eq!(liq["kind"], "liquidation");
    assert_eq!(liq["side"], "sell", "Bybit S=Buy is a long liquidated");
    assert_eq!(liq["qty"], "0.006");
    assert!(err.contains("line 10: malformed JSON"), "{err}");

    let (events, _) = run("bybit-spot", &vectors("bybit_spot"));
    assert_eq!(events.len(), 5);
    assert_eq!(events[0]["market"], "BYBIT:ETHUSDT-SPOT");
    assert_eq!(events[0]["trade_id"], "2280000001739247417");

    let (events, err) = run("okx-swap", &vectors("okx"));
    assert_eq!(events.len(), 7);
    assert_eq!(events[0]["market"], "OKEX:BTC-USDT-SWAP");
    assert_eq!(events[0]["qty"], "0.3127");
    assert_eq!(events[3]["qty"], "195.198126097989", "inverse, 12 digits");
    assert_eq!(events[6]["kind"], "open_interest");
    assert!(err.contains("venue error reply (code 60018)"), "{err}");

    let (spot, err) = run("bitget-spot", &vectors("bitget"));
    assert_eq!(spot.len(), 4, "the spot trades");
    assert!(err.contains("frame for another market family"), "{err}");
    let (futures, _) = run("bitget", &vectors("bitget"));
    assert_eq!(futures.len(), 3, "2 snapshot trades + open interest");
    assert_eq!(futures[0]["market"], "BITGET:BTCUSDT");

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
