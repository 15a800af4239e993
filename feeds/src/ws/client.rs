//! [`WsClient`]: one mio `Poll` over many WebSocket connections, each in a slot whose index
//! is both its mio token and its [`ConnId`].

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use mio::{Events, Poll, Registry, Token};

use super::conn::{Conn, Failure, Outcome};
use super::frame::{OP_PING, OP_TEXT};
use super::url::WsUrl;
use super::{ConnId, ConnState, WsConfig, WsError, WsEvent};

/// Readiness events taken per poll; more simply wait for the next poll.
const EVENTS_PER_POLL: usize = 256;

/// A set of WebSocket client connections served by one thread.
///
/// ```no_run
/// use feeds::ws::{WsClient, WsConfig, WsEvent};
/// let mut client = WsClient::new(WsConfig::default())?;
/// let id = client.connect("wss://stream.binance.com:9443/ws/btcusdt@trade")?;
/// loop {
///     client.poll(None, &mut |conn, event| {
///         if let WsEvent::Text { payload, recv_ns } = event {
///             // decode `payload` in place
///         }
///     })?;
/// #   break;
/// }
/// # let _ = id;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WsClient {
    poll: Poll,
    events: Events,
    config: WsConfig,
    slots: Vec<Option<Conn>>,
    /// Indices of empty slots, reused before the vector grows.
    free: Vec<usize>,
}

impl fmt::Debug for WsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsClient")
            .field("connections", &self.open_connections())
            .field("max_message", &self.config.max_message)
            .field("read_buf", &self.config.read_buf)
            .finish_non_exhaustive()
    }
}

impl WsClient {
    /// A client with no connections.
    pub fn new(config: WsConfig) -> io::Result<WsClient> {
        Ok(WsClient {
            poll: Poll::new()?,
            events: Events::with_capacity(EVENTS_PER_POLL),
            config,
            slots: Vec::new(),
            free: Vec::new(),
        })
    }

    /// Starts connecting to a `ws://` or `wss://` URL. Resolving the host blocks (call this
    /// at start-up or reconnect, not on a hot loop); the TCP connect, TLS and upgrade then
    /// proceed in [`poll`](Self::poll), which reports `Open` or `Error` + `Closed`.
    pub fn connect(&mut self, url: &str) -> Result<ConnId, WsError> {
        let url = WsUrl::parse(url)?;
        let addrs: Vec<SocketAddr> = (url.host.as_str(), url.port)
            .to_socket_addrs()
            .map_err(|source| WsError::Dns {
                host: url.host.clone(),
                source,
            })?
            .collect();
        if addrs.is_empty() {
            return Err(WsError::Dns {
                host: url.host.clone(),
                source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
            });
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        match Conn::open(&url, addrs, &self.config, self.poll.registry(), Token(slot)) {
            Ok(conn) => {
                self.slots[slot] = Some(conn);
                Ok(ConnId(slot))
            }
            Err(e) => {
                self.free.push(slot);
                Err(e)
            }
        }
    }

    /// Sends a text message (masked, one frame). Before the connection is open it is
    /// queued and sent right after the upgrade; what the socket does not take at once is
    /// sent on the next writable readiness.
    pub fn send_text(&mut self, id: ConnId, text: &[u8]) -> Result<(), WsError> {
        self.conn_mut(id)?.send(OP_TEXT, text)
    }

    /// Sends a WebSocket ping frame (for venues that want client pings, e.g. Kraken Futures).
    /// The server's pong is consumed by the connection.
    pub fn send_ping(&mut self, id: ConnId, payload: &[u8]) -> Result<(), WsError> {
        self.conn_mut(id)?.send(OP_PING, payload)
    }

    /// Starts the closing handshake with `code`. The peer's answer (or, after a bounded
    /// wait, the lack of one) ends in a `Closed` event. A connection that is not open yet is
    /// dropped and reported `Closed { clean: false }` on the next poll.
    pub fn close(&mut self, id: ConnId, code: u16) {
        if let Ok(conn) = self.conn_mut(id) {
            conn.close(code);
        }
    }

    /// Drops a connection at once, without the closing handshake (for a peer that stopped
    /// sending): `Closed { clean: false }` follows on the next poll.
    pub fn abort(&mut self, id: ConnId) {
        if let Ok(conn) = self.conn_mut(id) {
            conn.abort();
        }
    }

    /// Waits once for readiness (at most `timeout`; `Some(Duration::ZERO)` busy-polls) and
    /// services every ready connection, calling `handler` for each event.
    pub fn poll(
        &mut self,
        timeout: Option<Duration>,
        handler: &mut dyn FnMut(ConnId, WsEvent<'_>),
    ) -> io::Result<()> {
        let next_deadline = self.slots.iter().flatten().filter_map(Conn::deadline).min();
        let timeout = match next_deadline {
            None => timeout,
            Some(d) => {
                let until = d.saturating_duration_since(Instant::now());
                Some(timeout.map_or(until, |t| t.min(until)))
            }
        };
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let registry = self.poll.registry();
        for event in self.events.iter() {
            let token = event.token();
            let Some(Some(conn)) = self.slots.get_mut(token.0) else {
                continue;
            };
            let read_closed = event.is_read_closed() || event.is_error();
            let result = conn.on_ready(ConnId(token.0), read_closed, registry, token, handler);
            settle(
                &mut self.slots,
                &mut self.free,
                registry,
                token.0,
                result,
                handler,
            );
        }
        if next_deadline.is_some() {
            let now = Instant::now();
            for slot in 0..self.slots.len() {
                let Some(conn) = &mut self.slots[slot] else {
                    continue;
                };
                if conn.deadline().is_some_and(|d| d <= now) {
                    let result = conn.on_deadline(ConnId(slot), handler);
                    settle(
                        &mut self.slots,
                        &mut self.free,
                        registry,
                        slot,
                        result,
                        handler,
                    );
                }
            }
        }
        Ok(())
    }

    /// The connection's state, or `None` if the id is free.
    pub fn state(&self, id: ConnId) -> Option<ConnState> {
        self.slots.get(id.0)?.as_ref().map(Conn::state)
    }

    /// How many connections are live (any state before `Closed` was delivered).
    pub fn open_connections(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    fn conn_mut(&mut self, id: ConnId) -> Result<&mut Conn, WsError> {
        self.slots
            .get_mut(id.0)
            .and_then(Option::as_mut)
            .ok_or(WsError::NoSuchConn(id))
    }
}

/// Acts on what servicing a connection returned: a finished or failed connection is
/// reported (for failures: `Error` then `Closed`), unregistered and its slot freed.
fn settle(
    slots: &mut [Option<Conn>],
    free: &mut Vec<usize>,
    registry: &Registry,
    slot: usize,
    result: Result<Outcome, Failure>,
    handler: &mut dyn FnMut(ConnId, WsEvent<'_>),
) {
    let id = ConnId(slot);
    let failure = match result {
        Ok(Outcome::Alive) => return,
        Ok(Outcome::Finished) => None,
        Err(Failure { error, code }) => {
            log::debug!("ws {slot}: {error}");
            Some((error, code))
        }
    };
    let code = failure.as_ref().and_then(|(_, code)| *code);
    if let Some(mut conn) = slots[slot].take() {
        // Tell the peer why (if we have a code) before anything else happens.
        conn.shut(code, registry);
        free.push(slot);
    }
    if let Some((error, code)) = failure {
        handler(id, WsEvent::Error(error));
        handler(
            id,
            WsEvent::Closed {
                code,
                reason: "",
                clean: false,
            },
        );
    }
}
