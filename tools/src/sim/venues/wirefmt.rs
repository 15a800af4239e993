//! Text helpers shared by the simulator's Coinbase, Kraken, BitMEX, Deribit and Bitfinex
//! protocols: numbers on a tick/lot grid, RFC 3339 times, GUID-shaped ids, JSON strings.

use super::proto::SimMarket;

/// Fractional digits of a grid step (`0.01` → 2, `0.5` → 1, `1` → 0), at most 12.
pub(crate) fn decimals(step: f64) -> usize {
    let mut scaled = step.abs();
    for d in 0..12 {
        if (scaled - scaled.round()).abs() < 1e-9 * scaled.max(1.0) {
            return d;
        }
        scaled *= 10.0;
    }
    12
}

/// `x` with exactly `dec` fractional digits (`"65083.60"`).
pub(crate) fn fixed(x: f64, dec: usize) -> String {
    let text = format!("{x:.dec$}");
    // `-0.00` would read as a signed zero; the grid never asks for it, but keep it plain.
    if text.starts_with('-') && text.bytes().all(|c| matches!(c, b'-' | b'0' | b'.')) {
        return text[1..].to_owned();
    }
    text
}

/// `x` rounded to `dec` fractional digits, trailing zeros dropped (`"0.0002"`, `"64256"`):
/// how JavaScript-style encoders (Bitfinex, BitMEX) print numbers.
pub(crate) fn short(x: f64, dec: usize) -> String {
    let mut text = fixed(x, dec);
    if text.contains('.') {
        while text.ends_with('0') {
            text.pop();
        }
        if text.ends_with('.') {
            text.pop();
        }
    }
    text
}

/// Like [`short`] but a whole number keeps one fractional zero (`"64345.0"`, `"30.0"`), as
/// Deribit prints its floats.
pub(crate) fn float(x: f64, dec: usize) -> String {
    let text = short(x, dec);
    if text.contains('.') {
        text
    } else {
        text + ".0"
    }
}

/// The market's price on its tick grid, trailing zeros dropped.
pub(crate) fn price(m: &SimMarket, p: f64) -> String {
    short(p, decimals(m.tick))
}

/// The market's base quantity on its lot grid, trailing zeros dropped.
pub(crate) fn qty(m: &SimMarket, q: f64) -> String {
    short(q, decimals(m.lot))
}

/// `ts_us` as `2026-08-09T21:05:51.426861Z` with `frac` fractional digits (0–9; digits below
/// a microsecond are zero).
pub(crate) fn rfc3339(ts_us: i64, frac: usize) -> String {
    feeds::civil::Rfc3339::new(ts_us, frac.min(9) as u8).to_string()
}

/// `ts_us` as `2026-08-09 21:05:48.854840000 +0000 UTC` (Go's `time.Time` string, which
/// Coinbase Advanced Trade puts in heartbeats).
pub(crate) fn go_time(ts_us: i64) -> String {
    let iso = rfc3339(ts_us, 9);
    let body = iso.trim_end_matches('Z').replacen('T', " ", 1);
    format!("{body} +0000 UTC")
}

/// Milliseconds of a µs time (truncated, as venues stamping ms do).
pub(crate) fn millis(ts_us: i64) -> i64 {
    ts_us.div_euclid(1000)
}

/// A deterministic GUID-shaped id (`6e70bebe-235e-08a6-d11b-e1042bf1f2ed`) from a number and
/// a salt, for order ids, match ids and server ids.
pub(crate) fn guid(n: u64, salt: u64) -> String {
    // splitmix64 twice: well spread, reproducible.
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let a = mix(n ^ salt.rotate_left(17));
    let b = mix(a ^ n);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// `s` as a JSON string literal (quotes and escapes included).
pub(crate) fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// A JSON array of string literals.
pub(crate) fn json_strs<S: AsRef<str>>(items: &[S]) -> String {
    let parts: Vec<String> = items.iter().map(|s| json_str(s.as_ref())).collect();
    format!("[{}]", parts.join(","))
}

/// The path of a request target (`/ws/2?x=1` → `/ws/2`).
pub(crate) fn path(target: &str) -> &str {
    target.split_once('?').map_or(target, |(p, _)| p)
}

/// Test fixtures: a session over owned markets, and frames run through a venue's decoder.
#[cfg(test)]
pub(crate) mod testkit {
    use super::super::proto::{Out, Print, PrintKind, Session, SimMarket, Streams};
    use feeds::{ContractSpec, Decimal, Decode, DecodeError, Event, EventKind, Frame, Side, Venue};

    /// Owned storage for a [`Session`].
    pub(crate) struct Fixture {
        pub(crate) markets: Vec<SimMarket>,
        pub(crate) subs: Vec<Streams>,
        pub(crate) recent: Vec<Vec<Print>>,
        pub(crate) snapshot_sent: Vec<u64>,
        pub(crate) now_us: i64,
    }

    /// 2026-09-25T17:48:26.844359Z.
    pub(crate) const T0: i64 = 1_790_358_506_844_359;

    pub(crate) fn market(
        venue: Venue,
        symbol: &str,
        base: &str,
        spec: Option<ContractSpec>,
        tick: f64,
        lot: f64,
    ) -> SimMarket {
        SimMarket {
            venue,
            symbol: symbol.to_owned(),
            base: base.to_owned(),
            spec,
            tick,
            lot,
        }
    }

    pub(crate) fn inverse_usd(size: i64) -> Option<ContractSpec> {
        Some(ContractSpec {
            size: Decimal::new(size, 0),
            inverse: true,
        })
    }

    impl Fixture {
        pub(crate) fn new(markets: Vec<SimMarket>) -> Fixture {
            let n = markets.len();
            Fixture {
                markets,
                subs: vec![Streams::default(); n],
                recent: vec![Vec::new(); n],
                snapshot_sent: vec![0; n],
                now_us: T0,
            }
        }

        pub(crate) fn session(&mut self) -> Session<'_> {
            Session {
                markets: &self.markets,
                subs: &mut self.subs,
                recent: &self.recent,
                snapshot_sent: &mut self.snapshot_sent,
                now_us: self.now_us,
                conn: 7,
            }
        }
    }

    pub(crate) fn print(market: usize, kind: PrintKind, buy: bool, price: f64, qty: f64) -> Print {
        Print {
            market,
            kind,
            buy,
            price,
            qty,
            ts_us: T0 - 5_000_123,
            id: 0,
        }
    }

    /// A trade print with an id and time.
    pub(crate) fn trade(market: usize, id: u64, buy: bool, price: f64, qty: f64, ts: i64) -> Print {
        Print {
            id,
            ts_us: ts,
            ..print(market, PrintKind::Trade, buy, price, qty)
        }
    }

    /// A liquidation print.
    pub(crate) fn liq(market: usize, id: u64, buy: bool, price: f64, qty: f64, ts: i64) -> Print {
        Print {
            id,
            ts_us: ts,
            ..print(market, PrintKind::Liquidation, buy, price, qty)
        }
    }

    /// One decoded frame.
    pub(crate) type Decoded = (Result<Frame, DecodeError>, Vec<Event>);

    /// Every text frame of `out` through `decoder`, in order.
    pub(crate) fn decode_all(decoder: &mut dyn Decode, out: &[Out]) -> Vec<Decoded> {
        out.iter()
            .map(|o| match o {
                Out::Text(t) => {
                    let mut bytes = t.as_bytes().to_vec();
                    let mut events = Vec::new();
                    let frame = decoder.decode(&mut bytes, &mut |e| events.push(e));
                    (frame, events)
                }
                other => panic!("not a text frame: {other:?}"),
            })
            .collect()
    }

    /// The frames' events, all frames required to decode.
    pub(crate) fn events(decoder: &mut dyn Decode, out: &[Out]) -> Vec<Event> {
        let mut all = Vec::new();
        for (i, (frame, events)) in decode_all(decoder, out).into_iter().enumerate() {
            assert!(frame.is_ok(), "frame {i} {:?}: {frame:?}", out[i]);
            all.extend(events);
        }
        all
    }

    /// The frames of `out` that are text, for assertions on the wire form.
    pub(crate) fn texts(out: &[Out]) -> Vec<&str> {
        out.iter()
            .filter_map(|o| match o {
                Out::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The first line containing `needle` of `feeds/NAME`, a fixture in `feeds/tests/fixtures`
    /// (written from the venue's docs).
    ///
    /// Optional conformance: when the recorded vectors `../shared/reference/vectors/NAME` are
    /// beside the workspace, the fixture line must also have the shape of the first recorded
    /// line containing `needle` (so what the simulator is checked against is what the venue
    /// sent); without them a `SKIPPED:` line says so.
    pub(crate) fn vector(file: &str, needle: &str) -> String {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let Some(("feeds", name)) = file.split_once('/') else {
            panic!("bad vector file {file}");
        };
        let first = |path: &std::path::Path| {
            let text = std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            text.lines()
                .find(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("no line with {needle} in {}", path.display()))
                .to_owned()
        };
        let ours = first(&root.join("../feeds/tests/fixtures").join(name));
        let recorded = root.join("../../shared/reference/vectors").join(name);
        if recorded.is_file() {
            assert_same_shape(&ours, &first(&recorded));
        } else if !recorded.parent().is_some_and(std::path::Path::is_dir) {
            static SKIP: std::sync::Once = std::sync::Once::new();
            SKIP.call_once(|| {
                println!(
                    "SKIPPED: ../shared/reference/vectors not found (optional conformance test)"
                );
            });
        }
        ours
    }

    /// `ours` has the shape of the real frame `real`: the same JSON types, the same keys in
    /// every object, the same length of tuple-like arrays (whose first element is a scalar),
    /// and, for lists, the shape of the first element.
    pub(crate) fn assert_same_shape(ours: &str, real: &str) {
        let a: serde_json::Value = serde_json::from_str(ours).expect(ours);
        let b: serde_json::Value = serde_json::from_str(real).expect(real);
        if let Err(at) = same_shape(&a, &b, "$") {
            panic!("shape differs at {at}\nours: {ours}\nreal: {real}");
        }
    }

    fn same_shape(a: &serde_json::Value, b: &serde_json::Value, at: &str) -> Result<(), String> {
        use serde_json::Value as V;
        match (a, b) {
            (V::Object(x), V::Object(y)) => {
                let mut kx: Vec<&String> = x.keys().collect();
                let mut ky: Vec<&String> = y.keys().collect();
                kx.sort();
                ky.sort();
                if kx != ky {
                    return Err(format!("{at}: keys {kx:?} vs {ky:?}"));
                }
                for (k, v) in x {
                    same_shape(v, &y[k], &format!("{at}.{k}"))?;
                }
                Ok(())
            }
            (V::Array(x), V::Array(y)) => {
                // A list holds elements of one kind (objects, arrays or strings); anything
                // else (Bitfinex rows, mixed entries) is a tuple compared position by position.
                let kind = |v: &V| std::mem::discriminant(v);
                let list = y.first().is_some_and(|f| {
                    matches!(f, V::Object(_) | V::Array(_) | V::String(_))
                        && y.iter().all(|e| kind(e) == kind(f))
                });
                if y.is_empty() || (list && x.is_empty()) {
                    return Ok(());
                }
                if list {
                    return same_shape(&x[0], &y[0], &format!("{at}[0]"));
                }
                if x.len() != y.len() {
                    return Err(format!("{at}: {} elements vs {}", x.len(), y.len()));
                }
                x.iter()
                    .zip(y)
                    .enumerate()
                    .try_for_each(|(i, (p, q))| same_shape(p, q, &format!("{at}[{i}]")))
            }
            (V::Number(_), V::Number(_))
            | (V::String(_), V::String(_))
            | (V::Bool(_), V::Bool(_))
            | (V::Null, V::Null) => Ok(()),
            _ => Err(format!("{at}: {a} vs {b}")),
        }
    }

    /// `event` is `p` of market `symbol`: kind, side, price, ts (to `ts_unit` µs), and base
    /// qty within `qty_tol`.
    pub(crate) fn assert_event(e: &Event, p: &Print, symbol: &str, ts_unit: i64, qty_tol: f64) {
        let kind = match p.kind {
            PrintKind::Trade => EventKind::Trade,
            PrintKind::Liquidation => EventKind::Liquidation,
            PrintKind::OpenInterest => EventKind::OpenInterest,
        };
        assert_eq!(e.kind, kind, "{e:?} vs {p:?}");
        assert_eq!(e.symbol.as_str(), symbol, "{e:?}");
        let side = if p.buy { Side::Buy } else { Side::Sell };
        assert_eq!(e.side, side, "{e:?} vs {p:?}");
        assert!(
            (e.price.to_f64() - p.price).abs() < 1e-9 * p.price,
            "{e:?} vs {p:?}"
        );
        assert!(
            (e.qty.to_f64() - p.qty).abs() <= qty_tol + 1e-12,
            "qty {} vs {} (tol {qty_tol})",
            e.qty,
            p.qty
        );
        assert_eq!(e.ts_us, p.ts_us.div_euclid(ts_unit) * ts_unit, "{e:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_numbers() {
        assert_eq!(decimals(0.01), 2);
        assert_eq!(decimals(0.5), 1);
        assert_eq!(decimals(1.0), 0);
        assert_eq!(decimals(0.00000001), 8);
        assert_eq!(fixed(65083.6, 2), "65083.60");
        assert_eq!(short(65083.6, 2), "65083.6");
        assert_eq!(short(64256.0, 1), "64256");
        assert_eq!(short(-0.0002, 8), "-0.0002");
        assert_eq!(float(64345.0, 1), "64345.0");
        assert_eq!(float(0.25, 4), "0.25");
    }

    #[test]
    fn times() {
        assert_eq!(
            rfc3339(1_786_309_551_426_861, 6),
            "2026-08-09T21:05:51.426861Z"
        );
        assert_eq!(
            rfc3339(1_626_993_371_685_999, 3),
            "2021-07-22T22:36:11.685Z"
        );
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            go_time(1_786_309_548_854_840),
            "2026-08-09 21:05:48.854840000 +0000 UTC"
        );
        assert_eq!(millis(1_626_993_371_685_999), 1_626_993_371_685);
    }

    #[test]
    fn guids_are_shaped_and_distinct() {
        let a = guid(1, 2);
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
        assert_ne!(a, guid(2, 2));
        assert_ne!(a, guid(1, 3));
        assert_eq!(a, guid(1, 2));
    }
}
