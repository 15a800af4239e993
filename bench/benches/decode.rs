//! Decode cost per message: one venue frame → normalized event(s), with the copy into a
//! receive buffer that the socket loop also pays (simd-json parses in place, so every
//! decode needs a fresh copy of the frame). Binance through its concrete decoder, the other
//! venues through `Venue::decoder()` (a boxed `dyn Decode`, as the engine holds them).
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

/// One representative live trade frame per venue (real frames from the vectors, BitMEX cut
/// to one row; Kraken Futures and COIN-M from the docs-built fixtures), each with the frames
/// it needs first (Bitfinex learns its channel from the `subscribed` event).
const OTHER: &[(&str, Venue, &[&str], &str)] = &[
    (
        "coinbase_match",
        Venue::Coinbase,
        &[],
        r#"{"type":"match","trade_id":1568268,"maker_order_id":"cac01d6d-8009-4c33-8e0d-f7f853d7c1bc","taker_order_id":"3dec64e4-f6ad-4ca8-ad3f-e5b1a0eb0d06","side":"sell","size":"450","price":"0.791","product_id":"SKL-USD","sequence":201390075,"time":"2021-04-17T16:43:37.121358Z"}"#,
    ),
    (
        "coinbase_advanced_market_trades",
        Venue::CoinbaseAdvanced,
        &[],
        r#"{"channel":"market_trades","timestamp":"2026-08-09T21:05:48.251397169Z","sequence_num":9,"events":[{"type":"update","trades":[{"product_id":"BTC-USD","trade_id":"1068572091","price":"65083.67","size":"0.01034361","time":"2026-08-09T21:05:48.167634Z","side":"SELL"}]}]}"#,
    ),
    (
        "kraken_v2_trade",
        Venue::KrakenSpot,
        &[],
        r#"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":83744.3,"qty":0.00044780,"ord_type":"limit","trade_id":109116693,"timestamp":"2026-09-25T17:48:26.844359Z"}]}"#,
    ),
    (
        "kraken_futures_trade",
        Venue::KrakenFutures,
        &[],
        r#"{"feed":"trade","product_id":"PI_XBTUSD","uid":"05af78ac-a774-478c-a50c-8b9c234e071e","side":"sell","type":"fill","seq":653355,"time":1612266317519,"qty":15000,"price":34969.5}"#,
    ),
    (
        "bitmex_trade",
        Venue::Bitmex,
        &[],
        r#"{"table":"trade","action":"insert","data":[{"timestamp":"2021-07-22T22:36:11.685Z","symbol":"XBTUSD","side":"Buy","size":100,"price":32180.5,"tickDirection":"PlusTick","trdMatchID":"6e70bebe-235e-08a6-d11b-e1042bf1f2ed","grossValue":310747,"homeNotional":0.00310747,"foreignNotional":100}]}"#,
    ),
    (
        "deribit_trades",
        Venue::Deribit,
        &[],
        r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.BTC-PERPETUAL.100ms","data":[{"timestamp":1781416501150,"price":64345.0,"amount":30.0,"direction":"buy","index_price":64347.47,"instrument_name":"BTC-PERPETUAL","trade_seq":291801232,"mark_price":64345.22,"tick_direction":2,"contracts":3.0,"trade_id":"433949015"}]}}"#,
    ),
    (
        "bitfinex_te",
        Venue::Bitfinex,
        &[
            r#"{"event":"subscribed","channel":"trades","chanId":17470,"symbol":"tBTCUSD","pair":"BTCUSD"}"#,
        ],
        r#"[17470,"te",[401597395,1574694478808,0.005,7245.3]]"#,
    ),
    (
        "binance_coinm_aggtrade",
        Venue::BinanceCoinm,
        &[],
        r#"{"stream":"btcusd_perp@aggTrade","data":{"e":"aggTrade","E":1591261134288,"a":5933014,"s":"BTCUSD_PERP","p":"50000.0","q":"3","f":100,"l":105,"T":1591261134150,"m":true}}"#,
    ),
];

fn other_venues(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(1));
    for &(name, venue, setup, frame) in OTHER {
        let mut decoder = venue.decoder();
        let mut buf = Vec::with_capacity(4096);
        for line in setup {
            buf.clear();
            buf.extend_from_slice(line.as_bytes());
            let _ = decoder.decode(&mut buf, &mut |_| {});
        }
        buf.clear();
        buf.extend_from_slice(frame.as_bytes());
        let got = decoder.decode(&mut buf, &mut |_| {});
        assert_eq!(got, Ok(Frame::Data(1)), "{name}");
        group.bench_function(name, |b| {
            b.iter(|| {
                buf.clear();
                buf.extend_from_slice(black_box(frame.as_bytes()));
                let mut price = 0;
                let got = decoder.decode(&mut buf, &mut |e| price = e.price.mantissa);
                black_box((got, price))
            })
        });
    }
    group.finish();
}

/// One representative single-trade frame per venue (150–300 bytes, from the shared vectors or
/// the docs-based fixtures). HTX is measured on the gzip-compressed frame it really sends.
const OTHER_VENUES: &[(&str, Venue, &str)] = &[
    (
        "bybit_linear_trade",
        Venue::BybitLinear,
        r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1786310821073,"data":[{"T":1786310821072,"s":"BTCUSDT","S":"Buy","v":"0.009","p":"65114.30","L":"PlusTick","i":"c357a7ba-f1ba-5dfc-9e6e-3f4afe1b72dd","BT":false,"RPI":false,"seq":753843990926}]}"#,
    ),
    (
        "bybit_spot_trade",
        Venue::BybitSpot,
        r#"{"topic":"publicTrade.BTCUSDT","ts":1786310822606,"type":"snapshot","data":[{"i":"2290000001189048101","T":1786310822605,"p":"65140.5","v":"0.002705","S":"Buy","seq":112488547164,"s":"BTCUSDT","BT":false,"RPI":false}]}"#,
    ),
    (
        "okx_swap_trade",
        Venue::OkxSwap,
        r#"{"arg":{"channel":"trades","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP","tradeId":"2701364977","px":"64311","sz":"31.27","side":"buy","ts":"1781416584831","count":"8","source":"0","seqId":323647402789}]}"#,
    ),
    (
        "bitget_trade",
        Venue::BitgetSpot,
        r#"{"action":"update","arg":{"instType":"SPOT","channel":"trade","instId":"BTCUSDT"},"data":[{"ts":"1788335044055","price":"77600.75","size":"0.001352","side":"buy","tradeId":"1478949856623706112"}],"ts":1788335044056}"#,
    ),
    (
        "hyperliquid_trade",
        Venue::Hyperliquid,
        r#"{"channel":"trades","data":[{"coin":"BTC","side":"A","px":"84143.0","sz":"0.00036","time":1790232216193,"hash":"0x7ab608dad75f7ce37c2f044516391f02023a00c072529bb51e7eb42d965356ce","tid":1045359869404765,"users":["0x9aa589355bf745db9784c8ef3c646360f11b58af","0x8269c0a4f5f1a14582e0aa46856a234893c41970"]}]}"#,
    ),
    (
        "huobi_trade_gzip",
        Venue::Huobi,
        r#"{"ch":"market.btcusdt.trade.detail","ts":1630994963175,"tick":{"id":137005445109,"ts":1630994963173,"data":[{"id":137005445109359286410323766,"ts":1630994963173,"tradeId":102523573486,"amount":0.006754,"price":52648.62,"direction":"buy"}]}}"#,
    ),
    (
        "gate_futures_trade",
        Venue::GateFutures,
        r#"{"channel":"futures.trades","event":"update","time":1733904000,"time_ms":1733904000481,"result":[{"size":-108,"id":27753479,"create_time":1733904000,"create_time_ms":1733904000477,"price":"101523.4","contract":"BTC_USDT"}]}"#,
    ),
];

fn gzip(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).expect("in-memory gzip");
    e.finish().expect("in-memory gzip")
}

fn group_a_venues(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(1));
    for (name, venue, text) in OTHER_VENUES {
        let frame = if matches!(venue, Venue::Huobi | Venue::HuobiSwap) {
            gzip(text)
        } else {
            text.as_bytes().to_vec()
        };
        let mut decoder = venue.decoder();
        let mut buf = frame.clone();
        let checked = decoder.decode(&mut buf, &mut |_| {});
        assert_eq!(checked, Ok(Frame::Data(1)), "{name} decodes to one event");
        group.bench_function(*name, |b| {
            b.iter(|| {
                buf.clear();
                buf.extend_from_slice(black_box(&frame));
                let mut price = 0;
                let got = decoder.decode(&mut buf, &mut |e| price = e.price.mantissa);
                debug_assert_eq!(got, Ok(Frame::Data(1)));
                black_box((got, price))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, binance, other_venues, group_a_venues);
criterion_main!(benches);
