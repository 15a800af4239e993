//! Signals as JSON, in the layout FreqTrade's SqueezeFlow strategy reads from Redis
//! (seed-compat.md "Signals"), plus the latency stamps and the structured phase results.
//!
//! Rendering happens on the IO thread. Everything in a signal's JSON follows from the bars
//! (ids are derived from symbol, action, time and sequence; `timestamp` is the evaluation
//! time), so replaying the same tape gives the same journal byte for byte; the only
//! exception is the optional `latency` object, which live runs add.

use super::engine::{Action, SignalEvent};
use super::phases::{
    Bias, Dominance, ExitReason, Pattern, Potential, PriceMove, ResetType, Setup, Severity,
    SqueezeEnv, Tier,
};
use super::SymbolSpec;
use serde_json::{json, Value};

/// The strategy name the original published.
pub const STRATEGY: &str = "SqueezeFlowStrategy";
/// The `service` field.
pub const SERVICE: &str = "squeezeflow-engine";

/// `2026-11-24T04:12:00+00:00` for a time in seconds since the epoch (UTC, explicit offset).
pub fn iso_time(secs: i64) -> String {
    let day = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = crate::store::civil_from_days(day);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+00:00",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// A UUID-v4-shaped id derived from the signal's identity (not random, so journals of the
/// same tape are identical; distinct signals get distinct ids).
pub fn signal_id(pair: &str, sig: &SignalEvent) -> String {
    let mut h1: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h1 ^= u64::from(*b);
            h1 = h1.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(pair.as_bytes());
    feed(sig.action.as_str().as_bytes());
    feed(&sig.time.to_le_bytes());
    feed(&sig.seq.to_le_bytes());
    let h2 = splitmix(h1 ^ 0x9e37_79b9_7f4a_7c15);
    let h1 = splitmix(h1);
    let hi = (h1 & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let lo = (h2 & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A Rust enum variant as the original's label: `SpotUpFuturesDown` → `SPOT_UP_FUTURES_DOWN`.
pub fn name<T: std::fmt::Debug>(v: T) -> String {
    // `SpotUpFuturesDown` → `SPOT_UP_FUTURES_DOWN`, the original's label style.
    let s = format!("{v:?}");
    let mut out = String::with_capacity(s.len() + 4);
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Finite numbers as JSON numbers, NaN/∞ as null.
fn num(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

/// The human reasoning text: the setup, the scored components and the reset type, or the exit.
pub fn reasoning(sig: &SignalEvent) -> String {
    if let Some(exit) = sig.exit {
        let why = match exit.reason {
            ExitReason::FlowReversal => format!(
                "flow reversal ({} severity): spot flow {:.0}, perp flow {:.0} since entry",
                name(exit.severity),
                sig.position.map_or(0.0, |p| p.spot_flow),
                sig.position.map_or(0.0, |p| p.perp_flow)
            ),
            ExitReason::RangeBreak => format!(
                "range break: close {} beyond the entry reset range [{}, {}]",
                sig.price,
                sig.position.map_or(f64::NAN, |p| p.lo),
                sig.position.map_or(f64::NAN, |p| p.hi)
            ),
            ExitReason::CvdInvalidation => {
                "CVD invalidation: spot and perp CVD trend and momentum against the position"
                    .to_string()
            }
            ExitReason::StructureBreak => {
                "structure break: close beyond the 20-bar swing by more than a typical bar range"
                    .to_string()
            }
        };
        return format!("Dynamic exit: {why}");
    }
    let Some(ph) = sig.phases else {
        return String::new();
    };
    format!(
        "{} {} with {} price; score {:.2} ({}): CVD reset {:.2}, absorption {:.2}, failed breakdown {:.2}, directional {:.2}{}; reset {}",
        name(ph.p2.pattern),
        name(ph.p2.setup),
        name(ph.p2.price_move).to_lowercase(),
        ph.p4.score,
        name(ph.p4.tier),
        ph.p4.cvd_reset,
        ph.p4.absorption,
        ph.p4.failed_breakdown,
        ph.p4.directional,
        if ph.p4.oi_bonus != 0.0 {
            format!(", OI {:+.1}", ph.p4.oi_bonus)
        } else {
            String::new()
        },
        name(ph.p3.reset_type),
    )
}

/// The signal as the journal and Redis carry it. `latency_ns`: bar close → signal, live only.
pub fn signal_json(
    sig: &SignalEvent,
    spec: &SymbolSpec,
    ttl_s: u64,
    latency_ns: Option<u64>,
) -> Value {
    let mut v = json!({
        "signal_id": signal_id(&spec.pair, sig),
        "timestamp": iso_time(sig.time),
        "symbol": spec.pair,
        "base_symbol": spec.base,
        "action": sig.action.as_str(),
        "score": num(sig.score.clamp(0.0, 10.0)),
        "score_raw": num(sig.score),
        "position_size_factor": num(sig.size_factor),
        "leverage": sig.leverage,
        "entry_price": num(sig.price),
        "ttl": ttl_s,
        "confidence": num(sig.confidence),
        "reasoning": reasoning(sig),
        "strategy": STRATEGY,
        "service": SERVICE,
        "sequence": sig.seq,
        "window_bars": sig.window_bars,
        "paper_quantity": num(sig.quantity),
    });
    let obj = v.as_object_mut().expect("json! object");
    if sig.action == Action::Close {
        obj.insert("exit_type".into(), json!("DYNAMIC"));
        if let Some(exit) = sig.exit {
            obj.insert("exit_reason".into(), json!(name(exit.reason)));
            if exit.reason == ExitReason::FlowReversal {
                obj.insert("exit_severity".into(), json!(name(exit.severity)));
            }
        }
        if let Some(p) = sig.position {
            let pnl_pct =
                f64::from(p.direction) * (sig.price - p.entry_price) / p.entry_price * 100.0;
            obj.insert(
                "position".into(),
                json!({
                    "side": if p.direction > 0 { "LONG" } else { "SHORT" },
                    "entry_time": iso_time(p.entry_time),
                    "entry_price": num(p.entry_price),
                    "quantity": num(p.quantity),
                    "spot_flow": num(p.spot_flow),
                    "perp_flow": num(p.perp_flow),
                    "pnl_pct": num(pnl_pct),
                }),
            );
        }
    }
    if let Some(p) = sig.position.filter(|_| sig.action != Action::Close) {
        obj.insert(
            "reset_levels".into(),
            json!({ "lo": num(p.lo), "hi": num(p.hi) }),
        );
    }
    if let Some(ph) = sig.phases {
        let (p1, p2, p3, p4) = (ph.p1, ph.p2, ph.p3, ph.p4);
        obj.insert(
            "phases".into(),
            json!({
                "context": {
                    "dominance": name::<Dominance>(p1.dominance),
                    "strength": num(p1.strength),
                    "spot_share": num(p1.spot_share),
                    "duration_potential": name::<Potential>(p1.potential),
                    "squeeze_environment": name::<SqueezeEnv>(p1.environment),
                    "momentum": num(p1.momentum),
                    "div_mean": num(p1.div_mean),
                    "bias": name::<Bias>(p1.bias),
                },
                "divergence": {
                    "spot_change": num(p2.spot_change),
                    "perp_change": num(p2.perp_change),
                    "pattern": name::<Pattern>(p2.pattern),
                    "current_div": num(p2.current_div),
                    "div_mean": num(p2.div_mean),
                    "div_std": num(p2.div_std),
                    "significant": p2.significant,
                    "price_change": num(p2.price_change),
                    "price_movement": name::<PriceMove>(p2.price_move),
                    "setup": name::<Setup>(p2.setup),
                    "oi_change": num(p2.oi_change),
                    "has_divergence": p2.has_divergence,
                },
                "reset": {
                    "converging": p3.converging,
                    "convergence_rate": num(p3.convergence_rate),
                    "convergence_strength": num(p3.convergence_strength),
                    "decelerating": p3.decelerating,
                    "stagnant": p3.stagnant,
                    "exhausted": p3.exhausted,
                    "explosive_momentum": num(p3.explosive_momentum),
                    "reset_type": name::<ResetType>(p3.reset_type),
                    "reset_detected": p3.reset_detected,
                },
                "scoring": {
                    "direction": p4.direction,
                    "cvd_reset_deceleration": num(p4.cvd_reset),
                    "absorption": num(p4.absorption),
                    "failed_breakdown": num(p4.failed_breakdown),
                    "directional_bias": num(p4.directional),
                    "oi_bonus": num(p4.oi_bonus),
                    "reset_multiplier": num(p4.multiplier),
                    "total": num(p4.score),
                    "tier": name::<Tier>(p4.tier),
                },
            }),
        );
    }
    if let Some(ns) = latency_ns {
        obj.insert("latency".into(), json!({ "bar_close_to_signal_ns": ns }));
    }
    let _ = Severity::Low;
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times_carry_the_utc_offset() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(iso_time(1_795_000_000), "2026-11-18T11:06:40+00:00");
    }

    #[test]
    fn labels_are_upper_snake_case() {
        assert_eq!(name(Pattern::SpotUpFuturesDown), "SPOT_UP_FUTURES_DOWN");
        assert_eq!(name(Setup::LongSetup), "LONG_SETUP");
        assert_eq!(name(ResetType::TypeA), "TYPE_A");
    }
}
