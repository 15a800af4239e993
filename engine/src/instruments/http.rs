//! A small blocking HTTP/1.1 `GET` client for start-up metadata requests on the IO thread:
//! `http://` (loopback simulators, tests) and `https://` (rustls, the bundled Mozilla roots),
//! one request per connection (`Connection: close`), an overall deadline, `Content-Length`,
//! chunked and close-delimited bodies. Never used on a hot thread.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest response accepted (instrument lists are a few MB at most).
const MAX_RESPONSE: usize = 64 << 20;

/// Why a request failed; the text says what happened and where.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(pub String);

/// `scheme://host[:port]/path?query`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub target: String,
}

impl Url {
    /// Parses an `http://` or `https://` URL (host names, IPv4, bracketed IPv6).
    pub fn parse(url: &str) -> Result<Url, HttpError> {
        let bad = |why: &str| HttpError(format!("bad URL {url:?}: {why}"));
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad("expected http:// or https://"));
        };
        let (authority, target) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad("bad port"))?,
                None if after.is_empty() => default_port,
                None => return Err(bad("junk after ]")),
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad("bad port"))?),
                None => (authority.to_string(), default_port),
            }
        };
        if host.is_empty() || host.contains('@') {
            return Err(bad("no host"));
        }
        Ok(Url {
            tls,
            host,
            port,
            target: target.to_string(),
        })
    }
}

/// `GET url` with everything (DNS, connect, TLS, response) bounded by `timeout` (DNS
/// resolution itself is the system's and may take longer on a broken resolver). Returns the
/// body of a `200` response; any other status is an error quoting the start of the body.
pub fn get(
    url: &str,
    timeout: Duration,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<Vec<u8>, HttpError> {
    let response = fetch(url, timeout, tls)?;
    if response.status != 200 {
        let head =
            String::from_utf8_lossy(&response.body[..response.body.len().min(200)]).into_owned();
        return Err(HttpError(format!(
            "GET {url}: HTTP {} {}: {head}",
            response.status, response.reason
        )));
    }
    Ok(response.body)
}

/// A complete response of any status (see [`fetch`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// `Retry-After` in its delay-seconds form (the form venues send with 429/418/503).
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// `GET url` like [`get`], returning the response whatever its status (for callers that act
/// on 429 / `Retry-After` / 5xx themselves). Errors are transport errors only.
pub fn fetch(
    url: &str,
    timeout: Duration,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<Response, HttpError> {
    let u = Url::parse(url)?;
    let deadline = Instant::now() + timeout;
    let err = |what: &str, e: &dyn std::fmt::Display| HttpError(format!("GET {url}: {what}: {e}"));
    let addrs: Vec<_> = (u.host.as_str(), u.port)
        .to_socket_addrs()
        .map_err(|e| err("resolving the host", &e))?
        .collect();
    let mut last = None;
    let mut stream = None;
    for addr in addrs {
        let left = remaining(deadline).ok_or_else(|| err("connecting", &"timed out"))?;
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let stream = stream.ok_or_else(|| match last {
        Some(e) => err("connecting", &e),
        None => err("resolving the host", &"no address"),
    })?;
    let _ = stream.set_nodelay(true);
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: squeezeflow/{}\r\nAccept: application/json\r\n\
         Accept-Encoding: identity\r\nConnection: close\r\n\r\n",
        u.target,
        host_header(&u),
        env!("CARGO_PKG_VERSION")
    );
    let control = stream.try_clone().map_err(|e| err("socket", &e))?;
    let response = if u.tls {
        let name = rustls::pki_types::ServerName::try_from(u.host.clone())
            .map_err(|e| err("TLS server name", &e))?;
        let conn = rustls::ClientConnection::new(tls.clone(), name).map_err(|e| err("TLS", &e))?;
        let mut s = rustls::StreamOwned::new(conn, stream);
        exchange(&mut s, &control, request.as_bytes(), deadline)
    } else {
        let mut s = stream;
        exchange(&mut s, &control, request.as_bytes(), deadline)
    }
    .map_err(|e| HttpError(format!("GET {url}: {}", e.0)))?;
    Ok(response)
}

fn host_header(u: &Url) -> String {
    let host = if u.host.contains(':') {
        format!("[{}]", u.host)
    } else {
        u.host.clone()
    };
    if u.port == if u.tls { 443 } else { 80 } {
        host
    } else {
        format!("{host}:{}", u.port)
    }
}

fn remaining(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

/// Send `request`, read until the response is complete (or the peer closes), within
/// `deadline`. `control` is the socket, for per-read timeouts.
fn exchange(
    s: &mut (impl Read + Write),
    control: &TcpStream,
    request: &[u8],
    deadline: Instant,
) -> Result<Response, HttpError> {
    let timed_out = || HttpError("timed out".to_string());
    let left = remaining(deadline).ok_or_else(timed_out)?;
    control
        .set_write_timeout(Some(left))
        .map_err(|e| HttpError(format!("socket: {e}")))?;
    s.write_all(request)
        .and_then(|()| s.flush())
        .map_err(|e| HttpError(format!("sending the request: {e}")))?;
    let mut buf = Vec::with_capacity(64 << 10);
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        if let Some(r) = parse(&buf, false)? {
            return Ok(r);
        }
        let left = remaining(deadline).ok_or_else(timed_out)?;
        control
            .set_read_timeout(Some(left))
            .map_err(|e| HttpError(format!("socket: {e}")))?;
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > MAX_RESPONSE {
                    return Err(HttpError(format!(
                        "response larger than {MAX_RESPONSE} bytes"
                    )));
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A TLS peer that closes without close_notify: the end of a close-delimited body.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(HttpError(format!("reading the response: {e}"))),
        }
    }
    parse(&buf, true)?.ok_or_else(|| {
        HttpError(format!(
            "connection closed after {} bytes, before the response was complete",
            buf.len()
        ))
    })
}

/// The response in `buf` if it is complete (`eof`: the peer has closed).
fn parse(buf: &[u8], eof: bool) -> Result<Option<Response>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HttpError(format!("bad HTTP response head: {e}"))),
    };
    let status = resp.code.unwrap_or(0);
    let reason = resp.reason.unwrap_or("").to_string();
    let mut length = None;
    let mut chunked = false;
    let mut retry_after = None;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("retry-after") {
            retry_after = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| HttpError("bad Content-Length".to_string()))?;
            length = Some(v);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
            chunked = v.split(',').any(|t| t.trim() == "chunked");
        }
    }
    let body = &buf[head_len..];
    let done = |body: Vec<u8>| {
        Ok(Some(Response {
            status,
            reason: reason.clone(),
            retry_after,
            body,
        }))
    };
    if chunked {
        return match dechunk(body)? {
            Some(b) => done(b),
            None if eof => Err(HttpError("connection closed inside a chunked body".into())),
            None => Ok(None),
        };
    }
    match length {
        Some(n) if body.len() >= n => done(body[..n].to_vec()),
        Some(n) if eof => Err(HttpError(format!(
            "connection closed after {} of {n} body bytes",
            body.len()
        ))),
        Some(_) => Ok(None),
        None if eof => done(body.to_vec()),
        None => Ok(None),
    }
}

/// The body of a complete chunked encoding, `None` while incomplete.
fn dechunk(mut body: &[u8]) -> Result<Option<Vec<u8>>, HttpError> {
    let mut out = Vec::with_capacity(body.len());
    loop {
        let Some(eol) = body.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&body[..eol])
            .map_err(|_| HttpError("bad chunk size line".into()))?;
        let hex = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(hex, 16)
            .map_err(|_| HttpError(format!("bad chunk size {hex:?}")))?;
        body = &body[eol + 2..];
        if size == 0 {
            // Trailers (ignored) end with an empty line.
            return Ok(body.windows(2).position(|w| w == b"\r\n").map(|_| out));
        }
        if body.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&body[..size]);
        if &body[size..size + 2] != b"\r\n" {
            return Err(HttpError("chunk not followed by CRLF".into()));
        }
        body = &body[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("https://www.okx.com/api/v5/public/instruments?instType=SWAP").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.target.as_str()),
            (
                true,
                "www.okx.com",
                443,
                "/api/v5/public/instruments?instType=SWAP"
            )
        );
        let u = Url::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!((u.tls, u.port, u.target.as_str()), (false, 8080, "/"));
        let u = Url::parse("http://[::1]:9/x").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9));
        assert_eq!(host_header(&u), "[::1]:9");
        for bad in ["ftp://x", "http://", "http://h:port/", "https://[::1/x"] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bodies_by_length_chunks_and_close() {
        let r = parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello+junk",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
        assert!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", false)
                .unwrap()
                .is_none()
        );
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", true).is_err());
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n6;x=y\r\npedia \r\n0\r\n\r\n";
        let r = parse(chunked, false).unwrap().unwrap();
        assert_eq!(
            (r.body.as_slice(), r.retry_after),
            (&b"Wikipedia "[..], None)
        );
        let r = parse(
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 2\r\n\r\n{}",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (r.status, r.retry_after),
            (429, Some(Duration::from_secs(7)))
        );
        assert!(parse(&chunked[..chunked.len() - 2], false)
            .unwrap()
            .is_none());
        assert!(parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            false
        )
        .is_err());
        let r = parse(b"HTTP/1.0 404 Not Found\r\n\r\nnope", true)
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.status, r.reason.as_str(), r.body.as_slice()),
            (404, "Not Found", &b"nope"[..])
        );
        assert!(parse(b"NOT HTTP\r\n\r\n", true).is_err());
    }
}
