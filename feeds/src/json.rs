//! Shared simd-json plumbing for the adapters of issue 3 (Bybit, OKX, Bitget, Hyperliquid,
//! HTX, Gate): a reusable in-place parser ([`Parser`]) and allocation-free accessors over its
//! tape ([`Val`], [`pick`], typed field readers).
//!
//! Every reader names the field it was asked for, so a bad frame becomes a
//! [`DecodeError`] that says which field was wrong. Numbers that venues send as JSON numbers
//! (HTX prices and sizes, Gate contract counts) are read through their shortest round-trip
//! decimal text: exact for every literal of at most 15 significant digits, which covers every
//! price and size these venues print (see [`decimal`]).

use crate::event::{Decimal, Event, Side, Symbol};
use crate::venue::DecodeError;
use simd_json::{Buffers, Node, StaticNode, Tape};
use std::io::Write as _;

/// One JSON value on the tape: its first node and, for objects and arrays, everything nested.
pub(crate) type Val<'t, 'i> = &'t [Node<'i>];

/// Frame size the parse buffers are sized for up front.
const INITIAL_FRAME_CAPACITY: usize = 4096;
/// Tape nodes reserved up front.
const INITIAL_TAPE_NODES: usize = 512;

/// simd-json buffers and tape kept between frames, so steady-state parsing allocates nothing.
pub(crate) struct Parser {
    buffers: Buffers,
    /// Always empty between calls; kept only for its allocation.
    tape: Tape<'static>,
}

impl Parser {
    pub(crate) fn new() -> Parser {
        Parser {
            buffers: Buffers::new(INITIAL_FRAME_CAPACITY),
            tape: Tape(Vec::with_capacity(INITIAL_TAPE_NODES)),
        }
    }

    /// Parse `frame` in place and hand its root value to `f`. Invalid JSON is
    /// [`DecodeError::Malformed`].
    pub(crate) fn parse<R>(
        &mut self,
        frame: &mut [u8],
        f: impl FnOnce(Val<'_, '_>) -> Result<R, DecodeError>,
    ) -> Result<R, DecodeError> {
        // The tape's nodes borrow from `frame`: the kept (empty, `'static`) tape is
        // re-lifetimed for this parse and emptied back afterwards (`reset` keeps the memory).
        let mut tape = std::mem::replace(&mut self.tape, Tape(Vec::new())).reset();
        let result = match simd_json::fill_tape(frame, &mut self.buffers, &mut tape) {
            Ok(()) => f(&tape.0),
            Err(_) => Err(DecodeError::Malformed),
        };
        self.tape = tape.reset();
        result
    }
}

/// Number of tape nodes the value starting with `node` occupies.
fn span(node: &Node<'_>) -> usize {
    match node {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        Node::String(_) | Node::Static(_) => 1,
    }
}

/// The key/value pairs of a JSON object, in frame order.
pub(crate) struct Entries<'t, 'i> {
    rest: &'t [Node<'i>],
    remaining: usize,
}

impl<'t, 'i> Iterator for Entries<'t, 'i> {
    type Item = (&'i str, Val<'t, 'i>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let key = match self.rest.first()? {
            Node::String(key) => *key,
            _ => return None,
        };
        let len = span(self.rest.get(1)?);
        let value = self.rest.get(1..1 + len)?;
        self.rest = self.rest.get(1 + len..)?;
        Some((key, value))
    }
}

/// `Some` when `value` is a JSON object.
pub(crate) fn entries<'t, 'i>(value: Val<'t, 'i>) -> Option<Entries<'t, 'i>> {
    match value.first()? {
        Node::Object { len, .. } => Some(Entries {
            rest: value.get(1..)?,
            remaining: *len,
        }),
        _ => None,
    }
}

/// The elements of a JSON array, in order.
#[derive(Clone)]
pub(crate) struct Elements<'t, 'i> {
    rest: &'t [Node<'i>],
    remaining: usize,
}

impl<'t, 'i> Iterator for Elements<'t, 'i> {
    type Item = Val<'t, 'i>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let len = span(self.rest.first()?);
        let value = self.rest.get(..len)?;
        self.rest = self.rest.get(len..)?;
        Some(value)
    }
}

/// `Some` when `value` is a JSON array.
pub(crate) fn elements<'t, 'i>(value: Val<'t, 'i>) -> Option<Elements<'t, 'i>> {
    match value.first()? {
        Node::Array { len, .. } => Some(Elements {
            rest: value.get(1..)?,
            remaining: *len,
        }),
        _ => None,
    }
}

/// The values of `keys` in object `value`, read in one pass (later duplicates win); `None`
/// when `value` is not an object.
pub(crate) fn pick<'t, 'i, const N: usize>(
    value: Val<'t, 'i>,
    keys: [&str; N],
) -> Option<[Option<Val<'t, 'i>>; N]> {
    let mut out = [None; N];
    for (key, v) in entries(value)? {
        if let Some(i) = keys.iter().position(|k| *k == key) {
            out[i] = Some(v);
        }
    }
    Some(out)
}

/// Like [`pick`], but a non-object is a `Field(name)` error.
pub(crate) fn object<'t, 'i, const N: usize>(
    value: Option<Val<'t, 'i>>,
    name: &'static str,
    keys: [&str; N],
) -> Result<[Option<Val<'t, 'i>>; N], DecodeError> {
    value
        .and_then(|v| pick(v, keys))
        .ok_or(DecodeError::Field(name))
}

/// The elements of an array field; a non-array is a `Field(name)` error.
pub(crate) fn array<'t, 'i>(
    value: Option<Val<'t, 'i>>,
    name: &'static str,
) -> Result<Elements<'t, 'i>, DecodeError> {
    value.and_then(elements).ok_or(DecodeError::Field(name))
}

/// A JSON string field.
pub(crate) fn string<'i>(
    value: Option<Val<'_, 'i>>,
    name: &'static str,
) -> Result<&'i str, DecodeError> {
    match value.and_then(|v| v.first()) {
        Some(Node::String(s)) => Ok(s),
        _ => Err(DecodeError::Field(name)),
    }
}

/// A JSON boolean field.
pub(crate) fn boolean(value: Option<Val<'_, '_>>, name: &'static str) -> Result<bool, DecodeError> {
    match value.and_then(|v| v.first()) {
        Some(Node::Static(StaticNode::Bool(b))) => Ok(*b),
        _ => Err(DecodeError::Field(name)),
    }
}

/// An unsigned integer sent as a JSON integer or as a string of digits (OKX and Bitget send
/// ids and times as strings). Negative, fractional or oversized values are `Number` errors.
pub(crate) fn unsigned(value: Option<Val<'_, '_>>, name: &'static str) -> Result<u64, DecodeError> {
    match value.and_then(|v| v.first()) {
        Some(Node::Static(StaticNode::U64(n))) => Ok(*n),
        Some(Node::Static(StaticNode::I64(n))) => {
            u64::try_from(*n).map_err(|_| DecodeError::Number(name))
        }
        Some(Node::Static(StaticNode::F64(_))) => Err(DecodeError::Number(name)),
        Some(Node::String(s)) => digits(s).ok_or(DecodeError::Number(name)),
        _ => Err(DecodeError::Field(name)),
    }
}

/// A signed integer (error codes), as a JSON integer or a string of digits with optional `-`.
pub(crate) fn signed(value: Option<Val<'_, '_>>, name: &'static str) -> Result<i64, DecodeError> {
    match value.and_then(|v| v.first()) {
        Some(Node::Static(StaticNode::I64(n))) => Ok(*n),
        Some(Node::Static(StaticNode::U64(n))) => {
            i64::try_from(*n).map_err(|_| DecodeError::Number(name))
        }
        Some(Node::Static(StaticNode::F64(_))) => Err(DecodeError::Number(name)),
        Some(Node::String(s)) => {
            let (neg, rest) = match s.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, *s),
            };
            let n = digits(rest).and_then(|n| i64::try_from(n).ok());
            n.map(|n| if neg { -n } else { n })
                .ok_or(DecodeError::Number(name))
        }
        _ => Err(DecodeError::Field(name)),
    }
}

/// A non-empty string of ASCII digits that fits a `u64`.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A decimal sent as a JSON string or a JSON number.
///
/// Strings are parsed exactly. Integers are exact. A JSON float has lost its text by the time
/// simd-json hands it over; it is rebuilt as the shortest decimal that round-trips to the same
/// `f64` (Rust's `Display`), which is the literal the venue wrote whenever that literal had at
/// most 15 significant digits (trailing zeros aside, which do not change the value).
pub(crate) fn decimal(
    value: Option<Val<'_, '_>>,
    name: &'static str,
) -> Result<Decimal, DecodeError> {
    match value.and_then(|v| v.first()) {
        Some(Node::String(s)) => Decimal::parse(s.as_bytes()).ok_or(DecodeError::Number(name)),
        Some(Node::Static(StaticNode::U64(n))) => i64::try_from(*n)
            .map(|m| Decimal::new(m, 0))
            .map_err(|_| DecodeError::Number(name)),
        Some(Node::Static(StaticNode::I64(n))) => Ok(Decimal::new(*n, 0)),
        Some(Node::Static(StaticNode::F64(f))) => {
            float_decimal(*f).ok_or(DecodeError::Number(name))
        }
        _ => Err(DecodeError::Field(name)),
    }
}

/// A decimal that must be sent as a JSON string (the venue's documented type).
pub(crate) fn decimal_str(
    value: Option<Val<'_, '_>>,
    name: &'static str,
) -> Result<Decimal, DecodeError> {
    let text = string(value, name)?;
    Decimal::parse(text.as_bytes()).ok_or(DecodeError::Number(name))
}

/// The shortest round-trip decimal of `f`, written to a stack buffer (no allocation).
pub(crate) fn float_decimal(f: f64) -> Option<Decimal> {
    if !f.is_finite() {
        return None;
    }
    let mut buf = [0u8; 48];
    let mut cursor: &mut [u8] = &mut buf;
    write!(cursor, "{f}").ok()?;
    let written = 48 - cursor.len();
    Decimal::parse(buf.get(..written)?)
}

/// Milliseconds (JSON integer or digit string) → µs since the epoch.
pub(crate) fn millis(value: Option<Val<'_, '_>>, name: &'static str) -> Result<i64, DecodeError> {
    let ms = unsigned(value, name)?;
    i64::try_from(ms)
        .ok()
        .and_then(|ms| ms.checked_mul(1000))
        .ok_or(DecodeError::Number(name))
}

/// A symbol field.
pub(crate) fn symbol(
    value: Option<Val<'_, '_>>,
    name: &'static str,
) -> Result<Symbol, DecodeError> {
    Symbol::new(string(value, name)?.as_bytes()).ok_or(DecodeError::Symbol)
}

/// A side written as `buy`/`sell` in some capitalisation (`Buy`, `BUY`).
pub(crate) fn side(value: Option<Val<'_, '_>>, name: &'static str) -> Result<Side, DecodeError> {
    let s = string(value, name)?;
    if s.eq_ignore_ascii_case("buy") {
        Ok(Side::Buy)
    } else if s.eq_ignore_ascii_case("sell") {
        Ok(Side::Sell)
    } else {
        Err(DecodeError::Field(name))
    }
}

/// Whether a price/size pair makes an event: `Ok(false)` for a zero size (dropped, as
/// aggr-server drops them), an error for a negative size or a non-positive price.
pub(crate) fn tradable(
    price: Decimal,
    qty: Decimal,
    price_name: &'static str,
    qty_name: &'static str,
) -> Result<bool, DecodeError> {
    if qty.mantissa < 0 {
        return Err(DecodeError::Number(qty_name));
    }
    if qty.is_zero() {
        return Ok(false);
    }
    if price.mantissa <= 0 {
        return Err(DecodeError::Number(price_name));
    }
    Ok(true)
}

/// A trade id: a JSON integer, a string of digits, or (Bybit linear/inverse) a UUID, which is
/// folded to 64 bits as `high64 XOR low64` of its 128-bit value. The fold is deterministic, so
/// the same fill always gets the same id (de-duplication after reconnects still works);
/// distinct UUIDs may collide with probability ~2^-64 per pair.
pub(crate) fn trade_id(value: Option<Val<'_, '_>>, name: &'static str) -> Result<u64, DecodeError> {
    match value.and_then(|v| v.first()) {
        Some(Node::String(s)) if s.len() == 36 => uuid_fold(s).ok_or(DecodeError::Number(name)),
        _ => unsigned(value, name),
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex, either case) → `high64 ^ low64`.
pub(crate) fn uuid_fold(s: &str) -> Option<u64> {
    let bytes = s.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let mut value: u128 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if b != b'-' {
                return None;
            }
            continue;
        }
        let nibble = (b as char).to_digit(16)?;
        value = (value << 4) | u128::from(nibble);
    }
    Some(((value >> 64) as u64) ^ (value as u64))
}

/// Turn every element of a batch into at most one event with `f`, emitting nothing unless
/// the whole batch is valid (a bad element refuses the frame: no partial batches). Returns
/// the number of events emitted.
pub(crate) fn emit_batch<'t, 'i>(
    items: Elements<'t, 'i>,
    mut f: impl FnMut(Val<'t, 'i>) -> Result<Option<Event>, DecodeError>,
    emit: &mut dyn FnMut(Event),
) -> Result<u32, DecodeError> {
    if items.remaining > 1 {
        for item in items.clone() {
            f(item)?;
        }
    }
    let mut n = 0;
    for item in items {
        if let Some(event) = f(item)? {
            emit(event);
            n += 1;
        }
    }
    Ok(n)
}

/// Append `text` as a JSON string literal (subscribe messages are built from configured
/// names; a stray quote must not break the request).
pub(crate) fn push_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                use std::fmt::Write as _;
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_become_their_shortest_decimal() {
        for (f, want) in [
            (52648.62, Decimal::new(5264862, 2)),
            (0.006754, Decimal::new(6754, 6)),
            (1e-7, Decimal::new(1, 7)),
            (3.0, Decimal::new(3, 0)),
            (-0.5, Decimal::new(-5, 1)),
        ] {
            assert_eq!(float_decimal(f), Some(want), "{f}");
        }
        assert_eq!(float_decimal(f64::NAN), None);
        assert_eq!(float_decimal(1e300), None, "too long for an i64 mantissa");
    }

    #[test]
    fn strings_are_escaped() {
        let mut out = String::new();
        push_string(&mut out, "a\"b\\c\n");
        assert_eq!(out, r#""a\"b\\c\u000a""#);
    }

    #[test]
    fn uuids_fold_to_64_bits() {
        let a = uuid_fold("4b0832c3-70e8-5f68-a914-c53f304f507c").unwrap();
        assert_eq!(a, 0x4b08_32c3_70e8_5f68 ^ 0xa914_c53f_304f_507c);
        assert_eq!(uuid_fold("4B0832C3-70E8-5F68-A914-C53F304F507C"), Some(a));
        assert_eq!(uuid_fold("4b0832c3x70e8-5f68-a914-c53f304f507c"), None);
        assert_eq!(uuid_fold("zb0832c3-70e8-5f68-a914-c53f304f507c"), None);
        assert_eq!(uuid_fold("4b0832c3-70e8-5f68-a914-c53f304f507"), None);
    }

    #[test]
    fn integers_from_numbers_and_strings() {
        let mut p = Parser::new();
        let mut frame =
            br#"{"a":"123","b":7,"c":"-4","d":"x","e":1.5,"f":"","g":"99999999999999999999999","h":137005445109359286410323766}"#
                .to_vec();
        p.parse(&mut frame, |root| {
            let [a, b, c, d, e, f, g, h] =
                pick(root, ["a", "b", "c", "d", "e", "f", "g", "h"]).unwrap();
            // Past u64: parsed (as a float, `big-int-as-float`), refused as an integer.
            assert_eq!(unsigned(h, "h"), Err(DecodeError::Number("h")));
            assert_eq!(unsigned(a, "a"), Ok(123));
            assert_eq!(unsigned(b, "b"), Ok(7));
            assert_eq!(signed(c, "c"), Ok(-4));
            assert_eq!(unsigned(c, "c"), Err(DecodeError::Number("c")));
            assert_eq!(unsigned(d, "d"), Err(DecodeError::Number("d")));
            assert_eq!(unsigned(e, "e"), Err(DecodeError::Number("e")));
            assert_eq!(unsigned(f, "f"), Err(DecodeError::Number("f")));
            assert_eq!(unsigned(g, "g"), Err(DecodeError::Number("g")));
            assert_eq!(unsigned(None, "z"), Err(DecodeError::Field("z")));
            assert_eq!(decimal(e, "e"), Ok(Decimal::new(15, 1)));
            Ok(())
        })
        .unwrap();
    }
}
