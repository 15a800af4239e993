//! A lean scheduled WebSocket sender: it speaks the server side of RFC 6455 (HTTP upgrade,
//! unmasked text frames, closing handshake) like a Binance combined-stream endpoint, and sends
//! the tape's frames on a fixed schedule, so receivers can measure latency from each frame's
//! *scheduled* send time (no coordinated omission: a stalled receiver still owes every frame
//! scheduled during the stall).

use crate::gen::{Tape, TapeSpec};
use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use feeds::clock::mono_ns;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Send stamps kept for the last this many frames (a ring; the socket buffers hold far fewer).
const STAMPS: usize = 1 << 20;
/// Frames written per batch when the sender is behind schedule.
const BATCH: u64 = 128;
/// Frames written per batch when unpaced (fewer syscalls: the sender should not be the limit).
const BATCH_UNPACED: u64 = 1024;
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// What to send.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// How frames are made.
    pub spec: TapeSpec,
    /// Pre-generated frames (else each is generated when it is sent).
    pub tape: Option<Arc<Tape>>,
    /// Connections the receiver opens (symbols are split among them).
    pub conns: usize,
    /// Frames to send; `None` = until stopped.
    pub frames: Option<u64>,
    /// Frames per second over all connections; 0 = as fast as the sockets take them.
    pub rate: f64,
}

/// When each frame was due, shared with receivers.
#[derive(Debug)]
pub struct Schedule {
    t0_ns: AtomicU64,
    interval_ns: f64,
    sent: Vec<AtomicU64>,
}

impl Schedule {
    fn new(rate: f64) -> Schedule {
        let sent: Vec<AtomicU64> = (0..STAMPS).map(|_| AtomicU64::new(0)).collect();
        // Touch every page now: a zeroed allocation is mapped lazily, and a soak would
        // otherwise see RSS grow by these 8 MiB as the ring fills.
        for s in &sent {
            s.store(0, Ordering::Relaxed);
        }
        Schedule {
            t0_ns: AtomicU64::new(0),
            interval_ns: if rate > 0.0 { 1e9 / rate } else { 0.0 },
            sent,
        }
    }

    /// The time frame `i` counts from: its scheduled send time when paced, else the time
    /// its batch was handed to the socket. `None` if unknown.
    #[inline]
    pub fn origin(&self, i: u64) -> Option<u64> {
        if self.interval_ns > 0.0 {
            let t0 = self.t0_ns.load(Ordering::Acquire);
            (t0 > 0).then(|| t0 + (i as f64 * self.interval_ns) as u64)
        } else {
            let s = self.sent[(i as usize) % STAMPS].load(Ordering::Acquire);
            (s > 0).then_some(s)
        }
    }

    /// When frame `i`'s batch was handed to the socket (`None` if unknown or overwritten).
    #[inline]
    pub fn sent(&self, i: u64) -> Option<u64> {
        let s = self.sent[(i as usize) % STAMPS].load(Ordering::Acquire);
        (s > 0).then_some(s)
    }

    /// When frame 0 was due (0 before the sender started).
    pub fn start_ns(&self) -> u64 {
        self.t0_ns.load(Ordering::Acquire)
    }
}

/// What the sender did.
#[derive(Debug, Clone, Copy, Default)]
pub struct SenderStats {
    /// Frames written to the sockets.
    pub frames: u64,
    /// Batches written later than 1 ms after their schedule (the receiver pushed back).
    pub late_batches: u64,
    /// CPU time of the sender thread, ns.
    pub cpu_ns: u64,
}

/// A running sender on a loopback port.
#[derive(Debug)]
pub struct Sender {
    /// The port receivers connect to.
    pub port: u16,
    /// Shared schedule and send stamps.
    pub schedule: Arc<Schedule>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<SenderStats>>>,
}

impl Sender {
    /// Listens on a free loopback port; sending starts once all `conns` connections are
    /// upgraded. `core` pins the sender thread.
    pub fn start(cfg: SenderConfig, core: Option<core_affinity::CoreId>) -> Result<Sender> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the sender")?;
        let port = listener.local_addr()?.port();
        let schedule = Arc::new(Schedule::new(cfg.rate));
        let stop = Arc::new(AtomicBool::new(false));
        let (sched, stop2) = (schedule.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("sender".into())
            .spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(c);
                }
                run(listener, &cfg, &sched, &stop2)
            })?;
        Ok(Sender {
            port,
            schedule,
            stop,
            thread: Some(thread),
        })
    }

    /// The URL of connection `conn`.
    pub fn url(&self, spec: &TapeSpec, conn: usize, conns: usize) -> String {
        format!("ws://127.0.0.1:{}{}", self.port, spec.path(conn, conns))
    }

    /// Asks an unbounded sender to finish (it then closes every connection).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Waits for the sender thread.
    pub fn join(mut self) -> Result<SenderStats> {
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| anyhow!("sender thread panicked"))?,
            None => Ok(SenderStats::default()),
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn run(
    listener: TcpListener,
    cfg: &SenderConfig,
    sched: &Schedule,
    stop: &AtomicBool,
) -> Result<SenderStats> {
    let conns = cfg.conns.max(1);
    let paths: Vec<String> = (0..conns).map(|c| cfg.spec.path(c, conns)).collect();
    let mut streams: Vec<Option<TcpStream>> = (0..conns).map(|_| None).collect();
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while streams.iter().any(Option::is_none) {
        if stop.load(Ordering::Acquire) || Instant::now() > deadline {
            bail!("receivers did not connect");
        }
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)?;
                s.set_nodelay(true)?;
                let path = upgrade(&s)?;
                let Some(c) = paths.iter().position(|p| *p == path) else {
                    bail!("unexpected path {path}");
                };
                streams[c] = Some(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut streams: Vec<TcpStream> = streams.into_iter().flatten().collect();
    let mut bufs: Vec<Vec<u8>> = (0..conns).map(|_| Vec::with_capacity(64 << 10)).collect();
    let mut payload = Vec::with_capacity(1024);
    let mut stats = SenderStats::default();
    let t0 = mono_ns() + 1_000_000;
    sched.t0_ns.store(t0, Ordering::Release);
    let paced = sched.interval_ns > 0.0;
    let mut i = 0u64;
    loop {
        if stop.load(Ordering::Acquire) || cfg.frames.is_some_and(|n| i >= n) {
            break;
        }
        let now = mono_ns();
        let due = if paced {
            if now < t0 {
                0
            } else {
                ((now - t0) as f64 / sched.interval_ns) as u64 + 1
            }
        } else {
            u64::MAX
        };
        if due <= i {
            // Wait for frame i's slot: sleep most of a long gap, spin the rest.
            let at = t0 + (i as f64 * sched.interval_ns) as u64;
            let left = at.saturating_sub(now);
            if left > 200_000 {
                std::thread::sleep(Duration::from_nanos(left - 100_000));
            } else {
                std::hint::spin_loop();
            }
            continue;
        }
        let batch = if paced { BATCH } else { BATCH_UNPACED };
        let end = due.min(i + batch).min(cfg.frames.unwrap_or(u64::MAX));
        if paced {
            let at = t0 + (i as f64 * sched.interval_ns) as u64;
            if now > at + 1_000_000 {
                stats.late_batches += 1;
            }
        }
        for j in i..end {
            let c = cfg.spec.conn_of(j, conns);
            let frame: &[u8] = match &cfg.tape {
                Some(t) if (j as usize) < t.len() => t.get(j as usize),
                _ => {
                    payload.clear();
                    cfg.spec.frame(j, &mut payload);
                    &payload
                }
            };
            frame_header(&mut bufs[c], 0x1, frame.len());
            bufs[c].extend_from_slice(frame);
        }
        let stamp = mono_ns();
        for j in i..end {
            sched.sent[(j as usize) % STAMPS].store(stamp, Ordering::Release);
        }
        for (s, buf) in streams.iter_mut().zip(bufs.iter_mut()) {
            if !buf.is_empty() {
                s.write_all(buf).context("sending frames")?;
                buf.clear();
            }
        }
        stats.frames += end - i;
        i = end;
    }
    // Closing handshake: close 1000, then read until the client closes its side.
    for s in streams.iter_mut() {
        let _ = s.write_all(&[0x88, 0x02, 0x03, 0xE8]);
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    }
    let mut sink = [0u8; 4096];
    for s in streams.iter_mut() {
        while let Ok(n) = s.read(&mut sink) {
            if n == 0 {
                break;
            }
        }
    }
    stats.cpu_ns = crate::thread_cpu_ns();
    Ok(stats)
}

/// A server frame header (FIN, unmasked) for a payload of `len` bytes.
fn frame_header(out: &mut Vec<u8>, opcode: u8, len: usize) {
    out.push(0x80 | opcode);
    if len < 126 {
        out.push(len as u8);
    } else if len <= 0xFFFF {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// Reads the client's upgrade request, answers 101, returns the request path.
fn upgrade(mut s: &TcpStream) -> Result<String> {
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut chunk)?;
        if n == 0 || req.len() > 16 << 10 {
            bail!("bad upgrade request");
        }
        req.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&req);
    let mut lines = text.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.strip_prefix("GET "))
        .and_then(|l| l.split(' ').next())
        .ok_or_else(|| anyhow!("not a GET"))?
        .to_string();
    let key = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("sec-websocket-key"))
        .map(|(_, v)| v.trim().to_string())
        .ok_or_else(|| anyhow!("no Sec-WebSocket-Key"))?;
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key.as_bytes());
    sha.update(WS_GUID.as_bytes());
    let accept = base64::engine::general_purpose::STANDARD.encode(sha.digest().bytes());
    write!(
        s,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )?;
    s.set_read_timeout(None)?;
    Ok(path)
}
