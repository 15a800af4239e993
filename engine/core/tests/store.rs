//! The bar store through its public API: round trips, range queries, resampling, retention,
//! rejection of damaged or foreign files, and a reader in another process.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use engine_core::store::{
    day_path, flags, parse_timeframe, resample, DayReader, DayWriter, Store, StoreError, StoredBar,
    HEADER_SIZE, SLOTS_PER_DAY, SLOT_SIZE,
};
use engine_core::Bar;
use proptest::prelude::*;

/// 2024-02-29.
const DAY: i64 = 19_782;
const DAY_MS: i64 = 86_400_000;
const MARKET: &str = "BINANCE:btcusdt";

/// A bar with trades whose fields all differ and depend on `i`.
fn trade_bar(i: u32) -> Bar {
    let p = 60_000.0 + f64::from(i) * 0.5;
    Bar {
        open: p,
        high: p + 10.0,
        low: p - 10.0,
        close: p + 1.25,
        vbuy: f64::from(i) * 3.0,
        vsell: f64::from(i) * 5.0,
        lbuy: f64::from(i % 7),
        lsell: f64::from(i % 11),
        cbuy: i % 13 + 1,
        csell: i % 17,
        open_us: i % 1_000_000,
        close_us: (i * 7) % 1_000_000,
    }
}

/// A second that had only liquidations: NaN OHLC, no counts.
fn liquidation_bar(i: u32) -> Bar {
    Bar {
        lbuy: 1000.0 + f64::from(i),
        lsell: 7.5,
        ..Bar::EMPTY
    }
}

/// Bars are equal field by field, NaN equal to NaN.
fn same(a: &Bar, b: &Bar) -> bool {
    let f = |x: &Bar| {
        [
            x.open, x.high, x.low, x.close, x.vbuy, x.vsell, x.lbuy, x.lsell,
        ]
        .map(f64::to_bits)
    };
    f(a) == f(b)
        && (a.cbuy, a.csell, a.open_us, a.close_us) == (b.cbuy, b.csell, b.open_us, b.close_us)
}

fn assert_same(got: &Bar, want: &Bar, what: &str) {
    assert!(same(got, want), "{what}:\n got {got:?}\nwant {want:?}");
}

/// The bar and flags written to second `s` by `fill_day`.
fn fixture(s: u32) -> (Bar, u32) {
    let bar = if s % 5 == 0 {
        liquidation_bar(s)
    } else {
        trade_bar(s)
    };
    (bar, s % 8) // every combination of CLOSED, LATE and GAP
}

/// Writes `fixture(s)` into every third second of the day, the first and last included.
fn fill_day(writer: &mut DayWriter) -> Vec<u32> {
    let seconds: Vec<u32> = (0..SLOTS_PER_DAY)
        .filter(|s| s % 3 == 0 || *s == SLOTS_PER_DAY - 1)
        .collect();
    for &s in &seconds {
        let (bar, f) = fixture(s);
        writer.write(s, &bar, f);
    }
    seconds
}

#[test]
fn bars_round_trip_through_writer_reader_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = DayWriter::open_or_create(dir.path(), MARKET, DAY).unwrap();
    assert_eq!(writer.day(), DAY);
    let seconds = fill_day(&mut writer);
    assert!(seconds.len() > 28_000);

    // The writer reads its own slots; unwritten ones are None.
    for &s in &seconds {
        let (bar, f) = writer.read(s).unwrap();
        let (want, want_f) = fixture(s);
        assert_same(&bar, &want, &format!("writer.read({s})"));
        assert_eq!(f, want_f);
    }
    assert_eq!(writer.read(1), None);
    assert_eq!(writer.read(SLOTS_PER_DAY), None);

    // A reader (while the writer is still open) sees the same, with times.
    let path = day_path(dir.path(), MARKET, DAY).unwrap();
    let reader = DayReader::open(&path).unwrap();
    assert_eq!((reader.market_id(), reader.day()), (MARKET, DAY));
    let all: Vec<StoredBar> = reader.iter().collect();
    assert_eq!(all.len(), seconds.len());
    for (got, &s) in all.iter().zip(&seconds) {
        let (want, want_f) = fixture(s);
        assert_eq!(got.time_ms, DAY * DAY_MS + i64::from(s) * 1000);
        assert_same(&got.bar, &want, &format!("reader.iter() at {s}"));
        assert_eq!(got.flags, want_f);
    }
    let liquidation = reader.get(5 * 3).unwrap();
    assert!(liquidation.bar.open.is_nan() && liquidation.bar.close.is_nan());
    assert_eq!(liquidation.flags, flags::CLOSED | flags::LATE | flags::GAP);
    assert_eq!(reader.get(2), None);
    assert_eq!(reader.get(SLOTS_PER_DAY), None);

    // Overwriting a slot (an amendment) replaces bar and flags.
    writer.write(3, &trade_bar(99), flags::CLOSED | flags::LATE);
    let amended = reader.get(3).unwrap();
    assert_same(&amended.bar, &trade_bar(99), "amended");
    assert_eq!(amended.flags, flags::CLOSED | flags::LATE);

    // Everything survives closing and reopening the writer.
    drop(writer);
    let writer = DayWriter::open_or_create(dir.path(), MARKET, DAY).unwrap();
    let (bar, f) = writer.read(SLOTS_PER_DAY - 1).unwrap();
    assert_same(&bar, &fixture(SLOTS_PER_DAY - 1).0, "after reopen");
    assert_eq!(f, fixture(SLOTS_PER_DAY - 1).1);
    assert_eq!(writer.read(3).unwrap().1, flags::CLOSED | flags::LATE);
}

#[test]
fn slots_have_the_documented_byte_layout() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = DayWriter::open_or_create(dir.path(), "KRAKEN:XBT/USD", DAY).unwrap();
    let bar = trade_bar(42);
    writer.write(7, &bar, flags::CLOSED | flags::GAP);
    let bytes = fs::read(writer.path()).unwrap();
    assert_eq!(
        bytes.len(),
        HEADER_SIZE + SLOTS_PER_DAY as usize * SLOT_SIZE
    );

    assert_eq!(&bytes[0..8], b"SQZFBARS");
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let i64_at = |at: usize| i64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    let f64_at = |at: usize| f64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    assert_eq!(
        [u32_at(8), u32_at(12), u32_at(16), u32_at(20)],
        [1, 4096, 88, 86_400]
    );
    assert_eq!((i64_at(24), i64_at(32)), (DAY, DAY * DAY_MS));
    assert_eq!(&bytes[40..54], b"KRAKEN:XBT/USD");
    assert!(bytes[54..HEADER_SIZE].iter().all(|&b| b == 0));

    let slot = HEADER_SIZE + 7 * SLOT_SIZE;
    assert_eq!(u32_at(slot), 2, "one committed write: seq 0 -> 1 -> 2");
    assert_eq!(u32_at(slot + 4), flags::CLOSED | flags::GAP);
    let floats: Vec<f64> = (0..8).map(|i| f64_at(slot + 8 + 8 * i)).collect();
    assert_eq!(
        floats,
        [bar.open, bar.high, bar.low, bar.close, bar.vbuy, bar.vsell, bar.lbuy, bar.lsell]
    );
    let ints: Vec<u32> = (0..4).map(|i| u32_at(slot + 72 + 4 * i)).collect();
    assert_eq!(ints, [bar.cbuy, bar.csell, bar.open_us, bar.close_us]);
    // Neighbouring slots stay untouched (seq 0 = never written).
    assert!(bytes[slot - SLOT_SIZE..slot].iter().all(|&b| b == 0));
    assert!(bytes[slot + SLOT_SIZE..slot + 2 * SLOT_SIZE]
        .iter()
        .all(|&b| b == 0));
}

#[test]
fn range_spans_a_day_boundary_and_is_half_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let mut today = DayWriter::open_or_create(dir.path(), MARKET, DAY).unwrap();
    let mut tomorrow = DayWriter::open_or_create(dir.path(), MARKET, DAY + 1).unwrap();
    for s in SLOTS_PER_DAY - 10..SLOTS_PER_DAY {
        today.write(s, &trade_bar(s), flags::CLOSED);
    }
    for s in 0..10 {
        tomorrow.write(s, &liquidation_bar(s), flags::CLOSED);
    }
    let midnight = (DAY + 1) * DAY_MS;

    let bars = store
        .range(MARKET, midnight - 5_000, midnight + 5_000)
        .unwrap();
    let times: Vec<i64> = bars.iter().map(|b| (b.time_ms - midnight) / 1000).collect();
    assert_eq!(times, [-5, -4, -3, -2, -1, 0, 1, 2, 3, 4]);
    assert_same(
        &bars[0].bar,
        &trade_bar(SLOTS_PER_DAY - 5),
        "last seconds of the first day",
    );
    assert_same(
        &bars[5].bar,
        &liquidation_bar(0),
        "first second of the next day",
    );

    // A bar belongs to the range iff its start is in [from, to).
    let bars = store.range(MARKET, midnight - 4_999, midnight + 1).unwrap();
    let times: Vec<i64> = bars.iter().map(|b| (b.time_ms - midnight) / 1000).collect();
    assert_eq!(times, [-4, -3, -2, -1, 0]);

    assert_eq!(store.range(MARKET, midnight, midnight).unwrap(), []);
    assert_eq!(store.range(MARKET, midnight + 1000, midnight).unwrap(), []);
    assert_eq!(
        store.range(MARKET, 0, 1000).unwrap(),
        [],
        "days without files"
    );
    assert_eq!(
        store.range("BINANCE:ethusdt", 0, i64::MAX).unwrap(),
        [],
        "unknown market"
    );
    assert_eq!(store.range(MARKET, i64::MIN, i64::MAX).unwrap().len(), 20);
    assert!(matches!(
        store.range("nocolon", 0, 1),
        Err(StoreError::BadMarketId(_))
    ));
}

#[test]
fn resample_to_one_minute_matches_hand_computed_bars() {
    let t0 = DAY * DAY_MS + 60_000 * 10; // 00:10:00
    let bar = |time_s: i64, o: f64, h: f64, l: f64, c: f64, vb: f64, vs: f64, cb: u32, cs: u32| {
        StoredBar {
            time_ms: t0 + time_s * 1000,
            bar: Bar {
                open: o,
                high: h,
                low: l,
                close: c,
                vbuy: vb,
                vsell: vs,
                lbuy: 0.0,
                lsell: 0.0,
                cbuy: cb,
                csell: cs,
                open_us: 100 + time_s as u32,
                close_us: 200 + time_s as u32,
            },
            flags: flags::CLOSED,
        }
    };
    let liquidations = |time_s: i64, lb: f64, ls: f64, f: u32| StoredBar {
        time_ms: t0 + time_s * 1000,
        bar: Bar {
            lbuy: lb,
            lsell: ls,
            ..Bar::EMPTY
        },
        flags: f,
    };
    let input = [
        // Minute 00:10: a liquidation-only second first, so `open` comes from the second bar.
        liquidations(0, 500.0, 0.0, flags::CLOSED),
        bar(3, 100.0, 104.0, 99.0, 101.0, 10.0, 20.0, 2, 3),
        bar(17, 101.0, 108.0, 100.5, 107.0, 1.5, 0.0, 1, 0),
        liquidations(30, 0.0, 250.0, flags::CLOSED | flags::GAP),
        bar(59, 107.0, 107.5, 95.0, 96.0, 0.0, 4.5, 0, 4),
        // Minute 00:11: only liquidations.
        liquidations(61, 1.0, 2.0, flags::CLOSED | flags::LATE),
        // Minute 00:13: one bar.
        bar(185, 90.0, 91.0, 89.0, 90.5, 3.0, 3.0, 1, 1),
    ];
    let out = resample(&input, 60);
    assert_eq!(out.len(), 3);

    let m = &out[0];
    assert_eq!(m.time_ms, t0);
    let b = &m.bar;
    assert_eq!((b.open, b.high, b.low, b.close), (100.0, 108.0, 95.0, 96.0));
    assert_eq!(
        (b.vbuy, b.vsell, b.lbuy, b.lsell),
        (11.5, 24.5, 500.0, 250.0)
    );
    assert_eq!((b.cbuy, b.csell), (3, 7));
    assert_eq!(
        (b.open_us, b.close_us),
        (103, 259),
        "from the bars that set open and close"
    );
    assert_eq!(m.flags, flags::CLOSED | flags::GAP);

    let m = &out[1];
    assert_eq!(m.time_ms, t0 + 60_000);
    assert!(
        m.bar.open.is_nan() && m.bar.high.is_nan() && m.bar.low.is_nan() && m.bar.close.is_nan()
    );
    assert_eq!(
        (m.bar.lbuy, m.bar.lsell, m.bar.cbuy, m.bar.csell),
        (1.0, 2.0, 0, 0)
    );
    assert_eq!(m.flags, flags::CLOSED | flags::LATE);

    let m = &out[2];
    assert_eq!(m.time_ms, t0 + 180_000);
    assert_eq!(
        (m.bar.open, m.bar.high, m.bar.low, m.bar.close),
        (90.0, 91.0, 89.0, 90.5)
    );

    // Resampling to 1 s changes nothing; to 1 h merges everything into 00:00.
    assert_eq!(resample(&input, 1).len(), input.len());
    let hour = resample(&input, parse_timeframe("1h").unwrap());
    assert_eq!(hour.len(), 1);
    assert_eq!(hour[0].time_ms, DAY * DAY_MS);
    assert_eq!(
        (hour[0].bar.open, hour[0].bar.low, hour[0].bar.close),
        (100.0, 89.0, 90.5)
    );
    assert_eq!((hour[0].bar.cbuy, hour[0].bar.csell), (4, 8));
    assert_eq!(resample(&input, 0), []);
}

/// A bar from small integers, so that sums are exact in any order.
fn arbitrary_bar() -> impl Strategy<Value = (u32, Bar, u32)> {
    let ohlc = proptest::option::of((1u32..100, 0u32..20, 0u32..20, 0u32..40));
    (
        1u32..90,
        ohlc,
        proptest::array::uniform4(0u32..1000),
        0u32..5,
        0u32..5,
        0u32..8,
    )
        .prop_map(|(gap, ohlc, [vb, vs, lb, ls], cb, cs, f)| {
            let mut bar = Bar {
                vbuy: f64::from(vb),
                vsell: f64::from(vs),
                lbuy: f64::from(lb),
                lsell: f64::from(ls),
                ..Bar::EMPTY
            };
            if let Some((low, up, down, span)) = ohlc {
                let low = f64::from(low);
                bar.low = low;
                bar.high = low + f64::from(span);
                bar.open = low + f64::from(up).min(f64::from(span));
                bar.close = low + f64::from(down).min(f64::from(span));
                (bar.cbuy, bar.csell) = (cb + 1, cs);
                (bar.open_us, bar.close_us) = (up, down);
            }
            (gap, bar, f)
        })
}

proptest! {
    /// Resampling in steps gives the same bars as resampling at once, and a day's bar sums
    /// every bar of the day.
    #[test]
    fn resampling_composes(items in proptest::collection::vec(arbitrary_bar(), 0..300)) {
        let mut t = DAY * DAY_MS;
        let bars: Vec<StoredBar> = items
            .into_iter()
            .map(|(gap, bar, flags)| {
                t += i64::from(gap) * 1000;
                StoredBar { time_ms: t, bar, flags }
            })
            .collect();
        let direct = resample(&bars, 300);
        let stepwise = resample(&resample(&resample(&bars, 5), 60), 300);
        prop_assert_eq!(direct.len(), stepwise.len());
        for (a, b) in direct.iter().zip(&stepwise) {
            prop_assert_eq!(a.time_ms, b.time_ms);
            prop_assert!(same(&a.bar, &b.bar), "{:?} != {:?}", a, b);
            prop_assert_eq!(a.flags, b.flags);
        }
        let days = resample(&bars, 86_400);
        let total = |f: fn(&Bar) -> f64| bars.iter().map(|b| f(&b.bar)).sum::<f64>();
        let day_total = |f: fn(&Bar) -> f64| days.iter().map(|b| f(&b.bar)).sum::<f64>();
        prop_assert_eq!(total(|b| b.vbuy), day_total(|b| b.vbuy));
        prop_assert_eq!(total(|b| b.lsell), day_total(|b| b.lsell));
        let max_high = bars.iter().map(|b| b.bar.high).filter(|h| !h.is_nan()).fold(f64::NAN, f64::max);
        let day_high = days.iter().map(|b| b.bar.high).filter(|h| !h.is_nan()).fold(f64::NAN, f64::max);
        prop_assert!(max_high.to_bits() == day_high.to_bits() || (max_high.is_nan() && day_high.is_nan()));
    }
}

#[test]
fn retention_deletes_exactly_the_old_days_and_empty_directories() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let today = DAY + 10;
    for day in today - 5..=today {
        for market in [MARKET, "KRAKEN:XBT/USD"] {
            DayWriter::open_or_create(dir.path(), market, day).unwrap();
        }
    }
    // A market whose files are all old disappears with its directories.
    DayWriter::open_or_create(dir.path(), "OKEX:BTC-USDT-SWAP", today - 30).unwrap();
    // A file that is not a day file is never touched.
    let stray = day_path(dir.path(), MARKET, today - 5)
        .unwrap()
        .with_file_name("notes.txt");
    fs::write(&stray, "keep me").unwrap();

    assert_eq!(
        store.markets().unwrap(),
        ["BINANCE:btcusdt", "KRAKEN:XBT/USD", "OKEX:BTC-USDT-SWAP"]
    );
    // today - day > 2 goes: today-5, today-4, today-3 of two markets, and the OKEX file.
    assert_eq!(store.retain(2, today).unwrap(), 7);
    for market in [MARKET, "KRAKEN:XBT/USD"] {
        assert_eq!(store.days(market).unwrap(), [today - 2, today - 1, today]);
    }
    assert_eq!(
        store.markets().unwrap(),
        ["BINANCE:btcusdt", "KRAKEN:XBT/USD"]
    );
    assert!(!dir.path().join("bars/1s/OKEX").exists());
    assert!(stray.exists());

    assert_eq!(store.retain(2, today).unwrap(), 0, "nothing left to delete");
    assert_eq!(
        store.retain(0, today).unwrap(),
        4,
        "retention 0 keeps only today"
    );
    assert_eq!(store.days(MARKET).unwrap(), [today]);
}

#[test]
fn markets_and_days_list_awkward_ids_back() {
    let dir = tempfile::tempdir().unwrap();
    let ids = [
        "BITFINEX:BTCF0:USTF0",
        "BINANCE_FUTURES:btcusd_perp",
        "KRAKEN:XBT/USD",
        "X:..",
        "Y:a b%",
    ];
    for id in ids {
        DayWriter::open_or_create(dir.path(), id, DAY).unwrap();
        DayWriter::open_or_create(dir.path(), id, DAY - 400).unwrap();
    }
    fs::create_dir_all(dir.path().join("bars/1s/KRAKEN/not%2fours")).unwrap();
    fs::create_dir_all(dir.path().join("bars/1s/KRAKEN/empty")).unwrap();
    // "A:B" + "x" would be the market A:B:x, whose files live under A/B%3Ax: not this one.
    fs::create_dir_all(dir.path().join("bars/1s/A%3AB/x")).unwrap();
    fs::write(dir.path().join("bars/1s/A%3AB/x/2024-02-29.bars"), "").unwrap();
    let store = Store::new(dir.path());
    let mut want: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(store.markets().unwrap(), want);
    assert_eq!(store.days("KRAKEN:XBT/USD").unwrap(), [DAY - 400, DAY]);
    assert_eq!(
        day_path(dir.path(), "BITFINEX:BTCF0:USTF0", DAY).unwrap(),
        dir.path()
            .join("bars/1s/BITFINEX/BTCF0%3AUSTF0/2024-02-29.bars")
    );
    assert_eq!(
        Store::new(&dir.path().join("nothing")).markets().unwrap(),
        Vec::<String>::new()
    );
}

/// A valid file for `MARKET`/`DAY` with one bar, returning its path.
fn valid_file(root: &Path) -> PathBuf {
    let mut writer = DayWriter::open_or_create(root, MARKET, DAY).unwrap();
    writer.write(1, &trade_bar(1), flags::CLOSED);
    writer.path().to_path_buf()
}

/// Asserts that opening `path` for writing (as `market`/`day`) and for reading both fail,
/// that `check` accepts the writer's error, that messages name the file, and that the file
/// is left exactly as it was.
fn assert_rejected(root: &Path, market: &str, day: i64, check: impl Fn(&StoreError) -> bool) {
    let path = day_path(root, market, day).unwrap();
    let before = fs::read(&path).unwrap();
    let err = DayWriter::open_or_create(root, market, day).unwrap_err();
    assert!(check(&err), "unexpected error {err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "message does not name the file: {message}"
    );
    if let Err(err) = DayReader::open(&path) {
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }
    assert_eq!(
        fs::read(&path).unwrap(),
        before,
        "a rejected file must not be modified"
    );
}

#[test]
fn truncated_file_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = valid_file(dir.path());
    let full = fs::metadata(&path).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(full / 2)
        .unwrap();
    assert_rejected(
        dir.path(),
        MARKET,
        DAY,
        |e| matches!(e, StoreError::Truncated { len, expected, .. } if *len == full / 2 && *expected == full),
    );
    assert!(matches!(
        DayReader::open(&path),
        Err(StoreError::Truncated { .. })
    ));
    assert!(matches!(
        Store::new(dir.path()).range(MARKET, 0, i64::MAX),
        Err(StoreError::Truncated { .. })
    ));

    // Shorter than a header, and empty.
    for len in [50, 0] {
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len)
            .unwrap();
        assert_rejected(dir.path(), MARKET, DAY, |e| {
            matches!(e, StoreError::Truncated { .. })
        });
    }
}

#[test]
fn file_with_wrong_magic_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = valid_file(dir.path());
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .write_all_at(b"NOTBARS!", 0)
        .unwrap();
    assert_rejected(dir.path(), MARKET, DAY, |e| {
        matches!(e, StoreError::BadMagic { .. })
    });
    assert!(matches!(
        DayReader::open(&path),
        Err(StoreError::BadMagic { .. })
    ));
}

#[test]
fn file_of_another_version_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = valid_file(dir.path());
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .write_all_at(&2u32.to_le_bytes(), 8)
        .unwrap();
    assert_rejected(dir.path(), MARKET, DAY, |e| {
        matches!(e, StoreError::Version { found: 2, .. })
    });
    assert!(matches!(
        DayReader::open(&path),
        Err(StoreError::Version { found: 2, .. })
    ));
}

#[test]
fn file_of_another_market_or_day_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let source = valid_file(dir.path());

    let other_market = day_path(dir.path(), "BINANCE:ethusdt", DAY).unwrap();
    fs::create_dir_all(other_market.parent().unwrap()).unwrap();
    fs::copy(&source, &other_market).unwrap();
    assert_rejected(
        dir.path(),
        "BINANCE:ethusdt",
        DAY,
        |e| matches!(e, StoreError::Mismatch { what, .. } if what.contains("BINANCE:btcusdt")),
    );

    let other_day = day_path(dir.path(), MARKET, DAY + 1).unwrap();
    fs::copy(&source, &other_day).unwrap();
    assert_rejected(
        dir.path(),
        MARKET,
        DAY + 1,
        |e| matches!(e, StoreError::Mismatch { what, .. } if what.contains("day")),
    );
    // The reader opens such a file (its header is sound) but range refuses it.
    assert_eq!(DayReader::open(&other_day).unwrap().day(), DAY);
    let err = Store::new(dir.path())
        .range(MARKET, (DAY + 1) * DAY_MS, (DAY + 2) * DAY_MS)
        .unwrap_err();
    assert!(matches!(err, StoreError::Mismatch { .. }), "{err:?}");

    // A file that grew is not a bar file of this layout either.
    let grown = day_path(dir.path(), MARKET, DAY + 2).unwrap();
    fs::copy(&source, &grown).unwrap();
    let mut f = OpenOptions::new().append(true).open(&grown).unwrap();
    f.write_all(b"x").unwrap();
    assert_rejected(dir.path(), MARKET, DAY + 2, |e| {
        matches!(e, StoreError::Mismatch { .. })
    });
}

#[test]
fn a_second_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = DayWriter::open_or_create(dir.path(), MARKET, DAY).unwrap();
    let err = DayWriter::open_or_create(dir.path(), MARKET, DAY).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    drop(_first);
    DayWriter::open_or_create(dir.path(), MARKET, DAY).unwrap();
}

#[test]
fn a_write_cut_off_by_a_crash_is_cleared_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = valid_file(dir.path());
    // Slot 1 holds a committed bar (seq 2); make it look like a write was in progress (seq 3)
    // when the process died.
    let seq_at = (HEADER_SIZE + SLOT_SIZE) as u64;
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .write_all_at(&3u32.to_le_bytes(), seq_at)
        .unwrap();
    assert_eq!(
        DayReader::open(&path).unwrap().get(1),
        None,
        "a half-written slot is never returned"
    );

    let mut writer = DayWriter::open_or_create(dir.path(), MARKET, DAY).unwrap();
    assert_eq!(writer.read(1), None);
    writer.write(1, &trade_bar(5), flags::CLOSED);
    assert_same(
        &DayReader::open(&path).unwrap().get(1).unwrap().bar,
        &trade_bar(5),
        "rewritten",
    );
}

#[test]
fn bad_market_ids_and_days_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let long = format!("X:{}", "y".repeat(70));
    for id in ["btcusdt", ":x", "X:", long.as_str()] {
        let err = DayWriter::open_or_create(dir.path(), id, DAY).unwrap_err();
        assert!(matches!(err, StoreError::BadMarketId(_)), "{id}: {err:?}");
    }
    let err = DayWriter::open_or_create(dir.path(), MARKET, -1).unwrap_err();
    assert!(matches!(err, StoreError::DayOutOfRange(-1)), "{err:?}");
    assert!(
        !dir.path().join("bars").exists(),
        "nothing created for refused ids"
    );
}

// ---- A reader in another process ----------------------------------------------------------

/// When set, `reader_process_child` runs as the reader of this file.
const CHILD_ENV: &str = "SQUEEZEFLOW_STORE_READER_CHILD";
/// Slots the writer keeps rewriting.
const HOT_SLOTS: u32 = 32;
/// Slot the writer fills to tell the reader to give up (it ran out of patience).
const STOP_SLOT: u32 = SLOTS_PER_DAY - 1;
/// Changes the reader must observe before it is satisfied.
const CHANGES_WANTED: u64 = 2_000;

/// A bar every field of which is `k`, and flags derived from `k`: a bar mixing two writes
/// has fields that disagree.
fn counter_bar(k: u32) -> Bar {
    let f = f64::from(k);
    Bar {
        open: f,
        high: f,
        low: f,
        close: f,
        vbuy: f,
        vsell: f,
        lbuy: f,
        lsell: f,
        cbuy: k,
        csell: k,
        open_us: k,
        close_us: k,
    }
}

fn counter_flags(k: u32) -> u32 {
    k % 8
}

/// Runs only when re-executed by `reader_in_another_process_never_sees_a_torn_bar`.
#[test]
fn reader_process_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let reader = DayReader::open(Path::new(&path)).unwrap();
    let mut last = vec![0u32; HOT_SLOTS as usize];
    let mut changes = 0u64;
    let mut reads = 0u64;
    while changes < CHANGES_WANTED && reader.get(STOP_SLOT).is_none() {
        for s in 0..HOT_SLOTS {
            let Some(stored) = reader.get(s) else {
                continue;
            };
            reads += 1;
            let k = stored.bar.cbuy;
            assert!(
                same(&stored.bar, &counter_bar(k)) && stored.flags == counter_flags(k),
                "torn bar in slot {s}: {stored:?}"
            );
            let previous = &mut last[s as usize];
            assert!(k >= *previous, "slot {s} went back from {previous} to {k}");
            if k != *previous {
                changes += 1;
                *previous = k;
            }
        }
    }
    assert!(
        changes >= CHANGES_WANTED,
        "the reader saw only {changes} changes in {reads} reads"
    );
    println!("reader-child-ok: {changes} changes in {reads} consistent reads");
}

#[test]
fn reader_in_another_process_never_sees_a_torn_bar() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = DayWriter::open_or_create(dir.path(), MARKET, DAY).unwrap();
    for s in 0..HOT_SLOTS {
        writer.write(s, &counter_bar(1), counter_flags(1));
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "reader_process_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, writer.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Rewrite the hot slots with ever larger k until the reader is done. The cap only matters
    // if the reader never gets scheduled; then the stop slot tells it to finish (and fail).
    let mut k = 1u32;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if k == 50_000_000 {
            writer.write(STOP_SLOT, &Bar::EMPTY, 0);
            break child.wait().unwrap();
        }
        k += 1;
        for s in 0..HOT_SLOTS {
            writer.write(s, &counter_bar(k), counter_flags(k));
        }
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        status.success(),
        "reader process failed ({status}):\n{out}\n{err}"
    );
    assert!(
        out.contains("reader-child-ok"),
        "the reader test did not run:\n{out}\n{err}"
    );
}

// ---- A file for the Python reader in the module docs -----------------------------------------

/// Writes a small day file for trying the numpy reader of `store/mod.rs`'s docs by hand: with
/// `SQUEEZEFLOW_STORE_SAMPLE_DIR=DIR` the file is left under `DIR`; without it, it goes to a
/// temporary directory.
#[test]
fn sample_file_for_python() {
    let keep = std::env::var_os("SQUEEZEFLOW_STORE_SAMPLE_DIR").map(PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let root = keep.as_deref().unwrap_or(tmp.path());
    let mut writer = DayWriter::open_or_create(root, "KRAKEN:XBT/USD", DAY).unwrap();
    writer.write(0, &trade_bar(1), flags::CLOSED);
    writer.write(1, &liquidation_bar(2), flags::CLOSED | flags::LATE);
    writer.write(86_399, &trade_bar(3), flags::GAP);
    assert_eq!(DayReader::open(writer.path()).unwrap().iter().count(), 3);
    if keep.is_some() {
        println!("sample written to {}", writer.path().display());
    }
}
