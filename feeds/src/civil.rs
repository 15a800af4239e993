//! Civil dates and times (proleptic Gregorian calendar, UTC): the one place the workspace
//! turns day numbers into dates and back, parses the RFC 3339 times venues send and writes
//! ISO-8601 text.
//!
//! Day numbers count days since 1970-01-01 (day 0). Everything here is allocation-free:
//! parsing reads bytes, formatting goes through [`fmt::Display`] ([`Date`], [`Rfc3339`]).
//!
//! Both conversions count in a calendar whose year starts on March 1, so the leap day is the
//! last day of a year and month lengths repeat in a 5-month pattern (31 30 31 30 31), and
//! group years into 400-year eras of exactly 146 097 days. This is the method of Howard
//! Hinnant's "chrono-compatible low-level date algorithms".

use std::fmt;

/// Days from 0000-03-01 (day 0 of era 0) to 1970-01-01.
const EPOCH_SHIFT: i64 = 719_468;
/// Days in one 400-year era.
const ERA_DAYS: i64 = 146_097;

/// Day number of (year, month 1–12, day 1–31). The date is not checked: pass a valid one
/// (see [`days_in_month`]), or use [`parse_date`].
pub const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let month_from_march = if m > 2 { m - 3 } else { m + 9 };
    let day_of_year = (153 * month_from_march + 2) / 5 + d - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * ERA_DAYS + day_of_era - EPOCH_SHIFT
}

/// (year, month 1–12, day 1–31) of a day number.
pub const fn civil_from_days(day: i64) -> (i64, i64, i64) {
    let z = day + EPOCH_SHIFT;
    let era = z.div_euclid(ERA_DAYS);
    let day_of_era = z.rem_euclid(ERA_DAYS);
    // Subtract the leap days before `day_of_era` so that dividing by 365 gives the year.
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let d = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let m = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let y = era * 400 + year_of_era + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

/// Whether `y` is a Gregorian leap year.
pub const fn is_leap_year(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// Days in month `m` (1–12) of year `y`; 0 for a month outside 1–12.
pub const fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap_year(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        _ => 0,
    }
}

/// Whether (y, m, d) is a real date.
pub const fn is_valid_date(y: i64, m: i64, d: i64) -> bool {
    d >= 1 && d <= days_in_month(y, m)
}

/// `n` ASCII digits of `s` from `at`, as a number.
fn digits(s: &[u8], at: usize, n: usize) -> Option<i64> {
    let mut v = 0i64;
    for &c in s.get(at..at.checked_add(n)?)? {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

/// The day number of exactly `YYYY-MM-DD`, a real date; `None` for anything else.
pub fn parse_date(s: &[u8]) -> Option<i64> {
    if s.len() != 10 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(s, 0, 4)?, digits(s, 5, 2)?, digits(s, 8, 2)?);
    is_valid_date(y, m, d).then(|| days_from_civil(y, m, d))
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (RFC 3339 in UTC, `t`/`z` accepted) → µs since the
/// epoch. Fractions beyond µs (Coinbase Advanced sends ns) are truncated; any other form
/// (no `Z`, an offset, an empty fraction) is refused. Days 1–31 are accepted in any month,
/// as venues' own parsers do.
pub fn parse_rfc3339_us(s: &[u8]) -> Option<i64> {
    let sep = |at: usize, c: u8| s.get(at) == Some(&c);
    if !(sep(4, b'-')
        && sep(7, b'-')
        && (sep(10, b'T') || sep(10, b't'))
        && sep(13, b':')
        && sep(16, b':'))
    {
        return None;
    }
    let (year, month, day) = (digits(s, 0, 4)?, digits(s, 5, 2)?, digits(s, 8, 2)?);
    let (hour, minute, second) = (digits(s, 11, 2)?, digits(s, 14, 2)?, digits(s, 17, 2)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut at = 19;
    let mut micros = 0i64;
    if sep(at, b'.') {
        at += 1;
        let mut n = 0;
        while let Some(c) = s.get(at).filter(|c| c.is_ascii_digit()) {
            if n < 6 {
                micros = micros * 10 + i64::from(c - b'0');
            }
            n += 1;
            at += 1;
        }
        if n == 0 {
            return None;
        }
        for _ in n..6 {
            micros *= 10;
        }
    }
    if !(s.get(at..) == Some(b"Z") || s.get(at..) == Some(b"z")) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000_000 + second * 1_000_000 + micros)
}

/// A day number written as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub i64);

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(self.0);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// µs since the epoch written as `2026-08-09T21:05:51.426861Z` with `frac` fractional
/// digits (0 = none; at most 9, digits below a microsecond are zero; truncated, not
/// rounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339 {
    pub us: i64,
    pub frac: u8,
}

impl Rfc3339 {
    pub const fn new(us: i64, frac: u8) -> Rfc3339 {
        Rfc3339 { us, frac }
    }
}

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.us.div_euclid(1_000_000);
        let micros = self.us.rem_euclid(1_000_000);
        let sod = secs.rem_euclid(86_400);
        write!(
            f,
            "{}T{:02}:{:02}:{:02}",
            Date(secs.div_euclid(86_400)),
            sod / 3600,
            sod / 60 % 60,
            sod % 60
        )?;
        let frac = u32::from(self.frac.min(9));
        if frac > 0 {
            let nanos = micros * 1000;
            write!(f, ".{:0w$}", nanos / 10i64.pow(9 - frac), w = frac as usize)?;
        }
        f.write_str("Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 0001-01-01 … 9999-12-31.
    const FIRST: i64 = -719_162;
    const LAST: i64 = 2_932_896;

    #[test]
    fn every_day_round_trips() {
        let mut previous = civil_from_days(FIRST - 1);
        assert_eq!(previous, (0, 12, 31));
        for day in FIRST..=LAST {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
            assert!(is_valid_date(y, m, d), "{y}-{m}-{d}");
            // Consecutive days advance by exactly one calendar day.
            let (py, pm, pd) = previous;
            let next_is_ok = (y, m, d) == (py, pm, pd + 1)
                || ((y, m, d) == (py, pm + 1, 1) && pd == days_in_month(py, pm))
                || ((y, m, d) == (py + 1, 1, 1) && (pm, pd) == (12, 31));
            assert!(next_is_ok, "{previous:?} -> {:?}", (y, m, d));
            previous = (y, m, d);
        }
        assert_eq!(previous, (9999, 12, 31));
    }

    #[test]
    fn known_dates() {
        for (day, date) in [
            (0, "1970-01-01"),
            (-1, "1969-12-31"),
            (59, "1970-03-01"),
            (10_957, "2000-01-01"),
            (11_016, "2000-02-29"),
            (19_782, "2024-02-29"),
            (19_783, "2024-03-01"),
            (20_089, "2025-01-01"),
            (LAST, "9999-12-31"),
        ] {
            assert_eq!(Date(day).to_string(), date, "day {day}");
            assert_eq!(parse_date(date.as_bytes()), Some(day), "{date}");
        }
        for bad in [
            "2023-02-29",
            "1900-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-04-31",
            "2024-4-01",
            "2024/04/01",
            "2024-04-01x",
            "",
        ] {
            assert_eq!(parse_date(bad.as_bytes()), None, "{bad}");
        }
        assert!(is_leap_year(2000) && is_leap_year(2024) && !is_leap_year(1900));
        assert_eq!(days_in_month(2024, 13), 0);
    }

    #[test]
    fn rfc3339_times() {
        let t = |s: &str| parse_rfc3339_us(s.as_bytes());
        assert_eq!(
            t("2021-04-17T16:43:30.244075Z"),
            Some(1_618_677_810_244_075)
        );
        assert_eq!(
            t("2026-08-09T21:05:48.228568804Z"),
            Some(1_786_309_548_228_568)
        );
        assert_eq!(t("2026-06-14T05:52:41.303Z"), Some(1_781_416_361_303_000));
        assert_eq!(t("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(t("2000-02-29T00:00:00Z"), Some(951_782_400_000_000));
        for bad in [
            "",
            "2021-04-17 16:43:30Z",
            "2021-04-17T16:43:30",
            "2021-13-01T00:00:00Z",
            "2021-04-17T16:43:30.Z",
            "2021-04-17T16:43:30.1+00:00",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_text_round_trips() {
        let us = 1_786_309_551_426_861;
        assert_eq!(
            Rfc3339::new(us, 6).to_string(),
            "2026-08-09T21:05:51.426861Z"
        );
        assert_eq!(
            Rfc3339::new(us, 9).to_string(),
            "2026-08-09T21:05:51.426861000Z"
        );
        assert_eq!(
            Rfc3339::new(1_626_993_371_685_999, 3).to_string(),
            "2021-07-22T22:36:11.685Z"
        );
        assert_eq!(Rfc3339::new(0, 0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Rfc3339::new(-1, 3).to_string(), "1969-12-31T23:59:59.999Z");
        for frac in [0, 3, 6, 9] {
            let text = Rfc3339::new(us, frac).to_string();
            let back = parse_rfc3339_us(text.as_bytes()).unwrap();
            let unit = 10i64.pow(6 - u32::from(frac.min(6)));
            assert_eq!(back, us - us % unit, "{text}");
        }
    }
}
