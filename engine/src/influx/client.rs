//! InfluxDB 1.x over HTTP(S): `/ping`, `/write` (line protocol) and `/query` (InfluxQL, JSON
//! results), with errors that say what went wrong in the user's terms. Credentials go as HTTP
//! Basic authentication (InfluxDB 1.x's documented scheme; never in the URL, so never in a log
//! line that quotes one).

use super::config::{InfluxConfig, Password};
use crate::http_client::{HttpClient, HttpError, Method, Response, Roots, Timeouts};
use base64::Engine as _;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// Largest response body accepted (an import chunk's CSV).
const MAX_BODY: usize = 256 << 20;

/// What went wrong talking to InfluxDB.
#[derive(Debug, thiserror::Error)]
pub enum InfluxError {
    /// The server could not be reached or the exchange broke off.
    #[error("InfluxDB at {address}: {source}")]
    Unreachable {
        address: String,
        #[source]
        source: HttpError,
    },
    /// The server refused the credentials (401: none given, unknown user or wrong password)
    /// or the user may not do this (403). Retryable: the data waits for a fixed setting.
    #[error("InfluxDB at {address} refused the credentials (HTTP {status}: {message}); check [influx] username/password or INFLUX_USER/INFLUX_PASSWORD")]
    Unauthorized {
        address: String,
        status: u16,
        message: String,
    },
    /// The database does not exist.
    #[error("InfluxDB at {address}: database {database:?} not found (create it with `squeezeflow influx setup`)")]
    NoDatabase { address: String, database: String },
    /// The retention policy does not exist.
    #[error("InfluxDB at {address}: {message} (create it with `squeezeflow influx setup`)")]
    NoRetentionPolicy { address: String, message: String },
    /// The server refused the points (unparsable line, field type conflict, …); not retryable.
    #[error("InfluxDB at {address} rejected the write (HTTP {status}): {message}")]
    Rejected {
        address: String,
        status: u16,
        message: String,
    },
    /// Any other error answer (5xx …); retryable.
    #[error("InfluxDB at {address} answered HTTP {status}: {message}")]
    Server {
        address: String,
        status: u16,
        message: String,
    },
    /// A query failed (its statement error) or its answer is not what InfluxQL returns.
    #[error("InfluxDB at {address}: query {query:?}: {message}")]
    Query {
        address: String,
        query: String,
        message: String,
    },
}

impl InfluxError {
    /// Whether sending the same request again later can succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            InfluxError::Rejected { .. } | InfluxError::Query { .. }
        )
    }
}

/// One series of a query result.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub tags: Vec<(String, String)>,
    pub columns: Vec<String>,
    pub values: Vec<Vec<Value>>,
    /// The server cut the result short (`max-row-limit`).
    pub partial: bool,
}

/// A connection to one InfluxDB 1.x server and database.
pub struct InfluxClient {
    http: HttpClient,
    timeout: Duration,
    https: bool,
    host: String,
    port: u16,
    database: String,
    /// `Basic …`, when credentials are set.
    authorization: Option<String>,
}

impl fmt::Debug for InfluxClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InfluxClient")
            .field("url", &self.base_url())
            .field("database", &self.database)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

fn http_client(timeout: Duration, roots: &Roots) -> HttpClient {
    let timeouts = Timeouts::PerIo {
        connect: timeout.min(Duration::from_secs(5)),
        io: timeout,
    };
    HttpClient::new(roots, timeouts, MAX_BODY)
}

impl InfluxClient {
    /// A client for `http://host:port` without credentials; nothing is connected until the
    /// first request. `timeout` bounds each socket read and write (connecting: 5 s at most).
    pub fn new(host: &str, port: u16, database: &str, timeout: Duration) -> InfluxClient {
        InfluxClient {
            http: http_client(timeout, &Roots::WebPki),
            timeout,
            https: false,
            host: host.to_string(),
            port,
            database: database.to_string(),
            authorization: None,
        }
    }

    /// The client the `[influx]` settings describe: scheme, host, port, database, timeout and
    /// credentials (an empty user name: none).
    pub fn from_config(cfg: &InfluxConfig) -> InfluxClient {
        let mut c = InfluxClient::new(&cfg.host, cfg.port, &cfg.database, cfg.timeout());
        if cfg.https() {
            c = c.with_https(Roots::WebPki);
        }
        if !cfg.username.is_empty() {
            c = c.with_credentials(&cfg.username, &cfg.password);
        } else if !cfg.password.is_empty() {
            log::warn!("influx: a password is set but no username; sending no credentials");
        }
        c
    }

    /// Speak `https://`, trusting `roots`.
    pub fn with_https(mut self, roots: Roots) -> InfluxClient {
        self.http = http_client(self.timeout, &roots);
        self.https = true;
        self
    }

    /// Authenticate every request as `user`.
    pub fn with_credentials(mut self, user: &str, password: &Password) -> InfluxClient {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{user}:{}", password.expose()));
        self.authorization = Some(format!("Basic {token}"));
        self
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn base_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.address())
    }

    /// The database written and queried.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// One request; `path` includes the query string.
    fn request(
        &self,
        method: Method,
        path: &str,
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, InfluxError> {
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        if let Some(a) = &self.authorization {
            headers.push(("Authorization", a));
        }
        let url = format!("{}{path}", self.base_url());
        self.http
            .request(method, &url, &headers, body)
            .map_err(|source| InfluxError::Unreachable {
                address: self.address(),
                source,
            })
    }

    /// The error of a 401/403 answer.
    fn unauthorized(&self, r: &Response) -> Option<InfluxError> {
        (r.status == 401 || r.status == 403).then(|| InfluxError::Unauthorized {
            address: self.address(),
            status: r.status,
            message: error_message(&r.body),
        })
    }

    /// `GET /ping`: the server's version (`X-Influxdb-Version`).
    pub fn ping(&mut self) -> Result<String, InfluxError> {
        let r = self.request(Method::Get, "/ping", &[], b"")?;
        if let Some(e) = self.unauthorized(&r) {
            return Err(e);
        }
        if r.status != 204 && r.status != 200 {
            return Err(InfluxError::Server {
                address: self.address(),
                status: r.status,
                message: r.text(),
            });
        }
        Ok(r.header("x-influxdb-version")
            .unwrap_or("unknown")
            .to_string())
    }

    /// `POST /write?db=…&rp=…&precision=ms` with a line-protocol body.
    pub fn write(&mut self, rp: &str, body: &[u8]) -> Result<(), InfluxError> {
        let path = format!(
            "/write?db={}&rp={}&precision=ms",
            url_encode(&self.database),
            url_encode(rp)
        );
        let r = self.request(
            Method::Post,
            &path,
            &[("Content-Type", "text/plain; charset=utf-8")],
            body,
        )?;
        if r.status == 204 || r.status == 200 {
            return Ok(());
        }
        if let Some(e) = self.unauthorized(&r) {
            return Err(e);
        }
        let message = error_message(&r.body);
        let address = self.address();
        Err(if message.contains("database not found") {
            InfluxError::NoDatabase {
                address,
                database: self.database.clone(),
            }
        } else if message.contains("retention policy not found") {
            InfluxError::NoRetentionPolicy { address, message }
        } else if r.status == 400 {
            InfluxError::Rejected {
                address,
                status: r.status,
                message,
            }
        } else {
            InfluxError::Server {
                address,
                status: r.status,
                message,
            }
        })
    }

    /// Runs InfluxQL statements (`;`-separated) against the database with `epoch=ms`; returns
    /// the series of each statement, in order. A statement's error is an error.
    pub fn query(&mut self, q: &str) -> Result<Vec<Vec<Series>>, InfluxError> {
        self.query_in(Some(&self.database.clone()), q)
    }

    /// As [`InfluxClient::query`], optionally without a database (`SHOW DATABASES`,
    /// `CREATE DATABASE`). Statements that change things are sent with POST.
    pub fn query_in(&mut self, db: Option<&str>, q: &str) -> Result<Vec<Vec<Series>>, InfluxError> {
        let mut path = format!("/query?epoch=ms&q={}", url_encode(q));
        if let Some(db) = db {
            path.push_str("&db=");
            path.push_str(&url_encode(db));
        }
        let upper = q.trim_start().to_ascii_uppercase();
        let method = if upper.starts_with("SELECT") || upper.starts_with("SHOW") {
            Method::Get
        } else {
            Method::Post
        };
        let r = self.request(method, &path, &[], b"")?;
        let qerr = |message: String| InfluxError::Query {
            address: self.address(),
            query: q.to_string(),
            message,
        };
        if let Some(e) = self.unauthorized(&r) {
            return Err(e);
        }
        if r.status != 200 {
            let message = error_message(&r.body);
            if message.contains("database not found") {
                return Err(InfluxError::NoDatabase {
                    address: self.address(),
                    database: db.unwrap_or_default().to_string(),
                });
            }
            return Err(if r.status >= 500 {
                InfluxError::Server {
                    address: self.address(),
                    status: r.status,
                    message,
                }
            } else {
                qerr(format!("HTTP {}: {message}", r.status))
            });
        }
        let v: Value = serde_json::from_slice(&r.body)
            .map_err(|e| qerr(format!("the answer is not JSON: {e}")))?;
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            return Err(qerr(e.to_string()));
        }
        let results = v
            .get("results")
            .and_then(Value::as_array)
            .ok_or_else(|| qerr("the answer has no \"results\"".into()))?;
        let mut out = Vec::with_capacity(results.len());
        for res in results {
            if let Some(e) = res.get("error").and_then(Value::as_str) {
                if e.contains("database not found") {
                    return Err(InfluxError::NoDatabase {
                        address: self.address(),
                        database: db.unwrap_or_default().to_string(),
                    });
                }
                return Err(qerr(e.to_string()));
            }
            let mut series = Vec::new();
            for s in res
                .get("series")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                series.push(parse_series(s).map_err(|m| qerr(m.to_string()))?);
            }
            out.push(series);
        }
        Ok(out)
    }

    /// Runs one `SELECT` with `Accept: application/csv` and returns its header and rows, each
    /// value as the server wrote it (empty for null). CSV keeps every float exactly as
    /// InfluxDB formats it (shortest round-trip), which Rust's float parsing reads back to the
    /// same bits. The database must exist ([`InfluxClient::require_database`]): InfluxDB
    /// answers an empty body, not an error, for a missing one in this format.
    pub fn select_csv(&mut self, q: &str) -> Result<CsvResult, InfluxError> {
        let path = format!(
            "/query?epoch=ms&db={}&q={}",
            url_encode(&self.database),
            url_encode(q)
        );
        let r = self.request(Method::Get, &path, &[("Accept", "application/csv")], b"")?;
        let qerr = |message: String| InfluxError::Query {
            address: self.address(),
            query: q.to_string(),
            message,
        };
        if let Some(e) = self.unauthorized(&r) {
            return Err(e);
        }
        let text = String::from_utf8(r.body.clone())
            .map_err(|_| qerr("the answer is not UTF-8".into()))?;
        let mut lines = text.lines().filter(|l| !l.is_empty());
        let header = lines.next().map(split_csv).unwrap_or_default();
        if header.first().map(String::as_str) == Some("error") || r.status != 200 {
            let msg = lines
                .next()
                .map(|l| split_csv(l).join(","))
                .unwrap_or_else(|| r.text());
            return Err(if r.status >= 500 {
                InfluxError::Server {
                    address: self.address(),
                    status: r.status,
                    message: msg,
                }
            } else {
                qerr(msg)
            });
        }
        let mut rows = Vec::new();
        for line in lines {
            let row = split_csv(line);
            if row == header {
                continue; // the next series' header
            }
            rows.push(row);
        }
        Ok(CsvResult {
            columns: header,
            rows,
        })
    }

    /// The databases on the server.
    pub fn databases(&mut self) -> Result<Vec<String>, InfluxError> {
        let res = self.query_in(None, "SHOW DATABASES")?;
        Ok(res
            .iter()
            .flatten()
            .flat_map(|s| s.values.iter())
            .filter_map(|row| row.first().and_then(Value::as_str).map(str::to_string))
            .collect())
    }

    /// Fails with [`InfluxError::NoDatabase`] unless the database exists.
    pub fn require_database(&mut self) -> Result<(), InfluxError> {
        let dbs = self.databases()?;
        if dbs.iter().any(|d| d == &self.database) {
            Ok(())
        } else {
            Err(InfluxError::NoDatabase {
                address: self.address(),
                database: self.database.clone(),
            })
        }
    }
}

fn parse_series(s: &Value) -> Result<Series, &'static str> {
    let name = s
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let tags = match s.get("tags").and_then(Value::as_object) {
        Some(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect(),
        None => Vec::new(),
    };
    let columns = s
        .get("columns")
        .and_then(Value::as_array)
        .ok_or("a series without \"columns\"")?
        .iter()
        .map(|c| {
            c.as_str()
                .map(str::to_string)
                .ok_or("a column name that is not text")
        })
        .collect::<Result<Vec<_>, _>>()?;
    let values = match s.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(rows)) => rows
            .iter()
            .map(|r| r.as_array().cloned().ok_or("a row that is not an array"))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err("\"values\" is not an array"),
    };
    Ok(Series {
        name,
        tags,
        columns,
        values,
        partial: s.get("partial").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// The `error` of a JSON error body, else the body as text.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string())
}

/// A CSV query answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsvResult {
    /// `name,tags,time,<fields>`.
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Splits one CSV line (RFC 4180 quoting: `"a,b"`, `""` for a quote).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Characters InfluxDB query-string values keep as they are: the unreserved set.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a query-string value (everything but unreserved characters).
pub fn url_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// Quotes an identifier for InfluxQL: `"name"` with `"` and `\` escaped.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Quotes a string literal for InfluxQL: `'value'` with `'` and `\` escaped.
pub fn quote_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines() {
        assert_eq!(
            split_csv("a,,\"b,c\",\"d\"\"e\""),
            vec!["a", "", "b,c", "d\"e"]
        );
        assert_eq!(quote_str("it's"), "'it\\'s'");
        assert_eq!(quote_ident("a\"b"), "\"a\\\"b\"");
    }

    #[test]
    fn url_encoding() {
        assert_eq!(url_encode("a b='c'"), "a%20b%3D%27c%27");
        assert_eq!(url_encode("BINANCE:btcusdt"), "BINANCE%3Abtcusdt");
        assert_eq!(url_encode("aggr_1s.x-y~"), "aggr_1s.x-y~");
    }

    #[test]
    fn debug_hides_the_credentials() {
        let c = InfluxClient::new("::1", 8086, "db", Duration::from_secs(1))
            .with_credentials("u", &Password::new("s3cret"));
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("Basic"),
            "{shown}"
        );
        assert!(shown.contains("http://[::1]:8086"), "{shown}");
    }
}
