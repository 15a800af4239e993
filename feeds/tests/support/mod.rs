//! Where the vector tests find their files: this crate's fixtures (`tests/fixtures/NAME.jsonl`
//! and `NAME.expected.json`, written from the venues' documentation; always present), and
//! (`conformance.rs`) the optional recorded vectors, which only feed the conformance tests and
//! are announced as skipped when absent.
#![allow(dead_code)] // each test binary uses part of it

use std::path::PathBuf;

/// `feeds/tests/fixtures`.
pub(crate) fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

mod conformance;
#[allow(unused_imports)] // each test binary uses part of it
pub(crate) use conformance::shared_vectors;
