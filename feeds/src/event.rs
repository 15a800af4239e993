//! Normalized market events: what every venue decoder produces, whatever the venue's wire format.
//!
//! Everything here is `Copy` and fixed-size so that events can cross SPSC rings and be stored
//! without allocating. Prices and quantities are kept as the exact decimal the exchange sent
//! ([`Decimal`]); conversion to `f64` happens once, where bars are computed.

use std::fmt;

/// The taker (aggressor) side of a trade, or the side of a liquidation *order*
/// (`Sell` = a long position was liquidated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Side {
    Buy = 0,
    Sell = 1,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// What an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EventKind {
    /// A market trade: sets OHLC, `vbuy/vsell`, `cbuy/csell`.
    Trade = 0,
    /// A forced liquidation print: only `lbuy/lsell`.
    Liquidation = 1,
    /// An open-interest reading: `qty` = open interest in base units at `ts_us`, `price` = the
    /// venue's reference price when it sends one (else zero), `side` meaningless (`Buy`).
    /// Never part of a bar.
    OpenInterest = 2,
    /// A venue print that is not a market trade (Binance USDⓈ-M `@trade` with `X` =
    /// `INSURANCE_FUND`, `ADL`, …). It makes no bar; it is reported only because it consumes a
    /// trade id, so that id-based gap detection stays exact (`trade_id` set, `fills` = 1).
    NonMarket = 3,
    /// Engine-internal control record, never produced by a decoder: marks (or clears) the
    /// "unrecovered gap" flag on a market's stored bars (see the engine's `continuity`).
    GapMark = 4,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Trade => "trade",
            EventKind::Liquidation => "liquidation",
            EventKind::OpenInterest => "open_interest",
            EventKind::NonMarket => "non_market",
            EventKind::GapMark => "gap_mark",
        }
    }
}

/// An exact decimal number as written by the exchange: `mantissa × 10^-scale`.
///
/// `"76650.00000000"` is `{ mantissa: 7665000000000, scale: 8 }`; equality is numeric
/// (`76650.00000000 == 76650`), formatting keeps the exchange's scale.
#[derive(Clone, Copy)]
pub struct Decimal {
    pub mantissa: i64,
    pub scale: u8,
}

/// Powers of ten exactly representable in `f64` (up to 1e22).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

impl Decimal {
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        scale: 0,
    };

    /// Largest number of fractional digits accepted (10^18 still fits an `i64`).
    pub const MAX_SCALE: u8 = 18;

    pub const fn new(mantissa: i64, scale: u8) -> Decimal {
        Decimal { mantissa, scale }
    }

    /// The nearest `f64`. Exact inputs (mantissa < 2^53) give the correctly rounded result,
    /// because both operands of the division are exact.
    #[inline]
    pub fn to_f64(self) -> f64 {
        self.mantissa as f64 / POW10[self.scale as usize]
    }

    pub fn is_zero(self) -> bool {
        self.mantissa == 0
    }

    /// Parse a plain decimal literal (`-12.345`, `0.00040000`, `58`); exponents are accepted
    /// too (`1.423e-4`) since some venues send them. `None` on anything else or on overflow.
    pub fn parse(text: &[u8]) -> Option<Decimal> {
        if let Some(d) = Self::parse_plain(text) {
            return Some(d);
        }
        Self::parse_general(text)
    }

    /// The common case, `123.456` with at most 18 digits and no sign or exponent: no overflow
    /// is possible, so no checked arithmetic. `None` sends anything else to the general parser.
    #[inline]
    fn parse_plain(text: &[u8]) -> Option<Decimal> {
        if text.is_empty() || text.len() > 19 {
            return None;
        }
        let mut mantissa: i64 = 0;
        let mut dot: Option<usize> = None;
        for (i, &c) in text.iter().enumerate() {
            match c {
                b'0'..=b'9' => mantissa = mantissa * 10 + i64::from(c - b'0'),
                b'.' if dot.is_none() => dot = Some(i),
                _ => return None,
            }
        }
        let digits = text.len() - usize::from(dot.is_some());
        if digits == 0 || digits > 18 {
            return None;
        }
        let scale = dot.map_or(0, |at| text.len() - at - 1);
        Some(Decimal {
            mantissa,
            scale: scale as u8,
        })
    }

    fn parse_general(text: &[u8]) -> Option<Decimal> {
        let (neg, digits) = match text.first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let mut mantissa: i64 = 0;
        let mut scale: i32 = 0;
        let mut seen_digit = false;
        let mut seen_dot = false;
        // Fractional zeros not yet folded into the mantissa: they only matter if a non-zero
        // digit follows, so `0.1000…000` (more than 18 digits) still parses.
        let mut pending_zeros: i32 = 0;
        let mut exponent = 0;
        let mut i = 0;
        while i < digits.len() {
            let c = digits[i];
            match c {
                b'0' if seen_dot => {
                    seen_digit = true;
                    pending_zeros += 1;
                }
                b'0'..=b'9' => {
                    seen_digit = true;
                    for _ in 0..pending_zeros {
                        mantissa = mantissa.checked_mul(10)?;
                    }
                    scale += pending_zeros;
                    pending_zeros = 0;
                    mantissa = mantissa.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
                    if seen_dot {
                        scale += 1;
                    }
                }
                b'.' if !seen_dot => seen_dot = true,
                b'e' | b'E' if seen_digit => {
                    exponent = parse_exponent(&digits[i + 1..])?;
                    break;
                }
                _ => return None,
            }
            i += 1;
        }
        if !seen_digit {
            return None;
        }
        // Keep the exchange's trailing zeros (its scale) where they fit.
        while pending_zeros > 0 && scale < i32::from(Self::MAX_SCALE) {
            match mantissa.checked_mul(10) {
                Some(m) => mantissa = m,
                None => break,
            }
            scale += 1;
            pending_zeros -= 1;
        }
        scale -= exponent;
        // Negative scale (large exponent): multiply out.
        while scale < 0 {
            mantissa = mantissa.checked_mul(10)?;
            scale += 1;
        }
        // Too many fractional digits: drop trailing zeros, else refuse.
        while scale > i32::from(Self::MAX_SCALE) {
            if mantissa % 10 != 0 {
                return None;
            }
            mantissa /= 10;
            scale -= 1;
        }
        Some(Decimal {
            mantissa: if neg { -mantissa } else { mantissa },
            scale: scale as u8,
        })
    }

    /// `(mantissa, scale)` with trailing zeros removed, for numeric comparison.
    pub fn normalized(self) -> (i64, u8) {
        let (mut m, mut s) = (self.mantissa, self.scale);
        while s > 0 && m % 10 == 0 {
            m /= 10;
            s -= 1;
        }
        (m, s)
    }
}

fn parse_exponent(text: &[u8]) -> Option<i32> {
    let (neg, digits) = match text.first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 3 {
        return None;
    }
    let mut e: i32 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        e = e * 10 + i32::from(c - b'0');
    }
    Some(if neg { -e } else { e })
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Decimal) -> bool {
        self.normalized() == other.normalized()
    }
}
impl Eq for Decimal {}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.mantissa < 0;
        let abs = self.mantissa.unsigned_abs();
        let scale = self.scale as u32;
        if neg {
            f.write_str("-")?;
        }
        if scale == 0 {
            return write!(f, "{abs}");
        }
        let div = 10u64.pow(scale);
        write!(
            f,
            "{}.{:0width$}",
            abs / div,
            abs % div,
            width = scale as usize
        )
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A venue's native instrument name as it appears in frames (`BTCUSDT`, `BTC-USDT-SWAP`),
/// stored inline so events stay `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Symbol {
    len: u8,
    bytes: [u8; Symbol::CAPACITY],
}

impl Symbol {
    pub const CAPACITY: usize = 31;
    pub const EMPTY: Symbol = Symbol {
        len: 0,
        bytes: [0; Symbol::CAPACITY],
    };

    /// `None` when longer than [`Symbol::CAPACITY`] bytes or not valid UTF-8.
    pub fn new(text: &[u8]) -> Option<Symbol> {
        if text.len() > Self::CAPACITY || std::str::from_utf8(text).is_err() {
            return None;
        }
        let mut bytes = [0; Self::CAPACITY];
        bytes[..text.len()].copy_from_slice(text);
        Some(Symbol {
            len: text.len() as u8,
            bytes,
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    pub fn as_str(&self) -> &str {
        // Validated as UTF-8 in `new`.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One normalized trade or liquidation, as decoded from one venue frame.
///
/// `qty` is in **base units** (contracts already converted); `side` is the taker side for
/// trades and the liquidation order side for liquidations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub side: Side,
    /// The venue's instrument name as in the frame (case as the venue writes it there).
    pub symbol: Symbol,
    pub price: Decimal,
    pub qty: Decimal,
    /// Exchange trade/fill time, µs since the Unix epoch.
    pub ts_us: i64,
    /// The venue's trade id (aggregate id for aggregated trades); `None` when the venue has none.
    pub trade_id: Option<u64>,
    /// Number of underlying fills this event stands for (`l - f + 1` for Binance aggTrade), ≥ 1.
    pub fills: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(text: &str) -> Option<(i64, u8)> {
        Decimal::parse(text.as_bytes()).map(|x| (x.mantissa, x.scale))
    }

    #[test]
    fn parses_exchange_decimals_exactly() {
        assert_eq!(d("76650.00000000"), Some((7_665_000_000_000, 8)));
        assert_eq!(d("0.00040000"), Some((40_000, 8)));
        assert_eq!(d("58"), Some((58, 0)));
        assert_eq!(d("-12.5"), Some((-125, 1)));
        assert_eq!(d("+3"), Some((3, 0)));
        assert_eq!(d("1.423e-4"), Some((1423, 7)));
        assert_eq!(d("2E3"), Some((2000, 0)));
        assert_eq!(d(".5"), Some((5, 1)));
        assert_eq!(d("1."), Some((1, 0)));
        assert_eq!(d("999999999999999999"), Some((999_999_999_999_999_999, 0)));
        // 19 digits still fit an i64 through the general parser; 20 do not.
        assert_eq!(
            d("1234567890123456789"),
            Some((1_234_567_890_123_456_789, 0))
        );
        assert_eq!(d("99999999999999999999"), None);
        // More than 18 fractional digits only when the extra ones are zeros.
        assert_eq!(
            Decimal::parse(b"0.1000000000000000000000"),
            Some(Decimal::new(1, 1)),
            "trailing zeros beyond 18 digits are dropped"
        );
        assert_eq!(
            d("0.1000000000000000000000"),
            Some((100_000_000_000_000_000, 18))
        );
        assert_eq!(d("0.0000000000000000001"), None);
        for bad in [
            "", ".", "-", "1.2.3", "1e", "e5", "0x10", "1,5", " 1", "NaN", "1e9999",
        ] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn equality_is_numeric_and_display_keeps_the_scale() {
        let a = Decimal::parse(b"76650.00000000").unwrap();
        let b = Decimal::parse(b"76650").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "76650.00000000");
        assert_eq!(Decimal::parse(b"-0.05").unwrap().to_string(), "-0.05");
        assert_eq!(Decimal::parse(b"0.00040000").unwrap().to_f64(), 0.0004);
        assert_eq!(a.to_f64(), 76650.0);
    }

    proptest! {
        /// The fast path and the general parser agree wherever the fast path answers, and
        /// the result round-trips through `Display`.
        #[test]
        fn fast_and_general_parsers_agree(int in 0u64..10_000_000_000, frac in 0u64..100_000_000, scale in 0usize..9) {
            let text = if scale == 0 {
                int.to_string()
            } else {
                format!("{int}.{:0width$}", frac % 10u64.pow(scale as u32), width = scale)
            };
            let fast = Decimal::parse_plain(text.as_bytes()).map(|x| (x.mantissa, x.scale));
            let general = Decimal::parse_general(text.as_bytes()).map(|x| (x.mantissa, x.scale));
            prop_assert_eq!(fast, general);
            let parsed = Decimal::parse(text.as_bytes()).unwrap();
            prop_assert_eq!(parsed.to_string(), text);
        }
    }
}
