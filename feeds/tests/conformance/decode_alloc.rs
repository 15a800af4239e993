//! Optional conformance test of `decode_alloc`: the recorded vectors in `../shared/reference/vectors`
//! beside the workspace, when present (a fresh clone has none: the test prints SKIPPED and passes).

use super::*;

/// Optional: the same with the recorded vectors of `../shared/reference/vectors`, when present.
#[test]
fn other_venues_on_shared_vectors_do_not_allocate() {
    if let Some(dir) = support::shared_vectors() {
        steady_state_allocates_nothing(other_venue_frames(&dir));
    }
}
