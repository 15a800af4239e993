//! Opening day files: [`DayWriter`] creates or reopens one market-day for writing,
//! [`DayReader`] maps one read-only. Both validate the header before mapping anything.

#![allow(unsafe_code)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use memmap2::MmapOptions;

use super::layout::{Format, Header, Slots, BARS, SLOTS_PER_DAY};
use super::path::{day_path, split_market_id};
use super::{StoreError, StoredBar};
use crate::bar::Bar;

pub(super) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The one writable mapping of one market-day file.
///
/// There is at most one per file: [`DayWriter::open_or_create`] takes an exclusive `flock` on
/// it, held until the writer is dropped, and [`DayWriter::write`] takes `&mut self`.
///
/// # Contract
/// While a `DayWriter` (or any [`DayReader`]) has a file mapped, nobody may truncate or
/// shrink that file: the mapping would then point past the end of the file and touching it
/// would raise `SIGBUS`. Only this module creates day files, always at their full length, and
/// [`Store::retain`](super::Store::retain) only unlinks old ones, which leaves existing
/// mappings intact.
#[derive(Debug)]
pub struct DayWriter {
    slots: Slots,
    day: i64,
    path: PathBuf,
    /// Held open for its `flock`, released when the writer drops.
    _file: File,
}

impl DayWriter {
    /// Opens `market_id`'s file for `day` under the data directory `root`, creating it (and its
    /// directories) if it does not exist.
    ///
    /// A new file appears complete or not at all: it is written under a temporary name —
    /// header first, then sized sparse to its full length — and then linked into place, so a
    /// crash never leaves a half-made day file. An existing file is validated (magic, version,
    /// sizes, length, market, day) and rejected with a [`StoreError`] naming it, never
    /// overwritten. Slots that a crashed writer left half-written are cleared (logged).
    ///
    /// This does file I/O and scans the file: call it off the hot path (e.g. open tomorrow's
    /// file ahead of midnight). See the type's contract about truncation.
    pub fn open_or_create(root: &Path, market_id: &str, day: i64) -> Result<DayWriter, StoreError> {
        split_market_id(market_id)?;
        let path = day_path(root, market_id, day)?;
        let (slots, file) = open_writable(&path, BARS, market_id, day)?;
        Ok(DayWriter {
            slots,
            day,
            path,
            _file: file,
        })
    }

    /// Stores the bar of `second_of_day` (`< 86 400`) with its [`flags`](super::flags),
    /// replacing whatever the slot held. Plain stores into the mapping: no syscall, no lock,
    /// no allocation (the first store into a page of the sparse file page-faults once).
    ///
    /// An out-of-range second is a caller bug: it panics in debug builds and is ignored in
    /// release builds rather than writing outside the file.
    #[inline]
    pub fn write(&mut self, second_of_day: u32, bar: &Bar, flags: u32) {
        debug_assert!(
            second_of_day < SLOTS_PER_DAY,
            "second_of_day {second_of_day} >= 86400"
        );
        if second_of_day < SLOTS_PER_DAY {
            self.slots.store(second_of_day, bar, flags);
        }
    }

    /// Removes the bar of `second_of_day`: readers see the slot as never written again (used
    /// at start-up for a bar that was still open when the previous run died).
    pub fn clear(&mut self, second_of_day: u32) {
        self.slots.clear(second_of_day);
    }

    /// The bar stored for `second_of_day` and its flags, `None` if the slot was never written
    /// (or the second is out of range). Used to amend a bar after a restart.
    pub fn read(&self, second_of_day: u32) -> Option<(Bar, u32)> {
        if second_of_day >= SLOTS_PER_DAY {
            return None;
        }
        self.slots.load_own(second_of_day)
    }

    /// Starts writing dirty pages back to disk without waiting (`msync(MS_ASYNC)`); the IO
    /// core calls this on a timer to bound what a power loss can take.
    pub fn flush_async(&self) -> io::Result<()> {
        self.slots.flush_async()
    }

    /// The day (days since 1970-01-01, UTC) this writer holds.
    pub fn day(&self) -> i64 {
        self.day
    }

    /// The file this writer holds.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A read-only mapping of one day file; any number of them, in any process, can read while
/// the file's [`DayWriter`] writes. Each [`get`](DayReader::get) is a seqlock read, so a bar is
/// never seen half-written.
///
/// # Contract
/// As for [`DayWriter`]: nobody may truncate the file while it is mapped.
#[derive(Debug)]
pub struct DayReader {
    slots: Slots,
    header: Header,
    market_id: String,
    path: PathBuf,
}

impl DayReader {
    /// Maps the day file at `path` read-only after validating its header and length. The
    /// market and day are whatever the header says; see the type's contract about truncation.
    pub fn open(path: &Path) -> Result<DayReader, StoreError> {
        let (slots, header) = open_read_only(path, BARS)?;
        let market_id = header.market_id(path)?.to_owned();
        Ok(DayReader {
            slots,
            header,
            market_id,
            path: path.to_path_buf(),
        })
    }

    /// Like [`DayReader::open`], and also checks that the file is `market_id`'s for `day`.
    pub(super) fn open_expecting(
        path: &Path,
        market_id: &str,
        day: i64,
    ) -> Result<DayReader, StoreError> {
        let reader = DayReader::open(path)?;
        reader.header.expect(path, market_id, day)?;
        Ok(reader)
    }

    /// The market id from the header.
    pub fn market_id(&self) -> &str {
        &self.market_id
    }

    /// The day (days since 1970-01-01, UTC) from the header.
    pub fn day(&self) -> i64 {
        self.header.day
    }

    /// The file this reader maps.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The committed bar of `second_of_day`; `None` if the slot was never written, the second
    /// is out of range, or the slot stayed mid-write for as long as a reader waits (a writer
    /// that crashed in the middle of a write; its next start clears the slot).
    pub fn get(&self, second_of_day: u32) -> Option<StoredBar> {
        if second_of_day >= SLOTS_PER_DAY {
            return None;
        }
        let (bar, flags) = self.slots.load_shared(second_of_day)?;
        Some(StoredBar {
            time_ms: self.header.day_start_ms + i64::from(second_of_day) * 1000,
            bar,
            flags,
        })
    }

    /// Every committed bar of the day, in time order.
    pub fn iter(&self) -> impl Iterator<Item = StoredBar> + '_ {
        (0..SLOTS_PER_DAY).filter_map(move |s| self.get(s))
    }

    /// Committed bars of the seconds in `range`, in time order.
    pub(super) fn iter_range(
        &self,
        range: std::ops::Range<u32>,
    ) -> impl Iterator<Item = StoredBar> + '_ {
        range.filter_map(move |s| self.get(s))
    }
}

/// The writer's side of opening a `format` day file: open or create it, take its exclusive
/// lock, check the header is `market_id`'s for `day`, map it read-write and clear slots a
/// crashed writer left half-written (logged). Returns the slots and the locked file.
pub(super) fn open_writable(
    path: &Path,
    format: Format,
    market_id: &str,
    day: i64,
) -> Result<(Slots, File), StoreError> {
    let file = open_or_create_file(path, format, market_id, day)?;
    lock_exclusive(&file, path)?;

    let header = read_header(&file, format, path)?;
    header.expect(path, market_id, day)?;

    let map = MmapOptions::new()
        .len(format.file_len() as usize)
        .map_raw(&file)
        .map_err(io_err(path))?;
    let slots = Slots::new(map, format);
    let cleared = slots.clear_interrupted();
    if cleared > 0 {
        log::warn!(
            "{}: cleared {cleared} slot(s) left half-written by a previous writer",
            path.display()
        );
    }
    Ok((slots, file))
}

/// A reader's side: validate the header and length of the `format` file at `path` and map it
/// read-only.
pub(super) fn open_read_only(path: &Path, format: Format) -> Result<(Slots, Header), StoreError> {
    let file = File::open(path).map_err(io_err(path))?;
    let header = read_header(&file, format, path)?;
    let map = MmapOptions::new()
        .len(format.file_len() as usize)
        .map_raw_read_only(&file)
        .map_err(io_err(path))?;
    Ok((Slots::new(map, format), header))
}

/// Opens the existing file at `path` read-write, or makes it: header and full length under a
/// temporary name in the same directory, then a hard link to `path`, which fails rather than
/// replace a file another writer linked first.
fn open_or_create_file(
    path: &Path,
    format: Format,
    market_id: &str,
    day: i64,
) -> Result<File, StoreError> {
    let open = || OpenOptions::new().read(true).write(true).open(path);
    match open() {
        Ok(file) => return Ok(file),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(path)(e)),
    }
    let dir = path
        .parent()
        .expect("day_path always has a parent directory");
    let name = path
        .file_name()
        .expect("day_path always ends in a file name");
    let tmp = dir.join(format!(
        "{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));

    // Store::retain may remove an empty market directory between our mkdir and our create;
    // one retry covers that.
    let mut attempt = 0;
    let created = loop {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        match write_new_file(&tmp, format, market_id, day) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempt == 0 => attempt += 1,
            other => break other,
        }
    };
    if let Err(e) = created {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(&tmp)(e));
    }
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        // Another writer won the race: use its file (the lock decides who writes).
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err(path)(e)),
    }
    open().map_err(io_err(path))
}

fn write_new_file(tmp: &Path, format: Format, market_id: &str, day: i64) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(tmp)?;
    file.write_all(&Header::new(format, market_id, day).to_bytes())?;
    file.set_len(format.file_len())
}

/// Reads and validates the header and length of an open day file.
fn read_header(file: &File, format: Format, path: &Path) -> Result<Header, StoreError> {
    let len = file.metadata().map_err(io_err(path))?.len();
    let mut page = [0u8; 104];
    if len < page.len() as u64 {
        return Err(StoreError::Truncated {
            path: path.to_path_buf(),
            kind: format.kind,
            len,
            expected: format.file_len(),
        });
    }
    file.read_exact_at(&mut page, 0).map_err(io_err(path))?;
    let header = Header::parse(&page);
    header.validate(format, path, len)?;
    Ok(header)
}

/// Takes the exclusive advisory lock that makes a writer the file's only writer.
fn lock_exclusive(file: &File, path: &Path) -> Result<(), StoreError> {
    // SAFETY: flock only reads its arguments; the descriptor belongs to `file`, which is open
    // for the duration of the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Err(StoreError::Locked {
            path: path.to_path_buf(),
        })
    } else {
        Err(io_err(path)(err))
    }
}
