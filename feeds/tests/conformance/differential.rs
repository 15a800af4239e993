//! Optional conformance test of `differential`: the recorded vectors in `../shared/reference/vectors`
//! beside the workspace, when present (a fresh clone has none: the test prints SKIPPED and passes).

use super::*;

/// Optional: the recorded vectors in `../shared/reference/vectors` (the files of [`FILES`]
/// that exist there), when present, line by line through both decoders.
#[test]
fn shared_vectors_agree() {
    let Some(dir) = support::shared_vectors() else {
        return;
    };
    let instruments = instruments();
    let mut n = 0;
    for (_, file, venue) in FILES {
        if !dir.join(format!("{file}.jsonl")).is_file() {
            continue;
        }
        for line in lines(dir.to_str().unwrap(), file) {
            agree(*venue, line.as_bytes(), &instruments).unwrap();
            n += 1;
        }
    }
    assert!(n > 50, "{n} recorded lines");
}
