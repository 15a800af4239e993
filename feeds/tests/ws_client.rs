//! The WebSocket client against real servers on loopback: tungstenite servers (plain and
//! over rustls) for the happy paths, raw TCP servers that misbehave on purpose for the rest.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use feeds::ws::{tls_config_with_roots, ConnId, WsClient, WsConfig, WsError, WsEvent};
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame};
use tungstenite::{Message, WebSocket};

/// An owned copy of a `WsEvent`, to assert on after polling.
#[derive(Debug)]
enum Ev {
    Open,
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping,
    Closed {
        code: Option<u16>,
        reason: String,
        clean: bool,
    },
    Error(WsError),
}

impl Ev {
    fn from(event: WsEvent<'_>) -> Ev {
        match event {
            WsEvent::Open => Ev::Open,
            WsEvent::Text { payload, .. } => Ev::Text(payload.to_vec()),
            WsEvent::Binary { payload, .. } => Ev::Binary(payload.to_vec()),
            WsEvent::Ping { .. } => Ev::Ping,
            WsEvent::Closed {
                code,
                reason,
                clean,
            } => Ev::Closed {
                code,
                reason: reason.to_owned(),
                clean,
            },
            WsEvent::Error(e) => Ev::Error(e),
        }
    }
}

/// Polls until `done` holds for the events collected so far. Panics (with the events) if
/// nothing conclusive happens for a long time, so a bug hangs no test run.
fn drive(
    client: &mut WsClient,
    mut done: impl FnMut(&[(ConnId, Ev)]) -> bool,
) -> Vec<(ConnId, Ev)> {
    let give_up = Instant::now() + Duration::from_secs(20);
    let mut got = Vec::new();
    while !done(&got) {
        assert!(Instant::now() < give_up, "stuck; events so far: {got:#?}");
        client
            .poll(Some(Duration::from_millis(20)), &mut |id, ev| {
                got.push((id, Ev::from(ev)))
            })
            .expect("poll");
    }
    got
}

fn closed(events: &[(ConnId, Ev)]) -> bool {
    events.iter().any(|(_, e)| matches!(e, Ev::Closed { .. }))
}

fn opened(events: &[(ConnId, Ev)]) -> bool {
    events.iter().any(|(_, e)| matches!(e, Ev::Open))
}

/// A tungstenite server for one connection on a fresh port; returns its `ws://` URL.
fn serve_one(
    run: impl FnOnce(WebSocket<TcpStream>) + Send + 'static,
) -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/feed?stream=a", listener.local_addr().unwrap());
    let handle = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        // A client that gives up early makes the upgrade fail; that is its test's business.
        if let Ok(ws) = tungstenite::accept(tcp) {
            run(ws);
        }
    });
    (url, handle)
}

/// Echoes text and binary messages until the connection ends.
fn echo<S: Read + Write>(mut ws: WebSocket<S>) {
    loop {
        match ws.read() {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => ws.send(m).unwrap(),
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// Reads until the peer is gone; returns the close frame we got, if any.
fn read_until_closed<S: Read + Write>(
    ws: &mut WebSocket<S>,
) -> (Option<CloseFrame>, tungstenite::Error) {
    let mut close = None;
    loop {
        match ws.read() {
            Ok(Message::Close(c)) => close = c,
            Ok(_) => {}
            Err(e) => return (close, e),
        }
    }
}

fn texts(events: &[(ConnId, Ev)]) -> Vec<String> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            Ev::Text(t) => Some(String::from_utf8(t.clone()).unwrap()),
            _ => None,
        })
        .collect()
}

#[test]
fn text_echo_with_send_queued_before_open() {
    let (url, server) = serve_one(echo);
    let mut client = WsClient::new(WsConfig::default()).unwrap();
    let id = client.connect(&url).unwrap();
    client.send_text(id, b"queued").unwrap();
    let events = drive(&mut client, |ev| texts(ev).len() == 1);
    assert!(matches!(events[0], (i, Ev::Open) if i == id), "{events:?}");
    client.send_text(id, b"{\"p\":\"1.5\"}").unwrap();
    let events = drive(&mut client, |ev| !texts(ev).is_empty());
    assert_eq!(texts(&events), ["{\"p\":\"1.5\"}"]);
    assert_eq!(client.open_connections(), 1);
    client.close(id, 1000);
    drive(&mut client, closed);
    assert_eq!(client.open_connections(), 0);
    assert_eq!(client.state(id), None);
    server.join().unwrap();
}

#[test]
fn fragmented_message_with_ping_between_fragments() {
    let (url, server) = serve_one(|mut ws| {
        let text = OpCode::Data(Data::Text);
        let cont = OpCode::Data(Data::Continue);
        ws.write(Message::Frame(Frame::message("hel", text, false)))
            .unwrap();
        ws.write(Message::Frame(Frame::ping("between"))).unwrap();
        ws.write(Message::Frame(Frame::message("lo ", cont, false)))
            .unwrap();
        ws.write(Message::Frame(Frame::message("world", cont, true)))
            .unwrap();
        ws.send(Message::text("after")).unwrap();
        read_until_closed(&mut ws);
    });
    let mut client = WsClient::new(WsConfig::default()).unwrap();
    let id = client.connect(&url).unwrap();
    let events = drive(&mut client, |ev| texts(ev).len() == 2);
    assert_eq!(texts(&events), ["hello world", "after"]);
    assert!(events.iter().any(|(_, e)| matches!(e, Ev::Ping)));
    client.close(id, 1000);
    drive(&mut client, closed);
    server.join().unwrap();
}

#[test]
fn ping_is_answered_with_same_payload() {
    let (tx, rx) = mpsc::channel();
    let (url, server) = serve_one(move |mut ws| {
        ws.send(Message::Ping(b"are you there"[..].into())).unwrap();
        loop {
            match ws.read() {
                Ok(Message::Pong(p)) => {
                    tx.send(p.to_vec()).unwrap();
                    break;
                }
                Ok(_) => {}
                Err(e) => panic!("server: {e}"),
            }
        }
        read_until_closed(&mut ws);
    });
    let mut client = WsClient::new(WsConfig::default()).unwrap();
    let id = client.connect(&url).unwrap();
    drive(&mut client, |ev| {
        ev.iter().any(|(_, e)| matches!(e, Ev::Ping))
    });
    // Keep polling so the pong is flushed if the socket pushed back.
    let pong = loop {
        client
            .poll(Some(Duration::from_millis(20)), &mut |_, _| {})
            .unwrap();
        if let Ok(p) = rx.try_recv() {
            break p;
        }
    };
    assert_eq!(pong, b"are you there");
    client.close(id, 1000);
    drive(&mut client, closed);
    server.join().unwrap();
}

#[test]
fn server_initiated_close_is_echoed() {
    let (tx, rx) = mpsc::channel();
    let (url, server) = serve_one(move |mut ws| {
        ws.close(Some(CloseFrame {
            code: CloseCode::Away,
            reason: "bye".into(),
        }))
        .unwrap();
        let (_, end) = read_until_closed(&mut ws);
        tx.send(matches!(end, tungstenite::Error::ConnectionClosed))
            .unwrap();
    });
    let mut client = WsClient::new(WsConfig::default()).unwrap();
    let id = client.connect(&url).unwrap();
    let events = drive(&mut client, closed);
    match &events.last().unwrap().1 {
        Ev::Closed {
            code,
            reason,
            clean,
        } => {
            assert_eq!((*code, reason.as_str(), *clean), (Some(1001), "bye", true));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.state(id), None);
    assert!(rx.recv().unwrap(), "server saw no clean closing handshake");
    server.join().unwrap();
}

#[test]
fn client_initiated_close_is_clean() {
    let (tx, rx) = mpsc::channel();
    let (url, server) = serve_one(move |mut ws| {
        let (close, _) = read_until_closed(&mut ws);
        tx.send(close.map(|c| u16::from(c.code))).unwrap();
    });
    let mut client = WsClient::new(WsConfig::default()).unwrap();
    let id = client.connect(&url).unwrap();
    drive(&mut client, opened);
    client.close(id, 1000);
    assert!(
        client.send_text(id, b"late").is_err(),
        "sending after close"
    );
    let events = drive(&mut client, closed);
    assert!(
        matches!(
            events.last().unwrap().1,
            Ev::Closed {
                code: Some(1000),
                clean: true,
                ..
            }
        ),
        "{events:?}"
    );
    assert_eq!(rx.recv().unwrap(), Some(1000));
    server.join().unwrap();
}

#[test]
fn large_messages_use_64_bit_lengths() {
    let (url, server) = serve_one(|mut ws| {
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        ws.send(Message::Binary(big.into())).unwrap();
        echo(ws);
    });
    let mut client = WsClient::new(WsConfig::default()).unwrap();
    let id = client.connect(&url).unwrap();
    let events = drive(&mut client, |ev| {
        ev.iter().any(|(_, e)| matches!(e, Ev::Binary(_)))
    });
    let bin = events
        .iter()
        .find_map(|(_, e)| match e {
            Ev::Binary(b) => Some(b.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(bin.len(), 300_000);
    assert!(bin.iter().enumerate().all(|(i, &b)| b == (i % 253) as u8));

    // And the other way: a 200 kB text message from the client comes back intact.
    let text: String = (0..200_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    client.send_text(id, text.as_bytes()).unwrap();
    let events = drive(&mut client, |ev| !texts(ev).is_empty());
    assert_eq!(texts(&events), [text]);
    client.close(id, 1000);
    drive(&mut client, closed);
    server.join().unwrap();
}

#[test]
fn fifty_connections_on_one_client() {
    const N: usize = 50;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = thread::spawn(move || {
        let handles: Vec<_> = (0..N)
            .map(|_| {
                let (tcp, _) = listener.accept().unwrap();
                thread::spawn(move || echo(tungstenite::accept(tcp).unwrap()))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    let mut client = WsClient::new(WsConfig::default()).unwrap();
    let ids: Vec<ConnId> = (0..N).map(|_| client.connect(&url).unwrap()).collect();
    for (i, id) in ids.iter().enumerate() {
        client
            .send_text(*id, format!("hello {i}").as_bytes())
            .unwrap();
    }
    assert_eq!(client.open_connections(), N);
    let events = drive(&mut client, |ev| texts(ev).len() == N);
    for (i, id) in ids.iter().enumerate() {
        let mine: Vec<&Ev> = events
            .iter()
            .filter(|(c, _)| c == id)
            .map(|(_, e)| e)
            .collect();
        assert!(matches!(mine[0], Ev::Open), "{mine:?}");
        assert!(
            matches!(mine[1], Ev::Text(t) if *t == format!("hello {i}").into_bytes()),
            "{mine:?}"
        );
    }
    for id in &ids {
        client.close(*id, 1000);
    }
    let events = drive(&mut client, |ev| {
        ev.iter()
            .filter(|(_, e)| matches!(e, Ev::Closed { .. }))
            .count()
            == N
    });
    assert!(events
        .iter()
        .all(|(_, e)| matches!(e, Ev::Closed { clean: true, .. })));
    assert_eq!(client.open_connections(), 0);
    server.join().unwrap();
}

type TlsWebSocket = WebSocket<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>;

/// A rustls server config with a fresh self-signed (ECDSA) certificate for `localhost`,
/// offering `versions` and `suites` (all of ring's if empty); also returns the certificate
/// for the client to trust.
fn tls_server_config(
    versions: &[&'static rustls::SupportedProtocolVersion],
    suites: &[rustls::SupportedCipherSuite],
) -> (
    Arc<rustls::ServerConfig>,
    rustls::pki_types::CertificateDer<'static>,
) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let mut provider = rustls::crypto::ring::default_provider();
    if !suites.is_empty() {
        provider.cipher_suites = suites.to_vec();
    }
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key)
        .unwrap();
    (Arc::new(config), cert_der)
}

/// A tungstenite server over rustls for one connection; returns the `wss://localhost` URL
/// and a client config that trusts its certificate.
fn serve_one_tls(
    versions: &[&'static rustls::SupportedProtocolVersion],
    suites: &[rustls::SupportedCipherSuite],
    run: impl FnOnce(TlsWebSocket) + Send + 'static,
) -> (String, WsConfig, thread::JoinHandle<()>) {
    let (server_config, cert) = tls_server_config(versions, suites);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        // `localhost` may resolve to ::1 first; the client then falls back to 127.0.0.1.
        let (tcp, _) = listener.accept().unwrap();
        let tls = rustls::ServerConnection::new(server_config).unwrap();
        run(tungstenite::accept(rustls::StreamOwned::new(tls, tcp)).unwrap());
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let config = WsConfig {
        tls: tls_config_with_roots(roots),
        ..WsConfig::default()
    };
    (format!("wss://localhost:{port}/secure"), config, handle)
}

/// Echoes until the peer closes, then reports whether TLS ended with close_notify (a clean
/// end of the TLS stream) rather than a bare TCP close.
fn echo_then_check_close_notify(mut ws: TlsWebSocket, tx: mpsc::Sender<bool>) {
    loop {
        match ws.read() {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => ws.send(m).unwrap(),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let mut rest = [0u8; 64];
    tx.send(matches!(ws.get_mut().read(&mut rest), Ok(0)))
        .unwrap();
}

/// Sends a small and a 100 kB message over `wss://`, expects both back, then closes cleanly.
fn wss_echo_round_trip(client: &mut WsClient, id: ConnId) {
    client.send_text(id, b"over tls").unwrap();
    let events = drive(client, |ev| !texts(ev).is_empty() || closed(ev));
    assert_eq!(texts(&events), ["over tls"], "{events:?}");
    let big = "x".repeat(100_000);
    client.send_text(id, big.as_bytes()).unwrap();
    let events = drive(client, |ev| !texts(ev).is_empty() || closed(ev));
    assert_eq!(texts(&events), [big]);
    client.close(id, 1000);
    let events = drive(client, closed);
    assert!(
        matches!(events.last().unwrap().1, Ev::Closed { clean: true, .. }),
        "{events:?}"
    );
}

#[test]
fn wss_with_a_self_signed_certificate() {
    let (tx, rx) = mpsc::channel();
    let (url, config, server) = serve_one_tls(rustls::DEFAULT_VERSIONS, &[], move |ws| {
        echo_then_check_close_notify(ws, tx)
    });
    let mut client = WsClient::new(config).unwrap();
    let id = client.connect(&url).unwrap();
    wss_echo_round_trip(&mut client, id);
    assert!(rx.recv().unwrap(), "the server saw no close_notify");
    server.join().unwrap();
}

#[test]
fn wss_with_each_cipher_suite() {
    use rustls::crypto::ring::cipher_suite as cs;
    // Every AEAD in both record formats: TLS 1.3 seals in place, TLS 1.2 through rustls'
    // encrypter, and both open in place.
    let suites = [
        cs::TLS13_AES_128_GCM_SHA256,
        cs::TLS13_AES_256_GCM_SHA384,
        cs::TLS13_CHACHA20_POLY1305_SHA256,
        cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ];
    for suite in suites {
        let (tx, rx) = mpsc::channel();
        let (url, config, server) = serve_one_tls(rustls::ALL_VERSIONS, &[suite], move |ws| {
            let negotiated = ws.get_ref().conn.negotiated_cipher_suite();
            assert_eq!(negotiated, Some(suite));
            echo_then_check_close_notify(ws, tx)
        });
        let mut client = WsClient::new(config).unwrap();
        let id = client.connect(&url).unwrap();
        wss_echo_round_trip(&mut client, id);
        assert!(
            rx.recv().unwrap(),
            "{suite:?}: the server saw no close_notify"
        );
        server.join().unwrap();
    }
}

#[test]
fn wss_garbage_records_are_tls_errors() {
    // A record that fails authentication, and a header announcing more than TLS allows.
    let mut forged = vec![23, 3, 3, 0, 40];
    forged.extend_from_slice(&[0x5a; 40]);
    for junk in [forged, vec![23, 3, 3, 0xff, 0xff]] {
        let (url, config, server) = serve_one_tls(rustls::DEFAULT_VERSIONS, &[], move |mut ws| {
            ws.send(Message::text("fine")).unwrap();
            // Behind rustls' back, straight onto the socket.
            ws.get_mut().sock.write_all(&junk).unwrap();
            read_until_closed(&mut ws);
        });
        let mut client = WsClient::new(config).unwrap();
        client.connect(&url).unwrap();
        let events = drive(&mut client, closed);
        assert_eq!(texts(&events), ["fine"], "{events:?}");
        assert!(matches!(error_of(&events), WsError::Tls(_)), "{events:?}");
        assert!(matches!(
            events.last().unwrap().1,
            Ev::Closed { clean: false, .. }
        ));
        server.join().unwrap();
    }
}

#[test]
fn wss_survives_a_key_update() {
    let (url, config, server) = serve_one_tls(rustls::DEFAULT_VERSIONS, &[], |mut ws| {
        ws.send(Message::text("before")).unwrap();
        // Asks the client to update its keys too; both directions must keep working.
        ws.get_mut().conn.refresh_traffic_keys().unwrap();
        ws.send(Message::text("after")).unwrap();
        echo(ws);
    });
    let mut client = WsClient::new(config).unwrap();
    let id = client.connect(&url).unwrap();
    let events = drive(&mut client, |ev| texts(ev).len() == 2 || closed(ev));
    assert_eq!(texts(&events), ["before", "after"], "{events:?}");
    client.send_text(id, b"new keys").unwrap();
    let events = drive(&mut client, |ev| !texts(ev).is_empty() || closed(ev));
    assert_eq!(texts(&events), ["new keys"], "{events:?}");
    client.close(id, 1000);
    let events = drive(&mut client, closed);
    assert!(
        matches!(events.last().unwrap().1, Ev::Closed { clean: true, .. }),
        "{events:?}"
    );
    server.join().unwrap();
}

#[test]
fn wss_rejects_an_untrusted_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let tls = rustls::ServerConnection::new(Arc::new(server_config)).unwrap();
        let _ = tungstenite::accept(rustls::StreamOwned::new(tls, tcp));
    });
    // Default config: webpki roots, which do not include our self-signed certificate.
    let mut client = WsClient::new(WsConfig::default()).unwrap();
    client.connect(&format!("wss://localhost:{port}/")).unwrap();
    let events = drive(&mut client, closed);
    let err = events
        .iter()
        .find_map(|(_, e)| match e {
            Ev::Error(e) => Some(e),
            _ => None,
        })
        .unwrap();
    assert!(matches!(err, WsError::Tls(_)), "{err:?}");
    assert!(!err.is_retryable());
    server.join().unwrap();
}

/// A raw TCP server: reads the upgrade request, then lets `run` write whatever it likes.
/// `run` gets the stream and the accept value tungstenite derives for the request's key.
fn serve_raw(
    run: impl FnOnce(TcpStream, String) + Send + 'static,
) -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/raw", listener.local_addr().unwrap());
    let handle = thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") {
            if tcp.read(&mut byte).unwrap() == 0 {
                return;
            }
            request.push(byte[0]);
        }
        let request = String::from_utf8(request).unwrap();
        let key = request
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap();
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        run(tcp, accept);
    });
    (url, handle)
}

fn upgrade_response(accept: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

/// The server answers the upgrade and, in the same write, one good text frame followed by
/// `bad`. The client must deliver the good frame, then report an error and close.
fn misbehaving_server(bad: &'static [u8], max_message: usize) -> Vec<(ConnId, Ev)> {
    let (tx, rx) = mpsc::channel();
    let (url, server) = serve_raw(move |mut tcp, accept| {
        let mut bytes = upgrade_response(&accept);
        bytes.extend_from_slice(&[0x81, 0x02, b'o', b'k']);
        bytes.extend_from_slice(bad);
        tcp.write_all(&bytes).unwrap();
        // Whatever the client sends back before hanging up (its close frame).
        let mut back = Vec::new();
        let _ = tcp.read_to_end(&mut back);
        tx.send(back).unwrap();
    });
    let config = WsConfig {
        max_message,
        ..WsConfig::default()
    };
    let mut client = WsClient::new(config).unwrap();
    client.connect(&url).unwrap();
    let events = drive(&mut client, closed);
    let back = rx.recv().unwrap();
    server.join().unwrap();
    assert_eq!(texts(&events), ["ok"], "{events:?}");
    let n = events.len();
    assert!(matches!(events[n - 2].1, Ev::Error(_)), "{events:?}");
    // The client's close frame: opcode close, masked, 2-byte code.
    assert_eq!(&back[..2], &[0x88, 0x82], "{back:02x?}");
    let code = u16::from_be_bytes([back[2] ^ back[6], back[3] ^ back[7]]);
    match &events[n - 1].1 {
        Ev::Closed { code: c, clean, .. } => {
            assert_eq!(*c, Some(code));
            assert!(!clean);
        }
        other => panic!("{other:?}"),
    }
    events
}

fn error_of(events: &[(ConnId, Ev)]) -> &WsError {
    events
        .iter()
        .find_map(|(_, e)| match e {
            Ev::Error(e) => Some(e),
            _ => None,
        })
        .unwrap()
}

#[test]
fn masked_server_frame_is_a_protocol_error() {
    let events = misbehaving_server(&[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2], 1 << 20);
    assert!(
        matches!(error_of(&events), WsError::Protocol(_)),
        "{events:?}"
    );
    assert!(matches!(
        events.last().unwrap().1,
        Ev::Closed {
            code: Some(1002),
            ..
        }
    ));
}

#[test]
fn unknown_opcode_is_a_protocol_error() {
    let events = misbehaving_server(&[0x83, 0x00], 1 << 20);
    assert!(
        matches!(error_of(&events), WsError::Protocol(_)),
        "{events:?}"
    );
    assert!(matches!(
        events.last().unwrap().1,
        Ev::Closed {
            code: Some(1002),
            ..
        }
    ));
}

#[test]
fn oversize_frame_closes_with_1009() {
    // Announces 1 MiB against a 64 KiB limit; the payload never needs to arrive.
    let events = misbehaving_server(&[0x82, 127, 0, 0, 0, 0, 0, 0x10, 0, 0], 64 << 10);
    assert!(
        matches!(
            error_of(&events),
            WsError::MessageTooBig {
                size: 1_048_576,
                max: 65_536
            }
        ),
        "{events:?}"
    );
    assert!(matches!(
        events.last().unwrap().1,
        Ev::Closed {
            code: Some(1009),
            ..
        }
    ));
}

#[test]
fn handshake_rejection_reports_the_status() {
    let (url, server) = serve_raw(|mut tcp, _| {
        tcp.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
    });
    let mut client = WsClient::new(WsConfig::default()).unwrap();
    client.send_text(ConnId(7), b"x").unwrap_err();
    let id = client.connect(&url).unwrap();
    let events = drive(&mut client, closed);
    assert!(
        matches!(
            error_of(&events),
            WsError::Handshake {
                status: Some(404),
                ..
            }
        ),
        "{events:?}"
    );
    assert!(!error_of(&events).is_retryable());
    assert!(matches!(events.last().unwrap(), (i, Ev::Closed { clean: false, .. }) if *i == id));
    assert_eq!(client.open_connections(), 0);
    server.join().unwrap();
}

#[test]
fn eof_without_close_is_unclean() {
    let (url, server) = serve_raw(|mut tcp, accept| {
        tcp.write_all(&upgrade_response(&accept)).unwrap();
        tcp.write_all(&[0x81, 0x03, b'b', b'y', b'e']).unwrap();
    });
    let mut client = WsClient::new(WsConfig::default()).unwrap();
    client.connect(&url).unwrap();
    let events = drive(&mut client, closed);
    assert_eq!(texts(&events), ["bye"]);
    assert!(
        matches!(
            events.last().unwrap().1,
            Ev::Closed {
                code: None,
                clean: false,
                ..
            }
        ),
        "{events:?}"
    );
    server.join().unwrap();
}

#[test]
fn bad_urls_and_refused_connections() {
    let mut client = WsClient::new(WsConfig::default()).unwrap();
    let err = client.connect("http://example.com/").unwrap_err();
    assert!(matches!(err, WsError::BadUrl { .. }) && !err.is_retryable());
    // A port nobody listens on: bind, learn the port, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    match client.connect(&format!("ws://127.0.0.1:{port}/")) {
        Err(e) => assert!(e.is_retryable(), "{e:?}"),
        Ok(_) => {
            let events = drive(&mut client, closed);
            assert!(
                matches!(error_of(&events), WsError::Connect(_)),
                "{events:?}"
            );
            assert!(error_of(&events).is_retryable());
        }
    }
    assert_eq!(client.open_connections(), 0);
}

#[test]
fn close_before_open_reports_closed() {
    // The server thread is not joined: whether it ever sees the aborted connection is up to
    // the kernel.
    let (url, _server) = serve_one(echo);
    let mut client = WsClient::new(WsConfig::default()).unwrap();
    let id = client.connect(&url).unwrap();
    client.close(id, 1000);
    let events = drive(&mut client, closed);
    assert!(
        matches!(events[..], [(i, Ev::Closed { clean: false, .. })] if i == id),
        "{events:?}"
    );
    assert_eq!(client.state(id), None);
}

/// One batch of the steady-state test: whole frames of many sizes, fragmented messages with
/// pings between fragments, a message larger than the receive buffer, then `END`.
fn send_batch<S: Read + Write>(ws: &mut WebSocket<S>) {
    let text = OpCode::Data(Data::Text);
    let cont = OpCode::Data(Data::Continue);
    for i in 0..200 {
        ws.write(Message::text("t".repeat(10 + i * 10))).unwrap();
    }
    for _ in 0..5 {
        ws.write(Message::Frame(Frame::message(
            "a".repeat(2000),
            text,
            false,
        )))
        .unwrap();
        ws.write(Message::Frame(Frame::ping("between"))).unwrap();
        ws.write(Message::Frame(Frame::message(
            "b".repeat(2000),
            cont,
            false,
        )))
        .unwrap();
        ws.write(Message::Frame(Frame::message("c".repeat(1000), cont, true)))
            .unwrap();
    }
    ws.write(Message::Binary(vec![7u8; 150_000].into()))
        .unwrap();
    ws.send(Message::text("END")).unwrap();
}

/// Receives one batch of `send_batch`; returns (texts, binaries, pings, payload bytes).
/// Counts in place, so the handler itself allocates nothing.
fn receive_batch(client: &mut WsClient) -> (usize, usize, usize, usize) {
    let (mut texts, mut binaries, mut pings, mut bytes, mut end) = (0, 0, 0, 0, false);
    let give_up = Instant::now() + Duration::from_secs(20);
    while !end {
        assert!(Instant::now() < give_up, "stuck");
        client
            .poll(Some(Duration::from_millis(20)), &mut |_, ev| match ev {
                WsEvent::Text { payload, .. } => {
                    if payload == b"END" {
                        end = true;
                    } else {
                        texts += 1;
                        bytes += payload.len();
                    }
                }
                WsEvent::Binary { payload, .. } => {
                    binaries += 1;
                    bytes += payload.len();
                }
                WsEvent::Ping { .. } => pings += 1,
                WsEvent::Open => {}
                other => panic!("unexpected {other:?}"),
            })
            .unwrap();
    }
    (texts, binaries, pings, bytes)
}

/// Receives a warm-up batch, lets the server send a second one (`go`), and asserts that
/// the second was received whole without a single allocation on this thread (pongs
/// included: they are written while reading).
fn assert_steady_state_allocates_nothing(client: &mut WsClient, go: mpsc::Sender<()>) {
    // The first batch grows the reassembly buffer; seeing that proves the counter counts.
    let (warm, warm_allocations) = common::count_allocations(|| receive_batch(client));
    assert!(warm_allocations > 0);
    go.send(()).unwrap();
    let (steady, allocations) = common::count_allocations(|| receive_batch(client));
    assert_eq!(warm, steady);
    assert_eq!(steady.0, 205);
    assert_eq!(steady.1, 1);
    assert_eq!(steady.2, 5);
    assert_eq!(
        allocations, 0,
        "allocations while reading a warm connection"
    );
}

#[test]
fn steady_state_reading_does_not_allocate() {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (url, server) = serve_one(move |mut ws| {
        send_batch(&mut ws);
        go_rx.recv().unwrap();
        send_batch(&mut ws);
        read_until_closed(&mut ws);
    });
    let mut client = WsClient::new(WsConfig::default()).unwrap();
    let id = client.connect(&url).unwrap();
    assert_steady_state_allocates_nothing(&mut client, go_tx);
    client.close(id, 1000);
    drive(&mut client, closed);
    server.join().unwrap();
}

#[test]
fn wss_steady_state_reading_does_not_allocate() {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (pongs_tx, pongs_rx) = mpsc::channel();
    let (url, config, server) = serve_one_tls(rustls::DEFAULT_VERSIONS, &[], move |mut ws| {
        send_batch(&mut ws);
        go_rx.recv().unwrap();
        send_batch(&mut ws);
        // The client's pongs (sealed by it while reading) must decrypt here.
        let mut pongs = 0;
        loop {
            match ws.read() {
                Ok(Message::Pong(p)) => {
                    assert_eq!(&p[..], b"between");
                    pongs += 1;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        pongs_tx.send(pongs).unwrap();
    });
    let mut client = WsClient::new(config).unwrap();
    let id = client.connect(&url).unwrap();
    assert_steady_state_allocates_nothing(&mut client, go_tx);
    client.close(id, 1000);
    let events = drive(&mut client, closed);
    assert!(
        matches!(events.last().unwrap().1, Ev::Closed { clean: true, .. }),
        "{events:?}"
    );
    assert_eq!(pongs_rx.recv().unwrap(), 10);
    server.join().unwrap();
}
