//! Helpers the CLI tests share: run the `squeezeflow` binary as a user would.

use std::process::{Command, Output};

/// Runs `squeezeflow ARGS` with the environment overrides a developer's shell may hold
/// (`SQUEEZEFLOW_LOG_LEVEL`, `SQUEEZEFLOW_DATA_DIR`) removed, and waits for it.
pub(crate) fn squeezeflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_squeezeflow"))
        .args(args)
        .env_remove("SQUEEZEFLOW_LOG_LEVEL")
        .env_remove("SQUEEZEFLOW_DATA_DIR")
        .output()
        .expect("run squeezeflow")
}

/// Output bytes as text (lossy).
pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fixture of the feeds crate: `feeds/tests/fixtures/NAME` (written from the venues' docs).
#[allow(dead_code)] // not every test binary reads fixtures
pub(crate) fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../feeds/tests/fixtures")
        .join(name)
}

/// `../shared/reference/vectors` beside the workspace when it exists (the recorded vectors
/// that feed optional conformance tests); otherwise prints the SKIPPED line and returns `None`.
#[allow(dead_code)]
pub(crate) fn shared_vectors() -> Option<std::path::PathBuf> {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/vectors");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("SKIPPED: ../shared/reference/vectors not found (optional conformance test)");
        None
    }
}
