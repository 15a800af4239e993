//! Optional conformance test of `oi`: the recorded vectors in `../shared/reference/vectors`
//! beside the workspace, when present (a fresh clone has none: the test prints SKIPPED and passes).

use super::*;

/// Optional: the recorded frames of `../shared/reference/vectors`, when present.
#[test]
fn replay_of_recorded_frames_conformance() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/vectors");
    if !dir.is_dir() {
        println!("SKIPPED: ../shared/reference/vectors not found (optional conformance test)");
        return;
    }
    replay_stores_the_exact_series(&OiFrames {
        dir,
        okx_oi: "22161.1301000000309",
        okx_ts_ms: 1_743_041_250_440,
        bitget_market: "BITGET:BTCUSDT",
        bitget_oi: "31911.3455999999605",
        bitget_mark: 83692.3,
        bitget_ts_ms: 1_790_358_794_983,
    });
}
