//! The one blocking HTTP client of the cold paths: instrument lists and REST trade history
//! ([`crate::instruments::http`], the backfill worker) and InfluxDB ([`crate::influx`]).
//!
//! A thin layer over `ureq` (rustls on `ring`; `https://` peers must chain to the Mozilla roots
//! of `webpki-roots`, the same set the feeds trust, unless [`Roots::Only`] names others). What it
//! adds is what every caller needs the same way: a user agent, no redirects followed (a 3xx
//! is an answer like any other), every status returned as a [`Response`] (the caller acts on
//! 429/418/`Retry-After`/5xx), a size cap on bodies, and errors that say what failed in a
//! sentence ("timed out", "connection refused", "invalid peer certificate …"). Never used on a
//! hot thread.

use rustls::pki_types::CertificateDer;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// A DER-encoded certificate (a root to trust).
pub type Certificate = CertificateDer<'static>;

/// Which certificate authorities an `https://` server must chain to.
#[derive(Debug, Clone, Default)]
pub enum Roots {
    /// The Mozilla root programme's CAs as bundled by `webpki-roots` (the default).
    #[default]
    WebPki,
    /// Only these (a private CA, a test certificate).
    Only(Arc<Vec<CertificateDer<'static>>>),
}

impl Roots {
    /// Trust only `certs`.
    pub fn only(certs: impl IntoIterator<Item = CertificateDer<'static>>) -> Roots {
        Roots::Only(Arc::new(certs.into_iter().collect()))
    }
}

/// How long a request may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeouts {
    /// One deadline for everything: DNS, connect, TLS, request and the whole body.
    Total(Duration),
    /// A connect deadline, then a deadline for each socket read and write (long bodies may
    /// take longer in all, as long as they keep moving).
    PerIo { connect: Duration, io: Duration },
}

/// Why a request got no complete response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HttpError {
    /// Nothing was exchanged: the name did not resolve or nobody accepted the connection.
    pub connect: bool,
    /// What happened, in a sentence.
    pub message: String,
}

impl HttpError {
    fn new(connect: bool, message: impl Into<String>) -> HttpError {
        HttpError {
            connect,
            message: message.into(),
        }
    }

    fn from_ureq(e: ureq::Error, max_body: u64) -> HttpError {
        use ureq::Error as E;
        match e {
            E::Timeout(_) => HttpError::new(false, "timed out"),
            E::HostNotFound => HttpError::new(true, "resolving the host: not found"),
            E::ConnectionFailed => HttpError::new(true, "connecting: failed"),
            E::Io(e) => {
                let connect = matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::NotFound
                        | io::ErrorKind::AddrNotAvailable
                        | io::ErrorKind::HostUnreachable
                        | io::ErrorKind::NetworkUnreachable
                );
                let what = if connect { "connecting" } else { "socket" };
                if e.kind() == io::ErrorKind::TimedOut {
                    HttpError::new(false, "timed out")
                } else if e.kind() == io::ErrorKind::UnexpectedEof {
                    HttpError::new(false, "connection closed before the response was complete")
                } else {
                    HttpError::new(connect, format!("{what}: {e}"))
                }
            }
            E::BodyExceedsLimit(_) => {
                HttpError::new(false, format!("response larger than {max_body} bytes"))
            }
            E::Rustls(e) => HttpError::new(false, format!("TLS: {e}")),
            E::Protocol(e) => HttpError::new(false, format!("bad HTTP response: {e}")),
            e => HttpError::new(false, e.to_string()),
        }
    }
}

/// A complete response of any status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The status' standard reason phrase (`"Too Many Requests"`), empty for unknown codes.
    pub reason: String,
    /// `Retry-After` in its delay-seconds form (the form venues send with 429/418/503).
    pub retry_after: Option<Duration>,
    /// Headers, names lower-cased, values that are not text left out.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy, trimmed), for error messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_string()
    }
}

/// `GET` or `POST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    /// `"GET"` / `"POST"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A client: its TLS roots, timeouts, body cap and (kept-alive) connections. Cheap to clone
/// (clones share the connections).
#[derive(Debug, Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
    max_body: u64,
}

impl HttpClient {
    /// A client; nothing is connected until the first request.
    pub fn new(roots: &Roots, timeouts: Timeouts, max_body: usize) -> HttpClient {
        let root_certs = match roots {
            Roots::WebPki => ureq::tls::RootCerts::WebPki,
            Roots::Only(certs) => ureq::tls::RootCerts::new_with_certs(
                &certs
                    .iter()
                    .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
                    .collect::<Vec<_>>(),
            ),
        };
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(root_certs)
            .build();
        let min = Duration::from_millis(1);
        let builder = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(concat!("squeezeflow/", env!("CARGO_PKG_VERSION")))
            .accept_encoding("identity")
            .tls_config(tls);
        let builder = match timeouts {
            Timeouts::Total(t) => builder.timeout_global(Some(t.max(min))),
            Timeouts::PerIo { connect, io } => builder
                .timeout_connect(Some(connect.max(min)))
                .timeout_per_read(Some(io.max(min)))
                .timeout_per_write(Some(io.max(min))),
        };
        HttpClient {
            agent: ureq::Agent::new_with_config(builder.build()),
            max_body: max_body as u64,
        }
    }

    /// Sends one request and reads the whole response (up to the body cap), whatever its
    /// status. `headers` are sent as given (`Authorization`, `Accept`, `Content-Type` …).
    pub fn request(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, HttpError> {
        let max = self.max_body;
        let result = match method {
            Method::Get => {
                let mut r = self.agent.get(url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.call()
            }
            Method::Post => {
                let mut r = self.agent.post(url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.send(body)
            }
        };
        let mut response = result.map_err(|e| HttpError::from_ureq(e, max))?;
        let status = response.status();
        let mut headers = Vec::with_capacity(response.headers().len());
        for (name, value) in response.headers() {
            if let Ok(v) = value.to_str() {
                headers.push((name.as_str().to_string(), v.trim().to_string()));
            }
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response
            .body_mut()
            .with_config()
            .limit(max)
            .read_to_vec()
            .map_err(|e| HttpError::from_ureq(e, max))?;
        Ok(Response {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_string(),
            retry_after,
            headers,
            body,
        })
    }
}

/// Checks that `url` is an `http://` or `https://` URL with a host (configuration values).
pub fn check_url(url: &str) -> Result<(), HttpError> {
    let bad = |why: &str| Err(HttpError::new(false, format!("bad URL {url:?}: {why}")));
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return bad("expected http:// or https://");
    }
    let uri: ureq::http::Uri = match url.parse() {
        Ok(u) => u,
        Err(e) => return bad(&e.to_string()),
    };
    let Some(a) = uri.authority() else {
        return bad("no host");
    };
    if a.as_str().contains('@') {
        return bad("credentials in the URL");
    }
    if a.host().is_empty() {
        return bad("no host");
    }
    // `Uri` checks the port lazily: a `:` after the host must be followed by a number.
    if a.as_str().len() > a.host().len() && a.port_u16().is_none() {
        return bad("bad port");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    #[test]
    fn urls() {
        assert!(check_url("https://www.okx.com/api/v5/public/instruments?instType=SWAP").is_ok());
        assert!(check_url("http://127.0.0.1:8080").is_ok());
        assert!(check_url("http://[::1]:9/x").is_ok());
        for bad in [
            "ftp://x",
            "http://",
            "http://h:port/",
            "https://[::1/x",
            "http://u:p@h/",
        ] {
            let e = check_url(bad).expect_err(bad).to_string();
            assert!(e.starts_with(&format!("bad URL {bad:?}")), "{e}");
        }
    }

    /// Serves `replies` on one connection, one per request; returns the port and the
    /// request heads it read.
    fn serve(replies: Vec<&'static [u8]>) -> (u16, std::thread::JoinHandle<Vec<String>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut heads = Vec::new();
            for reply in replies {
                let mut head = String::new();
                let mut len = 0;
                loop {
                    let mut line = String::new();
                    r.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                    head.push_str(&line);
                    if line == "\r\n" || line.is_empty() {
                        break;
                    }
                }
                let mut body = vec![0; len];
                r.read_exact(&mut body).unwrap();
                heads.push(head);
                s.write_all(reply).unwrap();
            }
            heads
        });
        (port, h)
    }

    #[test]
    fn statuses_retry_after_headers_and_keep_alive() {
        let (port, server) = serve(vec![
            b"HTTP/1.1 204 No Content\r\nX-Influxdb-Version: 1.6.7\r\n\r\n",
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 2\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        ]);
        let c = HttpClient::new(
            &Roots::WebPki,
            Timeouts::Total(Duration::from_secs(5)),
            1 << 20,
        );
        let base = format!("http://127.0.0.1:{port}");
        let r = c
            .request(Method::Post, &format!("{base}/write?db=x"), &[], b"m f=1 1")
            .unwrap();
        assert_eq!(
            (r.status, r.header("x-influxdb-version")),
            (204, Some("1.6.7"))
        );
        let r = c
            .request(Method::Get, &format!("{base}/limited"), &[], b"")
            .unwrap();
        assert_eq!(
            (r.status, r.reason.as_str(), r.retry_after),
            (429, "Too Many Requests", Some(Duration::from_secs(7)))
        );
        let r = c
            .request(
                Method::Get,
                &format!("{base}/q"),
                &[("Accept", "application/csv")],
                b"",
            )
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abcde"[..]));
        // All three on the one connection the server accepted.
        let heads = server.join().unwrap();
        assert!(
            heads[0].starts_with("POST /write?db=x HTTP/1.1\r\n"),
            "{}",
            heads[0]
        );
        assert!(heads[0].contains("squeezeflow/"), "{}", heads[0]);
        assert!(
            heads[2]
                .to_ascii_lowercase()
                .contains("accept: application/csv"),
            "{}",
            heads[2]
        );
    }

    #[test]
    fn garbage_too_large_and_refused() {
        let (port, _server) = serve(vec![b"SSH-2.0-OpenSSH\r\n\r\n"]);
        let c = HttpClient::new(&Roots::WebPki, Timeouts::Total(Duration::from_secs(5)), 8);
        let e = c
            .request(Method::Get, &format!("http://127.0.0.1:{port}/"), &[], b"")
            .unwrap_err();
        assert!(!e.connect, "{e}");
        let (port, _server) = serve(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n123456789",
        ]);
        let e = c
            .request(Method::Get, &format!("http://127.0.0.1:{port}/"), &[], b"")
            .unwrap_err();
        assert_eq!(e.message, "response larger than 8 bytes");
        let free = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = c
            .request(Method::Get, &format!("http://127.0.0.1:{free}/"), &[], b"")
            .unwrap_err();
        assert!(e.connect, "{e}");
    }
}
