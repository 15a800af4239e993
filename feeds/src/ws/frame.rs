//! The RFC 6455 frame codec for the client side, sans-IO: a reusable receive buffer, a
//! decoder that turns server frames into messages, and the masked-frame encoder.
//!
//! Zero-copy is the point. A message that arrives as one unfragmented frame no larger than
//! the receive buffer is handed out as a range of that buffer (frames are unmasked from a
//! server, so the bytes are already the payload). Only fragmented messages and frames larger
//! than the buffer are copied, into the decoder's reassembly buffer, which grows at most to
//! the configured message limit and is kept for the next message.

use std::ops::Range;

/// Largest control-frame payload (RFC 6455 §5.5).
pub(super) const MAX_CONTROL: usize = 125;

/// Smallest receive buffer: room for the longest header plus a whole control frame, so a
/// frame the decoder waits for always fits once the buffer is compacted.
pub(super) const MIN_RECV_BUF: usize = 256;

const OP_CONTINUATION: u8 = 0x0;
pub(super) const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
pub(super) const OP_CLOSE: u8 = 0x8;
pub(super) const OP_PING: u8 = 0x9;
pub(super) const OP_PONG: u8 = 0xA;

/// One connection's receive buffer: bytes `start..end` are received but not yet consumed.
#[derive(Debug)]
pub(super) struct RecvBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl RecvBuf {
    pub(super) fn new(size: usize) -> RecvBuf {
        RecvBuf {
            buf: vec![0; size.max(MIN_RECV_BUF)],
            start: 0,
            end: 0,
        }
    }

    pub(super) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Free space to read into. Moves unconsumed bytes to the front when the tail is full,
    /// which invalidates payload ranges handed out earlier (they were delivered by then).
    pub(super) fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.end..]
    }

    /// Records that `n` bytes were read into the slice `spare` returned.
    pub(super) fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    pub(super) fn unread(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(super) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }
}

/// Why the server's byte stream is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FrameError {
    /// RFC 6455 violation; the text says which. Close with 1002.
    Protocol(&'static str),
    /// The message would exceed the limit. Close with 1009.
    TooBig { size: u64, max: usize },
}

/// Where a delivered payload lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Payload {
    /// Absolute range of the receive buffer (valid until its next `spare`).
    Buf(Range<usize>),
    /// The decoder's reassembly buffer.
    Msg,
}

/// One decoded message or control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Item {
    Text(Payload),
    Binary(Payload),
    Ping(Payload),
    Pong,
    Close(Payload),
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy)]
struct Header {
    fin: bool,
    opcode: u8,
    len: u64,
    header_len: usize,
}

/// A frame bigger than the receive buffer, being copied into the reassembly buffer.
#[derive(Debug, Clone, Copy)]
struct Streaming {
    remaining: usize,
    fin: bool,
}

/// Server frames → messages, keeping state across reads.
#[derive(Debug)]
pub(super) struct Decoder {
    max_message: usize,
    /// Reassembly buffer; cleared, not freed, between messages.
    msg: Vec<u8>,
    /// Opcode (text/binary) of the fragmented message in progress.
    fragmented: Option<u8>,
    streaming: Option<Streaming>,
}

impl Decoder {
    pub(super) fn new(max_message: usize) -> Decoder {
        Decoder {
            max_message,
            msg: Vec::new(),
            fragmented: None,
            streaming: None,
        }
    }

    /// Decodes from `rb`'s unread bytes. `Ok(None)` means every complete frame has been
    /// consumed and more bytes are needed; an item's payload is read with `payload`.
    /// After an error the stream is unusable and the connection must close.
    pub(super) fn next(&mut self, rb: &mut RecvBuf) -> Result<Option<Item>, FrameError> {
        if self.fragmented.is_none() && self.streaming.is_none() {
            // The previous reassembled message (if any) has been delivered.
            self.msg.clear();
        }
        loop {
            if let Some(st) = &mut self.streaming {
                let data = rb.unread();
                if data.is_empty() {
                    return Ok(None);
                }
                let take = st.remaining.min(data.len());
                self.msg.extend_from_slice(&data[..take]);
                rb.consume(take);
                st.remaining -= take;
                if st.remaining > 0 {
                    return Ok(None);
                }
                let fin = st.fin;
                self.streaming = None;
                if fin {
                    return Ok(Some(self.finish_message()));
                }
                continue;
            }

            let data = rb.unread();
            let Some(h) = parse_header(data)? else {
                return Ok(None);
            };
            if is_control(h.opcode) {
                if !h.fin {
                    return Err(FrameError::Protocol("fragmented control frame"));
                }
                if h.len > MAX_CONTROL as u64 {
                    return Err(FrameError::Protocol("control frame longer than 125 bytes"));
                }
                let total = h.header_len + h.len as usize;
                if data.len() < total {
                    return Ok(None);
                }
                let payload = Payload::Buf(rb.start + h.header_len..rb.start + total);
                rb.consume(total);
                return Ok(Some(match h.opcode {
                    OP_PING => Item::Ping(payload),
                    OP_PONG => Item::Pong,
                    _ => Item::Close(payload),
                }));
            }

            // A data frame: a new message or the continuation of the fragmented one.
            match (h.opcode, self.fragmented) {
                (OP_CONTINUATION, None) => {
                    return Err(FrameError::Protocol("continuation without a message"))
                }
                (OP_TEXT | OP_BINARY, Some(_)) => {
                    return Err(FrameError::Protocol("new message inside a fragmented one"))
                }
                _ => {}
            }
            let size = self.msg.len() as u64 + h.len;
            if size > self.max_message as u64 {
                return Err(FrameError::TooBig {
                    size,
                    max: self.max_message,
                });
            }
            // Both fit in usize now: they are bounded by max_message.
            let len = h.len as usize;
            let total = h.header_len + len;
            if total <= rb.capacity() {
                if data.len() < total {
                    // It will fit once compacted: wait rather than copy.
                    return Ok(None);
                }
                let range = rb.start + h.header_len..rb.start + total;
                rb.consume(total);
                if h.fin && self.fragmented.is_none() {
                    return Ok(Some(data_item(h.opcode, Payload::Buf(range))));
                }
                let kind = self.fragmented.unwrap_or(h.opcode);
                self.fragmented = Some(kind);
                self.reserve(len);
                self.msg.extend_from_slice(&rb.buf[range]);
                if h.fin {
                    return Ok(Some(self.finish_message()));
                }
                continue;
            }
            // Larger than the receive buffer: copy it into `msg` as it arrives.
            rb.consume(h.header_len);
            let kind = self.fragmented.unwrap_or(h.opcode);
            self.fragmented = Some(kind);
            self.reserve(len);
            self.streaming = Some(Streaming {
                remaining: len,
                fin: h.fin,
            });
        }
    }

    /// The bytes of a delivered item's payload.
    pub(super) fn payload<'a>(&'a mut self, rb: &'a mut RecvBuf, p: &Payload) -> &'a mut [u8] {
        match p {
            Payload::Buf(r) => &mut rb.buf[r.clone()],
            Payload::Msg => &mut self.msg,
        }
    }

    fn finish_message(&mut self) -> Item {
        let kind = self.fragmented.take().unwrap_or(OP_BINARY);
        data_item(kind, Payload::Msg)
    }

    /// Makes room for `additional` more bytes without ever reserving past `max_message`
    /// (callers checked `len + additional <= max_message`), doubling otherwise so a long
    /// fragmented message reallocates only a few times before the buffer is warm.
    fn reserve(&mut self, additional: usize) {
        let need = self.msg.len() + additional;
        if need <= self.msg.capacity() {
            return;
        }
        let want = need.max(self.msg.capacity().saturating_mul(2).min(self.max_message));
        self.msg.reserve_exact(want - self.msg.len());
    }
}

fn data_item(opcode: u8, p: Payload) -> Item {
    if opcode == OP_TEXT {
        Item::Text(p)
    } else {
        Item::Binary(p)
    }
}

fn is_control(opcode: u8) -> bool {
    opcode & 0x8 != 0
}

/// Parses a server frame header; `Ok(None)` if `data` does not hold all of it yet.
fn parse_header(data: &[u8]) -> Result<Option<Header>, FrameError> {
    let [b0, b1, ..] = *data else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(FrameError::Protocol(
            "reserved bits set without an extension",
        ));
    }
    let opcode = b0 & 0x0F;
    if !matches!(
        opcode,
        OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
    ) {
        return Err(FrameError::Protocol("unknown opcode"));
    }
    if b1 & 0x80 != 0 {
        return Err(FrameError::Protocol("masked frame from server"));
    }
    let (len, header_len) = match b1 & 0x7F {
        126 => match data.get(2..4) {
            Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
            _ => return Ok(None),
        },
        127 => match data.get(2..10) {
            Some(bytes) => {
                let mut be = [0u8; 8];
                be.copy_from_slice(bytes);
                let len = u64::from_be_bytes(be);
                if len >> 63 != 0 {
                    return Err(FrameError::Protocol("64-bit length with the top bit set"));
                }
                (len, 10)
            }
            None => return Ok(None),
        },
        short => (u64::from(short), 2),
    };
    Ok(Some(Header {
        fin: b0 & 0x80 != 0,
        opcode,
        len,
        header_len,
    }))
}

/// Splits a close frame's payload into its status code and reason. An empty payload means
/// no code; one byte, or a reason that is not UTF-8, is a protocol error (RFC 6455 §5.5.1).
pub(super) fn parse_close(payload: &[u8]) -> Result<(Option<u16>, &str), FrameError> {
    match payload {
        [] => Ok((None, "")),
        [_] => Err(FrameError::Protocol("one-byte close payload")),
        [hi, lo, reason @ ..] => {
            let reason = std::str::from_utf8(reason)
                .map_err(|_| FrameError::Protocol("close reason is not UTF-8"))?;
            Ok((Some(u16::from_be_bytes([*hi, *lo])), reason))
        }
    }
}

/// Appends one final, masked client frame (RFC 6455 §5.3) to `out`.
pub(super) fn encode_client_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
}

/// A small xorshift64* generator for mask keys. Masking exists to stop cache-poisoning of
/// intermediaries by script-controlled payloads (RFC 6455 §10.3); we are no browser, so a
/// fast generator seeded from the TLS provider's secure random source is enough.
#[derive(Debug, Clone)]
pub(super) struct MaskRng(u64);

impl MaskRng {
    pub(super) fn new(seed: u64) -> MaskRng {
        // xorshift must not start at zero.
        MaskRng(seed | 1)
    }

    pub(super) fn next_mask(&mut self) -> [u8; 4] {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        let out = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((out >> 32) as u32).to_ne_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Builds an unmasked server frame.
    fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
        let len = payload.len();
        if len < 126 {
            out.push(len as u8);
        } else if len <= 0xFFFF {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(payload);
        out
    }

    /// What the decoder reported, owned.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Got {
        Text(Vec<u8>),
        Binary(Vec<u8>),
        Ping(Vec<u8>),
        Pong,
        Close(Vec<u8>),
    }

    /// Feeds `stream` to a decoder in reads of the given sizes (cycled), like a connection
    /// does, and collects everything until the end or the first error.
    fn run(
        stream: &[u8],
        reads: &[usize],
        buf: usize,
        max: usize,
    ) -> (Vec<Got>, Option<FrameError>) {
        let mut rb = RecvBuf::new(buf);
        let mut dec = Decoder::new(max);
        let mut got = Vec::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < stream.len() {
            let spare = rb.spare();
            assert!(!spare.is_empty(), "decoder waits on a full buffer");
            let want = reads
                .get(i % reads.len().max(1))
                .copied()
                .unwrap_or(usize::MAX);
            i += 1;
            let n = want.max(1).min(spare.len()).min(stream.len() - pos);
            spare[..n].copy_from_slice(&stream[pos..pos + n]);
            rb.filled(n);
            pos += n;
            loop {
                match dec.next(&mut rb) {
                    Ok(Some(item)) => {
                        let g = match &item {
                            Item::Text(p) => Got::Text(dec.payload(&mut rb, p).to_vec()),
                            Item::Binary(p) => Got::Binary(dec.payload(&mut rb, p).to_vec()),
                            Item::Ping(p) => Got::Ping(dec.payload(&mut rb, p).to_vec()),
                            Item::Pong => Got::Pong,
                            Item::Close(p) => Got::Close(dec.payload(&mut rb, p).to_vec()),
                        };
                        got.push(g);
                    }
                    Ok(None) => break,
                    Err(e) => return (got, Some(e)),
                }
            }
        }
        (got, None)
    }

    #[test]
    fn lengths_7_16_64() {
        for len in [0, 1, 125, 126, 127, 65535, 65536, 300_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let stream = server_frame(true, OP_BINARY, &payload);
            for buf in [256, 64 << 10] {
                let (got, err) = run(&stream, &[1000], buf, 1 << 20);
                assert_eq!(err, None);
                assert_eq!(
                    got,
                    vec![Got::Binary(payload.clone())],
                    "len {len} buf {buf}"
                );
            }
        }
    }

    #[test]
    fn fragments_with_interleaved_control() {
        let mut s = server_frame(false, OP_TEXT, b"hel");
        s.extend(server_frame(true, OP_PING, b"p"));
        s.extend(server_frame(false, OP_CONTINUATION, b"lo "));
        s.extend(server_frame(true, OP_CONTINUATION, b"world"));
        s.extend(server_frame(true, OP_TEXT, b"next"));
        let (got, err) = run(&s, &[3], 256, 1024);
        assert_eq!(err, None);
        assert_eq!(
            got,
            vec![
                Got::Ping(b"p".to_vec()),
                Got::Text(b"hello world".to_vec()),
                Got::Text(b"next".to_vec()),
            ]
        );
    }

    #[test]
    fn zero_copy_for_whole_frames() {
        let mut rb = RecvBuf::new(1024);
        let mut dec = Decoder::new(1024);
        let s = server_frame(true, OP_TEXT, b"abc");
        rb.spare()[..s.len()].copy_from_slice(&s);
        rb.filled(s.len());
        assert_eq!(dec.next(&mut rb), Ok(Some(Item::Text(Payload::Buf(2..5)))));
        assert_eq!(dec.next(&mut rb), Ok(None));
    }

    #[test]
    fn protocol_errors() {
        let cases: Vec<(Vec<u8>, FrameError)> = vec![
            (
                vec![0x81, 0x81, 1, 2, 3, 4, b'x'],
                FrameError::Protocol("masked frame from server"),
            ),
            (vec![0x83, 0x00], FrameError::Protocol("unknown opcode")),
            (vec![0x8B, 0x00], FrameError::Protocol("unknown opcode")),
            (
                vec![0xC1, 0x00],
                FrameError::Protocol("reserved bits set without an extension"),
            ),
            (
                vec![0x09, 0x00],
                FrameError::Protocol("fragmented control frame"),
            ),
            (
                server_frame(true, OP_PING, &[0; 126]),
                FrameError::Protocol("control frame longer than 125 bytes"),
            ),
            (
                vec![0x80, 0x00],
                FrameError::Protocol("continuation without a message"),
            ),
            (
                [
                    server_frame(false, OP_TEXT, b"a"),
                    server_frame(true, OP_TEXT, b"b"),
                ]
                .concat(),
                FrameError::Protocol("new message inside a fragmented one"),
            ),
            (
                vec![0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0],
                FrameError::Protocol("64-bit length with the top bit set"),
            ),
            (
                vec![0x82, 127, 0, 0, 0, 0, 0, 0x10, 0, 0],
                FrameError::TooBig {
                    size: 1 << 20,
                    max: 1000,
                },
            ),
            (
                [
                    server_frame(false, OP_TEXT, &[0; 600]),
                    server_frame(true, OP_CONTINUATION, &[0; 600]),
                ]
                .concat(),
                FrameError::TooBig {
                    size: 1200,
                    max: 1000,
                },
            ),
        ];
        for (stream, want) in cases {
            let (_, err) = run(&stream, &[7], 256, 1000);
            assert_eq!(err, Some(want), "{stream:02x?}");
        }
    }

    #[test]
    fn close_payloads() {
        assert_eq!(parse_close(b""), Ok((None, "")));
        assert_eq!(
            parse_close(&[0x03, 0xE8, b'o', b'k']),
            Ok((Some(1000), "ok"))
        );
        assert!(parse_close(&[3]).is_err());
        assert!(parse_close(&[3, 0xE8, 0xFF]).is_err());
    }

    #[test]
    fn client_frames_are_masked() {
        for len in [0usize, 5, 126, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mask = [0xA1, 0xB2, 0xC3, 0xD4];
            let mut out = Vec::new();
            encode_client_frame(&mut out, OP_TEXT, &payload, mask);
            assert_eq!(out[0], 0x81);
            assert_eq!(out[1] & 0x80, 0x80, "mask bit");
            let (plen, hl) = match out[1] & 0x7F {
                126 => (u16::from_be_bytes([out[2], out[3]]) as usize, 4),
                127 => (
                    u64::from_be_bytes(out[2..10].try_into().unwrap()) as usize,
                    10,
                ),
                n => (n as usize, 2),
            };
            assert_eq!(plen, len);
            assert_eq!(out[hl..hl + 4], mask);
            let unmasked: Vec<u8> = out[hl + 4..]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            assert_eq!(unmasked, payload);
        }
    }

    #[test]
    fn mask_rng_varies() {
        let mut r = MaskRng::new(0);
        let a = r.next_mask();
        let b = r.next_mask();
        assert_ne!(a, b);
    }

    /// A message to send as frames: its opcode, payload, how to cut it into fragments, and
    /// whether a ping goes between fragments.
    fn message() -> impl Strategy<Value = (bool, Vec<u8>, Vec<usize>, bool)> {
        (
            any::<bool>(),
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..200),
                proptest::collection::vec(any::<u8>(), 200..2000),
            ],
            proptest::collection::vec(1usize..700, 0..4),
            any::<bool>(),
        )
    }

    proptest! {
        #[test]
        fn any_split_gives_same_messages(
            msgs in proptest::collection::vec(message(), 1..8),
            reads in proptest::collection::vec(1usize..600, 1..10),
            buf in prop_oneof![Just(256usize), Just(1024), Just(4096)],
        ) {
            let mut stream = Vec::new();
            let mut want = Vec::new();
            for (text, payload, cuts, ping) in &msgs {
                let op = if *text { OP_TEXT } else { OP_BINARY };
                let mut parts = Vec::new();
                let mut rest = &payload[..];
                for &c in cuts {
                    let c = c.min(rest.len());
                    parts.push(&rest[..c]);
                    rest = &rest[c..];
                }
                parts.push(rest);
                for (i, part) in parts.iter().enumerate() {
                    let fin = i + 1 == parts.len();
                    stream.extend(server_frame(fin, if i == 0 { op } else { OP_CONTINUATION }, part));
                    if *ping && !fin {
                        stream.extend(server_frame(true, OP_PING, b"pp"));
                        want.push(Got::Ping(b"pp".to_vec()));
                    }
                }
                want.push(if *text { Got::Text(payload.clone()) } else { Got::Binary(payload.clone()) });
            }
            let (got, err) = run(&stream, &reads, buf, 1 << 20);
            prop_assert_eq!(err, None);
            prop_assert_eq!(got, want);
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..3000),
            reads in proptest::collection::vec(1usize..300, 1..5),
            max in 0usize..2000,
        ) {
            let _ = run(&bytes, &reads, 256, max);
        }
    }
}
