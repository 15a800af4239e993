//! Silent markets: a subscribed market whose trades stopped while its connection lives on.
//!
//! A venue that re-routes, renames or retires a stream usually keeps the connection open and
//! acknowledges the subscription; it just sends nothing for it (Binance USDⓈ-M since 2026:
//! `@trade` subscribed on `/market` is accepted and silent, issue 16). The staleness watchdog
//! cannot see that (other markets, liquidations, pings and acks keep the connection busy) and
//! continuity cannot either (no trade, no id, no gap). This detector, owned by the feed thread,
//! says it out loud.
//!
//! - **Arrival** is a trade of the market (market trades and id-only prints alike, duplicates
//!   included): [`Silence::trade`], one store per tick. Liquidations and open interest do not
//!   count: a venue may keep delivering them while the trade stream is lost.
//! - **Silent** when no trade arrived for the market's limit, counted from its last trade or,
//!   if later, from when its connection(s) last opened, while every connection carrying it is
//!   open and at least one of them received some frame (other markets' data, a ping, an ack)
//!   after that point. A market whose connection is down is the watchdog's and the
//!   reconnect's business, not this one's.
//! - **The limit** is `silent_after_s` for a market that has not yet shown how often it
//!   trades (fewer than [`MIN_GAPS`] gaps since start, including one that never traded), and
//!   otherwise the larger of `silent_after_s` and [`SILENT_FACTOR`] × its learnt gap. The
//!   learnt gap is Σg²/Σg over the recent gaps g between its trades (exponentially weighted,
//!   [`GAP_WEIGHT`]): the mean wait for the next trade as seen from a random moment. Bursts
//!   of trades milliseconds apart do not shrink it (they add almost nothing to either sum), so
//!   a market that trades in bursts minutes apart learns minutes, and an illiquid market is
//!   not reported for merely being illiquid. Gaps that span a reconnect or end a silent
//!   episode are not learnt.
//! - **Clears** when a trade arrives: the next timer sweep reports the market flowing again.
//!
//! Reports are [`Record::Silent`] and [`Record::Flowing`], sent the way gap records are (log,
//! gap journal, monitor). Markets that flow are never reported. No allocation after
//! [`Silence::new`]; no lock; the sweep ([`Silence::poll`]) runs on the feed thread's timer.

use crate::continuity::Record;
use crate::market::MarketIdx;

/// A market that has learnt its usual gap between trades is silent after this many of them
/// (and never before `silent_after_s`).
pub const SILENT_FACTOR: f64 = 10.0;
/// Gaps a market must have shown before its learnt gap is used (else `silent_after_s` alone).
pub const MIN_GAPS: u32 = 8;
/// Weight of each new gap in the learnt sums.
pub const GAP_WEIGHT: f64 = 1.0 / 32.0;
/// Gaps shorter than this (trades of one frame or one burst) are not learnt, ns.
const MIN_GAP_NS: u64 = 1_000_000;
/// Connections a market is tracked on (a venue may split one market's streams over two).
const MAX_CARRIERS: usize = 4;

#[derive(Debug, Clone, Copy)]
struct Watch {
    /// Subscriptions (of this feed thread) that carry the market; none: not ours.
    carriers: [u32; MAX_CARRIERS],
    n_carriers: u8,
    /// Last trade, ns (0: none since start or since its connection was lost).
    last_ns: u64,
    /// Exponentially weighted Σg and Σg² over the learnt gaps, s and s².
    m1: f64,
    m2: f64,
    gaps: u32,
    /// Traded at least once since start.
    traded: bool,
    /// Silent now: since when (the start of the quiet), and the limit that was passed.
    silent: bool,
    silent_from_ns: u64,
    /// A trade arrived while silent, at this time (reported by the next sweep).
    flowing_at_ns: u64,
    episodes: u64,
}

impl Watch {
    const NONE: Watch = Watch {
        carriers: [0; MAX_CARRIERS],
        n_carriers: 0,
        last_ns: 0,
        m1: 0.0,
        m2: 0.0,
        gaps: 0,
        traded: false,
        silent: false,
        silent_from_ns: 0,
        flowing_at_ns: 0,
        episodes: 0,
    };

    fn carriers(&self) -> &[u32] {
        &self.carriers[..usize::from(self.n_carriers)]
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Conn {
    /// When the connection last opened, ns (0: down).
    up_since_ns: u64,
    /// Last frame of any kind on it, ns.
    last_frame_ns: u64,
}

/// The silent-market detector of one feed thread (see the module docs).
#[derive(Debug)]
pub struct Silence {
    floor_ns: u64,
    markets: Vec<Watch>,
    conns: Vec<Conn>,
    silent_now: u32,
    episodes: u64,
}

impl Silence {
    /// `carriers[m]`: the subscriptions that carry market index `m` on this feed thread (empty:
    /// another thread's market, never watched); `subs`: the thread's subscription count.
    /// `floor_ns` is `silent_after_s`.
    pub fn new(floor_ns: u64, carriers: &[Vec<usize>], subs: usize) -> Silence {
        let markets = carriers
            .iter()
            .map(|c| {
                let mut w = Watch::NONE;
                for &s in c.iter().filter(|&&s| s < subs).take(MAX_CARRIERS) {
                    w.carriers[usize::from(w.n_carriers)] = s as u32;
                    w.n_carriers += 1;
                }
                w
            })
            .collect();
        Silence {
            floor_ns: floor_ns.max(1),
            markets,
            conns: vec![Conn::default(); subs],
            silent_now: 0,
            episodes: 0,
        }
    }

    /// Markets silent now.
    pub fn silent_now(&self) -> u32 {
        self.silent_now
    }

    /// Silent episodes since start, all markets.
    pub fn episodes(&self) -> u64 {
        self.episodes
    }

    /// Whether `market` is silent now.
    pub fn is_silent(&self, market: MarketIdx) -> bool {
        self.markets
            .get(market as usize)
            .is_some_and(|w| w.silent && w.flowing_at_ns == 0)
    }

    /// The limit `market` is held to now, ns.
    pub fn limit_ns(&self, market: MarketIdx) -> u64 {
        self.markets
            .get(market as usize)
            .map_or(self.floor_ns, |w| self.limit_of(w))
    }

    fn limit_of(&self, w: &Watch) -> u64 {
        if w.gaps < MIN_GAPS || w.m1 <= 0.0 {
            return self.floor_ns;
        }
        let learnt_s = w.m2 / w.m1 * SILENT_FACTOR;
        let learnt_ns = if learnt_s.is_finite() {
            (learnt_s * 1e9).min(u64::MAX as f64) as u64
        } else {
            u64::MAX
        };
        learnt_ns.max(self.floor_ns)
    }

    /// A trade of `market` arrived at `now_ns` (per tick: no allocation, a few stores).
    #[inline]
    pub fn trade(&mut self, market: MarketIdx, now_ns: u64) {
        let Some(w) = self.markets.get_mut(market as usize) else {
            return;
        };
        let last = w.last_ns;
        w.last_ns = now_ns.max(1);
        w.traded = true;
        if w.silent {
            if w.flowing_at_ns == 0 {
                w.flowing_at_ns = now_ns.max(1);
            }
            return; // the gap that ends an episode is not a usual one
        }
        if last == 0 || now_ns < last.saturating_add(MIN_GAP_NS) {
            return;
        }
        let g = (now_ns - last) as f64 * 1e-9;
        if w.gaps == 0 {
            (w.m1, w.m2) = (g, g * g);
        } else {
            w.m1 += (g - w.m1) * GAP_WEIGHT;
            w.m2 += (g * g - w.m2) * GAP_WEIGHT;
        }
        w.gaps = w.gaps.saturating_add(1);
    }

    /// A frame of any kind (data, ping, ack) arrived on subscription `sub` (per frame).
    #[inline]
    pub fn frame(&mut self, sub: usize, now_ns: u64) {
        if let Some(c) = self.conns.get_mut(sub) {
            c.last_frame_ns = now_ns;
        }
    }

    /// Subscription `sub` has an open connection again (subscribing from `now_ns`): the quiet
    /// of its markets is counted from here.
    pub fn connection_open(&mut self, sub: usize, now_ns: u64) {
        if let Some(c) = self.conns.get_mut(sub) {
            c.up_since_ns = now_ns.max(1);
        }
    }

    /// Subscription `sub` lost its connection: its markets are not judged until it is back,
    /// and the time it was down is no gap between trades.
    pub fn connection_lost(&mut self, sub: usize) {
        let Some(c) = self.conns.get_mut(sub) else {
            return;
        };
        c.up_since_ns = 0;
        for w in self.markets.iter_mut() {
            if w.carriers().contains(&(sub as u32)) {
                w.last_ns = 0;
            }
        }
    }

    /// The timer sweep: markets that went silent or flow again since the last one, as
    /// records for `emit` (no allocation).
    pub fn poll(&mut self, now_ns: u64, emit: &mut dyn FnMut(Record)) {
        for i in 0..self.markets.len() {
            let w = self.markets[i];
            if w.n_carriers == 0 {
                continue;
            }
            let market = i as MarketIdx;
            if w.silent {
                if w.flowing_at_ns != 0 {
                    let m = &mut self.markets[i];
                    m.silent = false;
                    m.flowing_at_ns = 0;
                    self.silent_now = self.silent_now.saturating_sub(1);
                    emit(Record::Flowing {
                        market,
                        silent_ms: w.flowing_at_ns.saturating_sub(w.silent_from_ns) / 1_000_000,
                        episode: w.episodes,
                    });
                }
                continue;
            }
            // Every connection carrying it is open; the quiet counts from the later of its
            // last trade and their opening; and something arrived on one of them since.
            let mut since = w.last_ns;
            let mut up = true;
            for &s in w.carriers() {
                let c = self.conns[s as usize];
                if c.up_since_ns == 0 {
                    up = false;
                    break;
                }
                since = since.max(c.up_since_ns);
            }
            if !up {
                continue;
            }
            let alive = w
                .carriers()
                .iter()
                .any(|&s| self.conns[s as usize].last_frame_ns > since);
            let quiet = now_ns.saturating_sub(since);
            let limit = self.limit_of(&w);
            if !alive || quiet < limit {
                continue;
            }
            let m = &mut self.markets[i];
            m.silent = true;
            m.silent_from_ns = since;
            m.episodes += 1;
            self.silent_now += 1;
            self.episodes += 1;
            emit(Record::Silent {
                market,
                quiet_ms: quiet / 1_000_000,
                limit_ms: limit / 1_000_000,
                traded: w.traded,
                episode: m.episodes,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;
    const FLOOR: u64 = 120 * S;

    /// Two markets on subscription 0, one on subscription 1, one not this thread's.
    fn watch() -> Silence {
        Silence::new(FLOOR, &[vec![0], vec![0], vec![1], vec![]], 2)
    }

    fn sweep(s: &mut Silence, now: u64) -> Vec<Record> {
        let mut out = Vec::new();
        s.poll(now, &mut |r| out.push(r));
        out
    }

    fn silent_markets(rs: &[Record]) -> Vec<MarketIdx> {
        rs.iter()
            .filter_map(|r| match r {
                Record::Silent { market, .. } => Some(*market),
                _ => None,
            })
            .collect()
    }

    /// Market 0 trades every `every` from `from` to `to`; frames on both subscriptions.
    fn flow(s: &mut Silence, market: MarketIdx, from: u64, to: u64, every: u64) {
        let mut t = from;
        while t <= to {
            s.trade(market, t);
            s.frame(0, t);
            s.frame(1, t);
            t += every;
        }
    }

    #[test]
    fn a_market_that_never_traded_is_silent_after_the_floor() {
        let mut s = watch();
        s.connection_open(0, S);
        // Market 1 flows on the same connection; market 0 never trades. Subscription 1
        // (market 2) never opened: not judged.
        flow(&mut s, 1, S, 200 * S, S / 2);
        assert!(sweep(&mut s, S + FLOOR - 1).is_empty());
        let rs = sweep(&mut s, S + FLOOR);
        assert_eq!(silent_markets(&rs), vec![0], "{rs:?}");
        match rs[0] {
            Record::Silent {
                quiet_ms,
                limit_ms,
                traded,
                episode,
                ..
            } => {
                assert_eq!(
                    (quiet_ms, limit_ms, traded, episode),
                    (120_000, 120_000, false, 1)
                );
            }
            ref r => panic!("{r:?}"),
        }
        assert!(s.is_silent(0));
        assert_eq!(s.silent_now(), 1);
        // Reported once per episode; the flowing market and the other thread's never.
        assert!(sweep(&mut s, 300 * S).is_empty());
        assert_eq!((s.silent_now(), s.episodes()), (1, 1));
    }

    #[test]
    fn a_flowing_market_is_never_reported() {
        let mut s = Silence::new(FLOOR, &[vec![0]], 1);
        s.connection_open(0, S);
        // Bursty but never quiet for long: trades every 50 ms with 100 s pauses.
        let mut t = S;
        for _ in 0..20 {
            flow(&mut s, 0, t, t + 5 * S, S / 20);
            t += 105 * S;
            for k in 0..10 {
                s.frame(0, t - 100 * S + k * 10 * S);
                assert!(sweep(&mut s, t - 100 * S + k * 10 * S).is_empty());
            }
        }
        assert_eq!((s.silent_now(), s.episodes()), (0, 0));
    }

    #[test]
    fn the_limit_scales_with_the_learnt_gap_between_trades() {
        // A market trading every 60 s (illiquid) learns a limit of about 10 × 60 s.
        let mut s = Silence::new(FLOOR, &[vec![0]], 1);
        s.connection_open(0, 1);
        let mut t = S;
        for _ in 0..40 {
            s.trade(0, t);
            t += 60 * S;
        }
        let last = t - 60 * S;
        let limit = s.limit_ns(0);
        assert!(
            (590 * S..=610 * S).contains(&limit),
            "limit {} s",
            limit as f64 / 1e9
        );
        // Frames keep arriving (other markets, pings): not silent after the floor, only after
        // its own limit.
        s.frame(0, last + 130 * S);
        assert!(sweep(&mut s, last + 130 * S).is_empty());
        s.frame(0, last + 500 * S);
        assert!(sweep(&mut s, last + 500 * S).is_empty());
        s.frame(0, last + 620 * S);
        assert_eq!(silent_markets(&sweep(&mut s, last + 620 * S)), vec![0]);

        // Trades in bursts (20 trades 10 ms apart) every 30 s: the bursts do not shrink what
        // it learns (the mean gap is 1.5 s; the wait it learns about 30 s).
        let mut s = Silence::new(FLOOR, &[vec![0]], 1);
        let mut t = S;
        for _ in 0..40 {
            for k in 0..20 {
                s.trade(0, t + k * 10_000_000);
            }
            t += 30 * S;
        }
        let burst_limit = s.limit_ns(0);
        assert!(
            (250 * S..=310 * S).contains(&burst_limit),
            "burst limit {} s",
            burst_limit as f64 / 1e9
        );

        // Too few gaps to judge: the floor.
        let mut s = Silence::new(FLOOR, &[vec![0]], 1);
        for k in 0..MIN_GAPS as u64 {
            s.trade(0, S + k * 600 * S);
        }
        assert_eq!(s.limit_ns(0), FLOOR, "{} gaps", MIN_GAPS - 1);
        s.trade(0, S + u64::from(MIN_GAPS) * 600 * S);
        assert!(s.limit_ns(0) > FLOOR);

        // A market trading every second stays at the floor.
        let mut s = Silence::new(FLOOR, &[vec![0]], 1);
        flow(&mut s, 0, S, 100 * S, S);
        assert_eq!(s.limit_ns(0), FLOOR);
    }

    #[test]
    fn it_clears_when_data_arrives_and_counts_episodes() {
        let mut s = Silence::new(5 * S, &[vec![0], vec![0]], 1);
        s.connection_open(0, S);
        // Market 0 trades every second (learns a limit of 10 s); market 1 never trades.
        flow(&mut s, 0, S, 20 * S, S);
        assert_eq!(silent_markets(&sweep(&mut s, 20 * S)), vec![1]);
        let ten = |l: u64| (9_900_000_000..=10_100_000_000).contains(&l);
        assert!(ten(s.limit_ns(0)), "{}", s.limit_ns(0));
        s.frame(0, 31 * S); // a ping
        let rs = sweep(&mut s, 31 * S);
        assert!(
            matches!(
                rs[..],
                [Record::Silent {
                    market: 0,
                    quiet_ms: 11_000,
                    traded: true,
                    episode: 1,
                    ..
                }]
            ),
            "{rs:?}"
        );
        // Market 0 trades again: flowing at the next sweep, with how long it was silent.
        s.trade(0, 45 * S);
        assert!(!s.is_silent(0));
        let rs = sweep(&mut s, 45 * S + 1);
        assert_eq!(
            rs,
            vec![Record::Flowing {
                market: 0,
                silent_ms: 25_000,
                episode: 1
            }]
        );
        assert_eq!(s.silent_now(), 1, "market 1 still silent");
        // The gap that ended the episode was not learnt.
        assert!(ten(s.limit_ns(0)), "{}", s.limit_ns(0));
        // Quiet again: a second episode.
        s.frame(0, 56 * S);
        let rs = sweep(&mut s, 56 * S);
        assert!(
            matches!(
                rs[..],
                [Record::Silent {
                    market: 0,
                    episode: 2,
                    ..
                }]
            ),
            "{rs:?}"
        );
        assert_eq!((s.silent_now(), s.episodes()), (2, 3));
    }

    #[test]
    fn not_while_the_connection_is_down_nor_while_nothing_arrives_on_it() {
        let mut s = Silence::new(10 * S, &[vec![0]], 1);
        // Never opened: nothing to judge.
        assert!(sweep(&mut s, 100 * S).is_empty());
        s.connection_open(0, 100 * S);
        s.trade(0, 101 * S);
        s.connection_lost(0);
        // Down for a long time, frames or not: not silent.
        s.frame(0, 200 * S);
        assert!(sweep(&mut s, 200 * S).is_empty());
        // Back: the quiet counts from the reopening, not from the last trade.
        s.connection_open(0, 300 * S);
        s.frame(0, 305 * S);
        assert!(sweep(&mut s, 309 * S).is_empty());
        // Open but nothing at all arrives after the last frame: the watchdog's business.
        s.trade(0, 306 * S);
        assert!(
            sweep(&mut s, 330 * S).is_empty(),
            "no frame since the trade"
        );
        s.frame(0, 331 * S);
        let rs = sweep(&mut s, 331 * S);
        assert!(
            matches!(
                rs[..],
                [Record::Silent {
                    market: 0,
                    quiet_ms: 25_000,
                    traded: true,
                    ..
                }]
            ),
            "{rs:?}"
        );
        // A market carried by two connections waits for both.
        let mut s = Silence::new(10 * S, &[vec![0, 1]], 2);
        s.connection_open(0, S);
        s.frame(0, 50 * S);
        assert!(sweep(&mut s, 50 * S).is_empty(), "second connection down");
        s.connection_open(1, 50 * S);
        s.frame(0, 61 * S);
        assert_eq!(silent_markets(&sweep(&mut s, 61 * S)), vec![0]);
    }
}
