//! Steady-state Binance decoding allocates nothing: a counting global allocator watches
//! 100 000 frames decoded after a warm-up.
//!
//! Only allocations made by the measuring thread while it is measuring are counted, so the
//! harness's other threads (and tests running in parallel) cannot disturb the count.

mod common;

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
