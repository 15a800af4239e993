//! Opt-in raw-frame capture: every WebSocket frame a feed thread receives (text and binary,
//! HTX's gzip frames included), byte for byte, with its receive times, in rotated files that
//! `squeezeflow replay` reads and `squeezeflow sim --tape` serves back.
//!
//! # Threads
//! Each feed thread owns a [`CaptureTx`]: [`CaptureTx::record`] copies the frame into a
//! pre-allocated SPSC ring of bytes (a [`crate::ring`] of `u8`: header and payload pushed with
//! `push_chunks`, published with one index store) — no allocation, no lock, no system call.
//! When the ring is full the frame is left out of the capture only (the feed goes
//! on), counted in [`TxCounters::dropped_full`] and logged once a second by the writer. The writer
//! thread ([`CaptureWriter`], on the IO core) seals each record with its CRC and writes it.
//!
//! # Files
//! `<dir>/<YYYY-MM-DD>/<HHMMSS>-feed<N>.sfcap` (UTC, one file at a time per feed thread; `-<k>`
//! is appended if the name is taken), rotated by size (`rotate_mb`) and age (`rotate_minutes`),
//! fsynced on rotation and every second; retention deletes the oldest closed files by age
//! (`retain_hours`) and by total size (`retain_gb`).
//!
//! # Layout
//! The `.sfcap` layout is documented with its reader and writer in `engine_core::capture`
//! (the feed side lives in the hot crate).

mod writer;

pub use engine_core::capture::{capture_channel, CaptureRx, CaptureTx, TxCounters, RAW_SLOT};
pub use engine_core::capture::{
    is_capture, record_header, venue_id, write_record, CaptureError, CaptureHeader, CaptureReader,
    CaptureRecord, RecordKind, FLAG_BINARY, FLAG_OPEN, MAGIC, MAX_PAYLOAD, RECORD_HEADER, VERSION,
};
pub use writer::{capture_files, CaptureStats, CaptureWriter, Limits, WriterCounters, EXTENSION};

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `[capture]`: raw-frame capture (off by default).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureConfig {
    /// Record every received frame. Default false.
    pub enabled: bool,
    /// Where the files go; empty = `<data_dir>/capture`.
    pub dir: String,
    /// Start a new file after this many MiB. Default 256.
    pub rotate_mb: f64,
    /// … or after this many minutes. Default 60.
    pub rotate_minutes: f64,
    /// Delete files older than this many hours (0 = keep). Default 48.
    pub retain_hours: f64,
    /// Delete the oldest files while all together exceed this many GiB (0 = no limit). Default 20.
    pub retain_gb: f64,
    /// Ring between each feed thread and the writer, MiB. Default 16.
    pub ring_mb: f64,
}

impl Default for CaptureConfig {
    fn default() -> CaptureConfig {
        CaptureConfig {
            enabled: false,
            dir: String::new(),
            rotate_mb: 256.0,
            rotate_minutes: 60.0,
            retain_hours: 48.0,
            retain_gb: 20.0,
            ring_mb: 16.0,
        }
    }
}

impl CaptureConfig {
    /// The directory the files go to.
    pub fn dir(&self, data_dir: &Path) -> PathBuf {
        if self.dir.is_empty() {
            data_dir.join("capture")
        } else {
            PathBuf::from(&self.dir)
        }
    }

    /// Checks serde cannot express: (field, message).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let checks = [
            ("rotate_mb", self.rotate_mb, 0.001, 1e6),
            ("rotate_minutes", self.rotate_minutes, 0.001, 1e6),
            ("retain_hours", self.retain_hours, 0.0, 1e7),
            ("retain_gb", self.retain_gb, 0.0, 1e6),
            ("ring_mb", self.ring_mb, 0.01, 4096.0),
        ];
        for (name, v, lo, hi) in checks {
            if !(v.is_finite() && (lo..=hi).contains(&v)) {
                return Err((
                    format!("capture.{name}"),
                    format!("{v} is outside {lo}..={hi}"),
                ));
            }
        }
        Ok(())
    }
}
