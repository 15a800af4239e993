//! One WebSocket connection driven by mio readiness: TCP connect (trying each resolved
//! address), optional TLS, the HTTP upgrade, then frames both ways.
//!
//! Sockets are edge-triggered, so every readiness event reads until `WouldBlock` and writes
//! until the outgoing bytes are gone or the socket pushes back. Outgoing bytes wait in one
//! reused buffer (`out`); frames sent before the upgrade completes wait in `queued`. For
//! `wss://`, `out` holds plaintext that `tls::TlsStream` seals into its own send buffer.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::pki_types::ServerName;

use super::frame::{
    encode_client_frame, parse_close, Decoder, FrameError, Item, MaskRng, RecvBuf, MAX_CONTROL,
    OP_CLOSE, OP_PONG,
};
use super::handshake::Handshake;
use super::tls::{TlsRead, TlsStream};
use super::url::WsUrl;
use super::{ConnId, ConnState, WsConfig, WsError, WsEvent};
use crate::clock::mono_ns;

/// Connect, TLS and upgrade together must finish within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// After we send a close frame, how long we wait for the peer's.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Close code for a protocol violation.
pub(super) const CLOSE_PROTOCOL: u16 = 1002;
/// Close code for a message over the size limit.
pub(super) const CLOSE_TOO_BIG: u16 = 1009;

/// Whether the connection is still alive after being serviced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Alive,
    /// `Closed` has been delivered; drop the connection.
    Finished,
}

/// A fatal failure: the client reports `Error(error)` then `Closed { code, clean: false }`.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) error: WsError,
    /// Close code sent to the peer on the way out, if any.
    pub(super) code: Option<u16>,
}

impl Failure {
    fn new(error: WsError) -> Failure {
        Failure { error, code: None }
    }
}

impl From<FrameError> for Failure {
    fn from(e: FrameError) -> Failure {
        match e {
            FrameError::Protocol(what) => Failure {
                error: WsError::Protocol(what),
                code: Some(CLOSE_PROTOCOL),
            },
            FrameError::TooBig { size, max } => Failure {
                error: WsError::MessageTooBig { size, max },
                code: Some(CLOSE_TOO_BIG),
            },
        }
    }
}

/// Result of one attempt to read plaintext.
enum Inbound {
    /// `n` bytes arrived; `drained` when the socket certainly had no more at that moment.
    Data {
        n: usize,
        drained: bool,
    },
    WouldBlock,
    Eof,
}

#[derive(Debug)]
pub(super) struct Conn {
    state: ConnState,
    stream: TcpStream,
    tls: Option<Box<TlsStream>>,
    /// Resolved addresses not tried yet, last to try first.
    fallback: Vec<SocketAddr>,
    handshake: Handshake,
    rb: RecvBuf,
    dec: Decoder,
    /// Outgoing bytes (plaintext for TLS) from `out_pos` on are not written yet.
    out: Vec<u8>,
    out_pos: usize,
    /// Frames sent before the upgrade completed.
    queued: Vec<u8>,
    rng: MaskRng,
    deadline: Option<Instant>,
    /// The code of the close frame we sent, once sent.
    sent_close: Option<u16>,
}

impl Conn {
    /// Starts a non-blocking connect to the first address that accepts one and registers
    /// the socket under `token`. The upgrade request is prepared now and sent on connect.
    pub(super) fn open(
        url: &WsUrl,
        mut addrs: Vec<SocketAddr>,
        config: &WsConfig,
        registry: &Registry,
        token: Token,
    ) -> Result<Conn, WsError> {
        let tls = if url.tls {
            let name = ServerName::try_from(url.host.clone()).map_err(|_| WsError::BadUrl {
                url: url.host.clone(),
                why: "host is not a valid TLS server name",
            })?;
            Some(Box::new(TlsStream::new(&config.tls, name)?))
        } else {
            None
        };
        let mut seed = [0u8; 24];
        super::tls::random_bytes(&config.tls, &mut seed);
        let mut key = [0u8; 16];
        key.copy_from_slice(&seed[..16]);
        let mut rng_seed = [0u8; 8];
        rng_seed.copy_from_slice(&seed[16..]);

        let mut out = Vec::with_capacity(1024);
        let handshake = Handshake::start(url, key, &mut out);

        addrs.reverse();
        let mut stream = start_connect(&mut addrs)?;
        registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        log::debug!("ws {}: connecting to {}:{}", token.0, url.host, url.port);
        Ok(Conn {
            state: ConnState::Connecting,
            stream,
            tls,
            fallback: addrs,
            handshake,
            rb: RecvBuf::new(config.read_buf),
            dec: Decoder::new(config.max_message),
            out,
            out_pos: 0,
            queued: Vec::new(),
            rng: MaskRng::new(u64::from_ne_bytes(rng_seed)),
            deadline: Some(Instant::now() + HANDSHAKE_TIMEOUT),
            sent_close: None,
        })
    }

    pub(super) fn state(&self) -> ConnState {
        self.state
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Services a readiness event: finishes the connect, writes what is pending, reads
    /// and delivers everything received. `read_closed` is the event's hang-up/error flag.
    pub(super) fn on_ready(
        &mut self,
        id: ConnId,
        read_closed: bool,
        registry: &Registry,
        token: Token,
        handler: &mut dyn FnMut(ConnId, WsEvent<'_>),
    ) -> Result<Outcome, Failure> {
        if self.state == ConnState::Closing && self.sent_close.is_none() {
            // Abandoned before it opened; the deadline pass reports it, nothing to do here.
            return Ok(Outcome::Alive);
        }
        if self.state == ConnState::Connecting {
            match self.check_connected() {
                Ok(true) => {
                    log::debug!("ws {}: tcp connected", id.0);
                    self.state = ConnState::Handshaking;
                    // Small frames (pongs, subscribes) should leave at once.
                    let _ = self.stream.set_nodelay(true);
                }
                Ok(false) => return Ok(Outcome::Alive),
                Err(e) => {
                    self.try_next_address(e, registry, token)?;
                    return Ok(Outcome::Alive);
                }
            }
        }
        self.flush().map_err(Failure::new)?;
        loop {
            match self.read_some()? {
                Inbound::Data { n, drained } => {
                    self.rb.filled(n);
                    if self.process(id, mono_ns(), handler)? == Outcome::Finished {
                        return Ok(Outcome::Finished);
                    }
                    // A short read emptied the socket: bytes arriving later raise a new
                    // edge, so the read that would only say `WouldBlock` is skipped (one
                    // syscall less per burst). Not when the peer hung up: the EOF rode in on
                    // this edge and must still be read.
                    if drained && !read_closed {
                        break;
                    }
                }
                Inbound::WouldBlock => break,
                Inbound::Eof => {
                    if matches!(self.state, ConnState::Handshaking) {
                        return Err(Failure::new(WsError::Io(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "connection closed during the websocket handshake",
                        ))));
                    }
                    log::debug!("ws {}: eof without a close frame", id.0);
                    handler(
                        id,
                        WsEvent::Closed {
                            code: None,
                            reason: "",
                            clean: false,
                        },
                    );
                    return Ok(Outcome::Finished);
                }
            }
        }
        // Reading may have queued pongs or TLS handshake records.
        self.flush().map_err(Failure::new)?;
        Ok(Outcome::Alive)
    }

    /// Sends one frame: queued until the upgrade is done, refused once closing.
    pub(super) fn send(&mut self, opcode: u8, payload: &[u8]) -> Result<(), WsError> {
        match self.state {
            ConnState::Connecting | ConnState::Handshaking => {
                let mask = self.rng.next_mask();
                encode_client_frame(&mut self.queued, opcode, payload, mask);
                Ok(())
            }
            ConnState::Open => {
                self.write_frame(opcode, payload);
                self.flush()
            }
            ConnState::Closing | ConnState::Closed => Err(WsError::NotOpen),
        }
    }

    /// Starts the closing handshake (or abandons a connection that is not open yet; its
    /// `Closed` comes with the next poll).
    pub(super) fn close(&mut self, code: u16) {
        match self.state {
            ConnState::Open => {
                self.write_frame(OP_CLOSE, &code.to_be_bytes());
                self.sent_close = Some(code);
                self.state = ConnState::Closing;
                self.deadline = Some(Instant::now() + CLOSE_TIMEOUT);
                // A write error here resurfaces as an error event on the next poll.
                let _ = self.flush();
            }
            ConnState::Connecting | ConnState::Handshaking => {
                self.state = ConnState::Closing;
                self.deadline = Some(Instant::now());
            }
            ConnState::Closing | ConnState::Closed => {}
        }
    }

    /// Drops the connection without a closing handshake (a peer that stopped answering):
    /// reported `Closed { clean: false }` on the next poll, and nothing it still sends is
    /// delivered.
    pub(super) fn abort(&mut self) {
        if self.state != ConnState::Closed {
            self.state = ConnState::Closing;
            self.deadline = Some(Instant::now());
        }
    }

    /// The deadline passed: a close that the peer never answered, or a connect/upgrade
    /// that took too long.
    pub(super) fn on_deadline(
        &mut self,
        id: ConnId,
        handler: &mut dyn FnMut(ConnId, WsEvent<'_>),
    ) -> Result<Outcome, Failure> {
        match self.state {
            ConnState::Closing => {
                log::debug!("ws {}: peer did not answer our close in time", id.0);
                self.end_tls();
                handler(
                    id,
                    WsEvent::Closed {
                        code: self.sent_close,
                        reason: "",
                        clean: false,
                    },
                );
                Ok(Outcome::Finished)
            }
            ConnState::Connecting | ConnState::Handshaking => Err(Failure::new(WsError::TimedOut(
                "connect and websocket handshake",
            ))),
            ConnState::Open | ConnState::Closed => {
                self.deadline = None;
                Ok(Outcome::Alive)
            }
        }
    }

    /// On the way out after a failure: tell the peer why (best effort) and unregister.
    pub(super) fn shut(&mut self, code: Option<u16>, registry: &Registry) {
        if let Some(code) = code {
            if self.state == ConnState::Open {
                self.write_frame(OP_CLOSE, &code.to_be_bytes());
                let _ = self.flush();
            }
        }
        self.end_tls();
        self.state = ConnState::Closed;
        let _ = registry.deregister(&mut self.stream);
    }

    /// Handles newly received bytes: the upgrade response first, then frames.
    fn process(
        &mut self,
        id: ConnId,
        recv_ns: u64,
        handler: &mut dyn FnMut(ConnId, WsEvent<'_>),
    ) -> Result<Outcome, Failure> {
        if self.state == ConnState::Handshaking {
            match self.handshake.finish(self.rb.unread()) {
                Ok(None) => return Ok(Outcome::Alive),
                Ok(Some(used)) => {
                    self.rb.consume(used);
                    self.state = ConnState::Open;
                    self.deadline = None;
                    if self.out_pos == self.out.len() {
                        self.out.clear();
                        self.out_pos = 0;
                    }
                    self.out.extend_from_slice(&self.queued);
                    self.queued = Vec::new();
                    log::debug!("ws {}: open", id.0);
                    handler(id, WsEvent::Open);
                    self.flush().map_err(Failure::new)?;
                }
                Err(e) => return Err(Failure::new(e)),
            }
        }
        loop {
            let Some(item) = self.dec.next(&mut self.rb)? else {
                return Ok(Outcome::Alive);
            };
            match item {
                Item::Text(p) => {
                    let payload = self.dec.payload(&mut self.rb, &p);
                    handler(id, WsEvent::Text { payload, recv_ns });
                }
                Item::Binary(p) => {
                    let payload = self.dec.payload(&mut self.rb, &p);
                    handler(id, WsEvent::Binary { payload, recv_ns });
                }
                Item::Ping(p) => {
                    let mut copy = [0u8; MAX_CONTROL];
                    let payload = self.dec.payload(&mut self.rb, &p);
                    let n = payload.len().min(MAX_CONTROL);
                    copy[..n].copy_from_slice(&payload[..n]);
                    // After our close frame nothing else may be sent (RFC 6455 §5.5.1).
                    if self.state == ConnState::Open {
                        self.write_frame(OP_PONG, &copy[..n]);
                    }
                    handler(id, WsEvent::Ping { recv_ns });
                }
                Item::Pong => log::debug!("ws {}: pong", id.0),
                Item::Close(p) => {
                    let (code, _) = parse_close(self.dec.payload(&mut self.rb, &p))?;
                    if self.state == ConnState::Open {
                        // Echo the status code, unless it is one that must never be sent.
                        let echo = code.filter(|c| sendable_close_code(*c));
                        match echo {
                            Some(c) => self.write_frame(OP_CLOSE, &c.to_be_bytes()),
                            None => self.write_frame(OP_CLOSE, &[]),
                        }
                        let _ = self.flush();
                    }
                    self.end_tls();
                    log::debug!("ws {}: closed by peer, code {code:?}", id.0);
                    let (_, reason) = parse_close(self.dec.payload(&mut self.rb, &p))?;
                    handler(
                        id,
                        WsEvent::Closed {
                            code,
                            reason,
                            clean: true,
                        },
                    );
                    self.state = ConnState::Closed;
                    return Ok(Outcome::Finished);
                }
            }
        }
    }

    /// Appends a masked frame to the outgoing buffer.
    fn write_frame(&mut self, opcode: u8, payload: &[u8]) {
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
        let mask = self.rng.next_mask();
        encode_client_frame(&mut self.out, opcode, payload, mask);
    }

    /// Writes pending bytes until done or the socket pushes back (for TLS this also
    /// advances the handshake).
    fn flush(&mut self) -> Result<(), WsError> {
        if self.state == ConnState::Connecting {
            return Ok(());
        }
        match &mut self.tls {
            None => {
                while self.out_pos < self.out.len() {
                    match self.stream.write(&self.out[self.out_pos..]) {
                        Ok(0) => return Err(WsError::Io(io::ErrorKind::WriteZero.into())),
                        Ok(n) => self.out_pos += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(WsError::Io(e)),
                    }
                }
            }
            Some(tls) => {
                // The session takes plaintext while its send buffer has room; the rest
                // waits in `out` for the next writable edge.
                while self.out_pos < self.out.len() {
                    match tls.write(&mut self.stream, &self.out[self.out_pos..])? {
                        0 => break,
                        n => self.out_pos += n,
                    }
                }
                tls.flush(&mut self.stream)?;
            }
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
        Ok(())
    }

    /// Tells the TLS peer we are done (close_notify), best effort; nothing for `ws://`.
    fn end_tls(&mut self) {
        if let Some(tls) = &mut self.tls {
            tls.close_notify(&mut self.stream);
        }
    }

    /// Reads plaintext into the receive buffer's free space.
    fn read_some(&mut self) -> Result<Inbound, Failure> {
        let handshaking = self.state == ConnState::Handshaking;
        let spare = self.rb.spare();
        if spare.is_empty() {
            // The decoder only waits for frames that fit, so only the upgrade response
            // can fill the buffer.
            return Err(Failure::new(if handshaking {
                WsError::Handshake {
                    status: None,
                    what: "response headers larger than the receive buffer",
                }
            } else {
                WsError::Protocol("frame does not fit the receive buffer")
            }));
        }
        let io_fail = |e| Failure::new(WsError::Io(e));
        let Some(tls) = &mut self.tls else {
            let room = spare.len();
            loop {
                return match self.stream.read(spare) {
                    Ok(0) => Ok(Inbound::Eof),
                    Ok(n) => Ok(Inbound::Data {
                        n,
                        drained: n < room,
                    }),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Inbound::WouldBlock),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(io_fail(e)),
                };
            }
        };
        match tls.read(&mut self.stream, spare) {
            // More records may be buffered; keep reading until `WouldBlock`.
            Ok(TlsRead::Data(n)) => Ok(Inbound::Data { n, drained: false }),
            Ok(TlsRead::WouldBlock) => Ok(Inbound::WouldBlock),
            Ok(TlsRead::Eof) => Ok(Inbound::Eof),
            Err(e) => Err(Failure::new(e)),
        }
    }

    /// Whether the non-blocking connect finished (`Ok(false)`: still in progress).
    fn check_connected(&mut self) -> io::Result<bool> {
        if let Some(e) = self.stream.take_error()? {
            return Err(e);
        }
        match self.stream.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The connect failed; move on to the next resolved address, if any is left.
    fn try_next_address(
        &mut self,
        err: io::Error,
        registry: &Registry,
        token: Token,
    ) -> Result<(), Failure> {
        log::debug!("ws {}: connect failed: {err}", token.0);
        let _ = registry.deregister(&mut self.stream);
        if self.fallback.is_empty() {
            return Err(Failure::new(WsError::Connect(err)));
        }
        let mut stream = start_connect(&mut self.fallback).map_err(Failure::new)?;
        registry
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| Failure::new(WsError::Io(e)))?;
        self.stream = stream;
        Ok(())
    }
}

/// Starts a connect to the next address (popped from the back) that accepts one.
fn start_connect(addrs: &mut Vec<SocketAddr>) -> Result<TcpStream, WsError> {
    let mut last = None;
    while let Some(addr) = addrs.pop() {
        match TcpStream::connect(addr) {
            Ok(s) => return Ok(s),
            Err(e) => {
                log::debug!("connect to {addr} failed at once: {e}");
                last = Some(e);
            }
        }
    }
    Err(WsError::Connect(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, "no address to connect to")
    })))
}

/// Codes an endpoint may put on the wire (RFC 6455 §7.4): 1004–1006 and 1015 are reserved
/// for local use, below 1000 and from 5000 up are invalid.
fn sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=4999) && !matches!(code, 1004..=1006 | 1015)
}
