//! TLS for `wss://`: rustls client configurations (always on the ring provider; the
//! workspace does not build aws-lc) and [`TlsStream`], the session that keeps reading
//! allocation-free once established.
//!
//! rustls 0.23 queues every received record's plaintext as a new `Vec`, in its buffered
//! API and in its unbuffered one alike. So rustls runs only the handshake (unbuffered API,
//! in our buffers, verifying the certificate against the configured roots for the SNI
//! name); then the session is handed to rustls' kernel API, which keeps the secrets (key
//! updates, session tickets), and the records are opened and sealed here with the cipher
//! suite's own AEAD from the provider: opened in place in the ciphertext buffer, sealed in
//! place in the send buffer (TLS 1.3; TLS 1.2 seals through the provider's record
//! encrypter, one allocation per record sent).

use std::io::{self, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::client::{ClientConnectionData, UnbufferedClientConnection};
use rustls::crypto::cipher::{
    AeadKey, InboundOpaqueMessage, Iv, MessageDecrypter, MessageEncrypter, OutboundChunks,
    OutboundPlainMessage,
};
use rustls::crypto::CryptoProvider;
use rustls::kernel::KernelConnection;
use rustls::pki_types::ServerName;
use rustls::quic::PacketKey;
use rustls::unbuffered::{ConnectionState, EncodeError, EncodeTlsData};
use rustls::{
    AlertDescription, ClientConfig, ConnectionTrafficSecrets, ContentType, HandshakeType,
    InvalidMessage, ProtocolVersion, RootCertStore, SupportedCipherSuite,
};

use super::WsError;

/// A TLS client config that trusts exactly `roots` (TLS 1.2 and 1.3, ring crypto, no client
/// certificate). Use it for test servers with self-signed certificates or private CAs.
pub fn tls_config_with_roots(roots: RootCertStore) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        // ring supports both default protocol versions; this cannot fail with it.
        .expect("ring provider supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// The default: the Mozilla root programme's CAs as bundled by `webpki-roots`.
pub(super) fn default_tls_config() -> Arc<ClientConfig> {
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    tls_config_with_roots(roots)
}

/// Fills `out` from the config's secure random source, falling back to the clock if the
/// OS refuses (the bytes seed handshake nonces and mask keys, which need no secrecy).
pub(super) fn random_bytes(config: &ClientConfig, out: &mut [u8]) {
    let provider: &CryptoProvider = config.crypto_provider();
    if provider.secure_random.fill(out).is_err() {
        log::debug!("secure random unavailable; seeding websocket nonces from the clock");
        let mut x = crate::clock::wall_us() as u64 ^ crate::clock::mono_ns().rotate_left(32) | 1;
        for b in out.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
}

/// Largest plaintext in one TLS record.
const MAX_PLAIN: usize = 1 << 14;
/// Largest record accepted: header plus the most expansion TLS 1.2 allows (TLS 1.3 allows
/// less).
const MAX_RECORD: usize = 5 + MAX_PLAIN + 2048;
/// Post-handshake messages (session tickets, key updates) larger than this are refused.
const MAX_POST_HANDSHAKE: usize = 1 << 16;

/// The receive buffer may grow to this while a large handshake message is assembled.
const MAX_HANDSHAKE_BUF: usize = 1 << 20;

/// What one [`TlsStream::read`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TlsRead {
    /// This many plaintext bytes were copied out.
    Data(usize),
    /// Nothing more until the socket is readable again.
    WouldBlock,
    /// The peer sent close_notify or closed the socket.
    Eof,
}

/// Received ciphertext: `start..end` is not processed yet; `plain` is the decrypted part
/// of the last record not yet copied out.
struct Incoming {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    plain: (usize, usize),
}

/// Ciphertext waiting for the socket: `start..end` of a buffer whose length is its capacity.
struct Outgoing {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Outgoing {
    fn room(&self) -> usize {
        self.buf.len() - self.end
    }

    /// Writes until empty (`Ok(true)`) or the socket pushes back (`Ok(false)`).
    fn flush(&mut self, stream: &mut TcpStream) -> io::Result<bool> {
        while self.start < self.end {
            match stream.write(&self.buf[self.start..self.end]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.start += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.start = 0;
        self.end = 0;
        Ok(true)
    }
}

/// The record layer after the handshake: rustls keeps the secrets (key updates, session
/// tickets), the records are opened and sealed here with the suite's own AEAD.
struct Traffic {
    kernel: KernelConnection<ClientConnectionData>,
    suite: SupportedCipherSuite,
    dec: Box<dyn MessageDecrypter>,
    enc: Sealer,
    rx_seq: u64,
    tx_seq: u64,
    /// Records we may seal with one key before the suite's confidentiality limit.
    tx_limit: u64,
    /// Post-handshake messages that may span records (reserved once, at handover).
    hs: Vec<u8>,
    close_sent: bool,
}

/// How records are sealed.
enum Sealer {
    /// TLS 1.3: the suite's AEAD as rustls exposes it for QUIC packets, which seals in place
    /// with the same nonce construction as TLS 1.3 records (IV xor sequence number), so the
    /// record is built directly in the send buffer.
    InPlace(Box<dyn PacketKey>),
    /// TLS 1.2: the provider's record encrypter, which returns each record as a new buffer.
    Owned(Box<dyn MessageEncrypter>),
}

impl Sealer {
    /// Size on the wire of a record carrying `n` plaintext bytes.
    fn record_len(&self, n: usize) -> usize {
        match self {
            Sealer::InPlace(key) => 5 + n + 1 + key.tag_len(),
            Sealer::Owned(enc) => 5 + enc.encrypted_payload_len(n),
        }
    }
}

enum Phase {
    Handshake(Box<UnbufferedClientConnection>),
    Traffic(Box<Traffic>),
    /// A TLS error was reported; nothing more is read or written.
    Failed,
}

/// One client TLS session over a non-blocking socket. rustls' unbuffered API runs the
/// handshake in our two buffers; then the session is handed to rustls' kernel API and
/// records are opened in place in the receive buffer and (TLS 1.3) sealed in place in the
/// send buffer, so an established TLS 1.3 session allocates nothing per record. Decrypted
/// bytes are copied once into the caller's buffer, as rustls' reader did before.
pub(super) struct TlsStream {
    phase: Phase,
    rx: Incoming,
    tx: Outgoing,
    peer_closed: bool,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let phase = match &self.phase {
            Phase::Handshake(_) => "handshake",
            Phase::Traffic(_) => "traffic",
            Phase::Failed => "failed",
        };
        f.debug_struct("TlsStream")
            .field("phase", &phase)
            .field("rx_pending", &(self.rx.end - self.rx.start))
            .field("tx_pending", &(self.tx.end - self.tx.start))
            .field("peer_closed", &self.peer_closed)
            .finish()
    }
}

impl TlsStream {
    /// Starts a session for `name` (SNI and certificate check) with `config`'s roots.
    pub(super) fn new(
        config: &Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<TlsStream, rustls::Error> {
        // The handover to our own record layer needs the traffic secrets; a private copy
        // of the config allows extracting them without changing the caller's.
        let mut config = ClientConfig::clone(config);
        config.enable_secret_extraction = true;
        let conn = UnbufferedClientConnection::new(Arc::new(config), name)?;
        Ok(TlsStream {
            phase: Phase::Handshake(Box::new(conn)),
            rx: Incoming {
                buf: vec![0; 2 * MAX_RECORD],
                start: 0,
                end: 0,
                plain: (0, 0),
            },
            tx: Outgoing {
                buf: vec![0; 2 * MAX_RECORD],
                start: 0,
                end: 0,
            },
            peer_closed: false,
        })
    }

    /// Copies decrypted bytes into `dst`, reading and opening records as needed.
    pub(super) fn read(
        &mut self,
        stream: &mut TcpStream,
        dst: &mut [u8],
    ) -> Result<TlsRead, WsError> {
        loop {
            let (a, b) = self.rx.plain;
            if a < b {
                let n = (b - a).min(dst.len());
                dst[..n].copy_from_slice(&self.rx.buf[a..a + n]);
                self.rx.plain.0 += n;
                return Ok(TlsRead::Data(n));
            }
            if !self.handshake(stream)? {
                return Ok(TlsRead::WouldBlock);
            }
            if self.peer_closed {
                return Ok(TlsRead::Eof);
            }
            match self.open_record() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    // Fatal for the session: no close_notify after this.
                    self.phase = Phase::Failed;
                    return Err(e);
                }
            }
            match fill(&mut self.rx, stream)? {
                Fill::Got => {}
                Fill::WouldBlock => return Ok(TlsRead::WouldBlock),
                Fill::Eof => return Ok(TlsRead::Eof),
            }
        }
    }

    /// Encrypts a prefix of `data` into the send buffer and writes what the socket takes;
    /// returns how much of `data` was taken (0 while the handshake is still running).
    pub(super) fn write(&mut self, stream: &mut TcpStream, data: &[u8]) -> Result<usize, WsError> {
        if !self.handshake(stream)? {
            return Ok(0);
        }
        let Phase::Traffic(t) = &mut self.phase else {
            return Ok(0);
        };
        let mut done = 0;
        while done < data.len() {
            let n = (data.len() - done).min(MAX_PLAIN);
            if self.tx.room() < t.enc.record_len(n) {
                self.tx.flush(stream)?;
                if self.tx.room() < t.enc.record_len(n) {
                    break;
                }
            }
            seal(
                t,
                &mut self.tx,
                ContentType::ApplicationData,
                &data[done..done + n],
            )?;
            done += n;
        }
        self.tx.flush(stream)?;
        Ok(done)
    }

    /// Advances the handshake and writes pending ciphertext.
    pub(super) fn flush(&mut self, stream: &mut TcpStream) -> Result<(), WsError> {
        self.handshake(stream)?;
        self.tx.flush(stream)?;
        Ok(())
    }

    /// Sends close_notify (once, best effort): no more data comes from us.
    pub(super) fn close_notify(&mut self, stream: &mut TcpStream) {
        let Phase::Traffic(t) = &mut self.phase else {
            return;
        };
        if t.close_sent {
            return;
        }
        t.close_sent = true;
        let alert = [1, u8::from(AlertDescription::CloseNotify)];
        if seal(t, &mut self.tx, ContentType::Alert, &alert).is_ok() {
            let _ = self.tx.flush(stream);
        }
    }

    /// Drives the handshake as far as the socket allows; `Ok(true)` once it is complete.
    fn handshake(&mut self, stream: &mut TcpStream) -> Result<bool, WsError> {
        loop {
            let Phase::Handshake(conn) = &mut self.phase else {
                return match self.phase {
                    Phase::Failed => Err(WsError::Io(io::Error::other("tls session has failed"))),
                    _ => Ok(true),
                };
            };
            let status = conn.process_tls_records(&mut self.rx.buf[self.rx.start..self.rx.end]);
            let discard = status.discard;
            let step = match status.state {
                Err(e) => Step::Failed(e),
                Ok(ConnectionState::EncodeTlsData(mut data)) => {
                    encode(&mut data, &mut self.tx);
                    Step::Again
                }
                Ok(ConnectionState::TransmitTlsData(data)) => {
                    // Our send buffer keeps the records in order; they leave with the
                    // next flush if the socket takes them only in part now.
                    data.done();
                    Step::Transmit
                }
                Ok(ConnectionState::BlockedHandshake) => Step::NeedData,
                Ok(ConnectionState::WriteTraffic(_)) => Step::Done,
                Ok(ConnectionState::PeerClosed | ConnectionState::Closed) => Step::Eof,
                Ok(_) => Step::Failed(rustls::Error::General(
                    "application data before the handshake completed".into(),
                )),
            };
            self.rx.start += discard;
            match step {
                Step::Again => {}
                Step::Transmit => {
                    self.tx.flush(stream)?;
                }
                Step::NeedData => match fill(&mut self.rx, stream)? {
                    Fill::Got => {}
                    Fill::WouldBlock => return Ok(false),
                    Fill::Eof => return Err(WsError::Io(eof_in_handshake())),
                },
                Step::Eof => return Err(WsError::Io(eof_in_handshake())),
                Step::Done => {
                    self.enter_traffic()?;
                    return Ok(true);
                }
                Step::Failed(e) => {
                    self.send_alert(stream);
                    self.phase = Phase::Failed;
                    return Err(WsError::Tls(e));
                }
            }
        }
    }

    /// After a handshake error rustls has queued an alert for the peer: send it, best
    /// effort, so the server learns why.
    fn send_alert(&mut self, stream: &mut TcpStream) {
        if let Phase::Handshake(conn) = &mut self.phase {
            let status = conn.process_tls_records(&mut []);
            if let Ok(ConnectionState::EncodeTlsData(mut data)) = status.state {
                encode(&mut data, &mut self.tx);
            }
        }
        let _ = self.tx.flush(stream);
    }

    /// Hands the established session over to our record layer.
    fn enter_traffic(&mut self) -> Result<(), WsError> {
        let Phase::Handshake(conn) = std::mem::replace(&mut self.phase, Phase::Failed) else {
            return Ok(());
        };
        let (secrets, kernel) = (*conn).dangerous_into_kernel_connection()?;
        let suite = kernel.negotiated_cipher_suite();
        let tx_limit = match suite {
            SupportedCipherSuite::Tls12(s) => s.common.confidentiality_limit,
            SupportedCipherSuite::Tls13(s) => s.common.confidentiality_limit,
        };
        let dec = decrypter(suite, secrets.rx.1)?;
        let enc = encrypter(suite, secrets.tx.1)?;
        self.phase = Phase::Traffic(Box::new(Traffic {
            kernel,
            suite,
            dec,
            enc,
            rx_seq: secrets.rx.0,
            tx_seq: secrets.tx.0,
            tx_limit,
            hs: Vec::with_capacity(4096),
            close_sent: false,
        }));
        Ok(())
    }

    /// Opens the next complete record, if there is one (`Ok(false)`: more bytes needed).
    fn open_record(&mut self) -> Result<bool, WsError> {
        let Phase::Traffic(t) = &mut self.phase else {
            return Ok(false);
        };
        let rx = &mut self.rx;
        let avail = &rx.buf[rx.start..rx.end];
        if avail.len() < 5 {
            return Ok(false);
        }
        let typ = ContentType::from(avail[0]);
        let version = ProtocolVersion::from(u16::from_be_bytes([avail[1], avail[2]]));
        let len = usize::from(u16::from_be_bytes([avail[3], avail[4]]));
        if 5 + len > MAX_RECORD {
            return Err(tls_err(InvalidMessage::MessageTooLarge));
        }
        if avail.len() < 5 + len {
            return Ok(false);
        }
        let tls13 = matches!(t.suite, SupportedCipherSuite::Tls13(_));
        if tls13 && typ != ContentType::ApplicationData {
            // After the handshake TLS 1.3 carries everything in application data records.
            return Err(tls_err(InvalidMessage::InvalidContentType));
        }
        let base = rx.buf.as_ptr() as usize;
        let buf_len = rx.buf.len();
        let body = &mut rx.buf[rx.start + 5..rx.start + 5 + len];
        let record = InboundOpaqueMessage::new(typ, version, body);
        let plain = t.dec.decrypt(record, t.rx_seq)?;
        t.rx_seq += 1;
        // The plaintext lies inside the record's body; remember where.
        let plain_len = plain.payload.len();
        let at = (plain.payload.as_ptr() as usize)
            .checked_sub(base)
            .filter(|at| at + plain_len <= buf_len)
            .ok_or(WsError::Tls(rustls::Error::DecryptError))?;
        let plain_typ = plain.typ;
        rx.start += 5 + len;
        match plain_typ {
            ContentType::ApplicationData => rx.plain = (at, at + plain_len),
            ContentType::Alert => {
                let &[level, desc] = &rx.buf[at..at + plain_len] else {
                    return Err(tls_err(InvalidMessage::MessageTooShort));
                };
                let desc = AlertDescription::from(desc);
                if desc == AlertDescription::CloseNotify {
                    self.peer_closed = true;
                } else if level != 1 || tls13 {
                    return Err(WsError::Tls(rustls::Error::AlertReceived(desc)));
                }
            }
            ContentType::Handshake => {
                post_handshake(t, &mut self.tx, &rx.buf[at..at + plain_len], tls13)?;
            }
            _ => return Err(tls_err(InvalidMessage::InvalidContentType)),
        }
        Ok(true)
    }
}

enum Step {
    Again,
    Transmit,
    NeedData,
    Done,
    Eof,
    Failed(rustls::Error),
}

enum Fill {
    Got,
    WouldBlock,
    Eof,
}

/// Reads more ciphertext. Only called once the decrypted bytes were copied out, so the
/// unprocessed bytes may move to the front.
fn fill(rx: &mut Incoming, stream: &mut TcpStream) -> io::Result<Fill> {
    if rx.start == rx.end {
        rx.start = 0;
        rx.end = 0;
    } else if rx.end == rx.buf.len() {
        rx.buf.copy_within(rx.start..rx.end, 0);
        rx.end -= rx.start;
        rx.start = 0;
    }
    if rx.end == rx.buf.len() {
        // Only the handshake can get here: rustls keeps the records of a handshake
        // message that spans several (a long certificate chain) until it is complete.
        if rx.buf.len() >= MAX_HANDSHAKE_BUF {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "tls handshake message too large",
            ));
        }
        rx.buf.resize(rx.buf.len() * 2, 0);
    }
    rx.plain = (0, 0);
    loop {
        return match stream.read(&mut rx.buf[rx.end..]) {
            Ok(0) => Ok(Fill::Eof),
            Ok(n) => {
                rx.end += n;
                Ok(Fill::Got)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Fill::WouldBlock),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Err(e),
        };
    }
}

/// Copies a handshake record rustls produced into the send buffer (growing it if a
/// handshake message is unusually large; this happens only during the handshake).
fn encode(data: &mut EncodeTlsData<'_, ClientConnectionData>, tx: &mut Outgoing) {
    loop {
        match data.encode(&mut tx.buf[tx.end..]) {
            Ok(n) => {
                tx.end += n;
                return;
            }
            Err(EncodeError::InsufficientSize(s)) => tx.buf.resize(tx.end + s.required_size, 0),
            Err(_) => return,
        }
    }
}

/// Seals one record of type `typ` into the send buffer.
fn seal(
    t: &mut Traffic,
    tx: &mut Outgoing,
    typ: ContentType,
    data: &[u8],
) -> Result<(), rustls::Error> {
    if t.tx_seq >= t.tx_limit {
        return Err(rustls::Error::EncryptError);
    }
    let len = t.enc.record_len(data.len());
    if tx.room() < len {
        // Only control records can get here (data is sealed when there is room).
        tx.buf.resize(tx.end + len, 0);
    }
    match &mut t.enc {
        Sealer::InPlace(key) => {
            // TLS 1.3 record: outer header, then plaintext, inner content type and tag.
            let wire_len = u16::try_from(len - 5).map_err(|_| rustls::Error::EncryptError)?;
            let out = &mut tx.buf[tx.end..tx.end + len];
            let (header, rest) = out.split_at_mut(5);
            header[0] = u8::from(ContentType::ApplicationData);
            header[1..3].copy_from_slice(&u16::from(ProtocolVersion::TLSv1_2).to_be_bytes());
            header[3..5].copy_from_slice(&wire_len.to_be_bytes());
            let (body, tag_out) = rest.split_at_mut(data.len() + 1);
            body[..data.len()].copy_from_slice(data);
            body[data.len()] = u8::from(typ);
            let tag = key.encrypt_in_place(t.tx_seq, header, body)?;
            tag_out.copy_from_slice(tag.as_ref());
        }
        Sealer::Owned(enc) => {
            let plain = OutboundPlainMessage {
                typ,
                version: ProtocolVersion::TLSv1_2,
                payload: OutboundChunks::Single(data),
            };
            let record = enc.encrypt(plain, t.tx_seq)?.encode();
            tx.buf[tx.end..tx.end + record.len()].copy_from_slice(&record);
        }
    }
    t.tx_seq += 1;
    tx.end += len;
    Ok(())
}

/// Handles handshake messages after the handshake: TLS 1.3 session tickets and key
/// updates. TLS 1.2 can only bring a renegotiation request, which we ignore (RFC 5246
/// allows that).
fn post_handshake(
    t: &mut Traffic,
    tx: &mut Outgoing,
    data: &[u8],
    tls13: bool,
) -> Result<(), WsError> {
    if !tls13 {
        return Ok(());
    }
    if t.hs.len() + data.len() > MAX_POST_HANDSHAKE {
        return Err(tls_err(InvalidMessage::HandshakePayloadTooLarge));
    }
    t.hs.extend_from_slice(data);
    let mut used = 0;
    while let [typ, a, b, c, ..] = t.hs[used..] {
        let len = u32::from_be_bytes([0, a, b, c]) as usize;
        let Some(body) = t.hs.get(used + 4..used + 4 + len) else {
            break;
        };
        match HandshakeType::from(typ) {
            HandshakeType::NewSessionTicket => t.kernel.handle_new_session_ticket(body)?,
            HandshakeType::KeyUpdate => {
                let &[request] = body else {
                    return Err(tls_err(InvalidMessage::InvalidKeyUpdate));
                };
                if request > 1 {
                    return Err(tls_err(InvalidMessage::InvalidKeyUpdate));
                }
                let (seq, secret) = t.kernel.update_rx_secret()?;
                t.dec = decrypter(t.suite, secret)?;
                t.rx_seq = seq;
                if request == 1 && !t.close_sent {
                    // Answer with our own update (not requesting one back), sealed with
                    // the old key, then switch.
                    let answer = [u8::from(HandshakeType::KeyUpdate), 0, 0, 1, 0];
                    seal(t, tx, ContentType::Handshake, &answer)?;
                    let (seq, secret) = t.kernel.update_tx_secret()?;
                    t.enc = encrypter(t.suite, secret)?;
                    t.tx_seq = seq;
                }
            }
            _ => {
                return Err(tls_err(InvalidMessage::UnexpectedMessage(
                    "handshake message after the handshake",
                )))
            }
        }
        used += 4 + len;
    }
    t.hs.drain(..used);
    Ok(())
}

fn key_and_iv(secret: ConnectionTrafficSecrets) -> Result<(AeadKey, Iv), rustls::Error> {
    match secret {
        ConnectionTrafficSecrets::Aes128Gcm { key, iv }
        | ConnectionTrafficSecrets::Aes256Gcm { key, iv }
        | ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => Ok((key, iv)),
        _ => Err(rustls::Error::General(
            "unsupported cipher for the record layer".into(),
        )),
    }
}

fn decrypter(
    suite: SupportedCipherSuite,
    secret: ConnectionTrafficSecrets,
) -> Result<Box<dyn MessageDecrypter>, rustls::Error> {
    let (key, iv) = key_and_iv(secret)?;
    Ok(match suite {
        SupportedCipherSuite::Tls13(s) => s.aead_alg.decrypter(key, iv),
        SupportedCipherSuite::Tls12(s) => {
            // TLS 1.2 secrets come as the fixed IV followed by the explicit-nonce seed.
            let fixed = s.aead_alg.key_block_shape().fixed_iv_len;
            s.aead_alg.decrypter(key, &iv.as_ref()[..fixed])
        }
    })
}

fn encrypter(
    suite: SupportedCipherSuite,
    secret: ConnectionTrafficSecrets,
) -> Result<Sealer, rustls::Error> {
    let (key, iv) = key_and_iv(secret)?;
    Ok(match suite {
        SupportedCipherSuite::Tls13(s) => match s.quic {
            Some(quic) => Sealer::InPlace(quic.packet_key(key, iv)),
            None => Sealer::Owned(s.aead_alg.encrypter(key, iv)),
        },
        SupportedCipherSuite::Tls12(s) => {
            let fixed = s.aead_alg.key_block_shape().fixed_iv_len;
            let (fixed_iv, extra) = iv.as_ref().split_at(fixed);
            Sealer::Owned(s.aead_alg.encrypter(key, fixed_iv, extra))
        }
    })
}

fn tls_err(e: InvalidMessage) -> WsError {
    WsError::Tls(rustls::Error::InvalidMessage(e))
}

fn eof_in_handshake() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "connection closed during the tls handshake",
    )
}
