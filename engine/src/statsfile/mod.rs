//! The stats file `<data_dir>/engine.stats`: what the engine's monitor publishes and
//! `squeezeflow monitor`, the HTTP endpoints ([`crate::http`]) and alerts ([`crate::alerts`])
//! read. Below all three: it knows nothing of who writes or reads it.
//!
//! - [`shm`]: the file (header, seqlocked payload; the only mapped-memory code here).
//! - [`snapshot`]: what a snapshot holds and its encoding.

pub mod shm;
pub mod snapshot;

use shm::StatsReader;
use snapshot::Snapshot;
use std::path::{Path, PathBuf};

/// File name of the stats file inside the data directory.
pub const STATS_FILE: &str = "engine.stats";

/// Where the stats file of the engine using `data_dir` lives.
pub fn stats_path(data_dir: &Path) -> PathBuf {
    data_dir.join(STATS_FILE)
}

/// Reads the current snapshot of the stats file at `path`: `Ok(None)` when there is no file
/// (or nothing published yet), an error for a file that is not a valid stats file.
pub fn read_snapshot(path: &Path) -> Result<Option<Snapshot>, String> {
    let reader = match StatsReader::open(path) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    match reader.read() {
        Some(bytes) => Snapshot::decode(&bytes)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        None => Ok(None),
    }
}
