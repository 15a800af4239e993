//! Time arguments: `2026-11-24`, `2026-11-24T10:15:00Z` (or with a space), or epoch ms.

use feeds::civil;

/// Parse a time argument to epoch ms.
pub(crate) fn parse_time_ms(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().map_err(|e| format!("{s:?}: {e}"));
    }
    let bad =
        || format!("{s:?}: expected YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS]Z or epoch milliseconds");
    let (date, time) = match s.find(['T', ' ']) {
        Some(i) => (&s[..i], Some(s[i + 1..].trim_end_matches('Z'))),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let (y, m, d) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(y), Some(m), Some(d), None) if y.len() == 4 => (
            y.parse::<i64>().map_err(|_| bad())?,
            m.parse::<u32>().map_err(|_| bad())?,
            d.parse::<u32>().map_err(|_| bad())?,
        ),
        _ => return Err(bad()),
    };
    let (m, d) = (i64::from(m), i64::from(d));
    if !civil::is_valid_date(y, m, d) {
        return Err(format!("{s:?}: no such date"));
    }
    let mut secs = civil::days_from_civil(y, m, d) * 86_400;
    if let Some(t) = time {
        let f: Vec<&str> = t.split(':').collect();
        if f.len() < 2 || f.len() > 3 {
            return Err(bad());
        }
        let h: i64 = f[0].parse().map_err(|_| bad())?;
        let mi: i64 = f[1].parse().map_err(|_| bad())?;
        let se: i64 = f.get(2).map_or(Ok(0), |x| x.parse()).map_err(|_| bad())?;
        if h > 23 || mi > 59 || se > 59 {
            return Err(format!("{s:?}: no such time of day"));
        }
        secs += h * 3600 + mi * 60 + se;
    }
    Ok(secs * 1000)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for epoch ms (for messages).
pub(crate) fn format_ms(ms: i64) -> String {
    civil::Rfc3339::new(ms.div_euclid(1000) * 1_000_000, 0).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        assert_eq!(parse_time_ms("1970-01-01").unwrap(), 0);
        assert_eq!(parse_time_ms("2026-11-24").unwrap(), 1_795_478_400_000);
        assert_eq!(
            parse_time_ms("2026-11-24T10:15:30Z").unwrap(),
            1_795_478_400_000 + (10 * 3600 + 15 * 60 + 30) * 1000
        );
        assert_eq!(parse_time_ms("1795478400000").unwrap(), 1_795_478_400_000);
        assert_eq!(
            format_ms(1_795_478_400_000 + 61_000),
            "2026-11-24T00:01:01Z"
        );
        assert_eq!(format_ms(951_782_400_000), "2000-02-29T00:00:00Z");
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "yesterday",
            "2026-11-24T25:00",
            "",
        ] {
            assert!(parse_time_ms(bad).is_err(), "{bad}");
        }
    }
}
