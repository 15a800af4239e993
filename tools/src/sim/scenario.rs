//! Scripted markets in event time: a tape of real Binance frames (spot `@trade` and USDⓈ-M
//! `@trade`, combined-stream envelopes) that follows a script minute by minute, written
//! without running servers, so a test or a user can replay hours of market in seconds.
//!
//! `squeeze` (for the strategy): an hour of calm two-sided trading, then ten minutes of spot
//! buying while perps sell with the price grinding up, ten minutes of the same at half the pace
//! (the reset), ten minutes of the flow reversing hard (spot selling, perps buying) with the
//! price flat, then calm again. The SqueezeFlow strategy should go LONG in the squeeze or reset and
//! CLOSE on the reversal.

use engine::tape::write_line;
use feeds::Venue;
use std::io::{self, Write};

/// One scripted minute: net taker flow per market (quote notional, + = buying) and the price
/// drift of the minute (relative).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Minute {
    pub spot_flow: f64,
    pub perp_flow: f64,
    pub drift: f64,
}

/// The squeeze script, one entry per minute.
pub fn squeeze_script() -> Vec<Minute> {
    let calm = Minute {
        spot_flow: 0.0,
        perp_flow: 0.0,
        drift: 0.0,
    };
    let mut m = vec![calm; 60];
    m.extend(std::iter::repeat_n(
        Minute {
            spot_flow: 300_000.0,
            perp_flow: -300_000.0,
            drift: 0.0008,
        },
        10,
    ));
    m.extend(std::iter::repeat_n(
        Minute {
            spot_flow: 150_000.0,
            perp_flow: -150_000.0,
            drift: 0.0008,
        },
        10,
    ));
    m.extend(std::iter::repeat_n(
        Minute {
            spot_flow: -600_000.0,
            perp_flow: 600_000.0,
            drift: 0.0,
        },
        10,
    ));
    m.extend(std::iter::repeat_n(calm, 10));
    m
}

/// What a scenario wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScenarioReport {
    pub minutes: usize,
    pub frames: u64,
}

/// Trades per market per minute (one every 5 s).
const TRADES_PER_MINUTE: i64 = 12;
/// Two-sided background volume per trade in calm minutes (quote notional).
const BACKGROUND: f64 = 20_000.0;
/// Exchange → engine latency stamped on the tape.
const LATENCY_NS: u64 = 5_000_000;

/// Write `script` as a tape for `BTCUSDT` starting at `start_s` (rounded down to a minute),
/// price starting at `price`. Deterministic: same arguments, same bytes.
pub fn write_script(
    out: &mut impl Write,
    script: &[Minute],
    start_s: i64,
    price: f64,
) -> io::Result<ScenarioReport> {
    let start = start_s - start_s.rem_euclid(60);
    let mut ids = [1u64, 1u64];
    let mut px = price;
    let mut frames = 0;
    for (i, minute) in script.iter().enumerate() {
        let t0 = start + i as i64 * 60;
        let open = px;
        let close = open * (1.0 + minute.drift);
        for k in 0..TRADES_PER_MINUTE {
            // Perp prices set the reference bar: open, a dip, then a straight line to close.
            let at = (t0 + 1 + 5 * k) * 1000 + 37;
            let frac = k as f64 / (TRADES_PER_MINUTE - 1) as f64;
            let perp_px = match k {
                0 => open,
                1 => open * (1.0 - 0.0002),
                _ => open + (close - open) * frac,
            };
            let spot_px = perp_px * (1.0 - 0.0001);
            for (m, venue, trade_px, flow) in [
                (0usize, Venue::BinanceSpot, spot_px, minute.spot_flow),
                (1, Venue::BinanceUsdm, perp_px, minute.perp_flow),
            ] {
                // Net flow spread over the minute's trades, plus alternating background.
                let net = flow / TRADES_PER_MINUTE as f64;
                let background = if k % 2 == 0 { BACKGROUND } else { -BACKGROUND };
                let notional = if flow == 0.0 { background } else { net };
                let buy = notional > 0.0;
                let qty = (notional.abs() / trade_px * 1000.0).round() / 1000.0;
                if qty <= 0.0 {
                    continue;
                }
                let id = ids[m];
                ids[m] += 1;
                let payload = match venue {
                    Venue::BinanceSpot => format!(
                        r#"{{"e":"trade","E":{at},"s":"BTCUSDT","t":{id},"p":"{trade_px:.2}","q":"{qty:.3}","T":{at},"m":{},"M":true}}"#,
                        !buy
                    ),
                    _ => format!(
                        r#"{{"e":"trade","E":{at},"T":{at},"s":"BTCUSDT","t":{id},"p":"{trade_px:.2}","q":"{qty:.3}","X":"MARKET","m":{}}}"#,
                        !buy
                    ),
                };
                let frame = format!(r#"{{"stream":"btcusdt@trade","data":{payload}}}"#);
                let ts_ns = at as u64 * 1_000_000 + LATENCY_NS;
                write_line(out, ts_ns, venue, m as u64 + 1, &frame)?;
                frames += 1;
            }
        }
        px = close;
    }
    Ok(ScenarioReport {
        minutes: script.len(),
        frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_deterministic_and_nets_the_flows() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        let script = squeeze_script();
        let r = write_script(&mut a, &script, 1_790_000_000, 60_000.0).unwrap();
        write_script(&mut b, &script, 1_790_000_000, 60_000.0).unwrap();
        assert_eq!(a, b);
        assert_eq!(r.minutes, 100);
        assert_eq!(r.frames, 100 * 12 * 2);
        // Net taker flow per minute and venue, from the frames themselves.
        let text = String::from_utf8(a).unwrap();
        let start = 1_790_000_000 - 1_790_000_000 % 60;
        let mut net = vec![[0.0f64; 2]; 100];
        for line in text.lines() {
            let rec: serde_json::Value = serde_json::from_str(line).unwrap();
            let frame: serde_json::Value =
                serde_json::from_str(rec["frame"].as_str().unwrap()).unwrap();
            let d = &frame["data"];
            let minute = ((d["T"].as_i64().unwrap() / 1000 - start) / 60) as usize;
            let px: f64 = d["p"].as_str().unwrap().parse().unwrap();
            let qty: f64 = d["q"].as_str().unwrap().parse().unwrap();
            let sign = if d["m"].as_bool().unwrap() { -1.0 } else { 1.0 };
            let venue = usize::from(rec["venue"] == "binance-usdm");
            net[minute][venue] += sign * px * qty;
        }
        for (m, minute) in script.iter().enumerate() {
            for (v, want) in [(0, minute.spot_flow), (1, minute.perp_flow)] {
                // Quantities are rounded to 0.001 (≈ 60 quote per trade at 60 000).
                assert!(
                    (net[m][v] - want).abs() < 12.0 * 60.0,
                    "minute {m} venue {v}: {} vs {want}",
                    net[m][v]
                );
            }
        }
    }
}
