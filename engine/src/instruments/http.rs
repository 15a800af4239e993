//! Blocking `GET`s of venue REST endpoints (instrument lists at start-up, trade history for
//! the backfill worker) over [`crate::http_client`]: `http://` (loopback simulators, tests)
//! and `https://` (rustls, the bundled Mozilla roots unless [`Roots::Only`]), one overall
//! deadline per request, bodies up to 64 MiB. Never used on a hot thread.

pub use crate::http_client::{HttpClient, Response, Roots};
use crate::http_client::{Method, Timeouts};
use std::time::Duration;

/// Largest response accepted (instrument lists are a few MB at most).
const MAX_RESPONSE: usize = 64 << 20;

/// Why a request failed; the text says what happened and where (`GET <url>: …`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(pub String);

/// A client whose requests are each bounded by `timeout` (DNS, connect, TLS, response;
/// DNS resolution itself is the system's and may take longer on a broken resolver).
pub fn client(timeout: Duration, tls: &Roots) -> HttpClient {
    HttpClient::new(tls, Timeouts::Total(timeout), MAX_RESPONSE)
}

/// `GET url`: the body of a `200` response; any other status is an error quoting the start
/// of the body.
pub fn get(client: &HttpClient, url: &str) -> Result<Vec<u8>, HttpError> {
    let response = fetch(client, url)?;
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

/// `GET url` like [`get`], returning the response whatever its status (for callers that act
/// on 429 / `Retry-After` / 5xx themselves). Errors are transport errors only.
pub fn fetch(client: &HttpClient, url: &str) -> Result<Response, HttpError> {
    client
        .request(Method::Get, url, &[("Accept", "application/json")], b"")
        .map_err(|e| HttpError(format!("GET {url}: {e}")))
}
