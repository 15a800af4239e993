//! The stats file's bytes: a 64-byte header and a seqlocked payload, and the only code of
//! the monitor that touches mapped memory.
//!
//! | offset | field      | type      | value |
//! |-------:|------------|-----------|-------|
//! | 0      | `magic`    | `[u8; 8]` | `b"SQZFSTAT"` |
//! | 8      | `version`  | `u32`     | 3 (the payload encoding, see [`super::snapshot`]) |
//! | 12     | `header`   | `u32`     | 64 |
//! | 16     | `capacity` | `u32`     | payload bytes the file holds (a multiple of 4) |
//! | 20     | `seq`      | `u32`     | 0 never published; odd: a publish is in progress; even: committed |
//! | 24     | `len`      | `u32`     | payload bytes of the committed snapshot |
//! | 28     | (zero)     |           | up to 64 |
//! | 64     | payload    |           | `capacity` bytes |
//!
//! All little-endian. One writer (the engine's IO thread) publishes a whole snapshot as one
//! seqlock write: `seq` odd, Release fence, `len` and the payload words, `seq` even with
//! Release. A reader copies `len` and the payload between two loads of `seq` and keeps the
//! copy only if both saw the same even value. As in `store::layout`, every access is a
//! 4-byte atomic on the mapping (relaxed loads plus fences on the read side, which std
//! allows on a read-only mapping), so no reference ever claims the bytes cannot change.

#![allow(unsafe_code)]

use memmap2::{MmapOptions, MmapRaw};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicU32, Ordering};

/// First bytes of a stats file.
pub const MAGIC: [u8; 8] = *b"SQZFSTAT";
/// Version of the header and payload encoding.
pub const VERSION: u32 = 3;
/// Bytes before the payload.
pub const HEADER_SIZE: usize = 64;
const W_SEQ: usize = 5;
const W_LEN: usize = 6;
/// Copies a reader tries before giving up (a writer that died mid-publish).
const READ_ATTEMPTS: u32 = 10_000;

/// A mapping of a whole stats file whose length was checked against its header.
#[derive(Debug)]
struct Mapped {
    map: MmapRaw,
    /// Payload capacity in bytes (a multiple of 4); `map.len() == HEADER_SIZE + capacity`.
    capacity: usize,
}

impl Mapped {
    fn new(map: MmapRaw, capacity: usize) -> io::Result<Mapped> {
        if map.len() != HEADER_SIZE + capacity || capacity % 4 != 0 {
            return Err(io::Error::other("stats file mapped at the wrong length"));
        }
        // mmap returns page-aligned memory; the word accesses below rely on 4-byte alignment.
        if map.as_ptr() as usize % 4 != 0 {
            return Err(io::Error::other("stats file mapping is not aligned"));
        }
        Ok(Mapped { map, capacity })
    }

    /// 4-byte word `i` of the file; `i < (HEADER_SIZE + capacity) / 4`, checked.
    #[inline]
    fn word(&self, i: usize) -> &AtomicU32 {
        assert!(i * 4 + 4 <= self.map.len(), "stats word out of range");
        // SAFETY: `i * 4 + 4 <= map.len()` (asserted above) and the base is page-aligned, so
        // the pointer is in bounds and 4-aligned for an AtomicU32. The mapping lives as long
        // as `&self`, and the file is never shrunk while mapped (the writer creates each file
        // at its full length under a temporary name and renames it into place; nobody
        // truncates it). Every access to these bytes, in any process, goes through this
        // function as the same 4-byte atomic words, so there is no mixed-size or non-atomic
        // access. On a read-only mapping only loads are made (`StatsReader`).
        unsafe { AtomicU32::from_ptr(self.map.as_mut_ptr().add(i * 4).cast::<u32>()) }
    }

    fn load(&self, i: usize) -> u32 {
        u32::from_le(self.word(i).load(Ordering::Relaxed))
    }
}

/// The single writer of a stats file.
#[derive(Debug)]
pub struct StatsWriter {
    m: Mapped,
    path: PathBuf,
}

impl StatsWriter {
    /// Creates (or replaces) the stats file at `path` with room for `capacity` payload bytes
    /// (rounded up to 4). The new file is written under a temporary name at its full length
    /// and renamed into place, so a reader never maps a short file; a reader still holding
    /// the previous file keeps its (now stale) mapping until it reopens.
    pub fn create(path: &Path, capacity: usize) -> io::Result<StatsWriter> {
        let capacity = capacity.div_ceil(4) * 4;
        let cap32 = u32::try_from(capacity)
            .map_err(|_| io::Error::other("stats file payload too large"))?;
        let tmp = path.with_extension("tmp");
        let mut header = [0u8; HEADER_SIZE];
        header[0..8].copy_from_slice(&MAGIC);
        header[8..12].copy_from_slice(&VERSION.to_le_bytes());
        header[12..16].copy_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
        header[16..20].copy_from_slice(&cap32.to_le_bytes());
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(&header)?;
        f.set_len((HEADER_SIZE + capacity) as u64)?;
        std::fs::rename(&tmp, path)?;
        let map = MmapOptions::new().len(HEADER_SIZE + capacity).map_raw(&f)?;
        Ok(StatsWriter {
            m: Mapped::new(map, capacity)?,
            path: path.to_path_buf(),
        })
    }

    /// Payload bytes the file holds.
    pub fn capacity(&self) -> usize {
        self.m.capacity
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Publishes `payload` as the new snapshot (one seqlock write). A payload longer than the
    /// capacity is refused (the caller sizes the file for its snapshots).
    pub fn publish(&mut self, payload: &[u8]) -> io::Result<()> {
        if payload.len() > self.m.capacity {
            return Err(io::Error::other(format!(
                "stats snapshot of {} bytes exceeds the file's {} bytes",
                payload.len(),
                self.m.capacity
            )));
        }
        let seq = self.m.word(W_SEQ);
        // Only this writer changes `seq`, so its last store is what it reads.
        let odd = u32::from_le(seq.load(Ordering::Relaxed)) | 1;
        seq.store(odd.to_le(), Ordering::Relaxed);
        // Orders the odd `seq` before the payload stores (pairs with the reader's second fence).
        fence(Ordering::Release);
        self.m
            .word(W_LEN)
            .store((payload.len() as u32).to_le(), Ordering::Relaxed);
        for (i, chunk) in payload.chunks(4).enumerate() {
            let mut w = [0u8; 4];
            w[..chunk.len()].copy_from_slice(chunk);
            self.m
                .word(HEADER_SIZE / 4 + i)
                .store(u32::from_le_bytes(w).to_le(), Ordering::Relaxed);
        }
        let even = match odd.wrapping_add(1) {
            0 => 2,
            n => n,
        };
        seq.store(even.to_le(), Ordering::Release);
        Ok(())
    }
}

/// A read-only mapping of a stats file (any process).
#[derive(Debug)]
pub struct StatsReader {
    m: Mapped,
}

impl StatsReader {
    /// Maps the stats file at `path` after checking its magic, version and length.
    pub fn open(path: &Path) -> io::Result<StatsReader> {
        let file = File::open(path)?;
        let mut header = [0u8; HEADER_SIZE];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut header, 0).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("{}: not a stats file ({e})", path.display()),
            )
        })?;
        let u32_at = |at: usize| {
            u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        if header[0..8] != MAGIC {
            return Err(io::Error::other(format!(
                "{}: not a stats file (bad magic)",
                path.display()
            )));
        }
        if u32_at(8) != VERSION || u32_at(12) != HEADER_SIZE as u32 {
            return Err(io::Error::other(format!(
                "{}: stats file version {} (header {}), this build reads version {VERSION}",
                path.display(),
                u32_at(8),
                u32_at(12)
            )));
        }
        let capacity = u32_at(16) as usize;
        let len = file.metadata()?.len();
        if len != (HEADER_SIZE + capacity) as u64 || capacity % 4 != 0 {
            return Err(io::Error::other(format!(
                "{}: stats file is {len} bytes, its header says {}",
                path.display(),
                HEADER_SIZE + capacity
            )));
        }
        let map = MmapOptions::new()
            .len(HEADER_SIZE + capacity)
            .map_raw_read_only(&file)?;
        Ok(StatsReader {
            m: Mapped::new(map, capacity)?,
        })
    }

    /// A consistent copy of the last published payload; `None` if nothing was published yet
    /// or no consistent copy could be made (a writer that died mid-publish).
    pub fn read(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(self.m.capacity);
        for attempt in 0..READ_ATTEMPTS {
            let before = self.m.load(W_SEQ);
            if before == 0 {
                return None;
            }
            if before & 1 == 0 {
                fence(Ordering::Acquire);
                let len = (self.m.load(W_LEN) as usize).min(self.m.capacity);
                out.clear();
                for i in 0..len.div_ceil(4) {
                    out.extend_from_slice(&self.m.load(HEADER_SIZE / 4 + i).to_le_bytes());
                }
                out.truncate(len);
                fence(Ordering::Acquire);
                if self.m.load(W_SEQ) == before {
                    return Some(out);
                }
            }
            if attempt % 64 == 63 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_then_read_round_trips_and_checks_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.stats");
        let mut w = StatsWriter::create(&path, 30).unwrap();
        assert_eq!(w.capacity(), 32);
        let r = StatsReader::open(&path).unwrap();
        assert_eq!(r.read(), None, "nothing published yet");
        w.publish(b"hello, seven").unwrap();
        assert_eq!(r.read().unwrap(), b"hello, seven");
        w.publish(b"abc").unwrap();
        assert_eq!(r.read().unwrap(), b"abc");
        assert!(w.publish(&[1u8; 33]).is_err(), "over capacity");
        assert_eq!(
            r.read().unwrap(),
            b"abc",
            "a refused publish changes nothing"
        );

        std::fs::write(dir.path().join("bad"), [0u8; 100]).unwrap();
        let e = StatsReader::open(&dir.path().join("bad")).unwrap_err();
        assert!(e.to_string().contains("bad magic"), "{e}");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(70);
        std::fs::write(dir.path().join("short"), &bytes).unwrap();
        let e = StatsReader::open(&dir.path().join("short")).unwrap_err();
        assert!(e.to_string().contains("header says"), "{e}");
        bytes[8] = 1;
        std::fs::write(dir.path().join("v1"), &bytes).unwrap();
        let e = StatsReader::open(&dir.path().join("v1")).unwrap_err();
        assert!(e.to_string().contains("version 1"), "{e}");
        assert!(e.to_string().contains("reads version 3"), "{e}");
    }

    #[test]
    fn a_reader_never_sees_a_torn_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.stats");
        let mut w = StatsWriter::create(&path, 4096).unwrap();
        w.publish(&[0u8; 4096]).unwrap();
        let r = StatsReader::open(&path).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        let reader = std::thread::spawn(move || {
            let mut reads = 0u64;
            while !s2.load(Ordering::Relaxed) {
                if let Some(p) = r.read() {
                    let first = p[0];
                    assert!(p.iter().all(|&b| b == first), "torn snapshot");
                    reads += 1;
                }
            }
            reads
        });
        for i in 0..20_000u32 {
            w.publish(&[(i % 251) as u8; 4096]).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    }
}
