//! Small numeric helpers over slices, allocation-free (callers pass scratch space where a
//! copy is needed). Empty inputs give 0 (means, deviations) so that callers' guards decide.

/// Arithmetic mean; 0 for an empty slice.
#[inline]
pub fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    x.iter().sum::<f64>() / x.len() as f64
}

/// Population standard deviation; 0 for an empty slice.
pub fn pstd(x: &[f64]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let m = mean(x);
    (x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / x.len() as f64).sqrt()
}

/// Sample standard deviation (n − 1); 0 for fewer than two values.
pub fn sstd(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return 0.0;
    }
    let m = mean(x);
    (x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len() - 1) as f64).sqrt()
}

/// Least-squares slope of `y` against x = 0…len−1; 0 for fewer than two values.
pub fn slope(y: &[f64]) -> f64 {
    let n = y.len();
    if n < 2 {
        return 0.0;
    }
    let nf = n as f64;
    let mx = (nf - 1.0) / 2.0;
    let my = mean(y);
    let mut num = 0.0;
    let mut den = 0.0;
    for (i, v) in y.iter().enumerate() {
        let dx = i as f64 - mx;
        num += dx * (v - my);
        den += dx * dx;
    }
    num / den
}

/// The `q` quantile (0…1) with linear interpolation between order statistics (numpy's
/// default), computed in `scratch` (resized within its capacity by the caller's choice).
/// NaN for an empty input.
pub fn quantile(x: &[f64], q: f64, scratch: &mut Vec<f64>) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    scratch.clear();
    scratch.extend_from_slice(x);
    scratch.sort_unstable_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (scratch.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    scratch[lo] + (scratch[hi] - scratch[lo]) * frac
}

/// Median of `x` (linear interpolation for an even count), reordering it in place with two
/// selections instead of a sort (NaN when empty).
pub fn median_in_place(x: &mut [f64]) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    let n = x.len();
    let lo = (n - 1) / 2;
    let (_, &mut a, upper) = x.select_nth_unstable_by(lo, f64::total_cmp);
    if n % 2 == 1 {
        return a;
    }
    let b = upper.iter().copied().fold(f64::INFINITY, f64::min);
    a + (b - a) * 0.5
}

/// Minimum and maximum; (+inf, −inf) for an empty slice.
#[inline]
pub fn min_max(x: &[f64]) -> (f64, f64) {
    x.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// −1, 0 or +1.
#[inline]
pub fn sign(v: f64) -> i8 {
    if v > 0.0 {
        1
    } else if v < 0.0 {
        -1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments() {
        let x = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert_eq!(mean(&x), 5.0);
        assert_eq!(pstd(&x), 2.0);
        assert!((sstd(&x) - 2.138_089_935_299_395).abs() < 1e-12);
        assert_eq!(mean(&[]), 0.0);
        assert_eq!(sstd(&[1.0]), 0.0);
    }

    #[test]
    fn slope_of_a_line_and_noise() {
        assert!((slope(&[1.0, 3.0, 5.0, 7.0]) - 2.0).abs() < 1e-12);
        assert!((slope(&[5.0, 4.0, 3.0]) + 1.0).abs() < 1e-12);
        assert_eq!(slope(&[3.0]), 0.0);
        // numpy.polyfit([0,1,2,3],[1,0,3,2],1)[0] = 0.6
        assert!((slope(&[1.0, 0.0, 3.0, 2.0]) - 0.6).abs() < 1e-12);
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let mut s = Vec::with_capacity(8);
        // numpy.quantile([1,2,3,4], [.25,.5,.75]) = [1.75, 2.5, 3.25]
        let x = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(&x, 0.25, &mut s), 1.75);
        assert_eq!(median_in_place(&mut x.clone()), 2.5);
        assert_eq!(quantile(&x, 0.75, &mut s), 3.25);
        assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), 2.0);
        assert!(quantile(&[], 0.5, &mut s).is_nan());
    }

    #[test]
    fn min_max_and_sign() {
        assert_eq!(min_max(&[3.0, -1.0, 2.0]), (-1.0, 3.0));
        assert_eq!(sign(-0.1), -1);
        assert_eq!(sign(0.0), 0);
        assert_eq!(sign(2.0), 1);
    }
}
