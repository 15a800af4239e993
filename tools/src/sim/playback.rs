//! `squeezeflow sim --tape FILE`: serve a recording back over the real protocol.
//!
//! A recording is one or more capture files (`.sfcap`, [`engine::capture`]; a directory means
//! every capture file under it) or JSONL tapes ([`engine::tape`]). Each venue in it gets a
//! loopback listener at the venue's real WebSocket path (Binance spot `/ws…` and `/stream…`,
//! USDⓈ-M the same under `/public/`, `/market/` or unrouted, the others at [`ws_path`]). The k-th connection accepted for a
//! venue receives the frames of the k-th connection recorded for it, in order, text as text and
//! binary as binary, at the recorded pace scaled by `speed` (or as fast as the socket takes
//! them). After the last frame the connection stays open (idle) until the client closes it.
//! Connections beyond those recorded are accepted and get nothing.
//!
//! The client's WebSocket pings are answered (pong); text keepalives are answered where the
//! venue's answer is fixed (OKX and Bitget `ping` → `pong`, Bybit `{"op":"ping"}`); every other
//! client message (subscribe requests, HTX pongs …) is counted and otherwise ignored: the
//! recorded replies to them are in the recording already.
//!
//! The whole recording is loaded into memory first.

use crate::sim::venues::ws_path;
use anyhow::Context as _;
use engine::capture::{CaptureReader, RecordKind};
use engine::tape::{detect_file, TapeKind, TapeReader};
use feeds::Venue;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufReader, ErrorKind};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::StatusCode;
use tungstenite::{Bytes, Message, Utf8Bytes, WebSocket};

/// One recorded frame.
#[derive(Debug, Clone)]
pub struct RecordedFrame {
    /// Receive time (monotonic ns for captures, the tape's `ts_ns` for JSONL).
    pub at_ns: u64,
    pub binary: bool,
    pub payload: Bytes,
}

/// One recorded connection of a venue.
#[derive(Debug, Clone)]
pub struct RecordedConn {
    pub venue: Venue,
    /// The URL it was opened to (captures only).
    pub url: Option<String>,
    /// When it was opened (captures only), on the frames' clock.
    pub opened_ns: Option<u64>,
    pub frames: Vec<RecordedFrame>,
}

/// A loaded recording.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    /// Connections in order of opening (first frame for JSONL), all venues mixed.
    pub conns: Vec<RecordedConn>,
    /// Damaged tails and unreadable lines/records skipped while loading, with their messages.
    pub problems: Vec<String>,
}

impl Recording {
    /// Load capture files and JSONL tapes (a directory = every capture file under it).
    pub fn load(paths: &[PathBuf]) -> anyhow::Result<Recording> {
        let mut rec = Recording::default();
        for path in paths {
            if path.is_dir() {
                let files = engine::capture::capture_files(path)
                    .with_context(|| format!("listing {}", path.display()))?;
                anyhow::ensure!(!files.is_empty(), "{}: no capture files", path.display());
                for f in files {
                    rec.load_file(&f)?;
                }
            } else {
                rec.load_file(path)?;
            }
        }
        Ok(rec)
    }

    /// The venues in the recording, in order of first connection.
    pub fn venues(&self) -> Vec<Venue> {
        let mut v: Vec<Venue> = Vec::new();
        for c in &self.conns {
            if !v.contains(&c.venue) {
                v.push(c.venue);
            }
        }
        v
    }

    /// Frames recorded (all connections).
    pub fn frames(&self) -> u64 {
        self.conns.iter().map(|c| c.frames.len() as u64).sum()
    }

    fn load_file(&mut self, path: &Path) -> anyhow::Result<()> {
        let open = || {
            std::fs::File::open(path)
                .map(|f| BufReader::with_capacity(1 << 20, f))
                .with_context(|| format!("opening {}", path.display()))
        };
        match detect_file(path).with_context(|| format!("reading {}", path.display()))? {
            TapeKind::Capture => {
                let mut r = CaptureReader::new(open()?)
                    .with_context(|| format!("reading {}", path.display()))?;
                let feed = r.header().feed;
                // (feed, connection serial) → index in `conns`; an open marker starts a new one.
                let mut current: HashMap<(u16, u64), usize> = HashMap::new();
                loop {
                    match r.next_record() {
                        Ok(Some(x)) => {
                            let Some(venue) = x.venue else {
                                self.problems.push(format!(
                                    "{}: byte {}: venue id {} unknown; record skipped",
                                    path.display(),
                                    x.offset,
                                    x.venue_id
                                ));
                                continue;
                            };
                            let key = (feed, x.conn);
                            if x.kind == RecordKind::Open {
                                current.insert(key, self.conns.len());
                                self.conns.push(RecordedConn {
                                    venue,
                                    url: Some(String::from_utf8_lossy(x.payload).into_owned()),
                                    opened_ns: Some(x.mono_ns),
                                    frames: Vec::new(),
                                });
                                continue;
                            }
                            let idx = *current.entry(key).or_insert_with(|| {
                                self.conns.push(RecordedConn {
                                    venue,
                                    url: None,
                                    opened_ns: None,
                                    frames: Vec::new(),
                                });
                                self.conns.len() - 1
                            });
                            self.conns[idx].frames.push(RecordedFrame {
                                at_ns: x.mono_ns,
                                binary: x.kind == RecordKind::Binary,
                                payload: Bytes::copy_from_slice(x.payload),
                            });
                        }
                        Ok(None) => break,
                        Err(engine::capture::CaptureError::Io(e)) => {
                            return Err(e).with_context(|| format!("reading {}", path.display()))
                        }
                        Err(e) => {
                            self.problems.push(format!("{}: {e}", path.display()));
                            break;
                        }
                    }
                }
            }
            TapeKind::Jsonl => {
                let mut r = TapeReader::new(open()?);
                let mut current: HashMap<u64, usize> = HashMap::new();
                loop {
                    match r.next_record() {
                        Ok(Some(x)) => {
                            let venue = x.venue;
                            let idx = *current.entry(x.conn).or_insert_with(|| {
                                self.conns.push(RecordedConn {
                                    venue,
                                    url: None,
                                    opened_ns: None,
                                    frames: Vec::new(),
                                });
                                self.conns.len() - 1
                            });
                            self.conns[idx].frames.push(RecordedFrame {
                                at_ns: x.ts_ns,
                                binary: false,
                                payload: Bytes::copy_from_slice(x.frame),
                            });
                        }
                        Ok(None) => break,
                        Err(engine::tape::TapeError::Io(e)) => {
                            return Err(e).with_context(|| format!("reading {}", path.display()))
                        }
                        Err(e) => self.problems.push(format!("{}: {e}", path.display())),
                    }
                }
            }
        }
        Ok(())
    }
}

/// Counters of one venue's listener.
#[derive(Debug, Default)]
pub struct PlaybackCounters {
    pub connections: AtomicU64,
    /// Connections beyond the recorded ones (served nothing).
    pub unmatched: AtomicU64,
    pub frames_sent: AtomicU64,
    /// Connections whose recorded frames have all been sent.
    pub finished: AtomicU64,
    pub pings_answered: AtomicU64,
    pub client_messages: AtomicU64,
    /// Handshakes refused (wrong path) or failed, and connections that ended in an error.
    pub errors: AtomicU64,
}

/// A snapshot of one venue's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaybackStats {
    pub venue: Venue,
    pub recorded_connections: u64,
    pub recorded_frames: u64,
    pub connections: u64,
    pub unmatched: u64,
    pub frames_sent: u64,
    pub finished: u64,
    pub pings_answered: u64,
    pub client_messages: u64,
    pub errors: u64,
}

#[derive(Debug)]
struct VenueServer {
    venue: Venue,
    port: u16,
    path: String,
    conns: Arc<Vec<RecordedConn>>,
    counters: Arc<PlaybackCounters>,
}

/// The running playback server.
#[derive(Debug)]
pub struct Playback {
    venues: Vec<VenueServer>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// The recorded path (and query) of a URL, if it has one.
fn url_path(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    rest.find('/').map(|i| &rest[i..])
}

/// Whether a client may open `target` on `venue` (its real paths).
fn path_ok(venue: Venue, target: &str) -> bool {
    let path = target.split('?').next().unwrap_or("");
    match venue {
        Venue::BinanceSpot => path.starts_with("/ws") || path.starts_with("/stream"),
        // USDⓈ-M: every route Binance serves (`/public`, `/market`, and unrouted, which acts
        // as `/public`); the recording holds whatever the recorded route delivered.
        Venue::BinanceUsdm => {
            let path = ["/public", "/market"]
                .iter()
                .find_map(|p| path.strip_prefix(p).filter(|rest| rest.starts_with('/')))
                .unwrap_or(path);
            path.starts_with("/ws") || path.starts_with("/stream")
        }
        other => match ws_path(other) {
            Some(p) => path == p || (p == "/" && path.is_empty()),
            None => true,
        },
    }
}

impl Playback {
    /// Listen for every venue of `recording` on `127.0.0.1` (free ports) and serve it at
    /// `speed` × the recorded pace (`None`: as fast as the sockets take it).
    pub fn start(recording: Recording, speed: Option<f64>) -> anyhow::Result<Playback> {
        if let Some(s) = speed {
            anyhow::ensure!(s.is_finite() && s > 0.0, "speed must be > 0 (or max)");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut by_venue: BTreeMap<usize, Vec<RecordedConn>> = BTreeMap::new();
        let order = recording.venues();
        for c in recording.conns {
            let i = order.iter().position(|v| *v == c.venue).unwrap_or(0);
            by_venue.entry(i).or_default().push(c);
        }
        let mut venues = Vec::new();
        let mut threads = Vec::new();
        for (i, conns) in by_venue {
            let venue = order[i];
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .with_context(|| format!("binding a listener for {venue}"))?;
            listener.set_nonblocking(true)?;
            let port = listener.local_addr()?.port();
            let path = conns
                .iter()
                .find_map(|c| c.url.as_deref().and_then(url_path))
                .map(str::to_string)
                .unwrap_or_else(|| match venue {
                    Venue::BinanceSpot => "/ws".to_string(),
                    Venue::BinanceUsdm => "/market/ws".to_string(),
                    v => ws_path(v).unwrap_or("/").to_string(),
                });
            let conns = Arc::new(conns);
            let counters = Arc::new(PlaybackCounters::default());
            let (c2, k2, s2) = (conns.clone(), counters.clone(), stop.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("playback-{}", venue.name()))
                    .spawn(move || accept_loop(venue, listener, c2, k2, s2, speed))?,
            );
            venues.push(VenueServer {
                venue,
                port,
                path,
                conns,
                counters,
            });
        }
        Ok(Playback {
            venues,
            stop,
            threads,
        })
    }

    /// The venues served, in order of first recorded connection.
    pub fn venues(&self) -> Vec<Venue> {
        self.venues.iter().map(|v| v.venue).collect()
    }

    /// `ws://127.0.0.1:<port>` of a venue (a feed's `url` override).
    pub fn base_url(&self, venue: Venue) -> Option<String> {
        self.venues
            .iter()
            .find(|v| v.venue == venue)
            .map(|v| format!("ws://127.0.0.1:{}", v.port))
    }

    /// The full URL of a venue: base and the recorded (or real) path.
    pub fn url(&self, venue: Venue) -> Option<String> {
        self.venues
            .iter()
            .find(|v| v.venue == venue)
            .map(|v| format!("ws://127.0.0.1:{}{}", v.port, v.path))
    }

    /// Counters of every venue.
    pub fn stats(&self) -> Vec<PlaybackStats> {
        self.venues
            .iter()
            .map(|v| {
                let c = &v.counters;
                PlaybackStats {
                    venue: v.venue,
                    recorded_connections: v.conns.len() as u64,
                    recorded_frames: v.conns.iter().map(|c| c.frames.len() as u64).sum(),
                    connections: c.connections.load(Ordering::Relaxed),
                    unmatched: c.unmatched.load(Ordering::Relaxed),
                    frames_sent: c.frames_sent.load(Ordering::Relaxed),
                    finished: c.finished.load(Ordering::Relaxed),
                    pings_answered: c.pings_answered.load(Ordering::Relaxed),
                    client_messages: c.client_messages.load(Ordering::Relaxed),
                    errors: c.errors.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Whether every recorded connection has been served to the end.
    pub fn all_sent(&self) -> bool {
        self.stats()
            .iter()
            .all(|s| s.finished >= s.recorded_connections)
    }

    /// Close every connection and stop the listeners.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn accept_loop(
    venue: Venue,
    listener: TcpListener,
    conns: Arc<Vec<RecordedConn>>,
    counters: Arc<PlaybackCounters>,
    stop: Arc<AtomicBool>,
    speed: Option<f64>,
) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut handlers: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, _)) => {
                let (conns, counters, stop, next) =
                    (conns.clone(), counters.clone(), stop.clone(), next.clone());
                let spawned = std::thread::Builder::new()
                    .name(format!("playback-{}-conn", venue.name()))
                    .spawn(move || {
                        if let Err(e) = serve(venue, stream, &conns, &counters, &stop, &next, speed)
                        {
                            counters.errors.fetch_add(1, Ordering::Relaxed);
                            log::warn!("playback {venue}: {e}");
                        }
                    });
                match spawned {
                    Ok(h) => handlers.push(h),
                    Err(e) => log::error!("playback {venue}: cannot start a thread: {e}"),
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => {
                log::warn!("playback {venue}: accept: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        handlers.retain(|h| !h.is_finished());
    }
    for h in handlers {
        let _ = h.join();
    }
}

/// Whether the client is gone.
#[derive(Debug, PartialEq, Eq)]
enum Peer {
    Here,
    Gone,
}

// The handshake callback's error type is tungstenite's (a whole HTTP response).
#[allow(clippy::result_large_err)]
fn serve(
    venue: Venue,
    stream: TcpStream,
    conns: &[RecordedConn],
    counters: &PlaybackCounters,
    stop: &AtomicBool,
    next: &AtomicUsize,
    speed: Option<f64>,
) -> anyhow::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut refused = false;
    let callback = |req: &Request, resp: Response| {
        let uri = req.uri();
        let target = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
        if path_ok(venue, target) {
            Ok(resp)
        } else {
            refused = true;
            let mut r = ErrorResponse::new(Some("Not Found".to_string()));
            *r.status_mut() = StatusCode::NOT_FOUND;
            Err(r)
        }
    };
    let accepted = tungstenite::accept_hdr(stream, callback).map_err(|e| e.to_string());
    if refused {
        anyhow::bail!("refused a connection to a path {venue} does not serve");
    }
    let mut ws = accepted.map_err(|e| anyhow::anyhow!("handshake: {e}"))?;
    counters.connections.fetch_add(1, Ordering::Relaxed);
    let k = next.fetch_add(1, Ordering::Relaxed);
    let Some(rec) = conns.get(k) else {
        counters.unmatched.fetch_add(1, Ordering::Relaxed);
        idle(venue, &mut ws, counters, stop, Duration::MAX)?;
        return Ok(());
    };
    let started = Instant::now();
    let base = rec
        .opened_ns
        .or_else(|| rec.frames.first().map(|f| f.at_ns))
        .unwrap_or(0);
    for (i, f) in rec.frames.iter().enumerate() {
        if stop.load(Ordering::Acquire) {
            let _ = ws.close(None);
            return Ok(());
        }
        if let Some(s) = speed {
            let due = Duration::from_nanos((f.at_ns.saturating_sub(base) as f64 / s) as u64);
            while started.elapsed() < due {
                let wait = (due - started.elapsed()).min(Duration::from_millis(20));
                if poll(venue, &mut ws, counters, wait)? == Peer::Gone {
                    return Ok(());
                }
            }
        } else if i % 256 == 255 && poll(venue, &mut ws, counters, Duration::ZERO)? == Peer::Gone {
            return Ok(());
        }
        let msg = if f.binary {
            Message::Binary(f.payload.clone())
        } else {
            match Utf8Bytes::try_from(f.payload.clone()) {
                Ok(t) => Message::Text(t),
                // Recorded as text but not UTF-8: sent byte for byte in a binary frame.
                Err(_) => Message::Binary(f.payload.clone()),
            }
        };
        match ws.send(msg) {
            Ok(()) => {
                counters.frames_sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return Ok(())
            }
            Err(e) => anyhow::bail!("sending: {e}"),
        }
    }
    counters.finished.fetch_add(1, Ordering::Relaxed);
    idle(venue, &mut ws, counters, stop, Duration::MAX)
}

/// Keep answering until the client leaves or the playback stops.
fn idle(
    venue: Venue,
    ws: &mut WebSocket<TcpStream>,
    counters: &PlaybackCounters,
    stop: &AtomicBool,
    _for: Duration,
) -> anyhow::Result<()> {
    while !stop.load(Ordering::Acquire) {
        if poll(venue, ws, counters, Duration::from_millis(50))? == Peer::Gone {
            return Ok(());
        }
    }
    let _ = ws.close(None);
    let _ = ws.flush();
    Ok(())
}

/// Read what the client sent within `wait` and answer keepalives.
fn poll(
    venue: Venue,
    ws: &mut WebSocket<TcpStream>,
    counters: &PlaybackCounters,
    wait: Duration,
) -> anyhow::Result<Peer> {
    ws.get_mut()
        .set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
    loop {
        match ws.read() {
            Ok(Message::Ping(_)) => {
                // tungstenite queued the pong; send it now.
                counters.pings_answered.fetch_add(1, Ordering::Relaxed);
                flush(ws)?;
            }
            Ok(Message::Text(t)) => {
                counters.client_messages.fetch_add(1, Ordering::Relaxed);
                if let Some(answer) = keepalive_answer(venue, t.as_str()) {
                    counters.pings_answered.fetch_add(1, Ordering::Relaxed);
                    ws.send(Message::text(answer))?;
                }
            }
            Ok(Message::Close(_)) => {
                let _ = ws.flush();
                return Ok(Peer::Gone);
            }
            Ok(_) => {
                counters.client_messages.fetch_add(1, Ordering::Relaxed);
            }
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                return Ok(Peer::Here)
            }
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return Ok(Peer::Gone)
            }
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof
                ) =>
            {
                return Ok(Peer::Gone)
            }
            Err(tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            )) => return Ok(Peer::Gone),
            Err(e) => anyhow::bail!("reading: {e}"),
        }
    }
}

fn flush(ws: &mut WebSocket<TcpStream>) -> anyhow::Result<()> {
    match ws.flush() {
        Ok(()) => Ok(()),
        Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => Ok(()),
        Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => Ok(()),
        Err(e) => Err(anyhow::anyhow!("flushing: {e}")),
    }
}

/// The fixed answer to a client's text keepalive, where the venue has one.
fn keepalive_answer(venue: Venue, text: &str) -> Option<String> {
    match venue {
        Venue::OkxSpot | Venue::OkxSwap | Venue::OkxFutures | Venue::Bitget | Venue::BitgetSpot
            if text == "ping" =>
        {
            Some("pong".to_string())
        }
        Venue::BybitLinear | Venue::BybitInverse | Venue::BybitSpot => {
            let v: serde_json::Value = serde_json::from_str(text).ok()?;
            (v.get("op")?.as_str()? == "ping").then(|| {
                let req_id = v.get("req_id").cloned().unwrap_or(serde_json::Value::Null);
                serde_json::json!({
                    "success": true,
                    "ret_msg": "pong",
                    "conn_id": "playback",
                    "req_id": req_id,
                    "op": "ping"
                })
                .to_string()
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_paths_only() {
        assert!(path_ok(Venue::BinanceSpot, "/stream?streams=btcusdt@trade"));
        assert!(path_ok(Venue::BinanceSpot, "/ws/btcusdt@trade"));
        assert!(!path_ok(Venue::BinanceSpot, "/market/ws"));
        assert!(path_ok(Venue::BinanceUsdm, "/market/stream?streams=x"));
        assert!(path_ok(Venue::BinanceUsdm, "/public/ws/0"));
        assert!(path_ok(Venue::BinanceUsdm, "/stream?streams=x"));
        assert!(!path_ok(Venue::BinanceUsdm, "/private/ws"));
        assert!(!path_ok(Venue::BinanceUsdm, "/market"));
        assert!(path_ok(Venue::Huobi, "/ws"));
        assert!(!path_ok(Venue::Huobi, "/linear-swap-ws"));
        assert!(path_ok(Venue::Coinbase, "/"));
        assert_eq!(
            url_path("ws://h:1/stream?streams=a"),
            Some("/stream?streams=a")
        );
        assert_eq!(url_path("ws://h:1"), None);
    }

    #[test]
    fn keepalives() {
        assert_eq!(
            keepalive_answer(Venue::OkxSwap, "ping").as_deref(),
            Some("pong")
        );
        assert_eq!(keepalive_answer(Venue::Huobi, "ping"), None);
        let a = keepalive_answer(Venue::BybitLinear, r#"{"op":"ping","req_id":"7"}"#).unwrap();
        assert!(a.contains(r#""op":"ping""#) && a.contains(r#""req_id":"7""#));
        assert_eq!(
            keepalive_answer(Venue::BybitLinear, r#"{"op":"subscribe"}"#),
            None
        );
    }
}
