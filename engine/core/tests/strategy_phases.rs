//! The five phases of reference/strategy.md on hand-built bar series: every branch and every
//! threshold on both sides (a value exactly at a strict threshold does not trigger, one just
//! beyond does), the precedence rules, and the bar-count scaling of 1-second mode.
//!
//! Bars are addressed as in the spec: `-1` is the newest (current) bar, `-k` the k-th from the
//! end; non-negative numbers count from the oldest bar. Values meant to sit exactly on a
//! threshold are chosen so that the computed quantity equals the threshold constant in binary
//! floating point (integers, halves, quarters, or quotients that round to the constant).

use std::ops::RangeInclusive;

use engine_core::strategy::phases::*;

/// `min_cvd_change` default (phase 2 floor `F`).
const F: f64 = 1e6;
/// `flow_floor` default (phase 4 floor `G`).
const G: f64 = 1e4;

// ---------------------------------------------------------------------------------------------
// The builder

/// One analysis bar as the builder holds it.
#[derive(Debug, Clone, Copy)]
struct Bar {
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    sf: f64,
    pf: f64,
    volume: f64,
    oi: f64,
}

/// A hand-built window, oldest bar first.
#[derive(Debug, Clone)]
struct Bars(Vec<Bar>);

impl Bars {
    /// `n` flat bars (open = high = low = close = `price`), no flow, volume 1, no OI reading.
    fn flat(n: usize, price: f64) -> Bars {
        Bars(vec![
            Bar {
                open: price,
                high: price,
                low: price,
                close: price,
                sf: 0.0,
                pf: 0.0,
                volume: 1.0,
                oi: f64::NAN,
            };
            n
        ])
    }

    /// `n` bars at 100 with open = close = 100, high 101, low 99 (a typical range of 2).
    fn calm(n: usize) -> Bars {
        Bars::flat(n, 100.0).every(|b| {
            b.high = 101.0;
            b.low = 99.0;
        })
    }

    fn index(&self, at: isize) -> usize {
        let n = self.0.len() as isize;
        let i = if at < 0 { n + at } else { at };
        assert!((0..n).contains(&i), "bar {at} outside a window of {n}");
        i as usize
    }

    /// Applies `f` to the bars `bars` (inclusive, spec numbering).
    fn set(mut self, bars: RangeInclusive<isize>, f: impl Fn(&mut Bar)) -> Bars {
        let (a, b) = (self.index(*bars.start()), self.index(*bars.end()));
        for bar in &mut self.0[a..=b] {
            f(bar);
        }
        self
    }

    /// Applies `f` to every bar.
    fn every(mut self, f: impl Fn(&mut Bar)) -> Bars {
        self.0.iter_mut().for_each(f);
        self
    }

    fn at(self, bar: isize, f: impl Fn(&mut Bar)) -> Bars {
        self.set(bar..=bar, f)
    }

    fn sf(self, bar: isize, x: f64) -> Bars {
        self.at(bar, |b| b.sf = x)
    }

    fn pf(self, bar: isize, x: f64) -> Bars {
        self.at(bar, |b| b.pf = x)
    }

    /// Spot and perp flow of one bar.
    fn flow(self, bar: isize, s: f64, p: f64) -> Bars {
        self.sf(bar, s).pf(bar, p)
    }

    /// Makes bar `bar` flat at `price` (open = high = low = close).
    fn price(self, bar: isize, price: f64) -> Bars {
        self.at(bar, |b| {
            b.open = price;
            b.high = price;
            b.low = price;
            b.close = price;
        })
    }

    fn ohlc(self, bar: isize, open: f64, high: f64, low: f64, close: f64) -> Bars {
        self.at(bar, |b| {
            b.open = open;
            b.high = high;
            b.low = low;
            b.close = close;
        })
    }

    /// Spot flows chosen so that `spot_cvd` ends with `values` (with no perp flow, `div` is the
    /// same path).
    fn spot_cvd_tail(mut self, values: &[f64]) -> Bars {
        let start = self.0.len() - values.len();
        let mut prev: f64 = self.0[..start].iter().map(|b| b.sf).sum();
        for (bar, &v) in self.0[start..].iter_mut().zip(values) {
            bar.sf = v - prev;
            prev = v;
        }
        self
    }

    /// The series the phases read: scvd/pcvd are cumulative sums from the first bar, div =
    /// scvd − pcvd.
    fn build(&self) -> Series {
        let col = |f: fn(&Bar) -> f64| self.0.iter().map(f).collect::<Vec<f64>>();
        let cum = |x: &[f64]| {
            let mut acc = 0.0;
            x.iter()
                .map(|v| {
                    acc += v;
                    acc
                })
                .collect::<Vec<f64>>()
        };
        let (sf, pf) = (col(|b| b.sf), col(|b| b.pf));
        let (scvd, pcvd) = (cum(&sf), cum(&pf));
        let div = scvd.iter().zip(&pcvd).map(|(s, p)| s - p).collect();
        Series {
            open: col(|b| b.open),
            high: col(|b| b.high),
            low: col(|b| b.low),
            close: col(|b| b.close),
            volume: col(|b| b.volume),
            oi: col(|b| b.oi),
            sf,
            pf,
            scvd,
            pcvd,
            div,
        }
    }
}

/// Column form of [`Bars`] with the derived CVDs.
#[derive(Debug)]
struct Series {
    open: Vec<f64>,
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    sf: Vec<f64>,
    pf: Vec<f64>,
    volume: Vec<f64>,
    oi: Vec<f64>,
    scvd: Vec<f64>,
    pcvd: Vec<f64>,
    div: Vec<f64>,
}

impl Series {
    fn view(&self) -> View<'_> {
        View {
            open: &self.open,
            high: &self.high,
            low: &self.low,
            close: &self.close,
            sf: &self.sf,
            pf: &self.pf,
            volume: &self.volume,
            oi: &self.oi,
            scvd: &self.scvd,
            pcvd: &self.pcvd,
            div: &self.div,
        }
    }
}

fn defaults() -> Params {
    Params::default()
}

fn with_oi() -> Params {
    Params {
        enable_oi: true,
        ..Params::default()
    }
}

fn one_second() -> Params {
    Params {
        scale: 60,
        ..Params::default()
    }
}

/// Equality up to rounding (1e-9), with an optional note.
macro_rules! assert_near {
    ($got:expr, $want:expr $(, $note:expr)?) => {{
        let (got, want): (f64, f64) = ($got, $want);
        assert!((got - want).abs() < 1e-9, "got {got}, want {want} {}", "" $(.to_owned() + $note)?);
    }};
}

// ---------------------------------------------------------------------------------------------
// Phase 1: context

fn p1(b: &Bars, k: f64) -> Phase1 {
    phase1(&b.build().view(), &defaults(), k)
}

#[test]
fn phase1_warm_up_below_ten_bars() {
    // A clear spot-led rise: only the bar count decides warm-up.
    let rising = |n| Bars::flat(n, 100.0).price(-1, 110.0).sf(-1, 100.0);
    let w = p1(&rising(9), 1.0);
    assert!(w.warm_up);
    assert_eq!(w.dominance, Dominance::Balanced);
    assert_eq!(w.strength, 0.0);
    assert_eq!(w.environment, SqueezeEnv::Neutral);
    assert_eq!(w.bias, Bias::Neutral);
    assert!(!p1(&rising(10), 1.0).warm_up);
}

#[test]
fn phase1_dominance_is_balanced_with_zero_strength_when_its_lookback_is_under_ten() {
    // n = 10: L = clamp(5, 10, 100) = 10 ≥ n → L = 9 < 10 → BALANCED, strength 0.
    let at10 = p1(&Bars::flat(10, 100.0).sf(-1, 100.0), 1.0);
    assert_eq!(at10.dominance, Dominance::Balanced);
    assert_eq!(at10.strength, 0.0);
    assert_eq!(at10.potential, Potential::Low);
    // n = 11: L = 10.
    let at11 = p1(&Bars::flat(11, 100.0).sf(-1, 100.0), 1.0);
    assert_eq!(at11.dominance, Dominance::SpotDominated);
    assert_eq!(at11.strength, 1.0);
    assert_eq!(at11.potential, Potential::High);
}

#[test]
fn phase1_dominance_lookback_is_half_the_window_clamped_to_10_and_100() {
    // Spot flow one bar before the lookback, perp flow on its first bar: ΔL spot = 0.
    for (n, l) in [(14isize, 10isize), (40, 20), (300, 100)] {
        let b = Bars::flat(n as usize, 100.0)
            .sf(-l - 1, 1000.0)
            .pf(-l, 10.0);
        let r = p1(&b, 1.0);
        assert_eq!(r.spot_share, 0.0, "n = {n}");
        assert_eq!(r.dominance, Dominance::FuturesDominated, "n = {n}");
        // One bar later the spot flow is inside the lookback.
        let b = Bars::flat(n as usize, 100.0).sf(-l, 1000.0).pf(-l, 10.0);
        assert_eq!(p1(&b, 1.0).dominance, Dominance::SpotDominated, "n = {n}");
    }
}

#[test]
fn phase1_dominance_shares_and_potential_bands() {
    use Dominance::*;
    use Potential::*;
    // (ΔL spot, ΔL perp) → dominance, strength, potential. Shares use absolute changes.
    let cases = [
        (0.0, 0.0, Balanced, 0.5, Low),
        (6.0, 4.0, Balanced, 0.6, Low), // spot share exactly 0.6: not > 0.6
        (61.0, 39.0, SpotDominated, 0.61, Low),
        (4.0, 6.0, Balanced, 0.6, Low), // perp share exactly 0.6
        (39.0, 61.0, FuturesDominated, 0.61, Low),
        (65.0, 35.0, SpotDominated, 0.65, Low), // exactly 0.65: not MEDIUM
        (66.0, 34.0, SpotDominated, 0.66, Medium),
        (80.0, 20.0, SpotDominated, 0.8, Medium), // exactly 0.8: not HIGH
        (81.0, 19.0, SpotDominated, 0.81, High),
        (35.0, 65.0, FuturesDominated, 0.65, Low),
        (20.0, 80.0, FuturesDominated, 0.8, Medium),
        (19.0, 81.0, FuturesDominated, 0.81, High),
        (-81.0, 19.0, SpotDominated, 0.81, High), // selling counts like buying
        (19.0, -81.0, FuturesDominated, 0.81, High),
    ];
    for (s, f, dom, strength, pot) in cases {
        let r = p1(&Bars::flat(40, 100.0).flow(-1, s, f), 1.0);
        assert_eq!(r.dominance, dom, "({s}, {f})");
        assert_near!(r.strength, strength);
        assert_eq!(r.potential, pot, "({s}, {f})");
    }
}

/// n = 40, so the squeeze lookback m = 20: momentum against close[−21], Δ20 of the CVDs and
/// the mean of div over the last 20 bars.
fn squeeze(last_close: f64) -> Bars {
    Bars::flat(40, 100.0).price(-1, last_close)
}

#[test]
fn phase1_long_squeeze_needs_momentum_above_one_percent_spot_over_perp_and_positive_div() {
    let r = p1(&squeeze(102.0).sf(-20, 10.0), 1.0);
    assert_eq!(r.environment, SqueezeEnv::LongSqueeze);
    assert_eq!(r.bias, Bias::Bullish);
    assert_near!(r.momentum, 0.02);
    assert_eq!(r.div_mean, 10.0);
    // Momentum exactly 0.01·k does not count; just above does; k scales it.
    assert_eq!(
        p1(&squeeze(101.0).sf(-20, 10.0), 1.0).environment,
        SqueezeEnv::Neutral
    );
    assert_eq!(
        p1(&squeeze(101.5).sf(-20, 10.0), 1.0).environment,
        SqueezeEnv::LongSqueeze
    );
    assert_eq!(
        p1(&squeeze(102.0).sf(-20, 10.0), 2.0).environment,
        SqueezeEnv::Neutral
    );
    assert_eq!(
        p1(&squeeze(102.5).sf(-20, 10.0), 2.0).environment,
        SqueezeEnv::LongSqueeze
    );
    // Δm spot = Δm perp (div stays positive from an earlier spot flow): NEUTRAL; spot ahead: LONG.
    let level = || squeeze(102.0).sf(0, 50.0);
    assert_eq!(p1(&level(), 1.0).environment, SqueezeEnv::Neutral);
    assert_eq!(
        p1(&level().sf(-20, 1.0), 1.0).environment,
        SqueezeEnv::LongSqueeze
    );
    // Spot ahead over m bars, but d̄ exactly 0 (an earlier perp flow), then just above 0.
    let r = p1(&squeeze(102.0).pf(0, 10.0).sf(-20, 10.0), 1.0);
    assert_eq!(r.div_mean, 0.0);
    assert_eq!(r.environment, SqueezeEnv::Neutral);
    let r = p1(&squeeze(102.0).pf(0, 9.5).sf(-20, 10.0), 1.0);
    assert_eq!(r.environment, SqueezeEnv::LongSqueeze);
    // A falling price never makes a long squeeze (signed momentum).
    assert_eq!(
        p1(&squeeze(98.0).sf(-20, 10.0), 1.0).environment,
        SqueezeEnv::Neutral
    );
}

#[test]
fn phase1_short_squeeze_mirrors_the_long_rule() {
    let r = p1(&squeeze(98.0).pf(-20, 10.0), 1.0);
    assert_eq!(r.environment, SqueezeEnv::ShortSqueeze);
    assert_eq!(r.bias, Bias::Bearish);
    assert_near!(r.momentum, -0.02);
    assert_eq!(r.div_mean, -10.0);
    assert_eq!(
        p1(&squeeze(99.0).pf(-20, 10.0), 1.0).environment,
        SqueezeEnv::Neutral
    );
    assert_eq!(
        p1(&squeeze(98.5).pf(-20, 10.0), 1.0).environment,
        SqueezeEnv::ShortSqueeze
    );
    assert_eq!(
        p1(&squeeze(98.0).pf(-20, 10.0), 2.0).environment,
        SqueezeEnv::Neutral
    );
    let level = || squeeze(98.0).pf(0, 50.0);
    assert_eq!(p1(&level(), 1.0).environment, SqueezeEnv::Neutral);
    assert_eq!(
        p1(&level().pf(-20, 1.0), 1.0).environment,
        SqueezeEnv::ShortSqueeze
    );
    // d̄ exactly 0.
    let r = p1(&squeeze(98.0).sf(0, 10.0).pf(-20, 10.0), 1.0);
    assert_eq!(r.environment, SqueezeEnv::Neutral);
    assert_eq!(
        p1(&squeeze(102.0).pf(-20, 10.0), 1.0).environment,
        SqueezeEnv::Neutral
    );
}

#[test]
fn phase1_squeeze_lookback_and_div_mean_window() {
    // m = clamp(⌊n/2⌋, 5, 50): the momentum base is close[−1−m].
    for (n, m) in [(12usize, 6isize), (40, 20), (200, 50)] {
        let b = Bars::flat(n, 100.0).price(-1, 102.0).price(-1 - m, 80.0);
        assert_near!(p1(&b, 1.0).momentum, 22.0 / 80.0);
    }
    // d̄ averages the last 20 bars: 10 bars at +20, 10 at −20 (bars −25…−21 at +20 excluded).
    let b = Bars::flat(40, 100.0).sf(-25, 20.0).pf(-10, 40.0);
    assert_eq!(p1(&b, 1.0).div_mean, 0.0);
    // Fewer than 20 bars: all of them (10 at 30, 5 at −30).
    let b = Bars::flat(15, 100.0).sf(0, 30.0).pf(-5, 60.0);
    assert_eq!(p1(&b, 1.0).div_mean, 10.0);
}

// ---------------------------------------------------------------------------------------------
// Phase 2: divergence

fn p2(b: &Bars, bias: Bias) -> Phase2 {
    phase2(&b.build().view(), &defaults(), 1.0, bias)
}

/// n = 40 with spot/perp flow on bar −5 (inside L2 = 10), so Δs = `s`, Δp = `p`.
fn pattern_of(s: f64, p: f64) -> Pattern {
    p2(&Bars::flat(40, 100.0).flow(-5, s, p), Bias::Neutral).pattern
}

#[test]
fn phase2_patterns_with_the_floor_and_the_leading_rules() {
    use Pattern::*;
    let cases = [
        (0.0, 0.0, Balanced),
        (F, -F, Balanced), // both exactly at the floor
        (F, F, Balanced),
        (F + 1.0, -F - 1.0, SpotUpFuturesDown),
        (F + 1.0, -F, Balanced), // perp only at the floor
        (F, -F - 1.0, Balanced), // spot only at the floor
        (-F - 1.0, F + 1.0, SpotDownFuturesUp),
        (-F - 1.0, F, Balanced),
        // Both up: 1.5× decides who leads.
        (3.0 * F, 2.0 * F, BothUpBalanced), // exactly 1.5×
        (3.0 * F + 1.0, 2.0 * F, SpotLeadingUp),
        (2.0 * F, 3.0 * F, BothUpBalanced),
        (2.0 * F, 3.0 * F + 1.0, FuturesLeadingUp),
        (F + 1.0, F, BothUpBalanced),
        (2.0 * F, 1.0, SpotLeadingUp), // one side above F is enough
        (2.0 * F, 0.0, Balanced),      // perp flat: not "both > 0"
        (2.0 * F, -F / 2.0, Balanced),
        // Both down, on |Δ|.
        (-3.0 * F, -2.0 * F, BothDownBalanced),
        (-3.0 * F - 1.0, -2.0 * F, SpotLeadingDown),
        (-2.0 * F, -3.0 * F, BothDownBalanced),
        (-2.0 * F, -3.0 * F - 1.0, FuturesLeadingDown),
        (-2.0 * F, -1.0, SpotLeadingDown),
        (-1.0, -2.0 * F, FuturesLeadingDown),
        (0.0, -2.0 * F, Balanced),
    ];
    for (s, p, want) in cases {
        assert_eq!(pattern_of(s, p), want, "Δs = {s}, Δp = {p}");
    }
}

#[test]
fn phase2_pattern_directions_and_true_divergences() {
    use Pattern::*;
    let table = [
        (Balanced, (0.0, 0.0), false),
        (SpotUpFuturesDown, (1.0, -1.0), true),
        (SpotDownFuturesUp, (-1.0, 1.0), true),
        (SpotLeadingUp, (1.0, 0.5), false),
        (FuturesLeadingUp, (0.5, 1.0), false),
        (BothUpBalanced, (1.0, 1.0), false),
        (SpotLeadingDown, (-1.0, -0.5), false),
        (FuturesLeadingDown, (-0.5, -1.0), false),
        (BothDownBalanced, (-1.0, -1.0), false),
    ];
    for (p, dirs, truly) in table {
        assert_eq!(p.directions(), dirs, "{p:?}");
        assert_eq!(p.is_true_divergence(), truly, "{p:?}");
    }
}

#[test]
fn phase2_changes_are_over_min_10_and_n_minus_1_bars() {
    let sufd = |n: usize, bar: isize| {
        p2(
            &Bars::flat(n, 100.0).flow(bar, 2.0 * F, -2.0 * F),
            Bias::Neutral,
        )
        .pattern
    };
    assert_eq!(sufd(40, -11), Pattern::Balanced);
    assert_eq!(sufd(40, -10), Pattern::SpotUpFuturesDown);
    // n = 5: L2 = 4, so bar −5 (the first) is the base.
    assert_eq!(sufd(5, -5), Pattern::Balanced);
    assert_eq!(sufd(5, -4), Pattern::SpotUpFuturesDown);
}

/// n = 40 (K = 20) with `div` ending in `d` (the 20 bars before the current one) then `c`.
fn significance(d: &[f64], c: f64) -> Phase2 {
    assert_eq!(d.len(), 20);
    let mut tail = d.to_vec();
    tail.push(c);
    p2(&Bars::flat(40, 100.0).spot_cvd_tail(&tail), Bias::Neutral)
}

#[test]
fn phase2_significance_by_one_and_a_half_times_the_mean() {
    // D: ten 0s and ten 20s: μ = 10, σ = 10, max 20 → only c ≥ 1.5μ can fire.
    let d: Vec<f64> = [0.0; 10].iter().chain(&[20.0; 10]).copied().collect();
    let r = significance(&d, 15.0);
    assert_eq!((r.div_mean, r.div_std), (10.0, 10.0));
    assert!(r.significant, "c = 1.5μ exactly (≥)");
    assert!(!significance(&d, 14.5).significant);
}

#[test]
fn phase2_significance_by_exceeding_the_largest_recent_div() {
    // D all 10: σ = 0 disables the deviation rule, 1.5μ = 15, 1.2·max = 12.
    let d = [10.0; 20];
    assert!(
        !significance(&d, 12.0).significant,
        "c = 1.2·max exactly (strict)"
    );
    assert!(significance(&d, 12.5).significant);
    assert!(significance(&d, -12.5).significant, "|div| is used");
}

#[test]
fn phase2_significance_by_deviation_from_the_mean() {
    // D alternating 9 and 11 (signs irrelevant): μ = 10, σ = 1, max 11 (1.2·max = 13.2).
    let d: Vec<f64> = (0..20)
        .map(|i| if i % 2 == 0 { -9.0 } else { 11.0 })
        .collect();
    let r = significance(&d, 11.0);
    assert_eq!((r.div_mean, r.div_std), (10.0, 1.0));
    assert!(!r.significant, "|c − μ| = σ exactly (strict)");
    assert!(significance(&d, 11.5).significant);
    assert!(!significance(&d, 9.0).significant);
    assert!(
        significance(&d, 8.5).significant,
        "below the mean counts too"
    );
}

#[test]
fn phase2_significance_floor_of_half_the_mean() {
    // The deviation rule holds (|c − μ| > σ) but c must be ≥ 0.5·μ = 5.
    let d: Vec<f64> = (0..20)
        .map(|i| if i % 2 == 0 { 9.0 } else { 11.0 })
        .collect();
    assert!(!significance(&d, 4.5).significant);
    assert!(significance(&d, 5.0).significant, "c = 0.5·μ exactly (≥)");
}

#[test]
fn phase2_significance_guards_for_zero_mean_and_too_few_bars() {
    // μ = 0: c = 0 would satisfy c ≥ 1.5μ but that rule needs μ > 0.
    let zeros = [0.0; 20];
    assert!(!significance(&zeros, 0.0).significant);
    assert!(significance(&zeros, 1.0).significant, "c > 1.2·max = 0");
    // K = n − 1 = 4 for n = 5; K = 0 for n = 1.
    let b = Bars::flat(5, 100.0).spot_cvd_tail(&[10.0, 10.0, 10.0, 10.0, 12.5]);
    let r = p2(&b, Bias::Neutral);
    assert_eq!(r.div_mean, 10.0);
    assert!(r.significant);
    assert!(!p2(&Bars::flat(1, 100.0).sf(-1, 100.0), Bias::Neutral).significant);
    // Bars before the K window do not enter μ.
    let mut tail = vec![1000.0];
    tail.extend([10.0; 20]);
    tail.push(12.5);
    let r = p2(&Bars::flat(40, 100.0).spot_cvd_tail(&tail), Bias::Neutral);
    assert_eq!(r.div_mean, 10.0);
    assert_eq!(r.current_div, 12.5);
}

#[test]
fn phase2_price_movement_bands() {
    use PriceMove::*;
    let mv = |last: f64, k: f64| {
        // The base is close[−11]; close[−12] must not matter.
        let b = Bars::flat(40, 100.0).price(-12, 50.0).price(-1, last);
        phase2(&b.build().view(), &defaults(), k, Bias::Neutral).price_move
    };
    assert_eq!(mv(101.0, 1.0), Stable, "exactly +0.01");
    assert_eq!(mv(101.5, 1.0), Rising);
    assert_eq!(mv(99.0, 1.0), Stable, "exactly −0.01");
    assert_eq!(mv(98.5, 1.0), Falling);
    assert_eq!(mv(101.5, 2.0), Stable);
    assert_eq!(mv(102.5, 2.0), Rising);
    assert_eq!(mv(97.5, 2.0), Falling);
}

/// Setup for the pattern given by (Δs, Δp) on bar −5, a price move (close[−1] 102 rising,
/// 100 stable, 98 falling) and a bias.
fn setup_of(s: f64, p: f64, last_close: f64, bias: Bias) -> Setup {
    let b = Bars::flat(40, 100.0).flow(-5, s, p).price(-1, last_close);
    p2(&b, bias).setup
}

#[test]
fn phase2_setup_rules_in_order_of_precedence() {
    use Bias::*;
    use Setup::*;
    const RISE: f64 = 102.0;
    const FLAT: f64 = 100.0;
    const FALL: f64 = 98.0;
    let sufd = (F + 1.0, -F - 1.0);
    let sdfu = (-F - 1.0, F + 1.0);
    let both_up = (2.0 * F, 2.0 * F);
    let fut_lead_up = (2.0 * F, 3.0 * F + 1.0);
    let both_down = (-2.0 * F, -2.0 * F);
    let spot_lead_down = (-3.0 * F - 1.0, -2.0 * F);
    let spot_lead_up = (3.0 * F + 1.0, 2.0 * F);
    let fut_lead_down = (-2.0 * F, -3.0 * F - 1.0);
    let balanced = (0.0, 0.0);
    let cases = [
        // (1) true divergences, whatever the bias.
        (sufd, RISE, Bearish, LongSetup),
        (sufd, FLAT, Neutral, LongSetup),
        (sufd, FALL, Bearish, ShortSetup), // (3)
        (sufd, FALL, Neutral, NoSetup),
        (sufd, FALL, Bullish, NoSetup),
        (sdfu, FALL, Bullish, ShortSetup),
        (sdfu, FLAT, Neutral, ShortSetup),
        (sdfu, RISE, Neutral, NoSetup),
        (sdfu, RISE, Bullish, LongSetup), // (3)
        // (2) spot direction, price and bias not against it.
        (both_up, FLAT, Neutral, LongSetup),
        (both_up, RISE, Bullish, LongSetup),
        (both_up, FLAT, Bearish, ShortSetup), // (2) blocked by bias, (3)
        (both_up, RISE, Bearish, NoSetup),
        (fut_lead_up, RISE, Neutral, LongSetup), // spot direction 0.5 > 0
        (fut_lead_up, FALL, Neutral, NoSetup),
        (both_down, FLAT, Neutral, ShortSetup),
        (both_down, FLAT, Bullish, LongSetup), // (3)
        (spot_lead_down, RISE, Neutral, NoSetup),
        // (3) bias alone.
        (balanced, FLAT, Bullish, LongSetup),
        (balanced, RISE, Bullish, LongSetup),
        (balanced, FALL, Bullish, NoSetup),
        (balanced, FLAT, Bearish, ShortSetup),
        (balanced, FALL, Bearish, ShortSetup),
        (balanced, RISE, Bearish, NoSetup),
        // (4) SPOT_LEADING_UP / FUTURES_LEADING_DOWN after everything else.
        (spot_lead_up, FALL, Neutral, LongSetup),
        (spot_lead_up, FALL, Bullish, LongSetup),
        (spot_lead_up, FALL, Bearish, ShortSetup), // (3) first
        (spot_lead_up, FLAT, Bearish, ShortSetup), // (3) first
        (spot_lead_up, RISE, Bearish, LongSetup),
        (fut_lead_down, RISE, Neutral, ShortSetup),
        (fut_lead_down, RISE, Bullish, LongSetup), // (3) first
        (fut_lead_down, FLAT, Neutral, ShortSetup), // (2)
        // (5)
        (balanced, FLAT, Neutral, NoSetup),
        (balanced, RISE, Neutral, NoSetup),
    ];
    for ((s, p), close, bias, want) in cases {
        assert_eq!(
            setup_of(s, p, close, bias),
            want,
            "Δs = {s}, Δp = {p}, close {close}, {bias:?}"
        );
    }
    assert_eq!(LongSetup.direction(), 1);
    assert_eq!(ShortSetup.direction(), -1);
    assert_eq!(NoSetup.direction(), 0);
}

#[test]
fn phase2_has_divergence_needs_significance_a_true_divergence_and_a_setup() {
    // Flow on the current bar after a quiet window: |div| jumps, so it is significant.
    let long = p2(
        &Bars::flat(40, 100.0).flow(-1, 2.0 * F, -2.0 * F),
        Bias::Neutral,
    );
    assert!(long.significant);
    assert_eq!(long.setup, Setup::LongSetup);
    assert!(long.has_divergence);
    let short = p2(
        &Bars::flat(40, 100.0).flow(-1, -2.0 * F, 2.0 * F),
        Bias::Neutral,
    );
    assert_eq!(short.setup, Setup::ShortSetup);
    assert!(short.has_divergence);
    // The same divergence when |div| has sat at 1.2·F for 20 bars: not significant.
    let quiet = Bars::flat(40, 100.0)
        .pf(0, 1.2 * F)
        .flow(-10, 1.2 * F, -1.2 * F);
    let r = p2(&quiet, Bias::Neutral);
    assert_eq!(r.pattern, Pattern::SpotUpFuturesDown);
    assert_eq!(r.setup, Setup::LongSetup);
    assert!(!r.significant);
    assert!(!r.has_divergence);
    // Significant and set up, but not a true divergence.
    let lead = p2(
        &Bars::flat(40, 100.0).flow(-1, 3.0 * F + 1.0, 2.0 * F),
        Bias::Neutral,
    );
    assert!(lead.significant);
    assert_eq!(lead.setup, Setup::LongSetup);
    assert!(!lead.has_divergence);
    // Significant true divergence without a setup (price falling, bias neutral).
    let b = Bars::flat(40, 100.0)
        .flow(-1, 2.0 * F, -2.0 * F)
        .price(-1, 98.0);
    let r = p2(&b, Bias::Neutral);
    assert!(r.significant);
    assert_eq!(r.setup, Setup::NoSetup);
    assert!(!r.has_divergence);
}

#[test]
fn phase2_open_interest_gate() {
    let sufd = || Bars::flat(40, 100.0).flow(-1, 2.0 * F, -2.0 * F);
    let gate = |b: Bars| phase2(&b.build().view(), &with_oi(), 1.0, Bias::Neutral);
    // No OI data: not significant.
    let r = gate(sufd());
    assert!(r.oi_change.is_nan());
    assert!(!r.significant);
    assert!(!r.has_divergence);
    // +5 % exactly over K = 20 bars passes (≥), just under fails.
    let oi = |last: f64| sufd().every(|b| b.oi = 100.0).at(-1, |b| b.oi = last);
    let r = gate(oi(105.0));
    assert_eq!(r.oi_change, 0.05);
    assert!(r.significant);
    assert!(r.has_divergence);
    let r = gate(oi(104.99));
    assert!(!r.significant);
    assert!(!r.has_divergence);
    // The base is bar −21: a lower reading on bar −22 does not help.
    let r = gate(
        sufd()
            .every(|b| b.oi = 110.0)
            .at(-22, |b| b.oi = 50.0)
            .at(-1, |b| b.oi = 105.0),
    );
    assert!(r.oi_change < 0.0);
    assert!(!r.has_divergence);
    // Gate off: OI ignored.
    let r = p2(&oi(50.0), Bias::Neutral);
    assert!(r.oi_change.is_nan());
    assert!(r.has_divergence);
}

// ---------------------------------------------------------------------------------------------
// Phase 3: reset

fn p3(b: &Bars, k3: f64) -> Phase3 {
    phase3(&b.build().view(), &defaults(), k3)
}

/// `n` flat bars whose |div| ends with nine values of `first` then `last` (w = 10 for n ≥ 20).
fn converging(n: usize, first: f64, last: f64) -> Bars {
    let mut tail = vec![first; 9];
    tail.push(last);
    Bars::flat(n, 100.0).spot_cvd_tail(&tail)
}

#[test]
fn phase3_convergence_threshold_and_k3() {
    let r = p3(&converging(40, 100.0, 80.0), 1.0);
    assert_eq!(r.convergence_strength, 0.2);
    assert!(r.convergence_rate > 0.0);
    assert!(!r.converging, "raw = 0.2·k3 exactly (strict)");
    let r = p3(&converging(40, 100.0, 79.0), 1.0);
    assert!(r.converging);
    assert_eq!(r.reset_type, ResetType::TypeA);
    assert!(!p3(&converging(40, 100.0, 79.0), 2.0).converging);
    assert!(p3(&converging(40, 100.0, 59.0), 2.0).converging);
    // |div| is used: a negative div shrinking towards 0 converges.
    assert!(p3(&converging(40, -100.0, -79.0), 1.0).converging);
}

#[test]
fn phase3_convergence_needs_a_falling_slope_and_a_nonzero_start() {
    // raw = 0.5 but the least-squares slope rises: rate < 0.
    let tail = [100.0, 0.0, 0.0, 0.0, 0.0, 200.0, 200.0, 200.0, 200.0, 50.0];
    let r = p3(&Bars::flat(40, 100.0).spot_cvd_tail(&tail), 1.0);
    assert!(r.convergence_rate < 0.0);
    assert_eq!(r.convergence_strength, 0.5);
    assert!(!r.converging);
    // Widening: strength floored at 0.
    let r = p3(&converging(40, 100.0, 150.0), 1.0);
    assert_eq!(r.convergence_strength, 0.0);
    assert!(!r.converging);
    // |div[−w]| = 0: raw = 0.
    let tail = [0.0, 90.0, 90.0, 90.0, 90.0, 90.0, 90.0, 90.0, 90.0, 10.0];
    let r = p3(&Bars::flat(40, 100.0).spot_cvd_tail(&tail), 1.0);
    assert_eq!(r.convergence_strength, 0.0);
    assert!(!r.converging);
}

#[test]
fn phase3_convergence_window_is_half_the_window_clamped_to_3_and_10() {
    // n = 40: w = 10, so bar −11 does not matter.
    let mut tail = vec![1000.0];
    tail.extend([100.0; 9]);
    tail.push(79.0);
    let r = p3(&Bars::flat(40, 100.0).spot_cvd_tail(&tail), 1.0);
    assert_near!(r.convergence_strength, 0.21);
    // n = 8: w = 4.
    let b = Bars::flat(8, 100.0).spot_cvd_tail(&[1000.0, 100.0, 100.0, 100.0, 79.0]);
    assert_near!(p3(&b, 1.0).convergence_strength, 0.21);
    // n = 4: w = 3 (clamped up from 2): the start is div[−3] = 200.
    let b = Bars::flat(4, 100.0).spot_cvd_tail(&[1000.0, 200.0, 100.0, 79.0]);
    assert_near!(p3(&b, 1.0).convergence_strength, 121.0 / 200.0);
    // n = 2: no convergence at all.
    let r = p3(&Bars::flat(2, 100.0).spot_cvd_tail(&[100.0, 1.0]), 1.0);
    assert!(!r.converging);
    assert_eq!(r.convergence_strength, 0.0);
}

#[test]
fn phase3_deceleration_is_a_majority_of_the_available_periods() {
    // Periods 5, 10, 15 compare with 1, 3, 5. Closes 100 except the named bars.
    let closes = |n: usize, set: &[(isize, f64)]| {
        set.iter()
            .fold(Bars::flat(n, 100.0), |b, &(bar, c)| b.price(bar, c))
    };
    // Period 5 (base close[−6]) and period 10 (close[−11]) decelerate: 2 of 3.
    let r = p3(&closes(40, &[(-6, 90.0), (-11, 90.0)]), 1.0);
    assert!(r.decelerating);
    assert!(r.exhausted);
    // Only period 5: 1 of 3.
    let r = p3(&closes(40, &[(-6, 90.0)]), 1.0);
    assert!(!r.decelerating);
    assert!(!r.exhausted);
    // The 1.2 threshold on period 5: |mom(5)| = 0.3 = 1.2·|mom(1)| (0.25) does not count;
    // period 10 decelerates, period 15 does not.
    let base = [(-1, 130.0), (-2, 104.0), (-11, 50.0)];
    let mut at = base.to_vec();
    at.push((-6, 100.0));
    assert!(!p3(&closes(40, &at), 1.0).decelerating);
    let mut beyond = base.to_vec();
    beyond.push((-6, 99.0));
    assert!(p3(&closes(40, &beyond), 1.0).decelerating);
    // n = 12: periods 5 and 10 available; 1 of 2 is not a majority, 2 of 2 is.
    assert!(!p3(&closes(12, &[(-6, 90.0)]), 1.0).decelerating);
    assert!(p3(&closes(12, &[(-6, 90.0), (-11, 90.0)]), 1.0).decelerating);
    // n = 6: period 5 alone, 1 of 1. n = 5: none available.
    assert!(p3(&closes(6, &[(-6, 90.0)]), 1.0).decelerating);
    assert!(!p3(&closes(5, &[(-5, 90.0)]), 1.0).decelerating);
}

/// n bars: the first n − 20 span 95…105 (reference range 10), the last 20 flat at 100.
fn stagnation(n: usize) -> Bars {
    Bars::flat(n, 100.0).set(0..=(n as isize - 21), |b| {
        b.high = 105.0;
        b.low = 95.0;
    })
}

#[test]
fn phase3_stagnation_threshold_and_window() {
    let r = p3(&stagnation(40), 1.0);
    assert!(r.stagnant);
    assert!(r.exhausted);
    assert!(!r.decelerating);
    // Recent range exactly half the reference: not stagnant; just under: stagnant.
    let at = stagnation(40)
        .at(-1, |b| b.high = 102.5)
        .at(-2, |b| b.low = 97.5);
    assert!(!p3(&at, 1.0).stagnant);
    let under = stagnation(40)
        .at(-1, |b| b.high = 102.4)
        .at(-2, |b| b.low = 97.5);
    assert!(p3(&under, 1.0).stagnant);
    // Bar −20 is among the recent 20.
    assert!(!p3(&stagnation(40).at(-20, |b| b.high = 110.0), 1.0).stagnant);
    // n > 20 only: 21 bars (one reference bar) yes, 20 bars no.
    assert!(p3(&stagnation(21), 1.0).stagnant);
    let twenty = Bars::flat(20, 100.0).at(0, |b| {
        b.high = 105.0;
        b.low = 95.0;
    });
    assert!(!p3(&twenty, 1.0).stagnant);
    // Reference 0: never stagnant.
    assert!(!p3(&Bars::flat(40, 100.0), 1.0).stagnant);
}

#[test]
fn phase3_type_a_by_exhaustion_with_strength() {
    // Stagnant (exhausted, not decelerating) with |div| easing 1000 → 979 (strength 0.021,
    // not converging).
    let stag = |last: f64| {
        let mut tail = vec![1000.0; 9];
        tail.push(last);
        stagnation(40).spot_cvd_tail(&tail)
    };
    let r = p3(&stag(979.0), 1.0);
    assert!(r.stagnant && !r.converging && !r.decelerating);
    assert_eq!(r.reset_type, ResetType::TypeA);
    assert!(r.reset_detected);
    let r = p3(&stag(980.0), 1.0);
    assert_eq!(r.convergence_strength, 0.02);
    assert_eq!(
        r.reset_type,
        ResetType::None,
        "strength 0.02 exactly (strict)"
    );
    assert!(!r.reset_detected);
    // Stagnant with a widening |div| (rate < 0): the rate rule needs deceleration.
    assert_eq!(p3(&stag(1500.0), 1.0).reset_type, ResetType::None);
}

#[test]
fn phase3_type_a_by_deceleration_with_a_widening_div() {
    // Small decelerating moves (mean momentum far below 0.02, so no type B).
    let decel = || Bars::flat(40, 100.0).price(-6, 99.9).price(-11, 99.9);
    let flat = p3(&decel(), 1.0);
    assert!(flat.decelerating);
    assert_eq!(flat.convergence_rate, 0.0);
    assert_eq!(flat.reset_type, ResetType::None);
    let mut tail = vec![100.0; 9];
    tail.push(150.0);
    let r = p3(&decel().spot_cvd_tail(&tail), 1.0);
    assert!(r.convergence_rate < 0.0);
    assert_eq!(r.reset_type, ResetType::TypeA);
    // Decelerating counts as exhausted for the strength rule too.
    let mut tail = vec![1000.0; 9];
    tail.push(979.0);
    let r = p3(&decel().spot_cvd_tail(&tail), 1.0);
    assert!(r.convergence_rate > 0.0 && !r.converging);
    assert_eq!(r.reset_type, ResetType::TypeA);
}

#[test]
fn phase3_type_b_explosive_momentum() {
    // n = 10: only period 5 is available, M = |mom(5)|.
    let r = p3(&Bars::flat(10, 100.0).price(-1, 102.0), 1.0);
    assert_near!(r.explosive_momentum, 0.02);
    assert_eq!(r.reset_type, ResetType::None, "M = 0.02 exactly (strict)");
    let r = p3(&Bars::flat(10, 100.0).price(-1, 102.1), 1.0);
    assert_eq!(r.reset_type, ResetType::TypeB);
    assert!(r.reset_detected);
    let r = p3(&Bars::flat(10, 100.0).price(-1, 97.9), 1.0);
    assert_eq!(r.reset_type, ResetType::TypeB, "falls count (|mom|)");
    // M averages the available periods 5, 15, 30.
    let b = |n| Bars::flat(n, 100.0).price(-6, 50.0);
    assert_near!(p3(&b(40), 1.0).explosive_momentum, 1.0 / 3.0);
    assert_near!(p3(&b(31), 1.0).explosive_momentum, 1.0 / 3.0);
    assert_near!(p3(&b(30), 1.0).explosive_momentum, 1.0 / 2.0);
    // Both types at once.
    let both = Bars::flat(10, 100.0)
        .price(-1, 102.1)
        .spot_cvd_tail(&[100.0, 100.0, 100.0, 100.0, 79.0]);
    let r = p3(&both, 1.0);
    assert!(r.converging);
    assert_eq!(r.reset_type, ResetType::Both);
}

// ---------------------------------------------------------------------------------------------
// Phase 4: scoring (phases 1–3 given as records so each component stands alone)

fn context(bias: Bias) -> Phase1 {
    Phase1 {
        warm_up: false,
        dominance: Dominance::Balanced,
        strength: 0.5,
        spot_share: 0.5,
        potential: Potential::Low,
        environment: match bias {
            Bias::Bullish => SqueezeEnv::LongSqueeze,
            Bias::Bearish => SqueezeEnv::ShortSqueeze,
            Bias::Neutral => SqueezeEnv::Neutral,
        },
        momentum: 0.0,
        div_mean: 0.0,
        bias,
    }
}

fn divergence(setup: Setup) -> Phase2 {
    Phase2 {
        spot_change: 0.0,
        perp_change: 0.0,
        pattern: if setup == Setup::ShortSetup {
            Pattern::SpotDownFuturesUp
        } else {
            Pattern::SpotUpFuturesDown
        },
        current_div: 0.0,
        div_mean: 0.0,
        div_std: 0.0,
        significant: true,
        price_change: 0.0,
        price_move: PriceMove::Stable,
        setup,
        oi_change: f64::NAN,
        has_divergence: true,
    }
}

fn reset(strength: f64, exhausted: bool, detected: bool) -> Phase3 {
    Phase3 {
        converging: false,
        convergence_rate: 0.0,
        convergence_strength: strength,
        decelerating: false,
        stagnant: exhausted,
        exhausted,
        explosive_momentum: 0.0,
        reset_type: if detected {
            ResetType::TypeA
        } else {
            ResetType::None
        },
        reset_detected: detected,
    }
}

fn score(b: &Bars, p: &Params, bias: Bias, setup: Setup, ph3: &Phase3) -> Phase4 {
    phase4(
        &b.build().view(),
        p,
        &context(bias),
        &divergence(setup),
        ph3,
    )
}

fn long(b: &Bars) -> Phase4 {
    score(
        b,
        &defaults(),
        Bias::Neutral,
        Setup::LongSetup,
        &reset(0.0, false, false),
    )
}

fn short(b: &Bars) -> Phase4 {
    score(
        b,
        &defaults(),
        Bias::Neutral,
        Setup::ShortSetup,
        &reset(0.0, false, false),
    )
}

#[test]
fn phase4_scores_nothing_without_a_divergence() {
    let mut ph2 = divergence(Setup::LongSetup);
    ph2.has_divergence = false;
    let b = max_long().build();
    let r = phase4(
        &b.view(),
        &defaults(),
        &context(Bias::Bullish),
        &ph2,
        &reset(0.5, true, true),
    );
    assert_eq!(r, Phase4::NONE);
    assert_eq!((r.score, r.direction, r.tier), (0.0, 0, Tier::Insufficient));
}

#[test]
fn phase4_cvd_reset_strength_bands() {
    let with = |strength: f64| {
        let ph3 = reset(strength, false, false);
        score(
            &Bars::flat(40, 100.0),
            &defaults(),
            Bias::Neutral,
            Setup::LongSetup,
            &ph3,
        )
        .cvd_reset
    };
    assert_near!(with(0.31), 3.5 * 0.8);
    assert_near!(with(0.3), 3.5 * 0.5);
    assert_near!(with(0.11), 3.5 * 0.5);
    assert_near!(with(0.1), 3.5 * 0.3);
    assert_near!(with(0.011), 3.5 * 0.3);
    assert_eq!(with(0.01), 0.0);
    assert_eq!(with(0.0), 0.0);
}

#[test]
fn phase4_cvd_reset_balanced_recent_flows() {
    // Strength 0: 20 % when |a − b| < 0.5·max(a, b) over the last 4 bars' mean flows.
    let recent = |n: usize, s: f64, p: f64| {
        Bars::flat(n, 100.0).set(-4..=-1, move |b| {
            b.sf = s;
            b.pf = p;
        })
    };
    assert_near!(long(&recent(40, 100.0, 60.0)).cvd_reset, 0.7);
    assert_near!(long(&recent(40, 100.0, -60.0)).cvd_reset, 0.7);
    assert_eq!(
        long(&recent(40, 100.0, 50.0)).cvd_reset,
        0.0,
        "|a − b| = 0.5·max exactly"
    );
    assert_near!(long(&recent(10, 100.0, 60.0)).cvd_reset, 0.7);
    assert_eq!(long(&recent(9, 100.0, 60.0)).cvd_reset, 0.0, "needs n ≥ 10");
    // Only when strength ≤ 0.01.
    let ph3 = reset(0.011, false, false);
    let r = score(
        &recent(40, 100.0, 60.0),
        &defaults(),
        Bias::Neutral,
        Setup::LongSetup,
        &ph3,
    );
    assert_near!(r.cvd_reset, 3.5 * 0.3);
}

#[test]
fn phase4_cvd_reset_spot_flow_fading_from_earlier_bars() {
    // e = |mean sf over bars −19…−11|, r = |mean sf over the last 4|; no perp flow.
    let fading = |n: usize, early: f64, recent: f64| {
        Bars::flat(n, 100.0)
            .set(-19..=-11, move |b| b.sf = early)
            .set(-4..=-1, move |b| b.sf = recent)
    };
    assert_near!(long(&fading(40, 2e4, 1.3e4)).cvd_reset, 3.5 * 0.4);
    assert_near!(
        long(&fading(40, 2e4, 1.4e4)).cvd_reset,
        3.5 * 0.25,
        "r = 0.7·e exactly"
    );
    assert_near!(long(&fading(40, 2e4, 1.5e4)).cvd_reset, 3.5 * 0.25);
    assert_eq!(
        long(&fading(40, 2e4, 1.6e4)).cvd_reset,
        0.0,
        "r = 0.8·e exactly"
    );
    assert_near!(long(&fading(40, -2e4, -1.3e4)).cvd_reset, 3.5 * 0.4);
    // e exactly G: not the 40 % rule, but above G/2.
    assert_near!(long(&fading(40, G, 0.0)).cvd_reset, 3.5 * 0.25);
    assert_near!(long(&fading(40, G + 9.0, 0.0)).cvd_reset, 3.5 * 0.4);
    assert_eq!(
        long(&fading(40, G / 2.0, 0.0)).cvd_reset,
        0.0,
        "e = G/2 exactly"
    );
    assert_near!(long(&fading(40, G / 2.0 + 9.0, 0.0)).cvd_reset, 3.5 * 0.25);
    // Bars −20 and −10 are outside the early window.
    let b = fading(40, 2e4, 1.3e4).sf(-20, 1e9).sf(-10, 1e9);
    assert_near!(long(&b).cvd_reset, 3.5 * 0.4);
    // Needs n ≥ 20.
    assert_near!(long(&fading(20, 2e4, 1.3e4)).cvd_reset, 3.5 * 0.4);
    assert_eq!(long(&fading(19, 2e4, 1.3e4)).cvd_reset, 0.0);
}

#[test]
fn phase4_cvd_reset_exhaustion_bonus_and_cap() {
    let flat = Bars::flat(40, 100.0);
    let r = score(
        &flat,
        &defaults(),
        Bias::Neutral,
        Setup::LongSetup,
        &reset(0.0, true, false),
    );
    assert_near!(r.cvd_reset, 0.7);
    // 80 % + 40 % + 20 % = 140 % → capped at 3.5.
    let b = flat
        .set(-19..=-11, |b| b.sf = 2e4)
        .set(-4..=-1, |b| b.sf = 1e4);
    let r = score(
        &b,
        &defaults(),
        Bias::Neutral,
        Setup::LongSetup,
        &reset(0.31, true, false),
    );
    assert_eq!(r.cvd_reset, 3.5);
}

#[test]
fn phase4_absorption_per_bar_rules_for_a_long() {
    let bar = |o, h, l, c| long(&Bars::flat(40, 1000.0).ohlc(-1, o, h, l, c)).absorption;
    assert_eq!(long(&Bars::flat(40, 1000.0)).absorption, 0.0);
    // Up close, close at mid-range: 15 %.
    assert_near!(bar(1000.0, 1010.0, 1000.0, 1005.0), 2.5 * 0.15);
    // Close high in the range without an up close: 20 %; 0.6 of the range is not enough.
    assert_near!(bar(1006.1, 1010.0, 1000.0, 1006.1), 2.5 * 0.2);
    assert_eq!(bar(1006.0, 1010.0, 1000.0, 1006.0), 0.0);
    // Both.
    assert_near!(bar(1000.0, 1010.0, 1000.0, 1010.0), 2.5 * 0.35);
    // A down bar scores nothing for a long.
    assert_eq!(bar(1010.0, 1010.0, 1000.0, 1001.0), 0.0);
    // Only the last 5 bars count.
    let b = Bars::flat(40, 1000.0).ohlc(-6, 1000.0, 1010.0, 1000.0, 1010.0);
    assert_eq!(long(&b).absorption, 0.0);
    let b = Bars::flat(40, 1000.0).ohlc(-5, 1000.0, 1010.0, 1000.0, 1010.0);
    assert_near!(long(&b).absorption, 2.5 * 0.35);
    // n < 5: nothing.
    let b = Bars::flat(4, 1000.0).ohlc(-1, 1000.0, 1010.0, 1000.0, 1010.0);
    assert_eq!(long(&b).absorption, 0.0);
    // (The "close above the 5-bar minimum low" condition is implied by the range rule
    // whenever high ≥ low, so no series can separate it.)
}

#[test]
fn phase4_absorption_is_mirrored_for_a_short() {
    let bar = |o, h, l, c| short(&Bars::flat(40, 1000.0).ohlc(-1, o, h, l, c)).absorption;
    assert_near!(bar(1010.0, 1010.0, 1000.0, 1005.0), 2.5 * 0.15);
    assert_near!(bar(1003.9, 1010.0, 1000.0, 1003.9), 2.5 * 0.2);
    assert_eq!(bar(1004.0, 1010.0, 1000.0, 1004.0), 0.0);
    assert_near!(bar(1010.0, 1010.0, 1000.0, 1000.0), 2.5 * 0.35);
    // The long's best bar is worth nothing to a short.
    assert_eq!(bar(1000.0, 1010.0, 1000.0, 1010.0), 0.0);
}

#[test]
fn phase4_absorption_volume_surge_and_cap() {
    // Volume 5, last five bars v: 1.5 × mean(last 20) = 1.5·(75 + 5v)/20 equals v at v = 9.
    let surge = |n: usize, v: f64| {
        Bars::flat(n, 1000.0)
            .every(|b| b.volume = 5.0)
            .set(-5..=-1, move |b| b.volume = v)
    };
    assert_eq!(long(&surge(40, 9.0)).absorption, 0.0, "exactly 1.5×");
    assert_near!(long(&surge(40, 10.0)).absorption, 2.5 * 0.15);
    assert_eq!(long(&surge(19, 10.0)).absorption, 0.0, "needs n ≥ 20");
    // Two strong bars: 70 % (1.75); three: 105 % → capped at 2.5.
    let strong = |b: Bars, bars: RangeInclusive<isize>| {
        b.set(bars, |b| {
            b.open = 1000.0;
            b.high = 1010.0;
            b.low = 1000.0;
            b.close = 1010.0;
        })
    };
    assert_near!(
        long(&strong(Bars::flat(40, 1000.0), -2..=-1)).absorption,
        1.75
    );
    assert_eq!(
        long(&strong(Bars::flat(40, 1000.0), -3..=-1)).absorption,
        2.5
    );
    assert_eq!(long(&strong(surge(40, 10.0), -5..=-1)).absorption, 2.5);
}

/// n bars at 100 whose range bars −10…−6 span 99…101; the tested bars −5…−1 are flat at 100.
fn breakdown(n: usize) -> Bars {
    Bars::flat(n, 100.0).set(-10..=-6, |b| {
        b.high = 101.0;
        b.low = 99.0;
    })
}

/// A tested bar that dips below the range low (99) and closes back above it.
fn dip(b: Bars, bar: isize) -> Bars {
    b.ohlc(bar, 100.0, 100.0, 98.0, 99.5)
}

#[test]
fn phase4_failed_breakdown_counts_for_a_long() {
    assert_eq!(long(&breakdown(40)).failed_breakdown, 0.0);
    assert_near!(long(&dip(breakdown(40), -1)).failed_breakdown, 2.0 * 0.2);
    assert_near!(
        long(&dip(dip(breakdown(40), -1), -3)).failed_breakdown,
        2.0 * 0.4
    );
    let three = dip(dip(dip(breakdown(40), -1), -3), -5);
    assert_near!(long(&three).failed_breakdown, 2.0 * 0.6);
    let five = dip(dip(three, -2), -4);
    assert_near!(long(&five).failed_breakdown, 2.0 * 0.6);
    // Closing exactly at the range low, or dipping only to it, is not a failed breakdown.
    let b = breakdown(40).ohlc(-1, 100.0, 100.0, 98.0, 99.0);
    assert_eq!(long(&b).failed_breakdown, 0.0);
    let b = breakdown(40).ohlc(-1, 100.0, 100.0, 99.0, 100.0);
    assert_eq!(long(&b).failed_breakdown, 0.0);
    // The range is bars −10…−6 only: a deeper low on bar −11 does not move it.
    let b = dip(breakdown(40).at(-11, |b| b.low = 50.0), -1);
    assert_near!(long(&b).failed_breakdown, 2.0 * 0.2);
    // n < 10: nothing.
    assert_eq!(long(&dip(breakdown(10), -1)).failed_breakdown, 0.4);
    let b = dip(Bars::flat(9, 100.0).set(-9..=-6, |b| b.low = 99.0), -1);
    assert_eq!(long(&b).failed_breakdown, 0.0);
}

#[test]
fn phase4_failed_breakdown_is_mirrored_for_a_short() {
    let b = breakdown(40).ohlc(-1, 100.0, 102.0, 100.0, 100.5);
    assert_near!(short(&b).failed_breakdown, 2.0 * 0.2);
    let b = breakdown(40).ohlc(-1, 100.0, 102.0, 100.0, 101.0);
    assert_eq!(short(&b).failed_breakdown, 0.0, "close at the range high");
    assert_eq!(short(&dip(breakdown(40), -1)).failed_breakdown, 0.0);
}

#[test]
fn phase4_failed_breakdown_spot_cvd_calming_and_zero_range() {
    // sstd(spot_cvd −5…−1) vs 0.7 · sstd(spot_cvd −10…−6) = 0.7 · 5 = 3.5.
    let calm = |recent: [f64; 5]| {
        let mut tail = vec![0.0, 0.0, 5.0, 10.0, 10.0];
        tail.extend(recent);
        breakdown(40).spot_cvd_tail(&tail)
    };
    assert_near!(
        long(&calm([0.0, 0.0, 3.0, 6.0, 6.0])).failed_breakdown,
        2.0 * 0.4
    );
    assert_eq!(
        long(&calm([0.0, 0.0, 3.5, 7.0, 7.0])).failed_breakdown,
        0.0,
        "exactly 0.7×"
    );
    assert_eq!(
        long(&breakdown(40)).failed_breakdown,
        0.0,
        "flat CVD: earlier sstd 0"
    );
    let full = dip(dip(dip(calm([0.0; 5]), -1), -2), -3);
    assert_eq!(long(&full).failed_breakdown, 2.0);
    // A zero range (bars −10…−6 flat) scores nothing at all.
    let mut tail = vec![0.0, 0.0, 5.0, 10.0, 10.0];
    tail.extend([0.0; 5]);
    let b = dip(Bars::flat(40, 100.0).spot_cvd_tail(&tail), -1);
    assert_eq!(long(&b).failed_breakdown, 0.0);
}

#[test]
fn phase4_directional_flow_rules() {
    // Bias BEARISH against a long adds nothing, so the flow rules stand alone.
    let dir = |s: f64, p: f64| {
        let b = Bars::flat(40, 1e4).sf(-5, 1e9).set(-4..=-1, move |b| {
            b.sf = s;
            b.pf = p;
        });
        score(
            &b,
            &defaults(),
            Bias::Bearish,
            Setup::LongSetup,
            &reset(0.0, false, false),
        )
        .directional
    };
    assert_near!(dir(G + 1.0, G + 1.0), 2.0 * 0.5);
    assert_near!(dir(G, G), 2.0 * 0.3, "|sp| = G exactly: the 30 % rule");
    assert_near!(dir(G + 1.0, 0.0), 2.0 * 0.3, "perp flat");
    assert_near!(dir(G + 1.0, -1.0), 2.0 * 0.3, "perp against");
    assert_near!(dir(G / 2.0 + 1.0, 0.0), 2.0 * 0.3);
    assert_eq!(dir(G / 2.0, G), 0.0, "|sp| = G/2 exactly");
    assert_eq!(dir(-G - 1.0, -G - 1.0), 0.0, "flow against a long");
}

#[test]
fn phase4_directional_price_rules() {
    // pr = (close[−1] − close[−5]) / close[−5] with close[−5] = 10 000.
    let dir = |last: f64| {
        let b = Bars::flat(40, 1e4).price(-6, 5e3).price(-1, last);
        score(
            &b,
            &defaults(),
            Bias::Bearish,
            Setup::LongSetup,
            &reset(0.0, false, false),
        )
        .directional
    };
    assert_near!(dir(10_001.5), 2.0 * 0.4);
    assert_near!(dir(10_001.0), 2.0 * 0.2, "pr = 1e-4 exactly: the 20 % rule");
    assert_near!(dir(10_000.6), 2.0 * 0.2);
    assert_eq!(dir(10_000.5), 0.0, "pr = 5e-5 exactly");
    assert_eq!(dir(9_998.5), 0.0, "price against a long");
}

#[test]
fn phase4_directional_bias_agreement_mirrored_and_capped() {
    let flat = Bars::flat(40, 1e4);
    let with =
        |bias, setup| score(&flat, &defaults(), bias, setup, &reset(0.0, false, false)).directional;
    assert_near!(with(Bias::Bullish, Setup::LongSetup), 0.4);
    assert_near!(with(Bias::Neutral, Setup::LongSetup), 0.2);
    assert_eq!(with(Bias::Bearish, Setup::LongSetup), 0.0);
    assert_near!(with(Bias::Bearish, Setup::ShortSetup), 0.4);
    assert_near!(with(Bias::Neutral, Setup::ShortSetup), 0.2);
    assert_eq!(with(Bias::Bullish, Setup::ShortSetup), 0.0);
    // Everything for a short: 50 + 40 + 20 = 110 % → capped at 2.0.
    let b = Bars::flat(40, 1e4)
        .set(-4..=-1, |b| {
            b.sf = -G - 1.0;
            b.pf = -G - 1.0;
        })
        .price(-1, 9_998.5);
    let r = score(
        &b,
        &defaults(),
        Bias::Bearish,
        Setup::ShortSetup,
        &reset(0.0, false, false),
    );
    assert_eq!(r.directional, 2.0);
    // The same series for a long: nothing.
    let r = score(
        &b,
        &defaults(),
        Bias::Bearish,
        Setup::LongSetup,
        &reset(0.0, false, false),
    );
    assert_eq!(r.directional, 0.0);
    // n < 5: nothing.
    let r = score(
        &Bars::flat(4, 1e4),
        &defaults(),
        Bias::Bullish,
        Setup::LongSetup,
        &reset(0.0, false, false),
    );
    assert_eq!(r.directional, 0.0);
}

#[test]
fn phase4_open_interest_bonus_tiers() {
    let bonus = |p: &Params, last: f64| {
        let b = Bars::flat(40, 100.0)
            .every(|b| b.oi = 100.0)
            .at(-1, |b| b.oi = last);
        score(
            &b,
            p,
            Bias::Neutral,
            Setup::LongSetup,
            &reset(0.0, false, false),
        )
        .oi_bonus
    };
    let p = with_oi();
    assert_eq!(bonus(&p, 110.0), 2.0, "+10 % exactly (≥)");
    assert_eq!(bonus(&p, 109.9), 1.5);
    assert_eq!(bonus(&p, 105.0), 1.5, "+5 % exactly (≥)");
    assert_eq!(bonus(&p, 104.9), 0.5);
    assert_eq!(bonus(&p, 100.1), 0.5);
    assert_eq!(bonus(&p, 100.0), -1.0, "no change");
    assert_eq!(bonus(&p, 90.0), -1.0);
    assert_eq!(bonus(&p, f64::NAN), 0.0, "no reading");
    assert_eq!(bonus(&defaults(), 110.0), 0.0, "OI off");
    // The base is bar −21.
    let b = Bars::flat(40, 100.0)
        .every(|b| b.oi = 100.0)
        .at(-21, |b| b.oi = f64::NAN)
        .at(-1, |b| b.oi = 110.0);
    let r = score(
        &b,
        &p,
        Bias::Neutral,
        Setup::LongSetup,
        &reset(0.0, false, false),
    );
    assert_eq!(r.oi_bonus, 0.0);
}

/// A long with every component at its cap: reset strength and exhaustion (3.5), five strong
/// up bars (2.5), three failed breakdowns and calming spot CVD (2.0), flows and price with
/// the bias (2.0).
fn max_long() -> Bars {
    let mut b = breakdown(40).sf(-8, 5e5).sf(-7, 5e5).set(-4..=-1, |b| {
        b.sf = 2.0 * G;
        b.pf = 2.0 * G;
    });
    for (bar, close) in [(-5, 99.5), (-4, 99.6), (-3, 99.7), (-2, 99.8), (-1, 99.9)] {
        b = b.ohlc(bar, 99.2, 100.0, 98.0, close);
    }
    b
}

#[test]
fn phase4_reset_multiplier_and_maximum_score() {
    let b = max_long();
    let ph3 = |detected| reset(0.31, true, detected);
    let plain = score(
        &b,
        &defaults(),
        Bias::Bullish,
        Setup::LongSetup,
        &ph3(false),
    );
    assert_eq!(
        (
            plain.cvd_reset,
            plain.absorption,
            plain.failed_breakdown,
            plain.directional
        ),
        (3.5, 2.5, 2.0, 2.0)
    );
    assert_eq!(plain.multiplier, 1.0);
    assert_eq!(plain.score, 10.0);
    let boosted = score(&b, &defaults(), Bias::Bullish, Setup::LongSetup, &ph3(true));
    assert_eq!(boosted.multiplier, 1.2);
    assert_near!(boosted.score, 12.0);
    assert_eq!(boosted.tier, Tier::Premium);
    assert_eq!(boosted.confidence, 0.9);
    assert_eq!(boosted.direction, 1);
    assert_eq!(sizing(boosted.score), (1.5, 5));
    // The OI bonus is added after the multiplier: 12 − 1 (OI fell).
    let b = max_long().every(|b| b.oi = 100.0).at(-1, |b| b.oi = 90.0);
    let r = score(&b, &with_oi(), Bias::Bullish, Setup::LongSetup, &ph3(true));
    assert_eq!(r.oi_bonus, -1.0);
    assert_near!(r.score, 11.0);
}

#[test]
fn phase4_score_is_the_sum_times_the_multiplier_and_sets_the_tier() {
    // A mid-sized long: one failed breakdown whose bar closes high in its range, flows with
    // the long, reset strength 0.2, neutral bias.
    let b = dip(breakdown(40), -1).set(-4..=-1, |b| {
        b.sf = 2.0 * G;
        b.pf = 2.0 * G;
    });
    for detected in [false, true] {
        let r = score(
            &b,
            &defaults(),
            Bias::Neutral,
            Setup::LongSetup,
            &reset(0.2, false, detected),
        );
        let sum = r.cvd_reset + r.absorption + r.failed_breakdown + r.directional;
        assert!(sum > 0.0);
        assert_near!(r.score, sum * if detected { 1.2 } else { 1.0 });
        assert_eq!(r.tier, Tier::of(r.score));
        assert_eq!(r.confidence, r.tier.confidence());
    }
}

#[test]
fn phase4_tier_boundaries_and_sizing() {
    let cases = [
        (0.0, Tier::Insufficient, 0.0, (0.0, 0)),
        (3.99, Tier::Insufficient, 0.0, (0.0, 0)),
        (4.0, Tier::Medium, 0.6, (0.5, 2)),
        (5.99, Tier::Medium, 0.6, (0.5, 2)),
        (6.0, Tier::High, 0.75, (1.0, 3)),
        (7.99, Tier::High, 0.75, (1.0, 3)),
        (8.0, Tier::Premium, 0.9, (1.5, 5)),
        (12.0, Tier::Premium, 0.9, (1.5, 5)),
    ];
    for (s, tier, conf, size) in cases {
        assert_eq!(Tier::of(s), tier, "score {s}");
        assert_eq!(tier.confidence(), conf);
        assert_eq!(sizing(s), size, "score {s}");
    }
}

#[test]
fn reset_levels_are_quartiles_of_the_last_20_bars() {
    // Lows 1…20 and highs 101…120 on the last 20 bars; bar −21 is far outside.
    let mut b = Bars::flat(40, 50.0).at(-21, |b| {
        b.low = -1000.0;
        b.high = 1e6;
    });
    for i in 1..=20isize {
        b = b.at(i - 21, |b| {
            b.low = i as f64;
            b.high = 100.0 + i as f64;
        });
    }
    let mut scratch = Vec::with_capacity(64);
    let (lo, hi) = reset_levels(&b.build().view(), &defaults(), &mut scratch);
    assert_eq!(lo, 5.75);
    assert_eq!(hi, 115.25);
}

// ---------------------------------------------------------------------------------------------
// Phase 5: exits

fn held(direction: i8, spot_flow: f64, perp_flow: f64, lo: f64, hi: f64) -> Held {
    Held {
        direction,
        spot_flow,
        perp_flow,
        lo,
        hi,
    }
}

fn exit_with(b: &Bars, p: &Params, h: &Held) -> Option<Exit> {
    let mut scratch = Vec::with_capacity(128);
    phase5(&b.build().view(), p, h, &mut scratch)
}

fn exit(b: &Bars, h: &Held) -> Option<ExitReason> {
    exit_with(b, &defaults(), h).map(|e| e.reason)
}

const LONG: i8 = 1;
const SHORT: i8 = -1;

#[test]
fn phase5_nothing_fires_in_a_calm_market() {
    let b = Bars::calm(60);
    assert_eq!(exit(&b, &held(LONG, 0.0, 0.0, 95.0, 105.0)), None);
    assert_eq!(exit(&b, &held(SHORT, 0.0, 0.0, 95.0, 105.0)), None);
    // Flow with the position is no reason to leave.
    assert_eq!(exit(&b, &held(LONG, 50.0, -50.0, 95.0, 105.0)), None);
    assert_eq!(exit(&b, &held(SHORT, -50.0, 50.0, 95.0, 105.0)), None);
    // Small windows: nothing can fire and nothing panics.
    for n in 1..5 {
        let b = Bars::calm(n).price(-1, 50.0);
        assert_eq!(
            exit(&b, &held(LONG, -9.0, 9.0, 95.0, 105.0)),
            None,
            "n = {n}"
        );
    }
}

#[test]
fn phase5_flow_reversal_against_the_noise_of_spot_flow() {
    let b = Bars::calm(40); // no spot flow: noise 1, threshold 0.5
    let long_exit = |s, p| exit(&b, &held(LONG, s, p, 0.0, 1e9));
    assert_eq!(long_exit(-0.5, 0.5), None, "both exactly at 0.5·noise");
    assert_eq!(long_exit(-0.6, 0.5), Some(ExitReason::FlowReversal));
    assert_eq!(long_exit(-0.5, 0.6), Some(ExitReason::FlowReversal));
    assert_eq!(long_exit(-0.6, 0.0), None, "perp not up");
    assert_eq!(long_exit(0.0, 0.6), None, "spot not down");
    assert_eq!(long_exit(0.6, -0.6), None);
    let short_exit = |s, p| exit(&b, &held(SHORT, s, p, 0.0, 1e9));
    assert_eq!(short_exit(0.6, -0.6), Some(ExitReason::FlowReversal));
    assert_eq!(short_exit(0.5, -0.5), None);
    assert_eq!(short_exit(-0.6, 0.6), None);
    // Noise = sstd of the last 19 spot deltas: 9 × (+2), 9 × (−2), one 0 → 2; bar −20 is out.
    let mut noisy = Bars::calm(40).sf(-20, 1e6);
    for i in 1..=18isize {
        noisy = noisy.sf(-i, if i % 2 == 0 { 2.0 } else { -2.0 });
    }
    let long_exit = |s, p| exit(&noisy, &held(LONG, s, p, 0.0, 1e9));
    assert_eq!(long_exit(-1.0, 1.0), None, "exactly 0.5·noise");
    assert_eq!(long_exit(-1.25, 1.0), Some(ExitReason::FlowReversal));
    // Needs n ≥ 20.
    let b = Bars::calm(19);
    assert_eq!(exit(&b, &held(LONG, -100.0, 100.0, 0.0, 1e9)), None);
    let b = Bars::calm(20);
    assert_eq!(
        exit(&b, &held(LONG, -100.0, 100.0, 0.0, 1e9)),
        Some(ExitReason::FlowReversal)
    );
}

#[test]
fn phase5_flow_reversal_severity_bands() {
    // The last 20 spot-CVD values have sstd exactly 2 (sum 0, sum of squares 76).
    let mut tail = vec![5.0, -5.0, 3.0, -3.0, 2.0, -2.0];
    tail.extend([0.0; 14]);
    let b = Bars::calm(40).spot_cvd_tail(&tail);
    let sev = |s, p| {
        let e = exit_with(&b, &defaults(), &held(LONG, s, p, 0.0, 1e9));
        let e = e.expect("a flow reversal");
        assert_eq!(e.reason, ExitReason::FlowReversal);
        e.severity
    };
    assert_eq!(sev(-0.25, 6.0), Severity::High); // 6.25 / 2 > 3
    assert_eq!(sev(-0.25, 5.75), Severity::Medium, "exactly 3");
    assert_eq!(sev(-0.25, 3.0), Severity::Medium);
    assert_eq!(sev(-0.25, 2.75), Severity::Low, "exactly 1.5");
    // Other exits report LOW.
    let b = Bars::calm(40).price(-1, 50.0);
    let e = exit_with(&b, &defaults(), &held(LONG, 0.0, 0.0, 95.0, 105.0));
    assert_eq!(
        e.map(|e| (e.reason, e.severity)),
        Some((ExitReason::RangeBreak, Severity::Low))
    );
}

#[test]
fn phase5_range_break_on_the_levels_recorded_at_entry() {
    let at = |n: usize, close: f64, dir: i8| {
        let b = Bars::calm(n).ohlc(-1, 100.0, 101.0, 99.0, close);
        exit(&b, &held(dir, 0.0, 0.0, 99.5, 100.5))
    };
    assert_eq!(at(40, 99.5, LONG), None, "close at lo");
    assert_eq!(at(40, 99.49, LONG), Some(ExitReason::RangeBreak));
    assert_eq!(at(40, 100.5, SHORT), None, "close at hi");
    assert_eq!(at(40, 100.51, SHORT), Some(ExitReason::RangeBreak));
    assert_eq!(at(40, 99.49, SHORT), None);
    assert_eq!(at(5, 99.49, LONG), Some(ExitReason::RangeBreak));
    assert_eq!(at(4, 99.49, LONG), None, "needs n ≥ 5");
}

/// Flows over bars: spot and perp set separately (value per bar).
fn flows(
    n: usize,
    spot: &[(RangeInclusive<isize>, f64)],
    perp: &[(RangeInclusive<isize>, f64)],
) -> Bars {
    let mut b = Bars::calm(n);
    for (r, v) in spot {
        let v = *v;
        b = b.set(r.clone(), move |x| x.sf = v);
    }
    for (r, v) in perp {
        let v = *v;
        b = b.set(r.clone(), move |x| x.pf = v);
    }
    b
}

#[test]
fn phase5_cvd_invalidation_needs_all_four_changes_against_the_position() {
    let quiet = |dir| held(dir, 0.0, 0.0, 0.0, 1e9);
    let falling = flows(40, &[(-19..=-1, -1.0)], &[(-19..=-1, -1.0)]);
    assert_eq!(
        exit(&falling, &quiet(LONG)),
        Some(ExitReason::CvdInvalidation)
    );
    assert_eq!(exit(&falling, &quiet(SHORT)), None);
    let rising = flows(40, &[(-19..=-1, 1.0)], &[(-19..=-1, 1.0)]);
    assert_eq!(
        exit(&rising, &quiet(SHORT)),
        Some(ExitReason::CvdInvalidation)
    );
    assert_eq!(exit(&rising, &quiet(LONG)), None);
    // Each of the four at zero keeps the long.
    let cases = [
        // spot trend 0 (momentum −4 offset by +4 on bar −10)
        flows(
            40,
            &[(-4..=-1, -1.0), (-10..=-10, 4.0)],
            &[(-19..=-1, -1.0)],
        ),
        // spot momentum 0
        flows(40, &[(-19..=-5, -1.0)], &[(-19..=-1, -1.0)]),
        // perp trend 0
        flows(
            40,
            &[(-19..=-1, -1.0)],
            &[(-4..=-1, -1.0), (-10..=-10, 4.0)],
        ),
        // perp momentum 0
        flows(40, &[(-19..=-1, -1.0)], &[(-19..=-5, -1.0)]),
    ];
    for (i, b) in cases.iter().enumerate() {
        assert_eq!(exit(b, &quiet(LONG)), None, "case {i}");
    }
    // Needs n ≥ 20.
    let b = flows(19, &[(-18..=-1, -1.0)], &[(-18..=-1, -1.0)]);
    assert_eq!(exit(&b, &quiet(LONG)), None);
}

#[test]
fn phase5_cvd_invalidation_windows() {
    let quiet = held(LONG, 0.0, 0.0, 0.0, 1e9);
    // Both CVDs fall over the last 4 bars; one of them had a +100 flow on bar `spike`.
    let down = |n: usize, spike: isize, spot: bool| {
        let falling = (-4..=-1, -1.0);
        let with_spike = [falling.clone(), (spike..=spike, 100.0)];
        if spot {
            flows(n, &with_spike, &[falling])
        } else {
            flows(n, &[falling], &with_spike)
        }
    };
    for spot in [true, false] {
        // Trend = cvd[−1] − cvd[−L], L = min(20, ⌊n/2⌋): a flow on bar −L is in the base.
        let invalid = Some(ExitReason::CvdInvalidation);
        assert_eq!(exit(&down(40, -20, spot), &quiet), invalid, "spot {spot}");
        assert_eq!(exit(&down(40, -19, spot), &quiet), None, "spot {spot}");
        assert_eq!(exit(&down(30, -15, spot), &quiet), invalid, "spot {spot}");
        assert_eq!(exit(&down(30, -14, spot), &quiet), None, "spot {spot}");
    }
    // Momentum = cvd[−1] − cvd[−5]: bar −5's flow is in the base (a +10 there would make the
    // momentum positive if it were counted).
    let kicked = [(-4..=-1, -1.0), (-5..=-5, 10.0), (-6..=-6, -20.0)];
    let steady = [(-19..=-1, -1.0)];
    let b = flows(40, &kicked, &steady);
    assert_eq!(exit(&b, &quiet), Some(ExitReason::CvdInvalidation));
    let b = flows(40, &steady, &kicked);
    assert_eq!(exit(&b, &quiet), Some(ExitReason::CvdInvalidation));
}

#[test]
fn phase5_structure_break_beyond_the_prior_swing_by_the_typical_range() {
    // Calm bars: swing low 99 / high 101 over bars −21…−2, typical range 2.
    let long_at = |b: Bars| exit(&b, &held(LONG, 0.0, 0.0, 0.0, 1e9));
    let short_at = |b: Bars| exit(&b, &held(SHORT, 0.0, 0.0, 0.0, 1e9));
    assert_eq!(
        long_at(Bars::calm(40).ohlc(-1, 97.0, 97.5, 96.5, 97.0)),
        None,
        "at 99 − 2"
    );
    assert_eq!(
        long_at(Bars::calm(40).ohlc(-1, 97.0, 97.5, 96.5, 96.9)),
        Some(ExitReason::StructureBreak)
    );
    // The current bar's own low is not part of the swing.
    assert_eq!(
        long_at(Bars::calm(40).ohlc(-1, 100.0, 100.0, 90.0, 96.9)),
        Some(ExitReason::StructureBreak)
    );
    assert_eq!(
        long_at(Bars::calm(40).ohlc(-1, 100.0, 100.0, 90.0, 97.0)),
        None
    );
    // The swing is the 20 bars before: bar −21 is in it, bar −22 is not.
    let deep = |bar| {
        Bars::calm(40)
            .at(bar, |b| b.low = 50.0)
            .ohlc(-1, 100.0, 100.0, 90.0, 96.9)
    };
    assert_eq!(long_at(deep(-21)), None);
    assert_eq!(long_at(deep(-22)), Some(ExitReason::StructureBreak));
    // Shorts mirror it.
    assert_eq!(
        short_at(Bars::calm(40).ohlc(-1, 100.0, 110.0, 100.0, 103.0)),
        None
    );
    assert_eq!(
        short_at(Bars::calm(40).ohlc(-1, 100.0, 110.0, 100.0, 103.1)),
        Some(ExitReason::StructureBreak)
    );
    assert_eq!(
        short_at(Bars::calm(40).ohlc(-1, 100.0, 100.0, 90.0, 96.9)),
        None
    );
    // Needs n ≥ 21.
    assert_eq!(
        long_at(Bars::calm(20).ohlc(-1, 100.0, 100.0, 90.0, 90.0)),
        None
    );
    assert_eq!(
        long_at(Bars::calm(21).ohlc(-1, 100.0, 100.0, 90.0, 90.0)),
        Some(ExitReason::StructureBreak)
    );
}

#[test]
fn phase5_structure_break_typical_range_is_over_the_last_50_bars() {
    // 60 wide bars (range 20) before 50 calm ones: over all 110 the median would be 20.
    let b = Bars::calm(110)
        .set(0..=59, |b| {
            b.high = 110.0;
            b.low = 90.0;
        })
        .ohlc(-1, 100.0, 100.0, 96.0, 96.9);
    assert_eq!(
        exit(&b, &held(LONG, 0.0, 0.0, 0.0, 1e9)),
        Some(ExitReason::StructureBreak)
    );
    // With 26 of the last 50 bars wide, the median is 20 and 96.9 is no break.
    let b = Bars::calm(110)
        .set(-50..=-25, |b| {
            b.high = 101.0;
            b.low = 81.0;
        })
        .ohlc(-1, 100.0, 100.0, 96.0, 96.9);
    assert_eq!(exit(&b, &held(LONG, 0.0, 0.0, 0.0, 1e9)), None);
}

#[test]
fn phase5_exits_in_order_of_precedence() {
    // Everything against a long: reversal, range break (lo 95), CVD invalidation, structure.
    let all = flows(40, &[(-19..=-1, -1.0)], &[(-19..=-1, -1.0)]).ohlc(-1, 92.0, 92.0, 90.0, 90.0);
    let reversal = held(LONG, -10.0, 10.0, 95.0, 1e9);
    assert_eq!(exit(&all, &reversal), Some(ExitReason::FlowReversal));
    let no_reversal = held(LONG, 0.0, 0.0, 95.0, 1e9);
    assert_eq!(exit(&all, &no_reversal), Some(ExitReason::RangeBreak));
    let below_range = held(LONG, 0.0, 0.0, 80.0, 1e9);
    assert_eq!(exit(&all, &below_range), Some(ExitReason::CvdInvalidation));
    let calm_flow = Bars::calm(40).ohlc(-1, 92.0, 92.0, 90.0, 90.0);
    assert_eq!(
        exit(&calm_flow, &below_range),
        Some(ExitReason::StructureBreak)
    );
    assert_eq!(exit(&Bars::calm(40), &below_range), None);
}

// ---------------------------------------------------------------------------------------------
// 1-second mode

#[test]
fn one_second_mode_scales_every_bar_count_by_60() {
    let p = one_second();
    let warm = |n: usize| phase1(&Bars::flat(n, 100.0).build().view(), &p, 1.0).warm_up;
    assert!(warm(599));
    assert!(!warm(600));
    // Phase 2 measures changes over 600 bars.
    let pattern = |bar: isize| {
        let b = Bars::flat(700, 100.0).flow(bar, 2.0 * F, -2.0 * F);
        phase2(&b.build().view(), &p, 1.0, Bias::Neutral).pattern
    };
    assert_eq!(pattern(-601), Pattern::Balanced);
    assert_eq!(pattern(-600), Pattern::SpotUpFuturesDown);
    // Phase 3 stagnation compares the last 1200 bars with the rest.
    let b = Bars::flat(1300, 100.0).set(0..=99, |b| {
        b.high = 105.0;
        b.low = 95.0;
    });
    assert!(phase3(&b.build().view(), &p, 1.0).stagnant);
    let b = b.at(-1200, |b| b.high = 110.0);
    assert!(!phase3(&b.build().view(), &p, 1.0).stagnant);
    // Phase 5 structure break needs 21·60 bars; the swing is the 1200 before the current one.
    let h = held(LONG, 0.0, 0.0, 0.0, 1e9);
    let broken = |n: usize| Bars::calm(n).ohlc(-1, 100.0, 100.0, 90.0, 96.9);
    assert_eq!(exit_with(&broken(1259), &p, &h), None);
    assert_eq!(
        exit_with(&broken(1260), &p, &h).map(|e| e.reason),
        Some(ExitReason::StructureBreak)
    );
    let b = broken(1300).at(-1201, |b| b.low = 50.0);
    assert_eq!(exit_with(&b, &p, &h), None);
    // Reset levels span the last 1200 bars (the last 20 alone would give 100 and 100).
    let b = Bars::flat(1300, 100.0).set(-1200..=-301, |b| {
        b.high = 110.0;
        b.low = 90.0;
    });
    let mut scratch = Vec::with_capacity(1300);
    let (lo, hi) = reset_levels(&b.build().view(), &p, &mut scratch);
    assert_eq!((lo, hi), (90.0, 110.0));
}

#[test]
fn volatility_k_is_one_plus_half_the_relative_close_noise_clamped_at_2() {
    let k = |closes: &[f64]| {
        let mut b = Bars::flat(closes.len(), 1.0);
        for (i, &c) in closes.iter().enumerate() {
            b = b.price(i as isize, c);
        }
        b.build().view().volatility_k()
    };
    assert_eq!(k(&[100.0; 50]), 1.0);
    assert_eq!(
        k(&[100.0, 101.0, 102.0, 103.0]),
        1.0,
        "a steady trend has no noise"
    );
    // diffs 2, −2, 2: mean 2/3, pstd √(96/27); mean |close| 2.
    let want = 1.0 + 0.5 * (96.0f64 / 27.0).sqrt() / 2.0;
    assert_near!(k(&[1.0, 3.0, 1.0, 3.0]), want);
    // One spike in 50 bars: ν ≈ 6.7, clamped.
    let mut spike = vec![1.0; 50];
    spike[25] = 100.0;
    assert_eq!(k(&spike), 2.0);
    assert_eq!(k(&[100.0]), 1.0);
}
