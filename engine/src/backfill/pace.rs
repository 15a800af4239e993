//! Per-host request pacing: a token bucket per venue REST host, set well under each venue's
//! published public limit (the rates live in each venue's `feeds` `SPEC`, `rest_pace`), plus the "do not call before" time a rate-limit answer orders.
//!
//! Limits (public, per IP) and what we use:
//! - `api.binance.com`: 6000 request weight per minute (`exchangeInfo` `REQUEST_WEIGHT`),
//!   `aggTrades` weighs 4 → at most 1500/min; we send ≤ 5/s (1200 weight/min).
//! - `fapi.binance.com`, `dapi.binance.com`: 2400 weight per minute, `aggTrades` weighs 20 →
//!   at most 120/min; we send ≤ 1/s (60/min).
//! - `api.bybit.com`: 600 requests per 5 s per IP; we send ≤ 10/s.
//! - `www.okx.com`: `history-trades` 20 requests per 2 s (IP); we send ≤ 5/s.
//! - `api.exchange.coinbase.com`: public endpoints 10 requests/s per IP, bursts of 15; ≤ 5/s.
//! - `api.kraken.com`: public calls about 1 per second per IP; ≤ 1/s.
//! - `www.bitmex.com`: 30 requests per minute unauthenticated; ≤ 0.4/s (24/min).
//! - `www.deribit.com`: non-matching-engine credits, 500 per request, refill 10 000/s, pool
//!   50 000 (≈ 20/s, burst 100); ≤ 10/s.
//! - `api-pub.bitfinex.com`: "between 10 and 90" requests per minute per endpoint, then a
//!   10–60 s block (`ERR_RATE_LIMIT`); ≤ 10/min.

use feeds::Venue;
use std::time::{Duration, Instant};

/// A token bucket's refill rate and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests per second, sustained.
    pub per_sec: f64,
    /// Requests that may go back to back after an idle spell.
    pub burst: f64,
}

/// Our pacing for `venue`'s REST host (see the module docs for the sources).
pub fn rate_limit(venue: Venue) -> RateLimit {
    let feeds::registry::RestPace { per_sec, burst } = venue.spec().rest_pace;
    RateLimit { per_sec, burst }
}

/// One host's bucket.
#[derive(Debug, Clone)]
pub struct Bucket {
    limit: RateLimit,
    tokens: f64,
    last: Instant,
    /// A rate-limit answer said not to call before this.
    blocked_until: Option<Instant>,
}

impl Bucket {
    /// A full bucket.
    pub fn new(limit: RateLimit, now: Instant) -> Bucket {
        Bucket {
            limit,
            tokens: limit.burst,
            last: now,
            blocked_until: None,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.limit.per_sec).min(self.limit.burst);
        self.last = now;
    }

    /// How long to wait before the next request may go (zero = now).
    pub fn delay(&mut self, now: Instant) -> Duration {
        self.refill(now);
        let blocked = self
            .blocked_until
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
        let tokens = if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.limit.per_sec)
        };
        blocked.max(tokens)
    }

    /// Spend one token (call when [`Bucket::delay`] is zero).
    pub fn take(&mut self, now: Instant) {
        self.refill(now);
        self.tokens -= 1.0;
    }

    /// No request before `until` (a `Retry-After`).
    pub fn block_until(&mut self, until: Instant) {
        self.blocked_until = Some(self.blocked_until.map_or(until, |t| t.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_paces_after_its_burst() {
        let t0 = Instant::now();
        let mut b = Bucket::new(
            RateLimit {
                per_sec: 2.0,
                burst: 2.0,
            },
            t0,
        );
        for _ in 0..2 {
            assert_eq!(b.delay(t0), Duration::ZERO);
            b.take(t0);
        }
        assert_eq!(b.delay(t0), Duration::from_millis(500));
        let later = t0 + Duration::from_millis(500);
        assert_eq!(b.delay(later), Duration::ZERO);
        b.block_until(later + Duration::from_secs(3));
        assert_eq!(b.delay(later), Duration::from_secs(3));
    }

    #[test]
    fn every_backfill_venue_has_a_positive_rate_and_burst() {
        for v in Venue::ALL
            .iter()
            .copied()
            .filter(|v| feeds::rest::supported(*v))
        {
            let l = rate_limit(v);
            assert!(l.per_sec > 0.0 && l.burst >= 1.0, "{v}");
        }
    }
}
