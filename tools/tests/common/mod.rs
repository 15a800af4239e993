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
