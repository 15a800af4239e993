//! The feed thread's side: [`CaptureTx`] copies frames into a pre-allocated SPSC ring of bytes
//! ([`crate::ring`], records pushed with `push_chunks`) that the writer thread empties.

use super::format::{self, RecordKind, RECORD_HEADER};
use crate::ring::{channel, Consumer, Producer};
use crate::stats::Counter;
use feeds::Venue;
use std::sync::Arc;

/// Connection slots remembered (a `ConnId` at or above this is stored with its slot number
/// marked by the top bit instead of a serial).
const SLOTS: usize = 4096;
/// Marks a connection id that is a raw slot number, not a serial.
pub const RAW_SLOT: u64 = 1 << 63;

/// What one feed thread's capture counts (single writer: that feed thread).
#[derive(Debug, Default)]
pub struct TxCounters {
    /// Records put in the ring.
    pub records: Counter,
    /// Payload bytes put in the ring.
    pub bytes: Counter,
    /// Frames left out of the capture because the ring was full (the feed is never blocked).
    pub dropped_full: Counter,
    /// Frames left out because one record is larger than the whole ring.
    pub dropped_too_big: Counter,
}

/// A feed thread's capture handle: [`CaptureTx::record`] makes no allocation, takes no lock
/// and makes no system call.
#[derive(Debug)]
pub struct CaptureTx {
    ring: Producer<u8>,
    counters: Arc<TxCounters>,
    /// `Venue as usize` → venue id in the file.
    venue_ids: [u16; 64],
    /// `ConnId` slot → connection serial (0: not opened through [`CaptureTx::open`]).
    serials: Box<[u64]>,
    next_serial: u64,
}

/// The writer's end of one feed thread's ring.
#[derive(Debug)]
pub struct CaptureRx {
    ring: Consumer<u8>,
    counters: Arc<TxCounters>,
}

/// A ring of at least `bytes` bytes between one feed thread and the writer.
pub fn capture_channel(bytes: usize) -> (CaptureTx, CaptureRx) {
    let (p, c) = channel(bytes.max(RECORD_HEADER * 2));
    let counters = Arc::new(TxCounters::default());
    let mut venue_ids = [0u16; 64];
    for v in Venue::ALL {
        if let Some(slot) = venue_ids.get_mut(*v as usize) {
            *slot = format::venue_id(*v);
        }
    }
    (
        CaptureTx {
            ring: p,
            counters: counters.clone(),
            venue_ids,
            serials: vec![0; SLOTS].into_boxed_slice(),
            next_serial: 0,
        },
        CaptureRx { ring: c, counters },
    )
}

impl CaptureRx {
    /// Take up to `out.len()` bytes of ring content (records in file layout, CRC not yet
    /// filled in); the writer thread does this, tests may too.
    pub fn pop_bytes(&mut self, out: &mut [u8]) -> usize {
        self.ring.pop_chunks(out)
    }

    /// The ring's size in bytes.
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// This ring's feed-side counters.
    pub fn counters(&self) -> &Arc<TxCounters> {
        &self.counters
    }

    /// Whether the [`CaptureTx`] was dropped (then, once [`CaptureRx::pop_bytes`] returns 0,
    /// everything it recorded has been taken).
    pub fn is_abandoned(&self) -> bool {
        self.ring.is_abandoned()
    }
}

impl CaptureTx {
    /// This handle's counters.
    pub fn counters(&self) -> &Arc<TxCounters> {
        &self.counters
    }

    /// A connection in slot `conn` was opened to `url`: later frames of that slot belong to a
    /// new connection serial, and a marker record keeps the connection's place in the file.
    pub fn open(&mut self, recv_ns: u64, wall_ns: u64, venue: Venue, conn: usize, url: &str) {
        self.next_serial += 1;
        let serial = self.next_serial;
        if let Some(s) = self.serials.get_mut(conn) {
            *s = serial;
        }
        self.put(
            recv_ns,
            wall_ns,
            venue,
            serial,
            RecordKind::Open,
            url.as_bytes(),
        );
    }

    /// Capture one received frame (`binary`: a binary WebSocket frame). A full ring drops it
    /// from the capture only, counted in [`TxCounters::dropped_full`].
    #[inline]
    pub fn record(
        &mut self,
        recv_ns: u64,
        wall_ns: u64,
        venue: Venue,
        conn: usize,
        binary: bool,
        payload: &[u8],
    ) {
        let serial = match self.serials.get(conn) {
            Some(&s) if s != 0 => s,
            _ => RAW_SLOT | conn as u64,
        };
        let kind = if binary {
            RecordKind::Binary
        } else {
            RecordKind::Text
        };
        self.put(recv_ns, wall_ns, venue, serial, kind, payload);
    }

    #[inline]
    fn put(
        &mut self,
        mono_ns: u64,
        wall_ns: u64,
        venue: Venue,
        conn: u64,
        kind: RecordKind,
        payload: &[u8],
    ) {
        let need = RECORD_HEADER + payload.len();
        if need > self.ring.capacity() || payload.len() > format::MAX_PAYLOAD {
            self.counters.dropped_too_big.inc();
            return;
        }
        let venue_id = self.venue_ids.get(venue as usize).copied().unwrap_or(0);
        // The CRC is left to the writer thread (it seals the header before writing).
        let mut h = [0u8; RECORD_HEADER];
        h[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        h[8..16].copy_from_slice(&wall_ns.to_le_bytes());
        h[16..24].copy_from_slice(&mono_ns.to_le_bytes());
        h[24..32].copy_from_slice(&conn.to_le_bytes());
        h[32..34].copy_from_slice(&venue_id.to_le_bytes());
        h[34] = kind.flags();
        // Header and payload become visible together (one index store), or not at all.
        if !self.ring.push_chunks(&[&h, payload]) {
            self.counters.dropped_full.inc();
            return;
        }
        self.counters.records.inc();
        self.counters.bytes.add(payload.len() as u64);
    }
}
