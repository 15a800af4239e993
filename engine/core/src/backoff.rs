//! Retry delays: one exponential backoff for every reconnecting or retrying loop.
//!
//! [`reconnect`] is the feed's and the Redis sink's (250 ms, 500 ms, 1 s … 30 s, ±25 % jitter so
//! connections that failed together do not retry together); [`exponential`] is the bare doubling
//! that backfill's REST retries use with their own bounds. Only `std`: no clock, no allocation,
//! no randomness source beyond the caller's xorshift state, so it can sit on any thread.

use std::time::Duration;

/// First reconnect delay.
pub const RECONNECT_MIN: Duration = Duration::from_millis(250);
/// Reconnect delays stop doubling here (before jitter).
pub const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// `base · 2^attempt`, capped at `max` (`attempt` 0 gives `base`).
pub fn exponential(base: Duration, max: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1u32 << attempt.min(16)).min(max)
}

/// The wait after the `failures`-th failed attempt in a row (1, 2, …): [`RECONNECT_MIN`]
/// doubled per failure up to [`RECONNECT_MAX`], then spread by ±25 % drawn from `state`
/// (an xorshift64 state; any non-zero seed).
pub fn reconnect(failures: u32, state: &mut u64) -> Duration {
    let base = exponential(RECONNECT_MIN, RECONNECT_MAX, failures.saturating_sub(1));
    jitter(base, state)
}

/// `d` scaled by a factor in [0.75, 1.25) drawn from the xorshift64 `state`.
pub fn jitter(d: Duration, state: &mut u64) -> Duration {
    // xorshift64: cheap, good enough to spread reconnect storms.
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    let frac = (*state % 1000) as f64 / 1000.0; // 0..1
    d.mul_f64(0.75 + 0.5 * frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Failure count that puts [`reconnect`] at its cap (the feed's `HOPELESS_FAILURES`).
    const HOPELESS_FAILURES: u32 = 8;

    #[test]
    fn backoff_grows_and_caps() {
        let mut s = 42;
        let first = reconnect(1, &mut s);
        assert!(first >= Duration::from_millis(187) && first <= Duration::from_millis(313));
        let big = reconnect(30, &mut s);
        assert!(big <= RECONNECT_MAX.mul_f64(1.25) && big >= RECONNECT_MAX.mul_f64(0.75));
        let hopeless = reconnect(HOPELESS_FAILURES, &mut s);
        assert!(hopeless >= RECONNECT_MAX.mul_f64(0.75));
        let third = reconnect(3, &mut s);
        assert!(third >= Duration::from_millis(750) && third <= Duration::from_millis(1250));
    }

    #[test]
    fn exponential_doubles_from_base_and_caps() {
        let (base, max) = (Duration::from_millis(250), Duration::from_secs(10));
        let got: Vec<u128> = (0..8)
            .map(|a| exponential(base, max, a).as_millis())
            .collect();
        assert_eq!(got, [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
        // Huge attempt counts neither overflow nor pass the cap.
        assert_eq!(exponential(base, max, u32::MAX), max);
        assert_eq!(
            exponential(Duration::from_secs(1), Duration::MAX, u32::MAX),
            Duration::from_secs(1 << 16)
        );
    }

    #[test]
    fn failures_zero_is_the_first_delay_and_jitter_stays_in_its_band() {
        let mut s = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..1000 {
            let d = reconnect(0, &mut s);
            assert!(d >= RECONNECT_MIN.mul_f64(0.75) && d < RECONNECT_MIN.mul_f64(1.25));
        }
        // The same seed gives the same sequence (the state is the caller's).
        let (mut a, mut b) = (7u64, 7u64);
        let xs: Vec<Duration> = (1..10).map(|f| reconnect(f, &mut a)).collect();
        let ys: Vec<Duration> = (1..10).map(|f| reconnect(f, &mut b)).collect();
        assert_eq!(xs, ys);
    }
}
