//! Optional conformance test of `binance_vectors`: the recorded vectors in `../shared/reference/vectors`
//! beside the workspace, when present (a fresh clone has none: the test prints SKIPPED and passes).

use super::*;

/// Optional: the recorded vectors in `../shared/reference/vectors`, when present: every line
/// against its expectation and through the differential reference.
#[test]
fn shared_vectors_conformance() {
    let Some(dir) = support::shared_vectors() else {
        return;
    };
    for (file, venue) in [
        ("binance_spot", Venue::BinanceSpot),
        ("binance_usdm", Venue::BinanceUsdm),
    ] {
        check_all_in(&dir, file);
        for line in &load_in(&dir, file).0 {
            differential(venue, line);
        }
    }
}
