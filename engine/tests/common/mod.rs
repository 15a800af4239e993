//! Shared test vocabulary: Binance frames in their real wire format, and store comparisons.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A spot `@trade` payload, raw or wrapped as a combined-stream frame.
pub(crate) fn spot_trade(
    sym: &str,
    id: u64,
    price: &str,
    qty: &str,
    ts_ms: i64,
    buyer_maker: bool,
    combined: bool,
) -> String {
    let payload = format!(
        r#"{{"e":"trade","E":{},"s":"{sym}","t":{id},"p":"{price}","q":"{qty}","T":{ts_ms},"m":{buyer_maker},"M":true}}"#,
        ts_ms + 1
    );
    if combined {
        format!(
            r#"{{"stream":"{}@trade","data":{payload}}}"#,
            sym.to_ascii_lowercase()
        )
    } else {
        payload
    }
}

/// A USDⓈ-M `@trade` payload with the `X` trade type.
pub(crate) fn usdm_trade(
    sym: &str,
    id: u64,
    price: &str,
    qty: &str,
    ts_ms: i64,
    buyer_maker: bool,
) -> String {
    format!(
        r#"{{"stream":"{}@trade","data":{{"e":"trade","E":{},"T":{ts_ms},"s":"{sym}","t":{id},"p":"{price}","q":"{qty}","X":"MARKET","m":{buyer_maker}}}}}"#,
        sym.to_ascii_lowercase(),
        ts_ms + 1
    )
}

/// A USDⓈ-M `@aggTrade` combined frame (the stream the engine reads): aggregate `a` of the
/// fills `f..=l`, with the 2026 fields `nq` and `st`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn usdm_agg_trade(
    sym: &str,
    a: u64,
    f: u64,
    l: u64,
    price: &str,
    qty: &str,
    ts_ms: i64,
    buyer_maker: bool,
) -> String {
    format!(
        r#"{{"stream":"{}@aggTrade","data":{{"e":"aggTrade","E":{},"a":{a},"s":"{sym}","p":"{price}","q":"{qty}","nq":"{qty}","f":{f},"l":{l},"T":{ts_ms},"m":{buyer_maker},"st":1}}}}"#,
        sym.to_ascii_lowercase(),
        ts_ms + 1
    )
}

/// A USDⓈ-M `forceOrder` frame (order side `S`, filled `z` at average `ap`).
pub(crate) fn force_order(sym: &str, side: &str, ap: &str, z: &str, ts_ms: i64) -> String {
    format!(
        r#"{{"stream":"{}@forceOrder","data":{{"e":"forceOrder","E":{},"o":{{"s":"{sym}","S":"{side}","o":"LIMIT","f":"IOC","q":"{z}","p":"{ap}","ap":"{ap}","X":"FILLED","l":"{z}","z":"{z}","T":{ts_ms}}}}}}}"#,
        sym.to_ascii_lowercase(),
        ts_ms + 3
    )
}

/// Every file under `dir`, relative path → bytes.
pub(crate) fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.insert(
                    p.strip_prefix(base).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Assert two data dirs hold byte-identical files, naming the first difference.
pub(crate) fn assert_same_files(a: &Path, b: &Path) {
    let fa = files(a);
    let fb = files(b);
    assert_eq!(
        fa.keys().collect::<Vec<_>>(),
        fb.keys().collect::<Vec<_>>(),
        "different file sets"
    );
    assert!(!fa.is_empty(), "no files were written");
    for (k, va) in &fa {
        let vb = &fb[k];
        if va != vb {
            let at = va
                .iter()
                .zip(vb)
                .position(|(x, y)| x != y)
                .unwrap_or(va.len().min(vb.len()));
            panic!(
                "{} differs at byte {at} (slot {})",
                k.display(),
                at.saturating_sub(4096) / 88
            );
        }
    }
}
