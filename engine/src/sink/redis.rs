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
//! `-READONLY`, `-MISCONF` …) applied nothing and is retried with backoff. A command failing
//! inside an executed transaction (e.g. `WRONGTYPE`) is counted and logged but not retried:
//! Redis has no rollback, the rest was applied, and sending it again would duplicate it.
//!
//! [`RespConn`] is the small RESP2 client underneath (also usable for checks and tests).

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ------------------------------------------------------------------------------------------
// RESP2 client
// ------------------------------------------------------------------------------------------

/// Longest status/error/integer line accepted from the server.
const MAX_LINE: usize = 64 * 1024;
/// Largest bulk string accepted from the server.
const MAX_BULK: usize = 64 << 20;
/// Most elements accepted in one array reply.
const MAX_ARRAY: usize = 1 << 20;
/// Deepest array nesting accepted.
const MAX_DEPTH: usize = 8;

/// One RESP2 reply. Error replies (`-ERR …`) are values, not `Err`: the connection is still good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Simple(String),
    /// `-ERR message`
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$n` bulk string; `None` for the null bulk `$-1`.
    Bulk(Option<Vec<u8>>),
    /// `*n` array; `None` for the null array `*-1`.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The error message, if this is an error reply.
    pub fn as_error(&self) -> Option<&str> {
        match self {
            Reply::Error(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a RESP exchange failed. After any of these the connection must be dropped.
#[derive(Debug, thiserror::Error)]
pub enum RespError {
    /// Socket error, including read/write timeouts.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The server closed the connection (possibly in the middle of a reply).
    #[error("connection closed by the server")]
    Closed,
    /// The server sent something that is not RESP2 (or exceeds this client's limits).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A set-up command (`AUTH`, `SELECT`, `PING`) got an error reply or an unexpected one.
    #[error("{command}: {message}")]
    Refused {
        /// The command.
        command: &'static str,
        /// The server's reply.
        message: String,
    },
}

/// A blocking RESP2 connection over TCP with read/write timeouts.
#[derive(Debug)]
pub struct RespConn {
    stream: BufReader<TcpStream>,
    out: Vec<u8>,
}

impl RespConn {
    /// Connects to `host:port` (every resolved address in turn) with the given timeouts.
    pub fn connect(
        host: &str,
        port: u16,
        connect_timeout: Duration,
        io_timeout: Duration,
    ) -> Result<Self, RespError> {
        let mut last = None;
        for addr in (host, port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, connect_timeout) {
                Ok(s) => {
                    s.set_nodelay(true)?;
                    let conn = RespConn {
                        stream: BufReader::with_capacity(16 * 1024, s),
                        out: Vec::with_capacity(4096),
                    };
                    conn.set_timeout(io_timeout)?;
                    return Ok(conn);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(RespError::Io(last.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host}: no address to connect to"),
            )
        })))
    }

    /// Connects as the sink does: TCP, `AUTH` when a password is set, `SELECT` when the
    /// database is not 0, then `PING`.
    pub fn open(cfg: &RedisConfig) -> Result<Self, RespError> {
        Self::open_within(cfg, cfg.connect_timeout(), cfg.io_timeout())
    }

    fn open_within(
        cfg: &RedisConfig,
        connect_timeout: Duration,
        io_timeout: Duration,
    ) -> Result<Self, RespError> {
        let mut c = Self::connect(&cfg.host, cfg.port, connect_timeout, io_timeout)?;
        if let Some(pw) = &cfg.password {
            let r = c.command(&[b"AUTH", pw.as_bytes()])?;
            expect_simple(r, "AUTH", "OK")?;
        }
        if cfg.db != 0 {
            let r = c.command(&[b"SELECT", cfg.db.to_string().as_bytes()])?;
            expect_simple(r, "SELECT", "OK")?;
        }
        let r = c.command(&[b"PING"])?;
        expect_simple(r, "PING", "PONG")?;
        Ok(c)
    }

    /// Sets both the read and the write timeout (a zero duration is raised to 1 ms).
    pub fn set_timeout(&self, t: Duration) -> io::Result<()> {
        let t = t.max(Duration::from_millis(1));
        let s = self.stream.get_ref();
        s.set_read_timeout(Some(t))?;
        s.set_write_timeout(Some(t))
    }

    /// Appends one command to the output buffer (sent by [`RespConn::flush`]).
    pub fn queue(&mut self, args: &[&[u8]]) {
        encode_command(&mut self.out, args);
    }

    /// Writes every queued command. On error the buffer is discarded too: nothing is half-sent
    /// twice.
    pub fn flush(&mut self) -> io::Result<()> {
        let r = self.stream.get_mut().write_all(&self.out);
        self.out.clear();
        r
    }

    /// Sends one command and reads its reply.
    pub fn command(&mut self, args: &[&[u8]]) -> Result<Reply, RespError> {
        self.queue(args);
        self.flush()?;
        self.read_reply()
    }

    /// Reads the next reply (also the messages of a subscribed connection).
    pub fn read_reply(&mut self) -> Result<Reply, RespError> {
        self.read_at(0)
    }

    fn read_at(&mut self, depth: usize) -> Result<Reply, RespError> {
        let line = self.read_line()?;
        let (&tag, rest) = line
            .split_first()
            .ok_or_else(|| RespError::Protocol("empty reply line".into()))?;
        match tag {
            b'+' => Ok(Reply::Simple(String::from_utf8_lossy(rest).into_owned())),
            b'-' => Ok(Reply::Error(String::from_utf8_lossy(rest).into_owned())),
            b':' => Ok(Reply::Integer(parse_int(rest)?)),
            b'$' => {
                let n = parse_int(rest)?;
                if n == -1 {
                    return Ok(Reply::Bulk(None));
                }
                let n = usize::try_from(n)
                    .ok()
                    .filter(|&n| n <= MAX_BULK)
                    .ok_or_else(|| RespError::Protocol(format!("bulk length {n}")))?;
                let mut buf = vec![0u8; n + 2];
                self.stream.read_exact(&mut buf).map_err(eof_is_closed)?;
                if !buf.ends_with(b"\r\n") {
                    return Err(RespError::Protocol("bulk string not ended by CRLF".into()));
                }
                buf.truncate(n);
                Ok(Reply::Bulk(Some(buf)))
            }
            b'*' => {
                let n = parse_int(rest)?;
                if n == -1 {
                    return Ok(Reply::Array(None));
                }
                let n = usize::try_from(n)
                    .ok()
                    .filter(|&n| n <= MAX_ARRAY)
                    .ok_or_else(|| RespError::Protocol(format!("array length {n}")))?;
                if depth >= MAX_DEPTH {
                    return Err(RespError::Protocol("arrays nested too deep".into()));
                }
                let mut items = Vec::with_capacity(n.min(64));
                for _ in 0..n {
                    items.push(self.read_at(depth + 1)?);
                }
                Ok(Reply::Array(Some(items)))
            }
            other => Err(RespError::Protocol(format!(
                "unknown reply type byte 0x{other:02x}"
            ))),
        }
    }

    /// One CRLF-terminated line, without the CRLF.
    fn read_line(&mut self) -> Result<Vec<u8>, RespError> {
        let mut line = Vec::new();
        let n = Read::take(&mut self.stream, (MAX_LINE + 2) as u64)
            .read_until(b'\n', &mut line)
            .map_err(eof_is_closed)?;
        if n == 0 {
            return Err(RespError::Closed);
        }
        if !line.ends_with(b"\r\n") {
            return Err(if line.len() >= MAX_LINE + 2 {
                RespError::Protocol(format!("reply line longer than {MAX_LINE} bytes"))
            } else if line.ends_with(b"\n") {
                RespError::Protocol("reply line ended by LF without CR".into())
            } else {
                RespError::Closed
            });
        }
        line.truncate(line.len() - 2);
        Ok(line)
    }
}

fn eof_is_closed(e: io::Error) -> RespError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        RespError::Closed
    } else {
        RespError::Io(e)
    }
}

fn parse_int(digits: &[u8]) -> Result<i64, RespError> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| {
            RespError::Protocol(format!(
                "not an integer: {:?}",
                String::from_utf8_lossy(digits)
            ))
        })
}

fn expect_simple(r: Reply, command: &'static str, want: &str) -> Result<(), RespError> {
    match r {
        Reply::Simple(s) if s == want => Ok(()),
        Reply::Error(message) => Err(RespError::Refused { command, message }),
        other => Err(RespError::Refused {
            command,
            message: format!("unexpected reply {other:?}"),
        }),
    }
}

/// Encodes one command as a RESP array of bulk strings.
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    push_num(out, args.len());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        push_num(out, a.len());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn push_num(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
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
    /// Sent with `AUTH` after connecting (env `REDIS_PASSWORD`).
    pub password: Option<String>,
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
    /// TCP connect timeout.
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
            password: None,
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
        /// Its value.
        value: String,
        /// What is wrong.
        message: String,
    },
    /// A field is out of range.
    #[error("redis config: {0}")]
    Invalid(String),
}

impl RedisConfig {
    /// Applies `REDIS_HOST`, `REDIS_PORT`, `REDIS_DB` and `REDIS_PASSWORD` from the process
    /// environment. A set but unusable value is an error naming the variable.
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
        if let Some(v) = get("REDIS_HOST") {
            let h = v.trim();
            if h.is_empty() || h.contains(char::is_whitespace) {
                return Err(bad("REDIS_HOST", &v, "expected a host name or address"));
            }
            self.host = h.to_string();
        }
        if let Some(v) = get("REDIS_PORT") {
            self.port = v
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| bad("REDIS_PORT", &v, "expected a TCP port 1-65535"))?;
        }
        if let Some(v) = get("REDIS_DB") {
            self.db = v
                .trim()
                .parse::<u32>()
                .map_err(|_| bad("REDIS_DB", &v, "expected a database index (0, 1, …)"))?;
        }
        if let Some(v) = get("REDIS_PASSWORD") {
            if v.is_empty() {
                return Err(bad("REDIS_PASSWORD", &v, "empty; unset it for no password"));
            }
            self.password = Some(v);
        }
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
    /// Validates `cfg` and starts the `redis-sink` thread. It connects in the background; a
    /// Redis that is down at start is not an error (entries wait in the backlog).
    pub fn start(cfg: RedisConfig) -> Result<Self, RedisConfigError> {
        cfg.validate()?;
        let shared = Arc::new(Shared::default());
        let alert_ttl_s = cfg.signal_ttl_s;
        let (tx, rx) = mpsc::channel();
        let worker = Worker::new(cfg, shared.clone(), rx);
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

const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Exponential backoff with ±25 % jitter: 250 ms, 500 ms, 1 s … capped at 30 s.
fn backoff(failures: u32, state: &mut u64) -> Duration {
    let base = BACKOFF_MIN
        .saturating_mul(1u32 << failures.saturating_sub(1).min(8))
        .min(BACKOFF_MAX);
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    let frac = (*state % 1000) as f64 / 1000.0;
    base.mul_f64(0.75 + 0.5 * frac)
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
    shared: Arc<Shared>,
    rx: Receiver<Msg>,
    rx_closed: bool,
    backlog: VecDeque<Job>,
    conn: Option<RespConn>,
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
    fn new(cfg: RedisConfig, shared: Arc<Shared>, rx: Receiver<Msg>) -> Self {
        let seed = 0x9E37_79B9_7F4A_7C15u64 ^ unix_ms() as u64 ^ u64::from(std::process::id());
        Worker {
            cfg,
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
                        "redis: {} entries waiting for Redis ({}:{})",
                        self.backlog.len(),
                        self.cfg.host,
                        self.cfg.port
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
        match RespConn::open_within(&self.cfg, ct, io) {
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
                    "redis: connected to {}:{} db {} ({} waiting)",
                    self.cfg.host,
                    self.cfg.port,
                    self.cfg.db,
                    self.backlog.len()
                );
                self.flush_overflow_log();
            }
            Err(e) => {
                self.shared.errors.fetch_add(1, Relaxed);
                self.failures = self.failures.saturating_add(1);
                self.next_attempt = Instant::now() + backoff(self.failures, &mut self.jitter);
                if !self.outage_logged {
                    self.outage_logged = true;
                    log::error!(
                        "redis: cannot connect to {}:{} db {}: {e}; retrying with backoff up to {} s, keeping up to {} entries",
                        self.cfg.host,
                        self.cfg.port,
                        self.cfg.db,
                        BACKOFF_MAX.as_secs(),
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
        if let Err(e) = conn.set_timeout(io) {
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
                self.next_attempt = Instant::now() + backoff(self.failures, &mut self.jitter);
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
    conn: &mut RespConn,
    cfg: &RedisConfig,
    job: &mut Job,
    now_ms: i64,
    shared: &Shared,
) -> Outcome {
    let p = &cfg.key_prefix;
    let symbol = match &job.kind {
        Kind::Alert => {
            let channel = format!("{p}:alerts");
            conn.queue(&[b"PUBLISH", channel.as_bytes(), job.json.as_bytes()]);
            if let Err(e) = conn.flush() {
                return Outcome::NotSent(format!("writing: {e}"));
            }
            return match conn.read_reply() {
                Ok(Reply::Integer(_)) => Outcome::Done,
                Ok(other) => Outcome::Refused(format!("PUBLISH alert: {other:?}")),
                Err(e) => Outcome::Unknown(e.to_string()),
            };
        }
        Kind::Signal { symbol } => symbol,
    };
    let history = format!("{p}:history:{symbol}");
    if job.ambiguous {
        match conn.command(&[b"LPOS", history.as_bytes(), job.json.as_bytes()]) {
            Ok(Reply::Integer(_)) => {
                log::info!(
                    "redis: signal {symbol} was applied before the connection dropped; not sent again"
                );
                return Outcome::Done;
            }
            Ok(Reply::Bulk(None)) => {}
            Ok(other) => {
                log::warn!(
                    "redis: cannot tell whether signal {symbol} was applied before the connection dropped (LPOS: {other:?}); sending it again"
                );
            }
            Err(e) => return Outcome::Unknown(e.to_string()),
        }
        job.ambiguous = false;
    }
    let remaining_s = job.remaining_ms(now_ms).saturating_add(999) / 1000;
    let ttl = remaining_s.clamp(1, i64::try_from(job.ttl_s).unwrap_or(i64::MAX));
    let key = format!("{p}:signal:{symbol}");
    let channel = format!("{p}:signals");
    let counter = format!("{p}:stats:signals_published");
    let (ttl, last, hist_ttl) = (
        ttl.to_string(),
        (cfg.history_len - 1).to_string(),
        cfg.history_ttl_s.to_string(),
    );
    let json = job.json.as_bytes();
    let commands: [&[&[u8]]; 7] = [
        &[b"SETEX", key.as_bytes(), ttl.as_bytes(), json],
        &[b"PUBLISH", channel.as_bytes(), json],
        &[b"LPUSH", history.as_bytes(), json],
        &[b"LTRIM", history.as_bytes(), b"0", last.as_bytes()],
        &[b"EXPIRE", history.as_bytes(), hist_ttl.as_bytes()],
        &[b"INCR", counter.as_bytes()],
        &[b"EXPIRE", counter.as_bytes(), hist_ttl.as_bytes()],
    ];
    conn.queue(&[b"MULTI"]);
    for c in commands {
        conn.queue(c);
    }
    conn.queue(&[b"EXEC"]);
    if let Err(e) = conn.flush() {
        // Not completely written: EXEC never reached the server, nothing was applied.
        return Outcome::NotSent(format!("writing: {e}"));
    }
    // From here on the server may have executed the transaction.
    let mut refused = None;
    for i in 0..=commands.len() {
        match conn.read_reply() {
            Ok(Reply::Error(e)) => {
                if refused.is_none() {
                    let what = if i == 0 { "MULTI" } else { "queueing" };
                    refused = Some(format!("{what}: {e}"));
                }
            }
            Ok(_) => {}
            Err(e) => return Outcome::Unknown(e.to_string()),
        }
    }
    match conn.read_reply() {
        Err(e) => Outcome::Unknown(e.to_string()),
        // EXECABORT (a command was refused while queueing) or a refused MULTI: nothing applied.
        Ok(Reply::Error(e)) => {
            Outcome::Refused(refused.map_or(e.clone(), |r| format!("{e} ({r})")))
        }
        Ok(Reply::Array(Some(items))) => {
            let failed: Vec<&str> = items.iter().filter_map(Reply::as_error).collect();
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
    fn encodes_commands_as_bulk_arrays() {
        let mut out = Vec::new();
        encode_command(&mut out, &[b"SET", b"k", b""]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
        out.clear();
        push_num(&mut out, 1234567890);
        push_num(&mut out, 0);
        assert_eq!(out, b"12345678900");
    }

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
