//! The open-interest series: store round trip, damaged files refused with errors that name
//! them, and replay of venue frames into the exact per-second series (the frames of feeds'
//! fixtures, written from the venues' docs; recorded ones in the optional test of
//! `conformance/oi.rs`).

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use engine::replay::Replay;
use engine::store::{
    oi_day_path, resample_oi, OiPoint, OiReader, OiWriter, Store, StoreError, HEADER_SIZE,
    OI_SLOT_SIZE, SLOTS_PER_DAY,
};
use feeds::Decimal;

/// 2026-02-10, a day number well inside the range file names hold.
const DAY: i64 = 20_494;
const DAY_MS: i64 = 86_400_000;

/// feeds' fixtures (`feeds/tests/fixtures`, written from the venues' docs).
fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../feeds/tests/fixtures")
}

/// Line `n` (1-based) of `dir/file`.
fn vector_line(dir: &Path, file: &str, n: usize) -> String {
    let path = dir.join(file);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .nth(n - 1)
        .unwrap_or_else(|| panic!("{file} has no line {n}"))
        .to_string()
}

fn exact(text: &str) -> f64 {
    Decimal::parse(text.as_bytes()).unwrap().to_f64()
}

#[test]
fn readings_round_trip_last_of_a_second_wins_and_reopen_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let id = "BYBIT:BTCUSDT";
    let day_start_us = DAY * DAY_MS * 1000;
    {
        let mut w = OiWriter::open_or_create(root, id, DAY).unwrap();
        assert_eq!(w.path(), oi_day_path(root, id, DAY).unwrap());
        assert_eq!(
            w.path(),
            root.join("oi/1s/BYBIT/BTCUSDT/2026-02-10.oi"),
            "documented path"
        );
        w.write(0, 100.5, 65_000.25, day_start_us + 1_000);
        w.write(0, 101.25, 65_001.0, day_start_us + 900_000); // same second: replaces
        w.write(86_399, 7.0, 0.0, day_start_us + 86_399_123_456);
        w.write(SLOTS_PER_DAY, 1.0, 1.0, 1); // out of range: ignored
        let mut next = OiWriter::open_or_create(root, id, DAY + 1).unwrap();
        next.write(5, 42.0, 1.5, day_start_us + DAY_MS * 1000 + 5_000_001);
    }
    let len = fs::metadata(oi_day_path(root, id, DAY).unwrap())
        .unwrap()
        .len();
    assert_eq!(
        len,
        (HEADER_SIZE + SLOTS_PER_DAY as usize * OI_SLOT_SIZE) as u64
    );

    // Reopening for writing validates and keeps what is there.
    let mut w = OiWriter::open_or_create(root, id, DAY).unwrap();
    w.write(10, 3.0, 2.0, day_start_us + 10_000_000);
    drop(w);

    let r = OiReader::open(&oi_day_path(root, id, DAY).unwrap()).unwrap();
    assert_eq!((r.market_id(), r.day()), (id, DAY));
    let all: Vec<OiPoint> = r.iter().collect();
    let day_ms = DAY * DAY_MS;
    assert_eq!(
        all,
        vec![
            OiPoint {
                time_ms: day_ms,
                oi: 101.25,
                price: 65_001.0,
                ts_us: day_start_us + 900_000
            },
            OiPoint {
                time_ms: day_ms + 10_000,
                oi: 3.0,
                price: 2.0,
                ts_us: day_start_us + 10_000_000
            },
            OiPoint {
                time_ms: day_ms + 86_399_000,
                oi: 7.0,
                price: 0.0,
                ts_us: day_start_us + 86_399_123_456
            },
        ]
    );
    assert_eq!(r.get(1), None);

    let st = Store::new(root);
    assert_eq!(st.oi_markets().unwrap(), vec![id.to_string()]);
    assert_eq!(st.oi_days(id).unwrap(), vec![DAY, DAY + 1]);
    assert!(
        st.markets().unwrap().is_empty(),
        "open-interest files are not bar files"
    );
    // Half-open range across the day boundary.
    let got = st
        .oi_range(id, day_ms + 10_000, day_ms + DAY_MS + 6_000)
        .unwrap();
    let times: Vec<i64> = got.iter().map(|p| p.time_ms).collect();
    assert_eq!(
        times,
        vec![
            day_ms + 10_000,
            day_ms + 86_399_000,
            day_ms + DAY_MS + 5_000
        ]
    );
    assert_eq!(got[2].oi, 42.0);
    assert!(st
        .oi_range(id, day_ms + 1_000, day_ms + 10_000)
        .unwrap()
        .is_empty());

    // Last reading per bucket, timed at the bucket's start.
    let hourly = resample_oi(&st.oi_range(id, day_ms, day_ms + DAY_MS).unwrap(), 3600);
    assert_eq!(
        hourly.iter().map(|p| (p.time_ms, p.oi)).collect::<Vec<_>>(),
        vec![(day_ms, 3.0), (day_ms + 23 * 3_600_000, 7.0)]
    );

    // Retention covers open-interest files too.
    assert_eq!(st.retain(0, DAY + 1).unwrap(), 1);
    assert_eq!(st.oi_days(id).unwrap(), vec![DAY + 1]);
}

fn valid_file(root: &Path) -> PathBuf {
    let w = OiWriter::open_or_create(root, "OKEX:BTC-USDT-SWAP", DAY).unwrap();
    w.path().to_path_buf()
}

#[test]
fn truncated_file_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = valid_file(dir.path());
    let full = fs::metadata(&path).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(full / 2)
        .unwrap();
    let e = OiReader::open(&path).unwrap_err();
    assert!(
        matches!(e, StoreError::Truncated { kind: "open-interest", len, expected, .. } if len == full / 2 && expected == full),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("open-interest file"),
        "{msg}"
    );
    // The writer refuses it too, and so does a range query.
    assert!(matches!(
        OiWriter::open_or_create(dir.path(), "OKEX:BTC-USDT-SWAP", DAY),
        Err(StoreError::Truncated { .. })
    ));
    let st = Store::new(dir.path());
    let e = st
        .oi_range("OKEX:BTC-USDT-SWAP", DAY * DAY_MS, (DAY + 1) * DAY_MS)
        .unwrap_err();
    assert!(matches!(e, StoreError::Truncated { .. }), "{e:?}");

    // Shorter than a header.
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(10)
        .unwrap();
    assert!(matches!(
        OiReader::open(&path),
        Err(StoreError::Truncated { len: 10, .. })
    ));
}

#[test]
fn corrupt_or_foreign_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = valid_file(dir.path());

    // A bar file is not an open-interest file, and the other way round.
    let mut bars = engine::store::DayWriter::open_or_create(dir.path(), "X:y", DAY).unwrap();
    bars.write(0, &engine::Bar::EMPTY, 0);
    let e = OiReader::open(bars.path()).unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::BadMagic {
                kind: "open-interest",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("not an open-interest file"), "{e}");
    let e = engine::store::DayReader::open(&path).unwrap_err();
    assert!(
        matches!(e, StoreError::BadMagic { kind: "bar", .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("not a bar file"), "{e}");

    // Another version.
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all_at(&2u32.to_le_bytes(), 8).unwrap();
    assert!(matches!(
        OiReader::open(&path),
        Err(StoreError::Version { found: 2, .. })
    ));
    f.write_all_at(&1u32.to_le_bytes(), 8).unwrap();
    // A foreign slot size.
    f.write_all_at(&88u32.to_le_bytes(), 16).unwrap();
    let e = OiReader::open(&path).unwrap_err();
    assert!(
        matches!(&e, StoreError::Mismatch { what, .. } if what.contains("32")),
        "{e:?}"
    );
    f.write_all_at(&(OI_SLOT_SIZE as u32).to_le_bytes(), 16)
        .unwrap();
    OiReader::open(&path).unwrap();
    // A file that grew.
    let full = fs::metadata(&path).unwrap().len();
    f.set_len(full + 1).unwrap();
    assert!(matches!(
        OiReader::open(&path),
        Err(StoreError::Mismatch { .. })
    ));
    f.set_len(full).unwrap();
    // Another market's file where this market's should be.
    let other = OiWriter::open_or_create(dir.path(), "OKEX:ETH-USDT-SWAP", DAY).unwrap();
    fs::copy(other.path(), &path).unwrap();
    let e = Store::new(dir.path())
        .oi_range("OKEX:BTC-USDT-SWAP", DAY * DAY_MS, (DAY + 1) * DAY_MS)
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Mismatch { what, .. } if what.contains("ETH-USDT-SWAP")),
        "{e:?}"
    );
}

fn tape_line(venue: &str, ts_ns: u64, frame: &str) -> String {
    serde_json::json!({"ts_ns": ts_ns, "venue": venue, "conn": 0, "frame": frame}).to_string()
}

/// A Bybit v5 `tickers` snapshot as the venue's documentation shows it (linear, with
/// `openInterest`), at exchange time `ts`.
fn bybit_snapshot(oi: &str, mark: &str, ts: i64) -> String {
    format!(
        r#"{{"topic":"tickers.BTCUSDT","type":"snapshot","data":{{"symbol":"BTCUSDT","tickDirection":"PlusTick","price24hPcnt":"0.017103","lastPrice":"17216.00","prevPrice24h":"16926.50","highPrice24h":"17281.50","lowPrice24h":"16915.00","prevPrice1h":"17238.00","markPrice":"{mark}","indexPrice":"17227.36","openInterest":"{oi}","openInterestValue":"1183601235.91","turnover24h":"1570383121.943499","volume24h":"91705.276","nextFundingTime":"1673280000000","fundingRate":"-0.000212","bid1Price":"17215.50","bid1Size":"84.489","ask1Price":"17216.00","ask1Size":"83.020"}},"cs":24987956059,"ts":{ts}}}"#
    )
}

/// The open-interest frames of one vectors folder and the literals the test changes or
/// expects: OKX `open-interest` (line 10 of okx.jsonl), Bitget `ticker` (line 7 of
/// bitget.jsonl) and a Bybit `tickers` delta without `openInterest` (line 8 of
/// bybit_linear.jsonl: nothing to store).
struct OiFrames<'a> {
    dir: PathBuf,
    /// OKX `oiCcy` and `ts` (ms) literals.
    okx_oi: &'a str,
    okx_ts_ms: i64,
    /// Bitget market id, `holdingAmount`, `markPrice` and `ts` (ms).
    bitget_market: &'a str,
    bitget_oi: &'a str,
    bitget_mark: f64,
    bitget_ts_ms: i64,
}

#[test]
fn replay_of_venue_frames_stores_the_exact_series() {
    replay_stores_the_exact_series(&OiFrames {
        dir: fixtures(),
        okx_oi: "26044.1229000000417",
        okx_ts_ms: 1_796_630_805_000,
        bitget_market: "BITGET:ETHUSDT",
        bitget_oi: "812345.6700000000417",
        bitget_mark: 3409.58,
        bitget_ts_ms: 1_796_630_901_250,
    });
}

#[path = "conformance/oi.rs"]
mod conformance;

fn replay_stores_the_exact_series(v: &OiFrames) {
    let okx = vector_line(&v.dir, "okx.jsonl", 10);
    assert!(okx.contains("\"open-interest\""), "{okx}");
    let okx_ts = v.okx_ts_ms.to_string();
    assert!(okx.contains(v.okx_oi) && okx.contains(&okx_ts), "{okx}");
    let bitget = vector_line(&v.dir, "bitget.jsonl", 7);
    assert!(bitget.contains(v.bitget_oi), "{bitget}");
    let bybit_delta = vector_line(&v.dir, "bybit_linear.jsonl", 8);
    assert!(bybit_delta.contains("tickers.BTCUSDT") && !bybit_delta.contains("\"openInterest\""));
    // The same OKX reading later in the same second and in the next one (values changed).
    let second_ms = v.okx_ts_ms - v.okx_ts_ms.rem_euclid(1000);
    let (same_ms, next_ms) = (second_ms + 990, second_ms + 1_003);
    assert!(same_ms > v.okx_ts_ms, "the second reading comes later");
    let okx_same_second = okx
        .replace(v.okx_oi, "22170.5")
        .replace(&okx_ts, &same_ms.to_string());
    let okx_next_second = okx
        .replace(v.okx_oi, "22171")
        .replace(&okx_ts, &next_ms.to_string());

    let tape = [
        tape_line("okx-swap", 1, &okx),
        tape_line(
            "bybit-linear",
            2,
            &bybit_snapshot("68744.761", "17217.33", 1673272861686),
        ),
        tape_line("bybit-linear", 3, &bybit_delta),
        tape_line("okx-swap", 4, &okx_same_second),
        tape_line("bitget", 5, &bitget),
        tape_line("okx-swap", 6, &okx_next_second),
        tape_line(
            "bybit-linear",
            7,
            &bybit_snapshot("68745", "17218.5", 1673272861999),
        ),
    ]
    .join("\n");

    let run = |dir: &Path| {
        let mut replay = Replay::new(dir);
        let mut bad = Vec::new();
        replay
            .tape(
                std::io::Cursor::new(tape.as_bytes()),
                &mut |e| bad.push(e.to_string()),
                &mut |_| {},
            )
            .unwrap();
        assert!(bad.is_empty(), "{bad:?}");
        replay.finish(&mut |_| {}).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let report = run(dir.path());
    assert_eq!(report.oi_points, 6, "{report:?}");
    assert_eq!(report.events, 0, "open interest is not a bar event");
    assert_eq!(report.bars_closed, 0);

    let st = Store::new(dir.path());
    assert_eq!(
        st.oi_markets().unwrap(),
        vec![v.bitget_market, "BYBIT:BTCUSDT", "OKEX:BTC-USDT-SWAP"]
    );
    assert!(
        st.markets().unwrap().is_empty(),
        "no bars from open interest"
    );
    let all = |id: &str| st.oi_range(id, 0, i64::MAX / 2).unwrap();

    assert_eq!(
        all("OKEX:BTC-USDT-SWAP"),
        vec![
            OiPoint {
                time_ms: second_ms,
                oi: 22170.5,
                price: 0.0,
                ts_us: same_ms * 1000
            },
            OiPoint {
                time_ms: second_ms + 1000,
                oi: 22171.0,
                price: 0.0,
                ts_us: next_ms * 1000
            },
        ]
    );
    assert_eq!(
        all("BYBIT:BTCUSDT"),
        vec![OiPoint {
            time_ms: 1_673_272_861_000,
            oi: 68745.0,
            price: 17218.5,
            ts_us: 1_673_272_861_999_000
        }]
    );
    let bitget_series = all(v.bitget_market);
    assert_eq!(
        bitget_series,
        vec![OiPoint {
            time_ms: v.bitget_ts_ms - v.bitget_ts_ms.rem_euclid(1000),
            oi: exact(v.bitget_oi),
            price: v.bitget_mark,
            ts_us: v.bitget_ts_ms * 1000
        }]
    );
    let short: f64 = v.bitget_oi.parse().unwrap();
    assert!((bitget_series[0].oi - short).abs() < 1e-9);

    // The first OKX reading alone: exactly its `oiCcy`.
    let one = tempfile::tempdir().unwrap();
    let mut replay = Replay::new(one.path());
    replay
        .tape(
            std::io::Cursor::new(tape_line("okx-swap", 1, &okx).into_bytes()),
            &mut |e| panic!("{e}"),
            &mut |_| {},
        )
        .unwrap();
    replay.finish(&mut |_| {}).unwrap();
    let got = Store::new(one.path())
        .oi_range("OKEX:BTC-USDT-SWAP", 0, i64::MAX / 2)
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].oi, exact(v.okx_oi));
    let short: f64 = v.okx_oi.parse().unwrap();
    assert!((got[0].oi - short).abs() < 1e-9);
    assert_eq!(got[0].ts_us, v.okx_ts_ms * 1000);

    // Replay is deterministic: the same tape gives byte-identical files.
    let again = tempfile::tempdir().unwrap();
    assert_eq!(run(again.path()), report);
    for id in ["OKEX:BTC-USDT-SWAP", "BYBIT:BTCUSDT", v.bitget_market] {
        for day in st.oi_days(id).unwrap() {
            let a = fs::read(oi_day_path(dir.path(), id, day).unwrap()).unwrap();
            let b = fs::read(oi_day_path(again.path(), id, day).unwrap()).unwrap();
            assert!(a == b, "{id} day {day} differs between two replays");
        }
    }
}

#[test]
fn a_write_cut_off_by_a_crash_is_cleared_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = valid_file(dir.path());
    {
        let mut w = OiWriter::open_or_create(dir.path(), "OKEX:BTC-USDT-SWAP", DAY).unwrap();
        w.write(3, 1.0, 2.0, 3);
        w.write(4, 5.0, 6.0, 7);
    }
    // Slot 4's seq made odd: a write in progress when the writer died.
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    let at = (HEADER_SIZE + 4 * OI_SLOT_SIZE) as u64;
    f.write_all_at(&3u32.to_le_bytes(), at).unwrap();
    drop(f);
    let r = OiReader::open(&path).unwrap();
    assert_eq!(r.get(3).map(|p| p.oi), Some(1.0));
    drop(r);
    let _w = OiWriter::open_or_create(dir.path(), "OKEX:BTC-USDT-SWAP", DAY).unwrap();
    let r = OiReader::open(&path).unwrap();
    assert_eq!(r.iter().map(|p| p.oi).collect::<Vec<_>>(), vec![1.0]);
}
