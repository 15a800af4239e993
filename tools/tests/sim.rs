//! The exchange simulator seen from outside: a plain tungstenite client against its Binance
//! spot and USDⓈ-M listeners (paths, handshakes, frames, keepalive, limits, tape).

use serde_json::Value;
use std::collections::HashMap;
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tools::sim::{SimConfig, SimStats, Simulator};
use tungstenite::error::Error;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

type Ws = WebSocket<TcpStream>;

/// Every wait in these tests is bounded by this; none of them should come close.
const PATIENCE: Duration = Duration::from_secs(20);

/// A busy market (so frames come quickly) without bursts unless a test wants them.
fn config() -> SimConfig {
    SimConfig {
        trades_per_sec: 200.0,
        burst_prob: 0.0,
        non_market_prob: 0.0,
        ..SimConfig::default()
    }
}

fn try_open(url: &str) -> Result<Ws, Box<Error>> {
    let addr = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .expect("ws:// URL");
    let socket = TcpStream::connect(addr).expect("connect");
    // A broken simulator must fail the test, not hang it.
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    match tungstenite::client(url, socket) {
        Ok((ws, _response)) => Ok(ws),
        Err(tungstenite::HandshakeError::Failure(e)) => Err(Box::new(e)),
        Err(tungstenite::HandshakeError::Interrupted(_)) => {
            panic!("blocking handshake interrupted")
        }
    }
}

fn open(url: &str) -> Ws {
    try_open(url).unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// The next text frame (pings and pongs are answered by tungstenite and skipped).
fn next_text(ws: &mut Ws) -> String {
    loop {
        match ws.read().expect("read") {
            Message::Text(t) => return t.as_str().to_owned(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn send(ws: &mut Ws, request: &str) {
    ws.send(Message::text(request)).expect("send");
}

/// The next text frame that is not market data (a reply), skipping data frames.
fn next_reply(ws: &mut Ws) -> String {
    loop {
        let text = next_text(ws);
        let v = json(&text);
        if v.get("result").is_some() || v.get("error").is_some() {
            return text;
        }
    }
}

/// Polls the simulator's counters until `done` holds (bounded by [`PATIENCE`]).
fn wait_for_stats(sim: &Simulator, what: &str, done: impl Fn(&SimStats) -> bool) -> SimStats {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let stats = sim.stats();
        if done(&stats) {
            return stats;
        }
        assert!(
            Instant::now() < deadline,
            "gave up waiting for {what}: {stats:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Checks that `t` continues the trade ids already seen for `symbol`.
fn check_contiguous(last: &mut HashMap<String, u64>, symbol: &str, t: u64) {
    if let Some(prev) = last.insert(symbol.to_owned(), t) {
        assert_eq!(t, prev + 1, "{symbol}: trade id {t} after {prev}");
    }
}

#[test]
fn combined_stream_delivers_only_the_requested_streams_with_contiguous_ids() {
    let sim = Simulator::start(config()).unwrap();
    let mut ws = open(&format!(
        "{}/stream?streams=btcusdt@trade/ethusdt@trade",
        sim.spot_url()
    ));
    let mut last = HashMap::new();
    for _ in 0..400 {
        let text = next_text(&mut ws);
        let frame = json(&text);
        let stream = frame["stream"].as_str().expect("combined wrapper");
        let data = &frame["data"];
        let symbol = data["s"].as_str().unwrap();
        assert_eq!(stream, format!("{}@trade", symbol.to_ascii_lowercase()));
        assert!(symbol == "BTCUSDT" || symbol == "ETHUSDT", "{text}");
        assert_eq!(data["e"], "trade");
        assert_eq!(data["M"], true);
        for field in ["p", "q"] {
            let decimals = data[field].as_str().unwrap().split('.').nth(1).unwrap();
            assert_eq!(decimals.len(), 8, "spot prints 8 decimals: {text}");
        }
        assert!(
            data["T"].as_u64().unwrap() > 1_600_000_000_000,
            "ms timestamps"
        );
        check_contiguous(&mut last, symbol, data["t"].as_u64().unwrap());
    }
    assert_eq!(last.len(), 2, "both requested streams delivered");
    sim.stop();
}

#[test]
fn raw_ws_subscribe_is_acked_before_frames() {
    let sim = Simulator::start(config()).unwrap();
    let mut ws = open(&format!("{}/ws", sim.spot_url()));
    send(
        &mut ws,
        r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@aggTrade"],"id":1}"#,
    );
    assert_eq!(next_text(&mut ws), r#"{"result":null,"id":1}"#);
    let mut kinds = HashMap::new();
    for _ in 0..50 {
        let frame = json(&next_text(&mut ws));
        assert!(frame.get("stream").is_none(), "raw payloads on /ws");
        assert_eq!(frame["s"], "BTCUSDT");
        *kinds
            .entry(frame["e"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    assert!(
        kinds.contains_key("trade") && kinds.contains_key("aggTrade"),
        "{kinds:?}"
    );

    send(&mut ws, r#"{"method":"LIST_SUBSCRIPTIONS","id":2}"#);
    assert_eq!(
        next_reply(&mut ws),
        r#"{"result":["btcusdt@trade","btcusdt@aggTrade"],"id":2}"#
    );
    send(
        &mut ws,
        r#"{"method":"SET_PROPERTY","params":["combined",true],"id":"c"}"#,
    );
    assert_eq!(next_reply(&mut ws), r#"{"result":null,"id":"c"}"#);
    let wrapped = json(&next_text(&mut ws));
    assert!(
        wrapped["stream"].as_str().unwrap().starts_with("btcusdt@"),
        "{wrapped}"
    );

    send(
        &mut ws,
        r#"{"method":"UNSUBSCRIBE","params":["btcusdt@trade","btcusdt@aggTrade"],"id":3}"#,
    );
    assert_eq!(next_reply(&mut ws), r#"{"result":null,"id":3}"#);
    // After the ack nothing of the old streams may arrive: the very next frame is the reply.
    send(&mut ws, r#"{"method":"LIST_SUBSCRIPTIONS","id":4}"#);
    assert_eq!(next_text(&mut ws), r#"{"result":[],"id":4}"#);
    sim.stop();
}

#[test]
fn bad_requests_get_binance_errors() {
    let sim = Simulator::start(config()).unwrap();
    let mut ws = open(&format!("{}/market/ws", sim.futures_url()));
    send(
        &mut ws,
        r#"{"method":"SUBSCRIBE","params":["btcusdt@bogus"],"id":7}"#,
    );
    assert_eq!(
        next_text(&mut ws),
        r#"{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":7}"#
    );
    send(
        &mut ws,
        r#"{"method":"SUBSCRIBE","params":["dogeusdt@trade"],"id":8}"#,
    );
    assert_eq!(
        next_text(&mut ws),
        r#"{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":8}"#
    );
    send(&mut ws, "{not json");
    let reply = json(&next_text(&mut ws));
    assert_eq!(reply["error"]["code"], 3);
    assert!(reply["error"]["msg"]
        .as_str()
        .unwrap()
        .starts_with("Invalid JSON"));
    assert_eq!(reply["id"], Value::Null);

    // Spot has no liquidation stream.
    let mut spot = open(&format!("{}/ws", sim.spot_url()));
    send(
        &mut spot,
        r#"{"method":"SUBSCRIBE","params":["btcusdt@forceOrder"],"id":1}"#,
    );
    assert_eq!(
        next_text(&mut spot),
        r#"{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":1}"#
    );
    sim.stop();
}

#[test]
fn unknown_paths_answer_404_and_every_binance_shape_opens() {
    let sim = Simulator::start(config()).unwrap();
    let status = |url: String| match try_open(&url).map_err(|e| *e) {
        Err(Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("{url}: {e}"),
        Ok(_) => 101,
    };
    let futures = sim.futures_url();
    let spot = sim.spot_url();
    // Every shape Binance serves on USDⓈ-M: both routes, and unrouted (served as `/public`);
    // ccxt's `/ws/<n>` and `/<route>/ws/<n>` (then SUBSCRIBE) among them.
    let mut opened = 0;
    for route in ["/public", "/market", ""] {
        for shape in [
            "/ws",
            "/ws/0",
            "/ws/btcusdt@trade",
            "/ws/btcusdt@aggTrade/ethusdt@forceOrder",
            "/stream",
            "/stream?streams=btcusdt@trade/btcusdt@forceOrder",
        ] {
            assert_eq!(
                status(format!("{futures}{route}{shape}")),
                101,
                "{route}{shape}"
            );
            opened += 1;
        }
    }
    for shape in [
        "/ws",
        "/ws/3",
        "/ws/btcusdt@trade",
        "/stream?streams=btcusdt@aggTrade",
    ] {
        assert_eq!(status(format!("{spot}{shape}")), 101, "spot {shape}");
    }
    let mut refused = 0;
    for missing in ["/private/ws", "/market", "/public", "/api/v3/ping", "/"] {
        assert_eq!(status(format!("{futures}{missing}")), 404, "{missing}");
        refused += 1;
    }
    assert_eq!(
        status(format!("{spot}/market/ws")),
        404,
        "spot is not routed"
    );
    assert_eq!(
        status(format!("{spot}/public/ws/0")),
        404,
        "spot is not routed"
    );
    assert_eq!(status(format!("{spot}/ws/btcusdt@nope")), 400);
    assert_eq!(status(format!("{futures}/public/ws/btcusdt@nope")), 400);
    refused += 1;
    let stats = wait_for_stats(&sim, "every handshake counted", |s| {
        s.futures.handshakes_rejected == refused
            && s.futures.connections_accepted == opened
            && s.spot.handshakes_rejected == 3
            && s.spot.connections_accepted == 4
    });
    assert_eq!(stats.futures.connections_accepted, opened);
    sim.stop();
}

/// Reads data frames until `done` holds for their event types (`e`) counted.
fn kinds_until(
    ws: &mut Ws,
    done: impl Fn(&HashMap<String, usize>) -> bool,
) -> HashMap<String, usize> {
    let mut kinds = HashMap::new();
    while !done(&kinds) {
        let frame = json(&next_text(ws));
        let data = frame.get("data").unwrap_or(&frame);
        if let Some(e) = data.get("e").and_then(Value::as_str) {
            *kinds.entry(e.to_owned()).or_insert(0) += 1;
        }
    }
    kinds
}

/// Reads until `n` data frames arrived; their event types counted.
fn kinds_of(ws: &mut Ws, n: usize) -> HashMap<String, usize> {
    kinds_until(ws, |k| k.values().sum::<usize>() >= n)
}

/// Binance's USDⓈ-M routing: each stream only on its tier's route (`@trade` on `/public`,
/// `@aggTrade` and `@forceOrder` on `/market`), unrouted `/ws` and `/stream` act as `/public`,
/// and a stream subscribed on the wrong route is acknowledged, listed, counted and silent.
#[test]
fn usdm_streams_flow_only_on_their_route() {
    let sim = Simulator::start(SimConfig {
        burst_prob: 0.5,
        ..config()
    })
    .unwrap();
    let futures = sim.futures_url();
    let all = r#"["btcusdt@trade","btcusdt@aggTrade","btcusdt@forceOrder"]"#;
    let subscribe = |ws: &mut Ws, id: u32| {
        send(
            ws,
            &format!(r#"{{"method":"SUBSCRIBE","params":{all},"id":{id}}}"#),
        );
        assert_eq!(next_text(ws), format!(r#"{{"result":null,"id":{id}}}"#));
    };
    // `/market` (ccxt's `/market/ws/<n>` shape): aggregates and liquidations, no trade.
    let mut market = open(&format!("{futures}/market/ws/1"));
    subscribe(&mut market, 1);
    let kinds = kinds_until(&mut market, |k| {
        k.get("aggTrade") >= Some(&300) && k.contains_key("forceOrder")
    });
    assert!(!kinds.contains_key("trade"), "{kinds:?}");
    send(&mut market, r#"{"method":"LIST_SUBSCRIPTIONS","id":2}"#);
    assert_eq!(
        next_reply(&mut market),
        format!(r#"{{"result":{all},"id":2}}"#),
        "the misrouted stream is listed"
    );
    assert_eq!(sim.stats().futures.misrouted_subscriptions, 1);
    // `/public` and the unrouted paths: trades only.
    for (n, path) in [(2, "/public/ws/0"), (4, "/ws"), (6, "/ws/0")] {
        let mut ws = open(&format!("{futures}{path}"));
        subscribe(&mut ws, 3);
        let kinds = kinds_of(&mut ws, 200);
        assert_eq!(
            kinds.keys().collect::<Vec<_>>(),
            ["trade"],
            "{path}: {kinds:?}"
        );
        assert_eq!(sim.stats().futures.misrouted_subscriptions, n + 1, "{path}");
    }
    // Streams in the URL are routed the same way: the pre-split plan (`@trade` with
    // `@forceOrder` on `/market`) gets liquidations only; `/public` combined gets trades.
    let mut old = open(&format!(
        "{futures}/market/stream?streams=btcusdt@trade/btcusdt@forceOrder"
    ));
    let mut public = open(&format!(
        "{futures}/public/stream?streams=btcusdt@trade/btcusdt@aggTrade"
    ));
    let kinds = kinds_of(&mut old, 3);
    assert_eq!(
        kinds.keys().collect::<Vec<_>>(),
        ["forceOrder"],
        "{kinds:?}"
    );
    let kinds = kinds_of(&mut public, 100);
    assert_eq!(kinds.keys().collect::<Vec<_>>(), ["trade"], "{kinds:?}");
    assert_eq!(sim.stats().futures.misrouted_subscriptions, 9);
    // Silence, not delay: after plenty of aggregates elsewhere, the next frame on a `/public`
    // connection subscribed to `@aggTrade` only is the reply to a request.
    let mut silent = open(&format!("{futures}/public/ws/btcusdt@aggTrade"));
    let sent = sim.stats().futures.agg_trades_sent;
    wait_for_stats(&sim, "aggregates sent on the /market connection", |s| {
        s.futures.agg_trades_sent >= sent + 200
    });
    send(&mut silent, r#"{"method":"LIST_SUBSCRIPTIONS","id":9}"#);
    assert_eq!(
        next_text(&mut silent),
        r#"{"result":["btcusdt@aggTrade"],"id":9}"#
    );
    assert_eq!(sim.stats().futures.misrouted_subscriptions, 10);
    // Spot is not routed: one connection carries both trade streams.
    let mut spot = open(&format!(
        "{}/stream?streams=btcusdt@trade/btcusdt@aggTrade",
        sim.spot_url()
    ));
    kinds_until(&mut spot, |k| {
        k.contains_key("trade") && k.contains_key("aggTrade")
    });
    assert_eq!(sim.stats().spot.misrouted_subscriptions, 0);
    sim.stop();
}

#[test]
fn futures_frames_include_non_market_trades_aggregates_and_liquidations() {
    let cfg = SimConfig {
        burst_prob: 0.5,
        non_market_prob: 0.1,
        ..config()
    };
    let sim = Simulator::start(cfg).unwrap();
    // Each stream on its route: `@trade` on `/public`, `@aggTrade` and `@forceOrder` on
    // `/market`.
    let mut public = open(&format!(
        "{}/public/stream?streams=btcusdt@trade",
        sim.futures_url()
    ));
    let mut market = open(&format!(
        "{}/market/stream?streams=btcusdt@aggTrade/btcusdt@forceOrder",
        sim.futures_url()
    ));
    let mut aggregates = Vec::new();
    let mut liquidations = 0;
    while liquidations == 0 || aggregates.len() < 300 {
        let text = next_text(&mut market);
        let frame = json(&text);
        let data = &frame["data"];
        match frame["stream"].as_str().unwrap() {
            "btcusdt@aggTrade" => {
                assert_eq!(data["e"], "aggTrade");
                assert!(data["nq"].is_string() && data["st"].is_number(), "{text}");
                aggregates.push(data.clone());
            }
            "btcusdt@forceOrder" => {
                assert_eq!(data["e"], "forceOrder");
                let order = &data["o"];
                assert_eq!(order["s"], "BTCUSDT");
                assert_eq!(order["o"], "LIMIT");
                assert_eq!(order["f"], "IOC");
                assert_eq!(order["X"], "FILLED");
                assert!(order["S"] == "SELL" || order["S"] == "BUY");
                for field in ["q", "p", "ap", "l", "z"] {
                    assert!(order[field].is_string(), "{field} in {text}");
                }
                liquidations += 1;
            }
            other => panic!("unrequested stream {other}"),
        }
    }
    let last_l = aggregates.last().unwrap()["l"].as_u64().unwrap();
    let mut first_t = None;
    let mut last = HashMap::new();
    let mut fills = HashMap::new();
    let mut non_market = 0;
    while last.get("BTCUSDT").is_none_or(|&t| t < last_l) || non_market == 0 {
        let text = next_text(&mut public);
        let frame = json(&text);
        assert_eq!(frame["stream"], "btcusdt@trade");
        let data = &frame["data"];
        assert_eq!(data["e"], "trade");
        let p = data["p"].as_str().unwrap();
        let q = data["q"].as_str().unwrap();
        assert_eq!(p.split('.').nth(1).unwrap().len(), 2, "{text}");
        assert_eq!(q.split('.').nth(1).unwrap().len(), 3, "{text}");
        let t = data["t"].as_u64().unwrap();
        first_t.get_or_insert(t);
        match data["X"].as_str().unwrap() {
            "MARKET" => {
                fills.insert(t, data.clone());
            }
            "INSURANCE_FUND" | "ADL" => non_market += 1,
            other => panic!("X = {other}"),
        }
        check_contiguous(&mut last, "BTCUSDT", t);
    }
    // Every aggregate stands for market fills `f..=l` of one taker order: same price, time
    // and side, `q` their sum; `a` is contiguous.
    let units = |v: &Value| -> u64 { v.as_str().unwrap().replace('.', "").parse().unwrap() };
    let mut several = 0;
    for (i, g) in aggregates.iter().enumerate() {
        if i > 0 {
            assert_eq!(g["a"], aggregates[i - 1]["a"].as_u64().unwrap() + 1);
        }
        let (f, l) = (g["f"].as_u64().unwrap(), g["l"].as_u64().unwrap());
        if first_t.is_some_and(|t| f < t) {
            continue; // generated before the `@trade` connection had subscribed
        }
        several += usize::from(l > f);
        let mut sum = 0;
        for id in f..=l {
            let t = fills.get(&id).unwrap_or_else(|| panic!("fill {id} of {g}"));
            assert_eq!((&t["p"], &t["T"], &t["m"]), (&g["p"], &g["T"], &g["m"]));
            sum += units(&t["q"]);
        }
        assert_eq!(sum, units(&g["q"]), "{g}");
    }
    assert!(several > 0, "some taker orders sweep several fills");
    sim.stop();
}

#[test]
fn pings_arrive_and_silent_clients_are_dropped() {
    let cfg = SimConfig {
        spot_ping: Duration::from_millis(100),
        pong_timeout_spot: Duration::from_millis(400),
        // Pongs count as messages, and at this ping rate there are 10 a second.
        spot_msg_limit: 50,
        ..config()
    };
    let sim = Simulator::start(cfg).unwrap();

    // A client that reads (tungstenite answers pings) outlives several pong windows.
    let mut live = open(&format!("{}/ws", sim.spot_url()));
    live.get_ref()
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut pings = 0;
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        match live.read() {
            Ok(Message::Ping(_)) => pings += 1,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("answering client was dropped: {e}"),
        }
    }
    assert!(pings >= 3, "pings: {pings}");
    // Leave before it stops answering: from now on only the silent client may time out.
    live.close(None).unwrap();
    while live.read().is_ok() {}

    // A client that stops reading after the first ping never sends its pong: dropped.
    let mut silent = open(&format!("{}/ws", sim.spot_url()));
    assert!(matches!(silent.read().unwrap(), Message::Ping(_)));
    wait_for_stats(&sim, "the silent client to be dropped", |s| {
        s.spot.pong_timeouts == 1
    });
    let deadline = Instant::now() + PATIENCE;
    loop {
        match silent.read() {
            Ok(Message::Ping(_)) => assert!(Instant::now() < deadline),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => break, // reset, EOF or broken pipe: the server is gone
        }
    }
    assert_eq!(sim.stats().spot.pong_timeouts, 1, "only the silent client");
    sim.stop();
}

#[test]
fn too_many_messages_close_with_1008() {
    let sim = Simulator::start(config()).unwrap();
    let mut ws = open(&format!("{}/ws", sim.spot_url()));
    for id in 0..10 {
        // Later sends may already find the connection closing.
        let _ = ws.send(Message::text(format!(
            r#"{{"method":"LIST_SUBSCRIPTIONS","id":{id}}}"#
        )));
    }
    let mut replies = 0;
    let close = loop {
        match ws.read() {
            Ok(Message::Text(_)) => replies += 1,
            Ok(Message::Close(frame)) => break frame.expect("close frame with a code"),
            Ok(_) => {}
            Err(e) => panic!("expected a close frame first: {e}"),
        }
    };
    assert_eq!(close.code, CloseCode::Policy);
    assert_eq!(close.reason.as_str(), "Too many requests");
    assert!(
        (1..=5).contains(&replies),
        "spot allows 5 messages a second: {replies}"
    );
    wait_for_stats(&sim, "the rate-limit close", |s| s.spot.rate_limited == 1);
    sim.stop();
}

#[test]
fn client_close_is_honoured_and_stop_says_going_away() {
    let sim = Simulator::start(config()).unwrap();
    let mut leaving = open(&format!("{}/market/ws/ethusdt@aggTrade", sim.futures_url()));
    let mut staying = open(&format!("{}/ws/solusdt@trade", sim.spot_url()));
    wait_for_stats(&sim, "both connections", |s| {
        s.futures.connections_open == 1 && s.spot.connections_open == 1
    });
    leaving.close(None).unwrap();
    loop {
        match leaving.read() {
            Ok(_) => {}
            Err(Error::ConnectionClosed) => break,
            Err(e) => panic!("close handshake: {e}"),
        }
    }
    wait_for_stats(&sim, "the closed connection to go", |s| {
        s.futures.connections_open == 0
    });

    let stopper = std::thread::spawn(move || sim.stop());
    let close = loop {
        if let Message::Close(frame) = staying.read().expect("read until the close") {
            break frame.expect("close code");
        }
    };
    assert_eq!(close.code, CloseCode::Away);
    stopper.join().unwrap();
}

#[test]
fn tape_holds_exactly_the_frames_the_client_received() {
    let dir = tempfile::tempdir().unwrap();
    let tape = dir.path().join("sim.jsonl");
    let cfg = SimConfig {
        tape: Some(tape.clone()),
        max_trades: Some(300),
        non_market_prob: 0.05,
        burst_prob: 0.2,
        ..config()
    };
    let sim = Simulator::start(cfg).unwrap();
    let mut ws = open(&format!("{}/public/ws", sim.futures_url()));
    send(
        &mut ws,
        r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","ethusdt@trade"],"id":1}"#,
    );
    let mut received = vec![next_text(&mut ws)];
    assert_eq!(received[0], r#"{"result":null,"id":1}"#);
    let mut trades = 0;
    let mut last = HashMap::new();
    while trades < 300 {
        let text = next_text(&mut ws);
        let frame = json(&text);
        if frame["e"] == "trade" {
            trades += 1;
            check_contiguous(
                &mut last,
                frame["s"].as_str().unwrap(),
                frame["t"].as_u64().unwrap(),
            );
        }
        received.push(text);
    }
    let stats = wait_for_stats(&sim, "every trade sent", |s| {
        s.futures.trades_generated == 300 && s.futures.trades_sent == 300
    });
    assert_eq!(stats.spot.trades_generated, 0, "nobody subscribed on spot");
    // Stop, and read everything up to the close.
    let stopper = std::thread::spawn(move || sim.stop());
    loop {
        match ws.read().expect("read until the close") {
            Message::Text(t) => received.push(t.as_str().to_owned()),
            Message::Close(_) => break,
            _ => {}
        }
    }
    stopper.join().unwrap();

    let text = std::fs::read_to_string(&tape).unwrap();
    let mut taped = Vec::new();
    let mut conns = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let entry = json(line);
        assert_eq!(entry["venue"], "binance-usdm", "line {}", n + 1);
        assert!(entry["ts_ns"].as_u64().unwrap() > 1_600_000_000_000_000_000);
        conns.push(entry["conn"].as_u64().unwrap());
        taped.push(entry["frame"].as_str().unwrap().to_owned());
    }
    conns.dedup();
    assert_eq!(conns.len(), 1, "one connection");
    assert_eq!(taped, received);
}
