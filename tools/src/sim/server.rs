//! The WebSocket side of the simulator: a listener thread per venue and a thread per
//! connection, speaking Binance's protocol through tungstenite over std sockets.
//!
//! A connection thread owns its socket (non-blocking after the handshake) and its mailbox. Each
//! turn of its loop waits briefly for frames from the pump, writes them (in order, wrapped if the
//! connection is in combined mode), then reads whatever the client sent: requests, pongs, close.
//! Keepalive and limits follow Binance: server pings with a payload the pong must echo, a drop
//! when no pong arrives in time, close 1008 "Too many requests" above the incoming message
//! rate, and an optional maximum connection lifetime.

use super::binance::{self, Catalog, Method, Route, RouteError, StreamId, Tier, MAX_STREAMS};
use super::faults::{Action, ConnFaults};
use super::hub::{Mailbox, Outgoing};
use super::market::StreamKind;
use super::tape::TapeLine;
use super::{lock, wall_ns, Counters, Shared, SimVenue};
use serde_json::Value;
use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::StatusCode;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Bytes, Message, Utf8Bytes, WebSocket};

/// How long the listener sleeps when nobody is connecting.
const ACCEPT_POLL: Duration = Duration::from_millis(5);
/// How long a connection waits for frames before it looks at its socket again.
const POLL: Duration = Duration::from_millis(2);
/// Frames written per turn before the connection reads its socket again.
const BATCH: usize = 1024;
/// Frames a mailbox holds before its client counts as too slow.
const MAILBOX: usize = 1 << 16;
/// Bytes tungstenite may hold for a socket that does not drain before the client counts as
/// too slow.
const MAX_WRITE_BUFFER: usize = 16 << 20;
/// Incoming messages larger than this are refused (requests are a few hundred bytes).
const MAX_MESSAGE: usize = 64 << 10;
/// A client that does not finish the HTTP upgrade in this time is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a close we started waits for the client's close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Accepts connections on `listener` until the simulator stops, then joins them all.
pub(crate) fn run_listener(shared: Arc<Shared>, venue: SimVenue, listener: TcpListener) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    while !shared.stopping() {
        match listener.accept() {
            Ok((stream, peer)) => {
                let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
                log::debug!("sim {}: connection {conn} from {peer}", venue.feed_venue());
                let shared = Arc::clone(&shared);
                let spawned = thread::Builder::new()
                    .name(format!("sim-{}-{conn}", venue.feed_venue()))
                    .spawn(move || serve(&shared, venue, conn, stream));
                match spawned {
                    Ok(handle) => workers.push(handle),
                    Err(e) => log::warn!("sim: cannot start a connection thread: {e}"),
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(ACCEPT_POLL),
            Err(e) => {
                log::warn!("sim {}: accept: {e}", venue.feed_venue());
                thread::sleep(ACCEPT_POLL);
            }
        }
        // Reap finished connections so a long run does not pile up handles.
        let (done, running) = workers.into_iter().partition(|w| w.is_finished());
        workers = running;
        join_all(done);
    }
    join_all(workers);
}

fn join_all(workers: Vec<JoinHandle<()>>) {
    for w in workers {
        if w.join().is_err() {
            log::error!("sim: a connection thread panicked");
        }
    }
}

/// One connection, from the HTTP upgrade to the end.
fn serve(shared: &Arc<Shared>, venue: SimVenue, conn: u64, stream: TcpStream) {
    let counters = &shared.counters[venue as usize];
    let ws = match handshake(shared, venue, stream) {
        Ok(ws) => ws,
        Err(e) => {
            counters.handshakes_rejected.fetch_add(1, Ordering::Relaxed);
            log::debug!("sim {}: connection {conn} refused: {e}", venue.feed_venue());
            return;
        }
    };
    counters
        .connections_accepted
        .fetch_add(1, Ordering::Relaxed);
    counters.connections_open.fetch_add(1, Ordering::Relaxed);
    let (ws, route) = ws;
    let mut c = Connection::new(Arc::clone(shared), venue, conn, ws);
    c.combined = route.combined;
    c.tier = route.tier;
    c.subscribe(&route.streams);
    let end = c.run();
    c.leave();
    counters.connections_open.fetch_sub(1, Ordering::Relaxed);
    let end = end.err().unwrap_or(End::ClientClosed);
    let counter = match end {
        End::PongTimeout => Some(&counters.pong_timeouts),
        End::RateLimited => Some(&counters.rate_limited),
        End::SlowConsumer => Some(&counters.slow_consumers),
        _ => None,
    };
    if let Some(c) = counter {
        c.fetch_add(1, Ordering::Relaxed);
    }
    log::debug!(
        "sim {}: connection {conn} ended: {end:?}",
        venue.feed_venue()
    );
}

/// Why a handshake was refused.
#[derive(Debug)]
enum HandshakeFailure {
    Io(io::Error),
    Refused(RouteError),
    Protocol(String),
}

impl std::fmt::Display for HandshakeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeFailure::Io(e) => write!(f, "socket: {e}"),
            HandshakeFailure::Refused(RouteError::NotFound) => f.write_str("404 unknown path"),
            HandshakeFailure::Refused(RouteError::BadRequest(m)) => write!(f, "400 {m}"),
            HandshakeFailure::Protocol(e) => write!(f, "handshake: {e}"),
        }
    }
}

/// The HTTP upgrade: routes the path (404/400 for paths Binance does not serve) and leaves the
/// socket non-blocking for the connection loop.
// The callback's large error type (an HTTP response) is tungstenite's signature, not ours.
#[allow(clippy::result_large_err)]
fn handshake(
    shared: &Shared,
    venue: SimVenue,
    stream: TcpStream,
) -> Result<(WebSocket<TcpStream>, Route), HandshakeFailure> {
    stream
        .set_nonblocking(false)
        .map_err(HandshakeFailure::Io)?;
    stream
        .set_read_timeout(Some(HANDSHAKE_TIMEOUT))
        .map_err(HandshakeFailure::Io)?;
    stream
        .set_write_timeout(Some(HANDSHAKE_TIMEOUT))
        .map_err(HandshakeFailure::Io)?;
    stream.set_nodelay(true).map_err(HandshakeFailure::Io)?;
    let mut routed: Option<Result<Route, RouteError>> = None;
    let callback = |request: &Request, response: Response| {
        let uri = request.uri();
        let target = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
        let result = binance::route(&shared.catalog, venue, target).and_then(|r| {
            // Fault injection: a subscribing URL is refused as Binance refuses an invalid stream.
            let reject = !r.streams.is_empty()
                && shared
                    .faults
                    .get(venue as usize)
                    .is_some_and(|f| f.reject());
            if reject {
                Err(RouteError::BadRequest(
                    "Invalid request: invalid stream".into(),
                ))
            } else {
                Ok(r)
            }
        });
        let refusal = match &result {
            Ok(_) => None,
            Err(RouteError::NotFound) => Some((StatusCode::NOT_FOUND, "Not Found".to_owned())),
            Err(RouteError::BadRequest(msg)) => Some((StatusCode::BAD_REQUEST, msg.clone())),
        };
        routed = Some(result);
        match refusal {
            None => Ok(response),
            Some((status, body)) => {
                let mut refused = ErrorResponse::new(Some(body));
                *refused.status_mut() = status;
                Err(refused)
            }
        }
    };
    let config = WebSocketConfig::default()
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    // The error type holds the callback (and its borrow of `routed`): turn it into text first.
    let accepted = tungstenite::accept_hdr_with_config(stream, callback, Some(config))
        .map_err(|e| HandshakeFailure::Protocol(e.to_string()));
    let route = match routed {
        Some(Err(e)) => return Err(HandshakeFailure::Refused(e)),
        Some(Ok(route)) => route,
        None => Route {
            combined: false,
            streams: Vec::new(),
            tier: None,
        },
    };
    let ws = accepted?;
    let socket = ws.get_ref();
    socket
        .set_read_timeout(None)
        .map_err(HandshakeFailure::Io)?;
    socket
        .set_write_timeout(None)
        .map_err(HandshakeFailure::Io)?;
    socket.set_nonblocking(true).map_err(HandshakeFailure::Io)?;
    Ok((ws, route))
}

/// Why a connection ended (for the log; the counters say the same in numbers).
#[derive(Debug)]
enum End {
    /// The client closed (close frame or clean EOF).
    ClientClosed,
    /// The socket failed (tungstenite's error, as text: the error itself is large).
    Gone(String),
    /// The simulator is stopping.
    Stopping,
    /// No pong to our ping within the window.
    PongTimeout,
    /// Too many incoming messages per second.
    RateLimited,
    /// The client did not read fast enough.
    SlowConsumer,
    /// The maximum connection lifetime passed.
    Lifetime,
    /// Dropped by fault injection.
    Fault,
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::ClientClosed => f.write_str("closed by the client"),
            End::Gone(e) => write!(f, "socket error: {e}"),
            End::Stopping => f.write_str("simulator stopping"),
            End::PongTimeout => f.write_str("no pong in time"),
            End::RateLimited => f.write_str("too many requests"),
            End::SlowConsumer => f.write_str("client too slow"),
            End::Lifetime => f.write_str("lifetime exceeded"),
            End::Fault => f.write_str("dropped by fault injection"),
        }
    }
}

struct Connection {
    shared: Arc<Shared>,
    venue: SimVenue,
    conn: u64,
    ws: WebSocket<TcpStream>,
    combined: bool,
    /// The USDⓈ-M route the connection was opened on (`None` on spot): only streams of this
    /// tier are delivered; others are acknowledged and stay silent, as on Binance.
    tier: Option<Tier>,
    /// Subscribed streams in subscription order (for LIST_SUBSCRIPTIONS) and as a mask by id
    /// (to drop frames still in the mailbox after an UNSUBSCRIBE).
    subscribed: Vec<StreamId>,
    wanted: Vec<bool>,
    mailbox: Mailbox,
    rx: Receiver<Outgoing>,
    tape: Option<Sender<TapeLine>>,
    keepalive: Keepalive,
    rate: RateLimit,
    opened: Instant,
    /// Fault injection state.
    faults: Option<ConnFaults>,
    /// The last data frame sent (a malformed frame is cut from it).
    last_data: Utf8Bytes,
    /// A trade frame held back by a reorder fault, until the next of its stream.
    held: Option<(StreamId, Utf8Bytes, StreamKind)>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("venue", &self.venue)
            .field("conn", &self.conn)
            .field("combined", &self.combined)
            .field("tier", &self.tier)
            .field("subscribed", &self.subscribed)
            .finish_non_exhaustive()
    }
}

impl Connection {
    fn new(
        shared: Arc<Shared>,
        venue: SimVenue,
        conn: u64,
        ws: WebSocket<TcpStream>,
    ) -> Connection {
        let (tx, rx) = mpsc::sync_channel(MAILBOX);
        let now = Instant::now();
        let cfg = &shared.cfg;
        let (ping, pong_timeout, limit) = match venue {
            SimVenue::Spot => (cfg.spot_ping, cfg.pong_timeout_spot, cfg.spot_msg_limit),
            SimVenue::Futures => (
                cfg.futures_ping,
                cfg.pong_timeout_futures,
                cfg.futures_msg_limit,
            ),
        };
        let tape = lock(&shared.tape).clone();
        Connection {
            venue,
            conn,
            ws,
            combined: false,
            tier: None,
            subscribed: Vec::new(),
            wanted: vec![false; shared.catalog.len()],
            mailbox: Mailbox {
                conn,
                tx,
                kicked: Arc::default(),
            },
            rx,
            tape,
            keepalive: Keepalive::new(ping, pong_timeout, now),
            rate: RateLimit::new(limit),
            opened: now,
            faults: shared
                .faults
                .get(venue as usize)
                .map(|f| ConnFaults::new(Arc::clone(f))),
            last_data: Utf8Bytes::from_static(""),
            held: None,
            shared,
        }
    }

    fn counters(&self) -> &Counters {
        &self.shared.counters[self.venue as usize]
    }

    fn run(&mut self) -> Result<(), End> {
        loop {
            let now = Instant::now();
            if self.shared.stopping() {
                self.close(CloseCode::Away, "Server shutting down");
                return Err(End::Stopping);
            }
            if let Some(f) = &mut self.faults {
                let mut resumed = None;
                match f.check(now, &mut resumed) {
                    Action::Run => {}
                    Action::Stall => {
                        thread::sleep(POLL);
                        continue;
                    }
                    Action::DropClose => {
                        self.close(CloseCode::Away, "going away");
                        return Err(End::Fault);
                    }
                    Action::DropAbrupt => {
                        let _ = self.ws.get_ref().shutdown(Shutdown::Both);
                        return Err(End::Fault);
                    }
                }
                if let Some(d) = resumed {
                    self.keepalive.shift(d);
                }
            }
            if self.mailbox.kicked.load(Ordering::Relaxed) {
                self.close(CloseCode::Again, "Slow consumer");
                return Err(End::SlowConsumer);
            }
            if let Some(lifetime) = self.shared.cfg.max_lifetime {
                let age = now.duration_since(self.opened);
                self.shutdown_notice(age, lifetime)?;
                if age >= lifetime {
                    if let Some(f) = &self.faults {
                        f.venue
                            .counters
                            .lifetime_closes
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    self.close(CloseCode::Normal, "Connection lifetime exceeded");
                    return Err(End::Lifetime);
                }
            }
            self.inject()?;
            if self.keepalive.expired(now) {
                // Binance simply drops the connection; there is nobody to send a close to.
                return Err(End::PongTimeout);
            }
            if let Some(payload) = self.keepalive.due(now) {
                self.write(Message::Ping(payload))?;
            }
            self.pump_out()?;
            self.pump_in()?;
        }
    }

    /// Waits up to [`POLL`] for frames from the pump and writes what has arrived.
    fn pump_out(&mut self) -> Result<(), End> {
        match self.rx.recv_timeout(POLL) {
            Ok(frame) => self.send_data(frame)?,
            // The mailbox's sender lives in `self`, so it cannot disconnect: only time out.
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return self.flush(),
        }
        for _ in 1..BATCH {
            match self.rx.try_recv() {
                Ok(frame) => self.send_data(frame)?,
                Err(_) => break,
            }
        }
        self.flush()
    }

    /// Handles everything the client sent so far.
    fn pump_in(&mut self) -> Result<(), End> {
        loop {
            let message = match self.ws.read() {
                Ok(m) => m,
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                    return Ok(())
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Err(End::ClientClosed)
                }
                Err(e) => return Err(End::Gone(e.to_string())),
            };
            // Every message counts, pings and pongs included, as on Binance.
            if !self.rate.allow(Instant::now()) {
                self.close(CloseCode::Policy, "Too many requests");
                return Err(End::RateLimited);
            }
            match message {
                Message::Text(text) => self.on_request(&text)?,
                Message::Binary(_) => {
                    let reply = binance::error_reply(3, "Invalid JSON: binary frame", &Value::Null);
                    self.send_text(Utf8Bytes::from(reply), None)?;
                }
                Message::Pong(payload) => {
                    if !self.faults.as_ref().is_some_and(|f| f.venue.ignore_pong()) {
                        self.keepalive.on_pong(&payload);
                    }
                }
                // tungstenite has queued the pong; it goes out with the next write or flush.
                Message::Ping(_) | Message::Frame(_) => {}
                Message::Close(_) => {
                    // tungstenite has queued our close reply: send it and end.
                    self.drain_close();
                    return Err(End::ClientClosed);
                }
            }
        }
    }

    fn on_request(&mut self, text: &str) -> Result<(), End> {
        let reply = match binance::parse_request(&self.shared.catalog, self.venue, text) {
            Err(reply) => reply,
            Ok((id, method)) => self.apply(method, &id),
        };
        self.send_text(Utf8Bytes::from(reply), None)
    }

    fn apply(&mut self, method: Method, id: &Value) -> String {
        match method {
            Method::Subscribe(_) if self.faults.as_ref().is_some_and(|f| f.venue.reject()) => {
                return binance::error_reply(2, "Invalid request: invalid stream", id);
            }
            Method::Subscribe(streams) => {
                let new = streams.iter().filter(|&&s| !self.wanted[s]).count();
                if self.subscribed.len() + new > MAX_STREAMS {
                    return binance::error_reply(2, "Invalid request: too many streams", id);
                }
                self.subscribe(&streams);
            }
            Method::Unsubscribe(streams) => {
                let mut hub = lock(&self.shared.hubs[self.venue as usize]);
                for &s in &streams {
                    hub.unsubscribe(s, self.conn);
                    self.wanted[s] = false;
                }
                drop(hub);
                self.subscribed.retain(|s| !streams.contains(s));
            }
            Method::ListSubscriptions => {
                let names = self
                    .subscribed
                    .iter()
                    .map(|&s| Value::from(self.shared.catalog.name(s)));
                return binance::result_reply(&Value::Array(names.collect()), id);
            }
            Method::SetCombined(on) => self.combined = on,
            Method::GetCombined => return binance::result_reply(&Value::Bool(self.combined), id),
        }
        binance::result_reply(&Value::Null, id)
    }

    /// Subscribes `streams` (from the URL or a `SUBSCRIBE`). A stream of another tier than
    /// the connection's route is taken (listed, acknowledged) but never joins the hub, so it
    /// stays silent; each such subscription is counted in `misrouted_subscriptions`.
    fn subscribe(&mut self, streams: &[StreamId]) {
        let mut hub = lock(&self.shared.hubs[self.venue as usize]);
        let mut misrouted = 0;
        for &s in streams {
            let routed = binance::delivers(self.tier, Catalog::kind(s));
            if routed {
                hub.subscribe(s, &self.mailbox);
            }
            if !self.wanted[s] {
                misrouted += u64::from(!routed);
                self.wanted[s] = true;
                self.subscribed.push(s);
            }
        }
        drop(hub);
        if misrouted > 0 {
            self.counters()
                .misrouted_subscriptions
                .fetch_add(misrouted, Ordering::Relaxed);
            log::debug!(
                "sim {}: connection {} subscribed {misrouted} stream(s) of another route: silent",
                self.venue.feed_venue(),
                self.conn
            );
        }
    }

    /// Takes this connection out of the hub.
    fn leave(&mut self) {
        let mut hub = lock(&self.shared.hubs[self.venue as usize]);
        for &s in &self.subscribed {
            hub.unsubscribe(s, self.conn);
        }
    }

    fn send_data(&mut self, frame: Outgoing) -> Result<(), End> {
        if !self.wanted[frame.stream] {
            return Ok(()); // Queued before an UNSUBSCRIBE.
        }
        let text = if self.combined {
            let name = self.shared.catalog.name(frame.stream);
            Utf8Bytes::from(binance::combined_frame(name, &frame.payload))
        } else {
            frame.payload
        };
        self.last_data = text.clone();
        let Some(f) = self.faults.as_ref().map(|f| Arc::clone(&f.venue)) else {
            return self.send_text(text, Some(frame.kind));
        };
        if !matches!(frame.kind, StreamKind::Trade | StreamKind::AggTrade) {
            return self.send_text(text, Some(frame.kind));
        }
        // Fault injection on trade frames: a held frame goes out after the next of its stream.
        if let Some((stream, held, kind)) = self.held.take() {
            if stream == frame.stream {
                self.send_text(text, Some(frame.kind))?;
                f.counters.frames_reordered.fetch_add(1, Ordering::Relaxed);
                return self.send_text(held, Some(kind));
            }
            self.held = Some((stream, held, kind));
        }
        if self.held.is_none() && f.reorder() {
            self.held = Some((frame.stream, text, frame.kind));
            return Ok(());
        }
        if f.duplicate() {
            self.send_text(text.clone(), Some(frame.kind))?;
        }
        self.send_text(text, Some(frame.kind))
    }

    /// Sends the malformed and oversized frames fault injection asks for (not on the tape).
    fn inject(&mut self) -> Result<(), End> {
        let Some(f) = self.faults.as_ref().map(|f| Arc::clone(&f.venue)) else {
            return Ok(());
        };
        if let Some(text) = f.malformed(&self.last_data) {
            self.write(Message::text(text))?;
        }
        if let Some(text) = f.oversized() {
            let room = MAX_WRITE_BUFFER + text.len();
            self.ws.set_config(|c| c.max_write_buffer_size = room);
            self.write(Message::text(text))?;
        }
        Ok(())
    }

    /// Binance's `serverShutdown` notice, [`super::SimConfig::shutdown_notice`] before the
    /// lifetime runs out (wrapped on combined connections, raw on `/ws`).
    fn shutdown_notice(&mut self, age: Duration, lifetime: Duration) -> Result<(), End> {
        let Some(lead) = self.shared.cfg.shutdown_notice else {
            return Ok(());
        };
        let Some(f) = &mut self.faults else {
            return Ok(());
        };
        if f.notice_sent || age + lead < lifetime {
            return Ok(());
        }
        f.notice_sent = true;
        f.venue
            .counters
            .shutdown_notices
            .fetch_add(1, Ordering::Relaxed);
        let data = format!(r#"{{"e":"serverShutdown","E":{}}}"#, wall_ns() / 1_000_000);
        let text = if self.combined {
            binance::combined_frame("!serverShutdown", &data)
        } else {
            data
        };
        self.send_text(Utf8Bytes::from(text), None)
    }

    /// Writes one text frame, counts it and puts it on the tape. `kind` is `None` for replies.
    fn send_text(&mut self, text: Utf8Bytes, kind: Option<StreamKind>) -> Result<(), End> {
        self.write(Message::Text(text.clone()))?;
        let c = self.counters();
        let counter = match kind {
            None => &c.replies_sent,
            Some(StreamKind::Trade) => &c.trades_sent,
            Some(StreamKind::AggTrade) => &c.agg_trades_sent,
            Some(StreamKind::ForceOrder) => &c.liquidations_sent,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if kind.is_some() {
            c.frames_sent.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(tape) = &self.tape {
            let line = TapeLine {
                ts_ns: wall_ns(),
                venue: self.venue,
                conn: self.conn,
                frame: text,
            };
            // The writer outlives every connection; if it is gone the tape is already lost.
            let _ = tape.send(line);
        }
        Ok(())
    }

    /// Queues a message. A socket that cannot take it now keeps it in tungstenite's buffer.
    fn write(&mut self, message: Message) -> Result<(), End> {
        classify(self.ws.write(message))
    }

    fn flush(&mut self) -> Result<(), End> {
        classify(self.ws.flush())
    }

    /// Starts a close handshake and gives the client [`CLOSE_GRACE`] to answer it.
    fn close(&mut self, code: CloseCode, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        // A WouldBlock leaves the close frame buffered; drain_close keeps flushing it.
        let _ = self.ws.close(Some(frame));
        self.drain_close();
    }

    /// Drives a close handshake to its end (or until [`CLOSE_GRACE`] passes), ignoring data.
    fn drain_close(&mut self) {
        let deadline = Instant::now() + CLOSE_GRACE;
        while Instant::now() < deadline {
            let step = match self.ws.flush() {
                Ok(()) => self.ws.read().map(drop),
                Err(e) => Err(e),
            };
            match step {
                Ok(()) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                    thread::sleep(POLL)
                }
                Err(_) => return,
            }
        }
    }
}

/// Maps a tungstenite write outcome: a full socket is fine (the frame is buffered), a full
/// buffer means a slow client, anything else ends the connection.
fn classify(result: tungstenite::Result<()>) -> Result<(), End> {
    match result {
        Ok(()) => Ok(()),
        Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => Ok(()),
        Err(tungstenite::Error::WriteBufferFull(_)) => Err(End::SlowConsumer),
        Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
            Err(End::ClientClosed)
        }
        Err(e) => Err(End::Gone(e.to_string())),
    }
}

/// Server pings and the pong deadline. A pong only counts if it echoes the latest ping's
/// payload (Binance ignores unsolicited pongs).
#[derive(Debug)]
struct Keepalive {
    /// Zero disables pings (and with them the deadline).
    interval: Duration,
    timeout: Duration,
    next_ping: Instant,
    payload: Bytes,
    /// When the oldest ping still waiting for its pong went out.
    unanswered_since: Option<Instant>,
}

impl Keepalive {
    fn new(interval: Duration, timeout: Duration, now: Instant) -> Keepalive {
        Keepalive {
            interval,
            timeout,
            next_ping: now + interval,
            payload: Bytes::new(),
            unanswered_since: None,
        }
    }

    /// The payload of a ping to send now, if one is due.
    fn due(&mut self, now: Instant) -> Option<Bytes> {
        if self.interval.is_zero() || now < self.next_ping {
            return None;
        }
        self.next_ping = now + self.interval;
        self.payload = Bytes::from((wall_ns() / 1_000_000).to_string());
        self.unanswered_since.get_or_insert(now);
        Some(self.payload.clone())
    }

    /// Moves the pong deadline and the next ping by `d` (a stall sent and read nothing).
    fn shift(&mut self, d: Duration) {
        self.next_ping += d;
        if let Some(since) = &mut self.unanswered_since {
            *since += d;
        }
    }

    fn on_pong(&mut self, payload: &[u8]) {
        if !self.payload.is_empty() && payload == &self.payload[..] {
            self.unanswered_since = None;
        }
    }

    fn expired(&self, now: Instant) -> bool {
        self.unanswered_since
            .is_some_and(|since| now.duration_since(since) > self.timeout)
    }
}

/// At most `limit` incoming messages in any one-second window.
#[derive(Debug)]
struct RateLimit {
    limit: usize,
    recent: VecDeque<Instant>,
}

impl RateLimit {
    fn new(limit: u32) -> RateLimit {
        let limit = limit as usize;
        RateLimit {
            limit,
            recent: VecDeque::with_capacity(limit + 1),
        }
    }

    /// Records a message at `now`; false if it is one too many.
    fn allow(&mut self, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|&t| now.duration_since(t) >= Duration::from_secs(1))
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= self.limit {
            return false;
        }
        self.recent.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn rate_limit_is_a_sliding_second() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(5);
        for i in 0..5 {
            assert!(r.allow(t0 + i * 100 * MS), "message {i}");
        }
        assert!(!r.allow(t0 + 500 * MS), "sixth within a second");
        let mut r = RateLimit::new(5);
        // One every 250 ms is 4/s: fine; every 200 ms stays at the limit.
        for i in 0..40 {
            assert!(r.allow(t0 + i * 250 * MS));
        }
        let mut r = RateLimit::new(5);
        for i in 0..40 {
            assert!(r.allow(t0 + i * 200 * MS));
        }
    }

    #[test]
    fn keepalive_needs_the_echo_in_time() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(100 * MS, 300 * MS, t0);
        assert!(k.due(t0 + 50 * MS).is_none());
        let first = k.due(t0 + 100 * MS).unwrap();
        assert!(!k.expired(t0 + 350 * MS));
        k.on_pong(b"not the payload");
        assert!(k.expired(t0 + 401 * MS));
        k.on_pong(&first);
        assert!(!k.expired(t0 + 401 * MS));
        // Answering a later ping resets the clock; ignoring it expires after the window.
        let second = k.due(t0 + 500 * MS).unwrap();
        assert!(!k.expired(t0 + 800 * MS));
        assert!(k.expired(t0 + 801 * MS));
        k.on_pong(&second);
        assert!(!k.expired(t0 + 10_000 * MS));
    }

    #[test]
    fn zero_interval_disables_pings() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(Duration::ZERO, MS, t0);
        assert!(k.due(t0 + 10_000 * MS).is_none());
        assert!(!k.expired(t0 + 10_000 * MS));
    }
}
