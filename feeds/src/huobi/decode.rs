//! HTX frames → events.
//!
//! A frame starting with the gzip magic (`1f 8b`) is inflated (header parsed here, raw
//! deflate by `flate2`'s pure-Rust backend, CRC-32 and length checked) into a buffer kept by
//! the decoder; anything else is taken as already-plain JSON (recorded text lines,
//! `squeezeflow decode`).
//!
//! - `{"ping":N}` → [`Frame::Ping`]`(N)`.
//! - `{"status":"ok","subbed":…}` → `SubscribeAck`; `{"status":"error","err-code":…}` →
//!   `VenueError` (a numeric `err-code` as sent; HTX's textual codes such as `bad-request`
//!   become 0).
//! - `{"ch":"market.<symbol>.trade.detail","tick":{"data":[…]}}` → trades; `direction` is the
//!   **taker** side. Spot: `amount` (base), id `tradeId`. Swaps: `quantity` (base coin; `amount`
//!   is contracts), id `id`. Prices and sizes are JSON numbers (see `json::decimal`).
//! - Other `ch` → `Frame::Other`.

use crate::event::{Event, EventKind};
use crate::json::{self, Parser, Val};
use crate::venue::{Decode, DecodeError, Frame, Venue};
use flate2::{Crc, Decompress, FlushDecompress, Status};
use std::fmt;

/// Inflated frames larger than this are refused (a market-data frame is a few KB; this
/// bounds the memory a hostile or corrupt frame can make us allocate).
pub const MAX_INFLATED_BYTES: usize = 1 << 20;

/// Initial inflate buffer.
const INITIAL_INFLATED: usize = 16 * 1024;

/// Decoder for HTX spot or USDT-margined swap frames.
pub struct Decoder {
    venue: Venue,
    parser: Parser,
    inflater: Decompress,
    inflated: Vec<u8>,
}

impl Decoder {
    pub fn new(venue: Venue) -> Decoder {
        Decoder {
            venue,
            parser: Parser::new(),
            inflater: Decompress::new(false),
            inflated: Vec::with_capacity(INITIAL_INFLATED),
        }
    }
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("huobi::Decoder")
            .field("venue", &self.venue)
            .finish_non_exhaustive()
    }
}

impl Decode for Decoder {
    fn venue(&self) -> Venue {
        self.venue
    }

    fn decode(
        &mut self,
        frame: &mut [u8],
        emit: &mut dyn FnMut(Event),
    ) -> Result<Frame, DecodeError> {
        let swap = self.venue == Venue::HuobiSwap;
        if frame.starts_with(&[0x1f, 0x8b]) {
            gunzip(&mut self.inflater, frame, &mut self.inflated)?;
            self.parser
                .parse(&mut self.inflated, |root| classify(swap, root, emit))
        } else {
            self.parser.parse(frame, |root| classify(swap, root, emit))
        }
    }
}

/// Inflate one gzip member (RFC 1952) from `input` into `out` (cleared first).
fn gunzip(inflater: &mut Decompress, input: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let body = gzip_body(input).ok_or(DecodeError::Inflate)?;
    out.clear();
    inflater.reset(false);
    loop {
        let consumed = usize::try_from(inflater.total_in()).map_err(|_| DecodeError::Inflate)?;
        let rest = body.get(consumed..).ok_or(DecodeError::Inflate)?;
        if out.len() == out.capacity() {
            if out.capacity() >= MAX_INFLATED_BYTES {
                return Err(DecodeError::Inflate);
            }
            out.reserve(out.capacity().max(INITIAL_INFLATED));
        }
        let before = (inflater.total_in(), inflater.total_out());
        let status = inflater
            .decompress_vec(rest, out, FlushDecompress::Finish)
            .map_err(|_| DecodeError::Inflate)?;
        if status == Status::StreamEnd {
            break;
        }
        // No progress with room left in `out`: the input is truncated.
        if (inflater.total_in(), inflater.total_out()) == before && out.len() < out.capacity() {
            return Err(DecodeError::Inflate);
        }
    }
    if out.len() > MAX_INFLATED_BYTES {
        return Err(DecodeError::Inflate);
    }
    let consumed = usize::try_from(inflater.total_in()).map_err(|_| DecodeError::Inflate)?;
    // Exactly one member: its 8-byte trailer (CRC-32, length mod 2^32) ends the frame.
    let trailer: [u8; 8] = body
        .get(consumed..)
        .and_then(|rest| rest.try_into().ok())
        .ok_or(DecodeError::Inflate)?;
    let [c0, c1, c2, c3, s0, s1, s2, s3] = trailer;
    let crc = u32::from_le_bytes([c0, c1, c2, c3]);
    let size = u32::from_le_bytes([s0, s1, s2, s3]);
    let mut check = Crc::new();
    check.update(out);
    if check.sum() != crc || size != out.len() as u32 {
        return Err(DecodeError::Inflate);
    }
    Ok(())
}

/// The deflate stream of a gzip member: `input` after its header (RFC 1952 §2.3).
fn gzip_body(input: &[u8]) -> Option<&[u8]> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    let header = input.get(..10)?;
    if header[0] != 0x1f || header[1] != 0x8b || header[2] != 8 {
        return None;
    }
    let flags = header[3];
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let len = input.get(at..at + 2)?;
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let end = input.get(at..)?.iter().position(|&b| b == 0)?;
            at += end + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    input.get(at..)
}

fn classify(
    swap: bool,
    root: Val<'_, '_>,
    emit: &mut dyn FnMut(Event),
) -> Result<Frame, DecodeError> {
    let [ping, ch, tick, status, err_code] =
        json::pick(root, ["ping", "ch", "tick", "status", "err-code"])
            .ok_or(DecodeError::Unknown)?;
    if let Some(ping) = ping {
        return Ok(Frame::Ping(json::unsigned(Some(ping), "ping")?));
    }
    if let Some(status) = status {
        return match json::string(Some(status), "status")? {
            "ok" => Ok(Frame::SubscribeAck),
            "error" => Ok(Frame::VenueError {
                code: match err_code {
                    Some(c) if json::string(Some(c), "err-code").is_ok() => {
                        json::signed(Some(c), "err-code").unwrap_or(0)
                    }
                    c => json::signed(c, "err-code")?,
                },
            }),
            _ => Err(DecodeError::Field("status")),
        };
    }
    let Some(ch) = ch else {
        return Err(DecodeError::Unknown);
    };
    let ch = json::string(Some(ch), "ch")?;
    let Some(symbol) = ch
        .strip_prefix("market.")
        .and_then(|rest| rest.strip_suffix(".trade.detail"))
    else {
        return Ok(Frame::Other);
    };
    let symbol = crate::event::Symbol::new(symbol.as_bytes()).ok_or(DecodeError::Symbol)?;
    let [data] = json::object(tick, "tick", ["data"])?;
    let (qty_name, id_name) = if swap {
        ("quantity", "id")
    } else {
        ("amount", "tradeId")
    };
    let n = json::emit_batch(
        json::array(data, "data")?,
        |item| {
            let [qty, id, price, direction, ts] = json::object(
                Some(item),
                "data",
                [qty_name, id_name, "price", "direction", "ts"],
            )?;
            let price = json::decimal(price, "price")?;
            let qty = json::decimal(qty, qty_name)?;
            let side = json::side(direction, "direction")?;
            let ts_us = json::millis(ts, "ts")?;
            let trade_id = json::unsigned(id, id_name)?;
            if !json::tradable(price, qty, "price", qty_name)? {
                return Ok(None);
            }
            Ok(Some(Event {
                kind: EventKind::Trade,
                side,
                symbol,
                price,
                qty,
                ts_us,
                trade_id: Some(trade_id),
                fills: 1,
            }))
        },
        emit,
    )?;
    Ok(Frame::Data(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Decimal, Side};
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn gzip(text: &str) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    fn decode(venue: Venue, bytes: &[u8]) -> (Result<Frame, DecodeError>, Vec<Event>) {
        let mut d = Decoder::new(venue);
        let mut bytes = bytes.to_vec();
        let mut out = Vec::new();
        let r = d.decode(&mut bytes, &mut |e| out.push(e));
        (r, out)
    }

    const SPOT: &str = r#"{"ch":"market.btcusdt.trade.detail","ts":1630994963175,"tick":{"id":137005445109,"ts":1630994963173,"data":[{"id":137005445109359286410323766,"ts":1630994963173,"tradeId":102523573486,"amount":0.006754,"price":52648.62,"direction":"buy"}]}}"#;

    #[test]
    fn gzip_and_plain_frames_decode_alike() {
        let plain = decode(Venue::Huobi, SPOT.as_bytes());
        let zipped = decode(Venue::Huobi, &gzip(SPOT));
        assert_eq!(plain, zipped);
        let (r, ev) = plain;
        assert_eq!(r, Ok(Frame::Data(1)));
        assert_eq!(ev[0].symbol.as_str(), "btcusdt");
        assert_eq!(ev[0].price, Decimal::new(5264862, 2));
        assert_eq!(ev[0].qty, Decimal::new(6754, 6));
        assert_eq!(ev[0].side, Side::Buy);
        assert_eq!(ev[0].trade_id, Some(102523573486));
        assert_eq!(ev[0].ts_us, 1_630_994_963_173_000);
    }

    /// HTX sends prices and sizes as JSON numbers: they are read from their literal, so digits
    /// past an f64's precision and the venue's trailing zeros survive.
    #[test]
    fn json_number_literals_are_read_exactly() {
        let frame = SPOT
            .replace("0.006754", "1.00000000000000001")
            .replace("52648.62", "52648.620");
        let (r, ev) = decode(Venue::Huobi, &gzip(&frame));
        assert_eq!(r, Ok(Frame::Data(1)));
        assert_eq!(ev[0].qty, Decimal::new(100_000_000_000_000_001, 17));
        assert_ne!(ev[0].qty, Decimal::new(1, 0), "not the nearest f64 (1.0)");
        assert_eq!(ev[0].price.to_string(), "52648.620");
    }

    #[test]
    fn ping_is_reported_for_a_reply() {
        assert_eq!(
            decode(Venue::Huobi, &gzip(r#"{"ping":1492420473027}"#)).0,
            Ok(Frame::Ping(1492420473027))
        );
    }

    #[test]
    fn bad_gzip_is_an_inflate_error() {
        let good = gzip(SPOT);
        for cut in [2, 9, 10, good.len() / 2, good.len() - 4, good.len() - 1] {
            assert_eq!(
                decode(Venue::Huobi, &good[..cut]).0,
                Err(DecodeError::Inflate),
                "cut at {cut}"
            );
        }
        let mut trailing = good.clone();
        trailing.push(b'x');
        assert_eq!(decode(Venue::Huobi, &trailing).0, Err(DecodeError::Inflate));
        let mut bad_crc = good.clone();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 1;
        assert_eq!(decode(Venue::Huobi, &bad_crc).0, Err(DecodeError::Inflate));
        // A frame inflating past the limit (zeros compress ~1000:1).
        let bomb = {
            let mut e = GzEncoder::new(Vec::new(), Compression::best());
            e.write_all(&vec![b' '; MAX_INFLATED_BYTES + 10]).unwrap();
            e.finish().unwrap()
        };
        assert_eq!(decode(Venue::Huobi, &bomb).0, Err(DecodeError::Inflate));
    }

    #[test]
    fn gzip_header_fields_are_skipped() {
        // FNAME + FCOMMENT + FEXTRA set by hand around a real deflate body.
        let plain = gzip(r#"{"ping":7}"#);
        let mut framed = vec![0x1f, 0x8b, 8, 4 | 8 | 16, 0, 0, 0, 0, 0, 255, 3, 0, 1, 2, 3];
        framed.extend_from_slice(b"name\0comment\0");
        framed.extend_from_slice(&plain[10..]);
        assert_eq!(decode(Venue::Huobi, &framed).0, Ok(Frame::Ping(7)));
    }

    #[test]
    fn control_frames() {
        let cases = [
            (
                r#"{"id":"id1","status":"ok","subbed":"market.btcusdt.trade.detail","ts":1489474081631}"#,
                Ok(Frame::SubscribeAck),
            ),
            (
                r#"{"id":"id2","status":"error","err-code":"bad-request","err-msg":"invalid topic market.invalidsymbol.trade.detail","ts":1494301904959}"#,
                Ok(Frame::VenueError { code: 0 }),
            ),
            (
                r#"{"status":"error","err-code":2011,"err-msg":"invalid topic","ts":1}"#,
                Ok(Frame::VenueError { code: 2011 }),
            ),
            (r#"{"ch":"market.btcusdt.bbo","tick":{}}"#, Ok(Frame::Other)),
            (r#"{"x":1}"#, Err(DecodeError::Unknown)),
        ];
        for (text, want) in cases {
            assert_eq!(decode(Venue::Huobi, text.as_bytes()).0, want, "{text}");
        }
    }
}
