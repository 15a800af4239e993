//! Parsing `ws://` / `wss://` URLs into what connect and the upgrade request need.
//!
//! Deliberately small: scheme, host (name, IPv4 or bracketed IPv6), optional port, and the
//! path with its query kept verbatim (exchanges put stream names in the query). No userinfo,
//! no percent-decoding; a fragment is dropped since it is never sent.

use super::WsError;

/// A parsed WebSocket URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct WsUrl {
    /// `wss://`.
    pub(super) tls: bool,
    /// Host without brackets: what DNS and SNI get.
    pub(super) host: String,
    pub(super) port: u16,
    /// Value of the `Host` header: host (bracketed if IPv6) plus `:port` if not the default.
    pub(super) host_header: String,
    /// Path and query, starting with `/`.
    pub(super) resource: String,
}

impl WsUrl {
    pub(super) fn parse(url: &str) -> Result<WsUrl, WsError> {
        let bad = |why| WsError::BadUrl {
            url: url.to_owned(),
            why,
        };
        let (tls, rest) = if let Some(r) = strip_prefix_ci(url, "wss://") {
            (true, r)
        } else if let Some(r) = strip_prefix_ci(url, "ws://") {
            (false, r)
        } else {
            return Err(bad("scheme must be ws:// or wss://"));
        };
        let rest = rest.split('#').next().unwrap_or("");
        let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(auth_end);
        if authority.contains('@') {
            return Err(bad("user info is not supported"));
        }
        let (host, port_str) = if let Some(v6) = authority.strip_prefix('[') {
            let close = v6.find(']').ok_or_else(|| bad("unclosed [ in host"))?;
            let after = &v6[close + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad("junk after ]")),
            };
            (&v6[..close], port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("missing host"));
        }
        let default_port = if tls { 443 } else { 80 };
        let port = match port_str {
            None => default_port,
            Some(p) => p.parse::<u16>().map_err(|_| bad("bad port"))?,
        };
        if port == 0 {
            return Err(bad("port 0"));
        }
        let bracketed = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let host_header = if port == default_port {
            bracketed
        } else {
            format!("{bracketed}:{port}")
        };
        let resource = if tail.starts_with('/') {
            tail.to_owned()
        } else {
            // Empty, or a query straight after the authority (`ws://h?x=1`).
            format!("/{tail}")
        };
        if resource.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad("space or control character in path"));
        }
        Ok(WsUrl {
            tls,
            host: host.to_owned(),
            port,
            host_header,
            resource,
        })
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, tls: bool, host: &str, port: u16, host_header: &str, resource: &str) {
        let u = WsUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(
            (
                u.tls,
                u.host.as_str(),
                u.port,
                u.host_header.as_str(),
                u.resource.as_str()
            ),
            (tls, host, port, host_header, resource),
            "{url}"
        );
    }

    #[test]
    fn parses() {
        check(
            "ws://example.com",
            false,
            "example.com",
            80,
            "example.com",
            "/",
        );
        check(
            "wss://stream.binance.com:9443/stream?streams=btcusdt@trade",
            true,
            "stream.binance.com",
            9443,
            "stream.binance.com:9443",
            "/stream?streams=btcusdt@trade",
        );
        check("WSS://h/x", true, "h", 443, "h", "/x");
        check("ws://h:80/x#frag", false, "h", 80, "h", "/x");
        check(
            "ws://127.0.0.1:9000?a=b",
            false,
            "127.0.0.1",
            9000,
            "127.0.0.1:9000",
            "/?a=b",
        );
        check("ws://[::1]:8080/p", false, "::1", 8080, "[::1]:8080", "/p");
        check("wss://[::1]/p", true, "::1", 443, "[::1]", "/p");
    }

    #[test]
    fn rejects() {
        for url in [
            "http://h/",
            "ws://",
            "ws://:80/",
            "ws://h:x/",
            "ws://h:0/",
            "ws://h:70000/",
            "ws://u@h/",
            "ws://[::1/",
            "ws://[::1]x/",
            "ws://h/a b",
            "wss",
        ] {
            assert!(
                matches!(WsUrl::parse(url), Err(WsError::BadUrl { .. })),
                "{url} accepted"
            );
        }
    }
}
