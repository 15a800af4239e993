//! The feed side of raw-frame capture: [`CaptureTx`], the feed thread's allocation-free
//! handle onto a byte ring, and the `.sfcap` file layout ([`CaptureReader`],
//! [`write_record`], …). The writer thread that empties the rings into rotated files is cold
//! (`engine::capture::CaptureWriter`); `engine::capture` re-exports everything here.
//!
//! # Layout (version 1, little-endian)
//! Header:
//! | bytes | field |
//! |---|---|
//! | 8 | magic `SFCAP\0\r\n` |
//! | 2 | version (1) |
//! | 4 | header length in bytes, this CRC included |
//! | 8 | created, Unix ns |
//! | 8 | created, monotonic ns (the clock of the records' `mono_ns`) |
//! | 2 | feed thread id |
//! | 2 + n | writer (`squeezeflow-engine <version>`), UTF-8 |
//! | 2 + … | venue table: count, then per venue 1 length byte + name (`binance`, `huobi`, …) |
//! | 4 | CRC-32 (IEEE) of all header bytes before it |
//!
//! Then records, each a 36-byte header and the payload:
//! | bytes | field |
//! |---|---|
//! | 4 | payload length `n` (at most 64 MiB) |
//! | 4 | CRC-32 of the length, the 28 bytes after this field and the payload |
//! | 8 | receive time, Unix ns |
//! | 8 | receive time, monotonic ns |
//! | 8 | connection serial (1, 2, … per file; top bit set: a raw client slot) |
//! | 2 | venue id (index into the header's venue table) |
//! | 1 | flags: bit 0 binary frame, bit 1 connection-opened marker (payload = URL) |
//! | 1 | reserved (0) |
//! | n | payload: the frame exactly as received |
//!
//! A file cut short (the engine killed mid-write) reads up to the last whole record and then
//! reports [`CaptureError::Truncated`]; a record whose CRC does not match ends the file with
//! [`CaptureError::Corrupt`].

mod format;
mod tx;

pub use format::{
    is_capture, record_header, seal, venue_id, write_record, CaptureError, CaptureHeader,
    CaptureReader, CaptureRecord, RecordKind, FLAG_BINARY, FLAG_OPEN, MAGIC, MAX_PAYLOAD,
    RECORD_HEADER, VERSION,
};
pub use tx::{capture_channel, CaptureRx, CaptureTx, TxCounters, RAW_SLOT};
