//! The start-up HTTP client (ureq over rustls) over TLS against a loopback rustls server with a self-signed
//! certificate: a chunked `https://` response read and parsed as a venue list, an untrusted
//! certificate refused, and a server that never answers cut off by the timeout.

use engine::instruments::{http, Family};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

fn server_config() -> (
    Arc<rustls::ServerConfig>,
    rustls::pki_types::CertificateDer<'static>,
) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![der.clone()], key)
    .unwrap();
    (Arc::new(config), der)
}

const GATE: &str = r#"[{"name":"BTC_USDT","type":"direct","quanto_multiplier":"0.0001","in_delisting":false},{"name":"ETH_USDT","type":"direct","quanto_multiplier":"0.01","in_delisting":false}]"#;

/// Serves one TLS connection: reads the request head, answers with `GATE` in two chunks.
fn serve_one(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(config).unwrap();
        let mut s = rustls::StreamOwned::new(conn, tcp);
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut b).unwrap() == 0 {
                break;
            }
            head.push(b[0]);
        }
        let (a, z) = GATE.split_at(40);
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{z}\r\n0\r\n\r\n",
            a.len(),
            z.len()
        );
        s.write_all(resp.as_bytes()).unwrap();
        s.conn.send_close_notify();
        let _ = s.flush();
        String::from_utf8_lossy(&head).into_owned()
    })
}

#[test]
fn https_get_reads_a_chunked_venue_list() {
    let (config, cert) = server_config();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve_one(listener, config);
    let roots = http::Roots::only([cert]);
    let url = format!("https://localhost:{port}/api/v4/futures/usdt/contracts");
    let body = http::get(&http::client(Duration::from_secs(10), &roots), &url).unwrap();
    assert_eq!(body, GATE.as_bytes());
    let head = server.join().unwrap();
    assert!(
        head.starts_with("GET /api/v4/futures/usdt/contracts HTTP/1.1\r\n"),
        "{head}"
    );
    // Header names are case-insensitive (HTTP/1.1); the client sends them lower-case.
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("host: localhost:{port}\r\n")),
        "{head}"
    );
    let page = Family::Gate.parse(&body).unwrap();
    assert_eq!(page.specs.len(), 2);
    assert_eq!(page.specs[1].symbol, "ETH_USDT");
    assert_eq!(page.specs[1].spec.size, feeds::Decimal::new(1, 2));
}

#[test]
fn an_untrusted_certificate_is_refused() {
    let (config, _) = server_config();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(config).unwrap();
        let mut s = rustls::StreamOwned::new(conn, tcp);
        let mut b = [0u8; 1];
        let _ = s.read(&mut b);
    });
    // The bundled Mozilla roots do not include a self-signed test certificate.
    let client = http::client(Duration::from_secs(10), &engine::instruments::default_tls());
    let e = http::get(&client, &format!("https://localhost:{port}/"))
        .unwrap_err()
        .to_string();
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    server.join().unwrap();
}

#[test]
fn a_silent_server_is_cut_off_by_the_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        // Hold the connection open without answering until the client gives up.
        let mut tcp = tcp;
        let mut buf = [0u8; 1024];
        while matches!(tcp.read(&mut buf), Ok(n) if n > 0) {}
    });
    let client = http::client(
        Duration::from_millis(300),
        &engine::instruments::default_tls(),
    );
    let e = http::get(&client, &format!("http://{addr}/dapi/v1/exchangeInfo"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("timed out") && e.contains("/dapi/v1/exchangeInfo"),
        "{e}"
    );
    server.join().unwrap();
}
