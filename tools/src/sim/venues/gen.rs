//! The venue-neutral print generator: one seeded random walk per market with Poisson trades,
//! bursts, liquidations on derivatives and periodic open-interest readings.

use super::proto::{Print, PrintKind, SimMarket, Streams};
use feeds::instruments::Instruments;
use feeds::{MarketKind, Venue};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Price level, tick and base lot by base asset (BTC/ETH/SOL-like; others a 100-unit coin).
fn levels(base: &str) -> (f64, f64, f64) {
    match base {
        "BTC" => (65_000.0, 0.1, 0.001),
        "ETH" => (3_200.0, 0.01, 0.01),
        "SOL" => (150.0, 0.01, 0.1),
        _ => (100.0, 0.01, 1.0),
    }
}

/// The base asset of a venue symbol: `BTC-USDT-SWAP`, `btcusdt`, `tBTCUSD`, `PF_XBTUSD`,
/// `XBT/USD`, `BTC_USDT`, `BTCUSD_PERP` → `BTC`.
pub fn base_of(venue: Venue, symbol: &str) -> String {
    let mut s = symbol;
    if venue == Venue::Bitfinex {
        s = s.strip_prefix('t').unwrap_or(s);
    }
    for p in ["PF_", "PI_", "FI_", "FF_"] {
        s = s.strip_prefix(p).unwrap_or(s);
    }
    let head = s.split(['-', '_', '/', ':']).next().unwrap_or(s);
    let mut up = head.to_ascii_uppercase();
    for q in ["USDT", "USDC", "USD", "F0"] {
        if up.len() > q.len() && up.ends_with(q) {
            up.truncate(up.len() - q.len());
            break;
        }
    }
    if up == "XBT" {
        up = "BTC".to_owned();
    }
    up
}

/// The simulated market for `symbol` on `venue`: price grid from the base asset, the contract
/// spec from the bundled instruments, and a lot that is a whole number of contracts on linear
/// contract markets. Binance COIN-M symbols are taken in the venue's wire spelling
/// (`btcusd_perp` from a feed list becomes `BTCUSD_PERP`, as Binance writes `s` and lists
/// `contractSize`), so frames carry what the real venue sends and the contract spec is found.
pub fn market(venue: Venue, symbol: &str, instruments: &Instruments) -> SimMarket {
    let symbol = &wire_symbol(venue, symbol);
    let base = base_of(venue, symbol);
    let (_, tick, base_lot) = levels(&base);
    let spec = instruments.get(venue, symbol);
    let lot = match spec {
        Some(spec) if !spec.inverse => {
            let size = spec.size.to_f64();
            if size > 0.0 {
                size * (base_lot / size).ceil().max(1.0)
            } else {
                base_lot
            }
        }
        _ => base_lot,
    };
    SimMarket {
        venue,
        symbol: symbol.to_owned(),
        base,
        spec,
        tick,
        lot,
    }
}

/// How the generator behaves (a copy of the runtime config's market part).
#[derive(Debug, Clone, Copy)]
pub struct GenParams {
    pub trades_per_sec: f64,
    pub burst_prob: f64,
    pub burst_mult: f64,
    /// Liquidations per second per derivatives market outside bursts (×`burst_mult` in one).
    pub liquidations_per_sec: f64,
    /// Seconds between open-interest readings; zero disables them.
    pub oi_every_secs: f64,
}

/// One market's generator.
#[derive(Debug)]
pub struct MarketGen {
    /// This market's index in its venue's list (the prints' `market`).
    market: usize,
    rng: SmallRng,
    price: f64,
    tick: f64,
    lot: f64,
    derivative: bool,
    next_trade_id: u64,
    next_other_id: u64,
    /// Seconds left of the current burst, and its direction.
    burst_left: f64,
    burst_up: bool,
    /// Seconds until the next burst decision.
    second_left: f64,
    trade_wait: f64,
    liq_wait: f64,
    oi_wait: f64,
    oi: f64,
}

impl MarketGen {
    pub fn new(m: &SimMarket, seed: u64, index: usize) -> MarketGen {
        let mut h = seed ^ 0x9e37_79b9_7f4a_7c15;
        for b in m.venue.name().bytes().chain(m.symbol.bytes()) {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        let mut rng = SmallRng::seed_from_u64(h);
        let (level, _, _) = levels(&m.base);
        let price = (level * rng.gen_range(0.98..1.02) / m.tick).round() * m.tick;
        let derivative = match feeds::event::Symbol::new(m.symbol.as_bytes()) {
            Some(sym) => m.venue.market_kind(&sym) != MarketKind::Spot,
            None => m.venue.is_perp(),
        };
        MarketGen {
            market: index,
            next_trade_id: 1_000_000 * (index as u64 + 1) + rng.gen_range(0..1000),
            next_other_id: 1,
            price,
            tick: m.tick,
            lot: m.lot,
            derivative,
            burst_left: 0.0,
            burst_up: true,
            second_left: 0.0,
            trade_wait: 0.0,
            liq_wait: 0.0,
            oi_wait: 0.0,
            oi: level.recip() * 3.0e9 * rng.gen_range(0.9..1.1),
            rng,
        }
    }

    fn exp(&mut self, rate: f64) -> f64 {
        if rate <= 0.0 {
            return f64::INFINITY;
        }
        let u: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        -u.ln() / rate
    }

    fn qty(&mut self, big: bool) -> f64 {
        let u: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        let mut lots = (-u.ln() * 3.0).ceil().max(1.0);
        if big {
            lots *= 5.0;
        }
        lots * self.lot
    }

    fn step_price(&mut self) {
        let drift = if self.burst_left > 0.0 {
            if self.burst_up {
                0.6
            } else {
                -0.6
            }
        } else {
            0.0
        };
        let z: f64 = self.rng.gen_range(-1.0..1.0) + drift;
        let moved = self.price * (1.0 + z * 1e-4);
        self.price = ((moved / self.tick).round() * self.tick).max(self.tick);
    }

    /// Advances `dt` seconds ending at `now_us`, appending this market's prints. `wants` says
    /// which kinds anyone is subscribed to (trades always advance the walk). `budget` limits
    /// trades; returns the number of trades made.
    pub fn advance(
        &mut self,
        p: &GenParams,
        dt: f64,
        now_us: i64,
        wants: Streams,
        budget: &mut u64,
        out: &mut Vec<Print>,
    ) -> u64 {
        let market = self.market;
        let mut made = 0;
        let mut t = 0.0;
        loop {
            // The next event: a trade, a liquidation, an OI reading or a burst decision.
            let burst = self.burst_left > 0.0;
            let mult = if burst { p.burst_mult } else { 1.0 };
            if self.trade_wait <= 0.0 {
                self.trade_wait = self.exp(p.trades_per_sec * mult);
            }
            if self.liq_wait <= 0.0 {
                let rate = if self.derivative {
                    p.liquidations_per_sec * mult
                } else {
                    0.0
                };
                self.liq_wait = self.exp(rate);
            }
            if self.oi_wait <= 0.0 {
                self.oi_wait = if self.derivative && p.oi_every_secs > 0.0 {
                    p.oi_every_secs
                } else {
                    f64::INFINITY
                };
            }
            if self.second_left <= 0.0 {
                self.second_left = 1.0;
            }
            let next = self
                .trade_wait
                .min(self.liq_wait)
                .min(self.oi_wait)
                .min(self.second_left);
            if t + next > dt {
                let rest = dt - t;
                self.trade_wait -= rest;
                self.liq_wait -= rest;
                self.oi_wait -= rest;
                self.second_left -= rest;
                self.burst_left = (self.burst_left - rest).max(0.0);
                return made;
            }
            t += next;
            self.trade_wait -= next;
            self.liq_wait -= next;
            self.oi_wait -= next;
            self.second_left -= next;
            self.burst_left = (self.burst_left - next).max(0.0);
            let ts_us = now_us - ((dt - t) * 1e6) as i64;
            if self.second_left <= 0.0 && self.burst_left <= 0.0 {
                if self.rng.gen_bool(p.burst_prob.clamp(0.0, 1.0)) {
                    self.burst_left = 1.0;
                    self.burst_up = self.rng.gen_bool(0.5);
                }
            } else if self.trade_wait <= 0.0 {
                if *budget == 0 {
                    continue;
                }
                self.step_price();
                let up_bias = if burst && self.burst_up { 0.7 } else { 0.5 };
                let buy = if burst {
                    self.rng.gen_bool(if self.burst_up {
                        up_bias
                    } else {
                        1.0 - up_bias
                    })
                } else {
                    self.rng.gen_bool(0.5)
                };
                let qty = self.qty(false);
                *budget -= 1;
                made += 1;
                let id = self.next_trade_id;
                self.next_trade_id += 1;
                // Always pushed, so the trade history sees every trade; connections filter
                // by their own subscriptions.
                {
                    out.push(Print {
                        market,
                        kind: PrintKind::Trade,
                        buy,
                        price: self.price,
                        qty,
                        ts_us,
                        id,
                    });
                }
            } else if self.liq_wait <= 0.0 {
                // In a burst up, shorts are liquidated (forced buys).
                let buy = if burst {
                    self.burst_up
                } else {
                    self.rng.gen_bool(0.5)
                };
                let qty = self.qty(true);
                let id = self.next_other_id;
                self.next_other_id += 1;
                if wants.liquidations {
                    out.push(Print {
                        market,
                        kind: PrintKind::Liquidation,
                        buy,
                        price: self.price,
                        qty,
                        ts_us,
                        id,
                    });
                }
            } else if self.oi_wait <= 0.0 {
                let change: f64 = self.rng.gen_range(-0.002..0.002);
                self.oi = ((self.oi * (1.0 + change)) / self.lot).round().max(1.0) * self.lot;
                let id = self.next_other_id;
                self.next_other_id += 1;
                if wants.open_interest {
                    out.push(Print {
                        market,
                        kind: PrintKind::OpenInterest,
                        buy: true,
                        price: self.price,
                        qty: self.oi,
                        ts_us,
                        id,
                    });
                }
            }
        }
    }
}

/// `symbol` as the venue spells it in its frames: Binance COIN-M streams are subscribed in
/// lower case but every event's `s` is upper case.
fn wire_symbol(venue: Venue, symbol: &str) -> String {
    match venue {
        Venue::BinanceCoinm => symbol.to_ascii_uppercase(),
        _ => symbol.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coinm_feed_list_symbols_take_the_wire_spelling_and_their_spec() {
        let ins = Instruments::bundled();
        for s in ["btcusd_perp", "BTCUSD_PERP"] {
            let m = market(Venue::BinanceCoinm, s, &ins);
            assert_eq!(m.symbol, "BTCUSD_PERP");
            assert!(m.spec.is_some_and(|c| c.inverse), "{s}: no inverse spec");
        }
        // Other venues keep the spelling they were given (Huobi spot is lower case).
        assert_eq!(market(Venue::Huobi, "btcusdt", &ins).symbol, "btcusdt");
    }

    #[test]
    fn bases() {
        for (v, s) in [
            (Venue::OkxSwap, "BTC-USDT-SWAP"),
            (Venue::Huobi, "btcusdt"),
            (Venue::Bitfinex, "tBTCUSD"),
            (Venue::Bitfinex, "tBTCF0:USTF0"),
            (Venue::KrakenFutures, "PF_XBTUSD"),
            (Venue::KrakenSpot, "BTC/USD"),
            (Venue::GateFutures, "BTC_USDT"),
            (Venue::BinanceCoinm, "BTCUSD_PERP"),
            (Venue::Hyperliquid, "BTC"),
            (Venue::Bitmex, "XBTUSD"),
        ] {
            assert_eq!(base_of(v, s), "BTC", "{v} {s}");
        }
        assert_eq!(base_of(Venue::BybitLinear, "SOLUSDT"), "SOL");
    }

    #[test]
    fn linear_lots_are_whole_contracts_and_ids_contiguous() {
        let ins = Instruments::bundled();
        let m = market(Venue::GateFutures, "BTC_USDT", &ins);
        assert!(m.spec.is_some());
        let mut g = MarketGen::new(&m, 3, 0);
        let p = GenParams {
            trades_per_sec: 200.0,
            burst_prob: 0.2,
            burst_mult: 4.0,
            liquidations_per_sec: 2.0,
            oi_every_secs: 0.5,
        };
        let all = Streams {
            trades: true,
            liquidations: true,
            open_interest: true,
        };
        let mut out = Vec::new();
        let mut budget = u64::MAX;
        for i in 0..100 {
            g.advance(&p, 0.05, 1_000_000 + i * 50_000, all, &mut budget, &mut out);
        }
        let trades: Vec<&Print> = out.iter().filter(|p| p.kind == PrintKind::Trade).collect();
        assert!(trades.len() > 200, "{}", trades.len());
        assert!(out.iter().any(|p| p.kind == PrintKind::Liquidation));
        assert!(out.iter().any(|p| p.kind == PrintKind::OpenInterest));
        for w in trades.windows(2) {
            assert_eq!(w[1].id, w[0].id + 1);
            assert!(w[1].ts_us >= w[0].ts_us);
        }
        for t in &trades {
            let c = t.qty / 0.0001;
            assert!((c - c.round()).abs() < 1e-6, "{}", t.qty);
            let ticks = t.price / m.tick;
            assert!((ticks - ticks.round()).abs() < 1e-6);
        }
        let mut budget = 5;
        let mut out = Vec::new();
        let made = g.advance(&p, 10.0, 20_000_000, all, &mut budget, &mut out);
        assert_eq!(made, 5);
        assert_eq!(budget, 0);
    }
}
