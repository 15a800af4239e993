//! Steady-state decoding allocates nothing, on every built venue: a counting global allocator
//! watches tens of thousands of frames decoded after a warm-up.
//!
//! Only allocations made by the measuring thread while it is measuring are counted, so the
//! harness's other threads (and tests running in parallel) cannot disturb the count.

mod common;
mod support;

use feeds::binance::Decoder;
use feeds::{Decode, DecodeError, Event, Frame, Venue};

/// Allocations made by this thread while running `f` (the shared per-thread counting
/// allocator in `tests/common`).
fn allocations_during(f: impl FnOnce()) -> u64 {
    common::count_allocations(f).1 as u64
}

/// A few hundred distinct frames of every shape the hot path sees, built up front.
fn frames() -> Vec<(Venue, Vec<u8>)> {
    let mut frames = Vec::new();
    for i in 0..250u64 {
        let price = 60_000 + i * 7;
        let spot_raw = format!(
            r#"{{"e":"trade","E":{e},"s":"BTCUSDT","t":{id},"p":"{price}.{frac:08}","q":"0.{qty:08}","T":{e},"m":{m},"M":true}}"#,
            e = 1_787_315_652_708 + i,
            id = 6_595_931_385 + i,
            frac = i * 13,
            qty = 40_000 + i,
            m = i % 2 == 0,
        );
        let spot_combined = format!(r#"{{"stream":"btcusdt@trade","data":{spot_raw}}}"#);
        let usdm_agg = format!(
            r#"{{"stream":"btcusdt@aggTrade","data":{{"e":"aggTrade","E":{e},"a":{id},"s":"BTCUSDT","p":"{price}.{frac}0","q":"0.{qty:03}","nq":"0.016","f":{f},"l":{l},"T":{e},"m":true,"st":1}}}}"#,
            e = 1_791_391_082_024 + i,
            id = 3_478_018_549 + i,
            frac = i % 10,
            qty = 1 + i,
            f = 8_154_045_700 + i * 5,
            l = 8_154_045_704 + i * 5,
        );
        let usdm_force = format!(
            r#"{{"stream":"!forceOrder@arr","data":{{"e":"forceOrder","E":{e},"o":{{"s":"ETHUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"{qty}.5","p":"3338.30","ap":"{price}.90","X":"FILLED","l":"0.155","z":"{qty}.5","T":{e},"ps":"BTCUSDT","st":1}}}}}}"#,
            e = 1_791_565_603_055 + i,
            qty = 1 + i,
        );
        frames.push((Venue::BinanceSpot, spot_raw.into_bytes()));
        frames.push((Venue::BinanceSpot, spot_combined.into_bytes()));
        frames.push((Venue::BinanceUsdm, usdm_agg.into_bytes()));
        frames.push((Venue::BinanceUsdm, usdm_force.into_bytes()));
    }
    frames
}

/// Decode every frame of `frames` in turn, `rounds` frames in all, copying each into one
/// reused receive buffer first (as the socket loop does). Returns the events emitted.
fn run(
    frames: &[(Venue, Vec<u8>)],
    spot: &mut Decoder,
    usdm: &mut Decoder,
    buf: &mut Vec<u8>,
    rounds: usize,
) -> u64 {
    let mut events = 0u64;
    let mut last_ts = 0i64;
    let mut count = |e: Event| {
        events += 1;
        last_ts = e.ts_us;
    };
    for i in 0..rounds {
        let (venue, frame) = &frames[i % frames.len()];
        buf.clear();
        buf.extend_from_slice(frame);
        let decoder = if *venue == Venue::BinanceSpot {
            &mut *spot
        } else {
            &mut *usdm
        };
        let got = decoder.decode(buf, &mut count);
        assert_eq!(got, Ok(Frame::Data(1)), "frame {i}");
    }
    assert!(last_ts > 0);
    events
}

#[test]
fn steady_state_trade_decoding_does_not_allocate() {
    let frames = frames();
    let mut spot = Decoder::new(Venue::BinanceSpot);
    let mut usdm = Decoder::new(Venue::BinanceUsdm);
    let mut buf = Vec::with_capacity(4096);

    // Warm-up: let every buffer reach its working size.
    run(&frames, &mut spot, &mut usdm, &mut buf, frames.len());

    const MEASURED: usize = 100_000;
    let mut events = 0;
    let allocations = allocations_during(|| {
        events = run(&frames, &mut spot, &mut usdm, &mut buf, MEASURED);
    });
    assert_eq!(events, MEASURED as u64, "every frame produced one event");
    assert_eq!(
        allocations, 0,
        "allocations while decoding {MEASURED} frames"
    );
}

#[test]
fn control_frames_and_bad_frames_do_not_allocate() {
    let frames: [(&str, Result<Frame, DecodeError>); 6] = [
        (r#"{"result":null,"id":1}"#, Ok(Frame::SubscribeAck)),
        (
            r#"{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":1}"#,
            Ok(Frame::VenueError { code: 2 }),
        ),
        (
            r#"{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1770123456789}}"#,
            Ok(Frame::ServerShutdown),
        ),
        (
            r#"{"stream":"btcusdt@markPrice","data":{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"1"}}"#,
            Ok(Frame::Other),
        ),
        (
            r#"{"e":"aggTrade","E":1781416576889,"s":"BTCUSDT","a":3988316038,"p":"64348.9"#,
            Err(DecodeError::Malformed),
        ),
        (
            r#"{"e":"trade","s":"BTCUSDT","p":"x","q":"1","T":1,"m":true,"t":1}"#,
            Err(DecodeError::Number("p")),
        ),
    ];
    let mut decoder = Decoder::new(Venue::BinanceUsdm);
    let mut buf = Vec::with_capacity(4096);
    let pass = |decoder: &mut Decoder, buf: &mut Vec<u8>| {
        for (frame, want) in &frames {
            buf.clear();
            buf.extend_from_slice(frame.as_bytes());
            assert_eq!(&decoder.decode(buf, &mut |_| {}), want, "{frame}");
        }
    };
    pass(&mut decoder, &mut buf);
    let allocations = allocations_during(|| {
        for _ in 0..1000 {
            pass(&mut decoder, &mut buf);
        }
    });
    assert_eq!(allocations, 0);
}

/// The counter is live: a decoder built per frame (no reused buffers) does allocate.
#[test]
fn counter_sees_allocations_inside_decode() {
    let frame = br#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":1,"m":true}"#;
    let mut buf = frame.to_vec();
    let allocations = allocations_during(|| {
        let mut decoder = Decoder::new(Venue::BinanceSpot);
        assert_eq!(decoder.decode(&mut buf, &mut |_| {}), Ok(Frame::Data(1)));
    });
    assert!(allocations > 0);
}

/// Raw lines of a vector file (a docs-built fixture or a recording).
fn vector_lines(p: &std::path::Path) -> Vec<Vec<u8>> {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("cannot read {} ({e})", p.display()))
        .lines()
        .map(|l| l.as_bytes().to_vec())
        .collect()
}

/// Per venue: every line of its vectors (acks, errors, snapshots, malformed lines, …) and
/// 200 distinct generated trade frames. The files of venues with recordings are read from
/// `recorded` (this crate's fixtures, or the recordings of `conformance/decode_alloc.rs`); Kraken Futures and
/// COIN-M always from the fixtures.
fn other_venue_frames(recorded: &std::path::Path) -> Vec<(Venue, Vec<Vec<u8>>)> {
    let fixtures = support::fixtures();
    let mut out = Vec::new();
    for (venue, files) in [
        (
            Venue::Coinbase,
            vec![recorded.join("coinbase_exchange.jsonl")],
        ),
        (
            Venue::CoinbaseAdvanced,
            vec![recorded.join("coinbase_advanced.jsonl")],
        ),
        (
            Venue::KrakenSpot,
            vec![
                recorded.join("kraken_v2.jsonl"),
                recorded.join("kraken_v1.jsonl"),
            ],
        ),
        (
            Venue::KrakenFutures,
            vec![fixtures.join("kraken_futures.jsonl")],
        ),
        (Venue::Bitmex, vec![recorded.join("bitmex.jsonl")]),
        (Venue::Deribit, vec![recorded.join("deribit.jsonl")]),
        (Venue::Bitfinex, vec![recorded.join("bitfinex.jsonl")]),
        (
            Venue::BinanceCoinm,
            vec![fixtures.join("binance_coinm.jsonl")],
        ),
    ] {
        let mut frames: Vec<Vec<u8>> = files.iter().flat_map(|f| vector_lines(f)).collect();
        if venue == Venue::Bitfinex {
            // The channel the generated Bitfinex frames below arrive on.
            frames.push(
                br#"{"event":"subscribed","channel":"trades","chanId":856834,"symbol":"tBTCUSD","pair":"BTCUSD"}"#
                    .to_vec(),
            );
        }
        for i in 0..200u64 {
            let (price, qty, ms, id) = (
                60_000 + i * 7,
                1 + i,
                1_781_416_501_150 + i,
                433_949_015 + i,
            );
            let side = if i % 2 == 0 { "buy" } else { "sell" };
            let frame = match venue {
                Venue::Coinbase => format!(
                    r#"{{"type":"match","trade_id":{id},"maker_order_id":"a","taker_order_id":"b","side":"{side}","size":"0.{qty:04}","price":"{price}.5","product_id":"BTC-USD","sequence":1,"time":"2021-04-17T16:43:37.{:06}Z"}}"#,
                    i * 13
                ),
                Venue::CoinbaseAdvanced => format!(
                    r#"{{"channel":"market_trades","timestamp":"2026-08-09T21:05:48.251397169Z","sequence_num":{i},"events":[{{"type":"update","trades":[{{"product_id":"BTC-USD","trade_id":"{id}","price":"{price}.67","size":"0.{qty:08}","time":"2026-08-09T21:05:48.167634Z","side":"SELL"}}]}}]}}"#
                ),
                Venue::KrakenSpot => format!(
                    r#"{{"channel":"trade","type":"update","data":[{{"symbol":"BTC/USD","side":"{side}","price":{price}.3,"qty":0.{qty:08},"ord_type":"limit","trade_id":{id},"timestamp":"2026-09-25T17:48:26.844359Z"}}]}}"#
                ),
                Venue::KrakenFutures => format!(
                    r#"{{"feed":"trade","product_id":"PI_XBTUSD","uid":"05af78ac-a774-478c-a50c-8b9c234e071e","side":"{side}","type":"fill","seq":{i},"time":{ms},"qty":{qty}000,"price":{price}.5}}"#
                ),
                Venue::Bitmex => format!(
                    r#"{{"table":"trade","action":"insert","data":[{{"timestamp":"2021-07-22T22:36:11.685Z","symbol":"XBTUSD","side":"Buy","size":100,"price":{price}.5,"tickDirection":"PlusTick","trdMatchID":"6e70bebe-235e-08a6-d11b-e1042bf1f2ed","grossValue":310747,"homeNotional":0.00{qty:06},"foreignNotional":100}}]}}"#
                ),
                Venue::Deribit => format!(
                    r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"trades.BTC-PERPETUAL.100ms","data":[{{"timestamp":{ms},"price":{price}.0,"amount":{qty}0.0,"direction":"{side}","index_price":64347.47,"instrument_name":"BTC-PERPETUAL","trade_seq":291801232,"mark_price":64345.22,"tick_direction":2,"contracts":3.0,"trade_id":"{id}"}}]}}}}"#
                ),
                Venue::Bitfinex => format!(r#"[856834,"te",[{id},{ms},-0.{qty:06},{price}]]"#),
                _ => format!(
                    r#"{{"stream":"btcusd_perp@aggTrade","data":{{"e":"aggTrade","E":{ms},"a":{id},"s":"BTCUSD_PERP","p":"{price}.0","q":"{qty}","f":100,"l":105,"T":{ms},"m":true}}}}"#
                ),
            };
            frames.push(frame.into_bytes());
        }
        out.push((venue, frames));
    }
    out
}

#[test]
fn other_venues_steady_state_does_not_allocate() {
    steady_state_allocates_nothing(other_venue_frames(&support::fixtures()));
}

#[path = "conformance/decode_alloc.rs"]
mod conformance;

fn steady_state_allocates_nothing(venues: Vec<(Venue, Vec<Vec<u8>>)>) {
    let mut decoders: Vec<Box<dyn Decode + Send>> =
        venues.iter().map(|(v, _)| v.decoder()).collect();
    let mut buf = Vec::with_capacity(4096);
    let pass = |decoders: &mut [Box<dyn Decode + Send>], buf: &mut Vec<u8>| {
        let (mut events, mut ok) = (0u64, 0u64);
        for ((_, frames), decoder) in venues.iter().zip(decoders.iter_mut()) {
            for frame in frames {
                buf.clear();
                buf.extend_from_slice(frame);
                if decoder.decode(buf, &mut |_| events += 1).is_ok() {
                    ok += 1;
                }
            }
        }
        (events, ok)
    };
    // Warm-up: buffers reach their working size, Bitfinex learns its channels.
    let warm = pass(&mut decoders, &mut buf);
    let mut measured = (0, 0);
    let allocations = allocations_during(|| {
        for _ in 0..20 {
            let (e, o) = pass(&mut decoders, &mut buf);
            measured = (measured.0 + e, measured.1 + o);
        }
    });
    assert!(warm.0 > 1600, "events in one pass: {}", warm.0);
    assert_eq!(
        measured,
        (warm.0 * 20, warm.1 * 20),
        "every pass decodes alike"
    );
    assert_eq!(
        allocations,
        0,
        "allocations while decoding {} frames",
        warm.1 * 20
    );
}

/// Frames of every other venue adapter, a few hundred distinct ones, each producing events:
/// trades, liquidations, open interest, contract conversions (linear and inverse), and HTX
/// gzip frames (inflated into the decoder's own buffer).
fn group_a_venue_frames() -> Vec<(Venue, Vec<u8>)> {
    use flate2::write::GzEncoder;
    use std::io::Write;
    let gzip = |text: &str| {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    let mut frames = Vec::new();
    for i in 0..100u64 {
        let t = 1_786_310_821_322 + i;
        let frac = i % 100;
        let side = if i % 2 == 0 { "Buy" } else { "Sell" };
        let lower = side.to_ascii_lowercase();
        frames.push((Venue::BybitLinear, format!(
            r#"{{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":{t},"data":[{{"T":{t},"s":"BTCUSDT","S":"{side}","v":"0.0{qty}","p":"65114.{frac:02}","L":"MinusTick","i":"a9188a0a-82bc-50de-be60-03eedbe3{i:04x}","BT":false,"RPI":false,"seq":{t}}}]}}"#,
            qty = i + 1
        ).into_bytes()));
        frames.push((Venue::BybitLinear, format!(
            r#"{{"topic":"allLiquidation.BTCUSDT","type":"snapshot","ts":{t},"data":[{{"T":{t},"s":"BTCUSDT","S":"{side}","v":"0.{qty:03}","p":"82396.{frac}"}}]}}"#,
            qty = i + 1
        ).into_bytes()));
        frames.push((Venue::BybitLinear, format!(
            r#"{{"topic":"tickers.BTCUSDT","type":"delta","data":{{"symbol":"BTCUSDT","markPrice":"65117.{frac}","openInterest":"5{i}123.4"}},"cs":1,"ts":{t}}}"#
        ).into_bytes()));
        frames.push((Venue::BybitInverse, format!(
            r#"{{"topic":"publicTrade.BTCUSD","ts":{t},"data":[{{"T":{t},"s":"BTCUSD","S":"{side}","v":"{usd}","p":"65114.{frac}","i":"c357a7ba-f1ba-5dfc-9e6e-3f4afe1b{i:04x}"}}]}}"#,
            usd = 100 + i
        ).into_bytes()));
        frames.push((Venue::BybitSpot, format!(
            r#"{{"topic":"publicTrade.ETHUSDT","ts":{t},"type":"snapshot","data":[{{"i":"{id}","T":{t},"p":"1923.{frac}","v":"0.0{i}1","S":"{side}","seq":1,"s":"ETHUSDT","BT":false,"RPI":false}}]}}"#,
            id = 2_280_000_001_739_247_417 + i
        ).into_bytes()));
        frames.push((Venue::OkxSwap, format!(
            r#"{{"arg":{{"channel":"trades","instId":"BTC-USDT-SWAP"}},"data":[{{"instId":"BTC-USDT-SWAP","tradeId":"{id}","px":"64311.{frac}","sz":"{i}.27","side":"{lower}","ts":"{t}","count":"8","source":"0","seqId":1}}]}}"#,
            id = 2_701_364_977 + i
        ).into_bytes()));
        frames.push((Venue::OkxSwap, format!(
            r#"{{"arg":{{"channel":"trades","instId":"UNI-USD-SWAP"}},"data":[{{"instId":"UNI-USD-SWAP","tradeId":"{id}","px":"5.1{frac}","sz":"1{i}","side":"{lower}","ts":"{t}"}}]}}"#,
            id = 12_883_020 + i
        ).into_bytes()));
        frames.push((Venue::OkxSwap, format!(
            r#"{{"arg":{{"channel":"liquidation-orders","instType":"SWAP"}},"data":[{{"details":[{{"bkLoss":"0","bkPx":"82655.{frac}","ccy":"","posSide":"long","side":"sell","sz":"8.5{i}","ts":"{t}"}}],"instFamily":"BTC-USDT","instId":"BTC-USDT-SWAP","instType":"SWAP","uly":"BTC-USDT"}}]}}"#
        ).into_bytes()));
        frames.push((Venue::OkxSwap, format!(
            r#"{{"arg":{{"channel":"open-interest","instId":"BTC-USDT-SWAP"}},"data":[{{"instId":"BTC-USDT-SWAP","instType":"SWAP","oi":"2216113.01","oiCcy":"22161.{i}","oiUsd":"1939251795.5","ts":"{t}"}}]}}"#
        ).into_bytes()));
        frames.push((Venue::BitgetSpot, format!(
            r#"{{"action":"update","arg":{{"instType":"SPOT","channel":"trade","instId":"BTCUSDT"}},"data":[{{"ts":"{t}","price":"77600.{frac}","size":"0.00{i}2","side":"{lower}","tradeId":"{id}"}}],"ts":{t}}}"#,
            id = 1_478_949_856_623_706_112 + i
        ).into_bytes()));
        frames.push((Venue::Bitget, format!(
            r#"{{"action":"update","arg":{{"instType":"USDT-FUTURES","channel":"trade","instId":"BTCUSDT"}},"data":[{{"ts":"{t}","price":"77600.{frac}","size":"0.0{i}1","side":"{lower}","tradeId":"{id}"}}],"ts":{t}}}"#,
            id = 1_111_111_111 + i
        ).into_bytes()));
        frames.push((Venue::Hyperliquid, format!(
            r#"{{"channel":"trades","data":[{{"coin":"BTC","side":"{hl}","px":"64411.{frac}","sz":"0.3{i}","time":{t},"hash":"0x7f58708caf49d86c80d2043dae4bfc00009388724a4cf73e23211bdf6e4db257","tid":{id},"users":["0xe9bee85af94c8234270523992447e631d27d2146","0xf9109ada2f73c62e9889b45453065f0d99260a2d"]}}]}}"#,
            hl = if i % 2 == 0 { "B" } else { "A" },
            id = 828_642_708_897_583 + i
        ).into_bytes()));
        frames.push((Venue::Huobi, gzip(&format!(
            r#"{{"ch":"market.btcusdt.trade.detail","ts":{t},"tick":{{"id":1,"ts":{t},"data":[{{"id":137005445109359286410323766,"ts":{t},"tradeId":{id},"amount":0.00{i}1,"price":52648.{frac},"direction":"{lower}"}}]}}}}"#,
            id = 102_523_573_486 + i
        ))));
        frames.push((Venue::HuobiSwap, gzip(&format!(
            r#"{{"ch":"market.BTC-USDT.trade.detail","ts":{t},"tick":{{"id":1,"ts":{t},"data":[{{"amount":2,"ts":{t},"id":{id},"price":13073.{frac},"direction":"{lower}","quantity":0.00{i}2,"trade_turnover":26.1466}}]}}}}"#,
            id = 1_316_022_650_000 + i
        ))));
        frames.push((Venue::GateFutures, format!(
            r#"{{"channel":"futures.trades","event":"update","time":1,"time_ms":{t},"result":[{{"size":{size},"id":{id},"create_time":1,"create_time_ms":{t},"price":"101523.{frac}","contract":"BTC_USDT"}}]}}"#,
            size = if i % 2 == 0 { 100 + i as i64 } else { -(100 + i as i64) },
            id = 27_753_479 + i
        ).into_bytes()));
    }
    frames
}

#[test]
fn group_a_venues_steady_state_decoding_does_not_allocate() {
    let frames = group_a_venue_frames();
    let mut decoders: Vec<(Venue, Box<dyn Decode + Send>)> = Vec::new();
    for (venue, _) in &frames {
        if !decoders.iter().any(|(v, _)| v == venue) {
            decoders.push((*venue, venue.decoder()));
        }
    }
    let mut buf = Vec::with_capacity(4096);
    let mut run = |decoders: &mut Vec<(Venue, Box<dyn Decode + Send>)>, rounds: usize| {
        let mut events = 0u64;
        for i in 0..rounds {
            let (venue, frame) = &frames[i % frames.len()];
            let Some((_, decoder)) = decoders.iter_mut().find(|(v, _)| v == venue) else {
                panic!("no decoder for {venue}");
            };
            buf.clear();
            buf.extend_from_slice(frame);
            let got = decoder.decode(&mut buf, &mut |e| {
                assert!(e.ts_us > 0);
                events += 1;
            });
            assert_eq!(got, Ok(Frame::Data(1)), "{venue} frame {i}");
        }
        events
    };
    run(&mut decoders, frames.len());
    const MEASURED: usize = 60_000;
    let mut events = 0;
    let allocations = allocations_during(|| events = run(&mut decoders, MEASURED));
    assert_eq!(events, MEASURED as u64, "every frame produced one event");
    assert_eq!(
        allocations, 0,
        "allocations while decoding {MEASURED} frames"
    );
}

#[test]
fn group_a_venues_control_frames_do_not_allocate() {
    let cases: Vec<(Venue, Vec<u8>, Result<Frame, DecodeError>)> = vec![
        (Venue::BybitLinear, br#"{"success":true,"ret_msg":"pong","conn_id":"x","req_id":"","op":"ping"}"#.to_vec(), Ok(Frame::Other)),
        (Venue::BybitLinear, br#"{"success":true,"ret_msg":"","conn_id":"x","req_id":"","op":"subscribe"}"#.to_vec(), Ok(Frame::SubscribeAck)),
        (Venue::OkxSwap, b"pong".to_vec(), Ok(Frame::Other)),
        (Venue::OkxSwap, br#"{"event":"error","msg":"x","code":"60018","connId":"25ebf8bb"}"#.to_vec(), Ok(Frame::VenueError { code: 60018 })),
        (Venue::OkxSwap, br#"{"arg":{"channel":"trades","instId":"DOGE-USDT-SWAP"},"data":[{"instId":"DOGE-USDT-SWAP","tradeId":"1","px":"1","sz":"1","side":"buy","ts":"1"}]}"#.to_vec(), Err(DecodeError::Instrument)),
        (Venue::Bitget, b"pong".to_vec(), Ok(Frame::Other)),
        (Venue::Hyperliquid, br#"{"channel":"pong"}"#.to_vec(), Ok(Frame::Other)),
        (Venue::Huobi, br#"{"ping":1492420473027}"#.to_vec(), Ok(Frame::Ping(1492420473027))),
        (Venue::Huobi, vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255, 1, 2], Err(DecodeError::Inflate)),
        (Venue::GateFutures, br#"{"time":1,"time_ms":1,"channel":"futures.pong","event":"","result":null}"#.to_vec(), Ok(Frame::Other)),
        (Venue::GateFutures, br#"{"channel":"futures.trades","event":"update","result":[{"size":-1"#.to_vec(), Err(DecodeError::Malformed)),
    ];
    let mut decoders: Vec<Box<dyn Decode + Send>> =
        cases.iter().map(|(v, _, _)| v.decoder()).collect();
    let mut buf = Vec::with_capacity(4096);
    let mut pass = |decoders: &mut Vec<Box<dyn Decode + Send>>| {
        for ((venue, frame, want), decoder) in cases.iter().zip(decoders.iter_mut()) {
            buf.clear();
            buf.extend_from_slice(frame);
            assert_eq!(&decoder.decode(&mut buf, &mut |_| {}), want, "{venue}");
        }
    };
    pass(&mut decoders);
    let allocations = allocations_during(|| {
        for _ in 0..1000 {
            pass(&mut decoders);
        }
    });
    assert_eq!(allocations, 0);
}
