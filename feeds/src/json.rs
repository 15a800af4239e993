//! The one JSON reader of the venue decoders and REST parsers, over simd-json's tape: a
//! reusable in-place [`Parser`], a [`Val`] view of one JSON value with one-pass object/array
//! iteration, and typed field readers that name the field in their errors.
//!
//! **Numbers are read exactly.** Prices and sizes become a [`Decimal`] from the digits the
//! venue wrote, never through `f64`: decimal strings (`"65083.67"`) are parsed as they are;
//! JSON integers are exact on the tape; for a JSON number with a fraction or an exponent
//! (Kraken v2, BitMEX, Deribit, Bitfinex, Kraken Futures, HTX) simd-json's tape holds only an
//! `f64`, which loses the text (`0.00044780` → `4.478e-4`, and more than 15–17 significant
//! digits are rounded). A [`Parser::new`] therefore keeps a copy of the frame and the byte
//! offset of every tape node (from simd-json's structural indexes: the n-th node starts at
//! the n-th structural character that is not `:`, `,`, `}` or `]`), and [`Val::literal`]
//! hands the literal text to [`Decimal::parse`]. The copy and the offsets live in reused
//! buffers. Venues that send every decimal as a string use [`Parser::without_literals`],
//! which skips the copy.
//!
//! Steady-state parsing allocates nothing: the buffers grow to the largest frame and stay.
//! SIMD instructions are picked at run time (simd-json's `runtime-detection` feature), so no
//! `-C target-cpu` flag is needed. This is the only module that names simd-json.

use crate::event::{Decimal, Event, Side, Symbol};
use crate::venue::DecodeError;
use simd_json::{Buffers, Node, StaticNode, Tape};

/// Frame size the parse buffers are sized for up front; market-data frames are far smaller.
const INITIAL_FRAME_CAPACITY: usize = 4096;

/// Tape nodes reserved up front (a trade frame needs a few dozen).
const INITIAL_TAPE_NODES: usize = 512;

/// A reusable parser: simd-json buffers and tape, plus the frame copy and node offsets that
/// number literals need. Nothing is allocated once the buffers have grown to the largest frame.
pub(crate) struct Parser {
    buffers: Buffers,
    /// Always empty between calls; kept only for its allocation.
    tape: Tape<'static>,
    /// A copy of the frame as received (simd-json unescapes strings in place).
    text: Vec<u8>,
    /// Byte offset in `text` of every tape node.
    starts: Vec<u32>,
    /// Whether number literals are kept (`text` and `starts` filled).
    literals: bool,
}

impl Parser {
    /// A parser that keeps number literals ([`Val::literal`]), for venues that send prices
    /// or sizes as JSON numbers.
    pub(crate) fn new() -> Parser {
        Parser {
            buffers: Buffers::new(INITIAL_FRAME_CAPACITY),
            tape: Tape(Vec::with_capacity(INITIAL_TAPE_NODES)),
            text: Vec::with_capacity(INITIAL_FRAME_CAPACITY),
            starts: Vec::with_capacity(INITIAL_TAPE_NODES),
            literals: true,
        }
    }

    /// A parser for venues that send every decimal as a string: no frame copy, no node
    /// offsets, and [`Val::literal`] is always `None` (a JSON number with a fraction where a
    /// decimal is read is then a `Field` error, never an `f64` guess).
    pub(crate) fn without_literals() -> Parser {
        Parser {
            buffers: Buffers::new(INITIAL_FRAME_CAPACITY),
            tape: Tape(Vec::with_capacity(INITIAL_TAPE_NODES)),
            text: Vec::new(),
            starts: Vec::new(),
            literals: false,
        }
    }

    /// Parse `frame` (in place; its contents are unspecified afterwards) and run `f` on its
    /// root value. Invalid JSON is [`DecodeError::Malformed`].
    #[inline]
    pub(crate) fn parse<R>(
        &mut self,
        frame: &mut [u8],
        f: impl FnOnce(Val<'_, '_>) -> Result<R, DecodeError>,
    ) -> Result<R, DecodeError> {
        if self.literals {
            self.text.clear();
            self.starts.clear();
            self.text.extend_from_slice(frame);
        }
        // The tape's nodes borrow from `frame`: the kept (empty, `'static`) tape is
        // re-lifetimed to this frame and emptied back afterwards (`Tape::reset` clears it,
        // keeping the allocation).
        let mut tape = std::mem::replace(&mut self.tape, Tape(Vec::new())).reset();
        let result = match simd_json::fill_tape(frame, &mut self.buffers, &mut tape) {
            Ok(()) => {
                if self.literals {
                    for &at in self.buffers.structural_indexes() {
                        match self.text.get(at as usize) {
                            Some(b':' | b',' | b'}' | b']') | None => {}
                            Some(_) => self.starts.push(at),
                        }
                    }
                }
                let doc = Doc {
                    nodes: tape.0.len(),
                    text: &self.text,
                    starts: &self.starts,
                };
                f(Val {
                    rest: &tape.0,
                    doc: &doc,
                })
            }
            Err(_) => Err(DecodeError::Malformed),
        };
        self.tape = tape.reset();
        result
    }
}

/// What number literals need of one parsed frame: the tape's length, the frame's text and
/// where each node starts (both empty without literals).
pub(crate) struct Doc<'t> {
    nodes: usize,
    text: &'t [u8],
    starts: &'t [u32],
}

/// One JSON value of a parsed frame: the tape from its first node on (so reading a value is
/// one slice access), and the frame's literals (its node index is the tape length minus
/// `rest.len()`).
#[derive(Clone, Copy)]
pub(crate) struct Val<'t, 'i> {
    rest: &'t [Node<'i>],
    doc: &'t Doc<'t>,
}

/// Number of tape nodes the value starting with `node` occupies.
#[inline]
fn span(node: &Node<'_>) -> usize {
    match node {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        Node::String(_) | Node::Static(_) => 1,
    }
}

impl<'t, 'i> Val<'t, 'i> {
    #[inline]
    fn node(self) -> Option<&'t Node<'i>> {
        self.rest.first()
    }

    /// The key/value pairs when this is an object.
    #[inline]
    pub(crate) fn entries(self) -> Option<Entries<'t, 'i>> {
        match self.node()? {
            Node::Object { len, .. } => Some(Entries {
                rest: self.rest.get(1..)?,
                doc: self.doc,
                remaining: *len,
            }),
            _ => None,
        }
    }

    /// The elements when this is an array.
    #[inline]
    pub(crate) fn elements(self) -> Option<Elements<'t, 'i>> {
        match self.node()? {
            Node::Array { len, .. } => Some(Elements {
                rest: self.rest.get(1..)?,
                doc: self.doc,
                remaining: *len,
            }),
            _ => None,
        }
    }

    /// Number of elements of an array (members of an object).
    pub(crate) fn len(self) -> Option<usize> {
        match self.node()? {
            Node::Array { len, .. } | Node::Object { len, .. } => Some(*len),
            _ => None,
        }
    }

    /// The value of the last `key` of an object (one linear pass).
    pub(crate) fn get(self, key: &str) -> Option<Val<'t, 'i>> {
        self.entries()?
            .filter(|(k, _)| *k == key)
            .last()
            .map(|(_, v)| v)
    }

    /// Element `index` of an array.
    pub(crate) fn index(self, index: usize) -> Option<Val<'t, 'i>> {
        self.elements()?.nth(index)
    }

    #[inline]
    pub(crate) fn str(self) -> Option<&'i str> {
        match self.node()? {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_bool(self) -> Option<bool> {
        match self.node()? {
            Node::Static(StaticNode::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    pub(crate) fn is_object(self) -> bool {
        matches!(self.node(), Some(Node::Object { .. }))
    }

    pub(crate) fn is_array(self) -> bool {
        matches!(self.node(), Some(Node::Array { .. }))
    }

    pub(crate) fn is_null(self) -> bool {
        matches!(self.node(), Some(Node::Static(StaticNode::Null)))
    }

    pub(crate) fn is_number(self) -> bool {
        matches!(
            self.node(),
            Some(Node::Static(
                StaticNode::I64(_) | StaticNode::U64(_) | StaticNode::F64(_)
            ))
        )
    }

    /// The source text of a JSON number (`0.00044780`, `-76.7682617`, `1.423e-4`); `None`
    /// for other values and from a parser [`without literals`](Parser::without_literals).
    pub(crate) fn literal(self) -> Option<&'t [u8]> {
        if !self.is_number() {
            return None;
        }
        let at = self.doc.nodes.checked_sub(self.rest.len())?;
        let start = *self.doc.starts.get(at)? as usize;
        let rest = self.doc.text.get(start..)?;
        let len = rest
            .iter()
            .position(|c| !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
            .unwrap_or(rest.len());
        rest.get(..len)
    }
}

/// The key/value pairs of a JSON object, in frame order.
pub(crate) struct Entries<'t, 'i> {
    rest: &'t [Node<'i>],
    doc: &'t Doc<'t>,
    remaining: usize,
}

impl<'t, 'i> Iterator for Entries<'t, 'i> {
    type Item = (&'i str, Val<'t, 'i>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        // The tape is simd-json's own and consistent, but a short tape must end the walk,
        // not panic: hence `get`.
        let key = match self.rest.first()? {
            Node::String(key) => *key,
            _ => return None,
        };
        let value = self.rest.get(1..)?;
        self.rest = value.get(span(value.first()?)..)?;
        Some((
            key,
            Val {
                rest: value,
                doc: self.doc,
            },
        ))
    }
}

/// The elements of a JSON array, in frame order.
#[derive(Clone)]
pub(crate) struct Elements<'t, 'i> {
    rest: &'t [Node<'i>],
    doc: &'t Doc<'t>,
    remaining: usize,
}

impl<'t, 'i> Iterator for Elements<'t, 'i> {
    type Item = Val<'t, 'i>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let value = self.rest;
        self.rest = value.get(span(value.first()?)..)?;
        Some(Val {
            rest: value,
            doc: self.doc,
        })
    }
}

// ---- objects and arrays by field name ----

/// The values of `keys` in object `value`, read in one pass (later duplicates win); `None`
/// when `value` is not an object.
pub(crate) fn pick<'t, 'i, const N: usize>(
    value: Val<'t, 'i>,
    keys: [&str; N],
) -> Option<[Option<Val<'t, 'i>>; N]> {
    let mut out = [None; N];
    for (key, v) in value.entries()? {
        if let Some(i) = keys.iter().position(|k| *k == key) {
            out[i] = Some(v);
        }
    }
    Some(out)
}

/// Like [`pick`], but a missing value or a non-object is a `Field(name)` error.
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
    value
        .and_then(Val::elements)
        .ok_or(DecodeError::Field(name))
}

// ---- typed fields: each error names the field ----

/// A JSON string field.
#[inline]
pub(crate) fn string<'i>(
    value: Option<Val<'_, 'i>>,
    name: &'static str,
) -> Result<&'i str, DecodeError> {
    value.and_then(Val::str).ok_or(DecodeError::Field(name))
}

/// A JSON boolean field.
pub(crate) fn boolean(value: Option<Val<'_, '_>>, name: &'static str) -> Result<bool, DecodeError> {
    value.and_then(Val::as_bool).ok_or(DecodeError::Field(name))
}

/// A JSON integer that fits a `u64`. A number of the right type but out of range
/// (negative, fractional, too large) is a `Number` error; anything else (a string too) a
/// `Field` error.
#[inline]
pub(crate) fn unsigned_int(
    value: Option<Val<'_, '_>>,
    name: &'static str,
) -> Result<u64, DecodeError> {
    match value.and_then(Val::node) {
        Some(Node::Static(StaticNode::U64(n))) => Ok(*n),
        Some(Node::Static(StaticNode::I64(n))) => {
            u64::try_from(*n).map_err(|_| DecodeError::Number(name))
        }
        Some(Node::Static(StaticNode::F64(_))) => Err(DecodeError::Number(name)),
        _ => Err(DecodeError::Field(name)),
    }
}

/// A JSON integer that fits an `i64` (error codes may be negative); a string is a `Field`
/// error.
pub(crate) fn signed_int(
    value: Option<Val<'_, '_>>,
    name: &'static str,
) -> Result<i64, DecodeError> {
    match value.and_then(Val::node) {
        Some(Node::Static(StaticNode::I64(n))) => Ok(*n),
        Some(Node::Static(StaticNode::U64(n))) => {
            i64::try_from(*n).map_err(|_| DecodeError::Number(name))
        }
        Some(Node::Static(StaticNode::F64(_))) => Err(DecodeError::Number(name)),
        _ => Err(DecodeError::Field(name)),
    }
}

/// An unsigned integer sent as a JSON integer or as a string of digits (OKX and Bitget send
/// ids and times as strings). Negative, fractional or oversized values are `Number` errors.
pub(crate) fn unsigned(value: Option<Val<'_, '_>>, name: &'static str) -> Result<u64, DecodeError> {
    match value.and_then(Val::str) {
        Some(s) => digits(s).ok_or(DecodeError::Number(name)),
        None => unsigned_int(value, name),
    }
}

/// A signed integer (error codes), as a JSON integer or a string of digits with optional `-`.
pub(crate) fn signed(value: Option<Val<'_, '_>>, name: &'static str) -> Result<i64, DecodeError> {
    let Some(s) = value.and_then(Val::str) else {
        return signed_int(value, name);
    };
    let (neg, rest) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let n = digits(rest).and_then(|n| i64::try_from(n).ok());
    n.map(|n| if neg { -n } else { n })
        .ok_or(DecodeError::Number(name))
}

/// A non-empty string of ASCII digits that fits a `u64`.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A trade id sent as a decimal string (`"1068572090"`); a JSON number is a `Field` error.
pub(crate) fn str_id(value: Option<Val<'_, '_>>, name: &'static str) -> Result<u64, DecodeError> {
    digits(string(value, name)?).ok_or(DecodeError::Number(name))
}

/// A decimal sent as a JSON string (`"65083.67"`), the venue's documented type; a JSON
/// number is a `Field` error.
#[inline]
pub(crate) fn decimal_str(
    value: Option<Val<'_, '_>>,
    name: &'static str,
) -> Result<Decimal, DecodeError> {
    Decimal::parse(string(value, name)?.as_bytes()).ok_or(DecodeError::Number(name))
}

/// A decimal sent as a JSON number, read from its literal text (never through `f64`). A
/// string is a `Field` error, as is any number from a parser without literals.
pub(crate) fn decimal_num(
    value: Option<Val<'_, '_>>,
    name: &'static str,
) -> Result<Decimal, DecodeError> {
    let text = value
        .and_then(Val::literal)
        .ok_or(DecodeError::Field(name))?;
    Decimal::parse(text).ok_or(DecodeError::Number(name))
}

/// A decimal sent as a JSON string or a JSON number (HTX, Gate), exactly: strings and number
/// literals are parsed as written, integers taken as they are.
pub(crate) fn decimal(
    value: Option<Val<'_, '_>>,
    name: &'static str,
) -> Result<Decimal, DecodeError> {
    match value.and_then(Val::node) {
        Some(Node::String(s)) => Decimal::parse(s.as_bytes()).ok_or(DecodeError::Number(name)),
        Some(Node::Static(StaticNode::U64(n))) => i64::try_from(*n)
            .map(|m| Decimal::new(m, 0))
            .map_err(|_| DecodeError::Number(name)),
        Some(Node::Static(StaticNode::I64(n))) => Ok(Decimal::new(*n, 0)),
        Some(Node::Static(StaticNode::F64(_))) => decimal_num(value, name),
        _ => Err(DecodeError::Field(name)),
    }
}

/// Milliseconds since the epoch (a JSON integer or a digit string) → µs.
pub(crate) fn millis(value: Option<Val<'_, '_>>, name: &'static str) -> Result<i64, DecodeError> {
    ms_to_us(unsigned(value, name)?, name)
}

/// Milliseconds since the epoch that must be a JSON integer → µs.
#[inline]
pub(crate) fn millis_int(
    value: Option<Val<'_, '_>>,
    name: &'static str,
) -> Result<i64, DecodeError> {
    ms_to_us(unsigned_int(value, name)?, name)
}

#[inline]
fn ms_to_us(ms: u64, name: &'static str) -> Result<i64, DecodeError> {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| ms.checked_mul(1000))
        .ok_or(DecodeError::Number(name))
}

/// An RFC 3339 UTC time field (`2021-04-17T16:43:30.244075Z`) → µs
/// ([`crate::civil::parse_rfc3339_us`]).
pub(crate) fn rfc3339(value: Option<Val<'_, '_>>, name: &'static str) -> Result<i64, DecodeError> {
    crate::civil::parse_rfc3339_us(string(value, name)?.as_bytes()).ok_or(DecodeError::Number(name))
}

/// A symbol field.
#[inline]
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
/// aggr-server drops them; an unfilled Binance force order also reports `ap` = 0), an error
/// for a negative size or a non-positive price.
#[inline]
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
    match value.and_then(Val::str) {
        Some(s) if s.len() == 36 => uuid_fold(s).ok_or(DecodeError::Number(name)),
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

// ---- writing (subscribe requests, start-up only) ----

/// Append `text` as a JSON string literal (subscribe messages are built from configured
/// names; a stray quote must not break the request).
pub(crate) fn push_string(out: &mut String, text: &str) {
    use std::fmt::Write as _;
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `["a","b"]` from names.
pub(crate) fn string_array(names: &[&str]) -> String {
    let mut out = String::from("[");
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_string(&mut out, name);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<R>(
        text: &str,
        f: impl FnOnce(Val<'_, '_>) -> Result<R, DecodeError>,
    ) -> Result<R, DecodeError> {
        let mut bytes = text.as_bytes().to_vec();
        Parser::new().parse(&mut bytes, f)
    }

    #[test]
    fn literals_keep_the_exchange_text() {
        let text = r#"{"a":"x\"y","p":83744.3,"q":0.00044780,"list":[1,{"k":-76.7682617},1.423e-4],"big":18125794168470749634,"t":true,"n":null}"#;
        with(text, |root| {
            assert_eq!(root.get("a").and_then(Val::str), Some("x\"y"));
            assert_eq!(root.get("p").and_then(Val::literal), Some(&b"83744.3"[..]));
            assert_eq!(decimal_num(root.get("q"), "q")?.to_string(), "0.00044780");
            let list = root.get("list").ok_or(DecodeError::Field("list"))?;
            assert_eq!(list.len(), Some(3));
            let k = list.index(1).and_then(|o| o.get("k"));
            assert_eq!(decimal_num(k, "k")?.to_string(), "-76.7682617");
            assert_eq!(decimal_num(list.index(2), "e")?, Decimal::new(1423, 7));
            assert_eq!(
                unsigned_int(root.get("big"), "big")?,
                18_125_794_168_470_749_634
            );
            assert!(root
                .get("n")
                .is_some_and(|n| !n.is_number() && n.str().is_none()));
            assert_eq!(
                decimal_num(root.get("t"), "t"),
                Err(DecodeError::Field("t"))
            );
            assert_eq!(
                decimal_num(root.get("a"), "a"),
                Err(DecodeError::Field("a"))
            );
            Ok(())
        })
        .unwrap();
        assert_eq!(with("{\"a\":", |_| Ok(())), Err(DecodeError::Malformed));
    }

    /// What the f64 route got wrong: a literal past 15–17 significant digits, and trailing
    /// zeros (the venue's scale), are kept as written.
    #[test]
    fn number_literals_are_exact() {
        let text = r#"[52648.62,0.006754,1e-7,3.0,-0.5,123456789.123456789,0.10000000,7,"2.50"]"#;
        with(text, |root| {
            let got: Vec<Decimal> = root
                .elements()
                .unwrap()
                .map(|v| decimal(Some(v), "n"))
                .collect::<Result<_, _>>()?;
            let want = [
                Decimal::new(5264862, 2),
                Decimal::new(6754, 6),
                Decimal::new(1, 7),
                Decimal::new(3, 0),
                Decimal::new(-5, 1),
                Decimal::new(123_456_789_123_456_789, 9),
                Decimal::new(1, 1),
                Decimal::new(7, 0),
                Decimal::new(25, 1),
            ];
            assert_eq!(got, want);
            // Exact, not the nearest f64 (which is 123456789.12345679).
            assert_eq!(got[5].mantissa, 123_456_789_123_456_789);
            assert_eq!(got[6].to_string(), "0.10000000");
            Ok(())
        })
        .unwrap();
        // Too long for an i64 mantissa: refused, not rounded.
        let big = with("[1e300]", |root| decimal(root.index(0), "n"));
        assert_eq!(big, Err(DecodeError::Number("n")));
    }

    #[test]
    fn without_literals_numbers_have_no_text() {
        let mut bytes = br#"{"p":1.5,"s":"2.5","i":3}"#.to_vec();
        let got = Parser::without_literals().parse(&mut bytes, |root| {
            Ok((
                decimal_num(root.get("p"), "p"),
                decimal(root.get("p"), "p"),
                decimal_str(root.get("s"), "s")?,
                decimal(root.get("i"), "i")?,
            ))
        });
        assert_eq!(
            got,
            Ok((
                Err(DecodeError::Field("p")),
                Err(DecodeError::Field("p")),
                Decimal::new(25, 1),
                Decimal::new(3, 0)
            ))
        );
    }

    #[test]
    fn node_offsets_cover_every_node() {
        for text in [
            r#"[232960,[[670002570,1618677535660,-76.7682617,0.00002516]],9]"#,
            r#"{"e":{},"f":[],"g":[[],{}],"h":"}],:"}"#,
            "7",
        ] {
            let mut bytes = text.as_bytes().to_vec();
            let mut p = Parser::new();
            let nodes = p.parse(&mut bytes, |root| Ok(root.doc.nodes)).unwrap();
            assert_eq!(p.starts.len(), nodes, "{text}");
        }
    }

    #[test]
    fn strings_are_escaped() {
        let mut out = String::new();
        push_string(&mut out, "a\"b\\c\n");
        assert_eq!(out, r#""a\"b\\c\u000a""#);
        assert_eq!(string_array(&["x", "y\""]), r#"["x","y\""]"#);
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
            // The strict readers take JSON integers only.
            assert_eq!(unsigned_int(a, "a"), Err(DecodeError::Field("a")));
            assert_eq!(signed_int(c, "c"), Err(DecodeError::Field("c")));
            assert_eq!(unsigned_int(b, "b"), Ok(7));
            assert_eq!(str_id(a, "a"), Ok(123));
            assert_eq!(str_id(b, "b"), Err(DecodeError::Field("b")));
            Ok(())
        })
        .unwrap();
    }

    /// simd-json picks its SIMD code at run time (the `runtime-detection` feature), so a
    /// build without `-C target-cpu` still uses AVX2 where the CPU has it.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn simd_implementation_is_detected_at_run_time() {
        use simd_json::{Deserializer, Implementation};
        let want = if std::is_x86_feature_detected!("avx2") {
            Implementation::AVX2
        } else if std::is_x86_feature_detected!("sse4.2") {
            Implementation::SSE42
        } else {
            Implementation::Native
        };
        assert_eq!(Deserializer::algorithm(), want);
    }
}
