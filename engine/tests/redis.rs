//! The Redis sink against a real `redis-server` (started per test on a free port, in a temp dir,
//! killed at the end — also on panic). Keys are checked with `redis-cli` as well as with the
//! `redis` crate the sink uses, so a shared misunderstanding of the protocol cannot hide.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use engine::sink::redis::{OutSignal, RedisConfig, RedisSink, RedisStats, SubmitError};
use redis::Value;

const INSTALL: &str = "the Redis sink tests need a real Redis: install it with \
                       `sudo apt-get install -y redis-server` (Debian/Ubuntu; it brings redis-cli)";

/// A private redis-server process with append-only persistence (fsync on every write).
struct Server {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        Server::start_at(free_port(), extra)
    }

    fn start_at(port: u16, extra: &[&str]) -> Server {
        init_log();
        let mut s = Server {
            child: None,
            port,
            dir: tempfile::tempdir().expect("temp dir"),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let dir = self.dir.path();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--protected-mode", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!("redis-server not found on PATH. {INSTALL}")
            }
            Err(e) => panic!("cannot start redis-server: {e}. {INSTALL}"),
        };
        self.child = Some(child);
        // Ready once it answers anything (PING may get NOAUTH with a password).
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("redis-server exited ({status}): {}", self.log());
                }
            }
            if let Ok(mut c) = raw_conn(self.port, Duration::from_millis(200)) {
                if command(&mut c, &[b"PING"]).is_ok() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer: {}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no shutdown save, the append-only file is what survives.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// `redis-cli --raw` output, trimmed.
    fn cli(&self, db: u32, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-n", &db.to_string(), "--raw"])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli: {e}. {INSTALL}"));
        assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }

    fn cli_int(&self, db: u32, args: &[&str]) -> i64 {
        let s = self.cli(db, args);
        s.parse()
            .unwrap_or_else(|_| panic!("redis-cli {args:?}: not an integer: {s:?}"))
    }

    fn conn(&self, db: u32) -> redis::Connection {
        let mut c = raw_conn(self.port, Duration::from_secs(2)).expect("connect to the test redis");
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        if db != 0 {
            assert_eq!(
                command(&mut c, &[b"SELECT", db.to_string().as_bytes()]).unwrap(),
                Value::Okay
            );
        }
        c
    }

    fn lrange(&self, db: u32, key: &str) -> Vec<String> {
        match command(
            &mut self.conn(db),
            &[b"LRANGE", key.as_bytes(), b"0", b"-1"],
        )
        .unwrap()
        {
            Value::Array(items) => items.into_iter().map(bulk_string).collect(),
            other => panic!("LRANGE {key}: {other:?}"),
        }
    }

    fn config(&self) -> RedisConfig {
        RedisConfig {
            port: self.port,
            ..RedisConfig::default()
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sink logs go to the test's captured output (shown on failure; `RUST_LOG=info` for more).
fn init_log() {
    let _ = env_logger::builder().is_test(true).try_init();
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

fn bulk_string(r: Value) -> String {
    match r {
        Value::BulkString(b) => String::from_utf8(b).expect("utf-8"),
        other => panic!("expected a bulk string, got {other:?}"),
    }
}

/// A plain connection without `AUTH` (a server with a password answers `NOAUTH`).
fn raw_conn(port: u16, connect_timeout: Duration) -> redis::RedisResult<redis::Connection> {
    redis::Client::open(("127.0.0.1", port))?.get_connection_with_timeout(connect_timeout)
}

/// Sends one command and reads its reply, error replies included (as `Value::ServerError`).
fn command(c: &mut redis::Connection, args: &[&[u8]]) -> redis::RedisResult<Value> {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for a in &args[1..] {
        cmd.arg(*a);
    }
    c.send_packed_command(&cmd.get_packed_command())?;
    c.recv_response()
}

fn is_error(v: &Value) -> bool {
    matches!(v, Value::ServerError(_))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn json(symbol: &str, seq: usize) -> String {
    format!(
        r#"{{"signal_id":"00000000-0000-4000-8000-{seq:012}","timestamp":"2026-11-24T04:00:00+00:00","symbol":"{symbol}","base_symbol":"{}","action":"LONG","score":7.5,"ttl":600,"seq":{seq}}}"#,
        symbol.trim_end_matches("USDT")
    )
}

fn signal(symbol: &str, seq: usize) -> OutSignal {
    OutSignal {
        symbol: symbol.into(),
        json: json(symbol, seq),
        created_unix_ms: now_ms(),
        ttl_s: 600,
    }
}

/// Polls until `cond` holds; panics with the last stats after a generous deadline.
fn wait_for(sink: &RedisSink, what: &str, cond: impl Fn(&RedisStats) -> bool) {
    init_log();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = sink.stats();
        if cond(&s) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sink_connection_reads_real_replies_including_errors() {
    // The connection the sink opens (RedisConfig::connect), used the way the sink uses it: one
    // write, then one reply at a time, error replies as values on a connection still usable.
    let srv = Server::start(&[]);
    let mut c = srv.config().connect().unwrap();
    assert_eq!(command(&mut c, &[b"GET", b"nope"]).unwrap(), Value::Nil);
    assert_eq!(
        command(&mut c, &[b"SET", b"k", b"a\r\nb"]).unwrap(),
        Value::Okay
    );
    assert_eq!(
        command(&mut c, &[b"GET", b"k"]).unwrap(),
        Value::BulkString(b"a\r\nb".to_vec())
    );
    assert_eq!(command(&mut c, &[b"INCR", b"n"]).unwrap(), Value::Int(1));
    let e = command(&mut c, &[b"NOSUCHCOMMAND", b"x"]).unwrap();
    assert!(
        matches!(&e, Value::ServerError(se) if se.code() == "ERR"),
        "{e:?}"
    );
    let e = command(&mut c, &[b"INCR", b"k"]).unwrap();
    assert!(is_error(&e), "{e:?}");
    // The connection is still usable after error replies.
    assert_eq!(
        command(&mut c, &[b"PING"]).unwrap(),
        Value::SimpleString("PONG".into())
    );
    assert_eq!(
        command(&mut c, &[b"LRANGE", b"empty", b"0", b"-1"]).unwrap(),
        Value::Array(vec![])
    );
}

#[test]
fn signal_layout_keys_ttls_channel_and_counter() {
    let srv = Server::start(&[]);
    let mut sub = srv.conn(0);
    let subscribe = redis::cmd("SUBSCRIBE")
        .arg("squeezeflow:signals")
        .arg("squeezeflow:alerts")
        .get_packed_command();
    sub.send_packed_command(&subscribe).unwrap();
    for ch in ["squeezeflow:signals", "squeezeflow:alerts"] {
        assert_eq!(
            sub.recv_response().unwrap(),
            Value::Array(vec![
                Value::BulkString(b"subscribe".to_vec()),
                Value::BulkString(ch.as_bytes().to_vec()),
                Value::Int(if ch.ends_with("signals") { 1 } else { 2 }),
            ])
        );
    }

    let sink = RedisSink::start(srv.config()).unwrap();
    let sig = signal("BTCUSDT", 1);
    sink.submit(sig.clone()).unwrap();
    let alert = r#"{"alert":"feed_down","venue":"binance"}"#.to_string();
    sink.publish_alert(alert.clone()).unwrap();
    wait_for(&sink, "one signal and one alert", |s| {
        s.published == 1 && s.alerts_published == 1
    });

    let message = |channel: &str, body: &str| {
        Value::Array(vec![
            Value::BulkString(b"message".to_vec()),
            Value::BulkString(channel.as_bytes().to_vec()),
            Value::BulkString(body.as_bytes().to_vec()),
        ])
    };
    assert_eq!(
        sub.recv_response().unwrap(),
        message("squeezeflow:signals", &sig.json)
    );
    assert_eq!(
        sub.recv_response().unwrap(),
        message("squeezeflow:alerts", &alert)
    );

    // Exactly these keys, checked with redis-cli.
    let mut keys: Vec<String> = srv
        .cli(0, &["KEYS", "squeezeflow:*"])
        .lines()
        .map(str::to_string)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "squeezeflow:history:BTCUSDT",
            "squeezeflow:signal:BTCUSDT",
            "squeezeflow:stats:signals_published"
        ]
    );
    assert_eq!(srv.cli(0, &["GET", "squeezeflow:signal:BTCUSDT"]), sig.json);
    let ttl = srv.cli_int(0, &["TTL", "squeezeflow:signal:BTCUSDT"]);
    assert!((500..=600).contains(&ttl), "signal TTL {ttl}");
    assert_eq!(srv.cli(0, &["TYPE", "squeezeflow:history:BTCUSDT"]), "list");
    assert_eq!(
        srv.cli(0, &["LRANGE", "squeezeflow:history:BTCUSDT", "0", "-1"]),
        sig.json
    );
    let ttl = srv.cli_int(0, &["TTL", "squeezeflow:history:BTCUSDT"]);
    assert!((86_000..=86_400).contains(&ttl), "history TTL {ttl}");
    assert_eq!(
        srv.cli_int(0, &["GET", "squeezeflow:stats:signals_published"]),
        1
    );
    let ttl = srv.cli_int(0, &["TTL", "squeezeflow:stats:signals_published"]);
    assert!((86_000..=86_400).contains(&ttl), "counter TTL {ttl}");

    let report = sink.shutdown(Duration::from_secs(5));
    assert_eq!(report.remaining, 0);
    assert_eq!(report.stats.errors, 0);
    assert_eq!(report.stats.backlog, 0);
}

#[test]
fn history_is_trimmed_to_100_and_counter_counts_every_signal() {
    let srv = Server::start(&[]);
    let sink = RedisSink::start(srv.config()).unwrap();
    for i in 0..105 {
        sink.submit(signal("ETHUSDT", i)).unwrap();
    }
    wait_for(&sink, "105 signals", |s| s.published == 105);
    let hist = srv.lrange(0, "squeezeflow:history:ETHUSDT");
    let want: Vec<String> = (5..105).rev().map(|i| json("ETHUSDT", i)).collect();
    assert_eq!(hist.len(), 100);
    assert_eq!(hist, want, "newest first, the 5 oldest trimmed");
    assert_eq!(
        srv.cli_int(0, &["LLEN", "squeezeflow:history:ETHUSDT"]),
        100
    );
    assert_eq!(
        srv.cli_int(0, &["GET", "squeezeflow:stats:signals_published"]),
        105
    );
    assert_eq!(
        srv.cli(0, &["GET", "squeezeflow:signal:ETHUSDT"]),
        json("ETHUSDT", 104)
    );
    assert_eq!(sink.shutdown(Duration::from_secs(5)).remaining, 0);
}

#[test]
fn writes_into_the_selected_database() {
    let srv = Server::start(&[]);
    let cfg = RedisConfig {
        db: 5,
        ..srv.config()
    };
    let sink = RedisSink::start(cfg).unwrap();
    sink.submit(signal("SOLUSDT", 1)).unwrap();
    wait_for(&sink, "one signal", |s| s.published == 1);
    assert_eq!(
        srv.cli(5, &["GET", "squeezeflow:signal:SOLUSDT"]),
        json("SOLUSDT", 1)
    );
    assert_eq!(srv.cli_int(5, &["DBSIZE"]), 3);
    assert_eq!(srv.cli_int(0, &["DBSIZE"]), 0);
    assert_eq!(sink.shutdown(Duration::from_secs(5)).remaining, 0);
}

#[test]
fn authenticates_and_reports_a_wrong_password() {
    let srv = Server::start(&["--requirepass", "s3cret"]);
    let good = RedisSink::start(RedisConfig {
        password: Some("s3cret".into()),
        ..srv.config()
    })
    .unwrap();
    good.submit(signal("BTCUSDT", 1)).unwrap();
    wait_for(&good, "one signal", |s| s.published == 1);
    assert_eq!(good.shutdown(Duration::from_secs(5)).remaining, 0);

    let bad = RedisSink::start(RedisConfig {
        password: Some("wrong".into()),
        ..srv.config()
    })
    .unwrap();
    bad.submit(signal("BTCUSDT", 2)).unwrap();
    wait_for(&bad, "a refused connection", |s| s.errors >= 2);
    assert!(bad.stats().auth_failures >= 2, "{:?}", bad.stats());
    let report = bad.shutdown(Duration::from_millis(300));
    assert!(!report.stats.connected);
    assert_eq!(report.stats.published, 0);
    assert_eq!(report.remaining, 1);

    // Without a password the server answers NOAUTH: also not a connection.
    let none = RedisSink::start(srv.config()).unwrap();
    none.submit(signal("BTCUSDT", 3)).unwrap();
    wait_for(&none, "a refused connection", |s| s.auth_failures >= 1);
    assert_eq!(none.shutdown(Duration::from_millis(300)).remaining, 1);

    let mut c = srv.conn(0);
    assert_eq!(command(&mut c, &[b"AUTH", b"s3cret"]).unwrap(), Value::Okay);
    assert_eq!(
        command(&mut c, &[b"LLEN", b"squeezeflow:history:BTCUSDT"]).unwrap(),
        Value::Int(1)
    );
}

#[test]
fn redis_killed_and_restarted_loses_nothing_and_keeps_order() {
    let mut srv = Server::start(&[]);
    let sink = RedisSink::start(srv.config()).unwrap();
    for i in 0..20 {
        sink.submit(signal("SOLUSDT", i)).unwrap();
    }
    wait_for(&sink, "20 signals before the kill", |s| {
        s.published == 20 && s.connected
    });

    srv.kill();
    for i in 20..50 {
        sink.submit(signal("SOLUSDT", i)).unwrap();
    }
    wait_for(&sink, "the sink to notice the dead server", |s| {
        !s.connected
    });
    let during = sink.stats();
    assert!(during.published <= 20, "{during:?}");

    srv.spawn();
    wait_for(&sink, "all 50 signals after the restart", |s| {
        s.published == 50 && s.backlog == 0
    });
    let stats = sink.stats();
    assert!(stats.reconnects >= 1, "{stats:?}");
    assert_eq!(stats.expired + stats.dropped_overflow, 0, "{stats:?}");

    // Every signal exactly once, newest first: none lost, none duplicated, in order.
    let want: Vec<String> = (0..50).rev().map(|i| json("SOLUSDT", i)).collect();
    assert_eq!(srv.lrange(0, "squeezeflow:history:SOLUSDT"), want);
    assert_eq!(
        srv.cli_int(0, &["GET", "squeezeflow:stats:signals_published"]),
        50
    );
    assert_eq!(
        srv.cli(0, &["GET", "squeezeflow:signal:SOLUSDT"]),
        json("SOLUSDT", 49)
    );
    assert_eq!(sink.shutdown(Duration::from_secs(5)).remaining, 0);
}

#[test]
fn a_server_down_at_start_gets_the_backlog_in_order_when_it_comes_up() {
    let port = free_port();
    let sink = RedisSink::start(RedisConfig {
        port,
        ..RedisConfig::default()
    })
    .unwrap();
    for i in 0..10 {
        sink.submit(signal("XRPUSDT", i)).unwrap();
    }
    wait_for(&sink, "failed connects", |s| s.errors >= 1);
    assert_eq!(sink.stats().backlog, 10);
    let srv = Server::start_at(port, &[]);
    wait_for(&sink, "the backlog", |s| s.published == 10);
    let want: Vec<String> = (0..10).rev().map(|i| json("XRPUSDT", i)).collect();
    assert_eq!(srv.lrange(0, "squeezeflow:history:XRPUSDT"), want);
    let stats = sink.shutdown(Duration::from_secs(5)).stats;
    // The first connection is not a reconnect.
    assert_eq!(stats.reconnects, 0, "{stats:?}");
}

#[test]
fn expired_signals_are_counted_not_published() {
    let port = free_port();
    let sink = RedisSink::start(RedisConfig {
        port,
        ..RedisConfig::default()
    })
    .unwrap();
    // Created 5 s ago with a 1 s TTL: stale whenever its turn comes.
    let stale = |seq| OutSignal {
        ttl_s: 1,
        created_unix_ms: now_ms() - 5_000,
        ..signal("ADAUSDT", seq)
    };
    sink.submit(stale(0)).unwrap();
    sink.submit(signal("ADAUSDT", 1)).unwrap();
    sink.submit(stale(2)).unwrap();
    sink.submit(stale(3)).unwrap();
    sink.submit(signal("ADAUSDT", 4)).unwrap();
    let srv = Server::start_at(port, &[]);
    wait_for(&sink, "2 published, 3 expired", |s| {
        s.published == 2 && s.expired == 3 && s.backlog == 0
    });
    assert_eq!(
        srv.lrange(0, "squeezeflow:history:ADAUSDT"),
        [json("ADAUSDT", 4), json("ADAUSDT", 1)]
    );
    assert_eq!(
        srv.cli_int(0, &["GET", "squeezeflow:stats:signals_published"]),
        2
    );

    // A signal 590 s into its 600 s validity gets a key that lives only what remains.
    let late = OutSignal {
        created_unix_ms: now_ms() - 590_000,
        ..signal("DOTUSDT", 5)
    };
    sink.submit(late).unwrap();
    wait_for(&sink, "the late signal", |s| s.published == 3);
    let ttl = srv.cli_int(0, &["TTL", "squeezeflow:signal:DOTUSDT"]);
    assert!((1..=10).contains(&ttl), "remaining TTL {ttl}");
    assert_eq!(sink.shutdown(Duration::from_secs(5)).remaining, 0);
}

#[test]
fn a_full_backlog_drops_the_oldest_and_counts_them() {
    let port = free_port();
    let sink = RedisSink::start(RedisConfig {
        port,
        backlog_max: 5,
        ..RedisConfig::default()
    })
    .unwrap();
    for i in 0..8 {
        sink.submit(signal("BNBUSDT", i)).unwrap();
    }
    wait_for(&sink, "3 dropped", |s| {
        s.dropped_overflow == 3 && s.backlog == 5
    });
    let srv = Server::start_at(port, &[]);
    wait_for(&sink, "the 5 newest", |s| {
        s.published == 5 && s.backlog == 0
    });
    let want: Vec<String> = (3..8).rev().map(|i| json("BNBUSDT", i)).collect();
    assert_eq!(srv.lrange(0, "squeezeflow:history:BNBUSDT"), want);
    assert_eq!(
        sink.shutdown(Duration::from_secs(5)).stats.dropped_overflow,
        3
    );
}

#[test]
fn shutdown_reports_what_could_not_be_published() {
    let sink = RedisSink::start(RedisConfig {
        port: free_port(),
        ..RedisConfig::default()
    })
    .unwrap();
    for i in 0..3 {
        sink.submit(signal("LTCUSDT", i)).unwrap();
    }
    let report = sink.shutdown(Duration::from_millis(200));
    assert_eq!(report.remaining, 3);
    assert_eq!(report.stats.published, 0);
    assert!(!report.stats.connected);
}

#[test]
fn submit_rejects_what_cannot_be_keyed() {
    let sink = RedisSink::start(RedisConfig {
        port: free_port(),
        ..RedisConfig::default()
    })
    .unwrap();
    let bad = OutSignal {
        symbol: "btc usdt".into(),
        ..signal("BTCUSDT", 0)
    };
    assert_eq!(
        sink.submit(bad),
        Err(SubmitError::BadSymbol("btc usdt".into()))
    );
    let empty = OutSignal {
        json: String::new(),
        ..signal("BTCUSDT", 0)
    };
    assert_eq!(sink.submit(empty), Err(SubmitError::EmptyJson));
    assert_eq!(sink.stats().backlog, 0);
    assert_eq!(sink.shutdown(Duration::from_millis(10)).remaining, 0);
}

#[test]
fn invalid_config_is_refused() {
    let e = RedisSink::start(RedisConfig {
        history_len: 0,
        ..RedisConfig::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("history_len"), "{e}");
}

/// A TCP proxy in front of the real server that can cut a client's connection right after
/// it has sent a `MULTI … EXEC` transaction, either once the server has applied it (the reply
/// is swallowed) or without passing the transaction on at all.
struct CuttingProxy {
    port: u16,
    mode: Arc<AtomicU8>,
}

const PASS: u8 = 0;
const CUT_AFTER_APPLY: u8 = 1;
const CUT_BEFORE_EXEC: u8 = 2;

impl CuttingProxy {
    fn start(upstream: u16, applied: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(PASS));
        let m = mode.clone();
        let applied = Arc::new(applied);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let (mut c_rd, mut s_wr) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (mut s_rd, mut c_wr) = (server, client);
                let cut = c_wr.try_clone().unwrap();
                let (m1, m2, applied) = (m.clone(), m.clone(), applied.clone());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 64 * 1024];
                    let mut seen = Vec::new();
                    while let Ok(n) = c_rd.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        let exec = seen.windows(6).any(|w| w == b"EXEC\r\n");
                        match m1.load(SeqCst) {
                            CUT_BEFORE_EXEC if exec => {
                                m1.store(PASS, SeqCst);
                                let _ = cut.shutdown(Shutdown::Both);
                                let _ = s_wr.shutdown(Shutdown::Both);
                                return;
                            }
                            CUT_AFTER_APPLY if exec => {
                                if s_wr.write_all(&buf[..n]).is_err() {
                                    return;
                                }
                                let deadline = Instant::now() + Duration::from_secs(20);
                                while !applied() && Instant::now() < deadline {
                                    std::thread::sleep(Duration::from_millis(5));
                                }
                                m1.store(PASS, SeqCst);
                                let _ = cut.shutdown(Shutdown::Both);
                                return;
                            }
                            _ => {}
                        }
                        if exec {
                            seen.clear();
                        } else if seen.len() > 8 {
                            seen.drain(..seen.len() - 8);
                        }
                        if s_wr.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
                std::thread::spawn(move || {
                    let mut buf = [0u8; 64 * 1024];
                    while let Ok(n) = s_rd.read(&mut buf) {
                        // While a cut is armed, replies are swallowed.
                        if n == 0 || (m2.load(SeqCst) == PASS && c_wr.write_all(&buf[..n]).is_err())
                        {
                            break;
                        }
                    }
                });
            }
        });
        CuttingProxy { port, mode }
    }
}

fn exactly_once_through_a_cut(mode: u8) {
    let srv = Server::start(&[]);
    let port = srv.port;
    let applied = move || {
        Command::new("redis-cli")
            .args([
                "-p",
                &port.to_string(),
                "--raw",
                "EXISTS",
                "squeezeflow:signal:BTCUSDT",
            ])
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"1"))
    };
    let proxy = CuttingProxy::start(srv.port, applied);
    let sink = RedisSink::start(RedisConfig {
        port: proxy.port,
        ..RedisConfig::default()
    })
    .unwrap();
    sink.submit(signal("ETHUSDT", 0)).unwrap();
    wait_for(&sink, "the first signal", |s| s.published == 1);
    proxy.mode.store(mode, SeqCst);
    sink.submit(signal("BTCUSDT", 1)).unwrap();
    wait_for(&sink, "the cut signal", |s| s.published == 2);
    let stats = sink.shutdown(Duration::from_secs(5)).stats;
    assert_eq!(proxy.mode.load(SeqCst), PASS, "the cut did not happen");
    assert!(stats.reconnects >= 1 && stats.errors >= 1, "{stats:?}");
    assert_eq!(
        srv.lrange(0, "squeezeflow:history:BTCUSDT"),
        [json("BTCUSDT", 1)],
        "exactly once"
    );
    assert_eq!(
        srv.cli_int(0, &["GET", "squeezeflow:stats:signals_published"]),
        2
    );
}

#[test]
fn a_transaction_applied_but_unanswered_is_not_sent_again() {
    exactly_once_through_a_cut(CUT_AFTER_APPLY);
}

#[test]
fn a_transaction_cut_before_exec_is_sent_again() {
    exactly_once_through_a_cut(CUT_BEFORE_EXEC);
}

#[test]
fn a_refused_transaction_is_retried_until_the_server_accepts_it() {
    // maxmemory 1 byte with noeviction: every write is refused with -OOM while queueing, so
    // EXEC aborts and nothing of the transaction is applied.
    let srv = Server::start(&["--maxmemory", "1", "--maxmemory-policy", "noeviction"]);
    let sink = RedisSink::start(srv.config()).unwrap();
    sink.submit(signal("BTCUSDT", 7)).unwrap();
    wait_for(&sink, "refusals", |s| s.errors >= 2);
    assert_eq!(sink.stats().published, 0);
    assert_eq!(
        srv.cli_int(0, &["DBSIZE"]),
        0,
        "an aborted transaction applied something"
    );
    assert_eq!(srv.cli(0, &["CONFIG", "SET", "maxmemory", "0"]), "OK");
    wait_for(&sink, "the signal", |s| s.published == 1 && s.backlog == 0);
    assert_eq!(
        srv.lrange(0, "squeezeflow:history:BTCUSDT"),
        [json("BTCUSDT", 7)]
    );
    assert_eq!(
        srv.cli_int(0, &["GET", "squeezeflow:stats:signals_published"]),
        1
    );
    assert_eq!(sink.shutdown(Duration::from_secs(5)).remaining, 0);
}

#[test]
fn a_command_failing_inside_exec_is_counted_and_not_repeated() {
    let srv = Server::start(&[]);
    // Someone else's string where the history list belongs: LPUSH and LTRIM fail with
    // WRONGTYPE inside EXEC, the other commands are applied (Redis has no rollback).
    assert_eq!(
        srv.cli(0, &["SET", "squeezeflow:history:DOGEUSDT", "not a list"]),
        "OK"
    );
    let sink = RedisSink::start(srv.config()).unwrap();
    sink.submit(signal("DOGEUSDT", 1)).unwrap();
    sink.submit(signal("DOGEUSDT", 2)).unwrap();
    wait_for(&sink, "both signals", |s| {
        s.published == 2 && s.backlog == 0
    });
    let stats = sink.shutdown(Duration::from_secs(5)).stats;
    assert_eq!(stats.errors, 4, "LPUSH and LTRIM of each signal: {stats:?}");
    assert_eq!(
        srv.cli_int(0, &["GET", "squeezeflow:stats:signals_published"]),
        2,
        "sent once each"
    );
    assert_eq!(
        srv.cli(0, &["GET", "squeezeflow:signal:DOGEUSDT"]),
        json("DOGEUSDT", 2)
    );
}

/// An ACL user allowed exactly what the sink sends, on its own keys and channels (the rules
/// the README gives operators), with password `pw`.
fn acl_user(pw: &str) -> Vec<String> {
    [
        "--user",
        "squeezeflow",
        "on",
        &format!(">{pw}"),
        "~squeezeflow:*",
        "&squeezeflow:*",
        "-@all",
        "+@connection",
        "+@transaction",
        "+setex",
        "+publish",
        "+lpush",
        "+ltrim",
        "+expire",
        "+incr",
        "+lpos",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn start_with(extra: &[String]) -> Server {
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    Server::start(&extra)
}

#[test]
fn an_acl_user_with_password_publishes_signals_and_alerts() {
    let srv = start_with(&acl_user("s3cret-acl"));
    let sink = RedisSink::start(RedisConfig {
        username: Some("squeezeflow".into()),
        password: Some("s3cret-acl".into()),
        db: 2,
        ..srv.config()
    })
    .unwrap();
    sink.submit(signal("BTCUSDT", 1)).unwrap();
    sink.publish_alert(r#"{"alert":"feed_down"}"#.into())
        .unwrap();
    wait_for(&sink, "a signal and an alert as the ACL user", |s| {
        s.published == 1 && s.alerts_published == 1
    });
    let report = sink.shutdown(Duration::from_secs(5));
    assert_eq!(report.remaining, 0);
    assert_eq!(
        (report.stats.errors, report.stats.auth_failures),
        (0, 0),
        "{report:?}"
    );
    // The transaction ran whole as that user: all three keys, in db 2.
    assert_eq!(
        srv.cli(2, &["GET", "squeezeflow:signal:BTCUSDT"]),
        json("BTCUSDT", 1)
    );
    assert_eq!(
        srv.lrange(2, "squeezeflow:history:BTCUSDT"),
        [json("BTCUSDT", 1)]
    );
    assert_eq!(
        srv.cli_int(2, &["GET", "squeezeflow:stats:signals_published"]),
        1
    );
    let denials = srv.cli(0, &["ACL", "LOG"]);
    assert!(!denials.contains("squeezeflow"), "ACL denials: {denials}");
}

#[test]
fn a_wrong_acl_password_is_counted_keeps_the_backlog_and_delivers_once_the_server_accepts_it() {
    let srv = start_with(&acl_user("the-servers-password"));
    let sink = RedisSink::start(RedisConfig {
        username: Some("squeezeflow".into()),
        password: Some("the-sinks-password".into()),
        ..srv.config()
    })
    .unwrap();
    for i in 0..3 {
        sink.submit(signal("ETHUSDT", i)).unwrap();
    }
    wait_for(&sink, "refused logins", |s| s.auth_failures >= 2);
    let s = sink.stats();
    assert!(!s.connected, "{s:?}");
    assert_eq!((s.published, s.backlog), (0, 3), "kept, not lost: {s:?}");
    assert!(s.errors >= s.auth_failures, "{s:?}");
    assert_eq!(srv.cli_int(0, &["DBSIZE"]), 0);

    // The operator fixes the user's password on the server: the waiting signals go out, in
    // order, once each.
    assert_eq!(
        srv.cli(
            0,
            &[
                "ACL",
                "SETUSER",
                "squeezeflow",
                "resetpass",
                ">the-sinks-password"
            ]
        ),
        "OK"
    );
    wait_for(&sink, "the backlog after the fix", |s| {
        s.published == 3 && s.backlog == 0 && s.connected
    });
    let want: Vec<String> = (0..3).rev().map(|i| json("ETHUSDT", i)).collect();
    assert_eq!(srv.lrange(0, "squeezeflow:history:ETHUSDT"), want);
    assert_eq!(
        srv.cli_int(0, &["GET", "squeezeflow:stats:signals_published"]),
        3
    );
    let stats = sink.shutdown(Duration::from_secs(5)).stats;
    assert_eq!(
        stats.reconnects, 0,
        "the first login is not a reconnect: {stats:?}"
    );
}

#[test]
fn an_acl_user_without_a_permission_gets_refusals_nothing_half_applied() {
    // No +lpush: the server refuses LPUSH while queueing (NOPERM), EXEC aborts the whole
    // transaction. Retried with backoff until the permission is granted.
    let mut rules = acl_user("pw");
    rules.retain(|r| r != "+lpush");
    let srv = start_with(&rules);
    let sink = RedisSink::start(RedisConfig {
        username: Some("squeezeflow".into()),
        password: Some("pw".into()),
        ..srv.config()
    })
    .unwrap();
    sink.submit(signal("SOLUSDT", 1)).unwrap();
    wait_for(&sink, "refused transactions", |s| s.errors >= 2);
    let s = sink.stats();
    assert_eq!(
        (s.published, s.backlog, s.auth_failures),
        (0, 1, 0),
        "{s:?}"
    );
    assert_eq!(
        srv.cli_int(0, &["DBSIZE"]),
        0,
        "an aborted transaction applied something"
    );
    assert_eq!(
        srv.cli(0, &["ACL", "SETUSER", "squeezeflow", "+lpush"]),
        "OK"
    );
    wait_for(&sink, "the signal", |s| s.published == 1 && s.backlog == 0);
    assert_eq!(
        srv.lrange(0, "squeezeflow:history:SOLUSDT"),
        [json("SOLUSDT", 1)]
    );
    assert_eq!(sink.shutdown(Duration::from_secs(5)).remaining, 0);
}

/// A test CA and a server certificate it signed for `127.0.0.1` and `localhost`, as PEM files
/// in `dir`: (ca, cert, key).
fn tls_files(dir: &std::path::Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "squeezeflow test CA");
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "redis test server");
    let leaf = leaf.signed_by(&key, &ca, &ca_key).unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, leaf.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

#[test]
fn rediss_with_the_given_ca_publishes_and_an_untrusted_server_is_refused() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = tls_files(certs.path());
    let tls_port = free_port();
    let path = |p: &PathBuf| p.to_str().unwrap().to_string();
    // Plain port for redis-cli and the checks, TLS port for the sink.
    let srv = start_with(&[
        "--tls-port".into(),
        tls_port.to_string(),
        "--tls-cert-file".into(),
        path(&cert),
        "--tls-key-file".into(),
        path(&key),
        "--tls-ca-cert-file".into(),
        path(&ca),
        "--tls-auth-clients".into(),
        "no".into(),
        "--requirepass".into(),
        "over-tls".into(),
    ]);

    let mut cfg = RedisConfig {
        ca_file: Some(ca.clone()),
        ..RedisConfig::default()
    };
    cfg.apply_url(&format!("rediss://:over-tls@127.0.0.1:{tls_port}/3"))
        .unwrap();
    assert!(cfg.tls);
    let sink = RedisSink::start(cfg.clone()).unwrap();
    sink.submit(signal("BTCUSDT", 1)).unwrap();
    wait_for(&sink, "a signal over TLS", |s| s.published == 1);
    let report = sink.shutdown(Duration::from_secs(5));
    assert_eq!(
        (report.remaining, report.stats.errors),
        (0, 0),
        "{report:?}"
    );
    let mut c = srv.conn(0);
    assert_eq!(
        command(&mut c, &[b"AUTH", b"over-tls"]).unwrap(),
        Value::Okay
    );
    assert_eq!(command(&mut c, &[b"SELECT", b"3"]).unwrap(), Value::Okay);
    assert_eq!(
        command(&mut c, &[b"GET", b"squeezeflow:signal:BTCUSDT"]).unwrap(),
        Value::BulkString(json("BTCUSDT", 1).into_bytes())
    );

    // Without the CA the certificate chains to nothing the client trusts (webpki roots only):
    // no connection, counted, the signal kept.
    let untrusted = RedisSink::start(RedisConfig {
        ca_file: None,
        ..cfg.clone()
    })
    .unwrap();
    untrusted.submit(signal("BTCUSDT", 2)).unwrap();
    wait_for(&untrusted, "refused handshakes", |s| s.errors >= 2);
    let report = untrusted.shutdown(Duration::from_millis(300));
    assert_eq!(report.remaining, 1, "{report:?}");
    assert_eq!((report.stats.published, report.stats.auth_failures), (0, 0));
    assert!(!report.stats.connected);

    // Plain RESP to the TLS port is no connection either.
    let plain = RedisSink::start(RedisConfig {
        tls: false,
        ca_file: None,
        ..cfg
    })
    .unwrap();
    plain.submit(signal("BTCUSDT", 3)).unwrap();
    wait_for(&plain, "failed plain connects", |s| s.errors >= 1);
    assert_eq!(plain.shutdown(Duration::from_millis(300)).remaining, 1);
    assert_eq!(
        command(&mut c, &[b"LLEN", b"squeezeflow:history:BTCUSDT"]).unwrap(),
        Value::Int(1)
    );
}

#[test]
fn a_server_that_accepts_and_never_answers_is_bounded_by_the_timeouts() {
    // A hung Redis: the TCP handshake completes (the kernel's backlog) but nothing is ever
    // read or written. Each attempt must end within the configured timeouts, counted, and the
    // signal must stay in the backlog.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().take(64) {
            held.push(s);
        }
    });
    let sink = RedisSink::start(RedisConfig {
        port,
        connect_timeout_ms: 100,
        io_timeout_ms: 100,
        ..RedisConfig::default()
    })
    .unwrap();
    sink.submit(signal("BTCUSDT", 1)).unwrap();
    wait_for(&sink, "attempts that time out", |s| s.errors >= 3);
    let report = sink.shutdown(Duration::from_millis(300));
    assert!(!report.stats.connected, "{report:?}");
    assert_eq!(
        (
            report.remaining,
            report.stats.published,
            report.stats.auth_failures
        ),
        (1, 0, 0)
    );
}
