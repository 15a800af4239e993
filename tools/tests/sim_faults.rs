//! Fault injection in both simulators, seen by a plain tungstenite client: what a client
//! receives (or does not) for every fault, and the fault counters.

use feeds::{EventKind, Frame, Venue};
use serde_json::Value;
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tools::sim::faults::FaultHandle;
use tools::sim::venues::{VenueSim, VenueSimConfig};
use tools::sim::{SimConfig, Simulator};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

type Ws = WebSocket<TcpStream>;

/// Every wait is bounded by this; none should come close.
const PATIENCE: Duration = Duration::from_secs(10);

/// What one read produced.
#[derive(Debug)]
enum Got {
    Text(String),
    Binary(Vec<u8>),
    /// A close frame with this code.
    Close(u16),
    /// The connection ended without a close frame (EOF, reset); the client's error.
    Gone(#[allow(dead_code)] String),
}

fn open(url: &str) -> Result<Ws, Box<tungstenite::Error>> {
    let addr = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .expect("ws:// URL");
    let socket = TcpStream::connect(addr).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    // No size limits: the oversized frame must arrive whole.
    let config = WebSocketConfig::default()
        .max_message_size(None)
        .max_frame_size(None);
    match tungstenite::client::client_with_config(url, socket, Some(config)) {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::HandshakeError::Failure(e)) => Err(Box::new(e)),
        Err(tungstenite::HandshakeError::Interrupted(_)) => panic!("handshake interrupted"),
    }
}

/// The next message before `deadline` (pings are answered by tungstenite and skipped).
fn next(ws: &mut Ws, deadline: Instant) -> Option<Got> {
    while Instant::now() < deadline {
        match ws.read() {
            Ok(Message::Text(t)) => return Some(Got::Text(t.as_str().to_owned())),
            Ok(Message::Binary(b)) => return Some(Got::Binary(b.to_vec())),
            Ok(Message::Close(c)) => return Some(Got::Close(c.map_or(0, |c| c.code.into()))),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Some(Got::Gone(e.to_string())),
        }
    }
    None
}

/// Reads until the connection ends; the end and the texts before it.
fn until_end(ws: &mut Ws) -> (Got, Vec<String>) {
    let deadline = Instant::now() + PATIENCE;
    let mut texts = Vec::new();
    loop {
        match next(ws, deadline) {
            Some(Got::Text(t)) => texts.push(t),
            Some(Got::Binary(_)) => {}
            Some(end) => return (end, texts),
            None => panic!("the connection did not end"),
        }
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Binance `t` (or `a` for aggTrade) of a raw or combined data frame.
fn binance_id(text: &str) -> Option<(String, u64)> {
    let v = json(text);
    let d = v.get("data").unwrap_or(&v);
    let e = d.get("e")?.as_str()?.to_owned();
    let id = match e.as_str() {
        "trade" => d.get("t")?.as_u64()?,
        "aggTrade" => d.get("a")?.as_u64()?,
        _ => return None,
    };
    Some((e, id))
}

/// Reads Binance trade ids (`@trade` `t`, `@aggTrade` `a`) until `n` arrived.
fn binance_trades(ws: &mut Ws, n: usize) -> Vec<u64> {
    let deadline = Instant::now() + PATIENCE;
    let mut ids = Vec::new();
    while ids.len() < n {
        match next(ws, deadline) {
            Some(Got::Text(t)) => {
                if let Some((_, id)) = binance_id(&t) {
                    ids.push(id);
                }
            }
            other => panic!("expected trades, got {other:?}"),
        }
    }
    ids
}

/// Sizes of the holes in an ascending id list.
fn holes(ids: &[u64]) -> Vec<u64> {
    ids.windows(2)
        .filter(|w| w[1] != w[0] + 1)
        .map(|w| w[1] - w[0] - 1)
        .collect()
}

fn binance() -> Simulator {
    Simulator::start(SimConfig {
        symbols: vec!["BTCUSDT".into()],
        trades_per_sec: 300.0,
        burst_prob: 0.0,
        non_market_prob: 0.0,
        ..SimConfig::default()
    })
    .unwrap()
}

fn wait(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn binance_drop_with_and_without_close_frame() {
    let sim = binance();
    let f = sim.faults();
    let url = format!("{}/ws/btcusdt@trade", sim.spot_url());
    let mut ws = open(&url).unwrap();
    binance_trades(&mut ws, 5);
    f.drop_connections(true);
    let (end, _) = until_end(&mut ws);
    assert!(matches!(end, Got::Close(1001)), "{end:?}");

    let mut ws = open(&url).unwrap();
    binance_trades(&mut ws, 5);
    f.drop_connections(false);
    let (end, _) = until_end(&mut ws);
    assert!(matches!(end, Got::Gone(_)), "no close frame: {end:?}");
    // A connection opened after the drop is not affected.
    let mut ws = open(&url).unwrap();
    binance_trades(&mut ws, 20);
    let st = f.stats();
    assert_eq!((st.dropped_with_close, st.dropped_abrupt), (1, 1));
    assert_eq!(sim.stats().spot.connections_accepted, 3);
}

#[test]
fn binance_stall_then_resume_without_loss() {
    let sim = binance();
    let f = sim.faults();
    let mut ws = open(&format!("{}/ws/btcusdt@trade", sim.spot_url())).unwrap();
    let mut ids = binance_trades(&mut ws, 10);
    f.stall(Duration::from_millis(3000));
    // What was already in flight arrives; then nothing while the stall lasts.
    let drained = Instant::now() + Duration::from_millis(200);
    while let Some(Got::Text(t)) = next(&mut ws, drained) {
        ids.extend(binance_id(&t).map(|(_, id)| id));
    }
    let quiet = Instant::now() + Duration::from_millis(700);
    let during = next(&mut ws, quiet);
    assert!(during.is_none(), "frames during the stall: {during:?}");
    // Then the frames come again, late but all there: ids stay contiguous.
    ids.extend(binance_trades(&mut ws, 30));
    assert!(holes(&ids).is_empty(), "{ids:?}");
    assert_eq!(f.stats().stalled, 1);
}

#[test]
fn binance_skip_exact_ids_on_trade_and_agg_trade() {
    let sim = binance();
    let f = sim.faults();
    let mut ws = open(&format!("{}/ws/btcusdt@trade", sim.spot_url())).unwrap();
    let mut ids = binance_trades(&mut ws, 10);
    f.venue(Venue::BinanceSpot).unwrap().skip_trades(5);
    ids.extend(binance_trades(&mut ws, 30));
    assert_eq!(holes(&ids), [5], "{ids:?}");
    assert_eq!(f.skipped(Venue::BinanceSpot, "BTCUSDT"), 5);
    assert_eq!(f.stats().trades_skipped, 5);
    // The generator made them: more trades generated than sent.
    let spot = sim.stats().spot;
    assert!(spot.trades_generated >= spot.trades_sent + 5);

    // Futures: `@trade` on its route (`/public`), then `@aggTrade` on its own (`/market`):
    // skipped trades are exact holes in `t`, skipped aggregates exact holes in `a`. (The two
    // streams cannot share a connection on USDⓈ-M since the 2026 route split.)
    let mut ws = open(&format!("{}/public/ws/btcusdt@trade", sim.futures_url())).unwrap();
    let mut trades = binance_trades(&mut ws, 10);
    assert!(f.skip_trades_on(Venue::BinanceUsdm, "BTCUSDT", 3));
    trades.extend(binance_trades(&mut ws, 40));
    assert_eq!(holes(&trades), [3], "{trades:?}");
    assert_eq!(f.skipped(Venue::BinanceUsdm, "BTCUSDT"), 3);
    drop((ws, sim));
    // A fresh simulator for `@aggTrade`: the skip budget is the venue's, and frames of a
    // stream still draining on the old connection would take from it.
    let sim = binance();
    let f = sim.faults();
    let mut ws = open(&format!("{}/market/ws/btcusdt@aggTrade", sim.futures_url())).unwrap();
    let mut aggs = binance_trades(&mut ws, 10);
    assert!(f.skip_trades_on(Venue::BinanceUsdm, "BTCUSDT", 4));
    aggs.extend(binance_trades(&mut ws, 40));
    assert_eq!(holes(&aggs), [4], "{aggs:?}");
    assert_eq!(f.skipped(Venue::BinanceUsdm, "BTCUSDT"), 4);
}

/// Positions where the id goes down.
fn inversions(ids: &[u64]) -> usize {
    ids.windows(2).filter(|w| w[1] < w[0]).count()
}

fn repeats(ids: &[u64]) -> usize {
    ids.windows(2).filter(|w| w[1] == w[0]).count()
}

#[test]
fn binance_duplicates_and_reorders() {
    let sim = binance();
    let f = sim.faults();
    let mut ws = open(&format!("{}/ws/btcusdt@trade", sim.spot_url())).unwrap();
    let mut ids = binance_trades(&mut ws, 10);
    f.duplicate_next(2);
    ids.extend(binance_trades(&mut ws, 30));
    assert_eq!(repeats(&ids), 2, "{ids:?}");
    let mut set = ids.clone();
    set.dedup();
    assert!(holes(&set).is_empty());
    f.reorder_next(1);
    let mut more = binance_trades(&mut ws, 30);
    assert_eq!(inversions(&more), 1, "{more:?}");
    more.sort_unstable();
    assert!(holes(&more).is_empty() && repeats(&more) == 0, "{more:?}");
    let st = f.stats();
    assert_eq!((st.frames_duplicated, st.frames_reordered), (2, 1));
}

#[test]
fn binance_malformed_and_oversized_frames() {
    let sim = binance();
    let f = sim.faults();
    let mut ws = open(&format!("{}/ws/btcusdt@trade", sim.spot_url())).unwrap();
    binance_trades(&mut ws, 5);
    f.send_malformed(2);
    const BIG: usize = 20 << 20;
    f.send_oversized(1, BIG);
    let deadline = Instant::now() + PATIENCE;
    let (mut bad, mut big, mut good) = (0, 0, 0);
    while big == 0 || bad < 2 || good < 5 {
        match next(&mut ws, deadline) {
            Some(Got::Text(t)) if t.len() == BIG => {
                assert_eq!(json(&t)["e"], "oversized");
                big += 1;
            }
            Some(Got::Text(t)) => match serde_json::from_str::<Value>(&t) {
                Ok(_) => good += 1,
                Err(_) => bad += 1,
            },
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((bad, big), (2, 1));
    let st = f.stats();
    assert_eq!((st.malformed_sent, st.oversized_sent), (2, 1));
}

#[test]
fn binance_rejected_subscribes() {
    let sim = binance();
    let f = sim.faults();
    let mut ws = open(&format!("{}/ws", sim.spot_url())).unwrap();
    f.reject_subscribes(1);
    let reply = |ws: &mut Ws, req: &str| {
        ws.send(Message::text(req.to_owned())).unwrap();
        let deadline = Instant::now() + PATIENCE;
        loop {
            match next(ws, deadline) {
                Some(Got::Text(t)) if binance_id(&t).is_none() => return t,
                Some(Got::Text(_)) => {}
                other => panic!("{other:?}"),
            }
        }
    };
    let sub = |id| feeds::binance::subscribe_message(id, &["btcusdt@trade"]);
    assert_eq!(
        reply(&mut ws, &sub(1)),
        r#"{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":1}"#
    );
    assert_eq!(reply(&mut ws, &sub(2)), r#"{"result":null,"id":2}"#);
    binance_trades(&mut ws, 3);
    // A URL that subscribes: the upgrade is refused with 400, as for an invalid stream.
    f.reject_subscribes(1);
    let url = format!("{}/stream?streams=btcusdt@trade", sim.spot_url());
    match open(&url).map_err(|e| *e) {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 400),
        other => panic!("expected 400, got {:?}", other.map(|_| ())),
    }
    let mut ws = open(&url).unwrap();
    binance_trades(&mut ws, 3);
    // Two rejects per venue handle scope (spot + futures) were armed; only spot's were used.
    assert_eq!(
        f.venue(Venue::BinanceSpot)
            .unwrap()
            .stats()
            .subscribes_rejected,
        2
    );
}

#[test]
fn binance_ignored_pongs_hit_the_deadline() {
    let sim = Simulator::start(SimConfig {
        spot_ping: Duration::from_millis(100),
        pong_timeout_spot: Duration::from_millis(400),
        // Ten pongs a second must not trip the incoming message limit.
        spot_msg_limit: 100,
        ..SimConfig::default()
    })
    .unwrap();
    let f = sim.faults();
    let url = format!("{}/ws", sim.spot_url());
    // Answered pings keep the connection open past several deadlines.
    let mut ws = open(&url).unwrap();
    let got = next(&mut ws, Instant::now() + Duration::from_millis(1200));
    assert!(got.is_none(), "{got:?}");
    f.ignore_pongs(true);
    let (end, _) = until_end(&mut ws);
    assert!(
        matches!(end, Got::Gone(_)),
        "dropped without a close: {end:?}"
    );
    wait("pong timeout count", || sim.stats().spot.pong_timeouts == 1);
    assert!(f.stats().pongs_ignored > 0);
}

#[test]
fn binance_lifetime_with_server_shutdown_notice() {
    let sim = Simulator::start(SimConfig {
        trades_per_sec: 100.0,
        max_lifetime: Some(Duration::from_millis(1500)),
        shutdown_notice: Some(Duration::from_millis(700)),
        ..SimConfig::default()
    })
    .unwrap();
    let mut ws = open(&format!("{}/stream?streams=btcusdt@trade", sim.spot_url())).unwrap();
    let (end, texts) = until_end(&mut ws);
    assert!(matches!(end, Got::Close(1000)), "{end:?}");
    let notice = texts
        .iter()
        .position(|t| t.contains("serverShutdown"))
        .expect("a serverShutdown notice");
    let v = json(&texts[notice]);
    assert_eq!(v["stream"], "!serverShutdown");
    assert_eq!(v["data"]["e"], "serverShutdown");
    assert!(v["data"]["E"]
        .as_u64()
        .is_some_and(|ms| ms > 1_700_000_000_000));
    let mut bytes = texts[notice].clone().into_bytes();
    let frame = Venue::BinanceSpot.decoder().decode(&mut bytes, &mut |_| {});
    assert!(matches!(frame, Ok(Frame::ServerShutdown)), "{frame:?}");
    // Data before the notice and after it, until the close.
    assert!(
        notice > 0 && notice + 1 < texts.len(),
        "{notice} of {}",
        texts.len()
    );
    let st = sim.faults().stats();
    assert_eq!((st.shutdown_notices, st.lifetime_closes), (1, 1));
}

// ---- the other venues, through VenueSim ----

fn venue_sim(venue: Venue, symbols: &[&str]) -> VenueSim {
    VenueSim::start(VenueSimConfig {
        markets: vec![(venue, symbols.iter().map(|s| (*s).to_owned()).collect())],
        trades_per_sec: 300.0,
        burst_prob: 0.0,
        liquidations_per_sec: 0.0,
        open_interest_every: Duration::ZERO,
        ..VenueSimConfig::default()
    })
    .unwrap()
}

/// A decoding client of one venue.
struct Client {
    ws: Ws,
    venue: Venue,
    decoder: Box<dyn feeds::Decode + Send>,
    ids: Vec<u64>,
    acks: u64,
    errors: Vec<i64>,
    undecodable: Vec<String>,
    pings: u64,
}

impl Client {
    fn connect(sim: &VenueSim, venue: Venue, subscribe: &[String]) -> Client {
        let path = tools::sim::venues::ws_path(venue).unwrap();
        let mut ws = open(&format!("{}{path}", sim.base_url(venue).unwrap())).unwrap();
        for m in subscribe {
            ws.send(Message::text(m.clone())).unwrap();
        }
        Client {
            ws,
            venue,
            decoder: venue.decoder(),
            ids: Vec::new(),
            acks: 0,
            errors: Vec::new(),
            undecodable: Vec::new(),
            pings: 0,
        }
    }

    /// Reads until `done` (or the end of the connection, returned).
    fn read(&mut self, done: impl Fn(&Client) -> bool) -> Option<Got> {
        let deadline = Instant::now() + PATIENCE;
        while !done(self) {
            let mut bytes = match next(&mut self.ws, deadline) {
                Some(Got::Text(t)) => t.into_bytes(),
                Some(Got::Binary(b)) => b,
                Some(end) => return Some(end),
                None => panic!("{}: timed out", self.venue),
            };
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let mut events = Vec::new();
            match self.decoder.decode(&mut bytes, &mut |e| events.push(e)) {
                Ok(Frame::Data(_)) => self.ids.extend(
                    events
                        .iter()
                        .filter(|e| e.kind == EventKind::Trade)
                        .filter_map(|e| e.trade_id),
                ),
                Ok(Frame::SubscribeAck) => self.acks += 1,
                Ok(Frame::VenueError { code }) => self.errors.push(code),
                Ok(Frame::Reply(text)) => {
                    self.pings += 1;
                    let _ = self.ws.send(Message::text(text));
                }
                Ok(Frame::Ping(n)) => {
                    self.pings += 1;
                    let pong = feeds::huobi::pong_message(n);
                    let _ = self.ws.send(Message::text(pong));
                }
                Ok(_) => {}
                Err(_) => self.undecodable.push(text),
            }
        }
        None
    }

    fn trades(&mut self, more: usize) {
        let want = self.ids.len() + more;
        let end = self.read(|c| c.ids.len() >= want);
        assert!(end.is_none(), "{}: {end:?}", self.venue);
    }
}

/// Venues with contiguous per-market trade ids (OKX `tradeId`, Kraken v2 `trade_id`).
fn venue_id_faults(venue: Venue, symbol: &str, subscribe: Vec<String>) {
    let sim = venue_sim(venue, &[symbol]);
    let f = sim.faults();
    let mut c = Client::connect(&sim, venue, &subscribe);
    c.trades(10);
    f.skip_trades(4);
    c.trades(30);
    assert_eq!(holes(&c.ids), [4], "{venue}: {:?}", c.ids);
    assert_eq!(f.skipped(venue, symbol), 4, "{venue}");
    f.duplicate_next(1);
    let from = c.ids.len();
    c.trades(30);
    assert_eq!(repeats(&c.ids[from..]), 1, "{venue}: {:?}", &c.ids[from..]);
    f.reorder_next(1);
    let from = c.ids.len();
    c.trades(30);
    let mut tail = c.ids[from..].to_vec();
    assert_eq!(inversions(&tail), 1, "{venue}: {tail:?}");
    tail.sort_unstable();
    assert!(
        holes(&tail).is_empty() && repeats(&tail) == 0,
        "{venue}: {tail:?}"
    );
    assert!(c.undecodable.is_empty(), "{venue}: {:?}", c.undecodable);
    // Malformed and oversized frames.
    f.send_malformed(1);
    f.send_oversized(1, 1 << 20);
    let big = c.read(|c| c.undecodable.len() >= 2);
    assert!(big.is_none(), "{venue}: {big:?}");
    assert!(serde_json::from_str::<Value>(&c.undecodable[0]).is_err());
    assert_eq!(c.undecodable[1].len(), 1 << 20);
    // Stall: nothing arrives, then everything does, in order, nothing lost.
    f.stall(Duration::from_millis(3000));
    let drained = Instant::now() + Duration::from_millis(200);
    while next(&mut c.ws, drained).is_some() {}
    let quiet = next(&mut c.ws, Instant::now() + Duration::from_millis(600));
    assert!(quiet.is_none(), "{venue}: frames during a stall: {quiet:?}");
    let from = c.ids.len();
    c.trades(30);
    assert!(holes(&c.ids[from..]).is_empty(), "{venue}");
    // Drops: a close frame, then none.
    f.drop_connections(true);
    assert!(
        matches!(c.read(|_| false), Some(Got::Close(1001))),
        "{venue}"
    );
    let mut c = Client::connect(&sim, venue, &subscribe);
    c.trades(5);
    f.drop_connections(false);
    let end = c.read(|_| false);
    assert!(matches!(end, Some(Got::Gone(_))), "{venue}: {end:?}");
    let st = f.stats();
    assert_eq!(
        (
            st.trades_skipped,
            st.frames_duplicated,
            st.frames_reordered,
            st.malformed_sent,
            st.oversized_sent,
            st.stalled,
            st.dropped_with_close,
            st.dropped_abrupt
        ),
        (4, 1, 1, 1, 1, 1, 1, 1),
        "{venue}"
    );
    sim.stop();
}

#[test]
fn okx_trade_id_faults() {
    let venue = Venue::OkxSwap;
    venue_id_faults(
        venue,
        "BTC-USDT-SWAP",
        feeds::okx::subscribe_messages(venue, &["BTC-USDT-SWAP"]),
    );
}

#[test]
fn kraken_trade_id_faults() {
    let venue = Venue::KrakenSpot;
    venue_id_faults(
        venue,
        "BTC/USD",
        feeds::kraken::subscribe_messages(venue, &["BTC/USD"]),
    );
}

/// Rejects the first subscribe with the venue's error (decoded as `VenueError`, `errors` of
/// them: OKX answers each channel argument), then accepts the same request.
fn rejected_then_accepted(
    venue: Venue,
    symbol: &str,
    subscribe: Vec<String>,
    code: i64,
    errors: usize,
) {
    let want = vec![code; errors];
    let sim = venue_sim(venue, &[symbol]);
    let f = sim.faults();
    f.reject_subscribes(1);
    let mut c = Client::connect(&sim, venue, &subscribe[..1]);
    let end = c.read(|c| c.errors.len() >= errors);
    assert!(end.is_none(), "{venue}: {end:?}");
    assert_eq!(c.errors, want, "{venue}");
    assert_eq!(c.acks, 0, "{venue}");
    for m in &subscribe {
        c.ws.send(Message::text(m.clone())).unwrap();
    }
    c.trades(5);
    assert_eq!(c.errors, want, "{venue}");
    assert!(c.acks > 0, "{venue}");
    assert_eq!(f.stats().subscribes_rejected, 1);
}

#[test]
fn rejected_subscribes_okx_bybit_htx_kraken() {
    let okx = feeds::okx::subscribe_messages(Venue::OkxSwap, &["BTC-USDT-SWAP"]);
    let args = json(&okx[0])["args"].as_array().map_or(0, Vec::len);
    assert!(args > 0);
    rejected_then_accepted(Venue::OkxSwap, "BTC-USDT-SWAP", okx, 60018, args);
    rejected_then_accepted(
        Venue::BybitLinear,
        "BTCUSDT",
        feeds::bybit::subscribe_messages(Venue::BybitLinear, &["BTCUSDT"]),
        0,
        1,
    );
    rejected_then_accepted(
        Venue::Huobi,
        "btcusdt",
        feeds::huobi::subscribe_messages(&["btcusdt"]),
        0,
        1,
    );
    rejected_then_accepted(
        Venue::KrakenSpot,
        "BTC/USD",
        feeds::kraken::subscribe_messages(Venue::KrakenSpot, &["BTC/USD"]),
        0,
        1,
    );
}

#[test]
fn rejected_subscribes_bitget_bitfinex_coinbase_gate() {
    // Bitget answers each argument (trade, and ticker on futures) with 30001.
    let bitget = feeds::bitget::subscribe_messages(Venue::Bitget, &["BTCUSDT"]);
    let args = json(&bitget[0])["args"].as_array().map_or(0, Vec::len);
    assert!(args > 0);
    rejected_then_accepted(Venue::Bitget, "BTCUSDT", bitget, 30001, args);
    rejected_then_accepted(
        Venue::Bitfinex,
        "tBTCUSD",
        feeds::bitfinex::subscribe_messages(&["tBTCUSD"], false),
        10300,
        1,
    );
    for venue in [Venue::Coinbase, Venue::CoinbaseAdvanced] {
        rejected_then_accepted(
            venue,
            "BTC-USD",
            feeds::coinbase::subscribe_messages(venue, &["BTC-USD"]),
            0,
            1,
        );
    }
    rejected_then_accepted(
        Venue::GateFutures,
        "BTC_USDT",
        feeds::gate::subscribe_messages(&["BTC_USDT"], now_s()),
        2,
        1,
    );
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The wire reply to a rejected subscribe, for venues whose refusal is in a text frame.
fn rejected_reply(venue: Venue, symbol: &str, subscribe: &str) -> String {
    let sim = venue_sim(venue, &[symbol]);
    sim.faults().reject_subscribes(1);
    let mut c = Client::connect(&sim, venue, &[subscribe.to_owned()]);
    let deadline = Instant::now() + PATIENCE;
    let reply = loop {
        match next(&mut c.ws, deadline) {
            Some(Got::Text(t)) if t.contains("error") => break t,
            Some(Got::Text(_) | Got::Binary(_)) => {}
            other => panic!("{venue}: {other:?}"),
        }
    };
    sim.stop();
    reply
}

#[test]
fn rejected_subscribe_replies_are_the_venues_errors() {
    let bitget = &feeds::bitget::subscribe_messages(Venue::Bitget, &["BTCUSDT"])[0];
    let r = json(&rejected_reply(Venue::Bitget, "BTCUSDT", bitget));
    assert_eq!(
        (r["event"].as_str(), r["code"].as_i64()),
        (Some("error"), Some(30001))
    );
    assert!(
        r["msg"]
            .as_str()
            .unwrap()
            .ends_with("instId:BTCUSDT doesn't exist"),
        "{r}"
    );
    let bitfinex = &feeds::bitfinex::subscribe_messages(&["tBTCUSD"], false)[0];
    let r = json(&rejected_reply(Venue::Bitfinex, "tBTCUSD", bitfinex));
    assert_eq!(
        (r["msg"].as_str(), r["code"].as_i64()),
        (Some("symbol: invalid"), Some(10300))
    );
    assert_eq!(r["symbol"], "tBTCUSD");
    let coinbase = &feeds::coinbase::subscribe_messages(Venue::Coinbase, &["BTC-USD"])[0];
    let r = json(&rejected_reply(Venue::Coinbase, "BTC-USD", coinbase));
    assert_eq!(r["message"], "Failed to subscribe");
    assert_eq!(r["reason"], "BTC-USD is not a valid product");
    let gate = &feeds::gate::subscribe_messages(&["BTC_USDT"], now_s())[0];
    let r = json(&rejected_reply(Venue::GateFutures, "BTC_USDT", gate));
    assert_eq!(r["error"]["code"], 2);
    assert_eq!(r["error"]["message"], "unknown contract BTC_USDT");
    assert_eq!(r["result"], Value::Null);
}

#[test]
fn rejected_subscribes_deribit_and_hyperliquid() {
    // Deribit has no error for a channel it will not serve: the answer lists the channels
    // subscribed, here none, and no trade follows until the request is sent again.
    let venue = Venue::Deribit;
    let sim = venue_sim(venue, &["BTC-PERPETUAL"]);
    let f = sim.faults();
    let msgs = feeds::deribit::subscribe_messages(1, &["BTC-PERPETUAL"]);
    let subscribe = msgs
        .iter()
        .find(|m| m.contains("public/subscribe"))
        .unwrap()
        .clone();
    f.reject_subscribes(1);
    let mut c = Client::connect(&sim, venue, std::slice::from_ref(&subscribe));
    let deadline = Instant::now() + PATIENCE;
    let reply = loop {
        match next(&mut c.ws, deadline) {
            Some(Got::Text(t)) if t.contains("\"result\"") => break json(&t),
            Some(Got::Text(_)) => {}
            other => panic!("{venue}: {other:?}"),
        }
    };
    assert_eq!(reply["result"], serde_json::json!([]), "{reply}");
    let quiet = next(&mut c.ws, Instant::now() + Duration::from_millis(500));
    assert!(quiet.is_none(), "{venue}: {quiet:?}");
    c.ws.send(Message::text(subscribe)).unwrap();
    c.trades(5);
    assert_eq!(f.stats().subscribes_rejected, 1);
    sim.stop();

    // Hyperliquid sends no error for a refused subscription: the server closes the socket.
    let venue = Venue::Hyperliquid;
    let sim = venue_sim(venue, &["BTC"]);
    let f = sim.faults();
    let msgs = feeds::hyperliquid::subscribe_messages(&["BTC"]);
    f.reject_subscribes(1);
    let mut c = Client::connect(&sim, venue, &msgs);
    let end = c.read(|_| false);
    assert!(matches!(end, Some(Got::Close(1000))), "{venue}: {end:?}");
    assert!(c.ids.is_empty());
    let mut c = Client::connect(&sim, venue, &msgs);
    c.trades(5);
    assert_eq!(f.stats().subscribes_rejected, 1);
    sim.stop();
}

#[test]
fn htx_ignored_pongs_and_venue_lifetime() {
    let venue = Venue::Huobi;
    let sim = VenueSim::start(VenueSimConfig {
        keepalive_scale: 0.05,
        ..venue_sim_config(venue, "btcusdt")
    })
    .unwrap();
    let f = sim.faults();
    let sub = feeds::huobi::subscribe_messages(&["btcusdt"]);
    let mut c = Client::connect(&sim, venue, &sub);
    // Answered pings keep it open.
    let end = c.read(|c| c.pings >= 3);
    assert!(end.is_none(), "{end:?}");
    f.ignore_pongs(true);
    let end = c.read(|_| false);
    assert!(
        matches!(end, Some(Got::Gone(_))),
        "dropped without close: {end:?}"
    );
    wait("ping timeout count", || {
        sim.stats(venue).unwrap().ping_timeouts == 1
    });
    assert!(f.stats().pongs_ignored > 0);
    sim.stop();

    // A shortened lifetime closes with 1000 after it, whatever the client does.
    let sim = VenueSim::start(VenueSimConfig {
        max_lifetime: Some(Duration::from_millis(800)),
        ..venue_sim_config(Venue::OkxSwap, "BTC-USDT-SWAP")
    })
    .unwrap();
    let sub = feeds::okx::subscribe_messages(Venue::OkxSwap, &["BTC-USDT-SWAP"]);
    let mut c = Client::connect(&sim, Venue::OkxSwap, &sub);
    let end = c.read(|_| false);
    assert!(matches!(end, Some(Got::Close(1000))), "{end:?}");
    assert!(!c.ids.is_empty());
    assert_eq!(sim.faults().stats().lifetime_closes, 1);
}

#[test]
fn deribit_ignored_test_replies_hit_the_deadline() {
    let venue = Venue::Deribit;
    // Heartbeats every 1.5 s (30 s asked × 0.05), answers due within 0.5 s.
    let sim = VenueSim::start(VenueSimConfig {
        keepalive_scale: 0.05,
        ..venue_sim_config(venue, "BTC-PERPETUAL")
    })
    .unwrap();
    let f = sim.faults();
    let sub = feeds::deribit::subscribe_messages(1, &["BTC-PERPETUAL"]);
    let mut c = Client::connect(&sim, venue, &sub);
    let end = c.read(|c| c.pings >= 2);
    assert!(end.is_none(), "answered heartbeats keep it open: {end:?}");
    f.ignore_pongs(true);
    let end = c.read(|_| false);
    assert!(
        matches!(end, Some(Got::Gone(_))),
        "dropped without close: {end:?}"
    );
    wait("ping timeout count", || {
        sim.stats(venue).unwrap().ping_timeouts == 1
    });
    assert!(f.stats().pongs_ignored >= 1);
    assert!(!c.ids.is_empty());
}

fn venue_sim_config(venue: Venue, symbol: &str) -> VenueSimConfig {
    VenueSimConfig {
        markets: vec![(venue, vec![symbol.to_owned()])],
        trades_per_sec: 100.0,
        burst_prob: 0.0,
        liquidations_per_sec: 0.0,
        open_interest_every: Duration::ZERO,
        ..VenueSimConfig::default()
    }
}

#[allow(dead_code)]
fn _handle_is_send(h: FaultHandle) -> impl Send + Clone {
    h
}
