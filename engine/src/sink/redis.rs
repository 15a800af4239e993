//! Redis sink: signals in the layout FreqTrade's SqueezeFlow strategy reads.
//!
//! For a signal on `SYMBOL` (e.g. `BTCUSDT`) with JSON body `J`, one `MULTI`/`EXEC` transaction:
//!
//! ```text
//! SETEX  squeezeflow:signal:SYMBOL <ttl> J      ttl = the signal's remaining validity (600 s when fresh)
//! PUBLISH squeezeflow:signals J
//! LPUSH  squeezeflow:history:SYMBOL J ; LTRIM … 0 99 ; EXPIRE … 86400
//! INCR   squeezeflow:stats:signals_published ; EXPIRE … 86400
//! ```
//!
//! Alerts go out as `PUBLISH squeezeflow:alerts J` through the same queue.
//!
//! [`RedisSink`] owns a thread (`redis-sink`) fed by a channel; [`RedisSink::submit`] never
//! blocks. The thread reconnects with exponential backoff (250 ms … 30 s, ±25 % jitter), keeps
//! a bounded backlog while Redis is unreachable (the oldest entries are dropped beyond
//! `backlog_max`, counted and logged) and publishes it in order when Redis returns. Entries
//! older than their TTL when their turn comes are not published (counted as expired; the
//! journal has them).
//!
//! Delivery: a transaction whose request could not be written completely was not executed and
//! is sent again. If the connection drops after the request was written but before `EXEC`'s
//! reply was read, the outcome is unknown; after reconnecting, the sink looks for the exact
//! JSON in the symbol's history list (`LPOS`) and only publishes again when it is absent. That
//! makes signals exactly-once on the keys, except in at-least-once corners: Redis lost the
//! write anyway (no persistence, or `appendfsync everysec` losing its last second in a crash —
//! the signal is published again, and channel subscribers may see it twice), another writer
//! pushed `history_len` entries to the same list in between, or `LPOS` is not available
//! (Redis < 6.0.6). Alerts have no history to check and are simply sent again.
//!
//! A transaction the server refuses while queueing (`EXECABORT` after `-OOM`, `-LOADING`,
//! `-READONLY`, `-MISCONF`, `-NOPERM` …) applied nothing and is retried with backoff. A command
//! failing inside an executed transaction (e.g. `WRONGTYPE`) is counted and logged but not
//! retried: Redis has no rollback, the rest was applied, and sending it again would duplicate it.
//!
//! The connection is the `redis` crate's synchronous one (RESP2): TCP or TLS (`rediss://`,
//! rustls, trusting the webpki roots or the configured `ca_file`), `AUTH [username] password`
//! for ACL users or `requirepass`, `SELECT db`, all within `connect_timeout_ms`; every exchange
//! after that within `io_timeout_ms`, so a hung Redis never blocks the thread for longer. The
//! sink writes each transaction with one `send_packed_command` and reads the replies one by one
//! (`recv_response`): a failed write (nothing executed) and a missing reply (outcome unknown)
//! stay apart, which the exactly-once rule above needs. Passwords never reach a log line or a
//! `Debug` output ([`Secret`]).

use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::redis::{
    Client, Connection, ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo, RedisError,
    ServerError, TlsCertificates, Value,
};

use crate::backoff;

// ------------------------------------------------------------------------------------------
// Connection
// ------------------------------------------------------------------------------------------

/// A password, or a URL that may hold one: cloned and compared as usual, never printed
/// (`Debug` shows `<redacted>`).
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

/// Why a connection could not be opened. Nothing here holds the password.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// `AUTH` was refused, or the server wants a password and none is configured.
    #[error("authentication as {user} refused: {hint} ({source})")]
    Auth {
        /// `user "name"` or `the default user`.
        user: String,
        /// What to check.
        hint: &'static str,
        /// What the client reported.
        source: RedisError,
    },
    /// TCP, TLS, `SELECT`, a timeout or a protocol failure.
    #[error("{}", describe(.0))]
    Redis(RedisError),
    /// The connection answered `PING` with something else than `PONG`.
    #[error("PING: {0}")]
    Ping(String),
}

/// A client error for log lines: a socket timeout says so (the OS words it "Resource
/// temporarily unavailable").
fn describe(e: &RedisError) -> String {
    if e.is_timeout() {
        format!("timed out ({e})")
    } else {
        e.to_string()
    }
}

/// A server error reply as the server wrote it (`CODE detail`).
fn server_error(e: &ServerError) -> String {
    match e.details() {
        Some(d) => format!("{} {d}", e.code()),
        None => e.code().to_string(),
    }
}

/// Whether a refusal means "wrong or missing credentials".
fn is_auth_refusal(message: &str) -> bool {
    message.contains("NOAUTH") || message.contains("WRONGPASS")
}

/// Opens a connection as the sink does: TCP (TLS for `rediss`), `AUTH` when a password is
/// set, `SELECT` when the database is not 0 (all within `connect_timeout`), then `PING`; the
/// connection keeps `io_timeout` as its read and write timeout.
fn open(
    client: &Client,
    cfg: &RedisConfig,
    connect_timeout: Duration,
    io_timeout: Duration,
) -> Result<Connection, ConnectError> {
    let who = || match &cfg.username {
        Some(u) => format!("user {u:?}"),
        None => "the default user".to_string(),
    };
    let auth = |source: RedisError| ConnectError::Auth {
        user: who(),
        hint: if cfg.password.is_some() {
            "wrong username or password, or the ACL user is disabled"
        } else {
            "the server wants a password and none is configured"
        },
        source,
    };
    let mut c = client
        .get_connection_with_timeout(connect_timeout.max(Duration::from_millis(1)))
        .map_err(|e| {
            if e.kind() == ::redis::ErrorKind::AuthenticationFailed
                || is_auth_refusal(&e.to_string())
            {
                auth(e)
            } else {
                ConnectError::Redis(e)
            }
        })?;
    set_timeout(&c, io_timeout).map_err(ConnectError::Redis)?;
    c.send_packed_command(&::redis::cmd("PING").get_packed_command())
        .map_err(ConnectError::Redis)?;
    match c.recv_response().map_err(ConnectError::Redis)? {
        Value::SimpleString(s) if s == "PONG" => Ok(c),
        Value::ServerError(e) if is_auth_refusal(e.code()) => Err(auth(RedisError::from(e))),
        Value::ServerError(e) => Err(ConnectError::Ping(server_error(&e))),
        other => Err(ConnectError::Ping(format!("unexpected reply {other:?}"))),
    }
}

/// Sets both the read and the write timeout (a zero duration is raised to 1 ms).
fn set_timeout(c: &Connection, t: Duration) -> Result<(), RedisError> {
    let t = Some(t.max(Duration::from_millis(1)));
    c.set_read_timeout(t)?;
    c.set_write_timeout(t)
}

// ------------------------------------------------------------------------------------------
// Configuration
// ------------------------------------------------------------------------------------------

/// Where and how the sink writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// Host name or address (env `REDIS_HOST`).
    pub host: String,
    /// TCP port (env `REDIS_PORT`).
    pub port: u16,
    /// Database index, selected with `SELECT` when not 0 (env `REDIS_DB`).
    pub db: u32,
    /// ACL user sent with `AUTH user password` (env `REDIS_USERNAME`); `None`: `AUTH password`
    /// (the default user, `requirepass`). Needs a password.
    pub username: Option<String>,
    /// Sent with `AUTH` after connecting (env `REDIS_PASSWORD`); `None`: no `AUTH`.
    pub password: Option<Secret>,
    /// TLS (`rediss://`): the server's certificate must chain to `ca_file`, or to the webpki
    /// roots without it, and name `host`.
    pub tls: bool,
    /// PEM file with the CA certificate(s) to trust for TLS instead of the webpki roots.
    pub ca_file: Option<PathBuf>,
    /// Key prefix: `{prefix}:signal:…`, `{prefix}:signals`, ….
    pub key_prefix: String,
    /// Validity of an alert (alerts carry no TTL of their own); the TTL
    /// [`OutSignal::new`] gives a signal.
    pub signal_ttl_s: u64,
    /// Entries kept in `{prefix}:history:{SYMBOL}` (`LTRIM 0 history_len-1`).
    pub history_len: u32,
    /// `EXPIRE` of the history lists and of the published counter.
    pub history_ttl_s: u64,
    /// Most entries waiting while Redis is unreachable; beyond it the oldest are dropped.
    pub backlog_max: usize,
    /// Bound on opening a connection: TCP connect, TLS handshake, `AUTH` and `SELECT`.
    pub connect_timeout_ms: u64,
    /// Read and write timeout of every exchange.
    pub io_timeout_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            host: "127.0.0.1".into(),
            port: 6379,
            db: 0,
            username: None,
            password: None,
            tls: false,
            ca_file: None,
            key_prefix: "squeezeflow".into(),
            signal_ttl_s: 600,
            history_len: 100,
            history_ttl_s: 86_400,
            backlog_max: 10_000,
            connect_timeout_ms: 2_000,
            io_timeout_ms: 2_000,
        }
    }
}

/// A bad setting.
#[derive(Debug, thiserror::Error)]
pub enum RedisConfigError {
    /// An environment variable holds a value that cannot be used.
    #[error("{var}={value:?}: {message}")]
    Env {
        /// The variable.
        var: &'static str,
        /// Its value (a URL with its password replaced by `***`).
        value: String,
        /// What is wrong.
        message: String,
    },
    /// A field is out of range.
    #[error("redis config: {0}")]
    Invalid(String),
}

/// `url` with the password of its user part (if any) replaced by `***`, for messages.
fn redact_url(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return "<not a URL>".to_string();
    };
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    let Some(at) = url[start..end].rfind('@').map(|i| start + i) else {
        return url.to_string();
    };
    match url[start..at].find(':').map(|i| start + i) {
        Some(colon) => format!("{}:***{}", &url[..colon], &url[at..]),
        None => url.to_string(),
    }
}

impl RedisConfig {
    /// Applies a `redis://[username][:password@]host[:port][/db]` or `rediss://…` URL: it
    /// replaces `host`, `port`, `db`, `username`, `password` and `tls` (`ca_file` stays).
    /// The error names the URL with its password hidden.
    pub fn apply_url(&mut self, url: &str) -> Result<(), String> {
        let shown = redact_url(url);
        let bad = |why: &str| format!("{shown}: {why}");
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(bad(
                "expected redis://[user:password@]host:port/db or rediss://…",
            ));
        }
        let info = url
            .into_connection_info()
            .map_err(|e| bad(&format!("not a Redis URL ({e})")))?;
        let (host, port, tls) = match info.addr() {
            ConnectionAddr::Tcp(h, p) => (h.clone(), *p, false),
            ConnectionAddr::TcpTls {
                host,
                port,
                insecure,
                ..
            } => {
                if *insecure {
                    return Err(bad(
                        "#insecure (no certificate check) is not supported; give the CA with ca_file",
                    ));
                }
                (host.clone(), *port, true)
            }
            _ => return Err(bad("expected a TCP address")),
        };
        let r = info.redis_settings();
        let db = u32::try_from(r.db()).map_err(|_| bad("the database must be 0, 1, …"))?;
        if host.is_empty() || port == 0 {
            return Err(bad("expected a host and a port 1-65535"));
        }
        self.host = host;
        self.port = port;
        self.tls = tls;
        self.db = db;
        self.username = r.username().filter(|u| !u.is_empty()).map(str::to_string);
        self.password = r.password().map(Secret::from);
        Ok(())
    }

    /// Applies `REDIS_URL` (as [`RedisConfig::apply_url`]), then `REDIS_HOST`, `REDIS_PORT`,
    /// `REDIS_DB`, `REDIS_USERNAME` and `REDIS_PASSWORD` from the process environment. A set
    /// but unusable value is an error naming the variable.
    pub fn apply_env(&mut self) -> Result<(), RedisConfigError> {
        self.apply_env_from(|k| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned()))
    }

    /// [`RedisConfig::apply_env`] over any variable source.
    pub fn apply_env_from(
        &mut self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<(), RedisConfigError> {
        let bad = |var: &'static str, value: &str, message: &str| RedisConfigError::Env {
            var,
            value: value.to_string(),
            message: message.to_string(),
        };
        // Parsed into a copy first: a bad variable changes nothing.
        let mut next = self.clone();
        if let Some(v) = get("REDIS_URL") {
            next.apply_url(v.trim())
                .map_err(|message| RedisConfigError::Env {
                    var: "REDIS_URL",
                    value: redact_url(v.trim()),
                    message,
                })?;
        }
        if let Some(v) = get("REDIS_HOST") {
            let h = v.trim();
            if h.is_empty() || h.contains(char::is_whitespace) {
                return Err(bad("REDIS_HOST", &v, "expected a host name or address"));
            }
            next.host = h.to_string();
        }
        if let Some(v) = get("REDIS_PORT") {
            next.port = v
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| bad("REDIS_PORT", &v, "expected a TCP port 1-65535"))?;
        }
        if let Some(v) = get("REDIS_DB") {
            next.db = v
                .trim()
                .parse::<u32>()
                .map_err(|_| bad("REDIS_DB", &v, "expected a database index (0, 1, …)"))?;
        }
        if let Some(v) = get("REDIS_USERNAME") {
            let u = v.trim();
            if u.is_empty() || u.contains(char::is_whitespace) {
                return Err(bad(
                    "REDIS_USERNAME",
                    &v,
                    "expected an ACL user name; unset it for the default user",
                ));
            }
            next.username = Some(u.to_string());
        }
        if let Some(v) = get("REDIS_PASSWORD") {
            if v.is_empty() {
                return Err(bad("REDIS_PASSWORD", &v, "empty; unset it for no password"));
            }
            next.password = Some(Secret(v));
        }
        *self = next;
        Ok(())
    }

    /// Checks the ranges the sink relies on.
    pub fn validate(&self) -> Result<(), RedisConfigError> {
        let fail = |m: &str| Err(RedisConfigError::Invalid(m.to_string()));
        if self.host.is_empty() {
            return fail("host is empty");
        }
        if self.port == 0 {
            return fail("port 0");
        }
        if self
            .password
            .as_ref()
            .is_some_and(|p| p.expose().is_empty())
        {
            return fail("the password is empty; leave it out for no AUTH");
        }
        if self.username.is_some() && self.password.is_none() {
            return fail("a username needs a password (AUTH username password)");
        }
        if self.ca_file.is_some() && !self.tls {
            return fail("ca_file is only used with TLS (rediss:// or redis_tls = true)");
        }
        if self.key_prefix.is_empty() {
            return fail("key_prefix is empty");
        }
        if self.signal_ttl_s == 0 || self.history_ttl_s == 0 {
            return fail("signal_ttl_s and history_ttl_s must be at least 1");
        }
        if self.history_len == 0 {
            return fail("history_len must be at least 1");
        }
        if self.backlog_max == 0 {
            return fail("backlog_max must be at least 1");
        }
        if self.connect_timeout_ms == 0 || self.io_timeout_ms == 0 {
            return fail("timeouts must be at least 1 ms");
        }
        Ok(())
    }

    /// Where the sink writes, for log lines: `host:port db N`, the user and TLS, never the
    /// password.
    pub fn endpoint(&self) -> String {
        let mut s = format!("{}:{} db {}", self.host, self.port, self.db);
        if let Some(u) = &self.username {
            s.push_str(&format!(" as {u}"));
        }
        if self.tls {
            s.push_str(" over TLS");
        }
        s
    }

    /// The `redis` client for this configuration; reads `ca_file`. Validates first.
    pub fn client(&self) -> Result<Client, RedisConfigError> {
        self.validate()?;
        let invalid = |m: String| RedisConfigError::Invalid(m);
        let addr = if self.tls {
            // The redis crate builds its rustls config with the process-default provider;
            // make it the one this workspace compiles in (ring) if none is installed yet.
            let _ = rustls::crypto::ring::default_provider().install_default();
            ConnectionAddr::TcpTls {
                host: self.host.clone(),
                port: self.port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(self.host.clone(), self.port)
        };
        let mut settings = RedisConnectionInfo::default().set_db(i64::from(self.db));
        if let Some(u) = &self.username {
            settings = settings.set_username(u);
        }
        if let Some(p) = &self.password {
            settings = settings.set_password(p.expose());
        }
        let info = addr
            .into_connection_info()
            .map_err(|e| invalid(format!("{}: {e}", self.endpoint())))?
            .set_redis_settings(settings);
        let Some(path) = &self.ca_file else {
            return Client::open(info).map_err(|e| invalid(format!("{}: {e}", self.endpoint())));
        };
        let pem =
            std::fs::read(path).map_err(|e| invalid(format!("ca_file {}: {e}", path.display())))?;
        if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
            return Err(invalid(format!(
                "ca_file {}: no PEM certificate in it",
                path.display()
            )));
        }
        let certs = TlsCertificates {
            client_tls: None,
            root_cert: Some(pem),
        };
        Client::build_with_tls(info, certs)
            .map_err(|e| invalid(format!("ca_file {}: {e}", path.display())))
    }

    /// Opens a connection as the sink does (TCP or TLS, `AUTH`, `SELECT`, `PING`; the
    /// configured timeouts): for checks and tests.
    pub fn connect(&self) -> Result<Connection, ConnectError> {
        let client = self.client().map_err(|e| {
            ConnectError::Redis(RedisError::from((
                ::redis::ErrorKind::InvalidClientConfig,
                "invalid configuration",
                e.to_string(),
            )))
        })?;
        open(&client, self, self.connect_timeout(), self.io_timeout())
    }

    fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    fn io_timeout(&self) -> Duration {
        Duration::from_millis(self.io_timeout_ms)
    }
}

// ------------------------------------------------------------------------------------------
// The sink
// ------------------------------------------------------------------------------------------

/// A signal ready for Redis: the wire JSON (validated and built by the caller) and its validity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutSignal {
    /// Exchange-style symbol in upper case, e.g. `BTCUSDT` (used in the key names).
    pub symbol: String,
    /// The JSON body, written as is.
    pub json: String,
    /// When the signal was created (Unix ms); its age is measured from here.
    pub created_unix_ms: i64,
    /// Validity in seconds: not published once older, and the key's TTL is what remains.
    pub ttl_s: u64,
}

impl OutSignal {
    /// A signal created now, valid for `cfg.signal_ttl_s`.
    pub fn new(cfg: &RedisConfig, symbol: impl Into<String>, json: impl Into<String>) -> Self {
        OutSignal {
            symbol: symbol.into(),
            json: json.into(),
            created_unix_ms: unix_ms(),
            ttl_s: cfg.signal_ttl_s,
        }
    }
}

/// Why [`RedisSink::submit`] refused a signal.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubmitError {
    /// The symbol is not 2–40 characters of `A-Z`, `0-9`, `_`, `-`.
    #[error("signal symbol {0:?} is not an upper-case exchange symbol")]
    BadSymbol(String),
    /// Empty JSON body.
    #[error("signal JSON is empty")]
    EmptyJson,
    /// `ttl_s` is 0.
    #[error("signal TTL is 0")]
    ZeroTtl,
    /// The sink's thread is gone (after shutdown).
    #[error("the Redis sink is stopped")]
    Closed,
}

/// A snapshot of the sink's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedisStats {
    /// Signals written (transaction executed).
    pub published: u64,
    /// Alerts published.
    pub alerts_published: u64,
    /// Signals and alerts not published because they were older than their TTL at their turn.
    pub expired: u64,
    /// Signals and alerts dropped because the backlog was full.
    pub dropped_overflow: u64,
    /// Accepted but not yet published, expired or dropped.
    pub backlog: u64,
    /// Successful connections after the first one.
    pub reconnects: u64,
    /// Failed connects, socket errors and error replies.
    pub errors: u64,
    /// Failed connects because `AUTH` was refused or a password is missing (also in `errors`).
    pub auth_failures: u64,
    /// Whether the sink currently holds a working connection.
    pub connected: bool,
}

/// What [`RedisSink::shutdown`] could not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Entries still unpublished when the thread stopped (they are in the journal).
    pub remaining: u64,
    /// The final counters.
    pub stats: RedisStats,
}

#[derive(Debug, Default)]
struct Shared {
    published: AtomicU64,
    alerts_published: AtomicU64,
    expired: AtomicU64,
    dropped_overflow: AtomicU64,
    backlog: AtomicU64,
    reconnects: AtomicU64,
    errors: AtomicU64,
    auth_failures: AtomicU64,
    connected: AtomicBool,
}

impl Shared {
    fn snapshot(&self) -> RedisStats {
        RedisStats {
            published: self.published.load(Relaxed),
            alerts_published: self.alerts_published.load(Relaxed),
            expired: self.expired.load(Relaxed),
            dropped_overflow: self.dropped_overflow.load(Relaxed),
            backlog: self.backlog.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            errors: self.errors.load(Relaxed),
            auth_failures: self.auth_failures.load(Relaxed),
            connected: self.connected.load(Relaxed),
        }
    }
}

#[derive(Debug)]
enum Kind {
    Signal { symbol: String },
    Alert,
}

#[derive(Debug)]
struct Job {
    kind: Kind,
    json: String,
    created_unix_ms: i64,
    ttl_s: u64,
    /// A previous attempt was fully written but its reply never arrived.
    ambiguous: bool,
}

impl Job {
    /// Milliseconds of validity left at `now_ms` (≤ 0: expired).
    fn remaining_ms(&self, now_ms: i64) -> i64 {
        let ttl_ms = i64::try_from(self.ttl_s.saturating_mul(1000)).unwrap_or(i64::MAX);
        let age = now_ms.saturating_sub(self.created_unix_ms).max(0);
        ttl_ms.saturating_sub(age)
    }

    fn what(&self) -> String {
        match &self.kind {
            Kind::Signal { symbol } => format!("signal {symbol}"),
            Kind::Alert => "alert".into(),
        }
    }
}

#[derive(Debug)]
enum Msg {
    Job(Job),
    Shutdown(Instant),
}

/// The Redis signal sink; see the [module documentation](self).
#[derive(Debug)]
pub struct RedisSink {
    tx: Option<Sender<Msg>>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<u64>>,
    alert_ttl_s: u64,
}

impl RedisSink {
    /// Validates `cfg` (and reads its `ca_file`) and starts the `redis-sink` thread. It
    /// connects in the background; a Redis that is down at start is not an error (entries wait
    /// in the backlog), nor are refused credentials (counted, logged, retried with backoff).
    pub fn start(cfg: RedisConfig) -> Result<Self, RedisConfigError> {
        let client = cfg.client()?;
        let shared = Arc::new(Shared::default());
        let alert_ttl_s = cfg.signal_ttl_s;
        let (tx, rx) = mpsc::channel();
        let worker = Worker::new(cfg, client, shared.clone(), rx);
        let thread = std::thread::Builder::new()
            .name("redis-sink".into())
            .spawn(move || worker.run())
            .map_err(|e| RedisConfigError::Invalid(format!("cannot start its thread: {e}")))?;
        Ok(RedisSink {
            tx: Some(tx),
            shared,
            thread: Some(thread),
            alert_ttl_s,
        })
    }

    /// Queues a signal; never blocks.
    pub fn submit(&self, sig: OutSignal) -> Result<(), SubmitError> {
        if !valid_symbol(&sig.symbol) {
            return Err(SubmitError::BadSymbol(sig.symbol));
        }
        if sig.json.is_empty() {
            return Err(SubmitError::EmptyJson);
        }
        if sig.ttl_s == 0 {
            return Err(SubmitError::ZeroTtl);
        }
        self.send(Job {
            kind: Kind::Signal { symbol: sig.symbol },
            json: sig.json,
            created_unix_ms: sig.created_unix_ms,
            ttl_s: sig.ttl_s,
            ambiguous: false,
        })
    }

    /// Queues `PUBLISH {prefix}:alerts json` behind the signals; never blocks. The alert is
    /// valid for `signal_ttl_s` from now.
    pub fn publish_alert(&self, json: String) -> Result<(), SubmitError> {
        if json.is_empty() {
            return Err(SubmitError::EmptyJson);
        }
        self.send(Job {
            kind: Kind::Alert,
            json,
            created_unix_ms: unix_ms(),
            ttl_s: self.alert_ttl_s,
            ambiguous: false,
        })
    }

    fn send(&self, job: Job) -> Result<(), SubmitError> {
        let tx = self.tx.as_ref().ok_or(SubmitError::Closed)?;
        self.shared.backlog.fetch_add(1, Relaxed);
        tx.send(Msg::Job(job)).map_err(|_| {
            self.shared.backlog.fetch_sub(1, Relaxed);
            SubmitError::Closed
        })
    }

    /// The counters now.
    pub fn stats(&self) -> RedisStats {
        self.shared.snapshot()
    }

    /// Publishes what it can within `timeout` (one immediate connection attempt if Redis is
    /// down), stops the thread and reports what remained unpublished.
    pub fn shutdown(mut self, timeout: Duration) -> ShutdownReport {
        let remaining = self.stop(Instant::now() + timeout);
        ShutdownReport {
            remaining,
            stats: self.shared.snapshot(),
        }
    }

    fn stop(&mut self, deadline: Instant) -> u64 {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Msg::Shutdown(deadline));
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(remaining)) => remaining,
            // The thread panicked (a bug): everything it held is unaccounted.
            Some(Err(_)) => self.shared.backlog.load(Relaxed),
            None => 0,
        }
    }
}

impl Drop for RedisSink {
    /// Without [`RedisSink::shutdown`], stops the thread without waiting for Redis.
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Msg::Shutdown(Instant::now()));
        }
    }
}

fn valid_symbol(s: &str) -> bool {
    (2..=40).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// How one publish attempt ended.
enum Outcome {
    /// Executed (or found already executed): remove it from the backlog.
    Done,
    /// Not completely written, so not executed; retried after reconnecting.
    NotSent(String),
    /// Refused by the server, not executed; retried after a backoff.
    Refused(String),
    /// Written completely but no reply: the entry is retried after reconnecting, checked first.
    Unknown(String),
}

struct Worker {
    cfg: RedisConfig,
    client: Client,
    shared: Arc<Shared>,
    rx: Receiver<Msg>,
    rx_closed: bool,
    backlog: VecDeque<Job>,
    conn: Option<Connection>,
    ever_connected: bool,
    /// Failed connection attempts since the last success.
    failures: u32,
    next_attempt: Instant,
    jitter: u64,
    shutdown: Option<Instant>,
    /// Whether the current outage has been logged.
    outage_logged: bool,
    /// Connected, but the server refused the last transaction (retried after `next_attempt`).
    refusing: bool,
    /// Backlog size at which the next "waiting" line is logged during an outage.
    next_backlog_mark: usize,
    /// Entries dropped for overflow since the last summary line.
    overflow_run: u64,
}

impl Worker {
    fn new(cfg: RedisConfig, client: Client, shared: Arc<Shared>, rx: Receiver<Msg>) -> Self {
        let seed = 0x9E37_79B9_7F4A_7C15u64 ^ unix_ms() as u64 ^ u64::from(std::process::id());
        Worker {
            cfg,
            client,
            shared,
            rx,
            rx_closed: false,
            backlog: VecDeque::new(),
            conn: None,
            ever_connected: false,
            failures: 0,
            next_attempt: Instant::now(),
            jitter: seed | 1,
            shutdown: None,
            outage_logged: false,
            refusing: false,
            next_backlog_mark: 100,
            overflow_run: 0,
        }
    }

    /// The thread body; returns how many entries remained unpublished.
    fn run(mut self) -> u64 {
        loop {
            self.drain();
            if let Some(deadline) = self.shutdown {
                if self.backlog.is_empty() || Instant::now() >= deadline {
                    break;
                }
            }
            if self.backlog.is_empty() {
                self.wait(self.shutdown);
                continue;
            }
            if self.conn.is_none() {
                let now = Instant::now();
                if now < self.next_attempt {
                    let until = self
                        .shutdown
                        .map_or(self.next_attempt, |d| d.min(self.next_attempt));
                    self.wait(Some(until));
                    continue;
                }
                self.connect();
                continue;
            }
            if self.refusing && Instant::now() < self.next_attempt {
                let until = self
                    .shutdown
                    .map_or(self.next_attempt, |d| d.min(self.next_attempt));
                self.wait(Some(until));
                continue;
            }
            self.publish_front();
        }
        self.drain();
        let remaining = self.backlog.len() as u64;
        self.flush_overflow_log();
        self.conn = None;
        self.shared.connected.store(false, Relaxed);
        if remaining > 0 {
            log::error!(
                "redis: stopping with {remaining} signal(s)/alert(s) unpublished (they are in the journal)"
            );
        }
        remaining
    }

    /// Moves everything waiting in the channel into the backlog.
    fn drain(&mut self) {
        if self.rx_closed {
            return;
        }
        loop {
            match self.rx.try_recv() {
                Ok(m) => self.accept(m),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.closed();
                    return;
                }
            }
        }
    }

    /// Waits for a message until `until` (forever with `None`).
    fn wait(&mut self, until: Option<Instant>) {
        if self.rx_closed {
            if let Some(t) = until {
                std::thread::sleep(t.saturating_duration_since(Instant::now()));
            }
            return;
        }
        let got = match until {
            None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(t) => self
                .rx
                .recv_timeout(t.saturating_duration_since(Instant::now())),
        };
        match got {
            Ok(m) => self.accept(m),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => self.closed(),
        }
    }

    fn closed(&mut self) {
        self.rx_closed = true;
        if self.shutdown.is_none() {
            self.shutdown = Some(Instant::now());
        }
    }

    fn accept(&mut self, m: Msg) {
        match m {
            Msg::Job(job) => {
                if self.backlog.len() >= self.cfg.backlog_max {
                    if let Some(old) = self.backlog.pop_front() {
                        self.shared.dropped_overflow.fetch_add(1, Relaxed);
                        self.shared.backlog.fetch_sub(1, Relaxed);
                        if self.overflow_run == 0 {
                            log::error!(
                                "redis: backlog full ({} entries); dropping the oldest ({}, created {} ms ago) and every further oldest one until Redis catches up — they remain in the journal",
                                self.cfg.backlog_max,
                                old.what(),
                                unix_ms().saturating_sub(old.created_unix_ms)
                            );
                        }
                        self.overflow_run += 1;
                    }
                }
                self.backlog.push_back(job);
                if self.conn.is_none() && self.backlog.len() >= self.next_backlog_mark {
                    log::warn!(
                        "redis: {} entries waiting for Redis ({})",
                        self.backlog.len(),
                        self.cfg.endpoint()
                    );
                    self.next_backlog_mark = self.next_backlog_mark.saturating_mul(10);
                }
            }
            Msg::Shutdown(deadline) => {
                self.shutdown = Some(self.shutdown.map_or(deadline, |d| d.min(deadline)));
                // One prompt attempt even if the backoff would wait longer.
                self.next_attempt = Instant::now();
            }
        }
    }

    fn flush_overflow_log(&mut self) {
        if self.overflow_run > 0 {
            log::error!(
                "redis: {} entries were dropped because the backlog was full (total {})",
                self.overflow_run,
                self.shared.dropped_overflow.load(Relaxed)
            );
            self.overflow_run = 0;
        }
    }

    /// Timeouts for the next exchange: the configured ones, cut to the shutdown deadline.
    fn budget(&self) -> (Duration, Duration) {
        let (c, io) = (self.cfg.connect_timeout(), self.cfg.io_timeout());
        match self.shutdown {
            None => (c, io),
            Some(d) => {
                let left = d
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(50));
                (c.min(left), io.min(left))
            }
        }
    }

    fn connect(&mut self) {
        let (ct, io) = self.budget();
        match open(&self.client, &self.cfg, ct, io) {
            Ok(c) => {
                self.conn = Some(c);
                if self.ever_connected {
                    self.shared.reconnects.fetch_add(1, Relaxed);
                }
                self.ever_connected = true;
                self.failures = 0;
                self.outage_logged = false;
                self.next_backlog_mark = 100;
                self.shared.connected.store(true, Relaxed);
                log::info!(
                    "redis: connected to {} ({} waiting)",
                    self.cfg.endpoint(),
                    self.backlog.len()
                );
                self.flush_overflow_log();
            }
            Err(e) => {
                self.shared.errors.fetch_add(1, Relaxed);
                if matches!(e, ConnectError::Auth { .. }) {
                    self.shared.auth_failures.fetch_add(1, Relaxed);
                }
                self.failures = self.failures.saturating_add(1);
                self.next_attempt =
                    Instant::now() + backoff::reconnect(self.failures, &mut self.jitter);
                if !self.outage_logged {
                    self.outage_logged = true;
                    log::error!(
                        "redis: cannot connect to {}: {e}; retrying with backoff up to {} s, keeping up to {} entries",
                        self.cfg.endpoint(),
                        backoff::RECONNECT_MAX.as_secs(),
                        self.cfg.backlog_max
                    );
                }
            }
        }
    }

    /// Drops the connection after a failure; the next attempt is immediate, then backs off.
    fn lost(&mut self, why: &str) {
        self.conn = None;
        self.refusing = false;
        self.shared.errors.fetch_add(1, Relaxed);
        self.shared.connected.store(false, Relaxed);
        self.next_attempt = Instant::now();
        if !self.outage_logged {
            self.outage_logged = true;
            log::error!(
                "redis: connection to {}:{} lost: {why}; {} entries waiting, reconnecting with backoff",
                self.cfg.host,
                self.cfg.port,
                self.backlog.len()
            );
        }
    }

    fn publish_front(&mut self) {
        let now_ms = unix_ms();
        let mut expired = 0u64;
        while self
            .backlog
            .front()
            .is_some_and(|j| j.remaining_ms(now_ms) <= 0)
        {
            if let Some(j) = self.backlog.pop_front() {
                self.shared.expired.fetch_add(1, Relaxed);
                self.shared.backlog.fetch_sub(1, Relaxed);
                expired += 1;
                if expired == 1 {
                    log::warn!(
                        "redis: {} expired before it could be published ({} ms old, TTL {} s); not published",
                        j.what(),
                        now_ms.saturating_sub(j.created_unix_ms),
                        j.ttl_s
                    );
                }
            }
        }
        if expired > 1 {
            log::warn!(
                "redis: {expired} entries expired in all; not published (they are in the journal)"
            );
        }
        let (_, io) = self.budget();
        let (Some(job), Some(conn)) = (self.backlog.front_mut(), self.conn.as_mut()) else {
            return;
        };
        if let Err(e) = set_timeout(conn, io) {
            self.lost(&e.to_string());
            return;
        }
        let outcome = publish(conn, &self.cfg, job, now_ms, &self.shared);
        match outcome {
            Outcome::Done => {
                if self.refusing {
                    self.refusing = false;
                    self.failures = 0;
                    log::info!(
                        "redis: {}:{} accepts writes again ({} entries waiting)",
                        self.cfg.host,
                        self.cfg.port,
                        self.backlog.len().saturating_sub(1)
                    );
                }
                if let Some(j) = self.backlog.pop_front() {
                    self.shared.backlog.fetch_sub(1, Relaxed);
                    match j.kind {
                        Kind::Signal { .. } => self.shared.published.fetch_add(1, Relaxed),
                        Kind::Alert => self.shared.alerts_published.fetch_add(1, Relaxed),
                    };
                }
            }
            Outcome::NotSent(why) => self.lost(&why),
            Outcome::Refused(why) => {
                // A refusal (LOADING, OOM, MISCONF, READONLY, …) is retried on the same
                // connection after a backoff.
                self.shared.errors.fetch_add(1, Relaxed);
                self.failures = self.failures.saturating_add(1);
                self.next_attempt =
                    Instant::now() + backoff::reconnect(self.failures, &mut self.jitter);
                if !self.refusing {
                    self.refusing = true;
                    log::error!(
                        "redis: {}:{} refuses the transaction: {why}; {} entries waiting, retrying with backoff",
                        self.cfg.host,
                        self.cfg.port,
                        self.backlog.len()
                    );
                }
            }
            Outcome::Unknown(why) => {
                job.ambiguous = true;
                self.lost(&why);
            }
        }
    }
}

/// One attempt at the front entry over `conn`.
fn publish(
    conn: &mut Connection,
    cfg: &RedisConfig,
    job: &mut Job,
    now_ms: i64,
    shared: &Shared,
) -> Outcome {
    let p = &cfg.key_prefix;
    let symbol = match &job.kind {
        Kind::Alert => {
            let channel = format!("{p}:alerts");
            let request = ::redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(job.json.as_bytes())
                .get_packed_command();
            if let Err(e) = conn.send_packed_command(&request) {
                return Outcome::NotSent(format!("writing: {}", describe(&e)));
            }
            return match conn.recv_response() {
                Ok(Value::Int(_)) => Outcome::Done,
                Ok(Value::ServerError(e)) => {
                    Outcome::Refused(format!("PUBLISH alert: {}", server_error(&e)))
                }
                Ok(other) => Outcome::Refused(format!("PUBLISH alert: {other:?}")),
                Err(e) => Outcome::Unknown(describe(&e)),
            };
        }
        Kind::Signal { symbol } => symbol,
    };
    let history = format!("{p}:history:{symbol}");
    if job.ambiguous {
        let request = ::redis::cmd("LPOS")
            .arg(&history)
            .arg(job.json.as_bytes())
            .get_packed_command();
        if let Err(e) = conn.send_packed_command(&request) {
            return Outcome::NotSent(format!("writing: {}", describe(&e)));
        }
        match conn.recv_response() {
            Ok(Value::Int(_)) => {
                log::info!(
                    "redis: signal {symbol} was applied before the connection dropped; not sent again"
                );
                return Outcome::Done;
            }
            Ok(Value::Nil) => {}
            Ok(other) => {
                let other = match other {
                    Value::ServerError(e) => server_error(&e),
                    other => format!("{other:?}"),
                };
                log::warn!(
                    "redis: cannot tell whether signal {symbol} was applied before the connection dropped (LPOS: {other}); sending it again"
                );
            }
            Err(e) => return Outcome::Unknown(describe(&e)),
        }
        job.ambiguous = false;
    }
    let remaining_s = job.remaining_ms(now_ms).saturating_add(999) / 1000;
    let ttl = remaining_s.clamp(1, i64::try_from(job.ttl_s).unwrap_or(i64::MAX));
    let key = format!("{p}:signal:{symbol}");
    let channel = format!("{p}:signals");
    let counter = format!("{p}:stats:signals_published");
    let json = job.json.as_bytes();
    // MULTI and EXEC written by hand (not `Pipeline::atomic`): every reply is read here, so a
    // refusal while queueing, a failure inside EXEC and a missing reply each get their outcome.
    let mut tx = ::redis::pipe();
    tx.cmd("MULTI")
        .cmd("SETEX")
        .arg(&key)
        .arg(ttl)
        .arg(json)
        .cmd("PUBLISH")
        .arg(&channel)
        .arg(json)
        .cmd("LPUSH")
        .arg(&history)
        .arg(json)
        .cmd("LTRIM")
        .arg(&history)
        .arg(0)
        .arg(cfg.history_len - 1)
        .cmd("EXPIRE")
        .arg(&history)
        .arg(cfg.history_ttl_s)
        .cmd("INCR")
        .arg(&counter)
        .cmd("EXPIRE")
        .arg(&counter)
        .arg(cfg.history_ttl_s)
        .cmd("EXEC");
    // MULTI and the seven commands; EXEC's reply is read after them.
    let queued = tx.len() - 1;
    if let Err(e) = conn.send_packed_command(&tx.get_packed_pipeline()) {
        // Not completely written: EXEC never reached the server, nothing was applied.
        return Outcome::NotSent(format!("writing: {}", describe(&e)));
    }
    // From here on the server may have executed the transaction.
    let mut refused = None;
    for i in 0..queued {
        match conn.recv_response() {
            Ok(Value::ServerError(e)) => {
                if refused.is_none() {
                    let what = if i == 0 { "MULTI" } else { "queueing" };
                    refused = Some(format!("{what}: {}", server_error(&e)));
                }
            }
            Ok(_) => {}
            Err(e) => return Outcome::Unknown(describe(&e)),
        }
    }
    match conn.recv_response() {
        Err(e) => Outcome::Unknown(describe(&e)),
        // EXECABORT (a command was refused while queueing) or a refused MULTI: nothing applied.
        Ok(Value::ServerError(e)) => {
            let e = server_error(&e);
            Outcome::Refused(refused.map_or(e.clone(), |r| format!("{e} ({r})")))
        }
        Ok(Value::Array(items)) => {
            let failed: Vec<String> = items
                .iter()
                .filter_map(|v| match v {
                    Value::ServerError(e) => Some(server_error(e)),
                    _ => None,
                })
                .collect();
            if !failed.is_empty() {
                // Redis has no rollback: the other commands were applied, so sending the
                // signal again would duplicate it. Counted and logged instead.
                shared.errors.fetch_add(failed.len() as u64, Relaxed);
                log::error!(
                    "redis: signal {symbol}: {} command(s) failed inside the transaction (the rest was applied): {}",
                    failed.len(),
                    failed.join("; ")
                );
            }
            Outcome::Done
        }
        Ok(other) => Outcome::Refused(format!("unexpected EXEC reply {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_errors_name_the_variable() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let mut c = RedisConfig::default();
        let e = c
            .apply_env_from(env(&[("REDIS_PORT", "63 79")]))
            .unwrap_err();
        assert!(e.to_string().contains("REDIS_PORT"), "{e}");
        let e = c.apply_env_from(env(&[("REDIS_PORT", "0")])).unwrap_err();
        assert!(e.to_string().contains("REDIS_PORT"), "{e}");
        let e = c.apply_env_from(env(&[("REDIS_DB", "-1")])).unwrap_err();
        assert!(e.to_string().contains("REDIS_DB"), "{e}");
        let e = c.apply_env_from(env(&[("REDIS_HOST", " ")])).unwrap_err();
        assert!(e.to_string().contains("REDIS_HOST"), "{e}");
        assert_eq!(c, RedisConfig::default());
        c.apply_env_from(env(&[
            ("REDIS_HOST", "redis"),
            ("REDIS_PORT", "6380"),
            ("REDIS_DB", "2"),
        ]))
        .unwrap();
        assert_eq!((c.host.as_str(), c.port, c.db), ("redis", 6380, 2));
    }

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn urls_set_address_credentials_db_and_tls() {
        let mut c = RedisConfig {
            ca_file: Some("/etc/ca.pem".into()),
            ..RedisConfig::default()
        };
        c.apply_url("rediss://squeezeflow:p%40ss@redis.internal:6380/3")
            .unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.db, c.tls),
            ("redis.internal", 6380, 3, true)
        );
        assert_eq!(c.username.as_deref(), Some("squeezeflow"));
        assert_eq!(c.password.as_ref().map(Secret::expose), Some("p@ss"));
        assert_eq!(c.ca_file, Some("/etc/ca.pem".into()), "ca_file stays");
        c.validate().unwrap();

        // A URL replaces every part it covers: no user, no password, no TLS, db 0.
        c.apply_url("redis://127.0.0.1").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.db, c.tls),
            ("127.0.0.1", 6379, 0, false)
        );
        assert_eq!((c.username.as_deref(), c.password.as_ref()), (None, None));
        // `requirepass` style: a password for the default user.
        c.apply_url("redis://:s3cret@localhost:6379/1").unwrap();
        assert_eq!(c.username, None);
        assert_eq!(c.password.as_ref().map(Secret::expose), Some("s3cret"));

        for bad in [
            "http://u:pw@host",
            "unix:///tmp/redis.sock",
            "rediss://u:pw@host/0#insecure",
            "redis://u:pw@host/notadb",
            "redis://u:pw@host/-1",
        ] {
            let e = c.clone().apply_url(bad).unwrap_err();
            assert!(!e.contains("pw@"), "{bad}: the password leaks in {e:?}");
        }
    }

    #[test]
    fn passwords_are_never_printed() {
        let mut c = RedisConfig::default();
        c.apply_url("redis://user:hunter2@host:6379/0").unwrap();
        let shown = format!("{c:?} {}", c.endpoint());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert_eq!(
            redact_url("rediss://user:hunter2@host:6380/2"),
            "rediss://user:***@host:6380/2"
        );
        assert_eq!(redact_url("redis://:pw@h/0"), "redis://:***@h/0");
        assert_eq!(redact_url("redis://host:6379/0"), "redis://host:6379/0");
        let e = c
            .apply_env_from(vars(&[("REDIS_URL", "redis://u:hunter2@h/x")]))
            .unwrap_err();
        assert!(e.to_string().contains("REDIS_URL"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn env_url_then_single_variables_override() {
        let mut c = RedisConfig::default();
        c.apply_env_from(vars(&[
            ("REDIS_URL", "rediss://a:b@redis.internal:6380/4"),
            ("REDIS_PORT", "6390"),
            ("REDIS_USERNAME", "squeezeflow"),
            ("REDIS_PASSWORD", "from-env"),
        ]))
        .unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.db, c.tls),
            ("redis.internal", 6390, 4, true)
        );
        assert_eq!(c.username.as_deref(), Some("squeezeflow"));
        assert_eq!(c.password.as_ref().map(Secret::expose), Some("from-env"));

        // A bad variable changes nothing, even after good ones.
        let before = c.clone();
        let e = c
            .apply_env_from(vars(&[("REDIS_HOST", "other"), ("REDIS_USERNAME", " ")]))
            .unwrap_err();
        assert!(e.to_string().contains("REDIS_USERNAME"), "{e}");
        assert_eq!(c, before);
    }

    #[test]
    fn validation_of_credentials_and_tls() {
        let user_only = RedisConfig {
            username: Some("squeezeflow".into()),
            ..RedisConfig::default()
        };
        let e = user_only.validate().unwrap_err();
        assert!(e.to_string().contains("username needs a password"), "{e}");
        let empty = RedisConfig {
            password: Some("".into()),
            ..RedisConfig::default()
        };
        let e = empty.validate().unwrap_err();
        assert!(e.to_string().contains("password is empty"), "{e}");
        let ca_without_tls = RedisConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..RedisConfig::default()
        };
        let e = ca_without_tls.validate().unwrap_err();
        assert!(e.to_string().contains("ca_file"), "{e}");
        let missing_ca = RedisConfig {
            tls: true,
            ..ca_without_tls
        };
        let e = missing_ca.client().unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn remaining_validity() {
        let j = Job {
            kind: Kind::Alert,
            json: "{}".into(),
            created_unix_ms: 1_000_000,
            ttl_s: 600,
            ambiguous: false,
        };
        assert_eq!(j.remaining_ms(1_000_000), 600_000);
        assert_eq!(j.remaining_ms(1_000_000 + 599_999), 1);
        assert_eq!(j.remaining_ms(1_000_000 + 600_000), 0);
        // A creation stamp in the future (clock step) does not extend the validity.
        assert_eq!(j.remaining_ms(0), 600_000);
    }

    #[test]
    fn symbols() {
        assert!(valid_symbol("BTCUSDT"));
        assert!(valid_symbol("1000PEPEUSDT"));
        assert!(!valid_symbol("btcusdt"));
        assert!(!valid_symbol("B"));
        assert!(!valid_symbol("BTC USDT"));
        assert!(!valid_symbol("BTC:USDT"));
    }
}
