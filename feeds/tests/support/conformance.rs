//! The optional recorded vectors beside the workspace (`../shared/reference/vectors`): only
//! conformance tests read them, and say so when they are absent.

use std::path::PathBuf;

/// `../shared/reference/vectors` when it exists; otherwise prints the SKIPPED line (once per
/// call, so once per optional test) and returns `None`.
pub(crate) fn shared_vectors() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/vectors");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("SKIPPED: ../shared/reference/vectors not found (optional conformance test)");
        None
    }
}
