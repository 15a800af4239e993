//! The `.sfcap` file layout: reading and writing (see the module docs of [`crate::capture`]).

use feeds::Venue;
use std::io::{self, Read, Write};

/// First eight bytes of every capture file (`\r\n` catches text-mode mangling).
pub const MAGIC: [u8; 8] = *b"SFCAP\0\r\n";
/// The layout version this code writes and reads.
pub const VERSION: u16 = 1;
/// Bytes before a record's payload.
pub const RECORD_HEADER: usize = 36;
/// The largest payload a reader accepts; a larger length field means a corrupt file.
pub const MAX_PAYLOAD: usize = 64 << 20;

/// Flag bit: the payload is a binary WebSocket frame (else text).
pub const FLAG_BINARY: u8 = 1;
/// Flag bit: not a frame but a connection-opened marker; the payload is the URL.
pub const FLAG_OPEN: u8 = 2;

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A text frame, as received.
    Text,
    /// A binary frame, as received (HTX's gzip frames).
    Binary,
    /// A connection was opened; the payload is its URL. Later frames of the connection carry
    /// the same `conn`.
    Open,
}

impl RecordKind {
    /// The flag byte of this kind.
    pub fn flags(self) -> u8 {
        match self {
            RecordKind::Text => 0,
            RecordKind::Binary => FLAG_BINARY,
            RecordKind::Open => FLAG_OPEN,
        }
    }
}

/// The file header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureHeader {
    pub version: u16,
    /// When the file was created (Unix ns, and the monotonic clock at the same moment).
    pub created_wall_ns: u64,
    pub created_mono_ns: u64,
    /// The feed thread that wrote it.
    pub feed: u16,
    /// Program and version that wrote it (`squeezeflow-engine 0.1.0`).
    pub writer: String,
    /// Venue names; a record's venue id is an index into this table.
    pub venues: Vec<String>,
}

impl CaptureHeader {
    /// A header for a file written now by this build, with every venue it knows.
    pub fn new(feed: u16, created_wall_ns: u64, created_mono_ns: u64) -> CaptureHeader {
        CaptureHeader {
            version: VERSION,
            created_wall_ns,
            created_mono_ns,
            feed,
            writer: format!("squeezeflow-engine {}", env!("CARGO_PKG_VERSION")),
            venues: Venue::ALL.iter().map(|v| v.name().to_string()).collect(),
        }
    }

    /// The header's bytes, trailing CRC included.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(64 + self.venues.len() * 16);
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&self.version.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes()); // header length, patched below
        b.extend_from_slice(&self.created_wall_ns.to_le_bytes());
        b.extend_from_slice(&self.created_mono_ns.to_le_bytes());
        b.extend_from_slice(&self.feed.to_le_bytes());
        let writer = &self.writer.as_bytes()[..self.writer.len().min(u16::MAX as usize)];
        b.extend_from_slice(&(writer.len() as u16).to_le_bytes());
        b.extend_from_slice(writer);
        b.extend_from_slice(&(self.venues.len().min(u16::MAX as usize) as u16).to_le_bytes());
        for v in self.venues.iter().take(u16::MAX as usize) {
            let name = &v.as_bytes()[..v.len().min(255)];
            b.push(name.len() as u8);
            b.extend_from_slice(name);
        }
        let total = (b.len() + 4) as u32;
        b[10..14].copy_from_slice(&total.to_le_bytes());
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// The venue of a record's venue id (`None`: not in the table, or not known to this build).
    pub fn venue(&self, id: u16) -> Option<Venue> {
        self.venues
            .get(id as usize)
            .and_then(|n| Venue::from_name(n))
    }
}

/// The id [`CaptureHeader::new`] gives a venue (its index in [`Venue::ALL`]).
pub fn venue_id(venue: Venue) -> u16 {
    Venue::ALL.iter().position(|v| *v == venue).unwrap_or(0) as u16
}

/// Encode a record header (the CRC is computed over it and `payload`).
pub fn record_header(
    wall_ns: u64,
    mono_ns: u64,
    venue_id: u16,
    conn: u64,
    flags: u8,
    payload: &[u8],
) -> [u8; RECORD_HEADER] {
    let mut h = [0u8; RECORD_HEADER];
    h[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[8..16].copy_from_slice(&wall_ns.to_le_bytes());
    h[16..24].copy_from_slice(&mono_ns.to_le_bytes());
    h[24..32].copy_from_slice(&conn.to_le_bytes());
    h[32..34].copy_from_slice(&venue_id.to_le_bytes());
    h[34] = flags;
    seal(&mut h, payload);
    h
}

/// Fill in the CRC of a record header whose other fields are set (the writer seals the
/// records the feed thread left unsealed in its ring).
pub fn seal(h: &mut [u8; RECORD_HEADER], payload: &[u8]) {
    let crc = record_crc(h, payload);
    h[4..8].copy_from_slice(&crc.to_le_bytes());
}

fn record_crc(h: &[u8; RECORD_HEADER], payload: &[u8]) -> u32 {
    let mut c = crc32fast::Hasher::new();
    c.update(&h[0..4]);
    c.update(&h[8..]);
    c.update(payload);
    c.finalize()
}

/// Write one record.
pub fn write_record(
    out: &mut impl Write,
    wall_ns: u64,
    mono_ns: u64,
    venue_id: u16,
    conn: u64,
    kind: RecordKind,
    payload: &[u8],
) -> io::Result<()> {
    let h = record_header(wall_ns, mono_ns, venue_id, conn, kind.flags(), payload);
    out.write_all(&h)?;
    out.write_all(payload)
}

/// Why a capture file (or the rest of it) cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    #[error("not a capture file (no SFCAP magic)")]
    NotCapture,
    #[error("capture layout version {0} is not supported (this build reads {VERSION})")]
    Version(u16),
    #[error("capture header damaged: {0}")]
    Header(&'static str),
    #[error("truncated tail at byte {offset}: record needs {needed} bytes, {have} present (an interrupted writer); everything before it was read")]
    Truncated { offset: u64, needed: u64, have: u64 },
    #[error("corrupt record at byte {offset}: {reason}; the rest of the file is skipped")]
    Corrupt { offset: u64, reason: &'static str },
    #[error("reading the capture: {0}")]
    Io(#[from] io::Error),
}

/// One record, borrowing the reader's buffer.
#[derive(Debug)]
pub struct CaptureRecord<'a> {
    /// Byte offset of the record in the file.
    pub offset: u64,
    pub wall_ns: u64,
    pub mono_ns: u64,
    /// The venue id as stored, and the venue it names (`None`: unknown to this build).
    pub venue_id: u16,
    pub venue: Option<Venue>,
    /// Connection serial, unique within the file (one per opened connection).
    pub conn: u64,
    pub kind: RecordKind,
    pub payload: &'a [u8],
}

/// Reads a capture file record by record; a damaged tail ends it with an error.
#[derive(Debug)]
pub struct CaptureReader<R> {
    input: R,
    header: CaptureHeader,
    venues: Vec<Option<Venue>>,
    offset: u64,
    buf: Vec<u8>,
    done: bool,
}

/// Read as much of `buf` as the input has; returns how many bytes were read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

impl<R: Read> CaptureReader<R> {
    /// Read and check the header.
    pub fn new(mut input: R) -> Result<CaptureReader<R>, CaptureError> {
        let mut fixed = [0u8; 14];
        let n = read_full(&mut input, &mut fixed)?;
        if n < 8 || fixed[..8] != MAGIC {
            return Err(CaptureError::NotCapture);
        }
        if n < 14 {
            return Err(CaptureError::Header("file ends inside the header"));
        }
        let version = u16_at(&fixed, 8).unwrap_or(0);
        if version != VERSION {
            return Err(CaptureError::Version(version));
        }
        let total = u32_at(&fixed, 10).unwrap_or(0) as usize;
        if !(14 + 24..=1 << 20).contains(&total) {
            return Err(CaptureError::Header("header length out of range"));
        }
        let mut b = vec![0u8; total];
        b[..14].copy_from_slice(&fixed);
        if read_full(&mut input, &mut b[14..])? < total - 14 {
            return Err(CaptureError::Header("file ends inside the header"));
        }
        let stored = u32_at(&b, total - 4).unwrap_or(0);
        if crc32fast::hash(&b[..total - 4]) != stored {
            return Err(CaptureError::Header("header checksum mismatch"));
        }
        let header = parse_header(&b[..total - 4], version)
            .ok_or(CaptureError::Header("header fields inconsistent"))?;
        let venues = header.venues.iter().map(|n| Venue::from_name(n)).collect();
        Ok(CaptureReader {
            input,
            header,
            venues,
            offset: total as u64,
            buf: Vec::with_capacity(64 * 1024),
            done: false,
        })
    }

    pub fn header(&self) -> &CaptureHeader {
        &self.header
    }

    /// The next record; `Ok(None)` at a clean end (and after an error was returned).
    pub fn next_record(&mut self) -> Result<Option<CaptureRecord<'_>>, CaptureError> {
        if self.done {
            return Ok(None);
        }
        let mut h = [0u8; RECORD_HEADER];
        let offset = self.offset;
        let n = match read_full(&mut self.input, &mut h) {
            Ok(n) => n,
            Err(e) => {
                self.done = true;
                return Err(e.into());
            }
        };
        if n == 0 {
            self.done = true;
            return Ok(None);
        }
        if n < RECORD_HEADER {
            self.done = true;
            return Err(CaptureError::Truncated {
                offset,
                needed: RECORD_HEADER as u64,
                have: n as u64,
            });
        }
        let len = u32_at(&h, 0).unwrap_or(u32::MAX) as usize;
        if len > MAX_PAYLOAD {
            self.done = true;
            return Err(CaptureError::Corrupt {
                offset,
                reason: "payload length out of range",
            });
        }
        self.buf.clear();
        self.buf.resize(len, 0);
        let got = match read_full(&mut self.input, &mut self.buf) {
            Ok(n) => n,
            Err(e) => {
                self.done = true;
                return Err(e.into());
            }
        };
        if got < len {
            self.done = true;
            return Err(CaptureError::Truncated {
                offset,
                needed: (RECORD_HEADER + len) as u64,
                have: (RECORD_HEADER + got) as u64,
            });
        }
        if u32_at(&h, 4) != Some(record_crc(&h, &self.buf)) {
            self.done = true;
            return Err(CaptureError::Corrupt {
                offset,
                reason: "checksum mismatch",
            });
        }
        let flags = h[34];
        let kind = if flags & FLAG_OPEN != 0 {
            RecordKind::Open
        } else if flags & FLAG_BINARY != 0 {
            RecordKind::Binary
        } else {
            RecordKind::Text
        };
        self.offset += (RECORD_HEADER + len) as u64;
        let venue_id = u16_at(&h, 32).unwrap_or(u16::MAX);
        Ok(Some(CaptureRecord {
            offset,
            wall_ns: u64_at(&h, 8).unwrap_or(0),
            mono_ns: u64_at(&h, 16).unwrap_or(0),
            venue_id,
            venue: self.venues.get(venue_id as usize).copied().flatten(),
            conn: u64_at(&h, 24).unwrap_or(0),
            kind,
            payload: &self.buf,
        }))
    }
}

fn parse_header(b: &[u8], version: u16) -> Option<CaptureHeader> {
    let created_wall_ns = u64_at(b, 14)?;
    let created_mono_ns = u64_at(b, 22)?;
    let feed = u16_at(b, 30)?;
    let wlen = u16_at(b, 32)? as usize;
    let writer = std::str::from_utf8(b.get(34..34 + wlen)?).ok()?.to_string();
    let mut at = 34 + wlen;
    let count = u16_at(b, at)? as usize;
    at += 2;
    let mut venues = Vec::with_capacity(count);
    for _ in 0..count {
        let len = *b.get(at)? as usize;
        let name = std::str::from_utf8(b.get(at + 1..at + 1 + len)?).ok()?;
        venues.push(name.to_string());
        at += 1 + len;
    }
    (at == b.len()).then_some(CaptureHeader {
        version,
        created_wall_ns,
        created_mono_ns,
        feed,
        writer,
        venues,
    })
}

/// Whether `prefix` (a file's first bytes) starts like a capture file.
pub fn is_capture(prefix: &[u8]) -> bool {
    prefix.starts_with(&MAGIC)
}
