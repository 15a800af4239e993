//! Where a market-day lives: market id validation, the percent-encoding of path components,
//! and UTC day numbers as `YYYY-MM-DD` (civil-date arithmetic from `feeds::civil`).

use std::path::{Path, PathBuf};

use super::layout::MARKET_ID_LEN;
use super::StoreError;

/// First and last day a file name can hold: 1970-01-01 and 9999-12-31.
const FIRST_DAY: i64 = 0;
const LAST_DAY: i64 = 2_932_896;

/// Extension of day files.
pub(super) const EXTENSION: &str = ".bars";
/// Extension of open-interest day files.
pub(super) const OI_EXTENSION: &str = ".oi";

/// The file of `market_id`'s bars for `day` (days since 1970-01-01, UTC) under the data
/// directory `root`: `<root>/bars/1s/<EXCHANGE>/<pair>/<YYYY-MM-DD>.bars`.
pub fn day_path(root: &Path, market_id: &str, day: i64) -> Result<PathBuf, StoreError> {
    let mut path = market_dir(root, market_id)?;
    path.push(format!("{}{EXTENSION}", format_day(day)?));
    Ok(path)
}

/// The file of `market_id`'s open interest for `day` under the data directory `root`:
/// `<root>/oi/1s/<EXCHANGE>/<pair>/<YYYY-MM-DD>.oi` (same encoding as [`day_path`]).
pub fn oi_day_path(root: &Path, market_id: &str, day: i64) -> Result<PathBuf, StoreError> {
    let mut path = oi_market_dir(root, market_id)?;
    path.push(format!("{}{OI_EXTENSION}", format_day(day)?));
    Ok(path)
}

/// `<root>/bars/1s`: the directory holding one directory per exchange.
pub(super) fn bars_dir(root: &Path) -> PathBuf {
    root.join("bars").join("1s")
}

/// `<root>/oi/1s`: the open-interest counterpart of [`bars_dir`].
pub(super) fn oi_dir(root: &Path) -> PathBuf {
    root.join("oi").join("1s")
}

/// `<root>/bars/1s/<EXCHANGE>/<pair>`.
pub(super) fn market_dir(root: &Path, market_id: &str) -> Result<PathBuf, StoreError> {
    market_dir_under(bars_dir(root), market_id)
}

/// `<root>/oi/1s/<EXCHANGE>/<pair>`.
pub(super) fn oi_market_dir(root: &Path, market_id: &str) -> Result<PathBuf, StoreError> {
    market_dir_under(oi_dir(root), market_id)
}

fn market_dir_under(mut dir: PathBuf, market_id: &str) -> Result<PathBuf, StoreError> {
    let (exchange, pair) = split_market_id(market_id)?;
    dir.push(encode_component(exchange));
    dir.push(encode_component(pair));
    Ok(dir)
}

/// Splits `EXCHANGE:pair` at its first `:` after checking that the id fits the header.
pub(super) fn split_market_id(market_id: &str) -> Result<(&str, &str), StoreError> {
    let bad = || StoreError::BadMarketId(market_id.to_owned());
    if market_id.len() > MARKET_ID_LEN || market_id.contains('\0') {
        return Err(bad());
    }
    match market_id.split_once(':') {
        Some((exchange, pair)) if !exchange.is_empty() && !pair.is_empty() => Ok((exchange, pair)),
        _ => Err(bad()),
    }
}

fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

/// Percent-encodes every byte outside `[A-Za-z0-9._-]`, and a leading `.`.
pub(super) fn encode_component(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for (i, b) in s.bytes().enumerate() {
        if is_plain(b) && !(i == 0 && b == b'.') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xF)]));
        }
    }
    out
}

/// Inverse of [`encode_component`]; `None` for any name it could not have produced (so two
/// spellings never list as the same market).
pub(super) fn decode_component(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let decoded = String::from_utf8(out).ok()?;
    (encode_component(&decoded) == name).then_some(decoded)
}

/// `YYYY-MM-DD` of a day number.
pub(super) fn format_day(day: i64) -> Result<String, StoreError> {
    if !(FIRST_DAY..=LAST_DAY).contains(&day) {
        return Err(StoreError::DayOutOfRange(day));
    }
    Ok(feeds::civil::Date(day).to_string())
}

/// The day of a file name `YYYY-MM-DD.bars`; `None` for anything else.
#[cfg(test)]
pub(super) fn parse_day_file(name: &str) -> Option<i64> {
    parse_day_file_with(name, EXTENSION)
}

/// The day of a file name `YYYY-MM-DD<extension>`; `None` for anything else.
pub(super) fn parse_day_file_with(name: &str, extension: &str) -> Option<i64> {
    parse_date(name.strip_suffix(extension)?)
}

/// The day of `YYYY-MM-DD`, strictly: exactly that shape, a real date, in range.
pub(super) fn parse_date(s: &str) -> Option<i64> {
    let day = feeds::civil::parse_date(s.as_bytes())?;
    (FIRST_DAY..=LAST_DAY).contains(&day).then_some(day)
}

/// Civil-date arithmetic is `feeds::civil` (one module for the workspace).
pub use feeds::civil::civil_from_days;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        for (day, date) in [
            (0, "1970-01-01"),
            (59, "1970-03-01"),
            (10_957, "2000-01-01"),
            (11_016, "2000-02-29"),
            (19_782, "2024-02-29"),
            (19_783, "2024-03-01"),
            (20_089, "2025-01-01"),
            (LAST_DAY, "9999-12-31"),
        ] {
            assert_eq!(format_day(day).unwrap(), date, "day {day}");
            assert_eq!(parse_date(date), Some(day), "{date}");
        }
    }

    #[test]
    fn file_names_are_parsed_strictly() {
        assert_eq!(parse_day_file("2024-02-29.bars"), Some(19_782));
        for bad in [
            "2023-02-29.bars",
            "2024-13-01.bars",
            "2024-00-10.bars",
            "2024-1-01.bars",
            "2024-01-01.bar",
            "2024-01-01.bars.tmp",
            "1969-12-31.bars",
            "+024-01-01.bars",
            "2024-01-01",
        ] {
            assert_eq!(parse_day_file(bad), None, "{bad}");
        }
        assert!(matches!(format_day(-1), Err(StoreError::DayOutOfRange(-1))));
        assert!(format_day(LAST_DAY + 1).is_err());
    }

    #[test]
    fn awkward_pairs_are_encoded_and_decoded_back() {
        for (raw, encoded) in [
            ("btcusdt", "btcusdt"),
            ("BTC-USDT-SWAP", "BTC-USDT-SWAP"),
            ("XBT/USD", "XBT%2FUSD"),
            ("BTCF0:USTF0", "BTCF0%3AUSTF0"),
            ("..", "%2E."),
            (".hidden", "%2Ehidden"),
            ("a b%", "a%20b%25"),
            ("é", "%C3%A9"),
        ] {
            assert_eq!(encode_component(raw), encoded);
            assert_eq!(decode_component(encoded).as_deref(), Some(raw));
        }
        // Spellings the encoder never produces are not ours.
        for foreign in ["xbt%2fusd", "a%2", "%zz", "%FF", ".x", "a b"] {
            assert_eq!(decode_component(foreign), None, "{foreign}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_component_round_trips(s in "\\PC{0,24}") {
            let encoded = encode_component(&s);
            proptest::prop_assert!(encoded.bytes().all(|b| is_plain(b) || b == b'%'));
            proptest::prop_assert!(!encoded.starts_with('.'));
            proptest::prop_assert_eq!(decode_component(&encoded), Some(s));
        }
    }

    #[test]
    fn market_ids_split_at_the_first_colon() {
        assert_eq!(
            split_market_id("BITFINEX:BTCF0:USTF0").unwrap(),
            ("BITFINEX", "BTCF0:USTF0")
        );
        let p = day_path(Path::new("/data"), "KRAKEN:XBT/USD", 19_782).unwrap();
        assert_eq!(
            p,
            Path::new("/data/bars/1s/KRAKEN/XBT%2FUSD/2024-02-29.bars")
        );
        let long = format!("X:{}", "a".repeat(63));
        for bad in ["btcusdt", ":btcusdt", "BINANCE:", "A:b\0", long.as_str()] {
            assert!(
                matches!(split_market_id(bad), Err(StoreError::BadMarketId(_))),
                "{bad:?}"
            );
        }
        assert!(split_market_id(&format!("X:{}", "a".repeat(62))).is_ok());
    }
}
