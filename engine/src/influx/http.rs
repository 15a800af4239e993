//! A small blocking HTTP/1.1 client for InfluxDB 1.x's `/write`, `/query` and `/ping`.
//!
//! InfluxDB 1.x speaks plain `http://` here, and the engine needs three requests with small
//! bodies, so this is a few hundred lines over `std::net::TcpStream` instead of a client crate
//! (no TLS stack, no async runtime, no new dependency). It keeps one connection alive and
//! reconnects when the server closes it. Responses are read by `Content-Length`, chunked
//! transfer encoding, or until the server closes the connection.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Longest status or header line accepted.
const MAX_LINE: usize = 16 * 1024;
/// Largest response body accepted.
const MAX_BODY: usize = 256 << 20;
/// Most header lines accepted in one response.
const MAX_HEADERS: usize = 100;

/// Why a request failed before a complete response arrived.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Name resolution, connect, read or write failed (timeouts included).
    #[error("{host}:{port}: {source}")]
    Io {
        host: String,
        port: u16,
        source: io::Error,
    },
    /// The server answered something that is not HTTP/1.x as understood here.
    #[error("{host}:{port}: bad HTTP response: {message}")]
    Protocol {
        host: String,
        port: u16,
        message: String,
    },
}

impl HttpError {
    /// Whether this was a failure to reach the server at all (nothing was sent).
    pub fn is_connect(&self) -> bool {
        matches!(self, HttpError::Io { source, .. } if matches!(
            source.kind(),
            io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound | io::ErrorKind::AddrNotAvailable
        ))
    }
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code, e.g. 204.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text (lossy), for error messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_string()
    }

    /// The first header of that (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One server, one kept-alive connection.
#[derive(Debug)]
pub struct Http {
    host: String,
    port: u16,
    connect_timeout: Duration,
    io_timeout: Duration,
    conn: Option<BufReader<TcpStream>>,
}

impl Http {
    /// A client for `http://host:port`; nothing is connected until the first request.
    pub fn new(host: &str, port: u16, connect_timeout: Duration, io_timeout: Duration) -> Http {
        Http {
            host: host.to_string(),
            port,
            connect_timeout: connect_timeout.max(Duration::from_millis(1)),
            io_timeout: io_timeout.max(Duration::from_millis(1)),
            conn: None,
        }
    }

    /// `host:port`, for messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn io_err(&self, source: io::Error) -> HttpError {
        HttpError::Io {
            host: self.host.clone(),
            port: self.port,
            source,
        }
    }

    fn proto(&self, message: impl Into<String>) -> HttpError {
        HttpError::Protocol {
            host: self.host.clone(),
            port: self.port,
            message: message.into(),
        }
    }

    fn connect(&self) -> Result<BufReader<TcpStream>, HttpError> {
        let mut last = None;
        let addrs = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| self.io_err(e))?;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.connect_timeout) {
                Ok(s) => {
                    let setup = s
                        .set_nodelay(true)
                        .and_then(|()| s.set_read_timeout(Some(self.io_timeout)))
                        .and_then(|()| s.set_write_timeout(Some(self.io_timeout)));
                    setup.map_err(|e| self.io_err(e))?;
                    return Ok(BufReader::with_capacity(64 * 1024, s));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(self.io_err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "no address to connect to")
        })))
    }

    /// Sends one request (`path` includes the query string) and reads the whole response. A
    /// kept-alive connection that turns out to be closed is replaced once, before anything of
    /// the response was read.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Response, HttpError> {
        self.request_with(method, path, &[], content_type, body)
    }

    /// [`Http::request`] with extra headers.
    pub fn request_with(
        &mut self,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Response, HttpError> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: squeezeflow\r\n",
            self.host, self.port
        );
        for (k, v) in extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(ct) = content_type {
            head.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        if method != "GET" || !body.is_empty() {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        if !extra.iter().any(|(k, _)| k.eq_ignore_ascii_case("accept")) {
            head.push_str("Accept: */*\r\n");
        }
        head.push_str("\r\n");
        let reused = self.conn.is_some();
        match self.exchange(head.as_bytes(), body) {
            Ok(r) => Ok(r),
            // A stale kept-alive connection: the server closed it while idle.
            Err(Attempt::Stale(_)) if reused => {
                self.conn = None;
                self.exchange(head.as_bytes(), body)
                    .map_err(Attempt::into_error)
            }
            Err(e) => Err(e.into_error()),
        }
    }

    fn exchange(&mut self, head: &[u8], body: &[u8]) -> Result<Response, Attempt> {
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => self.connect().map_err(Attempt::Failed)?,
        };
        let sent = conn
            .get_mut()
            .write_all(head)
            .and_then(|()| conn.get_mut().write_all(body))
            .and_then(|()| conn.get_mut().flush());
        if let Err(e) = sent {
            return Err(Attempt::Stale(self.io_err(e)));
        }
        let (resp, keep) = match read_response(&mut conn) {
            Ok(r) => r,
            Err(ReadError::ClosedBeforeStatus) => {
                return Err(Attempt::Stale(self.io_err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before a response",
                ))))
            }
            Err(ReadError::Io(e)) => return Err(Attempt::Failed(self.io_err(e))),
            Err(ReadError::Protocol(m)) => return Err(Attempt::Failed(self.proto(m))),
        };
        if keep {
            self.conn = Some(conn);
        }
        Ok(resp)
    }
}

enum Attempt {
    /// Failed in a way a fresh connection may fix (only retried on a reused connection).
    Stale(HttpError),
    Failed(HttpError),
}

impl Attempt {
    fn into_error(self) -> HttpError {
        match self {
            Attempt::Stale(e) | Attempt::Failed(e) => e,
        }
    }
}

enum ReadError {
    ClosedBeforeStatus,
    Io(io::Error),
    Protocol(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

fn read_line(r: &mut BufReader<TcpStream>) -> Result<Option<String>, ReadError> {
    let mut line = Vec::new();
    let n = Read::take(&mut *r, (MAX_LINE + 2) as u64).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if !line.ends_with(b"\n") {
        return Err(if line.len() >= MAX_LINE {
            ReadError::Protocol(format!("a line longer than {MAX_LINE} bytes"))
        } else {
            ReadError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in a line",
            ))
        });
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| ReadError::Protocol("a line that is not UTF-8".into()))
}

/// Reads one response; returns it and whether the connection may be reused.
fn read_response(r: &mut BufReader<TcpStream>) -> Result<(Response, bool), ReadError> {
    let status_line = read_line(r)?.ok_or(ReadError::ClosedBeforeStatus)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(ReadError::Protocol(format!("status line {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ReadError::Protocol(format!("status line {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?.ok_or_else(|| {
            ReadError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in the headers",
            ))
        })?;
        if line.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(ReadError::Protocol("too many header lines".into()));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| ReadError::Protocol(format!("header line {line:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    let mut keep = version != "HTTP/1.0"
        && !get("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let chunked =
        get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = get("content-length")
        .map(|v| {
            v.parse::<usize>()
                .map_err(|_| ReadError::Protocol(format!("Content-Length {v:?}")))
        })
        .transpose()?;
    let mut body = Vec::new();
    if status == 204 || status == 304 || (100..200).contains(&status) {
        // No body.
    } else if chunked {
        loop {
            let size_line = read_line(r)?.ok_or_else(|| {
                ReadError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed in a chunked body",
                ))
            })?;
            let hex = size_line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(hex, 16)
                .map_err(|_| ReadError::Protocol(format!("chunk size {size_line:?}")))?;
            if size == 0 {
                // Trailers up to the empty line.
                while read_line(r)?.is_some_and(|l| !l.is_empty()) {}
                break;
            }
            if body.len() + size > MAX_BODY {
                return Err(ReadError::Protocol(format!("body over {MAX_BODY} bytes")));
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
            if &crlf != b"\r\n" {
                return Err(ReadError::Protocol("chunk not ended by CRLF".into()));
            }
        }
    } else if let Some(n) = length {
        if n > MAX_BODY {
            return Err(ReadError::Protocol(format!("Content-Length {n} too large")));
        }
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else {
        Read::take(&mut *r, MAX_BODY as u64 + 1).read_to_end(&mut body)?;
        if body.len() > MAX_BODY {
            return Err(ReadError::Protocol(format!("body over {MAX_BODY} bytes")));
        }
        keep = false;
    }
    Ok((
        Response {
            status,
            headers,
            body,
        },
        keep,
    ))
}

/// Percent-encodes a query-string value (everything but unreserved characters).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn serve(replies: Vec<&'static [u8]>) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            for reply in replies {
                // Read one request head (and a body, if any, by Content-Length).
                let mut len = 0;
                loop {
                    let mut line = String::new();
                    r.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; len];
                r.read_exact(&mut body).unwrap();
                s.write_all(reply).unwrap();
            }
        });
        port
    }

    #[test]
    fn content_length_chunked_and_keep_alive() {
        let port = serve(vec![
            b"HTTP/1.1 204 No Content\r\nX-Influxdb-Version: 1.6.7\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        ]);
        let mut h = Http::new(
            "127.0.0.1",
            port,
            Duration::from_secs(2),
            Duration::from_secs(2),
        );
        let r = h.request("POST", "/write?db=x", None, b"m f=1 1").unwrap();
        assert_eq!(r.status, 204);
        assert_eq!(r.header("x-influxdb-version"), Some("1.6.7"));
        let r = h.request("GET", "/ping", None, b"").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
        let r = h.request("GET", "/query?q=x", None, b"").unwrap();
        assert_eq!(r.body, b"abcde");
    }

    #[test]
    fn garbage_is_a_protocol_error_and_refused_is_connect() {
        let port = serve(vec![b"SSH-2.0-OpenSSH\r\n\r\n"]);
        let mut h = Http::new(
            "127.0.0.1",
            port,
            Duration::from_secs(2),
            Duration::from_secs(2),
        );
        let e = h.request("GET", "/ping", None, b"").unwrap_err();
        assert!(matches!(e, HttpError::Protocol { .. }), "{e}");
        // A port nobody listens on.
        let free = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut h = Http::new(
            "127.0.0.1",
            free,
            Duration::from_secs(2),
            Duration::from_secs(2),
        );
        let e = h.request("GET", "/ping", None, b"").unwrap_err();
        assert!(e.is_connect(), "{e}");
    }

    #[test]
    fn url_encoding() {
        assert_eq!(url_encode("a b='c'"), "a%20b%3D%27c%27");
        assert_eq!(url_encode("BINANCE:btcusdt"), "BINANCE%3Abtcusdt");
    }
}
