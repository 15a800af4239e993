//! The HTTP/1.1 upgrade that turns a connection into a WebSocket (RFC 6455 §4): building
//! the client request and checking the server's `101 Switching Protocols` answer.
//!
//! Sans-IO: the request is appended to a byte buffer and the response is parsed from
//! whatever has been received so far, reporting how many bytes it used so the frames that
//! arrived in the same read are kept.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::url::WsUrl;
use super::WsError;

/// Fixed GUID the server appends to our key before hashing (RFC 6455 §1.3).
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Responses with more headers than this are refused; real upgrade answers have about ten.
const MAX_HEADERS: usize = 32;

/// One upgrade attempt: the key we sent, hence the accept value we expect back.
#[derive(Debug)]
pub(super) struct Handshake {
    expected_accept: String,
}

impl Handshake {
    /// Appends the upgrade request for `url` with the given 16 random key bytes to `out`.
    pub(super) fn start(url: &WsUrl, key_bytes: [u8; 16], out: &mut Vec<u8>) -> Handshake {
        let key = STANDARD.encode(key_bytes);
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
             User-Agent: squeezeflow\r\n\r\n",
            url.resource, url.host_header
        );
        out.extend_from_slice(request.as_bytes());
        Handshake {
            expected_accept: accept_key(&key),
        }
    }

    /// Checks the response in `buf`. `Ok(None)`: incomplete, read more. `Ok(Some(n))`: the
    /// upgrade succeeded and the response took the first `n` bytes; the rest are frames.
    pub(super) fn finish(&self, buf: &[u8]) -> Result<Option<usize>, WsError> {
        let fail = |status, what| WsError::Handshake { status, what };
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let used = match resp.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(fail(resp.code, "too many response headers"))
            }
            Err(_) => return Err(fail(None, "malformed http response")),
        };
        let status = resp.code;
        if status != Some(101) {
            return Err(fail(status, "server did not switch protocols"));
        }
        let header = |name: &str| {
            resp.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        let upgrade_ok =
            header("upgrade").is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"websocket"));
        if !upgrade_ok {
            return Err(fail(status, "missing `Upgrade: websocket`"));
        }
        let connection_ok = header("connection").is_some_and(|v| {
            v.split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"))
        });
        if !connection_ok {
            return Err(fail(status, "missing `Connection: upgrade`"));
        }
        match header("sec-websocket-accept") {
            Some(v) if v.trim_ascii() == self.expected_accept.as_bytes() => {}
            Some(_) => return Err(fail(status, "wrong Sec-WebSocket-Accept")),
            None => return Err(fail(status, "missing Sec-WebSocket-Accept")),
        }
        // We offered no extension, so the server must not pick one (RFC 6455 §4.1).
        if header("sec-websocket-extensions").is_some_and(|v| !v.trim_ascii().is_empty()) {
            return Err(fail(status, "server chose an extension we did not offer"));
        }
        Ok(Some(used))
    }
}

/// `base64(SHA-1(key + GUID))`, what the server must echo in `Sec-WebSocket-Accept`.
fn accept_key(key: &str) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key.as_bytes());
    sha.update(GUID.as_bytes());
    STANDARD.encode(sha.digest().bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> WsUrl {
        WsUrl::parse("ws://example.com:9000/chat?x=1").unwrap()
    }

    #[test]
    fn rfc_example_accept() {
        // The worked example of RFC 6455 §1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn request_has_required_headers() {
        let mut out = Vec::new();
        Handshake::start(&url(), *b"the sample nonce", &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("GET /chat?x=1 HTTP/1.1\r\n"));
        for h in [
            "Host: example.com:9000\r\n",
            "Upgrade: websocket\r\n",
            "Connection: Upgrade\r\n",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            "Sec-WebSocket-Version: 13\r\n",
            "User-Agent: squeezeflow\r\n",
        ] {
            assert!(text.contains(h), "missing {h:?} in {text}");
        }
        assert!(text.ends_with("\r\n\r\n"));
    }

    fn response(accept: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             Connection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        )
    }

    #[test]
    fn accepts_and_keeps_trailing_bytes() {
        let hs = Handshake::start(&url(), *b"the sample nonce", &mut Vec::new());
        let mut buf = response("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=").into_bytes();
        let head = buf.len();
        buf.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
        assert_eq!(hs.finish(&buf[..head - 1]).unwrap(), None);
        assert_eq!(hs.finish(&buf).unwrap(), Some(head));
    }

    #[test]
    fn rejects_bad_responses() {
        let hs = Handshake::start(&url(), *b"the sample nonce", &mut Vec::new());
        let status = |r: &str| match hs.finish(r.as_bytes()) {
            Err(WsError::Handshake { status, .. }) => status,
            other => panic!("{r:?} gave {other:?}"),
        };
        assert_eq!(
            status("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
            Some(404)
        );
        assert_eq!(status(&response("AAAA")), Some(101));
        assert_eq!(
            status("HTTP/1.1 101 OK\r\nConnection: Upgrade\r\n\r\n"),
            Some(101)
        );
        assert_eq!(status("garbage\r\n\r\n"), None);
    }
}
