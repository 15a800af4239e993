//! The benchmark tape: real Binance spot combined-stream `@trade` frames, generated
//! deterministically from their sequence number so every consumer (our pipeline, the
//! baseline, the sender) sees byte-identical input without storing it.

use std::io::Write;

/// Trade id of frame 0; frame `i` carries trade id `FIRST_TRADE_ID + i`, which is how a
/// receiver finds the frame's scheduled send time.
pub const FIRST_TRADE_ID: u64 = 6_000_000_000;
/// Exchange time of frame 0 (2026-05-13 07:56:00 UTC, ms).
pub const T0_MS: u64 = 1_778_658_960_000;

/// Symbols the tape cycles through (frame `i` is for `SYMBOLS[i % symbols]`).
pub const SYMBOLS: [&str; 8] = [
    "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BNBUSDT", "DOGEUSDT", "ADAUSDT", "LTCUSDT",
];
const BASE_PRICE: [u64; 8] = [
    8_015_350, 312_420, 17_311, 2_405, 61_230, 2_170, 7_310, 9_120,
];

/// What the tape looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TapeSpec {
    /// Distinct symbols, 1..=8.
    pub symbols: usize,
    /// Trades per second of exchange time (sets how many trades share a bar).
    pub per_sec: u64,
}

impl TapeSpec {
    /// The symbol of frame `i`.
    pub fn symbol(&self, i: u64) -> usize {
        (i % self.symbols.clamp(1, SYMBOLS.len()) as u64) as usize
    }

    /// Exchange time of frame `i`, ms.
    pub fn time_ms(&self, i: u64) -> u64 {
        T0_MS + i * 1000 / self.per_sec.max(1)
    }

    /// Appends frame `i` (the WebSocket payload, no framing) to `out`.
    pub fn frame(&self, i: u64, out: &mut Vec<u8>) {
        let s = self.symbol(i);
        let upper = SYMBOLS[s];
        let mut lower = [0u8; 16];
        let n = upper.len();
        lower[..n].copy_from_slice(upper.as_bytes());
        lower[..n].make_ascii_lowercase();
        let lower = std::str::from_utf8(&lower[..n]).unwrap_or("btcusdt");
        // A bounded random walk: price in cents-like ticks, qty in 1e-5 units.
        let mix = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        let price = BASE_PRICE[s] + mix % 997;
        let qty = 1 + (mix >> 10) % 50_000;
        let t = self.time_ms(i);
        let buyer_maker = mix & 1 == 1;
        let _ = write!(
            out,
            r#"{{"stream":"{lower}@trade","data":{{"e":"trade","E":{e},"s":"{upper}","t":{id},"p":"{pi}.{pf:02}000000","q":"{qi}.{qf:05}000","T":{t},"m":{buyer_maker},"M":true}}}}"#,
            e = t + 1,
            id = FIRST_TRADE_ID + i,
            pi = price / 100,
            pf = price % 100,
            qi = qty / 100_000,
            qf = qty % 100_000,
        );
    }

    /// The combined-stream path (`/stream?streams=…`) of connection `conn` of `conns`: the
    /// symbols `s` with `s % conns == conn`.
    pub fn path(&self, conn: usize, conns: usize) -> String {
        let names: Vec<String> = (0..self.symbols.clamp(1, SYMBOLS.len()))
            .filter(|s| s % conns.max(1) == conn)
            .map(|s| format!("{}@trade", SYMBOLS[s].to_ascii_lowercase()))
            .collect();
        format!("/stream?streams={}", names.join("/"))
    }

    /// The connection that carries frame `i`.
    pub fn conn_of(&self, i: u64, conns: usize) -> usize {
        self.symbol(i) % conns.max(1)
    }
}

/// An in-memory tape of `n` frames: one contiguous buffer and each frame's end offset.
#[derive(Debug, Clone)]
pub struct Tape {
    /// All payloads back to back.
    pub bytes: Vec<u8>,
    /// `ends[i]` is the end of frame `i` in `bytes`.
    pub ends: Vec<usize>,
}

impl Tape {
    /// Generates frames `0..n` of `spec`.
    pub fn generate(spec: &TapeSpec, n: u64) -> Tape {
        let mut bytes = Vec::with_capacity(n as usize * 200);
        let mut ends = Vec::with_capacity(n as usize);
        for i in 0..n {
            spec.frame(i, &mut bytes);
            ends.push(bytes.len());
        }
        Tape { bytes, ends }
    }

    /// Frame `i`'s payload.
    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True for an empty tape.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}
