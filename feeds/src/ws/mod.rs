//! Non-blocking WebSocket client over mio, for reading exchange feeds with as little work
//! per message as possible.
//!
//! One [`WsClient`] owns one mio `Poll` and any number of connections (`ws://` plain TCP or
//! `wss://` through rustls). [`WsClient::poll`] waits once, services every ready connection
//! and hands each complete message to a callback as a mutable slice, so a JSON parser can
//! decode in place. Each connection owns one receive buffer, allocated at connect and reused;
//! a message that arrives whole in one frame is handed out straight from that buffer, and
//! only fragmented or larger-than-the-buffer messages are copied into a per-connection
//! reassembly buffer that grows at most to [`WsConfig::max_message`]. After warm-up, reading
//! allocates nothing for `ws://` or `wss://` (counting-allocator tests prove both). For TLS,
//! rustls runs the handshake (unbuffered API, in the connection's own buffers); then the
//! session moves to rustls's kernel-connection API and records are decrypted — and, on
//! TLS 1.3, encrypted — in place in those buffers (see `tls`). TLS 1.2 sends (pongs) still
//! allocate once per record through rustls's encrypter.
//!
//! What is not here: extensions (no permessage-deflate: exchanges' JSON is small and
//! inflating costs more latency than it saves bandwidth), subprotocols, proxies, and
//! UTF-8 validation of text messages (left to the JSON decoder, see [`WsEvent::Text`]).
//!
//! Layout: `url` parses the address, `handshake` builds and checks the HTTP/1.1 upgrade,
//! `frame` is the sans-IO RFC 6455 codec (receive buffer, decoder, client frame encoder),
//! `tls` builds rustls configs, `conn` drives one socket through connect → handshake →
//! frames, and `client` owns the poll loop and the connection slots.

mod client;
mod conn;
mod frame;
mod handshake;
mod tls;
mod url;

use std::io;
use std::sync::Arc;

pub use client::WsClient;
pub use tls::tls_config_with_roots;

/// Settings shared by every connection of one [`WsClient`].
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Largest message (after reassembly of fragments) accepted; a bigger one closes the
    /// connection with 1009 and [`WsError::MessageTooBig`]. Default 16 MiB.
    pub max_message: usize,
    /// Size of each connection's receive buffer (at least 256 bytes are used). Frames up to
    /// this size are delivered without copying. Default 64 KiB.
    pub read_buf: usize,
    /// TLS settings for `wss://`. Default: the Mozilla roots bundled by `webpki-roots`.
    pub tls: Arc<rustls::ClientConfig>,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_message: 16 << 20,
            read_buf: 64 << 10,
            tls: tls::default_tls_config(),
        }
    }
}

/// Names one connection of a [`WsClient`]. Ids are slot indices and are reused after the
/// connection's [`WsEvent::Closed`] has been delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId(pub usize);

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// TCP connect in progress.
    Connecting,
    /// TLS (for `wss://`) and the HTTP upgrade in progress.
    Handshaking,
    /// Messages flow both ways.
    Open,
    /// A close frame was sent (or the connection is being aborted); waiting for the peer.
    Closing,
    /// Finished; only reported for a connection whose `Closed` event is still pending.
    Closed,
}

/// What [`WsClient::poll`] reports for one connection.
#[derive(Debug)]
pub enum WsEvent<'a> {
    /// The upgrade succeeded; messages queued by `send_text` before this have been sent.
    Open,
    /// A complete (reassembled) text message. The bytes are not UTF-8 validated here: the
    /// JSON decoder downstream validates as it parses, and doing it twice costs a pass.
    Text {
        /// The message; mutable so it can be parsed in place. Valid only during the callback.
        payload: &'a mut [u8],
        /// `mono_ns()` taken once for the socket read that completed this message.
        recv_ns: u64,
    },
    /// A complete (reassembled) binary message.
    Binary {
        /// The message; valid only during the callback.
        payload: &'a mut [u8],
        /// `mono_ns()` taken once for the socket read that completed this message.
        recv_ns: u64,
    },
    /// The server pinged; the pong with the same payload has already been queued.
    Ping {
        /// `mono_ns()` of the socket read that carried the ping.
        recv_ns: u64,
    },
    /// The connection is finished and its id is free again. `code` is the close code of the
    /// closing handshake: the peer's if it sent one, else the one we sent for a local error
    /// (1002, 1009), else `None`. `clean` is true only when both close frames were exchanged.
    Closed {
        /// Close status code, see above.
        code: Option<u16>,
        /// The peer's close reason (empty if none or not valid UTF-8).
        reason: &'a str,
        /// Whether the closing handshake completed.
        clean: bool,
    },
    /// A fatal error for this connection; `Closed` follows immediately.
    Error(WsError),
}

/// Why a connection (or a call) failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// The URL is not `ws://` / `wss://` with a host; fix the configuration.
    #[error("bad websocket url {url:?}: {why}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The host name did not resolve.
    #[error("cannot resolve {host}: {source}")]
    Dns {
        /// The host that failed.
        host: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// The TCP connection could not be established (to any resolved address).
    #[error("tcp connect failed: {0}")]
    Connect(#[source] io::Error),
    /// TLS failed (certificate, protocol, alert).
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
    /// The HTTP upgrade was refused or the response was not a valid WebSocket upgrade.
    #[error("websocket handshake failed: {what} (http status {status:?})")]
    Handshake {
        /// The HTTP status, if a status line was received.
        status: Option<u16>,
        /// What was wrong.
        what: &'static str,
    },
    /// The server broke RFC 6455 (masked frame, unknown opcode, reserved bits, oversized
    /// or fragmented control frame, bad continuation); closed with 1002.
    #[error("websocket protocol error: {0}")]
    Protocol(&'static str),
    /// A message exceeded [`WsConfig::max_message`]; closed with 1009.
    #[error("message of {size} bytes exceeds the limit of {max}")]
    MessageTooBig {
        /// The announced (or reassembled) size.
        size: u64,
        /// The configured limit.
        max: usize,
    },
    /// Connect, upgrade or closing handshake did not finish in time.
    #[error("timed out during {0}")]
    TimedOut(&'static str),
    /// A socket read or write failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The id names no live connection.
    #[error("no such connection {0:?}")]
    NoSuchConn(ConnId),
    /// The connection is closing; nothing more can be sent.
    #[error("connection is closing")]
    NotOpen,
}

impl WsError {
    /// Whether reconnecting (with back-off) may help: network-ish failures yes, errors in
    /// the configuration or in how the caller used the client no.
    pub fn is_retryable(&self) -> bool {
        match self {
            WsError::Dns { .. }
            | WsError::Connect(_)
            | WsError::Io(_)
            | WsError::TimedOut(_)
            | WsError::Protocol(_) => true,
            // A certificate the roots do not accept, or a peer that shares no protocol
            // version or cipher with us, will not change by reconnecting.
            WsError::Tls(e) => !matches!(
                e,
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::PeerIncompatible(_)
                    | rustls::Error::NoCertificatesPresented
            ),
            // Overload and gateway trouble pass; a wrong path (404) or refusal does not.
            WsError::Handshake { status, .. } => {
                matches!(status, Some(408 | 429 | 500..=599))
            }
            WsError::BadUrl { .. }
            | WsError::MessageTooBig { .. }
            | WsError::NoSuchConn(_)
            | WsError::NotOpen => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_classification() {
        let io = || io::Error::from(io::ErrorKind::ConnectionReset);
        let cases: Vec<(WsError, bool)> = vec![
            (
                WsError::BadUrl {
                    url: "x".into(),
                    why: "scheme",
                },
                false,
            ),
            (
                WsError::Dns {
                    host: "h".into(),
                    source: io(),
                },
                true,
            ),
            (WsError::Connect(io()), true),
            (WsError::Io(io()), true),
            (WsError::TimedOut("handshake"), true),
            (WsError::Protocol("bad opcode"), true),
            (
                WsError::Tls(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::UnknownIssuer,
                )),
                false,
            ),
            (WsError::Tls(rustls::Error::DecryptError), true),
            (
                WsError::Handshake {
                    status: Some(404),
                    what: "x",
                },
                false,
            ),
            (
                WsError::Handshake {
                    status: Some(503),
                    what: "x",
                },
                true,
            ),
            (
                WsError::Handshake {
                    status: Some(429),
                    what: "x",
                },
                true,
            ),
            (
                WsError::Handshake {
                    status: None,
                    what: "x",
                },
                false,
            ),
            (WsError::MessageTooBig { size: 2, max: 1 }, false),
            (WsError::NoSuchConn(ConnId(3)), false),
            (WsError::NotOpen, false),
        ];
        for (err, want) in cases {
            assert_eq!(err.is_retryable(), want, "{err}");
        }
    }

    #[test]
    fn default_config() {
        let c = WsConfig::default();
        assert_eq!(c.max_message, 16 << 20);
        assert_eq!(c.read_buf, 64 << 10);
    }
}
