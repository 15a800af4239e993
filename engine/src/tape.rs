//! Tapes. JSONL tapes: one received frame per line,
//! `{"ts_ns": <receive time ns>, "venue": "<venue>", "conn": <n>, "frame": "<raw text frame>"}`.
//!
//! Reading is line by line with a reused buffer; a bad line is reported with its number and
//! skipped, never fatal. Binary capture files ([`crate::capture`]) are the other kind;
//! [`detect`] tells them apart by their magic.

use feeds::Venue;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::io::{BufRead, Write};

/// What a tape file holds, told by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapeKind {
    /// JSONL lines (this module).
    Jsonl,
    /// A binary raw-frame capture ([`crate::capture`]).
    Capture,
}

/// The kind of tape whose first bytes are `prefix` (anything without the capture magic is
/// read as JSONL, which reports its own bad lines).
pub fn detect(prefix: &[u8]) -> TapeKind {
    if crate::capture::is_capture(prefix) {
        TapeKind::Capture
    } else {
        TapeKind::Jsonl
    }
}

/// [`detect`] on a file's first bytes.
pub fn detect_file(path: &std::path::Path) -> std::io::Result<TapeKind> {
    use std::io::Read;
    let mut prefix = [0u8; 8];
    let mut f = std::fs::File::open(path)?;
    let mut n = 0;
    while n < prefix.len() {
        match f.read(&mut prefix[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(detect(&prefix[..n]))
}

/// One tape line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapeLine<'a> {
    pub ts_ns: u64,
    #[serde(borrow)]
    pub venue: Cow<'a, str>,
    #[serde(default)]
    pub conn: u64,
    #[serde(borrow)]
    pub frame: Cow<'a, str>,
}

/// Why a tape line was skipped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TapeError {
    #[error("line {line}: not a tape record: {message}")]
    Json { line: u64, message: String },
    #[error(
        "line {line}: unknown venue {venue:?} (accepted: {})",
        feeds::alias::accepted_spellings()
    )]
    Venue { line: u64, venue: String },
    #[error("reading the tape: {0}")]
    Io(#[from] std::io::Error),
}

/// A decoded tape line, borrowing the reader's buffers.
#[derive(Debug)]
pub struct Record<'a> {
    pub line: u64,
    pub ts_ns: u64,
    pub venue: Venue,
    pub conn: u64,
    pub frame: &'a [u8],
}

/// Reads tape lines from any `BufRead`.
#[derive(Debug)]
pub struct TapeReader<R> {
    input: R,
    line: u64,
    text: Vec<u8>,
    frame: Vec<u8>,
}

impl<R: BufRead> TapeReader<R> {
    pub fn new(input: R) -> TapeReader<R> {
        TapeReader {
            input,
            line: 0,
            text: Vec::with_capacity(4096),
            frame: Vec::with_capacity(4096),
        }
    }

    /// The next record; `Ok(None)` at the end; `Err` for a line that is not a valid record (the
    /// caller counts it and goes on) or for an I/O error (the caller stops).
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, TapeError> {
        loop {
            self.text.clear();
            // Bytes, not `read_line`: the frame is UTF-8-checked once, by the decoder's parser.
            if self.input.read_until(b'\n', &mut self.text)? == 0 {
                return Ok(None);
            }
            self.line += 1;
            if self.text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            break;
        }
        let line = self.line;
        let text = self.text.trim_ascii_end();
        if let Some((ts_ns, venue, conn)) = fast_parse(text, &mut self.frame) {
            let venue = venue_of(venue, &self.frame).ok_or_else(|| TapeError::Venue {
                line,
                venue: venue.to_string(),
            })?;
            return Ok(Some(Record {
                line,
                ts_ns,
                venue,
                conn,
                frame: &self.frame,
            }));
        }
        let rec: TapeLine<'_> = serde_json::from_slice(text).map_err(|e| TapeError::Json {
            line,
            message: e.to_string(),
        })?;
        let venue = venue_of(&rec.venue, rec.frame.as_bytes()).ok_or_else(|| TapeError::Venue {
            line,
            venue: rec.venue.to_string(),
        })?;
        self.frame.clear();
        self.frame.extend_from_slice(rec.frame.as_bytes());
        Ok(Some(Record {
            line,
            ts_ns: rec.ts_ns,
            venue,
            conn: rec.conn,
            frame: &self.frame,
        }))
    }
}

/// A tape line's venue: our name, or aggr-server's spelling (`BINANCE_FUTURES`, `okex`), which
/// the line's frame resolves to one of our venue APIs (`feeds::alias`).
fn venue_of(name: &str, frame: &[u8]) -> Option<Venue> {
    if let Some(v) = Venue::from_name(name) {
        return Some(v);
    }
    feeds::alias::VenueName::parse(name).map(|n| n.for_frame(frame))
}

/// The tape writer's own layout, `{"ts_ns":N,"venue":"V","conn":N,"frame":"…"}`, parsed without
/// allocating: the frame is unescaped straight into `frame`. `None` for anything else (other key
/// order, whitespace, `\u` escapes), which then goes through serde_json.
fn fast_parse<'a>(line: &'a [u8], frame: &mut Vec<u8>) -> Option<(u64, &'a str, u64)> {
    let rest = line.strip_prefix(b"{\"ts_ns\":")?;
    let (ts_ns, rest) = leading_u64(rest)?;
    let rest = rest.strip_prefix(b",\"venue\":\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    let venue = std::str::from_utf8(&rest[..end]).ok()?;
    let rest = &rest[end + 1..];
    let rest = rest.strip_prefix(b",\"conn\":")?;
    let (conn, rest) = leading_u64(rest)?;
    let body = rest.strip_prefix(b",\"frame\":\"")?.strip_suffix(b"\"}")?;
    // Unescape eight bytes per step: every word is copied whole (a fixed-size move, no memcpy
    // call) and the output index advances only past the bytes before the first `"` or `\\`.
    // Unescaping only shrinks, so `o <= i` and the 8 spare bytes keep every store in bounds.
    frame.clear();
    frame.resize(body.len() + 8, 0);
    let (mut i, mut o) = (0usize, 0usize);
    loop {
        if let Some(chunk) = body.get(i..i + 8) {
            frame[o..o + 8].copy_from_slice(chunk);
            match special_in_word(chunk) {
                None => {
                    i += 8;
                    o += 8;
                    continue;
                }
                Some(k) => {
                    i += k;
                    o += k;
                }
            }
        } else {
            while i < body.len() && body[i] != b'"' && body[i] != b'\\' {
                frame[o] = body[i];
                i += 1;
                o += 1;
            }
            if i == body.len() {
                break;
            }
        }
        if body[i] == b'"' {
            return None; // an unescaped quote: not a single string
        }
        frame[o] = match body.get(i + 1)? {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'n' => b'\n',
            b't' => b'\t',
            b'r' => b'\r',
            b'b' => 8,
            b'f' => 12,
            _ => return None,
        };
        o += 1;
        i += 2;
    }
    frame.truncate(o);
    Some((ts_ns, venue, conn))
}

fn leading_u64(b: &[u8]) -> Option<(u64, &[u8])> {
    let end = b
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(b.len());
    if end == 0 || end > 19 {
        return None;
    }
    let n = b[..end]
        .iter()
        .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
    Some((n, &b[end..]))
}

/// Position of the first `"` or `\\` in an 8-byte word: a byte equal to the target becomes
/// zero after the XOR, and `(x - 0x01…) & !x & 0x80…` flags zero bytes; the lowest flag is always
/// a true match (borrows only run upwards).
#[inline]
fn special_in_word(chunk: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut word = [0u8; 8];
    word.copy_from_slice(chunk);
    let w = u64::from_le_bytes(word);
    let q = w ^ (LO * u64::from(b'"'));
    let s = w ^ (LO * u64::from(b'\\'));
    let hit = ((q.wrapping_sub(LO) & !q) | (s.wrapping_sub(LO) & !s)) & HI;
    (hit != 0).then(|| (hit.trailing_zeros() / 8) as usize)
}

/// Write one tape line.
pub fn write_line(
    out: &mut impl Write,
    ts_ns: u64,
    venue: Venue,
    conn: u64,
    frame: &str,
) -> std::io::Result<()> {
    let rec = TapeLine {
        ts_ns,
        venue: Cow::Borrowed(venue.name()),
        conn,
        frame: Cow::Borrowed(frame),
    };
    serde_json::to_writer(&mut *out, &rec)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_lines() {
        let mut buf = Vec::new();
        write_line(
            &mut buf,
            5,
            Venue::BinanceSpot,
            1,
            "{\"e\":\"trade\",\"q\":\"1\"}",
        )
        .unwrap();
        buf.extend_from_slice(b"not json\n\n{\"ts_ns\":1,\"venue\":\"nowhere\",\"frame\":\"x\"}\n");
        write_line(&mut buf, 6, Venue::BinanceUsdm, 2, "x\ny").unwrap();
        let mut r = TapeReader::new(&buf[..]);
        let rec = r.next_record().unwrap().unwrap();
        assert_eq!(
            (rec.line, rec.ts_ns, rec.venue, rec.conn),
            (1, 5, Venue::BinanceSpot, 1)
        );
        assert_eq!(rec.frame, b"{\"e\":\"trade\",\"q\":\"1\"}");
        assert!(matches!(
            r.next_record(),
            Err(TapeError::Json { line: 2, .. })
        ));
        assert!(matches!(
            r.next_record(),
            Err(TapeError::Venue { line: 4, .. })
        ));
        let rec = r.next_record().unwrap().unwrap();
        assert_eq!((rec.line, rec.frame), (5, &b"x\ny"[..]));
        assert!(r.next_record().unwrap().is_none());
    }

    #[test]
    fn finds_the_first_special_byte_of_a_word() {
        for pos in 0..8 {
            for special in [b'"', b'\\'] {
                let mut w = *b"abcdefgh";
                w[pos] = special;
                assert_eq!(special_in_word(&w), Some(pos));
                if pos < 7 {
                    w[7] = b'"';
                    assert_eq!(special_in_word(&w), Some(pos));
                }
            }
        }
        assert_eq!(special_in_word(b"\x01\xff!#[]~a"), None);
    }

    #[test]
    fn fast_path_agrees_with_serde() {
        let frames = [
            r#"{"e":"trade","p":"1.0"}"#,
            r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":2,"p":"76650.00000000","q":"0.00040000","T":1,"m":true,"M":true}}"#,
            "0123456789abcdef\\\\\"\"x",
            "tab\there \\ slash / quote \" nl\n cr\r ff\u{c} bs\u{8}",
            "unicode é → ✓ and a control \u{1}",
            "",
        ];
        for f in frames {
            let mut line = Vec::new();
            write_line(&mut line, 123, Venue::BinanceUsdm, 9, f).unwrap();
            let text = std::str::from_utf8(&line).unwrap().trim_end();
            let mut out = Vec::new();
            let via_serde: TapeLine<'_> = serde_json::from_str(text).unwrap();
            match fast_parse(text.as_bytes(), &mut out) {
                Some((ts, venue, conn)) => {
                    assert_eq!((ts, venue, conn), (123, "binance-usdm", 9));
                    assert_eq!(out, via_serde.frame.as_bytes(), "{text}");
                }
                // `\u` escapes take the serde path; the reader must still read them.
                None => assert!(text.contains("\\u"), "{text}"),
            }
            let mut reader = TapeReader::new(&line[..]);
            let rec = reader.next_record().unwrap().unwrap();
            assert_eq!(rec.frame, f.as_bytes());
        }
        // Another key order is not the fast path, but still a valid record.
        let mut out = Vec::new();
        assert!(fast_parse(
            br#"{"venue":"binance","ts_ns":1,"conn":0,"frame":"x"}"#,
            &mut out
        )
        .is_none());
        assert!(fast_parse(
            br#"{"ts_ns":1,"venue":"binance","conn":0,"frame":"x"y"}"#,
            &mut out
        )
        .is_none());
    }
}
