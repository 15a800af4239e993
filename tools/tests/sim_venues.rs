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
            Ok(Frame::Snapshot(n)) => seen.snapshot_trades += u64::from(n),
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
                    }
                }
            }
            Ok(other) => seen.decode_errors.push(format!("{other:?}: {text}")),
            Err(e) => seen.decode_errors.push(format!("{e}: {text}")),
        }
    }
}

fn cfg(markets: Vec<(Venue, Vec<&str>)>, max_trades: u64) -> VenueSimConfig {
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
/// generated trade arrived, and compare with the simulator's counters.
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
    pump(
        &mut ws,
        venue,
        &mut seen,
        Duration::from_secs(20),
        true,
        |s| s.trade_count() >= max_trades,
    );
    // Let the last liquidation/OI frames counted by the simulator arrive.
    let stats = || sim.stats(venue).unwrap();
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
        seen.trade_count(),
        max_trades,
        "{venue}: every trade arrives"
    );
    for m in &st.markets {
        let got = seen.trades.get(&m.symbol).map_or(0, |v| v.len() as u64);
        assert_eq!(got, m.trades_sent, "{venue} {}: trades", m.symbol);
        assert!(got > 0, "{venue} {}: no trades", m.symbol);
    }
    for (sym, ids) in &seen.trades {
        for w in ids.windows(2) {
            assert_eq!(w[1], w[0] + 1, "{venue} {sym}: trade ids contiguous");
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
        let feeds::Keepalive::ClientText { text, .. } = feeds::bybit::KEEPALIVE else {
            panic!("Bybit pings from the client");
        };
        expect_reply(&mut ws, venue, text, |s| s.others == 1);
        let bad = feeds::bybit::subscribe_messages(venue, &["NOPEUSDT"]);
        expect_reply(&mut ws, venue, &bad[0], |s| s.errors.len() == 1);
        assert_eq!(sim.stats(venue).unwrap().subscribe_errors, 1);
        refused_path(&sim, venue, "/v5/public/option");
        refused_path(&sim, venue, "/ws");
        sim.stop();
    }
}
