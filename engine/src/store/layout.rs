//! The bytes of a day file: the header page and the seqlocked slots (layout in the module
//! docs of `store`), and the only code that touches mapped memory.
//!
//! Slots are accessed as 22 little-endian `u32` words through `AtomicU32`s made from the
//! mapping's raw pointer. Words rather than `f64`/`u64` fields because 4-byte atomic loads are
//! plain loads on every target, which is what makes them allowed on a read-only mapping (see
//! [`Slots::load`]); it also means no reference to the bytes ever claims they cannot change,
//! while another process changes them.

#![allow(unsafe_code)]

use std::fmt;
use std::mem::{offset_of, size_of};
use std::path::Path;
use std::sync::atomic::{fence, AtomicU32, Ordering};

use memmap2::MmapRaw;

use super::StoreError;
use crate::bar::Bar;

/// Bytes in the header page.
pub const HEADER_SIZE: usize = 4096;
/// Bytes in one slot: `seq`, `flags`, then the 80-byte [`Bar`].
pub const SLOT_SIZE: usize = 88;
/// Slots in a day file, one per second of the UTC day.
pub const SLOTS_PER_DAY: u32 = 86_400;

pub(super) const MAGIC: [u8; 8] = *b"SQZFBARS";
pub(super) const VERSION: u32 = 1;
pub(super) const MARKET_ID_LEN: usize = 64;
pub(super) const DAY_MS: i64 = 86_400_000;
/// Length of every day file.
pub(super) const FILE_LEN: u64 = HEADER_SIZE as u64 + SLOTS_PER_DAY as u64 * SLOT_SIZE as u64;

/// The header as it sits at offset 0 (little-endian on disk; [`Header::to_bytes`] and
/// [`Header::parse`] convert).
#[derive(Clone, PartialEq, Eq)]
#[repr(C)]
pub(super) struct Header {
    pub(super) magic: [u8; 8],
    pub(super) version: u32,
    pub(super) header_size: u32,
    pub(super) slot_size: u32,
    pub(super) slot_count: u32,
    pub(super) day: i64,
    pub(super) day_start_ms: i64,
    pub(super) market_id: [u8; MARKET_ID_LEN],
}

/// A slot as it sits in the file. Never constructed: slots are read and written word by word
/// through atomics ([`Slots`]); this type pins the layout those words follow.
#[allow(dead_code)] // only its layout is used, by the assertions below
#[repr(C)]
struct Slot {
    seq: u32,
    flags: u32,
    bar: Bar,
}

const _: () = {
    assert!(size_of::<Header>() == 104);
    assert!(offset_of!(Header, day) == 24);
    assert!(offset_of!(Header, market_id) == 40);
    assert!(size_of::<Bar>() == 80);
    assert!(size_of::<Slot>() == SLOT_SIZE);
    assert!(offset_of!(Slot, bar) == 8);
    assert!(offset_of!(Bar, cbuy) == 64);
    assert!(offset_of!(Bar, close_us) == 76);
    assert!(HEADER_SIZE % 8 == 0 && SLOT_SIZE % 8 == 0);
};

impl Header {
    /// The header of `market_id`'s file for `day`; the caller has validated the id's length.
    pub(super) fn new(market_id: &str, day: i64) -> Header {
        let mut id = [0u8; MARKET_ID_LEN];
        id[..market_id.len()].copy_from_slice(market_id.as_bytes());
        Header {
            magic: MAGIC,
            version: VERSION,
            header_size: HEADER_SIZE as u32,
            slot_size: SLOT_SIZE as u32,
            slot_count: SLOTS_PER_DAY,
            day,
            day_start_ms: day * DAY_MS,
            market_id: id,
        }
    }

    pub(super) fn to_bytes(&self) -> Vec<u8> {
        let mut page = vec![0u8; HEADER_SIZE];
        page[0..8].copy_from_slice(&self.magic);
        page[8..12].copy_from_slice(&self.version.to_le_bytes());
        page[12..16].copy_from_slice(&self.header_size.to_le_bytes());
        page[16..20].copy_from_slice(&self.slot_size.to_le_bytes());
        page[20..24].copy_from_slice(&self.slot_count.to_le_bytes());
        page[24..32].copy_from_slice(&self.day.to_le_bytes());
        page[32..40].copy_from_slice(&self.day_start_ms.to_le_bytes());
        page[40..104].copy_from_slice(&self.market_id);
        page
    }

    /// Reads the fields from the first 104 bytes of `page`, without judging them.
    pub(super) fn parse(page: &[u8; 104]) -> Header {
        let u32_at =
            |at: usize| u32::from_le_bytes([page[at], page[at + 1], page[at + 2], page[at + 3]]);
        let i64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&page[at..at + 8]);
            i64::from_le_bytes(b)
        };
        let mut magic = [0u8; 8];
        magic.copy_from_slice(&page[0..8]);
        let mut market_id = [0u8; MARKET_ID_LEN];
        market_id.copy_from_slice(&page[40..104]);
        Header {
            magic,
            version: u32_at(8),
            header_size: u32_at(12),
            slot_size: u32_at(16),
            slot_count: u32_at(20),
            day: i64_at(24),
            day_start_ms: i64_at(32),
            market_id,
        }
    }

    /// Checks everything a file can get wrong on its own: magic, version, sizes, the day's
    /// start, the market id field and the file's length. Whether it is the file the caller
    /// wanted (market, day) is [`Header::expect`]'s business.
    pub(super) fn validate(&self, path: &Path, file_len: u64) -> Result<(), StoreError> {
        let mismatch = |what: String| StoreError::Mismatch {
            path: path.to_path_buf(),
            what,
        };
        if self.magic != MAGIC {
            return Err(StoreError::BadMagic {
                path: path.to_path_buf(),
            });
        }
        if self.version != VERSION {
            return Err(StoreError::Version {
                path: path.to_path_buf(),
                found: self.version,
            });
        }
        if (self.header_size, self.slot_size, self.slot_count)
            != (HEADER_SIZE as u32, SLOT_SIZE as u32, SLOTS_PER_DAY)
        {
            return Err(mismatch(format!(
                "header says {} header bytes, {} slots of {} bytes; version 1 has {HEADER_SIZE}, \
                 {SLOTS_PER_DAY} of {SLOT_SIZE}",
                self.header_size, self.slot_count, self.slot_size
            )));
        }
        if file_len < FILE_LEN {
            return Err(StoreError::Truncated {
                path: path.to_path_buf(),
                len: file_len,
                expected: FILE_LEN,
            });
        }
        if file_len > FILE_LEN {
            return Err(mismatch(format!(
                "file is {file_len} bytes, a bar file is {FILE_LEN} bytes"
            )));
        }
        if self.day.checked_mul(DAY_MS) != Some(self.day_start_ms) {
            return Err(mismatch(format!(
                "header day {} does not start at its day_start_ms {}",
                self.day, self.day_start_ms
            )));
        }
        self.market_id(path)?;
        Ok(())
    }

    /// Checks that this is `market_id`'s file for `day`.
    pub(super) fn expect(&self, path: &Path, market_id: &str, day: i64) -> Result<(), StoreError> {
        let found = self.market_id(path)?;
        if found != market_id {
            return Err(StoreError::Mismatch {
                path: path.to_path_buf(),
                what: format!("file holds market {found:?}, expected {market_id:?}"),
            });
        }
        if self.day != day {
            return Err(StoreError::Mismatch {
                path: path.to_path_buf(),
                what: format!("file holds day {}, expected day {day}", self.day),
            });
        }
        Ok(())
    }

    /// The market id field up to its NUL padding.
    pub(super) fn market_id(&self, path: &Path) -> Result<&str, StoreError> {
        let end = self
            .market_id
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(MARKET_ID_LEN);
        let bad = |why: &str| StoreError::Mismatch {
            path: path.to_path_buf(),
            what: format!("header market id field {why}"),
        };
        if end == 0 {
            return Err(bad("is empty"));
        }
        if self.market_id[end..].iter().any(|&b| b != 0) {
            return Err(bad("has bytes after its NUL padding"));
        }
        std::str::from_utf8(&self.market_id[..end]).map_err(|_| bad("is not UTF-8"))
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("magic", &String::from_utf8_lossy(&self.magic))
            .field("version", &self.version)
            .field("day", &self.day)
            .field(
                "market_id",
                &String::from_utf8_lossy(&self.market_id).trim_end_matches('\0'),
            )
            .finish_non_exhaustive()
    }
}

/// Words in a slot: `seq`, `flags`, 16 for the eight `f64`s, 4 for the `u32`s.
const WORDS: usize = SLOT_SIZE / 4;
/// Words in the bar part of a slot.
const BAR_WORDS: usize = WORDS - 2;

/// How often a reader retries a slot that keeps changing or stays odd before giving up. A
/// write takes nanoseconds, so running out means the writer died in the middle of one.
const READ_ATTEMPTS: u32 = 100_000;

/// The slots of one mapped day file.
///
/// Holds the mapping, whose length the constructor checked, so every slot index below
/// [`SLOTS_PER_DAY`] is inside it.
#[derive(Debug)]
pub(super) struct Slots {
    map: MmapRaw,
}

impl Slots {
    /// Wraps a mapping of a whole day file (checked: `map.len() == FILE_LEN`).
    ///
    /// The mapping must stay the file's full length for as long as it lives: [`DayWriter`] and
    /// [`DayReader`] state that contract (nobody truncates a day file that is open).
    ///
    /// [`DayWriter`]: super::DayWriter
    /// [`DayReader`]: super::DayReader
    pub(super) fn new(map: MmapRaw) -> Slots {
        assert_eq!(
            map.len() as u64,
            FILE_LEN,
            "day file mapped at the wrong length"
        );
        // mmap returns page-aligned memory; the word accesses below rely on 4-byte alignment.
        assert_eq!(
            map.as_ptr() as usize % 8,
            0,
            "mapping is not 8-byte aligned"
        );
        Slots { map }
    }

    pub(super) fn flush_async(&self) -> std::io::Result<()> {
        self.map.flush_async()
    }

    /// Word `word` of slot `slot`. The caller has checked `slot < SLOTS_PER_DAY`.
    #[inline(always)]
    fn word(&self, slot: u32, word: usize) -> &AtomicU32 {
        debug_assert!(slot < SLOTS_PER_DAY && word < WORDS);
        let offset = HEADER_SIZE + slot as usize * SLOT_SIZE + word * 4;
        // SAFETY: `offset + 4 <= FILE_LEN == map.len()` because slot < SLOTS_PER_DAY and
        // word < WORDS, and it is 4-aligned (page-aligned base, 8-aligned header and slot
        // sizes), so the pointer is in bounds and aligned for an AtomicU32. The memory stays
        // mapped for `&self`'s lifetime and, by the contract in `Slots::new`, is not truncated.
        // It is only ever accessed atomically (by this module, here or in another process),
        // always as these same 4-byte words, so there is no mixed-size or non-atomic access.
        // On a read-only mapping only `load`s are made through the reference (see `load`).
        unsafe { AtomicU32::from_ptr(self.map.as_mut_ptr().add(offset).cast::<u32>()) }
    }

    /// Seqlock write of one slot. Only the single writer of the file may call this (the
    /// `DayWriter` owns the mapping mutably and holds the file's exclusive lock).
    #[inline]
    pub(super) fn store(&self, slot: u32, bar: &Bar, flags: u32) {
        let seq = self.word(slot, 0);
        // Only this writer changes `seq`, so its last store is what it reads.
        let odd = u32::from_le(seq.load(Ordering::Relaxed)) | 1;
        seq.store(odd.to_le(), Ordering::Relaxed);
        // Orders the odd `seq` before the field stores: a reader whose copy saw any new field
        // value then also sees `seq` changed when it reloads it.
        fence(Ordering::Release);
        self.word(slot, 1).store(flags.to_le(), Ordering::Relaxed);
        for (i, w) in encode(bar).into_iter().enumerate() {
            self.word(slot, 2 + i).store(w.to_le(), Ordering::Relaxed);
        }
        // Commit: the even `seq` written last, with Release so that a reader that sees it
        // sees every field above. 0 means "never written", so the wrap skips it.
        let even = match odd.wrapping_add(1) {
            0 => 2,
            n => n,
        };
        seq.store(even.to_le(), Ordering::Release);
    }

    /// Seqlock read of one slot: `None` if never written, or if no consistent copy could be
    /// made within `attempts` tries (a write left half-done by a crashed writer).
    ///
    /// Loads are `Relaxed` with explicit `Acquire` fences rather than `Acquire` loads: std
    /// allows atomic loads on read-only memory only for relaxed loads no wider than a
    /// register, and a [`DayReader`](super::DayReader) maps the file read-only. The fences
    /// give the same ordering: the first pairs with the writer's Release commit, the second
    /// with the Release fence after its odd `seq`.
    #[inline]
    pub(super) fn load(&self, slot: u32, attempts: u32) -> Option<(Bar, u32)> {
        let seq = self.word(slot, 0);
        for attempt in 0..attempts {
            let before = u32::from_le(seq.load(Ordering::Relaxed));
            if before == 0 {
                return None;
            }
            if before & 1 == 0 {
                fence(Ordering::Acquire);
                let flags = u32::from_le(self.word(slot, 1).load(Ordering::Relaxed));
                let mut words = [0u32; BAR_WORDS];
                for (i, w) in words.iter_mut().enumerate() {
                    *w = u32::from_le(self.word(slot, 2 + i).load(Ordering::Relaxed));
                }
                fence(Ordering::Acquire);
                if u32::from_le(seq.load(Ordering::Relaxed)) == before {
                    return Some((decode(&words), flags));
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

    /// A reader's load: retries long enough to get past any live write.
    pub(super) fn load_shared(&self, slot: u32) -> Option<(Bar, u32)> {
        self.load(slot, READ_ATTEMPTS)
    }

    /// The writer's load of its own slot: nobody else writes, so one try is a clean copy,
    /// unless the slot is odd (a write a crashed predecessor left half-done).
    pub(super) fn load_own(&self, slot: u32) -> Option<(Bar, u32)> {
        self.load(slot, 1)
    }

    /// Clears slots whose `seq` is odd — writes cut off by a crash, whose bytes are a mix of
    /// two bars — and returns how many. Writer only, before its first write.
    pub(super) fn clear_interrupted(&self) -> usize {
        let mut cleared = 0;
        for slot in 0..SLOTS_PER_DAY {
            let seq = self.word(slot, 0);
            if u32::from_le(seq.load(Ordering::Relaxed)) & 1 == 1 {
                seq.store(0, Ordering::Release);
                cleared += 1;
            }
        }
        cleared
    }
}

/// The bar as little-endian-order words: each `f64` as (low, high) halves, then the `u32`s.
#[inline(always)]
fn encode(bar: &Bar) -> [u32; BAR_WORDS] {
    let floats = [
        bar.open, bar.high, bar.low, bar.close, bar.vbuy, bar.vsell, bar.lbuy, bar.lsell,
    ];
    let mut words = [0u32; BAR_WORDS];
    for (i, f) in floats.iter().enumerate() {
        let bits = f.to_bits();
        words[2 * i] = bits as u32;
        words[2 * i + 1] = (bits >> 32) as u32;
    }
    words[16] = bar.cbuy;
    words[17] = bar.csell;
    words[18] = bar.open_us;
    words[19] = bar.close_us;
    words
}

#[inline(always)]
fn decode(words: &[u32; BAR_WORDS]) -> Bar {
    let f =
        |i: usize| f64::from_bits(u64::from(words[2 * i]) | (u64::from(words[2 * i + 1]) << 32));
    Bar {
        open: f(0),
        high: f(1),
        low: f(2),
        close: f(3),
        vbuy: f(4),
        vsell: f(5),
        lbuy: f(6),
        lsell: f(7),
        cbuy: words[16],
        csell: words[17],
        open_us: words[18],
        close_us: words[19],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_through_bytes() {
        let h = Header::new("KRAKEN:XBT/USD", 19_782);
        let bytes = h.to_bytes();
        assert_eq!(bytes.len(), HEADER_SIZE);
        assert_eq!(&bytes[0..8], b"SQZFBARS");
        assert!(bytes[104..].iter().all(|&b| b == 0));
        let parsed = Header::parse(bytes[..104].try_into().unwrap());
        assert_eq!(parsed, h);
        assert_eq!(parsed.day_start_ms, 19_782 * DAY_MS);
        assert_eq!(parsed.market_id(Path::new("x")).unwrap(), "KRAKEN:XBT/USD");
        parsed.validate(Path::new("x"), FILE_LEN).unwrap();
    }

    #[test]
    fn encode_matches_the_repr_c_bytes_of_bar() {
        let bar = Bar {
            open: 1.5,
            high: f64::NAN,
            low: -3.25,
            close: 4.0,
            vbuy: 5e9,
            vsell: 6.0,
            lbuy: 7.0,
            lsell: 8.0,
            cbuy: 9,
            csell: 10,
            open_us: u32::MAX,
            close_us: 12,
        };
        let mut expected = Vec::new();
        for f in [
            bar.open, bar.high, bar.low, bar.close, bar.vbuy, bar.vsell, bar.lbuy, bar.lsell,
        ] {
            expected.extend_from_slice(&f.to_le_bytes());
        }
        for u in [bar.cbuy, bar.csell, bar.open_us, bar.close_us] {
            expected.extend_from_slice(&u.to_le_bytes());
        }
        let got: Vec<u8> = encode(&bar).iter().flat_map(|w| w.to_le_bytes()).collect();
        assert_eq!(got, expected);
        let back = decode(&encode(&bar));
        assert!(back.high.is_nan());
        assert_eq!(
            (back.open, back.low, back.cbuy, back.open_us),
            (1.5, -3.25, 9, u32::MAX)
        );
    }
}
