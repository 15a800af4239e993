//! The five phases of reference/strategy.md as pure functions over one symbol's window.
//!
//! Every function reads a [`View`] (the window's analysis bars, oldest first, the current
//! partial bar last) and returns a plain `Copy` record of its intermediate values, so signals
//! can carry them and tests can assert them. Bar counts of the spec are multiplied by
//! [`Params::scale`] (1, or 60 in 1-second mode); the spec's inclusive bar ranges such as
//! "bars −10…−6" scale as the half-open index ranges `[n−10c, n−5c)`.

use super::math::{mean, median_in_place, min_max, quantile, sign, sstd};

/// Parameters the phases read (strategy.md defaults in [`Params::default`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Bar-count multiplier: 1, or 60 in 1-second mode.
    pub scale: usize,
    /// Phase 2 floor `F` on CVD changes (quote notional).
    pub min_cvd_change: f64,
    /// Phase 4 floor `G` on per-bar flows (quote notional).
    pub flow_floor: f64,
    /// Open-interest gate (phase 2) and bonus (phase 4).
    pub enable_oi: bool,
    /// Window size below which nothing is evaluated (before scaling).
    pub min_data_points: usize,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            scale: 1,
            min_cvd_change: 1e6,
            flow_floor: 1e4,
            enable_oi: false,
            min_data_points: 40,
        }
    }
}

impl Params {
    /// A spec bar count scaled for the mode.
    #[inline]
    pub fn bars(&self, count: usize) -> usize {
        count * self.scale
    }
}

/// One symbol's window: analysis bars oldest first, the current (partial) bar last.
/// All slices have the same length `n`; `oi` is NaN where no reading exists.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pub open: &'a [f64],
    pub high: &'a [f64],
    pub low: &'a [f64],
    pub close: &'a [f64],
    /// Per-bar spot flow `Σ(vbuy − vsell)` over SPOT markets.
    pub sf: &'a [f64],
    /// Per-bar perp flow over PERP markets.
    pub pf: &'a [f64],
    pub volume: &'a [f64],
    pub oi: &'a [f64],
    /// Cumulative `sf`/`pf` from the window's first bar.
    pub scvd: &'a [f64],
    pub pcvd: &'a [f64],
    /// `scvd − pcvd`.
    pub div: &'a [f64],
}

impl View<'_> {
    #[inline]
    pub fn n(&self) -> usize {
        self.close.len()
    }

    /// `mom(p)`: signed relative change of close over `p` bars; 0 if `n ≤ p`.
    #[inline]
    pub fn mom(&self, p: usize) -> f64 {
        let n = self.n();
        if n <= p {
            return 0.0;
        }
        let base = self.close[n - 1 - p];
        (self.close[n - 1] - base) / base
    }

    /// `Δk x = x[−1] − x[−1−k]` (requires `k < n`).
    #[inline]
    fn delta(x: &[f64], k: usize) -> f64 {
        let n = x.len();
        x[n - 1] - x[n - 1 - k]
    }

    /// The last `k` values of `x` (all of them if fewer).
    #[inline]
    fn last(x: &[f64], k: usize) -> &[f64] {
        &x[x.len().saturating_sub(k)..]
    }

    /// 1-second-mode volatility factor `min(2, 1 + 0.5·ν)`, ν = pstd(diff(close)) / mean(|close|).
    pub fn volatility_k(&self) -> f64 {
        let n = self.n();
        if n < 2 {
            return 1.0;
        }
        let c = self.close;
        let m = (c[n - 1] - c[0]) / (n - 1) as f64;
        let var = c
            .windows(2)
            .map(|w| {
                let d = w[1] - w[0] - m;
                d * d
            })
            .sum::<f64>()
            / (n - 1) as f64;
        let level = c.iter().map(|v| v.abs()).sum::<f64>() / n as f64;
        if level <= 0.0 {
            return 1.0;
        }
        (1.0 + 0.5 * var.sqrt() / level).min(2.0)
    }
}

// ---------------------------------------------------------------------------------------------
// Phase 1: context

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dominance {
    SpotDominated,
    FuturesDominated,
    Balanced,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Potential {
    High,
    Medium,
    Low,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqueezeEnv {
    LongSqueeze,
    ShortSqueeze,
    Neutral,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bias {
    Bullish,
    Bearish,
    Neutral,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase1 {
    pub warm_up: bool,
    pub dominance: Dominance,
    pub strength: f64,
    pub spot_share: f64,
    pub potential: Potential,
    pub environment: SqueezeEnv,
    pub momentum: f64,
    pub div_mean: f64,
    pub bias: Bias,
}

pub fn phase1(v: &View<'_>, p: &Params, k: f64) -> Phase1 {
    let n = v.n();
    let mut out = Phase1 {
        warm_up: n < p.bars(10),
        dominance: Dominance::Balanced,
        strength: 0.0,
        spot_share: 0.5,
        potential: Potential::Low,
        environment: SqueezeEnv::Neutral,
        momentum: 0.0,
        div_mean: 0.0,
        bias: Bias::Neutral,
    };
    if out.warm_up {
        return out;
    }
    // Dominance (informational).
    let mut l = (n / 2).clamp(p.bars(10), p.bars(100));
    if l >= n {
        l = n - 1;
    }
    if l >= p.bars(10) {
        let s = View::delta(v.scvd, l).abs();
        let f = View::delta(v.pcvd, l).abs();
        let spot_share = if s + f > 0.0 { s / (s + f) } else { 0.5 };
        let perp_share = 1.0 - spot_share;
        out.spot_share = spot_share;
        out.dominance = if spot_share > 0.6 {
            Dominance::SpotDominated
        } else if perp_share > 0.6 {
            Dominance::FuturesDominated
        } else {
            Dominance::Balanced
        };
        out.strength = spot_share.max(perp_share);
        out.potential = if out.strength > 0.8 {
            Potential::High
        } else if out.strength > 0.65 {
            Potential::Medium
        } else {
            Potential::Low
        };
    }
    // Squeeze environment.
    let m = (n / 2).clamp(p.bars(5), p.bars(50));
    if m < n {
        let pm = v.mom(m);
        let ds = View::delta(v.scvd, m);
        let dp = View::delta(v.pcvd, m);
        let dbar = mean(View::last(v.div, p.bars(20).min(n)));
        out.momentum = pm;
        out.div_mean = dbar;
        out.environment = if pm > 0.01 * k && ds > dp && dbar > 0.0 {
            SqueezeEnv::LongSqueeze
        } else if pm < -0.01 * k && dp > ds && dbar < 0.0 {
            SqueezeEnv::ShortSqueeze
        } else {
            SqueezeEnv::Neutral
        };
    }
    out.bias = match out.environment {
        SqueezeEnv::LongSqueeze => Bias::Bullish,
        SqueezeEnv::ShortSqueeze => Bias::Bearish,
        SqueezeEnv::Neutral => Bias::Neutral,
    };
    out
}

// ---------------------------------------------------------------------------------------------
// Phase 2: divergence

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    Balanced,
    SpotUpFuturesDown,
    SpotDownFuturesUp,
    SpotLeadingUp,
    FuturesLeadingUp,
    BothUpBalanced,
    SpotLeadingDown,
    FuturesLeadingDown,
    BothDownBalanced,
}

impl Pattern {
    /// (spot, perp) directions of the pattern.
    pub fn directions(self) -> (f64, f64) {
        match self {
            Pattern::Balanced => (0.0, 0.0),
            Pattern::SpotUpFuturesDown => (1.0, -1.0),
            Pattern::SpotDownFuturesUp => (-1.0, 1.0),
            Pattern::SpotLeadingUp => (1.0, 0.5),
            Pattern::FuturesLeadingUp => (0.5, 1.0),
            Pattern::BothUpBalanced => (1.0, 1.0),
            Pattern::SpotLeadingDown => (-1.0, -0.5),
            Pattern::FuturesLeadingDown => (-0.5, -1.0),
            Pattern::BothDownBalanced => (-1.0, -1.0),
        }
    }

    pub fn is_true_divergence(self) -> bool {
        matches!(
            self,
            Pattern::SpotUpFuturesDown | Pattern::SpotDownFuturesUp
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceMove {
    Rising,
    Falling,
    Stable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    LongSetup,
    ShortSetup,
    NoSetup,
}

impl Setup {
    /// +1 long, −1 short, 0 none.
    pub fn direction(self) -> i8 {
        match self {
            Setup::LongSetup => 1,
            Setup::ShortSetup => -1,
            Setup::NoSetup => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase2 {
    pub spot_change: f64,
    pub perp_change: f64,
    pub pattern: Pattern,
    pub current_div: f64,
    pub div_mean: f64,
    pub div_std: f64,
    pub significant: bool,
    pub price_change: f64,
    pub price_move: PriceMove,
    pub setup: Setup,
    /// OI change over the last K bars (NaN without data or with the gate off).
    pub oi_change: f64,
    pub has_divergence: bool,
}

/// Relative change of `oi` over the last `k` bars; NaN when either end has no reading or the
/// base is not positive.
pub fn oi_change(oi: &[f64], k: usize) -> f64 {
    let n = oi.len();
    if k == 0 || k >= n {
        return f64::NAN;
    }
    let (now, base) = (oi[n - 1], oi[n - 1 - k]);
    if now.is_nan() || base.is_nan() || base <= 0.0 {
        return f64::NAN;
    }
    (now - base) / base
}

pub fn phase2(v: &View<'_>, p: &Params, k: f64, bias: Bias) -> Phase2 {
    let n = v.n();
    let f = p.min_cvd_change;
    let l2 = p.bars(10).min(n.saturating_sub(1));
    let (ds, dp) = if l2 > 0 {
        (View::delta(v.scvd, l2), View::delta(v.pcvd, l2))
    } else {
        (0.0, 0.0)
    };
    let pattern = if !(ds.abs() > f || dp.abs() > f) {
        Pattern::Balanced
    } else if ds > f && dp < -f {
        Pattern::SpotUpFuturesDown
    } else if ds < -f && dp > f {
        Pattern::SpotDownFuturesUp
    } else if ds > 0.0 && dp > 0.0 {
        if ds > 1.5 * dp {
            Pattern::SpotLeadingUp
        } else if dp > 1.5 * ds {
            Pattern::FuturesLeadingUp
        } else {
            Pattern::BothUpBalanced
        }
    } else if ds < 0.0 && dp < 0.0 {
        let (s, q) = (ds.abs(), dp.abs());
        if s > 1.5 * q {
            Pattern::SpotLeadingDown
        } else if q > 1.5 * s {
            Pattern::FuturesLeadingDown
        } else {
            Pattern::BothDownBalanced
        }
    } else {
        Pattern::Balanced
    };

    // Volume significance on |div| of the K bars before the current one.
    let kk = p.bars(20).min(n.saturating_sub(1));
    let (mut mu, mut sigma, mut significant) = (0.0, 0.0, false);
    let c = v.div.last().map_or(0.0, |d| d.abs());
    if kk >= 1 {
        let d = &v.div[n - 1 - kk..n - 1];
        let count = kk as f64;
        mu = d.iter().map(|x| x.abs()).sum::<f64>() / count;
        let var = d
            .iter()
            .map(|x| (x.abs() - mu) * (x.abs() - mu))
            .sum::<f64>()
            / count;
        sigma = var.sqrt();
        let max_d = d.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        significant = c >= 0.5 * mu
            && ((mu > 0.0 && c >= 1.5 * mu)
                || c > 1.2 * max_d
                || (sigma > 0.0 && (c - mu).abs() > sigma));
    }

    let mv = v.mom(l2);
    let price_move = if mv > 0.01 * k {
        PriceMove::Rising
    } else if mv < -0.01 * k {
        PriceMove::Falling
    } else {
        PriceMove::Stable
    };

    let spot_dir = pattern.directions().0;
    let setup = if pattern == Pattern::SpotUpFuturesDown && price_move != PriceMove::Falling {
        Setup::LongSetup
    } else if pattern == Pattern::SpotDownFuturesUp && price_move != PriceMove::Rising {
        Setup::ShortSetup
    } else if spot_dir > 0.0 && price_move != PriceMove::Falling && bias != Bias::Bearish {
        Setup::LongSetup
    } else if spot_dir < 0.0 && price_move != PriceMove::Rising && bias != Bias::Bullish {
        Setup::ShortSetup
    } else if bias == Bias::Bullish && price_move != PriceMove::Falling {
        Setup::LongSetup
    } else if bias == Bias::Bearish && price_move != PriceMove::Rising {
        Setup::ShortSetup
    } else if pattern == Pattern::SpotLeadingUp {
        Setup::LongSetup
    } else if pattern == Pattern::FuturesLeadingDown {
        Setup::ShortSetup
    } else {
        Setup::NoSetup
    };

    let mut oi = f64::NAN;
    if p.enable_oi {
        oi = oi_change(v.oi, kk);
        // The gate: OI must have risen ≥ 5 % (no data → not significant).
        if oi.is_nan() || oi < 0.05 {
            significant = false;
        }
    }
    let has_divergence = significant && pattern.is_true_divergence() && setup != Setup::NoSetup;
    Phase2 {
        spot_change: ds,
        perp_change: dp,
        pattern,
        current_div: c,
        div_mean: mu,
        div_std: sigma,
        significant,
        price_change: mv,
        price_move,
        setup,
        oi_change: oi,
        has_divergence,
    }
}

// ---------------------------------------------------------------------------------------------
// Phase 3: reset

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetType {
    Both,
    TypeA,
    TypeB,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase3 {
    pub converging: bool,
    pub convergence_rate: f64,
    pub convergence_strength: f64,
    pub decelerating: bool,
    pub stagnant: bool,
    pub exhausted: bool,
    pub explosive_momentum: f64,
    pub reset_type: ResetType,
    pub reset_detected: bool,
}

pub fn phase3(v: &View<'_>, p: &Params, k3: f64) -> Phase3 {
    let n = v.n();
    // Convergence of |div|.
    let (mut converging, mut rate, mut strength) = (false, 0.0, 0.0);
    if n >= p.bars(3) && n >= 2 {
        let w = (n / 2).clamp(p.bars(3), p.bars(10)).min(n);
        let tail = &v.div[n - w..];
        // Slope of |div| without a copy: slope is linear in y, so fold |.| in by hand.
        let (nf, mut num, mut den, mut sum) = (w as f64, 0.0, 0.0, 0.0);
        for d in tail {
            sum += d.abs();
        }
        let (mx, my) = ((nf - 1.0) / 2.0, sum / nf);
        for (i, d) in tail.iter().enumerate() {
            let dx = i as f64 - mx;
            num += dx * (d.abs() - my);
            den += dx * dx;
        }
        let sl = if den > 0.0 { num / den } else { 0.0 };
        rate = -sl;
        let first = tail[0].abs();
        let raw = if first > 0.0 {
            (first - tail[w - 1].abs()) / first
        } else {
            0.0
        };
        strength = raw.max(0.0);
        converging = rate > 0.0 && raw > 0.2 * k3;
    }
    // Deceleration.
    let (mut available, mut decel) = (0, 0);
    for base in [5, 10, 15] {
        let per = p.bars(base);
        if n > per {
            available += 1;
            if v.mom(per).abs() > 1.2 * v.mom(per / 3).abs() {
                decel += 1;
            }
        }
    }
    let decelerating = available > 0 && decel * 2 > available;
    // Stagnation.
    let mut stagnant = false;
    let r = p.bars(20);
    if n > r {
        let (lo, _) = min_max(&v.low[n - r..]);
        let (_, hi) = min_max(&v.high[n - r..]);
        let recent = hi - lo;
        let before = n - r;
        let reference = v.high[..before]
            .iter()
            .zip(&v.low[..before])
            .map(|(h, l)| h - l)
            .sum::<f64>()
            / before as f64;
        stagnant = reference > 0.0 && recent < 0.5 * reference;
    }
    let exhausted = decelerating || stagnant;
    let type_a = converging || (exhausted && strength > 0.02) || (decelerating && rate < 0.0);
    let (mut msum, mut mcount) = (0.0, 0);
    for base in [5, 15, 30] {
        let per = p.bars(base);
        if n > per {
            msum += v.mom(per).abs();
            mcount += 1;
        }
    }
    let m = if mcount > 0 {
        msum / mcount as f64
    } else {
        0.0
    };
    let type_b = m > 0.02;
    let reset_type = match (type_a, type_b) {
        (true, true) => ResetType::Both,
        (true, false) => ResetType::TypeA,
        (false, true) => ResetType::TypeB,
        (false, false) => ResetType::None,
    };
    Phase3 {
        converging,
        convergence_rate: rate,
        convergence_strength: strength,
        decelerating,
        stagnant,
        exhausted,
        explosive_momentum: m,
        reset_type,
        reset_detected: type_a || type_b,
    }
}

// ---------------------------------------------------------------------------------------------
// Phase 4: scoring

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Premium,
    High,
    Medium,
    Insufficient,
}

impl Tier {
    pub fn of(score: f64) -> Tier {
        if score >= 8.0 {
            Tier::Premium
        } else if score >= 6.0 {
            Tier::High
        } else if score >= 4.0 {
            Tier::Medium
        } else {
            Tier::Insufficient
        }
    }

    pub fn confidence(self) -> f64 {
        match self {
            Tier::Premium => 0.9,
            Tier::High => 0.75,
            Tier::Medium => 0.6,
            Tier::Insufficient => 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase4 {
    /// +1 long, −1 short, 0 when there was nothing to score.
    pub direction: i8,
    pub cvd_reset: f64,
    pub absorption: f64,
    pub failed_breakdown: f64,
    pub directional: f64,
    pub oi_bonus: f64,
    pub multiplier: f64,
    pub score: f64,
    pub tier: Tier,
    pub confidence: f64,
}

impl Phase4 {
    pub const NONE: Phase4 = Phase4 {
        direction: 0,
        cvd_reset: 0.0,
        absorption: 0.0,
        failed_breakdown: 0.0,
        directional: 0.0,
        oi_bonus: 0.0,
        multiplier: 1.0,
        score: 0.0,
        tier: Tier::Insufficient,
        confidence: 0.0,
    };
}

/// Mean of `x[from..to]` (indices clamped to the slice).
#[inline]
fn mean_range(x: &[f64], from: usize, to: usize) -> f64 {
    mean(&x[from.min(x.len())..to.min(x.len())])
}

pub fn phase4(v: &View<'_>, p: &Params, ph1: &Phase1, ph2: &Phase2, ph3: &Phase3) -> Phase4 {
    if !ph2.has_divergence {
        return Phase4::NONE;
    }
    let n = v.n();
    let d = ph2.setup.direction();
    let g = p.flow_floor;
    let c = p.scale;

    // CVD reset deceleration, max 3.5.
    let mut pct: f64 = if ph3.convergence_strength > 0.3 {
        0.8
    } else if ph3.convergence_strength > 0.1 {
        0.5
    } else if ph3.convergence_strength > 0.01 {
        0.3
    } else if n >= 10 * c {
        let a = mean(View::last(v.sf, 4 * c)).abs();
        let b = mean(View::last(v.pf, 4 * c)).abs();
        if (a - b).abs() < 0.5 * a.max(b) {
            0.2
        } else {
            0.0
        }
    } else {
        0.0
    };
    if n >= 20 * c {
        let r = mean(View::last(v.sf, 4 * c)).abs();
        let e = mean_range(v.sf, n - 19 * c, n - 10 * c).abs();
        if e > g && r < 0.7 * e {
            pct += 0.4;
        } else if e > g / 2.0 && r < 0.8 * e {
            pct += 0.25;
        }
    }
    if ph3.exhausted {
        pct += 0.2;
    }
    let cvd_reset = (3.5 * pct).min(3.5);

    // Absorption, max 2.5.
    let mut absorption = 0.0;
    if n >= 5 * c {
        let from = n - 5 * c;
        let (min_low, _) = min_max(&v.low[from..]);
        let (_, max_high) = min_max(&v.high[from..]);
        let mut pct: f64 = 0.0;
        for i in from..n {
            let (o, h, l, cl) = (v.open[i], v.high[i], v.low[i], v.close[i]);
            let eps = 1e-9 * cl;
            if (d > 0 && cl > o) || (d < 0 && cl < o) {
                pct += 0.15;
            }
            let strong = if d > 0 {
                (cl - l) / (h - l + eps) > 0.6 && cl > min_low
            } else {
                (h - cl) / (h - l + eps) > 0.6 && cl < max_high
            };
            if strong {
                pct += 0.20;
            }
        }
        if n >= 20 * c
            && mean(View::last(v.volume, 5 * c)) > 1.5 * mean(View::last(v.volume, 20 * c))
        {
            pct += 0.15;
        }
        absorption = (2.5 * pct).min(2.5);
    }

    // Failed breakdown, max 2.0.
    let mut failed_breakdown = 0.0;
    if n >= 10 * c {
        let (range_from, tested_from) = (n - 10 * c, n - 5 * c);
        let (range_low, _) = min_max(&v.low[range_from..tested_from]);
        let (_, range_high) = min_max(&v.high[range_from..tested_from]);
        if range_high - range_low > 0.0 {
            let mut count = 0;
            for i in tested_from..n {
                let hit = if d > 0 {
                    v.low[i] < range_low && v.close[i] > range_low
                } else {
                    v.high[i] > range_high && v.close[i] < range_high
                };
                count += usize::from(hit);
            }
            let mut pct: f64 = if count >= 3 * c {
                0.6
            } else if count >= 2 * c {
                0.4
            } else if count >= c {
                0.2
            } else {
                0.0
            };
            let recent = sstd(&v.scvd[tested_from..]);
            let earlier = sstd(&v.scvd[range_from..tested_from]);
            if earlier > 0.0 && recent < 0.7 * earlier {
                pct += 0.4;
            }
            failed_breakdown = (2.0 * pct).min(2.0);
        }
    }

    // Directional bias, max 2.0.
    let mut directional = 0.0;
    if n >= 5 * c {
        let sp = mean(View::last(v.sf, 4 * c));
        let pp = mean(View::last(v.pf, 4 * c));
        let base = v.close[n - 5 * c];
        let pr = (v.close[n - 1] - base) / base;
        let mut pct: f64 = 0.0;
        if sign(sp) == d && sign(pp) == d && sp.abs() > g {
            pct += 0.5;
        } else if sign(sp) == d && sp.abs() > g / 2.0 {
            pct += 0.3;
        }
        if sign(pr) == d && pr.abs() > 1e-4 {
            pct += 0.4;
        } else if sign(pr) == d && pr.abs() > 5e-5 {
            pct += 0.2;
        }
        pct += match (ph1.bias, d) {
            (Bias::Bullish, 1) | (Bias::Bearish, -1) => 0.2,
            (Bias::Neutral, _) => 0.1,
            _ => 0.0,
        };
        directional = (2.0 * pct).min(2.0);
    }

    let oi_bonus = if p.enable_oi {
        let ch = oi_change(v.oi, p.bars(20).min(n.saturating_sub(1)));
        if ch.is_nan() {
            0.0
        } else if ch >= 0.10 {
            2.0
        } else if ch >= 0.05 {
            1.5
        } else if ch > 0.0 {
            0.5
        } else {
            -1.0
        }
    } else {
        0.0
    };
    let multiplier = if ph3.reset_detected { 1.2 } else { 1.0 };
    let score = (cvd_reset + absorption + failed_breakdown + directional) * multiplier + oi_bonus;
    let tier = Tier::of(score);
    Phase4 {
        direction: d,
        cvd_reset,
        absorption,
        failed_breakdown,
        directional,
        oi_bonus,
        multiplier,
        score,
        tier,
        confidence: tier.confidence(),
    }
}

/// Size factor and leverage for a score (0 / 0 below 4: no order).
pub fn sizing(score: f64) -> (f64, u8) {
    if score >= 8.0 {
        (1.5, 5)
    } else if score >= 6.0 {
        (1.0, 3)
    } else if score >= 4.0 {
        (0.5, 2)
    } else {
        (0.0, 0)
    }
}

/// Reset levels recorded at entry: Q25 of lows and Q75 of highs of the `20c` bars ending at
/// the entry bar (the current one).
pub fn reset_levels(v: &View<'_>, p: &Params, scratch: &mut Vec<f64>) -> (f64, f64) {
    let k = p.bars(20);
    (
        quantile(View::last(v.low, k), 0.25, scratch),
        quantile(View::last(v.high, k), 0.75, scratch),
    )
}

// ---------------------------------------------------------------------------------------------
// Phase 5: exits

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    FlowReversal,
    RangeBreak,
    CvdInvalidation,
    StructureBreak,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    High,
    Medium,
    Low,
}

/// What phase 5 knows about the open position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Held {
    /// +1 long, −1 short.
    pub direction: i8,
    /// Spot and perp flow since the entry bar.
    pub spot_flow: f64,
    pub perp_flow: f64,
    /// Reset levels recorded at entry.
    pub lo: f64,
    pub hi: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exit {
    pub reason: ExitReason,
    /// Flow reversal only; `Low` otherwise.
    pub severity: Severity,
}

pub fn phase5(v: &View<'_>, p: &Params, held: &Held, scratch: &mut Vec<f64>) -> Option<Exit> {
    let n = v.n();
    let c = p.scale;
    let long = held.direction > 0;
    // 1. Flow reversal.
    if n >= 20 * c {
        let (ds, dp) = (held.spot_flow, held.perp_flow);
        let mut noise = sstd(View::last(v.sf, 19 * c));
        if noise == 0.0 {
            noise = 1.0;
        }
        if ds.abs() > 0.5 * noise || dp.abs() > 0.5 * noise {
            let reversed = if long {
                ds < 0.0 && 0.0 < dp
            } else {
                dp < 0.0 && 0.0 < ds
            };
            if reversed {
                let spread = sstd(View::last(v.scvd, 20 * c));
                let sev = if spread > 0.0 {
                    (ds - dp).abs() / spread
                } else {
                    0.0
                };
                let severity = if sev > 3.0 {
                    Severity::High
                } else if sev > 1.5 {
                    Severity::Medium
                } else {
                    Severity::Low
                };
                return Some(Exit {
                    reason: ExitReason::FlowReversal,
                    severity,
                });
            }
        }
    }
    let close = v.close[n - 1];
    let exit = |reason| {
        Some(Exit {
            reason,
            severity: Severity::Low,
        })
    };
    // 2. Range break.
    if n >= 5 * c && ((long && close < held.lo) || (!long && close > held.hi)) {
        return exit(ExitReason::RangeBreak);
    }
    // 3. CVD invalidation.
    if n >= 20 * c {
        let l = (20 * c).min(n / 2).max(1);
        let m = (5 * c).min(n);
        let vals = [
            v.scvd[n - 1] - v.scvd[n - l],
            v.scvd[n - 1] - v.scvd[n - m],
            v.pcvd[n - 1] - v.pcvd[n - l],
            v.pcvd[n - 1] - v.pcvd[n - m],
        ];
        if (long && vals.iter().all(|x| *x < 0.0)) || (!long && vals.iter().all(|x| *x > 0.0)) {
            return exit(ExitReason::CvdInvalidation);
        }
    }
    // 4. Structure break.
    if n >= 21 * c {
        let before = n - 1 - 20 * c..n - 1;
        let (swing_low, _) = min_max(&v.low[before.clone()]);
        let (_, swing_high) = min_max(&v.high[before]);
        let k = (50 * c).min(n);
        scratch.clear();
        for i in n - k..n {
            scratch.push(v.high[i] - v.low[i]);
        }
        let typical = median_in_place(scratch);
        if (long && close < swing_low - typical) || (!long && close > swing_high + typical) {
            return exit(ExitReason::StructureBreak);
        }
    }
    None
}
