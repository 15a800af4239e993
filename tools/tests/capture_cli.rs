//! Capture end to end: the engine records every frame it receives from the simulator
//! (Binance spot and USDⓈ-M text frames, HTX gzip binary frames) while storing bars; then
//! `squeezeflow replay` of the capture into a fresh data dir gives the same bars, and
//! `squeezeflow sim --tape` of the capture, served to a fresh live engine over the real
//! protocols, gives the same bars again.

use engine::bar::Bar;
use engine::capture::{CaptureReader, RecordKind};
use engine::config::{Config, FeedConfig};
use engine::pipeline::{Plan, Running};
use engine::runtime::StopFlag;
use engine::store::{flags, Store};
use feeds::ws::WsConfig;
use feeds::Venue;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tools::sim::venues::{VenueSim, VenueSimConfig};
use tools::sim::{SimConfig, Simulator};

const BIN: &str = env!("CARGO_BIN_EXE_squeezeflow");

fn feeds(urls: &BTreeMap<Venue, String>) -> Vec<FeedConfig> {
    urls.iter()
        .map(|(venue, url)| FeedConfig {
            venue: venue.name().to_string(),
            url: Some(url.clone()),
            pairs: vec!["btcusdt".to_string(), "ethusdt".to_string()],
            ping_ms: None,
            rotate_after_s: None,
        })
        .collect()
}

/// Every stored bar of every market: (market, second) → (bar, closed).
fn all_bars(data: &Path) -> BTreeMap<(String, i64), (Bar, bool)> {
    let store = Store::new(data);
    let mut out = BTreeMap::new();
    for m in store.markets().unwrap() {
        for sb in store.range(&m, 0, i64::MAX).unwrap() {
            out.insert(
                (m.clone(), sb.time_ms / 1000),
                (sb.bar, sb.flags & flags::CLOSED != 0),
            );
        }
    }
    out
}

fn assert_same_bars(
    want: &BTreeMap<(String, i64), (Bar, bool)>,
    got: &BTreeMap<(String, i64), (Bar, bool)>,
    what: &str,
) {
    let wk: Vec<_> = want.keys().collect();
    let gk: Vec<_> = got.keys().collect();
    assert_eq!(wk, gk, "{what}: the same markets and seconds");
    for (k, (w, wc)) in want {
        let (g, gc) = &got[k];
        assert_eq!(w, g, "{what}: bar {k:?}");
        assert!(*wc && *gc, "{what}: bar {k:?} not closed");
    }
}

fn capture_frames(dir: &Path) -> (u64, u64, Vec<PathBuf>) {
    let files = engine::capture::capture_files(dir).unwrap();
    let (mut frames, mut binary) = (0, 0);
    for f in &files {
        let mut r = CaptureReader::new(BufReader::new(std::fs::File::open(f).unwrap())).unwrap();
        while let Some(rec) = r.next_record().unwrap() {
            match rec.kind {
                RecordKind::Open => {}
                RecordKind::Binary => {
                    frames += 1;
                    binary += 1;
                }
                RecordKind::Text => frames += 1,
            }
        }
    }
    (frames, binary, files)
}

#[test]
fn capture_replay_and_playback_give_the_same_bars() {
    let dir = tempfile::tempdir().unwrap();
    // 1. Live run with capture on.
    let sim = Simulator::start(SimConfig {
        symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
        trades_per_sec: 150.0,
        burst_prob: 0.2,
        seed: 5,
        spot_ping: Duration::from_millis(300),
        futures_ping: Duration::from_millis(300),
        max_trades: Some(1500),
        ..SimConfig::default()
    })
    .unwrap();
    let vsim = VenueSim::start(VenueSimConfig {
        markets: vec![(
            Venue::Huobi,
            vec!["btcusdt".to_string(), "ethusdt".to_string()],
        )],
        trades_per_sec: 60.0,
        seed: 9,
        max_trades: Some(400),
        keepalive_scale: 0.05,
        ..VenueSimConfig::default()
    })
    .unwrap();
    let mut urls = BTreeMap::new();
    urls.insert(Venue::BinanceSpot, sim.spot_url());
    urls.insert(Venue::BinanceUsdm, sim.futures_url());
    urls.insert(Venue::Huobi, vsim.base_url(Venue::Huobi).unwrap());
    let live = dir.path().join("live");
    let mut cfg = Config {
        data_dir: live.clone(),
        feeds: feeds(&urls),
        ..Config::default()
    };
    cfg.strategy.enabled = false;
    cfg.capture.enabled = true;
    let mut running = Running::start(
        Plan::from_config(&cfg).unwrap(),
        WsConfig::default(),
        StopFlag::new(),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut last, mut since) = (u64::MAX, Instant::now());
    loop {
        running.io_step(&mut |_, _| {});
        let s = sim.stats();
        let b = s.spot.trades_generated + s.futures.trades_generated;
        let h: u64 = vsim.all_stats().iter().map(|v| v.trades_sent()).sum();
        if b + h != last {
            (last, since) = (b + h, Instant::now());
        }
        if b >= 1500 && h >= 400 && since.elapsed() >= Duration::from_millis(800) {
            break;
        }
        assert!(Instant::now() < deadline, "timed out: {b} + {h} trades");
        std::thread::sleep(Duration::from_millis(20));
    }
    let live_stats = running.feed_stats.clone();
    running.shutdown(&mut |_, _| {});
    sim.stop();
    vsim.stop();
    let received: u64 = live_stats.iter().map(|f| f.frames.get()).sum();
    let decode_errors: u64 = live_stats.iter().map(|f| f.decode_errors()).sum();
    assert_eq!(decode_errors, 0);
    let live_bars = all_bars(&live);
    assert!(live_bars.len() >= 10, "{} bars", live_bars.len());
    for venue in ["BINANCE:", "BINANCE_FUTURES:", "HUOBI:"] {
        assert!(
            live_bars.keys().any(|(m, _)| m.starts_with(venue)),
            "{venue} bars stored"
        );
    }
    let capture_dir = live.join("capture");
    let (frames, binary, files) = capture_frames(&capture_dir);
    assert_eq!(frames, received, "every received frame is in the capture");
    assert!(binary > 0, "HTX binary frames captured");
    assert!(!files.is_empty());
    eprintln!(
        "live: {} bars, {frames} frames captured ({binary} binary) in {} file(s)",
        live_bars.len(),
        files.len()
    );

    // 2. Replay of the capture into a fresh data dir.
    let replayed = dir.path().join("replayed");
    let conf = dir.path().join("replay.toml");
    std::fs::write(&conf, "[strategy]\nenabled = false\n").unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&conf)
        .arg("--data")
        .arg(&replayed)
        .arg("replay")
        .arg(&capture_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "replay failed: {stderr}");
    assert!(
        stderr.contains(&format!("{frames} lines (0 bad), {frames} frames")),
        "{stderr}"
    );
    assert_same_bars(&live_bars, &all_bars(&replayed), "replay");

    // A tail cut short (kill -9 of the writer): everything before it replays, the tail is a
    // counted, named error.
    let cut = dir.path().join("cut.sfcap");
    let bytes = std::fs::read(&files[0]).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&conf)
        .arg("--data")
        .arg(dir.path().join("cut"))
        .arg("replay")
        .arg(&cut)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("truncated tail at byte"), "{stderr}");
    assert!(
        stderr.contains(&format!("{frames} lines (1 bad), {} frames", frames - 1)),
        "{stderr}"
    );

    // `replay --list` shows the records, binary ones too.
    let out = Command::new(BIN)
        .arg("replay")
        .arg("--list")
        .arg(&files[0])
        .output()
        .unwrap();
    assert!(out.status.success());
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains(" huobi conn ") && listing.contains(" binary "),
        "{listing:.2000}"
    );

    // 3. `sim --tape` serves the capture to a fresh live engine.
    let mut child = Command::new(BIN)
        .args(["sim", "--speed", "max", "--tape"])
        .arg(&capture_dir)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut served: BTreeMap<Venue, String> = BTreeMap::new();
    while served.len() < 3 {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            panic!("sim --tape ended before printing its URLs ({served:?})");
        };
        let mut words = line.split_whitespace();
        if let (Some(name), Some(url)) = (words.next(), words.next()) {
            if let (Some(v), true) = (Venue::from_name(name), url.starts_with("ws://")) {
                let base = url
                    .trim_start_matches("ws://")
                    .split('/')
                    .next()
                    .unwrap()
                    .to_string();
                served.insert(v, format!("ws://{base}"));
            }
        }
    }
    // Keep draining the child's stderr so it never blocks.
    let drain = std::thread::spawn(move || for _ in lines {});
    let again = dir.path().join("again");
    let mut cfg = Config {
        data_dir: again.clone(),
        feeds: feeds(&served),
        ..Config::default()
    };
    cfg.strategy.enabled = false;
    let mut running = Running::start(
        Plan::from_config(&cfg).unwrap(),
        WsConfig::default(),
        StopFlag::new(),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        running.io_step(&mut |_, _| {});
        let got: u64 = running.feed_stats.iter().map(|f| f.frames.get()).sum();
        if got >= frames {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("playback: {got} of {frames} frames received");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = running.feed_stats.clone();
    running.shutdown(&mut |_, _| {});
    let _ = child.kill();
    let _ = child.wait();
    let _ = drain.join();
    let got: u64 = stats.iter().map(|f| f.frames.get()).sum();
    assert_eq!(got, frames, "exactly the recorded frames, once");
    assert_eq!(stats.iter().map(|f| f.decode_errors()).sum::<u64>(), 0);
    assert_same_bars(&live_bars, &all_bars(&again), "sim --tape");
}

/// `sim --tape`'s server directly: the k-th connection of a venue gets the k-th recorded
/// connection's frames in order, binary as binary; other paths are refused; pings answered.
#[test]
fn playback_serves_the_kth_recorded_connection() {
    use engine::capture::{venue_id, write_record, CaptureHeader};
    use tools::sim::playback::{Playback, Recording};
    use tungstenite::Message;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.sfcap");
    let mut b = CaptureHeader::new(0, 1, 1).encode();
    let h = venue_id(Venue::Huobi);
    let s = venue_id(Venue::BinanceSpot);
    let rec = |b: &mut Vec<u8>, t: u64, v: u16, conn: u64, kind: RecordKind, p: &[u8]| {
        write_record(b, t, t, v, conn, kind, p).unwrap()
    };
    rec(
        &mut b,
        10,
        h,
        1,
        RecordKind::Open,
        b"wss://api.huobi.pro/ws",
    );
    rec(
        &mut b,
        11,
        s,
        2,
        RecordKind::Open,
        b"wss://stream.binance.com:9443/stream?streams=btcusdt@trade",
    );
    rec(&mut b, 12, h, 1, RecordKind::Binary, &[0x1f, 0x8b, 1, 2, 3]);
    rec(&mut b, 13, s, 2, RecordKind::Text, b"{\"stream\":\"a\"}");
    rec(&mut b, 14, h, 1, RecordKind::Binary, &[0x1f, 0x8b, 4]);
    rec(
        &mut b,
        15,
        h,
        3,
        RecordKind::Open,
        b"wss://api.huobi.pro/ws",
    );
    rec(&mut b, 16, h, 3, RecordKind::Text, b"second connection");
    std::fs::write(&path, &b).unwrap();
    let recording = Recording::load(&[path]).unwrap();
    assert!(recording.problems.is_empty());
    assert_eq!(recording.frames(), 4);
    let pb = Playback::start(recording, None).unwrap();
    assert_eq!(pb.venues(), [Venue::Huobi, Venue::BinanceSpot]);
    let spot = pb.url(Venue::BinanceSpot).unwrap();
    assert!(spot.ends_with("/stream?streams=btcusdt@trade"), "{spot}");
    let huobi = pb.url(Venue::Huobi).unwrap();
    assert!(huobi.ends_with("/ws"), "{huobi}");

    let (mut c1, _) = tungstenite::connect(&huobi).unwrap();
    assert_eq!(
        c1.read().unwrap(),
        Message::binary(vec![0x1f, 0x8b, 1, 2, 3])
    );
    assert_eq!(c1.read().unwrap(), Message::binary(vec![0x1f, 0x8b, 4]));
    c1.send(Message::Ping(b"hi".to_vec().into())).unwrap();
    assert_eq!(c1.read().unwrap(), Message::Pong(b"hi".to_vec().into()));
    let (mut c2, _) = tungstenite::connect(&huobi).unwrap();
    assert_eq!(c2.read().unwrap(), Message::text("second connection"));
    let (mut c3, _) = tungstenite::connect(&spot).unwrap();
    assert_eq!(c3.read().unwrap(), Message::text("{\"stream\":\"a\"}"));
    // A path the venue does not serve is refused at the upgrade.
    let wrong = huobi.replace("/ws", "/linear-swap-ws");
    assert!(tungstenite::connect(&wrong).is_err());
    // A connection beyond the recorded ones gets nothing (and is counted).
    let (_c4, _) = tungstenite::connect(&huobi).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while pb.stats().iter().map(|s| s.unmatched).sum::<u64>() == 0 {
        assert!(Instant::now() < deadline, "{:?}", pb.stats());
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(pb.all_sent());
    let st = pb.stats();
    let hs = st.iter().find(|s| s.venue == Venue::Huobi).unwrap();
    assert_eq!(
        (hs.recorded_connections, hs.frames_sent, hs.unmatched),
        (2, 3, 1)
    );
    assert!(hs.errors >= 1, "the refused path is counted");
    drop((c1, c2, c3));
    pb.stop();
}
