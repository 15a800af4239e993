//! The Redis sink against a real `redis-server` (started per test on a free port, in a temp dir,
//! killed at the end — also on panic). Keys are checked with `redis-cli` as well as with the
//! sink's own RESP client, so a shared misunderstanding of the protocol cannot hide.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use engine::sink::redis::{
    OutSignal, RedisConfig, RedisSink, RedisStats, Reply, RespConn, SubmitError,
};

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
            if let Ok(mut c) = RespConn::connect(
                "127.0.0.1",
                self.port,
                Duration::from_millis(200),
                Duration::from_secs(2),
            ) {
                if c.command(&[b"PING"]).is_ok() {
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

    fn conn(&self, db: u32) -> RespConn {
        let mut c = RespConn::connect(
            "127.0.0.1",
            self.port,
            Duration::from_secs(2),
            Duration::from_secs(10),
        )
        .expect("connect to the test redis");
        if db != 0 {
            assert_eq!(
                c.command(&[b"SELECT", db.to_string().as_bytes()]).unwrap(),
                Reply::Simple("OK".into())
            );
        }
        c
    }

    fn lrange(&self, db: u32, key: &str) -> Vec<String> {
        match self
            .conn(db)
            .command(&[b"LRANGE", key.as_bytes(), b"0", b"-1"])
            .unwrap()
        {
            Reply::Array(Some(items)) => items.into_iter().map(bulk_string).collect(),
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

fn bulk_string(r: Reply) -> String {
    match r {
        Reply::Bulk(Some(b)) => String::from_utf8(b).expect("utf-8"),
        other => panic!("expected a bulk string, got {other:?}"),
    }
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
fn resp_client_reads_real_replies_including_errors() {
    let srv = Server::start(&[]);
    let mut c = srv.conn(0);
    assert_eq!(c.command(&[b"GET", b"nope"]).unwrap(), Reply::Bulk(None));
    assert_eq!(
        c.command(&[b"SET", b"k", b"a\r\nb"]).unwrap(),
        Reply::Simple("OK".into())
    );
    assert_eq!(
        c.command(&[b"GET", b"k"]).unwrap(),
        Reply::Bulk(Some(b"a\r\nb".to_vec()))
    );
    assert_eq!(c.command(&[b"INCR", b"n"]).unwrap(), Reply::Integer(1));
    let e = c.command(&[b"NOSUCHCOMMAND", b"x"]).unwrap();
    assert!(e.as_error().is_some_and(|m| m.starts_with("ERR")), "{e:?}");
    let e = c.command(&[b"INCR", b"k"]).unwrap();
    assert!(e.as_error().is_some(), "{e:?}");
    // The connection is still usable after error replies.
    assert_eq!(c.command(&[b"PING"]).unwrap(), Reply::Simple("PONG".into()));
    assert_eq!(
        c.command(&[b"LRANGE", b"empty", b"0", b"-1"]).unwrap(),
        Reply::Array(Some(vec![]))
    );
}

#[test]
fn signal_layout_keys_ttls_channel_and_counter() {
    let srv = Server::start(&[]);
    let mut sub = srv.conn(0);
    sub.queue(&[b"SUBSCRIBE", b"squeezeflow:signals", b"squeezeflow:alerts"]);
    sub.flush().unwrap();
    for ch in ["squeezeflow:signals", "squeezeflow:alerts"] {
        assert_eq!(
            sub.read_reply().unwrap(),
            Reply::Array(Some(vec![
                Reply::Bulk(Some(b"subscribe".to_vec())),
                Reply::Bulk(Some(ch.as_bytes().to_vec())),
                Reply::Integer(if ch.ends_with("signals") { 1 } else { 2 }),
            ]))
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
        Reply::Array(Some(vec![
            Reply::Bulk(Some(b"message".to_vec())),
            Reply::Bulk(Some(channel.as_bytes().to_vec())),
            Reply::Bulk(Some(body.as_bytes().to_vec())),
        ]))
    };
    assert_eq!(
        sub.read_reply().unwrap(),
        message("squeezeflow:signals", &sig.json)
    );
    assert_eq!(
        sub.read_reply().unwrap(),
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
    let report = bad.shutdown(Duration::from_millis(300));
    assert!(!report.stats.connected);
    assert_eq!(report.stats.published, 0);
    assert_eq!(report.remaining, 1);

    // Without a password the server answers NOAUTH: also not a connection.
    let none = RedisSink::start(srv.config()).unwrap();
    none.submit(signal("BTCUSDT", 3)).unwrap();
    wait_for(&none, "a refused connection", |s| s.errors >= 1);
    assert_eq!(none.shutdown(Duration::from_millis(300)).remaining, 1);

    let mut c = srv.conn(0);
    assert_eq!(
        c.command(&[b"AUTH", b"s3cret"]).unwrap(),
        Reply::Simple("OK".into())
    );
    assert_eq!(
        c.command(&[b"LLEN", b"squeezeflow:history:BTCUSDT"])
            .unwrap(),
        Reply::Integer(1)
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
