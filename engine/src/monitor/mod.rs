//! Monitoring: the engine publishes its state to a small shared-memory stats file in the data
//! directory (`<data_dir>/engine.stats`, [`crate::statsfile`]), which `squeezeflow monitor`,
//! the HTTP endpoints (`/metrics`, `/health`, [`crate::http`]) and anything else read without
//! disturbing it.
//!
//! - [`shm`], [`snapshot`]: the file and its payload (re-exported from [`crate::statsfile`]).
//! - [`Publisher`]: owned by the IO thread; folds closed bars into per-market freshness and
//!   rates, reads the hot threads' counters and `/proc` once per interval, publishes, and
//!   raises alerts ([`crate::alerts`]).
//! - [`proc`]: process, thread and host CPU and memory from `/proc`.

pub mod proc;
pub mod publish;

pub use crate::statsfile::{read_snapshot, shm, snapshot, stats_path, STATS_FILE};
pub use publish::{Publisher, Sources, ThreadInfo};
pub use shm::{StatsReader, StatsWriter};
pub use snapshot::{BackfillSnapshot, ContinuityTotals, EngineState, Snapshot};

use crate::alerts::AlertThresholds;
use serde::Deserialize;

/// `[monitor]`: the stats file, the HTTP endpoints and alert thresholds.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// Publish `<data_dir>/engine.stats` (and evaluate alerts). Default true.
    pub enabled: bool,
    /// How often, ms. Default 1000.
    pub interval_ms: u64,
    /// Serve `/metrics` and `/health`. Default true.
    pub http: bool,
    /// Address to serve them on. Default `127.0.0.1:9469` (loopback only).
    pub listen: String,
    /// `[monitor.alerts]` thresholds.
    pub alerts: AlertThresholds,
}

impl Default for MonitorConfig {
    fn default() -> MonitorConfig {
        MonitorConfig {
            enabled: true,
            interval_ms: 1000,
            http: true,
            listen: "127.0.0.1:9469".to_string(),
            alerts: AlertThresholds::default(),
        }
    }
}

impl MonitorConfig {
    /// Range and syntax checks; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(100..=60_000).contains(&self.interval_ms) {
            return Err(format!(
                "monitor.interval_ms = {} is outside 100..=60000",
                self.interval_ms
            ));
        }
        if self.http && self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!(
                "monitor.listen = {:?} is not an address like \"127.0.0.1:9469\"",
                self.listen
            ));
        }
        self.alerts.validate()
    }
}
