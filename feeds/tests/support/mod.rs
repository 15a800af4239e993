//! Where the vector tests find their files: this crate's fixtures (`tests/fixtures/NAME.jsonl`
//! and `NAME.expected.json`, written from the venues' documentation; always present), and the
//! optional recorded vectors in `../shared/reference/vectors` beside the workspace, which only
//! feed the conformance tests and are announced as skipped when absent.
#![allow(dead_code)] // each test binary uses part of it

use std::path::PathBuf;

/// `feeds/tests/fixtures`.
pub(crate) fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

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
