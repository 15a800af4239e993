//! The writer thread: empties every feed thread's capture ring into rotated files and applies
//! retention.

use super::CaptureConfig;
use super::{capture_channel, CaptureHeader, CaptureRx, CaptureTx, TxCounters, RECORD_HEADER};
use crate::stats::Counter;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// File name extension of capture files.
pub const EXTENSION: &str = "sfcap";

/// Rotation, retention and sizing in the writer's units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Start a new file once the current one holds this many bytes.
    pub rotate_bytes: u64,
    /// … or is this old.
    pub rotate_age: Duration,
    /// Delete files older than this (`None`: no age limit).
    pub retain_age: Option<Duration>,
    /// Delete the oldest files while all of them together exceed this (`None`: no limit).
    pub retain_bytes: Option<u64>,
    /// Bytes of each feed thread's ring.
    pub ring_bytes: usize,
    /// How often open files are written back (fdatasync).
    pub sync_every: Duration,
    /// How often retention runs (also after every rotation).
    pub retain_every: Duration,
}

impl Limits {
    /// The limits a `[capture]` section asks for.
    pub fn from_config(c: &CaptureConfig) -> Limits {
        let mb = |x: f64| (x.max(0.0) * 1024.0 * 1024.0) as u64;
        Limits {
            rotate_bytes: mb(c.rotate_mb).max(1),
            rotate_age: Duration::from_secs_f64((c.rotate_minutes * 60.0).max(0.001)),
            retain_age: (c.retain_hours > 0.0)
                .then(|| Duration::from_secs_f64(c.retain_hours * 3600.0)),
            retain_bytes: (c.retain_gb > 0.0).then_some((c.retain_gb * (1u64 << 30) as f64) as u64),
            ring_bytes: mb(c.ring_mb).max(4096) as usize,
            sync_every: Duration::from_secs(1),
            retain_every: Duration::from_secs(60),
        }
    }
}

/// What the writer thread counts (single writer: that thread).
#[derive(Debug, Default)]
pub struct WriterCounters {
    pub records: Counter,
    pub bytes: Counter,
    pub files_created: Counter,
    pub files_deleted: Counter,
    pub fsyncs: Counter,
    pub write_errors: Counter,
    /// Records lost because writing them failed.
    pub lost_on_error: Counter,
}

/// Totals over the writer and every feed thread's ring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Records the feed threads put in their rings.
    pub captured: u64,
    /// Frames left out because a ring was full.
    pub dropped_full: u64,
    /// Frames left out because one was larger than a ring.
    pub dropped_too_big: u64,
    /// Records (and bytes, headers included) written to files.
    pub written: u64,
    pub bytes_written: u64,
    pub files_created: u64,
    pub files_deleted: u64,
    pub fsyncs: u64,
    pub write_errors: u64,
    pub lost_on_error: u64,
}

/// The running writer thread.
#[derive(Debug)]
pub struct CaptureWriter {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<WriterCounters>,
    tx_counters: Vec<Arc<TxCounters>>,
    dir: PathBuf,
}

impl CaptureWriter {
    /// Start the writer for `feeds` feed threads writing under `dir`; returns one
    /// [`CaptureTx`] per feed thread (index = feed id). The thread is pinned to `core`.
    pub fn start(
        dir: &Path,
        limits: Limits,
        feeds: usize,
        core: Option<usize>,
    ) -> io::Result<(CaptureWriter, Vec<CaptureTx>)> {
        std::fs::create_dir_all(dir)?;
        let mut txs = Vec::with_capacity(feeds);
        let mut lanes = Vec::with_capacity(feeds);
        let mut tx_counters = Vec::with_capacity(feeds);
        for f in 0..feeds {
            let (tx, rx) = capture_channel(limits.ring_bytes);
            tx_counters.push(tx.counters().clone());
            let cap = rx.capacity();
            lanes.push(Lane {
                feed: f as u16,
                rx,
                stage: vec![0; cap],
                filled: 0,
                file: None,
                dropped_seen: 0,
            });
            txs.push(tx);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(WriterCounters::default());
        let mut w = Worker {
            dir: dir.to_path_buf(),
            limits,
            lanes,
            counters: counters.clone(),
            stop: stop.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("capture".to_string())
            .spawn(move || {
                crate::runtime::pin_current(core, "capture");
                w.run();
            })?;
        log::info!(
            "capture: recording raw frames of {feeds} feed threads under {} ({} KiB ring each)",
            dir.display(),
            limits.ring_bytes / 1024
        );
        Ok((
            CaptureWriter {
                stop,
                thread: Some(thread),
                counters,
                tx_counters,
                dir: dir.to_path_buf(),
            },
            txs,
        ))
    }

    /// Where the files go.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The counters now.
    pub fn stats(&self) -> CaptureStats {
        let c = &self.counters;
        let mut s = CaptureStats {
            written: c.records.get(),
            bytes_written: c.bytes.get(),
            files_created: c.files_created.get(),
            files_deleted: c.files_deleted.get(),
            fsyncs: c.fsyncs.get(),
            write_errors: c.write_errors.get(),
            lost_on_error: c.lost_on_error.get(),
            ..CaptureStats::default()
        };
        for t in &self.tx_counters {
            s.captured += t.records.get();
            s.dropped_full += t.dropped_full.get();
            s.dropped_too_big += t.dropped_too_big.get();
        }
        s
    }

    /// Write what the rings still hold, flush and fsync every file, stop the thread. Call it
    /// after the feed threads have stopped (or dropped their [`CaptureTx`]).
    pub fn finish(mut self) -> CaptureStats {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                log::error!("capture: writer thread panicked");
            }
        }
        let s = self.stats();
        log::info!(
            "capture: {} records ({:.1} MB) written to {} files, {} dropped (ring full), {} too big, {} write errors",
            s.written,
            s.bytes_written as f64 / 1e6,
            s.files_created,
            s.dropped_full,
            s.dropped_too_big,
            s.write_errors
        );
        s
    }
}

impl Drop for CaptureWriter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Debug)]
struct OpenFile {
    path: PathBuf,
    out: BufWriter<File>,
    bytes: u64,
    opened: Instant,
}

#[derive(Debug)]
struct Lane {
    feed: u16,
    rx: CaptureRx,
    /// Bytes taken from the ring, not yet written (at most one partial record at the end).
    stage: Vec<u8>,
    filled: usize,
    file: Option<OpenFile>,
    dropped_seen: u64,
}

#[derive(Debug)]
struct Worker {
    dir: PathBuf,
    limits: Limits,
    lanes: Vec<Lane>,
    counters: Arc<WriterCounters>,
    stop: Arc<AtomicBool>,
}

impl Worker {
    fn run(&mut self) {
        let mut last_sync = Instant::now();
        let mut last_retain: Option<Instant> = None;
        let mut last_drop_check = Instant::now();
        loop {
            // Read the flag first: whatever was pushed before it was set is drained below.
            let stopping = self.stop.load(Ordering::Acquire);
            let mut moved = 0usize;
            let mut rotated = false;
            for i in 0..self.lanes.len() {
                let (n, r) = self.drain_lane(i);
                moved += n;
                rotated |= r;
            }
            if stopping && moved == 0 {
                break;
            }
            let now = Instant::now();
            for i in 0..self.lanes.len() {
                let old = self.lanes[i]
                    .file
                    .as_ref()
                    .is_some_and(|f| f.opened.elapsed() >= self.limits.rotate_age);
                if old {
                    self.close_file(i);
                    rotated = true;
                }
            }
            if now.duration_since(last_sync) >= self.limits.sync_every {
                last_sync = now;
                for i in 0..self.lanes.len() {
                    self.sync_file(i);
                }
            }
            if rotated || last_retain.is_none_or(|t| t.elapsed() >= self.limits.retain_every) {
                last_retain = Some(now);
                self.retain();
            }
            if now.duration_since(last_drop_check) >= Duration::from_secs(1) {
                last_drop_check = now;
                self.report_drops();
            }
            if moved == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        self.report_drops();
        for i in 0..self.lanes.len() {
            self.close_file(i);
        }
        self.retain();
    }

    fn report_drops(&mut self) {
        for lane in &mut self.lanes {
            let d =
                lane.rx.counters().dropped_full.get() + lane.rx.counters().dropped_too_big.get();
            if d > lane.dropped_seen {
                log::warn!(
                    "capture: feed {}: {} frames left out of the capture (ring full or frame too big; {} in total); the feed itself lost nothing — raise [capture] ring_mb or check the disk",
                    lane.feed,
                    d - lane.dropped_seen,
                    d
                );
                lane.dropped_seen = d;
            }
        }
    }

    /// Move what lane `i`'s ring holds into its file. Returns (bytes moved, rotated).
    fn drain_lane(&mut self, i: usize) -> (usize, bool) {
        let mut moved = 0;
        let mut rotated = false;
        loop {
            let lane = &mut self.lanes[i];
            let n = lane.rx.pop_bytes(&mut lane.stage[lane.filled..]);
            lane.filled += n;
            moved += n;
            let mut pos = 0;
            while lane.filled - pos >= RECORD_HEADER {
                let len = u32::from_le_bytes([
                    lane.stage[pos],
                    lane.stage[pos + 1],
                    lane.stage[pos + 2],
                    lane.stage[pos + 3],
                ]) as usize;
                let end = pos + RECORD_HEADER + len;
                if end > lane.filled {
                    break;
                }
                let mut h = [0u8; RECORD_HEADER];
                h.copy_from_slice(&lane.stage[pos..pos + RECORD_HEADER]);
                engine_core::capture::seal(&mut h, &lane.stage[pos + RECORD_HEADER..end]);
                lane.stage[pos..pos + RECORD_HEADER].copy_from_slice(&h);
                rotated |= write_record(&self.dir, &self.limits, &self.counters, lane, pos, end);
                pos = end;
            }
            let lane = &mut self.lanes[i];
            lane.stage.copy_within(pos..lane.filled, 0);
            lane.filled -= pos;
            if n == 0 {
                return (moved, rotated);
            }
        }
    }

    fn close_file(&mut self, i: usize) {
        if let Some(f) = self.lanes[i].file.take() {
            close(f, &self.counters);
        }
    }

    fn sync_file(&mut self, i: usize) {
        let counters = &self.counters;
        if let Some(f) = self.lanes[i].file.as_mut() {
            let r = f.out.flush().and_then(|()| f.out.get_ref().sync_data());
            match r {
                Ok(()) => counters.fsyncs.inc(),
                Err(e) => {
                    counters.write_errors.inc();
                    log::error!("capture: syncing {}: {e}", f.path.display());
                }
            }
        }
    }

    /// Delete what the age and size limits say must go (never a file still being written).
    fn retain(&mut self) {
        if self.limits.retain_age.is_none() && self.limits.retain_bytes.is_none() {
            return;
        }
        let open: Vec<&Path> = self
            .lanes
            .iter()
            .filter_map(|l| l.file.as_ref().map(|f| f.path.as_path()))
            .collect();
        let mut files = match list_files(&self.dir) {
            Ok(f) => f,
            Err(e) => {
                log::error!("capture: listing {}: {e}", self.dir.display());
                return;
            }
        };
        // Oldest first: by modification time, then by name (date dir, time of day).
        files.sort_by(|a, b| (a.modified, &a.path).cmp(&(b.modified, &b.path)));
        let now = SystemTime::now();
        let mut total: u64 = files.iter().map(|f| f.len).sum();
        for f in &files {
            if open.contains(&f.path.as_path()) {
                continue;
            }
            let too_old = self
                .limits
                .retain_age
                .is_some_and(|age| now.duration_since(f.modified).unwrap_or_default() > age);
            let too_big = self.limits.retain_bytes.is_some_and(|max| total > max);
            if !(too_old || too_big) {
                continue;
            }
            match std::fs::remove_file(&f.path) {
                Ok(()) => {
                    total -= f.len;
                    self.counters.files_deleted.inc();
                    log::info!(
                        "capture: retention deleted {} ({})",
                        f.path.display(),
                        if too_old { "age" } else { "total size" }
                    );
                    if let Some(parent) = f.path.parent() {
                        // Only succeeds once the day directory is empty.
                        let _ = std::fs::remove_dir(parent);
                    }
                }
                Err(e) => log::error!("capture: deleting {}: {e}", f.path.display()),
            }
        }
    }
}

/// Write the sealed record `stage[pos..end]` of `lane`, opening or rotating its file as
/// needed. Returns whether a file was rotated.
fn write_record(
    dir: &Path,
    limits: &Limits,
    counters: &WriterCounters,
    lane: &mut Lane,
    pos: usize,
    end: usize,
) -> bool {
    let mut rotated = false;
    if lane
        .file
        .as_ref()
        .is_some_and(|f| f.bytes >= limits.rotate_bytes)
    {
        if let Some(f) = lane.file.take() {
            close(f, counters);
        }
        rotated = true;
    }
    if lane.file.is_none() {
        match create_file(dir, lane.feed) {
            Ok(f) => {
                counters.files_created.inc();
                log::info!("capture: writing {}", f.path.display());
                lane.file = Some(f);
            }
            Err(e) => {
                counters.write_errors.inc();
                counters.lost_on_error.inc();
                if counters.write_errors.get() <= 10 {
                    log::error!("capture: cannot create a file under {}: {e}", dir.display());
                }
                return rotated;
            }
        }
    }
    let Some(f) = lane.file.as_mut() else {
        return rotated;
    };
    let bytes = &lane.stage[pos..end];
    match f.out.write_all(bytes) {
        Ok(()) => {
            f.bytes += bytes.len() as u64;
            counters.records.inc();
            counters.bytes.add(bytes.len() as u64);
        }
        Err(e) => {
            counters.write_errors.inc();
            counters.lost_on_error.inc();
            log::error!(
                "capture: writing {}: {e}; starting a new file",
                f.path.display()
            );
            lane.file = None;
        }
    }
    rotated
}

fn close(mut f: OpenFile, counters: &WriterCounters) {
    let r = f.out.flush().and_then(|()| f.out.get_ref().sync_all());
    match r {
        Ok(()) => counters.fsyncs.inc(),
        Err(e) => {
            counters.write_errors.inc();
            log::error!("capture: closing {}: {e}", f.path.display());
        }
    }
}

/// `<dir>/<YYYY-MM-DD>/<HHMMSS>-feed<N>.sfcap` (UTC), `-<k>` added if that name is taken.
fn create_file(dir: &Path, feed: u16) -> io::Result<OpenFile> {
    let wall_ns = feeds::clock::wall_us().max(0) as u64 * 1000;
    let mono_ns = feeds::clock::mono_ns();
    let secs = (wall_ns / 1_000_000_000) as i64;
    let (y, m, d) = crate::store::civil_from_days(secs.div_euclid(86_400));
    let tod = secs.rem_euclid(86_400);
    let day_dir = dir.join(format!("{y:04}-{m:02}-{d:02}"));
    std::fs::create_dir_all(&day_dir)?;
    let stem = format!(
        "{:02}{:02}{:02}-feed{feed}",
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    );
    let mut k = 0u32;
    let (path, file) = loop {
        let name = if k == 0 {
            format!("{stem}.{EXTENSION}")
        } else {
            format!("{stem}-{k}.{EXTENSION}")
        };
        let path = day_dir.join(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => break (path, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && k < 10_000 => k += 1,
            Err(e) => return Err(e),
        }
    };
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let header = CaptureHeader::new(feed, wall_ns, mono_ns).encode();
    out.write_all(&header)?;
    Ok(OpenFile {
        path,
        out,
        bytes: header.len() as u64,
        opened: Instant::now(),
    })
}

#[derive(Debug)]
struct Listed {
    path: PathBuf,
    modified: SystemTime,
    len: u64,
}

/// Every capture file under `dir` (one level of day directories).
fn list_files(dir: &Path) -> io::Result<Vec<Listed>> {
    let mut out = Vec::new();
    for day in std::fs::read_dir(dir)? {
        let day = day?;
        if !day.file_type()?.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(day.path())? {
            let f = f?;
            let path = f.path();
            if path.extension().and_then(|e| e.to_str()) != Some(EXTENSION) {
                continue;
            }
            let meta = f.metadata()?;
            out.push(Listed {
                path,
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                len: meta.len(),
            });
        }
    }
    Ok(out)
}

/// Every capture file under `dir` (`<dir>/<day>/*.sfcap`), oldest first by name.
pub fn capture_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = list_files(dir)?.into_iter().map(|l| l.path).collect();
    v.sort();
    Ok(v)
}
