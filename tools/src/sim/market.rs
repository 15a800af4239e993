//! The synthetic market: one seeded generator per symbol that writes Binance spot and USDⓈ-M
//! `trade`, `aggTrade` and `forceOrder` payloads byte for byte in the exchange's own layout.
//!
//! Each generator runs on a virtual clock that only advances while somebody is subscribed to
//! the symbol, so what it produces depends on the seed and on which markets are live, never on
//! how the pump thread happens to be scheduled (only the `E`/`T` wall-clock stamps do).
//! The model is deliberately simple: a log random walk for the mid price shared by spot and the
//! perpetual (which trades at a small basis), Poisson trade arrivals per market, and "burst"
//! seconds at several times the rate with a directional drift, during which the perpetual
//! prints liquidations of the side being squeezed.

use super::history::{AggRef, BinanceTrade};
use super::SimVenue;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::fmt::{self, Write as _};

/// Volatility of the mid price per √second outside bursts (3 bp).
const SIGMA: f64 = 0.0003;
/// Bursts move faster…
const BURST_SIGMA_MULT: f64 = 3.0;
/// …and in one direction: drift per second while a burst lasts (15 bp/s).
const BURST_DRIFT: f64 = 0.0015;
/// Pull back towards the start price per second, so long runs stay at realistic levels.
const REVERSION: f64 = 0.001;
/// Perpetual premium over spot.
const BASIS: f64 = 0.0004;
/// Chance that a perpetual trade during a burst second sets off that second's liquidation.
const LIQUIDATION_PROB: f64 = 0.3;
/// How far a liquidation's IOC limit price sits beyond its average fill price.
const LIQUIDATION_SLIPPAGE: f64 = 0.004;
/// Share of trades that are ten times the usual size (the fat tail of trade sizes).
const BLOCK_PROB: f64 = 0.05;
/// Share of perpetual taker orders that sweep several resting orders at one price: several
/// `@trade` fills (consecutive `t`), one `aggTrade` with `f..=l` covering them. Spot orders
/// stay single fills here: the engine reads spot `@trade` and backfills from `aggTrades`, and
/// an aggregate whose fills were only partly lost cannot be taken back without counting the
/// delivered ones twice (a limit of that REST endpoint, not simulated).
const MULTI_FILL_PROB: f64 = 0.3;
/// Most fills one such taker order makes.
const MAX_FILLS: u64 = 5;

/// The kinds of stream the simulator serves, in stream-id order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamKind {
    Trade = 0,
    AggTrade = 1,
    ForceOrder = 2,
}

impl StreamKind {
    pub(crate) const ALL: [StreamKind; 3] = [
        StreamKind::Trade,
        StreamKind::AggTrade,
        StreamKind::ForceOrder,
    ];

    /// The part of the stream name after `@`, exactly as Binance spells it.
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            StreamKind::Trade => "trade",
            StreamKind::AggTrade => "aggTrade",
            StreamKind::ForceOrder => "forceOrder",
        }
    }

    /// Whether this stream exists on the venue (spot has no liquidation stream).
    pub(crate) fn served_on(self, venue: SimVenue) -> bool {
        !(self == StreamKind::ForceOrder && venue == SimVenue::Spot)
    }
}

/// Exchange filters of one market, in integer units of `10^-decimals`.
#[derive(Debug, Clone, Copy)]
struct Filters {
    /// Decimals the exchange prints prices with (spot always prints 8).
    price_dec: u32,
    /// Price tick in units of `10^-price_dec`.
    tick: u64,
    qty_dec: u32,
    /// Quantity step in units of `10^-qty_dec`.
    step: u64,
    /// Mean trade size in steps.
    mean_steps: f64,
}

impl Filters {
    /// The tick as a number.
    fn tick_value(self) -> f64 {
        self.tick as f64 / 10f64.powi(self.price_dec as i32)
    }

    /// `price` rounded to the tick, in units of `10^-price_dec` (at least one tick).
    fn price_units(self, price: f64) -> u64 {
        let ticks = (price / self.tick_value()).round().max(1.0);
        ticks as u64 * self.tick
    }
}

/// A symbol's two markets and where its price starts.
#[derive(Debug, Clone)]
pub(crate) struct SymbolSpec {
    /// `BTCUSDT`, as it appears in payloads.
    pub(crate) upper: String,
    /// `btcusdt`, as it appears in stream names.
    pub(crate) lower: String,
    start: f64,
    spot: Filters,
    perp: Filters,
}

impl SymbolSpec {
    /// The spec for a symbol: Binance's real filters for the well-known ones, plausible
    /// generic ones (a 100 USDT coin) otherwise. `symbol` must already be validated.
    pub(crate) fn new(symbol: &str) -> SymbolSpec {
        let upper = symbol.to_ascii_uppercase();
        // Spot prints every price and quantity with 8 decimals whatever the filters are.
        let spot = |tick_cents: u64, step_e8: u64, mean_steps: f64| Filters {
            price_dec: 8,
            tick: tick_cents * 1_000_000,
            qty_dec: 8,
            step: step_e8,
            mean_steps,
        };
        let (start, spot, perp) = match upper.as_str() {
            "BTCUSDT" => (
                65_000.0,
                spot(1, 1_000, 500.0),
                Filters {
                    price_dec: 2,
                    tick: 10,
                    qty_dec: 3,
                    step: 1,
                    mean_steps: 50.0,
                },
            ),
            "ETHUSDT" => (
                3_200.0,
                spot(1, 10_000, 1_000.0),
                Filters {
                    price_dec: 2,
                    tick: 1,
                    qty_dec: 3,
                    step: 1,
                    mean_steps: 500.0,
                },
            ),
            "SOLUSDT" => (
                150.0,
                spot(1, 100_000, 2_000.0),
                Filters {
                    price_dec: 4,
                    tick: 100,
                    qty_dec: 0,
                    step: 1,
                    mean_steps: 5.0,
                },
            ),
            _ => (
                100.0,
                spot(1, 100_000, 1_000.0),
                Filters {
                    price_dec: 2,
                    tick: 1,
                    qty_dec: 3,
                    step: 1,
                    mean_steps: 1_000.0,
                },
            ),
        };
        SymbolSpec {
            lower: upper.to_ascii_lowercase(),
            upper,
            start,
            spot,
            perp,
        }
    }

    /// `(tickSize, stepSize)` of the spot or USDⓈ-M market as exchangeInfo writes them
    /// (spot with 8 decimals, USDⓈ-M with the market's own), for the REST `exchangeInfo`.
    pub(crate) fn exchange_filters(&self, futures: bool) -> (String, String) {
        let f = if futures { self.perp } else { self.spot };
        let text = |units: u64, dec: u32| {
            let div = 10u64.pow(dec);
            if dec == 0 {
                units.to_string()
            } else {
                format!("{}.{:0w$}", units / div, units % div, w = dec as usize)
            }
        };
        (text(f.tick, f.price_dec), text(f.step, f.qty_dec))
    }

    fn filters(&self, venue: SimVenue) -> Filters {
        match venue {
            SimVenue::Spot => self.spot,
            SimVenue::Futures => self.perp,
        }
    }
}

/// The knobs of the model that come from the simulator's configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GenParams {
    pub(crate) seed: u64,
    /// Mean trades per second per market outside bursts.
    pub(crate) trades_per_sec: f64,
    /// Chance that a given (virtual) second is a burst.
    pub(crate) burst_prob: f64,
    /// Rate multiplier during a burst.
    pub(crate) burst_mult: f64,
    /// Chance that a perpetual `@trade` is an insurance-fund or ADL print.
    pub(crate) non_market_prob: f64,
}

/// Which streams of a symbol have at least one subscriber, by venue and stream kind.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Demand {
    pub(crate) wants: [[bool; 3]; 2],
}

impl Demand {
    fn wants(&self, venue: SimVenue, kind: StreamKind) -> bool {
        self.wants[venue as usize][kind as usize]
    }

    fn market_live(&self, venue: SimVenue) -> bool {
        self.wants[venue as usize].iter().any(|&w| w)
    }
}

/// What one call to [`Generator::advance`] produced, by venue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Generated {
    /// Trades (fills, one `@trade` each; market and non-market) generated, whether or not
    /// anyone wanted the frames.
    pub(crate) trades: [u64; 2],
    /// Liquidations generated on the perpetual.
    pub(crate) liquidations: u64,
}

#[derive(Debug, Clone, Copy)]
struct MarketState {
    /// Virtual time of this market's next trade.
    next_at: f64,
    /// `t` of the next trade: contiguous per symbol per venue, as gap detection expects.
    trade_id: u64,
    /// `a` of the next aggTrade.
    agg_id: u64,
    /// The virtual second of the last liquidation (Binance pushes at most one per second).
    last_liquidation: Option<u64>,
}

/// The seeded generator of one symbol (both its markets).
#[derive(Debug)]
pub(crate) struct Generator {
    spec: SymbolSpec,
    params: GenParams,
    rng: SmallRng,
    mid: f64,
    /// Virtual seconds this symbol has been live.
    clock: f64,
    /// Virtual time of the last price step.
    last_step: f64,
    /// The current virtual second and whether it is a burst (and which way: ±1, 0 if none).
    second: u64,
    trend: f64,
    /// Recent direction of the walk; biases the taker side.
    momentum: f64,
    markets: [MarketState; 2],
    /// Trades generated since the pump last took them, for the trade history.
    recorded: Vec<(SimVenue, BinanceTrade)>,
}

impl Generator {
    pub(crate) fn new(spec: SymbolSpec, params: GenParams) -> Generator {
        let mut rng = SmallRng::seed_from_u64(params.seed ^ fnv1a(spec.upper.as_bytes()));
        let market = |rng: &mut SmallRng| MarketState {
            next_at: 0.0,
            trade_id: rng.gen_range(1_000_000_000..5_000_000_000),
            agg_id: rng.gen_range(100_000_000..2_000_000_000),
            last_liquidation: None,
        };
        let markets = [market(&mut rng), market(&mut rng)];
        let mut g = Generator {
            mid: spec.start,
            spec,
            params,
            rng,
            clock: 0.0,
            last_step: 0.0,
            second: 0,
            trend: 0.0,
            momentum: 0.0,
            markets,
            recorded: Vec::new(),
        };
        g.start_second();
        for venue in [SimVenue::Spot, SimVenue::Futures] {
            g.markets[venue as usize].next_at = g.gap();
        }
        g
    }

    /// Runs the symbol `dt` seconds forward (if anyone wants it) and hands every payload a
    /// subscriber asked for to `emit`, in exchange order. `budget` is the number of trades
    /// (fills) the simulator may still generate; it is decremented and generation stops at zero.
    pub(crate) fn advance(
        &mut self,
        dt: f64,
        demand: &Demand,
        now_ms: u64,
        budget: &mut u64,
        emit: &mut dyn FnMut(SimVenue, StreamKind, String),
    ) -> Generated {
        let mut made = Generated::default();
        let live = [SimVenue::Spot, SimVenue::Futures].map(|v| demand.market_live(v));
        if !live.iter().any(|&l| l) {
            // Nobody listens: time stands still, so a late subscriber misses nothing.
            return made;
        }
        let target = self.clock + dt;
        for (state, &live) in self.markets.iter_mut().zip(&live) {
            if !live {
                // A market nobody watches does not trade; it must not build up a backlog either.
                state.next_at = state.next_at.max(target);
            }
        }
        while *budget > 0 {
            let venue =
                if !live[1] || (live[0] && self.markets[0].next_at <= self.markets[1].next_at) {
                    SimVenue::Spot
                } else {
                    SimVenue::Futures
                };
            let at = self.markets[venue as usize].next_at;
            if at > target {
                break;
            }
            self.step_to(at);
            let (fills, liquidated) = self.trade(venue, demand, now_ms, *budget, emit);
            *budget -= fills;
            made.trades[venue as usize] += fills;
            if liquidated {
                made.liquidations += 1;
            }
            let gap = self.gap();
            self.markets[venue as usize].next_at = at + gap;
        }
        self.clock = target;
        made
    }

    /// The symbol as payloads write it (`BTCUSDT`).
    pub(crate) fn symbol(&self) -> &str {
        &self.spec.upper
    }

    /// The trades generated since the last call (every one, wanted by a subscriber or not).
    pub(crate) fn take_recorded(&mut self) -> std::vec::Drain<'_, (SimVenue, BinanceTrade)> {
        self.recorded.drain(..)
    }

    /// Waiting time to the next trade of a market at the current rate.
    fn gap(&mut self) -> f64 {
        let mult = if self.trend != 0.0 {
            self.params.burst_mult
        } else {
            1.0
        };
        let rate = self.params.trades_per_sec * mult;
        if rate <= 0.0 {
            return f64::INFINITY;
        }
        let u: f64 = self.rng.gen();
        -(1.0 - u).ln() / rate
    }

    /// Decides whether the current virtual second is a burst, and its direction.
    fn start_second(&mut self) {
        let burst = self.rng.gen::<f64>() < self.params.burst_prob;
        let up = self.rng.gen::<bool>();
        self.trend = match (burst, up) {
            (false, _) => 0.0,
            (true, true) => 1.0,
            (true, false) => -1.0,
        };
    }

    /// Moves the mid price along the walk to virtual time `at`.
    fn step_to(&mut self, at: f64) {
        while at >= (self.second + 1) as f64 {
            self.second += 1;
            self.start_second();
        }
        let dt = (at - self.last_step).max(0.0);
        self.last_step = at;
        // A uniform draw scaled to unit variance: cheap, and the sum over many steps is normal.
        let z = (self.rng.gen::<f64>() * 2.0 - 1.0) * 3f64.sqrt();
        let (sigma, drift) = if self.trend != 0.0 {
            (SIGMA * BURST_SIGMA_MULT, self.trend * BURST_DRIFT)
        } else {
            (SIGMA, 0.0)
        };
        let pull = -REVERSION * (self.mid / self.spec.start).ln();
        self.mid *= ((drift + pull) * dt + sigma * dt.sqrt() * z).exp();
        self.momentum = 0.8 * self.momentum + 0.2 * (z + 2.0 * self.trend);
    }

    /// One taker order on `venue` at the current mid: one fill, or several (at most
    /// `budget`) at the same price, each a `@trade` with the next `t`, together one `aggTrade`
    /// with the next `a` and `f..=l` = their ids. Returns the fills made and whether it also
    /// set off a liquidation.
    fn trade(
        &mut self,
        venue: SimVenue,
        demand: &Demand,
        now_ms: u64,
        budget: u64,
        emit: &mut dyn FnMut(SimVenue, StreamKind, String),
    ) -> (u64, bool) {
        let f = self.spec.filters(venue);
        let perp = venue == SimVenue::Futures;
        let price = if perp {
            self.mid * (1.0 + BASIS)
        } else {
            self.mid
        };
        let price = f.price_units(price);
        // Takers follow the walk: buyers dominate while it rises.
        let buy = self.rng.gen::<f64>() < 0.5 + 0.4 * (0.5 * self.momentum).tanh();
        let mut steps = (f.mean_steps * -(1.0 - self.rng.gen::<f64>()).ln())
            .ceil()
            .max(1.0);
        if self.rng.gen::<f64>() < BLOCK_PROB {
            steps *= 10.0;
        }
        if self.trend != 0.0 {
            steps *= 2.0;
        }
        let steps = steps as u64;
        let qty = steps * f.step;
        let non_market = perp && self.rng.gen::<f64>() < self.params.non_market_prob;
        let kind = match (non_market, self.rng.gen::<bool>()) {
            (false, _) => "MARKET",
            (true, true) => "INSURANCE_FUND",
            (true, false) => "ADL",
        };
        // Insurance-fund and ADL prints are single fills and are not aggregated (Binance docs).
        let fills = if perp && !non_market && self.rng.gen::<f64>() < MULTI_FILL_PROB {
            self.rng
                .gen_range(2..=MAX_FILLS)
                .min(budget)
                .min(steps)
                .max(1)
        } else {
            1
        };
        // Split the order's steps over its fills, each at least one step.
        let mut parts = [0u64; MAX_FILLS as usize];
        let mut left = steps - fills;
        for part in parts.iter_mut().take(fills as usize - 1) {
            let extra = self.rng.gen_range(0..=left);
            *part = 1 + extra;
            left -= extra;
        }
        parts[fills as usize - 1] = 1 + left;

        let state = &mut self.markets[venue as usize];
        let first = state.trade_id;
        state.trade_id += fills;
        let agg = (!non_market).then(|| {
            let a = state.agg_id;
            state.agg_id += 1;
            a
        });
        let print = |id: u64| Print {
            symbol: &self.spec.upper,
            filters: f,
            time_ms: now_ms,
            id,
            price,
            qty,
            buyer_maker: !buy,
        };
        let order = print(first);
        let agg_ref = agg.map(|a| AggRef {
            a,
            first,
            last: first + fills - 1,
            qty: order.qty(qty).to_string(),
        });
        for (i, &part) in parts.iter().take(fills as usize).enumerate() {
            let fill = Print {
                qty: part * f.step,
                ..print(first + i as u64)
            };
            if demand.wants(venue, StreamKind::Trade) {
                emit(venue, StreamKind::Trade, fill.trade_payload(venue, kind));
            }
            self.recorded.push((
                venue,
                BinanceTrade {
                    id: fill.id,
                    agg: agg_ref.clone(),
                    time_ms: now_ms,
                    price: fill.price().to_string(),
                    qty: fill.qty(fill.qty).to_string(),
                    buyer_maker: fill.buyer_maker,
                },
            ));
        }
        if let Some(agg) = &agg_ref {
            if demand.wants(venue, StreamKind::AggTrade) {
                emit(venue, StreamKind::AggTrade, order.agg_payload(venue, agg));
            }
        }
        let trade = order;
        let state = &mut self.markets[venue as usize];

        if !perp || self.trend == 0.0 || state.last_liquidation == Some(self.second) {
            return (fills, false);
        }
        if self.rng.gen::<f64>() >= LIQUIDATION_PROB {
            return (fills, false);
        }
        state.last_liquidation = Some(self.second);
        // The squeezed side is liquidated: a falling market forces longs out with SELL orders.
        let sell = self.trend < 0.0;
        let total = qty * 3;
        let last = self.rng.gen_range(1..=total / f.step) * f.step;
        let slip = if sell {
            1.0 - LIQUIDATION_SLIPPAGE
        } else {
            1.0 + LIQUIDATION_SLIPPAGE
        };
        let limit = f.price_units(price as f64 / 10f64.powi(f.price_dec as i32) * slip);
        if demand.wants(venue, StreamKind::ForceOrder) {
            let liq = Liquidation {
                sell,
                limit,
                total,
                last,
            };
            emit(
                venue,
                StreamKind::ForceOrder,
                trade.force_order_payload(&liq),
            );
        }
        (fills, true)
    }
}

/// One trade as printed on the wire.
#[derive(Debug)]
struct Print<'a> {
    symbol: &'a str,
    filters: Filters,
    time_ms: u64,
    id: u64,
    price: u64,
    qty: u64,
    buyer_maker: bool,
}

/// The forced order of a liquidation; its average price is the trade's.
#[derive(Debug)]
struct Liquidation {
    sell: bool,
    limit: u64,
    total: u64,
    last: u64,
}

impl Print<'_> {
    fn price(&self) -> Fixed {
        Fixed(self.price, self.filters.price_dec)
    }

    fn qty(&self, units: u64) -> Fixed {
        Fixed(units, self.filters.qty_dec)
    }

    fn trade_payload(&self, venue: SimVenue, kind: &str) -> String {
        let (e, s, t, p, q, m) = (
            self.time_ms,
            self.symbol,
            self.id,
            self.price(),
            self.qty(self.qty),
            self.buyer_maker,
        );
        let mut out = String::with_capacity(160);
        let _ = match venue {
            SimVenue::Spot => write!(
                out,
                r#"{{"e":"trade","E":{e},"s":"{s}","t":{t},"p":"{p}","q":"{q}","T":{e},"m":{m},"M":true}}"#
            ),
            SimVenue::Futures => write!(
                out,
                r#"{{"e":"trade","E":{e},"T":{e},"s":"{s}","t":{t},"p":"{p}","q":"{q}","X":"{kind}","m":{m}}}"#
            ),
        }; // Writing to a String cannot fail.
        out
    }

    /// The `aggTrade` of this (whole) taker order.
    fn agg_payload(&self, venue: SimVenue, agg: &AggRef) -> String {
        let (e, s, p, m) = (self.time_ms, self.symbol, self.price(), self.buyer_maker);
        let (a, f, l, q) = (agg.a, agg.first, agg.last, &agg.qty);
        let mut out = String::with_capacity(180);
        let _ = match venue {
            SimVenue::Spot => write!(
                out,
                r#"{{"e":"aggTrade","E":{e},"s":"{s}","a":{a},"p":"{p}","q":"{q}","f":{f},"l":{l},"T":{e},"m":{m},"M":true}}"#
            ),
            // Real 2026 frames carry `nq` (quantity without RPI fills; the simulator has none)
            // and `st` (exchanges.md §2).
            SimVenue::Futures => write!(
                out,
                r#"{{"e":"aggTrade","E":{e},"a":{a},"s":"{s}","p":"{p}","q":"{q}","nq":"{q}","f":{f},"l":{l},"T":{e},"m":{m},"st":1}}"#
            ),
        }; // Writing to a String cannot fail.
        out
    }

    fn force_order_payload(&self, liq: &Liquidation) -> String {
        let (e, s, ap) = (self.time_ms, self.symbol, self.price());
        let side = if liq.sell { "SELL" } else { "BUY" };
        let p = Fixed(liq.limit, self.filters.price_dec);
        let (q, l) = (self.qty(liq.total), self.qty(liq.last));
        let mut out = String::with_capacity(220);
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            r#"{{"e":"forceOrder","E":{e},"o":{{"s":"{s}","S":"{side}","o":"LIMIT","f":"IOC","q":"{q}","p":"{p}","ap":"{ap}","X":"FILLED","l":"{l}","z":"{q}","T":{e}}}}}"#
        );
        out
    }
}

/// A fixed-point number `units × 10^-decimals`, printed with exactly `decimals` decimals.
#[derive(Debug, Clone, Copy)]
struct Fixed(u64, u32);

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Fixed(units, decimals) = *self;
        if decimals == 0 {
            return write!(f, "{units}");
        }
        let div = 10u64.pow(decimals);
        write!(
            f,
            "{}.{:0w$}",
            units / div,
            units % div,
            w = decimals as usize
        )
    }
}

/// FNV-1a, to give every symbol its own random stream whatever the order of the symbol list.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn params() -> GenParams {
        GenParams {
            seed: 7,
            trades_per_sec: 200.0,
            burst_prob: 0.3,
            burst_mult: 5.0,
            non_market_prob: 0.05,
        }
    }

    fn everything() -> Demand {
        Demand {
            wants: [[true, true, false], [true, true, true]],
        }
    }

    /// Runs a generator for `seconds` of virtual time in 10 ms steps and collects its frames.
    fn run(symbol: &str, demand: Demand, seconds: u32) -> Vec<(SimVenue, StreamKind, String)> {
        let mut g = Generator::new(SymbolSpec::new(symbol), params());
        let mut out = Vec::new();
        let mut budget = u64::MAX;
        for i in 0..seconds * 100 {
            g.advance(
                0.01,
                &demand,
                1_700_000_000_000 + u64::from(i) * 10,
                &mut budget,
                &mut |v, k, p| out.push((v, k, p)),
            );
        }
        out
    }

    #[test]
    fn fixed_point_prints_exact_decimals() {
        assert_eq!(Fixed(7_665_000_000_000, 8).to_string(), "76650.00000000");
        assert_eq!(Fixed(40_000, 8).to_string(), "0.00040000");
        assert_eq!(Fixed(6_433_920, 2).to_string(), "64339.20");
        assert_eq!(Fixed(123, 3).to_string(), "0.123");
        assert_eq!(Fixed(5, 0).to_string(), "5");
    }

    #[test]
    fn same_seed_same_frames_apart_from_nothing() {
        assert_eq!(
            run("BTCUSDT", everything(), 5),
            run("BTCUSDT", everything(), 5)
        );
        assert_ne!(
            run("BTCUSDT", everything(), 5),
            run("ETHUSDT", everything(), 5)
        );
    }

    #[test]
    fn payloads_have_binance_fields_and_contiguous_ids() {
        let frames = run("BTCUSDT", everything(), 20);
        let mut last_t = [None::<u64>; 2];
        let mut last_a = [None::<u64>; 2];
        let (mut liquidations, mut non_market, mut multi_fill) = (0, 0, 0);
        for (venue, kind, text) in &frames {
            let v: Value = serde_json::from_str(text).unwrap();
            let v = &v;
            match kind {
                StreamKind::Trade => {
                    assert_eq!(v["e"], "trade");
                    assert_eq!(v["s"], "BTCUSDT");
                    let t = v["t"].as_u64().unwrap();
                    if let Some(prev) = last_t[*venue as usize] {
                        assert_eq!(t, prev + 1, "{text}");
                    }
                    last_t[*venue as usize] = Some(t);
                    let price = v["p"].as_str().unwrap();
                    let decimals = price.split('.').nth(1).unwrap().len();
                    match venue {
                        SimVenue::Spot => {
                            assert_eq!(decimals, 8);
                            assert_eq!(v["M"], true);
                        }
                        SimVenue::Futures => {
                            assert_eq!(decimals, 2);
                            assert_eq!(
                                v["q"].as_str().unwrap().split('.').nth(1).unwrap().len(),
                                3
                            );
                            if v["X"] != "MARKET" {
                                assert!(v["X"] == "INSURANCE_FUND" || v["X"] == "ADL");
                                non_market += 1;
                            }
                        }
                    }
                }
                StreamKind::AggTrade => {
                    assert_eq!(v["e"], "aggTrade");
                    let a = v["a"].as_u64().unwrap();
                    if let Some(prev) = last_a[*venue as usize] {
                        assert_eq!(a, prev + 1);
                    }
                    last_a[*venue as usize] = Some(a);
                    let (f, l) = (v["f"].as_u64().unwrap(), v["l"].as_u64().unwrap());
                    assert!(f <= l, "{text}");
                    multi_fill += u32::from(l > f);
                }
                StreamKind::ForceOrder => {
                    assert_eq!(*venue, SimVenue::Futures);
                    assert_eq!(v["e"], "forceOrder");
                    let o = &v["o"];
                    let num = |k: &str| o[k].as_str().unwrap().parse::<f64>().unwrap();
                    assert!(num("l") <= num("z") && num("z") == num("q"));
                    match o["S"].as_str().unwrap() {
                        "SELL" => assert!(num("p") < num("ap")),
                        "BUY" => assert!(num("p") > num("ap")),
                        other => panic!("side {other}"),
                    }
                    liquidations += 1;
                }
            }
        }
        assert!(
            liquidations > 0,
            "bursts at 30% should liquidate someone in 20 s"
        );
        assert!(non_market > 0);
        assert!(multi_fill > 0, "some taker orders sweep several fills");
    }

    /// Each aggTrade covers exactly the market `@trade` fills `f..=l` (same price, time and
    /// side, `q` their sum), `a` is contiguous, and every market fill is in one aggregate.
    #[test]
    fn aggregates_cover_their_fills() {
        for (symbol, venue) in [("BTCUSDT", SimVenue::Futures), ("ETHUSDT", SimVenue::Spot)] {
            let frames = run(symbol, everything(), 20);
            let parse = |t: &String| serde_json::from_str::<Value>(t).unwrap();
            let mut trades = std::collections::BTreeMap::new();
            for (v, k, text) in &frames {
                if *v == venue && *k == StreamKind::Trade {
                    let t = parse(text);
                    if t["X"].is_null() || t["X"] == "MARKET" {
                        trades.insert(t["t"].as_u64().unwrap(), t);
                    }
                }
            }
            let units =
                |q: &Value| -> u64 { q.as_str().unwrap().replace('.', "").parse().unwrap() };
            let mut covered = 0;
            let mut prev_a = None;
            for (v, k, text) in &frames {
                if *v != venue || *k != StreamKind::AggTrade {
                    continue;
                }
                let g = parse(text);
                let a = g["a"].as_u64().unwrap();
                assert!(prev_a.is_none_or(|p| a == p + 1), "{text}");
                prev_a = Some(a);
                let (f, l) = (g["f"].as_u64().unwrap(), g["l"].as_u64().unwrap());
                let mut sum = 0;
                for id in f..=l {
                    let t = &trades[&id];
                    assert_eq!((&t["p"], &t["T"], &t["m"]), (&g["p"], &g["T"], &g["m"]));
                    sum += units(&t["q"]);
                }
                assert_eq!(sum, units(&g["q"]), "{text}");
                covered += l - f + 1;
            }
            assert_eq!(
                covered,
                trades.len() as u64,
                "{symbol}: every market fill aggregated"
            );
        }
    }

    #[test]
    fn one_liquidation_per_second_at_most() {
        let mut g = Generator::new(SymbolSpec::new("ETHUSDT"), params());
        let mut budget = u64::MAX;
        let mut total = 0;
        // Whole-second steps from 0 each cover exactly one virtual second.
        for _ in 0..200 {
            let made = g.advance(1.0, &everything(), 0, &mut budget, &mut |_, _, _| {});
            assert!(made.liquidations <= 1, "{made:?}");
            total += made.liquidations;
        }
        assert!(total > 0);
    }

    #[test]
    fn nobody_listening_means_nothing_happens() {
        let mut g = Generator::new(SymbolSpec::new("SOLUSDT"), params());
        let mut budget = u64::MAX;
        let made = g.advance(10.0, &Demand::default(), 0, &mut budget, &mut |_, _, _| {
            panic!("emitted without demand")
        });
        assert_eq!(made, Generated::default());
        assert_eq!(g.clock, 0.0);
    }

    #[test]
    fn budget_bounds_trades() {
        let mut g = Generator::new(SymbolSpec::new("SOLUSDT"), params());
        let mut budget = 17;
        let mut trades = 0;
        let spot_only = Demand {
            wants: [[true, false, false], [false; 3]],
        };
        for _ in 0..100 {
            g.advance(0.1, &spot_only, 0, &mut budget, &mut |_, k, _| {
                trades += u32::from(k == StreamKind::Trade)
            });
        }
        assert_eq!(trades, 17);
        assert_eq!(budget, 0);
    }
}
