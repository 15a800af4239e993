//! The simulators' trade history: every trade a generator makes, recorded when it is generated
//! (before any send-side fault), so the REST responder ([`super::RestServer`]) can serve the
//! venues' trade endpoints with exactly the values the WebSocket frames carried.
//!
//! One [`TradeHistory`] per simulator ([`super::Simulator::history`],
//! [`super::venues::VenueSim::history`]); it is a cheap handle (clone it freely). Each market
//! keeps at most [`HistoryConfig::max_per_market`] trades and, if set, only the last
//! [`HistoryConfig::max_age`] of exchange time; older trades fall off the front. The lock is
//! taken once per generator step and once per REST request, for a copy of the matching slice.

use super::venues::proto::{Print, PrintKind, SimMarket};
use feeds::Venue;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How much history each market keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryConfig {
    /// Most trades kept per market (the oldest go first). 0 records nothing.
    pub max_per_market: usize,
    /// Trades older than this (exchange time, relative to the market's newest) are dropped;
    /// `None` keeps whatever `max_per_market` allows.
    pub max_age: Option<Duration>,
}

impl Default for HistoryConfig {
    /// 10 000 trades per market, at most 1 hour (a demo's hundred markets then hold well
    /// under 100 MB).
    fn default() -> HistoryConfig {
        HistoryConfig {
            max_per_market: 10_000,
            max_age: Some(Duration::from_secs(3600)),
        }
    }
}

/// The aggTrade a Binance fill belongs to: `a`, the fill ids `f..=l` it covers and its `q`
/// (the sum of its fills), as the `aggTrade` frame has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AggRef {
    pub(crate) a: u64,
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) qty: String,
}

/// A Binance spot or USDⓈ-M `@trade` (one fill) as generated: the text of its fields as the
/// frame has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BinanceTrade {
    /// `t`.
    pub(crate) id: u64,
    /// The aggTrade it is part of (the fills of one taker order at one price share one);
    /// `None` for USDⓈ-M insurance-fund/ADL prints, which consume a `t` but are not aggregated.
    pub(crate) agg: Option<AggRef>,
    /// `T` (ms).
    pub(crate) time_ms: u64,
    /// `p` and `q` exactly as in the frame.
    pub(crate) price: String,
    pub(crate) qty: String,
    /// `m`.
    pub(crate) buyer_maker: bool,
}

/// A recorded market trade as [`TradeHistory::trades`] returns it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryTrade {
    /// The venue's trade id (`t` on Binance).
    pub id: u64,
    /// Exchange time, µs.
    pub ts_us: i64,
    pub price: f64,
    /// Base units.
    pub qty: f64,
    /// The taker bought.
    pub buy: bool,
}

/// One recorded trade.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rec {
    Binance(BinanceTrade),
    /// A multi-venue print (kind `Trade`); the market's protocol formats it.
    Print(Print),
}

impl Rec {
    /// Exchange time, µs.
    pub(crate) fn ts_us(&self) -> i64 {
        match self {
            Rec::Binance(t) => t.time_ms as i64 * 1000,
            Rec::Print(p) => p.ts_us,
        }
    }

    /// The venue's trade id (`t` on Binance).
    #[cfg(test)]
    pub(crate) fn id(&self) -> u64 {
        match self {
            Rec::Binance(t) => t.id,
            Rec::Print(p) => p.id,
        }
    }
}

#[derive(Debug)]
struct MarketHist {
    venue: Venue,
    symbol: String,
    /// The multi-venue simulator's market (its protocol needs it to format prints).
    market: Option<SimMarket>,
    trades: VecDeque<Rec>,
    /// Trades dropped off the front so far.
    evicted: u64,
}

#[derive(Debug)]
struct Inner {
    cfg: HistoryConfig,
    markets: Vec<MarketHist>,
}

/// A shared, bounded per-market trade history (see the module docs).
#[derive(Debug, Clone)]
pub struct TradeHistory {
    inner: Arc<Mutex<Inner>>,
}

impl Default for TradeHistory {
    fn default() -> TradeHistory {
        TradeHistory::new(HistoryConfig::default())
    }
}

impl TradeHistory {
    /// An empty history.
    pub fn new(cfg: HistoryConfig) -> TradeHistory {
        TradeHistory {
            inner: Arc::new(Mutex::new(Inner {
                cfg,
                markets: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a market and returns its index for [`TradeHistory::record`].
    pub(crate) fn register(&self, venue: Venue, symbol: &str, market: Option<SimMarket>) -> usize {
        let mut inner = self.lock();
        inner.markets.push(MarketHist {
            venue,
            symbol: symbol.to_owned(),
            market,
            trades: VecDeque::new(),
            evicted: 0,
        });
        inner.markets.len() - 1
    }

    /// Records trades, `(market index, trade)`, in generation order.
    pub(crate) fn record(&self, recs: impl IntoIterator<Item = (usize, Rec)>) {
        let mut inner = self.lock();
        let cfg = inner.cfg;
        for (i, rec) in recs {
            if cfg.max_per_market == 0 {
                return;
            }
            let Some(m) = inner.markets.get_mut(i) else {
                continue;
            };
            let newest = rec.ts_us();
            m.trades.push_back(rec);
            while m.trades.len() > cfg.max_per_market {
                m.trades.pop_front();
                m.evicted += 1;
            }
            if let Some(age) = cfg.max_age {
                let cutoff = newest.saturating_sub(age.as_micros().min(i64::MAX as u128) as i64);
                while m.trades.front().is_some_and(|t| t.ts_us() < cutoff) {
                    m.trades.pop_front();
                    m.evicted += 1;
                }
            }
        }
    }

    /// Records the trade prints of one multi-venue generator step; `base` is the index of the
    /// venue's first market (`Print::market` is relative to it).
    pub(crate) fn record_prints(&self, base: usize, prints: &[Print]) {
        self.record(
            prints
                .iter()
                .filter(|p| p.kind == PrintKind::Trade)
                .map(|p| (base + p.market, Rec::Print(*p))),
        );
    }

    /// Whether `venue` has a market named `symbol` here.
    pub(crate) fn has(&self, venue: Venue, symbol: &str) -> bool {
        self.lock()
            .markets
            .iter()
            .any(|m| m.venue == venue && m.symbol == symbol)
    }

    /// The symbols of `venue` recorded here.
    pub(crate) fn symbols(&self, venue: Venue) -> Vec<String> {
        self.lock()
            .markets
            .iter()
            .filter(|m| m.venue == venue)
            .map(|m| m.symbol.clone())
            .collect()
    }

    /// The multi-venue simulator's markets of `venue` recorded here (for instrument lists).
    pub(crate) fn sim_markets(&self, venue: Venue) -> Vec<SimMarket> {
        self.lock()
            .markets
            .iter()
            .filter(|m| m.venue == venue)
            .filter_map(|m| m.market.clone())
            .collect()
    }

    /// Runs `f` over `venue`/`symbol`'s market spec (multi-venue markets) and trades (oldest
    /// first) under the lock; `f` copies out what it needs. `None` if the market is unknown.
    pub(crate) fn with<R>(
        &self,
        venue: Venue,
        symbol: &str,
        f: impl FnOnce(Option<&SimMarket>, &VecDeque<Rec>) -> R,
    ) -> Option<R> {
        let inner = self.lock();
        let m = inner
            .markets
            .iter()
            .find(|m| m.venue == venue && m.symbol == symbol)?;
        Some(f(m.market.as_ref(), &m.trades))
    }

    /// Every market trade held for `venue`/`symbol`, oldest first, as plain values (for tests
    /// that compute reference bars): Binance insurance-fund/ADL prints are left out.
    pub fn trades(&self, venue: Venue, symbol: &str) -> Vec<HistoryTrade> {
        self.with(venue, symbol, |_, trades| {
            trades
                .iter()
                .filter_map(|r| match r {
                    Rec::Binance(t) if venue == Venue::BinanceUsdm && t.agg.is_none() => None,
                    Rec::Binance(t) => Some(HistoryTrade {
                        id: t.id,
                        ts_us: t.time_ms as i64 * 1000,
                        price: t.price.parse().unwrap_or(f64::NAN),
                        qty: t.qty.parse().unwrap_or(f64::NAN),
                        buy: !t.buyer_maker,
                    }),
                    Rec::Print(p) => Some(HistoryTrade {
                        id: p.id,
                        ts_us: p.ts_us,
                        price: p.price,
                        qty: p.qty,
                        buy: p.buy,
                    }),
                })
                .collect()
        })
        .unwrap_or_default()
    }

    /// Trades currently held for `venue`/`symbol` (0 if unknown).
    pub fn len(&self, venue: Venue, symbol: &str) -> usize {
        self.lock()
            .markets
            .iter()
            .find(|m| m.venue == venue && m.symbol == symbol)
            .map_or(0, |m| m.trades.len())
    }

    /// Whether no market holds any trade.
    pub fn is_empty(&self) -> bool {
        self.lock().markets.iter().all(|m| m.trades.is_empty())
    }

    /// Trades dropped for the bounds so far, over all markets.
    pub fn evicted(&self) -> u64 {
        self.lock().markets.iter().map(|m| m.evicted).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bt(id: u64, ms: u64) -> Rec {
        Rec::Binance(BinanceTrade {
            id,
            agg: Some(AggRef {
                a: id,
                first: id,
                last: id,
                qty: "2".into(),
            }),
            time_ms: ms,
            price: "1.00".into(),
            qty: "2".into(),
            buyer_maker: false,
        })
    }

    #[test]
    fn bounded_by_count_and_age() {
        let h = TradeHistory::new(HistoryConfig {
            max_per_market: 3,
            max_age: Some(Duration::from_secs(10)),
        });
        let a = h.register(Venue::BinanceSpot, "BTCUSDT", None);
        let b = h.register(Venue::BinanceUsdm, "BTCUSDT", None);
        h.record((1..=5).map(|i| (a, bt(i, i * 1000))));
        assert_eq!(h.len(Venue::BinanceSpot, "BTCUSDT"), 3);
        let ids = h
            .with(Venue::BinanceSpot, "BTCUSDT", |_, t| {
                t.iter().map(Rec::id).collect::<Vec<_>>()
            })
            .unwrap();
        assert_eq!(ids, [3, 4, 5]);
        h.record([(b, bt(1, 1_000)), (b, bt(2, 20_000))]);
        assert_eq!(
            h.len(Venue::BinanceUsdm, "BTCUSDT"),
            1,
            "older than 10 s dropped"
        );
        assert_eq!(h.evicted(), 3);
        assert!(h.with(Venue::BinanceSpot, "ETHUSDT", |_, _| ()).is_none());
        assert!(h.has(Venue::BinanceUsdm, "BTCUSDT"));
    }
}
