//! Reading simd-json tapes for the venue adapters (all but Binance, which keeps its own
//! reader in `binance::wire`): a reusable [`Parser`], a [`Val`] view of one JSON value with
//! one-pass object/array iteration, typed field accessors that name the field in their errors,
//! exact decimals from JSON **number literals**, RFC 3339 times and the f64 → [`Decimal`]
//! rounding used for inverse-contract quantities.
//!
//! **Number literals.** Kraken v2, BitMEX, Deribit, Bitfinex and Kraken Futures send prices and
//! sizes as JSON numbers. simd-json turns them into `f64` on the tape, which loses the text
//! (`0.00044780` → `4.478e-4`). [`Parser`] therefore keeps a copy of the frame and the byte
//! offset of every tape node (from simd-json's structural indexes: the n-th node starts at the
//! n-th structural character that is not `:`, `,`, `}` or `]`), and [`Val::literal`] hands the
//! literal text to [`Decimal::parse`]. The copy and the offsets live in reused buffers.

use crate::event::{Decimal, Symbol};
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
    /// A parser that keeps number literals ([`Val::literal`]).
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
    /// offsets, and [`Val::literal`] is always `None`.
    pub(crate) fn without_literals() -> Parser {
        Parser {
            literals: false,
            ..Parser::new()
        }
    }

    /// Parse `frame` (in place) and run `f` on its root value. Invalid JSON is
    /// [`DecodeError::Malformed`].
    pub(crate) fn parse<R>(
        &mut self,
        frame: &mut [u8],
        f: impl FnOnce(Val<'_, '_>) -> Result<R, DecodeError>,
    ) -> Result<R, DecodeError> {
        self.text.clear();
        self.starts.clear();
        if self.literals {
            self.text.extend_from_slice(frame);
        }
        // The kept tape is re-lifetimed to this frame and emptied back afterwards
        // (`Tape::reset` clears it, keeping the allocation), as in the Binance decoder.
        let mut tape = std::mem::replace(&mut self.tape, Tape(Vec::new())).reset();
        let result = match simd_json::fill_tape(frame, &mut self.buffers, &mut tape) {
            Ok(()) => {
                let indexes = if self.literals {
                    self.buffers.structural_indexes()
                } else {
                    &[]
                };
                for &at in indexes {
                    match self.text.get(at as usize) {
                        Some(b':' | b',' | b'}' | b']') | None => {}
                        Some(_) => self.starts.push(at),
                    }
                }
                let doc = Doc {
                    nodes: &tape.0,
                    text: &self.text,
                    starts: &self.starts,
                };
                f(Val { doc: &doc, at: 0 })
            }
            Err(_) => Err(DecodeError::Malformed),
        };
        self.tape = tape.reset();
        result
    }
}

/// One parsed frame: its tape, its text and where each node starts.
pub(crate) struct Doc<'t, 'i> {
    nodes: &'t [Node<'i>],
    text: &'t [u8],
    starts: &'t [u32],
}

/// One JSON value of a parsed frame.
#[derive(Clone, Copy)]
pub(crate) struct Val<'t, 'i> {
    doc: &'t Doc<'t, 'i>,
    at: usize,
}

/// Number of tape nodes the value starting with `node` occupies.
fn span(node: &Node<'_>) -> usize {
    match node {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        Node::String(_) | Node::Static(_) => 1,
    }
}

impl<'t, 'i> Val<'t, 'i> {
    fn node(self) -> Option<&'t Node<'i>> {
        self.doc.nodes.get(self.at)
    }

    /// The key/value pairs when this is an object.
    pub(crate) fn entries(self) -> Option<Entries<'t, 'i>> {
        match self.node()? {
            Node::Object { len, .. } => Some(Entries {
                doc: self.doc,
                next: self.at + 1,
                remaining: *len,
            }),
            _ => None,
        }
    }

    /// The elements when this is an array.
    pub(crate) fn elements(self) -> Option<Elements<'t, 'i>> {
        match self.node()? {
            Node::Array { len, .. } => Some(Elements {
                doc: self.doc,
                next: self.at + 1,
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

    /// The source text of a JSON number (`0.00044780`, `-76.7682617`, `1.423e-4`).
    pub(crate) fn literal(self) -> Option<&'t [u8]> {
        if !self.is_number() {
            return None;
        }
        let start = *self.doc.starts.get(self.at)? as usize;
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
    doc: &'t Doc<'t, 'i>,
    next: usize,
    remaining: usize,
}

impl<'t, 'i> Iterator for Entries<'t, 'i> {
    type Item = (&'i str, Val<'t, 'i>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        // The tape is simd-json's own and consistent, but a short tape must end the walk,
        // not panic: hence `get`.
        let key = match self.doc.nodes.get(self.next)? {
            Node::String(key) => *key,
            _ => return None,
        };
        let at = self.next + 1;
        self.next = at + span(self.doc.nodes.get(at)?);
        Some((key, Val { doc: self.doc, at }))
    }
}

/// The elements of a JSON array, in frame order.
pub(crate) struct Elements<'t, 'i> {
    doc: &'t Doc<'t, 'i>,
    next: usize,
    remaining: usize,
}

impl<'t, 'i> Iterator for Elements<'t, 'i> {
    type Item = Val<'t, 'i>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let at = self.next;
        self.next = at + span(self.doc.nodes.get(at)?);
        Some(Val { doc: self.doc, at })
    }
}

// ---- typed fields: each error names the field ----

/// A JSON string field.
pub(crate) fn string<'i>(
    v: Option<Val<'_, 'i>>,
    name: &'static str,
) -> Result<&'i str, DecodeError> {
    v.and_then(Val::str).ok_or(DecodeError::Field(name))
}

/// A JSON integer that fits a `u64`; a negative or fractional number is a `Number` error.
pub(crate) fn unsigned(v: Option<Val<'_, '_>>, name: &'static str) -> Result<u64, DecodeError> {
    match v.and_then(Val::node) {
        Some(Node::Static(StaticNode::U64(n))) => Ok(*n),
        Some(Node::Static(StaticNode::I64(n))) => {
            u64::try_from(*n).map_err(|_| DecodeError::Number(name))
        }
        Some(Node::Static(StaticNode::F64(_))) => Err(DecodeError::Number(name)),
        _ => Err(DecodeError::Field(name)),
    }
}

/// A JSON integer that fits an `i64` (error codes may be negative).
pub(crate) fn signed(v: Option<Val<'_, '_>>, name: &'static str) -> Result<i64, DecodeError> {
    match v.and_then(Val::node) {
        Some(Node::Static(StaticNode::I64(n))) => Ok(*n),
        Some(Node::Static(StaticNode::U64(n))) => {
            i64::try_from(*n).map_err(|_| DecodeError::Number(name))
        }
        Some(Node::Static(StaticNode::F64(_))) => Err(DecodeError::Number(name)),
        _ => Err(DecodeError::Field(name)),
    }
}

/// A decimal sent as a JSON string (`"65083.67"`).
pub(crate) fn str_decimal(
    v: Option<Val<'_, '_>>,
    name: &'static str,
) -> Result<Decimal, DecodeError> {
    Decimal::parse(string(v, name)?.as_bytes()).ok_or(DecodeError::Number(name))
}

/// A decimal sent as a JSON number, read from its literal text (never through `f64`).
pub(crate) fn num_decimal(
    v: Option<Val<'_, '_>>,
    name: &'static str,
) -> Result<Decimal, DecodeError> {
    let text = v.and_then(Val::literal).ok_or(DecodeError::Field(name))?;
    Decimal::parse(text).ok_or(DecodeError::Number(name))
}

/// A JSON string that is a venue symbol.
pub(crate) fn symbol(v: Option<Val<'_, '_>>, name: &'static str) -> Result<Symbol, DecodeError> {
    Symbol::new(string(v, name)?.as_bytes()).ok_or(DecodeError::Symbol)
}

/// Milliseconds since the epoch (a JSON integer) → µs.
pub(crate) fn millis(v: Option<Val<'_, '_>>, name: &'static str) -> Result<i64, DecodeError> {
    let ms = unsigned(v, name)?;
    i64::try_from(ms)
        .ok()
        .and_then(|ms| ms.checked_mul(1000))
        .ok_or(DecodeError::Number(name))
}

/// A trade id sent as a decimal string (`"1068572090"`).
pub(crate) fn str_id(v: Option<Val<'_, '_>>, name: &'static str) -> Result<u64, DecodeError> {
    let text = string(v, name)?;
    if text.is_empty() || !text.bytes().all(|c| c.is_ascii_digit()) {
        return Err(DecodeError::Number(name));
    }
    text.parse().map_err(|_| DecodeError::Number(name))
}

/// An RFC 3339 UTC time field (`2021-04-17T16:43:30.244075Z`) → µs.
pub(crate) fn rfc3339(v: Option<Val<'_, '_>>, name: &'static str) -> Result<i64, DecodeError> {
    rfc3339_us(string(v, name)?.as_bytes()).ok_or(DecodeError::Number(name))
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

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` → µs since the epoch. Fractions beyond µs (Coinbase
/// Advanced sends ns) are truncated; any other form is refused.
pub(crate) fn rfc3339_us(s: &[u8]) -> Option<i64> {
    fn digits(s: &[u8], from: usize, n: usize) -> Option<i64> {
        let mut v = 0i64;
        for &c in s.get(from..from + n)? {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    }
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

/// Days since 1970-01-01 of a proleptic Gregorian date (the standard era-based formula).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Significant digits kept when an f64 quantity (an inverse-contract conversion) becomes a
/// [`Decimal`]: 15, all an f64 carries reliably, at most [`Decimal::MAX_SCALE`] fractional
/// digits. E.g. 30 USD / 64345 → `0.000466236692827726`.
pub const INVERSE_SIG_DIGITS: i32 = 15;

/// A non-negative finite f64 as a [`Decimal`] rounded to [`INVERSE_SIG_DIGITS`] significant
/// digits; `None` for NaN, infinities, negatives, values past 9.2e18 and positive values
/// below 0.5e-18 (they would round to zero).
pub(crate) fn decimal_from_f64(x: f64) -> Option<Decimal> {
    if !x.is_finite() || x < 0.0 {
        return None;
    }
    if x == 0.0 {
        return Some(Decimal::ZERO);
    }
    let magnitude = x.log10().floor() as i32;
    let scale = (INVERSE_SIG_DIGITS - 1 - magnitude).clamp(0, i32::from(Decimal::MAX_SCALE));
    let mantissa = (x * 10f64.powi(scale)).round();
    // Too large for an i64, or a positive value too small for 18 fractional digits (it must
    // not become a silent zero).
    if !(1.0..9.2e18).contains(&mantissa) {
        return None;
    }
    Some(Decimal::new(mantissa as i64, scale as u8))
}

/// Append `text` as a JSON string literal (names come from configuration: a stray quote must
/// not produce a broken request).
pub(crate) fn push_json_string(out: &mut String, text: &str) {
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
pub(crate) fn json_string_array(names: &[&str]) -> String {
    let mut out = String::from("[");
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(&mut out, name);
    }
    out.push(']');
    out
}

/// Contract specs of one venue keyed by [`Symbol`], so the hot path looks them up without
/// allocating (`Instruments` keys by `String`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Specs(std::collections::HashMap<Symbol, crate::instruments::ContractSpec>);

impl Specs {
    pub(crate) fn of(
        venue: crate::venue::Venue,
        instruments: &crate::instruments::Instruments,
    ) -> Specs {
        Specs(
            instruments
                .of_venue(venue)
                .filter_map(|(name, spec)| Some((Symbol::new(name.as_bytes())?, spec)))
                .collect(),
        )
    }

    /// Base units for `contracts` of `symbol` traded at `price`, or
    /// [`DecodeError::Instrument`] when the symbol has no spec.
    pub(crate) fn base_qty(
        &self,
        symbol: &Symbol,
        contracts: Decimal,
        price: Decimal,
        qty_name: &'static str,
    ) -> Result<Decimal, DecodeError> {
        let spec = self.0.get(symbol).ok_or(DecodeError::Instrument)?;
        if !spec.inverse {
            // Linear: contracts × size, exact while it fits.
            let exact = contracts
                .mantissa
                .checked_mul(spec.size.mantissa)
                .zip(contracts.scale.checked_add(spec.size.scale))
                .filter(|&(_, scale)| scale <= Decimal::MAX_SCALE);
            if let Some((mantissa, scale)) = exact {
                return Ok(Decimal::new(mantissa, scale));
            }
        }
        decimal_from_f64(spec.base_qty(contracts.to_f64(), price.to_f64()))
            .ok_or(DecodeError::Number(qty_name))
    }
}

/// How a connection is kept alive: what the client sends and how often, and whether the
/// server pings (WebSocket ping frames, answered by the socket layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// Application-level ping text the client sends, if the venue wants one.
    pub ping: Option<&'static str>,
    /// The client must send WebSocket ping frames (rather than, or besides, `ping` text).
    pub ws_ping: bool,
    /// Send the ping this often (seconds); 0 when the client sends none.
    pub interval_secs: u32,
    /// The server sends WebSocket ping frames (or heartbeats) on its own.
    pub server_pings: bool,
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
            assert_eq!(num_decimal(root.get("q"), "q")?.to_string(), "0.00044780");
            let list = root.get("list").ok_or(DecodeError::Field("list"))?;
            assert_eq!(list.len(), Some(3));
            let k = list.index(1).and_then(|o| o.get("k"));
            assert_eq!(num_decimal(k, "k")?.to_string(), "-76.7682617");
            assert_eq!(num_decimal(list.index(2), "e")?, Decimal::new(1423, 7));
            assert_eq!(
                unsigned(root.get("big"), "big")?,
                18_125_794_168_470_749_634
            );
            assert!(root
                .get("n")
                .is_some_and(|n| !n.is_number() && n.str().is_none()));
            assert_eq!(
                num_decimal(root.get("t"), "t"),
                Err(DecodeError::Field("t"))
            );
            assert_eq!(
                num_decimal(root.get("a"), "a"),
                Err(DecodeError::Field("a"))
            );
            Ok(())
        })
        .unwrap();
        assert_eq!(with("{\"a\":", |_| Ok(())), Err(DecodeError::Malformed));
    }

    #[test]
    fn without_literals_numbers_have_no_text() {
        let mut bytes = br#"{"p":1.5,"s":"2.5"}"#.to_vec();
        let got = Parser::without_literals().parse(&mut bytes, |root| {
            Ok((
                num_decimal(root.get("p"), "p"),
                str_decimal(root.get("s"), "s")?,
            ))
        });
        assert_eq!(got, Ok((Err(DecodeError::Field("p")), Decimal::new(25, 1))));
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
            let nodes = p
                .parse(&mut bytes, |root| Ok(root.doc.nodes.len()))
                .unwrap();
            assert_eq!(p.starts.len(), nodes, "{text}");
        }
    }

    #[test]
    fn contract_specs_convert_to_base() {
        use crate::instruments::{ContractSpec, Instruments};
        use crate::venue::Venue;
        let mut i = Instruments::default();
        let spec = |size, inverse| ContractSpec {
            size: Decimal::new(size, 6),
            inverse,
        };
        i.insert(Venue::Bitmex, "XBTUSDT", spec(1, false));
        i.insert(Venue::Bitmex, "XBTUSD", spec(1_000_000, true));
        let specs = Specs::of(Venue::Bitmex, &i);
        let sym = |s: &str| Symbol::new(s.as_bytes()).unwrap();
        let (q, p) = (Decimal::new(2500, 0), Decimal::new(50_000, 0));
        assert_eq!(
            specs.base_qty(&sym("XBTUSDT"), q, p, "q"),
            Ok(Decimal::new(25, 4))
        );
        assert_eq!(
            specs.base_qty(&sym("XBTUSD"), q, p, "q"),
            Ok(Decimal::new(5, 2))
        );
        assert_eq!(
            specs.base_qty(&sym("ETHUSD"), q, p, "q"),
            Err(DecodeError::Instrument)
        );
        // Past 18 fractional digits the exact product does not fit, and the f64 result is
        // below the smallest decimal: an error, not a zero.
        let tiny = Decimal::new(3, 14);
        assert_eq!(
            specs.base_qty(&sym("XBTUSDT"), tiny, p, "q"),
            Err(DecodeError::Number("q"))
        );
        assert_eq!(
            specs.base_qty(&sym("XBTUSDT"), Decimal::new(3, 10), p, "q"),
            Ok(Decimal::new(3, 16))
        );
    }

    #[test]
    fn rfc3339_times() {
        let t = |s: &str| rfc3339_us(s.as_bytes());
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
    fn f64_quantities_keep_15_significant_digits() {
        assert_eq!(
            decimal_from_f64(30.0 / 64345.0)
                .map(|d| d.to_string())
                .as_deref(),
            Some("0.000466236692827726")
        );
        assert_eq!(
            decimal_from_f64(9.8654480327),
            Some(Decimal::new(98_654_480_327, 10))
        );
        assert_eq!(decimal_from_f64(1e-12), Some(Decimal::new(1_000_000, 18)));
        assert_eq!(decimal_from_f64(1e-18), Some(Decimal::new(1, 18)));
        assert_eq!(decimal_from_f64(4e-19), None, "would round to zero");
        assert_eq!(decimal_from_f64(0.0), Some(Decimal::ZERO));
        assert_eq!(
            decimal_from_f64(1.0e7),
            Some(Decimal::new(100_000_000_000_000, 7))
        );
        for bad in [f64::NAN, f64::INFINITY, -1.0, 1e19] {
            assert_eq!(decimal_from_f64(bad), None, "{bad}");
        }
    }
}
