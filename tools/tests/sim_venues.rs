//! The multi-venue simulator against the real feeds decoders: a tungstenite client connects
//! on the venue's real path, sends exactly what `feeds::<venue>::subscribe_messages` builds,
//! and decodes every frame with `Venue::decoder()`.

use feeds::{EventKind, Frame, Venue};
use std::collections::BTreeMap;
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tools::sim::venues::{VenueSim, VenueSimConfig};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

/// What one connection decoded.
#[derive(Debug, Default)]
struct Seen {
    acks: u64,
    errors: Vec<i64>,
    others: u64,
    pings: Vec<u64>,
    decode_errors: Vec<String>,
    /// Trade ids per symbol (data frames), in arrival order.
    trades: BTreeMap<String, Vec<u64>>,
    snapshot_trades: u64,
    snapshot_ids: Vec<u64>,
    /// Trades of `Frame::Snapshot` frames per symbol.
    snapshots: BTreeMap<String, u64>,
    liquidations: BTreeMap<String, u64>,
    open_interest: BTreeMap<String, u64>,
    closed: bool,
}

impl Seen {
    fn trade_count(&self) -> u64 {
        self.trades.values().map(|v| v.len() as u64).sum()
    }
}

fn connect(url: &str) -> Ws {
    let (ws, _) = tungstenite::connect(url).unwrap_or_else(|e| panic!("connect {url}: {e}"));
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    }
    ws
}

/// Reads and decodes until `done` says so or `limit` passes. `answer_pings`: reply to
/// application pings (`Frame::Ping`) with the HTX pong, as the engine does.
fn pump(
    ws: &mut Ws,
    venue: Venue,
    seen: &mut Seen,
    limit: Duration,
    answer_pings: bool,
    mut done: impl FnMut(&Seen) -> bool,
) {
    let mut decoder = venue.decoder();
    let start = Instant::now();
    while start.elapsed() < limit && !done(seen) {
        let msg = match ws.read() {
            Ok(m) => m,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => {
                seen.closed = true;
                return;
            }
        };
        let mut bytes = match msg {
            Message::Text(t) => t.as_bytes().to_vec(),
            Message::Binary(b) => b.to_vec(),
            Message::Close(_) => {
                seen.closed = true;
                return;
            }
            _ => continue,
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut events = Vec::new();
        match decoder.decode(&mut bytes, &mut |e| events.push(e)) {
            Ok(Frame::SubscribeAck) => seen.acks += 1,
            Ok(Frame::VenueError { code }) => seen.errors.push(code),
            Ok(Frame::Other) => seen.others += 1,
            Ok(Frame::Ping(n)) => {
                seen.pings.push(n);
                if answer_pings {
                    ws.send(Message::text(feeds::huobi::pong_message(n)))
                        .unwrap();
                }
            }
            Ok(Frame::Snapshot(_)) => {
                for e in events {
                    let sym = e.symbol.as_str().to_owned();
                    match e.kind {
                        EventKind::Trade => {
                            seen.snapshot_trades += 1;
                            seen.snapshot_ids.push(e.trade_id.unwrap_or(0));
                            *seen.snapshots.entry(sym).or_default() += 1;
                        }
                        EventKind::Liquidation => *seen.liquidations.entry(sym).or_default() += 1,
                        EventKind::OpenInterest => *seen.open_interest.entry(sym).or_default() += 1,
                        EventKind::NonMarket | EventKind::GapMark => {}
                    }
                }
            }
            Ok(Frame::Data(_)) => {
                for e in events {
                    let sym = e.symbol.as_str().to_owned();
                    match e.kind {
                        EventKind::Trade => seen
                            .trades
                            .entry(sym)
                            .or_default()
                            .push(e.trade_id.unwrap_or(0)),
                        EventKind::Liquidation => *seen.liquidations.entry(sym).or_default() += 1,
                        EventKind::OpenInterest => *seen.open_interest.entry(sym).or_default() += 1,
                        EventKind::NonMarket | EventKind::GapMark => {}
                    }
                }
            }
            Ok(other) => seen.decode_errors.push(format!("{other:?}: {text}")),
            Err(e) => seen.decode_errors.push(format!("{e}: {text}")),
        }
    }
}

pub(crate) fn cfg(markets: Vec<(Venue, Vec<&str>)>, max_trades: u64) -> VenueSimConfig {
    VenueSimConfig {
        markets: markets
            .into_iter()
            .map(|(v, s)| (v, s.into_iter().map(str::to_owned).collect()))
            .collect(),
        trades_per_sec: 300.0,
        burst_prob: 0.2,
        burst_mult: 3.0,
        liquidations_per_sec: 20.0,
        open_interest_every: Duration::from_millis(100),
        seed: 5,
        max_trades: Some(max_trades),
        ..VenueSimConfig::default()
    }
}

/// One venue end to end: subscribe with the feeds builder's messages, read until every
/// generated trade arrived (and the recent trades of any subscribe snapshot, which some
/// decoders report as data), and compare with the simulator's counters.
fn full_session(
    sim: &VenueSim,
    venue: Venue,
    path: &str,
    subscribe: &[String],
    expect_acks: u64,
    max_trades: u64,
    expect_liq_oi: (bool, bool),
) -> Seen {
    let url = format!("{}{path}", sim.base_url(venue).unwrap());
    let mut ws = connect(&url);
    for m in subscribe {
        ws.send(Message::text(m.clone())).unwrap();
    }
    let mut seen = Seen::default();
    let stats = || sim.stats(venue).unwrap();
    pump(
        &mut ws,
        venue,
        &mut seen,
        Duration::from_secs(20),
        true,
        |s| s.trade_count() + s.snapshot_trades >= max_trades + stats().snapshot_trades_sent(),
    );
    // Let the last liquidation/OI frames counted by the simulator arrive.
    pump(
        &mut ws,
        venue,
        &mut seen,
        Duration::from_secs(2),
        true,
        |s| {
            let st = stats();
            s.liquidations.values().sum::<u64>() == st.liquidations_sent()
                && s.open_interest.values().sum::<u64>() == st.open_interest_sent()
        },
    );
    let st = stats();
    assert!(
        seen.decode_errors.is_empty(),
        "{venue}: {:?}",
        seen.decode_errors
    );
    assert_eq!(seen.acks, expect_acks, "{venue}: acks");
    assert!(seen.errors.is_empty(), "{venue}: errors {:?}", seen.errors);
    assert_eq!(
        seen.trade_count() + seen.snapshot_trades,
        max_trades + st.snapshot_trades_sent(),
        "{venue}: every trade arrives"
    );
    for m in &st.markets {
        let got = seen.trades.get(&m.symbol).map_or(0, |v| v.len() as u64);
        let snap = seen.snapshots.get(&m.symbol).copied().unwrap_or(0);
        assert_eq!(
            got + snap,
            m.trades_sent + m.snapshot_trades_sent,
            "{venue} {}: trades",
            m.symbol
        );
        assert!(got > 0, "{venue} {}: no trades", m.symbol);
    }
    for (sym, ids) in &seen.trades {
        // Bitget lists a frame's trades newest first: compare as a set.
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        for w in sorted.windows(2) {
            assert_eq!(
                w[1],
                w[0] + 1,
                "{venue} {sym}: trade ids contiguous, no repeats"
            );
        }
    }
    let liqs: u64 = seen.liquidations.values().sum();
    let ois: u64 = seen.open_interest.values().sum();
    assert_eq!(liqs, st.liquidations_sent(), "{venue}: liquidations");
    assert_eq!(ois, st.open_interest_sent(), "{venue}: open interest");
    assert_eq!(liqs > 0, expect_liq_oi.0, "{venue}: liquidations present");
    assert_eq!(ois > 0, expect_liq_oi.1, "{venue}: open interest present");
    assert_eq!(st.subscribe_errors, 0);
    assert_eq!(st.connections_accepted, 1);
    drop(ws);
    seen
}

/// Sends one message and reads until a frame of the wanted kind, returning what was seen.
fn expect_reply(ws: &mut Ws, venue: Venue, msg: &str, want: impl Fn(&Seen) -> bool) -> Seen {
    ws.send(Message::text(msg.to_owned())).unwrap();
    let mut seen = Seen::default();
    pump(ws, venue, &mut seen, Duration::from_secs(3), false, &want);
    assert!(want(&seen), "{venue}: no expected reply to {msg}: {seen:?}");
    assert!(
        seen.decode_errors.is_empty(),
        "{venue}: {:?}",
        seen.decode_errors
    );
    seen
}

fn refused_path(sim: &VenueSim, venue: Venue, path: &str) {
    let before = sim.stats(venue).unwrap().handshakes_rejected;
    let url = format!("{}{path}", sim.base_url(venue).unwrap());
    match tungstenite::connect(&url) {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 404, "{venue} {path}"),
        other => panic!("{venue} {path}: expected 404, got {:?}", other.map(|_| ())),
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while sim.stats(venue).unwrap().handshakes_rejected == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(sim.stats(venue).unwrap().handshakes_rejected, before + 1);
}

#[test]
fn bybit_linear_inverse_spot() {
    for (venue, symbols, path) in [
        (
            Venue::BybitLinear,
            vec!["BTCUSDT", "ETHUSDT", "SOLUSDT"],
            "/v5/public/linear",
        ),
        (
            Venue::BybitInverse,
            vec!["BTCUSD", "ETHUSD"],
            "/v5/public/inverse",
        ),
        (
            Venue::BybitSpot,
            vec!["BTCUSDT", "ETHUSDT"],
            "/v5/public/spot",
        ),
    ] {
        let max = 600;
        let sim = VenueSim::start(cfg(vec![(venue, symbols.clone())], max)).unwrap();
        let msgs = feeds::bybit::subscribe_messages(venue, &symbols);
        let derivative = venue != Venue::BybitSpot;
        full_session(
            &sim,
            venue,
            path,
            &msgs,
            msgs.len() as u64,
            max,
            (derivative, derivative),
        );
        // Keepalive: the client's ping gets the pong reply; unknown symbols an error.
        let mut ws = connect(&format!("{}{path}", sim.base_url(venue).unwrap()));
        let Some(text) = feeds::bybit::KEEPALIVE.text else {
            panic!("Bybit pings from the client");
        };
        expect_reply(&mut ws, venue, text, |s| s.others == 1);
        let bad = feeds::bybit::subscribe_messages(venue, &["NOPEUSDT"]);
        expect_reply(&mut ws, venue, &bad[0], |s| s.errors.len() == 1);
        assert_eq!(sim.stats(venue).unwrap().subscribe_errors, 1);
        refused_path(&sim, venue, "/v5/public/option");
        refused_path(&sim, venue, "/ws");
        drop(ws);
        sim.stop();
    }
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[test]
fn okx_swap_and_spot() {
    for (venue, symbols) in [
        (
            Venue::OkxSwap,
            vec!["BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP"],
        ),
        (Venue::OkxSpot, vec!["BTC-USDT", "ETH-USDT"]),
    ] {
        let max = 600;
        let sim = VenueSim::start(cfg(vec![(venue, symbols.clone())], max)).unwrap();
        let msgs = feeds::okx::subscribe_messages(venue, &symbols);
        // One `subscribe` event per channel argument.
        let args: u64 = msgs
            .iter()
            .map(|m| {
                let v: serde_json::Value = serde_json::from_str(m).unwrap();
                v["args"].as_array().unwrap().len() as u64
            })
            .sum();
        let swap = venue == Venue::OkxSwap;
        full_session(&sim, venue, "/ws/v5/public", &msgs, args, max, (swap, swap));
        let mut ws = connect(&format!("{}/ws/v5/public", sim.base_url(venue).unwrap()));
        let Some(text) = feeds::okx::KEEPALIVE.text else {
            panic!("OKX pings from the client");
        };
        expect_reply(&mut ws, venue, text, |s| s.others == 1);
        let bad = feeds::okx::subscribe_messages(venue, &["NOPE-USDT-SWAP"]);
        let want_errors = if swap { 2 } else { 1 };
        let seen = expect_reply(&mut ws, venue, &bad[0], |s| {
            s.errors.len() == want_errors && s.acks == u64::from(swap)
        });
        assert!(seen.errors.iter().all(|&c| c == 60018), "{:?}", seen.errors);
        refused_path(&sim, venue, "/ws/v5/business");
        drop(ws);
        sim.stop();
    }
}

#[test]
fn bitget_futures_and_spot_with_snapshots() {
    for (venue, symbols) in [
        (Venue::Bitget, vec!["BTCUSDT", "ETHUSDT"]),
        (Venue::BitgetSpot, vec!["BTCUSDT"]),
    ] {
        let max = 500;
        let sim = VenueSim::start(cfg(vec![(venue, symbols.clone())], max)).unwrap();
        let msgs = feeds::bitget::subscribe_messages(venue, &symbols);
        let channels = if venue == Venue::Bitget { 2 } else { 1 };
        let futures = venue == Venue::Bitget;
        let first = full_session(
            &sim,
            venue,
            "/v2/ws/public",
            &msgs,
            symbols.len() as u64 * channels,
            max,
            (false, futures),
        );
        // The market traded before anyone subscribed: the first subscriber gets its recent
        // trades too.
        assert_eq!(first.snapshot_trades, 30 * symbols.len() as u64);
        // A later subscriber gets the recent trades as a snapshot first (newest first, ≤ 30).
        let mut ws = connect(&format!("{}/v2/ws/public", sim.base_url(venue).unwrap()));
        let seen = expect_reply(&mut ws, venue, &msgs[0], |s| {
            s.snapshot_trades >= 30 * symbols.len() as u64
        });
        assert_eq!(seen.snapshot_trades, 30 * symbols.len() as u64);
        let last = first
            .trades
            .get(symbols[0])
            .and_then(|v| v.iter().max())
            .copied()
            .unwrap();
        assert_eq!(seen.snapshot_ids[0], last, "newest first");
        for w in seen.snapshot_ids[..30].windows(2) {
            assert_eq!(w[1] + 1, w[0]);
        }
        let Some(text) = feeds::bitget::KEEPALIVE.text else {
            panic!("Bitget pings from the client");
        };
        expect_reply(&mut ws, venue, text, |s| s.others == 1);
        let bad = feeds::bitget::subscribe_messages(venue, &["NOPEUSDT"]);
        let seen = expect_reply(&mut ws, venue, &bad[0], |s| {
            s.errors.len() == channels as usize
        });
        assert!(seen.errors.iter().all(|&c| c == 30001), "{:?}", seen.errors);
        refused_path(&sim, venue, "/v2/ws/private");
        drop(ws);
        sim.stop();
    }
}

#[test]
fn gate_futures() {
    let venue = Venue::GateFutures;
    let symbols = vec!["BTC_USDT", "ETH_USDT"];
    let max = 500;
    let sim = VenueSim::start(cfg(vec![(venue, symbols.clone())], max)).unwrap();
    let msgs = feeds::gate::subscribe_messages(&symbols, now_s());
    full_session(&sim, venue, "/v4/ws/usdt", &msgs, 1, max, (false, false));
    let mut ws = connect(&format!("{}/v4/ws/usdt", sim.base_url(venue).unwrap()));
    expect_reply(&mut ws, venue, &feeds::gate::ping_message(now_s()), |s| {
        s.others == 1
    });
    let bad = feeds::gate::subscribe_messages(&["NOPE_USDT"], now_s());
    expect_reply(&mut ws, venue, &bad[0], |s| s.errors.len() == 1);
    refused_path(&sim, venue, "/v4/ws/btc");
    drop(ws);
    sim.stop();
}

#[test]
fn hyperliquid_trades_snapshot_and_errors() {
    let venue = Venue::Hyperliquid;
    let symbols = vec!["BTC", "ETH", "SOL"];
    let max = 600;
    let sim = VenueSim::start(cfg(vec![(venue, symbols.clone())], max)).unwrap();
    let msgs = feeds::hyperliquid::subscribe_messages(&symbols);
    let first = full_session(&sim, venue, "/ws", &msgs, 3, max, (false, false));
    // A later subscriber first gets the coin's recent trades.
    let mut ws = connect(&format!("{}/ws", sim.base_url(venue).unwrap()));
    let seen = expect_reply(&mut ws, venue, &msgs[0], |s| s.trade_count() > 0);
    let ids = &seen.trades["BTC"];
    let last = *first.trades["BTC"].last().unwrap();
    assert_eq!(*ids.last().unwrap(), last);
    for w in ids.windows(2) {
        assert_eq!(w[1], w[0] + 1);
    }
    let Some(text) = feeds::hyperliquid::KEEPALIVE.text else {
        panic!("Hyperliquid pings from the client");
    };
    expect_reply(&mut ws, venue, text, |s| s.others == 1);
    expect_reply(&mut ws, venue, &msgs[0], |s| s.errors.len() == 1);
    // An unknown coin closes the socket, as on the real server.
    let bad = feeds::hyperliquid::subscribe_messages(&["NOPE"]);
    expect_reply(&mut ws, venue, &bad[0], |s| s.closed);
    refused_path(&sim, venue, "/info");
    drop(ws);
    sim.stop();
}

#[test]
fn htx_spot_and_swap_gzip_and_server_pings() {
    for (venue, symbols, path) in [
        (Venue::Huobi, vec!["btcusdt", "ethusdt"], "/ws"),
        (
            Venue::HuobiSwap,
            vec!["BTC-USDT", "ETH-USDT"],
            "/linear-swap-ws",
        ),
    ] {
        let max = 800;
        let dir = tempfile::tempdir().unwrap();
        let tape = dir.path().join("tape.jsonl");
        let sim = VenueSim::start(VenueSimConfig {
            // Pings every 250 ms, dropped after two unanswered.
            keepalive_scale: 0.05,
            tape: Some(tape.clone()),
            ..cfg(vec![(venue, symbols.clone())], max)
        })
        .unwrap();
        let msgs = feeds::huobi::subscribe_messages(&symbols);
        let seen = full_session(&sim, venue, path, &msgs, 2, max, (false, false));
        assert!(!seen.closed, "{venue}: answered pings keep the connection");
        assert!(
            seen.pings.len() >= 2,
            "{venue}: server pings {:?}",
            seen.pings
        );
        // Unanswered pings: the server drops the connection and counts it.
        let mut ws = connect(&format!("{}{path}", sim.base_url(venue).unwrap()));
        let mut quiet = Seen::default();
        pump(
            &mut ws,
            venue,
            &mut quiet,
            Duration::from_secs(5),
            false,
            |s| s.closed,
        );
        assert!(
            quiet.closed,
            "{venue}: unanswered pings drop the connection"
        );
        assert!(quiet.pings.len() >= 2);
        let deadline = Instant::now() + Duration::from_secs(2);
        while sim.stats(venue).unwrap().ping_timeouts == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(sim.stats(venue).unwrap().ping_timeouts, 1);
        let mut ws = connect(&format!("{}{path}", sim.base_url(venue).unwrap()));
        let bad = feeds::huobi::subscribe_messages(&["nopeusdt"]);
        expect_reply(&mut ws, venue, &bad[0], |s| s.errors.len() == 1);
        refused_path(&sim, venue, "/ws/v2");
        drop(ws);
        sim.stop();
        // The tape holds the frames inflated.
        let text = std::fs::read_to_string(&tape).unwrap();
        let mut trades = 0;
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["venue"], venue.name());
            let frame: serde_json::Value =
                serde_json::from_str(v["frame"].as_str().unwrap()).unwrap();
            if frame.get("ch").is_some() {
                trades += frame["tick"]["data"].as_array().unwrap().len();
            }
        }
        assert_eq!(trades as u64, max, "{venue}: every trade frame on the tape");
    }
}

#[test]
fn binance_coinm_combined_and_raw() {
    let venue = Venue::BinanceCoinm;
    let pairs = ["btcusd_perp", "ethusd_perp"];
    let max = 500;
    let sim = VenueSim::start(cfg(vec![(venue, vec!["BTCUSD_PERP", "ETHUSD_PERP"])], max)).unwrap();
    let base = sim.base_url(venue).unwrap();
    let urls = feeds::binance::combined_urls(venue, &base, &pairs);
    assert_eq!(urls.len(), 1);
    let path = urls[0].strip_prefix(&base).unwrap();
    full_session(&sim, venue, path, &[], 0, max, (true, false));
    // `/ws` with a SUBSCRIBE request; an unknown stream is refused with Binance's error.
    let mut ws = connect(&format!("{base}/ws"));
    let sub = feeds::binance::subscribe_message(1, &["btcusd_perp@aggTrade"]);
    expect_reply(&mut ws, venue, &sub, |s| s.acks == 1);
    let bad = feeds::binance::subscribe_message(2, &["nopeusd_perp@aggTrade"]);
    let seen = expect_reply(&mut ws, venue, &bad, |s| s.errors.len() == 1);
    assert_eq!(seen.errors, [2]);
    // ccxt's shape: `/ws/<its connection counter>`, then SUBSCRIBE (was a 400).
    let mut ccxt = connect(&format!("{base}/ws/0"));
    let sub = feeds::binance::subscribe_message(7, &["ethusd_perp@aggTrade"]);
    expect_reply(&mut ccxt, venue, &sub, |s| s.acks == 1);
    // COIN-M is not routed by tier.
    refused_path(&sim, venue, "/market/stream?streams=btcusd_perp@aggTrade");
    refused_path(&sim, venue, "/public/ws/0");
    drop((ws, ccxt));
    sim.stop();
}

/// The path and the engine's subscribe messages for `venue`'s `symbols`.
fn engine_session(venue: Venue, base: &str, symbols: &[&str]) -> (String, Vec<String>) {
    // Exactly what the engine's feed thread would open and send (feeds::plan).
    let mut plans = feeds::plan::plan(venue, Some(base), symbols, now_s()).unwrap();
    assert_eq!(plans.len(), 1, "{venue}: one connection");
    let p = plans.remove(0);
    (p.url, p.subscribe)
}

#[test]
fn every_venue_at_once() {
    let markets = tools::sim::venues::default_markets();
    assert!(markets.len() >= 12, "{}", markets.len());
    let sim = VenueSim::start(VenueSimConfig {
        markets: markets.clone(),
        trades_per_sec: 50.0,
        open_interest_every: Duration::from_millis(200),
        liquidations_per_sec: 5.0,
        ..VenueSimConfig::default()
    })
    .unwrap();
    let mut ports = std::collections::HashSet::new();
    // Every venue with its default markets, subscribed as the engine does, decodes cleanly.
    let mut clients = Vec::new();
    for (venue, symbols) in &markets {
        let base = sim.base_url(*venue).unwrap();
        assert!(base.starts_with("ws://127.0.0.1:"), "{base}");
        assert!(ports.insert(base.clone()));
        let refs: Vec<&str> = symbols.iter().map(String::as_str).collect();
        let (url, msgs) = engine_session(*venue, &base, &refs);
        let mut ws = connect(&url);
        for m in &msgs {
            ws.send(Message::text(m.clone())).unwrap();
        }
        clients.push((*venue, symbols.len(), ws, Seen::default()));
    }
    for (venue, n, ws, seen) in &mut clients {
        pump(ws, *venue, seen, Duration::from_secs(5), true, |s| {
            s.trades.len() == *n
        });
        assert!(
            seen.decode_errors.is_empty(),
            "{venue}: {:?}",
            seen.decode_errors
        );
        assert!(seen.errors.is_empty(), "{venue}: {:?}", seen.errors);
        assert_eq!(seen.trades.len(), *n, "{venue}: trades on every market");
        assert!(!seen.closed, "{venue}");
        if *venue != Venue::BinanceCoinm {
            assert!(seen.acks > 0, "{venue}: acks");
        }
    }
    drop(clients);
    sim.stop();
}

#[test]
fn sim_help_says_what_it_serves() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_squeezeflow"))
        .args(["--help"])
        .output()
        .unwrap();
    let top = String::from_utf8_lossy(&out.stdout);
    assert!(top.contains("sim"), "{top}");
    // The old summary said it served Binance only.
    assert!(
        !top.contains("Binance spot and USDⓈ-M on loopback"),
        "sim's summary names only Binance:\n{top}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_squeezeflow"))
        .args(["sim", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{help}");
    for word in ["Bybit", "OKX", "Kraken", "Coinbase", "Hyperliquid", "REST"] {
        assert!(
            help.contains(word),
            "sim --help does not mention {word}:\n{help}"
        );
    }
}

/// The first frame with trades after a subscribe, and the next one: their trades as
/// `(trade id or 0, exchange time in ms)`, sorted.
type IdTime = (u64, i64);
fn first_two_trade_frames(ws: &mut Ws, venue: Venue) -> (Vec<IdTime>, Vec<IdTime>) {
    let mut decoder = venue.decoder();
    let mut frames: Vec<Vec<IdTime>> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while frames.len() < 2 {
        assert!(Instant::now() < deadline, "{venue}: {frames:?}");
        let mut bytes = match ws.read() {
            Ok(Message::Text(t)) => t.as_bytes().to_vec(),
            Ok(Message::Binary(b)) => b.to_vec(),
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => panic!("{venue}: {e}"),
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut ids = Vec::new();
        let r = decoder.decode(&mut bytes, &mut |e| {
            if e.kind == EventKind::Trade {
                ids.push((e.trade_id.unwrap_or(0), e.ts_us.div_euclid(1000)));
            }
        });
        assert!(r.is_ok(), "{venue}: {r:?} {text}");
        if !ids.is_empty() {
            ids.sort_unstable();
            frames.push(ids);
        }
    }
    let second = frames.pop().unwrap();
    (frames.pop().unwrap(), second)
}

/// Issue 16 §4: a market has a past before anyone subscribes, so even the first subscriber
/// gets the venue's snapshot of recent trades (Kraken v2: the last 50), taken from the
/// market's history (the same trades REST serves), and live trades continue right after it.
#[test]
fn first_subscriber_gets_the_recent_trades() {
    let kraken_v2 =
        r#"{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD"]},"req_id":1}"#;
    let cases: Vec<(Venue, &str, Vec<String>, usize)> = vec![
        (Venue::KrakenSpot, "BTC/USD", vec![kraken_v2.to_owned()], 50),
        (
            Venue::KrakenFutures,
            "PF_XBTUSD",
            feeds::kraken::subscribe_messages(Venue::KrakenFutures, &["PF_XBTUSD"]),
            100,
        ),
        (
            Venue::CoinbaseAdvanced,
            "BTC-USD",
            feeds::coinbase::subscribe_messages(Venue::CoinbaseAdvanced, &["BTC-USD"]),
            100,
        ),
        (
            Venue::Coinbase,
            "BTC-USD",
            feeds::coinbase::subscribe_messages(Venue::Coinbase, &["BTC-USD"]),
            1,
        ),
        (
            Venue::Bitget,
            "BTCUSDT",
            feeds::bitget::subscribe_messages(Venue::Bitget, &["BTCUSDT"]),
            30,
        ),
        (
            Venue::Bitfinex,
            "tBTCUSD",
            feeds::bitfinex::subscribe_messages(&["tBTCUSD"], false),
            30,
        ),
        (
            Venue::Hyperliquid,
            "BTC",
            feeds::hyperliquid::subscribe_messages(&["BTC"]),
            10,
        ),
    ];
    for (venue, symbol, subscribe, want) in cases {
        let sim = VenueSim::start(VenueSimConfig {
            markets: vec![(venue, vec![symbol.to_owned()])],
            trades_per_sec: 100.0,
            liquidations_per_sec: 0.0,
            open_interest_every: Duration::ZERO,
            ..VenueSimConfig::default()
        })
        .unwrap();
        let backlog = VenueSimConfig::default().backlog;
        // The history holds the market's past before anyone connected.
        let past: Vec<IdTime> = sim
            .history()
            .trades(venue, symbol)
            .iter()
            .map(|t| (t.id, t.ts_us.div_euclid(1000)))
            .collect();
        assert_eq!(past.len(), backlog, "{venue}: the market's past");
        let path = tools::sim::venues::ws_path(venue).unwrap();
        let mut ws = connect(&format!("{}{path}", sim.base_url(venue).unwrap()));
        for m in &subscribe {
            ws.send(Message::text(m.clone())).unwrap();
        }
        let (mut snapshot, live) = first_two_trade_frames(&mut ws, venue);
        assert_eq!(snapshot.len(), want, "{venue}: snapshot size");
        let mut newest = past[past.len() - want..].to_vec();
        if snapshot.iter().all(|t| t.0 == 0) {
            // Kraken Futures trades carry no id the decoder keeps: compare times.
            newest.iter_mut().for_each(|t| t.0 = 0);
            newest.sort_unstable();
            snapshot.sort_unstable();
            assert!(live[0].1 >= snapshot[want - 1].1, "{venue}: {live:?}");
        } else {
            assert_eq!(
                live[0].0,
                snapshot[want - 1].0 + 1,
                "{venue}: live trades continue right after the snapshot"
            );
        }
        assert_eq!(
            snapshot, newest,
            "{venue}: the snapshot is the newest of the market's past"
        );
        let st = sim.stats(venue).unwrap();
        assert_eq!(st.snapshot_trades_sent(), want as u64, "{venue}");
        drop(ws);
        sim.stop();
    }
}
