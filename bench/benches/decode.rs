//! Decode cost per message: one Binance frame → normalized event, with the copy into a
//! receive buffer that the socket loop also pays (simd-json parses in place, so every
//! decode needs a fresh copy of the frame).
//!
//! `cargo bench -p bench --bench decode` (add `-- --quick` for a short run). Frames are
//! real ones from shared/reference/vectors.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use feeds::binance::Decoder;
use feeds::{Decode, Frame, Venue};

const SPOT_TRADE_RAW: &str = r#"{"e":"trade","E":1778656560209,"s":"BTCUSDT","t":6291886372,"p":"80153.50000000","q":"0.00024000","T":1778656560209,"m":false,"M":true}"#;
const SPOT_TRADE_COMBINED: &str = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1787315652708,"s":"BTCUSDT","t":6595931385,"p":"76650.00000000","q":"0.00040000","T":1787315652707,"m":true,"M":true}}"#;
const USDM_AGG_TRADE: &str = r#"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1791391082024,"a":3478018549,"s":"BTCUSDT","p":"83434.40","q":"0.016","nq":"0.016","f":8154045700,"l":8154045704,"T":1791391081874,"m":true,"st":1}}"#;
const USDM_FORCE_ORDER: &str = r#"{"stream":"!forceOrder@arr","data":{"e":"forceOrder","E":1791565603055,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.190","p":"82338.30","ap":"82651.90","X":"FILLED","l":"0.155","z":"0.190","T":1791565602120,"ps":"BTCUSDT","st":1}}}"#;

fn binance(c: &mut Criterion) {
    let cases = [
        ("binance_spot_trade_raw", Venue::BinanceSpot, SPOT_TRADE_RAW),
        (
            "binance_spot_trade_combined",
            Venue::BinanceSpot,
            SPOT_TRADE_COMBINED,
        ),
        ("binance_usdm_aggtrade", Venue::BinanceUsdm, USDM_AGG_TRADE),
        (
            "binance_usdm_forceorder",
            Venue::BinanceUsdm,
            USDM_FORCE_ORDER,
        ),
    ];
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(1));
    for (name, venue, frame) in cases {
        let mut decoder = Decoder::new(venue);
        let mut buf = Vec::with_capacity(4096);
        group.bench_function(name, |b| {
            b.iter(|| {
                buf.clear();
                buf.extend_from_slice(black_box(frame.as_bytes()));
                let mut price = 0;
                let got = decoder.decode(&mut buf, &mut |e| price = e.price.mantissa);
                debug_assert_eq!(got, Ok(Frame::Data(1)));
                black_box((got, price))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, binance);
criterion_main!(benches);
