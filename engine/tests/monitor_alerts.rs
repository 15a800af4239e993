//! Alerts from the monitor's publisher reach a real `redis-server` on `squeezeflow:alerts`
//! (the server is started on a free loopback port in a temp dir and killed at the end), and the
//! stats file it writes reads back with the state and markets it was given.

use engine::market::MarketTable;
use engine::monitor::{read_snapshot, stats_path, EngineState, MonitorConfig, Publisher, Sources};
use engine::sink::redis::RedisConfig;
use engine::stats::{FeedStats, ShardStats};
use feeds::{Symbol, Venue};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis(dir: &std::path::Path) -> (Server, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is required: sudo apt-get install -y redis-server");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    let probe = RedisConfig {
        port,
        connect_timeout_ms: 200,
        io_timeout_ms: 1_000,
        ..RedisConfig::default()
    };
    while probe.connect().is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, port)
}

#[test]
fn stale_data_is_published_to_the_alerts_channel_and_resolved_state_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = start_redis(dir.path());
    let mut sub = RedisConfig {
        port,
        io_timeout_ms: 20_000,
        ..RedisConfig::default()
    }
    .connect()
    .unwrap();
    sub.send_packed_command(
        &redis::cmd("SUBSCRIBE")
            .arg("squeezeflow:alerts")
            .get_packed_command(),
    )
    .unwrap();
    assert!(matches!(
        sub.recv_response().unwrap(),
        redis::Value::Array(_)
    ));

    let mut table = MarketTable::new(1);
    table.add(Venue::BinanceUsdm, Symbol::new(b"BTCUSDT").unwrap());
    let mut cfg = MonitorConfig {
        http: false,
        ..MonitorConfig::default()
    };
    // No trade ever arrives: the data is stale once the engine has run this long.
    cfg.alerts.stale_s = 0.2;
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let redis = RedisConfig {
        port,
        ..RedisConfig::default()
    };
    let mut publisher = Publisher::start(
        &cfg,
        &data,
        &table,
        &[vec![Venue::BinanceUsdm]],
        // One feed thread behind one shard thread (the threads need not exist for this).
        engine::monitor::publish::engine_threads(&engine::runtime::CoreMap {
            feeds: vec![None],
            shards: vec![Some(1)],
            io: None,
        }),
        None,
        Some(redis),
    )
    .unwrap();
    let feed = [Arc::new(FeedStats::with_connections(1))];
    feed[0].conns[0].open.set(1);
    feed[0].shard_ring_depth.set(7);
    feed[0].shard_ring_capacity.set(4096);
    feed[0].ring_full.add(2);
    let shard = [Arc::new(ShardStats::default())];
    shard[0].out_ring_full.add(5);
    let src = Sources {
        feed_stats: &feed,
        shard_stats: &shard,
        out_rings: &[(3, 1024)],
        close_to_signal: None,
        redis: None,
    };
    std::thread::sleep(Duration::from_millis(300));
    publisher.publish(&src);

    let redis::Value::Array(parts) = sub.recv_response().unwrap() else {
        panic!("expected a pub/sub message");
    };
    assert_eq!(parts[0], redis::Value::BulkString(b"message".to_vec()));
    assert_eq!(
        parts[1],
        redis::Value::BulkString(b"squeezeflow:alerts".to_vec())
    );
    let redis::Value::BulkString(body) = &parts[2] else {
        panic!("no body: {parts:?}");
    };
    let alert: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(alert["alert"], "stale_data", "{alert}");
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["service"], "squeezeflow-engine");

    let snap = read_snapshot(&stats_path(&data)).unwrap().unwrap();
    assert_eq!(snap.state, EngineState::Running);
    assert_eq!(snap.markets[0].id, "BINANCE_FUTURES:btcusdt");
    assert_eq!(snap.venues[0].name, "binance-usdm");
    assert_eq!((snap.venues[0].connections, snap.venues[0].open), (1, 1));
    assert_eq!(snap.totals.alerts_raised, 1);
    assert_eq!(snap.totals.ring_full, 7);
    let t: Vec<_> = snap
        .threads
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.core,
                t.ring_depth,
                t.ring_capacity,
                t.ring_full,
            )
        })
        .collect();
    assert_eq!(
        t,
        [
            ("feed-0", -1, 7, 4096, 2),
            ("shard-0", 1, 3, 1024, 5),
            ("io", -1, 0, 0, 0)
        ]
    );

    publisher.finish(&src);
    let snap = read_snapshot(&stats_path(&data)).unwrap().unwrap();
    assert_eq!(snap.state, EngineState::Stopped);
}
