//! The bytes of a day file: the header page and the seqlocked slots (layout in the module
//! docs of `store`), and the only code that touches mapped memory.
//!
//! Two kinds of day file share this machinery, told apart by their [`Format`]: bar files
//! ([`BARS`], 88-byte slots) and open-interest files ([`OI`], 32-byte slots). Both have the same
//! header page and the same slot discipline: `seq`, `flags`, then the payload words.
//!
//! Slots are accessed as little-endian `u32` words (22 per bar slot, 8 per open-interest slot)
//! through `AtomicU32`s made from the mapping's raw pointer. Words rather than `f64`/`u64` fields because 4-byte atomic loads are
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
/// Bytes in one bar slot: `seq`, `flags`, then the 80-byte [`Bar`].
pub const SLOT_SIZE: usize = 88;
/// Bytes in one open-interest slot: `seq`, `flags`, then `oi`, `price` (`f64`) and `ts_us`
/// (`i64`).
pub const OI_SLOT_SIZE: usize = 32;
/// Slots in a day file, one per second of the UTC day.
pub const SLOTS_PER_DAY: u32 = 86_400;

pub(super) const VERSION: u32 = 1;
pub(super) const MARKET_ID_LEN: usize = 64;
pub(super) const DAY_MS: i64 = 86_400_000;

/// One kind of day file: what its header's magic says, how big its slots are, and the name
/// errors give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Format {
    pub(super) magic: [u8; 8],
    pub(super) slot_size: usize,
    /// `"bar"`, `"open-interest"`: as in "not a bar file".
    pub(super) kind: &'static str,
}

impl Format {
    /// Length of every day file of this format.
    pub(super) const fn file_len(self) -> u64 {
        HEADER_SIZE as u64 + SLOTS_PER_DAY as u64 * self.slot_size as u64
    }

    const fn words(self) -> usize {
        self.slot_size / 4
    }
}

/// 1-second bar files (`.bars`).
pub(super) const BARS: Format = Format {
    magic: *b"SQZFBARS",
    slot_size: SLOT_SIZE,
    kind: "bar",
};

/// Per-second open-interest files (`.oi`).
pub(super) const OI: Format = Format {
    magic: *b"SQZFOPIN",
    slot_size: OI_SLOT_SIZE,
    kind: "open-interest",
};

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
    assert!(HEADER_SIZE % 8 == 0 && SLOT_SIZE % 8 == 0 && OI_SLOT_SIZE % 8 == 0);
    assert!(2 + BAR_WORDS == BARS.words() && 2 + OI_WORDS == OI.words());
};

impl Header {
    /// The header of `market_id`'s `format` file for `day`; the caller has validated the id's
    /// length.
    pub(super) fn new(format: Format, market_id: &str, day: i64) -> Header {
        let mut id = [0u8; MARKET_ID_LEN];
        id[..market_id.len()].copy_from_slice(market_id.as_bytes());
        Header {
            magic: format.magic,
            version: VERSION,
            header_size: HEADER_SIZE as u32,
            slot_size: format.slot_size as u32,
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
    pub(super) fn validate(
        &self,
        format: Format,
        path: &Path,
        file_len: u64,
    ) -> Result<(), StoreError> {
        let mismatch = |what: String| StoreError::Mismatch {
            path: path.to_path_buf(),
            what,
        };
        let (kind, expected_len, slot_size) = (format.kind, format.file_len(), format.slot_size);
        if self.magic != format.magic {
            return Err(StoreError::BadMagic {
                path: path.to_path_buf(),
                kind,
            });
        }
        if self.version != VERSION {
            return Err(StoreError::Version {
                path: path.to_path_buf(),
                kind,
                found: self.version,
            });
        }
        if (self.header_size, self.slot_size, self.slot_count)
            != (HEADER_SIZE as u32, slot_size as u32, SLOTS_PER_DAY)
        {
            return Err(mismatch(format!(
                "header says {} header bytes, {} slots of {} bytes; version 1 has {HEADER_SIZE}, \
                 {SLOTS_PER_DAY} of {slot_size}",
                self.header_size, self.slot_count, self.slot_size
            )));
        }
        if file_len < expected_len {
            return Err(StoreError::Truncated {
                path: path.to_path_buf(),
                kind,
                len: file_len,
                expected: expected_len,
            });
        }
        if file_len > expected_len {
            return Err(mismatch(format!(
                "file is {file_len} bytes, {} {kind} file is {expected_len} bytes",
                super::article(kind)
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

/// Words in the bar part of a bar slot: 16 for the eight `f64`s, 4 for the `u32`s.
const BAR_WORDS: usize = SLOT_SIZE / 4 - 2;
/// Words in the payload of an open-interest slot: `oi`, `price`, `ts_us`, two each.
const OI_WORDS: usize = OI_SLOT_SIZE / 4 - 2;

/// How often a reader retries a slot that keeps changing or stays odd before giving up. A
/// write takes nanoseconds, so running out means the writer died in the middle of one.
const READ_ATTEMPTS: u32 = 100_000;

/// The slots of one mapped day file.
///
/// Holds the mapping, whose length the constructor checked against its format, so every slot
/// index below [`SLOTS_PER_DAY`] and word index below the format's words per slot is inside it.
#[derive(Debug)]
pub(super) struct Slots {
    map: MmapRaw,
    format: Format,
}

impl Slots {
    /// Wraps a mapping of a whole `format` day file (checked: `map.len() == format.file_len()`).
    ///
    /// The mapping must stay the file's full length for as long as it lives: [`DayWriter`] and
    /// [`DayReader`] state that contract (nobody truncates a day file that is open).
    ///
    /// [`DayWriter`]: super::DayWriter
    /// [`DayReader`]: super::DayReader
    pub(super) fn new(map: MmapRaw, format: Format) -> Slots {
        assert_eq!(
            map.len() as u64,
            format.file_len(),
            "day file mapped at the wrong length"
        );
        // mmap returns page-aligned memory; the word accesses below rely on 4-byte alignment.
        assert_eq!(
            map.as_ptr() as usize % 8,
            0,
            "mapping is not 8-byte aligned"
        );
        Slots { map, format }
    }

    pub(super) fn flush_async(&self) -> std::io::Result<()> {
        self.map.flush_async()
    }

    /// Word `word` of slot `slot`. The caller has checked `slot < SLOTS_PER_DAY` and
    /// `word < self.format.words()`.
    #[inline(always)]
    fn word(&self, slot: u32, word: usize) -> &AtomicU32 {
        debug_assert!(slot < SLOTS_PER_DAY && word < self.format.words());
        let offset = HEADER_SIZE + slot as usize * self.format.slot_size + word * 4;
        // SAFETY: `offset + 4 <= format.file_len() == map.len()` because slot < SLOTS_PER_DAY
        // and word < the format's words per slot, and it is 4-aligned (page-aligned base,
        // 8-aligned header and slot sizes), so the pointer is in bounds and aligned for an
        // AtomicU32. The memory stays
        // mapped for `&self`'s lifetime and, by the contract in `Slots::new`, is not truncated.
        // It is only ever accessed atomically (by this module, here or in another process),
        // always as these same 4-byte words, so there is no mixed-size or non-atomic access.
        // On a read-only mapping only `load`s are made through the reference (see `load`).
        unsafe { AtomicU32::from_ptr(self.map.as_mut_ptr().add(offset).cast::<u32>()) }
    }

    /// Seqlock write of one bar slot (a [`BARS`] file). Only the single writer of the file
    /// may call this (the `DayWriter` owns the mapping mutably and holds the file's exclusive
    /// lock).
    #[inline]
    pub(super) fn store(&self, slot: u32, bar: &Bar, flags: u32) {
        self.store_words(slot, flags, &encode(bar));
    }

    /// Seqlock write of one open-interest slot (an [`OI`] file); same rules as
    /// [`Slots::store`].
    #[inline]
    pub(super) fn store_oi(&self, slot: u32, oi: &OiRecord, flags: u32) {
        self.store_words(slot, flags, &encode_oi(oi));
    }

    /// Seqlock write of `flags` and the payload `words` of one slot.
    #[inline]
    fn store_words<const N: usize>(&self, slot: u32, flags: u32, words: &[u32; N]) {
        // A payload that does not fit the format's slot would spill into the next slot.
        assert!(2 + N <= self.format.words(), "payload larger than the slot");
        if slot >= SLOTS_PER_DAY {
            return;
        }
        let seq = self.word(slot, 0);
        // Only this writer changes `seq`, so its last store is what it reads.
        let odd = u32::from_le(seq.load(Ordering::Relaxed)) | 1;
        seq.store(odd.to_le(), Ordering::Relaxed);
        // Orders the odd `seq` before the field stores: a reader whose copy saw any new field
        // value then also sees `seq` changed when it reloads it.
        fence(Ordering::Release);
        self.word(slot, 1).store(flags.to_le(), Ordering::Relaxed);
        for (i, w) in words.iter().enumerate() {
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
        self.load_words::<BAR_WORDS>(slot, attempts)
            .map(|(words, flags)| (decode(&words), flags))
    }

    /// Seqlock read of one open-interest slot, as [`Slots::load`] for bars.
    #[inline]
    pub(super) fn load_oi(&self, slot: u32, attempts: u32) -> Option<(OiRecord, u32)> {
        self.load_words::<OI_WORDS>(slot, attempts)
            .map(|(words, flags)| (decode_oi(&words), flags))
    }

    /// Seqlock read of `flags` and the first `N` payload words of one slot.
    #[inline]
    fn load_words<const N: usize>(&self, slot: u32, attempts: u32) -> Option<([u32; N], u32)> {
        assert!(2 + N <= self.format.words(), "payload larger than the slot");
        if slot >= SLOTS_PER_DAY {
            return None;
        }
        let seq = self.word(slot, 0);
        for attempt in 0..attempts {
            let before = u32::from_le(seq.load(Ordering::Relaxed));
            if before == 0 {
                return None;
            }
            if before & 1 == 0 {
                fence(Ordering::Acquire);
                let flags = u32::from_le(self.word(slot, 1).load(Ordering::Relaxed));
                let mut words = [0u32; N];
                for (i, w) in words.iter_mut().enumerate() {
                    *w = u32::from_le(self.word(slot, 2 + i).load(Ordering::Relaxed));
                }
                fence(Ordering::Acquire);
                if u32::from_le(seq.load(Ordering::Relaxed)) == before {
                    return Some((words, flags));
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

    /// An open-interest reader's load: retries long enough to get past any live write.
    pub(super) fn load_oi_shared(&self, slot: u32) -> Option<(OiRecord, u32)> {
        self.load_oi(slot, READ_ATTEMPTS)
    }

    /// Un-commits one slot: afterwards readers see it as never written. Seqlock discipline as
    /// in [`Slots::store`] (odd `seq`, then the fields, then `seq` = 0 with Release), so a
    /// reader mid-copy retries and then sees nothing. Writer only.
    pub(super) fn clear(&self, slot: u32) {
        if slot >= SLOTS_PER_DAY {
            return;
        }
        let seq = self.word(slot, 0);
        let odd = u32::from_le(seq.load(Ordering::Relaxed)) | 1;
        seq.store(odd.to_le(), Ordering::Relaxed);
        fence(Ordering::Release);
        for i in 1..self.format.words() {
            self.word(slot, i).store(0, Ordering::Relaxed);
        }
        seq.store(0, Ordering::Release);
    }

    /// Clears slots whose `seq` is odd — writes cut off by a crash, whose bytes are a mix of
    /// two records — and returns how many. Writer only, before its first write.
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

/// One open-interest reading as an [`OI`] slot holds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct OiRecord {
    /// Open interest in base units.
    pub(super) oi: f64,
    /// The venue's reference (mark) price sent with it, 0 when none.
    pub(super) price: f64,
    /// Exchange time of the reading, µs since the Unix epoch.
    pub(super) ts_us: i64,
}

#[inline(always)]
fn encode_oi(r: &OiRecord) -> [u32; OI_WORDS] {
    let mut words = [0u32; OI_WORDS];
    for (i, bits) in [r.oi.to_bits(), r.price.to_bits(), r.ts_us as u64]
        .into_iter()
        .enumerate()
    {
        words[2 * i] = bits as u32;
        words[2 * i + 1] = (bits >> 32) as u32;
    }
    words
}

#[inline(always)]
fn decode_oi(words: &[u32; OI_WORDS]) -> OiRecord {
    let u = |i: usize| u64::from(words[2 * i]) | (u64::from(words[2 * i + 1]) << 32);
    OiRecord {
        oi: f64::from_bits(u(0)),
        price: f64::from_bits(u(1)),
        ts_us: u(2) as i64,
    }
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
        let h = Header::new(BARS, "KRAKEN:XBT/USD", 19_782);
        let bytes = h.to_bytes();
        assert_eq!(bytes.len(), HEADER_SIZE);
        assert_eq!(&bytes[0..8], b"SQZFBARS");
        assert!(bytes[104..].iter().all(|&b| b == 0));
        let parsed = Header::parse(bytes[..104].try_into().unwrap());
        assert_eq!(parsed, h);
        assert_eq!(parsed.day_start_ms, 19_782 * DAY_MS);
        assert_eq!(parsed.market_id(Path::new("x")).unwrap(), "KRAKEN:XBT/USD");
        parsed
            .validate(BARS, Path::new("x"), BARS.file_len())
            .unwrap();
        assert!(matches!(
            parsed.validate(OI, Path::new("x"), OI.file_len()),
            Err(StoreError::BadMagic {
                kind: "open-interest",
                ..
            })
        ));
        let oi = Header::new(OI, "BYBIT:BTCUSDT", 19_782);
        let back = Header::parse(oi.to_bytes()[..104].try_into().unwrap());
        back.validate(OI, Path::new("x"), OI.file_len()).unwrap();
        assert_eq!(&oi.to_bytes()[0..8], b"SQZFOPIN");
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
        let r = OiRecord {
            oi: 59_875.123,
            price: -0.5,
            ts_us: -3,
        };
        let bytes: Vec<u8> = encode_oi(&r).iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut want = Vec::new();
        want.extend_from_slice(&r.oi.to_le_bytes());
        want.extend_from_slice(&r.price.to_le_bytes());
        want.extend_from_slice(&r.ts_us.to_le_bytes());
        assert_eq!(bytes, want, "the documented open-interest slot layout");
        assert_eq!(decode_oi(&encode_oi(&r)), r);
        let back = decode(&encode(&bar));
        assert!(back.high.is_nan());
        assert_eq!(
            (back.open, back.low, back.cbuy, back.open_us),
            (1.5, -3.25, 9, u32::MAX)
        );
    }
}
