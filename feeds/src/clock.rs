//! The one monotonic clock every stage stamps latency with.
//!
//! `mono_ns()` is nanoseconds since the first call in this process (via `Instant`, a vDSO
//! read on Linux, no syscall). Only the I/O edge (the WebSocket client) and the engine's
//! stages read it; decoders never do.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Monotonic nanoseconds since this process first asked.
#[inline]
pub fn mono_ns() -> u64 {
    let epoch = *EPOCH.get_or_init(Instant::now);
    epoch.elapsed().as_nanos() as u64
}

/// Wall-clock microseconds since the Unix epoch (0 if the clock is before 1970).
#[inline]
pub fn wall_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
